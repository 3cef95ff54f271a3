/*
** STDP (Diehl & Cook 2015): the weight change of a pre/post pair at a known delay against the
** rule's formula, in both orders; the adaptive threshold's rise per spike and its exponential
** decay; label assignment and classification on a toy problem whose answer is obvious; and
** an end-to-end run on a toy two-class problem (bars) that must learn it, with the same result
** on 1 and 2 threads.
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

/* A network with no spontaneous spikes and no lateral inhibition, so that only the forced
** spikes and the given input spikes act. */
static nm_stdp *quiet_net(nm_stdp_config *c, int n_exc, int64_t n_in) {
    nm_stdp_config_default(c);
    c->n_exc = n_exc;
    c->w_inh = 0.0f;
    c->nu_pre = 0.0013f;   /* high-entropy rates, large enough to see */
    c->nu_post = 0.017f;
    c->w_init_lo = c->w_init_hi = 0.25f;
    nm_stdp *s = NULL;
    assert_int_equal(nm_stdp_create(c, n_in, &s), NM_OK);
    return s;
}

/* pre at step 0, post at k1 and again at k2: the first post spike finds post2 = 0 (no
** change); the second adds nu_post * exp(-k2 dt / tau_pre) * exp(-(k2 - k1) dt / tau_post2).
** The pre spike at step 0 depresses by nu_pre * post1 = 0 (no post spike before it). */
static void test_pair_potentiation(void **st) {
    (void)st;
    nm_stdp_config c;
    nm_stdp *s = quiet_net(&c, 3, 5);
    const float *w = nm_stdp_weights(s);
    const int32_t pre = 2, post = 1;
    const int k1 = 7, k2 = 19;
    nm_stdp_step(s, &pre, 1, NULL, 0, 1, NULL);
    for (int t = 1; t <= k2; t++) {
        int forced = t == k1 || t == k2;
        int n = nm_stdp_step(s, NULL, 0, forced ? &post : NULL, forced, 1, NULL);
        assert_int_equal(n, forced);
        if (t == k1) assert_float_equal(w[pre * 3 + post], 0.25, 1e-7);
    }
    const double want = 0.25 + c.nu_post * exp(-k2 * c.dt / c.tau_pre) * exp(-(k2 - k1) * c.dt / c.tau_post2);
    printf("potentiation: w %.8f, formula %.8f\n", w[pre * 3 + post], want);
    assert_float_equal(w[pre * 3 + post], want, 1e-6);
    /* untouched synapses: other inputs (no pre trace) and other neurons */
    assert_float_equal(w[0 * 3 + post], 0.25, 0);
    assert_float_equal(w[pre * 3 + 0], 0.25, 0);
    nm_stdp_destroy(s);
}

/* post at step 0, pre at step k: w -= nu_pre * exp(-k dt / tau_post1). */
static void test_pair_depression(void **st) {
    (void)st;
    nm_stdp_config c;
    nm_stdp *s = quiet_net(&c, 2, 4);
    const float *w = nm_stdp_weights(s);
    const int32_t pre = 3, post = 0;
    const int k = 23;
    nm_stdp_step(s, NULL, 0, &post, 1, 1, NULL);
    for (int t = 1; t < k; t++) nm_stdp_step(s, NULL, 0, NULL, 0, 1, NULL);
    nm_stdp_step(s, &pre, 1, NULL, 0, 1, NULL);
    const double want = 0.25 - c.nu_pre * exp(-k * c.dt / c.tau_post1);
    printf("depression: w %.8f, formula %.8f\n", w[pre * 2 + post], want);
    assert_float_equal(w[pre * 2 + post], want, 1e-6);
    assert_float_equal(w[pre * 2 + 1], 0.25 - 0.0, 0);   /* neuron 1 never fired */
    /* with learning off nothing changes */
    float before = w[pre * 2 + post];
    nm_stdp_step(s, NULL, 0, &post, 1, 0, NULL);
    nm_stdp_step(s, &pre, 1, NULL, 0, 0, NULL);
    assert_float_equal(w[pre * 2 + post], before, 0);
    nm_stdp_destroy(s);
}

/* theta += theta_plus per spike, then theta(t) = theta(0) exp(-t / tau_theta). */
static void test_theta(void **st) {
    (void)st;
    nm_stdp_config c;
    nm_stdp_config_default(&c);
    c.n_exc = 2;
    c.w_inh = 0.0f;
    c.theta_init = 0.0f;
    c.theta_offset = 0.0f;
    c.theta_plus = 0.37f;
    c.tau_theta = 13.0f;   /* ms: decays visibly */
    nm_stdp *s;
    assert_int_equal(nm_stdp_create(&c, 3, &s), NM_OK);
    const float *th = nm_stdp_theta(s);
    const int32_t j = 1;
    nm_stdp_step(s, NULL, 0, &j, 1, 1, NULL);
    assert_float_equal(th[1], 0.37, 1e-7);
    assert_float_equal(th[0], 0.0, 0);
    /* a second spike 11 refractory-free steps later: 0.37 exp(-11 dt / tau) + 0.37 */
    for (int t = 0; t < 10; t++) nm_stdp_step(s, NULL, 0, NULL, 0, 1, NULL);
    nm_stdp_step(s, NULL, 0, &j, 1, 1, NULL);
    const double after = 0.37 * exp(-11 * c.dt / c.tau_theta) + 0.37;
    assert_float_equal(th[1], after, 1e-6);
    for (int t = 0; t < 40; t++) nm_stdp_step(s, NULL, 0, NULL, 0, 1, NULL);
    printf("theta: %.7f, formula %.7f\n", th[1], after * exp(-40 * c.dt / c.tau_theta));
    assert_float_equal(th[1], after * exp(-40 * c.dt / c.tau_theta), 1e-6);
    /* learning off: theta frozen */
    float before = th[1];
    nm_stdp_step(s, NULL, 0, &j, 1, 0, NULL);
    assert_float_equal(th[1], before, 0);
    nm_stdp_destroy(s);
}

/* Neuron 0 fires for class 2, neuron 1 for class 0, neuron 2 never, neuron 3 for class 1
** (more than for class 2). */
static void test_labels(void **st) {
    (void)st;
    const int N = 4, C = 3;
    const int labels[6] = {0, 1, 2, 0, 2, 1};
    const int32_t counts[6][4] = {{0, 5, 0, 1}, {1, 0, 0, 6}, {7, 1, 0, 2}, {0, 3, 0, 0}, {5, 0, 0, 3}, {0, 1, 0, 4}};
    int assign[4];
    nm_stdp_assign_labels(&counts[0][0], labels, 6, N, C, assign);
    assert_int_equal(assign[0], 2);
    assert_int_equal(assign[1], 0);
    assert_int_equal(assign[2], -1);
    assert_int_equal(assign[3], 1);
    const int32_t q1[4] = {9, 0, 0, 1}, q2[4] = {0, 0, 50, 2}, q3[4] = {1, 4, 0, 0};
    assert_int_equal(nm_stdp_classify(q1, assign, N, C), 2);
    assert_int_equal(nm_stdp_classify(q2, assign, N, C), 1);   /* the unassigned neuron does not vote */
    assert_int_equal(nm_stdp_classify(q3, assign, N, C), 0);
}

/* 8x8 images of a horizontal (class 0) or vertical (class 1) bar at a random position. */
static nm_dataset *bars(int64_t n, uint64_t seed) {
    nm_dataset *d = calloc(1, sizeof *d);
    d->n = n;
    d->rows = d->cols = 8;
    d->n_classes = 2;
    d->images = calloc((size_t)n * 64, 1);
    d->labels = calloc((size_t)n, 1);
    nm_rng r;
    nm_rng_init(&r, seed, 0);
    for (int64_t k = 0; k < n; k++) {
        int cls = (int)nm_rng_below(&r, 2), pos = 1 + (int)nm_rng_below(&r, 6);
        d->labels[k] = (uint8_t)cls;
        for (int i = 0; i < 8; i++) {
            int p = cls ? i * 8 + pos : pos * 8 + i;
            d->images[k * 64 + p] = 255;
        }
    }
    return d;
}

static void toy_free(nm_dataset *d) {
    free(d->images);
    free(d->labels);
    free(d);
}

static void run_bars(int threads, nm_stdp_result *res, float *w_out) {
    nm_set_threads(threads);
    nm_dataset *tr = bars(300, 3), *te = bars(100, 4);
    nm_stdp_config c;
    nm_stdp_config_default(&c);
    c.n_exc = 12;
    c.w_sum = 78.0f * 64 / 784;   /* the paper's mean weight per input */
    c.max_rate = 1000.0f;         /* 8 pixels lit instead of a digit's ~150: as much input in total */
    c.seed = 7;
    nm_stdp *s;
    assert_int_equal(nm_stdp_create(&c, 64, &s), NM_OK);
    assert_int_equal(nm_stdp_run(s, tr, te, 300, 100, 100, 1, NULL, res), NM_OK);
    memcpy(w_out, nm_stdp_weights(s), sizeof(float) * 64 * 12);
    nm_stdp_destroy(s);
    toy_free(tr);
    toy_free(te);
}

static void test_bars_end_to_end(void **st) {
    (void)st;
    nm_stdp_result r1, r2;
    static float w1[64 * 12], w2[64 * 12];
    run_bars(1, &r1, w1);
    run_bars(2, &r2, w2);
    printf("bars: accuracy %.2f, %.1f spikes/inference, %d unassigned\n", r1.accuracy, r1.spikes_per_inference,
           r1.n_unassigned);
    assert_true(r1.accuracy >= 0.9);
    assert_memory_equal(w1, w2, sizeof w1);
    assert_float_equal(r1.accuracy, r2.accuracy, 0);
    assert_float_equal(r1.spikes_per_inference, r2.spikes_per_inference, 0);
    nm_set_threads(0);
}

static void test_config_errors(void **st) {
    (void)st;
    nm_stdp_config c;
    nm_stdp_config_default(&c);
    nm_stdp *s = NULL;
    c.tau_m = 0;
    assert_int_equal(nm_stdp_create(&c, 10, &s), NM_RANGE);
    assert_non_null(strstr(nm_errmsg(), "tau_m"));
    nm_stdp_config_default(&c);
    c.w_init_hi = 2.0f;
    assert_int_equal(nm_stdp_create(&c, 10, &s), NM_RANGE);
    nm_stdp_config_default(&c);
    assert_int_equal(nm_stdp_create(&c, 0, &s), NM_RANGE);
    assert_null(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_potentiation), cmocka_unit_test(test_pair_depression),
        cmocka_unit_test(test_theta),             cmocka_unit_test(test_labels),
        cmocka_unit_test(test_bars_end_to_end),   cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
