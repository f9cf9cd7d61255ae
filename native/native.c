/* The cffi module seccompiler._native: install a filter, make raw system calls on each entry
 * path this machine has (x86_64: syscall, int 0x80, x32 numbers; aarch64: svc), and receive
 * and answer seccomp user notifications (linux/seccomp.h, seccomp_unotify(2)). Every
 * function returns a value >= 0 or -errno; none prints. An entry this build lacks answers
 * -ENOSYS, and sc_entries says which exist (the SC_ENTRY_* bits). Beside them, the BPF
 * planner's programme (plan.h), where compile spends its time. */
#include <string.h>
#include <sys/ioctl.h>

#include "sc_raw.h"
#include "native.h"
#include "plan.h"

long sc_install_filter(const unsigned char *prog, size_t len, unsigned long flags)
{
    return sc_install(prog, len, flags);
}

long sc_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    return sc_raw6(nr, a0, a1, a2, a3, a4, a5);
}

long sc_syscall_i386(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
#if SC_HAVE_INT80
    return sc_int80(nr, a0, a1, a2, a3, a4, a5);
#else
    (void)nr, (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    return -ENOSYS;
#endif
}

long sc_syscall_x32(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
#if SC_HAVE_X32
    return sc_raw6(nr | SC_X32_BIT, a0, a1, a2, a3, a4, a5);
#else
    (void)nr, (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    return -ENOSYS;
#endif
}

long sc_entries(void)
{
    return SC_ENTRY_NATIVE | (SC_HAVE_INT80 ? SC_ENTRY_INT80 : 0) |
           (SC_HAVE_X32 ? SC_ENTRY_X32 : 0);
}
