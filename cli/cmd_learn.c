/* neuromorph train --method stdp|evolve: not built yet. */
#include <stdio.h>

#include "opts.h"

int cmd_train_method(const char *method, int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "neuromorph train: unknown --method '%s' (bptt)\n", method);
    return 2;
}
