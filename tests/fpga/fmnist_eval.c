/*
 * fmnist_eval.c - the Fashion-MNIST CNN on a Loom card against the fp32 CPU
 * result, and the end-to-end check through loom.ko.
 *
 *   fmnist_eval --int8 Q.onnx --images F --labels F [--fp32 M.onnx] [--device card:0]
 *               [--count N] [--batch B] [--emulated N] [--write OUT] [--expect OUT]
 *
 * With --fp32: top-1 of the int8 model on the device must agree with the
 * fp32 model on the CPU on >= 99% of the images and lose <= 1 point of
 * accuracy, and its logits must equal the int8 model's on the CPU backend
 * bit for bit (the card requantizes as the CPU does); both accuracies, the
 * logits that differ and the int8 model's speed on the CPU are printed.
 * --write stores the device's logits (float32, as the model's
 * DequantizeLinear makes them from the card's int8 output) and --expect
 * compares with such a file byte for byte: the guest in QEMU checks
 * loom.ko + loom-cardsim against the emulated card this way.
 * Prints TAP-like "ok N name" lines, then "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loom/loom.h"

static int tests_run, tests_failed;

static void check(int ok, const char *fmt, const char *what)
{
    tests_run++;
    tests_failed += !ok;
    printf("%s %d fpga.", ok ? "ok" : "not ok", tests_run);
    printf(fmt, what);
    printf("\n");
    fflush(stdout);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Runs @path on @device over @count images in batches; logits into @out
 * [count,10]; returns seconds spent in runs, or -1. */
static double run_model(const char *path, const char *device, int emulated, const uint8_t *img,
                        int count, int batch, float *out)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = device;
    o.emulated_cards = emulated;
    loom_context *ctx = NULL;
    loom_model *m = NULL;
    if (loom_context_create(&o, &ctx) || loom_model_load_file(ctx, path, &m) ||
        loom_model_bind_dim(m, "batch", batch)) {
        fprintf(stderr, "fmnist_eval: %s on %s: %s\n", path, device, loom_last_error());
        loom_context_destroy(ctx);
        return -1;
    }
    int64_t dims[4] = {batch, 1, 28, 28};
    float *x = malloc(sizeof(float) * 784 * (size_t)batch);
    double t = 0;
    for (int b0 = 0; b0 + batch <= count; b0 += batch) {
        for (int i = 0; i < 784 * batch; i++)
            x[i] = (float)img[(size_t)b0 * 784 + (size_t)i] / 255.0f;
        loom_tensor *in, *y;
        loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, dims, x, sizeof(float) * 784 * (size_t)batch, &in);
        double t0 = now();
        loom_status s = loom_model_run(m, &in, 1, &y, 1);
        t += now() - t0;
        loom_tensor_destroy(in);
        if (s) {
            fprintf(stderr, "fmnist_eval: %s on %s: %s\n", path, device, loom_last_error());
            t = -1;
            break;
        }
        memcpy(out + (size_t)b0 * 10, loom_tensor_data(y), sizeof(float) * 10 * (size_t)batch);
        loom_tensor_destroy(y);
    }
    free(x);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    return t;
}

static int argmax(const float *v)
{
    int k = 0;
    for (int i = 1; i < 10; i++)
        if (v[i] > v[k])
            k = i;
    return k;
}

int main(int argc, char **argv)
{
    const char *fp32 = NULL, *int8 = NULL, *images = NULL, *labels = NULL, *device = "card:0";
    const char *write = NULL, *expect = NULL;
    int count = 10000, batch = 100, emulated = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--fp32"))
            fp32 = v;
        else if (!strcmp(k, "--int8"))
            int8 = v;
        else if (!strcmp(k, "--images"))
            images = v;
        else if (!strcmp(k, "--labels"))
            labels = v;
        else if (!strcmp(k, "--device"))
            device = v;
        else if (!strcmp(k, "--count"))
            count = atoi(v);
        else if (!strcmp(k, "--batch"))
            batch = atoi(v);
        else if (!strcmp(k, "--emulated"))
            emulated = atoi(v);
        else if (!strcmp(k, "--write"))
            write = v;
        else if (!strcmp(k, "--expect"))
            expect = v;
        else {
            fprintf(stderr, "fmnist_eval: unknown option %s\n", k);
            return 2;
        }
    }
    size_t isz = 0, lsz = 0;
    uint8_t *img = images ? read_all(images, &isz) : NULL;
    uint8_t *lab = labels ? read_all(labels, &lsz) : NULL;
    if (!int8 || !img || batch < 1) {
        fprintf(stderr, "usage: fmnist_eval --int8 Q.onnx --images F [--labels F] [--fp32 M]\n");
        return 2;
    }
    if ((size_t)count * 784 > isz)
        count = (int)(isz / 784);
    count -= count % batch;
    float *lq = calloc((size_t)count * 10, sizeof(float));
    float *lf = calloc((size_t)count * 10, sizeof(float));

    double tq = run_model(int8, device, emulated, img, count, batch, lq);
    check(tq >= 0, "int8_model_runs_on_%s", device);
    if (tq < 0)
        goto done;
    printf("# int8 on %s: %d images in %.2f s (%.1f images/s)\n", device, count, tq,
           (double)count / tq);
    if (write) {
        FILE *f = fopen(write, "wb");
        int ok = f && fwrite(lq, sizeof(float) * 10, (size_t)count, f) == (size_t)count;
        ok &= f && fclose(f) == 0;
        check(ok, "wrote_%s", write);
    }
    if (expect) {
        size_t esz = 0;
        float *want = read_all(expect, &esz);
        int ok = want && esz == sizeof(float) * 10 * (size_t)count && memcmp(want, lq, esz) == 0;
        int differ = 0;
        for (int i = 0; want && i < count && (size_t)(i + 1) * 40 <= esz; i++)
            differ += memcmp(want + 10 * i, lq + 10 * i, 40) != 0;
        printf("# %d of %d images differ from the emulated card's logits\n", differ, count);
        check(ok, "bit_identical_to_emulated_card_on_%s", device);
        free(want);
    }
    if (fp32 && lab && lsz >= (size_t)count) {
        double tf = run_model(fp32, "cpu", -1, img, count, batch, lf);
        check(tf >= 0, "fp32_model_runs_on_%s", "cpu");
        if (tf < 0)
            goto done;
        int agree = 0, okq = 0, okf = 0;
        for (int i = 0; i < count; i++) {
            int pq = argmax(lq + 10 * i), pf = argmax(lf + 10 * i);
            agree += pq == pf;
            okq += pq == lab[i];
            okf += pf == lab[i];
        }
        double accq = 100.0 * okq / count, accf = 100.0 * okf / count;
        double agr = 100.0 * agree / count;
        printf("# fp32 on cpu:        accuracy %.2f%% (%d/%d)\n", accf, okf, count);
        printf("# int8 on %-11s accuracy %.2f%% (%d/%d), drop %.2f points\n", device, accq, okq,
               count, accf - accq);
        printf("# top-1 agreement int8-on-card vs fp32: %.2f%% (%d/%d)\n", agr, agree, count);
        check(agr >= 99.0, "top1_agreement_at_least_99%%%s", "");
        check(accf - accq <= 1.0, "accuracy_drop_at_most_1_point%s", "");
        /* The CPU's own int8 path: the reference the card must match exactly,
         * and the speed comparison. */
        double tc = run_model(int8, "cpu", -1, img, count, batch, lf);
        check(tc >= 0, "int8_model_runs_on_%s", "cpu");
        if (tc < 0)
            goto done;
        int differ = 0, ldiffer = 0, flips = 0;
        for (int i = 0; i < count; i++) {
            differ += memcmp(lq + 10 * i, lf + 10 * i, 40) != 0;
            flips += argmax(lq + 10 * i) != argmax(lf + 10 * i);
            for (int k = 0; k < 10; k++)
                ldiffer += memcmp(lq + 10 * i + k, lf + 10 * i + k, sizeof(float)) != 0;
        }
        printf("# int8 on cpu: %.2f s (%.1f images/s); %s is %.2fx the CPU's time\n", tc,
               (double)count / tc, device, tq / tc);
        printf("# vs the CPU's int8 path: %d of %d logits differ (%d of %d images), top-1 "
               "differs on %d\n",
               ldiffer, count * 10, differ, count, flips);
        check(ldiffer == 0, "logits_bit_identical_to_cpu_int8%s", "");
    }
done:
    free(lq);
    free(lf);
    free(img);
    free(lab);
    printf("%d passed, %d failed\n", tests_run - tests_failed, tests_failed);
    return tests_failed ? 1 : 0;
}
