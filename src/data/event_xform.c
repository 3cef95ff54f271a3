/*
** event_xform.c: event transforms: frames, spike tensors, denoising, geometry, time
** jitter, dropping, time surfaces. In-place transforms keep the event order (jitter
** re-sorts). Random ones draw from Philox at (seed, fixed stream, event index), so the
** result depends only on the seed and the input.
*/
#include "events_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static nm_status need_size(const nm_events *e, const char *what)
{
    if (e->width < 1 || e->height < 1)
        return nm__error(NM_INVAL, "%s needs the sensor size (the events have %dx%d)", what, e->width, e->height);
    for (int64_t i = 0; i < e->n; i++)
        if (e->x[i] >= e->width || e->y[i] >= e->height)
            return nm__error(NM_RANGE, "%s: event %lld at (%d, %d) is outside the %dx%d sensor", what, (long long)i, e->x[i], e->y[i],
                             e->width, e->height);
    return NM_OK;
}

nm_status nm_events_to_frames(const nm_events *e, const nm_frame_opts *o, float **frames, int64_t *n_frames)
{
    if (!e || !o || !frames || !n_frames) return nm__error(NM_INVAL, "nm_events_to_frames: arguments must not be NULL");
    int modes = (o->window_us > 0) + (o->count > 0) + (o->slices > 0);
    if (modes != 1) return nm__error(NM_INVAL, "frames need exactly one of a time window, an event count or a number of slices");
    nm_status st = need_size(e, "frames");
    if (st) return st;
    const size_t plane = (size_t)e->width * (size_t)e->height;
    int64_t nf = 0, t0 = e->n ? e->t[0] : 0, t1 = e->n ? e->t[e->n - 1] : 0;
    for (int64_t i = 1; i < e->n; i++)
        if (e->t[i] < e->t[i - 1]) return nm__error(NM_INVAL, "frames need events sorted by time (event %lld goes back)", (long long)i);
    if (o->window_us > 0) nf = e->n ? (t1 - t0) / o->window_us + 1 : 0;
    else if (o->count > 0) nf = (e->n + o->count - 1) / o->count;
    else nf = o->slices;
    if (nf > 1000000 || (double)nf * (double)plane * 2 > 4e9)
        return nm__error(NM_RANGE, "%lld frames of %dx%d is too many; use a larger window", (long long)nf, e->width, e->height);
    float *f = nm_alloc((size_t)(nf ? nf : 1) * 2 * plane * sizeof *f);
    if (!f) return nm__error(NM_NOMEM, "out of memory for %lld frames", (long long)nf);
    const int64_t span = t1 - t0 + 1;
    for (int64_t i = 0; i < e->n; i++) {
        int64_t k;
        if (o->window_us > 0) k = (e->t[i] - t0) / o->window_us;
        else if (o->count > 0) k = i / o->count;
        else k = (int64_t)((double)(e->t[i] - t0) * (double)nf / (double)span);
        if (k >= nf) k = nf - 1;
        f[((size_t)k * 2 + (e->p[i] ? 0 : 1)) * plane + (size_t)e->y[i] * (size_t)e->width + e->x[i]] += 1.0f;
    }
    *frames = f;
    *n_frames = nf;
    return NM_OK;
}

nm_status nm_events_to_spikes(const nm_events *e, int64_t t0, int64_t dt_us, int T, float *out)
{
    if (!e || !out || dt_us < 1 || T < 1) return nm__error(NM_INVAL, "nm_events_to_spikes: bad arguments");
    nm_status st = need_size(e, "spike tensor");
    if (st) return st;
    const size_t plane = (size_t)e->width * (size_t)e->height;
    memset(out, 0, (size_t)T * 2 * plane * sizeof *out);
    for (int64_t i = 0; i < e->n; i++) {
        if (e->t[i] < t0) continue;
        int64_t k = (e->t[i] - t0) / dt_us;
        if (k >= T) continue;
        out[(size_t)k * 2 * plane + (e->p[i] ? 0 : plane) + (size_t)e->y[i] * (size_t)e->width + e->x[i]] = 1.0f;
    }
    return NM_OK;
}

/* Keeps events that satisfy keep[i], in order. */
static void compact(nm_events *e, const uint8_t *keep)
{
    int64_t k = 0;
    for (int64_t i = 0; i < e->n; i++)
        if (keep[i]) {
            e->t[k] = e->t[i]; e->x[k] = e->x[i]; e->y[k] = e->y[i]; e->p[k] = e->p[i];
            k++;
        }
    e->n = k;
}

nm_status nm_events_denoise(nm_events *e, int64_t filter_us)
{
    if (!e || filter_us < 1) return nm__error(NM_INVAL, "denoise needs a filter time of at least 1 us");
    nm_status st = need_size(e, "denoise");
    if (st) return st;
    const int W = e->width, H = e->height;
    int64_t *last = malloc((size_t)W * (size_t)H * sizeof *last);
    uint8_t *keep = malloc((size_t)(e->n ? e->n : 1));
    if (!last || !keep) { free(last); free(keep); return nm__error(NM_NOMEM, "out of memory"); }
    for (size_t i = 0; i < (size_t)W * (size_t)H; i++) last[i] = INT64_MIN / 2;
    for (int64_t i = 0; i < e->n; i++) {
        int x = e->x[i], y = e->y[i], ok = 0;
        for (int yy = y - 1; yy <= y + 1 && !ok; yy++)
            for (int xx = x - 1; xx <= x + 1; xx++) {
                if (xx < 0 || yy < 0 || xx >= W || yy >= H || (xx == x && yy == y)) continue;
                if (e->t[i] - last[(size_t)yy * W + xx] <= filter_us) { ok = 1; break; }
            }
        keep[i] = (uint8_t)ok;
        last[(size_t)y * W + x] = e->t[i];
    }
    compact(e, keep);
    free(last);
    free(keep);
    return NM_OK;
}

nm_status nm_events_downsample(nm_events *e, int fx, int fy)
{
    if (!e || fx < 1 || fy < 1) return nm__error(NM_INVAL, "downsample factors must be >= 1");
    for (int64_t i = 0; i < e->n; i++) {
        e->x[i] = (uint16_t)(e->x[i] / fx);
        e->y[i] = (uint16_t)(e->y[i] / fy);
    }
    e->width = (e->width + fx - 1) / fx;
    e->height = (e->height + fy - 1) / fy;
    return NM_OK;
}

nm_status nm_events_crop(nm_events *e, int x0, int y0, int w, int h)
{
    if (!e || x0 < 0 || y0 < 0 || w < 1 || h < 1 || x0 > 65535 || y0 > 65535 || w > 65536 || h > 65536)
        return nm__error(NM_INVAL, "crop needs x0, y0 >= 0 and a width and height >= 1");
    int64_t k = 0;
    for (int64_t i = 0; i < e->n; i++) {
        int x = e->x[i] - x0, y = e->y[i] - y0;
        if (x < 0 || y < 0 || x >= w || y >= h) continue;
        e->t[k] = e->t[i]; e->x[k] = (uint16_t)x; e->y[k] = (uint16_t)y; e->p[k] = e->p[i];
        k++;
    }
    e->n = k;
    e->width = w;
    e->height = h;
    return NM_OK;
}

void nm_events_flip(nm_events *e, int lr, int ud, int polarity)
{
    NM_ASSERT(e);
    for (int64_t i = 0; i < e->n; i++) {
        if (lr && e->width > 0) e->x[i] = (uint16_t)(e->width - 1 - e->x[i]);
        if (ud && e->height > 0) e->y[i] = (uint16_t)(e->height - 1 - e->y[i]);
        if (polarity) e->p[i] = (uint8_t)!e->p[i];
    }
}

nm_status nm_events_jitter(nm_events *e, double sd_us, uint64_t seed)
{
    if (!e || !(sd_us >= 0)) return nm__error(NM_INVAL, "time jitter needs a standard deviation >= 0");
    nm_rng r;
    nm_rng_init(&r, seed, 1);
    for (int64_t i = 0; i < e->n; i++) {
        nm_rng_seek(&r, (uint64_t)i);
        int64_t t = e->t[i] + (int64_t)llround(sd_us * (double)nm_rng_normal(&r));
        e->t[i] = t < 0 ? 0 : t;
    }
    return nm_events_sort(e);
}

void nm_events_drop(nm_events *e, double p, uint64_t seed)
{
    NM_ASSERT(e);
    int64_t k = 0;
    for (int64_t i = 0; i < e->n; i++) {
        if ((double)nm_rand_uniform_at(seed, 2, (uint64_t)i) < p) continue;
        e->t[k] = e->t[i]; e->x[k] = e->x[i]; e->y[k] = e->y[i]; e->p[k] = e->p[i];
        k++;
    }
    e->n = k;
}

nm_status nm_events_time_surface(const nm_events *e, int64_t t, double tau_us, float *out)
{
    if (!e || !out || !(tau_us > 0)) return nm__error(NM_INVAL, "time surface needs tau > 0");
    nm_status st = need_size(e, "time surface");
    if (st) return st;
    const size_t plane = (size_t)e->width * (size_t)e->height;
    int64_t *last = malloc(2 * plane * sizeof *last);
    if (!last) return nm__error(NM_NOMEM, "out of memory");
    for (size_t i = 0; i < 2 * plane; i++) last[i] = INT64_MIN;
    for (int64_t i = 0; i < e->n; i++) {
        if (e->t[i] > t) continue;
        size_t k = (e->p[i] ? 0 : plane) + (size_t)e->y[i] * (size_t)e->width + e->x[i];
        if (e->t[i] > last[k]) last[k] = e->t[i];
    }
    for (size_t i = 0; i < 2 * plane; i++) out[i] = last[i] == INT64_MIN ? 0.0f : (float)exp(-(double)(t - last[i]) / tau_us);
    free(last);
    return NM_OK;
}
