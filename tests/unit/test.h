/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small TAP harness in the kernel selftests' manner: each ASSERT_* reports one check and
 * returns whether it held, so it can guard what follows (`if (!ASSERT_OK(...)) return;`).
 * tests/run.sh counts the "ok" / "not ok" lines of every suite.
 */
#ifndef EBB_TEST_H
#define EBB_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int test_checks, test_failures;

static inline bool test_report(bool ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static inline bool test_report(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	test_checks++;
	printf("%s %d - ", ok ? "ok" : "not ok", test_checks);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok) {
		test_failures++;
		printf("#   at %s:%d\n", file, line);
	}
	fflush(stdout);
	return ok;
}

#define CHECK(cond, ...) test_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define ASSERT_EQ(a, b, name)                                                              \
	({                                                                                 \
		long long _a = (long long)(a), _b = (long long)(b);                        \
		bool _ok = CHECK(_a == _b, "%s", name);                                    \
		if (!_ok)                                                                  \
			printf("#   %s: got %lld, expected %lld\n", name, _a, _b);          \
		_ok;                                                                       \
	})
#define ASSERT_OK(err, name) ASSERT_EQ(err, 0, name)
#define ASSERT_TRUE(cond, name) CHECK(cond, "%s", name)
#define ASSERT_MEM_EQ(a, b, len, name)                                                     \
	({                                                                                 \
		bool _ok = CHECK(!memcmp(a, b, len), "%s", name);                          \
		if (!_ok)                                                                  \
			test_hexdiff(a, b, len);                                           \
		_ok;                                                                       \
	})

static inline void test_hexdiff(const void *got, const void *want, size_t len)
{
	const unsigned char *g = got, *w = want;

	for (size_t i = 0; i < len; i++)
		if (g[i] != w[i])
			printf("#   byte %zu: got %02x, expected %02x\n", i, g[i], w[i]);
}

/* The last line of every suite; main() returns it. */
static inline int test_summary(const char *suite)
{
	printf("# %s: %d checks, %d failed\n", suite, test_checks, test_failures);
	return test_failures ? 1 : 0;
}

#endif
