/*
** bench_engine: the spiking engine's figures, each against a reference run in the same
** invocation.
**
**  1. rate-coded epoch: one training epoch of the Fashion-MNIST 784-1000-10 LIF network (25
**     steps, batch 128) on Bernoulli rate-coded input, with the gather path chosen by
**     density (auto) and with the dense sgemm path only (never). snnTorch's tutorial epoch
**     (100 s on 2 threads, ../shared/docs/ANCHORS.md) is the outside reference.
**  2. sparse vs dense on the same network: one training step (forward, loss, backward) of
**     784-1000-10 on random binary input of density 5..50 %, gather path forced on
**     (always) against forced off (never), same weights and inputs; the median of repeats.
**  3. memory: what the executor and the backward pass hold for that network at batch 128
**     and 25 steps, with the spikes as bits against what they would take as floats.
**
** Prints one "key=value ..." line per measurement.
** usage: bench_engine [DATA_DIR] [--threads N] [--skip-epochs]
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/neuromorph.h>

#define SNNTORCH_EPOCH_S 100.0   /* ANCHORS.md: snnTorch 0.9.4, 2 threads, this machine kind */

static nm_graph *mlp(void) {
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    nm_graph *g;
    if (nm_graph_from_spec("784-1000-10", &lp, &lo, &g)) { fprintf(stderr, "bench_engine: %s\n", nm_errmsg()); exit(1); }
    nm_graph_init_params(g, 1, 1.0f);
    return g;
}

static void rate_epochs(const nm_dataset *train, const nm_dataset *test, int threads) {
    const nm_sparse_mode modes[2] = {NM_SPARSE_AUTO, NM_SPARSE_NEVER};
    double secs[2];
    for (int k = 0; k < 2; k++) {
        nm_graph *g = mlp();
        nm_train_config c;
        nm_train_config_default(&c);
        c.quiet = 1;
        c.encoding = NM_ENC_RATE;
        c.sparse = modes[k];
        nm_train_result *res = calloc(1, sizeof *res);
        if (nm_train(g, train, NULL, &c, res)) { fprintf(stderr, "bench_engine: %s\n", nm_errmsg()); exit(1); }
        nm_eval_result ev;
        c.test_limit = 10000;
        if (nm_evaluate(g, test, &c, &ev)) { fprintf(stderr, "bench_engine: %s\n", nm_errmsg()); exit(1); }
        secs[k] = res->train_seconds;
        printf("bench=rate_epoch arch=784-1000-10 steps=25 batch=128 encoding=rate sparse=%s threads=%d epoch_s=%.2f "
               "speedup_vs_snntorch_2t=%.1f test_acc=%.4f\n",
               nm_sparse_mode_name(modes[k]), threads, secs[k], SNNTORCH_EPOCH_S / secs[k], ev.accuracy);
        fflush(stdout);
        free(res);
        nm_graph_destroy(g);
    }
    printf("bench=rate_epoch_ratio dense_over_auto=%.2f\n", secs[1] / secs[0]);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of one training step at input density d with the given path. */
static double step_time(nm_graph *g, nm_sparse_mode mode, const float *in, const int *labels, int T, int B, int reps,
                        double *hidden_density) {
    nm_exec_config ec = {1e-3f, T, B, mode, 0};
    nm_exec *x;
    nm_bptt *bp;
    if (nm_exec_create(g, &ec, &x) || nm_bptt_create(x, &bp)) { fprintf(stderr, "bench_engine: %s\n", nm_errmsg()); exit(1); }
    float *gm = nm_alloc(sizeof(float) * T * B * 10), *grads = nm_alloc(sizeof(float) * nm_graph_n_params(g));
    double t[32];
    for (int r = 0; r <= reps; r++) {
        double t0 = nm_time_now();
        nm_exec_forward(x, in, T, B);
        nm_loss_ce(x, NM_READOUT_MEAN, labels, gm, NULL);
        nm_bptt_backward(bp, gm, 1, grads);
        if (r) t[r - 1] = nm_time_now() - t0;   /* the first is a warm-up */
    }
    *hidden_density = nm_exec_input_density(x, 3);
    qsort(t, reps, sizeof t[0], cmp_double);
    nm_free(gm);
    nm_free(grads);
    nm_bptt_destroy(bp);
    nm_exec_destroy(x);
    return t[reps / 2];
}

static void sparse_sweep(int threads) {
    const int T = 25, B = 128, reps = 7;
    const int64_t n = (int64_t)T * B * 784;
    const double dens[] = {0.05, 0.10, 0.20, 0.30, 0.40, 0.50};
    nm_graph *g = mlp();
    float *in = nm_alloc(sizeof(float) * n);
    int labels[128];
    for (int b = 0; b < B; b++) labels[b] = b % 10;
    nm_rng r;
    for (size_t k = 0; k < sizeof dens / sizeof dens[0]; k++) {
        nm_rng_init(&r, 7, k);
        for (int64_t i = 0; i < n; i++) in[i] = nm_rng_uniform(&r) < dens[k] ? 1.0f : 0.0f;
        double hd_s, hd_d;
        double ts = step_time(g, NM_SPARSE_ALWAYS, in, labels, T, B, reps, &hd_s);
        double td = step_time(g, NM_SPARSE_NEVER, in, labels, T, B, reps, &hd_d);
        printf("bench=sparse_vs_dense arch=784-1000-10 steps=%d batch=%d threads=%d input_density=%.2f "
               "hidden_density=%.3f dense_ms=%.1f sparse_ms=%.1f dense_over_sparse=%.2f\n",
               T, B, threads, dens[k], hd_s, 1e3 * td, 1e3 * ts, td / ts);
        fflush(stdout);
    }
    nm_free(in);
    nm_graph_destroy(g);
}

static void memory(void) {
    const int T = 25, B = 128;
    nm_graph *g = mlp();
    nm_exec_config ec = {1e-3f, T, B, NM_SPARSE_AUTO, 0};
    nm_exec *x;
    nm_bptt *bp;
    if (nm_exec_create(g, &ec, &x) || nm_bptt_create(x, &bp)) { fprintf(stderr, "bench_engine: %s\n", nm_errmsg()); exit(1); }
    nm_exec_memory m;
    nm_exec_memory_usage(x, &m);
    const double MiB = 1048576.0;
    int64_t state = m.membranes + m.spike_bits + m.activations + m.traces;
    int64_t state_float = state - m.spike_bits + m.spikes_as_floats;
    printf("bench=bptt_memory arch=784-1000-10 steps=%d batch=%d membranes_mib=%.2f spike_bits_mib=%.2f "
           "spikes_as_floats_mib=%.2f activations_mib=%.2f state_mib=%.2f state_with_float_spikes_mib=%.2f "
           "gradients_mib=%.2f scratch_mib=%.2f\n",
           T, B, m.membranes / MiB, m.spike_bits / MiB, m.spikes_as_floats / MiB, m.activations / MiB, state / MiB,
           state_float / MiB, nm_bptt_bytes(bp) / MiB, m.scratch / MiB);
    nm_bptt_destroy(bp);
    nm_exec_destroy(x);
    nm_graph_destroy(g);
}

int main(int argc, char **argv) {
    const char *dir = NM_DEFAULT_DATA_DIR;
    int threads = 2, skip_epochs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--skip-epochs")) skip_epochs = 1;
        else dir = argv[i];
    }
    nm_set_threads(threads);
    memory();
    sparse_sweep(threads);
    if (!skip_epochs) {
        nm_dataset *train, *test;
        if (nm_dataset_load_dir(dir, "train", &train) || nm_dataset_load_dir(dir, "t10k", &test)) {
            fprintf(stderr, "bench_engine: %s\n", nm_errmsg());
            return 1;
        }
        rate_epochs(train, test, threads);
        nm_dataset_destroy(train);
        nm_dataset_destroy(test);
    }
    return 0;
}
