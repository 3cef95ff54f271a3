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

static const nm_surrogate_kind ALL_KINDS[] = {NM_SURR_FAST_SIGMOID, NM_SURR_ARCTAN, NM_SURR_TRIANGLE,
                                              NM_SURR_SUPERSPIKE, NM_SURR_STRAIGHT_THROUGH};
#define N_KINDS ((int)(sizeof ALL_KINDS / sizeof ALL_KINDS[0]))

/* Distance from x to the nearest corner of sigma' (where sigma is only C1): a central
** difference that straddles one is off by O(k^2 h), so such points are skipped. */
static double kink_distance(nm_surrogate_kind kind, float k, double x) {
    if (kind == NM_SURR_STRAIGHT_THROUGH || kind == NM_SURR_ARCTAN) return INFINITY;
    double d = fabs(x);
    if (kind == NM_SURR_TRIANGLE) d = fmin(d, fabs(fabs(x) - 1.0 / k));
    return d;
}

/* Every surrogate at several slopes: sigma(0) = 1/2, sigma' >= 0 and even, and sigma' equal
** to the central difference of sigma over a grid in kx (the scale on which each surrogate
** varies) and a fixed grid in x, skipping points within 2h of a corner. The step h = 0.01/k
** keeps truncation (h^2 times the third derivative) near 1e-4 of the peak and the float
** rounding of sigma (1e-7 / h) below 1e-3 of it; the arguments are rounded to float first
** and the difference is divided by the rounded step. */
static void test_surrogates_all_kinds(void **st) {
    (void)st;
    const float slopes[] = {0.7f, 1.0f, 2.0f, 25.0f, 100.0f};
    for (int ki = 0; ki < N_KINDS; ki++)
        for (int j = 0; j < 5; j++) {
            const float k = slopes[j];
            nm_surrogate s = {ALL_KINDS[ki], k, 1};
            const char *name = nm_surrogate_name(s.kind);
            float s0 = nm_surrogate_primitive(&s, 0.0f);
            if (s0 != 0.5f) fail_msg("%s k %g: sigma(0) = %.9g", name, k, s0);
            const double peak = nm_surrogate_grad(&s, 0.0f), h = 1e-2 / k;
            int checked = 0;
            for (int grid = 0; grid < 2; grid++)
                for (double z = -4.03; z < 4.04; z += 0.0731) {
                    double x = grid ? z * 0.6 : z / k;
                    if (kink_distance(s.kind, k, x) < 2 * h) continue;
                    float xp = (float)(x + h), xm = (float)(x - h);
                    double fd = ((double)nm_surrogate_primitive(&s, xp) - nm_surrogate_primitive(&s, xm)) / ((double)xp - xm);
                    double g = nm_surrogate_grad(&s, (float)x);
                    if (!near(g, fd, 2e-3 * peak, 0))
                        fail_msg("%s k %g: sigma'(%.6g) = %.9g, finite difference %.9g", name, k, x, g, fd);
                    if (!(g >= 0) || g != nm_surrogate_grad(&s, (float)-x))
                        fail_msg("%s k %g: sigma'(%.6g) = %.9g is negative or not even", name, k, x, g);
                    checked++;
                }
            assert_true(checked > 150);
        }
}

/* Closed-form values of the new surrogates; the triangle's primitive reaches exactly 0 and 1
** at the edges of its support (area 1). */
static void test_surrogate_values(void **st) {
    (void)st;
    nm_surrogate tri = {NM_SURR_TRIANGLE, 1.0f, 0}, tri4 = {NM_SURR_TRIANGLE, 4.0f, 0};
    ASSERT_NEAR(nm_surrogate_grad(&tri, 0.0f), 1.0, 1e-7, 0);
    ASSERT_NEAR(nm_surrogate_grad(&tri, 0.25f), 0.75, 1e-7, 0);
    ASSERT_NEAR(nm_surrogate_grad(&tri, -1.5f), 0.0, 0, 0);
    ASSERT_NEAR(nm_surrogate_primitive(&tri, 0.5f), 0.875, 1e-7, 0);
    ASSERT_NEAR(nm_surrogate_primitive(&tri, -0.5f), 0.125, 1e-7, 0);
    ASSERT_NEAR(nm_surrogate_grad(&tri4, 0.1f), 4.0 * 0.6, 1e-6, 0);
    ASSERT_NEAR(nm_surrogate_grad(&tri4, 0.3f), 0.0, 0, 0);
    ASSERT_NEAR(nm_surrogate_primitive(&tri4, 0.25f), 1.0, 0, 0);
    ASSERT_NEAR(nm_surrogate_primitive(&tri4, -0.25f), 0.0, 0, 0);
    ASSERT_NEAR(nm_surrogate_primitive(&tri4, 7.0f), 1.0, 0, 0);
    ASSERT_NEAR(nm_surrogate_primitive(&tri4, -7.0f), 0.0, 0, 0);
    /* SuperSpike is the fast sigmoid's function with another default scale */
    nm_surrogate ss, fs;
    nm_surrogate_default(&ss, NM_SURR_SUPERSPIKE);
    ASSERT_NEAR(nm_surrogate_grad(&ss, 0.01f), 0.25, 1e-7, 1e-6);
    fs = ss;
    fs.kind = NM_SURR_FAST_SIGMOID;
    for (float x = -0.1f; x < 0.1f; x += 0.0037f) {
        assert_true(nm_surrogate_grad(&ss, x) == nm_surrogate_grad(&fs, x));
        assert_true(nm_surrogate_primitive(&ss, x) == nm_surrogate_primitive(&fs, x));
    }
    nm_surrogate ste = {NM_SURR_STRAIGHT_THROUGH, 2.0f, 0};
    ASSERT_NEAR(nm_surrogate_grad(&ste, 123.0f), 2.0, 0, 0);
    ASSERT_NEAR(nm_surrogate_primitive(&ste, 0.3f), 1.1, 1e-7, 1e-7);
    /* a NaN argument stays visible */
    assert_true(isnan(nm_surrogate_grad(&tri, NAN)) && isnan(nm_surrogate_primitive(&tri, NAN)));
}

static void test_surrogate_names(void **st) {
    (void)st;
    const float defaults[] = {25.0f, 2.0f, 1.0f, 100.0f, 1.0f};
    for (int ki = 0; ki < N_KINDS; ki++) {
        nm_surrogate_kind back = NM_SURR_ARCTAN;
        assert_int_equal(nm_surrogate_parse(nm_surrogate_name(ALL_KINDS[ki]), &back), NM_OK);
        assert_int_equal(back, ALL_KINDS[ki]);
        nm_surrogate s = {NM_SURR_ARCTAN, -1.0f, 1};
        nm_surrogate_default(&s, ALL_KINDS[ki]);
        assert_int_equal(s.kind, ALL_KINDS[ki]);
        assert_true(s.slope == defaults[ki] && s.smooth_forward == 0);
    }
    assert_int_equal((int)NM_SURR_FAST_SIGMOID, 0);   /* stored numbers never move */
    assert_int_equal((int)NM_SURR_ARCTAN, 1);
    assert_string_equal(nm_surrogate_name(NM_SURR_TRIANGLE), "triangle");
    assert_string_equal(nm_surrogate_name(NM_SURR_SUPERSPIKE), "superspike");
    assert_string_equal(nm_surrogate_name(NM_SURR_STRAIGHT_THROUGH), "straight-through");
    assert_string_equal(nm_surrogate_name((nm_surrogate_kind)99), "?");
    nm_surrogate_kind k;
    assert_int_equal(nm_surrogate_parse("ste", &k), NM_OK);
    assert_int_equal(k, NM_SURR_STRAIGHT_THROUGH);
    assert_int_equal(nm_surrogate_parse("atan", &k), NM_OK);
    assert_int_equal(k, NM_SURR_ARCTAN);
    assert_int_equal(nm_surrogate_parse("sigmoid", &k), NM_INVAL);
    const char *want[] = {"'sigmoid'", "fast-sigmoid", "arctan", "triangle", "superspike", "straight-through"};
    for (int i = 0; i < 6; i++)
        if (!strstr(nm_errmsg(), want[i])) fail_msg("message '%s' lacks %s", nm_errmsg(), want[i]);
    assert_int_equal(nm_surrogate_parse("", &k), NM_INVAL);
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

static void check_lif_backward(nm_surrogate s) {
    const int T = 12;
    const int64_t n = 5;
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
                    fail_msg("%s k %g reset %d rows %d: dL/dI[%lld] = %.6g, finite difference %.6g",
                             nm_surrogate_name(s.kind), s.slope, mode, rows, (long long)k, g_I[k], fd);
            }
        }
}

/* Every surrogate through the LIF kernels, with slopes that keep the smooth spikes gentle
** enough for h = 2e-3. */
static void test_lif_backward_finite_difference(void **st) {
    (void)st;
    const nm_surrogate cases[] = {
        {NM_SURR_ARCTAN, 1.3f, 1},     {NM_SURR_FAST_SIGMOID, 2.0f, 1},     {NM_SURR_TRIANGLE, 0.6f, 1},
        {NM_SURR_SUPERSPIKE, 1.5f, 1}, {NM_SURR_STRAIGHT_THROUGH, 0.8f, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_lif_backward(cases[i]);
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
        cmocka_unit_test(test_surrogates_all_kinds),
        cmocka_unit_test(test_surrogate_values),
        cmocka_unit_test(test_surrogate_names),
        cmocka_unit_test(test_lif_backward_finite_difference),
        cmocka_unit_test(test_lif_backward_li_finite_difference),
        cmocka_unit_test(test_params_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
