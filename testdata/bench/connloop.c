/*
 * connloop: the benchmark client. N times: socket, connect, send a tiny
 * HTTP/1.0 "GET /", read the whole reply until EOF, check it is a 200,
 * close. Loopback only: it connects to the numeric IPv4 address it is given.
 *
 * Usage:
 *   connloop plain  HOST PORT N
 *       connects to HOST:PORT itself (run it bare, under chainrun, under
 *       proxychains4);
 *   connloop socks5 PROXYHOST PROXYPORT HOST PORT N
 *       connects to the SOCKS5 proxy and speaks SOCKS5 (no auth, CONNECT
 *       to the IPv4 HOST:PORT) itself for every connection, waiting for
 *       each reply before sending the next message (microsocks drops a
 *       CONNECT pipelined with the greeting).
 *
 * Output, one line on stdout:
 *   mode=plain n=N ok=OK fail=F total_ns=T per_conn_us=T/N/1000 \
 *   p50_us=... p99_us=... max_us=...
 * total_ns is the wall time of the whole loop (CLOCK_MONOTONIC), so it
 * excludes process start-up. The first failure is described on stderr.
 * Every socket has 5 s send/receive timeouts, so a stuck peer cannot hang
 * the loop. Exit status: 0 if all N requests succeeded, 1 if any failed,
 * 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAXN 1000000

static const char request[] = "GET / HTTP/1.0\r\nHost: bench\r\n\r\n";

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int failed_once;

/* fail reports the first failure on stderr and returns -1. */
static int fail(const char *what, int e)
{
	if (!failed_once) {
		failed_once = 1;
		fprintf(stderr, "connloop: %s: %s\n", what, e ? strerror(e) : "bad reply");
	}
	return -1;
}

static int parse_addr(const char *host, const char *port, struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(port, &end, 10);

	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (*end || p <= 0 || p > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	sa->sin_port = htons((uint16_t)p);
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* read_full reads exactly len bytes; -1 with errno, or 0 bytes short (EOF). */
static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = 0;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* socks5_connect speaks SOCKS5 (no auth, CONNECT IPv4) on fd to dst. */
static int socks5_connect(int fd, const struct sockaddr_in *dst)
{
	unsigned char buf[262];
	size_t skip;

	if (write_all(fd, "\x05\x01\x00", 3) < 0)
		return fail("socks5 greeting", errno);
	if (read_full(fd, buf, 2) < 0)
		return fail("socks5 method reply", errno);
	if (buf[0] != 5 || buf[1] != 0)
		return fail("socks5 method reply", 0);
	buf[0] = 5; /* version */
	buf[1] = 1; /* CONNECT */
	buf[2] = 0;
	buf[3] = 1; /* IPv4 */
	memcpy(buf + 4, &dst->sin_addr, 4);
	memcpy(buf + 8, &dst->sin_port, 2);
	if (write_all(fd, buf, 10) < 0)
		return fail("socks5 connect request", errno);
	if (read_full(fd, buf, 4) < 0)
		return fail("socks5 connect reply", errno);
	if (buf[0] != 5 || buf[1] != 0)
		return fail("socks5 connect reply", 0);
	switch (buf[3]) {
	case 1: skip = 4 + 2; break;
	case 4: skip = 16 + 2; break;
	case 3:
		if (read_full(fd, buf, 1) < 0)
			return fail("socks5 connect reply", errno);
		skip = (size_t)buf[0] + 2;
		break;
	default:
		return fail("socks5 connect reply", 0);
	}
	if (read_full(fd, buf, skip) < 0)
		return fail("socks5 connect reply", errno);
	return 0;
}

/* one does one connection; 0 on a complete 200 reply. */
static int one(const struct sockaddr_in *to, const struct sockaddr_in *target, int socks)
{
	struct timeval tv = { .tv_sec = 5 };
	char buf[4096];
	size_t got = 0;
	int fd, rc = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0) {
		fail("connect", errno);
		goto out;
	}
	if (socks && socks5_connect(fd, target) < 0)
		goto out;
	if (write_all(fd, request, sizeof request - 1) < 0) {
		fail("write request", errno);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof buf - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("read reply", errno);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == sizeof buf) {
			fail("reply too long", 0);
			goto out;
		}
	}
	if (got < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || memcmp(buf + 8, " 200", 4) != 0) {
		fail("reply is not an HTTP 200", 0);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct sockaddr_in to, target;
	int socks, ok = 0, failures = 0;
	long n;
	int64_t t0, total, *each;
	char *end;

	if (argc == 5 && strcmp(argv[1], "plain") == 0) {
		socks = 0;
		if (parse_addr(argv[2], argv[3], &to) < 0)
			goto usage;
		target = to;
	} else if (argc == 7 && strcmp(argv[1], "socks5") == 0) {
		socks = 1;
		if (parse_addr(argv[2], argv[3], &to) < 0 || parse_addr(argv[4], argv[5], &target) < 0)
			goto usage;
	} else {
		goto usage;
	}
	n = strtol(argv[argc - 1], &end, 10);
	if (*end || n <= 0 || n > MAXN)
		goto usage;
	each = calloc((size_t)n, sizeof *each);
	if (!each)
		return 1;

	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		int64_t s = now_ns();
		if (one(&to, &target, socks) == 0)
			ok++;
		else
			failures++;
		each[i] = now_ns() - s;
	}
	total = now_ns() - t0;

	qsort(each, (size_t)n, sizeof *each, cmp_i64);
	printf("mode=%s n=%ld ok=%d fail=%d total_ns=%lld per_conn_us=%.3f p50_us=%.3f p99_us=%.3f max_us=%.3f\n",
	       argv[1], n, ok, failures, (long long)total, (double)total / (double)n / 1000.0,
	       (double)each[n / 2] / 1000.0, (double)each[(n * 99) / 100] / 1000.0,
	       (double)each[n - 1] / 1000.0);
	fflush(stdout);
	return failures ? 1 : 0;
usage:
	fprintf(stderr, "usage: connloop plain HOST PORT N\n"
			"       connloop socks5 PROXYHOST PROXYPORT HOST PORT N\n");
	return 2;
}
