/*
** base: what every other module stands on.
**
**   status codes     nm_status, one X-macro list that makes the enum and its strings
**   error detail     a per-thread "last error" message, set by nm__error()
**   random numbers   Philox-4x32-10, counter-based: a draw is a pure function of
**                    (seed, stream, counter), so results do not depend on thread count
**   memory           64-byte aligned buffers
**   logging          levelled messages through one replaceable sink
**   progress         a progress bar on stderr (rate, ETA), silent off a terminal
**   reports          JSON reports (through jansson), written atomically
**   files            atomic writes (temporary file, fsync, rename)
**
** The library never prints except through the log sink and progress bars, and never
** calls exit().
*/
#ifndef NEUROMORPH_BASE_H
#define NEUROMORPH_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ------------------------------------------------------ */

#define NM_STATUS_MAP(X)                                  \
    X(OK,           0, "success")                          \
    X(NOMEM,       -1, "out of memory")                    \
    X(INVAL,       -2, "invalid argument")                 \
    X(IO,          -3, "i/o error")                        \
    X(FORMAT,      -4, "malformed input")                  \
    X(NOTFOUND,    -5, "not found")                        \
    X(RANGE,       -6, "value out of range")               \
    X(SHAPE,       -7, "shape mismatch")                   \
    X(UNSUPPORTED, -8, "unsupported")                      \
    X(INTERRUPTED, -9, "interrupted")

typedef enum {
#define NM_X_(name, val, msg) NM_##name = val,
    NM_STATUS_MAP(NM_X_)
#undef NM_X_
} nm_status;

/* The fixed text of a status code ("out of memory"); never NULL. */
const char *nm_status_str(nm_status s);

/* The detail message of the last error raised on this thread ("bad magic number
** 0x00000902 in 'x.idx' (expected 0x00000803)"), or "" if none. Borrowed; valid until
** the next error on this thread. */
const char *nm_errmsg(void);

/* Clears this thread's detail message. */
void nm_clear_error(void);

/* Raises an error: stores the formatted detail message for this thread and returns
** `code`, so callers write `return nm__error(NM_FORMAT, "...", ...);`. Every error in
** the library goes through here (one place for a breakpoint). */
nm_status nm__error(nm_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Aborts with file:line on a programmer error (a broken invariant, not bad input). */
#define NM_ASSERT(cond)                                                         \
    do {                                                                        \
        if (!(cond)) nm__assert_fail(#cond, __FILE__, __LINE__);                \
    } while (0)
void nm__assert_fail(const char *expr, const char *file, int line);

/* ---- random numbers: Philox-4x32-10 ----------------------------------- */

/* The raw block function of Salmon et al. 2011 ("Parallel random numbers: as easy as
** 1, 2, 3"): 10 rounds over a 128-bit counter with a 64-bit key. */
void nm_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* n independent blocks at once, lane i with counter (c0[i], c1[i], c2[i], c3[i]): exactly
** nm_philox4x32 of each, computed with vector instructions (several times faster). */
void nm_philox4x32_lanes(int n, const uint32_t *c0, const uint32_t *c1, const uint32_t *c2, const uint32_t *c3,
                         const uint32_t key[2], uint32_t *o0, uint32_t *o1, uint32_t *o2, uint32_t *o3);

/* A stream of numbers keyed by (seed, stream). The key is the seed; the counter holds
** the stream id (high 64 bits) and the position in the stream (low 64 bits), so every
** (seed, stream, position) gives an independent block of four words. Copyable; holds no
** heap memory. */
typedef struct nm_rng {
    uint64_t seed;
    uint64_t stream;
    uint64_t counter;   /* index of the next 128-bit block */
    uint32_t buf[4];    /* words of the current block not yet used */
    int      n_buf;
    int      has_spare; /* a second normal deviate from Box-Muller is kept */
    float    spare;
} nm_rng;

void     nm_rng_init(nm_rng *r, uint64_t seed, uint64_t stream);
/* Moves to block `counter` of the stream (drops buffered words). */
void     nm_rng_seek(nm_rng *r, uint64_t counter);
uint32_t nm_rng_u32(nm_rng *r);
uint64_t nm_rng_u64(nm_rng *r);
/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
float    nm_rng_uniform(nm_rng *r);
double   nm_rng_uniform_d(nm_rng *r);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint32_t nm_rng_below(nm_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float    nm_rng_normal(nm_rng *r);
/* 1 with probability p (p clamped to [0, 1]), else 0. */
int      nm_rng_bernoulli(nm_rng *r, float p);
/* Poisson with mean lambda >= 0 (inversion for small lambda, PTRS for large). */
uint32_t nm_rng_poisson(nm_rng *r, double lambda);
/* Fisher-Yates shuffle of idx[0..n). */
void     nm_rng_shuffle(nm_rng *r, int64_t *idx, int64_t n);

/* Stateless draws: the value at (seed, stream, index), for code that must not depend
** on the order in which elements are visited (threads, batches). */
float    nm_rand_uniform_at(uint64_t seed, uint64_t stream, uint64_t index);

/* ---- memory ------------------------------------------------------------ */

#define NM_ALIGN 64
/* 64-byte aligned, zero-filled; NULL on failure or size 0. Free with nm_free(). */
void *nm_alloc(size_t size);
void  nm_free(void *p);   /* accepts NULL */
/* Rounds n up to a multiple of 16 floats (one cache line), for padded SoA arrays. */
static inline int64_t nm_pad16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* ---- logging ----------------------------------------------------------- */

typedef enum { NM_LOG_DEBUG = 0, NM_LOG_INFO = 1, NM_LOG_WARN = 2, NM_LOG_ERROR = 3, NM_LOG_OFF = 4 } nm_log_level;
typedef void (*nm_log_sink)(nm_log_level level, const char *msg, void *user);

/* Messages below `level` are dropped; the default is NM_LOG_WARN. */
void nm_log_set_level(nm_log_level level);
nm_log_level nm_log_get_level(void);
/* Replaces the sink (default: "[level] msg" on stderr); NULL restores the default. */
void nm_log_set_sink(nm_log_sink sink, void *user);
void nm_log(nm_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- progress bar ------------------------------------------------------ */

typedef struct nm_progress nm_progress;
/* A bar for `total` units labelled `label` ("epoch 3/10"). It draws on stderr at most
** ten times a second, and only when stderr is a terminal and `quiet` is 0; otherwise it
** is a silent no-op object. NULL on allocation failure (callers may pass NULL on). */
nm_progress *nm_progress_create(const char *label, int64_t total, int quiet);
/* Sets the units done so far and an optional short suffix ("loss 0.412"). */
void nm_progress_update(nm_progress *p, int64_t done, const char *suffix);
/* Draws the final state, ends the line, and frees. Accepts NULL. */
void nm_progress_finish(nm_progress *p);

/* ---- time and resources ------------------------------------------------ */

double  nm_time_now(void);          /* monotonic seconds */
int64_t nm_peak_rss_bytes(void);    /* peak resident set of this process */
/* Number of threads the library uses (OpenMP and BLAS); n <= 0 means all cores. */
void    nm_set_threads(int n);
/* C (M, N) = alpha op(A) op(B) + beta C, row-major (op: transpose when trans_* is 1), as
** cblas_sgemm, but with the same bits whatever the thread count: the output is cut into
** fixed blocks, each one single-threaded product. Every dense product of the engine goes
** through it. */
void    nm_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
int     nm_get_threads(void);

/* ---- files ------------------------------------------------------------- */

/* Writes a file atomically: `write` fills the temporary file, which is then flushed,
** fsync'ed and renamed over `path`, so a reader (or a run killed mid-write) sees the old
** file or the new one, never half of one. `write` returns NM_OK or an error. */
typedef nm_status (*nm_write_fn)(FILE *f, void *user);
nm_status nm_file_write_atomic(const char *path, nm_write_fn write, void *user);
/* CRC-32 (zlib's) of a buffer, chained through `crc` (start with 0). */
uint32_t nm_crc32(uint32_t crc, const void *data, size_t n);

/* A binary stream that keeps a running CRC-32 of what passes through it, for the
** project's checksummed file formats (models, checkpoints). `name` is used in errors;
** `start` is the stream position where the format begins (for byte offsets). */
typedef struct nm_stream {
    FILE       *f;
    uint32_t    crc;
    const char *name;
    long        start;
} nm_stream;
void      nm_stream_init(nm_stream *s, FILE *f, const char *name);
nm_status nm_stream_put(nm_stream *s, const void *p, size_t n);
/* Reads exactly n bytes; NM_FORMAT "'NAME' is truncated: reading WHAT at byte K, got G of
** N bytes" otherwise. */
nm_status nm_stream_get(nm_stream *s, void *p, size_t n, const char *what);
/* Writes the CRC of everything put so far (not itself included). */
nm_status nm_stream_put_crc(nm_stream *s);
/* Reads a CRC and compares it with everything read so far; NM_FORMAT if it differs. */
nm_status nm_stream_check_crc(nm_stream *s);

/* ---- JSON reports ------------------------------------------------------ */

/* A JSON object being filled. Keys are dotted paths: "train.epochs" makes or reuses the
** nested object "train". Setting a key again replaces its value. */
typedef struct nm_report nm_report;
/* Adds "command", "version" and "time" (UTC, ISO 8601); with command NULL, an empty
** object instead (an item for nm_report_push_obj). NULL on allocation failure. */
nm_report *nm_report_create(const char *command);
void       nm_report_destroy(nm_report *r);         /* accepts NULL */
nm_status  nm_report_set_num(nm_report *r, const char *key, double v);
nm_status  nm_report_set_int(nm_report *r, const char *key, int64_t v);
nm_status  nm_report_set_str(nm_report *r, const char *key, const char *v);
nm_status  nm_report_set_bool(nm_report *r, const char *key, int v);
/* Appends a number to the array at `key` (made if missing). */
nm_status  nm_report_push_num(nm_report *r, const char *key, double v);
/* Appends `item` (an object) to the array at `key`; `item` is consumed (destroyed). */
nm_status  nm_report_push_obj(nm_report *r, const char *key, nm_report *item);
/* Number at `key`, or `dflt` if absent or not a number. */
double     nm_report_get_num(const nm_report *r, const char *key, double dflt);
/* Indented JSON, written atomically. */
nm_status  nm_report_write(const nm_report *r, const char *path);
/* Reads a JSON object from a file (for tests and `plot`). */
nm_status  nm_report_read(const char *path, nm_report **out);

const char *nm_version(void);

#ifdef __cplusplus
}
#endif
#endif
