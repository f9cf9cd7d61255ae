/* Answering seccomp user notifications in the launcher, as the policy's own filter would.
 *
 * Under `run --audit` the workload's filter turns every refusal into SECCOMP_RET_USER_NOTIF;
 * the launcher receives each notification, runs the policy's real filter on the same
 * struct seccomp_data (classic BPF as the kernel runs it for seccomp), answers with that
 * result and reports the call on its status pipe. Facts used: struct seccomp_data and the
 * SECCOMP_RET_* values (linux/seccomp.h), the cBPF opcodes (linux/filter.h), the user
 * notification ioctls (seccomp_unotify(2)). Static functions only: launch.c includes this.
 */
#ifndef SC_ANSWER_H
#define SC_ANSWER_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <unistd.h>

#include "record.h"
#include "sc_raw.h"

#define SC_RET_DATA 0x0000ffffU
#define SC_MAX_ERRNO 4095U

/* The value the filter returns for `d`. The compiler's filters pass the kernel's load-time
 * checks; anything those would refuse (an unknown opcode, a load outside seccomp_data or
 * scratch memory, a jump past the end) answers kill-process here, never allow. */
static uint32_t sc_bpf_run(const struct sock_filter *f, size_t n, const struct seccomp_data *d)
{
    uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0}, words[sizeof(*d) / 4];
    size_t pc = 0;

    memcpy(words, d, sizeof(words));
    while (pc < n) {
        const struct sock_filter *i = &f[pc++];
        uint32_t k = i->k, v = BPF_SRC(i->code) == BPF_X ? x : k;
        switch (i->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (k % 4 || k >= sizeof(*d))
                return SECCOMP_RET_KILL_PROCESS;
            a = words[k / 4];
            break;
        case BPF_LD | BPF_W | BPF_LEN:
            a = sizeof(*d);
            break;
        case BPF_LDX | BPF_W | BPF_LEN:
            x = sizeof(*d);
            break;
        case BPF_LD | BPF_IMM:
            a = k;
            break;
        case BPF_LDX | BPF_IMM:
            x = k;
            break;
        case BPF_LD | BPF_MEM:
        case BPF_LDX | BPF_MEM:
        case BPF_ST:
        case BPF_STX:
            if (k >= BPF_MEMWORDS)
                return SECCOMP_RET_KILL_PROCESS;
            if (i->code == (BPF_LD | BPF_MEM))
                a = mem[k];
            else if (i->code == (BPF_LDX | BPF_MEM))
                x = mem[k];
            else
                mem[k] = i->code == BPF_ST ? a : x;
            break;
        case BPF_MISC | BPF_TAX:
            x = a;
            break;
        case BPF_MISC | BPF_TXA:
            a = x;
            break;
        case BPF_RET | BPF_K:
            return k;
        case BPF_RET | BPF_A:
            return a;
        case BPF_JMP | BPF_JA:
            if (k >= n - pc)
                return SECCOMP_RET_KILL_PROCESS;
            pc += k;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
        case BPF_JMP | BPF_JEQ | BPF_X:
            pc += a == v ? i->jt : i->jf;
            break;
        case BPF_JMP | BPF_JGT | BPF_K:
        case BPF_JMP | BPF_JGT | BPF_X:
            pc += a > v ? i->jt : i->jf;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
        case BPF_JMP | BPF_JGE | BPF_X:
            pc += a >= v ? i->jt : i->jf;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
        case BPF_JMP | BPF_JSET | BPF_X:
            pc += (a & v) ? i->jt : i->jf;
            break;
        case BPF_ALU | BPF_NEG:
            a = -a;
            break;
        default:
            if (BPF_CLASS(i->code) != BPF_ALU)
                return SECCOMP_RET_KILL_PROCESS;
            switch (BPF_OP(i->code)) {
            case BPF_ADD: a += v; break;
            case BPF_SUB: a -= v; break;
            case BPF_MUL: a *= v; break;
            case BPF_DIV: if (!v) return 0; a /= v; break;
            case BPF_MOD: if (!v) return 0; a %= v; break;
            case BPF_OR: a |= v; break;
            case BPF_AND: a &= v; break;
            case BPF_XOR: a ^= v; break;
            case BPF_LSH: a <<= (v & 31); break;
            case BPF_RSH: a >>= (v & 31); break;
            default: return SECCOMP_RET_KILL_PROCESS;
            }
        }
    }
    return SECCOMP_RET_KILL_PROCESS;
}

/* How the supervisor answers a filter result, as the Python supervisor does
 * (seccompiler/runner/notify.py): the action, its errno, and whether the call runs. */
enum sc_answer { SC_CONTINUE, SC_ERRNO, SC_KILL, SC_TRAP, SC_ENOSYS };

static enum sc_answer sc_answer_of(uint32_t ret, int *err)
{
    uint32_t data = ret & SC_RET_DATA;
    *err = 0;
    switch (ret & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW:
    case SECCOMP_RET_LOG:
        return SC_CONTINUE;
    case SECCOMP_RET_ERRNO:
        *err = (int)(data > SC_MAX_ERRNO ? SC_MAX_ERRNO : data); /* the kernel clamps */
        return SC_ERRNO;
    case SECCOMP_RET_TRAP:
        return SC_TRAP;
    case SECCOMP_RET_USER_NOTIF:
    case SECCOMP_RET_TRACE: /* nobody else to answer: the kernel would say ENOSYS */
        return SC_ENOSYS;
    default: /* kill-process, kill-thread, and unknown values (the kernel kills) */
        return SC_KILL;
    }
}

static void report_call(int out, const struct seccomp_notif *n, uint32_t ret, const char *exe,
                        ssize_t el, int *fault)
{
    char buf[512 + 2 * 4096];
    int len = snprintf(buf, 512, "refused %u %u %u", n->pid, n->data.arch, (unsigned)n->data.nr);
    for (int i = 0; i < 6; i++)
        len += snprintf(buf + len, 512 - (size_t)len, " %llu", (unsigned long long)n->data.args[i]);
    len += snprintf(buf + len, 512 - (size_t)len, " %u ", ret);
    for (ssize_t i = 0; i < el; i++)
        len += snprintf(buf + len, 3, "%02x", (unsigned char)exe[i]);
    buf[len++] = '\n';
    if (out >= 0 && write(out, buf, (size_t)len) < 0)
        *fault = errno;
}

static long tgid_of(pid_t pid)
{
    char path[64], buf[1024];
    ssize_t n;
    char *p;
    int fd;
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pid;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return pid;
    buf[n] = 0;
    p = strstr(buf, "\nTgid:");
    return p ? strtol(p + 6, NULL, 10) : pid;
}

/* Receive one notification from listener `fd` and answer it as filter `f` says; report
 * refused calls and kills on `out` (past the first SC_DETAILED refusals, counted in `refs`
 * instead); with `rec`, count every call (native/record.h). An error that leaves a task
 * unanswered is stored in *fault. */
static void answer_one(int fd, size_t notif_size, const struct sock_filter *f, size_t n,
                       int out, int *fault, struct sc_rec *rec, struct sc_refusals *refs)
{
    union {
        struct seccomp_notif n;
        unsigned char buf[1024];
    } u;
    struct seccomp_notif_resp resp;
    char exe[4096], path[64], line[64];
    ssize_t el;
    uint32_t ret;
    enum sc_answer how;
    int err, len;
    long tgid;

    memset(&u, 0, notif_size);
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &u) < 0) {
        if (errno != ENOENT && errno != EINTR) /* ENOENT: the task died meanwhile */
            *fault = errno;
        return;
    }
    ret = sc_bpf_run(f, n, &u.n.data);
    how = sc_answer_of(ret, &err);
    if (rec)
        sc_rec_count(rec, &u.n.data, u.n.pid);
    if (rec && how == SC_CONTINUE)
        goto send; /* nothing to report: no executable to look up */
    snprintf(path, sizeof(path), "/proc/%u/exe", u.n.pid);
    el = readlink(path, exe, sizeof(exe));
    if (el < 0 || el == sizeof(exe))
        exe[0] = '?', el = 1;
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &u.n.id) < 0)
        return; /* the pid may already be someone else's */
    if (how != SC_CONTINUE && sc_ref_detailed(refs, &u.n.data, ret, u.n.pid, exe, (size_t)el))
        report_call(out, &u.n, ret, exe, el, fault);
send:
    memset(&resp, 0, sizeof(resp));
    resp.id = u.n.id;
    switch (how) {
    case SC_CONTINUE:
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        break;
    case SC_ERRNO:
        resp.error = -err;
        break;
    case SC_KILL:
        tgid = tgid_of((pid_t)u.n.pid);
        len = snprintf(line, sizeof(line), "killed %ld\n", tgid);
        if (out >= 0 && write(out, line, (size_t)len) < 0)
            *fault = errno;
        kill((pid_t)tgid, SIGKILL);
        return;
    case SC_TRAP:
        sc_raw6(SYS_tgkill, tgid_of((pid_t)u.n.pid), u.n.pid, SIGSYS, 0, 0, 0);
        resp.val = u.n.data.nr;
        break;
    case SC_ENOSYS:
        resp.error = -ENOSYS;
        break;
    }
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
        *fault = errno;
}

#endif
