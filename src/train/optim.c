/*
** SGD with momentum, gradient clipping and learning-rate schedules.
**
** SGD follows PyTorch's torch.optim.SGD with dampening 0 (Sutskever et al. 2013 for the
** momentum form, Nesterov 1983 as PyTorch writes it): weight decay is coupled (added to
** the gradient), the momentum buffer starts as the first gradient, and the Nesterov step
** uses g + mu b. Keeping PyTorch's conventions lets learning rates and momenta from papers
** and snnTorch scripts carry over unchanged.
**
** Determinism: the optimizer and value clipping are elementwise; the clipping norm is one
** sequential sum in double; schedules are pure functions of the step. None depends on the
** thread count.
*/
#include <neuromorph/train.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- SGD --------------------------------------------------------------- */

nm_status nm_sgd_create(int64_t n, float momentum, nm_sgd **out) {
    if (n < 0) return nm__error(NM_INVAL, "SGD over %lld parameters", (long long)n);
    if (!(momentum >= 0.0f && momentum < 1.0f))
        return nm__error(NM_RANGE, "SGD momentum must be in [0, 1), not %g", (double)momentum);
    nm_sgd *s = calloc(1, sizeof *s);
    if (!s) return nm__error(NM_NOMEM, "out of memory for the optimizer");
    s->n = n;
    s->n_decay = n;
    s->momentum = momentum;
    s->buf = nm_alloc(sizeof(float) * (n ? n : 1));
    if (!s->buf) {
        nm_sgd_destroy(s);
        return nm__error(NM_NOMEM, "out of memory for the optimizer state (%lld parameters)", (long long)n);
    }
    *out = s;
    return NM_OK;
}

void nm_sgd_destroy(nm_sgd *s) {
    if (!s) return;
    nm_free(s->buf);
    free(s);
}

void nm_sgd_step(nm_sgd *s, float *p, const float *g, float lr) {
    const float mu = s->momentum, wd = s->weight_decay;
    const int first = s->t == 0, nesterov = s->nesterov;
    float *restrict b = s->buf;
    s->t++;
    if (mu == 0.0f) {
        /* plain SGD keeps no state; the buffer is left untouched */
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < s->n; i++) p[i] -= lr * (g[i] + (i < s->n_decay ? wd * p[i] : 0.0f));
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < s->n; i++) {
        float gi = g[i] + (i < s->n_decay ? wd * p[i] : 0.0f);
        float bi = first ? gi : mu * b[i] + gi;
        b[i] = bi;
        p[i] -= lr * (nesterov ? gi + mu * bi : bi);
    }
}

/* ---- clipping ---------------------------------------------------------- */

double nm_clip_grad_norm(float *g, int64_t n, double max_norm) {
    NM_ASSERT(max_norm > 0);
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    const double norm = sqrt(ss);
    /* A non-finite norm is returned and the gradients left alone: scaling by 0 or NaN would
    ** hide the divergence the caller should see. No epsilon (PyTorch adds 1e-6 to the norm),
    ** so the clipped norm is max_norm up to float rounding. */
    if (norm > max_norm && isfinite(norm)) {
        const float scale = (float)(max_norm / norm);
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) g[i] *= scale;
    }
    return norm;
}

void nm_clip_grad_value(float *g, int64_t n, float max_abs) {
    NM_ASSERT(max_abs >= 0);
    /* comparisons rather than fminf/fmaxf, which would turn a NaN into a bound */
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        if (g[i] > max_abs) g[i] = max_abs;
        else if (g[i] < -max_abs) g[i] = -max_abs;
    }
}

/* ---- learning-rate schedules ------------------------------------------- */

const char *nm_sched_name(nm_sched_kind k) {
    switch (k) {
    case NM_SCHED_CONSTANT: return "constant";
    case NM_SCHED_COSINE:   return "cosine";
    case NM_SCHED_LINEAR:   return "linear";
    case NM_SCHED_STEP:     return "step";
    }
    return "?";
}

nm_status nm_sched_parse(const char *s, nm_sched_kind *out) {
    if (!strcmp(s, "constant")) *out = NM_SCHED_CONSTANT;
    else if (!strcmp(s, "cosine")) *out = NM_SCHED_COSINE;
    else if (!strcmp(s, "linear")) *out = NM_SCHED_LINEAR;
    else if (!strcmp(s, "step")) *out = NM_SCHED_STEP;
    else return nm__error(NM_INVAL, "unknown learning-rate schedule '%s' (choose constant, cosine, linear or step)", s);
    return NM_OK;
}

/* Computed in double and rounded once. The cosine is written exactly as the trainer's
** lr_at (lo + (lr - lo)(1 + cos(pi p)) / 2, lo = lr f) so both give the same float. */
float nm_lr_at(const nm_lr_schedule *s, int64_t step, int64_t total, int64_t per_epoch) {
    const double lr = s->lr;
    double p = total > 1 ? (double)step / (double)(total - 1) : 1.0;
    if (p < 0.0) p = 0.0;
    if (p > 1.0) p = 1.0;   /* steps past the end keep the final rate */
    double r;
    switch (s->kind) {
    case NM_SCHED_COSINE: {
        double lo = lr * s->final;
        r = lo + 0.5 * (lr - lo) * (1.0 + cos(3.14159265358979323846 * p));
        break;
    }
    case NM_SCHED_LINEAR:
        r = lr * (1.0 - (1.0 - (double)s->final) * p);
        break;
    case NM_SCHED_STEP: {
        const int64_t pe = per_epoch > 0 ? per_epoch : 1, every = s->step_every > 0 ? s->step_every : 1;
        const int64_t drops = (step > 0 ? step : 0) / pe / every;
        r = lr * pow((double)s->gamma, (double)drops);
        break;
    }
    case NM_SCHED_CONSTANT:
    default:
        r = lr;
        break;
    }
    if (s->warmup > 0 && step < s->warmup) r *= (double)((step > 0 ? step : 0) + 1) / (double)s->warmup;
    return (float)r;
}
