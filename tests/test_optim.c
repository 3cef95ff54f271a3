/*
** SGD (PyTorch's update rules), gradient clipping and learning-rate schedules against
** hand-computed and closed-form values.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <neuromorph/train.h>

static int near(double a, double b, double atol, double rtol) { return fabs(a - b) <= atol + rtol * fabs(b); }

#define ASSERT_NEAR(a, b, atol, rtol)                                                                      \
    do {                                                                                                   \
        double a_ = (a), b_ = (b);                                                                         \
        if (!near(a_, b_, atol, rtol)) fail_msg("%s = %.9g, expected %.9g (%s:%d)", #a, a_, b_, __FILE__, __LINE__); \
    } while (0)

/* ---- SGD ---------------------------------------------------------------- */

/* Three steps at lr 0.1 from w = (1, -2, 0.5) with gradients g1, g2, g3 (fixed, not
** functions of w). expect[t] is w after step t + 1, worked out by hand (exact decimals):
**
**   plain        w -= 0.1 g                      w1 = (0.95, -1.9, 0.3)
**   momentum     b1 = g1, b = 0.9 b + g          b2 = (1.45, -0.9, 0.8), w2 = w1 - 0.1 b2
**   Nesterov     w -= 0.1 (g + 0.9 b)            d1 = 1.9 g1 = (0.95, -1.9, 3.8)
**   decay        g' = g + 0.1 w                  g1' = (0.6, -1.2, 2.05), w1 = (0.94, -1.88, 0.295)
**   all three    mu 0.5, wd 0.1, Nesterov        b1 = g1', d1 = 1.5 g1' = (0.9, -1.8, 3.075) */
static void check_sgd(float mu, float wd, int nesterov, const double expect[3][3]) {
    const float g[3][3] = {{0.5f, -1.0f, 2.0f}, {1.0f, 0.0f, -1.0f}, {-0.5f, 0.25f, 0.0f}};
    float w[3] = {1.0f, -2.0f, 0.5f};
    nm_sgd *s;
    assert_int_equal(nm_sgd_create(3, mu, &s), NM_OK);
    assert_true(s->weight_decay == 0.0f && s->nesterov == 0 && s->t == 0);
    s->weight_decay = wd;
    s->nesterov = nesterov;
    for (int t = 0; t < 3; t++) {
        nm_sgd_step(s, w, g[t], 0.1f);
        for (int i = 0; i < 3; i++)
            if (!near(w[i], expect[t][i], 1e-6, 1e-6))
                fail_msg("mu %g wd %g nesterov %d: step %d w[%d] = %.9g, expected %.9g", mu, wd, nesterov, t + 1, i,
                         w[i], expect[t][i]);
    }
    assert_int_equal(s->t, 3);
    nm_sgd_destroy(s);
}

static void test_sgd_hand_computed(void **st) {
    (void)st;
    const double plain[3][3] = {{0.95, -1.9, 0.3}, {0.85, -1.9, 0.4}, {0.9, -1.925, 0.4}};
    const double momentum[3][3] = {{0.95, -1.9, 0.3}, {0.805, -1.81, 0.22}, {0.7245, -1.754, 0.148}};
    const double nesterov[3][3] = {{0.905, -1.81, 0.12}, {0.6745, -1.729, 0.148}, {0.65205, -1.7036, 0.0832}};
    const double decay[3][3] = {{0.94, -1.88, 0.295}, {0.8306, -1.8612, 0.39205}, {0.872294, -1.867588, 0.3881295}};
    const double all[3][3] = {{0.91, -1.82, 0.1925},
                              {0.73135, -1.7627, 0.2883625},
                              {0.76060475, -1.7542095, 0.2829308125}};
    check_sgd(0.0f, 0.0f, 0, plain);
    check_sgd(0.9f, 0.0f, 0, momentum);
    check_sgd(0.9f, 0.0f, 1, nesterov);
    check_sgd(0.0f, 0.1f, 0, decay);
    check_sgd(0.5f, 0.1f, 1, all);
}

/* f(w) = sum a_i (w_i - c_i)^2 / 2 with curvatures a in [0.01, 1] (condition number 100)
** at lr 1: heavy-ball momentum 0.9 contracts by about sqrt(0.9) per step and reaches the
** minimum in a few hundred steps, where plain SGD (1 - 0.01 per step on the flattest
** direction) is still far off; Nesterov converges too. */
static double quad_run(float mu, int nesterov, int steps) {
    enum { N = 16 };
    float w[N], g[N], a[N], c[N];
    for (int i = 0; i < N; i++) {
        a[i] = 0.01f * powf(100.0f, (float)i / (N - 1));
        c[i] = (float)sin(1.7 * i + 0.4);
        w[i] = 0.0f;
    }
    nm_sgd *s;
    assert_int_equal(nm_sgd_create(N, mu, &s), NM_OK);
    s->nesterov = nesterov;
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < N; i++) g[i] = a[i] * (w[i] - c[i]);
        nm_sgd_step(s, w, g, 1.0f);
    }
    nm_sgd_destroy(s);
    double err = 0;
    for (int i = 0; i < N; i++) err = fmax(err, fabs(w[i] - c[i]));
    return err;
}

static void test_sgd_quadratic_converges(void **st) {
    (void)st;
    double heavy = quad_run(0.9f, 0, 400), nest = quad_run(0.9f, 1, 400), plain = quad_run(0.0f, 0, 400);
    if (!(heavy < 1e-5)) fail_msg("momentum: max |w - c| = %g after 400 steps", heavy);
    if (!(nest < 1e-5)) fail_msg("Nesterov: max |w - c| = %g after 400 steps", nest);
    if (!(plain > 1e-3)) fail_msg("plain SGD: max |w - c| = %g; the problem is too easy to tell", plain);
}

static void test_sgd_rejects(void **st) {
    (void)st;
    nm_sgd *s = NULL;
    assert_int_equal(nm_sgd_create(4, -0.1f, &s), NM_RANGE);
    assert_non_null(strstr(nm_errmsg(), "momentum"));
    assert_int_equal(nm_sgd_create(4, 1.0f, &s), NM_RANGE);
    assert_int_equal(nm_sgd_create(4, NAN, &s), NM_RANGE);
    assert_null(s);
    assert_int_equal(nm_sgd_create(0, 0.9f, &s), NM_OK);   /* empty is fine */
    nm_sgd_step(s, NULL, NULL, 0.1f);
    nm_sgd_destroy(s);
    nm_sgd_destroy(NULL);
}

/* The same result with 1 thread and with 4 (elementwise kernels). */
static void test_sgd_threads(void **st) {
    (void)st;
    enum { N = 10007 };
    float *w[2], *g = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) g[i] = (float)sin(0.37 * i);
    double norms[2];
    for (int r = 0; r < 2; r++) {
        nm_set_threads(r ? 4 : 1);
        w[r] = malloc(sizeof(float) * N);
        float *gg = malloc(sizeof(float) * N);
        for (int i = 0; i < N; i++) w[r][i] = (float)cos(0.11 * i);
        nm_sgd *s;
        assert_int_equal(nm_sgd_create(N, 0.9f, &s), NM_OK);
        s->weight_decay = 1e-3f;
        s->nesterov = 1;
        for (int t = 0; t < 5; t++) {
            memcpy(gg, g, sizeof(float) * N);
            norms[r] = nm_clip_grad_norm(gg, N, 10.0);
            nm_sgd_step(s, w[r], gg, 0.05f);
        }
        nm_sgd_destroy(s);
        free(gg);
    }
    nm_set_threads(0);
    assert_true(norms[0] == norms[1]);
    assert_memory_equal(w[0], w[1], sizeof(float) * N);
    free(w[0]);
    free(w[1]);
    free(g);
}

/* ---- clipping ----------------------------------------------------------- */

static double l2(const float *g, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

static void test_clip_grad_norm(void **st) {
    (void)st;
    float g[3] = {3.0f, 4.0f, 0.0f};
    ASSERT_NEAR(nm_clip_grad_norm(g, 3, 1.0), 5.0, 0, 1e-15);
    ASSERT_NEAR(g[0], 0.6, 1e-7, 0);
    ASSERT_NEAR(g[1], 0.8, 1e-7, 0);
    assert_true(g[2] == 0.0f);
    ASSERT_NEAR(l2(g, 3), 1.0, 0, 1e-6);

    /* below (and at) the bound nothing changes, bit for bit */
    float h[3] = {0.3f, -0.4f, 0.0f}, keep[3];
    memcpy(keep, h, sizeof h);
    double nh = nm_clip_grad_norm(h, 3, 1.0);
    ASSERT_NEAR(nh, 0.5, 0, 1e-7);
    assert_memory_equal(h, keep, sizeof h);
    nm_clip_grad_norm(h, 3, nh);
    assert_memory_equal(h, keep, sizeof h);

    /* a longer vector: scaled to max_norm, direction kept */
    enum { N = 1000 };
    float v[N], v0[N];
    for (int i = 0; i < N; i++) v0[i] = v[i] = (float)(sin(0.9 * i) * (1 + i % 7));
    double n0 = l2(v0, N), n = nm_clip_grad_norm(v, N, 2.5);
    ASSERT_NEAR(n, n0, 0, 1e-12);
    ASSERT_NEAR(l2(v, N), 2.5, 0, 1e-6);
    for (int i = 0; i < N; i++) ASSERT_NEAR(v[i], v0[i] * 2.5 / n0, 1e-7, 1e-6);

    /* a non-finite norm is reported and the gradients are left as they are */
    float bad[2] = {INFINITY, 1.0f};
    assert_true(isinf(nm_clip_grad_norm(bad, 2, 1.0)));
    assert_true(isinf(bad[0]) && bad[1] == 1.0f);
    float nan_[2] = {NAN, 1.0f};
    assert_true(isnan(nm_clip_grad_norm(nan_, 2, 1.0)));
    assert_true(nan_[1] == 1.0f);
    assert_true(nm_clip_grad_norm(NULL, 0, 1.0) == 0.0);
}

static void test_clip_grad_value(void **st) {
    (void)st;
    float g[6] = {-3.0f, 0.5f, 2.0f, -0.1f, 1.0f, NAN};
    nm_clip_grad_value(g, 6, 1.0f);
    const float want[5] = {-1.0f, 0.5f, 1.0f, -0.1f, 1.0f};
    assert_memory_equal(g, want, sizeof want);
    assert_true(isnan(g[5]));
    float z[2] = {-2.0f, 3.0f};
    nm_clip_grad_value(z, 2, 0.0f);
    assert_true(z[0] == 0.0f && z[1] == 0.0f);
}

/* ---- learning-rate schedules -------------------------------------------- */

/* nm_train's cosine schedule as it was written (src/train/trainer.c, lr_at). */
static float trainer_cosine(float lr, float lr_final, int64_t step, int64_t total) {
    double lo = (double)lr * lr_final, frac = total > 1 ? (double)step / (double)(total - 1) : 1.0;
    return (float)(lo + 0.5 * ((double)lr - lo) * (1.0 + cos(3.14159265358979323846 * frac)));
}

static void test_schedules(void **st) {
    (void)st;
    const double pi = 3.14159265358979323846;
    nm_lr_schedule s = {NM_SCHED_CONSTANT, 0.1f, 0.01f, 0.5f, 2, 0};
    const int64_t total = 101, per_epoch = 10;

    for (int64_t t = 0; t < 200; t += 7) ASSERT_NEAR(nm_lr_at(&s, t, total, per_epoch), 0.1, 0, 1e-7);

    /* cosine: lr at the start, halfway between lr and lr f in the middle, lr f at the end */
    s.kind = NM_SCHED_COSINE;
    const double lr = 0.1f, lo = (double)0.1f * 0.01f;
    ASSERT_NEAR(nm_lr_at(&s, 0, total, per_epoch), lr, 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 50, total, per_epoch), (lr + lo) / 2, 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 25, total, per_epoch), lo + (lr - lo) * (1 + cos(pi / 4)) / 2, 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 100, total, per_epoch), lo, 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 250, total, per_epoch), lo, 0, 1e-7);   /* past the end: stays at lr f */
    ASSERT_NEAR(nm_lr_at(&s, 0, 1, per_epoch), lo, 0, 1e-7);         /* one step: p = 1 */
    /* ... and the same float as the trainer's formula, everywhere */
    const float lrs[] = {0.1f, 2e-3f, 0.7f}, finals[] = {0.01f, 0.0f, 1.0f, 0.37f};
    const int64_t totals[] = {1, 2, 3, 101, 4680, 12345};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 6; c++) {
                nm_lr_schedule q = {NM_SCHED_COSINE, lrs[a], finals[b], 0.1f, 1, 0};
                for (int64_t t = 0; t < totals[c]; t += 1 + totals[c] / 97) {
                    float got = nm_lr_at(&q, t, totals[c], 10), want = trainer_cosine(lrs[a], finals[b], t, totals[c]);
                    if (got != want) fail_msg("cosine lr %g f %g step %lld/%lld: %.9g, trainer %.9g", lrs[a], finals[b],
                                              (long long)t, (long long)totals[c], got, want);
                }
            }

    s.kind = NM_SCHED_LINEAR;
    ASSERT_NEAR(nm_lr_at(&s, 0, total, per_epoch), lr, 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 50, total, per_epoch), lr * (1 - (1 - (double)0.01f) * 0.5), 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 30, total, per_epoch), lr * (1 - (1 - (double)0.01f) * 0.3), 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 100, total, per_epoch), lo, 0, 1e-7);

    /* step: gamma 0.5 every 2 epochs of 10 steps */
    s.kind = NM_SCHED_STEP;
    const int64_t steps[] = {0, 9, 19, 20, 39, 40, 59, 60, 99, 100};
    const double want[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.00625, 0.003125};
    for (int i = 0; i < 10; i++) ASSERT_NEAR(nm_lr_at(&s, steps[i], total, per_epoch), want[i], 0, 1e-7);
    s.step_every = 1;
    ASSERT_NEAR(nm_lr_at(&s, 35, total, per_epoch), 0.1 / 8, 0, 1e-7);
    s.step_every = 0;   /* counts as 1 */
    ASSERT_NEAR(nm_lr_at(&s, 35, total, per_epoch), 0.1 / 8, 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 3, total, 0), 0.1 / 8, 0, 1e-7);   /* per_epoch 0 counts as 1 */
}

static void test_warmup(void **st) {
    (void)st;
    nm_lr_schedule s = {NM_SCHED_CONSTANT, 0.1f, 0.01f, 0.5f, 1, 5};
    for (int64_t t = 0; t < 5; t++) ASSERT_NEAR(nm_lr_at(&s, t, 100, 10), 0.1 * (t + 1) / 5.0, 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 5, 100, 10), 0.1, 0, 1e-7);
    ASSERT_NEAR(nm_lr_at(&s, 60, 100, 10), 0.1, 0, 1e-7);
    /* warm-up scales the schedule underneath it */
    nm_lr_schedule c = s;
    c.kind = NM_SCHED_COSINE;
    c.warmup = 0;
    s.kind = NM_SCHED_COSINE;
    for (int64_t t = 0; t < 5; t++) ASSERT_NEAR(nm_lr_at(&s, t, 100, 10), nm_lr_at(&c, t, 100, 10) * (t + 1) / 5.0, 0, 1e-7);
    for (int64_t t = 5; t < 100; t += 3) assert_true(nm_lr_at(&s, t, 100, 10) == nm_lr_at(&c, t, 100, 10));
    s.kind = NM_SCHED_STEP;
    s.warmup = 20;   /* longer than the first drop */
    ASSERT_NEAR(nm_lr_at(&s, 14, 100, 10), 0.05 * 15 / 20.0, 0, 1e-7);
}

static void test_sched_names(void **st) {
    (void)st;
    const nm_sched_kind kinds[] = {NM_SCHED_CONSTANT, NM_SCHED_COSINE, NM_SCHED_LINEAR, NM_SCHED_STEP};
    for (int i = 0; i < 4; i++) {
        nm_sched_kind back = NM_SCHED_COSINE;
        assert_int_equal(nm_sched_parse(nm_sched_name(kinds[i]), &back), NM_OK);
        assert_int_equal(back, kinds[i]);
    }
    assert_string_equal(nm_sched_name(NM_SCHED_STEP), "step");
    assert_string_equal(nm_sched_name((nm_sched_kind)42), "?");
    nm_sched_kind k;
    assert_int_equal(nm_sched_parse("exponential", &k), NM_INVAL);
    const char *want[] = {"'exponential'", "constant", "cosine", "linear", "step"};
    for (int i = 0; i < 5; i++)
        if (!strstr(nm_errmsg(), want[i])) fail_msg("message '%s' lacks %s", nm_errmsg(), want[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_hand_computed),
        cmocka_unit_test(test_sgd_quadratic_converges),
        cmocka_unit_test(test_sgd_rejects),
        cmocka_unit_test(test_sgd_threads),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_clip_grad_value),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_warmup),
        cmocka_unit_test(test_sched_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
