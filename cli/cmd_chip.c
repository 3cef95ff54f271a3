/*
** neuromorph chip: the chip profiles. `chip list` names the profiles found with their
** descriptions; `chip show PROFILE` prints every field with its unit and the source of each
** number (--json: the report object instead).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <neuromorph/hw.h>

#include "opts.h"

#define MAX_PROFILES 256

static void chip_usage(FILE *f) {
    fprintf(f, "usage: neuromorph chip list\n"
               "       neuromorph chip show PROFILE [--json]\n\n"
               "PROFILE is a name (pcm: profiles/pcm.json from the profile directories: $NM_PROFILE_DIR,\n"
               "../profiles and ../share/neuromorph/profiles beside the executable, the source tree)\n"
               "or a path to a .json file.\n");
}

static int chip_list(int argc, char **argv) {
    int help = 0;
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
    };
    int n = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("chip list", argc, argv, table, n);
    if (rc == 1) {
        opts_usage(stdout, "chip list", "", "Lists the chip profiles found, with their descriptions.", table, n);
        return 0;
    }
    if (rc) return rc;
    char (*names)[32] = malloc(sizeof(char[MAX_PROFILES][32]));
    if (!names) return cli_fail(NM_NOMEM);
    int count = 0;
    nm_status st = nm_chip_profile_list(names, MAX_PROFILES, &count);
    if (st) {
        free(names);
        return cli_fail(st);
    }
    if (!count) {
        free(names);
        fprintf(stderr, "neuromorph: error: no chip profiles found (set NM_PROFILE_DIR to a directory of profiles)\n");
        return 1;
    }
    /* A broken profile is reported and the rest still listed; the exit status says so. */
    rc = 0;
    for (int i = 0; i < count; i++) {
        nm_chip_profile p;
        if ((st = nm_chip_profile_load(names[i], &p))) {
            printf("  %-10s (cannot be loaded)\n", names[i]);
            rc = cli_fail(st);
            continue;
        }
        printf("  %-10s %s\n", p.name, p.description);
    }
    free(names);
    return rc;
}

/* Prints a report as JSON on stdout. Reports are written to files (atomically), so write
** one into a private temporary directory and copy it out. */
static int print_report(const nm_report *r) {
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/neuromorph-chip-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "neuromorph: error: cannot make a temporary directory in %s\n", tmp && *tmp ? tmp : "/tmp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/report.json", dir);
    int rc = 0;
    nm_status st = nm_report_write(r, path);
    if (st) rc = cli_fail(st);
    else {
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "neuromorph: error: cannot read back %s\n", path);
            rc = 1;
        } else {
            char buf[4096];
            size_t k;
            while ((k = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, k, stdout);
            fclose(f);
        }
        remove(path);
    }
    rmdir(dir);
    return rc;
}

static int chip_show(int argc, char **argv) {
    int help = 0, json = 0;
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        {"json", OPT_FLAG, &json, NULL, "print the profile as a JSON report object", 1, 0, 0},
    };
    int n = (int)(sizeof table / sizeof table[0]);
    /* The one positional argument, wherever it stands: every option here is a flag, so no
    ** option value can be mistaken for it. */
    const char *name = NULL;
    char **rest = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!rest) return cli_fail(NM_NOMEM);
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !name && strncmp(argv[i], "--", 2)) name = argv[i];
        else rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    int rc = opts_parse("chip show", nrest, rest, table, n);
    free(rest);
    if (rc == 1) {
        opts_usage(stdout, "chip show", "PROFILE [--json]",
                   "Prints every field of a chip profile with its unit, and the source of each number.\n"
                   "PROFILE is a profile name (see neuromorph chip list) or a path to a .json file.",
                   table, n);
        return 0;
    }
    if (rc) return rc;
    if (!name) {
        fprintf(stderr, "neuromorph chip show: PROFILE is required (see neuromorph chip list)\n");
        return 2;
    }
    nm_chip_profile p;
    nm_status st = nm_chip_profile_load(name, &p);
    if (st) return cli_fail(st);
    if (!json) {
        nm_chip_profile_print(&p, stdout);
        return 0;
    }
    nm_report *r = nm_report_create("chip show");
    if (!r) return cli_fail(NM_NOMEM);
    nm_chip_profile_report(&p, r, "profile");
    rc = print_report(r);
    nm_report_destroy(r);
    return rc;
}

int cmd_chip(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "neuromorph chip: expected a subcommand, list or show (see neuromorph chip --help)\n");
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        chip_usage(stdout);
        return 0;
    }
    if (!strcmp(sub, "list")) return chip_list(argc - 1, argv + 1);
    if (!strcmp(sub, "show")) return chip_show(argc - 1, argv + 1);
    fprintf(stderr, "neuromorph chip: unknown subcommand '%s' (expected list or show; see neuromorph chip --help)\n", sub);
    return 2;
}
