/*
 * loom-cardsim: one Loom card in a host process, behind QEMU's
 * ivshmem-doorbell device. It is its own ivshmem server (QEMU's
 * docs/specs/ivshmem-spec.txt): it owns the shared memory and the eventfds,
 * answers QEMU's connection, and runs the card model from hls/card.
 *
 * The memory and eventfds live as long as the process, so a "dead" card
 * (fault DIE) comes back when the host resets it, as an FLR would.
 *
 * The process is the board: it holds the memory, the eventfds and QEMU's
 * connection, and runs the card's firmware (the command processor and the
 * heartbeat) in a child process. SIGUSR2 kills the firmware, as a crash
 * would: the heartbeat stops, taken commands never complete, and the host
 * sees a dead card while QEMU's device stays. SIGUSR1 starts it again: the
 * heartbeat comes back, and so does the card once its driver resets it. The
 * card's state (the programmed CUs, the counters) lives in memory the board
 * shares with its firmware, so a restart keeps the bitstream, as an FPGA's
 * fabric keeps its configuration while its management firmware reboots.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../hls/card/loom_card.h"

#define CARD_PEER  0
#define GUEST_PEER 1

struct sim {
    struct loom_card card;
    int listen_fd;
    int client_fd;
    int shm_fd;
    int card_efd[LOOM_NUM_VECTORS];  /* the guest rings these (doorbell) */
    int guest_efd[LOOM_NUM_VECTORS]; /* we write these to raise MSI-X */
    uint64_t interrupts;
    uint64_t doorbells;
    uint64_t stale_irqs; /* completions held back until HOST_READY */
    int fault;           /* from --fault, applies until the guest writes SIM_FAULT */
    uint32_t fault_arg;
    long exit_after; /* --fault exit:N: exit after N commands */
    int dead;
    int irq_pending;
};

static volatile sig_atomic_t stop, crash, restart;

static void on_signal(int sig)
{
    if (sig == SIGUSR2)
        crash = 1;
    else if (sig == SIGUSR1)
        restart = 1;
    else
        stop = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: loom-cardsim -s SOCKET [-m MiB] [-n SLOTS] [-N NAME]\n"
                    "                    [-f hang|slow:US|corrupt|die|exit:N] [-p PIDFILE]\n"
                    "Serves one Loom card to one QEMU ivshmem-doorbell device (vectors=2).\n"
                    "SIGUSR2 kills the card's firmware (a crash), SIGUSR1 restarts it.\n"
                    "Prints stats on exit (SIGINT/SIGTERM).\n");
}

static int send_msg(int fd, int64_t val, int passfd)
{
    struct msghdr msg = {0};
    struct iovec iov;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    int64_t le = (int64_t)htole64((uint64_t)val);

    iov.iov_base = &le;
    iov.iov_len = sizeof(le);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (passfd >= 0) {
        struct cmsghdr *cm;

        memset(&u, 0, sizeof(u));
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
    }
    return sendmsg(fd, &msg, 0) == (ssize_t)sizeof(le) ? 0 : -1;
}

/* The ivshmem server's greeting, in the order QEMU requires. */
static int greet(struct sim *s, int fd)
{
    int i;

    if (send_msg(fd, 0, -1) || send_msg(fd, GUEST_PEER, -1) || send_msg(fd, -1, s->shm_fd))
        return -1;
    for (i = 0; i < LOOM_NUM_VECTORS; i++)
        if (send_msg(fd, CARD_PEER, s->card_efd[i]))
            return -1;
    for (i = 0; i < LOOM_NUM_VECTORS; i++)
        if (send_msg(fd, GUEST_PEER, s->guest_efd[i]))
            return -1;
    return 0;
}

static void raise_irq(struct sim *s, int vec)
{
    uint64_t one = 1;

    if (!loom_card_host_ready(&s->card)) {
        s->stale_irqs++;
        s->irq_pending = 1;
        return;
    }
    if (write(s->guest_efd[vec], &one, sizeof(one)) == sizeof(one))
        s->interrupts++;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int current_fault(struct sim *s, uint32_t *arg)
{
    uint32_t f = loom_card_reg_read(&s->card, LOOM_REG_SIM_FAULT);

    *arg = loom_card_reg_read(&s->card, LOOM_REG_SIM_FAULT_ARG);
    if (f == LOOM_SIM_FAULT_NONE && s->fault != LOOM_SIM_FAULT_NONE) {
        *arg = s->fault_arg;
        return s->fault;
    }
    return (int)f;
}

/* Run every command the host has produced; interrupt once per batch. */
static void run_card(struct sim *s)
{
    struct loom_card_cpl cpl;
    int done = 0;
    uint32_t arg;

    if (loom_card_reset_requested(&s->card)) {
        loom_card_reset(&s->card);
        s->dead = 0;
        /* A reset clears an injected fault, as a real FLR clears a wedged CU. */
        loom_card_reg_write(&s->card, LOOM_REG_SIM_FAULT, LOOM_SIM_FAULT_NONE);
        s->fault = LOOM_SIM_FAULT_NONE;
    }
    if (s->dead)
        return;
    for (;;) {
        int fault = current_fault(s, &arg);

        if (fault == LOOM_SIM_FAULT_DIE) {
            s->dead = 1;
            return;
        }
        if (!loom_card_take(&s->card, &cpl))
            break;
        /*
         * Read the fault again after the take: the host sets it before it
         * submits, so the register now holds the fault the command was sent
         * under. Read only before, a fault set while this loop ran would miss
         * the very command submitted to meet it.
         */
        fault = current_fault(s, &arg);
        if (fault == LOOM_SIM_FAULT_DIE) {
            s->dead = 1;
            return;
        }
        if (fault == LOOM_SIM_FAULT_HANG)
            continue; /* swallowed: taken, never completed */
        if (fault == LOOM_SIM_FAULT_SLOW)
            usleep(arg);
        if (fault == LOOM_SIM_FAULT_CORRUPT)
            cpl.seqno ^= htole32(0x5a5a0000u);
        loom_card_post(&s->card, &cpl);
        done++;
        if (s->exit_after > 0 && (long)s->card.commands >= s->exit_after) {
            fprintf(stderr, "loom-cardsim: exiting after %ld commands (fault exit)\n",
                    s->exit_after);
            exit(3);
        }
    }
    if (done || (s->irq_pending && loom_card_host_ready(&s->card))) {
        s->irq_pending = 0;
        raise_irq(s, LOOM_VEC_COMPLETION);
    }
}

static int listen_on(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    strcpy(sa.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int parse_fault(struct sim *s, const char *f)
{
    if (!strcmp(f, "hang"))
        s->fault = LOOM_SIM_FAULT_HANG;
    else if (!strncmp(f, "slow:", 5)) {
        s->fault = LOOM_SIM_FAULT_SLOW;
        s->fault_arg = (uint32_t)strtoul(f + 5, NULL, 0);
    } else if (!strcmp(f, "corrupt"))
        s->fault = LOOM_SIM_FAULT_CORRUPT;
    else if (!strcmp(f, "die"))
        s->fault = LOOM_SIM_FAULT_DIE;
    else if (!strncmp(f, "exit:", 5))
        s->exit_after = strtol(f + 5, NULL, 0);
    else
        return -1;
    return 0;
}

/* The card's firmware, in its own process: runs every command the host
 * produced, and the heartbeat, until SIGTERM (or a fault exit). */
static void firmware(struct sim *s)
{
    uint64_t last_tick = now_us();
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
    for (;;) {
        struct pollfd pfd = {.fd = s->card_efd[0], .events = POLLIN};
        uint64_t t, v;

        if (poll(&pfd, 1, 5) > 0 && read(s->card_efd[0], &v, sizeof(v)) == sizeof(v))
            s->doorbells += v;
        /*
         * Poll the ring on every wakeup too: a doorbell rung before the
         * card's eventfd was connected is lost, a tail in memory is not.
         */
        run_card(s);
        t = now_us();
        if (t - last_tick >= 5000 && !s->dead) {
            loom_card_tick(&s->card, 45000 + (uint32_t)(s->card.commands % 1000),
                           25000 + (uint32_t)(s->card.commands % 500));
            last_tick = t;
        }
    }
}

/* Starts the firmware process; its pid, or -1. */
static pid_t boot_firmware(struct sim *s)
{
    pid_t pid = fork();

    if (pid == 0) {
        s->dead = 0; /* a fresh firmware, whatever the last one ran into */
        firmware(s);
        _exit(0);
    }
    if (pid < 0)
        perror("loom-cardsim: fork");
    return pid;
}

/* QEMU's connection: accepts it (one guest per card) and notices it go. */
static void serve_guest(struct sim *s, const struct pollfd *pfd)
{
    if (pfd[0].revents & POLLIN) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

        if (fd >= 0 && s->client_fd >= 0) {
            close(fd); /* one guest per card */
        } else if (fd >= 0) {
            if (greet(s, fd)) {
                perror("loom-cardsim: greeting");
                close(fd);
            } else {
                s->client_fd = fd;
            }
        }
    }
    if (s->client_fd >= 0 && (pfd[1].revents & (POLLHUP | POLLERR | POLLIN))) {
        char b[8];

        if (read(s->client_fd, b, sizeof(b)) <= 0) {
            close(s->client_fd);
            s->client_fd = -1; /* QEMU went away */
        }
    }
}

/* The board: serves QEMU, and kills and restarts the firmware on request,
 * until SIGINT/SIGTERM or the firmware's fault exit. */
static void board(struct sim *s)
{
    pid_t fw = boot_firmware(s);
    int status;

    while (!stop) {
        struct pollfd pfd[2] = {
            {.fd = s->listen_fd, .events = POLLIN},
            {.fd = s->client_fd, .events = POLLIN},
        };

        if (poll(pfd, s->client_fd >= 0 ? 2 : 1, 50) < 0 && errno != EINTR)
            break;
        serve_guest(s, pfd);
        if (crash && fw > 0) {
            kill(fw, SIGKILL);
            fprintf(stderr, "loom-cardsim: firmware killed (a crash)\n");
        }
        crash = 0;
        if (fw > 0 && waitpid(fw, &status, WNOHANG) == fw) {
            fw = -1;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
                exit(3); /* the fault exit ends the card, board and all */
        }
        if (restart && fw < 0) {
            fw = boot_firmware(s);
            fprintf(stderr, "loom-cardsim: firmware restarted\n");
        }
        restart = 0;
    }
    if (fw > 0) {
        kill(fw, SIGTERM);
        waitpid(fw, &status, 0);
    }
}

int main(int argc, char **argv)
{
    /* Shared with the firmware process, so its state outlives a crash. */
    struct sim *sim =
        mmap(NULL, sizeof(struct sim), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sim == MAP_FAILED) {
        perror("loom-cardsim: mmap");
        return 1;
    }
    *sim = (struct sim){.client_fd = -1};
    const char *sock = NULL, *name = "loom-cardsim", *pidfile = NULL;
    uint64_t mib = 64;
    unsigned long slots = 256;
    void *mem;
    int opt, i;

    while ((opt = getopt(argc, argv, "s:m:n:N:f:p:h")) != -1) {
        switch (opt) {
        case 's':
            sock = optarg;
            break;
        case 'm':
            mib = strtoull(optarg, NULL, 0);
            break;
        case 'n':
            slots = strtoul(optarg, NULL, 0);
            break;
        case 'N':
            name = optarg;
            break;
        case 'f':
            if (parse_fault(sim, optarg)) {
                usage();
                return 2;
            }
            break;
        case 'p':
            pidfile = optarg;
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!sock || mib < 2 || (mib & (mib - 1)) || mib > 4096) {
        usage();
        fprintf(stderr, "loom-cardsim: need -s SOCKET and a power-of-two -m (MiB)\n");
        return 2;
    }

    sim->shm_fd = memfd_create("loom-card", MFD_CLOEXEC);
    if (sim->shm_fd < 0 || ftruncate(sim->shm_fd, (off_t)(mib << 20))) {
        perror("loom-cardsim: memfd");
        return 1;
    }
    mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_SHARED, sim->shm_fd, 0);
    if (mem == MAP_FAILED) {
        perror("loom-cardsim: mmap");
        return 1;
    }
    if (loom_card_init(&sim->card, mem, mib << 20, (uint32_t)slots, name, CARD_PEER)) {
        fprintf(stderr, "loom-cardsim: bad geometry (slots must be a power of two, 2..4096)\n");
        return 2;
    }
    for (i = 0; i < LOOM_NUM_VECTORS; i++) {
        sim->card_efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        sim->guest_efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (sim->card_efd[i] < 0 || sim->guest_efd[i] < 0) {
            perror("loom-cardsim: eventfd");
            return 1;
        }
    }
    sim->listen_fd = listen_on(sock);
    if (sim->listen_fd < 0) {
        perror("loom-cardsim: listen");
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (pidfile) {
        FILE *f = fopen(pidfile, "w");

        if (f) {
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
        }
    }
    fprintf(stderr, "loom-cardsim: %s, %llu MiB, %lu slots, listening on %s\n", name,
            (unsigned long long)mib, slots, sock);

    signal(SIGUSR1, on_signal);
    signal(SIGUSR2, on_signal);
    board(sim);
    fprintf(stderr,
            "loom-cardsim: stats: commands=%llu errors=%llu doorbells=%llu "
            "interrupts=%llu resets=%llu held_irqs=%llu\n",
            (unsigned long long)sim->card.commands, (unsigned long long)sim->card.errors,
            (unsigned long long)sim->doorbells, (unsigned long long)sim->interrupts,
            (unsigned long long)sim->card.resets, (unsigned long long)sim->stale_irqs);
    unlink(sock);
    return 0;
}
