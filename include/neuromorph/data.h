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
    uint8_t *images;      /* (n, rows, cols) row-major, 0..255; with frames (below),
                             (n, steps, channels, rows, cols) */
    uint8_t *labels;      /* (n), 0..n_classes-1 */
    /* Event datasets: a sample is `steps` frames of `channels` (ON, OFF) planes each.
    ** 0 means 1 (a static image). A sample then holds steps*channels*rows*cols values,
    ** and one time step's input is channels*rows*cols wide. */
    int      steps, channels;
    int      counts;      /* 1: values are event counts, batched as they are, not /255 */
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

/* Values per sample: steps*channels*rows*cols (rows*cols for a static image set). */
int64_t nm_dataset_sample_size(const nm_dataset *d);
/* Fills x (batch, nm_dataset_sample_size) with pixel/255 of samples idx[0..batch) (the
** counts themselves for a set with counts = 1). */
void nm_dataset_batch(const nm_dataset *d, const int64_t *idx, int batch, float *x, int *labels);

/* ---- spike encoders ---------------------------------------------------- */

typedef enum {
    NM_ENC_CURRENT = 0,  /* x itself at every step (time-constant: stored once) */
    NM_ENC_RATE    = 1,  /* spike with probability gain*x at every step            */
    NM_ENC_LATENCY = 2,  /* one spike at step round((1 - x) * (T - 1)), none if x < threshold */
    NM_ENC_FRAMES  = 3   /* the sample is already T frames: x (batch, T*n) -> (T, batch, n) */
} nm_encoding;

/* Name <-> value ("current", "rate", "latency", "frames"); parse returns NM_INVAL for others. */
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

/* ---- event data -------------------------------------------------------- */
/*
** Event cameras report (t, x, y, polarity) tuples. neuromorph keeps them as a structure
** of arrays with the sensor size, reads every common file format through one streaming
** reader (format detected from the content, chunks of at most N events, so files larger
** than memory can be processed), writes the simple formats, emulates a DVS sensor from
** images, and turns events into frames and spike tensors. Byte layouts: README, "Event
** data". Readers never return fewer events silently: a truncated or corrupt file is
** NM_FORMAT with the file name and the byte offset in the detail message.
*/

/* Events, structure of arrays. t in microseconds (64-bit: EVT 3.0's 24-bit time and
** EVT 2.0's 34-bit time are unwrapped); p is 1 for ON (brighter), 0 for OFF. */
typedef struct nm_events {
    int64_t   n, cap;
    int64_t  *t;        /* (n) µs */
    uint16_t *x, *y;    /* (n) pixels */
    uint8_t  *p;        /* (n) 0 OFF, 1 ON */
    int       width, height;   /* sensor size; 0 when not known */
} nm_events;

/* An empty event list with room for `cap` events (cap may be 0). NM_NOMEM. */
nm_status nm_events_create(int64_t cap, nm_events **out);
void      nm_events_destroy(nm_events *e);   /* accepts NULL */
/* Grows the arrays to hold at least cap events (contents kept). NM_NOMEM. */
nm_status nm_events_reserve(nm_events *e, int64_t cap);
/* Appends one event (grows as needed). */
nm_status nm_events_push(nm_events *e, int64_t t, int x, int y, int p);
/* Sorts by time, stably (events of equal time keep their order). NM_NOMEM. */
nm_status nm_events_sort(nm_events *e);

typedef enum {
    NM_EVF_UNKNOWN = 0,   /* detect from the content */
    NM_EVF_NMNIST,        /* N-MNIST / N-Caltech101 .bin: 5-byte records, no header */
    NM_EVF_AEDAT2,        /* #!AER-DAT2.0: big-endian address + timestamp */
    NM_EVF_AEDAT3,        /* #!AER-DAT3.1: packets, polarity events */
    NM_EVF_AEDAT4,        /* #!AER-DAT4.0: FlatBuffers packets, LZ4/ZSTD compressed */
    NM_EVF_EVT2,          /* Prophesee .raw, EVT 2.0 (32-bit words) */
    NM_EVF_EVT3,          /* Prophesee .raw, EVT 3.0 (16-bit words) */
    NM_EVF_DAT,           /* Prophesee legacy .dat (8-byte CD records) */
    NM_EVF_SHD,           /* SHD/SSC spikes (HDF5): x = unit, y = 0, p = 1 */
    NM_EVF_COUNT
} nm_event_format;

/* "nmnist", "aedat2", "aedat3", "aedat4", "evt2", "evt3", "dat", "shd" ("unknown" for 0). */
const char *nm_event_format_name(nm_event_format f);
nm_status   nm_event_format_parse(const char *s, nm_event_format *out);
/* The format a file's first bytes say (NM_EVF_UNKNOWN if none): AEDAT and Prophesee
** headers, the HDF5 signature; a headerless file whose size is a multiple of 5 is N-MNIST. */
nm_event_format nm_event_format_detect(const uint8_t *head, size_t n, int64_t file_size);

/* Address layouts of AEDAT 2.0 (the meaning of the 32-bit address is chip-specific). */
typedef enum {
    NM_AEDAT2_DVS128 = 0,  /* iniVation: bit 0 polarity (1 ON), x bits 7-1, y bits 14-8 (default) */
    NM_AEDAT2_JAER128,     /* jAER's DVS128: as above, but raw 1 is OFF and x = 127 - x */
    NM_AEDAT2_TONIC128,    /* Tonic's read_dvs_128: x bits 14-8, y bits 7-1 */
    NM_AEDAT2_DAVIS346     /* jAER DAVIS346: x = 345 - bits 21-12, y = 259 - bits 30-22, p bit 11 */
} nm_aedat2_layout;
const char *nm_aedat2_layout_name(nm_aedat2_layout l);
nm_status   nm_aedat2_layout_parse(const char *s, nm_aedat2_layout *out);

typedef struct nm_event_read_opts {
    nm_event_format  format;        /* NM_EVF_UNKNOWN: detect (default) */
    nm_aedat2_layout aedat2;        /* default NM_AEDAT2_DVS128 */
    int              width, height; /* sensor size for formats without one (0: from the data) */
} nm_event_read_opts;
void nm_event_read_opts_default(nm_event_read_opts *o);

/* What a reader has seen so far. */
typedef struct nm_event_info {
    nm_event_format format;
    int      width, height;    /* from the header, else 1 + the largest x, y seen */
    int      size_from_header; /* 1 when width/height come from the file's header */
    int64_t  events, on, off;  /* returned so far */
    int64_t  t_first, t_last;  /* of the events returned (µs); 0 if none */
    int64_t  triggers;         /* external trigger events (EVT 2/3), not returned as events */
    int64_t  skipped;          /* words or packets of unknown or other types, skipped */
    int64_t  bytes;            /* bytes of the file decoded so far */
} nm_event_info;

typedef struct nm_event_reader nm_event_reader;
/* Opens a file and reads its header. NM_NOTFOUND, NM_IO, NM_FORMAT (unrecognized content,
** bad header: "'f.raw': bad EVT 3.0 header at byte 12: ..."), NM_NOMEM. */
nm_status nm_event_reader_open(const char *path, const nm_event_read_opts *o, nm_event_reader **out);
/* Replaces the contents of `out` with the next at most `max` (>= 16) events; *n_read is
** 0 at the end of the file. out->width/height are set from the file. Errors: NM_FORMAT
** naming the file and byte offset (truncated file, corrupt packet), NM_IO, NM_NOMEM.
** After an error the reader only returns that error again. */
nm_status nm_event_reader_read(nm_event_reader *r, nm_events *out, int64_t max, int64_t *n_read);
void      nm_event_reader_info(const nm_event_reader *r, nm_event_info *info);
void      nm_event_reader_close(nm_event_reader *r);   /* accepts NULL */

/* Reads a whole file (the reader in chunks). info may be NULL. */
nm_status nm_events_read(const char *path, const nm_event_read_opts *o, nm_events **out, nm_event_info *info);
/* Writes events in one of the simple formats: nmnist, aedat2 (DVS128 layout for sensors up
** to 128x128, else DAVIS346), aedat3, evt2, evt3, dat. e->width/height go into the headers.
** Atomic. NM_RANGE when an event does not fit the format (x or y too large, negative time,
** time beyond N-MNIST's 23 bits, N-MNIST's reserved y = 240); NM_INVAL for events that go
** back in time (except nmnist and aedat2); NM_UNSUPPORTED for aedat4 and shd. */
nm_status nm_events_write(const char *path, nm_event_format f, const nm_events *e);

/* SHD/SSC (Cramer et al. 2020): /spikes/times (vlen float, s), /spikes/units (vlen u16),
** /labels, one row per sample. */
typedef struct nm_shd nm_shd;
nm_status nm_shd_open(const char *path, nm_shd **out);
int64_t   nm_shd_count(const nm_shd *s);
/* Sample i as events (t = round(time * 1e6) µs, x = unit, y = 0, p = 1) and its label. */
nm_status nm_shd_sample(nm_shd *s, int64_t i, nm_events *out, int *label);
void      nm_shd_close(nm_shd *s);

/* ---- DVS emulator ------------------------------------------------------ */
/*
** A pixel fires when its log intensity L = ln(I + eps) has moved by its threshold since
** its last event: ON for +theta_on_i, OFF for -theta_off_i, one event per crossing, the
** reference moving by theta each time (so a step of dL gives floor(dL / theta) events).
** Crossing times are interpolated linearly between frames. theta_i = theta * (1 + mismatch
** * n_i), n_i standard normal from Philox (seed, stream 0, pixel): the fixed pattern of a
** sensor. A crossing within `refractory_us` of the pixel's last event is lost (the
** reference still moves). Background noise: Poisson, noise_hz per pixel, random
** polarity, uniform in time; it does not move the reference.
*/
typedef struct nm_dvs_params {
    float   theta_on, theta_off;  /* log-intensity thresholds (default 0.25 both) */
    float   mismatch;             /* relative sd of theta across pixels (default 0.03) */
    float   eps;                  /* intensity offset inside the log (default 0.1; I in [0, 1]) */
    int64_t refractory_us;        /* default 0 */
    float   noise_hz;             /* background events per pixel per second (default 0) */
    uint64_t seed;                /* default 1 */
} nm_dvs_params;
void nm_dvs_params_default(nm_dvs_params *p);

typedef struct nm_dvs nm_dvs;
nm_status nm_dvs_create(int width, int height, const nm_dvs_params *p, nm_dvs **out);
void      nm_dvs_destroy(nm_dvs *d);   /* accepts NULL */
/* Feeds a frame (height, width) of intensities at time t_us (increasing). The first frame
** only sets the reference. Appends the events since the previous frame to out, sorted by
** time. `stream` keys the noise draws (use a different one per recording). */
nm_status nm_dvs_frame(nm_dvs *d, const float *frame, int64_t t_us, uint64_t stream, nm_events *out);

/* N-MNIST-style saccades (Orchard et al. 2015): the image, placed with `margin` pixels on
** each side, moves along a triangle in three straight saccades, each of saccade_us, seen
** at `steps` frames per saccade (bilinear shifts). */
typedef struct nm_saccade_params {
    int     margin;        /* default 3 (28x28 -> 34x34, as N-MNIST) */
    float   amplitude;     /* pixels (default 2) */
    int64_t saccade_us;    /* default 100000 */
    int     steps;         /* frames per saccade (default 20) */
} nm_saccade_params;
void nm_saccade_params_default(nm_saccade_params *s);
/* Appends the events of one image (rows, cols) u8 to out (out->width/height set to the
** sensor). stream keys the noise. */
nm_status nm_dvs_saccades(const nm_dvs_params *p, const nm_saccade_params *s, const uint8_t *img, int rows, int cols,
                          uint64_t stream, nm_events *out);

/* ---- event transforms -------------------------------------------------- */

/* Frames: (n_frames, 2, height, width) event counts, channel 0 ON, 1 OFF. Exactly one of
** window_us, count, slices is > 0: fixed time windows from the first event, fixed event
** counts, or `slices` equal time slices of [t_first, t_last]. *frames is nm_alloc'ed. */
typedef struct nm_frame_opts { int64_t window_us, count; int slices; } nm_frame_opts;
nm_status nm_events_to_frames(const nm_events *e, const nm_frame_opts *o, float **frames, int64_t *n_frames);
/* Binary spike tensor for the engine: (T, 2*height*width), 1 where a pixel of that
** polarity had an event in step t = (t_ev - t0) / dt_us (events at or after T are dropped). */
nm_status nm_events_to_spikes(const nm_events *e, int64_t t0, int64_t dt_us, int T, float *out);
/* Background-activity filter: keeps an event when one of its 8 neighbours had an event
** within filter_us before it. In place. NM_NOMEM, NM_INVAL without a sensor size. */
nm_status nm_events_denoise(nm_events *e, int64_t filter_us);
/* x /= fx, y /= fy (sensor size divided, rounded up). In place. */
nm_status nm_events_downsample(nm_events *e, int fx, int fy);
/* Keeps events inside [x0, x0+w) x [y0, y0+h), shifted to the origin. In place. */
nm_status nm_events_crop(nm_events *e, int x0, int y0, int w, int h);
/* Mirrors x (lr), y (ud), or inverts polarity. In place. */
void      nm_events_flip(nm_events *e, int lr, int ud, int polarity);
/* Adds normal noise of sd_us to every time (Philox (seed, stream 1, index)), clamps at 0,
** and re-sorts. */
nm_status nm_events_jitter(nm_events *e, double sd_us, uint64_t seed);
/* Drops each event with probability p (Philox (seed, stream 2, index)). In place. */
void      nm_events_drop(nm_events *e, double p, uint64_t seed);
/* Time surface at time t: (2, height, width), exp(-(t - t_last)/tau_us) of each pixel's
** last event at or before t (0 for none). */
nm_status nm_events_time_surface(const nm_events *e, int64_t t, double tau_us, float *out);

/* ---- event datasets ---------------------------------------------------- */
/*
** An event dataset is a directory with train.nmev and t10k.nmev (layout in the README):
** labelled samples of events, each recorded over `duration_us`. Loading one as an
** nm_dataset bins each sample into `steps` equal time slices, ON/OFF as two channels.
*/
typedef struct nm_event_set_writer nm_event_set_writer;
/* steps: the number of frames a sample is binned into by default when loaded. */
nm_status nm_event_set_create(const char *path, int width, int height, int n_classes, int64_t duration_us, int steps,
                              nm_event_set_writer **out);
/* Appends one sample. NM_RANGE for events outside the sensor, the duration, or label. */
nm_status nm_event_set_add(nm_event_set_writer *w, const nm_events *e, int label);
/* Writes the index and checksum and renames the file into place; frees w. */
nm_status nm_event_set_finish(nm_event_set_writer *w);
void      nm_event_set_abort(nm_event_set_writer *w);   /* discards; accepts NULL */
/* Loads one split file, binned into `steps` frames per sample (0: the file's default). */
nm_status nm_event_set_load(const char *path, int steps, nm_dataset **out);
/* 1 if dir holds an event dataset (train.nmev). */
int       nm_event_set_is_dir(const char *dir);
/* Loads split "train" or "t10k" of an event-dataset directory. */
nm_status nm_event_set_load_dir(const char *dir, const char *split, int steps, nm_dataset **out);

/* ---- spike files ------------------------------------------------------------------- */

/* A spike file is text with one spike per line, "TIME,NEURON": the time in seconds (any
** strtod number), then a comma, tab or spaces, then the neuron index (0 .. 2^31 - 2). An
** optional first line starting "time_s" is a header; lines starting '#' and blank lines
** are skipped; CRLF line ends are fine. Spikes may come in any order. */
typedef struct nm_spikes {
    double  *t;           /* n times, s */
    int32_t *neuron;      /* n indices */
    int64_t  n;
    int64_t  n_neurons;   /* the largest index + 1 (0 when n = 0) */
} nm_spikes;

/* Reads a spike file into *out (owned: nm_spikes_free). NM_NOTFOUND / NM_IO naming the
** file when it cannot be read; NM_FORMAT naming the file, line and byte offset of the
** first bad line (a missing or negative index, a non-finite time, trailing text); an
** empty file is a valid list of no spikes. On error *out is left alone. */
nm_status nm_spikes_read(const char *path, nm_spikes *out);
/* The same from memory (len bytes, no terminator needed); `name` names it in errors. */
nm_status nm_spikes_parse(const char *text, size_t len, const char *name, nm_spikes *out);
/* Writes n spikes in the format above, with the header, atomically; times with 9
** significant digits (ns resolution up to 1 s). NM_INVAL for non-finite times or
** negative indices. */
nm_status nm_spikes_write(const char *path, const double *t, const int32_t *neuron, int64_t n);
void      nm_spikes_free(nm_spikes *s);   /* accepts NULL; leaves it empty */

#ifdef __cplusplus
}
#endif
#endif
