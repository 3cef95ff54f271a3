/*
** The weight gradient of the spike-sparse Affine: dW (n_out, n_in) += gy^T X for binary X
** (m, n_in) given as packed bits (run.h), gy (m, n_out).
**
** Column j of dW gets gy[r, :] for every row r whose bit j is set, so the work is one add per
** set bit and output instead of the dense m n_in n_out multiply-adds.
**
** How it is made fast: it is the forward's gather-add (src/run/sparse.c) turned around.
**   - For input j and a block of DW_COLS = 128 outputs (64 with AVX2, 32 below), dW[block, j]
**     is accumulated in registers (8 vectors: 8 independent add chains) over the rows whose
**     bit j is set, read from gy.
**   - To find those rows, the bits are transposed 64 rows x 64 inputs at a time (a 64 x 64
**     bit transpose), which gives each input one word saying which of 64 rows have it set.
**   - Rows go in chunks of 64. A chunk's 64 x DW_COLS slice of gy is copied into a packed
**     tile G (32 KiB with AVX-512, in L1) that every input of the tile then reads; the next
**     chunk's rows are prefetched meanwhile, as nothing else would fetch rows n_out floats
**     apart.
**   - Between chunks the sums live in S (inputs x DW_COLS floats, in L2), read and written once
**     per input and chunk, so gy is read from memory once per column block however many
**     inputs there are. S starts as the tile of dW, transposed, and goes back at the end.
**   - S is a per-thread buffer of up to DW_MAX_WORDS x 64 x DW_COLS floats (1 MiB), allocated
**     once per call outside the loops. If that allocation fails, tiles of one word use a
**     64-row buffer on the stack instead: slower (gy is then read once per word), same bits.
** A scatter the other way round (dW^T[j] += gy[r] for each set bit j of row r) needs a load
** and a store per vector instead of one load, and measured slower.
**
** Determinism: threads split tiles (a block of output columns x a group of input words),
** which are independent outputs; within a tile, rows are added in increasing order. Each
** element is
**   dW[o, j] + gy[r1, o] + gy[r2, o] + ...   (r1 < r2 < ..., the rows with bit j set)
** added one at a time in float, whatever the thread count or tiling: bit-identical to that
** plain loop.
*/
#include "run/sparse_impl.h"   /* first: its pragmas cover the whole file */

#include <neuromorph/train.h>

#include <stdlib.h>

#define DW_COLS      NM_SPARSE_COLS   /* outputs per tile */
#define DW_MAX_WORDS 32    /* inputs per tile, in words of 64: S is at most 1 MiB */

/* One step of the 64 x 64 bit transpose: swaps the j x j blocks above and below the diagonal
** of every 2j x 2j block (mask selects their bits). j is a constant at every call, so the
** loop over k vectorizes for j >= 8. */
static inline void transpose_step(uint64_t a[64], const int j, const uint64_t mask) {
    for (int b = 0; b < 64; b += 2 * j)
        for (int k = b; k < b + j; k++) {
            const uint64_t t = ((a[k] >> j) ^ a[k + j]) & mask;
            a[k + j] ^= t;
            a[k] ^= t << j;
        }
}

/* a[i] bit j becomes a[j] bit i (Hacker's Delight 7-3, by ever smaller block swaps). */
static void transpose64(uint64_t a[64]) {
    transpose_step(a, 32, 0x00000000ffffffffull);
    transpose_step(a, 16, 0x0000ffff0000ffffull);
    transpose_step(a, 8, 0x00ff00ff00ff00ffull);
    transpose_step(a, 4, 0x0f0f0f0f0f0f0f0full);
    transpose_step(a, 2, 0x3333333333333333ull);
    transpose_step(a, 1, 0x5555555555555555ull);
}

/* s[0:cols] += the rows of g named by the set bits of word, one row at a
** time in increasing order. cols is a constant at every call, so acc becomes registers. */
static inline void gather_rows(const float (*restrict g)[DW_COLS], uint64_t word, float *restrict s,
                               const int cols) {
    float acc[DW_COLS];
    for (int c = 0; c < cols; c++) acc[c] = s[c];
    while (word) {
        const float *restrict row = g[__builtin_ctzll(word)];
        word &= word - 1;
        for (int c = 0; c < cols; c++) acc[c] += row[c];
    }
    for (int c = 0; c < cols; c++) s[c] = acc[c];
}

static void gather_any(const float (*g)[DW_COLS], uint64_t word, float *s, int cols) {
    switch (cols) {
#if DW_COLS >= 128
    case 128: gather_rows(g, word, s, 128); break;
#endif
#if DW_COLS >= 64
    case 64: gather_rows(g, word, s, 64); break;
#endif
    case 32: gather_rows(g, word, s, 32); break;
    default: gather_rows(g, word, s, 16); break;
    }
}

/* The tile of inputs [64 k0, 64 k1) x outputs [c0, c0 + w), k1 - k0 <= DW_MAX_WORDS and
** w <= DW_COLS, with S (64 (k1 - k0) rows of DW_COLS floats) as its accumulators. */
static void dweight_tile(const float *gy, const uint64_t *bits, int64_t m, int64_t n_in, int64_t n_out, int64_t k0,
                         int64_t k1, int64_t c0, int64_t w, float (*S)[DW_COLS], float *dW) {
    const int64_t nw = nm_bits_words(n_in), j0 = k0 * 64, jn = (n_in < k1 * 64 ? n_in : k1 * 64) - j0;
    /* The narrowest register block covering w columns; columns past w are zero padding. */
    int cols = DW_COLS, shift = 0;   /* cache lines per row of G: 1 << shift */
    while (cols > 16 && w <= cols / 2) cols /= 2;
    while ((16 << shift) < cols) shift++;
    float G[64][DW_COLS];            /* the chunk's rows of gy, columns [c0, c0 + cols) */
    uint64_t t[DW_MAX_WORDS][64];    /* t[k - k0][jj] bit i: row r0 + i has input 64 k + jj */
    /* S = the tile of dW, transposed, 16 inputs at a time (8 KiB of S, which stays in L1). */
    for (int64_t jb = 0; jb < jn; jb += 16) {
        const int64_t je = jb + 16 < jn ? jb + 16 : jn;
        for (int64_t c = 0; c < w; c++)
            for (int64_t j = jb; j < je; j++) S[j][c] = dW[(c0 + c) * n_in + j0 + j];
        for (int64_t c = w; c < cols; c++)
            for (int64_t j = jb; j < je; j++) S[j][c] = 0.0f;
    }
    for (int64_t r0 = 0; r0 < m; r0 += 64) {
        const int64_t rn = m - r0 < 64 ? m - r0 : 64;
        for (int64_t k = k0; k < k1; k++) {
            for (int64_t i = 0; i < 64; i++) t[k - k0][i] = i < rn ? bits[(r0 + i) * nw + k] : 0;
            transpose64(t[k - k0]);
        }
        /* The chunk's slice of gy, packed: its rows are n_out floats apart in gy (and the
        ** last ones may end before a cols-wide read). */
        for (int64_t i = 0; i < rn; i++) {   /* rows past rn have no set bits: never read */
            const float *src = gy + (r0 + i) * n_out + c0;
            for (int64_t c = 0; c < w; c++) G[i][c] = src[c];
            for (int64_t c = w; c < cols; c++) G[i][c] = 0.0f;
        }
        for (int64_t j = 0; j < jn; j++) {
            /* One cache line of the next chunk's slice of gy per input, so that packing it
            ** finds it in cache: its rows are far apart, and no hardware prefetcher follows. */
            const int64_t pr = r0 + 64 + (j >> shift), pc = 16 * (j & ((1 << shift) - 1));
            if (pr < r0 + 128 && pr < m && pc < w) __builtin_prefetch(gy + pr * n_out + c0 + pc);
            const uint64_t word = t[j >> 6][j & 63];
            if (word) gather_any((const float (*)[DW_COLS])G, word, S[j], cols);
        }
    }
    for (int64_t jb = 0; jb < jn; jb += 16) {
        const int64_t je = jb + 16 < jn ? jb + 16 : jn;
        for (int64_t c = 0; c < w; c++)
            for (int64_t j = jb; j < je; j++) dW[(c0 + c) * n_in + j0 + j] = S[j][c];
    }
}

void nm_affine_dweight_sparse(const float *gy, const uint64_t *bits, int64_t m, int64_t n_in, int64_t n_out,
                              float *dW) {
    const int64_t nw = nm_bits_words(n_in), n_cb = (n_out + DW_COLS - 1) / DW_COLS;
    if (nw == 0 || n_cb == 0) return;
    /* Tiles: n_cb column blocks x ng groups of input words. Few groups (gy read once per
    ** group), but at least two tiles per thread when the column blocks alone are too few.
    ** The tiling changes no result, so it may depend on the thread count. */
    const int64_t nt = nm_get_threads();
    int64_t ng = (nw + DW_MAX_WORDS - 1) / DW_MAX_WORDS;
    if (ng * n_cb < 2 * nt) ng = (2 * nt + n_cb - 1) / n_cb;
    if (ng > nw) ng = nw;
    const int64_t gw = (nw + ng - 1) / ng;   /* words per group */
    ng = (nw + gw - 1) / gw;
    #pragma omp parallel
    {
        float (*S)[DW_COLS] = malloc(sizeof(float) * DW_COLS * 64 * gw);
        #pragma omp for schedule(static)
        for (int64_t t = 0; t < n_cb * ng; t++) {
            const int64_t c0 = (t / ng) * DW_COLS, k0 = (t % ng) * gw, k1 = k0 + gw < nw ? k0 + gw : nw;
            const int64_t w = n_out - c0 < DW_COLS ? n_out - c0 : DW_COLS;
            if (S) {
                dweight_tile(gy, bits, m, n_in, n_out, k0, k1, c0, w, S, dW);
            } else {
                float small[64][DW_COLS];   /* out of memory: one word at a time */
                for (int64_t k = k0; k < k1; k++) dweight_tile(gy, bits, m, n_in, n_out, k, k + 1, c0, w, small, dW);
            }
        }
        free(S);
    }
}
