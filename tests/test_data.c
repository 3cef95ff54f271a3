/*
** test_data.c: tests of the data module (idx files, datasets, spike encoders).
**
** idx: every element type is written plain and gzip-compressed and read back
** bit-identically; every error the reader can raise is provoked with a hand-made file
** and its message checked for the file name and the key phrase. Datasets: the same for
** the loaders, then the real Fashion-MNIST, checked against published properties (10000
** test images of 28 x 28, exactly 1000 per class; first labels 9 2 1 1 6 ...) and a
** CRC-32 of the pixels taken with Python's gzip module. Encoders: current is a copy; rate
** has the right mean (5-sigma binomial bound) and is a pure function of (seed, sample id,
** epoch), whatever the batch slot or thread count; latency puts each spike at the exact
** step.
*/
#include <neuromorph/data.h>
#include "data/data_impl.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef NM_TEST_TMP_DIR
#define NM_TEST_TMP_DIR "/tmp"
#endif

/* ---- helpers ----------------------------------------------------------- */

/* NM_TEST_TMP_DIR "/test_data_<name>", in a static ring of buffers so a few can be live. */
static const char *tmp_path(const char *name)
{
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/test_data_%s", NM_TEST_TMP_DIR, name);
    return b;
}

static void write_raw(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *bytes, size_t n)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, bytes, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

static unsigned char *read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    unsigned char *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* An idx header: 00 00 type nd, then the dims big-endian. Returns its length. */
static size_t make_header(unsigned char *h, int type, int nd, const uint32_t *dims)
{
    h[0] = 0; h[1] = 0; h[2] = (unsigned char)type; h[3] = (unsigned char)nd;
    for (int i = 0; i < nd; i++) {
        h[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        h[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        h[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        h[7 + 4 * i] = (unsigned char)dims[i];
    }
    return 4 + 4 * (size_t)nd;
}

/* Writes a u8 idx with the given dims and body bytes (body_n may differ from what the
** dims promise, to make broken files). */
static void write_u8_idx(const char *path, int nd, const uint32_t *dims, const unsigned char *body, size_t body_n,
                         int gz)
{
    unsigned char *buf = malloc(64 + body_n);
    assert_non_null(buf);
    size_t h = make_header(buf, NM_IDX_U8, nd, dims);
    if (body_n) memcpy(buf + h, body, body_n);
    if (gz) write_gz(path, buf, h + body_n);
    else write_raw(path, buf, h + body_n);
    free(buf);
}

/* Checks a status and that the detail message holds each of up to three phrases. */
static void check_error_(nm_status got, nm_status want, const char *k1, const char *k2, const char *k3,
                         const char *file, int line)
{
    const char *msg = nm_errmsg();
    const char *keys[3] = { k1, k2, k3 };
    if (got != want) fail_msg("%s:%d: status %d, expected %d (message: \"%s\")", file, line, got, want, msg);
    for (int i = 0; i < 3; i++)
        if (keys[i] && !strstr(msg, keys[i]))
            fail_msg("%s:%d: message \"%s\" lacks \"%s\"", file, line, msg, keys[i]);
    print_message("PASS %s:%d: %s\n", file, line, msg);
}
#define check_error(got, want, k1, k2, k3) check_error_((got), (want), (k1), (k2), (k3), __FILE__, __LINE__)

/* Reads `path`, expecting an error; checks *out was left alone. */
static nm_status read_expect_fail(const char *path)
{
    nm_idx *sentinel = (nm_idx *)(uintptr_t)0x1234, *out = sentinel;
    nm_status st = nm_idx_read(path, &out);
    assert_ptr_equal(out, sentinel);
    return st;
}

/* High-entropy bytes from a fixed LCG, so the files are reproducible. */
static void fill_bytes(unsigned char *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (unsigned char)(seed >> 24);
    }
}

/* ---- idx round trips --------------------------------------------------- */

static void roundtrip(nm_idx_type type, int nd, const int64_t *dims, const char *name)
{
    nm_idx src;
    memset(&src, 0, sizeof src);
    src.type = type;
    src.n_dims = nd;
    src.n_elems = 1;
    for (int i = 0; i < nd; i++) {
        src.dims[i] = dims[i];
        src.n_elems *= dims[i];
    }
    int es = nm__idx_elem_size(type);
    size_t bytes = (size_t)src.n_elems * (size_t)es;
    src.data = malloc(bytes);
    assert_non_null(src.data);
    fill_bytes(src.data, bytes, 12345u + (uint32_t)type);
    if (type == NM_IDX_F32) {   /* some values worth keeping bit-exact */
        float special[] = { 2.385f, -0.0f, 1e-40f /* subnormal */, INFINITY, -3.4e38f, 0.1f };
        memcpy(src.data, special, sizeof special);
    }

    for (int gz = 0; gz < 2; gz++) {
        char nm[128];
        snprintf(nm, sizeof nm, "%s.idx%s", name, gz ? ".gz" : "");
        const char *path = tmp_path(nm);
        assert_int_equal(nm_idx_write(path, &src), NM_OK);

        /* The gzip file really is gzip, the plain one really plain and big-endian. */
        size_t n;
        unsigned char *raw = read_whole(path, &n);
        if (gz) {
            assert_true(n >= 2 && raw[0] == 0x1f && raw[1] == 0x8b);
        } else {
            assert_int_equal(n, 4 + 4 * (size_t)nd + bytes);
            assert_int_equal(raw[2], type);
            assert_int_equal(raw[3], nd);
            assert_int_equal((raw[4] << 24 | raw[5] << 16 | raw[6] << 8 | raw[7]), dims[0]);
            /* First element, big-endian on disk. */
            const unsigned char *e0 = raw + 4 + 4 * nd, *h0 = src.data;
            uint64_t host = 0, disk = 0;
            memcpy(&host, h0, (size_t)es);   /* little or big, compared as a number below */
            if (es == 2) { uint16_t v; memcpy(&v, h0, 2); host = v; }
            if (es == 4) { uint32_t v; memcpy(&v, h0, 4); host = v; }
            if (es == 1) host = h0[0];
            for (int k = 0; k < es; k++) disk = disk << 8 | e0[k];
            assert_true(host == disk);
        }
        free(raw);

        nm_idx *back = NULL;
        nm_status st = nm_idx_read(path, &back);
        if (st != NM_OK) fail_msg("reading '%s': %s", path, nm_errmsg());
        assert_int_equal(back->type, type);
        assert_int_equal(back->n_dims, nd);
        for (int i = 0; i < nd; i++) assert_int_equal(back->dims[i], dims[i]);
        assert_int_equal(back->n_elems, src.n_elems);
        assert_memory_equal(back->data, src.data, bytes);
        assert_true(((uintptr_t)back->data & 63) == 0);
        nm_idx_destroy(back);
        print_message("PASS round trip %s\n", nm);
    }
    free(src.data);
}

static void test_idx_roundtrip_all_types(void **state)
{
    (void)state;
    const int64_t d3[] = { 5, 7, 3 }, d2[] = { 11, 13 }, d1[] = { 257 }, d4[] = { 2, 3, 1, 5 };
    roundtrip(NM_IDX_U8, 3, d3, "u8");
    roundtrip(NM_IDX_I8, 1, d1, "i8");
    roundtrip(NM_IDX_I16, 2, d2, "i16");
    roundtrip(NM_IDX_I32, 4, d4, "i32");
    roundtrip(NM_IDX_F32, 2, d2, "f32");
    roundtrip(NM_IDX_F64, 3, d3, "f64");
}

/* Known values, so the byte order is checked against numbers and not only against itself. */
static void test_idx_read_known_values(void **state)
{
    (void)state;
    const uint32_t dims[] = { 3 };
    unsigned char f[4 + 4 + 12];
    size_t h = make_header(f, NM_IDX_I32, 1, dims);
    const unsigned char body[12] = { 0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff, 0xfe, 0x80, 0, 0, 0 };
    memcpy(f + h, body, sizeof body);
    const char *path = tmp_path("known_i32.idx");
    write_raw(path, f, h + sizeof body);
    nm_idx *idx = NULL;
    assert_int_equal(nm_idx_read(path, &idx), NM_OK);
    const int32_t *v = idx->data;
    assert_int_equal(v[0], 0x01020304);
    assert_int_equal(v[1], -2);
    assert_int_equal(v[2], INT32_MIN);
    nm_idx_destroy(idx);

    /* f32 1.5 is 0x3fc00000. */
    h = make_header(f, NM_IDX_F32, 1, (const uint32_t[]){ 1 });
    f[h] = 0x3f; f[h + 1] = 0xc0; f[h + 2] = 0; f[h + 3] = 0;
    path = tmp_path("known_f32.idx.gz");
    write_gz(path, f, h + 4);
    assert_int_equal(nm_idx_read(path, &idx), NM_OK);
    assert_true(((const float *)idx->data)[0] == 1.5f);
    nm_idx_destroy(idx);
    nm_idx_destroy(NULL);
}

/* ---- idx errors -------------------------------------------------------- */

static void test_idx_missing_file(void **state)
{
    (void)state;
    const char *path = tmp_path("no_such_file.idx");
    remove(path);
    check_error(read_expect_fail(path), NM_NOTFOUND, path, "cannot open", "No such file or directory");
}

static void test_idx_directory(void **state)
{
    (void)state;
    check_error(read_expect_fail(NM_TEST_TMP_DIR), NM_IO, NM_TEST_TMP_DIR, "directory", NULL);
}

static void test_idx_bad_magic(void **state)
{
    (void)state;
    const unsigned char junk[] = { 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0 };
    const char *path = tmp_path("bad_magic.idx");
    write_raw(path, junk, sizeof junk);
    check_error(read_expect_fail(path), NM_FORMAT, path, "not an idx file", "bad magic number 0x12345678");

    /* Right zeros, unknown type byte. */
    const unsigned char badtype[] = { 0, 0, 0x07, 1, 0, 0, 0, 1, 0 };
    write_raw(path, badtype, sizeof badtype);
    check_error(read_expect_fail(path), NM_FORMAT, path, "bad magic number 0x00000701", NULL);

    /* Zero and too many dimensions. */
    const unsigned char zero_dims[] = { 0, 0, 0x08, 0 };
    write_raw(path, zero_dims, sizeof zero_dims);
    check_error(read_expect_fail(path), NM_FORMAT, path, "bad magic number 0x00000800", NULL);
    const unsigned char nine_dims[] = { 0, 0, 0x08, 9 };
    write_gz(path, nine_dims, sizeof nine_dims);
    check_error(read_expect_fail(path), NM_FORMAT, path, "bad magic number 0x00000809", NULL);
}

static void test_idx_truncated_header(void **state)
{
    (void)state;
    const char *path = tmp_path("trunc_header.idx");
    const unsigned char three[] = { 0, 0, 8 };
    write_raw(path, three, sizeof three);
    check_error(read_expect_fail(path), NM_FORMAT, path, "is truncated", "file has 3");

    write_raw(path, three, 0);   /* empty file */
    check_error(read_expect_fail(path), NM_FORMAT, path, "is truncated", "file has 0");

    /* Magic says 3 dims (16 header bytes); only 10 are there. */
    const unsigned char partial[] = { 0, 0, 8, 3, 0, 0, 0, 5, 0, 0 };
    write_raw(path, partial, sizeof partial);
    check_error(read_expect_fail(path), NM_FORMAT, path, "needs 16 bytes", "file has 10");
}

static void test_idx_truncated_body(void **state)
{
    (void)state;
    const uint32_t dims[] = { 10, 4, 4 };
    unsigned char body[200];
    fill_bytes(body, sizeof body, 7);
    const char *path = tmp_path("trunc_body.idx");
    write_u8_idx(path, 3, dims, body, 100, 0);
    check_error(read_expect_fail(path), NM_FORMAT, path, "is truncated",
                "header promises 160 bytes of data, file has 100");

    const char *gzpath = tmp_path("trunc_body.idx.gz");
    write_u8_idx(gzpath, 3, dims, body, 100, 1);
    check_error(read_expect_fail(gzpath), NM_FORMAT, gzpath, "header promises 160 bytes of data",
                "file has 100");
}

/* A gzip file cut short: zlib hands back what it had; the reader calls it truncated. */
static void test_idx_truncated_gzip(void **state)
{
    (void)state;
    const uint32_t dims[] = { 50, 20, 20 };
    static unsigned char body[20000];
    fill_bytes(body, sizeof body, 99);   /* random: deflate cannot shrink it much */
    const char *path = tmp_path("cut.idx.gz");
    write_u8_idx(path, 3, dims, body, sizeof body, 1);
    size_t n;
    unsigned char *raw = read_whole(path, &n);
    write_raw(path, raw, n / 2);
    free(raw);
    check_error(read_expect_fail(path), NM_FORMAT, path, "is truncated", "gzip stream ends early");
}

static void test_idx_trailing_bytes(void **state)
{
    (void)state;
    const uint32_t dims[] = { 10, 4, 4 };
    unsigned char body[200];
    fill_bytes(body, sizeof body, 8);
    const char *path = tmp_path("trailing.idx");
    write_u8_idx(path, 3, dims, body, 165, 0);
    check_error(read_expect_fail(path), NM_FORMAT, path, "has 5 trailing bytes after the data", NULL);

    const char *gzpath = tmp_path("trailing.idx.gz");
    write_u8_idx(gzpath, 3, dims, body, 161, 1);
    check_error(read_expect_fail(gzpath), NM_FORMAT, gzpath, "has 1 trailing byte after", NULL);
}

static void test_idx_corrupt_gzip(void **state)
{
    (void)state;
    const uint32_t dims[] = { 10, 4, 4 };
    unsigned char body[160];
    fill_bytes(body, sizeof body, 9);
    const char *path = tmp_path("corrupt.idx.gz");

    /* A wrong CRC in the gzip trailer: every byte decodes, the check at the end fails. */
    write_u8_idx(path, 3, dims, body, sizeof body, 1);
    size_t n;
    unsigned char *raw = read_whole(path, &n);
    raw[n - 8] ^= 0x5a;
    write_raw(path, raw, n);
    check_error(read_expect_fail(path), NM_FORMAT, path, "gzip", "incorrect data check");

    /* A deflate block of the reserved type 3, right after the 10-byte gzip header. */
    raw[n - 8] ^= 0x5a;
    raw[10] = 0xff;
    write_raw(path, raw, n);
    check_error(read_expect_fail(path), NM_FORMAT, path, "gzip", "invalid block type");
    free(raw);
}

static void test_idx_zero_and_huge_dims(void **state)
{
    (void)state;
    const char *path = tmp_path("dims.idx");
    const uint32_t zero[] = { 10, 0, 4 };
    write_u8_idx(path, 3, zero, NULL, 0, 0);
    check_error(read_expect_fail(path), NM_FORMAT, path, "zero-length dimension", NULL);

    /* 2^48 bytes: refused from the header alone. */
    const uint32_t huge[] = { 65536, 65536, 65536 };
    write_u8_idx(path, 3, huge, (const unsigned char *)"abc", 3, 0);
    check_error(read_expect_fail(path), NM_FORMAT, path, "too large", "65536 x 65536 x 65536");

    /* Every dim at the u32 maximum: the product must not wrap around. */
    const uint32_t maxd[] = { 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
                              0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu };
    write_u8_idx(path, 8, maxd, NULL, 0, 0);
    check_error(read_expect_fail(path), NM_FORMAT, path, "too large", NULL);

    /* 8 GiB promised (under the limit), 10 bytes present: fails as truncated, having
    ** allocated only the first chunk. */
    const uint32_t big[] = { 65536, 65536, 2 };
    write_u8_idx(path, 3, big, (const unsigned char *)"0123456789", 10, 0);
    check_error(read_expect_fail(path), NM_FORMAT, path, "header promises 8589934592 bytes of data",
                "file has 10");

    /* The private limit the fuzz target lowers. */
    int64_t old = nm__idx_set_max_bytes(100);
    const uint32_t small[] = { 101 };
    unsigned char body[101] = { 0 };
    write_u8_idx(path, 1, small, body, sizeof body, 0);
    check_error(read_expect_fail(path), NM_FORMAT, path, "too large", "100 bytes");
    nm__idx_set_max_bytes(old);
    nm_idx *ok = NULL;
    assert_int_equal(nm_idx_read(path, &ok), NM_OK);   /* default limit again */
    assert_int_equal(ok->n_elems, 101);
    nm_idx_destroy(ok);
}

static void test_idx_write_invalid(void **state)
{
    (void)state;
    const char *path = tmp_path("invalid_write.idx");
    uint8_t data[6] = { 1, 2, 3, 4, 5, 6 };
    nm_idx idx;
    memset(&idx, 0, sizeof idx);
    idx.type = (nm_idx_type)0x07;
    idx.n_dims = 1;
    idx.dims[0] = 6;
    idx.n_elems = 6;
    idx.data = data;
    check_error(nm_idx_write(path, &idx), NM_INVAL, path, "element type 0x07", NULL);
    idx.type = NM_IDX_U8;
    idx.n_elems = 5;
    check_error(nm_idx_write(path, &idx), NM_INVAL, path, "n_elems is 5", NULL);
    idx.n_elems = 6;
    idx.n_dims = 0;
    check_error(nm_idx_write(path, &idx), NM_INVAL, path, "dimensions", NULL);
    idx.n_dims = 2;
    idx.dims[1] = 0;
    check_error(nm_idx_write(path, &idx), NM_INVAL, path, "dimension 2 is 0", NULL);
    check_error(nm_idx_write(path, NULL), NM_INVAL, "NULL", NULL, NULL);
}

/* ---- datasets ---------------------------------------------------------- */

/* Writes images (n, rows, cols) with pixel (s, i) = (s * 37 + i * 11) % 256 and labels
** s % n_classes. */
static void write_set(const char *img, const char *lbl, uint32_t n_img, uint32_t n_lbl, int rows, int cols,
                      int n_classes, int gz)
{
    size_t px = (size_t)rows * (size_t)cols;
    unsigned char *pix = malloc(n_img * px + 1), *lab = malloc(n_lbl + 1);
    assert_non_null(pix);
    assert_non_null(lab);
    for (size_t s = 0; s < n_img; s++)
        for (size_t i = 0; i < px; i++) pix[s * px + i] = (unsigned char)((s * 37 + i * 11) % 256);
    for (size_t s = 0; s < n_lbl; s++) lab[s] = (unsigned char)(s % (size_t)n_classes);
    const uint32_t di[] = { n_img, (uint32_t)rows, (uint32_t)cols }, dl[] = { n_lbl };
    write_u8_idx(img, 3, di, pix, n_img * px, gz);
    write_u8_idx(lbl, 1, dl, lab, n_lbl, gz);
    free(pix);
    free(lab);
}

static void test_dataset_load_slice_batch(void **state)
{
    (void)state;
    const char *img = tmp_path("set-images.idx.gz"), *lbl = tmp_path("set-labels.idx");
    write_set(img, lbl, 6, 6, 3, 2, 4, 1);
    /* Labels plain, images gzip: mixing is fine. */
    write_set(tmp_path("unused-images.idx"), lbl, 6, 6, 3, 2, 4, 0);

    nm_dataset *d = NULL;
    if (nm_dataset_load(img, lbl, &d) != NM_OK) fail_msg("%s", nm_errmsg());
    assert_int_equal(d->n, 6);
    assert_int_equal(d->rows, 3);
    assert_int_equal(d->cols, 2);
    assert_int_equal(d->n_classes, 4);
    for (int s = 0; s < 6; s++) {
        assert_int_equal(d->labels[s], s % 4);
        for (int i = 0; i < 6; i++) assert_int_equal(d->images[s * 6 + i], (s * 37 + i * 11) % 256);
    }

    /* Batch: pixel / 255 exactly, labels as int, in the order asked. */
    const int64_t pick[3] = { 5, 0, 5 };
    float x[3 * 6];
    int labels[3];
    nm_dataset_batch(d, pick, 3, x, labels);
    for (int b = 0; b < 3; b++) {
        assert_int_equal(labels[b], pick[b] % 4);
        for (int i = 0; i < 6; i++) assert_true(x[b * 6 + i] == (float)((pick[b] * 37 + i * 11) % 256) / 255.0f);
    }
    nm_dataset_batch(d, pick, 1, x, NULL);   /* labels are optional */

    /* Slices: a middle part, then clamping at both ends. */
    nm_dataset *s = NULL;
    assert_int_equal(nm_dataset_slice(d, 2, 3, &s), NM_OK);
    assert_int_equal(s->n, 3);
    assert_int_equal(s->n_classes, 4);
    assert_memory_equal(s->images, d->images + 2 * 6, 3 * 6);
    assert_memory_equal(s->labels, d->labels + 2, 3);
    nm_dataset_destroy(s);
    assert_int_equal(nm_dataset_slice(d, 4, 100, &s), NM_OK);
    assert_int_equal(s->n, 2);
    assert_memory_equal(s->labels, d->labels + 4, 2);
    nm_dataset_destroy(s);
    assert_int_equal(nm_dataset_slice(d, -3, 2, &s), NM_OK);
    assert_int_equal(s->n, 2);
    assert_memory_equal(s->images, d->images, 2 * 6);
    nm_dataset_destroy(s);
    assert_int_equal(nm_dataset_slice(d, 10, 2, &s), NM_OK);
    assert_int_equal(s->n, 0);
    assert_int_equal(s->rows, 3);
    nm_dataset_destroy(s);
    assert_int_equal(nm_dataset_slice(d, 0, INT64_MAX, &s), NM_OK);
    assert_int_equal(s->n, 6);
    nm_dataset_destroy(s);
    check_error(nm_dataset_slice(NULL, 0, 1, &s), NM_INVAL, NULL, NULL, NULL);

    nm_dataset_destroy(d);
    nm_dataset_destroy(NULL);
}

static void test_dataset_count_mismatch(void **state)
{
    (void)state;
    const char *img = tmp_path("mm-images.idx"), *lbl = tmp_path("mm-labels.idx.gz");
    write_set(img, lbl, 6, 5, 2, 2, 3, 0);
    write_set(tmp_path("mm-unused.idx"), lbl, 6, 5, 2, 2, 3, 1);
    nm_dataset *d = (nm_dataset *)(uintptr_t)0x1234;
    check_error(nm_dataset_load(img, lbl, &d), NM_SHAPE, img, "has 6 images but", lbl);
    check_error(nm_dataset_load(img, lbl, &d), NM_SHAPE, "has 5 labels", NULL, NULL);
    assert_ptr_equal(d, (nm_dataset *)(uintptr_t)0x1234);
}

static void test_dataset_wrong_type_rank(void **state)
{
    (void)state;
    const char *img = tmp_path("wt-images.idx"), *lbl = tmp_path("wt-labels.idx");
    write_set(img, lbl, 4, 4, 2, 2, 2, 0);
    nm_dataset *d = NULL;

    /* f32 images. */
    const char *fimg = tmp_path("wt-images-f32.idx");
    float fx[4 * 2 * 2] = { 0 };
    nm_idx f = { NM_IDX_F32, 3, { 4, 2, 2 }, 16, fx };
    assert_int_equal(nm_idx_write(fimg, &f), NM_OK);
    check_error(nm_dataset_load(fimg, lbl, &d), NM_FORMAT, fimg, "not an image file", "found f32 in 3 dimensions");

    /* u8 images in 2 dimensions. */
    const char *flat = tmp_path("wt-images-2d.idx");
    const uint32_t d2[] = { 4, 4 };
    const unsigned char px[16] = { 0 };
    write_u8_idx(flat, 2, d2, px, 16, 0);
    check_error(nm_dataset_load(flat, lbl, &d), NM_FORMAT, flat, "expected u8 elements in 3 dimensions",
                "found u8 in 2 dimensions (4 x 4)");

    /* Labels in 2 dimensions, then labels of type i32. */
    check_error(nm_dataset_load(img, flat, &d), NM_FORMAT, flat, "not a label file", "in 1 dimension");
    const char *ilbl = tmp_path("wt-labels-i32.idx");
    int32_t il[4] = { 0, 1, 0, 1 };
    nm_idx li = { NM_IDX_I32, 1, { 4 }, 4, il };
    assert_int_equal(nm_idx_write(ilbl, &li), NM_OK);
    check_error(nm_dataset_load(img, ilbl, &d), NM_FORMAT, ilbl, "not a label file", "found i32");

    /* An error inside either file comes through with that file's name. */
    const char *missing = tmp_path("wt-missing.idx");
    remove(missing);
    check_error(nm_dataset_load(img, missing, &d), NM_NOTFOUND, missing, "cannot open", NULL);
    check_error(nm_dataset_load(missing, lbl, &d), NM_NOTFOUND, missing, "cannot open", NULL);
    assert_null(d);
}

/* A fresh empty directory NM_TEST_TMP_DIR/test_data_<name>. */
static const char *fresh_dir(const char *name)
{
    const char *dir = tmp_path(name);
    const char *files[] = { "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz",
                            "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz" };
    char p[1200];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) fail_msg("mkdir '%s': %s", dir, strerror(errno));
    return dir;
}

static void test_dataset_load_dir(void **state)
{
    (void)state;
    nm_dataset *d = NULL;
    char img[1200], lbl[1200], want[1200];

    /* Missing directory, a file where the directory should be, a bad split. */
    const char *nodir = tmp_path("no_such_dir");
    rmdir(nodir);
    check_error(nm_dataset_load_dir(nodir, "t10k", &d), NM_NOTFOUND, "data directory", nodir, "does not exist");
    const char *afile = tmp_path("not_a_dir");
    write_raw(afile, "x", 1);
    check_error(nm_dataset_load_dir(afile, "t10k", &d), NM_NOTFOUND, afile, "not a directory", NULL);
    const char *dir = fresh_dir("dir_plain");
    check_error(nm_dataset_load_dir(dir, "valid", &d), NM_INVAL, "valid", "train or t10k", NULL);

    /* Empty directory: names the images file looked for. */
    snprintf(want, sizeof want, "%s/t10k-images-idx3-ubyte", dir);
    check_error(nm_dataset_load_dir(dir, "t10k", &d), NM_NOTFOUND, want, "looked for", NULL);

    /* Images there (plain), labels not: names the labels file. */
    snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte", dir);
    snprintf(lbl, sizeof lbl, "%s/t10k-labels-idx1-ubyte", dir);
    write_set(img, lbl, 5, 5, 4, 3, 5, 0);
    remove(lbl);
    check_error(nm_dataset_load_dir(dir, "t10k", &d), NM_NOTFOUND, lbl, "labels", NULL);
    assert_null(d);

    /* Both plain. */
    write_set(img, lbl, 5, 5, 4, 3, 5, 0);
    if (nm_dataset_load_dir(dir, "t10k", &d) != NM_OK) fail_msg("%s", nm_errmsg());
    assert_int_equal(d->n, 5);
    assert_int_equal(d->rows, 4);
    assert_int_equal(d->cols, 3);
    assert_int_equal(d->n_classes, 5);
    nm_dataset_destroy(d);
    d = NULL;

    /* ".gz" wins when both exist: make the gzip pair differ from the plain one. */
    char gimg[1300], glbl[1300];
    snprintf(gimg, sizeof gimg, "%s.gz", img);
    snprintf(glbl, sizeof glbl, "%s.gz", lbl);
    write_set(gimg, glbl, 7, 7, 4, 3, 2, 1);
    assert_int_equal(nm_dataset_load_dir(dir, "t10k", &d), NM_OK);
    assert_int_equal(d->n, 7);
    assert_int_equal(d->n_classes, 2);
    nm_dataset_destroy(d);
    d = NULL;

    /* "train" is looked for under its own name. */
    snprintf(want, sizeof want, "%s/train-images-idx3-ubyte", dir);
    check_error(nm_dataset_load_dir(dir, "train", &d), NM_NOTFOUND, want, NULL, NULL);
}

/* ---- the real Fashion-MNIST -------------------------------------------- */

static void require_fashion_mnist(void)
{
    struct stat sb;
    if (stat(NM_DEFAULT_DATA_DIR, &sb) != 0)
        fail_msg("Fashion-MNIST is not installed at %s: run the project setup (it installs Debian's "
                 "dataset-fashion-mnist package there) before the tests",
                 NM_DEFAULT_DATA_DIR);
}

static void test_fashion_mnist_t10k(void **state)
{
    (void)state;
    require_fashion_mnist();
    nm_dataset *d = NULL;
    if (nm_dataset_load_dir(NM_DEFAULT_DATA_DIR, "t10k", &d) != NM_OK) fail_msg("%s", nm_errmsg());
    assert_int_equal(d->n, 10000);
    assert_int_equal(d->rows, 28);
    assert_int_equal(d->cols, 28);
    assert_int_equal(d->n_classes, 10);
    int hist[10] = { 0 };
    for (int64_t i = 0; i < d->n; i++) {
        assert_true(d->labels[i] < 10);
        hist[d->labels[i]]++;
    }
    for (int c = 0; c < 10; c++) {
        if (hist[c] != 1000) fail_msg("class %d has %d test images, expected 1000", c, hist[c]);
    }
    /* First labels of the test set: ankle boot, pullover, trouser, trouser, shirt, ... */
    const uint8_t first[10] = { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 };
    assert_memory_equal(d->labels, first, 10);
    /* CRC-32 of all pixels and labels, taken with Python's gzip + zlib.crc32. */
    assert_int_equal(crc32(0, d->images, 10000u * 784u), 0x12728439u);
    assert_int_equal(crc32(0, d->labels, 10000u), 0x242bc73fu);
    print_message("PASS Fashion-MNIST t10k: 10000 x 28 x 28, 1000 per class, CRC-32 matches\n");
    nm_dataset_destroy(d);
}

static void test_fashion_mnist_train(void **state)
{
    (void)state;
    require_fashion_mnist();
    nm_dataset *d = NULL;
    if (nm_dataset_load_dir(NM_DEFAULT_DATA_DIR, "train", &d) != NM_OK) fail_msg("%s", nm_errmsg());
    assert_int_equal(d->n, 60000);
    assert_int_equal(d->rows, 28);
    assert_int_equal(d->cols, 28);
    assert_int_equal(d->n_classes, 10);
    int hist[10] = { 0 };
    for (int64_t i = 0; i < d->n; i++) hist[d->labels[i]]++;
    for (int c = 0; c < 10; c++) assert_int_equal(hist[c], 6000);
    nm_dataset_destroy(d);
}

/* ---- encoders ---------------------------------------------------------- */

static void test_encoding_names(void **state)
{
    (void)state;
    const nm_encoding all[] = { NM_ENC_CURRENT, NM_ENC_RATE, NM_ENC_LATENCY };
    for (int i = 0; i < 3; i++) {
        nm_encoding e = (nm_encoding)99;
        assert_int_equal(nm_encoding_parse(nm_encoding_name(all[i]), &e), NM_OK);
        assert_int_equal(e, all[i]);
    }
    assert_string_equal(nm_encoding_name(NM_ENC_RATE), "rate");
    nm_encoding e = NM_ENC_LATENCY;
    check_error(nm_encoding_parse("poisson", &e), NM_INVAL, "'poisson'", "current, rate or latency", NULL);
    check_error(nm_encoding_parse("Rate", &e), NM_INVAL, "'Rate'", NULL, NULL);
    check_error(nm_encoding_parse(NULL, &e), NM_INVAL, NULL, NULL, NULL);
    assert_int_equal(e, NM_ENC_LATENCY);   /* unchanged on error */

    nm_encoder enc;
    nm_encoder_default(&enc, NM_ENC_RATE, 25, 42);
    assert_int_equal(enc.kind, NM_ENC_RATE);
    assert_int_equal(enc.n_steps, 25);
    assert_true(enc.gain == 1.0f && enc.threshold == 0.01f);
    assert_int_equal(enc.seed, 42);
    assert_int_equal(nm_encoder_time_rows(&enc), 25);
    enc.kind = NM_ENC_CURRENT;
    assert_int_equal(nm_encoder_time_rows(&enc), 1);
    enc.kind = NM_ENC_LATENCY;
    assert_int_equal(nm_encoder_time_rows(&enc), 25);
}

static void test_encode_current(void **state)
{
    (void)state;
    enum { B = 3, N = 7 };
    float x[B * N], out[B * N + 4];
    for (int i = 0; i < B * N; i++) x[i] = (float)i * 0.0417f - 0.1f;
    for (int i = 0; i < B * N + 4; i++) out[i] = -7.0f;
    nm_encoder e;
    nm_encoder_default(&e, NM_ENC_CURRENT, 50, 1);
    nm_encode(&e, x, B, N, NULL, 0, out);
    assert_memory_equal(out, x, sizeof x);
    for (int i = B * N; i < B * N + 4; i++) assert_true(out[i] == -7.0f);   /* one row only */
}

static void test_encode_rate_mean(void **state)
{
    (void)state;
    enum { B = 2, N = 6, T = 20000 };
    const float xs[N] = { 0.0f, 0.0417f, 0.385f, 0.5f, 0.913f, 1.0f };
    float x[B * N];
    for (int b = 0; b < B; b++) memcpy(x + b * N, xs, sizeof xs);
    float *out = malloc(sizeof(float) * T * B * N);
    assert_non_null(out);
    const float gains[2] = { 1.0f, 0.6f };
    for (int g = 0; g < 2; g++) {
        nm_encoder e;
        nm_encoder_default(&e, NM_ENC_RATE, T, 20240521u);
        e.gain = gains[g];
        const int64_t ids[B] = { 17, 40001 };
        nm_encode(&e, x, B, N, ids, 3, out);
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < N; i++) {
                double p = (double)(gains[g] * xs[i]);
                if (p > 1.0) p = 1.0;
                long count = 0;
                for (int t = 0; t < T; t++) {
                    float v = out[((size_t)t * B + b) * N + i];
                    assert_true(v == 0.0f || v == 1.0f);
                    count += v == 1.0f;
                }
                double mean = (double)count / T, sigma = sqrt(p * (1.0 - p) / T);
                /* p = 0 and p = 1 are exact (u is in [0, 1)); else a 5-sigma bound. */
                if (fabs(mean - p) > 5.0 * sigma)
                    fail_msg("rate: gain %g x %g: mean %.5f, expected %.5f +- %.5f (5 sigma)", gains[g], xs[i],
                             mean, p, 5.0 * sigma);
                print_message("PASS rate gain %.2f x %.4f: mean %.5f vs %.5f (5 sigma %.5f)\n", gains[g], xs[i],
                              mean, p, 5.0 * sigma);
            }
        }
    }
    free(out);
}

/* Rate spikes are a function of (seed, sample id, epoch, t, i) only. */
static void test_encode_rate_reproducible(void **state)
{
    (void)state;
    enum { N = 50, T = 16 };
    float rows[3][N];   /* samples 7, 3, 11 */
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < N; i++) rows[s][i] = (float)((i * 7 + s * 13) % 50) / 49.0f;
    nm_encoder e;
    nm_encoder_default(&e, NM_ENC_RATE, T, 987654321u);

    /* Batch A = (7, 3, 11); batch B = (11, 7): other slots, other batch size. */
    float xa[3 * N], xb[2 * N];
    memcpy(xa, rows[0], sizeof rows[0]);
    memcpy(xa + N, rows[1], sizeof rows[1]);
    memcpy(xa + 2 * N, rows[2], sizeof rows[2]);
    memcpy(xb, rows[2], sizeof rows[2]);
    memcpy(xb + N, rows[0], sizeof rows[0]);
    const int64_t ida[3] = { 7, 3, 11 }, idb[2] = { 11, 7 };
    static float oa[T * 3 * N], oa2[T * 3 * N], ob[T * 2 * N], oc[T * 3 * N];
    nm_encode(&e, xa, 3, N, ida, 5, oa);
    nm_encode(&e, xa, 3, N, ida, 5, oa2);
    nm_encode(&e, xb, 2, N, idb, 5, ob);
    assert_memory_equal(oa, oa2, sizeof oa);
    long spikes = 0;
    for (int t = 0; t < T; t++) {
        /* sample 7: slot 0 of A, slot 1 of B; sample 11: slot 2 of A, slot 0 of B */
        assert_memory_equal(oa + (t * 3 + 0) * N, ob + (t * 2 + 1) * N, N * sizeof(float));
        assert_memory_equal(oa + (t * 3 + 2) * N, ob + (t * 2 + 0) * N, N * sizeof(float));
        for (int i = 0; i < 3 * N; i++) spikes += oa[t * 3 * N + i] == 1.0f;
    }
    assert_true(spikes > 0 && spikes < T * 3 * N);   /* not degenerate */

    /* Another epoch, another seed: fresh spikes. */
    nm_encode(&e, xa, 3, N, ida, 6, oc);
    assert_true(memcmp(oa, oc, sizeof oa) != 0);
    e.seed++;
    nm_encode(&e, xa, 3, N, ida, 5, oc);
    assert_true(memcmp(oa, oc, sizeof oa) != 0);
    e.seed--;

    /* The same row under two ids gives different spikes; under its own id, the same. */
    const int64_t id7 = 7, id8 = 8;
    static float p7[T * N], p8[T * N];
    nm_encode(&e, rows[0], 1, N, &id7, 5, p7);
    nm_encode(&e, rows[0], 1, N, &id8, 5, p8);
    assert_true(memcmp(p7, p8, sizeof p7) != 0);
    for (int t = 0; t < T; t++) assert_memory_equal(p7 + t * N, oa + (t * 3 + 0) * N, N * sizeof(float));
}

/* The fast rate path against its definition, element by element: spike iff
** nm_rand_uniform_at(seed, sample_id + (epoch << 40), t*n + i) < gain * x. n = 37 is
** odd, so rows start in the middle of Philox blocks. */
static void test_encode_rate_reference(void **state)
{
    (void)state;
    enum { B = 3, N = 37, T = 9 };
    float x[B * N], out[T * B * N];
    for (int i = 0; i < B * N; i++) x[i] = (float)((i * 17) % 101) / 100.0f;
    const int64_t ids[B] = { 0, 59999, (int64_t)1 << 39 };
    nm_encoder e;
    nm_encoder_default(&e, NM_ENC_RATE, T, 0x0123456789abcdefull);
    e.gain = 0.85f;
    const uint64_t epoch = 12;
    nm_encode(&e, x, B, N, ids, epoch, out);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < N; i++) {
                float u = nm_rand_uniform_at(e.seed, (uint64_t)ids[b] + (epoch << 40), (uint64_t)t * N + (uint64_t)i);
                float want = u < e.gain * x[b * N + i] ? 1.0f : 0.0f;
                if (out[(t * B + b) * N + i] != want)
                    fail_msg("rate t=%d b=%d i=%d: %g, reference %g", t, b, i, out[(t * B + b) * N + i], want);
            }
}

static void test_encode_thread_count(void **state)
{
    (void)state;
#ifdef _OPENMP
    enum { B = 24, N = 784, T = 8 };
    float *x = malloc(sizeof(float) * B * N);
    float *o1 = malloc(sizeof(float) * T * B * N), *o2 = malloc(sizeof(float) * T * B * N);
    float *o4 = malloc(sizeof(float) * T * B * N);
    assert_true(x && o1 && o2 && o4);
    for (int i = 0; i < B * N; i++) x[i] = (float)((i * 2654435761u) % 1000u) / 999.0f;
    int64_t ids[B];
    for (int b = 0; b < B; b++) ids[b] = 1000 + 37 * b;
    int saved = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        nm_encoder e;
        nm_encoder_default(&e, k ? NM_ENC_LATENCY : NM_ENC_RATE, T, 31337u);
        omp_set_num_threads(1);
        nm_encode(&e, x, B, N, ids, 2, o1);
        omp_set_num_threads(2);
        nm_encode(&e, x, B, N, ids, 2, o2);
        omp_set_num_threads(4);
        nm_encode(&e, x, B, N, ids, 2, o4);
        assert_memory_equal(o1, o2, sizeof(float) * T * B * N);
        assert_memory_equal(o1, o4, sizeof(float) * T * B * N);
        print_message("PASS %s: 1, 2 and 4 threads agree\n", nm_encoding_name(e.kind));
    }
    omp_set_num_threads(saved);
    free(x);
    free(o1);
    free(o2);
    free(o4);
#else
    print_message("built without OpenMP: one thread only, nothing to compare\n");
#endif
}

static void test_encode_latency(void **state)
{
    (void)state;
    enum { N = 8, T = 11 };
    /* x -> expected step round((1 - x) * 10), -1 = no spike (below threshold 0.01). */
    const float x[N] = { 1.0f, 0.5f, 0.25f, 0.0f, 0.01f, 0.009f, 0.8f, 1.7f };
    const int want[N] = { 0, 5, 8 /* 7.5 rounds up */, -1, 10 /* 9.9 */, -1, 2, 0 /* clamped */ };
    float out[T * N + 4];
    for (int i = 0; i < T * N + 4; i++) out[i] = -1.0f;
    nm_encoder e;
    nm_encoder_default(&e, NM_ENC_LATENCY, T, 0);
    nm_encode(&e, x, 1, N, NULL, 0, out);
    for (int i = 0; i < N; i++)
        for (int t = 0; t < T; t++) {
            float v = out[t * N + i];
            if (v != (t == want[i] ? 1.0f : 0.0f))
                fail_msg("latency x=%g: step %d holds %g (spike expected at %d)", x[i], t, v, want[i]);
        }
    for (int i = T * N; i < T * N + 4; i++) assert_true(out[i] == -1.0f);

    /* Two samples, the second's layout is (t, b, i); a raised threshold silences 0.25. */
    float x2[2 * 2] = { 0.5f, 0.25f, 1.0f, 0.3f };
    float o2[T * 2 * 2];
    e.threshold = 0.26f;
    nm_encode(&e, x2, 2, 2, NULL, 0, o2);
    for (int t = 0; t < T; t++) {
        assert_true(o2[(t * 2 + 0) * 2 + 0] == (t == 5 ? 1.0f : 0.0f));
        assert_true(o2[(t * 2 + 0) * 2 + 1] == 0.0f);
        assert_true(o2[(t * 2 + 1) * 2 + 0] == (t == 0 ? 1.0f : 0.0f));
        assert_true(o2[(t * 2 + 1) * 2 + 1] == (t == 7 ? 1.0f : 0.0f));   /* 0.7 * 10 */
    }

    /* T = 1: everything above threshold fires at step 0. */
    float o1[N];
    nm_encoder_default(&e, NM_ENC_LATENCY, 1, 0);
    nm_encode(&e, x, 1, N, NULL, 0, o1);
    for (int i = 0; i < N; i++) assert_true(o1[i] == (want[i] >= 0 ? 1.0f : 0.0f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_roundtrip_all_types),
        cmocka_unit_test(test_idx_read_known_values),
        cmocka_unit_test(test_idx_missing_file),
        cmocka_unit_test(test_idx_directory),
        cmocka_unit_test(test_idx_bad_magic),
        cmocka_unit_test(test_idx_truncated_header),
        cmocka_unit_test(test_idx_truncated_body),
        cmocka_unit_test(test_idx_truncated_gzip),
        cmocka_unit_test(test_idx_trailing_bytes),
        cmocka_unit_test(test_idx_corrupt_gzip),
        cmocka_unit_test(test_idx_zero_and_huge_dims),
        cmocka_unit_test(test_idx_write_invalid),
        cmocka_unit_test(test_dataset_load_slice_batch),
        cmocka_unit_test(test_dataset_count_mismatch),
        cmocka_unit_test(test_dataset_wrong_type_rank),
        cmocka_unit_test(test_dataset_load_dir),
        cmocka_unit_test(test_fashion_mnist_t10k),
        cmocka_unit_test(test_fashion_mnist_train),
        cmocka_unit_test(test_encoding_names),
        cmocka_unit_test(test_encode_current),
        cmocka_unit_test(test_encode_rate_mean),
        cmocka_unit_test(test_encode_rate_reproducible),
        cmocka_unit_test(test_encode_rate_reference),
        cmocka_unit_test(test_encode_thread_count),
        cmocka_unit_test(test_encode_latency),
    };
    return cmocka_run_group_tests_name("data", tests, NULL, NULL);
}
