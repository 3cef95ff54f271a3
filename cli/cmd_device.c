/*
** neuromorph device: look at a device model on its own. `sample` programs N fresh devices
** to one target, waits, reads each once and prints the statistics of what was read, in
** units of g_max: the quickest way to see what drift, noise and faults do to a weight.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/hw.h>

#include "opts.h"

#define SUBCMD_HINT "usage: neuromorph device sample [options]; see neuromorph device sample --help"

/* A JSON string (the device may be a file path). */
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* A measured table is named by its file: anything with a '/' or ending in ".txt". */
static int is_table_path(const char *s) {
    size_t len = strlen(s);
    return strchr(s, '/') || (len > 4 && !strcmp(s + len - 4, ".txt"));
}

static int device_sample(int argc, char **argv) {
    const char *device = "pcm", *time_s = "1s";
    float target = 1.0f;
    int n = 10000, levels = 0, json = 0, threads = 0, help = 0;
    uint64_t seed = 1;
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        {"device", OPT_STR, &device, "D", "ideal, quantized, rram, pcm, or a measured table PATH.txt (default pcm)", 1, 0, 0},
        {"target", OPT_FLOAT, &target, "G", "programmed target, units of g_max, 0..1 (default 1)", 0, 1, 0},
        {"time", OPT_STR, &time_s, "T", "time since programming: 0, 1s, 250ms, 1h, 1d, 1y... (default 1s)", 1, 0, 0},
        {"n", OPT_INT, &n, "N", "devices to sample (default 10000)", 1, 100000000, 0},
        {"seed", OPT_U64, &seed, "S", "random seed (default 1)", 1, 0, 0},
        {"levels", OPT_INT, &levels, "L", "round targets to L uniform levels first (0: analog; quantized: 16)", 0, 16777216, 0},
        {"json", OPT_FLAG, &json, NULL, "print one JSON object instead of the summary line", 1, 0, 0},
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)", 0, 1024, 0},
    };
    const int nt = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("device sample", argc, argv, table, nt);
    if (rc == 1) {
        opts_usage(stdout, "device sample", "[options]",
                   "Programs N fresh devices to one target conductance, waits T, reads each once and\n"
                   "prints the mean and standard deviation of the reads in units of g_max.\n"
                   "A table file has lines 'target mean std' (units of g_max, ascending targets).",
                   table, nt);
        return 0;
    }
    if (rc) return rc;

    double t;
    if (nm_parse_duration(time_s, &t)) {
        fprintf(stderr, "neuromorph device sample: --time: %s\n", nm_errmsg());
        return 2;
    }
    nm_device_params p;
    if (is_table_path(device)) {
        nm_device_params_default(NM_DEV_TABLE, &p);
        nm_status st = nm_device_table_load(device, &p);
        if (st) return cli_fail(st);
    } else {
        nm_device_kind kind;
        if (nm_device_kind_parse(device, &kind)) {
            fprintf(stderr,
                    "neuromorph device sample: unknown device '%s' (expected ideal, quantized, rram, pcm or a table PATH.txt)\n",
                    device);
            return 2;
        }
        if (kind == NM_DEV_TABLE) {
            fprintf(stderr, "neuromorph device sample: a table device is read from its file: give --device PATH.txt\n");
            return 2;
        }
        nm_device_params_default(kind, &p);
    }
    if (opts_find(table, nt, "levels")->seen) p.levels = levels;
    nm_set_threads(threads);

    nm_device *d = NULL;
    nm_status st = nm_device_create(&p, &d);
    if (st) return cli_fail(st);
    float *tg = malloc((size_t)n * sizeof *tg), *g = malloc((size_t)n * sizeof *g);
    if (!tg || !g) {
        fprintf(stderr, "neuromorph: error: out of memory for %d devices\n", n);
        rc = 1;
        goto done;
    }
    for (int i = 0; i < n; i++) tg[i] = target;
    if ((st = nm_device_sample(d, tg, n, t, seed, g))) {
        rc = cli_fail(st);
        goto done;
    }

    /* Two passes in double: the spread is small next to the mean. */
    double sum = 0, ss = 0, lo = INFINITY, hi = -INFINITY;
    int64_t zeros = 0;
    for (int i = 0; i < n; i++) {
        sum += g[i];
        lo = fmin(lo, g[i]);
        hi = fmax(hi, g[i]);
        zeros += g[i] == 0.0f;
    }
    const double mean = sum / n;
    for (int i = 0; i < n; i++) ss += (g[i] - mean) * (g[i] - mean);
    const double sd = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
    const char *name = is_table_path(device) ? device : nm_device_kind_name(p.kind);
    if (json) {
        printf("{\"device\": ");
        json_str(name);
        printf(", \"target\": %.9g, \"time_s\": %.17g, \"n\": %d, \"seed\": %llu, \"levels\": %d, \"g_max_us\": %.9g, "
               "\"mean\": %.8g, \"std\": %.8g, \"min\": %.8g, \"max\": %.8g, \"fraction_zero\": %.8g}\n",
               (double)target, t, n, (unsigned long long)seed, p.levels, (double)p.g_max_us, mean, sd, lo, hi,
               (double)zeros / n);
    } else {
        char tbuf[64];
        nm_format_duration(t, tbuf, sizeof tbuf);
        printf("%s  target %g  t %s  n %d: mean %.4f  std %.4f  (g_max %g uS)\n", name, (double)target, tbuf, n, mean, sd,
               (double)p.g_max_us);
    }
done:
    free(tg);
    free(g);
    nm_device_destroy(d);
    return rc;
}

int cmd_device(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "neuromorph device: a subcommand is needed (" SUBCMD_HINT ")\n");
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "sample")) return device_sample(argc - 1, argv + 1);
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        printf("usage: neuromorph device sample [options]\n\n"
               "  sample   program N devices to a target, wait, read: mean and spread in units of g_max\n\n"
               "Run 'neuromorph device sample --help' for its options.\n");
        return 0;
    }
    fprintf(stderr, "neuromorph device: unknown subcommand '%s' (" SUBCMD_HINT ")\n", sub);
    return 2;
}
