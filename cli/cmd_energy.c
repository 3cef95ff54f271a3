/*
** neuromorph energy: energy and latency per inference of a model on a chip profile, from the
** counts of one run over the test set (the same run measures the accuracy), with the
** breakdown by operation kind, NeuroBench's metrics, and the ratio against a dense GPU/CPU
** baseline.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/map.h>

#include "train_args.h"

/* cmd_map.c */
void map_figure_path(const char *out, const char *dir, const char *name, char *buf, size_t cap);
int  map_load_graph(const char *cmd, const char *model, const char *arch, nm_graph **g);
void map_print(const nm_mapping *m, const nm_map_net *net, FILE *f);

/* 1.23 uJ, 456 nJ, ... */
static void si(double j, const char *unit, char *buf, size_t cap) {
    static const char *pre[] = {"f", "p", "n", "u", "m", "", "k"};
    double a = j < 0 ? -j : j;
    int k = 5;
    while (k > 0 && a > 0 && a < 1) a *= 1000, j *= 1000, k--;
    while (k < 6 && a >= 1000) a /= 1000, j /= 1000, k++;
    snprintf(buf, cap, "%.3g %s%s", j, pre[k], unit);
}

int cmd_energy(int argc, char **argv) {
    train_args a;
    train_args_default(&a);
    const char *model = NULL, *chip = NULL, *place = "metis", *figures = NULL;
    int batch = 500, on_chip = 0, gpu_batch = 1;
    uint64_t chip_seed = 1, limit = 1000;
    opt table[] = {
        {"help", OPT_FLAG, &a.help, NULL, "show this help", 1, 0, 0},
        {"model", OPT_STR, &model, "PATH", "model (.nmm) or training checkpoint (.ckpt) (required)", 1, 0, 0},
        {"chip", OPT_STR, &chip, "PROFILE", "chip profile whose energy figures to use (required)", 1, 0, 0},
        {"data", OPT_STR, &a.data, "DIR", "idx dataset directory (default " NM_DEFAULT_DATA_DIR ")", 1, 0, 0},
        {"limit", OPT_U64, &limit, "N", "count over the first N test samples (default 1000; 0: all)", 1, 0, 0},
        {"steps", OPT_INT, &a.steps, "T", "time steps per sample (default 25)", 1, 100000, 0},
        {"dt", OPT_FLOAT, &a.dt, "S", "time step in seconds (default 1e-3)", 1e-9, 10, 0},
        {"encoding", OPT_STR, &a.encoding, "E", "input coding: current, rate or latency (default current)", 1, 0, 0},
        {"readout", OPT_STR, &a.readout, "R", "mean, max or count (default: count for a spiking readout, else mean)", 1, 0, 0},
        {"batch", OPT_INT, &batch, "N", "batch of the run (default 500)", 1, 65536, 0},
        {"gpu-batch", OPT_INT, &gpu_batch, "N", "the baseline reads its weights from DRAM once per N inferences (default 1)", 1, 1000000, 0},
        {"place", OPT_STR, &place, "P", "placement: metis or linear (default metis)", 1, 0, 0},
        {"on-chip", OPT_FLAG, &on_chip, NULL, "count a run on a chip sample of the profile (default: the ideal model)", 1, 0, 0},
        {"chip-seed", OPT_U64, &chip_seed, "N", "seed of the chip sample with --on-chip (default 1)", 1, 0, 0},
        {"out", OPT_STR, &a.report, "PATH", "write a JSON report here (and the breakdown figure beside it)", 1, 0, 0},
        {"figures", OPT_STR, &figures, "DIR", "write the breakdown figure into DIR (energy_breakdown.png)", 1, 0, 0},
        {"seed", OPT_U64, &a.seed, "N", "random seed of rate coding (default 1)", 1, 0, 0},
        {"threads", OPT_INT, &a.threads, "N", "threads (default: all cores)", 0, 1024, 0},
        {"quiet", OPT_FLAG, &a.quiet, NULL, "print only the energy line", 1, 0, 0},
    };
    int n = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("energy", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "energy", "--model PATH --chip PROFILE [--data DIR] [options]",
                   "Runs the model over the test split, counts spikes, synaptic operations, neuron\n"
                   "updates, routed packets and hops (through the mapping onto the chip), crossbar reads\n"
                   "and ADC conversions, and turns them into energy and latency per inference with the\n"
                   "profile's per-operation energies (each with its source). Prints the breakdown, the\n"
                   "NeuroBench metrics and the ratio against a dense float32 GPU/CPU baseline.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    if (!model || !chip) {
        fprintf(stderr, "neuromorph energy: --model PATH and --chip PROFILE are required (see neuromorph energy --help)\n");
        return 2;
    }
    if (!on_chip && opts_find(table, n, "chip-seed")->seen) {
        fprintf(stderr, "neuromorph energy: --chip-seed needs --on-chip\n");
        return 2;
    }
    nm_map_options mo;
    nm_map_options_default(&mo);
    if (nm_place_parse(place, &mo.place)) {
        fprintf(stderr, "neuromorph energy: --place: %s\n", nm_errmsg());
        return 2;
    }
    nm_train_config tc;
    nm_spec_options so;
    if ((rc = train_args_configure(&a, &tc, &so))) return rc;
    tc.eval_batch = batch;
    tc.test_limit = (int64_t)limit;
    nm_chip_profile prof;
    nm_status st = nm_chip_profile_load(chip, &prof);
    if (st) return cli_fail(st);
    nm_set_threads(a.threads);

    nm_graph *g = NULL;
    nm_dataset *test = NULL;
    nm_map_net *net = NULL;
    nm_mapping *m = NULL;
    nm_chip *cs = NULL;
    nm_report *rep = NULL;
    nm_exec_hooks hooks;
    nm_core_limits lim;
    nm_energy_counts c;
    nm_energy_result r;
    if ((rc = map_load_graph("energy", model, NULL, &g))) return rc;
    if (!strcmp(a.readout, "auto"))
        tc.readout = nm_node_kind_spiking(nm_graph_node(g, nm_graph_readout(g))->kind) ? NM_READOUT_COUNT : NM_READOUT_MEAN;
    if ((st = nm_dataset_load_dir(a.data, "t10k", &test))) { rc = cli_fail(st); goto done; }
    nm_core_limits_from_profile(&prof, &lim);
    if ((st = nm_map_net_from_graph(g, &net)) || (st = nm_map(net, &lim, &mo, &m))) { rc = cli_fail(st); goto done; }
    if (on_chip) {
        if ((st = nm_chip_realize(g, &prof, chip_seed, &cs))) { rc = cli_fail(st); goto done; }
        nm_chip_hooks(cs, &hooks);
        tc.hooks = &hooks;
    }
    if ((st = nm_energy_count(g, m, test, &tc, &c))) { rc = cli_fail(st); goto done; }
    c.gpu_batch = gpu_batch;
    if ((st = nm_energy_estimate(&prof, m, &c, &r))) { rc = cli_fail(st); goto done; }

    char e[32], lat[32], gpu[32];
    si(r.energy_j, "J", e, sizeof e);
    si(r.latency_s, "s", lat, sizeof lat);
    si(r.gpu_j, "J", gpu, sizeof gpu);
    printf("energy of %s on %s: %lld test samples, %d steps of %g s, accuracy %.2f%% in this run%s\n", model, prof.name,
           (long long)c.samples, c.n_steps, c.dt, 100 * c.accuracy, on_chip ? " (on a chip sample)" : " (ideal model)");
    if (!a.quiet) map_print(m, net, stdout);
    if (!m->fits) printf("note: %s; estimated for %d chips\n", m->failure, m->chips);
    if (!r.has_energy)
        printf("profile %s gives no energy figures: only the counts, the latency and the baseline are meaningful\n",
               prof.name);
    printf("per inference: energy %s, latency %s (%d chip%s); GPU/CPU baseline %s", e, lat, r.chips,
           r.chips == 1 ? "" : "s", gpu);
    if (r.ratio > 0) printf(" = %.3gx the chip", r.ratio);
    printf("\n");
    if (!a.quiet) {
        printf("  %-16s %-20s %12s %11s %11s %7s\n", "term", "profile figure", "count", "per op", "energy", "share");
        for (int t = 0; t < r.n_terms; t++) {
            char u[32], ej[32];
            si(r.term_unit[t], strcmp(r.term_key[t], "static_power_w") ? "J" : "W", u, sizeof u);
            si(r.term_j[t], "J", ej, sizeof ej);
            printf("  %-16s %-20s %12.4g %11s %11s %6.1f%%\n", r.term[t], r.term_key[t], r.term_count[t], u, ej,
                   r.energy_j > 0 ? 100 * r.term_j[t] / r.energy_j : 0.0);
        }
        char b1[32], b2[32], b3[32], b4[32];
        si(r.gpu_mac_j, "J", b1, sizeof b1), si(r.gpu_dram_j, "J", b2, sizeof b2);
        si(r.gpu_sram_j, "J", b3, sizeof b3), si(r.gpu_neuron_j, "J", b4, sizeof b4);
        printf("  baseline (dense float32, Horowitz 2014 45 nm, batch %d): MACs %s, weights from DRAM %s, activations in "
               "SRAM %s, neurons %s\n", gpu_batch, b1, b2, b3, b4);
        if (r.reference_j > 0) {
            char ref[32];
            si(r.reference_j, "J", ref, sizeof ref);
            printf("  published figure for %s: %s per inference (this estimate: %.2fx it)\n", prof.name, ref,
                   r.energy_j / r.reference_j);
        }
        if (r.reference_power_w > 0) {
            char ref[32], pw[32];
            si(r.reference_power_w, "W", ref, sizeof ref);
            si(r.latency_s > 0 ? r.energy_j / r.latency_s : 0, "W", pw, sizeof pw);
            printf("  published typical power for %s: %s (this run: %s while it runs)\n", prof.name, ref, pw);
        }
        printf("  NeuroBench: footprint %.0f bytes, connection sparsity %.3f, activation sparsity %.3f,\n"
               "    synaptic operations per inference: effective MACs %.4g, effective ACs %.4g, dense %.4g;\n"
               "    membrane updates %.4g (neuron updates %.4g); spikes %.4g, packets %.4g, hops %.4g\n",
               c.footprint_bytes, c.connection_sparsity, c.activation_sparsity, c.syn_macs, c.syn_acs, c.syn_dense,
               c.membrane_updates, c.neuron_updates, c.spikes, c.packets, c.hops);
    }
    if (a.report) {
        if (!(rep = nm_report_create("energy"))) { rc = cli_fail(nm__error(NM_NOMEM, "out of memory")); goto done; }
        nm_report_set_str(rep, "model", model);
        nm_report_set_str(rep, "chip", prof.name);
        nm_report_set_bool(rep, "on_chip", on_chip);
        nm_report_set_str(rep, "config.encoding", a.encoding);
        nm_report_set_str(rep, "config.readout", nm_readout_name(tc.readout));
        nm_energy_report(&r, &c, rep, "energy");
        nm_mapping_report(m, net, rep, "mapping");
        if ((st = nm_report_write(rep, a.report))) { rc = cli_fail(st); goto done; }
    }
    if ((a.report || figures) && r.n_terms > 0) {
        char path[4096], title[160];
        map_figure_path(a.report, figures, "energy_breakdown.png", path, sizeof path);
        snprintf(title, sizeof title, "%s: %s per inference (GPU baseline %s)", prof.name, e, gpu);
        if ((st = nm_energy_plot(&r, title, path))) { rc = cli_fail(st); goto done; }
    }
done:
    nm_report_destroy(rep);
    nm_chip_destroy(cs);
    nm_mapping_destroy(m);
    nm_map_net_destroy(net);
    nm_dataset_destroy(test);
    nm_graph_destroy(g);
    return rc;
}
