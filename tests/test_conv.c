/*
** Convolution and pooling kernels against naive direct loops (written here, in double),
** the backward pass against the naive adjoint and against the dot-product identity
** <gy, conv(x)> = <gx, x> = <dW, W>, geometry errors, and bit-identical results with 1, 2
** and 4 threads.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <neuromorph/run.h>
#include <neuromorph/train.h>

/* |a - b| <= atol + rtol |scale|; scale is the sum of |terms| of the reference value, so
** the bound is the float rounding of a sum of that many terms, whatever the cancellation. */
#define ASSERT_CLOSE(a, ref, scale, rtol, what, idx)                                                             \
    do {                                                                                                       \
        double a_ = (a), r_ = (ref), s_ = (scale);                                                             \
        if (!(fabs(a_ - r_) <= 1e-6 + (rtol) * s_))                                                            \
            fail_msg("%s[%lld] = %.9g, expected %.9g (scale %.3g) (%s:%d)", what, (long long)(idx), a_, r_, s_, \
                     __FILE__, __LINE__);                                                                      \
    } while (0)

static float *rand_buf(nm_rng *r, int64_t n) {
    float *p = malloc(sizeof(float) * (n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = 2.0f * nm_rng_uniform(r) - 1.0f;
    return p;
}

/* Exactly the caller's size, so that ASan sees any overrun of the scratch. */
static float *scratch_for(const nm_conv_geom *g, int64_t m) {
    int64_t n = nm_conv_scratch_floats(g, m);
    assert_true(n > 0);
    return malloc(sizeof(float) * n);
}

/* ---- naive references ---------------------------------------------------- */

/* The input pixel (iy, ix) of image i, channel ci under tap (ky, kx) of output (oy, ox),
** or -1 in the padding. */
static int64_t tap(const nm_conv_geom *g, int64_t i, int64_t ci, int64_t oy, int64_t ox, int ky, int kx) {
    int64_t iy = oy * g->sh - g->ph + (int64_t)ky * g->dh, ix = ox * g->sw - g->pw + (int64_t)kx * g->dw;
    if (iy < 0 || iy >= g->h_in || ix < 0 || ix >= g->w_in) return -1;
    return ((i * g->c_in + ci) * g->h_in + iy) * g->w_in + ix;
}

/* y = conv(x) + b in double; yabs = sum of |terms| (for the tolerance). */
static void conv_naive(const nm_conv_geom *g, const float *W, const float *b, const float *x, int64_t m, double *y,
                       double *yabs) {
    const int64_t cpi = g->c_in / g->groups, cpo = g->c_out / g->groups;
    for (int64_t i = 0; i < m; i++)
        for (int64_t co = 0; co < g->c_out; co++)
            for (int64_t oy = 0; oy < g->h_out; oy++)
                for (int64_t ox = 0; ox < g->w_out; ox++) {
                    double acc = b ? b[co] : 0.0, sa = b ? fabs(b[co]) : 0.0;
                    for (int64_t cj = 0; cj < cpi; cj++)
                        for (int ky = 0; ky < g->kh; ky++)
                            for (int kx = 0; kx < g->kw; kx++) {
                                int64_t xi = tap(g, i, (co / cpo) * cpi + cj, oy, ox, ky, kx);
                                if (xi < 0) continue;
                                double t = (double)W[((co * cpi + cj) * g->kh + ky) * g->kw + kx] * x[xi];
                                acc += t;
                                sa += fabs(t);
                            }
                    int64_t yi = ((i * g->c_out + co) * g->h_out + oy) * g->w_out + ox;
                    y[yi] = acc;
                    yabs[yi] = sa;
                }
}

/* The adjoint: dW, db, gx (double, zeroed here) and the sums of |terms|. */
static void conv_backward_naive(const nm_conv_geom *g, const float *W, const float *x, const float *gy, int64_t m,
                                double *dW, double *dWabs, double *db, double *gx, double *gxabs) {
    const int64_t cpi = g->c_in / g->groups, cpo = g->c_out / g->groups;
    const int64_t n_w = nm_conv_weight_count(g), n_x = m * g->c_in * g->h_in * g->w_in;
    memset(dW, 0, sizeof(double) * n_w);
    memset(dWabs, 0, sizeof(double) * n_w);
    memset(db, 0, sizeof(double) * g->c_out);
    memset(gx, 0, sizeof(double) * n_x);
    memset(gxabs, 0, sizeof(double) * n_x);
    for (int64_t i = 0; i < m; i++)
        for (int64_t co = 0; co < g->c_out; co++)
            for (int64_t oy = 0; oy < g->h_out; oy++)
                for (int64_t ox = 0; ox < g->w_out; ox++) {
                    double gv = gy[((i * g->c_out + co) * g->h_out + oy) * g->w_out + ox];
                    db[co] += gv;
                    for (int64_t cj = 0; cj < cpi; cj++)
                        for (int ky = 0; ky < g->kh; ky++)
                            for (int kx = 0; kx < g->kw; kx++) {
                                int64_t xi = tap(g, i, (co / cpo) * cpi + cj, oy, ox, ky, kx);
                                if (xi < 0) continue;
                                int64_t wi = ((co * cpi + cj) * g->kh + ky) * g->kw + kx;
                                dW[wi] += gv * x[xi];
                                dWabs[wi] += fabs(gv * x[xi]);
                                gx[xi] += gv * W[wi];
                                gxabs[xi] += fabs(gv * W[wi]);
                            }
                }
}

/* ---- convolution: forward and backward against the naive loops ------------ */

typedef struct conv_case {
    int64_t c_in, h, w, c_out;
    int kh, kw, sh, sw, ph, pw, dh, dw, groups;
    int64_t m;
    int bias;
    const char *name;
} conv_case;

static const conv_case CASES[] = {
    {1, 28, 28, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1, 3, 1, "1x28x28 -> 16c5"},
    {3, 9, 11, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 2, 0, "stride 2, padding 1, no bias"},
    {4, 10, 7, 6, 3, 2, 1, 2, 2, 1, 1, 1, 2, 2, 1, "groups 2, 3x2 kernel, padding 2x1, stride 1x2"},
    {5, 12, 12, 5, 3, 3, 1, 1, 1, 1, 2, 2, 5, 3, 1, "depthwise, dilation 2"},
    {6, 8, 9, 12, 2, 3, 2, 1, 0, 2, 2, 1, 6, 2, 0, "depthwise x2, dilation 2x1, padding 0x2"},
    {3, 1, 50, 4, 1, 7, 1, 3, 0, 3, 1, 2, 1, 4, 1, "1d: kernel 7, stride 3, padding 3, dilation 2"},
    {16, 12, 12, 32, 5, 5, 1, 1, 0, 0, 1, 1, 1, 13, 1, "16x12x12 -> 32c5, m 13"},
    {1, 28, 28, 16, 5, 5, 1, 1, 2, 2, 1, 1, 1, 40, 1, "1x28x28 -> 16c5 pad 2, m 40"},
    {2, 3, 3, 2, 5, 5, 1, 1, 1, 1, 1, 1, 1, 2, 1, "kernel larger than the input"},
    {2, 11, 11, 3, 2, 2, 3, 3, 0, 0, 1, 1, 1, 3, 1, "stride 3 > kernel 2"},
    {8, 6, 6, 4, 1, 1, 1, 1, 0, 0, 1, 1, 4, 5, 1, "1x1 kernel, groups 4"},
    {32, 4, 4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 300, 0, "32 channels, m 300 (12 tiles)"},
    {2, 4, 5, 3, 3, 3, 1, 2, 3, 3, 1, 1, 1, 2, 1, "padding 3 > kernel: outputs over padding only"},
};

static void init_case(const conv_case *c, nm_conv_geom *g) {
    nm_status rc = nm_conv_geom_init(g, c->c_in, c->h, c->w, c->c_out, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw,
                                     c->dh, c->dw, c->groups);
    if (rc) fail_msg("%s: %s", c->name, nm_errmsg());
}

static void test_conv_forward_naive(void **st) {
    (void)st;
    nm_rng r;
    nm_rng_init(&r, 7, 1);
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        const conv_case *c = &CASES[k];
        nm_conv_geom g;
        init_case(c, &g);
        const int64_t n_x = c->m * g.c_in * g.h_in * g.w_in, n_y = c->m * g.c_out * g.h_out * g.w_out;
        float *W = rand_buf(&r, nm_conv_weight_count(&g)), *b = rand_buf(&r, g.c_out), *x = rand_buf(&r, n_x);
        float *y = malloc(sizeof(float) * n_y), *scratch = scratch_for(&g, c->m);
        double *yr = malloc(sizeof(double) * n_y), *ya = malloc(sizeof(double) * n_y);
        for (int64_t i = 0; i < n_y; i++) y[i] = NAN;   /* every output must be written */
        nm_conv_forward(&g, W, c->bias ? b : NULL, x, c->m, y, scratch);
        conv_naive(&g, W, c->bias ? b : NULL, x, c->m, yr, ya);
        for (int64_t i = 0; i < n_y; i++) ASSERT_CLOSE(y[i], yr[i], ya[i], 1e-5, c->name, i);
        print_message("PASS forward  %-48s (%lld outputs)\n", c->name, (long long)n_y);
        free(W); free(b); free(x); free(y); free(scratch); free(yr); free(ya);
    }
}

static void test_conv_backward_naive(void **st) {
    (void)st;
    nm_rng r;
    nm_rng_init(&r, 7, 2);
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        const conv_case *c = &CASES[k];
        nm_conv_geom g;
        init_case(c, &g);
        const int64_t n_x = c->m * g.c_in * g.h_in * g.w_in, n_y = c->m * g.c_out * g.h_out * g.w_out;
        const int64_t n_w = nm_conv_weight_count(&g);
        float *W = rand_buf(&r, n_w), *x = rand_buf(&r, n_x), *gy = rand_buf(&r, n_y);
        float *dW0 = rand_buf(&r, n_w), *db0 = rand_buf(&r, g.c_out);
        float *dW = malloc(sizeof(float) * n_w), *db = malloc(sizeof(float) * g.c_out);
        float *gx = malloc(sizeof(float) * n_x), *scratch = scratch_for(&g, c->m);
        double *dWr = malloc(sizeof(double) * n_w), *dWa = malloc(sizeof(double) * n_w), *dbr = malloc(sizeof(double) * g.c_out);
        double *gxr = malloc(sizeof(double) * n_x), *gxa = malloc(sizeof(double) * n_x);
        conv_backward_naive(&g, W, x, gy, c->m, dWr, dWa, dbr, gxr, gxa);

        /* Two calls on top of a random start: dW and db accumulate, gx is overwritten. */
        memcpy(dW, dW0, sizeof(float) * n_w);
        memcpy(db, db0, sizeof(float) * g.c_out);
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t i = 0; i < n_x; i++) gx[i] = NAN;
            nm_conv_backward(&g, W, x, gy, c->m, dW, db, gx, scratch);
        }
        for (int64_t i = 0; i < n_w; i++) ASSERT_CLOSE(dW[i], dW0[i] + 2 * dWr[i], fabs(dW0[i]) + 2 * dWa[i], 1e-5, "dW", i);
        for (int64_t co = 0; co < g.c_out; co++) {
            double gabs = 0;   /* sum of |gy| over the channel */
            for (int64_t i = 0; i < c->m; i++)
                for (int64_t q = 0; q < g.h_out * g.w_out; q++) gabs += fabs(gy[(i * g.c_out + co) * g.h_out * g.w_out + q]);
            ASSERT_CLOSE(db[co], db0[co] + 2 * dbr[co], fabs(db0[co]) + 2 * gabs, 1e-6, "db", co);
        }
        for (int64_t i = 0; i < n_x; i++) ASSERT_CLOSE(gx[i], gxr[i], gxa[i], 1e-5, "gx", i);

        /* db and gx are optional; without them dW is the same. */
        float *dW2 = calloc(n_w, sizeof(float)), *dW1 = calloc(n_w, sizeof(float));
        nm_conv_backward(&g, W, x, gy, c->m, dW1, NULL, NULL, scratch);
        nm_conv_backward(&g, W, x, gy, c->m, dW2, db, gx, scratch);
        assert_memory_equal(dW1, dW2, sizeof(float) * n_w);
        print_message("PASS backward %-48s (dW %lld, gx %lld)\n", c->name, (long long)n_w, (long long)n_x);
        free(dW1); free(dW2);
        free(W); free(x); free(gy); free(dW0); free(db0); free(dW); free(db); free(gx); free(scratch);
        free(dWr); free(dWa); free(dbr); free(gxr); free(gxa);
    }
}

/* For y = conv(x; W) without bias, L = <gy, y> is linear in x and in W, so
** <gy, y> = <gx, x> = <dW, W>: the backward is the true adjoint of the forward kernel,
** checked without the naive loops. */
static void test_conv_adjoint_identity(void **st) {
    (void)st;
    nm_rng r;
    nm_rng_init(&r, 7, 3);
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        const conv_case *c = &CASES[k];
        nm_conv_geom g;
        init_case(c, &g);
        const int64_t n_x = c->m * g.c_in * g.h_in * g.w_in, n_y = c->m * g.c_out * g.h_out * g.w_out;
        const int64_t n_w = nm_conv_weight_count(&g);
        float *W = rand_buf(&r, n_w), *x = rand_buf(&r, n_x), *gy = rand_buf(&r, n_y);
        float *y = malloc(sizeof(float) * n_y), *gx = malloc(sizeof(float) * n_x), *dW = calloc(n_w, sizeof(float));
        float *scratch = scratch_for(&g, c->m);
        nm_conv_forward(&g, W, NULL, x, c->m, y, scratch);
        nm_conv_backward(&g, W, x, gy, c->m, dW, NULL, gx, scratch);
        double l_y = 0, l_x = 0, l_w = 0, s_y = 0, s_x = 0, s_w = 0;
        for (int64_t i = 0; i < n_y; i++) { l_y += (double)gy[i] * y[i]; s_y += fabs((double)gy[i] * y[i]); }
        for (int64_t i = 0; i < n_x; i++) { l_x += (double)gx[i] * x[i]; s_x += fabs((double)gx[i] * x[i]); }
        for (int64_t i = 0; i < n_w; i++) { l_w += (double)dW[i] * W[i]; s_w += fabs((double)dW[i] * W[i]); }
        double scale = s_y + s_x + s_w;
        ASSERT_CLOSE(l_x, l_y, scale, 1e-5, "<gx,x> vs <gy,y>", k);
        ASSERT_CLOSE(l_w, l_y, scale, 1e-5, "<dW,W> vs <gy,y>", k);
        print_message("PASS adjoint  %-48s <gy,y> = %.6g\n", c->name, l_y);
        free(W); free(x); free(gy); free(y); free(gx); free(dW); free(scratch);
    }
}

/* ---- pooling ----------------------------------------------------------------- */

static void pool_naive(const nm_conv_geom *g, nm_pool_kind kind, const float *x, int64_t m, double *y) {
    for (int64_t pl = 0; pl < m * g->c_in; pl++)
        for (int64_t oy = 0; oy < g->h_out; oy++)
            for (int64_t ox = 0; ox < g->w_out; ox++) {
                double acc = 0;
                for (int ky = 0; ky < g->kh; ky++)
                    for (int kx = 0; kx < g->kw; kx++) {
                        int64_t iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
                        if (iy >= 0 && iy < g->h_in && ix >= 0 && ix < g->w_in) acc += x[(pl * g->h_in + iy) * g->w_in + ix];
                    }
                y[(pl * g->h_out + oy) * g->w_out + ox] = kind == NM_POOL_AVG ? acc / (g->kh * g->kw) : acc;
            }
}

static void pool_backward_naive(const nm_conv_geom *g, nm_pool_kind kind, const float *gy, int64_t m, double *gx) {
    memset(gx, 0, sizeof(double) * m * g->c_in * g->h_in * g->w_in);
    for (int64_t pl = 0; pl < m * g->c_in; pl++)
        for (int64_t oy = 0; oy < g->h_out; oy++)
            for (int64_t ox = 0; ox < g->w_out; ox++) {
                double v = gy[(pl * g->h_out + oy) * g->w_out + ox];
                if (kind == NM_POOL_AVG) v /= g->kh * g->kw;
                for (int ky = 0; ky < g->kh; ky++)
                    for (int kx = 0; kx < g->kw; kx++) {
                        int64_t iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
                        if (iy >= 0 && iy < g->h_in && ix >= 0 && ix < g->w_in) gx[(pl * g->h_in + iy) * g->w_in + ix] += v;
                    }
            }
}

static void test_pool_naive(void **st) {
    (void)st;
    static const struct { int64_t c, h, w; int kh, kw, sh, sw, ph, pw; int64_t m; } P[] = {
        {3, 8, 8, 2, 2, 2, 2, 0, 0, 2},    /* the usual 2x2 / 2 */
        {2, 7, 9, 3, 3, 2, 2, 1, 1, 3},    /* padding 1, odd sizes */
        {1, 5, 10, 3, 2, 1, 3, 1, 1, 2},   /* stride 1x3 != kernel 3x2 */
        {4, 6, 6, 2, 3, 3, 2, 1, 1, 2},    /* stride 3x2 > kernel 2 rows */
        {2, 1, 12, 1, 4, 1, 4, 0, 2, 3},   /* 1d */
    };
    nm_rng r;
    nm_rng_init(&r, 7, 4);
    for (size_t k = 0; k < sizeof P / sizeof P[0]; k++)
        for (int kind = NM_POOL_SUM; kind <= NM_POOL_AVG; kind++) {
            nm_conv_geom g;
            nm_status rc = nm_pool_geom_init(&g, P[k].c, P[k].h, P[k].w, P[k].kh, P[k].kw, P[k].sh, P[k].sw, P[k].ph, P[k].pw);
            if (rc) fail_msg("pool case %zu: %s", k, nm_errmsg());
            const int64_t m = P[k].m, n_x = m * g.c_in * g.h_in * g.w_in, n_y = m * g.c_out * g.h_out * g.w_out;
            assert_int_equal(g.c_out, P[k].c);
            assert_int_equal(g.groups, P[k].c);
            float *x = rand_buf(&r, n_x), *gy = rand_buf(&r, n_y), *y = malloc(sizeof(float) * n_y), *gx = malloc(sizeof(float) * n_x);
            double *yr = malloc(sizeof(double) * n_y), *gxr = malloc(sizeof(double) * n_x);
            for (int64_t i = 0; i < n_x; i++) gx[i] = NAN;
            nm_pool_forward(&g, (nm_pool_kind)kind, x, m, y);
            nm_pool_backward(&g, (nm_pool_kind)kind, gy, m, gx);
            pool_naive(&g, (nm_pool_kind)kind, x, m, yr);
            pool_backward_naive(&g, (nm_pool_kind)kind, gy, m, gxr);
            for (int64_t i = 0; i < n_y; i++) ASSERT_CLOSE(y[i], yr[i], P[k].kh * P[k].kw, 1e-6, "pool y", i);
            for (int64_t i = 0; i < n_x; i++) ASSERT_CLOSE(gx[i], gxr[i], P[k].kh * P[k].kw, 1e-6, "pool gx", i);
            print_message("PASS pool %s case %zu (%lldx%lld -> %lldx%lld)\n", kind == NM_POOL_AVG ? "avg" : "sum", k,
                          (long long)g.h_in, (long long)g.w_in, (long long)g.h_out, (long long)g.w_out);
            free(x); free(gy); free(y); free(gx); free(yr); free(gxr);
        }
    /* A known value: avg of a 2x2 window over 1 2 / 3 4 is 2.5; with padding 1 on a 3x3
    ** window around the corner, the average still divides by 9. */
    nm_conv_geom g;
    assert_int_equal(nm_pool_geom_init(&g, 1, 2, 2, 2, 2, 2, 2, 0, 0), NM_OK);
    float x[4] = {1, 2, 3, 4}, y[1];
    nm_pool_forward(&g, NM_POOL_AVG, x, 1, y);
    assert_true(y[0] == 2.5f);
    assert_int_equal(nm_pool_geom_init(&g, 1, 2, 2, 3, 3, 1, 1, 1, 1), NM_OK);
    float y4[4];
    nm_pool_forward(&g, NM_POOL_AVG, x, 1, y4);
    for (int i = 0; i < 4; i++) assert_true(y4[i] == 10.0f / 9.0f);
}

/* ---- geometry ---------------------------------------------------------------- */

static void expect_conv_error(nm_status want, const char *msg, int64_t c_in, int64_t h, int64_t w, int64_t c_out, int kh,
                              int kw, int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
    nm_conv_geom g, before;
    memset(&g, 0x5a, sizeof g);
    before = g;
    nm_status rc = nm_conv_geom_init(&g, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups);
    if (rc != want || !strstr(nm_errmsg(), msg))
        fail_msg("got %d '%s', expected %d with '%s'", rc, nm_errmsg(), want, msg);
    assert_memory_equal(&g, &before, sizeof g);   /* untouched on error */
    print_message("PASS error: %s\n", nm_errmsg());
}

static void test_geometry(void **st) {
    (void)st;
    nm_conv_geom g;
    assert_int_equal(nm_conv_geom_init(&g, 16, 12, 12, 32, 5, 5, 1, 1, 0, 0, 1, 1, 1), NM_OK);
    assert_int_equal(g.h_out, 8);
    assert_int_equal(g.w_out, 8);
    assert_int_equal(nm_conv_weight_count(&g), 32 * 16 * 25);
    /* h_out = floor((h + 2p - d(k - 1) - 1) / s) + 1 */
    assert_int_equal(nm_conv_geom_init(&g, 4, 11, 10, 8, 3, 2, 2, 3, 1, 2, 2, 3, 2), NM_OK);
    assert_int_equal(g.h_out, (11 + 2 - 2 * 2 - 1) / 2 + 1);
    assert_int_equal(g.w_out, (10 + 4 - 3 * 1 - 1) / 3 + 1);
    assert_int_equal(nm_conv_weight_count(&g), 8 * 2 * 3 * 2);
    assert_int_equal(nm_conv_geom_init(&g, 1, 3, 3, 1, 5, 5, 1, 1, 1, 1, 1, 1, 1), NM_OK);   /* padded: fits */
    assert_int_equal(g.h_out, 1);
    assert_int_equal(nm_conv_scratch_floats(&g, 0), 0);
    assert_true(nm_conv_scratch_floats(&g, 1) > 0);
    /* Scratch for m images serves every smaller m (callers allocate once for the largest). */
    static const int64_t shapes[][6] = {{1, 28, 28, 16, 5, 5}, {16, 12, 12, 32, 5, 5}, {32, 4, 4, 8, 3, 3}, {3, 1, 50, 4, 1, 7}};
    for (int k = 0; k < 4; k++) {
        nm_conv_geom h;
        assert_int_equal(nm_conv_geom_init(&h, shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3], (int)shapes[k][4],
                                           (int)shapes[k][5], 1, 1, 0, 0, 1, 1, 1), NM_OK);
        for (int64_t m = 1, prev = 0; m <= 4000; m += 1 + m / 16) {
            int64_t n = nm_conv_scratch_floats(&h, m);
            assert_true(n >= prev);
            prev = n;
        }
    }

    expect_conv_error(NM_SHAPE, "kernel 5 (dilation 1) does not fit input width 3 with padding 0", 1, 8, 3, 4, 5, 5, 1, 1, 0, 0, 1, 1, 1);
    expect_conv_error(NM_SHAPE, "kernel 3 (dilation 3) does not fit input height 6 with padding 0", 1, 6, 9, 4, 3, 3, 1, 1, 0, 0, 3, 1, 1);
    expect_conv_error(NM_SHAPE, "32 input channels are not divisible by 3 groups", 32, 8, 8, 6, 3, 3, 1, 1, 0, 0, 1, 1, 3);
    expect_conv_error(NM_SHAPE, "10 output channels are not divisible by 4 groups", 8, 8, 8, 10, 3, 3, 1, 1, 0, 0, 1, 1, 4);
    expect_conv_error(NM_SHAPE, "stride must be at least 1 (got 0 x 1)", 1, 8, 8, 4, 3, 3, 0, 1, 0, 0, 1, 1, 1);
    expect_conv_error(NM_SHAPE, "dilation must be at least 1 (got 1 x 0)", 1, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1, 0, 1);
    expect_conv_error(NM_SHAPE, "padding must not be negative (got -1 x 0)", 1, 8, 8, 4, 3, 3, 1, 1, -1, 0, 1, 1, 1);
    expect_conv_error(NM_SHAPE, "kernel size must be at least 1 (got 0 x 3)", 1, 8, 8, 4, 0, 3, 1, 1, 0, 0, 1, 1, 1);
    expect_conv_error(NM_SHAPE, "groups must be at least 1 (got 0)", 1, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1, 1, 0);
    expect_conv_error(NM_SHAPE, "at least one channel, row and column (got 0 x 8 x 8)", 0, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1);
    expect_conv_error(NM_SHAPE, "at least one output channel (got 0)", 1, 8, 8, 0, 3, 3, 1, 1, 0, 0, 1, 1, 1);
    expect_conv_error(NM_RANGE, "too large", (int64_t)1 << 20, 4096, 4096, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1);
    expect_conv_error(NM_RANGE, "too large", 1, (int64_t)1 << 40, 4, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1);

    assert_int_equal(nm_pool_geom_init(&g, 3, 2, 5, 3, 2, 1, 1, 0, 0), NM_SHAPE);
    assert_non_null(strstr(nm_errmsg(), "pool window 3 does not fit input height 2 with padding 0"));
    assert_int_equal(nm_pool_geom_init(&g, 3, 8, 8, 3, 3, 1, 1, 2, 0), NM_SHAPE);
    assert_non_null(strstr(nm_errmsg(), "pool padding 2 x 0 must be at most half the pool window 3 x 3"));
    assert_int_equal(nm_pool_geom_init(&g, 3, 8, 8, 2, 2, 0, 2, 0, 0), NM_SHAPE);
    assert_non_null(strstr(nm_errmsg(), "pooling stride must be at least 1"));
    assert_int_equal(nm_pool_geom_init(&g, 0, 8, 8, 2, 2, 2, 2, 0, 0), NM_SHAPE);
    assert_non_null(strstr(nm_errmsg(), "pooling input needs at least one channel"));
    assert_int_equal(nm_pool_geom_init(&g, 5, 9, 8, 2, 2, 2, 2, 1, 0), NM_OK);
    assert_int_equal(g.h_out, 5);
    assert_int_equal(g.w_out, 4);
    assert_int_equal(g.c_out, 5);
    assert_int_equal(g.dh, 1);
}

/* ---- threads ------------------------------------------------------------------ */

/* Forward and backward of one layer with n threads; outputs into y, dW, db, gx. */
static void run_threads(const nm_conv_geom *g, int threads, const float *W, const float *b, const float *x,
                        const float *gy, int64_t m, float *y, float *dW, float *db, float *gx, float *scratch) {
    nm_set_threads(threads);
    memset(dW, 0, sizeof(float) * nm_conv_weight_count(g));
    memset(db, 0, sizeof(float) * g->c_out);
    nm_conv_forward(g, W, b, x, m, y, scratch);
    nm_conv_backward(g, W, x, gy, m, dW, db, gx, scratch);
}

static void test_threads_bit_identical(void **st) {
    (void)st;
    static const conv_case T[] = {
        {12, 12, 12, 32, 5, 5, 1, 1, 0, 0, 1, 1, 1, 256, 1, "12x12x12 -> 32c5, m 256"},
        {1, 28, 28, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1, 256, 1, "1x28x28 -> 16c5, m 256"},
        {32, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1, 1, 2, 100, 1, "32x8x8 -> 32c3 pad 1 groups 2, m 100"},
    };
    nm_rng r;
    nm_rng_init(&r, 7, 5);
    int saved = nm_get_threads();
    for (size_t k = 0; k < sizeof T / sizeof T[0]; k++) {
        nm_conv_geom g;
        init_case(&T[k], &g);
        const int64_t m = T[k].m, n_x = m * g.c_in * g.h_in * g.w_in, n_y = m * g.c_out * g.h_out * g.w_out;
        const int64_t n_w = nm_conv_weight_count(&g);
        float *W = rand_buf(&r, n_w), *b = rand_buf(&r, g.c_out), *x = rand_buf(&r, n_x), *gy = rand_buf(&r, n_y);
        float *scratch = scratch_for(&g, m);
        float *y[2], *dW[2], *db[2], *gx[2];
        for (int j = 0; j < 2; j++) {
            y[j] = malloc(sizeof(float) * n_y);
            dW[j] = malloc(sizeof(float) * n_w);
            db[j] = malloc(sizeof(float) * g.c_out);
            gx[j] = malloc(sizeof(float) * n_x);
        }
        run_threads(&g, 1, W, b, x, gy, m, y[0], dW[0], db[0], gx[0], scratch);
        const int counts[] = {2, 4};
        for (int c = 0; c < 2; c++) {
            run_threads(&g, counts[c], W, b, x, gy, m, y[1], dW[1], db[1], gx[1], scratch);
            assert_memory_equal(y[0], y[1], sizeof(float) * n_y);
            assert_memory_equal(dW[0], dW[1], sizeof(float) * n_w);
            assert_memory_equal(db[0], db[1], sizeof(float) * g.c_out);
            assert_memory_equal(gx[0], gx[1], sizeof(float) * n_x);
            print_message("PASS threads 1 vs %d bit-identical: %s\n", counts[c], T[k].name);
        }
        for (int j = 0; j < 2; j++) { free(y[j]); free(dW[j]); free(db[j]); free(gx[j]); }
        free(W); free(b); free(x); free(gy); free(scratch);
    }
    nm_set_threads(saved);
}

/* m = 0 touches nothing. */
static void test_empty(void **st) {
    (void)st;
    nm_conv_geom g;
    assert_int_equal(nm_conv_geom_init(&g, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1), NM_OK);
    float dW[54] = {1}, db[3] = {2};
    nm_conv_forward(&g, dW, db, NULL, 0, NULL, NULL);
    nm_conv_backward(&g, dW, NULL, NULL, 0, dW, db, NULL, NULL);
    assert_true(dW[0] == 1.0f && db[0] == 2.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_conv_forward_naive),
        cmocka_unit_test(test_conv_backward_naive),
        cmocka_unit_test(test_conv_adjoint_identity),
        cmocka_unit_test(test_pool_naive),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
