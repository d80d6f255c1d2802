// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mapsum DIR: one FNV-1a hash over every map pinned in DIR (keys and values of every entry, in
 * key order as the kernel walks them; per-CPU values whole; for a map of maps the inner map's
 * id, so that a swapped table shows). One process, so that the CLI fuzzer can compare the whole
 * state after each of hundreds of commands (bpftool dumps take seconds on a loaded machine).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static unsigned long long h = 0xcbf29ce484222325ULL;

static void mix(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
}

int main(int argc, char **argv)
{
	struct dirent **names;
	int n, ncpus = libbpf_num_possible_cpus();

	if (argc != 2 || (n = scandir(argv[1], &names, NULL, alphasort)) < 0) {
		fprintf(stderr, "usage: mapsum DIR\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		char path[4096];
		void *key, *next, *val;
		bool percpu;
		int fd;

		if (names[i]->d_name[0] == '.' || !strncmp(names[i]->d_name, "link_", 5))
			continue;
		snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
			mix(names[i]->d_name, strlen(names[i]->d_name)); /* not a map: its name only */
			if (fd >= 0)
				close(fd);
			continue;
		}
		mix(names[i]->d_name, strlen(names[i]->d_name));
		percpu = info.type == BPF_MAP_TYPE_PERCPU_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_HASH ||
			 info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
		key = calloc(1, info.key_size);
		next = calloc(1, info.key_size);
		val = calloc(percpu ? ncpus : 1, ((info.value_size + 7) & ~7u) + 8);
		for (void *prev = NULL; key && next && val && !bpf_map_get_next_key(fd, prev, next); prev = key) {
			size_t vlen = percpu ? (size_t)ncpus * ((info.value_size + 7) & ~7u) : info.value_size;

			memcpy(key, next, info.key_size);
			mix(key, info.key_size);
			if (!bpf_map_lookup_elem(fd, key, val))
				mix(val, vlen);
		}
		free(key);
		free(next);
		free(val);
		close(fd);
	}
	printf("%016llx\n", h);
	return 0;
}
