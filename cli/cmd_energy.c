/* neuromorph energy: not built yet. */
#include <stdio.h>

#include "opts.h"

int cmd_energy(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "neuromorph energy: not available yet\n");
    return 2;
}
