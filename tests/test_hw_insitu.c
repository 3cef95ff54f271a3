/*
** In-situ learning: the pulsed update rules against their closed forms (whole pulses, soft
** bounds, asymmetry, stochastic rounding, cycle-to-cycle and device-to-device spread); the
** mixed PCM + capacitor synapse with an ideal device (transfers conserve the weight, the
** capacitor saturates and leaks, transfers come every transfer_every images) and with PCM
** (the transfer error has the device's programming noise); digital parameters; thread
** count independence; configuration and creation errors.
**
** Statistical checks use the 100,000 weights of a 250 -> 400 layer and bounds of 5 standard
** errors: a correct model fails one with probability < 1e-6, while the errors they are meant
** to catch (a missing factor, rounding always down, a device of the pair not programmed)
** move the statistic by tens of standard errors. Exact checks allow float rounding: a few
** FLT_EPSILON of the layer's range R.
*/
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <neuromorph/neuromorph.h>

#define BIG "250-400"   /* one Affine of 100,000 weights */

#define ASSERT_NEAR(a, b, atol)                                                                             \
    do {                                                                                                    \
        double a_ = (a), b_ = (b), t_ = (atol);                                                             \
        if (!(fabs(a_ - b_) <= t_)) fail_msg("%s = %.9g, expected %.9g +- %.3g (%s:%d)", #a, a_, b_, t_, __FILE__, __LINE__); \
    } while (0)

#define ASSERT_MSG(call, code, needle)                                                                     \
    do {                                                                                                   \
        nm_status st_ = (call);                                                                            \
        if (st_ != (code)) fail_msg("%s returned %d, expected %d (%s)", #call, st_, code, nm_errmsg());  \
        if (!strstr(nm_errmsg(), needle)) fail_msg("%s: message '%s' lacks '%s'", #call, nm_errmsg(), needle); \
    } while (0)

static nm_graph *mlp(const char *spec, uint64_t seed) {
    nm_lif_params h;
    nm_li_params o;
    nm_lif_params_default(&h);
    nm_li_params_default(&o);
    nm_graph *g;
    assert_int_equal(nm_graph_from_spec(spec, &h, &o, &g), NM_OK);
    nm_graph_init_params(g, seed, 1.0f);
    return g;
}

/* The first weight node (Affine, Linear or Conv). */
static const nm_node *weight_node(const nm_graph *g) {
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nm_node_weight_count(nd) > 0) return nd;
    }
    fail_msg("no weight node");
    return NULL;
}

static float absmax(const float *w, int64_t n) {
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(w[i]));
    return m;
}

static nm_insitu *make(nm_graph *g, const nm_insitu_config *c, const nm_device *dev) {
    nm_insitu *s = NULL;
    nm_status st = nm_insitu_create(g, c, dev, &s);
    if (st) fail_msg("nm_insitu_create: %s", nm_errmsg());
    return s;
}

static nm_device *device(nm_device_kind kind, float read_scale) {
    nm_device_params p;
    nm_device_params_default(kind, &p);
    p.pcm_read_scale = read_scale;
    nm_device *d = NULL;
    assert_int_equal(nm_device_create(&p, &d), NM_OK);
    return d;
}

static void apply(nm_insitu *s, nm_graph *g, const float *delta, int64_t seen) {
    nm_update_hooks h;
    nm_insitu_hooks(s, &h);
    nm_status st = h.apply(h.ctx, nm_graph_params(g), delta, nm_graph_n_params(g), seen);
    if (st) fail_msg("apply: %s", nm_errmsg());
}

static float *copy(const float *x, int64_t n) {
    float *y = malloc(sizeof(float) * n);
    memcpy(y, x, sizeof(float) * n);
    return y;
}

/* A pulsed config without noise or spread: every update is deterministic. */
static void quiet_pulsed(nm_insitu_config *c, int soft, float dw_min) {
    nm_insitu_config_default(NM_INSITU_PULSED, c);
    c->soft_bounds = soft;
    c->dw_min = dw_min;
    c->dw_min_dtod = 0;
    c->c2c = 0;
}

typedef struct { double mean, std; } stats;

static stats stats_of(const double *x, int64_t n) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    const double m = s / (double)n;
    for (int64_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    return (stats){m, sqrt(ss / (double)(n - 1))};
}

/* ---- 1. pulsed: whole pulses, bounds, digital biases ------------------------------------ */

static void test_pulsed_hard(void **st) {
    (void)st;
    nm_graph *g = mlp(BIG, 3);
    const nm_node *nd = weight_node(g);
    const int64_t nw = nm_node_weight_count(nd), np = nm_graph_n_params(g);
    float *p = nm_graph_params(g), *w = p + nd->w_off;
    float *p0 = copy(p, np);
    const float R = 2.0f * absmax(w, nw), d = 0.001f, eps = 4 * FLT_EPSILON * R;
    nm_insitu_config c;
    quiet_pulsed(&c, 0, d);
    nm_insitu *s = make(g, &c, NULL);
    /* range 2: |W0| <= R / 2, nothing clipped at creation */
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e], p0[nd->w_off + e], eps);
    memcpy(p0, p, sizeof(float) * np);

    /* k = -3 .. 3 pulses; every other parameter (the bias) gets an arbitrary step */
    float *delta = calloc(np, sizeof *delta);
    for (int64_t i = 0; i < np; i++) delta[i] = 0.01f * (float)sin(2.385 * (double)i + 0.3);
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = (float)((e % 7) - 3) * d * R;
    apply(s, g, delta, 128);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e] - p0[nd->w_off + e], (double)((e % 7) - 3) * d * R, eps);
    for (int64_t i = 0; i < np; i++)
        if (i < nd->w_off || i >= nd->w_off + nw) assert_true(p[i] == p0[i] + delta[i]);   /* digital: exact */

    /* a step past the bound stops at +-R */
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = (e % 2 ? -1.0f : 1.0f) * 0.8f * R;   /* 1.6 R in all */
    apply(s, g, delta, 256);
    apply(s, g, delta, 384);
    for (int64_t e = 0; e < nw; e++)
        if (w[e] != (e % 2 ? -R : R)) fail_msg("w[%lld] = %.9g, expected %.9g", (long long)e, w[e], e % 2 ? -R : R);
    assert_int_equal(nm_insitu_transfers(s), 3);   /* PULSED counts updates */
    nm_insitu_destroy(s);
    free(delta), free(p0);
    nm_graph_destroy(g);
}

/* ---- 2. soft bounds and stochastic rounding ---------------------------------------------- */

static void test_pulsed_soft(void **st) {
    (void)st;
    nm_graph *g = mlp(BIG, 4);
    const nm_node *nd = weight_node(g);
    const int64_t nw = nm_node_weight_count(nd), np = nm_graph_n_params(g);
    float *p = nm_graph_params(g), *w = p + nd->w_off;
    const float R = 2.0f * absmax(w, nw), d = 0.05f;   /* large steps: soft and hard differ by 10 % */
    nm_insitu_config c;
    quiet_pulsed(&c, 1, d);
    nm_insitu *s = make(g, &c, NULL);
    float *w0 = copy(w, nw), *delta = calloc(np, sizeof *delta);

    /* 5 pulses up: u5 = 1 - (1 - u0)(1 - d)^5; then 5 down: -1 + (1 + u5)(1 - d)^5 */
    const double f5 = pow(1.0 - d, 5);
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 5 * d * R;
    apply(s, g, delta, 1);
    double *u5 = malloc(sizeof(double) * nw);
    for (int64_t e = 0; e < nw; e++) {
        u5[e] = 1.0 - (1.0 - w0[e] / R) * f5;
        ASSERT_NEAR(w[e] / R, u5[e], 1e-6);
    }
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = -5 * d * R;
    apply(s, g, delta, 2);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e] / R, -1.0 + (1.0 + u5[e]) * f5, 1e-6);
    /* 20 pulses up (past the few the learner multiplies out) */
    for (int64_t e = 0; e < nw; e++) u5[e] = w[e] / (double)R, delta[nd->w_off + e] = 20 * d * R;
    apply(s, g, delta, 3);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e] / R, 1.0 - (1.0 - u5[e]) * pow(1.0 - d, 20), 1e-6);

    /* Half a pulse: each weight takes one pulse with probability 1/2. The fraction that moved
    ** (each moved by exactly d (1 - u) or not at all) is 1/2 +- 5 x 0.5 / sqrt(n). */
    memcpy(w0, w, sizeof(float) * nw);
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 0.5f * d * R;
    apply(s, g, delta, 3);
    int64_t moved = 0;
    for (int64_t e = 0; e < nw; e++) {
        const double u0 = w0[e] / R, du = w[e] / R - u0;
        if (du != 0.0) {
            ASSERT_NEAR(du, d * (1.0 - u0), 1e-6);
            moved++;
        }
    }
    ASSERT_NEAR((double)moved / nw, 0.5, 5 * 0.5 / sqrt((double)nw));
    nm_insitu_destroy(s);

    /* The same with hard bounds: the mean change is 0.5 d R +- 5 x 0.5 d R / sqrt(n) (binomial). */
    quiet_pulsed(&c, 0, 0.001f);
    nm_graph_init_params(g, 4, 1.0f);
    const float Rh = 2.0f * absmax(w, nw);
    s = make(g, &c, NULL);
    memcpy(w0, w, sizeof(float) * nw);
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 0.5f * 0.001f * Rh;
    apply(s, g, delta, 1);
    double sum = 0;
    for (int64_t e = 0; e < nw; e++) sum += (double)w[e] - w0[e];
    ASSERT_NEAR(sum / nw, 0.5 * 0.001 * Rh, 5 * 0.5 * 0.001 * Rh / sqrt((double)nw));
    printf("PASS stochastic rounding: mean step %.5f (expected 0.5 +- %.5f) pulses\n", sum / nw / (0.001 * Rh),
           5 * 0.5 / sqrt((double)nw));
    nm_insitu_destroy(s);
    free(w0), free(delta), free(u5);
    nm_graph_destroy(g);
}

/* ---- 3. asymmetry ---------------------------------------------------------------------- */

static void test_pulsed_asymmetry(void **st) {
    (void)st;
    nm_graph *g = mlp("40-30", 5);
    const nm_node *nd = weight_node(g);
    const int64_t nw = nm_node_weight_count(nd), np = nm_graph_n_params(g);
    float *w = nm_graph_params(g) + nd->w_off;
    const float R = 2.0f * absmax(w, nw), d = 0.002f, a = 0.2f, eps = 4 * FLT_EPSILON * R;
    nm_insitu_config c;
    quiet_pulsed(&c, 0, d);
    c.up_down = a;
    nm_insitu *s = make(g, &c, NULL);
    float *w0 = copy(w, nw), *delta = calloc(np, sizeof *delta);
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 3 * d * R;
    apply(s, g, delta, 1);
    double up = 0, down = 0;
    for (int64_t e = 0; e < nw; e++) {
        ASSERT_NEAR(w[e] - w0[e], 3 * d * (1 + a) * R, eps);
        up += w[e] - w0[e];
    }
    memcpy(w0, w, sizeof(float) * nw);
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = -3 * d * R;
    apply(s, g, delta, 2);
    for (int64_t e = 0; e < nw; e++) {
        ASSERT_NEAR(w[e] - w0[e], -3 * d * (1 - a) * R, eps);
        down -= w[e] - w0[e];
    }
    ASSERT_NEAR(up / down, (1 + a) / (1 - a), 1e-3);
    nm_insitu_destroy(s);
    free(w0), free(delta);
    nm_graph_destroy(g);
}

/* ---- 4. cycle-to-cycle noise and device-to-device spread ------------------------------ */

static void test_pulsed_noise(void **st) {
    (void)st;
    nm_graph *g = mlp(BIG, 6);
    const nm_node *nd = weight_node(g);
    const int64_t nw = nm_node_weight_count(nd), np = nm_graph_n_params(g);
    float *w = nm_graph_params(g) + nd->w_off;
    float *winit = copy(w, nw), *w0 = malloc(sizeof(float) * nw), *delta = calloc(np, sizeof *delta);
    double *x = malloc(sizeof(double) * nw);
    const float R = 2.0f * absmax(w, nw), d = 0.001f;
    const int n = 16;   /* a whole number of pulses: no rounding draws; |W0| + n d R stays far inside R */
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = n * d * R;

    /* c2c: each pulse d (1 + c2c xi), so the change over n pulses is n d R +- c2c d sqrt(n) R */
    nm_insitu_config c;
    quiet_pulsed(&c, 0, d);
    c.c2c = 0.3f;
    nm_insitu *s = make(g, &c, NULL);
    memcpy(w0, w, sizeof(float) * nw);
    apply(s, g, delta, 1);
    for (int64_t e = 0; e < nw; e++) x[e] = ((double)w[e] - w0[e]) / R;
    stats t = stats_of(x, nw);
    const double sd = 0.3 * d * sqrt((double)n);
    ASSERT_NEAR(t.mean, n * d, 5 * sd / sqrt((double)nw));
    ASSERT_NEAR(t.std, sd, 5 * sd / sqrt(2.0 * nw));
    printf("PASS c2c: std %.5g, expected %.5g +- %.2f %% (units of R)\n", t.std, sd, 500 / sqrt(2.0 * nw));
    nm_insitu_destroy(s);

    /* dtod: each device's own step d (1 + 0.3 z): the change over n pulses has relative
    ** spread 0.3 (devices at 1 + 0.3 z <= 0, p = 4e-4, are stuck: a negligible bias). */
    memcpy(w, winit, sizeof(float) * nw);
    quiet_pulsed(&c, 0, d);
    c.dw_min_dtod = 0.3f;
    s = make(g, &c, NULL);
    memcpy(w0, w, sizeof(float) * nw);
    apply(s, g, delta, 1);
    for (int64_t e = 0; e < nw; e++) x[e] = ((double)w[e] - w0[e]) / (n * d * R);
    t = stats_of(x, nw);
    ASSERT_NEAR(t.mean, 1.0, 5 * 0.3 / sqrt((double)nw));
    ASSERT_NEAR(t.std, 0.3, 5 * 0.3 / sqrt(2.0 * nw));
    /* the spread is the device's: the same devices take the same relative steps again */
    memcpy(w0, w, sizeof(float) * nw);
    apply(s, g, delta, 2);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(((double)w[e] - w0[e]) / (n * d * R), x[e], 1e-3);
    nm_insitu_destroy(s);
    free(winit), free(w0), free(delta), free(x);
    nm_graph_destroy(g);
}

/* ---- 5. digital parameters: biases, scales, learnable neuron constants ---------------- */

static void test_digital(void **st) {
    (void)st;
    nm_graph *g;
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    int in, fc, sc, lif, fc2, li, out;
    assert_int_equal(nm_graph_create(&g), NM_OK);
    assert_int_equal(nm_graph_add_input(g, "in", 6, &in), NM_OK);
    assert_int_equal(nm_graph_add_affine(g, "fc", 6, 5, &fc), NM_OK);
    assert_int_equal(nm_graph_add_scale(g, "scale", 5, &sc), NM_OK);
    assert_int_equal(nm_graph_add_lif(g, "lif", 5, &lp, &lif), NM_OK);
    assert_int_equal(nm_graph_set_learn_neuron(g, lif), NM_OK);
    assert_int_equal(nm_graph_add_linear(g, "fc2", 5, 3, &fc2), NM_OK);
    assert_int_equal(nm_graph_add_li(g, "li", 3, &lo, &li), NM_OK);
    assert_int_equal(nm_graph_add_output(g, "out", &out), NM_OK);
    int chain[] = {in, fc, sc, lif, fc2, li, out};
    for (int i = 0; i + 1 < 7; i++) assert_int_equal(nm_graph_connect(g, chain[i], chain[i + 1]), NM_OK);
    assert_int_equal(nm_graph_compile(g), NM_OK);
    nm_graph_init_params(g, 7, 1.0f);

    const int64_t np = nm_graph_n_params(g);
    uint8_t *is_w = calloc(np, 1);
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        for (int64_t e = 0; e < nm_node_weight_count(nd); e++) is_w[nd->w_off + e] = 1;
    }
    float *delta = malloc(sizeof(float) * np);
    for (int64_t i = 0; i < np; i++) delta[i] = 0.0137f * (float)cos(2.385 * (double)i);
    nm_device *ideal = device(NM_DEV_IDEAL, 1);
    for (int kind = 0; kind < 2; kind++) {
        nm_insitu_config c;
        nm_insitu_config_default((nm_insitu_kind)kind, &c);
        nm_insitu *s = make(g, &c, ideal);
        for (int rep = 0; rep < 3; rep++) {
            float *p = nm_graph_params(g), *p0 = copy(p, np);
            apply(s, g, delta, 100 * (rep + 1));
            int64_t n_dig = 0;
            for (int64_t i = 0; i < np; i++)
                if (!is_w[i]) assert_true(p[i] == p0[i] + delta[i]), n_dig++;
            assert_true(n_dig >= 5 + 5 + 5 + 5);   /* bias, scale, tau, threshold */
            free(p0);
        }
        nm_insitu_destroy(s);
    }
    nm_device_destroy(ideal);
    free(is_w), free(delta);
    nm_graph_destroy(g);
}

/* Conv weights are device weights too (k pulses each); the conv bias is digital. */
static void test_conv(void **st) {
    (void)st;
    nm_graph *g = mlp("1x8x8-4c3-10", 8);
    const int64_t np = nm_graph_n_params(g);
    float *p = nm_graph_params(g), *delta = calloc(np, sizeof *delta);
    nm_insitu_config c;
    quiet_pulsed(&c, 0, 0.001f);
    float R[2];
    int nodes[2], k = 0;
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        const int64_t nw = nm_node_weight_count(nd);
        if (!nw) continue;
        assert_true(k < 2);
        nodes[k] = j;
        R[k] = 2.0f * absmax(p + nd->w_off, nw);
        for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 2 * 0.001f * R[k];
        k++;
    }
    assert_int_equal(nm_graph_node(g, nodes[0])->kind, NM_NODE_CONV);
    nm_insitu *s = make(g, &c, NULL);
    float *p0 = copy(p, np);
    apply(s, g, delta, 1);
    for (int l = 0; l < 2; l++) {
        const nm_node *nd = nm_graph_node(g, nodes[l]);
        for (int64_t e = 0; e < nm_node_weight_count(nd); e++)
            ASSERT_NEAR(p[nd->w_off + e] - p0[nd->w_off + e], 2 * 0.001 * R[l], 4 * FLT_EPSILON * R[l]);
    }
    const nm_node *cv = nm_graph_node(g, nodes[0]);
    assert_true(cv->b_off >= 0);
    for (int64_t e = 0; e < cv->conv.c_out; e++) assert_true(p[cv->b_off + e] == p0[cv->b_off + e] + delta[cv->b_off + e]);
    nm_insitu_destroy(s);
    free(p0), free(delta);
    nm_graph_destroy(g);
}

/* ---- 6. mixed, ideal device: conservation, saturation, leak, transfer schedule --------- */

static void test_mixed_ideal(void **st) {
    (void)st;
    nm_graph *g = mlp("30-20", 9);
    const nm_node *nd = weight_node(g);
    const int64_t nw = nm_node_weight_count(nd), np = nm_graph_n_params(g);
    float *w = nm_graph_params(g) + nd->w_off;
    float *worig = copy(w, nw), *w0 = copy(w, nw), *delta = calloc(np, sizeof *delta);
    nm_device *ideal = device(NM_DEV_IDEAL, 1);
    nm_insitu_config c;
    nm_insitu_config_default(NM_INSITU_MIXED, &c);
    c.transfer_every = 100;
    c.verify_iters = 0;   /* open loop: every pair moves at every transfer (closed loop: below) */
    const float R = c.range * absmax(w, nw) / c.gain, F = c.gain, cr = c.cap_range;
    /* Float rounding: the weight is R (F (G+ - G-) + g) with |F (G+ - G-)| <= F; a few ulps of R F. */
    const double eps = 4 * FLT_EPSILON * R * F;
    nm_insitu *s = make(g, &c, ideal);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e], w0[e], eps);   /* W0 / F on the pair, exactly */
    memcpy(w0, w, sizeof(float) * nw);

    /* capacitor saturation at +-cap_range, from the pair's weight */
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = (e % 2 ? -10.0f : 10.0f) * R;
    apply(s, g, delta, 30);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e] - w0[e], (e % 2 ? -cr : cr) * R, eps);

    /* a step back within the range, then a transfer: the weight is kept, the capacitor emptied */
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = (float)(0.4 * sin(2.385 * e)) * R - (e % 2 ? -cr : cr) * R;
    apply(s, g, delta, 60);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e] - w0[e], 0.4 * sin(2.385 * e) * R, eps);
    float *wt = copy(w, nw);
    assert_int_equal(nm_insitu_transfer(s, nm_graph_params(g)), NM_OK);
    assert_int_equal(nm_insitu_transfers(s), 1);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e], wt[e], eps);
    /* the capacitor's full reach is there again: a saturating step adds cap_range from here */
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 10.0f * R;
    apply(s, g, delta, 90);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e] - wt[e], cr * R, eps);
    nm_insitu_destroy(s);

    /* leak: a transfer first takes cap_leak of the capacitor's excess */
    memcpy(w, worig, sizeof(float) * nw);   /* the same max|W|, so the same R */
    c.cap_leak = 0.25f;
    s = make(g, &c, ideal);
    memcpy(w0, w, sizeof(float) * nw);
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = (float)(0.3 * cos(2.385 * e)) * R;
    apply(s, g, delta, 10);
    assert_int_equal(nm_insitu_transfer(s, nm_graph_params(g)), NM_OK);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e] - w0[e], 0.75 * (float)(0.3 * cos(2.385 * e)) * R, eps);
    nm_insitu_destroy(s);

    /* Transfers every 100 images with batches of 30 (which do not divide 100): after an apply
    ** at `seen` images, floor(seen / 100) transfers; the one at seen = 120 empties the
    ** capacitor (the next saturating step adds the full cap_range). */
    c.cap_leak = 0;
    memcpy(w, worig, sizeof(float) * nw);
    s = make(g, &c, ideal);
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 0.05f * R;
    for (int64_t seen = 30; seen <= 600; seen += 30) {
        apply(s, g, delta, seen);
        assert_int_equal(nm_insitu_transfers(s), seen / 100);
        if (seen == 120) {
            float *wb = copy(w, nw);
            for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 10.0f * R;
            apply(s, g, delta, seen);   /* the same count: no multiple crossed */
            for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e] - wb[e], cr * R, eps);
            for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 0.05f * R;
            free(wb);
        }
    }
    /* a batch that crosses several multiples transfers once */
    apply(s, g, delta, 950);
    assert_int_equal(nm_insitu_transfers(s), 7);
    nm_insitu_destroy(s);
    nm_device_destroy(ideal);
    free(worig), free(w0), free(wt), free(delta);
    nm_graph_destroy(g);
}

/* ---- 7. mixed, PCM: the transfer error is the device's programming noise ---------------- */

/* Mean and variance (units of g_max) of a PCM device programmed to 0 and read at t = 0,
** sampled from the device itself: the reset device of every pair (clipped at 0, so its
** mean is positive and pulls every weight a little towards 0). */
static void reset_device(const nm_device *dev, double *mean, double *var) {
    enum { N = 200000 };
    float *z = calloc(N, sizeof *z), *gp = malloc(sizeof(float) * N), *st = malloc(sizeof(float) * N),
          *g = malloc(sizeof(float) * N);
    dev->ops->program(dev, z, N, 777, 5, gp, st);
    dev->ops->at_time(dev, gp, st, N, 0.0, 777, 5, g);
    double s = 0, ss = 0;
    for (int i = 0; i < N; i++) s += g[i], ss += (double)g[i] * g[i];
    free(z), free(gp), free(st), free(g);
    *mean = s / N;
    *var = ss / N - *mean * *mean;
}

static void test_mixed_pcm(void **st) {
    (void)st;
    nm_graph *g = mlp(BIG, 10);
    const nm_node *nd = weight_node(g);
    const int64_t nw = nm_node_weight_count(nd), np = nm_graph_n_params(g);
    float *w = nm_graph_params(g) + nd->w_off, *delta = calloc(np, sizeof *delta);
    double *err = malloc(sizeof(double) * nw);
    nm_insitu_config c;
    nm_insitu_config_default(NM_INSITU_MIXED, &c);
    /* |W| = 0.05 everywhere, range 2, F = 2: R = range max|W| / F = 0.05, every weight is 1
    ** layer unit, a conductance of x = 1 / F = 0.5 on one device of its pair (the other at 0). */
    c.range = 2.0f;
    c.gain = 2.0f;
    c.verify_iters = 0;   /* one programming per pair and transfer: its noise is the device's */
    const double R = 0.05, F = c.gain, x = 0.5, cap = 0.1;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: programming noise only (PCM's 1/f noise off): the expected std is exact (the
        ** set device sits 13 sigma above 0); pass 1: PCM defaults, whose read at t = 0 carries
        ** the 1/f noise accumulated by aihwkit's t_0, expected to first order in the
        ** programming noise (Q_s taken at the target): 1 % allowed for that */
        nm_device *dev = device(NM_DEV_PCM, pass ? 1.0f : 0.0f);
        const nm_device_params *p = &dev->p;
        const double G0 = nm_pcm_read_growth(p, 0.0), model = pass ? 0.01 : 0.0;
        double m0, v0;
        reset_device(dev, &m0, &v0);
        for (int64_t e = 0; e < nw; e++) w[e] = (e * 7919) % 3 ? 0.05f : -0.05f;
        nm_insitu *s = make(g, &c, dev);
        for (int step = 0; step < 2; step++) {
            float *wb = NULL;
            double xt = x;
            if (step == 0) {
                /* creation: the error of the first programming against W0 */
                for (int64_t e = 0; e < nw; e++) err[e] = (double)w[e] - ((e * 7919) % 3 ? R : -R);
            } else {
                /* a capacitor step, then a transfer: the error against the weight before it;
                ** the targets are now T / F = G+ - G- + cap / F, on average (1 + cap) / F less
                ** the reset device's mean, spread by the first error (which moves the std by
                ** sigma'(x)^2 var(x) / 2 sigma^2, < 0.05 %) */
                for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = (float)(cap * R) * ((e * 7919) % 3 ? 1.0f : -1.0f);
                apply(s, g, delta, 1);
                wb = copy(w, nw);
                assert_int_equal(nm_insitu_transfer(s, nm_graph_params(g)), NM_OK);
                for (int64_t e = 0; e < nw; e++) err[e] = (double)w[e] - wb[e];
                xt = (1.0 + cap) / F - m0;
            }
            for (int64_t e = 0; e < nw; e++) err[e] *= (e * 7919) % 3 ? 1 : -1;   /* signed towards |W| */
            stats t = stats_of(err, nw);
            /* the set device: programming sigma plus its 1/f std xt Q_s(xt) G0; the reset device */
            const double sp = nm_pcm_prog_sigma_us(p, xt) / p->g_max_us, fl = pass ? xt * nm_pcm_q_s(xt) * G0 : 0.0;
            const double sd = R * F * sqrt(sp * sp + fl * fl + v0), mean = -R * F * m0;
            const double tol_sd = 5 * sd / sqrt(2.0 * nw) + model * sd, tol_mean = 5 * sd / sqrt((double)nw);
            ASSERT_NEAR(t.std, sd, tol_sd);
            ASSERT_NEAR(t.mean, mean, tol_mean);
            printf("PASS pcm %s (%s): error std %.5g, expected %.5g +- %.2f %% (%+.2f %%); mean %.3g, expected %.3g +- %.2g\n",
                   step ? "transfer" : "creation", pass ? "defaults" : "programming noise only", t.std, sd,
                   100 * tol_sd / sd, 100 * (t.std / sd - 1), t.mean, mean, tol_mean);
            if (step == 0) { free(wb); continue; }
            /* Every transfer draws anew: the errors of two successive transfers are
            ** uncorrelated (correlation 0 +- 5 / sqrt(n); the same draws would give ~1). */
            memcpy(wb, w, sizeof(float) * nw);
            assert_int_equal(nm_insitu_transfer(s, nm_graph_params(g)), NM_OK);
            double cov = 0, v2 = 0;
            for (int64_t e = 0; e < nw; e++) {
                const double e2 = ((double)w[e] - wb[e]) * ((e * 7919) % 3 ? 1 : -1) - t.mean;
                cov += (err[e] - t.mean) * e2, v2 += e2 * e2;
            }
            ASSERT_NEAR(cov / sqrt(v2 * t.std * t.std * (double)(nw - 1)), 0.0, 5 / sqrt((double)nw));
            free(wb);
        }
        nm_insitu_destroy(s);
        nm_device_destroy(dev);
    }
    free(delta), free(err);
    nm_graph_destroy(g);
}

/* Closed-loop transfer. (a) Ideal devices: a pair whose capacitor holds less than
** transfer_min is left alone and keeps its capacitor; the others move exactly. (b) PCM
** programming noise: the verify rounds are independent draws towards unchanged targets, so
** the fraction of pairs outside verify_tol after r rounds is (1 - q)^r, q the fraction one
** open-loop programming puts within it (measured on the same weights). */
static void test_mixed_closed_loop(void **st) {
    (void)st;
    nm_graph *g = mlp("30-20", 9);
    const nm_node *nd = weight_node(g);
    const int64_t nw = nm_node_weight_count(nd), np = nm_graph_n_params(g);
    float *w = nm_graph_params(g) + nd->w_off, *delta = calloc(np, sizeof *delta);
    nm_device *ideal = device(NM_DEV_IDEAL, 1);
    nm_insitu_config c;
    nm_insitu_config_default(NM_INSITU_MIXED, &c);
    assert_true(c.verify_iters > 0 && c.transfer_min > 0);   /* the default is closed loop */
    const float R = c.range * absmax(w, nw) / c.gain, cr = c.cap_range, small = 0.5f * c.transfer_min, big = 0.3f;
    const double eps = 4 * FLT_EPSILON * R * c.gain;
    nm_insitu *s = make(g, &c, ideal);
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = (e % 2 ? small : big) * R;
    apply(s, g, delta, 10);
    float *wt = copy(w, nw);
    assert_int_equal(nm_insitu_transfer(s, nm_graph_params(g)), NM_OK);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e], wt[e], eps);
    /* a saturating step: the moved pairs have the whole reach again, the others what is left */
    for (int64_t e = 0; e < nw; e++) delta[nd->w_off + e] = 10.0f * R;
    apply(s, g, delta, 20);
    for (int64_t e = 0; e < nw; e++) ASSERT_NEAR(w[e] - wt[e], (e % 2 ? cr - small : cr) * R, eps);
    nm_insitu_destroy(s);
    nm_device_destroy(ideal);
    free(wt), free(delta);
    nm_graph_destroy(g);

    /* (b) creation programs every pair: |W| = 0.05, F = 2, range 2, so W / R = +-1 */
    g = mlp(BIG, 10);
    nd = weight_node(g);
    const int64_t n = nm_node_weight_count(nd);
    w = nm_graph_params(g) + nd->w_off;
    nm_device *dev = device(NM_DEV_PCM, 0.0f);
    c.range = 2.0f;
    c.gain = 2.0f;
    c.verify_tol = 0.05f;   /* about a third of this setting's programming spread (F sigma / R) */
    double frac[2], rms[2];
    for (int closed = 0; closed < 2; closed++) {
        c.verify_iters = closed ? 5 : 0;
        for (int64_t e = 0; e < n; e++) w[e] = (e * 7919) % 3 ? 0.05f : -0.05f;
        s = make(g, &c, dev);
        int64_t in = 0;
        double ss = 0;
        for (int64_t e = 0; e < n; e++) {
            const double d = ((double)w[e] - ((e * 7919) % 3 ? 0.05 : -0.05)) / 0.05;   /* units of R */
            in += fabs(d) <= c.verify_tol;
            ss += d * d;
        }
        frac[closed] = (double)in / (double)n;
        rms[closed] = sqrt(ss / (double)n);
        nm_insitu_destroy(s);
    }
    const double q = frac[0], want = 1.0 - pow(1.0 - q, 5);
    /* binomial spread of both measured fractions, 5 sigma: d want / d q = 5 (1 - q)^4 */
    const double tol = 5 * (sqrt(want * (1 - want) / n) + 5 * pow(1 - q, 4) * sqrt(q * (1 - q) / n));
    printf("PASS closed loop: %.4f of pairs within tol after 5 rounds, expected %.4f +- %.4f (one round: %.4f); "
           "rms error %.4f R against %.4f R open loop\n", frac[1], want, tol, q, rms[1], rms[0]);
    ASSERT_NEAR(frac[1], want, tol);
    assert_true(q < 0.5 && rms[1] < 0.7 * rms[0]);   /* the setting is one where verifying matters */
    nm_device_destroy(dev);
    nm_graph_destroy(g);
}

/* ---- 8. thread count ------------------------------------------------------------------- */

static float *run_threads(int kind, int threads, uint64_t seed, const nm_device *dev) {
    nm_set_threads(threads);
    nm_graph *g = mlp(BIG, 11);
    const int64_t np = nm_graph_n_params(g);
    float *delta = malloc(sizeof(float) * np);
    for (int64_t i = 0; i < np; i++) delta[i] = 0.003f * (float)sin(2.385 * (double)i + 0.1);
    nm_insitu_config c;
    nm_insitu_config_default((nm_insitu_kind)kind, &c);   /* every noise on */
    c.seed = seed;
    c.transfer_every = 64;
    nm_insitu *s = make(g, &c, dev);
    for (int k = 1; k <= 5; k++) apply(s, g, delta, 50 * k);
    assert_int_equal(nm_insitu_transfer(s, nm_graph_params(g)), NM_OK);
    float *out = copy(nm_graph_params(g), np);
    nm_insitu_destroy(s);
    free(delta);
    nm_graph_destroy(g);
    return out;
}

static void test_threads(void **st) {
    (void)st;
    nm_graph *g = mlp(BIG, 11);
    const int64_t np = nm_graph_n_params(g);
    nm_graph_destroy(g);
    nm_device *pcm = device(NM_DEV_PCM, 1);
    for (int kind = 0; kind < 2; kind++) {
        float *a = run_threads(kind, 1, 42, pcm), *b = run_threads(kind, 2, 42, pcm), *c = run_threads(kind, 2, 43, pcm);
        assert_memory_equal(a, b, sizeof(float) * np);
        int64_t differ = 0;
        for (int64_t i = 0; i < np; i++) differ += a[i] != c[i];
        assert_true(differ > np / 2);   /* the seed matters */
        free(a), free(b), free(c);
    }
    nm_set_threads(0);
    nm_device_destroy(pcm);
}

/* ---- 9. configuration and creation errors --------------------------------------------- */

#define BAD(kind, change, needle)                                          \
    do {                                                                   \
        nm_insitu_config_default(kind, &c);                                \
        change;                                                            \
        ASSERT_MSG(nm_insitu_config_check(&c), NM_INVAL, needle);          \
        nm_insitu *s_ = (nm_insitu *)1;                                    \
        ASSERT_MSG(nm_insitu_create(g, &c, ideal, &s_), NM_INVAL, needle); \
        assert_null(s_);                                                   \
    } while (0)

static void test_validation(void **st) {
    (void)st;
    nm_insitu_config c;
    nm_graph *g = mlp("5-4", 12);
    nm_device *ideal = device(NM_DEV_IDEAL, 1);
    nm_insitu_config_default(NM_INSITU_PULSED, &c);
    assert_int_equal(nm_insitu_config_check(&c), NM_OK);
    nm_insitu_config_default(NM_INSITU_MIXED, &c);
    assert_int_equal(nm_insitu_config_check(&c), NM_OK);
    assert_int_equal(c.transfer_every, 8000);
    assert_true(c.gain == 3.0f && c.range == 2.0f && c.dw_min == 0.001f && c.soft_bounds == 1);

    BAD(NM_INSITU_PULSED, c.kind = (nm_insitu_kind)2, "kind");
    BAD(NM_INSITU_PULSED, c.range = 0, "range");
    BAD(NM_INSITU_PULSED, c.range = INFINITY, "range");
    BAD(NM_INSITU_PULSED, c.dw_min = 0, "dw_min");
    BAD(NM_INSITU_PULSED, c.dw_min = 1.5f, "dw_min");
    BAD(NM_INSITU_PULSED, c.dw_min = NAN, "dw_min");
    BAD(NM_INSITU_PULSED, c.up_down = 1, "up_down");
    BAD(NM_INSITU_PULSED, c.up_down = -1, "up_down");
    BAD(NM_INSITU_PULSED, c.soft_bounds = 2, "soft_bounds");
    BAD(NM_INSITU_PULSED, c.dw_min_dtod = -0.1f, "dw_min_dtod");
    BAD(NM_INSITU_PULSED, c.c2c = -0.1f, "c2c");
    BAD(NM_INSITU_PULSED, c.c2c = NAN, "c2c");
    BAD(NM_INSITU_MIXED, c.gain = 0, "gain");
    BAD(NM_INSITU_MIXED, c.transfer_every = 0, "transfer_every");
    BAD(NM_INSITU_MIXED, c.cap_range = -1, "cap_range");
    BAD(NM_INSITU_MIXED, c.cap_leak = 1.5f, "cap_leak");
    BAD(NM_INSITU_MIXED, c.cap_leak = NAN, "cap_leak");

    /* MIXED needs a device; PULSED does not */
    nm_insitu *s = (nm_insitu *)1;
    nm_insitu_config_default(NM_INSITU_MIXED, &c);
    ASSERT_MSG(nm_insitu_create(g, &c, NULL, &s), NM_INVAL, "device");
    assert_null(s);
    nm_insitu_config_default(NM_INSITU_PULSED, &c);
    s = make(g, &c, NULL);
    /* an update of another graph's size */
    nm_update_hooks h;
    nm_insitu_hooks(s, &h);
    float *d = calloc(nm_graph_n_params(g) + 1, sizeof *d);
    ASSERT_MSG(h.apply(h.ctx, nm_graph_params(g), d, nm_graph_n_params(g) + 1, 1), NM_SHAPE, "parameters");
    free(d);
    nm_insitu_destroy(s);
    nm_insitu_destroy(NULL);

    /* non-finite weights are refused naming the node */
    float *w = nm_graph_params(g) + weight_node(g)->w_off;
    w[3] = NAN;
    s = (nm_insitu *)1;
    ASSERT_MSG(nm_insitu_create(g, &c, NULL, &s), NM_INVAL, weight_node(g)->name);
    assert_null(s);
    nm_graph_destroy(g);

    /* a graph without a weight layer */
    nm_lif_params lp;
    nm_lif_params_default(&lp);
    int in, lif, out;
    assert_int_equal(nm_graph_create(&g), NM_OK);
    assert_int_equal(nm_graph_add_input(g, "in", 4, &in), NM_OK);
    assert_int_equal(nm_graph_add_lif(g, "lif", 4, &lp, &lif), NM_OK);
    assert_int_equal(nm_graph_add_output(g, "out", &out), NM_OK);
    assert_int_equal(nm_graph_connect(g, in, lif), NM_OK);
    assert_int_equal(nm_graph_connect(g, lif, out), NM_OK);
    assert_int_equal(nm_graph_compile(g), NM_OK);
    for (int kind = 0; kind < 2; kind++) {
        nm_insitu_config_default((nm_insitu_kind)kind, &c);
        s = (nm_insitu *)1;
        ASSERT_MSG(nm_insitu_create(g, &c, ideal, &s), NM_INVAL, "no weight layer");
        assert_null(s);
    }
    nm_graph_destroy(g);
    nm_device_destroy(ideal);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pulsed_hard),  cmocka_unit_test(test_pulsed_soft), cmocka_unit_test(test_pulsed_asymmetry),
        cmocka_unit_test(test_pulsed_noise), cmocka_unit_test(test_digital),     cmocka_unit_test(test_conv),
        cmocka_unit_test(test_mixed_ideal),  cmocka_unit_test(test_mixed_pcm), cmocka_unit_test(test_mixed_closed_loop),   cmocka_unit_test(test_threads),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
