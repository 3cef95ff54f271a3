/*
** viz_impl.h: what the viz module's files share and do not export: axis ticks and their
** labels (ticks.c), and the geometry of a figure's plot area (plot.c), which the tests use
** to find where a data point lands in the image.
*/
#ifndef NM_VIZ_IMPL_H
#define NM_VIZ_IMPL_H

#include <math.h>
#include <stddef.h>

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

/* The series palette (Tableau 10, as matplotlib's "tab10"), 0xRRGGBB; series k gets
** colour k % 10. */
extern const unsigned nm__viz_palette[10];

#endif
