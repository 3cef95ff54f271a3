/* neuromorph map: not built yet. */
#include <stdio.h>

#include "opts.h"

int cmd_map(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "neuromorph map: not available yet\n");
    return 2;
}
