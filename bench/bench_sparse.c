/*
** bench_sparse: the spike-sparse Affine against dense sgemm, on the layer sizes of the
** Fashion-MNIST network with m = 25 steps x 128 samples = 3200 rows of Bernoulli spikes:
**   784 -> 1000    the input layer (rate-coded pixels)
**   1000 -> 1000   a hidden layer
** at input densities 5, 10, 20, 30, 40 and 50% (or --densities).
**
** One pass is what a training step does with the layer's input:
**   dense:  y = b + X W^T (bias rows, then sgemm)     and  dW += gy^T X (sgemm)
**   sparse: pack X into bits, Wt = W^T, gather y,        and  the sparse dW
** "forward" is the first half of each, "fwd+dW" the whole; pack and transpose are counted
** in the sparse forward. The dense products go through nm_sgemm, the executor's dense path
** (thread-count-independent blocks of single-threaded OpenBLAS calls); one threaded
** cblas_sgemm of the same shapes is timed too, for reference.
**
** Each time is the median of --reps repeats, dense and sparse interleaved in every repeat so
** that a noisy machine slows both alike; speedups are the medians of the per-repeat ratios.
** The dense and sparse outputs are compared (max |difference| / max |y|) as a sanity check.
**
** Prints one "key=value ..." line per measurement, then a markdown table and the crossover
** density (linear interpolation of the fwd+dW speedup through 1).
** usage: bench_sparse [--threads N] [--reps R] [--m M] [--densities 0.05,0.1,...] [--json FILE]
*/
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/neuromorph.h>

#define MAX_DENS 16
#define MAX_REPS 101

typedef struct result {
    int64_t n_in, n_out;
    double density, measured;                 /* asked for; set bits / (m n_in) */
    double dense_fwd, dense_dw;               /* median seconds, nm_sgemm */
    double cblas_fwd, cblas_dw;               /* the same as one threaded cblas_sgemm each */
    double pack, transpose, gather, sparse_dw;
    double speedup_fwd, speedup_all;          /* medians of the per-repeat ratios */
    double max_rel_diff;                      /* forward and dW, dense vs sparse */
} result;

static void *xalloc(size_t n) {
    void *p = nm_alloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_sparse: out of memory\n");
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double max_rel_diff(const float *a, const float *b, int64_t n) {
    double d = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
        if (fabs((double)b[i]) > s) s = fabs((double)b[i]);
    }
    return s > 0 ? d / s : d;
}

static void run(int64_t m, int64_t n_in, int64_t n_out, double density, int reps, result *res) {
    nm_rng r;
    nm_rng_init(&r, 42, (uint64_t)(density * 1000) * 7919 + (uint64_t)n_in);
    const int64_t nw = nm_bits_words(n_in);
    float *x = xalloc(sizeof(float) * m * n_in), *W = xalloc(sizeof(float) * n_out * n_in);
    float *Wt = xalloc(sizeof(float) * n_out * n_in), *b = xalloc(sizeof(float) * n_out);
    float *gy = xalloc(sizeof(float) * m * n_out), *yd = xalloc(sizeof(float) * m * n_out);
    float *ys = xalloc(sizeof(float) * m * n_out), *yc = xalloc(sizeof(float) * m * n_out);
    float *dWc = xalloc(sizeof(float) * n_out * n_in);
    float *dWd = xalloc(sizeof(float) * n_out * n_in), *dWs = xalloc(sizeof(float) * n_out * n_in);
    uint64_t *bits = xalloc(sizeof(uint64_t) * m * nw);
    for (int64_t i = 0; i < m * n_in; i++) x[i] = (float)nm_rng_bernoulli(&r, (float)density);
    for (int64_t i = 0; i < n_out * n_in; i++) W[i] = 0.05f * nm_rng_normal(&r);
    for (int64_t i = 0; i < n_out; i++) b[i] = 0.1f * nm_rng_normal(&r);
    for (int64_t i = 0; i < m * n_out; i++) gy[i] = 1e-3f * nm_rng_normal(&r);

    double t_df[MAX_REPS], t_dd[MAX_REPS], t_pk[MAX_REPS], t_tr[MAX_REPS], t_ga[MAX_REPS], t_sd[MAX_REPS];
    double t_cf[MAX_REPS], t_cd[MAX_REPS], q_f[MAX_REPS], q_a[MAX_REPS];
    int64_t set = 0;
    for (int k = 0; k < reps + 1; k++) {   /* repeat 0 warms up and is not counted */
        memset(dWd, 0, sizeof(float) * n_out * n_in);
        memset(dWs, 0, sizeof(float) * n_out * n_in);
        double t0 = nm_time_now();
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < m; i++) memcpy(yd + i * n_out, b, sizeof(float) * n_out);
        nm_sgemm(0, 1, m, n_out, n_in, 1.0f, x, n_in, W, n_in, 1.0f, yd, n_out);
        double t1 = nm_time_now();
        nm_sgemm(1, 0, n_out, n_in, m, 1.0f, gy, n_out, x, n_in, 1.0f, dWd, n_in);
        double t2 = nm_time_now();
        set = nm_bits_pack(x, m, n_in, bits);
        double t3 = nm_time_now();
        nm_transpose(W, n_out, n_in, Wt);
        double t4 = nm_time_now();
        nm_affine_forward_sparse(Wt, b, bits, m, n_in, n_out, ys);
        double t5 = nm_time_now();
        nm_affine_dweight_sparse(gy, bits, m, n_in, n_out, dWs);
        double t6 = nm_time_now();
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < m; i++) memcpy(yc + i * n_out, b, sizeof(float) * n_out);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n_out, (int)n_in, 1.0f, x, (int)n_in, W,
                    (int)n_in, 1.0f, yc, (int)n_out);
        double t7 = nm_time_now();
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_out, (int)n_in, (int)m, 1.0f, gy, (int)n_out, x,
                    (int)n_in, 1.0f, dWc, (int)n_in);
        double t8 = nm_time_now();
        if (k == 0) continue;
        t_cf[k - 1] = t7 - t6;
        t_cd[k - 1] = t8 - t7;
        q_f[k - 1] = (t1 - t0) / (t5 - t2);
        q_a[k - 1] = (t2 - t0) / (t6 - t2);
        t_df[k - 1] = t1 - t0;
        t_dd[k - 1] = t2 - t1;
        t_pk[k - 1] = t3 - t2;
        t_tr[k - 1] = t4 - t3;
        t_ga[k - 1] = t5 - t4;
        t_sd[k - 1] = t6 - t5;
    }
    res->n_in = n_in;
    res->n_out = n_out;
    res->density = density;
    res->measured = (double)set / ((double)m * n_in);
    res->dense_fwd = median(t_df, reps);
    res->dense_dw = median(t_dd, reps);
    res->cblas_fwd = median(t_cf, reps);
    res->cblas_dw = median(t_cd, reps);
    res->speedup_fwd = median(q_f, reps);
    res->speedup_all = median(q_a, reps);
    res->pack = median(t_pk, reps);
    res->transpose = median(t_tr, reps);
    res->gather = median(t_ga, reps);
    res->sparse_dw = median(t_sd, reps);
    double df = max_rel_diff(ys, yd, m * n_out), dd = max_rel_diff(dWs, dWd, n_out * n_in);
    res->max_rel_diff = df > dd ? df : dd;
    nm_free(x); nm_free(W); nm_free(Wt); nm_free(b); nm_free(gy); nm_free(yd); nm_free(ys);
    nm_free(dWd); nm_free(dWs); nm_free(bits); nm_free(yc); nm_free(dWc);
}

static double sparse_fwd(const result *r) { return r->pack + r->transpose + r->gather; }
static double sparse_all(const result *r) { return sparse_fwd(r) + r->sparse_dw; }
/* Speedups are medians of the ratio within each repeat, which a machine whose load drifts
** during the run biases less than a ratio of medians. */
static double ratio_fwd(const result *r) { return r->speedup_fwd; }
static double ratio_all(const result *r) { return r->speedup_all; }

/* The density at which speedup(d) falls through 1, by linear interpolation between measured
** points; -1 if sparse wins at every density measured, 0 if at none. */
static double crossover(const result *res, int n, double (*speedup)(const result *)) {
    if (speedup(&res[0]) < 1) return 0;
    for (int i = 1; i < n; i++) {
        double a = speedup(&res[i - 1]), c = speedup(&res[i]);
        if (c < 1) return res[i - 1].measured + (a - 1) / (a - c) * (res[i].measured - res[i - 1].measured);
    }
    return -1;
}

static void print_crossover(const char *what, double d) {
    if (d < 0) printf("%s: sparse wins at every density measured\n", what);
    else if (d == 0) printf("%s: dense wins at every density measured\n", what);
    else printf("%s: crossover at %.0f%% density\n", what, 100 * d);
}

int main(int argc, char **argv) {
    int threads = 2, reps = 7;
    int64_t m = 3200;
    const char *json = NULL;
    double dens[MAX_DENS] = {0.05, 0.10, 0.20, 0.30, 0.40, 0.50};
    int n_dens = 6;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--m") && i + 1 < argc) m = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--densities") && i + 1 < argc) {
            char *s = argv[++i], *end;
            for (n_dens = 0; n_dens < MAX_DENS && *s; n_dens++, s = *end ? end + 1 : end) {
                dens[n_dens] = strtod(s, &end);
                if (end == s || !(dens[n_dens] > 0 && dens[n_dens] <= 1)) {
                    fprintf(stderr, "bench_sparse: --densities expects numbers in (0, 1], got '%s'\n", s);
                    return 2;
                }
            }
        } else {
            fprintf(stderr, "usage: bench_sparse [--threads N] [--reps R] [--m M] [--densities D,D,...] [--json FILE]\n");
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || reps > MAX_REPS || m < 1) {
        fprintf(stderr, "bench_sparse: need --threads >= 1, 1 <= --reps <= %d, --m >= 1\n", MAX_REPS);
        return 2;
    }
    nm_set_threads(threads);
    static const int64_t layers[][2] = {{784, 1000}, {1000, 1000}};
    enum { N_LAYERS = 2 };
    result res[N_LAYERS][MAX_DENS];
    for (int l = 0; l < N_LAYERS; l++)
        for (int d = 0; d < n_dens; d++) {
            result *p = &res[l][d];
            run(m, layers[l][0], layers[l][1], dens[d], reps, p);
            printf("bench=sparse_affine n_in=%lld n_out=%lld m=%lld threads=%d density=%.3f dense_fwd_ms=%.2f "
                   "dense_dw_ms=%.2f cblas_fwd_ms=%.2f cblas_dw_ms=%.2f pack_ms=%.2f transpose_ms=%.2f gather_ms=%.2f "
                   "sparse_dw_ms=%.2f speedup_fwd=%.2f speedup_fwd_dw=%.2f speedup_fwd_dw_vs_cblas=%.2f "
                   "max_rel_diff=%.1e\n",
                   (long long)p->n_in, (long long)p->n_out, (long long)m, threads, p->measured, 1e3 * p->dense_fwd,
                   1e3 * p->dense_dw, 1e3 * p->cblas_fwd, 1e3 * p->cblas_dw, 1e3 * p->pack, 1e3 * p->transpose,
                   1e3 * p->gather, 1e3 * p->sparse_dw, ratio_fwd(p), ratio_all(p),
                   (p->cblas_fwd + p->cblas_dw) / sparse_all(p), p->max_rel_diff);
            fflush(stdout);
        }

    printf("\nm = %lld rows, %d threads, median of %d repeats; times in ms per pass.\n\n", (long long)m, threads, reps);
    printf("| layer | density | dense fwd | sparse fwd (pack+transpose+gather) | fwd speedup | dense fwd+dW | "
           "sparse fwd+dW | fwd+dW speedup | threaded cblas fwd+dW |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int l = 0; l < N_LAYERS; l++)
        for (int d = 0; d < n_dens; d++) {
            const result *p = &res[l][d];
            printf("| %lld-%lld | %.0f%% | %.1f | %.1f (%.1f+%.1f+%.1f) | %.2fx | %.1f | %.1f | %.2fx | %.1f |\n",
                   (long long)p->n_in, (long long)p->n_out, 100 * p->measured, 1e3 * p->dense_fwd,
                   1e3 * sparse_fwd(p), 1e3 * p->pack, 1e3 * p->transpose, 1e3 * p->gather, ratio_fwd(p),
                   1e3 * (p->dense_fwd + p->dense_dw), 1e3 * sparse_all(p), ratio_all(p),
                   1e3 * (p->cblas_fwd + p->cblas_dw));
        }
    printf("\n");
    double cross[N_LAYERS][2];
    for (int l = 0; l < N_LAYERS; l++) {
        char what[96];
        cross[l][0] = crossover(res[l], n_dens, ratio_fwd);
        cross[l][1] = crossover(res[l], n_dens, ratio_all);
        snprintf(what, sizeof what, "%lld-%lld forward", (long long)layers[l][0], (long long)layers[l][1]);
        print_crossover(what, cross[l][0]);
        snprintf(what, sizeof what, "%lld-%lld fwd+dW", (long long)layers[l][0], (long long)layers[l][1]);
        print_crossover(what, cross[l][1]);
    }

    if (json) {
        nm_report *rep = nm_report_create("bench_sparse");
        if (!rep) {
            fprintf(stderr, "bench_sparse: out of memory\n");
            return 1;
        }
        nm_report_set_int(rep, "m", m);
        nm_report_set_int(rep, "threads", threads);
        nm_report_set_int(rep, "reps", reps);
        for (int l = 0; l < N_LAYERS; l++) {
            for (int d = 0; d < n_dens; d++) {
                const result *p = &res[l][d];
                nm_report *it = nm_report_create(NULL);
                if (!it) continue;
                nm_report_set_int(it, "n_in", p->n_in);
                nm_report_set_int(it, "n_out", p->n_out);
                nm_report_set_num(it, "density", p->density);
                nm_report_set_num(it, "density_measured", p->measured);
                nm_report_set_num(it, "dense_fwd_ms", 1e3 * p->dense_fwd);
                nm_report_set_num(it, "dense_dw_ms", 1e3 * p->dense_dw);
                nm_report_set_num(it, "cblas_fwd_ms", 1e3 * p->cblas_fwd);
                nm_report_set_num(it, "cblas_dw_ms", 1e3 * p->cblas_dw);
                nm_report_set_num(it, "pack_ms", 1e3 * p->pack);
                nm_report_set_num(it, "transpose_ms", 1e3 * p->transpose);
                nm_report_set_num(it, "gather_ms", 1e3 * p->gather);
                nm_report_set_num(it, "sparse_dw_ms", 1e3 * p->sparse_dw);
                nm_report_set_num(it, "sparse_fwd_ms", 1e3 * sparse_fwd(p));
                nm_report_set_num(it, "sparse_fwd_dw_ms", 1e3 * sparse_all(p));
                nm_report_set_num(it, "speedup_fwd", ratio_fwd(p));
                nm_report_set_num(it, "speedup_fwd_dw", ratio_all(p));
                nm_report_set_num(it, "max_rel_diff", p->max_rel_diff);
                nm_report_push_obj(rep, "results", it);
            }
            nm_report *c = nm_report_create(NULL);
            if (!c) continue;
            nm_report_set_int(c, "n_in", layers[l][0]);
            nm_report_set_int(c, "n_out", layers[l][1]);
            /* -1: sparse wins at every density measured; 0: at none. */
            nm_report_set_num(c, "crossover_fwd", cross[l][0]);
            nm_report_set_num(c, "crossover_fwd_dw", cross[l][1]);
            nm_report_push_obj(rep, "crossover", c);
        }
        if (nm_report_write(rep, json)) {
            fprintf(stderr, "bench_sparse: %s\n", nm_errmsg());
            nm_report_destroy(rep);
            return 1;
        }
        nm_report_destroy(rep);
    }
    return 0;
}
