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
            "  nir     read, import, run and write NIR model files (nir info|import|run|export)\n"
            "  events  read, convert, emulate and transform event-camera data\n"
            "  plot    draw a figure from a report or a spike file (neuromorph plot KIND ...)\n"
            "  convert convert a trained ReLU network (ANN) into a spiking network\n"
            "  map     place a model onto a chip's cores: utilization, routing, what does not fit\n"
            "  energy  energy and latency per inference on a chip, NeuroBench metrics, GPU baseline\n"
            "  sim     simulate a large spiking network from a description file (threads, MPI)\n"
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
    if (!strcmp(cmd, "nir")) return cmd_nir(argc - 1, argv + 1);
    if (!strcmp(cmd, "events")) return cmd_events(argc - 1, argv + 1);
    if (!strcmp(cmd, "plot")) return cmd_plot(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "energy")) return cmd_energy(argc - 1, argv + 1);
    if (!strcmp(cmd, "map")) return cmd_map(argc - 1, argv + 1);
    if (!strcmp(cmd, "sim")) return cmd_sim(argc - 1, argv + 1);
    if (!strcmp(cmd, "sim")) return cmd_sim(argc - 1, argv + 1);
    fprintf(stderr, "neuromorph: unknown command '%s' (see neuromorph --help)\n", cmd);
    return 2;
}
