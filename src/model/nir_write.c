/*
** NIR files out: document tree -> HDF5 (nm_nir_write) and graph -> document
** (nm_nir_from_graph).
**
** The writer follows the reference serializer's conventions: strings are scalar (or
** (E, 2) for edges) variable-length UTF-8 datasets, float arrays are gzip-compressed and
** chunked, integers are int64, nested dicts are groups, and no attributes are used. A node
** group holds exactly the fields NIR lists for its type, plus an optional metadata group:
** everything of neuromorph's own (reset mode, learnable neurons, adaptive-threshold
** parameters, refractory periods, the exact engine time constants of an Euler export, dt)
** lives there, so other readers construct the node and our reader restores the graph bit
** for bit.
*/
#include "nir_impl.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIR_FORMAT_VERSION "1.0.7"   /* the reference layout these files follow */

/* ---- building trees ------------------------------------------------------- */

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

nir_grp *nm__nir_add_grp(nir_grp *g, const char *name) {
    if (!g) return NULL;
    if (g->n_sub == g->cap_sub) {
        int c = g->cap_sub ? 2 * g->cap_sub : 8;
        nir_grp *p = realloc(g->sub, sizeof *p * (size_t)c);
        if (!p) return NULL;
        g->sub = p;
        g->cap_sub = c;
    }
    nir_grp *s = &g->sub[g->n_sub];
    memset(s, 0, sizeof *s);
    if (!(s->name = dup_str(name))) return NULL;
    g->n_sub++;
    return s;
}

static nir_ds *add_ds(nir_grp *g, const char *name, nir_class cls, int rank, const int64_t *dims) {
    if (!g) return NULL;
    if (g->n_ds == g->cap_ds) {
        int c = g->cap_ds ? 2 * g->cap_ds : 8;
        nir_ds *p = realloc(g->ds, sizeof *p * (size_t)c);
        if (!p) return NULL;
        g->ds = p;
        g->cap_ds = c;
    }
    nir_ds *d = &g->ds[g->n_ds];
    memset(d, 0, sizeof *d);
    d->cls = cls;
    d->rank = rank;
    d->n = 1;
    for (int k = 0; k < rank; k++) { d->dims[k] = dims[k]; d->n *= dims[k]; }
    size_t cnt = (size_t)(d->n ? d->n : 1);
    if (!(d->name = dup_str(name)) || (cls == NIR_FLOAT && !(d->f = malloc(sizeof(double) * cnt))) ||
        (cls == NIR_INT && !(d->i = malloc(sizeof(int64_t) * cnt))) || (cls == NIR_STR && !(d->s = calloc(cnt, sizeof(char *))))) {
        free(d->name); free(d->f); free(d->i); free(d->s);
        return NULL;
    }
    g->n_ds++;
    return d;
}

nm_status nm__nir_add_strs(nir_grp *g, const char *name, const char **values, int rank, const int64_t *dims) {
    nir_ds *d = add_ds(g, name, NIR_STR, rank, dims);
    if (!d) return nm__error(NM_NOMEM, "out of memory building a NIR document");
    for (int64_t k = 0; k < d->n; k++)
        if (!(d->s[k] = dup_str(values[k]))) return nm__error(NM_NOMEM, "out of memory building a NIR document");
    return NM_OK;
}

nm_status nm__nir_add_str(nir_grp *g, const char *name, const char *value) { return nm__nir_add_strs(g, name, &value, 0, NULL); }

nm_status nm__nir_add_f(nir_grp *g, const char *name, const double *v, int rank, const int64_t *dims, int size) {
    nir_ds *d = add_ds(g, name, NIR_FLOAT, rank, dims);
    if (!d) return nm__error(NM_NOMEM, "out of memory building a NIR document");
    d->size = size;
    for (int64_t k = 0; k < d->n; k++) d->f[k] = size == 4 ? (double)(float)v[k] : v[k];
    return NM_OK;
}

nm_status nm__nir_add_i(nir_grp *g, const char *name, const int64_t *v, int rank, const int64_t *dims) {
    nir_ds *d = add_ds(g, name, NIR_INT, rank, dims);
    if (!d) return nm__error(NM_NOMEM, "out of memory building a NIR document");
    d->size = 8;
    memcpy(d->i, v, sizeof(int64_t) * (size_t)d->n);
    return NM_OK;
}

/* ---- tree -> HDF5 --------------------------------------------------------- */

static hid_t int_type(const nir_ds *d) {
    switch (d->size) {
    case 1: return d->is_unsigned ? H5T_STD_U8LE : H5T_STD_I8LE;
    case 2: return d->is_unsigned ? H5T_STD_U16LE : H5T_STD_I16LE;
    case 4: return d->is_unsigned ? H5T_STD_U32LE : H5T_STD_I32LE;
    default: return d->is_unsigned ? H5T_STD_U64LE : H5T_STD_I64LE;
    }
}

static int write_ds(hid_t loc, const nir_ds *d) {
    hsize_t dims[NIR_MAX_RANK];
    for (int k = 0; k < d->rank; k++) dims[k] = (hsize_t)d->dims[k];
    hid_t sp = d->rank ? H5Screate_simple(d->rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), ft = -1, mt = -1, did = -1;
    int ok = sp >= 0 && dcpl >= 0;
    const void *buf = NULL;
    if (ok && d->cls == NIR_STR) {
        ft = H5Tcopy(H5T_C_S1);
        H5Tset_size(ft, H5T_VARIABLE);
        H5Tset_cset(ft, H5T_CSET_UTF8);
        mt = H5Tcopy(ft);
        buf = d->s;
    } else if (ok && d->cls == NIR_FLOAT) {
        ft = H5Tcopy(d->size == 8 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE);
        mt = H5Tcopy(H5T_NATIVE_DOUBLE);
        buf = d->f;
        /* arrays are gzip-compressed, as the reference writer does; one chunk while it fits */
        if (d->rank >= 1 && d->n > 0 && d->n * d->size < ((int64_t)1 << 30) && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
            H5Pset_chunk(dcpl, d->rank, dims);
            H5Pset_deflate(dcpl, 4);
        }
    } else if (ok) {
        ft = H5Tcopy(int_type(d));
        mt = H5Tcopy(H5T_NATIVE_INT64);
        buf = d->i;
    }
    ok = ok && ft >= 0 && mt >= 0;
    if (ok) did = H5Dcreate2(loc, d->name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ok = ok && did >= 0;
    if (ok && d->n > 0) ok = H5Dwrite(did, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    if (did >= 0) H5Dclose(did);
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return ok;
}

static int write_grp(hid_t loc, const nir_grp *g, char *path, size_t plen) {
    for (int i = 0; i < g->n_ds; i++)
        if (!write_ds(loc, &g->ds[i])) {
            snprintf(path + plen, 1024 - plen, "/%s", g->ds[i].name);
            return 0;
        }
    for (int i = 0; i < g->n_sub; i++) {
        size_t n = strlen(g->sub[i].name);
        if (plen + n + 2 >= 1024) return 0;
        path[plen] = '/';
        memcpy(path + plen + 1, g->sub[i].name, n + 1);
        hid_t sg = H5Gcreate2(loc, g->sub[i].name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        int ok = sg >= 0 && write_grp(sg, &g->sub[i], path, plen + n + 1);
        if (sg >= 0) H5Gclose(sg);
        if (!ok) return 0;
        path[plen] = 0;
    }
    return 1;
}

nm_status nm_nir_write(const nm_nir *doc, const char *path) {
    size_t n = strlen(path);
    char *tmp = malloc(n + 8);
    if (!tmp) return nm__error(NM_NOMEM, "out of memory writing '%s'", path);
    snprintf(tmp, n + 8, "%s.tmp", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fid = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (fid < 0) {
        free(tmp);
        return nm__error(NM_IO, "cannot create NIR file '%s'", path);
    }
    char where[1024] = "";
    int ok = write_grp(fid, &doc->root, where, 0);
    ok = H5Fclose(fid) >= 0 && ok;
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        free(tmp);
        return nm__error(NM_IO, "cannot write NIR file '%s'%s%s", path, where[0] ? " at " : "", where);
    }
    free(tmp);
    return NM_OK;
}

/* ---- graph -> document ---------------------------------------------------- */

void nm_nir_export_options_default(nm_nir_export_options *o) {
    o->dt = NM_NIR_DT_DEFAULT;
    o->disc = NM_NIR_EXACT;
}

/* NIR's per-sample shape of a (c, h, w) shape: (c), (c, w) or (c, h, w). */
static int nir_dims(const int64_t s[3], int64_t out[3]) {
    if (s[1] == 1 && s[2] == 1) { out[0] = s[0]; return 1; }
    if (s[1] == 1) { out[0] = s[0]; out[1] = s[2]; return 2; }
    out[0] = s[0]; out[1] = s[1]; out[2] = s[2];
    return 3;
}

typedef struct ex {
    const nm_graph *g;
    const nm_nir_export_options *o;
    nm__text *rep;
    double *buf;       /* scratch, largest tensor */
} ex;

static nm_status put_floats(ex *e, nir_grp *ng, const char *name, const float *v, int64_t n, int rank, const int64_t *dims) {
    for (int64_t k = 0; k < n; k++) e->buf[k] = v[k];
    return nm__nir_add_f(ng, name, e->buf, rank, dims, 4);
}

static nm_status put_fill(ex *e, nir_grp *ng, const char *name, float v, int64_t n, int rank, const int64_t *dims) {
    for (int64_t k = 0; k < n; k++) e->buf[k] = v;
    return nm__nir_add_f(ng, name, e->buf, rank, dims, 4);
}

static nm_status put_int(nir_grp *ng, const char *name, int64_t v) { return nm__nir_add_i(ng, name, &v, 0, NULL); }

static nm_status put_pair(nir_grp *ng, const char *name, int64_t a, int64_t b) {
    const int64_t v[2] = {a, b}, d = 2;
    return nm__nir_add_i(ng, name, v, 1, &d);
}

static nm_status put_num(nir_grp *ng, const char *name, double v) { return nm__nir_add_f(ng, name, &v, 0, NULL, 8); }

static nm_status export_node(ex *e, nir_grp *nodes, int j) {
    const nm_graph *g = e->g;
    const nm_node *nd = nm_graph_node(g, j);
    const float *P = nm_graph_params_const(g);
    const int64_t n = nd->n_out;
    int64_t dims[3];
    const int rank = nir_dims(nd->shape, dims);
    nm_status rc = NM_OK;
    nir_grp *ng = nm__nir_add_grp(nodes, nd->name);
    if (!ng) return nm__error(NM_NOMEM, "out of memory building a NIR document");
    nir_grp *meta = NULL;
#define META() (meta ? meta : (meta = nm__nir_add_grp(ng, "metadata")))
#define TRY(x) do { if ((rc = (x))) return rc; } while (0)
    const int euler = e->o->disc == NM_NIR_EULER;
    switch (nd->kind) {
    case NM_NODE_INPUT:
    case NM_NODE_OUTPUT:
        TRY(nm__nir_add_str(ng, "type", nd->kind == NM_NODE_INPUT ? "Input" : "Output"));
        TRY(nm__nir_add_i(ng, "shape", dims, 1, (int64_t[]){rank}));
        break;
    case NM_NODE_AFFINE:
    case NM_NODE_LINEAR: {
        const int64_t wd[2] = {nd->n_out, nd->n_in};
        TRY(nm__nir_add_str(ng, "type", nd->kind == NM_NODE_AFFINE ? "Affine" : "Linear"));
        TRY(put_floats(e, ng, "weight", P + nd->w_off, nd->n_out * nd->n_in, 2, wd));
        if (nd->kind == NM_NODE_AFFINE) TRY(put_floats(e, ng, "bias", P + nd->b_off, nd->n_out, 1, &nd->n_out));
        break;
    }
    case NM_NODE_CONV: {
        const nm_conv_geom *c = &nd->conv;
        const int one = (nd->flags & NM_NODE_CONV1D) != 0;
        const int64_t wd[4] = {c->c_out, c->c_in / c->groups, c->kh, c->kw};
        const int64_t wd1[3] = {c->c_out, c->c_in / c->groups, c->kw};
        TRY(nm__nir_add_str(ng, "type", one ? "Conv1d" : "Conv2d"));
        TRY(put_floats(e, ng, "weight", P + nd->w_off, nm_conv_weight_count(c), one ? 3 : 4, one ? wd1 : wd));
        TRY(put_floats(e, ng, "bias", P + nd->b_off, c->c_out, 1, &c->c_out));
        if (one) {
            TRY(put_int(ng, "stride", c->sw));
            TRY(put_int(ng, "padding", c->pw));
            TRY(put_int(ng, "dilation", c->dw));
            TRY(put_int(ng, "input_shape", c->w_in));
        } else {
            TRY(put_pair(ng, "stride", c->sh, c->sw));
            TRY(put_pair(ng, "padding", c->ph, c->pw));
            TRY(put_pair(ng, "dilation", c->dh, c->dw));
            TRY(put_pair(ng, "input_shape", c->h_in, c->w_in));
        }
        TRY(put_int(ng, "groups", c->groups));
        break;
    }
    case NM_NODE_SUMPOOL:
    case NM_NODE_AVGPOOL: {
        const nm_conv_geom *c = &nd->conv;
        TRY(nm__nir_add_str(ng, "type", nd->kind == NM_NODE_SUMPOOL ? "SumPool2d" : "AvgPool2d"));
        TRY(put_pair(ng, "kernel_size", c->kh, c->kw));
        TRY(put_pair(ng, "stride", c->sh, c->sw));
        TRY(put_pair(ng, "padding", c->ph, c->pw));
        break;
    }
    case NM_NODE_FLATTEN: {
        int64_t in[3];
        const int r = nir_dims(nd->in_shape, in);
        TRY(nm__nir_add_str(ng, "type", "Flatten"));
        TRY(put_int(ng, "start_dim", 0));
        TRY(put_int(ng, "end_dim", -1));
        nir_grp *it = nm__nir_add_grp(ng, "input_type");
        if (!it) return nm__error(NM_NOMEM, "out of memory building a NIR document");
        TRY(nm__nir_add_i(it, "input", in, 1, (int64_t[]){r}));
        break;
    }
    case NM_NODE_SCALE:
        TRY(nm__nir_add_str(ng, "type", "Scale"));
        TRY(put_floats(e, ng, "scale", P + nd->w_off, n, rank, dims));
        break;
    case NM_NODE_DELAY: {
        const float *d = nm_graph_consts(g) + nd->c_off;
        TRY(nm__nir_add_str(ng, "type", "Delay"));
        for (int64_t k = 0; k < n; k++) e->buf[k] = (float)(d[k] * e->o->dt);
        TRY(nm__nir_add_f(ng, "delay", e->buf, rank, dims, 4));
        int64_t *steps = malloc(sizeof(int64_t) * (size_t)n);
        if (!steps) return nm__error(NM_NOMEM, "out of memory");
        for (int64_t k = 0; k < n; k++) steps[k] = (int64_t)d[k];
        rc = nm__nir_add_i(META(), "neuromorph_delay_steps", steps, 1, &n);
        free(steps);
        if (rc) return rc;
        break;
    }
    case NM_NODE_LIF:
    case NM_NODE_ALIF: {
        const int alif = nd->kind == NM_NODE_ALIF, learn = (nd->flags & NM_NODE_LEARN_NEURON) != 0;
        const float tau0 = alif ? nd->alif.tau_mem : nd->lif.tau;
        float *tau = malloc(sizeof(float) * (size_t)n * 2);
        if (!tau) return nm__error(NM_NOMEM, "out of memory");
        float *th = tau + n;
        for (int64_t k = 0; k < n; k++) {
            tau[k] = learn ? P[nd->p_off + k] : tau0;
            th[k] = learn ? P[nd->p_off + nm_pad16(n) + k] : (alif ? nd->alif.v_threshold : nd->lif.v_threshold);
        }
        const float r = alif ? nd->alif.r : nd->lif.r, vl = alif ? nd->alif.v_leak : nd->lif.v_leak, vr = alif ? nd->alif.v_reset : nd->lif.v_reset;
        const nm_reset reset = alif ? nd->alif.reset : nd->lif.reset;
        if ((rc = nm__nir_add_str(ng, "type", "LIF"))) goto lif_done;
        if (euler) {
            if ((rc = put_floats(e, META(), "neuromorph_tau", tau, n, rank, dims))) goto lif_done;
            for (int64_t k = 0; k < n; k++) tau[k] = nm__nir_euler_tau_inverse(tau[k], e->o->dt);
        }
        if ((rc = put_floats(e, ng, "tau", tau, n, rank, dims)) || (rc = put_fill(e, ng, "r", r, n, rank, dims)) ||
            (rc = put_fill(e, ng, "v_leak", vl, n, rank, dims)) || (rc = put_floats(e, ng, "v_threshold", th, n, rank, dims)) ||
            (rc = put_fill(e, ng, "v_reset", vr, n, rank, dims)) || (rc = nm__nir_add_str(META(), "neuromorph_reset", nm_reset_name(reset))))
            goto lif_done;
        if (learn && ((rc = put_int(META(), "neuromorph_learn_neuron", 1)) || (rc = put_num(META(), "neuromorph_node_tau", nd->lif.tau)) ||
                      (rc = put_num(META(), "neuromorph_node_v_threshold", nd->lif.v_threshold))))
            goto lif_done;
        if (alif) {
            if ((rc = put_num(META(), "neuromorph_alif_tau_adapt", nd->alif.tau_adapt)) || (rc = put_num(META(), "neuromorph_alif_beta_a", nd->alif.beta_a)) ||
                (rc = put_num(META(), "neuromorph_t_ref", nd->alif.t_ref)))
                goto lif_done;
            nm__text_add(e->rep, "- changed: adaptive LIF '%s' written as a LIF node; its adaptation and refractory period are in neuromorph metadata only\n", nd->name);
        }
        if (reset == NM_RESET_SUBTRACT)
            nm__text_add(e->rep, "- reset: '%s' resets by subtraction (metadata neuromorph_reset); NIR defines a reset to v_reset\n", nd->name);
    lif_done:
        free(tau);
        if (rc) return rc;
        break;
    }
    case NM_NODE_LI: {
        float tau = nd->li.tau;
        TRY(nm__nir_add_str(ng, "type", "LI"));
        if (euler) {
            TRY(put_fill(e, META(), "neuromorph_tau", tau, n, rank, dims));
            tau = nm__nir_euler_tau_inverse(tau, e->o->dt);
        }
        TRY(put_fill(e, ng, "tau", tau, n, rank, dims));
        TRY(put_fill(e, ng, "r", nd->li.r, n, rank, dims));
        TRY(put_fill(e, ng, "v_leak", nd->li.v_leak, n, rank, dims));
        break;
    }
    case NM_NODE_IF:
        TRY(nm__nir_add_str(ng, "type", "IF"));
        TRY(put_fill(e, ng, "r", nd->ifp.r, n, rank, dims));
        TRY(put_fill(e, ng, "v_threshold", nd->ifp.v_threshold, n, rank, dims));
        TRY(put_fill(e, ng, "v_reset", nd->ifp.v_reset, n, rank, dims));
        TRY(nm__nir_add_str(META(), "neuromorph_reset", nm_reset_name(nd->ifp.reset)));
        break;
    case NM_NODE_CUBALIF:
    case NM_NODE_CUBALI: {
        const nm_cuba_lif_params *c = &nd->cuba;
        const int spk = nd->kind == NM_NODE_CUBALIF;
        TRY(nm__nir_add_str(ng, "type", spk ? "CubaLIF" : "CubaLI"));
        TRY(put_fill(e, ng, "tau_syn", c->tau_syn, n, rank, dims));
        TRY(put_fill(e, ng, "tau_mem", c->tau_mem, n, rank, dims));
        TRY(put_fill(e, ng, "r", c->r, n, rank, dims));
        TRY(put_fill(e, ng, "v_leak", c->v_leak, n, rank, dims));
        if (spk) {
            TRY(put_fill(e, ng, "v_threshold", c->v_threshold, n, rank, dims));
            TRY(put_fill(e, ng, "v_reset", c->v_reset, n, rank, dims));
            TRY(nm__nir_add_str(META(), "neuromorph_reset", nm_reset_name(c->reset)));
            if (c->t_ref > 0) {
                TRY(put_num(META(), "neuromorph_t_ref", c->t_ref));
                nm__text_add(e->rep, "- changed: refractory period of '%s' (%g s) is in neuromorph metadata only (NIR has no field for it)\n", nd->name, (double)c->t_ref);
            }
        }
        TRY(put_fill(e, ng, "w_in", c->w_in, n, rank, dims));
        if (euler) nm__text_add(e->rep, "- not converted: '%s' (%s) keeps its exact-integration time constants under --discretization euler\n", nd->name, spk ? "CubaLIF" : "CubaLI");
        break;
    }
    }
#undef TRY
#undef META
    return NM_OK;
}

nm_status nm_nir_from_graph(const nm_graph *g, const nm_nir_export_options *o, nm_nir **out, char **report) {
    nm__text rep = {0};
    if (!(o->dt > 0) || !isfinite(o->dt)) return nm__error(NM_RANGE, "NIR export: dt must be positive, not %g", (double)o->dt);
    const int nn = nm_graph_n_nodes(g);
    int64_t big = 1;
    for (int j = 0; j < nn; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        int64_t w = nm_node_weight_count(nd);
        big = w > big ? w : big;
        big = 2 * nd->n_out > big ? 2 * nd->n_out : big;
    }
    nm_nir *doc = calloc(1, sizeof *doc);
    ex e = {g, o, &rep, malloc(sizeof(double) * (size_t)big)};
    const char **ends = malloc(sizeof(char *) * (size_t)(4 * nn + 2));
    nm_status rc = NM_OK;
    if (!doc || !e.buf || !ends) { rc = nm__error(NM_NOMEM, "out of memory exporting a graph"); goto done; }
    if ((rc = nm__nir_add_str(&doc->root, "version", NIR_FORMAT_VERSION))) goto done;
    nir_grp *top = nm__nir_add_grp(&doc->root, "node");
    if (!top) { rc = nm__error(NM_NOMEM, "out of memory"); goto done; }
    if ((rc = nm__nir_add_str(top, "type", "NIRGraph"))) goto done;
    /* edges: each node from its source; a recurrent Affine both ways with its population */
    int64_t ne = 0;
    for (int j = 0; j < nn; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nd->src < 0) continue;
        ends[2 * ne] = nm_graph_node(g, nd->src)->name;
        ends[2 * ne + 1] = nd->name;
        ne++;
        if (nd->flags & NM_NODE_RECURRENT) {
            ends[2 * ne] = nd->name;
            ends[2 * ne + 1] = nm_graph_node(g, nd->rec)->name;
            ne++;
        }
    }
    if (ne) {
        if ((rc = nm__nir_add_strs(top, "edges", ends, 2, (int64_t[]){ne, 2}))) goto done;
    } else if ((rc = nm__nir_add_f(top, "edges", NULL, 1, (int64_t[]){0}, 8))) {
        goto done;
    }
    nir_grp *meta = nm__nir_add_grp(top, "metadata");
    if (!meta || (rc = nm__nir_add_str(meta, "neuromorph_version", nm_version())) || (rc = put_num(meta, "neuromorph_dt", o->dt)) ||
        (rc = nm__nir_add_str(meta, "neuromorph_discretization", nm_nir_disc_name(o->disc)))) {
        if (!rc) rc = nm__error(NM_NOMEM, "out of memory");
        goto done;
    }
    /* top->sub may move as groups are added to top: add "nodes" last and fill it fully */
    nir_grp *nodes = nm__nir_add_grp(top, "nodes");
    if (!nodes) { rc = nm__error(NM_NOMEM, "out of memory"); goto done; }
    for (int j = 0; j < nn; j++)
        if ((rc = export_node(&e, nodes, j))) goto done;
    nm__text_add(&rep, "- dt %g s and %s discretization recorded in the graph's metadata\n", (double)o->dt, nm_nir_disc_name(o->disc));
    if (o->disc == NM_NIR_EULER)
        nm__text_add(&rep, "- forward Euler: LIF and LI time constants written so an Euler stepper at dt %g s decays as the engine does; the engine's own values are in metadata\n", (double)o->dt);
    if (rep.failed) { rc = nm__error(NM_NOMEM, "out of memory"); goto done; }
done:
    free(e.buf);
    free(ends);
    if (rc) {
        nm_nir_destroy(doc);
        free(rep.buf);
        return rc;
    }
    *out = doc;
    if (report) *report = rep.buf ? rep.buf : calloc(1, 1);
    else free(rep.buf);
    return NM_OK;
}

nm_status nm_nir_export(const nm_graph *g, const nm_nir_export_options *o, const char *path, char **report) {
    nm_nir *doc;
    nm_status rc = nm_nir_from_graph(g, o, &doc, report);
    if (rc) return rc;
    rc = nm_nir_write(doc, path);
    nm_nir_destroy(doc);
    return rc;
}

/* ---- NIRData -------------------------------------------------------------- */

static int set_type_attr(hid_t obj, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t a = H5Acreate2(obj, "__type__", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, t, &value) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return ok;
}

/* The group `name` under loc, created with its __type__ when absent. */
static hid_t open_or_make(hid_t loc, const char *name, const char *type) {
    if (H5Lexists(loc, name, H5P_DEFAULT) > 0) return H5Gopen2(loc, name, H5P_DEFAULT);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0 && type && !set_type_attr(g, type)) { H5Gclose(g); return -1; }
    return g;
}

nm_status nm_nir_data_write(const char *path, const nm_nir_observable *obs, int n_obs, float dt) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return nm__error(NM_IO, "cannot create NIRData file '%s'", path);
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    int ok = root >= 0 && set_type_attr(root, "NIRGraphData");
    hid_t nodes = ok ? open_or_make(f, "nodes", NULL) : -1;
    ok = ok && nodes >= 0;
    for (int k = 0; ok && k < n_obs; k++) {
        const nm_nir_observable *o = &obs[k];
        hid_t nd = open_or_make(nodes, o->node, "NIRNodeData"), og = -1, g = -1, sp = -1, pl = -1, d = -1, a = -1, asp = -1;
        float *buf = NULL;
        ok = nd >= 0 && (og = open_or_make(nd, "observables", NULL)) >= 0 && (g = open_or_make(og, o->name, "TimeGriddedData")) >= 0;
        if (ok) {
            /* (n_samples, n_time_steps, n_neurons) from the time-major (steps, batch, n) */
            const hsize_t dims[3] = {(hsize_t)o->batch, (hsize_t)o->n_steps, (hsize_t)o->n};
            const int64_t total = (int64_t)o->batch * o->n_steps * o->n;
            buf = malloc(sizeof(float) * (size_t)(total ? total : 1));
            ok = buf != NULL;
            for (int64_t b = 0; ok && b < o->batch; b++)
                for (int64_t t = 0; t < o->n_steps; t++)
                    memcpy(buf + (b * o->n_steps + t) * o->n, o->data + (t * o->batch + b) * o->n, sizeof(float) * (size_t)o->n);
            sp = H5Screate_simple(3, dims, NULL);
            pl = H5Pcreate(H5P_DATASET_CREATE);
            if (total && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 && total * 4 < ((int64_t)1 << 30)) {
                H5Pset_chunk(pl, 3, dims);
                H5Pset_deflate(pl, 4);
            }
            ok = ok && (d = H5Dcreate2(g, "data", H5T_IEEE_F32LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT)) >= 0 &&
                 (!total || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
            const double dtv = dt;
            asp = H5Screate(H5S_SCALAR);
            ok = ok && (a = H5Acreate2(g, "dt", H5T_IEEE_F64LE, asp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &dtv) >= 0;
        }
        free(buf);
        if (a >= 0) H5Aclose(a);
        if (asp >= 0) H5Sclose(asp);
        if (d >= 0) H5Dclose(d);
        if (pl >= 0) H5Pclose(pl);
        if (sp >= 0) H5Sclose(sp);
        if (g >= 0) H5Gclose(g);
        if (og >= 0) H5Gclose(og);
        if (nd >= 0) H5Gclose(nd);
    }
    if (nodes >= 0) H5Gclose(nodes);
    if (root >= 0) H5Gclose(root);
    ok = H5Fclose(f) >= 0 && ok;
    if (!ok) {
        remove(path);
        return nm__error(NM_IO, "cannot write NIRData file '%s'", path);
    }
    return NM_OK;
}
