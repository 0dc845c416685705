/*
 * common.h: helpers shared by the C fixture programs in testdata/cprog.
 *
 * Output conventions for every program:
 *   - results go to stdout, one "key: value" line each, e.g. "connect: 0",
 *     "connect: EINPROGRESS", "so_error: 0", "second connect: EISCONN";
 *   - an errno is always printed by its symbolic name (ECONNREFUSED), or as
 *     "E<number>" when the table below does not know it;
 *   - the HTTP reply, when there is one, is printed raw after those lines and
 *     followed by a newline if it did not end with one.
 * Exit codes: 0 success, 2 usage, 3 connect failed (connect or SO_ERROR),
 * 4 any other system call failed, 5 a bounded wait timed out.
 */
#ifndef CHAINRUN_COMMON_H
#define CHAINRUN_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_CONNECT 3
#define EXIT_SYSCALL 4
#define EXIT_TIMEOUT 5

/* errno_name returns the symbolic name of an errno value ("0" for 0). */
static inline const char *errno_name(int e)
{
	static char buf[32];
	switch (e) {
	case 0: return "0";
#define E(x) case x: return #x;
	E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG)
	E(ENOEXEC) E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES)
	E(EFAULT) E(EBUSY) E(EEXIST) E(ENODEV) E(ENOTDIR) E(EISDIR)
	E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(EFBIG) E(ENOSPC)
	E(ESPIPE) E(EROFS) E(EPIPE) E(ERANGE) E(ENOSYS) E(ENOTSOCK)
	E(EDESTADDRREQ) E(EMSGSIZE) E(EPROTOTYPE) E(ENOPROTOOPT)
	E(EPROTONOSUPPORT) E(ESOCKTNOSUPPORT) E(EOPNOTSUPP)
	E(EPFNOSUPPORT) E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL)
	E(ENETDOWN) E(ENETUNREACH) E(ENETRESET) E(ECONNABORTED)
	E(ECONNRESET) E(ENOBUFS) E(EISCONN) E(ENOTCONN) E(ESHUTDOWN)
	E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTDOWN) E(EHOSTUNREACH)
	E(EALREADY) E(EINPROGRESS) E(EPROTO) E(ECANCELED)
#undef E
	}
	snprintf(buf, sizeof buf, "E%d", e);
	return buf;
}

/* die_errno prints "what: ERRNO_NAME" on stdout and exits with code. */
static inline void die_errno(const char *what, int e, int code)
{
	printf("%s: %s\n", what, errno_name(e));
	fflush(stdout);
	exit(code);
}

/*
 * resolve_numeric fills ss with the numeric HOST and PORT (no DNS:
 * AI_NUMERICHOST|AI_NUMERICSERV). With mapped set, an IPv4 HOST is turned
 * into the IPv4-mapped IPv6 address ::ffff:a.b.c.d for an AF_INET6 socket.
 */
static inline socklen_t resolve_numeric(const char *host, const char *port,
				 int mapped, struct sockaddr_storage *ss)
{
	struct addrinfo hints, *res;
	int rc;
	socklen_t len;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		printf("getaddrinfo: %s\n", gai_strerror(rc));
		exit(EXIT_USAGE);
	}
	memset(ss, 0, sizeof *ss);
	if (mapped && res->ai_family == AF_INET) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)res->ai_addr;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = in4->sin_port;
		in6->sin6_addr.s6_addr[10] = 0xff;
		in6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&in6->sin6_addr.s6_addr[12], &in4->sin_addr, 4);
		len = sizeof *in6;
	} else {
		memcpy(ss, res->ai_addr, res->ai_addrlen);
		len = res->ai_addrlen;
	}
	freeaddrinfo(res);
	return len;
}

/* build_get writes the HTTP/1.0 request for path into buf. */
static inline int build_get(char *buf, size_t n, const char *path)
{
	int len = snprintf(buf, n, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	if (len < 0 || (size_t)len >= n) {
		printf("path: too long\n");
		exit(EXIT_USAGE);
	}
	return len;
}

/*
 * wait_fd polls fd for events, at most timeout_ms; exits with EXIT_TIMEOUT
 * (printing "poll: timeout") when nothing happens in time.
 */
static inline void wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	for (;;) {
		int rc = poll(&p, 1, timeout_ms);
		if (rc > 0)
			return;
		if (rc == 0) {
			printf("poll: timeout\n");
			fflush(stdout);
			exit(EXIT_TIMEOUT);
		}
		if (errno != EINTR)
			die_errno("poll", errno, EXIT_SYSCALL);
	}
}

/*
 * exchange sends req on fd and copies the whole reply (until EOF) to stdout,
 * then makes sure the output ends with a newline. It works on blocking and
 * non-blocking sockets alike: EAGAIN waits with poll, 10 s per wait.
 */
static inline void exchange(int fd, const char *req, size_t reqlen)
{
	char buf[65536];
	size_t off = 0;
	int last = '\n';

	while (off < reqlen) {
		ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				wait_fd(fd, POLLOUT, 10000);
				continue;
			}
			die_errno("send", errno, EXIT_SYSCALL);
		}
		off += (size_t)n;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				wait_fd(fd, POLLIN, 10000);
				continue;
			}
			die_errno("recv", errno, EXIT_SYSCALL);
		}
		if (n == 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		last = buf[n - 1];
	}
	if (last != '\n')
		putchar('\n');
	fflush(stdout);
}

#endif
