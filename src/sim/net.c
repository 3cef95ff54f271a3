/*
** Building a network on this rank: the local neurons of every population with their
** constants and initial states, and every projection's synapses onto the local targets,
** in compressed rows by source, one set of rows per thread (each thread owns a block of
** targets, so delivery needs no atomics and sums in a fixed order).
**
** Connectivity is generated where the target lives: the sources of target j (and their
** weights and delays) come from Philox streams keyed by j alone, so rank r builds exactly
** the synapses it will use, and a network's synapses do not depend on the number of
** ranks or threads. Two passes over the same streams: one counts each row, the other
** fills it, so the only memory is the final 8 bytes a synapse.
*/
#include "sim_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- populations ------------------------------------------------------------------- */

/* The number of per-step constants each model's kernel reads (step.c). */
static int n_consts(nm_sim_model m) {
    switch (m) {
    case NM_SIM_LIF_DELTA: return 4;
    case NM_SIM_LIF_CURR_EXP: return 8;
    case NM_SIM_LIF_COND_EXP: return 10;
    case NM_SIM_ADEX: return 2;
    case NM_SIM_POISSON: return 1;
    default: return 0;
    }
}

/* Per-step constants of one neuron from its parameters par[] (dt in ms). */
static void derive(nm_sim_model m, const double *par, double dt, float *c, int32_t *nref) {
    *nref = 0;
    switch (m) {
    case NM_SIM_LIF_DELTA: {
        double a = exp(-dt / par[LD_TAU_M]);
        c[0] = (float)a;
        c[1] = (float)((par[LD_E_L] + par[LD_I_E]) * (1.0 - a));
        c[2] = (float)par[LD_V_TH];
        c[3] = (float)par[LD_V_RESET];
        *nref = nm_refractory_steps((float)(par[LD_T_REF] * 1e-3), (float)(dt * 1e-3));
        break;
    }
    case NM_SIM_LIF_CURR_EXP: {
        double tm = par[LC_TAU_M], am = exp(-dt / tm);
        double coef[2];
        for (int r = 0; r < 2; r++) {
            /* v's response over one step to a current I decaying with tau_s (exact). */
            double ts = r == 0 ? par[LC_TAU_E] : par[LC_TAU_I], as = exp(-dt / ts);
            coef[r] = fabs(ts - tm) > 1e-9 * tm ? ts / (ts - tm) * (as - am) : dt / tm * am;
        }
        c[0] = (float)am;
        c[1] = (float)((par[LC_E_L] + par[LC_I_E]) * (1.0 - am));
        c[2] = (float)coef[0];
        c[3] = (float)coef[1];
        c[4] = (float)exp(-dt / par[LC_TAU_E]);
        c[5] = (float)exp(-dt / par[LC_TAU_I]);
        c[6] = (float)par[LC_V_TH];
        c[7] = (float)par[LC_V_RESET];
        *nref = nm_refractory_steps((float)(par[LC_T_REF] * 1e-3), (float)(dt * 1e-3));
        break;
    }
    case NM_SIM_LIF_COND_EXP:
        c[0] = (float)(dt / par[LG_TAU_M]);
        c[1] = (float)par[LG_E_L];
        c[2] = (float)par[LG_E_E];
        c[3] = (float)par[LG_E_I];
        c[4] = (float)(1.0 / par[LG_G_L]);
        c[5] = (float)par[LG_I_E];
        c[6] = (float)exp(-dt / par[LG_TAU_E]);
        c[7] = (float)exp(-dt / par[LG_TAU_I]);
        c[8] = (float)par[LG_V_TH];
        c[9] = (float)par[LG_V_RESET];
        *nref = nm_refractory_steps((float)(par[LG_T_REF] * 1e-3), (float)(dt * 1e-3));
        break;
    case NM_SIM_ADEX:
        c[0] = (float)exp(-dt / par[AX_TAU_E]);
        c[1] = (float)exp(-dt / par[AX_TAU_I]);
        break;
    case NM_SIM_POISSON: c[0] = (float)par[PO_RATE]; break;
    default: break;
    }
}

static void adex_cfg(const double *par, double dt, nm_adex_step *out) {
    nm_adex_params a;
    a.C_m = (float)par[AX_C_M];
    a.g_L = (float)par[AX_G_L];
    a.E_L = (float)par[AX_E_L];
    a.Delta_T = (float)par[AX_DELTA_T];
    a.V_th = (float)par[AX_V_TH];
    a.V_peak = (float)par[AX_V_PEAK];
    a.V_reset = (float)par[AX_V_RESET];
    a.tau_w = (float)par[AX_TAU_W];
    a.a = (float)par[AX_A];
    a.b = (float)par[AX_B];
    a.t_ref = (float)par[AX_T_REF];
    a.I_e = (float)par[AX_I_E];
    a.h_max = (float)par[AX_H_MAX];
    nm_adex_discretize(&a, (float)(dt * 1e-3), out);
}

static void izh_cfg(const double *par, double dt, nm_izhikevich_step *out) {
    nm_izhikevich_params z;
    z.a = (float)par[IZ_A];
    z.b = (float)par[IZ_B];
    z.c = (float)par[IZ_C];
    z.d = (float)par[IZ_D];
    z.v_peak = (float)par[IZ_V_PEAK];
    z.I_e = (float)par[IZ_I_E];
    z.h_max = (float)par[IZ_H_MAX];
    z.consistent_integration = 1;
    nm_izhikevich_discretize(&z, (float)(dt * 1e-3), out);
}

/* Draws neuron j's parameters (constants stay constant; a distribution takes words from
** the neuron's own stream, in parameter order). */
static void draw_params(const nm_sim *s, int pi, const nm_sim_pop *sp, int64_t gid, double *par) {
    const nm_sim_model_info *mi = nm_sim_model_get(sp->model);
    nm_rng r;
    nm_rng_init(&r, s->spec->seed, sim_stream(RS_PARAM, pi, gid));
    for (int k = 0; k < mi->n_params; k++) par[k] = nm_dist_draw(&sp->param[k], &r);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static nm_status read_spike_source(nm_sim *s, sim_pop *p) {
    nm_spikes sp = {0};
    nm_status rc = nm_spikes_read(p->spec.spike_file, &sp);
    if (rc) return rc;
    if (sp.n_neurons > p->spec.size) {
        int64_t bad = 0;
        for (int64_t k = 0; k < sp.n; k++)
            if (sp.neuron[k] >= p->spec.size) { bad = k; break; }
        rc = nm__error(NM_RANGE, "population '%s': spike file '%s' has neuron %d (spike %lld), but the population has %lld",
                       p->spec.name, p->spec.spike_file, sp.neuron[bad], (long long)bad + 1, (long long)p->spec.size);
        nm_spikes_free(&sp);
        return rc;
    }
    p->src_step = malloc((size_t)(sp.n ? sp.n : 1) * sizeof *p->src_step);
    p->src_idx = malloc((size_t)(sp.n ? sp.n : 1) * sizeof *p->src_idx);
    if (!p->src_step || !p->src_idx) {
        nm_spikes_free(&sp);
        return nm__error(NM_NOMEM, "population '%s': no memory for %lld spikes", p->spec.name, (long long)sp.n);
    }
    /* Keys (step, index) sorted; a spike at t s fires in the step that holds t. */
    uint64_t *key = malloc((size_t)(sp.n ? sp.n : 1) * sizeof *key);
    if (!key) {
        nm_spikes_free(&sp);
        return nm__error(NM_NOMEM, "population '%s': no memory for %lld spikes", p->spec.name, (long long)sp.n);
    }
    int64_t n = 0;
    for (int64_t k = 0; k < sp.n; k++) {
        double st = floor(sp.t[k] * 1e3 / s->dt + 1e-9);
        if (sp.t[k] < 0 || st >= 0x1.0p32) {
            nm_status e = nm__error(NM_RANGE, "population '%s': spike file '%s': spike %lld at %g s is %s",
                                    p->spec.name, p->spec.spike_file, (long long)k + 1, sp.t[k],
                                    sp.t[k] < 0 ? "before time 0" : "beyond 2^32 steps");
            free(key);
            nm_spikes_free(&sp);
            return e;
        }
        key[n++] = ((uint64_t)st << 31) | (uint64_t)sp.neuron[k];
    }
    nm_spikes_free(&sp);
    qsort(key, (size_t)n, sizeof *key, cmp_u64);
    for (int64_t k = 0; k < n; k++) {
        p->src_step[k] = (int64_t)(key[k] >> 31);
        p->src_idx[k] = (int32_t)(key[k] & 0x7fffffff);
    }
    free(key);
    p->src_n = n;
    p->src_pos = 0;
    return NM_OK;
}

static nm_status build_pop(nm_sim *s, int pi, int64_t gid0, int64_t l0) {
    sim_pop *p = &s->pops[pi];
    const nm_sim_pop *sp = &s->spec->pops[pi];
    const nm_sim_model_info *mi = nm_sim_model_get(sp->model);
    p->spec = *sp;
    p->gid0 = gid0;
    p->first = ((int64_t)s->rank - gid0 % s->K + s->K) % s->K;
    p->n = p->first < sp->size ? (sp->size - p->first + s->K - 1) / s->K : 0;
    p->l0 = l0;
    p->delta = sp->model == NM_SIM_LIF_DELTA || sp->model == NM_SIM_IZHIKEVICH;
    p->het = 0;
    for (int k = 0; k < mi->n_params; k++)
        if (sp->param[k].kind != NM_DIST_CONST) p->het = 1;
    p->n_const = n_consts(sp->model);
    const int64_t nc = p->het ? (p->n ? p->n : 1) : 1;
    for (int k = 0; k < p->n_const; k++)
        if (!(p->c[k] = nm_alloc((size_t)nc * sizeof(float)))) goto nomem;
    if (!(p->nref = nm_alloc((size_t)nc * sizeof(int32_t)))) goto nomem;
    if (sp->model == NM_SIM_ADEX && !(p->adex = calloc((size_t)nc, sizeof *p->adex))) goto nomem;
    if (sp->model == NM_SIM_IZHIKEVICH && !(p->izh = calloc((size_t)nc, sizeof *p->izh))) goto nomem;
    const int64_t n = p->n ? p->n : 1;
    for (int k = 0; k < mi->n_state; k++)
        if (!(p->st[k] = nm_alloc((size_t)n * sizeof(float)))) goto nomem;
    if (!mi->is_source && !(p->refr = nm_alloc((size_t)n * sizeof(int32_t)))) goto nomem;
    if (sp->model == NM_SIM_POISSON) {
        if (!(p->next = nm_alloc((size_t)n * sizeof(double))) || !(p->drawn = nm_alloc((size_t)n * sizeof(int64_t))))
            goto nomem;
    }

    double par[NM_SIM_MAX_PARAMS];
    float cbuf[12];
    for (int64_t i = 0; i < (p->het ? p->n : (p->n ? 1 : 0)); i++) {
        draw_params(s, pi, sp, gid0 + p->first + i * s->K, par);
        derive(sp->model, par, s->dt, cbuf, &p->nref[i]);
        for (int k = 0; k < p->n_const; k++) p->c[k][i] = cbuf[k];
        if (p->adex) adex_cfg(par, s->dt, &p->adex[i]);
        if (p->izh) izh_cfg(par, s->dt, &p->izh[i]);
    }

    /* Initial states from each neuron's own stream (after its parameters were drawn from
    ** another), so they do not depend on which parameters vary. */
    for (int64_t i = 0; i < p->n; i++) {
        int64_t gid = gid0 + p->first + i * s->K;
        if (p->het || mi->n_state) draw_params(s, pi, sp, gid, par);
        nm_rng r;
        nm_rng_init(&r, s->spec->seed, sim_stream(RS_INIT, pi, gid));
        for (int k = 0; k < mi->n_state; k++) {
            const nm_dist *d = &sp->init[k];
            double x;
            if (d->kind == NM_DIST_CONST && isnan(d->a)) {
                x = mi->state[k].def;
                if (k == 0 && sp->model == NM_SIM_LIF_DELTA) x = par[LD_E_L];
                if (k == 0 && sp->model == NM_SIM_LIF_CURR_EXP) x = par[LC_E_L];
                if (k == 0 && sp->model == NM_SIM_LIF_COND_EXP) x = par[LG_E_L];
                if (k == 0 && sp->model == NM_SIM_ADEX) x = par[AX_E_L];
                if (k == 1 && sp->model == NM_SIM_IZHIKEVICH) x = par[IZ_B] * p->st[0][i];
            } else {
                x = nm_dist_draw(d, &r);
            }
            p->st[k][i] = (float)x;
        }
        if (p->refr) p->refr[i] = 0;
        if (p->next) {
            double rate = p->c[0][p->het ? i : 0];
            p->drawn[i] = 1;
            double u = nm_rand_uniform_at(s->spec->seed, sim_stream(RS_POISSON, pi, gid), 0);
            p->next[i] = rate > 0 ? -log1p(-(double)u) * 1e3 / rate : INFINITY;
        }
    }
    if (sp->model == NM_SIM_SPIKE_SOURCE) return read_spike_source(s, p);
    return NM_OK;
nomem:
    return nm__error(NM_NOMEM, "population '%s': no memory for %lld neurons", sp->name, (long long)p->n);
}

/* ---- connectivity ------------------------------------------------------------------ */

typedef struct gen_ctx {
    nm_sim     *s;
    int         k;          /* projection */
    sim_proj   *pj;
    sim_rows   *rows;
    int64_t     lo, hi;     /* the thread's rank-local targets */
    int         fill;       /* 0: count rows; 1: fill them */
    uint64_t   *cursor;     /* fill: next free slot per row */
    int32_t    *scratch;    /* sources of one target */
    uint64_t   *bitmap;
    int         dmin, dmax;
    int64_t     n_syn;
    nm_status   rc;
} gen_ctx;

static int delay_steps(double d, double dt) {
    double st = floor(d / dt + 0.5);
    if (st < 1) st = 1;
    if (st > 1e9) st = 1e9;
    return (int)st;
}

/* One synapse src -> rank-local target l with weight w and delay d (steps). */
static inline void put(gen_ctx *g, int64_t src, int64_t l, float w, int d) {
    if (d < g->dmin) g->dmin = d;
    if (d > g->dmax) g->dmax = d;
    g->n_syn++;
    if (!g->fill) {
        g->rows->ptr[src + 1]++;
        return;
    }
    uint64_t at = g->cursor[src]++;
    uint32_t t = (uint32_t)l;
    if (!g->pj->dconst) t |= (uint32_t)d << g->pj->tbits;
    g->rows->tgt[at] = t;
    if (g->rows->w) g->rows->w[at] = w;
}

/* k distinct values of [0, n) into out (Floyd's algorithm, with a bitmap of n bits),
** in the order drawn; or k values with repeats when multapses are allowed. */
static void sample(nm_rng *r, int64_t n, int64_t k, int distinct, uint64_t *bitmap, int32_t *out) {
    if (!distinct) {
        for (int64_t q = 0; q < k; q++) out[q] = (int32_t)nm_rng_below(r, (uint32_t)n);
        return;
    }
    int64_t m = 0;
    for (int64_t j = n - k; j < n; j++) {
        int64_t t = nm_rng_below(r, (uint32_t)(j + 1));
        if (bitmap[t >> 6] >> (t & 63) & 1) t = j;
        bitmap[t >> 6] |= 1ull << (t & 63);
        out[m++] = (int32_t)t;
    }
    for (int64_t q = 0; q < m; q++) bitmap[out[q] >> 6] &= ~(1ull << (out[q] & 63));
}

/* Sources of target j (population index) of a target-keyed rule, into g->scratch. */
static int64_t sources_of(gen_ctx *g, const nm_sim_proj *pr, int64_t n_src, int64_t j, int64_t gid) {
    int32_t *out = g->scratch;
    const int self = pr->pre == pr->post && !pr->autapses;
    nm_rng r;
    nm_rng_init(&r, g->s->spec->seed, sim_stream(RS_CONN, g->k, gid));
    int64_t m = 0;
    switch (pr->rule) {
    case NM_CONN_ALL_TO_ALL:
        for (int64_t i = 0; i < n_src; i++)
            if (!(self && i == j)) out[m++] = (int32_t)i;
        break;
    case NM_CONN_ONE_TO_ONE:
        out[m++] = (int32_t)j;
        break;
    case NM_CONN_FIXED_PROB: {
        /* Geometric skips between successes: the same pairs as one Bernoulli per source. */
        if (pr->p <= 0) break;
        if (pr->p >= 1) {
            for (int64_t i = 0; i < n_src; i++)
                if (!(self && i == j)) out[m++] = (int32_t)i;
            break;
        }
        const double lq = log1p(-pr->p);
        int64_t i = -1;
        for (;;) {
            double u = nm_rng_uniform_d(&r);
            double skip = floor(log1p(-u) / lq);
            if (skip > (double)n_src) break;
            i += 1 + (int64_t)skip;
            if (i >= n_src) break;
            if (!(self && i == j)) out[m++] = (int32_t)i;
        }
        break;
    }
    case NM_CONN_FIXED_INDEGREE: {
        int64_t pool = self ? n_src - 1 : n_src;
        int64_t k = pr->k;
        if (k > pool && !pr->multapses) k = pool;   /* spec_check refuses this; stay safe */
        if (pool <= 0) break;
        sample(&r, pool, k, !pr->multapses, g->bitmap, out);
        if (self)
            for (int64_t q = 0; q < k; q++)
                if (out[q] >= j) out[q]++;
        m = k;
        break;
    }
    default: break;
    }
    return m;
}

static void gen_target_keyed(gen_ctx *g) {
    nm_sim *s = g->s;
    const nm_sim_proj *pr = &s->spec->projs[g->k];
    const sim_pop *pre = &s->pops[pr->pre], *post = &s->pops[pr->post];
    const int64_t a = g->lo > post->l0 ? g->lo : post->l0;
    const int64_t b = g->hi < post->l0 + post->n ? g->hi : post->l0 + post->n;
    const int wconst = pr->weight.kind == NM_DIST_CONST, dconst = pr->delay.kind == NM_DIST_CONST;
    const float w0 = (float)pr->weight.a;
    const int d0 = delay_steps(pr->delay.a, s->dt);
    for (int64_t l = a; l < b; l++) {
        int64_t j = post->first + (l - post->l0) * s->K, gid = post->gid0 + j;
        int64_t m = sources_of(g, pr, pre->spec.size, j, gid);
        nm_rng rw, rd;
        nm_rng_init(&rw, s->spec->seed, sim_stream(RS_WEIGHT, g->k, gid));
        nm_rng_init(&rd, s->spec->seed, sim_stream(RS_DELAY, g->k, gid));
        for (int64_t q = 0; q < m; q++) {
            float w = w0;
            int d = d0;
            if (!wconst && g->fill) w = (float)nm_dist_draw(&pr->weight, &rw);
            if (!dconst) d = delay_steps(nm_dist_draw(&pr->delay, &rd), s->dt);
            put(g, g->scratch[q], l, w, d);
        }
    }
}

/* Fixed out-degree: source-keyed, so every thread walks every source and keeps its own
** targets (the draws of a source are the same on every rank). */
static void gen_outdegree(gen_ctx *g) {
    nm_sim *s = g->s;
    const nm_sim_proj *pr = &s->spec->projs[g->k];
    const sim_pop *pre = &s->pops[pr->pre], *post = &s->pops[pr->post];
    const int64_t n_tgt = post->spec.size;
    const int self = pr->pre == pr->post && !pr->autapses;
    const int64_t pool = self ? n_tgt - 1 : n_tgt;
    int64_t k = pr->k;
    if (k > pool && !pr->multapses) k = pool;
    if (pool <= 0) return;
    for (int64_t i = 0; i < pre->spec.size; i++) {
        int64_t gid = pre->gid0 + i;
        nm_rng r, rw, rd;
        nm_rng_init(&r, s->spec->seed, sim_stream(RS_CONN, g->k, gid));
        nm_rng_init(&rw, s->spec->seed, sim_stream(RS_WEIGHT, g->k, gid));
        nm_rng_init(&rd, s->spec->seed, sim_stream(RS_DELAY, g->k, gid));
        sample(&r, pool, k, !pr->multapses, g->bitmap, g->scratch);
        for (int64_t q = 0; q < k; q++) {
            int64_t t = g->scratch[q];
            if (self && t >= i) t++;
            double w = nm_dist_draw(&pr->weight, &rw);
            double d = nm_dist_draw(&pr->delay, &rd);
            int64_t tg = post->gid0 + t;
            if (tg % s->K != s->rank) continue;
            int64_t l = post->l0 + (t - post->first) / s->K;
            if (l < g->lo || l >= g->hi) continue;
            put(g, i, l, (float)w, delay_steps(d, s->dt));
        }
    }
}

static void gen_list(gen_ctx *g) {
    nm_sim *s = g->s;
    const nm_sim_proj *pr = &s->spec->projs[g->k];
    const sim_pop *post = &s->pops[pr->post];
    for (int64_t q = 0; q < pr->n_list; q++) {
        int64_t i = pr->list_pre[q], t = pr->list_post[q];
        int64_t tg = post->gid0 + t;
        if (tg % s->K != s->rank) continue;
        int64_t l = post->l0 + (t - post->first) / s->K;
        if (l < g->lo || l >= g->hi) continue;
        double w, d;
        nm_rng r;
        if (pr->list_weight) {
            w = pr->list_weight[q];
        } else {
            nm_rng_init(&r, s->spec->seed, sim_stream(RS_WEIGHT, g->k, q));
            w = nm_dist_draw(&pr->weight, &r);
        }
        if (pr->list_delay) {
            d = pr->list_delay[q];
        } else {
            nm_rng_init(&r, s->spec->seed, sim_stream(RS_DELAY, g->k, q));
            d = nm_dist_draw(&pr->delay, &r);
        }
        put(g, i, l, (float)w, delay_steps(d, s->dt));
    }
}

static void generate(gen_ctx *g) {
    const nm_sim_proj *pr = &g->s->spec->projs[g->k];
    if (pr->rule == NM_CONN_FIXED_OUTDEGREE) gen_outdegree(g);
    else if (pr->rule == NM_CONN_LIST) gen_list(g);
    else gen_target_keyed(g);
}

static int bits_for(uint64_t n) {
    int b = 0;
    while (b < 64 && (n >> b)) b++;
    return b;
}

/* The plastic projection's per-target index: for each of the thread's targets, the
** positions of its synapses and their sources, in source order. */
static nm_status build_incoming(sim_rows *r, int64_t n_src, int64_t lo, int64_t hi) {
    int64_t nt = hi - lo;
    uint64_t total = r->ptr[n_src];
    r->in_ptr = calloc((size_t)nt + 1, sizeof *r->in_ptr);
    r->in_syn = malloc((size_t)(total ? total : 1) * sizeof *r->in_syn);
    r->in_src = malloc((size_t)(total ? total : 1) * sizeof *r->in_src);
    if (!r->in_ptr || !r->in_syn || !r->in_src) return NM_NOMEM;
    for (uint64_t x = 0; x < total; x++) r->in_ptr[r->tgt[x] - lo + 1]++;
    for (int64_t t = 0; t < nt; t++) r->in_ptr[t + 1] += r->in_ptr[t];
    uint64_t *cur = malloc((size_t)(nt ? nt : 1) * sizeof *cur);
    if (!cur) return NM_NOMEM;
    memcpy(cur, r->in_ptr, (size_t)nt * sizeof *cur);
    for (int64_t i = 0; i < n_src; i++)
        for (uint64_t x = r->ptr[i]; x < r->ptr[i + 1]; x++) {
            uint64_t at = cur[r->tgt[x] - lo]++;
            r->in_syn[at] = x;
            r->in_src[at] = (int32_t)i;
        }
    free(cur);
    return NM_OK;
}

static nm_status build_proj(nm_sim *s, int k) {
    sim_proj *pj = &s->projs[k];
    const nm_sim_proj *pr = &s->spec->projs[k];
    const sim_pop *pre = &s->pops[pr->pre], *post = &s->pops[pr->post];
    pj->spec = *pr;
    pj->buf = post->delta ? 0 : pr->receptor;
    pj->dconst = 0;
    if (pr->rule != NM_CONN_LIST && pr->delay.kind == NM_DIST_CONST) pj->dconst = delay_steps(pr->delay.a, s->dt);
    if (pr->rule == NM_CONN_LIST && !pr->list_delay && pr->delay.kind == NM_DIST_CONST)
        pj->dconst = delay_steps(pr->delay.a, s->dt);
    pj->w0 = (float)pr->weight.a;
    pj->whom = pr->stdp.kind == NM_STDP_NONE && pr->weight.kind == NM_DIST_CONST &&
               !(pr->rule == NM_CONN_LIST && pr->list_weight);
    if (!(pj->rows = calloc((size_t)s->T, sizeof *pj->rows))) return nm__error(NM_NOMEM, "projection '%s'", pr->name);
    const int64_t n_src = pre->spec.size;
    for (int t = 0; t < s->T; t++)
        if (!(pj->rows[t].ptr = calloc((size_t)n_src + 1, sizeof(uint64_t))))
            return nm__error(NM_NOMEM, "projection '%s': no memory for its rows", pr->name);
    int64_t scratch_n = pr->rule == NM_CONN_FIXED_INDEGREE || pr->rule == NM_CONN_FIXED_OUTDEGREE ? pr->k : n_src;
    if (scratch_n < 1) scratch_n = 1;
    const int64_t bm_words = ((pre->spec.size > post->spec.size ? pre->spec.size : post->spec.size) + 64) / 64;

    /* Pass 1 counts, pass 2 fills; each thread builds the rows of its own targets. */
    nm_status rc = NM_OK;
    int dmin = 1 << 30, dmax = 0;
    int64_t n_syn = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        #pragma omp parallel num_threads(s->T) reduction(min:dmin) reduction(max:dmax) reduction(+:n_syn)
        {
#ifdef _OPENMP
            int t = omp_get_thread_num();
#else
            int t = 0;
#endif
            gen_ctx g = {.s = s, .k = k, .pj = pj, .rows = &pj->rows[t], .lo = s->th[t].lo, .hi = s->th[t].hi,
                         .fill = pass, .dmin = 1 << 30, .dmax = 0};
            g.scratch = malloc((size_t)scratch_n * sizeof(int32_t));
            g.bitmap = calloc((size_t)bm_words, sizeof(uint64_t));
            sim_rows *r = g.rows;
            int ok = g.scratch && g.bitmap;
            if (ok && pass == 1) {
                uint64_t total = r->ptr[n_src];
                r->tgt = malloc((size_t)(total ? total : 1) * sizeof *r->tgt);
                if (!pj->whom) r->w = malloc((size_t)(total ? total : 1) * sizeof *r->w);
                g.cursor = malloc((size_t)(n_src ? n_src : 1) * sizeof *g.cursor);
                ok = r->tgt && (pj->whom || r->w) && g.cursor;
                if (ok) memcpy(g.cursor, r->ptr, (size_t)n_src * sizeof *g.cursor);
            }
            if (ok) {
                generate(&g);
                if (pass == 0)
                    for (int64_t i = 0; i < n_src; i++) r->ptr[i + 1] += r->ptr[i];
            } else {
                #pragma omp critical
                rc = NM_NOMEM;
            }
            free(g.scratch);
            free(g.bitmap);
            free(g.cursor);
            if (g.dmin < dmin) dmin = g.dmin;
            if (g.dmax > dmax) dmax = g.dmax;
            n_syn += g.n_syn;
        }
        if (rc) return nm__error(NM_NOMEM, "projection '%s': no memory for its synapses", pr->name);
        if (pass == 0) {
            pj->n_syn = n_syn;
            pj->dmin = n_syn ? dmin : (pj->dconst ? pj->dconst : 1 << 20);   /* no synapse here: no bound */
            pj->dmax = n_syn ? dmax : (pj->dconst ? pj->dconst : 1);
            if (!pj->dconst) {
                pj->tbits = bits_for((uint64_t)s->n_local);
                if (pj->tbits > 31 || (uint64_t)pj->dmax >= (1ull << (32 - pj->tbits)))
                    return nm__error(NM_RANGE,
                                     "projection '%s': delays up to %d steps with %lld neurons on a rank do not fit "
                                     "the 32-bit synapse (at most %llu steps); use more ranks, a larger dt or one delay",
                                     pr->name, pj->dmax, (long long)s->n_local,
                                     pj->tbits > 31 ? 0ull : (1ull << (32 - pj->tbits)) - 1);
            }
            n_syn = 0;
        }
    }
    if (pr->stdp.kind != NM_STDP_NONE) {
        if (!pj->dconst)
            return nm__error(NM_UNSUPPORTED, "projection '%s': STDP needs one delay for all its synapses", pr->name);
        s->has_plastic = 1;
        for (int t = 0; t < s->T; t++)
            if (build_incoming(&pj->rows[t], n_src, s->th[t].lo, s->th[t].hi))
                return nm__error(NM_NOMEM, "projection '%s': no memory for the STDP index", pr->name);
        int64_t np = post->n ? post->n : 1;
        pj->x1 = nm_alloc((size_t)n_src * sizeof(float));
        pj->x2 = nm_alloc((size_t)n_src * sizeof(float));
        pj->xlast = nm_alloc((size_t)n_src * sizeof(int64_t));
        pj->y1 = nm_alloc((size_t)np * sizeof(float));
        pj->y2 = nm_alloc((size_t)np * sizeof(float));
        pj->ylast = nm_alloc((size_t)np * sizeof(int64_t));
        if (!pj->x1 || !pj->x2 || !pj->xlast || !pj->y1 || !pj->y2 || !pj->ylast)
            return nm__error(NM_NOMEM, "projection '%s': no memory for STDP traces", pr->name);
    }
    return NM_OK;
}

/* ---- the whole network --------------------------------------------------------------- */

static nm_status build_inputs(nm_sim *s) {
    int n = s->spec->n_inputs;
    if (!n) return NM_OK;
    s->in_cdf = calloc((size_t)n, sizeof *s->in_cdf);
    s->in_ncdf = calloc((size_t)n, sizeof *s->in_ncdf);
    s->in_tab = calloc((size_t)n, sizeof *s->in_tab);
    if (!s->in_cdf || !s->in_ncdf || !s->in_tab) return nm__error(NM_NOMEM, "inputs");
    for (int q = 0; q < n; q++) {
        const nm_sim_input *in = &s->spec->inputs[q];
        double lam = (double)in->n * in->rate * s->dt * 1e-3;
        if (lam > 500) continue;   /* drawn by nm_rng_poisson instead of a table */
        /* P(N <= k) until the tail is below 2^-40 (beyond any 32-bit uniform's reach). */
        int cap = 64 + (int)(lam + 12 * sqrt(lam + 1));
        double *cdf = malloc((size_t)cap * sizeof *cdf);
        if (!cdf) return nm__error(NM_NOMEM, "inputs");
        double pk = exp(-lam), F = pk;
        int m = 0;
        cdf[m++] = F;
        while (m < cap && 1.0 - F > 0x1.0p-40) {
            pk *= lam / m;
            F += pk;
            cdf[m++] = F;
        }
        s->in_cdf[q] = cdf;
        s->in_ncdf[q] = m;
        /* Bucket b holds the words b 2^20 .. (b + 1) 2^20 - 1: one count when the count of
        ** its first and last word agree (the counts rise with the word). */
        int16_t *tab = malloc(4096 * sizeof *tab);
        if (!tab) return nm__error(NM_NOMEM, "inputs");
        for (int bk = 0; bk < 4096; bk++) {
            double u_lo = (double)((uint32_t)bk << 20) * 0x1.0p-32;
            double u_hi = (double)(((uint32_t)bk << 20) | 0xfffffu) * 0x1.0p-32;
            int c_lo = 0, c_hi = 0;
            while (c_lo < m - 1 && u_lo >= cdf[c_lo]) c_lo++;
            while (c_hi < m - 1 && u_hi >= cdf[c_hi]) c_hi++;
            tab[bk] = (int16_t)(c_lo == c_hi && c_lo < 32767 ? c_lo : -1);
        }
        s->in_tab[q] = tab;
    }
    return NM_OK;
}

nm_status sim_build(nm_sim *s) {
    const nm_sim_spec *sp = s->spec;
    s->n_pops = sp->n_pops;
    s->n_projs = sp->n_projs;
    s->pops = calloc((size_t)(sp->n_pops ? sp->n_pops : 1), sizeof *s->pops);
    s->projs = calloc((size_t)(sp->n_projs ? sp->n_projs : 1), sizeof *s->projs);
    if (!s->pops || !s->projs) return nm__error(NM_NOMEM, "network");
    for (int k = 0; k < sp->n_projs; k++) {
        const nm_sim_pop *post = &sp->pops[sp->projs[k].post];
        if (nm_sim_model_get(post->model)->is_source)
            return nm__error(NM_INVAL, "projection '%s' targets '%s', a spike source, which takes no input",
                             sp->projs[k].name, post->name);
    }
    for (int q = 0; q < sp->n_inputs; q++) {
        const nm_sim_pop *post = &sp->pops[sp->inputs[q].post];
        if (nm_sim_model_get(post->model)->is_source)
            return nm__error(NM_INVAL, "input '%s' drives '%s', a spike source, which takes no input",
                             sp->inputs[q].name, post->name);
    }
    int64_t gid = 0, l = 0;
    for (int p = 0; p < sp->n_pops; p++) {
        nm_status rc = build_pop(s, p, gid, l);
        if (rc) return rc;
        gid += sp->pops[p].size;
        l += s->pops[p].n;
    }
    s->n_global = gid;
    s->n_local = l;
    if (gid >= (1ll << 40)) return nm__error(NM_RANGE, "the network has %lld neurons; at most 2^40", (long long)gid);

    /* Threads own equal blocks of the rank's neurons. */
    if (!(s->th = calloc((size_t)s->T, sizeof *s->th))) return nm__error(NM_NOMEM, "threads");
    for (int t = 0; t < s->T; t++) {
        s->th[t].lo = s->n_local * t / s->T;
        s->th[t].hi = s->n_local * (t + 1) / s->T;
        s->th[t].flag = malloc((size_t)(s->th[t].hi - s->th[t].lo + 8));
        s->th[t].cap_spk = 1024;
        s->th[t].spk = malloc((size_t)s->th[t].cap_spk * sizeof(uint64_t));
        if (!s->th[t].flag || !s->th[t].spk) return nm__error(NM_NOMEM, "threads");
    }

    /* Projections, grouped by their source population for delivery. */
    int dmin = 1 << 30, dmax = 1;
    for (int k = 0; k < sp->n_projs; k++) {
        nm_status rc = build_proj(s, k);
        if (rc) return rc;
        s->synapses_local += s->projs[k].n_syn;
        if (s->projs[k].dmin < dmin) dmin = s->projs[k].dmin;
        if (s->projs[k].dmax > dmax) dmax = s->projs[k].dmax;
    }
    s->pre_off = calloc((size_t)sp->n_pops + 1, sizeof *s->pre_off);
    s->proj_by_pre = calloc((size_t)(sp->n_projs ? sp->n_projs : 1), sizeof *s->proj_by_pre);
    if (!s->pre_off || !s->proj_by_pre) return nm__error(NM_NOMEM, "network");
    for (int k = 0; k < sp->n_projs; k++) s->pre_off[sp->projs[k].pre + 1]++;
    for (int p = 0; p < sp->n_pops; p++) s->pre_off[p + 1] += s->pre_off[p];
    {
        int *fill = calloc((size_t)sp->n_pops + 1, sizeof *fill);
        if (!fill) return nm__error(NM_NOMEM, "network");
        for (int k = 0; k < sp->n_projs; k++) {
            int p = sp->projs[k].pre;
            s->proj_by_pre[s->pre_off[p] + fill[p]++] = k;
        }
        free(fill);
    }
    /* The exchange interval is the smallest delay anywhere (every rank agrees). */
    if (sp->n_projs) {
        dmin = (int)sim_allreduce_min(s, dmin);
        dmax = (int)sim_allreduce_max(s, dmax);
        s->D = dmin;
    } else {
        s->D = 10;
    }
    if (s->D > 1000) s->D = 1000;
    s->L = dmax + s->D + 1;
    s->ring_stride = nm_pad16(s->n_local ? s->n_local : 1);
    for (int b = 0; b < 2; b++)
        if (!(s->ring[b] = nm_alloc((size_t)s->L * (size_t)s->ring_stride * sizeof(float))))
            return nm__error(NM_NOMEM, "ring buffers: %d slots of %lld neurons", s->L, (long long)s->n_local);
    if (s->has_plastic)
        for (int k = 0; k < sp->n_projs; k++) {
            sim_proj *pj = &s->projs[k];
            if (pj->spec.stdp.kind == NM_STDP_NONE) continue;
            pj->pending = calloc((size_t)s->L, sizeof *pj->pending);
            pj->pend_n = calloc((size_t)s->L, sizeof *pj->pend_n);
            pj->pend_cap = calloc((size_t)s->L, sizeof *pj->pend_cap);
            if (!pj->pending || !pj->pend_n || !pj->pend_cap) return nm__error(NM_NOMEM, "STDP queues");
        }
    return build_inputs(s);
}
