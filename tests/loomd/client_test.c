/*
 * client_test.c - libloom-client against a running loomd: health, metadata,
 * inference on the example repository's models, errors, repository control.
 *
 *   client_test SOCKET      (loomd in explicit mode with tiny and simple loaded)
 *
 * Prints one "ok"/"FAIL" line per check and ends with "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/loom_client.h"

static int passed, failed;

static void check(int cond, const char *name, const char *detail)
{
    if (cond) {
        passed++;
        printf("ok   client: %s\n", name);
    } else {
        failed++;
        printf("FAIL client: %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: client_test SOCKET\n");
        return 2;
    }
    loom_client *c;
    if (loom_client_connect(argv[1], &c)) {
        printf("FAIL client: connect\n0 passed, 1 failed\n");
        return 1;
    }
    check(loom_client_server_live(c) == 0, "server live", loom_client_error(c));
    check(loom_client_server_ready(c) == 0, "server ready", loom_client_error(c));
    check(loom_client_model_ready(c, "tiny", 0) == 0, "model ready", loom_client_error(c));
    check(loom_client_model_ready(c, "tiny", 1) == 0, "model version 1 ready",
          loom_client_error(c));
    check(loom_client_model_ready(c, "nope", 0) == 404, "unknown model is 404",
          loom_client_error(c));

    int status = 0;
    char *body = NULL;
    int rc = loom_client_request(c, "GET", "/v2/models/tiny", NULL, 0, &status, &body, NULL);
    check(rc == 0 && status == 200 && body && strstr(body, "\"versions\":[\"1\",\"2\"]"),
          "model metadata", body);
    free(body);

    /* tiny version 2 computes 3x + 1; a batch of 3 rows. */
    float x[3 * 16], *y;
    for (int i = 0; i < 48; i++)
        x[i] = (float)i * 0.5f - 4.0f;
    loom_client_tensor in = {.name = "x",
                             .dtype = LOOM_DTYPE_FLOAT,
                             .rank = 2,
                             .dims = {3, 16},
                             .data = x,
                             .size = sizeof(x)};
    loom_client_result *r = NULL;
    rc = loom_client_infer(c, "tiny", 0, "req-42", &in, 1, &r);
    int good = rc == 0 && r && r->n_outputs == 1 && r->outputs[0].rank == 2 &&
               r->outputs[0].dims[0] == 3 && r->outputs[0].size == sizeof(x) &&
               r->model_version == 2 && r->id && strcmp(r->id, "req-42") == 0;
    for (int i = 0; good && i < 48; i++) {
        y = r->outputs[0].data;
        good = y[i] == 3 * x[i] + 1;
    }
    check(good, "infer tiny (binary both ways, id echoed)", loom_client_error(c));
    loom_client_result_free(r);

    rc = loom_client_infer(c, "tiny", 1, NULL, &in, 1, &r);
    good = rc == 0 && r->model_version == 1 && ((float *)r->outputs[0].data)[5] == 2 * x[5] + 1;
    check(good, "infer tiny version 1", loom_client_error(c));
    loom_client_result_free(r);

    int32_t a[16], b[16];
    for (int i = 0; i < 16; i++) {
        a[i] = i;
        b[i] = 100 - i;
    }
    loom_client_tensor two[2] = {
        {.name = "INPUT0",
         .dtype = LOOM_DTYPE_INT32,
         .rank = 2,
         .dims = {1, 16},
         .data = a,
         .size = sizeof(a)},
        {.name = "INPUT1",
         .dtype = LOOM_DTYPE_INT32,
         .rank = 2,
         .dims = {1, 16},
         .data = b,
         .size = sizeof(b)},
    };
    rc = loom_client_infer(c, "simple", 0, NULL, two, 2, &r);
    good = rc == 0 && r->n_outputs == 2;
    for (int i = 0; good && i < 16; i++)
        good = ((int32_t *)r->outputs[0].data)[i] == 100 &&
               ((int32_t *)r->outputs[1].data)[i] == 2 * i - 100;
    check(good, "infer simple (int32 sum and difference)", loom_client_error(c));
    loom_client_result_free(r);

    in.dtype = LOOM_DTYPE_DOUBLE;
    in.size = 48 * sizeof(double);
    double xd[48] = {0};
    in.data = xd;
    rc = loom_client_infer(c, "tiny", 0, NULL, &in, 1, &r);
    check(rc == 400 && strstr(loom_client_error(c), "datatype"), "wrong datatype is 400",
          loom_client_error(c));
    rc = loom_client_infer(c, "nope", 0, NULL, &in, 1, &r);
    check(rc == 404, "unknown model infer is 404", loom_client_error(c));

    check(loom_client_unload(c, "simple") == 0, "unload simple", loom_client_error(c));
    check(loom_client_model_ready(c, "simple", 0) == 400, "unloaded model is not ready",
          loom_client_error(c));
    rc = loom_client_infer(c, "simple", 0, NULL, two, 2, &r);
    check(rc == 503, "infer on an unloaded model is 503", loom_client_error(c));
    check(loom_client_load(c, "simple") == 0, "load simple", loom_client_error(c));
    check(loom_client_model_ready(c, "simple", 0) == 0, "reloaded model is ready",
          loom_client_error(c));
    /* libcurl folds "/models/../etc" into "/etc" (404); loomd refuses ".." itself (400). */
    rc = loom_client_load(c, "../etc");
    check(rc == 400 || rc == 404, "path traversal in load is refused", loom_client_error(c));
    check(loom_client_load(c, "absent") == 404, "loading a missing model is 404",
          loom_client_error(c));
    loom_client_close(c);

    loom_client *bad;
    loom_client_connect("/nonexistent/loomd.sock", &bad);
    check(loom_client_server_live(bad) == -1 && strlen(loom_client_error(bad)) > 0,
          "connection refused is -1 with a message", loom_client_error(bad));
    loom_client_close(bad);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
