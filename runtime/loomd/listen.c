/* listen.c - loomd's listening sockets: Unix socket, loopback TCP, systemd activation. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

int listen_unix(const char *path, char *err, size_t errlen)
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
    /* Bind with a tight umask so the socket never exists with looser permissions. */
    mode_t old = umask(0117);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (rc != 0 || chmod(path, 0660) != 0 || listen(fd, BACKLOG) != 0) {
        e = rc ? e : errno;
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

int listen_tcp_loopback(int port, int *bound, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on 127.0.0.1:%d: %s", port, strerror(e));
        close(fd);
        return -e;
    }
    *bound = ntohs(sa.sin_port);
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
        else if (ss.ss_family == AF_INET && *tcp_fd < 0)
            *tcp_fd = fd;
    }
    return n > 0 ? n : 0;
}
