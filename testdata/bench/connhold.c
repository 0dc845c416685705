/*
 * connhold: the benchmark's tracer-memory client. It opens N connections
 * to the bench's sink (sink.c), holds them all open, then closes them,
 * pausing at each phase so that the driver can read the tracer's memory.
 * Loopback only.
 *
 * Usage:
 *   connhold HOST PORT N
 *
 * Phases, each announced by one line on stdout, after which connhold
 * waits for a line on stdin (the driver's go-ahead; EOF ends it):
 *   phase=baseline              before the first connect;
 *   phase=open ok=N             N connections open, each confirmed end to
 *                               end (it sent the sink a zero length and
 *                               read the sink's "ok 0");
 *   phase=closed                all N closed.
 * Before the first phase it raises its soft RLIMIT_NOFILE to N + 64 if
 * needed (within the hard limit). Sockets have 10 s timeouts; a failure
 * is described on stderr. Exit status: 0 on success, 1 on a failure, 2 on
 * bad usage.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "benchnet.h"

#define MAXN 100000

/* next waits for the driver's go-ahead line; -1 on EOF. */
static int next(const char *phase)
{
	char line[64];

	printf("%s\n", phase);
	fflush(stdout);
	return fgets(line, sizeof line, stdin) ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const unsigned char zero[8];
	struct sockaddr_in to;
	char reply[16], phase[64];
	int *fds;
	long n;
	char *end;

	if (argc != 4 || loopback_addr(argv[1], argv[2], 0, &to) < 0)
		goto usage;
	n = strtol(argv[3], &end, 10);
	if (*end || n <= 0 || n > MAXN)
		goto usage;
	if (raise_nofile((rlim_t)n + 64) < 0) {
		fprintf(stderr, "connhold: cannot raise RLIMIT_NOFILE to %ld\n", n + 64);
		return 1;
	}
	fds = calloc((size_t)n, sizeof *fds);
	if (!fds)
		return 1;
	if (next("phase=baseline") < 0)
		return 1;
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			perror("connhold: socket");
			return 1;
		}
		sock_timeouts(fd, 10);
		if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
			fprintf(stderr, "connhold: connect %ld: %s\n", i, strerror(errno));
			return 1;
		}
		errno = 0;
		if (write_all(fd, zero, sizeof zero) < 0 || read_full(fd, reply, 5) < 0 || memcmp(reply, "ok 0\n", 5) != 0) {
			fprintf(stderr, "connhold: connection %ld: no \"ok 0\" from the sink: %s\n", i,
				errno ? strerror(errno) : "bad reply");
			return 1;
		}
		fds[i] = fd;
	}
	snprintf(phase, sizeof phase, "phase=open ok=%ld", n);
	if (next(phase) < 0)
		return 1;
	for (long i = 0; i < n; i++)
		close(fds[i]);
	if (next("phase=closed") < 0)
		return 1;
	return 0;
usage:
	fprintf(stderr, "usage: connhold LOOPBACK-HOST PORT N\n");
	return 2;
}
