/* listen.h - loomd's listening sockets: the Unix socket (path, mode, stale files), loopback TCP,
 * and sockets handed over by systemd socket activation. */
#ifndef LOOMD_LISTEN_H
#define LOOMD_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

/* $LOOM_SOCKET, else $XDG_RUNTIME_DIR/loom/loomd.sock, else /run/loom/loomd.sock. */
const char *listen_default_socket_path(char *buf, size_t len);

/*
 * Binds and listens on Unix socket @path with mode 0660, creating its directory
 * (0755) when missing. A stale socket file nobody listens on is replaced; a
 * live one is an error. Returns the fd or -errno with @err set.
 */
int listen_unix(const char *path, char *err, size_t errlen);
/* Binds 127.0.0.1:@port (0 picks one; *bound gets it). Returns the fd or -errno. */
int listen_tcp_loopback(int port, int *bound, char *err, size_t errlen);

/*
 * Sockets from systemd (LISTEN_PID/LISTEN_FDS, starting at fd 3): the first
 * AF_UNIX one goes to *unix_fd and the first AF_INET one to *tcp_fd (else -1).
 * Returns how many were passed.
 */
int listen_systemd(int *unix_fd, int *tcp_fd);

#endif
