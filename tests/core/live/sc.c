/* sc: make raw syscalls and print their outcome, optionally under a seccomp filter.
 *
 *   sc [--bpf FILE] NR[:A0[:A1…]] …
 *
 * Prints one line per call: "NR RET ERRNO". Numbers may be decimal or 0x-hex. With --bpf,
 * the filter (raw struct sock_filter array) is installed after PR_SET_NO_NEW_PRIVS, so only
 * this process and its children are affected. Statically linked so it runs in an empty rootfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int load_filter(const char *path) {
    static struct sock_filter insns[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) { perror("open"); return -1; }
    ssize_t n = read(fd, insns, sizeof insns);
    close(fd);
    if (n <= 0 || n % 8) { fprintf(stderr, "bad filter size\n"); return -1; }
    struct sock_fprog prog = { .len = (unsigned short)(n / 8), .filter = insns };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) { perror("no_new_privs"); return -1; }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) { perror("seccomp"); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "--bpf") == 0) {
        if (load_filter(argv[2])) return 125;
        i = 3;
    }
    for (; i < argc; i++) {
        unsigned long v[7] = {0};
        char *s = argv[i];
        for (int k = 0; k < 7 && s && *s; k++) {
            v[k] = strtoul(s, &s, 0);
            if (*s == ':') s++;
        }
        errno = 0;
        long r = syscall((long)v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
        printf("%lu %ld %d\n", v[0], r, r == -1 ? errno : 0);
        fflush(stdout);
    }
    return 0;
}
