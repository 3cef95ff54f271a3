/*
** conv_grad.c: the backward of run/conv.c's convolution and pooling.
**
** Convolution, per tile of nt images (the same tiles as the forward pass, conv_impl.h):
**   gyc (c_out, nt n_pos)       gy gathered so that each group's rows are one matrix
**   col (c_in kh kw, nt n_pos)  the forward's im2col matrix, rebuilt from x
**   dW[g] += gyc[g] col[g]^T    (c_out/G, c_in/G kh kw), into the slot's partial sum
**   dcol[g] = W[g]^T gyc[g]     (c_in/G kh kw, nt n_pos), written over col
**   gx = col2im(dcol)           every tap's gradient added back to its input pixel
** The bias gradient is summed per channel while gy is gathered: each row in float lanes, the
** rows in double.
**
** Determinism: a tile is handled by one thread from start to end, with single-threaded
** sgemm calls of a shape fixed by (g, m). The weight and bias gradients are summed over the
** tiles of a slot in tile order, then over the slots in slot order; gx of an image comes from
** one tile.
** Nothing depends on the thread count (see conv.c's header for why sgemm needs this care).
**
** Pooling: gx is zeroed, then every output's gradient (divided by kh kw for the average)
** is added to each input pixel of its window, plane by plane.
*/
#include <neuromorph/train.h>

#include "run/conv_impl.h"

#include <cblas.h>
#include <string.h>

/* gr[ox s + off] += sr[ox] for ox in [lo, hi): one output row of one tap, added back. */
static inline void col2im_row(float *restrict gr, const float *restrict sr, int64_t lo, int64_t hi, int s, int64_t off) {
    if (s == 1) {
        if (hi <= lo) return;
        float *restrict d = gr + lo + off;   /* in the row, unlike gr + off */
        const float *restrict v = sr + lo;
        for (int64_t k = 0; k < hi - lo; k++) d[k] += v[k];
    } else {
        for (int64_t ox = lo; ox < hi; ox++) gr[ox * s + off] += sr[ox];
    }
}

/* gx (n_img, c_in, h_in, w_in) = the adjoint of im2col applied to dcol (k_all, n_img n_pos):
** each (image, channel) plane is zeroed, then gets its taps in (ky, kx, oy, ox) order. */
static void col2im(const nm_conv_geom *g, const float *dcol, int64_t n_img, float *gx) {
    const int64_t h_in = g->h_in, w_in = g->w_in, h_out = g->h_out, w_out = g->w_out;
    const int64_t n_pos = h_out * w_out, ld = n_img * n_pos, plane = h_in * w_in;
    const int sh = g->sh, sw = g->sw;
    for (int64_t i = 0; i < n_img; i++)
        for (int64_t ci = 0; ci < g->c_in; ci++) {
            float *gp = gx + (i * g->c_in + ci) * plane;
            memset(gp, 0, sizeof(float) * plane);
            for (int ky = 0; ky < g->kh; ky++) {
                const int64_t off_y = (int64_t)ky * g->dh - g->ph;
                int64_t oy_lo, oy_hi;
                nm__conv_valid_range(off_y, sh, h_in, h_out, &oy_lo, &oy_hi);
                for (int kx = 0; kx < g->kw; kx++) {
                    const float *src = dcol + ((ci * g->kh + ky) * g->kw + kx) * ld + i * n_pos;
                    const int64_t off_x = (int64_t)kx * g->dw - g->pw;
                    int64_t lo, hi;
                    nm__conv_valid_range(off_x, sw, w_in, w_out, &lo, &hi);
                    for (int64_t oy = oy_lo; oy < oy_hi; oy++)
                        col2im_row(gp + (oy * sh + off_y) * w_in, src + oy * w_out, lo, hi, sw, off_x);
                }
            }
        }
}

/* The sum of n floats in 16 float lanes, then the lanes in double: a fixed order, and a
** loop the compiler vectorizes without reassociating anything. */
static double row_sum(const float *restrict r, int64_t n) {
    float lane[16] = {0};
    int64_t q = 0;
    for (; q + 16 <= n; q += 16)
        for (int j = 0; j < 16; j++) lane[j] += r[q + j];
    for (int j = 0; q < n; q++, j++) lane[j] += r[q];
    double acc = 0.0;
    for (int j = 0; j < 16; j++) acc += lane[j];
    return acc;
}

void nm_conv_backward(const nm_conv_geom *g, const float *W, const float *x, const float *gy, int64_t m, float *dW,
                      float *db, float *gx, float *scratch) {
    if (m < 1 || (!dW && !db && !gx)) return;
    nm__conv_plan p;
    nm__conv_plan_make(g, m, &p);
    const int64_t in_size = g->c_in * g->h_in * g->w_in, n_pos = p.n_pos, out_size = g->c_out * n_pos;
    const int cpo = (int)p.c_out_grp, kg = (int)p.k_grp;
    const int64_t part_at = p.col_floats + p.out_floats, dbp_at = part_at + p.part_floats;

    #pragma omp parallel for schedule(static, 1)
    for (int s = 0; s < p.n_slots; s++) {
        float *col = scratch + s * p.slot_floats, *gyc = col + p.col_floats, *part = col + part_at;
        /* c_out doubles, read and written through memcpy: the scratch need only be float-aligned */
        unsigned char *dbp = (unsigned char *)(col + dbp_at);
        for (int64_t t = s; t < p.n_tiles; t += p.n_slots) {
            const int64_t i0 = t * p.tile, nt = m - i0 < p.tile ? m - i0 : p.tile;
            const int ld = (int)(nt * n_pos);
            const int first = t == s;   /* the slot's first tile sets its partial sums; later tiles add */
            /* gy (image, c_out, pos) -> gyc (c_out, image, pos); the bias gradient on the way,
            ** while the row is in L1 (gy is read from memory once). */
            for (int64_t co = 0; co < g->c_out; co++) {
                double acc = 0.0;
                if (!first) memcpy(&acc, dbp + co * sizeof(double), sizeof(double));
                for (int64_t i = 0; i < nt; i++) {
                    const float *src = gy + (i0 + i) * out_size + co * n_pos;
                    if (dW || gx) nm__copy_floats(gyc + co * ld + i * n_pos, src, n_pos);
                    if (db) acc += row_sum(src, n_pos);
                }
                memcpy(dbp + co * sizeof(double), &acc, sizeof(double));
            }
            if (dW) {
                nm__im2col(g, x + i0 * in_size, nt, col);
                for (int gi = 0; gi < g->groups; gi++)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cpo, kg, ld, 1.0f, gyc + (int64_t)gi * cpo * ld,
                                ld, col + (int64_t)gi * kg * ld, ld, first ? 0.0f : 1.0f, part + (int64_t)gi * cpo * kg, kg);
            }
            if (gx) {
                for (int gi = 0; gi < g->groups; gi++)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kg, ld, cpo, 1.0f, W + (int64_t)gi * cpo * kg, kg,
                                gyc + (int64_t)gi * cpo * ld, ld, 0.0f, col + (int64_t)gi * kg * ld, ld);
                col2im(g, col, nt, gx + i0 * in_size);
            }
        }
    }

    /* The slots' partial sums, in slot order. */
    if (dW) {
        const int64_t n_w = nm_conv_weight_count(g);
        #pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < n_w; j++) {
            float acc = scratch[part_at + j];
            for (int s = 1; s < p.n_slots; s++) acc += scratch[s * p.slot_floats + part_at + j];
            dW[j] += acc;
        }
    }
    if (db)
        for (int64_t co = 0; co < g->c_out; co++) {
            double acc = 0.0;
            for (int s = 0; s < p.n_slots; s++) {
                double part;
                memcpy(&part, (const unsigned char *)(scratch + s * p.slot_floats + dbp_at) + co * sizeof(double), sizeof part);
                acc += part;
            }
            db[co] += (float)acc;
        }
}

void nm_pool_backward(const nm_conv_geom *g, nm_pool_kind kind, const float *gy, int64_t m, float *gx) {
    const int64_t h_in = g->h_in, w_in = g->w_in, h_out = g->h_out, w_out = g->w_out;
    const int64_t planes = m * g->c_in;
    const int kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw;
    const float div = (float)(kh * kw);
    const int avg = kind == NM_POOL_AVG;

    #pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *gp = gy + pl * h_out * w_out;
        float *xp = gx + pl * h_in * w_in;
        memset(xp, 0, sizeof(float) * h_in * w_in);
        for (int64_t oy = 0; oy < h_out; oy++) {
            int64_t y0 = oy * sh - ph, y1 = y0 + kh;
            if (y0 < 0) y0 = 0;
            if (y1 > h_in) y1 = h_in;
            for (int64_t ox = 0; ox < w_out; ox++) {
                int64_t x0 = ox * sw - pw, x1 = x0 + kw;
                if (x0 < 0) x0 = 0;
                if (x1 > w_in) x1 = w_in;
                const float v = avg ? gp[oy * w_out + ox] / div : gp[oy * w_out + ox];
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) xp[iy * w_in + ix] += v;
            }
        }
    }
}
