/*
** More trainable neuron models beside lif.c: LIF and IF with a refractory period,
** CubaLIF (current-based synapse + LIF), ALIF (adaptive threshold), and LIF with
** per-neuron (learnable) time constants and thresholds. Each has an exact-integration
** forward over a window and a surrogate-gradient backward (BPTT); the equations and
** their discretization are in neuron.h.
**
** Layout and threading follow lif.c: time-major (n_steps, batch, n) arrays, one batch
** row per OpenMP iteration, the inner loop over neurons. Every element is computed by
** the same arithmetic whatever the thread count, and sums over the batch (the parameter
** gradients) are reduced in a fixed order afterwards, so results are bit-identical for
** any number of threads.
**
** Memory kept for the backward, per model (T = n_steps, P = batch n):
**   LIF/IF refractory   u (T P floats) + clamped (T P bytes, only with n_ref > 0)
**   CubaLIF             u (T P floats) + clamped; no I_syn trajectory (the system is linear)
**   ALIF                u and thr (2 T P floats) + clamped
**   LIF per-neuron      u (T P floats) and the input (the tau gradient needs v[t-1] - r I[t])
*/
#include <neuromorph/neuron.h>

#include "neuron_impl.h"

#include <math.h>
#include <string.h>

/* ---- shared helpers ---------------------------------------------------- */

/* Surrogate settings with the NULL default of nm_lif_forward. */
typedef struct { nm_surrogate_kind kind; float k; int smooth; } surr_cfg;
static surr_cfg surr_of(const nm_surrogate *s) {
    surr_cfg c = {s ? s->kind : NM_SURR_FAST_SIGMOID, s ? s->slope : 1.0f, s && s->smooth_forward};
    return c;
}

static nm_status check_reset(const char *model, float v_reset, float v_threshold, nm_reset reset) {
    if ((unsigned)reset > NM_RESET_NONE) return nm__error(NM_RANGE, "%s reset mode %d is not valid", model, (int)reset);
    if (reset != NM_RESET_NONE && !(v_reset < v_threshold))
        return nm__error(NM_RANGE, "%s v_reset (%g) must be below v_threshold (%g)", model, v_reset, v_threshold);
    return NM_OK;
}

static nm_status check_t_ref(const char *model, float t_ref) {
    if (!(t_ref >= 0) || !isfinite(t_ref))
        return nm__error(NM_RANGE, "%s t_ref must be a time >= 0 in seconds, not %g", model, t_ref);
    return NM_OK;
}

int nm_refractory_steps(float t_ref, float dt) {
    if (!(t_ref > 0) || !(dt > 0)) return 0;
    double k = ceil((double)t_ref / dt * (1.0 - 1e-6));
    const double cap = 16777216.0;   /* 2^24: counters are kept in floats */
    return (int)(k < cap ? k : cap);
}

/* ---- LIF with a refractory period -------------------------------------- */

int64_t nm_lif_forward_refractory(const nm_lif_step *c, int n_ref, const nm_surrogate *s, int n_steps,
                                  int batch, int64_t n, const float *I, int I_rows, float *u, float *spk,
                                  uint8_t *clamped, float *ws) {
    const int64_t plane = (int64_t)batch * n;
    if (n_ref <= 0) {
        if (clamped) memset(clamped, 0, (size_t)(n_steps * plane));
        return nm_lif_forward(c, s, n_steps, batch, n, I, I_rows, u, spk, ws);
    }
    const surr_cfg sc = surr_of(s);
    const float alpha = c->alpha, beta = c->beta, vl = c->v_leak, vth = c->v_th, vr = c->v_reset;
    const float jump = vth - vr;
    const nm_reset mode = c->reset;
    int64_t total = 0;

    #pragma omp parallel for schedule(static) reduction(+:total)
    for (int b = 0; b < batch; b++) {
        float *v = ws + (int64_t)b * n;
        float *cnt = ws + plane + (int64_t)b * n;   /* held steps left */
        for (int64_t i = 0; i < n; i++) { v[i] = vl; cnt[i] = 0.0f; }
        for (int t = 0; t < n_steps; t++) {
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            float *ut = u + o, *st = spk + o;
            for (int64_t i = 0; i < n; i++) {
                if (cnt[i] > 0.0f) {
                    cnt[i] -= 1.0f;
                    v[i] = vr;
                    ut[i] = vr;
                    st[i] = 0.0f;
                    if (clamped) clamped[o + i] = 1;
                    continue;
                }
                float ui = vl + alpha * (v[i] - vl) + beta * It[i];
                float x = ui - vth;
                float si = spike_of(sc.kind, sc.k, sc.smooth, x);
                total += x > 0.0f;
                ut[i] = ui;
                st[i] = si;
                if (clamped) clamped[o + i] = 0;
                v[i] = reset_of(mode, ui, si, jump, vr);
                if (x > 0.0f) cnt[i] = (float)n_ref;
            }
        }
    }
    return total;
}

void nm_lif_backward_refractory(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                                int64_t n, const float *u, const uint8_t *clamped, const float *g_spk,
                                int detach_reset, float *g_I, int I_rows, float *ws) {
    if (!clamped) {
        nm_lif_backward(c, s, n_steps, batch, n, u, g_spk, detach_reset, g_I, I_rows, ws);
        return;
    }
    const float alpha = c->alpha, beta = c->beta, vth = c->v_th, vr = c->v_reset;
    const float jump = vth - vr;
    const nm_reset mode = c->reset;
    const surr_cfg sc = surr_of(s);
    const int64_t plane = (int64_t)batch * n;

    if (I_rows == 1) memset(g_I, 0, sizeof(float) * plane);

    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        float *gv = ws + (int64_t)b * n;   /* dL/dv[t], carried backward in time */
        for (int64_t i = 0; i < n; i++) gv[i] = 0.0f;
        for (int t = n_steps - 1; t >= 0; t--) {
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            const float *ut = u + o, *gs = g_spk + o;
            const uint8_t *cl = clamped + o;
            float *gI = g_I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                if (cl[i]) {   /* v[t] = v_reset: no dependence on I[t] or v[t-1] */
                    if (I_rows != 1) gI[i] = 0.0f;
                    gv[i] = 0.0f;
                    continue;
                }
                float x = ut[i] - vth;
                float sg = surr_grad(sc.kind, sc.k, x);
                float si = spike_of(sc.kind, sc.k, sc.smooth, x);
                float dv_du, dv_ds;
                reset_grad(mode, ut[i], si, jump, vr, &dv_du, &dv_ds);
                float g_s = gs[i] + (detach_reset ? 0.0f : gv[i] * dv_ds);
                float gu = gv[i] * dv_du + g_s * sg;
                if (I_rows == 1) gI[i] += beta * gu;
                else gI[i] = beta * gu;
                gv[i] = alpha * gu;
            }
        }
    }
}

/* ---- CubaLIF ------------------------------------------------------------ */

void nm_cuba_lif_params_default(nm_cuba_lif_params *p) {
    p->tau_syn = 0.005f;
    p->tau_mem = 0.02f;
    p->r = 20.0f;          /* tau_mem / 1 ms */
    p->w_in = 1.0f;
    p->v_leak = 0.0f;
    p->v_threshold = 1.0f;
    p->v_reset = 0.0f;
    p->reset = NM_RESET_SUBTRACT;
    p->t_ref = 0.0f;
}

nm_status nm_cuba_lif_params_check(const nm_cuba_lif_params *p) {
    POSITIVE_OR_FAIL("CubaLIF", tau_syn, p->tau_syn, "time in seconds");
    POSITIVE_OR_FAIL("CubaLIF", tau_mem, p->tau_mem, "time in seconds");
    FINITE_OR_FAIL("CubaLIF", r, p->r);
    FINITE_OR_FAIL("CubaLIF", w_in, p->w_in);
    FINITE_OR_FAIL("CubaLIF", v_leak, p->v_leak);
    FINITE_OR_FAIL("CubaLIF", v_threshold, p->v_threshold);
    FINITE_OR_FAIL("CubaLIF", v_reset, p->v_reset);
    nm_status rc = check_reset("CubaLIF", p->v_reset, p->v_threshold, p->reset);
    if (rc) return rc;
    return check_t_ref("CubaLIF", p->t_ref);
}

void nm_cuba_lif_discretize(const nm_cuba_lif_params *p, float dt, nm_cuba_lif_step *c) {
    const double h = dt, ts = p->tau_syn, tm = p->tau_mem, r = p->r;
    const double as = exp(-h / ts), am = exp(-h / tm);
    /* p_syn = r ts (as - am) / (ts - tm) = r am (h/tm) expm1(x)/x, x = h (1/tm - 1/ts).
    ** The second form is used near equality (no cancellation, and expm1(x)/x -> 1), the
    ** first one far from it (where expm1(x) could overflow). */
    const double x = h * (1.0 / tm - 1.0 / ts);
    double p_syn;
    if (fabs(x) < 0.5) p_syn = r * am * (h / tm) * (x != 0.0 ? expm1(x) / x : 1.0);
    else p_syn = r * ts * (as - am) / (ts - tm);
    const double p_in = p->w_in * (r * -expm1(-h / tm) - p_syn);
    c->alpha_syn = (float)as;
    c->gain_syn = (float)(-expm1(-h / ts) * p->w_in);
    c->alpha_mem = (float)am;
    c->p_syn = (float)p_syn;
    c->p_in = (float)p_in;
    c->v_leak = p->v_leak;
    c->v_th = p->v_threshold;
    c->v_reset = p->v_reset;
    c->reset = p->reset;
    c->n_ref = nm_refractory_steps(p->t_ref, dt);
}

int64_t nm_cuba_lif_forward(const nm_cuba_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                            int64_t n, const float *I, int I_rows, float *u, float *i_syn, float *spk,
                            uint8_t *clamped, float *ws) {
    const surr_cfg sc = surr_of(s);
    const float as = c->alpha_syn, gsyn = c->gain_syn, am = c->alpha_mem, psyn = c->p_syn, pin = c->p_in;
    const float vl = c->v_leak, vth = c->v_th, vr = c->v_reset, jump = vth - vr;
    const nm_reset mode = c->reset;
    const int n_ref = c->n_ref;
    const int64_t plane = (int64_t)batch * n;
    int64_t total = 0;

    #pragma omp parallel for schedule(static) reduction(+:total)
    for (int b = 0; b < batch; b++) {
        float *v = ws + (int64_t)b * n;
        float *is = ws + plane + (int64_t)b * n;
        float *cnt = ws + 2 * plane + (int64_t)b * n;
        for (int64_t i = 0; i < n; i++) { v[i] = vl; is[i] = 0.0f; cnt[i] = 0.0f; }
        for (int t = 0; t < n_steps; t++) {
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            float *ut = u + o, *st = spk + o;
            for (int64_t i = 0; i < n; i++) {
                const float Ii = It[i];
                if (cnt[i] > 0.0f) {   /* held: the synapse still integrates */
                    cnt[i] -= 1.0f;
                    is[i] = as * is[i] + gsyn * Ii;
                    v[i] = vr;
                    ut[i] = vr;
                    st[i] = 0.0f;
                    if (clamped) clamped[o + i] = 1;
                    if (i_syn) i_syn[o + i] = is[i];
                    continue;
                }
                float ui = vl + am * (v[i] - vl) + psyn * is[i] + pin * Ii;
                is[i] = as * is[i] + gsyn * Ii;
                float x = ui - vth;
                float si = spike_of(sc.kind, sc.k, sc.smooth, x);
                total += x > 0.0f;
                ut[i] = ui;
                st[i] = si;
                v[i] = reset_of(mode, ui, si, jump, vr);
                if (n_ref > 0 && x > 0.0f) cnt[i] = (float)n_ref;
                if (clamped) clamped[o + i] = 0;
                if (i_syn) i_syn[o + i] = is[i];
            }
        }
    }
    return total;
}

void nm_cuba_lif_backward(const nm_cuba_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                          int64_t n, const float *u, const uint8_t *clamped, const float *g_spk,
                          int detach_reset, float *g_I, int I_rows, float *ws) {
    const surr_cfg sc = surr_of(s);
    const float as = c->alpha_syn, gsyn = c->gain_syn, am = c->alpha_mem, psyn = c->p_syn, pin = c->p_in;
    const float vth = c->v_th, vr = c->v_reset, jump = vth - vr;
    const nm_reset mode = c->reset;
    const int64_t plane = (int64_t)batch * n;

    if (I_rows == 1) memset(g_I, 0, sizeof(float) * plane);

    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        float *gv = ws + (int64_t)b * n;           /* dL/dv[t]     */
        float *gi = ws + plane + (int64_t)b * n;   /* dL/dI_syn[t] */
        for (int64_t i = 0; i < n; i++) { gv[i] = 0.0f; gi[i] = 0.0f; }
        for (int t = n_steps - 1; t >= 0; t--) {
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            const float *ut = u + o, *gs = g_spk + o;
            float *gI = g_I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                float gu = 0.0f;   /* dL/du[t]; zero on a held step (u = v_reset) */
                if (!(clamped && clamped[o + i])) {
                    float x = ut[i] - vth;
                    float sg = surr_grad(sc.kind, sc.k, x);
                    float si = spike_of(sc.kind, sc.k, sc.smooth, x);
                    float dv_du, dv_ds;
                    reset_grad(mode, ut[i], si, jump, vr, &dv_du, &dv_ds);
                    float g_s = gs[i] + (detach_reset ? 0.0f : gv[i] * dv_ds);
                    gu = gv[i] * dv_du + g_s * sg;
                }
                float g = pin * gu + gsyn * gi[i];
                if (I_rows == 1) gI[i] += g;
                else gI[i] = g;
                gi[i] = psyn * gu + as * gi[i];
                gv[i] = am * gu;
            }
        }
    }
}

/* ---- IF ----------------------------------------------------------------- */

void nm_if_params_default(nm_if_params *p) {
    p->r = 1000.0f;
    p->v_threshold = 1.0f;
    p->v_reset = 0.0f;
    p->reset = NM_RESET_SUBTRACT;
}

nm_status nm_if_params_check(const nm_if_params *p) {
    FINITE_OR_FAIL("IF", r, p->r);
    FINITE_OR_FAIL("IF", v_threshold, p->v_threshold);
    FINITE_OR_FAIL("IF", v_reset, p->v_reset);
    return check_reset("IF", p->v_reset, p->v_threshold, p->reset);
}

void nm_if_discretize(const nm_if_params *p, float dt, nm_lif_step *c) {
    c->alpha = 1.0f;
    c->beta = (float)((double)p->r * dt);
    c->v_leak = 0.0f;
    c->v_th = p->v_threshold;
    c->v_reset = p->v_reset;
    c->reset = p->reset;
}

int64_t nm_if_forward(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                      const float *cur, int I_rows, float *u, float *spk, float *ws) {
    return nm_lif_forward(c, s, n_steps, batch, n, cur, I_rows, u, spk, ws);
}

void nm_if_backward(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                    const float *u, const float *g_spk, int detach_reset, float *g_I, int I_rows, float *ws) {
    nm_lif_backward(c, s, n_steps, batch, n, u, g_spk, detach_reset, g_I, I_rows, ws);
}

/* ---- ALIF --------------------------------------------------------------- */

void nm_alif_params_default(nm_alif_params *p) {
    p->tau_mem = 0.02f;
    p->r = 20.0f;
    p->v_leak = 0.0f;
    p->v_threshold = 1.0f;
    p->v_reset = 0.0f;
    p->reset = NM_RESET_SUBTRACT;
    p->tau_adapt = 0.2f;
    p->beta_a = 0.2f;
    p->t_ref = 0.0f;
}

nm_status nm_alif_params_check(const nm_alif_params *p) {
    POSITIVE_OR_FAIL("ALIF", tau_mem, p->tau_mem, "time in seconds");
    FINITE_OR_FAIL("ALIF", r, p->r);
    FINITE_OR_FAIL("ALIF", v_leak, p->v_leak);
    FINITE_OR_FAIL("ALIF", v_threshold, p->v_threshold);
    FINITE_OR_FAIL("ALIF", v_reset, p->v_reset);
    nm_status rc = check_reset("ALIF", p->v_reset, p->v_threshold, p->reset);
    if (rc) return rc;
    POSITIVE_OR_FAIL("ALIF", tau_adapt, p->tau_adapt, "time in seconds");
    if (!(p->beta_a >= 0) || !isfinite(p->beta_a))
        return nm__error(NM_RANGE, "ALIF beta_a must be finite and >= 0, not %g", p->beta_a);
    return check_t_ref("ALIF", p->t_ref);
}

void nm_alif_discretize(const nm_alif_params *p, float dt, nm_alif_step *c) {
    double a = exp(-(double)dt / p->tau_mem);
    c->alpha = (float)a;
    c->beta = (float)((1.0 - a) * p->r);
    c->rho = (float)exp(-(double)dt / p->tau_adapt);
    c->beta_a = p->beta_a;
    c->v_leak = p->v_leak;
    c->v_th = p->v_threshold;
    c->v_reset = p->v_reset;
    c->reset = p->reset;
    c->n_ref = nm_refractory_steps(p->t_ref, dt);
}

int64_t nm_alif_forward(const nm_alif_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                        const float *I, int I_rows, float *u, float *thr, float *spk, uint8_t *clamped,
                        float *ws) {
    const surr_cfg sc = surr_of(s);
    const float alpha = c->alpha, beta = c->beta, rho = c->rho, beta_a = c->beta_a;
    const float vl = c->v_leak, vth = c->v_th, vr = c->v_reset, jump = vth - vr;
    const nm_reset mode = c->reset;
    const int n_ref = c->n_ref;
    const int64_t plane = (int64_t)batch * n;
    int64_t total = 0;

    #pragma omp parallel for schedule(static) reduction(+:total)
    for (int b = 0; b < batch; b++) {
        float *v = ws + (int64_t)b * n;
        float *a = ws + plane + (int64_t)b * n;
        float *cnt = ws + 2 * plane + (int64_t)b * n;
        for (int64_t i = 0; i < n; i++) { v[i] = vl; a[i] = 0.0f; cnt[i] = 0.0f; }
        for (int t = 0; t < n_steps; t++) {
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            float *ut = u + o, *tht = thr + o, *st = spk + o;
            for (int64_t i = 0; i < n; i++) {
                float A = rho * a[i];
                float th = vth + beta_a * A;
                tht[i] = th;
                if (cnt[i] > 0.0f) {   /* held: a keeps decaying */
                    cnt[i] -= 1.0f;
                    a[i] = A;
                    v[i] = vr;
                    ut[i] = vr;
                    st[i] = 0.0f;
                    if (clamped) clamped[o + i] = 1;
                    continue;
                }
                float ui = vl + alpha * (v[i] - vl) + beta * It[i];
                float x = ui - th;
                float si = spike_of(sc.kind, sc.k, sc.smooth, x);
                total += x > 0.0f;
                ut[i] = ui;
                st[i] = si;
                a[i] = A + si;
                v[i] = reset_of(mode, ui, si, jump, vr);
                if (n_ref > 0 && x > 0.0f) cnt[i] = (float)n_ref;
                if (clamped) clamped[o + i] = 0;
            }
        }
    }
    return total;
}

void nm_alif_backward(const nm_alif_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                      const float *u, const float *thr, const uint8_t *clamped, const float *g_spk,
                      int detach_reset, float *g_I, int I_rows, float *ws) {
    const surr_cfg sc = surr_of(s);
    const float alpha = c->alpha, beta = c->beta, rho = c->rho, beta_a = c->beta_a;
    const float vr = c->v_reset, jump = c->v_th - vr;
    const nm_reset mode = c->reset;
    const int64_t plane = (int64_t)batch * n;

    if (I_rows == 1) memset(g_I, 0, sizeof(float) * plane);

    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        float *gv = ws + (int64_t)b * n;           /* dL/dv[t] */
        float *ga = ws + plane + (int64_t)b * n;   /* dL/da[t] */
        for (int64_t i = 0; i < n; i++) { gv[i] = 0.0f; ga[i] = 0.0f; }
        for (int t = n_steps - 1; t >= 0; t--) {
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            const float *ut = u + o, *tht = thr + o, *gs = g_spk + o;
            float *gI = g_I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                if (clamped && clamped[o + i]) {   /* a[t] = A[t], v[t] = v_reset */
                    if (I_rows != 1) gI[i] = 0.0f;
                    ga[i] = rho * ga[i];
                    gv[i] = 0.0f;
                    continue;
                }
                float x = ut[i] - tht[i];
                float sg = surr_grad(sc.kind, sc.k, x);
                float si = spike_of(sc.kind, sc.k, sc.smooth, x);
                float dv_du, dv_ds;
                reset_grad(mode, ut[i], si, jump, vr, &dv_du, &dv_ds);
                /* s[t] feeds the loss, the reset of v[t] and a[t] = A[t] + s[t] */
                float g_s = gs[i] + ga[i] + (detach_reset ? 0.0f : gv[i] * dv_ds);
                float gx = g_s * sg;
                float gu = gv[i] * dv_du + gx;
                float gA = ga[i] - beta_a * gx;   /* x = u - v_th - beta_a A */
                if (I_rows == 1) gI[i] += beta * gu;
                else gI[i] = beta * gu;
                ga[i] = rho * gA;
                gv[i] = alpha * gu;
            }
        }
    }
}

/* ---- LIF with per-neuron tau and v_threshold ---------------------------- */

nm_status nm_lif_discretize_pn(const nm_lif_params *p, float dt, int64_t n, const float *tau,
                               const float *v_th, float *buf, nm_lif_pn_step *out) {
    FINITE_OR_FAIL("LIF", r, p->r);
    FINITE_OR_FAIL("LIF", v_leak, p->v_leak);
    FINITE_OR_FAIL("LIF", v_reset, p->v_reset);
    if ((unsigned)p->reset > NM_RESET_NONE) return nm__error(NM_RANGE, "LIF reset mode %d is not valid", (int)p->reset);
    for (int64_t i = 0; i < n; i++) {
        if (!(tau[i] > 0) || !isfinite(tau[i]))
            return nm__error(NM_RANGE, "LIF tau[%lld] must be a positive time in seconds, not %g", (long long)i, tau[i]);
        if (!isfinite(v_th[i])) return nm__error(NM_RANGE, "LIF v_threshold[%lld] must be finite", (long long)i);
        if (p->reset != NM_RESET_NONE && !(p->v_reset < v_th[i]))
            return nm__error(NM_RANGE, "LIF v_threshold[%lld] (%g) must be above v_reset (%g)", (long long)i, v_th[i],
                             p->v_reset);
    }
    float *alpha = buf, *beta = buf + n, *dalpha = buf + 2 * n;
    for (int64_t i = 0; i < n; i++) {
        /* the same expressions as nm_lif_discretize, so equal taus give equal bits */
        double a = exp(-(double)dt / tau[i]);
        alpha[i] = (float)a;
        beta[i] = (float)((1.0 - a) * p->r);
        dalpha[i] = (float)(a * dt / ((double)tau[i] * tau[i]));
    }
    out->alpha = alpha;
    out->beta = beta;
    out->dalpha = dalpha;
    out->v_th = v_th;
    out->r = p->r;
    out->v_leak = p->v_leak;
    out->v_reset = p->v_reset;
    out->reset = p->reset;
    return NM_OK;
}

int64_t nm_lif_forward_pn(const nm_lif_pn_step *c, const nm_surrogate *s, int n_steps, int batch, int64_t n,
                          const float *I, int I_rows, float *u, float *spk, float *ws) {
    const surr_cfg sc = surr_of(s);
    const float *restrict alpha = c->alpha, *restrict beta = c->beta, *restrict vth = c->v_th;
    const float vl = c->v_leak, vr = c->v_reset;
    const nm_reset mode = c->reset;
    const int64_t plane = (int64_t)batch * n;
    int64_t total = 0;

    #pragma omp parallel for schedule(static) reduction(+:total)
    for (int b = 0; b < batch; b++) {
        float *v = ws + (int64_t)b * n;
        for (int64_t i = 0; i < n; i++) v[i] = vl;
        for (int t = 0; t < n_steps; t++) {
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            float *ut = u + o, *st = spk + o;
            for (int64_t i = 0; i < n; i++) {
                float ui = vl + alpha[i] * (v[i] - vl) + beta[i] * It[i];
                float x = ui - vth[i];
                float si = spike_of(sc.kind, sc.k, sc.smooth, x);
                total += x > 0.0f;
                ut[i] = ui;
                st[i] = si;
                v[i] = reset_of(mode, ui, si, vth[i] - vr, vr);
            }
        }
    }
    return total;
}

void nm_lif_backward_params(const nm_lif_pn_step *c, const nm_surrogate *s, int n_steps, int batch,
                            int64_t n, const float *I, int I_rows, const float *u, const float *g_spk,
                            int detach_reset, float *g_I, float *g_tau, float *g_vth, float *ws) {
    const surr_cfg sc = surr_of(s);
    const float *alpha = c->alpha, *beta = c->beta, *dalpha = c->dalpha, *vth = c->v_th;
    const float r = c->r, vl = c->v_leak, vr = c->v_reset;
    const nm_reset mode = c->reset;
    const int64_t plane = (int64_t)batch * n;

    if (g_I && I_rows == 1) memset(g_I, 0, sizeof(float) * plane);

    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        float *gv = ws + (int64_t)b * n;               /* dL/dv[t]                    */
        float *gt = ws + plane + (int64_t)b * n;       /* this row's dL/dtau partials */
        float *gth = ws + 2 * plane + (int64_t)b * n;  /* this row's dL/dv_th partials */
        for (int64_t i = 0; i < n; i++) { gv[i] = 0.0f; gt[i] = 0.0f; gth[i] = 0.0f; }
        for (int t = n_steps - 1; t >= 0; t--) {
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            const float *ut = u + o, *gs = g_spk + o;
            const float *up = t ? u + o - plane : NULL;   /* u[t-1], to recompute v[t-1] */
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            float *gI = g_I ? g_I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n : NULL;
            for (int64_t i = 0; i < n; i++) {
                const float jump = vth[i] - vr;
                float x = ut[i] - vth[i];
                float sg = surr_grad(sc.kind, sc.k, x);
                float si = spike_of(sc.kind, sc.k, sc.smooth, x);
                float dv_du, dv_ds;
                reset_grad(mode, ut[i], si, jump, vr, &dv_du, &dv_ds);
                float g_s = gs[i] + (detach_reset ? 0.0f : gv[i] * dv_ds);
                float gx = g_s * sg;
                float gu = gv[i] * dv_du + gx;
                float vp = vl;
                if (up) {
                    float xp = up[i] - vth[i];
                    vp = reset_of(mode, up[i], spike_of(sc.kind, sc.k, sc.smooth, xp), jump, vr);
                }
                gt[i] += gu * dalpha[i] * (vp - vl - r * It[i]);
                /* x = u - v_th, and v[t] = u - s (v_th - v_reset) with reset by subtraction */
                gth[i] += -gx - (mode == NM_RESET_SUBTRACT ? gv[i] * si : 0.0f);
                if (gI) {
                    if (I_rows == 1) gI[i] += beta[i] * gu;
                    else gI[i] = beta[i] * gu;
                }
                gv[i] = alpha[i] * gu;
            }
        }
    }
    /* Sum the per-row partials in batch order: the same bits for any thread count. */
    for (int64_t i = 0; i < n; i++) {
        float st = 0.0f, sth = 0.0f;
        for (int b = 0; b < batch; b++) {
            st += ws[plane + (int64_t)b * n + i];
            sth += ws[2 * plane + (int64_t)b * n + i];
        }
        if (g_tau) g_tau[i] = st;
        if (g_vth) g_vth[i] = sth;
    }
}
