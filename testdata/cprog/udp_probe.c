/*
 * udp_probe: sends datagrams to an address and prints the replies with the
 * source address the kernel (or the tracer) reports, through each of the
 * socket calls chainrun traps for its DNS path.
 *
 * usage: udp_probe SEND RECV ADDR PORT
 *   SEND: sendto | sendmsg | sendmmsg | connect (connect, then send)
 *   RECV: recvfrom | recvmsg | recvmmsg | read (read gives no address)
 *   ADDR: IPv4 or IPv6; "-mapped" before it: an IPv6 socket with the
 *   IPv4-mapped address; "-v4on6" before it: an IPv6 socket given the plain
 *   IPv4 sockaddr (the kernel connects and sends it as v4-mapped).
 * Output: "send: N" (bytes, or messages for sendmmsg), then one
 * "reply from ADDR port PORT: TEXT" line per datagram received.
 * sendmmsg sends two datagrams ("ping1", "ping2") and the program waits for
 * both; the others send "ping".
 */
#include "common.h"

#include <sys/uio.h>

static int family;

static void show(struct sockaddr_storage *ss, socklen_t len, const char *buf, ssize_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = -1;
	if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
		port = ntohs(s->sin6_port);
	} else if (len == 0) {
		strcpy(host, "none");
	}
	printf("reply from %s port %d: %.*s\n", host, port, (int)n, buf);
}

static int wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, 3000);
	if (r == 0) {
		printf("recv: timeout\n");
		exit(EXIT_TIMEOUT);
	}
	return r;
}

int main(int argc, char **argv)
{
	int mapped = 0, v4on6 = 0;
	if (argc >= 4 && (strcmp(argv[3], "-mapped") == 0 || strcmp(argv[3], "-v4on6") == 0)) {
		mapped = strcmp(argv[3], "-mapped") == 0;
		v4on6 = !mapped;
		memmove(&argv[3], &argv[4], (argc - 4) * sizeof *argv);
		argc--;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: udp_probe SEND RECV [-mapped|-v4on6] ADDR PORT\n");
		return EXIT_USAGE;
	}
	const char *sendHow = argv[1], *recvHow = argv[2];
	struct sockaddr_storage dst;
	socklen_t dlen;
	memset(&dst, 0, sizeof dst);
	int port = atoi(argv[4]);
	if (strchr(argv[3], ':') || mapped) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&dst;
		char buf[64];
		snprintf(buf, sizeof buf, mapped ? "::ffff:%s" : "%s", argv[3]);
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		if (inet_pton(AF_INET6, buf, &s->sin6_addr) != 1)
			return EXIT_USAGE;
		dlen = sizeof *s;
		family = AF_INET6;
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&dst;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		if (inet_pton(AF_INET, argv[3], &s->sin_addr) != 1)
			return EXIT_USAGE;
		dlen = sizeof *s;
		family = AF_INET;
	}
	int fd = socket(v4on6 ? AF_INET6 : family, SOCK_DGRAM, 0);
	if (fd < 0) {
		printf("socket: %s\n", errno_name(errno));
		return EXIT_SYSCALL;
	}
	int want = 1;
	ssize_t sent;
	char ping[] = "ping";
	if (strcmp(sendHow, "sendto") == 0) {
		sent = sendto(fd, ping, 4, 0, (struct sockaddr *)&dst, dlen);
	} else if (strcmp(sendHow, "connect") == 0) {
		if (connect(fd, (struct sockaddr *)&dst, dlen) != 0) {
			printf("connect: %s\n", errno_name(errno));
			return EXIT_CONNECT;
		}
		sent = send(fd, ping, 4, 0);
	} else if (strcmp(sendHow, "sendmsg") == 0) {
		/* two buffers, gathered into one datagram */
		struct iovec iov[2] = {{.iov_base = "pi", .iov_len = 2}, {.iov_base = "ng", .iov_len = 2}};
		struct msghdr m = {.msg_name = &dst, .msg_namelen = dlen, .msg_iov = iov, .msg_iovlen = 2};
		sent = sendmsg(fd, &m, 0);
	} else if (strcmp(sendHow, "sendmmsg") == 0) {
		struct iovec iov[2] = {{.iov_base = "ping1", .iov_len = 5}, {.iov_base = "ping2", .iov_len = 5}};
		struct mmsghdr mm[2];
		memset(mm, 0, sizeof mm);
		for (int i = 0; i < 2; i++) {
			mm[i].msg_hdr.msg_name = &dst;
			mm[i].msg_hdr.msg_namelen = dlen;
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		sent = sendmmsg(fd, mm, 2, 0);
		if (sent == 2 && (mm[0].msg_len != 5 || mm[1].msg_len != 5)) {
			printf("msg_len: %u %u\n", mm[0].msg_len, mm[1].msg_len);
			return EXIT_SYSCALL;
		}
		want = 2;
	} else {
		return EXIT_USAGE;
	}
	if (sent < 0) {
		printf("send: %s\n", errno_name(errno));
		return EXIT_SYSCALL;
	}
	printf("send: %zd\n", sent);
	fflush(stdout);

	for (int got = 0; got < want;) {
		char buf[512];
		struct sockaddr_storage src;
		socklen_t slen = sizeof src;
		memset(&src, 0, sizeof src);
		wait_readable(fd);
		ssize_t n;
		if (strcmp(recvHow, "recvfrom") == 0) {
			n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&src, &slen);
		} else if (strcmp(recvHow, "recvmsg") == 0) {
			struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
			struct msghdr m = {.msg_name = &src, .msg_namelen = sizeof src, .msg_iov = &iov, .msg_iovlen = 1};
			n = recvmsg(fd, &m, 0);
			slen = m.msg_namelen;
		} else if (strcmp(recvHow, "recvmmsg") == 0) {
			char bufs[2][512];
			struct sockaddr_storage srcs[2];
			struct iovec iov[2];
			struct mmsghdr mm[2];
			memset(mm, 0, sizeof mm);
			for (int i = 0; i < 2; i++) {
				iov[i].iov_base = bufs[i];
				iov[i].iov_len = sizeof bufs[i];
				mm[i].msg_hdr.msg_name = &srcs[i];
				mm[i].msg_hdr.msg_namelen = sizeof srcs[i];
				mm[i].msg_hdr.msg_iov = &iov[i];
				mm[i].msg_hdr.msg_iovlen = 1;
			}
			int k = recvmmsg(fd, mm, want - got, MSG_DONTWAIT, NULL);
			if (k < 0) {
				printf("recv: %s\n", errno_name(errno));
				return EXIT_SYSCALL;
			}
			for (int i = 0; i < k; i++)
				show(&srcs[i], mm[i].msg_hdr.msg_namelen, bufs[i], mm[i].msg_len);
			got += k;
			continue;
		} else if (strcmp(recvHow, "read") == 0) {
			n = read(fd, buf, sizeof buf);
			slen = 0;
		} else {
			return EXIT_USAGE;
		}
		if (n < 0) {
			printf("recv: %s\n", errno_name(errno));
			return EXIT_SYSCALL;
		}
		show(&src, slen, buf, n);
		got++;
	}
	return 0;
}
