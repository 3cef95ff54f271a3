/*
** Shared training options and the training run behind `neuromorph train` and `demo`.
*/
#include "train_args.h"
#include "figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void train_args_default(train_args *a) {
    memset(a, 0, sizeof *a);
    nm_train_config tc;
    nm_train_config_default(&tc);
    nm_lif_params lp;
    nm_lif_params_default(&lp);
    a->seed = tc.seed;
    a->data = NM_DEFAULT_DATA_DIR;
    a->arch = "784-1000-10";
    a->encoding = nm_encoding_name(tc.encoding);
    a->readout = "auto";
    a->neuron = "lif";
    a->readout_neuron = "li";
    a->loss = nm_loss_name(tc.loss);
    a->optimizer = nm_optimizer_name(tc.optimizer);
    a->schedule = nm_sched_name(tc.schedule);
    a->sparse = nm_sparse_mode_name(tc.sparse);
    a->momentum = tc.momentum;
    a->tau_syn = 0.005f;
    a->surrogate = nm_surrogate_name(tc.surrogate.kind);
    a->reset = nm_reset_name(lp.reset);
    a->epochs = tc.epochs;
    a->batch = tc.batch;
    a->steps = tc.n_steps;
    a->lr = tc.lr;
    a->lr_final = tc.lr_final;
    a->weight_decay = tc.weight_decay;
    a->dt = tc.dt;
    a->slope = 0;   /* 0: the surrogate's default */
    a->tau_mem = lp.tau;
    a->tau_out = lp.tau;
    a->threshold = lp.v_threshold;
    a->ckpt_every = (float)tc.checkpoint_every;
    a->weight_noise = "none";
    a->drift_comp = "none";
    a->chip_seed = 1;
    a->transfer_every = 8000;
    a->dw_min = 0.001f;
    a->verify_iters = 5;
}

int train_args_table(train_args *a, opt *t) {
    int n = 0;
#define O(nm, ty, dst, meta, help, lo, hi) t[n++] = (opt){nm, ty, dst, meta, help, lo, hi, 0}
    O("help", OPT_FLAG, &a->help, NULL, "show this help", 1, 0);
    O("data", OPT_STR, &a->data, "DIR", "idx dataset directory (default " NM_DEFAULT_DATA_DIR ")", 1, 0);
    O("arch", OPT_STR, &a->arch, "SPEC",
      "architecture, input to readout: 784-1000-10, 1x28x28-16c5-ap2-32c5-ap2-10, 784-256r-10 (see README)", 1, 0);
    O("neuron", OPT_STR, &a->neuron, "M", "hidden neurons: lif, cuba, if or alif (default lif)", 1, 0);
    O("readout-neuron", OPT_STR, &a->readout_neuron, "M", "readout: li, cuba-li or lif (spiking; default li)", 1, 0);
    O("learn-neuron", OPT_FLAG, &a->learn_neuron, NULL, "learn per-neuron time constants and thresholds (LIF)", 1, 0);
    O("method", OPT_STR, &a->method, "M", "bptt (surrogate gradients; default), stdp or evolve (see train --method M --help)", 1, 0);
    O("epochs", OPT_INT, &a->epochs, "N", "training epochs", 1, NM_MAX_EPOCHS);
    O("batch", OPT_INT, &a->batch, "N", "minibatch size (default 128)", 1, 65536);
    O("optimizer", OPT_STR, &a->optimizer, "O", "adam (AdamW) or sgd (default adam)", 1, 0);
    O("lr", OPT_FLOAT, &a->lr, "X", "peak learning rate (default 1e-3)", 1e-8, 10);
    O("schedule", OPT_STR, &a->schedule, "S", "learning-rate schedule: cosine, linear, step or constant (default cosine)", 1, 0);
    O("lr-final", OPT_FLOAT, &a->lr_final, "F", "cosine and linear schedules end at lr*F (default 0.05)", 0, 1);
    O("warmup", OPT_INT, &a->warmup, "N", "linear learning-rate warm-up over N steps (default 0)", 0, 1 << 30);
    O("momentum", OPT_FLOAT, &a->momentum, "M", "SGD momentum (default 0.9)", 0, 0.9999);
    O("weight-decay", OPT_FLOAT, &a->weight_decay, "X", "weight decay of weights and biases (default 0.01)", 0, 1);
    O("clip", OPT_FLOAT, &a->clip, "N", "clip the gradient's L2 norm to N (default off)", 0, 1e9);
    O("loss", OPT_STR, &a->loss, "L", "ce (cross-entropy) or mse (spike counts; needs a lif readout) (default ce)", 1, 0);
    O("rate-reg", OPT_FLOAT, &a->rate_reg, "X", "firing-rate regularizer weight: fewer spikes (default 0)", 0, 1e6);
    O("sparse", OPT_STR, &a->sparse, "M", "spike-sparse gather path: auto, never or always (default auto)", 1, 0);
    O("steps", OPT_INT, &a->steps, "T", "time steps per sample (default 25)", 1, 100000);
    O("dt", OPT_FLOAT, &a->dt, "S", "time step in seconds (default 1e-3)", 1e-9, 10);
    O("encoding", OPT_STR, &a->encoding, "E", "input coding: current, rate, latency, or frames for an event dataset (default current)", 1, 0);
    O("readout", OPT_STR, &a->readout, "R", "scores: mean or max membrane, or spike count (default: mean, count for a lif readout)", 1, 0);
    O("surrogate", OPT_STR, &a->surrogate, "S", "fast-sigmoid, arctan, triangle, superspike or straight-through", 1, 0);
    O("slope", OPT_FLOAT, &a->slope, "K", "surrogate slope (default: the surrogate's own)", 1e-6, 1e6);
    O("tau-mem", OPT_FLOAT, &a->tau_mem, "S", "hidden membrane time constant in seconds (default 0.02)", 1e-9, 1e3);
    O("tau-out", OPT_FLOAT, &a->tau_out, "S", "readout time constant in seconds (default 0.02)", 1e-9, 1e3);
    O("tau-syn", OPT_FLOAT, &a->tau_syn, "S", "synaptic time constant of cuba neurons in seconds (default 0.005)", 1e-9, 1e3);
    O("threshold", OPT_FLOAT, &a->threshold, "V", "hidden spike threshold (default 1)", 1e-6, 1e6);
    O("reset", OPT_STR, &a->reset, "M", "reset: subtract, value or none (default subtract)", 1, 0);
    O("train-limit", OPT_U64, &a->train_limit, "N", "train on the first N samples only", 1, 0);
    O("test-limit", OPT_U64, &a->test_limit, "N", "evaluate on the first N test samples only", 1, 0);
    O("checkpoint", OPT_STR, &a->checkpoint, "PATH", "checkpoint file (default: next to --out)", 1, 0);
    O("checkpoint-every", OPT_FLOAT, &a->ckpt_every, "S", "seconds between mid-epoch checkpoints (default 60)", 0, 1e9);
    O("resume", OPT_FLAG, &a->resume, NULL, "continue from the checkpoint if there is one", 1, 0);
    O("report", OPT_STR, &a->report, "PATH", "JSON report path", 1, 0);
    O("figures", OPT_STR, &a->figures, "DIR", "write figures here: training curve, raster, traces, firing rates", 1, 0);
    O("seed", OPT_U64, &a->seed, "N", "random seed (default 1)", 1, 0);
    O("threads", OPT_INT, &a->threads, "N", "threads (default: all cores)", 0, 1024);
    O("quiet", OPT_FLAG, &a->quiet, NULL, "no progress bar or per-epoch lines", 1, 0);
    /* hardware-aware training */
    O("init", OPT_STR, &a->init, "MODEL", "start from this trained model (fine-tuning; --arch is then the model's)", 1, 0);
    O("chip", OPT_STR, &a->chip, "PROFILE", "chip profile for --in-loop, --progressive, device noise or --insitu mixed", 1, 0);
    O("chip-seed", OPT_U64, &a->chip_seed, "N", "which chip sample of the profile (default 1)", 1, 0);
    O("in-loop", OPT_FLAG, &a->in_loop, NULL, "chip-in-the-loop: forward passes on the chip sample, re-programmed after every step", 1, 0);
    O("progressive", OPT_FLAG, &a->progressive, NULL,
      "program layer by layer, fine-tuning the later layers on the chip's outputs of the earlier ones (--epochs per stage)", 1, 0);
    O("train-only", OPT_STR, &a->train_only, "NAMES", "train only these nodes (comma list, or 'last' for the last weight layer)", 1, 0);
    O("weight-noise", OPT_STR, &a->weight_noise, "K", "noise injection: none, additive, relative (x max|W|) or device (default none)", 1, 0);
    O("noise", OPT_FLOAT, &a->noise, "S", "weight-noise sigma (relative: fraction of max|W|; device: scale of the model's)", 0, 100);
    O("quant-bits", OPT_INT, &a->quant_bits, "B", "train through weights rounded to B bits (default off)", 0, 16);
    O("weight-clip", OPT_FLOAT, &a->weight_clip, "C", "clip weights to +-C standard deviations after each step (default off)", 0, 1e6);
    O("insitu", OPT_STR, &a->insitu, "K", "in-situ updates on devices: pulsed, or mixed (PCM + capacitor; needs a PCM --chip)", 1, 0);
    O("transfer-every", OPT_U64, &a->transfer_every, "N", "mixed precision: images between capacitor-to-PCM transfers (default 8000)", 1, 0);
    O("verify-iters", OPT_INT, &a->verify_iters, "N", "mixed precision: program-and-verify rounds per transfer; 0 re-programs every pair once, open loop (default 5)", 0, 100);
    O("dw-min", OPT_FLOAT, &a->dw_min, "X", "pulsed: step of one pulse, fraction of the layer's range (default 0.001)", 1e-7, 1);
    O("reprogram-tol", OPT_FLOAT, &a->reprogram_tol, "X", "in the loop: write only weights that moved by more than X of the layer's max|W| (default 0: whole layers)", 0, 0.999);
    O("drift-comp", OPT_STR, &a->drift_comp, "M", "drift compensation of the chip: none, global or column (default none)", 1, 0);
#undef O
    return n;
}

static nm_status parse_kind(const char *s, int readout, nm_node_kind *out) {
    static const struct { const char *name; nm_node_kind kind; int readout; } kinds[] = {
        {"lif", NM_NODE_LIF, 2}, {"cuba", NM_NODE_CUBALIF, 0}, {"if", NM_NODE_IF, 0}, {"alif", NM_NODE_ALIF, 0},
        {"li", NM_NODE_LI, 1}, {"cuba-li", NM_NODE_CUBALI, 1},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(s, kinds[i].name) && (kinds[i].readout == 2 || kinds[i].readout == readout)) {
            *out = kinds[i].kind;
            return NM_OK;
        }
    return readout ? nm__error(NM_INVAL, "unknown readout neuron '%s' (choose li, cuba-li or lif)", s)
                   : nm__error(NM_INVAL, "unknown neuron '%s' (choose lif, cuba, if or alif)", s);
}

int train_args_configure(const train_args *a, nm_train_config *tc, nm_spec_options *so) {
    nm_train_config_default(tc);
    nm_spec_options_default(so);
    nm_surrogate_kind sk;
    nm_reset reset;
    if (nm_encoding_parse(a->encoding, &tc->encoding) || nm_surrogate_parse(a->surrogate, &sk) ||
        nm_reset_parse(a->reset, &reset) || parse_kind(a->neuron, 0, &so->neuron) ||
        parse_kind(a->readout_neuron, 1, &so->readout) || nm_loss_parse(a->loss, &tc->loss) ||
        nm_optimizer_parse(a->optimizer, &tc->optimizer) || nm_sched_parse(a->schedule, &tc->schedule) ||
        nm_sparse_mode_parse(a->sparse, &tc->sparse))
        return cli_fail(NM_INVAL);
    if (!strcmp(a->readout, "auto"))
        tc->readout = nm_node_kind_spiking(so->readout) ? NM_READOUT_COUNT : NM_READOUT_MEAN;
    else if (nm_readout_parse(a->readout, &tc->readout))
        return cli_fail(NM_INVAL);
    nm_surrogate_default(&tc->surrogate, sk);
    if (a->slope > 0) tc->surrogate.slope = a->slope;
    tc->epochs = a->epochs;
    tc->batch = a->batch;
    tc->lr = a->lr;
    tc->lr_final = a->lr_final;
    tc->warmup = a->warmup;
    tc->momentum = a->momentum;
    tc->weight_decay = a->weight_decay;
    tc->clip_norm = a->clip;
    tc->rate_reg = a->rate_reg;
    tc->n_steps = a->steps;
    tc->dt = a->dt;
    tc->seed = a->seed;
    tc->train_limit = (int64_t)a->train_limit;
    tc->test_limit = (int64_t)a->test_limit;
    tc->checkpoint_every = a->ckpt_every;
    tc->quiet = a->quiet;
    tc->resume = a->resume;
    tc->stop = &cli_stop;
    /* r = tau / 1 ms keeps the input gain per 1 ms step near one whatever tau is. */
    so->lif.tau = so->alif.tau_mem = so->cuba.tau_mem = a->tau_mem;
    so->lif.r = so->alif.r = so->cuba.r = a->tau_mem / 1e-3f;
    so->lif.v_threshold = so->alif.v_threshold = so->cuba.v_threshold = so->ifp.v_threshold = a->threshold;
    so->lif.reset = so->alif.reset = so->cuba.reset = so->ifp.reset = reset;
    so->cuba.tau_syn = a->tau_syn;
    so->learn_neuron = a->learn_neuron;
    so->li.tau = a->tau_out;
    so->li.r = a->tau_out / 1e-3f;
    if (so->readout == NM_NODE_CUBALI) { /* the readout's own time constant */
        so->cuba.tau_mem = a->tau_out;
        so->cuba.r = a->tau_out / 1e-3f;
    }
    nm_status rc = nm_train_config_check(tc);
    if (!rc) rc = nm_lif_params_check(&so->lif);
    return rc ? cli_fail(rc) : 0;
}

nm_status load_split(const char *dir, const char *split, nm_dataset **out) {
    /* An event dataset (neuromorph events emulate) loads as frames, binned as it was made. */
    return nm_event_set_is_dir(dir) ? nm_event_set_load_dir(dir, split, 0, out) : nm_dataset_load_dir(dir, split, out);
}

int load_sets(const char *dir, nm_dataset **train, nm_dataset **test) {
    nm_status rc = load_split(dir, "train", train);
    if (rc) return cli_fail(rc);
    rc = load_split(dir, "t10k", test);
    if (rc) {
        nm_dataset_destroy(*train);
        *train = NULL;
        return cli_fail(rc);
    }
    return 0;
}

void report_eval(nm_report *r, const char *key, const nm_graph *g, const nm_eval_result *ev) {
    char k[128];
    snprintf(k, sizeof k, "%s.accuracy", key);
    nm_report_set_num(r, k, ev->accuracy);
    snprintf(k, sizeof k, "%s.loss", key);
    nm_report_set_num(r, k, ev->loss);
    snprintf(k, sizeof k, "%s.samples", key);
    nm_report_set_int(r, k, ev->n);
    snprintf(k, sizeof k, "%s.spikes_per_sample", key);
    nm_report_set_num(r, k, ev->spikes_per_sample);
    snprintf(k, sizeof k, "%s.seconds", key);
    nm_report_set_num(r, k, ev->seconds);
    for (int l = 0; l < ev->n_layers; l++) {
        nm_report *item = nm_report_create(NULL);
        nm_report_set_str(item, "node", nm_graph_node(g, ev->layer_node[l])->name);
        nm_report_set_int(item, "neurons", nm_graph_node(g, ev->layer_node[l])->n_out);
        nm_report_set_num(item, "spikes_per_sample", ev->layer_spikes[l]);
        nm_report_set_num(item, "rate_hz", ev->layer_rate_hz[l]);
        snprintf(k, sizeof k, "%s.layers", key);
        nm_report_push_obj(r, k, item);
    }
}

typedef struct epoch_printer { int quiet; int epochs; } epoch_printer;

static void print_epoch(const nm_epoch_stats *s, void *user) {
    const epoch_printer *p = user;
    if (p->quiet) return;
    printf("epoch %3d/%d  loss %.4f  train %5.2f%%  test %5.2f%%  spikes/sample %7.1f  %6.1f s\n", s->epoch, p->epochs,
           s->train_loss, 100 * s->train_acc, 100 * s->test_acc, s->spikes_per_sample, s->seconds);
    fflush(stdout);
}

/* A float option as the user wrote it: 1e-3, not 0.001000000047. */
static double f7(float x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", x);
    return strtod(buf, NULL);
}

/* Progressive on-chip fine-tuning (NeuRRAM's method): stage s puts weight layers 0..s (and
** the populations they feed) on the chip, freezes them, and trains the later layers in the
** loop on the chip's outputs; every stage trains tc->epochs epochs with its own checkpoint.
** At the end the whole network is on the chip. */
static nm_status train_progressive(nm_graph *g, const nm_dataset *train, const nm_dataset *test, nm_train_config *tc,
                                   hw_run *hr, const char *ckpt_path, nm_train_result *res) {
    const int nn = nm_graph_n_nodes(g);
    int layers[64], n_layers = 0;
    for (int j = 0; j < nn; j++)
        if (nm_node_weight_count(nm_graph_node(g, j)) > 0 && n_layers < 64) layers[n_layers++] = j;
    if (n_layers < 2) return nm__error(NM_INVAL, "progressive fine-tuning needs at least two weight layers; the model has %d", n_layers);
    uint8_t *frozen = calloc((size_t)nn, 1);
    char *ck = ckpt_path ? malloc(strlen(ckpt_path) + 16) : NULL;
    if (!frozen || (ckpt_path && !ck)) { free(frozen); free(ck); return nm__error(NM_NOMEM, "out of memory"); }
    nm_status rc = NM_OK;
    for (int s = 0; s + 1 < n_layers && !rc; s++) {
        int on = 1;   /* nodes up to layer s on the chip; later ones in software */
        for (int j = 0; j < nn; j++) {
            if (j > layers[s] && nm_node_weight_count(nm_graph_node(g, j)) > 0) on = 0;
            int64_t off[3], len[3];
            frozen[j] = on && nm_node_param_ranges(nm_graph_node(g, j), off, len) > 0;
            if (nm_chip_set_active(hr->chip, j, on) != NM_OK) nm_clear_error();
        }
        tc->frozen = frozen;
        if (ck) {
            sprintf(ck, "%s.stage%d", ckpt_path, s + 1);
            tc->checkpoint = ck;
        }
        printf("progressive stage %d/%d: %s on the chip, training the layers after it\n", s + 1, n_layers - 1,
               nm_graph_node(g, layers[s])->name);
        fflush(stdout);
        rc = nm_train(g, train, test, tc, res);
    }
    for (int j = 0; j < nn && !rc; j++)
        if (nm_chip_set_active(hr->chip, j, 1) != NM_OK) nm_clear_error();
    /* every step already programmed what changed, so the chip holds the final weights */
    tc->frozen = NULL;
    tc->checkpoint = ckpt_path;
    free(frozen);
    free(ck);
    return rc;
}

int run_training(const char *command, const train_args *a, const char *model_path, const char *ckpt_path, const char *report_path,
                 nm_eval_result *eval_out) {
    nm_train_config tc;
    nm_spec_options so;
    int code = train_args_configure(a, &tc, &so);
    if (code) return code;
    nm_set_threads(a->threads);

    nm_dataset *train = NULL, *test = NULL;
    nm_graph *g = NULL;
    nm_report *rep = NULL;
    nm_train_result *res = calloc(1, sizeof *res);
    nm_eval_result ev, chip_before = {0}, chip_after = {0};
    nm_status rc;
    hw_run hr = {0};
    if (!res) return cli_fail(nm__error(NM_NOMEM, "out of memory"));
    /* Cheap checks first: a typo in --arch should not wait for the data to load. */
    rc = a->init ? nm_graph_load(a->init, &g) : nm_graph_from_spec_ex(a->arch, &so, &g);
    if (!rc && a->init && !strcmp(a->readout, "auto"))
        tc.readout = nm_node_kind_spiking(nm_graph_node(g, nm_graph_readout(g))->kind) ? NM_READOUT_COUNT : NM_READOUT_MEAN;
    if (rc || (rc = nm_loss_check(g, tc.readout, tc.loss))) {
        code = cli_fail(rc);
        goto done;
    }
    if (!a->init) nm_graph_init_params(g, tc.seed, 1.0f);
    if ((code = hw_setup(a, g, &tc, &hr))) goto done;
    if ((code = load_sets(a->data, &train, &test))) goto done;
    if (hr.chip && a->init) {   /* the starting point: the offline model deployed as it is */
        if ((rc = nm_evaluate(g, test, &tc, &chip_before))) { code = cli_fail(rc); goto done; }
        printf("on chip '%s' sample %llu before training: accuracy %.2f%%\n", hr.prof.name, (unsigned long long)a->chip_seed,
               100 * chip_before.accuracy);
        fflush(stdout);
    }

    epoch_printer pr = {a->quiet, tc.epochs};
    tc.checkpoint = ckpt_path;
    tc.on_epoch = print_epoch;
    tc.user = &pr;
    if (!a->quiet) {
        char spec[256];
        nm_graph_spec(g, spec, sizeof spec);
        printf("training %s %s network (%lld parameters) on %lld images, %d steps of %g ms, %s input, %d thread%s\n",
               spec, nm_node_kind_name(so.neuron), (long long)nm_graph_n_params(g),
               (long long)(tc.train_limit && tc.train_limit < train->n ? tc.train_limit : train->n), tc.n_steps,
               tc.dt * 1e3, nm_encoding_name(tc.encoding), nm_get_threads(), nm_get_threads() == 1 ? "" : "s");
        fflush(stdout);
    }
    rc = a->progressive ? train_progressive(g, train, test, &tc, &hr, ckpt_path, res) : nm_train(g, train, test, &tc, res);
    if (rc == NM_INTERRUPTED) {
        fprintf(stderr, "neuromorph: %s; run again with --resume to continue\n", nm_errmsg());
        code = 130;
        goto done;
    }
    if (rc) { code = cli_fail(rc); goto done; }
    if (res->resumed)
        printf("resumed from '%s' at epoch %d, batch %lld\n", ckpt_path, res->start_epoch + 1, (long long)res->start_batch);
    if (hr.chip) {   /* on the chip it was trained on; then the same weights in ideal software */
        if ((rc = nm_evaluate(g, test, &tc, &chip_after))) { code = cli_fail(rc); goto done; }
        tc.hooks = NULL;
    }
    if ((rc = nm_evaluate(g, test, &tc, &ev))) { code = cli_fail(rc); goto done; }
    if (eval_out) *eval_out = hr.chip ? chip_after : ev;
    if (model_path && (rc = nm_graph_save(g, model_path))) { code = cli_fail(rc); goto done; }

    double per_epoch = res->n_epochs ? res->train_seconds / res->n_epochs : 0;
    printf("test accuracy %.2f%%  spikes per sample %.1f  (%d epochs, %.1f s per epoch, peak memory %.0f MiB)\n",
           100 * ev.accuracy, ev.spikes_per_sample, res->n_epochs, per_epoch, nm_peak_rss_bytes() / 1048576.0);
    if (hr.chip)
        printf("on chip '%s' sample %llu after training: accuracy %.2f%%%s\n", hr.prof.name, (unsigned long long)a->chip_seed,
               100 * chip_after.accuracy, a->init ? "" : " (trained from scratch on the chip)");
    if (hr.ins) printf("in-situ %s updates: %lld transfers to the devices\n", a->insitu, (long long)nm_insitu_transfers(hr.ins));
    if (model_path && !a->quiet) printf("model saved to %s\n", model_path);

    if (a->figures && ((code = fig_mkdir(command, a->figures)) || (code = fig_curve(res, a->figures, NULL)) ||
                       (code = fig_activity(g, test, &tc, a->figures, NULL))))
        goto done;
    if (report_path) {
        rep = nm_report_create(command);
        char spec[256];
        nm_graph_spec(g, spec, sizeof spec);
        nm_report_set_str(rep, "config.arch", spec);
        nm_report_set_str(rep, "config.data", a->data);
        nm_report_set_int(rep, "config.epochs", tc.epochs);
        nm_report_set_int(rep, "config.batch", tc.batch);
        nm_report_set_num(rep, "config.lr", f7(tc.lr));
        nm_report_set_num(rep, "config.lr_final", f7(tc.lr_final));
        nm_report_set_num(rep, "config.weight_decay", f7(tc.weight_decay));
        nm_report_set_int(rep, "config.steps", tc.n_steps);
        nm_report_set_num(rep, "config.dt", f7(tc.dt));
        nm_report_set_str(rep, "config.encoding", nm_encoding_name(tc.encoding));
        nm_report_set_str(rep, "config.readout", nm_readout_name(tc.readout));
        nm_report_set_str(rep, "config.surrogate", nm_surrogate_name(tc.surrogate.kind));
        nm_report_set_num(rep, "config.slope", f7(tc.surrogate.slope));
        nm_report_set_str(rep, "config.neuron", nm_node_kind_name(so.neuron));
        nm_report_set_str(rep, "config.readout_neuron", nm_node_kind_name(so.readout));
        nm_report_set_bool(rep, "config.learn_neuron", so.learn_neuron);
        nm_report_set_num(rep, "config.tau_mem", f7(a->tau_mem));
        nm_report_set_num(rep, "config.tau_out", f7(a->tau_out));
        nm_report_set_num(rep, "config.threshold", f7(a->threshold));
        nm_report_set_str(rep, "config.reset", a->reset);
        nm_report_set_str(rep, "config.loss", nm_loss_name(tc.loss));
        nm_report_set_str(rep, "config.optimizer", nm_optimizer_name(tc.optimizer));
        nm_report_set_str(rep, "config.schedule", nm_sched_name(tc.schedule));
        nm_report_set_num(rep, "config.clip", f7(tc.clip_norm));
        nm_report_set_num(rep, "config.rate_reg", f7(tc.rate_reg));
        nm_report_set_str(rep, "config.sparse", nm_sparse_mode_name(tc.sparse));
        nm_report_set_int(rep, "config.parameters", nm_graph_n_params(g));
        nm_report_set_int(rep, "config.seed", (int64_t)tc.seed);
        nm_report_set_int(rep, "config.threads", nm_get_threads());
        nm_report_set_int(rep, "data.train_samples", tc.train_limit && tc.train_limit < train->n ? tc.train_limit : train->n);
        nm_report_set_int(rep, "data.test_samples", ev.n);
        for (int e = 0; e < res->n_epochs; e++) {
            const nm_epoch_stats *s = &res->history[e];
            nm_report *item = nm_report_create(NULL);
            nm_report_set_int(item, "epoch", s->epoch);
            nm_report_set_num(item, "train_loss", s->train_loss);
            nm_report_set_num(item, "train_accuracy", s->train_acc);
            nm_report_set_num(item, "test_accuracy", s->test_acc);
            nm_report_set_num(item, "spikes_per_sample", s->spikes_per_sample);
            nm_report_set_num(item, "seconds", s->seconds);
            nm_report_set_num(item, "lr", f7((float)s->lr));
            nm_report_push_obj(rep, "epochs", item);
        }
        report_eval(rep, "test", g, &ev);
        if (a->init) nm_report_set_str(rep, "config.init", a->init);
        nm_report_set_str(rep, "config.weight_noise", nm_wnoise_name(tc.noise.kind));
        nm_report_set_num(rep, "config.noise", f7(tc.noise.sigma));
        nm_report_set_int(rep, "config.quant_bits", tc.noise.quant_bits);
        nm_report_set_num(rep, "config.weight_clip", f7(tc.noise.clip));
        if (a->train_only) nm_report_set_str(rep, "config.train_only", a->train_only);
        if (hr.ins) {
            nm_report_set_str(rep, "insitu.kind", a->insitu);
            nm_report_set_int(rep, "insitu.transfers", nm_insitu_transfers(hr.ins));
            if (!strcmp(a->insitu, "mixed")) nm_report_set_int(rep, "insitu.verify_iters", a->verify_iters);
        }
        if (hr.chip) {
            nm_report_set_str(rep, "chip_in_loop.profile", hr.prof.name);
            nm_report_set_int(rep, "chip_in_loop.seed", (int64_t)a->chip_seed);
            nm_report_set_str(rep, "chip_in_loop.method", a->progressive ? "progressive" : a->train_only ? "hybrid" : "in-loop");
            nm_report_set_str(rep, "chip_in_loop.drift_comp", nm_drift_comp_name(hr.dc));
            if (a->init) nm_report_set_num(rep, "chip_in_loop.accuracy_before", chip_before.accuracy);
            nm_report_set_num(rep, "chip_in_loop.accuracy_after", chip_after.accuracy);
        }
        nm_report_set_num(rep, "train.seconds", res->train_seconds);
        nm_report_set_num(rep, "train.seconds_per_epoch", per_epoch);
        nm_report_set_bool(rep, "train.resumed", res->resumed);
        nm_report_set_num(rep, "peak_memory_mib", nm_peak_rss_bytes() / 1048576.0);
        if (model_path) nm_report_set_str(rep, "model", model_path);
        if (a->figures) nm_report_set_str(rep, "figures.dir", a->figures);
        if ((rc = nm_report_write(rep, report_path))) { code = cli_fail(rc); goto done; }
        if (!a->quiet) printf("report written to %s\n", report_path);
    }
done:
    hw_free(&hr);
    nm_report_destroy(rep);
    nm_graph_destroy(g);
    nm_dataset_destroy(train);
    nm_dataset_destroy(test);
    free(res);
    return code;
}

/* Accuracy of `samples` chip samples of profile `prof` at each device time, as mean and
** sample standard deviation; one line per time, and the report's "chip" object. */
int chip_eval(const nm_graph *g, const nm_dataset *test, nm_train_config *tc, const chip_eval_spec *sp) {
    const nm_chip_profile *prof = sp->prof;
    const int samples = sp->samples, n_times = sp->n_times, quiet = sp->quiet;
    const double *times = sp->times;
    const uint64_t seed = sp->seed;
    const nm_drift_comp dc = sp->dc;
    nm_report *rep = sp->rep;
    const char *key = sp->key ? sp->key : "chip";
    double *acc = calloc((size_t)samples * n_times, sizeof *acc), *spk = calloc((size_t)samples * n_times, sizeof *spk);
    nm_status st = NM_OK;
    char kb[96];
#define K(field) (snprintf(kb, sizeof kb, "%s." field, key), kb)
    if (!acc || !spk) {
        free(acc);
        free(spk);
        return cli_fail(nm__error(NM_NOMEM, "out of memory"));
    }
    for (int s = 0; s < samples && !st; s++) {
        nm_chip *chip = NULL;
        nm_exec_hooks h;
        if ((st = nm_chip_realize(g, prof, seed + (uint64_t)s, &chip))) break;
        if (dc != NM_DRIFT_COMP_NONE && (st = nm_chip_set_drift_comp(chip, dc))) { nm_chip_destroy(chip); break; }
        nm_chip_hooks(chip, &h);
        tc->hooks = &h;
        for (int k = 0; k < n_times && !st; k++) {
            nm_eval_result ev;
            if ((st = nm_chip_set_time(chip, times[k])) || (st = nm_evaluate(g, test, tc, &ev))) break;
            acc[s * n_times + k] = ev.accuracy;
            spk[s * n_times + k] = ev.spikes_per_sample;
            if (!quiet) {
                char tb[32];
                nm_format_duration(times[k], tb, sizeof tb);
                fprintf(stderr, "  chip sample %d/%d  t %-6s accuracy %.2f%%\n", s + 1, samples, tb, 100 * ev.accuracy);
            }
        }
        tc->hooks = NULL;
        nm_chip_destroy(chip);
    }
    if (st) {
        free(acc);
        free(spk);
        return cli_fail(st);
    }
    if (rep) {
        nm_report_set_str(rep, K("profile"), prof->name);
        nm_report_set_int(rep, K("samples"), samples);
        nm_report_set_int(rep, K("seed"), (int64_t)seed);
        nm_report_set_str(rep, K("drift_comp"), nm_drift_comp_name(dc));
    }
    for (int k = 0; k < n_times; k++) {
        double mean = 0, var = 0, lo = 1, hi = 0, sm = 0;
        for (int s = 0; s < samples; s++) {
            double v = acc[s * n_times + k];
            mean += v / samples;
            sm += spk[s * n_times + k] / samples;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
        for (int s = 0; s < samples; s++) var += pow(acc[s * n_times + k] - mean, 2);
        const double sd = samples > 1 ? sqrt(var / (samples - 1)) : 0.0;
        if (sp->mean) sp->mean[k] = mean;
        if (sp->sd) sp->sd[k] = sd;
        char tb[32];
        nm_format_duration(times[k], tb, sizeof tb);
        printf("chip %s%s  t %-6s accuracy %.2f%% +- %.2f%%  (min %.2f%%, max %.2f%%, %d samples)  spikes per sample %.1f\n",
               prof->name, dc == NM_DRIFT_COMP_GLOBAL ? " (global drift comp.)" : dc == NM_DRIFT_COMP_COLUMN ? " (column drift comp.)" : "",
               tb, 100 * mean, 100 * sd, 100 * lo, 100 * hi, samples, sm);
        if (rep) {
            nm_report *item = nm_report_create(NULL);
            nm_report_set_num(item, "time_s", times[k]);
            nm_report_set_str(item, "time", tb);
            nm_report_set_num(item, "accuracy_mean", mean);
            nm_report_set_num(item, "accuracy_std", sd);
            nm_report_set_num(item, "accuracy_min", lo);
            nm_report_set_num(item, "accuracy_max", hi);
            nm_report_set_num(item, "spikes_per_sample", sm);
            for (int s = 0; s < samples; s++) nm_report_push_num(item, "accuracies", acc[s * n_times + k]);
            nm_report_push_obj(rep, K("times"), item);
        }
    }
    free(acc);
    free(spk);
    return 0;
#undef K
}
