/*
** The training and evaluation loops, and checkpoints.
**
** A run is a pure function of (graph, data, config): the epoch's order is a Philox
** shuffle keyed by (seed, epoch), the spikes of rate coding are keyed by (seed, sample,
** epoch), and the learning rate is a function of the global step. A checkpoint therefore
** needs only the parameters, the optimizer state and the position (epoch, batch) to
** continue exactly where the run stopped: a resumed run ends with bit-identical weights.
**
** Checkpoints are written at the end of every epoch, every `checkpoint_every` seconds
** within one, and when *stop is set (Ctrl-C), atomically, so a kill at any moment leaves
** the previous checkpoint intact.
*/
#include <neuromorph/train.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_SHUFFLE 0x73687566666c65ull   /* Philox stream of the epoch order */
#define EVAL_EPOCH     0xffffull              /* rate-coding key for evaluation */

void nm_train_config_default(nm_train_config *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 1;
    c->batch = 128;
    c->eval_batch = 500;
    c->lr = 1e-3f;
    c->lr_final = 0.05f;
    c->schedule = NM_SCHED_COSINE;
    c->step_gamma = 0.1f;
    c->step_every = 1;
    c->optimizer = NM_OPT_ADAM;
    c->momentum = 0.9f;
    c->weight_decay = 0.01f;
    c->loss = NM_LOSS_CE;
    c->mse_correct_rate = 0.8f;
    c->mse_incorrect_rate = 0.2f;
    c->n_steps = 25;
    c->dt = 1e-3f;
    c->encoding = NM_ENC_CURRENT;
    c->readout = NM_READOUT_MEAN;
    nm_surrogate_default(&c->surrogate, NM_SURR_FAST_SIGMOID);
    c->detach_reset = 1;
    c->seed = 1;
    c->checkpoint_every = 60.0;
}

nm_status nm_train_config_check(const nm_train_config *c) {
    if (c->epochs < 1 || c->epochs > NM_MAX_EPOCHS) return nm__error(NM_RANGE, "epochs must be in 1..%d, not %d", NM_MAX_EPOCHS, c->epochs);
    if (c->batch < 1 || c->batch > 65536) return nm__error(NM_RANGE, "batch must be in 1..65536, not %d", c->batch);
    if (c->eval_batch < 1 || c->eval_batch > 65536) return nm__error(NM_RANGE, "evaluation batch must be in 1..65536, not %d", c->eval_batch);
    if (!(c->lr > 0) || !isfinite(c->lr)) return nm__error(NM_RANGE, "learning rate must be positive, not %g", c->lr);
    if (!(c->lr_final >= 0 && c->lr_final <= 1)) return nm__error(NM_RANGE, "final learning-rate fraction must be in [0, 1], not %g", c->lr_final);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay)) return nm__error(NM_RANGE, "weight decay must be >= 0, not %g", c->weight_decay);
    if (c->n_steps < 1 || c->n_steps > 100000) return nm__error(NM_RANGE, "steps must be in 1..100000, not %d", c->n_steps);
    if (!(c->dt > 0) || !isfinite(c->dt)) return nm__error(NM_RANGE, "dt must be a positive time in seconds, not %g", c->dt);
    if (!(c->surrogate.slope > 0) || !isfinite(c->surrogate.slope)) return nm__error(NM_RANGE, "surrogate slope must be positive, not %g", c->surrogate.slope);
    if (c->train_limit < 0 || c->test_limit < 0) return nm__error(NM_RANGE, "sample limits must be >= 0");
    if (c->warmup < 0) return nm__error(NM_RANGE, "warm-up steps must be >= 0, not %lld", (long long)c->warmup);
    if (!(c->step_gamma > 0 && c->step_gamma <= 1)) return nm__error(NM_RANGE, "step-schedule factor must be in (0, 1], not %g", c->step_gamma);
    if (c->step_every < 1) return nm__error(NM_RANGE, "step-schedule interval must be >= 1 epoch, not %d", c->step_every);
    if (!(c->momentum >= 0 && c->momentum < 1)) return nm__error(NM_RANGE, "momentum must be in [0, 1), not %g", c->momentum);
    if (!(c->clip_norm >= 0) || !isfinite(c->clip_norm)) return nm__error(NM_RANGE, "gradient clip norm must be >= 0, not %g", c->clip_norm);
    if (!(c->rate_reg >= 0) || !isfinite(c->rate_reg)) return nm__error(NM_RANGE, "rate regularizer must be >= 0, not %g", c->rate_reg);
    if (!(c->mse_correct_rate >= 0 && c->mse_correct_rate <= 1) || !(c->mse_incorrect_rate >= 0 && c->mse_incorrect_rate <= 1))
        return nm__error(NM_RANGE, "mse target rates must be in [0, 1] (spikes per step)");
    if (!(c->sparse_max_density >= 0 && c->sparse_max_density <= 1))
        return nm__error(NM_RANGE, "sparse density threshold must be in [0, 1], not %g", c->sparse_max_density);
    return NM_OK;
}

const char *nm_optimizer_name(nm_optimizer o) { return o == NM_OPT_SGD ? "sgd" : "adam"; }

nm_status nm_optimizer_parse(const char *s, nm_optimizer *out) {
    if (!strcmp(s, "adam")) *out = NM_OPT_ADAM;
    else if (!strcmp(s, "sgd")) *out = NM_OPT_SGD;
    else return nm__error(NM_INVAL, "unknown optimizer '%s' (choose adam or sgd)", s);
    return NM_OK;
}

static double run_loss(const nm_exec *x, const nm_train_config *c, const int *labels, float *g, int *hits) {
    if (c->loss == NM_LOSS_MSE) return nm_loss_mse_count(x, labels, c->mse_correct_rate, c->mse_incorrect_rate, g, hits);
    return nm_loss_ce(x, c->readout, labels, g, hits);
}

/* ---- batches ----------------------------------------------------------- */

/* Scratch for turning dataset samples into executor input. */
typedef struct batcher {
    nm_encoder enc;
    int64_t    n_in;
    float     *x;        /* (batch, n_in) intensities */
    float     *spk;      /* (n_steps, batch, n_in) encoded, unless constant current */
    int       *labels;
} batcher;

static nm_status batcher_init(batcher *bt, const nm_train_config *c, int64_t n_in, int max_batch) {
    memset(bt, 0, sizeof *bt);
    nm_encoder_default(&bt->enc, c->encoding, c->n_steps, c->seed);
    bt->n_in = n_in;
    /* frames: a sample holds all n_steps frames, transposed into spk by nm_encode */
    bt->x = nm_alloc(sizeof(float) * max_batch * n_in * (c->encoding == NM_ENC_FRAMES ? c->n_steps : 1));
    bt->labels = malloc(sizeof(int) * max_batch);
    if (c->encoding != NM_ENC_CURRENT) bt->spk = nm_alloc(sizeof(float) * (int64_t)c->n_steps * max_batch * n_in);
    if (!bt->x || !bt->labels || (c->encoding != NM_ENC_CURRENT && !bt->spk))
        return nm__error(NM_NOMEM, "out of memory for input batches");
    return NM_OK;
}

static void batcher_free(batcher *bt) {
    nm_free(bt->x);
    nm_free(bt->spk);
    free(bt->labels);
}

/* Loads samples idx[0..n) and returns the executor input; *rows gets its time rows. */
static const float *batcher_load(batcher *bt, const nm_dataset *d, const int64_t *idx, int n, uint64_t epoch,
                                 int *rows) {
    nm_dataset_batch(d, idx, n, bt->x, bt->labels);
    *rows = nm_encoder_time_rows(&bt->enc);
    if (bt->enc.kind == NM_ENC_CURRENT) return bt->x;
    nm_encode(&bt->enc, bt->x, n, bt->n_in, idx, epoch, bt->spk);
    return bt->spk;
}

/* ---- evaluation -------------------------------------------------------- */

static nm_status evaluate_on(nm_exec *x, batcher *bt, const nm_dataset *d, const nm_train_config *c,
                             float *g_mem, nm_eval_result *res) {
    const nm_graph *g = nm_exec_graph(x);
    int64_t n = d->n;
    if (c->test_limit > 0 && c->test_limit < n) n = c->test_limit;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)c->eval_batch);
    if (!idx) return nm__error(NM_NOMEM, "out of memory for evaluation");
    double t0 = nm_time_now(), loss = 0.0;
    int64_t correct = 0, spikes = 0;
    memset(res, 0, sizeof *res);
    for (int j = 0; j < nm_graph_n_nodes(g) && res->n_layers < NM_MAX_REPORT_LAYERS; j++)
        if (nm_node_kind_spiking(nm_graph_node(g, j)->kind)) res->layer_node[res->n_layers++] = j;

    for (int64_t first = 0; first < n; first += c->eval_batch) {
        int bs = (int)(n - first < c->eval_batch ? n - first : c->eval_batch), rows, hits;
        for (int b = 0; b < bs; b++) idx[b] = first + b;
        const float *in = batcher_load(bt, d, idx, bs, EVAL_EPOCH, &rows);
        nm_status rc = nm_exec_forward(x, in, rows, bs);
        if (rc) { free(idx); return rc; }
        loss += run_loss(x, c, bt->labels, g_mem, &hits);
        correct += hits;
        spikes += nm_exec_total_spikes(x);
        for (int l = 0; l < res->n_layers; l++) res->layer_spikes[l] += (double)nm_exec_spikes(x, res->layer_node[l]);
    }
    free(idx);
    res->n = n;
    res->accuracy = n ? (double)correct / (double)n : 0.0;
    res->loss = n ? loss / (double)n : 0.0;
    res->spikes_per_sample = n ? (double)spikes / (double)n : 0.0;
    for (int l = 0; l < res->n_layers; l++) {
        res->layer_spikes[l] /= (double)(n ? n : 1);
        double window = c->n_steps * (double)c->dt;
        res->layer_rate_hz[l] = res->layer_spikes[l] / ((double)nm_graph_node(g, res->layer_node[l])->n_out * window);
    }
    res->seconds = nm_time_now() - t0;
    return NM_OK;
}

static nm_status check_data(const nm_graph *g, const nm_dataset *d, const nm_train_config *c, const char *what) {
    int steps = d->steps > 1 ? d->steps : 1, ch = d->channels > 1 ? d->channels : 1;
    int64_t n_in = (int64_t)ch * d->rows * d->cols;
    /* A set of frames is stepped through frame by frame; nothing else can encode it. */
    if (steps > 1 && c->encoding != NM_ENC_FRAMES)
        return nm__error(NM_INVAL, "the %s set holds %d frames per sample (an event dataset): train it with --encoding frames "
                         "--steps %d", what, steps, steps);
    if (c->encoding == NM_ENC_FRAMES && steps != c->n_steps)
        return nm__error(NM_SHAPE, "encoding frames needs a set of %d frames per sample (--steps) but the %s set has %d",
                         c->n_steps, what, steps);
    if (n_in != nm_graph_input_size(g))
        return nm__error(NM_SHAPE, "the %s set has %dx%dx%d = %lld inputs per sample but the model's input takes %lld", what,
                         ch, d->rows, d->cols, (long long)n_in, (long long)nm_graph_input_size(g));
    if (d->n_classes > nm_graph_output_size(g))
        return nm__error(NM_SHAPE, "the %s set has %d classes but the model has %lld outputs", what, d->n_classes,
                         (long long)nm_graph_output_size(g));
    return NM_OK;
}

nm_status nm_evaluate(const nm_graph *g, const nm_dataset *d, const nm_train_config *c, nm_eval_result *res) {
    nm_status rc;
    if ((rc = nm_train_config_check(c)) || (rc = check_data(g, d, c, "evaluation")) ||
        (rc = nm_loss_check(g, c->readout, c->loss)))
        return rc;
    nm_exec_config ec = {c->dt, c->n_steps, c->eval_batch, c->sparse, c->sparse_max_density};
    nm_exec *x = NULL;
    batcher bt;
    float *g_mem = NULL;
    if ((rc = batcher_init(&bt, c, nm_graph_input_size(g), c->eval_batch))) goto done;
    if ((rc = nm_exec_create(g, &ec, &x))) goto done;
    nm_exec_set_hooks(x, c->hooks);
    g_mem = nm_alloc(sizeof(float) * (int64_t)c->n_steps * c->eval_batch * nm_graph_output_size(g));
    if (!g_mem) { rc = nm__error(NM_NOMEM, "out of memory for evaluation"); goto done; }
    rc = evaluate_on(x, &bt, d, c, g_mem, res);
done:
    nm_free(g_mem);
    nm_exec_destroy(x);
    batcher_free(&bt);
    return rc;
}

/* ---- optimizers ------------------------------------------------------- */

/* The optimizer of a run: Adam or SGD, and the state a checkpoint saves (Adam's two
** moments; SGD's momentum buffer, then zeros, so both share one layout). */
typedef struct optimizer {
    nm_optimizer kind;
    nm_adam     *adam;
    nm_sgd      *sgd;
    float       *zeros;
} optimizer;

static nm_status opt_create(optimizer *o, const nm_train_config *c, const nm_graph *g) {
    const int64_t n = nm_graph_n_params(g);
    nm_status rc;
    memset(o, 0, sizeof *o);
    o->kind = c->optimizer;
    if (c->optimizer == NM_OPT_SGD) {
        if ((rc = nm_sgd_create(n, c->momentum, &o->sgd))) return rc;
        o->sgd->weight_decay = c->weight_decay;
        o->sgd->n_decay = nm_graph_n_decay_params(g);
        if (!(o->zeros = nm_alloc(sizeof(float) * (n ? n : 1)))) return nm__error(NM_NOMEM, "out of memory for the optimizer");
        return NM_OK;
    }
    if ((rc = nm_adam_create(n, &o->adam))) return rc;
    o->adam->weight_decay = c->weight_decay;
    o->adam->n_decay = nm_graph_n_decay_params(g);
    return NM_OK;
}

static void opt_destroy(optimizer *o) {
    nm_adam_destroy(o->adam);
    nm_sgd_destroy(o->sgd);
    nm_free(o->zeros);
}

static void opt_step(optimizer *o, float *p, const float *g, float lr) {
    if (o->sgd) nm_sgd_step(o->sgd, p, g, lr);
    else nm_adam_step(o->adam, p, g, lr);
}

/* The saved state: n, steps taken, two arrays of n floats. */
static int64_t opt_n(const optimizer *o) { return o->sgd ? o->sgd->n : o->adam->n; }
static int64_t *opt_t(optimizer *o) { return o->sgd ? &o->sgd->t : &o->adam->t; }
static float *opt_s1(optimizer *o) { return o->sgd ? o->sgd->buf : o->adam->m; }
static float *opt_s2(optimizer *o) { return o->sgd ? o->zeros : o->adam->v; }

/* ---- checkpoints ------------------------------------------------------- */
/*
** Layout: "NMCKPT01", the run's identity (what must match to resume), the position and
** running sums, the epoch history, CRC; then the model (its own format and CRC); then the
** optimizer state and a CRC.
*/

static const char CKPT_MAGIC[8] = {'N', 'M', 'C', 'K', 'P', 'T', '0', '2'};

typedef struct ckpt_ident {
    uint64_t seed;
    int32_t  batch, n_steps, encoding, readout;
    float    dt;
    int32_t  optimizer;   /* also keeps the struct free of padding bytes */
    int64_t  n_train;
    int32_t  hw;          /* in_loop | noise kind << 1 | quant_bits << 4 | updater << 12 */
    float    noise_sigma;
} ckpt_ident;

typedef struct ckpt_pos {
    int32_t epoch;          /* 0-based epoch in progress */
    int32_t n_hist;
    int64_t batch_index;    /* next batch within it */
    int64_t correct, seen;  /* running sums of the epoch */
    double  loss_sum;
    double  epoch_seconds;  /* training time of the epoch so far */
    double  train_seconds;  /* all epochs */
} ckpt_pos;

typedef struct ckpt {
    ckpt_ident      id;
    ckpt_pos        pos;
    nm_epoch_stats *hist;
    const nm_graph *g;
    optimizer      *opt;
} ckpt;

#define CK(call) do { if ((rc = (call))) return rc; } while (0)

static nm_status ckpt_write(FILE *f, void *user) {
    const ckpt *k = user;
    nm_stream s;
    nm_status rc;
    nm_stream_init(&s, f, "checkpoint");
    CK(nm_stream_put(&s, CKPT_MAGIC, 8));
    CK(nm_stream_put(&s, &k->id, sizeof k->id));
    CK(nm_stream_put(&s, &k->pos, sizeof k->pos));
    CK(nm_stream_put(&s, k->hist, sizeof(nm_epoch_stats) * k->pos.n_hist));
    CK(nm_stream_put_crc(&s));
    CK(nm_graph_write(k->g, f));
    nm_stream_init(&s, f, "checkpoint");
    const int64_t n = opt_n(k->opt);
    CK(nm_stream_put(&s, &n, sizeof n));
    CK(nm_stream_put(&s, opt_t(k->opt), sizeof(int64_t)));
    CK(nm_stream_put(&s, opt_s1(k->opt), sizeof(float) * n));
    CK(nm_stream_put(&s, opt_s2(k->opt), sizeof(float) * n));
    return nm_stream_put_crc(&s);
}

/* Reads a checkpoint header and model. *g_out gets the model; hist must hold
** NM_MAX_EPOCHS entries. The stream is left at the optimizer section. */
static nm_status ckpt_read_head(FILE *f, const char *path, ckpt_ident *id, ckpt_pos *pos, nm_epoch_stats *hist,
                                nm_graph **g_out) {
    nm_stream s;
    nm_status rc;
    char magic[8];
    nm_stream_init(&s, f, path);
    CK(nm_stream_get(&s, magic, 8, "the magic number"));
    if (memcmp(magic, CKPT_MAGIC, 8)) return nm__error(NM_FORMAT, "'%s' is not a neuromorph checkpoint (bad magic number)", path);
    CK(nm_stream_get(&s, id, sizeof *id, "the run identity"));
    CK(nm_stream_get(&s, pos, sizeof *pos, "the position"));
    if (pos->n_hist < 0 || pos->n_hist > NM_MAX_EPOCHS || pos->epoch < 0 || pos->epoch > NM_MAX_EPOCHS || pos->batch_index < 0)
        return nm__error(NM_FORMAT, "'%s': position fields are out of range", path);
    CK(nm_stream_get(&s, hist, sizeof(nm_epoch_stats) * pos->n_hist, "the epoch history"));
    CK(nm_stream_check_crc(&s));
    return nm_graph_read(f, path, g_out);
}

nm_status nm_checkpoint_load_model(const char *path, nm_graph **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return nm__error(errno == ENOENT ? NM_NOTFOUND : NM_IO, "cannot open checkpoint '%s': %s", path, strerror(errno));
    ckpt_ident id;
    ckpt_pos pos;
    nm_epoch_stats *hist = malloc(sizeof(nm_epoch_stats) * NM_MAX_EPOCHS);
    nm_status rc = hist ? ckpt_read_head(f, path, &id, &pos, hist, out) : nm__error(NM_NOMEM, "out of memory");
    free(hist);
    fclose(f);
    return rc;
}

static int same_structure(const nm_graph *a, const nm_graph *b) {
    if (nm_graph_n_nodes(a) != nm_graph_n_nodes(b) || nm_graph_n_params(a) != nm_graph_n_params(b)) return 0;
    for (int j = 0; j < nm_graph_n_nodes(a); j++) {
        const nm_node *x = nm_graph_node(a, j), *y = nm_graph_node(b, j);
        if (x->kind != y->kind || x->n_in != y->n_in || x->n_out != y->n_out || x->src != y->src) return 0;
    }
    return 1;
}

/* Loads a checkpoint into g and opt after checking it belongs to this run. */
static nm_status ckpt_load(const char *path, const ckpt_ident *want, nm_graph *g, optimizer *opt, ckpt_pos *pos,
                           nm_epoch_stats *hist) {
    FILE *f = fopen(path, "rb");
    if (!f) return nm__error(errno == ENOENT ? NM_NOTFOUND : NM_IO, "cannot open checkpoint '%s': %s", path, strerror(errno));
    ckpt_ident id;
    nm_graph *cg = NULL;
    nm_stream s;
    int64_t n, t;
    nm_status rc = ckpt_read_head(f, path, &id, pos, hist, &cg);
    if (rc) goto done;
#define MISMATCH(cond, fmt, a, b)                                                                           \
    if (cond) {                                                                                              \
        rc = nm__error(NM_FORMAT, "checkpoint '%s' belongs to another run: " fmt                             \
                       " (use another checkpoint path, or drop --resume to start afresh)", path, a, b);      \
        goto done;                                                                                           \
    }
    MISMATCH(id.seed != want->seed, "it used seed %llu, this run %llu", (unsigned long long)id.seed, (unsigned long long)want->seed);
    MISMATCH(id.batch != want->batch, "it used batch %d, this run %d", id.batch, want->batch);
    MISMATCH(id.n_steps != want->n_steps, "it used %d steps, this run %d", id.n_steps, want->n_steps);
    MISMATCH(id.encoding != want->encoding, "it used encoding %s, this run %s", nm_encoding_name((nm_encoding)id.encoding),
             nm_encoding_name((nm_encoding)want->encoding));
    MISMATCH(id.readout != want->readout, "it used readout %s, this run %s", nm_readout_name((nm_readout)id.readout),
             nm_readout_name((nm_readout)want->readout));
    MISMATCH(id.optimizer != want->optimizer, "it used optimizer %s, this run %s", nm_optimizer_name((nm_optimizer)id.optimizer),
             nm_optimizer_name((nm_optimizer)want->optimizer));
    MISMATCH(id.dt != want->dt, "it used dt %g, this run %g", id.dt, want->dt);
    MISMATCH(id.n_train != want->n_train, "it trained on %lld samples, this run on %lld", (long long)id.n_train,
             (long long)want->n_train);
    MISMATCH(id.hw != want->hw || id.noise_sigma != want->noise_sigma,
             "its hardware-aware settings (%s) differ from this run's (%s)", "chip-in-the-loop, noise injection, in-situ updates",
             "same list");
    if (!same_structure(cg, g)) {
        rc = nm__error(NM_FORMAT, "checkpoint '%s' holds a different architecture than this run's model", path);
        goto done;
    }
    nm_stream_init(&s, f, path);
    if ((rc = nm_stream_get(&s, &n, sizeof n, "the optimizer size")) || (rc = nm_stream_get(&s, &t, sizeof t, "the optimizer step")))
        goto done;
    if (n != opt_n(opt) || t < 0) { rc = nm__error(NM_FORMAT, "'%s': optimizer state does not match the model", path); goto done; }
    if ((rc = nm_stream_get(&s, opt_s1(opt), sizeof(float) * n, "the optimizer state")) ||
        (rc = nm_stream_get(&s, opt_s2(opt), sizeof(float) * n, "the optimizer state")) || (rc = nm_stream_check_crc(&s)))
        goto done;
    if (fgetc(f) != EOF) { rc = nm__error(NM_FORMAT, "'%s' has trailing bytes", path); goto done; }
    *opt_t(opt) = t;
    memcpy(nm_graph_params(g), nm_graph_params_const(cg), sizeof(float) * nm_graph_n_params(g));
#undef MISMATCH
done:
    nm_graph_destroy(cg);
    fclose(f);
    return rc;
}

/* ---- hardware-aware training ------------------------------------------ */

const char *nm_wnoise_name(nm_wnoise_kind k) {
    switch (k) {
    case NM_WNOISE_ADDITIVE: return "additive";
    case NM_WNOISE_RELATIVE: return "relative";
    case NM_WNOISE_DEVICE:   return "device";
    default:                 return "none";
    }
}

nm_status nm_wnoise_parse(const char *s, nm_wnoise_kind *out) {
    for (int k = NM_WNOISE_NONE; k <= NM_WNOISE_DEVICE; k++)
        if (!strcmp(s, nm_wnoise_name((nm_wnoise_kind)k))) { *out = (nm_wnoise_kind)k; return NM_OK; }
    return nm__error(NM_INVAL, "unknown weight-noise kind '%s' (choose none, additive, relative or device)", s);
}

#define STREAM_WNOISE 0x774e6f697365ull   /* Philox streams of the weight noise */
#define NOISE_CHUNK   4096                /* weights per independent noise stream */

static int noisy(const nm_train_config *c) { return c->noise.kind != NM_WNOISE_NONE || c->noise.quant_bits > 0; }

static float abs_max(const float *w, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(w[i]));
    return m;
}

/* The weights of this batch's pass: every weight matrix rounded to quant_bits (signed
** levels of its max|W|), then perturbed. Normals come in chunks, each its own Philox stream
** keyed by (step, node, chunk), so they do not depend on the thread count. `tmp` holds a
** layer's device-noise output. */
static nm_status perturb_weights(nm_graph *g, const nm_train_config *c, int64_t step, float *tmp) {
    const nm_weight_noise *wn = &c->noise;
    float *params = nm_graph_params(g);
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        const int64_t n = nm_node_weight_count(nd);
        if (n == 0) continue;
        float *w = params + nd->w_off;
        const float amax = abs_max(w, n);
        if (wn->quant_bits > 0) nm_quantize_weights(w, n, wn->quant_bits, w);
        const uint64_t key = ((uint64_t)step << 16) ^ (uint64_t)j;
        if (wn->kind == NM_WNOISE_DEVICE) {
            nm_status rc = wn->device(wn->device_ctx, j, w, n, key, tmp);
            if (rc) return rc;
            memcpy(w, tmp, sizeof(float) * n);
        } else if (wn->kind != NM_WNOISE_NONE) {
            const float sd = wn->kind == NM_WNOISE_RELATIVE ? wn->sigma * amax : wn->sigma;
            #pragma omp parallel for schedule(static)
            for (int64_t c0 = 0; c0 < n; c0 += NOISE_CHUNK) {
                nm_rng r;
                nm_rng_init(&r, c->seed ^ (STREAM_WNOISE * (uint64_t)(j + 1)), (key << 20) + (uint64_t)(c0 / NOISE_CHUNK));
                const int64_t end = c0 + NOISE_CHUNK < n ? c0 + NOISE_CHUNK : n;
                for (int64_t i = c0; i < end; i++) w[i] += sd * nm_rng_normal(&r);
            }
        }
    }
    return NM_OK;
}

/* Clips every weight matrix to +- clip x its standard deviation (about zero mean), so a
** few outliers do not set the layer's conductance scale. */
static void clip_weights(nm_graph *g, float clip) {
    float *params = nm_graph_params(g);
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        const int64_t n = nm_node_weight_count(nd);
        if (n == 0) continue;
        float *w = params + nd->w_off;
        double s1 = 0.0, s2 = 0.0;
        for (int64_t i = 0; i < n; i++) { s1 += w[i]; s2 += (double)w[i] * w[i]; }
        const double mean = s1 / (double)n, var = s2 / (double)n - mean * mean;
        const float lim = clip * (float)sqrt(var > 0 ? var : 0.0);
        if (!(lim > 0)) continue;
        for (int64_t i = 0; i < n; i++) w[i] = fminf(fmaxf(w[i], -lim), lim);
    }
}

/* The parameter ranges of frozen nodes. */
typedef struct frozen_set {
    int      n;
    int64_t *off, *len, total;
    float   *saved;
} frozen_set;

static nm_status frozen_init(frozen_set *f, const nm_graph *g, const uint8_t *frozen) {
    memset(f, 0, sizeof *f);
    if (!frozen) return NM_OK;
    const int nn = nm_graph_n_nodes(g);
    f->off = malloc(sizeof(int64_t) * 3 * (size_t)nn);
    f->len = malloc(sizeof(int64_t) * 3 * (size_t)nn);
    if (!f->off || !f->len) return nm__error(NM_NOMEM, "out of memory for frozen layers");
    for (int j = 0; j < nn; j++)
        if (frozen[j]) {
            int k = nm_node_param_ranges(nm_graph_node(g, j), f->off + f->n, f->len + f->n);
            for (int i = 0; i < k; i++) f->total += f->len[f->n + i];
            f->n += k;
        }
    if (f->total && !(f->saved = nm_alloc(sizeof(float) * f->total))) return nm__error(NM_NOMEM, "out of memory for frozen layers");
    return NM_OK;
}

static void frozen_free(frozen_set *f) {
    free(f->off);
    free(f->len);
    nm_free(f->saved);
}

/* save = 1: keep the frozen parameters of p; 0: put them back. */
static void frozen_copy(frozen_set *f, float *p, int save) {
    for (int k = 0, at = 0; k < f->n; at += (int)f->len[k], k++) {
        float *a = p + f->off[k], *b = f->saved + at;
        memcpy(save ? b : a, save ? a : b, sizeof(float) * f->len[k]);
    }
}

static void frozen_zero(const frozen_set *f, float *v) {
    for (int k = 0; k < f->n; k++) memset(v + f->off[k], 0, sizeof(float) * f->len[k]);
}

static nm_status hw_config_check(const nm_train_config *c) {
    const nm_weight_noise *wn = &c->noise;
    if (c->in_loop && (!c->hooks || !c->hooks->product))
        return nm__error(NM_INVAL, "chip-in-the-loop training needs a chip: no hooks were given");
    if (wn->kind < NM_WNOISE_NONE || wn->kind > NM_WNOISE_DEVICE) return nm__error(NM_RANGE, "unknown weight-noise kind %d", (int)wn->kind);
    if (!(wn->sigma >= 0) || !isfinite(wn->sigma)) return nm__error(NM_RANGE, "weight-noise sigma must be >= 0, not %g", wn->sigma);
    if (wn->kind == NM_WNOISE_DEVICE && !wn->device)
        return nm__error(NM_INVAL, "device weight noise needs a device model (an analog chip profile)");
    if (wn->quant_bits < 0 || wn->quant_bits == 1 || wn->quant_bits > 16)
        return nm__error(NM_RANGE, "weight quantization must be 0 (off) or 2..16 bits, not %d", wn->quant_bits);
    if (!(wn->clip >= 0) || !isfinite(wn->clip)) return nm__error(NM_RANGE, "weight clip must be >= 0 standard deviations, not %g", wn->clip);
    if (c->updater && !c->updater->apply) return nm__error(NM_INVAL, "in-situ updates need an apply function");
    if (c->updater && c->frozen)   /* a transfer re-programs every device pair, frozen or not */
        return nm__error(NM_INVAL, "in-situ updates cannot keep layers frozen: train every layer, or drop the in-situ updates");
    return NM_OK;
}

/* ---- training ---------------------------------------------------------- */


nm_status nm_train(nm_graph *g, const nm_dataset *train, const nm_dataset *test, const nm_train_config *c,
                   nm_train_result *res) {
    nm_status rc;
    if ((rc = nm_train_config_check(c)) || (rc = hw_config_check(c)) || (rc = check_data(g, train, c, "training")) ||
        (test && (rc = check_data(g, test, c, "test"))) || (rc = nm_loss_check(g, c->readout, c->loss)))
        return rc;

    const int64_t n_train = c->train_limit > 0 && c->train_limit < train->n ? c->train_limit : train->n;
    const int64_t steps_per_epoch = (n_train + c->batch - 1) / c->batch;
    const int64_t total_steps = steps_per_epoch * c->epochs;
    const int max_batch = c->batch > c->eval_batch ? c->batch : c->eval_batch;
    const int64_t n_params = nm_graph_n_params(g);

    nm_exec_config ec = {c->dt, c->n_steps, max_batch, c->sparse, c->sparse_max_density};
    const nm_lr_schedule sched = {c->schedule, c->lr, c->lr_final, c->step_gamma, c->step_every, c->warmup};
    nm_exec *x = NULL;
    nm_bptt *bp = NULL;
    optimizer opt = {0};
    batcher bt;
    float *g_mem = NULL, *grads = NULL;
    int64_t *perm = NULL;
    nm_progress *bar = NULL;
    ckpt_pos pos;
    ckpt_ident ident = {c->seed, c->batch, c->n_steps, c->encoding, c->readout, c->dt, c->optimizer, n_train,
                        (c->in_loop ? 1 : 0) | (int32_t)c->noise.kind << 1 | c->noise.quant_bits << 4 | (c->updater ? 1 : 0) << 12,
                        c->noise.sigma};
    float *clean = NULL, *tmp = NULL;   /* noise injection: the clean weights; a scratch */
    frozen_set fz;
    const int with_noise = noisy(c), hooked = c->in_loop && c->hooks;

    memset(res, 0, sizeof *res);
    memset(&pos, 0, sizeof pos);
    memset(&bt, 0, sizeof bt);
    if ((rc = frozen_init(&fz, g, c->frozen))) goto done;
    if ((rc = batcher_init(&bt, c, nm_graph_input_size(g), max_batch))) goto done;
    if ((rc = nm_exec_create(g, &ec, &x)) || (rc = nm_bptt_create(x, &bp)) || (rc = opt_create(&opt, c, g))) goto done;
    if ((rc = nm_exec_set_surrogate(x, &c->surrogate))) goto done;
    nm_bptt_set_rate_reg(bp, c->rate_reg);
    g_mem = nm_alloc(sizeof(float) * (int64_t)c->n_steps * max_batch * nm_graph_output_size(g));
    grads = nm_alloc(sizeof(float) * (n_params ? n_params : 1));
    perm = malloc(sizeof(int64_t) * (size_t)n_train);
    if (!g_mem || !grads || !perm) { rc = nm__error(NM_NOMEM, "out of memory for training"); goto done; }
    if ((with_noise || c->updater) &&
        (!(clean = nm_alloc(sizeof(float) * (n_params ? n_params : 1))) || !(tmp = nm_alloc(sizeof(float) * (n_params ? n_params : 1))))) {
        rc = nm__error(NM_NOMEM, "out of memory for hardware-aware training");
        goto done;
    }
    if (hooked) nm_exec_set_hooks(x, c->hooks);

    if (c->resume && c->checkpoint) {
        FILE *probe = fopen(c->checkpoint, "rb");
        if (probe) {
            fclose(probe);
            if ((rc = ckpt_load(c->checkpoint, &ident, g, &opt, &pos, res->history))) goto done;
            res->resumed = 1;
            /* the chip holds the weights it was last given: program the checkpoint's */
            if (hooked && c->hooks->update && (rc = c->hooks->update(c->hooks->ctx))) goto done;
            if (pos.epoch >= c->epochs && pos.n_hist >= c->epochs)
                nm_log(NM_LOG_INFO, "checkpoint '%s' has already finished %d epochs", c->checkpoint, pos.n_hist);
        }
    }
    res->start_epoch = pos.epoch;
    res->start_batch = pos.batch_index;
    res->n_epochs = pos.n_hist;

    ckpt k = {ident, pos, res->history, g, &opt};
    double last_ckpt = nm_time_now();

    for (int e = pos.epoch; e < c->epochs; e++) {
        nm_rng r;
        nm_rng_init(&r, c->seed, STREAM_SHUFFLE + (uint64_t)e);
        for (int64_t i = 0; i < n_train; i++) perm[i] = i;
        nm_rng_shuffle(&r, perm, n_train);

        char label[48];
        snprintf(label, sizeof label, "epoch %d/%d", e + 1, c->epochs);
        bar = nm_progress_create(label, steps_per_epoch, c->quiet);
        double t_start = nm_time_now() - pos.epoch_seconds;
        float lr = c->lr;
        for (int64_t bi = pos.batch_index; bi < steps_per_epoch; bi++) {
            int64_t first = bi * c->batch;
            int bs = (int)(n_train - first < c->batch ? n_train - first : c->batch), rows, hits;
            const int64_t step = (int64_t)e * steps_per_epoch + bi;
            float *params = nm_graph_params(g);
            const float *in = batcher_load(&bt, train, perm + first, bs, (uint64_t)e, &rows);
            if (with_noise) {   /* forward and backward through this batch's perturbed weights */
                memcpy(clean, params, sizeof(float) * n_params);
                if ((rc = perturb_weights(g, c, step, tmp))) goto done;
            }
            if ((rc = nm_exec_forward(x, in, rows, bs))) goto done;
            double loss = run_loss(x, c, bt.labels, g_mem, &hits);
            loss += bs * nm_bptt_backward(bp, g_mem, c->detach_reset, grads);
            if (with_noise) memcpy(params, clean, sizeof(float) * n_params);
            if (c->clip_norm > 0) nm_clip_grad_norm(grads, n_params, c->clip_norm);
            frozen_zero(&fz, grads);
            frozen_copy(&fz, params, 1);
            lr = nm_lr_at(&sched, step, total_steps, steps_per_epoch);
            if (c->updater) {   /* the optimizer's step, written through the devices */
                memcpy(tmp, params, sizeof(float) * n_params);
                opt_step(&opt, tmp, grads, lr);
                for (int64_t i = 0; i < n_params; i++) tmp[i] -= params[i];
                frozen_zero(&fz, tmp);
                if ((rc = c->updater->apply(c->updater->ctx, params, tmp, n_params, (int64_t)e * n_train + first + bs))) goto done;
            } else {
                opt_step(&opt, params, grads, lr);
            }
            nm_graph_project(g, c->dt);
            if (c->noise.clip > 0) clip_weights(g, c->noise.clip);
            frozen_copy(&fz, params, 0);
            if (hooked && c->hooks->update && (rc = c->hooks->update(c->hooks->ctx))) goto done;
            if (!isfinite(loss)) { rc = nm__error(NM_RANGE, "training diverged (loss is not finite) in epoch %d; lower --lr", e + 1); goto done; }
            pos.loss_sum += loss;
            pos.correct += hits;
            pos.seen += bs;
            if (bar) {
                char sfx[64];
                snprintf(sfx, sizeof sfx, "loss %.3f acc %.1f%%", pos.loss_sum / (double)pos.seen,
                         100.0 * (double)pos.correct / (double)pos.seen);
                nm_progress_update(bar, bi + 1, sfx);
            }
            int stop = c->stop && *c->stop;
            int periodic = c->checkpoint_every > 0 && nm_time_now() - last_ckpt >= c->checkpoint_every;
            if (c->checkpoint && (stop || (periodic && bi + 1 < steps_per_epoch))) {
                pos.epoch = e;
                pos.batch_index = bi + 1;
                pos.epoch_seconds = nm_time_now() - t_start;
                k.pos = pos;
                if ((rc = nm_file_write_atomic(c->checkpoint, ckpt_write, &k))) goto done;
                last_ckpt = nm_time_now();
            }
            if (stop) {
                nm_progress_finish(bar);
                bar = NULL;
                rc = nm__error(NM_INTERRUPTED, "training interrupted in epoch %d at batch %lld of %lld%s%s", e + 1,
                               (long long)(bi + 1), (long long)steps_per_epoch, c->checkpoint ? "; checkpoint written to " : "",
                               c->checkpoint ? c->checkpoint : "");
                goto done;
            }
        }
        double secs = nm_time_now() - t_start;
        nm_progress_finish(bar);
        bar = NULL;

        nm_epoch_stats *st = &res->history[res->n_epochs];
        memset(st, 0, sizeof *st);
        st->epoch = e + 1;
        st->train_loss = pos.seen ? pos.loss_sum / (double)pos.seen : 0.0;
        st->train_acc = pos.seen ? (double)pos.correct / (double)pos.seen : 0.0;
        st->seconds = secs;
        st->lr = lr;
        st->test_acc = NAN;
        pos.train_seconds += secs;
        if (test) {
            nm_eval_result ev;
            if ((rc = evaluate_on(x, &bt, test, c, g_mem, &ev))) goto done;
            st->test_acc = ev.accuracy;
            st->spikes_per_sample = ev.spikes_per_sample;
        }
        res->n_epochs++;
        pos.n_hist = res->n_epochs;
        pos.epoch = e + 1;
        pos.batch_index = 0;
        pos.loss_sum = 0;
        pos.correct = pos.seen = 0;
        pos.epoch_seconds = 0;
        if (c->checkpoint) {
            k.pos = pos;
            if ((rc = nm_file_write_atomic(c->checkpoint, ckpt_write, &k))) goto done;
            last_ckpt = nm_time_now();
        }
        if (c->on_epoch) c->on_epoch(st, c->user);
    }
    res->train_seconds = pos.train_seconds;
done:
    nm_progress_finish(bar);
    frozen_free(&fz);
    nm_free(clean);
    nm_free(tmp);
    free(perm);
    nm_free(grads);
    nm_free(g_mem);
    opt_destroy(&opt);
    nm_bptt_destroy(bp);
    nm_exec_destroy(x);
    batcher_free(&bt);
    return rc;
}
