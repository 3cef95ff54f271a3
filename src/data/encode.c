/*
** encode.c: spike encoders, from intensities in [0, 1] to what the executor steps through.
**
**   current   out (1, batch, n) = x. The input is the same at every step, so it is stored
**             once and the executor reads row 0 at each step.
**   rate      out (T, batch, n): out[t][b][i] = 1 if u < gain * x[b][i], else 0, where
**             u = nm_rand_uniform_at(seed, stream, t * n + i) and
**             stream = sample_ids[b] + (epoch << 40).
**             The draw depends only on (seed, sample id, epoch, t, i), never on the batch
**             slot or the thread that computes it, so a sample spikes the same wherever it
**             lands and whatever OMP_NUM_THREADS is. Streams are distinct for sample ids
**             below 2^40 and epochs below 2^24.
**   latency   out (T, batch, n): a single 1 at step round((1 - x) * (T - 1)) when
**             x >= threshold, zeros elsewhere: the brightest pixels fire first.
**   frames    x (batch, T*n) already holds T frames per sample (event datasets):
**             out (T, batch, n) is its transpose, out[t][b][i] = x[b][t*n + i].
**
** Workload: once per training step, batch ~ 100, n = 784, T ~ 25: a few million
** elements. OpenMP splits the batch; each sample's rows are written by one thread.
*/
#include "data_impl.h"

#include <math.h>
#include <string.h>

static const char *const enc_names[] = { "current", "rate", "latency", "frames" };

const char *nm_encoding_name(nm_encoding e)
{
    if ((int)e >= 0 && (int)e < (int)(sizeof enc_names / sizeof enc_names[0])) return enc_names[e];
    return "unknown";
}

nm_status nm_encoding_parse(const char *s, nm_encoding *out)
{
    if (!out) return nm__error(NM_INVAL, "nm_encoding_parse: out must not be NULL");
    for (int i = 0; s && i < (int)(sizeof enc_names / sizeof enc_names[0]); i++) {
        if (strcmp(s, enc_names[i]) == 0) {
            *out = (nm_encoding)i;
            return NM_OK;
        }
    }
    return nm__error(NM_INVAL, "unknown encoding '%s' (choose current, rate or latency; frames for event datasets)", s ? s : "(null)");
}

void nm_encoder_default(nm_encoder *e, nm_encoding kind, int n_steps, uint64_t seed)
{
    NM_ASSERT(e);
    e->kind = kind;
    e->n_steps = n_steps;
    e->gain = 1.0f;
    e->threshold = 0.01f;
    e->seed = seed;
}

int nm_encoder_time_rows(const nm_encoder *e)
{
    NM_ASSERT(e);
    return e->kind == NM_ENC_CURRENT ? 1 : e->n_steps;
}

/* The step at which intensity v spikes under latency coding, or -1 for none. Computed
** in double and rounded half away from zero, so the same x gives the same step on every
** platform; x above 1 clamps to step 0. */
static int latency_step(float v, float threshold, int T)
{
    if (!(v >= threshold)) return -1;   /* also catches NaN */
    double s = floor((1.0 - (double)v) * (double)(T - 1) + 0.5);
    if (s < 0.0) s = 0.0;
    if (s > (double)(T - 1)) s = (double)(T - 1);
    return (int)s;
}

void nm_encode(const nm_encoder *e, const float *x, int batch, int64_t n,
               const int64_t *sample_ids, uint64_t epoch, float *out)
{
    NM_ASSERT(e && batch >= 0 && n >= 0);
    NM_ASSERT(batch == 0 || n == 0 || (x && out));
    if (batch == 0 || n == 0) return;
    const size_t row = (size_t)batch * (size_t)n;   /* floats in one time row */

    if (e->kind == NM_ENC_CURRENT) {
        memcpy(out, x, row * sizeof *out);
        return;
    }
    NM_ASSERT(e->n_steps >= 1);
    const int T = e->n_steps;

    if (e->kind == NM_ENC_RATE) {
        const float gain = e->gain;
        const uint64_t seed = e->seed;
        #pragma omp parallel for schedule(static)
        for (int b = 0; b < batch; b++) {
            /* No sample ids: the batch slot stands in (for callers without a dataset). */
            const uint64_t id = sample_ids ? (uint64_t)sample_ids[b] : (uint64_t)b;
            const uint64_t stream = id + (epoch << 40);
            const float *xb = x + (size_t)b * (size_t)n;
            /* Index t*n + i of the stream is its (t*n + i)-th uniform, so walking t, then
            ** i, in order draws exactly nm_rand_uniform_at(seed, stream, t*n + i), using
            ** all four words of each Philox block instead of one (4x fewer blocks). The
            ** test checks this against nm_rand_uniform_at itself. */
            nm_rng r;
            nm_rng_init(&r, seed, stream);
            for (int t = 0; t < T; t++) {
                float *o = out + (size_t)t * row + (size_t)b * (size_t)n;
                for (int64_t i = 0; i < n; i++) o[i] = nm_rng_uniform(&r) < gain * xb[i] ? 1.0f : 0.0f;
            }
        }
        return;
    }

    if (e->kind == NM_ENC_FRAMES) {
        #pragma omp parallel for schedule(static)
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < T; t++)
                memcpy(out + (size_t)t * row + (size_t)b * (size_t)n, x + ((size_t)b * (size_t)T + (size_t)t) * (size_t)n,
                       (size_t)n * sizeof *out);
        return;
    }

    NM_ASSERT(e->kind == NM_ENC_LATENCY);
    const float threshold = e->threshold;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        const float *xb = x + (size_t)b * (size_t)n;
        for (int t = 0; t < T; t++) memset(out + (size_t)t * row + (size_t)b * (size_t)n, 0, (size_t)n * sizeof *out);
        for (int64_t i = 0; i < n; i++) {
            int s = latency_step(xb[i], threshold, T);
            if (s >= 0) out[(size_t)s * row + (size_t)b * (size_t)n + (size_t)i] = 1.0f;
        }
    }
}
