/*
** ann.c: a layered graph in ANN mode, the network that ANN-to-SNN conversion starts from.
**
** The graph is the spiking one (same nodes, same parameter block), run once on the analog
** input with no time: a hidden spiking population is a ReLU (the rate of an IF neuron with
** reset by subtraction is a clipped ReLU of its input current, which is why conversion
** works), the readout population is the identity (its input is the logits). Affine, Conv
** and pools reuse the engine's kernels (nm_sgemm, nm_conv_forward/backward, nm_pool_*), so
** the ANN and the converted SNN compute the same linear maps.
**
** Buffers: one (max_batch, n_out) activation and gradient per node that owns data (Flatten
** and Output read through to their source). Graphs are chains, so a gradient is written
** once by the node's only consumer. Every reduction (bias gradient over the batch, loss)
** runs in a fixed order: the same bits with any thread count.
*/
#include "learn_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct nm_ann {
    const nm_graph *g;
    int     max_batch, batch, n;
    float **act;      /* per node: (max_batch, n_out), NULL where it reads through */
    float **grad;     /* per node: dL/d(act), same shapes                           */
    float  *scratch;  /* conv kernels                                               */
};

nm_status nm__ann_check(const nm_graph *g) {
    const int n = nm_graph_n_nodes(g);
    for (int j = 0; j < n; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nd->kind == NM_NODE_SCALE || nd->kind == NM_NODE_DELAY || (nd->flags & NM_NODE_RECURRENT) || nd->rec >= 0)
            return nm__error(NM_UNSUPPORTED, "node '%s' (%s) has no ANN form: only feed-forward Affine, Conv, pooling "
                                             "and population layers convert",
                             nd->name, nm_node_kind_name(nd->kind));
    }
    return NM_OK;
}

nm_status nm_ann_create(const nm_graph *g, int max_batch, nm_ann **out) {
    NM_ASSERT(g && out);
    if (max_batch < 1) return nm__error(NM_INVAL, "ANN batch must be at least 1, got %d", max_batch);
    nm_status rc = nm__ann_check(g);
    if (rc) return rc;
    nm_ann *a = calloc(1, sizeof *a);
    if (!a) return NM_NOMEM;
    a->g = g;
    a->max_batch = max_batch;
    a->n = nm_graph_n_nodes(g);
    a->act = calloc((size_t)a->n, sizeof *a->act);
    a->grad = calloc((size_t)a->n, sizeof *a->grad);
    if (!a->act || !a->grad) goto nomem;
    int64_t scratch = 0;
    for (int j = 0; j < a->n; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (nm_graph_data_node(g, j) != j) continue;
        size_t sz = (size_t)max_batch * (size_t)nd->n_out * sizeof(float);
        if (!(a->act[j] = nm_alloc(sz)) || !(a->grad[j] = nm_alloc(sz))) goto nomem;
        if (nd->kind == NM_NODE_CONV) {
            int64_t s = nm_conv_scratch_floats(&nd->conv, max_batch);
            if (s > scratch) scratch = s;
        }
    }
    if (scratch && !(a->scratch = nm_alloc((size_t)scratch * sizeof(float)))) goto nomem;
    *out = a;
    return NM_OK;
nomem:
    nm_ann_destroy(a);
    return nm__error(NM_NOMEM, "out of memory for the ANN's activations (batch %d)", max_batch);
}

void nm_ann_destroy(nm_ann *a) {
    if (!a) return;
    for (int j = 0; a->act && j < a->n; j++) {
        nm_free(a->act[j]);
        if (a->grad) nm_free(a->grad[j]);
    }
    free(a->act);
    free(a->grad);
    nm_free(a->scratch);
    free(a);
}

const float *nm_ann_output(const nm_ann *a, int node) { return a->act[nm_graph_data_node(a->g, node)]; }

nm_status nm_ann_forward(nm_ann *a, const float *x, int batch) {
    if (batch < 1 || batch > a->max_batch)
        return nm__error(NM_INVAL, "ANN batch %d outside [1, %d]", batch, a->max_batch);
    const nm_graph *g = a->g;
    const float *P = nm_graph_params_const(g);
    const int ro = nm_graph_readout(g);
    a->batch = batch;
    for (int j = 0; j < a->n; j++) {
        if (nm_graph_data_node(g, j) != j) continue;
        const nm_node *nd = nm_graph_node(g, j);
        float *y = a->act[j];
        const int64_t no = nd->n_out, m = (int64_t)batch * no;
        if (nd->kind == NM_NODE_INPUT) {
            memcpy(y, x, (size_t)m * sizeof(float));
            continue;
        }
        const float *in = a->act[nm_graph_data_node(g, nd->src)];
        switch (nd->kind) {
        case NM_NODE_AFFINE:
        case NM_NODE_LINEAR:
            /* y (batch, n_out) = x (batch, n_in) W^T + b */
            if (nd->b_off >= 0)
                for (int b = 0; b < batch; b++) memcpy(y + b * no, P + nd->b_off, (size_t)no * sizeof(float));
            nm_sgemm(0, 1, batch, no, nd->n_in, 1.0f, in, nd->n_in, P + nd->w_off, nd->n_in,
                     nd->b_off >= 0 ? 1.0f : 0.0f, y, no);
            break;
        case NM_NODE_CONV:
            nm_conv_forward(&nd->conv, P + nd->w_off, nd->b_off >= 0 ? P + nd->b_off : NULL, in, batch, y, a->scratch);
            break;
        case NM_NODE_SUMPOOL:
        case NM_NODE_AVGPOOL:
            nm_pool_forward(&nd->conv, nd->kind == NM_NODE_SUMPOOL ? NM_POOL_SUM : NM_POOL_AVG, in, batch, y);
            break;
        default:
            if (!nm_node_kind_neuron(nd->kind)) NM_ASSERT(0);
            if (j == ro) memcpy(y, in, (size_t)m * sizeof(float));
            else
                for (int64_t i = 0; i < m; i++) y[i] = in[i] > 0.0f ? in[i] : 0.0f;
            break;
        }
    }
    return NM_OK;
}

void nm_ann_backward(nm_ann *a, const float *gout, float *grads) {
    const nm_graph *g = a->g;
    const float *P = nm_graph_params_const(g);
    const int ro = nm_graph_readout(g), batch = a->batch;
    memset(grads, 0, (size_t)nm_graph_n_params(g) * sizeof(float));
    memcpy(a->grad[ro], gout, (size_t)batch * nm_graph_node(g, ro)->n_out * sizeof(float));
    for (int j = ro; j > 0; j--) {
        if (nm_graph_data_node(g, j) != j) continue;
        const nm_node *nd = nm_graph_node(g, j);
        const int src = nm_graph_data_node(g, nd->src);
        const int need_gx = src != 0;   /* no gradient for the input */
        const float *gy = a->grad[j], *x = a->act[src];
        float *gx = a->grad[src];
        const int64_t no = nd->n_out, ni = nd->n_in;
        switch (nd->kind) {
        case NM_NODE_AFFINE:
        case NM_NODE_LINEAR:
            /* dW (n_out, n_in) = gy^T x; db = sum over the batch; gx = gy W */
            nm_sgemm(1, 0, no, ni, batch, 1.0f, gy, no, x, ni, 0.0f, grads + nd->w_off, ni);
            if (nd->b_off >= 0)
                for (int64_t o = 0; o < no; o++) {
                    double s = 0.0;
                    for (int b = 0; b < batch; b++) s += gy[b * no + o];
                    grads[nd->b_off + o] = (float)s;
                }
            if (need_gx) nm_sgemm(0, 0, batch, ni, no, 1.0f, gy, no, P + nd->w_off, ni, 0.0f, gx, ni);
            break;
        case NM_NODE_CONV:
            nm_conv_backward(&nd->conv, P + nd->w_off, x, gy, batch, grads + nd->w_off,
                             nd->b_off >= 0 ? grads + nd->b_off : NULL, need_gx ? gx : NULL, a->scratch);
            break;
        case NM_NODE_SUMPOOL:
        case NM_NODE_AVGPOOL:
            if (need_gx)
                nm_pool_backward(&nd->conv, nd->kind == NM_NODE_SUMPOOL ? NM_POOL_SUM : NM_POOL_AVG, gy, batch, gx);
            break;
        default: {   /* population: ReLU (hidden) or identity (readout) */
            if (!need_gx) break;
            const int64_t m = (int64_t)batch * no;
            const float *y = a->act[j];
            if (j == ro) memcpy(gx, gy, (size_t)m * sizeof(float));
            else
                for (int64_t i = 0; i < m; i++) gx[i] = y[i] > 0.0f ? gy[i] : 0.0f;
            break;
        }
        }
    }
}

double nm_ann_loss(const nm_ann *a, const int *labels, float *g, int *n_correct) {
    const int ro = nm_graph_readout(a->g), batch = a->batch;
    const int C = (int)nm_graph_node(a->g, ro)->n_out;
    const float *z = a->act[ro];
    double loss = 0.0;
    int hits = 0;
    for (int b = 0; b < batch; b++) {
        const float *zb = z + (int64_t)b * C;
        int k = nm_argmax(zb, C);
        hits += k == labels[b];
        double mx = zb[k], s = 0.0;
        for (int c = 0; c < C; c++) s += exp((double)zb[c] - mx);
        loss += log(s) + mx - zb[labels[b]];
        if (g)
            for (int c = 0; c < C; c++)
                g[(int64_t)b * C + c] = (float)((exp((double)zb[c] - mx) / s - (c == labels[b])) / batch);
    }
    if (n_correct) *n_correct = hits;
    return loss / batch;
}

void nm_ann_config_default(nm_ann_config *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 10;
    c->batch = 100;
    c->lr = 1e-3f;
    c->weight_decay = 1e-4f;
    c->seed = 1;
    c->init = 1;
}

nm_status nm__check_data(const nm_graph *g, const nm_dataset *d, const char *what) {
    if (nm_dataset_sample_size(d) != (int64_t)d->rows * d->cols)
        return nm__error(NM_UNSUPPORTED, "the %s set is an event dataset (%d frames per sample); this method takes image sets",
                         what, d->steps);
    if (nm_graph_input_size(g) != (int64_t)d->rows * d->cols)
        return nm__error(NM_SHAPE, "the %s set has %dx%d images but the model takes %lld inputs", what, d->rows, d->cols,
                         (long long)nm_graph_input_size(g));
    if (d->n_classes > nm_graph_output_size(g))
        return nm__error(NM_SHAPE, "the %s set has %d classes but the model has %lld outputs", what, d->n_classes,
                         (long long)nm_graph_output_size(g));
    return NM_OK;
}

nm_status nm_ann_evaluate(const nm_graph *g, const nm_dataset *d, int64_t limit, double *accuracy) {
    nm_status rc = nm__check_data(g, d, "evaluation");
    if (rc) return rc;
    const int64_t n = limit > 0 && limit < d->n ? limit : d->n;
    const int B = 256;
    nm_ann *a = NULL;
    if ((rc = nm_ann_create(g, B, &a))) return rc;
    const int64_t ni = nm_graph_input_size(g);
    float *x = nm_alloc((size_t)B * ni * sizeof(float));
    int64_t *idx = nm_alloc(B * sizeof(int64_t));
    int *lab = nm_alloc(B * sizeof(int));
    int64_t hits = 0;
    if (!x || !idx || !lab) {
        rc = nm__error(NM_NOMEM, "out of memory for an evaluation batch");
        goto done;
    }
    for (int64_t s = 0; s < n; s += B) {
        int bs = (int)(n - s < B ? n - s : B), h = 0;
        for (int b = 0; b < bs; b++) idx[b] = s + b;
        nm_dataset_batch(d, idx, bs, x, lab);
        if ((rc = nm_ann_forward(a, x, bs))) goto done;
        nm_ann_loss(a, lab, NULL, &h);
        hits += h;
    }
    *accuracy = n ? (double)hits / n : 0.0;
done:
    nm_free(x);
    nm_free(idx);
    nm_free(lab);
    nm_ann_destroy(a);
    return rc;
}

nm_status nm_ann_train(nm_graph *g, const nm_dataset *train, const nm_dataset *test, const nm_ann_config *c,
                       nm_ann_result *res) {
    NM_ASSERT(g && train && c && res);
    if (c->epochs < 1 || c->epochs > NM_MAX_EPOCHS)
        return nm__error(NM_RANGE, "ANN epochs must be in [1, %d], got %d", NM_MAX_EPOCHS, c->epochs);
    if (c->batch < 1 || c->batch > 65536) return nm__error(NM_RANGE, "ANN batch must be in [1, 65536], got %d", c->batch);
    if (!(c->lr > 0.0f) || !isfinite(c->lr)) return nm__error(NM_RANGE, "ANN learning rate must be positive, got %g", c->lr);
    nm_status rc = nm__check_data(g, train, "training");
    if (rc || (test && (rc = nm__check_data(g, test, "test")))) return rc;
    memset(res, 0, sizeof *res);
    const int64_t n = c->train_limit > 0 && c->train_limit < train->n ? c->train_limit : train->n;
    const int B = c->batch;
    const int64_t np = nm_graph_n_params(g), ni = nm_graph_input_size(g);
    const int64_t per_epoch = (n + B - 1) / B, total = per_epoch * c->epochs;
    if (c->init) nm_graph_init_params(g, c->seed, 1.0f);
    nm_ann *a = NULL;
    nm_adam *opt = NULL;
    float *x = NULL, *gl = NULL, *grads = NULL;
    int64_t *order = NULL;
    int *lab = NULL;
    if ((rc = nm_ann_create(g, B, &a)) || (rc = nm_adam_create(np, &opt))) goto done;
    opt->n_decay = nm_graph_n_decay_params(g);
    opt->weight_decay = c->weight_decay;
    x = nm_alloc((size_t)B * ni * sizeof(float));
    gl = nm_alloc((size_t)B * nm_graph_output_size(g) * sizeof(float));
    grads = nm_alloc((size_t)np * sizeof(float));
    order = nm_alloc((size_t)n * sizeof(int64_t));
    lab = nm_alloc((size_t)B * sizeof(int));
    if (!x || !gl || !grads || !order || !lab) {
        rc = nm__error(NM_NOMEM, "out of memory for ANN training");
        goto done;
    }
    nm_lr_schedule sch = {NM_SCHED_COSINE, c->lr, 0.05f, 0.1f, 1, 0};
    int64_t step = 0;
    for (int e = 0; e < c->epochs; e++) {
        char label[48];
        snprintf(label, sizeof label, "ANN epoch %d/%d", e + 1, c->epochs);
        nm_progress *pb = nm_progress_create(label, per_epoch, c->quiet);
        for (int64_t i = 0; i < n; i++) order[i] = i;
        nm_rng r;
        nm_rng_init(&r, c->seed, 0x414e4e00u + (uint64_t)e);   /* "ANN" + epoch */
        nm_rng_shuffle(&r, order, n);
        double t0 = nm_time_now(), loss = 0.0;
        int64_t hits = 0;
        for (int64_t s = 0; s < n; s += B) {
            int bs = (int)(n - s < B ? n - s : B), h = 0;
            nm_dataset_batch(train, order + s, bs, x, lab);
            if ((rc = nm_ann_forward(a, x, bs))) {
                nm_progress_finish(pb);
                goto done;
            }
            loss += nm_ann_loss(a, lab, gl, &h) * bs;
            hits += h;
            nm_ann_backward(a, gl, grads);
            nm_adam_step(opt, nm_graph_params(g), grads, nm_lr_at(&sch, step, total, per_epoch));
            step++;
            char suf[32];
            snprintf(suf, sizeof suf, "loss %.4f", loss / (s + bs));
            nm_progress_update(pb, s / B + 1, suf);
        }
        nm_progress_finish(pb);
        res->seconds += nm_time_now() - t0;
        res->train_loss = loss / n;
        res->train_acc = (double)hits / n;
        if (test && e == c->epochs - 1 && (rc = nm_ann_evaluate(g, test, c->test_limit, &res->test_acc))) goto done;
        if (!c->quiet)
            nm_log(NM_LOG_INFO, "ANN epoch %d/%d: loss %.4f, train %.2f%%", e + 1, c->epochs, res->train_loss,
                   100 * res->train_acc);
    }
done:
    nm_ann_destroy(a);
    nm_adam_destroy(opt);
    nm_free(x);
    nm_free(gl);
    nm_free(grads);
    nm_free(order);
    nm_free(lab);
    return rc;
}
