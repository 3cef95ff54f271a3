/*
** data: datasets and spike encoders.
**
** idx files (LeCun's format, as MNIST and Fashion-MNIST ship it) are read plain or
** gzip-compressed, through zlib, with the header checked against the file: a wrong magic
** number, a truncated body, trailing bytes, or images and labels of different counts
** each end with an error naming the file and the problem. Nothing is silently cut.
**
** Encoders turn a batch of intensities in [0, 1] into the input the executor steps
** through: a direct current (the same value at every step, stored once), Bernoulli rate
** spikes, or latency spikes (one spike, earlier for brighter pixels).
*/
#ifndef NEUROMORPH_DATA_H
#define NEUROMORPH_DATA_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- idx files --------------------------------------------------------- */

/* Element types of the idx format (third byte of the magic number). */
typedef enum {
    NM_IDX_U8 = 0x08, NM_IDX_I8 = 0x09, NM_IDX_I16 = 0x0B,
    NM_IDX_I32 = 0x0C, NM_IDX_F32 = 0x0D, NM_IDX_F64 = 0x0E
} nm_idx_type;

#define NM_IDX_MAX_DIMS 8

/* A whole idx array in memory. Multi-byte elements are converted to host order. */
typedef struct nm_idx {
    nm_idx_type type;
    int         n_dims;
    int64_t     dims[NM_IDX_MAX_DIMS];
    int64_t     n_elems;     /* product of dims */
    void       *data;        /* n_elems elements of `type`, host byte order */
} nm_idx;

/* Reads an idx file, gzip-compressed or plain (detected from the content). Errors:
** NM_NOTFOUND (missing file), NM_IO (unreadable), NM_FORMAT (bad magic, zero or too many
** dimensions, truncated body, trailing bytes, corrupt gzip stream), NM_NOMEM. The detail
** message names the file. On error *out is left unchanged. */
nm_status nm_idx_read(const char *path, nm_idx **out);
/* Writes an idx file; gzip-compressed when `path` ends in ".gz". Atomic. */
nm_status nm_idx_write(const char *path, const nm_idx *idx);
void      nm_idx_destroy(nm_idx *idx);   /* accepts NULL */

/* ---- image classification datasets ------------------------------------ */

/* Images with integer labels, as one block each. */
typedef struct nm_dataset {
    int64_t  n;           /* number of samples */
    int      rows, cols;  /* image size; a sample has rows*cols values */
    int      n_classes;   /* 1 + the largest label */
    uint8_t *images;      /* (n, rows, cols) row-major, 0..255 */
    uint8_t *labels;      /* (n), 0..n_classes-1 */
} nm_dataset;

/* Loads an image idx file (u8, 3 dims) and a label idx file (u8, 1 dim). Errors as
** nm_idx_read, plus NM_FORMAT for a wrong element type or rank and NM_SHAPE when the
** counts differ ("... 60000 images but 59999 labels"). */
nm_status nm_dataset_load(const char *images_path, const char *labels_path, nm_dataset **out);
/* Loads split "train" or "t10k" from a directory holding
** <split>-images-idx3-ubyte[.gz] and <split>-labels-idx1-ubyte[.gz]. NM_NOTFOUND names the
** directory and the file looked for when either is missing. */
nm_status nm_dataset_load_dir(const char *dir, const char *split, nm_dataset **out);
/* A copy of samples [first, first + n) (clamped to the set). */
nm_status nm_dataset_slice(const nm_dataset *src, int64_t first, int64_t n, nm_dataset **out);
void      nm_dataset_destroy(nm_dataset *d);   /* accepts NULL */
/* The directory Debian's dataset-fashion-mnist installs. */
#define NM_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

/* Fills x (batch, rows*cols) with pixel/255 of samples idx[0..batch). */
void nm_dataset_batch(const nm_dataset *d, const int64_t *idx, int batch, float *x, int *labels);

/* ---- spike encoders ---------------------------------------------------- */

typedef enum {
    NM_ENC_CURRENT = 0,  /* x itself at every step (time-constant: stored once) */
    NM_ENC_RATE    = 1,  /* spike with probability gain*x at every step            */
    NM_ENC_LATENCY = 2   /* one spike at step round((1 - x) * (T - 1)), none if x < threshold */
} nm_encoding;

/* Name <-> value ("current", "rate", "latency"); parse returns NM_INVAL for others. */
const char *nm_encoding_name(nm_encoding e);
nm_status   nm_encoding_parse(const char *s, nm_encoding *out);

typedef struct nm_encoder {
    nm_encoding kind;
    int         n_steps;     /* T */
    float       gain;        /* rate: probability per step = gain * x (default 1) */
    float       threshold;   /* latency: intensities below it do not spike (default 0.01) */
    uint64_t    seed;        /* rate: random key */
} nm_encoder;

void nm_encoder_default(nm_encoder *e, nm_encoding kind, int n_steps, uint64_t seed);
/* Number of time rows the encoded tensor has: 1 for NM_ENC_CURRENT, else n_steps. */
int  nm_encoder_time_rows(const nm_encoder *e);
/* Encodes x (batch, n) into out (time_rows, batch, n). For rate coding the draw for
** element i of sample `sample_ids[b]` at step t comes from Philox at
** (seed, stream = sample_ids[b], counter = t*n + i): the spikes of a sample do not depend
** on which batch it falls in, on the epoch order, or on the thread count. `epoch` is
** mixed into the stream so each epoch sees fresh spikes. */
void nm_encode(const nm_encoder *e, const float *x, int batch, int64_t n,
               const int64_t *sample_ids, uint64_t epoch, float *out);

#ifdef __cplusplus
}
#endif
#endif
