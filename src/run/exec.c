/*
** The executor: buffers for every node, allocated once, and the layer-by-layer forward
** pass. Affine and Conv layers go through OpenBLAS sgemm over all (rows x batch) input rows
** at once, or the gather path for sparse binary inputs; neuron layers through the neuron
** module's kernels, threaded over the batch.
**
** Spiking populations write their spikes as floats into a shared scratch (the kernels'
** format), then pack them into their own bit buffer: what stays between the forward and
** the backward pass is the bits. A consumer that needs floats reads the scratch when it
** still holds them (the usual case: the next node), or unpacks the bits.
*/
#include <neuromorph/run.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct node_state {
    float            *out;      /* float output (rows, batch, n); spiking nodes: smooth mode only */
    uint64_t         *bits;     /* binary output (rows, batch, words) when `binary`              */
    float            *mem;      /* neurons: membrane (n_steps, batch, n)                          */
    float            *thr;      /* ALIF: thresholds (n_steps, batch, n)                           */
    uint8_t          *clamped;  /* refractory CubaLIF / ALIF                                      */
    float            *pn_buf;   /* learnable LIF: 3n floats of per-neuron constants               */
    int               rows;
    int               binary;   /* bits hold the output of the last pass                          */
    int               sparse;   /* Affine/Linear: the last pass took the gather path              */
    double            density;  /* Affine/Linear: density of its binary input                     */
    int64_t           spikes;
    int               owns;     /* out is ours (Input borrows the caller's; Flatten and Output
                                ** read through to their source)                                  */
    nm_lif_step       c;
    nm_cuba_lif_step  cc;
    nm_alif_step      ac;
    nm_lif_pn_step    pn;
} node_state;

struct nm_exec {
    const nm_graph *g;
    nm_exec_config  cfg;
    node_state     *st;
    int             n;
    int             batch;
    nm_surrogate    surr;
    float          *scratch;    /* 4 B widest */
    float          *conv_scratch;
    float          *spk;        /* spiking nodes' float spikes, (T, B, n) of the largest   */
    int             spk_owner;  /* node whose spikes spk holds (-1: none)                   */
    float          *unpack;     /* bits unpacked for a consumer                             */
    int             unpack_owner;
    float          *wt;         /* transposed weights for the gather path                   */
    int64_t         n_scratch, n_conv_scratch, n_spk, n_unpack, n_wt;
    nm_exec_hooks   hooks;      /* a chip sample's parts of the pass (all NULL: none)       */
};

void nm_exec_set_hooks(nm_exec *x, const nm_exec_hooks *h) {
    if (h) x->hooks = *h;
    else memset(&x->hooks, 0, sizeof x->hooks);
}

const char *nm_readout_name(nm_readout r) {
    return r == NM_READOUT_MAX ? "max" : r == NM_READOUT_COUNT ? "count" : "mean";
}

nm_status nm_readout_parse(const char *s, nm_readout *out) {
    if (!strcmp(s, "mean")) *out = NM_READOUT_MEAN;
    else if (!strcmp(s, "max")) *out = NM_READOUT_MAX;
    else if (!strcmp(s, "count")) *out = NM_READOUT_COUNT;
    else return nm__error(NM_INVAL, "unknown readout '%s' (choose mean, max or count)", s);
    return NM_OK;
}

const char *nm_sparse_mode_name(nm_sparse_mode m) {
    return m == NM_SPARSE_NEVER ? "never" : m == NM_SPARSE_ALWAYS ? "always" : "auto";
}

nm_status nm_sparse_mode_parse(const char *s, nm_sparse_mode *out) {
    if (!strcmp(s, "auto")) *out = NM_SPARSE_AUTO;
    else if (!strcmp(s, "never")) *out = NM_SPARSE_NEVER;
    else if (!strcmp(s, "always")) *out = NM_SPARSE_ALWAYS;
    else return nm__error(NM_INVAL, "unknown sparse mode '%s' (choose auto, never or always)", s);
    return NM_OK;
}

float nm_view_at(const nm_view *v, int t, int b, int64_t i) {
    int64_t row = (int64_t)t * v->batch + b;
    if (v->data) return v->data[row * v->n + i];
    if (v->bits) return (float)((v->bits[row * nm_bits_words(v->n) + i / 64] >> (i % 64)) & 1);
    return 0.0f;
}

void nm_exec_destroy(nm_exec *x) {
    if (!x) return;
    if (x->st)
        for (int j = 0; j < x->n; j++) {
            node_state *s = &x->st[j];
            if (s->owns) nm_free(s->out);
            nm_free(s->bits);   /* never borrowed */
            nm_free(s->mem);
            nm_free(s->thr);
            nm_free(s->clamped);
            nm_free(s->pn_buf);
        }
    free(x->st);
    nm_free(x->scratch);
    nm_free(x->conv_scratch);
    nm_free(x->spk);
    nm_free(x->unpack);
    nm_free(x->wt);
    free(x);
}

static int is_dense(nm_node_kind k) { return k == NM_NODE_AFFINE || k == NM_NODE_LINEAR; }

static void *alloc_f(int64_t n) { return nm_alloc(sizeof(float) * (n > 0 ? n : 1)); }

nm_status nm_exec_create(const nm_graph *g, const nm_exec_config *cfg, nm_exec **out) {
    if (!(cfg->dt > 0) || !isfinite(cfg->dt)) return nm__error(NM_RANGE, "time step dt must be positive, not %g", cfg->dt);
    if (cfg->n_steps <= 0) return nm__error(NM_RANGE, "number of steps must be positive, not %d", cfg->n_steps);
    if (cfg->max_batch <= 0) return nm__error(NM_RANGE, "batch size must be positive, not %d", cfg->max_batch);
    if (cfg->sparse < NM_SPARSE_AUTO || cfg->sparse > NM_SPARSE_ALWAYS)
        return nm__error(NM_RANGE, "unknown sparse mode %d", (int)cfg->sparse);
    if (!(cfg->sparse_max_density >= 0 && cfg->sparse_max_density <= 1))
        return nm__error(NM_RANGE, "sparse density threshold must be in [0, 1], not %g", cfg->sparse_max_density);
    nm_exec *x = calloc(1, sizeof *x);
    if (!x) return nm__error(NM_NOMEM, "out of memory creating an executor");
    x->g = g;
    x->cfg = *cfg;
    if (x->cfg.sparse_max_density == 0) {
        /* The gather kernels' register blocks follow the build's vector width, and so does
        ** the crossover (bench_sparse: ~98% with AVX-512, ~55% with AVX2, ~26% without AVX). */
#if defined(__AVX512F__)
        x->cfg.sparse_max_density = NM_SPARSE_MAX_DENSITY_DEFAULT;
#elif defined(__AVX2__)
        x->cfg.sparse_max_density = 0.4f;
#else
        x->cfg.sparse_max_density = 0.15f;
#endif
    }
    x->n = nm_graph_n_nodes(g);
    x->spk_owner = x->unpack_owner = -1;
    nm_surrogate_default(&x->surr, NM_SURR_FAST_SIGMOID);
    x->st = calloc(x->n, sizeof *x->st);
    if (!x->st) goto nomem;
    const int64_t T = cfg->n_steps, B = cfg->max_batch;
    int64_t widest = 1, conv_scr = 0, spk_n = 0, wt_n = 0;
    for (int j = 0; j < x->n; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        node_state *s = &x->st[j];
        const int64_t n = nd->n_out, full = T * B * n;
        if (n > widest) widest = n;
        if (nd->kind == NM_NODE_INPUT || nd->kind == NM_NODE_FLATTEN || nd->kind == NM_NODE_OUTPUT) continue;
        if (nd->flags & NM_NODE_RECURRENT) continue;   /* run by its population */
        s->owns = 1;
        if (nm_node_kind_neuron(nd->kind)) {
            if (!(s->mem = alloc_f(full))) goto nomem;
            if (nm_node_kind_spiking(nd->kind)) {
                if (!(s->bits = nm_alloc(sizeof(uint64_t) * T * B * nm_bits_words(n)))) goto nomem;
                if (n > spk_n) spk_n = n;
            }
        } else if (!(s->out = alloc_f(full))) {
            goto nomem;
        }
        switch (nd->kind) {
        case NM_NODE_LIF:
            nm_lif_discretize(&nd->lif, cfg->dt, &s->c);
            if ((nd->flags & NM_NODE_LEARN_NEURON) && !(s->pn_buf = alloc_f(3 * n))) goto nomem;
            break;
        case NM_NODE_IF: nm_if_discretize(&nd->ifp, cfg->dt, &s->c); break;
        case NM_NODE_LI: nm_li_discretize(&nd->li, cfg->dt, &s->c); break;
        case NM_NODE_CUBALIF:
        case NM_NODE_CUBALI:
            nm_cuba_lif_discretize(&nd->cuba, cfg->dt, &s->cc);
            if (nd->kind == NM_NODE_CUBALIF && s->cc.n_ref > 0 && !(s->clamped = nm_alloc(full))) goto nomem;
            break;
        case NM_NODE_ALIF:
            nm_alif_discretize(&nd->alif, cfg->dt, &s->ac);
            if (!(s->thr = alloc_f(full))) goto nomem;
            if (s->ac.n_ref > 0 && !(s->clamped = nm_alloc(full))) goto nomem;
            break;
        case NM_NODE_CONV: {
            int64_t c = nm_conv_scratch_floats(&nd->conv, T * B);
            if (c > conv_scr) conv_scr = c;
            break;
        }
        case NM_NODE_AFFINE:
        case NM_NODE_LINEAR:
            if (nd->n_in * nd->n_out > wt_n) wt_n = nd->n_in * nd->n_out;
            break;
        default:
            break;
        }
    }
    /* an Input that may be binary keeps bits for the gather path */
    if (x->n > 1 && is_dense(nm_graph_node(g, 1)->kind)) {
        const nm_node *in = nm_graph_node(g, 0);
        if (!(x->st[0].bits = nm_alloc(sizeof(uint64_t) * T * B * nm_bits_words(in->n_out)))) goto nomem;
    }
    x->n_scratch = 4 * B * widest;
    x->n_conv_scratch = conv_scr;
    x->n_spk = T * B * spk_n;
    x->n_wt = wt_n;
    if (!(x->scratch = alloc_f(x->n_scratch))) goto nomem;
    if (conv_scr && !(x->conv_scratch = alloc_f(conv_scr))) goto nomem;
    x->n_unpack = spk_n ? T * B * widest : 0;
    if (spk_n && (!(x->spk = alloc_f(x->n_spk)) || !(x->unpack = alloc_f(x->n_unpack)))) goto nomem;
    if (wt_n && !(x->wt = alloc_f(wt_n))) goto nomem;
    *out = x;
    return NM_OK;
nomem:
    nm_exec_destroy(x);
    return nm__error(NM_NOMEM, "out of memory for the executor's buffers (batch %d, %d steps)", cfg->max_batch, cfg->n_steps);
}

nm_status nm_exec_set_surrogate(nm_exec *x, const nm_surrogate *s) {
    x->surr = *s;
    if (!s->smooth_forward) return NM_OK;
    const int64_t TB = (int64_t)x->cfg.n_steps * x->cfg.max_batch;
    for (int j = 0; j < x->n; j++) {
        node_state *st = &x->st[j];
        const nm_node *nd = nm_graph_node(x->g, j);
        if (!nm_node_kind_spiking(nd->kind) || st->out) continue;
        if (!(st->out = alloc_f(TB * nd->n_out))) return nm__error(NM_NOMEM, "out of memory for smooth spikes");
    }
    return NM_OK;
}

/* ---- forward ----------------------------------------------------------- */

const float *nm_exec_output_floats(nm_exec *x, int node) {
    int j = nm_graph_data_node(x->g, node);
    node_state *s = &x->st[j];
    const nm_node *nd = nm_graph_node(x->g, j);
    if (s->out) return s->out;
    if (nm_node_kind_neuron(nd->kind) && !nm_node_kind_spiking(nd->kind)) return s->mem;
    if (x->spk_owner == j) return x->spk;
    if (x->unpack_owner != j) {
        nm_bits_unpack(s->bits, (int64_t)s->rows * x->batch, nd->n_out, x->unpack);
        x->unpack_owner = j;
    }
    return x->unpack;
}

/* y (m, n_out) = x (m, n_in) W^T + b (b may be NULL) */
static void affine_dense(const float *W, const float *b, const float *xin, int64_t m, int64_t n_in, int64_t n_out,
                         float *y) {
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < m; r++) {
        if (b) memcpy(y + r * n_out, b, sizeof(float) * n_out);
        else memset(y + r * n_out, 0, sizeof(float) * n_out);
    }
    nm_sgemm(0, 1, m, n_out, n_in, 1.0f, xin, n_in, W, n_in, 1.0f, y, n_out);
}

/* y (m, c, P) += b[channel]: the digital bias after a product done elsewhere (Affine: P 1). */
static void add_bias(float *y, int64_t m, int64_t c, int64_t P, const float *b) {
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < m; r++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t p = 0; p < P; p++) y[(r * c + ch) * P + p] += b[ch];
}

/* 1 if every value is 0 or 1. */
static int all_binary(const float *v, int64_t n) {
    int ok = 1;
    #pragma omp parallel for schedule(static) reduction(&&:ok)
    for (int64_t i = 0; i < n; i++) ok = ok && (v[i] == 0.0f || v[i] == 1.0f);
    return ok;
}

static void run_dense(nm_exec *x, int j, const nm_node *nd, node_state *s, const float *params) {
    const int jsrc = nm_graph_data_node(x->g, nd->src);
    node_state *src = &x->st[jsrc];
    const int64_t m = (int64_t)src->rows * x->batch;
    const float *W = params + nd->w_off, *b = nd->b_off >= 0 ? params + nd->b_off : NULL;
    s->rows = src->rows;
    s->sparse = 0;
    s->density = -1;
    if (x->hooks.product) {
        int rows = x->hooks.product(x->hooks.ctx, j, nm_exec_output_floats(x, jsrc),
                                    src->rows, x->batch, x->cfg.n_steps, s->out);
        if (rows >= 0) {
            s->rows = rows;
            if (b) add_bias(s->out, (int64_t)rows * x->batch, nd->n_out, 1, b);
            return;
        }
    }
    if (src->binary && x->cfg.sparse != NM_SPARSE_NEVER) {
        int64_t words = nm_bits_words(nd->n_in), ones = 0;
        const uint64_t *bits = src->bits;
        #pragma omp parallel for schedule(static) reduction(+:ones)
        for (int64_t w = 0; w < m * words; w++) ones += __builtin_popcountll(bits[w]);
        s->density = (double)ones / ((double)m * nd->n_in);
        s->sparse = x->cfg.sparse == NM_SPARSE_ALWAYS || s->density <= x->cfg.sparse_max_density;
    }
    if (s->sparse) {
        nm_transpose(W, nd->n_out, nd->n_in, x->wt);
        nm_affine_forward_sparse(x->wt, b, src->bits, m, nd->n_in, nd->n_out, s->out);
    } else {
        affine_dense(W, b, nm_exec_output_floats(x, jsrc), m, nd->n_in, nd->n_out, s->out);
    }
}

/* A LIF population with a recurrent Affine: I[t] = ff[t] + W s[t-1] + b, one step at a
** time. The feedback product of each step is one (batch x n) x (n x n) sgemm. */
static int64_t run_recurrent_lif(nm_exec *x, const nm_node *nd, node_state *s, const float *ff, int ff_rows,
                                 const float *params, float *spk) {
    const nm_node *rn = nm_graph_node(x->g, nd->rec);
    const float *W = params + rn->w_off, *bias = params + rn->b_off;
    const int T = x->cfg.n_steps, B = x->batch;
    const int64_t n = nd->n_out, plane = (int64_t)B * n;
    const nm_lif_step *c = &s->c;
    const float jump = c->v_th - c->v_reset;
    const int smooth = x->surr.smooth_forward;
    float *v = x->scratch, *rin = x->scratch + plane;
    int64_t total = 0;
    for (int64_t i = 0; i < plane; i++) v[i] = c->v_leak;
    for (int t = 0; t < T; t++) {
        const float *ft = ff + (ff_rows == 1 ? 0 : (int64_t)t * plane);
        for (int b = 0; b < B; b++) memcpy(rin + (int64_t)b * n, bias, sizeof(float) * n);
        if (t > 0) {
            const float *prev = spk + (int64_t)(t - 1) * plane;
            float *fb = x->scratch + 2 * plane;
            if (x->hooks.product && x->hooks.product(x->hooks.ctx, nd->rec, prev, 1, B, 1, fb) >= 0) {
                for (int64_t i = 0; i < plane; i++) rin[i] += fb[i];   /* a chip's read of the feedback */
            } else {
                nm_sgemm(0, 1, B, n, n, 1.0f, prev, n, W, n, 1.0f, rin, n);
            }
        }
        float *ut = s->mem + (int64_t)t * plane, *st = spk + (int64_t)t * plane;
        int64_t cnt = 0;
        #pragma omp parallel for schedule(static) reduction(+:cnt)
        for (int64_t i = 0; i < plane; i++) {
            float u = c->v_leak + c->alpha * (v[i] - c->v_leak) + c->beta * (ft[i] + rin[i]);
            float xx = u - c->v_th;
            float sp = smooth ? nm_surrogate_primitive(&x->surr, xx) : (xx > 0.0f ? 1.0f : 0.0f);
            cnt += xx > 0.0f;
            ut[i] = u;
            st[i] = sp;
            v[i] = c->reset == NM_RESET_SUBTRACT ? u - sp * jump
                 : c->reset == NM_RESET_TO_VALUE ? u * (1.0f - sp) + sp * c->v_reset : u;
        }
        total += cnt;
    }
    return total;
}

static nm_status run_neuron(nm_exec *x, int j, const nm_node *nd, node_state *s, const float *params) {
    const int jsrc = nm_graph_data_node(x->g, nd->src);
    const int T = x->cfg.n_steps, B = x->batch;
    const int64_t n = nd->n_out;
    const int in_rows = x->st[jsrc].rows;
    const float *in = nm_exec_output_floats(x, jsrc);
    const int spiking = nm_node_kind_spiking(nd->kind), smooth = x->surr.smooth_forward;
    float *spk = spiking ? (smooth ? s->out : x->spk) : NULL;
    if (spiking && !smooth && x->spk == in) {
        /* the input is the previous population's spikes in the same scratch: move them */
        memcpy(x->unpack, in, sizeof(float) * in_rows * B * nd->n_in);
        x->unpack_owner = jsrc;
        in = x->unpack;
    }
    if (spiking && !smooth) x->spk_owner = -1;   /* overwritten below */
    int64_t count = 0;
    s->rows = T;
    /* a chip's mismatched neurons (recurrent and learnable-constant LIF keep their own) */
    const nm_lif_pn_step *hw = x->hooks.neurons && nd->rec < 0 && !(nd->flags & NM_NODE_LEARN_NEURON)
                                   ? x->hooks.neurons(x->hooks.ctx, j, x->cfg.dt) : NULL;
    if (hw && (nd->kind == NM_NODE_LIF || nd->kind == NM_NODE_IF)) {
        count = nm_lif_forward_pn(hw, &x->surr, T, B, n, in, in_rows, s->mem, spk, x->scratch);
    } else if (hw && nd->kind == NM_NODE_LI) {
        nm_li_forward_pn(hw, T, B, n, in, in_rows, s->mem);
    } else switch (nd->kind) {
    case NM_NODE_LIF:
        if (nd->rec >= 0) {
            count = run_recurrent_lif(x, nd, s, in, in_rows, params, spk);
        } else if (nd->flags & NM_NODE_LEARN_NEURON) {
            const float *tau = params + nd->p_off, *th = tau + nm_pad16(n);
            nm_status rc = nm_lif_discretize_pn(&nd->lif, x->cfg.dt, n, tau, th, s->pn_buf, &s->pn);
            if (rc) return nm__error(rc, "node '%s': %s", nd->name, nm_errmsg());
            count = nm_lif_forward_pn(&s->pn, &x->surr, T, B, n, in, in_rows, s->mem, spk, x->scratch);
        } else {
            count = nm_lif_forward(&s->c, &x->surr, T, B, n, in, in_rows, s->mem, spk, x->scratch);
        }
        break;
    case NM_NODE_IF:
        count = nm_if_forward(&s->c, &x->surr, T, B, n, in, in_rows, s->mem, spk, x->scratch);
        break;
    case NM_NODE_CUBALIF:
        count = nm_cuba_lif_forward(&s->cc, &x->surr, T, B, n, in, in_rows, s->mem, NULL, spk, s->clamped, x->scratch);
        break;
    case NM_NODE_ALIF:
        count = nm_alif_forward(&s->ac, &x->surr, T, B, n, in, in_rows, s->mem, s->thr, spk, s->clamped, x->scratch);
        break;
    case NM_NODE_LI:
        nm_li_forward(&s->c, T, B, n, in, in_rows, s->mem);
        break;
    case NM_NODE_CUBALI:
        nm_cuba_li_forward(&s->cc, T, B, n, in, in_rows, s->mem, x->scratch);
        break;
    default:
        break;
    }
    s->spikes = count;
    s->binary = spiking && !smooth;
    if (s->binary) {
        nm_bits_pack(spk, (int64_t)T * B, n, s->bits);
        x->spk_owner = j;
    }
    return NM_OK;
}

static void run_delay(nm_exec *x, const nm_node *nd, node_state *s) {
    const int jsrc = nm_graph_data_node(x->g, nd->src);
    const float *in = nm_exec_output_floats(x, jsrc);
    const int T = x->cfg.n_steps, B = x->batch, in_rows = x->st[jsrc].rows;
    const int64_t n = nd->n_out, plane = (int64_t)B * n;
    const float *d = nm_graph_consts(x->g) + nd->c_off;
    s->rows = T;
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            float *y = s->out + (int64_t)t * plane + (int64_t)b * n;
            for (int64_t i = 0; i < n; i++) {
                int ts = t - (int)d[i];
                y[i] = ts < 0 ? 0.0f : in[(in_rows == 1 ? 0 : (int64_t)ts * plane) + (int64_t)b * n + i];
            }
        }
}

nm_status nm_exec_forward(nm_exec *x, const float *input, int in_rows, int batch) {
    const int T = x->cfg.n_steps;
    if (batch <= 0 || batch > x->cfg.max_batch)
        return nm__error(NM_INVAL, "batch of %d samples does not fit this executor (1..%d)", batch, x->cfg.max_batch);
    if (in_rows != 1 && in_rows != T)
        return nm__error(NM_INVAL, "input has %d time rows; expected 1 (constant) or %d (one per step)", in_rows, T);
    const float *params = nm_graph_params_const(x->g);
    x->batch = batch;
    x->spk_owner = x->unpack_owner = -1;
    if (x->hooks.begin) x->hooks.begin(x->hooks.ctx, batch, x->cfg.dt);
    for (int j = 0; j < x->n; j++) {
        const nm_node *nd = nm_graph_node(x->g, j);
        node_state *s = &x->st[j];
        s->spikes = 0;
        if (nd->flags & NM_NODE_RECURRENT) continue;
        if (nd->kind == NM_NODE_INPUT) {
            s->out = (float *)input;   /* borrowed: never written */
            s->rows = in_rows;
            s->binary = 0;
            const int64_t m = (int64_t)in_rows * batch;
            if (s->bits && x->cfg.sparse != NM_SPARSE_NEVER && all_binary(input, m * nd->n_out)) {
                nm_bits_pack(input, m, nd->n_out, s->bits);
                s->binary = 1;
            }
            continue;
        }
        if (nd->kind == NM_NODE_FLATTEN || nd->kind == NM_NODE_OUTPUT) {
            s->rows = x->st[nd->src].rows;
            continue;
        }
        const int jsrc = nm_graph_data_node(x->g, nd->src);
        const node_state *src = &x->st[jsrc];
        const int64_t m = (int64_t)src->rows * batch;
        nm_status rc;
        switch (nd->kind) {
        case NM_NODE_AFFINE:
        case NM_NODE_LINEAR:
            run_dense(x, j, nd, s, params);
            break;
        case NM_NODE_CONV: {
            const float *in = nm_exec_output_floats(x, jsrc);
            const int rows = x->hooks.product ? x->hooks.product(x->hooks.ctx, j, in, src->rows, batch, T, s->out) : -1;
            if (rows >= 0) {   /* the chip's product */
                s->rows = rows;
                add_bias(s->out, (int64_t)rows * batch, nd->conv.c_out, nd->conv.h_out * nd->conv.w_out, params + nd->b_off);
                break;
            }
            const float *W = x->hooks.weights ? x->hooks.weights(x->hooks.ctx, j) : NULL;
            s->rows = src->rows;
            nm_conv_forward(&nd->conv, W ? W : params + nd->w_off, params + nd->b_off, in, m, s->out, x->conv_scratch);
            break;
        }
        case NM_NODE_SUMPOOL:
        case NM_NODE_AVGPOOL:
            s->rows = src->rows;
            nm_pool_forward(&nd->conv, nd->kind == NM_NODE_SUMPOOL ? NM_POOL_SUM : NM_POOL_AVG,
                            nm_exec_output_floats(x, jsrc), m, s->out);
            break;
        case NM_NODE_SCALE: {
            const float *in = nm_exec_output_floats(x, jsrc), *sc = params + nd->w_off;
            const int64_t n = nd->n_out;
            s->rows = src->rows;
            #pragma omp parallel for schedule(static)
            for (int64_t r = 0; r < m; r++)
                for (int64_t i = 0; i < n; i++) s->out[r * n + i] = sc[i] * in[r * n + i];
            break;
        }
        case NM_NODE_DELAY:
            run_delay(x, nd, s);
            break;
        default:
            if ((rc = run_neuron(x, j, nd, s, params))) return rc;
            break;
        }
    }
    return NM_OK;
}

/* ---- accessors --------------------------------------------------------- */

nm_view nm_exec_output(const nm_exec *x, int node) {
    nm_view v = {0};
    if (node < 0 || node >= x->n) return v;
    int j = nm_graph_data_node(x->g, node);
    const node_state *s = &x->st[j];
    const nm_node *nd = nm_graph_node(x->g, j);
    if (s->out) v.data = s->out;
    else if (nm_node_kind_neuron(nd->kind) && !nm_node_kind_spiking(nd->kind)) v.data = s->mem;
    if (s->binary) v.bits = s->bits;
    if (nm_node_kind_spiking(nd->kind) && s->binary) v.data = NULL;   /* bits are the output */
    v.rows = s->rows;
    v.batch = x->batch;
    v.n = nd->n_out;
    return v;
}

nm_view nm_exec_membrane(const nm_exec *x, int node) {
    nm_view v = {0};
    if (node < 0 || node >= x->n || !x->st[node].mem) return v;
    v.data = x->st[node].mem;
    v.rows = x->cfg.n_steps;
    v.batch = x->batch;
    v.n = nm_graph_node(x->g, node)->n_out;
    return v;
}

const float *nm_exec_threshold(const nm_exec *x, int node) { return x->st[node].thr; }
const uint8_t *nm_exec_clamped(const nm_exec *x, int node) { return x->st[node].clamped; }
int64_t nm_exec_spikes(const nm_exec *x, int node) { return (node >= 0 && node < x->n) ? x->st[node].spikes : 0; }

int64_t nm_exec_total_spikes(const nm_exec *x) {
    int64_t s = 0;
    int ro = nm_graph_readout(x->g);
    for (int j = 0; j < x->n; j++)
        if (j != ro) s += x->st[j].spikes;
    return s;
}

int nm_exec_used_sparse(const nm_exec *x, int node) { return x->st[node].sparse; }
double nm_exec_input_density(const nm_exec *x, int node) { return x->st[node].density; }
const nm_lif_step *nm_exec_consts(const nm_exec *x, int node) { return &x->st[node].c; }
const nm_cuba_lif_step *nm_exec_cuba_consts(const nm_exec *x, int node) { return &x->st[node].cc; }
const nm_alif_step *nm_exec_alif_consts(const nm_exec *x, int node) { return &x->st[node].ac; }
const nm_lif_pn_step *nm_exec_pn_consts(const nm_exec *x, int node) { return &x->st[node].pn; }
const nm_graph *nm_exec_graph(const nm_exec *x) { return x->g; }
const nm_exec_config *nm_exec_get_config(const nm_exec *x) { return &x->cfg; }
int nm_exec_batch(const nm_exec *x) { return x->batch; }
const nm_surrogate *nm_exec_surrogate(const nm_exec *x) { return &x->surr; }
float *nm_exec_scratch(nm_exec *x) { return x->scratch; }
float *nm_exec_conv_scratch(nm_exec *x) { return x->conv_scratch; }

void nm_exec_memory_usage(const nm_exec *x, nm_exec_memory *m) {
    memset(m, 0, sizeof *m);
    const int64_t TB = (int64_t)x->cfg.n_steps * x->cfg.max_batch;
    for (int j = 0; j < x->n; j++) {
        const node_state *s = &x->st[j];
        const nm_node *nd = nm_graph_node(x->g, j);
        if (s->mem) m->membranes += (int64_t)sizeof(float) * TB * nd->n_out;
        if (s->bits) {
            m->spike_bits += (int64_t)sizeof(uint64_t) * TB * nm_bits_words(nd->n_out);
            m->spikes_as_floats += (int64_t)sizeof(float) * TB * nd->n_out;
        }
        if (s->out && s->owns) m->activations += (int64_t)sizeof(float) * TB * nd->n_out;
        if (s->thr) m->traces += (int64_t)sizeof(float) * TB * nd->n_out;
        if (s->clamped) m->traces += TB * nd->n_out;
    }
    m->scratch = (int64_t)sizeof(float) * (x->n_scratch + x->n_conv_scratch + x->n_spk + x->n_unpack + x->n_wt);
    m->total = m->membranes + m->spike_bits + m->activations + m->traces + m->scratch;
}

/* ---- scores ------------------------------------------------------------ */

int nm_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

void nm_exec_scores(const nm_exec *x, nm_readout mode, float *scores) {
    const int ro = nm_graph_readout(x->g);
    if (mode == NM_READOUT_COUNT) {
        nm_view v = nm_exec_output(x, ro);
        for (int b = 0; b < v.batch; b++)
            for (int64_t c = 0; c < v.n; c++) {
                float acc = 0.0f;
                for (int t = 0; t < v.rows; t++) acc += nm_view_at(&v, t, b, c);
                scores[(int64_t)b * v.n + c] = acc;
            }
        return;
    }
    nm_view m = nm_exec_membrane(x, ro);
    NM_ASSERT(m.data);
    const int64_t C = m.n, plane = (int64_t)m.batch * C;
    for (int b = 0; b < m.batch; b++) {
        float *sc = scores + (int64_t)b * C;
        for (int64_t c = 0; c < C; c++) {
            const float *u = m.data + (int64_t)b * C + c;
            float acc = mode == NM_READOUT_MAX ? -INFINITY : 0.0f;
            for (int t = 0; t < m.rows; t++) {
                float v = u[(int64_t)t * plane];
                if (mode == NM_READOUT_MAX) acc = v > acc ? v : acc;
                else acc += v;
            }
            sc[c] = mode == NM_READOUT_MAX ? acc : acc / (float)m.rows;
        }
    }
}
