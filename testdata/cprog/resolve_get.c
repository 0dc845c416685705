/*
 * resolve_get: getaddrinfo(HOST, PORT), then connect + HTTP/1.0 GET.
 *
 * Checks that a C program resolving a name through its libc (which sends
 * DNS queries itself: glibc over a connected UDP socket with sendmmsg or
 * send, musl with sendto to each nameserver, checking the reply's source)
 * gets an address it can connect to through chainrun. Built twice: as
 * "resolve_get" with gcc (glibc, dynamically linked: NSS, resolv.conf) and
 * as "resolve_get_musl" with musl-gcc -static (musl's own resolver).
 *
 * usage: resolve_get [-list] [-4|-6] HOST PORT [PATH]
 *   -list  print the addresses getaddrinfo returned and stop (no connect)
 *   -4/-6  ask for AF_INET / AF_INET6 only (default AF_UNSPEC)
 *   PATH   defaults to /index.html
 *
 * Output (stdout):
 *   address: 198.18.0.5                (one line per address, in order)
 *   connect 198.18.0.5: 0              (or an errno name; tried in order
 *                                       until one succeeds)
 *   <the raw HTTP reply, newline-terminated>
 * A failed lookup prints "getaddrinfo: <gai_strerror text>" and exits 6.
 * Exit codes: see common.h (0 ok, 2 usage, 3 no address could be connected,
 * 4 other errors), 6 the lookup failed.
 */
#include "common.h"

#define EXIT_RESOLVE 6

int main(int argc, char **argv)
{
	int list = 0, family = AF_UNSPEC, i, rc, fd = -1;
	const char *host, *port, *path = "/index.html";
	struct addrinfo hints, *res, *ai;
	char req[4096], addr[INET6_ADDRSTRLEN];
	int reqlen;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-list") == 0)
			list = 1;
		else if (strcmp(argv[i], "-4") == 0)
			family = AF_INET;
		else if (strcmp(argv[i], "-6") == 0)
			family = AF_INET6;
		else
			break;
	}
	if (argc - i < 2 || argc - i > 3) {
		fprintf(stderr, "usage: %s [-list] [-4|-6] HOST PORT [PATH]\n", argv[0]);
		return EXIT_USAGE;
	}
	host = argv[i];
	port = argv[i + 1];
	if (argc - i == 3)
		path = argv[i + 2];

	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		printf("getaddrinfo: %s\n", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return EXIT_RESOLVE;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		const void *a = ai->ai_family == AF_INET6
			? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
			: (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		inet_ntop(ai->ai_family, a, addr, sizeof addr);
		printf("address: %s\n", addr);
	}
	fflush(stdout);
	if (list) {
		freeaddrinfo(res);
		return 0;
	}

	rc = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
	if (rc < 0 || (size_t)rc >= sizeof req) {
		printf("path: too long\n");
		return EXIT_USAGE;
	}
	reqlen = rc;
	for (ai = res; ai; ai = ai->ai_next) {
		const void *a = ai->ai_family == AF_INET6
			? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
			: (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		inet_ntop(ai->ai_family, a, addr, sizeof addr);
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			die_errno("socket", errno, EXIT_SYSCALL);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			printf("connect %s: 0\n", addr);
			break;
		}
		printf("connect %s: %s\n", addr, errno_name(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	fflush(stdout);
	if (fd < 0)
		return EXIT_CONNECT;
	exchange(fd, req, (size_t)reqlen);
	close(fd);
	return 0;
}
