/*
** run: batched, time-stepped execution of a compiled graph.
**
** Execution is layer by layer over the whole time window: a node computes its output for
** all n_steps steps before the next node starts. A chain gives the same result as stepping
** every node once per time step, and whole-window layers turn each Affine or Conv into one
** matrix product over (steps x batch) rows. A recurrent population is the exception: it
** steps through time itself, one (batch x n) product per step for its feedback.
**
** Every buffer is (rows, batch, n), time-major. rows is n_steps, or 1 for a value that
** is the same at every step: an input given as a constant current has 1 row, so the
** first Affine or Conv computes its product once instead of n_steps times, and the first
** population reads that one row at every step.
**
** Spikes are kept as bits: a spiking population records its membrane (floats, which the
** surrogate gradient needs) and its spikes packed 64 to a word. An Affine fed by binary
** values (spikes, or a rate-coded input) picks per pass, from the measured density, between
** the gather path (add the weight rows of the active inputs) and the dense sgemm on the
** unpacked floats.
**
** The executor keeps what BPTT needs of the last forward pass: these are also the recorded
** observables.
*/
#ifndef NEUROMORPH_RUN_H
#define NEUROMORPH_RUN_H

#include "base.h"
#include "model.h"
#include "neuron.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the readout population becomes class scores. */
typedef enum {
    NM_READOUT_MEAN  = 0,   /* mean membrane over the window (LI, CubaLI readouts)       */
    NM_READOUT_MAX   = 1,   /* maximum membrane over the window (LI, CubaLI readouts)    */
    NM_READOUT_COUNT = 2    /* spike count over the window (spiking readouts)            */
} nm_readout;

const char *nm_readout_name(nm_readout r);
nm_status   nm_readout_parse(const char *s, nm_readout *out);   /* "mean", "max", "count" */

/* When an Affine on binary input takes the gather path. */
typedef enum {
    NM_SPARSE_AUTO   = 0,   /* when the input's density is at most sparse_max_density */
    NM_SPARSE_NEVER  = 1,   /* always the dense sgemm                               */
    NM_SPARSE_ALWAYS = 2    /* always the gather path on binary inputs              */
} nm_sparse_mode;

const char *nm_sparse_mode_name(nm_sparse_mode m);
nm_status   nm_sparse_mode_parse(const char *s, nm_sparse_mode *out);   /* auto, never, always */

/* The input density up to which auto takes the gather path in an AVX-512 build: short of the
** crossover of a whole training step of 784-1000-10 on 2 cores (bench_engine). Builds with
** narrower vectors use 0.4 (AVX2) or 0.15 (no AVX), where the gather kernels' crossover is
** lower (bench_sparse). */
#define NM_SPARSE_MAX_DENSITY_DEFAULT 0.45f

typedef struct nm_exec_config {
    float          dt;                 /* step, s (> 0)          */
    int            n_steps;            /* steps per sample (> 0) */
    int            max_batch;          /* largest batch a forward pass will get */
    nm_sparse_mode sparse;             /* 0: auto                 */
    float          sparse_max_density; /* 0: the default above    */
} nm_exec_config;

/* A buffer of the last forward pass, (rows, batch, n). Borrowed; valid until the next
** forward pass or nm_exec_destroy. data is NULL where the values are kept only as bits
** (spikes), bits NULL where they are not binary. */
typedef struct nm_view {
    const float    *data;
    const uint64_t *bits;      /* rows * batch rows of nm_bits_words(n) words */
    int             rows, batch;
    int64_t         n;
} nm_view;

/* Value (t, b, i) of a view from either representation (t < rows). */
float nm_view_at(const nm_view *v, int t, int b, int64_t i);

typedef struct nm_exec nm_exec;

/* Allocates every buffer for max_batch up front; forward passes never allocate. The graph
** is borrowed (its parameters are read at each pass) and must outlive the executor. */
nm_status nm_exec_create(const nm_graph *g, const nm_exec_config *cfg, nm_exec **out);
void      nm_exec_destroy(nm_exec *x);   /* accepts NULL */

/* Runs the graph on input (in_rows, batch, n_input); in_rows is 1 (a constant current)
** or n_steps. NM_INVAL for a batch above max_batch or a bad in_rows. The input is borrowed
** until the next pass. */
nm_status nm_exec_forward(nm_exec *x, const float *input, int in_rows, int batch);

nm_view        nm_exec_output(const nm_exec *x, int node);    /* currents, spikes or membrane */
/* The output of a node as floats: its own buffer, or its bits unpacked into a scratch
** buffer of the executor (valid until the next call of this function). */
const float   *nm_exec_output_floats(nm_exec *x, int node);
nm_view        nm_exec_membrane(const nm_exec *x, int node);  /* membrane before reset */
/* ALIF: the threshold each spike was decided against (n_steps, batch, n); NULL otherwise. */
const float   *nm_exec_threshold(const nm_exec *x, int node);
/* CubaLIF/ALIF with a refractory period: steps held at reset; NULL otherwise. */
const uint8_t *nm_exec_clamped(const nm_exec *x, int node);
int64_t        nm_exec_spikes(const nm_exec *x, int node);    /* spikes of a node, last pass */
int64_t        nm_exec_total_spikes(const nm_exec *x);        /* all hidden spiking nodes */
/* Affine/Linear: 1 if the last pass took the gather path; the density of its input. */
int            nm_exec_used_sparse(const nm_exec *x, int node);
double         nm_exec_input_density(const nm_exec *x, int node);
const nm_lif_step      *nm_exec_consts(const nm_exec *x, int node);      /* LIF, IF, LI */
const nm_cuba_lif_step *nm_exec_cuba_consts(const nm_exec *x, int node); /* CubaLIF, CubaLI */
const nm_alif_step     *nm_exec_alif_consts(const nm_exec *x, int node); /* ALIF */
/* LIF with learnable tau and threshold: its per-neuron constants of the last pass. */
const nm_lif_pn_step   *nm_exec_pn_consts(const nm_exec *x, int node);
const nm_graph *nm_exec_graph(const nm_exec *x);
const nm_exec_config *nm_exec_get_config(const nm_exec *x);
int            nm_exec_batch(const nm_exec *x);               /* batch of the last pass */
/* The surrogate used by spiking nodes. With smooth_forward the spikes are not binary, so
** the executor keeps them as floats (allocated here: NM_NOMEM possible). */
nm_status      nm_exec_set_surrogate(nm_exec *x, const nm_surrogate *s);
const nm_surrogate *nm_exec_surrogate(const nm_exec *x);
/* Scratch for kernels run on this executor's buffers (the backward pass uses them):
** 4 max_batch (largest node) floats, and the conv kernels' scratch. */
float         *nm_exec_scratch(nm_exec *x);
float         *nm_exec_conv_scratch(nm_exec *x);

/* ---- hooks: running a graph on other hardware ------------------------- */
/*
** A chip sample (module hw) replaces parts of a forward pass: the product of an Affine or
** Linear node (a crossbar read), the weights of a Conv, and the constants of a LIF, IF or
** LI population (analog neurons with mismatch). Everything else, and the backward pass,
** stays the executor's.
*/
typedef struct nm_exec_hooks {
    void *ctx;
    /* Called at the start of every forward pass with its batch and step. May be NULL. */
    void (*begin)(void *ctx, int batch, float dt);
    /* Affine/Linear node: y = the product of x (rows, batch, n_in) with the node's weights,
    ** without the bias (the executor adds it); Conv node: the same for the convolution
    ** (y: (rows, batch, c_out, h_out, w_out)). rows is 1 (a constant input) or n_steps; the
    ** hook returns the rows it wrote: rows, or n_steps to give every step its own read of a
    ** constant input (y has room for n_steps rows). Returns a negative value to decline:
    ** the executor then runs its own product. May be NULL. */
    int (*product)(void *ctx, int node, const float *x, int rows, int batch, int n_steps, float *y);
    /* Conv node whose product hook declined: the weights to use instead of the graph's, or
    ** NULL. May be NULL. */
    const float *(*weights)(void *ctx, int node);
    /* LIF, IF or LI node: per-neuron constants at step dt to use instead of the node's, or
    ** NULL. May be NULL. */
    const nm_lif_pn_step *(*neurons)(void *ctx, int node, float dt);
    /* The graph's parameters have changed (a training step): bring the hardware up to date
    ** (a chip re-programs the layers whose weights changed). May be NULL. */
    nm_status (*update)(void *ctx);
} nm_exec_hooks;

/* Installs hooks (copied; NULL removes them). */
void nm_exec_set_hooks(nm_exec *x, const nm_exec_hooks *h);

/* What the executor holds, in bytes: the state a backward pass needs (membranes and other
** neuron traces, spikes as bits, non-spiking outputs) and the scratch. spikes_as_floats is
** what the spikes would take as floats. */
typedef struct nm_exec_memory {
    int64_t membranes, spike_bits, spikes_as_floats, activations, traces, scratch, total;
} nm_exec_memory;
void nm_exec_memory_usage(const nm_exec *x, nm_exec_memory *m);

/* ---- layer kernels ------------------------------------------------------- */
/*
** The executor's kernels, public so that tests, benchmarks and the backward pass (module
** train) can call them on their own buffers. Every kernel gives the same bits whatever the
** thread count: work is split over independent outputs, never over a reduction.
*/

/* Convolution geometry: nm_conv_geom in model.h. */
/* Floats of scratch the conv kernels (forward and backward) need for m images at once;
** the caller allocates it once. */
int64_t nm_conv_scratch_floats(const nm_conv_geom *g, int64_t m);

/* y (m, c_out h_out w_out) = conv(x (m, c_in h_in w_in), W) + b, for m images (rows of
** (time, batch) flattened). b may be NULL. */
void nm_conv_forward(const nm_conv_geom *g, const float *W, const float *b, const float *x, int64_t m,
                     float *y, float *scratch);

/* Pooling over (c, h, w) images, PyTorch semantics with zero padding: SumPool2d sums the
** window, AvgPool2d divides the sum by kh kw (count_include_pad = True). */
void nm_pool_forward(const nm_conv_geom *g, nm_pool_kind kind, const float *x, int64_t m, float *y);

/* Bit-packed spikes: each row of n binary values takes nm_bits_words(n) 64-bit words, bit
** i of a row in word i / 64 at bit i % 64; unused high bits are 0. */
int64_t nm_bits_words(int64_t n);
/* bits (m rows) from x (m, n): bit set where x != 0. Returns the number of set bits. */
int64_t nm_bits_pack(const float *x, int64_t m, int64_t n, uint64_t *bits);
/* x (m, n) = 0.0f or 1.0f from bits. */
void    nm_bits_unpack(const uint64_t *bits, int64_t m, int64_t n, float *x);

/* Wt (n_in, n_out) = W^T for W (n_out, n_in): the layout the gather path reads. */
void nm_transpose(const float *W, int64_t n_out, int64_t n_in, float *Wt);
/* The spike-sparse Affine: y (m, n_out) = b + sum over the set bits j of row r of Wt[j, :].
** The same values as the dense product up to float summation order. b may be NULL. */
void nm_affine_forward_sparse(const float *Wt, const float *b, const uint64_t *bits, int64_t m, int64_t n_in,
                              int64_t n_out, float *y);

/* Class scores (batch, n_classes) of the last pass: from the readout membrane (mean, max)
** or its spikes (count). */
void nm_exec_scores(const nm_exec *x, nm_readout mode, float *scores);
/* Index of the largest of n scores (the first on ties). */
int  nm_argmax(const float *v, int n);

#ifdef __cplusplus
}
#endif
#endif
