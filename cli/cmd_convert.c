/*
** neuromorph convert: ANN-to-SNN conversion. Converts a ReLU network (a model file trained in
** ANN mode, --ann) or first trains one (--arch, --ann-epochs), normalizes it on calibration
** data, and reports the spiking network's accuracy and spikes per inference against the
** number of time steps.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/neuromorph.h>

#include "opts.h"

/* "8,16,32" into ascending step counts; one error line naming the bad item. */
static int parse_steps(const char *list, int *steps, int *n) {
    const char *p = list;
    *n = 0;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 65536 || (*end && *end != ',') || (*n && v <= steps[*n - 1])) {
            fprintf(stderr, "neuromorph convert: --steps expects ascending step counts in [1, 65536] such as 8,16,32, got '%s'\n",
                    list);
            return 2;
        }
        if (*n == NM_CONVERT_MAX_T) {
            fprintf(stderr, "neuromorph convert: --steps takes at most %d counts\n", NM_CONVERT_MAX_T);
            return 2;
        }
        steps[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end && !*p) {
            fprintf(stderr, "neuromorph convert: --steps ends with a comma: '%s'\n", list);
            return 2;
        }
    }
    if (!*n) {
        fprintf(stderr, "neuromorph convert: --steps expects a list such as 8,16,32,64,128,256\n");
        return 2;
    }
    return 0;
}

int cmd_convert(int argc, char **argv) {
    int help = 0, quiet = 0, threads = 0, ann_epochs = 10, ann_batch = 100, batch = 50;
    const char *ann_path = NULL, *arch = NULL, *data = NM_DEFAULT_DATA_DIR, *out = "snn.nmm", *ann_out = NULL;
    const char *report = NULL, *norm = "percentile", *steps_list = "8,16,32,64,128,256";
    float ann_lr = 1e-3f, percentile = 99.9f, dt = 1e-3f;
    uint64_t seed = 1, calib = 1000, train_limit = 0, test_limit = 0;
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        {"ann", OPT_STR, &ann_path, "MODEL", "ReLU network to convert (a .nmm trained with --arch/--ann-epochs)", 1, 0, 0},
        {"arch", OPT_STR, &arch, "SPEC", "train a ReLU network of this architecture first (784-500-10, 1x28x28-16c5ap2-32c5ap2-10)", 1, 0, 0},
        {"ann-epochs", OPT_INT, &ann_epochs, "N", "ANN training epochs (default 10)", 1, 1000, 0},
        {"ann-lr", OPT_FLOAT, &ann_lr, "X", "ANN Adam learning rate, cosine to 5% (default 1e-3)", 1e-8, 10, 0},
        {"ann-batch", OPT_INT, &ann_batch, "N", "ANN training batch (default 100)", 1, 65536, 0},
        {"ann-out", OPT_STR, &ann_out, "PATH", "where to write the trained ANN (default: OUT with _ann.nmm)", 1, 0, 0},
        {"train-limit", OPT_U64, &train_limit, "N", "train the ANN on the first N training images (default all)", 1, 0, 0},
        {"norm", OPT_STR, &norm, "M", "normalization: max, percentile or none (default percentile)", 1, 0, 0},
        {"percentile", OPT_FLOAT, &percentile, "P", "percentile of positive activations (default 99.9)", 1e-3, 100, 0},
        {"calib", OPT_U64, &calib, "N", "calibration images, the first of the training set (default 1000)", 1, 1e9, 0},
        {"steps", OPT_STR, &steps_list, "LIST", "time steps to score (default 8,16,32,64,128,256)", 1, 0, 0},
        {"dt", OPT_FLOAT, &dt, "S", "time step of the converted model in seconds (default 1e-3)", 1e-9, 10, 0},
        {"batch", OPT_INT, &batch, "N", "spiking evaluation batch (default 50)", 1, 65536, 0},
        {"test-limit", OPT_U64, &test_limit, "N", "evaluate on the first N test images (default all)", 1, 0, 0},
        {"data", OPT_STR, &data, "DIR", "idx dataset directory (default " NM_DEFAULT_DATA_DIR ")", 1, 0, 0},
        {"out", OPT_STR, &out, "PATH", "converted spiking model to write (default snn.nmm)", 1, 0, 0},
        {"report", OPT_STR, &report, "PATH", "JSON report (default: OUT with .json)", 1, 0, 0},
        {"seed", OPT_U64, &seed, "N", "seed of the ANN's initial weights and data order (default 1)", 1, 0, 0},
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)", 0, 1024, 0},
        {"quiet", OPT_FLAG, &quiet, NULL, "no progress bars", 1, 0, 0},
    };
    const int n = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("convert", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "convert", "--ann MODEL | --arch SPEC [options]",
                   "ANN-to-SNN conversion. Trains a ReLU network in ANN mode (--arch; every hidden population\n"
                   "is a ReLU, the readout the identity) or loads one (--ann), rescales each layer by the\n"
                   "maximum or a percentile of its activations on --calib training images, and runs the\n"
                   "result as IF neurons (reset by subtraction, biases as constant currents) with an\n"
                   "integrating readout. Prints accuracy and spikes per inference for each of --steps.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    if (!ann_path == !arch) {
        fprintf(stderr, "neuromorph convert: give either --ann MODEL (convert it) or --arch SPEC (train one first)\n");
        return 2;
    }
    if (ann_path && (opts_find(table, n, "ann-epochs")->seen || opts_find(table, n, "ann-lr")->seen)) {
        fprintf(stderr, "neuromorph convert: --ann-epochs and --ann-lr train a network from --arch, not --ann\n");
        return 2;
    }
    nm_convert_config cc;
    nm_convert_config_default(&cc);
    if (nm_norm_parse(norm, &cc.norm)) {
        fprintf(stderr, "neuromorph convert: --norm: %s\n", nm_errmsg());
        return 2;
    }
    char pbuf[32];   /* the percentile as typed (99.9), not the float's tail (99.90000153) */
    snprintf(pbuf, sizeof pbuf, "%.7g", percentile);
    cc.percentile = strtod(pbuf, NULL);
    cc.calib = (int64_t)calib;
    cc.dt = dt;
    int steps[NM_CONVERT_MAX_T], n_t = 0;
    if ((rc = parse_steps(steps_list, steps, &n_t))) return rc;
    nm_set_threads(threads);
    cli_install_signals();

    nm_dataset *train = NULL, *test = NULL;
    nm_graph *ann = NULL, *snn = NULL;
    nm_report *rep = NULL;
    char *ann_def = NULL, *rep_def = NULL;
    nm_status st;
    rc = 1;
    if ((st = nm_dataset_load_dir(data, "train", &train)) || (st = nm_dataset_load_dir(data, "t10k", &test))) {
        cli_fail(st);
        goto done;
    }
    if (!(rep = nm_report_create("convert"))) {
        cli_fail(NM_NOMEM);
        goto done;
    }
    double ann_seconds = 0.0;
    if (arch) {
        nm_spec_options so;
        nm_spec_options_default(&so);
        so.neuron = NM_NODE_IF;
        if ((st = nm_graph_from_spec_ex(arch, &so, &ann))) {
            cli_fail(st);
            goto done;
        }
        nm_ann_config ac;
        nm_ann_config_default(&ac);
        ac.epochs = ann_epochs;
        ac.lr = ann_lr;
        ac.batch = ann_batch;
        ac.seed = seed;
        ac.train_limit = (int64_t)train_limit;
        ac.test_limit = (int64_t)test_limit;
        ac.quiet = quiet;
        nm_ann_result ar;
        if ((st = nm_ann_train(ann, train, NULL, &ac, &ar))) {
            cli_fail(st);
            goto done;
        }
        ann_seconds = ar.seconds;
        if (!quiet) printf("ANN %s: %d epochs, train loss %.4f, train %.2f%%, %.1f s\n", arch, ann_epochs, ar.train_loss,
                           100 * ar.train_acc, ar.seconds);
        const char *ap = ann_out ? ann_out : (ann_def = cli_sibling(out, "_ann.nmm"));
        if (!ap || (st = nm_graph_save(ann, ap))) {
            cli_fail(ap ? st : NM_NOMEM);
            goto done;
        }
        nm_report_set_str(rep, "ann.model", ap);
        nm_report_set_str(rep, "ann.arch", arch);
        nm_report_set_int(rep, "ann.epochs", ann_epochs);
        nm_report_set_num(rep, "ann.train_seconds", ar.seconds);
    } else if ((st = nm_graph_load(ann_path, &ann))) {
        cli_fail(st);
        goto done;
    }
    double ann_acc = 0.0;
    if ((st = nm_ann_evaluate(ann, test, (int64_t)test_limit, &ann_acc))) {
        cli_fail(st);
        goto done;
    }
    float *lambda = calloc((size_t)nm_graph_n_nodes(ann), sizeof(float));
    double t0 = nm_time_now();
    st = lambda ? nm_convert(ann, train, &cc, &snn, lambda) : NM_NOMEM;
    double conv_seconds = nm_time_now() - t0;
    if (st) {
        free(lambda);
        cli_fail(st);
        goto done;
    }
    char spec[1024];
    nm_graph_spec(ann, spec, sizeof spec);
    if (!quiet) printf("ANN %s: test accuracy %.2f%%\n", spec, 100 * ann_acc);
    nm_report_set_str(rep, "ann.spec", spec);
    nm_report_set_num(rep, "ann.accuracy", ann_acc);
    nm_report_set_str(rep, "convert.norm", nm_norm_name(cc.norm));
    if (cc.norm == NM_NORM_PERCENTILE) nm_report_set_num(rep, "convert.percentile", cc.percentile);
    nm_report_set_int(rep, "convert.calib", cc.calib);
    nm_report_set_num(rep, "convert.seconds", conv_seconds);
    for (int j = 0; j < nm_graph_n_nodes(snn); j++)
        if (lambda[j] > 0.0f) {
            nm_report *it = nm_report_create(NULL);
            nm_report_set_str(it, "node", nm_graph_node(snn, j)->name);
            nm_report_set_num(it, "lambda", lambda[j]);
            nm_report_push_obj(rep, "convert.layers", it);
            if (!quiet) printf("  %-10s lambda %.4f\n", nm_graph_node(snn, j)->name, lambda[j]);
        }
    free(lambda);
    if ((st = nm_graph_save(snn, out))) {
        cli_fail(st);
        goto done;
    }
    nm_convert_eval ev;
    if ((st = nm_convert_evaluate(snn, test, steps, n_t, (int64_t)test_limit, batch, &ev))) {
        cli_fail(st);
        goto done;
    }
    printf("steps  accuracy  vs ANN    spikes/inference   (%lld test images, %.1f s)\n", (long long)ev.n, ev.seconds);
    for (int i = 0; i < n_t; i++) {
        printf("%5d  %7.2f%%  %+6.2f  %16.1f\n", ev.steps[i], 100 * ev.accuracy[i], 100 * (ev.accuracy[i] - ann_acc),
               ev.spikes[i]);
        nm_report *it = nm_report_create(NULL);
        nm_report_set_int(it, "steps", ev.steps[i]);
        nm_report_set_num(it, "accuracy", ev.accuracy[i]);
        nm_report_set_num(it, "spikes_per_inference", ev.spikes[i]);
        nm_report_push_obj(rep, "snn.results", it);
    }
    nm_report_set_int(rep, "snn.samples", ev.n);
    nm_report_set_num(rep, "snn.eval_seconds", ev.seconds);
    nm_report_set_num(rep, "train_seconds", ann_seconds + conv_seconds);
    nm_report_set_str(rep, "snn.model", out);
    nm_report_set_int(rep, "seed", (int64_t)seed);
    const char *rp = report ? report : (rep_def = cli_sibling(out, ".json"));
    if (!rp || (st = nm_report_write(rep, rp))) {
        cli_fail(rp ? st : NM_NOMEM);
        goto done;
    }
    rc = 0;
done:
    nm_dataset_destroy(train);
    nm_dataset_destroy(test);
    nm_graph_destroy(ann);
    nm_graph_destroy(snn);
    nm_report_destroy(rep);
    free(ann_def);
    free(rep_def);
    return rc;
}
