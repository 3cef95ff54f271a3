/*
** The library in one page: load Fashion-MNIST, build a 784-256-10 LIF network, train it for
** one epoch with surrogate-gradient BPTT, evaluate it, and save it.
**
**   ./build/examples/train_fmnist [DATA_DIR]
*/
#include <stdio.h>

#include <neuromorph/neuromorph.h>

static int fail(void) {
    fprintf(stderr, "train_fmnist: %s\n", nm_errmsg());
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : NM_DEFAULT_DATA_DIR;
    nm_dataset *train = NULL, *test = NULL;
    if (nm_dataset_load_dir(dir, "train", &train) || nm_dataset_load_dir(dir, "t10k", &test)) return fail();

    /* Hidden LIF: tau 20 ms, threshold 1, reset by subtraction; LI readout, tau 20 ms. */
    nm_lif_params hidden;
    nm_li_params readout;
    nm_lif_params_default(&hidden);
    nm_li_params_default(&readout);
    nm_graph *g;
    if (nm_graph_from_spec("784-256-10", &hidden, &readout, &g)) return fail();
    nm_graph_init_params(g, 42, 1.0f);

    /* 25 steps of 1 ms, the image as a constant current, Adam with a cosine schedule. */
    nm_train_config cfg;
    nm_train_config_default(&cfg);
    cfg.seed = 42;
    nm_train_result res;
    if (nm_train(g, train, test, &cfg, &res)) return fail();

    nm_eval_result ev;
    if (nm_evaluate(g, test, &cfg, &ev)) return fail();
    printf("test accuracy %.2f%%, %.0f spikes per sample, %.1f s of training\n", 100 * ev.accuracy,
           ev.spikes_per_sample, res.train_seconds);
    if (nm_graph_save(g, "fmnist-256.nmm")) return fail();

    nm_graph_destroy(g);
    nm_dataset_destroy(train);
    nm_dataset_destroy(test);
    return 0;
}
