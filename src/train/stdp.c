/*
** stdp.c: the unsupervised network of Diehl & Cook 2015 ("Unsupervised learning of digit
** recognition using spike-timing-dependent plasticity", Front. Comput. Neurosci. 9:99), with
** the parameters of the code published with the paper (Brian 1).
**
**   input        one Poisson source per pixel, rate = x (max_rate + k rate_boost) for the k-th
**                re-presentation (k = 0 first; again while fewer than min_spikes fired)
**   excitatory   tau_m dv/dt = (v_rest - v) + ge (E_exc - v) + gi (E_inh - v)   (backward Euler;
**                the paper's code used forward Euler)
**                dge/dt = -ge / tau_ge, dgi/dt = -gi / tau_gi; an input spike adds w to ge
**                spike when v > v_thresh + theta - theta_offset; v = v_reset; refractory t_ref
**                theta += theta_plus per spike, d theta/dt = -theta / tau_theta (learning only)
**   inhibition   the simplified equivalent of the paper's inhibitory layer: every excitatory
**                spike adds w_inh to gi of every other excitatory neuron one step later (the
**                paper's one-to-one E->I weight 10.4 makes the partner fire at once, and its
**                I->E weight is 17 onto all others)
**   STDP         traces set to 1 at a spike, decaying with tau_pre, tau_post1, tau_post2:
**                pre spike   w -= nu_pre post1                   (clipped at 0)
**                post spike  w += nu_post pre post2(before)      (clipped at w_max)
**                and each neuron's input weights are rescaled to sum to w_sum before every image
**   labels       each neuron gets the class it responds to most on average; a sample's class
**                is the class whose neurons fire most on average
**
** Differences from the paper's code, each small: the 150 ms rest resets the state instead of
** simulating it (after 150 ms conductances and traces have decayed below 1e-3 of their
** value); input delays (0-10 ms) are left out; the inhibitory population is the direct
** inhibition above.
**
** Work scales with spikes: input spikes are drawn as geometric gaps (one draw per spike, not
** per pixel and step), each input spike touches one weight row (n_exc floats), each output
** spike one weight column (n_input floats), and the pre traces are kept as last-spike steps
** and evaluated only at output spikes. The excitatory state is a few vector passes per step.
** Training is sequential (each image changes the weights the next one sees); labelling and
** testing run in parallel over images, every image drawing its input from Philox at
** (seed, key of the image): the result does not depend on the thread count.
*/
#include "learn_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NO_SPIKE INT64_MIN

/* The state of one running copy of the network (training has one; labelling and testing one
** per thread, sharing the weights read-only). */
typedef struct stdp_state {
    float    *v, *ge, *gi, *post1, *post2;   /* (n_exc) mV, nS, nS, 1, 1           */
    int32_t  *refr;                          /* (n_exc) refractory steps left       */
    uint8_t  *fired;                         /* (n_exc) spiked in the previous step */
    int       n_fired;
    /* neurons that have spiked since the last reset: only their post1 trace is nonzero, so
    ** depression at an input spike visits them alone */
    int32_t  *act;                           /* (n_exc) their indices               */
    uint8_t  *in_act;                        /* (n_exc)                             */
    int       n_act;
    int64_t  *pre_last;                      /* (n_in) step of the last input spike */
    int64_t   now;                           /* step                                */
    /* the input spikes of one presentation, by step */
    int32_t  *ev_pix, *ev_step, *ev_sorted;  /* (cap)                               */
    int64_t   cap;
    int32_t  *step_off;                      /* (n_steps + 1)                       */
} stdp_state;

struct nm_stdp {
    nm_stdp_config c;
    int64_t  n_in;
    int      n_exc, n_steps;
    float   *w;        /* (n_in, n_exc) */
    float   *theta;    /* (n_exc) mV    */
    float    a_ge, a_gi, a_p1, a_p2, a_theta;
    int      ref_steps;
    stdp_state st;
};

void nm_stdp_config_default(nm_stdp_config *c) {
    memset(c, 0, sizeof *c);
    c->n_exc = 400;
    c->dt = 0.5f;
    c->t_present = 350.0f;
    c->t_rest = 150.0f;
    c->max_rate = 63.75f;
    c->rate_boost = 31.875f;
    c->min_spikes = 5;
    c->max_boosts = 10;
    c->v_rest = -65.0f;
    c->v_reset = -65.0f;
    c->v_thresh = -52.0f;
    c->theta_offset = 20.0f;
    c->e_exc = 0.0f;
    c->e_inh = -100.0f;
    c->tau_m = 100.0f;
    c->tau_ge = 1.0f;
    c->tau_gi = 2.0f;
    c->t_ref = 5.0f;
    c->w_inh = 17.0f;
    c->theta_plus = 0.05f;
    c->tau_theta = 1e7f;
    c->theta_init = 20.0f;
    c->nu_pre = 0.0001f;
    c->nu_post = 0.01f;
    c->tau_pre = 20.0f;
    c->tau_post1 = 20.0f;
    c->tau_post2 = 40.0f;
    c->w_max = 1.0f;
    c->w_sum = 78.0f;
    c->w_init_lo = 0.003f;
    c->w_init_hi = 0.303f;
    c->seed = 1;
}

#define POSITIVE(f)                                                                             \
    if (!(c->f > 0.0f) || !isfinite(c->f)) return nm__error(NM_RANGE, "STDP " #f " must be positive, got %g", c->f)
#define NONNEG(f)                                                                               \
    if (!(c->f >= 0.0f) || !isfinite(c->f)) return nm__error(NM_RANGE, "STDP " #f " must be >= 0, got %g", c->f)

nm_status nm_stdp_config_check(const nm_stdp_config *c) {
    if (c->n_exc < 1 || c->n_exc > 1 << 20) return nm__error(NM_RANGE, "STDP n_exc must be in [1, 2^20], got %d", c->n_exc);
    POSITIVE(dt);
    POSITIVE(t_present);
    NONNEG(t_rest);
    POSITIVE(max_rate);
    NONNEG(rate_boost);
    POSITIVE(tau_m);
    POSITIVE(tau_ge);
    POSITIVE(tau_gi);
    NONNEG(t_ref);
    NONNEG(w_inh);
    NONNEG(theta_plus);
    POSITIVE(tau_theta);
    NONNEG(nu_pre);
    NONNEG(nu_post);
    POSITIVE(tau_pre);
    POSITIVE(tau_post1);
    POSITIVE(tau_post2);
    POSITIVE(w_max);
    NONNEG(w_sum);
    NONNEG(w_init_lo);
    if (!(c->w_init_hi >= c->w_init_lo) || c->w_init_hi > c->w_max)
        return nm__error(NM_RANGE, "STDP initial weights must satisfy lo <= hi <= w_max, got [%g, %g]", c->w_init_lo,
                         c->w_init_hi);
    if (c->min_spikes < 0 || c->max_boosts < 0 || c->max_boosts > 60)
        return nm__error(NM_RANGE, "STDP min_spikes >= 0 and max_boosts in [0, 60], got %d and %d", c->min_spikes,
                         c->max_boosts);
    if (c->t_present / c->dt > 1e7) return nm__error(NM_RANGE, "STDP t_present / dt is too many steps");
    if (!(c->v_reset < c->v_thresh + c->theta_init - c->theta_offset))
        return nm__error(NM_RANGE, "STDP v_reset must lie below the initial threshold");
    return NM_OK;
}

static void state_free(stdp_state *st) {
    nm_free(st->v);
    nm_free(st->ge);
    nm_free(st->gi);
    nm_free(st->post1);
    nm_free(st->post2);
    nm_free(st->refr);
    nm_free(st->fired);
    nm_free(st->act);
    nm_free(st->in_act);
    nm_free(st->pre_last);
    nm_free(st->ev_pix);
    nm_free(st->ev_step);
    nm_free(st->ev_sorted);
    nm_free(st->step_off);
    memset(st, 0, sizeof *st);
}

static void state_reset(const nm_stdp *s, stdp_state *st) {
    for (int j = 0; j < s->n_exc; j++) {
        st->v[j] = s->c.v_rest;
        st->ge[j] = st->gi[j] = st->post1[j] = st->post2[j] = 0.0f;
        st->refr[j] = 0;
        st->fired[j] = 0;
        st->in_act[j] = 0;
    }
    st->n_fired = 0;
    st->n_act = 0;
    for (int64_t i = 0; i < s->n_in; i++) st->pre_last[i] = NO_SPIKE;
    st->now = 0;
}

static nm_status state_init(const nm_stdp *s, stdp_state *st) {
    memset(st, 0, sizeof *st);
    const size_t ne = (size_t)s->n_exc;
    st->v = nm_alloc(ne * sizeof(float));
    st->ge = nm_alloc(ne * sizeof(float));
    st->gi = nm_alloc(ne * sizeof(float));
    st->post1 = nm_alloc(ne * sizeof(float));
    st->post2 = nm_alloc(ne * sizeof(float));
    st->refr = nm_alloc(ne * sizeof(int32_t));
    st->fired = nm_alloc(ne);
    st->act = nm_alloc(ne * sizeof(int32_t));
    st->in_act = nm_alloc(ne);
    st->pre_last = nm_alloc((size_t)s->n_in * sizeof(int64_t));
    st->step_off = nm_alloc(((size_t)s->n_steps + 1) * sizeof(int32_t));
    if (!st->v || !st->ge || !st->gi || !st->post1 || !st->post2 || !st->refr || !st->fired || !st->act || !st->in_act ||
        !st->pre_last ||
        !st->step_off) {
        state_free(st);
        return nm__error(NM_NOMEM, "out of memory for the STDP network's state");
    }
    state_reset(s, st);
    return NM_OK;
}

nm_status nm_stdp_create(const nm_stdp_config *c, int64_t n_input, nm_stdp **out) {
    NM_ASSERT(c && out);
    nm_status rc = nm_stdp_config_check(c);
    if (rc) return rc;
    if (n_input < 1 || n_input > (1 << 24)) return nm__error(NM_RANGE, "STDP inputs must be in [1, 2^24], got %lld",
                                                             (long long)n_input);
    nm_stdp *s = calloc(1, sizeof *s);
    if (!s) return nm__error(NM_NOMEM, "out of memory");
    s->c = *c;
    s->n_in = n_input;
    s->n_exc = c->n_exc;
    s->n_steps = (int)lround(c->t_present / c->dt);
    if (s->n_steps < 1) s->n_steps = 1;
    s->a_ge = expf(-c->dt / c->tau_ge);
    s->a_gi = expf(-c->dt / c->tau_gi);
    s->a_p1 = expf(-c->dt / c->tau_post1);
    s->a_p2 = expf(-c->dt / c->tau_post2);
    s->a_theta = (float)exp(-(double)c->dt / c->tau_theta);
    s->ref_steps = (int)lround(c->t_ref / c->dt);
    s->w = nm_alloc((size_t)n_input * c->n_exc * sizeof(float));
    s->theta = nm_alloc((size_t)c->n_exc * sizeof(float));
    if (!s->w || !s->theta || (rc = state_init(s, &s->st))) {
        nm_stdp_destroy(s);
        return rc ? rc : nm__error(NM_NOMEM, "out of memory for %lld x %d STDP weights", (long long)n_input, c->n_exc);
    }
    nm_rng r;
    nm_rng_init(&r, c->seed, 0x57445000u);   /* "WDP": the initial weights */
    for (int64_t k = 0; k < n_input * c->n_exc; k++)
        s->w[k] = c->w_init_lo + (c->w_init_hi - c->w_init_lo) * nm_rng_uniform(&r);
    for (int j = 0; j < c->n_exc; j++) s->theta[j] = c->theta_init;
    *out = s;
    return NM_OK;
}

void nm_stdp_destroy(nm_stdp *s) {
    if (!s) return;
    nm_free(s->w);
    nm_free(s->theta);
    state_free(&s->st);
    free(s);
}

void   nm_stdp_reset(nm_stdp *s) { state_reset(s, &s->st); }
float *nm_stdp_weights(nm_stdp *s) { return s->w; }
float *nm_stdp_theta(nm_stdp *s) { return s->theta; }

/* One dt of one copy of the network. With learn == 0, w and theta are only read. */
static int step(nm_stdp *s, stdp_state *st, const int32_t *pre, int n_pre, const int32_t *forced, int n_forced,
                int learn, uint8_t *fired_out) {
    const nm_stdp_config *c = &s->c;
    const int ne = s->n_exc;
    float *restrict v = st->v, *restrict ge = st->ge, *restrict gi = st->gi;
    float *restrict p1 = st->post1, *restrict p2 = st->post2;
    /* 1. decay */
    for (int j = 0; j < ne; j++) {
        ge[j] *= s->a_ge;
        gi[j] *= s->a_gi;
        p1[j] *= s->a_p1;
        p2[j] *= s->a_p2;
    }
    if (learn)
        for (int j = 0; j < ne; j++) s->theta[j] *= s->a_theta;
    /* 2. lateral inhibition from the previous step's spikes (not onto the spiker itself) */
    if (st->n_fired && c->w_inh > 0.0f)
        for (int j = 0; j < ne; j++) gi[j] += c->w_inh * (float)(st->n_fired - st->fired[j]);
    /* 3. input spikes: conductance, then depression by the post trace (nonzero only for the
    ** neurons that have spiked since the reset) */
    const float nu_pre = learn ? c->nu_pre : 0.0f;
    for (int k = 0; k < n_pre; k++) {
        const int32_t i = pre[k];
        float *restrict wr = s->w + (int64_t)i * ne;
        for (int j = 0; j < ne; j++) ge[j] += wr[j];
        if (nu_pre > 0.0f)
            for (int q = 0; q < st->n_act; q++) {
                const int j = st->act[q];
                const float x = wr[j] - nu_pre * p1[j];
                wr[j] = x > 0.0f ? x : 0.0f;
            }
        st->pre_last[i] = st->now;
    }
    /* 4. membranes, refractory neurons held at reset. Backward Euler: with ge and gi held
    ** over the step, tau_m dv/dt = A - B v gives v' = (v + h A) / (1 + h B), h = dt / tau_m,
    ** stable for any conductance. Forward Euler (the paper's code) diverges once h B > 2,
    ** which a burst of lateral inhibition reaches (gi of hundreds of nS). Branch-free so that
    ** it vectorizes. */
    const float h = c->dt / c->tau_m, vr = c->v_reset, vrest = c->v_rest, ee = c->e_exc, ei = c->e_inh;
    int32_t *restrict refr = st->refr;
    for (int j = 0; j < ne; j++) {
        const float vn = (v[j] + h * (vrest + ge[j] * ee + gi[j] * ei)) / (1.0f + h * (1.0f + ge[j] + gi[j]));
        const int held = refr[j] > 0;
        v[j] = held ? vr : vn;
        refr[j] -= held;
    }
    /* 5. threshold; forced spikes; post-synaptic updates */
    int n_f = 0;
    for (int j = 0; j < ne; j++) {
        const int f = st->refr[j] == 0 && v[j] > c->v_thresh + s->theta[j] - c->theta_offset;
        st->fired[j] = (uint8_t)f;
    }
    for (int k = 0; k < n_forced; k++) st->fired[forced[k]] = 1;
    for (int j = 0; j < ne; j++) {
        if (!st->fired[j]) continue;
        n_f++;
        v[j] = c->v_reset;
        st->refr[j] = s->ref_steps;
        if (learn) {
            s->theta[j] += c->theta_plus;
            const float a = c->nu_post * p2[j];   /* post2 before this spike */
            if (a > 0.0f)
                for (int64_t i = 0; i < s->n_in; i++) {
                    if (st->pre_last[i] == NO_SPIKE) continue;
                    const float pre_tr = expf(-(float)(st->now - st->pre_last[i]) * c->dt / c->tau_pre);
                    float *wp = s->w + i * ne + j;
                    const float x = *wp + a * pre_tr;
                    *wp = x < c->w_max ? x : c->w_max;
                }
        }
        p1[j] = 1.0f;
        p2[j] = 1.0f;
        if (!st->in_act[j]) {
            st->in_act[j] = 1;
            st->act[st->n_act++] = j;
        }
    }
    st->n_fired = n_f;
    if (fired_out) memcpy(fired_out, st->fired, (size_t)ne);
    st->now++;
    return n_f;
}

int nm_stdp_step(nm_stdp *s, const int32_t *pre, int n_pre, const int32_t *post_forced, int n_forced, int learn,
                 uint8_t *fired) {
    for (int k = 0; k < n_pre; k++) NM_ASSERT(pre[k] >= 0 && pre[k] < s->n_in);
    for (int k = 0; k < n_forced; k++) NM_ASSERT(post_forced[k] >= 0 && post_forced[k] < s->n_exc);
    return step(s, &s->st, pre, n_pre, post_forced, n_forced, learn, fired);
}

/* Each neuron's input weights rescaled to sum to w_sum (the paper's normalization). */
static void normalize(nm_stdp *s) {
    const int ne = s->n_exc;
    double *sum = calloc((size_t)ne, sizeof(double));
    if (!sum) return;   /* skipping one normalization is harmless; the next image retries */
    for (int64_t i = 0; i < s->n_in; i++)
        for (int j = 0; j < ne; j++) sum[j] += s->w[i * ne + j];
    float *f = (float *)sum;   /* reuse: ne floats fit in ne doubles */
    for (int j = 0; j < ne; j++) f[j] = sum[j] > 0.0 ? (float)(s->c.w_sum / sum[j]) : 1.0f;
    for (int64_t i = 0; i < s->n_in; i++)
        for (int j = 0; j < ne; j++) s->w[i * ne + j] *= f[j];
    free(sum);
}

/* Draws the input spikes of one presentation into st (sorted by step). Poisson sources as
** Bernoulli per step with p = rate dt, drawn as geometric gaps. */
static nm_status draw_input(const nm_stdp *s, stdp_state *st, const float *x, double rate_full, uint64_t key,
                            int attempt) {
    const int T = s->n_steps;
    nm_rng r;
    nm_rng_init(&r, s->c.seed, key * 64 + (uint64_t)attempt);
    int64_t n_ev = 0;
    for (int64_t i = 0; i < s->n_in; i++) {
        const double p = (x[i] > 0.0f ? x[i] : 0.0f) * rate_full * s->c.dt * 1e-3;
        if (!(p > 0.0)) continue;
        const double lq = p < 1.0 ? log1p(-p) : -INFINITY;
        int64_t t = -1;
        for (;;) {
            double u = nm_rng_uniform_d(&r);
            int64_t gap = p < 1.0 ? 1 + (int64_t)floor(log1p(-u) / lq) : 1;
            if (gap < 1) gap = 1;   /* rounding near u = 0 */
            t += gap;
            if (t >= T) break;
            if (n_ev == st->cap) {
                int64_t nc = st->cap ? 2 * st->cap : 16384;
                int32_t *a = nm_alloc((size_t)nc * sizeof(int32_t)), *b = nm_alloc((size_t)nc * sizeof(int32_t)),
                        *so = nm_alloc((size_t)nc * sizeof(int32_t));
                if (!a || !b || !so) {
                    nm_free(a);
                    nm_free(b);
                    nm_free(so);
                    return nm__error(NM_NOMEM, "out of memory for input spikes");
                }
                if (n_ev) {
                    memcpy(a, st->ev_pix, (size_t)n_ev * sizeof(int32_t));
                    memcpy(b, st->ev_step, (size_t)n_ev * sizeof(int32_t));
                }
                nm_free(st->ev_pix);
                nm_free(st->ev_step);
                nm_free(st->ev_sorted);
                st->ev_pix = a;
                st->ev_step = b;
                st->ev_sorted = so;
                st->cap = nc;
            }
            st->ev_pix[n_ev] = (int32_t)i;
            st->ev_step[n_ev] = (int32_t)t;
            n_ev++;
        }
    }
    /* counting sort by step, pixel order kept within a step */
    memset(st->step_off, 0, ((size_t)T + 1) * sizeof(int32_t));
    for (int64_t k = 0; k < n_ev; k++) st->step_off[st->ev_step[k] + 1]++;
    for (int t = 0; t < T; t++) st->step_off[t + 1] += st->step_off[t];
    for (int64_t k = 0; k < n_ev; k++) st->ev_sorted[st->step_off[st->ev_step[k]]++] = st->ev_pix[k];
    for (int t = T; t > 0; t--) st->step_off[t] = st->step_off[t - 1];
    st->step_off[0] = 0;
    return NM_OK;
}

/* One image on one copy of the network: re-presented with more input until min_spikes fire.
** Returns the spikes of the final presentation (counts gets them per neuron), or -1 on error;
** *n_input gets the input spikes of it. */
static int64_t present(nm_stdp *s, stdp_state *st, const float *x, uint64_t key, int learn, int32_t *counts,
                       int64_t *n_input) {
    const nm_stdp_config *c = &s->c;
    int64_t total = 0;
    for (int attempt = 0; attempt <= c->max_boosts; attempt++) {
        if (learn && c->w_sum > 0.0f) normalize(s);
        state_reset(s, st);
        if (draw_input(s, st, x, c->max_rate + attempt * c->rate_boost, key, attempt)) return -1;
        memset(counts, 0, (size_t)s->n_exc * sizeof(int32_t));
        total = 0;
        for (int t = 0; t < s->n_steps; t++) {
            const int32_t *ev = st->ev_sorted + st->step_off[t];
            int n_ev = st->step_off[t + 1] - st->step_off[t];
            if (step(s, st, ev, n_ev, NULL, 0, learn, NULL))
                for (int j = 0; j < s->n_exc; j++) counts[j] += st->fired[j];
            total += st->n_fired;
        }
        if (n_input) *n_input = st->step_off[s->n_steps];
        if (total >= c->min_spikes || c->rate_boost <= 0.0f) break;
    }
    state_reset(s, st);   /* the rest between images */
    return total;
}

int64_t nm_stdp_present(nm_stdp *s, const float *x, uint64_t key, int learn, int32_t *counts) {
    return present(s, &s->st, x, key, learn, counts, NULL);
}

void nm_stdp_assign_labels(const int32_t *counts, const int *labels, int64_t n_samples, int n_neurons, int n_classes,
                           int *assign) {
    double *sum = calloc((size_t)n_neurons * n_classes, sizeof(double));
    int64_t *per = calloc((size_t)n_classes, sizeof(int64_t));
    if (!sum || !per) {
        for (int j = 0; j < n_neurons; j++) assign[j] = -1;
        free(sum);
        free(per);
        return;
    }
    for (int64_t k = 0; k < n_samples; k++) {
        const int y = labels[k];
        if (y < 0 || y >= n_classes) continue;
        per[y]++;
        for (int j = 0; j < n_neurons; j++) sum[(int64_t)j * n_classes + y] += counts[k * n_neurons + j];
    }
    for (int j = 0; j < n_neurons; j++) {
        int best = -1;
        double bv = 0.0;
        for (int y = 0; y < n_classes; y++) {
            if (!per[y]) continue;
            double m = sum[(int64_t)j * n_classes + y] / (double)per[y];
            if (m > bv) {
                bv = m;
                best = y;
            }
        }
        assign[j] = best;
    }
    free(sum);
    free(per);
}

int nm_stdp_classify(const int32_t *counts, const int *assign, int n_neurons, int n_classes) {
    int best = 0;
    double bv = -1.0;
    for (int y = 0; y < n_classes; y++) {
        int64_t s = 0, n = 0;
        for (int j = 0; j < n_neurons; j++)
            if (assign[j] == y) {
                s += counts[j];
                n++;
            }
        double m = n ? (double)s / (double)n : 0.0;
        if (m > bv) {
            bv = m;
            best = y;
        }
    }
    return best;
}

/* Runs images [first, first + n) of d with learning off, in parallel, into counts
** (n, n_exc). key_base is mixed into every image's key. */
static nm_status respond(nm_stdp *s, const nm_dataset *d, int64_t first, int64_t n, uint64_t key_base,
                         int32_t *counts, int64_t *spikes, int64_t *in_spikes) {
    const int64_t npx = (int64_t)d->rows * d->cols;
    nm_status rc = NM_OK;
    int64_t tot = 0, tot_in = 0;
#pragma omp parallel reduction(+ : tot, tot_in)
    {
        stdp_state st;
        float *x = nm_alloc((size_t)npx * sizeof(float));
        nm_status lrc = state_init(s, &st);
        if (!x && !lrc) lrc = NM_NOMEM;
#pragma omp for schedule(dynamic, 16)
        for (int64_t k = 0; k < n; k++) {
            if (lrc) continue;
            const int64_t im = (first + k) % d->n;
            for (int64_t p = 0; p < npx; p++) x[p] = d->images[im * npx + p] / 255.0f;
            int64_t nin = 0, r = present(s, &st, x, key_base + (uint64_t)im, 0, counts + k * s->n_exc, &nin);
            if (r < 0) lrc = NM_NOMEM;
            else {
                tot += r;
                tot_in += nin;
            }
        }
        if (lrc) {
#pragma omp critical
            rc = lrc;
        }
        state_free(&st);
        nm_free(x);
    }
    if (rc) return nm__error(rc, "out of memory while running the STDP network");
    if (spikes) *spikes = tot;
    if (in_spikes) *in_spikes = tot_in;
    return NM_OK;
}

nm_status nm_stdp_run(nm_stdp *s, const nm_dataset *train, const nm_dataset *test, int64_t n_train, int64_t n_label,
                      int64_t n_test, int quiet, volatile sig_atomic_t *stop, nm_stdp_result *res) {
    NM_ASSERT(s && train && test && res);
    const int64_t npx = (int64_t)train->rows * train->cols;
    if (nm_dataset_sample_size(train) != npx || nm_dataset_sample_size(test) != (int64_t)test->rows * test->cols)
        return nm__error(NM_UNSUPPORTED, "STDP learns from image sets; this is an event dataset (%d frames per sample)",
                         train->steps > 1 ? train->steps : test->steps);
    if (npx != s->n_in || (int64_t)test->rows * test->cols != s->n_in)
        return nm__error(NM_SHAPE, "the STDP network has %lld inputs but the images have %dx%d pixels",
                         (long long)s->n_in, train->rows, train->cols);
    if (n_train < 0 || n_label < 0 || n_test < 0) return nm__error(NM_RANGE, "image counts must be >= 0");
    if (n_train > train->n) n_train = train->n;
    if (n_label > train->n) n_label = train->n;
    if (n_test == 0 || n_test > test->n) n_test = test->n;
    memset(res, 0, sizeof *res);
    const int ne = s->n_exc, C = train->n_classes > test->n_classes ? train->n_classes : test->n_classes;
    /* with n_label 0, labels come from the responses to the last 10,000 training images */
    const int64_t keep = n_label ? 0 : (n_train < 10000 ? n_train : 10000);
    const int64_t n_lab = n_label ? n_label : keep;
    if (n_lab < 1) return nm__error(NM_RANGE, "labelling needs at least one image");
    int32_t *counts = nm_alloc((size_t)(n_lab > n_test ? n_lab : n_test) * ne * sizeof(int32_t));
    int *labels = nm_alloc((size_t)(n_lab > n_test ? n_lab : n_test) * sizeof(int));
    int *assign = nm_alloc((size_t)ne * sizeof(int));
    float *x = nm_alloc((size_t)npx * sizeof(float));
    int32_t *cnt = nm_alloc((size_t)ne * sizeof(int32_t));
    nm_status rc = NM_OK;
    if (!counts || !labels || !assign || !x || !cnt) {
        rc = nm__error(NM_NOMEM, "out of memory for STDP responses");
        goto done;
    }
    /* training: sequential, learning on */
    double t0 = nm_time_now();
    nm_progress *pb = nm_progress_create("STDP training", n_train, quiet);
    for (int64_t i = 0; i < n_train; i++) {
        if (stop && *stop) {
            nm_progress_finish(pb);
            rc = nm__error(NM_INTERRUPTED, "STDP training interrupted after %lld images", (long long)i);
            goto done;
        }
        for (int64_t p = 0; p < npx; p++) x[p] = train->images[i * npx + p] / 255.0f;
        if (present(s, &s->st, x, (uint64_t)i, 1, cnt, NULL) < 0) {
            nm_progress_finish(pb);
            rc = nm__error(NM_NOMEM, "out of memory for input spikes");
            goto done;
        }
        if (i >= n_train - keep) {
            int64_t k = i - (n_train - keep);
            memcpy(counts + k * ne, cnt, (size_t)ne * sizeof(int32_t));
            labels[k] = train->labels[i];
        }
        if ((i & 63) == 63 || i == n_train - 1) nm_progress_update(pb, i + 1, NULL);
    }
    nm_progress_finish(pb);
    res->n_train = n_train;
    res->train_seconds = nm_time_now() - t0;
    /* labels */
    t0 = nm_time_now();
    if (n_label) {
        if ((rc = respond(s, train, 0, n_label, 1ull << 40, counts, NULL, NULL))) goto done;
        for (int64_t k = 0; k < n_label; k++) labels[k] = train->labels[k % train->n];
    }
    nm_stdp_assign_labels(counts, labels, n_lab, ne, C, assign);
    res->n_label = n_lab;
    res->label_seconds = nm_time_now() - t0;
    for (int j = 0; j < ne; j++) res->n_unassigned += assign[j] < 0;
    /* test */
    t0 = nm_time_now();
    int64_t spikes = 0, in_spikes = 0, hits = 0;
    if ((rc = respond(s, test, 0, n_test, 2ull << 40, counts, &spikes, &in_spikes))) goto done;
    for (int64_t k = 0; k < n_test; k++) hits += nm_stdp_classify(counts + k * ne, assign, ne, C) == test->labels[k];
    res->n_test = n_test;
    res->test_seconds = nm_time_now() - t0;
    res->accuracy = (double)hits / (double)n_test;
    res->spikes_per_inference = (double)spikes / (double)n_test;
    res->input_spikes_per_inference = (double)in_spikes / (double)n_test;
done:
    nm_free(counts);
    nm_free(labels);
    nm_free(assign);
    nm_free(x);
    nm_free(cnt);
    return rc;
}
