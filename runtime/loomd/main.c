/*
 * loomd - serves ONNX models over KServe v2 (HTTP/1.1) on a Unix socket and,
 * optionally, on TCP (loopback unless --http-address says otherwise: a pod
 * needs 0.0.0.0).
 *
 *   loomd --model-repository DIR [--socket PATH] [--socket-group G] [--socket-mode M]
 *         [--http-port N] [--http-address ADDR] [--model-name NAME]
 *         [--model-control-mode none|poll|explicit] [--load-model NAME ...]
 *         [--config FILE] [--log-file FILE] [--threads N] [--max-connections N]
 *
 * Signals: SIGTERM/SIGINT flip readiness off, drain in-flight requests and exit
 * within drain_timeout_seconds; SIGHUP rereads --config and rescans the
 * repository (modes none and poll).
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loomd/http.h"
#include "loomd/listen.h"
#include "loomd/server.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: loomd --model-repository DIR [options]\n\n"
               "  --socket PATH              Unix socket (default $LOOM_SOCKET, else\n"
               "                             $XDG_RUNTIME_DIR/loom/loomd.sock, else "
               "/run/loom/loomd.sock)\n"
               "  --socket-group G           the socket's group, a name or gid (default the "
               "process's)\n"
               "  --socket-mode M            the socket's mode, octal (default 0660)\n"
               "  --http-port N              also listen on TCP port N (0 picks a port)\n"
               "  --http-address ADDR        numeric address for --http-port (default 127.0.0.1;\n"
               "                             0.0.0.0 or :: for every interface, as in a pod)\n"
               "  --model-name NAME          when the repository directory is itself one model\n"
               "                             (KServe's /mnt/models), serve it as NAME\n"
               "  --model-control-mode M     none (load all at start, default), poll, explicit\n"
               "  --load-model NAME          in explicit mode, load NAME at start (repeatable)\n"
               "  --repository-poll-secs N   poll interval in poll mode (default 15)\n"
               "  --config FILE              server config (JSON: control, limits, timeouts)\n"
               "  --log-file FILE            JSON-lines log (default stderr)\n"
               "  --access-log on|off        one log line per request (default on)\n"
               "  --threads N                kernel threads, one pool shared by every model (0: "
               "all CPUs)\n"
               "  --max-connections N        concurrent connections per listener (default 1024)\n");
}

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "loomd: %s takes an integer in %d..%d, got '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A group name or numeric gid. */
static int parse_group(const char *s, gid_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s && !*end && !errno && v >= 0 && v < 0x7fffffff) {
        *out = (gid_t)v;
        return 0;
    }
    struct group *g = getgrnam(s);
    if (!g) {
        fprintf(stderr, "loomd: --socket-group: no group '%s'\n", s);
        return -1;
    }
    *out = g->gr_gid;
    return 0;
}

/* An octal mode for the socket file: read/write bits only (0600..0666). */
static int parse_mode(const char *s, mode_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 8);
    if (!*s || *end || errno || (v & ~0666L) || !(v & 0600)) {
        fprintf(stderr,
                "loomd: --socket-mode takes octal read/write bits with the owner's "
                "(0600..0666), got '%s'\n",
                s);
        return -1;
    }
    *out = (mode_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, server_config *c, int *poll_secs, int *access)
{
    for (int i = 1; i < argc; i++) {
        /* "--flag value" or "--flag=value" (the form KServe's runtimes use). */
        char flag[64];
        const char *a = argv[i], *v = NULL, *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) == 0 && eq && eq - a < (long)sizeof(flag)) {
            snprintf(flag, sizeof(flag), "%.*s", (int)(eq - a), a);
            a = flag;
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "loomd: %s needs a value (see --help)\n", a);
            return -1;
        }
        if (strcmp(a, "--model-repository") == 0) {
            c->repository = v;
        } else if (strcmp(a, "--socket") == 0) {
            c->socket_path = v;
        } else if (strcmp(a, "--http-port") == 0) {
            if (parse_int(a, v, 0, 65535, &c->http_port))
                return -1;
        } else if (strcmp(a, "--http-address") == 0) {
            c->http_address = v;
        } else if (strcmp(a, "--socket-group") == 0) {
            if (parse_group(v, &c->socket_gid))
                return -1;
        } else if (strcmp(a, "--socket-mode") == 0) {
            if (parse_mode(v, &c->socket_mode))
                return -1;
        } else if (strcmp(a, "--model-name") == 0) {
            c->model_name = v;
        } else if (strcmp(a, "--model-control-mode") == 0) {
            if (strcmp(v, "none") == 0)
                c->mode = CONTROL_NONE;
            else if (strcmp(v, "poll") == 0)
                c->mode = CONTROL_POLL;
            else if (strcmp(v, "explicit") == 0)
                c->mode = CONTROL_EXPLICIT;
            else {
                fprintf(stderr, "loomd: --model-control-mode is none, poll or explicit\n");
                return -1;
            }
        } else if (strcmp(a, "--load-model") == 0) {
            if (c->n_load_models == 64) {
                fprintf(stderr, "loomd: at most 64 --load-model\n");
                return -1;
            }
            c->load_models[c->n_load_models++] = v;
        } else if (strcmp(a, "--repository-poll-secs") == 0) {
            if (parse_int(a, v, 1, 86400, poll_secs))
                return -1;
        } else if (strcmp(a, "--config") == 0) {
            c->config_file = v;
        } else if (strcmp(a, "--log-file") == 0) {
            c->log_file = v;
        } else if (strcmp(a, "--access-log") == 0) {
            *access = strcmp(v, "off") != 0;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_int(a, v, 0, 1024, &c->threads))
                return -1;
        } else if (strcmp(a, "--max-connections") == 0) {
            if (parse_int(a, v, 1, 65536, &c->max_connections))
                return -1;
        } else {
            fprintf(stderr, "loomd: unknown option '%s' (see --help)\n", a);
            return -1;
        }
    }
    if (!c->repository) {
        fprintf(stderr, "loomd: --model-repository is required\n");
        return -1;
    }
    return 0;
}

/* The policy from --config with the command line's overrides on top. */
static int load_policy(const server_config *c, int poll_secs, int access, server_policy *p,
                       char *err, size_t errlen)
{
    server_policy_defaults(p);
    if (c->config_file && server_policy_load(c->config_file, p, err, errlen))
        return -1;
    if (poll_secs > 0)
        p->poll_interval_s = poll_secs;
    if (access >= 0)
        p->access_log = access;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int initial_load(loomd *d)
{
    if (d->cfg.mode != CONTROL_EXPLICIT)
        return repo_sync(d->repo);
    int failed = 0;
    for (int i = 0; i < d->cfg.n_load_models; i++) {
        char err[512];
        if (repo_load(d->repo, d->cfg.load_models[i], err, sizeof(err)))
            failed++; /* logged by the repository */
    }
    return failed;
}

/* SIGTERM: not ready, finish what is in flight, stop. Returns the exit code. */
static int drain(loomd *d, http_listener **ls, int n_ls)
{
    atomic_store(&d->draining, true);
    server_policy pol = loomd_policy(d);
    evlog_event(d->log, "info", "draining", "%d request(s) in flight, deadline %d s",
                atomic_load(&d->inflight), pol.drain_timeout_s);
    repo_flush(d->repo); /* queued requests run now rather than after batching delays */
    double deadline = now_s() + pol.drain_timeout_s;
    while (atomic_load(&d->inflight) > 0 && now_s() < deadline)
        usleep(5000);
    int left = atomic_load(&d->inflight);
    if (left > 0) {
        /* Stopping the listeners would wait for those threads: leave without cleanup. */
        evlog_event(d->log, "error", "drain_timeout", "%d request(s) still in flight", left);
        _exit(1);
    }
    for (int i = 0; i < n_ls; i++)
        http_stop(ls[i]);
    evlog_event(d->log, "info", "stopped", "drained");
    return 0;
}

int main(int argc, char **argv)
{
    static loomd d;
    int poll_secs = 0, access = -1;
    d.cfg.http_port = -1;
    d.cfg.socket_gid = (gid_t)-1;
    d.cfg.socket_mode = 0660;
    if (parse_args(argc, argv, &d.cfg, &poll_secs, &access))
        return 2;
    char err[512];
    if (load_policy(&d.cfg, poll_secs, access, &d.policy, err, sizeof(err))) {
        fprintf(stderr, "loomd: %s\n", err);
        return 2;
    }
    pthread_mutex_init(&d.policy_lock, NULL);
    d.euid = geteuid();
    d.log = evlog_open(d.cfg.log_file, d.policy.access_log);
    d.metrics = metrics_create();
    if (!d.log || !d.metrics) {
        fprintf(stderr, "loomd: cannot open the log %s: %s\n",
                d.cfg.log_file ? d.cfg.log_file : "(stderr)", strerror(errno));
        return 1;
    }

    /* Signals are taken synchronously by the main thread; workers inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Check the repository before binding, so a typo leaves no socket file behind. */
    if (repo_create(d.cfg.repository, d.cfg.threads, d.metrics, d.log, &d.repo, err, sizeof(err))) {
        fprintf(stderr, "loomd: %s\n", err);
        return 1;
    }
    if (d.cfg.model_name) {
        int single = repo_serve_single(d.repo, d.cfg.model_name, err, sizeof(err));
        if (single < 0) {
            fprintf(stderr, "loomd: %s\n", err);
            return 1;
        }
        evlog_event(d.log, "info", "repository", "%s: %s", d.cfg.repository,
                    single ? "one model's directory" : "a repository");
    }
    int ufd, tfd;
    char tcp_at[80] = "-1";
    char sock_buf[256];
    const char *sock_path = NULL;
    bool activated = listen_systemd(&ufd, &tfd) > 0;
    if (tfd >= 0)
        snprintf(tcp_at, sizeof(tcp_at), "(systemd)");
    if (ufd < 0) {
        sock_path = d.cfg.socket_path ? d.cfg.socket_path
                                      : listen_default_socket_path(sock_buf, sizeof(sock_buf));
        ufd = listen_unix(sock_path, d.cfg.socket_mode, d.cfg.socket_gid, err, sizeof(err));
        if (ufd < 0) {
            fprintf(stderr, "loomd: %s\n", err);
            return 1;
        }
    }
    struct stat st;
    d.socket_gid =
        fstat(ufd, &st) == 0 && sock_path && stat(sock_path, &st) == 0 ? st.st_gid : getegid();
    if (tfd < 0 && d.cfg.http_port >= 0) {
        tfd = listen_tcp(d.cfg.http_address ? d.cfg.http_address : "127.0.0.1", d.cfg.http_port,
                         tcp_at, sizeof(tcp_at), err, sizeof(err));
        if (tfd < 0) {
            fprintf(stderr, "loomd: %s\n", err);
            return 1;
        }
    }
    /* Load before listening: clients see a socket only once models are warm. Ready
     * stays true with failed models (they report unavailable), as Triton's does with
     * --strict-readiness off. */
    int failed = initial_load(&d);
    http_listener *ls[2];
    int n_ls = 0;
    if (http_start(&d, ufd, "unix", &ls[n_ls++], err, sizeof(err)) ||
        (tfd >= 0 && http_start(&d, tfd, "tcp", &ls[n_ls++], err, sizeof(err)))) {
        fprintf(stderr, "loomd: %s\n", err);
        return 1;
    }
    evlog_event(d.log, "info", "listening", "socket=%s%s tcp=%s models_failed=%d",
                sock_path ? sock_path : "(systemd)", activated ? " (activated)" : "",
                tfd >= 0 ? tcp_at : "-1", failed);

    double next_poll = now_s() + d.policy.poll_interval_s, next_idle = now_s() + 1;
    int rc = 0;
    for (;;) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            rc = drain(&d, ls, n_ls);
            break;
        }
        if (sig == SIGHUP) {
            server_policy p;
            if (load_policy(&d.cfg, poll_secs, access, &p, err, sizeof(err)) == 0) {
                pthread_mutex_lock(&d.policy_lock);
                d.policy = p;
                pthread_mutex_unlock(&d.policy_lock);
                evlog_event(d.log, "info", "reloaded", "config reread");
            } else {
                evlog_event(d.log, "error", "reload_failed", "%s", err);
            }
            if (d.cfg.mode != CONTROL_EXPLICIT)
                repo_sync(d.repo);
        }
        if (d.cfg.mode == CONTROL_POLL && now_s() >= next_poll) {
            repo_sync(d.repo);
            next_poll = now_s() + loomd_policy(&d).poll_interval_s;
        }
        if (now_s() >= next_idle) { /* runs do it too, but an idle server has none */
            repo_release_idle(d.repo);
            next_idle = now_s() + 1;
        }
    }
    repo_destroy(d.repo);
    if (sock_path)
        unlink(sock_path);
    metrics_destroy(d.metrics);
    evlog_close(d.log);
    return rc;
}
