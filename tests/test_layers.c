/*
** The engine's layers end to end: BPTT through every node kind against central finite
** differences (smooth spikes make the loss differentiable, so the surrogate gradient is
** the exact gradient), the gather path against the dense path, recurrent and delay
** semantics against direct computation, shape errors that name the node, and model files
** that round-trip every kind.
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

#ifndef NM_TEST_TMP_DIR
#define NM_TEST_TMP_DIR "/tmp"
#endif

#define ASSERT_MSG(sub) \
    do { if (!strstr(nm_errmsg(), sub)) fail_msg("message '%s' lacks '%s'", nm_errmsg(), sub); } while (0)

typedef struct fd_case {
    nm_graph   *g;
    nm_exec    *x;
    nm_bptt    *bp;
    const float *in;
    int         rows, B;
    nm_readout  mode;
    nm_loss_kind loss;
    float       rate_reg;
    int        *labels;
    float      *g_out;
} fd_case;

static double loss_of(fd_case *c) {
    assert_int_equal(nm_exec_forward(c->x, c->in, c->rows, c->B), NM_OK);
    double l = c->loss == NM_LOSS_MSE ? nm_loss_mse_count(c->x, c->labels, 0.8f, 0.2f, c->g_out, NULL)
                                      : nm_loss_ce(c->x, c->mode, c->labels, c->g_out, NULL);
    return l / c->B;
}

/* Checks dL/dp for every parameter of g (with the rate regularizer's loss when on). */
static void check_fd(nm_graph *g, int T, int rows, nm_readout mode, nm_loss_kind loss, float rate_reg, const char *what) {
    const int B = 3;
    const int64_t n_in = nm_graph_input_size(g), C = nm_graph_output_size(g);
    nm_exec_config ec = {1e-3f, T, B, NM_SPARSE_AUTO, 0};
    fd_case c = {0};
    c.g = g;
    c.rows = rows;
    c.B = B;
    c.mode = mode;
    c.loss = loss;
    assert_int_equal(nm_exec_create(g, &ec, &c.x), NM_OK);
    assert_int_equal(nm_bptt_create(c.x, &c.bp), NM_OK);
    nm_bptt_set_rate_reg(c.bp, rate_reg);
    nm_surrogate s = {NM_SURR_FAST_SIGMOID, 3.0f, 1};
    assert_int_equal(nm_exec_set_surrogate(c.x, &s), NM_OK);
    float *in = malloc(sizeof(float) * rows * B * n_in);
    for (int64_t k = 0; k < rows * B * n_in; k++) in[k] = 0.6f + 0.5f * (float)sin(1.7 * (double)k + 0.3);
    c.in = in;
    int labels[3] = {2, 0, 1};
    for (int b = 0; b < B; b++) labels[b] %= (int)C;
    c.labels = labels;
    c.g_out = malloc(sizeof(float) * T * B * C);
    const int64_t np = nm_graph_n_params(g);
    float *grads = malloc(sizeof(float) * np), *p = nm_graph_params(g);

    loss_of(&c);
    double reg = nm_bptt_backward(c.bp, c.g_out, 0, grads);
    (void)reg;
    int checked = 0;
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        int64_t lo[3] = {-1, -1, -1}, len[3] = {0, 0, 0};
        if (nd->w_off >= 0) {
            lo[0] = nd->w_off;
            len[0] = nd->kind == NM_NODE_CONV ? nm_conv_weight_count(&nd->conv)
                   : nd->kind == NM_NODE_SCALE ? nd->n_out : nd->n_in * nd->n_out;
        }
        if (nd->b_off >= 0) { lo[1] = nd->b_off; len[1] = nd->kind == NM_NODE_CONV ? nd->conv.c_out : nd->n_out; }
        if (nd->p_off >= 0) { lo[2] = nd->p_off; len[2] = nm_pad16(nd->n_out) + nd->n_out; }
        for (int part = 0; part < 3; part++)
            for (int64_t k = 0; k < len[part]; k++) {
                if (part == 2 && k >= nd->n_out && k < nm_pad16(nd->n_out)) continue;   /* padding */
                const int tau = part == 2 && k < nd->n_out;
                int64_t i = lo[part] + k;
                float keep = p[i];
                const float h = tau ? 1e-4f : 2e-3f;
                /* the regularizer's loss counts hard spikes; compare the network loss only */
                p[i] = keep + h;
                double lp = loss_of(&c);
                p[i] = keep - h;
                double lm = loss_of(&c);
                p[i] = keep;
                double fd = (lp - lm) / (2 * h);
                double tol = tau ? 2e-3 + 3e-2 * fabs(fd) : 3e-4 + 2e-2 * fabs(fd);
                if (fabs(grads[i] - fd) > tol)
                    fail_msg("%s: dL/d%s[%s %lld] = %.6g, finite difference %.6g", what, nd->name,
                             part == 0 ? "w" : part == 1 ? "b" : "neuron", (long long)k, grads[i], fd);
                checked++;
            }
    }
    assert_true(checked > 0);
    free(in);
    free(c.g_out);
    free(grads);
    nm_bptt_destroy(c.bp);
    nm_exec_destroy(c.x);
}

static nm_graph *spec_graph(const char *spec, nm_node_kind neuron, nm_node_kind readout, int learn) {
    nm_spec_options o;
    nm_spec_options_default(&o);
    o.neuron = neuron;
    o.readout = readout;
    o.learn_neuron = learn;
    /* fast dynamics so 8 steps of 1 ms see real leak and spikes */
    o.lif.tau = 0.011f; o.lif.r = 4.0f;
    o.li.tau = 0.017f; o.li.r = 3.0f;
    o.cuba.tau_syn = 0.004f; o.cuba.tau_mem = 0.011f; o.cuba.r = 4.0f;
    o.alif.tau_mem = 0.011f; o.alif.r = 4.0f; o.alif.tau_adapt = 0.02f; o.alif.beta_a = 0.3f;
    o.ifp.r = 300.0f;
    nm_graph *g = NULL;
    if (nm_graph_from_spec_ex(spec, &o, &g)) fail_msg("%s: %s", spec, nm_errmsg());
    nm_graph_init_params(g, 11, 2.0f);
    return g;
}

static void test_fd_conv_pool(void **st) {
    (void)st;
    nm_graph *g = spec_graph("2x7x7-3c3p1-sp2-4c2-ap2-3", NM_NODE_LIF, NM_NODE_LI, 0);
    check_fd(g, 6, 1, NM_READOUT_MEAN, NM_LOSS_CE, 0, "conv2d + pools, constant input");
    nm_graph_destroy(g);
    g = spec_graph("1x8x8-3c3ap2-4c2sp2-3", NM_NODE_LIF, NM_NODE_LI, 0);
    check_fd(g, 6, 1, NM_READOUT_MEAN, NM_LOSS_CE, 0, "conv2d with pools before the populations");
    check_fd(g, 6, 6, NM_READOUT_MEAN, NM_LOSS_CE, 0, "conv2d + pools, input per step");
    nm_graph_destroy(g);
    g = spec_graph("2x9-3c3s2p1d1-4c2g1-3", NM_NODE_LIF, NM_NODE_LI, 0);
    check_fd(g, 6, 6, NM_READOUT_MEAN, NM_LOSS_CE, 0, "conv1d");
    nm_graph_destroy(g);
    g = spec_graph("4x5x5-4c3d2g2-2c1-3", NM_NODE_LIF, NM_NODE_LI, 0);
    check_fd(g, 5, 1, NM_READOUT_MEAN, NM_LOSS_CE, 0, "grouped dilated conv");
    nm_graph_destroy(g);
}

static void test_fd_recurrent(void **st) {
    (void)st;
    nm_graph *g = spec_graph("6-5r-3", NM_NODE_LIF, NM_NODE_LI, 0);
    assert_int_equal(nm_graph_node(g, nm_graph_find(g, "rec1"))->flags & NM_NODE_RECURRENT, NM_NODE_RECURRENT);
    check_fd(g, 8, 1, NM_READOUT_MEAN, NM_LOSS_CE, 0, "recurrent LIF, constant input");
    check_fd(g, 8, 8, NM_READOUT_MEAN, NM_LOSS_CE, 0, "recurrent LIF, input per step");
    nm_graph_destroy(g);
}

static void test_fd_neuron_kinds(void **st) {
    (void)st;
    struct { nm_node_kind neuron, readout; const char *what; } k[] = {
        {NM_NODE_CUBALIF, NM_NODE_CUBALI, "CubaLIF + CubaLI"},
        {NM_NODE_ALIF, NM_NODE_LI, "ALIF"},
        {NM_NODE_IF, NM_NODE_LI, "IF"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        nm_graph *g = spec_graph("6-5-4-3", k[i].neuron, k[i].readout, 0);
        check_fd(g, 8, 1, NM_READOUT_MEAN, NM_LOSS_CE, 0, k[i].what);
        check_fd(g, 8, 8, NM_READOUT_MEAN, NM_LOSS_CE, 0, k[i].what);
        nm_graph_destroy(g);
    }
}

static void test_fd_learnable_neurons(void **st) {
    (void)st;
    nm_graph *g = spec_graph("6-5-3", NM_NODE_LIF, NM_NODE_LI, 1);
    const nm_node *lif = nm_graph_node(g, nm_graph_find(g, "lif1"));
    assert_true(lif->p_off >= nm_graph_n_decay_params(g));   /* tau and thresholds are not decayed */
    assert_float_equal(nm_graph_params(g)[lif->p_off], 0.011f, 0);
    check_fd(g, 8, 8, NM_READOUT_MEAN, NM_LOSS_CE, 0, "learnable tau and threshold");
    nm_graph_destroy(g);
}

static void test_fd_count_losses(void **st) {
    (void)st;
    nm_graph *g = spec_graph("6-5-3", NM_NODE_LIF, NM_NODE_LIF, 0);
    assert_int_equal(nm_loss_check(g, NM_READOUT_MEAN, NM_LOSS_CE), NM_INVAL);
    ASSERT_MSG("count readout");
    assert_int_equal(nm_loss_check(g, NM_READOUT_COUNT, NM_LOSS_MSE), NM_OK);
    check_fd(g, 8, 8, NM_READOUT_COUNT, NM_LOSS_CE, 0, "cross-entropy on spike counts");
    check_fd(g, 8, 8, NM_READOUT_COUNT, NM_LOSS_MSE, 0, "MSE on spike counts");
    nm_graph_destroy(g);
    g = spec_graph("6-5-3", NM_NODE_LIF, NM_NODE_LI, 0);
    assert_int_equal(nm_loss_check(g, NM_READOUT_COUNT, NM_LOSS_CE), NM_INVAL);
    assert_int_equal(nm_loss_check(g, NM_READOUT_MEAN, NM_LOSS_MSE), NM_INVAL);
    check_fd(g, 8, 1, NM_READOUT_MAX, NM_LOSS_CE, 0, "max membrane");
    nm_graph_destroy(g);
}

/* Input -> Affine -> Delay -> Scale -> LIF -> Affine -> LI, by hand. */
static nm_graph *delay_graph(void) {
    nm_graph *g;
    int in, fc, dl, sc, lif, fc2, li, out;
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    lp.tau = 0.011f; lp.r = 4.0f;
    const int delays[5] = {0, 1, 2, 0, 3};
    assert_int_equal(nm_graph_create(&g), NM_OK);
    assert_int_equal(nm_graph_add_input(g, "in", 6, &in), NM_OK);
    assert_int_equal(nm_graph_add_affine(g, "fc", 6, 5, &fc), NM_OK);
    assert_int_equal(nm_graph_add_delay(g, "delay", 5, delays, &dl), NM_OK);
    assert_int_equal(nm_graph_add_scale(g, "scale", 5, &sc), NM_OK);
    assert_int_equal(nm_graph_add_lif(g, "lif", 5, &lp, &lif), NM_OK);
    assert_int_equal(nm_graph_add_linear(g, "fc2", 5, 3, &fc2), NM_OK);
    assert_int_equal(nm_graph_add_li(g, "li", 3, &lo, &li), NM_OK);
    assert_int_equal(nm_graph_add_output(g, "out", &out), NM_OK);
    int chain[] = {in, fc, dl, sc, lif, fc2, li, out};
    for (int i = 0; i + 1 < 8; i++) assert_int_equal(nm_graph_connect(g, chain[i], chain[i + 1]), NM_OK);
    assert_int_equal(nm_graph_compile(g), NM_OK);
    nm_graph_init_params(g, 5, 2.0f);
    float *s = nm_graph_params(g) + nm_graph_node(g, nm_graph_find(g, "scale"))->w_off;
    for (int i = 0; i < 5; i++) s[i] = 0.5f + 0.3f * (float)i;   /* not all 1, so ds is tested */
    return g;
}

static void test_fd_delay_scale(void **st) {
    (void)st;
    nm_graph *g = delay_graph();
    check_fd(g, 8, 1, NM_READOUT_MEAN, NM_LOSS_CE, 0, "delay + scale, constant input");
    check_fd(g, 8, 8, NM_READOUT_MEAN, NM_LOSS_CE, 0, "delay + scale, input per step");
    nm_graph_destroy(g);
}

/* Delay: y[t] = x[t - d]; checked against the Affine's own output. */
static void test_delay_semantics(void **st) {
    (void)st;
    nm_graph *g = delay_graph();
    const int T = 6, B = 2;
    nm_exec_config ec = {1e-3f, T, B, NM_SPARSE_AUTO, 0};
    nm_exec *x;
    assert_int_equal(nm_exec_create(g, &ec, &x), NM_OK);
    float in[6 * 2 * 6];
    for (int k = 0; k < T * B * 6; k++) in[k] = (float)((k * 7) % 11) / 5.0f;
    assert_int_equal(nm_exec_forward(x, in, T, B), NM_OK);
    nm_view a = nm_exec_output(x, nm_graph_find(g, "fc")), d = nm_exec_output(x, nm_graph_find(g, "delay"));
    const int delays[5] = {0, 1, 2, 0, 3};
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < 5; i++) {
                float want = t >= delays[i] ? nm_view_at(&a, t - delays[i], b, i) : 0.0f;
                assert_float_equal(nm_view_at(&d, t, b, i), want, 0);
            }
    nm_exec_destroy(x);
    nm_graph_destroy(g);
}

/* A recurrent population against a direct step-by-step computation. */
static void test_recurrent_semantics(void **st) {
    (void)st;
    nm_graph *g = spec_graph("4-3r-2", NM_NODE_LIF, NM_NODE_LI, 0);
    const int T = 10, B = 1;
    nm_exec_config ec = {1e-3f, T, B, NM_SPARSE_NEVER, 0};
    nm_exec *x;
    assert_int_equal(nm_exec_create(g, &ec, &x), NM_OK);
    float in[4] = {1.0f, 0.5f, -0.3f, 0.8f};
    assert_int_equal(nm_exec_forward(x, in, 1, B), NM_OK);
    const nm_node *fc = nm_graph_node(g, nm_graph_find(g, "fc1")), *rec = nm_graph_node(g, nm_graph_find(g, "rec1"));
    const int lif = nm_graph_find(g, "lif1");
    const float *p = nm_graph_params(g);
    const nm_lif_step *c = nm_exec_consts(x, lif);
    nm_view spk = nm_exec_output(x, lif), mem = nm_exec_membrane(x, lif);
    float v[3] = {0, 0, 0}, s_prev[3] = {0, 0, 0};
    int spikes = 0;
    for (int t = 0; t < T; t++) {
        float s_now[3];
        for (int i = 0; i < 3; i++) {
            float I = p[fc->b_off + i] + p[rec->b_off + i];
            for (int k = 0; k < 4; k++) I += p[fc->w_off + i * 4 + k] * in[k];
            for (int k = 0; k < 3; k++) I += p[rec->w_off + i * 3 + k] * s_prev[k];
            float u = c->v_leak + c->alpha * (v[i] - c->v_leak) + c->beta * I;
            assert_float_equal(nm_view_at(&mem, t, 0, i), u, 1e-5f * (1.0f + fabsf(u)));
            s_now[i] = u > c->v_th ? 1.0f : 0.0f;
            assert_float_equal(nm_view_at(&spk, t, 0, i), s_now[i], 0);
            spikes += (int)s_now[i];
            v[i] = u - s_now[i] * (c->v_th - c->v_reset);
        }
        memcpy(s_prev, s_now, sizeof s_now);
    }
    assert_true(spikes > 0);   /* the check covered the feedback */
    nm_exec_destroy(x);
    nm_graph_destroy(g);
}

/* The gather path against the dense sgemm on the same binary inputs: the same values up
** to float summation order (sgemm adds in blocks with FMA, the gather row by row), so
** within 1e-5 of the sum of the terms' magnitudes; and the same weight gradients. */
static void test_sparse_matches_dense(void **st) {
    (void)st;
    nm_graph *g = spec_graph("200-150-10", NM_NODE_LIF, NM_NODE_LI, 0);
    const int T = 12, B = 16;
    const int64_t n_in = 200;
    float *in = malloc(sizeof(float) * T * B * n_in);
    nm_rng r;
    nm_rng_init(&r, 3, 0);
    for (int64_t k = 0; k < T * B * n_in; k++) in[k] = nm_rng_uniform(&r) < 0.15f ? 1.0f : 0.0f;
    nm_exec *xd, *xs;
    nm_bptt *bd, *bs;
    nm_exec_config cd = {1e-3f, T, B, NM_SPARSE_NEVER, 0}, cs = {1e-3f, T, B, NM_SPARSE_ALWAYS, 0};
    assert_int_equal(nm_exec_create(g, &cd, &xd), NM_OK);
    assert_int_equal(nm_exec_create(g, &cs, &xs), NM_OK);
    assert_int_equal(nm_bptt_create(xd, &bd), NM_OK);
    assert_int_equal(nm_bptt_create(xs, &bs), NM_OK);
    assert_int_equal(nm_exec_forward(xd, in, T, B), NM_OK);
    assert_int_equal(nm_exec_forward(xs, in, T, B), NM_OK);
    const int fc1 = nm_graph_find(g, "fc1"), fc2 = nm_graph_find(g, "fc2"), lif = nm_graph_find(g, "lif1");
    assert_int_equal(nm_exec_used_sparse(xd, fc1), 0);
    assert_int_equal(nm_exec_used_sparse(xs, fc1), 1);
    assert_int_equal(nm_exec_used_sparse(xs, fc2), 1);
    assert_float_equal(nm_exec_input_density(xs, fc1), 0.15, 0.02);
    const float *W = nm_graph_params(g) + nm_graph_node(g, fc1)->w_off;
    nm_view yd = nm_exec_output(xd, fc1), ys = nm_exec_output(xs, fc1);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < 150; i++) {
                double mag = fabs(nm_graph_params(g)[nm_graph_node(g, fc1)->b_off + i]);
                for (int64_t k = 0; k < n_in; k++) mag += in[((int64_t)t * B + b) * n_in + k] * fabs(W[i * n_in + k]);
                assert_float_equal(nm_view_at(&ys, t, b, i), nm_view_at(&yd, t, b, i), 1e-5 * mag + 1e-7);
            }
    /* the hidden spikes agree (no value sits within rounding of the threshold here) */
    nm_view sd = nm_exec_output(xd, lif), ss = nm_exec_output(xs, lif);
    assert_non_null(sd.bits);
    assert_null(sd.data);
    assert_memory_equal(sd.bits, ss.bits, sizeof(uint64_t) * T * B * nm_bits_words(150));
    float *gd = malloc(sizeof(float) * T * B * 10), *gs = malloc(sizeof(float) * T * B * 10);
    int labels[16];
    for (int b = 0; b < B; b++) labels[b] = b % 10;
    nm_loss_ce(xd, NM_READOUT_MEAN, labels, gd, NULL);
    nm_loss_ce(xs, NM_READOUT_MEAN, labels, gs, NULL);
    const int64_t np = nm_graph_n_params(g);
    float *dd = malloc(sizeof(float) * np), *ds = malloc(sizeof(float) * np);
    nm_bptt_backward(bd, gd, 1, dd);
    nm_bptt_backward(bs, gs, 1, ds);
    double scale = 0;
    for (int64_t i = 0; i < np; i++) scale = fmax(scale, fabs(dd[i]));
    for (int64_t i = 0; i < np; i++) assert_float_equal(ds[i], dd[i], 1e-4 * scale);
    /* auto picks by density */
    nm_exec *xa;
    nm_exec_config ca = {1e-3f, T, B, NM_SPARSE_AUTO, 0.1f};
    assert_int_equal(nm_exec_create(g, &ca, &xa), NM_OK);
    assert_int_equal(nm_exec_forward(xa, in, T, B), NM_OK);
    assert_int_equal(nm_exec_used_sparse(xa, fc1), 0);   /* 15% > 10% */
    for (int64_t k = 0; k < T * B * n_in; k++) in[k] = nm_rng_uniform(&r) < 0.05f ? 1.0f : 0.0f;
    assert_int_equal(nm_exec_forward(xa, in, T, B), NM_OK);
    assert_int_equal(nm_exec_used_sparse(xa, fc1), 1);
    in[0] = 0.5f;   /* not binary: always dense */
    assert_int_equal(nm_exec_forward(xa, in, T, B), NM_OK);
    assert_int_equal(nm_exec_used_sparse(xa, fc1), 0);
    nm_exec_memory mem;
    nm_exec_memory_usage(xa, &mem);
    /* bits take a 32nd of floats, up to the padding of each row to whole words */
    assert_true(mem.spike_bits > 0 && mem.spike_bits * 16 <= mem.spikes_as_floats);
    free(dd); free(ds); free(gd); free(gs); free(in);
    nm_exec_destroy(xa);
    nm_bptt_destroy(bd); nm_bptt_destroy(bs);
    nm_exec_destroy(xd); nm_exec_destroy(xs);
    nm_graph_destroy(g);
}

static void test_shape_errors_name_nodes(void **st) {
    (void)st;
    nm_graph *g;
    int in, cv, lif, out;
    nm_lif_params lp;
    nm_lif_params_default(&lp);
    assert_int_equal(nm_graph_create(&g), NM_OK);
    assert_int_equal(nm_graph_add_input_shaped(g, "img", 1, 28, 28, &in), NM_OK);
    assert_int_equal(nm_graph_add_conv2d(g, "conv", 3, 8, 5, 5, 1, 1, 0, 0, 1, 1, 1, &cv), NM_OK);
    assert_int_equal(nm_graph_add_lif(g, "lif", 8 * 24 * 24, &lp, &lif), NM_OK);
    assert_int_equal(nm_graph_add_output(g, "out", &out), NM_OK);
    nm_graph_connect(g, in, cv);
    nm_graph_connect(g, cv, lif);
    nm_graph_connect(g, lif, out);
    assert_int_equal(nm_graph_compile(g), NM_SHAPE);
    ASSERT_MSG("node 'conv' (Conv) expects 3 input channels but 'img' (Input) gives 1x28x28");
    nm_graph_destroy(g);

    assert_int_equal(nm_graph_create(&g), NM_OK);
    int fc;
    assert_int_equal(nm_graph_add_input_shaped(g, "img", 1, 28, 28, &in), NM_OK);
    assert_int_equal(nm_graph_add_conv2d(g, "conv", 1, 8, 5, 5, 1, 1, 0, 0, 1, 1, 1, &cv), NM_OK);
    assert_int_equal(nm_graph_add_lif(g, "lif", 100, &lp, &lif), NM_OK);
    assert_int_equal(nm_graph_add_affine(g, "fc", 100, 10, &fc), NM_OK);
    assert_int_equal(nm_graph_add_output(g, "out", &out), NM_OK);
    nm_graph_connect(g, in, cv);
    nm_graph_connect(g, cv, lif);
    nm_graph_connect(g, lif, fc);
    nm_graph_connect(g, fc, out);
    assert_int_equal(nm_graph_compile(g), NM_SHAPE);
    ASSERT_MSG("node 'lif' (LIF) expects 100 inputs but 'conv' (Conv) gives 8x24x24");
    nm_graph_destroy(g);

    assert_int_equal(nm_graph_create(&g), NM_OK);
    assert_int_equal(nm_graph_add_conv2d(g, "c", 4, 6, 3, 3, 1, 1, 0, 0, 1, 1, 3, NULL), NM_SHAPE);
    ASSERT_MSG("node 'c' (Conv)");
    ASSERT_MSG("divisible");
    const int bad[2] = {1, -2};
    assert_int_equal(nm_graph_add_delay(g, "d", 2, bad, NULL), NM_RANGE);
    ASSERT_MSG("delay of neuron 1 is -2 steps");
    nm_graph_destroy(g);
}

/* Every kind through a model file: same spec, same parameters, same outputs. */
static void test_model_file_round_trip(void **st) {
    (void)st;
    const char *path = NM_TEST_TMP_DIR "/nm_test_layers.nmm";
    nm_graph *gs[3] = {spec_graph("2x7x7-3c3p1-sp2-4c2s1-ap2-5r-3", NM_NODE_LIF, NM_NODE_LI, 0),
                       spec_graph("6-5-3", NM_NODE_CUBALIF, NM_NODE_CUBALI, 0), delay_graph()};
    for (int k = 0; k < 3; k++) {
        nm_graph *g = gs[k], *h;
        assert_int_equal(nm_graph_save(g, path), NM_OK);
        assert_int_equal(nm_graph_load(path, &h), NM_OK);
        char a[128], b[128];
        nm_graph_spec(g, a, sizeof a);
        nm_graph_spec(h, b, sizeof b);
        assert_string_equal(a, b);
        assert_int_equal(nm_graph_n_params(g), nm_graph_n_params(h));
        assert_memory_equal(nm_graph_params(g), nm_graph_params(h), sizeof(float) * nm_graph_n_params(g));
        const int T = 5, B = 2;
        nm_exec_config ec = {1e-3f, T, B, NM_SPARSE_AUTO, 0};
        nm_exec *x1, *x2;
        assert_int_equal(nm_exec_create(g, &ec, &x1), NM_OK);
        assert_int_equal(nm_exec_create(h, &ec, &x2), NM_OK);
        const int64_t n = nm_graph_input_size(g);
        float *in = malloc(sizeof(float) * B * n);
        for (int64_t i = 0; i < B * n; i++) in[i] = (float)(i % 5) * 0.4f;
        assert_int_equal(nm_exec_forward(x1, in, 1, B), NM_OK);
        assert_int_equal(nm_exec_forward(x2, in, 1, B), NM_OK);
        nm_view m1 = nm_exec_membrane(x1, nm_graph_readout(g)), m2 = nm_exec_membrane(x2, nm_graph_readout(h));
        assert_memory_equal(m1.data, m2.data, sizeof(float) * T * B * m1.n);
        free(in);
        nm_exec_destroy(x1);
        nm_exec_destroy(x2);
        nm_graph_destroy(h);
        nm_graph_destroy(g);
    }
    char spec[64];
    nm_graph *g = spec_graph("1x28x28-16c5-ap2-32c3p1s2-sp2-100-10", NM_NODE_LIF, NM_NODE_LI, 0);
    nm_graph_spec(g, spec, sizeof spec);
    assert_string_equal(spec, "1x28x28-16c5-ap2-32c3s2p1-sp2-100-10");
    nm_graph_destroy(g);
    g = spec_graph("1x28x28-16c5ap2-32c5sp2-10", NM_NODE_LIF, NM_NODE_LI, 0);
    nm_graph_spec(g, spec, sizeof spec);
    assert_string_equal(spec, "1x28x28-16c5ap2-32c5sp2-10");
    assert_int_equal(nm_graph_node(g, nm_graph_find(g, "lif1"))->n_out, 16 * 12 * 12);
    assert_int_equal(nm_graph_node(g, nm_graph_find(g, "lif2"))->n_out, 32 * 4 * 4);
    nm_graph_destroy(g);
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_conv_pool),
        cmocka_unit_test(test_fd_recurrent),
        cmocka_unit_test(test_fd_neuron_kinds),
        cmocka_unit_test(test_fd_learnable_neurons),
        cmocka_unit_test(test_fd_count_losses),
        cmocka_unit_test(test_fd_delay_scale),
        cmocka_unit_test(test_delay_semantics),
        cmocka_unit_test(test_recurrent_semantics),
        cmocka_unit_test(test_sparse_matches_dense),
        cmocka_unit_test(test_shape_errors_name_nodes),
        cmocka_unit_test(test_model_file_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
