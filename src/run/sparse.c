/*
** Spike-sparse Affine kernels: bit-packed spikes, and y = W x + b for binary x as a gather-add.
**
** Workload: m = n_steps * batch rows (3200 for 25 steps of 128) of binary spike vectors of
** n_in = 784..1000 inputs at 5-50% density, n_out ~ 1000 outputs. A dense sgemm costs
** m n_in n_out multiply-adds whatever the density; the gather path costs one add per set bit
** and output: y[r, :] = b + sum over the set bits j of row r of Wt[j, :], Wt = W^T.
**
** How it is made fast:
**   - Output columns go in blocks of FWD_COLS = 128 floats (64 with AVX2, 32 below). A row's
**     block is summed in registers (8 vectors), one add chain per column: 8 independent
**     chains hide the add latency, and each set bit costs 8 vector loads and adds.
**   - Inputs go in words of 64. The 64 x FWD_COLS block of Wt for one word is copied into a
**     packed tile (32 KiB with AVX-512), which stays in L1 while up to FWD_ROWS rows pass
**     over it.
**   - Between words a row's partial sum waits in a packed per-thread buffer (FWD_ROWS x
**     FWD_COLS floats, allocated once per call; a float store and reload leaves the sum
**     unchanged), then goes to y. The buffer's rows are contiguous, unlike y's (n_out floats apart), so
**     they stream from L2 at full speed.
**   - Set bits are found with __builtin_ctzll on the packed words: no index lists.
**   - Threads own contiguous ranges of rows, so every output is computed by one thread.
** On the 2-core AVX-512 machine this does ~40-55 float adds per ns per core at 30-50%
** density, against ~80 multiply-adds per ns for OpenBLAS sgemm (bench/bench_sparse.c).
**
** Exactness: each y[r, c] is b[c] (or 0) followed by the float adds of Wt[j, c] for the set
** bits j in ascending order, whatever the thread count and blocking: bit-identical to that
** plain loop, and equal to the dense product up to float summation order.
*/
#include "sparse_impl.h"   /* first: its pragmas cover the whole file */

#include <neuromorph/run.h>

#include <stdlib.h>

#define FWD_COLS     NM_SPARSE_COLS   /* output columns per register block */
#define FWD_ROWS     2048  /* rows per packed buffer of partial sums: 1 MiB per thread */
#define TR_TILE      32    /* transpose tile: 32 x 32 floats, 4 KiB read and 4 KiB written */

/* ---- bit packing ------------------------------------------------------- */

int64_t nm_bits_words(int64_t n) { return (n + 63) / 64; }

/* The word of x[0:len] (len <= 64). The compares vectorize into flag bytes; a multiply then
** gathers 8 flag bytes (0 or 1) into 8 bits: bit i of (v * 0x0102040810204080) >> 56 is
** byte i of v, as no partial products overlap. Several times faster than a shift per bit. */
static uint64_t pack_word(const float *x, int64_t len) {
    unsigned char f[64];
    if (len == 64) {
        for (int i = 0; i < 64; i++) f[i] = x[i] != 0.0f;
    } else {
        for (int64_t i = 0; i < len; i++) f[i] = x[i] != 0.0f;
        for (int64_t i = len; i < 64; i++) f[i] = 0;
    }
    uint64_t word = 0;
    for (int q = 0; q < 8; q++) {
        uint64_t v = 0;
        for (int b = 0; b < 8; b++) v |= (uint64_t)f[8 * q + b] << (8 * b);
        word |= ((v * 0x0102040810204080ull) >> 56) << (8 * q);
    }
    return word;
}

int64_t nm_bits_pack(const float *x, int64_t m, int64_t n, uint64_t *bits) {
    const int64_t nw = nm_bits_words(n);
    int64_t total = 0;
    /* Rows are independent and the count is an integer sum: any split gives the same. */
    #pragma omp parallel for schedule(static) reduction(+:total)
    for (int64_t r = 0; r < m; r++) {
        const float *xr = x + r * n;
        uint64_t *br = bits + r * nw;
        for (int64_t k = 0; k < nw; k++) {
            br[k] = pack_word(xr + k * 64, n - k * 64 < 64 ? n - k * 64 : 64);
            total += __builtin_popcountll(br[k]);
        }
    }
    return total;
}

void nm_bits_unpack(const uint64_t *bits, int64_t m, int64_t n, float *x) {
    const int64_t nw = nm_bits_words(n);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < m; r++) {
        const uint64_t *br = bits + r * nw;
        float *xr = x + r * n;
        for (int64_t j = 0; j < n; j++) xr[j] = (float)((br[j >> 6] >> (j & 63)) & 1);
    }
}

/* ---- transpose --------------------------------------------------------- */

void nm_transpose(const float *W, int64_t n_out, int64_t n_in, float *Wt) {
    const int64_t to = (n_out + TR_TILE - 1) / TR_TILE, ti = (n_in + TR_TILE - 1) / TR_TILE;
    /* Tiles keep both the strided reads and the writes within a few cache lines. */
    #pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < to * ti; t++) {
        const int64_t o0 = (t / ti) * TR_TILE, i0 = (t % ti) * TR_TILE;
        const int64_t o1 = o0 + TR_TILE < n_out ? o0 + TR_TILE : n_out;
        const int64_t i1 = i0 + TR_TILE < n_in ? i0 + TR_TILE : n_in;
        for (int64_t i = i0; i < i1; i++)
            for (int64_t o = o0; o < o1; o++) Wt[i * n_out + o] = W[o * n_in + i];
    }
}

/* ---- gather forward ---------------------------------------------------- */

/* y[0:cols] = init[0:cols] + the rows of tile named by the set bits of word, added one at a
** time in increasing order. cols (FWD_COLS or a smaller power of two >= 16) is a constant at
** every call, so the accumulators become registers. init may be y. */
static inline void gather_word(const float (*restrict tile)[FWD_COLS], uint64_t word, const float *init, float *y,
                               const int cols) {
    float acc[FWD_COLS];
    for (int c = 0; c < cols; c++) acc[c] = init[c];
    while (word) {
        const float *restrict w = tile[__builtin_ctzll(word)];
        word &= word - 1;
        for (int c = 0; c < cols; c++) acc[c] += w[c];
    }
    for (int c = 0; c < cols; c++) y[c] = acc[c];
}

static void gather_any(const float (*tile)[FWD_COLS], uint64_t word, const float *init, float *y, int cols) {
    switch (cols) {
#if FWD_COLS >= 128
    case 128: gather_word(tile, word, init, y, 128); break;
#endif
#if FWD_COLS >= 64
    case 64: gather_word(tile, word, init, y, 64); break;
#endif
    case 32: gather_word(tile, word, init, y, 32); break;
    default: gather_word(tile, word, init, y, 16); break;
    }
}

/* out[r - r0][0:w] = y[r, c0:c0 + w] for rows [r0, r1), w <= FWD_COLS: out is a packed buffer
** of r1 - r0 rows, which the caller copies to y. */
static void forward_block(const float *Wt, const float *b, const uint64_t *bits, int64_t r0, int64_t r1,
                          int64_t n_in, int64_t n_out, int64_t c0, int64_t w, float (*out)[FWD_COLS]) {
    const int64_t nw = nm_bits_words(n_in);
    /* The narrowest register block covering w columns; columns past w are zero padding. */
    int cols = FWD_COLS;
    while (cols > 16 && w <= cols / 2) cols /= 2;
    float tile[64][FWD_COLS], bias[FWD_COLS];
    for (int64_t c = 0; c < cols; c++) bias[c] = b && c < w ? b[c0 + c] : 0.0f;
    if (nw == 0)
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = 0; c < cols; c++) out[r - r0][c] = bias[c];
    for (int64_t k = 0; k < nw; k++) {
        const int64_t jn = n_in - k * 64 < 64 ? n_in - k * 64 : 64;
        /* Bits past n_in are 0 by contract; masking them costs nothing and keeps the
        ** unfilled rows of the tile unread whatever the caller passes. */
        const uint64_t keep = jn == 64 ? ~0ull : (1ull << jn) - 1;
        for (int64_t j = 0; j < jn; j++) {
            const float *src = Wt + (k * 64 + j) * n_out + c0;
            for (int64_t c = 0; c < w; c++) tile[j][c] = src[c];
            for (int64_t c = w; c < cols; c++) tile[j][c] = 0.0f;
        }
        for (int64_t r = r0; r < r1; r++) {
            const uint64_t word = bits[r * nw + k] & keep;
            /* The first word starts from the bias; later words continue from the partial
            ** sum, which a word without set bits leaves as it is. */
            if (k && !word) continue;
            gather_any((const float (*)[FWD_COLS])tile, word, k ? out[r - r0] : bias, out[r - r0], cols);
        }
    }
}

void nm_affine_forward_sparse(const float *Wt, const float *b, const uint64_t *bits, int64_t m, int64_t n_in,
                              int64_t n_out, float *y) {
    const int nt = nm_get_threads();
    /* Each thread takes a contiguous range of rows and walks the column blocks and input
    ** words over FWD_ROWS of them at a time, so each packed tile serves up to FWD_ROWS rows.
    ** The partial sums live in a packed per-thread buffer rather than in y, whose rows are
    ** n_out floats apart: contiguous rows stream from L2 much faster. */
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < nt; t++) {
        const int64_t r0 = m * t / nt, r1 = m * (t + 1) / nt;
        if (r0 == r1) continue;
        const int64_t want = r1 - r0 < FWD_ROWS ? r1 - r0 : FWD_ROWS;
        float (*buf)[FWD_COLS] = malloc(sizeof(float) * FWD_COLS * want);
        float small[64][FWD_COLS];   /* out of memory: 64 rows at a time, slower, same sums */
        float (*out)[FWD_COLS] = buf ? buf : small;
        const int64_t rows = buf ? want : 64;
        for (int64_t s0 = r0; s0 < r1; s0 += rows) {
            const int64_t s1 = s0 + rows < r1 ? s0 + rows : r1;
            for (int64_t c0 = 0; c0 < n_out; c0 += FWD_COLS) {
                const int64_t w = n_out - c0 < FWD_COLS ? n_out - c0 : FWD_COLS;
                forward_block(Wt, b, bits, s0, s1, n_in, n_out, c0, w, out);
                for (int64_t r = s0; r < s1; r++)
                    for (int64_t c = 0; c < w; c++) y[r * n_out + c0 + c] = out[r - s0][c];
            }
        }
        free(buf);
    }
}
