/*
 * bulk: the benchmark's bulk-throughput client. It sends MIB MiB to the
 * bench's sink (sink.c) with write() in 64 KiB chunks and waits for the
 * sink to confirm the byte count. Loopback only.
 *
 * Usage:
 *   bulk plain HOST PORT MIB
 *       connects to HOST:PORT itself (run it bare, under chainrun, under
 *       proxychains4);
 *   bulk socks5 PROXYHOST PROXYPORT HOST PORT MIB
 *       connects to the SOCKS5 proxy and speaks SOCKS5 itself (no auth,
 *       CONNECT to the IPv4 HOST:PORT), then sends the same way.
 *
 * The client sends the 8-byte big-endian length, then the data, then
 * reads the sink's "ok L\n", which the sink writes only once it has
 * received all L bytes; the client checks L. The sink also logs the count
 * when the connection closes, which the driver checks.
 *
 * Output, one line on stdout:
 *   mode=MODE mib=MIB ok=1 total_ns=T mbps=.. writes=W
 * total_ns runs from the first data write() to the sink's confirmation
 * (CLOCK_MONOTONIC): connect and handshake excluded, the last bytes'
 * arrival at the sink included. mbps is MIB MiB ÷ total_ns in MB/s (10^6
 * bytes). The socket has 10 s timeouts. Exit status: 0 on success, 1 on a
 * failure (described on stderr), 2 on bad usage.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "benchnet.h"

#define CHUNK (64 * 1024)
#define MAXMIB (64 * 1024)

int main(int argc, char **argv)
{
	static unsigned char chunk[CHUNK];
	struct sockaddr_in to, dst;
	unsigned char hdr[8];
	char reply[64];
	size_t got = 0;
	uint64_t total, sent = 0;
	long mib, writes = 0;
	int64_t t0, t1;
	char *end;
	int socks, fd;

	if (argc == 5 && strcmp(argv[1], "plain") == 0) {
		socks = 0;
		if (loopback_addr(argv[2], argv[3], 0, &to) < 0)
			goto usage;
	} else if (argc == 7 && strcmp(argv[1], "socks5") == 0) {
		socks = 1;
		if (loopback_addr(argv[2], argv[3], 0, &to) < 0 || loopback_addr(argv[4], argv[5], 0, &dst) < 0)
			goto usage;
	} else {
		goto usage;
	}
	mib = strtol(argv[argc - 1], &end, 10);
	if (*end || mib <= 0 || mib > MAXMIB)
		goto usage;
	total = (uint64_t)mib << 20;
	for (size_t i = 0; i < CHUNK; i++)
		chunk[i] = (unsigned char)(i * 131 + 7);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("bulk: socket");
		return 1;
	}
	sock_timeouts(fd, 10);
	if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
		perror("bulk: connect");
		return 1;
	}
	if (socks && socks5_connect(fd, &dst) < 0) {
		fprintf(stderr, "bulk: socks5: %s\n", errno ? strerror(errno) : "bad reply");
		return 1;
	}
	for (int i = 0; i < 8; i++)
		hdr[i] = (unsigned char)(total >> (56 - 8 * i));
	if (write_all(fd, hdr, sizeof hdr) < 0) {
		perror("bulk: write header");
		return 1;
	}
	t0 = now_ns();
	while (sent < total) {
		size_t want = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
		ssize_t n = write(fd, chunk, want);
		writes++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("bulk: write");
			return 1;
		}
		sent += (uint64_t)n;
	}
	while (got < sizeof reply - 1 && (got == 0 || reply[got - 1] != '\n')) {
		ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "bulk: reading the sink's count: %s\n", n < 0 ? strerror(errno) : "EOF");
			return 1;
		}
		got += (size_t)n;
	}
	t1 = now_ns();
	reply[got] = 0;
	if (strtoull(reply + (strncmp(reply, "ok ", 3) == 0 ? 3 : 0), NULL, 10) != total || strncmp(reply, "ok ", 3) != 0) {
		fprintf(stderr, "bulk: the sink says %.*s, want ok %llu\n", (int)strcspn(reply, "\n"), reply,
			(unsigned long long)total);
		return 1;
	}
	close(fd);
	printf("mode=%s mib=%ld ok=1 total_ns=%lld mbps=%.1f writes=%ld\n", argv[1], mib, (long long)(t1 - t0),
	       (double)total / ((double)(t1 - t0) / 1e9) / 1e6, writes);
	fflush(stdout);
	return 0;
usage:
	fprintf(stderr, "usage: bulk plain HOST PORT MIB\n"
			"       bulk socks5 PROXYHOST PROXYPORT HOST PORT MIB\n");
	return 2;
}
