/*
** Adam (Kingma & Ba 2015) with decoupled weight decay (Loshchilov & Hutter 2019), over the
** graph's one parameter block. Elementwise, so its result does not depend on threads.
*/
#include <neuromorph/train.h>

#include <math.h>
#include <stdlib.h>

nm_status nm_adam_create(int64_t n, nm_adam **out) {
    nm_adam *a = calloc(1, sizeof *a);
    if (!a) return nm__error(NM_NOMEM, "out of memory for the optimizer");
    a->n = n;
    a->n_decay = n;
    a->beta1 = 0.9f;
    a->beta2 = 0.999f;
    a->eps = 1e-8f;
    a->m = nm_alloc(sizeof(float) * (n ? n : 1));
    a->v = nm_alloc(sizeof(float) * (n ? n : 1));
    if (!a->m || !a->v) {
        nm_adam_destroy(a);
        return nm__error(NM_NOMEM, "out of memory for the optimizer state (%lld parameters)", (long long)n);
    }
    *out = a;
    return NM_OK;
}

void nm_adam_destroy(nm_adam *a) {
    if (!a) return;
    nm_free(a->m);
    nm_free(a->v);
    free(a);
}

void nm_adam_step(nm_adam *a, float *p, const float *g, float lr) {
    a->t++;
    const float b1 = a->beta1, b2 = a->beta2, eps = a->eps, wd = a->weight_decay;
    const float c1 = 1.0f / (1.0f - powf(b1, (float)a->t));
    const float c2 = 1.0f / (1.0f - powf(b2, (float)a->t));
    float *restrict m = a->m, *restrict v = a->v;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < a->n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] -= lr * (m[i] * c1 / (sqrtf(v[i] * c2) + eps) + (i < a->n_decay ? wd * p[i] : 0.0f));
    }
}
