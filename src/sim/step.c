/*
** One step of a block of neurons: read this step's input from the ring slot (and clear
** it), integrate, mark who crossed threshold; then a sparse pass resets the few that
** spiked and records them. The first pass has no branches and no calls, so the compiler
** vectorizes it; each kernel is compiled twice, for populations whose constants are
** shared (read once) and for per-neuron constants (read as arrays).
*/
#include "sim_impl.h"

/* Where the CPU has 512-bit vectors, use them in this file's loops (GCC otherwise prefers
** 256 bits); elsewhere the pragma changes nothing. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
#pragma GCC target("prefer-vector-width=512")
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define SIM_INLINE static inline __attribute__((always_inline))
#else
#define SIM_INLINE static inline
#endif

void sim_push_spike(sim_thread *th, int64_t step_in_interval, int64_t gid) {
    if (th->n_spk == th->cap_spk) {
        int64_t cap = th->cap_spk * 2;
        uint64_t *p = realloc(th->spk, (size_t)cap * sizeof *p);
        if (!p) NM_ASSERT(!"out of memory for spikes");
        th->spk = p;
        th->cap_spk = cap;
    }
    th->spk[th->n_spk++] = SIM_KEY(step_in_interval, gid);
}

/* Constant k of neuron i: from its array, or a scalar loaded once (so the compiler
** keeps it in a register rather than reloading it through a pointer every neuron). */
#define CDEF(k) const float *restrict ca##k = p->c[k]; const float cs##k = p->c[k][0];
#define C(k) (het ? ca##k[i] : cs##k)

SIM_INLINE void lif_delta(sim_pop *p, int64_t a, int64_t b, float *restrict in, uint8_t *restrict fl, const int het) {
    float *restrict v = p->st[0];
    int32_t *restrict r = p->refr;
    CDEF(0) CDEF(1) CDEF(2) CDEF(3)
    for (int64_t i = a; i < b; i++) {
        int32_t rr = r[i];
        float vn = C(1) + C(0) * v[i] + in[i];
        vn = rr > 0 ? C(3) : vn;
        r[i] = rr > 0 ? rr - 1 : 0;
        in[i] = 0.0f;
        v[i] = vn;
        fl[i - a] = vn > C(2);
    }
}

SIM_INLINE void lif_curr(sim_pop *p, int64_t a, int64_t b, float *restrict ie, float *restrict ii,
                         uint8_t *restrict fl, const int het) {
    float *restrict v = p->st[0], *restrict Ie = p->st[1], *restrict Ii = p->st[2];
    int32_t *restrict r = p->refr;
    CDEF(0) CDEF(1) CDEF(2) CDEF(3) CDEF(4) CDEF(5) CDEF(6) CDEF(7)
    for (int64_t i = a; i < b; i++) {
        int32_t rr = r[i];
        float vn = C(1) + C(0) * v[i] + C(2) * Ie[i] + C(3) * Ii[i];
        vn = rr > 0 ? C(7) : vn;
        r[i] = rr > 0 ? rr - 1 : 0;
        Ie[i] = C(4) * Ie[i] + ie[i];
        Ii[i] = C(5) * Ii[i] + ii[i];
        ie[i] = 0.0f;
        ii[i] = 0.0f;
        v[i] = vn;
        fl[i - a] = vn > C(6);
    }
}

SIM_INLINE void lif_cond(sim_pop *p, int64_t a, int64_t b, float *restrict ie, float *restrict ii,
                         uint8_t *restrict fl, const int het) {
    float *restrict v = p->st[0], *restrict ge = p->st[1], *restrict gi = p->st[2];
    int32_t *restrict r = p->refr;
    CDEF(0) CDEF(1) CDEF(2) CDEF(3) CDEF(4) CDEF(5) CDEF(6) CDEF(7) CDEF(8) CDEF(9)
    for (int64_t i = a; i < b; i++) {
        int32_t rr = r[i];
        float vi = v[i];
        float drive = ge[i] * (C(2) - vi) + gi[i] * (C(3) - vi) + C(5);
        float vn = vi + C(0) * ((C(1) - vi) + drive * C(4));
        vn = rr > 0 ? C(9) : vn;
        r[i] = rr > 0 ? rr - 1 : 0;
        ge[i] = C(6) * ge[i] + ie[i];
        gi[i] = C(7) * gi[i] + ii[i];
        ie[i] = 0.0f;
        ii[i] = 0.0f;
        v[i] = vn;
        fl[i - a] = vn > C(8);
    }
}

/* The sparse pass: reset and record the neurons whose flag is set, 8 flags at a time. */
static void collect(nm_sim *s, sim_pop *p, int64_t a, int64_t b, sim_thread *th, int reset_idx) {
    const uint8_t *fl = th->flag;
    const int64_t n = b - a;
    const int het = p->het;
    float *v = p->st[0];
    for (int64_t q = 0; q < n; q += 8) {
        uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (q + 8 <= n) {
            memcpy(&w, fl + q, 8);
        } else
#endif
        {
            for (int64_t e = q; e < n; e++) w |= (uint64_t)fl[e] << (8 * (e - q));
        }
        /* Flags are 0 or 1 bytes: the lowest set bit names the next spiking neuron. */
        while (w) {
            const int64_t e = q + (__builtin_ctzll(w) >> 3);
            w &= w - 1;
            int64_t i = a + e;
            v[i] = p->c[reset_idx][het ? i : 0];
            p->refr[i] = p->nref[het ? i : 0];
            sim_push_spike(th, th->k_step, p->gid0 + p->first + i * s->K);
        }
    }
}

void sim_step_pop(nm_sim *s, sim_pop *p, int64_t lo, int64_t hi, int64_t step, int64_t slot, sim_thread *th) {
    /* lo, hi: rank-local; a, b: within the population. */
    const int64_t a = lo - p->l0, b = hi - p->l0;
    float *in0 = s->ring[0] + slot * s->ring_stride + p->l0;
    float *in1 = s->ring[1] + slot * s->ring_stride + p->l0;
    switch (p->spec.model) {
    case NM_SIM_LIF_DELTA:
        if (p->het) lif_delta(p, a, b, in0, th->flag, 1);
        else lif_delta(p, a, b, in0, th->flag, 0);
        collect(s, p, a, b, th, 3);
        break;
    case NM_SIM_LIF_CURR_EXP:
        if (p->het) lif_curr(p, a, b, in0, in1, th->flag, 1);
        else lif_curr(p, a, b, in0, in1, th->flag, 0);
        collect(s, p, a, b, th, 7);
        break;
    case NM_SIM_LIF_COND_EXP:
        if (p->het) lif_cond(p, a, b, in0, in1, th->flag, 1);
        else lif_cond(p, a, b, in0, in1, th->flag, 0);
        collect(s, p, a, b, th, 9);
        break;
    case NM_SIM_ADEX: {
        float *V = p->st[0], *W = p->st[1], *Ie = p->st[2], *Ii = p->st[3];
        for (int64_t i = a; i < b; i++) {
            const nm_adex_step *cf = &p->adex[p->het ? i : 0];
            double Vd = V[i], Wd = W[i];
            long rc = p->refr[i];
            int n = nm_adex_advance(cf, &Vd, &Wd, &rc, (double)cf->p.I_e + Ie[i] + Ii[i]);
            V[i] = (float)Vd;
            W[i] = (float)Wd;
            p->refr[i] = (int32_t)rc;
            Ie[i] = p->c[0][p->het ? i : 0] * Ie[i] + in0[i];
            Ii[i] = p->c[1][p->het ? i : 0] * Ii[i] + in1[i];
            in0[i] = in1[i] = 0.0f;
            for (int q = 0; q < n; q++) sim_push_spike(th, th->k_step, p->gid0 + p->first + i * s->K);
        }
        break;
    }
    case NM_SIM_IZHIKEVICH: {
        float *V = p->st[0], *U = p->st[1];
        for (int64_t i = a; i < b; i++) {
            const nm_izhikevich_step *cf = &p->izh[p->het ? i : 0];
            double vd = V[i], ud = U[i];
            int n = nm_izhikevich_advance(cf, &vd, &ud, (double)cf->p.I_e);
            /* Input arrives as a jump in v after the step, and may itself cross the peak. */
            vd += in0[i];
            in0[i] = 0.0f;
            if (vd >= cf->p.v_peak) {
                n++;
                vd = cf->p.c;
                ud += cf->p.d;
            }
            V[i] = (float)vd;
            U[i] = (float)ud;
            for (int q = 0; q < n; q++) sim_push_spike(th, th->k_step, p->gid0 + p->first + i * s->K);
        }
        break;
    }
    case NM_SIM_POISSON: {
        const double t_end = (double)(step + 1) * s->dt;
        const int pi = (int)(p - s->pops);
        for (int64_t i = a; i < b; i++) {
            if (!(p->next[i] < t_end)) continue;
            const double rate = p->c[0][p->het ? i : 0];
            const uint64_t stream = sim_stream(RS_POISSON, pi, p->gid0 + p->first + i * s->K);
            while (p->next[i] < t_end) {
                sim_push_spike(th, th->k_step, p->gid0 + p->first + i * s->K);
                double u = nm_rand_uniform_at(s->spec->seed, stream, (uint64_t)p->drawn[i]++);
                p->next[i] += -log1p(-u) * 1e3 / rate;
            }
        }
        break;
    }
    default: break;   /* spike sources fire from run.c */
    }
}
