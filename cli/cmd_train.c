/*
** neuromorph train: train a layered LIF network on an idx image set.
*/
#include <stdlib.h>
#include <string.h>

#include "train_args.h"

int cmd_train(int argc, char **argv) {
    /* The rules without backpropagation have their own options (cmd_learn.c). */
    for (int i = 1; i < argc; i++) {
        const char *m = NULL;
        if (!strcmp(argv[i], "--method") && i + 1 < argc) m = argv[i + 1];
        else if (!strncmp(argv[i], "--method=", 9)) m = argv[i] + 9;
        if (m && strcmp(m, "bptt")) return cmd_train_method(m, argc, argv);
    }
    train_args a;
    train_args_default(&a);
    a.out = "model.nmm";
    opt table[TRAIN_MAX_OPTS];
    int n = train_args_table(&a, table);
    table[n++] = (opt){"out", OPT_STR, &a.out, "PATH", "model file to write (default model.nmm)", 1, 0, 0};
    int rc = opts_parse("train", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "train", "[options]",
                   "Trains a spiking network (Affine + LIF layers, LI readout) with surrogate-gradient BPTT\n"
                   "and Adam. Writes the model, a checkpoint after every epoch (and every --checkpoint-every\n"
                   "seconds), and a JSON report. Ctrl-C writes a checkpoint and stops; --resume continues.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    cli_install_signals();
    char *ckpt = a.checkpoint ? NULL : cli_sibling(a.out, ".ckpt");
    char *report = a.report ? NULL : cli_sibling(a.out, ".json");
    rc = run_training("train", &a, a.out, a.checkpoint ? a.checkpoint : ckpt, a.report ? a.report : report, NULL);
    free(ckpt);
    free(report);
    return rc;
}
