/*
** bench_events: EVT 3.0 decoding speed, per core, against a memory copy of the same file.
**
** Writes a synthetic EVT 3.0 stream shaped like a busy camera's (1280x720): every few
** microseconds a TIME_LOW, then bursts along rows (ADDR_Y, VECT_BASE_X and one to four
** VECT_12 words of random masks, about half the bits set), with single ADDR_X events
** between them (about 10% of events), TIME_HIGH every 4096 us and its 24-bit wrap every
** 16.8 s. The file is read once to put it in the page cache, then timed (best of --reps):
**   decode   nm_event_reader over the file in chunks of 1M events (fread into the reader's
**            window + decode into t, x, y, p arrays): what `events info` does
**   memcpy   one memcpy of the file's bytes between two buffers: the ceiling of any
**            decoder that touches every byte once
** Prints one "bench=events_evt3 ..." line and a short table.
** usage: bench_events [--events N] [--reps R] [--file PATH] [--keep]
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/neuromorph.h>

static int put(FILE *f, uint16_t *w, size_t *n, uint16_t v)
{
    w[(*n)++] = v;
    if (*n == 65536) {
        if (fwrite(w, 2, *n, f) != *n) return -1;
        *n = 0;
    }
    return 0;
}

/* Writes about n_events events; returns the exact count, or -1. */
static int64_t write_stream(const char *path, int64_t n_events)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "%% evt 3.0\n%% format EVT3;height=720;width=1280\n%% geometry 1280x720\n%% end\n");
    uint16_t *w = malloc(65536 * sizeof *w);
    size_t n = 0;
    nm_rng r;
    nm_rng_init(&r, 42, 0);
    int64_t ev = 0, t = 0, hi = -1;
    int rc = 0;
    while (ev < n_events && !rc) {
        t += 1 + nm_rng_below(&r, 3);
        int64_t h = (t >> 12) & 0xFFF;
        if (h != hi) { rc |= put(f, w, &n, (uint16_t)(0x8000 | h)); hi = h; }
        rc |= put(f, w, &n, (uint16_t)(0x6000 | (t & 0xFFF)));
        int bursts = 1 + (int)nm_rng_below(&r, 4);
        for (int b = 0; b < bursts && !rc; b++) {
            rc |= put(f, w, &n, (uint16_t)(nm_rng_below(&r, 720)));                       /* ADDR_Y */
            if (nm_rng_below(&r, 5) == 0) {                                                /* a few singles */
                int k = 1 + (int)nm_rng_below(&r, 3);
                for (int j = 0; j < k; j++) rc |= put(f, w, &n, (uint16_t)(0x2000 | nm_rng_below(&r, 2) << 11 | nm_rng_below(&r, 1280)));
                ev += k;
                continue;
            }
            int words = 1 + (int)nm_rng_below(&r, 4);
            int x = (int)nm_rng_below(&r, 1280 - 12 * words);
            rc |= put(f, w, &n, (uint16_t)(0x3000 | nm_rng_below(&r, 2) << 11 | x));       /* VECT_BASE_X */
            for (int j = 0; j < words; j++) {
                uint32_t m = nm_rng_u32(&r) & 0xFFF;
                rc |= put(f, w, &n, (uint16_t)(0x4000 | m));                                /* VECT_12 */
                ev += __builtin_popcount(m);
            }
        }
    }
    if (n && fwrite(w, 2, n, f) != n) rc = -1;
    free(w);
    if (fclose(f) != 0) rc = -1;
    return rc ? -1 : ev;
}

int main(int argc, char **argv)
{
    int64_t n_events = 200000000;
    int reps = 3, keep = 0;
    const char *path = "bench_events.raw";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc) n_events = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--file") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--keep")) keep = 1;
        else {
            fprintf(stderr, "usage: bench_events [--events N] [--reps R] [--file PATH] [--keep]\n");
            return 2;
        }
    }
    if (n_events < 1000 || reps < 1 || reps > 100) {
        fprintf(stderr, "bench_events: need --events >= 1000 and 1 <= --reps <= 100\n");
        return 2;
    }
    int64_t written = write_stream(path, n_events);
    if (written < 0) {
        fprintf(stderr, "bench_events: cannot write '%s'\n", path);
        return 1;
    }
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size_t bytes = (size_t)ftell(f);
    rewind(f);
    char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b || fread(a, 1, bytes, f) != bytes) {   /* also puts the file in the page cache */
        fprintf(stderr, "bench_events: cannot read '%s' back\n", path);
        return 1;
    }
    fclose(f);
    memset(b, 1, bytes);

    double best_dec = 1e30, best_cpy = 1e30;
    int64_t decoded = 0;
    nm_events *e = NULL;
    if (nm_events_create(0, &e)) return 1;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = nm_time_now();
        memcpy(b, a, bytes);
        double t1 = nm_time_now();
        if (t1 - t0 < best_cpy) best_cpy = t1 - t0;

        nm_event_reader *r = NULL;
        t0 = nm_time_now();
        if (nm_event_reader_open(path, NULL, &r)) {
            fprintf(stderr, "bench_events: %s\n", nm_errmsg());
            return 1;
        }
        int64_t got, total = 0;
        do {
            if (nm_event_reader_read(r, e, (int64_t)1 << 20, &got)) {
                fprintf(stderr, "bench_events: %s\n", nm_errmsg());
                return 1;
            }
            total += got;
        } while (got);
        nm_event_reader_close(r);
        t1 = nm_time_now();
        if (t1 - t0 < best_dec) best_dec = t1 - t0;
        decoded = total;
    }
    if (decoded != written) {
        fprintf(stderr, "bench_events: decoded %lld events, wrote %lld\n", (long long)decoded, (long long)written);
        return 1;
    }
    volatile char sink = b[bytes / 2];
    (void)sink;
    double mev = (double)decoded / best_dec / 1e6, gbs = (double)bytes / best_dec / 1e9, cpy = (double)bytes / best_cpy / 1e9;
    double cpy_mev = cpy * 1e9 / ((double)bytes / (double)decoded) / 1e6;
    printf("bench=events_evt3 events=%lld bytes=%zu bytes_per_event=%.3f decode_s=%.4f decode_mev_s=%.1f decode_gb_s=%.2f "
           "memcpy_s=%.4f memcpy_gb_s=%.2f memcpy_mev_s_equiv=%.1f reps=%d\n",
           (long long)decoded, bytes, (double)bytes / (double)decoded, best_dec, mev, gbs, best_cpy, cpy, cpy_mev, reps);
    printf("\n| what | time | M events/s | GB/s of file |\n|---|---|---|---|\n");
    printf("| EVT 3.0 decode (1 core, page cache) | %.3f s | **%.0f** | %.2f |\n", best_dec, mev, gbs);
    printf("| memcpy of the same bytes | %.3f s | %.0f (equivalent) | %.2f |\n", best_cpy, cpy_mev, cpy);
    printf("\n%lld events in %.1f MB (%.2f bytes/event), best of %d\n", (long long)decoded, (double)bytes / 1e6,
           (double)bytes / (double)decoded, reps);
    nm_events_destroy(e);
    free(a);
    free(b);
    if (!keep) remove(path);
    return 0;
}
