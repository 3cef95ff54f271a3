/*
** test_events.c: event data: readers, writers, the DVS emulator, transforms, event
** datasets and the frames encoding.
**
** Every reader is checked on a file written here byte by byte from its specification,
** with known contents decoded exactly: EVT 3.0 vector words, the 24-bit time wrap into
** 64-bit time, triggers and skipped words; EVT 2.0 time-high words; N-MNIST's timer-
** overflow marker; .dat records with a 32-bit wrap; AEDAT 2.0 in all four address
** layouts; AEDAT 3.1 packets with invalid events and foreign packets; AEDAT 4.0 packets
** compressed with LZ4 and ZSTD (FlatBuffers built by hand); SHD through HDF5. Each file
** is then cut at every byte: a cut inside a unit is NM_FORMAT naming the file and a byte
** offset, a cut between units reads exactly a prefix of the events, never anything else.
** Writers round-trip random events through their readers. The emulator is checked
** against the closed form floor(|ln((I2+eps)/(I1+eps))| / theta) per pixel and the
** interpolated crossing times; a static scene gives only noise, Poisson-bounded.
*/
#include <neuromorph/data.h>
#include "data/data_impl.h"

#include <hdf5.h>
#include <lz4frame.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <cmocka.h>

#ifndef NM_TEST_TMP_DIR
#define NM_TEST_TMP_DIR "/tmp"
#endif

/* ---- helpers ----------------------------------------------------------- */

static const char *tmp_path(const char *name)
{
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/test_events_%s", NM_TEST_TMP_DIR, name);
    return b;
}

static void write_raw(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    uint8_t *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* A growing byte buffer for hand-made files. */
typedef struct buf { uint8_t *b; size_t n, cap; } buf;
static void put(buf *x, const void *p, size_t n)
{
    if (x->n + n > x->cap) {
        x->cap = (x->n + n) * 2 + 64;
        x->b = realloc(x->b, x->cap);
        assert_non_null(x->b);
    }
    memcpy(x->b + x->n, p, n);
    x->n += n;
}
static void puts_(buf *x, const char *s) { put(x, s, strlen(s)); }
static void p16(buf *x, unsigned v) { uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; put(x, b, 2); }
static void p32(buf *x, uint32_t v) { uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) }; put(x, b, 4); }
static void p64(buf *x, uint64_t v) { p32(x, (uint32_t)v); p32(x, (uint32_t)(v >> 32)); }
static void p32be(buf *x, uint32_t v) { uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v }; put(x, b, 4); }

/* Expected events. */
typedef struct ev { int64_t t; int x, y, p; } ev;

static void check_events(const nm_events *e, const ev *want, int64_t n)
{
    assert_int_equal(e->n, n);
    for (int64_t i = 0; i < n; i++) {
        if (e->t[i] != want[i].t || e->x[i] != want[i].x || e->y[i] != want[i].y || e->p[i] != want[i].p)
            fail_msg("event %lld: got (t=%lld, x=%d, y=%d, p=%d), want (t=%lld, x=%d, y=%d, p=%d)", (long long)i,
                     (long long)e->t[i], e->x[i], e->y[i], e->p[i], (long long)want[i].t, want[i].x, want[i].y, want[i].p);
    }
}

static nm_events *read_ok(const char *path, nm_event_format f, nm_event_info *info)
{
    nm_event_read_opts o;
    nm_event_read_opts_default(&o);
    o.format = f;
    nm_events *e = NULL;
    nm_status st = nm_events_read(path, &o, &e, info);
    if (st) fail_msg("reading %s: %s", path, nm_errmsg());
    return e;
}

/* Cuts the file at every byte: each cut is either NM_FORMAT naming the file and a byte,
** or reads exactly the first k events of `full` (k <= full->n). is_boundary(cut) says
** which cuts are allowed to read OK; every other cut must fail. */
static void check_truncations(const char *name, const uint8_t *data, size_t n, nm_event_format f, const nm_events *full,
                              size_t header_end, size_t unit)
{
    const char *path = tmp_path(name);
    for (size_t cut = 0; cut < n; cut++) {
        write_raw(path, data, cut);
        nm_event_read_opts o;
        nm_event_read_opts_default(&o);
        o.format = f;
        nm_events *e = NULL;
        nm_status st = nm_events_read(path, &o, &e, NULL);
        int boundary = unit && cut >= header_end && (cut - header_end) % unit == 0;
        if (st) {
            assert_int_equal(st, NM_FORMAT);
            if (!strstr(nm_errmsg(), path)) fail_msg("cut %zu: message does not name the file: %s", cut, nm_errmsg());
            if (!strstr(nm_errmsg(), "byte")) fail_msg("cut %zu: message has no byte offset: %s", cut, nm_errmsg());
            if (boundary && cut >= header_end) fail_msg("cut %zu at a unit boundary failed: %s", cut, nm_errmsg());
            continue;
        }
        if (cut > header_end && !boundary) fail_msg("cut %zu (inside a unit) read OK with %lld events", cut, (long long)e->n);
        assert_true(e->n <= full->n);
        for (int64_t i = 0; i < e->n; i++) {
            if (e->t[i] != full->t[i] || e->x[i] != full->x[i] || e->y[i] != full->y[i] || e->p[i] != full->p[i])
                fail_msg("cut %zu: event %lld differs from the full file's", cut, (long long)i);
        }
        nm_events_destroy(e);
    }
}

/* ---- EVT 3.0 ----------------------------------------------------------- */

static buf make_evt3(size_t *header_end)
{
    buf x = {0};
    puts_(&x, "% evt 3.0\n% format EVT3;height=720;width=1280\n% geometry 1280x720\n% end\n");
    *header_end = x.n;
    p16(&x, 0x8000 | 0x123);       /* TIME_HIGH 0x123 */
    p16(&x, 0x6000 | 0x456);       /* TIME_LOW 0x456: t = 0x123456 */
    p16(&x, 0x0000 | 17);          /* ADDR_Y 17 */
    p16(&x, 0x2000 | 1u << 11 | 100); /* ADDR_X ON x=100 */
    p16(&x, 0x2000 | 101);         /* ADDR_X OFF x=101 */
    p16(&x, 0x7000 | 0x5);         /* CONTINUED_4: skipped */
    p16(&x, 0x3000 | 1u << 11 | 200); /* VECT_BASE_X ON 200 */
    p16(&x, 0x4000 | 0x805);       /* VECT_12 mask bits 0, 2, 11: x = 200, 202, 211 */
    p16(&x, 0x5000 | 0xF00 | 0x81);/* VECT_8 mask bits 0, 7 (bits 11-8 ignored): x = 212, 219 */
    p16(&x, 0xA000 | 1u << 8 | 1); /* EXT_TRIGGER channel 1 rising */
    p16(&x, 0xE000 | 0x001);       /* OTHERS: skipped */
    p16(&x, 0xF000 | 0xABC);       /* CONTINUED_12: skipped */
    p16(&x, 0x1000 | 0x7);         /* reserved type 1: skipped */
    p16(&x, 0x8000 | 0xFFF);       /* TIME_HIGH 0xFFF */
    p16(&x, 0x6000 | 0xFFE);       /* t = 0xFFFFFE */
    p16(&x, 0x0000 | 1u << 11 | 719); /* ADDR_Y 719, slave bit set (ignored) */
    p16(&x, 0x2000 | 1279);        /* OFF x=1279 */
    p16(&x, 0x8000 | 0x000);       /* TIME_HIGH decreases: wrap, t = 2^24 + 0xFFE */
    p16(&x, 0x2000 | 1u << 11 | 5);
    p16(&x, 0x6000 | 0x001);       /* t = 2^24 + 1 */
    p16(&x, 0x8000 | 0x002);       /* t = 2^24 + 0x2001 */
    p16(&x, 0x2000 | 6);
    p16(&x, 0x8000 | 0x001);       /* decreases again: second wrap, t = 2^25 + 0x1001 */
    p16(&x, 0x2000 | 7);
    return x;
}

static const ev evt3_want[] = {
    { 0x123456, 100, 17, 1 }, { 0x123456, 101, 17, 0 },
    { 0x123456, 200, 17, 1 }, { 0x123456, 202, 17, 1 }, { 0x123456, 211, 17, 1 },
    { 0x123456, 212, 17, 1 }, { 0x123456, 219, 17, 1 },
    { 0xFFFFFE, 1279, 719, 0 },
    { (1 << 24) + 0xFFE, 5, 719, 1 },
    { (1 << 24) + 0x2001, 6, 719, 0 },
    { (2 << 24) + 0x1001, 7, 719, 0 },
};

static void test_evt3_decode(void **state)
{
    (void)state;
    size_t he;
    buf x = make_evt3(&he);
    const char *path = tmp_path("a.raw");
    write_raw(path, x.b, x.n);
    nm_event_info in;
    nm_events *e = read_ok(path, NM_EVF_UNKNOWN, &in);   /* detected from the header */
    assert_int_equal(in.format, NM_EVF_EVT3);
    check_events(e, evt3_want, 11);
    assert_int_equal(in.width, 1280);
    assert_int_equal(in.height, 720);
    assert_int_equal(in.size_from_header, 1);
    assert_int_equal(in.triggers, 1);
    assert_int_equal(in.skipped, 4);
    assert_int_equal(in.on, 7);
    assert_int_equal(in.off, 4);
    assert_int_equal(in.t_first, 0x123456);
    assert_int_equal(in.t_last, (2 << 24) + 0x1001);

    /* streaming in chunks of 16 gives the same events */
    nm_event_reader *r = NULL;
    assert_int_equal(nm_event_reader_open(path, NULL, &r), NM_OK);
    nm_events *c = NULL;
    assert_int_equal(nm_events_create(0, &c), NM_OK);
    int64_t got, total = 0;
    do {
        assert_int_equal(nm_event_reader_read(r, c, 16, &got), NM_OK);
        for (int64_t i = 0; i < got; i++) assert_int_equal(c->t[i], e->t[total + i]);
        total += got;
    } while (got);
    assert_int_equal(total, 11);
    nm_event_reader_close(r);
    nm_events_destroy(c);

    check_truncations("a_cut.raw", x.b, x.n, NM_EVF_EVT3, e, he, 2);
    nm_events_destroy(e);
    free(x.b);
}

static void test_evt3_out_of_sensor(void **state)
{
    (void)state;
    buf x = {0};
    puts_(&x, "% evt 3.0\n% format EVT3;height=4;width=8\n% end\n");
    size_t at = x.n;
    p16(&x, 0x0000 | 1);
    p16(&x, 0x2000 | 9);   /* x = 9 on an 8-wide sensor */
    const char *path = tmp_path("oos.raw");
    write_raw(path, x.b, x.n);
    nm_events *e = NULL;
    assert_int_equal(nm_events_read(path, NULL, &e, NULL), NM_FORMAT);
    assert_null(e);
    assert_non_null(strstr(nm_errmsg(), "outside the 8x4 sensor"));
    char want[64];
    snprintf(want, sizeof want, "bytes %zu..%zu", at, x.n);
    assert_non_null(strstr(nm_errmsg(), want));
    free(x.b);
}

/* ---- EVT 2.0 ----------------------------------------------------------- */

static void test_evt2_decode(void **state)
{
    (void)state;
    buf x = {0};
    puts_(&x, "% evt 2.0\n% format EVT2;height=480;width=640\n% end\n");
    size_t he = x.n;
    p32(&x, 1u << 28 | 3u << 22 | 10u << 11 | 20);        /* CD_ON before any TIME_HIGH: skipped */
    p32(&x, 0x80000000u | 1000);                           /* TIME_HIGH: t = 1000 << 6 */
    p32(&x, 1u << 28 | 5u << 22 | 639u << 11 | 479);       /* ON  t = 64005 */
    p32(&x, 0u << 28 | 63u << 22 | 1u << 11 | 2);          /* OFF t = 64063 */
    p32(&x, 0xA0000000u | 7u << 22 | 3u << 8 | 1);          /* trigger */
    p32(&x, 0xE0000000u);                                  /* OTHERS: skipped */
    p32(&x, 0x80000000u | 0x0FFFFFFFu);                    /* TIME_HIGH max: 34-bit time */
    p32(&x, 1u << 28 | 1u << 22 | 4u << 11 | 5);
    const char *path = tmp_path("b.raw");
    write_raw(path, x.b, x.n);
    nm_event_info in;
    nm_events *e = read_ok(path, NM_EVF_UNKNOWN, &in);
    assert_int_equal(in.format, NM_EVF_EVT2);
    const ev want[] = { { 64005, 639, 479, 1 }, { 64063, 1, 2, 0 }, { ((int64_t)0x0FFFFFFF << 6) + 1, 4, 5, 1 } };
    check_events(e, want, 3);
    assert_int_equal(in.triggers, 1);
    assert_int_equal(in.skipped, 2);
    assert_int_equal(in.width, 640);
    check_truncations("b_cut.raw", x.b, x.n, NM_EVF_EVT2, e, he, 4);
    nm_events_destroy(e);
    free(x.b);
}

/* ---- N-MNIST ----------------------------------------------------------- */

static void rec5(buf *x, int xx, int y, int p, uint32_t t)
{
    uint8_t b[5] = { (uint8_t)xx, (uint8_t)y, (uint8_t)(p << 7 | (t >> 16 & 0x7F)), (uint8_t)(t >> 8), (uint8_t)t };
    put(x, b, 5);
}

static void test_nmnist_decode(void **state)
{
    (void)state;
    buf x = {0};
    rec5(&x, 3, 4, 1, 0x7FFFFF);   /* the largest 23-bit time */
    rec5(&x, 33, 33, 0, 12);
    rec5(&x, 0, 240, 0, 0);        /* timer overflow marker: +8192 to later times, no event */
    rec5(&x, 1, 2, 1, 100);
    rec5(&x, 9, 240, 1, 5);        /* a second marker */
    rec5(&x, 5, 6, 0, 100);
    const char *path = tmp_path("c.bin");
    write_raw(path, x.b, x.n);
    nm_event_info in;
    nm_events *e = read_ok(path, NM_EVF_UNKNOWN, &in);
    assert_int_equal(in.format, NM_EVF_NMNIST);
    const ev want[] = { { 0x7FFFFF, 3, 4, 1 }, { 12, 33, 33, 0 }, { 8192 + 100, 1, 2, 1 }, { 16384 + 100, 5, 6, 0 } };
    check_events(e, want, 4);
    assert_int_equal(in.width, 34);   /* largest x + 1: no header */
    assert_int_equal(in.size_from_header, 0);
    check_truncations("c_cut.bin", x.b, x.n, NM_EVF_NMNIST, e, 0, 5);

    /* without --format, a size that is not a multiple of 5 is not detected */
    write_raw(path, x.b, x.n - 1);
    nm_events *bad = NULL;
    assert_int_equal(nm_events_read(path, NULL, &bad, NULL), NM_FORMAT);
    assert_non_null(strstr(nm_errmsg(), "not a known event file"));
    nm_events_destroy(e);
    free(x.b);
}

/* ---- .dat -------------------------------------------------------------- */

static void test_dat_decode(void **state)
{
    (void)state;
    buf x = {0};
    puts_(&x, "% Data file containing CD events.\n% Version 2\n% Width 304\n% Height 240\n");
    uint8_t th[2] = { 0x0C, 8 };
    put(&x, th, 2);
    size_t he = x.n;
    p32(&x, 0xFFFFFF00u); p32(&x, 1u << 28 | 239u << 14 | 303);
    p32(&x, 0xFFFFFFF0u); p32(&x, 0u << 28 | 1u << 14 | 2);
    p32(&x, 0x10u);       p32(&x, 1u << 28 | 3u << 14 | 4);   /* wrapped: 2^32 + 16 */
    const char *path = tmp_path("d.dat");
    write_raw(path, x.b, x.n);
    nm_event_info in;
    nm_events *e = read_ok(path, NM_EVF_UNKNOWN, &in);
    assert_int_equal(in.format, NM_EVF_DAT);
    const ev want[] = { { 0xFFFFFF00u, 303, 239, 1 }, { 0xFFFFFFF0u, 2, 1, 0 }, { ((int64_t)1 << 32) + 16, 4, 3, 1 } };
    check_events(e, want, 3);
    assert_int_equal(in.width, 304);
    assert_int_equal(in.height, 240);
    check_truncations("d_cut.dat", x.b, x.n, NM_EVF_DAT, e, he, 8);
    /* the old type byte 0x00 is accepted, 0x05 is not */
    x.b[he - 2] = 0x00;
    write_raw(path, x.b, x.n);
    nm_events_destroy(read_ok(path, NM_EVF_UNKNOWN, NULL));
    x.b[he - 2] = 0x05;
    write_raw(path, x.b, x.n);
    nm_events *bad = NULL;
    assert_int_equal(nm_events_read(path, NULL, &bad, NULL), NM_FORMAT);
    assert_non_null(strstr(nm_errmsg(), "is not CD"));
    nm_events_destroy(e);
    free(x.b);
}

/* ---- AEDAT 2.0 --------------------------------------------------------- */

static void test_aedat2_layouts(void **state)
{
    (void)state;
    buf x = {0};
    puts_(&x, "#!AER-DAT2.0\r\n# a comment line\r\n");
    size_t he = x.n;
    /* dvs128: y = 5 (bits 14-8), x = 9 (bits 7-1), polarity 1 */
    p32be(&x, 5u << 8 | 9u << 1 | 1); p32be(&x, 1000);
    p32be(&x, 0x8000u | 3);           p32be(&x, 1001);     /* external event: skipped */
    p32be(&x, 127u << 8 | 0u << 1 | 0); p32be(&x, 0xFFFFFFF0u);
    p32be(&x, 1u << 8 | 2u << 1 | 1); p32be(&x, 5);        /* wrapped time */
    const char *path = tmp_path("e.aedat");
    write_raw(path, x.b, x.n);
    nm_event_info in;
    nm_events *e = read_ok(path, NM_EVF_UNKNOWN, &in);
    assert_int_equal(in.format, NM_EVF_AEDAT2);
    const ev want[] = { { 1000, 9, 5, 1 }, { 0xFFFFFFF0u, 0, 127, 0 }, { ((int64_t)1 << 32) + 5, 2, 1, 1 } };
    check_events(e, want, 3);
    assert_int_equal(in.skipped, 1);
    assert_int_equal(in.width, 128);
    check_truncations("e_cut.aedat", x.b, x.n, NM_EVF_AEDAT2, e, he, 8);

    nm_event_read_opts o;
    nm_event_read_opts_default(&o);
    o.aedat2 = NM_AEDAT2_JAER128;
    nm_events *j = NULL;
    assert_int_equal(nm_events_read(path, &o, &j, NULL), NM_OK);
    assert_int_equal(j->x[0], 127 - 9);
    assert_int_equal(j->p[0], 0);
    nm_events_destroy(j);
    o.aedat2 = NM_AEDAT2_TONIC128;
    assert_int_equal(nm_events_read(path, &o, &j, NULL), NM_OK);
    assert_int_equal(j->x[0], 5);
    assert_int_equal(j->y[0], 9);
    nm_events_destroy(j);

    /* DAVIS346: x = 345 - bits 21-12, y = 259 - bits 30-22, p = bit 11; bit 31 = APS */
    buf d = {0};
    puts_(&d, "#!AER-DAT2.0\r\n");
    p32be(&d, 250u << 22 | 300u << 12 | 1u << 11); p32be(&d, 77);
    p32be(&d, 0x80000000u);                          p32be(&d, 78);
    write_raw(path, d.b, d.n);
    o.aedat2 = NM_AEDAT2_DAVIS346;
    assert_int_equal(nm_events_read(path, &o, &j, &in), NM_OK);
    const ev wd[] = { { 77, 45, 9, 1 } };
    check_events(j, wd, 1);
    assert_int_equal(in.skipped, 1);
    assert_int_equal(in.width, 346);
    nm_events_destroy(j);
    nm_events_destroy(e);
    free(x.b);
    free(d.b);
}

/* ---- AEDAT 3.1 --------------------------------------------------------- */

static void pkt3(buf *x, int type, int size, int ovf, int num, int valid)
{
    p16(x, (unsigned)type); p16(x, 1); p32(x, (uint32_t)size); p32(x, 4); p32(x, (uint32_t)ovf);
    p32(x, (uint32_t)num); p32(x, (uint32_t)num); p32(x, (uint32_t)valid);
}
static void pol3(buf *x, int xx, int y, int p, int valid, uint32_t t)
{
    p32(x, (uint32_t)xx << 17 | (uint32_t)y << 2 | (uint32_t)p << 1 | (uint32_t)valid);
    p32(x, t);
}

static void test_aedat3_decode(void **state)
{
    (void)state;
    buf x = {0};
    puts_(&x, "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DAVIS346\r\n#Start-Time: 2020\r\n#!END-HEADER\r\n");
    size_t he = x.n;
    pkt3(&x, 1, 8, 0, 3, 2);
    pol3(&x, 345, 259, 1, 1, 10);
    pol3(&x, 1, 2, 0, 0, 11);          /* invalid: dropped, counted */
    pol3(&x, 3, 4, 0, 1, 0x7FFFFFFF);
    size_t b1 = x.n;
    pkt3(&x, 2, 12, 0, 2, 2);          /* a frame-ish packet of another type: skipped */
    for (int i = 0; i < 24; i++) { uint8_t z = (uint8_t)i; put(&x, &z, 1); }
    size_t b2 = x.n;
    pkt3(&x, 1, 8, 3, 1, 1);           /* tsOverflow 3 */
    pol3(&x, 7, 8, 1, 1, 5);
    const char *path = tmp_path("f.aedat");
    write_raw(path, x.b, x.n);
    nm_event_info in;
    nm_events *e = read_ok(path, NM_EVF_UNKNOWN, &in);
    assert_int_equal(in.format, NM_EVF_AEDAT3);
    const ev want[] = { { 10, 345, 259, 1 }, { 0x7FFFFFFF, 3, 4, 0 }, { ((int64_t)3 << 31) + 5, 7, 8, 1 } };
    check_events(e, want, 3);
    assert_int_equal(in.skipped, 2);
    /* cuts inside a packet are errors (the packet claims more than the file holds) */
    const char *cp = tmp_path("f_cut.aedat");
    for (size_t cut = he; cut < x.n; cut++) {
        write_raw(cp, x.b, cut);
        nm_events *c = NULL;
        nm_status st = nm_events_read(cp, NULL, &c, NULL);
        if (cut == he || cut == b1 || cut == b2) {
            assert_int_equal(st, NM_OK);
            assert_true(c->n <= 3);
            nm_events_destroy(c);
        } else {
            assert_int_equal(st, NM_FORMAT);
            assert_non_null(strstr(nm_errmsg(), cp));
            assert_non_null(strstr(nm_errmsg(), "byte"));
        }
    }
    /* a bad packet header */
    x.b[he + 4] = 0;   /* eventSize 0 */
    write_raw(path, x.b, x.n);
    nm_events *bad = NULL;
    assert_int_equal(nm_events_read(path, NULL, &bad, NULL), NM_FORMAT);
    assert_non_null(strstr(nm_errmsg(), "bad AEDAT 3.1 packet header"));
    nm_events_destroy(e);
    free(x.b);
}

/* ---- AEDAT 4.0 --------------------------------------------------------- */

/* A size-prefixed EventPacket FlatBuffer (identifier `id`) of n events. */
static buf fb_events(const char *id, const ev *v, int n)
{
    buf b = {0};
    p32(&b, (uint32_t)(32 + 16 * n));  /* size prefix */
    p32(&b, 16);                         /* root table at 16 */
    put(&b, id, 4);
    p16(&b, 6); p16(&b, 8); p16(&b, 4); p16(&b, 0);   /* vtable at 8: one field at +4; pad */
    p32(&b, 8);                          /* table at 16: vtable at 16 - 8 */
    p32(&b, 8);                          /* field 0 at 20: vector at 28 */
    p32(&b, 0);                          /* padding: elements 8-aligned at 32 */
    p32(&b, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        p64(&b, (uint64_t)v[i].t); p16(&b, (unsigned)v[i].x); p16(&b, (unsigned)v[i].y);
        uint8_t pad[4] = { (uint8_t)v[i].p, 0, 0, 0 };
        put(&b, pad, 4);
    }
    return b;
}

static void pkt4(buf *x, int comp, int stream, const buf *body)
{
    size_t cap = body->n * 2 + 1024;
    uint8_t *c = malloc(cap);
    size_t n;
    if (comp == 1) {
        n = LZ4F_compressFrame(c, cap, body->b, body->n, NULL);
        assert_false(LZ4F_isError(n));
    } else {
        n = ZSTD_compress(c, cap, body->b, body->n, 3);
        assert_false(ZSTD_isError(n));
    }
    p32(x, (uint32_t)stream);
    p32(x, (uint32_t)n);
    put(x, c, n);
    free(c);
}

static buf make_aedat4(int comp, size_t *he, size_t *bounds, int with_table)
{
    buf x = {0};
    puts_(&x, "#!AER-DAT4.0\r\n");
    p32(&x, 32);
    /* IOHeader: root at 16, vtable at 8 with two fields (compression at +4, position at +8) */
    p32(&x, 16); put(&x, "IOHE", 4);
    p16(&x, 8); p16(&x, 16); p16(&x, 4); p16(&x, 8);
    p32(&x, 8); p32(&x, (uint32_t)comp);
    size_t dtp_at = x.n;
    p64(&x, (uint64_t)-1);
    *he = x.n;
    const ev a[] = { { 1600000000000000LL, 345, 259, 1 }, { 1600000000000001LL, 0, 0, 0 } };
    const ev b[] = { { 1600000000000007LL, 12, 13, 1 } };
    buf pa = fb_events("EVTS", a, 2), pf = fb_events("FRME", b, 1), pb = fb_events("EVTS", b, 1);
    pkt4(&x, comp, 0, &pa);
    bounds[0] = x.n;
    pkt4(&x, comp, 1, &pf);   /* another stream: skipped */
    bounds[1] = x.n;
    pkt4(&x, comp, 0, &pb);
    bounds[2] = x.n;
    if (with_table) {   /* a data table after the packets: not a packet, not read */
        uint64_t pos = x.n;
        puts_(&x, "pretend FileDataTable bytes");
        for (int i = 0; i < 8; i++) x.b[dtp_at + (size_t)i] = (uint8_t)(pos >> (8 * i));
    }
    free(pa.b); free(pf.b); free(pb.b);
    return x;
}

static void test_aedat4_decode(void **state)
{
    (void)state;
    const ev want[] = { { 1600000000000000LL, 345, 259, 1 }, { 1600000000000001LL, 0, 0, 0 }, { 1600000000000007LL, 12, 13, 1 } };
    for (int comp = 1; comp <= 3; comp += 2) {   /* LZ4, ZSTD */
        for (int table = 0; table < 2; table++) {
            size_t he, bounds[3];
            buf x = make_aedat4(comp, &he, bounds, table);
            const char *path = tmp_path("g.aedat4");
            write_raw(path, x.b, x.n);
            nm_event_info in;
            nm_events *e = read_ok(path, NM_EVF_UNKNOWN, &in);
            assert_int_equal(in.format, NM_EVF_AEDAT4);
            check_events(e, want, 3);
            assert_int_equal(in.skipped, 1);
            if (!table) {   /* cut everywhere after the header: only packet boundaries read OK */
                const char *cp = tmp_path("g_cut.aedat4");
                for (size_t cut = 0; cut < x.n; cut++) {
                    write_raw(cp, x.b, cut);
                    nm_events *c = NULL;
                    nm_status st = nm_events_read(cp, NULL, &c, NULL);
                    int ok = cut == he || cut == bounds[0] || cut == bounds[1];
                    if (st == NM_OK) {
                        if (!ok) fail_msg("AEDAT 4 cut at %zu read OK", cut);
                        nm_events_destroy(c);
                    } else {
                        assert_int_equal(st, NM_FORMAT);
                        assert_non_null(strstr(nm_errmsg(), cp));
                        if (ok) fail_msg("AEDAT 4 cut at boundary %zu failed: %s", cut, nm_errmsg());
                    }
                }
                /* a corrupt compressed body */
                x.b[he + 12] ^= 0xFF;
                x.b[he + 13] ^= 0xFF;
                write_raw(path, x.b, x.n);
                nm_events *bad = NULL;
                assert_int_equal(nm_events_read(path, NULL, &bad, NULL), NM_FORMAT);
                assert_non_null(strstr(nm_errmsg(), "byte"));
            }
            nm_events_destroy(e);
            free(x.b);
        }
    }
}

/* ---- SHD --------------------------------------------------------------- */

static void test_shd(void **state)
{
    (void)state;
    const char *path = tmp_path("h.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t g = H5Gcreate2(f, "spikes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float t0[] = { 0.0f, 0.5f, 0.25f }, t1[] = { 1.0f };
    uint16_t u0[] = { 3, 699, 0 }, u1[] = { 42 };
    hvl_t ht[2] = { { 3, t0 }, { 1, t1 } }, hu[2] = { { 3, u0 }, { 1, u1 } };
    hsize_t two = 2;
    hid_t sp = H5Screate_simple(1, &two, NULL);
    hid_t ft = H5Tvlen_create(H5T_NATIVE_FLOAT), ut = H5Tvlen_create(H5T_NATIVE_UINT16);
    hid_t dt = H5Dcreate2(g, "times", ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t du = H5Dcreate2(g, "units", ut, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(dt, ft, H5S_ALL, H5S_ALL, H5P_DEFAULT, ht) >= 0);
    assert_true(H5Dwrite(du, ut, H5S_ALL, H5S_ALL, H5P_DEFAULT, hu) >= 0);
    uint16_t labels[2] = { 7, 19 };
    hid_t dl = H5Dcreate2(f, "labels", H5T_STD_U16LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(dl, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) >= 0);
    H5Dclose(dt); H5Dclose(du); H5Dclose(dl); H5Tclose(ft); H5Tclose(ut); H5Sclose(sp); H5Gclose(g); H5Fclose(f);

    nm_shd *s = NULL;
    assert_int_equal(nm_shd_open(path, &s), NM_OK);
    assert_int_equal(nm_shd_count(s), 2);
    nm_events *e = NULL;
    assert_int_equal(nm_events_create(0, &e), NM_OK);
    int label = -1;
    assert_int_equal(nm_shd_sample(s, 0, e, &label), NM_OK);
    const ev w0[] = { { 0, 3, 0, 1 }, { 500000, 699, 0, 1 }, { 250000, 0, 0, 1 } };
    check_events(e, w0, 3);
    assert_int_equal(label, 7);
    assert_int_equal(nm_shd_sample(s, 1, e, &label), NM_OK);
    assert_int_equal(label, 19);
    assert_int_equal(e->t[0], 1000000);
    assert_int_equal(nm_shd_sample(s, 2, e, &label), NM_INVAL);
    nm_shd_close(s);
    nm_events_destroy(e);
    /* the generic reader: all samples in order, detected from the HDF5 signature */
    nm_event_info in;
    e = read_ok(path, NM_EVF_UNKNOWN, &in);
    assert_int_equal(in.format, NM_EVF_SHD);
    assert_int_equal(e->n, 4);
    assert_int_equal(e->x[3], 42);
    assert_int_equal(in.width, 700);
    nm_events_destroy(e);
    /* an HDF5 file without the datasets */
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    assert_int_equal(nm_shd_open(path, &s), NM_FORMAT);
    assert_non_null(strstr(nm_errmsg(), "/spikes/times"));
}

/* ---- writers round-trip ------------------------------------------------ */

static nm_events *random_events(int64_t n, int w, int h, int64_t t_step, uint64_t seed)
{
    nm_events *e = NULL;
    assert_int_equal(nm_events_create(n, &e), NM_OK);
    nm_rng r;
    nm_rng_init(&r, seed, 0);
    int64_t t = 0;
    for (int64_t i = 0; i < n; i++) {
        if (nm_rng_below(&r, 4) == 0) t += nm_rng_below(&r, (uint32_t)t_step);
        int x = (int)nm_rng_below(&r, (uint32_t)w), y = (int)nm_rng_below(&r, (uint32_t)h);
        /* runs along a row, as real bursts: exercise the vector words */
        if (i && nm_rng_below(&r, 2)) { x = (e->x[i - 1] + 1 + (int)nm_rng_below(&r, 3)) % w; y = e->y[i - 1]; }
        assert_int_equal(nm_events_push(e, t, x, y, (int)nm_rng_below(&r, 2)), NM_OK);
    }
    e->width = w;
    e->height = h;
    return e;
}

static void test_writers_roundtrip(void **state)
{
    (void)state;
    const struct { nm_event_format f; int w, h; int64_t step; } cases[] = {
        { NM_EVF_NMNIST, 34, 34, 200 }, { NM_EVF_EVT3, 1280, 720, 1 << 20 }, { NM_EVF_EVT2, 640, 480, 1 << 22 },
        { NM_EVF_DAT, 304, 240, 1 << 20 }, { NM_EVF_AEDAT2, 128, 128, 1 << 20 }, { NM_EVF_AEDAT2, 346, 260, 1 << 20 },
        { NM_EVF_AEDAT3, 346, 260, 1 << 24 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nm_events *e = random_events(3000, cases[c].w, cases[c].h, cases[c].step, 7 + c);
        if (cases[c].f == NM_EVF_NMNIST)
            for (int64_t i = 0; i < e->n; i++) if (e->y[i] == 240) e->y[i] = 1;
        const char *path = tmp_path("rt.bin");
        if (nm_events_write(path, cases[c].f, e)) fail_msg("writing %s: %s", nm_event_format_name(cases[c].f), nm_errmsg());
        nm_event_read_opts o;
        nm_event_read_opts_default(&o);
        if (cases[c].f == NM_EVF_AEDAT2 && cases[c].w > 128) o.aedat2 = NM_AEDAT2_DAVIS346;
        if (cases[c].f == NM_EVF_NMNIST) o.format = NM_EVF_NMNIST;
        nm_events *back = NULL;
        if (nm_events_read(path, &o, &back, NULL)) fail_msg("reading %s back: %s", nm_event_format_name(cases[c].f), nm_errmsg());
        assert_int_equal(back->n, e->n);
        assert_memory_equal(back->t, e->t, (size_t)e->n * sizeof *e->t);
        assert_memory_equal(back->x, e->x, (size_t)e->n * sizeof *e->x);
        assert_memory_equal(back->y, e->y, (size_t)e->n * sizeof *e->y);
        assert_memory_equal(back->p, e->p, (size_t)e->n);
        if (cases[c].f == NM_EVF_EVT3) assert_true(e->t[e->n - 1] > (2 << 24));   /* several wraps crossed */
        nm_events_destroy(back);
        nm_events_destroy(e);
    }
    /* limits */
    nm_events *e = NULL;
    assert_int_equal(nm_events_create(0, &e), NM_OK);
    nm_events_push(e, (int64_t)1 << 23, 1, 1, 1);
    assert_int_equal(nm_events_write(tmp_path("lim.bin"), NM_EVF_NMNIST, e), NM_RANGE);
    e->t[0] = 5;
    e->y[0] = 240;
    assert_int_equal(nm_events_write(tmp_path("lim.bin"), NM_EVF_NMNIST, e), NM_RANGE);
    assert_int_equal(nm_events_write(tmp_path("lim.bin"), NM_EVF_SHD, e), NM_UNSUPPORTED);
    nm_events_destroy(e);
}

/* ---- detection and errors ---------------------------------------------- */

static void test_reader_errors(void **state)
{
    (void)state;
    nm_events *e = NULL;
    assert_int_equal(nm_events_read(tmp_path("nope"), NULL, &e, NULL), NM_NOTFOUND);
    const char *p = tmp_path("empty");
    write_raw(p, "", 0);
    assert_int_equal(nm_events_read(p, NULL, &e, NULL), NM_FORMAT);
    assert_non_null(strstr(nm_errmsg(), "is empty"));
    write_raw(p, "% evt 4.0\n% end\nxx", 18);
    assert_int_equal(nm_events_read(p, NULL, &e, NULL), NM_FORMAT);
    write_raw(p, "#!AER-DAT3.1\r\n#no end", 21);
    assert_int_equal(nm_events_read(p, NULL, &e, NULL), NM_FORMAT);
    assert_non_null(strstr(nm_errmsg(), "header"));
    assert_null(e);
    nm_event_format f;
    assert_int_equal(nm_event_format_parse("evt3", &f), NM_OK);
    assert_int_equal(f, NM_EVF_EVT3);
    assert_int_equal(nm_event_format_parse("evt9", &f), NM_INVAL);
}

/* ---- DVS emulator ------------------------------------------------------ */

static void test_dvs_step(void **state)
{
    (void)state;
    nm_dvs_params p;
    nm_dvs_params_default(&p);
    p.mismatch = 0.0f;
    p.theta_on = 0.2f;
    p.theta_off = 0.3f;
    const int W = 4, H = 3;
    float f1[12], f2[12];
    for (int i = 0; i < 12; i++) {
        f1[i] = 0.05f + 0.07f * (float)i;
        f2[i] = (i % 2) ? 0.9f - 0.06f * (float)i : 0.02f + 0.08f * (float)i;
    }
    nm_dvs *d = NULL;
    assert_int_equal(nm_dvs_create(W, H, &p, &d), NM_OK);
    nm_events *e = NULL;
    assert_int_equal(nm_events_create(0, &e), NM_OK);
    assert_int_equal(nm_dvs_frame(d, f1, 1000, 0, e), NM_OK);
    assert_int_equal(e->n, 0);
    assert_int_equal(nm_dvs_frame(d, f2, 2000, 0, e), NM_OK);
    int64_t total = 0;
    for (int i = 0; i < 12; i++) {
        double dl = log((double)f2[i] + p.eps) - log((double)f1[i] + p.eps);
        double th = dl > 0 ? p.theta_on : p.theta_off;
        int want = (int)floor(fabs(dl) / th + 1e-6);
        int got = 0;
        for (int64_t k = 0; k < e->n; k++)
            if (e->x[k] == i % W && e->y[k] == i / W) {
                assert_int_equal(e->p[k], dl > 0);
                /* crossing number got+1 at the interpolated time */
                double frac = (got + 1) * th / fabs(dl);
                assert_true(llabs(e->t[k] - (1000 + (int64_t)llround(frac * 1000))) <= 1);
                got++;
            }
        if (got != want) fail_msg("pixel %d: %d events, closed form %d (dL = %g)", i, got, want, dl);
        total += got;
    }
    assert_true(total > 5);
    for (int64_t k = 1; k < e->n; k++) assert_true(e->t[k] >= e->t[k - 1]);
    /* a third frame equal to the second: nothing more */
    int64_t before = e->n;
    assert_int_equal(nm_dvs_frame(d, f2, 3000, 0, e), NM_OK);
    assert_int_equal(e->n, before);
    assert_int_equal(nm_dvs_frame(d, f2, 3000, 0, e), NM_INVAL);   /* time must increase */
    nm_dvs_destroy(d);

    /* refractory longer than the frame: one event per pixel per frame at most */
    p.refractory_us = 5000;
    assert_int_equal(nm_dvs_create(W, H, &p, &d), NM_OK);
    e->n = 0;
    nm_dvs_frame(d, f1, 0, 0, e);
    nm_dvs_frame(d, f2, 1000, 0, e);
    for (int i = 0; i < 12; i++) {
        int got = 0;
        for (int64_t k = 0; k < e->n; k++) got += e->x[k] == i % W && e->y[k] == i / W;
        assert_true(got <= 1);
    }
    nm_dvs_destroy(d);
    nm_events_destroy(e);
}

static void test_dvs_static_noise(void **state)
{
    (void)state;
    nm_dvs_params p;
    nm_dvs_params_default(&p);
    const int W = 20, H = 10;
    float f[200];
    for (int i = 0; i < 200; i++) f[i] = (float)(i % 17) / 16.0f;
    nm_events *e = NULL;
    assert_int_equal(nm_events_create(0, &e), NM_OK);
    for (int noise = 0; noise < 2; noise++) {
        p.noise_hz = noise ? 5.0f : 0.0f;
        nm_dvs *d = NULL;
        assert_int_equal(nm_dvs_create(W, H, &p, &d), NM_OK);
        e->n = 0;
        for (int k = 0; k <= 100; k++) assert_int_equal(nm_dvs_frame(d, f, (int64_t)k * 10000, 3, e), NM_OK);
        nm_dvs_destroy(d);
        if (!noise) {
            assert_int_equal(e->n, 0);   /* no motion, no noise: no events */
        } else {
            double mean = 5.0 * 200 * 1.0;   /* 5 Hz x 200 pixels x 1 s */
            if (fabs((double)e->n - mean) > 5 * sqrt(mean)) fail_msg("noise events %lld, expected %g", (long long)e->n, mean);
            for (int64_t k = 1; k < e->n; k++) assert_true(e->t[k] >= e->t[k - 1]);
        }
    }
    nm_events_destroy(e);
}

static void test_dvs_saccades(void **state)
{
    (void)state;
    uint8_t img[28 * 28] = {0};
    for (int y = 8; y < 20; y++)
        for (int x = 10; x < 18; x++) img[y * 28 + x] = 200;
    nm_dvs_params p;
    nm_dvs_params_default(&p);
    nm_saccade_params s;
    nm_saccade_params_default(&s);
    nm_events *a = NULL, *b = NULL;
    assert_int_equal(nm_events_create(0, &a), NM_OK);
    assert_int_equal(nm_events_create(0, &b), NM_OK);
    assert_int_equal(nm_dvs_saccades(&p, &s, img, 28, 28, 5, a), NM_OK);
    assert_int_equal(nm_dvs_saccades(&p, &s, img, 28, 28, 5, b), NM_OK);
    assert_int_equal(a->width, 34);
    assert_true(a->n > 100);
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->t, b->t, (size_t)a->n * sizeof *a->t);
    int64_t on = 0;
    for (int64_t i = 0; i < a->n; i++) {
        assert_true(a->t[i] > 0 && a->t[i] <= 300000);
        assert_true(a->x[i] < 34 && a->y[i] < 34);
        /* events only near the square's edges (it moves at most 1 px each way) */
        int x = a->x[i] - 3, y = a->y[i] - 3;
        assert_true(x >= 8 && x <= 19 && y >= 6 && y <= 21);
        on += a->p[i];
    }
    assert_true(on > 0 && on < a->n);
    /* a blank image gives nothing */
    memset(img, 0, sizeof img);
    b->n = 0;
    assert_int_equal(nm_dvs_saccades(&p, &s, img, 28, 28, 5, b), NM_OK);
    assert_int_equal(b->n, 0);
    nm_events_destroy(a);
    nm_events_destroy(b);
}

/* ---- transforms -------------------------------------------------------- */

static nm_events *small_events(void)
{
    nm_events *e = NULL;
    assert_int_equal(nm_events_create(0, &e), NM_OK);
    const ev v[] = { { 0, 0, 0, 1 }, { 10, 1, 0, 0 }, { 15, 3, 2, 1 }, { 25, 1, 1, 1 }, { 40, 2, 2, 0 }, { 49, 3, 0, 1 } };
    for (int i = 0; i < 6; i++) nm_events_push(e, v[i].t, v[i].x, v[i].y, v[i].p);
    e->width = 4;
    e->height = 3;
    return e;
}

static void test_xform_frames(void **state)
{
    (void)state;
    nm_events *e = small_events();
    float *f = NULL;
    int64_t nf;
    nm_frame_opts o = { 20, 0, 0 };   /* windows [0,20), [20,40), [40,60) */
    assert_int_equal(nm_events_to_frames(e, &o, &f, &nf), NM_OK);
    assert_int_equal(nf, 3);
    const size_t pl = 12;
    float sum[3][2] = {{0}};
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 2; c++)
            for (size_t i = 0; i < pl; i++) sum[k][c] += f[(k * 2 + c) * pl + i];
    assert_true(sum[0][0] == 2 && sum[0][1] == 1 && sum[1][0] == 1 && sum[1][1] == 0 && sum[2][0] == 1 && sum[2][1] == 1);
    assert_true(f[(0 * 2 + 0) * pl + 2 * 4 + 3] == 1.0f);   /* event (15, 3, 2, ON) */
    nm_free(f);
    nm_frame_opts oc = { 0, 4, 0 };
    assert_int_equal(nm_events_to_frames(e, &oc, &f, &nf), NM_OK);
    assert_int_equal(nf, 2);
    nm_free(f);
    nm_frame_opts os = { 0, 0, 5 };   /* slices of 10 us over [0, 49] */
    assert_int_equal(nm_events_to_frames(e, &os, &f, &nf), NM_OK);
    assert_int_equal(nf, 5);
    assert_true(f[(1 * 2 + 1) * pl + 0 * 4 + 1] == 1.0f);   /* t=10 in slice 1, OFF */
    nm_free(f);
    nm_frame_opts bad = { 10, 5, 0 };
    assert_int_equal(nm_events_to_frames(e, &bad, &f, &nf), NM_INVAL);

    float sp[2 * 2 * 12];
    assert_int_equal(nm_events_to_spikes(e, 0, 25, 2, sp), NM_OK);
    float tot = 0;
    for (int i = 0; i < 48; i++) tot += sp[i];
    assert_true(tot == 6.0f);
    assert_true(sp[24 + 0 + 1 * 4 + 1] == 1.0f);   /* t=25 in step 1, ON plane, (1, 1) */

    float ts[24];
    assert_int_equal(nm_events_time_surface(e, 30, 10.0, ts), NM_OK);
    assert_true(fabsf(ts[1 * 4 + 1] - expf(-0.5f)) < 1e-6f);      /* ON (1,1) at 25 */
    assert_true(fabsf(ts[12 + 0 * 4 + 1] - expf(-2.0f)) < 1e-6f); /* OFF (1,0) at 10 */
    assert_true(ts[12 + 2 * 4 + 2] == 0.0f);                       /* at 40 > 30: not yet */
    nm_events_destroy(e);
}

static void test_xform_geometry(void **state)
{
    (void)state;
    nm_events *e = small_events();
    nm_events_flip(e, 1, 1, 1);
    assert_int_equal(e->x[0], 3);
    assert_int_equal(e->y[0], 2);
    assert_int_equal(e->p[0], 0);
    nm_events_destroy(e);
    e = small_events();
    assert_int_equal(nm_events_crop(e, 1, 0, 2, 2), NM_OK);   /* x in [1,3), y in [0,2) */
    assert_int_equal(e->n, 2);
    assert_int_equal(e->x[0], 0);
    assert_int_equal(e->t[1], 25);
    assert_int_equal(e->width, 2);
    nm_events_destroy(e);
    e = small_events();
    assert_int_equal(nm_events_downsample(e, 2, 2), NM_OK);
    assert_int_equal(e->width, 2);
    assert_int_equal(e->height, 2);
    assert_int_equal(e->x[2], 1);
    assert_int_equal(e->y[2], 1);
    nm_events_destroy(e);
    /* denoise: (10,1,0) has neighbour (0,0,0) 10 us before: kept with filter 10; (15,3,2)
    ** has no neighbour before it; (25,1,1) has (10,1,0) 15 us before; (40,2,2) has (25,1,1);
    ** (49,3,0) has none within 10. */
    e = small_events();
    assert_int_equal(nm_events_denoise(e, 15), NM_OK);
    const ev want[] = { { 10, 1, 0, 0 }, { 25, 1, 1, 1 }, { 40, 2, 2, 0 } };
    check_events(e, want, 3);
    nm_events_destroy(e);
    /* drop and jitter */
    e = random_events(20000, 50, 50, 100, 3);
    nm_events_drop(e, 0.0, 1);
    assert_int_equal(e->n, 20000);
    nm_events_drop(e, 0.25, 1);
    assert_true(fabs((double)e->n - 15000) < 5 * sqrt(20000 * 0.25 * 0.75));
    int64_t n = e->n;
    assert_int_equal(nm_events_jitter(e, 50.0, 2), NM_OK);
    assert_int_equal(e->n, n);
    for (int64_t i = 1; i < e->n; i++) assert_true(e->t[i] >= e->t[i - 1] && e->t[i] >= 0);
    nm_events_drop(e, 1.0, 1);
    assert_int_equal(e->n, 0);
    nm_events_destroy(e);
}

/* ---- event datasets and the frames encoding ---------------------------- */

static void test_event_set(void **state)
{
    (void)state;
    const char *path = tmp_path("s.nmev");
    nm_event_set_writer *w = NULL;
    assert_int_equal(nm_event_set_create(path, 5, 4, 3, 1000, 2, &w), NM_OK);
    nm_events *e = NULL;
    assert_int_equal(nm_events_create(0, &e), NM_OK);
    nm_events_push(e, 0, 4, 3, 1);
    nm_events_push(e, 499, 4, 3, 1);
    nm_events_push(e, 500, 0, 0, 0);
    assert_int_equal(nm_event_set_add(w, e, 2), NM_OK);
    e->n = 0;
    assert_int_equal(nm_event_set_add(w, e, 0), NM_OK);   /* an empty sample */
    nm_events_push(e, 1000, 0, 0, 0);                      /* t = duration: refused */
    assert_int_equal(nm_event_set_add(w, e, 1), NM_RANGE);
    e->t[0] = 999;
    assert_int_equal(nm_event_set_add(w, e, 3), NM_RANGE);   /* label 3 of 3 classes */
    assert_int_equal(nm_event_set_add(w, e, 1), NM_OK);
    assert_int_equal(nm_event_set_finish(w), NM_OK);

    nm_dataset *d = NULL;
    assert_int_equal(nm_event_set_load(path, 0, &d), NM_OK);
    assert_int_equal(d->n, 3);
    assert_int_equal(d->steps, 2);
    assert_int_equal(d->channels, 2);
    assert_int_equal(d->rows, 4);
    assert_int_equal(d->cols, 5);
    assert_int_equal(d->n_classes, 3);
    assert_int_equal(nm_dataset_sample_size(d), 2 * 2 * 20);
    /* sample 0: frame 0 ON (4,3) = 2; frame 1 OFF (0,0) = 1 */
    assert_int_equal(d->images[0 * 20 + 3 * 5 + 4], 2);
    assert_int_equal(d->images[(1 * 2 + 1) * 20 + 0], 1);
    assert_int_equal(d->labels[0], 2);
    assert_int_equal(d->labels[2], 1);
    /* batching counts as they are, then the frames encoding transposes to (T, batch, n) */
    int64_t idx[2] = { 0, 2 };
    float x[2 * 80], out[2 * 2 * 40];
    int lab[2];
    nm_dataset_batch(d, idx, 2, x, lab);
    assert_true(x[15 + 4] == 2.0f);
    nm_encoder enc;
    nm_encoder_default(&enc, NM_ENC_FRAMES, 2, 1);
    assert_int_equal(nm_encoder_time_rows(&enc), 2);
    nm_encode(&enc, x, 2, 40, idx, 0, out);
    for (int t = 0; t < 2; t++)
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 40; i++) assert_true(out[(t * 2 + b) * 40 + i] == x[b * 80 + t * 40 + i]);
    nm_encoding ee;
    assert_int_equal(nm_encoding_parse("frames", &ee), NM_OK);
    assert_int_equal(ee, NM_ENC_FRAMES);
    nm_dataset_destroy(d);
    assert_int_equal(nm_event_set_load(path, 4, &d), NM_OK);   /* re-binned into 4 */
    assert_int_equal(d->steps, 4);
    assert_int_equal(d->images[(2 * 2 + 1) * 20 + 0], 1);     /* t=500 of 1000 -> frame 2 */
    nm_dataset_destroy(d);

    /* corruption: every byte flip is caught (checksum, header or size) */
    size_t n;
    uint8_t *b = read_whole(path, &n);
    const char *bad = tmp_path("s_bad.nmev");
    for (size_t i = 0; i < n; i++) {
        b[i] ^= 0x41;
        write_raw(bad, b, n);
        d = NULL;
        nm_status st = nm_event_set_load(bad, 0, &d);
        if (st == NM_OK) fail_msg("a flipped byte %zu loaded", i);
        assert_non_null(strstr(nm_errmsg(), bad));
        b[i] ^= 0x41;
    }
    for (size_t cut = 0; cut < n; cut++) {
        write_raw(bad, b, cut);
        assert_int_equal(nm_event_set_load(bad, 0, &d), NM_FORMAT);
    }
    free(b);
    nm_events_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evt3_decode),
        cmocka_unit_test(test_evt3_out_of_sensor),
        cmocka_unit_test(test_evt2_decode),
        cmocka_unit_test(test_nmnist_decode),
        cmocka_unit_test(test_dat_decode),
        cmocka_unit_test(test_aedat2_layouts),
        cmocka_unit_test(test_aedat3_decode),
        cmocka_unit_test(test_aedat4_decode),
        cmocka_unit_test(test_shd),
        cmocka_unit_test(test_writers_roundtrip),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_dvs_step),
        cmocka_unit_test(test_dvs_static_noise),
        cmocka_unit_test(test_dvs_saccades),
        cmocka_unit_test(test_xform_frames),
        cmocka_unit_test(test_xform_geometry),
        cmocka_unit_test(test_event_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
