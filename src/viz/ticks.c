/*
** ticks.c: where an axis puts its ticks and how it labels them.
**
** Linear axes step by 1, 2 or 5 times a power of ten, taking the finest such step that
** keeps the number of intervals between ticks at or below a target; the caller derives the target from
** the axis length in pixels and lowers it while labels would touch. Labels carry as many
** decimals as the step needs and no more, so an axis reads "0.0 0.2 0.4", never
** "0 0.2 0.4000000001". Very large or very small values share one factor ("x10^-4",
** shown once by the caller) instead of repeating exponents on every tick.
**
** Log axes label decades as 10^k (the exponent is drawn raised, so it comes back in
** `sup`), every m-th decade when there are many, with minor ticks at 2..9 x 10^k. A log
** range under two decades gets 1-2-5 ticks with plain numbers instead.
*/
#include "viz_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MINUS "\xe2\x88\x92" /* U+2212, as wide as a plus sign, as typeset */
#define TIMES "\xc3\x97"

/* Multiples of st inside [lo, hi], give or take rounding: the first and the count. */
static double first_multiple(double lo, double st) { return ceil(lo / st - 1e-9); }
static double n_multiples(double lo, double hi, double st) { return floor(hi / st + 1e-9) - first_multiple(lo, st) + 1; }

int nm__viz_nice_ticks(double lo, double hi, int target, double *out, int cap, double *step) {
    NM_ASSERT(hi > lo && target >= 1 && cap > 0);
    /* Candidates from a tenth of the even split upwards; any step >= (hi - lo) / target
    ** qualifies, so the loop ends within two decades. */
    static const double mult[3] = {1, 2, 5};
    double mag = pow(10.0, floor(log10((hi - lo) / target)) - 1), st = mag;
    for (int i = 0; i < 9; i++) {
        st = mult[i % 3] * mag * pow(10.0, i / 3);
        if (n_multiples(lo, hi, st) - 1 <= target) break;
    }
    double i0 = first_multiple(lo, st), n_all = n_multiples(lo, hi, st);
    int n = 0;
    for (double i = 0; i < n_all && n < cap; i++) {
        double v = (i0 + i) * st;
        out[n++] = v == 0 ? 0.0 : v; /* never -0 */
    }
    *step = st;
    return n;
}

/* |v| with `dec` decimals, signed with U+2212 unless it rounds to zero. */
static void put_fixed(char *buf, size_t cap, double v, int dec) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.*f", dec, fabs(v));
    int zero = strspn(tmp, "0.") == strlen(tmp);
    snprintf(buf, cap, "%s%s", v < 0 && !zero ? MINUS : "", tmp);
}

/* Exponent text for a superscript: "-4" with U+2212. */
static void put_exponent(char *buf, size_t cap, int e) {
    snprintf(buf, cap, "%s%d", e < 0 ? MINUS : "", e < 0 ? -e : e);
}

int nm__viz_label_linear(nm__viz_tick *t, int n, double step) {
    double mag = 0;
    for (int i = 0; i < n; i++) mag = fmax(mag, fabs(t[i].v));
    int e = 0;
    if (mag >= 1e6 || (mag > 0 && mag < 1e-3)) e = (int)floor(log10(mag));
    double scale = pow(10.0, e);
    int dec = (int)-floor(log10(step / scale) + 1e-9);
    dec = dec < 0 ? 0 : dec > 15 ? 15 : dec;
    for (int i = 0; i < n; i++) {
        put_fixed(t[i].buf, sizeof t[i].buf, t[i].v / scale, dec);
        t[i].text = t[i].buf;
        t[i].sup[0] = '\0';
    }
    return e;
}

void nm__viz_label_value(nm__viz_tick *t, double v) {
    char tmp[32];
    double a = fabs(v);
    t->text = t->buf;
    t->sup[0] = '\0';
    if (a == 0 || (a >= 1e-4 && a < 1e6)) {
        snprintf(tmp, sizeof tmp, "%.6g", a);
        snprintf(t->buf, sizeof t->buf, "%s%s", v < 0 ? MINUS : "", tmp);
        return;
    }
    /* m x 10^e, with the exponent raised: "3.15x10^7", or "10^-5" for a power of ten. */
    int e = (int)floor(log10(a));
    double m = a / pow(10.0, e);
    if (m >= 9.995) m /= 10, e++;
    snprintf(tmp, sizeof tmp, "%.3g", m);
    if (!strcmp(tmp, "1")) snprintf(t->buf, sizeof t->buf, "%s10", v < 0 ? MINUS : "");
    else snprintf(t->buf, sizeof t->buf, "%s%s" TIMES "10", v < 0 ? MINUS : "", tmp);
    put_exponent(t->sup, sizeof t->sup, e);
}

static int add_minor(double *minor, int n, double u) {
    if (n < 2 * NM_VIZ_MAX_TICKS) minor[n++] = u;
    return n;
}

/* 1-2-5 style ticks for a log range under two decades: multiples in `mult` of each power
** of ten, labelled as plain numbers; the other integer multiples become minor ticks. */
static int log_multiples(double lo, double hi, const int *mult, int n_mult, nm__viz_tick *t, double *minor,
                         int *n_minor) {
    int n = 0, nm = 0;
    for (int k = (int)floor(lo) - 1; k <= (int)ceil(hi); k++) {
        for (int j = 1; j <= 9; j++) {
            double u = k + log10((double)j);
            if (u < lo - 1e-9 || u > hi + 1e-9) continue;
            int labelled = 0;
            for (int i = 0; i < n_mult; i++) labelled |= mult[i] == j;
            if (labelled && n < NM_VIZ_MAX_TICKS) {
                nm__viz_label_value(&t[n], j * pow(10.0, k));
                t[n].v = u;
                n++;
            } else {
                nm = add_minor(minor, nm, u);
            }
        }
    }
    *n_minor = nm;
    return n;
}

int nm__viz_log_ticks(double lo, double hi, int target, nm__viz_tick *t, double *minor, int *n_minor) {
    NM_ASSERT(hi > lo && target >= 1);
    int k0 = (int)ceil(lo - 1e-9), k1 = (int)floor(hi + 1e-9);
    int n = 0, nm = 0;
    if (k1 - k0 >= 1) {
        /* Every m-th decade, m the first of these that keeps the intervals <= target. */
        static const int steps[] = {1, 2, 3, 5, 10, 20, 50, 100};
        int m = 1;
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            m = steps[i];
            int first = (int)ceil((double)k0 / m), last = (int)floor((double)k1 / m);
            if (last - first <= target) break;
        }
        for (int k = k0; k <= k1; k++) {
            if (((k % m) + m) % m == 0 && n < NM_VIZ_MAX_TICKS) {
                t[n].v = k;
                snprintf(t[n].buf, sizeof t[n].buf, "10");
                t[n].text = t[n].buf;
                put_exponent(t[n].sup, sizeof t[n].sup, k);
                n++;
            } else {
                nm = add_minor(minor, nm, k);
            }
        }
        /* 2..9 x 10^k, only while decades are labelled one by one (else they are a blur). */
        if (m == 1 && hi - lo <= 12)
            for (int k = (int)floor(lo); k <= (int)ceil(hi); k++)
                for (int j = 2; j <= 9; j++) {
                    double u = k + log10((double)j);
                    if (u >= lo && u <= hi) nm = add_minor(minor, nm, u);
                }
        *n_minor = nm;
        return n;
    }
    /* Under two decades: 1-2-5, then 1-5, then 1-3, as long as they fit the target. */
    static const int m125[] = {1, 2, 5}, m15[] = {1, 5}, m13[] = {1, 3};
    const int *sets[] = {m125, m15, m13};
    const int sizes[] = {3, 2, 2};
    for (int i = 0; i < 3; i++) {
        n = log_multiples(lo, hi, sets[i], sizes[i], t, minor, n_minor);
        if (n >= 2 && n - 1 <= target) return n;
    }
    if (n >= 2) return n;
    /* Under a factor of three: nice linear steps in x, placed on the log scale. */
    double v[NM_VIZ_MAX_TICKS], step;
    int nv = nm__viz_nice_ticks(pow(10.0, lo), pow(10.0, hi), target, v, NM_VIZ_MAX_TICKS, &step);
    n = 0;
    for (int i = 0; i < nv; i++)
        if (v[i] > 0) t[n++].v = v[i];
    /* Labelled with the step's decimals, as on a linear axis, but without a shared factor. */
    int e = nm__viz_label_linear(t, n, step);
    for (int i = 0; i < n; i++) {
        if (e != 0) nm__viz_label_value(&t[i], t[i].v);
        t[i].v = log10(t[i].v);
    }
    *n_minor = 0;
    return n;
}
