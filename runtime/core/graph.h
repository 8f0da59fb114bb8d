/* graph.h - Loom's graph IR: values, nodes with attributes, topological order. */
#ifndef LOOM_CORE_GRAPH_H
#define LOOM_CORE_GRAPH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

/* Attribute kinds; the values are ONNX's AttributeProto.AttributeType codes. */
typedef enum lm_attr_type {
    LM_ATTR_UNDEFINED = 0,
    LM_ATTR_FLOAT = 1,
    LM_ATTR_INT = 2,
    LM_ATTR_STRING = 3,
    LM_ATTR_TENSOR = 4,
    LM_ATTR_GRAPH = 5,
    LM_ATTR_FLOATS = 6,
    LM_ATTR_INTS = 7,
    LM_ATTR_STRINGS = 8,
    LM_ATTR_TENSORS = 9,
    LM_ATTR_GRAPHS = 10,
} lm_attr_type;

struct lm_graph;
struct loom_model;

/*
 * The body a GRAPH attribute holds: If's branches, Loop's and Scan's body.
 * Its graph inputs are the op's own (the loop counter, the carried state,
 * the scan slices; none for If) followed by n_feed values it reads from
 * enclosing graphs, which the owning node lists among its inputs (implicit
 * inputs, lm_node.n_implicit) so that ordering and liveness see them.
 */
typedef struct lm_subgraph {
    struct lm_graph *g;       /* as imported; NULL once its model took it */
    struct loom_model *model; /* made at load (model.c) and run by the op */
    int n_feed;               /* trailing body inputs fed from enclosing graphs */
    int *feed;                /* per such input: the index of the node input feeding it */
} lm_subgraph;

typedef struct lm_attr {
    char *name;
    lm_attr_type type;
    int64_t i;
    float f;
    char *s; /* NUL-terminated copy of a STRING attribute */
    int n;   /* element count of FLOATS/INTS/STRINGS */
    int64_t *ints;
    float *floats;
    char **strings;
    loom_tensor *t;
    lm_subgraph *sub; /* GRAPH */
} lm_attr;

/* A value is an edge of the graph: a graph input, an initializer, a node output. */
typedef struct lm_value {
    char *name;
    loom_dtype dtype;               /* LOOM_DTYPE_UNDEFINED until inferred */
    int rank;                       /* -1 when unknown */
    int64_t dims[LOOM_MAX_RANK];    /* -1 for symbolic or unknown */
    char *dim_names[LOOM_MAX_RANK]; /* symbolic names, NULL if none */
    loom_tensor *constant;          /* initializer or folded constant, else NULL */
    int producer;                   /* index of the producing node, -1 if none */
    bool is_input;                  /* fed by the caller */
    bool is_output;                 /* returned to the caller */
} lm_value;

struct lm_op_def;

typedef struct lm_node {
    char *name; /* never NULL: synthesized as "<op_type>_<index>" when unnamed */
    char *op_type;
    char *domain; /* "" for the default ONNX domain */
    int opset;    /* version of @domain imported by the model */
    int n_in, n_out;
    int *in;        /* value ids; -1 for an absent optional input */
    int *out;       /* value ids; -1 for an absent optional output */
    int n_implicit; /* the last n_implicit inputs are enclosing-scope values its
                     * subgraphs read, not operands of the op */
    int n_attr;
    lm_attr *attr;
    const struct lm_op_def *op; /* kernel bound at load */
} lm_node;

typedef struct lm_graph {
    int n_values, n_nodes, n_inputs, n_outputs;
    lm_value *values;
    lm_node *nodes; /* in topological order after lm_graph_sort() */
    int *inputs;    /* caller-fed values, in declaration order */
    int *outputs;
} lm_graph;

/* Frees everything the graph owns, including the graph itself. */
void lm_graph_free(lm_graph *g);
/* Frees what node @n owns (names, operands, attributes and their bodies). */
void lm_node_free(lm_node *n);

/* Sorts nodes topologically; fails naming a node on a cycle or an undefined input. */
loom_status lm_graph_sort(lm_graph *g);

/* Attribute lookup on a node; NULL if absent. */
const lm_attr *lm_node_attr(const lm_node *n, const char *name);

/*
 * Typed attribute reads with defaults: one set for every backend, so a node
 * means the same on each. An attribute of another type counts as absent, with
 * two exceptions: one with no declared type (old IR versions) is read as the
 * type asked for, and a float given as an INT is accepted (some exporters
 * write integral floats as ints).
 */
bool lm_node_has_attr(const lm_node *n, const char *name);
int64_t lm_node_attr_int(const lm_node *n, const char *name, int64_t def);
float lm_node_attr_float(const lm_node *n, const char *name, float def);
const char *lm_node_attr_str(const lm_node *n, const char *name, const char *def);
/* Number of elements and pointer to them; returns -1 (and *vals NULL) if absent. */
int lm_node_attr_ints(const lm_node *n, const char *name, const int64_t **vals);
int lm_node_attr_floats(const lm_node *n, const char *name, const float **vals);
const loom_tensor *lm_node_attr_tensor(const lm_node *n, const char *name);

/* Fails node @n: records "node 'NAME' (OP): <message>" and returns @status. */
loom_status lm_node_error(const lm_node *n, loom_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
loom_status lm_node_verror(const lm_node *n, loom_status status, const char *fmt, va_list ap);

/* The body in GRAPH attribute @name of @n, or NULL. */
const lm_subgraph *lm_node_subgraph(const lm_node *n, const char *name);

/* Index of the value called @name, or -1. Linear; used at load only. */
int lm_graph_find_value(const lm_graph *g, const char *name);

#endif
