/* rtt.h - the raw Unix-socket round trip: the floor under any request over loomd's socket. */
#ifndef LOOM_PERF_RTT_H
#define LOOM_PERF_RTT_H

/*
 * Sends @n messages of @bytes over a Unix stream socket pair to a thread that
 * echoes each back, one at a time, and prints the p50/p90/p99 round trip in the
 * form loom-perf prints its levels. Returns 0, or -1 with a message on stderr.
 */
int rtt_run(int n, int bytes);

#endif
