/*
 * failover_guest.c - failover through loom.ko inside the QEMU guest
 * (tests/kernel/init.sh): no run is lost when loom-cardsim hangs or dies
 * under many runs in flight, and the runtime takes the card back once it
 * answers again.
 *
 *   failover_guest MODEL IMAGES COUNT THREADS hang SIM_FAULT_FILE
 *   failover_guest MODEL IMAGES COUNT THREADS kill
 *
 * MODEL is the int8 Fashion-MNIST model, IMAGES its u8 test images. The CPU
 * first computes the logits of COUNT images; then THREADS threads run them
 * on "card:0" (the CPU its fallback), and once a third have answered the
 * card is made to fail: "hang" writes `hang` to the card's debugfs
 * sim_fault file (loom.ko times the jobs out and resets the card); "kill"
 * prints LOOM-KILL-CARD, on which run-qemu.sh kills loom-cardsim's firmware.
 * Every run must succeed with exactly the CPU's logits (the card's int8 path
 * is bit-identical to the CPU's), and card:0 must show the failover. After a
 * kill the CPU answers while the card is gone; then LOOM-RESTART-CARD has
 * the firmware restarted. Either way the card must then pass its
 * known-answer test and take work again.
 * Prints "ok N failover.NAME" lines, exits 0 when all passed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loom/loom.h"

/* Numbered after init.sh's and run.sh's lines: 41.. for hang, 51.. for kill. */
static int tests_run, tests_failed;

static void check(int ok, const char *fault, const char *name)
{
    tests_run++;
    tests_failed += !ok;
    printf("%s %d failover.%s_%s\n", ok ? "ok" : "not ok", tests_run, fault, name);
    fflush(stdout);
}

typedef struct {
    loom_model *model;
    const uint8_t *images;
    const float *want; /* the CPU's logits, [count][10] */
    int count;
    const char *fault, *fault_file;
    atomic_int next, answered, wrong, failed;
} workload;

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int bad = fputs(text, f) < 0;
    return fclose(f) || bad ? -1 : 0;
}

/* Logits of image @i from @m into @out[10]. */
static loom_status classify(loom_model *m, const uint8_t *images, int i, float *out)
{
    float x[784];
    int64_t dims[4] = {1, 1, 28, 28};
    for (int k = 0; k < 784; k++)
        x[k] = (float)images[(size_t)i * 784 + (size_t)k] / 255.0f;
    loom_tensor *in = NULL, *y = NULL;
    loom_status s = loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, dims, x, sizeof(x), &in);
    if (!s)
        s = loom_model_run(m, &in, 1, &y, 1);
    if (!s)
        memcpy(out, loom_tensor_data(y), sizeof(float) * 10);
    loom_tensor_destroy(in);
    loom_tensor_destroy(y);
    return s;
}

static void inject(const workload *w)
{
    if (!strcmp(w->fault, "hang")) {
        if (write_file(w->fault_file, "hang"))
            printf("# cannot write %s\n", w->fault_file);
    } else {
        printf("LOOM-KILL-CARD\n"); /* run-qemu.sh's watcher kills loom-cardsim */
    }
    fflush(stdout);
}

static void *worker(void *arg)
{
    workload *w = arg;
    for (int i; (i = atomic_fetch_add(&w->next, 1)) < w->count;) {
        float got[10];
        loom_status s = classify(w->model, w->images, i, got);
        if (s) {
            if (atomic_fetch_add(&w->failed, 1) == 0)
                printf("# run %d: %s\n", i, loom_last_error());
        } else if (memcmp(got, w->want + (size_t)i * 10, sizeof(got))) {
            atomic_fetch_add(&w->wrong, 1);
        }
        if (atomic_fetch_add(&w->answered, 1) + 1 == w->count / 3)
            inject(w);
    }
    return NULL;
}

static loom_status card_stats(loom_context *ctx, loom_device_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->struct_size = sizeof(*st);
    return loom_context_device_stats(ctx, 0, st); /* card:0 first, the CPU last */
}

/* Waits up to @secs for card:0 to be back in service. */
static int healthy_within(loom_context *ctx, int secs)
{
    loom_device_stats st;
    for (int i = 0; i < secs * 10; i++) {
        if (!card_stats(ctx, &st) && st.state == LOOM_DEVICE_HEALTHY)
            return 1;
        usleep(100000);
    }
    return 0;
}

/* Runs @n images again on @ctx's model; how many answered the CPU's logits. */
static int rerun(workload *w, int n)
{
    int good = 0;
    for (int i = 0; i < n; i++) {
        float got[10];
        good += !classify(w->model, w->images, i, got) &&
                !memcmp(got, w->want + (size_t)i * 10, sizeof(got));
    }
    return good;
}

static loom_status load(const char *device, const char *path, loom_context **ctx, loom_model **m)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = device;
    loom_status s = loom_context_create(&o, ctx);
    if (!s)
        s = loom_model_load_file(*ctx, path, m);
    if (!s)
        s = loom_model_bind_dim(*m, "batch", 1);
    return s;
}

static void *read_images(const char *path, int count)
{
    size_t bytes = (size_t)count * 784;
    uint8_t *buf = malloc(bytes);
    FILE *f = fopen(path, "rb");
    if (!buf || !f || fread(buf, 1, bytes, f) != bytes) {
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    return buf;
}

static int failover(workload *w, loom_context *ctx, int threads)
{
    loom_device_stats before, after;
    card_stats(ctx, &before);
    pthread_t tid[64];
    threads = threads > 64 ? 64 : threads;
    for (int t = 0; t < threads; t++)
        pthread_create(&tid[t], NULL, worker, w);
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    card_stats(ctx, &after);
    printf("# %d runs on %d threads: %d failed, %d wrong; card:0 jobs %llu -> %llu, failovers "
           "%llu, quarantines %llu, state %d\n",
           w->count, threads, atomic_load(&w->failed), atomic_load(&w->wrong),
           (unsigned long long)before.jobs, (unsigned long long)after.jobs,
           (unsigned long long)after.failovers, (unsigned long long)after.quarantines,
           (int)after.state);
    check(after.jobs > before.jobs, w->fault, "card0_ran_runs_before_the_fault");
    check(atomic_load(&w->failed) == 0 && atomic_load(&w->wrong) == 0, w->fault,
          "every_run_answers_the_cpu_logits");
    /* (After a hang, loom.ko's reset revives the card: it may be back already.) */
    check(after.failovers > before.failovers && after.quarantines > before.quarantines, w->fault,
          "card0_failed_over_and_left_service");
    if (!strcmp(w->fault, "hang")) {
        write_file(w->fault_file, "none");
    } else {
        card_stats(ctx, &before);
        int good = rerun(w, 20);
        card_stats(ctx, &after);
        check(good == 20 && after.state != LOOM_DEVICE_HEALTHY, w->fault,
              "the_cpu_answers_while_card0_is_gone");
        printf("LOOM-RESTART-CARD\n"); /* run-qemu.sh's watcher restarts the firmware */
        fflush(stdout);
    }
    check(healthy_within(ctx, 30) && !card_stats(ctx, &after) &&
              after.readmissions > before.readmissions,
          w->fault, "card0_passes_its_known_answer_test");
    card_stats(ctx, &before);
    int good = rerun(w, 20);
    card_stats(ctx, &after);
    check(good == 20 && after.jobs > before.jobs, w->fault, "card0_takes_work_again");
    return tests_failed != 0;
}

int main(int argc, char **argv)
{
    if (argc < 6 || (!strcmp(argv[5], "hang") ? argc != 7 : strcmp(argv[5], "kill") != 0)) {
        fprintf(stderr, "usage: failover_guest MODEL IMAGES COUNT THREADS hang SIM_FAULT_FILE\n"
                        "       failover_guest MODEL IMAGES COUNT THREADS kill\n");
        return 2;
    }
    workload w = {.count = atoi(argv[3]), .fault = argv[5], .fault_file = argv[6]};
    tests_run = !strcmp(w.fault, "hang") ? 40 : 50;
    loom_context *cpu = NULL, *card = NULL;
    loom_model *m = NULL;
    float *want = malloc(sizeof(float) * 10 * (size_t)(w.count > 0 ? w.count : 1));
    w.images = read_images(argv[2], w.count);
    loom_status s = !want || !w.images || w.count < 3 ? LOOM_ERR_INVALID_ARGUMENT
                                                      : load("cpu", argv[1], &cpu, &m);
    for (int i = 0; !s && i < w.count; i++)
        s = classify(m, w.images, i, want + (size_t)i * 10);
    loom_model_destroy(m);
    m = NULL;
    if (!s)
        s = load("card:0", argv[1], &card, &m);
    if (s) {
        printf("not ok %d failover.%s_setup # %s\n", ++tests_run, w.fault, loom_last_error());
        return 1;
    }
    w.model = m;
    w.want = want;
    int rc = failover(&w, card, atoi(argv[4]));
    loom_model_destroy(m);
    loom_context_destroy(card);
    loom_context_destroy(cpu);
    free(want);
    free((void *)w.images);
    return rc;
}
