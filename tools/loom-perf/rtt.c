/* rtt.c - the raw Unix-socket round trip (loom-perf --socket-rtt), loomd's peer figure. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rtt.h"
#include "stats.h"

typedef struct echo {
    int fd, bytes;
} echo;

/* Reads exactly @n bytes; false on EOF or error. */
static int read_full(int fd, char *buf, int n)
{
    for (int got = 0; got < n;) {
        ssize_t r = read(fd, buf + got, (size_t)(n - got));
        if (r <= 0 && !(r < 0 && errno == EINTR))
            return 0;
        got += r > 0 ? (int)r : 0;
    }
    return 1;
}

static void *echo_main(void *arg)
{
    echo *e = arg;
    char *buf = malloc((size_t)e->bytes);
    while (buf && read_full(e->fd, buf, e->bytes))
        if (write(e->fd, buf, (size_t)e->bytes) != e->bytes)
            break;
    free(buf);
    return NULL;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int rtt_run(int n, int bytes)
{
    int sv[2];
    if (n < 1 || bytes < 1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        fprintf(stderr, "loom-perf: --socket-rtt: %s\n",
                n < 1 || bytes < 1 ? "bad count" : strerror(errno));
        return -1;
    }
    echo e = {sv[1], bytes};
    pthread_t th;
    char *buf = calloc(1, (size_t)bytes);
    if (!buf || pthread_create(&th, NULL, echo_main, &e) != 0) {
        free(buf);
        close(sv[0]);
        close(sv[1]);
        fprintf(stderr, "loom-perf: --socket-rtt: cannot start the echo thread\n");
        return -1;
    }
    lat_buf lat = {0};
    int64_t t0 = now_ns();
    int ok = 0;
    for (; ok < n; ok++) {
        int64_t t = now_ns();
        if (write(sv[0], buf, (size_t)bytes) != bytes || !read_full(sv[0], buf, bytes))
            break;
        lat_add(&lat, now_ns() - t);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    shutdown(sv[0], SHUT_WR);
    pthread_join(th, NULL);
    close(sv[0]);
    close(sv[1]);
    free(buf);
    int64_t p50 = lat_percentile(&lat, 50), p90 = lat_percentile(&lat, 90),
            p99 = lat_percentile(&lat, 99);
    lat_free(&lat);
    if (ok < n) {
        fprintf(stderr, "loom-perf: --socket-rtt: the echo failed after %d round trips\n", ok);
        return -1;
    }
    printf("unix socket pair, %d-byte messages echoed\n", bytes);
    printf("concurrency 1: %.1f round trips/s, latency p50 %.1f us, p90 %.1f us, p99 %.1f us, "
           "%d ok\n",
           ok / secs, p50 / 1e3, p90 / 1e3, p99 / 1e3, ok);
    return 0;
}
