/*
** idx.c: reading and writing idx files, the array format MNIST and Fashion-MNIST ship in.
**
** An idx file is a 4-byte magic number (two zero bytes, an element-type byte, a
** dimension-count byte), one big-endian u32 per dimension, then the elements in
** row-major order, big-endian. Files are read through zlib, which passes plain files
** through untouched, so "x.idx" and "x.idx.gz" take the same path.
**
** The reader trusts nothing in the header. The size a header promises is checked
** against a limit before anything is allocated, and the body buffer then grows as data
** actually arrives (4 MiB first, doubling), so a 20-byte file that claims 16 GiB fails
** as "truncated" after a few bytes of reading, not after a 16 GiB allocation. A short
** body, bytes after the body and a corrupt gzip stream are all errors: a dataset is
** either read whole or not at all.
**
** Expected workload: a few files per run, up to ~50 MB (Fashion-MNIST train images,
** 47 MB); one pass of gzread into the final buffer, then an in-place byte swap.
*/
#include "data_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* 2^34 bytes: far above any real idx file, low enough that size arithmetic cannot wrap. */
#define IDX_DEFAULT_MAX_BYTES ((int64_t)1 << 34)
/* First body allocation; the buffer doubles from here up to the promised size. */
#define IDX_FIRST_ALLOC ((size_t)4 << 20)
/* gzread/gzwrite take an unsigned count; stay well inside it. */
#define IDX_IO_CHUNK ((size_t)1 << 24)
/* zlib's buffer: large enough that gzread costs about one read(2) per 128 KiB. */
#define IDX_GZ_BUFFER (128u << 10)
/* Trailing bytes are counted up to this many, then reported as "at least". */
#define IDX_TRAILING_COUNT_MAX ((size_t)1 << 20)

static int64_t g_max_bytes = IDX_DEFAULT_MAX_BYTES;

int64_t nm__idx_set_max_bytes(int64_t max_bytes)
{
    int64_t old = g_max_bytes;
    g_max_bytes = max_bytes > 0 ? max_bytes : IDX_DEFAULT_MAX_BYTES;
    return old;
}

int nm__idx_elem_size(int type)
{
    switch (type) {
    case NM_IDX_U8: case NM_IDX_I8: return 1;
    case NM_IDX_I16: return 2;
    case NM_IDX_I32: case NM_IDX_F32: return 4;
    case NM_IDX_F64: return 8;
    default: return 0;
    }
}

const char *nm__idx_type_name(int type)
{
    switch (type) {
    case NM_IDX_U8: return "u8";
    case NM_IDX_I8: return "i8";
    case NM_IDX_I16: return "i16";
    case NM_IDX_I32: return "i32";
    case NM_IDX_F32: return "f32";
    case NM_IDX_F64: return "f64";
    default: return "unknown";
    }
}

void nm__idx_format_dims(const int64_t *dims, int n_dims, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap == 0) return;
    buf[0] = '\0';
    for (int i = 0; i < n_dims && len < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s%lld", i ? " x " : "", (long long)dims[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
}

/* ---- reading ----------------------------------------------------------- */

/* The error for a failed gzread: zlib's own message, as NM_FORMAT for a corrupt stream. */
static nm_status gz_read_error(gzFile gz, const char *path)
{
    int zerr = Z_OK;
    const char *msg = gzerror(gz, &zerr);
    /* zlib prefixes the name it was opened under, "<fd:N>: " after gzdopen; drop it. */
    if (strncmp(msg, "<fd:", 4) == 0 && strstr(msg, ": ")) msg = strstr(msg, ": ") + 2;
    if (zerr == Z_ERRNO) return nm__error(NM_IO, "cannot read '%s': %s", path, msg);
    if (zerr == Z_MEM_ERROR) return nm__error(NM_NOMEM, "out of memory decompressing '%s'", path);
    return nm__error(NM_FORMAT, "'%s' is not a valid gzip stream: %s", path, msg);
}

/* Reads up to n bytes, stopping early only at end of file; *got says how many came. */
static nm_status read_upto(gzFile gz, const char *path, void *buf, size_t n, size_t *got)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < IDX_IO_CHUNK ? n - done : IDX_IO_CHUNK;
        int r = gzread(gz, p + done, (unsigned)want);
        if (r < 0) return gz_read_error(gz, path);
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return NM_OK;
}

/* After a short read: says so when the cause is a gzip stream cut off mid-way (zlib
** reports that as a soft Z_BUF_ERROR and returns the bytes it had). */
static const char *gz_short_note(gzFile gz)
{
    int zerr = Z_OK;
    gzerror(gz, &zerr);
    return zerr == Z_BUF_ERROR ? " (the gzip stream ends early)" : "";
}

/* Big-endian elements to host order, in place; written with shifts, so it is right on
** hosts of either byte order. */
static void be_to_host(unsigned char *p, size_t n_elems, int esize)
{
    size_t i;
    switch (esize) {
    case 2:
        for (i = 0; i < n_elems; i++, p += 2) {
            uint16_t v = (uint16_t)((unsigned)p[0] << 8 | p[1]);
            memcpy(p, &v, 2);
        }
        break;
    case 4:
        for (i = 0; i < n_elems; i++, p += 4) {
            uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            memcpy(p, &v, 4);
        }
        break;
    case 8:
        for (i = 0; i < n_elems; i++, p += 8) {
            uint64_t v = 0;
            for (int k = 0; k < 8; k++) v = v << 8 | p[k];
            memcpy(p, &v, 8);
        }
        break;
    default:
        break;
    }
}

/* Opens `path` for gzread. open(2) first, so a missing file is told apart from other
** failures by errno, and a directory is refused before zlib reads from it. */
static nm_status open_gz(const char *path, gzFile *out)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return nm__error(e == ENOENT || e == ENOTDIR ? NM_NOTFOUND : NM_IO, "cannot open '%s': %s",
                         path, strerror(e));
    }
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        return nm__error(NM_IO, "cannot read '%s': Is a directory", path);
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return nm__error(NM_NOMEM, "out of memory opening '%s'", path);
    }
    gzbuffer(gz, IDX_GZ_BUFFER);   /* before the first read, as zlib requires */
    *out = gz;
    return NM_OK;
}

nm_status nm_idx_read(const char *path, nm_idx **out)
{
    nm_status st = NM_OK;
    gzFile gz = NULL;
    unsigned char *body = NULL;
    nm_idx *idx = NULL;
    unsigned char head[4 + 4 * NM_IDX_MAX_DIMS];
    int64_t dims[NM_IDX_MAX_DIMS];
    size_t got = 0;

    if (!path || !out) return nm__error(NM_INVAL, "nm_idx_read: path and out must not be NULL");
    if ((st = open_gz(path, &gz)) != NM_OK) return st;

    /* Magic number: 00 00 <type> <n_dims>. */
    if ((st = read_upto(gz, path, head, 4, &got)) != NM_OK) goto fail;
    if (got < 4) {
        st = nm__error(NM_FORMAT, "'%s' is truncated: an idx header needs at least 4 bytes, file has %zu%s",
                       path, got, gz_short_note(gz));
        goto fail;
    }
    uint32_t magic = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
    int type = head[2], n_dims = head[3], esize = nm__idx_elem_size(type);
    if (head[0] != 0 || head[1] != 0 || esize == 0 || n_dims < 1 || n_dims > NM_IDX_MAX_DIMS) {
        st = nm__error(NM_FORMAT,
                       "'%s' is not an idx file: bad magic number 0x%08x (expected 00 00, a type of "
                       "08/09/0b/0c/0d/0e, then 1 to %d dimensions)",
                       path, (unsigned)magic, NM_IDX_MAX_DIMS);
        goto fail;
    }

    /* Dimensions, then the promised size, checked before any allocation. */
    size_t hdr_dims = 4 * (size_t)n_dims;
    if ((st = read_upto(gz, path, head + 4, hdr_dims, &got)) != NM_OK) goto fail;
    if (got < hdr_dims) {
        st = nm__error(NM_FORMAT, "'%s' is truncated: its idx header needs %zu bytes, file has %zu%s", path,
                       4 + hdr_dims, 4 + got, gz_short_note(gz));
        goto fail;
    }
    uint64_t max_elems = (uint64_t)g_max_bytes / (uint64_t)esize, n_elems = 1;
    int too_big = 0;
    for (int i = 0; i < n_dims; i++) {
        const unsigned char *b = head + 4 + 4 * i;
        dims[i] = (int64_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
        if (dims[i] == 0) {
            st = nm__error(NM_FORMAT, "'%s' has a zero-length dimension (dimension %d of %d) in its idx header",
                           path, i + 1, n_dims);
            goto fail;
        }
        /* n_elems * dims[i] <= max_elems, tested without overflow. */
        if (!too_big && (uint64_t)dims[i] > max_elems / n_elems) too_big = 1;
        if (!too_big) n_elems *= (uint64_t)dims[i];
    }
    if (too_big || n_elems * (uint64_t)esize > (uint64_t)SIZE_MAX) {
        char ds[160];
        nm__idx_format_dims(dims, n_dims, ds, sizeof ds);
        st = nm__error(NM_FORMAT, "'%s' is too large: its header promises %s elements of %s, more than the "
                       "%lld bytes accepted", path, ds, nm__idx_type_name(type), (long long)g_max_bytes);
        goto fail;
    }

    /* Body: read into a buffer that grows only as far as the data really goes. */
    size_t total = (size_t)(n_elems * (uint64_t)esize), cap = total < IDX_FIRST_ALLOC ? total : IDX_FIRST_ALLOC;
    size_t have = 0;
    if (!(body = nm_alloc(cap))) {
        st = nm__error(NM_NOMEM, "out of memory reading '%s' (%zu bytes)", path, cap);
        goto fail;
    }
    for (;;) {
        if ((st = read_upto(gz, path, body + have, cap - have, &got)) != NM_OK) goto fail;
        have += got;
        if (have < cap || cap == total) break;   /* end of file, or everything read */
        size_t ncap = cap > total / 2 ? total : cap * 2;
        unsigned char *nb = nm_alloc(ncap);
        if (!nb) {
            st = nm__error(NM_NOMEM, "out of memory reading '%s' (%zu bytes)", path, ncap);
            goto fail;
        }
        memcpy(nb, body, have);
        nm_free(body);
        body = nb;
        cap = ncap;
    }
    if (have < total) {
        st = nm__error(NM_FORMAT, "'%s' is truncated: header promises %zu bytes of data, file has %zu%s", path,
                       total, have, gz_short_note(gz));
        goto fail;
    }

    /* Anything after the body means the header and the data disagree. Reading on also
    ** makes zlib check the gzip trailer (CRC and length). */
    {
        unsigned char extra[4096];
        size_t n_extra = 0;
        do {
            if ((st = read_upto(gz, path, extra, sizeof extra, &got)) != NM_OK) goto fail;
            n_extra += got;
        } while (got == sizeof extra && n_extra < IDX_TRAILING_COUNT_MAX);
        if (n_extra > 0) {
            st = nm__error(NM_FORMAT, "'%s' has %s%zu trailing byte%s after the data (header promises %zu)",
                           path, got == sizeof extra ? "at least " : "", n_extra, n_extra == 1 ? "" : "s", total);
            goto fail;
        }
    }

    if (!(idx = nm_alloc(sizeof *idx))) {
        st = nm__error(NM_NOMEM, "out of memory reading '%s'", path);
        goto fail;
    }
    be_to_host(body, (size_t)n_elems, esize);
    idx->type = (nm_idx_type)type;
    idx->n_dims = n_dims;
    for (int i = 0; i < n_dims; i++) idx->dims[i] = dims[i];
    idx->n_elems = (int64_t)n_elems;
    idx->data = body;
    gzclose(gz);
    *out = idx;
    return NM_OK;

fail:
    nm_free(body);
    nm_free(idx);
    if (gz) gzclose(gz);
    return st;
}

void nm_idx_destroy(nm_idx *idx)
{
    if (!idx) return;
    nm_free(idx->data);
    nm_free(idx);
}

/* ---- writing ----------------------------------------------------------- */

/* Where the bytes go: the atomic helper's FILE, or a gzip stream over a dup of its fd. */
typedef struct idx_sink {
    const char *path;
    FILE *f;
    gzFile gz;
} idx_sink;

static nm_status sink_put(idx_sink *s, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    if (!s->gz) {
        if (fwrite(p, 1, n, s->f) != n)
            return nm__error(NM_IO, "cannot write '%s': %s", s->path, strerror(errno));
        return NM_OK;
    }
    while (n > 0) {
        size_t w = n < IDX_IO_CHUNK ? n : IDX_IO_CHUNK;
        if (gzwrite(s->gz, p, (unsigned)w) != (int)w) {
            int zerr = Z_OK;
            const char *msg = gzerror(s->gz, &zerr);
            return nm__error(NM_IO, "cannot write '%s': %s", s->path, msg);
        }
        p += w;
        n -= w;
    }
    return NM_OK;
}

typedef struct idx_write_ctx {
    const char *path;
    const nm_idx *idx;
    int gzip;
} idx_write_ctx;

/* Header, then the body converted to big-endian through a bounded scratch buffer. */
static nm_status write_body(idx_sink *s, const nm_idx *idx)
{
    enum { SCRATCH = 1 << 20 };
    nm_status st = NM_OK;
    unsigned char head[4 + 4 * NM_IDX_MAX_DIMS];
    unsigned char *scratch = NULL;
    int esize = nm__idx_elem_size(idx->type);
    size_t n_elems = (size_t)idx->n_elems;
    const unsigned char *src = idx->data;

    head[0] = head[1] = 0;
    head[2] = (unsigned char)idx->type;
    head[3] = (unsigned char)idx->n_dims;
    for (int i = 0; i < idx->n_dims; i++) {
        uint32_t d = (uint32_t)idx->dims[i];
        unsigned char *b = head + 4 + 4 * i;
        b[0] = (unsigned char)(d >> 24); b[1] = (unsigned char)(d >> 16);
        b[2] = (unsigned char)(d >> 8);  b[3] = (unsigned char)d;
    }
    if ((st = sink_put(s, head, 4 + 4 * (size_t)idx->n_dims)) != NM_OK) return st;
    if (esize == 1) return sink_put(s, src, n_elems);

    if (!(scratch = nm_alloc(SCRATCH))) return nm__error(NM_NOMEM, "out of memory writing '%s'", s->path);
    size_t per = SCRATCH / (size_t)esize;
    for (size_t i = 0; i < n_elems; i += per) {
        size_t m = n_elems - i < per ? n_elems - i : per;
        const unsigned char *p = src + i * (size_t)esize;
        unsigned char *q = scratch;
        for (size_t j = 0; j < m; j++, p += esize, q += esize) {
            /* Host value to big-endian bytes, independent of host byte order. */
            uint64_t v = 0;
            if (esize == 2) { uint16_t t; memcpy(&t, p, 2); v = t; }
            else if (esize == 4) { uint32_t t; memcpy(&t, p, 4); v = t; }
            else memcpy(&v, p, 8);
            for (int k = esize - 1; k >= 0; k--, v >>= 8) q[k] = (unsigned char)v;
        }
        if ((st = sink_put(s, scratch, m * (size_t)esize)) != NM_OK) goto fail;
    }
fail:
    nm_free(scratch);
    return st;
}

static nm_status write_cb(FILE *f, void *user)
{
    const idx_write_ctx *c = user;
    idx_sink s = { c->path, f, NULL };
    nm_status st;

    if (!c->gzip) return write_body(&s, c->idx);

    /* zlib writes through its own descriptor; a dup shares the file offset, and gzclose
    ** closes only the dup, leaving f to the atomic helper to flush, fsync and rename. */
    if (fflush(f) != 0) return nm__error(NM_IO, "cannot write '%s': %s", c->path, strerror(errno));
    int fd = dup(fileno(f));
    if (fd < 0) return nm__error(NM_IO, "cannot write '%s': %s", c->path, strerror(errno));
    if (!(s.gz = gzdopen(fd, "wb6"))) {
        close(fd);
        return nm__error(NM_NOMEM, "out of memory writing '%s'", c->path);
    }
    st = write_body(&s, c->idx);
    int zrc = gzclose(s.gz);   /* flushes the deflate stream; must run even after an error */
    if (st == NM_OK && zrc != Z_OK)
        st = nm__error(NM_IO, "cannot write '%s': gzclose failed (zlib error %d)", c->path, zrc);
    return st;
}

nm_status nm_idx_write(const char *path, const nm_idx *idx)
{
    if (!path || !idx) return nm__error(NM_INVAL, "nm_idx_write: path and idx must not be NULL");
    if (nm__idx_elem_size(idx->type) == 0)
        return nm__error(NM_INVAL, "cannot write '%s': idx element type 0x%02x is not one of 08/09/0b/0c/0d/0e",
                         path, (unsigned)idx->type);
    if (idx->n_dims < 1 || idx->n_dims > NM_IDX_MAX_DIMS)
        return nm__error(NM_INVAL, "cannot write '%s': an idx array has 1 to %d dimensions, not %d", path,
                         NM_IDX_MAX_DIMS, idx->n_dims);
    int64_t n = 1;
    for (int i = 0; i < idx->n_dims; i++) {
        if (idx->dims[i] < 1 || idx->dims[i] > (int64_t)UINT32_MAX)
            return nm__error(NM_INVAL, "cannot write '%s': dimension %d is %lld (idx needs 1 to 4294967295)",
                             path, i + 1, (long long)idx->dims[i]);
        if (n > INT64_MAX / idx->dims[i])
            return nm__error(NM_INVAL, "cannot write '%s': the dimensions overflow", path);
        n *= idx->dims[i];
    }
    if (n != idx->n_elems)
        return nm__error(NM_INVAL, "cannot write '%s': n_elems is %lld but the dimensions give %lld", path,
                         (long long)idx->n_elems, (long long)n);
    if (!idx->data) return nm__error(NM_INVAL, "cannot write '%s': the idx has no data", path);

    size_t len = strlen(path);
    idx_write_ctx c = { path, idx, len >= 3 && strcmp(path + len - 3, ".gz") == 0 };
    return nm_file_write_atomic(path, write_cb, &c);
}
