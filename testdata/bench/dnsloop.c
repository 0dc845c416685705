/*
 * dnsloop: the benchmark's DNS client. It resolves N distinct names,
 * name-0.SUFFIX … name-(N-1).SUFFIX, so that no cache anywhere can answer
 * one from another, and classifies every IPv4 answer:
 *   fake198: in 198.18.0.0/15 (chainrun's remote DNS),
 *   fake224: in 224.0.0.0/8 (proxychains4's proxy_dns),
 *   fixed:   equal to the address given as EXPECT (the bench's server),
 *   other:   anything else.
 * It connects nowhere: the answers are only looked at.
 *
 * Usage:
 *   dnsloop gai SUFFIX N EXPECT
 *       getaddrinfo(name, NULL, {AF_INET, SOCK_STREAM}) for each name, in
 *       this process (the first address of each answer is classified);
 *   dnsloop dig SUFFIX N EXPECT DIG SERVER
 *       runs `DIG +short +tries=1 +time=2 @SERVER name` for each name, one
 *       process after the other, and classifies the lines dig prints.
 *       SERVER must be a loopback address.
 *
 * Output, one line on stdout:
 *   mode=gai n=N ok=OK fail=F total_ns=T per_lookup_us=T/N/1000 \
 *   p50_us=... p99_us=... fake198=.. fake224=.. fixed=.. other=..
 * total_ns is the wall time of the whole loop (CLOCK_MONOTONIC), process
 * start-up excluded. The first failure is described on stderr. A dig that
 * runs longer than 10 s is killed. Exit status: 0 if all N lookups gave an
 * answer, 1 otherwise, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXN 1000000

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int failed_once;

static void fail(const char *name, const char *what)
{
	if (!failed_once) {
		failed_once = 1;
		fprintf(stderr, "dnsloop: %s: %s\n", name, what);
	}
}

static struct in_addr expect;
static long fake198, fake224, fixed, other;

static void classify(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	if ((h & 0xfffe0000u) == 0xc6120000u) /* 198.18.0.0/15 */
		fake198++;
	else if ((h >> 24) == 224)
		fake224++;
	else if (a.s_addr == expect.s_addr)
		fixed++;
	else
		other++;
}

static int one_gai(const char *name)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(name, NULL, &hints, &res);

	if (rc != 0) {
		fail(name, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	if (res->ai_family != AF_INET || res->ai_addrlen < sizeof(struct sockaddr_in)) {
		fail(name, "not an IPv4 answer");
		freeaddrinfo(res);
		return -1;
	}
	classify(((struct sockaddr_in *)res->ai_addr)->sin_addr);
	freeaddrinfo(res);
	return 0;
}

static const char *dig, *server;

/* one_dig runs dig for name and classifies every address line it prints. */
static int one_dig(const char *name)
{
	char at[80], out[4096];
	int p[2], status, answers = 0;
	size_t got = 0;
	pid_t pid;

	snprintf(at, sizeof at, "@%s", server);
	if (pipe2(p, O_CLOEXEC) < 0) {
		fail(name, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fail(name, strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		alarm(10);
		execl(dig, dig, "+short", "+tries=1", "+time=2", at, name, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], out + got, sizeof out - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof out - 1)
			break;
	}
	close(p[0]);
	out[got] = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail(name, "dig failed");
		return -1;
	}
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		struct in_addr a;
		if (inet_pton(AF_INET, line, &a) == 1) {
			classify(a);
			answers++;
		}
	}
	if (answers == 0) {
		fail(name, "dig printed no IPv4 address");
		return -1;
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int (*one)(const char *);
	const char *suffix;
	int ok = 0, failures = 0;
	long n;
	int64_t t0, total, *each;
	char *end, name[256];

	if (argc == 5 && strcmp(argv[1], "gai") == 0) {
		one = one_gai;
	} else if (argc == 7 && strcmp(argv[1], "dig") == 0) {
		struct in_addr s4;
		struct in6_addr s6;
		one = one_dig;
		dig = argv[5];
		server = argv[6];
		if (!((inet_pton(AF_INET, server, &s4) == 1 && (ntohl(s4.s_addr) >> 24) == 127) ||
		      (inet_pton(AF_INET6, server, &s6) == 1 && IN6_IS_ADDR_LOOPBACK(&s6)))) {
			fprintf(stderr, "dnsloop: %s: not a loopback address\n", server);
			return 2;
		}
	} else {
		goto usage;
	}
	suffix = argv[2];
	n = strtol(argv[3], &end, 10);
	if (*end || n <= 0 || n > MAXN || strlen(suffix) > 200 || inet_pton(AF_INET, argv[4], &expect) != 1)
		goto usage;
	each = calloc((size_t)n, sizeof *each);
	if (!each)
		return 1;
	signal(SIGPIPE, SIG_IGN);

	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		int64_t s = now_ns();
		snprintf(name, sizeof name, "name-%ld.%s", i, suffix);
		if (one(name) == 0)
			ok++;
		else
			failures++;
		each[i] = now_ns() - s;
	}
	total = now_ns() - t0;

	qsort(each, (size_t)n, sizeof *each, cmp_i64);
	printf("mode=%s n=%ld ok=%d fail=%d total_ns=%lld per_lookup_us=%.3f p50_us=%.3f p99_us=%.3f "
	       "fake198=%ld fake224=%ld fixed=%ld other=%ld\n",
	       argv[1], n, ok, failures, (long long)total, (double)total / (double)n / 1000.0,
	       (double)each[n / 2] / 1000.0, (double)each[(n * 99) / 100] / 1000.0,
	       fake198, fake224, fixed, other);
	fflush(stdout);
	return failures ? 1 : 0;
usage:
	fprintf(stderr, "usage: dnsloop gai SUFFIX N EXPECT\n"
			"       dnsloop dig SUFFIX N EXPECT DIG LOOPBACK-SERVER\n");
	return 2;
}
