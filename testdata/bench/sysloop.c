/*
 * sysloop: the benchmark's non-network workloads, to measure what running
 * under chainrun (or proxychains4) costs a program that does no
 * networking. Each mode times itself (CLOCK_MONOTONIC), so process start-up
 * and the tool's own start-up and exit are excluded.
 *
 * Usage:
 *   sysloop openclose FILE N   N × open(FILE, O_RDONLY|O_CLOEXEC) + close();
 *   sysloop fcntl FILE N       opens FILE once, then N × fcntl(fd, F_GETFL);
 *   sysloop getppid N          N × syscall(SYS_getppid) (no libc caching);
 *   sysloop spawn CMD [ARG...] forks, runs CMD with stdout on /dev/null
 *                              (stderr kept), and waits for it; CMD must
 *                              exit 0 within 120 s (it is killed after).
 *
 * Output, one line on stdout:
 *   mode=MODE n=N ok=1 total_ns=T ns_per_op=T/N
 * (n=1 for spawn). Exit status: 0 on success, 1 on a failure (described on
 * stderr), 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXN 100000000L

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long parse_n(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	return *end || n <= 0 || n > MAXN ? -1 : n;
}

static int spawn(char **argv, int64_t *ns)
{
	int status, devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	sigset_t chld, old;
	pid_t pid, w;
	int64_t t0;

	if (devnull < 0) {
		perror("sysloop: /dev/null");
		return -1;
	}
	/* SIGCHLD blocked, then waited for with a timeout: the wait is exact
	 * and bounded (the child is killed after 120 s). */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	t0 = now_ns();
	pid = fork();
	if (pid < 0) {
		perror("sysloop: fork");
		return -1;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		dup2(devnull, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "sysloop: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(devnull);
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			perror("sysloop: waitpid");
			return -1;
		}
		int64_t left = t0 + 120 * (int64_t)1000000000 - now_ns();
		struct timespec ts = { (time_t)(left / 1000000000), (long)(left % 1000000000) };
		if (left <= 0 || (sigtimedwait(&chld, NULL, &ts) < 0 && errno == EAGAIN)) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "sysloop: %s still running after 120 s: killed\n", argv[0]);
			return -1;
		}
	}
	*ns = now_ns() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "sysloop: %s: exit status %d\n", argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int64_t t0, total;
	long n = 1;
	int fd;

	if (argc >= 3 && strcmp(argv[1], "spawn") == 0) {
		if (spawn(argv + 2, &total) < 0)
			return 1;
	} else if (argc == 4 && strcmp(argv[1], "openclose") == 0) {
		if ((n = parse_n(argv[3])) < 0)
			goto usage;
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			fd = open(argv[2], O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				perror("sysloop: open");
				return 1;
			}
			close(fd);
		}
		total = now_ns() - t0;
	} else if (argc == 4 && strcmp(argv[1], "fcntl") == 0) {
		if ((n = parse_n(argv[3])) < 0)
			goto usage;
		fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror("sysloop: open");
			return 1;
		}
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (fcntl(fd, F_GETFL) < 0) {
				perror("sysloop: fcntl");
				return 1;
			}
		}
		total = now_ns() - t0;
		close(fd);
	} else if (argc == 3 && strcmp(argv[1], "getppid") == 0) {
		if ((n = parse_n(argv[2])) < 0)
			goto usage;
		pid_t want = getppid();
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (syscall(SYS_getppid) != want) {
				fprintf(stderr, "sysloop: getppid changed\n");
				return 1;
			}
		}
		total = now_ns() - t0;
	} else {
		goto usage;
	}
	printf("mode=%s n=%ld ok=1 total_ns=%lld ns_per_op=%.2f\n", argv[1], n, (long long)total, (double)total / (double)n);
	fflush(stdout);
	return 0;
usage:
	fprintf(stderr, "usage: sysloop openclose FILE N | fcntl FILE N | getppid N | spawn CMD [ARG...]\n");
	return 2;
}
