/* listen.h - loomd's listening sockets: the Unix socket (path, mode, group, stale files), TCP,
 * and sockets handed over by systemd socket activation. */
#ifndef LOOMD_LISTEN_H
#define LOOMD_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

/* $LOOM_SOCKET, else $XDG_RUNTIME_DIR/loom/loomd.sock, else /run/loom/loomd.sock. */
const char *listen_default_socket_path(char *buf, size_t len);

/*
 * Binds and listens on Unix socket @path with @mode (loomd's default 0660) and
 * group @gid ((gid_t)-1: the process's), creating its directory (0755) when
 * missing. A stale socket file nobody listens on is replaced; a live one is an
 * error. Returns the fd or -errno with @err set.
 */
int listen_unix(const char *path, mode_t mode, gid_t gid, char *err, size_t errlen);
/*
 * Binds numeric address @addr ("127.0.0.1", "0.0.0.0", "::") port @port (0
 * picks one) and listens. @bound gets "ADDR:PORT" ("[ADDR]:PORT" for IPv6)
 * with the port bound. Returns the fd or -errno with @err set.
 */
int listen_tcp(const char *addr, int port, char *bound, size_t blen, char *err, size_t errlen);

/*
 * Sockets from systemd (LISTEN_PID/LISTEN_FDS, starting at fd 3): the first
 * AF_UNIX one goes to *unix_fd and the first AF_INET one to *tcp_fd (else -1).
 * Returns how many were passed.
 */
int listen_systemd(int *unix_fd, int *tcp_fd);

#endif
