/*
** nmnist.c: N-MNIST / N-Caltech101 .bin files (Orchard et al. 2015).
**
** No header; 5-byte records: x (u8), y (u8), then polarity (bit 23) and a 23-bit time in
** µs (bits 22-0), big-endian. A record with y = 240 is the legacy timer-overflow marker
** of Orchard's reference decoder: it adds 2^13 µs to every later time and is not an event.
** A file whose size is not a multiple of 5 is truncated (error at the partial record).
*/
#include "events_impl.h"

static nm_status nmnist_decode(nm_event_reader *r, const uint8_t *p, size_t n, size_t *used, size_t *need, nm_events *out,
                               int64_t max)
{
    (void)r;
    const size_t nr = n / 5;
    size_t i = 0;
    int64_t k = out->n;
    for (; i < nr && k < max; i++) {
        const uint8_t *b = p + 5 * i;
        if (b[1] == 240) {
            r->t_wrap += (int64_t)1 << 13;
            continue;
        }
        out->x[k] = b[0];
        out->y[k] = b[1];
        out->p[k] = (uint8_t)(b[2] >> 7);
        out->t[k] = r->t_wrap + ((int64_t)(b[2] & 0x7F) << 16 | (int64_t)b[3] << 8 | b[4]);
        k++;
    }
    out->n = k;
    *used = 5 * i;
    *need = i < nr ? 0 : 5;
    return NM_OK;
}

nm_status nm__nmnist_open(nm_event_reader *r)
{
    r->off = 0;
    r->decode = nmnist_decode;
    return NM_OK;
}

/* y = 240 would read back as the overflow marker, so it is refused (NM_RANGE). */
nm_status nm__nmnist_write(FILE *f, const nm_events *e)
{
    for (int64_t i = 0; i < e->n; i++) {
        if (e->y[i] == 240)
            return nm__error(NM_RANGE, "event %lld has y = 240, which N-MNIST files reserve for the timer-overflow marker",
                             (long long)i);
        uint32_t t = (uint32_t)e->t[i];
        uint8_t b[5] = { (uint8_t)e->x[i], (uint8_t)e->y[i], (uint8_t)((e->p[i] & 1) << 7 | (t >> 16 & 0x7F)), (uint8_t)(t >> 8),
                         (uint8_t)t };
        if (fwrite(b, 1, 5, f) != 5) return nm__error(NM_IO, "write error");
    }
    return NM_OK;
}
