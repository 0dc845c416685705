/*
 * udploop: the benchmark's UDP request/response client, and its echo
 * server. Loopback only: both take a numeric loopback address.
 *
 * Usage:
 *   udploop echo HOST PORT SECONDS [CPU]
 *       binds a UDP socket to HOST:PORT (PORT 0: any), prints
 *       "listening HOST:PORT", and sends every datagram back to where it
 *       came from (recvfrom + sendto), until killed or SECONDS have
 *       passed;
 *   udploop MODE HOST PORT N [CPU]
 *       N round trips to the echo server at HOST:PORT, one datagram of
 *       32 bytes out and its echo back, each carrying its sequence number
 *       (checked). MODE says which calls do it:
 *         sendto     an unconnected socket: sendto(addr) + recvfrom(&addr)
 *                    (the source is checked to be the server);
 *         connected  a connected socket: send() + recv(), no addresses;
 *         msg        a connected socket: sendmsg() + recvmsg(), with no
 *                    address (msg_name NULL).
 *   With CPU, the process first pins itself to that CPU
 *   (sched_setaffinity). The benchmark pins the client and the echo server
 *   to the same CPU: on a small VM a wake-up across CPUs costs tens of µs,
 *   and whether the two land on one CPU or two would otherwise decide the
 *   round-trip time more than anything measured. A tracer is not pinned.
 *
 * Output of a client, one line on stdout:
 *   mode=MODE n=N ok=OK fail=F total_ns=T per_rt_us=T/N/1000 \
 *   p50_us=... p99_us=... max_us=...
 * total_ns is the wall time of the whole loop (CLOCK_MONOTONIC), process
 * start-up excluded. The socket has 2 s send/receive timeouts, so a lost
 * datagram fails the run instead of hanging it; the first failure is
 * described on stderr and the loop stops there. Exit status: 0 if all N
 * round trips succeeded, 1 otherwise, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAXN 10000000
#define PAYLOAD 32

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_addr(const char *host, const char *port, struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(port, &end, 10);

	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (*end || p < 0 || p > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127)
		return -1; /* loopback only */
	sa->sin_port = htons((uint16_t)p);
	return 0;
}

/* pin pins the process to cpu, named by the string s. */
static int pin(const char *s)
{
	cpu_set_t set;
	char *end;
	long cpu = strtol(s, &end, 10);

	if (*end || cpu < 0 || cpu >= CPU_SETSIZE)
		return -1;
	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0) {
		perror("udploop: sched_setaffinity");
		return -1;
	}
	return 0;
}

static int echo(const struct sockaddr_in *at, long seconds)
{
	struct sockaddr_in bound, from;
	socklen_t len = sizeof bound;
	char buf[65536];
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (const struct sockaddr *)at, sizeof *at) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &len) < 0) {
		perror("udploop echo");
		return 1;
	}
	alarm((unsigned)seconds);
	printf("listening %s:%d\n", inet_ntoa(bound.sin_addr), ntohs(bound.sin_port));
	fflush(stdout);
	for (;;) {
		socklen_t flen = sizeof from;
		ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
		if (n < 0)
			continue;
		sendto(fd, buf, (size_t)n, 0, (const struct sockaddr *)&from, flen);
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct sockaddr_in srv;
	struct timeval tv = { .tv_sec = 2 };
	int fd, mode, ok = 0, failures = 0;
	long n;
	int64_t t0, total, *each;
	char *end;
	const char *what = NULL;

	if (argc != 5 && argc != 6)
		goto usage;
	if (argc == 6 && pin(argv[5]) < 0)
		goto usage;
	if (parse_addr(argv[2], argv[3], &srv) < 0)
		goto usage;
	n = strtol(argv[4], &end, 10);
	if (*end || n <= 0 || n > MAXN)
		goto usage;
	if (strcmp(argv[1], "echo") == 0)
		return echo(&srv, n);
	if (strcmp(argv[1], "sendto") == 0)
		mode = 0;
	else if (strcmp(argv[1], "connected") == 0)
		mode = 1;
	else if (strcmp(argv[1], "msg") == 0)
		mode = 2;
	else
		goto usage;
	if (srv.sin_port == 0)
		goto usage;
	each = calloc((size_t)n, sizeof *each);
	if (!each)
		return 1;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udploop: socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (mode != 0 && connect(fd, (const struct sockaddr *)&srv, sizeof srv) < 0) {
		perror("udploop: connect");
		return 1;
	}

	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		unsigned char out[PAYLOAD], in[PAYLOAD + 1];
		struct sockaddr_in from;
		socklen_t flen = sizeof from;
		struct iovec iov;
		struct msghdr mh;
		ssize_t s, r;
		int64_t st = now_ns();

		memset(out, 0xa5, sizeof out);
		memcpy(out, &i, sizeof i);
		switch (mode) {
		case 0:
			s = sendto(fd, out, sizeof out, 0, (const struct sockaddr *)&srv, sizeof srv);
			break;
		case 1:
			s = send(fd, out, sizeof out, 0);
			break;
		default:
			iov = (struct iovec){ out, sizeof out };
			mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
			s = sendmsg(fd, &mh, 0);
		}
		if (s != (ssize_t)sizeof out) {
			what = s < 0 ? strerror(errno) : "short send";
			goto failed;
		}
		switch (mode) {
		case 0:
			r = recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&from, &flen);
			if (r >= 0 && (flen != sizeof from || from.sin_addr.s_addr != srv.sin_addr.s_addr ||
				       from.sin_port != srv.sin_port)) {
				what = "reply from another address";
				goto failed;
			}
			break;
		case 1:
			r = recv(fd, in, sizeof in, 0);
			break;
		default:
			iov = (struct iovec){ in, sizeof in };
			mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
			r = recvmsg(fd, &mh, 0);
		}
		if (r != (ssize_t)sizeof out || memcmp(in, out, sizeof out) != 0) {
			what = r < 0 ? strerror(errno) : "wrong echo";
			goto failed;
		}
		ok++;
		each[i] = now_ns() - st;
		continue;
	failed:
		failures++;
		fprintf(stderr, "udploop: %s: round trip %ld: %s\n", argv[1], i, what);
		break;
	}
	total = now_ns() - t0;

	if (failures) {
		printf("mode=%s n=%ld ok=%d fail=%d\n", argv[1], n, ok, failures);
		return 1;
	}
	qsort(each, (size_t)n, sizeof *each, cmp_i64);
	printf("mode=%s n=%ld ok=%d fail=%d total_ns=%lld per_rt_us=%.3f p50_us=%.3f p99_us=%.3f max_us=%.3f\n",
	       argv[1], n, ok, failures, (long long)total, (double)total / (double)n / 1000.0,
	       (double)each[n / 2] / 1000.0, (double)each[(n * 99) / 100] / 1000.0,
	       (double)each[n - 1] / 1000.0);
	fflush(stdout);
	return 0;
usage:
	fprintf(stderr, "usage: udploop echo LOOPBACK-HOST PORT SECONDS [CPU]\n"
			"       udploop sendto|connected|msg LOOPBACK-HOST PORT N [CPU]\n");
	return 2;
}
