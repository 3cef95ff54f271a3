/*
** viz: figures through cairo. Line plots with error bands (accuracy against device time,
** against mismatch, the training curve) and grouped bar charts (accuracy per stage, energy
** breakdown), written as PNG, SVG or PDF by the file name's extension.
**
** Figures are sized in pixels (PNG) or points (SVG, PDF), with axes in the data's units,
** ticks, labels, a title and a legend when there are several series. Text uses cairo's
** "sans" face through fontconfig, so one font must be installed (Debian: fonts-dejavu-core,
** which fontconfig-config already pulls in).
*/
#ifndef NEUROMORPH_VIZ_H
#define NEUROMORPH_VIZ_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One series: n points (x[i], y[i]); err (may be NULL) draws a band y +- err (lines) or an
** error bar (bars). For bar charts x is not read and y holds one value per group. label
** names the series in the legend and in error messages (NULL or "": "series k" in the
** legend, counted from 1, and "s[k]" in errors). The arrays are only read. */
typedef struct nm_series {
    const char   *label;
    const double *x, *y, *err;
    int           n;
} nm_series;

typedef struct nm_plot {
    const char *title, *xlabel, *ylabel;   /* NULL or "": none */
    int    width, height;     /* pixels / points; 0: 800 x 500; otherwise 120..16384 */
    int    log_x;             /* logarithmic x axis (every x must be > 0); lines only */
    double y_min, y_max;      /* NAN (any non-finite value): from the data */
    /* Custom x ticks (NULL: automatic): n_xticks positions and their labels ("1 s", "1 d");
    ** xtick_labels NULL (or one NULL entry) writes the numbers. The x axis is widened to
    ** show every custom tick. Lines only. */
    const double      *xticks;
    const char *const *xtick_labels;
    int                n_xticks;
} nm_plot;

/* Width and height 0, no log axis, automatic y range, automatic ticks, no titles. */
void nm_plot_default(nm_plot *p);

/* Lines with markers (and bands) for every series, in the order given, colours from a
** fixed 10-colour palette (Tableau 10) and a marker shape per series; series of more than
** 60 points get no markers. The y range is the data's (bands included) padded by 5%, with
** y_min / y_max replacing either end when finite; x is padded by 5% too. A legend is drawn
** when there are several series or the one series has a label: in the corner of the plot
** that hides the least data, or right of the plot when every corner would hide some. p
** may be NULL for defaults. The format follows the extension of `path`, in any case:
** .png (ARGB32 on white), .svg or .pdf. The file is written atomically: on any error it is
** left as it was.
** NM_INVAL naming the problem for an empty series, a NULL array, non-finite values, a
** negative err, x <= 0 on a log axis, a bad setting (size, y_min >= y_max, ticks) or an
** unknown extension, and when the labels leave no room for the plot; NM_IO naming the
** file when it cannot be written; NM_NOMEM. */
nm_status nm_plot_lines(const nm_plot *p, const nm_series *s, int n_series, const char *path);
/* Grouped bars: n_groups categories labelled group_labels (NULL: numbered from 1), one
** bar per series in each; series k's y[g] (and err[g]) is its bar in group g (every
** series has n = n_groups). Bars stand on y = 0; the y axis runs from 0 (or below, for
** negative values) to the largest bar or error bar, padded by 5%, with y_min / y_max
** replacing either end when finite. Group labels that would touch are turned 30 degrees.
** log_x and the x tick settings are not read. Same formats and errors as nm_plot_lines,
** and NM_INVAL for n_groups <= 0 or a series whose n is not n_groups. */
nm_status nm_plot_bars(const nm_plot *p, const char *const *group_labels, int n_groups, const nm_series *s,
                       int n_series, const char *path);

/* ---- image grids (event frames, input digits, receptive fields) ----------------------- */

typedef enum {
    NM_CMAP_GRAY      = 0,   /* vmin white .. vmax black (digits, counts)                    */
    NM_CMAP_DIVERGING = 1    /* negative blue, 0 white, positive red (ON/OFF frames, weights) */
} nm_cmap;

/* One image of h x w values, row-major; label (NULL or "": none) is drawn under it. */
typedef struct nm_image {
    const float *data;
    int          h, w;
    const char  *label;
} nm_image;

/* A grid of n images in `cols` columns (0: about square), each scaled to the same cell
** size with square pixels and nearest-neighbour sampling, under p's title (p's axis
** labels, log_x, y range and ticks are not read). Values map through cmap over
** [vmin, vmax]; when vmin >= vmax the range is each image's own (diverging: +-max|v|).
** Same formats, atomic write and errors as nm_plot_lines (NM_INVAL for n <= 0, a NULL
** data pointer, h or w <= 0, non-finite values). */
nm_status nm_plot_images(const nm_plot *p, const nm_image *im, int n, int cols, nm_cmap cmap, float vmin,
                         float vmax, const char *path);

#ifdef __cplusplus
}
#endif
#endif
