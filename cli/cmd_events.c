/* neuromorph events: not built yet. */
#include <stdio.h>

#include "opts.h"

int cmd_events(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "neuromorph events: not available yet\n");
    return 2;
}
