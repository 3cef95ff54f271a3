/*
** Device models: ideal, quantized, RRAM, PCM (aihwkit's PCMLikeNoiseModel) and measured tables.
**
** Every conductance is in units of the device's g_max (0 .. 1). A device population is an
** array: program() draws what is fixed at programming (noise, drift exponent, faults) into
** g_prog and a small per-device state, at_time() gives the conductance t seconds later.
**
** Randomness: every draw is the value at (seed, stream, device index), so a population is
** the same whatever the thread count or the order devices are visited. One call's stream
** is split into purpose streams (programming, faults, 1/f noise at time t, ...) by hashing
** (stream, tag): the draws for different purposes never share a Philox block.
**
** Sources of the constants: PCM is aihwkit's PCMLikeNoiseModel (Nandakumar et al., ICECS
** 2019), see the project's device notes, section 1.2. RRAM's programming spread is Sandia
** CrossSim's fit to Wan et al. (Nature 2022), its relaxation IBM's CMO ReRAM model from
** aihwkit; fault rates and d2d spread are assumptions (below).
*/
#include <neuromorph/hw.h>

#include "hw_impl.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Parallel loops over devices only pay off for large populations. */
#define PAR_MIN 8192

/* Purpose tags of the streams derived from a call's stream. */
enum { TAG_PROG = 1, TAG_FAULT = 2, TAG_D2D = 3, TAG_FLICKER = 4, TAG_READ = 5 };

/* ---- random draws ------------------------------------------------------- */

void nm_hw_normal2(uint64_t seed, uint64_t stream, uint64_t index, float z[2]) {
    /* Same key/counter layout as nm_rng (block = index): the block is Philox(seed, stream, index). */
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t w[4];
    nm_philox4x32(ctr, key, w);
    /* Box-Muller on two 53-bit uniforms: u1 in (0, 1] keeps log finite (tails to ~8.6
    ** sigma), computed in double so the floats are correctly rounded. */
    uint64_t a = ((uint64_t)w[1] << 32 | w[0]) >> 11, b = ((uint64_t)w[3] << 32 | w[2]) >> 11;
    double u1 = ((double)a + 1.0) * 0x1.0p-53;
    double u2 = (double)b * 0x1.0p-53;
    double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586476925286766559 * u2;
    z[0] = (float)(r * cos(th));
    z[1] = (float)(r * sin(th));
}

/* The stream for one purpose of a call's stream. */
static uint64_t sub_stream(uint64_t stream, uint64_t tag) { return nm__hw_mix64(nm__hw_mix64(stream) ^ (tag * 0x9E3779B97F4A7C15ull)); }

/* PCM's 1/f draw at time t: the bits of t join the tag, so each time has its own draw and
** the same time gives the same draw again. */
static uint64_t time_stream(uint64_t stream, double t) {
    uint64_t bits;
    if (t == 0.0) t = 0.0;   /* -0 and +0 are the same time */
    memcpy(&bits, &t, sizeof bits);
    return sub_stream(stream, nm__hw_mix64(bits) ^ TAG_FLICKER);
}

static inline float clamp01(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }   /* NaN -> 0 */

/* ---- kinds ------------------------------------------------------------------ */

static const char *const kind_names[] = {"ideal", "quantized", "rram", "pcm", "table", "custom"};

const char *nm_device_kind_name(nm_device_kind k) {
    return (unsigned)k < sizeof kind_names / sizeof kind_names[0] ? kind_names[k] : "unknown";
}

nm_status nm_device_kind_parse(const char *s, nm_device_kind *out) {
    /* "custom" is not parsed: a custom device is made from code, not from a name. */
    for (int k = NM_DEV_IDEAL; k <= NM_DEV_TABLE; k++)
        if (s && !strcmp(s, kind_names[k])) {
            *out = (nm_device_kind)k;
            return NM_OK;
        }
    return nm__error(NM_INVAL, "unknown device kind '%s' (expected ideal, quantized, rram, pcm or table)", s ? s : "(null)");
}

void nm_device_params_default(nm_device_kind kind, nm_device_params *p) {
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->g_max_us = 25.0f;   /* aihwkit's SinglePairConductanceConverter */
    /* A quantized device needs levels; 16 (4 bits) is a common multi-level cell. */
    if (kind == NM_DEV_QUANTIZED) p->levels = 16;

    /* RRAM. Programming spread: CrossSim's RRAMWan fit (Wan et al., Nature 2022),
    ** sigma_G = 1.536e-4 G^3 - 1.167e-2 G^2 + 0.2374 G + 1.053 uS for G in uS, g_max ~40 uS;
    ** with x = G / 40 and sigma in units of 40 uS: c_k = a_k 40^k / 40. */
    p->g_min = 0.0f;   /* assumption: a reset device reads as 0 */
    p->prog_sigma[0] = 0.026325f;
    p->prog_sigma[1] = 0.2374f;
    p->prog_sigma[2] = -0.4668f;
    p->prog_sigma[3] = 0.24576f;
    /* Relaxation: IBM's CMO ReRAM (aihwkit ReRamCMONoiseModel) shifts by -0.089 ln t uS
    ** with a spread of 0.042 ln t uS over its 88.2 uS range: ~ -0.001 and 0.0005 of g_max. */
    p->relax_mu = -0.001f;
    p->relax_sigma = 0.0005f;
    p->relax_t0 = 1.0f;
    p->read_sigma = 0.0f;
    p->p_stuck_on = p->p_stuck_off = 0.0f;
    p->d2d = 0.0f;
    if (kind == NM_DEV_RRAM) {
        p->g_max_us = 40.0f;
        p->read_sigma = 0.01f;   /* aihwkit recommends w_noise ~0.01 with its Wan 2022 model */
        /* Assumptions, not measurements: 0.1% of devices stuck each way and a 5% spread
        ** of g_max between devices, typical of figures quoted for 1T1R arrays. */
        p->p_stuck_on = 0.001f;
        p->p_stuck_off = 0.001f;
        p->d2d = 0.05f;
    }

    /* PCM: aihwkit PCMLikeNoiseModel's constructor defaults. */
    p->pcm_prog_coeff[0] = 0.26348f;
    p->pcm_prog_coeff[1] = 1.9650f;
    p->pcm_prog_coeff[2] = -1.1731f;
    p->pcm_t0 = 20.0f;
    p->pcm_t_read = 250e-9f;
    p->pcm_prog_scale = p->pcm_drift_scale = p->pcm_read_scale = 1.0f;
}

/* ---- PCM's deterministic formulas -------------------------------------------- */

double nm_pcm_prog_sigma_us(const nm_device_params *p, double x) {
    const float *c = p->pcm_prog_coeff;
    /* The coefficients are fitted at g_max 25 uS and scale with g_max. */
    return ((double)c[0] + (double)c[1] * x + (double)c[2] * x * x) * (double)p->g_max_us / 25.0;
}

static double clipd(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

double nm_pcm_nu_mean(double x) {
    double xc = fmax(fabs(x), 1e-7);
    return clipd(-0.0155 * log(xc) + 0.0244, 0.049, 0.1);
}

double nm_pcm_nu_std(double x) {
    double xc = fmax(fabs(x), 1e-7);
    return clipd(-0.0125 * log(xc) - 0.0059, 0.008, 0.045);
}

double nm_pcm_q_s(double x) { return fmin(0.0088 / fmax(pow(fabs(x), 0.65), 1e-3), 0.2); }

double nm_pcm_read_growth(const nm_device_params *p, double t) {
    double tr = (double)p->pcm_t_read;
    return sqrt(log((t + (double)p->pcm_t0 + tr) / (2.0 * tr)));
}

/* ---- ideal and quantized: the target, exactly ----------------------------------- */

static void exact_program(const nm_device *d, const float *target, int64_t n, uint64_t seed, uint64_t stream,
                          float *g_prog, float *state) {
    (void)d, (void)seed, (void)stream, (void)state;
    if (g_prog != target) memcpy(g_prog, target, (size_t)n * sizeof *g_prog);
}

static void copy_at_time(const nm_device *d, const float *g_prog, const float *state, int64_t n, double t,
                         uint64_t seed, uint64_t stream, float *g) {
    (void)d, (void)state, (void)t, (void)seed, (void)stream;
    if (g != g_prog) memcpy(g, g_prog, (size_t)n * sizeof *g);
}

static float zero_read_sigma(const nm_device *d, float g) {
    (void)d, (void)g;
    return 0.0f;
}

static const nm_device_ops ideal_ops = {"ideal", 0, exact_program, copy_at_time, zero_read_sigma, NULL};
static const nm_device_ops quantized_ops = {"quantized", 0, exact_program, copy_at_time, zero_read_sigma, NULL};

/* ---- RRAM ------------------------------------------------------------------------ */

/* State per device: [0] its own g_max, [1] stuck flag (+1 at g_max, -1 at g_min, 0 working),
** [2] the standard normal of its relaxation. */
enum { RRAM_GMAX = 0, RRAM_STUCK = 1, RRAM_RELAX = 2, RRAM_NSTATE = 3 };

static float rram_sigma(const nm_device_params *p, float x) {
    const float *c = p->prog_sigma;
    float s = c[0] + x * (c[1] + x * (c[2] + x * c[3]));
    return s > 0.0f ? s : 0.0f;
}

static void rram_program(const nm_device *d, const float *target, int64_t n, uint64_t seed, uint64_t stream,
                         float *g_prog, float *state) {
    const nm_device_params *p = &d->p;
    const uint64_t s_prog = sub_stream(stream, TAG_PROG), s_fault = sub_stream(stream, TAG_FAULT),
                   s_d2d = sub_stream(stream, TAG_D2D);
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float zp[2], zd[2];
        nm_hw_normal2(seed, s_prog, (uint64_t)i, zp);   /* programming noise, relaxation */
        nm_hw_normal2(seed, s_d2d, (uint64_t)i, zd);    /* g_max spread */
        float u = nm_rand_uniform_at(seed, s_fault, (uint64_t)i);
        float gmax = 1.0f + p->d2d * zd[0];
        if (!(gmax >= p->g_min)) gmax = p->g_min;
        float *st = state + i * RRAM_NSTATE, g, stuck = 0.0f;
        if (u < p->p_stuck_on) {
            g = gmax;
            stuck = 1.0f;
        } else if (u < p->p_stuck_on + p->p_stuck_off) {
            g = p->g_min;
            stuck = -1.0f;
        } else {
            float x = target[i];
            g = x + rram_sigma(p, x) * zp[0];
            g = g < p->g_min ? p->g_min : (g > gmax ? gmax : g);
        }
        g_prog[i] = g;
        st[RRAM_GMAX] = gmax;
        st[RRAM_STUCK] = stuck;
        st[RRAM_RELAX] = zp[1];
    }
}

static void rram_at_time(const nm_device *d, const float *g_prog, const float *state, int64_t n, double t,
                         uint64_t seed, uint64_t stream, float *g) {
    (void)seed, (void)stream;   /* relaxation was drawn at programming: monotonic per device */
    const nm_device_params *p = &d->p;
    const float lt = (float)log1p(t / (double)p->relax_t0);
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float *st = state + i * RRAM_NSTATE;
        float v = g_prog[i];
        if (st[RRAM_STUCK] == 0.0f) {
            v += (p->relax_mu + p->relax_sigma * st[RRAM_RELAX]) * lt;
            v = v < p->g_min ? p->g_min : (v > st[RRAM_GMAX] ? st[RRAM_GMAX] : v);
        }
        g[i] = v;
    }
}

static float relative_read_sigma(const nm_device *d, float g) { return d->p.read_sigma * fabsf(g); }

static const nm_device_ops rram_ops = {"rram", RRAM_NSTATE, rram_program, rram_at_time, relative_read_sigma, NULL};

/* ---- PCM (aihwkit PCMLikeNoiseModel) --------------------------------------------------- */

/* State per device: the drift exponent nu. */
static void pcm_program(const nm_device *d, const float *target, int64_t n, uint64_t seed, uint64_t stream,
                        float *g_prog, float *state) {
    const nm_device_params *p = &d->p;
    const uint64_t s = sub_stream(stream, TAG_PROG);
    const double c0 = p->pcm_prog_coeff[0] / 25.0, c1 = p->pcm_prog_coeff[1] / 25.0, c2 = p->pcm_prog_coeff[2] / 25.0;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float z[2];
        nm_hw_normal2(seed, s, (uint64_t)i, z);
        double x = target[i];
        /* sigma_prog / g_max: the uS coefficients at g_max 25 scale with g_max, so in
        ** units of g_max they are divided by 25 whatever g_max is. */
        double sig = c0 + c1 * x + c2 * x * x;
        double g = x + (double)p->pcm_prog_scale * sig * z[0];
        g_prog[i] = (float)(g > 0.0 ? g : 0.0);
        /* The drift exponent comes from the target, not the programmed value (as aihwkit). */
        state[i] = (float)((double)p->pcm_drift_scale * fabs(nm_pcm_nu_mean(x) + nm_pcm_nu_std(x) * z[1]));
    }
}

static void pcm_at_time(const nm_device *d, const float *g_prog, const float *state, int64_t n, double t,
                        uint64_t seed, uint64_t stream, float *g) {
    const nm_device_params *p = &d->p;
    const uint64_t s = time_stream(stream, t);
    const double t0 = p->pcm_t0, tt = t + t0, growth = nm_pcm_read_growth(p, t), ln_ratio = log(tt / t0);
    const double read_scale = p->pcm_read_scale;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float z[2];
        nm_hw_normal2(seed, s, (uint64_t)i, z);
        double gp = g_prog[i];
        double gd = t > 0.0 ? gp * exp(-(double)state[i] * ln_ratio) : gp;   /* gp (tt/t0)^-nu */
        /* Q_s from the programmed conductance, not the drifted one (as aihwkit). */
        double sigma = nm_pcm_q_s(gp) * growth;
        double v = gd + fabs(gd) * read_scale * sigma * z[0];
        g[i] = (float)(v > 0.0 ? v : 0.0);
    }
}

/* aihwkit's PCM read noise (output-referred w_noise sqrt(sum |w| x^2)) is, per device, a
** variance w_noise^2 |g|. */
static float pcm_read_sigma(const nm_device *d, float g) { return d->p.read_sigma * sqrtf(fabsf(g)); }

static const nm_device_ops pcm_ops = {"pcm", 1, pcm_program, pcm_at_time, pcm_read_sigma, NULL};

/* ---- measured table ---------------------------------------------------------------------- */

static void table_program(const nm_device *d, const float *target, int64_t n, uint64_t seed, uint64_t stream,
                          float *g_prog, float *state) {
    (void)state;
    const nm_device_params *p = &d->p;
    const int m = p->n_table;
    const uint64_t s = sub_stream(stream, TAG_PROG);
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float x = target[i], mean, std;
        if (!(x > p->table[0][0])) {   /* below the table (or NaN): its first row */
            mean = p->table[0][1];
            std = p->table[0][2];
        } else if (x >= p->table[m - 1][0]) {
            mean = p->table[m - 1][1];
            std = p->table[m - 1][2];
        } else {
            int lo = 0, hi = m - 1;   /* bisection to table[lo][0] <= x < table[hi][0] */
            while (hi - lo > 1) {
                int mid = (lo + hi) / 2;
                if (p->table[mid][0] <= x) lo = mid;
                else hi = mid;
            }
            float f = (x - p->table[lo][0]) / (p->table[hi][0] - p->table[lo][0]);
            mean = p->table[lo][1] + f * (p->table[hi][1] - p->table[lo][1]);
            std = p->table[lo][2] + f * (p->table[hi][2] - p->table[lo][2]);
        }
        float z[2];
        nm_hw_normal2(seed, s, (uint64_t)i, z);
        float v = mean + std * z[0];
        g_prog[i] = v > 0.0f ? v : 0.0f;
    }
}

static const nm_device_ops table_ops = {"table", 0, table_program, copy_at_time, relative_read_sigma, NULL};

/* ---- validation and construction --------------------------------------------------------- */

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) return nm__error(NM_INVAL, __VA_ARGS__); \
    } while (0)

/* "must be positive" and friends, in one form: "device: NAME must be WHAT, not V". */
static nm_status check_pos(const char *name, float v) {
    CHECK(isfinite(v) && v > 0.0f, "device: %s must be positive, not %g", name, (double)v);
    return NM_OK;
}
static nm_status check_nonneg(const char *name, float v) {
    CHECK(isfinite(v) && v >= 0.0f, "device: %s must be >= 0, not %g", name, (double)v);
    return NM_OK;
}
static nm_status check_finite(const char *name, float v) {
    CHECK(isfinite(v), "device: %s must be finite, not %g", name, (double)v);
    return NM_OK;
}
static nm_status check_unit(const char *name, float v) {
    CHECK(isfinite(v) && v >= 0.0f && v <= 1.0f, "device: %s must be in [0, 1], not %g", name, (double)v);
    return NM_OK;
}

#define TRY(x)                          \
    do {                                \
        nm_status st_ = (x);            \
        if (st_) return st_;            \
    } while (0)

static nm_status check_params(const nm_device_params *p) {
    char name[48];
    CHECK(p->kind != NM_DEV_CUSTOM, "device: a custom device is made with nm_device_custom, not from parameters");
    CHECK(p->kind >= NM_DEV_IDEAL && p->kind <= NM_DEV_TABLE, "device: unknown kind %d", (int)p->kind);
    TRY(check_pos("g_max_us", p->g_max_us));
    CHECK(p->levels == 0 || (p->levels >= 2 && p->levels <= (1 << 24)),
          "device: levels must be 0 (analog) or between 2 and 16777216, not %d", p->levels);
    CHECK(p->n_level_table == 0 || (p->n_level_table >= 2 && p->n_level_table <= NM_DEV_MAX_TABLE),
          "device: n_level_table must be 0 or between 2 and %d, not %d", NM_DEV_MAX_TABLE, p->n_level_table);
    CHECK(!(p->levels && p->n_level_table), "device: give levels (%d) or a level_table (%d levels), not both",
          p->levels, p->n_level_table);
    for (int i = 0; i < p->n_level_table; i++) {
        snprintf(name, sizeof name, "level_table[%d]", i);
        TRY(check_unit(name, p->level_table[i]));
        CHECK(i == 0 || p->level_table[i] > p->level_table[i - 1],
              "device: level_table must be strictly ascending, but level_table[%d] = %g follows %g", i,
              (double)p->level_table[i], (double)p->level_table[i - 1]);
    }
    switch (p->kind) {
    case NM_DEV_IDEAL:
        break;
    case NM_DEV_QUANTIZED:
        CHECK(p->levels >= 2 || p->n_level_table >= 2, "device: a quantized device needs levels >= 2 or a level_table");
        break;
    case NM_DEV_RRAM:
        CHECK(isfinite(p->g_min) && p->g_min >= 0.0f && p->g_min < 1.0f, "device: g_min must be in [0, 1), not %g",
              (double)p->g_min);
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "prog_sigma[%d]", k);
            TRY(check_finite(name, p->prog_sigma[k]));
        }
        TRY(check_finite("relax_mu", p->relax_mu));
        TRY(check_nonneg("relax_sigma", p->relax_sigma));
        TRY(check_pos("relax_t0", p->relax_t0));
        TRY(check_nonneg("read_sigma", p->read_sigma));
        TRY(check_unit("p_stuck_on", p->p_stuck_on));
        TRY(check_unit("p_stuck_off", p->p_stuck_off));
        CHECK(p->p_stuck_on + p->p_stuck_off <= 1.0f, "device: p_stuck_on + p_stuck_off must be <= 1, not %g",
              (double)(p->p_stuck_on + p->p_stuck_off));
        TRY(check_nonneg("d2d", p->d2d));
        break;
    case NM_DEV_PCM:
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "pcm_prog_coeff[%d]", k);
            TRY(check_finite(name, p->pcm_prog_coeff[k]));
        }
        TRY(check_pos("pcm_t0", p->pcm_t0));
        TRY(check_pos("pcm_t_read", p->pcm_t_read));
        TRY(check_nonneg("pcm_prog_scale", p->pcm_prog_scale));
        TRY(check_nonneg("pcm_drift_scale", p->pcm_drift_scale));
        TRY(check_nonneg("pcm_read_scale", p->pcm_read_scale));
        TRY(check_nonneg("read_sigma", p->read_sigma));
        break;
    case NM_DEV_TABLE:
        CHECK(p->n_table >= 2 && p->n_table <= NM_DEV_MAX_TABLE, "device: n_table must be between 2 and %d, not %d",
              NM_DEV_MAX_TABLE, p->n_table);
        for (int i = 0; i < p->n_table; i++) {
            snprintf(name, sizeof name, "table[%d] target", i);
            TRY(check_unit(name, p->table[i][0]));
            snprintf(name, sizeof name, "table[%d] mean", i);
            TRY(check_nonneg(name, p->table[i][1]));
            snprintf(name, sizeof name, "table[%d] std", i);
            TRY(check_nonneg(name, p->table[i][2]));
            CHECK(i == 0 || p->table[i][0] > p->table[i - 1][0],
                  "device: table targets must be strictly ascending, but table[%d] target %g follows %g", i,
                  (double)p->table[i][0], (double)p->table[i - 1][0]);
        }
        TRY(check_nonneg("read_sigma", p->read_sigma));
        break;
    default:
        break;
    }
    return NM_OK;
}

nm_status nm_device_create(const nm_device_params *p, nm_device **out) {
    *out = NULL;
    TRY(check_params(p));
    nm_device *d = nm_alloc(sizeof *d);
    if (!d) return nm__error(NM_NOMEM, "device: out of memory");
    static const nm_device_ops *const ops[] = {&ideal_ops, &quantized_ops, &rram_ops, &pcm_ops, &table_ops};
    d->ops = ops[p->kind];
    d->p = *p;
    *out = d;
    return NM_OK;
}

nm_status nm_device_custom(const nm_device_ops *ops, void *ctx, nm_device **out) {
    *out = NULL;
    CHECK(ops, "device: custom ops must not be NULL");
    CHECK(ops->program, "device: custom ops '%s' have no program function", ops->name ? ops->name : "?");
    CHECK(ops->at_time, "device: custom ops '%s' have no at_time function", ops->name ? ops->name : "?");
    CHECK(ops->n_state >= 0 && ops->n_state <= 1024, "device: custom ops '%s': n_state must be in [0, 1024], not %d",
          ops->name ? ops->name : "?", ops->n_state);
    nm_device *d = nm_alloc(sizeof *d);
    if (!d) return nm__error(NM_NOMEM, "device: out of memory");   /* ctx stays the caller's */
    d->ops = ops;
    nm_device_params_default(NM_DEV_CUSTOM, &d->p);
    d->ctx = ctx;
    *out = d;
    return NM_OK;
}

void nm_device_destroy(nm_device *d) {
    if (!d) return;
    if (d->p.kind == NM_DEV_CUSTOM && d->ops->destroy) d->ops->destroy(d->ctx);
    nm_free(d);
}

/* ---- quantize and sample ------------------------------------------------------------------------ */

void nm_device_quantize(const nm_device *d, const float *target, int64_t n, float *out) {
    const nm_device_params *p = &d->p;
    if (p->levels >= 2) {
        const float steps = (float)(p->levels - 1);
        for (int64_t i = 0; i < n; i++) out[i] = rintf(clamp01(target[i]) * steps) / steps;
    } else if (p->n_level_table > 0) {
        const float *lv = p->level_table;
        const int m = p->n_level_table;
        for (int64_t i = 0; i < n; i++) {
            float x = clamp01(target[i]);
            int lo = 0, hi = m - 1;   /* the last level <= x, by bisection */
            if (x <= lv[0]) {
                out[i] = lv[0];
                continue;
            }
            if (x >= lv[m - 1]) {
                out[i] = lv[m - 1];
                continue;
            }
            while (hi - lo > 1) {
                int mid = (lo + hi) / 2;
                if (lv[mid] <= x) lo = mid;
                else hi = mid;
            }
            out[i] = x - lv[lo] <= lv[hi] - x ? lv[lo] : lv[hi];
        }
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = clamp01(target[i]);
    }
}

nm_status nm_device_sample(const nm_device *d, const float *target, int64_t n, double t, uint64_t seed, float *g) {
    CHECK(n >= 0, "device sample: n must be >= 0, not %lld", (long long)n);
    CHECK(isfinite(t) && t >= 0.0, "device sample: time must be >= 0 s, not %g", t);
    if (n == 0) return NM_OK;
    const int ns = d->ops->n_state;
    float *q = nm_alloc((size_t)n * sizeof *q), *gp = nm_alloc((size_t)n * sizeof *gp);
    float *state = ns > 0 ? nm_alloc((size_t)n * (size_t)ns * sizeof *state) : NULL;
    if (!q || !gp || (ns > 0 && !state)) {
        nm_free(q);
        nm_free(gp);
        nm_free(state);
        return nm__error(NM_NOMEM, "device sample: out of memory for %lld devices", (long long)n);
    }
    /* Stream 0 for the devices (programming and the draws of time t), a separate one for
    ** the fresh noise of the read. */
    nm_device_quantize(d, target, n, q);
    d->ops->program(d, q, n, seed, 0, gp, state);
    d->ops->at_time(d, gp, state, n, t, seed, 0, g);
    if (d->ops->read_sigma) {
        const uint64_t s = sub_stream(0, TAG_READ);
        #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float sd = d->ops->read_sigma(d, g[i]);
            if (sd > 0.0f) {
                float z[2];
                nm_hw_normal2(seed, s, (uint64_t)i, z);
                float v = g[i] + sd * z[0];
                g[i] = v > 0.0f ? v : 0.0f;
            }
        }
    }
    nm_free(q);
    nm_free(gp);
    nm_free(state);
    return NM_OK;
}

/* ---- measured tables ---------------------------------------------------------------------------- */

/* Sets p's kind, n_table and table; its other fields (g_max_us, levels, read_sigma) stay as
** the caller set them. */
nm_status nm_device_table_load(const char *path, nm_device_params *p) {
    FILE *f = fopen(path, "r");
    if (!f) return nm__error(NM_IO, "cannot open device table '%s': %s", path, strerror(errno));
    /* Parsed aside, so a bad file leaves p as it was. */
    float rows[NM_DEV_MAX_TABLE][3];
    int n = 0, line_no = 0;
    char line[1024];
    nm_status st = NM_OK;
    while (fgets(line, sizeof line, f)) {
        line_no++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
            st = nm__error(NM_FORMAT, "'%s' line %d: line too long", path, line_no);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
        if (!*s) continue;   /* blank or comment */
        double v[3];
        int k = 0;
        char *end;
        for (; k < 3; k++) {
            errno = 0;
            v[k] = strtod(s, &end);
            /* the table is kept in float: a value beyond FLT_MAX would become inf */
            if (end == s || errno == ERANGE || !isfinite(v[k]) || fabs(v[k]) > FLT_MAX) break;
            s = end;
        }
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
        if (k < 3 || *s) {
            st = nm__error(NM_FORMAT, "'%s' line %d: expected three numbers 'target mean std'", path, line_no);
            break;
        }
        if (n == NM_DEV_MAX_TABLE) {
            st = nm__error(NM_FORMAT, "'%s' line %d: more than %d rows", path, line_no, NM_DEV_MAX_TABLE);
            break;
        }
        if (v[0] < 0.0 || v[0] > 1.0) {
            st = nm__error(NM_FORMAT, "'%s' line %d: target %g must be in [0, 1] (units of g_max)", path, line_no, v[0]);
            break;
        }
        if (n > 0 && !((float)v[0] > rows[n - 1][0])) {
            st = nm__error(NM_FORMAT, "'%s' line %d: targets must be strictly ascending (%g follows %g)", path, line_no,
                           v[0], (double)rows[n - 1][0]);
            break;
        }
        if (v[1] < 0.0) {
            st = nm__error(NM_FORMAT, "'%s' line %d: mean must be >= 0, not %g", path, line_no, v[1]);
            break;
        }
        if (v[2] < 0.0) {
            st = nm__error(NM_FORMAT, "'%s' line %d: std must be >= 0, not %g", path, line_no, v[2]);
            break;
        }
        rows[n][0] = (float)v[0];
        rows[n][1] = (float)v[1];
        rows[n][2] = (float)v[2];
        n++;
    }
    if (!st && ferror(f)) st = nm__error(NM_IO, "cannot read device table '%s': %s", path, strerror(errno));
    fclose(f);
    if (st) return st;
    if (n < 2) return nm__error(NM_FORMAT, "'%s': a device table needs at least 2 rows 'target mean std', found %d", path, n);
    p->kind = NM_DEV_TABLE;
    p->n_table = n;
    memcpy(p->table, rows, (size_t)n * sizeof rows[0]);
    return NM_OK;
}

/* ---- noise injection ---------------------------------------------------------------- */

nm_status nm_device_noise_fn(void *ctx, int node, const float *w, int64_t n, uint64_t key, float *out) {
    const nm_device_noise *dn = ctx;
    const nm_device *d = dn->dev;
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w[i]));
    if (n == 0 || amax == 0.0f) {
        memmove(out, w, sizeof(float) * (size_t)n);
        return NM_OK;
    }
    const int ns = d->ops->n_state;
    /* targets, then the programmed and read conductances of G+ (0) and G- (1) */
    float *q = nm_alloc(sizeof(float) * 2 * (size_t)n), *gp = nm_alloc(sizeof(float) * 2 * (size_t)n);
    float *g = nm_alloc(sizeof(float) * 2 * (size_t)n);
    float *state = ns > 0 ? nm_alloc(sizeof(float) * 2 * (size_t)n * (size_t)ns) : NULL;
    if (!q || !gp || !g || (ns > 0 && !state)) {
        nm_free(q), nm_free(gp), nm_free(g), nm_free(state);
        return nm__error(NM_NOMEM, "device noise: out of memory for %lld weights", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        q[i] = w[i] > 0.0f ? w[i] / amax : 0.0f;
        q[n + i] = w[i] < 0.0f ? -w[i] / amax : 0.0f;
    }
    nm_device_quantize(d, q, 2 * n, q);
    const uint64_t seed = nm__hw_mix64(dn->seed ^ nm__hw_mix64(key + 1));
    for (int side = 0; side < 2; side++) {
        const uint64_t stream = 2 * (uint64_t)node + (uint64_t)side;
        float *st = state ? state + (size_t)side * (size_t)n * (size_t)ns : NULL;
        d->ops->program(d, q + side * n, n, seed, stream, gp + side * n, st);
        d->ops->at_time(d, gp + side * n, st, n, 0.0, seed, stream, g + side * n);
    }
    for (int64_t i = 0; i < n; i++) {
        const float target = amax * (q[i] - q[n + i]), got = amax * (g[i] - g[n + i]);
        out[i] = target + dn->scale * (got - target);
    }
    nm_free(q), nm_free(gp), nm_free(g), nm_free(state);
    return NM_OK;
}
