/*
** Counts and energy: on a tiny network whose spikes are known by construction, the
** synaptic operations equal the spikes times their non-zero fan-out computed by hand, and
** NeuroBench's metrics (footprint, connection and activation sparsity, effective ACs and
** MACs, dense operations) equal hand-computed values; packets follow the mapping; the
** energy is linear in the counts, each term the count times the profile's number; the GPU
** baseline is its closed form; every energy number of every shipped profile has a source.
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
#include <jansson.h>
#include <neuromorph/map.h>

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) <= 1e-9 + 1e-9 * fabs((double)(b)))

enum { T = 7 };

static char profile_dir[4096];   /* <source>/profiles */

static int setup(void **state) {
    (void)state;
    const char *data = NM_TEST_DATA_DIR, *tail = "tests/data";
    size_t n = strlen(data);
    if (n < strlen(tail) || strcmp(data + n - strlen(tail), tail)) return -1;
    snprintf(profile_dir, sizeof profile_dir, "%.*sprofiles", (int)(n - strlen(tail)), data);
    return setenv("NM_PROFILE_DIR", profile_dir, 1);
}

/* 4-3-2 with hand-set weights: hidden neuron 0 reads +50 from every input (it spikes at every
** step once any input is on), neuron 1 reads nothing, neuron 2 only inhibition; no biases. */
static nm_graph *tiny(void) {
    nm_graph *g;
    nm_lif_params h;
    nm_li_params o;
    nm_lif_params_default(&h);
    nm_li_params_default(&o);
    assert_int_equal(nm_graph_from_spec("4-3-2", &h, &o, &g), NM_OK);
    float *P = nm_graph_params(g);
    memset(P, 0, sizeof(float) * (size_t)nm_graph_n_params(g));
    const float W1[12] = {50, 50, 50, 50, 0, 0, 0, 0, -5, 0, -5, 0};
    const float W2[6] = {0.7f, 0, 0.3f, 0, 0.2f, -0.4f};
    int seen = 0;
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nd->kind != NM_NODE_AFFINE) continue;
        memcpy(P + nd->w_off, seen ? W2 : W1, sizeof(float) * (seen ? 6 : 12));
        seen++;
    }
    assert_int_equal(seen, 2);
    return g;
}

/* Three 2x2 images: two pixels on, all on, none on (255 = intensity 1). */
static nm_dataset *images(uint8_t level) {
    nm_dataset *d = calloc(1, sizeof *d);
    d->n = 3, d->rows = 2, d->cols = 2, d->n_classes = 2;
    d->images = calloc(12, 1);
    d->labels = calloc(3, 1);
    const uint8_t px[12] = {255, 0, 255, 0, 255, 255, 255, 255, 0, 0, 0, 0};
    for (int k = 0; k < 12; k++) d->images[k] = px[k] ? level : 0;
    d->labels[1] = 1;
    return d;
}

static void free_images(nm_dataset *d) {
    free(d->images), free(d->labels), free(d);
}

static void config(nm_train_config *c, nm_encoding e) {
    nm_train_config_default(c);
    c->n_steps = T;
    c->encoding = e;
    c->eval_batch = 2;   /* two batches, the second partial */
}

static void test_counts_by_hand(void **state) {
    (void)state;
    nm_graph *g = tiny();
    nm_dataset *d = images(255);
    nm_train_config c;
    config(&c, NM_ENC_RATE);   /* probability 1 at intensity 1: a spike at every step */
    nm_energy_counts k;
    assert_int_equal(nm_energy_count(g, NULL, d, &c, &k), NM_OK);
    assert_int_equal(k.samples, 3);
    /* input spikes: 2T, 4T, 0 */
    NEAR(k.input_events, 2.0 * T);
    /* hidden spikes: neuron 0 at every step of the first two samples */
    NEAR(k.spikes, 2.0 * T / 3);
    /* layer 1: non-zero fan-out of inputs 0..3 is 2, 1, 2, 1: (2 + 2) T + (2 + 1 + 2 + 1) T;
    ** layer 2: neuron 0's spikes reach 1 non-zero weight: T + T; over 3 samples */
    NEAR(k.syn_acs, (4.0 * T + 6.0 * T + 2.0 * T) / 3);
    NEAR(k.syn_macs, 0);
    NEAR(k.syn_dense, (12 + 6) * (double)T);
    NEAR(k.neuron_updates, (3 + 2) * (double)T);
    /* NeuroBench's static and activation metrics */
    NEAR(k.footprint_bytes, 4.0 * (12 + 3 + 6 + 2));   /* weights and biases, float32 */
    NEAR(k.connection_sparsity, 8.0 / 18);
    NEAR(k.activation_sparsity, 1.0 - (2.0 * T / 3) / (3.0 * T));
    assert_true(k.membrane_updates > 0 && k.membrane_updates <= k.neuron_updates);

    /* constant current at intensity 128/255: multiply-accumulates, presented every step */
    nm_dataset *half = images(128);
    config(&c, NM_ENC_CURRENT);
    assert_int_equal(nm_energy_count(g, NULL, half, &c, &k), NM_OK);
    NEAR(k.syn_macs, (4.0 * T + 6.0 * T) / 3);
    NEAR(k.input_events, 2.0 * T);

    /* packets through a mapping: hidden slices of 2 neurons, so every input spike goes to
    ** 2 cores and every hidden spike to the readout's 1 */
    nm_map_net *net;
    nm_mapping *m;
    nm_core_limits lim = {8, 4, 2, 2, 8, 100, 1};
    assert_int_equal(nm_map_net_from_graph(g, &net), NM_OK);
    assert_int_equal(nm_map(net, &lim, NULL, &m), NM_OK);
    assert_int_equal(m->n_cores, 3);
    config(&c, NM_ENC_RATE);
    assert_int_equal(nm_energy_count(g, m, d, &c, &k), NM_OK);
    NEAR(k.packets, 2 * 2.0 * T + 2.0 * T / 3);
    double hops = 0;
    for (int j = 0; j < 4; j++) hops += m->pop_hops[0][j] * (j % 2 ? 1.0 * T / 3 : 2.0 * T / 3);
    hops += m->pop_hops[1][0] * 2.0 * T / 3;
    NEAR(k.hops, hops);
    NEAR(k.xbar_reads, 3.0 * T);
    NEAR(k.column_reads, (2 + 1 + 2) * (double)T);

    /* a dataset of the wrong size */
    d->cols = 3;
    assert_int_equal(nm_energy_count(g, NULL, d, &c, &k), NM_SHAPE);
    d->cols = 2;
    nm_mapping_destroy(m);
    nm_map_net_destroy(net);
    free_images(half);
    free_images(d);
    nm_graph_destroy(g);
}

static double profile_energy(const nm_chip_profile *p, const char *name) {
    for (int k = 0; k < p->n_energy; k++)
        if (!strcmp(p->energy_name[k], name)) return p->energy_value[k];
    fail_msg("profile %s has no energy %s", p->name, name);
    return 0;
}

static nm_energy_counts some_counts(double s) {
    nm_energy_counts c;
    memset(&c, 0, sizeof c);
    c.n_steps = 25, c.dt = 1e-3;
    c.syn_acs = 2385.3 * s, c.syn_macs = 117.9 * s, c.neuron_updates = 3141.5 * s, c.packets = 271.8 * s;
    c.hops = 919.2 * s, c.psum_packets = 33.3 * s, c.psum_hops = 12.5 * s, c.xbar_reads = 77.7 * s;
    c.gpu_batch = 1;
    c.column_reads = 6021.4 * s, c.syn_dense = 1e5 * s, c.weight_bytes_dense = 4e4 * s, c.state_bytes_per_step = 512 * s;
    return c;
}

static void test_energy_linear(void **state) {
    (void)state;
    const char *names[] = {"loihi", "truenorth", "rram", "pcm", "bss2"};
    for (int n = 0; n < 5; n++) {
        nm_chip_profile p;
        assert_int_equal(nm_chip_profile_load(names[n], &p), NM_OK);
        nm_energy_result a, b, ab, z;
        nm_energy_counts ca = some_counts(1), cb = some_counts(2.385), cab = some_counts(3.385), c0 = some_counts(0);
        assert_int_equal(nm_energy_estimate(&p, NULL, &ca, &a), NM_OK);
        assert_int_equal(nm_energy_estimate(&p, NULL, &cb, &b), NM_OK);
        assert_int_equal(nm_energy_estimate(&p, NULL, &cab, &ab), NM_OK);
        assert_int_equal(nm_energy_estimate(&p, NULL, &c0, &z), NM_OK);
        /* the static part does not scale; the rest is linear and additive */
        NEAR(b.energy_j - z.energy_j, 2.385 * (a.energy_j - z.energy_j));
        NEAR(ab.energy_j - z.energy_j, (a.energy_j - z.energy_j) + (b.energy_j - z.energy_j));
        NEAR(b.gpu_j, 2.385 * a.gpu_j);
        assert_true(a.has_energy);
        double sum = 0;
        for (int t = 0; t < a.n_terms; t++) {
            NEAR(a.term_j[t], a.term_count[t] * a.term_unit[t]);
            sum += a.term_j[t];
        }
        NEAR(a.energy_j, sum);
        NEAR(a.latency_s, 25 * 1e-3 / p.time_scale);
    }
    /* by hand: TrueNorth's 26 pJ per synaptic event is its whole cost */
    nm_chip_profile p;
    nm_energy_result r;
    nm_energy_counts c = some_counts(1);
    assert_int_equal(nm_chip_profile_load("truenorth", &p), NM_OK);
    assert_int_equal(nm_energy_estimate(&p, NULL, &c, &r), NM_OK);
    NEAR(r.energy_j, (2385.3 + 117.9) * 26e-12);
    NEAR(r.reference_power_w, 0.063);
    /* Loihi: synaptic ops, neuron updates, packets and hops at the paper's figures */
    assert_int_equal(nm_chip_profile_load("loihi", &p), NM_OK);
    assert_int_equal(nm_energy_estimate(&p, NULL, &c, &r), NM_OK);
    NEAR(r.energy_j, ((2385.3 + 117.9) * 23.6 + 3141.5 * 52 + (271.8 + 33.3) * profile_energy(&p, "packet_pj") +
                      (919.2 + 12.5) * profile_energy(&p, "hop_pj")) * 1e-12);
    /* rram: every column read converted once per input bit (4), shift-added, with periphery;
    ** partial sums added; neurons updated */
    assert_int_equal(nm_chip_profile_load("rram", &p), NM_OK);
    assert_int_equal(nm_energy_estimate(&p, NULL, &c, &r), NM_OK);
    NEAR(r.energy_j, (6021.4 * 4 * (profile_energy(&p, "adc_conversion_pj") + profile_energy(&p, "accumulate_pj") +
                                    profile_energy(&p, "periphery_pj")) +
                      33.3 * profile_energy(&p, "accumulate_pj") + 3141.5 * profile_energy(&p, "neuron_update_pj")) * 1e-12);
    /* BrainScaleS-2: static power over the accelerated window */
    assert_int_equal(nm_chip_profile_load("bss2", &p), NM_OK);
    assert_int_equal(nm_energy_estimate(&p, NULL, &c, &r), NM_OK);
    NEAR(r.energy_j, 0.2 * 25e-3 / 1000);
    NEAR(r.reference_j, 2.4e-6);
    /* the GPU baseline's closed form (Horowitz 2014) */
    NEAR(r.gpu_j, 1e5 * 4.6e-12 + 3141.5 * 4 * 0.9e-12 + 4e4 * 1300.0 / 8 * 1e-12 + 512 * 25 * 20.0 / 8 * 1e-12);
    NEAR(r.ratio, r.gpu_j / r.energy_j);
    /* batching shares the DRAM read of the weights */
    const double dram1 = r.gpu_dram_j;
    c.gpu_batch = 8;
    assert_int_equal(nm_energy_estimate(&p, NULL, &c, &r), NM_OK);
    NEAR(r.gpu_dram_j, dram1 / 8);
    c.gpu_batch = 1;
    /* a profile without energy figures estimates nothing, but still the baseline */
    assert_int_equal(nm_chip_profile_load("ideal", &p), NM_OK);
    assert_int_equal(nm_energy_estimate(&p, NULL, &c, &r), NM_OK);
    assert_false(r.has_energy);
    NEAR(r.energy_j, 0);
    assert_true(r.gpu_j > 0);
}

/* Every number in every shipped profile's energy table cites a source, and is one the model
** reads or a published total it shows beside the estimate. */
static void test_energy_sources(void **state) {
    (void)state;
    static const char *known[] = {"synaptic_op_pj", "synaptic_event_pj", "mac_pj", "neuron_update_pj", "packet_pj",
                                  "hop_pj", "accumulate_pj", "xbar_read_pj", "adc_conversion_pj", "periphery_pj", "static_power_w",
                                  "image_uj", "typical_power_w"};
    char names[64][32];
    int n = 0, with_energy = 0;
    assert_int_equal(nm_chip_profile_list(names, 64, &n), NM_OK);
    assert_true(n >= 7);
    for (int k = 0; k < n; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.json", profile_dir, names[k]);
        json_error_t err;
        json_t *j = json_load_file(path, 0, &err);
        if (!j) continue;   /* a profile from another directory */
        json_t *e = json_object_get(j, "energy"), *s = json_object_get(j, "sources");
        assert_non_null(s);
        const char *key;
        json_t *v;
        if (e) with_energy++;
        json_object_foreach(e, key, v) {
            char full[96];
            snprintf(full, sizeof full, "energy.%s", key);
            json_t *src = json_object_get(s, full);
            if (!src) src = json_object_get(s, "energy");
            if (!src || !json_is_string(src) || json_string_length(src) < 10)
                fail_msg("%s: energy.%s has no source", names[k], key);
            int ok = 0;
            for (size_t q = 0; q < sizeof known / sizeof known[0]; q++) ok |= !strcmp(key, known[q]);
            if (!ok) fail_msg("%s: energy.%s is not a figure the energy model knows", names[k], key);
        }
        json_decref(j);
    }
    assert_true(with_energy >= 5);
}

/* The optional size fields: read, and checked. */
static void test_profile_size_fields(void **state) {
    (void)state;
    nm_chip_profile p;
    assert_int_equal(nm_chip_profile_load("truenorth", &p), NM_OK);
    assert_int_equal(p.synapses_per_core, 65536);
    assert_int_equal(p.mesh_x, 64);
    assert_int_equal(p.fan_in_split, 0);
    assert_int_equal(nm_chip_profile_load("ideal", &p), NM_OK);
    assert_int_equal(p.mesh_x, 0);
    assert_int_equal(p.fan_in_split, -1);
    nm_core_limits l;
    nm_core_limits_from_profile(&p, &l);
    assert_int_equal(l.mesh_x * l.mesh_y >= l.cores, 1);
    assert_int_equal(l.synapses, (int64_t)p.neurons_per_core * p.axons_per_core);

    char path[4200];
    snprintf(path, sizeof path, "%s/map_small_mesh.json", NM_TEST_TMP_DIR);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"name\": \"t\", \"description\": \"d\", \"analog\": false, \"weight_bits\": 0, \"time_scale\": 1,\n"
          " \"size\": {\"cores\": 9, \"neurons_per_core\": 1, \"axons_per_core\": 1, \"mesh_x\": 2, \"mesh_y\": 4},\n"
          " \"sources\": {\"size\": \"s\", \"weight_bits\": \"w\", \"time_scale\": \"t\"}}\n", f);
    fclose(f);
    assert_int_equal(nm_chip_profile_load(path, &p), NM_RANGE);
    if (!strstr(nm_errmsg(), "size.mesh_x x size.mesh_y = 2 x 4 is fewer than the 9 cores")) fail_msg("%s", nm_errmsg());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_by_hand),
        cmocka_unit_test(test_energy_linear),
        cmocka_unit_test(test_energy_sources),
        cmocka_unit_test(test_profile_size_fields),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
