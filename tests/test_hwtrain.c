/*
** Hardware-aware training: the chip-in-the-loop gradient against the ideal one, noise
** injection at sigma 0 against plain training, frozen layers, an updater that writes
** exactly against the optimizer, device noise against the device's programming statistics,
** and a chip that re-programs only the layers that changed.
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

/* Four classes, each lighting its quarter of a 12 x 12 image, plus noise. */
static nm_dataset *quarters(int64_t n, uint64_t seed) {
    nm_dataset *d = calloc(1, sizeof *d);
    d->n = n;
    d->rows = d->cols = 12;
    d->n_classes = 4;
    d->images = malloc((size_t)n * 144);
    d->labels = malloc((size_t)n);
    nm_rng r;
    nm_rng_init(&r, seed, 0);
    for (int64_t i = 0; i < n; i++) {
        const int y = (int)nm_rng_below(&r, 4);
        d->labels[i] = (uint8_t)y;
        for (int k = 0; k < 144; k++)
            d->images[i * 144 + k] = (uint8_t)((k / 36) == y ? 100 + nm_rng_below(&r, 156) : nm_rng_below(&r, 110));
    }
    return d;
}

static void free_set(nm_dataset *d) {
    free(d->images);
    free(d->labels);
    free(d);
}

static nm_graph *net(const char *spec, uint64_t seed) {
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    nm_graph *g;
    assert_int_equal(nm_graph_from_spec(spec, &lp, &lo, &g), NM_OK);
    nm_graph_init_params(g, seed, 1.0f);
    return g;
}

static void config(nm_train_config *c) {
    nm_train_config_default(c);
    c->epochs = 2;
    c->batch = 16;
    c->eval_batch = 50;
    c->n_steps = 8;
    c->quiet = 1;
    c->seed = 5;
    c->checkpoint_every = 0;
}

/* An analog chip with ideal devices and converters: its products are the software's up to
** float rounding (the weights go through w / max|W| and back). */
static void ideal_analog(nm_chip_profile *p) {
    memset(p, 0, sizeof *p);
    strcpy(p->name, "ideal-analog");
    p->analog = 1;
    nm_device_params_default(NM_DEV_IDEAL, &p->device);
    nm_xbar_config_default(&p->xbar);
}

/* Gradients of one batch, with the forward pass on `hooks` (NULL: the ideal model). */
static float *batch_grads(nm_graph *g, const nm_exec_hooks *hooks, int rows) {
    const int T = 8, B = 6;
    const int64_t n_in = nm_graph_input_size(g), n_out = nm_graph_output_size(g);
    nm_exec_config ec = {1e-3f, T, B, NM_SPARSE_AUTO, 0};
    nm_exec *x;
    nm_bptt *bp;
    assert_int_equal(nm_exec_create(g, &ec, &x), NM_OK);
    assert_int_equal(nm_bptt_create(x, &bp), NM_OK);
    nm_exec_set_hooks(x, hooks);
    float *in = malloc(sizeof(float) * rows * B * n_in), *gm = malloc(sizeof(float) * T * B * n_out);
    float *grads = malloc(sizeof(float) * nm_graph_n_params(g));
    int labels[6];
    nm_rng r;
    nm_rng_init(&r, 99, 0);
    for (int64_t i = 0; i < rows * B * n_in; i++) in[i] = nm_rng_uniform(&r);
    for (int b = 0; b < B; b++) labels[b] = b % (int)n_out;
    assert_int_equal(nm_exec_forward(x, in, rows, B), NM_OK);
    nm_loss_ce(x, NM_READOUT_MEAN, labels, gm, NULL);
    nm_bptt_backward(bp, gm, 1, grads);
    free(in);
    free(gm);
    nm_bptt_destroy(bp);
    nm_exec_destroy(x);
    return grads;
}

/* With an ideal chip sample the chip-in-the-loop gradient is the ideal gradient: bit for
** bit on the digital ideal profile (the chip declines every product), and within float
** rounding on an analog chip of ideal devices, for a constant input (one row, which the
** chip does not repeat: its reads are noiseless) and a time-varying one. */
static void test_in_loop_gradient_ideal_chip(void **st) {
    (void)st;
    nm_graph *g = net("20-16-4", 3);
    const int64_t np = nm_graph_n_params(g);
    nm_chip_profile digital, analog;
    assert_int_equal(nm_chip_profile_load("ideal", &digital), NM_OK);
    ideal_analog(&analog);
    for (int rows = 1; rows <= 8; rows += 7) {
        float *ref = batch_grads(g, NULL, rows);
        double ref_norm = 0;
        for (int64_t i = 0; i < np; i++) ref_norm = fmax(ref_norm, fabs(ref[i]));
        assert_true(ref_norm > 1e-4);   /* a real gradient, not zeros */
        for (int k = 0; k < 2; k++) {
            nm_chip *c;
            nm_exec_hooks h;
            assert_int_equal(nm_chip_realize(g, k ? &analog : &digital, 7, &c), NM_OK);
            nm_chip_hooks(c, &h);
            float *got = batch_grads(g, &h, rows);
            double worst = 0;
            for (int64_t i = 0; i < np; i++) worst = fmax(worst, fabs(got[i] - ref[i]));
            if (k == 0) assert_memory_equal(got, ref, sizeof(float) * np);
            else if (worst > 1e-5 * ref_norm) fail_msg("analog ideal chip, %d rows: gradient off by %g (max %g)", rows, worst, ref_norm);
            free(got);
            nm_chip_destroy(c);
        }
        free(ref);
    }
    nm_graph_destroy(g);
}

/* A chip whose reads are noisy repeats a constant input at every step: the backward must
** fold the repeated rows back onto the one input row. With noise this small the gradient
** stays close to the ideal one; without the fold the weight gradient would be about 1/T of it. */
static void test_in_loop_gradient_repeated_reads(void **st) {
    (void)st;
    nm_graph *g = net("20-16-4", 3);
    const int64_t np = nm_graph_n_params(g);
    nm_chip_profile p;
    ideal_analog(&p);
    p.xbar.adc_noise = 1e-6f;   /* noisy reads: every step its own read */
    float *ref = batch_grads(g, NULL, 1);
    nm_chip *c;
    nm_exec_hooks h;
    assert_int_equal(nm_chip_realize(g, &p, 7, &c), NM_OK);
    nm_chip_hooks(c, &h);
    float *got = batch_grads(g, &h, 1);
    double num = 0, den = 0;
    for (int64_t i = 0; i < np; i++) num += pow(got[i] - ref[i], 2), den += pow(ref[i], 2);
    if (sqrt(num / den) > 1e-3) fail_msg("relative gradient error %g with repeated reads", sqrt(num / den));
    free(ref);
    free(got);
    nm_chip_destroy(c);
    nm_graph_destroy(g);
}

static float *train_with(const nm_train_config *c, nm_dataset *d, const char *spec) {
    nm_graph *g = net(spec, 3);
    nm_train_result *res = calloc(1, sizeof *res);
    assert_int_equal(nm_train(g, d, d, c, res), NM_OK);
    float *p = malloc(sizeof(float) * nm_graph_n_params(g));
    memcpy(p, nm_graph_params(g), sizeof(float) * nm_graph_n_params(g));
    free(res);
    nm_graph_destroy(g);
    return p;
}

/* Noise injection with sigma 0 runs the perturb-and-restore path and must leave training
** bit-identical; sigma > 0 must change it, the same way for the same seed. */
static void test_noise_sigma_zero_is_plain(void **st) {
    (void)st;
    nm_dataset *d = quarters(96, 1);
    nm_graph *g = net("144-24-4", 3);
    const size_t bytes = sizeof(float) * nm_graph_n_params(g);
    nm_graph_destroy(g);
    nm_train_config c;
    config(&c);
    float *plain = train_with(&c, d, "144-24-4");
    c.noise.kind = NM_WNOISE_RELATIVE;
    float *zero = train_with(&c, d, "144-24-4");
    assert_memory_equal(plain, zero, bytes);
    c.noise.sigma = 0.05f;
    float *n1 = train_with(&c, d, "144-24-4"), *n2 = train_with(&c, d, "144-24-4");
    assert_memory_equal(n1, n2, bytes);
    assert_memory_not_equal(n1, plain, bytes);
    free(plain), free(zero), free(n1), free(n2);
    free_set(d);
}

/* An updater that writes params += delta is the optimizer's own write. */
static nm_status exact_apply(void *ctx, float *params, const float *delta, int64_t n, int64_t seen) {
    int64_t *calls = ctx;
    (void)seen;
    for (int64_t i = 0; i < n; i++) params[i] += delta[i];
    (*calls)++;
    return NM_OK;
}

static void test_updater_exact_write(void **st) {
    (void)st;
    nm_dataset *d = quarters(96, 2);
    nm_train_config c;
    config(&c);
    c.weight_decay = 0;   /* the delta is then w' - w exactly as the optimizer computed it */
    float *plain = train_with(&c, d, "144-24-4");
    int64_t calls = 0;
    nm_update_hooks up = {&calls, exact_apply};
    c.updater = &up;
    float *via = train_with(&c, d, "144-24-4");
    assert_int_equal(calls, 2 * 6);   /* 96 / 16 batches, 2 epochs */
    nm_graph *g = net("144-24-4", 3);
    const int64_t np = nm_graph_n_params(g);
    nm_graph_destroy(g);
    /* (w + (w' - w)) may differ from w' in the last bit */
    for (int64_t i = 0; i < np; i++)
        if (fabsf(plain[i] - via[i]) > 1e-5f * (1.0f + fabsf(plain[i]))) fail_msg("param %lld: %g vs %g", (long long)i, plain[i], via[i]);
    free(plain), free(via);
    free_set(d);
}

/* Frozen nodes keep every parameter (weight decay included); the others learn. */
static void test_frozen_layers(void **st) {
    (void)st;
    nm_dataset *d = quarters(64, 3);
    nm_graph *g = net("144-24-4", 3), *g0 = net("144-24-4", 3);
    uint8_t frozen[16] = {0};
    int first = -1, last = -1;
    for (int j = 0; j < nm_graph_n_nodes(g); j++)
        if (nm_node_weight_count(nm_graph_node(g, j)) > 0) { if (first < 0) first = j; last = j; }
    assert_true(first >= 0 && last > first);
    frozen[first] = 1;
    nm_train_config c;
    config(&c);
    c.frozen = frozen;
    nm_train_result *res = calloc(1, sizeof *res);
    assert_int_equal(nm_train(g, d, d, &c, res), NM_OK);
    const nm_node *a = nm_graph_node(g, first), *b = nm_graph_node(g, last);
    assert_memory_equal(nm_graph_params(g) + a->w_off, nm_graph_params(g0) + a->w_off, sizeof(float) * nm_node_weight_count(a));
    assert_memory_equal(nm_graph_params(g) + a->b_off, nm_graph_params(g0) + a->b_off, sizeof(float) * a->n_out);
    assert_memory_not_equal(nm_graph_params(g) + b->w_off, nm_graph_params(g0) + b->w_off, sizeof(float) * nm_node_weight_count(b));
    free(res);
    nm_graph_destroy(g);
    nm_graph_destroy(g0);
    free_set(d);
}

/* Device noise: with ideal devices the weights come back as given (up to rounding through
** w / max|W|); with PCM the deviation of a weight at full scale has the device's
** programming std (aihwkit's polynomial at x = 1, times max|W|), within sampling error. */
static void test_device_noise(void **st) {
    (void)st;
    const int64_t n = 20000;
    float *w = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) w[i] = i % 2 ? 0.5f : -0.5f;
    nm_device_params dp;
    nm_device *dev;
    nm_device_params_default(NM_DEV_IDEAL, &dp);
    assert_int_equal(nm_device_create(&dp, &dev), NM_OK);
    nm_device_noise dn = {dev, 1.0f, 3};
    assert_int_equal(nm_device_noise_fn(&dn, 1, w, n, 0, out), NM_OK);
    for (int64_t i = 0; i < n; i++) assert_float_equal(out[i], w[i], 1e-7);
    nm_device_destroy(dev);

    nm_device_params_default(NM_DEV_PCM, &dp);
    dp.pcm_read_scale = 0;   /* no 1/f noise at t = 0 */
    assert_int_equal(nm_device_create(&dp, &dev), NM_OK);
    dn.dev = dev;
    assert_int_equal(nm_device_noise_fn(&dn, 1, w, n, 0, out), NM_OK);
    /* G+ at g_max (x = 1) and G- at 0 for positive weights: both devices are noisy */
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < n; i += 2) { double e = out[i] - w[i]; s1 += e; s2 += e * e; }
    const double m = (double)n / 2, sd = sqrt(s2 / m - pow(s1 / m, 2));
    const double sd1 = nm_pcm_prog_sigma_us(&dp, 1.0) / dp.g_max_us, sd0 = nm_pcm_prog_sigma_us(&dp, 0.0) / dp.g_max_us;
    (void)sd0;
    /* the G- device at target 0 is clipped at 0 after its draw; the G+ draw dominates */
    const double want = 0.5 * sd1;
    if (fabs(sd - want) > 0.25 * want) fail_msg("PCM weight noise std %g, expected about %g", sd, want);
    /* the same key gives the same draws; another key others */
    float *again = malloc(sizeof(float) * n);
    assert_int_equal(nm_device_noise_fn(&dn, 1, w, n, 0, again), NM_OK);
    assert_memory_equal(out, again, sizeof(float) * n);
    assert_int_equal(nm_device_noise_fn(&dn, 1, w, n, 1, again), NM_OK);
    assert_memory_not_equal(out, again, sizeof(float) * n);
    free(again);
    nm_device_destroy(dev);
    free(w);
    free(out);
}

/* After a step the chip re-programs only the layers whose weights changed: the other
** layers keep their conductances (no new programming draws). */
static void test_chip_update_changed_layers(void **st) {
    (void)st;
    nm_graph *g = net("20-16-4", 3);
    nm_chip_profile p;
    assert_int_equal(nm_chip_profile_load("pcm", &p), NM_OK);
    nm_chip *c;
    nm_exec_hooks h;
    assert_int_equal(nm_chip_realize(g, &p, 9, &c), NM_OK);
    nm_chip_hooks(c, &h);
    int l1 = -1, l2 = -1;
    for (int j = 0; j < nm_graph_n_nodes(g); j++)
        if (nm_chip_xbar(c, j)) { if (l1 < 0) l1 = j; else l2 = j; }
    assert_true(l1 >= 0 && l2 >= 0);
    const int64_t n1 = 16 * 20, n2 = 4 * 16;
    float *w1 = malloc(sizeof(float) * n1), *w2 = malloc(sizeof(float) * n2);
    memcpy(w1, nm_xbar_weights(nm_chip_xbar(c, l1)), sizeof(float) * n1);
    memcpy(w2, nm_xbar_weights(nm_chip_xbar(c, l2)), sizeof(float) * n2);
    assert_int_equal(h.update(h.ctx), NM_OK);   /* nothing changed: nothing programmed */
    assert_memory_equal(w1, nm_xbar_weights(nm_chip_xbar(c, l1)), sizeof(float) * n1);
    assert_memory_equal(w2, nm_xbar_weights(nm_chip_xbar(c, l2)), sizeof(float) * n2);
    nm_graph_params(g)[nm_graph_node(g, l2)->w_off] += 0.01f;
    assert_int_equal(h.update(h.ctx), NM_OK);
    assert_memory_equal(w1, nm_xbar_weights(nm_chip_xbar(c, l1)), sizeof(float) * n1);
    assert_memory_not_equal(w2, nm_xbar_weights(nm_chip_xbar(c, l2)), sizeof(float) * n2);
    /* an inactive layer runs in software; an unknown node is refused */
    assert_int_equal(nm_chip_set_active(c, l2, 0), NM_OK);
    assert_null(h.weights(h.ctx, l2));
    assert_int_equal(nm_chip_set_active(c, 0, 0), NM_RANGE);
    free(w1);
    free(w2);
    nm_chip_destroy(c);
    /* a digital chip has no drift to compensate */
    assert_int_equal(nm_chip_profile_load("loihi", &p), NM_OK);
    assert_int_equal(nm_chip_realize(g, &p, 9, &c), NM_OK);
    assert_int_equal(nm_chip_set_drift_comp(c, NM_DRIFT_COMP_GLOBAL), NM_UNSUPPORTED);
    assert_non_null(strstr(nm_errmsg(), "'loihi' is digital"));
    assert_int_equal(nm_chip_set_drift_comp(c, NM_DRIFT_COMP_NONE), NM_OK);
    nm_chip_destroy(c);
    nm_graph_destroy(g);
}

/* Chip-in-the-loop training on a mismatched chip sample beats the same weights trained
** ideally and deployed on it, and the config's conflicts are refused. */
static void test_in_loop_training(void **st) {
    (void)st;
    nm_dataset *d = quarters(320, 4);
    nm_chip_profile p;
    assert_int_equal(nm_chip_profile_load("bss2", &p), NM_OK);
    p.neuron.trim_bits = 0;   /* uncalibrated */
    p.neuron.v_th = p.neuron.v_leak = 0.3f;
    p.neuron.gain = p.neuron.tau_mem = 0.3f;
    nm_train_config c;
    config(&c);
    c.epochs = 3;
    nm_graph *g = net("144-24-4", 3);
    nm_train_result *res = calloc(1, sizeof *res);
    assert_int_equal(nm_train(g, d, d, &c, res), NM_OK);
    nm_chip *chip;
    nm_exec_hooks h;
    assert_int_equal(nm_chip_realize(g, &p, 21, &chip), NM_OK);
    nm_chip_hooks(chip, &h);
    c.hooks = &h;
    nm_eval_result naive, loop;
    assert_int_equal(nm_evaluate(g, d, &c, &naive), NM_OK);
    c.in_loop = 1;
    c.epochs = 2;
    c.lr = 3e-3f;
    assert_int_equal(nm_train(g, d, d, &c, res), NM_OK);
    assert_int_equal(nm_evaluate(g, d, &c, &loop), NM_OK);
    print_message("mismatched chip: naive %.3f, in the loop %.3f\n", naive.accuracy, loop.accuracy);
    assert_true(loop.accuracy > naive.accuracy);
    nm_chip_destroy(chip);
    /* in the loop without a chip */
    c.hooks = NULL;
    assert_int_equal(nm_train(g, d, d, &c, res), NM_INVAL);
    c.in_loop = 0;
    c.noise.kind = NM_WNOISE_DEVICE;   /* without a device */
    assert_int_equal(nm_train(g, d, d, &c, res), NM_INVAL);
    c.noise.kind = NM_WNOISE_RELATIVE;
    c.noise.quant_bits = 1;
    assert_int_equal(nm_train(g, d, d, &c, res), NM_RANGE);
    free(res);
    nm_graph_destroy(g);
    free_set(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_loop_gradient_ideal_chip),
        cmocka_unit_test(test_in_loop_gradient_repeated_reads),
        cmocka_unit_test(test_noise_sigma_zero_is_plain),
        cmocka_unit_test(test_updater_exact_write),
        cmocka_unit_test(test_frozen_layers),
        cmocka_unit_test(test_device_noise),
        cmocka_unit_test(test_chip_update_changed_layers),
        cmocka_unit_test(test_in_loop_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
