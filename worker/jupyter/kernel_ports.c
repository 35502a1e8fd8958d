/*
 * TCP ports for a kernel, chosen without the race jupyter_client has.
 *
 * jupyter_client binds port 0, reads the port, closes the socket and writes the number into
 * the connection file: until the kernel binds it (seconds for tslab or a JVM), any other
 * process can be handed the same port. Here each port stays bound, with SO_REUSEADDR and
 * without listen(), until the kernel is ready. Linux then
 *   - never hands the port out to bind(0) or to an outgoing connect() (it is in use),
 *   - refuses an explicit bind() of it without SO_REUSEADDR (EADDRINUSE),
 *   - lets the kernel bind and listen on it, because two SO_REUSEADDR sockets may share a
 *     port while neither listens, and the one that listens then owns it.
 * Every ZeroMQ listener sets SO_REUSEADDR on Linux (libzmq, JeroMQ through the JDK's server
 * sockets, Go's net package, Rust's mio), so kernels bind as they would on a free port. Once
 * the kernel listens, no other socket can bind the port any more and the reservation goes.
 * Every port is on 127.0.0.1: the kernel is never reachable from outside the machine.
 */
#include "jupyter/kernel_impl.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

int kports_reserve(int ports[NPORTS], int fds[NPORTS], struct strbuf *err)
{
    int i;
    for (i = 0; i < NPORTS; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        int one = 1;
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
            getsockname(fds[i], (struct sockaddr *)&a, &len) < 0) {
            strbuf_printf(err, "cannot reserve a tcp port on 127.0.0.1: %s", strerror(errno));
            i++;
            kports_release(fds, i);
            for (; i < NPORTS; i++)
                fds[i] = -1;
            return -1;
        }
        ports[i] = ntohs(a.sin_port);
    }
    return 0;
}

void kports_release(int fds[], int n)
{
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0 && close(fds[i]) < 0)
            log_warn("kernel: closing a port reservation: %s", strerror(errno));
        fds[i] = -1;
    }
}
