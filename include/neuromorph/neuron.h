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

/* x = u - v_threshold; k = nm_surrogate.slope > 0. Every sigma' is even in x and every sigma
** has sigma(0) = 1/2 and derivative exactly sigma'.
**
**   FAST_SIGMOID      sigma'(x) = 1 / (1 + k|x|)^2, peak 1, area 2/k;
**                     sigma(x) = 1/2 + x / (1 + k|x|).  Zenke & Ganguli 2018 (SuperSpike),
**                     as snnTorch's fast_sigmoid (default k 25).
**   ARCTAN            sigma'(x) = (k/2) / (1 + (pi k x / 2)^2), peak k/2, area 1;
**                     sigma(x) = 1/2 + atan(pi k x / 2) / pi.  Fang et al. 2021 (SpikingJelly's
**                     ATan; default k 2).
**   TRIANGLE          sigma'(x) = k max(0, 1 - k|x|), peak k, support |x| < 1/k, area 1;
**                     sigma(x) = 1/2 + sign(x) (k|x| - (kx)^2 / 2) for |x| < 1/k, else H(x).
**                     The triangular pseudo-derivative of Esser et al. 2016 and Bellec et al.
**                     2018: at k = 1 (the default) it is their max(0, 1 - |x|) for threshold 1
**                     (Bellec et al. scale x by the threshold and the result by gamma = 0.3).
**                     Larger k narrows it towards the Dirac delta, keeping area 1.
**   SUPERSPIKE        the fast sigmoid's function, 1 / (1 + k|x|)^2, with SuperSpike's scale:
**                     default k 100, as in Zenke's SpyTorch code for Zenke & Ganguli 2018.
**   STRAIGHT_THROUGH  sigma'(x) = k everywhere (Bengio, Leonard & Courville 2013);
**                     sigma(x) = 1/2 + kx, unbounded: a smooth forward with it serves only the
**                     gradient checks. Default k 1.
**
** Append new kinds and never renumber: files and configurations may hold the numbers. */
typedef enum {
    NM_SURR_FAST_SIGMOID     = 0,
    NM_SURR_ARCTAN           = 1,
    NM_SURR_TRIANGLE         = 2,
    NM_SURR_SUPERSPIKE       = 3,
    NM_SURR_STRAIGHT_THROUGH = 4
} nm_surrogate_kind;

typedef struct nm_surrogate {
    nm_surrogate_kind kind;
    float slope;           /* k (> 0); nm_surrogate_default gives each kind's default       */
    int   smooth_forward;  /* 1: spikes are sigma(x) instead of H(x) (gradient checks)   */
} nm_surrogate;

/* "fast-sigmoid", "arctan", "triangle", "superspike", "straight-through"; "?" otherwise. */
const char *nm_surrogate_name(nm_surrogate_kind k);
/* The names above, also "atan" and "ste"; NM_INVAL listing the choices otherwise. */
nm_status   nm_surrogate_parse(const char *s, nm_surrogate_kind *out);
/* kind with its default slope (25, 2, 1, 100, 1 in the order above) and a hard forward. */
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

/* ======================================================================== */
/* ==== More models: CubaLIF, IF, refractoriness, ALIF, learnable tau and  */
/* ==== threshold, AdEx, Izhikevich (src/neuron/models.c, nonlinear.c)     */
/* ======================================================================== */
/*
** The conventions above hold throughout: a params struct with _default and _check, a
** _discretize that turns it into per-step constants at step dt (seconds), time-major
** (n_steps, batch, n) arrays, an input current with I_rows 1 (constant over the window)
** or n_steps rows, state starting at rest at every call, batch rows in parallel with
** bit-identical results for any thread count. Forwards return the number of spikes
** (with smooth_forward: the number of threshold crossings). Backwards take dL/ds and
** write dL/dI exactly as nm_lif_backward does (summed over time when I_rows is 1);
** detach_reset cuts only the gradient through the reset. Workspace sizes are given per
** function, in floats.
**
** Refractoriness (CubaLIF, ALIF, and LIF or IF through nm_lif_forward_refractory).
** t_ref seconds become n_ref = ceil(t_ref / dt) steps (nm_refractory_steps). After a
** spike at step t the membrane is held at v_reset for steps t+1 .. t+n_ref: u = v_reset,
** no spike, and the input does not reach the membrane (NEST's iaf_psc_* do the same).
** Synaptic currents and adaptation keep evolving while the membrane is held. The
** forward marks held steps with 1 in `clamped`, (n_steps, batch, n) bytes, and the
** backward reads it: a held step has zero derivative with respect to its input and to
** the earlier membrane, and no spike gradient. With n_ref = 0 nothing is held and
** clamped may be NULL in both passes. The spike that starts a refractory period is a
** hard decision (u > threshold) even with smooth_forward; its gradient is not taken.
** Refractory counters live in the float workspace (exact up to 2^24 steps).
*/

/* n_ref = ceil(t_ref / dt) steps, with a relative slack of 1e-6 so that a t_ref that is a
** whole number of steps in float (2e-3 at dt 1e-4) gives that number; 0 for t_ref <= 0. */
int nm_refractory_steps(float t_ref, float dt);

/* ---- LIF with a refractory period -------------------------------------- */

/* nm_lif_forward with n_ref refractory steps (above). Also runs IF (nm_if_discretize).
** clamped: (n_steps, batch, n) or NULL when n_ref is 0. ws: 2 batch n floats. With
** n_ref = 0 the results are bit-identical to nm_lif_forward. */
int64_t nm_lif_forward_refractory(const nm_lif_step *c, int n_ref, const nm_surrogate *s, int n_steps,
                                  int batch, int64_t n, const float *cur, int I_rows, float *u, float *spk,
                                  uint8_t *clamped, float *ws);
/* nm_lif_backward through held steps (zero derivative there). clamped as recorded by the
** forward, or NULL. ws: batch n floats. */
void nm_lif_backward_refractory(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                                int64_t n, const float *u, const uint8_t *clamped, const float *g_spk,
                                int detach_reset, float *g_I, int I_rows, float *ws);

/* ---- CubaLIF: current-based LIF (NIR CubaLIF) -------------------------- */
/*
**   tau_syn dI_syn/dt = -I_syn + w_in I
**   tau_mem dv/dt     = (v_leak - v) + r I_syn;   spike when v > v_threshold, then reset
**
** Exact integration of the two-variable linear system with I held over each step (the
** propagators of NEST's iaf_psc_exp; Rotter & Diesmann 1999, Biol. Cybern. 81:381):
**
**   u[t]     = v_leak + alpha_mem (v[t-1] - v_leak) + p_syn I_syn[t-1] + p_in I[t]
**   I_syn[t] = alpha_syn I_syn[t-1] + gain_syn I[t]
**   alpha_x  = exp(-dt / tau_x),   gain_syn = (1 - alpha_syn) w_in
**   p_syn    = r tau_syn (alpha_syn - alpha_mem) / (tau_syn - tau_mem)
**            = r (dt / tau) exp(-dt / tau)             when tau_syn = tau_mem = tau
**   p_in     = w_in (r (1 - alpha_mem) - p_syn)
**
** then spike and reset as for LIF, from v[-1] = v_leak and I_syn[-1] = 0. p_syn is
** computed as r alpha_mem (dt / tau_mem) expm1(x) / x, x = dt (1/tau_mem - 1/tau_syn),
** which has no cancellation near tau_syn = tau_mem and is exact at equality (the
** t exp(-t/tau) limit). As tau_syn -> 0, p_syn -> 0 and p_in -> w_in beta_LIF: the model
** becomes LIF driven by w_in I. From rest under a constant I, with J = w_in I:
**
**   v(t) = v_leak + r J [1 - (tau_syn e^(-t/tau_syn) - tau_mem e^(-t/tau_mem)) / (tau_syn - tau_mem)]
**   v(t) = v_leak + r J [1 - (1 + t/tau) e^(-t/tau)]                      (equal taus)
**
** and the discretization hits these values exactly at every step end.
**
** Memory: the forward records u, (n_steps, batch, n) floats, as LIF does. Both state
** variables enter linearly, so the backward needs no I_syn trajectory: the Jacobian of
** a step depends on u only (surrogate and reset), and BPTT carries dL/dv and dL/dI_syn
** backwards (2 batch n floats of workspace). I_syn may be recorded for inspection.
*/
typedef struct nm_cuba_lif_params {
    float    tau_syn;      /* synaptic time constant, s (> 0)      */
    float    tau_mem;      /* membrane time constant, s (> 0)      */
    float    r;            /* input resistance (gain of I_syn)     */
    float    w_in;         /* input weight (gain of I into I_syn)  */
    float    v_leak, v_threshold, v_reset;
    nm_reset reset;
    float    t_ref;        /* refractory period, s (>= 0)          */
} nm_cuba_lif_params;

typedef struct nm_cuba_lif_step {
    float    alpha_syn, gain_syn;     /* I_syn decay, I -> I_syn                  */
    float    alpha_mem, p_syn, p_in;  /* v decay, I_syn[t-1] -> v[t], I[t] -> v[t] */
    float    v_leak, v_th, v_reset;
    nm_reset reset;
    int      n_ref;                   /* refractory steps                         */
} nm_cuba_lif_step;

/* tau_syn 5 ms, tau_mem 20 ms, r = tau_mem / 1 ms (as LIF), w_in 1, v_leak 0, threshold 1,
** reset 0 by subtraction, no refractory period. */
void nm_cuba_lif_params_default(nm_cuba_lif_params *p);
/* NM_OK, or NM_RANGE naming the field (taus <= 0, t_ref < 0, non-finite values,
** v_reset >= v_threshold, bad reset mode). */
nm_status nm_cuba_lif_params_check(const nm_cuba_lif_params *p);
void nm_cuba_lif_discretize(const nm_cuba_lif_params *p, float dt, nm_cuba_lif_step *out);

/* u (n_steps, batch, n): membrane before reset. i_syn (n_steps, batch, n) or NULL: the
** synaptic current after each step. spk: spikes. clamped: see refractoriness (NULL
** allowed when n_ref is 0). ws: 3 batch n floats. */
int64_t nm_cuba_lif_forward(const nm_cuba_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                            int64_t n, const float *cur, int I_rows, float *u, float *i_syn, float *spk,
                            uint8_t *clamped, float *ws);
/* BPTT through v and I_syn. ws: 2 batch n floats. */
void nm_cuba_lif_backward(const nm_cuba_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                          int64_t n, const float *u, const uint8_t *clamped, const float *g_spk,
                          int detach_reset, float *g_I, int I_rows, float *ws);

/* ---- IF: integrate-and-fire without leak (NIR IF) ---------------------- */
/*
**   dv/dt = r I;   spike when v > v_threshold, then reset
**
** Exact with I held over a step: u[t] = v[t-1] + r dt I[t], from v[-1] = 0. This is the
** LIF recurrence with alpha = 1, beta = r dt and v_leak = 0 (so v_leak + alpha (v - v_leak)
** is v exactly), so nm_if_discretize fills an nm_lif_step and the LIF kernels run it,
** nm_lif_forward_refractory included. Under a constant I > 0 with reset by subtraction
** the mean inter-spike interval is v_threshold / (r I dt) steps (v_reset = 0), and
** exactly that when the division is exact.
*/
typedef struct nm_if_params {
    float    r;             /* gain, potential per second per unit of I */
    float    v_threshold, v_reset;
    nm_reset reset;
} nm_if_params;

/* r = 1000 / s (one unit of input over a 1 ms step raises v by one), threshold 1, reset
** 0 by subtraction. */
void nm_if_params_default(nm_if_params *p);
nm_status nm_if_params_check(const nm_if_params *p);   /* NM_RANGE naming the field */
void nm_if_discretize(const nm_if_params *p, float dt, nm_lif_step *out);
/* nm_lif_forward and nm_lif_backward on IF constants (same arrays and workspaces). */
int64_t nm_if_forward(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                      const float *cur, int I_rows, float *u, float *spk, float *ws);
void nm_if_backward(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                    const float *u, const float *g_spk, int detach_reset, float *g_I, int I_rows, float *ws);

/* ---- ALIF: LIF with an adaptive threshold (Bellec et al. 2018) --------- */
/*
**   tau_mem dv/dt   = (v_leak - v) + r I
**   tau_adapt da/dt = -a + sum_k delta(t - t_k)       (a jumps by 1 at each spike t_k)
**   threshold b(t)  = v_threshold + beta_a a(t);      spike when v > b, then reset
**
** (Bellec, Salaj, Subramoney, Legenstein & Maass 2018, "Long short-term memory and
** learning-to-learn in networks of spiking neurons", NeurIPS; their jump of (1 - rho) per
** spike is folded into beta_a here.) Exact integration at step dt:
**
**   u[t]   = v_leak + alpha (v[t-1] - v_leak) + beta I[t]   (alpha, beta as LIF)
**   A[t]   = rho a[t-1],   rho = exp(-dt / tau_adapt)       (a decayed, before the spike)
**   thr[t] = v_threshold + beta_a A[t]
**   s[t]   = H(u[t] - thr[t]),   a[t] = A[t] + s[t]
**   v[t]   = reset(u[t], s[t])   subtraction removes v_threshold - v_reset (the baseline
**                                jump, as Bellec et al.'s code does), or v_reset, or none
**
** from v[-1] = v_leak, a[-1] = 0. Between spikes the threshold decays to v_threshold as
** beta_a a exp(-t / tau_adapt).
**
** Backward: BPTT through v and a. A spike's gradient collects dL/ds, the reset path
** (unless detach_reset) and the adaptation path dL/da[t]; the surrogate is taken at
** u - thr, so dL/dthr = -dL/dx flows back into a (always: the adaptation path is what
** lets ALIF learn long time scales, and detach_reset does not cut it). Memory: u and
** thr, 2 (n_steps, batch, n) floats.
*/
typedef struct nm_alif_params {
    float    tau_mem;      /* membrane time constant, s (> 0)              */
    float    r, v_leak, v_threshold, v_reset;
    nm_reset reset;
    float    tau_adapt;    /* adaptation time constant, s (> 0)            */
    float    beta_a;       /* threshold increase per unit of a (>= 0)      */
    float    t_ref;        /* refractory period, s (>= 0)                  */
} nm_alif_params;

typedef struct nm_alif_step {
    float    alpha, beta, rho, beta_a;
    float    v_leak, v_th, v_reset;
    nm_reset reset;
    int      n_ref;
} nm_alif_step;

/* LIF's defaults (tau_mem 20 ms, r 20, threshold 1, reset 0 by subtraction) with
** tau_adapt 200 ms and beta_a 0.2 (each spike raises the threshold by a fifth of its
** baseline, fading over a few hundred ms), no refractory period. */
void nm_alif_params_default(nm_alif_params *p);
nm_status nm_alif_params_check(const nm_alif_params *p);  /* NM_RANGE naming the field */
void nm_alif_discretize(const nm_alif_params *p, float dt, nm_alif_step *out);

/* u (n_steps, batch, n): membrane before reset. thr (n_steps, batch, n): the threshold
** the spike was decided against. clamped: as above. ws: 3 batch n floats. */
int64_t nm_alif_forward(const nm_alif_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                        const float *cur, int I_rows, float *u, float *thr, float *spk, uint8_t *clamped,
                        float *ws);
/* ws: 2 batch n floats. */
void nm_alif_backward(const nm_alif_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                      const float *u, const float *thr, const uint8_t *clamped, const float *g_spk,
                      int detach_reset, float *g_I, int I_rows, float *ws);

/* ---- LIF with learnable per-neuron tau and v_threshold ----------------- */
/*
** The LIF recurrence with alpha_i = exp(-dt / tau_i), beta_i = (1 - alpha_i) r and a
** threshold theta_i per neuron. nm_lif_backward_params also returns, per neuron and
** summed over batch and time,
**
**   dL/dtau_i   = sum_t dL/du[t] dalpha_i (v[t-1] - v_leak - r I[t]),  dalpha_i = alpha_i dt / tau_i^2
**   dL/dtheta_i = sum_t -dL/dx[t] - dL/dv[t] s[t] [reset by subtraction]
**
** with x = u - theta the surrogate's argument. The threshold's part in the subtractive
** reset is kept under detach_reset (which, as in snnTorch, detaches only the spike).
** v[t-1] is recomputed from the recorded u, so the backward needs u and the input.
*/
typedef struct nm_lif_pn_step {
    const float *alpha;    /* (n) exp(-dt / tau_i)                    */
    const float *beta;     /* (n) (1 - alpha_i) r                     */
    const float *dalpha;   /* (n) d alpha_i / d tau_i, 1/s            */
    const float *v_th;     /* (n) thresholds                          */
    float        r, v_leak, v_reset;
    nm_reset     reset;
} nm_lif_pn_step;

/* Per-neuron constants from tau (n, seconds) and v_th (n), with r, v_leak, v_reset and
** reset from p (p->tau and p->v_threshold are not used). buf: 3n floats owned by the
** caller, which *out points into (as it points at v_th); both must outlive *out.
** NM_RANGE naming the neuron and field (tau[i] <= 0, v_th[i] <= v_reset, non-finite),
** leaving *out unchanged. */
nm_status nm_lif_discretize_pn(const nm_lif_params *p, float dt, int64_t n, const float *tau,
                               const float *v_th, float *buf, nm_lif_pn_step *out);
/* As nm_lif_forward; with every tau_i and v_th_i equal it gives the same bits. ws: batch n. */
int64_t nm_lif_forward_pn(const nm_lif_pn_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                          const float *cur, int I_rows, float *u, float *spk, float *ws);
/* LI with per-neuron alpha_i and beta_i (v_th and reset of c are not used): the readout of
** an analog chip whose neurons mismatch. With equal constants it gives nm_li_forward's bits. */
void nm_li_forward_pn(const nm_lif_pn_step *c, int n_steps, int batch, int64_t n, const float *cur, int I_rows,
                      float *u);
/* As nm_lif_backward, and g_tau (n), g_vth (n): dL/dtau_i and dL/dv_th_i summed over
** batch and time (in a fixed order, so independent of the thread count). Any of g_I,
** g_tau, g_vth may be NULL. cur and I_rows as given to the forward. ws: 3 batch n. */
void nm_lif_backward_params(const nm_lif_pn_step *c, const nm_surrogate *s, int n_steps, int batch,
                            int64_t n, const float *cur, int I_rows, const float *u, const float *g_spk,
                            int detach_reset, float *g_I, float *g_tau, float *g_vth, float *ws);

/* ---- AdEx: adaptive exponential integrate-and-fire (forward only) ------ */
/*
**   C_m dV/dt  = -g_L (V - E_L) + g_L Delta_T exp((V - V_th) / Delta_T) - w + I_e + I
**   tau_w dw/dt = a (V - E_L) - w
**   V >= V_peak:  spike, V = V_reset, w += b, V held at V_reset for t_ref
**
** (Brette & Gerstner 2005, J. Neurophysiol. 94:3637; NEST's aeif_psc_delta without
** synaptic input, in NEST's units: mV, ms, pF, nS, pA. V_th is Brette & Gerstner's V_T.)
** With Delta_T = 0 the exponential term is dropped and V_th is the spike threshold, as
** NEST does: the model is then LIF with tau_m = C_m / g_L plus adaptation.
**
** Integration: Heun's method (explicit trapezoidal RK2) on n_sub equal substeps of
** h = dt / n_sub <= h_max per step, with I held over the step. Inside the right-hand
** side V is capped at V_peak (as NEST does) so the exponential cannot overflow.
** The threshold is tested after every substep; refractoriness counts
** ceil(t_ref / h) substeps, during which V = V_reset and w follows its ODE. The state
** is carried in double within a step and stored in float between steps. Local error is
** O(h^3): at h = 0.01 ms the inter-spike intervals of Naud et al. 2008's firing
** patterns agree with h = 0.001 ms to about 0.01 ms. Starts from V = E_L, w = 0.
*/
typedef struct nm_adex_params {
    float C_m;       /* membrane capacitance, pF (> 0)                          */
    float g_L;       /* leak conductance, nS (> 0)                              */
    float E_L;       /* leak reversal potential, mV                             */
    float Delta_T;   /* slope factor, mV (>= 0; 0: no exponential term)         */
    float V_th;      /* threshold of the exponential term (V_T), mV             */
    float V_peak;    /* spike detection, mV (>= V_th; unused when Delta_T = 0)  */
    float V_reset;   /* reset potential, mV (< the spike threshold)             */
    float tau_w;     /* adaptation time constant, ms (> 0)                      */
    float a;         /* subthreshold adaptation, nS                             */
    float b;         /* spike-triggered adaptation, pA                          */
    float t_ref;     /* refractory period, ms (>= 0)                            */
    float I_e;       /* constant input current, pA                              */
    float h_max;     /* largest integration substep, ms (> 0)                   */
} nm_adex_params;

typedef struct nm_adex_step {
    nm_adex_params p;   /* a copy, with V_peak = V_th when Delta_T = 0 */
    double h;           /* substep, ms                                  */
    int    n_sub;       /* substeps per step                            */
    int    n_ref;       /* refractory substeps                          */
} nm_adex_step;

/* NEST's aeif_psc_delta defaults (Brette & Gerstner 2005's fit): C_m 281 pF, g_L 30 nS,
** E_L -70.6 mV, Delta_T 2 mV, V_th -50.4 mV, V_peak 0 mV, V_reset -60 mV, tau_w 144 ms,
** a 4 nS, b 80.5 pA, t_ref 0 ms, I_e 0 pA; h_max 0.01 ms. */
void nm_adex_params_default(nm_adex_params *p);
/* NM_RANGE naming the field: C_m, g_L, tau_w, h_max <= 0; Delta_T, t_ref < 0; V_peak <
** V_th; V_reset at or above the spike threshold; (V_peak - V_th) / Delta_T > 500 (the
** exponential would overflow); non-finite values. */
nm_status nm_adex_params_check(const nm_adex_params *p);
/* dt in seconds, like every _discretize here (converted to ms). */
void nm_adex_discretize(const nm_adex_params *p, float dt, nm_adex_step *out);
/* cur: pA. V_m (n_steps, batch, n): mV at the end of each step (after any reset). w
** (n_steps, batch, n) pA, or NULL. spk: the number of spikes in each step (0 or 1 unless
** an interval is shorter than dt). ws: 3 batch n floats. */
int64_t nm_adex_forward(const nm_adex_step *c, int n_steps, int batch, int64_t n, const float *cur,
                        int I_rows, float *V_m, float *w, float *spk, float *ws);
/* One step of one AdEx neuron, the state in double (rc: refractory substeps left), Iin the
** total input in pA (I_e included) held over the step; returns the spikes in the step.
** nm_adex_forward is this over every neuron and step; the simulator calls it directly. */
int nm_adex_advance(const nm_adex_step *c, double *V, double *W, long *rc, double Iin);

/* ---- Izhikevich (forward only) ----------------------------------------- */
/*
**   dv/dt = 0.04 v^2 + 5 v + 140 - u + I_e + I      (v in mV, t in ms)
**   du/dt = a (b v - u)
**   v >= v_peak:  spike, v = c, u += d
**
** (Izhikevich 2003, "Simple model of spiking neurons", IEEE Trans. Neural Netw.
** 14:1569.) Integration on n_sub equal substeps of h = dt / n_sub <= h_max per step,
** the threshold tested after each substep, in one of NEST izhikevich's two forms:
**   consistent_integration = 1: forward Euler, v and u updated from the old values;
**   consistent_integration = 0: the published scheme, two half-steps h/2 of v with u
**                               fixed, then one step h of u from the new v (Izhikevich
**                               2003's code used h = 1 ms).
** Pauli et al. 2018 (Front. Neuroinform. 12:46) discuss how much the two differ. Starts
** from v = -65 mV, u = b v, as the published code does.
*/
typedef struct nm_izhikevich_params {
    float a, b, c, d;                /* 1/ms, 1, mV, mV/ms                            */
    float v_peak;                    /* spike cutoff, mV (30)                         */
    float I_e;                       /* constant input, same units as I (mV/ms)       */
    float h_max;                     /* largest substep, ms (> 0)                     */
    int   consistent_integration;    /* 1: forward Euler; 0: the published scheme     */
} nm_izhikevich_params;

typedef struct nm_izhikevich_step {
    nm_izhikevich_params p;
    double h;     /* substep, ms */
    int    n_sub;
} nm_izhikevich_step;

/* Regular spiking: a 0.02, b 0.2, c -65, d 8, v_peak 30, I_e 0, h_max 0.1 ms, forward
** Euler. */
void nm_izhikevich_params_default(nm_izhikevich_params *p);
/* NM_RANGE naming the field: h_max <= 0, c >= v_peak, non-finite values, a flag other
** than 0 or 1. */
nm_status nm_izhikevich_params_check(const nm_izhikevich_params *p);
void nm_izhikevich_discretize(const nm_izhikevich_params *p, float dt, nm_izhikevich_step *out);
/* v_m (n_steps, batch, n): mV at the end of each step (after any reset); u_m the same for
** u, or NULL; spk: spikes per step. ws: 2 batch n floats. */
int64_t nm_izhikevich_forward(const nm_izhikevich_step *c, int n_steps, int batch, int64_t n,
                              const float *cur, int I_rows, float *v_m, float *u_m, float *spk, float *ws);
/* One step of one Izhikevich neuron; Iin includes I_e. Returns the spikes in the step. */
int nm_izhikevich_advance(const nm_izhikevich_step *c, double *v, double *u, double Iin);

/* ---- CubaLI: the current-based leaky integrator (readout) -------------- */
/*
** CubaLIF without spikes (NIR CubaLI): the synaptic current and membrane of
** nm_cuba_lif_params (the threshold, reset and refractory fields are ignored), discretized
** by nm_cuba_lif_discretize. The membrane u (n_steps, batch, n) is the output:
**   u[t] = v_leak + alpha_mem (u[t-1] - v_leak) + p_syn I_syn[t-1] + p_in I[t]
**   I_syn[t] = alpha_syn I_syn[t-1] + gain_syn I[t],   u[-1] = v_leak, I_syn[-1] = 0.
*/
nm_status nm_cuba_li_params_check(const nm_cuba_lif_params *p);   /* taus, r, w_in, v_leak */
/* ws: batch n floats. */
void nm_cuba_li_forward(const nm_cuba_lif_step *c, int n_steps, int batch, int64_t n, const float *cur, int I_rows,
                        float *u, float *ws);
/* From g_u (n_steps, batch, n) to g_I (I_rows, batch, n). ws: 2 batch n floats. */
void nm_cuba_li_backward(const nm_cuba_lif_step *c, int n_steps, int batch, int64_t n, const float *g_u, float *g_I,
                         int I_rows, float *ws);

#ifdef __cplusplus
}
#endif
#endif
