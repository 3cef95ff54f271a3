/*
** events.c: the event list, format detection, and the streaming reader every format
** decoder plugs into (see events_impl.h for the decoder contract).
**
** Workload: files of up to billions of events, read in chunks of ~1M events. The reader
** keeps a 1 MiB byte window and grows it only for a packet larger than that (AEDAT 4).
** Bookkeeping per chunk (polarity counts, largest x and y, first and last time) is one
** vectorizable pass over the new events.
*/
#include "events_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WINDOW (1u << 20)
#define MAX_WINDOW ((size_t)1 << 30)   /* a unit larger than this is corrupt */

/* ---- the event list ---------------------------------------------------- */

nm_status nm_events_create(int64_t cap, nm_events **out)
{
    if (!out || cap < 0) return nm__error(NM_INVAL, "nm_events_create: bad arguments");
    nm_events *e = calloc(1, sizeof *e);
    if (!e) return nm__error(NM_NOMEM, "out of memory for events");
    if (cap && nm_events_reserve(e, cap) != NM_OK) {
        nm_events_destroy(e);
        return NM_NOMEM;
    }
    *out = e;
    return NM_OK;
}

void nm_events_destroy(nm_events *e)
{
    if (!e) return;
    free(e->t);
    free(e->x);
    free(e->y);
    free(e->p);
    free(e);
}

nm_status nm_events_reserve(nm_events *e, int64_t cap)
{
    NM_ASSERT(e);
    if (cap <= e->cap) return NM_OK;
    if (cap > ((int64_t)1 << 40)) return nm__error(NM_NOMEM, "out of memory: %lld events", (long long)cap);
    int64_t *t = realloc(e->t, (size_t)cap * sizeof *t);
    if (t) e->t = t;
    uint16_t *x = realloc(e->x, (size_t)cap * sizeof *x);
    if (x) e->x = x;
    uint16_t *y = realloc(e->y, (size_t)cap * sizeof *y);
    if (y) e->y = y;
    uint8_t *p = realloc(e->p, (size_t)cap);
    if (p) e->p = p;
    if (!t || !x || !y || !p) return nm__error(NM_NOMEM, "out of memory for %lld events", (long long)cap);
    e->cap = cap;
    return NM_OK;
}

nm_status nm_events_push(nm_events *e, int64_t t, int x, int y, int p)
{
    if (e->n == e->cap) {
        nm_status st = nm_events_reserve(e, e->cap < 1024 ? 1024 : e->cap * 2);
        if (st) return st;
    }
    e->t[e->n] = t;
    e->x[e->n] = (uint16_t)x;
    e->y[e->n] = (uint16_t)y;
    e->p[e->n] = (uint8_t)(p != 0);
    e->n++;
    return NM_OK;
}

/* Bottom-up merge sort of an index permutation by time: stable and O(n log n). */
nm_status nm_events_sort(nm_events *e)
{
    NM_ASSERT(e);
    int64_t n = e->n, i;
    for (i = 1; i < n && e->t[i - 1] <= e->t[i]; i++) {}
    if (i >= n) return NM_OK;   /* already sorted: the common case */
    int64_t *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    void *tmp = malloc((size_t)n * sizeof(int64_t));
    if (!a || !b || !tmp) {
        free(a); free(b); free(tmp);
        return nm__error(NM_NOMEM, "out of memory sorting %lld events", (long long)n);
    }
    for (i = 0; i < n; i++) a[i] = i;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, l = lo, r = mid, k = lo;
            while (l < mid && r < hi) b[k++] = e->t[a[r]] < e->t[a[l]] ? a[r++] : a[l++];
            while (l < mid) b[k++] = a[l++];
            while (r < hi) b[k++] = a[r++];
        }
        int64_t *s = a; a = b; b = s;
    }
    int64_t *tt = tmp;
    for (i = 0; i < n; i++) tt[i] = e->t[a[i]];
    memcpy(e->t, tt, (size_t)n * sizeof *tt);
    uint16_t *u = tmp;
    for (i = 0; i < n; i++) u[i] = e->x[a[i]];
    memcpy(e->x, u, (size_t)n * sizeof *u);
    for (i = 0; i < n; i++) u[i] = e->y[a[i]];
    memcpy(e->y, u, (size_t)n * sizeof *u);
    uint8_t *c = tmp;
    for (i = 0; i < n; i++) c[i] = e->p[a[i]];
    memcpy(e->p, c, (size_t)n);
    free(a); free(b); free(tmp);
    return NM_OK;
}

/* ---- formats ----------------------------------------------------------- */

static const char *const fmt_names[NM_EVF_COUNT] = {
    "unknown", "nmnist", "aedat2", "aedat3", "aedat4", "evt2", "evt3", "dat", "shd",
};

const char *nm_event_format_name(nm_event_format f)
{
    return (int)f >= 0 && f < NM_EVF_COUNT ? fmt_names[f] : "unknown";
}

nm_status nm_event_format_parse(const char *s, nm_event_format *out)
{
    for (int i = 1; s && i < NM_EVF_COUNT; i++)
        if (!strcmp(s, fmt_names[i])) {
            *out = (nm_event_format)i;
            return NM_OK;
        }
    return nm__error(NM_INVAL, "unknown event format '%s' (choose nmnist, aedat2, aedat3, aedat4, evt2, evt3, dat or shd)",
                     s ? s : "(null)");
}

static const char *const layout_names[] = { "dvs128", "jaer128", "tonic128", "davis346" };

const char *nm_aedat2_layout_name(nm_aedat2_layout l)
{
    return (int)l >= 0 && (int)l < 4 ? layout_names[l] : "unknown";
}

nm_status nm_aedat2_layout_parse(const char *s, nm_aedat2_layout *out)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, layout_names[i])) {
            *out = (nm_aedat2_layout)i;
            return NM_OK;
        }
    return nm__error(NM_INVAL, "unknown AEDAT 2.0 layout '%s' (choose dvs128, jaer128, tonic128 or davis346)", s ? s : "(null)");
}

void nm_event_read_opts_default(nm_event_read_opts *o)
{
    memset(o, 0, sizeof *o);
    o->format = NM_EVF_UNKNOWN;
    o->aedat2 = NM_AEDAT2_DVS128;
}

/* Case-insensitive search for `needle` in the first n bytes of `hay`. */
static int contains(const uint8_t *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m) {
            int a = hay[i + j], b = (unsigned char)needle[j];
            if (a >= 'A' && a <= 'Z') a += 32;
            if (b >= 'A' && b <= 'Z') b += 32;
            if (a != b) break;
            j++;
        }
        if (j == m) return 1;
    }
    return 0;
}

nm_event_format nm_event_format_detect(const uint8_t *head, size_t n, int64_t file_size)
{
    static const uint8_t hdf5[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
    if (n >= 8 && !memcmp(head, hdf5, 8)) return NM_EVF_SHD;
    if (n >= 12 && !memcmp(head, "#!AER-DAT2.0", 12)) return NM_EVF_AEDAT2;
    if (n >= 12 && !memcmp(head, "#!AER-DAT3.1", 12)) return NM_EVF_AEDAT3;
    if (n >= 12 && !memcmp(head, "#!AER-DAT4.0", 12)) return NM_EVF_AEDAT4;
    if (n >= 2 && head[0] == '%' && (head[1] == ' ' || head[1] == '\n' || head[1] == '\r')) {
        /* Prophesee: the header's text names the encoding; only the header counts. */
        size_t h = 0;
        while (h < n) {
            if (head[h] != '%') break;
            while (h < n && head[h] != '\n') h++;
            h++;
        }
        if (h > n) h = n;
        if (contains(head, h, "evt 3.0") || contains(head, h, "format evt3") || contains(head, h, "evt3")) return NM_EVF_EVT3;
        if (contains(head, h, "evt 2.0") || contains(head, h, "format evt2") || contains(head, h, "evt2")) return NM_EVF_EVT2;
        if (contains(head, h, "% end")) return NM_EVF_UNKNOWN;   /* a .raw of another encoding */
        return NM_EVF_DAT;
    }
    /* The start of a signature cut short is a truncated file, not N-MNIST records. */
    if (n >= 2 && head[0] == '#' && head[1] == '!') return NM_EVF_UNKNOWN;
    if (n >= 1 && n < 8 && !memcmp(head, hdf5, n)) return NM_EVF_UNKNOWN;
    if (file_size > 0 && file_size % 5 == 0) return NM_EVF_NMNIST;
    return NM_EVF_UNKNOWN;
}

/* ---- reader ------------------------------------------------------------ */

nm_status nm__ev_corrupt(const nm_event_reader *r, int64_t off, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nm__error(NM_FORMAT, "'%s': %s at byte %lld", r->path, msg, (long long)off);
}

nm_status nm__read_header(nm_event_reader *r, char mark, const char *stop, char **text, int64_t *end)
{
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    if (!s) return nm__error(NM_NOMEM, "out of memory");
    if (fseek(r->f, 0, SEEK_SET) != 0) { free(s); return nm__error(NM_IO, "cannot seek in '%s'", r->path); }
    int c, at_line_start = 1, done = 0;
    size_t line_start = 0;
    while (!done) {
        if (at_line_start) {
            c = fgetc(r->f);
            if (c == EOF) break;
            if (c != mark) { ungetc(c, r->f); break; }
            line_start = n;
            at_line_start = 0;
        } else if ((c = fgetc(r->f)) == EOF) {
            free(s);
            return nm__ev_corrupt(r, (int64_t)n, "header line does not end");
        }
        if (n + 2 >= cap) {
            if (cap >= ((size_t)1 << 20)) {
                free(s);
                return nm__ev_corrupt(r, (int64_t)n, "header longer than 1 MiB");
            }
            char *t = realloc(s, cap *= 2);
            if (!t) { free(s); return nm__error(NM_NOMEM, "out of memory"); }
            s = t;
        }
        s[n++] = (char)c;
        if (c == '\n') {
            at_line_start = 1;
            if (stop && n - line_start >= strlen(stop) && !strncmp(s + line_start, stop, strlen(stop))) done = 1;
        }
    }
    if (ferror(r->f)) { free(s); return nm__error(NM_IO, "cannot read '%s'", r->path); }
    s[n] = '\0';
    *text = s;
    *end = (int64_t)n;
    return NM_OK;
}

nm_status nm_event_reader_open(const char *path, const nm_event_read_opts *o, nm_event_reader **out)
{
    nm_status st;
    if (!path || !out) return nm__error(NM_INVAL, "nm_event_reader_open: path and out must not be NULL");
    nm_event_reader *r = calloc(1, sizeof *r);
    if (!r) return nm__error(NM_NOMEM, "out of memory");
    if (o) r->opts = *o;
    else nm_event_read_opts_default(&r->opts);
    r->info.t_first = r->info.t_last = 0;
    r->max_x = r->max_y = -1;
    if (!(r->path = malloc(strlen(path) + 1))) { st = nm__error(NM_NOMEM, "out of memory"); goto fail; }
    strcpy(r->path, path);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        st = e == ENOENT ? nm__error(NM_NOTFOUND, "'%s' does not exist", path)
                         : nm__error(NM_IO, "cannot open '%s': %s", path, strerror(e));
        goto fail;
    }
    if (S_ISDIR(sb.st_mode)) { st = nm__error(NM_IO, "'%s' is a directory, not an event file", path); goto fail; }
    r->file_size = (int64_t)sb.st_size;
    if (!(r->f = fopen(path, "rb"))) { st = nm__error(NM_IO, "cannot open '%s': %s", path, strerror(errno)); goto fail; }
    r->fmt = r->opts.format;
    if (r->fmt == NM_EVF_UNKNOWN) {
        uint8_t head[4096];
        size_t n = fread(head, 1, sizeof head, r->f);
        if (n == 0 && r->file_size == 0) { st = nm__error(NM_FORMAT, "'%s' is empty: no event format to detect", path); goto fail; }
        r->fmt = nm_event_format_detect(head, n, r->file_size);
        if (r->fmt == NM_EVF_UNKNOWN) {
            st = nm__error(NM_FORMAT, "'%s' is not a known event file (no AEDAT, Prophesee or HDF5 header, and %lld bytes "
                           "is not a whole number of 5-byte N-MNIST records); name the format with --format", path,
                           (long long)r->file_size);
            goto fail;
        }
    }
    if ((int)r->fmt <= 0 || r->fmt >= NM_EVF_COUNT) { st = nm__error(NM_INVAL, "bad event format %d", (int)r->fmt); goto fail; }
    r->info.format = r->fmt;
    r->width = r->opts.width;
    r->height = r->opts.height;
    switch (r->fmt) {
    case NM_EVF_EVT2: case NM_EVF_EVT3: case NM_EVF_DAT: st = nm__evt_open(r); break;
    case NM_EVF_AEDAT2: case NM_EVF_AEDAT3: case NM_EVF_AEDAT4: st = nm__aedat_open(r); break;
    case NM_EVF_NMNIST: st = nm__nmnist_open(r); break;
    default: st = nm__shd_reader_open(r); break;
    }
    if (st) goto fail;
    if (r->opts.width > 0 && r->opts.height > 0) {   /* the caller's size wins, and is checked */
        r->width = r->opts.width;
        r->height = r->opts.height;
        r->info.size_from_header = 1;
    }
    if (r->fmt != NM_EVF_SHD) {
        if (fseek(r->f, (long)r->off, SEEK_SET) != 0) { st = nm__error(NM_IO, "cannot seek in '%s'", path); goto fail; }
        if (!(r->buf = malloc(r->cap = WINDOW))) { st = nm__error(NM_NOMEM, "out of memory"); goto fail; }
    }
    r->info.bytes = r->off;
    *out = r;
    return NM_OK;
fail:
    nm_event_reader_close(r);
    return st;
}

/* Stores the current error so every later call returns it again. */
static nm_status stick(nm_event_reader *r, nm_status st)
{
    r->err = st;
    free(r->errmsg);
    const char *m = nm_errmsg();
    if ((r->errmsg = malloc(strlen(m) + 1))) strcpy(r->errmsg, m);
    return st;
}

/* Makes at least `need` bytes available at buf[pos] if the file has them. */
static nm_status refill(nm_event_reader *r, size_t need)
{
    size_t have = r->len - r->pos;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, have);
        r->off += (int64_t)r->pos;
        r->len = have;
        r->pos = 0;
    }
    if (need > r->cap) {
        if (need > MAX_WINDOW) return nm__ev_corrupt(r, r->off, "a unit of %zu bytes (corrupt size)", need);
        size_t cap = r->cap;
        while (cap < need) cap *= 2;
        uint8_t *b = realloc(r->buf, cap);
        if (!b) return nm__error(NM_NOMEM, "out of memory for a %zu-byte packet of '%s'", need, r->path);
        r->buf = b;
        r->cap = cap;
    }
    while (!r->eof && r->len < r->cap) {
        size_t got = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
        r->len += got;
        if (got == 0) {
            if (ferror(r->f)) return nm__error(NM_IO, "cannot read '%s' at byte %lld", r->path, (long long)(r->off + (int64_t)r->len));
            r->eof = 1;
        }
        if (r->len >= need) break;
    }
    return NM_OK;
}

/* Per-chunk bookkeeping over events [from, out->n). */
static nm_status account(nm_event_reader *r, nm_events *out, int64_t from, int64_t chunk_start)
{
    int64_t n = out->n - from;
    if (n <= 0) return NM_OK;
    int64_t on = 0;
    int mx = r->max_x, my = r->max_y;
    const uint8_t *p = out->p + from;
    const uint16_t *x = out->x + from, *y = out->y + from;
    for (int64_t i = 0; i < n; i++) on += p[i];
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int64_t i = 0; i < n; i++) my = y[i] > my ? y[i] : my;
    if (r->info.size_from_header && (mx >= r->width || my >= r->height)) {
        for (int64_t i = 0; i < n; i++)
            if (x[i] >= r->width || y[i] >= r->height)
                return nm__error(NM_FORMAT, "'%s': event %lld (x=%d, y=%d) is outside the %dx%d sensor, in bytes %lld..%lld",
                                 r->path, (long long)(r->info.events + i), x[i], y[i], r->width, r->height,
                                 (long long)chunk_start, (long long)r->info.bytes);
    }
    r->max_x = mx;
    r->max_y = my;
    if (r->info.events == 0) r->info.t_first = out->t[from];
    r->info.t_last = out->t[out->n - 1];
    r->info.events += n;
    r->info.on += on;
    r->info.off += n - on;
    return NM_OK;
}

nm_status nm_event_reader_read(nm_event_reader *r, nm_events *out, int64_t max, int64_t *n_read)
{
    NM_ASSERT(r && out && n_read);
    if (r->err) return nm__error(r->err, "%s", r->errmsg ? r->errmsg : "earlier error");
    if (max < 16) max = 16;
    nm_status st = nm_events_reserve(out, max);
    if (st) return st;
    out->n = 0;
    *n_read = 0;
    int64_t chunk_start = r->info.bytes;
    if (r->fmt == NM_EVF_SHD) {
        if ((st = nm__shd_reader_read(r, out, max))) return stick(r, st);
    } else {
        while (out->n < max) {
            size_t used = 0, need = 0, avail = r->len - r->pos;
            if ((st = r->decode(r, r->buf + r->pos, avail, &used, &need, out, max))) return stick(r, st);
            r->pos += used;
            r->info.bytes += (int64_t)used;
            if (need == 0) break;   /* output full */
            if (r->eof) {
                if (r->len - r->pos == 0 && r->info.bytes >= r->file_size) break;   /* clean end */
                return stick(r, nm__ev_corrupt(r, r->info.bytes, "file is truncated: %zu of the %zu bytes of the next %s unit are missing",
                                               need - (r->len - r->pos), need, nm_event_format_name(r->fmt)));
            }
            if ((st = refill(r, need))) return stick(r, st);
        }
    }
    if ((st = account(r, out, 0, chunk_start))) return stick(r, st);
    out->width = r->info.size_from_header ? r->width : (r->opts.width > 0 ? r->opts.width : r->max_x + 1);
    out->height = r->info.size_from_header ? r->height : (r->opts.height > 0 ? r->opts.height : r->max_y + 1);
    *n_read = out->n;
    return NM_OK;
}

void nm_event_reader_info(const nm_event_reader *r, nm_event_info *info)
{
    NM_ASSERT(r && info);
    *info = r->info;
    if (!r->info.size_from_header) {
        info->width = r->opts.width > 0 ? r->opts.width : r->max_x + 1;
        info->height = r->opts.height > 0 ? r->opts.height : r->max_y + 1;
    } else {
        info->width = r->width;
        info->height = r->height;
    }
}

void nm_event_reader_close(nm_event_reader *r)
{
    if (!r) return;
    if (r->shd) nm__shd_reader_close(r);
    if (r->f) fclose(r->f);
    free(r->buf);
    free(r->aux);
    free(r->errmsg);
    free(r->path);
    free(r);
}

nm_status nm_events_read(const char *path, const nm_event_read_opts *o, nm_events **out, nm_event_info *info)
{
    nm_event_reader *r = NULL;
    nm_events *all = NULL, *chunk = NULL;
    nm_status st;
    if (!out) return nm__error(NM_INVAL, "nm_events_read: out must not be NULL");
    if ((st = nm_event_reader_open(path, o, &r))) return st;
    if ((st = nm_events_create(0, &all)) || (st = nm_events_create(0, &chunk))) goto fail;
    for (;;) {
        int64_t n;
        if ((st = nm_event_reader_read(r, chunk, (int64_t)1 << 20, &n))) goto fail;
        if (n == 0) break;
        if ((st = nm_events_reserve(all, all->n + n > all->cap * 3 / 2 ? all->n + n : all->cap * 3 / 2 + 1))) goto fail;
        memcpy(all->t + all->n, chunk->t, (size_t)n * sizeof *all->t);
        memcpy(all->x + all->n, chunk->x, (size_t)n * sizeof *all->x);
        memcpy(all->y + all->n, chunk->y, (size_t)n * sizeof *all->y);
        memcpy(all->p + all->n, chunk->p, (size_t)n);
        all->n += n;
    }
    nm_event_info inf;
    nm_event_reader_info(r, &inf);
    all->width = inf.width > 0 ? inf.width : 0;
    all->height = inf.height > 0 ? inf.height : 0;
    if (info) *info = inf;
    nm_events_destroy(chunk);
    nm_event_reader_close(r);
    *out = all;
    return NM_OK;
fail:
    nm_events_destroy(chunk);
    nm_events_destroy(all);
    nm_event_reader_close(r);
    return st;
}

/* ---- writers ----------------------------------------------------------- */

typedef struct write_ctx { nm_event_format f; const nm_events *e; } write_ctx;

static nm_status write_cb(FILE *f, void *user)
{
    const write_ctx *w = user;
    switch (w->f) {
    case NM_EVF_NMNIST: return nm__nmnist_write(f, w->e);
    case NM_EVF_EVT3: return nm__evt3_write(f, w->e);
    case NM_EVF_EVT2: return nm__evt2_write(f, w->e);
    case NM_EVF_DAT: return nm__dat_write(f, w->e);
    case NM_EVF_AEDAT2: return nm__aedat2_write(f, w->e);
    case NM_EVF_AEDAT3: return nm__aedat3_write(f, w->e);
    default: return nm__error(NM_UNSUPPORTED, "writing %s files is not supported", nm_event_format_name(w->f));
    }
}

nm_status nm_events_write(const char *path, nm_event_format f, const nm_events *e)
{
    if (!path || !e) return nm__error(NM_INVAL, "nm_events_write: path and events must not be NULL");
    static const int64_t lim_xy[NM_EVF_COUNT] = { 0, 256, 346, 32768, 0, 2048, 2048, 16384, 0 };
    static const int64_t lim_t[NM_EVF_COUNT] = { 0, (int64_t)1 << 23, (int64_t)1 << 31, (int64_t)1 << 62, 0,
                                                 (int64_t)1 << 34, (int64_t)1 << 62, (int64_t)1 << 32, 0 };
    if ((int)f <= 0 || f >= NM_EVF_COUNT || !lim_xy[f])
        return nm__error(NM_UNSUPPORTED, "writing %s files is not supported (choose nmnist, aedat2, aedat3, evt2, evt3 or dat)",
                         nm_event_format_name(f));
    for (int64_t i = 0; i < e->n; i++) {
        if (e->x[i] >= lim_xy[f] || e->y[i] >= lim_xy[f] || e->t[i] < 0 || e->t[i] >= lim_t[f])
            return nm__error(NM_RANGE, "event %lld (t=%lld, x=%d, y=%d) does not fit a %s file (x, y < %lld, 0 <= t < %lld us)",
                             (long long)i, (long long)e->t[i], e->x[i], e->y[i], nm_event_format_name(f), (long long)lim_xy[f],
                             (long long)lim_t[f]);
        if (i && e->t[i] < e->t[i - 1] && f != NM_EVF_NMNIST && f != NM_EVF_AEDAT2)
            return nm__error(NM_INVAL, "event %lld goes back in time (%lld after %lld us); sort the events before writing %s",
                             (long long)i, (long long)e->t[i], (long long)e->t[i - 1], nm_event_format_name(f));
    }
    write_ctx w = { f, e };
    return nm_file_write_atomic(path, write_cb, &w);
}
