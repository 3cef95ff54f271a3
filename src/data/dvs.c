/*
** dvs.c: a DVS pixel model, from frames of intensity to events.
**
** Each pixel holds a reference log intensity L_ref and fires while its log intensity L
** sits a threshold or more away from it: ON while L - L_ref >= theta_on_i (L_ref +=
** theta_on_i per event), OFF while L_ref - L >= theta_off_i. Between two frames L moves
** linearly, so a crossing at level c happens at t0 + (c - L0) / (L1 - L0) * (t1 - t0).
** A step from I1 to I2 thus gives floor(|ln((I2 + eps) / (I1 + eps))| / theta) events:
** the closed form the tests check. theta_i carries a fixed per-pixel mismatch drawn from
** Philox at (seed, stream 0, 2*pixel (+1 for OFF)); the background noise of a frame
** interval is Poisson(noise_hz * pixels * dt) events on uniform pixels and times, drawn
** at (seed, stream, block frame << 32): the same numbers whatever thread runs it.
**
** Saccades follow N-MNIST's recording (Orchard et al. 2015): the sensor looks at a
** static image while moving along a triangle in three straight movements; here the image
** shifts by sub-pixel offsets (bilinear) and each movement is seen at `steps` frames.
*/
#include "events_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nm_dvs {
    int           w, h;
    nm_dvs_params p;
    float        *theta_on, *theta_off;   /* (h*w) per-pixel thresholds */
    float        *l_ref, *l_prev;         /* (h*w) log intensities */
    int64_t      *t_last;                 /* (h*w) time of the last event, µs */
    int64_t       t_prev, frame;
    int           started;
};

void nm_dvs_params_default(nm_dvs_params *p)
{
    p->theta_on = p->theta_off = 0.25f;
    p->mismatch = 0.03f;
    p->eps = 0.1f;
    p->refractory_us = 0;
    p->noise_hz = 0.0f;
    p->seed = 1;
}

void nm_saccade_params_default(nm_saccade_params *s)
{
    s->margin = 3;
    s->amplitude = 2.0f;
    s->saccade_us = 100000;
    s->steps = 20;
}

static nm_status check_params(const nm_dvs_params *p)
{
    if (!(p->theta_on >= 0.01f && p->theta_on <= 10.0f) || !(p->theta_off >= 0.01f && p->theta_off <= 10.0f))
        return nm__error(NM_RANGE, "DVS thresholds must be in [0.01, 10], got %g and %g", p->theta_on, p->theta_off);
    if (!(p->mismatch >= 0.0f && p->mismatch <= 1.0f)) return nm__error(NM_RANGE, "DVS mismatch must be in [0, 1], got %g", p->mismatch);
    if (!(p->eps > 0.0f && p->eps <= 10.0f)) return nm__error(NM_RANGE, "DVS log offset eps must be in (0, 10], got %g", p->eps);
    if (p->refractory_us < 0) return nm__error(NM_RANGE, "DVS refractory time must be >= 0");
    if (!(p->noise_hz >= 0.0f && p->noise_hz <= 1e6f)) return nm__error(NM_RANGE, "DVS noise must be in [0, 1e6] Hz, got %g", p->noise_hz);
    return NM_OK;
}

void nm_dvs_destroy(nm_dvs *d)
{
    if (!d) return;
    free(d->theta_on);
    free(d->theta_off);
    free(d->l_ref);
    free(d->l_prev);
    free(d->t_last);
    free(d);
}

nm_status nm_dvs_create(int width, int height, const nm_dvs_params *p, nm_dvs **out)
{
    if (!p || !out) return nm__error(NM_INVAL, "nm_dvs_create: params and out must not be NULL");
    if (width < 1 || height < 1 || width > 65535 || height > 65535)
        return nm__error(NM_RANGE, "DVS sensor size %dx%d is out of range (1..65535)", width, height);
    nm_status st = check_params(p);
    if (st) return st;
    nm_dvs *d = calloc(1, sizeof *d);
    size_t n = (size_t)width * (size_t)height;
    if (!d || !(d->theta_on = malloc(n * sizeof(float))) || !(d->theta_off = malloc(n * sizeof(float))) ||
        !(d->l_ref = malloc(n * sizeof(float))) || !(d->l_prev = malloc(n * sizeof(float))) ||
        !(d->t_last = malloc(n * sizeof(int64_t)))) {
        nm_dvs_destroy(d);
        return nm__error(NM_NOMEM, "out of memory for a %dx%d DVS", width, height);
    }
    d->w = width;
    d->h = height;
    d->p = *p;
    nm_rng r;
    nm_rng_init(&r, p->seed, 0);
    for (size_t i = 0; i < n; i++) {
        nm_rng_seek(&r, 2 * (uint64_t)i);
        float a = p->theta_on * (1.0f + p->mismatch * nm_rng_normal(&r));
        nm_rng_seek(&r, 2 * (uint64_t)i + 1);
        float b = p->theta_off * (1.0f + p->mismatch * nm_rng_normal(&r));
        d->theta_on[i] = a < 0.01f ? 0.01f : a;
        d->theta_off[i] = b < 0.01f ? 0.01f : b;
        d->t_last[i] = INT64_MIN / 2;
    }
    *out = d;
    return NM_OK;
}

/* Sorts events [from, e->n) by time (a view: the arrays are not reallocated). */
static nm_status sort_tail(nm_events *e, int64_t from)
{
    nm_events v = *e;
    v.t += from; v.x += from; v.y += from; v.p += from;
    v.n -= from;
    v.cap = v.n;
    return nm_events_sort(&v);
}

nm_status nm_dvs_frame(nm_dvs *d, const float *frame, int64_t t_us, uint64_t stream, nm_events *out)
{
    if (!d || !frame || !out) return nm__error(NM_INVAL, "nm_dvs_frame: arguments must not be NULL");
    const size_t n = (size_t)d->w * (size_t)d->h;
    const float eps = d->p.eps;
    if (!d->started) {
        for (size_t i = 0; i < n; i++) d->l_ref[i] = d->l_prev[i] = logf((frame[i] > 0 ? frame[i] : 0) + eps);
        d->t_prev = t_us;
        d->started = 1;
        d->frame = 0;
        return NM_OK;
    }
    if (t_us <= d->t_prev)
        return nm__error(NM_INVAL, "DVS frames must come at increasing times: %lld us after %lld us", (long long)t_us,
                         (long long)d->t_prev);
    const int64_t t0 = d->t_prev, dt = t_us - t0, refr = d->p.refractory_us;
    const int64_t from = out->n;
    nm_status st;
    for (size_t i = 0; i < n; i++) {
        const float l0 = d->l_prev[i], l1 = logf((frame[i] > 0 ? frame[i] : 0) + eps);
        float ref = d->l_ref[i];
        const float dl = l1 - l0;
        for (int pol = 1; pol >= 0; pol--) {
            const float th = pol ? d->theta_on[i] : d->theta_off[i];
            for (;;) {
                float level = pol ? ref + th : ref - th;
                if (pol ? !(l1 >= level) : !(l1 <= level)) break;
                float frac = dl != 0.0f ? (level - l0) / dl : 1.0f;
                frac = frac < 0.0f ? 0.0f : (frac > 1.0f ? 1.0f : frac);
                int64_t te = t0 + (int64_t)llround((double)frac * (double)dt);
                if (te <= t0) te = t0 + 1;   /* a change is seen after the previous frame */
                if (te - d->t_last[i] >= refr) {
                    if ((st = nm_events_push(out, te, (int)(i % (size_t)d->w), (int)(i / (size_t)d->w), pol))) return st;
                    d->t_last[i] = te;
                }
                ref = level;
            }
        }
        d->l_ref[i] = ref;
        d->l_prev[i] = l1;
    }
    d->frame++;
    if (d->p.noise_hz > 0.0f) {
        nm_rng r;
        nm_rng_init(&r, d->p.seed, stream);
        nm_rng_seek(&r, (uint64_t)d->frame << 32);
        uint32_t k = nm_rng_poisson(&r, (double)d->p.noise_hz * (double)n * (double)dt * 1e-6);
        for (uint32_t j = 0; j < k; j++) {
            uint32_t px = nm_rng_below(&r, (uint32_t)n);
            int64_t te = t0 + 1 + (int64_t)(nm_rng_uniform_d(&r) * (double)dt);
            if (te > t_us) te = t_us;
            int pol = (int)nm_rng_below(&r, 2);
            if ((st = nm_events_push(out, te, (int)(px % (uint32_t)d->w), (int)(px / (uint32_t)d->w), pol))) return st;
        }
    }
    d->t_prev = t_us;
    out->width = d->w;
    out->height = d->h;
    return sort_tail(out, from);
}

/* Renders img (rows, cols) u8 shifted by (dx, dy), into a (H, W) sensor with the image's
** origin at (margin, margin); outside the image is dark. Bilinear. */
static void render(const uint8_t *img, int rows, int cols, int margin, float dx, float dy, int W, int H, float *f)
{
    for (int Y = 0; Y < H; Y++)
        for (int X = 0; X < W; X++) {
            float sx = (float)(X - margin) - dx, sy = (float)(Y - margin) - dy;
            int x0 = (int)floorf(sx), y0 = (int)floorf(sy);
            float ax = sx - (float)x0, ay = sy - (float)y0, v = 0.0f;
            for (int q = 0; q < 4; q++) {
                int xx = x0 + (q & 1), yy = y0 + (q >> 1);
                float wgt = ((q & 1) ? ax : 1.0f - ax) * ((q >> 1) ? ay : 1.0f - ay);
                if (wgt != 0.0f && xx >= 0 && xx < cols && yy >= 0 && yy < rows) v += wgt * (float)img[yy * cols + xx];
            }
            f[Y * W + X] = v / 255.0f;
        }
}

nm_status nm_dvs_saccades(const nm_dvs_params *p, const nm_saccade_params *s, const uint8_t *img, int rows, int cols,
                          uint64_t stream, nm_events *out)
{
    if (!p || !s || !img || !out) return nm__error(NM_INVAL, "nm_dvs_saccades: arguments must not be NULL");
    if (rows < 1 || cols < 1 || s->margin < 0 || s->margin > 1000 || s->steps < 1 || s->steps > 100000 ||
        s->saccade_us < s->steps || !(s->amplitude >= 0.0f && s->amplitude <= 1000.0f))
        return nm__error(NM_RANGE, "bad saccade parameters (margin %d, amplitude %g, saccade %lld us, %d steps) for a %dx%d image",
                         s->margin, s->amplitude, (long long)s->saccade_us, s->steps, cols, rows);
    const int W = cols + 2 * s->margin, H = rows + 2 * s->margin;
    nm_dvs *d = NULL;
    nm_status st = nm_dvs_create(W, H, p, &d);
    if (st) return st;
    float *f = malloc((size_t)W * (size_t)H * sizeof *f);
    if (!f) { nm_dvs_destroy(d); return nm__error(NM_NOMEM, "out of memory"); }
    /* a triangle centred on the rest position: (-a/2, -a/2) -> (0, a/2) -> (a/2, -a/2) -> back */
    const float h = s->amplitude / 2.0f;
    const float vx[4] = { -h, 0.0f, h, -h }, vy[4] = { -h, h, -h, -h };
    render(img, rows, cols, s->margin, vx[0], vy[0], W, H, f);
    st = nm_dvs_frame(d, f, 0, stream, out);
    for (int sac = 0; sac < 3 && !st; sac++)
        for (int j = 1; j <= s->steps && !st; j++) {
            float a = (float)j / (float)s->steps;
            render(img, rows, cols, s->margin, vx[sac] + a * (vx[sac + 1] - vx[sac]), vy[sac] + a * (vy[sac + 1] - vy[sac]), W, H, f);
            st = nm_dvs_frame(d, f, (int64_t)sac * s->saccade_us + s->saccade_us * j / s->steps, stream, out);
        }
    out->width = W;
    out->height = H;
    free(f);
    nm_dvs_destroy(d);
    return st;
}
