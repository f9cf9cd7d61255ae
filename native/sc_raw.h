/* Raw system calls and filter installation, for each machine the native parts build on.
 *
 * Shared by the cffi module and the standalone probe and launcher. Everything here is
 * static inline so that each user carries its own copy and no libc wrapper (which may
 * check or rewrite arguments, or call other syscalls) stands between the caller and the
 * kernel. Facts: x86_64 syscall ABI (rax=nr; rdi rsi rdx r10 r8 r9; rcx/r11 clobbered),
 * i386 int 0x80 ABI (eax=nr; ebx ecx edx esi edi ebp; only the low 32 bits are seen), the
 * x32 bit is __X32_SYSCALL_BIT in arch/x86/include/uapi/asm/unistd.h; aarch64 (svc #0,
 * x8=nr, x0-x5 arguments, result in x0, every other register preserved); 32-bit arm EABI
 * (svc #0, r7=nr, r0-r5 arguments, result in r0; r7 is Thumb's frame pointer, so the arm
 * build is compiled in ARM state, see native/build.py). seccomp() and struct sock_fprog
 * are from linux/seccomp.h and linux/filter.h.
 *
 * SC_NATIVE_ABI names the ABI sc_raw6 enters (our name, seccompiler/arch/abi.py);
 * SC_HAVE_INT80 and SC_HAVE_X32 say whether the x86-only entries exist in this build.
 */
#ifndef SC_RAW_H
#define SC_RAW_H

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* The entries a build can have (runner/native.py reads them through sc_entries). */
#define SC_ENTRY_NATIVE 1
#define SC_ENTRY_INT80 2
#define SC_ENTRY_X32 4

/* SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (linux/seccomp.h, Linux 5.19), for older headers. */
#define SC_FLAG_WAIT_KILLABLE_RECV (1UL << 5)

#if defined(__x86_64__)

#define SC_NATIVE_ABI "x86_64"
#define SC_HAVE_INT80 1
#define SC_HAVE_X32 1
#define SC_X32_BIT 0x40000000L

static inline long sc_raw6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    long ret;
    register long r10 __asm__("r10") = a3;
    register long r8 __asm__("r8") = a4;
    register long r9 __asm__("r9") = a5;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* i386 entry from a 64-bit process: the kernel reports AUDIT_ARCH_I386 to seccomp.
 * ebp is the sixth argument; it is saved and restored around the trap by hand because
 * the compiler may use it as the frame pointer. Older kernels zero r8-r11 on this path. */
static inline long sc_int80(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    long ret;
    register long six __asm__("r12") = a5;
    __asm__ volatile("push %%rbp\n\t"
                     "mov %[six], %%rbp\n\t"
                     "int $0x80\n\t"
                     "pop %%rbp"
                     : "=a"(ret)
                     : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3), "D"(a4), [six] "r"(six)
                     : "memory", "cc", "r8", "r9", "r10", "r11");
    /* int 0x80 returns a 32-bit value in eax: widen it as a signed int. */
    return (long)(int)ret;
}

#elif defined(__aarch64__)

#define SC_NATIVE_ABI "aarch64"
#define SC_HAVE_INT80 0
#define SC_HAVE_X32 0

static inline long sc_raw6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a0;
    register long x1 __asm__("x1") = a1;
    register long x2 __asm__("x2") = a2;
    register long x3 __asm__("x3") = a3;
    register long x4 __asm__("x4") = a4;
    register long x5 __asm__("x5") = a5;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory", "cc");
    return x0;
}

#elif defined(__arm__)

#if defined(__thumb__)
#error "build the 32-bit arm parts in ARM state (-marm): Thumb keeps its frame pointer in r7"
#endif
#define SC_NATIVE_ABI "arm"
#define SC_HAVE_INT80 0
#define SC_HAVE_X32 0

/* Registers are 32 bits wide: the kernel sees the low word of each argument. */
static inline long sc_raw6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    register long r7 __asm__("r7") = nr;
    register long r0 __asm__("r0") = a0;
    register long r1 __asm__("r1") = a1;
    register long r2 __asm__("r2") = a2;
    register long r3 __asm__("r3") = a3;
    register long r4 __asm__("r4") = a4;
    register long r5 __asm__("r5") = a5;
    __asm__ volatile("svc #0"
                     : "+r"(r0)
                     : "r"(r7), "r"(r1), "r"(r2), "r"(r3), "r"(r4), "r"(r5)
                     : "memory", "cc");
    return r0;
}

#else
#error "seccompiler's native parts build for x86_64, aarch64 and 32-bit arm only"
#endif

static inline long sc_raw0(long nr) { return sc_raw6(nr, 0, 0, 0, 0, 0, 0); }

/* Set no_new_privs and install a filter on the calling thread; flags are
 * SECCOMP_FILTER_FLAG_*. Returns the listener fd for FLAG_NEW_LISTENER, else 0, or -errno. */
static inline long sc_install(const void *prog, size_t len, unsigned long flags)
{
    struct sock_fprog fprog;
    long rc;
    if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
        len / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -EINVAL;
    fprog.len = (unsigned short)(len / sizeof(struct sock_filter));
    fprog.filter = (struct sock_filter *)prog;
    rc = sc_raw6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    if (rc < 0)
        return rc;
    return sc_raw6(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (long)flags, (long)&fprog, 0, 0, 0);
}

#endif
