/*
** nm_sgemm: OpenBLAS's sgemm with results that do not depend on the thread count.
**
** OpenBLAS's threaded driver splits a long inner dimension K differently from its
** single-threaded one, so one big threaded sgemm gives other bits with 2 threads than with
** 1 (measured: 128 x 1000 x 784 differs in most outputs). Here the output is cut into
** blocks whose size depends on the shape only, each block is one single-threaded sgemm
** (OpenBLAS runs serially inside an OpenMP parallel region), and OpenMP deals the blocks to
** threads. Every output element is then computed by the same call, whatever the threads.
*/
#include "neuromorph/base.h"

#include <cblas.h>

#define BLOCK 128   /* rows (or columns) of C per call: big enough for OpenBLAS's kernels */

void nm_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    /* Split the longer of M and N. */
    const int by_rows = M >= N;
    const int64_t len = by_rows ? M : N, nblk = (len + BLOCK - 1) / BLOCK;
    #pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < nblk; k++) {
        const int64_t i0 = k * BLOCK, n = i0 + BLOCK < len ? BLOCK : len - i0;
        if (by_rows) {
            const float *Ab = trans_a ? A + i0 : A + i0 * lda;   /* rows i0.. of op(A) */
            cblas_sgemm(CblasRowMajor, ta, tb, (int)n, (int)N, (int)K, alpha, Ab, (int)lda, B, (int)ldb, beta,
                        C + i0 * ldc, (int)ldc);
        } else {
            const float *Bb = trans_b ? B + i0 * ldb : B + i0;   /* columns i0.. of op(B) */
            cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)n, (int)K, alpha, A, (int)lda, Bb, (int)ldb, beta, C + i0,
                        (int)ldc);
        }
    }
}
