/*
** mismatch.c: fixed-pattern mismatch of analog neurons, and its calibration.
**
** Transistor mismatch gives every analog neuron of a chip its own time constants, gain,
** threshold and resting potential. The pattern is fixed when the chip is made and the same
** at every run, so a chip sample draws it once: per neuron i and field f (tau_mem, tau_syn,
** v_th, v_leak, gain) a deviation
**
**     d = spread_f * xi,     xi ~ N(0, 1) at (seed, stream, 5 i + f)
**
** Time constants and the gain are scaled by (1 + d), kept >= 0.05 so that no neuron gets
** a zero or negative time constant; potentials move by d (v_th - v_leak).
**
** Calibration (trim_bits > 0). Mixed-signal chips measure each neuron and store a trim code
** per parameter (BrainScaleS-2 keeps them in per-neuron capacitive memory cells). The model
** is a trim DAC of 2^bits codes spread evenly over [-R, R], R = trim_range * 4 * spread
** (4 sigma when trim_range is 1), so the step is 2R / (2^bits - 1). The calibration
** measures each deviation with noise,
**
**     d_meas = d + calib_noise * spread * xi',   xi' ~ N(0, 1) (the second normal of the
**                                                same Philox block as xi),
**
** and subtracts the code nearest to d_meas: the residual d - code. Inside the range and
** with a noiseless measurement that leaves |residual| <= step / 2 (a rounding error,
** uniform, std step / sqrt(12) when the step is small against the spread); a neuron
** beyond the range gets the end code and keeps |d| - R; measurement noise adds its own
** std, so the residual std is about sqrt(step^2 / 12 + (calib_noise * spread)^2).
**
** The codes are the DAC's: -R, -R + step, ..., +R. With an even number of codes zero is
** not one of them, so a neuron without mismatch is left half a step off, as on a real trim.
**
** Every draw is a pure function of (seed, stream, neuron, field): the same population for
** any thread count or chunking. Cost: one Philox block per neuron and field.
*/
#include <neuromorph/hw.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fields of a draw, in the order of their Philox indices (neuron * 5 + field). */
enum { F_TAU_MEM = 0, F_TAU_SYN = 1, F_V_TH = 2, F_V_LEAK = 3, F_GAIN = 4, N_FIELDS = 5 };

/* Below this many neurons one thread is faster than starting a team. */
#define PAR_MIN 4096

/* The smallest factor (1 + d) a time constant or gain may get. */
#define MIN_FACTOR 0.05f

/* ---- checks ------------------------------------------------------------------ */

static nm_status check_spread(const char *name, float v) {
    if (!(v >= 0.0f && v < 1.0f))   /* also catches NaN */
        return nm__error(NM_RANGE, "neuron mismatch: %s spread must be in [0, 1), not %g", name, (double)v);
    return NM_OK;
}

static nm_status check_mismatch(const nm_neuron_mismatch *m) {
    nm_status rc;
    if ((rc = check_spread("tau_mem", m->tau_mem)) || (rc = check_spread("tau_syn", m->tau_syn)) ||
        (rc = check_spread("v_th", m->v_th)) || (rc = check_spread("v_leak", m->v_leak)) ||
        (rc = check_spread("gain", m->gain)))
        return rc;
    if (!(m->noise >= 0.0f && m->noise <= 1.0f))
        return nm__error(NM_RANGE, "neuron mismatch: noise must be in [0, 1] (units of v_th - v_leak), not %g",
                         (double)m->noise);
    if (m->trim_bits < 0 || m->trim_bits > 16)
        return nm__error(NM_RANGE, "neuron mismatch: trim_bits must be between 0 and 16, not %d", m->trim_bits);
    if (m->trim_bits > 0 && !(m->trim_range > 0.0f && m->trim_range <= 100.0f))
        return nm__error(NM_RANGE, "neuron mismatch: trim_range must be in (0, 100] when trim_bits > 0, not %g",
                         (double)m->trim_range);
    if (!(m->calib_noise >= 0.0f && m->calib_noise <= 10.0f))
        return nm__error(NM_RANGE, "neuron mismatch: calib_noise must be in [0, 10], not %g", (double)m->calib_noise);
    return NM_OK;
}

/* ---- one deviation ------------------------------------------------------------- */

/* The trim DAC of a parameter with this spread: half range R and step. */
static void trim_dac(const nm_neuron_mismatch *m, float spread, double *R, double *step) {
    *R = (double)m->trim_range * 4.0 * spread;
    *step = 2.0 * *R / (double)((1u << m->trim_bits) - 1u);
}

/* The deviation left after calibration: d minus the DAC code nearest to d_meas. */
static float trim(double d, double d_meas, double R, double step, int bits) {
    const double top = (double)((1u << bits) - 1u);
    double k = nearbyint((d_meas + R) / step);
    if (k < 0.0) k = 0.0;
    if (k > top) k = top;
    /* the end codes are exactly -R and +R (no rounding drift in -R + top * step) */
    const double code = k == top ? R : -R + k * step;
    return (float)(d - code);
}

/* ---- API ----------------------------------------------------------------------- */

float nm_neuron_trim_step(const nm_neuron_mismatch *m, float spread) {
    /* Uncalibrated, nothing bounds the deviation. With calibration, half a step plus
    ** three standard deviations of the measurement noise (a 3-sigma bound, not a hard
    ** one, when calib_noise > 0). */
    if (!m || m->trim_bits <= 0 || m->trim_bits > 16) return INFINITY;
    double R, step;
    trim_dac(m, spread, &R, &step);
    return (float)(0.5 * step + 3.0 * (double)m->calib_noise * spread);
}

nm_status nm_neuron_draw_create(const nm_neuron_mismatch *m, int64_t n, uint64_t seed, uint64_t stream,
                                nm_neuron_draw **out) {
    nm_status rc;
    if (!m || !out) return nm__error(NM_INVAL, "nm_neuron_draw_create: NULL argument");
    if (n < 0) return nm__error(NM_INVAL, "nm_neuron_draw_create: n must be >= 0, not %lld", (long long)n);
    if ((rc = check_mismatch(m))) return rc;
    /* Philox indices are neuron * 5 + field: keep them in 64 bits. */
    if (n > INT64_MAX / N_FIELDS - 16)
        return nm__error(NM_RANGE, "nm_neuron_draw_create: %lld neurons are too many", (long long)n);

    nm_neuron_draw *d = calloc(1, sizeof *d);
    if (!d) return nm__error(NM_NOMEM, "neuron mismatch: out of memory");
    const int64_t pad = nm_pad16(n);
    float *block = NULL;
    if (n > 0 && !(block = nm_alloc(sizeof(float) * (size_t)(N_FIELDS * pad)))) {
        free(d);
        return nm__error(NM_NOMEM, "neuron mismatch: out of memory for %lld neurons", (long long)n);
    }
    /* One block; tau_mem is its start (nm_neuron_draw_destroy frees through it). */
    float *arr[N_FIELDS];
    for (int f = 0; f < N_FIELDS; f++) arr[f] = block ? block + f * pad : NULL;
    d->tau_mem = arr[F_TAU_MEM];
    d->tau_syn = arr[F_TAU_SYN];
    d->v_th = arr[F_V_TH];
    d->v_leak = arr[F_V_LEAK];
    d->gain = arr[F_GAIN];
    d->n = n;

    const float spread[N_FIELDS] = {m->tau_mem, m->tau_syn, m->v_th, m->v_leak, m->gain};
    /* time constants and gain are factors (1 + d) and must stay positive */
    const int relative[N_FIELDS] = {1, 1, 0, 0, 1};
    const int bits = m->trim_bits;
    double R[N_FIELDS] = {0}, step[N_FIELDS] = {0};
    if (bits > 0)
        for (int f = 0; f < N_FIELDS; f++) trim_dac(m, spread[f], &R[f], &step[f]);
    const double cn = m->calib_noise;

    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        for (int f = 0; f < N_FIELDS; f++) {
            float v = 0.0f;
            if (spread[f] > 0.0f) {
                float z[2];
                nm_hw_normal2(seed, stream, (uint64_t)i * N_FIELDS + (uint64_t)f, z);
                const double dev = (double)spread[f] * z[0];
                /* a zero step means a zero spread: nothing to trim */
                if (bits > 0 && step[f] > 0.0)
                    v = trim(dev, dev + cn * spread[f] * z[1], R[f], step[f], bits);
                else
                    v = (float)dev;
            }
            if (relative[f] && v < MIN_FACTOR - 1.0f) v = MIN_FACTOR - 1.0f;
            arr[f][i] = v;
        }
    }
    *out = d;
    return NM_OK;
}

void nm_neuron_draw_destroy(nm_neuron_draw *d) {
    if (!d) return;
    nm_free(d->tau_mem);
    free(d);
}
