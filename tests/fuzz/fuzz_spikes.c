/*
** fuzz_spikes.c: libFuzzer target for the spike-file parser (nm_spikes_parse), which
** `neuromorph plot raster` runs on files from anywhere. Besides "no crash, no leak, no
** sanitizer report", every input must satisfy:
**   - an error leaves the output alone and its message names the input and a line;
**   - a list that parses has finite times, indices in 0 .. n_neurons - 1 and n_neurons
**     = the largest index + 1;
**   - writing it back (nm_spikes_write's format) and parsing that gives the same spikes:
**     the parser reads exactly what the writer writes, nothing skipped or invented;
**   - a parsed list draws (nm_plot_raster into a small PNG) without error. fontconfig
**     leaks a few hundred bytes the first time a font is looked up, so leak checking is
**     off during the drawing (the unit tests check the raster code for leaks under ASan).
** Run: ./fuzz_spikes -max_total_time=60 WORKDIR tests/fuzz/corpus/spikes
*/
#include <neuromorph/viz.h>

#include <math.h>
#include <sanitizer/lsan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_png[128];

static void remove_files(void) { remove(g_png); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(g_png, sizeof g_png, "/tmp/fuzz_spikes_%ld.png", (long)getpid());
    atexit(remove_files);
    return 0;
}

static void broken(const char *what) {
    fprintf(stderr, "fuzz_spikes: invariant broken: %s (last error: \"%s\")\n", what, nm_errmsg());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nm_spikes s = {NULL, NULL, -5, -5};
    nm_status rc = nm_spikes_parse((const char *)data, size, "fuzz", &s);
    if (rc) {
        if (s.n != -5 || s.n_neurons != -5 || s.t || s.neuron) broken("an error changed the output");
        if (!strstr(nm_errmsg(), "'fuzz'") || (rc == NM_FORMAT && !strstr(nm_errmsg(), "line "))) broken("message lacks the name or line");
        return 0;
    }
    int64_t mx = -1;
    for (int64_t k = 0; k < s.n; k++) {
        if (!isfinite(s.t[k])) broken("non-finite time accepted");
        if (s.neuron[k] < 0 || s.neuron[k] >= s.n_neurons) broken("index outside 0 .. n_neurons - 1");
        if (s.neuron[k] > mx) mx = s.neuron[k];
    }
    if (s.n_neurons != mx + 1) broken("n_neurons is not the largest index + 1");
    /* the writer's text, parsed again: the same spikes (%.17g keeps every double) */
    size_t cap = 32 + (size_t)s.n * 48, len = 0;
    char *txt = malloc(cap);
    if (!txt) broken("out of memory");
    len += (size_t)snprintf(txt, cap, "time_s,neuron\n");
    for (int64_t k = 0; k < s.n; k++) len += (size_t)snprintf(txt + len, cap - len, "%.17g,%d\n", s.t[k], (int)s.neuron[k]);
    nm_spikes r;
    if (nm_spikes_parse(txt, len, "again", &r)) broken("the written form does not parse");
    if (r.n != s.n || r.n_neurons != s.n_neurons) broken("round trip changed the count");
    for (int64_t k = 0; k < s.n; k++)
        if (r.t[k] != s.t[k] || r.neuron[k] != s.neuron[k]) broken("round trip changed a spike");
    nm_spikes_free(&r);
    free(txt);
    if (s.n > 0 && s.n < 5000) {
        nm_plot p;
        nm_plot_default(&p);
        p.width = 200;
        p.height = 160;
        nm_raster ras = {s.t, s.neuron, s.n, s.n_neurons, 0, 0, 0};
        __lsan_disable();
        nm_status pr = nm_plot_raster(&p, &ras, g_png);
        __lsan_enable();
        /* huge time spans can make too many bins or a too-small figure: refused, not crashed */
        if (pr && pr != NM_INVAL) broken("drawing a parsed list failed");
    }
    nm_spikes_free(&s);
    return 0;
}
