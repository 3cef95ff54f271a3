/*
** Mapping: an independent validator recomputes, from the network alone, what every core of
** a mapping holds (neurons, distinct inputs, synapses) and what every spike costs (packets
** to distinct target cores, XY hops), over random networks and random limits; hand-checked
** mappings of the examples; clear failures naming the limit; a graph's projections
** (dense, and receptive fields through convolution and pooling); seeded placement.
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
#include <neuromorph/map.h>

#define ASSERT_MSG(sub) \
    do { if (!strstr(nm_errmsg(), sub)) fail_msg("message '%s' lacks '%s'", nm_errmsg(), sub); } while (0)

/* ---- the validator ----------------------------------------------------------------------- */

/* Core of neuron i of population p (its home: block 0), by a linear scan. */
static int home_of(const nm_mapping *m, int p, int64_t i) {
    for (int c = 0; c < m->n_cores; c++)
        if (m->core_pop[c] == p && m->core_block[c] == 0 && i >= m->core_first[c] && i < m->core_first[c] + m->core_neurons[c])
            return c;
    return -1;
}

/* Does core c need input j of source src? (dense: within its block's range; sparse: one of
** its neurons reads it) */
static int core_reads(const nm_map_net *net, const nm_mapping *m, int c, int k, int64_t j) {
    int src, dst;
    const int64_t *ptr;
    const int32_t *idx;
    int dense = nm_map_net_proj(net, k, &src, &dst, &ptr, &idx);
    if (dst != m->core_pop[c]) return 0;
    if (dense) {
        int64_t off = 0;
        for (int q = 0; q < k; q++) {
            int s2, d2;
            if (nm_map_net_proj(net, q, &s2, &d2, NULL, NULL) && d2 == dst) off += nm_map_net_pop_size(net, s2);
        }
        return off + j >= m->core_dense_first[c] && off + j < m->core_dense_first[c] + m->core_dense_count[c];
    }
    for (int64_t i = m->core_first[c]; i < m->core_first[c] + m->core_neurons[c]; i++)
        for (int64_t e = ptr[i]; e < ptr[i + 1]; e++)
            if (idx[e] == j) return 1;
    return 0;
}

static void validate(const nm_map_net *net, const nm_mapping *m) {
    const nm_core_limits *l = &m->lim;
    const int np = nm_map_net_n_pops(net), nk = nm_map_net_n_projs(net);
    /* reads[c nk + k][j]: core c needs input j of projection k */
    char **reads = calloc((size_t)(m->n_cores * nk + 1), sizeof *reads);
    assert_int_equal(m->fits, m->n_cores <= l->cores);
    for (int c = 0; c < m->n_cores; c++) {
        const int p = m->core_pop[c];
        assert_true(p >= 1 && p < np);
        assert_true(m->core_neurons[c] >= 1 && m->core_neurons[c] <= l->neurons);
        /* distinct source neurons (one axon each) and synapses, from the network */
        int64_t axons = 0, syn = 0;
        for (int k = 0; k < nk; k++) {
            int src, dst;
            const int64_t *ptr;
            const int32_t *idx;
            int dense = nm_map_net_proj(net, k, &src, &dst, &ptr, &idx);
            const int64_t ns = nm_map_net_pop_size(net, src);
            char *used = reads[c * nk + k] = calloc((size_t)ns, 1);
            if (dst != p) continue;
            int64_t in = 0;
            for (int64_t j = 0; j < ns; j++) in += used[j] = (char)core_reads(net, m, c, k, j);
            if (dense) syn += in * m->core_neurons[c];
            else
                for (int64_t i = m->core_first[c]; i < m->core_first[c] + m->core_neurons[c]; i++) syn += ptr[i + 1] - ptr[i];
        }
        for (int s = 0; s < np; s++)
            for (int64_t j = 0; j < nm_map_net_pop_size(net, s); j++) {
                int any = 0;
                for (int k = 0; k < nk && !any; k++) {
                    int src;
                    nm_map_net_proj(net, k, &src, NULL, NULL, NULL);
                    any = src == s && reads[c * nk + k][j];
                }
                axons += any;
            }
        assert_true(axons <= l->axons);
        assert_true(syn <= l->synapses);
        assert_int_equal(axons, m->core_axons[c]);
        assert_int_equal(syn, m->core_synapses[c]);
        /* inside the grid, one core per place */
        assert_true(m->core_x[c] >= 0 && m->core_x[c] < m->grid_x && m->core_y[c] >= 0 && m->core_y[c] < m->grid_y);
        for (int d = 0; d < c; d++) assert_false(m->core_x[c] == m->core_x[d] && m->core_y[c] == m->core_y[d]);
    }
    /* every neuron has exactly one home; the blocks of a slice cover its dense inputs once */
    for (int p = 1; p < np; p++) {
        int64_t D = 0;
        for (int k = 0; k < nk; k++) {
            int s, d;
            if (nm_map_net_proj(net, k, &s, &d, NULL, NULL) && d == p) D += nm_map_net_pop_size(net, s);
        }
        int64_t next = 0;
        for (int c = 0; c < m->n_cores; c++) {
            if (m->core_pop[c] != p || m->core_block[c] != 0) continue;
            assert_int_equal(m->core_first[c], next);
            next += m->core_neurons[c];
            int64_t covered = 0;
            for (int b = 0; b < m->core_n_blocks[c]; b++) {
                assert_int_equal(m->core_pop[c + b], p);
                assert_int_equal(m->core_block[c + b], b);
                assert_int_equal(m->core_first[c + b], m->core_first[c]);
                assert_int_equal(m->core_dense_first[c + b], covered);
                covered += m->core_dense_count[c + b];
            }
            assert_int_equal(covered, D);
        }
        assert_int_equal(next, nm_map_net_pop_size(net, p));
    }
    /* packets: one per distinct core that reads the spike; hops: XY distance from its home
    ** ((0, 0) for the input) */
    for (int s = 0; s < np; s++)
        for (int64_t j = 0; j < nm_map_net_pop_size(net, s); j++) {
            int hc = s == 0 ? -1 : home_of(m, s, j);
            int hx = hc < 0 ? 0 : m->core_x[hc], hy = hc < 0 ? 0 : m->core_y[hc];
            int64_t pk = 0, hp = 0;
            for (int c = 0; c < m->n_cores; c++) {
                int r = 0;
                for (int k = 0; k < nk && !r; k++) {
                    int src;
                    nm_map_net_proj(net, k, &src, NULL, NULL, NULL);
                    if (src == s) r = reads[c * nk + k][j];
                }
                if (r) pk++, hp += abs(m->core_x[c] - hx) + abs(m->core_y[c] - hy);
            }
            assert_int_equal(pk, m->pop_packets[s][j]);
            assert_int_equal(hp, m->pop_hops[s][j]);
        }
    for (int k = 0; k < m->n_cores * nk; k++) free(reads[k]);
    free(reads);
}

/* ---- random networks ----------------------------------------------------------------------- */

static nm_map_net *random_net(nm_rng *r, int *has_sparse) {
    nm_map_net *net;
    int np = 2 + (int)nm_rng_below(r, 4);
    assert_int_equal(nm_map_net_create(1 + nm_rng_below(r, 90), &net), NM_OK);
    *has_sparse = 0;
    for (int p = 1; p < np; p++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", p);
        assert_int_equal(nm_map_net_add_pop(net, name, 1 + nm_rng_below(r, 120), NULL), NM_OK);
        /* one or two sources among the earlier populations (or itself: recurrence) */
        int n_src = 1 + (int)nm_rng_below(r, 2);
        for (int q = 0; q < n_src; q++) {
            int src = (int)nm_rng_below(r, (uint32_t)p + 1);
            if (nm_rng_below(r, 2)) {
                /* refused when already joined */
                nm_status st = nm_map_net_add_dense(net, src, p);
                assert_true(st == NM_OK || (st == NM_INVAL && q == 1));
                continue;
            }
            const int64_t nd = nm_map_net_pop_size(net, p), ns = nm_map_net_pop_size(net, src);
            int64_t *ptr = malloc(sizeof *ptr * (size_t)(nd + 1));
            int32_t *idx = malloc(sizeof *idx * (size_t)(nd * ns + 1));
            char *pick = malloc((size_t)ns);
            ptr[0] = 0;
            const int64_t fan = 1 + nm_rng_below(r, (uint32_t)(ns < 12 ? ns : 12));
            for (int64_t i = 0; i < nd; i++) {
                memset(pick, 0, (size_t)ns);
                int64_t e = ptr[i];
                for (int64_t t = 0; t < fan; t++) {
                    int32_t j = (int32_t)nm_rng_below(r, (uint32_t)ns);
                    if (!pick[j]) pick[j] = 1, idx[e++] = j;
                }
                ptr[i + 1] = e;
            }
            nm_status st = nm_map_net_add_sparse(net, src, p, ptr, idx);
            assert_true(st == NM_OK || (st == NM_INVAL && q == 1));
            *has_sparse |= st == NM_OK;
            free(ptr), free(idx), free(pick);
        }
    }
    return net;
}

/* Whether no mapping can exist: some neuron alone needs more axons or synapses than a core
** has (dense inputs split into equal blocks where the limits allow). */
static int must_refuse(const nm_map_net *net, const nm_core_limits *l) {
    const int np = nm_map_net_n_pops(net), nk = nm_map_net_n_projs(net);
    for (int p = 1; p < np; p++) {
        int64_t D = 0;
        int sparse = 0;
        for (int k = 0; k < nk; k++) {
            int s, d;
            int dense = nm_map_net_proj(net, k, &s, &d, NULL, NULL);
            if (d != p) continue;
            if (dense) D += nm_map_net_pop_size(net, s);
            else sparse = 1;
        }
        if (!sparse) {
            int64_t per = D;
            if (D > l->axons) {
                if (!l->fan_in_split) return 1;
                int64_t blocks = (D + l->axons - 1) / l->axons;
                per = (D + blocks - 1) / blocks;
            }
            if (per > l->synapses) return 1;
            continue;
        }
        if (D > l->axons) return 1;
        for (int64_t i = 0; i < nm_map_net_pop_size(net, p); i++) {
            int64_t fan = D, distinct = D;
            for (int s = 0; s < np; s++) {
                char *u = calloc((size_t)nm_map_net_pop_size(net, s), 1);
                for (int k = 0; k < nk; k++) {
                    int src, dst;
                    const int64_t *ptr;
                    const int32_t *idx;
                    if (nm_map_net_proj(net, k, &src, &dst, &ptr, &idx) || dst != p || src != s) continue;
                    fan += ptr[i + 1] - ptr[i];
                    for (int64_t e = ptr[i]; e < ptr[i + 1]; e++) distinct += !u[idx[e]], u[idx[e]] = 1;
                }
                free(u);
            }
            if (distinct > l->axons || fan > l->synapses) return 1;
        }
    }
    return 0;
}

static void test_random_mappings_respect_limits(void **state) {
    (void)state;
    nm_rng r;
    nm_rng_init(&r, 2385, 7);
    int mapped = 0, refused = 0, split = 0, overflow = 0;
    for (int trial = 0; trial < 120; trial++) {
        int has_sparse;
        nm_map_net *net = random_net(&r, &has_sparse);
        nm_core_limits lim;
        lim.neurons = 1 + nm_rng_below(&r, 70);
        lim.axons = 8 + nm_rng_below(&r, 150);
        lim.synapses = lim.axons + nm_rng_below(&r, (uint32_t)(lim.neurons * lim.axons));
        lim.cores = 1 + (int)nm_rng_below(&r, 40);
        lim.mesh_x = 1 + (int)nm_rng_below(&r, 8);
        lim.mesh_y = (lim.cores + lim.mesh_x - 1) / lim.mesh_x;
        lim.fan_in_split = (int)nm_rng_below(&r, 2);
        nm_map_options o;
        nm_map_options_default(&o);
        o.place = nm_rng_below(&r, 2) ? NM_PLACE_METIS : NM_PLACE_LINEAR;
        nm_mapping *m = NULL;
        nm_status st = nm_map(net, &lim, &o, &m);
        assert_int_equal(st == NM_RANGE, must_refuse(net, &lim));
        if (st == NM_OK) {
            validate(net, m);
            mapped++;
            overflow += !m->fits;
            for (int c = 0; c < m->n_cores; c++) split += m->core_block[c] > 0;
        } else {
            /* refused only when some neuron cannot fit a core: check that it names one */
            assert_int_equal(st, NM_RANGE);
            ASSERT_MSG("exceeds by");
            refused++;
        }
        nm_mapping_destroy(m);
        nm_map_net_destroy(net);
    }
    /* the random cases exercised every path */
    assert_true(mapped > 40 && refused > 5 && split > 0 && overflow > 5);
}

/* ---- hand-checked mappings --------------------------------------------------------------- */

static nm_map_net *layered(const int64_t *sizes, int n) {
    nm_map_net *net;
    assert_int_equal(nm_map_net_create(sizes[0], &net), NM_OK);
    for (int k = 1; k < n; k++) {
        assert_int_equal(nm_map_net_add_pop(net, k == n - 1 ? "readout" : "hidden", sizes[k], NULL), NM_OK);
        assert_int_equal(nm_map_net_add_dense(net, k - 1, k), NM_OK);
    }
    return net;
}

static void test_profiles_examples(void **state) {
    (void)state;
    nm_chip_profile p;
    nm_core_limits lim;
    nm_mapping *m = NULL;
    const int64_t big[] = {784, 246, 10}, small[] = {256, 246, 10}, mlp[] = {784, 1000, 10};

    /* bss2: two halves of 256 x 256; 784 inputs need more axons and no split is possible */
    assert_int_equal(nm_chip_profile_load("bss2", &p), NM_OK);
    nm_core_limits_from_profile(&p, &lim);
    assert_int_equal(lim.cores, 2);
    assert_int_equal(lim.fan_in_split, 0);
    nm_map_net *net = layered(big, 3);
    assert_int_equal(nm_map(net, &lim, NULL, &m), NM_RANGE);
    ASSERT_MSG("each neuron reads 784 inputs but a core has 256 axons (exceeds by 528)");
    nm_map_net_destroy(net);
    /* the paper's downscaled 256-246-10 fits: one half each */
    net = layered(small, 3);
    assert_int_equal(nm_map(net, &lim, NULL, &m), NM_OK);
    assert_true(m->fits);
    assert_int_equal(m->n_cores, 2);
    assert_int_equal(m->core_axons[0], 256);
    assert_int_equal(m->core_synapses[0], 256 * 246);
    assert_int_equal(m->core_synapses[1], 246 * 10);
    /* every hidden spike goes to the other half: one packet, one hop */
    for (int j = 0; j < 246; j++) assert_int_equal(m->pop_packets[1][j], 1), assert_int_equal(m->pop_hops[1][j], 1);
    validate(net, m);
    nm_mapping_destroy(m);
    nm_map_net_destroy(net);

    /* rram: 784 inputs split in 4 blocks of 196; 1000 neurons in 4 slices of 250; the readout's
    ** 1000 inputs in 4 blocks of 250: 20 cores, 3 partial sums per neuron per step */
    assert_int_equal(nm_chip_profile_load("rram", &p), NM_OK);
    nm_core_limits_from_profile(&p, &lim);
    net = layered(mlp, 3);
    assert_int_equal(nm_map(net, &lim, NULL, &m), NM_OK);
    assert_int_equal(m->n_cores, 20);
    assert_int_equal(m->pop_n_cores[1], 16);
    assert_int_equal(m->core_n_blocks[0], 4);
    assert_int_equal(m->core_axons[0], 196);
    assert_int_equal(m->core_neurons[0], 250);
    assert_int_equal(m->psum_packets, 1000 * 3 + 10 * 3);
    validate(net, m);
    nm_mapping_destroy(m);
    nm_map_net_destroy(net);

    /* truenorth: 4,096 cores of 256; a layered net of 5 x 262,144 neurons, each reading a
    ** 64-neuron block of the layer before, needs 5,120 cores */
    assert_int_equal(nm_chip_profile_load("truenorth", &p), NM_OK);
    nm_core_limits_from_profile(&p, &lim);
    assert_int_equal(lim.mesh_x, 64);
    const int64_t L = 262144;
    assert_int_equal(nm_map_net_create(L, &net), NM_OK);
    int64_t *ptr = malloc(sizeof *ptr * (L + 1));
    int32_t *idx = malloc(sizeof *idx * L * 64);
    ptr[0] = 0;
    for (int64_t i = 0; i < L; i++) {
        for (int k = 0; k < 64; k++) idx[i * 64 + k] = (int32_t)((i / 64) * 64 + k);
        ptr[i + 1] = (i + 1) * 64;
    }
    for (int k = 1; k <= 5; k++) {
        assert_int_equal(nm_map_net_add_pop(net, "layer", L, NULL), NM_OK);
        assert_int_equal(nm_map_net_add_sparse(net, k - 1, k, ptr, idx), NM_OK);
    }
    nm_map_options o;
    nm_map_options_default(&o);
    o.place = NM_PLACE_LINEAR;
    assert_int_equal(nm_map(net, &lim, &o, &m), NM_OK);
    assert_false(m->fits);
    assert_int_equal(m->n_cores, 5 * 1024);
    assert_int_equal(m->chips, 2);
    assert_non_null(strstr(m->failure, "needs 5120 cores, the chip has 4096 (exceeds by 1024"));
    /* a core holds 256 neurons reading 4 blocks: 256 axons exactly */
    assert_int_equal(m->core_axons[0], 256);
    assert_int_equal(m->core_neurons[0], 256);
    free(ptr), free(idx);
    nm_mapping_destroy(m);
    nm_map_net_destroy(net);
}

/* A sparse projection whose neurons need more axons or synapses than a core has. */
static void test_refusals(void **state) {
    (void)state;
    nm_map_net *net;
    nm_mapping *m = NULL;
    assert_int_equal(nm_map_net_create(40, &net), NM_OK);
    assert_int_equal(nm_map_net_add_pop(net, "wide", 3, NULL), NM_OK);
    int64_t ptr[4] = {0, 5, 35, 40};
    int32_t idx[40];
    for (int k = 0; k < 40; k++) idx[k] = k;   /* neuron 1 reads inputs 5..34 */
    assert_int_equal(nm_map_net_add_sparse(net, 0, 1, ptr, idx), NM_OK);
    nm_core_limits lim = {4, 2, 2, 8, 16, 1000, 1};
    assert_int_equal(nm_map(net, &lim, NULL, &m), NM_RANGE);
    ASSERT_MSG("population 'wide': neuron 1 reads 30 inputs but a core has 16 axons (exceeds by 14)");
    lim.axons = 64, lim.synapses = 20;
    assert_int_equal(nm_map(net, &lim, NULL, &m), NM_RANGE);
    ASSERT_MSG("neuron 1 reads 30 inputs but a core has 20 synapses (exceeds by 10)");
    lim.synapses = 30;
    assert_int_equal(nm_map(net, &lim, NULL, &m), NM_OK);
    validate(net, m);
    nm_mapping_destroy(m);
    /* bad input to the builders */
    int64_t bad_ptr[4] = {0, 2, 1, 3};
    assert_int_equal(nm_map_net_add_sparse(net, 0, 1, bad_ptr, idx), NM_INVAL);
    int64_t rep_ptr[4] = {0, 2, 2, 2};
    int32_t rep[2] = {3, 3};
    assert_int_equal(nm_map_net_add_sparse(net, 0, 1, rep_ptr, rep), NM_INVAL);
    ASSERT_MSG("twice");
    assert_int_equal(nm_map_net_add_dense(net, 0, 0), NM_INVAL);
    assert_int_equal(nm_map_net_add_pop(net, "empty", 0, NULL), NM_INVAL);
    nm_map_net_destroy(net);
}

/* ---- graphs ---------------------------------------------------------------------------------- */

static void test_graph_projections(void **state) {
    (void)state;
    nm_graph *g;
    nm_spec_options so;
    nm_spec_options_default(&so);
    /* 1x6x6 -> conv 2 channels, kernel 3 (4x4) -> avg pool 2 (2x2) -> LIF(8) -> Flatten ->
    ** Affine -> LI(3) */
    assert_int_equal(nm_graph_from_spec_ex("1x6x6-2c3ap2-3", &so, &g), NM_OK);
    nm_map_net *net;
    assert_int_equal(nm_map_net_from_graph(g, &net), NM_OK);
    assert_int_equal(nm_map_net_n_pops(net), 3);
    assert_int_equal(nm_map_net_pop_size(net, 1), 8);
    assert_int_equal(nm_map_net_n_projs(net), 2);
    int src, dst;
    const int64_t *ptr;
    const int32_t *idx;
    assert_false(nm_map_net_proj(net, 0, &src, &dst, &ptr, &idx));
    assert_int_equal(src, 0);
    assert_int_equal(dst, 1);
    /* neuron (channel 0, 0, 0) pools conv outputs (0..1, 0..1), which read input rows and
    ** columns 0..3: 16 inputs; neuron (channel 1, 1, 1) reads rows and columns 2..5 */
    assert_int_equal(ptr[1] - ptr[0], 16);
    char seen[36] = {0};
    for (int64_t e = ptr[0]; e < ptr[1]; e++) seen[idx[e]] = 1;
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 6; c++) assert_int_equal(seen[r * 6 + c], r < 4 && c < 4);
    memset(seen, 0, sizeof seen);
    for (int64_t e = ptr[7]; e < ptr[8]; e++) seen[idx[e]] = 1;
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 6; c++) assert_int_equal(seen[r * 6 + c], r >= 2 && c >= 2);
    assert_true(nm_map_net_proj(net, 1, &src, &dst, NULL, NULL));
    assert_int_equal(src, 1);
    assert_int_equal(dst, 2);
    nm_map_net_destroy(net);
    nm_graph_destroy(g);

    /* a recurrent layer reads itself densely */
    assert_int_equal(nm_graph_from_spec_ex("20-12r-4", &so, &g), NM_OK);
    assert_int_equal(nm_map_net_from_graph(g, &net), NM_OK);
    int self = 0;
    for (int k = 0; k < nm_map_net_n_projs(net); k++) {
        nm_map_net_proj(net, k, &src, &dst, NULL, NULL);
        self += src == 1 && dst == 1;
    }
    assert_int_equal(self, 1);
    nm_core_limits lim = {8, 4, 2, 5, 16, 80, 1};
    nm_mapping *m;
    assert_int_equal(nm_map(net, &lim, NULL, &m), NM_OK);
    validate(net, m);
    nm_mapping_destroy(m);
    nm_map_net_destroy(net);
    nm_graph_destroy(g);
}

/* The same inputs give the same placement; METIS shortens routes against linear placement. */
static void test_placement(void **state) {
    (void)state;
    const int64_t sizes[] = {200, 600, 600, 10};
    nm_map_net *net = layered(sizes, 4);
    nm_core_limits lim = {256, 16, 16, 64, 64, 64 * 64, 1};
    nm_map_options o;
    nm_map_options_default(&o);
    nm_mapping *a, *b, *c;
    assert_int_equal(nm_map(net, &lim, &o, &a), NM_OK);
    assert_int_equal(nm_map(net, &lim, &o, &b), NM_OK);
    o.place = NM_PLACE_LINEAR;
    assert_int_equal(nm_map(net, &lim, &o, &c), NM_OK);
    assert_int_equal(a->n_cores, b->n_cores);
    for (int k = 0; k < a->n_cores; k++) {
        assert_int_equal(a->core_x[k], b->core_x[k]);
        assert_int_equal(a->core_y[k], b->core_y[k]);
    }
    double u[3];
    int64_t pa, ha, pc, hc;
    nm_mapping_summary(a, u, &pa, &ha);
    nm_mapping_summary(c, u, &pc, &hc);
    assert_int_equal(pa, pc);
    int64_t sa = ha + a->psum_hops, sc = hc + c->psum_hops;
    print_message("hops one spike each + partial sums: metis %lld, linear %lld\n", (long long)sa, (long long)sc);
    assert_true(sa < sc);
    nm_mapping_destroy(a), nm_mapping_destroy(b), nm_mapping_destroy(c);
    nm_map_net_destroy(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_mappings_respect_limits),
        cmocka_unit_test(test_profiles_examples),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_graph_projections),
        cmocka_unit_test(test_placement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
