/*
** dataset.c: image classification datasets (MNIST-style image + label idx pairs).
**
** A dataset is two blocks: images (n, rows, cols) u8 and labels (n) u8. Loading takes
** the bodies nm_idx_read allocated as they are (no copy), after checking that the image
** file holds u8 in 3 dimensions, the label file u8 in 1 dimension, and that both count
** the same samples. Anything else is an error naming the file: a model trained on
** images paired with the wrong labels fails silently, so the check is not optional.
**
** nm_dataset_batch is the per-step hot path of training: it gathers `batch` samples by
** index into floats in [0, 1].
*/
#include "data_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Describes the element type and shape of `idx` for error messages ("i32 in 2 dimensions
** (10 x 5)"). */
static void describe(const nm_idx *idx, char *buf, size_t cap)
{
    char ds[160];
    nm__idx_format_dims(idx->dims, idx->n_dims, ds, sizeof ds);
    snprintf(buf, cap, "%s in %d dimension%s (%s)", nm__idx_type_name(idx->type), idx->n_dims,
             idx->n_dims == 1 ? "" : "s", ds);
}

nm_status nm_dataset_load(const char *images_path, const char *labels_path, nm_dataset **out)
{
    nm_status st = NM_OK;
    nm_idx *img = NULL, *lbl = NULL;
    nm_dataset *d = NULL;
    char what[256];

    if (!images_path || !labels_path || !out)
        return nm__error(NM_INVAL, "nm_dataset_load: paths and out must not be NULL");
    if ((st = nm_idx_read(images_path, &img)) != NM_OK) goto fail;
    if (img->type != NM_IDX_U8 || img->n_dims != 3) {
        describe(img, what, sizeof what);
        st = nm__error(NM_FORMAT, "'%s' is not an image file: expected u8 elements in 3 dimensions "
                       "(images x rows x cols), found %s", images_path, what);
        goto fail;
    }
    /* rows*cols is an int everywhere downstream (input layer width). */
    if (img->dims[1] * img->dims[2] > INT_MAX) {
        st = nm__error(NM_FORMAT, "'%s' has images of %lld x %lld pixels, more than %d per image are not "
                       "supported", images_path, (long long)img->dims[1], (long long)img->dims[2], INT_MAX);
        goto fail;
    }
    if ((st = nm_idx_read(labels_path, &lbl)) != NM_OK) goto fail;
    if (lbl->type != NM_IDX_U8 || lbl->n_dims != 1) {
        describe(lbl, what, sizeof what);
        st = nm__error(NM_FORMAT, "'%s' is not a label file: expected u8 elements in 1 dimension, found %s",
                       labels_path, what);
        goto fail;
    }
    if (img->dims[0] != lbl->dims[0]) {
        st = nm__error(NM_SHAPE, "'%s' has %lld images but '%s' has %lld labels", images_path,
                       (long long)img->dims[0], labels_path, (long long)lbl->dims[0]);
        goto fail;
    }
    if (!(d = nm_alloc(sizeof *d))) {
        st = nm__error(NM_NOMEM, "out of memory loading '%s'", images_path);
        goto fail;
    }

    int max_label = 0;
    const uint8_t *lab = lbl->data;
    for (int64_t i = 0; i < lbl->n_elems; i++)
        if (lab[i] > max_label) max_label = lab[i];

    d->n = img->dims[0];
    d->rows = (int)img->dims[1];
    d->cols = (int)img->dims[2];
    d->n_classes = max_label + 1;
    d->images = img->data;   /* taken over from the idx arrays */
    d->labels = lbl->data;
    img->data = NULL;
    lbl->data = NULL;
    nm_idx_destroy(img);
    nm_idx_destroy(lbl);
    *out = d;
    return NM_OK;

fail:
    nm_idx_destroy(img);
    nm_idx_destroy(lbl);
    nm_free(d);
    return st;
}

/* Sets *path to "<dir>/<split>-<kind>-ubyte.gz" if that file exists, else to the name
** without ".gz" if that exists; NM_NOTFOUND naming both otherwise. *path is nm_alloc'ed. */
static nm_status find_file(const char *dir, const char *split, const char *kind, char **path)
{
    struct stat sb;
    size_t cap = strlen(dir) + strlen(split) + strlen(kind) + 32;
    char *p = nm_alloc(cap);
    if (!p) return nm__error(NM_NOMEM, "out of memory");
    snprintf(p, cap, "%s/%s-%s-ubyte.gz", dir, split, kind);
    if (stat(p, &sb) == 0) {
        *path = p;
        return NM_OK;
    }
    p[strlen(p) - 3] = '\0';   /* drop ".gz" */
    if (stat(p, &sb) == 0) {
        *path = p;
        return NM_OK;
    }
    nm_status st = nm__error(NM_NOTFOUND, "data directory '%s' has no %s %s file: looked for '%s.gz' and '%s'",
                             dir, split, kind, p, p);
    nm_free(p);
    return st;
}

nm_status nm_dataset_load_dir(const char *dir, const char *split, nm_dataset **out)
{
    nm_status st = NM_OK;
    char *img = NULL, *lbl = NULL;
    struct stat sb;

    if (!dir || !split || !out) return nm__error(NM_INVAL, "nm_dataset_load_dir: arguments must not be NULL");
    if (strcmp(split, "train") != 0 && strcmp(split, "t10k") != 0)
        return nm__error(NM_INVAL, "unknown split '%s' (choose train or t10k)", split);
    if (stat(dir, &sb) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) return nm__error(NM_NOTFOUND, "data directory '%s' does not exist", dir);
        return nm__error(NM_IO, "cannot open data directory '%s': %s", dir, strerror(e));
    }
    if (!S_ISDIR(sb.st_mode)) return nm__error(NM_NOTFOUND, "data directory '%s' is not a directory", dir);

    if ((st = find_file(dir, split, "images-idx3", &img)) != NM_OK) goto fail;
    if ((st = find_file(dir, split, "labels-idx1", &lbl)) != NM_OK) goto fail;
    st = nm_dataset_load(img, lbl, out);
fail:
    nm_free(img);
    nm_free(lbl);
    return st;
}

nm_status nm_dataset_slice(const nm_dataset *src, int64_t first, int64_t n, nm_dataset **out)
{
    nm_dataset *d = NULL;
    if (!src || !out) return nm__error(NM_INVAL, "nm_dataset_slice: src and out must not be NULL");

    /* Clamp [first, first + n) to [0, src->n), written so no sum can overflow. */
    if (first < 0) first = 0;
    if (first > src->n) first = src->n;
    if (n < 0) n = 0;
    if (n > src->n - first) n = src->n - first;

    size_t px = (size_t)nm_dataset_sample_size(src);
    if (!(d = nm_alloc(sizeof *d))) goto nomem;
    d->n = n;
    d->rows = src->rows;
    d->cols = src->cols;
    d->steps = src->steps;
    d->channels = src->channels;
    d->counts = src->counts;
    d->n_classes = src->n_classes;   /* the source's, so every slice has the same output width */
    if (n > 0) {
        if (!(d->images = nm_alloc((size_t)n * px)) || !(d->labels = nm_alloc((size_t)n))) goto nomem;
        memcpy(d->images, src->images + (size_t)first * px, (size_t)n * px);
        memcpy(d->labels, src->labels + first, (size_t)n);
    }
    *out = d;
    return NM_OK;

nomem:
    nm_dataset_destroy(d);
    return nm__error(NM_NOMEM, "out of memory slicing a dataset (%lld samples)", (long long)n);
}

void nm_dataset_destroy(nm_dataset *d)
{
    if (!d) return;
    nm_free(d->images);
    nm_free(d->labels);
    nm_free(d);
}

int64_t nm_dataset_sample_size(const nm_dataset *d)
{
    NM_ASSERT(d);
    int64_t s = (int64_t)d->rows * d->cols;
    if (d->steps > 1) s *= d->steps;
    if (d->channels > 1) s *= d->channels;
    return s;
}

void nm_dataset_batch(const nm_dataset *d, const int64_t *idx, int batch, float *x, int *labels)
{
    NM_ASSERT(d && (batch == 0 || (idx && x)));
    const size_t px = (size_t)nm_dataset_sample_size(d);
    for (int b = 0; b < batch; b++) {
        int64_t s = idx[b];
        NM_ASSERT(s >= 0 && s < d->n);
        const uint8_t *src = d->images + (size_t)s * px;
        float *dst = x + (size_t)b * px;
        for (size_t i = 0; i < px; i++) dst[i] = d->counts ? (float)src[i] : (float)src[i] / 255.0f;
        if (labels) labels[b] = d->labels[s];
    }
}
