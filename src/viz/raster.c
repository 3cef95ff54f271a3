/*
** raster.c: spike rasters with the population rate underneath.
**
** A 100k-neuron, 1 s recording holds one to two million spikes; one cairo path per spike
** would take seconds. The marks are therefore set straight into an ARGB pixel buffer the
** size of the plot area (one pass over the spikes, a few pixels each) and that buffer is
** painted into the figure as one image: a blit for PNG, one embedded image for SVG and
** PDF. Axes, ticks and text are plot.c's: the raster is a panel with fixed ranges and a
** draw_data callback, the rate a line panel below it on the same time axis.
*/
#include "viz_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BINS 100000
#define MARK_RGB 0x1a1a2e
#define RATE_RGB 0x1f77b4

double nm__viz_time_unit(double span_s, const char **label) {
    if (span_s <= 2) {
        if (label) *label = "time (ms)";
        return 1e3;
    }
    if (label) *label = "time (s)";
    return 1;
}

/* What the figure is made of: the window, the unit and the rate series. */
typedef struct raster_fig {
    const nm_raster *r;
    double           t0, t1, bin, unit;
    int              n_bins;
    double          *x, *y;  /* rate as steps: bin edges (displayed unit), Hz */
    nm__viz_panel    pn[2];
    nm__viz_style    style;
    nm_series        rate;
} raster_fig;

static nm_status check_raster(const nm_raster *r) {
    if (!r) return nm__error(NM_INVAL, "raster: no spikes (NULL)");
    if (r->n_neurons <= 0) return nm__error(NM_INVAL, "raster: n_neurons = %lld (must be > 0)", (long long)r->n_neurons);
    if (r->n < 0) return nm__error(NM_INVAL, "raster: n = %lld spikes is negative", (long long)r->n);
    if (r->n > 0 && (!r->t || !r->neuron)) return nm__error(NM_INVAL, "raster: %lld spikes but a NULL array", (long long)r->n);
    if (!isfinite(r->t0) || !isfinite(r->t1)) return nm__error(NM_INVAL, "raster: window [%g, %g] is not finite", r->t0, r->t1);
    if (!isfinite(r->bin) || r->bin < 0) return nm__error(NM_INVAL, "raster: bin %g s must be >= 0", r->bin);
    for (int64_t k = 0; k < r->n; k++) {
        if (!isfinite(r->t[k])) return nm__error(NM_INVAL, "raster: spike %lld has time %g", (long long)k, r->t[k]);
        if (r->neuron[k] < 0 || r->neuron[k] >= r->n_neurons)
            return nm__error(NM_INVAL, "raster: spike %lld has neuron %d, outside 0..%lld", (long long)k, r->neuron[k],
                             (long long)r->n_neurons - 1);
    }
    return NM_OK;
}

/* Marks into an ARGB32 buffer of the plot area, painted at its top left. */
static nm_status draw_marks(cairo_t *cr, const nm__viz_frame *f, const void *user) {
    const raster_fig *rf = user;
    const nm_raster *r = rf->r;
    const int w = (int)(f->right - f->left), h = (int)(f->bottom - f->top);
    if (w <= 0 || h <= 0 || r->n == 0) return NM_OK;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return nm__error(NM_NOMEM, "raster: out of memory for a %dx%d image", w, h);
    }
    uint16_t *cnt = calloc((size_t)w * (size_t)h, sizeof *cnt);
    if (!cnt) {
        cairo_surface_destroy(img);
        return nm__error(NM_NOMEM, "raster: out of memory for a %dx%d image", w, h);
    }
    /* A row per neuron when there is room, else neurons share rows; marks are a pixel
    ** wide (two when the raster is sparse enough that single pixels would be lost). */
    const double row_h = (double)h / (double)r->n_neurons;
    const int mark_h = row_h >= 3 ? (int)floor(row_h * 0.8) : row_h >= 1 ? (int)floor(row_h) : 1;
    const int mark_w = r->n <= 20000 ? 2 : 1;
    const double sx = w / (rf->t1 - rf->t0);
    for (int64_t k = 0; k < r->n; k++) {
        double t = r->t[k];
        if (t < rf->t0 || t > rf->t1) continue;
        int px = (int)((t - rf->t0) * sx);
        if (px >= w) px = w - 1;
        px -= mark_w / 2;
        if (px < 0) px = 0;
        /* neuron i spans rows [h - (i+1) row_h, h - i row_h): neuron 0 at the bottom */
        double yc = h - (r->neuron[k] + 0.5) * row_h;
        int py = (int)floor(yc - mark_h / 2.0 + 0.5);
        if (py < 0) py = 0;
        if (py + mark_h > h) py = h - mark_h;
        for (int dy = 0; dy < mark_h; dy++) {
            uint16_t *row = cnt + (size_t)(py + dy) * w;
            for (int dx = 0; dx < mark_w && px + dx < w; dx++) row[px + dx] += row[px + dx] < UINT16_MAX;
        }
    }
    /* Where several spikes share a pixel (a dense raster), darkness follows their count,
    ** so structure shows instead of a black slab: full ink from twice the mean count of
    ** the pixels that have any (a sparse raster's single spikes are full ink). */
    double sum = 0, nz = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) sum += cnt[i], nz += cnt[i] > 0;
    const double sat = nz > 0 ? fmax(1, 2 * sum / nz - 1) : 1;
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    for (int y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(data + (size_t)y * stride);
        const uint16_t *c = cnt + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            if (!c[x]) continue;
            double a = c[x] >= sat ? 1 : 0.2 + 0.8 * c[x] / sat;
            /* premultiplied ARGB */
            uint32_t A = (uint32_t)lround(255 * a);
            uint32_t R = (uint32_t)lround(((MARK_RGB >> 16) & 255) * a), G = (uint32_t)lround(((MARK_RGB >> 8) & 255) * a),
                     B = (uint32_t)lround((MARK_RGB & 255) * a);
            row[x] = A << 24 | R << 16 | G << 8 | B;
        }
    }
    free(cnt);
    cairo_surface_mark_dirty(img);
    cairo_set_source_surface(cr, img, f->left, f->top);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_surface_destroy(img);
    return NM_OK;
}

static void raster_free(raster_fig *rf) {
    free(rf->x);
    free(rf->y);
}

/* Window, bins, rate and the two panels. */
static nm_status raster_build(const nm_plot *p, const nm_raster *r, raster_fig *rf) {
    memset(rf, 0, sizeof *rf);
    nm_status rc = check_raster(r);
    if (rc) return rc;
    rf->r = r;
    double t0 = r->t0, t1 = r->t1;
    if (!(t1 > t0)) {
        t0 = 0, t1 = 0;
        for (int64_t k = 0; k < r->n; k++) t0 = fmin(t0, r->t[k]), t1 = fmax(t1, r->t[k]);
        if (t1 - t0 < 1e-3) t1 = t0 + 1e-3;
    }
    /* a window that floats cannot resolve (1e300 s wide, or 1 ms at 1e20 s) */
    if (!(t1 > t0) || !isfinite(t1 - t0) || (t1 - t0) / fmax(fabs(t0), fabs(t1)) < 1e-9)
        return nm__error(NM_INVAL, "raster: window [%g, %g] s cannot be drawn (too wide, or too narrow for its times)", t0, t1);
    double bin = r->bin > 0 ? r->bin : (t1 - t0) / 100;
    double nb = ceil((t1 - t0) / bin - 1e-9);
    if (!(nb <= MAX_BINS)) return nm__error(NM_INVAL, "raster: bin %g s makes %.0f bins of the window (at most %d)", bin, nb, MAX_BINS);
    rf->t0 = t0, rf->t1 = t1, rf->bin = bin;
    rf->n_bins = nb < 1 ? 1 : (int)nb;
    const char *tlabel;
    rf->unit = nm__viz_time_unit(t1 - t0, &tlabel);
    /* the rate as steps: (edge, 0), then each bin's two edges at its rate, then (edge, 0) */
    const size_t n_pts = 2 * (size_t)rf->n_bins + 2;
    rf->x = calloc(n_pts, sizeof *rf->x);
    rf->y = calloc(n_pts, sizeof *rf->y);
    if (!rf->x || !rf->y) {
        raster_free(rf);
        return nm__error(NM_NOMEM, "raster: out of memory");
    }
    double *cnt = rf->y + 1; /* bin b counts into y[1 + 2b], copied to y[2 + 2b] below */
    for (int64_t k = 0; k < r->n; k++) {
        double t = r->t[k];
        if (t < t0 || t > t1) continue;
        int b = (int)((t - t0) / bin);
        cnt[2 * (b < rf->n_bins ? b : rf->n_bins - 1)] += 1;
    }
    rf->x[0] = t0 * rf->unit;
    for (int b = 0; b < rf->n_bins; b++) {
        double lo = t0 + b * bin, hi = fmin(t1, lo + bin);
        rf->x[1 + 2 * b] = lo * rf->unit;
        rf->x[2 + 2 * b] = hi * rf->unit;
        rf->y[1 + 2 * b] /= (double)r->n_neurons * (hi - lo);
        rf->y[2 + 2 * b] = rf->y[1 + 2 * b];
    }
    rf->x[n_pts - 1] = t1 * rf->unit;

    nm__viz_panel *a = &rf->pn[0], *b = &rf->pn[1];
    nm__viz_panel_default(a);
    nm__viz_panel_default(b);
    if (p) a->p.title = p->title;
    a->p.ylabel = p && p->ylabel && p->ylabel[0] ? p->ylabel : "neuron";
    a->p.y_min = -0.5;
    a->p.y_max = r->n_neurons - 0.5;
    a->x_lo = b->x_lo = t0 * rf->unit;
    a->x_hi = b->x_hi = t1 * rf->unit;
    a->share = 0.7;
    a->hide_xtick_labels = 1;
    a->draw_data = draw_marks;
    a->user = rf;
    b->share = 0.3;
    b->p.xlabel = p && p->xlabel && p->xlabel[0] ? p->xlabel : tlabel;
    b->p.ylabel = "rate (Hz)";
    b->p.y_min = 0;
    rf->style = (nm__viz_style){RATE_RGB, 0, 0.25};
    rf->rate = (nm_series){NULL, rf->x, rf->y, NULL, (int)n_pts};
    b->s = &rf->rate;
    b->ns = 1;
    b->style = &rf->style;
    b->no_legend = 1;
    return NM_OK;
}

nm_status nm_plot_raster(const nm_plot *p, const nm_raster *r, const char *path) {
    raster_fig rf;
    int fmt;
    nm_status rc = nm__viz_format(path, &fmt);
    if (rc || (rc = raster_build(p, r, &rf))) return rc;
    rc = nm__viz_render(p, rf.pn, 2, path);
    raster_free(&rf);
    return rc;
}

nm_status nm__viz_raster_frames(const nm_plot *p, const nm_raster *r, nm__viz_frame out[2], double *unit) {
    raster_fig rf;
    nm_status rc = raster_build(p, r, &rf);
    if (rc) return rc;
    rc = nm__viz_render_frames(p, rf.pn, 2, out);
    *unit = rf.unit;
    raster_free(&rf);
    return rc;
}
