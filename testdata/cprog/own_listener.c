/*
 * own_listener: a program that supervises itself with seccomp user
 * notification, as container runtimes and sandboxes do: one thread loads a
 * filter that sends getppid(2) to a listener, another thread answers every
 * call with 4242.
 *
 * Under chainrun's own listener the kernel refuses a second one on the
 * thread (EBUSY); with CHAINRUN_PTRACE_ONLY=1 (no chainrun listener) it
 * works.
 *
 * usage: own_listener
 * Output: "seccomp: ERRNO_NAME" (exit 4), or "getppid: 4242" (exit 0).
 */
#include "common.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int listener = -1;

static void *answer(void *arg)
{
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	(void)arg;
	memset(&req, 0, sizeof req);
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
		return NULL;
	memset(&resp, 0, sizeof resp);
	resp.id = req.id;
	resp.val = 4242;
	ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	return NULL;
}

int main(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
	pthread_t t;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die_errno("prctl", errno, EXIT_SYSCALL);
	listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (listener < 0)
		die_errno("seccomp", errno, EXIT_SYSCALL);
	/* Threads made after the filter inherit it: the answering thread must
	 * not call getppid. */
	if (pthread_create(&t, NULL, answer, NULL) != 0)
		die_errno("pthread_create", errno, EXIT_SYSCALL);
	printf("getppid: %ld\n", (long)syscall(SYS_getppid));
	pthread_join(t, NULL);
	return 0;
}
