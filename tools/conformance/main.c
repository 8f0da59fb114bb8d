/*
 * loom-conformance - runs ONNX backend tests: DIR/model.onnx with
 * DIR/test_data_set_N/{input,output}_M.pb, in the layout of ONNX's test data.
 *
 *   loom-conformance [--device D [--strict]] [--table FILE [--column NAME]] [--expect FILE]
 *                    [--quiet] DIR...
 *
 * --strict turns off CPU fallback: a test whose nodes the device cannot all run
 * is UNSUPPORTED, so the results describe the device alone.
 *
 * --column NAME merges this run's results into an existing --table FILE as a
 * column NAME (one column per device in one table); without the file it writes
 * a new table as usual.
 *
 * Each DIR is a test or a directory of tests. Prints one line per test,
 * "PASS|FAIL|UNSUPPORTED <test> <reason>", then "N passed, N failed, N unsupported".
 * Each test runs in a child process with a time limit, so a crash or hang
 * fails that test alone. With --expect, exits non-zero only if a test listed
 * in FILE (one name per line) did not pass; otherwise on any failure.
 *
 * Float outputs pass when |expected - got| <= atol + rtol * |expected| at every
 * element (rtol 1e-3, atol 1e-5 unless the table below says otherwise). A test
 * directory may hold a file "tolerance" that sets its own, one "key value" a
 * line, '#' starting a comment (say why there):
 *
 *   rtol R    atol A    the element-wise bound above
 *   nmse N    also: sum((got - expected)^2) / sum(expected^2) <= N per output
 *
 * for references that cannot agree to the last bit, such as int8 models whose
 * expected outputs come from another runtime: there one intermediate value
 * rounded to the neighbouring quantisation step moves many outputs a little,
 * so a loose element-wise bound catches gross errors and a tight normalised
 * MSE (ggml's test-backend-ops measure) catches systematic ones.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/tensor_io.h"
#include "core/model.h"
#include "core/tensor.h"
#include "loom/loom.h"

#define TEST_TIMEOUT_S 120
#define MAX_TENSORS    64

enum result { R_PASS, R_FAIL, R_UNSUPPORTED };
static const char *const result_names[] = {"PASS", "FAIL", "UNSUPPORTED"};

/* How close a float output must be to its reference. */
typedef struct tolerance {
    double rtol, atol;
    double nmse; /* bound on the normalised mean squared error; 0: not checked */
} tolerance;

/* Tests whose reference outputs need a looser tolerance than rtol 1e-3 / atol 1e-5,
 * and why (tests outside libonnx-testdata use a "tolerance" file instead). */
static const struct {
    const char *test;
    double rtol, atol;
    const char *why;
} tolerances[] = {
    {"test_operator_erf", 1e-3, 1e-4, "reference computed in double by PyTorch"},
};

typedef struct options {
    const char *device;
    const char *table;
    const char *expect;
    const char *column; /* merge into the table as this column */
    bool quiet;
    bool fail_closed; /* --strict: every node on the device, none on the CPU */
} options;

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool file_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

/* Compares one output; on mismatch writes a reason. */
static bool compare(const loom_tensor *want, const loom_tensor *got, const tolerance *tol,
                    char *why, size_t len)
{
    char a[128], b[128];
    if (want->dtype != got->dtype) {
        snprintf(why, len, "dtype %s, expected %s", loom_dtype_name(got->dtype),
                 loom_dtype_name(want->dtype));
        return false;
    }
    /* ONNX test data sometimes stores scalars as shape [] and outputs as [1]:
     * compare element counts when ranks differ only by unit dims. */
    bool same_shape = want->rank == got->rank &&
                      memcmp(want->dims, got->dims, sizeof(int64_t) * (size_t)want->rank) == 0;
    if (!same_shape) {
        snprintf(why, len, "shape %s, expected %s", lm_dims_str(got->rank, got->dims, a, sizeof(a)),
                 lm_dims_str(want->rank, want->dims, b, sizeof(b)));
        return false;
    }
    int64_t n = lm_tensor_count(want);
    double err2 = 0, ref2 = 0;
    for (int64_t i = 0; i < n; i++) {
        if (lm_dtype_is_float(want->dtype)) {
            double x = lm_tensor_get_f64(want, i), y = lm_tensor_get_f64(got, i);
            if (isnan(x) && isnan(y))
                continue;
            if (isinf(x) && x == y)
                continue;
            err2 += (x - y) * (x - y);
            ref2 += x * x;
            if (!(fabs(x - y) <= tol->atol + tol->rtol * fabs(x))) {
                snprintf(why, len, "element %lld is %.9g, expected %.9g", (long long)i, y, x);
                return false;
            }
        } else if (lm_tensor_get_i64(want, i) != lm_tensor_get_i64(got, i)) {
            snprintf(why, len, "element %lld is %lld, expected %lld", (long long)i,
                     (long long)lm_tensor_get_i64(got, i), (long long)lm_tensor_get_i64(want, i));
            return false;
        }
    }
    double nmse = ref2 > 0 ? err2 / ref2 : err2;
    if (tol->nmse > 0 && !(nmse <= tol->nmse)) {
        snprintf(why, len, "normalised MSE %.3g, limit %.3g", nmse, tol->nmse);
        return false;
    }
    return true;
}

/* The tolerance of test @test in directory @dir: its "tolerance" file, else
 * the table's entry, else the default. Returns false (with @why) when the
 * file does not parse. */
static bool tolerance_for(const char *dir, const char *test, tolerance *tol, char *why, size_t len)
{
    *tol = (tolerance){.rtol = 1e-3, .atol = 1e-5};
    for (size_t i = 0; i < sizeof(tolerances) / sizeof(tolerances[0]); i++)
        if (strcmp(tolerances[i].test, test) == 0) {
            tol->rtol = tolerances[i].rtol;
            tol->atol = tolerances[i].atol;
        }
    char path[4096], line[512];
    FILE *f = tio_path(path, sizeof(path), "%s/tolerance", dir) ? fopen(path, "r") : NULL;
    if (!f)
        return true;
    bool ok = true;
    for (int lineno = 1; ok && fgets(line, sizeof(line), f); lineno++) {
        line[strcspn(line, "#")] = '\0';
        char key[16], extra[2];
        double v;
        int got = sscanf(line, "%15s %lf %1s", key, &v, extra);
        if (got <= 0)
            continue; /* blank or comment */
        double *slot = strcmp(key, "rtol") == 0   ? &tol->rtol
                       : strcmp(key, "atol") == 0 ? &tol->atol
                       : strcmp(key, "nmse") == 0 ? &tol->nmse
                                                  : NULL;
        if (got != 2 || !slot || !(v >= 0)) {
            snprintf(why, len,
                     "tolerance file, line %d: expected 'rtol|atol|nmse VALUE' (VALUE >= 0)",
                     lineno);
            ok = false;
        } else {
            *slot = v;
        }
    }
    fclose(f);
    return ok;
}

static enum result status_result(loom_status s)
{
    return s == LOOM_ERR_UNSUPPORTED ? R_UNSUPPORTED : R_FAIL;
}

/* Runs one data set; returns R_PASS or a failure with @why filled. */
static enum result run_data_set(loom_model *m, const char *dir, const tolerance *tol, char *why,
                                size_t len)
{
    size_t n_in = loom_model_input_count(m), n_out = loom_model_output_count(m);
    loom_tensor *in[MAX_TENSORS] = {0}, *out[MAX_TENSORS] = {0}, *want = NULL;
    enum result r = R_FAIL;
    char path[4096];
    if (n_in > MAX_TENSORS || n_out > MAX_TENSORS) {
        snprintf(why, len, "more than %d inputs or outputs", MAX_TENSORS);
        return R_UNSUPPORTED;
    }
    for (size_t i = 0; i < n_in; i++) {
        loom_status s = tio_path(path, sizeof(path), "%s/input_%zu.pb", dir, i)
                            ? tio_load(path, &in[i], NULL)
                            : LOOM_ERR_IO;
        if (s) {
            snprintf(why, len, "%s", loom_last_error());
            r = status_result(s);
            goto out;
        }
    }
    loom_status s = loom_model_run(m, in, n_in, out, n_out);
    if (s) {
        snprintf(why, len, "%s", loom_last_error());
        r = status_result(s);
        goto out;
    }
    for (size_t o = 0; o < n_out; o++) {
        if (!tio_path(path, sizeof(path), "%s/output_%zu.pb", dir, o) || !file_exists(path))
            continue;
        if ((s = tio_load(path, &want, NULL))) {
            snprintf(why, len, "%s", loom_last_error());
            goto out;
        }
        char detail[512];
        bool ok = compare(want, out[o], tol, detail, sizeof(detail));
        loom_tensor_destroy(want);
        want = NULL;
        if (!ok) {
            loom_value_info info;
            loom_model_output_info(m, o, &info);
            snprintf(why, len, "output '%s': %s", info.name, detail);
            goto out;
        }
    }
    r = R_PASS;
out:
    for (size_t i = 0; i < n_in; i++)
        loom_tensor_destroy(in[i]);
    for (size_t o = 0; o < n_out; o++)
        loom_tensor_destroy(out[o]);
    return r;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted subdirectory names of @dir matching @prefix (NULL: all); caller frees. */
static char **list_dirs(const char *dir, const char *prefix, size_t *n)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    if (!d)
        return NULL;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix)) != 0))
            continue;
        if (!tio_path(path, sizeof(path), "%s/%s", dir, e->d_name) || !is_dir(path))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof(char *));
            if (!grown)
                break;
            names = grown;
        }
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (names)
        qsort(names, *n, sizeof(char *), compare_names);
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The distinct op types of a model, "Conv Relu Add". */
static void model_ops(const loom_model *m, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->g->n_nodes; i++) {
        const char *op = m->g->nodes[i].op_type;
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(m->g->nodes[j].op_type, op) == 0;
        if (!seen && used + strlen(op) + 2 < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? " " : "", op);
    }
}

/* Runs a test in this (child) process; writes "RESULT\tops\treason" to @fd. */
static void run_test_child(const char *dir, const options *opt, int fd)
{
    char why[1024] = "", ops[512] = "";
    enum result r = R_FAIL;
    loom_context_options copts;
    loom_context_options_init(&copts);
    copts.device = opt->device;
    copts.fail_closed = opt->fail_closed;
    copts.num_threads = 1;
    loom_context *ctx = NULL;
    loom_model *m = NULL;
    char path[4096];
    loom_status s = tio_path(path, sizeof(path), "%s/model.onnx", dir)
                        ? loom_context_create(&copts, &ctx)
                        : LOOM_ERR_IO;
    if (!s)
        s = loom_model_load_file(ctx, path, &m);
    tolerance tol;
    if (s) {
        snprintf(why, sizeof(why), "%s", loom_last_error());
        r = status_result(s);
    } else if (!tolerance_for(dir, base_name(dir), &tol, why, sizeof(why))) {
        r = R_FAIL;
    } else {
        model_ops(m, ops, sizeof(ops));
        size_t n_sets;
        char **sets = list_dirs(dir, "test_data_set_", &n_sets);
        r = n_sets ? R_PASS : R_FAIL;
        if (!n_sets)
            snprintf(why, sizeof(why), "no test_data_set_* directories");
        for (size_t i = 0; i < n_sets && r == R_PASS; i++) {
            tio_path(path, sizeof(path), "%s/%s", dir, sets[i]);
            r = run_data_set(m, path, &tol, why, sizeof(why));
            if (r != R_PASS) { /* prefix the data set; a long reason is cut */
                char tmp[sizeof(why)];
                memcpy(tmp, why, sizeof(tmp));
                tio_path(why, sizeof(why), "%s: %s", sets[i], tmp);
            }
        }
        free_names(sets, n_sets);
    }
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    for (char *p = why; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    dprintf(fd, "%d\t%s\t%s", (int)r, ops, why);
}

typedef struct result_row {
    char *test, *ops;
    enum result r;
} result_row;

typedef struct tally {
    int n[3];
    FILE *table;
    result_row *rows; /* --column: results kept for the merge at the end */
    size_t n_rows, cap_rows;
    char **expected;
    size_t n_expected;
    int regressions;
} tally;

static bool expected_to_pass(const tally *t, const char *test)
{
    for (size_t i = 0; i < t->n_expected; i++)
        if (strcmp(t->expected[i], test) == 0)
            return true;
    return false;
}

static void run_test(const char *dir, const options *opt, tally *t)
{
    int fds[2];
    char buf[2048] = "";
    const char *test = base_name(dir);
    enum result r = R_FAIL;
    const char *ops = "", *why = "";
    fflush(stdout);
    if (t->table) /* else each child's exit() writes the parent's buffered rows again */
        fflush(t->table);
    if (pipe(fds) != 0) {
        why = "pipe failed";
        goto report;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(TEST_TIMEOUT_S);
        run_test_child(dir, opt, fds[1]);
        /* exit(), not _exit(): LeakSanitizer checks at exit. stdout was flushed
         * before fork, so nothing of the parent's is written twice. */
        exit(0);
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t got;
    while (used < sizeof(buf) - 1 &&
           (got = read(fds[0], buf + used, sizeof(buf) - 1 - used)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        used += (size_t)got;
    }
    buf[used] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        static char msg[64];
        snprintf(msg, sizeof(msg), "crashed with signal %d%s", WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
        why = msg;
    } else if (WEXITSTATUS(status) != 0) {
        static char msg[96];
        snprintf(msg, sizeof(msg), "test process exited with status %d (a sanitizer report?)",
                 WEXITSTATUS(status));
        why = msg;
    } else if (used) {
        char *tab1 = strchr(buf, '\t');
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (tab1 && tab2) {
            *tab1 = *tab2 = '\0';
            r = (enum result)atoi(buf);
            ops = tab1 + 1;
            why = tab2 + 1;
        }
    } else {
        why = "test process exited without a result";
    }
report:
    t->n[r]++;
    if (!opt->quiet || r != R_PASS)
        printf("%s %s %s\n", result_names[r], test, why);
    if (t->expected && r != R_PASS && expected_to_pass(t, test)) {
        t->regressions++;
        printf("REGRESSION %s was expected to pass\n", test);
    }
    if (t->table)
        fprintf(t->table, "| %s | %s | %s | %s |\n", test, ops, result_names[r], why);
    if (opt->column) {
        if (t->n_rows == t->cap_rows) {
            size_t cap = t->cap_rows ? 2 * t->cap_rows : 256;
            result_row *grown = realloc(t->rows, cap * sizeof(*grown));
            if (!grown)
                return;
            t->rows = grown;
            t->cap_rows = cap;
        }
        t->rows[t->n_rows++] = (result_row){strdup(test), strdup(ops), r};
    }
}

static const result_row *find_row(const tally *t, const char *test, size_t len)
{
    for (size_t i = 0; i < t->n_rows; i++)
        if (strlen(t->rows[i].test) == len && strncmp(t->rows[i].test, test, len) == 0)
            return &t->rows[i];
    return NULL;
}

/* Appends column @name to the markdown table in @path: each row gets this
 * run's result for its test ("-" when not run here); tests the table lacks get
 * rows of their own. Returns false when @path holds no table yet. */
static bool merge_column(const char *path, const char *name, tally *t)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *o = fopen(tmp, "w");
    if (!o) {
        fclose(f);
        return false;
    }
    bool *used = calloc(t->n_rows + 1, sizeof(bool));
    char line[8192];
    int cols = 0;
    bool in_table = false, header = false;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "| test |", 8) == 0) {
            cols = 0;
            for (char *p = line; *p; p++)
                cols += *p == '|';
            cols--;
            fprintf(o, "%s %s |\n", line, name);
            in_table = header = true;
        } else if (in_table && strncmp(line, "|---", 4) == 0) {
            fprintf(o, "%s---|\n", line);
        } else if (in_table && strncmp(line, "| ", 2) == 0) {
            const char *test = line + 2, *end = strstr(test, " |");
            const result_row *row = end ? find_row(t, test, (size_t)(end - test)) : NULL;
            if (row)
                used[row - t->rows] = true;
            fprintf(o, "%s %s |\n", line, row ? result_names[row->r] : "-");
        } else {
            if (in_table) { /* the table ended: add the tests it lacked */
                for (size_t i = 0; i < t->n_rows; i++) {
                    if (used[i])
                        continue;
                    fprintf(o, "| %s | %s |", t->rows[i].test, t->rows[i].ops);
                    for (int c = 2; c < cols; c++)
                        fprintf(o, " - |");
                    fprintf(o, " %s |\n", result_names[t->rows[i].r]);
                }
                in_table = false;
            }
            fprintf(o, "%s\n", line);
        }
    }
    fclose(f);
    fprintf(o, "%s: %d passed, %d failed, %d unsupported\n", name, t->n[R_PASS], t->n[R_FAIL],
            t->n[R_UNSUPPORTED]);
    free(used);
    bool ok = fclose(o) == 0 && header && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    return ok;
}

static void run_path(const char *path, const options *opt, tally *t)
{
    char model[4096];
    if (tio_path(model, sizeof(model), "%s/model.onnx", path) && file_exists(model)) {
        run_test(path, opt, t);
        return;
    }
    size_t n;
    char **names = list_dirs(path, NULL, &n);
    if (!names && !is_dir(path)) {
        printf("FAIL %s not a test directory\n", path);
        t->n[R_FAIL]++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char sub[4096];
        if (tio_path(sub, sizeof(sub), "%s/%s", path, names[i]) &&
            tio_path(model, sizeof(model), "%s/model.onnx", sub) && file_exists(model))
            run_test(sub, opt, t);
    }
    free_names(names, n);
}

static int load_expected(const char *path, tally *t)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "loom-conformance: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    size_t cap = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, " \t\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        if (t->n_expected == cap) {
            cap = cap ? cap * 2 : 256;
            char **grown = realloc(t->expected, cap * sizeof(char *));
            if (!grown)
                break;
            t->expected = grown;
        }
        t->expected[t->n_expected++] = strdup(line);
    }
    fclose(f);
    if (!t->expected)
        t->expected = calloc(1, sizeof(char *));
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: loom-conformance [--device D [--strict]] [--table FILE [--column "
                    "NAME]] [--expect FILE] [--quiet] DIR...\n");
}

int main(int argc, char **argv)
{
    options opt = {.device = "cpu"};
    tally t = {0};
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        const char *a = argv[first];
        if (strcmp(a, "--quiet") == 0) {
            opt.quiet = true;
        } else if (strcmp(a, "--strict") == 0) {
            opt.fail_closed = true;
        } else if (first + 1 < argc && strcmp(a, "--device") == 0) {
            opt.device = argv[++first];
        } else if (first + 1 < argc && strcmp(a, "--table") == 0) {
            opt.table = argv[++first];
        } else if (first + 1 < argc && strcmp(a, "--column") == 0) {
            opt.column = argv[++first];
        } else if (first + 1 < argc && strcmp(a, "--expect") == 0) {
            opt.expect = argv[++first];
        } else {
            usage();
            return 2;
        }
    }
    if (first == argc) {
        usage();
        return 2;
    }
    if (opt.expect && load_expected(opt.expect, &t))
        return 2;
    const char *merge_into = NULL;
    if (opt.table && opt.column && file_exists(opt.table)) {
        merge_into = opt.table; /* results are kept and merged at the end */
        opt.table = NULL;
    }
    if (opt.table) {
        if (!(t.table = fopen(opt.table, "w"))) {
            fprintf(stderr, "loom-conformance: %s: %s\n", opt.table, strerror(errno));
            return 2;
        }
        fprintf(t.table,
                "# Conformance on device %s\n\n| test | ops | result | reason |\n"
                "|---|---|---|---|\n",
                opt.device);
    }
    for (int i = first; i < argc; i++)
        run_path(argv[i], &opt, &t);
    if (t.table) {
        fprintf(t.table, "\n%d passed, %d failed, %d unsupported\n", t.n[R_PASS], t.n[R_FAIL],
                t.n[R_UNSUPPORTED]);
        fclose(t.table);
    }
    if (merge_into && !merge_column(merge_into, opt.column, &t))
        fprintf(stderr, "loom-conformance: could not merge column %s into %s\n", opt.column,
                merge_into);
    for (size_t i = 0; i < t.n_rows; i++) {
        free(t.rows[i].test);
        free(t.rows[i].ops);
    }
    free(t.rows);
    printf("%d passed, %d failed, %d unsupported\n", t.n[R_PASS], t.n[R_FAIL], t.n[R_UNSUPPORTED]);
    free_names(t.expected, t.n_expected);
    if (opt.expect) /* passes, and failures that are regressions */
        printf("expected: %d passed, %d failed\n", t.n[R_PASS], t.regressions);
    if (opt.expect)
        return t.regressions ? 1 : 0;
    return t.n[R_FAIL] ? 1 : 0;
}
