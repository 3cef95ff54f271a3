/*
** data_impl.h: private hooks of the data module, for its tests and fuzz targets only.
** Never installed; nothing in include/ may depend on it.
*/
#ifndef NEUROMORPH_DATA_IMPL_H
#define NEUROMORPH_DATA_IMPL_H

#include <neuromorph/data.h>

/* The largest idx body (in bytes) nm_idx_read accepts before reading it; a header that
** promises more is NM_FORMAT. The default, 2^34 bytes (16 GiB), is far above any real
** dataset; the fuzz target lowers it so a few header bytes cannot make it allocate
** gigabytes. Values <= 0 restore the default. Returns the previous limit. Process-wide,
** not thread-safe: set it once, before reading. */
int64_t nm__idx_set_max_bytes(int64_t max_bytes);

/* Size in bytes of one element of `type`, or 0 for a value that is not an idx type. */
int nm__idx_elem_size(int type);
/* Short name of an idx element type ("u8", "i16", "f32", ...), or "unknown". */
const char *nm__idx_type_name(int type);
/* Writes the dims of `idx` as "60000 x 28 x 28" into buf (truncated to cap bytes). */
void nm__idx_format_dims(const int64_t *dims, int n_dims, char *buf, size_t cap);

#endif
