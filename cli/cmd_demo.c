/*
** neuromorph demo: the main job. Walks the pipeline on Fashion-MNIST: train a spiking
** network, evaluate it, deploy it naively on samples of an analog PCM chip and watch the
** accuracy fall as the devices drift; writes the model, a checkpoint and a JSON report
** under --out. Later stages (hardware-aware training, drift compensation, energy) join
** this one pipeline as they land.
*/
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>

#include "train_args.h"

#define DEMO_EPOCHS 20
#define DEMO_CHIP "pcm"
#define DEMO_CHIP_SAMPLES 3

/* Stage 2: the trained model on DEMO_CHIP_SAMPLES samples of the pcm chip at 1 s, 1 day
** and 1 year after programming; the numbers join the report. */
static int chip_stage(const train_args *a, const char *model, const char *report, int quick) {
    const double times[3] = {1, 86400, 365.0 * 86400};
    nm_train_config tc;
    nm_spec_options so;
    nm_chip_profile prof;
    nm_graph *g = NULL;
    nm_dataset *test = NULL;
    nm_report *rep = NULL;
    nm_status st;
    int rc = train_args_configure(a, &tc, &so);
    if (rc) return rc;
    tc.eval_batch = 500;
    if (quick) tc.test_limit = 2000;
    printf("\nThe same network on an analog chip: %d samples of the '%s' profile (PCM crossbars with\n"
           "programming noise, drift, read noise, IR drop, 7-bit DAC, 9-bit ADC), deployed naively:\n",
           DEMO_CHIP_SAMPLES, DEMO_CHIP);
    fflush(stdout);
    if ((st = nm_chip_profile_load(DEMO_CHIP, &prof)) || (st = nm_graph_load(model, &g)) ||
        (st = nm_dataset_load_dir(a->data, "t10k", &test)) || (st = nm_report_read(report, &rep))) {
        rc = cli_fail(st);
        goto done;
    }
    if ((rc = chip_eval(g, test, &tc, &prof, DEMO_CHIP_SAMPLES, 1, times, 3, 1, rep))) goto done;
    if ((st = nm_report_write(rep, report))) rc = cli_fail(st);
done:
    nm_report_destroy(rep);
    nm_dataset_destroy(test);
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
    table[n++] = (opt){"out", OPT_STR, &a.out, "DIR", "directory for the model, checkpoint and report (default demo-out)", 1, 0, 0};
    table[n++] = (opt){"quick", OPT_FLAG, &quick, NULL, "a first look in well under a minute: 1 epoch on 10,000 images", 1, 0, 0};
    int rc = opts_parse("demo", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "demo", "[options]",
                   "Trains a 784-1000-10 LIF network on Fashion-MNIST (25 steps of 1 ms, constant-current\n"
                   "input) for 20 epochs, evaluates it on the 10,000 test images, and writes\n"
                   "DIR/model.nmm, DIR/train.ckpt and DIR/report.json; then runs the trained network on 3\n"
                   "samples of the 'pcm' analog chip profile at 1 s, 1 day and 1 year after programming.\n"
                   "Takes about 4 minutes on 2 cores.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    if (quick) {
        if (!opts_find(table, n, "epochs")->seen) a.epochs = 1;
        if (!opts_find(table, n, "train-limit")->seen) a.train_limit = 10000;
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
    cli_install_signals();
    printf("neuromorph demo: a spiking network learns Fashion-MNIST\n"
           "  data    %s\n  model   %s, LIF hidden layer(s), leaky readout\n  output  %s/\n\n", a.data, a.arch, a.out);
    fflush(stdout);
    rc = run_training("demo", &a, model, a.checkpoint, a.report, NULL);
    if (rc) return rc;
    return chip_stage(&a, model, a.report, quick);
}
