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
/*
** Each loss reads the readout of the last pass and writes g = dL/d(readout output) for L =
** mean over the batch: (n_steps, batch, C), the membrane's gradient for the membrane
** readouts (mean, max), the spikes' for count. It returns the summed (not averaged) loss;
** *n_correct counts argmax hits (may be NULL).
*/
typedef enum {
    NM_LOSS_CE  = 0,   /* softmax cross-entropy of the scores                                */
    NM_LOSS_MSE = 1    /* spike counts against target counts (count readout only)            */
} nm_loss_kind;

const char *nm_loss_name(nm_loss_kind k);
nm_status   nm_loss_parse(const char *s, nm_loss_kind *out);   /* "ce", "mse" */

/* Cross-entropy of the scores of `mode`: mean or max membrane (LI/CubaLI readout), or the
** spike counts (spiking readout). */
double nm_loss_ce(const nm_exec *x, nm_readout mode, const int *labels, float *g, int *n_correct);
/* Mean squared error of the spike counts against n_steps * correct_rate for the label and
** n_steps * incorrect_rate for the others (snnTorch's mse_count_loss), averaged over the
** batch and classes. */
double nm_loss_mse_count(const nm_exec *x, const int *labels, float correct_rate, float incorrect_rate, float *g,
                         int *n_correct);
/* NM_INVAL naming the readout when mode (and loss) do not fit the graph's readout kind. */
nm_status nm_loss_check(const nm_graph *g, nm_readout mode, nm_loss_kind loss);

/* ---- backward pass ----------------------------------------------------- */

typedef struct nm_bptt nm_bptt;

/* Gradient buffers for every node of the executor's graph, allocated once. */
nm_status nm_bptt_create(nm_exec *x, nm_bptt **out);
void      nm_bptt_destroy(nm_bptt *b);   /* accepts NULL */
/* The firing-rate regularizer: adds lambda * (mean firing probability per neuron and step)
** of every hidden spiking population to the loss, so training trades accuracy for spikes.
** 0 (the default) turns it off. */
void      nm_bptt_set_rate_reg(nm_bptt *b, float lambda);
/* Overwrites grads (n_params of the graph) with dL/dparams for the last forward pass,
** given g = dL/d(readout output) (n_steps, batch, C) from a loss. detach_reset: no gradient
** through the reset (as snnTorch does). Returns the regularizer's loss (0 when off). */
double    nm_bptt_backward(nm_bptt *b, const float *g, int detach_reset, float *grads);
/* Bytes of the gradient buffers. */
int64_t   nm_bptt_bytes(const nm_bptt *b);

/* ---- gradient kernels ---------------------------------------------------- */
/* The backward of run.h's layer kernels. Same determinism rule: bit-identical results with
** any thread count (reductions over images or rows in a fixed order). */

/* Given gy = dL/dy (m, c_out h_out w_out) of nm_conv_forward: dW (accumulated: dW += ...),
** db (accumulated; may be NULL), gx = dL/dx (m, c_in h_in w_in) (overwritten; may be NULL).
** scratch: nm_conv_scratch_floats(g, m) floats. */
void nm_conv_backward(const nm_conv_geom *g, const float *W, const float *x, const float *gy, int64_t m,
                      float *dW, float *db, float *gx, float *scratch);
/* gx (overwritten) from gy of nm_pool_forward. */
void nm_pool_backward(const nm_conv_geom *g, nm_pool_kind kind, const float *gy, int64_t m, float *gx);
/* The sparse outer product for binary inputs: dW (n_out, n_in) += gy^T X, X (m, n_in) given
** as bits; db not included. */
void nm_affine_dweight_sparse(const float *gy, const uint64_t *bits, int64_t m, int64_t n_in, int64_t n_out,
                              float *dW);

/* ---- Adam -------------------------------------------------------------- */

typedef struct nm_adam {
    int64_t n;            /* parameters */
    int64_t n_decay;      /* weight decay applies to the first n_decay (default: all) */
    int64_t t;            /* steps taken */
    float   beta1, beta2, eps, weight_decay;   /* weight decay is decoupled (AdamW) */
    float  *m, *v;        /* moment estimates (n) */
} nm_adam;

nm_status nm_adam_create(int64_t n, nm_adam **out);   /* beta 0.9/0.999, eps 1e-8, wd 0 */
void      nm_adam_destroy(nm_adam *a);                /* accepts NULL */
void      nm_adam_step(nm_adam *a, float *params, const float *grads, float lr);

/* ---- SGD with momentum, gradient clipping, learning-rate schedules ------- */

typedef struct nm_sgd {
    int64_t n;
    int64_t n_decay;       /* weight decay applies to the first n_decay (default: all) */
    float   momentum;      /* mu (0: plain SGD)                          */
    float   weight_decay;  /* coupled L2: g += wd * w (PyTorch's SGD)    */
    int     nesterov;
    float  *buf;           /* momentum buffer (n)                        */
    int64_t t;             /* steps taken                                */
} nm_sgd;

/* PyTorch's SGD with dampening 0: g' = g + wd w; b = mu b + g' (b = g' at the first step);
** w -= lr (nesterov ? g' + mu b : b). With mu = 0 it is w -= lr g' and buf is not used.
** momentum in [0, 1) (NM_RANGE otherwise); weight_decay 0 and nesterov 0 until set. */
nm_status nm_sgd_create(int64_t n, float momentum, nm_sgd **out);
void      nm_sgd_destroy(nm_sgd *s);                                 /* accepts NULL */
void      nm_sgd_step(nm_sgd *s, float *params, const float *grads, float lr);

/* Scales grads (n) so that their L2 norm is at most max_norm (> 0); returns the norm before
** clipping. The norm is summed in double in a fixed order. A non-finite norm is returned
** with grads unchanged (no epsilon is added, unlike PyTorch's 1e-6). */
double nm_clip_grad_norm(float *grads, int64_t n, double max_norm);
/* Clamps every gradient to [-max_abs, max_abs] (max_abs >= 0); NaNs stay NaN. */
void   nm_clip_grad_value(float *grads, int64_t n, float max_abs);

typedef enum {
    NM_SCHED_CONSTANT = 0,   /* lr                                                        */
    NM_SCHED_COSINE   = 1,   /* lr (f + (1 - f)(1 + cos(pi p)) / 2), p = progress in [0, 1] */
    NM_SCHED_LINEAR   = 2,   /* lr (1 - (1 - f) p)                                          */
    NM_SCHED_STEP     = 3    /* lr gamma^floor(epoch / step_every)                          */
} nm_sched_kind;

typedef struct nm_lr_schedule {
    nm_sched_kind kind;
    float lr;          /* peak learning rate                                   */
    float final;       /* f: the cosine and linear schedules end at lr * f     */
    float gamma;       /* step: factor at each drop (e.g. 0.1)                 */
    int   step_every;  /* step: drop every this many epochs (>= 1)              */
    int64_t warmup;    /* linear warm-up over the first warmup steps (0: none)  */
} nm_lr_schedule;

const char *nm_sched_name(nm_sched_kind k);
nm_status   nm_sched_parse(const char *s, nm_sched_kind *out);   /* constant, cosine, linear, step */
/* The learning rate at optimizer step `step` (0-based) of `total` steps, `per_epoch` steps
** an epoch (the step schedule counts epochs: lr gamma^floor(step / per_epoch / step_every),
** integer divisions; per_epoch or step_every below 1 count as 1). Progress p = step /
** (total - 1), or 1 when total <= 1, clamped to [0, 1]. The cosine is evaluated as
** lo + 0.5 (lr - lo)(1 + cos(pi p)), lo = lr f, as nm_train's schedule, so both give the
** same float. Warm-up multiplies by (step + 1) / warmup while step < warmup. Computed in
** double, rounded once. */
float nm_lr_at(const nm_lr_schedule *s, int64_t step, int64_t total, int64_t per_epoch);

/* ---- training ---------------------------------------------------------- */

typedef struct nm_epoch_stats nm_epoch_stats;

typedef enum { NM_OPT_ADAM = 0, NM_OPT_SGD = 1 } nm_optimizer;
const char *nm_optimizer_name(nm_optimizer o);
nm_status   nm_optimizer_parse(const char *s, nm_optimizer *out);   /* "adam", "sgd" */

/* ---- hardware-aware training ------------------------------------------- */

/* Weight noise during training (noise injection, as NeuRRAM and aihwkit train for analog
** chips): every batch's forward and backward run with perturbed weight matrices (Affine,
** Linear, Conv, recurrent; not biases), and the update is applied to the clean weights. */
typedef enum {
    NM_WNOISE_NONE     = 0,
    NM_WNOISE_ADDITIVE = 1,   /* w + sigma z                                                  */
    NM_WNOISE_RELATIVE = 2,   /* w + sigma max|W| z, max over the layer (aihwkit's w_max)      */
    NM_WNOISE_DEVICE   = 3    /* a device model's programming noise, through `device` below    */
} nm_wnoise_kind;

const char *nm_wnoise_name(nm_wnoise_kind k);
nm_status   nm_wnoise_parse(const char *s, nm_wnoise_kind *out);   /* none additive relative device */

typedef struct nm_weight_noise {
    nm_wnoise_kind kind;
    float sigma;        /* additive: std; relative: std / max|W|; device: scale of the model's noise */
    int   quant_bits;   /* forward through weights rounded to 2^(b-1) - 1 levels per sign of the
                        ** layer's max|W|, gradient straight through (0: off) */
    float clip;         /* after every update, clip each layer to +- clip x its std (0: off) */
    /* NM_WNOISE_DEVICE: writes the weights a device would hold after programming w (n) of
    ** weight node `node`; draws keyed by `key` (one per batch). */
    nm_status (*device)(void *ctx, int node, const float *w, int64_t n, uint64_t key, float *out);
    void *device_ctx;
} nm_weight_noise;

/* Writes the training step to the weights through devices (in-situ learning, module hw):
** replaces the optimizer's plain write. */
typedef struct nm_update_hooks {
    void *ctx;
    /* params (n) += delta (the optimizer's step) as the devices allow; `seen` is the number of
    ** training images so far, this batch included. */
    nm_status (*apply)(void *ctx, float *params, const float *delta, int64_t n, int64_t seen);
} nm_update_hooks;

typedef struct nm_train_config {
    int          epochs;          /* >= 1 */
    int          batch;           /* training batch */
    int          eval_batch;      /* evaluation batch */
    float        lr;              /* peak learning rate */
    float        lr_final;        /* cosine and linear schedules end at lr * lr_final */
    nm_sched_kind schedule;       /* learning-rate schedule (cosine) */
    int64_t      warmup;          /* linear warm-up steps (0) */
    float        step_gamma;      /* step schedule: factor per drop (0.1) */
    int          step_every;      /* step schedule: epochs between drops (1) */
    nm_optimizer optimizer;       /* Adam (AdamW) or SGD */
    float        momentum;        /* SGD momentum (0.9) */
    float        weight_decay;    /* decoupled for Adam, L2 for SGD; weights and biases only */
    float        clip_norm;       /* clip the gradient's L2 norm to this (0: off) */
    nm_loss_kind loss;            /* ce (on the readout's scores) or mse (on spike counts) */
    float        mse_correct_rate, mse_incorrect_rate;  /* mse targets, spikes per step (0.8, 0.2) */
    float        rate_reg;        /* firing-rate regularizer weight (0: off) */
    nm_sparse_mode sparse;        /* gather path for sparse binary inputs (auto) */
    float        sparse_max_density; /* 0: the executor's default */
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
    /* Runs evaluation's forward passes elsewhere (a chip sample, module hw); NULL: the
    ** ideal model. */
    const nm_exec_hooks *hooks;
    /* Chip-in-the-loop: training's forward passes (and the per-epoch evaluation) run through
    ** `hooks` as well; the backward pass runs through the ideal model at the recorded spikes
    ** and membranes, and after every update hooks->update re-programs the chip. */
    int          in_loop;
    nm_weight_noise noise;        /* noise injection (kind NONE: off) */
    /* Per node (n_nodes entries; NULL: none): nonzero keeps that node's parameters fixed. */
    const uint8_t *frozen;
    const nm_update_hooks *updater;   /* in-situ learning (NULL: the optimizer writes) */
} nm_train_config;

/* 1 epoch, batch 128, AdamW with lr 1e-3 -> 5e-2 of it (cosine), weight decay 0.01, 25
** steps of 1 ms, constant-current input, mean-membrane readout with cross-entropy,
** fast-sigmoid surrogate with slope 25, reset detached, no clipping or regularizer, the
** sparse path chosen by density, seed 1, checkpoints every 60 s. */
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

/* ---- learning without backpropagation through time ---------------------- */
/*
** Four ways to a working spiking network, on one dataset: BPTT (above), ANN-to-SNN
** conversion, unsupervised STDP (Diehl & Cook 2015) and an evolution strategy.
*/

/* ANN mode. A layered graph runs once on the analog input with no time: every hidden
** spiking population (IF, LIF, ALIF, CubaLIF) acts as a ReLU, the readout population is the
** identity, and Affine, Linear, Conv, pools and Flatten compute what they compute in time.
** Nodes: Input, Output, Affine, Linear, Conv, SumPool, AvgPool, Flatten and populations;
** a recurrent Affine, Delay or Scale gives NM_UNSUPPORTED naming the node. */
typedef struct nm_ann nm_ann;

nm_status nm_ann_create(const nm_graph *g, int max_batch, nm_ann **out);   /* g borrowed */
void      nm_ann_destroy(nm_ann *a);                                          /* accepts NULL */
/* x (batch, n_input) -> every node's activation; NM_INVAL for batch > max_batch. */
nm_status nm_ann_forward(nm_ann *a, const float *x, int batch);
/* The activation of node j of the last pass (batch, n_out of j). Borrowed, until the next
** pass. The readout's is the class scores (logits). */
const float *nm_ann_output(const nm_ann *a, int node);
/* grads (n_params of the graph) = dL/dparams for g = dL/d(logits) (batch, C) of the last pass
** (overwritten). */
void      nm_ann_backward(nm_ann *a, const float *g, float *grads);
/* Mean softmax cross-entropy of the last pass against labels; g (batch, C) gets its gradient
** (may be NULL); *n_correct counts argmax hits (may be NULL). */
double    nm_ann_loss(const nm_ann *a, const int *labels, float *g, int *n_correct);

typedef struct nm_ann_config {
    int      epochs;       /* >= 1 (default 10)                                 */
    int      batch;        /* 100                                                */
    float    lr;           /* Adam, cosine to lr * 0.05 (1e-3)                   */
    float    weight_decay; /* decoupled (1e-4)                                   */
    uint64_t seed;         /* data order and initial weights (1)                 */
    int64_t  train_limit, test_limit;   /* first N samples (0: all)              */
    int      quiet;
    int      init;         /* 1: draw initial weights (nm_graph_init_params); 0: keep g's */
} nm_ann_config;
void nm_ann_config_default(nm_ann_config *c);

typedef struct nm_ann_result {
    double train_loss, train_acc, test_acc;   /* last epoch                         */
    double seconds;                           /* training time, without evaluation  */
} nm_ann_result;

/* Trains g in ANN mode with Adam on softmax cross-entropy. */
nm_status nm_ann_train(nm_graph *g, const nm_dataset *train, const nm_dataset *test, const nm_ann_config *c,
                       nm_ann_result *res);
/* Accuracy of g in ANN mode on the first `limit` samples of d (0: all). */
nm_status nm_ann_evaluate(const nm_graph *g, const nm_dataset *d, int64_t limit, double *accuracy);

/* ANN-to-SNN conversion (Diehl et al. 2015, Rueckauer et al. 2017). The spiking network is
** the same layered spec with IF neurons (r dt = 1, threshold 1, reset by subtraction) and an
** LI readout with a time constant of 10^6 s (an integrator: its membrane at step T is the sum
** of its input currents). Weights are rescaled layer by layer, W_l *= lambda_{l-1} / lambda_l
** and b_l /= lambda_l, lambda_l the maximum or a percentile of layer l's ReLU activations over
** a calibration set (lambda_0 = 1: pixels are in [0, 1]), so every IF rate stays below one
** spike per step. Biases and the input are constant currents at every step. */
typedef enum { NM_NORM_MAX = 0, NM_NORM_PERCENTILE = 1, NM_NORM_NONE = 2 } nm_norm_kind;
const char *nm_norm_name(nm_norm_kind k);
nm_status   nm_norm_parse(const char *s, nm_norm_kind *out);   /* "max", "percentile" (or "p99.9"), "none" */

typedef struct nm_convert_config {
    nm_norm_kind norm;        /* percentile                                          */
    double       percentile;  /* of the positive activations, in (0, 100] (99.9)      */
    int64_t      calib;       /* calibration samples, the first of the set (1000)     */
    float        dt;          /* s, of the converted model (1e-3)                     */
} nm_convert_config;
void nm_convert_config_default(nm_convert_config *c);

/* A converted copy of ann (a layered spec graph) into *out; lambda (optional, one per node of
** the result, 0 where not a population) gets the scales used. Errors: NM_UNSUPPORTED for a
** graph that is not a feed-forward spec, NM_SHAPE when calib does not fit. */
nm_status nm_convert(const nm_graph *ann, const nm_dataset *calib, const nm_convert_config *c, nm_graph **out,
                     float *lambda);

#define NM_CONVERT_MAX_T 16
typedef struct nm_convert_eval {
    int     n_t;                          /* time-step counts evaluated            */
    int     steps[NM_CONVERT_MAX_T];      /* ascending                             */
    double  accuracy[NM_CONVERT_MAX_T];   /* class = argmax of the readout membrane at the last step */
    double  spikes[NM_CONVERT_MAX_T];     /* hidden spikes per inference           */
    int64_t n;                            /* samples                               */
    double  seconds;
} nm_convert_eval;

/* Runs the converted snn once for max(steps) steps per sample (constant-current input) and
** scores every prefix of `n_steps` in steps (ascending, at most NM_CONVERT_MAX_T): the network
** is causal, so the first T steps of a long run are a run of T steps. */
nm_status nm_convert_evaluate(const nm_graph *snn, const nm_dataset *d, const int *steps, int n_steps, int64_t limit,
                              int batch, nm_convert_eval *res);

/* Diehl & Cook 2015 ("Unsupervised learning of digit recognition using spike-timing-dependent
** plasticity"): Poisson input, n_exc conductance-based LIF neurons with adaptive thresholds and
** lateral inhibition, unsupervised STDP with traces, neurons labelled after training by their
** average response, classification by the most active group. Units: ms, mV, nS as the paper's
** code; parameters below default to its values. */
typedef struct nm_stdp_config {
    int      n_exc;                 /* excitatory neurons (400)                              */
    float    dt;                    /* ms (0.5)                                              */
    float    t_present, t_rest;     /* ms per image (350) and rest (150: the state is reset)  */
    float    max_rate;              /* Hz of a full-intensity pixel (63.75)                  */
    float    rate_boost;            /* Hz added when fewer than min_spikes fired (31.875)    */
    int      min_spikes, max_boosts;/* 5, 10                                                 */
    float    v_rest, v_reset, v_thresh, theta_offset;   /* -65, -65, -52, 20 mV              */
    float    e_exc, e_inh;          /* reversal potentials, 0 and -100 mV                    */
    float    tau_m, tau_ge, tau_gi; /* 100, 1, 2 ms                                          */
    float    t_ref;                 /* refractory ms (5)                                     */
    float    w_inh;                 /* inhibitory conductance on every other neuron per spike (17) */
    float    theta_plus, tau_theta, theta_init;   /* 0.05 mV, 1e7 ms, 20 mV                   */
    float    nu_pre, nu_post;       /* 0.0001, 0.01                                          */
    float    tau_pre, tau_post1, tau_post2;       /* 20, 20, 40 ms                            */
    float    w_max;                 /* 1                                                     */
    float    w_sum;                 /* input weights of each neuron sum to this (78; 0: off)  */
    float    w_init_lo, w_init_hi;  /* uniform initial weights (0.003, 0.303)                */
    uint64_t seed;                  /* 1                                                     */
} nm_stdp_config;
void      nm_stdp_config_default(nm_stdp_config *c);
nm_status nm_stdp_config_check(const nm_stdp_config *c);   /* NM_RANGE naming the field */

typedef struct nm_stdp nm_stdp;
nm_status nm_stdp_create(const nm_stdp_config *c, int64_t n_input, nm_stdp **out);
void      nm_stdp_destroy(nm_stdp *s);   /* accepts NULL */
/* Resets the state (membranes, conductances, traces, refractory counts; not theta or w), as
** the rest between images does. */
void      nm_stdp_reset(nm_stdp *s);
/* Advances one dt: input spikes pre[0..n_pre) arrive; post_forced[0..n_forced) excitatory
** neurons are made to spike (tests, teacher signals; may be NULL); with learn, STDP and
** theta updates apply. fired (n_exc bytes, may be NULL) gets which neurons spiked. Returns
** the number of excitatory spikes. */
int       nm_stdp_step(nm_stdp *s, const int32_t *pre, int n_pre, const int32_t *post_forced, int n_forced, int learn,
                       uint8_t *fired);
/* Input weights (n_input, n_exc) row-major, and theta (n_exc, mV); borrowed. */
float    *nm_stdp_weights(nm_stdp *s);
float    *nm_stdp_theta(nm_stdp *s);
/* Presents image x (n_input intensities in [0, 1]) for t_present with Poisson input drawn
** from Philox at (seed, key); raises the rate until min_spikes fire (at most max_boosts
** times). counts (n_exc) gets the spikes of the final presentation. Returns them in total. */
int64_t   nm_stdp_present(nm_stdp *s, const float *x, uint64_t key, int learn, int32_t *counts);

/* Labels: neuron i gets the class with the highest mean count over the samples of that
** class (counts (n_samples, n_neurons); a neuron that never fired gets -1). */
void nm_stdp_assign_labels(const int32_t *counts, const int *labels, int64_t n_samples, int n_neurons, int n_classes,
                           int *assign);
/* Class of one sample: the class whose assigned neurons have the highest mean count. */
int  nm_stdp_classify(const int32_t *counts, const int *assign, int n_neurons, int n_classes);

typedef struct nm_stdp_result {
    int64_t n_train, n_label, n_test;
    double  train_seconds, label_seconds, test_seconds;
    double  accuracy;               /* test                                 */
    double  spikes_per_inference;   /* excitatory spikes per test image     */
    double  input_spikes_per_inference;
    int     n_unassigned;           /* neurons without a label              */
} nm_stdp_result;

/* One pass of unsupervised training over the first n_train images of train (learning on),
** labels from the responses to the next n_label training images (learning off; n_label 0:
** the training images themselves, recorded as they were learned), accuracy on the first n_test
** of test. Images are presented in order; labelling and testing run in parallel over images
** with keys per image, so the result does not depend on the thread count. *stop (may be NULL)
** ends training early (NM_INTERRUPTED). */
nm_status nm_stdp_run(nm_stdp *s, const nm_dataset *train, const nm_dataset *test, int64_t n_train, int64_t n_label,
                      int64_t n_test, int quiet, volatile sig_atomic_t *stop, nm_stdp_result *res);

/* A simple evolution strategy (Salimans et al. 2017, "Evolution strategies as a scalable
** alternative to reinforcement learning"): antithetic Gaussian perturbations of all
** parameters, centred-rank fitness shaping, Adam on the estimated gradient. Fitness is minus
** the cross-entropy of the spiking network's scores (executor, nm_train_config's encoding,
** steps and readout) on a minibatch drawn per generation. */
typedef struct nm_evolve_config {
    int      generations;   /* 200                                      */
    int      pairs;         /* antithetic pairs per generation (16)     */
    float    sigma;         /* perturbation std (0.02)                  */
    float    lr;            /* Adam step (0.01)                         */
    int      batch;         /* fitness samples per generation (256)     */
    int64_t  train_limit;   /* draw minibatches from the first N (0: all) */
    uint64_t seed;
    int      quiet;
} nm_evolve_config;
void nm_evolve_config_default(nm_evolve_config *c);

typedef struct nm_evolve_result {
    int    generations;
    double first_fitness, last_fitness;   /* mean fitness of the first and last generation */
    double seconds;
} nm_evolve_result;

/* Evolves g's parameters in place; tc gives the time (n_steps, dt, encoding, readout, seed). */
nm_status nm_evolve(nm_graph *g, const nm_dataset *train, const nm_train_config *tc, const nm_evolve_config *c,
                    nm_evolve_result *res);

#ifdef __cplusplus
}
#endif
#endif
