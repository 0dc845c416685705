/*
 * tcpstream: the benchmark's TCP bulk-transfer client, and its server.
 * Loopback only: both take a numeric loopback IPv4 address.
 *
 * Usage:
 *   tcpstream serve HOST SECONDS
 *       listens on HOST (any port), prints "listening HOST:PORT", and
 *       serves one connection at a time, until killed or SECONDS have
 *       passed: it reads an 8-byte byte count B (big-endian), reads B
 *       bytes, writes B bytes back, and closes. It uses read() and
 *       write() with 64 KiB buffers;
 *   tcpstream MODE HOST PORT MIB
 *       connects to the server, sends MIB MiB, then receives MIB MiB,
 *       with 64 KiB calls. MODE says which calls:
 *         rw   write() and read();
 *         msg  sendmsg() and recvmsg() with one iovec and no address
 *              (msg_name NULL).
 *       Every byte received is checked against the pattern sent.
 *
 * Output of a client, one line on stdout:
 *   mode=MODE mib=MIB ok=1 total_ns=T up_ns=.. down_ns=.. mbps=.. \
 *   up_mbps=.. down_mbps=.. send_calls=.. recv_calls=..
 * mbps is (2 × MIB MiB) ÷ total_ns in MB/s (10^6 bytes); total_ns runs from
 * the first send to the last byte received (CLOCK_MONOTONIC), connect
 * excluded; send_calls and recv_calls count the calls made. Sockets have
 * 10 s send/receive timeouts. Exit status: 0 on success, 1 on a failure
 * (described on stderr), 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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

#define CHUNK (64 * 1024)
#define MAXMIB 65536

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int loopback(const char *host, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 && (ntohl(sa->sin_addr.s_addr) >> 24) == 127 ? 0 : -1;
}

static void timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int msgmode;
static long send_calls, recv_calls;

static ssize_t xsend(int fd, const void *buf, size_t len)
{
	send_calls++;
	if (!msgmode)
		return write(fd, buf, len);
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	return sendmsg(fd, &mh, 0);
}

static ssize_t xrecv(int fd, void *buf, size_t len)
{
	recv_calls++;
	if (!msgmode)
		return read(fd, buf, len);
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	return recvmsg(fd, &mh, 0);
}

/* pattern is the byte at stream offset off. */
static inline unsigned char pattern(uint64_t off) { return (unsigned char)(off * 131 + (off >> 16)); }

static void fill(unsigned char *buf, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(off + i);
}

/* send_n sends total bytes from chunk, which it repeats (at most CHUNK bytes of it). */
static int send_n(int fd, const unsigned char *chunk, uint64_t total)
{
	uint64_t done = 0;

	while (done < total) {
		size_t want = total - done < CHUNK ? (size_t)(total - done) : CHUNK;
		size_t at = (size_t)(done % CHUNK);
		if (at + want > CHUNK)
			want = CHUNK - at;
		ssize_t n = xsend(fd, chunk + at, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (uint64_t)n;
	}
	return 0;
}

/* recv_n receives total bytes; with check, compares them with the pattern. */
static int recv_n(int fd, unsigned char *buf, const unsigned char *chunk, uint64_t total, int check)
{
	uint64_t done = 0;

	while (done < total) {
		size_t want = total - done < CHUNK ? (size_t)(total - done) : CHUNK;
		ssize_t n = xrecv(fd, buf, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EPIPE;
			return -1;
		}
		if (check) {
			for (ssize_t i = 0; i < n;) {
				size_t at = (size_t)((done + (uint64_t)i) % CHUNK);
				size_t k = CHUNK - at < (size_t)(n - i) ? CHUNK - at : (size_t)(n - i);
				if (memcmp(buf + i, chunk + at, k) != 0) {
					errno = EBADMSG;
					return -1;
				}
				i += (ssize_t)k;
			}
		}
		done += (uint64_t)n;
	}
	return 0;
}

static int serve(const char *host, long seconds)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	static unsigned char chunk[CHUNK], buf[CHUNK];
	int one = 1, ln;

	if (loopback(host, &sa) < 0) {
		fprintf(stderr, "tcpstream: %s: not a loopback IPv4 address\n", host);
		return 2;
	}
	ln = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ln < 0 || bind(ln, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ln, 16) < 0 ||
	    getsockname(ln, (struct sockaddr *)&sa, &len) < 0) {
		perror("tcpstream serve");
		return 1;
	}
	fill(chunk, 0, CHUNK);
	alarm((unsigned)seconds);
	printf("listening %s:%d\n", inet_ntoa(sa.sin_addr), ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		unsigned char hdr[8];
		uint64_t total = 0;
		int c = accept4(ln, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		timeouts(c);
		if (recv_n(c, hdr, NULL, sizeof hdr, 0) == 0) {
			for (int i = 0; i < 8; i++)
				total = total << 8 | hdr[i];
			if (total <= (uint64_t)MAXMIB << 20 && recv_n(c, buf, NULL, total, 0) == 0)
				send_n(c, chunk, total);
		}
		close(c);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	static unsigned char chunk[CHUNK], buf[CHUNK];
	unsigned char hdr[8];
	uint64_t total;
	int64_t t0, t1, t2;
	long mib, port;
	char *end;
	int fd;

	if (argc == 4 && strcmp(argv[1], "serve") == 0) {
		long s = strtol(argv[3], &end, 10);
		if (*end || s <= 0)
			goto usage;
		return serve(argv[2], s);
	}
	if (argc != 5)
		goto usage;
	if (strcmp(argv[1], "msg") == 0)
		msgmode = 1;
	else if (strcmp(argv[1], "rw") != 0)
		goto usage;
	port = strtol(argv[3], &end, 10);
	if (*end || port <= 0 || port > 65535 || loopback(argv[2], &sa) < 0)
		goto usage;
	sa.sin_port = htons((uint16_t)port);
	mib = strtol(argv[4], &end, 10);
	if (*end || mib <= 0 || mib > MAXMIB)
		goto usage;
	total = (uint64_t)mib << 20;
	fill(chunk, 0, CHUNK);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("tcpstream: socket");
		return 1;
	}
	timeouts(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("tcpstream: connect");
		return 1;
	}
	for (int i = 0; i < 8; i++)
		hdr[i] = (unsigned char)(total >> (56 - 8 * i));
	t0 = now_ns();
	if (send_n(fd, hdr, sizeof hdr) < 0 || send_n(fd, chunk, total) < 0) {
		perror("tcpstream: send");
		return 1;
	}
	t1 = now_ns();
	if (recv_n(fd, buf, chunk, total, 1) < 0) {
		perror("tcpstream: receive");
		return 1;
	}
	t2 = now_ns();
	close(fd);
	printf("mode=%s mib=%ld ok=1 total_ns=%lld up_ns=%lld down_ns=%lld mbps=%.1f up_mbps=%.1f down_mbps=%.1f "
	       "send_calls=%ld recv_calls=%ld\n",
	       argv[1], mib, (long long)(t2 - t0), (long long)(t1 - t0), (long long)(t2 - t1),
	       2.0 * (double)total / ((double)(t2 - t0) / 1e9) / 1e6, (double)total / ((double)(t1 - t0) / 1e9) / 1e6,
	       (double)total / ((double)(t2 - t1) / 1e9) / 1e6, send_calls, recv_calls);
	fflush(stdout);
	return 0;
usage:
	fprintf(stderr, "usage: tcpstream serve LOOPBACK-HOST SECONDS\n"
			"       tcpstream rw|msg LOOPBACK-HOST PORT MIB\n");
	return 2;
}
