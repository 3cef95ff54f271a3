/*
** test_hw_neuron.c: fixed-pattern mismatch of analog neurons and its calibration.
**
** Uncalibrated draws: each field has the requested spread (the sample std of n = 100,000
** within 5 standard errors, sigma / sqrt(2n)), mean 0 (5 sigma / sqrt(n)), and the fields are
** uncorrelated. Calibrated draws are checked neuron by neuron against the raw deviations
** (the same keys, drawn with trim_bits 0): with a noiseless measurement every neuron inside
** the trim range is left within half a step (an exact bound) and every neuron beyond it
** keeps |d| - R; the residual std is the rounding error's step / sqrt(12), and with
** measurement noise sqrt(step^2 / 12 + (calib_noise spread)^2). Time constants and gains
** never fall below 0.05 of nominal. The draws are a pure function of (seed, stream, index):
** the same with 1 and 2 threads and for any population size. Bad configurations are refused
** with the field named.
*/
#include <neuromorph/hw.h>

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define N 100000

static nm_neuron_mismatch spreads(void) {
    nm_neuron_mismatch m;
    memset(&m, 0, sizeof m);
    m.tau_mem = 0.1f;
    m.tau_syn = 0.07f;
    m.v_th = 0.05f;
    m.v_leak = 0.03f;
    m.gain = 0.12f;
    return m;
}

static float *field(const nm_neuron_draw *d, int f) {
    float *a[5] = {d->tau_mem, d->tau_syn, d->v_th, d->v_leak, d->gain};
    return a[f];
}
static float spread_of(const nm_neuron_mismatch *m, int f) {
    const float s[5] = {m->tau_mem, m->tau_syn, m->v_th, m->v_leak, m->gain};
    return s[f];
}
static const char *const names[5] = {"tau_mem", "tau_syn", "v_th", "v_leak", "gain"};

static void mean_std(const float *x, int64_t n, double *mean, double *sd) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) s2 += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(s2 / (double)(n - 1));
}

/* Checks a status and that the message names `word`. */
static void check_error_(nm_status got, nm_status want, const char *word, const char *file, int line) {
    const char *msg = nm_errmsg();
    if (got != want) fail_msg("%s:%d: status %d, expected %d (message: \"%s\")", file, line, got, want, msg);
    if (word && !strstr(msg, word)) fail_msg("%s:%d: message \"%s\" lacks \"%s\"", file, line, msg, word);
    print_message("PASS %s:%d: %s\n", file, line, msg);
}
#define check_error(got, want, word) check_error_((got), (want), (word), __FILE__, __LINE__)

/* ---- uncalibrated ------------------------------------------------------------- */

static void test_uncalibrated_spread(void **state) {
    (void)state;
    nm_neuron_mismatch m = spreads();
    nm_neuron_draw *d = NULL;
    assert_int_equal(nm_neuron_draw_create(&m, N, 2385, 7, &d), NM_OK);
    assert_int_equal(d->n, N);
    for (int f = 0; f < 5; f++) {
        double mean, sd, s = spread_of(&m, f);
        mean_std(field(d, f), N, &mean, &sd);
        print_message("%-8s spread %.3f: mean %+.5f std %.5f\n", names[f], s, mean, sd);
        assert_true(fabs(mean) < 5 * s / sqrt(N));
        assert_true(fabs(sd - s) < 5 * s / sqrt(2.0 * N));
    }
    /* fields come from separate Philox blocks: uncorrelated */
    for (int f = 0; f < 5; f++)
        for (int g = f + 1; g < 5; g++) {
            const float *a = field(d, f), *b = field(d, g);
            double ma, sa, mb, sb, c = 0;
            mean_std(a, N, &ma, &sa);
            mean_std(b, N, &mb, &sb);
            for (int i = 0; i < N; i++) c += (a[i] - ma) * (b[i] - mb);
            c /= (N - 1) * sa * sb;
            assert_true(fabs(c) < 5 / sqrt(N));
        }
    nm_neuron_draw_destroy(d);
}

static void test_zero_spread_and_sizes(void **state) {
    (void)state;
    nm_neuron_mismatch m;
    memset(&m, 0, sizeof m);
    nm_neuron_draw *d = NULL;
    assert_int_equal(nm_neuron_draw_create(&m, 1000, 1, 1, &d), NM_OK);
    for (int f = 0; f < 5; f++)
        for (int i = 0; i < 1000; i++) assert_true(field(d, f)[i] == 0.0f);
    nm_neuron_draw_destroy(d);
    /* calibration of a zero spread leaves zero */
    m.trim_bits = 6;
    m.trim_range = 1;
    m.calib_noise = 0.1f;
    assert_int_equal(nm_neuron_draw_create(&m, 1000, 1, 1, &d), NM_OK);
    for (int f = 0; f < 5; f++)
        for (int i = 0; i < 1000; i++) assert_true(field(d, f)[i] == 0.0f);
    nm_neuron_draw_destroy(d);
    /* an empty population is fine */
    m = spreads();
    assert_int_equal(nm_neuron_draw_create(&m, 0, 1, 1, &d), NM_OK);
    assert_int_equal(d->n, 0);
    nm_neuron_draw_destroy(d);
    nm_neuron_draw_destroy(NULL);
}

static void test_factor_floor(void **state) {
    (void)state;
    /* a spread this wide pushes ~15% of draws below -0.95: tau and gain stop at 1 + d = 0.05,
    ** potentials do not */
    nm_neuron_mismatch m;
    memset(&m, 0, sizeof m);
    m.tau_mem = m.tau_syn = m.gain = m.v_th = 0.9f;
    nm_neuron_draw *d = NULL;
    assert_int_equal(nm_neuron_draw_create(&m, 20000, 5, 5, &d), NM_OK);
    int at_floor = 0, below = 0;
    for (int i = 0; i < 20000; i++) {
        assert_true(d->tau_mem[i] >= -0.95f && d->tau_syn[i] >= -0.95f && d->gain[i] >= -0.95f);
        at_floor += d->tau_mem[i] == -0.95f;
        below += d->v_th[i] < -0.95f;
    }
    assert_true(at_floor > 2000 && at_floor < 4000);
    assert_true(below > 2000);
    nm_neuron_draw_destroy(d);
}

/* ---- calibration ------------------------------------------------------------------ */

static void test_calibration_exact_bound(void **state) {
    (void)state;
    nm_neuron_mismatch m = spreads();
    nm_neuron_draw *raw = NULL, *cal = NULL;
    assert_int_equal(nm_neuron_draw_create(&m, N, 42, 3, &raw), NM_OK);
    m.trim_bits = 6;
    m.trim_range = 0.5f;   /* R = 2 spreads: ~4.6% of neurons lie beyond it */
    m.calib_noise = 0.0f;
    assert_int_equal(nm_neuron_draw_create(&m, N, 42, 3, &cal), NM_OK);
    for (int f = 0; f < 5; f++) {
        const double s = spread_of(&m, f), R = 0.5 * 4 * s, step = 2 * R / 63;
        assert_true(fabs(nm_neuron_trim_step(&m, (float)s) - step / 2) < 1e-7);
        const float *d0 = field(raw, f), *d1 = field(cal, f);
        int inside = 0, beyond = 0;
        double s2 = 0;
        for (int i = 0; i < N; i++) {
            if (fabs(d0[i]) <= R) {
                if (!(fabs(d1[i]) <= step / 2 + 1e-6))
                    fail_msg("%s neuron %d: raw %g inside +-%g left %g > step/2 %g", names[f], i, d0[i], R, d1[i], step / 2);
                s2 += (double)d1[i] * d1[i];
                inside++;
            } else {
                /* the end code is +-R: the rest stays, with the raw sign */
                assert_true(fabs(fabs(d1[i]) - (fabs(d0[i]) - R)) < 1e-6);
                assert_true(d1[i] * d0[i] >= 0);
                beyond++;
            }
        }
        const double sd = sqrt(s2 / inside), want = step / sqrt(12.0);
        print_message("%-8s inside %d beyond %d: residual std %.6f, step/sqrt(12) %.6f (raw %.4f)\n", names[f], inside,
                      beyond, sd, want, s);
        assert_true(beyond > 3500 && beyond < 5800);   /* 2 P(|z| > 2) N = 4550 */
        assert_true(fabs(sd / want - 1) < 0.03);
    }
    nm_neuron_draw_destroy(raw);
    nm_neuron_draw_destroy(cal);
}

static void test_calibration_with_noise(void **state) {
    (void)state;
    const float cns[2] = {0.05f, 0.3f};
    for (int k = 0; k < 2; k++) {
        nm_neuron_mismatch m = spreads();
        m.trim_bits = 6;
        m.trim_range = 1.0f;   /* +-4 spreads: practically every neuron inside */
        m.calib_noise = cns[k];
        nm_neuron_draw *d = NULL;
        assert_int_equal(nm_neuron_draw_create(&m, N, 9, 11, &d), NM_OK);
        for (int f = 0; f < 5; f++) {
            const double s = spread_of(&m, f), step = 2 * 4 * s / 63;
            const double want = sqrt(step * step / 12 + (cns[k] * s) * (cns[k] * s));
            double mean, sd;
            mean_std(field(d, f), N, &mean, &sd);
            print_message("calib_noise %.2f %-8s residual std %.6f, expected %.6f\n", cns[k], names[f], sd, want);
            assert_true(fabs(sd / want - 1) < 0.02);
            assert_true(fabs(mean) < 5 * want / sqrt(N));
            /* the bound trim_step reports: half a step + 3 sigma of the measurement */
            const double bound = nm_neuron_trim_step(&m, (float)s);
            assert_true(fabs(bound - (step / 2 + 3 * cns[k] * s)) < 1e-6);
            int over = 0;
            for (int i = 0; i < N; i++) over += fabs(field(d, f)[i]) > bound;
            assert_true(over < N / 100);   /* a 3-sigma bound: ~0.3% exceed it, not more */
        }
        nm_neuron_draw_destroy(d);
    }
    nm_neuron_mismatch m = spreads();
    assert_true(isinf(nm_neuron_trim_step(&m, 0.1f)));   /* uncalibrated: no bound */
}

static void test_one_bit_trim(void **state) {
    (void)state;
    /* one bit: the codes are -R and +R */
    nm_neuron_mismatch m = spreads();
    m.trim_bits = 1;
    m.trim_range = 0.25f;   /* R = 1 spread */
    nm_neuron_draw *raw = NULL, *cal = NULL;
    m.trim_bits = 0;
    assert_int_equal(nm_neuron_draw_create(&m, 1000, 3, 3, &raw), NM_OK);
    m.trim_bits = 1;
    assert_int_equal(nm_neuron_draw_create(&m, 1000, 3, 3, &cal), NM_OK);
    const double R = m.v_th;
    for (int i = 0; i < 1000; i++) {
        const double want = raw->v_th[i] - (raw->v_th[i] >= 0 ? R : -R);
        assert_true(fabs(cal->v_th[i] - want) < 1e-6);
    }
    nm_neuron_draw_destroy(raw);
    nm_neuron_draw_destroy(cal);
}

/* ---- reproducibility ----------------------------------------------------------------- */

static void test_threads_and_keys(void **state) {
    (void)state;
    nm_neuron_mismatch m = spreads();
    m.trim_bits = 6;
    m.trim_range = 1.0f;
    m.calib_noise = 0.05f;
    nm_neuron_draw *a = NULL, *b = NULL, *c = NULL, *e = NULL, *small = NULL;
    nm_set_threads(1);
    assert_int_equal(nm_neuron_draw_create(&m, N, 77, 4, &a), NM_OK);
    nm_set_threads(2);
    assert_int_equal(nm_neuron_draw_create(&m, N, 77, 4, &b), NM_OK);
    assert_int_equal(nm_neuron_draw_create(&m, N, 77, 5, &c), NM_OK);
    assert_int_equal(nm_neuron_draw_create(&m, N, 78, 4, &e), NM_OK);
    assert_int_equal(nm_neuron_draw_create(&m, 1000, 77, 4, &small), NM_OK);
    nm_set_threads(0);
    int same_c = 0, same_e = 0;
    for (int f = 0; f < 5; f++) {
        assert_memory_equal(field(a, f), field(b, f), sizeof(float) * N);
        /* neuron i's draw does not depend on the population size */
        assert_memory_equal(field(a, f), field(small, f), sizeof(float) * 1000);
        for (int i = 0; i < N; i++) {
            same_c += field(a, f)[i] == field(c, f)[i];
            same_e += field(a, f)[i] == field(e, f)[i];
        }
    }
    /* another stream or seed is another population */
    assert_true(same_c < 5 * N / 100);
    assert_true(same_e < 5 * N / 100);
    nm_neuron_draw_destroy(a);
    nm_neuron_draw_destroy(b);
    nm_neuron_draw_destroy(c);
    nm_neuron_draw_destroy(e);
    nm_neuron_draw_destroy(small);
}

/* ---- bad configurations ------------------------------------------------------------------ */

static void test_bad_config(void **state) {
    (void)state;
    nm_neuron_draw *sentinel = (nm_neuron_draw *)(uintptr_t)0x1234, *d = sentinel;
    nm_neuron_mismatch m = spreads();
    m.tau_mem = -0.1f;
    check_error(nm_neuron_draw_create(&m, 10, 1, 1, &d), NM_RANGE, "tau_mem");
    m = spreads();
    m.v_leak = 1.0f;
    check_error(nm_neuron_draw_create(&m, 10, 1, 1, &d), NM_RANGE, "v_leak");
    m = spreads();
    m.gain = NAN;
    check_error(nm_neuron_draw_create(&m, 10, 1, 1, &d), NM_RANGE, "gain");
    m = spreads();
    m.trim_bits = 17;
    m.trim_range = 1;
    check_error(nm_neuron_draw_create(&m, 10, 1, 1, &d), NM_RANGE, "trim_bits");
    m.trim_bits = -1;
    check_error(nm_neuron_draw_create(&m, 10, 1, 1, &d), NM_RANGE, "trim_bits");
    m.trim_bits = 6;
    m.trim_range = 0;
    check_error(nm_neuron_draw_create(&m, 10, 1, 1, &d), NM_RANGE, "trim_range");
    m.trim_range = 1;
    m.calib_noise = -0.5f;
    check_error(nm_neuron_draw_create(&m, 10, 1, 1, &d), NM_RANGE, "calib_noise");
    m = spreads();
    m.noise = -1;
    check_error(nm_neuron_draw_create(&m, 10, 1, 1, &d), NM_RANGE, "noise");
    m = spreads();
    check_error(nm_neuron_draw_create(&m, -1, 1, 1, &d), NM_INVAL, "n must be");
    assert_ptr_equal(d, sentinel);   /* untouched on error */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uncalibrated_spread),
        cmocka_unit_test(test_zero_spread_and_sizes),
        cmocka_unit_test(test_factor_floor),
        cmocka_unit_test(test_calibration_exact_bound),
        cmocka_unit_test(test_calibration_with_noise),
        cmocka_unit_test(test_one_bit_trim),
        cmocka_unit_test(test_threads_and_keys),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests_name("hw_neuron", tests, NULL, NULL);
}
