/*
 * exec_thread: execv() from a thread that is not the thread-group leader.
 *
 * Checks that the tracer follows an exec made by a non-leader thread: the
 * kernel kills the other threads and the exec'ing thread takes over the
 * leader's tid (PTRACE_EVENT_EXEC reports the old tid in GETEVENTMSG). The
 * new program must still run, and still be traced.
 *
 * usage: exec_thread PROG [ARGS...]   (PROG is a path: execv, no PATH search)
 * Output: whatever PROG prints. If execv fails: "execv: ERRNO_NAME", exit 4.
 * If the exec has not happened after 10 s: "exec_thread: timeout", exit 5.
 */
#include "common.h"
#include <pthread.h>

static char **g_argv;

static void *run(void *arg)
{
	(void)arg;
	execv(g_argv[0], g_argv);
	die_errno("execv", errno, EXIT_SYSCALL);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;
	int rc, i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PROG [ARGS...]\n", argv[0]);
		return EXIT_USAGE;
	}
	g_argv = argv + 1;
	rc = pthread_create(&th, NULL, run, NULL);
	if (rc != 0)
		die_errno("pthread_create", rc, EXIT_SYSCALL);
	/* The leader just sleeps; the exec kills it. Bounded to 10 s. */
	for (i = 0; i < 100; i++)
		usleep(100000);
	printf("exec_thread: timeout\n");
	fflush(stdout);
	return EXIT_TIMEOUT;
}
