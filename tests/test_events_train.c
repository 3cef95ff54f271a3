/*
** test_events_train.c: training on an event dataset through the frames encoding.
**
** The task can only be solved from the order of the frames: class 0 fires pixel A early
** and pixel B late, class 1 the reverse, so the sum over time of every sample is the
** same. A 4-16-2 LIF network trained with --encoding frames must separate them (100% on
** the training set after a few epochs); one fed the frames in the wrong layout would see
** an order-free signal. The checks on the data (frames set without the frames encoding,
** steps that differ from the set's, a wrong input width) end with NM_INVAL / NM_SHAPE.
** The frames encoding is also checked against a hand transpose.
*/
#include <neuromorph/neuromorph.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

enum { N = 64, T = 4, PLANE = 2, CH = 2 };

static nm_dataset *order_set(void)
{
    nm_dataset *d = nm_alloc(sizeof *d);
    assert_non_null(d);
    d->n = N;
    d->rows = 1;
    d->cols = PLANE;
    d->channels = CH;
    d->steps = T;
    d->counts = 1;
    d->n_classes = 2;
    d->images = nm_alloc((size_t)N * T * CH * PLANE);
    d->labels = nm_alloc(N);
    for (int i = 0; i < N; i++) {
        uint8_t *s = d->images + (size_t)i * T * CH * PLANE;
        int c = i % 2, a = c ? 1 : 0, b = c ? 0 : 1;
        s[(0 * CH + 0) * PLANE + a] = 3;   /* frame 0, ON plane, pixel a */
        s[(2 * CH + 0) * PLANE + b] = 3;   /* frame 2, ON plane, pixel b */
        s[(1 * CH + 1) * PLANE + 0] = (uint8_t)(i % 3 == 0);   /* a little OFF noise */
        d->labels[i] = (uint8_t)c;
    }
    return d;
}

static void test_train_frames(void **state)
{
    (void)state;
    nm_dataset *d = order_set();
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    nm_graph *g = NULL;
    assert_int_equal(nm_graph_from_spec("4-16-2", &lp, &lo, &g), NM_OK);
    nm_graph_init_params(g, 5, 1.0f);
    nm_train_config c;
    nm_train_config_default(&c);
    c.encoding = NM_ENC_FRAMES;
    c.n_steps = T;
    c.epochs = 30;
    c.batch = 16;
    c.eval_batch = 32;
    c.lr = 0.02f;
    c.quiet = 1;
    c.checkpoint_every = 0;
    nm_set_threads(1);
    nm_train_result *res = calloc(1, sizeof *res);
    assert_int_equal(nm_train(g, d, NULL, &c, res), NM_OK);
    nm_eval_result ev;
    assert_int_equal(nm_evaluate(g, d, &c, &ev), NM_OK);
    if (ev.accuracy < 1.0) fail_msg("order task accuracy %.3f, want 1", ev.accuracy);

    /* the checks on the data */
    c.encoding = NM_ENC_CURRENT;
    assert_int_equal(nm_evaluate(g, d, &c, &ev), NM_INVAL);
    assert_non_null(strstr(nm_errmsg(), "--encoding frames --steps 4"));
    c.encoding = NM_ENC_FRAMES;
    c.n_steps = 5;
    assert_int_equal(nm_evaluate(g, d, &c, &ev), NM_SHAPE);
    c.n_steps = T;
    d->cols = 3;   /* 2 x 1 x 3 = 6 inputs against the model's 4 */
    assert_int_equal(nm_evaluate(g, d, &c, &ev), NM_SHAPE);
    assert_non_null(strstr(nm_errmsg(), "2x1x3 = 6 inputs"));
    d->cols = PLANE;
    free(res);
    nm_graph_destroy(g);
    nm_dataset_destroy(d);
}

static void test_frames_encoding(void **state)
{
    (void)state;
    const int B = 3, n = 5, steps = 4;
    float x[3 * 4 * 5], out[4 * 3 * 5];
    for (int i = 0; i < B * steps * n; i++) x[i] = 0.5f + (float)i;
    nm_encoder e;
    nm_encoder_default(&e, NM_ENC_FRAMES, steps, 1);
    assert_int_equal(nm_encoder_time_rows(&e), steps);
    nm_encode(&e, x, B, n, NULL, 0, out);
    for (int t = 0; t < steps; t++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n; i++) assert_true(out[(t * B + b) * n + i] == x[(b * steps + t) * n + i]);
    assert_string_equal(nm_encoding_name(NM_ENC_FRAMES), "frames");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_encoding),
        cmocka_unit_test(test_train_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
