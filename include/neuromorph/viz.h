/*
** viz: figures through cairo. Line plots with error bands (accuracy against device time,
** against mismatch), grouped bar charts (accuracy per stage, energy breakdown), spike
** rasters with the population rate, membrane and current traces, histograms, the training
** curve and image grids, written as PNG, SVG or PDF by the file name's extension.
**
** Figures are sized in pixels (PNG) or points (SVG, PDF), with axes in the data's units,
** ticks, labels, a title and a legend when there are several series. Text uses cairo's
** "sans" face through fontconfig, so one font must be installed (Debian: fonts-dejavu-core,
** which fontconfig-config already pulls in).
*/
#ifndef NEUROMORPH_VIZ_H
#define NEUROMORPH_VIZ_H

#include "base.h"
#include "data.h"   /* spike files (nm_spikes) */

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

/* Frees cairo's font caches and fontconfig's configuration, which otherwise live until
** exit (and show up in leak checkers as a few hundred bytes from fontconfig). The next
** figure loads them again. Call it with no figure being drawn, e.g. before exiting. */
void nm_viz_release(void);

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

/* ---- spike rasters ---------------------------------------------------------------- */

/* Spikes as two parallel arrays: spike k is neuron[k] firing at t[k] seconds. */
typedef struct nm_raster {
    const double  *t;          /* n times, s (any order) */
    const int32_t *neuron;     /* n indices, 0 .. n_neurons - 1 */
    int64_t        n;          /* may be 0: an empty raster of a silent population */
    int64_t        n_neurons;  /* rows of the raster, > 0 */
    double         t0, t1;     /* window, s; t1 <= t0: from 0 (or the first spike, if negative)
                               ** to the last spike, at least 1 ms */
    double         bin;        /* population-rate bin, s; 0: the window / 100 */
} nm_raster;

/* A raster (one dark mark per spike, neuron 0 at the bottom) over the population rate
** (spikes per neuron per second in each bin, in Hz) on the same time axis. Times are
** shown in ms when the window is at most 2 s, else in s; p's xlabel and ylabel replace
** "time (ms)" and "neuron". Spikes outside the window are not drawn (nor counted in the
** rate). Marks are written straight into a pixel buffer, so millions of spikes take
** well under a second. Same formats, atomic write and errors as nm_plot_lines, and
** NM_INVAL for a NULL array with n > 0, n_neurons <= 0, a non-finite time, a neuron
** index out of range, a bad window or bin (more than 100,000 bins). */
nm_status nm_plot_raster(const nm_plot *p, const nm_raster *r, const char *path);

/* ---- membrane and current traces -------------------------------------------------- */

typedef struct nm_traces {
    const nm_series *v;          /* membrane traces against time (x in s); n_v >= 1 */
    int              n_v;
    double           threshold;  /* drawn dashed and labelled "threshold"; NAN: none */
    const nm_series *i;          /* synaptic-current traces for a second panel below (NULL: none) */
    int              n_i;
    const char      *v_label, *i_label; /* y axis labels; NULL: "membrane potential", "synaptic current" */
} nm_traces;

/* Traces against time (ms when the data span at most 2 s, else s), the threshold dashed
** across the membrane panel, a legend naming the series. Same formats, atomic write and
** errors as nm_plot_lines. */
nm_status nm_plot_traces(const nm_plot *p, const nm_traces *tr, const char *path);

/* ---- histograms ---------------------------------------------------------------------- */

/* Histograms of several samples over the same n_bins bins of [lo, hi], overlaid as
** translucent steps: series k's values are s[k].y[0 .. s[k].n) (x and err are not read).
** n_bins 0: sqrt of the largest sample, 10..80; lo >= hi: the data's range. A value
** equal to hi goes into the last bin; values outside [lo, hi] are not counted. The y axis
** (count, or p's ylabel) starts at 0. Same formats, atomic write and errors as
** nm_plot_lines, and NM_INVAL for n_bins < 0 or > 10,000 or a non-finite lo / hi. */
nm_status nm_plot_hist(const nm_plot *p, const nm_series *s, int n_series, int n_bins, double lo, double hi,
                       const char *path);

/* ---- the training curve ------------------------------------------------------------ */

/* Per-epoch history; NULL arrays are not drawn. Accuracies are fractions (drawn in %). */
typedef struct nm_curve {
    const double *epoch;
    int           n;
    const double *train_loss, *test_loss;
    const double *train_acc, *test_acc;
} nm_curve;

/* Two stacked panels on one epoch axis: loss above, accuracy (%) below (only one when
** the other has no array). Same formats, atomic write and errors as nm_plot_lines, and
** NM_INVAL when no array is given. */
nm_status nm_plot_curve(const nm_plot *p, const nm_curve *c, const char *path);

#ifdef __cplusplus
}
#endif
#endif
