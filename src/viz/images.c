/*
** images.c: grids of small images (event frames, input digits, learned receptive
** fields). Each image becomes an RGB pixel buffer at its own resolution, painted scaled
** with nearest-neighbour sampling, so pixels stay square blocks rather than blurs;
** images that fit more than once are scaled by a whole factor, which keeps every block
** the same size. Title and labels use plot.c's text.
*/
#include "viz_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GAP 8.0          /* between cells */
#define FONT_LABEL 13.0
#define LABEL_GAP 3.0
#define C_BORDER 0xbbbbbb
#define C_TEXT 0x222222

typedef struct grid {
    int    W, H, cols, rows, fmt;
    double x0, y0, cell_w, cell_h, label_h, title_size;
} grid;

typedef struct images_job {
    const nm_plot  *p;
    const nm_image *im;
    int             n, cols;
    nm_cmap         cmap;
    float           vmin, vmax;
    const char     *path;
    grid            g;
} images_job;

static int has_text(const char *s) { return s && s[0]; }

static nm_status check_images(const nm_image *im, int n, int cols, nm_cmap cmap) {
    if (n <= 0) return nm__error(NM_INVAL, "image grid: no images (n = %d)", n);
    if (!im) return nm__error(NM_INVAL, "image grid: n = %d but the image array is NULL", n);
    if (cols < 0) return nm__error(NM_INVAL, "image grid: cols = %d is negative", cols);
    if (cmap != NM_CMAP_GRAY && cmap != NM_CMAP_DIVERGING) return nm__error(NM_INVAL, "image grid: unknown colour map %d", (int)cmap);
    for (int k = 0; k < n; k++) {
        if (im[k].h <= 0 || im[k].w <= 0 || im[k].h > 16384 || im[k].w > 16384)
            return nm__error(NM_INVAL, "image %d is %dx%d (each side 1..16384)", k, im[k].h, im[k].w);
        if (!im[k].data) return nm__error(NM_INVAL, "image %d has no data (NULL)", k);
        const size_t m = (size_t)im[k].h * (size_t)im[k].w;
        for (size_t i = 0; i < m; i++)
            if (!isfinite(im[k].data[i]))
                return nm__error(NM_INVAL, "image %d: value %zu (row %zu, column %zu) = %g is not finite", k, i, i / (size_t)im[k].w,
                                 i % (size_t)im[k].w, (double)im[k].data[i]);
    }
    return NM_OK;
}

/* Cells: a title row, then rows x cols cells of equal size, each with a label row. */
static nm_status layout(cairo_t *cr, const nm_plot *p, const nm_image *im, int n, int cols, grid *g) {
    nm_status rc = nm__viz_figure_size(p, &g->W, &g->H);
    if (rc) return rc;
    g->cols = cols > 0 ? (cols < n ? cols : n) : (int)ceil(sqrt((double)n));
    g->rows = (n + g->cols - 1) / g->cols;
    double top = NM__VIZ_PAD;
    if (p && has_text(p->title)) {
        double w = nm__viz_text_width(cr, NM__VIZ_FONT_TITLE, 1, p->title), room = g->W - 2 * NM__VIZ_PAD;
        g->title_size = w > room ? NM__VIZ_FONT_TITLE * room / w : NM__VIZ_FONT_TITLE;
        cairo_font_extents_t fe;
        cairo_select_font_face(cr, "sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(cr, g->title_size);
        cairo_font_extents(cr, &fe);
        top += fe.ascent + fe.descent + 10;
    }
    int labels = 0;
    for (int k = 0; k < n; k++) labels |= has_text(im[k].label);
    g->label_h = 0;
    if (labels) {
        cairo_font_extents_t fe;
        cairo_select_font_face(cr, "sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, FONT_LABEL);
        cairo_font_extents(cr, &fe);
        g->label_h = LABEL_GAP + fe.ascent + fe.descent;
    }
    g->x0 = NM__VIZ_PAD;
    g->y0 = round(top);
    g->cell_w = (g->W - 2 * NM__VIZ_PAD - (g->cols - 1) * GAP) / g->cols;
    g->cell_h = (g->H - g->y0 - NM__VIZ_PAD - (g->rows - 1) * GAP) / g->rows - g->label_h;
    if (g->cell_w < 2 || g->cell_h < 2)
        return nm__error(NM_INVAL, "image grid: figure %dx%d is too small for %d images in %d columns", g->W, g->H, n, g->cols);
    return NM_OK;
}

/* Top left and scale of image k: centred in its cell, a whole scale factor when >= 1. */
static void place(const grid *g, const nm_image *im, int k, double *x, double *y, double *scale) {
    double s = fmin(g->cell_w / im[k].w, g->cell_h / im[k].h);
    if (s >= 1) s = floor(s);
    int r = k / g->cols, c = k % g->cols;
    double cx = g->x0 + c * (g->cell_w + GAP), cy = g->y0 + r * (g->cell_h + g->label_h + GAP);
    *x = round(cx + (g->cell_w - s * im[k].w) / 2);
    *y = round(cy + (g->cell_h - s * im[k].h) / 2);
    *scale = s;
}

static uint32_t lerp_rgb(unsigned a, unsigned b, double t) {
    uint32_t out = 0;
    for (int sh = 16; sh >= 0; sh -= 8) {
        double ca = (a >> sh) & 255, cb = (b >> sh) & 255;
        out |= (uint32_t)lround(ca + (cb - ca) * t) << sh;
    }
    return out;
}

/* The colour of v: gray white (vmin) to black (vmax); diverging blue (negative) through
** white (0) to red (positive), each side scaled by its own limit. */
static uint32_t colour(nm_cmap cmap, double v, double lo, double hi) {
    if (cmap == NM_CMAP_GRAY) {
        double t = hi > lo ? (v - lo) / (hi - lo) : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        return lerp_rgb(0xffffff, 0x000000, t);
    }
    double t = v < 0 ? (lo < 0 ? v / lo : 1) : (hi > 0 ? v / hi : v > 0 ? 1 : 0);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return lerp_rgb(0xffffff, v < 0 ? 0x2166ac : 0xb2182b, t);
}

static nm_status draw_image(cairo_t *cr, const images_job *j, int k) {
    const nm_image *a = &j->im[k];
    const size_t m = (size_t)a->h * (size_t)a->w;
    double lo = j->vmin, hi = j->vmax;
    if (!(lo < hi)) { /* each image's own range */
        lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < m; i++) lo = fmin(lo, a->data[i]), hi = fmax(hi, a->data[i]);
        if (j->cmap == NM_CMAP_DIVERGING) hi = fmax(fabs(lo), fabs(hi)), lo = -hi;
    } else if (j->cmap == NM_CMAP_DIVERGING && !(lo < 0 && hi > 0)) { /* one-sided limits: symmetric */
        hi = fmax(fabs(lo), fabs(hi)), lo = -hi;
    }
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, a->w, a->h);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return nm__error(NM_NOMEM, "image grid: out of memory for image %d", k);
    }
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    for (int r = 0; r < a->h; r++) {
        uint32_t *row = (uint32_t *)(data + (size_t)r * stride);
        for (int c = 0; c < a->w; c++) row[c] = colour(j->cmap, a->data[(size_t)r * a->w + c], lo, hi);
    }
    cairo_surface_mark_dirty(img);
    double x, y, s;
    place(&j->g, j->im, k, &x, &y, &s);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, s, s);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, a->w, a->h);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    /* a hairline frame, so white images and white backgrounds stay apart */
    cairo_rectangle(cr, x - 0.5, y - 0.5, s * a->w + 1, s * a->h + 1);
    cairo_set_source_rgb(cr, ((C_BORDER >> 16) & 255) / 255.0, ((C_BORDER >> 8) & 255) / 255.0, (C_BORDER & 255) / 255.0);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    if (has_text(a->label)) {
        double w = nm__viz_text_width(cr, FONT_LABEL, 0, a->label);
        double size = w > j->g.cell_w ? FONT_LABEL * j->g.cell_w / w : FONT_LABEL;
        cairo_set_source_rgb(cr, ((C_TEXT >> 16) & 255) / 255.0, ((C_TEXT >> 8) & 255) / 255.0, (C_TEXT & 255) / 255.0);
        nm__viz_text(cr, size, 0, a->label, x + s * a->w / 2, y + s * a->h + LABEL_GAP, 0.5, 0);
    }
    return NM_OK;
}

static nm_status write_images(FILE *f, void *user) {
    images_job *j = user;
    cairo_surface_t *sf;
    nm_status rc = nm__viz_surface_open(j->g.fmt, f, j->g.W, j->g.H, j->p ? j->p->title : NULL, j->path, &sf);
    if (rc) return rc;
    cairo_t *cr = cairo_create(sf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    if (j->p && has_text(j->p->title)) {
        cairo_set_source_rgb(cr, ((C_TEXT >> 16) & 255) / 255.0, ((C_TEXT >> 8) & 255) / 255.0, (C_TEXT & 255) / 255.0);
        nm__viz_text(cr, j->g.title_size, 1, j->p->title, j->g.W / 2.0, NM__VIZ_PAD, 0.5, 0);
    }
    for (int k = 0; k < j->n && rc == NM_OK; k++) rc = draw_image(cr, j, k);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (rc == NM_OK && st != CAIRO_STATUS_SUCCESS)
        rc = nm__error(st == CAIRO_STATUS_NO_MEMORY ? NM_NOMEM : NM_IO, "cannot draw '%s': %s", j->path, cairo_status_to_string(st));
    if (rc == NM_OK) rc = nm__viz_surface_finish(j->g.fmt, sf, f, j->path);
    cairo_surface_destroy(sf);
    return rc;
}

/* Checks everything and lays the grid out (text measured as for a PNG). */
static nm_status prepare(images_job *j) {
    nm_status rc = check_images(j->im, j->n, j->cols, j->cmap);
    if (rc) return rc;
    if (!isfinite(j->vmin) || !isfinite(j->vmax))
        return nm__error(NM_INVAL, "image grid: colour range [%g, %g] is not finite", (double)j->vmin, (double)j->vmax);
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *cr = cairo_create(sf);
    int fmt = j->g.fmt;
    rc = layout(cr, j->p, j->im, j->n, j->cols, &j->g);
    j->g.fmt = fmt;
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return rc;
}

nm_status nm_plot_images(const nm_plot *p, const nm_image *im, int n, int cols, nm_cmap cmap, float vmin,
                         float vmax, const char *path) {
    images_job j = {p, im, n, cols, cmap, vmin, vmax, path, {0}};
    nm_status rc = nm__viz_format(path, &j.g.fmt);
    if (rc || (rc = prepare(&j))) return rc;
    return nm_file_write_atomic(path, write_images, &j);
}

nm_status nm__viz_image_rect(const nm_plot *p, const nm_image *im, int n, int cols, int k, double *x, double *y,
                             double *scale) {
    images_job j = {p, im, n, cols, NM_CMAP_GRAY, 0, 0, NULL, {0}};
    nm_status rc = prepare(&j);
    if (rc) return rc;
    if (k < 0 || k >= n) return nm__error(NM_INVAL, "image %d of %d", k, n);
    place(&j.g, im, k, x, y, scale);
    return NM_OK;
}
