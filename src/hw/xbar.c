/*
** Crossbar tiles: a weight matrix W (n_out, n_in) held as differential pairs of analog
** devices, read through a DAC, the arrays (IR drop, read noise), an ADC per tile and a
** digital sum, in the manner of aihwkit's InferenceRPUConfig forward pass.
**
** Mapping (aihwkit's converters). s = max|W| maps to g_max; w = W / s in [-1, 1]. With one
** pair G+ = max(w, 0), G- = max(-w, 0). With P pairs of significance F_k = pair_base^k
** (pair 0 least significant) and R = sum F_k, |w| R is spread so that lower pairs fill
** first: pair k gets clip((|w| R - lower_k) / F_k, 0, 1), lower_k = sum_{i<k} F_i, on the
** side of w's sign. The array then holds Weff = sum_k (F_k / R) (G+_k - G-_k), in units of
** w; the weight is Weff s.
**
** One read, forward (x (m, n_in) -> y (m, n_out)); the transposed read is the same with
** Weff^T, inputs on the columns:
**   1. alpha_r = max_j |x_rj| (ABSMAX) or 1 (CONSTANT); x' = x / alpha_r.
**   2. DAC: x_q = clip(round(x' / step) step, +-dac_range), step = 2 dac_range / (2^bits - 2);
**      u = x_q / dac_range (units of full-scale input).
**   3. Per input block of a tile (n inputs), for every output i:
**        z_i = sum_j Weff_ij u_j
**        IR drop (aihwkit applyIrDrop): a_i = (n / ir_g_ratio) sum_j |Weff_ij| |u_j|,
**          c_i = a_i (0.05 a_i^2 - 0.2 a_i + 0.5), f_j = 1 - (1 - jj/n)^2 (jj: index in the
**          tile), z_i -= ir_drop c_i sum_j Weff_ij u_j f_j
**        read + ADC noise: z_i += sqrt(sum_j V_ij u_j^2 + adc_noise^2) xi
**        ADC: z_i = clip(round(z_i / step) step, +-adc_range), step = 2 adc_range / (2^bits - 2)
**   4. y_ri = (sum over the input blocks of z_i) s dac_range alpha_r c_i, c_i the drift
**      compensation's factor (1 without; below).
** Output tiles need no separate treatment: an output's partial sum depends only on the
** input block, and every output of a block is its own column (own ADC).
**
** Read noise referred to the output. Every device of a read adds its own fresh Gaussian
** noise n ~ N(0, read_sigma(g)^2) to its conductance; with V_ij = sum_{k,+-} (F_k/R)^2
** read_sigma(g)^2 the noise of z_i is sum_j u_j (noise of Weff_ij), a sum of independent
** zero-mean Gaussians, hence exactly N(0, sum_j V_ij u_j^2): one normal per output instead
** of one per device (CrossSim draws a noisy copy of the whole matrix per read). This is
** exact when the device noise is independent, zero-mean Gaussian and enters the product
** linearly. It is not exact (a) when a real read clips a conductance at 0 after a negative
** draw (biases small conductances upward; the shortcut lets them go negative), (b) together
** with IR drop, which is non-linear in G (a_i and c_i would see the noisy |Weff|; here the
** IR-drop term uses the noise-free Weff, a second-order error ~ ir_drop c_i sigma), and (c)
** for non-Gaussian device noise (the sum is then Gaussian only in the limit of many inputs).
**
** Randomness: programming draws come from the device with (seed, stream mixed with pair and
** sign). The read noise of (row r, input block b, output i) is the standard normal at linear
** index L = (r n_b + b) n_o + i of (seed', read_id), seed' a hash of the programming seed and
** the direction: Philox-4x32-10 block L / 4 keyed like nm_rng and nm_hw_normal2, Box-Muller
** in float (below, "read-noise normals"; ~11x cheaper than nm_hw_normal2, which would cost
** more than the product itself in a batched read). Every value is a pure function of its
** index, so a result is the same whatever the thread count, and the same read_id gives the
** same noise.
**
** Drift compensation (aihwkit's GlobalDriftCompensation and PerColumnDriftCompensation, read
** the way a chip would). Right after programming, whatever the mode, the crossbar takes a
** reference read: every row at the DAC's full-scale code (u = 1, exact on any DAC grid, so
** the DAC neither rounds nor clips it), both devices of every pair driven with the same
** sign, so output i's reference is ref_i = sum_j sum_k (F_k/R) (G+_ijk + G-_ijk), a sum that
** never cancels. It carries what a real read carries per tile output: the read noise (the
** variance sum_j V_ij of the same output-referred model, u_j = 1), the ADC noise and the
** ADC's rounding, with the tiles summed digitally. It is not clipped at +-adc_range: a whole
** column's current is far above the range set for signal reads (a 256-row tile whose
** devices average g_max / 4 reads 64, against the default 12), so a chip reads its reference
** in a range set for the purpose; the ADC's step and noise are kept as the conservative part
** of that. IR drop is left out: its first-order fit is one of signal reads, and without it
** the reference is a plain ratio of conductance sums. The reference's noise has its own key,
** tied to the time (read_reference below), so one state always reads the same reference.
** Under GLOBAL or COLUMN every set_time(t) reads the reference again and sets
** c = ref_0 / ref_t: one factor from the sums over all outputs (GLOBAL), or one per output
** (COLUMN; an output whose reference is at the noise floor keeps 1). Step 4 multiplies
** output i of every forward read by c_i, digitally, after the ADC and the tile sum: the
** m = 1 kernels see one more multiply per output, not per weight. The transposed read
** applies GLOBAL's factor to its outputs the same way; under COLUMN, c_i belongs to row i of
** W (an input of the transposed read), so input x_i is multiplied by c_i digitally before
** input scaling and DAC, which makes backward the exact transpose of the compensated forward
** (x diag(c) W). nm_xbar_weights stays the raw weights the arrays hold, without the factors
** (nm_xbar_drift_scale gives them). A uniform drift G(t) = k G(0) gives c = 1/k and is
** undone to float rounding (without read noise and ADC); set_time(0) gives c = 1 exactly.
**
** Speed (bench/bench_xbar.c, 1024 x 1024, 1 thread). m == 1, the per-sample MVM, goes
** through fused kernels that stream Weff once (and V, as bfloat16, only with read noise),
** every partial sum of a tile output in one pass: forward as dot products over four rows at
** once (vectorized reductions, four independent chains, |Weff| taken on the fly for IR drop);
** the transposed read as axpy sweeps of whole rows of Weff over each thread's contiguous
** range of columns. Ideal reads and IR drop run at sgemv speed; read noise adds V's bytes.
** m > 1 goes in chunks of CHUNK rows through nm_sgemm, one product per input block, plus
** |u| |Weff|^T and (u f) Weff^T with IR drop and u^2 V^T with read noise. Threads split
** outputs, columns or rows, never a sum, so results are bit-identical for any thread count.
** m == 1 and m > 1 differ in float rounding only. forward/backward do not allocate: their
** scratch is sized at create. They are not reentrant on one crossbar.
*/
#include <neuromorph/hw.h>

#include "hw_impl.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* 512-bit vectors where the build targets AVX-512 (GCC defaults to 256 there): the m = 1
** kernels do a handful of operations per weight and load, and this halves them. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
#pragma GCC target("prefer-vector-width=512")
#endif

/* Multiply-add in the kernels: one rounding where the target has FMA. GCC under -std=c11
** does not contract a * b + c, so it gets fmaf; clang contracts the expression itself (and
** does not see fmaf chains as reductions to vectorize). */
#if defined(__FMA__) && !defined(__clang__)
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

#define CHUNK    128   /* rows per batched pass: scratch is 8 x CHUNK x max(n_in, n_out) floats */
#define FWD_OB   64    /* outputs per thread task in the fused forward (a multiple of 4)        */
#define NRM_TASK 4096  /* normals per thread task when a row's normals are made up front       */
/* Elements of work below which a loop stays on one thread: a parallel region costs a few us,
** and far more on a loaded machine, where each barrier waits for a descheduled thread. The
** test depends on sizes only, so results stay independent of the thread count. */
#define PAR_MIN  32768
#define MAX_DIM  (INT64_C(1) << 31)   /* per dimension: BLAS takes ints                         */

struct nm_xbar {
    nm_xbar_config  cfg;
    const nm_device *dev;
    int64_t n_out, n_in, n_w;      /* n_w = n_out n_in devices per pair side                   */
    int64_t n_rt, n_ct;            /* tiles along the inputs (rows), along the outputs (cols)  */
    int     n_dev;                 /* 2 n_pairs device arrays: array 2k is G+_k, 2k+1 is G-_k  */
    int     n_state;
    float   fk[4];                 /* F_k / R                                                  */
    int     programmed;
    uint64_t seed, stream;
    double  t;
    float   scale;                 /* s = max|W|                                               */
    float  *g_prog;                /* (n_dev, n_w) conductances right after programming, g_max */
    float  *state;                 /* (n_dev, n_w, n_state) per-device state                   */
    float  *g;                     /* (n_dev, n_w) conductances at time t                      */
    float  *weff;                  /* (n_out, n_in) effective weights, units of w (no s)       */
    float  *wabs;                  /* (n_out, n_in) |weff|, only with IR drop                  */
    float  *var;                   /* (n_out, n_in) read-noise variance of weff, units of w^2  */
    uint16_t *var16;               /* (n_out, n_in) var as bfloat16, for the m = 1 kernels     */
    float  *wout;                  /* (n_out, n_in) weff s                                     */
    int     has_var;               /* some V_ij > 0                                            */
    float  *f_in, *f_out;          /* (n_in), (n_out): IR-drop position factors, fwd and bwd   */
    float  *alpha;                 /* (CHUNK) input scale per row                              */
    float  *xi;                    /* (max(n_rt n_out, n_ct n_in)) one row's read-noise normals */
    float  *bu[4];                 /* (CHUNK, n_max) each: u, |u|, u f, u^2                    */
    float  *bz[4];                 /* (CHUNK, n_max) each: z, a, zf, q partial sums            */
    /* drift compensation (the section "drift compensation" below) */
    nm_drift_comp comp;
    float  *ref0, *ref;            /* (n_out) column references at t = 0 and now, units of
                                   ** g_max x full-scale input (summed over the input tiles)    */
    float  *refz;                  /* (n_out, n_rt) one reference read's tile outputs          */
    float  *dscale;                /* (n_out) factors on the forward outputs (1: none)         */
    float  *bscale;                /* (n_in) factors on the transposed outputs (GLOBAL's, or 1) */
    /* selective re-programming (nm_xbar_reprogram), allocated at its first use */
    int64_t *rp_idx;               /* (n_w) the weights to write                               */
    float  *rp_buf;                /* (n_w (3 + n_state)) their targets, quantized, programmed, state */
};

/* ---- configuration ------------------------------------------------------------ */

void nm_xbar_config_default(nm_xbar_config *c) {
    memset(c, 0, sizeof *c);
    c->tile_rows = c->tile_cols = 256;
    c->n_pairs = 1;
    c->pair_base = 4.0f;
    c->input_scaling = NM_INSCALE_ABSMAX;
    c->dac_bits = 0;
    c->dac_range = 1.0f;
    c->adc_bits = 0;
    c->adc_range = 12.0f;   /* aihwkit out_bound */
    c->adc_noise = 0.0f;
    c->ir_drop = 0.0f;
    c->ir_g_ratio = 5.714e5f;   /* 1 / (0.35 ohm x 5 uS), aihwkit */
}

#define CHECK(cond, ...)                                      \
    do {                                                      \
        if (!(cond)) return nm__error(NM_INVAL, __VA_ARGS__); \
    } while (0)

nm_status nm_xbar_config_check(const nm_xbar_config *c) {
    CHECK(c, "xbar: config must not be NULL");
    CHECK(c->tile_rows >= 1 && c->tile_rows <= 65536, "xbar: tile_rows must be in [1, 65536], not %d", c->tile_rows);
    CHECK(c->tile_cols >= 1 && c->tile_cols <= 65536, "xbar: tile_cols must be in [1, 65536], not %d", c->tile_cols);
    CHECK(c->n_pairs >= 1 && c->n_pairs <= 4, "xbar: n_pairs must be in [1, 4], not %d", c->n_pairs);
    CHECK(isfinite(c->pair_base) && c->pair_base >= 1.0f && c->pair_base <= 1024.0f,
          "xbar: pair_base must be in [1, 1024], not %g", (double)c->pair_base);
    CHECK(c->input_scaling == NM_INSCALE_ABSMAX || c->input_scaling == NM_INSCALE_CONSTANT,
          "xbar: input_scaling must be absmax (0) or constant (1), not %d", (int)c->input_scaling);
    /* A signed converter of b bits has 2^b - 2 steps over its range: b = 1 has none. */
    CHECK(c->dac_bits == 0 || (c->dac_bits >= 2 && c->dac_bits <= 24),
          "xbar: dac_bits must be 0 (ideal) or in [2, 24], not %d", c->dac_bits);
    CHECK(isfinite(c->dac_range) && c->dac_range > 0.0f, "xbar: dac_range must be positive, not %g",
          (double)c->dac_range);
    CHECK(c->adc_bits == 0 || (c->adc_bits >= 2 && c->adc_bits <= 24),
          "xbar: adc_bits must be 0 (ideal) or in [2, 24], not %d", c->adc_bits);
    CHECK(isfinite(c->adc_range) && c->adc_range > 0.0f, "xbar: adc_range must be positive, not %g",
          (double)c->adc_range);
    CHECK(isfinite(c->adc_noise) && c->adc_noise >= 0.0f, "xbar: adc_noise must be >= 0, not %g",
          (double)c->adc_noise);
    CHECK(isfinite(c->ir_drop) && c->ir_drop >= 0.0f, "xbar: ir_drop must be >= 0, not %g", (double)c->ir_drop);
    CHECK(isfinite(c->ir_g_ratio) && c->ir_g_ratio > 0.0f, "xbar: ir_g_ratio must be positive, not %g",
          (double)c->ir_g_ratio);
    return NM_OK;
}

/* ---- life cycle --------------------------------------------------------------- */

/* splitmix64's step: the golden-ratio increment, then the shared finalizer. */
static uint64_t mix64(uint64_t x) { return nm__hw_mix64(x + 0x9E3779B97F4A7C15ull); }

/* The stream of device array d (pair d / 2, side d % 2): every array has its own draws. */
static uint64_t dev_stream(uint64_t stream, int d) { return mix64(mix64(stream) + (uint64_t)d + 1); }

/* The key of the read noise: the programming seed, hashed apart per direction. */
static uint64_t read_seed(const nm_xbar *xb, int bwd) {
    return mix64(xb->seed ^ (bwd ? 0x6277645F72656164ull : 0x6677645F72656164ull));
}

/* f (n): 1 - (1 - jj/nb)^2 with jj the index inside its block of `tile` and nb the block's size. */
static void ir_factors(float *f, int64_t n, int64_t tile) {
    for (int64_t j0 = 0; j0 < n; j0 += tile) {
        const int64_t nb = n - j0 < tile ? n - j0 : tile;
        for (int64_t jj = 0; jj < nb; jj++) {
            const double d = 1.0 - (double)jj / (double)nb;
            f[j0 + jj] = (float)(1.0 - d * d);
        }
    }
}

void nm_xbar_destroy(nm_xbar *xb) {
    if (!xb) return;
    nm_free(xb->g_prog);
    nm_free(xb->state);
    nm_free(xb->g);
    nm_free(xb->weff);
    nm_free(xb->wabs);
    nm_free(xb->var);
    nm_free(xb->var16);
    nm_free(xb->wout);
    nm_free(xb->f_in);
    nm_free(xb->f_out);
    nm_free(xb->alpha);
    nm_free(xb->xi);
    nm_free(xb->ref0);
    nm_free(xb->ref);
    nm_free(xb->refz);
    nm_free(xb->dscale);
    nm_free(xb->bscale);
    nm_free(xb->rp_idx);
    nm_free(xb->rp_buf);
    for (int k = 0; k < 4; k++) {
        nm_free(xb->bu[k]);
        nm_free(xb->bz[k]);
    }
    nm_free(xb);
}

nm_status nm_xbar_create(const nm_xbar_config *cfg, const nm_device *dev, int64_t n_out, int64_t n_in, nm_xbar **out) {
    NM_ASSERT(out);
    *out = NULL;
    nm_status rc = nm_xbar_config_check(cfg);
    if (rc) return rc;
    CHECK(dev && dev->ops && dev->ops->program && dev->ops->at_time,
          "xbar: a device with program and at_time is needed");
    CHECK(n_out >= 1 && n_out < MAX_DIM, "xbar: n_out must be in [1, 2^31), not %lld", (long long)n_out);
    CHECK(n_in >= 1 && n_in < MAX_DIM, "xbar: n_in must be in [1, 2^31), not %lld", (long long)n_in);
    const int n_state = dev->ops->n_state > 0 ? dev->ops->n_state : 0;
    const int64_t n_w = n_out * n_in, n_dev = 2 * (int64_t)cfg->n_pairs;
    /* Every buffer must be addressable: the largest is n_dev n_w n_state floats. */
    CHECK(n_w <= (INT64_MAX / 4) / (n_dev * (n_state > 0 ? n_state : 1)), "xbar: %lld x %lld weights are too many",
          (long long)n_out, (long long)n_in);

    nm_xbar *xb = nm_alloc(sizeof *xb);
    if (!xb) return nm__error(NM_NOMEM, "xbar: out of memory");
    xb->cfg = *cfg;
    xb->dev = dev;
    xb->n_out = n_out;
    xb->n_in = n_in;
    xb->n_w = n_w;
    xb->n_rt = (n_in + cfg->tile_rows - 1) / cfg->tile_rows;
    xb->n_ct = (n_out + cfg->tile_cols - 1) / cfg->tile_cols;
    xb->n_dev = (int)n_dev;
    xb->n_state = n_state;
    xb->scale = 1.0f;
    double F = 1.0, R = 0.0;
    for (int k = 0; k < cfg->n_pairs; k++, F *= cfg->pair_base) R += F;
    F = 1.0;
    for (int k = 0; k < cfg->n_pairs; k++, F *= cfg->pair_base) xb->fk[k] = (float)(F / R);

    const size_t w = (size_t)n_w * sizeof(float), n_max = (size_t)(n_in > n_out ? n_in : n_out);
    const size_t chunk = CHUNK * n_max * sizeof(float);
    const int ir = cfg->ir_drop > 0.0f;
    xb->g_prog = nm_alloc((size_t)n_dev * w);
    xb->g = nm_alloc((size_t)n_dev * w);
    xb->state = n_state ? nm_alloc((size_t)n_dev * (size_t)n_state * w) : NULL;
    xb->weff = nm_alloc(w);
    xb->wabs = ir ? nm_alloc(w) : NULL;
    xb->var = nm_alloc(w);
    xb->var16 = nm_alloc((size_t)n_w * sizeof(uint16_t));
    xb->wout = nm_alloc(w);
    xb->f_in = nm_alloc((size_t)n_in * sizeof(float));
    xb->f_out = nm_alloc((size_t)n_out * sizeof(float));
    xb->alpha = nm_alloc(CHUNK * sizeof(float));
    const int64_t n_xi = xb->n_rt * n_out > xb->n_ct * n_in ? xb->n_rt * n_out : xb->n_ct * n_in;
    xb->xi = nm_alloc((size_t)n_xi * sizeof(float));
    xb->ref0 = nm_alloc((size_t)n_out * sizeof(float));
    xb->ref = nm_alloc((size_t)n_out * sizeof(float));
    xb->refz = nm_alloc((size_t)(n_out * xb->n_rt) * sizeof(float));
    xb->dscale = nm_alloc((size_t)n_out * sizeof(float));
    xb->bscale = nm_alloc((size_t)n_in * sizeof(float));
    /* u and z always; |u|, u f, a, zf only with IR drop; u^2 and q for read noise (whether the
    ** device has any is known only after programming, so always). */
    for (int k = 0; k < 4; k++) {
        const int need = k == 0 || k == 3 || ir;
        xb->bu[k] = need ? nm_alloc(chunk) : NULL;
        xb->bz[k] = need ? nm_alloc(chunk) : NULL;
        if (need && (!xb->bu[k] || !xb->bz[k])) goto nomem;
    }
    if (!xb->g_prog || !xb->g || (n_state && !xb->state) || !xb->weff || (ir && !xb->wabs) || !xb->var ||
        !xb->var16 || !xb->wout || !xb->f_in || !xb->f_out || !xb->alpha || !xb->xi || !xb->ref0 || !xb->ref ||
        !xb->refz || !xb->dscale || !xb->bscale)
        goto nomem;
    xb->comp = NM_DRIFT_COMP_NONE;
    for (int64_t i = 0; i < n_out; i++) xb->dscale[i] = 1.0f;
    for (int64_t j = 0; j < n_in; j++) xb->bscale[j] = 1.0f;
    ir_factors(xb->f_in, n_in, cfg->tile_rows);
    ir_factors(xb->f_out, n_out, cfg->tile_cols);
    *out = xb;
    return NM_OK;
nomem:
    nm_xbar_destroy(xb);
    return nm__error(NM_NOMEM, "xbar: out of memory for %lld x %lld weights", (long long)n_out, (long long)n_in);
}

int64_t nm_xbar_n_tiles(const nm_xbar *xb) { return xb->n_rt * xb->n_ct; }

/* ---- programming and time ------------------------------------------------------- */

static void arrays_at(nm_xbar *xb, double t);
static void drift_baseline(nm_xbar *xb);
static void drift_update(nm_xbar *xb);

/* How a weight spreads over the pairs: |w| R (R = sum of F_k) filled from the lowest pair up,
** pair k holding (|w| R - lo_k) / F_k, lo_k the sum of the F below it. */
typedef struct pair_map {
    int   P;
    float R, lo[4], inv_F[4];
} pair_map;

static pair_map pair_map_of(const nm_xbar *xb) {
    pair_map m = {xb->cfg.n_pairs, 0.0f, {0}, {0}};
    double R = 0.0, F = 1.0;
    for (int k = 0; k < m.P; k++, F *= xb->cfg.pair_base) {
        m.lo[k] = (float)R;
        m.inv_F[k] = (float)(1.0 / F);
        R += F;
    }
    m.R = (float)R;
    return m;
}

/* The conductance (units of g_max) of pair k's side (0 holds w > 0, 1 holds w < 0) for a
** weight w = W / s. */
static inline float pair_target(float w, int side, const pair_map *m, int k) {
    const float mag = side ? -w : w;
    if (!(mag > 0.0f)) return 0.0f;
    const float g = m->P == 1 ? mag : (mag * m->R - m->lo[k]) * m->inv_F[k];
    return g < 0.0f ? 0.0f : (g > 1.0f ? 1.0f : g);
}

nm_status nm_xbar_program(nm_xbar *xb, const float *W, uint64_t seed, uint64_t stream) {
    NM_ASSERT(xb && W);
    const int64_t n_w = xb->n_w;
    float s = 0.0f;
    for (int64_t e = 0; e < n_w; e++) {
        const float a = fabsf(W[e]);
        if (!isfinite(a))
            return nm__error(NM_INVAL, "xbar program: W[%lld, %lld] = %g is not finite", (long long)(e / xb->n_in),
                             (long long)(e % xb->n_in), (double)W[e]);
        if (a > s) s = a;
    }
    if (s == 0.0f) s = 1.0f;   /* all zero: any scale maps it to zero conductances */
    /* the targets go through weff and var, which arrays_at rewrites below: a chip in a
    ** training loop re-programs every step, and fresh buffers would cost page faults */
    float *target = xb->weff, *tq = xb->var;
    const pair_map pm = pair_map_of(xb);
    for (int k = 0; k < pm.P; k++) {
        for (int side = 0; side < 2; side++) {
            const int d = 2 * k + side;
            #pragma omp parallel for schedule(static) if (n_w >= PAR_MIN)
            for (int64_t e = 0; e < n_w; e++) target[e] = pair_target(W[e] / s, side, &pm, k);
            nm_device_quantize(xb->dev, target, n_w, tq);
            xb->dev->ops->program(xb->dev, tq, n_w, seed, dev_stream(stream, d), xb->g_prog + (size_t)d * n_w,
                                  xb->n_state ? xb->state + (size_t)d * n_w * xb->n_state : NULL);
        }
    }
    xb->scale = s;
    xb->seed = seed;
    xb->stream = stream;
    xb->programmed = 1;
    arrays_at(xb, 0.0);
    drift_baseline(xb);
    return NM_OK;
}

nm_status nm_xbar_reprogram(nm_xbar *xb, const float *W, float *W_last, float tol, uint64_t seed, int64_t *n_written) {
    NM_ASSERT(xb && W && W_last);
    if (n_written) *n_written = 0;
    if (!xb->programmed) return nm__error(NM_INVAL, "xbar reprogram: the crossbar was never programmed");
    if (!(isfinite(tol) && tol >= 0.0f)) return nm__error(NM_INVAL, "xbar reprogram: tol must be >= 0, not %g", (double)tol);
    const int64_t n_w = xb->n_w;
    const int ns = xb->n_state;
    if (!xb->rp_idx) {
        xb->rp_idx = nm_alloc(sizeof(int64_t) * n_w);
        xb->rp_buf = nm_alloc(sizeof(float) * n_w * (3 + ns));
        if (!xb->rp_idx || !xb->rp_buf) return nm__error(NM_NOMEM, "xbar reprogram: out of memory");
    }
    /* the scale stays: a weight beyond it saturates its device at g_max, as on a chip */
    const float s = xb->scale, lim = tol * s;
    int64_t m = 0;
    for (int64_t e = 0; e < n_w; e++) {
        if (!isfinite(W[e]))
            return nm__error(NM_INVAL, "xbar reprogram: W[%lld, %lld] = %g is not finite", (long long)(e / xb->n_in),
                             (long long)(e % xb->n_in), (double)W[e]);
        if (fabsf(W[e] - W_last[e]) > lim) xb->rp_idx[m++] = e;
    }
    if (n_written) *n_written = m;
    if (m == 0) return NM_OK;
    float *tgt = xb->rp_buf, *tq = tgt + n_w, *gp = tq + n_w, *st = gp + n_w;
    const pair_map pm = pair_map_of(xb);
    for (int k = 0; k < pm.P; k++) {
        for (int side = 0; side < 2; side++) {
            const int d = 2 * k + side;
            for (int64_t q = 0; q < m; q++) tgt[q] = pair_target(W[xb->rp_idx[q]] / s, side, &pm, k);
            nm_device_quantize(xb->dev, tgt, m, tq);
            /* the stream is the crossbar's; a fresh seed keys this write's draws */
            xb->dev->ops->program(xb->dev, tq, m, seed, dev_stream(xb->stream, d), gp, ns ? st : NULL);
            float *gd = xb->g_prog + (size_t)d * n_w, *sd = ns ? xb->state + (size_t)d * n_w * ns : NULL;
            for (int64_t q = 0; q < m; q++) {
                const int64_t e = xb->rp_idx[q];
                gd[e] = gp[q];
                for (int c = 0; c < ns; c++) sd[e * ns + c] = st[q * ns + c];
            }
        }
    }
    for (int64_t q = 0; q < m; q++) W_last[xb->rp_idx[q]] = W[xb->rp_idx[q]];
    arrays_at(xb, 0.0);
    drift_baseline(xb);
    return NM_OK;
}

/* bfloat16: the top 16 bits of a float, rounded to nearest even (v >= 0 and finite here).
** The m = 1 kernels stream V in this form: it halves the bytes V adds to a read, and a
** variance good to 2^-9 gives the noise std to 0.1%. */
static inline uint16_t to_bf16(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b += 0x7FFFu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

static inline float from_bf16(uint16_t h) {
    const uint32_t b = (uint32_t)h << 16;
    float v;
    memcpy(&v, &b, sizeof v);
    return v;
}

nm_status nm_xbar_set_time(nm_xbar *xb, double t) {
    NM_ASSERT(xb);
    if (!(isfinite(t) && t >= 0.0)) return nm__error(NM_INVAL, "xbar: time must be >= 0 s, not %g", t);
    if (!xb->programmed) return nm__error(NM_INVAL, "xbar: set_time before the crossbar is programmed");
    arrays_at(xb, t);
    if (xb->comp != NM_DRIFT_COMP_NONE) drift_update(xb);
    return NM_OK;
}

/* The conductances at t (>= 0, programmed) and everything derived from them: Weff, |Weff|,
** V (float and bfloat16) and the weights. */
static void arrays_at(nm_xbar *xb, double t) {
    const int64_t n_w = xb->n_w;
    const nm_device *dev = xb->dev;
    for (int d = 0; d < xb->n_dev; d++)
        dev->ops->at_time(dev, xb->g_prog + (size_t)d * n_w,
                          xb->n_state ? xb->state + (size_t)d * n_w * xb->n_state : NULL, n_w, t, xb->seed,
                          dev_stream(xb->stream, d), xb->g + (size_t)d * n_w);
    float (*rs)(const nm_device *, float) = dev->ops->read_sigma;
    const int n_dev = xb->n_dev;
    const float s = xb->scale;
    const float *g = xb->g, *fk = xb->fk;
    float *weff = xb->weff, *var = xb->var, *wout = xb->wout, *wabs = xb->wabs;
    uint16_t *var16 = xb->var16;
    int has_var = 0;
    #pragma omp parallel for schedule(static) reduction(| : has_var) if (n_w >= PAR_MIN)
    for (int64_t e = 0; e < n_w; e++) {
        float we = 0.0f, v = 0.0f;
        for (int d = 0; d < n_dev; d += 2) {
            const float gp = g[(size_t)d * n_w + e], gm = g[(size_t)(d + 1) * n_w + e], f = fk[d / 2];
            we += f * (gp - gm);
            if (rs) {
                const float sp = rs(dev, gp), sm = rs(dev, gm);
                v += f * f * (sp * sp + sm * sm);
            }
        }
        weff[e] = we;
        var[e] = v;
        var16[e] = to_bf16(v);
        wout[e] = we * s;
        if (wabs) wabs[e] = fabsf(we);
        has_var |= v > 0.0f;
    }
    xb->has_var = has_var;
    xb->t = t;
}

double nm_xbar_time(const nm_xbar *xb) { return xb->t; }

/* The raw weights the arrays hold (drift included, drift compensation not applied). */
const float *nm_xbar_weights(const nm_xbar *xb) { return xb->wout; }

void nm_xbar_conductances(const nm_xbar *xb, float *g_plus, float *g_minus) {
    const size_t w = (size_t)xb->n_w * sizeof(float);
    if (g_plus) memcpy(g_plus, xb->g, w);
    if (g_minus) memcpy(g_minus, xb->g + xb->n_w, w);
}

/* ---- the read ---------------------------------------------------------------------- */

/* What one direction of reading needs, fixed per call. */
typedef struct rd {
    int     bwd;
    int64_t n_i, n_o;       /* inputs and outputs of this read                          */
    int64_t tb, n_b;        /* inputs per tile, input blocks                             */
    const float *f;         /* (n_i) IR-drop position factors                            */
    uint64_t seed, stream;  /* read noise key                                            */
    int     absmax, dac_q, adc_q, ir, noise, var;
    float   dac_range, dac_step, adc_range, adc_step, ir_drop, ir_g_ratio, noise2;
    float   out_scale;      /* s dac_range                                               */
    const float *pre;       /* (n_i) factors on the inputs (transposed read, COLUMN) or NULL */
    const float *post;      /* (n_o) drift factors on the outputs (1: none)              */
} rd;

static void rd_init(const nm_xbar *xb, int bwd, uint64_t read_id, rd *r) {
    const nm_xbar_config *c = &xb->cfg;
    r->bwd = bwd;
    r->n_i = bwd ? xb->n_out : xb->n_in;
    r->n_o = bwd ? xb->n_in : xb->n_out;
    r->tb = bwd ? c->tile_cols : c->tile_rows;
    r->n_b = (r->n_i + r->tb - 1) / r->tb;
    r->f = bwd ? xb->f_out : xb->f_in;
    r->seed = read_seed(xb, bwd);
    r->stream = read_id;
    r->absmax = c->input_scaling == NM_INSCALE_ABSMAX;
    r->dac_q = c->dac_bits > 0;
    r->adc_q = c->adc_bits > 0;
    r->dac_range = c->dac_range;
    r->adc_range = c->adc_range;
    r->dac_step = r->dac_q ? (float)(2.0 * c->dac_range / (ldexp(1.0, c->dac_bits) - 2.0)) : 0.0f;
    r->adc_step = r->adc_q ? (float)(2.0 * c->adc_range / (ldexp(1.0, c->adc_bits) - 2.0)) : 0.0f;
    r->ir = c->ir_drop > 0.0f;
    r->ir_drop = c->ir_drop;
    r->ir_g_ratio = c->ir_g_ratio;
    r->var = xb->has_var;
    r->noise = xb->has_var || c->adc_noise > 0.0f;
    r->noise2 = c->adc_noise * c->adc_noise;
    r->out_scale = xb->scale * c->dac_range;
    r->pre = bwd && xb->comp == NM_DRIFT_COMP_COLUMN ? xb->dscale : NULL;
    r->post = bwd ? xb->bscale : xb->dscale;
}

/* ---- read-noise normals ---- */

/* Standard normals by linear index L of (seed, stream). One Philox-4x32-10 block, with the
** key and counter layout of nm_rng and nm_hw_normal2 (key = seed, counter = (block, stream)),
** gives four 32-bit words: two Box-Muller pairs, the normals of indices 4 blk .. 4 blk + 3.
** A read draws one normal per tile output (2048 for a 1024 x 1024 product on 512 x 512
** tiles, 131072 for 64 rows), so they are made a range at a time: Philox over an array of
** blocks and Box-Muller with polynomial log, sin and cos, both loops that vectorize. This
** costs ~2 ns a normal where nm_hw_normal2 (double log/cos/sin, two per block) costs ~24 ns
** (measured on the 2-core AVX-512 machine). Checked offline on 2e7 draws: mean, variance,
** kurtosis and the tail fractions beyond 3 and 4 sigma within sampling error of N(0, 1).
** u1 = (w >> 1 + 1/2) 2^-31 keeps the log finite; tails reach sqrt(2 ln 2^32) = 6.7 sigma.
** Every normal depends on its index only, not on the range it was made in. */
#define NRM_BLK 72   /* blocks per range: 288 normals, any 285 consecutive indices */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

typedef struct nrm {
    uint32_t key[2];
    uint64_t stream, blk0;
    int64_t  n_blk;           /* blocks held, from blk0 (0: none yet)                   */
    float    z[4][NRM_BLK];   /* z[k][i]: the normal at index 4 (blk0 + i) + k */
} nrm;

static inline void nrm_init(nrm *g, const rd *r) {
    g->key[0] = (uint32_t)r->seed;
    g->key[1] = (uint32_t)(r->seed >> 32);
    g->stream = r->stream;
    g->blk0 = 0;
    g->n_blk = 0;
}

/* ln x for a normal float x in (0, 1] (Cephes logf: x = m 2^e, m in [sqrt(1/2), sqrt(2)),
** ln(m) by a degree-9 polynomial in m - 1; ~1 ulp). Branch-free, so it vectorizes. */
static inline __attribute__((always_inline)) float log_unit(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    int e = (int)((b >> 23) & 0xFF) - 126;                  /* x = m 2^e, m in [1/2, 1) */
    b = (b & 0x007FFFFFu) | 0x3F000000u;
    float m;
    memcpy(&m, &b, sizeof m);
    const int lo = m < 0.70710678118654752f;
    e -= lo;
    const float f = lo ? m + m - 1.0f : m - 1.0f, z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    const float fe = (float)e;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return f + y + 0.693359375f * fe;
}

/* sqrt(v) for v in [0, 50] without sqrtf, whose errno path keeps GCC from vectorizing the
** loop (only a command-line -fno-math-errno lifts it): the bit-level 1/sqrt estimate and
** three Newton steps (relative error 3e-2 -> 2e-3 -> 5e-6 -> float rounding), times v. */
static inline __attribute__((always_inline)) float sqrt_nr(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b = 0x5F3759DFu - (b >> 1);
    float y;
    memcpy(&y, &b, sizeof y);
    const float h = 0.5f * v;
    y = y * (1.5f - h * y * y);
    y = y * (1.5f - h * y * y);
    y = y * (1.5f - h * y * y);
    return v * y;
}

/* Box-Muller on two words: z0 = r cos(2 pi u2), z1 = r sin(2 pi u2). The angle is reduced to
** x in [-pi/4, pi/4] around the nearest quarter turn q (exact: u2 has 24 bits); sin and cos
** of x by Cephes' minimax polynomials (~1 ulp). */
static inline __attribute__((always_inline)) void box_muller(uint32_t w1, uint32_t w2, float *z0, float *z1) {
    const float u1 = ((float)(int32_t)(w1 >> 1) + 0.5f) * 0x1p-31f;
    const float u2 = (float)(int32_t)(w2 >> 8) * 0x1p-24f;
    const float rad = sqrt_nr(-2.0f * log_unit(u1));
    const int j = (int)(4.0f * u2 + 0.5f);
    const float x = (u2 - 0.25f * (float)j) * 6.28318530717958647692f, x2 = x * x;
    const float sn = x + x * x2 * (-1.6666654611e-1f + x2 * (8.3321608736e-3f + x2 * -1.9515295891e-4f));
    const float cs =
        1.0f - 0.5f * x2 + x2 * x2 * (4.166664568298827e-2f + x2 * (-1.388731625493765e-3f + x2 * 2.443315711809948e-5f));
    /* angle = x + q pi/2, q = j mod 4: odd q swaps cos and sin (one negated), q >= 2 negates
    ** both; as two selects, which every compiler keeps branch-free */
    const int odd = j & 1, neg = j & 2;
    float c = odd ? -sn : cs, s = odd ? cs : sn;
    c = neg ? -c : c;
    s = neg ? -s : s;
    *z0 = rad * c;
    *z1 = rad * s;
}

/* Makes the normals of indices L .. L + n - 1 (n <= 4 NRM_BLK - 3) available to nrm_get. */
static void nrm_prepare(nrm *g, uint64_t L, int64_t n) {
    const uint64_t b0 = L >> 2;
    const int64_t nb = (int64_t)(((L + (uint64_t)n - 1) >> 2) - b0) + 1;
    NM_ASSERT(n >= 1 && nb <= NRM_BLK);
    if (b0 == g->blk0 && nb <= g->n_blk) return;   /* held already */
    uint32_t c0[NRM_BLK], c1[NRM_BLK], c2[NRM_BLK], c3[NRM_BLK];
    const uint32_t s_lo = (uint32_t)g->stream, s_hi = (uint32_t)(g->stream >> 32);
    for (int64_t i = 0; i < nb; i++) {
        c0[i] = (uint32_t)(b0 + (uint64_t)i);
        c1[i] = (uint32_t)((b0 + (uint64_t)i) >> 32);
        c2[i] = s_lo;
        c3[i] = s_hi;
    }
    uint32_t k0 = g->key[0], k1 = g->key[1];
    /* Ten rounds, the key bumped between them, as nm_philox4x32 (Random123's philox4x32_R(10)). */
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        #pragma omp simd
        for (int64_t i = 0; i < nb; i++) {
            const uint64_t p0 = (uint64_t)PHILOX_M0 * c0[i], p1 = (uint64_t)PHILOX_M1 * c2[i];
            const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[i] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[i] ^ k1;
            c0[i] = n0;
            c1[i] = (uint32_t)p1;
            c2[i] = n2;
            c3[i] = (uint32_t)p0;
        }
    }
    #pragma omp simd
    for (int64_t i = 0; i < nb; i++) {
        box_muller(c0[i], c1[i], &g->z[0][i], &g->z[1][i]);
        box_muller(c2[i], c3[i], &g->z[2][i], &g->z[3][i]);
    }
    g->blk0 = b0;
    g->n_blk = nb;
}

static inline float nrm_get(const nrm *g, uint64_t L) { return g->z[L & 3][(L >> 2) - g->blk0]; }

/* Steps 1-2 for rows x (mc, n_i): alpha (mc) and u, |u|, u f, u^2 (mc, n_i) (the last three
** only when IR drop / read noise need them). A row of zeros under ABSMAX gets alpha 0, u 0. */
static void prep_rows(const rd *r, const float *x, int64_t mc, float *alpha, float *U, float *UA, float *UF,
                      float *U2) {
    const int64_t n = r->n_i;
    #pragma omp parallel for schedule(static) if (mc * n >= PAR_MIN)
    for (int64_t i = 0; i < mc; i++) {
        const float *xr = x + i * n;
        float *u = U + i * n, *ua = UA ? UA + i * n : NULL, *uf = UF ? UF + i * n : NULL, *u2 = U2 ? U2 + i * n : NULL;
        float al = 1.0f;
        if (r->pre) {   /* the transposed read under COLUMN: x_j c_j, digitally, before everything */
            float *xs = u;
            for (int64_t j = 0; j < n; j++) xs[j] = xr[j] * r->pre[j];
            xr = xs;
        }
        if (r->absmax) {
            al = 0.0f;
            for (int64_t j = 0; j < n; j++) al = fmaxf(al, fabsf(xr[j]));
        }
        alpha[i] = al;
        if (al == 0.0f) {
            memset(u, 0, (size_t)n * sizeof *u);
            if (ua) memset(ua, 0, (size_t)n * sizeof *u);
            if (uf) memset(uf, 0, (size_t)n * sizeof *u);
            if (u2) memset(u2, 0, (size_t)n * sizeof *u);
            continue;
        }
        const float R = r->dac_range, step = r->dac_step;
        for (int64_t j = 0; j < n; j++) {
            float v = r->absmax ? xr[j] / al : xr[j];
            if (r->dac_q) v = rintf(v / step) * step;
            if (r->dac_q || !r->absmax) v = v < -R ? -R : (v > R ? R : v);
            u[j] = v / R;
        }
        if (ua)
            for (int64_t j = 0; j < n; j++) ua[j] = fabsf(u[j]);
        if (uf)
            for (int64_t j = 0; j < n; j++) uf[j] = u[j] * r->f[j];
        if (u2)
            for (int64_t j = 0; j < n; j++) u2[j] = u[j] * u[j];
    }
}

/* Step 3 after the sums of one tile output: z = W u, a = |W| |u|, zf = W (u f), q = V u^2;
** irk = n / ir_g_ratio for the block's n inputs; xi: the output's standard normal. */
static inline float tile_out(const rd *r, float z, float a, float zf, float q, float irk, float xi) {
    if (r->ir) {
        a *= irk;
        const float c = a * (a * (0.05f * a - 0.2f) + 0.5f);
        z -= r->ir_drop * c * zf;
    }
    if (r->noise) z += sqrtf(q + r->noise2) * xi;
    if (r->adc_q) {
        z = rintf(z / r->adc_step) * r->adc_step;
        z = z < -r->adc_range ? -r->adc_range : (z > r->adc_range ? r->adc_range : z);
    }
    return z;
}

/* ---- fused forward for one row ---- */

/* Sums over n inputs of 4 outputs whose rows of W (and V) lie ld apart: s[0] z, s[1] a,
** s[2] zf, s[3] q for each. One pass over the rows; the flags are constants after inlining,
** so the unused sums and loads vanish. Four rows give four independent add chains. */
static inline __attribute__((always_inline)) void
dot4(const float *restrict W, const uint16_t *restrict V, int64_t ld, const float *restrict u, const float *restrict ua,
     const float *restrict uf, const float *restrict u2, int64_t n, const int ir, const int var, float s[4][4]) {
    const float *w0 = W, *w1 = W + ld, *w2 = W + 2 * ld, *w3 = W + 3 * ld;
    const uint16_t *v0 = V, *v1 = V + ld, *v2 = V + 2 * ld, *v3 = V + 3 * ld;
    float z0 = 0, z1 = 0, z2 = 0, z3 = 0, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    float f0 = 0, f1 = 0, f2 = 0, f3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    #pragma omp simd reduction(+ : z0, z1, z2, z3, a0, a1, a2, a3, f0, f1, f2, f3, q0, q1, q2, q3)
    for (int64_t j = 0; j < n; j++) {
        const float x = u[j];
        z0 = MADD(w0[j], x, z0);
        z1 = MADD(w1[j], x, z1);
        z2 = MADD(w2[j], x, z2);
        z3 = MADD(w3[j], x, z3);
        if (ir) {
            const float xa = ua[j], xf = uf[j];
            a0 = MADD(fabsf(w0[j]), xa, a0);
            a1 = MADD(fabsf(w1[j]), xa, a1);
            a2 = MADD(fabsf(w2[j]), xa, a2);
            a3 = MADD(fabsf(w3[j]), xa, a3);
            f0 = MADD(w0[j], xf, f0);
            f1 = MADD(w1[j], xf, f1);
            f2 = MADD(w2[j], xf, f2);
            f3 = MADD(w3[j], xf, f3);
        }
        if (var) {
            const float x2 = u2[j];
            q0 = MADD(from_bf16(v0[j]), x2, q0);
            q1 = MADD(from_bf16(v1[j]), x2, q1);
            q2 = MADD(from_bf16(v2[j]), x2, q2);
            q3 = MADD(from_bf16(v3[j]), x2, q3);
        }
    }
    s[0][0] = z0, s[1][0] = z1, s[2][0] = z2, s[3][0] = z3;
    s[0][1] = a0, s[1][1] = a1, s[2][1] = a2, s[3][1] = a3;
    s[0][2] = f0, s[1][2] = f1, s[2][2] = f2, s[3][2] = f3;
    s[0][3] = q0, s[1][3] = q1, s[2][3] = q2, s[3][3] = q3;
}

/* The same for one output. */
static inline __attribute__((always_inline)) void
dot1(const float *restrict w, const uint16_t *restrict v, const float *restrict u, const float *restrict ua,
     const float *restrict uf, const float *restrict u2, int64_t n, const int ir, const int var, float s[4]) {
    float z = 0, a = 0, f = 0, q = 0;
    #pragma omp simd reduction(+ : z, a, f, q)
    for (int64_t j = 0; j < n; j++) {
        z = MADD(w[j], u[j], z);
        if (ir) {
            a = MADD(fabsf(w[j]), ua[j], a);
            f = MADD(w[j], uf[j], f);
        }
        if (var) q = MADD(from_bf16(v[j]), u2[j], q);
    }
    s[0] = z, s[1] = a, s[2] = f, s[3] = q;
}

/* The normals of indices L0 .. L0 + n - 1 into xi (n), in fixed tasks of NRM_TASK. */
static void fill_normals(const rd *r, uint64_t L0, int64_t n, float *xi);

void nm__hw_normals(uint64_t seed, uint64_t stream, uint64_t L0, int64_t n, float *z) {
    rd r;
    memset(&r, 0, sizeof r);
    r.seed = seed;
    r.stream = stream;
    fill_normals(&r, L0, n, z);
}

static void fill_normals(const rd *r, uint64_t L0, int64_t n, float *xi) {
    const int64_t n_task = (n + NRM_TASK - 1) / NRM_TASK;
    #pragma omp parallel for schedule(static) if (n_task > 1)
    for (int64_t t = 0; t < n_task; t++) {
        nrm g;
        nrm_init(&g, r);
        const int64_t e = (t + 1) * NRM_TASK < n ? (t + 1) * NRM_TASK : n;
        for (int64_t k0 = t * NRM_TASK; k0 < e; k0 += 256) {
            const int64_t k1 = k0 + 256 < e ? k0 + 256 : e;
            nrm_prepare(&g, L0 + (uint64_t)k0, k1 - k0);
            for (int64_t k = k0; k < k1; k++) xi[k] = nrm_get(&g, L0 + (uint64_t)k);
        }
    }
}

/* Outputs o0..o1 of one row from u (n_in) etc.; xi (n_b, n_o): the row's normals. Groups of
** four outputs go through all input blocks in turn, so each row of Weff (and V) streams
** front to back. The flags are literal constants at every call, so each combination is its
** own kernel without dead sums. (The calls sit inside the parallel loop: OpenMP outlines a
** parallel region before inlining, so flags passed into a region would stay run-time
** variables.) */
static inline __attribute__((always_inline)) void
fwd_block(const nm_xbar *xb, const rd *r, const float *u, const float *ua, const float *uf, const float *u2,
          const float *xi, float ysc, int64_t o0, int64_t o1, float *y, const int ir, const int var) {
    const int64_t n_o = r->n_o, n_in = xb->n_in;
    const float *W = xb->weff;
    const uint16_t *V = xb->var16;
    int64_t o = o0;
    for (; o + 4 <= o1; o += 4) {
        float acc[4] = {0, 0, 0, 0};   /* 0 + z is z: the first block adds exactly */
        for (int64_t b = 0; b < r->n_b; b++) {
            const int64_t j0 = b * r->tb, nb = n_in - j0 < r->tb ? n_in - j0 : r->tb;
            const float irk = (float)nb / r->ir_g_ratio;
            float s[4][4];
            dot4(W + o * n_in + j0, V + o * n_in + j0, n_in, u + j0, ua + j0, uf + j0, u2 + j0, nb, ir, var, s);
            for (int k = 0; k < 4; k++)
                acc[k] += tile_out(r, s[k][0], s[k][1], s[k][2], s[k][3], irk, r->noise ? xi[b * n_o + o + k] : 0.0f);
        }
        for (int k = 0; k < 4; k++) y[o + k] = acc[k] * ysc * r->post[o + k];
    }
    for (; o < o1; o++) {
        float acc = 0;
        for (int64_t b = 0; b < r->n_b; b++) {
            const int64_t j0 = b * r->tb, nb = n_in - j0 < r->tb ? n_in - j0 : r->tb;
            float s[4];
            dot1(W + o * n_in + j0, V + o * n_in + j0, u + j0, ua + j0, uf + j0, u2 + j0, nb, ir, var, s);
            acc += tile_out(r, s[0], s[1], s[2], s[3], (float)nb / r->ir_g_ratio, r->noise ? xi[b * n_o + o] : 0.0f);
        }
        y[o] = acc * ysc * r->post[o];
    }
}

/* y (n_out) of row `row` (its noise index): outputs in fixed blocks of FWD_OB, dealt to threads. */
static void fwd_row(nm_xbar *xb, const rd *r, const float *u, const float *ua, const float *uf, const float *u2,
                    float ysc, int64_t row, float *y) {
    const int64_t n_o = r->n_o, nblk = (n_o + FWD_OB - 1) / FWD_OB;
    const int ir = r->ir, var = r->var;
    const float *xi = xb->xi;
    if (r->noise) fill_normals(r, (uint64_t)(row * r->n_b) * (uint64_t)n_o, r->n_b * n_o, xb->xi);
    #pragma omp parallel for schedule(static) if (n_o * xb->n_in >= PAR_MIN)
    for (int64_t ob = 0; ob < nblk; ob++) {
        const int64_t o0 = ob * FWD_OB, o1 = o0 + FWD_OB < n_o ? o0 + FWD_OB : n_o;
        if (ir && var) fwd_block(xb, r, u, ua, uf, u2, xi, ysc, o0, o1, y, 1, 1);
        else if (ir) fwd_block(xb, r, u, ua, uf, u, xi, ysc, o0, o1, y, 1, 0);
        else if (var) fwd_block(xb, r, u, u, u, u2, xi, ysc, o0, o1, y, 0, 1);
        else fwd_block(xb, r, u, u, u, u, xi, ysc, o0, o1, y, 0, 0);
    }
}

/* ---- fused transposed read for one row ---- */

/* Outputs c0..c0+nc of the read with inputs u (n_out) on the columns: for every input block
** (rows i0..i1 of Weff), whole rows of the columns' range are swept into the sums Z, A, ZF,
** Q (n_o each, this range only), then step 3 adds the tile outputs into y. */
static inline __attribute__((always_inline)) void
bwd_cols(const nm_xbar *xb, const rd *r, const float *u, const float *ua, const float *uf, const float *u2,
         const float *xi, float ysc, int64_t c0, int64_t nc, float *y, float *restrict Z, float *restrict A,
         float *restrict ZF, float *restrict Q, const int ir, const int var) {
    const int64_t n_o = r->n_o, n_i = r->n_i, ld = xb->n_in;
    const float *W = xb->weff;
    const uint16_t *V = xb->var16;
    Z += c0, Q += c0, y += c0;
    if (ir) A += c0, ZF += c0;   /* allocated only with IR drop */
    for (int64_t b = 0; b < r->n_b; b++) {
        const int64_t i0 = b * r->tb, nb = n_i - i0 < r->tb ? n_i - i0 : r->tb;
        for (int64_t c = 0; c < nc; c++) Z[c] = 0.0f;
        if (ir)
            for (int64_t c = 0; c < nc; c++) A[c] = ZF[c] = 0.0f;
        if (var)
            for (int64_t c = 0; c < nc; c++) Q[c] = 0.0f;
        for (int64_t i = i0; i < i0 + nb; i++) {
            const float *restrict w = W + i * ld + c0;
            const uint16_t *restrict v = V + i * ld + c0;
            const float x = u[i], xa = ua[i], xf = uf[i], x2 = u2[i];
            if (x == 0.0f) continue;   /* an input at 0 adds nothing to any sum */
            #pragma omp simd
            for (int64_t c = 0; c < nc; c++) {
                Z[c] = MADD(w[c], x, Z[c]);
                if (ir) {
                    A[c] = MADD(fabsf(w[c]), xa, A[c]);
                    ZF[c] = MADD(w[c], xf, ZF[c]);
                }
                if (var) Q[c] = MADD(from_bf16(v[c]), x2, Q[c]);
            }
        }
        const float irk = (float)nb / r->ir_g_ratio;
        const float *xb_ = xi + b * n_o + c0;
        for (int64_t c = 0; c < nc; c++) {
            const float t = tile_out(r, Z[c], ir ? A[c] : 0.0f, ir ? ZF[c] : 0.0f, var ? Q[c] : 0.0f, irk,
                                     r->noise ? xb_[c] : 0.0f);
            y[c] = b ? y[c] + t : t;
        }
    }
    const float *post = r->post + c0;
    for (int64_t c = 0; c < nc; c++) y[c] = y[c] * ysc * post[c];
}

/* y (n_in) of one transposed row. Each thread takes one contiguous range of columns (whole
** rows stream best): a column's sums run over the rows in the same order whatever the range
** it falls in, and the lanes of a vector do not interact, so any split gives the same bits. */
static void bwd_row(nm_xbar *xb, const rd *r, const float *u, const float *ua, const float *uf, const float *u2,
                    float ysc, int64_t row, float *y) {
    const int64_t n_o = r->n_o;
    const int ir = r->ir, var = r->var;
    const float *xi = xb->xi;
    float *Z = xb->bz[0], *A = xb->bz[1], *ZF = xb->bz[2], *Q = xb->bz[3];
    if (r->noise) fill_normals(r, (uint64_t)(row * r->n_b) * (uint64_t)n_o, r->n_b * n_o, xb->xi);
    #pragma omp parallel if (n_o * r->n_i >= PAR_MIN)
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        const int64_t per = ((n_o + nt - 1) / nt + 15) & ~(int64_t)15;   /* whole cache lines */
        const int64_t c0 = t * per, nc = c0 + per < n_o ? per : n_o - c0;
        if (nc > 0) {
            if (ir && var) bwd_cols(xb, r, u, ua, uf, u2, xi, ysc, c0, nc, y, Z, A, ZF, Q, 1, 1);
            else if (ir) bwd_cols(xb, r, u, ua, uf, u, xi, ysc, c0, nc, y, Z, A, ZF, Q, 1, 0);
            else if (var) bwd_cols(xb, r, u, u, u, u2, xi, ysc, c0, nc, y, Z, A, ZF, Q, 0, 1);
            else bwd_cols(xb, r, u, u, u, u, xi, ysc, c0, nc, y, Z, A, ZF, Q, 0, 0);
        }
    }
}

/* ---- batched read through nm_sgemm ---- */

/* Rows r0.. (mc of them) of a read of m rows, read `reps` times: per input block, the
** products Z = U_b op(W_b) (and A, ZF, Q) once, then step 3 per element for every repeat k
** with the noise of row k m + r0 + i, summed into y (reps, m, n_o). */
static void read_chunk(nm_xbar *xb, const rd *r, int64_t r0, int64_t mc, int64_t m, int reps, float *y) {
    const int64_t n_i = r->n_i, n_o = r->n_o, ld = xb->n_in, mk = mc * reps;
    float *U = xb->bu[0], *UA = xb->bu[1], *UF = xb->bu[2], *U2 = xb->bu[3];
    float *Z = xb->bz[0], *A = xb->bz[1], *ZF = xb->bz[2], *Q = xb->bz[3];
    for (int64_t b = 0; b < r->n_b; b++) {
        const int64_t j0 = b * r->tb, nb = n_i - j0 < r->tb ? n_i - j0 : r->tb;
        /* forward: rows of W are outputs, block b = W[:, j0:j0+nb] used transposed;
        ** backward: rows of W are inputs, block b = W[j0:j0+nb, :] */
        const int tr = !r->bwd;
        const int64_t off = r->bwd ? j0 * ld : j0;
        nm_sgemm(0, tr, mc, n_o, nb, 1.0f, U + j0, n_i, xb->weff + off, ld, 0.0f, Z, n_o);
        if (r->ir) {
            nm_sgemm(0, tr, mc, n_o, nb, 1.0f, UA + j0, n_i, xb->wabs + off, ld, 0.0f, A, n_o);
            nm_sgemm(0, tr, mc, n_o, nb, 1.0f, UF + j0, n_i, xb->weff + off, ld, 0.0f, ZF, n_o);
        }
        if (r->var) nm_sgemm(0, tr, mc, n_o, nb, 1.0f, U2 + j0, n_i, xb->var + off, ld, 0.0f, Q, n_o);
        const float irk = (float)nb / r->ir_g_ratio;
        #pragma omp parallel for schedule(static) if (mk * n_o >= PAR_MIN)
        for (int64_t ki = 0; ki < mk; ki++) {
            const int64_t k = ki / mc, i = ki % mc, row = k * m + r0 + i;
            nrm nz;
            nrm_init(&nz, r);
            const uint64_t L0 = (uint64_t)(row * r->n_b + b) * (uint64_t)n_o;
            const float *z = Z + i * n_o, *a = A ? A + i * n_o : NULL, *zf = ZF ? ZF + i * n_o : NULL, *q = Q + i * n_o;
            float *yr = y + (k * m + i) * n_o;
            for (int64_t o0 = 0; o0 < n_o; o0 += 256) {   /* noise in ranges of 256 outputs */
                const int64_t o1 = o0 + 256 < n_o ? o0 + 256 : n_o;
                if (r->noise) nrm_prepare(&nz, L0 + (uint64_t)o0, o1 - o0);
                for (int64_t o = o0; o < o1; o++) {
                    const float t = tile_out(r, z[o], r->ir ? a[o] : 0.0f, r->ir ? zf[o] : 0.0f, r->var ? q[o] : 0.0f,
                                             irk, r->noise ? nrm_get(&nz, L0 + (uint64_t)o) : 0.0f);
                    yr[o] = b ? yr[o] + t : t;
                }
            }
        }
    }
    #pragma omp parallel for schedule(static) if (mk * n_o >= PAR_MIN)
    for (int64_t ki = 0; ki < mk; ki++) {
        const int64_t k = ki / mc, i = ki % mc;
        const float sc = r->out_scale * xb->alpha[i];
        float *yr = y + (k * m + i) * n_o;
        for (int64_t o = 0; o < n_o; o++) yr[o] = yr[o] * sc * r->post[o];
    }
}

static void xbar_read(nm_xbar *xb, int bwd, const float *x, int64_t m, int reps, float *y, uint64_t read_id) {
    NM_ASSERT(xb && (m == 0 || (x && y)) && m >= 0 && reps >= 1);
    rd r;
    rd_init(xb, bwd, read_id, &r);
    const int64_t n_i = r.n_i, n_o = r.n_o;
    for (int64_t r0 = 0; r0 < m; r0 += CHUNK) {
        const int64_t mc = m - r0 < CHUNK ? m - r0 : CHUNK;
        const float *xc = x + r0 * n_i;
        float *yc = y + r0 * n_o;
        prep_rows(&r, xc, mc, xb->alpha, xb->bu[0], r.ir ? xb->bu[1] : NULL, r.ir ? xb->bu[2] : NULL,
                  r.var ? xb->bu[3] : NULL);
        if (mc == 1 && reps == 1) {
            /* The per-sample MVM: one fused pass over the arrays. */
            const float ysc = r.out_scale * xb->alpha[0];
            (bwd ? bwd_row : fwd_row)(xb, &r, xb->bu[0], xb->bu[1], xb->bu[2], xb->bu[3], ysc, r0, yc);
        } else {
            read_chunk(xb, &r, r0, mc, m, reps, yc);
        }
    }
}

void nm_xbar_forward(nm_xbar *xb, const float *x, int64_t m, float *y, uint64_t read_id) {
    xbar_read(xb, 0, x, m, 1, y, read_id);
}

void nm_xbar_forward_rep(nm_xbar *xb, const float *x, int64_t m, int reps, float *y, uint64_t read_id) {
    xbar_read(xb, 0, x, m, reps, y, read_id);
}

void nm_xbar_backward(nm_xbar *xb, const float *x, int64_t m, float *y, uint64_t read_id) {
    xbar_read(xb, 1, x, m, 1, y, read_id);
}

/* ---- drift compensation -------------------------------------------------------------- */

static const char *const comp_names[] = {"none", "global", "column"};

const char *nm_drift_comp_name(nm_drift_comp m) {
    return (unsigned)m < sizeof comp_names / sizeof comp_names[0] ? comp_names[m] : "unknown";
}

nm_status nm_drift_comp_parse(const char *s, nm_drift_comp *out) {
    NM_ASSERT(out);
    for (int k = NM_DRIFT_COMP_NONE; k <= NM_DRIFT_COMP_COLUMN; k++)
        if (s && !strcmp(s, comp_names[k])) {
            *out = (nm_drift_comp)k;
            return NM_OK;
        }
    return nm__error(NM_INVAL, "unknown drift compensation '%s' (expected none, global or column)", s ? s : "(null)");
}

/* The reference read of the arrays as they are now into ref (n_out): every row driven at the
** DAC's full-scale code (u = 1) on both devices of every pair, so tile output (i, b) is
**   z_ib = sum_{j in b} sum_k (F_k/R) (G+_ijk + G-_ijk) + sqrt(sum_{j in b} V_ij + adc_noise^2) xi_ib,
** rounded to the ADC's step without its clip; ref_i = sum_b z_ib, summed digitally in block
** order. xi_ib is the normal at index i n_rt + b of (seed'', time): seed'' is the programming
** seed hashed apart from both read directions' keys, so no nm_xbar_forward / backward read_id
** ever draws the same numbers, and the time key makes the reference of one state the same
** draw whenever it is read again (set_time(0) gives ref_0 back bit for bit) while other times
** get independent noise. Tasks are (output, input block) pairs, each summed in one fixed
** order: the bits do not depend on the thread count. */
static void read_reference(nm_xbar *xb, float *ref) {
    const int64_t n_out = xb->n_out, n_in = xb->n_in, n_b = xb->n_rt, tb = xb->cfg.tile_rows, n_w = xb->n_w;
    double t = xb->t;
    if (t == 0.0) t = 0.0;   /* -0 and +0 are the same time */
    uint64_t tbits;
    memcpy(&tbits, &t, sizeof tbits);
    rd r;
    rd_init(xb, 0, mix64(tbits), &r);
    r.seed = mix64(xb->seed ^ 0x7265665F72656164ull);   /* "ref_read" */
    if (r.noise) fill_normals(&r, 0, n_out * n_b, xb->xi);
    const float *g = xb->g, *fk = xb->fk, *var = xb->var, *xi = xb->xi;
    const int n_dev = xb->n_dev, noise = r.noise, adc_q = r.adc_q;
    const float noise2 = r.noise2, step = r.adc_step;
    float *refz = xb->refz;
    #pragma omp parallel for schedule(static) if (n_w >= PAR_MIN)
    for (int64_t task = 0; task < n_out * n_b; task++) {
        const int64_t i = task / n_b, b = task % n_b, j0 = b * tb, nb = n_in - j0 < tb ? n_in - j0 : tb;
        const size_t e0 = (size_t)(i * n_in + j0);
        float z = 0.0f, q = 0.0f;
        for (int d = 0; d < n_dev; d++) {
            const float *gd = g + (size_t)d * (size_t)n_w + e0, f = fk[d / 2];
            float sd = 0.0f;
            #pragma omp simd reduction(+ : sd)
            for (int64_t j = 0; j < nb; j++) sd += gd[j];
            z = MADD(f, sd, z);
        }
        if (noise) {
            #pragma omp simd reduction(+ : q)
            for (int64_t j = 0; j < nb; j++) q += var[e0 + (size_t)j];
            z += sqrtf(q + noise2) * xi[task];
        }
        if (adc_q) z = rintf(z / step) * step;
        refz[task] = z;
    }
    #pragma omp parallel for schedule(static) if (n_w >= PAR_MIN)
    for (int64_t i = 0; i < n_out; i++) {
        float s = 0.0f;
        for (int64_t b = 0; b < n_b; b++) s += refz[i * n_b + b];
        ref[i] = s;
    }
}

/* The factors from ref0 and ref. A column's reference counts only above a floor: an empty
** column (mean G+ + G- below 1e-4 g_max per weight), or one within 5 sigma of the ADC noise
** or one ADC step per tile of zero, reads noise, not drift, and keeps the factor 1. GLOBAL's
** floor is the same for the sum over all columns. */
static void drift_factors(nm_xbar *xb) {
    const int64_t n_out = xb->n_out, n_in = xb->n_in, n_b = xb->n_rt;
    const nm_xbar_config *c = &xb->cfg;
    const double step = c->adc_bits ? 2.0 * c->adc_range / (ldexp(1.0, c->adc_bits) - 2.0) : 0.0;
    const double col_floor =
        fmax(fmax(1e-4 * (double)n_in, 5.0 * c->adc_noise * sqrt((double)n_b)), step * (double)n_b);
    float *ds = xb->dscale, *bs = xb->bscale;
    float gf = 1.0f;
    if (xb->comp == NM_DRIFT_COMP_COLUMN) {
        for (int64_t i = 0; i < n_out; i++) {
            const float r0 = xb->ref0[i], rt = xb->ref[i];
            ds[i] = r0 > col_floor && rt > col_floor ? r0 / rt : 1.0f;
        }
    } else {
        if (xb->comp == NM_DRIFT_COMP_GLOBAL) {
            double s0 = 0.0, st = 0.0;
            for (int64_t i = 0; i < n_out; i++) s0 += xb->ref0[i], st += xb->ref[i];
            const double floor = fmax(fmax(1e-4 * (double)xb->n_w, 5.0 * c->adc_noise * sqrt((double)(n_out * n_b))),
                                      step * (double)(n_out * n_b));
            if (s0 > floor && st > floor) gf = (float)(s0 / st);
        }
        for (int64_t i = 0; i < n_out; i++) ds[i] = gf;
    }
    /* The transposed read: GLOBAL's factor on its outputs; COLUMN's go on its inputs (rd_init). */
    for (int64_t j = 0; j < n_in; j++) bs[j] = gf;
}

/* After programming (the clock at 0): the t = 0 reference, whatever the mode, so that a mode
** set later compares against the state right after programming. */
static void drift_baseline(nm_xbar *xb) {
    read_reference(xb, xb->ref0);
    memcpy(xb->ref, xb->ref0, (size_t)xb->n_out * sizeof(float));
    drift_factors(xb);
}

/* After set_time under GLOBAL or COLUMN: the reference now and the factors. */
static void drift_update(nm_xbar *xb) {
    read_reference(xb, xb->ref);
    drift_factors(xb);
}

nm_status nm_xbar_set_drift_comp(nm_xbar *xb, nm_drift_comp mode) {
    NM_ASSERT(xb);
    if ((unsigned)mode > NM_DRIFT_COMP_COLUMN)
        return nm__error(NM_INVAL, "xbar: drift compensation must be none (0), global (1) or column (2), not %d",
                         (int)mode);
    xb->comp = mode;
    if (xb->programmed && mode != NM_DRIFT_COMP_NONE) drift_update(xb);
    else drift_factors(xb);   /* NONE (or not programmed yet): all 1 */
    return NM_OK;
}

const float *nm_xbar_drift_scale(const nm_xbar *xb) {
    NM_ASSERT(xb);
    return xb->dscale;
}
