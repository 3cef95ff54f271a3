/*
** neuron: the dynamics of neuron models, one forward pass over time and its surrogate
** backward, with constants from exact integration of the continuous-time model.
**
** Models are defined in continuous time with NIR's parameters:
**
**   LIF   tau dv/dt = (v_leak - v) + r I;   spike when v > v_threshold, then reset
**   LI    tau dv/dt = (v_leak - v) + r I;   no spikes (a leaky readout)
**
** An executor with step dt holds I constant over a step (zero-order hold) and integrates
** the linear part exactly:
**
**   u[t] = v_leak + alpha (v[t-1] - v_leak) + beta I[t],   alpha = exp(-dt/tau),
**                                                           beta  = (1 - alpha) r
**   s[t] = H(u[t] - v_threshold)
**   v[t] = u[t] - s[t] (v_threshold - v_reset)     reset by subtraction
**        = u[t] (1 - s[t]) + s[t] v_reset          reset to v_reset
**        = u[t]                                   no reset
**
** with v[-1] = v_leak. The same model at another dt gives the same trajectory at shared
** time points (exactly, for piecewise-constant input). u is the membrane before the reset;
** it is what the backward pass needs, and the spike is recomputed from it.
**
** Surrogate gradients replace dH/dx by a smooth bump sigma'(x) (Neftci, Mostafa & Zenke
** 2019). Each surrogate also has its primitive sigma(x), a smooth step: running the forward
** pass with sigma instead of H ("smooth forward") makes the surrogate gradient the exact
** gradient, which is how the backward pass is checked against finite differences.
*/
#ifndef NEUROMORPH_NEURON_H
#define NEUROMORPH_NEURON_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NM_RESET_SUBTRACT = 0,   /* v -= v_threshold - v_reset (keeps the overshoot)     */
    NM_RESET_TO_VALUE = 1,   /* v = v_reset                                          */
    NM_RESET_NONE     = 2
} nm_reset;

const char *nm_reset_name(nm_reset r);
nm_status   nm_reset_parse(const char *s, nm_reset *out);  /* "subtract", "zero"/"value", "none" */

/* Leaky integrate-and-fire: time in seconds, potentials in the model's own units. */
typedef struct nm_lif_params {
    float    tau;          /* membrane time constant, s (> 0)      */
    float    r;            /* input resistance (gain of I)         */
    float    v_leak;       /* resting potential                    */
    float    v_threshold;  /* spike threshold                      */
    float    v_reset;      /* reset potential                      */
    nm_reset reset;
} nm_lif_params;

/* Leaky integrator (readout). */
typedef struct nm_li_params {
    float tau, r, v_leak;
} nm_li_params;

/* tau 20 ms, r = tau / 1 ms (so one unit of input per 1 ms step raises v by about one
** unit, as snnTorch's exported Leaky layers do), v_leak 0, threshold 1, reset 0 by
** subtraction. */
void nm_lif_params_default(nm_lif_params *p);
void nm_li_params_default(nm_li_params *p);
/* NM_OK, or NM_RANGE naming the offending field (tau <= 0, non-finite values,
** v_reset >= v_threshold). */
nm_status nm_lif_params_check(const nm_lif_params *p);
nm_status nm_li_params_check(const nm_li_params *p);

/* ---- discretization ---------------------------------------------------- */

/* The per-step constants of a LIF or LI population at step dt. */
typedef struct nm_lif_step {
    float    alpha, beta;       /* decay and input gain per step */
    float    v_leak, v_th, v_reset;
    nm_reset reset;             /* NM_RESET_NONE and v_th = +inf for LI */
} nm_lif_step;

void nm_lif_discretize(const nm_lif_params *p, float dt, nm_lif_step *out);
void nm_li_discretize(const nm_li_params *p, float dt, nm_lif_step *out);

/* ---- surrogate gradients ----------------------------------------------- */

typedef enum {
    NM_SURR_FAST_SIGMOID = 0,  /* sigma'(x) = 1 / (1 + k|x|)^2                (Zenke & Ganguli 2018) */
    NM_SURR_ARCTAN       = 1   /* sigma'(x) = (k/2) / (1 + (pi k x / 2)^2)     (Fang et al. 2021)     */
} nm_surrogate_kind;

typedef struct nm_surrogate {
    nm_surrogate_kind kind;
    float slope;           /* k: 25 for fast sigmoid, 2 for arctan (snnTorch's defaults) */
    int   smooth_forward;  /* 1: spikes are sigma(x) instead of H(x) (gradient checks)   */
} nm_surrogate;

const char *nm_surrogate_name(nm_surrogate_kind k);
nm_status   nm_surrogate_parse(const char *s, nm_surrogate_kind *out); /* "fast-sigmoid", "arctan" */
void  nm_surrogate_default(nm_surrogate *s, nm_surrogate_kind kind);
float nm_surrogate_grad(const nm_surrogate *s, float x);       /* sigma'(x) */
float nm_surrogate_primitive(const nm_surrogate *s, float x);  /* sigma(x), sigma(0) = 1/2 */

/* ---- populations over time --------------------------------------------- */
/*
** Arrays are time-major: (time rows, batch, n), row-major. The input current I has 1
** time row (constant over the window: the same current at every step) or n_steps rows.
** Batch rows are independent and run in parallel (OpenMP); each element is computed the
** same way whatever the thread count.
*/

/* LIF forward over n_steps. u (n_steps, batch, n): membrane before reset. spk (n_steps, batch, n): spikes (0/1, or sigma with smooth_forward).
** ws: batch*n floats (the state). Returns the number of spikes (with smooth_forward:
** the number of u > v_th). */
int64_t nm_lif_forward(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                       int64_t n, const float *cur, int I_rows, float *u, float *spk, float *ws);

/* LIF backward. g_spk (n_steps, batch, n): dL/ds from downstream. Writes g_I (I_rows,
** batch, n) = dL/dI (summed over time when I_rows is 1). With detach_reset the gradient
** does not flow through the reset (as snnTorch does by default). ws: batch*n floats. */
void nm_lif_backward(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                     int64_t n, const float *u, const float *g_spk, int detach_reset,
                     float *g_I, int I_rows, float *ws);

/* LI forward: u (n_steps, batch, n) is the membrane (the output). */
void nm_li_forward(const nm_lif_step *c, int n_steps, int batch, int64_t n,
                   const float *cur, int I_rows, float *u);
/* LI backward from g_u (n_steps, batch, n) to g_I (I_rows, batch, n). ws: batch*n. */
void nm_li_backward(const nm_lif_step *c, int n_steps, int batch, int64_t n,
                    const float *g_u, float *g_I, int I_rows, float *ws);

#ifdef __cplusplus
}
#endif
#endif
