/*
** Softmax cross-entropy on the readout membrane.
**
** Scores z[b][c] are the mean (or the maximum) of the readout membrane over the window, so
** dL/du[t][b][c] is dL/dz[b][c] / n_steps at every step (mean), or dL/dz at the step of the
** maximum only (max: the subgradient, first maximum on ties).
*/
#include <neuromorph/train.h>

#include <math.h>
#include <string.h>

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
    return acc / (float)T;
}

double nm_loss_ce(const nm_exec *x, nm_readout mode, const int *labels, float *g_mem, int *n_correct) {
    nm_view m = nm_exec_membrane(x, nm_graph_readout(nm_exec_graph(x)));
    NM_ASSERT(m.data);
    const int B = m.batch, T = m.rows;
    const int64_t C = m.n, plane = (int64_t)B * C;
    double total = 0.0;
    int correct = 0;

    memset(g_mem, 0, sizeof(float) * T * plane);
    #pragma omp parallel for schedule(static) reduction(+:total, correct)
    for (int b = 0; b < B; b++) {
        const float *ub = m.data + (int64_t)b * C;
        int y = labels[b], tb, best = 0;
        float zmax = -INFINITY;
        for (int64_t c = 0; c < C; c++) {
            float z = score(ub + c, plane, T, mode, &tb);
            if (z > zmax) { zmax = z; best = (int)c; }
        }
        double sum = 0.0;
        for (int64_t c = 0; c < C; c++) sum += exp((double)(score(ub + c, plane, T, mode, &tb) - zmax));
        double logsum = log(sum) + zmax;
        total += logsum - score(ub + y, plane, T, mode, &tb);
        correct += best == y;
        for (int64_t c = 0; c < C; c++) {
            float z = score(ub + c, plane, T, mode, &tb);
            float dz = ((float)exp((double)z - logsum) - (c == y ? 1.0f : 0.0f)) / (float)B;
            float *gu = g_mem + (int64_t)b * C + c;
            if (mode == NM_READOUT_MAX) gu[(int64_t)tb * plane] = dz;
            else
                for (int t = 0; t < T; t++) gu[(int64_t)t * plane] = dz / (float)T;
        }
    }
    if (n_correct) *n_correct = correct;
    return total;
}
