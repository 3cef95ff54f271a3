/*
** neuromorph eval: accuracy, spikes per sample per layer and firing rates of a model.
*/
#include <stdio.h>
#include <string.h>

#include "train_args.h"

int cmd_eval(int argc, char **argv) {
    train_args a;
    train_args_default(&a);
    const char *model = NULL;
    int batch = 500;
    opt table[] = {
        {"help", OPT_FLAG, &a.help, NULL, "show this help", 1, 0, 0},
        {"model", OPT_STR, &model, "PATH", "model (.nmm) or training checkpoint (.ckpt) to evaluate (required)", 1, 0, 0},
        {"data", OPT_STR, &a.data, "DIR", "idx dataset directory (default " NM_DEFAULT_DATA_DIR ")", 1, 0, 0},
        {"steps", OPT_INT, &a.steps, "T", "time steps per sample (default 25)", 1, 100000, 0},
        {"dt", OPT_FLOAT, &a.dt, "S", "time step in seconds (default 1e-3)", 1e-9, 10, 0},
        {"encoding", OPT_STR, &a.encoding, "E", "input coding: current, rate or latency (default current)", 1, 0, 0},
        {"readout", OPT_STR, &a.readout, "R", "mean, max or count (default: count for a spiking readout, else mean)", 1, 0, 0},
        {"sparse", OPT_STR, &a.sparse, "M", "spike-sparse gather path: auto, never or always (default auto)", 1, 0, 0},
        {"batch", OPT_INT, &batch, "N", "evaluation batch (default 500)", 1, 65536, 0},
        {"limit", OPT_U64, &a.test_limit, "N", "evaluate the first N test samples only", 1, 0, 0},
        {"out", OPT_STR, &a.report, "PATH", "write a JSON report here", 1, 0, 0},
        {"seed", OPT_U64, &a.seed, "N", "random seed of rate coding (default 1)", 1, 0, 0},
        {"threads", OPT_INT, &a.threads, "N", "threads (default: all cores)", 0, 1024, 0},
        {"quiet", OPT_FLAG, &a.quiet, NULL, "print only the accuracy line", 1, 0, 0},
    };
    int n = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("eval", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "eval", "--model PATH [options]",
                   "Runs a trained model over the test split and reports accuracy, spikes per sample\n"
                   "(per layer) and mean firing rates.",
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
    if ((rc = train_args_configure(&a, &tc, &so))) return rc;
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
    if ((st = nm_dataset_load_dir(a.data, "t10k", &test))) { rc = cli_fail(st); goto done; }
    if ((st = nm_evaluate(g, test, &tc, &ev))) { rc = cli_fail(st); goto done; }

    printf("accuracy %.2f%% on %lld samples  loss %.4f  spikes per sample %.1f  (%.2f s)\n", 100 * ev.accuracy,
           (long long)ev.n, ev.loss, ev.spikes_per_sample, ev.seconds);
    if (!a.quiet)
        for (int l = 0; l < ev.n_layers; l++) {
            const nm_node *nd = nm_graph_node(g, ev.layer_node[l]);
            printf("  %-12s %7lld neurons  %9.1f spikes/sample  %7.2f Hz mean rate\n", nd->name, (long long)nd->n_out,
                   ev.layer_spikes[l], ev.layer_rate_hz[l]);
        }
    if (a.report) {
        rep = nm_report_create("eval");
        nm_report_set_str(rep, "model", model);
        nm_report_set_str(rep, "config.encoding", a.encoding);
        nm_report_set_int(rep, "config.steps", tc.n_steps);
        nm_report_set_num(rep, "config.dt", tc.dt);
        nm_report_set_str(rep, "config.readout", nm_readout_name(tc.readout));
        report_eval(rep, "test", g, &ev);
        if ((st = nm_report_write(rep, a.report))) { rc = cli_fail(st); goto done; }
    }
done:
    nm_report_destroy(rep);
    nm_dataset_destroy(test);
    nm_graph_destroy(g);
    return rc;
}
