/*
** Figures next to a command's report (see figures.h). Each one is small next to the run
** that precedes it: the activity figures take one forward pass of at most 200 test
** samples, the conductance histogram one chip realization.
*/
#include "figures.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "opts.h"

#define RASTER_SAMPLES 8
#define RATE_SAMPLES   200
#define N_TRACES       3
#define MAX_LAYERS     16

int fig_mkdir(const char *cmd, const char *dir) {
    if (mkdir(dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "neuromorph %s: cannot create figure directory '%s': %s\n", cmd, dir, strerror(errno));
        return 1;
    }
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "neuromorph %s: --figures '%s' is not a directory\n", cmd, dir);
        return 1;
    }
    return 0;
}

/* DIR/name into buf; also under "figures.<key>" in rep. */
static const char *fig_path(char *buf, size_t cap, const char *dir, const char *name, nm_report *rep, const char *key) {
    snprintf(buf, cap, "%s/%s", dir, name);
    if (rep) {
        char k[160];
        snprintf(k, sizeof k, "figures.%s", key);
        nm_report_set_str(rep, k, buf);
    }
    return buf;
}

/* ---- training curve ----------------------------------------------------------------- */

int fig_curve(const nm_train_result *res, const char *dir, nm_report *rep) {
    const int n = res->n_epochs;
    if (n <= 0) return 0;
    double *v = malloc(4 * (size_t)n * sizeof *v);
    if (!v) return cli_fail(nm__error(NM_NOMEM, "out of memory"));
    double *ep = v, *loss = v + n, *tra = v + 2 * n, *tea = v + 3 * n;
    for (int e = 0; e < n; e++) {
        const nm_epoch_stats *s = &res->history[e];
        ep[e] = s->epoch, loss[e] = s->train_loss, tra[e] = s->train_acc, tea[e] = s->test_acc;
    }
    nm_curve c = {ep, n, loss, NULL, tra, tea};
    nm_plot p;
    nm_plot_default(&p);
    p.title = "Training curve";
    char path[4096];
    nm_status st = nm_plot_curve(&p, &c, fig_path(path, sizeof path, dir, "fig_curve.png", rep, "curve"));
    free(v);
    nm_viz_release(); /* font caches: leak checkers see only what is ours */
    return st ? cli_fail(st) : 0;
}

/* ---- activity of a trained model ---------------------------------------------------- */

static double node_threshold(const nm_node *nd) {
    switch (nd->kind) {
    case NM_NODE_LIF: return nd->lif.v_threshold;
    case NM_NODE_CUBALIF: return nd->cuba.v_threshold;
    case NM_NODE_IF: return nd->ifp.v_threshold;
    case NM_NODE_ALIF: return nd->alif.v_threshold; /* the resting threshold; it adapts */
    default: return NAN;
    }
}

static nm_status dump_json(FILE *f, void *user) {
    return json_dumpf(user, f, JSON_COMPACT | JSON_REAL_PRECISION(7)) ? nm__error(NM_IO, "cannot write the recording") : NM_OK;
}

/* What the activity figures need, from one forward pass. */
typedef struct activity {
    int         T, B, S, L;   /* steps, samples run, raster samples, raster layer */
    double      dt;
    int64_t     n;            /* neurons of layer L */
    /* raster */
    double     *st;
    int32_t    *sn;
    int64_t     n_spikes;
    /* traces */
    int         n_tr, tr_neuron[N_TRACES];
    double     *tt, *tv, *ti; /* T times; N_TRACES x T membrane, current (NULL: none) */
    double      threshold;
    /* rates */
    int         n_layers, layer[MAX_LAYERS];
    double     *rate[MAX_LAYERS];
    int64_t     rate_n[MAX_LAYERS];
} activity;

static void activity_free(activity *a) {
    free(a->st);
    free(a->sn);
    free(a->tt);
    free(a->tv);
    free(a->ti);
    for (int l = 0; l < a->n_layers; l++) free(a->rate[l]);
}

static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

static nm_status record(const nm_graph *g, nm_exec *x, activity *a) {
    /* raster: the first spiking layer, samples back to back */
    const nm_node *nd = nm_graph_node(g, a->L);
    nm_view v = nm_exec_output(x, a->L);
    int64_t cap = 0;
    for (int b = 0; b < a->S; b++)
        for (int t = 0; t < a->T; t++)
            for (int64_t i = 0; i < a->n; i++) cap += nm_view_at(&v, t, b, i) > 0.5f;
    a->st = malloc((size_t)(cap ? cap : 1) * sizeof *a->st);
    a->sn = malloc((size_t)(cap ? cap : 1) * sizeof *a->sn);
    if (!a->st || !a->sn) return nm__error(NM_NOMEM, "out of memory for the raster");
    for (int b = 0; b < a->S; b++)
        for (int t = 0; t < a->T; t++)
            for (int64_t i = 0; i < a->n; i++)
                if (nm_view_at(&v, t, b, i) > 0.5f) {
                    a->st[a->n_spikes] = ((double)b * a->T + t) * a->dt;
                    a->sn[a->n_spikes++] = (int32_t)i;
                }
    /* traces: three neurons of sample 1 that fire differently: the busiest that still
    ** fires at most every third step (its threshold crossings stay visible), the median
    ** and the quietest of those that fire at all; silent ones when too few fire */
    int *cnt = calloc((size_t)a->n, sizeof *cnt);
    if (!cnt) return nm__error(NM_NOMEM, "out of memory for the traces");
    for (int t = 0; t < a->T; t++)
        for (int64_t i = 0; i < a->n; i++) cnt[i] += nm_view_at(&v, t, 0, i) > 0.5f;
    int64_t n_fire = 0, pick[N_TRACES] = {-1, -1, -1};
    for (int64_t i = 0; i < a->n; i++) n_fire += cnt[i] > 0;
    for (int64_t i = 0; i < a->n; i++) {
        if (!cnt[i]) continue;
        if (cnt[i] * 3 <= a->T && (pick[0] < 0 || cnt[i] > cnt[pick[0]])) pick[0] = i;
        if (pick[2] < 0 || cnt[i] < cnt[pick[2]]) pick[2] = i;
    }
    if (n_fire > 0) { /* a median firer: the first neuron with the median nonzero count */
        int *c = malloc((size_t)n_fire * sizeof *c);
        if (!c) {
            free(cnt);
            return nm__error(NM_NOMEM, "out of memory for the traces");
        }
        int64_t m = 0;
        for (int64_t i = 0; i < a->n; i++)
            if (cnt[i]) c[m++] = cnt[i];
        qsort(c, (size_t)m, sizeof *c, cmp_int);
        for (int64_t i = 0; i < a->n && pick[1] < 0; i++)
            if (cnt[i] == c[m / 2]) pick[1] = i;
        free(c);
    }
    for (int k = 0; k < N_TRACES; k++) {
        int dup = pick[k] < 0;
        for (int j = 0; j < a->n_tr; j++) dup |= a->tr_neuron[j] == pick[k];
        if (!dup) a->tr_neuron[a->n_tr++] = (int)pick[k];
    }
    for (int64_t i = 0; i < a->n && a->n_tr < N_TRACES && a->n_tr < a->n; i++) {
        int dup = 0;
        for (int j = 0; j < a->n_tr; j++) dup |= a->tr_neuron[j] == i;
        if (!dup) a->tr_neuron[a->n_tr++] = (int)i;
    }
    free(cnt);
    nm_view mv = nm_exec_membrane(x, a->L);
    const nm_node *src = nd->src >= 0 ? nm_graph_node(g, nd->src) : NULL;
    nm_view iv = src && src->n_out == a->n ? nm_exec_output(x, nd->src) : (nm_view){0};
    a->tt = malloc((size_t)a->T * sizeof *a->tt);
    a->tv = malloc((size_t)N_TRACES * a->T * sizeof *a->tv);
    if (iv.rows > 0) a->ti = malloc((size_t)N_TRACES * a->T * sizeof *a->ti);
    if (!a->tt || !a->tv || (iv.rows > 0 && !a->ti)) return nm__error(NM_NOMEM, "out of memory for the traces");
    for (int t = 0; t < a->T; t++) a->tt[t] = t * a->dt;
    for (int k = 0; k < a->n_tr; k++)
        for (int t = 0; t < a->T; t++) {
            a->tv[k * a->T + t] = mv.rows > 0 ? nm_view_at(&mv, t < mv.rows ? t : mv.rows - 1, 0, a->tr_neuron[k]) : 0;
            if (a->ti) a->ti[k * a->T + t] = nm_view_at(&iv, t < iv.rows ? t : iv.rows - 1, 0, a->tr_neuron[k]);
        }
    a->threshold = node_threshold(nd);
    if (mv.rows <= 0) a->n_tr = 0;
    /* rates: spikes per neuron per second over all B samples, every spiking layer */
    for (int l = 0; l < a->n_layers; l++) {
        const nm_node *ln = nm_graph_node(g, a->layer[l]);
        nm_view lv = nm_exec_output(x, a->layer[l]);
        a->rate_n[l] = ln->n_out;
        a->rate[l] = calloc((size_t)ln->n_out, sizeof *a->rate[l]);
        if (!a->rate[l]) return nm__error(NM_NOMEM, "out of memory for the rates");
        for (int b = 0; b < a->B; b++)
            for (int t = 0; t < a->T; t++)
                for (int64_t i = 0; i < ln->n_out; i++) a->rate[l][i] += nm_view_at(&lv, t, b, i) > 0.5f;
        for (int64_t i = 0; i < ln->n_out; i++) a->rate[l][i] /= a->B * a->T * a->dt;
    }
    return NM_OK;
}

static json_t *jarray(const double *v, int64_t n) {
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

/* recording.json: what the figures show, in the layout `neuromorph plot` reads. */
static nm_status write_recording(const nm_graph *g, const activity *a, const char *path) {
    json_t *root = json_object(), *sp = json_object(), *tr = json_object(), *items = json_array(), *rates = json_array();
    json_t *t = json_array(), *nr = json_array();
    for (int64_t k = 0; k < a->n_spikes; k++) {
        json_array_append_new(t, json_real(a->st[k]));
        json_array_append_new(nr, json_integer(a->sn[k]));
    }
    json_object_set_new(root, "format", json_string("neuromorph recording 1"));
    json_object_set_new(root, "layer", json_string(nm_graph_node(g, a->L)->name));
    json_object_set_new(root, "dt", json_real(a->dt));
    json_object_set_new(root, "steps", json_integer(a->T));
    json_object_set_new(root, "samples", json_integer(a->S));
    json_object_set_new(sp, "n_neurons", json_integer(a->n));
    json_object_set_new(sp, "t", t);
    json_object_set_new(sp, "neuron", nr);
    json_object_set_new(root, "spikes", sp);
    json_object_set_new(tr, "threshold", isfinite(a->threshold) ? json_real(a->threshold) : json_null());
    json_object_set_new(tr, "t", jarray(a->tt, a->T));
    for (int k = 0; k < a->n_tr; k++) {
        json_t *it = json_object();
        json_object_set_new(it, "neuron", json_integer(a->tr_neuron[k]));
        json_object_set_new(it, "membrane", jarray(a->tv + (size_t)k * a->T, a->T));
        if (a->ti) json_object_set_new(it, "current", jarray(a->ti + (size_t)k * a->T, a->T));
        json_array_append_new(items, it);
    }
    json_object_set_new(tr, "items", items);
    json_object_set_new(root, "traces", tr);
    for (int l = 0; l < a->n_layers; l++) {
        json_t *it = json_object();
        json_object_set_new(it, "layer", json_string(nm_graph_node(g, a->layer[l])->name));
        json_object_set_new(it, "samples", json_integer(a->B));
        json_object_set_new(it, "rate_hz", jarray(a->rate[l], a->rate_n[l]));
        json_array_append_new(rates, it);
    }
    json_object_set_new(root, "rates", rates);
    nm_status st = nm_file_write_atomic(path, dump_json, root);
    json_decref(root);
    return st;
}

static nm_status draw_activity(const nm_graph *g, const activity *a, const char *dir, nm_report *rep) {
    char path[4096], title[160];
    const char *name = nm_graph_node(g, a->L)->name;
    nm_plot p;
    nm_plot_default(&p);
    snprintf(title, sizeof title, "Spikes of layer %s, %d test samples of %d steps", name, a->S, a->T);
    p.title = title;
    p.ylabel = "neuron";
    nm_raster r = {a->st, a->sn, a->n_spikes, a->n, 0, a->S * a->T * a->dt, a->dt};
    nm_status st = nm_plot_raster(&p, &r, fig_path(path, sizeof path, dir, "fig_raster.png", rep, "raster"));
    if (st) return st;
    if (a->n_tr > 0) {
        nm_series v[N_TRACES], c[N_TRACES];
        char lab[N_TRACES][32];
        for (int k = 0; k < a->n_tr; k++) {
            snprintf(lab[k], sizeof lab[k], "neuron %d", a->tr_neuron[k]);
            v[k] = (nm_series){lab[k], a->tt, a->tv + (size_t)k * a->T, NULL, a->T};
            if (a->ti) c[k] = (nm_series){lab[k], a->tt, a->ti + (size_t)k * a->T, NULL, a->T};
        }
        nm_traces tr = {v, a->n_tr, a->threshold, a->ti ? c : NULL, a->ti ? a->n_tr : 0, "membrane potential (before reset)",
                        "input current"};
        nm_plot_default(&p);
        snprintf(title, sizeof title, "Layer %s, test sample 1", name);
        p.title = title;
        if ((st = nm_plot_traces(&p, &tr, fig_path(path, sizeof path, dir, "fig_traces.png", rep, "traces")))) return st;
    }
    nm_series s[MAX_LAYERS];
    for (int l = 0; l < a->n_layers; l++)
        s[l] = (nm_series){nm_graph_node(g, a->layer[l])->name, NULL, a->rate[l], NULL, (int)a->rate_n[l]};
    nm_plot_default(&p);
    snprintf(title, sizeof title, "Firing rates over %d test samples", a->B);
    p.title = title;
    p.xlabel = "firing rate (Hz)";
    p.ylabel = "neurons";
    return nm_plot_hist(&p, s, a->n_layers, 0, 0, 0, fig_path(path, sizeof path, dir, "fig_rates.png", rep, "rates"));
}

/* The raster's input images, labelled with their class. */
static nm_status draw_inputs(const nm_dataset *test, const float *xb, const int *lab, int n, const char *dir, nm_report *rep) {
    nm_image im[RASTER_SAMPLES];
    char labels[RASTER_SAMPLES][32];
    const int64_t ss = (int64_t)test->rows * test->cols;
    for (int k = 0; k < n; k++) {
        snprintf(labels[k], sizeof labels[k], "sample %d: class %d", k + 1, lab[k]);
        im[k] = (nm_image){xb + k * ss, test->rows, test->cols, labels[k]};
    }
    nm_plot p;
    nm_plot_default(&p);
    p.title = "The raster's input samples, in order";
    p.width = 800;
    p.height = 460;
    char path[4096];
    return nm_plot_images(&p, im, n, 4, NM_CMAP_GRAY, 0, 1, fig_path(path, sizeof path, dir, "fig_inputs.png", rep, "inputs"));
}

int fig_activity(const nm_graph *g, const nm_dataset *test, const nm_train_config *tc, const char *dir, nm_report *rep) {
    activity a = {0};
    a.T = tc->n_steps;
    a.dt = tc->dt;
    a.B = (int)(test->n < RATE_SAMPLES ? test->n : RATE_SAMPLES);
    if (tc->test_limit > 0 && tc->test_limit < a.B) a.B = (int)tc->test_limit;
    a.S = a.B < RASTER_SAMPLES ? a.B : RASTER_SAMPLES;
    a.L = -1;
    for (int id = 0; id < nm_graph_n_nodes(g) && a.n_layers < MAX_LAYERS; id++)
        if (nm_node_kind_spiking(nm_graph_node(g, id)->kind)) {
            if (a.L < 0) a.L = id;
            a.layer[a.n_layers++] = id;
        }
    if (a.L < 0 || a.B <= 0) {
        printf("no spiking layer (or no test sample): no raster, traces or rates\n");
        return 0;
    }
    a.n = nm_graph_node(g, a.L)->n_out;
    nm_encoder enc;
    nm_encoder_default(&enc, tc->encoding, tc->n_steps, tc->seed);
    const int rows = nm_encoder_time_rows(&enc);
    const int64_t ni = nm_graph_input_size(g), ss = nm_dataset_sample_size(test);
    nm_exec_config ec = {tc->dt, tc->n_steps, a.B, tc->sparse, tc->sparse_max_density};
    nm_exec *x = NULL;
    float *xb = malloc((size_t)a.B * (size_t)(ss > ni ? ss : ni) * sizeof *xb);
    float *xin = malloc((size_t)rows * a.B * ni * sizeof *xin);
    int64_t *idx = malloc((size_t)a.B * sizeof *idx);
    int *lab = malloc((size_t)a.B * sizeof *lab);
    nm_status st = NM_OK;
    if (!xb || !xin || !idx || !lab) st = nm__error(NM_NOMEM, "out of memory for the figures' forward pass");
    if (!st) {
        for (int b = 0; b < a.B; b++) idx[b] = b;
        nm_dataset_batch(test, idx, a.B, xb, lab);
        nm_encode(&enc, xb, a.B, ni, idx, 0, xin);
        if (!(st = nm_exec_create(g, &ec, &x)) && !(st = nm_exec_forward(x, xin, rows, a.B)) && !(st = record(g, x, &a))) {
            char path[4096];
            if (!(st = write_recording(g, &a, fig_path(path, sizeof path, dir, "recording.json", rep, "recording"))))
                st = draw_activity(g, &a, dir, rep);
            if (!st && ss == (int64_t)test->rows * test->cols) /* static images: the raster's inputs */
                st = draw_inputs(test, xb, lab, a.S, dir, rep);
        }
    }
    nm_exec_destroy(x);
    free(xb);
    free(xin);
    free(idx);
    free(lab);
    activity_free(&a);
    nm_viz_release(); /* font caches: leak checkers see only what is ours */
    return st ? cli_fail(st) : 0;
}

/* ---- chip figures ------------------------------------------------------------------- */

void fig_duration_name(double s, char *buf, size_t cap) {
    static const struct { double s; const char *u; } U[] = {
        {365 * 86400.0, "y"}, {30 * 86400.0, "mo"}, {86400, "d"}, {3600, "h"}, {60, "min"}};
    for (size_t k = 0; k < sizeof U / sizeof U[0]; k++)
        if (s >= U[k].s) {
            snprintf(buf, cap, "%.3g %s", s / U[k].s, U[k].u);
            return;
        }
    snprintf(buf, cap, "%.3g s", s);
}

int fig_conductances(const nm_graph *g, const nm_chip_profile *prof, uint64_t seed, const double *times, int n_times,
                     const char *dir, nm_report *rep) {
    nm_chip *chip = NULL;
    nm_status st = nm_chip_realize(g, prof, seed, &chip);
    if (st) return cli_fail(st);
    int node = -1;
    for (int id = 0; id < nm_graph_n_nodes(g) && node < 0; id++)
        if (nm_chip_xbar(chip, id)) node = id;
    if (node < 0) { /* a digital chip: no conductances */
        nm_chip_destroy(chip);
        return 0;
    }
    const nm_node *nd = nm_graph_node(g, node);
    const int64_t m = nd->n_out * nd->n_in;
    if (m > 0x7fffffff) {
        nm_chip_destroy(chip);
        return 0;
    }
    const float *W = nm_graph_params_const(g) + nd->w_off;
    double *d = malloc(3 * (size_t)m * sizeof *d);
    float *gp = malloc((size_t)m * sizeof *gp), *gm = malloc((size_t)m * sizeof *gm);
    if (!d || !gp || !gm) {
        st = nm__error(NM_NOMEM, "out of memory for the conductance histogram");
        goto done;
    }
    float wmax = 0;
    for (int64_t i = 0; i < m; i++) wmax = fmaxf(wmax, fabsf(W[i]));
    for (int64_t i = 0; i < m; i++) d[i] = wmax > 0 ? W[i] / wmax : 0;
    const double t_late = n_times > 0 ? times[n_times - 1] : 365 * 86400.0;
    const double at[2] = {1, t_late};
    for (int k = 0; k < 2; k++) {
        nm_xbar *xb = nm_chip_xbar(chip, node);
        if ((st = nm_chip_set_time(chip, at[k]))) goto done;
        nm_xbar_conductances(xb, gp, gm);
        for (int64_t i = 0; i < m; i++) d[(k + 1) * m + i] = gp[i] - gm[i];
    }
    char late[64], title[160], path[4096];
    fig_duration_name(t_late, late, sizeof late);
    char lab_late[96];
    snprintf(lab_late, sizeof lab_late, "%s after programming", late);
    nm_series s[3] = {{"target (W / max|W|)", NULL, d, NULL, (int)m},
                      {"1 s after programming", NULL, d + m, NULL, (int)m},
                      {lab_late, NULL, d + 2 * m, NULL, (int)m}};
    nm_plot p;
    nm_plot_default(&p);
    snprintf(title, sizeof title, "Layer %s on chip '%s' sample %llu", nd->name, prof->name, (unsigned long long)seed);
    p.title = title;
    p.xlabel = "conductance difference G+ \xe2\x88\x92 G\xe2\x88\x92 (units of g_max)";
    p.ylabel = "devices (pairs)";
    st = nm_plot_hist(&p, s, 3, 80, 0, 0, fig_path(path, sizeof path, dir, "fig_conductance.png", rep, "conductance"));
done:
    free(d);
    free(gp);
    free(gm);
    nm_chip_destroy(chip);
    nm_viz_release(); /* font caches: leak checkers see only what is ours */
    return st ? cli_fail(st) : 0;
}

int fig_chip_time(const double *times, const double *mean, const double *sd, int n, const char *label, const char *name,
                  const char *dir, nm_report *rep) {
    if (n <= 0) return 0;
    double *v = malloc(3 * (size_t)n * sizeof *v);
    char(*names)[24] = malloc((size_t)n * sizeof *names);
    const char **tl = malloc((size_t)n * sizeof *tl);
    if (!v || !names || !tl) {
        free(v), free(names), free(tl);
        return cli_fail(nm__error(NM_NOMEM, "out of memory"));
    }
    for (int k = 0; k < n; k++) {
        v[k] = 100 * mean[k], v[n + k] = 100 * sd[k], v[2 * n + k] = times[k];
        fig_duration_name(times[k], names[k], sizeof names[k]);
        tl[k] = names[k];
    }
    nm_series s = {label, v + 2 * n, v, v + n, n};
    nm_plot p;
    nm_plot_default(&p);
    p.title = "Accuracy after programming (mean \xc2\xb1 std over chip samples)";
    p.xlabel = "time after programming";
    p.ylabel = "test accuracy (%)";
    p.log_x = 1;
    p.xticks = v + 2 * n;
    p.xtick_labels = tl;
    p.n_xticks = n;
    char path[4096], file[128], key[96];
    snprintf(file, sizeof file, "%s.png", name);
    snprintf(key, sizeof key, "%s", name + (strncmp(name, "fig_", 4) ? 0 : 4));
    nm_status st = nm_plot_lines(&p, &s, 1, fig_path(path, sizeof path, dir, file, rep, key));
    free(v), free(names), free(tl);
    nm_viz_release(); /* font caches: leak checkers see only what is ours */
    return st ? cli_fail(st) : 0;
}
