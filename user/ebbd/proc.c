// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Child processes: hooks and probe commands. Started with posix_spawnp (argv as given, PATH
 * searched, no shell), each in its own process group so that a timeout kills whatever it
 * started too; output read through a non-blocking pipe; reaped with waitpid(WNOHANG) when
 * SIGCHLD says so. The loop never waits for a child.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "ebbd.h"

#define MAX_PROCS 64
#define OUT_MAX 2048
#define KILL_GRACE_NS (2 * NS_PER_S) /* from SIGTERM at the timeout to SIGKILL */

extern char **environ;

struct proc {
	pid_t pid;
	int fd; /* our end of its stdout (and stderr, for hooks); -1 once closed */
	bool exited, timed_out;
	int status;
	__u64 deadline, kill_at;
	char *out; /* cap bytes: OUT_MAX, or what proc_spawn_max asked for */
	size_t len, cap;
	proc_done_fn done;
	void *ctx;
};

static struct proc procs[MAX_PROCS];

int proc_running(void)
{
	int n = 0;

	for (int i = 0; i < MAX_PROCS; i++)
		n += procs[i].pid > 0;
	return n;
}

/* environ with env_extra ("NAME=value") in front, replacing variables of the same name. */
static char **make_env(char *const env_extra[])
{
	size_t n = 0, k = 0, out;
	char **env;

	while (environ[n])
		n++;
	while (env_extra && env_extra[k])
		k++;
	env = calloc(n + k + 1, sizeof(*env));
	if (!env)
		return NULL;
	memcpy(env, env_extra, k * sizeof(*env));
	out = k;
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(environ[i], "=");
		bool shadowed = false;

		for (size_t j = 0; j < k && !shadowed; j++)
			shadowed = !strncmp(env_extra[j], environ[i], len) && env_extra[j][len] == '=';
		if (!shadowed)
			env[out++] = environ[i];
	}
	return env;
}

int proc_spawn(char *const argv[], char *const env_extra[], double timeout_s, bool stdout_only,
	       proc_done_fn done, void *ctx)
{
	return proc_spawn_max(argv, env_extra, timeout_s, stdout_only, OUT_MAX - 1, done, ctx);
}

int proc_spawn_max(char *const argv[], char *const env_extra[], double timeout_s, bool stdout_only,
		   size_t out_max, proc_done_fn done, void *ctx)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct proc *p = NULL;
	sigset_t none, defaults;
	int pipefd[2], ret;
	char **env;

	for (int i = 0; i < MAX_PROCS && !p; i++)
		if (procs[i].pid <= 0)
			p = &procs[i];
	if (!p)
		return -EBUSY;
	/* the buffer lives as long as the child: a node's report needs more than a number */
	p->out = malloc(out_max + 1);
	if (!p->out)
		return -ENOMEM;
	p->cap = out_max + 1;
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK)) {
		ret = -errno;
		free(p->out);
		p->out = NULL;
		return ret;
	}
	env = make_env(env_extra);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	if (stdout_only) /* a probe's stderr must not be taken for its number */
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	else
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawnattr_init(&attr);
	/* ebbd blocks the signals it reads through signalfd; the child must get them normally. */
	sigemptyset(&none);
	sigemptyset(&defaults);
	for (int sig = 1; sig < SIGRTMIN; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaddset(&defaults, sig);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
	ret = env ? posix_spawnp(&p->pid, argv[0], &fa, &attr, argv, env) : ENOMEM;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(env);
	close(pipefd[1]);
	if (ret) {
		close(pipefd[0]);
		p->pid = 0;
		free(p->out);
		p->out = NULL;
		return -ret;
	}
	p->fd = pipefd[0];
	p->exited = p->timed_out = false;
	p->len = 0;
	p->deadline = ebb_now_ns() + (__u64)(timeout_s * NS_PER_S);
	p->kill_at = 0;
	p->done = done;
	p->ctx = ctx;
	return 0;
}

static void read_out(struct proc *p)
{
	char buf[512];
	ssize_t r;

	while (p->fd >= 0) {
		r = read(p->fd, buf, sizeof(buf));
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			close(p->fd);
			p->fd = -1;
			return;
		}
		/* Keep the first cap-1 bytes: enough for a number, an error message or a report. */
		if (p->len < p->cap - 1) {
			size_t take = (size_t)r < p->cap - 1 - p->len ? (size_t)r : p->cap - 1 - p->len;

			memcpy(p->out + p->len, buf, take);
			p->len += take;
		}
	}
}

/* A child is finished when it exited and its output is read (or it has gone past SIGKILL). */
static void maybe_finish(struct proc *p)
{
	char *out;

	if (!p->exited)
		return;
	read_out(p);
	if (p->fd >= 0) {
		/* Something it started still holds the pipe: do not wait for that. */
		close(p->fd);
		p->fd = -1;
	}
	p->out[p->len] = '\0';
	/* the slot is free from here: done() may start another child in it */
	out = p->out;
	p->out = NULL;
	p->pid = 0;
	p->done(p->status, p->timed_out, out, p->ctx);
	free(out);
}

int proc_pollfds(struct pollfd *pfd, int max)
{
	int n = 0;

	for (int i = 0; i < MAX_PROCS && n < max; i++)
		if (procs[i].pid > 0 && procs[i].fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = procs[i].fd, .events = POLLIN };
	return n;
}

void proc_events(const struct pollfd *pfd, int n)
{
	for (int j = 0; j < n; j++) {
		if (!pfd[j].revents)
			continue;
		for (int i = 0; i < MAX_PROCS; i++)
			if (procs[i].pid > 0 && procs[i].fd == pfd[j].fd)
				read_out(&procs[i]);
	}
}

void proc_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (int i = 0; i < MAX_PROCS; i++)
			if (procs[i].pid == pid) {
				procs[i].exited = true;
				procs[i].status = status;
				maybe_finish(&procs[i]);
			}
}

void proc_timeouts(__u64 now)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		struct proc *p = &procs[i];

		if (p->pid <= 0 || p->exited)
			continue;
		if (!p->timed_out && now >= p->deadline) {
			p->timed_out = true;
			p->kill_at = now + KILL_GRACE_NS;
			kill(-p->pid, SIGTERM);
		} else if (p->timed_out && now >= p->kill_at) {
			kill(-p->pid, SIGKILL);
			p->kill_at = now + KILL_GRACE_NS;
		}
	}
}

__u64 proc_next_deadline(void)
{
	__u64 next = 0;

	for (int i = 0; i < MAX_PROCS; i++) {
		const struct proc *p = &procs[i];
		__u64 t = p->timed_out ? p->kill_at : p->deadline;

		if (p->pid > 0 && !p->exited && (!next || t < next))
			next = t;
	}
	return next;
}
