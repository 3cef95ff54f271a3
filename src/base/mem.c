/*
** mem.c: 64-byte aligned, zero-filled buffers.
**
** Neuron state is kept as structure-of-arrays padded to 16 floats (nm_pad16), so every
** array starts on a cache line and vector loops never need a peeled head. Buffers are
** zero-filled because state arrays are expected to start at zero and padding lanes must
** hold finite values (they are integrated along with the real neurons). The size is
** rounded up to a whole cache line so the last vector load stays inside the block.
*/
#include "neuromorph/base.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *nm_alloc(size_t size) {
    if (size == 0 || size > SIZE_MAX - (NM_ALIGN - 1)) return NULL;
    size_t rounded = (size + (NM_ALIGN - 1)) & ~(size_t)(NM_ALIGN - 1);
    void *p = NULL;
    if (posix_memalign(&p, NM_ALIGN, rounded) != 0) return NULL;
    memset(p, 0, rounded);
    return p;
}

void nm_free(void *p) { free(p); }
