/* listen.c - loomd's listening sockets: Unix socket, TCP, systemd activation. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "loomd/listen.h"

#define BACKLOG 512

const char *listen_default_socket_path(char *buf, size_t len)
{
    const char *s = getenv("LOOM_SOCKET");
    if (s && *s) {
        snprintf(buf, len, "%s", s);
        return buf;
    }
    const char *x = getenv("XDG_RUNTIME_DIR");
    if (x && *x && snprintf(buf, len, "%s/loom/loomd.sock", x) < (int)len)
        return buf;
    snprintf(buf, len, "/run/loom/loomd.sock");
    return buf;
}

static int mkdir_parent(const char *path)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    if (errno == ENOENT && mkdir_parent(dir) == 0 && mkdir(dir, 0755) == 0)
        return 0;
    return -errno;
}

/* Binds @fd to @path with a tight umask, so the socket never exists with
 * looser permissions than @mode, then gives it group @gid (unless -1). */
static int bind_unix(int fd, const struct sockaddr_un *sa, mode_t mode, gid_t gid)
{
    mode_t old = umask(0177);
    int rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
    umask(old);
    if (rc != 0 || (gid != (gid_t)-1 && chown(sa->sun_path, (uid_t)-1, gid) != 0) ||
        chmod(sa->sun_path, mode) != 0)
        return -1;
    return listen(fd, BACKLOG);
}

int listen_unix(const char *path, mode_t mode, gid_t gid, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long (%zu bytes max): %s", sizeof(sa.sun_path) - 1,
                 path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    int rc = mkdir_parent(path);
    if (rc) {
        snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(-rc));
        return rc;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket", path);
            close(fd);
            return -EEXIST;
        }
        /* Someone answering means another loomd owns it; otherwise it is stale. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(probe);
            close(fd);
            snprintf(err, errlen, "%s: another server is listening there", path);
            return -EADDRINUSE;
        }
        if (probe >= 0)
            close(probe);
        unlink(path);
    }
    if (bind_unix(fd, &sa, mode, gid) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s (mode %04o%s): %s", path, (unsigned)mode,
                 gid != (gid_t)-1 ? ", group given" : "", strerror(e));
        close(fd);
        unlink(path);
        return -e;
    }
    return fd;
}

int listen_tcp(const char *addr, int port, char *bound, size_t blen, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV},
                    *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int rc = getaddrinfo(addr, ps, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "--http-address %s: %s (a numeric IPv4 or IPv6 address)", addr,
                 gai_strerror(rc));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port, strerror(e));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -e;
    }
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    int p =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(bound, blen, v6 ? "[%s]:%d" : "%s:%d", addr, p);
    return fd;
}

int listen_systemd(int *unix_fd, int *tcp_fd)
{
    *unix_fd = *tcp_fd = -1;
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || atol(pid) != (long)getpid())
        return 0;
    int n = atoi(fds);
    /* The variables are for us only: children must not inherit them. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    for (int fd = 3; fd < 3 + n && n > 0 && n < 64; fd++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
            continue;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (ss.ss_family == AF_UNIX && *unix_fd < 0)
            *unix_fd = fd;
        else if ((ss.ss_family == AF_INET || ss.ss_family == AF_INET6) && *tcp_fd < 0)
            *tcp_fd = fd;
    }
    return n > 0 ? n : 0;
}
