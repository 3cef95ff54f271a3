/*
** The graph IR: nodes, edges, compile-time shape checks and the parameter block.
**
** Invariant after nm_graph_compile: nodes[] is in execution order, node 0 is the Input,
** every other node's src is a smaller index, a recurrent Affine sits right after its
** population, and the parameter block holds first every weight and bias (the decayed part),
** then scales and learnable neuron parameters, each tensor padded to 16 floats so it starts
** on a cache line.
**
** Scope: chains (each node feeds one node), plus recurrent loops of a population through
** an Affine back into itself. The IR stores edges per node, so branching graphs need only
** the check in compile and a gradient sum in the backward pass to be lifted.
*/
#include "model_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *nm_node_kind_name(nm_node_kind k) {
    switch (k) {
    case NM_NODE_INPUT:   return "Input";
    case NM_NODE_OUTPUT:  return "Output";
    case NM_NODE_AFFINE:  return "Affine";
    case NM_NODE_LIF:     return "LIF";
    case NM_NODE_LI:      return "LI";
    case NM_NODE_LINEAR:  return "Linear";
    case NM_NODE_CONV:    return "Conv";
    case NM_NODE_SUMPOOL: return "SumPool2d";
    case NM_NODE_AVGPOOL: return "AvgPool2d";
    case NM_NODE_FLATTEN: return "Flatten";
    case NM_NODE_SCALE:   return "Scale";
    case NM_NODE_DELAY:   return "Delay";
    case NM_NODE_CUBALIF: return "CubaLIF";
    case NM_NODE_CUBALI:  return "CubaLI";
    case NM_NODE_IF:      return "IF";
    case NM_NODE_ALIF:    return "ALIF";
    }
    return "?";
}

int nm_node_kind_spiking(nm_node_kind k) {
    return k == NM_NODE_LIF || k == NM_NODE_CUBALIF || k == NM_NODE_IF || k == NM_NODE_ALIF;
}

int nm_node_kind_neuron(nm_node_kind k) {
    return nm_node_kind_spiking(k) || k == NM_NODE_LI || k == NM_NODE_CUBALI;
}

int64_t nm_node_weight_count(const nm_node *nd) {
    if (nd->kind == NM_NODE_AFFINE || nd->kind == NM_NODE_LINEAR) return nd->n_out * nd->n_in;
    if (nd->kind == NM_NODE_CONV) return nm_conv_weight_count(&nd->conv);
    return 0;
}

void nm_quantize_weights(const float *w, int64_t n, int bits, float *out) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w[i]));
    const float q = (float)((1ll << (bits - 1)) - 1), step = amax > 0 ? amax / q : 1.0f;
    for (int64_t i = 0; i < n; i++) out[i] = step * nearbyintf(w[i] / step);
}

int nm_node_param_ranges(const nm_node *nd, int64_t off[3], int64_t len[3]) {
    int k = 0;
    if (nd->w_off >= 0) {
        off[k] = nd->w_off;
        len[k++] = nd->kind == NM_NODE_SCALE ? nd->n_out : nm_node_weight_count(nd);
    }
    if (nd->b_off >= 0) { off[k] = nd->b_off; len[k++] = nd->kind == NM_NODE_CONV ? nd->conv.c_out : nd->n_out; }
    if (nd->p_off >= 0) { off[k] = nd->p_off; len[k++] = 2 * nm_pad16(nd->n_out); }
    return k;
}

nm_status nm_graph_create(nm_graph **out) {
    nm_graph *g = calloc(1, sizeof *g);
    if (!g) return nm__error(NM_NOMEM, "out of memory creating a graph");
    *out = g;
    return NM_OK;
}

void nm_graph_destroy(nm_graph *g) {
    if (!g) return;
    if (g->delays)
        for (int j = 0; j < g->n; j++) free(g->delays[j]);
    free(g->nodes);
    free(g->delays);
    nm_free(g->params);
    nm_free(g->consts);
    free(g);
}

nm_status nm__graph_add_node(nm_graph *g, nm_node_kind kind, const char *name, int64_t n_in, int64_t n_out,
                             nm_node **node, int *id) {
    if (g->compiled) return nm__error(NM_INVAL, "graph is compiled: cannot add node '%s'", name ? name : "");
    if (!name || !name[0]) return nm__error(NM_INVAL, "a %s node needs a name", nm_node_kind_name(kind));
    if (strlen(name) >= NM_NAME_MAX)
        return nm__error(NM_INVAL, "node name '%s' is longer than %d characters", name, NM_NAME_MAX - 1);
    if (nm_graph_find(g, name) >= 0) return nm__error(NM_INVAL, "two nodes are named '%s'", name);
    if (n_in < 0 || n_out < 0 || n_in > NM_MAX_SIZE || n_out > NM_MAX_SIZE)
        return nm__error(NM_RANGE, "node '%s' (%s) has an invalid size (%lld -> %lld)", name,
                         nm_node_kind_name(kind), (long long)n_in, (long long)n_out);
    if (g->n >= NM_MAX_NODES) return nm__error(NM_RANGE, "too many nodes (limit %d)", NM_MAX_NODES);
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 8;
        nm_node *p = realloc(g->nodes, sizeof *p * cap);
        int **d = realloc(g->delays, sizeof *d * cap);
        if (d) g->delays = d;
        if (!p || !d) {
            if (p) g->nodes = p;
            return nm__error(NM_NOMEM, "out of memory adding node '%s'", name);
        }
        g->nodes = p;
        for (int i = g->cap; i < cap; i++) g->delays[i] = NULL;
        g->cap = cap;
    }
    nm_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    memcpy(nd->name, name, strlen(name) + 1);
    nd->n_in = n_in;
    nd->n_out = n_out;
    nd->shape[0] = n_out;
    nd->shape[1] = nd->shape[2] = 1;
    nd->src = nd->rec = -1;
    nd->w_off = nd->b_off = nd->p_off = nd->c_off = -1;
    if (id) *id = g->n;
    *node = nd;
    g->n++;
    return NM_OK;
}

static nm_status need_positive(const char *name, nm_node_kind kind, int64_t n) {
    if (n <= 0) return nm__error(NM_RANGE, "node '%s' (%s) needs a positive size, not %lld", name ? name : "",
                                 nm_node_kind_name(kind), (long long)n);
    return NM_OK;
}

nm_status nm_graph_add_input_shaped(nm_graph *g, const char *name, int64_t c, int64_t h, int64_t w, int *id) {
    if (c <= 0 || h <= 0 || w <= 0 || c > NM_MAX_SIZE || h > NM_MAX_SIZE || w > NM_MAX_SIZE || c * h > NM_MAX_SIZE ||
        c * h * w > NM_MAX_SIZE)
        return nm__error(NM_RANGE, "input '%s' has an invalid shape %lldx%lldx%lld", name ? name : "", (long long)c,
                         (long long)h, (long long)w);
    nm_node *nd;
    nm_status rc = nm__graph_add_node(g, NM_NODE_INPUT, name, c * h * w, c * h * w, &nd, id);
    if (rc) return rc;
    nd->shape[0] = c;
    nd->shape[1] = h;
    nd->shape[2] = w;
    return NM_OK;
}

nm_status nm_graph_add_input(nm_graph *g, const char *name, int64_t n, int *id) {
    nm_status rc = need_positive(name, NM_NODE_INPUT, n);
    return rc ? rc : nm_graph_add_input_shaped(g, name, n, 1, 1, id);
}

nm_status nm_graph_add_output(nm_graph *g, const char *name, int *id) {
    nm_node *nd;
    return nm__graph_add_node(g, NM_NODE_OUTPUT, name, 0, 0, &nd, id);
}

static nm_status add_dense(nm_graph *g, nm_node_kind kind, const char *name, int64_t n_in, int64_t n_out, int *id) {
    nm_status rc;
    nm_node *nd;
    if ((rc = need_positive(name, kind, n_in)) || (rc = need_positive(name, kind, n_out))) return rc;
    return nm__graph_add_node(g, kind, name, n_in, n_out, &nd, id);
}

nm_status nm_graph_add_affine(nm_graph *g, const char *name, int64_t n_in, int64_t n_out, int *id) {
    return add_dense(g, NM_NODE_AFFINE, name, n_in, n_out, id);
}

nm_status nm_graph_add_linear(nm_graph *g, const char *name, int64_t n_in, int64_t n_out, int *id) {
    return add_dense(g, NM_NODE_LINEAR, name, n_in, n_out, id);
}

nm_status nm_graph_add_conv2d(nm_graph *g, const char *name, int64_t c_in, int64_t c_out, int kh, int kw, int sh,
                              int sw, int ph, int pw, int dh, int dw, int groups, int *id) {
    /* Check the geometry now on a notional input large enough for the kernel, so a bad
    ** stride or group count is reported when the node is added. */
    nm_conv_geom cg;
    int64_t hh = (int64_t)(dh > 0 ? dh : 1) * (kh > 0 ? kh : 1), ww = (int64_t)(dw > 0 ? dw : 1) * (kw > 0 ? kw : 1);
    nm_status rc = nm_conv_geom_init(&cg, c_in, hh, ww, c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups);
    if (rc) return nm__error(rc, "node '%s' (Conv): %s", name ? name : "", nm_errmsg());
    nm_node *nd;
    if ((rc = nm__graph_add_node(g, NM_NODE_CONV, name, 0, 0, &nd, id))) return rc;
    nd->conv = cg;
    return NM_OK;
}

nm_status nm_graph_add_conv1d(nm_graph *g, const char *name, int64_t c_in, int64_t c_out, int k, int stride,
                              int pad, int dil, int groups, int *id) {
    int j;
    nm_status rc = nm_graph_add_conv2d(g, name, c_in, c_out, 1, k, 1, stride, 0, pad, 1, dil, groups, &j);
    if (rc) return rc;
    g->nodes[j].flags |= NM_NODE_CONV1D;
    if (id) *id = j;
    return NM_OK;
}

nm_status nm_graph_add_pool(nm_graph *g, const char *name, nm_node_kind kind, int kh, int kw, int sh, int sw, int ph,
                            int pw, int *id) {
    if (kind != NM_NODE_SUMPOOL && kind != NM_NODE_AVGPOOL)
        return nm__error(NM_INVAL, "node '%s': %s is not a pooling kind", name ? name : "", nm_node_kind_name(kind));
    nm_conv_geom cg;
    int64_t hh = kh > 0 ? kh : 1, ww = kw > 0 ? kw : 1;
    nm_status rc = nm_pool_geom_init(&cg, 1, hh + 2 * (ph > 0 ? ph : 0), ww + 2 * (pw > 0 ? pw : 0), kh, kw, sh, sw, ph, pw);
    if (rc) return nm__error(rc, "node '%s' (%s): %s", name ? name : "", nm_node_kind_name(kind), nm_errmsg());
    nm_node *nd;
    if ((rc = nm__graph_add_node(g, kind, name, 0, 0, &nd, id))) return rc;
    nd->conv = cg;
    return NM_OK;
}

nm_status nm_graph_add_flatten(nm_graph *g, const char *name, int *id) {
    nm_node *nd;
    return nm__graph_add_node(g, NM_NODE_FLATTEN, name, 0, 0, &nd, id);
}

nm_status nm_graph_add_scale(nm_graph *g, const char *name, int64_t n, int *id) {
    return add_dense(g, NM_NODE_SCALE, name, n, n, id);
}

nm_status nm_graph_add_delay(nm_graph *g, const char *name, int64_t n, const int *delays, int *id) {
    nm_status rc = need_positive(name, NM_NODE_DELAY, n);
    if (rc) return rc;
    for (int64_t i = 0; i < n; i++)
        if (delays[i] < 0 || delays[i] > NM_MAX_DELAY)
            return nm__error(NM_RANGE, "node '%s' (Delay): delay of neuron %lld is %d steps (0..%d)", name ? name : "",
                             (long long)i, delays[i], NM_MAX_DELAY);
    int *copy = malloc(sizeof(int) * n);
    if (!copy) return nm__error(NM_NOMEM, "out of memory adding node '%s'", name ? name : "");
    memcpy(copy, delays, sizeof(int) * n);
    nm_node *nd;
    int j;
    if ((rc = nm__graph_add_node(g, NM_NODE_DELAY, name, n, n, &nd, &j))) { free(copy); return rc; }
    g->delays[j] = copy;
    if (id) *id = j;
    return NM_OK;
}

#define ADD_NEURON(fn, kind, field, check, ptype)                                                  \
    nm_status fn(nm_graph *g, const char *name, int64_t n, const ptype *p, int *id) {                \
        nm_status rc = check(p);                                                                   \
        if (rc) return nm__error(rc, "node '%s': %s", name ? name : "", nm_errmsg());               \
        if ((rc = need_positive(name, kind, n))) return rc;                                         \
        nm_node *nd;                                                                               \
        if ((rc = nm__graph_add_node(g, kind, name, n, n, &nd, id))) return rc;                     \
        nd->field = *p;                                                                            \
        return NM_OK;                                                                              \
    }

ADD_NEURON(nm_graph_add_lif, NM_NODE_LIF, lif, nm_lif_params_check, nm_lif_params)
ADD_NEURON(nm_graph_add_li, NM_NODE_LI, li, nm_li_params_check, nm_li_params)
ADD_NEURON(nm_graph_add_cuba_lif, NM_NODE_CUBALIF, cuba, nm_cuba_lif_params_check, nm_cuba_lif_params)
ADD_NEURON(nm_graph_add_cuba_li, NM_NODE_CUBALI, cuba, nm_cuba_li_params_check, nm_cuba_lif_params)
ADD_NEURON(nm_graph_add_if, NM_NODE_IF, ifp, nm_if_params_check, nm_if_params)
ADD_NEURON(nm_graph_add_alif, NM_NODE_ALIF, alif, nm_alif_params_check, nm_alif_params)

nm_status nm_graph_set_learn_neuron(nm_graph *g, int j) {
    if (g->compiled) return nm__error(NM_INVAL, "graph is compiled: cannot change node %d", j);
    if (j < 0 || j >= g->n || g->nodes[j].kind != NM_NODE_LIF)
        return nm__error(NM_UNSUPPORTED, "learnable time constants and thresholds are available on LIF nodes only%s%s",
                         j >= 0 && j < g->n ? ", not on " : "", j >= 0 && j < g->n ? nm_node_kind_name(g->nodes[j].kind) : "");
    g->nodes[j].flags |= NM_NODE_LEARN_NEURON;
    return NM_OK;
}

nm_status nm_graph_add_recurrent(nm_graph *g, const char *name, int pop, int *id) {
    if (pop < 0 || pop >= g->n) return nm__error(NM_INVAL, "recurrent node '%s' names a missing population", name ? name : "");
    nm_node *p = &g->nodes[pop];
    if (p->kind != NM_NODE_LIF)
        return nm__error(NM_UNSUPPORTED, "recurrent connections are available on LIF populations; '%s' is %s", p->name,
                         nm_node_kind_name(p->kind));
    if (p->rec >= 0) return nm__error(NM_INVAL, "population '%s' already has a recurrent connection", p->name);
    int j;
    nm_node *nd;
    int64_t n = p->n_out;
    nm_status rc = nm__graph_add_node(g, NM_NODE_AFFINE, name, n, n, &nd, &j);
    if (rc) return rc;
    nd->flags |= NM_NODE_RECURRENT;
    nd->src = pop;
    nd->rec = pop;
    g->nodes[pop].rec = j;   /* nodes may have moved */
    if (id) *id = j;
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
    if (d->flags & NM_NODE_RECURRENT) return nm__error(NM_INVAL, "recurrent node '%s' is fed by its population only", d->name);
    if (s->flags & NM_NODE_RECURRENT) return nm__error(NM_INVAL, "recurrent node '%s' feeds its population only", s->name);
    if (d->src >= 0)
        return nm__error(NM_INVAL, "node '%s' is fed by both '%s' and '%s' (one source per node)", d->name,
                         g->nodes[d->src].name, s->name);
    d->src = src;
    return NM_OK;
}

static void shape_str(const int64_t *s, char *buf, size_t size) {
    if (s[1] == 1 && s[2] == 1) snprintf(buf, size, "%lld", (long long)s[0]);
    else snprintf(buf, size, "%lldx%lldx%lld", (long long)s[0], (long long)s[1], (long long)s[2]);
}

/* Sets nd's input and output shapes from its source s; NM_SHAPE naming both nodes. */
static nm_status infer_shape(nm_node *nd, const nm_node *s) {
    char gave[64];
    shape_str(s->shape, gave, sizeof gave);
    memcpy(nd->in_shape, s->shape, sizeof nd->in_shape);
    const int64_t n = s->n_out;
    switch (nd->kind) {
    case NM_NODE_OUTPUT:
        nd->n_in = nd->n_out = n;
        memcpy(nd->shape, s->shape, sizeof nd->shape);
        return NM_OK;
    case NM_NODE_FLATTEN:
        nd->n_in = nd->n_out = n;
        nd->shape[0] = n;
        nd->shape[1] = nd->shape[2] = 1;
        return NM_OK;
    case NM_NODE_CONV:
    case NM_NODE_SUMPOOL:
    case NM_NODE_AVGPOOL: {
        nm_conv_geom *cg = &nd->conv;
        const int conv = nd->kind == NM_NODE_CONV;
        if (conv && s->shape[0] != cg->c_in)
            return nm__error(NM_SHAPE, "node '%s' (Conv) expects %lld input channels but '%s' (%s) gives %s", nd->name,
                             (long long)cg->c_in, s->name, nm_node_kind_name(s->kind), gave);
        if (conv && (nd->flags & NM_NODE_CONV1D) && s->shape[1] != 1)
            return nm__error(NM_SHAPE, "node '%s' (Conv1d) expects (channels, 1, length) input but '%s' (%s) gives %s",
                             nd->name, s->name, nm_node_kind_name(s->kind), gave);
        nm_status rc = conv ? nm_conv_geom_init(cg, cg->c_in, s->shape[1], s->shape[2], cg->c_out, cg->kh, cg->kw, cg->sh,
                                                cg->sw, cg->ph, cg->pw, cg->dh, cg->dw, cg->groups)
                            : nm_pool_geom_init(cg, s->shape[0], s->shape[1], s->shape[2], cg->kh, cg->kw, cg->sh, cg->sw,
                                                cg->ph, cg->pw);
        if (rc)
            return nm__error(NM_SHAPE, "node '%s' (%s) on input %s from '%s': %s", nd->name, nm_node_kind_name(nd->kind),
                             gave, s->name, nm_errmsg());
        nd->shape[0] = cg->c_out;
        nd->shape[1] = cg->h_out;
        nd->shape[2] = cg->w_out;
        nd->n_in = n;
        nd->n_out = cg->c_out * cg->h_out * cg->w_out;
        return NM_OK;
    }
    case NM_NODE_AFFINE:
    case NM_NODE_LINEAR:
        if (nd->n_in != n) break;
        return NM_OK;   /* any input shape of the right size: the data are flat */
    default:            /* elementwise nodes keep the shape */
        if (nd->n_in != n) break;
        memcpy(nd->shape, s->shape, sizeof nd->shape);
        return NM_OK;
    }
    return nm__error(NM_SHAPE, "node '%s' (%s) expects %lld inputs but '%s' (%s) gives %s", nd->name,
                     nm_node_kind_name(nd->kind), (long long)nd->n_in, s->name, nm_node_kind_name(s->kind), gave);
}

nm_status nm_graph_compile(nm_graph *g) {
    if (g->compiled) return NM_OK;
    int n = g->n, in_id = -1, out_id = -1;
    int *consumer = NULL, *order = NULL;
    nm_node *sorted = NULL;
    int **sdel = NULL;
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
        if ((nd->flags & NM_NODE_LEARN_NEURON) && nd->rec >= 0)
            return nm__error(NM_UNSUPPORTED, "population '%s': learnable time constants with a recurrent connection are not supported", nd->name);
    }
    if (in_id < 0) return nm__error(NM_INVAL, "graph has no Input node");
    if (out_id < 0) return nm__error(NM_INVAL, "graph has no Output node");

    consumer = malloc(sizeof(int) * n);
    order = malloc(sizeof(int) * n);
    sorted = malloc(sizeof(nm_node) * n);
    sdel = calloc(n, sizeof(int *));
    if (!consumer || !order || !sorted || !sdel) { rc = nm__error(NM_NOMEM, "out of memory compiling a graph"); goto done; }
    for (int i = 0; i < n; i++) consumer[i] = -1;
    for (int i = 0; i < n; i++) {
        int s = g->nodes[i].src;
        if (s < 0 || (g->nodes[i].flags & NM_NODE_RECURRENT)) continue;
        if (consumer[s] >= 0) {
            rc = nm__error(NM_UNSUPPORTED, "node '%s' feeds both '%s' and '%s' (branching graphs are not supported yet)",
                           g->nodes[s].name, g->nodes[consumer[s]].name, g->nodes[i].name);
            goto done;
        }
        consumer[s] = i;
    }
    /* Walk the chain from the input; a recurrent Affine follows its population. Every node
    ** must be reached exactly once. */
    int len = 0;
    for (int cur = in_id; cur >= 0; cur = consumer[cur]) {
        if (len >= n) { rc = nm__error(NM_INVAL, "graph has a cycle through node '%s'", g->nodes[cur].name); goto done; }
        order[len++] = cur;
        if (g->nodes[cur].rec >= 0 && !(g->nodes[cur].flags & NM_NODE_RECURRENT) && len < n) order[len++] = g->nodes[cur].rec;
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

    /* Renumber in execution order and infer shapes along every edge. */
    int *newid = consumer;   /* reuse: old id -> new id */
    for (int j = 0; j < n; j++) newid[order[j]] = j;
    for (int j = 0; j < n; j++) {
        sorted[j] = g->nodes[order[j]];
        sdel[j] = g->delays[order[j]];
        if (sorted[j].src >= 0) sorted[j].src = newid[sorted[j].src];
        if (sorted[j].rec >= 0) sorted[j].rec = newid[sorted[j].rec];
    }
    for (int j = 1; j < n; j++) {
        nm_node *nd = &sorted[j];
        if (nd->flags & NM_NODE_RECURRENT) {
            memcpy(nd->in_shape, sorted[nd->src].shape, sizeof nd->in_shape);
            continue;
        }
        if ((rc = infer_shape(nd, &sorted[nd->src]))) goto done;
    }
    if (!nm_node_kind_neuron(sorted[sorted[n - 1].src].kind)) {
        rc = nm__error(NM_INVAL, "the Output node '%s' must read a neuron population, not '%s' (%s)", sorted[n - 1].name,
                       sorted[sorted[n - 1].src].name, nm_node_kind_name(sorted[sorted[n - 1].src].kind));
        goto done;
    }

    /* Lay out the parameter block: weights and biases, then the undecayed parameters. */
    int64_t off = 0;
    for (int j = 0; j < n; j++) {
        nm_node *nd = &sorted[j];
        if (nd->kind == NM_NODE_AFFINE || nd->kind == NM_NODE_LINEAR) {
            nd->w_off = off;
            off += nm_pad16(nd->n_out * nd->n_in);
            if (nd->kind == NM_NODE_AFFINE) { nd->b_off = off; off += nm_pad16(nd->n_out); }
        } else if (nd->kind == NM_NODE_CONV) {
            nd->w_off = off;
            off += nm_pad16(nm_conv_weight_count(&nd->conv));
            nd->b_off = off;
            off += nm_pad16(nd->conv.c_out);
        }
    }
    const int64_t n_decay = off;
    for (int j = 0; j < n; j++) {
        nm_node *nd = &sorted[j];
        if (nd->kind == NM_NODE_SCALE) { nd->w_off = off; off += nm_pad16(nd->n_out); }
        if (nd->flags & NM_NODE_LEARN_NEURON) { nd->p_off = off; off += 2 * nm_pad16(nd->n_out); }
    }
    int64_t n_consts = 0;
    for (int j = 0; j < n; j++)
        if (sorted[j].kind == NM_NODE_DELAY) { sorted[j].c_off = n_consts; n_consts += nm_pad16(sorted[j].n_out); }
    float *params = off ? nm_alloc(sizeof(float) * off) : NULL;
    float *consts = n_consts ? nm_alloc(sizeof(float) * n_consts) : NULL;
    if ((off && !params) || (n_consts && !consts)) {
        nm_free(params);
        nm_free(consts);
        rc = nm__error(NM_NOMEM, "out of memory for %lld parameters", (long long)off);
        goto done;
    }
    for (int j = 0; j < n; j++)
        if (sorted[j].kind == NM_NODE_DELAY)
            for (int64_t i = 0; i < sorted[j].n_out; i++) consts[sorted[j].c_off + i] = (float)sdel[j][i];

    memcpy(g->nodes, sorted, sizeof(nm_node) * n);
    memcpy(g->delays, sdel, sizeof(int *) * n);
    nm_free(g->params);
    nm_free(g->consts);
    g->params = params;
    g->n_params = off;
    g->n_decay = n_decay;
    g->consts = consts;
    g->n_consts = n_consts;
    g->compiled = 1;
done:
    free(consumer);
    free(order);
    free(sorted);
    free(sdel);
    return rc;
}

int nm_graph_n_nodes(const nm_graph *g) { return g->n; }
const nm_node *nm_graph_node(const nm_graph *g, int id) { return (id >= 0 && id < g->n) ? &g->nodes[id] : NULL; }
int64_t nm_graph_n_params(const nm_graph *g) { return g->n_params; }
int64_t nm_graph_n_decay_params(const nm_graph *g) { return g->n_decay; }
float *nm_graph_params(nm_graph *g) { return g->params; }
const float *nm_graph_params_const(const nm_graph *g) { return g->params; }
const float *nm_graph_consts(const nm_graph *g) { return g->consts; }
int64_t nm_graph_n_consts(const nm_graph *g) { return g->n_consts; }
int64_t nm_graph_input_size(const nm_graph *g) { return g->n ? g->nodes[0].n_out : 0; }
int64_t nm_graph_output_size(const nm_graph *g) { return g->n ? g->nodes[g->n - 1].n_out : 0; }
int nm_graph_readout(const nm_graph *g) { return g->n ? g->nodes[g->n - 1].src : -1; }

int nm_graph_data_node(const nm_graph *g, int j) {
    while (g->nodes[j].kind == NM_NODE_FLATTEN || g->nodes[j].kind == NM_NODE_OUTPUT) j = g->nodes[j].src;
    return j;
}

int nm_graph_find(const nm_graph *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

void nm_graph_project(nm_graph *g, float dt_min) {
    for (int j = 0; j < g->n; j++) {
        const nm_node *nd = &g->nodes[j];
        if (!(nd->flags & NM_NODE_LEARN_NEURON)) continue;
        float *tau = g->params + nd->p_off, *th = tau + nm_pad16(nd->n_out);
        const float th_min = nd->lif.v_reset + 1e-3f;
        for (int64_t i = 0; i < nd->n_out; i++) {
            if (!(tau[i] >= dt_min)) tau[i] = dt_min;
            if (!(th[i] >= th_min)) th[i] = th_min;
        }
    }
}

static void uniform_fill(nm_rng *r, float *x, int64_t n, float bound) {
    for (int64_t i = 0; i < n; i++) x[i] = bound * (2.0f * nm_rng_uniform(r) - 1.0f);
}

void nm_graph_init_params(nm_graph *g, uint64_t seed, float gain) {
    NM_ASSERT(g->compiled);
    for (int j = 0; j < g->n; j++) {
        const nm_node *nd = &g->nodes[j];
        nm_rng r;
        nm_rng_init(&r, seed, 0x6d6f64656cull ^ (uint64_t)j);   /* stream per node */
        float *p = g->params;
        if (nd->kind == NM_NODE_AFFINE || nd->kind == NM_NODE_LINEAR) {
            float bound = gain / sqrtf((float)nd->n_in);
            uniform_fill(&r, p + nd->w_off, nd->n_out * nd->n_in, bound);
            if (nd->b_off >= 0) uniform_fill(&r, p + nd->b_off, nd->n_out, bound);
        } else if (nd->kind == NM_NODE_CONV) {
            const nm_conv_geom *cg = &nd->conv;
            float bound = gain / sqrtf((float)(cg->c_in / cg->groups * cg->kh * cg->kw));
            uniform_fill(&r, p + nd->w_off, nm_conv_weight_count(cg), bound);
            uniform_fill(&r, p + nd->b_off, cg->c_out, bound);
        } else if (nd->kind == NM_NODE_SCALE) {
            for (int64_t i = 0; i < nd->n_out; i++) p[nd->w_off + i] = 1.0f;
        }
        if (nd->flags & NM_NODE_LEARN_NEURON) {
            float *tau = p + nd->p_off, *th = tau + nm_pad16(nd->n_out);
            for (int64_t i = 0; i < nd->n_out; i++) { tau[i] = nd->lif.tau; th[i] = nd->lif.v_threshold; }
        }
    }
}

nm_status nm_graph_clone(const nm_graph *g, nm_graph **out) {
    NM_ASSERT(g->compiled);
    nm_graph *c = calloc(1, sizeof *c);
    if (!c) return nm__error(NM_NOMEM, "out of memory cloning a graph");
    int cap = g->n ? g->n : 1;
    c->nodes = malloc(sizeof(nm_node) * cap);
    c->delays = calloc(cap, sizeof(int *));
    c->params = g->n_params ? nm_alloc(sizeof(float) * g->n_params) : NULL;
    c->consts = g->n_consts ? nm_alloc(sizeof(float) * g->n_consts) : NULL;
    c->n = c->cap = g->n;   /* set now so destroy frees what was copied */
    int ok = c->nodes && c->delays && (!g->n_params || c->params) && (!g->n_consts || c->consts);
    for (int j = 0; ok && j < g->n; j++)
        if (g->delays[j]) {
            c->delays[j] = malloc(sizeof(int) * g->nodes[j].n_out);
            if (!c->delays[j]) ok = 0;
            else memcpy(c->delays[j], g->delays[j], sizeof(int) * g->nodes[j].n_out);
        }
    if (!ok) {
        nm_graph_destroy(c);
        return nm__error(NM_NOMEM, "out of memory cloning a graph");
    }
    memcpy(c->nodes, g->nodes, sizeof(nm_node) * g->n);
    if (g->n_params) memcpy(c->params, g->params, sizeof(float) * g->n_params);
    if (g->n_consts) memcpy(c->consts, g->consts, sizeof(float) * g->n_consts);
    c->n_params = g->n_params;
    c->n_decay = g->n_decay;
    c->n_consts = g->n_consts;
    c->compiled = 1;
    *out = c;
    return NM_OK;
}
