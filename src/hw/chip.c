/*
** chip.c: a graph realized on a chip profile. One sample of a chip: every weight layer
** programmed onto its crossbars (analog profiles) or rounded to the profile's weight
** resolution (digital ones), every LIF, IF and LI population given its fixed-pattern
** mismatch, all keyed by the seed. The executor runs the sample through its hooks:
**
**   product   Affine/Linear: the crossbar read (DAC, tiles, noise, IR drop, ADC) or the
**             product with the rounded weights; then the consumer population's leak offset
**             and temporal noise as input currents
**   product   Conv (groups 1): every output position a crossbar read of its input patch
**   weights   grouped Conv: the conductances as programmed and drifted (no read noise or
**             converters), through the executor's own kernel
**   neurons   LIF/IF/LI: per-neuron time constants, gains and thresholds
**
** A constant input (one row for all steps) is read once per step on a chip with fresh
** noise, as a real array would be: the hook then returns n_steps rows.
**
** In a training loop (chip-in-the-loop) the update hook re-programs, after every step, the
** layers whose weights changed since they were last programmed, with fresh programming
** draws; layers that did not learn keep their conductances. A layer or population made
** inactive (progressive fine-tuning) runs in ideal software: its hooks decline.
*/
#include <neuromorph/hw.h>

#include "hw_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct chip_node {
    nm_xbar        *xb;       /* analog weight layer                                        */
    float          *wq;       /* digital weight layer: the rounded weights (n_out, n_in)    */
    /* population */
    nm_neuron_draw *draw;
    float          *pn_buf;   /* alpha, beta, v_th, then as input currents the temporal noise
                              ** sigma and the leak offset (5 planes of nm_pad16(n))         */
    float           pn_dt;    /* step the constants are for (0: none yet)                   */
    nm_lif_pn_step  pn;
    /* weight layer: the population it feeds directly (-1: none) */
    int             consumer;
    float          *last;     /* the weights last programmed (n_w): update re-programs on change */
    int64_t         n_w;
    int             active;   /* 0: the layer runs in ideal software (progressive fine-tuning) */
} chip_node;

struct nm_chip {
    const nm_graph *g;
    nm_chip_profile p;
    uint64_t        seed;
    uint64_t        n_program;   /* programmings so far: each draws afresh */
    float           rp_tol;      /* update: 0 re-programs a changed layer whole, > 0 only the
                                 ** weights that moved by more than rp_tol x the layer's scale */
    nm_device      *dev;
    chip_node      *nd;
    int             n;
    double          t;
    uint64_t        pass;        /* forward passes: keys the read noise          */
    uint64_t        calls;       /* product calls in this pass (a recurrent layer reads every step) */
    float          *im, *cy;     /* conv reads: im2row rows (CONV_ROWS, K), outputs (reps CONV_ROWS, c_out) */
    int64_t         n_im, n_cy;
    float          *z;           /* temporal-noise normals of up to NOISE_ELEMS elements      */
    int64_t         n_z;
};

#define CONV_ROWS 4096   /* output positions per conv read: bounds the im2row scratch */
#define NOISE_ELEMS 65536 /* elements of temporal noise drawn at once                     */

/* 0x9E37... (the golden ratio) spreads consecutive counts over the seed's bits */
static uint64_t program_seed(const nm_chip *c) { return c->seed ^ (c->n_program * 0x9E3779B97F4A7C15ull); }

/* Programs every weight layer (changed_only = 0) or those whose weights differ from what
** was last programmed: a chip in a training loop writes only the layers that learned. */
static nm_status program_layers(nm_chip *c, int changed_only) {
    const float *params = nm_graph_params_const(c->g);
    nm_status rc;
    int any = 0;
    for (int j = 0; j < c->n; j++) {
        const nm_node *nd = nm_graph_node(c->g, j);
        chip_node *cn = &c->nd[j];
        if (!cn->last) continue;
        if (changed_only && !memcmp(cn->last, params + nd->w_off, sizeof(float) * cn->n_w)) continue;
        any = 1;
        if (changed_only && cn->xb && c->rp_tol > 0.0f) {
            /* last keeps, per weight, what the devices were written with */
            if ((rc = nm_xbar_reprogram(cn->xb, params + nd->w_off, cn->last, c->rp_tol, program_seed(c), NULL)))
                return nm__error(rc, "node '%s': %s", nd->name, nm_errmsg());
            if (c->t > 0 && (rc = nm_xbar_set_time(cn->xb, c->t))) return rc;
            continue;
        }
        memcpy(cn->last, params + nd->w_off, sizeof(float) * cn->n_w);
        if (cn->xb) {
            if ((rc = nm_xbar_program(cn->xb, params + nd->w_off, program_seed(c), (uint64_t)j + 1)))
                return nm__error(rc, "node '%s': %s", nd->name, nm_errmsg());
            if (c->t > 0 && (rc = nm_xbar_set_time(cn->xb, c->t))) return rc;
        } else if (cn->wq) {
            nm_quantize_weights(params + nd->w_off, cn->n_w, c->p.weight_bits, cn->wq);
        }
    }
    if (any || !changed_only) c->n_program++;
    return NM_OK;
}

nm_status nm_chip_program(nm_chip *c) { return program_layers(c, 0); }

nm_status nm_chip_set_reprogram_tol(nm_chip *c, float tol) {
    NM_ASSERT(c);
    if (!(isfinite(tol) && tol >= 0.0f && tol < 1.0f))
        return nm__error(NM_INVAL, "chip: the re-programming tolerance must be in [0, 1), not %g", (double)tol);
    c->rp_tol = tol;
    return NM_OK;
}

static nm_status hook_update(void *ctx) { return program_layers(ctx, 1); }

void nm_chip_destroy(nm_chip *c) {
    if (!c) return;
    for (int j = 0; j < c->n; j++) {
        nm_xbar_destroy(c->nd[j].xb);
        nm_free(c->nd[j].wq);
        nm_neuron_draw_destroy(c->nd[j].draw);
        nm_free(c->nd[j].pn_buf);
        nm_free(c->nd[j].last);
    }
    free(c->nd);
    nm_free(c->im);
    nm_free(c->cy);
    nm_free(c->z);
    nm_device_destroy(c->dev);
    free(c);
}

nm_status nm_chip_realize(const nm_graph *g, const nm_chip_profile *p, uint64_t seed, nm_chip **out) {
    nm_status rc = NM_OK;
    nm_chip *c = calloc(1, sizeof *c);
    if (!c) return nm__error(NM_NOMEM, "out of memory realizing a chip");
    c->g = g;
    c->p = *p;
    c->seed = seed;
    c->n = nm_graph_n_nodes(g);
    if (!(c->nd = calloc((size_t)c->n, sizeof *c->nd))) { rc = nm__error(NM_NOMEM, "out of memory realizing a chip"); goto fail; }
    if (p->analog && (rc = nm_device_create(&p->device, &c->dev))) goto fail;
    for (int j = 0; j < c->n; j++) {
        const nm_node *nd = nm_graph_node(g, j);
        chip_node *cn = &c->nd[j];
        cn->consumer = -1;
        cn->active = 1;
        if ((cn->n_w = nm_node_weight_count(nd)) > 0) {
            if (!(cn->last = nm_alloc(sizeof(float) * cn->n_w))) { rc = nm__error(NM_NOMEM, "out of memory"); goto fail; }
            int64_t rows = nd->n_out, cols = nd->n_in;
            if (nd->kind == NM_NODE_CONV) {   /* the kernel matrix: c_out x (c_in / groups) kh kw */
                rows = nd->conv.c_out;
                cols = nm_conv_weight_count(&nd->conv) / rows;
            }
            if (p->analog) {
                if ((rc = nm_xbar_create(&p->xbar, c->dev, rows, cols, &cn->xb))) goto fail;
            } else if (p->weight_bits > 0) {
                if (!(cn->wq = nm_alloc(sizeof(float) * rows * cols))) { rc = nm__error(NM_NOMEM, "out of memory"); goto fail; }
            }
        } else if (nm_node_kind_neuron(nd->kind) && p->has_mismatch) {
            if (nd->rec >= 0 || (nd->flags & NM_NODE_LEARN_NEURON)) {
                rc = nm__error(NM_UNSUPPORTED, "node '%s': analog-neuron mismatch of a %s population is not modelled yet",
                               nd->name, nd->rec >= 0 ? "recurrent" : "learnable-constant");
                goto fail;
            }
            if (nd->kind != NM_NODE_LIF && nd->kind != NM_NODE_IF && nd->kind != NM_NODE_LI) {
                rc = nm__error(NM_UNSUPPORTED,
                               "node '%s' (%s): analog-neuron mismatch is modelled for LIF, IF and LI populations only",
                               nd->name, nm_node_kind_name(nd->kind));
                goto fail;
            }
            if ((rc = nm_neuron_draw_create(&p->neuron, nd->n_out, seed, 0x4E00000000ull + (uint64_t)j, &cn->draw)))
                goto fail;
            if (!(cn->pn_buf = nm_alloc(sizeof(float) * 5 * nm_pad16(nd->n_out)))) {
                rc = nm__error(NM_NOMEM, "out of memory");
                goto fail;
            }
            /* the layer feeding it directly carries its offsets and noise */
            const nm_node *src = nm_graph_node(g, nd->src);
            if (src->kind == NM_NODE_AFFINE || src->kind == NM_NODE_LINEAR) c->nd[nd->src].consumer = j;
        }
    }
    if ((rc = nm_chip_program(c))) goto fail;
    *out = c;
    return NM_OK;
fail:
    nm_chip_destroy(c);
    return rc;
}

nm_status nm_chip_set_time(nm_chip *c, double t) {
    if (!(t >= 0) || !isfinite(t)) return nm__error(NM_RANGE, "device time must be >= 0 seconds, not %g", t);
    for (int j = 0; j < c->n; j++) {
        nm_status rc;
        if (c->nd[j].xb && (rc = nm_xbar_set_time(c->nd[j].xb, t))) return rc;
    }
    c->t = t;
    return NM_OK;
}

nm_xbar *nm_chip_xbar(const nm_chip *c, int node) {
    return node >= 0 && node < c->n ? c->nd[node].xb : NULL;
}

const nm_chip_profile *nm_chip_get_profile(const nm_chip *c) { return &c->p; }

nm_status nm_chip_set_active(nm_chip *c, int node, int on) {
    if (node < 0 || node >= c->n || (!c->nd[node].last && !c->nd[node].draw))
        return nm__error(NM_RANGE, "node %d holds no weights or analog neurons on chip '%s'", node, c->p.name);
    c->nd[node].active = on != 0;
    return NM_OK;
}

nm_status nm_chip_set_drift_comp(nm_chip *c, nm_drift_comp mode) {
    if (!c->p.analog && mode != NM_DRIFT_COMP_NONE)
        return nm__error(NM_UNSUPPORTED, "chip profile '%s' is digital: drift compensation needs analog crossbars", c->p.name);
    for (int j = 0; j < c->n; j++) {
        nm_status rc;
        if (c->nd[j].xb && (rc = nm_xbar_set_drift_comp(c->nd[j].xb, mode))) return rc;
    }
    return NM_OK;
}

/* ---- the neurons ------------------------------------------------------------------ */

/* Per-neuron constants of population j at step dt:
**   tau_i = tau (1 + d_tau), alpha_i = exp(-dt / tau_i), beta_i = (1 - alpha_i) r (1 + d_gain),
**   v_th,i = v_th + d_th (v_th - v_leak);
** and, for the layer feeding it, the leak offset as an input current (a resting potential
** shifted by D (v_th - v_leak) is the current D (v_th - v_leak) / (r gain_i)) and the
** temporal noise sigma (v_th - v_leak) per step as a current sigma (v_th - v_leak) / beta_i. */
static void neuron_consts(nm_chip *c, int j, float dt) {
    chip_node *cn = &c->nd[j];
    const nm_node *nd = nm_graph_node(c->g, j);
    const nm_neuron_draw *d = cn->draw;
    const int64_t n = nd->n_out, pad = nm_pad16(n);
    float *alpha = cn->pn_buf, *beta = alpha + pad, *vth = beta + pad, *noise = vth + pad, *offset = noise + pad;
    float tau = 0, r, vl, th, vr;
    nm_reset reset = NM_RESET_NONE;
    if (nd->kind == NM_NODE_LIF) {
        tau = nd->lif.tau, r = nd->lif.r, vl = nd->lif.v_leak, th = nd->lif.v_threshold, vr = nd->lif.v_reset;
        reset = nd->lif.reset;
    } else if (nd->kind == NM_NODE_IF) {
        r = nd->ifp.r * dt, vl = 0.0f, th = nd->ifp.v_threshold, vr = nd->ifp.v_reset;
        reset = nd->ifp.reset;
    } else {
        tau = nd->li.tau, r = nd->li.r, vl = nd->li.v_leak, th = vl + 1.0f, vr = vl;
    }
    const float span = nd->kind == NM_NODE_IF ? th - vr : nd->kind == NM_NODE_LI ? 1.0f : th - vl;   /* LI: no threshold */
    for (int64_t i = 0; i < n; i++) {
        const float gain = 1.0f + d->gain[i];
        if (nd->kind == NM_NODE_IF) {
            alpha[i] = 1.0f;
            beta[i] = r * gain;
        } else {
            double a = exp(-(double)dt / (tau * (1.0f + d->tau_mem[i])));
            alpha[i] = (float)a;
            beta[i] = (float)((1.0 - a) * r) * gain;
        }
        vth[i] = nd->kind == NM_NODE_LI ? INFINITY : th + d->v_th[i] * span;
        noise[i] = c->p.neuron.noise * span / beta[i];
        offset[i] = nd->kind == NM_NODE_IF ? 0.0f : d->v_leak[i] * span / (r * gain);   /* IF has no leak */
    }
    cn->pn = (nm_lif_pn_step){alpha, beta, NULL, vth, r, vl, vr, reset};
    cn->pn_dt = dt;
}

static const nm_lif_pn_step *hook_neurons(void *ctx, int node, float dt) {
    nm_chip *c = ctx;
    chip_node *cn = &c->nd[node];
    if (!cn->draw || !cn->active) return NULL;
    if (cn->pn_dt != dt) neuron_consts(c, node, dt);
    return &cn->pn;
}

/* ---- the products ------------------------------------------------------------------ */

static void hook_begin(void *ctx, int batch, float dt) {
    nm_chip *c = ctx;
    (void)batch;
    c->pass++;
    c->calls = 0;
    for (int j = 0; j < c->n; j++)
        if (c->nd[j].draw && c->nd[j].pn_dt != dt) neuron_consts(c, j, dt);
}

/* Whether two reads of the same input differ: then every step gets its own read. */
static int noisy_reads(const nm_chip *c, const chip_node *cn) {
    if (cn->consumer >= 0 && c->nd[cn->consumer].active && c->p.neuron.noise > 0) return 1;
    if (!cn->xb || !cn->active) return 0;
    return c->p.xbar.adc_noise > 0 || c->dev->ops->read_sigma(c->dev, 1.0f) > 0;
}

/* Grows a scratch buffer to n floats; 0 on failure. */
static int grow(float **buf, int64_t *have, int64_t n) {
    if (n <= *have) return 1;
    nm_free(*buf);
    *buf = nm_alloc(sizeof(float) * n);
    *have = *buf ? n : 0;
    return *buf != NULL;
}

/* A Conv (groups 1) through its crossbar: every output position of every image is one read
** of the kernel matrix (c_out, c_in kh kw) with the position's input patch (im2row, the patch
** in the weights' (ci, ky, kx) order, zeros in the padding), CONV_ROWS positions per read.
** Chunk k of the read gets read_id base + k, so chunks never share noise. */
static int conv_product(nm_chip *c, int node, const float *x, int rows, int batch, int reps, uint64_t base, float *y) {
    const nm_node *nd = nm_graph_node(c->g, node);
    const nm_conv_geom *g = &nd->conv;
    const int64_t K = nm_conv_weight_count(g) / g->c_out, P = g->h_out * g->w_out, m_img = (int64_t)rows * batch;
    const int64_t in_img = g->c_in * g->h_in * g->w_in, out_img = g->c_out * P;
    const int64_t per = P >= CONV_ROWS ? 1 : CONV_ROWS / P;   /* images per read */
    if (!grow(&c->im, &c->n_im, per * P * K) || !grow(&c->cy, &c->n_cy, (int64_t)reps * per * P * g->c_out)) return -1;
    for (int64_t i0 = 0, chunk = 0; i0 < m_img; i0 += per, chunk++) {
        const int64_t ni = m_img - i0 < per ? m_img - i0 : per, mr = ni * P;
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < mr; r++) {
            const int64_t img = r / P, p = r % P, oy = p / g->w_out, ox = p % g->w_out;
            const float *xi = x + (i0 + img) * in_img;
            float *row = c->im + r * K;
            for (int64_t ci = 0, k = 0; ci < g->c_in; ci++)
                for (int ky = 0; ky < g->kh; ky++)
                    for (int kx = 0; kx < g->kw; kx++, k++) {
                        const int64_t iy = oy * g->sh - g->ph + (int64_t)ky * g->dh, ix = ox * g->sw - g->pw + (int64_t)kx * g->dw;
                        row[k] = iy < 0 || iy >= g->h_in || ix < 0 || ix >= g->w_in ? 0.0f
                                                                                   : xi[(ci * g->h_in + iy) * g->w_in + ix];
                    }
        }
        nm_xbar_forward_rep(c->nd[node].xb, c->im, mr, reps, c->cy, base + (uint64_t)chunk);
        /* (reps, ni P, c_out) -> y (reps, m_img, c_out, P) */
        #pragma omp parallel for schedule(static)
        for (int64_t q = 0; q < (int64_t)reps * ni; q++) {
            const int64_t k = q / ni, img = q % ni;
            const float *src = c->cy + (k * mr + img * P) * g->c_out;
            float *dst = y + (k * m_img + i0 + img) * out_img;
            for (int64_t p = 0; p < P; p++)
                for (int64_t co = 0; co < g->c_out; co++) dst[co * P + p] = src[p * g->c_out + co];
        }
    }
    return rows * reps;
}

static int hook_product(void *ctx, int node, const float *x, int rows, int batch, int n_steps, float *y) {
    nm_chip *c = ctx;
    chip_node *cn = &c->nd[node];
    const nm_node *nd = nm_graph_node(c->g, node);
    /* every read of a pass its own noise: (pass, node, call), room for 4096 conv chunks */
    const uint64_t read_id = ((c->pass * (uint64_t)c->n + (uint64_t)node) << 32) + (c->calls++ << 12);
    /* a constant input is read afresh at every step when reads are noisy */
    const int reps = rows == 1 && n_steps > 1 && noisy_reads(c, cn) ? n_steps : 1;
    if (nd->kind == NM_NODE_CONV) {
        /* grouped convolutions read the programmed weights through the executor's kernel */
        if (!cn->xb || !cn->active || nd->conv.groups != 1) return -1;
        return conv_product(c, node, x, rows, batch, reps, read_id, y);
    }
    const int64_t n_in = nd->n_in, n_out = nd->n_out;
    const int64_t m_in = (int64_t)rows * batch, m = m_in * reps;
    const int consumer = cn->consumer >= 0 && c->nd[cn->consumer].active;
    if (cn->xb && cn->active) {
        nm_xbar_forward_rep(cn->xb, x, m_in, reps, y, read_id);
    } else {
        const int own = cn->wq && cn->active;
        if (!own && !consumer) return -1;   /* nothing of the chip's: the executor's own product */
        const float *W = own ? cn->wq : nm_graph_params_const(c->g) + nd->w_off;
        nm_sgemm(0, 1, m_in, n_out, n_in, 1.0f, x, n_in, W, n_in, 0.0f, y, n_out);
        for (int t = 1; t < reps; t++) memcpy(y + t * m_in * n_out, y, sizeof(float) * m_in * n_out);
    }
    if (consumer) {
        /* the population's leak offsets and temporal noise, as input currents; the normals
        ** of element (row, i) are index row n_out + i of (seed and pass, node) */
        const int64_t pad = nm_pad16(n_out);
        const float *noise = c->nd[cn->consumer].pn_buf + 3 * pad, *offset = noise + pad;
        const uint64_t seed = c->seed ^ (c->pass * 0x9E3779B97F4A7C15ull), stream = 0x7E00000000ull + (uint64_t)node;
        if (c->p.neuron.noise > 0) {
            const int64_t rows_per = NOISE_ELEMS / n_out > 0 ? NOISE_ELEMS / n_out : 1;
            if (!grow(&c->z, &c->n_z, rows_per * n_out)) return -1;
            for (int64_t r0 = 0; r0 < m; r0 += rows_per) {
                const int64_t nr = m - r0 < rows_per ? m - r0 : rows_per;
                nm__hw_normals(seed, stream, (uint64_t)(r0 * n_out), nr * n_out, c->z);
                #pragma omp parallel for schedule(static)
                for (int64_t r = 0; r < nr; r++) {
                    float *yr = y + (r0 + r) * n_out;
                    const float *zr = c->z + r * n_out;
                    for (int64_t i = 0; i < n_out; i++) yr[i] += offset[i] + noise[i] * zr[i];
                }
            }
        } else {
            #pragma omp parallel for schedule(static)
            for (int64_t row = 0; row < m; row++)
                for (int64_t i = 0; i < n_out; i++) y[row * n_out + i] += offset[i];
        }
    }
    return rows * reps;
}

static const float *hook_weights(void *ctx, int node) {
    nm_chip *c = ctx;
    const chip_node *cn = &c->nd[node];
    if (!cn->active) return NULL;
    return cn->xb ? nm_xbar_weights(cn->xb) : cn->wq;
}

void nm_chip_hooks(nm_chip *c, nm_exec_hooks *h) {
    memset(h, 0, sizeof *h);
    h->ctx = c;
    h->begin = hook_begin;
    h->product = hook_product;
    h->weights = hook_weights;
    h->neurons = hook_neurons;
    h->update = hook_update;
}
