/*
** insitu.c: in-situ learning. The optimizer's step is written to the weights through a
** model of the devices that hold them, and the graph's parameters are then set to what the
** devices hold; biases and learnable neuron constants are digital (params += delta).
**
** Units. A weight layer (Affine, Linear, Conv) gets a range R = range x max|W| at creation
** (max|W| = 0 counts as 1). Device state is kept in units of R: u = W / R.
**
** PULSED (aihwkit's pulsed devices: ConstantStep, SoftBounds, up_down, dw_min_dtod and
** dw_min_std). u in [-1, 1]. A step delta asks for x = delta / (dw_min R) pulses; the
** controller knows only the nominal dw_min, so n = floor(x) + [U < x - floor(x)]
** (stochastic rounding, E n = x). Device i moves by d = dw_min_i (1 + up_down) per pulse up
** and dw_min_i (1 - up_down) down, dw_min_i = dw_min max(0, 1 + dw_min_dtod z_i), z_i drawn
** once at creation. Over |n| pulses:
**     hard bounds   u_n = clip(u_0 + n d, -1, 1)
**     soft bounds   up: u_n = 1 - (1 - u_0)(1 - d)^n,  down: u_n = -1 + (1 + u_0)(1 - d)^|n|
**                   (the closed form of u += d (1 - u) and u -= d (1 + u) per pulse)
** then cycle-to-cycle noise c2c d sqrt(|n|) xi (the sum of |n| per-pulse draws, added
** after the bounded steps, not shrunk near the bounds) and a final clip to [-1, 1]. A
** fraction of x within float rounding of a whole number (4 FLT_EPSILON |x|) is taken as
** that number: a delta meant as k pulses gives k, not k - 1 once in a few million.
** No cap on the pulses of one update is modelled (aihwkit's BL bounds it by its pulse train).
**
** MIXED (Ambrogio et al., Nature 558, 2018): W = R (F (G+ - G-) + g), R = range x max|W| / F
** (the pair's full scale F R is the layer's range), conductances in units of g_max, g the capacitor's excess over g_shared (kept at 0, only
** the difference matters), in units of R. A step goes to g, clipped to +-cap_range. When
** `seen` crosses a multiple of transfer_every (once per apply, however many multiples one
** batch crosses), g *= 1 - cap_leak, the target T = F (G+ - G-) + g is programmed afresh
** onto the pair as the hw module's single-pair converter does (G+ at max(T, 0) / F, G- at
** max(-T, 0) / F, both through nm_device_quantize, program and at_time(0); the device
** clamps to [0, 1]), and g = 0. Creation is programming number 0 from g = W0 / R.
** The transfer is closed-loop by default, as the paper's: only pairs whose |g| reaches
** transfer_min are touched (re-programming a pair draws its whole programming noise anew,
** so moving a small g would add more error than it removes), each is read back and
** programmed again while F (G+ - G-) misses its target by more than verify_tol, up to
** verify_iters programmings; a pair still outside keeps its last draw. Pairs left alone
** keep their g. Reads for verification are the t = 0 reads below. Time
** between transfers is not modelled (no drift): every pair is read at t = 0 of its last
** programming, which for PCM includes the 1/f noise accumulated by then (aihwkit's t_0).
**
** Randomness. Every draw is keyed: PULSED (seed, update count, weight index) and the
** device spread (seed, weight index); MIXED programming (seed mixed with the programming
** count, stream from node and side, device index). Results do not depend on threads.
**
** Workload: one apply per training batch over all weights (~1e5..1e7), so state is kept
** as arrays allocated once at create and apply never allocates. PULSED costs at most one
** Philox block per weight with a nonzero step (~90 ns a weight on one core, mostly Philox,
** libm and the unpredictable branches of random rounding); MIXED a multiply-add per
** weight, and a transfer (every few thousand images) the device's programming of every pair.
*/
#include <neuromorph/hw.h>

#include "hw_impl.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Below this many weights one thread is faster than starting a team. */
#define PAR_MIN 8192

/* Purpose tags of the keys. */
enum { TAG_PULSE = 1, TAG_DTOD = 2, TAG_PROGRAM = 3 };

typedef struct insitu_layer {
    int     node;
    int64_t off;    /* w_off in the parameter block                  */
    int64_t n;      /* weights                                       */
    int64_t base;   /* index of its first weight in the state arrays */
    float   R;      /* range, weight units                           */
} insitu_layer;

struct nm_insitu {
    nm_insitu_config cfg;
    const nm_device *dev;
    int64_t  n_params;
    int      n_layers;
    insitu_layer *layer;   /* (n_layers) ascending w_off                             */
    int      n_dig;
    int64_t *dig;          /* (n_dig, 2): [off, len) ranges of digital parameters    */
    int64_t  n_w, n_max;   /* weights in all layers, in the largest                  */
    /* PULSED */
    float   *u;            /* (n_w) weight / R, in [-1, 1]                           */
    float   *dwm;          /* (n_w) the device's own dw_min, units of R              */
    /* MIXED */
    float   *gp, *gm;      /* (n_w) G+, G- as read at t = 0, units of g_max          */
    float   *cap;          /* (n_w) g - g_shared, units of R                         */
    float   *tw;           /* (n_max) scratch: the transfer's total, units of R      */
    float   *tgt, *tq;     /* (n_max) scratch: targets, quantized targets, g_max     */
    float   *gprog;        /* (n_max) scratch: conductances right after programming  */
    float   *np, *nm;      /* (n_max) scratch: a programming's G+, G- (closed loop)  */
    int64_t *pick;         /* (n_max) scratch: pairs still to program (closed loop)  */
    float   *state;        /* (n_max, n_state) scratch: device state                 */
    float   *arena;        /* every array above lives here                           */
    int64_t  last_seen;
    uint64_t n_program;    /* MIXED: programmings so far (creation included)         */
    int64_t  n_transfers, n_updates;
};

/* ---- configuration ------------------------------------------------------------ */

void nm_insitu_config_default(nm_insitu_kind kind, nm_insitu_config *c) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->range = 2.0f;
    c->dw_min = 0.001f;
    c->up_down = 0.0f;
    c->soft_bounds = 1;
    c->dw_min_dtod = 0.3f;   /* aihwkit's ConstantStep defaults */
    c->c2c = 0.3f;
    c->gain = 3.0f;          /* Ambrogio et al.: F = 3, a transfer every 8000 images */
    c->transfer_every = 8000;
    c->cap_range = 0.5f;
    c->cap_leak = 0.0f;
    c->verify_iters = 5;     /* program-and-verify: a few rounds bring most pairs within tol */
    c->verify_tol = 0.08f;   /* about 2/3 of PCM's programming spread at mid-range, F = 3    */
    c->transfer_min = 0.08f;
    c->seed = 1;
}

#define CHECK(cond, ...)                                      \
    do {                                                      \
        if (!(cond)) return nm__error(NM_INVAL, __VA_ARGS__); \
    } while (0)

/* Every field whatever the kind: defaults are valid for both, and a config switched from
** one kind to the other must not carry a bad value along. Comparisons are written so that
** NaN fails them. */
nm_status nm_insitu_config_check(const nm_insitu_config *c) {
    CHECK(c, "in-situ: config must not be NULL");
    CHECK(c->kind == NM_INSITU_PULSED || c->kind == NM_INSITU_MIXED,
          "in-situ kind must be pulsed (0) or mixed (1), not %d", (int)c->kind);
    CHECK(isfinite(c->range) && c->range > 0.0f, "in-situ range must be positive and finite, not %g", (double)c->range);
    CHECK(c->dw_min > 0.0f && c->dw_min <= 1.0f, "in-situ dw_min must be in (0, 1], not %g", (double)c->dw_min);
    CHECK(c->up_down > -1.0f && c->up_down < 1.0f, "in-situ up_down must be in (-1, 1), not %g", (double)c->up_down);
    CHECK(c->soft_bounds == 0 || c->soft_bounds == 1, "in-situ soft_bounds must be 0 or 1, not %d", c->soft_bounds);
    CHECK(isfinite(c->dw_min_dtod) && c->dw_min_dtod >= 0.0f, "in-situ dw_min_dtod must be >= 0 and finite, not %g",
          (double)c->dw_min_dtod);
    CHECK(isfinite(c->c2c) && c->c2c >= 0.0f, "in-situ c2c must be >= 0 and finite, not %g", (double)c->c2c);
    CHECK(isfinite(c->gain) && c->gain > 0.0f, "in-situ gain must be positive and finite, not %g", (double)c->gain);
    CHECK(c->transfer_every >= 1, "in-situ transfer_every must be >= 1 image, not %lld", (long long)c->transfer_every);
    CHECK(isfinite(c->cap_range) && c->cap_range > 0.0f, "in-situ cap_range must be positive and finite, not %g",
          (double)c->cap_range);
    CHECK(c->cap_leak >= 0.0f && c->cap_leak <= 1.0f, "in-situ cap_leak must be in [0, 1], not %g", (double)c->cap_leak);
    CHECK(c->verify_iters >= 0 && c->verify_iters <= 100, "in-situ verify_iters must be in 0..100, not %d", c->verify_iters);
    CHECK(isfinite(c->verify_tol) && c->verify_tol >= 0.0f, "in-situ verify_tol must be >= 0 and finite, not %g",
          (double)c->verify_tol);
    CHECK(isfinite(c->transfer_min) && c->transfer_min >= 0.0f, "in-situ transfer_min must be >= 0 and finite, not %g",
          (double)c->transfer_min);
    return NM_OK;
}

/* ---- keys and draws ----------------------------------------------------------- */

static uint64_t mix2(uint64_t a, uint64_t b) { return nm__hw_mix64(nm__hw_mix64(a + 0x9E3779B97F4A7C15ull) ^ b); }

/* The draws of one weight at one update come from one Philox block at (seed, stream, i)
** (the layout of nm_hw_normal2): word 0 gives a uniform in [0, 1) (24 bits) for the
** stochastic rounding, words 1 and 2 a standard normal for the cycle-to-cycle noise
** (Box-Muller in float on two 24-bit uniforms, tails to 5.8 sigma: the normal is made only
** for weights that take pulses, and in float it costs a fraction of the double form). */
static inline void pulse_block(uint64_t seed, uint64_t stream, uint64_t i, uint32_t w[4]) {
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)i, (uint32_t)(i >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    nm_philox4x32(ctr, key, w);
}

static inline float block_uniform(const uint32_t w[4]) { return (float)(w[0] >> 8) * 0x1.0p-24f; }

static inline float block_normal(const uint32_t w[4]) {
    const float u1 = (float)((w[1] >> 8) + 1) * 0x1.0p-24f, u2 = (float)(w[2] >> 8) * 0x1.0p-24f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864769f * u2);
}

/* ---- life cycle --------------------------------------------------------------- */

void nm_insitu_destroy(nm_insitu *s) {
    if (!s) return;
    nm_free(s->layer);
    nm_free(s->dig);
    nm_free(s->pick);
    nm_free(s->arena);
    nm_free(s);
}

/* Programs the pairs pick[0..m) of layer L to the totals tw[pick[k]] (units of R): G+ at
** max(T, 0) / F, G- at max(-T, 0) / F, read at t = 0, into np / nm[0..m). */
static void program_some(nm_insitu *s, const insitu_layer *L, int64_t m, uint64_t seed) {
    const nm_device *dev = s->dev;
    const float inv_F = 1.0f / s->cfg.gain;
    float *st = dev->ops->n_state > 0 ? s->state : NULL;
    for (int side = 0; side < 2; side++) {
        const uint64_t stream = mix2((uint64_t)L->node, (uint64_t)side);
        for (int64_t k = 0; k < m; k++) {
            const float t = side ? -s->tw[s->pick[k]] : s->tw[s->pick[k]];
            s->tgt[k] = t > 0.0f ? t * inv_F : 0.0f;
        }
        nm_device_quantize(dev, s->tgt, m, s->tq);
        dev->ops->program(dev, s->tq, m, seed, stream, s->gprog, st);
        dev->ops->at_time(dev, s->gprog, st, m, 0.0, seed, stream, side ? s->nm : s->np);
    }
}

/* Moves the synapses' totals T = F (G+ - G-) + g (1 - leak) onto their pairs (all of them
** when `all`, else those with |g| >= transfer_min under a closed loop), then g = 0 there.
** The draws are keyed by the programming count and the verify round, so every
** programming draws anew. */
static void program_pairs(nm_insitu *s, float leak, int all) {
    const float F = s->cfg.gain, keep = 1.0f - leak, tol = s->cfg.verify_tol;
    const int closed = s->cfg.verify_iters > 0, rounds = closed ? s->cfg.verify_iters : 1;
    const float tmin = closed && !all ? s->cfg.transfer_min : 0.0f;
    const uint64_t seed0 = mix2(s->cfg.seed ^ TAG_PROGRAM, s->n_program);
    for (int l = 0; l < s->n_layers; l++) {
        const insitu_layer *L = &s->layer[l];
        const int64_t n = L->n;
        float *gp = s->gp + L->base, *gm = s->gm + L->base, *cap = s->cap + L->base;
        int64_t m = 0;
        for (int64_t e = 0; e < n; e++) {
            const float g = cap[e] * keep;
            s->tw[e] = (float)((double)F * ((double)gp[e] - (double)gm[e]) + (double)g);
            if (fabsf(g) >= tmin) {
                s->pick[m++] = e;
                cap[e] = 0.0f;
            } else {
                cap[e] = g;
            }
        }
        for (int r = 0; r < rounds && m > 0; r++) {
            program_some(s, L, m, r ? mix2(seed0, (uint64_t)r) : seed0);
            int64_t left = 0;
            for (int64_t k = 0; k < m; k++) {
                const int64_t e = s->pick[k];
                gp[e] = s->np[k];
                gm[e] = s->nm[k];
                if (closed && fabsf(F * (gp[e] - gm[e]) - s->tw[e]) > tol) s->pick[left++] = e;
            }
            m = left;
        }
    }
    s->n_program++;
}

/* params' weights from the device state. */
static void write_weights(const nm_insitu *s, float *params) {
    const float F = s->cfg.gain;
    for (int l = 0; l < s->n_layers; l++) {
        const insitu_layer *L = &s->layer[l];
        const int64_t n = L->n;
        const float R = L->R;
        float *w = params + L->off;
        if (s->cfg.kind == NM_INSITU_PULSED) {
            const float *u = s->u + L->base;
            for (int64_t e = 0; e < n; e++) w[e] = R * u[e];
        } else {
            const float *gp = s->gp + L->base, *gm = s->gm + L->base, *cap = s->cap + L->base;
            for (int64_t e = 0; e < n; e++) w[e] = R * (F * (gp[e] - gm[e]) + cap[e]);
        }
    }
}

nm_status nm_insitu_create(nm_graph *g, const nm_insitu_config *cfg, const nm_device *dev, nm_insitu **out) {
    NM_ASSERT(out);
    *out = NULL;
    CHECK(g, "in-situ: graph must not be NULL");
    nm_status rc = nm_insitu_config_check(cfg);
    if (rc) return rc;
    if (cfg->kind == NM_INSITU_MIXED) {
        CHECK(dev, "in-situ mixed: a device for the PCM pairs is needed (dev is NULL)");
        CHECK(dev->ops && dev->ops->program && dev->ops->at_time, "in-situ mixed: the device has no program or at_time");
    }
    float *params = nm_graph_params(g);
    const int64_t n_params = nm_graph_n_params(g);
    const int n_nodes = nm_graph_n_nodes(g);
    int n_layers = 0;
    for (int j = 0; j < n_nodes; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        n_layers += nd->w_off >= 0 && nm_node_weight_count(nd) > 0;   /* Affine, Linear, Conv */
    }
    CHECK(params && n_layers > 0, "in-situ: the graph has no weight layer (Affine, Linear or Conv)%s",
          params ? "" : " or is not compiled");

    nm_insitu *s = nm_alloc(sizeof *s);
    if (!s) return nm__error(NM_NOMEM, "in-situ: out of memory");
    s->cfg = *cfg;
    s->dev = cfg->kind == NM_INSITU_MIXED ? dev : NULL;
    s->n_params = n_params;
    s->layer = nm_alloc((size_t)n_layers * sizeof *s->layer);
    s->dig = nm_alloc((size_t)(n_layers + 1) * 2 * sizeof *s->dig);   /* n_layers ranges cut at most n + 1 gaps */
    if (!s->layer || !s->dig) goto nomem;

    /* The layers by ascending offset, with their ranges. */
    for (int j = 0; j < n_nodes; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        const int64_t n = nd->w_off >= 0 ? nm_node_weight_count(nd) : 0;
        if (n <= 0) continue;
        NM_ASSERT(nd->w_off + n <= n_params);
        float amax = 0.0f;
        for (int64_t e = 0; e < n; e++) {
            const float a = fabsf(params[nd->w_off + e]);
            if (!isfinite(a)) {
                nm_insitu_destroy(s);
                return nm__error(NM_INVAL, "in-situ: node '%s': weight %lld is %g, not finite", nd->name, (long long)e,
                                 (double)params[nd->w_off + e]);
            }
            amax = a > amax ? a : amax;
        }
        /* MIXED: the PCM pair's full scale F R is the layer's range, so its programming noise
        ** is a fraction of the weights' span, not F times that */
        const float R = cfg->range * (amax > 0.0f ? amax : 1.0f) / (cfg->kind == NM_INSITU_MIXED ? cfg->gain : 1.0f);
        insitu_layer L = {j, nd->w_off, n, 0, R};
        int k = s->n_layers++;
        while (k > 0 && s->layer[k - 1].off > L.off) s->layer[k] = s->layer[k - 1], k--;
        s->layer[k] = L;
    }
    int64_t at = 0;
    for (int l = 0; l < s->n_layers; l++) {
        insitu_layer *L = &s->layer[l];
        NM_ASSERT(L->off >= at);   /* weight ranges never overlap */
        if (L->off > at) s->dig[2 * s->n_dig] = at, s->dig[2 * s->n_dig + 1] = L->off - at, s->n_dig++;
        at = L->off + L->n;
        L->base = s->n_w;
        s->n_w += L->n;
        s->n_max = L->n > s->n_max ? L->n : s->n_max;
    }
    if (n_params > at) s->dig[2 * s->n_dig] = at, s->dig[2 * s->n_dig + 1] = n_params - at, s->n_dig++;

    /* One arena; every array starts on a 64-byte boundary. */
    const int n_state = s->dev && s->dev->ops->n_state > 0 ? s->dev->ops->n_state : 0;
    const int64_t pw = nm_pad16(s->n_w), pm = nm_pad16(s->n_max);
    const int64_t total = cfg->kind == NM_INSITU_PULSED ? 2 * pw : 3 * pw + 6 * pm + nm_pad16(s->n_max * n_state);
    if (!(s->arena = nm_alloc((size_t)total * sizeof(float)))) goto nomem;
    if (cfg->kind == NM_INSITU_MIXED && !(s->pick = nm_alloc((size_t)s->n_max * sizeof *s->pick))) goto nomem;
    if (cfg->kind == NM_INSITU_PULSED) {
        s->u = s->arena;
        s->dwm = s->arena + pw;
    } else {
        s->gp = s->arena;
        s->gm = s->gp + pw;
        s->cap = s->gm + pw;
        s->tw = s->cap + pw;
        s->tgt = s->tw + pm;
        s->tq = s->tgt + pm;
        s->gprog = s->tq + pm;
        s->np = s->gprog + pm;
        s->nm = s->np + pm;
        s->state = s->nm + pm;
    }

    /* The starting state, then the graph's weights from it. */
    if (cfg->kind == NM_INSITU_PULSED) {
        const uint64_t stream = mix2(TAG_DTOD, 0);
        for (int l = 0; l < s->n_layers; l++) {
            const insitu_layer *L = &s->layer[l];
            const float inv_R = 1.0f / L->R;
            #pragma omp parallel for schedule(static) if (L->n >= PAR_MIN)
            for (int64_t e = 0; e < L->n; e++) {
                const int64_t i = L->base + e;
                const float u = params[L->off + e] * inv_R;
                s->u[i] = u > 1.0f ? 1.0f : (u < -1.0f ? -1.0f : u);
                float z[2] = {0.0f, 0.0f};
                if (cfg->dw_min_dtod > 0.0f) nm_hw_normal2(cfg->seed, stream, (uint64_t)i, z);
                const float f = 1.0f + cfg->dw_min_dtod * z[0];
                s->dwm[i] = cfg->dw_min * (f > 0.0f ? f : 0.0f);   /* a device with f <= 0 is stuck */
            }
        }
    } else {
        for (int l = 0; l < s->n_layers; l++) {
            const insitu_layer *L = &s->layer[l];
            const float inv_R = 1.0f / L->R;
            for (int64_t e = 0; e < L->n; e++) s->cap[L->base + e] = params[L->off + e] * inv_R;
        }
        program_pairs(s, 0.0f, 1);   /* gp = gm = 0: the totals are W0 / R */
    }
    write_weights(s, params);
    *out = s;
    return NM_OK;
nomem:
    nm_insitu_destroy(s);
    return nm__error(NM_NOMEM, "in-situ: out of memory");
}

/* ---- updates -------------------------------------------------------------------- */

static void pulsed_layer(nm_insitu *s, const insitu_layer *L, float *params, const float *delta, uint64_t stream) {
    const nm_insitu_config *c = &s->cfg;
    const int64_t n = L->n;
    const double inv_step = 1.0 / ((double)c->dw_min * (double)L->R);
    const double a = c->up_down, c2c = c->c2c;
    const int soft = c->soft_bounds;
    const float R = L->R;
    float *u = s->u + L->base, *w = params + L->off;
    const float *dwm = s->dwm + L->base, *dl = delta + L->off;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t e = 0; e < n; e++) {
        if (dl[e] != 0.0f) {
            const double x = (double)dl[e] * inv_step, tol = 4.0 * FLT_EPSILON * fabs(x);
            double np = floor(x);
            const double fr = x - np;
            uint32_t blk[4];
            int drawn = 0;
            if (fr >= 1.0 - tol) np += 1.0;   /* float rounding of a whole number of pulses */
            else if (fr > tol) pulse_block(c->seed, stream, (uint64_t)(L->base + e), blk), drawn = 1,
                               np += (double)block_uniform(blk) < fr;
            if (np != 0.0) {
                const int up = np > 0.0;
                const double k = fabs(np);
                double d = (double)dwm[e] * (up ? 1.0 + a : 1.0 - a), v = u[e];
                if (soft) {
                    d = d < 1.0 ? d : 1.0;
                    double f = 1.0 - d;   /* (1 - d)^k: by products for the common few pulses */
                    if (k <= 8.0) for (int j = 1; j < (int)k; j++) f *= 1.0 - d;
                    else f = exp(k * log1p(-d));
                    v = up ? 1.0 - (1.0 - v) * f : -1.0 + (1.0 + v) * f;
                } else {
                    v += up ? k * d : -k * d;
                }
                if (c2c > 0.0) {
                    if (!drawn) pulse_block(c->seed, stream, (uint64_t)(L->base + e), blk);
                    v += c2c * d * sqrt(k) * (double)block_normal(blk);
                }
                u[e] = (float)(v > 1.0 ? 1.0 : (v < -1.0 ? -1.0 : v));
            }
        }
        w[e] = R * u[e];
    }
}

static void mixed_layer(nm_insitu *s, const insitu_layer *L, float *params, const float *delta) {
    const int64_t n = L->n;
    const float R = L->R, inv_R = 1.0f / L->R, F = s->cfg.gain, cr = s->cfg.cap_range;
    const float *gp = s->gp + L->base, *gm = s->gm + L->base, *dl = delta + L->off;
    float *cap = s->cap + L->base, *w = params + L->off;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t e = 0; e < n; e++) {
        float v = cap[e] + dl[e] * inv_R;
        v = v > cr ? cr : (v < -cr ? -cr : v);
        cap[e] = v;
        w[e] = R * (F * (gp[e] - gm[e]) + v);
    }
}

static nm_status insitu_apply(void *ctx, float *params, const float *delta, int64_t n, int64_t seen) {
    nm_insitu *s = ctx;
    NM_ASSERT(s && params && delta);
    if (n != s->n_params)
        return nm__error(NM_SHAPE, "in-situ: update of %lld parameters, but the learner's graph has %lld",
                         (long long)n, (long long)s->n_params);
    for (int k = 0; k < s->n_dig; k++) {
        const int64_t off = s->dig[2 * k], len = s->dig[2 * k + 1];
        for (int64_t i = off; i < off + len; i++) params[i] += delta[i];
    }
    if (s->cfg.kind == NM_INSITU_PULSED) {
        const uint64_t stream = mix2(TAG_PULSE, (uint64_t)s->n_updates);
        for (int l = 0; l < s->n_layers; l++) pulsed_layer(s, &s->layer[l], params, delta, stream);
    } else {
        for (int l = 0; l < s->n_layers; l++) mixed_layer(s, &s->layer[l], params, delta);
        const int64_t T = s->cfg.transfer_every;
        if (seen / T > s->last_seen / T) {
            program_pairs(s, s->cfg.cap_leak, 0);
            s->n_transfers++;
            write_weights(s, params);
        }
    }
    s->last_seen = seen;
    s->n_updates++;
    return NM_OK;
}

void nm_insitu_hooks(nm_insitu *s, nm_update_hooks *h) {
    NM_ASSERT(s && h);
    h->ctx = s;
    h->apply = insitu_apply;
}

nm_status nm_insitu_transfer(nm_insitu *s, float *params) {
    NM_ASSERT(s);
    if (s->cfg.kind == NM_INSITU_MIXED) {
        program_pairs(s, s->cfg.cap_leak, 0);
        s->n_transfers++;
    }
    if (params) write_weights(s, params);
    return NM_OK;
}

int64_t nm_insitu_transfers(const nm_insitu *s) {
    NM_ASSERT(s);
    return s->cfg.kind == NM_INSITU_MIXED ? s->n_transfers : s->n_updates;
}
