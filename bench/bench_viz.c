/*
** bench_viz: figure generation for large spike rasters (issue 11: a 100k-neuron, 1 s raster
** in under 2 s).
**
** Input: n neurons firing for 1 s, spike counts and times uniform (Philox, seed 1): each
** neuron fires rate * 1 s spikes on average, at uniform times, so the raster holds about
** n * rate spikes (100,000 x 15 Hz: 1.5 M). Timed: nm_plot_raster end to end (checks,
** rate histogram, marks, axes and text, PNG encoding, atomic write) to a file under
** --out (default .), at 1200 x 800 pixels; the same to SVG once. Prints key=value lines:
**   spikes, png_s (median of --reps), png_bytes, svg_s, spikes_per_s.
** usage: bench_viz [--neurons N] [--rate HZ] [--reps R] [--out DIR]
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <neuromorph/neuromorph.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n_neurons = 100000, reps = 5;
    double rate = 15;
    const char *out = ".";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--neurons")) n_neurons = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_viz [--neurons N] [--rate HZ] [--reps R] [--out DIR]\n");
            return 2;
        }
    }
    if (n_neurons < 1 || reps < 1 || reps > 101 || !(rate > 0)) {
        fprintf(stderr, "bench_viz: bad arguments\n");
        return 2;
    }
    /* Spike k of neuron i: counts from a uniform draw of mean `rate` (0 .. 2 rate). */
    nm_rng r;
    nm_rng_init(&r, 1, 0);
    int64_t cap = (int64_t)(n_neurons * rate * 2.2) + 16, n = 0;
    double *t = malloc((size_t)cap * sizeof *t);
    int32_t *nr = malloc((size_t)cap * sizeof *nr);
    if (!t || !nr) return 1;
    for (long i = 0; i < n_neurons; i++) {
        int c = (int)nm_rng_below(&r, (uint32_t)(2 * rate + 1));
        for (int k = 0; k < c && n < cap; k++) t[n] = nm_rng_uniform_d(&r), nr[n++] = (int32_t)i;
    }
    nm_raster ras = {t, nr, n, n_neurons, 0, 1, 0.005};
    nm_plot p;
    nm_plot_default(&p);
    p.width = 1200;
    p.height = 800;
    p.title = "100k LIF neurons, 1 s";
    char png[4096], svg[4096];
    mkdir(out, 0777);
    snprintf(png, sizeof png, "%s/bench_raster.png", out);
    snprintf(svg, sizeof svg, "%s/bench_raster.svg", out);
    double times[101];
    for (long k = 0; k < reps; k++) {
        double t0 = now();
        nm_status st = nm_plot_raster(&p, &ras, png);
        times[k] = now() - t0;
        if (st) {
            fprintf(stderr, "bench_viz: %s\n", nm_errmsg());
            return 1;
        }
    }
    qsort(times, (size_t)reps, sizeof *times, cmp);
    double t0 = now();
    if (nm_plot_raster(&p, &ras, svg)) {
        fprintf(stderr, "bench_viz: %s\n", nm_errmsg());
        return 1;
    }
    double svg_s = now() - t0;
    struct stat sb;
    long bytes = stat(png, &sb) ? -1 : (long)sb.st_size;
    printf("neurons=%ld\nspikes=%lld\npng_s=%.4f\npng_min_s=%.4f\npng_bytes=%ld\nsvg_s=%.4f\nspikes_per_s=%.3g\n", n_neurons,
           (long long)n, times[reps / 2], times[0], bytes, svg_s, n / times[reps / 2]);
    free(t);
    free(nr);
    return 0;
}
