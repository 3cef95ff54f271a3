/*
** Spike-sparse kernels: bit packing, the transpose, the gather forward and the sparse weight
** gradient, against plain loops written here (bit for bit), against double-precision sums
** and OpenBLAS sgemm (within the float rounding bound), and 1 thread against 2 and 3.
**
** The exactness claim: y[r, c] = b[c] + Wt[j1, c] + Wt[j2, c] + ... with the set bits
** j1 < j2 < ... added one at a time in float, and dW[o, j] += gy[r1, o], += gy[r2, o], ...
** over the rows r1 < r2 < ... whose bit j is set. The dense product sums the same terms in
** another order, so it agrees only within the rounding bound of a float sum of k terms:
** |sum_float - sum_exact| <= k u sum |terms|, u = 2^-24.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>
#include <neuromorph/run.h>
#include <neuromorph/train.h>

#define U 0x1p-24   /* unit roundoff of float */

static float *rand_buf(nm_rng *r, int64_t n) {
    float *p = malloc(sizeof(float) * (n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = 2.0f * nm_rng_uniform(r) - 1.0f;
    return p;
}

/* x (m, n) of 0.0f and 1.0f, each 1 with probability p. */
static float *rand_spikes(nm_rng *r, int64_t m, int64_t n, float p) {
    float *x = malloc(sizeof(float) * (m * n > 0 ? m * n : 1));
    for (int64_t i = 0; i < m * n; i++) x[i] = (float)nm_rng_bernoulli(r, p);
    return x;
}

/* Exactly the size the kernels may touch, so that ASan sees an overrun. */
static uint64_t *bits_for(int64_t m, int64_t n) {
    int64_t w = m * nm_bits_words(n);
    uint64_t *b = malloc(sizeof(uint64_t) * (w > 0 ? w : 1));
    memset(b, 0xa5, sizeof(uint64_t) * (w > 0 ? w : 1));   /* garbage: pack must write every word */
    return b;
}

static int bit_at(const uint64_t *bits, int64_t nw, int64_t r, int64_t j) {
    return (int)((bits[r * nw + (j >> 6)] >> (j & 63)) & 1);
}

/* ---- packing ------------------------------------------------------------- */

static void test_bits_words(void **st) {
    (void)st;
    assert_int_equal(nm_bits_words(0), 0);
    assert_int_equal(nm_bits_words(1), 1);
    assert_int_equal(nm_bits_words(63), 1);
    assert_int_equal(nm_bits_words(64), 1);
    assert_int_equal(nm_bits_words(65), 2);
    assert_int_equal(nm_bits_words(1000), 16);
}

/* Round trip for widths around the word size; any x != 0 is a set bit (negative values,
** denormals, infinities and NaN included), while +0 and -0 are not. */
static void test_pack_unpack(void **st) {
    (void)st;
    static const int64_t widths[] = {1, 63, 64, 65, 1000};
    static const float odd[] = {-1.0f, 0x1p-140f, INFINITY, -INFINITY, NAN, 3.5f, -0.0f, 0.0f};
    nm_rng r;
    nm_rng_init(&r, 11, 1);
    const int64_t m = 7;
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const int64_t n = widths[wi], nw = nm_bits_words(n);
        float *x = malloc(sizeof(float) * m * n), *back = malloc(sizeof(float) * m * n);
        uint64_t *bits = bits_for(m, n);
        int64_t want = 0;
        for (int64_t i = 0; i < m * n; i++) {
            const int64_t row = i / n;   /* row 0 empty, row 1 full, the others mixed */
            float v = row == 0 ? (i % 2 ? -0.0f : 0.0f)
                    : row == 1 ? 1.0f
                    : nm_rng_bernoulli(&r, 0.3f) ? odd[nm_rng_below(&r, 8)] : 0.0f;
            x[i] = v;
            want += v != 0.0f;
        }
        assert_int_equal(nm_bits_pack(x, m, n, bits), want);
        for (int64_t rr = 0; rr < m; rr++) {
            for (int64_t j = 0; j < n; j++) assert_int_equal(bit_at(bits, nw, rr, j), x[rr * n + j] != 0.0f);
            if (n % 64) assert_true((bits[rr * nw + nw - 1] >> (n % 64)) == 0);   /* unused high bits */
        }
        nm_bits_unpack(bits, m, n, back);
        for (int64_t i = 0; i < m * n; i++) {
            const float want_v = x[i] != 0.0f ? 1.0f : 0.0f;
            assert_memory_equal(&back[i], &want_v, sizeof(float));   /* +0.0f, never -0.0f */
        }
        print_message("PASS pack/unpack n=%lld: %lld set bits, high bits zero\n", (long long)n, (long long)want);
        free(x); free(back); free(bits);
    }
    /* m = 0: nothing read or written. */
    assert_int_equal(nm_bits_pack(NULL, 0, 100, NULL), 0);
    nm_bits_unpack(NULL, 0, 100, NULL);
}

static void test_transpose(void **st) {
    (void)st;
    static const int64_t shapes[][2] = {{1, 1}, {3, 70}, {33, 65}, {100, 37}, {1000, 784}};
    nm_rng r;
    nm_rng_init(&r, 12, 1);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const int64_t n_out = shapes[k][0], n_in = shapes[k][1];
        float *W = rand_buf(&r, n_out * n_in), *Wt = malloc(sizeof(float) * n_out * n_in);
        nm_transpose(W, n_out, n_in, Wt);
        for (int64_t o = 0; o < n_out; o++)
            for (int64_t i = 0; i < n_in; i++) assert_true(Wt[i * n_out + o] == W[o * n_in + i]);
        free(W); free(Wt);
    }
}

/* ---- forward --------------------------------------------------------------- */

typedef struct { int64_t m, n_in, n_out; } shape;

/* Shapes with every edge: n_in and n_out not multiples of 64 or 16, n_out below 16, one
** column past a 128-column block, a single input, and the real layer sizes. */
static const shape FWD_SHAPES[] = {
    {37, 200, 300}, {17, 65, 10}, {9, 1, 1}, {33, 130, 129}, {10, 64, 17}, {5, 70, 48}, {40, 784, 1000},
};
static const float DENSITIES[] = {0.0f, 0.05f, 0.5f, 1.0f};

static void test_forward(void **st) {
    (void)st;
    nm_rng r;
    nm_rng_init(&r, 13, 1);
    for (size_t s = 0; s < sizeof FWD_SHAPES / sizeof FWD_SHAPES[0]; s++) {
        const int64_t m = FWD_SHAPES[s].m, n_in = FWD_SHAPES[s].n_in, n_out = FWD_SHAPES[s].n_out;
        const int64_t nw = nm_bits_words(n_in);
        float *W = rand_buf(&r, n_out * n_in), *bias = rand_buf(&r, n_out), *Wt = malloc(sizeof(float) * n_in * n_out);
        float *y = malloc(sizeof(float) * m * n_out), *ys = malloc(sizeof(float) * m * n_out);
        nm_transpose(W, n_out, n_in, Wt);
        for (size_t d = 0; d < sizeof DENSITIES / sizeof DENSITIES[0]; d++) {
            float *x = rand_spikes(&r, m, n_in, DENSITIES[d]);
            uint64_t *bits = bits_for(m, n_in);
            nm_bits_pack(x, m, n_in, bits);
            /* The dense product through OpenBLAS, bias added afterwards. */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n_out, (int)n_in, 1.0f, x, (int)n_in, W,
                        (int)n_in, 0.0f, ys, (int)n_out);
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                const float *b = with_bias ? bias : NULL;
                nm_affine_forward_sparse(Wt, b, bits, m, n_in, n_out, y);
                double worst = 0.0;
                for (int64_t i = 0; i < m; i++)
                    for (int64_t c = 0; c < n_out; c++) {
                        /* The plain loop: the same adds in the same order. */
                        float f = b ? b[c] : 0.0f;
                        double exact = b ? b[c] : 0.0, sabs = b ? fabs(b[c]) : 0.0;
                        int64_t k = 0;
                        for (int64_t j = 0; j < n_in; j++)
                            if (bit_at(bits, nw, i, j)) {
                                f += Wt[j * n_out + c];
                                exact += Wt[j * n_out + c];
                                sabs += fabs(Wt[j * n_out + c]);
                                k++;
                            }
                        const float got = y[i * n_out + c];
                        if (memcmp(&got, &f, sizeof f))
                            fail_msg("y[%lld, %lld] = %.9g, plain loop %.9g (shape %lld %lld %lld, density %g)",
                                     (long long)i, (long long)c, got, f, (long long)m, (long long)n_in,
                                     (long long)n_out, DENSITIES[d]);
                        /* A float sum of k + 1 terms is within k u sum|terms| of the exact sum. */
                        if (!(fabs(got - exact) <= (double)k * U * sabs))
                            fail_msg("y[%lld, %lld] = %.9g, exact %.17g, bound %.3g", (long long)i, (long long)c, got,
                                     exact, (double)k * U * sabs);
                        /* sgemm sums n_in products (the zero ones exactly) in its own order, and
                        ** the bias is one more add: both sums are within their bounds of exact. */
                        const float dense = b ? ys[i * n_out + c] + b[c] : ys[i * n_out + c];
                        const double bound = (double)(k + n_in + 1) * U * sabs;
                        if (!(fabs(got - dense) <= bound))
                            fail_msg("y[%lld, %lld] = %.9g, sgemm %.9g, bound %.3g", (long long)i, (long long)c, got,
                                     dense, bound);
                        if (sabs > 0 && fabs(got - exact) / sabs > worst) worst = fabs(got - exact) / sabs;
                    }
                print_message("PASS forward %lldx%lld->%lld density %.2f %s: bitwise = plain loop, "
                              "max |y - exact| / sum|terms| = %.2g\n",
                              (long long)m, (long long)n_in, (long long)n_out, DENSITIES[d],
                              b ? "bias" : "no bias", worst);
            }
            free(x); free(bits);
        }
        free(W); free(bias); free(Wt); free(y); free(ys);
    }
}

/* Empty shapes: n_in = 0 makes y the bias (or 0); m = 0 or n_out = 0 touch nothing, and an
** empty dW product leaves dW as it was. */
static void test_empty_shapes(void **st) {
    (void)st;
    float b[3] = {1.5f, -2.0f, 0.25f}, y[2 * 3], dW[3 * 70], gy[1] = {1.0f};
    uint64_t bits[2] = {~0ull, 0x3f};
    nm_affine_forward_sparse(NULL, b, bits, 2, 0, 3, y);
    for (int i = 0; i < 6; i++) assert_true(y[i] == b[i % 3]);
    nm_affine_forward_sparse(NULL, NULL, bits, 2, 0, 3, y);
    for (int i = 0; i < 6; i++) assert_true(y[i] == 0.0f);
    nm_affine_forward_sparse(NULL, b, NULL, 0, 70, 3, NULL);
    nm_affine_forward_sparse(NULL, b, bits, 1, 70, 0, NULL);
    for (int i = 0; i < 3 * 70; i++) dW[i] = (float)i;
    nm_affine_dweight_sparse(NULL, NULL, 0, 70, 3, dW);
    nm_affine_dweight_sparse(gy, bits, 1, 0, 3, dW);
    nm_affine_dweight_sparse(gy, bits, 1, 70, 0, dW);
    for (int i = 0; i < 3 * 70; i++) assert_true(dW[i] == (float)i);
}

/* ---- weight gradient --------------------------------------------------------- */

/* As for the forward, plus more than 32 words of inputs (the kernel's tiles hold at most 32). */
static const shape DW_SHAPES[] = {
    {50, 130, 100}, {37, 65, 10}, {1, 1, 1}, {200, 784, 129}, {64, 64, 64}, {3, 200, 17}, {70, 2100, 20},
};

static void test_dweight(void **st) {
    (void)st;
    nm_rng r;
    nm_rng_init(&r, 14, 1);
    for (size_t s = 0; s < sizeof DW_SHAPES / sizeof DW_SHAPES[0]; s++) {
        const int64_t m = DW_SHAPES[s].m, n_in = DW_SHAPES[s].n_in, n_out = DW_SHAPES[s].n_out;
        const int64_t nw = nm_bits_words(n_in), nd = n_out * n_in;
        float *gy = rand_buf(&r, m * n_out), *dW0 = rand_buf(&r, nd);
        float *dW = malloc(sizeof(float) * nd), *ref = malloc(sizeof(float) * nd), *ds = malloc(sizeof(float) * nd);
        for (size_t d = 0; d < sizeof DENSITIES / sizeof DENSITIES[0]; d++) {
            float *x = rand_spikes(&r, m, n_in, DENSITIES[d]);
            uint64_t *bits = bits_for(m, n_in);
            nm_bits_pack(x, m, n_in, bits);
            memcpy(dW, dW0, sizeof(float) * nd);
            memcpy(ds, dW0, sizeof(float) * nd);
            nm_affine_dweight_sparse(gy, bits, m, n_in, n_out, dW);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_out, (int)n_in, (int)m, 1.0f, gy, (int)n_out, x,
                        (int)n_in, 1.0f, ds, (int)n_in);
            for (int64_t o = 0; o < n_out; o++)
                for (int64_t j = 0; j < n_in; j++) {
                    float f = dW0[o * n_in + j];
                    double exact = f, sabs = fabs(f);
                    int64_t k = 0;
                    for (int64_t i = 0; i < m; i++)
                        if (bit_at(bits, nw, i, j)) {
                            f += gy[i * n_out + o];
                            exact += gy[i * n_out + o];
                            sabs += fabs(gy[i * n_out + o]);
                            k++;
                        }
                    ref[o * n_in + j] = f;
                    const float got = dW[o * n_in + j];
                    if (memcmp(&got, &f, sizeof f))
                        fail_msg("dW[%lld, %lld] = %.9g, plain loop %.9g (shape %lld %lld %lld, density %g)",
                                 (long long)o, (long long)j, got, f, (long long)m, (long long)n_in, (long long)n_out,
                                 DENSITIES[d]);
                    if (!(fabs(got - exact) <= (double)k * U * sabs))
                        fail_msg("dW[%lld, %lld] = %.9g, exact %.17g", (long long)o, (long long)j, got, exact);
                    const double bound = (double)(k + m + 1) * U * sabs;
                    if (!(fabs(got - ds[o * n_in + j]) <= bound))
                        fail_msg("dW[%lld, %lld] = %.9g, sgemm %.9g, bound %.3g", (long long)o, (long long)j, got,
                                 ds[o * n_in + j], bound);
                }
            /* Accumulation: a second call adds the same terms again, after the first ones. */
            nm_affine_dweight_sparse(gy, bits, m, n_in, n_out, dW);
            for (int64_t o = 0; o < n_out; o++)
                for (int64_t j = 0; j < n_in; j++)
                    for (int64_t i = 0; i < m; i++)
                        if (bit_at(bits, nw, i, j)) ref[o * n_in + j] += gy[i * n_out + o];
            assert_memory_equal(dW, ref, sizeof(float) * nd);
            print_message("PASS dweight %lldx%lld->%lld density %.2f: bitwise = plain loop, += twice, within "
                          "bound of sgemm\n",
                          (long long)m, (long long)n_in, (long long)n_out, DENSITIES[d]);
            free(x); free(bits);
        }
        free(gy); free(dW0); free(dW); free(ref); free(ds);
    }
}

/* ---- threads ----------------------------------------------------------------- */

/* Pack, forward and dW with `threads` threads; returns the set-bit count. */
static int64_t run_all(int threads, const float *x, const float *Wt, const float *b, const float *gy, int64_t m,
                       int64_t n_in, int64_t n_out, uint64_t *bits, float *y, float *dW) {
    nm_set_threads(threads);
    int64_t count = nm_bits_pack(x, m, n_in, bits);
    nm_affine_forward_sparse(Wt, b, bits, m, n_in, n_out, y);
    memset(dW, 0, sizeof(float) * n_out * n_in);
    nm_affine_dweight_sparse(gy, bits, m, n_in, n_out, dW);
    return count;
}

/* The real layer size (25 steps x batch 128, 784 -> 1000, the density of rate-coded
** Fashion-MNIST) and a few uneven ones. */
static void test_threads_bit_identical(void **st) {
    (void)st;
    static const shape S[] = {{3200, 784, 1000}, {1, 100, 50}, {5, 1000, 1000}, {333, 65, 130}};
    static const float dens[] = {0.28f, 0.05f, 0.5f, 0.3f};
    nm_rng r;
    nm_rng_init(&r, 15, 1);
    const int saved = nm_get_threads();
    for (size_t k = 0; k < sizeof S / sizeof S[0]; k++) {
        const int64_t m = S[k].m, n_in = S[k].n_in, n_out = S[k].n_out;
        float *x = rand_spikes(&r, m, n_in, dens[k]), *Wt = rand_buf(&r, n_in * n_out), *b = rand_buf(&r, n_out);
        float *gy = rand_buf(&r, m * n_out);
        uint64_t *bits[2] = {bits_for(m, n_in), bits_for(m, n_in)};
        float *y[2], *dW[2];
        for (int j = 0; j < 2; j++) {
            y[j] = malloc(sizeof(float) * m * n_out);
            dW[j] = malloc(sizeof(float) * n_out * n_in);
        }
        const int64_t c1 = run_all(1, x, Wt, b, gy, m, n_in, n_out, bits[0], y[0], dW[0]);
        /* 3 threads split the small shapes unevenly; the large one is slow under ASan. */
        const int counts[] = {2, 3}, n_counts = k == 0 ? 1 : 2;
        for (int c = 0; c < n_counts; c++) {
            const int64_t cn = run_all(counts[c], x, Wt, b, gy, m, n_in, n_out, bits[1], y[1], dW[1]);
            assert_int_equal(c1, cn);
            assert_memory_equal(bits[0], bits[1], sizeof(uint64_t) * m * nm_bits_words(n_in));
            assert_memory_equal(y[0], y[1], sizeof(float) * m * n_out);
            assert_memory_equal(dW[0], dW[1], sizeof(float) * n_out * n_in);
            print_message("PASS threads 1 vs %d bit-identical: %lldx%lld->%lld density %.2f\n", counts[c],
                          (long long)m, (long long)n_in, (long long)n_out, dens[k]);
        }
        for (int j = 0; j < 2; j++) { free(bits[j]); free(y[j]); free(dW[j]); }
        free(x); free(Wt); free(b); free(gy);
    }
    nm_set_threads(saved);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bits_words),
        cmocka_unit_test(test_pack_unpack),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_empty_shapes),
        cmocka_unit_test(test_dweight),
        cmocka_unit_test(test_threads_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
