/*
 * burst: the benchmark's concurrent-connect client. T threads start
 * together behind a barrier; each does one connection: socket, connect,
 * send a tiny HTTP/1.0 "GET /", read the whole reply until EOF, check it
 * is a 200, close. Loopback only.
 *
 * Usage:
 *   burst plain HOST PORT T
 *       each thread connects to HOST:PORT itself (run it bare, under
 *       chainrun, under proxychains4);
 *   burst socks5 PROXYHOST PROXYPORT HOST PORT T
 *       each thread connects to the SOCKS5 proxy and speaks SOCKS5 itself
 *       (no auth, CONNECT to the IPv4 HOST:PORT), waiting for each reply.
 *
 * Output, one line on stdout:
 *   mode=MODE threads=T ok=OK fail=F total_ns=W p50_us=.. max_us=..
 * total_ns is the wall time from the barrier's release to the last
 * thread's end (CLOCK_MONOTONIC): thread creation and process start-up
 * excluded. p50_us and max_us are over the threads' own times from the
 * release to their end. Sockets have 10 s timeouts; the first failure is
 * described on stderr. Exit status: 0 if all T succeeded, 1 otherwise, 2
 * on bad usage.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>

#include "benchnet.h"

#define MAXT 4096

static struct sockaddr_in to, dst;
static int socks;
static pthread_barrier_t barrier;
static int64_t t_release;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int ok, failures;

struct job {
	pthread_t th;
	int64_t end;
};

static void fail(const char *what, int e)
{
	pthread_mutex_lock(&mu);
	if (failures++ == 0)
		fprintf(stderr, "burst: %s: %s\n", what, e ? strerror(e) : "bad reply");
	pthread_mutex_unlock(&mu);
}

static int one(void)
{
	const char *what;
	int fd, rc = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail("socket", errno);
		return -1;
	}
	sock_timeouts(fd, 10);
	if (connect(fd, (const struct sockaddr *)&to, sizeof to) < 0) {
		fail("connect", errno);
		goto out;
	}
	if (socks && socks5_connect(fd, &dst) < 0) {
		fail("socks5", errno);
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

static void *worker(void *arg)
{
	struct job *j = arg;

	pthread_barrier_wait(&barrier);
	int rc = one();
	j->end = now_ns();
	if (rc == 0) {
		pthread_mutex_lock(&mu);
		ok++;
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static struct job jobs[MAXT];
	static int64_t each[MAXT];
	pthread_attr_t attr;
	int64_t last = 0;
	long t;
	char *end;

	if (argc == 5 && strcmp(argv[1], "plain") == 0) {
		if (loopback_addr(argv[2], argv[3], 0, &to) < 0)
			goto usage;
	} else if (argc == 7 && strcmp(argv[1], "socks5") == 0) {
		socks = 1;
		if (loopback_addr(argv[2], argv[3], 0, &to) < 0 || loopback_addr(argv[4], argv[5], 0, &dst) < 0)
			goto usage;
	} else {
		goto usage;
	}
	t = strtol(argv[argc - 1], &end, 10);
	if (*end || t <= 0 || t > MAXT)
		goto usage;
	raise_nofile((rlim_t)t + 64);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_barrier_init(&barrier, NULL, (unsigned)t + 1);
	for (long i = 0; i < t; i++) {
		int e = pthread_create(&jobs[i].th, &attr, worker, &jobs[i]);
		if (e != 0) {
			/* The barrier waits for every thread: without all of them, stop. */
			fprintf(stderr, "burst: pthread_create: %s\n", strerror(e));
			_exit(1);
		}
	}
	pthread_barrier_wait(&barrier);
	t_release = now_ns();
	for (long i = 0; i < t; i++) {
		pthread_join(jobs[i].th, NULL);
		each[i] = jobs[i].end - t_release;
		if (jobs[i].end > last)
			last = jobs[i].end;
	}
	qsort(each, (size_t)t, sizeof *each, cmp_i64);
	printf("mode=%s threads=%ld ok=%d fail=%d total_ns=%lld p50_us=%.1f max_us=%.1f\n", argv[1], t, ok, failures,
	       (long long)(last - t_release), (double)each[t / 2] / 1000.0, (double)each[t - 1] / 1000.0);
	fflush(stdout);
	return failures ? 1 : 0;
usage:
	fprintf(stderr, "usage: burst plain HOST PORT T\n"
			"       burst socks5 PROXYHOST PROXYPORT HOST PORT T\n");
	return 2;
}
