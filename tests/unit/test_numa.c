/*
 * test_numa.c - NUMA-aware placement on hwloc XML topologies (tests/numa/):
 * where devices are found (cpusets, nodesets, unknown locality), the CPU
 * devices per node, the contexts' binding decisions and the planner's
 * transfer prices, real binding on a fixture shaped like this two-core
 * machine, and binding refused (one warning, everything still runs).
 *
 * Runs from the repository root (as `make unit` does); the topology is the
 * process's, so each test sets its own and no context outlives a test.
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "core/model.h"
#include "core/numa.h"
#include "core/opcost.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "core/topology.h"
#include "lib/test_main.h"

#define FIXTURE(name) "tests/numa/" name

/* Loads @xml (NULL: this machine) as the process's topology, with the
 * environment the test wants, and forgets earlier warnings. */
static void use_topology(const char *xml, const char *emulated_pci)
{
    lm_test_setenv("HWLOC_XMLFILE", xml);
    lm_test_setenv("LOOM_EMULATED_CARD_PCI", emulated_pci);
    lm_test_setenv("LOOM_NUMA_BIND_REFUSED", NULL);
    lm_test_setenv("LOOM_NUMA_BIND_XML", NULL);
    lm_topology_reset();
    lm_numa_reset_warning();
    assert_int_equal(lm_topology_use(NULL), LOOM_OK);
}

static void two_sockets_card_on_1_gpu_on_0(void **state)
{
    (void)state;
    use_topology(FIXTURE("two-sockets.xml"), NULL);
    assert_int_equal(lm_topology_numa_nodes(), 2);
    assert_false(lm_topology_is_this_system());
    lm_locality card = lm_topology_locate_pci("0000:83:00.0");
    assert_int_equal(card.numa_node, 1);
    assert_int_equal(card.n_nodes, 1);
    assert_string_equal(card.nodeset, "1");
    assert_string_equal(card.cpuset, "12-23,36-47");
    assert_non_null(strstr(card.how, "Package P#1"));
    lm_locality gpu = lm_topology_locate_pci("3b:00.0"); /* domain 0 may be left out */
    assert_int_equal(gpu.numa_node, 0);
    assert_string_equal(gpu.cpuset, "0-11,24-35");
    /* Distances: 10 local, 21 remote. */
    assert_true(fabs(lm_topology_distance(0, 1) - 2.1) < 1e-9);
    assert_true(fabs(lm_topology_distance(1, 1) - 1.0) < 1e-9);
    assert_true(fabs(lm_topology_distance(-1, 1) - 1.55) < 1e-9);
    assert_true(fabs(lm_numa_transfer_factor(0, 1) - 2.1) < 1e-9);
}

static void four_nodes_two_cards(void **state)
{
    (void)state;
    use_topology(FIXTURE("four-nodes.xml"), NULL);
    assert_int_equal(lm_topology_numa_nodes(), 4);
    lm_locality a = lm_topology_locate_pci("0000:41:00.0");
    assert_int_equal(a.numa_node, 1);
    assert_string_equal(a.nodeset, "1");
    assert_string_equal(a.cpuset, "4-7");
    /* Attached to socket 1 as a whole: local to both of its nodes. */
    lm_locality b = lm_topology_locate_pci("0000:c1:00.0");
    assert_int_equal(b.n_nodes, 2);
    assert_string_equal(b.nodeset, "2-3");
    assert_int_equal(b.numa_node, 2);
    assert_string_equal(b.cpuset, "8-15");
    assert_true(fabs(lm_topology_distance(0, 1) - 1.2) < 1e-9);
    assert_true(fabs(lm_topology_distance(0, 3) - 3.2) < 1e-9);
    lm_locality n3 = lm_topology_locate_node(3);
    assert_string_equal(n3.cpuset, "12-15");
    assert_int_equal(lm_topology_locate_node(7).n_nodes, 0); /* no such node */
}

static void no_numa_information(void **state)
{
    (void)state;
    use_topology(FIXTURE("no-numa.xml"), NULL);
    assert_int_equal(lm_topology_numa_nodes(), 1);
    lm_locality card = lm_topology_locate_pci("0000:01:00.0");
    assert_int_equal(card.numa_node, 0); /* the only node */
    assert_string_equal(card.cpuset, "0-3");
    assert_true(lm_topology_distance(-1, 0) == 1.0); /* no matrix: no penalty */
    assert_true(lm_numa_transfer_factor(-1, 0) == 1.0);
}

static void unknown_locality_says_so(void **state)
{
    (void)state;
    use_topology(FIXTURE("unknown-locality.xml"), NULL);
    /* Behind a bridge hwloc put at the machine: no node in particular. */
    lm_locality root = lm_topology_locate_pci("0000:11:00.0");
    assert_int_equal(root.numa_node, -1);
    assert_string_equal(root.nodeset, "0-1");
    assert_string_equal(root.cpuset, "0-3");
    lm_locality absent = lm_topology_locate_pci("0000:99:00.0");
    assert_int_equal(absent.n_nodes, 0);
    assert_int_equal(absent.numa_node, -1);
    assert_string_equal(absent.cpuset, "");
    assert_non_null(strstr(absent.how, "not in the topology"));
    lm_locality bad = lm_topology_locate_pci("card-zero");
    assert_non_null(strstr(bad.how, "malformed"));
    assert_true(lm_numa_transfer_factor(-1, -1) == 1.0);
}

/* The device named @name of @ctx, or fails. */
static int context_index(loom_context *ctx, const char *name, loom_device_info *info)
{
    for (int i = 0; i < ctx->n_devices; i++) {
        info->struct_size = sizeof(*info);
        if (!loom_context_device_info(ctx, i, info) && strcmp(info->name, name) == 0)
            return i;
    }
    fail_msg("%s is not in the context", name);
    return -1;
}

static loom_context *make_context(const char *devices, int emulated, const char *xml)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = devices;
    o.emulated_cards = emulated;
    o.num_threads = 1;
    o.topology_xml = xml;
    loom_context *ctx = NULL;
    loom_status s = loom_context_create(&o, &ctx);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    return ctx;
}

/* An emulated card placed on socket 1 through LOOM_EMULATED_CARD_PCI: the
 * device reports node 1, the CPU devices are one per node, and a context of
 * the card binds (would bind: an XML is a preview) its pool to node 1. */
static void devices_follow_the_topology(void **state)
{
    (void)state;
    use_topology(FIXTURE("two-sockets.xml"), "0000:83:00.0,0000:3b:00.0");
    loom_context *ctx = make_context("card:0,card:1", 2, NULL);
    loom_device_info info;
    context_index(ctx, "card:0", &info);
    assert_string_equal(info.pci_bus_id, "0000:83:00.0");
    assert_int_equal(info.numa_node, 1);
    assert_string_equal(info.cpuset, "12-23,36-47");
    context_index(ctx, "card:1", &info);
    assert_int_equal(info.numa_node, 0);
    /* Cards on two nodes: the pool goes to neither. */
    assert_int_equal(ctx->numa_node, -1);
    assert_string_equal(ctx->host->name, "cpu");
    lm_device *cpu = lm_registry_find("cpu"), *cpu1 = lm_registry_find("cpu:1");
    assert_non_null(cpu1);
    assert_non_null(lm_registry_find("cpu:0"));
    assert_int_equal(cpu->props.numa_node, -1);
    assert_string_equal(cpu->props.cpuset, "0-47");
    assert_int_equal(cpu1->props.numa_node, 1);
    assert_string_equal(cpu1->props.cpuset, "12-23,36-47");
    assert_int_equal(cpu1->props.compute_units, 24);
    assert_false(cpu1->props.flags & LM_DEVICE_AUTO);
    loom_context *one = make_context("card:0", 2, NULL);
    assert_int_equal(one->numa_node, 1);
    assert_non_null(strstr(one->pool_binding, "preview"));
    lm_device *card = lm_registry_find("card:0");
    assert_false(card->numa.bind); /* a preview binds nothing */
    assert_non_null(strstr(card->numa.feeders, "node 1"));
    /* Transfers between the card and node 0's memory cost more. */
    double near = lm_transfer_node_us(NULL, card, 1, 1 << 20);
    double far = lm_transfer_node_us(NULL, card, 0, 1 << 20);
    assert_true(far > near * 1.5);
    loom_context *node0 = make_context("cpu:0", 0, NULL);
    assert_int_equal(node0->numa_node, 0);
    assert_string_equal(node0->host->name, "cpu:0");
    loom_context_destroy(node0);
    loom_context_destroy(one);
    loom_context_destroy(ctx);
}

/* The plan says where each device is and where its threads and memory go. */
static void plan_shows_the_placement(void **state)
{
    (void)state;
    use_topology(FIXTURE("two-cpus.xml"), "0000:83:00.0");
    loom_context *ctx = make_context("card:0", 1, NULL);
    ob_model *om = ob_new(13);
    int64_t d[] = {1, 8};
    ob_input(om, "x", 1, 2, d);
    ob_output(om, "y", 1);
    ob_add_node(om, "Relu", "x", "y");
    loom_model *m = lm_load_ok(ctx, om, "relu");
    char *json = NULL;
    assert_int_equal(loom_model_plan_json(m, NULL, 0, &json), LOOM_OK);
    assert_non_null(strstr(json, "\"topology\":\"XML file tests/numa/two-cpus.xml\""));
    assert_non_null(strstr(json, "\"name\":\"cpu\""));
    assert_non_null(strstr(json, "\"threads\":\"node 1, CPUs 1 (preview: not bound)\""));
    assert_non_null(strstr(json, "\"staging_memory\":\"arena on node 1 (preview: not bound)\""));
    free(json);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

/* A one-node machine (this one, or a fixture of one): nothing changes. */
static void one_node_changes_nothing(void **state)
{
    (void)state;
    use_topology(FIXTURE("no-numa.xml"), NULL);
    loom_context *ctx = make_context("auto", 0, NULL);
    assert_null(lm_registry_find("cpu:0"));
    assert_int_equal(ctx->numa_node, -1);
    assert_string_equal(ctx->pool_binding, "unbound (one NUMA node)");
    assert_int_equal(lm_registry_find("cpu")->props.numa_node, 0);
    loom_context_destroy(ctx);
    /* The context option replaces the environment's topology. */
    ctx = make_context("cpu", 0, FIXTURE("four-nodes.xml"));
    assert_int_equal(lm_topology_numa_nodes(), 4);
    loom_context_destroy(ctx);
    loom_context_options o;
    loom_context_options_init(&o);
    o.topology_xml = "tests/numa/missing.xml";
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "missing.xml"));
}

/* Whether CPUs 0 and 1 are both ours (the real-binding tests need them). */
static bool two_cpus_here(void)
{
    cpu_set_t set;
    return !sched_getaffinity(0, sizeof(set), &set) && CPU_ISSET(0, &set) && CPU_ISSET(1, &set);
}

typedef struct seen {
    pthread_t caller;
    pthread_mutex_t lock;
    int workers;       /* chunks run by worker threads */
    bool only_on_cpu1; /* every worker's affinity was exactly CPU 1 */
} seen;

static void record(void *arg, int64_t begin, int64_t end)
{
    seen *s = arg;
    (void)begin;
    (void)end;
    usleep(200); /* long enough for the worker to wake and take a chunk */
    if (pthread_equal(pthread_self(), s->caller))
        return;
    cpu_set_t set;
    sched_getaffinity(0, sizeof(set), &set);
    pthread_mutex_lock(&s->lock);
    s->workers++;
    s->only_on_cpu1 &= CPU_COUNT(&set) == 1 && CPU_ISSET(1, &set);
    pthread_mutex_unlock(&s->lock);
}

/* On a fixture shaped like this machine (node 1 = CPU 1) binding happens
 * for real: node 1's pool runs on CPU 1, and the card's feeder moves there
 * while it feeds and comes back after. */
static void binds_for_real(void **state)
{
    (void)state;
    if (!two_cpus_here())
        skip();
    use_topology(FIXTURE("two-cpus.xml"), "0000:83:00.0");
    lm_test_setenv("LOOM_NUMA_BIND_XML", "1");
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "card:0";
    o.emulated_cards = 1;
    o.num_threads = 2;
    loom_context *ctx = NULL;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    assert_string_equal(ctx->pool_binding, "node 1, CPUs 1");
    seen s = {.caller = pthread_self(), .lock = PTHREAD_MUTEX_INITIALIZER, .only_on_cpu1 = true};
    for (int i = 0; i < 200 && s.workers == 0; i++)
        lm_threadpool_run(ctx->pool, 64, 1, record, &s);
    assert_true(s.workers > 0);
    assert_true(s.only_on_cpu1);
    lm_device *card = lm_registry_find("card:0");
    assert_true(card->numa.bind);
    cpu_set_t before, during, after, saved;
    sched_getaffinity(0, sizeof(before), &before);
    bool moved = lm_numa_feed_begin(card, &saved);
    sched_getaffinity(0, sizeof(during), &during);
    lm_numa_feed_end(moved, &saved);
    sched_getaffinity(0, sizeof(after), &after);
    assert_true(moved);
    assert_int_equal(CPU_COUNT(&during), 1);
    assert_true(CPU_ISSET(1, &during));
    assert_true(CPU_EQUAL(&before, &after));
    /* Memory: placed and usable whatever the kernel says to the binding. */
    char *mem = lm_numa_alloc(1 << 16, 1);
    assert_non_null(mem);
    memset(mem, 1, 1 << 16);
    lm_numa_free(mem, 1 << 16);
    loom_context_destroy(ctx);
}

static int warnings;
static void count_warnings(void *user, loom_log_level level, const char *msg)
{
    (void)user;
    if (level == LOOM_LOG_WARN && strstr(msg, "NUMA binding refused"))
        warnings++;
}

/* Binding refused (a container): one warning, contexts and runs go on unbound. */
static void refused_binding_warns_once(void **state)
{
    (void)state;
    use_topology(FIXTURE("two-cpus.xml"), "0000:83:00.0");
    lm_test_setenv("LOOM_NUMA_BIND_XML", "1");
    lm_test_setenv("LOOM_NUMA_BIND_REFUSED", "1");
    warnings = 0;
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "card:0";
    o.emulated_cards = 1;
    o.num_threads = 2;
    o.log = count_warnings;
    loom_context *a = NULL, *b = NULL;
    assert_int_equal(loom_context_create(&o, &a), LOOM_OK);
    o.device = "cpu:1";
    assert_int_equal(loom_context_create(&o, &b), LOOM_OK);
    assert_string_equal(a->pool_binding, "unbound (binding refused)");
    assert_string_equal(b->pool_binding, "unbound (binding refused)");
    cpu_set_t saved;
    assert_false(lm_numa_feed_begin(lm_registry_find("card:0"), &saved));
    void *mem = lm_numa_alloc(4096, 1);
    assert_non_null(mem);
    lm_numa_free(mem, 4096);
    /* A model still loads and runs. */
    ob_model *om = ob_new(13);
    int64_t d[] = {1, 4};
    ob_input(om, "x", 1, 2, d);
    ob_output(om, "y", 1);
    ob_add_node(om, "Relu", "x", "y");
    loom_model *m = lm_load_ok(a, om, "relu");
    float xs[4] = {-1, 2, -3, 4};
    loom_tensor *x = NULL, *y = NULL;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, d, xs, sizeof(xs), &x), LOOM_OK);
    assert_int_equal(loom_model_run(m, &x, 1, &y, 1), LOOM_OK);
    assert_true(((float *)loom_tensor_data(y))[1] == 2.0f);
    loom_tensor_destroy(x);
    loom_tensor_destroy(y);
    loom_model_destroy(m);
    assert_int_equal(warnings, 1);
    loom_context_destroy(b);
    loom_context_destroy(a);
}

/* Last: later tests in other binaries never see these variables, but this
 * process's own teardown should see this machine again. */
static void back_to_this_machine(void **state)
{
    (void)state;
    use_topology(NULL, NULL);
    assert_true(lm_topology_is_this_system());
    char src[64];
    lm_topology_source(src, sizeof(src));
    assert_string_equal(src, "this machine");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(two_sockets_card_on_1_gpu_on_0),
    cmocka_unit_test(four_nodes_two_cards),
    cmocka_unit_test(no_numa_information),
    cmocka_unit_test(unknown_locality_says_so),
    cmocka_unit_test(devices_follow_the_topology),
    cmocka_unit_test(plan_shows_the_placement),
    cmocka_unit_test(one_node_changes_nothing),
    cmocka_unit_test(binds_for_real),
    cmocka_unit_test(refused_binding_warns_once),
    cmocka_unit_test(back_to_this_machine),
};

LM_TEST_MAIN(tests)
