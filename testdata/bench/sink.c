/*
 * sink: the benchmark's TCP sink, for the bulk-throughput and tracer-memory
 * rows. It discards and counts. Loopback only.
 *
 * Usage:
 *   sink HOST SECONDS
 *       listens on HOST (a numeric 127.0.0.0/8 address, any port), prints
 *       "listening HOST:PORT", and serves any number of connections at
 *       once (one thread, epoll), until killed or SECONDS have passed.
 *
 * Protocol, per connection: the client sends an 8-byte big-endian length
 * L, then L bytes. Once the sink has received all L bytes it writes back
 * "ok L\n"; it keeps reading (and counting) until the client closes, then
 * prints "closed len=L bytes=B" on stdout, B being every byte received
 * after the header (B == L when the client sent what it announced). A
 * connection held open and idle (L = 0, for the memory row) costs one fd
 * and a few bytes. The sink raises its own RLIMIT_NOFILE soft limit (to at
 * most 65536 and the hard limit). Exit status 1 if it cannot listen.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/epoll.h>

#include "benchnet.h"

#define BUF (256 * 1024)

struct conn {
	unsigned char hdr[8];
	int hdrlen;
	int replied;
	uint64_t len, bytes;
};

int main(int argc, char **argv)
{
	static unsigned char buf[BUF];
	struct sockaddr_in sa;
	socklen_t slen = sizeof sa;
	struct rlimit rl;
	struct conn *conns;
	long seconds;
	char *end;
	int one = 1, ln, ep;
	size_t maxfd;

	if (argc != 3 || loopback_addr(argv[1], "0", 1, &sa) < 0)
		goto usage;
	seconds = strtol(argv[2], &end, 10);
	if (*end || seconds <= 0)
		goto usage;
	raise_nofile(65536);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	maxfd = rl.rlim_cur > 65536 ? 65536 : (size_t)rl.rlim_cur;
	conns = calloc(maxfd, sizeof *conns);
	ln = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!conns || ln < 0)
		return 1;
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ln, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ln, 4096) < 0 ||
	    getsockname(ln, (struct sockaddr *)&sa, &slen) < 0) {
		perror("sink: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ln };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ln, &ev) < 0) {
		perror("sink: epoll");
		return 1;
	}
	alarm((unsigned)seconds);
	printf("listening %s:%d\n", inet_ntoa(sa.sin_addr), ntohs(sa.sin_port));
	fflush(stdout);

	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("sink: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ln) {
				for (;;) {
					int c = accept4(ln, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
					if (c < 0)
						break;
					if ((size_t)c >= maxfd) {
						close(c);
						continue;
					}
					memset(&conns[c], 0, sizeof conns[c]);
					struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = c };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
						close(c);
				}
				continue;
			}
			struct conn *k = &conns[fd];
			int done = 0;
			for (int reads = 0; reads < 64; reads++) { /* bounded: let other connections in */
				ssize_t m = read(fd, buf, BUF);
				if (m < 0) {
					if (errno == EINTR)
						continue;
					if (errno != EAGAIN)
						done = 1;
					break;
				}
				if (m == 0) {
					done = 1;
					break;
				}
				ssize_t off = 0;
				if (k->hdrlen < 8) {
					while (k->hdrlen < 8 && off < m)
						k->hdr[k->hdrlen++] = buf[off++];
					if (k->hdrlen == 8)
						for (int j = 0; j < 8; j++)
							k->len = k->len << 8 | k->hdr[j];
				}
				k->bytes += (uint64_t)(m - off);
				if (k->hdrlen == 8 && !k->replied && k->bytes >= k->len) {
					char line[64];
					int l = snprintf(line, sizeof line, "ok %llu\n", (unsigned long long)k->len);
					k->replied = 1;
					if (write(fd, line, (size_t)l) != l)
						done = 1;
				}
				if (m < BUF)
					break;
			}
			if (done) {
				printf("closed len=%llu bytes=%llu\n", (unsigned long long)k->len, (unsigned long long)k->bytes);
				fflush(stdout);
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
usage:
	fprintf(stderr, "usage: sink LOOPBACK-HOST SECONDS\n");
	return 2;
}
