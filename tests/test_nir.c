/*
** NIR: files written here by hand with the HDF5 C API, following the layout of the
** format's reference serializer (not with our writer), then read, translated, run and
** written back.
**
**   - every primitive: document round trip (bit-identical values, Threshold, I, nested
**     graphs and metadata included), graph round trip import -> export -> import with
**     bit-identical parameters under both discretizations, and the shapes each node must
**     produce;
**   - an snnTorch-style network (Leaky layers exported as LIF with tau = dt/(1-beta),
**     r = tau/dt) runs to the spikes of the exporter's forward-Euler rule, stepped here
**     in double precision from the file's values; exact integration against the closed
**     form of a LIF under constant input;
**   - errors name the node: unknown primitive, missing field, edge to a missing node,
**     shapes that disagree across an edge, a primitive without a node kind, branches;
**   - our files follow the format's rules: exactly the listed datasets, vlen UTF-8 strings,
**     the version dataset, gzip-compressed arrays.
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
#include <hdf5.h>
#include <neuromorph/neuromorph.h>

#define ASSERT_OK(call)                                                                 \
    do {                                                                                \
        nm_status st_ = (call);                                                         \
        if (st_ != NM_OK) fail_msg("%s returned %d (%s)", #call, st_, nm_errmsg());     \
    } while (0)

#define ASSERT_MSG(call, code, needle)                                                                         \
    do {                                                                                                       \
        nm_status st_ = (call);                                                                                \
        if (st_ != (code)) fail_msg("%s returned %d, expected %d (%s)", #call, st_, code, nm_errmsg());      \
        if (!strstr(nm_errmsg(), needle)) fail_msg("%s: message '%s' lacks '%s'", #call, nm_errmsg(), needle); \
    } while (0)

static const char *tmp_path(const char *name) {
    static char buf[64][512];   /* a ring: each test uses far fewer paths than this */
    static int k = 0;
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof buf[k], "%s/%s", NM_TEST_TMP_DIR, name);
    return buf[k];
}

/* ---- a hand-made HDF5 writer, following the reference serializer ---------- */

static void w_str(hid_t loc, const char *name, const char *s) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
}

/* A numeric dataset of file type ft from doubles; arrays gzip-compressed (NumPy arrays in
** the reference), rank 0 plain (Python ints and floats). */
static void w_num(hid_t loc, const char *name, hid_t ft, int rank, const hsize_t *dims, const double *v) {
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t n = 1;
    for (int k = 0; k < rank; k++) n *= dims[k];
    if (rank && n) {
        H5Pset_chunk(pl, rank, dims);
        H5Pset_deflate(pl, 4);
    }
    hid_t d = H5Dcreate2(loc, name, ft, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    assert_true(d >= 0);
    if (n) assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Pclose(pl);
    H5Sclose(sp);
}

static void w_f32(hid_t loc, const char *name, int rank, const hsize_t *dims, const float *v) {
    hsize_t n = 1;
    for (int k = 0; k < rank; k++) n *= dims[k];
    double *d = malloc(sizeof(double) * (n ? n : 1));
    for (hsize_t k = 0; k < n; k++) d[k] = v[k];
    w_num(loc, name, H5T_IEEE_F32LE, rank, dims, d);
    free(d);
}

static void w_f32_1(hid_t loc, const char *name, hsize_t n, const float *v) { w_f32(loc, name, 1, &n, v); }

static void w_fill(hid_t loc, const char *name, int rank, const hsize_t *dims, float value) {
    hsize_t n = 1;
    for (int k = 0; k < rank; k++) n *= dims[k];
    float *v = malloc(sizeof(float) * n);
    for (hsize_t k = 0; k < n; k++) v[k] = value;
    w_f32(loc, name, rank, dims, v);
    free(v);
}

static void w_int(hid_t loc, const char *name, long long v) {
    double d = (double)v;
    w_num(loc, name, H5T_STD_I64LE, 0, NULL, &d);
}

static void w_ints(hid_t loc, const char *name, int n, const long long *v) {
    double d[8];
    hsize_t dims = (hsize_t)n;
    for (int k = 0; k < n; k++) d[k] = (double)v[k];
    w_num(loc, name, H5T_STD_I64LE, 1, &dims, d);
}

static void w_edges(hid_t g, const char *const *e, int n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dims[2] = {(hsize_t)n, 2};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(g, "edges", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, e) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
}

/* A node group with its type. */
static hid_t node(hid_t nodes, const char *name, const char *type) {
    hid_t g = H5Gcreate2(nodes, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(g >= 0);
    w_str(g, "type", type);
    return g;
}

/* A file with /version and /node (a NIRGraph); returns the file and its nodes group. */
static hid_t begin(const char *path, hid_t *top, hid_t *nodes) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    w_str(f, "version", "1.0.7");
    *top = H5Gcreate2(f, "node", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    w_str(*top, "type", "NIRGraph");
    *nodes = H5Gcreate2(*top, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    return f;
}

static void end(hid_t f, hid_t top, hid_t nodes, const char *const *edges, int n_edges) {
    H5Gclose(nodes);
    w_edges(top, edges, n_edges);
    H5Gclose(top);
    H5Fclose(f);
}

static void closeg(hid_t g) { H5Gclose(g); }

/* Deterministic high-entropy values in [-a, a]. */
static float hv(int k, float a) { return a * (float)sin(1.7 * k + 0.31 * k * k + 0.25); }

static void hvs(float *v, int n, int seed, float a) {
    for (int k = 0; k < n; k++) v[k] = hv(seed * 131 + k, a);
}

/* ---- file A: an image chain through Conv2d, CubaLIF, pools, Flatten, Scale (float64),
** Delay, Affine, IF, Linear, LI ----------------------------------------------------- */

static void write_file_a(const char *path) {
    hid_t top, nodes, f = begin(path, &top, &nodes), g;
    float w[128], b[16];
    g = node(nodes, "input", "Input");
    w_ints(g, "shape", 3, (long long[]){2, 8, 8});
    closeg(g);
    g = node(nodes, "conv", "Conv2d");
    hvs(w, 72, 1, 0.6f);
    w_f32(g, "weight", 4, (hsize_t[]){4, 2, 3, 3}, w);
    hvs(b, 4, 2, 0.2f);
    w_f32_1(g, "bias", 4, b);
    w_ints(g, "stride", 2, (long long[]){1, 1});
    w_ints(g, "padding", 2, (long long[]){1, 1});
    w_ints(g, "dilation", 2, (long long[]){1, 1});
    w_int(g, "groups", 1);
    w_ints(g, "input_shape", 2, (long long[]){8, 8});
    closeg(g);
    g = node(nodes, "cuba", "CubaLIF");
    const hsize_t cs[3] = {4, 8, 8};
    w_fill(g, "tau_syn", 3, cs, 5e-3f);
    w_fill(g, "tau_mem", 3, cs, 2e-2f);
    w_fill(g, "r", 3, cs, 1.5f);
    w_fill(g, "v_leak", 3, cs, 0.0f);
    w_fill(g, "v_threshold", 3, cs, 0.75f);
    w_fill(g, "v_reset", 3, cs, -0.125f);
    w_fill(g, "w_in", 3, cs, 2.0f);
    closeg(g);
    g = node(nodes, "sp", "SumPool2d");
    w_ints(g, "kernel_size", 2, (long long[]){2, 2});
    w_ints(g, "stride", 2, (long long[]){2, 2});
    w_ints(g, "padding", 2, (long long[]){0, 0});
    closeg(g);
    g = node(nodes, "ap", "AvgPool2d");
    w_ints(g, "kernel_size", 2, (long long[]){2, 2});
    w_ints(g, "stride", 2, (long long[]){2, 2});
    w_ints(g, "padding", 2, (long long[]){0, 0});
    closeg(g);
    g = node(nodes, "flat", "Flatten");
    w_int(g, "start_dim", 0);
    w_int(g, "end_dim", -1);
    hid_t it = H5Gcreate2(g, "input_type", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    w_ints(it, "input", 3, (long long[]){4, 2, 2});
    closeg(it);
    closeg(g);
    g = node(nodes, "sc", "Scale");
    double s64[16];
    for (int k = 0; k < 16; k++) s64[k] = 0.1 * (k + 1);   /* float64, not float32-representable */
    w_num(g, "scale", H5T_IEEE_F64LE, 1, (hsize_t[]){16}, s64);
    closeg(g);
    g = node(nodes, "dl", "Delay");
    float d[16];
    for (int k = 0; k < 16; k++) d[k] = (float)((k % 3) * 1e-4);
    w_f32_1(g, "delay", 16, d);
    closeg(g);
    g = node(nodes, "fc", "Affine");
    hvs(w, 8 * 16, 3, 0.5f);
    w_f32(g, "weight", 2, (hsize_t[]){8, 16}, w);
    hvs(b, 8, 4, 0.1f);
    w_f32_1(g, "bias", 8, b);
    closeg(g);
    g = node(nodes, "iff", "IF");
    w_fill(g, "r", 1, (hsize_t[]){8}, 900.0f);
    w_fill(g, "v_threshold", 1, (hsize_t[]){8}, 0.5f);
    w_fill(g, "v_reset", 1, (hsize_t[]){8}, 0.0f);
    closeg(g);
    g = node(nodes, "lin", "Linear");
    hvs(w, 5 * 8, 5, 0.7f);
    w_f32(g, "weight", 2, (hsize_t[]){5, 8}, w);
    closeg(g);
    g = node(nodes, "li", "LI");
    w_fill(g, "tau", 1, (hsize_t[]){5}, 1e-2f);
    w_fill(g, "r", 1, (hsize_t[]){5}, 100.0f);
    w_fill(g, "v_leak", 1, (hsize_t[]){5}, 0.0f);
    closeg(g);
    g = node(nodes, "output", "Output");
    w_ints(g, "shape", 1, (long long[]){5});
    closeg(g);
    static const char *const e[] = {"input", "conv", "conv", "cuba", "cuba", "sp", "sp", "ap", "ap", "flat", "flat", "sc",
                                    "sc", "dl", "dl", "fc", "fc", "iff", "iff", "lin", "lin", "li", "li", "output"};
    end(f, top, nodes, e, 12);
}

/* ---- file B: 1-d chain, Conv1d with scalar fields, per-neuron LIF, CubaLI ---- */

static float B_TAU[15], B_TH[15];

static void write_file_b(const char *path) {
    hid_t top, nodes, f = begin(path, &top, &nodes), g;
    float w[64], b[4];
    g = node(nodes, "input", "Input");
    w_ints(g, "shape", 2, (long long[]){2, 12});
    closeg(g);
    g = node(nodes, "c1", "Conv1d");
    hvs(w, 18, 6, 0.8f);
    w_f32(g, "weight", 3, (hsize_t[]){3, 2, 3}, w);
    hvs(b, 3, 7, 0.1f);
    w_f32_1(g, "bias", 3, b);
    w_int(g, "stride", 2);
    w_int(g, "padding", 0);
    w_int(g, "dilation", 1);
    w_int(g, "groups", 1);
    w_int(g, "input_shape", 12);
    closeg(g);
    g = node(nodes, "lif", "LIF");
    const hsize_t ls[2] = {3, 5};
    for (int k = 0; k < 15; k++) {
        B_TAU[k] = 1e-3f * (float)(2 + k);
        B_TH[k] = 0.8f + 0.01f * (float)k;
    }
    w_f32(g, "tau", 2, ls, B_TAU);
    w_fill(g, "r", 2, ls, 10.0f);
    w_fill(g, "v_leak", 2, ls, 0.0f);
    w_f32(g, "v_threshold", 2, ls, B_TH);
    w_fill(g, "v_reset", 2, ls, 0.0f);
    closeg(g);
    g = node(nodes, "flat", "Flatten");
    w_int(g, "start_dim", 0);
    w_int(g, "end_dim", -1);
    closeg(g);
    g = node(nodes, "lin", "Linear");
    hvs(w, 60, 8, 0.4f);
    w_f32(g, "weight", 2, (hsize_t[]){4, 15}, w);
    closeg(g);
    g = node(nodes, "cli", "CubaLI");
    w_fill(g, "tau_syn", 1, (hsize_t[]){4}, 4e-3f);
    w_fill(g, "tau_mem", 1, (hsize_t[]){4}, 1e-2f);
    w_fill(g, "r", 1, (hsize_t[]){4}, 3.0f);
    w_fill(g, "v_leak", 1, (hsize_t[]){4}, 0.25f);
    w_fill(g, "w_in", 1, (hsize_t[]){4}, 40.0f);
    closeg(g);
    g = node(nodes, "output", "Output");
    w_ints(g, "shape", 1, (long long[]){4});
    closeg(g);
    static const char *const e[] = {"input", "c1", "c1", "lif", "lif", "flat", "flat", "lin", "lin", "cli", "cli", "output"};
    end(f, top, nodes, e, 6);
}

/* ---- file C: Threshold, I, a nested graph and metadata (document level) ---- */

static void write_file_c(const char *path) {
    hid_t top, nodes, f = begin(path, &top, &nodes), g;
    float th[3] = {0.25f, 0.5f, 0.75f};
    g = node(nodes, "input", "Input");
    w_ints(g, "shape", 1, (long long[]){3});
    closeg(g);
    g = node(nodes, "thr", "Threshold");
    w_f32_1(g, "threshold", 3, th);
    hid_t m = H5Gcreate2(g, "metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    w_str(m, "origin", "hand-made");
    w_num(m, "gain", H5T_IEEE_F64LE, 0, NULL, (double[]){0.1});
    closeg(m);
    closeg(g);
    g = node(nodes, "sub", "NIRGraph");
    hid_t sn = H5Gcreate2(g, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t q = node(sn, "in", "Input");
    w_ints(q, "shape", 1, (long long[]){3});
    closeg(q);
    q = node(sn, "integ", "I");
    w_fill(q, "r", 1, (hsize_t[]){3}, 2.0f);
    closeg(q);
    q = node(sn, "out", "Output");
    w_ints(q, "shape", 1, (long long[]){3});
    closeg(q);
    closeg(sn);
    static const char *const se[] = {"in", "integ", "integ", "out"};
    w_edges(g, se, 2);
    closeg(g);
    g = node(nodes, "output", "Output");
    w_ints(g, "shape", 1, (long long[]){3});
    closeg(g);
    static const char *const e[] = {"input", "thr", "thr", "sub.in", "sub", "output"};
    end(f, top, nodes, e, 3);
}

/* ---- helpers ------------------------------------------------------------- */

static void same_graph(const nm_graph *a, const nm_graph *b) {
    assert_int_equal(nm_graph_n_nodes(a), nm_graph_n_nodes(b));
    assert_int_equal(nm_graph_n_params(a), nm_graph_n_params(b));
    assert_int_equal(nm_graph_n_consts(a), nm_graph_n_consts(b));
    for (int j = 0; j < nm_graph_n_nodes(a); j++) {
        const nm_node *x = nm_graph_node(a, j), *y = nm_graph_node(b, j);
        /* every field (the geometry field by field: its tail padding is not a value) */
        const nm_conv_geom *p = &x->conv, *q = &y->conv;
        int same = !memcmp(x, y, offsetof(nm_node, conv)) &&
                   !memcmp(&x->lif, &y->lif, sizeof *x - offsetof(nm_node, lif)) && p->c_in == q->c_in && p->h_in == q->h_in &&
                   p->w_in == q->w_in && p->c_out == q->c_out && p->h_out == q->h_out && p->w_out == q->w_out && p->kh == q->kh &&
                   p->kw == q->kw && p->sh == q->sh && p->sw == q->sw && p->ph == q->ph && p->pw == q->pw && p->dh == q->dh &&
                   p->dw == q->dw && p->groups == q->groups;
        if (!same) fail_msg("node %d ('%s' vs '%s') differs after the round trip", j, x->name, y->name);
    }
    if (nm_graph_n_params(a) && memcmp(nm_graph_params_const(a), nm_graph_params_const(b), sizeof(float) * nm_graph_n_params(a)))
        fail_msg("parameters differ after the round trip");
    if (nm_graph_n_consts(a) && memcmp(nm_graph_consts(a), nm_graph_consts(b), sizeof(float) * nm_graph_n_consts(a)))
        fail_msg("constants differ after the round trip");
}

static const nm_node *by_name(const nm_graph *g, const char *name) {
    int j = nm_graph_find(g, name);
    if (j < 0) fail_msg("graph has no node '%s'", name);
    return nm_graph_node(g, j);
}

/* Reads a file's document, writes it, reads it back: the same bits. */
static void doc_round_trip(const char *path, const char *again) {
    nm_nir *a, *b;
    char why[256];
    ASSERT_OK(nm_nir_read(path, &a));
    ASSERT_OK(nm_nir_write(a, again));
    ASSERT_OK(nm_nir_read(again, &b));
    if (!nm_nir_equal(a, b, why, sizeof why)) fail_msg("document changed through write and read: %s", why);
    assert_string_equal(nm_nir_version(b), "1.0.7");
    nm_nir_destroy(a);
    nm_nir_destroy(b);
}

/* import -> export -> import: bit-identical graphs, for both discretizations. */
static void graph_round_trip(const char *path, const char *tag) {
    for (int disc = 0; disc < 2; disc++) {
        nm_nir_options o;
        nm_nir_options_default(&o);
        o.disc = (nm_nir_disc)disc;
        nm_graph *a, *b;
        char *rep;
        ASSERT_OK(nm_nir_import(path, &o, &a, &rep));
        free(rep);
        nm_nir_export_options eo;
        nm_nir_export_options_default(&eo);
        eo.dt = o.dt;
        eo.disc = (nm_nir_disc)disc;
        char name[64];
        snprintf(name, sizeof name, "rt_%s_%d.nir", tag, disc);
        ASSERT_OK(nm_nir_export(a, &eo, tmp_path(name), NULL));
        nm_nir_options_default(&o);   /* our own file carries its settings */
        ASSERT_OK(nm_nir_import(tmp_path(name), &o, &b, NULL));
        same_graph(a, b);
        nm_graph_destroy(a);
        nm_graph_destroy(b);
    }
}

/* The values of dataset NODE/FIELD in a document read back from a file, as floats. */
static int doc_floats(const char *path, const char *node_name, const char *field, float *out, int max) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char p[256];
    snprintf(p, sizeof p, "/node/nodes/%s/%s", node_name, field);
    hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t sp = H5Dget_space(d);
    int n = (int)H5Sget_simple_extent_npoints(sp);
    assert_true(n <= max);
    assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return n;
}

/* ---- tests --------------------------------------------------------------- */

static void test_every_primitive(void **state) {
    (void)state;
    const char *a = tmp_path("prims_a.nir"), *b = tmp_path("prims_b.nir"), *c = tmp_path("prims_c.nir");
    write_file_a(a);
    write_file_b(b);
    write_file_c(c);
    doc_round_trip(a, tmp_path("prims_a2.nir"));
    doc_round_trip(b, tmp_path("prims_b2.nir"));
    doc_round_trip(c, tmp_path("prims_c2.nir"));

    /* A: shapes through every layer, the float64 scale rounded and reported, delays in steps */
    nm_nir_options o;
    nm_nir_options_default(&o);
    nm_graph *g;
    char *rep;
    ASSERT_OK(nm_nir_import(a, &o, &g, &rep));
    const nm_node *nd = by_name(g, "conv");
    assert_int_equal(nd->kind, NM_NODE_CONV);
    assert_int_equal(nd->shape[0], 4); assert_int_equal(nd->shape[1], 8); assert_int_equal(nd->shape[2], 8);
    assert_int_equal(by_name(g, "cuba")->kind, NM_NODE_CUBALIF);
    assert_true(by_name(g, "cuba")->cuba.w_in == 2.0f && by_name(g, "cuba")->cuba.v_reset == -0.125f);
    assert_int_equal(by_name(g, "sp")->shape[1], 4);
    assert_int_equal(by_name(g, "ap")->shape[1], 2);
    assert_int_equal(by_name(g, "ap")->kind, NM_NODE_AVGPOOL);
    assert_int_equal(by_name(g, "flat")->n_out, 16);
    nd = by_name(g, "sc");
    for (int k = 0; k < 16; k++) assert_true(nm_graph_params_const(g)[nd->w_off + k] == (float)(0.1 * (k + 1)));
    assert_non_null(strstr(rep, "'sc.scale'"));
    assert_non_null(strstr(rep, "rounded"));
    assert_non_null(strstr(rep, "'cuba' (CubaLIF) runs by exact integration"));
    nd = by_name(g, "dl");
    for (int k = 0; k < 16; k++) assert_true(nm_graph_consts(g)[nd->c_off + k] == (float)(k % 3));
    assert_int_equal(by_name(g, "iff")->kind, NM_NODE_IF);
    assert_true(by_name(g, "iff")->ifp.r == 900.0f);
    assert_int_equal(by_name(g, "lin")->kind, NM_NODE_LINEAR);
    /* Euler import of LI: engine tau with exp(-dt/tau_e) = 1 - dt/tau */
    const nm_node *li = by_name(g, "li");
    assert_true(fabs(exp(-1e-4 / li->li.tau) - (1 - 1e-4 / 1e-2)) < 1e-7);
    assert_non_null(strstr(rep, "- dt: 0.0001 s"));
    assert_non_null(strstr(rep, "'cuba' is set to v_reset"));
    free(rep);
    nm_graph_destroy(g);

    /* B: per-neuron tau and threshold become per-neuron parameters; Conv1d geometry */
    o.disc = NM_NIR_EXACT;
    ASSERT_OK(nm_nir_import(b, &o, &g, &rep));
    nd = by_name(g, "c1");
    assert_true(nd->flags & NM_NODE_CONV1D);
    assert_int_equal(nd->shape[0], 3); assert_int_equal(nd->shape[2], 5);
    nd = by_name(g, "lif");
    assert_true(nd->flags & NM_NODE_LEARN_NEURON);
    const float *P = nm_graph_params_const(g);
    for (int k = 0; k < 15; k++) {
        assert_true(P[nd->p_off + k] == B_TAU[k]);
        assert_true(P[nd->p_off + 16 + k] == B_TH[k]);
    }
    assert_int_equal(by_name(g, "cli")->kind, NM_NODE_CUBALI);
    assert_true(by_name(g, "cli")->cuba.w_in == 40.0f);
    assert_non_null(strstr(rep, "per-neuron"));
    free(rep);
    /* our export of an exact import gives the file's own tau bits */
    ASSERT_OK(nm_nir_export(g, &(nm_nir_export_options){1e-4f, NM_NIR_EXACT}, tmp_path("b_exact.nir"), NULL));
    float tau[16];
    assert_int_equal(doc_floats(tmp_path("b_exact.nir"), "lif", "tau", tau, 16), 15);
    assert_memory_equal(tau, B_TAU, sizeof(float) * 15);
    nm_graph_destroy(g);
    /* Euler import then Euler export: the file's tau bits again (the inverse map is exact) */
    o.disc = NM_NIR_EULER;
    ASSERT_OK(nm_nir_import(b, &o, &g, NULL));
    ASSERT_OK(nm_nir_export(g, &(nm_nir_export_options){1e-4f, NM_NIR_EULER}, tmp_path("b_euler.nir"), NULL));
    assert_int_equal(doc_floats(tmp_path("b_euler.nir"), "lif", "tau", tau, 16), 15);
    assert_memory_equal(tau, B_TAU, sizeof(float) * 15);
    nm_graph_destroy(g);

    graph_round_trip(a, "a");
    graph_round_trip(b, "b");

    /* C reads and writes, but Threshold has no node kind: refused naming the node */
    ASSERT_MSG(nm_nir_import(c, &o, &g, NULL), NM_UNSUPPORTED, "'thr' is a NIR Threshold");
    nm_nir *doc;
    char *info;
    ASSERT_OK(nm_nir_read(c, &doc));
    ASSERT_OK(nm_nir_info(doc, &info));
    assert_non_null(strstr(info, "integ (I)"));
    assert_non_null(strstr(info, "thr (Threshold)"));
    assert_non_null(strstr(info, "origin"));
    free(info);
    nm_nir_destroy(doc);
}

/* snnTorch's Leaky (beta per neuron, threshold 1) exported as LIF: tau = dt/(1-beta),
** r = tau/dt; the exporter's framework steps v <- v + dt/tau (v_leak - v + r I), i.e.
** v <- beta v + I, then spikes where v > threshold and resets. */
#define SN_T 60
#define SN_B 2
static const float SN_BETA1[3] = {0.9f, 0.8f, 0.95f}, SN_BETA2 = 0.85f;
static float SN_W1[3 * 4], SN_B1[3], SN_W2[2 * 3], SN_B2[2];

static void write_snntorch(const char *path, float dt, int uniform) {
    hid_t top, nodes, f = begin(path, &top, &nodes), g;
    g = node(nodes, "input", "Input");
    w_ints(g, "shape", 1, (long long[]){4});
    closeg(g);
    hvs(SN_W1, 12, 11, 0.9f);
    hvs(SN_B1, 3, 12, 0.05f);
    hvs(SN_W2, 6, 13, 1.2f);
    hvs(SN_B2, 2, 14, 0.1f);
    g = node(nodes, "fc1", "Affine");
    w_f32(g, "weight", 2, (hsize_t[]){3, 4}, SN_W1);
    w_f32_1(g, "bias", 3, SN_B1);
    closeg(g);
    float tau[3], r[3];
    for (int k = 0; k < 3; k++) { tau[k] = dt / (1 - (uniform ? SN_BETA1[0] : SN_BETA1[k])); r[k] = tau[k] / dt; }
    g = node(nodes, "lif1", "LIF");
    w_f32_1(g, "tau", 3, tau);
    w_f32_1(g, "r", 3, r);
    w_fill(g, "v_leak", 1, (hsize_t[]){3}, 0);
    w_fill(g, "v_threshold", 1, (hsize_t[]){3}, 1);
    w_fill(g, "v_reset", 1, (hsize_t[]){3}, 0);
    closeg(g);
    g = node(nodes, "fc2", "Affine");
    w_f32(g, "weight", 2, (hsize_t[]){2, 3}, SN_W2);
    w_f32_1(g, "bias", 2, SN_B2);
    closeg(g);
    float t2 = dt / (1 - SN_BETA2);
    g = node(nodes, "lif2", "LIF");
    w_fill(g, "tau", 1, (hsize_t[]){2}, t2);
    w_fill(g, "r", 1, (hsize_t[]){2}, t2 / dt);
    w_fill(g, "v_leak", 1, (hsize_t[]){2}, 0);
    w_fill(g, "v_threshold", 1, (hsize_t[]){2}, 1);
    /* no v_reset: files from before the field existed; it defaults to 0 */
    closeg(g);
    g = node(nodes, "output", "Output");
    w_ints(g, "shape", 1, (long long[]){2});
    closeg(g);
    static const char *const e[] = {"input", "fc1", "fc1", "lif1", "lif1", "fc2", "fc2", "lif2", "lif2", "output"};
    end(f, top, nodes, e, 5);
}

/* One Euler layer in double from the file's float values; returns the spikes. mode 0:
** reset to 0; 1: subtract the threshold at the spike; 2: subtract it one step later, after
** the decay (snnTorch's m[t] = beta m[t-1] + I[t] - s[t-1] thr). */
static void euler_layer(const float *tau, const float *r, int n, const double *I, int mode, double dt, double *s, double *v_out) {
    double v[3] = {0, 0, 0}, prev[3] = {0, 0, 0};
    for (int t = 0; t < SN_T; t++)
        for (int i = 0; i < n; i++) {
            double x = I[t * n + i];
            v[i] = v[i] + dt / tau[i] * (0.0 - v[i] + r[i] * x) - (mode == 2 ? prev[i] : 0.0);
            double sp = v[i] > 1.0;
            s[t * n + i] = prev[i] = sp;
            v_out[t * n + i] = v[i];   /* before an immediate reset */
            if (sp && mode == 1) v[i] -= 1.0;
            if (sp && mode == 0) v[i] = 0.0;
        }
}

static void test_snntorch_leaky(void **state) {
    (void)state;
    const float dt = 1e-4f;
    float in[SN_T * SN_B * 4];
    for (int k = 0; k < SN_T * SN_B * 4; k++) in[k] = 0.6f + hv(k + 1000, 0.6f);
    for (int mode = 0; mode < 3; mode++) {
        /* per-neuron beta in lif1, except for the delayed reset (one v_reset per population) */
        const char *path = tmp_path(mode == 2 ? "snntorch_uniform.nir" : "snntorch.nir");
        write_snntorch(path, dt, mode == 2);
        nm_nir_options o;
        nm_nir_options_default(&o);
        o.reset = mode ? NM_RESET_SUBTRACT : NM_RESET_TO_VALUE;
        o.reset_delay = mode == 2;
        nm_graph *g;
        char *rep;
        ASSERT_OK(nm_nir_import(path, &o, &g, &rep));
        assert_non_null(strstr(rep, "forward Euler: node 'lif1'"));
        assert_non_null(strstr(rep, "default: node 'lif2' (LIF) has no 'v_reset'"));
        if (mode < 2) assert_non_null(strstr(rep, "per-neuron r of 'lif1' folded into the rows of 'fc1'"));
        else assert_non_null(strstr(rep, "delayed subtraction of 'lif2'"));
        free(rep);
        nm_exec *x;
        nm_exec_config cfg = {dt, SN_T, SN_B, NM_SPARSE_NEVER, 0};
        ASSERT_OK(nm_exec_create(g, &cfg, &x));
        ASSERT_OK(nm_exec_forward(x, in, SN_T, SN_B));
        const float *s1 = nm_exec_output_floats(x, nm_graph_find(g, "lif1"));
        float got1[SN_T * SN_B * 3];
        memcpy(got1, s1, sizeof got1);
        const float *s2 = nm_exec_output_floats(x, nm_graph_find(g, "lif2"));
        const float *u2 = nm_exec_membrane(x, nm_graph_find(g, "lif2")).data;
        float tau1[3], r1[3], tau2[2], r2[2];
        for (int k = 0; k < 3; k++) { tau1[k] = dt / (1 - (mode == 2 ? SN_BETA1[0] : SN_BETA1[k])); r1[k] = tau1[k] / dt; }
        tau2[0] = tau2[1] = dt / (1 - SN_BETA2);
        r2[0] = r2[1] = tau2[0] / dt;
        int64_t total = 0;
        for (int b = 0; b < SN_B; b++) {
            double I1[SN_T * 3], S1[SN_T * 3], V1[SN_T * 3], I2[SN_T * 2], S2[SN_T * 2], V2[SN_T * 2];
            for (int t = 0; t < SN_T; t++)
                for (int i = 0; i < 3; i++) {
                    double acc = SN_B1[i];
                    for (int j = 0; j < 4; j++) acc += (double)SN_W1[i * 4 + j] * in[(t * SN_B + b) * 4 + j];
                    I1[t * 3 + i] = acc;
                }
            euler_layer(tau1, r1, 3, I1, mode, dt, S1, V1);
            for (int t = 0; t < SN_T; t++)
                for (int i = 0; i < 2; i++) {
                    double acc = SN_B2[i];
                    for (int j = 0; j < 3; j++) acc += (double)SN_W2[i * 3 + j] * S1[t * 3 + j];
                    I2[t * 2 + i] = acc;
                }
            euler_layer(tau2, r2, 2, I2, mode, dt, S2, V2);
            for (int t = 0; t < SN_T; t++) {
                for (int i = 0; i < 3; i++) {
                    if (got1[(t * SN_B + b) * 3 + i] != (float)S1[t * 3 + i]) fail_msg("mode %d: lif1 spike (t %d, b %d, i %d) differs from Euler", mode, t, b, i);
                    total += S1[t * 3 + i] != 0;
                }
                for (int i = 0; i < 2; i++) {
                    if (s2[(t * SN_B + b) * 2 + i] != (float)S2[t * 2 + i]) fail_msg("mode %d: lif2 spike (t %d, b %d, i %d) differs from Euler", mode, t, b, i);
                    /* the membrane the threshold sees */
                    const double want = V2[t * 2 + i], got = u2[(t * SN_B + b) * 2 + i];
                    if (fabs(got - want) > 1e-4 * (1 + fabs(want))) fail_msg("mode %d: lif2 membrane (t %d) %g vs Euler %g", mode, t, got, want);
                }
            }
        }
        assert_true(total > 10 && total < SN_T * SN_B * 3 - 10);   /* a test that spikes, not saturates */
        nm_exec_destroy(x);
        nm_graph_destroy(g);
    }
    /* a delayed reset needs one tau per population */
    nm_nir_options o;
    nm_nir_options_default(&o);
    o.reset = NM_RESET_SUBTRACT;
    o.reset_delay = 1;
    nm_graph *g;
    write_snntorch(tmp_path("snntorch.nir"), dt, 0);
    ASSERT_MSG(nm_nir_import(tmp_path("snntorch.nir"), &o, &g, NULL), NM_UNSUPPORTED, "node 'lif1' (LIF): a delayed reset");
}

/* Exact integration against the closed form; Euler against its geometric series. */
static void test_discretizations(void **state) {
    (void)state;
    const char *path = tmp_path("closed.nir");
    hid_t top, nodes, f = begin(path, &top, &nodes), g;
    g = node(nodes, "input", "Input");
    w_ints(g, "shape", 1, (long long[]){1});
    closeg(g);
    g = node(nodes, "fc", "Linear");
    w_f32(g, "weight", 2, (hsize_t[]){1, 1}, (float[]){1.0f});
    closeg(g);
    g = node(nodes, "lif", "LIF");
    w_f32_1(g, "tau", 1, (float[]){0.02f});
    w_f32_1(g, "r", 1, (float[]){2.0f});
    w_f32_1(g, "v_leak", 1, (float[]){0.1f});
    w_f32_1(g, "v_threshold", 1, (float[]){100.0f});
    w_f32_1(g, "v_reset", 1, (float[]){0.0f});
    closeg(g);
    g = node(nodes, "output", "Output");
    w_ints(g, "shape", 1, (long long[]){1});
    closeg(g);
    static const char *const e[] = {"input", "fc", "fc", "lif", "lif", "output"};
    end(f, top, nodes, e, 3);
    const float dt = 1e-3f, I = 0.7f;
    for (int disc = 0; disc < 2; disc++) {
        nm_nir_options o;
        nm_nir_options_default(&o);
        o.dt = dt;
        o.disc = (nm_nir_disc)disc;
        nm_graph *gr;
        ASSERT_OK(nm_nir_import(path, &o, &gr, NULL));
        nm_exec *x;
        nm_exec_config cfg = {dt, 30, 1, NM_SPARSE_NEVER, 0};
        ASSERT_OK(nm_exec_create(gr, &cfg, &x));
        ASSERT_OK(nm_exec_forward(x, &I, 1, 1));
        const float *u = nm_exec_membrane(x, nm_graph_find(gr, "lif")).data;
        for (int k = 1; k <= 30; k++) {
            double decay = disc == NM_NIR_EXACT ? exp(-k * (double)dt / (double)0.02f) : pow(1 - (double)dt / (double)0.02f, k);
            double want = (double)0.1f + 2.0 * (double)I * (1 - decay);
            if (fabs(u[k - 1] - want) > 2e-6) fail_msg("%s step %d: %.8f vs %.8f", disc ? "exact" : "euler", k, u[k - 1], want);
        }
        nm_exec_destroy(x);
        nm_graph_destroy(gr);
    }
    /* tau not above dt has no Euler equivalent: refused naming the node */
    nm_nir_options o;
    nm_nir_options_default(&o);
    o.dt = 0.05f;
    nm_graph *gr;
    ASSERT_MSG(nm_nir_import(path, &o, &gr, NULL), NM_RANGE, "node 'lif' (LIF): tau");
}

/* A small valid graph with one defect chosen by `variant`. */
static void write_small(const char *path, int variant) {
    hid_t top, nodes, f = begin(path, &top, &nodes), g;
    g = node(nodes, "input", "Input");
    w_ints(g, "shape", 1, (long long[]){4});
    closeg(g);
    float w[20];
    hvs(w, 20, 21, 0.5f);
    g = node(nodes, "fc", "Affine");
    w_f32(g, "weight", 2, (hsize_t[]){3, variant == 4 ? 5 : 4}, w);
    w_f32_1(g, "bias", 3, w);
    closeg(g);
    const hsize_t n = variant == 5 ? 4 : 3;
    g = node(nodes, "lif", variant == 1 ? "LIFX" : variant == 6 ? "Threshold" : "LIF");
    if (variant == 6) w_fill(g, "threshold", 1, &n, 1);
    else {
        if (variant != 2) w_fill(g, "tau", 1, &n, 0.01f);
        w_fill(g, "r", 1, &n, 1);
        w_fill(g, "v_leak", 1, &n, 0);
        w_fill(g, "v_threshold", 1, &n, 1);
    }
    closeg(g);
    g = node(nodes, "output", "Output");
    w_ints(g, "shape", 1, (long long[]){3});
    closeg(g);
    const char *e[] = {"input", "fc", "fc", "lif", "lif", variant == 3 ? "ghost" : "output", "input", "lif"};
    end(f, top, nodes, e, variant == 7 ? 4 : 3);
}

static void test_errors(void **state) {
    (void)state;
    nm_nir_options o;
    nm_nir_options_default(&o);
    nm_graph *g = NULL;
    const char *p = tmp_path("small.nir");
    write_small(p, 0);
    ASSERT_OK(nm_nir_import(p, &o, &g, NULL));
    nm_graph_destroy(g);
    write_small(p, 1);
    ASSERT_MSG(nm_nir_import(p, &o, &g, NULL), NM_FORMAT, "node 'lif' has unknown NIR type 'LIFX'");
    write_small(p, 2);
    ASSERT_MSG(nm_nir_import(p, &o, &g, NULL), NM_FORMAT, "node 'lif' (LIF) lacks the required field 'tau'");
    write_small(p, 3);
    ASSERT_MSG(nm_nir_import(p, &o, &g, NULL), NM_INVAL, "names a missing node 'ghost'");
    write_small(p, 4);
    ASSERT_MSG(nm_nir_import(p, &o, &g, NULL), NM_SHAPE, "node 'fc' (Affine) expects 5 inputs but its source 'input' (Input) gives 4");
    write_small(p, 5);
    ASSERT_MSG(nm_nir_import(p, &o, &g, NULL), NM_SHAPE, "node 'lif' (LIF) has 4 neurons but its source 'fc' gives 3");
    write_small(p, 6);
    ASSERT_MSG(nm_nir_import(p, &o, &g, NULL), NM_UNSUPPORTED, "node 'lif' is a NIR Threshold primitive");
    write_small(p, 7);
    ASSERT_MSG(nm_nir_import(p, &o, &g, NULL), NM_UNSUPPORTED, "node 'input' (Input) feeds several nodes ('fc', 'lif')");
    /* scalar broadcasting off */
    const char *q = tmp_path("scalar.nir");
    hid_t top, nodes, f = begin(q, &top, &nodes), h;
    h = node(nodes, "input", "Input");
    w_ints(h, "shape", 1, (long long[]){3});
    closeg(h);
    h = node(nodes, "li", "LI");
    w_f32(h, "tau", 0, NULL, (float[]){0.01f});
    w_f32(h, "r", 0, NULL, (float[]){1.0f});
    w_f32(h, "v_leak", 0, NULL, (float[]){0.0f});
    closeg(h);
    h = node(nodes, "output", "Output");
    w_ints(h, "shape", 1, (long long[]){3});
    closeg(h);
    static const char *const e[] = {"input", "li", "li", "output"};
    end(f, top, nodes, e, 2);
    char *rep;
    ASSERT_OK(nm_nir_import(q, &o, &g, &rep));
    assert_non_null(strstr(rep, "broadcast: scalar 'tau' of node 'li' to 3 neurons"));
    assert_int_equal(by_name(g, "li")->n_out, 3);
    free(rep);
    nm_graph_destroy(g);
    o.broadcast = 0;
    ASSERT_MSG(nm_nir_import(q, &o, &g, NULL), NM_SHAPE, "node 'li' (LI): field 'tau' is a scalar");
    /* not HDF5, not NIR */
    const char *junk = tmp_path("junk.nir");
    FILE *jf = fopen(junk, "wb");
    fputs("this is not hdf5 at all", jf);
    fclose(jf);
    nm_nir *doc;
    ASSERT_MSG(nm_nir_read(junk, &doc), NM_FORMAT, "no HDF5 signature");
    hid_t hf = H5Fcreate(junk, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    w_str(hf, "version", "1.0.7");
    H5Fclose(hf);
    ASSERT_MSG(nm_nir_read(junk, &doc), NM_FORMAT, "no /node group");
    ASSERT_MSG(nm_nir_read(tmp_path("missing.nir"), &doc), NM_NOTFOUND, "missing.nir");
}

/* Nested graphs flatten; a Linear feeding a LIF back into itself becomes a recurrent Affine. */
static void test_nested_and_recurrent(void **state) {
    (void)state;
    const char *path = tmp_path("nested.nir");
    hid_t top, nodes, f = begin(path, &top, &nodes), g;
    g = node(nodes, "input", "Input");
    w_ints(g, "shape", 1, (long long[]){4});
    closeg(g);
    g = node(nodes, "G", "NIRGraph");
    hid_t sn = H5Gcreate2(g, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), q;
    q = node(sn, "in", "Input");
    w_ints(q, "shape", 1, (long long[]){4});
    closeg(q);
    float w[16];
    hvs(w, 16, 31, 0.5f);
    q = node(sn, "fc", "Affine");
    w_f32(q, "weight", 2, (hsize_t[]){3, 4}, w);
    w_f32_1(q, "bias", 3, w + 12);
    closeg(q);
    q = node(sn, "lif", "LIF");
    w_fill(q, "tau", 1, (hsize_t[]){3}, 0.02f);
    w_fill(q, "r", 1, (hsize_t[]){3}, 1);
    w_fill(q, "v_leak", 1, (hsize_t[]){3}, 0);
    w_fill(q, "v_threshold", 1, (hsize_t[]){3}, 1);
    w_fill(q, "v_reset", 1, (hsize_t[]){3}, 0);
    closeg(q);
    float wr[9];
    hvs(wr, 9, 32, 0.3f);
    q = node(sn, "rec", "Linear");
    w_f32(q, "weight", 2, (hsize_t[]){3, 3}, wr);
    closeg(q);
    q = node(sn, "out", "Output");
    w_ints(q, "shape", 1, (long long[]){3});
    closeg(q);
    closeg(sn);
    static const char *const se[] = {"in", "fc", "fc", "lif", "lif", "rec", "rec", "lif", "lif", "out"};
    w_edges(g, se, 5);
    closeg(g);
    g = node(nodes, "li", "LI");
    w_fill(g, "tau", 1, (hsize_t[]){3}, 0.01f);
    w_fill(g, "r", 1, (hsize_t[]){3}, 1);
    w_fill(g, "v_leak", 1, (hsize_t[]){3}, 0);
    closeg(g);
    g = node(nodes, "output", "Output");
    w_ints(g, "shape", 1, (long long[]){3});
    closeg(g);
    static const char *const e[] = {"input", "G", "G.out", "li", "li", "output"};
    end(f, top, nodes, e, 3);

    nm_nir_options o;
    nm_nir_options_default(&o);
    nm_graph *gr, *back;
    char *rep;
    ASSERT_OK(nm_nir_import(path, &o, &gr, &rep));
    assert_non_null(strstr(rep, "'G.in' (the Input of a nested graph) is an identity"));
    assert_non_null(strstr(rep, "Linear 'G.rec' feeds 'G.lif' back"));
    free(rep);
    const nm_node *rn = by_name(gr, "G.rec");
    assert_true(rn->flags & NM_NODE_RECURRENT);
    assert_int_equal(by_name(gr, "G.lif")->rec, nm_graph_find(gr, "G.rec"));
    const float *P = nm_graph_params_const(gr);
    assert_memory_equal(P + rn->w_off, wr, sizeof wr);
    for (int k = 0; k < 3; k++) assert_true(P[rn->b_off + k] == 0.0f);
    /* ours back: .nir by name through nm_graph_save / nm_graph_load */
    ASSERT_OK(nm_graph_save(gr, tmp_path("nested_ours.nir")));
    ASSERT_OK(nm_graph_load(tmp_path("nested_ours.nir"), &back));
    same_graph(gr, back);
    nm_graph_destroy(back);
    nm_graph_destroy(gr);
}

/* Our models: learnable per-neuron LIF, adaptive LIF, recurrent, conv; save as .nir. */
static void test_our_models(void **state) {
    (void)state;
    const char *specs[] = {"10-8-3", "10-8r-3", "1x8x8-4c3p1ap2-5", "2x12-3c3s2-4"};
    for (int s = 0; s < 4; s++)
        for (int variant = 0; variant < 3; variant++) {
            nm_spec_options so;
            nm_spec_options_default(&so);
            if (variant == 1 && s != 1) so.learn_neuron = 1;
            if (variant == 2) so.neuron = s == 1 ? NM_NODE_LIF : NM_NODE_ALIF;
            so.lif.reset = NM_RESET_TO_VALUE;
            nm_graph *g, *h;
            ASSERT_OK(nm_graph_from_spec_ex(specs[s], &so, &g));
            nm_graph_init_params(g, 7 + (uint64_t)s, 1.0f);
            for (int j = 0; j < nm_graph_n_nodes(g); j++) {
                const nm_node *nd = nm_graph_node(g, j);
                if (!(nd->flags & NM_NODE_LEARN_NEURON)) continue;
                float *tau = nm_graph_params(g) + nd->p_off;
                for (int64_t i = 0; i < nd->n_out; i++) tau[i] *= 1.0f + 0.37f * hv((int)i, 1.0f);
            }
            for (int disc = 0; disc < 2; disc++) {
                nm_nir_export_options eo = {1e-3f, (nm_nir_disc)disc};
                ASSERT_OK(nm_nir_export(g, &eo, tmp_path("ours.nir"), NULL));
                nm_nir_options o;
                nm_nir_options_default(&o);
                ASSERT_OK(nm_nir_import(tmp_path("ours.nir"), &o, &h, NULL));
                same_graph(g, h);
                nm_graph_destroy(h);
            }
            ASSERT_OK(nm_graph_save(g, tmp_path("ours_saved.nir")));
            ASSERT_OK(nm_graph_load(tmp_path("ours_saved.nir"), &h));
            same_graph(g, h);
            nm_graph_destroy(h);
            nm_graph_destroy(g);
        }
}

/* ---- our files against the format's rules ------------------------------------- */

typedef struct members {
    char names[32][64];
    int  n, groups;
} members;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)info;
    members *m = op;
    H5O_info_t oi;
    H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT);
    if (m->n < 32) snprintf(m->names[m->n++], 64, "%s%s", name, oi.type == H5O_TYPE_GROUP ? "/" : "");
    return 0;
}

static int is_vlen_utf8(hid_t d) {
    hid_t t = H5Dget_type(d);
    int ok = H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0 && H5Tget_cset(t) == H5T_CSET_UTF8;
    H5Tclose(t);
    return ok;
}

static void test_format_rules(void **state) {
    (void)state;
    const char *a = tmp_path("rules_src.nir"), *out = tmp_path("rules_ours.nir");
    write_file_a(a);
    nm_nir_options o;
    nm_nir_options_default(&o);
    nm_graph *g;
    ASSERT_OK(nm_nir_import(a, &o, &g, NULL));
    ASSERT_OK(nm_nir_export(g, &(nm_nir_export_options){1e-4f, NM_NIR_EXACT}, out, NULL));
    nm_graph_destroy(g);
    static const struct { const char *node, *want; } rules[] = {
        {"input", "shape,type"},
        {"conv", "bias,dilation,groups,input_shape,padding,stride,type,weight"},
        {"cuba", "metadata/,r,tau_mem,tau_syn,type,v_leak,v_reset,v_threshold,w_in"},
        {"sp", "kernel_size,padding,stride,type"},
        {"ap", "kernel_size,padding,stride,type"},
        {"flat", "end_dim,input_type/,start_dim,type"},
        {"sc", "scale,type"},
        {"dl", "delay,metadata/,type"},
        {"fc", "bias,type,weight"},
        {"iff", "metadata/,r,type,v_reset,v_threshold"},
        {"lin", "type,weight"},
        {"li", "r,tau,type,v_leak"},
        {"output", "shape,type"},
    };
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "/version", H5P_DEFAULT);
    assert_true(d >= 0 && is_vlen_utf8(d));
    hid_t sp = H5Dget_space(d);
    assert_int_equal(H5Sget_simple_extent_type(sp), H5S_SCALAR);
    H5Sclose(sp);
    H5Dclose(d);
    members root = {0};
    hsize_t idx = 0;
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &root);
    assert_int_equal(root.n, 2);   /* node/ and version, nothing else */
    d = H5Dopen2(f, "/node/edges", H5P_DEFAULT);
    assert_true(d >= 0 && is_vlen_utf8(d));
    sp = H5Dget_space(d);
    hsize_t dims[2];
    assert_int_equal(H5Sget_simple_extent_dims(sp, dims, NULL), 2);
    assert_int_equal(dims[0], 12);
    assert_int_equal(dims[1], 2);
    H5Sclose(sp);
    H5Dclose(d);
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        char p[128], got[1024] = "";
        snprintf(p, sizeof p, "/node/nodes/%s", rules[r].node);
        hid_t ng = H5Gopen2(f, p, H5P_DEFAULT);
        assert_true(ng >= 0);
        members m = {0};
        idx = 0;
        H5Literate(ng, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &m);
        for (int k = 0; k < m.n; k++) {
            if (k) strcat(got, ",");
            strcat(got, m.names[k]);
        }
        if (strcmp(got, rules[r].want)) fail_msg("node '%s' holds {%s}, the format lists {%s}", rules[r].node, got, rules[r].want);
        d = H5Dopen2(ng, "type", H5P_DEFAULT);
        assert_true(is_vlen_utf8(d));
        H5Dclose(d);
        /* float arrays are gzip-compressed */
        for (int k = 0; k < m.n; k++) {
            if (strchr(m.names[k], '/')) continue;
            d = H5Dopen2(ng, m.names[k], H5P_DEFAULT);
            hid_t t = H5Dget_type(d), pl = H5Dget_create_plist(d);
            hid_t s2 = H5Dget_space(d);
            if (H5Tget_class(t) == H5T_FLOAT && H5Sget_simple_extent_ndims(s2) > 0) {
                unsigned flags;
                size_t nelm = 0;
                char nm[32];
                assert_int_equal(H5Pget_nfilters(pl), 1);
                assert_int_equal(H5Pget_filter2(pl, 0, &flags, &nelm, NULL, sizeof nm, nm, NULL), H5Z_FILTER_DEFLATE);
            }
            H5Sclose(s2);
            H5Pclose(pl);
            H5Tclose(t);
            H5Dclose(d);
        }
        H5Gclose(ng);
    }
    H5Fclose(f);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_primitive), cmocka_unit_test(test_snntorch_leaky),
        cmocka_unit_test(test_discretizations), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_nested_and_recurrent), cmocka_unit_test(test_our_models),
        cmocka_unit_test(test_format_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
