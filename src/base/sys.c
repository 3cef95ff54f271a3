/*
** sys.c: time, memory use and the thread count.
**
** The thread count is one library-wide setting applied to both OpenMP and OpenBLAS, so
** a user who asks for 4 threads does not get 4 OpenMP threads each calling a BLAS that
** starts 16 more. Results never depend on it (see rng.c and the fixed-chunk rule in
** the style guide); only speed does.
*/
#include "neuromorph/base.h"

#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Declared here rather than through <cblas.h>, because which cblas.h the include path
** finds (netlib or OpenBLAS) depends on the system; the library links OpenBLAS. */
void openblas_set_num_threads(int num_threads);

/* 0 until nm_set_threads is called: then the OpenMP default is reported. */
static atomic_int n_threads = 0;

double nm_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int64_t nm_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (int64_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

void nm_set_threads(int n) {
    if (n <= 0) {
#ifdef _OPENMP
        n = omp_get_num_procs();
#else
        n = 1;
#endif
    }
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    openblas_set_num_threads(n);
    atomic_store(&n_threads, n);
}

int nm_get_threads(void) {
    int n = atomic_load(&n_threads);
    if (n > 0) return n;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
