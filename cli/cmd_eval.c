/*
** neuromorph eval: accuracy, spikes per sample per layer and firing rates of a model; with
** --chip, the accuracy of chip samples of a profile at chosen device times (mean and spread
** over samples). --figures DIR draws the spikes, membrane traces and firing rates of the
** model and, with --chip, the accuracy against device time and the first sample's
** conductances.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures.h"
#include "train_args.h"

#define MAX_TIMES 16

/* "1s,1h,1d,1y" into seconds; one error line naming the bad item. */
static int parse_times(const char *list, double *t, int *n) {
    char buf[512];
    if (strlen(list) >= sizeof buf) {
        fprintf(stderr, "neuromorph eval: --time list is too long\n");
        return 2;
    }
    strcpy(buf, list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_TIMES) {
            fprintf(stderr, "neuromorph eval: --time takes at most %d times\n", MAX_TIMES);
            return 2;
        }
        if (nm_parse_duration(tok, &t[*n])) {
            fprintf(stderr, "neuromorph eval: --time: %s\n", nm_errmsg());
            return 2;
        }
        (*n)++;
    }
    if (!*n) {
        fprintf(stderr, "neuromorph eval: --time expects a list of durations such as 1s,1h,1d,1y\n");
        return 2;
    }
    return 0;
}

int cmd_eval(int argc, char **argv) {
    train_args a;
    train_args_default(&a);
    const char *model = NULL, *chip = NULL, *time_list = "1s", *figures = NULL;
    int batch = 500, samples = 10;
    uint64_t chip_seed = 1;
    opt table[] = {
        {"help", OPT_FLAG, &a.help, NULL, "show this help", 1, 0, 0},
        {"model", OPT_STR, &model, "PATH", "model (.nmm) or training checkpoint (.ckpt) to evaluate (required)", 1, 0, 0},
        {"data", OPT_STR, &a.data, "DIR", "idx dataset directory (default " NM_DEFAULT_DATA_DIR ")", 1, 0, 0},
        {"steps", OPT_INT, &a.steps, "T", "time steps per sample (default 25)", 1, 100000, 0},
        {"dt", OPT_FLOAT, &a.dt, "S", "time step in seconds (default 1e-3)", 1e-9, 10, 0},
        {"encoding", OPT_STR, &a.encoding, "E", "input coding: current, rate, latency, or frames for an event dataset (default current)", 1, 0, 0},
        {"readout", OPT_STR, &a.readout, "R", "mean, max or count (default: count for a spiking readout, else mean)", 1, 0, 0},
        {"sparse", OPT_STR, &a.sparse, "M", "spike-sparse gather path: auto, never or always (default auto)", 1, 0, 0},
        {"batch", OPT_INT, &batch, "N", "evaluation batch (default 500)", 1, 65536, 0},
        {"limit", OPT_U64, &a.test_limit, "N", "evaluate the first N test samples only", 1, 0, 0},
        {"chip", OPT_STR, &chip, "PROFILE", "run on samples of this chip profile (see neuromorph chip list)", 1, 0, 0},
        {"samples", OPT_INT, &samples, "N", "chip samples (default 10)", 1, 10000, 0},
        {"time", OPT_STR, &time_list, "LIST", "device times after programming, e.g. 1s,1h,1d,1y (default 1s)", 1, 0, 0},
        {"chip-seed", OPT_U64, &chip_seed, "N", "seed of the first chip sample; sample k uses N + k (default 1)", 1, 0, 0},
        {"drift-comp", OPT_STR, &a.drift_comp, "M", "drift compensation: none, global or column (default none)", 1, 0, 0},
        {"out", OPT_STR, &a.report, "PATH", "write a JSON report here", 1, 0, 0},
        {"figures", OPT_STR, &figures, "DIR", "write figures here: raster, traces, firing rates (with --chip: accuracy over time, conductances)", 1, 0, 0},
        {"seed", OPT_U64, &a.seed, "N", "random seed of rate coding (default 1)", 1, 0, 0},
        {"threads", OPT_INT, &a.threads, "N", "threads (default: all cores)", 0, 1024, 0},
        {"quiet", OPT_FLAG, &a.quiet, NULL, "print only the accuracy line", 1, 0, 0},
    };
    int n = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("eval", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "eval", "--model PATH [options]",
                   "Runs a trained model over the test split and reports accuracy, spikes per sample\n"
                   "(per layer) and mean firing rates. With --chip, also realizes the model on --samples\n"
                   "chip samples of a profile and reports the accuracy, mean +- std over samples, at\n"
                   "each --time after programming, optionally with drift compensation. --figures DIR\n"
                   "draws the spikes, membrane traces and firing rates of a few test samples and, with\n"
                   "--chip, the accuracy against device time and the first sample's conductances.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    if (!model) {
        fprintf(stderr, "neuromorph eval: --model PATH is required (see neuromorph eval --help)\n");
        return 2;
    }
    nm_train_config tc;
    nm_spec_options so;
    nm_chip_profile prof;
    double times[MAX_TIMES];
    int n_times = 0;
    if ((rc = train_args_configure(&a, &tc, &so))) return rc;
    if (!chip && (opts_find(table, n, "samples")->seen || opts_find(table, n, "time")->seen ||
                  opts_find(table, n, "drift-comp")->seen)) {
        fprintf(stderr, "neuromorph eval: --samples, --time and --drift-comp need --chip PROFILE\n");
        return 2;
    }
    nm_drift_comp dc;
    if ((rc = parse_drift_comp("eval", a.drift_comp, &dc))) return rc;
    if (figures && (rc = fig_mkdir("eval", figures))) return rc;
    if (chip) {
        if ((rc = parse_times(time_list, times, &n_times))) return rc;
        nm_status ps = nm_chip_profile_load(chip, &prof);
        if (ps) return cli_fail(ps);
    }
    tc.eval_batch = batch;
    nm_set_threads(a.threads);

    nm_graph *g = NULL;
    nm_dataset *test = NULL;
    nm_report *rep = NULL;
    nm_eval_result ev;
    size_t len = strlen(model);
    nm_status st = len > 5 && !strcmp(model + len - 5, ".ckpt") ? nm_checkpoint_load_model(model, &g) : nm_graph_load(model, &g);
    if (st) return cli_fail(st);
    if (!strcmp(a.readout, "auto"))
        tc.readout = nm_node_kind_spiking(nm_graph_node(g, nm_graph_readout(g))->kind) ? NM_READOUT_COUNT : NM_READOUT_MEAN;
    if ((st = load_split(a.data, "t10k", &test))) { rc = cli_fail(st); goto done; }
    if ((st = nm_evaluate(g, test, &tc, &ev))) { rc = cli_fail(st); goto done; }

    printf("%saccuracy %.2f%% on %lld samples  loss %.4f  spikes per sample %.1f  (%.2f s)\n", chip ? "software " : "", 100 * ev.accuracy,
           (long long)ev.n, ev.loss, ev.spikes_per_sample, ev.seconds);
    if (!a.quiet)
        for (int l = 0; l < ev.n_layers; l++) {
            const nm_node *nd = nm_graph_node(g, ev.layer_node[l]);
            printf("  %-12s %7lld neurons  %9.1f spikes/sample  %7.2f Hz mean rate\n", nd->name, (long long)nd->n_out,
                   ev.layer_spikes[l], ev.layer_rate_hz[l]);
        }
    if (a.report) {
        rep = nm_report_create("eval");
        if (!rep) { rc = cli_fail(nm__error(NM_NOMEM, "out of memory")); goto done; }
        nm_report_set_str(rep, "model", model);
        nm_report_set_str(rep, "config.encoding", a.encoding);
        nm_report_set_int(rep, "config.steps", tc.n_steps);
        nm_report_set_num(rep, "config.dt", tc.dt);
        nm_report_set_str(rep, "config.readout", nm_readout_name(tc.readout));
        report_eval(rep, "test", g, &ev);
    }
    if (figures && (rc = fig_activity(g, test, &tc, figures, rep))) goto done;
    if (chip) {
        double mean[MAX_TIMES], sd[MAX_TIMES];
        const chip_eval_spec spec = {&prof, samples, chip_seed, times, n_times, dc, a.quiet, rep, "chip", mean, sd};
        if ((rc = chip_eval(g, test, &tc, &spec))) goto done;
        char label[96];
        snprintf(label, sizeof label, "chip '%s', %d sample%s, drift compensation %s", prof.name, samples, samples == 1 ? "" : "s",
                 nm_drift_comp_name(dc));
        if (figures && ((rc = fig_chip_time(times, mean, sd, n_times, label, "fig_chip_time", figures, rep)) ||
                        (rc = fig_conductances(g, &prof, chip_seed, times, n_times, figures, rep))))
            goto done;
    }
    if (figures) printf("figures written to %s/\n", figures);
    if (rep && (st = nm_report_write(rep, a.report))) { rc = cli_fail(st); goto done; }
done:
    nm_report_destroy(rep);
    nm_dataset_destroy(test);
    nm_graph_destroy(g);
    return rc;
}
