/*
** The evolution strategy: with a fixed seed it improves the fitness (minus the cross-entropy)
** of a small LIF network on a toy problem with an obvious answer (which half of a 4x4 image is
** bright) until the network solves it, gives the same weights on 1 and 2 threads, and
** rejects bad configurations naming the field.
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

static nm_dataset *halves(int64_t n, uint64_t seed) {
    nm_dataset *d = calloc(1, sizeof *d);
    d->n = n;
    d->rows = d->cols = 4;
    d->n_classes = 2;
    d->images = calloc((size_t)n * 16, 1);
    d->labels = calloc((size_t)n, 1);
    nm_rng r;
    nm_rng_init(&r, seed, 0);
    for (int64_t k = 0; k < n; k++) {
        int cls = (int)nm_rng_below(&r, 2);
        d->labels[k] = (uint8_t)cls;
        for (int p = 0; p < 16; p++) {
            int bright = ((p % 4) >= 2) == cls;
            d->images[k * 16 + p] = (uint8_t)(bright ? 140 + nm_rng_below(&r, 116) : nm_rng_below(&r, 90));
        }
    }
    return d;
}

static void toy_free(nm_dataset *d) {
    free(d->images);
    free(d->labels);
    free(d);
}

static void evolve_once(int threads, nm_evolve_result *er, double *acc, float **params, int64_t *np) {
    nm_set_threads(threads);
    nm_dataset *tr = halves(400, 1), *te = halves(200, 2);
    nm_graph *g;
    nm_spec_options o;
    nm_spec_options_default(&o);
    assert_int_equal(nm_graph_from_spec_ex("16-8-2", &o, &g), NM_OK);
    nm_graph_init_params(g, 3, 0.3f);   /* small: the untrained network is near chance */
    nm_train_config tc;
    nm_train_config_default(&tc);
    tc.n_steps = 10;
    nm_evolve_config ec;
    nm_evolve_config_default(&ec);
    ec.generations = 40;
    ec.pairs = 8;
    ec.sigma = 0.05f;
    ec.lr = 0.03f;
    ec.batch = 64;
    ec.seed = 5;
    ec.quiet = 1;
    assert_int_equal(nm_evolve(g, tr, &tc, &ec, er), NM_OK);
    nm_eval_result ev;
    assert_int_equal(nm_evaluate(g, te, &tc, &ev), NM_OK);
    *acc = ev.accuracy;
    *np = nm_graph_n_params(g);
    *params = malloc(sizeof(float) * *np);
    memcpy(*params, nm_graph_params(g), sizeof(float) * *np);
    nm_graph_destroy(g);
    toy_free(tr);
    toy_free(te);
}

static void test_es_improves(void **st) {
    (void)st;
    nm_evolve_result r1, r2;
    double a1, a2;
    float *p1, *p2;
    int64_t n1, n2;
    evolve_once(1, &r1, &a1, &p1, &n1);
    evolve_once(2, &r2, &a2, &p2, &n2);
    printf("ES: fitness %.4f -> %.4f over %d generations, test accuracy %.3f\n", r1.first_fitness, r1.last_fitness,
           r1.generations, a1);
    assert_int_equal(r1.generations, 40);
    /* from about -ln 2 (chance) to a confident answer */
    assert_true(r1.first_fitness < -0.5);
    assert_true(r1.last_fitness > r1.first_fitness + 0.3);
    assert_true(a1 >= 0.95);
    /* the same bits with 1 and 2 threads */
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, sizeof(float) * n1);
    assert_float_equal(a1, a2, 0);
    free(p1);
    free(p2);
    nm_set_threads(0);
}

static void test_es_errors(void **st) {
    (void)st;
    nm_dataset *tr = halves(10, 1);
    nm_graph *g;
    nm_spec_options o;
    nm_spec_options_default(&o);
    assert_int_equal(nm_graph_from_spec_ex("16-4-2", &o, &g), NM_OK);
    nm_train_config tc;
    nm_train_config_default(&tc);
    nm_evolve_config ec;
    nm_evolve_result er;
    nm_evolve_config_default(&ec);
    ec.sigma = 0;
    assert_int_equal(nm_evolve(g, tr, &tc, &ec, &er), NM_RANGE);
    assert_non_null(strstr(nm_errmsg(), "sigma"));
    nm_evolve_config_default(&ec);
    ec.pairs = 0;
    assert_int_equal(nm_evolve(g, tr, &tc, &ec, &er), NM_RANGE);
    nm_graph_destroy(g);
    /* a network that does not fit the images */
    assert_int_equal(nm_graph_from_spec_ex("15-4-2", &o, &g), NM_OK);
    nm_evolve_config_default(&ec);
    assert_int_equal(nm_evolve(g, tr, &tc, &ec, &er), NM_SHAPE);
    nm_graph_destroy(g);
    toy_free(tr);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_es_improves), cmocka_unit_test(test_es_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
