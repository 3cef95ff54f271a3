/*
** net.c: a network as populations and projections, the form the mapper reads.
**
** A graph's weight nodes become projections between the populations around them. What
** lies between (Flatten, pooling, Scale, Delay, the Output) moves or sums values but adds
** no neurons, so it is folded into the projection: an Affine or Linear on the way makes
** every target read every source (dense); convolutions and pools give each target neuron
** its receptive field in the source population, found by walking the chain backwards
** element by element.
*/
#include <neuromorph/map.h>

#include <stdlib.h>
#include <string.h>

struct nm_map_net {
    int      n_pops, cap_pops;
    int64_t *size;
    char   (*name)[NM_NAME_MAX];
    int     *node;
    int      n_projs, cap_projs;
    int     *src, *dst;
    int64_t **ptr;    /* sparse: size(dst) + 1 offsets; NULL for dense */
    int32_t **idx;
};

static nm_status grow_pops(nm_map_net *n) {
    if (n->n_pops < n->cap_pops) return NM_OK;
    int cap = n->cap_pops ? 2 * n->cap_pops : 8;
    int64_t *size = realloc(n->size, sizeof *size * cap);
    if (size) n->size = size;
    char(*name)[NM_NAME_MAX] = realloc(n->name, sizeof *name * cap);
    if (name) n->name = name;
    int *node = realloc(n->node, sizeof *node * cap);
    if (node) n->node = node;
    if (!size || !name || !node) return nm__error(NM_NOMEM, "out of memory for the network's populations");
    n->cap_pops = cap;
    return NM_OK;
}

static nm_status grow_projs(nm_map_net *n) {
    if (n->n_projs < n->cap_projs) return NM_OK;
    int cap = n->cap_projs ? 2 * n->cap_projs : 8;
    int *src = realloc(n->src, sizeof *src * cap);
    if (src) n->src = src;
    int *dst = realloc(n->dst, sizeof *dst * cap);
    if (dst) n->dst = dst;
    int64_t **ptr = realloc(n->ptr, sizeof *ptr * cap);
    if (ptr) n->ptr = ptr;
    int32_t **idx = realloc(n->idx, sizeof *idx * cap);
    if (idx) n->idx = idx;
    if (!src || !dst || !ptr || !idx) return nm__error(NM_NOMEM, "out of memory for the network's projections");
    n->cap_projs = cap;
    return NM_OK;
}

static nm_status add_pop(nm_map_net *n, const char *name, int64_t size, int node, int *id) {
    nm_status rc;
    if (size < 1 || size > INT32_MAX)
        return nm__error(NM_INVAL, "population '%s' must have 1..%d neurons, not %lld", name ? name : "", INT32_MAX,
                         (long long)size);
    if ((rc = grow_pops(n))) return rc;
    n->size[n->n_pops] = size;
    snprintf(n->name[n->n_pops], NM_NAME_MAX, "%s", name ? name : "");
    n->node[n->n_pops] = node;
    if (id) *id = n->n_pops;
    n->n_pops++;
    return NM_OK;
}

nm_status nm_map_net_create(int64_t n_input, nm_map_net **out) {
    nm_map_net *n = calloc(1, sizeof *n);
    if (!n) return nm__error(NM_NOMEM, "out of memory for a network");
    nm_status rc = add_pop(n, "input", n_input, 0, NULL);
    if (rc) {
        nm_map_net_destroy(n);
        return rc;
    }
    *out = n;
    return NM_OK;
}

void nm_map_net_destroy(nm_map_net *n) {
    if (!n) return;
    for (int k = 0; k < n->n_projs; k++) {
        free(n->ptr[k]);
        free(n->idx[k]);
    }
    free(n->size);
    free(n->name);
    free(n->node);
    free(n->src);
    free(n->dst);
    free(n->ptr);
    free(n->idx);
    free(n);
}

nm_status nm_map_net_add_pop(nm_map_net *n, const char *name, int64_t size, int *id) {
    return add_pop(n, name, size, -1, id);
}

/* A dense projection already covers every pair: another projection between the same
** populations would only count those inputs twice. */
static nm_status check_pair(const nm_map_net *n, int src, int dst, int dense) {
    if (src < 0 || src >= n->n_pops || dst < 1 || dst >= n->n_pops)
        return nm__error(NM_INVAL, "projection %d -> %d names a missing population (the input, 0, is never a target)",
                         src, dst);
    for (int k = 0; k < n->n_projs; k++)
        if (n->src[k] == src && n->dst[k] == dst && (dense || !n->ptr[k]))
            return nm__error(NM_INVAL, "projection %d -> %d: the populations are already joined%s", src, dst,
                             n->ptr[k] ? "" : " densely");
    return NM_OK;
}

nm_status nm_map_net_add_dense(nm_map_net *n, int src, int dst) {
    nm_status rc;
    if ((rc = check_pair(n, src, dst, 1)) || (rc = grow_projs(n))) return rc;
    n->src[n->n_projs] = src;
    n->dst[n->n_projs] = dst;
    n->ptr[n->n_projs] = NULL;
    n->idx[n->n_projs] = NULL;
    n->n_projs++;
    return NM_OK;
}

nm_status nm_map_net_add_sparse(nm_map_net *n, int src, int dst, const int64_t *ptr, const int32_t *idx) {
    nm_status rc;
    if ((rc = check_pair(n, src, dst, 0))) return rc;
    const int64_t nd = n->size[dst], ns = n->size[src];
    if (ptr[0] != 0) return nm__error(NM_INVAL, "sparse projection %d -> %d: ptr[0] must be 0", src, dst);
    for (int64_t i = 0; i < nd; i++)
        if (ptr[i + 1] < ptr[i])
            return nm__error(NM_INVAL, "sparse projection %d -> %d: ptr decreases at neuron %lld", src, dst, (long long)i);
    const int64_t nnz = ptr[nd];
    int32_t *seen = calloc((size_t)ns, sizeof *seen);
    int64_t *p = malloc(sizeof *p * (size_t)(nd + 1));
    int32_t *x = malloc(sizeof *x * (size_t)(nnz ? nnz : 1));
    if (!seen || !p || !x) {
        free(seen), free(p), free(x);
        return nm__error(NM_NOMEM, "out of memory for a sparse projection");
    }
    /* indices in range and not repeated within one neuron: seen[j] holds the last neuron + 1 */
    for (int64_t i = 0; i < nd; i++)
        for (int64_t e = ptr[i]; e < ptr[i + 1]; e++) {
            int32_t j = idx[e];
            if (j < 0 || j >= ns || seen[j] == (int32_t)(i + 1)) {
                free(seen), free(p), free(x);
                return nm__error(NM_INVAL, "sparse projection %d -> %d: neuron %lld reads source %d %s", src, dst,
                                 (long long)i, (int)j, j < 0 || j >= ns ? "out of range" : "twice");
            }
            seen[j] = (int32_t)(i + 1);
        }
    free(seen);
    if ((rc = grow_projs(n))) {
        free(p), free(x);
        return rc;
    }
    memcpy(p, ptr, sizeof *p * (size_t)(nd + 1));
    if (nnz) memcpy(x, idx, sizeof *x * (size_t)nnz);
    n->src[n->n_projs] = src;
    n->dst[n->n_projs] = dst;
    n->ptr[n->n_projs] = p;
    n->idx[n->n_projs] = x;
    n->n_projs++;
    return NM_OK;
}

int         nm_map_net_n_pops(const nm_map_net *n) { return n->n_pops; }
int64_t     nm_map_net_pop_size(const nm_map_net *n, int pop) { return n->size[pop]; }
const char *nm_map_net_pop_name(const nm_map_net *n, int pop) { return n->name[pop]; }
int         nm_map_net_pop_node(const nm_map_net *n, int pop) { return n->node[pop]; }
int         nm_map_net_n_projs(const nm_map_net *n) { return n->n_projs; }

int nm_map_net_proj(const nm_map_net *n, int k, int *src, int *dst, const int64_t **ptr, const int32_t **idx) {
    if (src) *src = n->src[k];
    if (dst) *dst = n->dst[k];
    if (ptr) *ptr = n->ptr[k];
    if (idx) *idx = n->idx[k];
    return n->ptr[k] == NULL;
}

/* ---- from a graph ---------------------------------------------------------------------- */

static int is_pop(const nm_graph *g, int j) {
    return j == 0 || nm_node_kind_neuron(nm_graph_node(g, j)->kind);
}

static int is_weight(nm_node_kind k) {
    return k == NM_NODE_AFFINE || k == NM_NODE_LINEAR || k == NM_NODE_CONV;
}

/* The one non-recurrent node fed by j, or -1 (none, or several: not a chain). */
static int consumer(const nm_graph *g, int j) {
    int found = -1;
    for (int k = 0; k < nm_graph_n_nodes(g); k++) {
        const nm_node *nd = nm_graph_node(g, k);
        if (nd->src == j && !(nd->flags & NM_NODE_RECURRENT)) {
            if (found >= 0) return -1;
            found = k;
        }
    }
    return found;
}

/* Elements of node j's source that element e of j reads: appended to out (deduplicated
** through stamp, sized to the source's n_out, against the value `mark`). */
static void expand(const nm_node *nd, int64_t e, int32_t *stamp, int32_t mark, int64_t *out, int64_t *n_out) {
    switch (nd->kind) {
    case NM_NODE_CONV:
    case NM_NODE_SUMPOOL:
    case NM_NODE_AVGPOOL: {
        const nm_conv_geom *c = &nd->conv;
        const int64_t hw = c->h_out * c->w_out;
        const int64_t co = e / hw, oh = (e % hw) / c->w_out, ow = e % c->w_out;
        const int64_t cpg_in = c->c_in / c->groups, cpg_out = c->c_out / c->groups;
        const int64_t grp = co / cpg_out;
        for (int64_t ci = grp * cpg_in; ci < (grp + 1) * cpg_in; ci++)
            for (int a = 0; a < c->kh; a++) {
                const int64_t ih = oh * c->sh - c->ph + (int64_t)a * c->dh;
                if (ih < 0 || ih >= c->h_in) continue;
                for (int b = 0; b < c->kw; b++) {
                    const int64_t iw = ow * c->sw - c->pw + (int64_t)b * c->dw;
                    if (iw < 0 || iw >= c->w_in) continue;
                    const int64_t s = (ci * c->h_in + ih) * c->w_in + iw;
                    if (stamp[s] != mark) stamp[s] = mark, out[(*n_out)++] = s;
                }
            }
        break;
    }
    default:   /* Flatten, Output, Scale, Delay: element e reads element e */
        if (stamp[e] != mark) stamp[e] = mark, out[(*n_out)++] = e;
        break;
    }
}

/* The sparse projection of chain[0..len) (from the node after the source population to the
** weight node and on to the node before the target; chain[len - 1] feeds the target). */
static nm_status chain_sparse(const nm_graph *g, const int *chain, int len, int64_t n_dst, int64_t **ptr_out,
                              int32_t **idx_out) {
    nm_status rc = NM_OK;
    int64_t max_n = n_dst;
    for (int k = 0; k < len; k++) {
        const nm_node *nd = nm_graph_node(g, chain[k]);
        if (nd->n_in > max_n) max_n = nd->n_in;
        if (nd->n_out > max_n) max_n = nd->n_out;
    }
    int32_t **stamp = calloc((size_t)len, sizeof *stamp);
    int64_t *a = malloc(sizeof *a * (size_t)max_n), *b = malloc(sizeof *b * (size_t)max_n);
    int64_t *ptr = malloc(sizeof *ptr * (size_t)(n_dst + 1));
    int64_t cap = n_dst * 9 + 16, nnz = 0;
    int32_t *idx = malloc(sizeof *idx * (size_t)cap);
    if (!stamp || !a || !b || !ptr || !idx) { rc = nm__error(NM_NOMEM, "out of memory for a projection"); goto done; }
    for (int k = 0; k < len; k++)
        if (!(stamp[k] = calloc((size_t)nm_graph_node(g, chain[k])->n_in, sizeof **stamp))) {
            rc = nm__error(NM_NOMEM, "out of memory for a projection");
            goto done;
        }
    ptr[0] = 0;
    for (int64_t i = 0; i < n_dst; i++) {
        int64_t na = 1, nb;
        a[0] = i;
        for (int k = len - 1; k >= 0; k--) {
            const nm_node *nd = nm_graph_node(g, chain[k]);
            nb = 0;
            for (int64_t t = 0; t < na; t++) expand(nd, a[t], stamp[k], (int32_t)(i + 1), b, &nb);
            int64_t *sw = a;
            a = b, b = sw, na = nb;
        }
        if (nnz + na > cap) {
            while (nnz + na > cap) cap *= 2;
            int32_t *grown = realloc(idx, sizeof *idx * (size_t)cap);
            if (!grown) { rc = nm__error(NM_NOMEM, "out of memory for a projection"); goto done; }
            idx = grown;
        }
        for (int64_t t = 0; t < na; t++) idx[nnz++] = (int32_t)a[t];
        ptr[i + 1] = nnz;
    }
    *ptr_out = ptr, *idx_out = idx;
    ptr = NULL, idx = NULL;
done:
    if (stamp)
        for (int k = 0; k < len; k++) free(stamp[k]);
    free(stamp);
    free(a), free(b), free(ptr), free(idx);
    return rc;
}

nm_status nm_map_net_from_graph(const nm_graph *g, nm_map_net **out) {
    nm_status rc;
    const int nn = nm_graph_n_nodes(g);
    int *pop_of = malloc(sizeof *pop_of * (size_t)nn), *chain = malloc(sizeof *chain * (size_t)(nn + 1));
    nm_map_net *n = NULL;
    if (!pop_of || !chain) { rc = nm__error(NM_NOMEM, "out of memory for a network"); goto fail; }
    if ((rc = nm_map_net_create(nm_graph_input_size(g), &n))) goto fail;
    snprintf(n->name[0], NM_NAME_MAX, "%s", nm_graph_node(g, 0)->name);
    for (int j = 0; j < nn; j++) {
        pop_of[j] = j == 0 ? 0 : -1;
        const nm_node *nd = nm_graph_node(g, j);
        if (j > 0 && nm_node_kind_neuron(nd->kind) && (rc = add_pop(n, nd->name, nd->n_out, j, &pop_of[j]))) goto fail;
    }
    for (int w = 0; w < nn; w++) {
        const nm_node *wd = nm_graph_node(g, w);
        if (!is_weight(wd->kind)) continue;
        if (wd->flags & NM_NODE_RECURRENT) {
            if ((rc = nm_map_net_add_dense(n, pop_of[wd->rec], pop_of[wd->rec]))) goto fail;
            continue;
        }
        /* back to the source population: only moving nodes on the way */
        int len = 0, s = wd->src, ok = 1;
        while (s >= 0 && !is_pop(g, s)) {
            if (is_weight(nm_graph_node(g, s)->kind)) { ok = 0; break; }   /* the earlier weight node covers it */
            s = nm_graph_node(g, s)->src;
        }
        if (!ok || s < 0) continue;
        /* chain: the nodes after s up to the target, in order */
        for (int c = wd->src; c != s; c = nm_graph_node(g, c)->src) len++;
        int k = len;
        for (int c = wd->src; c != s; c = nm_graph_node(g, c)->src) chain[--k] = c;
        int dense = wd->kind != NM_NODE_CONV, d = w;
        chain[len++] = w;
        for (;;) {
            d = consumer(g, d);
            if (d < 0 || is_pop(g, d)) break;
            nm_node_kind kd = nm_graph_node(g, d)->kind;
            if (kd == NM_NODE_OUTPUT) { d = -1; break; }
            if (is_weight(kd) && kd != NM_NODE_CONV) dense = 1;
            chain[len++] = d;
        }
        if (d < 0) continue;   /* feeds no population */
        for (int t = 0; t < len && !dense; t++)
            if (nm_graph_node(g, chain[t])->kind == NM_NODE_AFFINE || nm_graph_node(g, chain[t])->kind == NM_NODE_LINEAR)
                dense = 1;
        if (dense) {
            if ((rc = nm_map_net_add_dense(n, pop_of[s], pop_of[d]))) goto fail;
        } else {
            int64_t *ptr = NULL;
            int32_t *idx = NULL;
            if ((rc = chain_sparse(g, chain, len, nm_graph_node(g, d)->n_out, &ptr, &idx))) goto fail;
            rc = nm_map_net_add_sparse(n, pop_of[s], pop_of[d], ptr, idx);
            free(ptr), free(idx);
            if (rc) goto fail;
        }
    }
    free(pop_of), free(chain);
    *out = n;
    return NM_OK;
fail:
    free(pop_of), free(chain);
    nm_map_net_destroy(n);
    return rc;
}
