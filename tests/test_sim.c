/*
** The simulator against references: LIF membrane trajectories and inter-spike intervals
** in closed form, the synaptic response of a current-based LIF in closed form, AdEx and
** Izhikevich against the engine's models (neuron.h), STDP weight changes against the
** rules' formulas, the Brunel network's rate against mean-field theory, COBA and CUBA
** against their reference rates, and identical spikes for any thread count.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <neuromorph/neuron.h>
#include <neuromorph/sim.h>

#define OK(x) do { nm_status rc_ = (x); if (rc_) fail_msg("%s: %s", #x, nm_errmsg()); } while (0)

static void set_param(nm_sim_pop *p, const char *name, double v) {
    int k = nm_sim_param_index(p->model, name);
    assert_true(k >= 0);
    p->param[k] = nm_dist_const(v);
}

static nm_sim *run(const nm_sim_spec *sp, int threads, double time) {
    nm_sim_options o = {threads, 0, 1, 1, NULL};
    nm_sim *s = NULL;
    OK(nm_sim_create(sp, &o, &s));
    OK(nm_sim_run(s, time));
    return s;
}

/* ---- single neurons -------------------------------------------------------------------- */

/* LIF with a constant drive I_e above threshold: v(t) = E_L + I_e + (v0 - E_L - I_e)
** e^{-t/tau} until the first spike, then an ISI of t_ref + tau ln((I_e - (V_r - E_L)) /
** (I_e - (V_th - E_L))), rounded up to whole steps. */
static void test_lif_closed_form(void **state) {
    (void)state;
    const double tau = 20, EL = -70, Vth = -50, Vr = -65, tref = 2, Ie = 25, dt = 0.1;
    nm_sim_spec *sp = nm_sim_spec_create();
    nm_sim_pop *p = nm_sim_spec_add_pop(sp, "N", NM_SIM_LIF_DELTA, 1);
    set_param(p, "tau_m", tau);
    set_param(p, "E_L", EL);
    set_param(p, "V_th", Vth);
    set_param(p, "V_reset", Vr);
    set_param(p, "t_ref", tref);
    set_param(p, "I_e", Ie);
    sp->dt = dt;
    nm_sim_monitor *m = nm_sim_spec_add_monitor(sp, NM_MON_STATE, 0);
    m->var = 0;
    m->interval = dt;
    nm_sim *s = run(sp, 1, 500);
    int64_t nt, nn;
    const double *t;
    const float *v;
    OK(nm_sim_state_samples(s, 0, &nt, &t, &nn, &v));
    assert_int_equal(nt, 5000);
    assert_int_equal(nn, 1);
    const double *ts;
    const int32_t *idx;
    int64_t n = nm_sim_spikes(s, 0, &ts, &idx);
    assert_true(n > 10);
    /* The trajectory before the first spike: sample r is the state at (r + 1) dt. */
    for (int64_t r = 0; t[r] < ts[0]; r++) {
        double want = EL + Ie + (EL - EL - Ie) * exp(-t[r] / tau);
        assert_true(fabs(v[r] - want) < 1e-3);
    }
    /* First crossing: the step in which the closed form passes V_th. */
    double t_cross = -tau * log((Ie - (Vth - EL)) / Ie);
    assert_true(fabs(ts[0] - floor(t_cross / dt) * dt) < dt + 1e-9);
    double isi = tref + tau * log((Ie - (Vr - EL)) / (Ie - (Vth - EL)));
    double mean = (ts[n - 1] - ts[1]) / (double)(n - 2);
    /* On the grid: the refractory steps plus whole steps of integration. */
    assert_true(fabs(mean - isi) <= dt + 1e-9);
    nm_sim_destroy(s);
    nm_sim_spec_free(sp);
}

/* lif_curr_exp hit by one spike of weight w at time t0: v = E_L + w tau_s / (tau_s - tau_m)
** (e^{-t'/tau_s} - e^{-t'/tau_m}), t' the time since the current jumped. */
static void test_curr_exp_psp(void **state) {
    (void)state;
    const double tm = 20, ts = 5, EL = -65, w = 4;
    char path[512];
    snprintf(path, sizeof path, "%s/sim_one_spike.csv", NM_TEST_TMP_DIR);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "time_s,neuron\n0.0100,0\n");
    fclose(f);
    nm_sim_spec *sp = nm_sim_spec_create();
    nm_sim_pop *src = nm_sim_spec_add_pop(sp, "S", NM_SIM_SPIKE_SOURCE, 1);
    src->spike_file = strdup(path);
    nm_sim_pop *p = nm_sim_spec_add_pop(sp, "N", NM_SIM_LIF_CURR_EXP, 1);
    set_param(p, "tau_m", tm);
    set_param(p, "tau_syn_e", ts);
    set_param(p, "E_L", EL);
    nm_sim_proj *pr = nm_sim_spec_add_proj(sp, 0, 1, NM_CONN_ONE_TO_ONE);
    pr->weight = nm_dist_const(w);
    pr->delay = nm_dist_const(1.0);
    nm_sim_monitor *m = nm_sim_spec_add_monitor(sp, NM_MON_STATE, 1);
    m->var = 0;
    nm_sim *s = run(sp, 1, 100);
    int64_t nt, nn;
    const double *t;
    const float *v;
    OK(nm_sim_state_samples(s, 0, &nt, &t, &nn, &v));
    /* float32 state: about 200 steps of rounding at |v| ~ 65 mV stay below 1e-3 mV.
    ** The spike at 10 ms arrives 1 ms later: the current jumps at the end of step 110 and
    ** acts on v from the next step, so v at time T has felt it for T - 11.1 ms. */
    double vmax = -1e9;
    for (int64_t r = 0; r < nt; r++) {
        double tp = t[r] - 11.1;
        double want = tp <= 0 ? EL : EL + w * ts / (ts - tm) * (exp(-tp / ts) - exp(-tp / tm));
        if (fabs(v[r] - want) >= 1e-3) fail_msg("t %g: v %.6f, closed form %.6f", t[r], v[r], want);
        if (v[r] > vmax) vmax = v[r];
    }
    /* The peak of the PSP, at t' = ln(tau_m / tau_s) tau_m tau_s / (tau_m - tau_s). */
    double tpk = log(tm / ts) * tm * ts / (tm - ts);
    double peak = w * ts / (ts - tm) * (exp(-tpk / ts) - exp(-tpk / tm));
    assert_true(fabs(vmax - EL - peak) < 1e-3);
    nm_sim_destroy(s);
    nm_sim_spec_free(sp);
}

/* AdEx and Izhikevich with constant drive step for step as the engine's models. */
static void test_against_engine(void **state) {
    (void)state;
    const double dt = 0.1;
    const int steps = 3000;
    for (int model = 0; model < 2; model++) {
        nm_sim_spec *sp = nm_sim_spec_create();
        nm_sim_pop *p = nm_sim_spec_add_pop(sp, "N", model ? NM_SIM_IZHIKEVICH : NM_SIM_ADEX, 1);
        set_param(p, "I_e", model ? 10.0 : 800.0);
        nm_sim_monitor *m = nm_sim_spec_add_monitor(sp, NM_MON_STATE, 0);
        m->var = 0;
        nm_sim *s = run(sp, 1, steps * dt);
        int64_t nt, nn;
        const double *t;
        const float *v;
        OK(nm_sim_state_samples(s, 0, &nt, &t, &nn, &v));
        assert_int_equal(nt, steps);
        float *ref = calloc(steps, sizeof *ref), *spk = calloc(steps, sizeof *spk), *ws = calloc(3, sizeof *ws);
        float zero = 0.0f;
        int64_t n_ref;
        if (model) {
            nm_izhikevich_params ip;
            nm_izhikevich_params_default(&ip);
            ip.I_e = 10.0f;
            nm_izhikevich_step c;
            nm_izhikevich_discretize(&ip, (float)(dt * 1e-3), &c);
            n_ref = nm_izhikevich_forward(&c, steps, 1, 1, &zero, 1, ref, NULL, spk, ws);
        } else {
            nm_adex_params ap;
            nm_adex_params_default(&ap);
            ap.I_e = 800.0f;
            nm_adex_step c;
            nm_adex_discretize(&ap, (float)(dt * 1e-3), &c);
            n_ref = nm_adex_forward(&c, steps, 1, 1, &zero, 1, ref, NULL, spk, ws);
        }
        if (n_ref <= 5) fail_msg("model %d: %lld reference spikes", model, (long long)n_ref);
        for (int r = 0; r < steps; r++) assert_float_equal(v[r], ref[r], 1e-4);
        int64_t cnt;
        OK(nm_sim_spike_counts(s, 0, &cnt, 1));
        assert_int_equal(cnt, n_ref);
        free(ref), free(spk), free(ws);
        nm_sim_destroy(s);
        nm_sim_spec_free(sp);
    }
}

/* ---- STDP -------------------------------------------------------------------------------- */

/* A pre spike (arriving at t_pre) and a post spike forced at t_post by a strong driver. */
static double stdp_dw(nm_stdp_kind kind, int mult, int nearest, const double *pre_ms, int n_pre, double post_ms,
                      double w0) {
    char path[512];
    snprintf(path, sizeof path, "%s/sim_stdp_%d.csv", NM_TEST_TMP_DIR, (int)kind * 4 + mult * 2 + nearest);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* neuron 0: the presynaptic train (delay 1 ms); neuron 1: the driver (delay 0.1 ms). */
    for (int k = 0; k < n_pre; k++) fprintf(f, "%.6f,0\n", (pre_ms[k] - 1.0) * 1e-3);
    fprintf(f, "%.6f,1\n", (post_ms - 0.1) * 1e-3);
    fclose(f);
    nm_sim_spec *sp = nm_sim_spec_create();
    nm_sim_pop *src = nm_sim_spec_add_pop(sp, "S", NM_SIM_SPIKE_SOURCE, 2);
    src->spike_file = strdup(path);
    nm_sim_pop *p = nm_sim_spec_add_pop(sp, "N", NM_SIM_LIF_DELTA, 1);
    set_param(p, "t_ref", 0.0);
    nm_sim_proj *pl = nm_sim_spec_add_proj(sp, 0, 1, NM_CONN_LIST);
    pl->n_list = 1;
    pl->list_pre = malloc(sizeof(int32_t));
    pl->list_post = malloc(sizeof(int32_t));
    pl->list_pre[0] = 0;
    pl->list_post[0] = 0;
    pl->weight = nm_dist_const(w0);
    pl->delay = nm_dist_const(1.0);
    pl->stdp.kind = kind;
    pl->stdp.multiplicative = mult;
    pl->stdp.nearest = nearest;
    pl->stdp.tau_plus = 16.8;
    pl->stdp.tau_minus = 33.7;
    pl->stdp.tau_x = 101;
    pl->stdp.tau_y = 125;
    pl->stdp.A_plus = 0.01;
    pl->stdp.A_minus = 0.007;
    pl->stdp.A3_plus = 0.006;
    pl->stdp.A3_minus = 0.002;
    pl->stdp.w_min = 0;
    pl->stdp.w_max = 1;
    nm_sim_proj *dr = nm_sim_spec_add_proj(sp, 0, 1, NM_CONN_LIST);
    dr->n_list = 1;
    dr->list_pre = malloc(sizeof(int32_t));
    dr->list_post = malloc(sizeof(int32_t));
    dr->list_pre[0] = 1;
    dr->list_post[0] = 0;
    dr->weight = nm_dist_const(100.0);
    dr->delay = nm_dist_const(0.1);
    nm_sim *s = run(sp, 1, 200);
    int64_t cnt;
    OK(nm_sim_spike_counts(s, 1, &cnt, 1));
    assert_int_equal(cnt, 1);
    int64_t n;
    int32_t *a, *b;
    float *w;
    OK(nm_sim_weights(s, 0, &n, &a, &b, &w));
    assert_int_equal(n, 1);
    double dw = w[0] - w0;
    free(a), free(b), free(w);
    nm_sim_destroy(s);
    nm_sim_spec_free(sp);
    return dw;
}

static void test_stdp_pair(void **state) {
    (void)state;
    const double tp = 16.8, tm = 33.7, Ap = 0.01, Am = 0.007, w0 = 0.5;
    /* Causal pairs potentiate by A+ e^{-dt/tau+}, anti-causal depress by A- e^{dt/tau-}. */
    const double dts[] = {-30, -10, -2, 2, 5, 10, 30};
    for (int k = 0; k < 7; k++) {
        double pre = 50.0, post = pre + dts[k];
        double dw = stdp_dw(NM_STDP_PAIR, 0, 0, &pre, 1, post, w0);
        double want = dts[k] > 0 ? Ap * exp(-dts[k] / tp) : -Am * exp(dts[k] / tm);
        assert_true(fabs(dw - want) < 2e-6);
    }
    /* Multiplicative: scaled by w_max - w (potentiation) and w - w_min (depression). */
    double pre = 50.0;
    double dw = stdp_dw(NM_STDP_PAIR, 1, 0, &pre, 1, 60.0, 0.8);
    assert_true(fabs(dw - Ap * exp(-10 / tp) * (1 - 0.8)) < 2e-6);
    dw = stdp_dw(NM_STDP_PAIR, 1, 0, &pre, 1, 40.0, 0.8);
    assert_true(fabs(dw + Am * exp(-10 / tm) * 0.8) < 2e-6);
    /* All-to-all traces add; nearest-spike traces reset: two pre spikes 5 and 15 ms before. */
    const double pres[2] = {45.0, 55.0};
    dw = stdp_dw(NM_STDP_PAIR, 0, 0, pres, 2, 60.0, w0);
    assert_true(fabs(dw - Ap * (exp(-15 / tp) + exp(-5 / tp))) < 2e-6);
    dw = stdp_dw(NM_STDP_PAIR, 0, 1, pres, 2, 60.0, w0);
    assert_true(fabs(dw - Ap * exp(-5 / tp)) < 2e-6);
}

/* Triplet: with two pre spikes before a post spike, the depression term of the second pre
** sees no post trace and the potentiation is r1 (A2+ + A3+ o2) with o2 = 0 (first post);
** for post-pre-post... a pre spike after two post spikes depresses by o1 (A2- + A3- r2). */
static void test_stdp_triplet(void **state) {
    (void)state;
    const double tp = 16.8, Ap = 0.01, w0 = 0.5;
    double pre = 50.0;
    double dw = stdp_dw(NM_STDP_TRIPLET, 0, 0, &pre, 1, 60.0, w0);
    assert_true(fabs(dw - Ap * exp(-10 / tp)) < 2e-6);
    /* Pre at 50 then 70 ms, post at 60: second pre depresses with r2 from the first. */
    const double pres[2] = {50.0, 70.0};
    dw = stdp_dw(NM_STDP_TRIPLET, 0, 0, pres, 2, 60.0, w0);
    double pot = Ap * exp(-10 / 16.8);
    double dep = exp(-10 / 33.7) * (0.007 + 0.002 * exp(-20 / 101.0));
    assert_true(fabs(dw - (pot - dep)) < 3e-6);
}

/* ---- networks -------------------------------------------------------------------------- */

/* Brunel 2000 model A (g = 5, eta = 2, D = 1.5 ms) with N neurons, in-degree 0.1 N_E. */
static nm_sim_spec *brunel(int64_t N) {
    const int64_t NE = N * 4 / 5, NI = N - NE, CE = NE / 10, CI = CE / 4;
    const double nu_thr = 20.0 / (0.1 * (double)CE * 20.0) * 1e3;
    nm_sim_spec *sp = nm_sim_spec_create();
    sp->seed = 7;
    for (int k = 0; k < 2; k++) {
        nm_sim_pop *p = nm_sim_spec_add_pop(sp, k ? "I" : "E", NM_SIM_LIF_DELTA, k ? NI : NE);
        p->init[0] = (nm_dist){NM_DIST_UNIFORM, 0.0, 20.0, -INFINITY, INFINITY};
        nm_sim_input *in = nm_sim_spec_add_input(sp, k);
        in->n = CE;
        in->rate = 2 * nu_thr;
        in->weight = 0.1;
    }
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            nm_sim_proj *pr = nm_sim_spec_add_proj(sp, a, b, NM_CONN_FIXED_INDEGREE);
            pr->k = a ? CI : CE;
            pr->weight = nm_dist_const(a ? -0.5 : 0.1);
            pr->delay = nm_dist_const(1.5);
            pr->receptor = a;
        }
    return sp;
}

/* The AI state's rate against the self-consistent mean-field rate (Brunel 2000, eq. 21):
** within 10 % (finite size and the delay's fluctuations make up the rest). */
static void test_brunel_mean_field(void **state) {
    (void)state;
    const int64_t N = 5000, CE = 400, CI = 100;
    nm_sim_spec *sp = brunel(N);
    nm_sim *s = run(sp, 0, 1000);
    nm_sim_stats st;
    nm_sim_get_stats(s, &st);
    double rate = (double)st.spikes / (double)N;
    double theory = nm_brunel_rate(0.1, 5, CE, CI, CE, 2 * 20.0 / (0.1 * CE * 20.0) * 1e3, 20, 20, 10, 2);
    print_message("Brunel N=%lld: %.2f Hz simulated, %.2f Hz mean-field\n", (long long)N, rate, theory);
    assert_true(theory > 10);
    assert_true(fabs(rate - theory) < 0.1 * theory);
    /* In-degrees exact, synapses counted. */
    assert_int_equal(st.synapses, N * (CE + CI));
    nm_sim_destroy(s);
    nm_sim_spec_free(sp);
}

/* Identical spikes, bit for bit, with 1, 2 and 3 threads (different block boundaries). */
static void test_threads_identical(void **state) {
    (void)state;
    nm_sim_spec *sp = brunel(3000);
    nm_sim *ref = run(sp, 1, 300);
    const double *t0;
    const int32_t *i0;
    int64_t n0 = nm_sim_spikes(ref, 0, &t0, &i0);
    assert_true(n0 > 1000);
    for (int th = 2; th <= 3; th++) {
        nm_sim *s = run(sp, th, 300);
        const double *t;
        const int32_t *i;
        int64_t n = nm_sim_spikes(s, 0, &t, &i);
        assert_int_equal(n, n0);
        assert_memory_equal(t, t0, (size_t)n * sizeof *t);
        assert_memory_equal(i, i0, (size_t)n * sizeof *i);
        nm_sim_destroy(s);
    }
    /* Running in two halves gives the same spikes as one run. */
    nm_sim_options o = {2, 0, 1, 1, NULL};
    nm_sim *s = NULL;
    OK(nm_sim_create(sp, &o, &s));
    OK(nm_sim_run(s, 170));
    OK(nm_sim_run(s, 130));
    const double *t;
    const int32_t *i;
    assert_int_equal(nm_sim_spikes(s, 0, &t, &i), n0);
    assert_memory_equal(i, i0, (size_t)n0 * sizeof *i);
    nm_sim_destroy(s);
    nm_sim_destroy(ref);
    nm_sim_spec_free(sp);
}

/* Per-neuron parameters, distributed weights and delays (packed into the synapse), every
** connection rule and every model: still the same spikes for 1, 2 and 3 threads. */
static void test_threads_identical_mixed(void **state) {
    (void)state;
    nm_sim_spec *sp = nm_sim_spec_create();
    sp->seed = 11;
    const nm_sim_model models[5] = {NM_SIM_LIF_DELTA, NM_SIM_LIF_CURR_EXP, NM_SIM_LIF_COND_EXP, NM_SIM_ADEX,
                                    NM_SIM_IZHIKEVICH};
    nm_sim_spec_add_pop(sp, "drive", NM_SIM_POISSON, 200)->param[0] = (nm_dist){NM_DIST_UNIFORM, 20, 60, 0, 0};
    for (int m = 0; m < 5; m++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", m);
        nm_sim_pop *p = nm_sim_spec_add_pop(sp, name, models[m], 150 + 7 * m);
        if (m < 3) p->param[0] = (nm_dist){NM_DIST_NORMAL, 20, 3, 10, 30};   /* tau_m */
    }
    const nm_conn_rule rules[4] = {NM_CONN_FIXED_PROB, NM_CONN_FIXED_INDEGREE, NM_CONN_FIXED_OUTDEGREE,
                                   NM_CONN_ALL_TO_ALL};
    for (int m = 0; m < 5; m++) {
        nm_sim_proj *pr = nm_sim_spec_add_proj(sp, 0, m + 1, rules[m % 4]);
        pr->p = 0.1;
        pr->k = 20;
        double w = models[m] == NM_SIM_ADEX ? 150.0 : models[m] == NM_SIM_LIF_COND_EXP ? 3.0 : 2.0;
        pr->weight = (nm_dist){NM_DIST_UNIFORM, 0.5 * w, 1.5 * w, 0, 0};
        pr->delay = (nm_dist){NM_DIST_UNIFORM, 0.5, 3.0, 0, 0};
        nm_sim_proj *rec = nm_sim_spec_add_proj(sp, m + 1, 1 + (m + 1) % 5, rules[(m + 1) % 4]);
        rec->p = 0.05;
        rec->k = 10;
        rec->weight = nm_dist_const(models[(m + 1) % 5] == NM_SIM_LIF_COND_EXP ? 1.0 : 0.5 * w);
        rec->delay = nm_dist_const(1.0);
    }
    nm_sim *ref = run(sp, 1, 200);
    nm_sim_stats st;
    nm_sim_get_stats(ref, &st);
    assert_true(st.spikes > 2000);
    for (int th = 2; th <= 3; th++) {
        nm_sim *s = run(sp, th, 200);
        for (int p = 0; p < sp->n_pops; p++) {
            const double *t0, *t;
            const int32_t *i0, *i;
            int64_t n0 = nm_sim_spikes(ref, p, &t0, &i0), n = nm_sim_spikes(s, p, &t, &i);
            if (n != n0) fail_msg("population %d: %lld spikes with %d threads, %lld with 1", p, (long long)n, th,
                                  (long long)n0);
            assert_memory_equal(t, t0, (size_t)n * sizeof *t);
            assert_memory_equal(i, i0, (size_t)n * sizeof *i);
        }
        nm_sim_destroy(s);
    }
    for (int p = 1; p <= 5; p++) {
        int64_t cnt[200];
        OK(nm_sim_spike_counts(ref, p, cnt, sp->pops[p].size));
        int64_t tot = 0;
        for (int64_t q = 0; q < sp->pops[p].size; q++) tot += cnt[q];
        if (tot == 0) fail_msg("population %s is silent", sp->pops[p].name);
    }
    nm_sim_destroy(ref);
    nm_sim_spec_free(sp);
}

/* COBA and CUBA (Brette et al. 2007) from the shipped description files: mean rates within
** 20 % of Brian2's runs of the same networks (ANCHORS: COBA 21.1 Hz, CUBA 5.5 Hz) and
** irregular firing (pooled CV of the ISIs above 0.5, as in the asynchronous state). */
static double cv_of(const nm_sim *s, int pop, int64_t size) {
    const double *t;
    const int32_t *idx;
    int64_t n = nm_sim_spikes(s, pop, &t, &idx);
    double *last = calloc((size_t)size, sizeof *last), *s1 = calloc((size_t)size, sizeof *s1),
           *s2 = calloc((size_t)size, sizeof *s2);
    int64_t *c = calloc((size_t)size, sizeof *c);
    for (int64_t k = 0; k < n; k++) {
        if (c[idx[k]]++) {
            double d = t[k] - last[idx[k]];
            s1[idx[k]] += d, s2[idx[k]] += d * d;
        }
        last[idx[k]] = t[k];
    }
    double cv = 0;
    int64_t used = 0;
    for (int64_t i = 0; i < size; i++)
        if (c[i] >= 3) {
            double m = s1[i] / (double)(c[i] - 1), var = s2[i] / (double)(c[i] - 1) - m * m;
            cv += sqrt(var > 0 ? var : 0) / m, used++;
        }
    free(last), free(s1), free(s2), free(c);
    return used ? cv / (double)used : 0;
}

static void test_coba_cuba(void **state) {
    (void)state;
    const char *files[2] = {NM_SOURCE_DIR "/nets/coba.json", NM_SOURCE_DIR "/nets/cuba.json"};
    const double ref[2] = {84389 / 4000.0, 220831 / 40000.0}, T[2] = {1000, 4000};
    for (int k = 0; k < 2; k++) {
        nm_sim_spec *sp = NULL;
        OK(nm_sim_spec_read(files[k], &sp));
        nm_sim *s = run(sp, 0, T[k]);
        nm_sim_stats st;
        nm_sim_get_stats(s, &st);
        double rate = (double)st.spikes / 4000.0 / (T[k] * 1e-3);
        double cv = cv_of(s, 0, sp->pops[0].size);
        print_message("%s: %.2f Hz (reference %.2f), CV(ISI) %.2f\n", files[k], rate, ref[k], cv);
        assert_true(fabs(rate - ref[k]) < 0.2 * ref[k]);
        assert_true(cv > 0.5);
        nm_sim_destroy(s);
        nm_sim_spec_free(sp);
    }
}

/* A projection into a spike source and a delay the ring cannot pack are refused by name. */
static void test_refusals(void **state) {
    (void)state;
    nm_sim_spec *sp = nm_sim_spec_create();
    nm_sim_spec_add_pop(sp, "P", NM_SIM_POISSON, 10);
    nm_sim_spec_add_pop(sp, "Q", NM_SIM_POISSON, 10);
    nm_sim_proj *pr = nm_sim_spec_add_proj(sp, 0, 1, NM_CONN_ALL_TO_ALL);
    pr->weight = nm_dist_const(1);
    pr->delay = nm_dist_const(1);
    nm_sim_options o = {1, 0, 1, 0, NULL};
    nm_sim *s = NULL;
    assert_int_not_equal(nm_sim_create(sp, &o, &s), NM_OK);
    assert_null(s);
    assert_non_null(strstr(nm_errmsg(), "'Q'"));
    nm_sim_spec_free(sp);
    /* Poisson sources: rate and count. */
    sp = nm_sim_spec_create();
    nm_sim_pop *p = nm_sim_spec_add_pop(sp, "P", NM_SIM_POISSON, 1000);
    set_param(p, "rate", 20.0);
    s = run(sp, 2, 2000);
    nm_sim_stats st;
    nm_sim_get_stats(s, &st);
    /* 40,000 expected: within 4 standard deviations (200). */
    assert_true(llabs(st.spikes - 40000) < 800);
    nm_sim_destroy(s);
    nm_sim_spec_free(sp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lif_closed_form),
        cmocka_unit_test(test_curr_exp_psp),
        cmocka_unit_test(test_against_engine),
        cmocka_unit_test(test_stdp_pair),
        cmocka_unit_test(test_stdp_triplet),
        cmocka_unit_test(test_brunel_mean_field),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_threads_identical_mixed),
        cmocka_unit_test(test_coba_cuba),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
