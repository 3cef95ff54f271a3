/*
** Private helpers of the convolution kernels, shared by the forward pass (run/conv.c) and
** the backward pass (train/conv_grad.c) so that both cut the images into the same tiles
** and lay out the caller's scratch the same way.
*/
#ifndef NM_CONV_IMPL_H
#define NM_CONV_IMPL_H

#include <string.h>

#include <neuromorph/run.h>

/* A tile's im2col matrix holds at most NM_CONV_TILE_FLOATS floats (1 MiB), and each group's
** product over a tile at most NM_CONV_TILE_MACS multiply-adds, unless one image alone needs
** more. Small products keep their operands in L2, and below about 10^6 multiply-adds
** OpenBLAS (on AVX-512 machines) switches to its small-matrix kernels, which skip packing:
** for 1x28x28 -> 16c5 that halves the time (4 images a tile instead of 18), for 16x12x12 ->
** 32c5 (1 image a tile instead of 10) it costs 3 to 5%. */
#ifndef NM_CONV_TILE_FLOATS
#define NM_CONV_TILE_FLOATS (256 * 1024)
#endif
#ifndef NM_CONV_TILE_MACS
#define NM_CONV_TILE_MACS (1000 * 1000)
#endif
/* Tiles are dealt round-robin to this many slots, each with its own scratch; a thread
** works on one slot at a time, so at most this many threads share one conv call. The
** count is fixed (not the thread count) because the weight gradient is summed per slot and
** then over slots in slot order: the result must not depend on how many threads there are. */
#define NM_CONV_SLOTS 16
/* All slots together use at most this many floats of scratch (256 MiB), unless one slot
** alone needs more; a huge layer then gets fewer slots. */
#define NM_CONV_SCRATCH_MAX ((int64_t)64 * 1024 * 1024)

/* How m images are cut into tiles, and one slot's scratch:
**   col  (k_all, tile n_pos)   the im2col matrix of a tile; the backward pass reuses it
**                              for the gradient of that matrix
**   out  (c_out, tile n_pos)   the sgemm output (forward) or the gathered gy (backward)
**   part (weights)             the slot's partial weight gradient (backward)
**   dbp  (c_out doubles)       the slot's partial bias gradient (backward)
** each rounded up to 16 floats so every buffer starts on a cache line. */
typedef struct nm__conv_plan {
    int64_t n_pos;        /* h_out w_out: im2col columns per image     */
    int64_t k_all;        /* c_in kh kw: im2col rows                   */
    int64_t k_grp;        /* (c_in / groups) kh kw: rows per group      */
    int64_t c_out_grp;    /* c_out / groups                             */
    int64_t tile;         /* images per tile (the last may have fewer)  */
    int64_t n_tiles;
    int     n_slots;
    int64_t col_floats, out_floats, part_floats, dbp_floats, slot_floats;
} nm__conv_plan;

/* The plan for m >= 1 images; depends on (g, m) only. */
void nm__conv_plan_make(const nm_conv_geom *g, int64_t m, nm__conv_plan *p);

/* col (k_all, n_img n_pos) from n_img images x (n_img, c_in, h_in, w_in): row (ci, ky, kx),
** column (image, oy, ox) holds x[image, ci, oy sh - ph + ky dh, ox sw - pw + kx dw], or 0
** where that falls in the padding. */
void nm__im2col(const nm_conv_geom *g, const float *x, int64_t n_img, float *col);

/* d[0..n) = s[0..n). Rows here are short (w_out is 8 to 28 for 28x28 images), and a
** memcpy call per row costs more than the copy, so rows up to 32 floats are copied with
** constant-size memcpys, which the compiler inlines as a few vector moves. (A plain loop
** does not help: GCC turns it back into a memcpy call.) */
static inline void nm__copy_floats(float *restrict d, const float *restrict s, int64_t n) {
    if (n >= 32) {
        memcpy(d, s, sizeof(float) * n);
        return;
    }
    int64_t k = 0;
    if (n & 16) { memcpy(d, s, 16 * sizeof(float)); k = 16; }
    if (n & 8) { memcpy(d + k, s + k, 8 * sizeof(float)); k += 8; }
    if (n & 4) { memcpy(d + k, s + k, 4 * sizeof(float)); k += 4; }
    if (n & 2) { memcpy(d + k, s + k, 2 * sizeof(float)); k += 2; }
    if (n & 1) d[k] = s[k];
}

/* d[0..n) = 0, the same way. */
static inline void nm__zero_floats(float *d, int64_t n) {
    if (n >= 32) {
        memset(d, 0, sizeof(float) * n);
        return;
    }
    int64_t k = 0;
    if (n & 16) { memset(d, 0, 16 * sizeof(float)); k = 16; }
    if (n & 8) { memset(d + k, 0, 8 * sizeof(float)); k += 8; }
    if (n & 4) { memset(d + k, 0, 4 * sizeof(float)); k += 4; }
    if (n & 2) { memset(d + k, 0, 2 * sizeof(float)); k += 2; }
    if (n & 1) d[k] = 0.0f;
}

/* The output columns ox in [*lo, *hi) whose input column ox s + off lies in [0, n_in). */
static inline void nm__conv_valid_range(int64_t off, int s, int64_t n_in, int64_t n_out, int64_t *lo, int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = n_in - 1 - off < 0 ? 0 : (n_in - 1 - off) / s + 1;
    if (a > n_out) a = n_out;
    if (b > n_out) b = n_out;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

#endif
