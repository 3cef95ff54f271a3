/*
** place.c: cutting populations into core-sized slices, placing the cores on the mesh, and
** counting the packets and hops of every neuron's spikes.
**
** Slices. A population with dense inputs only needs the same D inputs on every core, so
** its slices are equal (up to one neuron) and as large as the neurons, axons and synapse
** memory allow; D above the axons is split into equal blocks when the profile allows it.
** With sparse inputs, neurons are added to a core one by one while the distinct inputs
** (counted with a stamp per source neuron) and the synapses still fit: one pass over the
** synapses, exact, so a million neurons take well under a second.
**
** Placement. Linear puts cores row by row. METIS placement cuts the core graph (edge
** weight: the packets between two cores when every neuron spikes once, and the partial
** sums of split slices) into two parts sized like the two halves of a mesh region, and
** recurses into both halves until each region is one core: recursive bisection, the
** usual way to put a task graph on a 2-d mesh. METIS is seeded, so a mapping is a
** function of its inputs.
*/
#include <neuromorph/map.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <metis.h>

const char *nm_place_name(nm_place_kind k) { return k == NM_PLACE_LINEAR ? "linear" : "metis"; }

nm_status nm_place_parse(const char *s, nm_place_kind *out) {
    if (!strcmp(s, "metis")) *out = NM_PLACE_METIS;
    else if (!strcmp(s, "linear")) *out = NM_PLACE_LINEAR;
    else return nm__error(NM_INVAL, "unknown placement '%s' (choose metis or linear)", s);
    return NM_OK;
}

void nm_map_options_default(nm_map_options *o) {
    o->place = NM_PLACE_METIS;
    o->seed = 1;
}

void nm_core_limits_from_profile(const nm_chip_profile *p, nm_core_limits *l) {
    l->cores = p->cores;
    l->neurons = p->neurons_per_core;
    l->axons = p->axons_per_core;
    l->synapses = p->synapses_per_core > 0 ? p->synapses_per_core : l->neurons * l->axons;
    if (p->mesh_x > 0 && p->mesh_y > 0) {
        l->mesh_x = p->mesh_x;
        l->mesh_y = p->mesh_y;
    } else {
        l->mesh_x = (int)ceil(sqrt((double)p->cores));
        l->mesh_y = (p->cores + l->mesh_x - 1) / l->mesh_x;
    }
    l->fan_in_split = p->fan_in_split >= 0 ? p->fan_in_split : (p->analog ? 1 : 0);
}

/* ---- the mapping object ---------------------------------------------------------------- */

void nm_mapping_destroy(nm_mapping *m) {
    if (!m) return;
    free(m->core_pop), free(m->core_first), free(m->core_neurons), free(m->core_axons), free(m->core_synapses);
    free(m->core_block), free(m->core_n_blocks), free(m->core_dense_first), free(m->core_dense_count);
    free(m->core_x), free(m->core_y);
    free(m->pop_first_core), free(m->pop_n_cores);
    if (m->pop_packets)
        for (int p = 0; p < m->n_pops; p++) free(m->pop_packets[p]);
    if (m->pop_hops)
        for (int p = 0; p < m->n_pops; p++) free(m->pop_hops[p]);
    free(m->pop_packets), free(m->pop_hops);
    free(m);
}

static nm_status add_core(nm_mapping *m, int *cap, int pop, int64_t first, int64_t neurons, int64_t axons,
                          int64_t synapses, int block, int n_blocks, int64_t dfirst, int64_t dcount) {
    if (m->n_cores == *cap) {
        int nc = *cap ? 2 * *cap : 64;
#define GROW(field)                                                                    \
        do {                                                                           \
            void *q = realloc(m->field, sizeof *m->field * (size_t)nc);                \
            if (!q) return nm__error(NM_NOMEM, "out of memory for the mapping");       \
            m->field = q;                                                              \
        } while (0)
        GROW(core_pop); GROW(core_first); GROW(core_neurons); GROW(core_axons); GROW(core_synapses);
        GROW(core_block); GROW(core_n_blocks); GROW(core_dense_first); GROW(core_dense_count);
        GROW(core_x); GROW(core_y);
#undef GROW
        *cap = nc;
    }
    const int c = m->n_cores++;
    m->core_pop[c] = pop;
    m->core_first[c] = first;
    m->core_neurons[c] = neurons;
    m->core_axons[c] = axons;
    m->core_synapses[c] = synapses;
    m->core_block[c] = block;
    m->core_n_blocks[c] = n_blocks;
    m->core_dense_first[c] = dfirst;
    m->core_dense_count[c] = dcount;
    m->core_x[c] = m->core_y[c] = 0;
    return NM_OK;
}

/* ---- slicing ------------------------------------------------------------------------------ */

static nm_status slice_dense(nm_mapping *m, int *cap, const nm_map_net *net, int p, int64_t D) {
    const nm_core_limits *l = &m->lim;
    const int64_t n = nm_map_net_pop_size(net, p);
    int64_t blocks = 1, per = D;
    if (D > l->axons) {
        if (!l->fan_in_split)
            return nm__error(NM_RANGE,
                             "population '%s': each neuron reads %lld inputs but a core has %lld axons (exceeds by %lld), "
                             "and this chip cannot split a neuron's inputs over cores",
                             nm_map_net_pop_name(net, p), (long long)D, (long long)l->axons, (long long)(D - l->axons));
        blocks = (D + l->axons - 1) / l->axons;
        per = (D + blocks - 1) / blocks;
    }
    int64_t s_max = l->neurons;
    if (per > 0 && l->synapses / per < s_max) s_max = l->synapses / per;
    if (s_max < 1)
        return nm__error(NM_RANGE, "population '%s': one neuron needs %lld synapses on a core but a core holds %lld "
                         "(exceeds by %lld)", nm_map_net_pop_name(net, p), (long long)per, (long long)l->synapses,
                         (long long)(per - l->synapses));
    const int64_t n_slices = (n + s_max - 1) / s_max, base = n / n_slices, extra = n % n_slices;
    int64_t first = 0;
    for (int64_t s = 0; s < n_slices; s++) {
        const int64_t len = base + (s < extra);
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t d0 = b * per, dc = (b + 1) * per < D ? per : D - d0;
            nm_status rc = add_core(m, cap, p, first, len, dc, len * dc, (int)b, (int)blocks, d0, dc);
            if (rc) return rc;
        }
        first += len;
    }
    return NM_OK;
}

/* Greedy slicing with sparse inputs (and D dense inputs every neuron reads). stamp[src]
** holds, per source neuron, the core (+1) that last counted it. */
static nm_status slice_sparse(nm_mapping *m, int *cap, const nm_map_net *net, int p, int64_t D, int32_t **stamp) {
    const nm_core_limits *l = &m->lim;
    const int64_t n = nm_map_net_pop_size(net, p);
    const int np = nm_map_net_n_projs(net);
    if (D > l->axons)
        return nm__error(NM_RANGE, "population '%s': each neuron reads %lld dense inputs but a core has %lld axons "
                         "(exceeds by %lld); splitting inputs is supported for dense-only populations",
                         nm_map_net_pop_name(net, p), (long long)D, (long long)l->axons, (long long)(D - l->axons));
    int64_t first = 0, neurons = 0, axons = D, synapses = 0;
    int32_t cur = m->n_cores + 1;   /* stamp of the core being filled */
    for (int64_t i = 0; i < n; i++) {
        /* fan-in of neuron i, and how many distinct inputs the current core lacks; a probe
        ** stamp (-cur) counts an input read through two projections once */
        int64_t fan = D, fresh = 0;
        for (int pass = 0; pass < 2; pass++) {
            fan = D, fresh = 0;
            for (int k = 0; k < np; k++) {
                int src, dst;
                const int64_t *ptr;
                const int32_t *idx;
                if (nm_map_net_proj(net, k, &src, &dst, &ptr, &idx) || dst != p) continue;
                fan += ptr[i + 1] - ptr[i];
                for (int64_t e = ptr[i]; e < ptr[i + 1]; e++) {
                    int32_t *st = &stamp[src][idx[e]];
                    if (*st != cur && *st != -cur) fresh++, *st = -cur;
                }
            }
            if (pass == 0 && neurons > 0 &&
                (neurons + 1 > l->neurons || axons + fresh > l->axons || synapses + fan > l->synapses)) {
                /* close this core and count again on a fresh one */
                nm_status rc = add_core(m, cap, p, first, neurons, axons, synapses, 0, 1, 0, D);
                if (rc) return rc;
                first = i, neurons = 0, axons = D, synapses = 0;
                cur = m->n_cores + 1;
                continue;
            }
            break;
        }
        if (D + fresh > l->axons || fan > l->synapses) {   /* alone on its core, and too big */
            int ax = D + fresh > l->axons;
            int64_t need = ax ? D + fresh : fan, lim = ax ? l->axons : l->synapses;
            return nm__error(NM_RANGE, "population '%s': neuron %lld reads %lld inputs but a core has %lld %s (exceeds by %lld)",
                             nm_map_net_pop_name(net, p), (long long)i, (long long)need, (long long)lim,
                             ax ? "axons" : "synapses", (long long)(need - lim));
        }
        for (int k = 0; k < np; k++) {
            int src, dst;
            const int64_t *ptr;
            const int32_t *idx;
            if (nm_map_net_proj(net, k, &src, &dst, &ptr, &idx) || dst != p) continue;
            for (int64_t e = ptr[i]; e < ptr[i + 1]; e++) stamp[src][idx[e]] = cur;
        }
        neurons++, axons += fresh, synapses += fan;
    }
    if (neurons) return add_core(m, cap, p, first, neurons, axons, synapses, 0, 1, 0, D);
    return NM_OK;
}

/* ---- placement ---------------------------------------------------------------------------- */

/* The core graph as an edge list (a < b after symmetrizing), merged later. */
typedef struct edges {
    int64_t n, cap;
    int32_t *a, *b;
    int64_t *w;
} edges;

static nm_status edge_add(edges *e, int32_t a, int32_t b, int64_t w) {
    if (a == b || w <= 0) return NM_OK;
    if (e->n == e->cap) {
        int64_t nc = e->cap ? 2 * e->cap : 1024;
        int32_t *na = realloc(e->a, sizeof *na * (size_t)nc);
        if (na) e->a = na;
        int32_t *nb = realloc(e->b, sizeof *nb * (size_t)nc);
        if (nb) e->b = nb;
        int64_t *nw = realloc(e->w, sizeof *nw * (size_t)nc);
        if (nw) e->w = nw;
        if (!na || !nb || !nw) return nm__error(NM_NOMEM, "out of memory for the core graph");
        e->cap = nc;
    }
    e->a[e->n] = a < b ? a : b;
    e->b[e->n] = a < b ? b : a;
    e->w[e->n] = w;
    e->n++;
    return NM_OK;
}

/* Home core of neuron i of population p (its slice's block 0); -1 for the input. */
static int home_core(const nm_mapping *m, int p, int64_t i) {
    if (p == 0) return -1;
    int lo = m->pop_first_core[p], hi = lo + m->pop_n_cores[p] - 1;
    /* binary search over the slices' first neurons (cores are in neuron order) */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (m->core_first[mid] <= i) lo = mid;
        else hi = mid - 1;
    }
    return lo - m->core_block[lo];
}

/* Offset of dense source `src` among population p's dense inputs, in projection order. */
static int64_t dense_offset(const nm_map_net *net, int p, int proj) {
    int64_t off = 0;
    for (int k = 0; k < proj; k++) {
        int s, d;
        if (nm_map_net_proj(net, k, &s, &d, NULL, NULL) && d == p) off += nm_map_net_pop_size(net, s);
    }
    return off;
}

/* Visits every (source neuron, target core) pair once, however many projections join them:
** fn(ctx, src pop, neuron, count, core) with count consecutive source neurons starting at
** `neuron` (dense runs) or 1. last[src] holds per source neuron the last core (+1) visited. */
typedef nm_status (*pair_fn)(void *ctx, int src, int64_t j, int64_t count, int core);

static nm_status each_pair(const nm_mapping *m, const nm_map_net *net, int32_t **last, pair_fn fn, void *ctx) {
    nm_status rc;
    const int np = nm_map_net_n_pops(net), nk = nm_map_net_n_projs(net);
    for (int p = 1; p < np; p++)
        for (int s = 0; s < np; s++) {
            int n_sp = 0;
            for (int k = 0; k < nk; k++) {
                int src, dst;
                nm_map_net_proj(net, k, &src, &dst, NULL, NULL);
                n_sp += src == s && dst == p;
            }
            if (!n_sp) continue;
            int32_t *ls = last[s];
            const int64_t ns = nm_map_net_pop_size(net, s);
            memset(ls, 0, sizeof *ls * (size_t)ns);
            const int c0 = m->pop_first_core[p], c1 = c0 + m->pop_n_cores[p];
            for (int c = c0; c < c1; c++)
                for (int k = 0; k < nk; k++) {
                    int src, dst;
                    const int64_t *ptr;
                    const int32_t *idx;
                    int dense = nm_map_net_proj(net, k, &src, &dst, &ptr, &idx);
                    if (src != s || dst != p) continue;
                    if (dense) {
                        /* this block's dense range against the source's [off, off + ns) */
                        const int64_t off = dense_offset(net, p, k);
                        int64_t lo = m->core_dense_first[c] > off ? m->core_dense_first[c] : off;
                        int64_t hi = m->core_dense_first[c] + m->core_dense_count[c];
                        if (hi > off + ns) hi = off + ns;
                        if (hi <= lo) continue;
                        if (n_sp == 1) {
                            if ((rc = fn(ctx, s, lo - off, hi - lo, c))) return rc;
                            continue;
                        }
                        for (int64_t j = lo - off; j < hi - off; j++)
                            if (ls[j] != c + 1) {
                                ls[j] = c + 1;
                                if ((rc = fn(ctx, s, j, 1, c))) return rc;
                            }
                    } else {
                        for (int64_t i = m->core_first[c]; i < m->core_first[c] + m->core_neurons[c]; i++)
                            for (int64_t e = ptr[i]; e < ptr[i + 1]; e++)
                                if (ls[idx[e]] != c + 1) {
                                    ls[idx[e]] = c + 1;
                                    if ((rc = fn(ctx, s, idx[e], 1, c))) return rc;
                                }
                    }
                }
        }
    return NM_OK;
}

typedef struct graph_ctx {
    const nm_mapping *m;
    edges *e;
    int64_t *acc;      /* per core, the weight to the current target core */
    int32_t *touched;
    int n_touched, target;
} graph_ctx;

static nm_status flush_graph(graph_ctx *g) {
    nm_status rc = NM_OK;
    for (int t = 0; t < g->n_touched; t++) {
        int a = g->touched[t];
        if (!rc) rc = edge_add(g->e, a, g->target, g->acc[a]);
        g->acc[a] = 0;
    }
    g->n_touched = 0;
    return rc;
}

static nm_status graph_pair(void *ctx, int src, int64_t j, int64_t count, int core) {
    graph_ctx *g = ctx;
    nm_status rc;
    if (src == 0) return NM_OK;   /* the input port is not a core */
    if (core != g->target && (rc = flush_graph(g))) return rc;
    g->target = core;
    for (int64_t done = 0; done < count;) {
        /* a dense run may cross slices of the source */
        int a = home_core(g->m, src, j + done);
        int64_t end = g->m->core_first[a] + g->m->core_neurons[a] - j;
        if (end > count) end = count;
        if (!g->acc[a]) g->touched[g->n_touched++] = a;
        g->acc[a] += end - done;
        done = end;
    }
    return NM_OK;
}

/* Merged CSR (METIS's xadj/adjncy/adjwgt) of the symmetric core graph. */
typedef struct csr {
    idx_t *xadj, *adj, *wgt;
} csr;

typedef struct ekey { int32_t a, b; int64_t w; } ekey;

static int cmp_ekey(const void *x, const void *y) {
    const ekey *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    if (p->b != q->b) return p->b < q->b ? -1 : 1;
    return 0;
}

static nm_status build_csr(int n, const edges *e, csr *g) {
    ekey *k = malloc(sizeof *k * (size_t)(e->n ? e->n : 1));
    if (!k) return nm__error(NM_NOMEM, "out of memory for the core graph");
    for (int64_t i = 0; i < e->n; i++) k[i] = (ekey){e->a[i], e->b[i], e->w[i]};
    qsort(k, (size_t)e->n, sizeof *k, cmp_ekey);
    int64_t u = 0;
    for (int64_t i = 0; i < e->n; i++) {
        if (u && k[u - 1].a == k[i].a && k[u - 1].b == k[i].b) k[u - 1].w += k[i].w;
        else k[u++] = k[i];
    }
    g->xadj = calloc((size_t)n + 1, sizeof *g->xadj);
    g->adj = malloc(sizeof *g->adj * (size_t)(2 * u + 1));
    g->wgt = malloc(sizeof *g->wgt * (size_t)(2 * u + 1));
    if (!g->xadj || !g->adj || !g->wgt) {
        free(k);
        return nm__error(NM_NOMEM, "out of memory for the core graph");
    }
    for (int64_t i = 0; i < u; i++) g->xadj[k[i].a + 1]++, g->xadj[k[i].b + 1]++;
    for (int v = 0; v < n; v++) g->xadj[v + 1] += g->xadj[v];
    idx_t *pos = malloc(sizeof *pos * (size_t)(n > 0 ? n : 1));
    if (!pos) {
        free(k);
        return nm__error(NM_NOMEM, "out of memory for the core graph");
    }
    for (int v = 0; v < n; v++) pos[v] = g->xadj[v];
    for (int64_t i = 0; i < u; i++) {
        /* METIS takes int weights: traffic is capped, which only flattens the heaviest edges */
        idx_t w = k[i].w > 1000000000 ? 1000000000 : (idx_t)k[i].w;
        g->adj[pos[k[i].a]] = k[i].b, g->wgt[pos[k[i].a]++] = w;
        g->adj[pos[k[i].b]] = k[i].a, g->wgt[pos[k[i].b]++] = w;
    }
    free(pos);
    free(k);
    return NM_OK;
}

typedef struct bisect {
    const csr *g;
    nm_mapping *m;
    idx_t *local;      /* global core -> index in the current subgraph (-1: not in it) */
    idx_t options[METIS_NOPTIONS];
} bisect;

/* Places cores[0..n) into the region [x0, x0 + w) x [y0, y0 + h) (w h >= n). */
static nm_status place_region(bisect *B, int32_t *cores, int n, int x0, int y0, int w, int h) {
    if (n == 0) return NM_OK;
    if (n == 1 || w * h == 1) {
        /* n == 1 here: area >= n */
        B->m->core_x[cores[0]] = x0;
        B->m->core_y[cores[0]] = y0;
        return NM_OK;
    }
    /* halves along the longer side */
    int w1 = w, h1 = h, x1 = x0, y1 = y0, w2 = w, h2 = h;
    if (w >= h) w1 = w / 2, w2 = w - w1, x1 = x0 + w1;
    else h1 = h / 2, h2 = h - h1, y1 = y0 + h1;
    const int a1 = w1 * h1, a2 = w2 * h2;
    int n1 = (int)llround((double)n * a1 / (a1 + a2));
    if (n1 > a1) n1 = a1;
    if (n - n1 > a2) n1 = n - a2;
    int *part = malloc(sizeof *part * (size_t)n);
    if (!part) return nm__error(NM_NOMEM, "out of memory for placement");
    for (int i = 0; i < n; i++) part[i] = i >= n1;   /* by order, the fallback */
    /* the induced subgraph */
    int64_t n_adj = 0;
    for (int i = 0; i < n; i++) B->local[cores[i]] = i;
    for (int i = 0; i < n; i++)
        for (idx_t e = B->g->xadj[cores[i]]; e < B->g->xadj[cores[i] + 1]; e++) n_adj += B->local[B->g->adj[e]] >= 0;
    if (n >= 4 && n_adj > 0 && n1 > 0 && n1 < n) {
        idx_t *xadj = malloc(sizeof *xadj * (size_t)(n + 1)), *adj = malloc(sizeof *adj * (size_t)n_adj);
        idx_t *wgt = malloc(sizeof *wgt * (size_t)n_adj), *pt = malloc(sizeof *pt * (size_t)n);
        if (!xadj || !adj || !wgt || !pt) {
            free(xadj), free(adj), free(wgt), free(pt), free(part);
            return nm__error(NM_NOMEM, "out of memory for placement");
        }
        xadj[0] = 0;
        int64_t q = 0;
        for (int i = 0; i < n; i++) {
            for (idx_t e = B->g->xadj[cores[i]]; e < B->g->xadj[cores[i] + 1]; e++) {
                idx_t l = B->local[B->g->adj[e]];
                if (l >= 0) adj[q] = l, wgt[q++] = B->g->wgt[e];
            }
            xadj[i + 1] = (idx_t)q;
        }
        idx_t nv = n, ncon = 1, nparts = 2, objval = 0;
        real_t tp[2] = {(real_t)n1 / n, (real_t)(n - n1) / n};
        real_t ub = 1.001f;
        int st = METIS_PartGraphRecursive(&nv, &ncon, xadj, adj, NULL, NULL, wgt, &nparts, tp, &ub, B->options, &objval, pt);
        if (st == METIS_OK) {
            /* enforce the exact sizes the regions hold: move the surplus in order */
            int c1 = 0;
            for (int i = 0; i < n; i++) c1 += pt[i] == 0;
            for (int i = 0; i < n && c1 > n1; i++)
                if (pt[i] == 0) pt[i] = 1, c1--;
            for (int i = n - 1; i >= 0 && c1 < n1; i--)
                if (pt[i] == 1) pt[i] = 0, c1++;
            for (int i = 0; i < n; i++) part[i] = (int)pt[i];
        }
        free(xadj), free(adj), free(wgt), free(pt);
    }
    for (int i = 0; i < n; i++) B->local[cores[i]] = -1;
    /* stable partition of cores by part */
    int32_t *tmp = malloc(sizeof *tmp * (size_t)n);
    if (!tmp) {
        free(part);
        return nm__error(NM_NOMEM, "out of memory for placement");
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!part[i]) tmp[k++] = cores[i];
    for (int i = 0; i < n; i++)
        if (part[i]) tmp[k++] = cores[i];
    memcpy(cores, tmp, sizeof *tmp * (size_t)n);
    free(tmp), free(part);
    nm_status rc = place_region(B, cores, n1, x0, y0, w1, h1);
    if (!rc) rc = place_region(B, cores + n1, n - n1, x1, y1, w2, h2);
    return rc;
}

static nm_status place_metis(nm_mapping *m, const nm_map_net *net, int32_t **last, uint64_t seed) {
    nm_status rc;
    edges e = {0};
    csr g = {0};
    graph_ctx gc = {m, &e, NULL, NULL, 0, -1};
    bisect B = {&g, m, NULL, {0}};
    int32_t *cores = NULL;
    gc.acc = calloc((size_t)m->n_cores, sizeof *gc.acc);
    gc.touched = malloc(sizeof *gc.touched * (size_t)m->n_cores);
    B.local = malloc(sizeof *B.local * (size_t)m->n_cores);
    cores = malloc(sizeof *cores * (size_t)m->n_cores);
    if (!gc.acc || !gc.touched || !B.local || !cores) { rc = nm__error(NM_NOMEM, "out of memory for placement"); goto done; }
    if ((rc = each_pair(m, net, last, graph_pair, &gc)) || (rc = flush_graph(&gc))) goto done;
    /* partial sums: every step, each neuron of a block sends one value home */
    for (int c = 0; c < m->n_cores; c++)
        if (m->core_block[c] > 0 && (rc = edge_add(&e, c, c - m->core_block[c], m->core_neurons[c]))) goto done;
    if ((rc = build_csr(m->n_cores, &e, &g))) goto done;
    METIS_SetDefaultOptions(B.options);
    B.options[METIS_OPTION_SEED] = (idx_t)(seed & 0x7fffffff);
    B.options[METIS_OPTION_NUMBERING] = 0;
    for (int c = 0; c < m->n_cores; c++) B.local[c] = -1, cores[c] = c;
    /* a compact, about square region of the mesh: spreading a few cores over the whole mesh
    ** would only lengthen their routes */
    int w = (int)ceil(sqrt((double)m->n_cores));
    if (w > m->grid_x) w = m->grid_x;
    int h = (m->n_cores + w - 1) / w;
    if (h > m->grid_y) h = m->grid_y, w = (m->n_cores + h - 1) / h;
    rc = place_region(&B, cores, m->n_cores, 0, 0, w, h);
done:
    free(e.a), free(e.b), free(e.w);
    free(g.xadj), free(g.adj), free(g.wgt);
    free(gc.acc), free(gc.touched), free(B.local), free(cores);
    return rc;
}

/* ---- routing ---------------------------------------------------------------------------- */

typedef struct route_ctx {
    nm_mapping *m;
} route_ctx;

static nm_status route_pair(void *ctx, int src, int64_t j, int64_t count, int core) {
    nm_mapping *m = ((route_ctx *)ctx)->m;
    for (int64_t t = 0; t < count; t++) {
        int a = home_core(m, src, j + t);
        int ax = a < 0 ? 0 : m->core_x[a], ay = a < 0 ? 0 : m->core_y[a];
        m->pop_packets[src][j + t]++;
        m->pop_hops[src][j + t] += abs(ax - m->core_x[core]) + abs(ay - m->core_y[core]);
    }
    return NM_OK;
}

/* ---- nm_map ----------------------------------------------------------------------------- */

nm_status nm_map(const nm_map_net *net, const nm_core_limits *lim, const nm_map_options *o, nm_mapping **out) {
    nm_status rc;
    const double t0 = nm_time_now();
    const int np = nm_map_net_n_pops(net);
    nm_map_options dflt;
    if (!o) nm_map_options_default(&dflt), o = &dflt;
    if (lim->cores < 1 || lim->neurons < 1 || lim->axons < 1 || lim->synapses < 1 || lim->mesh_x < 1 || lim->mesh_y < 1 ||
        (int64_t)lim->mesh_x * lim->mesh_y < lim->cores)
        return nm__error(NM_INVAL, "core limits must be positive and the mesh must hold every core");
    nm_mapping *m = calloc(1, sizeof *m);
    int32_t **stamp = calloc((size_t)np, sizeof *stamp);
    int cap = 0;
    if (!m || !stamp) { rc = nm__error(NM_NOMEM, "out of memory for the mapping"); goto fail; }
    m->lim = *lim;
    m->n_pops = np;
    m->pop_first_core = calloc((size_t)np, sizeof *m->pop_first_core);
    m->pop_n_cores = calloc((size_t)np, sizeof *m->pop_n_cores);
    m->pop_packets = calloc((size_t)np, sizeof *m->pop_packets);
    m->pop_hops = calloc((size_t)np, sizeof *m->pop_hops);
    if (!m->pop_first_core || !m->pop_n_cores || !m->pop_packets || !m->pop_hops) {
        rc = nm__error(NM_NOMEM, "out of memory for the mapping");
        goto fail;
    }
    for (int p = 0; p < np; p++) {
        const int64_t n = nm_map_net_pop_size(net, p);
        stamp[p] = calloc((size_t)n, sizeof **stamp);
        m->pop_packets[p] = calloc((size_t)n, sizeof **m->pop_packets);
        m->pop_hops[p] = calloc((size_t)n, sizeof **m->pop_hops);
        if (!stamp[p] || !m->pop_packets[p] || !m->pop_hops[p]) { rc = nm__error(NM_NOMEM, "out of memory for the mapping"); goto fail; }
    }

    /* slices, population by population */
    for (int p = 1; p < np; p++) {
        int64_t D = 0;
        int sparse = 0;
        for (int k = 0; k < nm_map_net_n_projs(net); k++) {
            int s, d;
            int dense = nm_map_net_proj(net, k, &s, &d, NULL, NULL);
            if (d != p) continue;
            if (dense) D += nm_map_net_pop_size(net, s);
            else sparse = 1;
        }
        m->pop_first_core[p] = m->n_cores;
        rc = sparse ? slice_sparse(m, &cap, net, p, D, stamp) : slice_dense(m, &cap, net, p, D);
        if (rc) goto fail;
        m->pop_n_cores[p] = m->n_cores - m->pop_first_core[p];
    }
    m->chips = (m->n_cores + lim->cores - 1) / lim->cores;
    if (m->chips < 1) m->chips = 1;
    m->fits = m->n_cores <= lim->cores;
    m->grid_x = lim->mesh_x;
    m->grid_y = m->fits ? lim->mesh_y : (m->n_cores + lim->mesh_x - 1) / lim->mesh_x;
    if (!m->fits)
        snprintf(m->failure, sizeof m->failure, "needs %d cores, the chip has %d (exceeds by %d; %d chips)", m->n_cores,
                 lim->cores, m->n_cores - lim->cores, m->chips);

    /* placement */
    if (o->place == NM_PLACE_LINEAR || m->n_cores < 2) {
        for (int c = 0; c < m->n_cores; c++) m->core_x[c] = c % m->grid_x, m->core_y[c] = c / m->grid_x;
    } else if ((rc = place_metis(m, net, stamp, o->seed))) {
        goto fail;
    }

    /* routing: packets and hops per source neuron, and the partial sums per step */
    route_ctx rcx = {m};
    if ((rc = each_pair(m, net, stamp, route_pair, &rcx))) goto fail;
    for (int c = 0; c < m->n_cores; c++)
        if (m->core_block[c] > 0) {
            const int h = c - m->core_block[c];
            m->psum_packets += m->core_neurons[c];
            m->psum_hops += m->core_neurons[c] * (int64_t)(abs(m->core_x[c] - m->core_x[h]) + abs(m->core_y[c] - m->core_y[h]));
        }
    for (int p = 0; p < np; p++) free(stamp[p]);
    free(stamp);
    m->seconds = nm_time_now() - t0;
    *out = m;
    return NM_OK;
fail:
    if (stamp)
        for (int p = 0; p < np; p++) free(stamp[p]);
    free(stamp);
    nm_mapping_destroy(m);
    return rc;
}

/* ---- summaries ---------------------------------------------------------------------------- */

void nm_mapping_utilization(const nm_mapping *m, int c, double *neurons, double *axons, double *synapses) {
    if (neurons) *neurons = (double)m->core_neurons[c] / (double)m->lim.neurons;
    if (axons) *axons = (double)m->core_axons[c] / (double)m->lim.axons;
    if (synapses) *synapses = (double)m->core_synapses[c] / (double)m->lim.synapses;
}

void nm_mapping_summary(const nm_mapping *m, double util[3], int64_t *packets, int64_t *hops) {
    util[0] = util[1] = util[2] = 0;
    for (int c = 0; c < m->n_cores; c++) {
        double u[3];
        nm_mapping_utilization(m, c, &u[0], &u[1], &u[2]);
        for (int k = 0; k < 3; k++) util[k] += u[k] / m->n_cores;
    }
    int64_t pk = 0, hp = 0;
    for (int p = 0; p < m->n_pops; p++) {
        int64_t n = 0;
        /* sizes are not kept in the mapping: the slices of p, or the packets' extent */
        if (p > 0 && m->pop_n_cores[p]) {
            int last = m->pop_first_core[p] + m->pop_n_cores[p] - 1;
            n = m->core_first[last] + m->core_neurons[last];
        }
        if (p == 0) continue;
        for (int64_t j = 0; j < n; j++) pk += m->pop_packets[p][j], hp += m->pop_hops[p][j];
    }
    if (packets) *packets = pk;
    if (hops) *hops = hp;
}

void nm_mapping_report(const nm_mapping *m, const nm_map_net *net, nm_report *r, const char *key) {
    char k[160];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", key, s), k)
    nm_report_set_int(r, KEY("limits.cores"), m->lim.cores);
    nm_report_set_int(r, KEY("limits.neurons_per_core"), m->lim.neurons);
    nm_report_set_int(r, KEY("limits.axons_per_core"), m->lim.axons);
    nm_report_set_int(r, KEY("limits.synapses_per_core"), m->lim.synapses);
    nm_report_set_int(r, KEY("limits.mesh_x"), m->lim.mesh_x);
    nm_report_set_int(r, KEY("limits.mesh_y"), m->lim.mesh_y);
    nm_report_set_bool(r, KEY("limits.fan_in_split"), m->lim.fan_in_split);
    nm_report_set_int(r, KEY("cores_used"), m->n_cores);
    nm_report_set_int(r, KEY("chips"), m->chips);
    nm_report_set_bool(r, KEY("fits"), m->fits);
    if (!m->fits) nm_report_set_str(r, KEY("failure"), m->failure);
    double u[3];
    int64_t pk, hp;
    nm_mapping_summary(m, u, &pk, &hp);
    nm_report_set_num(r, KEY("utilization.neurons"), u[0]);
    nm_report_set_num(r, KEY("utilization.axons"), u[1]);
    nm_report_set_num(r, KEY("utilization.synapses"), u[2]);
    nm_report_set_int(r, KEY("traffic_one_spike_each.packets"), pk);
    nm_report_set_int(r, KEY("traffic_one_spike_each.hops"), hp);
    nm_report_set_int(r, KEY("partial_sums_per_step.packets"), m->psum_packets);
    nm_report_set_int(r, KEY("partial_sums_per_step.hops"), m->psum_hops);
    nm_report_set_num(r, KEY("seconds"), m->seconds);
    for (int p = 1; p < m->n_pops; p++) {
        nm_report *it = nm_report_create(NULL);
        if (!it) return;
        nm_report_set_str(it, "name", nm_map_net_pop_name(net, p));
        nm_report_set_int(it, "neurons", nm_map_net_pop_size(net, p));
        nm_report_set_int(it, "cores", m->pop_n_cores[p]);
        nm_report_set_int(it, "blocks", m->pop_n_cores[p] ? m->core_n_blocks[m->pop_first_core[p]] : 0);
        nm_report_push_obj(r, KEY("populations"), it);
    }
    for (int c = 0; c < m->n_cores; c++) {
        nm_report *it = nm_report_create(NULL);
        if (!it) return;
        nm_report_set_int(it, "population", m->core_pop[c]);
        nm_report_set_int(it, "first", m->core_first[c]);
        nm_report_set_int(it, "neurons", m->core_neurons[c]);
        nm_report_set_int(it, "axons", m->core_axons[c]);
        nm_report_set_int(it, "synapses", m->core_synapses[c]);
        nm_report_set_int(it, "block", m->core_block[c]);
        nm_report_set_int(it, "x", m->core_x[c]);
        nm_report_set_int(it, "y", m->core_y[c]);
        nm_report_push_obj(r, KEY("cores"), it);
    }
#undef KEY
}
