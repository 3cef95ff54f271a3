/*
** event_set.c: event datasets on disk (.nmev), written sample by sample and loaded as
** binned frames for training.
**
** Layout (little-endian):
**   0   8  magic "NMEVSET1"
**   8   4  u32 number of samples n
**   12  2  u16 sensor width     14  2  u16 sensor height
**   16  2  u16 number of classes
**   18  2  u16 default frames per sample (steps)
**   20  4  u32 duration of a sample, µs (every event time is below it)
**   24  8  u64 number of events E
**   32  5E events, sample after sample, as N-MNIST records (x, y, polarity bit 7 + 23-bit
**          time big-endian), so sensors up to 255x239 and samples up to 8.3 s
**       n  u8 labels
**       8(n+1) u64 offsets: sample i is events [off[i], off[i+1]), off[0] = 0, off[n] = E
**       4  u32 CRC-32 (zlib) of everything from byte 32 to here, followed by bytes 0..31
** The writer streams events to a temporary file and renames it into place at the end,
** so a killed `emulate` leaves no half file under the final name.
*/
#include "events_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER 32

struct nm_event_set_writer {
    char    *path, *tmp;
    FILE    *f;
    int      width, height, n_classes, steps;
    int64_t  duration;
    uint32_t crc;
    int64_t  n, cap, events;
    uint8_t *labels;
    uint64_t *offsets;   /* (cap + 1) */
};

static void put_le(uint8_t *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
}

void nm_event_set_abort(nm_event_set_writer *w)
{
    if (!w) return;
    if (w->f) fclose(w->f);
    if (w->tmp) remove(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w->labels);
    free(w->offsets);
    free(w);
}

nm_status nm_event_set_create(const char *path, int width, int height, int n_classes, int64_t duration_us, int steps,
                              nm_event_set_writer **out)
{
    if (!path || !out) return nm__error(NM_INVAL, "nm_event_set_create: path and out must not be NULL");
    if (width < 1 || width > 255 || height < 1 || height > 239)
        return nm__error(NM_RANGE, "an event dataset holds sensors up to 255x239, not %dx%d", width, height);
    if (n_classes < 1 || n_classes > 256) return nm__error(NM_RANGE, "an event dataset has 1..256 classes, not %d", n_classes);
    if (duration_us < 1 || duration_us > ((int64_t)1 << 23))
        return nm__error(NM_RANGE, "an event dataset's samples last 1 us to 8.39 s, not %lld us", (long long)duration_us);
    if (steps < 1 || steps > 65535) return nm__error(NM_RANGE, "frames per sample must be in 1..65535, not %d", steps);
    nm_event_set_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = malloc(strlen(path) + 1)) || !(w->tmp = malloc(strlen(path) + 8))) {
        nm_event_set_abort(w);
        return nm__error(NM_NOMEM, "out of memory");
    }
    strcpy(w->path, path);
    sprintf(w->tmp, "%s.tmp", path);
    w->width = width; w->height = height; w->n_classes = n_classes; w->duration = duration_us; w->steps = steps;
    if (!(w->f = fopen(w->tmp, "wb"))) {
        nm_status st = nm__error(NM_IO, "cannot create '%s': %s", w->tmp, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        nm_event_set_abort(w);
        return st;
    }
    uint8_t h[HEADER] = { 0 };
    if (fwrite(h, 1, HEADER, w->f) != HEADER) {
        nm_event_set_abort(w);
        return nm__error(NM_IO, "cannot write '%s'", path);
    }
    *out = w;
    return NM_OK;
}

nm_status nm_event_set_add(nm_event_set_writer *w, const nm_events *e, int label)
{
    if (!w || !e) return nm__error(NM_INVAL, "nm_event_set_add: arguments must not be NULL");
    if (label < 0 || label >= w->n_classes)
        return nm__error(NM_RANGE, "label %d is outside the dataset's %d classes", label, w->n_classes);
    if (w->n >= (int64_t)UINT32_MAX) return nm__error(NM_RANGE, "an event dataset holds at most 2^32 - 1 samples");
    for (int64_t i = 0; i < e->n; i++)
        if (e->x[i] >= w->width || e->y[i] >= w->height || e->t[i] < 0 || e->t[i] >= w->duration)
            return nm__error(NM_RANGE, "sample %lld event %lld (t=%lld, x=%d, y=%d) is outside the %dx%d sensor or the %lld us "
                             "sample", (long long)w->n, (long long)i, (long long)e->t[i], e->x[i], e->y[i], w->width,
                             w->height, (long long)w->duration);
    if (w->n == w->cap) {
        int64_t cap = w->cap ? 2 * w->cap : 1024;
        uint8_t *l = realloc(w->labels, (size_t)cap);
        if (l) w->labels = l;
        uint64_t *o = realloc(w->offsets, (size_t)(cap + 1) * sizeof *o);
        if (o) w->offsets = o;
        if (!l || !o) return nm__error(NM_NOMEM, "out of memory");
        w->cap = cap;
        w->offsets[0] = 0;
    }
    uint8_t buf[5 * 1024];
    for (int64_t i = 0; i < e->n;) {
        size_t k = 0;
        for (; i < e->n && k < sizeof buf; i++, k += 5) {
            uint32_t t = (uint32_t)e->t[i];
            buf[k] = (uint8_t)e->x[i];
            buf[k + 1] = (uint8_t)e->y[i];
            buf[k + 2] = (uint8_t)((e->p[i] & 1) << 7 | (t >> 16 & 0x7F));
            buf[k + 3] = (uint8_t)(t >> 8);
            buf[k + 4] = (uint8_t)t;
        }
        w->crc = nm_crc32(w->crc, buf, k);
        if (fwrite(buf, 1, k, w->f) != k) return nm__error(NM_IO, "cannot write '%s'", w->tmp);
    }
    w->labels[w->n] = (uint8_t)label;
    w->events += e->n;
    w->offsets[++w->n] = (uint64_t)w->events;
    return NM_OK;
}

nm_status nm_event_set_finish(nm_event_set_writer *w)
{
    if (!w) return nm__error(NM_INVAL, "nm_event_set_finish: no writer");
    nm_status st = NM_OK;
    uint64_t zero = 0;
    if (w->n == 0) w->offsets = &zero;
    uint8_t b[8];
    w->crc = nm_crc32(w->crc, w->labels, (size_t)w->n);
    if (w->n && fwrite(w->labels, 1, (size_t)w->n, w->f) != (size_t)w->n) st = NM_IO;
    for (int64_t i = 0; i <= w->n && !st; i++) {
        put_le(b, w->offsets[i], 8);
        w->crc = nm_crc32(w->crc, b, 8);
        if (fwrite(b, 1, 8, w->f) != 8) st = NM_IO;
    }
    if (w->n == 0) w->offsets = NULL;
    uint8_t h[HEADER];
    memcpy(h, "NMEVSET1", 8);
    put_le(h + 8, (uint64_t)w->n, 4);
    put_le(h + 12, (uint64_t)w->width, 2);
    put_le(h + 14, (uint64_t)w->height, 2);
    put_le(h + 16, (uint64_t)w->n_classes, 2);
    put_le(h + 18, (uint64_t)w->steps, 2);
    put_le(h + 20, (uint64_t)w->duration, 4);
    put_le(h + 24, (uint64_t)w->events, 8);
    /* the checksum covers the header too, as if it followed the body */
    put_le(b, nm_crc32(w->crc, h, HEADER), 4);
    if (!st && fwrite(b, 1, 4, w->f) != 4) st = NM_IO;
    if (!st && (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(h, 1, HEADER, w->f) != HEADER || fflush(w->f) != 0 ||
                fsync(fileno(w->f)) != 0))
        st = NM_IO;
    if (fclose(w->f) != 0) st = NM_IO;
    w->f = NULL;
    if (!st && rename(w->tmp, w->path) != 0) st = NM_IO;
    if (st) st = nm__error(NM_IO, "cannot write '%s': %s", w->path, strerror(errno));
    else { free(w->tmp); w->tmp = NULL; }
    nm_event_set_abort(w);
    return st;
}

nm_status nm_event_set_load(const char *path, int steps, nm_dataset **out)
{
    if (!path || !out) return nm__error(NM_INVAL, "nm_event_set_load: path and out must not be NULL");
    nm_status st = NM_OK;
    uint8_t *b = NULL;
    nm_dataset *d = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return nm__error(errno == ENOENT ? NM_NOTFOUND : NM_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) { st = nm__error(NM_IO, "'%s' is not a regular file", path); goto done; }
    size_t size = (size_t)sb.st_size;
    if (size < HEADER + 12) { st = nm__error(NM_FORMAT, "'%s' is truncated: %zu bytes is shorter than an empty event dataset", path, size); goto done; }
    if (!(b = malloc(size))) { st = nm__error(NM_NOMEM, "out of memory reading '%s' (%zu bytes)", path, size); goto done; }
    if (fread(b, 1, size, f) != size) { st = nm__error(NM_IO, "cannot read '%s'", path); goto done; }
    if (memcmp(b, "NMEVSET1", 8) != 0) { st = nm__error(NM_FORMAT, "'%s' is not an event dataset: bad magic at byte 0", path); goto done; }
    uint64_t n = nm__rd32le(b + 8), E = nm__rd64le(b + 24);
    int W = nm__rd16le(b + 12), H = nm__rd16le(b + 14), C = nm__rd16le(b + 16), S = nm__rd16le(b + 18);
    int64_t dur = nm__rd32le(b + 20);
    if (W < 1 || W > 255 || H < 1 || H > 239 || C < 1 || C > 256 || S < 1 || dur < 1 || dur > ((int64_t)1 << 23)) {
        st = nm__error(NM_FORMAT, "'%s': bad header at byte 8 (sensor %dx%d, %d classes, %d frames, %lld us)", path, W, H, C, S,
                       (long long)dur);
        goto done;
    }
    if (E > size / 5 || HEADER + 5 * E + n + 8 * (n + 1) + 4 != size) {
        st = nm__error(NM_FORMAT, "'%s' is %zu bytes but its header (%llu samples, %llu events) needs %llu: truncated or corrupt "
                       "at byte 8", path, size, (unsigned long long)n, (unsigned long long)E,
                       (unsigned long long)(HEADER + 5 * E + n + 8 * (n + 1) + 4));
        goto done;
    }
    if (nm_crc32(nm_crc32(0, b + HEADER, size - HEADER - 4), b, HEADER) != nm__rd32le(b + size - 4)) {
        st = nm__error(NM_FORMAT, "'%s': checksum mismatch at byte %zu (the file is corrupt)", path, size - 4);
        goto done;
    }
    const uint8_t *ev = b + HEADER, *lab = ev + 5 * E, *offs = lab + n;
    if (steps <= 0) steps = S;
    if (steps > 100000) { st = nm__error(NM_RANGE, "frames per sample must be in 1..100000, not %d", steps); goto done; }
    const size_t plane = (size_t)W * (size_t)H, per = (size_t)steps * 2 * plane;
    if (n && per > ((size_t)1 << 36) / n) { st = nm__error(NM_NOMEM, "'%s' binned into %d frames would need more than 64 GiB", path, steps); goto done; }
    if (!(d = nm_alloc(sizeof *d)) || !(d->images = nm_alloc(n * per > 0 ? n * per : 1)) || !(d->labels = nm_alloc(n ? n : 1))) {
        st = nm__error(NM_NOMEM, "out of memory for '%s' as %d frames per sample", path, steps);
        goto done;
    }
    d->n = (int64_t)n;
    d->rows = H;
    d->cols = W;
    d->channels = 2;
    d->steps = steps;
    d->counts = 1;
    d->n_classes = C;
    int max_label = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t a = nm__rd64le(offs + 8 * i), z = nm__rd64le(offs + 8 * (i + 1));
        if (lab[i] >= C) { st = nm__error(NM_FORMAT, "'%s': label %d of sample %llu at byte %llu is not below %d classes", path, lab[i], (unsigned long long)i, (unsigned long long)(HEADER + 5 * E + i), C); goto done; }
        if ((i == 0 && a != 0) || z < a || z > E || (i + 1 == n && z != E)) {
            st = nm__error(NM_FORMAT, "'%s': bad event offsets of sample %llu at byte %llu", path, (unsigned long long)i,
                           (unsigned long long)(HEADER + 5 * E + n + 8 * i));
            goto done;
        }
        d->labels[i] = lab[i];
        if (lab[i] > max_label) max_label = lab[i];
        uint8_t *img = d->images + i * per;
        for (uint64_t k = a; k < z; k++) {
            const uint8_t *r = ev + 5 * k;
            int64_t t = (int64_t)(r[2] & 0x7F) << 16 | (int64_t)r[3] << 8 | r[4];
            if (r[0] >= W || r[1] >= H || t >= dur) {
                st = nm__error(NM_FORMAT, "'%s': event at byte %llu (t=%lld, x=%d, y=%d) is outside the %dx%d sensor or %lld us", path,
                               (unsigned long long)(HEADER + 5 * k), (long long)t, r[0], r[1], W, H, (long long)dur);
                goto done;
            }
            size_t bin = (size_t)(t * steps / dur);
            uint8_t *c = img + (bin * 2 + (r[2] >> 7 ? 0 : 1)) * plane + (size_t)r[1] * W + r[0];
            if (*c < 255) (*c)++;
        }
    }
    (void)max_label;
    *out = d;
    d = NULL;
done:
    nm_dataset_destroy(d);
    free(b);
    fclose(f);
    return st;
}

int nm_event_set_is_dir(const char *dir)
{
    if (!dir) return 0;
    size_t n = strlen(dir) + 16;
    char *p = malloc(n);
    if (!p) return 0;
    snprintf(p, n, "%s/train.nmev", dir);
    struct stat sb;
    int ok = stat(p, &sb) == 0;
    free(p);
    return ok;
}

nm_status nm_event_set_load_dir(const char *dir, const char *split, int steps, nm_dataset **out)
{
    if (!dir || !split) return nm__error(NM_INVAL, "nm_event_set_load_dir: arguments must not be NULL");
    if (strcmp(split, "train") != 0 && strcmp(split, "t10k") != 0)
        return nm__error(NM_INVAL, "unknown split '%s' (choose train or t10k)", split);
    size_t n = strlen(dir) + 16;
    char *p = malloc(n);
    if (!p) return nm__error(NM_NOMEM, "out of memory");
    snprintf(p, n, "%s/%s.nmev", dir, split);
    nm_status st = nm_event_set_load(p, steps, out);
    free(p);
    return st;
}
