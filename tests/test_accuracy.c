/*
** An accuracy floor on real data: a 784-128-10 LIF network trained briefly on the first
** 2,000 Fashion-MNIST training images must classify the first 2,000 test images well.
**
** The floor is justified twice. Against a trivially correct reference computed here on the
** same images: the nearest-class-mean classifier (each class's mean image; predict the
** closest), which any learned classifier with a hidden layer should beat. And absolutely:
** 75%, about 7.5x chance; a linear classifier trained on all 60,000 images reaches about 84%
** (the Fashion-MNIST benchmark table), so a network seeing 3% of that data for a few epochs
** sits a few points below it. A broken gradient, encoder or loss lands near the reference
** or near chance (10%).
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <neuromorph/neuromorph.h>

#define N_TRAIN 2000
#define N_TEST  2000

static nm_dataset *load(const char *split, int64_t n) {
    nm_dataset *full = NULL, *part = NULL;
    if (nm_dataset_load_dir(NM_DEFAULT_DATA_DIR, split, &full))
        fail_msg("%s (run `bash build.sh deps` to install dataset-fashion-mnist)", nm_errmsg());
    assert_int_equal(nm_dataset_slice(full, 0, n, &part), NM_OK);
    nm_dataset_destroy(full);
    return part;
}

static double nearest_class_mean(const nm_dataset *tr, const nm_dataset *te) {
    const int P = tr->rows * tr->cols, C = 10;
    double *mean = calloc((size_t)C * P, sizeof(double));
    int count[10] = {0};
    for (int64_t i = 0; i < tr->n; i++) {
        count[tr->labels[i]]++;
        for (int k = 0; k < P; k++) mean[tr->labels[i] * P + k] += tr->images[i * P + k];
    }
    for (int c = 0; c < C; c++)
        for (int k = 0; k < P; k++) mean[c * P + k] /= count[c] ? count[c] : 1;
    int64_t hits = 0;
    for (int64_t i = 0; i < te->n; i++) {
        double best = INFINITY;
        int arg = 0;
        for (int c = 0; c < C; c++) {
            double d = 0;
            for (int k = 0; k < P; k++) {
                double e = te->images[i * P + k] - mean[c * P + k];
                d += e * e;
            }
            if (d < best) { best = d; arg = c; }
        }
        hits += arg == te->labels[i];
    }
    free(mean);
    return (double)hits / (double)te->n;
}

static void test_accuracy_floor(void **st) {
    (void)st;
    nm_dataset *tr = load("train", N_TRAIN), *te = load("t10k", N_TEST);
    double ref = nearest_class_mean(tr, te);

    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    nm_graph *g;
    assert_int_equal(nm_graph_from_spec("784-128-10", &lp, &lo, &g), NM_OK);
    nm_graph_init_params(g, 1, 1.0f);
    nm_train_config c;
    nm_train_config_default(&c);
    c.epochs = 5;
    c.batch = 32;
    c.quiet = 1;
    c.checkpoint_every = 0;
    nm_train_result *res = calloc(1, sizeof *res);
    assert_int_equal(nm_train(g, tr, NULL, &c, res), NM_OK);
    nm_eval_result ev;
    assert_int_equal(nm_evaluate(g, te, &c, &ev), NM_OK);
    printf("accuracy floor: SNN %.2f%% (floor 75%%), nearest class mean %.2f%%, %.0f spikes/sample\n",
           100 * ev.accuracy, 100 * ref, ev.spikes_per_sample);
    assert_true(ev.accuracy >= 0.75);
    assert_true(ev.accuracy >= ref + 0.05);
    assert_true(ev.spikes_per_sample > 0);
    free(res);
    nm_graph_destroy(g);
    nm_dataset_destroy(tr);
    nm_dataset_destroy(te);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_accuracy_floor)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
