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

#endif
