/*
** Private helpers of the neuron module, shared by every model's kernels so that the spike,
** reset and surrogate arithmetic is written once (and gives the same bits everywhere).
*/
#ifndef NM_NEURON_IMPL_H
#define NM_NEURON_IMPL_H

#include <math.h>

#include <neuromorph/neuron.h>

/* The surrogates: sigma'(x) and its primitive sigma(x) with sigma(0) = 1/2 (see neuron.h).
** Each primitive's derivative is exactly its surr_grad (tests/test_neuron.c checks this by
** finite differences), so a smooth forward makes the surrogate gradient the true one. The
** kind is fixed for a whole kernel call, so the switch costs a predictable branch at most.
** Kinds outside the enum fall back to the fast sigmoid, as they always have. */
#define NM_PI 3.14159265358979323846f

static inline float surr_grad(nm_surrogate_kind kind, float k, float x) {
    switch (kind) {
    case NM_SURR_ARCTAN: {
        float z = 0.5f * NM_PI * k * x;
        return 0.5f * k / (1.0f + z * z);
    }
    case NM_SURR_TRIANGLE: {
        float a = k * fabsf(x);   /* written so that a NaN x stays NaN */
        return a >= 1.0f ? 0.0f : k * (1.0f - a);
    }
    case NM_SURR_STRAIGHT_THROUGH:
        return k;
    case NM_SURR_FAST_SIGMOID:
    case NM_SURR_SUPERSPIKE:   /* the same function, another default slope */
    default: {
        float d = 1.0f + k * fabsf(x);
        return 1.0f / (d * d);
    }
    }
}

static inline float surr_prim(nm_surrogate_kind kind, float k, float x) {
    switch (kind) {
    case NM_SURR_ARCTAN:
        return 0.5f + atanf(0.5f * NM_PI * k * x) / NM_PI;
    case NM_SURR_TRIANGLE: {
        /* 1/2 + sign(x) (a - a^2/2), a = k|x| < 1: a piecewise-quadratic step from exactly 0
        ** (x <= -1/k) to exactly 1 (x >= 1/k). */
        float a = k * fabsf(x);
        if (a >= 1.0f) return x > 0.0f ? 1.0f : 0.0f;
        float h = a * (1.0f - 0.5f * a);
        return x > 0.0f ? 0.5f + h : 0.5f - h;
    }
    case NM_SURR_STRAIGHT_THROUGH:
        return 0.5f + k * x;
    case NM_SURR_FAST_SIGMOID:
    case NM_SURR_SUPERSPIKE:
    default:
        return 0.5f + x / (1.0f + k * fabsf(x));
    }
}

/* The spike for argument x = u - threshold: H(x), or sigma(x) with smooth_forward. */
static inline float spike_of(nm_surrogate_kind kind, float k, int smooth, float x) {
    return smooth ? surr_prim(kind, k, x) : (x > 0.0f ? 1.0f : 0.0f);
}

/* v after the reset, from u and the spike s; jump = v_th - v_reset. */
static inline float reset_of(nm_reset mode, float u, float s, float jump, float vr) {
    if (mode == NM_RESET_SUBTRACT) return u - s * jump;
    if (mode == NM_RESET_TO_VALUE) return u * (1.0f - s) + s * vr;
    return u;
}

/* dv/du and dv/ds of reset_of. */
static inline void reset_grad(nm_reset mode, float u, float s, float jump, float vr, float *dv_du, float *dv_ds) {
    if (mode == NM_RESET_SUBTRACT) { *dv_du = 1.0f; *dv_ds = -jump; }
    else if (mode == NM_RESET_TO_VALUE) { *dv_du = 1.0f - s; *dv_ds = vr - u; }
    else { *dv_du = 1.0f; *dv_ds = 0.0f; }
}

/* Parameter checks: return NM_RANGE from the enclosing function with a message that starts
** with the model and the field ("AdEx g_L must be positive (nS), not 0"). */
#define FINITE_OR_FAIL(model, field, x)                                                       \
    do {                                                                                      \
        if (!isfinite(x)) return nm__error(NM_RANGE, model " " #field " must be finite, not %g", (double)(x)); \
    } while (0)

#define POSITIVE_OR_FAIL(model, field, x, what)                                               \
    do {                                                                                      \
        if (!((x) > 0) || !isfinite(x))                                                       \
            return nm__error(NM_RANGE, model " " #field " must be positive (" what "), not %g", (double)(x)); \
    } while (0)

#endif
