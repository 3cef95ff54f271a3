/*
** spikes.c: the spike file, a plain text list of (time, neuron) pairs that any tool can
** write (a spreadsheet, awk, NumPy's savetxt) and `neuromorph plot raster` draws. The
** parser works on the whole file in memory, line by line, and stops at the first bad
** line with its number and byte offset: a truncated or mangled file is refused, never
** silently drawn in part. Files over 1 GiB (about 60 M spikes) are refused too.
*/
#include "neuromorph/data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE (1LL << 30)
#define MAX_INDEX (INT32_MAX - 1)

void nm_spikes_free(nm_spikes *s) {
    if (!s) return;
    free(s->t);
    free(s->neuron);
    memset(s, 0, sizeof *s);
}

static int blank(char c) { return c == ' ' || c == '\t'; }

/* The rest of a line, for messages: at most 24 printable characters. */
static void excerpt(const char *p, const char *end, char *buf, size_t cap) {
    size_t n = 0;
    while (p < end && *p != '\n' && *p != '\r' && n + 1 < cap && n < 24) {
        unsigned char c = (unsigned char)*p++;
        buf[n++] = c >= 32 && c < 127 ? (char)c : '?';
    }
    buf[n] = '\0';
}

/* A number from [p, end) with strtod, which needs a terminated string: copied first. */
static const char *parse_double(const char *p, const char *end, double *v) {
    char tmp[64];
    size_t n = 0;
    while (p + n < end && n < sizeof tmp - 1 && !blank(p[n]) && p[n] != ',' && p[n] != '\n' && p[n] != '\r') n++;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *e;
    *v = strtod(tmp, &e);
    return e == tmp || (size_t)(e - tmp) != n ? NULL : p + n;
}

static const char *parse_index(const char *p, const char *end, int64_t *v) {
    int64_t x = 0;
    const char *s = p;
    while (p < end && *p >= '0' && *p <= '9') {
        x = x * 10 + (*p++ - '0');
        if (x > MAX_INDEX) return NULL;
    }
    *v = x;
    return p == s ? NULL : p;
}

nm_status nm_spikes_parse(const char *text, size_t len, const char *name, nm_spikes *out) {
    nm_spikes s = {0};
    int64_t cap = 0;
    const char *p = text, *end = text + len;
    int64_t line = 0;
    int first = 1;
    nm_status rc = NM_OK;
    if (!name) name = "spike list";
    if (!text && len) return nm__error(NM_INVAL, "%s: NULL text of %zu bytes", name, len);
    while (p < end) {
        const char *bol = p, *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        p = eol + (eol < end);
        const char *q = bol;
        while (q < eol && blank(*q)) q++;
        if (q == eol || *q == '#' || (*q == '\r' && q + 1 == eol)) continue;
        if (first && eol - q >= 6 && !memcmp(q, "time_s", 6)) { /* the header */
            first = 0;
            continue;
        }
        first = 0;
        char ex[32];
        double t;
        int64_t i;
        const char *r = parse_double(q, eol, &t);
        if (!r || !isfinite(t)) {
            excerpt(q, eol, ex, sizeof ex);
            rc = nm__error(NM_FORMAT, "'%s' line %lld (byte %lld): expected TIME,NEURON (seconds, index), got '%s'", name,
                           (long long)line, (long long)(bol - text), ex);
            goto fail;
        }
        while (r < eol && blank(*r)) r++;
        if (r < eol && *r == ',') r++;
        while (r < eol && blank(*r)) r++;
        const char *r2 = parse_index(r, eol, &i);
        if (!r2) {
            excerpt(r, eol, ex, sizeof ex);
            rc = nm__error(NM_FORMAT, "'%s' line %lld (byte %lld): expected a neuron index (0 .. %d) after the time, got '%s'",
                           name, (long long)line, (long long)(bol - text), MAX_INDEX, ex);
            goto fail;
        }
        while (r2 < eol && (blank(*r2) || *r2 == '\r')) r2++;
        if (r2 < eol) {
            excerpt(r2, eol, ex, sizeof ex);
            rc = nm__error(NM_FORMAT, "'%s' line %lld (byte %lld): unexpected '%s' after TIME,NEURON", name, (long long)line,
                           (long long)(bol - text), ex);
            goto fail;
        }
        if (s.n == cap) {
            int64_t nc = cap ? 2 * cap : 4096;
            double *nt = realloc(s.t, (size_t)nc * sizeof *nt);
            if (nt) s.t = nt;
            int32_t *nn = realloc(s.neuron, (size_t)nc * sizeof *nn);
            if (nn) s.neuron = nn;
            if (!nt || !nn) {
                rc = nm__error(NM_NOMEM, "'%s': out of memory at %lld spikes", name, (long long)s.n);
                goto fail;
            }
            cap = nc;
        }
        s.t[s.n] = t;
        s.neuron[s.n++] = (int32_t)i;
        if (i + 1 > s.n_neurons) s.n_neurons = i + 1;
    }
    *out = s;
    return NM_OK;
fail:
    nm_spikes_free(&s);
    return rc;
}

nm_status nm_spikes_read(const char *path, nm_spikes *out) {
    if (!path) return nm__error(NM_INVAL, "spike file: NULL path");
    FILE *f = fopen(path, "rb");
    if (!f) return nm__error(errno == ENOENT ? NM_NOTFOUND : NM_IO, "cannot open spike file '%s': %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    nm_status rc = NM_OK;
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)MAX_FILE) {
                rc = nm__error(NM_FORMAT, "spike file '%s' is larger than %lld bytes", path, (long long)MAX_FILE);
                break;
            }
            size_t nc = cap ? 2 * cap : 1 << 16;
            char *nb = realloc(buf, nc);
            if (!nb) {
                rc = nm__error(NM_NOMEM, "out of memory reading '%s'", path);
                break;
            }
            buf = nb, cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) rc = nm__error(NM_IO, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (!rc) rc = nm_spikes_parse(buf, len, path, out);
    free(buf);
    return rc;
}

typedef struct spikes_job {
    const double  *t;
    const int32_t *neuron;
    int64_t        n;
} spikes_job;

static nm_status write_spikes(FILE *f, void *user) {
    const spikes_job *j = user;
    fprintf(f, "time_s,neuron\n");
    for (int64_t k = 0; k < j->n; k++) fprintf(f, "%.9g,%d\n", j->t[k], (int)j->neuron[k]);
    return ferror(f) ? nm__error(NM_IO, "cannot write the spike file") : NM_OK;
}

nm_status nm_spikes_write(const char *path, const double *t, const int32_t *neuron, int64_t n) {
    if (n < 0 || (n > 0 && (!t || !neuron))) return nm__error(NM_INVAL, "spike file '%s': bad spike arrays", path ? path : "");
    for (int64_t k = 0; k < n; k++) {
        if (!isfinite(t[k])) return nm__error(NM_INVAL, "spike file '%s': spike %lld has time %g", path, (long long)k, t[k]);
        if (neuron[k] < 0 || neuron[k] > MAX_INDEX)
            return nm__error(NM_INVAL, "spike file '%s': spike %lld has neuron %d", path, (long long)k, neuron[k]);
    }
    spikes_job j = {t, neuron, n};
    return nm_file_write_atomic(path, write_spikes, &j);
}
