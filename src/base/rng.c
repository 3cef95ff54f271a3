/*
** rng.c: Philox-4x32-10 and the distributions built on it.
**
** Philox (Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as
** 1, 2, 3") is a keyed bijection of a 128-bit counter: block = philox(counter, key).
** A draw is therefore a pure function of (seed, stream, position), which is what lets
** a simulation give bit-identical results whatever the thread count or the order in
** which neurons, samples or batches are visited: each gets its own stream, or asks for
** the value at an index with nm_rand_uniform_at().
**
** Layout (fixed; changing it changes every result in the project):
**     key     = { seed lo32, seed hi32 }
**     counter = { block lo32, block hi32, stream lo32, stream hi32 }
** The four words of a block are handed out in order 0..3, one per u32 draw.
**
** Distributions: uniform floats take the top 24 bits of one word, doubles 53 bits of
** two words; integers below n use Lemire's multiply-and-reject (unbiased); normals are
** Box-Muller with the second deviate kept; Poisson is CDF inversion for small means
** and Hoermann's PTRS transformed rejection for large ones. Expected cost is a few ns
** per word; nothing here allocates.
*/
#include "neuromorph/base.h"

#include <math.h>

/* ---- the block function ------------------------------------------------ */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

static inline void philox_round(uint32_t c[4], const uint32_t k[2]) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0];
    uint32_t n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
}

void nm_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c[4] = { ctr[0], ctr[1], ctr[2], ctr[3] };
    uint32_t k[2] = { key[0], key[1] };
    /* Ten rounds with the key bumped by the Weyl increments between them (nine bumps),
    ** exactly as Random123's philox4x32_R(10, ...), so its known answers apply. */
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(c, k);
    }
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
}

void nm_philox4x32_lanes(int n, const uint32_t *c0, const uint32_t *c1, const uint32_t *c2, const uint32_t *c3,
                         const uint32_t key[2], uint32_t *o0, uint32_t *o1, uint32_t *o2, uint32_t *o3) {
    /* The rounds of nm_philox4x32 with the lanes innermost: plain 32x32->64 multiplies
    ** over arrays, which the compiler turns into vector multiplies. */
    for (int base = 0; base < n; base += 64) {
        const int m = n - base < 64 ? n - base : 64;
        uint32_t x0[64], x1[64], x2[64], x3[64];
        for (int i = 0; i < m; i++) {
            x0[i] = c0[base + i];
            x1[i] = c1[base + i];
            x2[i] = c2[base + i];
            x3[i] = c3[base + i];
        }
        uint32_t k0 = key[0], k1 = key[1];
        for (int round = 0; round < 10; round++) {
            if (round > 0) {
                k0 += PHILOX_W0;
                k1 += PHILOX_W1;
            }
            for (int i = 0; i < m; i++) {
                uint64_t p0 = (uint64_t)PHILOX_M0 * x0[i];
                uint64_t p1 = (uint64_t)PHILOX_M1 * x2[i];
                uint32_t n0 = (uint32_t)(p1 >> 32) ^ x1[i] ^ k0;
                uint32_t n2 = (uint32_t)(p0 >> 32) ^ x3[i] ^ k1;
                x0[i] = n0;
                x1[i] = (uint32_t)p1;
                x2[i] = n2;
                x3[i] = (uint32_t)p0;
            }
        }
        for (int i = 0; i < m; i++) {
            o0[base + i] = x0[i];
            o1[base + i] = x1[i];
            o2[base + i] = x2[i];
            o3[base + i] = x3[i];
        }
    }
}

/* Block `block` of (seed, stream), in the layout described at the top of the file. */
static inline void rng_block(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4]) {
    const uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
    const uint32_t ctr[4] = { (uint32_t)block, (uint32_t)(block >> 32),
                              (uint32_t)stream, (uint32_t)(stream >> 32) };
    nm_philox4x32(ctr, key, out);
}

/* One word -> uniform float in [0, 1). Shared by the stream and stateless paths so
** nm_rand_uniform_at(s, t, i) is exactly the i-th nm_rng_uniform of stream (s, t). */
static inline float word_to_uniform(uint32_t w) {
    return (float)(w >> 8) * 0x1.0p-24f;
}

/* ---- streams ----------------------------------------------------------- */

void nm_rng_init(nm_rng *r, uint64_t seed, uint64_t stream) {
    r->seed = seed;
    r->stream = stream;
    nm_rng_seek(r, 0);
}

void nm_rng_seek(nm_rng *r, uint64_t counter) {
    r->counter = counter;
    r->buf[0] = r->buf[1] = r->buf[2] = r->buf[3] = 0;
    r->n_buf = 0;
    /* The spare normal belongs to the old position; keeping it would make the draws
    ** after a seek depend on what was drawn before it. */
    r->has_spare = 0;
    r->spare = 0.0f;
}

uint32_t nm_rng_u32(nm_rng *r) {
    if (r->n_buf == 0) {
        rng_block(r->seed, r->stream, r->counter, r->buf);
        r->counter++;
        r->n_buf = 4;
    }
    return r->buf[4 - r->n_buf--];
}

uint64_t nm_rng_u64(nm_rng *r) {
    /* First word is the low half. */
    uint64_t lo = nm_rng_u32(r);
    uint64_t hi = nm_rng_u32(r);
    return lo | (hi << 32);
}

float nm_rng_uniform(nm_rng *r) { return word_to_uniform(nm_rng_u32(r)); }

double nm_rng_uniform_d(nm_rng *r) {
    /* 27 + 26 = 53 bits, the usual construction (as in genrand_res53). */
    uint32_t a = nm_rng_u32(r) >> 5;
    uint32_t b = nm_rng_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) * 0x1.0p-53;
}

uint32_t nm_rng_below(nm_rng *r, uint32_t n) {
    if (n == 0) return 0; /* outside the contract; answer something harmless */
    /* Lemire 2019, "Fast random integer generation in an interval": the high word of
    ** x*n is uniform on [0, n) once the few low words that would bias it are rejected. */
    uint64_t m = (uint64_t)nm_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n; /* 2^32 mod n */
        while (low < threshold) {
            m = (uint64_t)nm_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* Uniform in [0, n) for n up to 2^63, for shuffles longer than 2^32. Masked rejection
** keeps it unbiased without 128-bit multiplication (not in ISO C). */
static uint64_t rng_below64(nm_rng *r, uint64_t n) {
    if (n <= UINT32_MAX) return nm_rng_below(r, (uint32_t)n);
    uint64_t mask = n - 1;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    uint64_t x;
    do {
        x = nm_rng_u64(r) & mask;
    } while (x >= n);
    return x;
}

float nm_rng_normal(nm_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    /* u1 in (0, 1], so log(u1) is finite: the largest deviate is sqrt(-2 ln 2^-32)
    ** ~ 6.7 sigma. Computed in double so the float result is correctly rounded. */
    double u1 = ((double)nm_rng_u32(r) + 1.0) * 0x1.0p-32;
    double u2 = (double)nm_rng_u32(r) * 0x1.0p-32;
    double rad = sqrt(-2.0 * log(u1));
    double theta = 6.283185307179586476925286766559 * u2;
    r->spare = (float)(rad * sin(theta));
    r->has_spare = 1;
    return (float)(rad * cos(theta));
}

int nm_rng_bernoulli(nm_rng *r, float p) {
    /* Always one word, whatever p, so streams stay aligned when p varies per element. */
    float u = nm_rng_uniform(r);
    if (!(p > 0.0f)) return 0; /* also catches NaN */
    return u < p;              /* p >= 1 always succeeds since u < 1 */
}

/* ln(k!) without lgamma(), which writes the global `signgam` and so races under
** OpenMP. Exact sum for small k, Stirling series (error < 2e-12) beyond. */
static double log_factorial(double k) {
    if (k < 16.0) {
        double s = 0.0;
        for (double i = 2.0; i <= k; i += 1.0) s += log(i);
        return s;
    }
    double x = k + 1.0; /* ln Gamma(x) */
    double ix = 1.0 / x, ix2 = ix * ix;
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 /* ln sqrt(2 pi) */
         + ix * (1.0 / 12.0 - ix2 * (1.0 / 360.0 - ix2 * (1.0 / 1260.0)));
}

/* Hoermann 1993, "The transformed rejection method for generating Poisson random
** variables" (PTRS). Constant expected cost (~1.3 pairs of uniforms) for lambda >= 10. */
static uint32_t poisson_ptrs(nm_rng *r, double lambda) {
    double slam = sqrt(lambda);
    double loglam = log(lambda);
    double b = 0.931 + 2.53 * slam;
    double a = -0.059 + 0.02483 * b;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    double vr = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
        double u = nm_rng_uniform_d(r) - 0.5;
        double v = nm_rng_uniform_d(r);
        double us = 0.5 - fabs(u);
        /* us is 0 only for u == -0.5, which the algorithm would reject anyway (k would
        ** be -inf); skipping it first avoids dividing by zero. */
        if (us <= 0.0) continue;
        double kd = floor((2.0 * a / us + b) * u + lambda + 0.43);
        if (kd < 0.0) continue;
        if (kd >= 4294967295.0) return UINT32_MAX; /* saturate near the type's limit */
        if (us >= 0.07 && v <= vr) return (uint32_t)kd;
        if (us < 0.013 && v > us) continue;
        /* log(v) may be -inf (v == 0), which correctly accepts. */
        if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <=
            -lambda + kd * loglam - log_factorial(kd))
            return (uint32_t)kd;
    }
}

uint32_t nm_rng_poisson(nm_rng *r, double lambda) {
    if (!(lambda > 0.0)) return 0; /* 0, negative, NaN */
    if (lambda >= 10.0) return poisson_ptrs(r, lambda);
    /* Inversion: walk the CDF until it passes one uniform. Expected lambda + 1 steps.
    ** The step cap only guards against rounding leaving the summed CDF a hair below u. */
    double u = nm_rng_uniform_d(r);
    double p = exp(-lambda);
    double cdf = p;
    uint32_t k = 0;
    while (u > cdf && k < 1000) {
        k++;
        p *= lambda / (double)k;
        cdf += p;
    }
    return k;
}

void nm_rng_shuffle(nm_rng *r, int64_t *idx, int64_t n) {
    /* Fisher-Yates, from the back: every permutation equally likely. */
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below64(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* ---- stateless draws --------------------------------------------------- */

float nm_rand_uniform_at(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t out[4];
    rng_block(seed, stream, index / 4, out);
    return word_to_uniform(out[index % 4]);
}
