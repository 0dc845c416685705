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
#include <stdio.h>

#include "benchnet.h"

#define MAXN 1000000

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

/* one does one connection; 0 on a complete 200 reply. */
static int one(const struct sockaddr_in *to, const struct sockaddr_in *target, int socks)
{
	const char *what;
	int fd, rc = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	sock_timeouts(fd, 5);
	if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0) {
		fail("connect", errno);
		goto out;
	}
	if (socks && socks5_connect(fd, target) < 0) {
		fail("socks5 handshake", errno);
		goto out;
	}
	if ((what = http_get_200(fd)) != NULL) {
		fail(what, errno);
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
		if (loopback_addr(argv[2], argv[3], 0, &to) < 0)
			goto usage;
		target = to;
	} else if (argc == 7 && strcmp(argv[1], "socks5") == 0) {
		socks = 1;
		if (loopback_addr(argv[2], argv[3], 0, &to) < 0 || loopback_addr(argv[4], argv[5], 0, &target) < 0)
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
