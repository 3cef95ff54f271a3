/*
** Backpropagation through time over a recorded forward pass.
**
** One gradient buffer per node holds dL/d(node output), (rows, batch, n_out), rows as in
** the forward pass: an Affine fed by a constant current has one row, and the population
** after it sums its input gradient over time into that row, so the weight gradient of the
** first layer is one product over the batch instead of one per step. Flatten shares its
** source's buffer (the data do not move).
**
** Nodes run in reverse order; each turns the gradient of its output into the gradient of
** its input and of its parameters. Affine layers that took the gather path forward take
** the sparse outer product backward (dW += gy^T X over the set bits only).
*/
#include <neuromorph/train.h>

#include <stdlib.h>
#include <string.h>

struct nm_bptt {
    nm_exec *x;
    float  **gout;    /* per node: dL/d(output); NULL where unused; Flatten aliases */
    float  **grec;    /* recurrent populations: dL/dI (n_steps, batch, n)           */
    int     *owns;
    int      n;
    float    rate_reg;
    int64_t  bytes;
};

void nm_bptt_destroy(nm_bptt *b) {
    if (!b) return;
    for (int j = 0; j < b->n; j++) {
        if (b->gout && b->owns[j]) nm_free(b->gout[j]);
        if (b->grec) nm_free(b->grec[j]);
    }
    free(b->gout);
    free(b->grec);
    free(b->owns);
    free(b);
}

nm_status nm_bptt_create(nm_exec *x, nm_bptt **out) {
    const nm_graph *g = nm_exec_graph(x);
    const nm_exec_config *cfg = nm_exec_get_config(x);
    const int64_t TB = (int64_t)cfg->n_steps * cfg->max_batch;
    nm_bptt *b = calloc(1, sizeof *b);
    if (!b) return nm__error(NM_NOMEM, "out of memory for the backward pass");
    b->x = x;
    b->n = nm_graph_n_nodes(g);
    b->gout = calloc(b->n, sizeof(float *));
    b->grec = calloc(b->n, sizeof(float *));
    b->owns = calloc(b->n, sizeof(int));
    if (!b->gout || !b->grec || !b->owns) goto nomem;
    /* The input needs no buffer (nothing upstream learns), nor the Output (its gradient is
    ** the readout's, given by the loss), nor the readout itself. */
    const int ro = nm_graph_readout(g);
    for (int j = 1; j < b->n; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nd->kind == NM_NODE_OUTPUT || nd->kind == NM_NODE_FLATTEN || (nd->flags & NM_NODE_RECURRENT) || j == ro) continue;
        if (!(b->gout[j] = nm_alloc(sizeof(float) * TB * nd->n_out))) goto nomem;
        b->owns[j] = 1;
        b->bytes += (int64_t)sizeof(float) * TB * nd->n_out;
        if (nd->rec >= 0) {
            if (!(b->grec[j] = nm_alloc(sizeof(float) * TB * nd->n_out))) goto nomem;
            b->bytes += (int64_t)sizeof(float) * TB * nd->n_out;
        }
    }
    for (int j = 1; j < b->n; j++)
        if (nm_graph_node(g, j)->kind == NM_NODE_FLATTEN) b->gout[j] = b->gout[nm_graph_data_node(g, j)];
    *out = b;
    return NM_OK;
nomem:
    nm_bptt_destroy(b);
    return nm__error(NM_NOMEM, "out of memory for the backward pass");
}

void nm_bptt_set_rate_reg(nm_bptt *b, float lambda) { b->rate_reg = lambda; }
int64_t nm_bptt_bytes(const nm_bptt *b) { return b->bytes; }

/* sums (n) = the column sums of a (m, n), row after row in a fixed order: threads own
** blocks of columns, and the inner loop runs along a row, so it vectorizes. */
static void col_sums(const float *a, int64_t m, int64_t n, float *sums) {
    const int64_t blk = 256;
    #pragma omp parallel for schedule(static)
    for (int64_t c0 = 0; c0 < n; c0 += blk) {
        const int64_t c1 = c0 + blk < n ? c0 + blk : n;
        float *acc = sums + c0;
        for (int64_t c = c0; c < c1; c++) acc[c - c0] = 0.0f;
        for (int64_t r = 0; r < m; r++) {
            const float *row = a + r * n;
            for (int64_t c = c0; c < c1; c++) acc[c - c0] += row[c];
        }
    }
}

/* dW (n_out, n_in) = gy^T X, db = column sums of gy, gin = gy W (when wanted). */
static void dense_backward(nm_exec *x, int jsrc, const nm_node *nd, int sparse, const float *W, const float *gy, int64_t m,
                           float *dW, float *db, float *gin) {
    const int n_in = (int)nd->n_in, n_out = (int)nd->n_out;
    if (sparse) {
        nm_view in = nm_exec_output(x, jsrc);
        memset(dW, 0, sizeof(float) * n_in * n_out);
        nm_affine_dweight_sparse(gy, in.bits, m, n_in, n_out, dW);
    } else {
        nm_sgemm(1, 0, n_out, n_in, m, 1.0f, gy, n_out, nm_exec_output_floats(x, jsrc), n_in, 0.0f, dW, n_in);
    }
    if (db) col_sums(gy, m, n_out, db);
    if (gin)
        nm_sgemm(0, 0, m, n_in, n_out, 1.0f, gy, n_out, W, n_in, 0.0f, gin, n_in);
}

/* A recurrent LIF population, backward step by step: the spikes of step t also reach
** step t+1 through W, so dL/ds[t] = g_spk[t] + W^T dL/dI[t+1]. */
static void recurrent_backward(nm_bptt *bp, int j, const nm_node *nd, const float *gy, int detach_reset, float *gin,
                               int in_rows, float *grads) {
    nm_exec *x = bp->x;
    const nm_graph *g = nm_exec_graph(x);
    const nm_node *rn = nm_graph_node(g, nd->rec);
    const float *W = nm_graph_params_const(g) + rn->w_off;
    const int T = nm_exec_get_config(x)->n_steps, B = nm_exec_batch(x);
    const int64_t n = nd->n_out, plane = (int64_t)B * n;
    const nm_lif_step *c = nm_exec_consts(x, j);
    const nm_surrogate *sur = nm_exec_surrogate(x);
    const float *u = nm_exec_membrane(x, j).data;
    const float *S = nm_exec_output_floats(x, j);
    const float jump = c->v_th - c->v_reset;
    float *gI = bp->grec[j], *gv = nm_exec_scratch(x), *gs = gv + plane;

    for (int64_t i = 0; i < plane; i++) gv[i] = 0.0f;
    for (int t = T - 1; t >= 0; t--) {
        memcpy(gs, gy + (int64_t)t * plane, sizeof(float) * plane);
        if (t < T - 1)
            nm_sgemm(0, 0, B, n, n, 1.0f, gI + (int64_t)(t + 1) * plane, n, W, n, 1.0f, gs, n);
        const float *ut = u + (int64_t)t * plane, *st = S + (int64_t)t * plane;
        float *gIt = gI + (int64_t)t * plane;
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < plane; i++) {
            float xx = ut[i] - c->v_th, sg = nm_surrogate_grad(sur, xx);
            float dv_du = 1.0f, dv_ds = 0.0f;
            if (c->reset == NM_RESET_SUBTRACT) dv_ds = -jump;
            else if (c->reset == NM_RESET_TO_VALUE) { dv_du = 1.0f - st[i]; dv_ds = c->v_reset - ut[i]; }
            float g_s = gs[i] + (detach_reset ? 0.0f : gv[i] * dv_ds);
            float gu = gv[i] * dv_du + g_s * sg;
            gIt[i] = c->beta * gu;
            gv[i] = c->alpha * gu;
        }
    }
    /* dW = sum over t >= 1 of dL/dI[t]^T s[t-1]; db = sum of dL/dI */
    float *dW = grads + rn->w_off, *db = grads + rn->b_off;
    if (T > 1)
        nm_sgemm(1, 0, n, n, (T - 1) * B, 1.0f, gI + plane, n, S, n, 0.0f, dW, n);
    else
        memset(dW, 0, sizeof(float) * n * n);
    col_sums(gI, (int64_t)T * B, n, db);
    if (!gin) return;
    if (in_rows == T) {
        memcpy(gin, gI, sizeof(float) * T * plane);
    } else {
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < plane; i++) {
            float acc = 0.0f;
            for (int t = 0; t < T; t++) acc += gI[(int64_t)t * plane + i];
            gin[i] = acc;
        }
    }
}

/* A chip reads a constant input afresh at every step (its own noise each time), so a
** product node can have n_steps rows over a 1-row input. Every row is the same product of
** the same input: the input's gradient is the sum over the rows; it goes to row 0. */
static void fold_rows(float *gy, int rows, int64_t plane) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < plane; i++) {
        float acc = gy[i];
        for (int t = 1; t < rows; t++) acc += gy[(int64_t)t * plane + i];
        gy[i] = acc;
    }
}

double nm_bptt_backward(nm_bptt *bp, const float *g_readout, int detach_reset, float *grads) {
    nm_exec *x = bp->x;
    const nm_graph *g = nm_exec_graph(x);
    const float *params = nm_graph_params_const(g);
    const int T = nm_exec_get_config(x)->n_steps, B = nm_exec_batch(x);
    const int ro = nm_graph_readout(g);
    float *ws = nm_exec_scratch(x);
    const nm_surrogate *sur = nm_exec_surrogate(x);
    double reg = 0.0;

    memset(grads, 0, sizeof(float) * nm_graph_n_params(g));
    for (int j = bp->n - 1; j >= 1; j--) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nd->kind == NM_NODE_OUTPUT || nd->kind == NM_NODE_FLATTEN || (nd->flags & NM_NODE_RECURRENT)) continue;
        const int jsrc = nm_graph_data_node(g, nd->src);
        float *gin = jsrc != 0 ? bp->gout[jsrc] : NULL;   /* nothing upstream of the input learns */
        const nm_view in = nm_exec_output(x, jsrc);
        const int64_t n = nd->n_out, m = (int64_t)in.rows * B;
        float *gy = j == ro ? (float *)g_readout : bp->gout[j];
        const int rows = nm_exec_output(x, j).rows;
        if (rows != in.rows && j != ro && (nm_node_weight_count(nd) > 0))
            fold_rows(gy, rows, (int64_t)B * nm_graph_node(g, j)->n_out);

        if (nm_node_kind_spiking(nd->kind) && j != ro && bp->rate_reg > 0) {
            const double per = (double)bp->rate_reg / ((double)B * T * n);
            reg += per * (double)nm_exec_spikes(x, j);
            const float add = (float)per;
            #pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < (int64_t)T * B * n; i++) gy[i] += add;
        }
        switch (nd->kind) {
        case NM_NODE_LI:
            if (gin) nm_li_backward(nm_exec_consts(x, j), T, B, n, gy, gin, in.rows, ws);
            break;
        case NM_NODE_CUBALI:
            if (gin) nm_cuba_li_backward(nm_exec_cuba_consts(x, j), T, B, n, gy, gin, in.rows, ws);
            break;
        case NM_NODE_LIF:
            if (nd->rec >= 0) {
                recurrent_backward(bp, j, nd, gy, detach_reset, gin, in.rows, grads);
            } else if (nd->flags & NM_NODE_LEARN_NEURON) {
                float *g_tau = grads + nd->p_off, *g_th = g_tau + nm_pad16(n);
                nm_lif_backward_params(nm_exec_pn_consts(x, j), sur, T, B, n, nm_exec_output_floats(x, jsrc), in.rows,
                                       nm_exec_membrane(x, j).data, gy, detach_reset, gin, g_tau, g_th, ws);
            } else if (gin) {
                nm_lif_backward(nm_exec_consts(x, j), sur, T, B, n, nm_exec_membrane(x, j).data, gy, detach_reset, gin,
                                in.rows, ws);
            }
            break;
        case NM_NODE_IF:
            if (gin)
                nm_if_backward(nm_exec_consts(x, j), sur, T, B, n, nm_exec_membrane(x, j).data, gy, detach_reset, gin,
                               in.rows, ws);
            break;
        case NM_NODE_CUBALIF:
            if (gin)
                nm_cuba_lif_backward(nm_exec_cuba_consts(x, j), sur, T, B, n, nm_exec_membrane(x, j).data,
                                     nm_exec_clamped(x, j), gy, detach_reset, gin, in.rows, ws);
            break;
        case NM_NODE_ALIF:
            if (gin)
                nm_alif_backward(nm_exec_alif_consts(x, j), sur, T, B, n, nm_exec_membrane(x, j).data,
                                 nm_exec_threshold(x, j), nm_exec_clamped(x, j), gy, detach_reset, gin, in.rows, ws);
            break;
        case NM_NODE_AFFINE:
        case NM_NODE_LINEAR:
            dense_backward(x, jsrc, nd, nm_exec_used_sparse(x, j), params + nd->w_off, gy, m, grads + nd->w_off,
                           nd->b_off >= 0 ? grads + nd->b_off : NULL, gin);
            break;
        case NM_NODE_CONV:
            nm_conv_backward(&nd->conv, params + nd->w_off, nm_exec_output_floats(x, jsrc), gy, m, grads + nd->w_off,
                             grads + nd->b_off, gin, nm_exec_conv_scratch(x));
            break;
        case NM_NODE_SUMPOOL:
        case NM_NODE_AVGPOOL:
            if (gin) nm_pool_backward(&nd->conv, nd->kind == NM_NODE_SUMPOOL ? NM_POOL_SUM : NM_POOL_AVG, gy, m, gin);
            break;
        case NM_NODE_SCALE: {
            const float *xin = nm_exec_output_floats(x, jsrc), *s = params + nd->w_off;
            float *ds = grads + nd->w_off;
            #pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; i++) {
                float acc = 0.0f;
                for (int64_t r = 0; r < m; r++) acc += gy[r * n + i] * xin[r * n + i];
                ds[i] = acc;
            }
            if (gin) {
                #pragma omp parallel for schedule(static)
                for (int64_t r = 0; r < m; r++)
                    for (int64_t i = 0; i < n; i++) gin[r * n + i] = s[i] * gy[r * n + i];
            }
            break;
        }
        case NM_NODE_DELAY: {
            if (!gin) break;
            const float *d = nm_graph_consts(g) + nd->c_off;
            const int64_t plane = (int64_t)B * n;
            #pragma omp parallel for schedule(static)
            for (int64_t k = 0; k < plane; k++) {
                const int64_t i = k % n;
                const int di = (int)d[i];
                if (in.rows == 1) {
                    float acc = 0.0f;
                    for (int t = di; t < T; t++) acc += gy[(int64_t)t * plane + k];
                    gin[k] = acc;
                } else {
                    for (int t = 0; t < T; t++) gin[(int64_t)t * plane + k] = t + di < T ? gy[(int64_t)(t + di) * plane + k] : 0.0f;
                }
            }
            break;
        }
        default:
            break;
        }
    }
    return reg;
}
