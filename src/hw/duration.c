/*
** Durations for device time: "250ms", "1 h", "1y" <-> seconds.
**
** A year is 365 days (aihwkit's and the device notes' convention). Sub-second units divide
** by a power of ten instead of multiplying by its inexact reciprocal, so "100 ms" is the
** double nearest 0.1 s, and nm_format_duration can promise that its text parses back to
** exactly the same double.
*/
#include <neuromorph/hw.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    double      mul, div;   /* seconds = value * mul / div */
} unit;

/* Largest first: the order nm_format_duration prefers on ties. */
static const unit units[] = {
    {"y", 31536000.0, 1.0}, {"w", 604800.0, 1.0}, {"d", 86400.0, 1.0}, {"h", 3600.0, 1.0}, {"min", 60.0, 1.0},
    {"s", 1.0, 1.0},        {"ms", 1.0, 1e3},     {"us", 1.0, 1e6},    {"ns", 1.0, 1e9},
};
#define N_UNITS (int)(sizeof units / sizeof units[0])

static int is_space(char c) { return c == ' ' || c == '\t'; }

nm_status nm_parse_duration(const char *s, double *out) {
    static const char *const expect = "expected seconds or a number with a unit: 250ms, 1s, 1min, 1h, 1d, 1w, 1y";
    if (!s) return nm__error(NM_INVAL, "no duration given (%s)", expect);
    const char *p = s;
    while (is_space(*p)) p++;
    if (*p == '-') return nm__error(NM_INVAL, "duration '%s' must not be negative", s);
    /* strtod alone would also take "nan", "inf" and hex; only decimal numbers are durations. */
    if (!(*p == '+' || *p == '.' || (*p >= '0' && *p <= '9')))
        return nm__error(NM_INVAL, "bad duration '%s' (%s)", s, expect);
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v) || (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')))
        return nm__error(NM_INVAL, "bad duration '%s' (%s)", s, expect);
    p = end;
    while (is_space(*p)) p++;
    size_t len = strlen(p);
    while (len > 0 && is_space(p[len - 1])) len--;
    double sec = v;
    if (len > 0) {
        int k = 0;
        while (k < N_UNITS && !(strlen(units[k].name) == len && !strncmp(p, units[k].name, len))) k++;
        if (k == N_UNITS) return nm__error(NM_INVAL, "bad duration '%s': unknown unit '%.*s' (%s)", s, (int)len, p, expect);
        sec = v * units[k].mul / units[k].div;
    }
    if (!isfinite(sec)) return nm__error(NM_INVAL, "duration '%s' is too long", s);
    *out = sec;
    return NM_OK;
}

void nm_format_duration(double t, char *buf, size_t n) {
    if (!n) return;
    if (!isfinite(t) || t <= 0.0) {   /* 0, and what parse would reject, in seconds */
        snprintf(buf, n, "%g s", t == 0.0 ? 0.0 : t);
        return;
    }
    /* For each unit, the shortest "%.*g" text of t in that unit that parses back to exactly
    ** t ("250", not "2.5e+02"); then the shortest of those, a value >= 1 before a fraction
    ** ("250 ms", not "0.25 s"), ties to the larger unit. Seconds at 17 digits always parse
    ** back, so there is always an answer. */
    char best[96] = "", cand[64];
    int best_len = 1 << 30, best_ge1 = 0;
    for (int k = 0; k < N_UNITS; k++) {
        double v = t / units[k].mul * units[k].div;
        for (int prec = 1; prec <= 17; prec++) {
            int len = snprintf(cand, sizeof cand, "%.*g", prec, v);
            double back = strtod(cand, NULL);
            if (back * units[k].mul / units[k].div != t) continue;   /* exactly as nm_parse_duration computes */
            int ge1 = back >= 1.0;
            if ((ge1 && !best_ge1) || (ge1 == best_ge1 && len < best_len)) {
                best_len = len;
                best_ge1 = ge1;
                snprintf(best, sizeof best, "%s %s", cand, units[k].name);
            }
        }
    }
    snprintf(buf, n, "%s", best);
}
