/*
** viz: ticks and their labels, then figures read back as pixels. A PNG is reloaded with
** cairo and checked where the marks must be: the plot-area geometry comes from
** nm__viz_lines_frame / nm__viz_bars_frame (the layout the drawing uses), so a point's
** pixel is known, and a wrong mapping (flipped y, off-by-a-margin x) lands on white or
** on another colour. Every error path is triggered on purpose and must leave no file.
*/
#include <float.h>
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
#include <dlfcn.h>
#include <neuromorph/viz.h>

#include "viz/viz_impl.h"

#define MINUS "\xe2\x88\x92"

#define ASSERT_MSG(call, code, needle)                                                                     \
    do {                                                                                                   \
        nm_status st_ = (call);                                                                            \
        if (st_ != (code)) fail_msg("%s returned %d, expected %d (%s)", #call, st_, code, nm_errmsg());  \
        if (!strstr(nm_errmsg(), needle)) fail_msg("%s: message '%s' lacks '%s'", #call, nm_errmsg(), needle); \
    } while (0)

#define ASSERT_OK(call)                                                                                    \
    do {                                                                                                   \
        nm_status st_ = (call);                                                                            \
        if (st_ != NM_OK) fail_msg("%s returned %d (%s)", #call, st_, nm_errmsg());                        \
    } while (0)

/* A path in the test directory; valid for the next 15 calls. */
static const char *tmp_path(const char *name) {
    static char buf[16][512];
    static int i;
    i = (i + 1) % 16;
    snprintf(buf[i], sizeof buf[i], "%s/%s", NM_TEST_TMP_DIR, name);
    return buf[i];
}

/* ---- reading PNGs back -------------------------------------------------------------- */

typedef struct image {
    cairo_surface_t *sf;
    int              w, h, stride;
    unsigned char   *data;
} image;

static image load(const char *path) {
    image im = {cairo_image_surface_create_from_png(path), 0, 0, 0, NULL};
    if (cairo_surface_status(im.sf) != CAIRO_STATUS_SUCCESS)
        fail_msg("cannot reload '%s': %s", path, cairo_status_to_string(cairo_surface_status(im.sf)));
    cairo_surface_flush(im.sf);
    im.w = cairo_image_surface_get_width(im.sf);
    im.h = cairo_image_surface_get_height(im.sf);
    im.stride = cairo_image_surface_get_stride(im.sf);
    im.data = cairo_image_surface_get_data(im.sf);
    return im;
}

/* 0xRRGGBB of a pixel (the figures are opaque, so premultiplying changes nothing). */
static unsigned pixel(const image *im, int x, int y) {
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

/* Pixels in [x0, x1) x [y0, y1) that are not white / that have colour c. */
static long count_ink(const image *im, int x0, int y0, int x1, int y1) {
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) n += pixel(im, x, y) != 0xffffff;
    return n;
}

static long count_colour(const image *im, unsigned c) {
    long n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) n += is_colour(pixel(im, x, y), c);
    return n;
}

static void assert_no_file(const char *path) {
    if (access(path, F_OK) == 0) fail_msg("'%s' exists after a failed plot", path);
}

static void assert_magic(const char *path, const char *a, const char *b) {
    char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open '%s'", path);
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    if (n < strlen(a) || (strncmp(head, a, strlen(a)) && (!b || strncmp(head, b, strlen(b)))))
        fail_msg("'%s' starts with '%.8s', expected '%s'%s%s", path, head, a, b ? " or " : "", b ? b : "");
}

/* ---- 1. ticks ----------------------------------------------------------------------- */

static int is_nice_step(double step) {
    double m = step / pow(10.0, floor(log10(step)));
    return fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9 || fabs(m - 10) < 1e-9;
}

static void test_nice_ticks(void **st) {
    (void)st;
    double v[NM_VIZ_MAX_TICKS], step;
    int n = nm__viz_nice_ticks(0, 1, 5, v, NM_VIZ_MAX_TICKS, &step);
    assert_int_equal(n, 6);
    assert_true(fabs(step - 0.2) < 1e-12);
    for (int i = 0; i < n; i++) assert_true(fabs(v[i] - 0.2 * i) < 1e-12);
    n = nm__viz_nice_ticks(-3.7, 12.2, 6, v, NM_VIZ_MAX_TICKS, &step); /* step 2: 7 intervals */
    assert_int_equal(n, 3);
    assert_true(step == 5 && v[0] == 0 && !signbit(v[0]) && v[1] == 5 && v[2] == 10);
    n = nm__viz_nice_ticks(0.78, 5.22, 2, v, NM_VIZ_MAX_TICKS, &step); /* 2 and 4, not 5 alone */
    assert_true(step == 2 && n == 2 && v[0] == 2 && v[1] == 4);
    n = nm__viz_nice_ticks(-0.0123, 0.0071, 4, v, NM_VIZ_MAX_TICKS, &step);
    assert_true(fabs(step - 0.005) < 1e-15 && n == 4 && fabs(v[0] + 0.01) < 1e-15 && v[2] == 0);

    /* Any range: a 1-2-5 step no finer than the target allows, every tick inside. */
    nm_rng r;
    nm_rng_init(&r, 7, 0);
    for (int it = 0; it < 5000; it++) {
        double lo = (nm_rng_uniform_d(&r) - 0.5) * pow(10.0, 12 * nm_rng_uniform_d(&r) - 6);
        double hi = lo + pow(10.0, 12 * nm_rng_uniform_d(&r) - 6);
        int target = 1 + (int)nm_rng_below(&r, 12);
        n = nm__viz_nice_ticks(lo, hi, target, v, NM_VIZ_MAX_TICKS, &step);
        /* The next finer nice step (5 -> 2 -> 1 -> 0.5) would leave too many intervals. */
        double m = step / pow(10.0, floor(log10(step) + 1e-9)), finer = step * (m > 4 ? 0.4 : 0.5);
        double n_finer = floor(hi / finer + 1e-9) - ceil(lo / finer - 1e-9) + 1;
        if (!is_nice_step(step) || n - 1 > target || n_finer - 1 <= target)
            fail_msg("[%.17g, %.17g] target %d: step %.17g, %d ticks", lo, hi, target, step, n);
        for (int i = 0; i < n; i++) {
            double tol = 1e-6 * step + 4 * DBL_EPSILON * fabs(v[i]); /* i * step rounds to v's ulp */
            if (v[i] < lo - tol || v[i] > hi + tol || (i && fabs(v[i] - v[i - 1] - step) > 2 * tol))
                fail_msg("[%.17g, %.17g] target %d: tick %d = %.17g", lo, hi, target, i, v[i]);
        }
    }
}

static void test_tick_labels(void **st) {
    (void)st;
    nm__viz_tick t[4];
    const double a[4] = {0, 0.2, 0.4, 3 * 0.2}; /* 0.6000000000000001 */
    for (int i = 0; i < 4; i++) t[i].v = a[i];
    assert_int_equal(nm__viz_label_linear(t, 4, 0.2), 0);
    assert_string_equal(t[0].text, "0.0");
    assert_string_equal(t[3].text, "0.6");
    t[0].v = -0.5, t[1].v = 0, t[2].v = 0.5;
    nm__viz_label_linear(t, 3, 0.5);
    assert_string_equal(t[0].text, MINUS "0.5");
    assert_string_equal(t[1].text, "0.0");
    t[0].v = 0, t[1].v = 2e5, t[2].v = 4e5; /* six digits are still written out */
    assert_int_equal(nm__viz_label_linear(t, 3, 2e5), 0);
    assert_string_equal(t[2].text, "400000");
    t[0].v = 0, t[1].v = 2e6, t[2].v = 4e6; /* large: a shared factor 10^6 */
    assert_int_equal(nm__viz_label_linear(t, 3, 2e6), 6);
    assert_string_equal(t[1].text, "2");
    t[0].v = 0, t[1].v = 5e-5, t[2].v = 1e-4; /* small: 10^-4 */
    assert_int_equal(nm__viz_label_linear(t, 3, 5e-5), -4);
    assert_string_equal(t[1].text, "0.5");
    assert_string_equal(t[2].text, "1.0");

    /* Log axes: decades as 10^k with 2..9 x 10^k as minor ticks; every other decade when
    ** the target is smaller; 1-2-5 under two decades. */
    nm__viz_tick lt[NM_VIZ_MAX_TICKS];
    double minor[2 * NM_VIZ_MAX_TICKS];
    int nm;
    int n = nm__viz_log_ticks(-0.01, 6.01, 10, lt, minor, &nm);
    assert_int_equal(n, 7);
    assert_int_equal(nm, 6 * 8);
    for (int i = 0; i < n; i++) {
        char e[16];
        snprintf(e, sizeof e, "%d", i);
        assert_true(lt[i].v == i);
        assert_string_equal(lt[i].text, "10");
        assert_string_equal(lt[i].sup, e);
    }
    n = nm__viz_log_ticks(-3.2, 6.1, 4, lt, minor, &nm);
    assert_true(n >= 2 && n - 1 <= 4);
    for (int i = 1; i < n; i++) assert_true(lt[i].v - lt[i - 1].v >= 2);
    n = nm__viz_log_ticks(-2.5, 0.5, 10, lt, minor, &nm);
    assert_string_equal(lt[0].sup, MINUS "2");
    n = nm__viz_log_ticks(log10(1.5), log10(40), 8, lt, minor, &nm);
    assert_int_equal(n, 4);
    assert_string_equal(lt[0].text, "2");
    assert_string_equal(lt[3].text, "20");
    assert_true(fabs(lt[1].v - log10(5)) < 1e-12);
    assert_true(lt[0].sup[0] == '\0');
}

/* ---- 2. figures --------------------------------------------------------------------- */

static const double X[6] = {1, 2, 3, 4, 5, 6};
static const double Y0[6] = {0.412, 0.655, 0.781, 0.823, 0.851, 0.862};
static const double Y1[6] = {0.385, 0.598, 0.702, 0.744, 0.760, 0.771};
static const double E1[6] = {0.031, 0.027, 0.022, 0.019, 0.018, 0.017};

static void test_png_written(void **st) {
    (void)st;
    nm_plot p;
    nm_plot_default(&p);
    p.width = 640;
    p.height = 400;
    p.title = "Accuracy per epoch";
    p.xlabel = "epoch";
    p.ylabel = "accuracy";
    nm_series s[2] = {{"train", X, Y0, NULL, 6}, {"test", X, Y1, E1, 6}};
    const char *path = tmp_path("lines.png");
    ASSERT_OK(nm_plot_lines(&p, s, 2, path));
    assert_magic(path, "\x89PNG", NULL);
    image im = load(path);
    assert_int_equal(im.w, 640);
    assert_int_equal(im.h, 400);
    long ink = count_ink(&im, 0, 0, im.w, im.h);
    if (ink < im.w * im.h / 50 || ink > im.w * im.h / 2) fail_msg("%ld of %d pixels are not white", ink, im.w * im.h);
    /* Both series are drawn, each in its own colour. */
    assert_true(count_colour(&im, nm__viz_palette[0]) > 200);
    assert_true(count_colour(&im, nm__viz_palette[1]) > 200);
    assert_true(channel_diff(nm__viz_palette[0], nm__viz_palette[1]) > 100);
    cairo_surface_destroy(im.sf);

    /* Default size. */
    ASSERT_OK(nm_plot_lines(NULL, s, 1, path));
    im = load(path);
    assert_true(im.w == 800 && im.h == 500);
    cairo_surface_destroy(im.sf);
}

/* A known input: two points of one series with y fixed to [0, 10]. The marks must be at
** the mapped pixels, and not at the pixels a flipped y axis would give. */
static void test_line_positions(void **st) {
    (void)st;
    nm_plot p;
    nm_plot_default(&p);
    p.y_min = 0;
    p.y_max = 10;
    const double x[2] = {1, 3}, y[2] = {2.3, 7.9};
    nm_series s = {NULL, x, y, NULL, 2};
    nm__viz_frame f;
    ASSERT_OK(nm__viz_lines_frame(&p, &s, 1, &f));
    assert_true(f.y_lo == 0 && f.y_hi == 10);
    assert_true(f.x_lo < 1 && f.x_hi > 3 && !f.log_x);
    assert_true(f.left > 20 && f.right < 800 - 5 && f.top > 5 && f.bottom < 500 - 30);
    assert_true(nm__viz_px_y(&f, 0) == f.bottom && nm__viz_px_y(&f, 10) == f.top);
    assert_true(fabs(nm__viz_px_x(&f, f.x_lo) - f.left) < 1e-9 && fabs(nm__viz_px_x(&f, f.x_hi) - f.right) < 1e-9);

    const char *path = tmp_path("two_points.png");
    ASSERT_OK(nm_plot_lines(&p, &s, 1, path));
    image im = load(path);
    const unsigned c = nm__viz_palette[0];
    for (int i = 0; i < 2; i++) {
        int px = (int)floor(nm__viz_px_x(&f, x[i])), py = (int)floor(nm__viz_px_y(&f, y[i]));
        if (!is_colour(pixel(&im, px, py), c))
            fail_msg("point %d at (%d, %d) is %06x, expected %06x", i, px, py, pixel(&im, px, py), c);
    }
    int mx = (int)floor(nm__viz_px_x(&f, 2)), my = (int)floor(nm__viz_px_y(&f, 5.1));
    assert_true(is_colour(pixel(&im, mx, my), c)); /* the line between them */
    for (int i = 0; i < 2; i++) {                  /* where a flipped y axis would put them */
        int px = (int)floor(nm__viz_px_x(&f, x[i])), py = (int)floor(nm__viz_px_y(&f, y[1 - i]));
        if (channel_diff(pixel(&im, px, py), c) < 60) fail_msg("(%d, %d) has the series colour", px, py);
    }
    cairo_surface_destroy(im.sf);
}

/* Bars: the taller value's bar reaches higher, to its mapped height, and every bar stands
** on y = 0. */
static void test_bars(void **st) {
    (void)st;
    const char *const groups[2] = {"low", "high"};
    const double y[2] = {1.3, 3.7};
    nm_series s = {"energy", NULL, y, NULL, 2};
    nm__viz_frame f;
    ASSERT_OK(nm__viz_bars_frame(NULL, groups, 2, &s, 1, &f));
    assert_true(f.y_lo == 0 && f.y_hi > 3.7 && f.x_lo == -0.5 && f.x_hi == 1.5);
    const char *path = tmp_path("bars.png");
    ASSERT_OK(nm_plot_bars(NULL, groups, 2, &s, 1, path));
    image im = load(path);
    const unsigned c = nm__viz_palette[0];
    int top[2];
    for (int g = 0; g < 2; g++) {
        int cx = (int)floor(nm__viz_px_x(&f, g)), y0 = (int)f.top;
        while (y0 < (int)f.bottom && !is_colour(pixel(&im, cx, y0), c)) y0++;
        top[g] = y0;
        if (fabs(y0 - nm__viz_px_y(&f, y[g])) > 1.5)
            fail_msg("bar %d top at row %d, expected %.1f", g, y0, nm__viz_px_y(&f, y[g]));
        assert_true(is_colour(pixel(&im, cx, (int)f.bottom - 2), c));
    }
    assert_true(top[1] < top[0]);
    cairo_surface_destroy(im.sf);

    /* Two series with error bars: both colours, the second one's bars right of the first's. */
    const double y2[2] = {2.1, 0.8}, e2[2] = {0.3, 0.2};
    nm_series s2[2] = {{"chip A", NULL, y, NULL, 2}, {"chip B", NULL, y2, e2, 2}};
    ASSERT_OK(nm__viz_bars_frame(NULL, groups, 2, s2, 2, &f));
    assert_true(f.y_hi > 3.7);
    ASSERT_OK(nm_plot_bars(NULL, groups, 2, s2, 2, path));
    im = load(path);
    double x0, x1;
    nm__viz_bar_span(0, 1, 2, &x0, &x1);
    assert_true(x0 >= 0 && x1 <= 0.4 + 1e-12);
    int bx = (int)floor(nm__viz_px_x(&f, (x0 + x1) / 2 + 0.1)), by = (int)floor(nm__viz_px_y(&f, 1.0));
    assert_true(is_colour(pixel(&im, bx, by), nm__viz_palette[1]));
    nm__viz_bar_span(0, 0, 2, &x0, &x1);
    bx = (int)floor(nm__viz_px_x(&f, (x0 + x1) / 2));
    assert_true(is_colour(pixel(&im, bx, by), nm__viz_palette[0]));
    cairo_surface_destroy(im.sf);
}

static void test_log_axis(void **st) {
    (void)st;
    nm_plot p;
    nm_plot_default(&p);
    p.log_x = 1;
    const double x[4] = {1, 60, 3600, 86400}, y[4] = {0.86, 0.84, 0.79, 0.71}, bad[4] = {1, 0, 3600, 86400};
    nm_series s = {"drift", x, y, NULL, 4};
    nm__viz_frame f;
    ASSERT_OK(nm__viz_lines_frame(&p, &s, 1, &f));
    assert_true(f.log_x && f.x_lo < 0 && f.x_hi > log10(86400));
    double d1 = nm__viz_px_x(&f, 10) - nm__viz_px_x(&f, 1), d2 = nm__viz_px_x(&f, 100) - nm__viz_px_x(&f, 10);
    assert_true(d1 > 10 && fabs(d1 - d2) < 1e-9);
    const char *path = tmp_path("log.png");
    ASSERT_OK(nm_plot_lines(&p, &s, 1, path));
    image im = load(path);
    int px = (int)floor(nm__viz_px_x(&f, 3600)), py = (int)floor(nm__viz_px_y(&f, 0.79));
    assert_true(is_colour(pixel(&im, px, py), nm__viz_palette[0]));
    cairo_surface_destroy(im.sf);

    const char *badpath = tmp_path("log_bad.png");
    remove(badpath);
    s.x = bad;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, badpath), NM_INVAL, "series 'drift': x[1] = 0 is not > 0 on a log x axis");
    assert_no_file(badpath);
    s.label = NULL;
    ASSERT_MSG(nm__viz_lines_frame(&p, &s, 1, &f), NM_INVAL, "s[0]: x[1]");
    p.log_x = 0; /* the same data is fine on a linear axis */
    ASSERT_OK(nm_plot_lines(&p, &s, 1, badpath));
}

/* Custom ticks replace the automatic ones and the axis reaches them. */
static void test_custom_ticks(void **st) {
    (void)st;
    nm_plot p;
    nm_plot_default(&p);
    p.log_x = 1;
    const double ticks[4] = {1, 3600, 86400, 31536000};
    const char *const labels[4] = {"1 s", "1 h", "1 d", "1 y"};
    p.xticks = ticks;
    p.xtick_labels = labels;
    p.n_xticks = 4;
    const double x[3] = {10, 1000, 1e5}, y[3] = {0.8, 0.7, 0.6};
    nm_series s = {NULL, x, y, NULL, 3};
    nm__viz_frame f;
    ASSERT_OK(nm__viz_lines_frame(&p, &s, 1, &f));
    assert_true(f.x_lo < 0 && f.x_hi > log10(31536000));
    ASSERT_OK(nm_plot_lines(&p, &s, 1, tmp_path("custom_ticks.png")));
    p.xtick_labels = NULL; /* numbers instead */
    ASSERT_OK(nm_plot_lines(&p, &s, 1, tmp_path("custom_ticks.png")));
    p.log_x = 0;
    p.n_xticks = 0; /* automatic again: the axis ends near the data */
    ASSERT_OK(nm__viz_lines_frame(&p, &s, 1, &f));
    assert_true(f.x_hi < 2e5);
}

/* Text is really drawn: a title puts ink in the band above the plot area, a y label in a
** column left of the y tick labels, each in room the layout made for it; and the margin
** PAD (10 px) around the figure stays blank, so nothing reaches the edge. */
static void test_text_renders(void **st) {
    (void)st;
    nm_plot p;
    nm_plot_default(&p);
    p.y_min = 0;
    p.y_max = 1;
    nm_series s = {NULL, X, Y0, NULL, 6};
    const char *path = tmp_path("text.png");
    long title_ink[2], ylabel_ink = 0;
    nm__viz_frame f[2];
    for (int t = 0; t < 2; t++) {
        p.title = t ? "Title text" : NULL;
        p.ylabel = t ? "accuracy" : NULL;
        p.xlabel = t ? "epoch" : NULL;
        ASSERT_OK(nm__viz_lines_frame(&p, &s, 1, &f[t]));
        ASSERT_OK(nm_plot_lines(&p, &s, 1, path));
        image im = load(path);
        /* The title starts 10 px from the top; the top y tick label reaches ~9 px above the
        ** plot. The y label starts 10 px from the left, ~18 px wide. */
        title_ink[t] = count_ink(&im, (int)f[t].left, 0, (int)f[t].right, (int)f[t].top - 12);
        if (t) ylabel_ink = count_ink(&im, 10, 0, 26, im.h);
        long edge = count_ink(&im, 0, 0, im.w, 8) + count_ink(&im, 0, im.h - 8, im.w, im.h) +
                    count_ink(&im, 0, 0, 8, im.h) + count_ink(&im, im.w - 8, 0, im.w, im.h);
        if (edge) fail_msg("%ld ink pixels within 8 px of the edge", edge);
        cairo_surface_destroy(im.sf);
    }
    if (!(title_ink[1] > 100 && title_ink[0] == 0 && ylabel_ink > 100))
        fail_msg("title band %ld vs %ld, y label column %ld ink pixels: is a font installed (fc-list)?", title_ink[1],
                 title_ink[0], ylabel_ink);
    assert_true(f[1].top > f[0].top + 15 && f[1].left > f[0].left + 15 && f[1].bottom < f[0].bottom - 15);
}

static void test_vector_formats(void **st) {
    (void)st;
    nm_plot p;
    nm_plot_default(&p);
    p.title = "Energy per stage";
    nm_series s[2] = {{"train", X, Y0, NULL, 6}, {"test", X, Y1, E1, 6}};
    ASSERT_OK(nm_plot_lines(&p, s, 2, tmp_path("lines.svg")));
    assert_magic(tmp_path("lines.svg"), "<?xml", "<svg");
    ASSERT_OK(nm_plot_lines(&p, s, 2, tmp_path("lines.pdf")));
    assert_magic(tmp_path("lines.pdf"), "%PDF", NULL);
    const char *const groups[3] = {"encode", "crossbar", "neurons"};
    const double e[3] = {1.2, 7.5, 2.2};
    nm_series b = {"uJ", NULL, e, NULL, 3};
    ASSERT_OK(nm_plot_bars(&p, groups, 3, &b, 1, tmp_path("bars.pdf")));
    assert_magic(tmp_path("bars.pdf"), "%PDF", NULL);
    ASSERT_OK(nm_plot_bars(&p, groups, 3, &b, 1, tmp_path("bars.SVG")));
    assert_magic(tmp_path("bars.SVG"), "<?xml", "<svg");
    ASSERT_OK(nm_plot_bars(&p, groups, 3, &b, 1, tmp_path("bars.Png"))); /* the case does not matter */
    assert_magic(tmp_path("bars.Png"), "\x89PNG", NULL);
}

static void test_errors(void **st) {
    (void)st;
    nm_plot p;
    nm_plot_default(&p);
    const double x[3] = {1, 2, 3}, y[3] = {1, 2, 3}, ynan[3] = {1, NAN, 3}, eneg[3] = {-0.1, 0, 0};
    nm_series s = {"acc", x, y, NULL, 3};
    const char *png = tmp_path("err.png");
    remove(png);

    ASSERT_MSG(nm_plot_lines(&p, &s, 1, tmp_path("err.jpg")), NM_INVAL, "unknown figure format '.jpg'");
    assert_no_file(tmp_path("err.jpg"));
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, tmp_path("err")), NM_INVAL, "has no extension");
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, NULL), NM_INVAL, "no output path");
    const char *nodir = tmp_path("no/such/dir/fig.png");
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, nodir), NM_IO, nodir);
    const char *const groups[2] = {"a", "b"};
    nm_series b2 = {"acc", NULL, y, NULL, 2};
    ASSERT_MSG(nm_plot_bars(&p, groups, 2, &b2, 1, nodir), NM_IO, nodir);

    ASSERT_MSG(nm_plot_lines(&p, &s, 0, png), NM_INVAL, "no series");
    ASSERT_MSG(nm_plot_lines(&p, NULL, 1, png), NM_INVAL, "NULL");
    s.n = 0;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "series 'acc' is empty (n = 0)");
    s.n = -2;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "series 'acc' is empty (n = -2)");
    s.n = 3;
    s.y = ynan;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "series 'acc': y[1] = nan is not finite");
    s.y = y;
    s.err = eneg;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "series 'acc': err[0] = -0.1 is negative");
    s.err = NULL;
    s.x = NULL;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "series 'acc' has no x values");
    s.x = x;
    s.y = NULL;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "series 'acc' has no y values");
    s.y = y;

    nm_series two[2] = {{"ok", NULL, y, NULL, 2}, {"energy", NULL, y, NULL, 3}};
    ASSERT_MSG(nm_plot_bars(&p, groups, 2, two, 2, png), NM_INVAL, "series 'energy' has 3 values for 2 groups");
    ASSERT_MSG(nm_plot_bars(&p, groups, 0, two, 1, png), NM_INVAL, "no groups");

    p.y_min = 2, p.y_max = 1;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "y_min 2 is not below y_max 1");
    p.y_min = p.y_max = NAN;
    p.width = 50;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "figure size 50x500");
    p.width = -1;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "figure size -1x500");
    p.width = 0;
    p.n_xticks = 2;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "xticks is NULL");
    const double ticks[2] = {1, 0};
    p.xticks = ticks;
    p.log_x = 1;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "xticks[1] = 0 is not > 0 on a log x axis");
    p.n_xticks = 0;
    p.log_x = 0;
    /* Long labels on a small figure leave no room for the plot. */
    p.width = p.height = 120;
    p.title = "t";
    p.xlabel = "x";
    p.ylabel = "y";
    const double big[3] = {-1.23456789e-3, 1.11111111e-3, 2.2e-3};
    s.y = big;
    ASSERT_MSG(nm_plot_lines(&p, &s, 1, png), NM_INVAL, "too small for its labels");
    assert_no_file(png);
}

/* A plot an empty figure cannot come from: a constant series, one point, and negative
** bars all get a usable range. */
static void test_degenerate_ranges(void **st) {
    (void)st;
    const double x1[1] = {5}, y1[1] = {0};
    nm_series one = {NULL, x1, y1, NULL, 1};
    nm__viz_frame f;
    ASSERT_OK(nm__viz_lines_frame(NULL, &one, 1, &f));
    assert_true(f.x_lo < 5 && f.x_hi > 5 && f.y_lo < 0 && f.y_hi > 0);
    ASSERT_OK(nm_plot_lines(NULL, &one, 1, tmp_path("one_point.png")));
    nm_plot p;
    nm_plot_default(&p);
    p.y_min = 3; /* above all the data */
    ASSERT_OK(nm__viz_lines_frame(&p, &one, 1, &f));
    assert_true(f.y_lo == 3 && f.y_hi > 3);
    const double neg[3] = {-2.5, 1.5, -0.5};
    nm_series b = {NULL, NULL, neg, NULL, 3};
    ASSERT_OK(nm__viz_bars_frame(NULL, NULL, 3, &b, 1, &f));
    assert_true(f.y_lo < -2.5 && f.y_hi > 1.5);
    ASSERT_OK(nm_plot_bars(NULL, NULL, 3, &b, 1, tmp_path("neg_bars.png")));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nice_ticks),    cmocka_unit_test(test_tick_labels),   cmocka_unit_test(test_png_written),
        cmocka_unit_test(test_line_positions), cmocka_unit_test(test_bars),         cmocka_unit_test(test_log_axis),
        cmocka_unit_test(test_custom_ticks),  cmocka_unit_test(test_text_renders),  cmocka_unit_test(test_vector_formats),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_degenerate_ranges),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* Let leak checkers see only what the library itself keeps: cairo's font caches and
    ** fontconfig's configuration otherwise live until exit. FcFini is looked up, not
    ** linked, as the tests are linked against cairo only. */
    cairo_debug_reset_static_data();
    void (*fc_fini)(void) = NULL;
    *(void **)&fc_fini = dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini) fc_fini();
    return rc;
}
