/*
 * The small system calls a libc start-up or a program asks for, each checked against what Linux
 * answers: ids, uname, getcwd, access, readlink, ioctl(TIOCGWINSZ) on a non-terminal, signal
 * calls accepted, sched_yield, the stack rlimit (prlimit64 and getrlimit), set_tid_address,
 * set_robust_list, arch_prctl(ARCH_SET_FS), and -ENOSYS for calls Linux does not have.
 * Needs the file data.txt in the working directory; run with an 8 MiB stack limit.
 */
#define ARCH_SET_FS 0x1002 /* asm/prctl.h, which musl-gcc cannot see */
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include "check.h"

static __thread int thread_local_value = 1234;

struct robust_list_head_abi { void *next; long futex_offset; void *pending; };

static int nul_terminated(const char *field, size_t size)
{
	return memchr(field, 0, size) != NULL;
}

int main(void)
{
	long pid = syscall(SYS_getpid);
	check(pid > 0, "getpid is positive");
	check(syscall(SYS_gettid) == pid, "gettid equals getpid in a single-threaded process");
	check(syscall(SYS_getppid) >= 0, "getppid answers");
	check(syscall(SYS_getuid) == syscall(SYS_geteuid), "getuid equals geteuid");
	check(syscall(SYS_getgid) == syscall(SYS_getegid), "getgid equals getegid");

	struct utsname names;
	int uname_ok = syscall(SYS_uname, &names) == 0;
	check(uname_ok && names.sysname[0] && names.machine[0] &&
	      nul_terminated(names.sysname, sizeof names.sysname) &&
	      nul_terminated(names.release, sizeof names.release) &&
	      nul_terminated(names.version, sizeof names.version) &&
	      nul_terminated(names.machine, sizeof names.machine),
	      "uname fills NUL-terminated fields");
	check(uname_ok && strcmp(names.machine, "x86_64") == 0, "uname machine is x86_64");

	char cwd[4096];
	long cwd_length = syscall(SYS_getcwd, cwd, sizeof cwd);
	check(cwd_length > 0 && cwd[0] == '/' && (size_t)cwd_length == strlen(cwd) + 1,
	      "getcwd returns an absolute path and its length with the NUL");
	check(raw_result(syscall(SYS_getcwd, cwd, 1)) == -ERANGE, "getcwd into 1 byte is -ERANGE");

	check(syscall(SYS_access, "data.txt", R_OK) == 0, "access of an existing file");
	check(raw_result(syscall(SYS_access, "no-such-file", R_OK)) == -ENOENT,
	      "access of a missing file is -ENOENT");
	char link[64];
	check(raw_result(syscall(SYS_readlink, "no-such-link", link, sizeof link)) == -ENOENT,
	      "readlink of a missing path is -ENOENT");

	struct winsize size;
	check(raw_result(syscall(SYS_ioctl, 1, TIOCGWINSZ, &size)) == -ENOTTY,
	      "ioctl TIOCGWINSZ on stdout (not a terminal) is -ENOTTY");

	struct sigaction ignore = { .sa_handler = SIG_IGN };
	check(sigaction(SIGUSR1, &ignore, NULL) == 0, "rt_sigaction is accepted");
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	check(sigprocmask(SIG_BLOCK, &block, NULL) == 0, "rt_sigprocmask is accepted");
	check(syscall(SYS_sched_yield) == 0, "sched_yield");

	struct rlimit stack;
	check(syscall(SYS_prlimit64, 0, RLIMIT_STACK, NULL, &stack) == 0 &&
	      stack.rlim_cur == 8ul << 20, "prlimit64: the stack limit is 8 MiB");
	check(syscall(SYS_getrlimit, RLIMIT_STACK, &stack) == 0 && stack.rlim_cur == 8ul << 20,
	      "getrlimit: the stack limit is 8 MiB");

	int clear_on_exit;
	check(syscall(SYS_set_tid_address, &clear_on_exit) == pid, "set_tid_address returns the tid");
	struct robust_list_head_abi head = { .next = &head };
	check(syscall(SYS_set_robust_list, &head, sizeof head) == 0, "set_robust_list is accepted");

	unsigned long fs_base;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(fs_base)); /* both libcs keep TCB self-pointer */
	check(syscall(SYS_arch_prctl, ARCH_SET_FS, fs_base) == 0, "arch_prctl ARCH_SET_FS");
	thread_local_value++;
	check(thread_local_value == 1235, "thread-local storage still works after ARCH_SET_FS");

	/* 400 lies in the range x86-64 leaves unassigned (335-423); 1000 is past every table */
	check(raw_result(syscall(400)) == -ENOSYS, "syscall 400 (no such call) is -ENOSYS");
	check(raw_result(syscall(1000)) == -ENOSYS, "syscall 1000 (no such call) is -ENOSYS");
	return finish();
}
