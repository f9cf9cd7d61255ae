/* seccompiler-launch: run a program under a seccomp filter, optionally answering the
 * filter's user notifications as another filter says.
 *
 *   seccompiler-launch --filter-fd N [--answer-fd FD [--record KEEP]] [--status-fd FD]
 *                      [--namespaces] [--root DIR] [--workdir DIR] [--user UID:GID]
 *                      -- PROGRAM ARGS...
 *
 * The launcher (L) stays outside the filter for its whole life. It starts the workload (W)
 * with clone(CLONE_VM | CLONE_FILES): W shares L's memory and descriptor table until its
 * execve. W enters the root directory, changes user, sets no_new_privs, installs the filter
 * (with SECCOMP_FILTER_FLAG_NEW_LISTENER under --answer-fd), stores the listener's number in
 * the shared memory and calls execve at once; L finds the listener in the shared table.
 * Nothing between the filter and execve is a system call W needs to succeed, so a policy
 * that refuses write or futex cannot deadlock the start on a listener nobody holds yet.
 * execve copies W's table, so the listener (close-on-exec) never reaches the program.
 *
 * --answer-fd: L answers every notification with the result of the filter read from FD
 * (the policy's real filter; native/answer.h) and writes a line for each refused call to
 * the status fd (below). L then waits for W and its descendants while answering.
 *
 * --record KEEP (with --answer-fd): L also counts every notified call by (arch, number, the
 * arguments KEEP names for it: "ARCH:NR:MASK,...", bit i of MASK for args[i]) and writes the
 * counts to the status fd once W and its descendants are gone (native/record.h).
 *
 * W uses raw system calls only: it shares L's thread-local errno. If execve fails, W
 * stores the error and leaves through exit_group or, if the filter refuses that, ud2.
 *
 * --namespaces: new mount (private propagation), PID, UTS, IPC and network namespaces (with
 * loopback up); W is PID 1 of the new PID namespace, and with --root a fresh /proc is mounted
 * in it.
 *
 * Signals: SIGTERM, SIGHUP, and SIGINT/SIGQUIT sent by a process, go to W. With a listener,
 * L is the subreaper of W's descendants and exits only when the last is gone, so that their
 * refusals are still answered; a signal forwarded to W also reaches them,
 * followed by SIGKILL after a grace period.
 * The status line written to --status-fd when W is gone: "exit N", "signal N",
 * or "error STAGE ERRNO" (STAGE: filter, namespaces, root, user, install, exec, notfound,
 * launch);
 * the first line, "pid N", gives W's PID. With --answer-fd, each refused call is reported
 * before the last line as "refused PID ARCH NR ARG0..ARG5 RESULT EXE" (decimal numbers,
 * RESULT the filter's return value, EXE the executable's path in hex, "3f" when unknown),
 * and each process killed for the policy as "killed TGID"; past the first 4096 refused
 * calls, counts ("refused-more ...", native/record.h) follow W's end, and with --record
 * the counts of every call ("seen ...", "tasks N", "more N"). Exit status: W's, 128+N for signal N, 125 for
 * errors before execve, 126 if the program cannot run, 127 if it is not found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sc_raw.h"
#include "answer.h"

#define MAX_FILTER (BPF_MAXINSNS * 8)
#define STACK_SIZE (256 * 1024)

struct shared {
    volatile int listener; /* -1 until installed */
    volatile int failed;   /* stage number + 1 when W gave up */
    volatile int err;
};

enum stage { ST_ROOT = 1, ST_USER, ST_INSTALL, ST_EXEC, ST_NOTFOUND };
static const char *const stage_names[] = {"", "root", "user", "install", "exec", "notfound"};

static struct {
    unsigned char filter[MAX_FILTER];
    size_t flen;
    const char *root;
    const char *workdir; /* where W starts, inside the root when there is one */
    int has_user;
    long uid, gid;
    int want_listener;
    struct sock_filter answer[BPF_MAXINSNS]; /* --answer-fd: the filter that decides */
    size_t alen;
    int newpid;
    char **argv;
    char **envp;
    char path[4096];
} cfg;

static struct shared *shm;
static int status_fd = -1;
static volatile pid_t workload; /* W's pid once it exists (set while L holds the signals) */

static void status_line(const char *fmt, long a, long b, const char *s)
{
    char buf[128];
    int n;
    if (status_fd < 0)
        return;
    if (s)
        n = snprintf(buf, sizeof(buf), fmt, s, a);
    else
        n = snprintf(buf, sizeof(buf), fmt, a, b);
    if (n > 0 && write(status_fd, buf, (size_t)n) < 0)
        return;
}

static int fail(const char *stage, int err)
{
    status_line("error %s %ld\n", err, 0, stage);
    return 125;
}

static void w_fail(enum stage st, long rc)
{
    shm->err = (int)-rc;
    shm->failed = st;
    sc_raw6(SYS_futex, (long)&shm->failed, FUTEX_WAKE, 1, 0, 0, 0);
    sc_raw6(SYS_exit_group, 127, 0, 0, 0, 0, 0);
    __builtin_trap();
}

/* The executable W will run: PROGRAM as given when it has a slash, else the first
 * executable match on PATH (searched inside the new root, as execvp would). */
static long w_resolve(void)
{
    const char *prog = cfg.argv[0];
    const char *path = getenv("PATH");
    const char *p, *end;
    long rc, last = -ENOENT;
    size_t dl, pl = strlen(prog);
    if (strchr(prog, '/')) {
        if (pl >= sizeof(cfg.path))
            return -ENAMETOOLONG;
        memcpy(cfg.path, prog, pl + 1);
        return 0;
    }
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
    for (p = path; *p; p = *end ? end + 1 : end) {
        end = strchrnul(p, ':');
        dl = (size_t)(end - p);
        if (dl + pl + 2 > sizeof(cfg.path))
            continue;
        memcpy(cfg.path, p, dl);
        cfg.path[dl] = '/';
        memcpy(cfg.path + dl + 1, prog, pl + 1);
        rc = sc_raw6(SYS_faccessat, AT_FDCWD, (long)cfg.path, X_OK, 0, 0, 0);
        if (rc == 0)
            return 0;
        if (rc != -ENOENT && rc != -ENOTDIR)
            last = rc;
    }
    return last;
}

/* The signals L passes on to W. */
static const int passed_on[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};

static int w_main(void *unused)
{
    long rc;
    (void)unused;
    /* W starts with L's handlers and the signals L passes on held (main). Until its execve it
     * takes them as the program will: by default, so one L passes on now ends it (L's handler
     * in W would pass it to W again, forever). Raw calls: the kernel's struct sigaction, all
     * zeros, is SIG_DFL with no flags on every arch; its sigset is 8 bytes. */
    unsigned long long dfl[4] = {0, 0, 0, 0}, held = 0;
    for (unsigned i = 0; i < sizeof(passed_on) / sizeof(passed_on[0]); i++) {
        sc_raw6(SYS_rt_sigaction, passed_on[i], (long)dfl, 0, 8, 0, 0);
        held |= 1ULL << (passed_on[i] - 1);
    }
    sc_raw6(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&held, 0, 8, 0, 0);
    if (cfg.root) {
        if (cfg.newpid) {
            char proc[4096];
            snprintf(proc, sizeof(proc), "%s/proc", cfg.root);
            if (sc_raw6(SYS_faccessat, AT_FDCWD, (long)proc, F_OK, 0, 0, 0) == 0)
                sc_raw6(SYS_mount, (long)"proc", (long)proc, (long)"proc",
                        MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, 0);
        }
        if ((rc = sc_raw6(SYS_chroot, (long)cfg.root, 0, 0, 0, 0, 0)) < 0 ||
            (rc = sc_raw6(SYS_chdir, (long)"/", 0, 0, 0, 0, 0)) < 0)
            w_fail(ST_ROOT, rc);
    }
    if (cfg.workdir && (rc = sc_raw6(SYS_chdir, (long)cfg.workdir, 0, 0, 0, 0, 0)) < 0)
        w_fail(ST_ROOT, rc);
    if ((rc = w_resolve()) < 0)
        w_fail(rc == -ENOENT ? ST_NOTFOUND : ST_EXEC, rc);
    if (cfg.has_user) {
        if ((rc = sc_raw6(SYS_setgroups, 0, 0, 0, 0, 0, 0)) < 0 ||
            (rc = sc_raw6(SYS_setresgid, cfg.gid, cfg.gid, cfg.gid, 0, 0, 0)) < 0 ||
            (rc = sc_raw6(SYS_setresuid, cfg.uid, cfg.uid, cfg.uid, 0, 0, 0)) < 0)
            w_fail(ST_USER, rc);
    }
    sc_raw6(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0);
    /* With a listener, a call L has received waits for its answer unbroken by
     * non-fatal signals (WAIT_KILLABLE_RECV, Linux 5.19): otherwise a signal arriving then
     * (a SIGCHLD during a shell's fork) turns the call into EINTR, which the call made
     * without a filter would have restarted. Older kernels refuse the flag: go without. */
    rc = -EINVAL;
    if (cfg.want_listener)
        rc = sc_install(cfg.filter, cfg.flen,
                        SECCOMP_FILTER_FLAG_NEW_LISTENER | SC_FLAG_WAIT_KILLABLE_RECV);
    if (rc == -EINVAL)
        rc = sc_install(cfg.filter, cfg.flen,
                        cfg.want_listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0);
    if (rc < 0)
        w_fail(ST_INSTALL, rc);
    /* From here on every system call is the filter's to judge. */
    shm->listener = cfg.want_listener ? (int)rc : 0;
    rc = sc_raw6(SYS_execve, (long)cfg.path, (long)cfg.argv, (long)cfg.envp, 0, 0, 0);
    w_fail(rc == -ENOENT ? ST_NOTFOUND : ST_EXEC, rc);
    return 0;
}

static volatile sig_atomic_t workload_gone; /* W has been reaped */
static volatile sig_atomic_t forwarded;     /* the last signal passed on, 0 for none */
static volatile sig_atomic_t early;         /* one that came before W existed, for W */
static char children_path[64];              /* /proc/self/task/<pid>/children */

/* Signal the processes reparented to us (we are their subreaper) after W left them. Only
 * async-signal-safe calls: this runs in the signal handler too. */
static void signal_orphans(int sig)
{
    char buf[4096];
    ssize_t n;
    long pid = 0;
    int fd = open(children_path, O_RDONLY | O_CLOEXEC), digits = 0;

    if (fd < 0)
        return;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                pid = pid * 10 + (buf[i] - '0'), digits = 1;
            } else if (digits) {
                kill((pid_t)pid, sig);
                pid = 0, digits = 0;
            }
        }
    }
    if (digits)
        kill((pid_t)pid, sig);
    close(fd);
}

/* Once the workload is gone, what it left behind gets a forwarded signal and this long to
 * act on it before SIGKILL (shells start background jobs with SIGINT ignored, for one). */
#define GRACE_SECONDS 5

static void kill_orphans(int sig)
{
    (void)sig;
    signal_orphans(SIGKILL);
}

static void stop_orphans(int sig)
{
    signal_orphans(sig);
    alarm(GRACE_SECONDS);
}

/* SIGTERM and SIGHUP go to the workload, and to what it left behind once it is gone.
 * SIGINT and SIGQUIT from a terminal (sent by the kernel) reach the whole process group,
 * the workload too: only those a process sent (seccompiler passing on its own) are
 * forwarded. A handler, not SIG_IGN, which execve would pass on to the workload. */
static void forward(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    if ((sig == SIGINT || sig == SIGQUIT) && info->si_code > 0)
        return;
    forwarded = sig;
    if (workload == 0)
        early = sig; /* main passes it on once W exists */
    else if (workload > 0 && !workload_gone)
        kill(workload, sig);
    else if (children_path[0])
        stop_orphans(sig);
}

/* --answer-fd: L answers the notifications itself. A SIGCHLD handler wakes poll through
 * this pipe (set up before W exists; execve resets the handler in W). */
static int chld_pipe[2] = {-1, -1};
static int answer_err; /* an unexpected error while answering: the run failed */
static struct sc_rec *recording; /* --record: the counts */
static struct sc_refusals refusals; /* refused calls past those reported one by one */

static void on_child(int sig)
{
    int saved = errno;
    char byte = 0;
    (void)sig;
    if (write(chld_pipe[1], &byte, 1) < 0)
        errno = saved; /* full: poll wakes anyway */
    errno = saved;
}

/* Answer notifications until W and every descendant (we are their subreaper) are gone;
 * return W's wait status. */
static int answer_until_gone(int listener)
{
    struct seccomp_notif_sizes sizes;
    struct pollfd pfd[2];
    char drain[64];
    int st, wst = 0;
    pid_t p;

    if (sc_raw6(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, (long)&sizes, 0, 0, 0) < 0 ||
        sizes.seccomp_notif > 1024 || sizes.seccomp_notif < sizeof(struct seccomp_notif)) {
        answer_err = EOVERFLOW;
        kill(workload, SIGKILL);
        sizes.seccomp_notif = 0;
        listener = -1;
    }
    for (;;) {
        while ((p = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
            if (p == workload && !workload_gone) {
                wst = st;
                workload_gone = 1;
                if (forwarded)
                    stop_orphans(forwarded);
            }
        }
        if (p < 0 && errno == ECHILD)
            break;
        pfd[0].fd = listener;
        pfd[0].events = POLLIN;
        pfd[1].fd = chld_pipe[0];
        pfd[1].events = POLLIN;
        if (poll(pfd, 2, -1) < 0)
            continue; /* EINTR: a signal, perhaps SIGCHLD */
        if (pfd[1].revents & POLLIN)
            while (read(chld_pipe[0], drain, sizeof(drain)) > 0)
                ;
        if (pfd[0].revents & POLLIN)
            answer_one(listener, sizes.seccomp_notif, cfg.answer, cfg.alen, status_fd,
                       &answer_err, recording, &refusals);
        else if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            listener = -1; /* nobody left under the filter; wait for the rest */
        if (answer_err && listener >= 0) {
            /* cannot answer: stop the workload rather than leave it waiting */
            kill(workload, SIGKILL);
            signal_orphans(SIGKILL);
            listener = -1;
        }
    }
    return wst;
}

/* The new network namespace starts with loopback down; programs expect 127.0.0.1. */
static int loopback_up(void)
{
    struct ifreq ifr;
    int rc = -1, s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0)
        return -1;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return rc;
}

static int read_filter_fd(int fd, void *into, size_t *len)
{
    ssize_t r;
    *len = 0;
    while ((r = read(fd, (char *)into + *len, MAX_FILTER - *len)) > 0)
        *len += (size_t)r;
    close(fd);
    return r < 0 || *len == 0 || *len % 8 ? -1 : 0;
}

/* Wait until W has published its listener or given up, without blocking on W itself. */
static void await_workload(void)
{
    struct timespec tick = {0, 1000000};
    int st;
    while (shm->listener < 0 && !shm->failed) {
        sc_raw6(SYS_futex, (long)&shm->failed, FUTEX_WAIT, 0, (long)&tick, 0, 0);
        if (waitpid(workload, &st, WNOHANG | __WALL) == workload) {
            /* W died before publishing: report it like a normal end below. */
            if (!shm->failed) {
                shm->failed = -1;
                shm->err = st;
            }
            return;
        }
    }
}

int main(int argc, char **argv, char **envp)
{
    static char stack[STACK_SIZE] __attribute__((aligned(16)));
    int argi = 1, filter_fd = -1, answer_fd = -1, namespaces = 0, st = 0;
    const char *keep = NULL;
    struct sigaction sa;
    pid_t w;

    for (; argi < argc; argi++) {
        const char *a = argv[argi];
        const char *v = argi + 1 < argc ? argv[argi + 1] : NULL;
        if (!strcmp(a, "--")) {
            argi++;
            break;
        } else if (!strcmp(a, "--filter-fd") && v) {
            filter_fd = atoi(v), argi++;
        } else if (!strcmp(a, "--answer-fd") && v) {
            answer_fd = atoi(v), argi++;
        } else if (!strcmp(a, "--record") && v) {
            keep = v, argi++;
        } else if (!strcmp(a, "--status-fd") && v) {
            status_fd = atoi(v), argi++;
        } else if (!strcmp(a, "--root") && v) {
            cfg.root = v, argi++;
        } else if (!strcmp(a, "--workdir") && v) {
            cfg.workdir = v, argi++;
        } else if (!strcmp(a, "--user") && v) {
            if (sscanf(v, "%ld:%ld", &cfg.uid, &cfg.gid) != 2)
                goto usage;
            cfg.has_user = 1, argi++;
        } else if (!strcmp(a, "--namespaces")) {
            namespaces = 1;
        } else {
            goto usage;
        }
    }
    if (argi >= argc || filter_fd < 0 || (keep && answer_fd < 0))
        goto usage;
    if (keep) {
        static struct sc_rec rec;
        if (sc_rec_init(&rec, keep) < 0)
            return fail("record", EINVAL);
        recording = &rec;
    }
    if (status_fd >= 0)
        fcntl(status_fd, F_SETFD, FD_CLOEXEC);
    if (read_filter_fd(filter_fd, cfg.filter, &cfg.flen) < 0)
        return fail("filter", EINVAL);
    if (answer_fd >= 0 && read_filter_fd(answer_fd, cfg.answer, &cfg.alen) < 0)
        return fail("filter", EINVAL);
    cfg.alen /= sizeof(struct sock_filter);
    cfg.argv = argv + argi;
    cfg.envp = envp;
    cfg.want_listener = answer_fd >= 0;
    if (namespaces) {
        if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET))
            return fail("namespaces", errno);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
            return fail("namespaces", errno);
        if (loopback_up())
            return fail("namespaces", errno);
        cfg.newpid = 1;
    }
    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        return fail("launch", errno);
    shm->listener = -1;
    if (cfg.want_listener) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
            return fail("launch", errno);
        snprintf(children_path, sizeof(children_path), "/proc/self/task/%ld/children",
                 (long)getpid());
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = kill_orphans;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);
    if (answer_fd >= 0) {
        if (pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK))
            return fail("launch", errno);
        sa.sa_handler = on_child;
        sa.sa_flags = SA_RESTART; /* poll still returns; status writes are not cut short */
        sigaction(SIGCHLD, &sa, NULL);
    }
    /* Hold the signals passed on while W starts: one that comes now waits until workload
     * says where to send it; W lets them through once it takes them by default. One that
     * came before (early) is passed on here, once. */
    sigset_t held, before;
    sigemptyset(&held);
    for (unsigned i = 0; i < sizeof(passed_on) / sizeof(passed_on[0]); i++)
        sigaddset(&held, passed_on[i]);
    sigprocmask(SIG_BLOCK, &held, &before);
    workload = clone(w_main, stack + sizeof(stack), CLONE_VM | CLONE_FILES | SIGCHLD, NULL);
    sigprocmask(SIG_SETMASK, &before, NULL);
    if (workload < 0)
        return fail("launch", errno);
    if (early)
        kill(workload, early);
    status_line("pid %ld\n", workload, 0, NULL);
    await_workload();
    if (shm->listener >= 0 && cfg.want_listener) {
        st = answer_until_gone(shm->listener);
        close(shm->listener);
        if (!answer_err && status_fd >= 0 && sc_ref_write(&refusals, status_fd) < 0)
            answer_err = errno;
        if (recording && !answer_err && status_fd >= 0 && sc_rec_write(recording, status_fd) < 0)
            answer_err = errno;
        if (answer_err) {
            status_line("error answer %ld\n", answer_err, 0, NULL);
            return 125;
        }
    }
    if (workload_gone) {
        /* answered until the last was gone: st is W's status */
    } else if (shm->failed != -1) {
        do
            w = waitpid(workload, &st, __WALL);
        while (w < 0 && errno == EINTR);
    } else {
        st = shm->err;
    }
    workload_gone = 1;
    if (shm->failed > 0) {
        status_line("error %s %ld\n", shm->err, 0, stage_names[shm->failed]);
        if (shm->failed == ST_NOTFOUND)
            return 127;
        return shm->failed == ST_EXEC ? 126 : 125;
    }
    if (WIFSIGNALED(st)) {
        status_line("signal %ld\n", WTERMSIG(st), 0, NULL);
        return 128 + WTERMSIG(st);
    }
    status_line("exit %ld\n", WEXITSTATUS(st), 0, NULL);
    return WEXITSTATUS(st);
usage:
    fprintf(stderr, "usage: seccompiler-launch --filter-fd N [--answer-fd FD [--record KEEP]] "
                    "[--status-fd FD] [--namespaces] [--root DIR] [--workdir DIR] "
                    "[--user UID:GID] -- PROGRAM ARGS...\n");
    return 125;
}
