/*
** neuromorph nir: NIR model files.
**
**   nir info FILE                    the graph: nodes, fields, shapes, value ranges, edges
**   nir import FILE [--out M]        translate to a graph; print every assumption and change
**   nir run FILE --input X.f32 --shape T,B,... --out DIR
**                                    run on a raw float32 input and write every neuron
**                                    node's observables as raw float32 [T, B, ...] + index.json
**   nir export --model M --out F.nir write one of our models as NIR
*/
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <neuromorph/neuromorph.h>

#include "opts.h"

#define MAX_DIMS 8

/* Import options shared by import and run. */
typedef struct imp_args {
    float       dt;
    const char *disc, *reset;
    int         no_broadcast;
} imp_args;

static int imp_configure(const char *cmd, const imp_args *a, nm_nir_options *o) {
    nm_nir_options_default(o);
    o->dt = a->dt;
    o->broadcast = !a->no_broadcast;
    if (nm_nir_disc_parse(a->disc, &o->disc)) {
        fprintf(stderr, "neuromorph nir %s: --discretization: %s\n", cmd, nm_errmsg());
        return 2;
    }
    if (!strcmp(a->reset, "value") || !strcmp(a->reset, "to-value")) o->reset = NM_RESET_TO_VALUE;
    else if (!strcmp(a->reset, "subtract")) o->reset = NM_RESET_SUBTRACT;
    else if (!strcmp(a->reset, "subtract-delayed")) { o->reset = NM_RESET_SUBTRACT; o->reset_delay = 1; }
    else {
        fprintf(stderr, "neuromorph nir %s: --reset expects value, subtract or subtract-delayed, got '%s'\n", cmd, a->reset);
        return 2;
    }
    return 0;
}

/* Splits "nir SUB FILE --opts" (FILE right after SUB) into FILE and an argv for opts_parse. */
static char **take_file(int argc, char **argv, const char **file, int *n_out) {
    char **v = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!v) return NULL;
    int n = 0;
    v[n++] = argv[1];
    for (int i = 2; i < argc; i++) {
        if (i == 2 && strncmp(argv[i], "--", 2)) { *file = argv[i]; continue; }
        v[n++] = argv[i];
    }
    v[n] = NULL;
    *n_out = n;
    return v;
}

static int cmd_info(int argc, char **argv) {
    const char *file = NULL;
    int help = 0, n;
    char **v = take_file(argc, argv, &file, &n);
    opt table[] = {{"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0}};
    int rc = v ? opts_parse("nir info", n, v, table, 1) : 1;
    free(v);
    if (rc == 1) {
        opts_usage(stdout, "nir info", "FILE", "Prints a NIR file's graph: every node with its type, fields, shapes and\nvalue ranges, the edges and the metadata.", table, 1);
        return 0;
    }
    if (rc) return rc;
    if (!file) { fprintf(stderr, "neuromorph nir info: a FILE is required (neuromorph nir info FILE)\n"); return 2; }
    nm_nir *doc;
    char *text;
    nm_status st = nm_nir_read(file, &doc);
    if (st) return cli_fail(st);
    st = nm_nir_info(doc, &text);
    nm_nir_destroy(doc);
    if (st) return cli_fail(st);
    fputs(text, stdout);
    free(text);
    return 0;
}

#define IMPORT_OPTS(a)                                                                                               \
    {"dt", OPT_FLOAT, &(a).dt, "S", "time step the file's time constants are read at, s (default 1e-4)", 1e-9, 10, 0},    \
    {"discretization", OPT_STR, &(a).disc, "D", "euler (as the exporters step their neurons; default) or exact", 1, 0, 0}, \
    {"reset", OPT_STR, &(a).reset, "R", "value (to v_reset, NIR's definition; default), subtract, or subtract-delayed (snnTorch's Leaky)", 1, 0, 0},             \
    {"no-broadcast", OPT_FLAG, &(a).no_broadcast, NULL, "refuse scalar neuron parameters instead of filling the layer", 1, 0, 0}

static void imp_default(imp_args *a) {
    a->dt = NM_NIR_DT_DEFAULT;
    a->disc = "euler";
    a->reset = "value";
    a->no_broadcast = 0;
}

static void print_graph(const nm_graph *g) {
    printf("graph: %d nodes, %lld parameters\n", nm_graph_n_nodes(g), (long long)nm_graph_n_params(g));
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        printf("  %-24s %-9s %lld -> %lld\n", nd->name, nm_node_kind_name(nd->kind), (long long)nd->n_in, (long long)nd->n_out);
    }
}

static int cmd_import(int argc, char **argv) {
    const char *file = NULL, *out = NULL;
    int help = 0, quiet = 0, n;
    imp_args a;
    imp_default(&a);
    char **v = take_file(argc, argv, &file, &n);
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        IMPORT_OPTS(a),
        {"out", OPT_STR, &out, "PATH", "write the imported model (.nmm, or .nir)", 1, 0, 0},
        {"quiet", OPT_FLAG, &quiet, NULL, "print only errors", 1, 0, 0},
    };
    int nt = (int)(sizeof table / sizeof table[0]);
    int rc = v ? opts_parse("nir import", n, v, table, nt) : 1;
    free(v);
    if (rc == 1) {
        opts_usage(stdout, "nir import", "FILE [options]",
                   "Translates a NIR file into a neuromorph graph and states everything assumed or changed:\n"
                   "dt, discretization, reset mode, rounded parameters, fused nodes, broadcast scalars.", table, nt);
        return 0;
    }
    if (rc) return rc;
    if (!file) { fprintf(stderr, "neuromorph nir import: a FILE is required (neuromorph nir import FILE)\n"); return 2; }
    nm_nir_options o;
    if ((rc = imp_configure("import", &a, &o))) return rc;
    nm_graph *g;
    char *rep = NULL;
    nm_status st = nm_nir_import(file, &o, &g, &rep);
    if (st) return cli_fail(st);
    if (!quiet) {
        printf("translation report for '%s':\n%s", file, rep);
        print_graph(g);
    }
    free(rep);
    if (out && (st = nm_graph_save(g, out))) rc = cli_fail(st);
    else if (out && !quiet) printf("wrote %s\n", out);
    nm_graph_destroy(g);
    return rc;
}

static int cmd_export(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *disc = "exact";
    int help = 0, quiet = 0;
    float dt = NM_NIR_DT_DEFAULT;
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        {"model", OPT_STR, &model, "PATH", "model to convert (.nmm or .nir; required)", 1, 0, 0},
        {"out", OPT_STR, &out, "PATH", "NIR file to write (required)", 1, 0, 0},
        {"dt", OPT_FLOAT, &dt, "S", "time step recorded in the file and used for Delay times, s (default 1e-4)", 1e-9, 10, 0},
        {"discretization", OPT_STR, &disc, "D", "exact (the engine's parameters; default) or euler (time constants for an Euler stepper at dt)", 1, 0, 0},
        {"quiet", OPT_FLAG, &quiet, NULL, "print only errors", 1, 0, 0},
    };
    int nt = (int)(sizeof table / sizeof table[0]);
    int rc = opts_parse("nir export", argc - 1, argv + 1, table, nt);
    if (rc == 1) {
        opts_usage(stdout, "nir export", "--model PATH --out FILE.nir [options]",
                   "Writes a neuromorph model as a NIR file: exactly the fields NIR lists, with neuromorph's\n"
                   "own settings (reset mode, learnable neurons, dt) under metadata.", table, nt);
        return 0;
    }
    if (rc) return rc;
    if (!model || !out) { fprintf(stderr, "neuromorph nir export: --model PATH and --out FILE are required\n"); return 2; }
    nm_nir_export_options eo;
    nm_nir_export_options_default(&eo);
    eo.dt = dt;
    if (nm_nir_disc_parse(disc, &eo.disc)) { fprintf(stderr, "neuromorph nir export: --discretization: %s\n", nm_errmsg()); return 2; }
    nm_graph *g;
    nm_status st = nm_graph_load(model, &g);
    if (st) return cli_fail(st);
    char *rep = NULL;
    st = nm_nir_export(g, &eo, out, &rep);
    nm_graph_destroy(g);
    if (st) { free(rep); return cli_fail(st); }
    if (!quiet) printf("wrote %s\n%s", out, rep);
    free(rep);
    return 0;
}

/* ---- run ------------------------------------------------------------------ */

static int parse_shape(const char *s, int64_t *dims, int *rank) {
    *rank = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v <= 0 || v > (1ll << 30) || *rank == MAX_DIMS) return 0;
        dims[(*rank)++] = v;
        if (*end == ',') end++;
        else if (*end) return 0;
        p = end;
    }
    return *rank >= 3;
}

static int host_is_le(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static void swap32(void *p, int64_t n) {
    uint8_t *b = p;
    for (int64_t k = 0; k < n; k++, b += 4) {
        uint8_t t = b[0]; b[0] = b[3]; b[3] = t;
        t = b[1]; b[1] = b[2]; b[2] = t;
    }
}

/* Writes n floats little-endian to DIR/file. */
static int write_f32(const char *dir, const char *file, float *v, int64_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "neuromorph: error: cannot create '%s': %s\n", path, strerror(errno)); return 1; }
    if (!host_is_le()) swap32(v, n);
    size_t w = fwrite(v, sizeof(float), (size_t)n, f);
    if (!host_is_le()) swap32(v, n);
    if (fclose(f) || w != (size_t)n) { fprintf(stderr, "neuromorph: error: cannot write '%s'\n", path); return 1; }
    return 0;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

typedef struct obs_index {
    FILE *f;
    int   count;
    int64_t T, B;
    nm_nir_observable obs[256];   /* kept for the NIRData file (data owned here) */
    int   n_obs;
} obs_index;

/* Writes one observable (T, B, n) and its index entry, and keeps a copy for NIRData. */
static int put_obs(obs_index *ix, const char *dir, const nm_node *nd, const char *what, float *v) {
    if (ix->n_obs < 256) {
        float *copy = malloc(sizeof(float) * (size_t)(ix->T * ix->B * nd->n_out));
        if (copy) {
            memcpy(copy, v, sizeof(float) * (size_t)(ix->T * ix->B * nd->n_out));
            ix->obs[ix->n_obs++] = (nm_nir_observable){nd->name, what, copy, (int)ix->T, (int)ix->B, nd->n_out};
        }
    }
    char file[256];
    snprintf(file, sizeof file, "%s.%s.f32", nd->name, what);
    for (char *p = file; *p; p++)
        if (*p == '/' || *p == '\\') *p = '_';
    if (write_f32(dir, file, v, ix->T * ix->B * nd->n_out)) return 1;
    fprintf(ix->f, "%s\n    {\"node\": ", ix->count++ ? "," : "");
    json_str(ix->f, nd->name);
    fprintf(ix->f, ", \"type\": \"%s\", \"observable\": \"%s\", \"file\": ", nm_node_kind_name(nd->kind), what);
    json_str(ix->f, file);
    fprintf(ix->f, ", \"shape\": [%lld, %lld", (long long)ix->T, (long long)ix->B);
    const int64_t *s = nd->shape;
    if (s[1] == 1 && s[2] == 1) fprintf(ix->f, ", %lld]}", (long long)s[0]);
    else if (s[1] == 1) fprintf(ix->f, ", %lld, %lld]}", (long long)s[0], (long long)s[2]);
    else fprintf(ix->f, ", %lld, %lld, %lld]}", (long long)s[0], (long long)s[1], (long long)s[2]);
    return 0;
}

/* The membrane after each step's reset, from the membrane before it and the spikes. */
static void post_reset(const float *u, const float *spk, int64_t rows, int64_t n, nm_reset reset, const float *vth, float vth0,
                       float v_reset, float *v) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t k = r * n + i;
            const float th = vth ? vth[i] : vth0, s = spk[k];
            v[k] = reset == NM_RESET_SUBTRACT ? u[k] - s * (th - v_reset) : reset == NM_RESET_TO_VALUE ? (s != 0 ? v_reset : u[k]) : u[k];
        }
}

static int run_observables(nm_exec *x, const nm_graph *g, const char *dir, obs_index *ix) {
    const int64_t T = ix->T, B = ix->B;
    for (int j = 0; j < nm_graph_n_nodes(g); j++) {
        const nm_node *nd = nm_graph_node(g, j);
        if (!nm_node_kind_neuron(nd->kind)) continue;
        const int64_t n = nd->n_out, total = T * B * n;
        float *buf = malloc(sizeof(float) * (size_t)total * 2);
        if (!buf) { fprintf(stderr, "neuromorph: error: out of memory\n"); return 1; }
        float *v = buf + total;
        int rc = 0;
        const float *u = nm_exec_membrane(x, j).data;
        if (nm_node_kind_spiking(nd->kind)) {
            memcpy(buf, nm_exec_output_floats(x, j), sizeof(float) * (size_t)total);
            rc = put_obs(ix, dir, nd, "spikes", buf);
            if (!rc && nd->kind == NM_NODE_ALIF) {
                memcpy(v, u, sizeof(float) * (size_t)total);
                rc = put_obs(ix, dir, nd, "v_before_reset", v);
            } else if (!rc) {
                if (nd->kind == NM_NODE_CUBALIF) {
                    const nm_cuba_lif_step *c = nm_exec_cuba_consts(x, j);
                    post_reset(u, buf, T * B, n, c->reset, NULL, c->v_th, c->v_reset, v);
                } else if (nd->flags & NM_NODE_LEARN_NEURON) {
                    const nm_lif_pn_step *c = nm_exec_pn_consts(x, j);
                    post_reset(u, buf, T * B, n, c->reset, c->v_th, 0, c->v_reset, v);
                } else {
                    const nm_lif_step *c = nm_exec_consts(x, j);
                    post_reset(u, buf, T * B, n, c->reset, NULL, c->v_th, c->v_reset, v);
                }
                rc = put_obs(ix, dir, nd, "v", v);
                if (!rc) {
                    memcpy(v, u, sizeof(float) * (size_t)total);
                    rc = put_obs(ix, dir, nd, "v_before_reset", v);
                }
            }
        } else {
            memcpy(v, u, sizeof(float) * (size_t)total);
            rc = put_obs(ix, dir, nd, "v", v);
        }
        if (!rc && (nd->kind == NM_NODE_CUBALIF || nd->kind == NM_NODE_CUBALI)) {
            /* I_syn[t] = alpha_syn I_syn[t-1] + gain_syn I[t], from the node's input */
            const nm_cuba_lif_step *c = nm_exec_cuba_consts(x, j);
            const int src = nm_graph_data_node(g, nd->src);
            const nm_view in = nm_exec_output(x, src);
            const float *I = nm_exec_output_floats(x, src);
            for (int64_t t = 0; t < T; t++)
                for (int64_t k = 0; k < B * n; k++) {
                    const float prev = t ? buf[(t - 1) * B * n + k] : 0.0f;
                    buf[t * B * n + k] = c->alpha_syn * prev + c->gain_syn * I[(in.rows == 1 ? 0 : t * B * n) + k];
                }
            rc = put_obs(ix, dir, nd, "i_syn", buf);
        }
        free(buf);
        if (rc) return rc;
    }
    return 0;
}

static int cmd_run(int argc, char **argv) {
    const char *file = NULL, *input = NULL, *shape = NULL, *out = NULL;
    int help = 0, quiet = 0, threads = 0, n;
    imp_args a;
    imp_default(&a);
    char **v = take_file(argc, argv, &file, &n);
    opt table[] = {
        {"help", OPT_FLAG, &help, NULL, "show this help", 1, 0, 0},
        {"input", OPT_STR, &input, "PATH", "raw little-endian float32 input of shape --shape (required)", 1, 0, 0},
        {"shape", OPT_STR, &shape, "T,B,...", "input shape: steps, batch, then the graph's input shape (required)", 1, 0, 0},
        {"out", OPT_STR, &out, "DIR", "directory for the observables and index.json (required)", 1, 0, 0},
        IMPORT_OPTS(a),
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)", 0, 1024, 0},
        {"quiet", OPT_FLAG, &quiet, NULL, "print only errors", 1, 0, 0},
    };
    int nt = (int)(sizeof table / sizeof table[0]);
    int rc = v ? opts_parse("nir run", n, v, table, nt) : 1;
    free(v);
    if (rc == 1) {
        opts_usage(stdout, "nir run", "FILE --input X.f32 --shape T,B,... --out DIR [options]",
                   "Runs a NIR graph on a raw float32 input [T, B, ...] with step --dt and writes every neuron\n"
                   "node's spikes, membrane potential after the step's reset (v) and before it (v_before_reset,\n"
                   "the value the threshold sees) and synaptic current (i_syn, CubaLIF and CubaLI) as raw\n"
                   "little-endian float32 [T, B, ...] files named NODE.OBS.f32, with DIR/index.json listing\n"
                   "names, files and shapes, and the same arrays as a NIRData file DIR/observables.h5.", table, nt);
        return 0;
    }
    if (rc) return rc;
    if (!file || !input || !shape || !out) {
        fprintf(stderr, "neuromorph nir run: FILE, --input, --shape and --out are required (see neuromorph nir run --help)\n");
        return 2;
    }
    int64_t dims[MAX_DIMS];
    int rank;
    if (!parse_shape(shape, dims, &rank)) {
        fprintf(stderr, "neuromorph nir run: --shape expects T,B,N[,...] (positive integers, at least 3), got '%s'\n", shape);
        return 2;
    }
    nm_nir_options o;
    if ((rc = imp_configure("run", &a, &o))) return rc;
    nm_set_threads(threads);
    const int64_t T = dims[0], B = dims[1];
    int64_t per = 1;
    for (int k = 2; k < rank; k++) per *= dims[k];
    if (T > 1000000 || B > 65536 || per > (1ll << 30) || T * B * per > (1ll << 31)) {
        fprintf(stderr, "neuromorph nir run: --shape %s is too large\n", shape);
        return 2;
    }
    nm_graph *g = NULL;
    nm_exec *x = NULL;
    float *in = NULL;
    char *rep = NULL;
    FILE *f = NULL;
    nm_status st = nm_nir_import(file, &o, &g, &rep);
    if (st) return cli_fail(st);
    if (per != nm_graph_input_size(g)) {
        fprintf(stderr, "neuromorph nir run: --shape %s gives %lld values per sample but the graph's input '%s' takes %lld\n", shape,
                (long long)per, nm_graph_node(g, 0)->name, (long long)nm_graph_input_size(g));
        rc = 2;
        goto done;
    }
    const int64_t count = T * B * per;
    if (!(in = malloc(sizeof(float) * (size_t)count))) { rc = cli_fail(nm__error(NM_NOMEM, "out of memory for the input")); goto done; }
    if (!(f = fopen(input, "rb"))) { fprintf(stderr, "neuromorph: error: cannot open input '%s': %s\n", input, strerror(errno)); rc = 1; goto done; }
    size_t got = fread(in, sizeof(float), (size_t)count, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != (size_t)count || extra) {
        fprintf(stderr, "neuromorph: error: input '%s' must hold %lld float32 values (%lld bytes) for shape %s; it %s\n", input,
                (long long)count, (long long)count * 4, shape, extra ? "is longer" : "is shorter");
        rc = 1;
        goto done;
    }
    if (!host_is_le()) swap32(in, count);
    nm_exec_config cfg = {o.dt, (int)T, (int)B, NM_SPARSE_AUTO, 0};
    if ((st = nm_exec_create(g, &cfg, &x)) || (st = nm_exec_forward(x, in, (int)T, (int)B))) { rc = cli_fail(st); goto done; }
    if (mkdir(out, 0777) && errno != EEXIST) { fprintf(stderr, "neuromorph: error: cannot create '%s': %s\n", out, strerror(errno)); rc = 1; goto done; }
    char ipath[4096];
    snprintf(ipath, sizeof ipath, "%s/index.json", out);
    static obs_index ix;
    ix = (obs_index){fopen(ipath, "w"), 0, T, B, {{0}}, 0};
    if (!ix.f) { fprintf(stderr, "neuromorph: error: cannot create '%s': %s\n", ipath, strerror(errno)); rc = 1; goto done; }
    fprintf(ix.f, "{\n  \"model\": ");
    json_str(ix.f, file);
    fprintf(ix.f, ",\n  \"dt\": %.8g,\n  \"steps\": %lld,\n  \"batch\": %lld,\n  \"dtype\": \"float32\",\n  \"byte_order\": \"little\",\n  \"arrays\": [",
            (double)o.dt, (long long)T, (long long)B);
    rc = run_observables(x, g, out, &ix);
    fprintf(ix.f, "\n  ],\n  \"nirdata\": \"observables.h5\"\n}\n");
    if (!rc) {
        char dpath[4096];
        snprintf(dpath, sizeof dpath, "%s/observables.h5", out);
        if ((st = nm_nir_data_write(dpath, ix.obs, ix.n_obs, o.dt))) rc = cli_fail(st);
    }
    for (int k = 0; k < ix.n_obs; k++) free((void *)ix.obs[k].data);
    if (fclose(ix.f) && !rc) { fprintf(stderr, "neuromorph: error: cannot write '%s'\n", ipath); rc = 1; }
    if (!rc && !quiet) {
        printf("%s", rep);
        printf("ran '%s': %lld steps of %g s, batch %lld, %lld spikes; %d arrays in %s (index.json)\n", file, (long long)T, (double)o.dt,
               (long long)B, (long long)nm_exec_total_spikes(x), ix.count, out);
    }
done:
    free(in);
    free(rep);
    nm_exec_destroy(x);
    nm_graph_destroy(g);
    return rc;
}

int cmd_nir(int argc, char **argv) {
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (!sub) {
        fprintf(stderr, "neuromorph nir: a subcommand is required: info, import, run or export (see neuromorph nir --help)\n");
        return 2;
    }
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        FILE *o = stdout;
        fprintf(o, "usage: neuromorph nir info|import|run|export ...\n"
                   "  info FILE                                 the graph: nodes, shapes, parameter ranges\n"
                   "  import FILE [--out M]                     translate; print every assumption and change\n"
                   "  run FILE --input X.f32 --shape T,B,... --out DIR\n"
                   "                                            run and write every neuron node's observables\n"
                   "  export --model M --out F.nir              write a neuromorph model as NIR\n"
                   "(neuromorph nir SUBCOMMAND --help for the options)\n");
        return 0;
    }
    if (!strcmp(sub, "info")) return cmd_info(argc, argv);
    if (!strcmp(sub, "import")) return cmd_import(argc, argv);
    if (!strcmp(sub, "run")) return cmd_run(argc, argv);
    if (!strcmp(sub, "export")) return cmd_export(argc, argv);
    fprintf(stderr, "neuromorph nir: unknown subcommand '%s' (info, import, run or export)\n", sub);
    return 2;
}
