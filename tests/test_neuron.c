/*
** Neuron dynamics against closed forms, and surrogate gradients against finite
** differences of their primitives.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <neuromorph/neuron.h>

/* |a - b| <= atol + rtol |b| */
static int near(double a, double b, double atol, double rtol) { return fabs(a - b) <= atol + rtol * fabs(b); }

#define ASSERT_NEAR(a, b, atol, rtol)                                                                      \
    do {                                                                                                   \
        double a_ = (a), b_ = (b);                                                                         \
        if (!near(a_, b_, atol, rtol)) fail_msg("%s = %.9g, expected %.9g (%s:%d)", #a, a_, b_, __FILE__, __LINE__); \
    } while (0)

/* Runs one LIF population of n neurons, batch 1, constant input I[i], for T steps. */
static int64_t run_lif(const nm_lif_params *p, float dt, int T, int64_t n, const float *I, float *u, float *s) {
    nm_lif_step c;
    nm_lif_discretize(p, dt, &c);
    float *ws = malloc(sizeof(float) * n);
    int64_t count = nm_lif_forward(&c, NULL, T, 1, n, I, 1, u, s, ws);
    free(ws);
    return count;
}

/* Below threshold, the membrane under a constant current follows
** v(t) = v_leak + r I (1 - exp(-t/tau)) exactly at every step end t = (k+1) dt. */
static void test_lif_trajectory_closed_form(void **st) {
    (void)st;
    nm_lif_params p;
    nm_lif_params_default(&p);
    p.tau = 0.0173f;
    p.r = 3.7f;
    p.v_leak = -0.35f;
    p.v_threshold = 100.0f;   /* never reached */
    const float dt = 2.5e-4f, I = 0.4127f;
    const int T = 400;
    float u[400], s[400];
    run_lif(&p, dt, T, 1, &I, u, s);
    /* float32 rounding of about eps |v| per step decays with alpha, so it accumulates to at
    ** most about eps |v| / (1 - alpha); allow 4x that. */
    double alpha = exp(-dt / p.tau), vmax = fabs(p.v_leak) + fabs(p.r * I);
    double tol = 4 * 1.1920929e-7 * vmax / (1 - alpha);
    for (int k = 0; k < T; k++) {
        double t = (k + 1) * (double)dt;
        double v = p.v_leak + p.r * I * (1.0 - exp(-t / p.tau));
        ASSERT_NEAR(u[k], v, tol, 0);
        assert_true(s[k] == 0.0f);
    }
}

/* The same model at dt and at dt/4 agrees at the shared time points: the discretization
** is exact for piecewise-constant input, not a first-order approximation. */
static void test_lif_dt_invariance(void **st) {
    (void)st;
    nm_lif_params p;
    nm_lif_params_default(&p);
    p.v_threshold = 100.0f;
    const float I = 0.0531f;
    float u1[50], s1[50], u4[200], s4[200];
    run_lif(&p, 1e-3f, 50, 1, &I, u1, s1);
    run_lif(&p, 2.5e-4f, 200, 1, &I, u4, s4);
    for (int k = 0; k < 50; k++) ASSERT_NEAR(u1[k], u4[4 * k + 3], 1e-6, 1e-5);
}

/* f-I curve. With reset to v_reset = v_leak = 0, the time from reset to the next crossing
** of theta is T_isi = tau ln(rI / (rI - theta)) for rI > theta, else infinite. In steps of
** dt with exact integration, the membrane m steps after a reset is rI (1 - alpha^m), so the
** spike comes at the first m with m > T_isi/dt: every ISI is floor(T_isi/dt) + 1 steps,
** and the rate lies in [1/(T_isi + dt), 1/T_isi). */
static void test_lif_f_i_curve(void **st) {
    (void)st;
    nm_lif_params p;
    nm_lif_params_default(&p);
    p.tau = 0.02f;
    p.r = 1.0f;
    p.v_threshold = 1.0f;
    p.v_reset = 0.0f;
    p.reset = NM_RESET_TO_VALUE;
    const float dt = 1e-4f;
    const int T = 20000;   /* 2 s */
    const float currents[] = {0.5f, 0.999f, 1.05f, 1.3f, 2.0f, 4.5f, 11.0f};
    const int nI = (int)(sizeof currents / sizeof currents[0]);
    float *u = malloc(sizeof(float) * T * nI), *s = malloc(sizeof(float) * T * nI);
    /* One population with a different current per neuron: one pass gives the whole curve. */
    run_lif(&p, dt, T, nI, currents, u, s);
    for (int i = 0; i < nI; i++) {
        double rI = p.r * currents[i];
        int count = 0, last = -1, isi_ok = 1;
        long m_expect = 0;
        if (rI > p.v_threshold) {
            double tisi = p.tau * log(rI / (rI - p.v_threshold));
            m_expect = (long)floor(tisi / dt) + 1;
        }
        for (int t = 0; t < T; t++)
            if (s[(int64_t)t * nI + i] > 0) {
                if (last >= 0 && t - last != m_expect) isi_ok = 0;
                /* the first spike comes m steps after t = -1 (the start, v = 0) */
                if (last < 0 && t + 1 != m_expect) isi_ok = 0;
                last = t;
                count++;
            }
        if (m_expect == 0) {
            assert_int_equal(count, 0);
            continue;
        }
        if (!isi_ok) fail_msg("I = %g: an ISI differs from %ld steps", currents[i], m_expect);
        assert_int_equal(count, T / m_expect);
        double tisi = p.tau * log(rI / (rI - p.v_threshold));
        double rate = 1.0 / (m_expect * dt);
        assert_true(rate <= 1.0 / tisi && rate >= 1.0 / (tisi + dt));
    }
    free(u);
    free(s);
}

/* Reset by subtraction keeps the overshoot: after a spike v = u - (theta - v_reset). */
static void test_lif_reset_modes(void **st) {
    (void)st;
    nm_lif_params p;
    nm_lif_params_default(&p);
    p.tau = 0.01f;
    p.r = 1.0f;
    p.v_threshold = 1.0f;
    p.v_reset = 0.25f;
    const float I = 30.0f, dt = 1e-3f;
    float u[3], s[3];
    nm_lif_step c;
    nm_lif_discretize(&p, dt, &c);
    const nm_reset modes[] = {NM_RESET_SUBTRACT, NM_RESET_TO_VALUE, NM_RESET_NONE};
    for (int m = 0; m < 3; m++) {
        p.reset = modes[m];
        run_lif(&p, dt, 2, 1, &I, u, s);
        assert_true(s[0] == 1.0f);
        double v0 = m == 0 ? u[0] - 0.75 : m == 1 ? 0.25 : u[0];
        ASSERT_NEAR(u[1], c.alpha * v0 + c.beta * I, 1e-6, 1e-6);
    }
}

/* LI: u[t] = alpha u[t-1] + beta I[t] from u = v_leak, against the closed form under a
** constant input. */
static void test_li_closed_form(void **st) {
    (void)st;
    nm_li_params p = {0.031f, 2.0f, 0.1f};
    nm_lif_step c;
    nm_li_discretize(&p, 1e-3f, &c);
    const float I = -0.77f;
    float u[60];
    nm_li_forward(&c, 60, 1, 1, &I, 1, u);
    for (int k = 0; k < 60; k++) {
        double t = (k + 1) * 1e-3;
        ASSERT_NEAR(u[k], p.v_leak + p.r * I * (1 - exp(-t / p.tau)), 2e-6, 2e-6);
    }
}

/* Each surrogate's gradient is the derivative of its primitive (central differences in
** double precision of the float primitive, so the step is moderate). */
static void test_surrogates_match_primitive(void **st) {
    (void)st;
    const nm_surrogate_kind kinds[] = {NM_SURR_FAST_SIGMOID, NM_SURR_ARCTAN};
    const float slopes[] = {0.7f, 2.0f, 25.0f};
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 3; j++) {
            nm_surrogate s = {kinds[k], slopes[j], 1};
            assert_true(near(nm_surrogate_primitive(&s, 0.0f), 0.5, 1e-7, 0));
            for (double x = -2.37; x < 2.4; x += 0.0731) {
                double h = 1e-3 / slopes[j];
                double fd = (nm_surrogate_primitive(&s, (float)(x + h)) - nm_surrogate_primitive(&s, (float)(x - h))) / (2 * h);
                ASSERT_NEAR(nm_surrogate_grad(&s, (float)x), fd, 2e-3, 2e-3);
            }
        }
    /* Known values: fast sigmoid 1/(1+k|x|)^2, arctan (k/2)/(1+(pi k x/2)^2) */
    nm_surrogate fs = {NM_SURR_FAST_SIGMOID, 25.0f, 0}, at = {NM_SURR_ARCTAN, 2.0f, 0};
    ASSERT_NEAR(nm_surrogate_grad(&fs, 0.1f), 1.0 / (3.5 * 3.5), 1e-7, 1e-6);
    ASSERT_NEAR(nm_surrogate_grad(&at, 0.0f), 1.0, 1e-7, 1e-6);
    ASSERT_NEAR(nm_surrogate_grad(&at, 0.5f), 1.0 / (1.0 + 3.14159265358979323846 * 3.14159265358979323846 / 4), 1e-7, 1e-6);
}

/* LIF backward against finite differences of L = sum_t,i w[t,i] s[t,i] with smooth
** spikes, for every reset mode, both input layouts, and with the reset path attached. */
static double lif_loss(const nm_lif_step *c, const nm_surrogate *s, int T, int64_t n, const float *I, int rows,
                       const float *w) {
    float *u = malloc(sizeof(float) * T * n), *sp = malloc(sizeof(float) * T * n), *ws = malloc(sizeof(float) * n);
    nm_lif_forward(c, s, T, 1, n, I, rows, u, sp, ws);
    double L = 0;
    for (int64_t k = 0; k < T * n; k++) L += (double)w[k] * sp[k];
    free(u);
    free(sp);
    free(ws);
    return L;
}

static void test_lif_backward_finite_difference(void **st) {
    (void)st;
    const int T = 12;
    const int64_t n = 5;
    nm_surrogate s = {NM_SURR_ARCTAN, 1.3f, 1};
    float w[60], I[60], g_I[60], u[60], sp[60], ws[5];
    for (int k = 0; k < T * n; k++) {
        w[k] = (float)sin(0.77 * k + 0.3);
        I[k] = 0.9f + 0.6f * (float)cos(1.31 * k);
    }
    for (int mode = 0; mode < 3; mode++)
        for (int rows = 1; rows <= T; rows += T - 1) {
            nm_lif_params p;
            nm_lif_params_default(&p);
            p.tau = 0.013f;
            p.r = 5.0f;
            p.v_reset = -0.2f;
            p.reset = (nm_reset)mode;
            nm_lif_step c;
            nm_lif_discretize(&p, 1e-3f, &c);
            nm_lif_forward(&c, &s, T, 1, n, I, rows, u, sp, ws);
            nm_lif_backward(&c, &s, T, 1, n, u, w, 0, g_I, rows, ws);
            for (int64_t k = 0; k < rows * n; k++) {
                float keep = I[k];
                const float h = 2e-3f;
                I[k] = keep + h;
                double lp = lif_loss(&c, &s, T, n, I, rows, w);
                I[k] = keep - h;
                double lm = lif_loss(&c, &s, T, n, I, rows, w);
                I[k] = keep;
                double fd = (lp - lm) / (2 * h);
                if (!near(g_I[k], fd, 2e-3, 1e-2))
                    fail_msg("reset %d rows %d: dL/dI[%lld] = %.6g, finite difference %.6g", mode, rows, (long long)k,
                             g_I[k], fd);
            }
        }
}

static void test_lif_backward_li_finite_difference(void **st) {
    (void)st;
    nm_li_params p = {0.02f, 20.0f, 0.0f};
    nm_lif_step c;
    nm_li_discretize(&p, 1e-3f, &c);
    const int T = 9;
    float I[9], w[9], u[9], g[9], ws[1];
    for (int t = 0; t < T; t++) { I[t] = 0.1f * t - 0.3f; w[t] = (float)cos(t * 0.9); }
    nm_li_backward(&c, T, 1, 1, w, g, T, ws);
    for (int t = 0; t < T; t++) {
        double L[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            float keep = I[t];
            I[t] += sgn ? -1e-2f : 1e-2f;
            nm_li_forward(&c, T, 1, 1, I, T, u);
            L[sgn] = 0;
            for (int k = 0; k < T; k++) L[sgn] += (double)w[k] * u[k];
            I[t] = keep;
        }
        ASSERT_NEAR(g[t], (L[0] - L[1]) / 2e-2, 1e-4, 1e-4);
    }
}

static void test_params_rejected(void **st) {
    (void)st;
    nm_lif_params p;
    nm_lif_params_default(&p);
    p.tau = 0;
    assert_int_equal(nm_lif_params_check(&p), NM_RANGE);
    assert_non_null(strstr(nm_errmsg(), "tau"));
    nm_lif_params_default(&p);
    p.v_reset = 2.0f;
    assert_int_equal(nm_lif_params_check(&p), NM_RANGE);
    assert_non_null(strstr(nm_errmsg(), "v_reset"));
    nm_li_params q = {-1.0f, 1.0f, 0.0f};
    assert_int_equal(nm_li_params_check(&q), NM_RANGE);
    nm_reset r;
    assert_int_equal(nm_reset_parse("sideways", &r), NM_INVAL);
    assert_non_null(strstr(nm_errmsg(), "sideways"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lif_trajectory_closed_form),
        cmocka_unit_test(test_lif_dt_invariance),
        cmocka_unit_test(test_lif_f_i_curve),
        cmocka_unit_test(test_lif_reset_modes),
        cmocka_unit_test(test_li_closed_form),
        cmocka_unit_test(test_surrogates_match_primitive),
        cmocka_unit_test(test_lif_backward_finite_difference),
        cmocka_unit_test(test_lif_backward_li_finite_difference),
        cmocka_unit_test(test_params_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
