/*
** Nonlinear point neurons, forward only: AdEx (Brette & Gerstner 2005) and Izhikevich
** (2003). Their ODEs have no closed-form step, so each step of dt is split into n_sub
** equal substeps of h <= h_max and integrated numerically (Heun's RK2 for AdEx, forward
** Euler or Izhikevich's published scheme for Izhikevich); the schemes are stated in
** neuron.h.
**
** Units are NEST's (mV, ms, pF, nS, pA), while dt comes in seconds like everywhere else
** in the module. Within a step the state is carried in double; between steps it is
** stored in float in the caller's workspace. Each element is integrated on its own, so
** results are bit-identical for any thread count. Expected workload: biophysical
** simulation of moderate populations (these cost n_sub exp() calls per neuron and step),
** not training.
*/
#include <neuromorph/neuron.h>

#include "neuron_impl.h"

#include <math.h>
#include <string.h>

/* Substeps per step: the smallest n with dt/n <= h_max, with a relative slack of 1e-6 so
** that float inputs (dt = 1e-3f s, h_max = 0.1f ms) give 10 rather than 11. */
static int substeps(double dt_ms, double h_max) {
    double k = ceil(dt_ms / h_max * (1.0 - 1e-6));
    if (k < 1) k = 1;
    if (k > 1e6) k = 1e6;
    return (int)k;
}

/* ---- AdEx ----------------------------------------------------------------- */

void nm_adex_params_default(nm_adex_params *p) {
    p->C_m = 281.0f;
    p->g_L = 30.0f;
    p->E_L = -70.6f;
    p->Delta_T = 2.0f;
    p->V_th = -50.4f;
    p->V_peak = 0.0f;
    p->V_reset = -60.0f;
    p->tau_w = 144.0f;
    p->a = 4.0f;
    p->b = 80.5f;
    p->t_ref = 0.0f;
    p->I_e = 0.0f;
    p->h_max = 0.01f;
}

nm_status nm_adex_params_check(const nm_adex_params *p) {
    POSITIVE_OR_FAIL("AdEx", C_m, p->C_m, "pF");
    POSITIVE_OR_FAIL("AdEx", g_L, p->g_L, "nS");
    FINITE_OR_FAIL("AdEx", E_L, p->E_L);
    if (!(p->Delta_T >= 0) || !isfinite(p->Delta_T))
        return nm__error(NM_RANGE, "AdEx Delta_T must be >= 0 mV, not %g", p->Delta_T);
    FINITE_OR_FAIL("AdEx", V_th, p->V_th);
    FINITE_OR_FAIL("AdEx", V_peak, p->V_peak);
    FINITE_OR_FAIL("AdEx", V_reset, p->V_reset);
    POSITIVE_OR_FAIL("AdEx", tau_w, p->tau_w, "ms");
    FINITE_OR_FAIL("AdEx", a, p->a);
    FINITE_OR_FAIL("AdEx", b, p->b);
    if (!(p->t_ref >= 0) || !isfinite(p->t_ref))
        return nm__error(NM_RANGE, "AdEx t_ref must be >= 0 ms, not %g", p->t_ref);
    FINITE_OR_FAIL("AdEx", I_e, p->I_e);
    POSITIVE_OR_FAIL("AdEx", h_max, p->h_max, "ms");
    if (p->Delta_T > 0) {
        if (!(p->V_peak >= p->V_th))
            return nm__error(NM_RANGE, "AdEx V_peak (%g) must be at least V_th (%g)", p->V_peak, p->V_th);
        if ((p->V_peak - p->V_th) / p->Delta_T > 500.0f)
            return nm__error(NM_RANGE, "AdEx Delta_T (%g) is too small for V_peak - V_th = %g: exp((V_peak - V_th)/Delta_T) "
                             "would overflow", p->Delta_T, p->V_peak - p->V_th);
        if (!(p->V_reset < p->V_peak))
            return nm__error(NM_RANGE, "AdEx V_reset (%g) must be below V_peak (%g)", p->V_reset, p->V_peak);
    } else if (!(p->V_reset < p->V_th)) {
        return nm__error(NM_RANGE, "AdEx V_reset (%g) must be below V_th (%g), the threshold when Delta_T is 0",
                         p->V_reset, p->V_th);
    }
    return NM_OK;
}

void nm_adex_discretize(const nm_adex_params *p, float dt, nm_adex_step *c) {
    const double dt_ms = (double)dt * 1e3;
    c->p = *p;
    if (!(p->Delta_T > 0)) c->p.V_peak = p->V_th;
    c->n_sub = substeps(dt_ms, p->h_max);
    c->h = dt_ms / c->n_sub;
    c->n_ref = p->t_ref > 0 ? (int)ceil(p->t_ref / c->h * (1.0 - 1e-6)) : 0;
}

int nm_adex_advance(const nm_adex_step *c, double *Vp, double *Wp, long *rcp, double Iin) {
    const nm_adex_params *p = &c->p;
    const double h = c->h, inv_C = 1.0 / p->C_m, inv_tw = 1.0 / p->tau_w;
    const double gL = p->g_L, EL = p->E_L, DT = p->Delta_T, VT = p->V_th, Vpk = p->V_peak;
    const double Vr = p->V_reset, a = p->a, bq = p->b;
    const double inv_DT = DT > 0 ? 1.0 / DT : 0.0;
    double V = *Vp, W = *Wp;
    long rc = *rcp;
    int n_spk = 0;
    for (int k = 0; k < c->n_sub; k++) {
        if (rc > 0) {   /* held at V_reset; w relaxes towards a (V_reset - E_L) */
            rc--;
            V = Vr;
            double k1 = (a * (Vr - EL) - W) * inv_tw;
            double k2 = (a * (Vr - EL) - (W + h * k1)) * inv_tw;
            W += 0.5 * h * (k1 + k2);
            continue;
        }
        /* Heun: slopes at the start and at the Euler predictor; V capped at
        ** V_peak inside the right-hand side (NEST aeif_*). */
        double Ve = V < Vpk ? V : Vpk;
        double ex = DT > 0 ? gL * DT * exp((Ve - VT) * inv_DT) : 0.0;
        double kV1 = (-gL * (Ve - EL) + ex - W + Iin) * inv_C;
        double kW1 = (a * (Ve - EL) - W) * inv_tw;
        double V1 = V + h * kV1, W1 = W + h * kW1;
        Ve = V1 < Vpk ? V1 : Vpk;
        ex = DT > 0 ? gL * DT * exp((Ve - VT) * inv_DT) : 0.0;
        double kV2 = (-gL * (Ve - EL) + ex - W1 + Iin) * inv_C;
        double kW2 = (a * (Ve - EL) - W1) * inv_tw;
        V += 0.5 * h * (kV1 + kV2);
        W += 0.5 * h * (kW1 + kW2);
        if (V >= Vpk) {
            n_spk++;
            V = Vr;
            W += bq;
            rc = c->n_ref;
        }
    }
    *Vp = V;
    *Wp = W;
    *rcp = rc;
    return n_spk;
}

int64_t nm_adex_forward(const nm_adex_step *c, int n_steps, int batch, int64_t n, const float *I,
                        int I_rows, float *V_m, float *w, float *spk, float *ws) {
    const nm_adex_params *p = &c->p;
    const int64_t plane = (int64_t)batch * n;
    int64_t total = 0;

    #pragma omp parallel for schedule(static) reduction(+:total)
    for (int b = 0; b < batch; b++) {
        float *Vs = ws + (int64_t)b * n;
        float *ws_w = ws + plane + (int64_t)b * n;
        float *cnt = ws + 2 * plane + (int64_t)b * n;   /* refractory substeps left */
        for (int64_t i = 0; i < n; i++) { Vs[i] = p->E_L; ws_w[i] = 0.0f; cnt[i] = 0.0f; }
        for (int t = 0; t < n_steps; t++) {
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                double V = Vs[i], W = ws_w[i];
                long rc = (long)cnt[i];
                int n_spk = nm_adex_advance(c, &V, &W, &rc, (double)p->I_e + It[i]);
                Vs[i] = (float)V;
                ws_w[i] = (float)W;
                cnt[i] = (float)rc;
                V_m[o + i] = (float)V;
                if (w) w[o + i] = (float)W;
                spk[o + i] = (float)n_spk;
                total += n_spk;
            }
        }
    }
    return total;
}

/* ---- Izhikevich ----------------------------------------------------------- */

void nm_izhikevich_params_default(nm_izhikevich_params *p) {
    p->a = 0.02f;
    p->b = 0.2f;
    p->c = -65.0f;
    p->d = 8.0f;
    p->v_peak = 30.0f;
    p->I_e = 0.0f;
    p->h_max = 0.1f;
    p->consistent_integration = 1;
}

nm_status nm_izhikevich_params_check(const nm_izhikevich_params *p) {
    FINITE_OR_FAIL("Izhikevich", a, p->a);
    FINITE_OR_FAIL("Izhikevich", b, p->b);
    FINITE_OR_FAIL("Izhikevich", c, p->c);
    FINITE_OR_FAIL("Izhikevich", d, p->d);
    FINITE_OR_FAIL("Izhikevich", v_peak, p->v_peak);
    FINITE_OR_FAIL("Izhikevich", I_e, p->I_e);
    POSITIVE_OR_FAIL("Izhikevich", h_max, p->h_max, "ms");
    if (!(p->c < p->v_peak))
        return nm__error(NM_RANGE, "Izhikevich c (%g) must be below v_peak (%g)", p->c, p->v_peak);
    if (p->consistent_integration != 0 && p->consistent_integration != 1)
        return nm__error(NM_RANGE, "Izhikevich consistent_integration must be 0 or 1, not %d", p->consistent_integration);
    return NM_OK;
}

void nm_izhikevich_discretize(const nm_izhikevich_params *p, float dt, nm_izhikevich_step *c) {
    const double dt_ms = (double)dt * 1e3;
    c->p = *p;
    c->n_sub = substeps(dt_ms, p->h_max);
    c->h = dt_ms / c->n_sub;
}

int nm_izhikevich_advance(const nm_izhikevich_step *c, double *vp, double *up, double Iin) {
    const nm_izhikevich_params *p = &c->p;
    const double h = c->h, a = p->a, bb = p->b, cc = p->c, d = p->d, vpk = p->v_peak;
    double v = *vp, u = *up;
    int n_spk = 0;
    for (int k = 0; k < c->n_sub; k++) {
        if (p->consistent_integration) {
            double dv = 0.04 * v * v + 5.0 * v + 140.0 - u + Iin;
            double du = a * (bb * v - u);
            v += h * dv;
            u += h * du;
        } else {   /* Izhikevich 2003: v in two half-steps, then u from the new v */
            v += 0.5 * h * (0.04 * v * v + 5.0 * v + 140.0 - u + Iin);
            v += 0.5 * h * (0.04 * v * v + 5.0 * v + 140.0 - u + Iin);
            u += h * a * (bb * v - u);
        }
        if (v >= vpk) {
            n_spk++;
            v = cc;
            u += d;
        }
    }
    *vp = v;
    *up = u;
    return n_spk;
}

int64_t nm_izhikevich_forward(const nm_izhikevich_step *c, int n_steps, int batch, int64_t n,
                              const float *I, int I_rows, float *v_m, float *u_m, float *spk, float *ws) {
    const double bb = c->p.b, Ie = c->p.I_e;
    const int64_t plane = (int64_t)batch * n;
    int64_t total = 0;

    #pragma omp parallel for schedule(static) reduction(+:total)
    for (int b = 0; b < batch; b++) {
        float *vs = ws + (int64_t)b * n;
        float *us = ws + plane + (int64_t)b * n;
        for (int64_t i = 0; i < n; i++) { vs[i] = -65.0f; us[i] = (float)(bb * -65.0); }
        for (int t = 0; t < n_steps; t++) {
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            const int64_t o = (int64_t)t * plane + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                double v = vs[i], u = us[i];
                int n_spk = nm_izhikevich_advance(c, &v, &u, Ie + It[i]);
                vs[i] = (float)v;
                us[i] = (float)u;
                v_m[o + i] = (float)v;
                if (u_m) u_m[o + i] = (float)u;
                spk[o + i] = (float)n_spk;
                total += n_spk;
            }
        }
    }
    return total;
}
