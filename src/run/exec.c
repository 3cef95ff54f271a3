/*
** The executor: buffers for every node, allocated once, and the layer-by-layer forward
** pass. Affine layers go through OpenBLAS sgemm over all (rows x batch) input rows at once;
** neuron layers through the neuron module's kernels, threaded over the batch.
*/
#include <neuromorph/run.h>

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct node_state {
    float      *out;      /* (rows, batch, n_out) */
    float      *mem;      /* (n_steps, batch, n_out) for LIF and LI; NULL otherwise */
    int         rows;     /* time rows of out in the last pass */
    int64_t     spikes;
    int         owns_out; /* out is ours (Input and Output nodes borrow theirs) */
    nm_lif_step c;
} node_state;

struct nm_exec {
    const nm_graph *g;
    nm_exec_config  cfg;
    node_state     *st;
    int             n;
    int             batch;
    float          *scratch;
    nm_surrogate    surr;
};

const char *nm_readout_name(nm_readout r) { return r == NM_READOUT_MAX ? "max" : "mean"; }

nm_status nm_readout_parse(const char *s, nm_readout *out) {
    if (!strcmp(s, "mean")) *out = NM_READOUT_MEAN;
    else if (!strcmp(s, "max")) *out = NM_READOUT_MAX;
    else return nm__error(NM_INVAL, "unknown readout '%s' (choose mean or max)", s);
    return NM_OK;
}

void nm_exec_destroy(nm_exec *x) {
    if (!x) return;
    if (x->st)
        for (int j = 0; j < x->n; j++) {
            if (x->st[j].owns_out) nm_free(x->st[j].out);
            nm_free(x->st[j].mem);
        }
    free(x->st);
    nm_free(x->scratch);
    free(x);
}

nm_status nm_exec_create(const nm_graph *g, const nm_exec_config *cfg, nm_exec **out) {
    if (!(cfg->dt > 0) || !isfinite(cfg->dt)) return nm__error(NM_RANGE, "time step dt must be positive, not %g", cfg->dt);
    if (cfg->n_steps <= 0) return nm__error(NM_RANGE, "number of steps must be positive, not %d", cfg->n_steps);
    if (cfg->max_batch <= 0) return nm__error(NM_RANGE, "batch size must be positive, not %d", cfg->max_batch);
    nm_exec *x = calloc(1, sizeof *x);
    if (!x) return nm__error(NM_NOMEM, "out of memory creating an executor");
    x->g = g;
    x->cfg = *cfg;
    x->n = nm_graph_n_nodes(g);
    nm_surrogate_default(&x->surr, NM_SURR_FAST_SIGMOID);
    x->st = calloc(x->n, sizeof *x->st);
    if (!x->st) goto nomem;
    int64_t T = cfg->n_steps, B = cfg->max_batch, widest = 1;
    for (int j = 0; j < x->n; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        node_state *s = &x->st[j];
        if (nd->n_out > widest) widest = nd->n_out;
        switch (nd->kind) {
        case NM_NODE_AFFINE:
            s->out = nm_alloc(sizeof(float) * T * B * nd->n_out);
            s->owns_out = 1;
            if (!s->out) goto nomem;
            break;
        case NM_NODE_LIF:
            nm_lif_discretize(&nd->lif, cfg->dt, &s->c);
            s->out = nm_alloc(sizeof(float) * T * B * nd->n_out);
            s->owns_out = 1;
            s->mem = nm_alloc(sizeof(float) * T * B * nd->n_out);
            if (!s->out || !s->mem) goto nomem;
            break;
        case NM_NODE_LI:
            nm_li_discretize(&nd->li, cfg->dt, &s->c);
            s->mem = nm_alloc(sizeof(float) * T * B * nd->n_out);
            if (!s->mem) goto nomem;
            s->out = NULL;   /* the membrane is the output */
            break;
        default:
            break;
        }
    }
    x->scratch = nm_alloc(sizeof(float) * B * widest);
    if (!x->scratch) goto nomem;
    *out = x;
    return NM_OK;
nomem:
    nm_exec_destroy(x);
    return nm__error(NM_NOMEM, "out of memory for the executor's buffers (batch %d, %d steps)", cfg->max_batch, cfg->n_steps);
}

/* y (rows*batch, n_out) = x (rows*batch, n_in) W^T + b */
static void affine_forward(const float *W, const float *b, const float *xin, int64_t m, int64_t n_in,
                           int64_t n_out, float *y) {
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < m; r++) memcpy(y + r * n_out, b, sizeof(float) * n_out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n_out, (int)n_in, 1.0f, xin, (int)n_in, W,
                (int)n_in, 1.0f, y, (int)n_out);
}

nm_status nm_exec_forward(nm_exec *x, const float *input, int in_rows, int batch) {
    const int T = x->cfg.n_steps;
    if (batch <= 0 || batch > x->cfg.max_batch)
        return nm__error(NM_INVAL, "batch of %d samples does not fit this executor (1..%d)", batch, x->cfg.max_batch);
    if (in_rows != 1 && in_rows != T)
        return nm__error(NM_INVAL, "input has %d time rows; expected 1 (constant) or %d (one per step)", in_rows, T);
    const float *params = nm_graph_params_const(x->g);
    x->batch = batch;
    for (int j = 0; j < x->n; j++) {
        const nm_node *nd = nm_graph_node(x->g, j);
        node_state *s = &x->st[j];
        s->spikes = 0;
        if (nd->kind == NM_NODE_INPUT) {
            s->out = (float *)input;   /* borrowed: never written */
            s->rows = in_rows;
            continue;
        }
        const node_state *src = &x->st[nd->src];
        const float *in = src->out ? src->out : src->mem;
        int rows = src->rows;
        switch (nd->kind) {
        case NM_NODE_AFFINE:
            affine_forward(params + nd->w_off, params + nd->b_off, in, (int64_t)rows * batch, nd->n_in, nd->n_out, s->out);
            s->rows = rows;
            break;
        case NM_NODE_LIF:
            s->spikes = nm_lif_forward(&s->c, &x->surr, T, batch, nd->n_out, in, rows, s->mem, s->out, x->scratch);
            s->rows = T;
            break;
        case NM_NODE_LI:
            nm_li_forward(&s->c, T, batch, nd->n_out, in, rows, s->mem);
            s->rows = T;
            break;
        case NM_NODE_OUTPUT:
            s->out = src->out ? src->out : src->mem;
            s->rows = rows;
            break;
        default:
            break;
        }
    }
    return NM_OK;
}

nm_view nm_exec_output(const nm_exec *x, int node) {
    nm_view v = {0};
    if (node < 0 || node >= x->n) return v;
    const node_state *s = &x->st[node];
    v.data = s->out ? s->out : s->mem;
    v.rows = s->rows;
    v.batch = x->batch;
    v.n = nm_graph_node(x->g, node)->n_out;
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

int64_t nm_exec_spikes(const nm_exec *x, int node) { return (node >= 0 && node < x->n) ? x->st[node].spikes : 0; }

int64_t nm_exec_total_spikes(const nm_exec *x) {
    int64_t s = 0;
    for (int j = 0; j < x->n; j++) s += x->st[j].spikes;
    return s;
}

const nm_lif_step *nm_exec_consts(const nm_exec *x, int node) { return &x->st[node].c; }
const nm_graph *nm_exec_graph(const nm_exec *x) { return x->g; }
const nm_exec_config *nm_exec_get_config(const nm_exec *x) { return &x->cfg; }
int nm_exec_batch(const nm_exec *x) { return x->batch; }
void nm_exec_set_surrogate(nm_exec *x, const nm_surrogate *s) { x->surr = *s; }
const nm_surrogate *nm_exec_surrogate(const nm_exec *x) { return &x->surr; }
float *nm_exec_scratch(nm_exec *x) { return x->scratch; }

int nm_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

void nm_exec_scores(const nm_exec *x, nm_readout mode, float *scores) {
    nm_view m = nm_exec_membrane(x, nm_graph_readout(x->g));
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
