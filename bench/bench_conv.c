/*
** bench_conv: forward and backward of the convolution kernels on the layer sizes a
** spiking CNN on 28x28 images meets, for m = 25 steps x 128 samples = 3200 images:
**   1x28x28 -> 16c5    the input layer (no input gradient: nothing to send it to)
**   16x12x12 -> 32c5   the second layer (input gradient included)
**
** Reference in the same run: plain sgemm calls of the same shapes and FLOP count as the
** products inside the kernels (forward W col, dW = gy col^T, dcol = W^T gy), on matrices
** already in place, through the same OpenBLAS with its own threading. The ratio says what
** im2col, col2im, the layout copies and single-threaded tiles cost beyond that floor.
** FLOPs count 2 multiply-adds per weight tap per output pixel per product.
**
** Prints one "key=value ..." line per measurement, then a markdown table.
** usage: bench_conv [--threads-max N] [--reps R]
*/
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/neuromorph.h>

typedef struct layer {
    const char *name;
    int64_t c_in, h, w, c_out;
    int k, want_gx;
} layer;

typedef struct result {
    const char *name;
    int threads;
    double fwd_s, bwd_s, gflop, ref_s;
} result;

static float *rand_buf(nm_rng *r, int64_t n) {
    float *p = nm_alloc(sizeof(float) * n);
    if (!p) { fprintf(stderr, "bench_conv: out of memory\n"); exit(1); }
    for (int64_t i = 0; i < n; i++) p[i] = 2.0f * nm_rng_uniform(r) - 1.0f;
    return p;
}

/* The products of one forward + backward as plain sgemm calls: M = c_out, K = c_in k k,
** N = m n_pos columns in 16 blocks (so the operands stay small); the same blocks are reused. */
typedef struct floor_bufs {
    int M, K, N, want_gx;
    float *A, *B, *C, *dA, *D;
} floor_bufs;

static void floor_init(floor_bufs *f, const nm_conv_geom *g, int64_t m, int want_gx) {
    f->M = (int)g->c_out;
    f->K = (int)(g->c_in * g->kh * g->kw);
    f->N = (int)((m * g->h_out * g->w_out + 15) / 16);
    f->want_gx = want_gx;
    nm_rng r;
    nm_rng_init(&r, 2, 0);
    f->A = rand_buf(&r, (int64_t)f->M * f->K);
    f->B = rand_buf(&r, (int64_t)f->K * f->N);
    f->C = rand_buf(&r, (int64_t)f->M * f->N);
    f->dA = rand_buf(&r, (int64_t)f->M * f->K);
    f->D = want_gx ? rand_buf(&r, (int64_t)f->K * f->N) : NULL;
}

static double floor_run(floor_bufs *f) {
    const int M = f->M, K = f->K, N = f->N;
    double t0 = nm_time_now();
    for (int blk = 0; blk < 16; blk++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, f->A, K, f->B, N, 0.0f, f->C, N);    /* forward */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, f->C, N, f->B, N, 1.0f, f->dA, K);     /* dW */
        if (f->want_gx)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, f->A, K, f->C, N, 0.0f, f->D, N);  /* dcol */
    }
    return nm_time_now() - t0;
}

static void floor_free(floor_bufs *f) {
    nm_free(f->A); nm_free(f->B); nm_free(f->C); nm_free(f->dA); nm_free(f->D);
}

/* The kernels and the floor alternate, rep by rep, so that both meet the same load on a
** shared machine; each keeps its best time. */
static result run_layer(const layer *L, int64_t m, int threads, int reps) {
    nm_conv_geom g;
    if (nm_conv_geom_init(&g, L->c_in, L->h, L->w, L->c_out, L->k, L->k, 1, 1, 0, 0, 1, 1, 1)) {
        fprintf(stderr, "bench_conv: %s\n", nm_errmsg());
        exit(1);
    }
    nm_set_threads(threads);
    nm_rng r;
    nm_rng_init(&r, 1, 0);
    const int64_t n_x = m * g.c_in * g.h_in * g.w_in, n_y = m * g.c_out * g.h_out * g.w_out, n_w = nm_conv_weight_count(&g);
    float *W = rand_buf(&r, n_w), *b = rand_buf(&r, g.c_out), *x = rand_buf(&r, n_x), *gy = rand_buf(&r, n_y);
    float *y = rand_buf(&r, n_y), *dW = rand_buf(&r, n_w), *db = rand_buf(&r, g.c_out);
    float *gx = L->want_gx ? rand_buf(&r, n_x) : NULL;
    float *scratch = rand_buf(&r, nm_conv_scratch_floats(&g, m));
    floor_bufs f;
    floor_init(&f, &g, m, L->want_gx);
    result res = {L->name, threads, 1e30, 1e30, 0, 1e30};
    for (int rep = 0; rep <= reps; rep++) {   /* rep 0 warms caches and thread pools */
        double t0 = nm_time_now();
        nm_conv_forward(&g, W, b, x, m, y, scratch);
        double t1 = nm_time_now();
        nm_conv_backward(&g, W, x, gy, m, dW, db, gx, scratch);
        double t2 = nm_time_now();
        double tf = floor_run(&f);
        if (rep == 0) continue;
        if (t1 - t0 < res.fwd_s) res.fwd_s = t1 - t0;
        if (t2 - t1 < res.bwd_s) res.bwd_s = t2 - t1;
        if (tf < res.ref_s) res.ref_s = tf;
    }
    const double per_product = 2.0 * m * g.h_out * g.w_out * g.c_out * (g.c_in / g.groups) * g.kh * g.kw;
    res.gflop = per_product * (L->want_gx ? 3 : 2) * 1e-9;
    printf("bench=conv layer=\"%s\" m=%lld threads=%d fwd_ms=%.2f bwd_ms=%.2f gflop=%.3f gflops=%.1f "
           "sgemm_floor_ms=%.2f sgemm_gflops=%.1f ratio_to_sgemm=%.2f scratch_mib=%.1f\n",
           L->name, (long long)m, threads, 1e3 * res.fwd_s, 1e3 * res.bwd_s, res.gflop,
           res.gflop / (res.fwd_s + res.bwd_s), 1e3 * res.ref_s, res.gflop / res.ref_s,
           (res.fwd_s + res.bwd_s) / res.ref_s, nm_conv_scratch_floats(&g, m) * 4.0 / 1048576.0);
    fflush(stdout);
    floor_free(&f);
    nm_free(W); nm_free(b); nm_free(x); nm_free(gy); nm_free(y); nm_free(dW); nm_free(db); nm_free(gx); nm_free(scratch);
    return res;
}

int main(int argc, char **argv) {
    int threads_max = 2, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads-max") && i + 1 < argc) threads_max = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_conv [--threads-max N] [--reps R]\n");
            return 2;
        }
    }
    if (threads_max < 1) threads_max = 1;
    if (reps < 1) reps = 1;
    static const layer L[] = {
        {"1x28x28 -> 16c5, no gx", 1, 28, 28, 16, 5, 0},
        {"16x12x12 -> 32c5", 16, 12, 12, 32, 5, 1},
    };
    const int64_t m = 25 * 128;
    enum { N_LAYERS = sizeof L / sizeof L[0] };
    result *res = calloc((size_t)N_LAYERS * threads_max, sizeof *res);
    int n = 0;
    for (int l = 0; l < N_LAYERS; l++)
        for (int t = 1; t <= threads_max; t++) res[n++] = run_layer(&L[l], m, t, reps);

    printf("\n| layer (m = %lld) | threads | forward | backward | GFLOP | GFLOP/s | sgemm floor | sgemm GFLOP/s | time / floor |\n",
           (long long)m);
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++)
        printf("| %s | %d | %.1f ms | %.1f ms | %.2f | %.1f | %.1f ms | %.1f | %.2fx |\n", res[i].name, res[i].threads,
               1e3 * res[i].fwd_s, 1e3 * res[i].bwd_s, res[i].gflop, res[i].gflop / (res[i].fwd_s + res[i].bwd_s),
               1e3 * res[i].ref_s, res[i].gflop / res[i].ref_s, (res[i].fwd_s + res[i].bwd_s) / res[i].ref_s);
    free(res);
    return 0;
}
