/*
** ANN mode and ANN-to-SNN conversion: the ANN's gradient against central finite differences
** (MLP and CNN), the ANN forward against hand-computed ReLU activations, max normalization
** against the activations, and IF rates of the converted network against the ReLU
** activations with the error bounds the reset by subtraction guarantees:
**   layer 1 (constant input current I in [0, 1]):    |N/T - I| <= 1/T
**   layer 2 (non-negative weights W, bias b):         |N/T - (W a1 + b)| <= (1 + sum_k W_k) / T
** (the membrane never goes negative, so what is left after T steps is in [0, 1], and layer 1's
** counts are each within 1 of T a1).
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
#include <neuromorph/neuromorph.h>

/* A dataset held by the test (freed with toy_free). */
static nm_dataset *toy_new(int64_t n, int rows, int cols, int n_classes) {
    nm_dataset *d = calloc(1, sizeof *d);
    d->n = n;
    d->rows = rows;
    d->cols = cols;
    d->n_classes = n_classes;
    d->images = calloc((size_t)(n * rows * cols), 1);
    d->labels = calloc((size_t)n, 1);
    return d;
}
static void toy_free(nm_dataset *d) {
    free(d->images);
    free(d->labels);
    free(d);
}

static nm_graph *ann_graph(const char *spec) {
    nm_spec_options o;
    nm_spec_options_default(&o);
    o.neuron = NM_NODE_IF;
    nm_graph *g = NULL;
    assert_int_equal(nm_graph_from_spec_ex(spec, &o, &g), NM_OK);
    return g;
}

/* ---- the ANN's gradient ------------------------------------------------- */

static double ann_loss(nm_ann *a, const float *x, int B, const int *lab) {
    assert_int_equal(nm_ann_forward(a, x, B), NM_OK);
    return nm_ann_loss(a, lab, NULL, NULL);
}

/* Central differences in float: error about 1e-7 |L| / h plus h^2 |L'''|, near 3e-5 at
** h = 3e-3. A move of +-h that crosses a ReLU kink breaks the difference (h = 1e-2 does on the
** CNN), so h stays small and inputs and weights are high-entropy. */
static void check_ann_grad(const char *spec, int64_t n_in) {
    nm_graph *g = ann_graph(spec);
    nm_graph_init_params(g, 11, 1.5f);
    const int B = 3;
    float *x = malloc(sizeof(float) * B * n_in);
    nm_rng r;
    nm_rng_init(&r, 5, 0);
    for (int64_t i = 0; i < B * n_in; i++) x[i] = nm_rng_uniform(&r);
    int lab[3] = {2, 0, 1};
    nm_ann *a;
    assert_int_equal(nm_ann_create(g, B, &a), NM_OK);
    const int64_t np = nm_graph_n_params(g);
    float *grads = malloc(sizeof(float) * np), *gl = malloc(sizeof(float) * B * 3);
    assert_int_equal(nm_ann_forward(a, x, B), NM_OK);
    nm_ann_loss(a, lab, gl, NULL);
    nm_ann_backward(a, gl, grads);
    float *p = nm_graph_params(g);
    const float h = 3e-3f;
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < np; i++) {
        const float p0 = p[i];
        p[i] = p0 + h;
        double lp = ann_loss(a, x, B, lab);
        p[i] = p0 - h;
        double lm = ann_loss(a, x, B, lab);
        p[i] = p0;
        double fd = (lp - lm) / (2 * h), err = fabs(fd - grads[i]);
        if (err > worst) worst = err;
        if (err > 1e-3 + 1e-2 * fabs(fd)) {
            if (bad++ < 5) print_error("%s param %lld: backward %g, finite difference %g\n", spec, (long long)i, grads[i], fd);
        }
    }
    printf("ANN %s: %lld parameters, worst |backward - fd| %.2e\n", spec, (long long)np, worst);
    assert_int_equal(bad, 0);
    nm_ann_destroy(a);
    nm_graph_destroy(g);
    free(x);
    free(grads);
    free(gl);
}

static void test_ann_gradient_mlp(void **st) {
    (void)st;
    check_ann_grad("7-6-5-3", 7);
}

static void test_ann_gradient_cnn(void **st) {
    (void)st;
    check_ann_grad("1x8x8-3c3ap2-4c2-3", 64);
}

static void test_ann_rejects_recurrent(void **st) {
    (void)st;
    nm_spec_options o;
    nm_spec_options_default(&o);
    nm_graph *g;
    assert_int_equal(nm_graph_from_spec_ex("4-3r-2", &o, &g), NM_OK);
    nm_ann *a = NULL;
    assert_int_equal(nm_ann_create(g, 2, &a), NM_UNSUPPORTED);
    assert_non_null(strstr(nm_errmsg(), "no ANN form"));
    assert_null(a);
    nm_graph_destroy(g);
}

/* ---- conversion ---------------------------------------------------------- */

/* 4 inputs -> 3 IF -> 3 IF -> 2: weights chosen by hand, all non-negative in the hidden
** layers so the bound above holds; one hidden neuron of layer 1 gets a negative input and
** must stay silent (ReLU 0). */
static const float W1[3][4] = {{0.30f, 0.10f, 0.20f, 0.05f}, {0.05f, 0.40f, 0.10f, 0.20f}, {-0.5f, -0.2f, 0.1f, -0.3f}};
static const float B1[3] = {0.05f, -0.02f, 0.01f};
static const float W2[3][3] = {{0.70f, 0.20f, 0.30f}, {0.15f, 0.50f, 0.25f}, {0.35f, 0.35f, 0.10f}};
static const float B2[3] = {0.02f, 0.0f, 0.04f};
static const float W3[2][3] = {{1.0f, -1.0f, 0.5f}, {-0.5f, 1.0f, 0.25f}};
static const float B3[2] = {0.1f, -0.1f};
static const uint8_t PIX[4] = {51, 204, 128, 77};

static void set_params(nm_graph *g) {
    float *p = nm_graph_params(g);
    const nm_node *a1 = nm_graph_node(g, 1), *a2 = nm_graph_node(g, 3), *a3 = nm_graph_node(g, 5);
    assert_int_equal(a1->kind, NM_NODE_AFFINE);
    assert_int_equal(a3->kind, NM_NODE_AFFINE);
    memcpy(p + a1->w_off, W1, sizeof W1);
    memcpy(p + a1->b_off, B1, sizeof B1);
    memcpy(p + a2->w_off, W2, sizeof W2);
    memcpy(p + a2->b_off, B2, sizeof B2);
    memcpy(p + a3->w_off, W3, sizeof W3);
    memcpy(p + a3->b_off, B3, sizeof B3);
}

static void test_convert_rates(void **st) {
    (void)st;
    nm_graph *ann = ann_graph("4-3-3-2");
    set_params(ann);
    /* the ReLU activations by hand, in double */
    double x[4], a1[3], a2[3], z[2];
    for (int i = 0; i < 4; i++) x[i] = PIX[i] / 255.0;
    for (int o = 0; o < 3; o++) {
        double s = B1[o];
        for (int i = 0; i < 4; i++) s += W1[o][i] * x[i];
        a1[o] = s > 0 ? s : 0;
    }
    for (int o = 0; o < 3; o++) {
        double s = B2[o];
        for (int i = 0; i < 3; i++) s += W2[o][i] * a1[i];
        a2[o] = s > 0 ? s : 0;
    }
    for (int o = 0; o < 2; o++) {
        double s = B3[o];
        for (int i = 0; i < 3; i++) s += W3[o][i] * a2[i];
        z[o] = s;
    }
    assert_true(a1[2] == 0.0 && a1[0] > 0 && a1[1] > 0);
    /* the ANN forward gives them */
    nm_ann *a;
    assert_int_equal(nm_ann_create(ann, 1, &a), NM_OK);
    float xf[4];
    for (int i = 0; i < 4; i++) xf[i] = PIX[i] / 255.0f;
    assert_int_equal(nm_ann_forward(a, xf, 1), NM_OK);
    for (int o = 0; o < 3; o++) {
        assert_float_equal(nm_ann_output(a, 2)[o], a1[o], 1e-6);
        assert_float_equal(nm_ann_output(a, 4)[o], a2[o], 1e-6);
    }
    for (int o = 0; o < 2; o++) assert_float_equal(nm_ann_output(a, 6)[o], z[o], 1e-6);
    nm_ann_destroy(a);

    /* max normalization on this one image: lambda = the largest activation of each layer */
    nm_dataset *d = toy_new(1, 2, 2, 2);
    memcpy(d->images, PIX, 4);
    nm_convert_config cc;
    nm_convert_config_default(&cc);
    cc.norm = NM_NORM_MAX;
    nm_graph *snn;
    float lambda[8] = {0};
    assert_int_equal(nm_convert(ann, d, &cc, &snn, lambda), NM_OK);
    const double l1 = fmax(a1[0], a1[1]), l2 = fmax(a2[0], fmax(a2[1], a2[2]));
    assert_float_equal(lambda[2], l1, 1e-6);
    assert_float_equal(lambda[4], l2, 1e-6);
    assert_int_equal(nm_graph_node(snn, 2)->kind, NM_NODE_IF);
    assert_int_equal(nm_graph_node(snn, nm_graph_readout(snn))->kind, NM_NODE_LI);

    /* IF rates against a / lambda, T = 8 .. 512 */
    const float *P = nm_graph_params_const(snn);
    const nm_node *aff2 = nm_graph_node(snn, 3);
    double prev1 = 1e9, prev2 = 1e9;
    for (int T = 8; T <= 512; T *= 2) {
        nm_exec_config ec = {cc.dt, T, 1, NM_SPARSE_AUTO, 0};
        nm_exec *x2;
        assert_int_equal(nm_exec_create(snn, &ec, &x2), NM_OK);
        assert_int_equal(nm_exec_forward(x2, xf, 1, 1), NM_OK);
        double e1 = 0, e2 = 0;
        for (int o = 0; o < 3; o++) {
            double n1 = 0, n2 = 0;
            nm_view v1 = nm_exec_output(x2, 2), v2 = nm_exec_output(x2, 4);
            for (int t = 0; t < T; t++) {
                n1 += nm_view_at(&v1, t, 0, o);
                n2 += nm_view_at(&v2, t, 0, o);
            }
            double r1 = n1 / T, r2 = n2 / T;
            assert_true(fabs(r1 - a1[o] / l1) <= 1.0 / T + 1e-6);
            double wsum = 0;
            for (int k = 0; k < 3; k++) wsum += P[aff2->w_off + o * 3 + k];
            assert_true(fabs(r2 - a2[o] / l2) <= (1.0 + wsum) / T + 1e-6);
            e1 = fmax(e1, fabs(r1 - a1[o] / l1));
            e2 = fmax(e2, fabs(r2 - a2[o] / l2));
        }
        /* the neuron with a negative current stays silent */
        nm_view v1 = nm_exec_output(x2, 2);
        for (int t = 0; t < T; t++) assert_true(nm_view_at(&v1, t, 0, 2) == 0.0f);
        nm_view m = nm_exec_membrane(x2, nm_graph_readout(snn));
        /* the readout integrates: membrane / T approaches the logits */
        if (T == 512)
            for (int o = 0; o < 2; o++) assert_float_equal(m.data[(int64_t)(T - 1) * 2 + o] / T, z[o], 0.02);
        printf("T %3d: max |rate - a/lambda| layer 1 %.4f, layer 2 %.4f\n", T, e1, e2);
        if (T >= 64) assert_true(e1 <= prev1 + 1.0 / T && e2 <= prev2 + 2.0 / T);
        prev1 = e1;
        prev2 = e2;
        nm_exec_destroy(x2);
    }
    assert_true(prev1 < 0.01 && prev2 < 0.02);

    /* nm_convert_evaluate sees the same: class 0 or 1 by the logits, spikes counted */
    d->labels[0] = z[0] > z[1] ? 0 : 1;
    int steps[3] = {16, 64, 256};
    nm_convert_eval ev;
    assert_int_equal(nm_convert_evaluate(snn, d, steps, 3, 0, 4, &ev), NM_OK);
    assert_float_equal(ev.accuracy[2], 1.0, 0);
    /* spikes at 256 steps: within 2 of 256 (a1 + a2) / lambda summed over neurons */
    double want = 0, bound = 0;
    for (int o = 0; o < 3; o++) {
        want += 256 * (a1[o] / l1 + a2[o] / l2);
        bound += 2;
        for (int k = 0; k < 3; k++) bound += P[aff2->w_off + o * 3 + k];
    }
    assert_true(fabs(ev.spikes[2] - want) <= bound);
    int bad_steps[2] = {16, 8};
    assert_int_equal(nm_convert_evaluate(snn, d, bad_steps, 2, 0, 4, &ev), NM_RANGE);

    nm_graph_destroy(snn);
    nm_graph_destroy(ann);
    toy_free(d);
}

/* The percentile lies below the max, and is found to within a bin of the histogram. */
static void test_convert_percentile(void **st) {
    (void)st;
    nm_graph *ann = ann_graph("4-3-3-2");
    set_params(ann);
    /* 200 images with the first pixel ramping: layer-1 neuron 0 ramps too */
    nm_dataset *d = toy_new(200, 2, 2, 2);
    for (int k = 0; k < 200; k++) {
        d->images[4 * k] = (uint8_t)(k * 255 / 199);
        d->images[4 * k + 1] = 0;
        d->images[4 * k + 2] = 0;
        d->images[4 * k + 3] = 0;
    }
    nm_convert_config cc;
    nm_convert_config_default(&cc);
    float lmax[8], lp[8];
    nm_graph *s1, *s2;
    cc.norm = NM_NORM_MAX;
    assert_int_equal(nm_convert(ann, d, &cc, &s1, lmax), NM_OK);
    cc.norm = NM_NORM_PERCENTILE;
    cc.percentile = 50;
    assert_int_equal(nm_convert(ann, d, &cc, &s2, lp), NM_OK);
    /* the reference: the median of the positive layer-1 activations, sorted by hand; the
    ** histogram finds it to within a bin (0.35 / 4096) plus the spacing of the values there */
    double vals[600];
    int nv = 0;
    for (int k = 0; k < 200; k++) {
        double x0 = d->images[4 * k] / 255.0;
        for (int o = 0; o < 3; o++) {
            double a = W1[o][0] * x0 + B1[o];
            if (a > 0) vals[nv++] = a;
        }
    }
    for (int i = 1; i < nv; i++)
        for (int j = i; j > 0 && vals[j - 1] > vals[j]; j--) {
            double t = vals[j];
            vals[j] = vals[j - 1];
            vals[j - 1] = t;
        }
    const double ref = vals[(int)ceil(0.5 * nv) - 1];
    printf("lambda max %g, median %g (sorted: %g)\n", lmax[2], lp[2], ref);
    assert_float_equal(lmax[2], 0.35, 1e-5);
    assert_float_equal(lp[2], ref, 0.35 / 4096 + 2e-3);
    cc.percentile = 0;
    assert_int_equal(nm_convert(ann, d, &cc, &s1, lp), NM_RANGE);
    nm_graph_destroy(s1);
    nm_graph_destroy(s2);
    nm_graph_destroy(ann);
    toy_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ann_gradient_mlp),   cmocka_unit_test(test_ann_gradient_cnn),
        cmocka_unit_test(test_ann_rejects_recurrent), cmocka_unit_test(test_convert_rates),
        cmocka_unit_test(test_convert_percentile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
