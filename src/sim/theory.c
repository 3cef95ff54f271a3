/*
** Mean-field theory of LIF networks: the Siegert rate of a LIF neuron driven by white
** noise, and the self-consistent rate of Brunel's (2000) model A. The simulator's tests
** compare a simulated Brunel network with these; the benchmark notes quote them.
**
** The Siegert integral (Brunel 2000, J. Comput. Neurosci. 8:183, eq. 21)
**   1/nu = t_ref + tau sqrt(pi) int_{y_r}^{y_th} e^{u^2} (1 + erf u) du,
**   y = (V - mu) / sigma,
** has an integrand that overflows for large u and loses every digit to cancellation for
** very negative u if written as printed. Both go away with 1 + erf u = erfc(-u):
**   e^{u^2} (1 + erf u) = erfcx(-u),   erfcx(x) = e^{x^2} erfc(x),
** which is bounded by 1 for u <= 0 and decays like 1/(|u| sqrt(pi)) there. When the
** upper limit y_th is positive the integrand grows like 2 e^{u^2}; the integral is then
** written e^{y_th^2} times the integral of e^{u^2 - y_th^2} erfc(-u), which is at most 2,
** and the factor is kept in the logarithm until the end, so a rate of 1e-300 Hz comes
** out as a number, not as an overflow.
**
** Quadrature: adaptive Simpson with Richardson's correction over 64 fixed panels, to a
** relative tolerance of 1e-12 of the whole integral (the integrand is smooth and every
** panel is checked on its own, so a narrow peak at the upper end cannot be missed); the
** stretch u < -1 in the variable ln(-u), where the integrand is nearly flat. Against
** 40-digit values the rate is good to ~1e-15 relative; a call costs 250-7000 integrand
** evaluations (a few to 100 microseconds).
**
** Model A: identical E and I neurons, delta synapses of J (E) and -g J (I), in-degrees
** C_E and C_I, C_ext external Poisson sources at nu_ext each (eqs. 4-5):
**   mu      = J tau (C_E nu + C_ext nu_ext - g C_I nu)
**   sigma^2 = J^2 tau (C_E nu + C_ext nu_ext + g^2 C_I nu)     (rates in 1/ms)
** The fixed point nu = phi(nu) is found by bisection on h(nu) = nu - phi(nu) over
** [0, 1/t_ref]: h(0) <= 0 and h(1/t_ref) > 0, so a root is always bracketed; where
** excitation dominates and several roots exist, the lowest one is taken (the grid scan
** below finds the first sign change).
*/
#include <float.h>
#include <math.h>
#include <stdint.h>

#include <neuromorph/sim.h>

#define SQRT_PI 1.7724538509055160273

/* ---- the scaled complementary error function ---------------------------------------- */

/* erfcx(x) = e^{x^2} erfc(x) for x >= 0, to a few ulp. Below 10 the product is exact
** enough: glibc's erfc has a small relative error down to its underflow near x = 26, and
** e^{x^2} loses only |x^2| * eps. From 10 on the asymptotic series
**   erfcx(x) = 1/(x sqrt(pi)) sum_k (-1)^k (2k-1)!! / (2x^2)^k
** converges to below 1e-18 within 15 terms (its smallest term is near k = x^2). */
static double erfcx_pos(double x) {
    if (x < 10.0) return exp(x * x) * erfc(x);
    double r = 1.0 / (2.0 * x * x), term = 1.0, sum = 1.0;
    for (int k = 1; k < 40; k++) {
        term *= -(2.0 * k - 1.0) * r;
        sum += term;
        if (fabs(term) < 1e-18) break;
    }
    return sum / (x * SQRT_PI);
}

/* ---- the Siegert integral ----------------------------------------------------------- */

/* The integrand e^{u^2} (1 + erf u) scaled by e^{-s}: s = b^2 when the upper limit b is
** positive (so the values stay <= 2), 0 otherwise. In the log mode the variable is t with
** u = -e^t (du = -e^t dt), for the stretch u <= -1: there erfcx(-u) ~ 1/(|u| sqrt(pi)),
** so the integrand in t is nearly constant (-> 1/sqrt(pi)) and an interval of many decades
** (tiny sigma) costs no more than a short one. */
typedef struct siegert_f {
    double s, b;   /* the scale s (b^2 or 0) and the upper limit b */
    int    log_mode;
} siegert_f;

static double integrand(const siegert_f *f, double x) {
    double v;
    if (f->log_mode) {
        double w = exp(x);
        v = erfcx_pos(w) * w;
    } else if (x <= 0.0) {
        v = erfcx_pos(-x);
    } else {
        /* x > 0 only happens when the upper limit b is positive and s = b^2 >= x^2;
        ** x^2 - b^2 as (x - b)(x + b), exact to a few ulp of itself even near b = 40,
        ** where x * x - s would carry 1e-13 of absolute rounding into the exponent */
        return exp((x - f->b) * (x + f->b)) * erfc(-x);
    }
    return f->s > 0.0 ? v * exp(-f->s) : v;
}

/* Simpson on [a, a + h] with Richardson's correction, halving until the two halves agree
** with the whole to `tol`. The width is passed and halved (exact in binary) rather than
** recomputed from rounded end points: at x ~ 40 a width of 1e-10 recomputed as b - a is
** off by 1e-5 of itself, and the halves would never agree with the whole. The recursion
** also stops at the rounding floor below. */
static double simpson_rec(const siegert_f *f, double a, double h, double fa, double fm, double fb, double whole,
                          double tol, int depth) {
    double h2 = 0.5 * h;
    double flm = integrand(f, a + 0.5 * h2), frm = integrand(f, a + 1.5 * h2);
    double left = h2 / 6.0 * (fa + 4.0 * flm + fm), right = h2 / 6.0 * (fm + 4.0 * frm + fb);
    double diff = left + right - whole;
    /* The floor: a point x is only known to an ulp, which moves the exponent x^2 of the
    ** integrand by 2 x^2 eps, so no two estimates agree better than that. */
    double floor = 8.0 * DBL_EPSILON * (1.0 + a * a) * fabs(left + right);
    if (depth <= 0 || fabs(diff) <= 15.0 * tol || fabs(diff) <= floor) return left + right + diff / 15.0;
    return simpson_rec(f, a, h2, fa, flm, fm, left, 0.5 * tol, depth - 1) +
           simpson_rec(f, a + h2, h2, fm, frm, fb, right, 0.5 * tol, depth - 1);
}

/* int_a^b of f, a <= b, to about rel of the panels' first estimate (plus abs). */
static double integrate(const siegert_f *f, double a, double b, double rel, double abs_tol) {
    enum { PANELS = 64 };
    if (!(b > a)) return 0.0;
    double h = (b - a) / PANELS;
    double fx[PANELS + 1], fm[PANELS], s[PANELS], total = 0.0;
    for (int i = 0; i <= PANELS; i++) fx[i] = integrand(f, a + i * h);
    for (int i = 0; i < PANELS; i++) {
        fm[i] = integrand(f, a + (i + 0.5) * h);
        s[i] = h / 6.0 * (fx[i] + 4.0 * fm[i] + fx[i + 1]);
        total += s[i];
    }
    /* the tolerance is shared among the panels */
    double tol = (rel * fabs(total) + abs_tol) / PANELS, sum = 0.0;
    for (int i = 0; i < PANELS; i++) {
        sum += simpson_rec(f, a + i * h, h, fx[i], fm[i], fx[i + 1], s[i], tol, 30);
    }
    return sum;
}

/* int_a^b e^{u^2} (1 + erf u) du scaled by e^{-s}, a < b: the stretch below -1 in the
** log variable, the rest directly. The direct part is done first so that its size sets
** an absolute tolerance for the other. */
static double siegert_integral(double a, double b, double s) {
    const double rel = 1e-12;
    siegert_f lin = {s, b, 0}, lg = {s, b, 1};
    double I_lin = 0.0, I_log = 0.0;
    double c = b < -1.0 ? b : -1.0;   /* the log stretch is [a, c] when a < c */
    if (b > -1.0) I_lin = integrate(&lin, a > -1.0 ? a : -1.0, b, rel, 0.0);
    if (a < c) I_log = integrate(&lg, log(-c), log(-a), rel, rel * I_lin);
    return I_lin + I_log;
}

double nm_lif_siegert_rate(double mu, double sigma, double tau, double theta, double V_r, double t_ref) {
    if (!isfinite(mu) || !isfinite(sigma) || !isfinite(tau) || !isfinite(theta) || !isfinite(V_r) ||
        !isfinite(t_ref) || tau <= 0.0 || t_ref < 0.0 || sigma < 0.0 || V_r >= theta)
        return NAN;
    double a = sigma > 0.0 ? (V_r - mu) / sigma : -INFINITY;
    double b = sigma > 0.0 ? (theta - mu) / sigma : -INFINITY;
    /* No noise (or so little that y overflows): the deterministic limit. erfcx(x) =
    ** 1/(x sqrt(pi)) (1 - 1/(2x^2) + ...) makes the integral ln(a/b)/sqrt(pi), i.e. the
    ** time to threshold tau ln((mu - V_r)/(mu - theta)); below threshold the rate is 0. */
    if (!(isfinite(a) && isfinite(b))) {
        if (mu <= theta) return 0.0;
        return 1000.0 / (t_ref + tau * log((mu - V_r) / (mu - theta)));
    }
    if (b > 1e4) return 0.0;   /* e^{-10^8}: far below anything a double holds */
    double s = b > 0.0 ? b * b : 0.0;
    double I = siegert_integral(a, b, s);
    if (!(I > 0.0)) return NAN;
    /* 1/nu = t_ref + tau sqrt(pi) e^{s} I, in ms; beyond e^700 the rate is 0 to double precision */
    double log_T = log(tau * SQRT_PI * I) + s;
    if (log_T > 700.0) return 0.0;
    return 1000.0 / (t_ref + exp(log_T));
}

/* ---- Brunel 2000 model A ------------------------------------------------------------ */

typedef struct brunel_p {
    double J, g, C_E, C_I, C_ext, nu_ext, tau, theta, V_r, t_ref;
} brunel_p;

/* h(nu) = nu - phi(nu) for a network rate nu in Hz. */
static double brunel_h(const brunel_p *p, double nu_hz) {
    double nu = nu_hz * 1e-3, ext = p->C_ext * p->nu_ext * 1e-3;   /* 1/ms */
    double mu = p->J * p->tau * (p->C_E * nu + ext - p->g * p->C_I * nu);
    double var = p->J * p->J * p->tau * (p->C_E * nu + ext + p->g * p->g * p->C_I * nu);
    double phi = nm_lif_siegert_rate(mu, sqrt(var), p->tau, p->theta, p->V_r, p->t_ref);
    return nu_hz - phi;
}

double nm_brunel_rate(double J, double g, int64_t C_E, int64_t C_I, int64_t C_ext, double nu_ext, double tau,
                      double theta, double V_r, double t_ref) {
    if (!isfinite(J) || !isfinite(g) || !isfinite(nu_ext) || !isfinite(tau) || !isfinite(theta) ||
        !isfinite(V_r) || !isfinite(t_ref) || C_E < 0 || C_I < 0 || C_ext < 0 || nu_ext < 0.0 || g < 0.0 ||
        tau <= 0.0 || t_ref <= 0.0 || V_r >= theta)
        return -1.0;
    brunel_p p = {J, g, (double)C_E, (double)C_I, (double)C_ext, nu_ext, tau, theta, V_r, t_ref};
    double nu_max = 1000.0 / t_ref;
    /* Scan a grid that is fine at low rates (where AI states live) for the first sign
    ** change of h: h(0) <= 0, h(nu_max) > 0 since phi < 1/t_ref. */
    double lo = 0.0, hlo = brunel_h(&p, 0.0);
    if (isnan(hlo)) return -1.0;
    if (hlo == 0.0) return 0.0;
    double hi = -1.0;
    enum { GRID = 200 };
    for (int i = 1; i <= GRID; i++) {
        double x = i / (double)GRID;
        double nu = nu_max * x * x * x;   /* cubic spacing: 0.1 % of nu_max at x = 0.1 */
        double h = brunel_h(&p, nu);
        if (isnan(h)) return -1.0;
        if (h >= 0.0) {
            hi = nu;
            break;
        }
        lo = nu;
    }
    if (hi < 0.0) return -1.0;
    /* bisection to a relative width of 1e-12 (or 1e-12 Hz) */
    for (int it = 0; it < 200 && hi - lo > 1e-12 * (1.0 + hi); it++) {
        double mid = 0.5 * (lo + hi), h = brunel_h(&p, mid);
        if (isnan(h)) return -1.0;
        if (h < 0.0)
            lo = mid;
        else
            hi = mid;
    }
    if (hi - lo > 1e-9 * (1.0 + hi)) return -1.0;
    return 0.5 * (lo + hi);
}
