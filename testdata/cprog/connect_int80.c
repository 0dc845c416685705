/*
 * connect_int80: a 64-bit program that connects through the i386 syscall ABI
 * with "int $0x80", the classic way around a seccomp filter that only looks
 * at the native x86-64 ABI.
 *
 * Checks that connects made through the 32-bit ABI from a 64-bit process are
 * trapped and proxied like native ones (and are not killed with SIGSYS):
 *   MODE "connect":    int 0x80, eax = 362 (i386 connect), ebx = fd,
 *                      ecx = &sockaddr, edx = addrlen
 *   MODE "socketcall": int 0x80, eax = 102 (i386 socketcall),
 *                      ebx = 3 (SYS_CONNECT), ecx = &{fd, &sockaddr, addrlen}
 *                      (three u32)
 *   MODE "x32":        syscall instruction, rax = 0x40000000 | 42 (x32
 *                      connect), which a 64-bit process may also issue
 * The socket itself is made with the native socket(2); after the connect,
 * the HTTP exchange uses native calls. Built -static -no-pie so that every
 * pointer passed through int 0x80 (static globals, never the stack) is below
 * 4 GiB.
 *
 * usage: connect_int80 connect|socketcall|x32 HOST PORT [PATH]   (HOST: IPv4)
 * Output (stdout):
 *   connect: 0                     (or "connect: ECONNREFUSED" etc., exit 3)
 *   <the raw HTTP reply, newline-terminated>
 */
#include "common.h"
#include <stdint.h>

#if !defined(__x86_64__)
#error connect_int80 is an x86-64 program
#endif

static struct sockaddr_in g_addr;
static uint32_t g_args[3];

static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "cc", "r8", "r9", "r10", "r11");
	return ret;
}

/* x32_connect issues connect through the x32 ABI with the syscall
 * instruction; the kernel answers ENOSYS when it was built without x32. */
static long x32_connect(long fd, const void *addr, long len)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(0x40000000L | 42), "D"(fd), "S"(addr), "d"(len)
			 : "memory", "cc", "rcx", "r11");
	return ret;
}

int main(int argc, char **argv)
{
	const char *path = "/index.html";
	char req[4096];
	int reqlen, fd;
	long rc;

	if (argc < 4 || argc > 5 ||
	    (strcmp(argv[1], "connect") != 0 && strcmp(argv[1], "socketcall") != 0 &&
	     strcmp(argv[1], "x32") != 0)) {
		fprintf(stderr, "usage: %s connect|socketcall|x32 HOST PORT [PATH]\n", argv[0]);
		return EXIT_USAGE;
	}
	if (argc == 5)
		path = argv[4];
	/* inet_pton, not getaddrinfo: this program is static. */
	g_addr.sin_family = AF_INET;
	g_addr.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &g_addr.sin_addr) != 1) {
		fprintf(stderr, "connect_int80: HOST must be an IPv4 literal\n");
		return EXIT_USAGE;
	}
	reqlen = build_get(req, sizeof req, path);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die_errno("socket", errno, EXIT_SYSCALL);

	if (strcmp(argv[1], "connect") == 0) {
		rc = int80(362, fd, (long)(uintptr_t)&g_addr, sizeof g_addr);
	} else if (strcmp(argv[1], "x32") == 0) {
		rc = x32_connect(fd, &g_addr, sizeof g_addr);
	} else {
		g_args[0] = (uint32_t)fd;
		g_args[1] = (uint32_t)(uintptr_t)&g_addr;
		g_args[2] = sizeof g_addr;
		rc = int80(102, 3, (long)(uintptr_t)g_args, 0);
	}
	/* The i386 ABI returns a 32-bit value in eax: sign-extend it. */
	rc = (int32_t)rc;
	if (rc < 0)
		die_errno("connect", (int)-rc, EXIT_CONNECT);
	printf("connect: 0\n");
	fflush(stdout);
	exchange(fd, req, (size_t)reqlen);
	close(fd);
	return 0;
}
