/* seccompiler: the installed command. It serves a repeated `run` itself and hands every other
 * invocation to the Python CLI.
 *
 * `seccompiler run` wraps a program, so whatever it costs is paid at every launch; an
 * interpreter's start-up alone costs more than tracing the whole program with strace. This
 * front runs the plain form of a repeated run without the interpreter:
 *
 *   seccompiler run --profile P [--audit] [--caps C]... -- PROGRAM [ARG...]
 *
 * It looks for a front entry in the user's cache ($XDG_CACHE_HOME/seccompiler, else
 * ~/.cache/seccompiler), named by the SHA-256 of this executable's path, the working directory,
 * the profile argument and the capabilities as given. The Python CLI writes that entry on a
 * run whose filters it found current in its own cache, and records in it everything that
 * decides the filters: the size, change times and inode of every file and folder of the
 * installed package, the SHA-256 of the policy and of every file it extends, how the profile
 * argument resolved (a path, or a bundled profile's name), the launcher, and the two filters;
 * its last line is the SHA-256 of all before it. The front uses the entry only when all of
 * it still holds, and then starts the launcher (native/launch.c) on the filters exactly as
 * the Python CLI does, passing on SIGTERM, SIGHUP, SIGINT and SIGQUIT (a terminal's Ctrl-C
 * already reaches the workload, so it is not sent twice).
 *
 * When the workload ends with nothing to report (its exit status only), the front says so
 * and exits with that status. Anything else -- a refused call to list, a signal, an error --
 * goes to the Python CLI with the launcher's status text in a memfd named in
 * SECCOMPILER_FRONT_STATUS, which renders it as the CLI always does. Any other invocation,
 * and any entry that is missing, damaged or no longer current, is handed to the Python entry
 * point installed beside this executable (seccompiler-py), with SECCOMPILER_FRONT naming this
 * executable so that a run may write the entry for the next one. SECCOMPILER_FRONT_DEBUG=1
 * makes the front say on stderr why it handed a run over.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

#define FORMAT "seccompiler-front 1"
#define PY_ENTRY "seccompiler-py"
#define MAX_ENTRY (4u << 20)
#define MAX_POLICY (64u << 20)
#define MAX_INSNS 4096
#define MAX_CAPS 64

/* ---- SHA-256 (FIPS 180-4) ---- */

typedef struct {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t fill;
} sha256;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(sha256 *s, const unsigned char *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
                      K256[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
    s->h[5] += f;
    s->h[6] += g;
    s->h[7] += h;
}

static void sha_init(sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->fill = 0;
}

static void sha_update(sha256 *s, const void *data, size_t n) {
    const unsigned char *p = data;
    s->len += n;
    while (n > 0) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->buf + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill == 64) {
            sha_block(s, s->buf);
            s->fill = 0;
        }
    }
}

/* the digest as 64 lowercase hex digits and a NUL */
static void sha_hex(sha256 *s, char out[65]) {
    uint64_t bits = s->len * 8;
    unsigned char pad = 0x80, zero = 0, len[8];
    sha_update(s, &pad, 1);
    while (s->fill != 56)
        sha_update(s, &zero, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha_update(s, len, 8);
    for (int i = 0; i < 8; i++)
        snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

static void sha_of(const void *data, size_t n, char out[65]) {
    sha256 s;
    sha_init(&s);
    sha_update(&s, data, n);
    sha_hex(&s, out);
}

/* ---- small helpers ---- */

static int debug;

static void why(const char *fmt, const char *arg) {
    if (!debug)
        return;
    fputs("seccompiler front: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
}

/* the content of a regular file of at most `limit` bytes (NUL-terminated), NULL otherwise;
 * opened without blocking, so that a FIFO never hangs the front */
static char *read_regular(const char *path, size_t limit, size_t *size) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > limit)
        goto fail;
    buf = malloc(limit < (size_t)st.st_size + 1 ? limit + 1 : (size_t)st.st_size + 1);
    if (!buf)
        goto fail;
    for (;;) {
        size_t room = (size_t)st.st_size + 1 - got; /* one more: a file grown meanwhile */
        if (room == 0 || got > limit)
            goto fail;
        ssize_t n = read(fd, buf + got, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > (size_t)st.st_size)
        goto fail;
    buf[got] = '\0';
    close(fd);
    *size = got;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

static int unhex(const char *hex, size_t n, unsigned char *out) {
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[i + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i / 2] = (unsigned char)v;
    }
    return 0;
}

/* a hex field as a NUL-terminated string (a path); NULL when not hex or holding a NUL */
static char *unhex_str(const char *hex) {
    size_t n = strlen(hex);
    char *out = malloc(n / 2 + 1);
    if (!out || unhex(hex, n, (unsigned char *)out) != 0 || memchr(out, 0, n / 2)) {
        free(out);
        return NULL;
    }
    out[n / 2] = '\0';
    return out;
}

static int parse_u64(const char *s, unsigned long long *v) {
    if (!*s)
        return -1;
    unsigned long long x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (ULLONG_MAX - 9) / 10)
            return -1;
        x = x * 10 + (unsigned)(*s - '0');
    }
    *v = x;
    return 0;
}

/* ---- the command line ---- */

struct run {
    const char *profile;
    const char *caps[MAX_CAPS];
    int ncaps;
    int audit;
    char **command; /* NULL-terminated */
};

/* 1 when argv is the plain form of run without --report, 0 otherwise */
static int parse_run(int argc, char **argv, struct run *r) {
    memset(r, 0, sizeof *r);
    if (argc < 2 || strcmp(argv[1], "run") != 0)
        return 0;
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        const char *value = NULL;
        if (strcmp(a, "--audit") == 0) {
            r->audit = 1;
            continue;
        }
        if (strncmp(a, "--profile", 9) == 0 && (a[9] == '=' || a[9] == '\0')) {
            if (r->profile)
                return 0;
            slot = &r->profile;
        } else if (strncmp(a, "--caps", 6) == 0 && (a[6] == '=' || a[6] == '\0')) {
            if (r->ncaps == MAX_CAPS)
                return 0;
            slot = &r->caps[r->ncaps++];
        } else {
            return 0; /* --report, help, anything else: the Python CLI's */
        }
        value = strchr(a, '=');
        if (value) {
            value++;
        } else {
            if (i + 1 >= argc || strcmp(argv[i + 1], "--") == 0)
                return 0;
            value = argv[++i];
        }
        *slot = value;
    }
    if (i >= argc || i + 1 >= argc || !r->profile)
        return 0;
    struct stat st;
    if (!*r->profile || r->profile[0] == '-' ||
        (stat(r->profile, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    r->command = argv + i + 1;
    return 1;
}

/* ---- the entry ---- */

struct entry {
    char *text;
    const char *launcher;
    unsigned char *real, *audit;
    size_t real_len, audit_len;
};

static char *cache_dir(void) {
    const char *base = getenv("XDG_CACHE_HOME");
    const char *suffix = "/seccompiler";
    char *out;
    if (!base || base[0] != '/') {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/')
            return NULL;
        if (asprintf(&out, "%s/.cache%s", home, suffix) < 0)
            return NULL;
        return out;
    }
    if (asprintf(&out, "%s%s", base, suffix) < 0)
        return NULL;
    return out;
}

/* the key: SHA-256 of FORMAT, this executable, the working directory, the profile argument
 * and the capabilities as given, joined by NULs */
static void entry_key(const char *self, const char *cwd, const struct run *r, char out[65]) {
    sha256 s;
    sha_init(&s);
    const char *fields[4 + MAX_CAPS];
    int n = 0;
    fields[n++] = FORMAT;
    fields[n++] = self;
    fields[n++] = cwd;
    fields[n++] = r->profile;
    for (int i = 0; i < r->ncaps; i++)
        fields[n++] = r->caps[i];
    for (int i = 0; i < n; i++) {
        if (i)
            sha_update(&s, "", 1);
        sha_update(&s, fields[i], strlen(fields[i]));
    }
    sha_hex(&s, out);
}

/* how the profile argument resolves, as the Python CLI resolves it: a path ("direct") when it
 * holds '/' or '.', is "-" or names something that exists; else a bundled profile's name */
static const char *resolution(const char *profile) {
    struct stat st;
    if (strchr(profile, '/') || strchr(profile, '.') || strcmp(profile, "-") == 0 ||
        stat(profile, &st) == 0)
        return "direct";
    return "bundled";
}

/* 0 when the file or folder is as recorded; *is_launcher tells whether it was `launcher` */
static int check_stat(char *rest, const char *launcher, int *is_launcher) {
    /* DEV INO SIZE MTIME_NS CTIME_NS HEXPATH */
    char *f[6];
    for (int i = 0; i < 6; i++) {
        f[i] = strsep(&rest, " ");
        if (!f[i])
            return -1;
    }
    if (rest)
        return -1;
    unsigned long long v[5];
    for (int i = 0; i < 5; i++)
        if (parse_u64(f[i], &v[i]) != 0)
            return -1;
    char *path = unhex_str(f[5]);
    if (!path)
        return -1;
    struct stat st;
    int ok = stat(path, &st) == 0 && (unsigned long long)st.st_dev == v[0] &&
             (unsigned long long)st.st_ino == v[1] && (unsigned long long)st.st_size == v[2] &&
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + st.st_mtim.tv_nsec == v[3] &&
             (unsigned long long)st.st_ctim.tv_sec * 1000000000ull + st.st_ctim.tv_nsec == v[4];
    if (!ok)
        why("changed since the entry was written: %s", path);
    *is_launcher = launcher && strcmp(path, launcher) == 0;
    free(path);
    return ok ? 0 : -1;
}

static int check_source(char *rest) {
    /* SHA256 HEXPATH */
    char *digest = strsep(&rest, " ");
    if (!rest || strlen(digest) != 64)
        return -1;
    char *path = unhex_str(rest);
    if (!path)
        return -1;
    size_t size;
    char *data = read_regular(path, MAX_POLICY, &size);
    char hex[65];
    int ok = 0;
    if (data) {
        sha_of(data, size, hex);
        ok = strcmp(hex, digest) == 0;
    }
    if (!ok)
        why("the policy or a file it extends changed: %s", path);
    free(data);
    free(path);
    return ok ? 0 : -1;
}

static int take_filter(const char *hex, unsigned char **out, size_t *len) {
    size_t n = strlen(hex);
    if (n == 0 || n % 16 != 0 || n / 2 > 8 * MAX_INSNS)
        return -1;
    *out = malloc(n / 2);
    if (!*out || unhex(hex, n, *out) != 0)
        return -1;
    *len = n / 2;
    return 0;
}

/* 0 when the entry at `path` is whole, has `key` and still holds */
static int load_entry(const char *path, const char *key, const char *profile, struct entry *e) {
    size_t size;
    memset(e, 0, sizeof *e);
    char *text = read_regular(path, MAX_ENTRY, &size);
    if (!text) {
        why("no entry for this run yet: %s", path);
        return -1;
    }
    e->text = text;
    /* the last line: "checksum " + SHA-256 of everything before it */
    if (size < 2 || text[size - 1] != '\n' || memchr(text, 0, size))
        goto damaged;
    text[size - 1] = '\0';
    char *last = strrchr(text, '\n');
    if (!last || strncmp(last + 1, "checksum ", 9) != 0)
        goto damaged;
    char hex[65];
    sha_of(text, (size_t)(last + 1 - text), hex);
    if (strcmp(last + 10, hex) != 0)
        goto damaged;
    *last = '\0';
    char *rest = text;
    char *line = strsep(&rest, "\n");
    if (strcmp(line, FORMAT) != 0)
        goto damaged;
    line = strsep(&rest, "\n");
    if (!line || strncmp(line, "key ", 4) != 0 || strcmp(line + 4, key) != 0)
        goto damaged;
    int seen_policy = 0, seen_real = 0, seen_audit = 0, seen_source = 0, launcher_checked = 0;
    while ((line = strsep(&rest, "\n")) != NULL) {
        char *word = strsep(&line, " ");
        if (!line)
            goto damaged;
        if (strcmp(word, "stat") == 0) {
            int is_launcher = 0;
            if (check_stat(line, e->launcher, &is_launcher) != 0)
                goto stale;
            launcher_checked |= is_launcher;
        } else if (strcmp(word, "source") == 0) {
            if (check_source(line) != 0)
                goto stale;
            seen_source = 1;
        } else if (strcmp(word, "policy") == 0) {
            if (strcmp(line, resolution(profile)) != 0) {
                why("the profile argument now resolves otherwise: %s", profile);
                goto stale;
            }
            seen_policy = 1;
        } else if (strcmp(word, "launcher") == 0) {
            if (e->launcher) /* once, before the stat lines that check it */
                goto damaged;
            e->launcher = unhex_str(line);
            if (!e->launcher)
                goto damaged;
        } else if (strcmp(word, "real") == 0) {
            if (take_filter(line, &e->real, &e->real_len) != 0)
                goto damaged;
            seen_real = 1;
        } else if (strcmp(word, "audit") == 0) {
            if (take_filter(line, &e->audit, &e->audit_len) != 0)
                goto damaged;
            seen_audit = 1;
        } else {
            goto damaged;
        }
    }
    /* the launcher is one of the package's files the entry checks, and the policy is read */
    if (!seen_policy || !seen_real || !seen_audit || !seen_source || !launcher_checked)
        goto damaged;
    return 0;
damaged:
    why("the entry is damaged or of another format: %s", path);
stale:
    return -1;
}

/* ---- handing over to the Python entry point ---- */

static char self_path[PATH_MAX];

/* The Python entry point beside this executable: found through /proc/self/exe, else through
 * the path it was started by; started by name alone (no /proc, a PATH lookup), it is looked
 * up on PATH as this one was -- never in the working directory. */
static void python(char **argv, int status_fd) {
    char entry[PATH_MAX + sizeof PY_ENTRY];
    const char *where = self_path[0] ? self_path : argv[0] ? argv[0] : "";
    const char *slash = strrchr(where, '/');
    int n = slash ? snprintf(entry, sizeof entry, "%.*s/%s", (int)(slash - where), where,
                             PY_ENTRY)
                  : snprintf(entry, sizeof entry, "%s", PY_ENTRY);
    if (n < 0 || (size_t)n >= sizeof entry) {
        fputs("seccompiler: the path of this executable is too long\n", stderr);
        exit(125);
    }
    if (self_path[0])
        setenv("SECCOMPILER_FRONT", self_path, 1);
    if (status_fd >= 0) {
        char num[16];
        snprintf(num, sizeof num, "%d", status_fd);
        setenv("SECCOMPILER_FRONT_STATUS", num, 1);
    }
    argv[0] = entry;
    if (slash)
        execv(entry, argv);
    else
        execvp(entry, argv);
    int err = errno;
    fprintf(stderr,
            "seccompiler: cannot start the Python entry point %s: %s (reinstall seccompiler)\n",
            entry, strerror(err));
    exit(err == ENOENT ? 127 : 126);
}

/* ---- the launch ---- */

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending[4];
static const int forwarded[4] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};

static int terminal_sent_it(void) {
    int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    pid_t fg = tcgetpgrp(fd);
    close(fd);
    return fg >= 0 && fg == getpgrp();
}

static void forward(int sig) {
    int saved = errno;
    if ((sig == SIGINT || sig == SIGQUIT) && terminal_sent_it()) {
        errno = saved;
        return;
    }
    if (child_pid > 0) {
        kill(child_pid, sig);
    } else {
        for (int i = 0; i < 4; i++)
            if (forwarded[i] == sig)
                pending[i] = 1;
    }
    errno = saved;
}

static int memfd_with(const char *name, const void *data, size_t len) {
    int fd = memfd_create(name, 0); /* inheritable: the launcher reads it */
    if (fd < 0)
        return -1;
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* a line of the status text is "pid N" or "exit N": nothing to report */
static int plain_exit(const char *text, int *status) {
    int found = 0;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 5 && strncmp(p, "exit ", 5) == 0) {
            int v = 0;
            for (size_t i = 5; i < n; i++) {
                if (p[i] < '0' || p[i] > '9' || v > 100000)
                    return 0;
                v = v * 10 + (p[i] - '0');
            }
            *status = v;
            found = 1;
        } else if (!(n >= 4 && strncmp(p, "pid ", 4) == 0)) {
            return 0;
        }
        p = end ? end + 1 : p + n;
    }
    return found;
}

static int launch(const struct run *r, const struct entry *e, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int i = 0; i < 4; i++)
        sigaction(forwarded[i], &sa, NULL);

    int filter = memfd_with("seccompiler-filter", r->audit ? e->audit : e->real,
                            r->audit ? e->audit_len : e->real_len);
    int answer = r->audit ? memfd_with("seccompiler-filter", e->real, e->real_len) : -2;
    int pipefd[2] = {-1, -1};
    int status_w = -1;
    if (filter < 0 || answer == -1 || pipe2(pipefd, O_CLOEXEC) != 0 ||
        (status_w = fcntl(pipefd[1], F_DUPFD, 3)) < 0) { /* an inheritable copy */
        why("cannot prepare the launch: %s", strerror(errno));
        /* nothing of this may reach the Python CLI, and the workload through it */
        int fds[4] = {filter, answer, pipefd[0], pipefd[1]};
        for (int i = 0; i < 4; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        return -1;
    }
    close(pipefd[1]);
    int ncmd = 0;
    while (r->command[ncmd])
        ncmd++;
    char **av = calloc((size_t)ncmd + 10, sizeof *av);
    char fbuf[16], sbuf[16], abuf[16];
    snprintf(fbuf, sizeof fbuf, "%d", filter);
    snprintf(sbuf, sizeof sbuf, "%d", status_w);
    snprintf(abuf, sizeof abuf, "%d", answer);
    int k = 0;
    av[k++] = (char *)e->launcher;
    av[k++] = "--filter-fd";
    av[k++] = fbuf;
    av[k++] = "--status-fd";
    av[k++] = sbuf;
    if (r->audit) {
        av[k++] = "--answer-fd";
        av[k++] = abuf;
    }
    av[k++] = "--";
    for (int i = 0; i < ncmd; i++)
        av[k++] = r->command[i];
    av[k] = NULL;
    pid_t pid;
    int err = posix_spawn(&pid, e->launcher, NULL, NULL, av, environ);
    close(filter);
    if (answer >= 0)
        close(answer);
    close(status_w);
    free(av);
    if (err != 0) {
        close(pipefd[0]);
        errno = err;
        why("cannot start the launcher: %s", strerror(err));
        return -1;
    }
    child_pid = pid;
    for (int i = 0; i < 4; i++)
        if (pending[i])
            kill(pid, forwarded[i]);

    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            char *more = cap < (64u << 20) ? realloc(text, cap * 2) : NULL;
            if (!more)
                break;
            text = more;
            cap *= 2;
        }
        ssize_t n = read(pipefd[0], text + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(pipefd[0]);
    text[len] = '\0';
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) {
            ws = 125 << 8;
            break;
        }
    }
    int ended = 0;
    for (const char *p = text; *p;) {
        if (strncmp(p, "exit ", 5) == 0 || strncmp(p, "signal ", 7) == 0 ||
            strncmp(p, "error ", 6) == 0)
            ended = 1;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    char tail[32] = "";
    if (!ended) /* the launcher itself was ended: its own status */
        snprintf(tail, sizeof tail, WIFSIGNALED(ws) ? "signal %d\n" : "exit %d\n",
                 WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
    size_t full_len = len + strlen(tail);
    char *full = malloc(full_len + 1);
    memcpy(full, text, len);
    memcpy(full + len, tail, strlen(tail) + 1);
    int status;
    if (plain_exit(full, &status)) {
        if (r->audit)
            fputs("audit: no syscall was refused\n", stderr);
        return status;
    }
    /* more to say than a status: the Python CLI renders it */
    int fd = memfd_with("seccompiler-status", full, full_len);
    if (fd < 0) {
        fputs("seccompiler: cannot pass the workload's status on\n", stderr);
        return 125;
    }
    for (int i = 0; i < 4; i++)
        signal(forwarded[i], SIG_DFL);
    python(argv, fd);
    return 125; /* not reached */
}

int main(int argc, char **argv) {
    static char *no_args[] = {PY_ENTRY, NULL};
    if (argc < 1) { /* started with no argv[0] at all */
        argc = 1;
        argv = no_args;
    }
    const char *d = getenv("SECCOMPILER_FRONT_DEBUG");
    debug = d && *d && strcmp(d, "0") != 0;
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    self_path[n > 0 ? n : 0] = '\0';
    struct run r;
    if (!parse_run(argc, argv, &r) || !self_path[0])
        python(argv, -1);
    char cwd[PATH_MAX];
    char *dir = cache_dir();
    if (!getcwd(cwd, sizeof cwd) || !dir) {
        why("%s", "no working directory or no cache directory");
        python(argv, -1);
    }
    char key[65];
    entry_key(self_path, cwd, &r, key);
    char *path;
    if (asprintf(&path, "%s/front-%s.entry", dir, key) < 0)
        python(argv, -1);
    struct entry e;
    if (load_entry(path, key, r.profile, &e) != 0)
        python(argv, -1);
    int status = launch(&r, &e, argv);
    if (status < 0)
        python(argv, -1);
    fflush(stderr);
    _exit(status);
}
