/*
** fuzz_idx.c: libFuzzer target for the idx reader and the dataset checks on top of it.
**
** Each input is written to a per-process file and read with nm_idx_read (plain or gzip,
** as the bytes say). Besides "no crash, no leak, no sanitizer report", it checks
** invariants that must hold for every input:
**   - an error leaves the output alone and its message names the file;
**   - a plain (non-gzip) file that reads OK is exactly its own re-serialization: same
**     header, same big-endian body, no byte more, so nothing was skipped or invented;
**   - a u8 array of 3 dims loads as images (against a matching label file), a u8 array
**     of 1 dim as labels (n_classes = max + 1); anything else is refused as a dataset.
** The reader's size limit is lowered to 64 MiB so a short header cannot make the
** target allocate gigabytes (libFuzzer's rss limit would call that a crash).
**
** Built by tests/CMakeLists.txt under -DNM_FUZZ=ON, or by hand: clang -g -O1
** -fsanitize=fuzzer,address,undefined -fopenmp -Iinclude -Isrc on this file plus the
** sources of src/data and src/base, linked with -ljansson -lz -lopenblas -lm; then run
** it as  ./fuzz_idx -max_total_time=30 WORKDIR tests/fuzz/corpus/idx
*/
#include <neuromorph/data.h>
/* Relative, so the target builds where only include/ is on the path (CMake's fuzz rule). */
#include "data/data_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[128], g_aux[128];

static void remove_files(void)
{
    remove(g_path);
    remove(g_aux);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(g_path, sizeof g_path, "/tmp/fuzz_idx_%ld.idx", (long)getpid());
    snprintf(g_aux, sizeof g_aux, "/tmp/fuzz_idx_%ld_aux.idx", (long)getpid());
    nm__idx_set_max_bytes((int64_t)64 << 20);
    atexit(remove_files);
    return 0;
}

/* A broken invariant: report it and abort, which libFuzzer records as a crash. */
static void broken(const char *what)
{
    fprintf(stderr, "fuzz_idx: invariant broken: %s (last error: \"%s\")\n", what, nm_errmsg());
    abort();
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* A u8 idx file of n elements in 1 or 3 dims (n x 1 x 1), element i = i % 10. */
static int write_u8(const char *path, int64_t n, int three_d)
{
    size_t hn = three_d ? 16 : 8;
    unsigned char *buf = malloc(hn + (size_t)n);
    if (!buf) return -1;
    memset(buf, 0, hn);
    buf[2] = NM_IDX_U8;
    buf[3] = (unsigned char)(three_d ? 3 : 1);
    buf[4] = (unsigned char)(n >> 24); buf[5] = (unsigned char)(n >> 16);
    buf[6] = (unsigned char)(n >> 8);  buf[7] = (unsigned char)n;
    if (three_d) buf[11] = buf[15] = 1;
    for (int64_t i = 0; i < n; i++) buf[hn + (size_t)i] = (unsigned char)(i % 10);
    int rc = write_file(path, buf, hn + (size_t)n);
    free(buf);
    return rc;
}

/* Plain input read OK: it must equal the header + big-endian body rebuilt from idx. */
static void check_reserialized(const nm_idx *idx, const uint8_t *data, size_t size)
{
    int es = nm__idx_elem_size(idx->type);
    size_t hn = 4 + 4 * (size_t)idx->n_dims, body = (size_t)idx->n_elems * (size_t)es;
    if (size != hn + body) broken("plain file length differs from header + body");
    if (data[0] || data[1] || data[2] != idx->type || data[3] != idx->n_dims) broken("magic differs");
    for (int i = 0; i < idx->n_dims; i++) {
        const uint8_t *b = data + 4 + 4 * i;
        uint32_t d = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if ((int64_t)d != idx->dims[i]) broken("dimension differs");
    }
    const uint8_t *src = idx->data, *disk = data + hn;
    for (size_t e = 0; e < (size_t)idx->n_elems; e++) {
        uint64_t host = 0, be = 0;
        if (es == 1) host = src[e];
        else if (es == 2) { uint16_t v; memcpy(&v, src + 2 * e, 2); host = v; }
        else if (es == 4) { uint32_t v; memcpy(&v, src + 4 * e, 4); host = v; }
        else memcpy(&host, src + 8 * e, 8);
        for (int k = 0; k < es; k++) be = be << 8 | disk[e * (size_t)es + (size_t)k];
        if (host != be) broken("element differs from its big-endian bytes");
    }
}

static void check_dataset(const nm_idx *idx)
{
    nm_dataset *d = NULL;
    nm_status st;
    int64_t n = idx->dims[0];

    if (idx->type == NM_IDX_U8 && idx->n_dims == 3) {
        if (write_u8(g_aux, n, 0) != 0) return;
        st = nm_dataset_load(g_path, g_aux, &d);
        if (st != NM_OK) broken("u8 3-dim images with matching labels did not load");
        if (d->n != n || d->rows != idx->dims[1] || d->cols != idx->dims[2]) broken("dataset shape");
        if (memcmp(d->images, idx->data, (size_t)idx->n_elems) != 0) broken("dataset pixels");
        if (d->n_classes != (n >= 10 ? 10 : (int)n)) broken("dataset n_classes");
        /* A slice and a batch from it, touching the first and last sample. */
        nm_dataset *s = NULL;
        if (nm_dataset_slice(d, n / 2, 3, &s) != NM_OK) broken("slice");
        size_t px = (size_t)d->rows * (size_t)d->cols;
        float *x = malloc(2 * px * sizeof *x);
        if (x) {
            int64_t pick[2] = { 0, s->n - 1 };
            int labels[2];
            nm_dataset_batch(s, pick, 2, x, labels);
            if (labels[0] != (int)((n / 2) % 10)) broken("batch label");
            for (size_t i = 0; i < 2 * px; i++)
                if (!(x[i] >= 0.0f && x[i] <= 1.0f)) broken("batch pixel out of [0, 1]");
            free(x);
        }
        nm_dataset_destroy(s);
        nm_dataset_destroy(d);
        d = NULL;
    } else if (idx->type == NM_IDX_U8 && idx->n_dims == 1) {
        if (write_u8(g_aux, n, 1) != 0) return;
        st = nm_dataset_load(g_aux, g_path, &d);
        if (st != NM_OK) broken("u8 1-dim labels with matching images did not load");
        int max = 0;
        for (int64_t i = 0; i < n; i++)
            if (((const uint8_t *)idx->data)[i] > max) max = ((const uint8_t *)idx->data)[i];
        if (d->n != n || d->n_classes != max + 1) broken("labels n or n_classes");
        nm_dataset_destroy(d);
        d = NULL;
    }
    /* The same file cannot be both images (3 dims) and labels (1 dim). */
    st = nm_dataset_load(g_path, g_path, &d);
    if (st != NM_FORMAT || d) broken("a file used as both images and labels was not NM_FORMAT");
    if (!strstr(nm_errmsg(), g_path)) broken("dataset error does not name the file");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (write_file(g_path, data, size) != 0) return 0;

    nm_idx *sentinel = (nm_idx *)(uintptr_t)0x10, *idx = sentinel;
    nm_status st = nm_idx_read(g_path, &idx);
    if (st != NM_OK) {
        if (idx != sentinel) broken("output changed on error");
        if (st != NM_FORMAT && st != NM_NOMEM && st != NM_IO) broken("unexpected status");
        if (!strstr(nm_errmsg(), g_path)) broken("error message does not name the file");
        return 0;
    }

    int es = nm__idx_elem_size(idx->type);
    if (es == 0 || idx->n_dims < 1 || idx->n_dims > NM_IDX_MAX_DIMS) broken("type or rank");
    int64_t prod = 1;
    for (int i = 0; i < idx->n_dims; i++) {
        if (idx->dims[i] < 1 || idx->dims[i] > (int64_t)UINT32_MAX) broken("dimension range");
        prod *= idx->dims[i];   /* bounded by the 64 MiB limit, cannot overflow */
    }
    if (prod != idx->n_elems || prod * es > ((int64_t)64 << 20)) broken("n_elems");
    if (((uintptr_t)idx->data & 63) != 0) broken("data not 64-byte aligned");

    int gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gzip) check_reserialized(idx, data, size);
    check_dataset(idx);
    nm_idx_destroy(idx);
    return 0;
}
