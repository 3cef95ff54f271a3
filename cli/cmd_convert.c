/* neuromorph convert: not built yet. */
#include <stdio.h>

#include "opts.h"

int cmd_convert(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "neuromorph convert: not available yet\n");
    return 2;
}
