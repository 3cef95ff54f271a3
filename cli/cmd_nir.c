/* neuromorph nir: not built yet. */
#include <stdio.h>

#include "opts.h"

int cmd_nir(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "neuromorph nir: not available yet\n");
    return 2;
}
