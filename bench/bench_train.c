/*
** bench_train: one training epoch of the Fashion-MNIST 784-1000-10 LIF network (25 steps,
** batch 128, constant-current input: snnTorch's tutorial setup) with 1 and 2 threads.
**
** Reference in the same run: the epoch's dense matrix products alone (the five sgemm calls
** per batch that any implementation of this network must do: forward of both layers, both
** weight gradients, the hidden gradient), timed through the same OpenBLAS. The ratio says
** how much the epoch costs beyond that floor. snnTorch itself cannot run here; its figure
** (100 s per epoch on 2 threads, this machine kind) comes from ../shared/docs/ANCHORS.md.
**
** Prints one "key=value ..." line per measurement.
** usage: bench_train [DATA_DIR] [--threads-max N]
*/
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/neuromorph.h>

#define SNNTORCH_EPOCH_S 100.0   /* ANCHORS.md: snnTorch 0.9.4, 2 threads, this machine kind */

static double sgemm_floor(int64_t n_train, int batch, int T, int threads) {
    nm_set_threads(threads);
    const int NI = 784, H = 1000, O = 10, B = batch, M2 = T * B;
    float *x = nm_alloc(sizeof(float) * B * NI), *w1 = nm_alloc(sizeof(float) * H * NI), *h = nm_alloc(sizeof(float) * B * H);
    float *s = nm_alloc(sizeof(float) * M2 * H), *w2 = nm_alloc(sizeof(float) * O * H), *y = nm_alloc(sizeof(float) * M2 * O);
    float *gs = nm_alloc(sizeof(float) * M2 * H);
    int64_t batches = (n_train + B - 1) / B;
    double t0 = nm_time_now();
    for (int64_t b = 0; b < batches; b++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, NI, 1, x, NI, w1, NI, 0, h, H);     /* fc1 forward */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M2, O, H, 1, s, H, w2, H, 0, y, O);    /* fc2 forward */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, H, M2, 1, y, O, s, H, 0, w2, H);    /* dW2 */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M2, H, O, 1, y, O, w2, H, 0, gs, H); /* d spikes */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, NI, B, 1, h, H, x, NI, 0, w1, NI);     /* dW1 */
    }
    double t = nm_time_now() - t0;
    nm_free(x); nm_free(w1); nm_free(h); nm_free(s); nm_free(w2); nm_free(y); nm_free(gs);
    return t;
}

int main(int argc, char **argv) {
    const char *dir = NM_DEFAULT_DATA_DIR;
    int threads_max = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads-max") && i + 1 < argc) threads_max = atoi(argv[++i]);
        else dir = argv[i];
    }
    nm_dataset *train;
    if (nm_dataset_load_dir(dir, "train", &train)) {
        fprintf(stderr, "bench_train: %s\n", nm_errmsg());
        return 1;
    }
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    for (int threads = 1; threads <= threads_max; threads++) {
        nm_graph *g;
        if (nm_graph_from_spec("784-1000-10", &lp, &lo, &g)) { fprintf(stderr, "bench_train: %s\n", nm_errmsg()); return 1; }
        nm_graph_init_params(g, 1, 1.0f);
        nm_train_config c;
        nm_train_config_default(&c);
        c.quiet = 1;
        nm_set_threads(threads);
        nm_train_result *res = calloc(1, sizeof *res);
        if (nm_train(g, train, NULL, &c, res)) { fprintf(stderr, "bench_train: %s\n", nm_errmsg()); return 1; }
        double epoch = res->train_seconds;
        double floor_s = sgemm_floor(train->n, c.batch, c.n_steps, threads);
        printf("bench=train_epoch arch=784-1000-10 steps=25 batch=128 encoding=current threads=%d epoch_s=%.2f "
               "us_per_sample_step=%.2f sgemm_floor_s=%.2f ratio_to_sgemm_floor=%.2f speedup_vs_snntorch_2t=%.1f "
               "train_acc=%.4f peak_rss_mib=%.0f\n",
               threads, epoch, 1e6 * epoch / ((double)train->n * c.n_steps), floor_s, epoch / floor_s,
               SNNTORCH_EPOCH_S / epoch, res->history[0].train_acc, nm_peak_rss_bytes() / 1048576.0);
        fflush(stdout);
        free(res);
        nm_graph_destroy(g);
    }
    nm_dataset_destroy(train);
    return 0;
}
