/*
** aedat.c: iniVation AEDAT 2.0, 3.1 and 4.0 files.
**
** 2.0: '#' header lines, then big-endian (u32 address, u32 time µs) pairs. The address
**      layout is chip-specific (nm_aedat2_layout); DVS128 external events (bit 15) and
**      DAVIS346 APS/IMU samples (bit 31) are skipped and counted. The 32-bit time is
**      unwrapped when it goes back by more than 2^31.
** 3.1: '#' header lines up to "#!END-HEADER", then packets: a 28-byte little-endian
**      header (type, source, eventSize, tsOffset, tsOverflow, capacity, number, valid)
**      and `number` events of eventSize bytes. The packet is sized by eventNumber (the
**      events written; capacity may not be smaller). Polarity packets (type 1, 8-byte
**      events: u32 data with valid bit 0, polarity bit 1, y bits 16-2, x bits 31-17, and
**      i32 time) are decoded, time = tsOverflow << 31 | time; invalid events and other
**      packet types are skipped and counted.
** 4.0: "#!AER-DAT4.0\r\n", a u32 length and an IOHeader FlatBuffer (compression,
**      dataTablePosition, infoNode), then packets of (i32 stream id, i32 size, body)
**      where the body, after LZ4-frame or ZSTD decompression, is a size-prefixed
**      FlatBuffer. Packets whose identifier is "EVTS" (EventPacket: a vector of 16-byte
**      structs {i64 t, i16 x, i16 y, bool polarity}) are decoded; others (frames, IMU,
**      triggers) are skipped and counted. Every FlatBuffer offset is bounds-checked.
*/
#include "events_impl.h"

#include <lz4frame.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ---- AEDAT 2.0 --------------------------------------------------------- */

static nm_status aedat2_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                               int64_t max)
{
    const size_t nr = n / 8;
    size_t i = 0;
    int64_t k = out->n;
    const nm_aedat2_layout lay = r->opts.aedat2;
    for (; i < nr && k < max; i++) {
        uint32_t a = nm__rd32be(p + 8 * i);
        int64_t ts = nm__rd32be(p + 8 * i + 4);
        int x, y, pol;
        if (lay == NM_AEDAT2_DAVIS346) {
            if (a >> 31) { r->info.skipped++; continue; }
            x = 345 - (int)(a >> 12 & 0x3FF);
            y = 259 - (int)(a >> 22 & 0x1FF);
            pol = (int)(a >> 11 & 1);
            if (x < 0 || y < 0)
                return nm__ev_corrupt(r, r->info.bytes + (int64_t)(8 * i), "AEDAT 2.0 address 0x%08x is outside a DAVIS346", a);
        } else {
            if (a & 0x8000) { r->info.skipped++; continue; }
            int lo = (int)(a >> 1 & 0x7F), hi = (int)(a >> 8 & 0x7F);
            pol = (int)(a & 1);
            x = lo;
            y = hi;
            if (lay == NM_AEDAT2_JAER128) { x = 127 - lo; pol = !pol; }
            else if (lay == NM_AEDAT2_TONIC128) { x = hi; y = lo; }
        }
        if (r->started && ts + ((int64_t)1 << 31) < r->t_prev) {
            if (r->t_wrap > ((int64_t)1 << 61))
                return nm__ev_corrupt(r, r->info.bytes + (int64_t)(8 * i), "AEDAT 2.0 time wraps past 2^61 us");
            r->t_wrap += (int64_t)1 << 32;
        }
        r->t_prev = ts;
        r->started = 1;
        out->t[k] = r->t_wrap + ts;
        out->x[k] = (uint16_t)x;
        out->y[k] = (uint16_t)y;
        out->p[k] = (uint8_t)pol;
        k++;
    }
    out->n = k;
    *used = 8 * i;
    *need = i < nr ? 0 : 8;
    return NM_OK;
}

nm_status nm__aedat2_write(FILE *f, const nm_events *e)
{
    int davis = e->width > 128 || e->height > 128;
    for (int64_t i = 0; i < e->n; i++)
        if (davis ? (e->x[i] >= 346 || e->y[i] >= 260) : (e->x[i] >= 128 || e->y[i] >= 128))
            return nm__error(NM_RANGE, "event %lld (x=%d, y=%d) fits neither a DVS128 nor a DAVIS346 AEDAT 2.0 address",
                             (long long)i, e->x[i], e->y[i]);
    fprintf(f, "#!AER-DAT2.0\r\n# AEDAT 2.0 written by neuromorph; address layout %s\r\n", davis ? "davis346" : "dvs128");
    for (int64_t i = 0; i < e->n; i++) {
        uint32_t a = davis ? (uint32_t)(259 - e->y[i]) << 22 | (uint32_t)(345 - e->x[i]) << 12 | (uint32_t)(e->p[i] & 1) << 11
                           : (uint32_t)e->y[i] << 8 | (uint32_t)e->x[i] << 1 | (e->p[i] & 1);
        uint32_t t = (uint32_t)e->t[i];
        uint8_t b[8] = { (uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a,
                         (uint8_t)(t >> 24), (uint8_t)(t >> 16), (uint8_t)(t >> 8), (uint8_t)t };
        if (fwrite(b, 1, 8, f) != 8) return nm__error(NM_IO, "write error");
    }
    return NM_OK;
}

/* ---- AEDAT 3.1 --------------------------------------------------------- */

static nm_status aedat3_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                               int64_t max)
{
    size_t u = 0;
    int64_t k = out->n;
    *need = 0;
    while (k < max) {
        const int64_t at = r->info.bytes + (int64_t)u;
        if (r->pkt_left == 0) {   /* at a packet header */
            if (n - u < 28) { *need = 28; break; }
            const uint8_t *h = p + u;
            int type = (int16_t)nm__rd16le(h);
            int32_t size = (int32_t)nm__rd32le(h + 4), tso = (int32_t)nm__rd32le(h + 8), ovf = (int32_t)nm__rd32le(h + 12);
            int32_t cap = (int32_t)nm__rd32le(h + 16), num = (int32_t)nm__rd32le(h + 20), valid = (int32_t)nm__rd32le(h + 24);
            if (size <= 0 || num < 0 || cap < num || valid < 0 || valid > num || ovf < 0 || tso < 0 || tso + 4 > size)
                return nm__ev_corrupt(r, at, "bad AEDAT 3.1 packet header (type %d, eventSize %d, tsOffset %d, tsOverflow %d, "
                                      "capacity %d, number %d, valid %d)", type, size, tso, ovf, cap, num, valid);
            if (type == 1 && size != 8)
                return nm__ev_corrupt(r, at, "AEDAT 3.1 polarity packet with eventSize %d (expected 8)", size);
            int64_t body = (int64_t)size * num;
            if (r->info.bytes + (int64_t)u + 28 + body > r->file_size)
                return nm__ev_corrupt(r, at, "AEDAT 3.1 packet claims %d events of %d bytes but the file ends at byte %lld", num,
                                      size, (long long)r->file_size);
            u += 28;
            r->pkt_type = type;
            r->pkt_evsize = size;
            r->pkt_overflow = ovf;
            r->pkt_left = body;
            if (type != 1) r->info.skipped++;
            continue;
        }
        if (r->pkt_type != 1) {   /* skip a non-polarity body */
            size_t take = (size_t)((int64_t)(n - u) < r->pkt_left ? (int64_t)(n - u) : r->pkt_left);
            u += take;
            r->pkt_left -= (int64_t)take;
            if (r->pkt_left) { *need = 1; break; }
            continue;
        }
        if (n - u < 8) { *need = 8; break; }
        uint32_t d = nm__rd32le(p + u);
        int32_t ts = (int32_t)nm__rd32le(p + u + 4);
        u += 8;
        r->pkt_left -= 8;
        if (!(d & 1)) { r->info.skipped++; continue; }
        if (ts < 0) return nm__ev_corrupt(r, at, "AEDAT 3.1 event with negative timestamp %d", ts);
        out->t[k] = r->pkt_overflow << 31 | ts;
        out->x[k] = (uint16_t)(d >> 17 & 0x7FFF);
        out->y[k] = (uint16_t)(d >> 2 & 0x7FFF);
        out->p[k] = (uint8_t)(d >> 1 & 1);
        k++;
    }
    out->n = k;
    *used = u;
    return NM_OK;
}

nm_status nm__aedat3_write(FILE *f, const nm_events *e)
{
    fprintf(f, "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: neuromorph\r\n#!END-HEADER\r\n");
    for (int64_t i = 0; i < e->n;) {
        int64_t ovf = e->t[i] >> 31, j = i;
        while (j < e->n && j - i < 4096 && e->t[j] >> 31 == ovf) j++;
        int32_t num = (int32_t)(j - i);
        int32_t hv[6] = { 8, 4, (int32_t)ovf, num, num, num };
        uint8_t h[28] = { 1, 0, 1, 0 };
        for (int q = 0; q < 6; q++)
            for (int b = 0; b < 4; b++) h[4 + 4 * q + b] = (uint8_t)((uint32_t)hv[q] >> (8 * b));
        if (fwrite(h, 1, 28, f) != 28) return nm__error(NM_IO, "write error");
        for (; i < j; i++) {
            uint32_t d = (uint32_t)e->x[i] << 17 | (uint32_t)e->y[i] << 2 | (uint32_t)(e->p[i] & 1) << 1 | 1u;
            uint32_t t = (uint32_t)(e->t[i] & 0x7FFFFFFF);
            uint8_t b[8] = { (uint8_t)d, (uint8_t)(d >> 8), (uint8_t)(d >> 16), (uint8_t)(d >> 24),
                             (uint8_t)t, (uint8_t)(t >> 8), (uint8_t)(t >> 16), (uint8_t)(t >> 24) };
            if (fwrite(b, 1, 8, f) != 8) return nm__error(NM_IO, "write error");
        }
    }
    return NM_OK;
}

/* ---- FlatBuffers, bounds-checked --------------------------------------- */

/* Offset of field `id` of the table at `tab` in b[0..n), 0 if absent, -1 if corrupt. */
static int64_t fb_field(const uint8_t *b, size_t n, size_t tab, int id)
{
    if (tab + 4 > n) return -1;
    int64_t vt = (int64_t)tab - (int32_t)nm__rd32le(b + tab);
    if (vt < 0 || (size_t)vt + 4 > n) return -1;
    unsigned vsz = nm__rd16le(b + vt), tsz = nm__rd16le(b + vt + 2);
    if (vsz < 4 || (size_t)vt + vsz > n || tab + tsz > n) return -1;
    if (4u + 2u * (unsigned)id + 2u > vsz) return 0;
    unsigned fo = nm__rd16le(b + vt + 4 + 2 * id);
    if (!fo) return 0;
    if (fo + 4u > tsz && fo + 1u > tsz) return -1;
    return (int64_t)tab + fo;
}

/* Follows the u32 offset at `at` to a vector; sets *len and returns the offset of its
** first element, or -1 when it does not fit b[0..n) with `elem` bytes per element. */
static int64_t fb_vector(const uint8_t *b, size_t n, int64_t at, size_t elem, uint32_t *len)
{
    if (at < 0 || (size_t)at + 4 > n) return -1;
    uint64_t v = (uint64_t)at + nm__rd32le(b + at);
    if (v + 4 > n) return -1;
    *len = nm__rd32le(b + v);
    if ((uint64_t)*len * elem > n - v - 4) return -1;
    return (int64_t)v + 4;
}

/* ---- AEDAT 4.0 --------------------------------------------------------- */

/* Decompresses src into r->aux per the header's compression. */
static nm_status unpack(nm_event_reader *r, const uint8_t *src, size_t n, int64_t at)
{
    if (r->compression == 0) {
        if (n > r->aux_cap) {
            uint8_t *a = realloc(r->aux, n);
            if (!a) return nm__error(NM_NOMEM, "out of memory");
            r->aux = a;
            r->aux_cap = n;
        }
        if (n) memcpy(r->aux, src, n);
        r->aux_len = n;
        return NM_OK;
    }
    size_t cap = r->aux_cap ? r->aux_cap : 1 << 16, len = 0;
    const size_t limit = (size_t)1 << 30;
    if (r->compression <= 2) {
        LZ4F_dctx *dc = NULL;
        if (LZ4F_isError(LZ4F_createDecompressionContext(&dc, LZ4F_VERSION))) return nm__error(NM_NOMEM, "out of memory");
        size_t in = 0, ret = 1;
        while (in < n && ret != 0) {
            if (len == cap || !r->aux) {
                if (r->aux && cap >= limit) { LZ4F_freeDecompressionContext(dc); return nm__ev_corrupt(r, at, "AEDAT 4.0 packet inflates past 1 GiB"); }
                if (r->aux) cap *= 2;
                uint8_t *a = realloc(r->aux, cap);
                if (!a) { LZ4F_freeDecompressionContext(dc); return nm__error(NM_NOMEM, "out of memory"); }
                r->aux = a;
                r->aux_cap = cap;
            }
            size_t dst = cap - len, srcn = n - in;
            ret = LZ4F_decompress(dc, r->aux + len, &dst, src + in, &srcn, NULL);
            if (LZ4F_isError(ret)) {
                LZ4F_freeDecompressionContext(dc);
                return nm__ev_corrupt(r, at, "corrupt LZ4 packet (%s)", LZ4F_getErrorName(ret));
            }
            len += dst;
            in += srcn;
            if (!srcn && !dst && len < cap) break;
        }
        LZ4F_freeDecompressionContext(dc);
        if (ret != 0) return nm__ev_corrupt(r, at, "LZ4 packet ends before its frame does");
    } else {
        ZSTD_DCtx *dc = ZSTD_createDCtx();
        if (!dc) return nm__error(NM_NOMEM, "out of memory");
        ZSTD_inBuffer ib = { src, n, 0 };
        size_t ret = 1;
        while (ret != 0) {
            if (len == cap || !r->aux) {
                if (r->aux && cap >= limit) { ZSTD_freeDCtx(dc); return nm__ev_corrupt(r, at, "AEDAT 4.0 packet inflates past 1 GiB"); }
                if (r->aux) cap *= 2;
                uint8_t *a = realloc(r->aux, cap);
                if (!a) { ZSTD_freeDCtx(dc); return nm__error(NM_NOMEM, "out of memory"); }
                r->aux = a;
                r->aux_cap = cap;
            }
            ZSTD_outBuffer ob = { r->aux, cap, len };
            ret = ZSTD_decompressStream(dc, &ob, &ib);
            if (ZSTD_isError(ret)) {
                ZSTD_freeDCtx(dc);
                return nm__ev_corrupt(r, at, "corrupt ZSTD packet (%s)", ZSTD_getErrorName(ret));
            }
            len = ob.pos;
            if (ret != 0 && ib.pos == ib.size && ob.pos < ob.size) break;   /* input ran out mid-frame */
        }
        ZSTD_freeDCtx(dc);
        if (ret != 0) return nm__ev_corrupt(r, at, "ZSTD packet ends before its frame does");
    }
    r->aux_len = len;
    return NM_OK;
}

static nm_status aedat4_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                               int64_t max)
{
    size_t u = 0;
    int64_t k = out->n;
    *need = 0;
    while (k < max) {
        if (r->pkt_left > 0) {   /* events of the current packet: aux_pos is the next struct */
            const uint8_t *s = r->aux + r->aux_pos;
            int64_t t = (int64_t)nm__rd64le(s);
            int x = (int16_t)nm__rd16le(s + 8), y = (int16_t)nm__rd16le(s + 10);
            if (x < 0 || y < 0 || t < 0)
                return nm__ev_corrupt(r, r->pkt_start, "AEDAT 4.0 event with negative x, y or time (%d, %d, %lld) in the packet",
                                      x, y, (long long)t);
            out->t[k] = t;
            out->x[k] = (uint16_t)x;
            out->y[k] = (uint16_t)y;
            out->p[k] = (uint8_t)(s[12] != 0);
            k++;
            r->aux_pos += 16;
            r->pkt_left--;
            continue;
        }
        const int64_t at = r->info.bytes + (int64_t)u;
        if (at >= r->data_end) {   /* the file data table and anything after it */
            u = n;
            *need = 1;
            break;
        }
        if (n - u < 8) { *need = 8; break; }
        int32_t size = (int32_t)nm__rd32le(p + u + 4);
        if (size < 0 || at + 8 + size > r->data_end)
            return nm__ev_corrupt(r, at, "AEDAT 4.0 packet of %d bytes runs past the end of the data (byte %lld)", size,
                                  (long long)r->data_end);
        if (n - u < 8 + (size_t)size) { *need = 8 + (size_t)size; break; }
        nm_status st = unpack(r, p + u + 8, (size_t)size, at);
        if (st) return st;
        u += 8 + (size_t)size;
        const uint8_t *b = r->aux;
        size_t bn = r->aux_len;
        /* size prefix, root offset, identifier */
        if (bn < 12 || nm__rd32le(b) > bn - 4) return nm__ev_corrupt(r, at, "AEDAT 4.0 packet too short for a FlatBuffer");
        b += 4;
        bn = nm__rd32le(r->aux);
        if (memcmp(b + 4, "EVTS", 4) != 0) { r->info.skipped++; continue; }
        int64_t fo = fb_field(b, bn, nm__rd32le(b), 0);
        uint32_t len = 0;
        int64_t v = fo > 0 ? fb_vector(b, bn, fo, 16, &len) : (fo == 0 ? -2 : -1);
        if (v == -2) continue;   /* no elements: an empty packet */
        if (v < 0) return nm__ev_corrupt(r, at, "corrupt AEDAT 4.0 EventPacket FlatBuffer");
        r->aux_pos = (size_t)v + 4;
        r->pkt_left = len;
        r->pkt_start = at;
    }
    out->n = k;
    *used = u;
    return NM_OK;
}

/* ---- open -------------------------------------------------------------- */

nm_status nm__aedat_open(nm_event_reader *r)
{
    char *h = NULL;
    int64_t end;
    nm_status st;
    if (r->fmt == NM_EVF_AEDAT4) {
        uint8_t m[18];
        if (fseek(r->f, 0, SEEK_SET) != 0 || fread(m, 1, 18, r->f) != 18)
            return nm__ev_corrupt(r, 0, "file is truncated: no AEDAT 4.0 header");
        if (memcmp(m, "#!AER-DAT4.0\r\n", 14) != 0) return nm__ev_corrupt(r, 0, "not an AEDAT 4.0 file");
        uint32_t hl = nm__rd32le(m + 14);
        if ((int64_t)hl + 18 > r->file_size) return nm__ev_corrupt(r, 14, "IOHeader of %u bytes runs past the end of the file", hl);
        uint8_t *b = malloc(hl ? hl : 1);
        if (!b) return nm__error(NM_NOMEM, "out of memory");
        if (fread(b, 1, hl, r->f) != hl) { free(b); return nm__error(NM_IO, "cannot read '%s'", r->path); }
        int64_t f0 = hl >= 4 ? fb_field(b, hl, nm__rd32le(b), 0) : -1, f1 = hl >= 4 ? fb_field(b, hl, nm__rd32le(b), 1) : -1;
        if (f0 < 0 || f1 < 0 || (f0 && (size_t)f0 + 4 > hl) || (f1 && (size_t)f1 + 8 > hl)) {
            free(b);
            return nm__ev_corrupt(r, 18, "corrupt AEDAT 4.0 IOHeader FlatBuffer");
        }
        int32_t comp = f0 ? (int32_t)nm__rd32le(b + f0) : 0;
        int64_t dtp = f1 ? (int64_t)nm__rd64le(b + f1) : -1;
        free(b);
        if (comp < 0 || comp > 4) return nm__ev_corrupt(r, 18, "unknown AEDAT 4.0 compression %d", comp);
        r->compression = comp;
        r->off = 18 + (int64_t)hl;
        r->data_end = dtp >= r->off && dtp <= r->file_size ? dtp : r->file_size;
        r->decode = aedat4_decode;
        return NM_OK;
    }
    if ((st = nm__read_header(r, '#', r->fmt == NM_EVF_AEDAT3 ? "#!END-HEADER" : NULL, &h, &end))) return st;
    int ok = r->fmt != NM_EVF_AEDAT3 || strstr(h, "#!END-HEADER") != NULL;
    free(h);
    if (!ok) return nm__ev_corrupt(r, end, "AEDAT 3.1 header has no #!END-HEADER line");
    r->off = end;
    if (r->fmt == NM_EVF_AEDAT2) {
        r->decode = aedat2_decode;
        if (r->opts.width <= 0) {
            int davis = r->opts.aedat2 == NM_AEDAT2_DAVIS346;
            r->width = davis ? 346 : 128;
            r->height = davis ? 260 : 128;
            r->info.size_from_header = 1;
        }
    } else {
        r->decode = aedat3_decode;
    }
    return NM_OK;
}
