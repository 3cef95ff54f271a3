/*
** neuromorph demo: the main job. Walks the pipeline on Fashion-MNIST (train a spiking
** network, evaluate it, report), writing the model, a checkpoint and a JSON report under
** --out. Later stages (chip deployment, hardware-aware training, energy) join this one
** pipeline as they land.
*/
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>

#include "train_args.h"

#define DEMO_EPOCHS 20

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
                   "DIR/model.nmm, DIR/train.ckpt and DIR/report.json. Takes about 3 minutes on 2 cores.",
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
    return run_training("demo", &a, model, a.checkpoint, a.report, NULL);
}
