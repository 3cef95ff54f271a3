/*
** bench_xbar: analog matrix-vector products through crossbar tiles (src/hw/xbar.c) against a
** plain OpenBLAS sgemv/sgemm of the same shape, on one thread.
**
** Setup (the PCM profile with every non-ideality on, aihwkit's InferenceRPUConfig numbers):
** W (1024, 1024) and x ~ U(-1, 1); PCM device (aihwkit PCMLikeNoiseModel defaults) with read
** noise 0.0175 (PCM_READ w_noise); 512 x 512 tiles; ABSMAX input scaling; 7-bit DAC over
** [-1, 1]; 9-bit ADC over [-12, 12]; ADC noise 0.06; IR drop 1.0 with ir_g_ratio 5.714e5;
** programmed, then read 1 h later (set_time(3600)).
**
** Settings, to see what costs what: ideal (the same drifted PCM arrays, ideal converters,
** no read noise, no IR drop), +dac_adc, +read_noise (device read noise and ADC noise),
** +ir_drop, and all. For each:
**   xbar_mvm_per_s      m = 1 forward reads per second, every call with its own read_id
**   sgemv_per_s         cblas_sgemv of the same (1024, 1024) matrix, timed in the same repeats
**   slowdown            median over repeats of (xbar time / sgemv time)
**   vs_crosssim_14      xbar_mvm_per_s / 14, CrossSim 3.2's 1024 x 1024 MVM/s with read noise
**                       redrawn on every MVM (numpy + OpenBLAS, 1 thread; ANCHORS.md)
**   bwd_mvm_per_s       m = 1 transposed reads per second
**   batched_mvm_per_s   rows per second of m = 64 forward reads; sgemm_mvm_per_s the same for
**                       cblas_sgemm (64 x 1024) x (1024 x 1024)^T; batched_slowdown their ratio
**   rel_err             ||y - W x|| / ||W x|| of one m = 1 read (W the matrix asked for: this
**                       includes PCM drift, -24% in 1 h without drift compensation)
**   rel_err_read        the same against the weights the arrays hold at 1 h (nm_xbar_weights):
**                       the error of the read path alone (converters, noise, IR drop)
** Each figure is the median of --reps repeats; a repeat times a batch of calls lasting about
** 40 ms, the xbar and BLAS batches back to back so that a noisy machine slows both alike.
** usage: bench_xbar [--reps R] [--n N] [--only SETTING]
*/
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/neuromorph.h>
#include <neuromorph/hw.h>

#define MAX_REPS 101
#define BATCH_M  64

static void *xalloc(size_t n) {
    void *p = nm_alloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_xbar: out of memory\n");
        exit(1);
    }
    return p;
}

static void check(nm_status st) {
    if (st) {
        fprintf(stderr, "bench_xbar: %s: %s\n", nm_status_str(st), nm_errmsg());
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct setting {
    const char *name;
    int dac_adc, noise, ir;
} setting;

typedef struct ctx {
    int64_t n;
    const float *W, *x, *X;   /* (n, n), (n), (BATCH_M, n) */
    float *y, *Y;
    nm_xbar *xb;
    uint64_t read_id;
} ctx;

/* One call of each kind, counted in matrix-vector products. */
static void run_xbar1(ctx *c) { nm_xbar_forward(c->xb, c->x, 1, c->y, c->read_id++); }
static void run_xbar_bwd(ctx *c) { nm_xbar_backward(c->xb, c->x, 1, c->y, c->read_id++); }
static void run_xbarB(ctx *c) { nm_xbar_forward(c->xb, c->X, BATCH_M, c->Y, c->read_id++); }
static void run_sgemv(ctx *c) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)c->n, (int)c->n, 1.0f, c->W, (int)c->n, c->x, 1, 0.0f, c->y, 1);
}
static void run_sgemm(ctx *c) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, BATCH_M, (int)c->n, (int)c->n, 1.0f, c->X, (int)c->n, c->W,
                (int)c->n, 0.0f, c->Y, (int)c->n);
}

/* Calls in a batch so that one batch lasts ~40 ms (from a first estimate). */
static int calls_for(void (*f)(ctx *), ctx *c) {
    f(c);   /* warm */
    int k = 1;
    for (;;) {
        double t0 = nm_time_now();
        for (int i = 0; i < k; i++) f(c);
        double dt = nm_time_now() - t0;
        if (dt > 0.01 || k > (1 << 20)) return (int)fmax(1.0, k * 0.04 / fmax(dt, 1e-9));
        k *= 4;
    }
}

static double time_batch(void (*f)(ctx *), ctx *c, int k) {
    double t0 = nm_time_now();
    for (int i = 0; i < k; i++) f(c);
    return (nm_time_now() - t0) / k;
}

int main(int argc, char **argv) {
    int reps = 7;
    int64_t n = 1024;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_xbar [--reps R] [--n N] [--only ideal|dac_adc|read_noise|ir_drop|all]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || n < 1) {
        fprintf(stderr, "bench_xbar: --reps must be in [1, %d], --n positive\n", MAX_REPS);
        return 2;
    }
    nm_set_threads(1);

    float *W = xalloc(sizeof(float) * (size_t)(n * n)), *x = xalloc(sizeof(float) * (size_t)n);
    float *X = xalloc(sizeof(float) * (size_t)(BATCH_M * n)), *y = xalloc(sizeof(float) * (size_t)n);
    float *Y = xalloc(sizeof(float) * (size_t)(BATCH_M * n));
    nm_rng r;
    nm_rng_init(&r, 2024, 0);
    for (int64_t i = 0; i < n * n; i++) W[i] = 2.0f * nm_rng_uniform(&r) - 1.0f;
    for (int64_t i = 0; i < n; i++) x[i] = 2.0f * nm_rng_uniform(&r) - 1.0f;
    for (int64_t i = 0; i < BATCH_M * n; i++) X[i] = 2.0f * nm_rng_uniform(&r) - 1.0f;
    double *ref = xalloc(sizeof(double) * (size_t)n), ref2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < n; j++) s += (double)W[i * n + j] * x[j];
        ref[i] = s;
        ref2 += s * s;
    }

    /* PCM with and without fresh read noise: the same programmed population otherwise. */
    nm_device_params pp;
    nm_device_params_default(NM_DEV_PCM, &pp);
    nm_device *dev_quiet = NULL, *dev_noisy = NULL;
    pp.read_sigma = 0.0f;
    check(nm_device_create(&pp, &dev_quiet));
    pp.read_sigma = 0.0175f;
    check(nm_device_create(&pp, &dev_noisy));

    const setting settings[] = {
        {"ideal", 0, 0, 0}, {"dac_adc", 1, 0, 0}, {"read_noise", 0, 1, 0}, {"ir_drop", 0, 0, 1}, {"all", 1, 1, 1},
    };
    const int n_set = (int)(sizeof settings / sizeof settings[0]);
    printf("# bench_xbar: %lld x %lld, 512 x 512 tiles, PCM at t = 1 h, 1 thread, %d repeats\n", (long long)n,
           (long long)n, reps);
    for (int s = 0; s < n_set; s++) {
        const setting *st = &settings[s];
        if (only && strcmp(only, st->name)) continue;
        nm_xbar_config cfg;
        nm_xbar_config_default(&cfg);
        cfg.tile_rows = cfg.tile_cols = 512;
        cfg.input_scaling = NM_INSCALE_ABSMAX;
        if (st->dac_adc) {
            cfg.dac_bits = 7;
            cfg.dac_range = 1.0f;
            cfg.adc_bits = 9;
            cfg.adc_range = 12.0f;
        }
        if (st->noise) cfg.adc_noise = 0.06f;
        if (st->ir) {
            cfg.ir_drop = 1.0f;
            cfg.ir_g_ratio = 5.714e5f;
        }
        nm_xbar *xb = NULL;
        double t0 = nm_time_now();
        check(nm_xbar_create(&cfg, st->noise ? dev_noisy : dev_quiet, n, n, &xb));
        check(nm_xbar_program(xb, W, 42, 1));
        check(nm_xbar_set_time(xb, 3600.0));
        const double t_prog = nm_time_now() - t0;
        ctx c = {n, W, x, X, y, Y, xb, 1};

        /* accuracy of one read */
        nm_xbar_forward(xb, x, 1, y, 0);
        double e2 = 0;
        for (int64_t i = 0; i < n; i++) e2 += (y[i] - ref[i]) * (y[i] - ref[i]);
        const double rel_err = sqrt(e2 / ref2);
        const float *Wn = nm_xbar_weights(xb);
        double er = 0, rr = 0;
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t j = 0; j < n; j++) s += (double)Wn[i * n + j] * x[j];
            er += (y[i] - s) * (y[i] - s);
            rr += s * s;
        }
        const double rel_err_read = sqrt(er / rr);

        const int k1 = calls_for(run_xbar1, &c), kv = calls_for(run_sgemv, &c), kb = calls_for(run_xbar_bwd, &c);
        const int kB = calls_for(run_xbarB, &c), kM = calls_for(run_sgemm, &c);
        double tx[MAX_REPS], tv[MAX_REPS], tb[MAX_REPS], tB[MAX_REPS], tM[MAX_REPS], ratio[MAX_REPS], ratioB[MAX_REPS];
        for (int k = 0; k < reps; k++) {
            tx[k] = time_batch(run_xbar1, &c, k1);
            tv[k] = time_batch(run_sgemv, &c, kv);
            tb[k] = time_batch(run_xbar_bwd, &c, kb);
            tB[k] = time_batch(run_xbarB, &c, kB);
            tM[k] = time_batch(run_sgemm, &c, kM);
            ratio[k] = tx[k] / tv[k];
            ratioB[k] = tB[k] / tM[k];
        }
        const double mx = 1.0 / median(tx, reps), mv = 1.0 / median(tv, reps), mb = 1.0 / median(tb, reps);
        const double mB = BATCH_M / median(tB, reps), mM = BATCH_M / median(tM, reps);
        printf("setting=%s xbar_mvm_per_s=%.0f sgemv_per_s=%.0f slowdown=%.2f vs_crosssim_14=%.0f rel_err=%.4f "
               "rel_err_read=%.4f bwd_mvm_per_s=%.0f batched_mvm_per_s=%.0f sgemm_mvm_per_s=%.0f batched_slowdown=%.2f "
               "program_s=%.3f\n",
               st->name, mx, mv, median(ratio, reps), mx / 14.0, rel_err, rel_err_read, mb, mB, mM, median(ratioB, reps),
               t_prog);
        fflush(stdout);
        nm_xbar_destroy(xb);
    }
    nm_device_destroy(dev_quiet);
    nm_device_destroy(dev_noisy);
    nm_free(W);
    nm_free(x);
    nm_free(X);
    nm_free(y);
    nm_free(Y);
    nm_free(ref);
    return 0;
}
