/*
** Private to the spike-sparse kernels (run/sparse.c and train/sparse_grad.c): the compiler
** settings and the register-block width they share. Include it first in those files only:
** the pragmas apply to the rest of the translation unit.
*/
#ifndef NM_SPARSE_IMPL_H
#define NM_SPARSE_IMPL_H

/* The accumulator blocks are plain loops over constant widths. GCC vectorizes them with
** 256-bit registers by default on AVX-512 machines, which needs twice the loads and
** registers: ask for 512-bit vectors (no effect without AVX-512). And keep GCC from turning
** the accumulator copies into memcpy calls, which keeps them out of registers. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
#pragma GCC target("prefer-vector-width=512")
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

/* Columns per register block: 8 accumulator vectors of the widest registers the build
** targets. More spill (x86-64 has 16 vector registers below AVX-512); fewer leave the add
** latency exposed. */
#if defined(__AVX512F__)
#define NM_SPARSE_COLS 128
#elif defined(__AVX__)
#define NM_SPARSE_COLS 64
#else
#define NM_SPARSE_COLS 32
#endif

#endif
