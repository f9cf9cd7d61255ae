/* The cffi module seccompiler._native: install a filter, make raw system calls on each entry
 * path this machine has (x86_64: syscall, int 0x80, x32 numbers; aarch64: svc), and receive
 * and answer seccomp user notifications (linux/seccomp.h, seccomp_unotify(2)). Every
 * function returns a value >= 0 or -errno; none prints. An entry this build lacks answers
 * -ENOSYS, and sc_entries says which exist (the SC_ENTRY_* bits). */
#include <string.h>
#include <sys/ioctl.h>

#include "sc_raw.h"
#include "native.h"

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

/* The kernel may know a larger struct seccomp_notif than our headers: receive into a
 * buffer of the size it asks for (SECCOMP_GET_NOTIF_SIZES) and copy the part we know. */
long sc_notif_recv(int fd, struct sc_notif *out)
{
    struct seccomp_notif_sizes sizes;
    unsigned char buf[1024];
    struct seccomp_notif n;
    long rc = sc_raw6(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, (long)&sizes, 0, 0, 0);
    if (rc < 0)
        return rc;
    if (sizes.seccomp_notif > sizeof(buf) || sizes.seccomp_notif < sizeof(n))
        return -EOVERFLOW;
    memset(buf, 0, sizeof(buf));
    rc = sc_raw6(SYS_ioctl, fd, (long)SECCOMP_IOCTL_NOTIF_RECV, (long)buf, 0, 0, 0);
    if (rc < 0)
        return rc;
    memcpy(&n, buf, sizeof(n));
    out->id = n.id;
    out->pid = n.pid;
    out->flags = n.flags;
    out->nr = n.data.nr;
    out->arch = n.data.arch;
    out->ip = n.data.instruction_pointer;
    memcpy(out->args, n.data.args, sizeof(out->args));
    return 0;
}

long sc_notif_send(int fd, uint64_t id, int64_t val, int32_t error, uint32_t flags)
{
    struct seccomp_notif_resp r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.val = val;
    r.error = error;
    r.flags = flags;
    return sc_raw6(SYS_ioctl, fd, (long)SECCOMP_IOCTL_NOTIF_SEND, (long)&r, 0, 0, 0);
}

long sc_notif_id_valid(int fd, uint64_t id)
{
    return sc_raw6(SYS_ioctl, fd, (long)SECCOMP_IOCTL_NOTIF_ID_VALID, (long)&id, 0, 0, 0);
}
