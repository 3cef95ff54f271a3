/*
** Running a network: intervals of D steps (D = the smallest delay). Within an interval
** every thread advances its own neurons step by step and keeps the spikes; between
** intervals the spikes of every thread and rank are gathered, sorted by (step, source),
** recorded, and delivered: each thread walks every spike's row of synapses onto its own
** targets and adds the weights into the ring buffer slot the delay points to. A spike
** reaches its target D or more steps later, so nothing delivered in one exchange is
** needed before it.
**
** Plastic projections deliver at the step a spike arrives instead (their weights change
** between the spike and its arrival), with the pre- and postsynaptic traces updated in
** that step; see sim.h for the rules.
*/
#include "sim_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- a private copy of the description ------------------------------------------------ */

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void *dup_mem(const void *p, size_t n) {
    if (!p || !n) return NULL;
    void *d = malloc(n);
    if (d) memcpy(d, p, n);
    return d;
}

static nm_sim_spec *spec_dup(const nm_sim_spec *s) {
    nm_sim_spec *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    *d = *s;
    d->pops = dup_mem(s->pops, (size_t)s->n_pops * sizeof *s->pops);
    d->projs = dup_mem(s->projs, (size_t)s->n_projs * sizeof *s->projs);
    d->inputs = dup_mem(s->inputs, (size_t)s->n_inputs * sizeof *s->inputs);
    d->mons = dup_mem(s->mons, (size_t)s->n_mons * sizeof *s->mons);
    int ok = (!s->n_pops || d->pops) && (!s->n_projs || d->projs) && (!s->n_inputs || d->inputs) &&
             (!s->n_mons || d->mons);
    /* Owned pointers are copied too; a failed copy is NULL, which nm_sim_spec_free accepts. */
    for (int p = 0; ok && p < s->n_pops; p++) {
        d->pops[p].spike_file = dup_str(s->pops[p].spike_file);
        ok = !s->pops[p].spike_file || d->pops[p].spike_file;
    }
    for (int k = 0; k < s->n_projs && d->projs; k++) {
        const nm_sim_proj *a = &s->projs[k];
        nm_sim_proj *b = &d->projs[k];
        size_t n = (size_t)a->n_list;
        b->list_pre = ok ? dup_mem(a->list_pre, n * sizeof(int32_t)) : NULL;
        b->list_post = ok ? dup_mem(a->list_post, n * sizeof(int32_t)) : NULL;
        b->list_weight = ok ? dup_mem(a->list_weight, n * sizeof(float)) : NULL;
        b->list_delay = ok ? dup_mem(a->list_delay, n * sizeof(float)) : NULL;
        ok = ok && (!a->list_pre || b->list_pre) && (!a->list_post || b->list_post) &&
             (!a->list_weight || b->list_weight) && (!a->list_delay || b->list_delay);
    }
    for (int m = 0; m < s->n_mons && d->mons; m++) {
        d->mons[m].file = ok ? dup_str(s->mons[m].file) : NULL;
        ok = ok && (!s->mons[m].file || d->mons[m].file);
    }
    if (!d->pops) d->n_pops = 0;
    if (!d->projs) d->n_projs = 0;
    if (!d->inputs) d->n_inputs = 0;
    if (!d->mons) d->n_mons = 0;
    if (!ok) {
        nm_sim_spec_free(d);
        return NULL;
    }
    return d;
}

/* ---- create / destroy ------------------------------------------------------------------ */

static int pop_of(const nm_sim *s, int64_t gid) {
    int lo = 0, hi = s->n_pops - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (s->pops[mid].gid0 <= gid) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static nm_status open_outputs(nm_sim *s, const nm_sim_options *opt) {
    const nm_sim_spec *sp = s->spec;
    s->counts = calloc((size_t)s->n_pops, sizeof *s->counts);
    s->rec_t = calloc((size_t)s->n_pops, sizeof *s->rec_t);
    s->rec_i = calloc((size_t)s->n_pops, sizeof *s->rec_i);
    s->rec_n = calloc((size_t)s->n_pops, sizeof *s->rec_n);
    s->rec_cap = calloc((size_t)s->n_pops, sizeof *s->rec_cap);
    s->rec_on = calloc((size_t)s->n_pops, sizeof *s->rec_on);
    s->mon = calloc((size_t)(sp->n_mons ? sp->n_mons : 1), sizeof *s->mon);
    if (!s->counts || !s->rec_t || !s->rec_i || !s->rec_n || !s->rec_cap || !s->rec_on || !s->mon)
        return nm__error(NM_NOMEM, "recording");
    for (int p = 0; p < s->n_pops; p++) {
        if (!(s->counts[p] = calloc((size_t)sp->pops[p].size, sizeof(int64_t))))
            return nm__error(NM_NOMEM, "spike counts of '%s'", sp->pops[p].name);
        s->rec_on[p] = opt->record_spikes;
    }
    for (int m = 0; m < sp->n_mons; m++) {
        const nm_sim_monitor *mo = &sp->mons[m];
        sim_mon *mn = &s->mon[m];
        mn->first = mo->first;
        mn->count = mo->count < 0 ? sp->pops[mo->pop].size - mo->first : mo->count;
        if (mo->kind == NM_MON_SPIKES) {
            s->rec_on[mo->pop] = 1;
            if (mo->file && s->rank == 0) {
                if (!(mn->file = fopen(mo->file, "w")))
                    return nm__error(NM_IO, "spike monitor of '%s': cannot write '%s'", sp->pops[mo->pop].name, mo->file);
                setvbuf(mn->file, NULL, _IOFBF, 1 << 20);
                fprintf(mn->file, "time_s,neuron\n");
            }
        } else if (mo->kind == NM_MON_STATE) {
            mn->every = (int64_t)llround(mo->interval / s->dt);
            if (mn->every < 1) mn->every = 1;
        } else {
            mn->every = (int64_t)llround(mo->bin / s->dt);
            if (mn->every < 1) mn->every = 1;
        }
    }
    if (opt->spike_file && s->rank == 0) {
        if (!(s->spike_file = fopen(opt->spike_file, "w")))
            return nm__error(NM_IO, "cannot write the spike file '%s'", opt->spike_file);
        setvbuf(s->spike_file, NULL, _IOFBF, 1 << 20);
        fprintf(s->spike_file, "time_s,neuron\n");
    }
    return NM_OK;
}

nm_status nm_sim_create(const nm_sim_spec *spec, const nm_sim_options *opt, nm_sim **out) {
    nm_sim_options defaults = {0};
    if (!opt) opt = &defaults;
    if (!spec || !out) return nm__error(NM_INVAL, "nm_sim_create: NULL argument");
    *out = NULL;
    nm_status rc = nm_sim_spec_check(spec);
    if (rc) return rc;
    if (spec->n_pops > 4096 || spec->n_projs > 4096 || spec->n_inputs > 4096)
        return nm__error(NM_RANGE, "at most 4096 populations, projections and inputs each");
    nm_sim *s = calloc(1, sizeof *s);
    if (!s) return nm__error(NM_NOMEM, "simulator");
    double t0 = nm_time_now();
    s->K = 1;
    s->rank = 0;
    if (opt->mpi) {
        if (!nm_sim_have_mpi()) {
            free(s);
            return nm__error(NM_UNSUPPORTED, "this neuromorph was built without MPI");
        }
        rc = nm_sim_mpi_init(NULL, NULL, &s->rank, &s->K);
        if (rc) {
            free(s);
            return rc;
        }
        s->mpi = 1;
    }
    s->T = opt->threads > 0 ? opt->threads : nm_get_threads();
    if (s->T < 1) s->T = 1;
    s->quiet = opt->quiet;
    s->record_all = opt->record_spikes;
    if (!(s->spec = spec_dup(spec))) {
        free(s);
        return nm__error(NM_NOMEM, "simulator: copying the description");
    }
    s->dt = spec->dt;
    rc = sim_build(s);
    if (!rc) rc = open_outputs(s, opt);
    if (rc) {
        nm_sim_destroy(s);
        return rc;
    }
    s->events_local = 0;
    s->build_s = nm_time_now() - t0;
    *out = s;
    return NM_OK;
}

void nm_sim_destroy(nm_sim *s) {
    if (!s) return;
    for (int p = 0; p < s->n_pops && s->pops; p++) {
        sim_pop *q = &s->pops[p];
        for (int k = 0; k < 12; k++) nm_free(q->c[k]);
        nm_free(q->nref);
        for (int k = 0; k < NM_SIM_MAX_STATE; k++) nm_free(q->st[k]);
        nm_free(q->refr);
        free(q->adex);
        free(q->izh);
        nm_free(q->next);
        nm_free(q->drawn);
        free(q->src_step);
        free(q->src_idx);
    }
    for (int k = 0; k < s->n_projs && s->projs; k++) {
        sim_proj *pj = &s->projs[k];
        for (int t = 0; t < s->T && pj->rows; t++) {
            free(pj->rows[t].ptr);
            free(pj->rows[t].tgt);
            free(pj->rows[t].w);
            free(pj->rows[t].in_ptr);
            free(pj->rows[t].in_syn);
            free(pj->rows[t].in_src);
        }
        free(pj->rows);
        nm_free(pj->x1);
        nm_free(pj->x2);
        nm_free(pj->xlast);
        nm_free(pj->y1);
        nm_free(pj->y2);
        nm_free(pj->ylast);
        for (int q = 0; q < s->L && pj->pending; q++) free(pj->pending[q]);
        free(pj->pending);
        free(pj->pend_n);
        free(pj->pend_cap);
    }
    free(s->pops);
    free(s->projs);
    free(s->proj_by_pre);
    free(s->pre_off);
    nm_free(s->ring[0]);
    nm_free(s->ring[1]);
    for (int t = 0; t < s->T && s->th; t++) {
        free(s->th[t].spk);
        free(s->th[t].flag);
    }
    free(s->th);
    free(s->all);
    for (int q = 0; s->in_cdf && q < s->spec->n_inputs; q++) free(s->in_cdf[q]);
    for (int q = 0; s->in_tab && q < s->spec->n_inputs; q++) free(s->in_tab[q]);
    free(s->in_cdf);
    free(s->in_tab);
    free(s->in_ncdf);
    for (int p = 0; p < s->n_pops; p++) {
        if (s->counts) free(s->counts[p]);
        if (s->rec_t) free(s->rec_t[p]);
        if (s->rec_i) free(s->rec_i[p]);
    }
    free(s->counts);
    free(s->rec_t);
    free(s->rec_i);
    free(s->rec_n);
    free(s->rec_cap);
    free(s->rec_on);
    for (int m = 0; s->mon && m < s->spec->n_mons; m++) {
        if (s->mon[m].file) fclose(s->mon[m].file);
        free(s->mon[m].t);
        free(s->mon[m].val);
        free(s->mon[m].cnt);
        free(s->mon[m].hz);
    }
    free(s->mon);
    if (s->spike_file) fclose(s->spike_file);
    nm_sim_spec_free(s->spec);
    free(s);
}

/* ---- sorting the interval's spikes ------------------------------------------------------ */

/* LSD radix sort on 11-bit digits, skipping digits every key shares. */
static int sort_keys(uint64_t *a, int64_t n) {
    if (n < 2) return 0;
    int sorted = 1;
    for (int64_t q = 1; q < n && sorted; q++) sorted = a[q - 1] <= a[q];
    if (sorted) return 0;
    uint64_t *b = malloc((size_t)n * sizeof *b);
    if (!b) return -1;
    uint64_t all_or = 0, all_and = ~0ull;
    for (int64_t q = 0; q < n; q++) {
        all_or |= a[q];
        all_and &= a[q];
    }
    uint64_t *src = a, *dst = b;
    for (int shift = 0; shift < 64; shift += 11) {
        if ((((all_or ^ all_and) >> shift) & 0x7ff) == 0) continue;
        int64_t cnt[2049] = {0};
        for (int64_t q = 0; q < n; q++) cnt[((src[q] >> shift) & 0x7ff) + 1]++;
        for (int d = 0; d < 2048; d++) cnt[d + 1] += cnt[d];
        for (int64_t q = 0; q < n; q++) dst[cnt[(src[q] >> shift) & 0x7ff]++] = src[q];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
    free(b);
    return 0;
}

/* ---- the step ------------------------------------------------------------------------------ */

/* The Poisson count for a 32-bit uniform word: a table on its top 12 bits where a whole
** bucket maps to one count, the cumulative probabilities otherwise. */
static inline int64_t poisson_count(uint32_t word, const int16_t *tab, const double *cdf, int ncdf) {
    int c = tab[word >> 20];
    if (c >= 0) return c;
    const double u = word * 0x1.0p-32;
    int64_t k = 0;
    while (k < ncdf - 1 && u >= cdf[k]) k++;
    return k;
}

/* External Poisson input for steps t0 .. t0 + len - 1 onto the thread's neurons: one
** Philox block per neuron and 4 steps, 64 neurons at a time. */
static void add_inputs(nm_sim *s, const sim_thread *th, int64_t t0, int64_t len) {
    const uint32_t key[2] = {(uint32_t)s->spec->seed, (uint32_t)(s->spec->seed >> 32)};
    for (int q = 0; q < s->spec->n_inputs; q++) {
        const nm_sim_input *in = &s->spec->inputs[q];
        const sim_pop *p = &s->pops[in->post];
        const int64_t a = th->lo > p->l0 ? th->lo : p->l0;
        const int64_t b = th->hi < p->l0 + p->n ? th->hi : p->l0 + p->n;
        if (a >= b) continue;
        const int buf = p->delta ? 0 : in->receptor;
        const float w = (float)in->weight;
        const double *cdf = s->in_cdf[q];
        const int ncdf = s->in_ncdf[q];
        const int16_t *tab = s->in_tab[q];
        if (!cdf) {   /* a large mean: PTRS through the neuron's stream, seeked per step */
            const double lam = (double)in->n * in->rate * s->dt * 1e-3;
            for (int64_t l = a; l < b; l++) {
                const int64_t gid = p->gid0 + p->first + (l - p->l0) * s->K;
                for (int64_t t = t0; t < t0 + len; t++) {
                    nm_rng r;
                    nm_rng_init(&r, s->spec->seed, sim_stream(RS_INPUT, q, gid));
                    nm_rng_seek(&r, (uint64_t)t * 1024);
                    s->ring[buf][(t % s->L) * s->ring_stride + l] += (float)nm_rng_poisson(&r, lam) * w;
                }
            }
            continue;
        }
        uint32_t c0[64], c1[64], c2[64], c3[64], o[4][64];
        for (int64_t l = a; l < b; l += 64) {
            const int m = b - l < 64 ? (int)(b - l) : 64;
            for (int i = 0; i < m; i++) {
                const int64_t gid = p->gid0 + p->first + (l + i - p->l0) * s->K;
                c2[i] = (uint32_t)gid;
                c3[i] = (uint32_t)(gid >> 32) | ((uint32_t)q << 8) | ((uint32_t)RS_INPUT << 28);
            }
            for (int64_t blk = t0 >> 2; blk <= (t0 + len - 1) >> 2; blk++) {
                for (int i = 0; i < m; i++) {
                    c0[i] = (uint32_t)blk;
                    c1[i] = (uint32_t)((uint64_t)blk >> 32);
                }
                nm_philox4x32_lanes(m, c0, c1, c2, c3, key, o[0], o[1], o[2], o[3]);
                for (int j = 0; j < 4; j++) {
                    const int64_t t = blk * 4 + j;
                    if (t < t0 || t >= t0 + len) continue;
                    float *row = s->ring[buf] + (t % s->L) * s->ring_stride + l;
                    for (int i = 0; i < m; i++) row[i] += (float)poisson_count(o[j][i], tab, cdf, ncdf) * w;
                }
            }
        }
    }
}

static inline float clampf(float w, float lo, float hi) { return w < lo ? lo : w > hi ? hi : w; }

/* Plastic projections: the spikes arriving at step t (depression, then their weights into
** this step's input), on the thread's targets. */
static void stdp_arrivals(nm_sim *s, int v, int64_t t, int64_t slot) {
    sim_thread *th = &s->th[v];
    for (int k = 0; k < s->n_projs; k++) {
        sim_proj *pj = &s->projs[k];
        const nm_stdp *r = &pj->spec.stdp;
        if (r->kind == NM_STDP_NONE || !pj->pend_n[slot]) continue;
        const sim_pop *post = &s->pops[pj->spec.post];
        const sim_rows *rw = &pj->rows[v];
        float *buf = s->ring[pj->buf] + slot * s->ring_stride;
        const float wmin = (float)r->w_min, wmax = (float)r->w_max;
        for (int64_t e = 0; e < pj->pend_n[slot]; e++) {
            const int32_t src = pj->pending[slot][e];
            double r2 = 0.0;
            if (r->kind == NM_STDP_TRIPLET)
                r2 = pj->x2[src] * exp(-(double)(t - pj->xlast[src]) * s->dt / r->tau_x);
            const double a_minus = r->A_minus + (r->kind == NM_STDP_TRIPLET ? r->A3_minus * r2 : 0.0);
            for (uint64_t x = rw->ptr[src]; x < rw->ptr[src + 1]; x++) {
                const uint32_t tg = rw->tgt[x];
                const int64_t yl = (int64_t)tg - post->l0;
                const double y1 = pj->y1[yl] * exp(-(double)(t - pj->ylast[yl]) * s->dt / r->tau_minus);
                float w = rw->w[x];
                const float f = r->multiplicative ? w - wmin : 1.0f;
                w = clampf(w - (float)(a_minus * y1) * f, wmin, wmax);
                rw->w[x] = w;
                buf[tg] += w;
            }
            th->events += (int64_t)(rw->ptr[src + 1] - rw->ptr[src]);
        }
    }
}

/* Pre traces of the sources that arrived at t: sources with src % nv == v, so each is
** updated by one thread. */
static void stdp_pre_traces(nm_sim *s, int v, int nv, int64_t t, int64_t slot) {
    for (int k = 0; k < s->n_projs; k++) {
        sim_proj *pj = &s->projs[k];
        const nm_stdp *r = &pj->spec.stdp;
        if (r->kind == NM_STDP_NONE) continue;
        for (int64_t e = 0; e < pj->pend_n[slot]; e++) {
            const int32_t src = pj->pending[slot][e];
            if (src % nv != v) continue;
            const double dtm = (double)(t - pj->xlast[src]) * s->dt;
            double x1 = pj->x1[src] * exp(-dtm / r->tau_plus), x2 = pj->x2[src] * exp(-dtm / r->tau_x);
            pj->x1[src] = (float)(r->nearest ? 1.0 : x1 + 1.0);
            pj->x2[src] = (float)(r->nearest ? 1.0 : x2 + 1.0);
            pj->xlast[src] = t;
        }
    }
}

/* Potentiation at the thread's postsynaptic spikes of step t (keys from th->mark on). */
static void stdp_post(nm_sim *s, int v, int64_t t) {
    sim_thread *th = &s->th[v];
    for (int64_t q = th->mark; q < th->n_spk; q++) {
        const int64_t gid = SIM_KEY_GID(th->spk[q]);
        const int p = pop_of(s, gid);
        const sim_pop *post = &s->pops[p];
        const int64_t l = post->l0 + (gid - post->gid0 - post->first) / s->K;
        for (int k = 0; k < s->n_projs; k++) {
            sim_proj *pj = &s->projs[k];
            const nm_stdp *r = &pj->spec.stdp;
            if (r->kind == NM_STDP_NONE || pj->spec.post != p) continue;
            const sim_rows *rw = &pj->rows[v];
            const int64_t yl = l - post->l0;
            const double dtm = (double)(t - pj->ylast[yl]) * s->dt;
            const double y1 = pj->y1[yl] * exp(-dtm / r->tau_minus), y2 = pj->y2[yl] * exp(-dtm / r->tau_y);
            const double a_plus = r->A_plus + (r->kind == NM_STDP_TRIPLET ? r->A3_plus * y2 : 0.0);
            const float wmin = (float)r->w_min, wmax = (float)r->w_max;
            for (uint64_t x = rw->in_ptr[l - th->lo]; x < rw->in_ptr[l - th->lo + 1]; x++) {
                float *wp = &rw->w[rw->in_syn[x]];
                const int32_t src = rw->in_src[x];
                const double x1 = pj->x1[src] * exp(-(double)(t - pj->xlast[src]) * s->dt / r->tau_plus);
                const float w = *wp;
                const float f = r->multiplicative ? wmax - w : 1.0f;
                *wp = clampf(w + (float)(a_plus * x1) * f, wmin, wmax);
            }
            pj->y1[yl] = (float)(r->nearest ? 1.0 : y1 + 1.0);
            pj->y2[yl] = (float)(r->nearest ? 1.0 : y2 + 1.0);
            pj->ylast[yl] = t;
        }
    }
}

static void sample_states(nm_sim *s, const sim_thread *th, int64_t t) {
    for (int m = 0; m < s->spec->n_mons; m++) {
        const nm_sim_monitor *mo = &s->spec->mons[m];
        sim_mon *mn = &s->mon[m];
        if (mo->kind != NM_MON_STATE || (t + 1) % mn->every) continue;
        const int64_t row = (t + 1) / mn->every - 1;
        if (row >= mn->cap) continue;
        const sim_pop *p = &s->pops[mo->pop];
        for (int64_t l = th->lo > p->l0 ? th->lo : p->l0; l < th->hi && l < p->l0 + p->n; l++) {
            const int64_t j = p->first + (l - p->l0) * s->K;
            if (j < mn->first || j >= mn->first + mn->count) continue;
            mn->val[row * mn->count + (j - mn->first)] = p->st[mo->var][l - p->l0];
        }
    }
}

/* The master's part between intervals: spike sources, exchange, sort, record, queue the
** plastic arrivals. */
static nm_status exchange(nm_sim *s, int64_t t0, int64_t len) {
    /* Spike sources fire here, on the rank that owns each of their neurons. */
    sim_thread *t0h = &s->th[0];
    for (int p = 0; p < s->n_pops; p++) {
        sim_pop *q = &s->pops[p];
        if (q->spec.model != NM_SIM_SPIKE_SOURCE) continue;
        while (q->src_pos < q->src_n && q->src_step[q->src_pos] < t0) q->src_pos++;
        for (; q->src_pos < q->src_n && q->src_step[q->src_pos] < t0 + len; q->src_pos++) {
            int64_t gid = q->gid0 + q->src_idx[q->src_pos];
            if (gid % s->K == s->rank) sim_push_spike(t0h, q->src_step[q->src_pos] - t0, gid);
        }
    }
    int64_t n = 0;
    for (int v = 0; v < s->T; v++) n += s->th[v].n_spk;
    uint64_t *send = t0h->spk;
    uint64_t *tmp = NULL;
    if (s->T > 1) {
        if (!(tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp))) return nm__error(NM_NOMEM, "spike exchange");
        int64_t o = 0;
        for (int v = 0; v < s->T; v++) {
            memcpy(tmp + o, s->th[v].spk, (size_t)s->th[v].n_spk * sizeof *tmp);
            o += s->th[v].n_spk;
        }
        send = tmp;
    }
    nm_status rc = sim_allgather(s, send, n, &s->all, &s->n_all, &s->cap_all);
    free(tmp);
    for (int v = 0; v < s->T; v++) s->th[v].n_spk = 0;
    if (rc) return rc;
    if (sort_keys(s->all, s->n_all)) return nm__error(NM_NOMEM, "sorting spikes");

    s->spikes += s->n_all;
    for (int64_t q = 0; q < s->n_all; q++) {
        const int64_t t = t0 + SIM_KEY_STEP(s->all[q]), gid = SIM_KEY_GID(s->all[q]);
        const int p = pop_of(s, gid);
        const int64_t j = gid - s->pops[p].gid0;
        s->counts[p][j]++;
        const double ts = (double)t * s->dt * 1e-3;
        if (s->rec_on[p]) {
            if (s->rec_n[p] == s->rec_cap[p]) {
                int64_t cap = s->rec_cap[p] ? s->rec_cap[p] * 2 : 4096;
                double *nt = realloc(s->rec_t[p], (size_t)cap * sizeof *nt);
                if (nt) s->rec_t[p] = nt;
                int32_t *ni = realloc(s->rec_i[p], (size_t)cap * sizeof *ni);
                if (ni) s->rec_i[p] = ni;
                if (!nt || !ni) return nm__error(NM_NOMEM, "recording the spikes of '%s'", s->spec->pops[p].name);
                s->rec_cap[p] = cap;
            }
            s->rec_t[p][s->rec_n[p]] = (double)t * s->dt;
            s->rec_i[p][s->rec_n[p]++] = (int32_t)j;
        }
        if (s->spike_file) fprintf(s->spike_file, "%.9g,%lld\n", ts, (long long)gid);
        for (int m = 0; m < s->spec->n_mons; m++) {
            const nm_sim_monitor *mo = &s->spec->mons[m];
            sim_mon *mn = &s->mon[m];
            if (mo->pop != p || j < mn->first || j >= mn->first + mn->count) continue;
            if (mo->kind == NM_MON_SPIKES && mn->file) fprintf(mn->file, "%.9g,%lld\n", ts, (long long)j);
            if (mo->kind == NM_MON_RATE && t / mn->every < mn->cap) mn->cnt[t / mn->every] += 1.0;
        }
        /* Plastic projections: queue the arrival. */
        for (int e = s->pre_off[p]; s->has_plastic && e < s->pre_off[p + 1]; e++) {
            sim_proj *pj = &s->projs[s->proj_by_pre[e]];
            if (pj->spec.stdp.kind == NM_STDP_NONE) continue;
            const int64_t slot = (t + pj->dconst) % s->L;
            if (pj->pend_n[slot] == pj->pend_cap[slot]) {
                int64_t cap = pj->pend_cap[slot] ? pj->pend_cap[slot] * 2 : 64;
                int32_t *np = realloc(pj->pending[slot], (size_t)cap * sizeof *np);
                if (!np) return nm__error(NM_NOMEM, "STDP queue");
                pj->pending[slot] = np;
                pj->pend_cap[slot] = cap;
            }
            pj->pending[slot][pj->pend_n[slot]++] = (int32_t)j;
        }
    }
    return NM_OK;
}

/* Every spike of the interval onto the thread's targets (static projections). */
static void deliver(nm_sim *s, int v, int64_t t0) {
    sim_thread *th = &s->th[v];
    const int64_t L = s->L, stride = s->ring_stride;
    int64_t events = 0;
    for (int64_t q = 0; q < s->n_all; q++) {
        const int64_t t = t0 + SIM_KEY_STEP(s->all[q]), gid = SIM_KEY_GID(s->all[q]);
        const int p = pop_of(s, gid);
        const int64_t j = gid - s->pops[p].gid0;
        for (int e = s->pre_off[p]; e < s->pre_off[p + 1]; e++) {
            const sim_proj *pj = &s->projs[s->proj_by_pre[e]];
            if (pj->spec.stdp.kind != NM_STDP_NONE) continue;
            const sim_rows *rw = &pj->rows[v];
            const uint64_t b = rw->ptr[j], end = rw->ptr[j + 1];
            if (b == end) continue;
            events += (int64_t)(end - b);
            const uint32_t *restrict tg = rw->tgt;
            const float *restrict wv = rw->w;
            if (pj->dconst) {
                float *restrict buf = s->ring[pj->buf] + ((t + pj->dconst) % L) * stride;
                if (!wv) {
                    const float w0 = pj->w0;
                    for (uint64_t x = b; x < end; x++) buf[tg[x]] += w0;
                } else {
                    for (uint64_t x = b; x < end; x++) buf[tg[x]] += wv[x];
                }
            } else {
                float *restrict base = s->ring[pj->buf];
                const uint32_t mask = (1u << pj->tbits) - 1;
                for (uint64_t x = b; x < end; x++) {
                    const int64_t d = tg[x] >> pj->tbits;
                    base[((t + d) % L) * stride + (tg[x] & mask)] += wv ? wv[x] : pj->w0;
                }
            }
        }
    }
    th->events += events;
}

/* One step of the thread's neurons, population by population. */
static void step_neurons(nm_sim *s, int v, int64_t t) {
    sim_thread *th = &s->th[v];
    const int64_t slot = t % s->L;
    for (int p = 0; p < s->n_pops; p++) {
        sim_pop *q = &s->pops[p];
        const int64_t a = th->lo > q->l0 ? th->lo : q->l0;
        const int64_t b = th->hi < q->l0 + q->n ? th->hi : q->l0 + q->n;
        if (a < b) sim_step_pop(s, q, a, b, t, slot, th);
    }
}

static nm_status grow_monitors(nm_sim *s, int64_t end_step) {
    for (int m = 0; m < s->spec->n_mons; m++) {
        const nm_sim_monitor *mo = &s->spec->mons[m];
        sim_mon *mn = &s->mon[m];
        if (mo->kind == NM_MON_SPIKES) continue;
        const int64_t need = end_step / mn->every + (mo->kind == NM_MON_RATE ? 1 : 0);
        if (need <= mn->cap) continue;
        if (mo->kind == NM_MON_STATE) {
            if ((double)need * (double)mn->count > 1e9)
                return nm__error(NM_RANGE, "state monitor %d would hold %.3g samples; record fewer neurons or sample "
                                 "less often", m, (double)need * (double)mn->count);
            double *t = realloc(mn->t, (size_t)need * sizeof *t);
            if (t) mn->t = t;
            float *val = realloc(mn->val, (size_t)need * (size_t)mn->count * sizeof *val);
            if (val) mn->val = val;
            if (!t || !val) return nm__error(NM_NOMEM, "state monitor %d", m);
            memset(mn->val + mn->cap * mn->count, 0, (size_t)(need - mn->cap) * (size_t)mn->count * sizeof *val);
        } else {
            double *c = realloc(mn->cnt, (size_t)need * sizeof *c);
            if (c) mn->cnt = c;
            float *hz = realloc(mn->hz, (size_t)need * sizeof *hz);
            if (hz) mn->hz = hz;
            if (!c || !hz) return nm__error(NM_NOMEM, "rate monitor %d", m);
            for (int64_t b = mn->cap; b < need; b++) mn->cnt[b] = 0.0;
        }
        mn->cap = need;
    }
    return NM_OK;
}

nm_status nm_sim_run(nm_sim *s, double time) {
    if (!s) return nm__error(NM_INVAL, "nm_sim_run: NULL simulator");
    if (!(time >= 0) || time > 1e12) return nm__error(NM_RANGE, "simulation time %g ms is not a duration", time);
    const int64_t n_steps = (int64_t)llround(time / s->dt);
    const int64_t start = s->step, end = start + n_steps;
    nm_status rc = grow_monitors(s, end);
    if (rc) return rc;
    const double t_begin = nm_time_now();
    nm_progress *pb = (!s->quiet && s->rank == 0 && n_steps > 0) ? nm_progress_create("simulating", n_steps, 0) : NULL;
    nm_status err = NM_OK;
    char errmsg[512] = "";
    int64_t pb_next = 0;

#ifdef _OPENMP
    omp_set_dynamic(0);
#endif
    #pragma omp parallel num_threads(s->T)
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
#else
        const int tid = 0, nth = 1;
#endif
        for (int64_t t0 = start; t0 < end; t0 += s->D) {
            const int64_t len = end - t0 < s->D ? end - t0 : s->D;
            for (int v = tid; v < s->T; v += nth) add_inputs(s, &s->th[v], t0, len);
            for (int64_t k = 0; k < len; k++) {
                const int64_t t = t0 + k, slot = t % s->L;
                if (s->has_plastic) {
                    #pragma omp barrier
                    for (int v = tid; v < s->T; v += nth) stdp_arrivals(s, v, t, slot);
                    #pragma omp barrier
                    for (int v = tid; v < nth; v += nth) stdp_pre_traces(s, v, nth, t, slot);
                    #pragma omp barrier
                }
                for (int v = tid; v < s->T; v += nth) {
                    s->th[v].k_step = k;
                    s->th[v].mark = s->th[v].n_spk;
                    step_neurons(s, v, t);
                    if (s->has_plastic) stdp_post(s, v, t);
                    sample_states(s, &s->th[v], t);
                }
                if (s->has_plastic) {
                    #pragma omp barrier
                    #pragma omp master
                    for (int e = 0; e < s->n_projs; e++)
                        if (s->projs[e].pending) s->projs[e].pend_n[slot] = 0;
                }
            }
            #pragma omp barrier
            #pragma omp master
            {
                if (!err) {
                    err = exchange(s, t0, len);
                    if (err) snprintf(errmsg, sizeof errmsg, "%s", nm_errmsg());
                }
                if (pb && t0 + len - start >= pb_next) {
                    nm_progress_update(pb, t0 + len - start, NULL);
                    pb_next = t0 + len - start + n_steps / 100;
                }
            }
            #pragma omp barrier
            if (!err)
                for (int v = tid; v < s->T; v += nth) deliver(s, v, t0);
        }
    }
    if (pb) nm_progress_finish(pb);
    s->step = end;
    s->run_s += nm_time_now() - t_begin;
    if (err) return nm__error(err, "%s", errmsg);

    /* Monitors: state samples to rank 0, rates in Hz, files flushed. */
    for (int m = 0; m < s->spec->n_mons; m++) {
        const nm_sim_monitor *mo = &s->spec->mons[m];
        sim_mon *mn = &s->mon[m];
        if (mo->kind == NM_MON_STATE) {
            const int64_t from = mn->nt, to = end / mn->every;
            if (to > from) sim_reduce_floats(s, mn->val + from * mn->count, (to - from) * mn->count);
            for (int64_t r = from; r < to; r++) mn->t[r] = (double)(r + 1) * (double)mn->every * s->dt;
            mn->nt = to;
        } else if (mo->kind == NM_MON_RATE) {
            mn->nt = (end + mn->every - 1) / mn->every;
            for (int64_t b = 0; b < mn->nt; b++) {
                const int64_t steps = (b + 1) * mn->every <= end ? mn->every : end - b * mn->every;
                mn->hz[b] = (float)(mn->cnt[b] / ((double)mn->count * (double)steps * s->dt * 1e-3));
            }
        } else if (mn->file && fflush(mn->file)) {
            return nm__error(NM_IO, "spike monitor of '%s': cannot write '%s'", s->spec->pops[mo->pop].name, mo->file);
        }
    }
    if (s->spike_file && fflush(s->spike_file)) return nm__error(NM_IO, "cannot write the spike file");
    int64_t ev = 0;
    for (int v = 0; v < s->T; v++) ev += s->th[v].events;
    s->events_local = ev;
    return NM_OK;
}

/* ---- results -------------------------------------------------------------------------------- */

void nm_sim_get_stats(const nm_sim *s, nm_sim_stats *o) {
    nm_sim *m = (nm_sim *)s;
    memset(o, 0, sizeof *o);
    o->ranks = s->K;
    o->threads = s->T;
    o->neurons = s->n_global;
    o->synapses = sim_allreduce_sum(m, s->synapses_local);
    o->spikes = s->spikes;
    o->events = sim_allreduce_sum(m, s->events_local);
    o->steps = s->step;
    int64_t bytes = 0;
    for (int k = 0; k < s->n_projs; k++) {
        const sim_proj *pj = &s->projs[k];
        bytes += pj->n_syn * (pj->whom ? 4 : 8) + (int64_t)s->T * (s->pops[pj->spec.pre].spec.size + 1) * 8;
        if (pj->spec.stdp.kind != NM_STDP_NONE) bytes += pj->n_syn * 12;
    }
    o->conn_bytes = bytes;
    o->bytes_per_synapse = s->synapses_local ? (double)bytes / (double)s->synapses_local : 0.0;
    o->build_s = s->build_s;
    o->run_s = s->run_s;
    o->min_delay = s->D * s->dt;
    int dmax = 0;
    for (int k = 0; k < s->n_projs; k++)
        if (s->projs[k].dmax > dmax) dmax = s->projs[k].dmax;
    o->max_delay = sim_allreduce_max(m, dmax) * s->dt;
}

double nm_sim_time(const nm_sim *s) { return (double)s->step * s->dt; }
int    nm_sim_rank(const nm_sim *s) { return s->rank; }

int64_t nm_sim_spikes(const nm_sim *s, int pop, const double **t, const int32_t **idx) {
    if (!s || pop < 0 || pop >= s->n_pops || !s->rec_on[pop]) {
        if (t) *t = NULL;
        if (idx) *idx = NULL;
        return 0;
    }
    if (t) *t = s->rec_t[pop];
    if (idx) *idx = s->rec_i[pop];
    return s->rec_n[pop];
}

nm_status nm_sim_spike_counts(const nm_sim *s, int pop, int64_t *counts, int64_t n) {
    if (!s || pop < 0 || pop >= s->n_pops) return nm__error(NM_INVAL, "no population %d", pop);
    if (n != s->spec->pops[pop].size)
        return nm__error(NM_SHAPE, "population '%s' has %lld neurons, not %lld", s->spec->pops[pop].name,
                         (long long)s->spec->pops[pop].size, (long long)n);
    memcpy(counts, s->counts[pop], (size_t)n * sizeof *counts);
    return NM_OK;
}

nm_status nm_sim_state_samples(const nm_sim *s, int m, int64_t *n_t, const double **t, int64_t *n_neurons,
                               const float **v) {
    if (!s || m < 0 || m >= s->spec->n_mons || s->spec->mons[m].kind != NM_MON_STATE)
        return nm__error(NM_INVAL, "monitor %d is not a state monitor", m);
    *n_t = s->mon[m].nt;
    *t = s->mon[m].t;
    *n_neurons = s->mon[m].count;
    *v = s->mon[m].val;
    return NM_OK;
}

nm_status nm_sim_rates(const nm_sim *s, int m, int64_t *n, double *bin, const float **rate) {
    if (!s || m < 0 || m >= s->spec->n_mons || s->spec->mons[m].kind != NM_MON_RATE)
        return nm__error(NM_INVAL, "monitor %d is not a rate monitor", m);
    *n = s->mon[m].nt;
    *bin = (double)s->mon[m].every * s->dt;
    *rate = s->mon[m].hz;
    return NM_OK;
}

typedef struct { int32_t pre, post; float w; } wtrip;

static int cmp_trip(const void *a, const void *b) {
    const wtrip *x = a, *y = b;
    if (x->post != y->post) return x->post < y->post ? -1 : 1;
    return (x->pre > y->pre) - (x->pre < y->pre);
}

nm_status nm_sim_weights(const nm_sim *s, int proj, int64_t *n, int32_t **pre, int32_t **post, float **w) {
    if (!s || proj < 0 || proj >= s->n_projs) return nm__error(NM_INVAL, "no projection %d", proj);
    const sim_proj *pj = &s->projs[proj];
    const sim_pop *po = &s->pops[pj->spec.post];
    const int64_t n_src = s->pops[pj->spec.pre].spec.size;
    wtrip *tr = malloc((size_t)(pj->n_syn ? pj->n_syn : 1) * sizeof *tr);
    if (!tr) return nm__error(NM_NOMEM, "weights of '%s'", pj->spec.name);
    int64_t m = 0;
    const uint32_t mask = pj->dconst ? 0xffffffffu : (1u << pj->tbits) - 1;
    for (int v = 0; v < s->T; v++) {
        const sim_rows *rw = &pj->rows[v];
        for (int64_t i = 0; i < n_src; i++)
            for (uint64_t x = rw->ptr[i]; x < rw->ptr[i + 1]; x++) {
                int64_t l = rw->tgt[x] & mask;
                tr[m].pre = (int32_t)i;
                tr[m].post = (int32_t)(po->first + (l - po->l0) * s->K);
                tr[m].w = rw->w ? rw->w[x] : pj->w0;
                m++;
            }
    }
    qsort(tr, (size_t)m, sizeof *tr, cmp_trip);
    *pre = malloc((size_t)(m ? m : 1) * sizeof **pre);
    *post = malloc((size_t)(m ? m : 1) * sizeof **post);
    *w = malloc((size_t)(m ? m : 1) * sizeof **w);
    if (!*pre || !*post || !*w) {
        free(*pre);
        free(*post);
        free(*w);
        free(tr);
        return nm__error(NM_NOMEM, "weights of '%s'", pj->spec.name);
    }
    for (int64_t q = 0; q < m; q++) {
        (*pre)[q] = tr[q].pre;
        (*post)[q] = tr[q].post;
        (*w)[q] = tr[q].w;
    }
    free(tr);
    *n = m;
    return NM_OK;
}
