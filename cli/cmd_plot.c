/* neuromorph plot: not built yet. */
#include <stdio.h>

#include "opts.h"

int cmd_plot(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "neuromorph plot: not available yet\n");
    return 2;
}
