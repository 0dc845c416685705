/*
 * probe: the leak probes. Each mode tries ONE way for a program to reach
 * the network other than a plain connect(2), at the sink address given on
 * the command line, and says what happened on one line:
 *
 *   result: <what happened>
 *
 * with errno values by their symbolic names. Lines before it (other
 * prefixes) say more: "io_uring_queue_init: ENOSYS", "euid: 0", "pid: 42".
 * The exit status is 0 whenever the program itself ran fine, also when the
 * escape was refused (a refused socket(2) for the escape included: that is
 * the result then); 2 for a usage error, 4 when a call the probe needs for
 * itself (not the escape) failed ("result: probe error: …").
 *
 * usage: probe MODE HOST PORT [ARG]
 *   HOST is a numeric IPv4 or IPv6 address; never a name (no DNS here).
 *
 * UDP (one datagram "leak-probe MODE", no reply awaited):
 *   udp_sendto        sendto(2) with the address
 *   udp_connect_send  connect(2) on the UDP socket, then send(2)
 *   udp_sendmsg       sendmsg(2) with msg_name
 *   udp_sendmmsg      sendmmsg(2), one message with msg_name
 * TCP without connect(2) (TCP Fast Open):
 *   tfo_sendto        sendto(MSG_FASTOPEN) with data on a fresh TCP socket
 *   tfo_sendmsg       sendmsg(MSG_FASTOPEN) with msg_name and data
 *   tfo_connect       setsockopt(TCP_FASTOPEN_CONNECT), connect(2), write(2)
 * TCP by other roads:
 *   tcp_connect       plain connect(2) (IPv4 or IPv6 HOST)
 *   v4mapped_connect  an AF_INET6 socket connected to ::ffff:HOST (IPv4 HOST)
 *   io_uring_connect  IORING_OP_CONNECT through liburing; when
 *                     io_uring_queue_init fails, prints its errno and falls
 *                     back to connect(2), as real programs do (needs the
 *                     build with -DPROBE_URING)
 *   int80_connect     i386 connect (362) through "int $0x80" from this
 *                     64-bit program (x86-64, static -no-pie build only)
 *   int80_socketcall  i386 socketcall(SYS_CONNECT) through "int $0x80"
 *   vfork_connect     vfork(2); the child connects, sends, reads the reply
 *                     and _exits; the parent reports what the child saw
 *   cross_thread_connect  the socket is made on the main thread and
 *                     connected on another thread that was already running
 *   sleep_connect     prints "pid: N", sleeps ARG milliseconds (default
 *                     1000), then connects (for killing the tracer meanwhile)
 *   whoami_connect    prints "euid: N" and "ruid: N", then connects (run
 *                     as a setuid copy)
 * Raw frames, sent only on this namespace's own interface, to HOST (IPv4):
 *   raw_socket        socket(AF_INET, SOCK_RAW, IPPROTO_UDP), sendto(2) of a
 *                     UDP header and payload to HOST:PORT
 *   packet_socket     socket(AF_PACKET, SOCK_RAW, ETH_P_ALL), send(2) of a
 *                     whole Ethernet frame (IPv4, UDP to HOST:PORT) on the
 *                     interface whose subnet holds HOST; ARG is the
 *                     destination MAC (aa:bb:cc:dd:ee:ff), broadcast when
 *                     absent
 *
 * After a TCP connection is made the probe sends "leak-probe MODE\n" and
 * waits at most 2 s for the sink's reply (one line), so the result says
 * whether the far end answered: "result: connect 0, sink replied".
 * Every wait is bounded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cprog/common.h" /* errno_name */

#ifdef PROBE_URING
#include <liburing.h>
#endif

#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

#define EXIT_USAGE 2
#define EXIT_SYSCALL 4

static const char *g_mode;
static char g_payload[128];
static size_t g_payload_len;
static struct sockaddr_storage g_dst; /* static: below 4 GiB in the -no-pie build */
static socklen_t g_dstlen;
static uint32_t g_sc_args[3];


static void result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void result(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("result: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
}

static void die(const char *what, int e)
{
	printf("%s: %s\n", what, errno_name(e));
	result("probe error: %s %s", what, errno_name(e));
	exit(EXIT_SYSCALL);
}

static void usage(void)
{
	fprintf(stderr, "usage: probe MODE HOST PORT [ARG]\n");
	exit(EXIT_USAGE);
}

/* parse_dst fills g_dst from a numeric HOST and PORT; with mapped, an IPv4
 * HOST becomes ::ffff:HOST on AF_INET6. */
static void parse_dst(const char *host, const char *port, int mapped)
{
	char *end;
	long p = strtol(port, &end, 10);
	if (*end != 0 || p <= 0 || p > 65535)
		usage();
	memset(&g_dst, 0, sizeof g_dst);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&g_dst;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&g_dst;
	if (mapped) {
		char buf[64];
		snprintf(buf, sizeof buf, "::ffff:%s", host);
		if (strchr(host, ':') || inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
			usage();
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		g_dstlen = sizeof *s6;
	} else if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		g_dstlen = sizeof *s4;
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		g_dstlen = sizeof *s6;
	} else {
		usage();
	}
}

static int family(void) { return g_dst.ss_family; }

/* sink_reply sends the payload on a connected TCP socket (unless already
 * sent) and waits at most 2 s for a reply line. It returns a static
 * description: "sink replied", "no reply (timeout)", "send EPIPE", … It
 * uses only system calls (the vfork child calls it). */
static const char *sink_reply(int fd, int sent)
{
	static char desc[96];
	char buf[256];
	if (!sent) {
		ssize_t n = send(fd, g_payload, g_payload_len, MSG_NOSIGNAL);
		if (n < 0) {
			snprintf(desc, sizeof desc, "send %s", errno_name(errno));
			return desc;
		}
	}
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (int i = 0; i < 20; i++) {
		int r = poll(&p, 1, 100);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(desc, sizeof desc, "poll %s", errno_name(errno));
			return desc;
		}
		if (r == 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0)
			return "sink replied";
		if (n == 0)
			return "closed without a reply";
		if (errno == EAGAIN || errno == EINTR)
			continue;
		snprintf(desc, sizeof desc, "recv %s", errno_name(errno));
		return desc;
	}
	return "no reply within 2s";
}

/* connect_and_report connects fd to g_dst with connect(2) and prints the
 * result line. */
static void connect_and_report(int fd, const char *how)
{
	if (connect(fd, (struct sockaddr *)&g_dst, g_dstlen) != 0) {
		result("%s %s", how, errno_name(errno));
		return;
	}
	result("%s 0, %s", how, sink_reply(fd, 0));
}

/* escape_socket makes the socket the escape goes through. When that is
 * refused (a wrapper may refuse the socket itself), that is the result:
 * it is printed and the probe ends with 0. */
static int escape_socket(int fam, int type, int proto)
{
	int fd = socket(fam, type, proto);
	if (fd < 0) {
		result("socket(%s, %s) %s", fam == AF_INET6 ? "AF_INET6" : "AF_INET",
		       type == SOCK_STREAM ? "SOCK_STREAM" : "SOCK_DGRAM", errno_name(errno));
		exit(0);
	}
	return fd;
}

static int tcp_socket(int fam) { return escape_socket(fam, SOCK_STREAM, 0); }

/* ---- UDP ---- */

static void udp(void)
{
	int fd = escape_socket(family(), SOCK_DGRAM, 0);
	ssize_t n;
	const char *how;
	if (strcmp(g_mode, "udp_sendto") == 0) {
		how = "sendto";
		n = sendto(fd, g_payload, g_payload_len, 0, (struct sockaddr *)&g_dst, g_dstlen);
	} else if (strcmp(g_mode, "udp_connect_send") == 0) {
		if (connect(fd, (struct sockaddr *)&g_dst, g_dstlen) != 0) {
			result("connect %s", errno_name(errno));
			return;
		}
		how = "connect 0, send";
		n = send(fd, g_payload, g_payload_len, 0);
	} else if (strcmp(g_mode, "udp_sendmsg") == 0) {
		struct iovec iov = {.iov_base = g_payload, .iov_len = g_payload_len};
		struct msghdr m = {.msg_name = &g_dst, .msg_namelen = g_dstlen, .msg_iov = &iov, .msg_iovlen = 1};
		how = "sendmsg";
		n = sendmsg(fd, &m, 0);
	} else {
		struct iovec iov = {.iov_base = g_payload, .iov_len = g_payload_len};
		struct mmsghdr mm;
		memset(&mm, 0, sizeof mm);
		mm.msg_hdr.msg_name = &g_dst;
		mm.msg_hdr.msg_namelen = g_dstlen;
		mm.msg_hdr.msg_iov = &iov;
		mm.msg_hdr.msg_iovlen = 1;
		how = "sendmmsg";
		n = sendmmsg(fd, &mm, 1, 0);
		if (n == 1) {
			result("sendmmsg 1 message (%u bytes)", mm.msg_len);
			return;
		}
	}
	if (n < 0)
		result("%s %s", how, errno_name(errno));
	else
		result("%s %zd bytes", how, n);
}

/* ---- TCP Fast Open ---- */

static void tfo(void)
{
	int fd = tcp_socket(family());
	ssize_t n;
	if (strcmp(g_mode, "tfo_connect") == 0) {
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one) != 0) {
			printf("setsockopt TCP_FASTOPEN_CONNECT: %s\n", errno_name(errno));
		}
		if (connect(fd, (struct sockaddr *)&g_dst, g_dstlen) != 0) {
			result("connect %s", errno_name(errno));
			return;
		}
		n = write(fd, g_payload, g_payload_len);
		if (n < 0) {
			result("connect 0, write %s", errno_name(errno));
			return;
		}
		result("connect 0, write %zd, %s", n, sink_reply(fd, 1));
		return;
	}
	const char *how;
	if (strcmp(g_mode, "tfo_sendto") == 0) {
		how = "sendto(MSG_FASTOPEN)";
		n = sendto(fd, g_payload, g_payload_len, MSG_FASTOPEN | MSG_NOSIGNAL, (struct sockaddr *)&g_dst, g_dstlen);
	} else {
		struct iovec iov = {.iov_base = g_payload, .iov_len = g_payload_len};
		struct msghdr m = {.msg_name = &g_dst, .msg_namelen = g_dstlen, .msg_iov = &iov, .msg_iovlen = 1};
		how = "sendmsg(MSG_FASTOPEN)";
		n = sendmsg(fd, &m, MSG_FASTOPEN | MSG_NOSIGNAL);
	}
	if (n < 0) {
		result("%s %s", how, errno_name(errno));
		return;
	}
	result("%s %zd bytes, %s", how, n, sink_reply(fd, 1));
}

/* ---- io_uring ---- */

static void uring(void)
{
	int fd = tcp_socket(family());
#ifdef PROBE_URING
	struct io_uring ring;
	int rc = io_uring_queue_init(4, &ring, 0);
	if (rc < 0) {
		printf("io_uring_queue_init: %s\n", errno_name(-rc));
		connect_and_report(fd, "io_uring unavailable, fallback connect");
		return;
	}
	printf("io_uring_queue_init: 0\n");
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&g_dst, g_dstlen);
	rc = io_uring_submit(&ring);
	if (rc < 0) {
		result("io_uring_submit %s", errno_name(-rc));
		return;
	}
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = 5};
	rc = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
	if (rc < 0) {
		result("io_uring_wait_cqe %s", errno_name(-rc));
		return;
	}
	int res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	if (res < 0) {
		result("IORING_OP_CONNECT %s", errno_name(-res));
		return;
	}
	result("IORING_OP_CONNECT 0, %s", sink_reply(fd, 0));
#else
	(void)fd;
	result("probe error: built without liburing");
	exit(EXIT_USAGE);
#endif
}

/* ---- int 0x80 ---- */

#if defined(__x86_64__)
static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "cc", "r8", "r9", "r10", "r11");
	return ret;
}
#endif

static void int80_probe(void)
{
#if defined(__x86_64__)
	if ((uintptr_t)&g_dst > 0xffffffffu) {
		result("probe error: not built -static -no-pie (addresses above 4 GiB)");
		exit(EXIT_USAGE);
	}
	if (family() != AF_INET)
		usage();
	int fd = tcp_socket(AF_INET);
	long rc;
	const char *how;
	if (strcmp(g_mode, "int80_connect") == 0) {
		how = "int 0x80 connect";
		rc = int80(362, fd, (long)(uintptr_t)&g_dst, (long)g_dstlen);
	} else {
		how = "int 0x80 socketcall(SYS_CONNECT)";
		g_sc_args[0] = (uint32_t)fd;
		g_sc_args[1] = (uint32_t)(uintptr_t)&g_dst;
		g_sc_args[2] = (uint32_t)g_dstlen;
		rc = int80(102, 3, (long)(uintptr_t)g_sc_args, 0);
	}
	rc = (int32_t)rc; /* eax, sign-extended */
	if (rc < 0) {
		result("%s %s", how, errno_name((int)-rc));
		return;
	}
	result("%s 0, %s", how, sink_reply(fd, 0));
#else
	result("probe error: int 0x80 is x86-64 only");
	exit(EXIT_USAGE);
#endif
}

/* ---- vfork ---- */

static volatile int g_child_connect = -1; /* errno of the child's connect, 0 ok */
static const char *volatile g_child_reply;

static void vfork_probe(void)
{
	int fd = tcp_socket(family());
	pid_t pid = vfork();
	if (pid < 0)
		die("vfork", errno);
	if (pid == 0) {
		/* The child shares our memory until it _exits. */
		if (connect(fd, (struct sockaddr *)&g_dst, g_dstlen) != 0) {
			g_child_connect = errno;
			_exit(0);
		}
		g_child_connect = 0;
		g_child_reply = sink_reply(fd, 0);
		_exit(0);
	}
	int st;
	for (int i = 0; i < 100; i++) {
		pid_t w = waitpid(pid, &st, 0);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
	}
	if (g_child_connect < 0)
		result("vfork child ended before connecting");
	else if (g_child_connect > 0)
		result("vfork child connect %s", errno_name(g_child_connect));
	else
		result("vfork child connect 0, %s", g_child_reply ? g_child_reply : "?");
}

/* ---- another thread ---- */

static int g_pipe[2];

static void *thread_connect(void *arg)
{
	(void)arg;
	int fd;
	/* Wait (bounded by the main thread's alarm) for the socket. */
	for (;;) {
		ssize_t n = read(g_pipe[0], &fd, sizeof fd);
		if (n == sizeof fd)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		result("probe error: pipe read");
		exit(EXIT_SYSCALL);
	}
	connect_and_report(fd, "connect on another thread");
	return NULL;
}

static void cross_thread(void)
{
	pthread_t th;
	if (pipe(g_pipe) != 0)
		die("pipe", errno);
	int rc = pthread_create(&th, NULL, thread_connect, NULL);
	if (rc != 0)
		die("pthread_create", rc);
	usleep(50000); /* the thread is running and blocked in read */
	int fd = tcp_socket(family());
	if (write(g_pipe[1], &fd, sizeof fd) != sizeof fd)
		die("pipe write", errno);
	pthread_join(th, NULL);
}

/* ---- raw and packet sockets ---- */

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* udp_packet writes a UDP header + payload to buf (checksum 0: none, legal
 * on IPv4) and returns its length. */
static size_t udp_packet(uint8_t *buf, uint16_t sport, uint16_t dport)
{
	struct udphdr *u = (struct udphdr *)buf;
	u->source = htons(sport);
	u->dest = htons(dport);
	u->len = htons((uint16_t)(sizeof *u + g_payload_len));
	u->check = 0;
	memcpy(buf + sizeof *u, g_payload, g_payload_len);
	return sizeof *u + g_payload_len;
}

static void raw_probe(void)
{
	if (family() != AF_INET)
		usage();
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	if (fd < 0) {
		result("socket(AF_INET, SOCK_RAW, IPPROTO_UDP) %s", errno_name(errno));
		return;
	}
	uint8_t buf[256];
	size_t len = udp_packet(buf, 40000, ntohs(((struct sockaddr_in *)&g_dst)->sin_port));
	ssize_t n = sendto(fd, buf, len, 0, (struct sockaddr *)&g_dst, g_dstlen);
	if (n < 0)
		result("socket 0, sendto %s", errno_name(errno));
	else
		result("socket 0, sendto %zd bytes", n);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static void packet_probe(const char *macarg)
{
	if (family() != AF_INET)
		usage();
	struct sockaddr_in *dst = (struct sockaddr_in *)&g_dst;
	uint8_t dmac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	if (macarg && parse_mac(macarg, dmac) != 0)
		usage();

	/* The interface whose IPv4 subnet holds HOST, and our address there:
	 * found without sending anything. */
	struct ifaddrs *ifa, *it;
	char ifname[IF_NAMESIZE + 1] = "";
	struct in_addr src = {0};
	if (getifaddrs(&ifa) != 0)
		die("getifaddrs", errno);
	for (it = ifa; it; it = it->ifa_next) {
		if (!it->ifa_addr || !it->ifa_netmask || it->ifa_addr->sa_family != AF_INET)
			continue;
		uint32_t a = ((struct sockaddr_in *)it->ifa_addr)->sin_addr.s_addr;
		uint32_t m = ((struct sockaddr_in *)it->ifa_netmask)->sin_addr.s_addr;
		if ((a & m) == (dst->sin_addr.s_addr & m) && !(it->ifa_flags & IFF_LOOPBACK)) {
			snprintf(ifname, sizeof ifname, "%s", it->ifa_name);
			src.s_addr = a;
			break;
		}
	}
	freeifaddrs(ifa);
	if (!ifname[0]) {
		result("probe error: no interface on the subnet of the sink");
		exit(EXIT_SYSCALL);
	}
	int ifindex = (int)if_nametoindex(ifname);

	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		result("socket(AF_PACKET, SOCK_RAW, ETH_P_ALL) %s", errno_name(errno));
		return;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0)
		die("SIOCGIFHWADDR", errno);

	uint8_t frame[512];
	memset(frame, 0, sizeof frame);
	struct ethhdr *eth = (struct ethhdr *)frame;
	memcpy(eth->h_dest, dmac, 6);
	memcpy(eth->h_source, ifr.ifr_hwaddr.sa_data, 6);
	eth->h_proto = htons(ETH_P_IP);
	struct iphdr *ip = (struct iphdr *)(frame + sizeof *eth);
	size_t ulen = udp_packet(frame + sizeof *eth + sizeof *ip, 40001, ntohs(dst->sin_port));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons((uint16_t)(sizeof *ip + ulen));
	ip->id = htons(4242);
	ip->saddr = src.s_addr;
	ip->daddr = dst->sin_addr.s_addr;
	ip->check = htons(csum(ip, sizeof *ip, 0));

	struct sockaddr_ll ll;
	memset(&ll, 0, sizeof ll);
	ll.sll_family = AF_PACKET;
	ll.sll_ifindex = ifindex;
	ll.sll_halen = 6;
	memcpy(ll.sll_addr, dmac, 6);
	size_t flen = sizeof *eth + sizeof *ip + ulen;
	ssize_t n = sendto(fd, frame, flen, 0, (struct sockaddr *)&ll, sizeof ll);
	if (n < 0)
		result("socket 0, send on %s %s", ifname, errno_name(errno));
	else
		result("socket 0, sent a %zd-byte frame on %s", n, ifname);
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5)
		usage();
	g_mode = argv[1];
	const char *arg = argc == 5 ? argv[4] : NULL;
	g_payload_len = (size_t)snprintf(g_payload, sizeof g_payload, "leak-probe %s\n", g_mode);
	/* Nothing here may hang: a hard bound on the whole probe. */
	alarm(20);

	int mapped = strcmp(g_mode, "v4mapped_connect") == 0;
	parse_dst(argv[2], argv[3], mapped);

	if (strncmp(g_mode, "udp_", 4) == 0 &&
	    (!strcmp(g_mode, "udp_sendto") || !strcmp(g_mode, "udp_connect_send") ||
	     !strcmp(g_mode, "udp_sendmsg") || !strcmp(g_mode, "udp_sendmmsg"))) {
		udp();
	} else if (!strcmp(g_mode, "tfo_sendto") || !strcmp(g_mode, "tfo_sendmsg") ||
		   !strcmp(g_mode, "tfo_connect")) {
		tfo();
	} else if (!strcmp(g_mode, "tcp_connect") || mapped) {
		connect_and_report(tcp_socket(family()), "connect");
	} else if (!strcmp(g_mode, "io_uring_connect")) {
		uring();
	} else if (!strcmp(g_mode, "int80_connect") || !strcmp(g_mode, "int80_socketcall")) {
		int80_probe();
	} else if (!strcmp(g_mode, "vfork_connect")) {
		vfork_probe();
	} else if (!strcmp(g_mode, "cross_thread_connect")) {
		cross_thread();
	} else if (!strcmp(g_mode, "sleep_connect")) {
		long ms = arg ? strtol(arg, NULL, 10) : 1000;
		if (ms < 0 || ms > 10000)
			usage();
		printf("pid: %d\n", (int)getpid());
		fflush(stdout);
		struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		connect_and_report(tcp_socket(family()), "connect after the sleep");
	} else if (!strcmp(g_mode, "whoami_connect")) {
		printf("euid: %d\nruid: %d\n", (int)geteuid(), (int)getuid());
		fflush(stdout);
		connect_and_report(tcp_socket(family()), "connect");
	} else if (!strcmp(g_mode, "raw_socket")) {
		raw_probe();
	} else if (!strcmp(g_mode, "packet_socket")) {
		packet_probe(arg);
	} else {
		usage();
	}
	return 0;
}
