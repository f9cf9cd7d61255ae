/* seccompiler-probe: make system calls under a seccomp filter and report what the kernel did.
 *
 *   seccompiler-probe [--filter FILE] [--no-sandbox] [--timeout-ms N] [CALL...]
 *
 * Each CALL (argument, or line on stdin when none is given) is
 *   ABI NR [KIND [A0 [A1 ... A5]]]
 * ABI is the build's own: on x86_64, x86_64, x32 (NR includes the x32 bit) or x86 (entered
 * through int 0x80); on aarch64, aarch64; built for 32-bit arm, arm (a separate executable,
 * seccompiler-probe-arm, since a 64-bit process cannot enter AArch32). KIND is
 * plain, fork (a return of 0 is the new process: it ends at once) or sigreturn (made on a
 * zeroed stack, so a sigreturn the filter lets through ends the process with SIGSEGV);
 * arguments are integers (0x.. allowed) or Z, the address of a zeroed page.
 *
 * Every call runs in a child of its own: the child closes every descriptor, arms a timer
 * that ends it with SIGALRM if the call blocks, installs the filter (when --filter is given;
 * otherwise the filter already in force, e.g. a container runtime's, applies), makes the
 * call and stores the result in memory shared with this process. No system call stands
 * between the call and the store, so a filter that refuses write or exit cannot hide a
 * result. One JSON line per call is printed on stdout:
 *   {"abi":..,"nr":..,"args":[..],"outcome":..,"ret":..,"errno":..,"signal":..,
 *    "status":..,"trap":{"errno":..,"syscall":..,"arch":..}|null}
 * outcome: returned | trapped (SIGSYS from SECCOMP_RET_TRAP, caught) | signaled (died by
 * "signal" without returning) | blocked (seen asleep in the call, never scheduled, for
 * SETTLE_MS, or still in it when the timer fired; ended by SIGALRM either way) | exited
 * (ended the process with "status") | error (the child could not be set up).
 *
 * Unless --no-sandbox, the probe first makes itself harmless: no core dumps, the nobody
 * user (when started as root), new user, mount, UTS, IPC, network and PID namespaces where
 * the kernel allows them, every capability dropped from all sets, and no_new_privs. Each
 * call child also starts a session of its own and holds no descriptor.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sc_raw.h"

#define MAX_CALLS 65536
#define MAX_FILTER (BPF_MAXINSNS * 8)

enum kind { K_PLAIN, K_FORK, K_SIGRETURN };
#if defined(__x86_64__)
enum abi { A_X86_64, A_X32, A_X86 };
static const char *const abi_names[] = {"x86_64", "x32", "x86"};
#else
enum abi { A_NATIVE };
static const char *const abi_names[] = {SC_NATIVE_ABI};
#endif
#define N_ABIS (sizeof(abi_names) / sizeof(abi_names[0]))

struct call {
    enum abi abi;
    long nr;
    enum kind kind;
    unsigned long args[6];
};

enum state { S_NONE, S_RETURNED, S_TRAPPED, S_SETUP, S_CALLING };

struct shared {
    volatile int state;
    long host_pid; /* the child's pid as /proc names it (0: unknown) */
    long ret;
    int trap_errno;
    int trap_syscall;
    unsigned trap_arch;
    int setup_errno;
};

static struct shared *shm;
static unsigned char zpage[4096] __attribute__((aligned(4096)));
static unsigned char zstack[65536] __attribute__((aligned(16)));

static void die(const char *what)
{
    fprintf(stderr, "seccompiler-probe: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int parse_call(char *text, struct call *c)
{
    char *save = NULL;
    char *tok = strtok_r(text, " \t\r\n", &save);
    int i;
    memset(c, 0, sizeof(*c));
    if (!tok)
        return 0;
    for (i = 0; i < (int)N_ABIS && strcmp(tok, abi_names[i]); i++)
        ;
    if (i == (int)N_ABIS)
        return -1;
    c->abi = (enum abi)i;
    tok = strtok_r(NULL, " \t\r\n", &save);
    if (!tok)
        return -1;
    c->nr = strtol(tok, NULL, 0);
    tok = strtok_r(NULL, " \t\r\n", &save);
    if (tok) {
        if (!strcmp(tok, "plain"))
            c->kind = K_PLAIN;
        else if (!strcmp(tok, "fork"))
            c->kind = K_FORK;
        else if (!strcmp(tok, "sigreturn"))
            c->kind = K_SIGRETURN;
        else
            return -1;
    }
    for (i = 0; i < 6 && (tok = strtok_r(NULL, " \t\r\n", &save)); i++)
        c->args[i] = !strcmp(tok, "Z") ? (unsigned long)zpage
                                       : (unsigned long)strtoull(tok, NULL, 0); /* low word */
    return 1;
}

/* fork, vfork, clone: the new process must not run on (vfork: share) our stack, so it
 * meets an undefined instruction (ud2, udf) the instant the call returns 0 in it and dies
 * of SIGILL without a syscall. */
#if defined(__x86_64__)
static long call_fork(const struct call *c)
{
    long ret;
    const unsigned long *a = c->args;
    if (c->abi == A_X86) {
        __asm__ volatile("push %%rbp\n\t"
                         "int $0x80\n\t"
                         "test %%eax, %%eax\n\t"
                         "jnz 1f\n\t"
                         "ud2\n"
                         "1:\n\t"
                         "pop %%rbp"
                         : "=a"(ret)
                         : "a"(c->nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4])
                         : "memory", "cc", "r8", "r9", "r10", "r11");
        return (long)(int)ret;
    }
    register long r10 __asm__("r10") = (long)a[3];
    register long r8 __asm__("r8") = (long)a[4];
    register long r9 __asm__("r9") = (long)a[5];
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "ud2\n"
                     "1:"
                     : "=a"(ret)
                     : "a"(c->nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory", "cc");
    return ret;
}

/* sigreturn reads a signal frame at the stack pointer: point it at zeroes, so that a
 * sigreturn the filter lets through loads pc=0 (or finds the frame bad) and the process
 * dies of SIGSEGV. */
static long call_sigreturn(const struct call *c)
{
    long ret;
    unsigned char *top = zstack + sizeof(zstack) / 2;
    if (c->abi == A_X86) {
        __asm__ volatile("mov %%rsp, %%r12\n\t"
                         "mov %[top], %%rsp\n\t"
                         "int $0x80\n\t"
                         "mov %%r12, %%rsp"
                         : "=a"(ret)
                         : "a"(c->nr), [top] "r"(top), "b"(0L), "c"(0L), "d"(0L)
                         : "r8", "r9", "r10", "r11", "r12", "memory", "cc");
        return (long)(int)ret;
    }
    __asm__ volatile("mov %%rsp, %%r12\n\t"
                     "mov %[top], %%rsp\n\t"
                     "syscall\n\t"
                     "mov %%r12, %%rsp"
                     : "=a"(ret)
                     : "a"(c->nr), [top] "r"(top), "D"(0L), "S"(0L), "d"(0L)
                     : "rcx", "r11", "r12", "memory", "cc");
    return ret;
}

#elif defined(__aarch64__)
static long call_fork(const struct call *c)
{
    const unsigned long *a = c->args;
    register long x8 __asm__("x8") = c->nr;
    register long x0 __asm__("x0") = (long)a[0];
    register long x1 __asm__("x1") = (long)a[1];
    register long x2 __asm__("x2") = (long)a[2];
    register long x3 __asm__("x3") = (long)a[3];
    register long x4 __asm__("x4") = (long)a[4];
    register long x5 __asm__("x5") = (long)a[5];
    __asm__ volatile("svc #0\n\t"
                     "cbnz x0, 1f\n\t"
                     "udf #0\n"
                     "1:"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory", "cc");
    return x0;
}

static long call_sigreturn(const struct call *c)
{
    unsigned char *top = zstack + sizeof(zstack) / 2;
    register long x8 __asm__("x8") = c->nr;
    register long x0 __asm__("x0") = 0;
    __asm__ volatile("mov x9, sp\n\t"
                     "mov sp, %[top]\n\t"
                     "svc #0\n\t"
                     "mov sp, x9"
                     : "+r"(x0)
                     : "r"(x8), [top] "r"(top)
                     : "x9", "memory", "cc");
    return x0;
}
#elif defined(__arm__)
static long call_fork(const struct call *c)
{
    const unsigned long *a = c->args;
    register long r7 __asm__("r7") = c->nr;
    register long r0 __asm__("r0") = (long)a[0];
    register long r1 __asm__("r1") = (long)a[1];
    register long r2 __asm__("r2") = (long)a[2];
    register long r3 __asm__("r3") = (long)a[3];
    register long r4 __asm__("r4") = (long)a[4];
    register long r5 __asm__("r5") = (long)a[5];
    __asm__ volatile("svc #0\n\t"
                     "cmp r0, #0\n\t"
                     "bne 1f\n\t"
                     "udf #0\n"
                     "1:"
                     : "+r"(r0)
                     : "r"(r7), "r"(r1), "r"(r2), "r"(r3), "r"(r4), "r"(r5)
                     : "memory", "cc");
    return r0;
}

static long call_sigreturn(const struct call *c)
{
    unsigned char *top = zstack + sizeof(zstack) / 2;
    register long r7 __asm__("r7") = c->nr;
    register long r0 __asm__("r0") = 0;
    __asm__ volatile("mov r8, sp\n\t"
                     "mov sp, %[top]\n\t"
                     "svc #0\n\t"
                     "mov sp, r8"
                     : "+r"(r0)
                     : "r"(r7), [top] "r"(top)
                     : "r8", "memory", "cc");
    return r0;
}
#endif

static long do_call(const struct call *c)
{
    const unsigned long *a = c->args;
    if (c->kind == K_FORK)
        return call_fork(c);
    if (c->kind == K_SIGRETURN)
        return call_sigreturn(c);
#if SC_HAVE_INT80
    if (c->abi == A_X86)
        return sc_int80(c->nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4],
                        (long)a[5]);
#endif
    return sc_raw6(c->nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4],
                   (long)a[5]);
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    shm->trap_errno = si->si_errno;
    shm->trap_syscall = si->si_syscall;
    shm->trap_arch = si->si_arch;
    shm->state = S_TRAPPED;
    __builtin_trap();
}

static void close_all(void)
{
    int fd;
    if (sc_raw6(SYS_close_range, 0, ~0L & 0xffffffffL, 0, 0, 0, 0) == 0)
        return;
    for (fd = 0; fd < 1024; fd++)
        sc_raw6(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* Our pid in the namespace of the mounted /proc (which may be an ancestor of ours). */
static long proc_self(void)
{
    char buf[32];
    ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return strtol(buf, NULL, 10);
}

/* Read a small /proc file of the child into buf; 0 on success. */
static int read_proc(long pid, const char *name, char *buf, size_t size)
{
    char path[64];
    ssize_t n;
    int fd;
    snprintf(path, sizeof(path), "/proc/%ld/%s", pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    return 0;
}

/* A sample of where the child is: 'S' when asleep interruptibly, with how often it has
 * been put on a CPU (schedstat's third field) and its CPU time; 0 when unknown. */
struct sample {
    char state;
    unsigned long long ran, slices;
};

static struct sample sample_child(long host_pid)
{
    struct sample s = {0, 0, 0};
    char buf[512];
    char *p;
    if (host_pid <= 0 || read_proc(host_pid, "stat", buf, sizeof(buf)))
        return s;
    p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ')
        return s;
    s.state = p[2];
    if (read_proc(host_pid, "schedstat", buf, sizeof(buf)) ||
        sscanf(buf, "%llu %*s %llu", &s.ran, &s.slices) != 2)
        s.state = 0;
    return s;
}

static void child(const struct call *c, const unsigned char *filter, size_t flen, long timeout_ms)
{
    struct sigaction sa;
    struct itimerval it;
    sigset_t all;
    long rc;

    shm->host_pid = proc_self();
    close_all();
    setsid(); /* kill(0, ...) reaches this child alone */
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
    signal(SIGALRM, SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    memset(&it, 0, sizeof(it));
    it.it_value.tv_sec = timeout_ms / 1000;
    it.it_value.tv_usec = (timeout_ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &it, NULL);
    if (filter) {
        rc = sc_install(filter, flen, 0);
        if (rc < 0) {
            shm->setup_errno = (int)-rc;
            shm->state = S_SETUP;
            sc_raw6(SYS_exit_group, 0, 0, 0, 0, 0, 0);
        }
    }
    shm->state = S_CALLING; /* a store, not a call: nothing the filter sees */
    shm->ret = do_call(c);
    shm->state = S_RETURNED;
    sc_raw6(SYS_exit_group, 0, 0, 0, 0, 0, 0);
    sc_raw6(SYS_exit, 0, 0, 0, 0, 0, 0);
    __builtin_trap();
}

static void report(const struct call *c, int status)
{
    int i;
    printf("{\"abi\":\"%s\",\"nr\":%ld,\"args\":[", abi_names[c->abi], c->nr);
    for (i = 0; i < 6; i++)
        printf("%s%lu", i ? "," : "", c->args[i]);
    printf("],");
    if (shm->state == S_RETURNED) {
        long r = shm->ret;
        printf("\"outcome\":\"returned\",\"ret\":%ld,\"errno\":%ld,\"signal\":0,\"status\":0,"
               "\"trap\":null}\n",
               r, (r < 0 && r >= -4095) ? -r : 0L);
    } else if (shm->state == S_TRAPPED) {
        printf("\"outcome\":\"trapped\",\"ret\":0,\"errno\":0,\"signal\":%d,\"status\":0,"
               "\"trap\":{\"errno\":%d,\"syscall\":%d,\"arch\":%u}}\n",
               SIGSYS, shm->trap_errno, shm->trap_syscall, shm->trap_arch);
    } else if (shm->state == S_SETUP) {
        printf("\"outcome\":\"error\",\"ret\":0,\"errno\":%d,\"signal\":0,\"status\":0,"
               "\"trap\":null}\n",
               shm->setup_errno);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        printf("\"outcome\":\"%s\",\"ret\":0,\"errno\":0,\"signal\":%d,\"status\":0,"
               "\"trap\":null}\n",
               sig == SIGALRM ? "blocked" : "signaled", sig);
    } else {
        printf("\"outcome\":\"exited\",\"ret\":0,\"errno\":0,\"signal\":0,\"status\":%d,"
               "\"trap\":null}\n",
               WEXITSTATUS(status));
    }
    fflush(stdout);
}

/* A call seen asleep (interruptibly, and not once put on a CPU) for this long is blocked:
 * with the probe's arguments (zero timeouts) no call sleeps and then returns by itself.
 * This tells pause() apart from a call that returns without waiting for the timer. */
#define SETTLE_MS 50

/* Wait for the child; end it with the timer's signal as soon as it is seen blocked in its
 * call, rather than waiting for the timer. Returns its wait status. */
static int wait_child(pid_t pid)
{
    int status = 0, fd, step = 1;
    struct sample last = {0, 0, 0};
    int asleep_ms = 0, signalled = 0;
    pid_t w;
    fd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (;;) {
        if (fd >= 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            if (poll(&pfd, 1, step) < 0 && errno != EINTR)
                die("poll");
        }
        w = waitpid(pid, &status, (fd >= 0 ? WNOHANG : 0) | __WALL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("waitpid");
        }
        if (w == pid) {
            if (WIFSTOPPED(status)) { /* e.g. the call was ptrace(PTRACE_TRACEME) */
                kill(pid, SIGKILL);
                continue;
            }
            break;
        }
        if (!signalled && shm->state == S_CALLING) {
            struct sample now = sample_child(shm->host_pid);
            if (now.state == 'S' && last.state == 'S' && now.ran == last.ran &&
                now.slices == last.slices)
                asleep_ms += step;
            else
                asleep_ms = 0;
            last = now;
            if (asleep_ms >= SETTLE_MS) {
                kill(pid, SIGALRM);
                signalled = 1;
            }
        }
        if (step < 8)
            step *= 2;
    }
    if (fd >= 0)
        close(fd);
    return status;
}

static void run_one(const struct call *c, const unsigned char *filter, size_t flen, long tmo)
{
    int status;
    pid_t pid;
    memset(shm, 0, sizeof(*shm));
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        child(c, filter, flen, tmo);
    status = wait_child(pid);
    while (waitpid(-1, NULL, WNOHANG | __WALL) > 0) /* strays from fork-like calls */
        ;
    report(c, status);
}

static void drop_caps(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    int cap;
    for (cap = 0; cap <= 63; cap++)
        prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    memset(data, 0, sizeof(data));
    if (sc_raw6(SYS_capset, (long)&hdr, (long)data, 0, 0, 0, 0) < 0)
        die("capset");
}

/* Become nobody (when root) before creating the user namespace, so that the namespace's
 * processes are nobody's to the rest of the machine: a kill(-1, ...) or setpriority(PRIO_USER)
 * let through by a filter then reaches nothing of root's. */
static void sandbox(void)
{
    struct rlimit zero = {0, 0};
    static const int each[] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWUTS,
                               CLONE_NEWIPC,  CLONE_NEWNET, CLONE_NEWPID};
    int all = 0;
    unsigned i;
    setrlimit(RLIMIT_CORE, &zero);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (geteuid() == 0 &&
        (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
        die("dropping to nobody");
    for (i = 0; i < sizeof(each) / sizeof(each[0]); i++)
        all |= each[i];
    if (unshare(all) != 0)
        for (i = 0; i < sizeof(each) / sizeof(each[0]); i++)
            unshare(each[i]); /* each where the kernel allows */
    if (chdir("/") != 0)
        die("chdir /");
    drop_caps();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die("no_new_privs");
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static unsigned char *read_filter(const char *path, size_t *len)
{
    static unsigned char buf[MAX_FILTER + 1];
    size_t n = 0;
    ssize_t r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die(path);
    while ((r = read(fd, buf + n, sizeof(buf) - n)) > 0)
        n += (size_t)r;
    if (r < 0)
        die(path);
    close(fd);
    if (n == 0 || n > MAX_FILTER || n % 8) {
        fprintf(stderr, "seccompiler-probe: %s: not a BPF program (%zu bytes)\n", path, n);
        exit(2);
    }
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    static struct call calls[MAX_CALLS];
    static char line[1024];
    unsigned char *filter = NULL;
    size_t flen = 0, ncalls = 0, i;
    long timeout_ms = 300;
    int sandboxed = 1, argi = 1, rc;

    for (; argi < argc && !strncmp(argv[argi], "--", 2); argi++) {
        if (!strcmp(argv[argi], "--filter") && argi + 1 < argc)
            filter = read_filter(argv[++argi], &flen);
        else if (!strcmp(argv[argi], "--no-sandbox"))
            sandboxed = 0;
        else if (!strcmp(argv[argi], "--timeout-ms") && argi + 1 < argc)
            timeout_ms = strtol(argv[++argi], NULL, 0);
        else if (!strcmp(argv[argi], "--")) {
            argi++;
            break;
        } else {
            fprintf(stderr, "usage: seccompiler-probe [--filter FILE] [--no-sandbox] "
                            "[--timeout-ms N] [CALL...]\n");
            return 2;
        }
    }
    if (argi < argc) {
        for (; argi < argc && ncalls < MAX_CALLS; argi++) {
            snprintf(line, sizeof(line), "%s", argv[argi]);
            if ((rc = parse_call(line, &calls[ncalls])) < 0)
                goto bad;
            ncalls += (size_t)rc;
        }
    } else {
        while (ncalls < MAX_CALLS && fgets(line, sizeof(line), stdin)) {
            if ((rc = parse_call(line, &calls[ncalls])) < 0)
                goto bad;
            ncalls += (size_t)rc;
        }
    }
    if (timeout_ms < 1)
        timeout_ms = 1;
    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        die("mmap");
    if (sandboxed) {
        /* The calls run under a runner that is PID 1 of the new PID namespace (when there
         * is one): orphans are reparented to it and kill(-1, ...) stays inside. */
        pid_t runner;
        int st;
        sandbox();
        fflush(stdout);
        runner = fork();
        if (runner < 0)
            die("fork");
        if (runner > 0) {
            while (waitpid(runner, &st, 0) < 0)
                if (errno != EINTR)
                    die("waitpid");
            return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
        }
    }
    for (i = 0; i < ncalls; i++)
        run_one(&calls[i], filter, flen, timeout_ms);
    return 0;
bad:
    fprintf(stderr, "seccompiler-probe: bad call '%s'\n", line);
    return 2;
}
