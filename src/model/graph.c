/*
** The graph IR: nodes, edges, compile-time checks, the parameter block, and the model
** file format.
**
** Invariant after nm_graph_compile: nodes[] is in execution order, node 0 is the Input,
** every other node's src is a smaller index, and the parameter block holds every Affine's
** W then b, each padded to 16 floats so every tensor starts on a cache line.
**
** Current scope: chains (each node feeds at most one node). The IR stores edges per
** node, so branching graphs need only the check in compile and a gradient sum in the
** backward pass to be lifted.
*/
#include <neuromorph/model.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nm_graph {
    nm_node *nodes;
    int      n, cap;
    int      compiled;
    float   *params;
    int64_t  n_params;
};

#define NM_MAX_NODES 4096
#define NM_MAX_SIZE  ((int64_t)1 << 30)

const char *nm_node_kind_name(nm_node_kind k) {
    switch (k) {
    case NM_NODE_INPUT:  return "Input";
    case NM_NODE_OUTPUT: return "Output";
    case NM_NODE_AFFINE: return "Affine";
    case NM_NODE_LIF:    return "LIF";
    case NM_NODE_LI:     return "LI";
    }
    return "?";
}

nm_status nm_graph_create(nm_graph **out) {
    nm_graph *g = calloc(1, sizeof *g);
    if (!g) return nm__error(NM_NOMEM, "out of memory creating a graph");
    *out = g;
    return NM_OK;
}

void nm_graph_destroy(nm_graph *g) {
    if (!g) return;
    free(g->nodes);
    nm_free(g->params);
    free(g);
}

static nm_status add_node(nm_graph *g, nm_node_kind kind, const char *name, int64_t n_in,
                          int64_t n_out, nm_node **node, int *id) {
    if (g->compiled) return nm__error(NM_INVAL, "graph is compiled: cannot add node '%s'", name ? name : "");
    if (!name || !name[0]) return nm__error(NM_INVAL, "a %s node needs a name", nm_node_kind_name(kind));
    if (strlen(name) >= NM_NAME_MAX)
        return nm__error(NM_INVAL, "node name '%s' is longer than %d characters", name, NM_NAME_MAX - 1);
    if (nm_graph_find(g, name) >= 0) return nm__error(NM_INVAL, "two nodes are named '%s'", name);
    if (n_in < 0 || n_out < 0 || n_in > NM_MAX_SIZE || n_out > NM_MAX_SIZE || (kind != NM_NODE_OUTPUT && (n_in == 0 || n_out == 0)))
        return nm__error(NM_RANGE, "node '%s' (%s) has an invalid size (%lld -> %lld)", name,
                         nm_node_kind_name(kind), (long long)n_in, (long long)n_out);
    if (g->n >= NM_MAX_NODES) return nm__error(NM_RANGE, "too many nodes (limit %d)", NM_MAX_NODES);
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 8;
        nm_node *p = realloc(g->nodes, sizeof *p * cap);
        if (!p) return nm__error(NM_NOMEM, "out of memory adding node '%s'", name);
        g->nodes = p;
        g->cap = cap;
    }
    nm_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    memcpy(nd->name, name, strlen(name) + 1);
    nd->n_in = n_in;
    nd->n_out = n_out;
    nd->src = -1;
    nd->w_off = nd->b_off = -1;
    if (id) *id = g->n;
    *node = nd;
    g->n++;
    return NM_OK;
}

nm_status nm_graph_add_input(nm_graph *g, const char *name, int64_t n, int *id) {
    nm_node *nd;
    return add_node(g, NM_NODE_INPUT, name, n, n, &nd, id);
}

nm_status nm_graph_add_output(nm_graph *g, const char *name, int *id) {
    nm_node *nd;
    return add_node(g, NM_NODE_OUTPUT, name, 0, 0, &nd, id);
}

nm_status nm_graph_add_affine(nm_graph *g, const char *name, int64_t n_in, int64_t n_out, int *id) {
    nm_node *nd;
    return add_node(g, NM_NODE_AFFINE, name, n_in, n_out, &nd, id);
}

nm_status nm_graph_add_lif(nm_graph *g, const char *name, int64_t n, const nm_lif_params *p, int *id) {
    nm_status rc = nm_lif_params_check(p);
    if (rc) return nm__error(rc, "node '%s': %s", name ? name : "", nm_errmsg());
    nm_node *nd;
    if ((rc = add_node(g, NM_NODE_LIF, name, n, n, &nd, id))) return rc;
    nd->lif = *p;
    return NM_OK;
}

nm_status nm_graph_add_li(nm_graph *g, const char *name, int64_t n, const nm_li_params *p, int *id) {
    nm_status rc = nm_li_params_check(p);
    if (rc) return nm__error(rc, "node '%s': %s", name ? name : "", nm_errmsg());
    nm_node *nd;
    if ((rc = add_node(g, NM_NODE_LI, name, n, n, &nd, id))) return rc;
    nd->li = *p;
    return NM_OK;
}

nm_status nm_graph_connect(nm_graph *g, int src, int dst) {
    if (g->compiled) return nm__error(NM_INVAL, "graph is compiled: cannot add edges");
    if (src < 0 || src >= g->n || dst < 0 || dst >= g->n)
        return nm__error(NM_INVAL, "edge %d -> %d names a missing node", src, dst);
    nm_node *d = &g->nodes[dst], *s = &g->nodes[src];
    if (src == dst) return nm__error(NM_INVAL, "node '%s' cannot feed itself", d->name);
    if (d->kind == NM_NODE_INPUT) return nm__error(NM_INVAL, "Input node '%s' cannot have a source", d->name);
    if (s->kind == NM_NODE_OUTPUT) return nm__error(NM_INVAL, "Output node '%s' cannot feed another node", s->name);
    if (d->src >= 0)
        return nm__error(NM_INVAL, "node '%s' is fed by both '%s' and '%s' (one source per node)", d->name,
                         g->nodes[d->src].name, s->name);
    d->src = src;
    return NM_OK;
}

nm_status nm_graph_compile(nm_graph *g) {
    if (g->compiled) return NM_OK;
    int n = g->n, in_id = -1, out_id = -1;
    int *consumer = NULL, *order = NULL;
    nm_node *sorted = NULL;
    nm_status rc = NM_OK;

    for (int i = 0; i < n; i++) {
        nm_node *nd = &g->nodes[i];
        if (nd->kind == NM_NODE_INPUT) {
            if (in_id >= 0) return nm__error(NM_INVAL, "graph has two Input nodes ('%s', '%s')", g->nodes[in_id].name, nd->name);
            in_id = i;
        } else if (nd->src < 0) {
            return nm__error(NM_INVAL, "node '%s' (%s) has no source", nd->name, nm_node_kind_name(nd->kind));
        }
        if (nd->kind == NM_NODE_OUTPUT) {
            if (out_id >= 0) return nm__error(NM_INVAL, "graph has two Output nodes ('%s', '%s')", g->nodes[out_id].name, nd->name);
            out_id = i;
        }
    }
    if (in_id < 0) return nm__error(NM_INVAL, "graph has no Input node");
    if (out_id < 0) return nm__error(NM_INVAL, "graph has no Output node");

    consumer = malloc(sizeof(int) * n);
    order = malloc(sizeof(int) * n);
    sorted = malloc(sizeof(nm_node) * n);
    if (!consumer || !order || !sorted) { rc = nm__error(NM_NOMEM, "out of memory compiling a graph"); goto done; }
    for (int i = 0; i < n; i++) consumer[i] = -1;
    for (int i = 0; i < n; i++) {
        int s = g->nodes[i].src;
        if (s < 0) continue;
        if (consumer[s] >= 0) {
            rc = nm__error(NM_UNSUPPORTED, "node '%s' feeds both '%s' and '%s' (branching graphs are not supported yet)",
                           g->nodes[s].name, g->nodes[consumer[s]].name, g->nodes[i].name);
            goto done;
        }
        consumer[s] = i;
    }
    /* Walk the chain from the input; every node must be reached exactly once. */
    int len = 0;
    for (int cur = in_id; cur >= 0; cur = consumer[cur]) {
        if (len >= n) { rc = nm__error(NM_INVAL, "graph has a cycle through node '%s'", g->nodes[cur].name); goto done; }
        order[len++] = cur;
    }
    if (len < n) {
        for (int i = 0; i < n; i++) {
            int seen = 0;
            for (int j = 0; j < len; j++) seen |= order[j] == i;
            if (!seen) { rc = nm__error(NM_INVAL, "node '%s' is not reachable from the input '%s'", g->nodes[i].name, g->nodes[in_id].name); goto done; }
        }
    }
    if (order[len - 1] != out_id) {
        rc = nm__error(NM_INVAL, "the chain from the input ends at '%s', not at the Output node '%s'",
                       g->nodes[order[len - 1]].name, g->nodes[out_id].name);
        goto done;
    }

    /* Renumber in execution order and check shapes along every edge. */
    int *newid = consumer;   /* reuse: old id -> new id */
    for (int j = 0; j < n; j++) newid[order[j]] = j;
    for (int j = 0; j < n; j++) {
        sorted[j] = g->nodes[order[j]];
        if (sorted[j].src >= 0) sorted[j].src = newid[sorted[j].src];
    }
    for (int j = 1; j < n; j++) {
        nm_node *nd = &sorted[j];
        const nm_node *s = &sorted[nd->src];
        if (nd->kind == NM_NODE_OUTPUT) nd->n_in = nd->n_out = s->n_out;
        if (nd->n_in != s->n_out) {
            rc = nm__error(NM_SHAPE, "node '%s' (%s) expects %lld inputs but '%s' (%s) gives %lld", nd->name,
                           nm_node_kind_name(nd->kind), (long long)nd->n_in, s->name, nm_node_kind_name(s->kind),
                           (long long)s->n_out);
            goto done;
        }
    }

    /* Lay out the parameter block. */
    int64_t off = 0;
    for (int j = 0; j < n; j++) {
        nm_node *nd = &sorted[j];
        if (nd->kind != NM_NODE_AFFINE) continue;
        nd->w_off = off;
        off += nm_pad16(nd->n_out * nd->n_in);
        nd->b_off = off;
        off += nm_pad16(nd->n_out);
    }
    float *params = off ? nm_alloc(sizeof(float) * off) : NULL;
    if (off && !params) { rc = nm__error(NM_NOMEM, "out of memory for %lld parameters", (long long)off); goto done; }

    memcpy(g->nodes, sorted, sizeof(nm_node) * n);
    nm_free(g->params);
    g->params = params;
    g->n_params = off;
    g->compiled = 1;
done:
    free(consumer);
    free(order);
    free(sorted);
    return rc;
}

int nm_graph_n_nodes(const nm_graph *g) { return g->n; }
const nm_node *nm_graph_node(const nm_graph *g, int id) { return (id >= 0 && id < g->n) ? &g->nodes[id] : NULL; }
int64_t nm_graph_n_params(const nm_graph *g) { return g->n_params; }
float *nm_graph_params(nm_graph *g) { return g->params; }
const float *nm_graph_params_const(const nm_graph *g) { return g->params; }
int64_t nm_graph_input_size(const nm_graph *g) { return g->n ? g->nodes[0].n_out : 0; }
int64_t nm_graph_output_size(const nm_graph *g) { return g->n ? g->nodes[g->n - 1].n_out : 0; }
int nm_graph_readout(const nm_graph *g) { return g->n ? g->nodes[g->n - 1].src : -1; }

int nm_graph_find(const nm_graph *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

void nm_graph_init_params(nm_graph *g, uint64_t seed, float gain) {
    NM_ASSERT(g->compiled);
    for (int j = 0; j < g->n; j++) {
        const nm_node *nd = &g->nodes[j];
        if (nd->kind != NM_NODE_AFFINE) continue;
        nm_rng r;
        nm_rng_init(&r, seed, 0x6d6f64656cull ^ (uint64_t)j);   /* stream per node */
        float bound = gain / sqrtf((float)nd->n_in);
        float *w = g->params + nd->w_off, *b = g->params + nd->b_off;
        for (int64_t i = 0; i < nd->n_out * nd->n_in; i++) w[i] = bound * (2.0f * nm_rng_uniform(&r) - 1.0f);
        for (int64_t i = 0; i < nd->n_out; i++) b[i] = bound * (2.0f * nm_rng_uniform(&r) - 1.0f);
    }
}

nm_status nm_graph_clone(const nm_graph *g, nm_graph **out) {
    NM_ASSERT(g->compiled);
    nm_graph *c = calloc(1, sizeof *c);
    if (!c) return nm__error(NM_NOMEM, "out of memory cloning a graph");
    c->nodes = malloc(sizeof(nm_node) * (g->n ? g->n : 1));
    c->params = g->n_params ? nm_alloc(sizeof(float) * g->n_params) : NULL;
    if (!c->nodes || (g->n_params && !c->params)) {
        nm_graph_destroy(c);
        return nm__error(NM_NOMEM, "out of memory cloning a graph");
    }
    memcpy(c->nodes, g->nodes, sizeof(nm_node) * g->n);
    if (g->n_params) memcpy(c->params, g->params, sizeof(float) * g->n_params);
    c->n = c->cap = g->n;
    c->n_params = g->n_params;
    c->compiled = 1;
    *out = c;
    return NM_OK;
}

/* ---- architecture strings ---------------------------------------------- */

nm_status nm_graph_from_spec(const char *spec, const nm_lif_params *hidden, const nm_li_params *readout,
                             nm_graph **out) {
    int64_t sizes[64];
    int n_sizes = 0;
    const char *p = spec;
    if (!spec || !*spec) return nm__error(NM_INVAL, "empty architecture (expected sizes like 784-1000-10)");
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return nm__error(NM_INVAL, "architecture '%s': expected a layer size at '%s' (sizes like 784-1000-10)", spec, p);
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v <= 0 || v > NM_MAX_SIZE)
            return nm__error(NM_RANGE, "architecture '%s': layer size '%.*s' is out of range", spec, (int)(end - p), p);
        if (n_sizes == 64) return nm__error(NM_RANGE, "architecture '%s' has more than 64 layers", spec);
        sizes[n_sizes++] = v;
        p = end;
        if (*p == '-') {
            p++;
            if (!*p) return nm__error(NM_INVAL, "architecture '%s' ends with '-'", spec);
        } else if (*p) {
            return nm__error(NM_INVAL, "architecture '%s': unexpected '%c' (sizes are separated by '-')", spec, *p);
        }
    }
    if (n_sizes < 2) return nm__error(NM_INVAL, "architecture '%s' needs at least an input and an output size", spec);

    nm_graph *g = NULL;
    nm_status rc = nm_graph_create(&g);
    if (rc) return rc;
    int prev = 0, id = 0;
    char name[NM_NAME_MAX];
    if ((rc = nm_graph_add_input(g, "input", sizes[0], &prev))) goto fail;
    for (int l = 1; l < n_sizes; l++) {
        int last = l == n_sizes - 1;
        snprintf(name, sizeof name, "fc%d", l);
        if ((rc = nm_graph_add_affine(g, name, sizes[l - 1], sizes[l], &id))) goto fail;
        if ((rc = nm_graph_connect(g, prev, id))) goto fail;
        prev = id;
        if (last) {
            if ((rc = nm_graph_add_li(g, "readout", sizes[l], readout, &id))) goto fail;
        } else {
            snprintf(name, sizeof name, "lif%d", l);
            if ((rc = nm_graph_add_lif(g, name, sizes[l], hidden, &id))) goto fail;
        }
        if ((rc = nm_graph_connect(g, prev, id))) goto fail;
        prev = id;
    }
    if ((rc = nm_graph_add_output(g, "output", &id))) goto fail;
    if ((rc = nm_graph_connect(g, prev, id))) goto fail;
    if ((rc = nm_graph_compile(g))) goto fail;
    *out = g;
    return NM_OK;
fail:
    nm_graph_destroy(g);
    return rc;
}

void nm_graph_spec(const nm_graph *g, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = 0;
    for (int j = 0; j < g->n; j++) {
        const nm_node *nd = &g->nodes[j];
        if (nd->kind != NM_NODE_INPUT && nd->kind != NM_NODE_AFFINE) continue;
        int w = snprintf(buf + len, len < size ? size - len : 0, "%s%lld", j ? "-" : "",
                         (long long)nd->n_out);
        if (w > 0) len += (size_t)w;
    }
}

/* ---- model files ------------------------------------------------------- */
/*
** Layout (little-endian):
**   "NMMODEL1"  u32 n_nodes  i64 n_params
**   n_nodes x { u32 kind; char name[32]; i64 n_in, n_out; i32 src;
**               f32 tau, r, v_leak, v_threshold, v_reset; u32 reset;
**               f32 li_tau, li_r, li_v_leak }
**   f32 params[n_params]
**   u32 crc32 of all bytes above
*/

static const char MODEL_MAGIC[8] = {'N', 'M', 'M', 'O', 'D', 'E', 'L', '1'};

#define PUT(x) do { if ((rc = nm_stream_put(&s, &(x), sizeof(x)))) return rc; } while (0)

nm_status nm_graph_write(const nm_graph *g, FILE *f) {
    NM_ASSERT(g->compiled);
    nm_stream s;
    nm_stream_init(&s, f, "model");
    nm_status rc;
    if ((rc = nm_stream_put(&s, MODEL_MAGIC, 8))) return rc;
    uint32_t n = (uint32_t)g->n;
    int64_t np = g->n_params;
    PUT(n);
    PUT(np);
    for (int j = 0; j < g->n; j++) {
        const nm_node *nd = &g->nodes[j];
        uint32_t kind = nd->kind, reset = nd->lif.reset;
        int32_t src = nd->src;
        PUT(kind);
        if ((rc = nm_stream_put(&s, nd->name, NM_NAME_MAX))) return rc;
        PUT(nd->n_in);
        PUT(nd->n_out);
        PUT(src);
        PUT(nd->lif.tau); PUT(nd->lif.r); PUT(nd->lif.v_leak); PUT(nd->lif.v_threshold); PUT(nd->lif.v_reset);
        PUT(reset);
        PUT(nd->li.tau); PUT(nd->li.r); PUT(nd->li.v_leak);
    }
    if (np && (rc = nm_stream_put(&s, g->params, sizeof(float) * np))) return rc;
    return nm_stream_put_crc(&s);
}

#define GET(x, what) do { if ((rc = nm_stream_get(&s, &(x), sizeof(x), what))) goto fail; } while (0)

nm_status nm_graph_read(FILE *f, const char *fname, nm_graph **out) {
    nm_stream s;
    nm_stream_init(&s, f, fname ? fname : "model");
    nm_status rc;
    nm_graph *g = NULL;
    nm_node *tab = NULL;
    char magic[8];
    uint32_t n;
    int64_t np;

    if ((rc = nm_stream_get(&s, magic, 8, "the magic number"))) return rc;
    if (memcmp(magic, MODEL_MAGIC, 8))
        return nm__error(NM_FORMAT, "'%s' is not a neuromorph model file (bad magic number)", s.name);
    GET(n, "the node count");
    GET(np, "the parameter count");
    if (n < 2 || n > NM_MAX_NODES) { rc = nm__error(NM_FORMAT, "'%s': node count %u is out of range", s.name, n); goto fail; }
    if (np < 0 || np > ((int64_t)1 << 32)) { rc = nm__error(NM_FORMAT, "'%s': parameter count %lld is out of range", s.name, (long long)np); goto fail; }
    tab = calloc(n, sizeof *tab);
    if (!tab) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", s.name); goto fail; }
    for (uint32_t j = 0; j < n; j++) {
        nm_node *nd = &tab[j];
        uint32_t kind, reset;
        int32_t src;
        GET(kind, "a node");
        if ((rc = nm_stream_get(&s, nd->name, NM_NAME_MAX, "a node name"))) goto fail;
        GET(nd->n_in, "a node"); GET(nd->n_out, "a node"); GET(src, "a node");
        GET(nd->lif.tau, "a node"); GET(nd->lif.r, "a node"); GET(nd->lif.v_leak, "a node");
        GET(nd->lif.v_threshold, "a node"); GET(nd->lif.v_reset, "a node"); GET(reset, "a node");
        GET(nd->li.tau, "a node"); GET(nd->li.r, "a node"); GET(nd->li.v_leak, "a node");
        if (kind > NM_NODE_LI) { rc = nm__error(NM_FORMAT, "'%s': node %u has unknown kind %u", s.name, j, kind); goto fail; }
        if (!memchr(nd->name, 0, NM_NAME_MAX)) { rc = nm__error(NM_FORMAT, "'%s': node %u has an unterminated name", s.name, j); goto fail; }
        if (src < -1 || src >= (int32_t)n || src == (int32_t)j) { rc = nm__error(NM_FORMAT, "'%s': node '%s' has invalid source %d", s.name, nd->name, src); goto fail; }
        if (reset > NM_RESET_NONE) { rc = nm__error(NM_FORMAT, "'%s': node '%s' has unknown reset mode %u", s.name, nd->name, reset); goto fail; }
        nd->kind = (nm_node_kind)kind;
        nd->lif.reset = (nm_reset)reset;
        nd->src = src;
    }
    /* Rebuild through the public API, so every check of a hand-built graph applies. */
    if ((rc = nm_graph_create(&g))) goto fail;
    for (uint32_t j = 0; j < n; j++) {
        nm_node *nd = &tab[j];
        switch (nd->kind) {
        case NM_NODE_INPUT:  rc = nm_graph_add_input(g, nd->name, nd->n_out, NULL); break;
        case NM_NODE_OUTPUT: rc = nm_graph_add_output(g, nd->name, NULL); break;
        case NM_NODE_AFFINE: rc = nm_graph_add_affine(g, nd->name, nd->n_in, nd->n_out, NULL); break;
        case NM_NODE_LIF:    rc = nm_graph_add_lif(g, nd->name, nd->n_out, &nd->lif, NULL); break;
        case NM_NODE_LI:     rc = nm_graph_add_li(g, nd->name, nd->n_out, &nd->li, NULL); break;
        }
        if (rc) { rc = nm__error(NM_FORMAT, "'%s': %s", s.name, nm_errmsg()); goto fail; }
    }
    for (uint32_t j = 0; j < n; j++)
        if (tab[j].src >= 0 && (rc = nm_graph_connect(g, tab[j].src, (int)j))) { rc = nm__error(NM_FORMAT, "'%s': %s", s.name, nm_errmsg()); goto fail; }
    if ((rc = nm_graph_compile(g))) { rc = nm__error(NM_FORMAT, "'%s': %s", s.name, nm_errmsg()); goto fail; }
    if (g->n_params != np) {
        rc = nm__error(NM_FORMAT, "'%s' stores %lld parameters but its graph needs %lld", s.name, (long long)np, (long long)g->n_params);
        goto fail;
    }
    if (np && (rc = nm_stream_get(&s, g->params, sizeof(float) * np, "the parameters"))) goto fail;
    if ((rc = nm_stream_check_crc(&s))) goto fail;
    for (int64_t i = 0; i < np; i++)
        if (!isfinite(g->params[i])) { rc = nm__error(NM_FORMAT, "'%s': parameter %lld is not finite", s.name, (long long)i); goto fail; }
    free(tab);
    *out = g;
    return NM_OK;
fail:
    free(tab);
    nm_graph_destroy(g);
    return rc;
}

static nm_status write_model(FILE *f, void *user) { return nm_graph_write(user, f); }

nm_status nm_graph_save(const nm_graph *g, const char *path) {
    return nm_file_write_atomic(path, write_model, (void *)g);
}

nm_status nm_graph_load(const char *path, nm_graph **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return nm__error(errno == ENOENT ? NM_NOTFOUND : NM_IO, "cannot open model '%s': %s", path, strerror(errno));
    nm_graph *g;
    nm_status rc = nm_graph_read(f, path, &g);
    if (!rc && fgetc(f) != EOF) {
        nm_graph_destroy(g);
        rc = nm__error(NM_FORMAT, "'%s' has trailing bytes after the model", path);
    }
    fclose(f);
    if (!rc) *out = g;
    return rc;
}
