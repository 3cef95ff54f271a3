/*
** events_impl.h: the streaming event reader's insides, shared by the format decoders
** (evt.c, aedat.c, nmnist.c, shd.c) and events.c. Private to the data module.
**
** The reader keeps a byte window of the file. A decoder turns whole units (words,
** records, packets) at the start of the window into events until either the output is
** full or the next unit is not complete in the window; it then says how many bytes it
** used and how many it needs. The reader refills (growing the window for a large
** packet) and calls again; at the end of the file, bytes left over are a truncation
** error at their offset. So no decoder ever sees half a unit, and none reads the file.
*/
#ifndef NEUROMORPH_EVENTS_IMPL_H
#define NEUROMORPH_EVENTS_IMPL_H

#include "data_impl.h"

#include <stdio.h>

typedef struct nm_event_reader nm_event_reader;

/* Decodes from p[0..n) (n >= 0; p is at file offset r->off). Writes events at
** out->t[out->n...] (capacity out->cap >= max) and advances out->n, never beyond max.
** Sets *used to the bytes consumed and *need to the bytes it needs from p + *used to go
** on (0 when it stopped because the output is full). Returns NM_OK or an error. */
typedef nm_status (*nm__event_decode_fn)(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need,
                                         nm_events *out, int64_t max);

struct nm_event_reader {
    char              *path;
    FILE              *f;
    int64_t            file_size;
    nm_event_read_opts opts;
    nm_event_format    fmt;
    nm__event_decode_fn decode;
    /* byte window: buf[pos..len) is file bytes [off, off + len - pos) */
    uint8_t           *buf;
    size_t             cap, len, pos;
    int64_t            off;
    int                eof;
    nm_status          err;       /* sticky error */
    char              *errmsg;
    nm_event_info      info;
    int                max_x, max_y;
    int                width, height;  /* sensor size from the header (or the caller) */
    /* decoder state (each format uses what it needs) */
    int64_t            t_hi, t_lo, t_wrap, t_prev;   /* time words and unwrapping */
    int                y, base_x, pol, started;
    int64_t            pkt_left;      /* AEDAT 3/4: bytes or events left in the current packet */
    int                pkt_type, pkt_evsize, pkt_skip;
    int64_t            pkt_overflow, pkt_start;
    uint8_t           *aux;           /* AEDAT 4: decompressed packet */
    size_t             aux_cap, aux_len, aux_pos;
    int                compression;   /* AEDAT 4: 0 none, 1 LZ4, 2 LZ4 high, 3 ZSTD, 4 ZSTD high */
    int64_t            data_end;      /* AEDAT 4: offset where packets end (data table) or file size */
    void              *shd;           /* SHD: an nm_shd and the sample being returned */
    nm_events         *shd_ev;
    int64_t            shd_i, shd_pos;
};

/* Format-specific open: parses the header from the start of the file (r->f at 0),
** leaves r->off at the first data byte and sets r->decode. */
nm_status nm__evt_open(nm_event_reader *r);     /* EVT 2.0, EVT 3.0 and .dat */
nm_status nm__aedat_open(nm_event_reader *r);   /* AEDAT 2.0, 3.1, 4.0 */
nm_status nm__nmnist_open(nm_event_reader *r);
nm_status nm__shd_reader_open(nm_event_reader *r);
void      nm__shd_reader_close(nm_event_reader *r);
/* SHD has no byte stream: the reader asks it for events directly. */
nm_status nm__shd_reader_read(nm_event_reader *r, nm_events *out, int64_t max);

/* Reads the '%' or '#' header lines at the start of r->f into a NUL-terminated string
** (*text, malloc'ed) and sets *end to the offset of the first byte after them. A line
** belongs to the header when it starts with `mark`; `stop` (may be NULL) ends the header
** after the line that starts with it. NM_FORMAT for a header over 1 MiB. */
nm_status nm__read_header(nm_event_reader *r, char mark, const char *stop, char **text, int64_t *end);

/* Raises NM_FORMAT "'PATH': MSG at byte OFF". */
nm_status nm__ev_corrupt(const nm_event_reader *r, int64_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Writers per format (f is open for writing; e is validated for the format's limits). */
nm_status nm__evt3_write(FILE *f, const nm_events *e);
nm_status nm__evt2_write(FILE *f, const nm_events *e);
nm_status nm__dat_write(FILE *f, const nm_events *e);
nm_status nm__aedat2_write(FILE *f, const nm_events *e);
nm_status nm__aedat3_write(FILE *f, const nm_events *e);
nm_status nm__nmnist_write(FILE *f, const nm_events *e);

static inline uint16_t nm__rd16le(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t nm__rd32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint32_t nm__rd32be(const uint8_t *p)
{
    return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}
static inline uint64_t nm__rd64le(const uint8_t *p) { return (uint64_t)nm__rd32le(p) | (uint64_t)nm__rd32le(p + 4) << 32; }

#endif
