/*
** neuromorph: the command-line tool. Each subcommand parses its flags, calls the library
** and prints; all logic lives in the library.
*/
#include <stdio.h>
#include <string.h>

#include <neuromorph/base.h>

#include "opts.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: neuromorph COMMAND [options]\n\n"
            "commands:\n"
            "  demo    train a spiking network on Fashion-MNIST end to end and report\n"
            "  train   train a spiking network with surrogate-gradient BPTT\n"
            "  eval    evaluate a trained model: accuracy, spikes, firing rates (--chip: on hardware)\n"
            "  device  sample a device model: program, wait, read (neuromorph device sample)\n"
            "  chip    list and show chip profiles (neuromorph chip list | chip show PROFILE)\n"
            "  version print the version\n\n"
            "Run 'neuromorph COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("neuromorph %s\n", nm_version());
        return 0;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo")) return cmd_demo(argc - 1, argv + 1);
    if (!strcmp(cmd, "device")) return cmd_device(argc - 1, argv + 1);
    if (!strcmp(cmd, "chip")) return cmd_chip(argc - 1, argv + 1);
    fprintf(stderr, "neuromorph: unknown command '%s' (see neuromorph --help)\n", cmd);
    return 2;
}
