/*
** The graph IR: building, shape checks with named nodes, model files (round trip and every
** corruption), and the executor against a naive reference.
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

#ifndef NM_TEST_TMP_DIR
#define NM_TEST_TMP_DIR "/tmp"
#endif

#define ASSERT_MSG(sub) \
    do { if (!strstr(nm_errmsg(), sub)) fail_msg("message '%s' lacks '%s'", nm_errmsg(), sub); } while (0)

static nm_graph *spec(const char *s) {
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    nm_graph *g = NULL;
    assert_int_equal(nm_graph_from_spec(s, &lp, &lo, &g), NM_OK);
    return g;
}

static void test_spec_builds_layers(void **st) {
    (void)st;
    nm_graph *g = spec("784-1000-10");
    assert_int_equal(nm_graph_n_nodes(g), 6);
    const nm_node_kind want[] = {NM_NODE_INPUT, NM_NODE_AFFINE, NM_NODE_LIF, NM_NODE_AFFINE, NM_NODE_LI, NM_NODE_OUTPUT};
    for (int j = 0; j < 6; j++) assert_int_equal(nm_graph_node(g, j)->kind, want[j]);
    assert_int_equal(nm_graph_input_size(g), 784);
    assert_int_equal(nm_graph_output_size(g), 10);
    /* W1 + b1 + W2 + b2, each padded to 16 floats */
    assert_int_equal(nm_graph_n_params(g), 784000 + 1008 + 10000 + 16);
    char buf[64];
    nm_graph_spec(g, buf, sizeof buf);
    assert_string_equal(buf, "784-1000-10");
    nm_graph_destroy(g);
}

static void test_spec_errors(void **st) {
    (void)st;
    nm_lif_params lp;
    nm_li_params lo;
    nm_lif_params_default(&lp);
    nm_li_params_default(&lo);
    nm_graph *g = NULL;
    struct { const char *spec, *msg; } bad[] = {
        {"784-abc-10", "layer 'abc' is not a layer"}, {"784-", "empty layer"}, {"784", "at least"},
        {"", "empty"}, {"784-0-10", "out of range"}, {"784x10x3x2-10", "more than 3 dimensions"},
        {"784-16c5-10", "not a flat vector"}, {"1x28x28-16c-10", "needs a kernel size"},
        {"1x28x28-16c5q2-10", "unknown conv option"}, {"1x28x28-16c30-10", "does not fit"},
        {"1x28x28-16c5", "the last layer must be the readout"}, {"1x28x28-ap2", "last layer"},
        {"1x28x28-16c5-ap2s0-10", "positive number"}, {"784-10r", "cannot be recurrent"},
        {"1x28x28-7c3g2-10", "divisible"}, {"784--10", "empty layer"}, {"784-100-sp2-10", "flat vector"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(nm_graph_from_spec(bad[i].spec, &lp, &lo, &g), NM_OK);
        ASSERT_MSG(bad[i].msg);
    }
    assert_null(g);
}

static void test_shape_mismatch_names_node(void **st) {
    (void)st;
    nm_graph *g;
    nm_lif_params lp;
    nm_lif_params_default(&lp);
    int in, fc, lif, out;
    assert_int_equal(nm_graph_create(&g), NM_OK);
    assert_int_equal(nm_graph_add_input(g, "pixels", 784, &in), NM_OK);
    assert_int_equal(nm_graph_add_affine(g, "fc1", 784, 1000, &fc), NM_OK);
    assert_int_equal(nm_graph_add_lif(g, "hidden", 512, &lp, &lif), NM_OK);
    assert_int_equal(nm_graph_add_output(g, "out", &out), NM_OK);
    nm_graph_connect(g, in, fc);
    nm_graph_connect(g, fc, lif);
    nm_graph_connect(g, lif, out);
    assert_int_equal(nm_graph_compile(g), NM_SHAPE);
    ASSERT_MSG("node 'hidden' (LIF) expects 512 inputs but 'fc1' (Affine) gives 1000");
    nm_graph_destroy(g);
}

static void test_structure_errors(void **st) {
    (void)st;
    nm_graph *g;
    nm_lif_params lp;
    nm_lif_params_default(&lp);
    int a, b, c;
    /* no source */
    nm_graph_create(&g);
    nm_graph_add_input(g, "in", 4, &a);
    nm_graph_add_lif(g, "orphan", 4, &lp, &b);
    nm_graph_add_output(g, "out", &c);
    nm_graph_connect(g, a, c);
    assert_int_equal(nm_graph_compile(g), NM_INVAL);
    ASSERT_MSG("'orphan' (LIF) has no source");
    nm_graph_destroy(g);
    /* duplicate names, fed twice, no output, bad params */
    nm_graph_create(&g);
    nm_graph_add_input(g, "in", 4, &a);
    assert_int_equal(nm_graph_add_lif(g, "in", 4, &lp, &b), NM_INVAL);
    ASSERT_MSG("two nodes are named 'in'");
    nm_graph_add_lif(g, "l1", 4, &lp, &b);
    nm_graph_add_lif(g, "l2", 4, &lp, &c);
    nm_graph_connect(g, a, b);
    assert_int_equal(nm_graph_connect(g, c, b), NM_INVAL);
    ASSERT_MSG("'l1' is fed by both");
    nm_graph_connect(g, b, c);
    assert_int_equal(nm_graph_compile(g), NM_INVAL);
    ASSERT_MSG("no Output");
    lp.tau = -1;
    assert_int_equal(nm_graph_add_lif(g, "l3", 4, &lp, NULL), NM_RANGE);
    ASSERT_MSG("'l3'");
    assert_int_equal(nm_graph_connect(g, a, 99), NM_INVAL);
    nm_graph_destroy(g);
}

static void fill_params(nm_graph *g) {
    float *p = nm_graph_params(g);
    for (int64_t i = 0; i < nm_graph_n_params(g); i++) p[i] = (float)sin(0.37 * (double)i + 0.1);
}

static void test_model_file_round_trip(void **st) {
    (void)st;
    nm_graph *g = spec("20-7-5-3"), *h = NULL;
    fill_params(g);
    const char *path = NM_TEST_TMP_DIR "/roundtrip.nmm";
    assert_int_equal(nm_graph_save(g, path), NM_OK);
    assert_int_equal(nm_graph_load(path, &h), NM_OK);
    assert_int_equal(nm_graph_n_nodes(h), nm_graph_n_nodes(g));
    assert_int_equal(nm_graph_n_params(h), nm_graph_n_params(g));
    assert_memory_equal(nm_graph_params(h), nm_graph_params(g), sizeof(float) * nm_graph_n_params(g));
    for (int j = 0; j < nm_graph_n_nodes(g); j++)
        assert_memory_equal(nm_graph_node(h, j), nm_graph_node(g, j), sizeof(nm_node));
    nm_graph_destroy(h);
    nm_graph_destroy(g);
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void rewrite(const char *src, const char *dst, long cut, long flip, int append) {
    FILE *f = fopen(src, "rb");
    long n = file_size(src);
    unsigned char *buf = malloc(n + 1);
    assert_int_equal(fread(buf, 1, n, f), n);
    fclose(f);
    if (flip >= 0) buf[flip] ^= 0x40;
    if (cut >= 0) n = cut;
    if (append) buf[n++] = 0;
    f = fopen(dst, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    free(buf);
}

static void test_model_file_errors(void **st) {
    (void)st;
    nm_graph *g = spec("20-7-3"), *h = NULL;
    fill_params(g);
    const char *good = NM_TEST_TMP_DIR "/good.nmm", *bad = NM_TEST_TMP_DIR "/bad.nmm";
    assert_int_equal(nm_graph_save(g, good), NM_OK);
    long n = file_size(good);

    assert_int_equal(nm_graph_load(NM_TEST_TMP_DIR "/missing.nmm", &h), NM_NOTFOUND);
    ASSERT_MSG("missing.nmm");
    rewrite(good, bad, -1, 0, 0);
    assert_int_equal(nm_graph_load(bad, &h), NM_FORMAT);
    ASSERT_MSG("not a neuromorph model");
    rewrite(good, bad, n / 2, -1, 0);
    assert_int_equal(nm_graph_load(bad, &h), NM_FORMAT);
    ASSERT_MSG("is truncated");
    rewrite(good, bad, -1, n - 40, 0);   /* a parameter bit */
    assert_int_equal(nm_graph_load(bad, &h), NM_FORMAT);
    ASSERT_MSG("checksum mismatch");
    rewrite(good, bad, -1, -1, 1);
    assert_int_equal(nm_graph_load(bad, &h), NM_FORMAT);
    ASSERT_MSG("trailing bytes");
    rewrite(good, bad, -1, 8, 0);         /* node count */
    assert_int_equal(nm_graph_load(bad, &h), NM_FORMAT);
    assert_null(h);
    nm_graph_destroy(g);
}

/* The executor's Affine is W x + b, checked against a naive loop; a constant-current input
** (1 time row) gives exactly what the same input repeated at every step gives. */
static void test_exec_against_naive(void **st) {
    (void)st;
    nm_graph *g = spec("13-9-4");
    fill_params(g);
    const int T = 6, B = 3;
    nm_exec_config ec = {1e-3f, T, B, NM_SPARSE_AUTO, 0};
    nm_exec *x;
    assert_int_equal(nm_exec_create(g, &ec, &x), NM_OK);
    float in[3 * 13], inT[6 * 3 * 13];
    for (int k = 0; k < B * 13; k++) in[k] = (float)fabs(sin(1.7 * k));
    for (int t = 0; t < T; t++) memcpy(inT + t * B * 13, in, sizeof in);
    assert_int_equal(nm_exec_forward(x, in, 1, B), NM_OK);

    const nm_node *fc = nm_graph_node(g, 1);
    const float *W = nm_graph_params(g) + fc->w_off, *bias = nm_graph_params(g) + fc->b_off;
    nm_view y = nm_exec_output(x, 1);
    assert_int_equal(y.rows, 1);
    for (int b = 0; b < B; b++)
        for (int o = 0; o < 9; o++) {
            double acc = bias[o];
            for (int i = 0; i < 13; i++) acc += (double)W[o * 13 + i] * in[b * 13 + i];
            assert_true(fabs(y.data[b * 9 + o] - acc) < 1e-5);
        }
    float *mem1 = malloc(sizeof(float) * T * B * 4);
    memcpy(mem1, nm_exec_membrane(x, 4).data, sizeof(float) * T * B * 4);
    int64_t sp1 = nm_exec_total_spikes(x);
    assert_int_equal(nm_exec_forward(x, inT, T, B), NM_OK);
    assert_int_equal(nm_exec_output(x, 1).rows, T);
    assert_int_equal(nm_exec_total_spikes(x), sp1);
    for (int k = 0; k < T * B * 4; k++) assert_true(fabs(mem1[k] - nm_exec_membrane(x, 4).data[k]) < 1e-5);

    assert_int_equal(nm_exec_forward(x, in, 2, B), NM_INVAL);
    ASSERT_MSG("2 time rows");
    assert_int_equal(nm_exec_forward(x, in, 1, B + 1), NM_INVAL);
    free(mem1);
    nm_exec_destroy(x);
    nm_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_builds_layers),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_shape_mismatch_names_node),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_model_file_round_trip),
        cmocka_unit_test(test_model_file_errors),
        cmocka_unit_test(test_exec_against_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
