/*
 * connect_nonblock: a non-blocking TCP connect() done the way event loops do
 * it, followed by an HTTP/1.0 GET and a second connect().
 *
 * Checks that a proxied non-blocking connect looks exactly like the kernel's:
 * connect() returns -1/EINPROGRESS (or 0), the socket becomes writable
 * (poll POLLOUT, bounded to 5 s), getsockopt(SO_ERROR) says 0, the socket
 * carries the HTTP exchange, and a later connect() on the connected socket
 * says EISCONN instead of starting another handshake.
 *
 * usage: connect_nonblock [-6mapped] HOST PORT [PATH]
 *   HOST     an IPv4 or IPv6 literal (no DNS); PATH defaults to /index.html
 *   -6mapped use an AF_INET6 socket and the IPv4-mapped form of an IPv4 HOST
 *
 * Output (stdout):
 *   connect: EINPROGRESS           (or "connect: 0"; another errno: exit 3)
 *   so_error: 0                    (another errno: exit 3)
 *   <the raw HTTP reply, newline-terminated>
 *   second connect: 0              (whatever errno, or 0; kernel: 0)
 *   third connect: EISCONN         (whatever errno, or 0; kernel: EISCONN)
 * "poll: timeout" and exit 5 when the socket does not become writable in 5 s.
 */
#include "common.h"
#include <fcntl.h>

int main(int argc, char **argv)
{
	int mapped = 0, fd, i, rc, soerr, flags;
	socklen_t sl = sizeof soerr;
	const char *path = "/index.html";
	struct sockaddr_storage ss;
	socklen_t len;
	char req[4096];
	int reqlen;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-6mapped") == 0)
			mapped = 1;
		else
			break;
	}
	if (argc - i < 2 || argc - i > 3) {
		fprintf(stderr, "usage: %s [-6mapped] HOST PORT [PATH]\n", argv[0]);
		return EXIT_USAGE;
	}
	if (argc - i == 3)
		path = argv[i + 2];
	len = resolve_numeric(argv[i], argv[i + 1], mapped, &ss);
	reqlen = build_get(req, sizeof req, path);

	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		die_errno("socket", errno, EXIT_SYSCALL);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		die_errno("fcntl", errno, EXIT_SYSCALL);

	rc = connect(fd, (struct sockaddr *)&ss, len);
	if (rc < 0 && errno != EINPROGRESS)
		die_errno("connect", errno, EXIT_CONNECT);
	printf("connect: %s\n", rc < 0 ? "EINPROGRESS" : "0");
	fflush(stdout);

	wait_fd(fd, POLLOUT, 5000);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		die_errno("getsockopt", errno, EXIT_SYSCALL);
	printf("so_error: %s\n", errno_name(soerr));
	fflush(stdout);
	if (soerr != 0)
		return EXIT_CONNECT;

	exchange(fd, req, (size_t)reqlen);

	rc = connect(fd, (struct sockaddr *)&ss, len);
	printf("second connect: %s\n", errno_name(rc < 0 ? errno : 0));
	rc = connect(fd, (struct sockaddr *)&ss, len);
	printf("third connect: %s\n", errno_name(rc < 0 ? errno : 0));
	close(fd);
	return 0;
}
