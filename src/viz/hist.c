/*
** hist.c: histograms of one or several samples over shared bins (conductances before and
** after programming and after drift, firing rates), overlaid as translucent steps so
** every sample stays visible where they overlap. A histogram is a line panel of plot.c:
** each sample becomes a step outline with the area under it filled.
*/
#include "viz_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BINS 10000
#define FILL_ALPHA 0.3

typedef struct hist_fig {
    double        lo, w;      /* first edge, bin width */
    int           bins;
    double       *xy;         /* per series 2 * (2 bins + 2) values: step x, then step y */
    nm_series    *s;
    nm__viz_style *style;
    nm__viz_panel pn;
} hist_fig;

static void hist_free(hist_fig *h) {
    free(h->xy);
    free(h->s);
    free(h->style);
}

static nm_status hist_build(const nm_plot *p, const nm_series *s, int ns, int n_bins, double lo, double hi, hist_fig *h) {
    memset(h, 0, sizeof *h);
    if (ns <= 0) return nm__error(NM_INVAL, "histogram: no series (n_series = %d)", ns);
    if (!s) return nm__error(NM_INVAL, "histogram: n_series = %d but the series array is NULL", ns);
    if (n_bins < 0 || n_bins > MAX_BINS) return nm__error(NM_INVAL, "histogram: %d bins (0 for automatic, at most %d)", n_bins, MAX_BINS);
    if (!isfinite(lo) || !isfinite(hi)) return nm__error(NM_INVAL, "histogram: range [%g, %g] is not finite", lo, hi);
    int n_max = 0;
    double dlo = INFINITY, dhi = -INFINITY;
    for (int k = 0; k < ns; k++) {
        if (s[k].n <= 0) return nm__error(NM_INVAL, "histogram: series %d%s%s%s is empty", k, s[k].label ? " '" : "",
                                          s[k].label ? s[k].label : "", s[k].label ? "'" : "");
        if (!s[k].y) return nm__error(NM_INVAL, "histogram: series %d has no values (y is NULL)", k);
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].y[i])) return nm__error(NM_INVAL, "histogram: series %d: value %d = %g is not finite", k, i, s[k].y[i]);
            dlo = fmin(dlo, s[k].y[i]), dhi = fmax(dhi, s[k].y[i]);
        }
        if (s[k].n > n_max) n_max = s[k].n;
    }
    if (!(hi > lo)) {
        lo = dlo, hi = dhi;
        if (!(hi > lo)) { /* one value: a bin of width 1 (or 10% of it) around it */
            double d = lo != 0 ? 0.05 * fabs(lo) : 0.5;
            lo -= d, hi += d;
        }
    }
    if (n_bins == 0) n_bins = (int)fmin(80, fmax(10, ceil(sqrt((double)n_max))));
    h->lo = lo, h->w = (hi - lo) / n_bins, h->bins = n_bins;
    const size_t per = 2 * ((size_t)n_bins * 2 + 2);
    h->xy = calloc(per * (size_t)ns, sizeof *h->xy);
    h->s = calloc((size_t)ns, sizeof *h->s);
    h->style = calloc((size_t)ns, sizeof *h->style);
    if (!h->xy || !h->s || !h->style) {
        hist_free(h);
        return nm__error(NM_NOMEM, "histogram: out of memory");
    }
    for (int k = 0; k < ns; k++) {
        double *x = h->xy + per * k, *y = x + per / 2;
        double *cnt = y + 1; /* counts go to y[1 + 2b] and are copied to y[2 + 2b] below */
        for (int i = 0; i < s[k].n; i++) {
            double v = s[k].y[i];
            if (v < lo || v > hi) continue;
            int b = (int)((v - lo) / h->w);
            if (b >= n_bins) b = n_bins - 1;
            if (b < 0) b = 0;
            cnt[2 * b] += 1;
        }
        x[0] = lo, y[0] = 0;
        for (int b = 0; b < n_bins; b++) {
            x[1 + 2 * b] = lo + b * h->w;
            x[2 + 2 * b] = b + 1 == n_bins ? hi : lo + (b + 1) * h->w;
            y[2 + 2 * b] = y[1 + 2 * b];
        }
        x[2 * n_bins + 1] = hi, y[2 * n_bins + 1] = 0;
        h->s[k] = (nm_series){s[k].label, x, y, NULL, 2 * n_bins + 2};
        h->style[k] = (nm__viz_style){NM__VIZ_AUTO_COLOUR, 0, FILL_ALPHA};
    }
    nm__viz_panel_default(&h->pn);
    if (p) h->pn.p = *p;
    h->pn.p.log_x = 0;
    h->pn.p.n_xticks = 0;
    if (!(p && p->ylabel && p->ylabel[0])) h->pn.p.ylabel = "count";
    if (!isfinite(h->pn.p.y_min)) h->pn.p.y_min = 0;
    h->pn.x_lo = lo, h->pn.x_hi = hi;
    h->pn.s = h->s;
    h->pn.ns = ns;
    h->pn.style = h->style;
    return NM_OK;
}

nm_status nm_plot_hist(const nm_plot *p, const nm_series *s, int n_series, int n_bins, double lo, double hi,
                       const char *path) {
    hist_fig h;
    int fmt;
    nm_status rc = nm__viz_format(path, &fmt);
    if (rc || (rc = hist_build(p, s, n_series, n_bins, lo, hi, &h))) return rc;
    rc = nm__viz_render(p, &h.pn, 1, path);
    hist_free(&h);
    return rc;
}

nm_status nm__viz_hist_frame(const nm_plot *p, const nm_series *s, int n_series, int n_bins, double lo, double hi,
                             nm__viz_frame *out, double *bin_lo, double *bin_w, int *bins) {
    hist_fig h;
    nm_status rc = hist_build(p, s, n_series, n_bins, lo, hi, &h);
    if (rc) return rc;
    rc = nm__viz_render_frames(p, &h.pn, 1, out);
    *bin_lo = h.lo, *bin_w = h.w, *bins = h.bins;
    hist_free(&h);
    return rc;
}
