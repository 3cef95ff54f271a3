/*
** conv.c: convolution and pooling, forward (PyTorch's Conv2d/Conv1d, AvgPool2d, SumPool2d).
**
** Convolution is im2col + sgemm (Caffe's approach). For a tile of nt images, the im2col
** matrix col (c_in kh kw, nt h_out w_out) holds in row (ci, ky, kx) and column (image, oy,
** ox) the input pixel under kernel tap (ky, kx) of output pixel (oy, ox), or 0 in the
** padding. Each group is then one product
**     out[g] (c_out/G, nt n_pos) = W[g] (c_out/G, c_in/G kh kw) col[g] (c_in/G kh kw, nt n_pos)
** and out is copied into the channel-major images with the bias added.
**
** Threads, and why every result has the same bits whatever their number: images are cut
** into tiles whose size depends on the geometry and m only (conv_impl.h), and tiles are dealt
** round-robin to a fixed number of slots, each with its own part of the caller's scratch.
** A thread takes whole slots, and makes its sgemm calls inside the parallel region, where
** OpenBLAS runs single-threaded. Every sgemm call thus has the same shape and the same
** operands with any thread count. That matters: OpenBLAS's threaded driver cuts a long K
** into blocks differently from its single-threaded one (level3_thread.c halves the tail,
** level3.c rounds it to the unroll), so one big threaded sgemm is not bit-reproducible
** across thread counts. The backward pass (train/conv_grad.c) uses the same tiles.
**
** Workload: m = n_steps x batch images (25 x 128 = 3200) of a few to a few tens of
** channels, 28 x 28 or smaller, 3x3 or 5x5 kernels. Pooling is a direct loop over
** (image, channel) planes: it costs a memory pass, nothing worth a product.
*/
#include "conv_impl.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

/* ---- geometry ----------------------------------------------------------- */

/* Output size along one axis, or -1 if the (dilated) kernel does not fit the padded input. */
static int64_t out_size(int64_t n_in, int k, int s, int p, int d) {
    int64_t span = n_in + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1;
    return span < 0 ? -1 : span / s + 1;
}

/* Checks and fills a geometry; `pool` only changes the words of the messages (and adds
** PyTorch's pooling rule that padding is at most half the window). On error g is unchanged. */
static nm_status geom_init(nm_conv_geom *g, int pool, int64_t c_in, int64_t h_in, int64_t w_in, int64_t c_out,
                           int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
    const char *what = pool ? "pooling" : "convolution";
    const char *win = pool ? "pool window" : "kernel";
    if (c_in < 1 || h_in < 1 || w_in < 1)
        return nm__error(NM_SHAPE, "%s input needs at least one channel, row and column (got %lld x %lld x %lld)", what,
                         (long long)c_in, (long long)h_in, (long long)w_in);
    if (c_out < 1) return nm__error(NM_SHAPE, "%s needs at least one output channel (got %lld)", what, (long long)c_out);
    if (kh < 1 || kw < 1) return nm__error(NM_SHAPE, "%s size must be at least 1 (got %d x %d)", win, kh, kw);
    if (sh < 1 || sw < 1) return nm__error(NM_SHAPE, "%s stride must be at least 1 (got %d x %d)", what, sh, sw);
    if (dh < 1 || dw < 1) return nm__error(NM_SHAPE, "%s dilation must be at least 1 (got %d x %d)", what, dh, dw);
    if (ph < 0 || pw < 0) return nm__error(NM_SHAPE, "%s padding must not be negative (got %d x %d)", what, ph, pw);
    if (groups < 1) return nm__error(NM_SHAPE, "convolution groups must be at least 1 (got %d)", groups);
    if (c_in % groups)
        return nm__error(NM_SHAPE, "%lld input channels are not divisible by %d groups", (long long)c_in, groups);
    if (c_out % groups)
        return nm__error(NM_SHAPE, "%lld output channels are not divisible by %d groups", (long long)c_out, groups);
    if (pool && (2 * ph > kh || 2 * pw > kw))
        return nm__error(NM_SHAPE, "pool padding %d x %d must be at most half the pool window %d x %d", ph, pw, kh, kw);
    /* Sizes that fit in int for cblas (and in int64 products below) before any arithmetic. */
    if (c_in > INT_MAX || h_in > INT_MAX || w_in > INT_MAX || c_out > INT_MAX)
        return nm__error(NM_RANGE, "%s of %lld x %lld x %lld to %lld channels is too large", what, (long long)c_in,
                         (long long)h_in, (long long)w_in, (long long)c_out);
    int64_t h_out = out_size(h_in, kh, sh, ph, dh), w_out = out_size(w_in, kw, sw, pw, dw);
    if (h_out < 1) {
        if (pool) return nm__error(NM_SHAPE, "%s %d does not fit input height %lld with padding %d", win, kh, (long long)h_in, ph);
        return nm__error(NM_SHAPE, "%s %d (dilation %d) does not fit input height %lld with padding %d", win, kh, dh,
                         (long long)h_in, ph);
    }
    if (w_out < 1) {
        if (pool) return nm__error(NM_SHAPE, "%s %d does not fit input width %lld with padding %d", win, kw, (long long)w_in, pw);
        return nm__error(NM_SHAPE, "%s %d (dilation %d) does not fit input width %lld with padding %d", win, kw, dw,
                         (long long)w_in, pw);
    }
    /* One image's im2col matrix (k_all x n_pos), its input and its output must each be
    ** addressable with int leading dimensions; checked one factor at a time. */
    const int64_t lim = INT_MAX;
    int big = h_out > lim || w_out > lim;
    int64_t n_pos = big ? 0 : h_out * w_out, k_all = (int64_t)kh * kw;
    big = big || h_in * w_in > lim / c_in || n_pos > lim / c_out || k_all > lim / c_in;
    if (!big) {
        k_all *= c_in;
        big = n_pos > lim / k_all;
    }
    if (big)
        return nm__error(NM_RANGE, "%s of %lld x %lld x %lld to %lld channels is too large (an image's im2col matrix "
                         "must hold fewer than 2^31 floats)", what, (long long)c_in, (long long)h_in, (long long)w_in,
                         (long long)c_out);
    *g = (nm_conv_geom){.c_in = c_in, .h_in = h_in, .w_in = w_in, .c_out = c_out, .h_out = h_out, .w_out = w_out,
                        .kh = kh, .kw = kw, .sh = sh, .sw = sw, .ph = ph, .pw = pw, .dh = dh, .dw = dw, .groups = groups};
    return NM_OK;
}

nm_status nm_conv_geom_init(nm_conv_geom *g, int64_t c_in, int64_t h_in, int64_t w_in, int64_t c_out, int kh, int kw,
                            int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
    return geom_init(g, 0, c_in, h_in, w_in, c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups);
}

nm_status nm_pool_geom_init(nm_conv_geom *g, int64_t c, int64_t h_in, int64_t w_in, int kh, int kw, int sh, int sw,
                            int ph, int pw) {
    /* groups = c makes "c divisible by groups" trivially true even for c beyond INT_MAX,
    ** which the size check rejects anyway. */
    int groups = c >= 1 && c <= INT_MAX ? (int)c : 1;
    return geom_init(g, 1, c, h_in, w_in, c, kh, kw, sh, sw, ph, pw, 1, 1, groups);
}

int64_t nm_conv_weight_count(const nm_conv_geom *g) {
    return g->c_out * (g->c_in / g->groups) * g->kh * g->kw;
}

/* ---- tiles and scratch ------------------------------------------------- */

void nm__conv_plan_make(const nm_conv_geom *g, int64_t m, nm__conv_plan *p) {
    p->n_pos = g->h_out * g->w_out;
    p->k_all = g->c_in * g->kh * g->kw;
    p->k_grp = p->k_all / g->groups;
    p->c_out_grp = g->c_out / g->groups;
    int64_t per_image = p->k_all * p->n_pos;
    p->tile = NM_CONV_TILE_FLOATS / per_image;
    int64_t by_macs = NM_CONV_TILE_MACS / (p->c_out_grp * p->k_grp * p->n_pos);
    if (p->tile > by_macs) p->tile = by_macs;
    if (p->tile < 1) p->tile = 1;
    if (p->tile > m) p->tile = m;
    p->n_tiles = (m + p->tile - 1) / p->tile;
    p->col_floats = nm_pad16(per_image * p->tile);
    p->out_floats = nm_pad16(g->c_out * p->n_pos * p->tile);
    p->part_floats = nm_pad16(nm_conv_weight_count(g));
    p->dbp_floats = nm_pad16(2 * g->c_out);
    p->slot_floats = p->col_floats + p->out_floats + p->part_floats + p->dbp_floats;
    int64_t slots = NM_CONV_SCRATCH_MAX / p->slot_floats;
    if (slots > NM_CONV_SLOTS) slots = NM_CONV_SLOTS;
    if (slots > p->n_tiles) slots = p->n_tiles;
    if (slots < 1) slots = 1;
    p->n_slots = (int)slots;
}

int64_t nm_conv_scratch_floats(const nm_conv_geom *g, int64_t m) {
    if (m < 1) return 0;
    nm__conv_plan p;
    nm__conv_plan_make(g, m, &p);
    return p.n_slots * p.slot_floats;
}

/* One output row of one im2col row: d[ox] = xr[ox s + off] for ox in [lo, hi), else 0. */
static inline void im2col_row(float *restrict d, const float *restrict xr, int64_t w_out, int64_t lo, int64_t hi,
                              int s, int64_t off) {
    nm__zero_floats(d, lo);
    if (s == 1) {
        if (hi > lo) nm__copy_floats(d + lo, xr + lo + off, hi - lo);   /* xr + lo + off is in the row */
    } else {
        for (int64_t ox = lo; ox < hi; ox++) d[ox] = xr[ox * s + off];
    }
    nm__zero_floats(d + hi, w_out - hi);
}

void nm__im2col(const nm_conv_geom *g, const float *x, int64_t n_img, float *col) {
    const int64_t h_in = g->h_in, w_in = g->w_in, h_out = g->h_out, w_out = g->w_out;
    const int64_t n_pos = h_out * w_out, ld = n_img * n_pos, plane = h_in * w_in, in_size = g->c_in * plane;
    const int sh = g->sh, sw = g->sw;
    for (int64_t ci = 0; ci < g->c_in; ci++)
        for (int ky = 0; ky < g->kh; ky++) {
            /* Output rows [oy_lo, oy_hi) read input rows; the others lie in the padding. */
            const int64_t off_y = (int64_t)ky * g->dh - g->ph;
            int64_t oy_lo, oy_hi;
            nm__conv_valid_range(off_y, sh, h_in, h_out, &oy_lo, &oy_hi);
            for (int kx = 0; kx < g->kw; kx++) {
                float *row = col + ((ci * g->kh + ky) * g->kw + kx) * ld;
                const int64_t off_x = (int64_t)kx * g->dw - g->pw;
                int64_t lo, hi;
                nm__conv_valid_range(off_x, sw, w_in, w_out, &lo, &hi);
                const int interior = sw == 1 && lo == 0 && hi == w_out;   /* the usual case: whole rows */
                for (int64_t i = 0; i < n_img; i++) {
                    const float *xp = x + i * in_size + ci * plane;
                    float *d = row + i * n_pos;
                    nm__zero_floats(d, oy_lo * w_out);
                    if (interior)
                        for (int64_t oy = oy_lo; oy < oy_hi; oy++)
                            nm__copy_floats(d + oy * w_out, xp + (oy * sh + off_y) * w_in + off_x, w_out);
                    else
                        for (int64_t oy = oy_lo; oy < oy_hi; oy++)
                            im2col_row(d + oy * w_out, xp + (oy * sh + off_y) * w_in, w_out, lo, hi, sw, off_x);
                    nm__zero_floats(d + oy_hi * w_out, (h_out - oy_hi) * w_out);
                }
            }
        }
}

/* ---- convolution forward ------------------------------------------------ */

void nm_conv_forward(const nm_conv_geom *g, const float *W, const float *b, const float *x, int64_t m, float *y,
                     float *scratch) {
    if (m < 1) return;
    nm__conv_plan p;
    nm__conv_plan_make(g, m, &p);
    const int64_t in_size = g->c_in * g->h_in * g->w_in, out_size_ = g->c_out * p.n_pos, n_pos = p.n_pos;
    const int cpo = (int)p.c_out_grp, kg = (int)p.k_grp;

    #pragma omp parallel for schedule(static, 1)
    for (int s = 0; s < p.n_slots; s++) {
        float *col = scratch + s * p.slot_floats, *out = col + p.col_floats;
        for (int64_t t = s; t < p.n_tiles; t += p.n_slots) {
            const int64_t i0 = t * p.tile, nt = m - i0 < p.tile ? m - i0 : p.tile;
            const int ld = (int)(nt * n_pos);
            nm__im2col(g, x + i0 * in_size, nt, col);
            for (int gi = 0; gi < g->groups; gi++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cpo, ld, kg, 1.0f, W + (int64_t)gi * cpo * kg, kg,
                            col + (int64_t)gi * kg * ld, ld, 0.0f, out + (int64_t)gi * cpo * ld, ld);
            /* out (c_out, image, pos) -> y (image, c_out, pos), plus the bias */
            for (int64_t i = 0; i < nt; i++)
                for (int64_t co = 0; co < g->c_out; co++) {
                    float *dst = y + (i0 + i) * out_size_ + co * n_pos;
                    const float *src = out + co * ld + i * n_pos;
                    if (b) {
                        const float bc = b[co];
                        for (int64_t q = 0; q < n_pos; q++) dst[q] = src[q] + bc;
                    } else {
                        memcpy(dst, src, sizeof(float) * n_pos);
                    }
                }
        }
    }
}

/* ---- pooling forward ---------------------------------------------------- */

void nm_pool_forward(const nm_conv_geom *g, nm_pool_kind kind, const float *x, int64_t m, float *y) {
    const int64_t h_in = g->h_in, w_in = g->w_in, h_out = g->h_out, w_out = g->w_out;
    const int64_t planes = m * g->c_in;
    const int kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw;
    /* PyTorch divides by the window size (count_include_pad), not multiplies by its inverse. */
    const float div = (float)(kh * kw);
    const int avg = kind == NM_POOL_AVG;

    #pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * h_in * w_in;
        float *yp = y + pl * h_out * w_out;
        for (int64_t oy = 0; oy < h_out; oy++) {
            int64_t y0 = oy * sh - ph, y1 = y0 + kh;
            if (y0 < 0) y0 = 0;
            if (y1 > h_in) y1 = h_in;
            for (int64_t ox = 0; ox < w_out; ox++) {
                int64_t x0 = ox * sw - pw, x1 = x0 + kw;
                if (x0 < 0) x0 = 0;
                if (x1 > w_in) x1 = w_in;
                float acc = 0.0f;   /* summed row by row, as PyTorch does */
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) acc += xp[iy * w_in + ix];
                yp[oy * w_out + ox] = avg ? acc / div : acc;
            }
        }
    }
}
