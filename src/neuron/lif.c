/*
** LIF and LI populations: exact-integration forward over a time window and the
** surrogate-gradient backward (BPTT through the membrane recurrence).
**
** The hot loops run over neurons inside one (time step, batch row), so they vectorize;
** batch rows are split across threads. Per element the arithmetic is the same for any
** thread count, so results are bit-identical with 1 or N threads.
*/
#include <neuromorph/neuron.h>

#include "neuron_impl.h"

#include <math.h>
#include <string.h>

/* ---- names and defaults ------------------------------------------------ */

const char *nm_reset_name(nm_reset r) {
    switch (r) {
    case NM_RESET_SUBTRACT: return "subtract";
    case NM_RESET_TO_VALUE: return "value";
    case NM_RESET_NONE:     return "none";
    }
    return "?";
}

nm_status nm_reset_parse(const char *s, nm_reset *out) {
    if (!strcmp(s, "subtract")) *out = NM_RESET_SUBTRACT;
    else if (!strcmp(s, "value") || !strcmp(s, "zero")) *out = NM_RESET_TO_VALUE;
    else if (!strcmp(s, "none")) *out = NM_RESET_NONE;
    else return nm__error(NM_INVAL, "unknown reset '%s' (choose subtract, value or none)", s);
    return NM_OK;
}

void nm_lif_params_default(nm_lif_params *p) {
    p->tau = 0.02f;
    p->r = 20.0f;          /* tau / 1 ms */
    p->v_leak = 0.0f;
    p->v_threshold = 1.0f;
    p->v_reset = 0.0f;
    p->reset = NM_RESET_SUBTRACT;
}

void nm_li_params_default(nm_li_params *p) {
    p->tau = 0.02f;
    p->r = 20.0f;
    p->v_leak = 0.0f;
}

nm_status nm_lif_params_check(const nm_lif_params *p) {
    if (!(p->tau > 0) || !isfinite(p->tau)) return nm__error(NM_RANGE, "LIF tau must be a positive time in seconds, not %g", p->tau);
    if (!isfinite(p->r)) return nm__error(NM_RANGE, "LIF r must be finite");
    if (!isfinite(p->v_leak)) return nm__error(NM_RANGE, "LIF v_leak must be finite");
    if (!isfinite(p->v_threshold)) return nm__error(NM_RANGE, "LIF v_threshold must be finite");
    if (!isfinite(p->v_reset)) return nm__error(NM_RANGE, "LIF v_reset must be finite");
    if (p->reset != NM_RESET_NONE && !(p->v_reset < p->v_threshold))
        return nm__error(NM_RANGE, "LIF v_reset (%g) must be below v_threshold (%g)", p->v_reset, p->v_threshold);
    if ((unsigned)p->reset > NM_RESET_NONE) return nm__error(NM_RANGE, "LIF reset mode %d is not valid", (int)p->reset);
    return NM_OK;
}

nm_status nm_li_params_check(const nm_li_params *p) {
    if (!(p->tau > 0) || !isfinite(p->tau)) return nm__error(NM_RANGE, "LI tau must be a positive time in seconds, not %g", p->tau);
    if (!isfinite(p->r)) return nm__error(NM_RANGE, "LI r must be finite");
    if (!isfinite(p->v_leak)) return nm__error(NM_RANGE, "LI v_leak must be finite");
    return NM_OK;
}

void nm_lif_discretize(const nm_lif_params *p, float dt, nm_lif_step *c) {
    double a = exp(-(double)dt / p->tau);
    c->alpha = (float)a;
    c->beta = (float)((1.0 - a) * p->r);
    c->v_leak = p->v_leak;
    c->v_th = p->v_threshold;
    c->v_reset = p->v_reset;
    c->reset = p->reset;
}

void nm_li_discretize(const nm_li_params *p, float dt, nm_lif_step *c) {
    double a = exp(-(double)dt / p->tau);
    c->alpha = (float)a;
    c->beta = (float)((1.0 - a) * p->r);
    c->v_leak = p->v_leak;
    c->v_th = INFINITY;
    c->v_reset = p->v_leak;
    c->reset = NM_RESET_NONE;
}

/* ---- surrogates -------------------------------------------------------- */

const char *nm_surrogate_name(nm_surrogate_kind k) {
    switch (k) {
    case NM_SURR_FAST_SIGMOID:     return "fast-sigmoid";
    case NM_SURR_ARCTAN:           return "arctan";
    case NM_SURR_TRIANGLE:         return "triangle";
    case NM_SURR_SUPERSPIKE:       return "superspike";
    case NM_SURR_STRAIGHT_THROUGH: return "straight-through";
    }
    return "?";
}

nm_status nm_surrogate_parse(const char *s, nm_surrogate_kind *out) {
    if (!strcmp(s, "fast-sigmoid")) *out = NM_SURR_FAST_SIGMOID;
    else if (!strcmp(s, "arctan") || !strcmp(s, "atan")) *out = NM_SURR_ARCTAN;
    else if (!strcmp(s, "triangle")) *out = NM_SURR_TRIANGLE;
    else if (!strcmp(s, "superspike")) *out = NM_SURR_SUPERSPIKE;
    else if (!strcmp(s, "straight-through") || !strcmp(s, "ste")) *out = NM_SURR_STRAIGHT_THROUGH;
    else
        return nm__error(NM_INVAL,
                         "unknown surrogate '%s' (choose fast-sigmoid, arctan, triangle, superspike or straight-through)", s);
    return NM_OK;
}

/* The slopes of the sources named in neuron.h: snnTorch's 25 for the fast sigmoid,
** SpikingJelly's 2 for arctan, SpyTorch's 100 for SuperSpike; 1 for the triangle (support
** |u - v_th| < 1, the whole span from reset 0 to twice the default threshold 1) and for the
** straight-through estimator (the identity's slope). Unknown kinds get the fast sigmoid's. */
void nm_surrogate_default(nm_surrogate *s, nm_surrogate_kind kind) {
    s->kind = kind;
    switch (kind) {
    case NM_SURR_ARCTAN:           s->slope = 2.0f; break;
    case NM_SURR_TRIANGLE:         s->slope = 1.0f; break;
    case NM_SURR_SUPERSPIKE:       s->slope = 100.0f; break;
    case NM_SURR_STRAIGHT_THROUGH: s->slope = 1.0f; break;
    case NM_SURR_FAST_SIGMOID:
    default:                       s->slope = 25.0f; break;
    }
    s->smooth_forward = 0;
}

float nm_surrogate_grad(const nm_surrogate *s, float x) { return surr_grad(s->kind, s->slope, x); }
float nm_surrogate_primitive(const nm_surrogate *s, float x) { return surr_prim(s->kind, s->slope, x); }

/* ---- LIF ---------------------------------------------------------------- */

/* One LIF step for n neurons of one batch row: v (state, in/out), I (input), u and s
** (outputs). Kept branch-free on the reset mode inside the loop so it vectorizes. */
static inline int64_t lif_step(const nm_lif_step *c, nm_surrogate_kind kind, float k, int smooth,
                               int64_t n, float *restrict v, const float *restrict I,
                               float *restrict u, float *restrict s) {
    const float alpha = c->alpha, beta = c->beta, vl = c->v_leak, vth = c->v_th, vr = c->v_reset;
    const float jump = vth - vr;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        float ui = vl + alpha * (v[i] - vl) + beta * I[i];
        float x = ui - vth;
        float si = spike_of(kind, k, smooth, x);
        count += x > 0.0f;
        u[i] = ui;
        s[i] = si;
    }
    if (c->reset == NM_RESET_SUBTRACT)
        for (int64_t i = 0; i < n; i++) v[i] = u[i] - s[i] * jump;
    else if (c->reset == NM_RESET_TO_VALUE)
        for (int64_t i = 0; i < n; i++) v[i] = u[i] * (1.0f - s[i]) + s[i] * vr;
    else
        for (int64_t i = 0; i < n; i++) v[i] = u[i];
    return count;
}

int64_t nm_lif_forward(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                       int64_t n, const float *I, int I_rows, float *u, float *spk, float *ws) {
    const int smooth = s && s->smooth_forward;
    const nm_surrogate_kind kind = s ? s->kind : NM_SURR_FAST_SIGMOID;
    const float k = s ? s->slope : 1.0f;
    const int64_t plane = (int64_t)batch * n;
    int64_t total = 0;

    #pragma omp parallel for schedule(static) reduction(+:total)
    for (int b = 0; b < batch; b++) {
        float *v = ws + (int64_t)b * n;
        for (int64_t i = 0; i < n; i++) v[i] = c->v_leak;
        for (int t = 0; t < n_steps; t++) {
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            float *st = spk + (int64_t)t * plane + (int64_t)b * n;
            float *ut = u + (int64_t)t * plane + (int64_t)b * n;
            total += lif_step(c, kind, k, smooth, n, v, It, ut, st);
        }
    }
    return total;
}

/* One batch row of the LIF backward, all steps. Inlined with the surrogate kind, the reset
** mode and the flags as constants (see nm_lif_backward), so each combination compiles to
** its own branch-free loop that vectorizes. */
static inline __attribute__((always_inline)) void lif_backward_row(
    const nm_lif_step *c, nm_surrogate_kind kind, float k, int smooth, nm_reset mode, int detach_reset, int sum_I,
    int n_steps, int64_t n, int64_t plane, const float *u, const float *g_spk, float *g_I, float *gv) {
    const float alpha = c->alpha, beta = c->beta, vth = c->v_th, vr = c->v_reset, jump = vth - vr;
    for (int64_t i = 0; i < n; i++) gv[i] = 0.0f;
    for (int t = n_steps - 1; t >= 0; t--) {
        const float *ut = u + (int64_t)t * plane;
        const float *gs = g_spk + (int64_t)t * plane;
        float *gI = g_I + (sum_I ? 0 : (int64_t)t * plane);
        for (int64_t i = 0; i < n; i++) {
            float x = ut[i] - vth;
            float sg = surr_grad(kind, k, x);
            float si = spike_of(kind, k, smooth, x), dv_du, dv_ds;
            reset_grad(mode, ut[i], si, jump, vr, &dv_du, &dv_ds);
            float g_s = gs[i] + (detach_reset ? 0.0f : gv[i] * dv_ds);
            float gu = gv[i] * dv_du + g_s * sg;
            if (sum_I) gI[i] += beta * gu;
            else gI[i] = beta * gu;
            gv[i] = alpha * gu;
        }
    }
}

void nm_lif_backward(const nm_lif_step *c, const nm_surrogate *s, int n_steps, int batch,
                     int64_t n, const float *u, const float *g_spk, int detach_reset,
                     float *g_I, int I_rows, float *ws) {
    const int smooth = s->smooth_forward, sum_I = I_rows == 1;
    const nm_surrogate_kind kind = s->kind;
    const float k = s->slope;
    const int64_t plane = (int64_t)batch * n;
    /* The common training case (fast sigmoid, subtractive reset, hard spikes, reset
    ** detached) gets a loop of its own; everything else shares a generic one. */
    const int common = kind == NM_SURR_FAST_SIGMOID && c->reset == NM_RESET_SUBTRACT && !smooth && detach_reset;

    if (sum_I) memset(g_I, 0, sizeof(float) * plane);

    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        const int64_t o = (int64_t)b * n;
        float *gv = ws + o;   /* dL/dv[t], carried backward in time */
        if (common && sum_I)
            lif_backward_row(c, NM_SURR_FAST_SIGMOID, k, 0, NM_RESET_SUBTRACT, 1, 1, n_steps, n, plane, u + o, g_spk + o,
                             g_I + o, gv);
        else if (common)
            lif_backward_row(c, NM_SURR_FAST_SIGMOID, k, 0, NM_RESET_SUBTRACT, 1, 0, n_steps, n, plane, u + o, g_spk + o,
                             g_I + o, gv);
        else
            lif_backward_row(c, kind, k, smooth, c->reset, detach_reset, sum_I, n_steps, n, plane, u + o, g_spk + o,
                             g_I + o, gv);
    }
}

/* ---- LI ----------------------------------------------------------------- */

/* The LI recurrence with constants per neuron (alpha[i], beta[i]) or shared (stride 0): one
** loop for both forwards, specialized by the constant stride after inlining. */
static inline __attribute__((always_inline)) void li_loop(const float *alpha, const float *beta, const int64_t st,
                                                          float vl, int n_steps, int batch, int64_t n, const float *I,
                                                          int I_rows, float *u) {
    const int64_t plane = (int64_t)batch * n;

    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        for (int t = 0; t < n_steps; t++) {
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            const float *up = t ? u + (int64_t)(t - 1) * plane + (int64_t)b * n : NULL;
            float *ut = u + (int64_t)t * plane + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                float vp = up ? up[i] : vl;
                ut[i] = vl + alpha[i * st] * (vp - vl) + beta[i * st] * It[i];
            }
        }
    }
}

void nm_li_forward(const nm_lif_step *c, int n_steps, int batch, int64_t n,
                   const float *I, int I_rows, float *u) {
    li_loop(&c->alpha, &c->beta, 0, c->v_leak, n_steps, batch, n, I, I_rows, u);
}

void nm_li_forward_pn(const nm_lif_pn_step *c, int n_steps, int batch, int64_t n, const float *I, int I_rows,
                      float *u) {
    li_loop(c->alpha, c->beta, 1, c->v_leak, n_steps, batch, n, I, I_rows, u);
}

void nm_li_backward(const nm_lif_step *c, int n_steps, int batch, int64_t n,
                    const float *g_u, float *g_I, int I_rows, float *ws) {
    const float alpha = c->alpha, beta = c->beta;
    const int64_t plane = (int64_t)batch * n;

    if (I_rows == 1) memset(g_I, 0, sizeof(float) * plane);

    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        float *gacc = ws + (int64_t)b * n;   /* dL/du[t] including the future */
        for (int64_t i = 0; i < n; i++) gacc[i] = 0.0f;
        for (int t = n_steps - 1; t >= 0; t--) {
            const float *gt = g_u + (int64_t)t * plane + (int64_t)b * n;
            float *gI = g_I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                float g = gt[i] + alpha * gacc[i];
                gacc[i] = g;
                if (I_rows == 1) gI[i] += beta * g;
                else gI[i] = beta * g;
            }
        }
    }
}
