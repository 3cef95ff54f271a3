/*
** viz_impl.h: what the viz module's files share and do not export: axis ticks and their
** labels (ticks.c), the panels plot.c lays out and draws (one set of axes each; figures
** of several kinds stack two of them), and the geometry of a figure's plot areas, which
** the tests use to find where a data point lands in the image.
*/
#ifndef NM_VIZ_IMPL_H
#define NM_VIZ_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include <cairo.h>

#include "neuromorph/viz.h"

/* ---- ticks (ticks.c) ---------------------------------------------------------------- */

#define NM_VIZ_MAX_TICKS 64

/* One labelled tick. A power of ten is written as the mantissa "10" with the exponent
** in `sup` (drawn raised); other labels have sup[0] == 0. */
typedef struct nm__viz_tick {
    double      v;          /* position in axis units (log10 of x on a log axis) */
    const char *text;       /* points at buf, or at a caller's custom label */
    char        buf[40];
    char        sup[16];
} nm__viz_tick;

/* Ticks at multiples of a nice step (1, 2 or 5 times a power of ten) inside [lo, hi]:
** the finest step that leaves at most `target` intervals between them. Writes up to `cap` positions to `out`
** and the step to *step; returns the count. lo < hi, both finite; target >= 1. */
int nm__viz_nice_ticks(double lo, double hi, int target, double *out, int cap, double *step);

/* Labels linear ticks t[0..n) of spacing `step`: as many decimals as the step needs,
** U+2212 for minus, and values divided by 10^exp10 (a common factor the caller shows
** once, as "x10^exp10"). Returns the exp10 it chose: 0 unless the ticks reach 1e6 or stay
** under 1e-3 in magnitude. */
int nm__viz_label_linear(nm__viz_tick *t, int n, double step);

/* Ticks of a log axis over [lo, hi] (log10 units), at most about `target` labelled:
** decades (10^k, every m-th decade when there are too many) or, when the range holds
** fewer than two decades, 1-2-5 multiples. Minor tick positions (2..9 x 10^k) go to
** minor[0..*n_minor) (cap NM_VIZ_MAX_TICKS * 2). Returns the number of labelled ticks. */
int nm__viz_log_ticks(double lo, double hi, int target, nm__viz_tick *t, double *minor, int *n_minor);

/* Labels one tick with the value v as short text: "0.25", "86400", or m x 10^e with e
** raised ("3.15x10^7") outside 1e-4..1e6. For custom ticks without labels and 1-2-5 ticks
** on a log axis. Does not set t->v. */
void nm__viz_label_value(nm__viz_tick *t, double v);

/* ---- plot geometry (plot.c) ------------------------------------------------------- */

/* The plot area of a figure in device units (pixels for PNG, points for SVG and PDF;
** y grows downwards) and the data range it shows. On a log x axis x_lo and x_hi are
** log10 of the x limits. In a bar chart group g is centred on x = g. */
typedef struct nm__viz_frame {
    double left, top, right, bottom;
    double x_lo, x_hi, y_lo, y_hi;
    int    log_x;
} nm__viz_frame;

static inline double nm__viz_px_x(const nm__viz_frame *f, double x) {
    double u = f->log_x ? log10(x) : x;
    return f->left + (u - f->x_lo) / (f->x_hi - f->x_lo) * (f->right - f->left);
}

static inline double nm__viz_px_y(const nm__viz_frame *f, double y) {
    return f->bottom - (y - f->y_lo) / (f->y_hi - f->y_lo) * (f->bottom - f->top);
}

/* Bar k of n_series in group g spans [*x0, *x1] in data units (groups are 1 wide, their
** bars fill the middle 80%). */
void nm__viz_bar_span(int g, int k, int n_series, double *x0, double *x1);

/* The frame nm_plot_lines / nm_plot_bars draws into for the same arguments in a PNG,
** computed without drawing (text is measured as for an image surface). Same errors. */
nm_status nm__viz_lines_frame(const nm_plot *p, const nm_series *s, int n_series, nm__viz_frame *out);
nm_status nm__viz_bars_frame(const nm_plot *p, const char *const *group_labels, int n_groups, const nm_series *s,
                             int n_series, nm__viz_frame *out);

/* ---- panels (plot.c): the figure kinds of raster.c, hist.c, ... are built from them --- */

#define NM__VIZ_AUTO_COLOUR 0xffffffffu

/* How one series of a panel is drawn: colour (NM__VIZ_AUTO_COLOUR: the palette's
** colour for its index), dashed line, and the area between the line and y = 0 filled
** with that colour at opacity `fill` (0: none; histograms). */
typedef struct nm__viz_style {
    unsigned rgb;
    int      dash;
    double   fill;
} nm__viz_style;

/* One set of axes. Several panels are stacked from the top of a figure, each getting
** `share` of its height; their plot areas share left and right edges, so stacked time
** axes line up. */
typedef struct nm__viz_panel {
    nm_plot              p;       /* title, labels, y range, x ticks; width and height not read */
    double               share;   /* of the figure's height; the shares add up to 1 */
    int                  bars;    /* grouped bars (groups, ng) instead of lines */
    const nm_series     *s;       /* may be empty (ns = 0) when x and y ranges are fixed */
    int                  ns;
    const char *const   *groups;
    int                  ng;
    const nm__viz_style *style;   /* ns entries, or NULL: palette, solid, no fill */
    double               x_lo, x_hi;     /* both finite: fixed x range, no padding */
    int                  hide_xtick_labels; /* ticks only: the panel below carries the labels */
    int                  no_legend;
    int                  no_markers;        /* lines only, even for short series */
    /* Called with the plot area (device units of this panel) clipped, after the grid and
    ** before the series: the marks that are not series (raster dots). */
    nm_status          (*draw_data)(cairo_t *cr, const nm__viz_frame *f, const void *user);
    const void          *user;
} nm__viz_panel;

void nm__viz_panel_default(nm__viz_panel *pn);

/* Checks the panels' series and settings, then draws them into `path` (format by
** extension, atomic write) at the size of `fig` (NULL: defaults), whose title goes to the
** PDF metadata. Same errors as nm_plot_lines. */
nm_status nm__viz_render(const nm_plot *fig, const nm__viz_panel *pn, int n_panels, const char *path);
/* The plot area of each panel in figure device units, as drawn into a PNG. */
nm_status nm__viz_render_frames(const nm_plot *fig, const nm__viz_panel *pn, int n_panels, nm__viz_frame *out);
/* nm_plot's size with the defaults (0: 800 x 500) filled in, and checked. */
nm_status nm__viz_figure_size(const nm_plot *p, int *w, int *h);
/* The file format of a path's extension: 0 PNG, 1 SVG, 2 PDF; NM_INVAL otherwise. */
nm_status nm__viz_format(const char *path, int *fmt);
/* Opens a surface for format fmt streaming to f (PNG: an image surface written by
** nm__viz_surface_finish). */
nm_status nm__viz_surface_open(int fmt, FILE *f, int w, int h, const char *title, const char *path, cairo_surface_t **out);
nm_status nm__viz_surface_finish(int fmt, cairo_surface_t *sf, FILE *f, const char *path);

/* Text with the point (ax, ay) of its box, in fractions of its width and height from the
** top left, on (x, y); and its advance width. The faces and sizes of plot.c. */
void   nm__viz_text(cairo_t *cr, double size, int bold, const char *text, double x, double y, double ax, double ay);
double nm__viz_text_width(cairo_t *cr, double size, int bold, const char *text);
#define NM__VIZ_FONT_TITLE 17.0
#define NM__VIZ_FONT_TICK 14.0
#define NM__VIZ_PAD 10.0

/* ---- figure kinds: shared helpers and geometry for tests -------------------------- */

/* Time axis unit for a span of data in seconds: ms (factor 1e3) up to 2 s, else s. */
double nm__viz_time_unit(double span_s, const char **label);

/* The window [*t0, *t1] (s) and bin (s) nm_plot_raster uses for r, and the two plot areas
** (raster, rate). x in the frames is in the displayed unit (times * *unit). */
nm_status nm__viz_raster_frames(const nm_plot *p, const nm_raster *r, nm__viz_frame out[2], double *unit);
/* The plot areas of nm_plot_traces (membrane, then current) and nm_plot_curve (loss,
** then accuracy, or only one of them); traces' x is in the displayed unit. */
nm_status nm__viz_traces_frames(const nm_plot *p, const nm_traces *tr, nm__viz_frame out[2], int *n_panels, double *unit);
nm_status nm__viz_curve_frames(const nm_plot *p, const nm_curve *c, nm__viz_frame out[2], int *n_panels);
/* The plot area of nm_plot_hist, with the bin edges it uses (lo, width). */
nm_status nm__viz_hist_frame(const nm_plot *p, const nm_series *s, int n_series, int n_bins, double lo, double hi,
                             nm__viz_frame *out, double *bin_lo, double *bin_w, int *bins);
/* Where image k of nm_plot_images lands: top left (x, y) and device units per image pixel. */
nm_status nm__viz_image_rect(const nm_plot *p, const nm_image *im, int n, int cols, int k, double *x, double *y,
                             double *scale);

/* The series palette (Tableau 10, as matplotlib's "tab10"), 0xRRGGBB; series k gets
** colour k % 10. */
extern const unsigned nm__viz_palette[10];

#endif
