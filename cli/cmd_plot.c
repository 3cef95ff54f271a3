/*
** neuromorph plot KIND --in FILE --out FILE: a figure from a report or a spike file, without
** re-running anything.
**
**   raster  a spike file or a recording (the "spikes" object of --figures' recording.json)
**   traces  a recording's "traces" (membrane, input current, threshold)
**   hist    arrays of numbers from a JSON file (--key), a recording's firing rates, or a
**           text file of numbers
**   curve   the training curve of a `train` (or demo) report: its "epochs"
**   lines   accuracy against device time of every chip evaluation in a report (objects
**           with a "times" array: `eval --chip`, the demo)
**   bars    accuracy per stage of a demo report ("stages")
**
** Spike files: see nm_spikes_read (viz.h). The output format follows --out's extension:
** .png, .svg or .pdf.
*/
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <neuromorph/neuromorph.h>

#include "figures.h"
#include "opts.h"

#define CMD "neuromorph plot"

typedef struct plot_args {
    const char *in, *out, *title, *xlabel, *ylabel, *key, *range;
    double      lo, hi;  /* --range, parsed */
    int         width, height, bins, help;
    uint64_t    neurons;
    float       bin;
} plot_args;

/* One line naming the problem; exit code 1 (bad data), as cli_fail. */
static int bad(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, CMD ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

/* ---- growing arrays ----------------------------------------------------------------- */

typedef struct dvec {
    double *v;
    int64_t n, cap;
} dvec;

static int dvec_push(dvec *a, double x) {
    if (a->n == a->cap) {
        int64_t cap = a->cap ? 2 * a->cap : 1024;
        double *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return 1;
        a->v = v, a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* ---- JSON --------------------------------------------------------------------------- */

static int is_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int c;
    while ((c = fgetc(f)) != EOF && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {}
    fclose(f);
    return c == '{';
}

static int load_json(const char *path, json_t **out) {
    json_error_t e;
    *out = json_load_file(path, 0, &e);
    if (!*out) return bad("'%s' is not valid JSON: %s at line %d, column %d (byte %d)", path, e.text, e.line, e.column, e.position);
    if (!json_is_object(*out)) {
        json_decref(*out);
        return bad("'%s': expected a JSON object at the top", path);
    }
    return 0;
}

/* The value at a dotted path ("rates.0.rate_hz": numbers index arrays), or NULL. */
static json_t *at(json_t *root, const char *path) {
    char buf[256];
    if (strlen(path) >= sizeof buf) return NULL;
    strcpy(buf, path);
    json_t *v = root;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save)) {
        char *end;
        long i = strtol(tok, &end, 10);
        if (json_is_array(v) && *end == '\0' && end != tok) v = i >= 0 ? json_array_get(v, (size_t)i) : NULL;
        else v = json_is_object(v) ? json_object_get(v, tok) : NULL;
    }
    return v;
}

/* A JSON array of numbers into a fresh array; 0, or 1 after naming the problem. */
static int numbers(const json_t *a, const char *path, const char *what, double **out, int64_t *n) {
    if (!a) return bad("'%s' has no %s", path, what);
    if (!json_is_array(a)) return bad("'%s': %s is not an array", path, what);
    *n = (int64_t)json_array_size(a);
    *out = malloc((size_t)(*n ? *n : 1) * sizeof **out);
    if (!*out) return bad("out of memory");
    for (int64_t i = 0; i < *n; i++) {
        json_t *x = json_array_get(a, (size_t)i);
        if (!json_is_number(x)) {
            free(*out);
            *out = NULL;
            return bad("'%s': %s[%lld] is not a number", path, what, (long long)i);
        }
        (*out)[i] = json_number_value(x);
    }
    return 0;
}

static int num_field(json_t *obj, const char *key, const char *path, const char *where, double *v) {
    json_t *x = json_object_get(obj, key);
    if (!json_is_number(x)) return bad("'%s': %s.%s is %s", path, where, key, x ? "not a number" : "missing");
    *v = json_number_value(x);
    return 0;
}

/* ---- raster ------------------------------------------------------------------------- */

static int plot_raster(const plot_args *a, nm_plot *p) {
    dvec t = {0}, nr = {0};
    int rc = 0;
    int64_t n_neurons = 0;
    double t0 = 0, t1 = 0, bin = a->bin;
    if (is_json(a->in)) {
        json_t *root;
        if ((rc = load_json(a->in, &root))) return rc;
        json_t *sp = json_object_get(root, "spikes");
        if (!sp && json_object_get(root, "recording")) sp = at(root, "recording.spikes");
        double n_json = 0;
        int64_t nt = 0, nn = 0;
        if (!json_is_object(sp)) rc = bad("'%s' holds no \"spikes\" object (write one with --figures, or use a spike file)", a->in);
        else if (!(rc = num_field(sp, "n_neurons", a->in, "spikes", &n_json)) &&
                 !(rc = numbers(json_object_get(sp, "t"), a->in, "spikes.t", &t.v, &nt)) &&
                 !(rc = numbers(json_object_get(sp, "neuron"), a->in, "spikes.neuron", &nr.v, &nn))) {
            t.n = nt, nr.n = nn;
            if (nt != nn) rc = bad("'%s': spikes.t has %lld times but spikes.neuron %lld indices", a->in, (long long)nt, (long long)nn);
            n_neurons = (int64_t)n_json;
            /* a recording's samples run back to back: the whole window, one bin per step */
            double dt = json_number_value(json_object_get(root, "dt"));
            double steps = json_number_value(json_object_get(root, "steps")), samples = json_number_value(json_object_get(root, "samples"));
            if (dt > 0 && steps > 0 && samples > 0) {
                t1 = dt * steps * samples;
                if (!(bin > 0)) bin = dt;
            }
            if (!json_is_integer(json_object_get(sp, "n_neurons")) || n_neurons <= 0)
                rc = bad("'%s': spikes.n_neurons must be a positive integer", a->in);
        }
        json_decref(root);
    } else {
        nm_spikes sp;
        nm_status st = nm_spikes_read(a->in, &sp);
        if (st) return cli_fail(st);
        if (sp.n == 0) rc = bad("spike file '%s' holds no spikes", a->in);
        t.v = malloc((size_t)(sp.n ? sp.n : 1) * sizeof *t.v);
        nr.v = malloc((size_t)(sp.n ? sp.n : 1) * sizeof *nr.v);
        if (!rc && (!t.v || !nr.v)) rc = bad("out of memory");
        for (int64_t k = 0; !rc && k < sp.n; k++) t.v[k] = sp.t[k], nr.v[k] = sp.neuron[k];
        t.n = nr.n = sp.n;
        nm_spikes_free(&sp);
    }
    int32_t *idx = NULL;
    if (!rc) {
        int64_t mx = -1;
        idx = malloc((size_t)(nr.n ? nr.n : 1) * sizeof *idx);
        if (!idx) rc = bad("out of memory");
        for (int64_t k = 0; !rc && k < nr.n; k++) {
            if (nr.v[k] < 0 || nr.v[k] != floor(nr.v[k]) || nr.v[k] > INT32_MAX - 1) {
                rc = bad("'%s': spike %lld has neuron %g (not an index)", a->in, (long long)k, nr.v[k]);
                break;
            }
            idx[k] = (int32_t)nr.v[k];
            if (idx[k] > mx) mx = idx[k];
        }
        if (!rc && a->neurons) {
            if ((int64_t)a->neurons <= mx)
                rc = bad("'%s' has neuron %lld, beyond --neurons %llu", a->in, (long long)mx, (unsigned long long)a->neurons);
            n_neurons = (int64_t)a->neurons;
        } else if (!rc && n_neurons == 0) {
            n_neurons = mx + 1;
        }
    }
    if (!rc) {
        if (!n_neurons) n_neurons = 1;
        nm_raster r = {t.v, idx, t.n, n_neurons, t0, t1, bin > 0 ? bin : 0};
        nm_status st = nm_plot_raster(p, &r, a->out);
        if (st) rc = cli_fail(st);
        else printf("raster of %lld spikes of %lld neurons written to %s\n", (long long)t.n, (long long)n_neurons, a->out);
    }
    free(idx);
    free(t.v);
    free(nr.v);
    return rc;
}

/* ---- traces ------------------------------------------------------------------------- */

static int plot_traces(const plot_args *a, nm_plot *p) {
    if (!is_json(a->in)) return bad("traces need a recording (JSON, from --figures); '%s' is not JSON", a->in);
    json_t *root;
    int rc = load_json(a->in, &root);
    if (rc) return rc;
    json_t *tr = json_object_get(root, "traces");
    json_t *items = json_object_get(tr, "items");
    double *t = NULL, *vals[16] = {0}, *cur[16] = {0};
    int64_t nt = 0;
    int n = 0;
    char labels[16][32];
    nm_series v[16], c[16];
    if (!json_is_object(tr)) rc = bad("'%s' holds no \"traces\" object (write one with --figures)", a->in);
    else if (!json_is_array(items) || json_array_size(items) == 0) rc = bad("'%s': traces.items is missing or empty", a->in);
    else if (!(rc = numbers(json_object_get(tr, "t"), a->in, "traces.t", &t, &nt)) && nt == 0)
        rc = bad("'%s': traces.t is empty", a->in);
    int with_current = 1;
    for (size_t k = 0; !rc && k < json_array_size(items) && k < 16; k++) {
        json_t *it = json_array_get(items, k);
        char where[64];
        int64_t m = 0, mc = 0;
        snprintf(where, sizeof where, "traces.items[%zu].membrane", k);
        if ((rc = numbers(json_object_get(it, "membrane"), a->in, where, &vals[k], &m))) break;
        if (m != nt) {
            rc = bad("'%s': %s has %lld values for %lld times", a->in, where, (long long)m, (long long)nt);
            break;
        }
        if (json_object_get(it, "current")) {
            snprintf(where, sizeof where, "traces.items[%zu].current", k);
            if ((rc = numbers(json_object_get(it, "current"), a->in, where, &cur[k], &mc))) break;
            if (mc != nt) {
                rc = bad("'%s': %s has %lld values for %lld times", a->in, where, (long long)mc, (long long)nt);
                break;
            }
        } else with_current = 0;
        json_t *id = json_object_get(it, "neuron");
        if (json_is_integer(id)) snprintf(labels[k], sizeof labels[k], "neuron %lld", (long long)json_integer_value(id));
        else snprintf(labels[k], sizeof labels[k], "trace %zu", k + 1);
        v[k] = (nm_series){labels[k], t, vals[k], NULL, (int)nt};
        c[k] = (nm_series){labels[k], t, cur[k], NULL, (int)nt};
        n++;
    }
    if (!rc) {
        json_t *th = json_object_get(tr, "threshold");
        nm_traces trs = {v, n, json_is_number(th) ? json_number_value(th) : NAN, with_current ? c : NULL, with_current ? n : 0,
                         "membrane potential", "input current"};
        nm_status st = nm_plot_traces(p, &trs, a->out);
        if (st) rc = cli_fail(st);
        else printf("%d trace%s written to %s\n", n, n == 1 ? "" : "s", a->out);
    }
    for (int k = 0; k < 16; k++) free(vals[k]), free(cur[k]);
    free(t);
    json_decref(root);
    return rc;
}

/* ---- histograms --------------------------------------------------------------------- */

#define MAX_HIST 10

static int read_numbers_file(const char *path, dvec *d) {
    FILE *f = fopen(path, "rb");
    if (!f) return bad("cannot open '%s': %s", path, strerror(errno));
    char tok[64];
    int rc = 0;
    long off = 0;
    for (;;) {
        int c;
        while ((c = fgetc(f)) != EOF && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',')) off++;
        if (c == EOF) break;
        if (c == '#') { /* comment to the end of the line */
            while ((c = fgetc(f)) != EOF && c != '\n') off++;
            off++;
            continue;
        }
        const long start = off;
        size_t n = 0;
        while (c != EOF && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ',') {
            if (n < sizeof tok - 1) tok[n++] = (char)c;
            c = fgetc(f);
            off++;
        }
        off++;
        tok[n] = '\0';
        char *end;
        double v = strtod(tok, &end);
        if (end == tok || *end || !isfinite(v)) {
            rc = bad("'%s' byte %ld: '%s' is not a number", path, start, tok);
            break;
        }
        if (dvec_push(d, v)) {
            rc = bad("out of memory");
            break;
        }
    }
    fclose(f);
    if (!rc && d->n == 0) rc = bad("'%s' holds no numbers", path);
    if (!rc && d->n > 0x7fffffff) rc = bad("'%s' holds more than 2^31 numbers", path);
    return rc;
}

static int plot_hist(const plot_args *a, nm_plot *p) {
    double *vals[MAX_HIST] = {0};
    int64_t n[MAX_HIST] = {0};
    char labels[MAX_HIST][64];
    int ns = 0, rc = 0;
    json_t *root = NULL;
    if (is_json(a->in)) {
        if ((rc = load_json(a->in, &root))) return rc;
        if (a->key) { /* comma-separated dotted paths */
            char buf[512];
            snprintf(buf, sizeof buf, "%s", a->key);
            for (char *save = NULL, *k = strtok_r(buf, ",", &save); k && !rc; k = strtok_r(NULL, ",", &save)) {
                if (ns == MAX_HIST) {
                    rc = bad("--key names more than %d arrays", MAX_HIST);
                    break;
                }
                if (!at(root, k)) {
                    rc = bad("'%s' has no key '%s'", a->in, k);
                    break;
                }
                snprintf(labels[ns], sizeof labels[ns], "%s", k);
                rc = numbers(at(root, k), a->in, k, &vals[ns], &n[ns]);
                if (!rc && n[ns] == 0) rc = bad("'%s': %s is empty", a->in, k);
                ns += !rc;
            }
        } else { /* a recording's firing rates, one series per layer */
            json_t *rates = json_object_get(root, "rates");
            if (!json_is_array(rates) || json_array_size(rates) == 0)
                rc = bad("'%s' holds no \"rates\" array; name the arrays to draw with --key a.b,c.d", a->in);
            for (size_t k = 0; !rc && k < json_array_size(rates) && ns < MAX_HIST; k++) {
                json_t *it = json_array_get(rates, k);
                char where[48];
                snprintf(where, sizeof where, "rates[%zu].rate_hz", k);
                const char *layer = json_string_value(json_object_get(it, "layer"));
                snprintf(labels[ns], sizeof labels[ns], "%s", layer ? layer : where);
                rc = numbers(json_object_get(it, "rate_hz"), a->in, where, &vals[ns], &n[ns]);
                if (!rc && n[ns] == 0) rc = bad("'%s': %s is empty", a->in, where);
                ns += !rc;
            }
            if (!rc && !p->xlabel) p->xlabel = "firing rate (Hz)";
            if (!rc && !p->ylabel) p->ylabel = "neurons";
        }
    } else {
        dvec d = {0};
        rc = read_numbers_file(a->in, &d);
        vals[0] = d.v, n[0] = d.n, ns = !rc;
        labels[0][0] = '\0';
        if (rc) free(d.v), vals[0] = NULL;
    }
    if (!rc) {
        nm_series s[MAX_HIST];
        for (int k = 0; k < ns; k++) {
            if (n[k] > 0x7fffffff) {
                rc = bad("'%s': %s holds more than 2^31 values", a->in, labels[k]);
                break;
            }
            s[k] = (nm_series){labels[k][0] ? labels[k] : NULL, NULL, vals[k], NULL, (int)n[k]};
        }
        nm_status st = rc ? NM_OK : nm_plot_hist(p, s, ns, a->bins, a->lo, a->hi, a->out);
        if (st) rc = cli_fail(st);
        else if (!rc) printf("histogram of %d series written to %s\n", ns, a->out);
    }
    for (int k = 0; k < MAX_HIST; k++) free(vals[k]);
    json_decref(root);
    return rc;
}

/* ---- reports: curve, lines, bars ---------------------------------------------------- */

static int plot_curve(const plot_args *a, nm_plot *p) {
    if (!is_json(a->in)) return bad("curve needs a training report (JSON); '%s' is not JSON", a->in);
    json_t *root;
    int rc = load_json(a->in, &root);
    if (rc) return rc;
    json_t *ep = json_object_get(root, "epochs");
    size_t n = json_array_size(ep);
    double *v = NULL;
    if (!json_is_array(ep)) rc = bad("'%s' has no \"epochs\" array (is it a `neuromorph train` report?)", a->in);
    else if (n == 0) rc = bad("'%s': \"epochs\" is empty (no epoch finished)", a->in);
    else if (!(v = malloc(4 * n * sizeof *v))) rc = bad("out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *it = json_array_get(ep, i);
        char where[32];
        snprintf(where, sizeof where, "epochs[%zu]", i);
        if (!json_is_object(it)) rc = bad("'%s': %s is not an object", a->in, where);
        else if ((rc = num_field(it, "epoch", a->in, where, &v[i])) || (rc = num_field(it, "train_loss", a->in, where, &v[n + i])) ||
                 (rc = num_field(it, "train_accuracy", a->in, where, &v[2 * n + i])) ||
                 (rc = num_field(it, "test_accuracy", a->in, where, &v[3 * n + i])))
            break;
    }
    if (!rc) {
        nm_curve c = {v, (int)n, v + n, NULL, v + 2 * n, v + 3 * n};
        if (!p->title) p->title = "Training curve";
        nm_status st = nm_plot_curve(p, &c, a->out);
        if (st) rc = cli_fail(st);
        else printf("training curve of %zu epochs written to %s\n", n, a->out);
    }
    free(v);
    json_decref(root);
    return rc;
}

#define MAX_LINES 10
#define MAX_T 32

static int plot_lines(const plot_args *a, nm_plot *p) {
    if (!is_json(a->in)) return bad("lines need a report (JSON); '%s' is not JSON", a->in);
    json_t *root;
    int rc = load_json(a->in, &root);
    if (rc) return rc;
    double x[MAX_LINES][MAX_T], y[MAX_LINES][MAX_T], e[MAX_LINES][MAX_T], ticks[MAX_T];
    char names[MAX_T][24];
    const char *tl[MAX_T];
    nm_series s[MAX_LINES];
    int ns = 0, nticks = 0;
    const char *key;
    json_t *obj;
    json_object_foreach(root, key, obj) {
        json_t *times = json_object_get(obj, "times");
        if (!json_is_array(times) || rc) continue;
        if (a->key) { /* only the named objects */
            char buf[512];
            int hit = 0;
            snprintf(buf, sizeof buf, "%s", a->key);
            for (char *save = NULL, *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) hit |= !strcmp(k, key);
            if (!hit) continue;
        }
        if (ns == MAX_LINES) {
            rc = bad("'%s' has more than %d chip evaluations; choose some with --key", a->in, MAX_LINES);
            break;
        }
        size_t n = json_array_size(times);
        if (n == 0 || n > MAX_T) {
            rc = bad("'%s': %s.times has %zu entries (1..%d)", a->in, key, n, MAX_T);
            break;
        }
        for (size_t i = 0; i < n && !rc; i++) {
            json_t *it = json_array_get(times, i);
            char where[96];
            snprintf(where, sizeof where, "%s.times[%zu]", key, i);
            if ((rc = num_field(it, "time_s", a->in, where, &x[ns][i])) || (rc = num_field(it, "accuracy_mean", a->in, where, &y[ns][i])))
                break;
            if ((rc = num_field(it, "accuracy_std", a->in, where, &e[ns][i]))) break;
            if (!(x[ns][i] > 0)) {
                rc = bad("'%s': %s.time_s = %g is not > 0 (the time axis is logarithmic)", a->in, where, x[ns][i]);
                break;
            }
            y[ns][i] *= 100, e[ns][i] *= 100;
            int seen = 0;
            for (int t = 0; t < nticks; t++) seen |= ticks[t] == x[ns][i];
            if (!seen && nticks < MAX_T) ticks[nticks++] = x[ns][i];
        }
        s[ns] = (nm_series){key, x[ns], y[ns], e[ns], (int)n};
        ns += !rc;
    }
    if (!rc && ns == 0)
        rc = a->key ? bad("'%s' has no chip evaluation named '%s'", a->in, a->key)
                    : bad("'%s' holds no chip evaluation (an object with a \"times\" array, from eval --chip or the demo)", a->in);
    if (!rc) {
        for (int i = 1; i < nticks; i++) /* ascending, for the labels */
            for (int j = i; j > 0 && ticks[j - 1] > ticks[j]; j--) {
                double t = ticks[j];
                ticks[j] = ticks[j - 1], ticks[j - 1] = t;
            }
        for (int t = 0; t < nticks; t++) fig_duration_name(ticks[t], names[t], sizeof names[t]), tl[t] = names[t];
        p->log_x = 1;
        p->xticks = ticks, p->xtick_labels = tl, p->n_xticks = nticks;
        if (!p->title) p->title = "Accuracy after programming (mean \xc2\xb1 std over chip samples)";
        if (!p->xlabel) p->xlabel = "time after programming";
        if (!p->ylabel) p->ylabel = "test accuracy (%)";
        nm_status st = nm_plot_lines(p, s, ns, a->out);
        if (st) rc = cli_fail(st);
        else printf("%d series written to %s\n", ns, a->out);
    }
    json_decref(root);
    return rc;
}

#define MAX_BARS 32

static int plot_bars(const plot_args *a, nm_plot *p) {
    if (!is_json(a->in)) return bad("bars need a report (JSON); '%s' is not JSON", a->in);
    json_t *root;
    int rc = load_json(a->in, &root);
    if (rc) return rc;
    const char *k = a->key ? a->key : "stages";
    json_t *st = at(root, k);
    size_t n = json_array_size(st);
    double y[MAX_BARS], e[MAX_BARS];
    const char *labels[MAX_BARS];
    if (!json_is_array(st)) rc = bad("'%s' has no \"%s\" array (a demo report has one)", a->in, k);
    else if (n == 0 || n > MAX_BARS) rc = bad("'%s': \"%s\" has %zu entries (1..%d)", a->in, k, n, MAX_BARS);
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *it = json_array_get(st, i);
        char where[96];
        snprintf(where, sizeof where, "%s[%zu]", k, i);
        if ((rc = num_field(it, "accuracy", a->in, where, &y[i]))) break;
        e[i] = 0;
        json_t *sd = json_object_get(it, "accuracy_std");
        if (json_is_number(sd)) e[i] = 100 * json_number_value(sd);
        y[i] *= 100;
        labels[i] = json_string_value(json_object_get(it, "stage"));
    }
    if (!rc) {
        nm_series s = {NULL, NULL, y, e, (int)n};
        if (!p->title) p->title = "Accuracy per stage";
        if (!p->ylabel) p->ylabel = "test accuracy (%), mean \xc2\xb1 std over chip samples";
        nm_status sc = nm_plot_bars(p, labels, (int)n, &s, 1, a->out);
        if (sc) rc = cli_fail(sc);
        else printf("%zu bars written to %s\n", n, a->out);
    }
    json_decref(root);
    return rc;
}

/* ---- the command -------------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*run)(const plot_args *, nm_plot *);
    const char *about;
} KINDS[] = {
    {"raster", plot_raster, "spikes over time and the population rate: a spike file (TIME,NEURON lines) or a recording"},
    {"traces", plot_traces, "membrane and input-current traces with the threshold: a recording"},
    {"hist", plot_hist, "histograms: JSON arrays named by --key, a recording's firing rates, or a file of numbers"},
    {"curve", plot_curve, "training curve (loss, accuracy per epoch): a train or demo report"},
    {"lines", plot_lines, "accuracy against time after programming: a report of eval --chip or the demo"},
    {"bars", plot_bars, "accuracy per stage: a demo report"},
};
#define N_KINDS (int)(sizeof KINDS / sizeof KINDS[0])

int cmd_plot(int argc, char **argv) {
    plot_args a = {0};
    opt table[] = {
        {"help", OPT_FLAG, &a.help, NULL, "show this help", 1, 0, 0},
        {"in", OPT_STR, &a.in, "FILE", "report (JSON), recording.json of --figures, spike file or numbers (required)", 1, 0, 0},
        {"out", OPT_STR, &a.out, "FILE", "figure to write: .png, .svg or .pdf (required)", 1, 0, 0},
        {"title", OPT_STR, &a.title, "T", "title (default: one for the kind)", 1, 0, 0},
        {"xlabel", OPT_STR, &a.xlabel, "T", "x axis label", 1, 0, 0},
        {"ylabel", OPT_STR, &a.ylabel, "T", "y axis label", 1, 0, 0},
        {"width", OPT_INT, &a.width, "W", "width in pixels (points for SVG and PDF; default 800)", 120, 16384, 0},
        {"height", OPT_INT, &a.height, "H", "height (default 500)", 120, 16384, 0},
        {"neurons", OPT_U64, &a.neurons, "N", "raster: rows (default: the largest index + 1)", 1, 2147483647.0, 0},
        {"bin", OPT_FLOAT, &a.bin, "S", "raster: population-rate bin in seconds (default: window / 100)", 1e-9, 1e9, 0},
        {"bins", OPT_INT, &a.bins, "N", "hist: bins (default: sqrt of the sample size, 10..80)", 1, 10000, 0},
        {"range", OPT_STR, &a.range, "LO,HI", "hist: the binned range (default: the data's); values outside are not counted", 1, 0, 0},
        {"key", OPT_STR, &a.key, "K", "hist: comma-separated dotted paths of arrays (a.b,c.0.d); lines: report objects; bars: the array", 1, 0, 0},
    };
    const int n = (int)(sizeof table / sizeof table[0]);
    const char *kind = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
    char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
    if (!rest) return cli_fail(nm__error(NM_NOMEM, "out of memory"));
    int m = 0;
    rest[m++] = argv[0];
    for (int i = kind ? 2 : 1; i < argc; i++) rest[m++] = argv[i];
    rest[m] = NULL;
    int rc = opts_parse("plot", m, rest, table, n);
    free(rest);
    if (rc == 1 || (!kind && a.help)) {
        char about[2048];
        int len = snprintf(about, sizeof about,
                           "Draws a figure from a report, a recording (recording.json of --figures) or a spike\n"
                           "file. A spike file is text with one spike per line, TIME,NEURON (seconds, index from\n"
                           "0; comma, tab or spaces), an optional header line time_s,neuron, '#' comments.\nKINDs:");
        for (int k = 0; k < N_KINDS && len > 0 && (size_t)len < sizeof about; k++)
            len += snprintf(about + len, sizeof about - (size_t)len, "\n  %-7s %s", KINDS[k].name, KINDS[k].about);
        opts_usage(stdout, "plot", "KIND --in FILE --out FILE [options]", about, table, n);
        return 0;
    }
    if (rc) return rc;
    if (!kind) {
        fprintf(stderr, CMD ": which figure? give KIND first: raster, traces, hist, curve, lines or bars (see neuromorph plot --help)\n");
        return 2;
    }
    int k = 0;
    while (k < N_KINDS && strcmp(KINDS[k].name, kind)) k++;
    if (k == N_KINDS) {
        fprintf(stderr, CMD ": unknown figure kind '%s' (raster, traces, hist, curve, lines or bars)\n", kind);
        return 2;
    }
    if (!a.in || !a.out) {
        fprintf(stderr, CMD ": --in FILE and --out FILE are required (see neuromorph plot --help)\n");
        return 2;
    }
    if (opts_find(table, n, "neurons")->seen + opts_find(table, n, "bin")->seen && strcmp(kind, "raster")) {
        fprintf(stderr, CMD ": --neurons and --bin are for raster figures\n");
        return 2;
    }
    if ((opts_find(table, n, "bins")->seen || a.range) && strcmp(kind, "hist")) {
        fprintf(stderr, CMD ": --bins and --range are for hist figures\n");
        return 2;
    }
    if (a.range) {
        char *e1, *e2 = NULL;
        a.lo = strtod(a.range, &e1);
        a.hi = *e1 == ',' ? strtod(e1 + 1, &e2) : 0;
        if (e1 == a.range || *e1 != ',' || e2 == e1 + 1 || *e2 || !isfinite(a.lo) || !isfinite(a.hi) || !(a.lo < a.hi)) {
            fprintf(stderr, CMD ": --range expects LO,HI with LO < HI, got '%s'\n", a.range);
            return 2;
        }
    }
    nm_plot p;
    nm_plot_default(&p);
    p.title = a.title;
    p.xlabel = a.xlabel;
    p.ylabel = a.ylabel;
    p.width = a.width;
    p.height = a.height;
    /* a bad extension before reading a large input */
    const char *dot = strrchr(a.out, '.'), *slash = strrchr(a.out, '/');
    if (!dot || (slash && dot < slash) || (strcasecmp(dot, ".png") && strcasecmp(dot, ".svg") && strcasecmp(dot, ".pdf"))) {
        fprintf(stderr, CMD ": --out '%s' must end in .png, .svg or .pdf\n", a.out);
        return 2;
    }
    rc = KINDS[k].run(&a, &p);
    nm_viz_release();
    return rc;
}
