/* Socket creation the way a 32-bit x86 program does it, and the ways around it.
 * Prints "<how> <errno>" per attempt (0: the call succeeded). Built with gcc -m32 by the
 * live tests; run under a filter, never in the test process. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SYS_SOCKET_CALL 1 /* linux/net.h SYS_SOCKET */

static void report(const char *how, long rc) {
    printf("%s %d\n", how, rc < 0 ? errno : 0);
    if (rc >= 0)
        close((int)rc);
}

int main(void) {
    unsigned long alg[3] = {AF_ALG, SOCK_SEQPACKET, 0};
    unsigned long inet[3] = {AF_INET, SOCK_STREAM, 0};
    report("libc-inet", socket(AF_INET, SOCK_STREAM, 0)); /* glibc: socketcall on i386 */
    report("socketcall-inet", syscall(SYS_socketcall, SYS_SOCKET_CALL, inet));
    report("direct-inet", syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
    report("direct-alg", syscall(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0));
    report("socketcall-alg", syscall(SYS_socketcall, SYS_SOCKET_CALL, alg));
    return 0;
}
