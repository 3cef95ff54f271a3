/*
** plot.c: line plots and grouped bar charts, drawn with cairo into PNG, SVG or PDF, and
** the axes, ticks, text and legends every other figure kind of src/viz is built on.
**
** A figure is made in three steps. Checking: every argument is validated before a file
** is touched, so a bad series leaves no half-written figure behind. Layout: the margins
** around the plot area come from the measured extents of the text that goes there
** (title, tick labels, axis labels), and the ticks depend on the plot area's size, so the
** two are iterated until they agree; the legend goes to the corner of the plot where it
** covers the least data, or outside on the right when every corner covers some. Drawing:
** grid, data (clipped to the plot area), axes, text, legend.
**
** The unit of layout is a panel (one set of axes, nm__viz_panel): a line plot or bar chart
** is one panel filling the figure; rasters, traces and the training curve stack two, laid
** out twice so their plot areas share the widest left and right margins and time axes line
** up. Panels carry per-series styles (colour, dash, fill to y = 0 for histograms) and an
** optional callback for marks that are not series (the raster's pixel buffer).
**
** Text goes through cairo's toy font API ("sans", resolved by fontconfig), so the only
** runtime need is one installed font. Files are written through nm_file_write_atomic:
** a reader never sees a half-drawn figure. Sizes are pixels for PNG and points for the
** vector formats; one layout serves all three.
*/
#include "viz_impl.h"

#include <dlfcn.h>
#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const unsigned nm__viz_palette[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                      0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

/* ---- style: device units (px in a PNG) ------------------------------------------- */

#define DEFAULT_W 800
#define DEFAULT_H 500
#define MIN_SIDE 120
#define MAX_SIDE 16384 /* well under cairo's 32767 limit for image surfaces */
#define MIN_PLOT 40.0  /* smallest plot area worth drawing */

#define FONT_TICK 14.0
#define FONT_LABEL 15.0
#define FONT_TITLE 17.0
#define FONT_LEGEND 14.0
#define SUP_SCALE 0.72 /* exponent size, relative to its base */
#define SUP_RISE 0.42  /* exponent raise, in units of the base font size */

#define PAD 10.0       /* figure edge to the outermost text */
#define TICK_LEN 5.0
#define MINOR_LEN 3.0
#define TICK_GAP 4.0   /* tick end to its label */
#define LABEL_GAP 8.0  /* tick labels to the axis label */
#define TITLE_GAP 10.0 /* title to the plot area */
#define LEGEND_GAP 12.0
#define LEGEND_INSET 8.0

#define LINE_W 2.0
#define MARKER_R 4.5
#define MARKER_MAX_POINTS 60 /* denser series get no markers: they would merge into a band */
#define BAND_ALPHA 0.2
#define BAR_FILL 0.8         /* share of a group's width its bars take */

#define C_AXES 0x333333
#define C_TEXT 0x222222
#define C_GRID 0xe8e8e8
#define C_ERRBAR 0x222222
#define C_LEGEND_EDGE 0xcccccc

#define PI 3.14159265358979323846 /* M_PI is not ISO C */
#define MINUS "\xe2\x88\x92"
#define TIMES "\xc3\x97"

enum { FMT_PNG, FMT_SVG, FMT_PDF };

typedef struct axis {
    double        lo, hi;  /* shown range, axis units (log10 on a log axis) */
    int           log;
    nm__viz_tick *t;       /* labelled ticks, cap entries */
    int           n, cap;
    double        minor[2 * NM_VIZ_MAX_TICKS];
    int           n_minor;
    int           exp10;   /* labels are values / 10^exp10; shown once beside the axis */
} axis;

/* One figure being laid out and drawn. */
typedef struct fig {
    cairo_t                  *cr;
    nm_plot                   p;   /* the caller's settings, defaults filled in */
    double                    W, H;
    int                       bars;
    const nm_series          *s;
    int                       ns;
    const char *const        *groups;
    int                       ng;
    axis                      x, y;
    nm__viz_frame             f;
    double                    title_size, xlabel_size, ylabel_size, legend_size;
    double                    xtick_h; /* height the x tick labels take below the ticks */
    int                       rot;     /* group labels turned 30 degrees to fit */
    int                       legend, legend_out;
    double                    leg_x, leg_y, leg_w, leg_h, leg_row;
    const nm__viz_panel      *pn;
    double                    min_left, min_right; /* margins at least this wide (stacked panels) */
} fig;

/* What the write callback needs: the figure's settings and its panels. */
typedef struct job {
    const nm_plot       *p;
    int                  fmt;
    const nm__viz_panel *pn;
    int                  np;
    const char          *path;
} job;

#define MAX_PANELS 4

void nm_plot_default(nm_plot *p) {
    memset(p, 0, sizeof *p);
    p->y_min = NAN;
    p->y_max = NAN;
}

void nm__viz_bar_span(int g, int k, int n_series, double *x0, double *x1) {
    double w = BAR_FILL / n_series;
    *x0 = g - BAR_FILL / 2 + k * w;
    *x1 = *x0 + w;
}

static int has_text(const char *s) { return s && s[0]; }

/* ---- checking ----------------------------------------------------------------------- */

nm_status nm__viz_format(const char *path, int *fmt) {
    if (!has_text(path)) return nm__error(NM_INVAL, "figure: no output path");
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot) return nm__error(NM_INVAL, "figure '%s' has no extension (expected .png, .svg or .pdf)", path);
    if (!strcasecmp(dot, ".png")) *fmt = FMT_PNG;
    else if (!strcasecmp(dot, ".svg")) *fmt = FMT_SVG;
    else if (!strcasecmp(dot, ".pdf")) *fmt = FMT_PDF;
    else return nm__error(NM_INVAL, "unknown figure format '%s' in '%s' (expected .png, .svg or .pdf)", dot, path);
    return NM_OK;
}

/* Copies the settings (NULL: defaults) and checks them. */
static nm_status check_plot(const nm_plot *in, int bars, nm_plot *p) {
    if (in) *p = *in;
    else nm_plot_default(p);
    if (p->width == 0) p->width = DEFAULT_W;
    if (p->height == 0) p->height = DEFAULT_H;
    if (p->width < MIN_SIDE || p->width > MAX_SIDE || p->height < MIN_SIDE || p->height > MAX_SIDE)
        return nm__error(NM_INVAL, "figure size %dx%d: each side must be 0 (default) or %d..%d", p->width, p->height,
                         MIN_SIDE, MAX_SIDE);
    if (isfinite(p->y_min) && isfinite(p->y_max) && !(p->y_min < p->y_max))
        return nm__error(NM_INVAL, "figure: y_min %g is not below y_max %g", p->y_min, p->y_max);
    if (bars) return NM_OK; /* bars ignore the x settings */
    if (p->n_xticks < 0) return nm__error(NM_INVAL, "figure: n_xticks = %d is negative", p->n_xticks);
    if (p->n_xticks > 0 && !p->xticks) return nm__error(NM_INVAL, "figure: n_xticks = %d but xticks is NULL", p->n_xticks);
    for (int i = 0; i < p->n_xticks; i++) {
        if (!isfinite(p->xticks[i])) return nm__error(NM_INVAL, "figure: xticks[%d] = %g is not finite", i, p->xticks[i]);
        if (p->log_x && p->xticks[i] <= 0)
            return nm__error(NM_INVAL, "figure: xticks[%d] = %g is not > 0 on a log x axis", i, p->xticks[i]);
    }
    return NM_OK;
}

/* "series 'label'" or, unlabelled, "s[k]": the name errors use. */
static void who(const nm_series *s, int k, char *buf, size_t cap) {
    if (has_text(s[k].label)) snprintf(buf, cap, "series '%s'", s[k].label);
    else snprintf(buf, cap, "s[%d]", k);
}

/* n_groups > 0: a bar series, which needs exactly n_groups values and no x. */
static nm_status check_series(const nm_series *s, int n_series, int log_x, int n_groups) {
    if (n_series <= 0) return nm__error(NM_INVAL, "figure: no series (n_series = %d)", n_series);
    if (!s) return nm__error(NM_INVAL, "figure: n_series = %d but the series array is NULL", n_series);
    char w[96];
    for (int k = 0; k < n_series; k++) {
        const nm_series *a = &s[k];
        who(s, k, w, sizeof w);
        if (a->n <= 0) return nm__error(NM_INVAL, "%s is empty (n = %d)", w, a->n);
        if (n_groups > 0 && a->n != n_groups)
            return nm__error(NM_INVAL, "%s has %d values for %d groups", w, a->n, n_groups);
        if (!a->y) return nm__error(NM_INVAL, "%s has no y values (y is NULL)", w);
        if (n_groups == 0 && !a->x) return nm__error(NM_INVAL, "%s has no x values (x is NULL)", w);
        for (int i = 0; i < a->n; i++) {
            if (n_groups == 0) {
                if (!isfinite(a->x[i])) return nm__error(NM_INVAL, "%s: x[%d] = %g is not finite", w, i, a->x[i]);
                if (log_x && a->x[i] <= 0)
                    return nm__error(NM_INVAL, "%s: x[%d] = %g is not > 0 on a log x axis", w, i, a->x[i]);
            }
            if (!isfinite(a->y[i])) return nm__error(NM_INVAL, "%s: y[%d] = %g is not finite", w, i, a->y[i]);
            if (a->err && !isfinite(a->err[i]))
                return nm__error(NM_INVAL, "%s: err[%d] = %g is not finite", w, i, a->err[i]);
            if (a->err && a->err[i] < 0) return nm__error(NM_INVAL, "%s: err[%d] = %g is negative", w, i, a->err[i]);
        }
    }
    return NM_OK;
}

/* ---- text --------------------------------------------------------------------------- */

typedef struct ext {
    double w, asc, desc; /* advance width; height above and below the baseline */
} ext;

static void set_rgb(cairo_t *cr, unsigned rgb, double alpha) {
    cairo_set_source_rgba(cr, ((rgb >> 16) & 255) / 255.0, ((rgb >> 8) & 255) / 255.0, (rgb & 255) / 255.0, alpha);
}

static void use_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, "sans", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

/* Extents of text followed by a raised exponent `sup` (NULL or "" for none). Heights
** come from the font, not the glyphs, so labels on one axis line up. */
static ext measure(cairo_t *cr, double size, int bold, const char *text, const char *sup) {
    cairo_font_extents_t fe;
    cairo_text_extents_t te;
    use_font(cr, size, bold);
    cairo_font_extents(cr, &fe);
    cairo_text_extents(cr, text, &te);
    ext e = {te.x_advance, fe.ascent, fe.descent};
    if (has_text(sup)) {
        use_font(cr, size * SUP_SCALE, bold);
        cairo_text_extents(cr, sup, &te);
        e.w += te.x_advance;
        e.asc = fmax(e.asc, size * SUP_RISE + fe.ascent * SUP_SCALE);
    }
    return e;
}

/* The font size, at most `size`, at which text fits in `room`. */
static double fit_size(cairo_t *cr, double size, int bold, const char *text, double room) {
    double w = measure(cr, size, bold, text, NULL).w;
    return w > room && w > 0 ? size * room / w : size;
}

/* Draws text (and exponent) with the point (ax, ay) of its box, in fractions of its width
** and height from the top left, on (x, y), turned by `angle` radians about that point. */
static void draw_text(cairo_t *cr, double size, int bold, const char *text, const char *sup, double x, double y,
                      double ax, double ay, double angle) {
    ext e = measure(cr, size, bold, text, sup);
    double base = -ay * (e.asc + e.desc) + e.asc;
    cairo_save(cr);
    cairo_translate(cr, x, y);
    if (angle != 0) cairo_rotate(cr, angle);
    use_font(cr, size, bold);
    cairo_move_to(cr, -ax * e.w, base);
    cairo_show_text(cr, text);
    if (has_text(sup)) {
        double cx, cy;
        cairo_get_current_point(cr, &cx, &cy);
        use_font(cr, size * SUP_SCALE, bold);
        cairo_move_to(cr, cx, base - size * SUP_RISE);
        cairo_show_text(cr, sup);
    }
    cairo_restore(cr);
}

static const char *series_name(const fig *g, int k, char *buf, size_t cap) {
    if (has_text(g->s[k].label)) return g->s[k].label;
    snprintf(buf, cap, "series %d", k + 1);
    return buf;
}

/* ---- axes: ranges and ticks --------------------------------------------------------- */

/* Widens a zero-width range, then pads both ends by `frac` of the width. */
static void pad_range(double *lo, double *hi, double frac, int log) {
    if (!(*hi > *lo)) {
        double d = log ? 0.5 : *lo != 0 ? 0.1 * fabs(*lo) : 0.5;
        *lo -= d;
        *hi += d;
    }
    double m = frac * (*hi - *lo);
    *lo -= m;
    *hi += m;
}

/* The y range: the data's (dlo, dhi, already padded) unless y_min / y_max are finite. */
static void y_limits(fig *g, double dlo, double dhi) {
    double lo = isfinite(g->p.y_min) ? g->p.y_min : dlo, hi = isfinite(g->p.y_max) ? g->p.y_max : dhi;
    if (!(hi > lo)) { /* one limit fixed beyond all the data */
        double d = lo != 0 ? 0.1 * fabs(lo) : 1;
        if (isfinite(g->p.y_min)) hi = lo + d;
        else lo = hi - d;
    }
    g->y.lo = lo;
    g->y.hi = hi;
}

static void ranges(fig *g) {
    if (g->bars) {
        double dlo = 0, dhi = 0;
        for (int k = 0; k < g->ns; k++)
            for (int i = 0; i < g->s[k].n; i++) {
                double e = g->s[k].err ? g->s[k].err[i] : 0;
                dlo = fmin(dlo, g->s[k].y[i] - e);
                dhi = fmax(dhi, g->s[k].y[i] + e);
            }
        double span = dhi > dlo ? dhi - dlo : 1;
        if (dlo < 0) dlo -= 0.05 * span;
        if (dhi > 0 || dlo == 0) dhi += 0.05 * span;
        y_limits(g, dlo, dhi);
        g->x.lo = -0.5;
        g->x.hi = g->ng - 0.5;
        return;
    }
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < g->ns; k++)
        for (int i = 0; i < g->s[k].n; i++) {
            double u = g->x.log ? log10(g->s[k].x[i]) : g->s[k].x[i];
            double e = g->s[k].err ? g->s[k].err[i] : 0;
            xlo = fmin(xlo, u);
            xhi = fmax(xhi, u);
            ylo = fmin(ylo, g->s[k].y[i] - e);
            yhi = fmax(yhi, g->s[k].y[i] + e);
        }
    /* Custom ticks were asked for by name: the axis reaches them. */
    for (int i = 0; i < g->p.n_xticks; i++) {
        double u = g->x.log ? log10(g->p.xticks[i]) : g->p.xticks[i];
        xlo = fmin(xlo, u);
        xhi = fmax(xhi, u);
    }
    pad_range(&xlo, &xhi, 0.05, g->x.log);
    if (isfinite(ylo)) pad_range(&ylo, &yhi, 0.05, 0);
    else ylo = 0, yhi = 1; /* no series: the caller fixes the range */
    if (isfinite(g->pn->x_lo) && isfinite(g->pn->x_hi)) {
        xlo = g->x.log ? log10(g->pn->x_lo) : g->pn->x_lo;
        xhi = g->x.log ? log10(g->pn->x_hi) : g->pn->x_hi;
    }
    g->x.lo = xlo;
    g->x.hi = xhi;
    y_limits(g, ylo, yhi);
}

static void linear_ticks(axis *a, int target) {
    double v[NM_VIZ_MAX_TICKS], step;
    int n = nm__viz_nice_ticks(a->lo, a->hi, target, v, NM_VIZ_MAX_TICKS, &step);
    for (int i = 0; i < n; i++) a->t[i].v = v[i];
    a->n = n;
    a->n_minor = 0;
    a->exp10 = nm__viz_label_linear(a->t, n, step);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Do neighbouring x labels of the current ticks come closer than 14 units? */
static int x_labels_crowd(fig *g, double pw) {
    axis *a = &g->x;
    double prev_px = 0, prev_w = 0;
    for (int i = 0; i < a->n; i++) {
        double px = (a->t[i].v - a->lo) / (a->hi - a->lo) * pw;
        double w = measure(g->cr, FONT_TICK, 0, a->t[i].text, a->t[i].sup).w;
        if (i > 0 && px - prev_px < (w + prev_w) / 2 + 14) return 1;
        prev_px = px;
        prev_w = w;
    }
    return 0;
}

static void x_ticks(fig *g, double pw) {
    axis *a = &g->x;
    a->exp10 = 0;
    a->n_minor = 0;
    if (g->bars) {
        for (int i = 0; i < g->ng; i++) {
            a->t[i].v = i;
            a->t[i].sup[0] = '\0';
            if (g->groups) a->t[i].text = g->groups[i] ? g->groups[i] : "";
            else {
                snprintf(a->t[i].buf, sizeof a->t[i].buf, "%d", i + 1);
                a->t[i].text = a->t[i].buf;
            }
        }
        a->n = g->ng;
        g->rot = x_labels_crowd(g, pw);
        return;
    }
    if (g->p.n_xticks > 0) {
        for (int i = 0; i < g->p.n_xticks; i++) {
            nm__viz_tick *t = &a->t[i];
            nm__viz_label_value(t, g->p.xticks[i]);
            t->v = a->log ? log10(g->p.xticks[i]) : g->p.xticks[i];
            if (g->p.xtick_labels && g->p.xtick_labels[i]) {
                t->text = g->p.xtick_labels[i];
                t->sup[0] = '\0';
            }
        }
        a->n = g->p.n_xticks;
        return;
    }
    /* Automatic: about one tick per 90 units, fewer while the labels crowd. */
    for (int target = clampi((int)(pw / 90), 2, 12); target >= 1; target--) {
        if (a->log) a->n = nm__viz_log_ticks(a->lo, a->hi, target, a->t, a->minor, &a->n_minor);
        else linear_ticks(a, target);
        if (!x_labels_crowd(g, pw)) break;
    }
}

/* ---- layout ------------------------------------------------------------------------- */

/* Sets the plot area from the text around it. Ticks depend on the area's size and the
** margins on the ticks' labels, so this repeats until the margins stop moving. */
static nm_status layout(fig *g) {
    cairo_t *cr = g->cr;
    const double W = g->W, H = g->H;
    ext tk = measure(cr, FONT_TICK, 0, "0", NULL);
    const double tick_h = tk.asc + tk.desc;
    ext off = measure(cr, FONT_TICK, 0, TIMES "10", MINUS "8");
    const double off_h = off.asc + off.desc;

    double title_row = 0, xlabel_row = 0, ylabel_col = 0;
    if (has_text(g->p.title)) {
        g->title_size = fit_size(cr, FONT_TITLE, 1, g->p.title, W - 2 * PAD);
        ext e = measure(cr, g->title_size, 1, g->p.title, NULL);
        title_row = e.asc + e.desc + TITLE_GAP;
    }
    if (has_text(g->p.xlabel)) {
        g->xlabel_size = fit_size(cr, FONT_LABEL, 0, g->p.xlabel, W - 2 * PAD);
        ext e = measure(cr, g->xlabel_size, 0, g->p.xlabel, NULL);
        xlabel_row = LABEL_GAP + e.asc + e.desc;
    }
    if (has_text(g->p.ylabel)) {
        g->ylabel_size = fit_size(cr, FONT_LABEL, 0, g->p.ylabel, H - 2 * PAD);
        ext e = measure(cr, g->ylabel_size, 0, g->p.ylabel, NULL);
        ylabel_col = e.asc + e.desc + LABEL_GAP;
    }
    const double right_base = PAD + (g->legend_out ? g->leg_w + LEGEND_GAP : 0);

    double left = fmax(PAD + ylabel_col + 40 + TICK_GAP + TICK_LEN, g->min_left), right = fmax(right_base, g->min_right);
    double top = PAD + title_row + tick_h / 2, bottom = PAD + TICK_LEN + TICK_GAP + tick_h + xlabel_row;
    for (int pass = 0; pass < 12; pass++) {
        double pw = W - left - right, ph = H - top - bottom;
        if (pw < MIN_PLOT || ph < MIN_PLOT)
            return nm__error(NM_INVAL, "figure %gx%g is too small for its labels (plot area %.0fx%.0f)", W, H, pw, ph);
        /* y: ticks at least 40 units apart (over twice a label's height), at most 9. */
        linear_ticks(&g->y, clampi((int)(ph / 40), 2, 8));
        x_ticks(g, pw);

        double yw = 0, xh = 0;
        for (int i = 0; i < g->y.n; i++) yw = fmax(yw, measure(cr, FONT_TICK, 0, g->y.t[i].text, g->y.t[i].sup).w);
        double n_left = fmax(PAD + ylabel_col + yw + TICK_GAP + TICK_LEN, g->min_left);
        double n_right = fmax(right_base, g->min_right);
        for (int i = 0; i < (g->pn->hide_xtick_labels ? 0 : g->x.n); i++) {
            ext e = measure(cr, FONT_TICK, 0, g->x.t[i].text, g->x.t[i].sup);
            double fr = (g->x.t[i].v - g->x.lo) / (g->x.hi - g->x.lo); /* px = left + fr * (W - left - right) */
            /* Turned labels end at their tick and run down-left (see draw_axes). */
            double l = g->rot ? 0.866 * e.w : e.w / 2, r = g->rot ? 0.5 * (e.asc + e.desc) : e.w / 2;
            xh = fmax(xh, g->rot ? 0.5 * e.w + 0.866 * (e.asc + e.desc) : e.asc + e.desc);
            /* Margins at which an outer label just stays PAD inside the figure. */
            if (fr < 1) n_left = fmax(n_left, (PAD + l - fr * (W - right)) / (1 - fr));
            if (fr > 0) n_right = fmax(n_right, (W - left) - (W - right_base - r - left) / fr);
        }
        double n_top = PAD + title_row + fmax(tick_h / 2, g->y.exp10 ? off_h + 4 : 0);
        double n_bottom = PAD + TICK_LEN + TICK_GAP + xh + (g->x.exp10 && !g->pn->hide_xtick_labels ? off_h + 2 : 0) +
                          xlabel_row;
        g->xtick_h = xh;
        int settled = fabs(n_left - left) < 0.5 && fabs(n_right - right) < 0.5 && fabs(n_top - top) < 0.5 &&
                      fabs(n_bottom - bottom) < 0.5;
        if (settled) break;
        if (pass >= 3) { /* tick counts flipping back and forth: let margins only grow */
            n_left = fmax(n_left, left), n_right = fmax(n_right, right);
            n_top = fmax(n_top, top), n_bottom = fmax(n_bottom, bottom);
        }
        left = n_left, right = n_right, top = n_top, bottom = n_bottom;
    }
    /* Whole units, so a PNG's axes and grid lines fall on pixel boundaries. */
    g->f.left = ceil(left);
    g->f.top = ceil(top);
    g->f.right = floor(W - right);
    g->f.bottom = floor(H - bottom);
    if (g->f.right - g->f.left < MIN_PLOT || g->f.bottom - g->f.top < MIN_PLOT)
        return nm__error(NM_INVAL, "figure %gx%g is too small for its labels", W, H);
    g->f.x_lo = g->x.lo;
    g->f.x_hi = g->x.hi;
    g->f.y_lo = g->y.lo;
    g->f.y_hi = g->y.hi;
    g->f.log_x = g->x.log;
    return NM_OK;
}

/* Axis units to device units (x in log10 units on a log axis, unlike nm__viz_px_x). */
static double ux(const fig *g, double u) {
    return g->f.left + (u - g->f.x_lo) / (g->f.x_hi - g->f.x_lo) * (g->f.right - g->f.left);
}
static double uy(const fig *g, double v) { return nm__viz_px_y(&g->f, v); }

/* ---- legend ------------------------------------------------------------------------- */

static int markers_on(const nm_series *a) { return a->n <= MARKER_MAX_POINTS; }

static unsigned colour_of(const fig *g, int k) {
    if (g->pn->style && g->pn->style[k].rgb != NM__VIZ_AUTO_COLOUR) return g->pn->style[k].rgb;
    return nm__viz_palette[k % 10];
}
static int dashed(const fig *g, int k) { return g->pn->style && g->pn->style[k].dash; }
static double fill_of(const fig *g, int k) { return g->pn->style ? g->pn->style[k].fill : 0; }

static void set_dash(cairo_t *cr, int on) {
    static const double d[2] = {7, 4};
    cairo_set_dash(cr, d, on ? 2 : 0, 0);
}

static double swatch_w(const fig *g) { return g->bars ? 14 : 30; }

static void legend_size(fig *g) {
    g->legend = !g->pn->no_legend && g->ns > 0 && (g->ns > 1 || has_text(g->s[0].label));
    if (!g->legend) return;
    char buf[32];
    double tw = 0;
    g->legend_size = FONT_LEGEND;
    for (int k = 0; k < g->ns; k++)
        tw = fmax(tw, measure(g->cr, FONT_LEGEND, 0, series_name(g, k, buf, sizeof buf), NULL).w);
    /* Very long names: a smaller font rather than a legend wider than half the figure. */
    double room = 0.45 * g->W - 2 * 10 - swatch_w(g) - 8;
    if (tw > room) {
        g->legend_size *= room / tw;
        tw = room;
    }
    ext e = measure(g->cr, g->legend_size, 0, "Ag", NULL);
    g->leg_row = fmax(e.asc + e.desc, 14) + 4;
    g->leg_w = 10 + swatch_w(g) + 8 + tw + 10;
    g->leg_h = 6 + g->ns * g->leg_row + 6;
}

static int inside(double x, double y, double x0, double y0, double x1, double y1) {
    return x >= x0 && x <= x1 && y >= y0 && y <= y1;
}

/* How much data the legend would cover at (x, y): sample points along lines and band
** edges for lines, overlapping area for bars. */
static double legend_cover(const fig *g, double x, double y) {
    const double m = 4, x0 = x - m, y0 = y - m, x1 = x + g->leg_w + m, y1 = y + g->leg_h + m;
    double cover = 0;
    for (int k = 0; k < g->ns; k++) {
        const nm_series *a = &g->s[k];
        if (g->bars) {
            for (int i = 0; i < a->n; i++) {
                double b0, b1, e = a->err ? a->err[i] : 0;
                nm__viz_bar_span(i, k, g->ns, &b0, &b1);
                double bx0 = ux(g, b0), bx1 = ux(g, b1);
                double by0 = uy(g, fmax(a->y[i] + e, 0)), by1 = uy(g, fmin(a->y[i] - e, 0));
                double w = fmin(bx1, x1) - fmax(bx0, x0), h = fmin(by1, y1) - fmax(by0, y0);
                if (w > 0 && h > 0) cover += w * h;
            }
            continue;
        }
        for (int side = -1; side <= (a->err ? 1 : -1); side++) { /* the line, then band edges */
            double off = side == -1 ? 0 : side == 0 ? -1 : 1;
            for (int i = 0; i < a->n; i++) {
                double e = a->err ? off * a->err[i] : 0;
                double px = ux(g, g->x.log ? log10(a->x[i]) : a->x[i]), py = uy(g, a->y[i] + e);
                cover += inside(px, py, x0, y0, x1, y1);
                if (i + 1 == a->n) continue;
                double e1 = a->err ? off * a->err[i + 1] : 0;
                double qx = ux(g, g->x.log ? log10(a->x[i + 1]) : a->x[i + 1]), qy = uy(g, a->y[i + 1] + e1);
                int steps = (int)fmin(ceil(hypot(qx - px, qy - py) / 3), 2000);
                for (int j = 1; j < steps; j++) {
                    double t = (double)j / steps;
                    cover += inside(px + t * (qx - px), py + t * (qy - py), x0, y0, x1, y1);
                }
            }
        }
    }
    return cover;
}

/* Picks the corner of the plot with the least data under the legend (ties: top right,
** top left, bottom right, bottom left). Returns the data it covers there. */
static double legend_corner(fig *g) {
    const double in = LEGEND_INSET;
    const double xs[4] = {g->f.right - in - g->leg_w, g->f.left + in, g->f.right - in - g->leg_w, g->f.left + in};
    const double ys[4] = {g->f.top + in, g->f.top + in, g->f.bottom - in - g->leg_h, g->f.bottom - in - g->leg_h};
    double best = INFINITY;
    for (int c = 0; c < 4; c++) {
        double cover = legend_cover(g, xs[c], ys[c]);
        if (cover < best) {
            best = cover;
            g->leg_x = xs[c];
            g->leg_y = ys[c];
        }
    }
    return best;
}

/* ---- drawing ------------------------------------------------------------------------ */

/* Centre of the pixel column or row holding v, for crisp 1-unit lines. */
static double crisp(double v) { return floor(v) + 0.5; }

static void marker_path(cairo_t *cr, int shape, double x, double y, double r) {
    switch (shape % 5) {
    case 0: cairo_new_sub_path(cr); cairo_arc(cr, x, y, r, 0, 2 * PI); break;
    case 1: cairo_rectangle(cr, x - 0.85 * r, y - 0.85 * r, 1.7 * r, 1.7 * r); break;
    case 2:
        cairo_move_to(cr, x, y - 1.15 * r);
        cairo_line_to(cr, x + r, y + 0.75 * r);
        cairo_line_to(cr, x - r, y + 0.75 * r);
        cairo_close_path(cr);
        break;
    case 3:
        cairo_move_to(cr, x, y - 1.2 * r);
        cairo_line_to(cr, x + r, y);
        cairo_line_to(cr, x, y + 1.2 * r);
        cairo_line_to(cr, x - r, y);
        cairo_close_path(cr);
        break;
    default:
        cairo_move_to(cr, x, y + 1.15 * r);
        cairo_line_to(cr, x + r, y - 0.75 * r);
        cairo_line_to(cr, x - r, y - 0.75 * r);
        cairo_close_path(cr);
        break;
    }
}

/* A marker filled with the series colour inside a thin white ring, which keeps it
** readable where lines cross. */
static void draw_marker(cairo_t *cr, int k, unsigned rgb, double x, double y) {
    marker_path(cr, k, x, y, MARKER_R);
    set_rgb(cr, rgb, 1);
    cairo_fill_preserve(cr);
    set_rgb(cr, 0xffffff, 1);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
}

static void draw_grid(fig *g) {
    cairo_t *cr = g->cr;
    cairo_set_line_width(cr, 1);
    set_rgb(cr, C_GRID, 1);
    for (int i = 0; i < g->y.n; i++) {
        double py = crisp(uy(g, g->y.t[i].v));
        cairo_move_to(cr, g->f.left, py);
        cairo_line_to(cr, g->f.right, py);
    }
    if (!g->bars)
        for (int i = 0; i < g->x.n; i++) {
            double px = crisp(ux(g, g->x.t[i].v));
            cairo_move_to(cr, px, g->f.top);
            cairo_line_to(cr, px, g->f.bottom);
        }
    cairo_stroke(cr);
}

static void draw_lines(fig *g) {
    cairo_t *cr = g->cr;
    for (int k = 0; k < g->ns; k++) { /* filled areas first, down to y = 0 */
        const nm_series *a = &g->s[k];
        if (!(fill_of(g, k) > 0)) continue;
        double base = uy(g, fmin(fmax(0, g->y.lo), g->y.hi));
        cairo_move_to(cr, ux(g, g->x.log ? log10(a->x[0]) : a->x[0]), base);
        for (int i = 0; i < a->n; i++)
            cairo_line_to(cr, ux(g, g->x.log ? log10(a->x[i]) : a->x[i]), uy(g, a->y[i]));
        cairo_line_to(cr, ux(g, g->x.log ? log10(a->x[a->n - 1]) : a->x[a->n - 1]), base);
        cairo_close_path(cr);
        set_rgb(cr, colour_of(g, k), fill_of(g, k));
        cairo_fill(cr);
    }
    for (int k = 0; k < g->ns; k++) { /* bands next: translucent, under every line */
        const nm_series *a = &g->s[k];
        if (!a->err) continue;
        for (int i = 0; i < a->n; i++)
            cairo_line_to(cr, ux(g, g->x.log ? log10(a->x[i]) : a->x[i]), uy(g, a->y[i] + a->err[i]));
        for (int i = a->n - 1; i >= 0; i--)
            cairo_line_to(cr, ux(g, g->x.log ? log10(a->x[i]) : a->x[i]), uy(g, a->y[i] - a->err[i]));
        cairo_close_path(cr);
        set_rgb(cr, colour_of(g, k), BAND_ALPHA);
        cairo_fill(cr);
    }
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (int k = 0; k < g->ns; k++) {
        const nm_series *a = &g->s[k];
        for (int i = 0; i < a->n; i++) cairo_line_to(cr, ux(g, g->x.log ? log10(a->x[i]) : a->x[i]), uy(g, a->y[i]));
        set_rgb(cr, colour_of(g, k), 1);
        cairo_set_line_width(cr, LINE_W);
        set_dash(cr, dashed(g, k));
        cairo_stroke(cr);
        set_dash(cr, 0);
        if (markers_on(a) && !g->pn->no_markers && !(fill_of(g, k) > 0) && !dashed(g, k))
            for (int i = 0; i < a->n; i++)
                draw_marker(cr, k, colour_of(g, k), ux(g, g->x.log ? log10(a->x[i]) : a->x[i]), uy(g, a->y[i]));
    }
}

static void draw_bars(fig *g) {
    cairo_t *cr = g->cr;
    const double base = uy(g, fmin(fmax(0, g->y.lo), g->y.hi));
    for (int k = 0; k < g->ns; k++) {
        const nm_series *a = &g->s[k];
        for (int i = 0; i < a->n; i++) {
            double x0, x1;
            nm__viz_bar_span(i, k, g->ns, &x0, &x1);
            double px0 = ux(g, x0), px1 = ux(g, x1), py = uy(g, a->y[i]);
            if (px1 - px0 > 4) px0 += 0.5, px1 -= 0.5; /* a hairline between neighbours */
            cairo_rectangle(cr, px0, fmin(py, base), px1 - px0, fabs(py - base));
        }
        set_rgb(cr, colour_of(g, k), 1);
        cairo_fill(cr);
    }
    if (g->y.lo < 0 && g->y.hi > 0) { /* bars go both ways: mark where they start */
        cairo_move_to(cr, g->f.left, crisp(base));
        cairo_line_to(cr, g->f.right, crisp(base));
        set_rgb(cr, C_AXES, 1);
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
    }
    cairo_set_line_width(cr, 1.5);
    set_rgb(cr, C_ERRBAR, 1);
    for (int k = 0; k < g->ns; k++) {
        const nm_series *a = &g->s[k];
        if (!a->err) continue;
        for (int i = 0; i < a->n; i++) {
            double x0, x1;
            nm__viz_bar_span(i, k, g->ns, &x0, &x1);
            double cx = ux(g, (x0 + x1) / 2), cap = fmin(0.25 * (ux(g, x1) - ux(g, x0)), 6);
            double ylo = uy(g, a->y[i] - a->err[i]), yhi = uy(g, a->y[i] + a->err[i]);
            cairo_move_to(cr, cx, ylo);
            cairo_line_to(cr, cx, yhi);
            cairo_move_to(cr, cx - cap, ylo);
            cairo_line_to(cr, cx + cap, ylo);
            cairo_move_to(cr, cx - cap, yhi);
            cairo_line_to(cr, cx + cap, yhi);
        }
    }
    cairo_stroke(cr);
}

static void draw_axes(fig *g) {
    cairo_t *cr = g->cr;
    const nm__viz_frame *f = &g->f;
    set_rgb(cr, C_AXES, 1);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, crisp(f->left) - 1, crisp(f->top) - 1, f->right - f->left + 1, f->bottom - f->top + 1);
    for (int i = 0; i < g->y.n; i++) {
        double py = crisp(uy(g, g->y.t[i].v));
        cairo_move_to(cr, f->left - 1, py);
        cairo_line_to(cr, f->left - 1 - TICK_LEN, py);
    }
    for (int i = 0; i < g->x.n; i++) {
        double px = crisp(ux(g, g->x.t[i].v));
        cairo_move_to(cr, px, f->bottom);
        cairo_line_to(cr, px, f->bottom + TICK_LEN);
    }
    for (int i = 0; i < g->x.n_minor; i++) {
        double px = crisp(ux(g, g->x.minor[i]));
        cairo_move_to(cr, px, f->bottom);
        cairo_line_to(cr, px, f->bottom + MINOR_LEN);
    }
    cairo_stroke(cr);

    set_rgb(cr, C_TEXT, 1);
    for (int i = 0; i < g->y.n; i++)
        draw_text(cr, FONT_TICK, 0, g->y.t[i].text, g->y.t[i].sup, f->left - 1 - TICK_LEN - TICK_GAP,
                  uy(g, g->y.t[i].v), 1, 0.5, 0);
    const double ly = f->bottom + TICK_LEN + TICK_GAP;
    for (int i = 0; i < (g->pn->hide_xtick_labels ? 0 : g->x.n); i++) {
        double px = ux(g, g->x.t[i].v);
        if (g->rot) draw_text(cr, FONT_TICK, 0, g->x.t[i].text, NULL, px, ly, 1, 0, -PI / 6);
        else draw_text(cr, FONT_TICK, 0, g->x.t[i].text, g->x.t[i].sup, px, ly, 0.5, 0, 0);
    }
    char e[16];
    if (g->y.exp10) {
        snprintf(e, sizeof e, "%s%d", g->y.exp10 < 0 ? MINUS : "", abs(g->y.exp10));
        draw_text(cr, FONT_TICK, 0, TIMES "10", e, f->left, f->top - 4, 0, 1, 0);
    }
    double below = ly + g->xtick_h;
    if (g->x.exp10 && !g->pn->hide_xtick_labels) {
        snprintf(e, sizeof e, "%s%d", g->x.exp10 < 0 ? MINUS : "", abs(g->x.exp10));
        draw_text(cr, FONT_TICK, 0, TIMES "10", e, f->right, below + 2, 1, 0, 0);
        below += 2 + measure(cr, FONT_TICK, 0, TIMES "10", e).asc + measure(cr, FONT_TICK, 0, "0", NULL).desc;
    }

    /* Axis labels and title: centred on the plot area, kept inside the figure. */
    if (has_text(g->p.xlabel)) {
        double w = measure(cr, g->xlabel_size, 0, g->p.xlabel, NULL).w;
        double cx = fmin(fmax((f->left + f->right) / 2, PAD + w / 2), g->W - PAD - w / 2);
        draw_text(cr, g->xlabel_size, 0, g->p.xlabel, NULL, cx, below + LABEL_GAP, 0.5, 0, 0);
    }
    if (has_text(g->p.ylabel)) {
        double w = measure(cr, g->ylabel_size, 0, g->p.ylabel, NULL).w;
        double cy = fmin(fmax((f->top + f->bottom) / 2, PAD + w / 2), g->H - PAD - w / 2);
        draw_text(cr, g->ylabel_size, 0, g->p.ylabel, NULL, PAD, cy, 0.5, 0, -PI / 2);
    }
    if (has_text(g->p.title)) {
        double w = measure(cr, g->title_size, 1, g->p.title, NULL).w;
        double cx = fmin(fmax((f->left + f->right) / 2, PAD + w / 2), g->W - PAD - w / 2);
        draw_text(cr, g->title_size, 1, g->p.title, NULL, cx, PAD, 0.5, 0, 0);
    }
}

static void draw_legend(fig *g) {
    cairo_t *cr = g->cr;
    cairo_rectangle(cr, crisp(g->leg_x), crisp(g->leg_y), round(g->leg_w), round(g->leg_h));
    set_rgb(cr, 0xffffff, 0.9);
    cairo_fill_preserve(cr);
    set_rgb(cr, C_LEGEND_EDGE, 1);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    char buf[32];
    for (int k = 0; k < g->ns; k++) {
        const nm_series *a = &g->s[k];
        double x = g->leg_x + 10, cy = g->leg_y + 6 + (k + 0.5) * g->leg_row;
        unsigned c = colour_of(g, k);
        if (g->bars) {
            cairo_rectangle(cr, x, cy - 7, 14, 14);
            set_rgb(cr, c, 1);
            cairo_fill(cr);
        } else {
            if (a->err || fill_of(g, k) > 0) {
                cairo_rectangle(cr, x, cy - 6, 30, 12);
                set_rgb(cr, c, a->err ? BAND_ALPHA : fill_of(g, k));
                cairo_fill(cr);
            }
            cairo_move_to(cr, x, cy);
            cairo_line_to(cr, x + 30, cy);
            set_rgb(cr, c, 1);
            cairo_set_line_width(cr, LINE_W);
            set_dash(cr, dashed(g, k));
            cairo_stroke(cr);
            set_dash(cr, 0);
            if (markers_on(a) && !g->pn->no_markers && !(fill_of(g, k) > 0) && !dashed(g, k)) draw_marker(cr, k, c, x + 15, cy);
        }
        set_rgb(cr, C_TEXT, 1);
        draw_text(cr, g->legend_size, 0, series_name(g, k, buf, sizeof buf), NULL, x + swatch_w(g) + 8, cy, 0, 0.5, 0);
    }
}

/* Draws a laid-out panel; the caller has painted the background. */
static nm_status draw(fig *g) {
    cairo_t *cr = g->cr;
    draw_grid(g);
    cairo_save(cr);
    cairo_rectangle(cr, g->f.left, g->f.top, g->f.right - g->f.left, g->f.bottom - g->f.top);
    cairo_clip(cr);
    nm_status rc = g->pn->draw_data ? g->pn->draw_data(cr, &g->f, g->pn->user) : NM_OK;
    if (g->bars) draw_bars(g);
    else draw_lines(g);
    cairo_restore(cr);
    if (rc) return rc;
    draw_axes(g);
    if (g->legend) draw_legend(g);
    return NM_OK;
}

/* ---- figures ------------------------------------------------------------------------ */

void nm__viz_panel_default(nm__viz_panel *pn) {
    memset(pn, 0, sizeof *pn);
    nm_plot_default(&pn->p);
    pn->share = 1;
    pn->x_lo = NAN;
    pn->x_hi = NAN;
}

static void fig_free(fig *g) {
    nm_free(g->x.t);
    nm_free(g->y.t);
}

/* Sets up panel pn of a W x H panel area on cr and lays it out. */
static nm_status fig_init(fig *g, const nm__viz_panel *pn, double W, double H, double min_left, double min_right,
                          cairo_t *cr) {
    memset(g, 0, sizeof *g);
    g->cr = cr;
    g->pn = pn;
    g->p = pn->p;
    g->W = W;
    g->H = H;
    g->min_left = min_left;
    g->min_right = min_right;
    g->bars = pn->bars;
    g->s = pn->s;
    g->ns = pn->ns;
    g->groups = pn->groups;
    g->ng = pn->ng;
    g->x.log = !pn->bars && g->p.log_x;
    int cap = NM_VIZ_MAX_TICKS;
    if (g->bars && g->ng > cap) cap = g->ng;
    if (!g->bars && g->p.n_xticks > cap) cap = g->p.n_xticks;
    g->x.cap = cap;
    g->y.cap = NM_VIZ_MAX_TICKS;
    g->x.t = nm_alloc((size_t)cap * sizeof *g->x.t);
    g->y.t = nm_alloc(NM_VIZ_MAX_TICKS * sizeof *g->y.t);
    if (!g->x.t || !g->y.t) {
        fig_free(g);
        return nm__error(NM_NOMEM, "figure: out of memory");
    }
    nm_status rc;
    ranges(g);
    legend_size(g);
    if ((rc = layout(g))) goto fail;
    /* Inside if some corner is free of data, else outside on the right, unless that
    ** would take too much of the figure from the plot. */
    if (g->legend && legend_corner(g) > 0 && g->leg_w < 0.35 * g->W) {
        g->legend_out = 1;
        if ((rc = layout(g))) goto fail;
        g->leg_x = g->f.right + LEGEND_GAP;
        g->leg_y = g->f.top;
    }
    return NM_OK;
fail:
    fig_free(g);
    return rc;
}

nm_status nm__viz_figure_size(const nm_plot *p, int *w, int *h) {
    nm_plot q;
    nm_status rc = check_plot(p, 1, &q);
    if (rc) return rc;
    *w = q.width;
    *h = q.height;
    return NM_OK;
}

static nm_status check_job(const job *j) {
    nm_plot p;
    nm_status rc = check_plot(j->p, 1, &p);
    if (rc) return rc;
    if (j->np < 1 || j->np > MAX_PANELS) return nm__error(NM_INVAL, "figure: %d panels (1..%d)", j->np, MAX_PANELS);
    for (int k = 0; k < j->np; k++) {
        const nm__viz_panel *pn = &j->pn[k];
        nm_plot q;
        if ((rc = check_plot(&pn->p, pn->bars, &q))) return rc;
        if (pn->bars) {
            if (pn->ng <= 0) return nm__error(NM_INVAL, "bar chart: no groups (n_groups = %d)", pn->ng);
            if ((rc = check_series(pn->s, pn->ns, 0, pn->ng))) return rc;
            continue;
        }
        int fixed_x = isfinite(pn->x_lo) && isfinite(pn->x_hi);
        if (fixed_x && !(pn->x_lo < pn->x_hi))
            return nm__error(NM_INVAL, "figure: x range [%g, %g] is empty", pn->x_lo, pn->x_hi);
        if (pn->ns == 0 && pn->draw_data && fixed_x && isfinite(q.y_min) && isfinite(q.y_max)) continue;
        if ((rc = check_series(pn->s, pn->ns, q.log_x, 0))) return rc;
    }
    return NM_OK;
}

static cairo_status_t write_stream(void *closure, const unsigned char *data, unsigned int n) {
    return fwrite(data, 1, n, closure) == n ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

static nm_status cairo_failed(cairo_status_t st, const char *path) {
    if (st == CAIRO_STATUS_NO_MEMORY) return nm__error(NM_NOMEM, "cannot draw '%s': out of memory", path);
    return nm__error(NM_IO, "cannot write '%s': %s", path, cairo_status_to_string(st));
}

nm_status nm__viz_surface_open(int fmt, FILE *f, int w, int h, const char *title, const char *path, cairo_surface_t **out) {
    cairo_surface_t *sf;
    if (fmt == FMT_PNG) sf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    else if (fmt == FMT_SVG) sf = cairo_svg_surface_create_for_stream(write_stream, f, w, h);
    else {
        sf = cairo_pdf_surface_create_for_stream(write_stream, f, w, h);
        if (has_text(title)) cairo_pdf_surface_set_metadata(sf, CAIRO_PDF_METADATA_TITLE, title);
        cairo_pdf_surface_set_metadata(sf, CAIRO_PDF_METADATA_CREATOR, "neuromorph");
    }
    cairo_status_t st = cairo_surface_status(sf);
    if (st != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(sf);
        return cairo_failed(st, path);
    }
    *out = sf;
    return NM_OK;
}

nm_status nm__viz_surface_finish(int fmt, cairo_surface_t *sf, FILE *f, const char *path) {
    cairo_status_t st;
    if (fmt == FMT_PNG) st = cairo_surface_write_to_png_stream(sf, write_stream, f);
    else {
        cairo_surface_finish(sf);
        st = cairo_surface_status(sf);
    }
    return st == CAIRO_STATUS_SUCCESS ? NM_OK : cairo_failed(st, path);
}

/* Lays out every panel of a checked job on cr: heights by share, then again with the
** widest left and right margins, so the plot areas line up. figs[k] must be freed. */
static nm_status layout_panels(const job *j, cairo_t *cr, fig *figs, double *oy) {
    nm_plot p;
    (void)check_plot(j->p, 1, &p);
    double y = 0, ml = 0, mr = 0, hs[MAX_PANELS];
    for (int k = 0; k < j->np; k++) {
        /* whole units, so each panel's pixels line up with the image's */
        double y1 = k + 1 == j->np ? p.height : round(y + j->pn[k].share * p.height);
        hs[k] = y1 - y;
        oy[k] = y;
        y = y1;
    }
    for (int pass = 0; pass < (j->np > 1 ? 2 : 1); pass++) {
        for (int k = 0; k < j->np; k++) {
            nm_status rc = fig_init(&figs[k], &j->pn[k], p.width, hs[k], ml, mr, cr);
            if (rc) {
                for (int i = 0; i < k; i++) fig_free(&figs[i]);
                return rc;
            }
        }
        if (pass == 1 || j->np == 1) break;
        for (int k = 0; k < j->np; k++) {
            ml = fmax(ml, figs[k].f.left);
            mr = fmax(mr, p.width - figs[k].f.right);
            fig_free(&figs[k]);
        }
    }
    return NM_OK;
}

/* nm_file_write_atomic's callback: draws the figure onto a surface that streams to f. */
static nm_status write_figure(FILE *f, void *user) {
    const job *j = user;
    nm_plot p;
    (void)check_plot(j->p, 1, &p); /* checked already: fills in the size */
    cairo_surface_t *sf;
    nm_status rc = nm__viz_surface_open(j->fmt, f, p.width, p.height, p.title, j->path, &sf);
    if (rc) return rc;
    cairo_t *cr = cairo_create(sf);
    set_rgb(cr, 0xffffff, 1);
    cairo_paint(cr);
    fig figs[MAX_PANELS];
    double oy[MAX_PANELS];
    if ((rc = layout_panels(j, cr, figs, oy)) == NM_OK) {
        for (int k = 0; k < j->np; k++) {
            cairo_save(cr);
            cairo_translate(cr, 0, oy[k]);
            if (rc == NM_OK) rc = draw(&figs[k]);
            cairo_restore(cr);
            fig_free(&figs[k]);
        }
    }
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (rc == NM_OK && st != CAIRO_STATUS_SUCCESS) rc = cairo_failed(st, j->path);
    if (rc == NM_OK) rc = nm__viz_surface_finish(j->fmt, sf, f, j->path);
    cairo_surface_destroy(sf);
    return rc;
}

nm_status nm__viz_render(const nm_plot *fig_p, const nm__viz_panel *pn, int n_panels, const char *path) {
    job j = {.p = fig_p, .pn = pn, .np = n_panels, .path = path};
    nm_status rc = nm__viz_format(j.path, &j.fmt);
    if (rc) return rc;
    if ((rc = check_job(&j))) return rc;
    return nm_file_write_atomic(j.path, write_figure, &j);
}

nm_status nm__viz_render_frames(const nm_plot *fig_p, const nm__viz_panel *pn, int n_panels, nm__viz_frame *out) {
    job j = {.p = fig_p, .pn = pn, .np = n_panels};
    nm_status rc = check_job(&j);
    if (rc) return rc;
    nm_plot p;
    (void)check_plot(j.p, 1, &p);
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, p.width, p.height);
    cairo_t *cr = cairo_create(sf);
    fig figs[MAX_PANELS];
    double oy[MAX_PANELS];
    if ((rc = layout_panels(&j, cr, figs, oy)) == NM_OK)
        for (int k = 0; k < n_panels; k++) {
            out[k] = figs[k].f;
            out[k].top += oy[k];
            out[k].bottom += oy[k];
            fig_free(&figs[k]);
        }
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return rc;
}

/* One panel filling the figure. */
static void single(nm__viz_panel *pn, const nm_plot *p, int bars, const nm_series *s, int ns, const char *const *groups,
                   int ng) {
    nm__viz_panel_default(pn);
    if (p) pn->p = *p;
    pn->bars = bars;
    pn->s = s;
    pn->ns = ns;
    pn->groups = groups;
    pn->ng = ng;
}

nm_status nm_plot_lines(const nm_plot *p, const nm_series *s, int n_series, const char *path) {
    nm__viz_panel pn;
    single(&pn, p, 0, s, n_series, NULL, 0);
    return nm__viz_render(p, &pn, 1, path);
}

nm_status nm_plot_bars(const nm_plot *p, const char *const *group_labels, int n_groups, const nm_series *s,
                       int n_series, const char *path) {
    nm__viz_panel pn;
    single(&pn, p, 1, s, n_series, group_labels, n_groups);
    return nm__viz_render(p, &pn, 1, path);
}

/* ---- process-wide caches ------------------------------------------------------------- */

void nm_viz_release(void) {
    cairo_debug_reset_static_data();
    /* fontconfig comes in through cairo; looked up rather than linked, so the library
    ** needs no fontconfig development files to build */
    void *self = dlopen(NULL, RTLD_NOW);
    if (!self) return;
    void (*fc_fini)(void) = NULL;
    *(void **)&fc_fini = dlsym(self, "FcFini");
    if (fc_fini) fc_fini();
    dlclose(self);
}

/* ---- shared text -------------------------------------------------------------------- */

void nm__viz_text(cairo_t *cr, double size, int bold, const char *text, double x, double y, double ax, double ay) {
    draw_text(cr, size, bold, text, NULL, x, y, ax, ay, 0);
}

double nm__viz_text_width(cairo_t *cr, double size, int bold, const char *text) {
    return measure(cr, size, bold, text, NULL).w;
}

/* ---- geometry for tests ------------------------------------------------------------- */

nm_status nm__viz_lines_frame(const nm_plot *p, const nm_series *s, int n_series, nm__viz_frame *out) {
    nm__viz_panel pn;
    single(&pn, p, 0, s, n_series, NULL, 0);
    return nm__viz_render_frames(p, &pn, 1, out);
}

nm_status nm__viz_bars_frame(const nm_plot *p, const char *const *group_labels, int n_groups, const nm_series *s,
                             int n_series, nm__viz_frame *out) {
    nm__viz_panel pn;
    single(&pn, p, 1, s, n_series, group_labels, n_groups);
    return nm__viz_render_frames(p, &pn, 1, out);
}
