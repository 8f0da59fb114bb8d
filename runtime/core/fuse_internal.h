/* fuse_internal.h - what the load-time rewrites in fuse*.c share. */
#ifndef LOOM_CORE_FUSE_INTERNAL_H
#define LOOM_CORE_FUSE_INTERNAL_H

#include <stdbool.h>

#include "graph.h"

typedef struct fuse_ctx {
    lm_graph *g;
    int *readers; /* per value: number of node inputs reading it */
    int *reader;  /* per value: index of a reading node (the only one when readers == 1) */
    bool *dead;   /* per node */
} fuse_ctx;

bool lm_fuse_is_op(const lm_node *n, const char *op);
/* Recounts readers[]/reader[] over live nodes. */
void lm_fuse_count_readers(fuse_ctx *f);
/* The single live node reading output 0 of @n (its only output), or -1. */
int lm_fuse_sole_consumer(const fuse_ctx *f, const lm_node *n);
/* Appends a constant value owning @t; returns its id, or -1 on allocation failure. */
int lm_fuse_add_constant(lm_graph *g, const char *name, loom_tensor *t);

/* Adds an attribute to @n (string @s or float @f by @type). */
loom_status lm_fuse_add_attr(lm_node *n, const char *name, lm_attr_type type, float f,
                             const char *s);
/* Conv, Gemm, or MatMul with a float constant B: kernels with an activation epilogue. */
bool lm_fuse_fusable_producer(const lm_graph *g, const lm_node *n);

/* Pattern helpers (fuse_match.c). */
/* The live node whose output 0 is @v and whose type is @op, or -1. */
int lm_fuse_producer(const fuse_ctx *f, int v, const char *op);
/* The input of two-input @n that is not @v, or -1 when @v is not an input. */
int lm_fuse_other_input(const lm_node *n, int v);
/* True with the value when @v is a one-element float or double constant. */
bool lm_fuse_const_scalar(const lm_graph *g, int v, double *out);
/* True when @v is a one-element constant within @tol of @want. */
bool lm_fuse_is_scalar_near(const lm_graph *g, int v, double want, double tol);
/* The sole live reader of node @ni's output when it is an @op node, or -1. */
int lm_fuse_consumer_op(const fuse_ctx *f, int ni, const char *op);
/* Turns @n into a default-domain @op reading @in; a no-op when no kernel has
 * @op. Attributes are kept (callers rewrite nodes that have none). */
loom_status lm_fuse_become(lm_node *n, const char *op, const int *in, int n_in);
/* The same for an op of @domain (Loom's own "loom" ops). */
loom_status lm_fuse_become_in(lm_node *n, const char *domain, const char *op, const int *in,
                              int n_in);

/* Exporter activation patterns (fuse_act.c): GELU (erf and tanh forms) ->
 * Gelu and x tanh(softplus(x)) -> Mish (lm_fuse_act_chains); x * Sigmoid(x) after
 * a Conv/Gemm/MatMul -> its "Silu" epilogue, elsewhere -> loom.Silu
 * (lm_fuse_silu). */
loom_status lm_fuse_act_chains(fuse_ctx *f);
loom_status lm_fuse_silu(fuse_ctx *f);
/* MatMul(x, W) + b with W and b constant -> MatMul(x, W, b) (fuse_bias.c). */
loom_status lm_fuse_matmul_bias(fuse_ctx *f);
/* Gives MatMul @m the bias @b (none when < 0) as its third input. */
loom_status lm_fuse_matmul_bias_in(lm_node *m, int b);
/* MatMul -> com.microsoft BiasGelu/FastGelu/Gelu or SkipLayerNormalization's
 * bias -> the MatMul's bias (and GELU epilogue) (fuse_contrib.c). */
loom_status lm_fuse_contrib_bias(fuse_ctx *f);
/* Decomposed layer norm -> LayerNormalization (fuse_norm.c). */
loom_status lm_fuse_layernorm(fuse_ctx *f);

/* LayerNormalization(Add(a, b), ...) -> LayerNormalization(a, ..., b), the
 * sum as output 3 when others read it (fuse_skipnorm.c). */
loom_status lm_fuse_skip_layernorm(fuse_ctx *f);

/* Softmax(Add(Div or Mul(S, scalar), M)) -> Softmax(S, M) with the scale
 * (fuse_attn.c). */
loom_status lm_fuse_attention(fuse_ctx *f);

/* Transposes around a float MatMul that keep the last axis -> the
 * _loom_perm_a/_b/_y views it reads and writes in place (fuse_matmul_perm.c). */
loom_status lm_fuse_matmul_transposes(fuse_ctx *f);

/* Zero Pads bypassed, or folded into the Conv or AveragePool reading them. */
loom_status lm_fuse_pads(fuse_ctx *f);

/* QDQ -> QLinearConv / QLinearMatMul (fuse_qdq.c). */
loom_status lm_fuse_qdq(fuse_ctx *f);
/* Element-wise chains between quantizers with one varying 8-bit input ->
 * loom.QLut, a 256-entry table (fuse_qlut.c); lm_fuse_qdq runs it first. */
loom_status lm_fuse_qlut(fuse_ctx *f);
/* MatMulInteger -> Cast -> Mul(scale) [-> Add(bias)] of dynamically
 * quantized models -> loom.MatMulIntegerScaled (fuse_qdyn.c); lm_fuse_qdq
 * runs it last. */
loom_status lm_fuse_qdyn(fuse_ctx *f);

#endif
