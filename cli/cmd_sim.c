/*
** neuromorph sim NET.json: builds the network a description file names and simulates it
** with the event-driven simulator, on threads and (under mpirun) over MPI ranks. Prints
** the size, the time to build and to run, spikes and rates per population and synaptic
** events per second; writes the monitors' files, a JSON summary, every spike if asked,
** and figures (rasters, rates, state traces).
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <neuromorph/sim.h>
#include <neuromorph/viz.h>

#include "opts.h"

/* The coefficient of variation of the inter-spike intervals, pooled over neurons with at
** least 3 spikes (spikes in (time, index) order). -1 when no neuron has. */
static double cv_isi(const double *t, const int32_t *idx, int64_t n, int64_t n_neurons, double *mean_out) {
    double *last = malloc((size_t)n_neurons * sizeof *last);
    double *s1 = calloc((size_t)n_neurons, sizeof *s1), *s2 = calloc((size_t)n_neurons, sizeof *s2);
    int64_t *c = calloc((size_t)n_neurons, sizeof *c);
    double cv_sum = 0, mean_sum = 0;
    int64_t used = 0;
    if (last && s1 && s2 && c) {
        for (int64_t k = 0; k < n; k++) {
            int32_t i = idx[k];
            if (c[i]++ > 0) {
                double d = t[k] - last[i];
                s1[i] += d;
                s2[i] += d * d;
            }
            last[i] = t[k];
        }
        for (int64_t i = 0; i < n_neurons; i++) {
            if (c[i] < 3) continue;
            double m = s1[i] / (double)(c[i] - 1), var = s2[i] / (double)(c[i] - 1) - m * m;
            if (m > 0) {
                cv_sum += sqrt(var > 0 ? var : 0) / m;
                mean_sum += m;
                used++;
            }
        }
    }
    free(last), free(s1), free(s2), free(c);
    if (mean_out) *mean_out = used ? mean_sum / (double)used : 0;
    return used ? cv_sum / (double)used : -1.0;
}

static int make_dir(const char *d) {
    if (mkdir(d, 0777) && errno != EEXIST) {
        fprintf(stderr, "neuromorph sim: cannot create '%s': %s\n", d, strerror(errno));
        return 1;
    }
    return 0;
}

/* Figures and CSV files of the monitors into dir (rank 0). */
static nm_status write_monitors(const nm_sim *s, const nm_sim_spec *sp, const char *dir) {
    char path[4096];
    nm_status st = NM_OK;
    for (int m = 0; m < sp->n_mons && !st; m++) {
        const nm_sim_monitor *mo = &sp->mons[m];
        const char *pop = sp->pops[mo->pop].name;
        nm_plot pl;
        nm_plot_default(&pl);
        if (mo->kind == NM_MON_SPIKES) {
            const double *t;
            const int32_t *idx;
            int64_t n = nm_sim_spikes(s, mo->pop, &t, &idx);
            int64_t first = mo->first, count = mo->count < 0 ? sp->pops[mo->pop].size - first : mo->count;
            double *ts = malloc((size_t)(n ? n : 1) * sizeof *ts);
            int32_t *is = malloc((size_t)(n ? n : 1) * sizeof *is);
            if (!ts || !is) {
                free(ts), free(is);
                return nm__error(NM_NOMEM, "raster of '%s'", pop);
            }
            int64_t k = 0;
            for (int64_t q = 0; q < n; q++)
                if (idx[q] >= first && idx[q] < first + count) {
                    ts[k] = t[q] * 1e-3;
                    is[k++] = (int32_t)(idx[q] - first);
                }
            char title[160];
            snprintf(title, sizeof title, "%s: %lld spikes", pop, (long long)k);
            pl.title = title;
            nm_raster r = {ts, is, k, count, 0.0, nm_sim_time(s) * 1e-3, 0.0};
            snprintf(path, sizeof path, "%s/raster_%s.png", dir, pop);
            st = nm_plot_raster(&pl, &r, path);
            free(ts), free(is);
        } else if (mo->kind == NM_MON_RATE) {
            int64_t n;
            double bin;
            const float *hz;
            if ((st = nm_sim_rates(s, m, &n, &bin, &hz))) break;
            snprintf(path, sizeof path, "%s/rate_%s.csv", dir, pop);
            FILE *f = fopen(path, "w");
            if (!f) return nm__error(NM_IO, "cannot write '%s'", path);
            fprintf(f, "time_ms,rate_hz\n");
            double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *y = malloc((size_t)(n ? n : 1) * sizeof *y);
            for (int64_t b = 0; b < n; b++) {
                fprintf(f, "%.6g,%.6g\n", b * bin, hz[b]);
                if (x && y) x[b] = b * bin, y[b] = hz[b];
            }
            if (fclose(f)) {
                free(x), free(y);
                return nm__error(NM_IO, "cannot write '%s'", path);
            }
            if (x && y && n > 1) {
                char title[160];
                snprintf(title, sizeof title, "%s: population rate (%g ms bins)", pop, bin);
                pl.title = title;
                pl.xlabel = "time (ms)";
                pl.ylabel = "rate (Hz)";
                nm_series se = {pop, x, y, NULL, (int)n};
                snprintf(path, sizeof path, "%s/rate_%s.png", dir, pop);
                st = nm_plot_lines(&pl, &se, 1, path);
            }
            free(x), free(y);
        } else {
            int64_t nt, nn;
            const double *t;
            const float *v;
            if ((st = nm_sim_state_samples(s, m, &nt, &t, &nn, &v))) break;
            const char *var = nm_sim_model_get(sp->pops[mo->pop].model)->state[mo->var].name;
            snprintf(path, sizeof path, "%s/state_%s_%s.csv", dir, pop, var);
            FILE *f = fopen(path, "w");
            if (!f) return nm__error(NM_IO, "cannot write '%s'", path);
            fprintf(f, "time_ms");
            for (int64_t i = 0; i < nn; i++) fprintf(f, ",n%lld", (long long)(mo->first + i));
            fprintf(f, "\n");
            for (int64_t r = 0; r < nt; r++) {
                fprintf(f, "%.6g", t[r]);
                for (int64_t i = 0; i < nn; i++) fprintf(f, ",%.7g", v[r * nn + i]);
                fprintf(f, "\n");
            }
            if (fclose(f)) return nm__error(NM_IO, "cannot write '%s'", path);
            if (nt > 1) {
                int ns = nn < 8 ? (int)nn : 8;
                nm_series *se = calloc((size_t)ns, sizeof *se);
                double *x = malloc((size_t)nt * sizeof *x), *y = malloc((size_t)nt * (size_t)ns * sizeof *y);
                char (*lab)[96] = calloc((size_t)ns, sizeof *lab);
                if (se && x && y && lab) {
                    for (int64_t r = 0; r < nt; r++) x[r] = t[r] * 1e-3;
                    for (int i = 0; i < ns; i++) {
                        for (int64_t r = 0; r < nt; r++) y[i * nt + r] = v[r * nn + i];
                        snprintf(lab[i], sizeof lab[i], "%s %lld", pop, (long long)(mo->first + i));
                        se[i] = (nm_series){lab[i], x, y + i * nt, NULL, (int)nt};
                    }
                    nm_traces tr = {se, ns, NAN, NULL, 0, var, NULL};
                    snprintf(path, sizeof path, "%s/state_%s_%s.png", dir, pop, var);
                    st = nm_plot_traces(&pl, &tr, path);
                }
                free(se), free(x), free(y), free(lab);
            }
        }
    }
    return st;
}

int cmd_sim(int argc, char **argv) {
    const char *net = NULL, *json_out = NULL, *spikes = NULL, *out_dir = NULL;
    float time_ms = -1;
    int help = 0, quiet = 0, threads = 0, record = 0;
    uint64_t seed = 0;
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        {"time", OPT_FLOAT, &time_ms, "MS", "biological time to simulate, ms (default: the file's \"time\", else 1000)", 0, 1e9, 0},
        {"threads", OPT_INT, &threads, "N", "threads per rank (default: all cores)", 0, 1024, 0},
        {"seed", OPT_U64, &seed, "N", "replace the file's seed", 1, 0, 0},
        {"out", OPT_STR, &out_dir, "DIR", "write summary.json and the monitors' CSV files and figures here", 1, 0, 0},
        {"json", OPT_STR, &json_out, "PATH", "write the summary as JSON here", 1, 0, 0},
        {"spikes", OPT_STR, &spikes, "PATH", "write every spike (TIME,NEURON: s, global index) here", 1, 0, 0},
        {"record", OPT_FLAG, &record, NULL, "keep every spike in memory (for the summary's CV of ISIs)", 1, 0, 0},
        {"quiet", OPT_FLAG, &quiet, NULL, "no progress bar; print only the summary", 1, 0, 0},
    };
    int n = (int)(sizeof table / sizeof table[0]);
    if (argc >= 2 && argv[1][0] != '-') {
        net = argv[1];
        argv[1] = argv[0];
        argc--, argv++;
    }
    int rc = opts_parse("sim", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "sim", "NET.json [options]",
                   "Simulates the network described in NET.json (populations, projections, inputs,\n"
                   "monitors; the format is in the README) with the event-driven simulator. Under\n"
                   "mpirun the neurons are spread over the ranks; the spikes are the same for any\n"
                   "number of ranks and threads. Example networks are in nets/.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    if (!net) {
        fprintf(stderr, "neuromorph sim: give the network description file: neuromorph sim NET.json\n");
        return 2;
    }
    nm_sim_spec *sp = NULL;
    nm_status st = nm_sim_spec_read(net, &sp);
    if (st) return cli_fail(st);
    if (opts_find(table, n, "seed")->seen) sp->seed = seed;
    double T = time_ms >= 0 ? time_ms : sp->time;

    int mpi = 0, rank = 0, size = 1;
    if (nm_sim_under_mpirun() && nm_sim_have_mpi()) {
        if ((st = nm_sim_mpi_init(NULL, NULL, &rank, &size))) {
            nm_sim_spec_free(sp);
            return cli_fail(st);
        }
        mpi = 1;
    }
    if (out_dir && rank == 0 && make_dir(out_dir)) {
        nm_sim_spec_free(sp);
        nm_sim_mpi_finalize();
        return 1;
    }
    /* Monitors' relative file names are placed under --out. */
    for (int m = 0; out_dir && m < sp->n_mons; m++) {
        char *f = sp->mons[m].file;
        if (!f || f[0] == '/') continue;
        size_t len = strlen(out_dir) + strlen(f) + 2;
        char *g = malloc(len);
        if (!g) continue;
        snprintf(g, len, "%s/%s", out_dir, f);
        free(f);
        sp->mons[m].file = g;
    }
    nm_sim_options o = {threads, mpi, quiet, record, rank == 0 ? spikes : NULL};
    nm_sim *s = NULL;
    if (!quiet && rank == 0)
        fprintf(stderr, "building %s (%d populations, %d projections) on %d rank%s\n", net, sp->n_pops, sp->n_projs, size,
                size == 1 ? "" : "s");
    st = nm_sim_create(sp, &o, &s);
    if (!st) st = nm_sim_run(s, T);
    if (st) {
        if (rank == 0) cli_fail(st);
        nm_sim_destroy(s);
        nm_sim_spec_free(sp);
        nm_sim_mpi_finalize();
        return 1;
    }
    nm_sim_stats ss;
    nm_sim_get_stats(s, &ss);
    int64_t rss = nm_sim_allreduce_i64(nm_peak_rss_bytes());
    rc = 0;
    if (rank == 0) {
        const double evps = ss.run_s > 0 ? (double)ss.events / ss.run_s : 0;
        printf("%s: %lld neurons, %lld synapses (%.2f bytes each), %d rank%s x %d thread%s\n", net,
               (long long)ss.neurons, (long long)ss.synapses, ss.bytes_per_synapse, ss.ranks, ss.ranks == 1 ? "" : "s",
               ss.threads, ss.threads == 1 ? "" : "s");
        printf("built in %.3f s; simulated %.1f ms (dt %g ms, %lld steps, exchange every %.3g ms) in %.3f s\n",
               ss.build_s, nm_sim_time(s), sp->dt, (long long)ss.steps, ss.min_delay, ss.run_s);
        printf("%lld spikes (%.2f Hz per neuron), %lld synaptic events (%.1f M/s), peak memory %.1f MiB\n",
               (long long)ss.spikes, ss.neurons ? (double)ss.spikes / (double)ss.neurons / (nm_sim_time(s) * 1e-3) : 0,
               (long long)ss.events, evps * 1e-6, (double)rss / 1048576.0);
        nm_report *rep = nm_report_create("sim");
        if (rep) {
            nm_report_set_str(rep, "network", net);
            nm_report_set_int(rep, "neurons", ss.neurons);
            nm_report_set_int(rep, "synapses", ss.synapses);
            nm_report_set_int(rep, "spikes", ss.spikes);
            nm_report_set_int(rep, "events", ss.events);
            nm_report_set_int(rep, "steps", ss.steps);
            nm_report_set_num(rep, "time_ms", nm_sim_time(s));
            nm_report_set_num(rep, "dt_ms", sp->dt);
            nm_report_set_int(rep, "seed", (int64_t)sp->seed);
            nm_report_set_num(rep, "build_s", ss.build_s);
            nm_report_set_num(rep, "run_s", ss.run_s);
            nm_report_set_num(rep, "rate_hz", ss.neurons ? (double)ss.spikes / (double)ss.neurons / (nm_sim_time(s) * 1e-3) : 0);
            nm_report_set_num(rep, "bytes_per_synapse", ss.bytes_per_synapse);
            nm_report_set_int(rep, "conn_bytes", ss.conn_bytes);
            nm_report_set_int(rep, "peak_rss_bytes", rss);
            nm_report_set_int(rep, "ranks", ss.ranks);
            nm_report_set_int(rep, "threads", ss.threads);
            nm_report_set_num(rep, "events_per_s", evps);
        }
        for (int p = 0; p < sp->n_pops; p++) {
            int64_t size_p = sp->pops[p].size;
            int64_t *cnt = malloc((size_t)size_p * sizeof *cnt);
            if (!cnt) continue;
            nm_sim_spike_counts(s, p, cnt, size_p);
            int64_t tot = 0;
            for (int64_t i = 0; i < size_p; i++) tot += cnt[i];
            free(cnt);
            double hz = (double)tot / (double)size_p / (nm_sim_time(s) * 1e-3);
            const double *t;
            const int32_t *idx;
            int64_t nsp = nm_sim_spikes(s, p, &t, &idx);
            double cv = nsp ? cv_isi(t, idx, nsp, size_p, NULL) : -1;
            printf("  %-12s %-13s %9lld neurons %10lld spikes %8.2f Hz", sp->pops[p].name,
                   nm_sim_model_get(sp->pops[p].model)->name, (long long)size_p, (long long)tot, hz);
            if (cv >= 0) printf("  CV(ISI) %.2f", cv);
            printf("\n");
            if (rep) {
                nm_report *item = nm_report_create(NULL);
                if (item) {
                    nm_report_set_str(item, "name", sp->pops[p].name);
                    nm_report_set_int(item, "size", size_p);
                    nm_report_set_int(item, "spikes", tot);
                    nm_report_set_num(item, "rate_hz", hz);
                    if (cv >= 0) nm_report_set_num(item, "cv_isi", cv);
                    nm_report_push_obj(rep, "populations", item);
                }
            }
        }
        char path[4096];
        if (rep && json_out && (st = nm_report_write(rep, json_out))) rc = cli_fail(st);
        if (rep && out_dir) {
            snprintf(path, sizeof path, "%s/summary.json", out_dir);
            if ((st = nm_report_write(rep, path))) rc = cli_fail(st);
            if (!rc && (st = write_monitors(s, sp, out_dir))) rc = cli_fail(st);
            if (!rc && !quiet) printf("wrote %s/summary.json and the monitors' files\n", out_dir);
        }
        nm_report_destroy(rep);
    }
    nm_sim_destroy(s);
    nm_sim_spec_free(sp);
    nm_viz_release();
    nm_sim_mpi_finalize();
    return rc;
}
