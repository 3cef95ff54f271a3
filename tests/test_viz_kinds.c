/*
** viz figure kinds: rasters, traces, histograms, the training curve and image grids.
** Each figure is written as a PNG, reloaded with cairo and checked: the requested size,
** ink on the page, and marks where a known input must put them. Positions come from the
** layout the drawing uses (nm__viz_*_frames), so a flipped axis, a margin error or a
** wrong bin lands on white or on another colour. Every error path leaves no file.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cairo.h>
#include <cmocka.h>
#include <neuromorph/viz.h>

#include "viz/viz_impl.h"

#define ASSERT_MSG(call, code, needle)                                                                        \
    do {                                                                                                      \
        nm_status st_ = (call);                                                                               \
        if (st_ != (code)) fail_msg("%s returned %d, expected %d (%s)", #call, st_, code, nm_errmsg());      \
        if (!strstr(nm_errmsg(), needle)) fail_msg("%s: message '%s' lacks '%s'", #call, nm_errmsg(), needle); \
    } while (0)

#define ASSERT_OK(call)                                                                                       \
    do {                                                                                                      \
        nm_status st_ = (call);                                                                               \
        if (st_ != NM_OK) fail_msg("%s returned %d (%s)", #call, st_, nm_errmsg());                           \
    } while (0)

static const char *tmp_path(const char *name) {
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", NM_TEST_TMP_DIR, name);
    return buf[i];
}

/* ---- reading PNGs back -------------------------------------------------------------- */

typedef struct image {
    cairo_surface_t *sf;
    int              w, h, stride;
    unsigned char   *data;
} image;

static image load(const char *path, int w, int h) {
    image im = {cairo_image_surface_create_from_png(path), 0, 0, 0, NULL};
    if (cairo_surface_status(im.sf) != CAIRO_STATUS_SUCCESS)
        fail_msg("cannot reload '%s': %s", path, cairo_status_to_string(cairo_surface_status(im.sf)));
    cairo_surface_flush(im.sf);
    im.w = cairo_image_surface_get_width(im.sf);
    im.h = cairo_image_surface_get_height(im.sf);
    im.stride = cairo_image_surface_get_stride(im.sf);
    im.data = cairo_image_surface_get_data(im.sf);
    if (im.w != w || im.h != h) fail_msg("'%s' is %dx%d, expected %dx%d", path, im.w, im.h, w, h);
    /* not blank: between 1% and 60% of the page has ink */
    long ink = 0;
    for (int y = 0; y < im.h; y++)
        for (int x = 0; x < im.w; x++) {
            uint32_t v;
            memcpy(&v, im.data + (size_t)y * im.stride + 4 * (size_t)x, 4);
            ink += (v & 0xffffff) != 0xffffff;
        }
    if (ink < (long)w * h / 100 || ink > (long)w * h * 6 / 10) fail_msg("'%s': %ld of %d pixels have ink", path, ink, w * h);
    return im;
}

static unsigned pixel(const image *im, double fx, double fy) {
    int x = (int)floor(fx), y = (int)floor(fy);
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) fail_msg("pixel (%d, %d) outside %dx%d", x, y, im->w, im->h);
    uint32_t v;
    memcpy(&v, im->data + (size_t)y * im->stride + 4 * (size_t)x, 4);
    return v & 0xffffff;
}

static int channel_diff(unsigned a, unsigned b) {
    int d = 0;
    for (int s = 0; s < 24; s += 8) {
        int x = abs((int)((a >> s) & 255) - (int)((b >> s) & 255));
        d = x > d ? x : d;
    }
    return d;
}

static int is_colour(unsigned px, unsigned want) { return channel_diff(px, want) <= 12; }
static int dark(unsigned px) { return ((px >> 16) & 255) < 80 && ((px >> 8) & 255) < 80 && (px & 255) < 80; }

/* c at opacity a over white. */
static unsigned over_white(unsigned c, double a) {
    unsigned out = 0;
    for (int s = 0; s < 24; s += 8) out |= (unsigned)lround(255 + (((c >> s) & 255) - 255.0) * a) << s;
    return out;
}

static void assert_no_file(const char *path) {
    if (access(path, F_OK) == 0) fail_msg("'%s' exists after a failed plot", path);
}

static void assert_magic(const char *path, const char *a) {
    char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open '%s'", path);
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    if (n < strlen(a) || strncmp(head, a, strlen(a))) fail_msg("'%s' starts with '%.8s', expected '%s'", path, head, a);
}

/* ---- raster ------------------------------------------------------------------------- */

/* One spike of neuron 3 (of 10) at 250 ms in a 500 ms window: a dark mark at the mapped
** pixel, white in the other rows and times; the rate panel has 1 / (10 * 5 ms) = 20 Hz
** in bin 50 and nothing elsewhere. */
static void test_raster_one_spike(void **st) {
    (void)st;
    const double t[1] = {0.25};
    const int32_t nr[1] = {3};
    nm_raster r = {t, nr, 1, 10, 0, 0.5, 0};
    nm_plot p;
    nm_plot_default(&p);
    p.width = 700;
    p.height = 450;
    p.title = "one spike";
    const char *path = tmp_path("raster1.png");
    ASSERT_OK(nm_plot_raster(&p, &r, path));
    nm__viz_frame f[2];
    double unit;
    ASSERT_OK(nm__viz_raster_frames(&p, &r, f, &unit));
    assert_true(unit == 1e3);
    assert_true(f[0].x_lo == 0 && f[0].x_hi == 500);
    /* the two time axes line up */
    assert_true(f[0].left == f[1].left && f[0].right == f[1].right);
    assert_true(f[0].bottom < f[1].top);
    image im = load(path, 700, 450);
    double px = nm__viz_px_x(&f[0], 250), py = nm__viz_px_y(&f[0], 3);
    int hits = 0;
    for (int dx = -1; dx <= 1; dx++) hits += dark(pixel(&im, px + dx, py));
    if (!hits) fail_msg("no mark at (%.1f, %.1f): %06x", px, py, pixel(&im, px, py));
    /* other rows and times: no mark */
    assert_false(dark(pixel(&im, px, nm__viz_px_y(&f[0], 7))));
    assert_false(dark(pixel(&im, px, nm__viz_px_y(&f[0], 1))));
    assert_false(dark(pixel(&im, nm__viz_px_x(&f[0], 200), py)));
    assert_false(dark(pixel(&im, nm__viz_px_x(&f[0], 300), py)));
    /* rate: the bin [250, 255) ms holds 20 Hz; the fill is under it, white above it and
    ** in an empty bin */
    assert_true(f[1].y_lo == 0 && f[1].y_hi > 20 && f[1].y_hi < 22);
    double bx = nm__viz_px_x(&f[1], 253.5);
    assert_true(is_colour(pixel(&im, bx, nm__viz_px_y(&f[1], 13)), over_white(0x1f77b4, 0.25)));
    assert_int_equal(pixel(&im, nm__viz_px_x(&f[1], 103.5), nm__viz_px_y(&f[1], 13)), 0xffffff);
    cairo_surface_destroy(im.sf);

    /* A sparse raster: 5 neurons, spikes on a grid; every one where it belongs. */
    double t2[20];
    int32_t n2[20];
    for (int k = 0; k < 20; k++) t2[k] = 0.0123 + 0.0101 * (k % 4) * 10, n2[k] = k / 4;
    nm_raster r2 = {t2, n2, 20, 5, 0, 0.4, 0.01};
    path = tmp_path("raster2.png");
    ASSERT_OK(nm_plot_raster(&p, &r2, path));
    ASSERT_OK(nm__viz_raster_frames(&p, &r2, f, &unit));
    im = load(path, 700, 450);
    for (int k = 0; k < 20; k++) {
        double x = nm__viz_px_x(&f[0], t2[k] * 1e3), y = nm__viz_px_y(&f[0], n2[k]);
        if (!dark(pixel(&im, x, y)) && !dark(pixel(&im, x - 1, y))) fail_msg("spike %d: no mark at (%.1f, %.1f)", k, x, y);
    }
    cairo_surface_destroy(im.sf);
}

/* Many neurons per pixel row: a pixel that 50 spikes share is full ink, a lone spike is
** shaded lighter (alpha 0.2 + 0.8 / 50 with saturation at 2 x 25.5 - 1 = 50 spikes), so a
** dense raster shows structure instead of a black slab. */
static void test_raster_density(void **st) {
    (void)st;
    double t[51];
    int32_t nr[51];
    for (int k = 0; k < 50; k++) t[k] = 0.1, nr[k] = k;
    t[50] = 0.3, nr[50] = 50000;
    nm_raster r = {t, nr, 51, 100000, 0, 0.4, 0};
    nm_plot p;
    nm_plot_default(&p);
    const char *path = tmp_path("raster_dense.png");
    ASSERT_OK(nm_plot_raster(&p, &r, path));
    nm__viz_frame f[2];
    double unit;
    ASSERT_OK(nm__viz_raster_frames(&p, &r, f, &unit));
    image im = load(path, 800, 500);
    double ya = nm__viz_px_y(&f[0], 25), yb = nm__viz_px_y(&f[0], 50000);
    int found_a = 0, found_b = 0;
    for (int dx = -2; dx <= 2; dx++)
        for (int dy = -2; dy <= 2; dy++) {
            unsigned a = pixel(&im, nm__viz_px_x(&f[0], 100) + dx, ya + dy), b = pixel(&im, nm__viz_px_x(&f[0], 300) + dx, yb + dy);
            found_a |= is_colour(a, 0x1a1a2e);
            found_b |= is_colour(b, over_white(0x1a1a2e, 0.2 + 0.8 / 50));
        }
    if (!found_a || !found_b) fail_msg("dense mark full ink: %d, lone mark shaded: %d", found_a, found_b);
    cairo_surface_destroy(im.sf);
}

static void test_raster_errors(void **st) {
    (void)st;
    const double t[2] = {0.1, NAN};
    const int32_t nr[2] = {0, 12};
    const char *path = tmp_path("raster_bad.png");
    remove(path);
    nm_raster r = {t, nr, 1, 10, 0, 1, 0};
    ASSERT_MSG(nm_plot_raster(NULL, &r, tmp_path("raster_bad.bmp")), NM_INVAL, "unknown figure format");
    r.n_neurons = 0;
    ASSERT_MSG(nm_plot_raster(NULL, &r, path), NM_INVAL, "n_neurons = 0");
    r.n_neurons = 10;
    r.n = 2;
    ASSERT_MSG(nm_plot_raster(NULL, &r, path), NM_INVAL, "spike 1 has time nan");
    r.t = (const double[2]){0.1, 0.2};
    ASSERT_MSG(nm_plot_raster(NULL, &r, path), NM_INVAL, "spike 1 has neuron 12, outside 0..9");
    r.n = 1;
    r.bin = 1e-7;
    ASSERT_MSG(nm_plot_raster(NULL, &r, path), NM_INVAL, "bins");
    r.bin = 0;
    r.t = NULL;
    ASSERT_MSG(nm_plot_raster(NULL, &r, path), NM_INVAL, "NULL array");
    assert_no_file(path);
    /* a silent population is a valid, empty raster */
    nm_raster empty = {NULL, NULL, 0, 100, 0, 1, 0};
    ASSERT_OK(nm_plot_raster(NULL, &empty, path));
    remove(path);
}

/* ---- traces ------------------------------------------------------------------------- */

/* A membrane ramp from 0 to 1.2 over 100 ms and a threshold at 0.8: the ramp's pixels
** carry the first palette colour at the mapped places, the threshold row is dashed grey. */
static void test_traces(void **st) {
    (void)st;
    double x[101], v[101], c[101];
    for (int i = 0; i <= 100; i++) x[i] = i * 1e-3, v[i] = 1.2 * i / 100, c[i] = sin(i * 0.1);
    nm_series sv = {"neuron 7", x, v, NULL, 101}, si = {"neuron 7", x, c, NULL, 101};
    nm_traces tr = {&sv, 1, 0.8, NULL, 0, NULL, NULL};
    nm_plot p;
    nm_plot_default(&p);
    p.width = 640;
    p.height = 420;
    const char *path = tmp_path("traces.png");
    ASSERT_OK(nm_plot_traces(&p, &tr, path));
    nm__viz_frame f[2];
    int np;
    double unit;
    ASSERT_OK(nm__viz_traces_frames(&p, &tr, f, &np, &unit));
    assert_int_equal(np, 1);
    assert_true(unit == 1e3);
    image im = load(path, 640, 420);
    for (int i = 10; i <= 90; i += 20) {
        double px = nm__viz_px_x(&f[0], x[i] * 1e3), py = nm__viz_px_y(&f[0], v[i]);
        if (!is_colour(pixel(&im, px, py), nm__viz_palette[0]))
            fail_msg("trace point %d at (%.1f, %.1f) is %06x", i, px, py, pixel(&im, px, py));
    }
    /* the dashed threshold: grey on part of its row, left of where the ramp crosses it */
    double ty = nm__viz_px_y(&f[0], 0.8);
    int grey = 0, n = 0;
    for (double px = f[0].left + 5; px < nm__viz_px_x(&f[0], 50); px++, n++) grey += channel_diff(pixel(&im, px, ty), 0x555555) <= 40;
    if (grey < n / 3 || grey > n * 9 / 10) fail_msg("threshold row: %d of %d pixels grey", grey, n);
    assert_int_equal(pixel(&im, nm__viz_px_x(&f[0], 23), nm__viz_px_y(&f[0], 1.1)), 0xffffff);
    cairo_surface_destroy(im.sf);

    /* with a current panel below: two panels on one time axis */
    tr.i = &si;
    tr.n_i = 1;
    ASSERT_OK(nm_plot_traces(&p, &tr, path));
    ASSERT_OK(nm__viz_traces_frames(&p, &tr, f, &np, &unit));
    assert_int_equal(np, 2);
    assert_true(f[0].left == f[1].left && f[0].right == f[1].right && f[0].bottom < f[1].top);
    im = load(path, 640, 420);
    double px = nm__viz_px_x(&f[1], x[16] * 1e3), py = nm__viz_px_y(&f[1], c[16]);
    int hit = 0;
    for (int d = -1; d <= 1; d++) hit += is_colour(pixel(&im, px, py + d), nm__viz_palette[0]);
    if (!hit) fail_msg("current trace not at (%.1f, %.1f)", px, py);
    cairo_surface_destroy(im.sf);

    tr.n_v = 0;
    ASSERT_MSG(nm_plot_traces(&p, &tr, tmp_path("traces_bad.png")), NM_INVAL, "no membrane series");
    assert_no_file(tmp_path("traces_bad.png"));
}

/* ---- histograms --------------------------------------------------------------------- */

/* 10 values in [0, 1) and 4 in [1, 2], two bins over [0, 2]: bar 0 reaches 10, bar 1
** reaches 4; a second series overlays in its own colour. */
static void test_hist(void **st) {
    (void)st;
    double a[14];
    for (int i = 0; i < 10; i++) a[i] = 0.05 + 0.09 * i;
    for (int i = 0; i < 4; i++) a[10 + i] = 1.1 + 0.3 * i; /* the last is 2.0 = hi: last bin */
    nm_series s = {"before", NULL, a, NULL, 14};
    nm_plot p;
    nm_plot_default(&p);
    p.width = 600;
    p.height = 400;
    p.xlabel = "conductance (uS)";
    const char *path = tmp_path("hist.png");
    ASSERT_OK(nm_plot_hist(&p, &s, 1, 2, 0, 2, path));
    nm__viz_frame f;
    double lo, w;
    int bins;
    ASSERT_OK(nm__viz_hist_frame(&p, &s, 1, 2, 0, 2, &f, &lo, &w, &bins));
    assert_true(lo == 0 && w == 1 && bins == 2);
    assert_true(f.y_lo == 0 && fabs(f.y_hi - 10.5) < 1e-9);
    image im = load(path, 600, 400);
    const unsigned fill = over_white(nm__viz_palette[0], 0.3);
    assert_true(is_colour(pixel(&im, nm__viz_px_x(&f, 0.3), nm__viz_px_y(&f, 9.3)), fill));
    assert_true(is_colour(pixel(&im, nm__viz_px_x(&f, 0.3), nm__viz_px_y(&f, 10)), nm__viz_palette[0]));
    assert_int_equal(pixel(&im, nm__viz_px_x(&f, 0.3), nm__viz_px_y(&f, 10.3)), 0xffffff);
    assert_true(is_colour(pixel(&im, nm__viz_px_x(&f, 1.3), nm__viz_px_y(&f, 3.3)), fill));
    assert_int_equal(pixel(&im, nm__viz_px_x(&f, 1.3), nm__viz_px_y(&f, 4.7)), 0xffffff);
    cairo_surface_destroy(im.sf);

    /* two overlaid series, automatic bins and range */
    double b[200], c[300];
    for (int i = 0; i < 200; i++) b[i] = 1 + sin(i * 1.7) * 0.5;
    for (int i = 0; i < 300; i++) c[i] = 0.7 + cos(i * 2.3) * 0.4;
    nm_series two[2] = {{"programmed", NULL, b, NULL, 200}, {"after 1 day of drift", NULL, c, NULL, 300}};
    ASSERT_OK(nm_plot_hist(&p, two, 2, 0, 0, 0, path));
    ASSERT_OK(nm__viz_hist_frame(&p, two, 2, 0, 0, 0, &f, &lo, &w, &bins));
    assert_int_equal(bins, 18); /* ceil(sqrt(300)) */
    assert_true(fabs(lo - 0.3) < 0.01);
    im = load(path, 600, 400);
    cairo_surface_destroy(im.sf);

    path = tmp_path("hist_bad.png");
    ASSERT_MSG(nm_plot_hist(&p, &s, 1, -1, 0, 2, path), NM_INVAL, "-1 bins");
    ASSERT_MSG(nm_plot_hist(&p, &s, 1, 2, 0, INFINITY, path), NM_INVAL, "not finite");
    ASSERT_MSG(nm_plot_hist(&p, &s, 0, 2, 0, 2, path), NM_INVAL, "no series");
    a[3] = NAN;
    ASSERT_MSG(nm_plot_hist(&p, &s, 1, 2, 0, 2, path), NM_INVAL, "value 3 = nan");
    assert_no_file(path);
}

/* ---- training curve ----------------------------------------------------------------- */

static void test_curve(void **st) {
    (void)st;
    const double ep[4] = {1, 2, 3, 4}, tl[4] = {0.92, 0.61, 0.52, 0.47}, ta[4] = {0.71, 0.80, 0.83, 0.85},
                 va[4] = {0.76, 0.81, 0.83, 0.84};
    nm_curve c = {ep, 4, tl, NULL, ta, va};
    nm_plot p;
    nm_plot_default(&p);
    p.title = "training";
    const char *path = tmp_path("curve.png");
    ASSERT_OK(nm_plot_curve(&p, &c, path));
    nm__viz_frame f[2];
    int np;
    ASSERT_OK(nm__viz_curve_frames(&p, &c, f, &np));
    assert_int_equal(np, 2);
    assert_true(f[0].left == f[1].left && f[0].right == f[1].right && f[0].bottom < f[1].top);
    image im = load(path, 800, 500);
    for (int i = 0; i < 4; i++) {
        /* markers: loss (train, blue) above; accuracy in % (train blue, test orange) below */
        assert_true(is_colour(pixel(&im, nm__viz_px_x(&f[0], ep[i]), nm__viz_px_y(&f[0], tl[i])), nm__viz_palette[0]));
        if (i != 2) /* at epoch 3 the test marker covers the train one */
            assert_true(is_colour(pixel(&im, nm__viz_px_x(&f[1], ep[i]), nm__viz_px_y(&f[1], 100 * ta[i])), nm__viz_palette[0]));
    }
    assert_true(is_colour(pixel(&im, nm__viz_px_x(&f[1], 1), nm__viz_px_y(&f[1], 76)), nm__viz_palette[1]));
    cairo_surface_destroy(im.sf);

    c.train_loss = NULL; /* only accuracy: one panel */
    ASSERT_OK(nm__viz_curve_frames(&p, &c, f, &np));
    assert_int_equal(np, 1);
    c.train_acc = c.test_acc = NULL;
    ASSERT_MSG(nm_plot_curve(&p, &c, tmp_path("curve_bad.png")), NM_INVAL, "no loss or accuracy");
    c.test_acc = va;
    c.n = 0;
    ASSERT_MSG(nm_plot_curve(&p, &c, tmp_path("curve_bad.png")), NM_INVAL, "no epochs");
    assert_no_file(tmp_path("curve_bad.png"));
}

/* ---- image grids -------------------------------------------------------------------- */

/* A 4x5 gray image with one black pixel and a 3x3 diverging one: each image pixel is a
** block of whole device pixels in the mapped colour. */
static void test_images(void **st) {
    (void)st;
    float g[20] = {0}, d[9] = {-1, 0, 1, -0.5f, 0, 0.5f, 0, 0, 0};
    g[1 * 5 + 3] = 1; /* row 1, column 3 */
    nm_image im2[3] = {{g, 4, 5, "digit 7"}, {d, 3, 3, "weights"}, {g, 4, 5, NULL}};
    nm_plot p;
    nm_plot_default(&p);
    p.width = 600;
    p.height = 300;
    p.title = "inputs";
    const char *path = tmp_path("grid.png");
    ASSERT_OK(nm_plot_images(&p, im2, 2, 0, NM_CMAP_GRAY, 0, 1, path));
    double x, y, s;
    ASSERT_OK(nm__viz_image_rect(&p, im2, 2, 0, 0, &x, &y, &s));
    assert_true(s >= 1 && s == floor(s));
    image im = load(path, 600, 300);
    assert_int_equal(pixel(&im, x + 3.5 * s, y + 1.5 * s), 0x000000);
    assert_int_equal(pixel(&im, x + 2.5 * s, y + 1.5 * s), 0xffffff);
    assert_int_equal(pixel(&im, x + 3.5 * s, y + 2.5 * s), 0xffffff);
    cairo_surface_destroy(im.sf);

    /* diverging, each image's own range (+-1): -1 blue, +1 red, 0 white, 0.5 half red */
    path = tmp_path("grid_div.png");
    ASSERT_OK(nm_plot_images(&p, im2, 3, 2, NM_CMAP_DIVERGING, 0, 0, path));
    ASSERT_OK(nm__viz_image_rect(&p, im2, 3, 2, 1, &x, &y, &s));
    im = load(path, 600, 300);
    assert_int_equal(pixel(&im, x + 0.5 * s, y + 0.5 * s), 0x2166ac);
    assert_int_equal(pixel(&im, x + 2.5 * s, y + 0.5 * s), 0xb2182b);
    assert_int_equal(pixel(&im, x + 1.5 * s, y + 0.5 * s), 0xffffff);
    assert_true(is_colour(pixel(&im, x + 2.5 * s, y + 1.5 * s), over_white(0xb2182b, 0.5)));
    /* image 2 is in the second row, first column */
    double x2, y2;
    ASSERT_OK(nm__viz_image_rect(&p, im2, 3, 2, 2, &x2, &y2, &s));
    assert_true(y2 > y && fabs(x2 - x) > 50);
    cairo_surface_destroy(im.sf);

    path = tmp_path("grid_bad.png");
    ASSERT_MSG(nm_plot_images(&p, im2, 0, 0, NM_CMAP_GRAY, 0, 1, path), NM_INVAL, "no images");
    g[7] = NAN;
    ASSERT_MSG(nm_plot_images(&p, im2, 1, 0, NM_CMAP_GRAY, 0, 1, path), NM_INVAL, "row 1, column 2");
    g[7] = 0;
    nm_image bad = {NULL, 2, 2, NULL};
    ASSERT_MSG(nm_plot_images(&p, &bad, 1, 0, NM_CMAP_GRAY, 0, 1, path), NM_INVAL, "no data");
    ASSERT_MSG(nm_plot_images(&p, im2, 1, -2, NM_CMAP_GRAY, 0, 1, path), NM_INVAL, "cols = -2");
    nm_image many[400];
    for (int k = 0; k < 400; k++) many[k] = (nm_image){g, 4, 5, "x"};
    p.width = p.height = 120;
    ASSERT_MSG(nm_plot_images(&p, many, 400, 0, NM_CMAP_GRAY, 0, 1, path), NM_INVAL, "too small");
    assert_no_file(path);
}

/* ---- spike files -------------------------------------------------------------------- */

static void test_spike_files(void **st) {
    (void)st;
    const char text[] = "time_s,neuron\r\n# a comment\n\n0.0125,3\r\n  2.5e-3\t17\n1 0\n0.75 , 4";
    nm_spikes s;
    ASSERT_OK(nm_spikes_parse(text, sizeof text - 1, "t.csv", &s));
    assert_int_equal(s.n, 4);
    assert_int_equal(s.n_neurons, 18);
    assert_true(s.t[0] == 0.0125 && s.neuron[0] == 3);
    assert_true(s.t[1] == 2.5e-3 && s.neuron[1] == 17);
    assert_true(s.t[2] == 1 && s.neuron[2] == 0);
    assert_true(s.t[3] == 0.75 && s.neuron[3] == 4);
    /* round trip through a file: the same spikes back */
    const char *path = tmp_path("spikes.csv");
    ASSERT_OK(nm_spikes_write(path, s.t, s.neuron, s.n));
    nm_spikes r;
    ASSERT_OK(nm_spikes_read(path, &r));
    assert_int_equal(r.n, 4);
    for (int k = 0; k < 4; k++) assert_true(r.t[k] == s.t[k] && r.neuron[k] == s.neuron[k]);
    nm_spikes_free(&r);
    nm_spikes_free(&s);
    nm_spikes_free(NULL);
    /* an empty file: no spikes, no error */
    ASSERT_OK(nm_spikes_parse("# nothing\n", 10, "e.csv", &s));
    assert_int_equal(s.n, 0);
    assert_int_equal(s.n_neurons, 0);
    /* errors name the line and its byte offset and leave the output alone */
    nm_spikes keep = {NULL, NULL, 7, 9};
    const char b1[] = "0.1,1\n0.2,-3\n";
    ASSERT_MSG(nm_spikes_parse(b1, sizeof b1 - 1, "b.csv", &keep), NM_FORMAT, "'b.csv' line 2 (byte 6): expected a neuron index");
    assert_true(keep.n == 7 && keep.n_neurons == 9 && !keep.t);
    const char b2[] = "0.1,1\nnan,2\n";
    ASSERT_MSG(nm_spikes_parse(b2, sizeof b2 - 1, "b.csv", &keep), NM_FORMAT, "line 2 (byte 6): expected TIME,NEURON");
    const char b3[] = "0.1,1 x\n";
    ASSERT_MSG(nm_spikes_parse(b3, sizeof b3 - 1, "b.csv", &keep), NM_FORMAT, "unexpected 'x'");
    const char b4[] = "0.1,99999999999\n";
    ASSERT_MSG(nm_spikes_parse(b4, sizeof b4 - 1, "b.csv", &keep), NM_FORMAT, "expected a neuron index");
    const char b5[] = "time_s,neuron\ntime_s,neuron\n"; /* a header only once, first */
    ASSERT_MSG(nm_spikes_parse(b5, sizeof b5 - 1, "b.csv", &keep), NM_FORMAT, "line 2 (byte 14)");
    ASSERT_MSG(nm_spikes_read(tmp_path("none.csv"), &keep), NM_NOTFOUND, "none.csv");
    const double bad_t[1] = {INFINITY};
    const int32_t n0[1] = {0};
    ASSERT_MSG(nm_spikes_write(tmp_path("bad_spikes.csv"), bad_t, n0, 1), NM_INVAL, "spike 0 has time inf");
    assert_no_file(tmp_path("bad_spikes.csv"));
}

/* ---- vector formats ----------------------------------------------------------------- */

static void test_vector_formats(void **st) {
    (void)st;
    const double t[3] = {0.1, 0.2, 0.3};
    const int32_t nr[3] = {0, 1, 2};
    nm_raster r = {t, nr, 3, 3, 0, 0.4, 0};
    double v[5] = {1, 2, 2, 3, 4};
    nm_series s = {NULL, NULL, v, NULL, 5};
    float g[4] = {0, 1, 2, 3};
    nm_image im = {g, 2, 2, NULL};
    const char *ext[2] = {"svg", "pdf"}, *magic[2] = {"<?xml", "%PDF"};
    for (int k = 0; k < 2; k++) {
        char name[64];
        snprintf(name, sizeof name, "raster.%s", ext[k]);
        ASSERT_OK(nm_plot_raster(NULL, &r, tmp_path(name)));
        assert_magic(tmp_path(name), magic[k]);
        snprintf(name, sizeof name, "hist.%s", ext[k]);
        ASSERT_OK(nm_plot_hist(NULL, &s, 1, 0, 0, 0, tmp_path(name)));
        assert_magic(tmp_path(name), magic[k]);
        snprintf(name, sizeof name, "grid.%s", ext[k]);
        ASSERT_OK(nm_plot_images(NULL, &im, 1, 0, NM_CMAP_GRAY, 0, 0, tmp_path(name)));
        assert_magic(tmp_path(name), magic[k]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raster_one_spike), cmocka_unit_test(test_raster_errors), cmocka_unit_test(test_raster_density),
        cmocka_unit_test(test_traces),
        cmocka_unit_test(test_hist),             cmocka_unit_test(test_curve),         cmocka_unit_test(test_images),
        cmocka_unit_test(test_vector_formats),   cmocka_unit_test(test_spike_files),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nm_viz_release(); /* leak checkers then see only what the library itself keeps */
    return rc;
}
