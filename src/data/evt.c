/*
** evt.c: Prophesee files: EVT 3.0 and EVT 2.0 .raw, and the legacy .dat.
**
** EVT 3.0 (16-bit little-endian words, type in bits 15-12) is a state machine: ADDR_Y,
** TIME_HIGH and TIME_LOW set state; ADDR_X emits one event; VECT_BASE_X with VECT_12 /
** VECT_8 masks emit up to 12 events per word (a camera's busy rows). The 24-bit time
** (TIME_HIGH bits 23-12, TIME_LOW bits 11-0) is unwrapped into 64 bits by adding 2^24
** whenever TIME_HIGH decreases. EXT_TRIGGER words are counted; OTHERS, CONTINUED and
** reserved types are skipped and counted. This decoder is the hot path of `events info`
** and `convert` on camera recordings: one switch per word, no call per event, vector
** masks walked bit by bit with ctz.
**
** EVT 2.0 (32-bit words): CD_OFF/CD_ON carry 6 low time bits, x, y; TIME_HIGH carries
** time bits 33-6. Events before the first TIME_HIGH have no time and are skipped (counted).
** The 34-bit time is unwrapped when it goes back by more than half its range.
**
** .dat: '%' header lines, a type byte (0x0C, or 0x00 in old files) and a size byte (8),
** then 8-byte records: u32 time, u32 x (bits 13-0), y (27-14), polarity (31-28). The
** 32-bit time is unwrapped when it goes back by more than 2^31.
*/
#include "events_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- header ------------------------------------------------------------ */

/* Integer after `key` in `s` (case-insensitive key), or -1. */
static long find_int(const char *s, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = s; *p; p++) {
        size_t j = 0;
        while (j < k && p[j] && ((p[j] | 32) == (key[j] | 32))) j++;
        if (j == k) {
            const char *q = p + k;
            while (*q == ' ' || *q == '=' || *q == ':') q++;
            if (*q >= '0' && *q <= '9') return strtol(q, NULL, 10);
        }
    }
    return -1;
}

static nm_status evt3_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                             int64_t max);
static nm_status evt2_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                             int64_t max);
static nm_status dat_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                            int64_t max);

nm_status nm__evt_open(nm_event_reader *r)
{
    char *h = NULL;
    int64_t end;
    nm_status st = nm__read_header(r, '%', r->fmt == NM_EVF_DAT ? NULL : "% end", &h, &end);
    if (st) return st;
    long w = -1, hh = -1;
    const char *g = strstr(h, "geometry");
    if (g) {
        g += 8;
        while (*g == ' ') g++;
        char *e;
        w = strtol(g, &e, 10);
        if (*e == 'x') hh = strtol(e + 1, NULL, 10);
        else w = -1;
    }
    if (w <= 0 || hh <= 0) {
        w = find_int(h, "width");
        hh = find_int(h, "height");
    }
    free(h);
    if (w > 0 && hh > 0 && w <= 65536 && hh <= 65536 && r->opts.width <= 0) {
        r->width = (int)w;
        r->height = (int)hh;
        r->info.size_from_header = 1;
    }
    r->off = end;
    if (r->fmt == NM_EVF_DAT) {
        uint8_t th[2];
        if (fseek(r->f, (long)end, SEEK_SET) != 0 || fread(th, 1, 2, r->f) != 2)
            return nm__ev_corrupt(r, end, "file is truncated: the .dat event type and size bytes are missing");
        if (th[0] != 0x0C && th[0] != 0x00) return nm__ev_corrupt(r, end, ".dat event type 0x%02x is not CD (0x0C or 0x00)", th[0]);
        if (th[1] != 8) return nm__ev_corrupt(r, end + 1, ".dat event size %d is not 8", th[1]);
        r->off = end + 2;
        r->decode = dat_decode;
    } else {
        r->decode = r->fmt == NM_EVF_EVT3 ? evt3_decode : evt2_decode;
    }
    return NM_OK;
}

/* ---- EVT 3.0 ----------------------------------------------------------- */

static nm_status evt3_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                             int64_t max)
{
    const size_t nw = n / 2;
    size_t i = 0;
    int64_t k = out->n;
    int64_t *restrict T = out->t;
    uint16_t *restrict X = out->x, *restrict Y = out->y;
    uint8_t *restrict P = out->p;
    int64_t t_hi = r->t_hi, t_lo = r->t_lo, wrap = r->t_wrap, t = wrap + (t_hi << 12 | t_lo);
    int y = r->y, bx = r->base_x, pol = r->pol;
    int64_t triggers = 0, skipped = 0;
    const int64_t lim = max - 16;   /* room for one vector word's unconditional stores */
    /* Vector words are written branch-free: t, y and p are the same for all events of a
    ** word, so 12 slots are filled unconditionally from these copies (plain block copies
    ** the compiler turns into a few vector stores), and x is compacted six mask bits at a
    ** time through a table of set-bit positions; k then moves by the popcount. The
    ** copies are refreshed when the time, row or polarity change. */
    int64_t tt[12];
    uint16_t yy[12], lut[64][8];
    uint8_t pp[12], lut_n[64];
    for (unsigned m = 0; m < 64; m++) {
        int c = 0;
        for (int b = 0; b < 6; b++)
            if (m >> b & 1) lut[m][c++] = (uint16_t)b;
        for (int b = c; b < 8; b++) lut[m][b] = 0;
        lut_n[m] = (uint8_t)c;
    }
    for (int j = 0; j < 12; j++) { tt[j] = t; yy[j] = (uint16_t)y; pp[j] = (uint8_t)pol; }

    for (; i < nw && k <= lim; i++) {
        const unsigned w = nm__rd16le(p + 2 * i);
        if ((w >> 12) == 0x4) {   /* VECT_12, the bulk of a busy stream: tested first */
            const unsigned m = w & 0xFFF;
            memcpy(T + k, tt, sizeof tt);
            memcpy(Y + k, yy, sizeof yy);
            memcpy(P + k, pp, sizeof pp);
            const unsigned lo = m & 63, hi = m >> 6;
            const uint16_t b0 = (uint16_t)bx, b1 = (uint16_t)(bx + 6);
            for (int j = 0; j < 8; j++) X[k + j] = (uint16_t)(b0 + lut[lo][j]);
            k += lut_n[lo];
            for (int j = 0; j < 8; j++) X[k + j] = (uint16_t)(b1 + lut[hi][j]);
            k += lut_n[hi];
            bx += 12;
            continue;
        }
        switch (w >> 12) {
        case 0x0:
            y = (int)(w & 0x7FF);
            for (int j = 0; j < 12; j++) yy[j] = (uint16_t)y;
            break;
        case 0x2:
            T[k] = t; X[k] = (uint16_t)(w & 0x7FF); Y[k] = (uint16_t)y; P[k] = (uint8_t)((w >> 11) & 1); k++;
            break;
        case 0x3:
            bx = (int)(w & 0x7FF);
            if ((int)((w >> 11) & 1) != pol) {
                pol = (int)((w >> 11) & 1);
                for (int j = 0; j < 12; j++) pp[j] = (uint8_t)pol;
            }
            break;
        case 0x5: {   /* VECT_8: as VECT_12 with bits 11-8 unused */
            const unsigned m = w & 0xFF;
            memcpy(T + k, tt, sizeof tt);
            memcpy(Y + k, yy, sizeof yy);
            memcpy(P + k, pp, sizeof pp);
            const unsigned lo = m & 63, hi = m >> 6;
            const uint16_t b0 = (uint16_t)bx, b1 = (uint16_t)(bx + 6);
            for (int j = 0; j < 8; j++) X[k + j] = (uint16_t)(b0 + lut[lo][j]);
            k += lut_n[lo];
            for (int j = 0; j < 8; j++) X[k + j] = (uint16_t)(b1 + lut[hi][j]);
            k += lut_n[hi];
            bx += 8;
            break;
        }
        case 0x6:
            t_lo = w & 0xFFF;
            t = wrap + (t_hi << 12 | t_lo);
            for (int j = 0; j < 12; j++) tt[j] = t;
            break;
        case 0x8: {
            int64_t hi = w & 0xFFF;
            if (hi < t_hi) wrap += (int64_t)1 << 24;
            t_hi = hi;
            t = wrap + (t_hi << 12 | t_lo);
            for (int j = 0; j < 12; j++) tt[j] = t;
            break;
        }
        case 0xA: triggers++; break;
        default: skipped++; break;   /* CONTINUED_4/12, OTHERS, reserved */
        }
    }
    /* A vector past x = 65535 is no address any sensor has. */
    if (bx > 0xFFFF - 12) return nm__ev_corrupt(r, r->info.bytes + (int64_t)(2 * i), "EVT 3.0 vector words run past x = 65535");
    r->t_hi = t_hi; r->t_lo = t_lo; r->t_wrap = wrap;
    r->y = y; r->base_x = bx; r->pol = pol;
    r->info.triggers += triggers;
    r->info.skipped += skipped;
    out->n = k;
    *used = 2 * i;
    *need = (i < nw) ? 0 : 2;   /* stopped full, or needs the next word */
    return NM_OK;
}

/* Appends the words of e (sorted by time) to f: TIME_HIGH when bits 23-12 change (with a
** 0xFFF, 0x000 pair per 2^24 wrap, so the reader's "decrease means wrap" sees every one),
** TIME_LOW when bits 11-0 change, ADDR_Y when y changes, and events of one (t, y, p) run
** as VECT_BASE_X + VECT_12 masks when two or more fall within 12 pixels, else ADDR_X. */
nm_status nm__evt3_write(FILE *f, const nm_events *e)
{
    fprintf(f, "%% evt 3.0\n%% format EVT3;height=%d;width=%d\n%% geometry %dx%d\n%% end\n", e->height, e->width, e->width,
            e->height);
    size_t cap = 1 << 16, n = 0;
    uint16_t *w = malloc(cap * sizeof *w);
    if (!w) return nm__error(NM_NOMEM, "out of memory");
    int64_t cur_wrap = 0, cur_hi = -1, cur_lo = -1;
    int cur_y = -1;
#define PUT(v) do { if (n + 4 > cap) { if (fwrite(w, 2, n, f) != n) goto io; n = 0; } w[n++] = (uint16_t)(v); } while (0)
    for (int64_t i = 0; i < e->n;) {
        int64_t t = e->t[i], wrap = t >> 24, hi = (t >> 12) & 0xFFF, lo = t & 0xFFF;
        while (cur_wrap < wrap) {
            if (cur_hi != 0xFFF) PUT(0x8000 | 0xFFF);
            PUT(0x8000);
            cur_wrap++;
            cur_hi = 0;
        }
        if (hi != cur_hi) { PUT(0x8000 | hi); cur_hi = hi; }
        if (lo != cur_lo) { PUT(0x6000 | lo); cur_lo = lo; }
        if (e->y[i] != cur_y) { cur_y = e->y[i]; PUT(0x0000 | (cur_y & 0x7FF)); }
        /* events i..j share t, y, p */
        int64_t j = i + 1;
        while (j < e->n && e->t[j] == t && e->y[j] == e->y[i] && e->p[j] == e->p[i]) j++;
        int64_t a = i;
        while (a < j) {
            int base = e->x[a];
            unsigned mask = 0;
            int64_t b = a, cnt = 0;
            while (b < j && e->x[b] >= base && e->x[b] < base + 12) {
                if (mask & (1u << (e->x[b] - base))) break;   /* duplicate pixel: next word */
                mask |= 1u << (e->x[b] - base);
                b++;
                cnt++;
            }
            if (cnt >= 2) {
                PUT(0x3000 | (e->p[a] & 1) << 11 | base);
                PUT(0x4000 | mask);
            } else {
                PUT(0x2000 | (e->p[a] & 1) << 11 | base);
                b = a + 1;
            }
            a = b;
        }
        i = j;
    }
#undef PUT
    if (n && fwrite(w, 2, n, f) != n) goto io;
    free(w);
    return NM_OK;
io:
    free(w);
    return nm__error(NM_IO, "write error");
}

/* ---- EVT 2.0 ----------------------------------------------------------- */

static nm_status evt2_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                             int64_t max)
{
    const size_t nw = n / 4;
    size_t i = 0;
    int64_t k = out->n;
    for (; i < nw && k < max; i++) {
        uint32_t w = nm__rd32le(p + 4 * i);
        switch (w >> 28) {
        case 0x0: case 0x1:
            if (!r->started) { r->info.skipped++; break; }
            out->t[k] = r->t_wrap + (r->t_hi << 6 | (w >> 22 & 0x3F));
            out->x[k] = (uint16_t)(w >> 11 & 0x7FF);
            out->y[k] = (uint16_t)(w & 0x7FF);
            out->p[k] = (uint8_t)(w >> 28);
            k++;
            break;
        case 0x8: {
            int64_t hi = w & 0x0FFFFFFF;
            if (r->started && hi + ((int64_t)1 << 27) < r->t_hi) {
                if (r->t_wrap > ((int64_t)1 << 61))
                    return nm__ev_corrupt(r, r->info.bytes + (int64_t)(4 * i), "EVT 2.0 time wraps past 2^61 us");
                r->t_wrap += (int64_t)1 << 34;
            }
            r->t_hi = hi;
            r->started = 1;
            break;
        }
        case 0xA: r->info.triggers++; break;
        default: r->info.skipped++; break;
        }
    }
    out->n = k;
    *used = 4 * i;
    *need = i < nw ? 0 : 4;
    return NM_OK;
}

nm_status nm__evt2_write(FILE *f, const nm_events *e)
{
    fprintf(f, "%% evt 2.0\n%% format EVT2;height=%d;width=%d\n%% geometry %dx%d\n%% end\n", e->height, e->width, e->width,
            e->height);
    int64_t cur_hi = -1;
    uint8_t b[4];
    for (int64_t i = 0; i < e->n; i++) {
        int64_t hi = e->t[i] >> 6;
        uint32_t w;
        if (hi != cur_hi) {
            w = 0x80000000u | (uint32_t)hi;
            b[0] = (uint8_t)w; b[1] = (uint8_t)(w >> 8); b[2] = (uint8_t)(w >> 16); b[3] = (uint8_t)(w >> 24);
            if (fwrite(b, 1, 4, f) != 4) return nm__error(NM_IO, "write error");
            cur_hi = hi;
        }
        w = (uint32_t)(e->p[i] & 1) << 28 | (uint32_t)(e->t[i] & 0x3F) << 22 | (uint32_t)e->x[i] << 11 | e->y[i];
        b[0] = (uint8_t)w; b[1] = (uint8_t)(w >> 8); b[2] = (uint8_t)(w >> 16); b[3] = (uint8_t)(w >> 24);
        if (fwrite(b, 1, 4, f) != 4) return nm__error(NM_IO, "write error");
    }
    return NM_OK;
}

/* ---- .dat -------------------------------------------------------------- */

static nm_status dat_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                            int64_t max)
{
    const size_t nr = n / 8;
    size_t i = 0;
    int64_t k = out->n;
    for (; i < nr && k < max; i++) {
        int64_t ts = nm__rd32le(p + 8 * i);
        uint32_t d = nm__rd32le(p + 8 * i + 4);
        if (d >> 28 > 1) return nm__ev_corrupt(r, r->info.bytes + (int64_t)(8 * i) + 4, ".dat polarity %u is not 0 or 1", d >> 28);
        if (r->started && ts + ((int64_t)1 << 31) < r->t_prev) {
            if (r->t_wrap > ((int64_t)1 << 61)) return nm__ev_corrupt(r, r->info.bytes + (int64_t)(8 * i), ".dat time wraps past 2^61 us");
            r->t_wrap += (int64_t)1 << 32;
        }
        r->t_prev = ts;
        r->started = 1;
        out->t[k] = r->t_wrap + ts;
        out->x[k] = (uint16_t)(d & 0x3FFF);
        out->y[k] = (uint16_t)(d >> 14 & 0x3FFF);
        out->p[k] = (uint8_t)(d >> 28);
        k++;
    }
    out->n = k;
    *used = 8 * i;
    *need = i < nr ? 0 : 8;
    return NM_OK;
}

nm_status nm__dat_write(FILE *f, const nm_events *e)
{
    fprintf(f, "%% Data file containing CD events.\n%% Version 2\n%% Width %d\n%% Height %d\n", e->width, e->height);
    uint8_t th[2] = { 0x0C, 8 };
    if (fwrite(th, 1, 2, f) != 2) return nm__error(NM_IO, "write error");
    for (int64_t i = 0; i < e->n; i++) {
        uint32_t ts = (uint32_t)e->t[i], d = (uint32_t)(e->p[i] & 1) << 28 | (uint32_t)e->y[i] << 14 | e->x[i];
        uint8_t b[8] = { (uint8_t)ts, (uint8_t)(ts >> 8), (uint8_t)(ts >> 16), (uint8_t)(ts >> 24),
                         (uint8_t)d,  (uint8_t)(d >> 8),  (uint8_t)(d >> 16),  (uint8_t)(d >> 24) };
        if (fwrite(b, 1, 8, f) != 8) return nm__error(NM_IO, "write error");
    }
    return NM_OK;
}
