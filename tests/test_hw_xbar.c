/*
** Crossbar tiles (src/hw/xbar.c): the analog read against a plain double-precision reference
** written here from the model's definition, and against its exact limits:
**   - ideal devices and converters give x W^T (and x W for the transposed read) within the
**     float rounding bound of a sum, over several tiles with remainders, m = 1 and batches;
**   - the DAC and ADC land on their grids, within half a step of the exact value;
**   - IR drop matches the reference formula and grows as the wire resistance grows;
**   - output-referred read noise has the std its variance formula gives, and is a pure
**     function of (seed, read_id, row);
**   - two pairs per weight reproduce W more finely than one with few device levels;
**   - 1 thread and 2 threads give the same bits;
**   - drift compensation undoes a uniform drift (GLOBAL, COLUMN) and a per-output drift
**     (COLUMN) to float rounding on every read path, ranks COLUMN < GLOBAL < NONE on PCM at one
**     year, gives factors of exactly 1 at t = 0, and is thread-count independent;
**   - config errors name the field.
**
** Rounding bound used throughout: a float sum of n products, each with relative error <= k u
** from the scalings before it, differs from the exact sum by at most (n + k) u sum |terms|
** (Higham, Accuracy and Stability, 2nd ed., eq. 3.5 with gamma_n ~ n u), u = 2^-24.
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
#include <neuromorph/hw.h>

#define U 0x1p-24   /* unit roundoff of float */

static float *rand_buf(uint64_t seed, int64_t n, float lo, float hi) {
    nm_rng r;
    nm_rng_init(&r, seed, 0);
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * nm_rng_uniform(&r);
    return p;
}

static nm_device *make_device(nm_device_kind kind, int levels) {
    nm_device_params p;
    nm_device_params_default(kind, &p);
    if (levels) p.levels = levels;
    nm_device *d = NULL;
    assert_int_equal(nm_device_create(&p, &d), NM_OK);
    return d;
}

static nm_xbar *make_xbar(const nm_xbar_config *c, const nm_device *d, int64_t n_out, int64_t n_in, const float *W,
                          uint64_t seed) {
    nm_xbar *xb = NULL;
    assert_int_equal(nm_xbar_create(c, d, n_out, n_in, &xb), NM_OK);
    assert_int_equal(nm_xbar_program(xb, W, seed, 7), NM_OK);
    return xb;
}

/* ideal converters: no DAC/ADC, no noise, no IR drop */
static nm_xbar_config ideal_config(int tile_rows, int tile_cols) {
    nm_xbar_config c;
    nm_xbar_config_default(&c);
    c.tile_rows = tile_rows;
    c.tile_cols = tile_cols;
    return c;
}

/* y (m, n_out) = x (m, n_in) W^T in double, and b (m, n_out) = |x| |W|^T for the bound. */
static void ref_product(const float *W, const float *x, int64_t m, int64_t n_out, int64_t n_in, int trans, double *y,
                        double *b) {
    /* trans: y (m, n_in) = x (m, n_out) W */
    const int64_t ni = trans ? n_out : n_in, no = trans ? n_in : n_out;
    for (int64_t r = 0; r < m; r++)
        for (int64_t o = 0; o < no; o++) {
            double s = 0, a = 0;
            for (int64_t j = 0; j < ni; j++) {
                const double w = trans ? W[j * n_in + o] : W[o * n_in + j];
                s += w * x[r * ni + j];
                a += fabs(w * x[r * ni + j]);
            }
            y[r * no + o] = s;
            b[r * no + o] = a;
        }
}

/* Every output within the rounding bound (n + k) u sum|terms| of the exact product. */
static void check_product(nm_xbar *xb, const float *W, const float *x, int64_t m, int64_t n_out, int64_t n_in, int trans,
                          int k) {
    const int64_t no = trans ? n_in : n_out, n = trans ? n_out : n_in;
    float *y = malloc(sizeof(float) * (size_t)(m * no));
    double *ref = malloc(sizeof(double) * (size_t)(m * no)), *bnd = malloc(sizeof(double) * (size_t)(m * no));
    if (trans) nm_xbar_backward(xb, x, m, y, 1);
    else nm_xbar_forward(xb, x, m, y, 1);
    ref_product(W, x, m, n_out, n_in, trans, ref, bnd);
    double worst = 0;
    for (int64_t i = 0; i < m * no; i++) {
        const double tol = (double)(n + k) * U * bnd[i] + 1e-30;
        const double e = fabs(y[i] - ref[i]) / tol;
        if (e > worst) worst = e;
    }
    print_message("    m=%lld %s: worst error / bound = %.3g\n", (long long)m, trans ? "x W" : "x W^T", worst);
    assert_true(worst <= 1.0);
    free(y);
    free(ref);
    free(bnd);
}

/* ---- 1. ideal arrays reproduce the product ------------------------------------------------ */

static void test_ideal_product(void **st) {
    (void)st;
    const int64_t n_out = 300, n_in = 700;   /* 6 x 3 tiles of 128 x 128, remainders 60 and 44 */
    float *W = rand_buf(1, n_out * n_in, -0.8f, 1.3f), *x = rand_buf(2, 9 * n_in, -2.0f, 2.0f);
    float *xt = rand_buf(3, 9 * n_out, -2.0f, 2.0f);
    nm_device *d = make_device(NM_DEV_IDEAL, 0);
    for (int scaling = 0; scaling < 2; scaling++) {
        nm_xbar_config c = ideal_config(128, 128);
        if (scaling) {
            c.input_scaling = NM_INSCALE_CONSTANT;
            c.dac_range = 1024.0f;   /* a power of 2 above every |x|: u = x / 1024 is exact, no clip */
        }
        nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 11);
        assert_int_equal(nm_xbar_n_tiles(xb), 18);
        assert_true(nm_xbar_time(xb) == 0.0);
        /* Weights: w = W / s then w s, two roundings: within 2u |W| (3u for slack). */
        const float *We = nm_xbar_weights(xb);
        for (int64_t e = 0; e < n_out * n_in; e++) assert_true(fabsf(We[e] - W[e]) <= 3 * U * fabsf(W[e]));
        print_message("  %s scaling\n", scaling ? "constant" : "absmax");
        /* Per term: W/s and x/alpha (or x/1024) round once each; at the end the sum is
        ** multiplied by s, dac_range and alpha: k = 2 + 3, rounded up to 8. */
        check_product(xb, W, x, 1, n_out, n_in, 0, 8);    /* fused kernel */
        check_product(xb, W, x, 9, n_out, n_in, 0, 8);    /* nm_sgemm path */
        check_product(xb, W, xt, 1, n_out, n_in, 1, 8);
        check_product(xb, W, xt, 9, n_out, n_in, 1, 8);
        nm_xbar_destroy(xb);
    }
    nm_device_destroy(d);
    free(W);
    free(x);
    free(xt);
}

/* Mapping onto 1..4 pairs of ideal devices: the weights come back within float rounding, and
** the first pair's conductances are the single-pair converter's max(+-w, 0). */
static void test_pairs_exact(void **st) {
    (void)st;
    const int64_t n_out = 37, n_in = 53;
    float *W = rand_buf(4, n_out * n_in, -1.5f, 1.0f), *x = rand_buf(5, 3 * n_in, -1.0f, 1.0f);
    float *gp = malloc(sizeof(float) * (size_t)(n_out * n_in)), *gm = malloc(sizeof(float) * (size_t)(n_out * n_in));
    nm_device *d = make_device(NM_DEV_IDEAL, 0);
    float s = 0;
    for (int64_t e = 0; e < n_out * n_in; e++) s = fmaxf(s, fabsf(W[e]));
    for (int P = 1; P <= 4; P++) {
        nm_xbar_config c = ideal_config(16, 16);
        c.n_pairs = P;
        c.pair_base = 3.0f;
        nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 3);
        const float *We = nm_xbar_weights(xb);
        /* |w| R - lower_k and the division by F_k lose up to ~R u each (R = sum 3^k <= 40),
        ** summed over P pairs: 4 P R u s in all, far above the few ulps seen. */
        double R = 0, F = 1;
        for (int k = 0; k < P; k++, F *= 3) R += F;
        for (int64_t e = 0; e < n_out * n_in; e++) assert_true(fabs(We[e] - W[e]) <= 4.0 * P * R * U * s);
        nm_xbar_conductances(xb, gp, gm);
        for (int64_t e = 0; e < n_out * n_in; e++) {
            const float w = W[e] / s;
            if (P == 1) {
                assert_true(gp[e] == fmaxf(w, 0.0f));
                assert_true(gm[e] == fmaxf(-w, 0.0f));
            } else {   /* pair 0 (least significant) fills first: min(|w| R, 1) */
                const float g0 = fminf(fabsf(w) * (float)R, 1.0f);
                assert_true(fabsf((w > 0 ? gp[e] : gm[e]) - g0) <= 4 * U);
                assert_true((w > 0 ? gm[e] : gp[e]) == 0.0f);
            }
        }
        nm_xbar_conductances(xb, gp, NULL);   /* either may be NULL */
        nm_xbar_conductances(xb, NULL, NULL);
        if (P == 3) {
            /* weights off by up to 4 P R u s (above), per-term relative error ~ 4 P R u + 8 u */
            check_product(xb, W, x, 1, n_out, n_in, 0, (int)(4 * P * R) + 8);
            check_product(xb, W, x, 3, n_out, n_in, 1, (int)(4 * P * R) + 8);
        }
        nm_xbar_destroy(xb);
    }
    nm_device_destroy(d);
    free(W);
    free(x);
    free(gp);
    free(gm);
}

/* ---- 2. quantization ---------------------------------------------------------------------- */

/* DAC: through an identity matrix y_i = dequantized DAC output of x_i. */
static void test_dac(void **st) {
    (void)st;
    const int64_t n = 200;
    float *I = calloc((size_t)(n * n), sizeof(float)), *x = rand_buf(6, 4 * n, -3.0f, 3.0f), y[4 * 200];
    for (int64_t i = 0; i < n; i++) I[i * n + i] = 1.0f;
    nm_device *d = make_device(NM_DEV_IDEAL, 0);
    for (int bits = 2; bits <= 9; bits += 7) {
        for (int scaling = 0; scaling < 2; scaling++) {
            nm_xbar_config c = ideal_config(64, 64);
            c.dac_bits = bits;
            c.input_scaling = scaling ? NM_INSCALE_CONSTANT : NM_INSCALE_ABSMAX;
            c.dac_range = scaling ? 2.0f : 1.0f;
            nm_xbar *xb = make_xbar(&c, d, n, n, I, 1);
            const double step = 2.0 * c.dac_range / (ldexp(1.0, bits) - 2.0);
            for (int m = 1; m <= 4; m += 3) {
                nm_xbar_forward(xb, x, m, y, 0);
                for (int r = 0; r < m; r++) {
                    double alpha = 1;
                    if (!scaling) {
                        alpha = 0;
                        for (int64_t j = 0; j < n; j++) alpha = fmax(alpha, fabs(x[r * n + j]));
                    }
                    for (int64_t i = 0; i < n; i++) {
                        const double xs = x[r * n + i] / alpha, yq = y[r * n + i] / alpha;
                        /* on the grid (k steps, |k| <= 2^(bits-1) - 1) up to float rounding of the
                        ** three scalings (1e-5 steps is ~100 ulps of 2^bits steps) */
                        const double k = yq / step;
                        assert_true(fabs(k - rint(k)) <= 1e-5 * ldexp(1.0, bits));
                        assert_true(fabs(rint(k)) <= ldexp(1.0, bits - 1) - 1);
                        if (fabs(xs) <= c.dac_range) assert_true(fabs(yq - xs) <= 0.5 * step * (1 + 1e-5));
                        else assert_true(fabs(yq - copysign(c.dac_range, xs)) <= 1e-6 * c.dac_range);   /* clipped */
                    }
                }
            }
            nm_xbar_destroy(xb);
        }
    }
    nm_device_destroy(d);
    free(I);
    free(x);
}

/* ADC: one tile, ideal DAC: every output within half a step of the exact partial sum, on
** the grid, and clipped at +-adc_range. */
static void test_adc(void **st) {
    (void)st;
    const int64_t n_out = 48, n_in = 64, m = 6;
    float *W = rand_buf(7, n_out * n_in, -1.0f, 1.0f), *x = rand_buf(8, m * n_in, -1.0f, 1.0f), y[6 * 48];
    for (int64_t j = 0; j < n_in; j++) x[(m - 1) * n_in + j] = 1.0f;   /* last row: all on */
    for (int64_t j = 0; j < n_in; j++) W[j] = 1.0f;                    /* row 0 of W: all 1 */
    nm_device *d = make_device(NM_DEV_IDEAL, 0);
    nm_xbar_config c = ideal_config(64, 64);
    c.adc_bits = 6;
    c.adc_range = 16.0f;
    nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 1);
    const double step = 2.0 * c.adc_range / (ldexp(1.0, c.adc_bits) - 2.0);
    double *ref = malloc(sizeof(double) * (size_t)(m * n_out)), *bnd = malloc(sizeof(double) * (size_t)(m * n_out));
    ref_product(W, x, m, n_out, n_in, 0, ref, bnd);
    int clipped = 0;
    for (int pass = 0; pass < 2; pass++) {
        const int64_t mm = pass ? m : 1, r0 = pass ? 0 : m - 1;
        nm_xbar_forward(xb, x + r0 * n_in, mm, y, 0);
        for (int64_t r = 0; r < mm; r++) {
            double alpha = 0;
            for (int64_t j = 0; j < n_in; j++) alpha = fmax(alpha, fabs(x[(r0 + r) * n_in + j]));
            for (int64_t i = 0; i < n_out; i++) {
                /* s = 1 (row 0 of W is all 1): the tile output is y / alpha, the exact sum ref / alpha */
                const double zq = y[r * n_out + i] / alpha, z = ref[(r0 + r) * n_out + i] / alpha;
                const double k = zq / step;
                /* on the grid: y = z_q s alpha and back, ~3 roundings of |z_q| <= 16, i.e. 1e-5 of a
                ** 0.52 step; 1e-4 leaves room */
                assert_true(fabs(k - rint(k)) <= 1e-4);
                if (fabs(z) <= c.adc_range) assert_true(fabs(zq - z) <= 0.5 * step + 1e-5 * c.adc_range);
                else {
                    assert_true(fabs(zq - copysign(c.adc_range, z)) <= 1e-5 * c.adc_range);
                    clipped++;
                }
            }
        }
    }
    assert_true(clipped >= 2);   /* the all-on row through the all-1 row of W: z = 64 > 16, twice */
    nm_xbar_destroy(xb);
    nm_device_destroy(d);
    free(W);
    free(x);
    free(ref);
    free(bnd);
}

/* ---- 3. IR drop ---------------------------------------------------------------------------- */

/* The model in double from its definition (ideal device: Weff = W / s), without noise or
** ADC; the DAC in float exactly as the library rounds it. Forward (trans 0) or transposed. */
static void ref_read(const nm_xbar_config *c, const float *W, int64_t n_out, int64_t n_in, const float *x, int64_t m,
                     int trans, double *y) {
    const int64_t ni = trans ? n_out : n_in, no = trans ? n_in : n_out, tb = trans ? c->tile_cols : c->tile_rows;
    double s = 0;
    for (int64_t e = 0; e < n_out * n_in; e++) s = fmax(s, fabs(W[e]));
    float *u = malloc(sizeof(float) * (size_t)ni);
    for (int64_t r = 0; r < m; r++) {
        const float *xr = x + r * ni;
        float alpha = 0;
        for (int64_t j = 0; j < ni; j++) alpha = fmaxf(alpha, fabsf(xr[j]));
        const float step = (float)(2.0 * c->dac_range / (ldexp(1.0, c->dac_bits) - 2.0));
        for (int64_t j = 0; j < ni; j++) {
            float v = xr[j] / alpha;
            if (c->dac_bits) v = fminf(fmaxf(rintf(v / step) * step, -c->dac_range), c->dac_range);
            u[j] = v / c->dac_range;
        }
        for (int64_t o = 0; o < no; o++) {
            double sum = 0;
            for (int64_t j0 = 0; j0 < ni; j0 += tb) {
                const int64_t nb = ni - j0 < tb ? ni - j0 : tb;
                double z = 0, a = 0, zf = 0;
                for (int64_t jj = 0; jj < nb; jj++) {
                    const int64_t j = j0 + jj;
                    const double w = (trans ? W[j * n_in + o] : W[o * n_in + j]) / s, d = 1 - (double)jj / nb;
                    const double f = 1 - d * d;
                    z += w * u[j];
                    a += fabs(w) * fabs(u[j]);
                    zf += w * u[j] * f;
                }
                a *= (double)nb / c->ir_g_ratio;
                z -= c->ir_drop * a * (0.05 * a * a - 0.2 * a + 0.5) * zf;
                sum += z;
            }
            y[r * no + o] = sum * s * c->dac_range * alpha;
        }
    }
    free(u);
}

static double rel_err(const float *y, const double *ref, int64_t n) {
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        e += (y[i] - ref[i]) * (y[i] - ref[i]);
        s += ref[i] * ref[i];
    }
    return sqrt(e / s);
}

static void test_ir_drop(void **st) {
    (void)st;
    const int64_t n_out = 70, n_in = 300, m = 3;   /* input blocks 128, 128, 44 */
    float *W = rand_buf(9, n_out * n_in, -1.0f, 1.0f), *x = rand_buf(10, m * n_in, -1.0f, 1.0f);
    float *xt = rand_buf(11, m * n_out, -1.0f, 1.0f);
    float y0[3 * 300], y1[3 * 300];
    double ref[3 * 300], ideal[3 * 300];
    nm_device *d = make_device(NM_DEV_IDEAL, 0);
    nm_xbar_config c = ideal_config(128, 32);
    c.dac_bits = 8;
    /* ir_drop 0 is the ideal path exactly, whatever ir_g_ratio */
    nm_xbar *xa = make_xbar(&c, d, n_out, n_in, W, 1);
    c.ir_g_ratio = 10.0f;
    nm_xbar *xz = make_xbar(&c, d, n_out, n_in, W, 1);
    nm_xbar_forward(xa, x, m, y0, 5);
    nm_xbar_forward(xz, x, m, y1, 5);
    assert_memory_equal(y0, y1, sizeof(float) * (size_t)(m * n_out));
    nm_xbar_destroy(xa);
    nm_xbar_destroy(xz);
    /* y_ideal: the same read without IR drop (the DAC's own error left out of the comparison) */
    for (int64_t i = 0; i < m * n_out; i++) ideal[i] = y0[i];
    const float ratios[5] = {1e7f, 1e6f, 2e5f, 5e4f, 1e4f};   /* falling: the wires' resistance grows */
    double prev = 0;
    c.ir_drop = 1.0f;
    for (int k = 0; k < 5; k++) {
        c.ir_g_ratio = ratios[k];
        nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 1);
        for (int trans = 0; trans < 2; trans++) {
            const int64_t no = trans ? n_in : n_out;
            const float *xi = trans ? xt : x;
            ref_read(&c, W, n_out, n_in, xi, m, trans, ref);
            for (int mm = 1; mm <= m; mm += m - 1) {   /* fused (1 row) and nm_sgemm (3 rows) */
                if (trans) nm_xbar_backward(xb, xi, mm, y0, 5);
                else nm_xbar_forward(xb, xi, mm, y0, 5);
                /* float against double over 300 terms: ~1e-6 relative in the rms; 1e-5 is safe */
                assert_true(rel_err(y0, ref, mm * no) <= 1e-5);
            }
        }
        nm_xbar_forward(xb, x, m, y0, 5);
        const double err = rel_err(y0, ideal, m * n_out);
        print_message("    ir_g_ratio %.0e: ||y - y_ideal|| / ||y_ideal|| = %.4g\n", (double)ratios[k], err);
        assert_true(err > prev);
        prev = err;
        nm_xbar_destroy(xb);
    }
    assert_true(prev > 0.05);   /* at 1e4 the drop is large: a_i ~ 128/1e4 x 30 ~ 0.4 */
    nm_device_destroy(d);
    free(W);
    free(x);
    free(xt);
}

/* ---- 4. read noise ------------------------------------------------------------------------- */

/* A custom device: the target, exactly, and a fresh read noise of 5% of the conductance. */
static void exact_program(const nm_device *d, const float *target, int64_t n, uint64_t seed, uint64_t stream,
                          float *g_prog, float *state) {
    (void)d, (void)seed, (void)stream, (void)state;
    memcpy(g_prog, target, sizeof(float) * (size_t)n);
}
static void exact_at_time(const nm_device *d, const float *g_prog, const float *state, int64_t n, double t, uint64_t seed,
                          uint64_t stream, float *g) {
    (void)d, (void)state, (void)t, (void)seed, (void)stream;
    memcpy(g, g_prog, sizeof(float) * (size_t)n);
}
static float five_percent(const nm_device *d, float g) {
    (void)d;
    return 0.05f * g;
}
static const nm_device_ops noisy_ops = {"noisy", 0, exact_program, exact_at_time, five_percent, NULL};

static void test_read_noise(void **st) {
    (void)st;
    const int64_t n_out = 16, n_in = 96, N = 3000;   /* 2 input blocks of 64 and 32 */
    float *W = rand_buf(12, n_out * n_in, -1.0f, 1.0f), *x = rand_buf(13, n_in, -1.0f, 1.0f);
    nm_device *d = NULL;
    assert_int_equal(nm_device_custom(&noisy_ops, NULL, &d), NM_OK);
    nm_xbar_config c = ideal_config(64, 64);
    c.adc_noise = 0.1f;
    nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 1);
    /* Expected std of y_i: per block b the tile output has variance sum_{j in b} V_ij u_j^2 +
    ** adc_noise^2 with V_ij = 0.05^2 w_ij^2 (one device of the pair is at 0); y = z s alpha. */
    double s = 0, alpha = 0, sd[16], mean_ref[16], bnd[16];
    for (int64_t e = 0; e < n_out * n_in; e++) s = fmax(s, fabs(W[e]));
    for (int64_t j = 0; j < n_in; j++) alpha = fmax(alpha, fabs(x[j]));
    for (int64_t i = 0; i < n_out; i++) {
        double v = 2 * (double)c.adc_noise * c.adc_noise;
        for (int64_t j = 0; j < n_in; j++) {
            const double w = W[i * n_in + j] / s, u = x[j] / alpha;
            v += 0.0025 * w * w * u * u;
        }
        sd[i] = sqrt(v) * s * alpha;
    }
    ref_product(W, x, 1, n_out, n_in, 0, mean_ref, bnd);

    /* N reads with read_ids 0..N-1 through the fused kernel, and N rows of one batched read
    ** (each row its own noise) through the nm_sgemm path. */
    float *X = malloc(sizeof(float) * (size_t)(N * n_in)), *Y = malloc(sizeof(float) * (size_t)(N * n_out));
    for (int64_t r = 0; r < N; r++) memcpy(X + r * n_in, x, sizeof(float) * (size_t)n_in);
    for (int path = 0; path < 2; path++) {
        if (path == 0)
            for (int64_t r = 0; r < N; r++) nm_xbar_forward(xb, x, 1, Y + r * n_out, (uint64_t)r);
        else nm_xbar_forward(xb, X, N, Y, 12345);
        for (int64_t i = 0; i < n_out; i++) {
            double m1 = 0, m2 = 0;
            for (int64_t r = 0; r < N; r++) m1 += Y[r * n_out + i];
            m1 /= N;
            for (int64_t r = 0; r < N; r++) m2 += (Y[r * n_out + i] - m1) * (Y[r * n_out + i] - m1);
            const double std = sqrt(m2 / (N - 1));
            /* The sample std of N normals has relative sd 1/sqrt(2(N-1)) = 1.3%: allow 5 of them
            ** (6.5%); the mean has sd sd/sqrt(N): allow 5 of those. Fixed seeds, so no flakiness. */
            assert_true(fabs(std / sd[i] - 1) <= 5.0 / sqrt(2.0 * (N - 1)));
            assert_true(fabs(m1 - mean_ref[i]) <= 5.0 * sd[i] / sqrt((double)N));
        }
    }
    /* the same read_id: the same bits; another: different values */
    float a[16], b[16];
    nm_xbar_forward(xb, x, 1, a, 77);
    nm_xbar_forward(xb, x, 1, b, 77);
    assert_memory_equal(a, b, sizeof a);
    nm_xbar_forward(xb, x, 1, b, 78);
    for (int64_t i = 0; i < n_out; i++) assert_true(a[i] != b[i]);
    /* The batched path's row 0 has the noise of the fused path's read of row 0 (same index):
    ** equal up to the products' float rounding (1e-5 of the output scale). */
    nm_xbar_forward(xb, X, 3, Y, 77);
    for (int64_t i = 0; i < n_out; i++) assert_true(fabsf(Y[i] - a[i]) <= 1e-5f * (float)(s * alpha * 10));
    for (int64_t i = 0; i < n_out; i++) assert_true(Y[n_out + i] != Y[i]);   /* rows differ */
    /* the transposed read has noise too, also keyed by read_id */
    float xt[16], yt1[96], yt2[96];
    for (int i = 0; i < 16; i++) xt[i] = 0.5f - 0.06f * (float)i;
    nm_xbar_backward(xb, xt, 1, yt1, 3);
    nm_xbar_backward(xb, xt, 1, yt2, 3);
    assert_memory_equal(yt1, yt2, sizeof yt1);
    nm_xbar_backward(xb, xt, 1, yt2, 4);
    assert_true(memcmp(yt1, yt2, sizeof yt1) != 0);
    /* ... and its batched path's row 0 is the m = 1 read, up to float rounding (as above) */
    float XT[3 * 16], YT[3 * 96];
    for (int r = 0; r < 3; r++) memcpy(XT + r * 16, xt, sizeof xt);
    nm_xbar_backward(xb, XT, 3, YT, 3);
    for (int64_t j = 0; j < n_in; j++) assert_true(fabsf(YT[j] - yt1[j]) <= 1e-5f * (float)(s * 10));
    nm_xbar_destroy(xb);
    nm_device_destroy(d);
    free(W);
    free(x);
    free(X);
    free(Y);
}

/* ---- 5. two pairs per weight --------------------------------------------------------------- */

static void test_two_pairs(void **st) {
    (void)st;
    const int64_t n_out = 64, n_in = 100, L = 5;   /* 5 levels: steps of 1/4 of g_max */
    float *W = rand_buf(14, n_out * n_in, -1.0f, 1.0f);
    nm_device *d = make_device(NM_DEV_QUANTIZED, (int)L);
    double s = 0;
    for (int64_t e = 0; e < n_out * n_in; e++) s = fmax(s, fabs(W[e]));
    double rms[3] = {0};
    for (int P = 1; P <= 2; P++) {
        nm_xbar_config c = ideal_config(64, 64);
        c.n_pairs = P;   /* pair_base 4: F = 1, 4, R = 5 */
        nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 1);
        const float *We = nm_xbar_weights(xb);
        const double half = 0.5 / (double)(L - 1) * s;   /* half a level, in weight units */
        for (int64_t e = 0; e < n_out * n_in; e++) {
            const double err = fabs(We[e] - W[e]);
            rms[P] += err * err;
            /* Each pair is off by at most half a level, weighted F_k / R: summed, half a level
            ** (both pairs and one pair alike); 1e-5 for float rounding. With 2 pairs a weight
            ** below R^-1 = 0.2 lives in pair 0 alone: 0.2 x half a level. */
            assert_true(err <= half * (1 + 1e-5));
            if (P == 2 && fabs(W[e]) < 0.2 * s * (1 - 1e-5)) assert_true(err <= 0.2 * half * (1 + 1e-5));
        }
        rms[P] = sqrt(rms[P] / (double)(n_out * n_in));
        nm_xbar_destroy(xb);
    }
    print_message("    rms weight error, %lld levels: 1 pair %.4g, 2 pairs %.4g\n", (long long)L, rms[1], rms[2]);
    /* Uniform W: 1 pair has rms q/sqrt(12) of a level q; 2 pairs sqrt(0.2 x 0.2^2 + 0.8 x 0.8^2)
    ** = 0.72 of that. 0.85 leaves room for sampling. */
    assert_true(rms[2] < 0.85 * rms[1]);
    nm_device_destroy(d);
    free(W);
}

/* ---- 6. thread-count independence ----------------------------------------------------------- */

static void run_all(int threads, uint64_t seed, nm_drift_comp mode, float *w, float *g, float *y1, float *yb, float *yt,
                    float *ytb, float *ds) {
    const int64_t n_out = 150, n_in = 260, m = 200;   /* m = 128 + 72: two chunks */
    nm_set_threads(threads);
    float *W = rand_buf(15, n_out * n_in, -1.0f, 1.0f), *x = rand_buf(16, m * n_in, -1.0f, 1.0f);
    float *xt = rand_buf(17, m * n_out, -1.0f, 1.0f);
    nm_device_params p;
    nm_device_params_default(NM_DEV_PCM, &p);
    p.read_sigma = 0.0175f;
    nm_device *d = NULL;
    assert_int_equal(nm_device_create(&p, &d), NM_OK);
    nm_xbar_config c = ideal_config(100, 64);
    c.n_pairs = 2;
    c.dac_bits = 7;
    c.adc_bits = 9;
    c.adc_noise = 0.06f;
    c.ir_drop = 1.0f;
    c.ir_g_ratio = 1e4f;
    nm_xbar *xb = NULL;
    assert_int_equal(nm_xbar_create(&c, d, n_out, n_in, &xb), NM_OK);
    assert_int_equal(nm_xbar_set_drift_comp(xb, mode), NM_OK);
    assert_int_equal(nm_xbar_program(xb, W, seed, 7), NM_OK);
    assert_int_equal(nm_xbar_set_time(xb, 3600.0), NM_OK);
    assert_true(nm_xbar_time(xb) == 3600.0);
    if (ds) memcpy(ds, nm_xbar_drift_scale(xb), sizeof(float) * (size_t)n_out);
    memcpy(w, nm_xbar_weights(xb), sizeof(float) * (size_t)(n_out * n_in));
    nm_xbar_conductances(xb, g, g + n_out * n_in);
    nm_xbar_forward(xb, x, 1, y1, 9);
    nm_xbar_forward(xb, x, m, yb, 9);
    nm_xbar_backward(xb, xt, 1, yt, 9);
    nm_xbar_backward(xb, xt, m, ytb, 9);
    nm_xbar_destroy(xb);
    nm_device_destroy(d);
    free(W);
    free(x);
    free(xt);
    nm_set_threads(0);
}

static void test_threads(void **st) {
    (void)st;
    const size_t nw = 150 * 260, sizes[6] = {nw, 2 * nw, 150, 200 * 150, 260, 200 * 260};
    float *b[4][6];
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 6; i++) b[k][i] = malloc(sizeof(float) * sizes[i]);
    const nm_drift_comp none = NM_DRIFT_COMP_NONE;
    run_all(1, 99, none, b[0][0], b[0][1], b[0][2], b[0][3], b[0][4], b[0][5], NULL);
    run_all(2, 99, none, b[1][0], b[1][1], b[1][2], b[1][3], b[1][4], b[1][5], NULL);
    /* 3 threads split the transposed read's columns at other points than 2 */
    run_all(3, 99, none, b[2][0], b[2][1], b[2][2], b[2][3], b[2][4], b[2][5], NULL);
    run_all(1, 98, none, b[3][0], b[3][1], b[3][2], b[3][3], b[3][4], b[3][5], NULL);
    for (int i = 0; i < 6; i++) {
        assert_memory_equal(b[0][i], b[1][i], sizeof(float) * sizes[i]);         /* same seed */
        assert_memory_equal(b[0][i], b[2][i], sizeof(float) * sizes[i]);
        assert_true(memcmp(b[0][i], b[3][i], sizeof(float) * sizes[i]) != 0);   /* another seed */
    }
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 6; i++) free(b[k][i]);
}

/* PCM drift: weights shrink over a day; the same time again gives the same weights. */
static void test_drift(void **st) {
    (void)st;
    const int64_t n = 64;
    float *W = rand_buf(18, n * n, -1.0f, 1.0f), *w0 = malloc(sizeof(float) * n * n);
    nm_device *d = make_device(NM_DEV_PCM, 0);
    nm_xbar_config c = ideal_config(64, 64);
    nm_xbar *xb = make_xbar(&c, d, n, n, W, 5);
    double a0 = 0, a1 = 0;
    memcpy(w0, nm_xbar_weights(xb), sizeof(float) * n * n);
    for (int64_t e = 0; e < n * n; e++) a0 += fabsf(w0[e]);
    assert_int_equal(nm_xbar_set_time(xb, 86400.0), NM_OK);
    for (int64_t e = 0; e < n * n; e++) a1 += fabsf(nm_xbar_weights(xb)[e]);
    /* nu ~ 0.05: (86420 / 20)^-0.05 ~ 0.66; anything below 0.9 is drift */
    assert_true(a1 < 0.9 * a0);
    assert_int_equal(nm_xbar_set_time(xb, 0.0), NM_OK);
    assert_memory_equal(nm_xbar_weights(xb), w0, sizeof(float) * n * n);
    nm_xbar_destroy(xb);
    nm_device_destroy(d);
    free(W);
    free(w0);
}

/* ---- 7. drift compensation ------------------------------------------------------------------- */

/* A custom device that holds its targets exactly and, at any t > 0, reads k_o times them,
** o = e / n_in the output (row of W) the device belongs to: a drift uniform within each
** output, set per output by the test. No read noise (read_sigma NULL). */
typedef struct drift_ctx {
    int64_t      n_in;
    const float *k;   /* (n_out) drift factor per output at t > 0 */
} drift_ctx;
static void scaled_at_time(const nm_device *d, const float *g_prog, const float *state, int64_t n, double t,
                           uint64_t seed, uint64_t stream, float *g) {
    (void)state, (void)seed, (void)stream;
    const drift_ctx *c = d->ctx;
    for (int64_t e = 0; e < n; e++) g[e] = t > 0 ? g_prog[e] * c->k[e / c->n_in] : g_prog[e];
}
static const nm_device_ops drift_ops = {"drift", 0, exact_program, scaled_at_time, NULL, NULL};

#define DC_NX 4   /* forward rows */
#define DC_NT 3   /* transposed rows */

/* Every read path on the same inputs: y (DC_NX, n_out) row by row through the fused kernel,
** then (DC_NX, n_out) batched, then (2, 3, n_out) of forward_rep on the first 3 rows, then
** (DC_NT, n_in) transposed row by row, then (DC_NT, n_in) batched. */
static int64_t dc_len(int64_t n_out, int64_t n_in) { return (2 * DC_NX + 6) * n_out + 2 * DC_NT * n_in; }

static void dc_reads(nm_xbar *xb, const float *x, const float *xt, int64_t n_out, int64_t n_in, float *y) {
    for (int r = 0; r < DC_NX; r++) nm_xbar_forward(xb, x + r * n_in, 1, y + r * n_out, 3);
    y += DC_NX * n_out;
    nm_xbar_forward(xb, x, DC_NX, y, 3);
    y += DC_NX * n_out;
    nm_xbar_forward_rep(xb, x, 3, 2, y, 3);
    y += 6 * n_out;
    for (int r = 0; r < DC_NT; r++) nm_xbar_backward(xb, xt + r * n_out, 1, y + r * n_in, 3);
    y += DC_NT * n_in;
    nm_xbar_backward(xb, xt, DC_NT, y, 3);
}

/* The bound sum_j |W_ij x_j| of every output of dc_reads, laid out the same way. */
static void dc_bounds(const float *W, const float *x, const float *xt, int64_t n_out, int64_t n_in, double *bnd) {
    double *ybuf = malloc(sizeof(double) * (size_t)(DC_NX * n_out + DC_NT * n_in));
    double *bf = malloc(sizeof(double) * (size_t)(DC_NX * n_out));
    double *bb = malloc(sizeof(double) * (size_t)(DC_NT * n_in));
    ref_product(W, x, DC_NX, n_out, n_in, 0, ybuf, bf);
    ref_product(W, xt, DC_NT, n_out, n_in, 1, ybuf, bb);
    memcpy(bnd, bf, sizeof(double) * (size_t)(DC_NX * n_out));
    memcpy(bnd + DC_NX * n_out, bf, sizeof(double) * (size_t)(DC_NX * n_out));
    for (int k = 0; k < 2; k++) memcpy(bnd + (2 * DC_NX + 3 * k) * n_out, bf, sizeof(double) * (size_t)(3 * n_out));
    memcpy(bnd + (2 * DC_NX + 6) * n_out, bb, sizeof(double) * (size_t)(DC_NT * n_in));
    memcpy(bnd + (2 * DC_NX + 6) * n_out + DC_NT * n_in, bb, sizeof(double) * (size_t)(DC_NT * n_in));
    free(ybuf);
    free(bf);
    free(bb);
}

/* max over outputs of |a - k b| / tol_i, tol_i = (2 (n_in + n_out) + 32) u bnd_i. Each read is
** within (n + 8) u bnd of its exact value (check_product); a factor ref_0 / ref_t, from sums of
** n_in positive terms, is within 2 (n_in + 4) u of its exact value, and the transposed read
** under COLUMN rounds c_i x_i once more: 2 (n_in + n_out) + 32 covers both reads and the factor. */
static double dc_worst(const float *a, const float *b, double k, const double *bnd, int64_t n, int64_t n_out,
                       int64_t n_in) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        const double tol = (2.0 * (double)(n_in + n_out) + 32.0) * U * bnd[i] + 1e-30;
        const double e = fabs(a[i] - k * b[i]) / tol;
        if (e > worst) worst = e;
    }
    return worst;
}

/* A drift G(t) = k G(0), the same k for every device: GLOBAL and COLUMN give factors 1/k and
** every compensated read at t equals the read at t = 0 to float rounding; without
** compensation the read at t is k times the read at t = 0. 3 x 3 tiles with remainders: the
** forward read sums 3 input tiles (128, 128, 44), the transposed read 3 (64, 64, 22). */
static void test_drift_comp_uniform(void **st) {
    (void)st;
    const int64_t n_out = 150, n_in = 300, n = dc_len(n_out, n_in);
    float *W = rand_buf(30, n_out * n_in, -1.0f, 1.0f), *x = rand_buf(31, DC_NX * n_in, -1.5f, 1.0f);
    float *xt = rand_buf(32, DC_NT * n_out, -1.0f, 2.0f), k[150];
    for (int64_t i = 0; i < n_out; i++) k[i] = 0.6f;   /* not a power of 2: g k rounds */
    float *y0 = malloc(sizeof(float) * (size_t)n), *yt = malloc(sizeof(float) * (size_t)n);
    double *bnd = malloc(sizeof(double) * (size_t)n);
    dc_bounds(W, x, xt, n_out, n_in, bnd);
    drift_ctx ctx = {n_in, k};
    nm_device *d = NULL;
    assert_int_equal(nm_device_custom(&drift_ops, &ctx, &d), NM_OK);
    nm_xbar_config c = ideal_config(128, 64);
    for (int mode = NM_DRIFT_COMP_NONE; mode <= NM_DRIFT_COMP_COLUMN; mode++) {
        nm_xbar *xb = NULL;
        assert_int_equal(nm_xbar_create(&c, d, n_out, n_in, &xb), NM_OK);
        assert_int_equal(nm_xbar_set_drift_comp(xb, (nm_drift_comp)mode), NM_OK);
        assert_int_equal(nm_xbar_program(xb, W, 1, 2), NM_OK);
        dc_reads(xb, x, xt, n_out, n_in, y0);
        assert_int_equal(nm_xbar_set_time(xb, 1e4), NM_OK);
        dc_reads(xb, x, xt, n_out, n_in, yt);
        const float *ds = nm_xbar_drift_scale(xb);
        const double comp = dc_worst(yt, y0, 1.0, bnd, n, n_out, n_in);
        const double raw = dc_worst(yt, y0, 0.6, bnd, n, n_out, n_in);
        print_message("    %-6s: worst |y_t - y_0| / tol = %.3g, |y_t - 0.6 y_0| / tol = %.3g\n",
                      nm_drift_comp_name((nm_drift_comp)mode), comp, raw);
        if (mode == NM_DRIFT_COMP_NONE) {
            for (int64_t i = 0; i < n_out; i++) assert_true(ds[i] == 1.0f);
            assert_true(raw <= 1.0);     /* uncompensated: off by k */
            assert_true(comp > 1e3);
        } else {
            /* c = ref_0 / ref_t: 1 / 0.6 within the factor's rounding, 2 (n_in + 4) u */
            for (int64_t i = 0; i < n_out; i++) assert_true(fabs(ds[i] * 0.6 - 1.0) <= 2.0 * (n_in + 4) * U);
            if (mode == NM_DRIFT_COMP_GLOBAL)
                for (int64_t i = 1; i < n_out; i++) assert_true(ds[i] == ds[0]);
            assert_true(comp <= 1.0);    /* compensated: the t = 0 read */
            assert_true(raw > 1e3);
        }
        /* the weights stay the raw ones the arrays hold: 0.6 W to rounding */
        const float *We = nm_xbar_weights(xb);
        for (int64_t e = 0; e < n_out * n_in; e++) assert_true(fabsf(We[e] - 0.6f * W[e]) <= 4 * U * fabsf(W[e]));
        nm_xbar_destroy(xb);
    }
    nm_device_destroy(d);
    free(W);
    free(x);
    free(xt);
    free(y0);
    free(yt);
    free(bnd);
}

/* A drift uniform within each output but different between outputs (k_o in [0.35, 0.95]):
** COLUMN undoes it to float rounding on every path (the transposed read through the inputs'
** factors), GLOBAL and NONE do not. Then with ADC noise an all-zero output reads only noise
** as its reference: COLUMN leaves its factor at 1. */
static void test_drift_comp_column(void **st) {
    (void)st;
    const int64_t n_out = 150, n_in = 300, n = dc_len(n_out, n_in);
    float *W = rand_buf(33, n_out * n_in, -1.0f, 1.0f), *x = rand_buf(34, DC_NX * n_in, -1.0f, 1.0f);
    float *xt = rand_buf(35, DC_NT * n_out, -1.0f, 1.0f), k[150];
    for (int64_t i = 0; i < n_out; i++) k[i] = 0.35f + 0.06f * (float)((i * 7) % 11);
    float *y0 = malloc(sizeof(float) * (size_t)n), *yt = malloc(sizeof(float) * (size_t)n);
    double *bnd = malloc(sizeof(double) * (size_t)n), worst[3];
    dc_bounds(W, x, xt, n_out, n_in, bnd);
    drift_ctx ctx = {n_in, k};
    nm_device *d = NULL;
    assert_int_equal(nm_device_custom(&drift_ops, &ctx, &d), NM_OK);
    nm_xbar_config c = ideal_config(128, 64);
    for (int mode = NM_DRIFT_COMP_NONE; mode <= NM_DRIFT_COMP_COLUMN; mode++) {
        nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 1);
        assert_int_equal(nm_xbar_set_drift_comp(xb, (nm_drift_comp)mode), NM_OK);
        dc_reads(xb, x, xt, n_out, n_in, y0);
        assert_int_equal(nm_xbar_set_time(xb, 1e4), NM_OK);
        dc_reads(xb, x, xt, n_out, n_in, yt);
        worst[mode] = dc_worst(yt, y0, 1.0, bnd, n, n_out, n_in);
        if (mode == NM_DRIFT_COMP_COLUMN) {
            const float *ds = nm_xbar_drift_scale(xb);
            for (int64_t i = 0; i < n_out; i++) assert_true(fabs(ds[i] * k[i] - 1.0) <= 2.0 * (n_in + 4) * U);
        }
        nm_xbar_destroy(xb);
    }
    print_message("    worst |y_t - y_0| / tol: none %.3g, global %.3g, column %.3g\n", worst[0], worst[1], worst[2]);
    assert_true(worst[NM_DRIFT_COMP_COLUMN] <= 1.0);
    assert_true(worst[NM_DRIFT_COMP_GLOBAL] > 1e3);
    assert_true(worst[NM_DRIFT_COMP_NONE] > 1e3);

    /* Output 3 all zero, ADC noise 0.05: its reference is noise alone (below the floor of
    ** 5 sigma = 5 x 0.05 x sqrt(3)), so its factor stays 1; the others are 1/k_o up to the
    ** reference's noise (std 0.05 sqrt(3) against references of ~75 k_o: 1e-3 relative, 1% is
    ** 10 sigma). */
    for (int64_t j = 0; j < n_in; j++) W[3 * n_in + j] = 0.0f;
    c.adc_noise = 0.05f;
    nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 1);
    assert_int_equal(nm_xbar_set_drift_comp(xb, NM_DRIFT_COMP_COLUMN), NM_OK);
    assert_int_equal(nm_xbar_set_time(xb, 1e4), NM_OK);
    const float *ds = nm_xbar_drift_scale(xb);
    assert_true(ds[3] == 1.0f);
    for (int64_t i = 0; i < n_out; i++)
        if (i != 3) assert_true(fabs(ds[i] * k[i] - 1.0) <= 0.01);
    nm_xbar_destroy(xb);
    nm_device_destroy(d);
    free(W);
    free(x);
    free(xt);
    free(y0);
    free(yt);
    free(bnd);
}

/* PCM (aihwkit's model, programming noise on, 1/f noise off, no read noise) at one year.
** Outputs differ in their weights' magnitude (row o of W spans +-(0.03 .. 1) of max|W|), and
** PCM's drift exponent grows as the conductance falls (mu_nu 0.049 at g >= 0.24 g_max up to
** ~0.08 at 0.02 g_max): small-weight outputs drift more. What a factor can fix is each
** output's gain, the least-squares slope of its compensated reads at t on its reads at t = 0
** (the per-device spread of nu, sig_nu up to 0.045, i.e. +-60 % per device after a year, is
** noise that no factor removes; measured as an rms error it even favours factors below
** 1 / mean drift). The rms over outputs of (gain - 1): COLUMN < GLOBAL < NONE, by clear
** margins (seen: 0.059, 0.110, 0.527). COLUMN's remainder is the reference's weighting: it
** averages the drift over |w| (and over the devices of the other side of each pair), the
** gain over w^2. */
static void test_drift_comp_pcm(void **st) {
    (void)st;
    const int64_t n_out = 64, n_in = 256, m = 32;
    float *W = rand_buf(36, n_out * n_in, -1.0f, 1.0f), *x = rand_buf(37, m * n_in, -1.0f, 1.0f);
    for (int64_t o = 0; o < n_out; o++) {
        const float mag = 0.03f + 0.97f * (float)(o % 8) / 7.0f;
        for (int64_t j = 0; j < n_in; j++) W[o * n_in + j] *= mag;
    }
    nm_device_params p;
    nm_device_params_default(NM_DEV_PCM, &p);
    p.pcm_read_scale = 0.0f;
    nm_device *d = NULL;
    assert_int_equal(nm_device_create(&p, &d), NM_OK);
    nm_xbar_config c = ideal_config(128, 32);
    float *y0 = malloc(sizeof(float) * (size_t)(m * n_out)), *yt = malloc(sizeof(float) * (size_t)(m * n_out));
    double err[3];
    for (int mode = NM_DRIFT_COMP_NONE; mode <= NM_DRIFT_COMP_COLUMN; mode++) {
        nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 5);
        assert_int_equal(nm_xbar_set_drift_comp(xb, (nm_drift_comp)mode), NM_OK);
        nm_xbar_forward(xb, x, m, y0, 1);
        assert_int_equal(nm_xbar_set_time(xb, 365.0 * 86400.0), NM_OK);
        nm_xbar_forward(xb, x, m, yt, 1);
        double sum = 0;
        for (int64_t o = 0; o < n_out; o++) {
            double ab = 0, bb = 0;
            for (int64_t r = 0; r < m; r++) {
                const double a = yt[r * n_out + o], b = y0[r * n_out + o];
                ab += a * b;
                bb += b * b;
            }
            sum += (ab / bb - 1) * (ab / bb - 1);
        }
        err[mode] = sqrt(sum / (double)n_out);
        nm_xbar_destroy(xb);
    }
    print_message("    PCM at 1 year, rms of (gain - 1) over outputs: none %.4f, global %.4f, column %.4f\n", err[0],
                  err[1], err[2]);
    assert_true(err[NM_DRIFT_COMP_NONE] > 0.4);   /* (1.6e6)^-0.05 ~ 0.5: about half lost */
    assert_true(err[NM_DRIFT_COMP_GLOBAL] < 0.3 * err[NM_DRIFT_COMP_NONE]);
    assert_true(err[NM_DRIFT_COMP_COLUMN] < 0.75 * err[NM_DRIFT_COMP_GLOBAL]);
    nm_device_destroy(d);
    free(W);
    free(x);
    free(y0);
    free(yt);
}

/* With every noise on (read noise, 1/f noise, ADC noise and rounding, IR drop, two pairs):
** the factors are exactly 1 right after programming and again after set_time(0), the reads
** at t = 0 then have the bits of an uncompensated crossbar's, and a mode set on a crossbar
** already at t gives the factors of one set before programming (the baseline is always the
** t = 0 reference). */
static void test_drift_comp_t0(void **st) {
    (void)st;
    const int64_t n_out = 70, n_in = 200, n = dc_len(n_out, n_in);
    float *W = rand_buf(38, n_out * n_in, -1.0f, 1.0f), *x = rand_buf(39, DC_NX * n_in, -1.0f, 1.0f);
    float *xt = rand_buf(40, DC_NT * n_out, -1.0f, 1.0f);
    float *ya = malloc(sizeof(float) * (size_t)n), *yb = malloc(sizeof(float) * (size_t)n);
    nm_device_params p;
    nm_device_params_default(NM_DEV_PCM, &p);
    p.read_sigma = 0.0175f;
    nm_device *d = NULL;
    assert_int_equal(nm_device_create(&p, &d), NM_OK);
    nm_xbar_config c = ideal_config(64, 32);
    c.n_pairs = 2;
    c.dac_bits = 7;
    c.adc_bits = 9;
    c.adc_noise = 0.06f;
    c.ir_drop = 1.0f;
    c.ir_g_ratio = 1e4f;
    nm_xbar *ref = make_xbar(&c, d, n_out, n_in, W, 8);   /* no compensation */
    dc_reads(ref, x, xt, n_out, n_in, yb);
    for (int mode = NM_DRIFT_COMP_GLOBAL; mode <= NM_DRIFT_COMP_COLUMN; mode++) {
        nm_xbar *xb = NULL;
        assert_int_equal(nm_xbar_create(&c, d, n_out, n_in, &xb), NM_OK);
        assert_int_equal(nm_xbar_set_drift_comp(xb, (nm_drift_comp)mode), NM_OK);
        const float *ds = nm_xbar_drift_scale(xb);
        for (int64_t i = 0; i < n_out; i++) assert_true(ds[i] == 1.0f);   /* not programmed yet */
        assert_int_equal(nm_xbar_program(xb, W, 8, 7), NM_OK);
        for (int64_t i = 0; i < n_out; i++) assert_true(ds[i] == 1.0f);
        assert_int_equal(nm_xbar_set_time(xb, 86400.0), NM_OK);
        int moved = 0;
        for (int64_t i = 0; i < n_out; i++) moved += ds[i] > 1.2f;   /* ~1 / 0.66 after a day */
        assert_int_equal(moved, n_out);
        /* set later, at t = 1 day: the same factors */
        float *dsa = malloc(sizeof(float) * (size_t)n_out);
        memcpy(dsa, ds, sizeof(float) * (size_t)n_out);
        assert_int_equal(nm_xbar_set_time(ref, 86400.0), NM_OK);
        assert_int_equal(nm_xbar_set_drift_comp(ref, (nm_drift_comp)mode), NM_OK);
        assert_memory_equal(nm_xbar_drift_scale(ref), dsa, sizeof(float) * (size_t)n_out);
        assert_int_equal(nm_xbar_set_drift_comp(ref, NM_DRIFT_COMP_NONE), NM_OK);
        for (int64_t i = 0; i < n_out; i++) assert_true(nm_xbar_drift_scale(ref)[i] == 1.0f);
        assert_int_equal(nm_xbar_set_time(ref, 0.0), NM_OK);
        /* back to t = 0: exactly 1, and the reads of the uncompensated crossbar, bit for bit */
        assert_int_equal(nm_xbar_set_time(xb, 0.0), NM_OK);
        for (int64_t i = 0; i < n_out; i++) assert_true(ds[i] == 1.0f);
        dc_reads(xb, x, xt, n_out, n_in, ya);
        assert_memory_equal(ya, yb, sizeof(float) * (size_t)n);
        assert_int_equal(nm_xbar_set_time(xb, -0.0), NM_OK);   /* -0 is the same time */
        for (int64_t i = 0; i < n_out; i++) assert_true(ds[i] == 1.0f);
        free(dsa);
        nm_xbar_destroy(xb);
    }
    nm_xbar_destroy(ref);
    nm_device_destroy(d);
    free(W);
    free(x);
    free(xt);
    free(ya);
    free(yb);
}

/* The compensated read under COLUMN and GLOBAL: 1, 2 and 3 threads give the same bits
** (weights, conductances, every read and the factors), another seed other bits. */
static void test_drift_comp_threads(void **st) {
    (void)st;
    const size_t nw = 150 * 260, sizes[7] = {nw, 2 * nw, 150, 200 * 150, 260, 200 * 260, 150};
    float *b[4][7];
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 7; i++) b[k][i] = malloc(sizeof(float) * sizes[i]);
    for (int mode = NM_DRIFT_COMP_GLOBAL; mode <= NM_DRIFT_COMP_COLUMN; mode++) {
        const nm_drift_comp md = (nm_drift_comp)mode;
        run_all(1, 99, md, b[0][0], b[0][1], b[0][2], b[0][3], b[0][4], b[0][5], b[0][6]);
        run_all(2, 99, md, b[1][0], b[1][1], b[1][2], b[1][3], b[1][4], b[1][5], b[1][6]);
        run_all(3, 99, md, b[2][0], b[2][1], b[2][2], b[2][3], b[2][4], b[2][5], b[2][6]);
        run_all(1, 98, md, b[3][0], b[3][1], b[3][2], b[3][3], b[3][4], b[3][5], b[3][6]);
        for (int i = 0; i < 7; i++) {
            assert_memory_equal(b[0][i], b[1][i], sizeof(float) * sizes[i]);
            assert_memory_equal(b[0][i], b[2][i], sizeof(float) * sizes[i]);
            assert_true(memcmp(b[0][i], b[3][i], sizeof(float) * sizes[i]) != 0);
        }
        for (size_t i = 0; i < 150; i++) assert_true(b[0][6][i] > 1.1f);   /* compensating ~0.78 at 1 h */
    }
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 7; i++) free(b[k][i]);
}

/* Names, parsing and the mode's check. */
static void test_drift_comp_names(void **st) {
    (void)st;
    for (int k = NM_DRIFT_COMP_NONE; k <= NM_DRIFT_COMP_COLUMN; k++) {
        nm_drift_comp m = (nm_drift_comp)99;
        assert_int_equal(nm_drift_comp_parse(nm_drift_comp_name((nm_drift_comp)k), &m), NM_OK);
        assert_int_equal(m, k);
    }
    assert_string_equal(nm_drift_comp_name(NM_DRIFT_COMP_NONE), "none");
    assert_string_equal(nm_drift_comp_name(NM_DRIFT_COMP_GLOBAL), "global");
    assert_string_equal(nm_drift_comp_name(NM_DRIFT_COMP_COLUMN), "column");
    assert_string_equal(nm_drift_comp_name((nm_drift_comp)7), "unknown");
    nm_drift_comp m = NM_DRIFT_COMP_GLOBAL;
    const char *bad[3] = {"colum", "GLOBAL", ""};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nm_drift_comp_parse(bad[i], &m), NM_INVAL);
        char quoted[16];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        const char *msg = nm_errmsg();
        if (!strstr(msg, quoted) || !strstr(msg, "none") || !strstr(msg, "global") || !strstr(msg, "column"))
            fail_msg("message '%s' does not name %s and the choices", msg, quoted);
    }
    assert_int_equal(nm_drift_comp_parse(NULL, &m), NM_INVAL);
    assert_int_equal(m, NM_DRIFT_COMP_GLOBAL);   /* unchanged on error */
    nm_device *d = make_device(NM_DEV_IDEAL, 0);
    nm_xbar_config c = ideal_config(8, 8);
    nm_xbar *xb = NULL;
    assert_int_equal(nm_xbar_create(&c, d, 4, 4, &xb), NM_OK);
    assert_int_equal(nm_xbar_set_drift_comp(xb, (nm_drift_comp)3), NM_INVAL);
    assert_non_null(strstr(nm_errmsg(), "drift compensation"));
    assert_int_equal(nm_xbar_set_drift_comp(xb, (nm_drift_comp)-1), NM_INVAL);
    nm_xbar_destroy(xb);
    nm_device_destroy(d);
}

/* ---- 8. errors ------------------------------------------------------------------------------- */

static void expect_bad(nm_xbar_config c, const char *field) {
    assert_int_equal(nm_xbar_config_check(&c), NM_INVAL);
    if (!strstr(nm_errmsg(), field)) fail_msg("message '%s' does not name '%s'", nm_errmsg(), field);
}

static void test_config_errors(void **st) {
    (void)st;
    nm_xbar_config c;
    nm_xbar_config_default(&c);
    assert_int_equal(nm_xbar_config_check(&c), NM_OK);
    assert_int_equal(c.tile_rows, 256);
    assert_int_equal(c.n_pairs, 1);
    nm_xbar_config b;
    b = c, b.tile_rows = 0, expect_bad(b, "tile_rows");
    b = c, b.tile_cols = -3, expect_bad(b, "tile_cols");
    b = c, b.n_pairs = 5, expect_bad(b, "n_pairs");
    b = c, b.n_pairs = 0, expect_bad(b, "n_pairs");
    b = c, b.pair_base = NAN, expect_bad(b, "pair_base");
    b = c, b.pair_base = 0.5f, expect_bad(b, "pair_base");
    b = c, b.input_scaling = (nm_input_scaling)7, expect_bad(b, "input_scaling");
    b = c, b.dac_bits = 30, expect_bad(b, "dac_bits");
    b = c, b.dac_bits = 1, expect_bad(b, "dac_bits");
    b = c, b.dac_range = 0, expect_bad(b, "dac_range");
    b = c, b.adc_bits = -1, expect_bad(b, "adc_bits");
    b = c, b.adc_range = INFINITY, expect_bad(b, "adc_range");
    b = c, b.adc_noise = -0.1f, expect_bad(b, "adc_noise");
    b = c, b.ir_drop = -1, expect_bad(b, "ir_drop");
    b = c, b.ir_g_ratio = 0, expect_bad(b, "ir_g_ratio");

    nm_device *d = make_device(NM_DEV_IDEAL, 0);
    nm_xbar *xb = (nm_xbar *)&c;   /* must be reset to NULL on failure */
    b = c, b.n_pairs = 9;
    assert_int_equal(nm_xbar_create(&b, d, 4, 4, &xb), NM_INVAL);
    assert_null(xb);
    assert_int_equal(nm_xbar_create(&c, d, 0, 4, &xb), NM_INVAL);
    assert_non_null(strstr(nm_errmsg(), "n_out"));
    assert_int_equal(nm_xbar_create(&c, d, 4, -1, &xb), NM_INVAL);
    assert_non_null(strstr(nm_errmsg(), "n_in"));
    assert_int_equal(nm_xbar_create(&c, NULL, 4, 4, &xb), NM_INVAL);
    assert_int_equal(nm_xbar_create(&c, d, 4, 4, &xb), NM_OK);
    assert_int_equal(nm_xbar_set_time(xb, 1.0), NM_INVAL);   /* not programmed */
    float W[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, y[4];
    W[6] = NAN;
    assert_int_equal(nm_xbar_program(xb, W, 1, 1), NM_INVAL);
    assert_non_null(strstr(nm_errmsg(), "W[1, 2]"));
    W[6] = 0;
    assert_int_equal(nm_xbar_program(xb, W, 1, 1), NM_OK);
    assert_int_equal(nm_xbar_set_time(xb, -1.0), NM_INVAL);
    assert_int_equal(nm_xbar_set_time(xb, NAN), NM_INVAL);
    /* an all-zero input row under ABSMAX reads as 0; an all-zero W programs to 0 */
    const float x0[4] = {0, 0, 0, 0};
    nm_xbar_forward(xb, x0, 1, y, 0);
    for (int i = 0; i < 4; i++) assert_true(y[i] == 0.0f);
    nm_xbar_forward(xb, x0, 0, y, 0);   /* m = 0: nothing */
    memset(W, 0, sizeof W);
    assert_int_equal(nm_xbar_program(xb, W, 1, 1), NM_OK);
    const float x1[4] = {1, -2, 3, 0.5f};
    nm_xbar_forward(xb, x1, 1, y, 0);
    for (int i = 0; i < 4; i++) assert_true(y[i] == 0.0f);
    nm_xbar_destroy(xb);
    nm_xbar_destroy(NULL);
    nm_device_destroy(d);
}

/* Selective re-programming: only weights that moved by more than tol x scale are written,
** and on a noisy device every other device keeps exactly its conductance. */
static void test_reprogram(void **st) {
    (void)st;
    const int64_t n_out = 6, n_in = 40, n = n_out * n_in;
    const float tol = 0.05f;
    for (int noisy = 0; noisy < 2; noisy++) {
        nm_device *d = make_device(noisy ? NM_DEV_RRAM : NM_DEV_IDEAL, 0);
        nm_xbar_config c = ideal_config(16, 4);
        float *W = rand_buf(3, n, -1.0f, 1.0f), *W2 = malloc(sizeof(float) * n), *last = malloc(sizeof(float) * n);
        W[0] = 1.0f;   /* the scale s = 1 */
        nm_xbar *xb = make_xbar(&c, d, n_out, n_in, W, 11);
        float *gp0 = malloc(sizeof(float) * n), *gm0 = malloc(sizeof(float) * n), *w0 = malloc(sizeof(float) * n);
        float *gp1 = malloc(sizeof(float) * n), *gm1 = malloc(sizeof(float) * n);
        nm_xbar_conductances(xb, gp0, gm0);
        memcpy(w0, nm_xbar_weights(xb), sizeof(float) * n);
        memcpy(last, W, sizeof(float) * n);
        int64_t moved = 0;
        for (int64_t e = 0; e < n; e++) {   /* every third weight moves by 2 tol, the rest by tol / 2 */
            const float step = e % 3 == 1 ? 2 * tol : 0.5f * tol;
            W2[e] = W[e] + (W[e] > 0 ? -step : step);
            moved += e % 3 == 1;
        }
        int64_t written = -1;
        assert_int_equal(nm_xbar_reprogram(xb, W2, last, tol, 99, &written), NM_OK);
        assert_int_equal(written, moved);
        nm_xbar_conductances(xb, gp1, gm1);
        const float *w1 = nm_xbar_weights(xb);
        int64_t changed = 0;
        for (int64_t e = 0; e < n; e++) {
            if (e % 3 == 1) {
                assert_true(last[e] == W2[e]);
                if (!noisy) assert_true(fabsf(w1[e] - W2[e]) <= 1e-6f);
                changed += gp1[e] != gp0[e] || gm1[e] != gm0[e];
            } else {   /* untouched: the same conductances, the same weight, last unchanged */
                assert_true(last[e] == W[e]);
                assert_true(gp1[e] == gp0[e] && gm1[e] == gm0[e] && w1[e] == w0[e]);
            }
        }
        assert_int_equal(changed, moved);   /* each written pair drew anew (or, ideal, moved) */
        /* the small steps add up: a second step of the same size crosses tol for the rest */
        for (int64_t e = 0; e < n; e++) W2[e] += e % 3 == 1 ? 0.0f : (W[e] > 0 ? -0.5f * tol : 0.5f * tol) * 1.2f;
        assert_int_equal(nm_xbar_reprogram(xb, W2, last, tol, 100, &written), NM_OK);
        assert_int_equal(written, n - moved);
        /* a weight beyond the scale (1) saturates: the scale stays, nothing else moves */
        W2[5] = W2[5] > 0 ? 1.5f : -1.5f;
        assert_int_equal(nm_xbar_reprogram(xb, W2, last, tol, 101, &written), NM_OK);
        assert_int_equal(written, 1);
        if (!noisy) assert_true(fabsf(fabsf(nm_xbar_weights(xb)[5]) - 1.0f) <= 1e-6f);
        W2[7] = NAN;
        assert_int_equal(nm_xbar_reprogram(xb, W2, last, tol, 102, NULL), NM_INVAL);
        assert_int_equal(nm_xbar_reprogram(xb, W, last, -1.0f, 102, NULL), NM_INVAL);
        nm_xbar_destroy(xb);
        nm_device_destroy(d);
        free(W), free(W2), free(last), free(gp0), free(gm0), free(w0), free(gp1), free(gm1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ideal_product), cmocka_unit_test(test_pairs_exact), cmocka_unit_test(test_dac),
        cmocka_unit_test(test_adc),           cmocka_unit_test(test_ir_drop),     cmocka_unit_test(test_read_noise),
        cmocka_unit_test(test_two_pairs),     cmocka_unit_test(test_threads),     cmocka_unit_test(test_drift),
        cmocka_unit_test(test_drift_comp_uniform), cmocka_unit_test(test_drift_comp_column),
        cmocka_unit_test(test_drift_comp_pcm),     cmocka_unit_test(test_drift_comp_t0),
        cmocka_unit_test(test_drift_comp_threads), cmocka_unit_test(test_drift_comp_names),
        cmocka_unit_test(test_config_errors),      cmocka_unit_test(test_reprogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
