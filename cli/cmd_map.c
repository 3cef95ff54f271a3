/*
** neuromorph map: places a model (or an architecture) onto a chip profile's cores and prints
** the placement summary: cores per population, utilization, traffic, and which limit
** fails when the network does not fit.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/map.h>
#include <neuromorph/viz.h>

#include "train_args.h"

/* "out.json" -> "out_SUFFIX" beside it; or DIR/NAME. */
void map_figure_path(const char *out, const char *dir, const char *name, char *buf, size_t cap) {
    if (dir) {
        snprintf(buf, cap, "%s/%s", dir, name);
        return;
    }
    size_t len = strlen(out);
    if (len > 5 && !strcmp(out + len - 5, ".json")) len -= 5;
    snprintf(buf, cap, "%.*s_%s", (int)len, out, name);
}

/* Loads --model (.nmm or .ckpt) or builds --arch; exit code. */
int map_load_graph(const char *cmd, const char *model, const char *arch, nm_graph **g) {
    if (!model == !arch) {
        fprintf(stderr, "neuromorph %s: give exactly one of --model PATH and --arch SPEC\n", cmd);
        return 2;
    }
    nm_status st;
    if (arch) {
        nm_spec_options so;
        nm_spec_options_default(&so);
        st = nm_graph_from_spec_ex(arch, &so, g);
    } else {
        size_t len = strlen(model);
        st = len > 5 && !strcmp(model + len - 5, ".ckpt") ? nm_checkpoint_load_model(model, g) : nm_graph_load(model, g);
    }
    return st ? cli_fail(st) : 0;
}

/* The populations' table and the summary lines. */
void map_print(const nm_mapping *m, const nm_map_net *net, FILE *f) {
    fprintf(f, "  %-16s %9s %7s %7s %9s %7s %10s\n", "population", "neurons", "cores", "blocks", "neurons%", "axons%",
            "synapses%");
    for (int p = 1; p < m->n_pops; p++) {
        double u[3] = {0, 0, 0};
        const int c0 = m->pop_first_core[p], nc = m->pop_n_cores[p];
        for (int c = c0; c < c0 + nc; c++) {
            double a, b, s;
            nm_mapping_utilization(m, c, &a, &b, &s);
            u[0] += a / nc, u[1] += b / nc, u[2] += s / nc;
        }
        fprintf(f, "  %-16s %9lld %7d %7d %9.1f %7.1f %10.1f\n", nm_map_net_pop_name(net, p),
                (long long)nm_map_net_pop_size(net, p), nc, nc ? m->core_n_blocks[c0] : 0, 100 * u[0], 100 * u[1],
                100 * u[2]);
    }
    double u[3];
    int64_t pk, hp;
    nm_mapping_summary(m, u, &pk, &hp);
    fprintf(f, "cores used %d of %d (%d chip%s); mean utilization: neurons %.1f%%, axons %.1f%%, synapses %.1f%%\n",
            m->n_cores, m->lim.cores, m->chips, m->chips == 1 ? "" : "s", 100 * u[0], 100 * u[1], 100 * u[2]);
    fprintf(f, "traffic if every neuron spikes once: %lld packets, %lld hops (%.2f hops per packet)", (long long)pk,
            (long long)hp, pk ? (double)hp / (double)pk : 0.0);
    if (m->psum_packets)
        fprintf(f, "; partial sums per step: %lld values, %lld hops", (long long)m->psum_packets, (long long)m->psum_hops);
    fprintf(f, "\nmapping time %.3f s\n", m->seconds);
}

static nm_status map_plot(const nm_mapping *m, const nm_map_net *net, const char *title, const char *path) {
    const int n = m->n_pops - 1;
    const char **labels = malloc(sizeof *labels * (size_t)(n > 0 ? n : 1));
    double *y = malloc(sizeof *y * (size_t)(3 * (n > 0 ? n : 1)));
    if (!labels || !y) {
        free(labels), free(y);
        return nm__error(NM_NOMEM, "out of memory for the figure");
    }
    for (int p = 1; p <= n; p++) {
        labels[p - 1] = nm_map_net_pop_name(net, p);
        const int c0 = m->pop_first_core[p], nc = m->pop_n_cores[p];
        double u[3] = {0, 0, 0};
        for (int c = c0; c < c0 + nc; c++) {
            double a, b, s;
            nm_mapping_utilization(m, c, &a, &b, &s);
            u[0] += 100 * a / nc, u[1] += 100 * b / nc, u[2] += 100 * s / nc;
        }
        y[p - 1] = u[0], y[n + p - 1] = u[1], y[2 * n + p - 1] = u[2];
    }
    nm_series s[3] = {{"neurons", NULL, y, NULL, n}, {"axons", NULL, y + n, NULL, n}, {"synapses", NULL, y + 2 * n, NULL, n}};
    nm_plot pl;
    nm_plot_default(&pl);
    pl.title = title;
    pl.ylabel = "mean core utilization (%)";
    pl.y_min = 0;
    nm_status st = nm_plot_bars(&pl, labels, n, s, 3, path);
    free(labels), free(y);
    return st;
}

int cmd_map(int argc, char **argv) {
    const char *model = NULL, *arch = NULL, *chip = NULL, *place = "metis", *out = NULL, *figures = NULL;
    int help = 0, quiet = 0, threads = 0;
    uint64_t seed = 1;
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        {"model", OPT_STR, &model, "PATH", "model (.nmm) or training checkpoint (.ckpt) to map", 1, 0, 0},
        {"arch", OPT_STR, &arch, "SPEC", "map an architecture instead of a model (e.g. 784-1000-10)", 1, 0, 0},
        {"chip", OPT_STR, &chip, "PROFILE", "chip profile to map onto (required; see neuromorph chip list)", 1, 0, 0},
        {"place", OPT_STR, &place, "P", "placement on the mesh: metis (recursive bisection) or linear (default metis)", 1, 0, 0},
        {"seed", OPT_U64, &seed, "N", "METIS seed (default 1)", 1, 0, 0},
        {"out", OPT_STR, &out, "PATH", "write the placement as JSON here (and the figure beside it)", 1, 0, 0},
        {"figures", OPT_STR, &figures, "DIR", "write the utilization figure into DIR (map_utilization.png)", 1, 0, 0},
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)", 0, 1024, 0},
        {"quiet", OPT_FLAG, &quiet, NULL, "print only the summary lines", 1, 0, 0},
    };
    int n = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("map", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "map", "--model PATH | --arch SPEC --chip PROFILE [options]",
                   "Places every population of a network onto the chip's cores under its limits (neurons,\n"
                   "axons and synapses per core), splitting layers where needed, routes spikes on the\n"
                   "chip's 2-d mesh with XY routing, and prints cores, utilization and traffic. Exits with\n"
                   "status 1 naming the limit when the network does not fit.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    if (!chip) {
        fprintf(stderr, "neuromorph map: --chip PROFILE is required (see neuromorph map --help)\n");
        return 2;
    }
    nm_map_options mo;
    nm_map_options_default(&mo);
    mo.seed = seed;
    if (nm_place_parse(place, &mo.place)) {
        fprintf(stderr, "neuromorph map: --place: %s\n", nm_errmsg());
        return 2;
    }
    nm_chip_profile prof;
    nm_status st = nm_chip_profile_load(chip, &prof);
    if (st) return cli_fail(st);
    nm_set_threads(threads);
    nm_graph *g = NULL;
    if ((rc = map_load_graph("map", model, arch, &g))) return rc;

    nm_map_net *net = NULL;
    nm_mapping *m = NULL;
    nm_report *rep = NULL;
    nm_core_limits lim;
    nm_core_limits_from_profile(&prof, &lim);
    if ((st = nm_map_net_from_graph(g, &net)) || (st = nm_map(net, &lim, &mo, &m))) { rc = cli_fail(st); goto done; }
    char spec[256];
    nm_graph_spec(g, spec, sizeof spec);
    printf("mapped %s onto %s: %d cores of %lld neurons, %lld axons, %lld synapses (%d x %d mesh), %s placement\n",
           model ? model : spec, prof.name, lim.cores, (long long)lim.neurons, (long long)lim.axons,
           (long long)lim.synapses, lim.mesh_x, lim.mesh_y, nm_place_name(mo.place));
    if (quiet) {
        double u[3];
        int64_t pk, hp;
        nm_mapping_summary(m, u, &pk, &hp);
        printf("cores used %d of %d (%d chip%s)\n", m->n_cores, lim.cores, m->chips, m->chips == 1 ? "" : "s");
    } else {
        map_print(m, net, stdout);
    }
    if (out) {
        if (!(rep = nm_report_create("map"))) { rc = cli_fail(nm__error(NM_NOMEM, "out of memory")); goto done; }
        nm_report_set_str(rep, "model", model ? model : spec);
        nm_report_set_str(rep, "chip", prof.name);
        nm_report_set_str(rep, "place", nm_place_name(mo.place));
        nm_mapping_report(m, net, rep, "mapping");
        if ((st = nm_report_write(rep, out))) { rc = cli_fail(st); goto done; }
    }
    if (out || figures) {
        char path[4096], title[320];
        map_figure_path(out, figures, "map_utilization.png", path, sizeof path);
        snprintf(title, sizeof title, "%s on %s: %d cores", spec, prof.name, m->n_cores);
        if ((st = map_plot(m, net, title, path))) { rc = cli_fail(st); goto done; }
    }
    if (!m->fits) rc = cli_fail(nm__error(NM_RANGE, "the network does not fit on %s: %s", prof.name, m->failure));
done:
    nm_report_destroy(rep);
    nm_mapping_destroy(m);
    nm_map_net_destroy(net);
    nm_graph_destroy(g);
    return rc;
}
