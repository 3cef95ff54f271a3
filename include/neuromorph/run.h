/*
** run: batched, time-stepped execution of a compiled graph.
**
** Execution is layer by layer over the whole time window: a node computes its output for
** all n_steps steps before the next node starts. A chain without recurrence between nodes
** gives the same result as stepping every node once per time step, and whole-window
** layers turn each Affine into one matrix product over (steps x batch) rows.
**
** Every buffer is (rows, batch, n), time-major. rows is n_steps, or 1 for a value that
** is the same at every step: an input given as a constant current has 1 row, so the
** first Affine computes W x once instead of n_steps times, and the first LIF reads that
** one row at every step.
**
** The executor keeps every node's output and every neuron's membrane (before reset) of the
** last forward pass: they are the recorded observables, and what BPTT needs.
*/
#ifndef NEUROMORPH_RUN_H
#define NEUROMORPH_RUN_H

#include "base.h"
#include "model.h"
#include "neuron.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the readout population's membrane becomes class scores. */
typedef enum {
    NM_READOUT_MEAN = 0,   /* mean membrane over the window */
    NM_READOUT_MAX  = 1    /* maximum membrane over the window */
} nm_readout;

const char *nm_readout_name(nm_readout r);
nm_status   nm_readout_parse(const char *s, nm_readout *out);   /* "mean", "max" */

typedef struct nm_exec_config {
    float dt;         /* step, s (> 0)          */
    int   n_steps;    /* steps per sample (> 0) */
    int   max_batch;  /* largest batch a forward pass will get */
} nm_exec_config;

/* A buffer of the last forward pass: data (rows, batch, n). Borrowed; valid until the
** next forward pass or nm_exec_destroy. data is NULL where a node has no such buffer. */
typedef struct nm_view {
    float  *data;
    int     rows, batch;
    int64_t n;
} nm_view;

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
nm_view        nm_exec_membrane(const nm_exec *x, int node);  /* LIF/LI membrane before reset */
int64_t        nm_exec_spikes(const nm_exec *x, int node);    /* spikes of a LIF node, last pass */
int64_t        nm_exec_total_spikes(const nm_exec *x);        /* all LIF nodes, last pass */
const nm_lif_step *nm_exec_consts(const nm_exec *x, int node); /* discretized LIF/LI constants */
const nm_graph *nm_exec_graph(const nm_exec *x);
const nm_exec_config *nm_exec_get_config(const nm_exec *x);
int            nm_exec_batch(const nm_exec *x);               /* batch of the last pass */
/* The surrogate used by spiking nodes (matters only with smooth_forward, in tests). */
void           nm_exec_set_surrogate(nm_exec *x, const nm_surrogate *s);
const nm_surrogate *nm_exec_surrogate(const nm_exec *x);
/* Scratch of max_batch * (largest node size) floats, for kernels run on this executor's
** buffers (the backward pass uses it). */
float         *nm_exec_scratch(nm_exec *x);

/* Class scores (batch, n_classes) of the last pass from the readout membrane. */
void nm_exec_scores(const nm_exec *x, nm_readout mode, float *scores);
/* Index of the largest of n scores (the first on ties). */
int  nm_argmax(const float *v, int n);

#ifdef __cplusplus
}
#endif
#endif
