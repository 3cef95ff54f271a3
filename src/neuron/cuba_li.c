/*
** CubaLI: CubaLIF's two linear state variables without the spike. Both enter linearly, so
** the backward carries dL/dv and dL/dI_syn and needs no recorded trajectory.
*/
#include "neuron_impl.h"

#include <string.h>

nm_status nm_cuba_li_params_check(const nm_cuba_lif_params *p) {
    POSITIVE_OR_FAIL("CubaLI", tau_syn, p->tau_syn, "s");
    POSITIVE_OR_FAIL("CubaLI", tau_mem, p->tau_mem, "s");
    FINITE_OR_FAIL("CubaLI", r, p->r);
    FINITE_OR_FAIL("CubaLI", w_in, p->w_in);
    FINITE_OR_FAIL("CubaLI", v_leak, p->v_leak);
    return NM_OK;
}

void nm_cuba_li_forward(const nm_cuba_lif_step *c, int n_steps, int batch, int64_t n, const float *I, int I_rows,
                        float *u, float *ws) {
    const float as = c->alpha_syn, gsyn = c->gain_syn, am = c->alpha_mem, psyn = c->p_syn, pin = c->p_in;
    const float vl = c->v_leak;
    const int64_t plane = (int64_t)batch * n;

    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        float *is = ws + (int64_t)b * n;
        for (int64_t i = 0; i < n; i++) is[i] = 0.0f;
        for (int t = 0; t < n_steps; t++) {
            const float *It = I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            const float *up = t ? u + (int64_t)(t - 1) * plane + (int64_t)b * n : NULL;
            float *ut = u + (int64_t)t * plane + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                float vp = up ? up[i] : vl;
                ut[i] = vl + am * (vp - vl) + psyn * is[i] + pin * It[i];
                is[i] = as * is[i] + gsyn * It[i];
            }
        }
    }
}

void nm_cuba_li_backward(const nm_cuba_lif_step *c, int n_steps, int batch, int64_t n, const float *g_u, float *g_I,
                         int I_rows, float *ws) {
    const float as = c->alpha_syn, gsyn = c->gain_syn, am = c->alpha_mem, psyn = c->p_syn, pin = c->p_in;
    const int64_t plane = (int64_t)batch * n;

    if (I_rows == 1) memset(g_I, 0, sizeof(float) * plane);
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        float *av = ws + (int64_t)b * n, *ai = ws + plane + (int64_t)b * n;   /* dL/dv[t], dL/dI_syn[t] from the future */
        for (int64_t i = 0; i < n; i++) av[i] = ai[i] = 0.0f;
        for (int t = n_steps - 1; t >= 0; t--) {
            const float *gt = g_u + (int64_t)t * plane + (int64_t)b * n;
            float *gI = g_I + (I_rows == 1 ? 0 : (int64_t)t * plane) + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                float gu = gt[i] + av[i], gi = ai[i];
                float d = pin * gu + gsyn * gi;
                if (I_rows == 1) gI[i] += d;
                else gI[i] = d;
                av[i] = am * gu;
                ai[i] = psyn * gu + as * gi;
            }
        }
    }
}
