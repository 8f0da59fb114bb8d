/* http.h - serves api.c over HTTP/1.1 with libmicrohttpd, one daemon per listening socket. */
#ifndef LOOMD_HTTP_H
#define LOOMD_HTTP_H

#include <stddef.h>

#include "loomd/server.h"

typedef struct http_listener http_listener;

/*
 * Serves @fd (already listening) with a thread per connection, so a request
 * can block on its model's queue without stalling others. @transport is "unix"
 * (peer credentials are read per request) or "tcp".
 */
int http_start(loomd *d, int fd, const char *transport, http_listener **out, char *err,
               size_t errlen);
/* Stops accepting connections; open ones keep being served. */
void http_quiesce(http_listener *l);
/* Closes every connection and frees @l. */
void http_stop(http_listener *l);

#endif
