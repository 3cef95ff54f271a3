/*
** Checksummed binary streams: the shared core of the model and checkpoint formats, so
** every reader reports truncation with the file name and byte offset in the same words.
*/
#include <neuromorph/base.h>

#include <errno.h>
#include <string.h>

void nm_stream_init(nm_stream *s, FILE *f, const char *name) {
    s->f = f;
    s->crc = 0;
    s->name = name ? name : "stream";
    s->start = ftell(f);
    if (s->start < 0) s->start = 0;
}

nm_status nm_stream_put(nm_stream *s, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, s->f) != n) return nm__error(NM_IO, "writing '%s' failed: %s", s->name, strerror(errno));
    s->crc = nm_crc32(s->crc, p, n);
    return NM_OK;
}

nm_status nm_stream_get(nm_stream *s, void *p, size_t n, const char *what) {
    long at = ftell(s->f);
    size_t got = n ? fread(p, 1, n, s->f) : 0;
    if (got != n)
        return nm__error(NM_FORMAT, "'%s' is truncated: reading %s at byte %ld, got %zu of %zu bytes", s->name, what,
                         at - s->start, got, n);
    s->crc = nm_crc32(s->crc, p, n);
    return NM_OK;
}

nm_status nm_stream_put_crc(nm_stream *s) {
    uint32_t crc = s->crc;
    if (fwrite(&crc, 4, 1, s->f) != 1) return nm__error(NM_IO, "writing '%s' failed: %s", s->name, strerror(errno));
    return NM_OK;
}

nm_status nm_stream_check_crc(nm_stream *s) {
    uint32_t want = s->crc, crc;
    if (fread(&crc, 4, 1, s->f) != 1) return nm__error(NM_FORMAT, "'%s' is truncated: the checksum is missing", s->name);
    if (crc != want) return nm__error(NM_FORMAT, "'%s' is corrupt: checksum mismatch", s->name);
    return NM_OK;
}
