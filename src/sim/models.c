/*
** The simulator's neuron models as data: every parameter and state variable with its
** unit, default and meaning. The description-file reader, the README table and the
** monitors all read these tables, so a model is described in one place.
*/
#include "sim_impl.h"

#include <math.h>
#include <string.h>

/* Parameter order is fixed: the kernels in step.c index by the enums in sim_impl.h. */
static const nm_sim_var lif_delta_params[] = {
    {"tau_m", "ms", 20.0, "membrane time constant"},
    {"E_L", "mV", 0.0, "resting potential"},
    {"V_th", "mV", 20.0, "spike threshold"},
    {"V_reset", "mV", 10.0, "reset potential"},
    {"t_ref", "ms", 2.0, "refractory period (v held at V_reset, input dropped)"},
    {"I_e", "mV", 0.0, "constant drive R_m I_e: v relaxes to E_L + I_e"},
};
static const nm_sim_var lif_delta_state[] = {
    {"v", "mV", 0.0, "membrane potential (default E_L)"},
};

static const nm_sim_var lif_curr_params[] = {
    {"tau_m", "ms", 20.0, "membrane time constant"},
    {"E_L", "mV", -65.0, "resting potential"},
    {"V_th", "mV", -50.0, "spike threshold"},
    {"V_reset", "mV", -65.0, "reset potential"},
    {"t_ref", "ms", 2.0, "refractory period (v held at V_reset)"},
    {"I_e", "mV", 0.0, "constant drive R_m I_e"},
    {"tau_syn_e", "ms", 5.0, "excitatory current decay"},
    {"tau_syn_i", "ms", 10.0, "inhibitory current decay"},
};
static const nm_sim_var lif_curr_state[] = {
    {"v", "mV", 0.0, "membrane potential (default E_L)"},
    {"I_exc", "mV", 0.0, "excitatory current, R_m I"},
    {"I_inh", "mV", 0.0, "inhibitory current, R_m I"},
};

static const nm_sim_var lif_cond_params[] = {
    {"tau_m", "ms", 20.0, "membrane time constant C_m / g_L"},
    {"E_L", "mV", -60.0, "leak reversal potential"},
    {"V_th", "mV", -50.0, "spike threshold"},
    {"V_reset", "mV", -60.0, "reset potential"},
    {"t_ref", "ms", 5.0, "refractory period (v held at V_reset)"},
    {"I_e", "pA", 0.0, "constant input current"},
    {"tau_syn_e", "ms", 5.0, "excitatory conductance decay"},
    {"tau_syn_i", "ms", 10.0, "inhibitory conductance decay"},
    {"E_exc", "mV", 0.0, "excitatory reversal potential"},
    {"E_inh", "mV", -80.0, "inhibitory reversal potential"},
    {"g_L", "nS", 10.0, "leak conductance"},
};
static const nm_sim_var lif_cond_state[] = {
    {"v", "mV", 0.0, "membrane potential (default E_L)"},
    {"g_exc", "nS", 0.0, "excitatory conductance"},
    {"g_inh", "nS", 0.0, "inhibitory conductance"},
};

static const nm_sim_var adex_params[] = {
    {"C_m", "pF", 281.0, "membrane capacitance"},
    {"g_L", "nS", 30.0, "leak conductance"},
    {"E_L", "mV", -70.6, "leak reversal potential"},
    {"Delta_T", "mV", 2.0, "slope factor (0: no exponential term)"},
    {"V_th", "mV", -50.4, "threshold of the exponential term"},
    {"V_peak", "mV", 0.0, "spike detection"},
    {"V_reset", "mV", -60.0, "reset potential"},
    {"tau_w", "ms", 144.0, "adaptation time constant"},
    {"a", "nS", 4.0, "subthreshold adaptation"},
    {"b", "pA", 80.5, "spike-triggered adaptation"},
    {"t_ref", "ms", 0.0, "refractory period"},
    {"I_e", "pA", 0.0, "constant input current"},
    {"tau_syn_e", "ms", 5.0, "excitatory current decay"},
    {"tau_syn_i", "ms", 5.0, "inhibitory current decay"},
    {"h_max", "ms", 0.01, "largest integration substep"},
};
static const nm_sim_var adex_state[] = {
    {"v", "mV", 0.0, "membrane potential (default E_L)"},
    {"w", "pA", 0.0, "adaptation current"},
    {"I_exc", "pA", 0.0, "excitatory current"},
    {"I_inh", "pA", 0.0, "inhibitory current"},
};

static const nm_sim_var izh_params[] = {
    {"a", "1/ms", 0.02, "recovery time scale"},
    {"b", "1", 0.2, "recovery sensitivity"},
    {"c", "mV", -65.0, "reset potential"},
    {"d", "mV/ms", 8.0, "recovery jump after a spike"},
    {"v_peak", "mV", 30.0, "spike cutoff"},
    {"I_e", "mV/ms", 0.0, "constant input"},
    {"h_max", "ms", 0.1, "largest integration substep"},
};
static const nm_sim_var izh_state[] = {
    {"v", "mV", -65.0, "membrane potential"},
    {"u", "mV/ms", 0.0, "recovery variable (default b v)"},
};

static const nm_sim_var poisson_params[] = {
    {"rate", "Hz", 10.0, "firing rate"},
};

static const nm_sim_model_info models[NM_SIM_N_MODELS] = {
    [NM_SIM_LIF_DELTA] = {"lif_delta", "LIF; a spike jumps v by its weight (mV)", 6, lif_delta_params, 1,
                          lif_delta_state, 0},
    [NM_SIM_LIF_CURR_EXP] = {"lif_curr_exp", "LIF with exponentially decaying currents (weights in mV)", 8,
                             lif_curr_params, 3, lif_curr_state, 0},
    [NM_SIM_LIF_COND_EXP] = {"lif_cond_exp", "LIF with exponentially decaying conductances (weights in nS)", 11,
                             lif_cond_params, 3, lif_cond_state, 0},
    [NM_SIM_ADEX] = {"adex", "adaptive exponential IF with exponential currents (weights in pA)", 15, adex_params,
                     4, adex_state, 0},
    [NM_SIM_IZHIKEVICH] = {"izhikevich", "Izhikevich 2003; a spike jumps v by its weight (mV)", 7, izh_params, 2,
                           izh_state, 0},
    [NM_SIM_POISSON] = {"poisson", "independent Poisson spike trains", 1, poisson_params, 0, NULL, 1},
    [NM_SIM_SPIKE_SOURCE] = {"spike_source", "spikes replayed from a spike file (TIME,NEURON; s)", 0, NULL, 0,
                             NULL, 1},
};

const nm_sim_model_info *nm_sim_model_get(nm_sim_model m) {
    if ((int)m < 0 || m >= NM_SIM_N_MODELS) return NULL;
    return &models[m];
}

nm_status nm_sim_model_parse(const char *name, nm_sim_model *out) {
    for (int m = 0; m < NM_SIM_N_MODELS; m++)
        if (name && !strcmp(name, models[m].name)) {
            *out = (nm_sim_model)m;
            return NM_OK;
        }
    return nm__error(NM_INVAL,
                     "unknown neuron model '%s' (expected lif_delta, lif_curr_exp, lif_cond_exp, adex, "
                     "izhikevich, poisson or spike_source)",
                     name ? name : "(null)");
}

int nm_sim_param_index(nm_sim_model m, const char *name) {
    const nm_sim_model_info *mi = nm_sim_model_get(m);
    if (!mi || !name) return -1;
    for (int k = 0; k < mi->n_params; k++)
        if (!strcmp(mi->params[k].name, name)) return k;
    return -1;
}

int nm_sim_state_index(nm_sim_model m, const char *name) {
    const nm_sim_model_info *mi = nm_sim_model_get(m);
    if (!mi || !name) return -1;
    for (int k = 0; k < mi->n_state; k++)
        if (!strcmp(mi->state[k].name, name)) return k;
    return -1;
}

/* ---- distributions ---------------------------------------------------------------- */

static double normal_d(nm_rng *r) {
    /* Box-Muller in double from two words; the spare is not kept, so a draw always takes
    ** the same number of words and streams stay aligned. */
    double u1 = ((double)nm_rng_u32(r) + 1.0) * 0x1.0p-32;
    double u2 = (double)nm_rng_u32(r) * 0x1.0p-32;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925286766559 * u2);
}

double nm_dist_draw(const nm_dist *d, nm_rng *r) {
    switch (d->kind) {
    case NM_DIST_CONST: return d->a;
    case NM_DIST_UNIFORM: return d->a + (d->b - d->a) * nm_rng_uniform_d(r);
    case NM_DIST_NORMAL:
    case NM_DIST_LOGNORMAL: {
        double x = 0.0;
        for (int tries = 0; tries < 1000; tries++) {
            x = d->a + d->b * normal_d(r);
            if (d->kind == NM_DIST_LOGNORMAL) x = exp(x);
            if (x >= d->lo && x <= d->hi) return x;
        }
        return x < d->lo ? d->lo : d->hi;
    }
    }
    return d->a;
}

nm_status nm_dist_check(const nm_dist *d, double min, double max, const char *what) {
    switch (d->kind) {
    case NM_DIST_CONST:
        if (!isfinite(d->a)) return nm__error(NM_RANGE, "%s: the value is not finite", what);
        if (d->a < min || d->a > max) return nm__error(NM_RANGE, "%s: %g is outside [%g, %g]", what, d->a, min, max);
        return NM_OK;
    case NM_DIST_UNIFORM:
        if (!isfinite(d->a) || !isfinite(d->b) || !(d->b >= d->a))
            return nm__error(NM_RANGE, "%s: a uniform distribution needs finite low <= high (got %g, %g)", what,
                             d->a, d->b);
        if (d->a < min || d->b > max)
            return nm__error(NM_RANGE, "%s: uniform [%g, %g) reaches outside [%g, %g]", what, d->a, d->b, min, max);
        return NM_OK;
    case NM_DIST_NORMAL:
    case NM_DIST_LOGNORMAL: {
        const char *nm = d->kind == NM_DIST_NORMAL ? "normal" : "lognormal";
        if (!isfinite(d->a) || !isfinite(d->b) || !(d->b > 0))
            return nm__error(NM_RANGE, "%s: a %s distribution needs a finite mean and a standard deviation > 0", what,
                             nm);
        if (isnan(d->lo) || isnan(d->hi) || d->lo > d->hi)
            return nm__error(NM_RANGE, "%s: the %s's bounds [%g, %g] are empty", what, nm, d->lo, d->hi);
        double lo = d->lo, hi = d->hi;
        if (d->kind == NM_DIST_LOGNORMAL && lo < 0) lo = 0;
        if (lo < min || hi > max)
            return nm__error(NM_RANGE, "%s: the %s can give values outside [%g, %g]; bound it with \"min\"/\"max\"",
                             what, nm, min, max);
        return NM_OK;
    }
    }
    return nm__error(NM_RANGE, "%s: unknown distribution kind %d", what, (int)d->kind);
}
