/*
** sim theory: the Siegert rate of a LIF neuron under white noise and the self-consistent
** rate of Brunel's (2000) model A, against
**   - values of the integral computed to 40 digits with mpmath (the command is below),
**   - the deterministic limit (sigma -> 0) in closed form, with its first correction,
**   - a brute-force trapezoid sum of the integrand written independently here,
**   - monotonicity in mu and sigma,
**   - for model A: the fixed-point equation itself, the uncoupled network (a plain Siegert
**     rate), and Brian2 2.5.1's simulated rates of the same networks.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <neuromorph/sim.h>

#define SQRT_PI 1.7724538509055160273

static void assert_rel(double got, double want, double rtol, const char *what) {
    double err = fabs(got - want);
    if (!(err <= rtol * fabs(want)))
        fail_msg("%s: got %.17g, want %.17g (relative error %.3g > %.3g)", what, got, want, err / fabs(want), rtol);
    printf("PASS %s: %.12g (rel. error %.2g)\n", what, got, want != 0.0 ? err / fabs(want) : err);
}

/* ---- the Siegert rate --------------------------------------------------------------- */

/* 1/nu = t_ref + tau sqrt(pi) int_{(V_r-mu)/sigma}^{(theta-mu)/sigma} e^{u^2}(1 + erf u) du,
** evaluated with mpmath 1.2.1 at mp.dps = 40 (quad over 64 equal pieces, integrand
** exp(u*u)*erfc(-u)), rounded to 17 digits:
**   rate = 1000/(tref + tau*sqrt(pi)*quad(lambda u: exp(u*u)*erfc(-u), linspace(a, b, 65)))
** The cases span the fluctuation-driven regime (rates down to 1e-171 Hz), threshold, the
** mean-driven regime, and another set of potentials (Brette's COBA-like -60/-50 mV). */
static void test_siegert_reference_values(void **state) {
    (void)state;
    static const struct {
        double mu, sigma, tau, theta, V_r, t_ref, rate;
    } ref[] = {
        {15.0, 5.0, 20.0, 20.0, 10.0, 2.0, 9.4607998057591260995},
        {25.0, 5.0, 20.0, 20.0, 10.0, 2.0, 47.217443304138135466},
        {10.0, 2.0, 20.0, 20.0, 10.0, 2.0, 1.9179282992547201899e-9},
        {0.0, 1.0, 20.0, 20.0, 10.0, 2.0, 1.079164690849399017e-171},
        {19.0, 0.5, 20.0, 20.0, 10.0, 2.0, 0.82552988562073360783},
        {5.0, 1.0, 20.0, 20.0, 10.0, 2.0, 8.1144180505876882193e-96},
        {-50.0, 5.0, 10.0, -50.0, -60.0, 5.0, 44.867509403635206683},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "siegert(mu %g, sigma %g) vs mpmath", ref[i].mu, ref[i].sigma);
        assert_rel(nm_lif_siegert_rate(ref[i].mu, ref[i].sigma, ref[i].tau, ref[i].theta, ref[i].V_r, ref[i].t_ref),
                   ref[i].rate, 1e-9, what);
    }
    /* mpmath gives 1.5e-692 Hz for mu = -100, sigma = 3: below the smallest double */
    assert_true(nm_lif_siegert_rate(-100.0, 3.0, 20.0, 20.0, 10.0, 2.0) == 0.0);
}

/* As sigma -> 0 with mu above threshold, y_r = (V_r - mu)/sigma and y_th are large and
** negative, and erfcx(x) = 1/(x sqrt(pi)) (1 - 1/(2x^2) + O(x^-4)), so the integral is
**   (1/sqrt(pi)) [ ln(y_r/y_th) + 1/(4 y_r^2) - 1/(4 y_th^2) ] + O(y^-4),
** whose first term is the deterministic period tau ln((mu - V_r)/(mu - theta)). */
static void test_siegert_deterministic_limit(void **state) {
    (void)state;
    const double tau = 20.0, theta = 20.0, V_r = 10.0, t_ref = 2.0;
    const double mus[] = {20.5, 25.0, 37.3};
    const double sigmas[] = {0.05, 0.01, 1e-3};
    for (int i = 0; i < 3; i++) {
        double mu = mus[i];
        double det = 1000.0 / (t_ref + tau * log((mu - V_r) / (mu - theta)));
        for (int k = 0; k < 3; k++) {
            double s = sigmas[k], yr = (V_r - mu) / s, yt = (theta - mu) / s;
            double I = (log(yr / yt) + 0.25 / (yr * yr) - 0.25 / (yt * yt)) / SQRT_PI;
            double want = 1000.0 / (t_ref + tau * SQRT_PI * I);
            /* the neglected O(y^-4) term: 3/(8 y^4)/sqrt(pi) relative to ln(yr/yt) ~ 1 */
            double rtol = 1e-10 + 3.0 / (yt * yt * yt * yt);
            char what[96];
            snprintf(what, sizeof what, "siegert(mu %g, sigma %g) vs asymptotic", mu, s);
            assert_rel(nm_lif_siegert_rate(mu, s, tau, theta, V_r, t_ref), want, rtol, what);
        }
        assert_rel(nm_lif_siegert_rate(mu, 1e-7, tau, theta, V_r, t_ref), det, 1e-12, "sigma 1e-7: deterministic");
        assert_rel(nm_lif_siegert_rate(mu, 0.0, tau, theta, V_r, t_ref), det, 1e-15, "sigma 0: deterministic");
    }
    /* below threshold and without noise a LIF neuron never fires */
    assert_true(nm_lif_siegert_rate(19.9, 0.0, tau, theta, V_r, t_ref) == 0.0);
}

/* The trapezoid rule on 10^6 + 1 points of e^{u^2} erfc(-u), written from the formula with
** glibc's erfc only (no erfcx, no adaptivity): its error is (h^2/12)(f'(b) - f'(a)), below
** 1e-11 of the integral for these limits (|y| <= 6). */
static double trapezoid_rate(double mu, double sigma, double tau, double theta, double V_r, double t_ref) {
    const int n = 1000000;
    double a = (V_r - mu) / sigma, b = (theta - mu) / sigma, h = (b - a) / n;
    double sum = 0.5 * (exp(a * a) * erfc(-a) + exp(b * b) * erfc(-b));
    for (int i = 1; i < n; i++) {
        double u = a + i * h;
        sum += exp(u * u) * erfc(-u);
    }
    return 1000.0 / (t_ref + tau * SQRT_PI * sum * h);
}

static void test_siegert_vs_trapezoid(void **state) {
    (void)state;
    const double cases[][6] = {
        {17.3, 3.7, 20.0, 20.0, 10.0, 2.0},
        {22.9, 2.3, 14.0, 20.0, 10.0, 3.5},
        {-57.1, 4.2, 10.0, -50.0, -60.0, 5.0},
    };
    for (int i = 0; i < 3; i++) {
        const double *c = cases[i];
        char what[96];
        snprintf(what, sizeof what, "siegert(mu %g, sigma %g) vs trapezoid", c[0], c[1]);
        assert_rel(nm_lif_siegert_rate(c[0], c[1], c[2], c[3], c[4], c[5]),
                   trapezoid_rate(c[0], c[1], c[2], c[3], c[4], c[5]), 1e-9, what);
    }
}

/* The rate rises with the mean input everywhere, and with the noise where firing is
** driven by fluctuations (mu below threshold) as well as above it for these values. */
static void test_siegert_monotonic(void **state) {
    (void)state;
    const double tau = 20.0, theta = 20.0, V_r = 10.0, t_ref = 2.0;
    for (double sigma = 0.5; sigma < 20.0; sigma *= 1.7) {
        double prev = -1.0;
        for (double mu = 5.0; mu <= 40.0; mu += 0.37) {
            double r = nm_lif_siegert_rate(mu, sigma, tau, theta, V_r, t_ref);
            if (!(r > prev || (r == 0.0 && prev == 0.0)))
                fail_msg("rate not increasing in mu at mu %g sigma %g: %g after %g", mu, sigma, r, prev);
            prev = r;
        }
    }
    for (double mu = 12.0; mu <= 30.0; mu += 2.3) {
        double prev = -1.0;
        for (double sigma = 0.8; sigma < 20.0; sigma *= 1.3) {
            double r = nm_lif_siegert_rate(mu, sigma, tau, theta, V_r, t_ref);
            if (!(r > prev)) fail_msg("rate not increasing in sigma at mu %g sigma %g: %g after %g", mu, sigma, r, prev);
            prev = r;
        }
    }
    /* nor can it exceed 1/t_ref */
    assert_true(nm_lif_siegert_rate(1e4, 50.0, tau, theta, V_r, t_ref) < 1000.0 / t_ref);
    printf("PASS siegert monotonic in mu and sigma\n");
}

static void test_siegert_rejects(void **state) {
    (void)state;
    assert_true(isnan(nm_lif_siegert_rate(15.0, -1.0, 20.0, 20.0, 10.0, 2.0)));   /* sigma < 0 */
    assert_true(isnan(nm_lif_siegert_rate(15.0, 5.0, 0.0, 20.0, 10.0, 2.0)));    /* tau 0 */
    assert_true(isnan(nm_lif_siegert_rate(15.0, 5.0, 20.0, 10.0, 20.0, 2.0)));   /* V_r above theta */
    assert_true(isnan(nm_lif_siegert_rate(NAN, 5.0, 20.0, 20.0, 10.0, 2.0)));
    assert_true(isnan(nm_lif_siegert_rate(15.0, 5.0, 20.0, 20.0, 10.0, -1.0)));
}

/* ---- Brunel 2000 model A ------------------------------------------------------------ */

static double phi_of(double nu, double J, double g, double C_E, double C_I, double C_ext, double nu_ext) {
    const double tau = 20.0;
    double r = nu * 1e-3, ext = C_ext * nu_ext * 1e-3;
    double mu = J * tau * (C_E * r + ext - g * C_I * r);
    double var = J * J * tau * (C_E * r + ext + g * g * C_I * r);
    return nm_lif_siegert_rate(mu, sqrt(var), tau, 20.0, 10.0, 2.0);
}

/* The networks of the benchmark (bench.py, ANCHORS.md): N_E = 0.8 N, C_E = 0.1 N_E,
** C_I = C_E/4, C_ext = C_E, J = 0.1 mV, g = 5, eta = 2 so nu_ext = 2 theta/(J C_E tau). */
static void test_brunel_fixed_point(void **state) {
    (void)state;
    const int64_t C_Es[] = {800, 2000, 4000, 8000, 80000};
    double prev = INFINITY;
    for (int i = 0; i < 5; i++) {
        int64_t C_E = C_Es[i], C_I = C_E / 4;
        double nu_ext = 2.0 * 20.0 / (0.1 * (double)C_E * 20.0) * 1000.0;   /* Hz */
        double nu = nm_brunel_rate(0.1, 5.0, C_E, C_I, C_E, nu_ext, 20.0, 20.0, 10.0, 2.0);
        printf("brunel model A, N = %lld: %.6f Hz\n", (long long)(C_E * 125 / 10), nu);
        assert_true(nu > 0.0);
        /* it is a fixed point */
        assert_rel(phi_of(nu, 0.1, 5.0, (double)C_E, (double)C_I, (double)C_E, nu_ext), nu, 1e-9, "nu = phi(nu)");
        /* with J and eta fixed the net inhibitory feedback J tau C_E (g gamma - 1) grows with
        ** C_E, so the rate that keeps mu near threshold falls with N */
        assert_true(nu < prev);
        prev = nu;
    }
}

/* Brian2 2.5.1 simulated the same networks for 1 s (ANCHORS.md, measured again for
** bench/RESULTS.md): 42.23 Hz at N = 10,000 and 13.5 Hz at 50,000. The diffusion
** approximation ignores the finite PSP size J/(theta - V_r) = 1 % and the correlations of
** a finite network; it lands within a few percent. */
static void test_brunel_vs_simulation(void **state) {
    (void)state;
    double nu10 = nm_brunel_rate(0.1, 5.0, 800, 200, 800, 25.0, 20.0, 20.0, 10.0, 2.0);
    double nu50 = nm_brunel_rate(0.1, 5.0, 4000, 1000, 4000, 5.0, 20.0, 20.0, 10.0, 2.0);
    assert_rel(nu10, 42.2349, 0.05, "brunel 10k vs Brian2 simulation");
    assert_rel(nu50, 13.5, 0.08, "brunel 50k vs Brian2 simulation");
}

/* Without recurrent synapses the network rate is the Siegert rate of the external drive. */
static void test_brunel_uncoupled(void **state) {
    (void)state;
    const double J = 0.2, nu_ext = 13.7;   /* Hz */
    const int64_t C_ext = 1234;
    double ext = (double)C_ext * nu_ext * 1e-3;
    double mu = J * 20.0 * ext, sigma = sqrt(J * J * 20.0 * ext);
    double want = nm_lif_siegert_rate(mu, sigma, 20.0, 20.0, 10.0, 2.0);
    assert_true(want > 1.0);
    assert_rel(nm_brunel_rate(J, 5.0, 0, 0, C_ext, nu_ext, 20.0, 20.0, 10.0, 2.0), want, 1e-9, "uncoupled brunel");
    /* no input at all: silence */
    assert_true(nm_brunel_rate(J, 5.0, 100, 25, 0, 0.0, 20.0, 20.0, 10.0, 2.0) == 0.0);
}

static void test_brunel_rejects(void **state) {
    (void)state;
    assert_true(nm_brunel_rate(0.1, 5.0, -1, 200, 800, 25.0, 20.0, 20.0, 10.0, 2.0) == -1.0);
    assert_true(nm_brunel_rate(0.1, 5.0, 800, 200, 800, -25.0, 20.0, 20.0, 10.0, 2.0) == -1.0);
    assert_true(nm_brunel_rate(0.1, 5.0, 800, 200, 800, 25.0, 20.0, 20.0, 10.0, 0.0) == -1.0);
    assert_true(nm_brunel_rate(0.1, 5.0, 800, 200, 800, 25.0, 20.0, 10.0, 20.0, 2.0) == -1.0);
    assert_true(nm_brunel_rate(NAN, 5.0, 800, 200, 800, 25.0, 20.0, 20.0, 10.0, 2.0) == -1.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siegert_reference_values),
        cmocka_unit_test(test_siegert_deterministic_limit),
        cmocka_unit_test(test_siegert_vs_trapezoid),
        cmocka_unit_test(test_siegert_monotonic),
        cmocka_unit_test(test_siegert_rejects),
        cmocka_unit_test(test_brunel_fixed_point),
        cmocka_unit_test(test_brunel_vs_simulation),
        cmocka_unit_test(test_brunel_uncoupled),
        cmocka_unit_test(test_brunel_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
