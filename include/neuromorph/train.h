/*
** train: losses, surrogate-gradient BPTT, optimizers, checkpoints, and the training and
** evaluation loops.
**
** BPTT runs backward through the executor's recorded pass: each node turns the gradient
** of its output into the gradient of its input (and of its parameters), over the whole
** time window at once, in reverse node order. Neuron nodes use the neuron module's
** surrogate backward; Affine nodes are two matrix products.
**
** Reproducibility: data order comes from Philox keyed by (seed, epoch), rate-coded spikes
** from (seed, sample, epoch), parameters from (seed, node). No reduction depends on the
** thread count, so the same seed gives bit-identical weights with 1 or N threads, and a run
** resumed from a checkpoint ends with the same weights as one that was never stopped.
*/
#ifndef NEUROMORPH_TRAIN_H
#define NEUROMORPH_TRAIN_H

#include <signal.h>

#include "base.h"
#include "data.h"
#include "model.h"
#include "run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- loss -------------------------------------------------------------- */

/* Softmax cross-entropy of the class scores of the last pass (readout `mode`) against
** labels. Writes g_mem (n_steps, batch, C) = dL/d(readout membrane) for L = mean over the
** batch; returns the summed (not averaged) loss; *n_correct counts argmax hits (may be
** NULL). */
double nm_loss_ce(const nm_exec *x, nm_readout mode, const int *labels, float *g_mem, int *n_correct);

/* ---- backward pass ----------------------------------------------------- */

typedef struct nm_bptt nm_bptt;

/* Gradient buffers for every node of the executor's graph, allocated once. */
nm_status nm_bptt_create(nm_exec *x, nm_bptt **out);
void      nm_bptt_destroy(nm_bptt *b);   /* accepts NULL */
/* Overwrites grads (n_params of the graph) with dL/dparams for the last forward pass,
** given g_mem = dL/d(readout membrane) (n_steps, batch, C). detach_reset: no gradient
** through the reset (as snnTorch does). */
void      nm_bptt_backward(nm_bptt *b, const float *g_mem, int detach_reset, float *grads);

/* ---- Adam -------------------------------------------------------------- */

typedef struct nm_adam {
    int64_t n;            /* parameters */
    int64_t t;            /* steps taken */
    float   beta1, beta2, eps, weight_decay;   /* weight decay is decoupled (AdamW) */
    float  *m, *v;        /* moment estimates (n) */
} nm_adam;

nm_status nm_adam_create(int64_t n, nm_adam **out);   /* beta 0.9/0.999, eps 1e-8, wd 0 */
void      nm_adam_destroy(nm_adam *a);                /* accepts NULL */
void      nm_adam_step(nm_adam *a, float *params, const float *grads, float lr);

/* ---- training ---------------------------------------------------------- */

typedef struct nm_epoch_stats nm_epoch_stats;

typedef struct nm_train_config {
    int          epochs;          /* >= 1 */
    int          batch;           /* training batch */
    int          eval_batch;      /* evaluation batch */
    float        lr;              /* peak learning rate */
    float        lr_final;        /* cosine schedule ends at lr * lr_final */
    float        weight_decay;
    int          n_steps;         /* time steps per sample */
    float        dt;              /* s */
    nm_encoding  encoding;
    nm_readout   readout;
    nm_surrogate surrogate;
    int          detach_reset;
    uint64_t     seed;
    int64_t      train_limit;     /* use the first N training samples (0: all) */
    int64_t      test_limit;      /* evaluate on the first N test samples (0: all) */
    const char  *checkpoint;      /* checkpoint path (NULL: none) */
    int          resume;          /* continue from the checkpoint if it exists */
    double       checkpoint_every; /* seconds between mid-epoch checkpoints (<= 0: epoch ends only) */
    int          quiet;           /* no progress bar */
    volatile sig_atomic_t *stop;  /* set to 1 (e.g. by SIGINT) to checkpoint and return */
    /* called after each epoch's evaluation (may be NULL) */
    void        (*on_epoch)(const nm_epoch_stats *s, void *user);
    void         *user;
} nm_train_config;

/* 1 epoch, batch 128, lr 1e-3 -> 5e-2 of it (cosine), weight decay 0.01, 25 steps of 1 ms, constant-current
** input, mean-membrane readout, fast-sigmoid surrogate with slope 25, reset detached,
** seed 1, checkpoints every 60 s. */
void nm_train_config_default(nm_train_config *c);
/* NM_RANGE naming the field for a value out of range. */
nm_status nm_train_config_check(const nm_train_config *c);

struct nm_epoch_stats {
    int    epoch;              /* 1-based */
    double train_loss, train_acc;
    double test_acc;
    double spikes_per_sample;  /* test set, all spiking layers */
    double seconds;            /* training time of this epoch (without evaluation) */
    double lr;                 /* learning rate at the epoch's end */
};

#define NM_MAX_EPOCHS 1000

typedef struct nm_train_result {
    int            n_epochs;              /* epochs completed, including resumed ones */
    nm_epoch_stats history[NM_MAX_EPOCHS];
    int            resumed;               /* 1 if the run continued a checkpoint */
    int            start_epoch;           /* epoch (0-based) the run started in */
    int64_t        start_batch;           /* batch index within it */
    double         train_seconds;         /* training time, all epochs, resumed ones included */
} nm_train_result;

/* Trains g in place. Errors: NM_RANGE for a bad config, NM_SHAPE if the data do not fit the
** graph, NM_FORMAT for a checkpoint that does not belong to this run, NM_INTERRUPTED when
** *stop was set (a checkpoint was written first). */
nm_status nm_train(nm_graph *g, const nm_dataset *train, const nm_dataset *test, const nm_train_config *cfg,
                   nm_train_result *res);

/* ---- evaluation -------------------------------------------------------- */

#define NM_MAX_REPORT_LAYERS 16

typedef struct nm_eval_result {
    int64_t n;                   /* samples evaluated */
    double  accuracy;            /* fraction */
    double  loss;                /* mean cross-entropy */
    double  spikes_per_sample;   /* all LIF nodes */
    int     n_layers;            /* LIF nodes below */
    int     layer_node[NM_MAX_REPORT_LAYERS];
    double  layer_spikes[NM_MAX_REPORT_LAYERS];   /* per sample */
    double  layer_rate_hz[NM_MAX_REPORT_LAYERS];  /* mean firing rate per neuron */
    double  seconds;
} nm_eval_result;

/* Runs g over d (encoding, n_steps, dt, readout, eval_batch, test_limit, seed of cfg). */
nm_status nm_evaluate(const nm_graph *g, const nm_dataset *d, const nm_train_config *cfg, nm_eval_result *res);

/* ---- checkpoints ------------------------------------------------------- */

/* Reads only the model inside a checkpoint (to evaluate a run still training). */
nm_status nm_checkpoint_load_model(const char *path, nm_graph **out);

#ifdef __cplusplus
}
#endif
#endif
