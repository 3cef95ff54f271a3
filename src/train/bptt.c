/*
** Backpropagation through time over a recorded forward pass.
**
** One gradient buffer per node holds dL/d(node output), (rows, batch, n_out), rows as in
** the forward pass: an Affine fed by a constant current has one row, and the LIF after it
** sums its input gradient over time into that row, so the weight gradient of the first
** layer is one product over the batch instead of one per step.
*/
#include <neuromorph/train.h>

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

struct nm_bptt {
    nm_exec *x;
    float  **gout;   /* per node: dL/d(output), (rows, batch, n_out); NULL where unused */
    int      n;
};

void nm_bptt_destroy(nm_bptt *b) {
    if (!b) return;
    if (b->gout)
        for (int j = 0; j < b->n; j++) nm_free(b->gout[j]);
    free(b->gout);
    free(b);
}

nm_status nm_bptt_create(nm_exec *x, nm_bptt **out) {
    const nm_graph *g = nm_exec_graph(x);
    const nm_exec_config *cfg = nm_exec_get_config(x);
    nm_bptt *b = calloc(1, sizeof *b);
    if (!b) return nm__error(NM_NOMEM, "out of memory for the backward pass");
    b->x = x;
    b->n = nm_graph_n_nodes(g);
    b->gout = calloc(b->n, sizeof(float *));
    if (!b->gout) goto nomem;
    /* The input and output nodes need no buffer: nothing upstream of the input learns,
    ** and the output's gradient is the readout's, given by the loss. */
    for (int j = 1; j < b->n; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nd->kind == NM_NODE_OUTPUT || nd->kind == NM_NODE_LI) continue;
        b->gout[j] = nm_alloc(sizeof(float) * (int64_t)cfg->n_steps * cfg->max_batch * nd->n_out);
        if (!b->gout[j]) goto nomem;
    }
    *out = b;
    return NM_OK;
nomem:
    nm_bptt_destroy(b);
    return nm__error(NM_NOMEM, "out of memory for the backward pass");
}

void nm_bptt_backward(nm_bptt *bp, const float *g_mem, int detach_reset, float *grads) {
    nm_exec *x = bp->x;
    const nm_graph *g = nm_exec_graph(x);
    const float *params = nm_graph_params_const(g);
    const int T = nm_exec_get_config(x)->n_steps, B = nm_exec_batch(x);
    float *ws = nm_exec_scratch(x);

    memset(grads, 0, sizeof(float) * nm_graph_n_params(g));
    for (int j = bp->n - 1; j >= 1; j--) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nd->kind == NM_NODE_OUTPUT) continue;
        const nm_node *src = nm_graph_node(g, nd->src);
        const int src_learns = src->kind != NM_NODE_INPUT;   /* no gradient into the input */
        float *gin = bp->gout[nd->src];
        nm_view in = nm_exec_output(x, nd->src);
        const float *gy = nd->kind == NM_NODE_LI ? g_mem : bp->gout[j];

        switch (nd->kind) {
        case NM_NODE_LI:
            if (src_learns) nm_li_backward(nm_exec_consts(x, j), T, B, nd->n_out, gy, gin, in.rows, ws);
            break;
        case NM_NODE_LIF:
            if (src_learns)
                nm_lif_backward(nm_exec_consts(x, j), nm_exec_surrogate(x), T, B, nd->n_out,
                                nm_exec_membrane(x, j).data, gy, detach_reset, gin, in.rows, ws);
            break;
        case NM_NODE_AFFINE: {
            const int m = in.rows * B, n_in = (int)nd->n_in, n_out = (int)nd->n_out;
            float *dW = grads + nd->w_off, *db = grads + nd->b_off;
            /* dW (n_out, n_in) = gy^T (n_out, m) x (m, n_in) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_out, n_in, m, 1.0f, gy, n_out, in.data, n_in,
                        0.0f, dW, n_in);
            #pragma omp parallel for schedule(static)
            for (int c = 0; c < n_out; c++) {
                float acc = 0.0f;
                for (int r = 0; r < m; r++) acc += gy[(int64_t)r * n_out + c];
                db[c] = acc;
            }
            /* dX (m, n_in) = gy (m, n_out) x W (n_out, n_in) */
            if (src_learns)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n_in, n_out, 1.0f, gy, n_out,
                            params + nd->w_off, n_in, 0.0f, gin, n_in);
            break;
        }
        default:
            break;
        }
    }
}
