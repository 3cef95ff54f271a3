/*
** hw_impl.h: what the hw module's files share and do not export.
*/
#ifndef NM_HW_IMPL_H
#define NM_HW_IMPL_H

#include <stdint.h>

/* splitmix64's finalizer: a bijection that scatters nearby inputs (stream and seed
** derivation). */
static inline uint64_t nm__hw_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

/* Standard normals of indices L0 .. L0 + n - 1 of (seed, stream) into z: the crossbar's
** read-noise generator (Philox blocks, Box-Muller in float), several times cheaper than
** nm_hw_normal2; a pure function of the index, whatever the thread count. */
void nm__hw_normals(uint64_t seed, uint64_t stream, uint64_t L0, int64_t n, float *z);

#endif
