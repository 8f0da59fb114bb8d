/* server.h - the state loomd's request handlers share: config, repository, metrics, log. */
#ifndef LOOMD_SERVER_H
#define LOOMD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "loomd/config.h"
#include "loomd/evlog.h"
#include "loomd/metrics.h"
#include "loomd/repo.h"

typedef struct loomd {
    server_config cfg;
    pthread_mutex_t policy_lock; /* Protects policy, which SIGHUP replaces. */
    server_policy policy;
    repo *repo;
    metrics *metrics;
    evlog *log;
    atomic_bool draining;  /* SIGTERM: not ready, no new inference */
    atomic_int inflight;   /* requests between arrival and response */
    atomic_ullong next_id; /* for request ids the client did not give */
    uid_t euid;
    gid_t socket_gid;
} loomd;

/* A copy of the current policy. */
static inline server_policy loomd_policy(loomd *d)
{
    pthread_mutex_lock(&d->policy_lock);
    server_policy p = d->policy;
    pthread_mutex_unlock(&d->policy_lock);
    return p;
}

#endif
