/*
** neuromorph train --method stdp|evolve: the learning rules without backpropagation.
**   stdp    the unsupervised network of Diehl & Cook 2015 (Poisson input, adaptive
**           thresholds, lateral inhibition, STDP), labelled after training
**   evolve  an evolution strategy over the weights of a small spiking network
** Both print one result line and write a JSON report (accuracy, training time, spikes per
** inference) that bench/learn_table.sh reads.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/neuromorph.h>

#include "opts.h"

static int load(const char *data, nm_dataset **train, nm_dataset **test) {
    nm_status st = nm_dataset_load_dir(data, "train", train);
    if (!st) st = nm_dataset_load_dir(data, "t10k", test);
    return st ? cli_fail(st) : 0;
}

static int train_stdp(int argc, char **argv) {
    nm_stdp_config c;
    nm_stdp_config_default(&c);
    int help = 0, quiet = 0, threads = 0;
    const char *method = NULL, *data = NM_DEFAULT_DATA_DIR, *report = "stdp.json", *weights = NULL;
    uint64_t train_limit = 60000, label_limit = 0, test_limit = 0;
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        {"method", OPT_STR, &method, "M", "stdp", 1, 0, 0},
        {"neurons", OPT_INT, &c.n_exc, "N", "excitatory neurons (default 400; the paper: 100, 400, 1600, 6400)", 1, 65536, 0},
        {"train-limit", OPT_U64, &train_limit, "N", "training images, presented once in order (default 60000)", 1, 0, 0},
        {"label-limit", OPT_U64, &label_limit, "N", "label neurons on the first N training images, learning off "
                                                    "(default 0: the responses to the last 10000 training images)", 1, 0, 0},
        {"test-limit", OPT_U64, &test_limit, "N", "test on the first N test images (default all)", 1, 0, 0},
        {"present", OPT_FLOAT, &c.t_present, "MS", "presentation per image in ms (default 350)", 1, 1e6, 0},
        {"dt", OPT_FLOAT, &c.dt, "MS", "time step in ms (default 0.5)", 1e-3, 10, 0},
        {"max-rate", OPT_FLOAT, &c.max_rate, "HZ", "Poisson rate of a full-intensity pixel (default 63.75)", 1e-3, 1e4, 0},
        {"theta-plus", OPT_FLOAT, &c.theta_plus, "MV", "threshold increase per spike (default 0.05)", 0, 100, 0},
        {"nu-post", OPT_FLOAT, &c.nu_post, "X", "potentiation rate (default 0.01)", 0, 1, 0},
        {"nu-pre", OPT_FLOAT, &c.nu_pre, "X", "depression rate (default 0.0001)", 0, 1, 0},
        {"w-inh", OPT_FLOAT, &c.w_inh, "NS", "lateral inhibition per spike (default 17)", 0, 1e4, 0},
        {"data", OPT_STR, &data, "DIR", "idx dataset directory (default " NM_DEFAULT_DATA_DIR ")", 1, 0, 0},
        {"out", OPT_STR, &report, "PATH", "JSON report (default stdp.json)", 1, 0, 0},
        {"weights", OPT_STR, &weights, "PATH", "write the learned weights (inputs x neurons, idx f32)", 1, 0, 0},
        {"seed", OPT_U64, &c.seed, "N", "seed of the weights and the Poisson input (default 1)", 1, 0, 0},
        {"threads", OPT_INT, &threads, "N", "threads for labelling and testing (default: all cores)", 0, 1024, 0},
        {"quiet", OPT_FLAG, &quiet, NULL, "no progress bar", 1, 0, 0},
    };
    const int n = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("train", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "train", "--method stdp [options]",
                   "Unsupervised STDP learning, Diehl & Cook 2015: Poisson-coded pixels drive conductance-based\n"
                   "excitatory neurons with adaptive thresholds and lateral inhibition; STDP learns the input\n"
                   "weights in one pass over the training images. Neurons are then labelled by their average\n"
                   "response, and a test image's class is the label whose neurons fire most.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    nm_set_threads(threads);
    nm_dataset *train = NULL, *test = NULL;
    nm_stdp *s = NULL;
    nm_report *rep = NULL;
    nm_status st;
    if ((rc = load(data, &train, &test))) goto done;
    rc = 1;
    if ((st = nm_stdp_create(&c, (int64_t)train->rows * train->cols, &s))) {
        cli_fail(st);
        goto done;
    }
    cli_install_signals();
    nm_stdp_result r;
    if ((st = nm_stdp_run(s, train, test, (int64_t)train_limit, (int64_t)label_limit, (int64_t)test_limit, quiet,
                          &cli_stop, &r))) {
        cli_fail(st);
        goto done;
    }
    printf("stdp %d neurons: test accuracy %.2f%% (%lld images), trained on %lld images in %.1f s, labelled on %lld, "
           "%.1f spikes/inference (%.0f input spikes)\n",
           c.n_exc, 100 * r.accuracy, (long long)r.n_test, (long long)r.n_train, r.train_seconds, (long long)r.n_label,
           r.spikes_per_inference, r.input_spikes_per_inference);
    if (r.n_unassigned) printf("  %d neurons never fired on the labelling images\n", r.n_unassigned);
    if (!(rep = nm_report_create("train --method stdp"))) {
        cli_fail(NM_NOMEM);
        goto done;
    }
    nm_report_set_str(rep, "method", "stdp");
    nm_report_set_int(rep, "neurons", c.n_exc);
    nm_report_set_int(rep, "seed", (int64_t)c.seed);
    nm_report_set_int(rep, "train_images", r.n_train);
    nm_report_set_int(rep, "label_images", r.n_label);
    nm_report_set_num(rep, "train_seconds", r.train_seconds);
    nm_report_set_num(rep, "label_seconds", r.label_seconds);
    nm_report_set_num(rep, "test.seconds", r.test_seconds);
    nm_report_set_int(rep, "test.samples", r.n_test);
    nm_report_set_num(rep, "test.accuracy", r.accuracy);
    nm_report_set_num(rep, "test.spikes_per_sample", r.spikes_per_inference);
    nm_report_set_num(rep, "test.input_spikes_per_sample", r.input_spikes_per_inference);
    nm_report_set_int(rep, "unassigned_neurons", r.n_unassigned);
    if ((st = nm_report_write(rep, report))) {
        cli_fail(st);
        goto done;
    }
    if (weights) {
        nm_idx w = {NM_IDX_F32, 2, {(int64_t)train->rows * train->cols, c.n_exc}, (int64_t)train->rows * train->cols * c.n_exc,
                    nm_stdp_weights(s)};
        if ((st = nm_idx_write(weights, &w))) {
            cli_fail(st);
            goto done;
        }
    }
    rc = 0;
done:
    nm_stdp_destroy(s);
    nm_dataset_destroy(train);
    nm_dataset_destroy(test);
    nm_report_destroy(rep);
    return rc;
}

static int train_evolve(int argc, char **argv) {
    nm_evolve_config ec;
    nm_evolve_config_default(&ec);
    nm_train_config tc;
    nm_train_config_default(&tc);
    int help = 0, quiet = 0, threads = 0;
    const char *method = NULL, *data = NM_DEFAULT_DATA_DIR, *arch = "784-32-10", *out = "evolved.nmm", *report = NULL;
    uint64_t train_limit = 0, test_limit = 0;
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        {"method", OPT_STR, &method, "M", "evolve", 1, 0, 0},
        {"arch", OPT_STR, &arch, "SPEC", "a small LIF network (default 784-32-10)", 1, 0, 0},
        {"generations", OPT_INT, &ec.generations, "N", "generations (default 200)", 1, 1000000, 0},
        {"pairs", OPT_INT, &ec.pairs, "N", "antithetic pairs per generation (default 16)", 1, 4096, 0},
        {"sigma", OPT_FLOAT, &ec.sigma, "X", "perturbation std (default 0.02)", 1e-8, 100, 0},
        {"lr", OPT_FLOAT, &ec.lr, "X", "Adam step on the ES gradient (default 0.01)", 1e-8, 10, 0},
        {"batch", OPT_INT, &ec.batch, "N", "fitness images per generation (default 256)", 1, 65536, 0},
        {"steps", OPT_INT, &tc.n_steps, "T", "time steps per sample (default 25)", 1, 100000, 0},
        {"train-limit", OPT_U64, &train_limit, "N", "draw minibatches from the first N training images (default all)", 1, 0, 0},
        {"test-limit", OPT_U64, &test_limit, "N", "test on the first N test images (default all)", 1, 0, 0},
        {"data", OPT_STR, &data, "DIR", "idx dataset directory (default " NM_DEFAULT_DATA_DIR ")", 1, 0, 0},
        {"out", OPT_STR, &out, "PATH", "model to write (default evolved.nmm)", 1, 0, 0},
        {"report", OPT_STR, &report, "PATH", "JSON report (default: OUT with .json)", 1, 0, 0},
        {"seed", OPT_U64, &ec.seed, "N", "seed (default 1)", 1, 0, 0},
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)", 0, 1024, 0},
        {"quiet", OPT_FLAG, &quiet, NULL, "no progress bar", 1, 0, 0},
    };
    const int n = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("train", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "train", "--method evolve [options]",
                   "An evolution strategy (antithetic Gaussian perturbations, centred ranks, Adam) over all\n"
                   "parameters of a small LIF network; fitness is minus the cross-entropy of its mean-membrane\n"
                   "scores on a fresh minibatch each generation. Topology is fixed.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    nm_set_threads(threads);
    ec.quiet = quiet;
    ec.train_limit = (int64_t)train_limit;
    tc.seed = ec.seed;
    tc.test_limit = (int64_t)test_limit;
    tc.stop = &cli_stop;
    nm_dataset *train = NULL, *test = NULL;
    nm_graph *g = NULL;
    nm_report *rep = NULL;
    char *rep_def = NULL;
    nm_status st;
    if ((rc = load(data, &train, &test))) goto done;
    rc = 1;
    nm_spec_options so;
    nm_spec_options_default(&so);
    if ((st = nm_graph_from_spec_ex(arch, &so, &g))) {
        cli_fail(st);
        goto done;
    }
    nm_graph_init_params(g, ec.seed, 1.0f);
    cli_install_signals();
    nm_evolve_result er;
    if ((st = nm_evolve(g, train, &tc, &ec, &er))) {
        cli_fail(st);
        goto done;
    }
    nm_eval_result ev;
    if ((st = nm_evaluate(g, test, &tc, &ev))) {
        cli_fail(st);
        goto done;
    }
    printf("evolve %s: test accuracy %.2f%% (%lld images), %d generations x %d in %.1f s, fitness %.4f -> %.4f, "
           "%.1f spikes/inference\n",
           arch, 100 * ev.accuracy, (long long)ev.n, er.generations, 2 * ec.pairs, er.seconds, er.first_fitness,
           er.last_fitness, ev.spikes_per_sample);
    if ((st = nm_graph_save(g, out))) {
        cli_fail(st);
        goto done;
    }
    if (!(rep = nm_report_create("train --method evolve"))) {
        cli_fail(NM_NOMEM);
        goto done;
    }
    nm_report_set_str(rep, "method", "evolve");
    nm_report_set_str(rep, "arch", arch);
    nm_report_set_int(rep, "seed", (int64_t)ec.seed);
    nm_report_set_int(rep, "generations", er.generations);
    nm_report_set_int(rep, "pairs", ec.pairs);
    nm_report_set_num(rep, "sigma", ec.sigma);
    nm_report_set_num(rep, "first_fitness", er.first_fitness);
    nm_report_set_num(rep, "last_fitness", er.last_fitness);
    nm_report_set_num(rep, "train_seconds", er.seconds);
    nm_report_set_num(rep, "test.accuracy", ev.accuracy);
    nm_report_set_int(rep, "test.samples", ev.n);
    nm_report_set_num(rep, "test.spikes_per_sample", ev.spikes_per_sample);
    const char *rp = report;
    if (!rp) rp = rep_def = cli_sibling(out, ".json");
    if (!rp || (st = nm_report_write(rep, rp))) {
        cli_fail(rp ? st : NM_NOMEM);
        goto done;
    }
    rc = 0;
done:
    nm_graph_destroy(g);
    nm_dataset_destroy(train);
    nm_dataset_destroy(test);
    nm_report_destroy(rep);
    free(rep_def);
    return rc;
}

int cmd_train_method(const char *method, int argc, char **argv) {
    if (!strcmp(method, "stdp")) return train_stdp(argc, argv);
    if (!strcmp(method, "evolve")) return train_evolve(argc, argv);
    fprintf(stderr, "neuromorph train: unknown --method '%s' (choose bptt, stdp or evolve)\n", method);
    return 2;
}
