/*
 * connect_block: a blocking TCP connect() followed by an HTTP/1.0 GET.
 *
 * Checks that a plain blocking connect() (what most C programs do) is proxied
 * transparently: the program sees connect() return 0 and talks HTTP on the
 * socket as if it were connected straight to HOST:PORT. Compiled twice: as
 * "connect_block" (x86-64) and with -m32 as "connect32" (a real i386 program,
 * whose connect goes through the 32-bit syscall ABI).
 *
 * usage: connect_block [-6mapped] [-twice] [-alarm] HOST PORT [PATH]
 *   HOST     an IPv4 or IPv6 literal (no DNS)
 *   PATH     defaults to /index.html
 *   -6mapped use an AF_INET6 socket and the IPv4-mapped form ::ffff:HOST
 *            of an IPv4 HOST
 *   -twice   call connect() again right after it succeeded and print
 *            "second connect: ERRNO_NAME" (the kernel says EISCONN), or
 *            "second connect: 0"
 *   -alarm   a SIGALRM every millisecond during connect(), with a handler
 *            installed without SA_RESTART: a signal that interrupted the
 *            call would show as "connect: EINTR"; after it, prints
 *            "alarms during connect: N"
 *
 * Output (stdout):
 *   connect: 0                     (or "connect: ECONNREFUSED" etc., exit 3)
 *   second connect: EISCONN        (only with -twice)
 *   <the raw HTTP reply, newline-terminated>
 * Exit codes: see common.h (0 ok, 2 usage, 3 connect failed, 4 other errors).
 */
#include "common.h"

#include <signal.h>
#include <sys/time.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

int main(int argc, char **argv)
{
	int mapped = 0, twice = 0, alarm_during = 0, fd, i;
	const char *path = "/index.html";
	struct sockaddr_storage ss;
	socklen_t len;
	char req[4096];
	int reqlen;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-6mapped") == 0)
			mapped = 1;
		else if (strcmp(argv[i], "-twice") == 0)
			twice = 1;
		else if (strcmp(argv[i], "-alarm") == 0)
			alarm_during = 1;
		else
			break;
	}
	if (argc - i < 2 || argc - i > 3) {
		fprintf(stderr, "usage: %s [-6mapped] [-twice] [-alarm] HOST PORT [PATH]\n", argv[0]);
		return EXIT_USAGE;
	}
	if (argc - i == 3)
		path = argv[i + 2];
	len = resolve_numeric(argv[i], argv[i + 1], mapped, &ss);
	reqlen = build_get(req, sizeof req, path);

	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		die_errno("socket", errno, EXIT_SYSCALL);
	if (alarm_during) {
		struct sigaction sa;
		struct itimerval every = {{0, 1000}, {0, 1000}};
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_alarm; /* no SA_RESTART */
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &every, NULL);
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		die_errno("connect", errno, EXIT_CONNECT);
	if (alarm_during) {
		struct itimerval off = {{0, 0}, {0, 0}};
		sig_atomic_t n = alarms;
		setitimer(ITIMER_REAL, &off, NULL);
		printf("alarms during connect: %d\n", (int)n);
	}
	printf("connect: 0\n");
	if (twice) {
		int rc = connect(fd, (struct sockaddr *)&ss, len);
		printf("second connect: %s\n", errno_name(rc < 0 ? errno : 0));
	}
	fflush(stdout);
	exchange(fd, req, (size_t)reqlen);
	close(fd);
	return 0;
}
