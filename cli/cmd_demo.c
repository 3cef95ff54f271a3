/*
** neuromorph demo: the main job. One pipeline on Fashion-MNIST, a table at every stage:
**
**   1. train a spiking network in software;
**   2. deploy it naively on samples of an analog PCM chip: the accuracy drops;
**   3. chip-in-the-loop: fine-tune it with its forward passes on a chip sample;
**   4. advance the devices' clock to a year, without and with global drift compensation;
**   5. the energy and latency of one inference on the chip, mapped onto its cores, against a
**      dense GPU baseline.
**
** Writes under --out the models, checkpoints, the JSON report and the figures: the training
** curve, the trained network's spikes, membrane traces and firing rates, accuracy per stage,
** accuracy against time after programming and the conductances on the chip.
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <neuromorph/map.h>

#include "figures.h"
#include "train_args.h"

#define DEMO_EPOCHS  20
#define DEMO_CHIP    "pcm"
#define DEMO_SAMPLES 3
#define LOOP_EPOCHS  1
#define N_TIMES      5
#define QUICK_TEST   2000   /* --quick: test images                 */
#define QUICK_LOOP   5000   /* --quick: chip-in-the-loop images     */

static const double demo_times[N_TIMES] = {1, 3600, 86400, 30 * 86400.0, 365 * 86400.0};
static const char *const demo_time_names[N_TIMES] = {"1 s", "1 h", "1 d", "1 mo", "1 y"};

typedef struct stage_row {
    const char *name;
    double      mean, sd;
} stage_row;

static void print_table(const stage_row *r, int n) {
    printf("\n  %-44s %s\n", "stage", "accuracy");
    for (int i = 0; i < n; i++) {
        if (r[i].sd > 0) printf("  %-44s %6.2f%% +- %.2f\n", r[i].name, 100 * r[i].mean, 100 * r[i].sd);
        else printf("  %-44s %6.2f%%\n", r[i].name, 100 * r[i].mean);
    }
    printf("\n");
    fflush(stdout);
}

/* The two figures: accuracy per stage (bars) and accuracy against device time. */
static int figures(const char *dir, const stage_row *rows, int n_rows, const double *m0, const double *s0,
                   const double *m1, const double *s1, nm_report *rep) {
    char path[4096];
    double y[8], e[8], ym0[N_TIMES], ys0[N_TIMES], ym1[N_TIMES], ys1[N_TIMES];
    const char *labels[8];
    for (int i = 0; i < n_rows; i++) labels[i] = rows[i].name, y[i] = 100 * rows[i].mean, e[i] = 100 * rows[i].sd;
    nm_plot p;
    nm_plot_default(&p);
    p.title = "Fashion-MNIST on an analog PCM chip, stage by stage";
    p.ylabel = "test accuracy (%), mean +- std over chip samples";
    /* the axis starts 10 points below the lowest bar (at a multiple of 10), so the
    ** differences between stages show */
    double lo = 100;
    for (int i = 0; i < n_rows; i++) lo = fmin(lo, y[i] - e[i]);
    p.y_min = fmax(0.0, floor(lo / 10.0) * 10.0 - 10.0);
    p.y_max = 100;
    nm_series bars = {NULL, NULL, y, e, n_rows};
    snprintf(path, sizeof path, "%s/fig_stages.png", dir);
    nm_status st = nm_plot_bars(&p, labels, n_rows, &bars, 1, path);
    if (st) return cli_fail(st);
    nm_report_set_str(rep, "figures.stages", path);

    for (int k = 0; k < N_TIMES; k++)
        ym0[k] = 100 * m0[k], ys0[k] = 100 * s0[k], ym1[k] = 100 * m1[k], ys1[k] = 100 * s1[k];
    nm_series lines[2] = {{"no drift compensation", demo_times, ym0, ys0, N_TIMES},
                          {"global drift compensation", demo_times, ym1, ys1, N_TIMES}};
    nm_plot_default(&p);
    p.title = "Accuracy after programming (chip-in-the-loop model, PCM chip)";
    p.xlabel = "time after programming";
    p.ylabel = "test accuracy (%)";
    p.log_x = 1;
    p.xticks = demo_times;
    p.xtick_labels = demo_time_names;
    p.n_xticks = N_TIMES;
    snprintf(path, sizeof path, "%s/fig_drift.png", dir);
    if ((st = nm_plot_lines(&p, lines, 2, path))) return cli_fail(st);
    nm_report_set_str(rep, "figures.drift", path);
    return 0;
}

/* Stages 2-5 on the trained model. */
static int hardware_stages(const train_args *a, const char *model, const char *report, double sw_acc, int quick) {
    nm_train_config tc;
    nm_spec_options so;
    nm_chip_profile prof;
    nm_graph *g = NULL, *gl = NULL;
    nm_dataset *test = NULL;
    nm_report *rep = NULL;
    nm_status st;
    int rc = train_args_configure(a, &tc, &so);
    if (rc) return rc;
    tc.eval_batch = 500;
    if ((st = nm_chip_profile_load(DEMO_CHIP, &prof)) || (st = nm_graph_load(model, &g)) ||
        (st = nm_dataset_load_dir(a->data, "t10k", &test)) || (st = nm_report_read(report, &rep))) {
        rc = cli_fail(st);
        goto done;
    }
    stage_row rows[6];
    int n_rows = 0;
    rows[n_rows++] = (stage_row){"trained in software", sw_acc, 0};
    double dep_m, dep_s, m0[N_TIMES], s0[N_TIMES], m1[N_TIMES], s1[N_TIMES], loop_m, loop_s;

    /* 2. naive deployment */
    printf("\n[2/5] Deploy: the network on %d samples of the '%s' chip profile (PCM crossbars with\n"
           "      programming noise, drift, read noise, IR drop, 7-bit DAC, 9-bit ADC), 1 s after programming\n",
           DEMO_SAMPLES, DEMO_CHIP);
    fflush(stdout);
    if ((rc = chip_eval(g, test, &tc, &(chip_eval_spec){&prof, DEMO_SAMPLES, 1, demo_times, 1, NM_DRIFT_COMP_NONE, 1, rep,
                                                       "deploy", &dep_m, &dep_s})))
        goto done;
    rows[n_rows++] = (stage_row){"deployed naively (1 s)", dep_m, dep_s};
    print_table(rows, n_rows);

    /* 3. chip-in-the-loop */
    char loop_model[4096], loop_ckpt[4096], loop_report[4096];
    snprintf(loop_model, sizeof loop_model, "%s/model_in_loop.nmm", a->out);
    snprintf(loop_ckpt, sizeof loop_ckpt, "%s/in_loop.ckpt", a->out);
    snprintf(loop_report, sizeof loop_report, "%s/report_in_loop.json", a->out);
    printf("[3/5] Chip-in-the-loop: %d epoch%s with every forward pass on chip sample 1, the backward pass\n"
           "      through the ideal model at the recorded spikes, and the chip re-programmed after every step\n",
           LOOP_EPOCHS, LOOP_EPOCHS == 1 ? "" : "s");
    fflush(stdout);
    train_args la = *a;
    la.init = model;
    la.chip = DEMO_CHIP;
    la.chip_seed = 1;
    la.in_loop = 1;
    la.epochs = LOOP_EPOCHS;
    la.lr = 2e-4f;
    if (quick) la.train_limit = QUICK_LOOP;
    la.checkpoint = loop_ckpt;
    la.figures = NULL; /* stage 1's figures stay */
    if ((rc = run_training("demo-in-loop", &la, loop_model, loop_ckpt, loop_report, NULL))) goto done;
    if ((st = nm_graph_load(loop_model, &gl))) { rc = cli_fail(st); goto done; }
    if ((rc = chip_eval(gl, test, &tc, &(chip_eval_spec){&prof, DEMO_SAMPLES, 1, demo_times, 1, NM_DRIFT_COMP_NONE, 1, rep,
                                                        "in_loop", &loop_m, &loop_s})))
        goto done;
    rows[n_rows++] = (stage_row){"after chip-in-the-loop (1 s)", loop_m, loop_s};
    print_table(rows, n_rows);

    /* 4. the clock */
    printf("[4/5] Time: the same chips read 1 s, 1 h, 1 d, 1 month and 1 year after programming, as the\n"
           "      PCM conductances drift, without and with global drift compensation\n");
    fflush(stdout);
    /* without compensation, 1 s is stage 3's reading: the same chips, the same reads */
    printf("chip pcm  t 1 s    (as in stage 3)\n");
    m0[0] = loop_m;
    s0[0] = loop_s;
    if ((rc = chip_eval(gl, test, &tc, &(chip_eval_spec){&prof, DEMO_SAMPLES, 1, demo_times + 1, N_TIMES - 1,
                                                        NM_DRIFT_COMP_NONE, 1, rep, "drift", m0 + 1, s0 + 1})) ||
        (rc = chip_eval(gl, test, &tc, &(chip_eval_spec){&prof, DEMO_SAMPLES, 1, demo_times, N_TIMES,
                                                        NM_DRIFT_COMP_GLOBAL, 1, rep, "drift_compensated", m1, s1})))
        goto done;
    rows[n_rows++] = (stage_row){"1 year later, no drift compensation", m0[N_TIMES - 1], s0[N_TIMES - 1]};
    rows[n_rows++] = (stage_row){"1 year later, global drift compensation", m1[N_TIMES - 1], s1[N_TIMES - 1]};
    print_table(rows, n_rows);

    /* 5. energy: the in-loop model mapped onto the chip's cores, its operations counted on
    ** test images in software (the chip's counts differ only by its noise) */
    printf("[5/5] Energy: the network mapped onto the '%s' chip's cores; operations counted on %d test\n"
           "      images; per-operation energies from the profile's sources, against a dense GPU baseline\n",
           DEMO_CHIP, quick ? 500 : 1000);
    fflush(stdout);
    {
        nm_energy_result er;
        nm_energy_counts ec;
        nm_train_config etc = tc;
        etc.test_limit = quick ? 500 : 1000;
        char efig[4096];
        snprintf(efig, sizeof efig, "%s/fig_energy.png", a->out);
        if ((st = nm_energy_run(gl, &prof, test, &etc, &er, &ec, NULL))) { rc = cli_fail(st); goto done; }
        printf("  energy per inference %.3g uJ, latency %.3g ms, %d chip%s; dense GPU baseline %.3g uJ (%.0fx)\n",
               er.energy_j * 1e6, er.latency_s * 1e3, er.chips, er.chips == 1 ? "" : "s", er.gpu_j * 1e6, er.ratio);
        for (int k = 0; k < er.n_terms; k++)
            if (er.term_j[k] > 0) printf("    %-22s %10.3g uJ\n", er.term[k], er.term_j[k] * 1e6);
        printf("\n");
        nm_energy_report(&er, &ec, rep, "energy");
        if ((st = nm_energy_plot(&er, "Energy per inference on the pcm chip", efig))) { rc = cli_fail(st); goto done; }
    }

    for (int i = 0; i < n_rows; i++) {
        nm_report *item = nm_report_create(NULL);
        nm_report_set_str(item, "stage", rows[i].name);
        nm_report_set_num(item, "accuracy", rows[i].mean);
        nm_report_set_num(item, "accuracy_std", rows[i].sd);
        nm_report_push_obj(rep, "stages", item);
    }
    nm_report_set_str(rep, "in_loop_model", loop_model);
    if ((rc = figures(a->out, rows, n_rows, m0, s0, m1, s1, rep)) ||
        (rc = fig_conductances(gl, &prof, 1, demo_times, N_TIMES, a->out, rep)))
        goto done;
    if (a->figures) nm_report_set_str(rep, "figures.dir", a->figures);
    printf("figures written to %s/: fig_curve, fig_raster, fig_traces, fig_rates, fig_inputs, fig_stages, fig_drift, fig_conductance, fig_energy (.png)\n",
           a->out);
    if ((st = nm_report_write(rep, report))) rc = cli_fail(st);
    else printf("report written to %s\n", report);
done:
    nm_report_destroy(rep);
    nm_dataset_destroy(test);
    nm_graph_destroy(gl);
    nm_graph_destroy(g);
    return rc;
}

int cmd_demo(int argc, char **argv) {
    train_args a;
    train_args_default(&a);
    a.out = "demo-out";
    a.epochs = DEMO_EPOCHS;
    int quick = 0;
    opt table[TRAIN_MAX_OPTS];
    int n = train_args_table(&a, table);
    table[n++] = (opt){"out", OPT_STR, &a.out, "DIR", "directory for the models, checkpoints, report and figures (default demo-out)", 1, 0, 0};
    table[n++] = (opt){"quick", OPT_FLAG, &quick, NULL, "a first look in about a minute: 1 epoch on 10,000 images, 2,000 test images", 1, 0, 0};
    int rc = opts_parse("demo", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "demo", "[options]",
                   "One pipeline on Fashion-MNIST: trains a 784-1000-10 LIF network (25 steps of 1 ms,\n"
                   "constant-current input, 20 epochs); deploys it on 3 samples of the 'pcm' analog chip\n"
                   "profile; recovers accuracy with one epoch of chip-in-the-loop training; reads the chips\n"
                   "1 s to 1 year after programming without and with global drift compensation; maps the\n"
                   "network onto the chip's cores and estimates its energy per inference against a GPU.\n"
                   "Writes DIR/model.nmm, DIR/model_in_loop.nmm, checkpoints, DIR/report.json and the figures\n"
                   "DIR/fig_*.png (training curve, raster, traces, firing rates, stages, drift, conductances,\n"
                   "energy; --figures DIR2 puts the first four there). About 10 minutes on 2 cores; --quick:\n"
                   "about 1.\n"
                   "The hardware options of `train` are accepted but the demo sets its own for stage 3.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    if (a.method && strcmp(a.method, "bptt")) {
        fprintf(stderr, "neuromorph demo: --method %s: the demo trains with bptt only\n", a.method);
        return 2;
    }
    if (quick) {
        if (!opts_find(table, n, "epochs")->seen) a.epochs = 1;
        if (!opts_find(table, n, "train-limit")->seen) a.train_limit = 10000;
        if (!opts_find(table, n, "test-limit")->seen) a.test_limit = QUICK_TEST;
    }
    if (mkdir(a.out, 0777) && errno != EEXIST) {
        fprintf(stderr, "neuromorph demo: cannot create output directory '%s': %s\n", a.out, strerror(errno));
        return 1;
    }
    char model[4096], ckpt[4096], report[4096];
    snprintf(model, sizeof model, "%s/model.nmm", a.out);
    snprintf(ckpt, sizeof ckpt, "%s/train.ckpt", a.out);
    snprintf(report, sizeof report, "%s/report.json", a.out);
    if (!a.checkpoint) a.checkpoint = ckpt;
    if (!a.report) a.report = report;
    if (!a.figures) a.figures = a.out; /* the demo always draws */
    cli_install_signals();
    printf("neuromorph demo: a spiking network learns Fashion-MNIST, then meets an analog chip\n"
           "  data    %s\n  model   %s, LIF hidden layer(s), leaky readout\n  output  %s/\n\n[1/5] Train in software\n",
           a.data, a.arch, a.out);
    fflush(stdout);
    nm_eval_result ev;
    rc = run_training("demo", &a, model, a.checkpoint, a.report, &ev);
    if (rc) return rc;
    return hardware_stages(&a, model, a.report, ev.accuracy, quick);
}
