/*
** The model file (.nmm).
**
** Layout (little-endian):
**   "NMMODEL2"  u32 n_nodes  i64 n_params  i64 n_consts
**   n_nodes x node record (see put_node: kind, name, sizes, shape, edges, flags, the
**             layer geometry and every neuron model's parameters)
**   f32 params[n_params]   f32 consts[n_consts]
**   u32 crc32 of all bytes above
**
** Reading rebuilds the graph through the public API, so every check of a hand-built graph
** applies, then requires the same parameter layout.
*/
#include "model_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char MODEL_MAGIC[8] = {'N', 'M', 'M', 'O', 'D', 'E', 'L', '2'};

#define PUT(x) if ((rc = nm_stream_put(s, &(x), sizeof(x)))) return rc;
#define GET(x) if ((rc = nm_stream_get(s, &(x), sizeof(x), "a node"))) return rc;

/* The fields of a node in file order; one macro drives both directions. */
#define NODE_FIELDS(F)                                                                         \
    F(nd->n_in) F(nd->n_out) F(nd->shape[0]) F(nd->shape[1]) F(nd->shape[2]) F(nd->c_off)      \
    F(c->c_in) F(c->c_out) F(c->kh) F(c->kw) F(c->sh) F(c->sw) F(c->ph) F(c->pw) F(c->dh)       \
    F(c->dw) F(c->groups)                                                                      \
    F(nd->lif.tau) F(nd->lif.r) F(nd->lif.v_leak) F(nd->lif.v_threshold) F(nd->lif.v_reset)    \
    F(nd->li.tau) F(nd->li.r) F(nd->li.v_leak)                                                 \
    F(nd->cuba.tau_syn) F(nd->cuba.tau_mem) F(nd->cuba.r) F(nd->cuba.w_in) F(nd->cuba.v_leak)  \
    F(nd->cuba.v_threshold) F(nd->cuba.v_reset) F(nd->cuba.t_ref)                              \
    F(nd->ifp.r) F(nd->ifp.v_threshold) F(nd->ifp.v_reset)                                     \
    F(nd->alif.tau_mem) F(nd->alif.r) F(nd->alif.v_leak) F(nd->alif.v_threshold)               \
    F(nd->alif.v_reset) F(nd->alif.tau_adapt) F(nd->alif.beta_a) F(nd->alif.t_ref)

static nm_status put_node(nm_stream *s, const nm_node *nd) {
    nm_status rc;
    const nm_conv_geom *c = &nd->conv;
    uint32_t kind = nd->kind;
    int32_t src = nd->src, rec = nd->rec, flags = nd->flags;
    uint32_t resets[4] = {nd->lif.reset, nd->cuba.reset, nd->ifp.reset, nd->alif.reset};
    PUT(kind)
    if ((rc = nm_stream_put(s, nd->name, NM_NAME_MAX))) return rc;
    PUT(src) PUT(rec) PUT(flags) PUT(resets)
    NODE_FIELDS(PUT)
    return NM_OK;
}

static nm_status get_node(nm_stream *s, nm_node *nd) {
    nm_status rc;
    nm_conv_geom *c = &nd->conv;
    uint32_t kind, resets[4];
    int32_t src, rec, flags;
    GET(kind)
    if ((rc = nm_stream_get(s, nd->name, NM_NAME_MAX, "a node name"))) return rc;
    GET(src) GET(rec) GET(flags) GET(resets)
    NODE_FIELDS(GET)
    if (kind >= NM_NODE_KIND_COUNT) return nm__error(NM_FORMAT, "'%s': a node has unknown kind %u", s->name, kind);
    if (!memchr(nd->name, 0, NM_NAME_MAX)) return nm__error(NM_FORMAT, "'%s': a node has an unterminated name", s->name);
    for (int i = 0; i < 4; i++)
        if (resets[i] > NM_RESET_NONE) return nm__error(NM_FORMAT, "'%s': node '%s' has unknown reset mode %u", s->name, nd->name, resets[i]);
    nd->kind = (nm_node_kind)kind;
    nd->src = src;
    nd->rec = rec;
    nd->flags = flags;
    nd->lif.reset = (nm_reset)resets[0];
    nd->cuba.reset = (nm_reset)resets[1];
    nd->ifp.reset = (nm_reset)resets[2];
    nd->alif.reset = (nm_reset)resets[3];
    return NM_OK;
}

nm_status nm_graph_write(const nm_graph *g, FILE *f) {
    NM_ASSERT(g->compiled);
    nm_stream st, *s = &st;
    nm_stream_init(s, f, "model");
    nm_status rc;
    if ((rc = nm_stream_put(s, MODEL_MAGIC, 8))) return rc;
    uint32_t n = (uint32_t)g->n;
    int64_t np = g->n_params, nc = g->n_consts;
    PUT(n) PUT(np) PUT(nc)
    for (int j = 0; j < g->n; j++)
        if ((rc = put_node(s, &g->nodes[j]))) return rc;
    if (np && (rc = nm_stream_put(s, g->params, sizeof(float) * np))) return rc;
    if (nc && (rc = nm_stream_put(s, g->consts, sizeof(float) * nc))) return rc;
    return nm_stream_put_crc(s);
}

/* a * b <= limit, without overflow, for a >= 0 and b > 0 (1 if b is 0 and a is 0). */
static int fits(int64_t a, int64_t b, int64_t limit) {
    if (a < 0 || b < 0) return 0;
    if (a == 0 || b == 0) return 1;
    return a <= limit / b;
}

/* Adds table node j to g through the public API. */
static nm_status rebuild_node(nm_graph *g, const nm_node *nd, const float *consts, int64_t nc, int *delays) {
    const nm_conv_geom *c = &nd->conv;
    switch (nd->kind) {
    case NM_NODE_INPUT:   return nm_graph_add_input_shaped(g, nd->name, nd->shape[0], nd->shape[1], nd->shape[2], NULL);
    case NM_NODE_OUTPUT:  return nm_graph_add_output(g, nd->name, NULL);
    case NM_NODE_AFFINE:
        if (nd->flags & NM_NODE_RECURRENT) return nm_graph_add_recurrent(g, nd->name, nd->rec, NULL);
        return nm_graph_add_affine(g, nd->name, nd->n_in, nd->n_out, NULL);
    case NM_NODE_LINEAR:  return nm_graph_add_linear(g, nd->name, nd->n_in, nd->n_out, NULL);
    case NM_NODE_CONV:
        if (nd->flags & NM_NODE_CONV1D)
            return nm_graph_add_conv1d(g, nd->name, c->c_in, c->c_out, c->kw, c->sw, c->pw, c->dw, c->groups, NULL);
        return nm_graph_add_conv2d(g, nd->name, c->c_in, c->c_out, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw,
                                   c->groups, NULL);
    case NM_NODE_SUMPOOL:
    case NM_NODE_AVGPOOL:
        return nm_graph_add_pool(g, nd->name, nd->kind, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, NULL);
    case NM_NODE_FLATTEN: return nm_graph_add_flatten(g, nd->name, NULL);
    case NM_NODE_SCALE:   return nm_graph_add_scale(g, nd->name, nd->n_out, NULL);
    case NM_NODE_DELAY:
        if (nd->n_out <= 0 || nd->n_out > NM_MAX_SIZE || nd->c_off < 0 || nd->c_off > nc - nd->n_out)
            return nm__error(NM_FORMAT, "Delay node '%s' has its delays outside the constants", nd->name);
        for (int64_t i = 0; i < nd->n_out; i++) {
            float d = consts[nd->c_off + i];
            if (!(d >= 0 && d <= NM_MAX_DELAY) || d != floorf(d))
                return nm__error(NM_FORMAT, "Delay node '%s' has an invalid delay %g", nd->name, (double)d);
            delays[i] = (int)d;
        }
        return nm_graph_add_delay(g, nd->name, nd->n_out, delays, NULL);
    case NM_NODE_LIF: {
        int id;
        nm_status rc = nm_graph_add_lif(g, nd->name, nd->n_out, &nd->lif, &id);
        if (!rc && (nd->flags & NM_NODE_LEARN_NEURON)) rc = nm_graph_set_learn_neuron(g, id);
        return rc;
    }
    case NM_NODE_LI:      return nm_graph_add_li(g, nd->name, nd->n_out, &nd->li, NULL);
    case NM_NODE_CUBALIF: return nm_graph_add_cuba_lif(g, nd->name, nd->n_out, &nd->cuba, NULL);
    case NM_NODE_CUBALI:  return nm_graph_add_cuba_li(g, nd->name, nd->n_out, &nd->cuba, NULL);
    case NM_NODE_IF:      return nm_graph_add_if(g, nd->name, nd->n_out, &nd->ifp, NULL);
    case NM_NODE_ALIF:    return nm_graph_add_alif(g, nd->name, nd->n_out, &nd->alif, NULL);
    }
    return nm__error(NM_FORMAT, "node '%s' has an unknown kind", nd->name);
}

nm_status nm_graph_read(FILE *f, const char *fname, nm_graph **out) {
    nm_stream st, *s = &st;
    nm_stream_init(s, f, fname ? fname : "model");
    nm_status rc;
    nm_graph *g = NULL;
    nm_node *tab = NULL;
    float *params = NULL, *consts = NULL;
    int *delays = NULL;
    char magic[8];
    uint32_t n;
    int64_t np, nc;

    if ((rc = nm_stream_get(s, magic, 8, "the magic number"))) return rc;
    if (!memcmp(magic, "NMMODEL", 7) && magic[7] != MODEL_MAGIC[7])
        return nm__error(NM_FORMAT, "'%s' is a neuromorph model of format version %c; this build reads version %c", s->name,
                         magic[7], MODEL_MAGIC[7]);
    if (memcmp(magic, MODEL_MAGIC, 8))
        return nm__error(NM_FORMAT, "'%s' is not a neuromorph model file (bad magic number)", s->name);
    if ((rc = nm_stream_get(s, &n, sizeof n, "the node count")) || (rc = nm_stream_get(s, &np, sizeof np, "the parameter count")) ||
        (rc = nm_stream_get(s, &nc, sizeof nc, "the constant count")))
        return rc;
    if (n < 2 || n > NM_MAX_NODES) return nm__error(NM_FORMAT, "'%s': node count %u is out of range", s->name, n);
    if (np < 0 || np > ((int64_t)1 << 32)) return nm__error(NM_FORMAT, "'%s': parameter count %lld is out of range", s->name, (long long)np);
    if (nc < 0 || nc > ((int64_t)1 << 32)) return nm__error(NM_FORMAT, "'%s': constant count %lld is out of range", s->name, (long long)nc);
    tab = calloc(n, sizeof *tab);
    if (!tab) return nm__error(NM_NOMEM, "out of memory reading '%s'", s->name);
    for (uint32_t j = 0; j < n; j++) {
        if ((rc = get_node(s, &tab[j]))) goto fail;
        const nm_node *nd = &tab[j];
        if (nd->src < -1 || nd->src >= (int32_t)n || nd->src == (int32_t)j || nd->rec < -1 || nd->rec >= (int32_t)n) {
            rc = nm__error(NM_FORMAT, "'%s': node '%s' has an invalid edge", s->name, nd->name);
            goto fail;
        }
        /* Every tensor must fit in the parameters the file declares (checked against its
        ** size below), so a forged node cannot make compile allocate more than the file holds. */
        int ok = 1;
        const nm_conv_geom *c = &nd->conv;
        if (nd->kind == NM_NODE_AFFINE || nd->kind == NM_NODE_LINEAR)
            ok = fits(nd->n_in, nd->n_out, np);
        else if (nd->kind == NM_NODE_CONV)
            ok = c->groups > 0 && c->kh > 0 && c->kw > 0 && fits(c->c_in / c->groups, c->c_out, np) &&
                 fits((int64_t)c->kh * c->kw, c->c_out * (c->c_in / c->groups), np);
        else if (nd->kind == NM_NODE_SCALE || (nd->flags & NM_NODE_LEARN_NEURON))
            ok = nd->n_out <= np;
        if (!ok) {
            rc = nm__error(NM_FORMAT, "'%s': node '%s' needs more parameters than the file holds", s->name, nd->name);
            goto fail;
        }
        if ((nd->flags & NM_NODE_RECURRENT) && (nd->rec < 0 || nd->rec >= (int32_t)j)) {
            rc = nm__error(NM_FORMAT, "'%s': recurrent node '%s' does not follow its population", s->name, nd->name);
            goto fail;
        }
    }
    /* Parameters and constants are read to memory before the graph is rebuilt: Delay nodes
    ** take their delays from the constants. The counts come from a file not yet verified:
    ** where the stream can seek, allocate only what it actually holds. */
    {
        long here = ftell(f);
        if (here >= 0 && !fseek(f, 0, SEEK_END)) {
            long size = ftell(f);
            if (fseek(f, here, SEEK_SET)) { rc = nm__error(NM_IO, "cannot seek in '%s'", s->name); goto fail; }
            if (size >= here && (uint64_t)(np + nc) * 4 + 4 > (uint64_t)(size - here)) {
                rc = nm__error(NM_FORMAT, "'%s' is truncated: it declares %lld parameters and %lld constants", s->name,
                               (long long)np, (long long)nc);
                goto fail;
            }
        }
    }
    if (np && !(params = nm_alloc(sizeof(float) * np))) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", s->name); goto fail; }
    if (np && (rc = nm_stream_get(s, params, sizeof(float) * np, "the parameters"))) goto fail;
    if (nc && !(consts = nm_alloc(sizeof(float) * nc))) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", s->name); goto fail; }
    if (nc && (rc = nm_stream_get(s, consts, sizeof(float) * nc, "the constants"))) goto fail;
    if ((rc = nm_stream_check_crc(s))) goto fail;

    if ((rc = nm_graph_create(&g))) goto fail;
    for (uint32_t j = 0; j < n; j++) {
        if (tab[j].kind == NM_NODE_DELAY && tab[j].n_out > 0 && tab[j].n_out <= nc) {
            free(delays);
            if (!(delays = malloc(sizeof(int) * tab[j].n_out))) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", s->name); goto fail; }
        }
        if ((rc = rebuild_node(g, &tab[j], consts, nc, delays))) { rc = nm__error(NM_FORMAT, "'%s': %s", s->name, nm_errmsg()); goto fail; }
    }
    for (uint32_t j = 0; j < n; j++)
        if (tab[j].src >= 0 && !(tab[j].flags & NM_NODE_RECURRENT) && (rc = nm_graph_connect(g, tab[j].src, (int)j))) {
            rc = nm__error(NM_FORMAT, "'%s': %s", s->name, nm_errmsg());
            goto fail;
        }
    if ((rc = nm_graph_compile(g))) { rc = nm__error(NM_FORMAT, "'%s': %s", s->name, nm_errmsg()); goto fail; }
    if (g->n_params != np || g->n_consts != nc) {
        rc = nm__error(NM_FORMAT, "'%s' stores %lld parameters and %lld constants but its graph needs %lld and %lld", s->name,
                       (long long)np, (long long)nc, (long long)g->n_params, (long long)g->n_consts);
        goto fail;
    }
    for (int64_t i = 0; i < np; i++)
        if (!isfinite(params[i])) { rc = nm__error(NM_FORMAT, "'%s': parameter %lld is not finite", s->name, (long long)i); goto fail; }
    if (np) memcpy(g->params, params, sizeof(float) * np);
    for (int j = 0; j < g->n; j++) {
        const nm_node *nd = &g->nodes[j];
        if (!(nd->flags & NM_NODE_LEARN_NEURON)) continue;
        const float *tau = g->params + nd->p_off, *th = tau + nm_pad16(nd->n_out);
        for (int64_t i = 0; i < nd->n_out; i++)
            if (!(tau[i] > 0) || !(th[i] > nd->lif.v_reset)) {
                rc = nm__error(NM_FORMAT, "'%s': neuron %lld of '%s' has tau %g and threshold %g (need tau > 0, threshold > reset)",
                               s->name, (long long)i, nd->name, (double)tau[i], (double)th[i]);
                goto fail;
            }
    }
    free(tab);
    free(delays);
    nm_free(params);
    nm_free(consts);
    *out = g;
    return NM_OK;
fail:
    free(tab);
    free(delays);
    nm_free(params);
    nm_free(consts);
    nm_graph_destroy(g);
    return rc;
}

static nm_status write_model(FILE *f, void *user) { return nm_graph_write(user, f); }

/* A ".nir" name (or, on load, the HDF5 signature) selects NIR with the default options. */
static int nir_name(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && !strcmp(path + n - 4, ".nir");
}

nm_status nm_graph_save(const nm_graph *g, const char *path) {
    if (nir_name(path)) {
        nm_nir_export_options o;
        nm_nir_export_options_default(&o);
        return nm_nir_export(g, &o, path, NULL);
    }
    return nm_file_write_atomic(path, write_model, (void *)g);
}

nm_status nm_graph_load(const char *path, nm_graph **out) {
    if (nm_nir_is_hdf5(path) || nir_name(path)) {
        nm_nir_options o;
        nm_nir_options_default(&o);
        return nm_nir_import(path, &o, out, NULL);
    }
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
