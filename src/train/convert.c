/*
** convert.c: ANN-to-SNN conversion with data-based normalization (Diehl et al. 2015, "Fast-
** classifying, high-accuracy spiking deep networks through weight and threshold balancing";
** Rueckauer et al. 2017, "Conversion of continuous-valued deep networks to efficient event-
** driven networks for image classification").
**
** Why it works: an IF neuron with threshold 1, r dt = 1 and reset by subtraction, driven by a
** constant current I in [0, 1], fires N(T) spikes in T steps with T I - 1 <= N(T) <= T I (the
** membrane left over, T I - N, stays in [0, 1]): its rate is the ReLU of I to within 1/T. A
** layer fed by such rates gets a current whose time average is W a + b, and so on up. Rates
** cannot exceed one spike per step, so each layer's weights are divided by lambda_l (the
** largest activation, or a high percentile of it, which is robust to outliers) and multiplied
** by lambda_{l-1} to undo the scaling of its input. Biases become a constant current at
** every step (the executor's Affine adds b at each step). The readout integrates without
** leak or spikes: its membrane at step T is T times the logits, to first order.
**
** Percentiles come from a histogram of 4096 bins between 0 and the layer's maximum (a second
** calibration pass), so calibration needs no memory per activation; the result is exact to
** one bin width, max / 4096.
*/
#include "learn_impl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define N_BINS 4096

const char *nm_norm_name(nm_norm_kind k) {
    switch (k) {
    case NM_NORM_MAX: return "max";
    case NM_NORM_PERCENTILE: return "percentile";
    case NM_NORM_NONE: return "none";
    }
    return "?";
}

nm_status nm_norm_parse(const char *s, nm_norm_kind *out) {
    if (!strcmp(s, "max")) *out = NM_NORM_MAX;
    else if (!strcmp(s, "percentile") || !strcmp(s, "p99.9")) *out = NM_NORM_PERCENTILE;
    else if (!strcmp(s, "none")) *out = NM_NORM_NONE;
    else return nm__error(NM_INVAL, "unknown normalization '%s' (choose max, percentile or none)", s);
    return NM_OK;
}

void nm_convert_config_default(nm_convert_config *c) {
    c->norm = NM_NORM_PERCENTILE;
    c->percentile = 99.9;
    c->calib = 1000;
    c->dt = 1e-3f;
}

static int hidden_pop(const nm_graph *g, int j) {
    const nm_node *nd = nm_graph_node(g, j);
    return nm_node_kind_neuron(nd->kind) && j != nm_graph_readout(g);
}

/* lambda[j] for every hidden population j: the max or percentile of its positive ReLU
** activations over the first n_cal samples of d. */
static nm_status calibrate(const nm_graph *g, const nm_dataset *d, const nm_convert_config *c, float *lambda) {
    const int n_nodes = nm_graph_n_nodes(g), B = 100;
    const int64_t n_cal = c->calib < d->n ? c->calib : d->n, ni = nm_graph_input_size(g);
    nm_ann *a = NULL;
    nm_status rc = nm_ann_create(g, B, &a);
    if (rc) return rc;
    float *x = nm_alloc((size_t)B * ni * sizeof(float));
    int64_t *idx = nm_alloc(B * sizeof(int64_t));
    int *lab = nm_alloc(B * sizeof(int));
    int64_t *hist = nm_alloc((size_t)n_nodes * N_BINS * sizeof(int64_t));
    if (!x || !idx || !lab || !hist) {
        rc = nm__error(NM_NOMEM, "out of memory for calibration");
        goto done;
    }
    for (int j = 0; j < n_nodes; j++) lambda[j] = 0.0f;
    const int passes = c->norm == NM_NORM_PERCENTILE ? 2 : 1;
    for (int pass = 0; pass < passes; pass++) {
        for (int64_t s = 0; s < n_cal; s += B) {
            int bs = (int)(n_cal - s < B ? n_cal - s : B);
            for (int b = 0; b < bs; b++) idx[b] = s + b;
            nm_dataset_batch(d, idx, bs, x, lab);
            if ((rc = nm_ann_forward(a, x, bs))) goto done;
            for (int j = 0; j < n_nodes; j++) {
                if (!hidden_pop(g, j)) continue;
                const float *y = nm_ann_output(a, j);
                const int64_t m = (int64_t)bs * nm_graph_node(g, j)->n_out;
                if (pass == 0) {
                    for (int64_t i = 0; i < m; i++)
                        if (y[i] > lambda[j]) lambda[j] = y[i];
                } else if (lambda[j] > 0.0f) {
                    int64_t *h = hist + (int64_t)j * N_BINS;
                    for (int64_t i = 0; i < m; i++) {
                        if (!(y[i] > 0.0f)) continue;
                        int k = (int)(y[i] / lambda[j] * N_BINS);
                        h[k < N_BINS ? k : N_BINS - 1]++;
                    }
                }
            }
        }
    }
    if (passes == 2)
        for (int j = 0; j < n_nodes; j++) {
            if (!hidden_pop(g, j) || !(lambda[j] > 0.0f)) continue;
            const int64_t *h = hist + (int64_t)j * N_BINS;
            int64_t tot = 0, cum = 0;
            for (int k = 0; k < N_BINS; k++) tot += h[k];
            double want = c->percentile / 100.0 * (double)tot;
            int k = 0;
            while (k < N_BINS - 1 && (double)(cum + h[k]) < want) cum += h[k++];
            /* linear within bin k */
            double frac = h[k] ? (want - (double)cum) / (double)h[k] : 1.0;
            if (frac < 0) frac = 0;
            if (frac > 1) frac = 1;
            lambda[j] = (float)((k + frac) / N_BINS * lambda[j]);
        }
done:
    nm_free(x);
    nm_free(idx);
    nm_free(lab);
    nm_free(hist);
    nm_ann_destroy(a);
    return rc;
}

nm_status nm_convert(const nm_graph *ann, const nm_dataset *calib, const nm_convert_config *c, nm_graph **out,
                     float *lambda_out) {
    NM_ASSERT(ann && c && out);
    if (!(c->dt > 0.0f) || !isfinite(c->dt)) return nm__error(NM_RANGE, "conversion dt must be positive, got %g", c->dt);
    if (c->norm == NM_NORM_PERCENTILE && !(c->percentile > 0.0 && c->percentile <= 100.0))
        return nm__error(NM_RANGE, "percentile must be in (0, 100], got %g", c->percentile);
    if (c->norm != NM_NORM_NONE && (!calib || c->calib < 1))
        return nm__error(NM_INVAL, "data-based normalization needs at least one calibration sample");
    nm_status rc = nm__ann_check(ann);
    if (rc) return rc;
    if (calib && (rc = nm__check_data(ann, calib, "calibration"))) return rc;

    /* the same layers with IF hidden neurons and an integrating readout */
    char spec[1024];
    nm_graph_spec(ann, spec, sizeof spec);
    nm_spec_options o;
    nm_spec_options_default(&o);
    o.neuron = NM_NODE_IF;
    o.ifp.r = 1.0f / c->dt;
    o.ifp.v_threshold = 1.0f;
    o.ifp.v_reset = 0.0f;
    o.ifp.reset = NM_RESET_SUBTRACT;
    o.readout = NM_NODE_LI;
    o.li.tau = 1e6f;
    o.li.r = 1e6f / c->dt;
    o.li.v_leak = 0.0f;
    nm_graph *snn = NULL;
    if ((rc = nm_graph_from_spec_ex(spec, &o, &snn))) return rc;
    const int n = nm_graph_n_nodes(snn);
    if (n != nm_graph_n_nodes(ann) || nm_graph_n_params(snn) != nm_graph_n_params(ann)) {
        nm_graph_destroy(snn);
        return nm__error(NM_UNSUPPORTED, "the model is not a layered spec network ('%s' does not rebuild it)", spec);
    }
    for (int j = 0; j < n; j++)
        if (nm_graph_node(snn, j)->kind != nm_graph_node(ann, j)->kind &&
            !(nm_node_kind_neuron(nm_graph_node(snn, j)->kind) && nm_node_kind_neuron(nm_graph_node(ann, j)->kind))) {
            nm_graph_destroy(snn);
            return nm__error(NM_UNSUPPORTED, "node '%s' of the model does not match its spec '%s'",
                             nm_graph_node(ann, j)->name, spec);
        }
    memcpy(nm_graph_params(snn), nm_graph_params_const(ann), (size_t)nm_graph_n_params(ann) * sizeof(float));

    float *lambda = calloc((size_t)n, sizeof(float));
    if (!lambda) {
        nm_graph_destroy(snn);
        return nm__error(NM_NOMEM, "out of memory");
    }
    if (c->norm != NM_NORM_NONE && (rc = calibrate(ann, calib, c, lambda))) {
        free(lambda);
        nm_graph_destroy(snn);
        return rc;
    }
    for (int j = 0; j < n; j++)
        if (hidden_pop(snn, j) && !(lambda[j] > 0.0f)) lambda[j] = 1.0f;   /* none or a dead layer */

    /* W_l *= lambda_{l-1} / lambda_l, b_l /= lambda_l, layer by layer along the chain */
    float *P = nm_graph_params(snn);
    const int ro = nm_graph_readout(snn);
    float lam_prev = 1.0f;
    for (int j = 0; j < n; j++) {
        const nm_node *nd = nm_graph_node(snn, j);
        if (hidden_pop(snn, j)) {
            lam_prev = lambda[j];
            continue;
        }
        int64_t nw = nm_node_weight_count(nd);
        if (!nw) continue;
        int k = j + 1;
        while (k < n && !nm_node_kind_neuron(nm_graph_node(snn, k)->kind)) k++;
        const float lam = k == ro || k >= n ? 1.0f : lambda[k];
        const float sw = lam_prev / lam;
        for (int64_t i = 0; i < nw; i++) P[nd->w_off + i] *= sw;
        if (nd->b_off >= 0) {
            int64_t nb = nd->kind == NM_NODE_CONV ? nd->conv.c_out : nd->n_out;
            for (int64_t i = 0; i < nb; i++) P[nd->b_off + i] /= lam;
        }
    }
    if (lambda_out) memcpy(lambda_out, lambda, (size_t)n * sizeof(float));
    free(lambda);
    *out = snn;
    return NM_OK;
}

nm_status nm_convert_evaluate(const nm_graph *snn, const nm_dataset *d, const int *steps, int n_t, int64_t limit,
                              int batch, nm_convert_eval *res) {
    NM_ASSERT(snn && d && steps && res);
    if (n_t < 1 || n_t > NM_CONVERT_MAX_T)
        return nm__error(NM_RANGE, "between 1 and %d step counts, got %d", NM_CONVERT_MAX_T, n_t);
    for (int i = 0; i < n_t; i++)
        if (steps[i] < 1 || steps[i] > 65536 || (i && steps[i] <= steps[i - 1]))
            return nm__error(NM_RANGE, "step counts must ascend within [1, 65536]; got %d", steps[i]);
    if (batch < 1) return nm__error(NM_RANGE, "batch must be at least 1, got %d", batch);
    nm_status rc = nm__check_data(snn, d, "evaluation");
    if (rc) return rc;
    const int ro = nm_graph_readout(snn);
    if (nm_node_kind_spiking(nm_graph_node(snn, ro)->kind))
        return nm__error(NM_INVAL, "readout '%s' spikes: a converted network integrates in a non-spiking readout",
                         nm_graph_node(snn, ro)->name);
    /* the executor's dt: the one the IF gains were set for (r dt = 1) */
    float dt = 1e-3f;
    const int nn = nm_graph_n_nodes(snn);
    for (int j = 0; j < nn; j++)
        if (nm_graph_node(snn, j)->kind == NM_NODE_IF) {
            dt = 1.0f / nm_graph_node(snn, j)->ifp.r;
            break;
        }
    memset(res, 0, sizeof *res);
    res->n_t = n_t;
    memcpy(res->steps, steps, (size_t)n_t * sizeof(int));
    const int T = steps[n_t - 1], C = (int)nm_graph_node(snn, ro)->n_out;
    const int64_t n = limit > 0 && limit < d->n ? limit : d->n, ni = nm_graph_input_size(snn);
    nm_exec_config ec = {dt, T, batch, NM_SPARSE_AUTO, 0.0f};
    nm_exec *x = NULL;
    if ((rc = nm_exec_create(snn, &ec, &x))) return rc;
    float *in = nm_alloc((size_t)batch * ni * sizeof(float));
    int64_t *idx = nm_alloc((size_t)batch * sizeof(int64_t)), *hits = calloc((size_t)n_t, sizeof(int64_t));
    int *lab = nm_alloc((size_t)batch * sizeof(int));
    int64_t *cum = nm_alloc((size_t)T * sizeof(int64_t));
    double *spk = calloc((size_t)n_t, sizeof(double));
    if (!in || !idx || !hits || !lab || !cum || !spk) {
        rc = nm__error(NM_NOMEM, "out of memory for conversion evaluation");
        goto done;
    }
    double t0 = nm_time_now();
    for (int64_t s = 0; s < n; s += batch) {
        int bs = (int)(n - s < batch ? n - s : batch);
        for (int b = 0; b < bs; b++) idx[b] = s + b;
        nm_dataset_batch(d, idx, bs, in, lab);
        if ((rc = nm_exec_forward(x, in, 1, bs))) goto done;
        nm_view m = nm_exec_membrane(x, ro);
        for (int i = 0; i < n_t; i++)
            for (int b = 0; b < bs; b++)
                hits[i] += nm_argmax(m.data + ((int64_t)(steps[i] - 1) * bs + b) * C, C) == lab[b];
        /* spikes of the hidden populations, cumulated over steps */
        memset(cum, 0, (size_t)T * sizeof(int64_t));
        for (int j = 0; j < nn; j++) {
            if (j == ro || !nm_node_kind_spiking(nm_graph_node(snn, j)->kind)) continue;
            nm_view v = nm_exec_output(x, j);
            const int64_t w = nm_bits_words(v.n);
            for (int t = 0; t < T; t++) {
                int64_t c = 0;
                if (v.bits) {
                    const uint64_t *row = v.bits + (int64_t)t * bs * w;
                    for (int64_t k = 0; k < (int64_t)bs * w; k++) c += __builtin_popcountll(row[k]);
                } else {
                    const float *row = v.data + (int64_t)t * bs * v.n;
                    for (int64_t k = 0; k < (int64_t)bs * v.n; k++) c += row[k] != 0.0f;
                }
                cum[t] += c;
            }
        }
        for (int t = 1; t < T; t++) cum[t] += cum[t - 1];
        for (int i = 0; i < n_t; i++) spk[i] += (double)cum[steps[i] - 1];
    }
    res->n = n;
    res->seconds = nm_time_now() - t0;
    for (int i = 0; i < n_t; i++) {
        res->accuracy[i] = n ? (double)hits[i] / n : 0.0;
        res->spikes[i] = n ? spk[i] / n : 0.0;
    }
done:
    nm_exec_destroy(x);
    nm_free(in);
    nm_free(idx);
    free(hits);
    nm_free(lab);
    nm_free(cum);
    free(spk);
    return rc;
}
