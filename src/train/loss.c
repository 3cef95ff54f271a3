/*
** Losses on the readout.
**
** Membrane readouts: scores z[b][c] are the mean (or the maximum) of the readout membrane
** over the window, so dL/du[t][b][c] is dL/dz[b][c] / n_steps at every step (mean), or
** dL/dz at the step of the maximum only (max: the subgradient, first maximum on ties).
** Count readouts: z[b][c] is the number of spikes, so dL/ds[t][b][c] = dL/dz[b][c] at every
** step, and the surrogate carries it into the membrane.
*/
#include <neuromorph/train.h>

#include <math.h>
#include <string.h>

const char *nm_loss_name(nm_loss_kind k) { return k == NM_LOSS_MSE ? "mse" : "ce"; }

nm_status nm_loss_parse(const char *s, nm_loss_kind *out) {
    if (!strcmp(s, "ce")) *out = NM_LOSS_CE;
    else if (!strcmp(s, "mse")) *out = NM_LOSS_MSE;
    else return nm__error(NM_INVAL, "unknown loss '%s' (choose ce or mse)", s);
    return NM_OK;
}

nm_status nm_loss_check(const nm_graph *g, nm_readout mode, nm_loss_kind loss) {
    const nm_node *ro = nm_graph_node(g, nm_graph_readout(g));
    const int spiking = nm_node_kind_spiking(ro->kind);
    if (mode == NM_READOUT_COUNT && !spiking)
        return nm__error(NM_INVAL, "the count readout needs a spiking readout population; '%s' is %s (use --readout-neuron lif)",
                         ro->name, nm_node_kind_name(ro->kind));
    if (mode != NM_READOUT_COUNT && spiking)
        return nm__error(NM_INVAL, "readout '%s' is spiking (%s): use the count readout, not %s", ro->name,
                         nm_node_kind_name(ro->kind), nm_readout_name(mode));
    if (loss == NM_LOSS_MSE && mode != NM_READOUT_COUNT)
        return nm__error(NM_INVAL, "the mse loss compares spike counts: it needs the count readout");
    return NM_OK;
}

/* Score of one (sample, class) from its membrane trace u[t * stride]; *t_best gets the
** step of the maximum (max mode). */
static float score(const float *u, int64_t stride, int T, nm_readout mode, int *t_best) {
    if (mode == NM_READOUT_MAX) {
        float best = u[0];
        int bt = 0;
        for (int t = 1; t < T; t++)
            if (u[(int64_t)t * stride] > best) { best = u[(int64_t)t * stride]; bt = t; }
        *t_best = bt;
        return best;
    }
    float acc = 0.0f;
    for (int t = 0; t < T; t++) acc += u[(int64_t)t * stride];
    *t_best = 0;
    return mode == NM_READOUT_COUNT ? acc : acc / (float)T;
}

double nm_loss_ce(const nm_exec *x, nm_readout mode, const int *labels, float *g, int *n_correct) {
    const int ro = nm_graph_readout(nm_exec_graph(x));
    nm_view m = mode == NM_READOUT_COUNT ? nm_exec_output(x, ro) : nm_exec_membrane(x, ro);
    NM_ASSERT(m.data || m.bits);
    const int B = m.batch, T = nm_exec_get_config(x)->n_steps;
    const int64_t C = m.n, plane = (int64_t)B * C;
    double total = 0.0;
    int correct = 0;

    memset(g, 0, sizeof(float) * T * plane);
    #pragma omp parallel for schedule(static) reduction(+:total, correct)
    for (int b = 0; b < B; b++) {
        float z[C], zmax = -INFINITY;
        int tb[C], y = labels[b], best = 0;
        for (int64_t c = 0; c < C; c++) {
            if (m.data) z[c] = score(m.data + (int64_t)b * C + c, plane, T, mode, &tb[c]);
            else {
                float acc = 0.0f;
                for (int t = 0; t < T; t++) acc += nm_view_at(&m, t, b, c);
                z[c] = acc;
                tb[c] = 0;
            }
            if (z[c] > zmax) { zmax = z[c]; best = (int)c; }
        }
        double sum = 0.0;
        for (int64_t c = 0; c < C; c++) sum += exp((double)(z[c] - zmax));
        double logsum = log(sum) + zmax;
        total += logsum - z[y];
        correct += best == y;
        for (int64_t c = 0; c < C; c++) {
            float dz = ((float)exp((double)z[c] - logsum) - (c == y ? 1.0f : 0.0f)) / (float)B;
            float *gu = g + (int64_t)b * C + c;
            if (mode == NM_READOUT_MAX) gu[(int64_t)tb[c] * plane] = dz;
            else if (mode == NM_READOUT_COUNT)
                for (int t = 0; t < T; t++) gu[(int64_t)t * plane] = dz;
            else
                for (int t = 0; t < T; t++) gu[(int64_t)t * plane] = dz / (float)T;
        }
    }
    if (n_correct) *n_correct = correct;
    return total;
}

double nm_loss_mse_count(const nm_exec *x, const int *labels, float correct_rate, float incorrect_rate, float *g,
                         int *n_correct) {
    nm_view m = nm_exec_output(x, nm_graph_readout(nm_exec_graph(x)));
    const int B = m.batch, T = nm_exec_get_config(x)->n_steps;
    const int64_t C = m.n, plane = (int64_t)B * C;
    double total = 0.0;
    int correct = 0;
    #pragma omp parallel for schedule(static) reduction(+:total, correct)
    for (int b = 0; b < B; b++) {
        int best = 0;
        float best_count = -1.0f;
        for (int64_t c = 0; c < C; c++) {
            float count = 0.0f;
            for (int t = 0; t < T; t++) count += nm_view_at(&m, t, b, c);
            if (count > best_count) { best_count = count; best = (int)c; }
            float target = (float)T * (c == labels[b] ? correct_rate : incorrect_rate), d = count - target;
            total += (double)d * d / (double)C;   /* summed over the batch, averaged over classes */
            float dz = 2.0f * d / (float)(B * C);
            for (int t = 0; t < T; t++) g[(int64_t)t * plane + (int64_t)b * C + c] = dz;
        }
        correct += best == labels[b];
    }
    if (n_correct) *n_correct = correct;
    return total;
}
