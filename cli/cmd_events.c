/*
** neuromorph events: event-camera files and event datasets.
**
**   events info FILE [--json]            format, sensor, time span, events by polarity
**   events convert IN OUT --to FMT       between formats, with optional transforms
**   events frames FILE --out DIR         PNG frames (ON red, OFF blue)
**   events emulate [--data DIR] --out D  an idx image set -> event dataset (DVS saccades)
**
** Files are read in chunks (info streams; convert and frames hold the events in memory).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <neuromorph/neuromorph.h>

#include "opts.h"

/* ---- shared options ---------------------------------------------------- */

typedef struct ev_args {
    int         help, json, flip_lr, flip_ud, flip_pol, quiet, threads;
    const char *format, *layout, *to, *out, *data, *crop;
    int         width, height, downsample, slices, max_frames, steps, saccade_steps;
    uint64_t    denoise, window, count, seed, limit_train, limit_test;
    float       jitter, drop, threshold, mismatch, noise, amplitude;
    uint64_t    refractory;
} ev_args;

#define O(nm, ty, dst, meta, help, lo, hi) t[n++] = (opt){nm, ty, dst, meta, help, lo, hi, 0}

static int read_opts(ev_args *a, opt *t, int n) {
    O("format", OPT_STR, &a->format, "F", "input format: nmnist, aedat2, aedat3, aedat4, evt2, evt3, dat, shd (default: detect)", 1, 0);
    O("layout", OPT_STR, &a->layout, "L", "AEDAT 2.0 address layout: dvs128 (default), jaer128, tonic128, davis346", 1, 0);
    O("width", OPT_INT, &a->width, "W", "sensor width for files without one (with --height; checked)", 1, 65535);
    O("height", OPT_INT, &a->height, "H", "sensor height for files without one (with --width)", 1, 65535);
    return n;
}

static int xform_opts(ev_args *a, opt *t, int n) {
    O("denoise", OPT_U64, &a->denoise, "US", "background-activity filter: keep events with a neighbour within US us", 1, 1e12);
    O("downsample", OPT_INT, &a->downsample, "F", "divide x and y by F", 1, 65535);
    O("crop", OPT_STR, &a->crop, "X,Y,W,H", "keep the W x H window at (X, Y)", 1, 0);
    O("flip-lr", OPT_FLAG, &a->flip_lr, NULL, "mirror x", 1, 0);
    O("flip-ud", OPT_FLAG, &a->flip_ud, NULL, "mirror y", 1, 0);
    O("flip-polarity", OPT_FLAG, &a->flip_pol, NULL, "swap ON and OFF", 1, 0);
    O("jitter", OPT_FLOAT, &a->jitter, "US", "add normal time noise of sd US us (then re-sort)", 0, 1e9);
    O("drop", OPT_FLOAT, &a->drop, "P", "drop each event with probability P", 0, 1);
    O("seed", OPT_U64, &a->seed, "N", "random seed of jitter and drop (default 1)", 1, 0);
    return n;
}
#undef O

static int fail_usage(const char *cmd, const char *msg) {
    fprintf(stderr, "neuromorph events %s: %s\n", cmd, msg);
    return 2;
}

/* Splits off the leading positional arguments (FILE...): argv[0] is the subcommand. */
static int positionals(int argc, char **argv, const char **pos, int max) {
    int k = 0;
    while (1 + k < argc && argv[1 + k][0] != '-' && k < max) {
        pos[k] = argv[1 + k];
        k++;
    }
    return k;
}

/* argv with the positionals removed, for opts_parse (argv[0] stays). */
static char **strip(int argc, char **argv, int k, int *n_out) {
    char **v = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!v) return NULL;
    v[0] = argv[0];
    int n = 1;
    for (int i = 1 + k; i < argc; i++) v[n++] = argv[i];
    v[n] = NULL;
    *n_out = n;
    return v;
}

static int make_read_opts(const char *cmd, const ev_args *a, nm_event_read_opts *o) {
    nm_event_read_opts_default(o);
    if (a->format && nm_event_format_parse(a->format, &o->format)) return cli_fail(NM_INVAL);
    if (a->layout && nm_aedat2_layout_parse(a->layout, &o->aedat2)) return cli_fail(NM_INVAL);
    if ((a->width > 0) != (a->height > 0)) return fail_usage(cmd, "--width and --height go together");
    o->width = a->width;
    o->height = a->height;
    return 0;
}

/* Checks the transform options before any file is read. */
static int check_xforms(const ev_args *a, int crop[4]) {
    char extra;
    if (a->crop && (sscanf(a->crop, "%d,%d,%d,%d%c", &crop[0], &crop[1], &crop[2], &crop[3], &extra) != 4 || crop[0] < 0 ||
                    crop[1] < 0 || crop[2] < 1 || crop[3] < 1)) {
        fprintf(stderr, "neuromorph events: --crop expects X,Y,W,H (X, Y >= 0; W, H >= 1), got '%s'\n", a->crop);
        return 2;
    }
    return 0;
}

static int apply_xforms(const ev_args *a, nm_events *e) {
    nm_status st = NM_OK;
    int c[4];
    if (check_xforms(a, c)) return 2;
    if (a->crop && (st = nm_events_crop(e, c[0], c[1], c[2], c[3]))) return cli_fail(st);
    if (a->downsample > 1 && (st = nm_events_downsample(e, a->downsample, a->downsample))) return cli_fail(st);
    if (a->flip_lr || a->flip_ud || a->flip_pol) nm_events_flip(e, a->flip_lr, a->flip_ud, a->flip_pol);
    if (a->denoise && (st = nm_events_denoise(e, (int64_t)a->denoise))) return cli_fail(st);
    if (a->drop > 0) nm_events_drop(e, a->drop, a->seed);
    if (a->jitter > 0 && (st = nm_events_jitter(e, a->jitter, a->seed))) return cli_fail(st);
    return 0;
}

/* ---- info -------------------------------------------------------------- */

static int cmd_info(int argc, char **argv) {
    ev_args a = {0};
    a.seed = 1;
    opt t[16];
    int n = 0;
    t[n++] = (opt){"help", OPT_FLAG, &a.help, NULL, "show this help", 1, 0, 0};
    t[n++] = (opt){"json", OPT_FLAG, &a.json, NULL, "print one JSON object", 1, 0, 0};
    n = read_opts(&a, t, n);
    const char *pos[2];
    int k = positionals(argc, argv, pos, 2), na;
    char **v = strip(argc, argv, k, &na);
    if (!v) return cli_fail(NM_NOMEM);
    int rc = opts_parse("events info", na, v, t, n);
    free(v);
    if (rc == 1) {
        opts_usage(stdout, "events info", "FILE [options]",
                   "Reads an event file in chunks and prints its format (detected from the content), sensor size,\n"
                   "first and last timestamp (us), events by polarity, triggers and skipped words.", t, n);
        return 0;
    }
    if (rc) return rc;
    if (k != 1) return fail_usage("info", k ? "takes one FILE" : "needs a FILE (neuromorph events info FILE)");
    nm_event_read_opts o;
    if ((rc = make_read_opts("info", &a, &o))) return rc;
    nm_event_reader *r = NULL;
    nm_events *e = NULL;
    nm_status st = nm_event_reader_open(pos[0], &o, &r);
    if (!st) st = nm_events_create(0, &e);
    int64_t got = 1;
    while (!st && got) st = nm_event_reader_read(r, e, (int64_t)1 << 20, &got);
    if (st) {
        nm_events_destroy(e);
        nm_event_reader_close(r);
        return cli_fail(st);
    }
    nm_event_info in;
    nm_event_reader_info(r, &in);
    nm_events_destroy(e);
    nm_event_reader_close(r);
    const char *fmt = nm_event_format_name(in.format);
    if (a.json) {
        printf("{\"file\": \"");
        for (const char *c = pos[0]; *c; c++) {
            if (*c == '"' || *c == '\\') printf("\\%c", *c);
            else if ((unsigned char)*c < 0x20) printf("\\u%04x", *c);
            else putchar(*c);
        }
        printf("\", \"format\": \"%s\", \"width\": %d, \"height\": %d, \"size_from\": \"%s\", \"events\": %lld, \"on\": %lld, "
               "\"off\": %lld, \"t_first\": %lld, \"t_last\": %lld, \"triggers\": %lld, \"skipped\": %lld",
               fmt, in.width, in.height, in.size_from_header ? "header" : "data", (long long)in.events, (long long)in.on,
               (long long)in.off, (long long)in.t_first, (long long)in.t_last, (long long)in.triggers, (long long)in.skipped);
        if (in.format == NM_EVF_AEDAT2) printf(", \"aedat2_layout\": \"%s\"", nm_aedat2_layout_name(o.aedat2));
        printf("}\n");
    } else {
        printf("file      %s\n", pos[0]);
        printf("format    %s", fmt);
        if (in.format == NM_EVF_AEDAT2) printf(" (address layout %s; see --layout)", nm_aedat2_layout_name(o.aedat2));
        printf("\nsensor    %dx%d (%s)\n", in.width, in.height, in.size_from_header ? "from the header" : "largest x, y seen + 1");
        printf("time      %lld .. %lld us (%.6f s)\n", (long long)in.t_first, (long long)in.t_last, (double)(in.t_last - in.t_first) * 1e-6);
        printf("events    %lld (%lld ON, %lld OFF)\n", (long long)in.events, (long long)in.on, (long long)in.off);
        printf("triggers  %lld\nskipped   %lld\n", (long long)in.triggers, (long long)in.skipped);
    }
    return 0;
}

/* ---- convert ----------------------------------------------------------- */

static int cmd_convert_ev(int argc, char **argv) {
    ev_args a = {0};
    a.seed = 1;
    opt t[32];
    int n = 0;
    t[n++] = (opt){"help", OPT_FLAG, &a.help, NULL, "show this help", 1, 0, 0};
    t[n++] = (opt){"to", OPT_STR, &a.to, "FMT", "output format: nmnist, aedat2, aedat3, evt2, evt3, dat (required)", 1, 0, 0};
    n = read_opts(&a, t, n);
    n = xform_opts(&a, t, n);
    const char *pos[3];
    int k = positionals(argc, argv, pos, 3), na;
    char **v = strip(argc, argv, k, &na);
    if (!v) return cli_fail(NM_NOMEM);
    int rc = opts_parse("events convert", na, v, t, n);
    free(v);
    if (rc == 1) {
        opts_usage(stdout, "events convert", "IN OUT --to FMT [options]",
                   "Converts an event file to another format, applying the transforms given (in the order crop,\n"
                   "downsample, flips, denoise, drop, jitter).", t, n);
        return 0;
    }
    if (rc) return rc;
    if (k != 2) return fail_usage("convert", "needs IN and OUT (neuromorph events convert IN OUT --to FMT)");
    if (!a.to) return fail_usage("convert", "needs --to FMT (nmnist, aedat2, aedat3, evt2, evt3 or dat)");
    nm_event_format to;
    int crop[4];
    if (nm_event_format_parse(a.to, &to)) return cli_fail(NM_INVAL);
    if (to == NM_EVF_AEDAT4 || to == NM_EVF_SHD)
        return cli_fail(nm__error(NM_UNSUPPORTED, "writing %s files is not supported (choose nmnist, aedat2, aedat3, evt2, evt3 or dat)",
                                  a.to));
    if ((rc = check_xforms(&a, crop))) return rc;
    nm_event_read_opts o;
    if ((rc = make_read_opts("convert", &a, &o))) return rc;
    nm_events *e = NULL;
    nm_event_info in;
    nm_status st = nm_events_read(pos[0], &o, &e, &in);
    if (st) return cli_fail(st);
    if ((rc = apply_xforms(&a, e))) { nm_events_destroy(e); return rc; }
    if ((st = nm_events_sort(e)) || (st = nm_events_write(pos[1], to, e))) {
        nm_events_destroy(e);
        return cli_fail(st);
    }
    printf("%s (%s, %lld events) -> %s (%s, %lld events, %dx%d)\n", pos[0], nm_event_format_name(in.format), (long long)in.events,
           pos[1], nm_event_format_name(to), (long long)e->n, e->width, e->height);
    nm_events_destroy(e);
    return 0;
}

/* ---- frames ------------------------------------------------------------ */

static int cmd_frames(int argc, char **argv) {
    ev_args a = {0};
    a.seed = 1;
    a.max_frames = 100;
    opt t[32];
    int n = 0;
    t[n++] = (opt){"help", OPT_FLAG, &a.help, NULL, "show this help", 1, 0, 0};
    t[n++] = (opt){"out", OPT_STR, &a.out, "DIR", "directory for frame_NNNN.png (required)", 1, 0, 0};
    t[n++] = (opt){"window", OPT_U64, &a.window, "US", "one frame per US microseconds", 1, 1e15, 0};
    t[n++] = (opt){"count", OPT_U64, &a.count, "N", "one frame per N events", 1, 1e15, 0};
    t[n++] = (opt){"slices", OPT_INT, &a.slices, "N", "N frames of equal time (default 10 when no mode is given)", 1, 1000000, 0};
    t[n++] = (opt){"max", OPT_INT, &a.max_frames, "N", "write at most N PNGs (default 100)", 1, 1000000, 0};
    n = read_opts(&a, t, n);
    n = xform_opts(&a, t, n);
    const char *pos[2];
    int k = positionals(argc, argv, pos, 2), na;
    char **v = strip(argc, argv, k, &na);
    if (!v) return cli_fail(NM_NOMEM);
    int rc = opts_parse("events frames", na, v, t, n);
    free(v);
    if (rc == 1) {
        opts_usage(stdout, "events frames", "FILE --out DIR [options]",
                   "Bins events into frames (by --window, --count or --slices) and writes each as a PNG,\n"
                   "ON - OFF counts on a diverging map (ON red, OFF blue).", t, n);
        return 0;
    }
    if (rc) return rc;
    if (k != 1) return fail_usage("frames", "needs one FILE (neuromorph events frames FILE --out DIR)");
    if (!a.out) return fail_usage("frames", "needs --out DIR");
    if ((a.window > 0) + (a.count > 0) + (a.slices > 0) > 1) return fail_usage("frames", "give one of --window, --count, --slices");
    int crop[4];
    if ((rc = check_xforms(&a, crop))) return rc;
    nm_frame_opts fo = { (int64_t)a.window, (int64_t)a.count, a.slices };
    if (!a.window && !a.count && !a.slices) fo.slices = 10;
    nm_event_read_opts o;
    if ((rc = make_read_opts("frames", &a, &o))) return rc;
    nm_events *e = NULL;
    nm_status st = nm_events_read(pos[0], &o, &e, NULL);
    if (st) return cli_fail(st);
    if ((rc = apply_xforms(&a, e))) { nm_events_destroy(e); return rc; }
    float *fr = NULL;
    int64_t nf = 0;
    if ((st = nm_events_to_frames(e, &fo, &fr, &nf))) { nm_events_destroy(e); return cli_fail(st); }
    mkdir(a.out, 0777);
    const size_t plane = (size_t)e->width * (size_t)e->height;
    float *img = malloc(plane * sizeof *img);
    char path[4096];
    int64_t written = 0;
    for (int64_t f = 0; f < nf && f < a.max_frames && img; f++) {
        for (size_t i = 0; i < plane; i++) img[i] = fr[(size_t)f * 2 * plane + i] - fr[((size_t)f * 2 + 1) * plane + i];
        nm_plot p;
        nm_plot_default(&p);
        char title[64];
        snprintf(title, sizeof title, "frame %lld", (long long)f);
        p.title = title;
        nm_image im = { img, e->height, e->width, NULL };
        snprintf(path, sizeof path, "%s/frame_%04lld.png", a.out, (long long)f);
        if ((st = nm_plot_images(&p, &im, 1, 1, NM_CMAP_DIVERGING, 0, 0, path))) break;
        written++;
    }
    if (!img) st = nm__error(NM_NOMEM, "out of memory");
    free(img);
    nm_free(fr);
    int w = e->width, h = e->height;
    nm_events_destroy(e);
    if (st) return cli_fail(st);
    printf("%lld frames of %dx%d; wrote %lld PNGs to %s\n", (long long)nf, w, h, (long long)written, a.out);
    return 0;
}

/* ---- emulate ----------------------------------------------------------- */

static int emulate_split(const ev_args *a, const nm_dvs_params *dp, const nm_saccade_params *sp, const char *split,
                         int64_t limit, const char *outdir, int64_t *n_events, int64_t *n_samples) {
    nm_dataset *d = NULL;
    nm_status st = nm_dataset_load_dir(a->data, split, &d);
    if (st) return cli_fail(st);
    int64_t n = d->n;
    if (limit > 0 && limit < n) n = limit;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.nmev", outdir, split);
    const int W = d->cols + 2 * sp->margin, H = d->rows + 2 * sp->margin;
    nm_event_set_writer *w = NULL;
    /* the last frame is at 3 saccades exactly, and events may fall on it: duration + 1 */
    if ((st = nm_event_set_create(path, W, H, d->n_classes, 3 * sp->saccade_us + 1, a->steps, &w))) {
        nm_dataset_destroy(d);
        return cli_fail(st);
    }
    /* Images in blocks: emulated in parallel, written in order, so the file is the same
    ** whatever the thread count. The noise stream of image i is i (+ 2^32 for t10k). */
    enum { BLOCK = 256 };
    nm_events *ev[BLOCK] = {0};
    nm_status bst[BLOCK];
    for (int b = 0; b < BLOCK && !st; b++) st = nm_events_create(4096, &ev[b]);
    nm_progress *pr = nm_progress_create(split, n, a->quiet);
    const uint64_t base = strcmp(split, "train") ? (uint64_t)1 << 32 : 0;
    for (int64_t first = 0; first < n && !st; first += BLOCK) {
        int bn = (int)(n - first < BLOCK ? n - first : BLOCK);
        #pragma omp parallel for schedule(dynamic, 4)
        for (int b = 0; b < bn; b++) {
            const int64_t i = first + b;
            ev[b]->n = 0;
            bst[b] = nm_dvs_saccades(dp, sp, d->images + (size_t)i * d->rows * d->cols, d->rows, d->cols, base + (uint64_t)i, ev[b]);
        }
        for (int b = 0; b < bn && !st; b++) {
            if ((st = bst[b])) break;
            st = nm_event_set_add(w, ev[b], d->labels[first + b]);
            *n_events += ev[b]->n;
        }
        nm_progress_update(pr, first + bn, NULL);
    }
    nm_progress_finish(pr);
    for (int b = 0; b < BLOCK; b++) nm_events_destroy(ev[b]);
    if (st) {
        nm_event_set_abort(w);
        nm_dataset_destroy(d);
        return cli_fail(st);
    }
    *n_samples = n;
    nm_dataset_destroy(d);
    if ((st = nm_event_set_finish(w))) return cli_fail(st);
    return 0;
}

static int cmd_emulate(int argc, char **argv) {
    ev_args a = {0};
    a.seed = 1;
    a.data = NM_DEFAULT_DATA_DIR;
    a.steps = 10;
    nm_dvs_params dp;
    nm_dvs_params_default(&dp);
    nm_saccade_params sp;
    nm_saccade_params_default(&sp);
    a.threshold = dp.theta_on;
    a.mismatch = dp.mismatch;
    a.noise = dp.noise_hz;
    a.amplitude = sp.amplitude;
    a.saccade_steps = sp.steps;
    opt t[24];
    int n = 0;
    t[n++] = (opt){"help", OPT_FLAG, &a.help, NULL, "show this help", 1, 0, 0};
    t[n++] = (opt){"data", OPT_STR, &a.data, "DIR", "idx dataset directory (default " NM_DEFAULT_DATA_DIR ")", 1, 0, 0};
    t[n++] = (opt){"out", OPT_STR, &a.out, "DIR", "event dataset directory to write (required)", 1, 0, 0};
    t[n++] = (opt){"steps", OPT_INT, &a.steps, "T", "frames per sample when trained on (default 10)", 1, 65535, 0};
    t[n++] = (opt){"train-limit", OPT_U64, &a.limit_train, "N", "emulate only the first N training images", 1, 0, 0};
    t[n++] = (opt){"test-limit", OPT_U64, &a.limit_test, "N", "emulate only the first N test images", 1, 0, 0};
    t[n++] = (opt){"threshold", OPT_FLOAT, &a.threshold, "C", "log-intensity contrast threshold, ON and OFF (default 0.25)", 0.01, 10, 0};
    t[n++] = (opt){"mismatch", OPT_FLOAT, &a.mismatch, "S", "relative sd of the threshold across pixels (default 0.03)", 0, 1, 0};
    t[n++] = (opt){"refractory", OPT_U64, &a.refractory, "US", "pixel refractory time in us (default 0)", 0, 1e7, 0};
    t[n++] = (opt){"noise", OPT_FLOAT, &a.noise, "HZ", "background events per pixel per second (default 0)", 0, 1e6, 0};
    t[n++] = (opt){"amplitude", OPT_FLOAT, &a.amplitude, "PX", "saccade amplitude in pixels (default 2)", 0, 100, 0};
    t[n++] = (opt){"saccade-steps", OPT_INT, &a.saccade_steps, "N", "frames per saccade (default 20)", 1, 10000, 0};
    t[n++] = (opt){"seed", OPT_U64, &a.seed, "N", "seed of the pixel mismatch and noise (default 1)", 1, 0, 0};
    t[n++] = (opt){"threads", OPT_INT, &a.threads, "N", "threads (default: all cores)", 0, 1024, 0};
    t[n++] = (opt){"quiet", OPT_FLAG, &a.quiet, NULL, "no progress bar", 1, 0, 0};
    int rc = opts_parse("events emulate", argc, argv, t, n);
    if (rc == 1) {
        opts_usage(stdout, "events emulate", "--out DIR [options]",
                   "Turns an idx image set (both splits) into an event dataset the way N-MNIST was recorded: the\n"
                   "image, 3 pixels from each border, moves along a triangle in three 100 ms saccades in front of an\n"
                   "emulated DVS. Writes DIR/train.nmev and DIR/t10k.nmev; train on it with\n"
                   "neuromorph train --data DIR --encoding frames --steps T --arch 2x34x34-... or 2312-...", t, n);
        return 0;
    }
    if (rc) return rc;
    if (!a.out) return fail_usage("emulate", "needs --out DIR");
    dp.theta_on = dp.theta_off = a.threshold;
    dp.mismatch = a.mismatch;
    dp.noise_hz = a.noise;
    dp.refractory_us = (int64_t)a.refractory;
    dp.seed = a.seed;
    sp.amplitude = a.amplitude;
    sp.steps = a.saccade_steps;
    nm_set_threads(a.threads);
    if (mkdir(a.out, 0777) != 0) {
        struct stat sb;
        if (stat(a.out, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "neuromorph: error: cannot create the output directory '%s'\n", a.out);
            return 1;
        }
    }
    double t0 = nm_time_now();
    int64_t ev_train = 0, ev_test = 0, n_train = 0, n_test = 0;
    if ((rc = emulate_split(&a, &dp, &sp, "train", (int64_t)a.limit_train, a.out, &ev_train, &n_train))) return rc;
    if ((rc = emulate_split(&a, &dp, &sp, "t10k", (int64_t)a.limit_test, a.out, &ev_test, &n_test))) return rc;
    double s = nm_time_now() - t0;
    printf("emulated %lld training and %lld test samples: %.0f and %.0f events per sample, %.1f s (%.0f samples/s)\n",
           (long long)n_train, (long long)n_test, n_train ? (double)ev_train / (double)n_train : 0.0,
           n_test ? (double)ev_test / (double)n_test : 0.0, s, (double)(n_train + n_test) / (s > 0 ? s : 1));
    printf("wrote %s/train.nmev and %s/t10k.nmev; train with --data %s --encoding frames --steps %d\n", a.out, a.out, a.out,
           a.steps);
    return 0;
}

/* ---- dispatch ---------------------------------------------------------- */

int cmd_events(int argc, char **argv) {
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (!sub) {
        fprintf(stderr, "neuromorph events: needs a subcommand: info, convert, frames or emulate (see neuromorph events --help)\n");
        return 2;
    }
    if (!strcmp(sub, "--help") || !strcmp(sub, "help")) {
        FILE *f = stdout;
        fprintf(f, "usage: neuromorph events info|convert|frames|emulate ... (neuromorph events SUB --help)\n"
                   "  info FILE [--json]           format, sensor, times, events by polarity, triggers, skipped words\n"
                   "  convert IN OUT --to FMT      convert between formats (with transforms)\n"
                   "  frames FILE --out DIR        PNG frames\n"
                   "  emulate --out DIR            an idx image set as an event dataset (DVS saccades)\n");
        return 0;
    }
    if (!strcmp(sub, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(sub, "convert")) return cmd_convert_ev(argc - 1, argv + 1);
    if (!strcmp(sub, "frames")) return cmd_frames(argc - 1, argv + 1);
    if (!strcmp(sub, "emulate")) return cmd_emulate(argc - 1, argv + 1);
    fprintf(stderr, "neuromorph events: unknown subcommand '%s' (choose info, convert, frames or emulate)\n", sub);
    return 2;
}
