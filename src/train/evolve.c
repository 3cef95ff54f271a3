/*
** evolve.c: a simple evolution strategy over a small spiking network's parameters, the
** gradient-free baseline (Salimans et al. 2017, "Evolution strategies as a scalable
** alternative to reinforcement learning").
**
** Each generation draws a minibatch, then P antithetic pairs theta +- sigma eps_k (eps_k
** standard normal over all parameters), runs the spiking network (the executor, forward
** only) on the minibatch for each, and scores it by minus the mean cross-entropy of its class
** scores. Fitnesses are replaced by centred ranks in [-0.5, 0.5] (robust to their scale), the
** gradient estimate is sum_k (r+_k - r-_k) eps_k / (2 P sigma), and Adam takes a step along it.
** Topology is fixed: only weights and biases (and any other parameter of the graph) evolve.
**
** Reproducibility: eps_k comes from Philox at (seed, generation, k), the minibatch from
** (seed, generation); members are evaluated in parallel, each on its own copy of the graph
** and executor, and the update sums over k in order, so the result does not depend on the
** thread count. Cost per generation: 2 P forward passes over `batch` samples.
*/
#include "learn_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

void nm_evolve_config_default(nm_evolve_config *c) {
    memset(c, 0, sizeof *c);
    c->generations = 200;
    c->pairs = 16;
    c->sigma = 0.02f;
    c->lr = 0.01f;
    c->batch = 256;
    c->seed = 1;
}

/* Member m's perturbation direction: eps (n) for pair m / 2, negated for odd m. */
static void draw_eps(uint64_t seed, int gen, int pair, int64_t n, float *eps) {
    nm_rng r;
    nm_rng_init(&r, seed, 0x45530000000000ull + ((uint64_t)gen << 16) + (uint64_t)pair);   /* "ES" */
    for (int64_t i = 0; i < n; i++) eps[i] = nm_rng_normal(&r);
}

typedef struct member_ws {
    nm_graph *g;
    nm_exec  *x;
    float    *gbuf, *eps;
} member_ws;

static void ws_free(member_ws *w) {
    nm_exec_destroy(w->x);
    nm_graph_destroy(w->g);
    nm_free(w->gbuf);
    nm_free(w->eps);
}

nm_status nm_evolve(nm_graph *g, const nm_dataset *train, const nm_train_config *tc, const nm_evolve_config *c,
                    nm_evolve_result *res) {
    NM_ASSERT(g && train && tc && c && res);
    if (c->generations < 1) return nm__error(NM_RANGE, "ES generations must be at least 1, got %d", c->generations);
    if (c->pairs < 1 || c->pairs > 4096) return nm__error(NM_RANGE, "ES pairs must be in [1, 4096], got %d", c->pairs);
    if (!(c->sigma > 0.0f) || !isfinite(c->sigma)) return nm__error(NM_RANGE, "ES sigma must be positive, got %g", c->sigma);
    if (!(c->lr > 0.0f) || !isfinite(c->lr)) return nm__error(NM_RANGE, "ES learning rate must be positive, got %g", c->lr);
    if (c->batch < 1 || c->batch > 65536) return nm__error(NM_RANGE, "ES batch must be in [1, 65536], got %d", c->batch);
    nm_status rc = nm__check_data(g, train, "training");
    if (rc || (rc = nm_loss_check(g, tc->readout, NM_LOSS_CE))) return rc;
    memset(res, 0, sizeof *res);
    const int64_t np = nm_graph_n_params(g), ni = nm_graph_input_size(g);
    const int64_t n_lim = c->train_limit > 0 && c->train_limit < train->n ? c->train_limit : train->n;
    const int P = c->pairs, M = 2 * P, B = c->batch;
    const int C = (int)nm_graph_output_size(g);
    nm_encoder enc;
    nm_encoder_default(&enc, tc->encoding, tc->n_steps, tc->seed);
    const int rows = nm_encoder_time_rows(&enc);
    int n_thr = 1;
#ifdef _OPENMP
    n_thr = omp_get_max_threads();
#endif
    if (n_thr > M) n_thr = M;
    member_ws *ws = calloc((size_t)n_thr, sizeof *ws);
    float *fit = nm_alloc((size_t)M * sizeof(float)), *rank = nm_alloc((size_t)M * sizeof(float));
    float *grad = nm_alloc((size_t)np * sizeof(float)), *eps = nm_alloc((size_t)np * sizeof(float));
    float *xb = nm_alloc((size_t)B * ni * sizeof(float)), *xin = nm_alloc((size_t)rows * B * ni * sizeof(float));
    int64_t *idx = nm_alloc((size_t)B * sizeof(int64_t));
    int *lab = nm_alloc((size_t)B * sizeof(int));
    nm_adam *opt = NULL;
    if (!ws || !fit || !rank || !grad || !eps || !xb || !xin || !idx || !lab) {
        rc = nm__error(NM_NOMEM, "out of memory for the evolution strategy");
        goto done;
    }
    nm_exec_config ec = {tc->dt, tc->n_steps, B, tc->sparse, tc->sparse_max_density};
    for (int t = 0; t < n_thr; t++) {
        if ((rc = nm_graph_clone(g, &ws[t].g)) || (rc = nm_exec_create(ws[t].g, &ec, &ws[t].x))) goto done;
        ws[t].gbuf = nm_alloc((size_t)tc->n_steps * B * C * sizeof(float));
        ws[t].eps = nm_alloc((size_t)np * sizeof(float));
        if (!ws[t].gbuf || !ws[t].eps) {
            rc = nm__error(NM_NOMEM, "out of memory for the evolution strategy");
            goto done;
        }
    }
    if ((rc = nm_adam_create(np, &opt))) goto done;
    const float *theta = nm_graph_params_const(g);
    double t0 = nm_time_now();
    nm_progress *pb = nm_progress_create("ES generations", c->generations, c->quiet);
    for (int gen = 0; gen < c->generations; gen++) {
        if (tc->stop && *tc->stop) {
            nm_progress_finish(pb);
            rc = nm__error(NM_INTERRUPTED, "evolution interrupted after %d generations", gen);
            goto done;
        }
        nm_rng r;
        nm_rng_init(&r, c->seed, 0x45534200000000ull + (uint64_t)gen);   /* "ESB": minibatch */
        for (int b = 0; b < B; b++) idx[b] = (int64_t)nm_rng_below(&r, (uint32_t)n_lim);
        nm_dataset_batch(train, idx, B, xb, lab);
        nm_encode(&enc, xb, B, ni, idx, (uint64_t)gen, xin);
        nm_status prc = NM_OK;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_thr)
        for (int m = 0; m < M; m++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            member_ws *w = &ws[t];
            draw_eps(c->seed, gen, m / 2, np, w->eps);
            const float s = (m & 1) ? -c->sigma : c->sigma;
            float *p = nm_graph_params(w->g);
            for (int64_t i = 0; i < np; i++) p[i] = theta[i] + s * w->eps[i];
            nm_status lrc = nm_exec_forward(w->x, xin, rows, B);
            if (lrc) {
#pragma omp critical
                prc = lrc;
                fit[m] = -INFINITY;
                continue;
            }
            fit[m] = (float)(-nm_loss_ce(w->x, tc->readout, lab, w->gbuf, NULL) / B);
        }
        if ((rc = prc)) {
            nm_progress_finish(pb);
            goto done;
        }
        /* centred ranks: the k-th smallest of M gets k / (M - 1) - 0.5 (ties by index) */
        double mean = 0.0;
        for (int m = 0; m < M; m++) {
            int k = 0;
            for (int q = 0; q < M; q++) k += fit[q] < fit[m] || (fit[q] == fit[m] && q < m);
            rank[m] = M > 1 ? (float)k / (float)(M - 1) - 0.5f : 0.0f;
            mean += fit[m];
        }
        mean /= M;
        if (gen == 0) res->first_fitness = mean;
        res->last_fitness = mean;
        memset(grad, 0, (size_t)np * sizeof(float));
        for (int k = 0; k < P; k++) {
            draw_eps(c->seed, gen, k, np, eps);
            const float a = (rank[2 * k] - rank[2 * k + 1]) / (2.0f * P * c->sigma);
            for (int64_t i = 0; i < np; i++) grad[i] -= a * eps[i];   /* Adam descends: minus the ascent */
        }
        nm_adam_step(opt, nm_graph_params(g), grad, c->lr);
        res->generations = gen + 1;
        char suf[40];
        snprintf(suf, sizeof suf, "fitness %.4f", mean);
        nm_progress_update(pb, gen + 1, suf);
    }
    nm_progress_finish(pb);
    res->seconds = nm_time_now() - t0;
done:
    for (int t = 0; ws && t < n_thr; t++) ws_free(&ws[t]);
    free(ws);
    nm_free(fit);
    nm_free(rank);
    nm_free(grad);
    nm_free(eps);
    nm_free(xb);
    nm_free(xin);
    nm_free(idx);
    nm_free(lab);
    nm_adam_destroy(opt);
    return rc;
}
