/*
** test_base.c: tests for the base module (status, Philox and distributions, memory,
** logging, progress, files, reports).
**
** Statistical checks use fixed seeds, so they are deterministic; each bound is five
** standard errors of the estimator (stated beside it), wide enough that a correct
** generator passes for essentially any seed and tight enough to catch a wrong mapping.
** Files go to a fresh directory under NM_TEST_TMP_DIR (or /tmp), removed at the end.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "neuromorph/base.h"

#ifndef NM_TEST_TMP_DIR
#define NM_TEST_TMP_DIR "/tmp"
#endif

static char tmp_dir[512];

/* tmp_dir/name, in a static rotating buffer (enough for one test's paths). */
static const char *tmp_path(const char *name) {
    static char bufs[4][768];
    static int next = 0;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", tmp_dir, name);
    return b;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* Number of entries in tmp_dir whose name starts with `prefix`. */
static int count_entries(const char *prefix) {
    DIR *d = opendir(tmp_dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

/* ---- status ------------------------------------------------------------ */

static void test_status_strings(void **state) {
    (void)state;
    assert_string_equal(nm_status_str(NM_OK), "success");
    assert_string_equal(nm_status_str(NM_NOMEM), "out of memory");
    assert_string_equal(nm_status_str(NM_INVAL), "invalid argument");
    assert_string_equal(nm_status_str(NM_IO), "i/o error");
    assert_string_equal(nm_status_str(NM_FORMAT), "malformed input");
    assert_string_equal(nm_status_str(NM_NOTFOUND), "not found");
    assert_string_equal(nm_status_str(NM_RANGE), "value out of range");
    assert_string_equal(nm_status_str(NM_SHAPE), "shape mismatch");
    assert_string_equal(nm_status_str(NM_UNSUPPORTED), "unsupported");
    assert_string_equal(nm_status_str(NM_INTERRUPTED), "interrupted");
    assert_int_equal(NM_INTERRUPTED, -9);
    assert_non_null(nm_status_str((nm_status)-42));
    assert_string_equal(nm_status_str((nm_status)-42), "unknown status");
}

static void test_error_message(void **state) {
    (void)state;
    nm_clear_error();
    assert_string_equal(nm_errmsg(), "");
    nm_status rc = nm__error(NM_FORMAT, "bad magic number 0x%08x in '%s'", 0x902u, "x.idx");
    assert_int_equal(rc, NM_FORMAT);
    assert_string_equal(nm_errmsg(), "bad magic number 0x00000902 in 'x.idx'");
    nm_clear_error();
    assert_string_equal(nm_errmsg(), "");

    /* A message longer than the buffer is cut, not overflowed. */
    char big[4000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(nm__error(NM_IO, "%s", big), NM_IO);
    size_t n = strlen(nm_errmsg());
    assert_true(n > 100 && n < sizeof big - 1);
    nm_clear_error();
}

static void *error_thread(void *arg) {
    int *ok = arg;
    nm__error(NM_RANGE, "raised in thread %d", 2);
    *ok = strcmp(nm_errmsg(), "raised in thread 2") == 0;
    return NULL;
}

static void test_error_per_thread(void **state) {
    (void)state;
    nm__error(NM_IO, "main thread message");
    pthread_t t;
    int ok = 0;
    assert_int_equal(pthread_create(&t, NULL, error_thread, &ok), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(ok);
    assert_string_equal(nm_errmsg(), "main thread message");
    nm_clear_error();
}

static void test_assert_aborts(void **state) {
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Child: silence the expected message, then trip the assertion. */
        FILE *devnull = freopen("/dev/null", "w", stderr);
        (void)devnull;
        int x = 1;
        NM_ASSERT(x == 2);
        _exit(0); /* not reached if NM_ASSERT works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* ---- Philox ------------------------------------------------------------ */

static void test_philox_kat(void **state) {
    (void)state;
    /* Known answers from Random123 (kat_vectors, philox4x32_10). */
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[3] = {
        { { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
        { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
          { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
        { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
          { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        nm_philox4x32(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++) assert_int_equal(out[j], kat[i].out[j]);
    }
}

static void test_philox_lanes(void **state) {
    (void)state;
    /* The vector form gives each lane's scalar block, for 0..130 lanes (over the 64-lane chunk). */
    enum { N = 131 };
    uint32_t c[4][N], o[4][N];
    const uint32_t key[2] = {0xa4093822u, 0x299f31d0u};
    for (int i = 0; i < N; i++) {
        c[0][i] = 0x243f6a88u * (uint32_t)i;
        c[1][i] = (uint32_t)i;
        c[2][i] = ~(uint32_t)i;
        c[3][i] = 0x03707344u ^ (uint32_t)(i << 7);
    }
    for (int n = 0; n <= N; n += 13) {
        nm_philox4x32_lanes(n, c[0], c[1], c[2], c[3], key, o[0], o[1], o[2], o[3]);
        for (int i = 0; i < n; i++) {
            uint32_t ctr[4] = {c[0][i], c[1][i], c[2][i], c[3][i]}, out[4];
            nm_philox4x32(ctr, key, out);
            for (int j = 0; j < 4; j++) assert_int_equal(o[j][i], out[j]);
        }
    }
}

static void test_rng_layout(void **state) {
    (void)state;
    /* The documented mapping: key = seed halves, counter = {block, stream}. */
    uint64_t seed = 0x299f31d0a4093822ull, stream = 0x0370734413198a2eull;
    nm_rng r;
    nm_rng_init(&r, seed, stream);
    nm_rng_seek(&r, 0x85a308d3243f6a88ull);
    const uint32_t expect[4] = { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 };
    for (int j = 0; j < 4; j++) assert_int_equal(nm_rng_u32(&r), expect[j]);
    assert_int_equal(r.counter, 0x85a308d3243f6a89ull);

    /* u64 takes the low half first. */
    nm_rng_init(&r, 0, 0);
    uint64_t v = nm_rng_u64(&r);
    assert_int_equal(v, ((uint64_t)0xe169c58d << 32) | 0x6627e8d5u);
}

static void test_rng_reproducible(void **state) {
    (void)state;
    nm_rng a, b, c;
    nm_rng_init(&a, 12345, 7);
    nm_rng_init(&b, 12345, 7);
    nm_rng_init(&c, 12345, 8);
    int same_as_other_stream = 0;
    for (int i = 0; i < 10000; i++) {
        uint32_t x = nm_rng_u32(&a), y = nm_rng_u32(&b), z = nm_rng_u32(&c);
        assert_int_equal(x, y);
        same_as_other_stream += x == z;
    }
    /* Independent 32-bit words agree by chance with probability 2^-32 each. */
    assert_true(same_as_other_stream <= 1);

    /* A copy continues identically, including the buffered words and the spare normal. */
    nm_rng_init(&a, 99, 1);
    (void)nm_rng_u32(&a);
    (void)nm_rng_normal(&a);
    b = a;
    for (int i = 0; i < 100; i++) assert_true(nm_rng_normal(&a) == nm_rng_normal(&b));

    /* Seeking back to block 0 restarts the stream. */
    nm_rng_init(&a, 5, 5);
    uint32_t first[8];
    for (int i = 0; i < 8; i++) first[i] = nm_rng_u32(&a);
    (void)nm_rng_normal(&a);
    nm_rng_seek(&a, 0);
    for (int i = 0; i < 8; i++) assert_int_equal(nm_rng_u32(&a), first[i]);
    nm_rng_seek(&a, 1);
    assert_int_equal(nm_rng_u32(&a), first[4]);
}

static void test_uniform_at(void **state) {
    (void)state;
    nm_rng r;
    nm_rng_init(&r, 0xdeadbeefcafef00dull, 3);
    for (uint64_t i = 0; i < 4099; i++) {
        float u = nm_rng_uniform(&r);
        assert_true(u == nm_rand_uniform_at(0xdeadbeefcafef00dull, 3, i));
    }
    /* Far into the stream, through seek. */
    uint64_t block = 1ull << 40;
    nm_rng_seek(&r, block);
    (void)nm_rng_uniform(&r);
    float u = nm_rng_uniform(&r);
    assert_true(u == nm_rand_uniform_at(0xdeadbeefcafef00dull, 3, block * 4 + 1));
    assert_true(u >= 0.0f && u < 1.0f);
}

/* ---- distributions ----------------------------------------------------- */

#define N_DRAWS 1000000

static void test_uniform_moments(void **state) {
    (void)state;
    nm_rng r;
    nm_rng_init(&r, 2024, 0);
    double sum = 0, sum2 = 0, sumd = 0, sumd2 = 0;
    float lo = 1, hi = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        float u = nm_rng_uniform(&r);
        double d = nm_rng_uniform_d(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        assert_true(d >= 0.0 && d < 1.0);
        if (u < lo) lo = u;
        if (u > hi) hi = u;
        sum += u;
        sum2 += (u - 0.5) * (u - 0.5);
        sumd += d;
        sumd2 += (d - 0.5) * (d - 0.5);
    }
    double n = N_DRAWS;
    /* Mean: SE = sqrt(1/12 / n) = 2.89e-4, 5 SE = 1.44e-3.
    ** Variance (about the known mean): Var((U-1/2)^2) = 1/80 - 1/144 = 1/180,
    ** SE = sqrt(1/180 / n) = 7.45e-5, 5 SE = 3.73e-4. */
    double se_mean = sqrt(1.0 / 12.0 / n), se_var = sqrt(1.0 / 180.0 / n);
    assert_true(fabs(sum / n - 0.5) < 5 * se_mean);
    assert_true(fabs(sum2 / n - 1.0 / 12.0) < 5 * se_var);
    assert_true(fabs(sumd / n - 0.5) < 5 * se_mean);
    assert_true(fabs(sumd2 / n - 1.0 / 12.0) < 5 * se_var);
    assert_true(lo < 1e-4f && hi > 1.0f - 1e-4f);
}

static void test_normal_moments(void **state) {
    (void)state;
    nm_rng r;
    nm_rng_init(&r, 77, 1);
    double s1 = 0, s2 = 0, s4 = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        double x = nm_rng_normal(&r);
        assert_true(isfinite(x));
        s1 += x;
        s2 += x * x;
        s4 += x * x * x * x;
    }
    double n = N_DRAWS;
    /* Mean: SE = 1/sqrt(n) = 1e-3. E[x^2] = 1 with Var(x^2) = 2, SE = 1.41e-3.
    ** E[x^4] = 3 with Var(x^4) = 105 - 9 = 96, SE = 9.8e-3. All at 5 SE. */
    assert_true(fabs(s1 / n) < 5 * sqrt(1.0 / n));
    assert_true(fabs(s2 / n - 1.0) < 5 * sqrt(2.0 / n));
    assert_true(fabs(s4 / n - 3.0) < 5 * sqrt(96.0 / n));
}

static void test_bernoulli(void **state) {
    (void)state;
    nm_rng r;
    nm_rng_init(&r, 31337, 2);
    long hits = 0;
    for (int i = 0; i < N_DRAWS; i++) hits += nm_rng_bernoulli(&r, 0.3f);
    /* SE = sqrt(0.3 * 0.7 / n) = 4.58e-4; 5 SE. (0.3f differs from 0.3 by 1e-8.) */
    assert_true(fabs((double)hits / N_DRAWS - 0.3) < 5 * sqrt(0.21 / N_DRAWS));
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(nm_rng_bernoulli(&r, 0.0f), 0);
        assert_int_equal(nm_rng_bernoulli(&r, -1.0f), 0);
        assert_int_equal(nm_rng_bernoulli(&r, NAN), 0);
        assert_int_equal(nm_rng_bernoulli(&r, 1.0f), 1);
        assert_int_equal(nm_rng_bernoulli(&r, 2.5f), 1);
    }
}

static void check_poisson(double lambda, uint64_t seed) {
    enum { N = 400000 };
    nm_rng r;
    nm_rng_init(&r, seed, 0);
    double s1 = 0, s2 = 0;
    /* Also the frequency of k = floor(lambda) against the pmf. */
    uint32_t mode = (uint32_t)lambda;
    long at_mode = 0;
    for (int i = 0; i < N; i++) {
        double k = nm_rng_poisson(&r, lambda);
        s1 += k;
        s2 += (k - lambda) * (k - lambda);
        at_mode += (uint32_t)k == mode;
    }
    /* Mean: SE = sqrt(lambda / N). Variance about the true mean: Var((K-l)^2) =
    ** mu4 - lambda^2 = lambda + 2 lambda^2, SE = sqrt((lambda + 2 lambda^2) / N).
    ** pmf at the mode: binomial SE sqrt(p (1-p) / N). All at 5 SE. */
    double mean = s1 / N, var = s2 / N;
    assert_true(fabs(mean - lambda) < 5 * sqrt(lambda / N));
    assert_true(fabs(var - lambda) < 5 * sqrt((lambda + 2 * lambda * lambda) / N));
    double p = exp(-lambda + mode * log(lambda) - lgamma(mode + 1.0));
    assert_true(fabs((double)at_mode / N - p) < 5 * sqrt(p * (1 - p) / N));
}

static void test_poisson(void **state) {
    (void)state;
    check_poisson(0.5, 11);  /* inversion */
    check_poisson(4.0, 12);  /* inversion */
    check_poisson(30.0, 13); /* PTRS */
    check_poisson(200.0, 14);
    nm_rng r;
    nm_rng_init(&r, 1, 1);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(nm_rng_poisson(&r, 0.0), 0);
        assert_int_equal(nm_rng_poisson(&r, -3.0), 0);
    }
    /* Both sides of the switch at lambda = 10 give the same mean (SE 3.2e-3 at N=1e6). */
    double s_lo = 0, s_hi = 0;
    for (int i = 0; i < 200000; i++) {
        s_lo += nm_rng_poisson(&r, 9.999999);
        s_hi += nm_rng_poisson(&r, 10.0);
    }
    assert_true(fabs(s_lo / 200000 - 10.0) < 5 * sqrt(10.0 / 200000));
    assert_true(fabs(s_hi / 200000 - 10.0) < 5 * sqrt(10.0 / 200000));
}

static void test_below(void **state) {
    (void)state;
    nm_rng r;
    nm_rng_init(&r, 4242, 0);
    enum { K = 7, N = 700000 };
    long count[K] = { 0 };
    for (int i = 0; i < N; i++) {
        uint32_t x = nm_rng_below(&r, K);
        assert_true(x < K);
        count[x]++;
    }
    /* Each bin: expected N/K = 1e5, binomial SE sqrt(N (1/K)(1-1/K)) = 292; 5 SE. */
    double se = sqrt(N * (1.0 / K) * (1.0 - 1.0 / K));
    for (int k = 0; k < K; k++) assert_true(fabs(count[k] - (double)N / K) < 5 * se);

    for (int i = 0; i < 1000; i++) assert_int_equal(nm_rng_below(&r, 1), 0);
    /* A range just over 2^31 rejects about half the words: still in range, and both
    ** halves of the range reached. */
    uint32_t big = 0x80000001u;
    int upper = 0;
    for (int i = 0; i < 10000; i++) {
        uint32_t x = nm_rng_below(&r, big);
        assert_true(x < big);
        upper += x >= big / 2;
    }
    assert_true(upper > 4500 && upper < 5500);
}

static void test_shuffle(void **state) {
    (void)state;
    enum { N = 1000 };
    int64_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    nm_rng r;
    nm_rng_init(&r, 8, 8);
    nm_rng_shuffle(&r, idx, N);
    int seen[N] = { 0 };
    int fixed = 0;
    for (int i = 0; i < N; i++) {
        assert_true(idx[i] >= 0 && idx[i] < N);
        seen[idx[i]]++;
        fixed += idx[i] == i;
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    /* A random permutation has Poisson(1) fixed points. */
    assert_true(fixed < 10);

    /* Position 0 of a 3-element shuffle is uniform over the 3 values (SE 149 at 1e5). */
    long first[3] = { 0 };
    for (int t = 0; t < 100000; t++) {
        int64_t a[3] = { 0, 1, 2 };
        nm_rng_shuffle(&r, a, 3);
        first[a[0]]++;
    }
    for (int k = 0; k < 3; k++) assert_true(fabs(first[k] - 100000 / 3.0) < 5 * sqrt(100000 * 2.0 / 9.0));

    int64_t one = 5;
    nm_rng_shuffle(&r, &one, 1);
    assert_int_equal(one, 5);
    nm_rng_shuffle(&r, NULL, 0);
}

/* ---- memory, time, threads --------------------------------------------- */

static void test_alloc(void **state) {
    (void)state;
    assert_null(nm_alloc(0));
    nm_free(NULL);
    size_t sizes[] = { 1, 3, 63, 64, 65, 1000, 4096 + 7, 1 << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = nm_alloc(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % NM_ALIGN, 0);
        size_t rounded = (sizes[i] + 63) / 64 * 64;
        for (size_t j = 0; j < rounded; j++) assert_int_equal(p[j], 0);
        memset(p, 0xab, rounded); /* the rounded tail is usable (ASan checks) */
        nm_free(p);
    }
    assert_null(nm_alloc(SIZE_MAX));
    assert_int_equal(nm_pad16(0), 0);
    assert_int_equal(nm_pad16(1), 16);
    assert_int_equal(nm_pad16(16), 16);
    assert_int_equal(nm_pad16(17), 32);
}

static void test_time_threads(void **state) {
    (void)state;
    double t0 = nm_time_now();
    double t1 = nm_time_now();
    assert_true(t1 >= t0 && t0 > 0);
    assert_true(nm_peak_rss_bytes() > 1024 * 1024);

    int before = nm_get_threads();
    assert_true(before >= 1);
    nm_set_threads(2);
    assert_int_equal(nm_get_threads(), 2);
    nm_set_threads(0);
    assert_true(nm_get_threads() >= 1);
    nm_set_threads(before);
    assert_int_equal(nm_get_threads(), before);
}

/* ---- logging ----------------------------------------------------------- */

struct captured {
    int n;
    nm_log_level level;
    char msg[256];
};

static void capture_sink(nm_log_level level, const char *msg, void *user) {
    struct captured *c = user;
    c->n++;
    c->level = level;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
}

static void test_log(void **state) {
    (void)state;
    assert_int_equal(nm_log_get_level(), NM_LOG_WARN);
    struct captured c = { 0 };
    nm_log_set_sink(capture_sink, &c);
    nm_log(NM_LOG_INFO, "dropped %d", 1);
    assert_int_equal(c.n, 0);
    nm_log(NM_LOG_WARN, "clamped %s to %.1f ms\n", "tau_m", 0.1);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.level, NM_LOG_WARN);
    assert_string_equal(c.msg, "clamped tau_m to 0.1 ms");
    nm_log_set_level(NM_LOG_DEBUG);
    nm_log(NM_LOG_DEBUG, "now kept");
    assert_int_equal(c.n, 2);
    assert_string_equal(c.msg, "now kept");
    nm_log_set_level(NM_LOG_OFF);
    nm_log(NM_LOG_ERROR, "off drops everything");
    assert_int_equal(c.n, 2);
    nm_log_set_level(NM_LOG_WARN);
    nm_log_set_sink(NULL, NULL);
}

/* ---- progress ---------------------------------------------------------- */

static void test_progress_quiet(void **state) {
    (void)state;
    nm_progress *p = nm_progress_create("epoch 1/5", 100, 1);
    assert_non_null(p);
    for (int i = 0; i <= 100; i++) nm_progress_update(p, i, "loss 0.41");
    nm_progress_finish(p);

    /* Unknown total, long label and suffix: still fine. */
    char label[300];
    memset(label, 'x', sizeof label - 1);
    label[sizeof label - 1] = '\0';
    p = nm_progress_create(label, 0, 1);
    assert_non_null(p);
    nm_progress_update(p, 5, label);
    nm_progress_finish(p);

    nm_progress_update(NULL, 1, "x");
    nm_progress_finish(NULL);
}

/* ---- files ------------------------------------------------------------- */

static nm_status write_hello(FILE *f, void *user) {
    return fputs((const char *)user, f) == EOF ? nm__error(NM_IO, "fputs failed") : NM_OK;
}

static nm_status write_then_fail(FILE *f, void *user) {
    (void)user;
    fputs("partial garbage", f);
    return nm__error(NM_FORMAT, "callback refused");
}

static void test_atomic_write(void **state) {
    (void)state;
    const char *path = tmp_path("atomic.txt");
    assert_int_equal(nm_file_write_atomic(path, write_hello, "first version\n"), NM_OK);
    char *s = slurp(path);
    assert_non_null(s);
    assert_string_equal(s, "first version\n");
    free(s);
    char tmp_name[800];
    snprintf(tmp_name, sizeof tmp_name, "%s.tmp.%ld", path, (long)getpid());
    assert_false(file_exists(tmp_name));
    assert_int_equal(count_entries("atomic.txt.tmp"), 0);

    /* Overwrite. */
    assert_int_equal(nm_file_write_atomic(path, write_hello, "second\n"), NM_OK);
    s = slurp(path);
    assert_string_equal(s, "second\n");
    free(s);

    /* A failing callback leaves the old file and no temporary. */
    assert_int_equal(nm_file_write_atomic(path, write_then_fail, NULL), NM_FORMAT);
    assert_string_equal(nm_errmsg(), "callback refused");
    s = slurp(path);
    assert_string_equal(s, "second\n");
    free(s);
    assert_int_equal(count_entries("atomic.txt"), 1);

    /* A directory that does not exist: NM_IO naming the path and the reason. */
    const char *bad = tmp_path("no-such-dir/x.txt");
    assert_int_equal(nm_file_write_atomic(bad, write_hello, "x"), NM_IO);
    assert_non_null(strstr(nm_errmsg(), bad));
    assert_non_null(strstr(nm_errmsg(), strerror(ENOENT)));

    assert_int_equal(nm_file_write_atomic(path, NULL, NULL), NM_INVAL);
    assert_int_equal(nm_file_write_atomic("", write_hello, "x"), NM_INVAL);
    remove(path);
    nm_clear_error();
}

static void test_crc32(void **state) {
    (void)state;
    const char *s = "123456789";
    assert_int_equal(nm_crc32(0, s, 9), 0xCBF43926u);
    assert_int_equal(nm_crc32(nm_crc32(0, s, 4), s + 4, 5), 0xCBF43926u);
    assert_int_equal(nm_crc32(0, NULL, 0), 0);
}

/* ---- reports ----------------------------------------------------------- */

static void test_report_build(void **state) {
    (void)state;
    nm_report *r = nm_report_create("train");
    assert_non_null(r);
    assert_int_equal(nm_report_set_num(r, "train.loss", 0.4125), NM_OK);
    assert_int_equal(nm_report_set_int(r, "train.epochs", 12), NM_OK);
    assert_int_equal(nm_report_set_num(r, "train.opt.lr", 2.385e-3), NM_OK);
    assert_int_equal(nm_report_set_str(r, "model", "lif"), NM_OK);
    assert_int_equal(nm_report_set_bool(r, "ok", 1), NM_OK);
    assert_true(nm_report_get_num(r, "train.loss", -1) == 0.4125);
    assert_true(nm_report_get_num(r, "train.epochs", -1) == 12.0);
    assert_true(nm_report_get_num(r, "train.opt.lr", -1) == 2.385e-3);
    /* Setting again replaces. */
    assert_int_equal(nm_report_set_num(r, "train.loss", 0.25), NM_OK);
    assert_true(nm_report_get_num(r, "train.loss", -1) == 0.25);

    /* Misses and non-numbers give the default, and leave the error message alone. */
    nm__error(NM_IO, "keep me");
    assert_true(nm_report_get_num(r, "train.nope", -7) == -7);
    assert_true(nm_report_get_num(r, "nope.loss", -7) == -7);
    assert_true(nm_report_get_num(r, "model", -7) == -7);
    assert_true(nm_report_get_num(r, "model.x", -7) == -7);
    assert_true(nm_report_get_num(r, "train", -7) == -7);
    assert_true(nm_report_get_num(r, "a..b", -7) == -7);
    assert_string_equal(nm_errmsg(), "keep me");

    /* Bad keys, and a path through a non-object. */
    assert_int_equal(nm_report_set_num(r, "", 1), NM_INVAL);
    assert_int_equal(nm_report_set_num(r, "a..b", 1), NM_INVAL);
    assert_int_equal(nm_report_set_num(r, "train.", 1), NM_INVAL);
    assert_int_equal(nm_report_set_num(r, "model.x", 1), NM_INVAL);
    assert_non_null(strstr(nm_errmsg(), "model"));
    assert_int_equal(nm_report_push_num(r, "train.loss", 1), NM_INVAL);
    assert_int_equal(nm_report_set_str(r, "bad", "\xff\xfe"), NM_INVAL);

    /* Arrays. */
    for (int i = 0; i < 3; i++) assert_int_equal(nm_report_push_num(r, "train.curve", 1.5 * i), NM_OK);
    for (int i = 0; i < 2; i++) {
        nm_report *item = nm_report_create(NULL);
        assert_non_null(item);
        assert_int_equal(nm_report_set_int(item, "epoch", i + 1), NM_OK);
        assert_int_equal(nm_report_set_num(item, "acc", 0.5 + 0.25 * i), NM_OK);
        assert_int_equal(nm_report_push_obj(r, "epochs", item), NM_OK);
    }
    /* A failed push still consumes the item (no leak under ASan). */
    nm_report *item = nm_report_create(NULL);
    assert_int_equal(nm_report_push_obj(r, "model", item), NM_INVAL);
    nm_report_destroy(r);
    nm_report_destroy(NULL);
    nm_clear_error();
}

static void test_report_roundtrip(void **state) {
    (void)state;
    const char *path = tmp_path("report.json");
    nm_report *r = nm_report_create("evaluate");
    assert_non_null(r);
    nm_report_set_num(r, "metrics.acc", 0.9731);
    nm_report_set_num(r, "metrics.loss", NAN);
    nm_report_set_num(r, "metrics.inf", INFINITY);
    nm_report_set_int(r, "metrics.n", 10000);
    nm_report_set_int(r, "big", INT64_C(1) << 53);
    nm_report_set_str(r, "data.name", "nmnist");
    nm_report_set_bool(r, "data.shuffled", 0);
    nm_report_push_num(r, "curve", 1.0);
    nm_report_push_num(r, "curve", NAN);
    nm_report *item = nm_report_create(NULL);
    nm_report_set_num(item, "t", 2.5);
    nm_report_push_obj(r, "items", item);
    assert_int_equal(nm_report_write(r, path), NM_OK);
    nm_report_destroy(r);
    assert_int_equal(count_entries("report.json"), 1);

    /* The text: indented, ends in a newline, NaN as null. */
    char *text = slurp(path);
    assert_non_null(text);
    size_t len = strlen(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    assert_non_null(strstr(text, "\"loss\": null"));
    assert_non_null(strstr(text, "\"inf\": null"));
    assert_non_null(strstr(text, "\n  \"command\": \"evaluate\""));
    free(text);

    nm_report *back = NULL;
    assert_int_equal(nm_report_read(path, &back), NM_OK);
    assert_non_null(back);
    assert_true(nm_report_get_num(back, "metrics.acc", -1) == 0.9731);
    assert_true(nm_report_get_num(back, "metrics.n", -1) == 10000.0);
    assert_true(nm_report_get_num(back, "big", -1) == 9007199254740992.0);
    assert_true(nm_report_get_num(back, "metrics.loss", -1) == -1); /* null */
    nm_report_destroy(back);

    /* Strings, booleans, arrays and the header fields, checked with jansson directly. */
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "command")), "evaluate");
    assert_string_equal(json_string_value(json_object_get(j, "version")), nm_version());
    const char *when = json_string_value(json_object_get(j, "time"));
    assert_non_null(when);
    assert_int_equal(strlen(when), 20); /* 2024-05-01T12:34:56Z */
    assert_int_equal(when[10], 'T');
    assert_int_equal(when[19], 'Z');
    json_t *data = json_object_get(j, "data");
    assert_string_equal(json_string_value(json_object_get(data, "name")), "nmnist");
    assert_true(json_is_false(json_object_get(data, "shuffled")));
    json_t *curve = json_object_get(j, "curve");
    assert_int_equal(json_array_size(curve), 2);
    assert_true(json_real_value(json_array_get(curve, 0)) == 1.0);
    assert_true(json_is_null(json_array_get(curve, 1)));
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_true(json_real_value(json_object_get(json_array_get(items, 0), "t")) == 2.5);
    /* Key order is kept: "command" comes first. */
    assert_string_equal(json_object_iter_key(json_object_iter(j)), "command");
    json_decref(j);
    remove(path);
}

static nm_status write_raw(FILE *f, void *user) {
    fputs((const char *)user, f);
    return NM_OK;
}

static void test_report_read_errors(void **state) {
    (void)state;
    nm_report *r = NULL;
    assert_int_equal(nm_report_read(tmp_path("missing.json"), &r), NM_NOTFOUND);
    assert_null(r);

    const char *path = tmp_path("bad.json");
    assert_int_equal(nm_file_write_atomic(path, write_raw, "{\n  \"a\": 1,\n  \"b\": }\n"), NM_OK);
    assert_int_equal(nm_report_read(path, &r), NM_FORMAT);
    assert_null(r);
    assert_non_null(strstr(nm_errmsg(), "line 3"));
    assert_non_null(strstr(nm_errmsg(), path));

    assert_int_equal(nm_file_write_atomic(path, write_raw, "[1, 2, 3]\n"), NM_OK);
    assert_int_equal(nm_report_read(path, &r), NM_FORMAT);
    assert_null(r);
    remove(path);
    nm_clear_error();
}

static void test_version(void **state) {
    (void)state;
    assert_string_equal(nm_version(), "0.1.0");
}

/* ---- main -------------------------------------------------------------- */

/* nm_sgemm: the same bits with 1 and 2 threads on the engine's shapes (OpenBLAS's own
** threading splits K = 784 differently), every transpose combination against a double
** reference, and beta accumulation. */
static void test_sgemm_deterministic(void **st) {
    (void)st;
    const int64_t M = 300, N = 1000, K = 784;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    nm_rng r;
    nm_rng_init(&r, 9, 0);
    for (int64_t i = 0; i < M * K; i++) A[i] = nm_rng_uniform(&r) - 0.5f;
    for (int64_t i = 0; i < K * N; i++) B[i] = nm_rng_uniform(&r) - 0.5f;
    for (int tb = 0; tb < 2; tb++) {
        nm_set_threads(1);
        nm_sgemm(0, tb, M, N, K, 1.0f, A, K, B, tb ? K : N, 0.0f, C1, N);
        nm_set_threads(2);
        nm_sgemm(0, tb, M, N, K, 1.0f, A, K, B, tb ? K : N, 0.0f, C2, N);
        assert_memory_equal(C1, C2, sizeof(float) * M * N);
    }
    /* all four transposes on a small odd shape, C = 0.5 C + op(A) op(B) */
    const int m = 37, n = 150, k = 29;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int64_t i = 0; i < m * n; i++) C1[i] = (float)(i % 7);
            nm_sgemm(ta, tb, m, n, k, 1.0f, A, ta ? m : k, B, tb ? k : n, 0.5f, C1, n);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double want = 0.5 * (double)((i * n + j) % 7);
                    for (int q = 0; q < k; q++)
                        want += (double)(ta ? A[q * m + i] : A[i * k + q]) * (tb ? B[j * k + q] : B[q * n + j]);
                    assert_float_equal(C1[i * n + j], want, 1e-4);
                }
        }
    nm_set_threads(0);
    free(A); free(B); free(C1); free(C2);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test_base.XXXXXX", NM_TEST_TMP_DIR);
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "test_base: cannot make a temporary directory under %s: %s\n",
                NM_TEST_TMP_DIR, strerror(errno));
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_error_message),
        cmocka_unit_test(test_error_per_thread),
        cmocka_unit_test(test_assert_aborts),
        cmocka_unit_test(test_philox_kat),
        cmocka_unit_test(test_philox_lanes),
        cmocka_unit_test(test_rng_layout),
        cmocka_unit_test(test_rng_reproducible),
        cmocka_unit_test(test_uniform_at),
        cmocka_unit_test(test_uniform_moments),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_bernoulli),
        cmocka_unit_test(test_poisson),
        cmocka_unit_test(test_below),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_alloc),
        cmocka_unit_test(test_time_threads),
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_progress_quiet),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_report_build),
        cmocka_unit_test(test_report_roundtrip),
        cmocka_unit_test(test_report_read_errors),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_sgemm_deterministic),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(tmp_dir); /* empty when every test cleaned up; left for inspection otherwise */
    return failed;
}
