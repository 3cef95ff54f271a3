/*
** Architecture strings: "784-1000-10", "1x28x28-16c5-ap2-32c5-ap2-10", "2x700-256r-20".
** The grammar is in model.h. Parsing builds the graph through the public API, so every
** check of a hand-built graph applies; errors name the token.
*/
#include "model_impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void nm_spec_options_default(nm_spec_options *o) {
    memset(o, 0, sizeof *o);
    o->neuron = NM_NODE_LIF;
    o->readout = NM_NODE_LI;
    nm_lif_params_default(&o->lif);
    nm_li_params_default(&o->li);
    nm_cuba_lif_params_default(&o->cuba);
    nm_if_params_default(&o->ifp);
    nm_alif_params_default(&o->alif);
}

/* Reads a positive decimal at *p (advancing it); 0 on error. */
static long long read_num(const char **p, long long max) {
    if (!isdigit((unsigned char)**p)) return 0;
    errno = 0;
    char *end;
    long long v = strtoll(*p, &end, 10);
    if (errno || v > max) return 0;
    *p = end;
    return v;
}

/* A layer option: a letter and a number (s2, p1, d2, g4); only padding may be 0. Returns 0
** when the number is missing or not allowed. */
static int read_option(const char **p, char *opt, long long *v) {
    *opt = *(*p)++;
    const char *start = *p;
    *v = read_num(p, 1 << 16);
    if (*v) return 1;
    return *opt == 'p' && *p > start;   /* read_num read a literal 0 */
}

typedef struct builder {
    nm_graph *g;
    const nm_spec_options *o;
    int prev, n_layer, is1d;
    int64_t shape[3];
    int flat;          /* the current output is a flat vector */
    const char *spec;
} builder;

static nm_status link(builder *b, int id) {
    nm_status rc = nm_graph_connect(b->g, b->prev, id);
    b->prev = id;
    return rc;
}

static nm_status add_population(builder *b, int64_t n, nm_node_kind kind, const char *name, int *id) {
    const nm_spec_options *o = b->o;
    switch (kind) {
    case NM_NODE_LIF:     return nm_graph_add_lif(b->g, name, n, &o->lif, id);
    case NM_NODE_LI:      return nm_graph_add_li(b->g, name, n, &o->li, id);
    case NM_NODE_CUBALIF: return nm_graph_add_cuba_lif(b->g, name, n, &o->cuba, id);
    case NM_NODE_CUBALI:  return nm_graph_add_cuba_li(b->g, name, n, &o->cuba, id);
    case NM_NODE_IF:      return nm_graph_add_if(b->g, name, n, &o->ifp, id);
    case NM_NODE_ALIF:    return nm_graph_add_alif(b->g, name, n, &o->alif, id);
    default:
        return nm__error(NM_INVAL, "%s is not a neuron population kind", nm_node_kind_name(kind));
    }
}

static const char *pop_prefix(nm_node_kind k) {
    switch (k) {
    case NM_NODE_CUBALIF: return "cuba";
    case NM_NODE_IF:      return "if";
    case NM_NODE_ALIF:    return "alif";
    default:              return "lif";
    }
}

/* A hidden population after the layer just added, with an optional recurrence. */
static nm_status hidden(builder *b, int64_t n, int recurrent) {
    char name[NM_NAME_MAX];
    int id;
    nm_status rc;
    snprintf(name, sizeof name, "%s%d", pop_prefix(b->o->neuron), b->n_layer);
    if ((rc = add_population(b, n, b->o->neuron, name, &id)) || (rc = link(b, id))) return rc;
    if (b->o->learn_neuron && (rc = nm_graph_set_learn_neuron(b->g, id))) return rc;
    if (recurrent) {
        snprintf(name, sizeof name, "rec%d", b->n_layer);
        if ((rc = nm_graph_add_recurrent(b->g, name, id, NULL))) return rc;
    }
    return NM_OK;
}

static nm_status bad_token(const builder *b, const char *tok, int len, const char *why) {
    return nm__error(NM_INVAL, "architecture '%s': layer '%.*s' %s", b->spec, len, tok, why);
}

static nm_status layer(builder *b, const char *tok, int len, int last) {
    char name[NM_NAME_MAX];
    const char *p = tok, *end = tok + len;
    int id;
    nm_status rc;
    b->n_layer++;
    if (isdigit((unsigned char)*p)) {
        long long n = read_num(&p, NM_MAX_SIZE);
        if (!n) return bad_token(b, tok, len, "has a size out of range");
        if (p == end || (*p == 'r' && p + 1 == end)) {   /* dense */
            int recurrent = p != end;
            if (!b->flat) {
                snprintf(name, sizeof name, "flatten%d", b->n_layer);
                if ((rc = nm_graph_add_flatten(b->g, name, &id)) || (rc = link(b, id))) return rc;
                b->shape[0] *= b->shape[1] * b->shape[2];
                b->shape[1] = b->shape[2] = 1;
                b->flat = 1;
            }
            snprintf(name, sizeof name, "fc%d", b->n_layer);
            if ((rc = nm_graph_add_affine(b->g, name, b->shape[0], n, &id)) || (rc = link(b, id))) return rc;
            b->shape[0] = n;
            if (last) {
                if (recurrent) return bad_token(b, tok, len, "is the readout and cannot be recurrent");
                if ((rc = add_population(b, n, b->o->readout, "readout", &id)) || (rc = link(b, id))) return rc;
                return NM_OK;
            }
            return hidden(b, n, recurrent);
        }
        if (*p != 'c') return bad_token(b, tok, len, "is not a size (N), a recurrent size (Nr) or a conv (NcK...)");
        p++;
        int k = (int)read_num(&p, 1 << 16), s = 1, pad = 0, d = 1, gr = 1, pool_k = 0;
        nm_node_kind pool_kind = NM_NODE_AVGPOOL;
        if (!k) return bad_token(b, tok, len, "needs a kernel size after 'c' (e.g. 16c5)");
        while (p < end) {
            if ((*p == 'a' || *p == 's') && p + 1 < end && p[1] == 'p') {   /* pooling before the population */
                pool_kind = *p == 's' ? NM_NODE_SUMPOOL : NM_NODE_AVGPOOL;
                p += 2;
                if (!(pool_k = (int)read_num(&p, 1 << 16))) return bad_token(b, tok, len, "needs a pool size (e.g. 16c5ap2)");
                if (p != end) return bad_token(b, tok, len, "must end with its pooling (e.g. 16c5p2ap2)");
                break;
            }
            char opt;
            long long v;
            if (!read_option(&p, &opt, &v)) return bad_token(b, tok, len, "has an option without a positive number");
            if (opt == 's') s = (int)v;
            else if (opt == 'p') pad = (int)v;
            else if (opt == 'd') d = (int)v;
            else if (opt == 'g') gr = (int)v;
            else return bad_token(b, tok, len, "has an unknown conv option (s stride, p padding, d dilation, g groups)");
        }
        if (last) return bad_token(b, tok, len, "is a conv; the last layer must be the readout size");
        if (b->flat) return bad_token(b, tok, len, "needs an image or signal input (CxHxW or CxW), not a flat vector");
        snprintf(name, sizeof name, "conv%d", b->n_layer);
        rc = b->is1d ? nm_graph_add_conv1d(b->g, name, b->shape[0], n, k, s, pad, d, gr, &id)
                     : nm_graph_add_conv2d(b->g, name, b->shape[0], n, k, k, s, s, pad, pad, d, d, gr, &id);
        if (rc || (rc = link(b, id))) return rc;
        /* the output shape is known only after compile; compute it the same way */
        nm_conv_geom cg;
        if (b->is1d) rc = nm_conv_geom_init(&cg, b->shape[0], 1, b->shape[2], n, 1, k, 1, s, 0, pad, 1, d, gr);
        else rc = nm_conv_geom_init(&cg, b->shape[0], b->shape[1], b->shape[2], n, k, k, s, s, pad, pad, d, d, gr);
        if (rc) return nm__error(NM_SHAPE, "architecture '%s': layer '%.*s': %s", b->spec, len, tok, nm_errmsg());
        b->shape[0] = cg.c_out;
        b->shape[1] = cg.h_out;
        b->shape[2] = cg.w_out;
        if (pool_k) {   /* pool the conv's currents: a quarter of the neurons, and pooled once on constant input */
            int kh = b->is1d ? 1 : pool_k;
            snprintf(name, sizeof name, "pool%d", b->n_layer);
            if ((rc = nm_graph_add_pool(b->g, name, pool_kind, kh, pool_k, kh, pool_k, 0, 0, &id)) || (rc = link(b, id))) return rc;
            if ((rc = nm_pool_geom_init(&cg, b->shape[0], b->shape[1], b->shape[2], kh, pool_k, kh, pool_k, 0, 0)))
                return nm__error(NM_SHAPE, "architecture '%s': layer '%.*s': %s", b->spec, len, tok, nm_errmsg());
            b->shape[1] = cg.h_out;
            b->shape[2] = cg.w_out;
        }
        return hidden(b, b->shape[0] * b->shape[1] * b->shape[2], 0);
    }
    if (len >= 3 && (p[0] == 's' || p[0] == 'a') && p[1] == 'p') {
        nm_node_kind kind = p[0] == 's' ? NM_NODE_SUMPOOL : NM_NODE_AVGPOOL;
        p += 2;
        int k = (int)read_num(&p, 1 << 16), s = k, pad = 0;
        if (!k) return bad_token(b, tok, len, "needs a kernel size (e.g. ap2)");
        while (p < end) {
            char opt;
            long long v;
            if (!read_option(&p, &opt, &v)) return bad_token(b, tok, len, "has an option without a positive number");
            if (opt == 's') s = (int)v;
            else if (opt == 'p') pad = (int)v;
            else return bad_token(b, tok, len, "has an unknown pooling option (s stride, p padding)");
        }
        if (last) return bad_token(b, tok, len, "is a pooling layer; the last layer must be the readout size");
        if (b->flat) return bad_token(b, tok, len, "pools a flat vector; pooling needs an image or signal input");
        snprintf(name, sizeof name, "pool%d", b->n_layer);
        int kh = b->is1d ? 1 : k, sh = b->is1d ? 1 : s, ph = b->is1d ? 0 : pad;
        if ((rc = nm_graph_add_pool(b->g, name, kind, kh, k, sh, s, ph, pad, &id)) || (rc = link(b, id))) return rc;
        nm_conv_geom cg;
        if ((rc = nm_pool_geom_init(&cg, b->shape[0], b->shape[1], b->shape[2], kh, k, sh, s, ph, pad)))
            return nm__error(NM_SHAPE, "architecture '%s': layer '%.*s': %s", b->spec, len, tok, nm_errmsg());
        b->shape[1] = cg.h_out;
        b->shape[2] = cg.w_out;
        return NM_OK;
    }
    return bad_token(b, tok, len, "is not a layer (N, Nr, NcK..., spK, apK)");
}

nm_status nm_graph_from_spec_ex(const char *spec, const nm_spec_options *o, nm_graph **out) {
    if (!spec || !*spec) return nm__error(NM_INVAL, "empty architecture (expected sizes like 784-1000-10)");
    if (!nm_node_kind_spiking(o->neuron))
        return nm__error(NM_INVAL, "hidden populations must be spiking (LIF, CubaLIF, IF or ALIF), not %s", nm_node_kind_name(o->neuron));
    if (!nm_node_kind_neuron(o->readout))
        return nm__error(NM_INVAL, "the readout must be a neuron population, not %s", nm_node_kind_name(o->readout));
    if (o->learn_neuron && o->neuron != NM_NODE_LIF)
        return nm__error(NM_UNSUPPORTED, "learnable time constants and thresholds are available on LIF populations only");

    builder b = {0};
    b.o = o;
    b.spec = spec;
    nm_status rc = nm_graph_create(&b.g);
    if (rc) return rc;
    /* the input: N, CxW or CxHxW */
    const char *p = spec;
    long long dims[3];
    int nd = 0;
    for (;;) {
        long long v = read_num(&p, NM_MAX_SIZE);
        if (!v) { rc = nm__error(NM_INVAL, "architecture '%s': expected an input size at '%s' (like 784, 2x700 or 1x28x28)", spec, p); goto fail; }
        dims[nd++] = v;
        if (*p != 'x') break;
        if (nd == 3) { rc = nm__error(NM_INVAL, "architecture '%s': the input has more than 3 dimensions", spec); goto fail; }
        p++;
    }
    if (*p && *p != '-') { rc = nm__error(NM_INVAL, "architecture '%s': unexpected '%c' in the input size", spec, *p); goto fail; }
    if (nd == 1) { b.shape[0] = dims[0]; b.shape[1] = b.shape[2] = 1; b.flat = 1; }
    else if (nd == 2) { b.shape[0] = dims[0]; b.shape[1] = 1; b.shape[2] = dims[1]; b.is1d = 1; }
    else { b.shape[0] = dims[0]; b.shape[1] = dims[1]; b.shape[2] = dims[2]; }
    if ((rc = nm_graph_add_input_shaped(b.g, "input", b.shape[0], b.shape[1], b.shape[2], &b.prev))) goto fail;
    if (!*p) { rc = nm__error(NM_INVAL, "architecture '%s' needs at least an input and an output size", spec); goto fail; }
    while (*p == '-') {
        const char *tok = ++p;
        while (*p && *p != '-') p++;
        if (p == tok) { rc = nm__error(NM_INVAL, "architecture '%s' has an empty layer (two '-' in a row, or a '-' at the end)", spec); goto fail; }
        if (b.n_layer >= 64) { rc = nm__error(NM_RANGE, "architecture '%s' has more than 64 layers", spec); goto fail; }
        if ((rc = layer(&b, tok, (int)(p - tok), *p == 0))) goto fail;
    }
    int id;
    if ((rc = nm_graph_add_output(b.g, "output", &id)) || (rc = link(&b, id))) goto fail;
    if ((rc = nm_graph_compile(b.g))) goto fail;
    *out = b.g;
    return NM_OK;
fail:
    nm_graph_destroy(b.g);
    return rc;
}

nm_status nm_graph_from_spec(const char *spec, const nm_lif_params *hidden_p, const nm_li_params *readout,
                             nm_graph **out) {
    nm_spec_options o;
    nm_spec_options_default(&o);
    o.lif = *hidden_p;
    o.li = *readout;
    return nm_graph_from_spec_ex(spec, &o, out);
}

#define APPEND(...)                                                                   \
    do {                                                                              \
        int w_ = snprintf(buf + len, len < size ? size - len : 0, __VA_ARGS__);       \
        if (w_ > 0) len += (size_t)w_;                                                \
    } while (0)

/* 1 if a conv or pool works in 2-d (an image of height 1 must then print as Cx1xW). */
static int two_d_layers(const nm_graph *g) {
    for (int j = 0; j < g->n; j++) {
        const nm_node *nd = &g->nodes[j];
        if (nd->kind == NM_NODE_CONV && !(nd->flags & NM_NODE_CONV1D)) return 1;
        if ((nd->kind == NM_NODE_SUMPOOL || nd->kind == NM_NODE_AVGPOOL) && (nd->conv.kh != 1 || nd->conv.sh != 1)) return 1;
    }
    return 0;
}

void nm_graph_spec(const nm_graph *g, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = 0;
    for (int j = 0; j < g->n; j++) {
        const nm_node *nd = &g->nodes[j];
        const nm_conv_geom *c = &nd->conv;
        switch (nd->kind) {
        case NM_NODE_INPUT:
            if (nd->shape[1] == 1 && nd->shape[2] == 1 && !(g->n > 1 && (g->nodes[1].kind == NM_NODE_CONV ||
                                                                        g->nodes[1].kind == NM_NODE_SUMPOOL ||
                                                                        g->nodes[1].kind == NM_NODE_AVGPOOL ||
                                                                        g->nodes[1].kind == NM_NODE_FLATTEN)))
                APPEND("%lld", (long long)nd->shape[0]);   /* a vector; "Cx1" for a 1-d signal of length 1 */
            else if (nd->shape[1] == 1 && !two_d_layers(g))
                APPEND("%lldx%lld", (long long)nd->shape[0], (long long)nd->shape[2]);
            else APPEND("%lldx%lldx%lld", (long long)nd->shape[0], (long long)nd->shape[1], (long long)nd->shape[2]);
            break;
        case NM_NODE_AFFINE:
        case NM_NODE_LINEAR:
            if (nd->flags & NM_NODE_RECURRENT) break;
            APPEND("-%lld%s", (long long)nd->n_out,
                   j + 1 < g->n && g->nodes[j + 1].rec >= 0 ? "r" : "");
            break;
        case NM_NODE_CONV:
            APPEND("-%lldc%d", (long long)c->c_out, c->kw);
            if (c->sw != 1) APPEND("s%d", c->sw);
            if (c->pw) APPEND("p%d", c->pw);
            if (c->dw != 1) APPEND("d%d", c->dw);
            if (c->groups != 1) APPEND("g%d", c->groups);
            break;
        case NM_NODE_SUMPOOL:
        case NM_NODE_AVGPOOL:
            if (g->nodes[nd->src].kind == NM_NODE_CONV && c->sw == c->kw && !c->pw) {   /* fused: 16c5ap2 */
                APPEND("%s%d", nd->kind == NM_NODE_SUMPOOL ? "sp" : "ap", c->kw);
                break;
            }
            APPEND("-%s%d", nd->kind == NM_NODE_SUMPOOL ? "sp" : "ap", c->kw);
            if (c->sw != c->kw) APPEND("s%d", c->sw);
            if (c->pw) APPEND("p%d", c->pw);
            break;
        default:
            break;
        }
    }
}
