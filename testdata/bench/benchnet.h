/*
 * benchnet.h: helpers shared by the benchmark's C clients (bulk.c,
 * burst.c, connhold.c, sink.c): a monotonic clock, loopback-only address
 * parsing, whole reads and writes, socket timeouts, and a SOCKS5 client
 * (no auth, CONNECT to an IPv4 address) that waits for each reply before
 * sending the next message (microsocks 1.0.3 drops a CONNECT pipelined
 * with the greeting). Everything is static: include it in one file each.
 */
#ifndef BENCHNET_H
#define BENCHNET_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* loopback_addr parses a numeric IPv4 address in 127.0.0.0/8 and a port
 * (0 allowed only with allow0); -1 for anything else. */
static inline int loopback_addr(const char *host, const char *port, int allow0, struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(port, &end, 10);

	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (*end || p < (allow0 ? 0 : 1) || p > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1 ||
	    (ntohl(sa->sin_addr.s_addr) >> 24) != 127)
		return -1;
	sa->sin_port = htons((uint16_t)p);
	return 0;
}

static inline void sock_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static inline int write_all(int fd, const void *buf, size_t len)
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

/* read_full reads exactly len bytes; -1 with errno (0 on EOF). */
static inline int read_full(int fd, void *buf, size_t len)
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

/* socks5_connect speaks SOCKS5 on fd, connected to the proxy: no auth,
 * CONNECT to dst. 0 on success; -1 with errno (0: a bad or negative reply). */
static inline int socks5_connect(int fd, const struct sockaddr_in *dst)
{
	unsigned char buf[262];
	size_t skip;

	if (write_all(fd, "\x05\x01\x00", 3) < 0 || read_full(fd, buf, 2) < 0)
		return -1;
	if (buf[0] != 5 || buf[1] != 0) {
		errno = 0;
		return -1;
	}
	buf[0] = 5; /* version */
	buf[1] = 1; /* CONNECT */
	buf[2] = 0;
	buf[3] = 1; /* IPv4 */
	memcpy(buf + 4, &dst->sin_addr, 4);
	memcpy(buf + 8, &dst->sin_port, 2);
	if (write_all(fd, buf, 10) < 0 || read_full(fd, buf, 4) < 0)
		return -1;
	if (buf[0] != 5 || buf[1] != 0) {
		errno = 0;
		return -1;
	}
	switch (buf[3]) {
	case 1: skip = 4 + 2; break;
	case 4: skip = 16 + 2; break;
	case 3:
		if (read_full(fd, buf, 1) < 0)
			return -1;
		skip = (size_t)buf[0] + 2;
		break;
	default:
		errno = 0;
		return -1;
	}
	return read_full(fd, buf, skip);
}

/* bench_request is the tiny request every bench client sends. */
static const char bench_request[] = "GET / HTTP/1.0\r\nHost: bench\r\n\r\n";

/* http_get_200 sends bench_request on fd, reads the reply to EOF and
 * checks it is an HTTP 200. NULL on success; otherwise what failed, with
 * errno set (0 for a bad reply). */
static inline const char *http_get_200(int fd)
{
	char buf[4096];
	size_t got = 0;

	if (write_all(fd, bench_request, sizeof bench_request - 1) < 0)
		return "write request";
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof buf - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return "read reply";
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == sizeof buf) {
			errno = 0;
			return "reply too long";
		}
	}
	if (got < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || memcmp(buf + 8, " 200", 4) != 0) {
		errno = 0;
		return "reply is not an HTTP 200";
	}
	return NULL;
}

/* raise_nofile raises the soft RLIMIT_NOFILE to at least want (at most the
 * hard limit); 0 if the soft limit is now >= want. */
static inline int raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur >= want)
		return 0;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	return rl.rlim_cur >= want ? 0 : -1;
}

#endif
