/*
** profile.c: chip profiles, read from JSON files.
**
** A profile says what a chip is: where its weights live (crossbars of some device, or
** digital memory of some resolution), its converters, the mismatch of its analog neurons,
** its size, speed and energy figures, and where every one of those numbers comes from.
** Shipped profiles live in profiles/ *.json; a user adds one by writing a file.
**
** ---- File format ----------------------------------------------------------------------
**
**   {
**     "name": "pcm",                 1-31 letters, digits, '-', '_'; equal to the file's
**                                    base name when the profile is loaded by name
**     "description": "one line",     1-255 characters
**     "analog": true,                weights in crossbars of "device"; false: digital
**     "device": {                    required when analog, absent otherwise
**       "kind": "pcm",               ideal, quantized, rram, pcm or table
**       "g_max_us": 25,              uS, (0, 1e6]
**       "levels": 0,                 any kind: 0 = analog, else 2 .. 2^24 uniform levels
**                                    (a quantized device needs >= 2)
**       rram:  "g_min" [0, 1), "prog_sigma" [4 numbers], "relax_mu" [-1, 1],
**              "relax_sigma" [0, 1], "relax_t0" (s, > 0), "read_sigma" [0, 1],
**              "p_stuck_on" [0, 1], "p_stuck_off" [0, 1], "d2d" [0, 1)
**       pcm:   "prog_coeff" [3 numbers, uS], "t0" (s, > 0), "t_read" (s, (0, 1]),
**              "prog_scale", "drift_scale", "read_scale" [0, 100], "read_sigma" [0, 1]
**       table: "table" (a measured device table, nm_device_table_load's format, the path
**              relative to the profile's directory), "read_sigma" [0, 1]
**     },                             (names as in nm_device_params, without "pcm_")
**     "crossbar": {                  required when analog, absent otherwise
**       "tile_rows", "tile_cols" [1, 65536], "n_pairs" [1, 4], "pair_base" [1, 1024],
**       "input_scaling": "absmax" | "constant", "dac_bits" (0: ideal, or 2..24),
**       "dac_range" (> 0), "adc_bits" (0: ideal, or 2..24), "adc_range" (> 0),
**       "adc_noise" (>= 0), "ir_drop" [0, 100], "ir_g_ratio" (> 0)
**     },                             (as nm_xbar_config)
**     "weight_bits": 0,              digital weight resolution incl. sign: 0 (float) or 2..32
**     "neurons": {                   optional: absent = ideal neurons
**       "mismatch": { "tau_mem", "tau_syn", "v_th", "v_leak", "gain" },  spreads, [0, 1)
**       "noise": 0.01,               temporal noise, std per step, units of v_th - v_leak
**       "calibration": { "trim_bits" [0, 16], "trim_range" (0, 100], "noise" [0, 10] }
**     },                             (as nm_neuron_mismatch; "noise" there is calib_noise)
**     "size": { "cores", "neurons_per_core", "axons_per_core" },   integers >= 1
**                                    optional: "synapses_per_core" (synapse memory, >= 1),
**                                    "mesh_x", "mesh_y" (the cores' 2-d mesh, both or
**                                    neither), "fan_in_split" (0/1: partial sums of one
**                                    neuron may be added across cores)
**     "time_scale": 1,               speed-up over biological time, > 0
**     "energy": { "synaptic_op_pj": 23.6, "static_power_w": 0.1 },  optional, <= 16
**                                    entries, >= 0, names ending in _pj, _uj or _w (the unit)
**     "sources": { "<field path or section>": "citation", ... }
**   }
**
** Rules. Every field of a present section is required (device: kind, g_max_us, levels and
** the fields of its kind); numbers must have the right type (integers where counts are
** meant) and lie in the ranges above; an unknown key is an error, so a typo cannot pass
** silently; and every number needs a source: a "sources" key equal to its path
** ("crossbar.adc_bits") or to one of its sections ("crossbar"). Where a number is an
** assumption, its source says so. A "sources" key must name something in the file.
** Then the device is built (nm_device_create) and the crossbar configuration checked
** (nm_xbar_config_check), so a profile that loads is one the chip code accepts. Every
** message names the file and the field: "profile 'x.json': crossbar.adc_bits is missing".
**
** Search. A name ("pcm") is looked up as <dir>/pcm.json in, in order: $NM_PROFILE_DIR,
** <exe dir>/../profiles, <exe dir>/../share/neuromorph/profiles (the executable found with
** /proc/self/exe), then the source tree's profiles/ (NM_SOURCE_PROFILE_DIR, set by the
** build). The first file found is the profile: a broken file is an error, not skipped.
**
** Sources at print time. nm_chip_profile holds the numbers, not the citations, so print
** and report read the citations again from the file the profile came from: the last file
** loaded on this thread, or the name on the search path, taken only if it still holds
** exactly these numbers.
*/
#include <neuromorph/hw.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define MAX_FILE_BYTES (1 << 20)   /* a profile is a few KB; anything near this is not one */
#define MAX_PATHS 160              /* field paths one profile can hold                     */
#define MAX_LISTED 256             /* profiles `chip list` shows                           */
#define MAX_DIRS 4

/* ---- field tables --------------------------------------------------------------------- */

typedef enum { T_INT, T_FLOAT, T_DOUBLE, T_FLOATS } ftype;

enum {
    LO_OPEN = 1,   /* lo itself is outside the range               */
    HI_OPEN = 2,   /* hi itself is outside the range               */
    ZERO_OK = 4    /* 0 is allowed besides [lo, hi] (integers)     */
};

typedef struct field {
    const char *key;
    ftype       type;
    size_t      off;     /* into nm_chip_profile */
    int         n;       /* T_FLOATS: the element count */
    double      lo, hi;
    unsigned    flags;
} field;

#define OFF(member) offsetof(nm_chip_profile, member)

static const field device_common[] = {
    {"g_max_us", T_FLOAT, OFF(device.g_max_us), 1, 0, 1e6, LO_OPEN},
    {"levels", T_INT, OFF(device.levels), 1, 2, 1 << 24, ZERO_OK},
};
static const field device_rram[] = {
    {"g_min", T_FLOAT, OFF(device.g_min), 1, 0, 1, HI_OPEN},
    {"prog_sigma", T_FLOATS, OFF(device.prog_sigma), 4, -10, 10, 0},
    {"relax_mu", T_FLOAT, OFF(device.relax_mu), 1, -1, 1, 0},
    {"relax_sigma", T_FLOAT, OFF(device.relax_sigma), 1, 0, 1, 0},
    {"relax_t0", T_FLOAT, OFF(device.relax_t0), 1, 0, 1e9, LO_OPEN},
    {"read_sigma", T_FLOAT, OFF(device.read_sigma), 1, 0, 1, 0},
    {"p_stuck_on", T_FLOAT, OFF(device.p_stuck_on), 1, 0, 1, 0},
    {"p_stuck_off", T_FLOAT, OFF(device.p_stuck_off), 1, 0, 1, 0},
    {"d2d", T_FLOAT, OFF(device.d2d), 1, 0, 1, HI_OPEN},
};
static const field device_pcm[] = {
    {"prog_coeff", T_FLOATS, OFF(device.pcm_prog_coeff), 3, -100, 100, 0},
    {"t0", T_FLOAT, OFF(device.pcm_t0), 1, 0, 1e9, LO_OPEN},
    {"t_read", T_FLOAT, OFF(device.pcm_t_read), 1, 0, 1, LO_OPEN},
    {"prog_scale", T_FLOAT, OFF(device.pcm_prog_scale), 1, 0, 100, 0},
    {"drift_scale", T_FLOAT, OFF(device.pcm_drift_scale), 1, 0, 100, 0},
    {"read_scale", T_FLOAT, OFF(device.pcm_read_scale), 1, 0, 100, 0},
    {"read_sigma", T_FLOAT, OFF(device.read_sigma), 1, 0, 1, 0},
};
static const field device_table[] = {
    {"read_sigma", T_FLOAT, OFF(device.read_sigma), 1, 0, 1, 0},
};

static const field crossbar_fields[] = {
    {"tile_rows", T_INT, OFF(xbar.tile_rows), 1, 1, 65536, 0},
    {"tile_cols", T_INT, OFF(xbar.tile_cols), 1, 1, 65536, 0},
    {"n_pairs", T_INT, OFF(xbar.n_pairs), 1, 1, 4, 0},
    {"pair_base", T_FLOAT, OFF(xbar.pair_base), 1, 1, 1024, 0},
    {"dac_bits", T_INT, OFF(xbar.dac_bits), 1, 2, 24, ZERO_OK},
    {"dac_range", T_FLOAT, OFF(xbar.dac_range), 1, 0, 1e6, LO_OPEN},
    {"adc_bits", T_INT, OFF(xbar.adc_bits), 1, 2, 24, ZERO_OK},
    {"adc_range", T_FLOAT, OFF(xbar.adc_range), 1, 0, 1e9, LO_OPEN},
    {"adc_noise", T_FLOAT, OFF(xbar.adc_noise), 1, 0, 1e6, 0},
    {"ir_drop", T_FLOAT, OFF(xbar.ir_drop), 1, 0, 100, 0},
    {"ir_g_ratio", T_FLOAT, OFF(xbar.ir_g_ratio), 1, 0, 1e12, LO_OPEN},
};

static const field mismatch_fields[] = {
    {"tau_mem", T_FLOAT, OFF(neuron.tau_mem), 1, 0, 1, HI_OPEN},
    {"tau_syn", T_FLOAT, OFF(neuron.tau_syn), 1, 0, 1, HI_OPEN},
    {"v_th", T_FLOAT, OFF(neuron.v_th), 1, 0, 1, HI_OPEN},
    {"v_leak", T_FLOAT, OFF(neuron.v_leak), 1, 0, 1, HI_OPEN},
    {"gain", T_FLOAT, OFF(neuron.gain), 1, 0, 1, HI_OPEN},
};
static const field neurons_fields[] = {
    {"noise", T_FLOAT, OFF(neuron.noise), 1, 0, 1, 0},
};
static const field calibration_fields[] = {
    {"trim_bits", T_INT, OFF(neuron.trim_bits), 1, 0, 16, 0},
    {"trim_range", T_FLOAT, OFF(neuron.trim_range), 1, 0, 100, LO_OPEN},
    {"noise", T_FLOAT, OFF(neuron.calib_noise), 1, 0, 10, 0},
};

static const field size_fields[] = {
    {"cores", T_INT, OFF(cores), 1, 1, INT_MAX, 0},
    {"neurons_per_core", T_INT, OFF(neurons_per_core), 1, 1, INT_MAX, 0},
    {"axons_per_core", T_INT, OFF(axons_per_core), 1, 1, INT_MAX, 0},
};
/* Optional size fields, for the mapping (module map); absent: 0 (fan_in_split: -1). */
static const field size_optional[] = {
    {"synapses_per_core", T_INT, OFF(synapses_per_core), 1, 1, INT_MAX, 0},
    {"mesh_x", T_INT, OFF(mesh_x), 1, 1, 65536, 0},
    {"mesh_y", T_INT, OFF(mesh_y), 1, 1, 65536, 0},
    {"fan_in_split", T_INT, OFF(fan_in_split), 1, 0, 1, 0},
};
static const char *const size_optional_keys[] = {"synapses_per_core", "mesh_x", "mesh_y", "fan_in_split"};

static const field top_fields[] = {
    {"weight_bits", T_INT, OFF(weight_bits), 1, 2, 32, ZERO_OK},
    {"time_scale", T_DOUBLE, OFF(time_scale), 1, 0, 1e12, LO_OPEN},
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Keys every level knows besides its field table. */
static const char *const top_keys[] = {"name", "description", "analog", "device", "crossbar", "weight_bits",
                                       "neurons", "size", "time_scale", "energy", "sources"};
static const char *const neurons_keys[] = {"mismatch", "noise", "calibration"};

/* ---- loading context ------------------------------------------------------------------- */

typedef struct ctx {
    const char      *file;                 /* as opened, for messages            */
    nm_chip_profile *p;
    char             num[MAX_PATHS][64];   /* numeric fields, for source coverage */
    int              n_num;
    char             seen[MAX_PATHS][64];  /* every field and section present    */
    int              n_seen;
} ctx;

/* "profile 'FILE': MSG" through nm__error. */
static nm_status perr(const ctx *c, nm_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static nm_status perr(const ctx *c, nm_status code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nm__error(code, "profile '%s': %s", c->file, msg);
}

static void join(char *out, size_t cap, const char *section, const char *key) {
    if (section && *section) snprintf(out, cap, "%s.%s", section, key);
    else snprintf(out, cap, "%s", key);
}

static nm_status mark(ctx *c, char (*list)[64], int *n, const char *section, const char *key) {
    if (*n >= MAX_PATHS) return perr(c, NM_FORMAT, "too many fields");
    join(list[*n], sizeof list[0], section, key);
    (*n)++;
    return NM_OK;
}
static nm_status mark_seen(ctx *c, const char *section, const char *key) {
    return mark(c, c->seen, &c->n_seen, section, key);
}
static nm_status mark_num(ctx *c, const char *section, const char *key) {
    nm_status rc = mark(c, c->num, &c->n_num, section, key);
    return rc ? rc : mark_seen(c, section, key);
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    default: return "null";
    }
}

/* "between 1 and 65536", "0 or between 2 and 32", "in (0, 1e+06]". */
static void range_text(const field *f, char *buf, size_t cap) {
    if (f->type == T_INT)
        snprintf(buf, cap, "%sbetween %.0f and %.0f", f->flags & ZERO_OK ? "0 or " : "", f->lo, f->hi);
    else
        snprintf(buf, cap, "in %c%g, %g%c", f->flags & LO_OPEN ? '(' : '[', f->lo, f->hi, f->flags & HI_OPEN ? ')' : ']');
}

static int in_range(const field *f, double x) {
    if (f->type == T_INT && x == 0 && (f->flags & ZERO_OK)) return 1;
    if (f->flags & LO_OPEN ? !(x > f->lo) : !(x >= f->lo)) return 0;
    if (f->flags & HI_OPEN ? !(x < f->hi) : !(x <= f->hi)) return 0;
    return 1;
}

/* One number of field f (element `idx` of an array, or -1) into x, type and range checked. */
static nm_status get_number(ctx *c, const field *f, const char *path, int idx, const json_t *v, double *x) {
    char where[96], rt[64];
    if (idx >= 0) snprintf(where, sizeof where, "%s[%d]", path, idx);
    else snprintf(where, sizeof where, "%s", path);
    if (!json_is_number(v))
        return perr(c, NM_FORMAT, "%s must be %s, not %s", where, f->type == T_INT ? "an integer" : "a number",
                    json_kind(v));
    *x = json_number_value(v);
    /* 64 written as 64.0 or 6.4e1 is still the integer 64 */
    if (f->type == T_INT && *x != floor(*x))
        return perr(c, NM_FORMAT, "%s must be an integer, not %g", where, *x);
    if (!in_range(f, *x)) {
        range_text(f, rt, sizeof rt);
        return perr(c, NM_RANGE, "%s must be %s, not %g", where, rt, *x);
    }
    return NM_OK;
}

static nm_status parse_field(ctx *c, const field *f, const char *section, const json_t *v) {
    char path[96];
    nm_status rc;
    double x;
    join(path, sizeof path, section, f->key);
    char *dst = (char *)c->p + f->off;
    switch (f->type) {
    case T_INT:
        if ((rc = get_number(c, f, path, -1, v, &x))) return rc;
        *(int *)dst = (int)x;
        break;
    case T_FLOAT:
        if ((rc = get_number(c, f, path, -1, v, &x))) return rc;
        *(float *)dst = (float)x;
        break;
    case T_DOUBLE:
        if ((rc = get_number(c, f, path, -1, v, &x))) return rc;
        *(double *)dst = x;
        break;
    case T_FLOATS:
        if (!json_is_array(v) || (int)json_array_size(v) != f->n)
        {
            if (json_is_array(v))
                return perr(c, NM_FORMAT, "%s must be an array of %d numbers, not of %d", path, f->n,
                            (int)json_array_size(v));
            return perr(c, NM_FORMAT, "%s must be an array of %d numbers, not %s", path, f->n, json_kind(v));
        }
        for (int i = 0; i < f->n; i++) {
            if ((rc = get_number(c, f, path, i, json_array_get(v, (size_t)i), &x))) return rc;
            ((float *)dst)[i] = (float)x;
        }
        break;
    }
    return mark_num(c, section, f->key);
}

/* "a, b, c" of the keys a section accepts, for the unknown-key message. */
static void known_keys(const field *const *tables, const int *counts, int n_tables, const char *const *extra,
                       int n_extra, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int e = 0; e < n_extra; e++)
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s", len ? ", " : "", extra[e]);
    for (int t = 0; t < n_tables; t++)
        for (int i = 0; i < counts[t]; i++)
            if (len < cap) len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", tables[t][i].key);
}

/* A section object: rejects keys not in the tables or `extra` (those the caller reads), then
** reads every field of the tables, all required. `what` words the unknown-key message
** ("a pcm device"). */
static nm_status parse_section(ctx *c, const json_t *obj, const char *section, const field *const *tables,
                               const int *counts, int n_tables, const char *const *extra, int n_extra,
                               const char *what) {
    const char *key;
    json_t *v;
    nm_status rc;
    if (!json_is_object(obj)) return perr(c, NM_FORMAT, "%s must be an object, not %s", section, json_kind(obj));
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (int e = 0; e < n_extra && !ok; e++) ok = !strcmp(key, extra[e]);
        for (int t = 0; t < n_tables && !ok; t++)
            for (int i = 0; i < counts[t] && !ok; i++) ok = !strcmp(key, tables[t][i].key);
        if (!ok) {
            char known[512];
            known_keys(tables, counts, n_tables, extra, n_extra, known, sizeof known);
            return perr(c, NM_FORMAT, "%s.%s is not a field of %s (fields: %s)", section, key, what, known);
        }
    }
    for (int t = 0; t < n_tables; t++)
        for (int i = 0; i < counts[t]; i++) {
            const field *f = &tables[t][i];
            json_t *fv = json_object_get(obj, f->key);
            if (!fv) return perr(c, NM_FORMAT, "%s.%s is missing", section, f->key);
            if ((rc = parse_field(c, f, section, fv))) return rc;
        }
    return NM_OK;
}

/* ---- sections ------------------------------------------------------------------------------ */

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 31) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-')) return 0;
    return 1;
}

/* The directory part of path ("." when none), for paths a profile names. */
static void dir_of(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, cap, ".");
    else if (slash == path) snprintf(out, cap, "/");
    else snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

static nm_status parse_device(ctx *c, const json_t *obj) {
    nm_status rc;
    if (!json_is_object(obj)) return perr(c, NM_FORMAT, "device must be an object, not %s", json_kind(obj));
    json_t *kv = json_object_get(obj, "kind");
    if (!kv) return perr(c, NM_FORMAT, "device.kind is missing");
    if (!json_is_string(kv)) return perr(c, NM_FORMAT, "device.kind must be a string, not %s", json_kind(kv));
    nm_device_kind kind;
    if (nm_device_kind_parse(json_string_value(kv), &kind))
        return perr(c, NM_FORMAT, "device.kind '%s' is not one of ideal, quantized, rram, pcm, table",
                    json_string_value(kv));
    nm_device_params_default(kind, &c->p->device);
    if ((rc = mark_seen(c, "device", "kind"))) return rc;

    const field *tables[2] = {device_common, NULL};
    int counts[2] = {COUNT(device_common), 0};
    int n_tables = 1;
    static const char *const extra_kind[] = {"kind"};
    static const char *const extra_table[] = {"kind", "table"};
    int table_kind = kind == NM_DEV_TABLE;
    if (kind == NM_DEV_RRAM) tables[1] = device_rram, counts[1] = COUNT(device_rram), n_tables = 2;
    if (kind == NM_DEV_PCM) tables[1] = device_pcm, counts[1] = COUNT(device_pcm), n_tables = 2;
    if (table_kind) tables[1] = device_table, counts[1] = COUNT(device_table), n_tables = 2;
    char what[48];
    snprintf(what, sizeof what, "a%s %s device", kind == NM_DEV_IDEAL ? "n" : "", nm_device_kind_name(kind));
    if ((rc = parse_section(c, obj, "device", tables, counts, n_tables, table_kind ? extra_table : extra_kind,
                            table_kind ? 2 : 1, what)))
        return rc;
    if (kind == NM_DEV_QUANTIZED && c->p->device.levels < 2)
        return perr(c, NM_RANGE, "device.levels must be at least 2 for a quantized device, not %d", c->p->device.levels);

    if (table_kind) {
        json_t *tv = json_object_get(obj, "table");
        if (!tv) return perr(c, NM_FORMAT, "device.table is missing (the path of a measured device table)");
        if (!json_is_string(tv) || !json_string_length(tv))
            return perr(c, NM_FORMAT, "device.table must be the path of a device table, not %s", json_kind(tv));
        const char *tp = json_string_value(tv);
        char full[2 * PATH_MAX + 2], dir[PATH_MAX];
        dir_of(c->file, dir, sizeof dir);
        if (tp[0] == '/') snprintf(full, sizeof full, "%s", tp);
        else snprintf(full, sizeof full, "%s/%s", dir, tp);
        if (nm_device_table_load(full, &c->p->device)) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", nm_errmsg());
            return perr(c, NM_FORMAT, "device.table: %s", msg);
        }
        /* the table's numbers need a source like any other */
        if ((rc = mark_num(c, "device", "table"))) return rc;
    }
    return NM_OK;
}

static nm_status parse_crossbar(ctx *c, const json_t *obj) {
    nm_status rc;
    static const char *const extra[] = {"input_scaling"};
    const field *tables[1] = {crossbar_fields};
    int counts[1] = {COUNT(crossbar_fields)};
    nm_xbar_config_default(&c->p->xbar);
    if ((rc = parse_section(c, obj, "crossbar", tables, counts, 1, extra, 1, "the crossbar"))) return rc;
    json_t *v = json_object_get(obj, "input_scaling");
    if (!v) return perr(c, NM_FORMAT, "crossbar.input_scaling is missing");
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (s && !strcmp(s, "absmax")) c->p->xbar.input_scaling = NM_INSCALE_ABSMAX;
    else if (s && !strcmp(s, "constant")) c->p->xbar.input_scaling = NM_INSCALE_CONSTANT;
    else if (s) return perr(c, NM_FORMAT, "crossbar.input_scaling '%s' is not one of absmax, constant", s);
    else return perr(c, NM_FORMAT, "crossbar.input_scaling must be \"absmax\" or \"constant\", not %s", json_kind(v));
    return mark_seen(c, "crossbar", "input_scaling");
}

static nm_status parse_neurons(ctx *c, const json_t *obj) {
    nm_status rc;
    const field *t_neurons[1] = {neurons_fields}, *t_mis[1] = {mismatch_fields}, *t_cal[1] = {calibration_fields};
    int n_neurons[1] = {COUNT(neurons_fields)}, n_mis[1] = {COUNT(mismatch_fields)}, n_cal[1] = {COUNT(calibration_fields)};
    if ((rc = parse_section(c, obj, "neurons", t_neurons, n_neurons, 1, neurons_keys, COUNT(neurons_keys),
                            "the neurons")))
        return rc;
    json_t *m = json_object_get(obj, "mismatch"), *cal = json_object_get(obj, "calibration");
    if (!m) return perr(c, NM_FORMAT, "neurons.mismatch is missing");
    if ((rc = parse_section(c, m, "neurons.mismatch", t_mis, n_mis, 1, NULL, 0, "the mismatch"))) return rc;
    if (!cal) return perr(c, NM_FORMAT, "neurons.calibration is missing (trim_bits 0: uncalibrated)");
    if ((rc = parse_section(c, cal, "neurons.calibration", t_cal, n_cal, 1, NULL, 0, "the calibration"))) return rc;
    c->p->has_mismatch = 1;
    if ((rc = mark_seen(c, "neurons", "mismatch"))) return rc;
    return mark_seen(c, "neurons", "calibration");
}

static nm_status parse_energy(ctx *c, const json_t *obj) {
    const char *key;
    json_t *v;
    nm_status rc;
    if (!json_is_object(obj)) return perr(c, NM_FORMAT, "energy must be an object, not %s", json_kind(obj));
    json_object_foreach((json_t *)obj, key, v) {
        size_t len = strlen(key);
        int ok = len > 0 && len < sizeof c->p->energy_name[0];
        for (size_t i = 0; i < len && ok; i++) ok = islower((unsigned char)key[i]) || isdigit((unsigned char)key[i]) || key[i] == '_';
        if (!ok) return perr(c, NM_FORMAT, "energy.%s: an energy name is 1-31 lower-case letters, digits and '_'", key);
        int unit = (len > 3 && !strcmp(key + len - 3, "_pj")) || (len > 3 && !strcmp(key + len - 3, "_uj")) ||
                   (len > 2 && !strcmp(key + len - 2, "_w"));
        if (!unit) return perr(c, NM_FORMAT, "energy.%s must end in its unit: _pj, _uj or _w", key);
        if (c->p->n_energy >= NM_PROFILE_MAX_ENERGY)
            return perr(c, NM_FORMAT, "energy has more than %d entries", NM_PROFILE_MAX_ENERGY);
        const field f = {key, T_DOUBLE, 0, 1, 0, 1e12, 0};
        char path[96];
        double x;
        join(path, sizeof path, "energy", key);
        if ((rc = get_number(c, &f, path, -1, v, &x))) return rc;
        snprintf(c->p->energy_name[c->p->n_energy], sizeof c->p->energy_name[0], "%s", key);
        c->p->energy_value[c->p->n_energy++] = x;
        if ((rc = mark_num(c, "energy", key))) return rc;
    }
    return NM_OK;
}

static int listed(char (*list)[64], int n, const char *path) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], path)) return 1;
    return 0;
}

/* The sources key that covers `path`: the path itself or its nearest section; NULL if none. */
static const char *cover(const json_t *sources, const char *path) {
    char buf[96];
    snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        json_t *s = json_object_get(sources, buf);
        if (s) return json_object_iter_key(json_object_iter_at((json_t *)sources, buf));
        char *dot = strrchr(buf, '.');
        if (!dot) return NULL;
        *dot = '\0';
    }
}

static nm_status check_sources(ctx *c, const json_t *sources) {
    const char *key;
    json_t *v;
    if (!json_is_object(sources)) return perr(c, NM_FORMAT, "sources must be an object, not %s", json_kind(sources));
    json_object_foreach((json_t *)sources, key, v) {
        if (!json_is_string(v) || !json_string_length(v))
            return perr(c, NM_FORMAT, "sources '%s' must be a citation (a non-empty string), not %s", key,
                        json_is_string(v) ? "an empty string" : json_kind(v));
        if (!listed(c->seen, c->n_seen, key))
            return perr(c, NM_FORMAT, "sources '%s' names no field or section of this profile", key);
    }
    for (int i = 0; i < c->n_num; i++)
        if (!cover(sources, c->num[i])) {
            char section[64];
            snprintf(section, sizeof section, "%s", c->num[i]);
            char *dot = strrchr(section, '.');
            if (dot) *dot = '\0';
            return perr(c, NM_FORMAT, "no source cited for %s (add \"%s\"%s%s%s to sources)", c->num[i], c->num[i],
                        dot ? " or \"" : "", dot ? section : "", dot ? "\"" : "");
        }
    return NM_OK;
}

/* Runs a library check and words its failure as a profile error. */
static nm_status library_check(ctx *c, nm_status rc, const char *section) {
    if (!rc) return NM_OK;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", nm_errmsg());
    return perr(c, rc, "%s: %s", section, msg);
}

/* ---- one file ------------------------------------------------------------------------------- */

/* Reads the whole file: NUL-terminated, *len bytes. */
static nm_status read_text(const ctx *c, char **text, size_t *len) {
    FILE *f = fopen(c->file, "rb");
    if (!f)
        return perr(c, errno == ENOENT ? NM_NOTFOUND : NM_IO, "cannot open: %s", strerror(errno));
    char *buf = malloc(MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        return perr(c, NM_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return perr(c, NM_IO, "read error");
    }
    if (n > MAX_FILE_BYTES) {
        free(buf);
        return perr(c, NM_FORMAT, "larger than %d bytes: not a chip profile", MAX_FILE_BYTES);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return NM_OK;
}

/* Loads and checks one file. want_name: the name it must carry (loaded by name), or NULL.
** On success *out is the profile and, if sources_out, *sources_out a new reference to the
** "sources" object. *out is untouched on error. */
static nm_status load_file(const char *path, const char *want_name, nm_chip_profile *out, json_t **sources_out) {
    nm_status rc;
    ctx *c = calloc(1, sizeof *c);
    nm_chip_profile *p = calloc(1, sizeof *p);
    char *text = NULL;
    json_t *root = NULL;
    if (!c || !p) {
        rc = nm__error(NM_NOMEM, "profile '%s': out of memory", path);
        goto done;
    }
    c->file = path;
    c->p = p;
    size_t len = 0;
    if ((rc = read_text(c, &text, &len))) goto done;
    size_t k = 0;
    while (k < len && isspace((unsigned char)text[k])) k++;
    if (k == len) {
        rc = perr(c, NM_FORMAT, "the file is empty (a chip profile is a JSON object)");
        goto done;
    }
    json_error_t err;
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err))) {
        rc = perr(c, NM_FORMAT, "not valid JSON: line %d, column %d: %s", err.line, err.column, err.text);
        goto done;
    }
    if (!json_is_object(root)) {
        rc = perr(c, NM_FORMAT, "the top level must be a JSON object, not %s", json_kind(root));
        goto done;
    }

    /* unknown top-level keys first: a misspelt section would otherwise read as missing */
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        int ok = 0;
        for (int i = 0; i < COUNT(top_keys) && !ok; i++) ok = !strcmp(key, top_keys[i]);
        if (!ok) {
            rc = perr(c, NM_FORMAT, "%s is not a field of a chip profile (fields: name, description, analog, device, "
                      "crossbar, weight_bits, neurons, size, time_scale, energy, sources)", key);
            goto done;
        }
    }

    /* name, description, analog */
    json_t *nv = json_object_get(root, "name"), *dv = json_object_get(root, "description");
    json_t *av = json_object_get(root, "analog");
    if (!nv) { rc = perr(c, NM_FORMAT, "name is missing"); goto done; }
    if (!json_is_string(nv)) { rc = perr(c, NM_FORMAT, "name must be a string, not %s", json_kind(nv)); goto done; }
    if (!valid_name(json_string_value(nv))) {
        rc = perr(c, NM_FORMAT, "name '%s' must be 1-31 letters, digits, '-' or '_'", json_string_value(nv));
        goto done;
    }
    if (want_name && strcmp(json_string_value(nv), want_name)) {
        rc = perr(c, NM_FORMAT, "name '%s' does not match the file name (expected '%s')", json_string_value(nv),
                  want_name);
        goto done;
    }
    snprintf(p->name, sizeof p->name, "%s", json_string_value(nv));
    if (!dv) { rc = perr(c, NM_FORMAT, "description is missing"); goto done; }
    if (!json_is_string(dv)) { rc = perr(c, NM_FORMAT, "description must be a string, not %s", json_kind(dv)); goto done; }
    const char *desc = json_string_value(dv);
    size_t dlen = strlen(desc);
    int one_line = 1;
    for (size_t i = 0; i < dlen; i++) one_line &= !iscntrl((unsigned char)desc[i]);
    if (dlen < 1 || dlen >= sizeof p->description || !one_line) {
        rc = perr(c, NM_FORMAT, "description must be one line of 1-%d characters", (int)sizeof p->description - 1);
        goto done;
    }
    snprintf(p->description, sizeof p->description, "%s", desc);
    if (!av) { rc = perr(c, NM_FORMAT, "analog is missing (true: weights in crossbars; false: digital)"); goto done; }
    if (!json_is_boolean(av)) { rc = perr(c, NM_FORMAT, "analog must be true or false, not %s", json_kind(av)); goto done; }
    p->analog = json_is_true(av);
    if ((rc = mark_seen(c, NULL, "name")) || (rc = mark_seen(c, NULL, "description")) || (rc = mark_seen(c, NULL, "analog")))
        goto done;

    /* device and crossbar: both present exactly when the weights are analog */
    json_t *dev = json_object_get(root, "device"), *xb = json_object_get(root, "crossbar");
    if (p->analog) {
        if (!dev) { rc = perr(c, NM_FORMAT, "device is missing (an analog chip needs one)"); goto done; }
        if (!xb) { rc = perr(c, NM_FORMAT, "crossbar is missing (an analog chip needs one)"); goto done; }
        if ((rc = parse_device(c, dev)) || (rc = parse_crossbar(c, xb))) goto done;
        if ((rc = mark_seen(c, NULL, "device")) || (rc = mark_seen(c, NULL, "crossbar"))) goto done;
    } else {
        if (dev || xb) {
            rc = perr(c, NM_FORMAT, "%s is given but analog is false (a digital chip has no device or crossbar)",
                      dev ? "device" : "crossbar");
            goto done;
        }
        nm_device_params_default(NM_DEV_IDEAL, &p->device);
        nm_xbar_config_default(&p->xbar);
    }

    /* weight_bits, time_scale */
    for (int i = 0; i < COUNT(top_fields); i++) {
        json_t *fv = json_object_get(root, top_fields[i].key);
        if (!fv) { rc = perr(c, NM_FORMAT, "%s is missing", top_fields[i].key); goto done; }
        if ((rc = parse_field(c, &top_fields[i], NULL, fv))) goto done;
    }

    json_t *neu = json_object_get(root, "neurons");
    if (neu && ((rc = parse_neurons(c, neu)) || (rc = mark_seen(c, NULL, "neurons")))) goto done;

    json_t *sz = json_object_get(root, "size");
    if (!sz) { rc = perr(c, NM_FORMAT, "size is missing (cores, neurons_per_core, axons_per_core)"); goto done; }
    {
        const field *t[1] = {size_fields};
        int n[1] = {COUNT(size_fields)};
        if ((rc = parse_section(c, sz, "size", t, n, 1, size_optional_keys, COUNT(size_optional_keys), "the size")) ||
            (rc = mark_seen(c, NULL, "size")))
            goto done;
        p->fan_in_split = -1;
        for (int i = 0; i < COUNT(size_optional); i++) {
            json_t *fv = json_object_get(sz, size_optional[i].key);
            if (fv && (rc = parse_field(c, &size_optional[i], "size", fv))) goto done;
        }
        if (p->mesh_x && p->mesh_y && (int64_t)p->mesh_x * p->mesh_y < p->cores) {
            rc = perr(c, NM_RANGE, "size.mesh_x x size.mesh_y = %d x %d is fewer than the %d cores", p->mesh_x, p->mesh_y,
                      p->cores);
            goto done;
        }
        if (!p->mesh_x != !p->mesh_y) {
            rc = perr(c, NM_FORMAT, "size.mesh_x and size.mesh_y go together (give both or neither)");
            goto done;
        }
    }

    json_t *en = json_object_get(root, "energy");
    if (en && ((rc = parse_energy(c, en)) || (rc = mark_seen(c, NULL, "energy")))) goto done;

    json_t *src = json_object_get(root, "sources");
    if (!src) { rc = perr(c, NM_FORMAT, "sources is missing (a citation for every number)"); goto done; }
    if ((rc = check_sources(c, src))) goto done;

    /* what the chip code will be given must pass its own checks too */
    if (p->analog) {
        nm_device *d = NULL;
        if ((rc = library_check(c, nm_device_create(&p->device, &d), "device"))) goto done;
        nm_device_destroy(d);
        if ((rc = library_check(c, nm_xbar_config_check(&p->xbar), "crossbar"))) goto done;
    }

    *out = *p;
    if (sources_out) *sources_out = json_incref(src);
    rc = NM_OK;
done:
    json_decref(root);
    free(text);
    free(p);
    free(c);
    return rc;
}

/* ---- search -------------------------------------------------------------------------------- */

/* The profile directories in search order; returns how many. */
static int profile_dirs(char dirs[MAX_DIRS][PATH_MAX]) {
    int n = 0;
    const char *env = getenv("NM_PROFILE_DIR");
    if (env && *env) snprintf(dirs[n++], PATH_MAX, "%s", env);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(dirs[n++], PATH_MAX, "%.*s/../profiles", PATH_MAX - 16, exe);
            snprintf(dirs[n++], PATH_MAX, "%.*s/../share/neuromorph/profiles", PATH_MAX - 40, exe);
        }
    }
#ifdef NM_SOURCE_PROFILE_DIR
    snprintf(dirs[n++], PATH_MAX, "%s", NM_SOURCE_PROFILE_DIR);
#endif
    return n;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The file of profile `name`: 1 and its path if found. */
static int find_profile(const char *name, char *path, size_t cap) {
    char dirs[MAX_DIRS][PATH_MAX];
    int nd = profile_dirs(dirs);
    for (int i = 0; i < nd; i++) {
        snprintf(path, cap, "%.*s/%s.json", PATH_MAX - 48, dirs[i], name);
        if (is_file(path)) return 1;
    }
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* Every profile name on the search path, sorted, without duplicates. */
static int collect_names(char names[MAX_LISTED][32]) {
    char dirs[MAX_DIRS][PATH_MAX];
    int nd = profile_dirs(dirs), n = 0;
    for (int i = 0; i < nd; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d)) && n < MAX_LISTED) {
            size_t len = strlen(e->d_name);
            if (len <= 5 || strcmp(e->d_name + len - 5, ".json") || len - 5 > 31) continue;
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(len - 5), e->d_name);
            if (!valid_name(name)) continue;
            char full[PATH_MAX];
            snprintf(full, sizeof full, "%.*s/%s.json", PATH_MAX - 48, dirs[i], name);
            if (!is_file(full)) continue;
            int dup = 0;
            for (int k = 0; k < n && !dup; k++) dup = !strcmp(names[k], name);
            if (!dup) memcpy(names[n++], name, sizeof name);
        }
        closedir(d);
    }
    qsort(names, (size_t)n, sizeof names[0], cmp_name);
    return n;
}

/* The file of the last profile loaded on this thread, for print and report (see the top). */
static _Thread_local char last_path[PATH_MAX];

nm_status nm_chip_profile_load(const char *name_or_path, nm_chip_profile *out) {
    if (!name_or_path || !out) return nm__error(NM_INVAL, "nm_chip_profile_load: NULL argument");
    size_t len = strlen(name_or_path);
    int is_path = strchr(name_or_path, '/') || (len >= 5 && !strcmp(name_or_path + len - 5, ".json"));
    char path[PATH_MAX];
    nm_status rc;
    if (is_path) {
        if (len >= sizeof path) return nm__error(NM_INVAL, "profile path is too long: '%.64s...'", name_or_path);
        snprintf(path, sizeof path, "%s", name_or_path);
        rc = load_file(path, NULL, out, NULL);
    } else {
        if (!valid_name(name_or_path))
            return nm__error(NM_INVAL, "'%s' is not a chip profile name (1-31 letters, digits, '-' or '_'; "
                             "give a path with a '/' or ending in .json for a file)", name_or_path);
        if (!find_profile(name_or_path, path, sizeof path)) {
            char (*names)[32] = malloc(sizeof(char[MAX_LISTED][32]));
            char avail[1024] = "";
            size_t used = 0;
            int n = names ? collect_names(names) : 0;
            for (int i = 0; i < n && used < sizeof avail; i++)
                used += (size_t)snprintf(avail + used, sizeof avail - used, "%s%s", i ? ", " : "", names[i]);
            free(names);
            if (n) return nm__error(NM_NOTFOUND, "no chip profile '%s' (available: %s)", name_or_path, avail);
            char dirs[MAX_DIRS][PATH_MAX], where[2048] = "";
            int nd = profile_dirs(dirs);
            used = 0;
            for (int i = 0; i < nd && used < sizeof where; i++)
                used += (size_t)snprintf(where + used, sizeof where - used, "%s%s", i ? ", " : "", dirs[i]);
            return nm__error(NM_NOTFOUND, "no chip profile '%s': no profiles found (searched %s; set NM_PROFILE_DIR)",
                             name_or_path, where);
        }
        rc = load_file(path, name_or_path, out, NULL);
    }
    if (rc == NM_OK) snprintf(last_path, sizeof last_path, "%s", path);
    return rc;
}

nm_status nm_chip_profile_list(char names[][32], int max, int *n) {
    if (!n) return nm__error(NM_INVAL, "nm_chip_profile_list: NULL argument");
    char (*all)[32] = malloc(sizeof(char[MAX_LISTED][32]));
    if (!all) return nm__error(NM_NOMEM, "profile list: out of memory");
    int total = collect_names(all);
    if (!names) *n = total;   /* a count only */
    else {
        int k = total < max ? total : (max > 0 ? max : 0);
        memcpy(names, all, sizeof all[0] * (size_t)k);
        *n = k;
    }
    free(all);
    return NM_OK;
}

/* ---- sources again, for print and report ------------------------------------------------ */

static int same_profile(const nm_chip_profile *a, const nm_chip_profile *b) {
    if (strcmp(a->name, b->name) || strcmp(a->description, b->description)) return 0;
    if (a->analog != b->analog || a->weight_bits != b->weight_bits || a->has_mismatch != b->has_mismatch) return 0;
    if (a->analog && (memcmp(&a->device, &b->device, sizeof a->device) || memcmp(&a->xbar, &b->xbar, sizeof a->xbar)))
        return 0;
    if (a->has_mismatch && memcmp(&a->neuron, &b->neuron, sizeof a->neuron)) return 0;
    if (a->cores != b->cores || a->neurons_per_core != b->neurons_per_core || a->axons_per_core != b->axons_per_core)
        return 0;
    if (a->time_scale != b->time_scale || a->n_energy != b->n_energy) return 0;
    for (int i = 0; i < a->n_energy; i++)
        if (strcmp(a->energy_name[i], b->energy_name[i]) || a->energy_value[i] != b->energy_value[i]) return 0;
    return 1;
}

/* The sources object of the file p came from (a new reference, or NULL) and its path. The
** thread's error message is left as it was: print and report do not fail. */
static json_t *find_sources(const nm_chip_profile *p, char *path, size_t cap) {
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", nm_errmsg());
    json_t *src = NULL;
    nm_chip_profile *q = malloc(sizeof *q);
    char cand[2][PATH_MAX];
    int nc = 0;
    if (last_path[0]) snprintf(cand[nc++], PATH_MAX, "%s", last_path);
    if (valid_name(p->name) && find_profile(p->name, cand[nc], PATH_MAX)) nc++;
    for (int i = 0; i < nc && q && !src; i++) {
        json_t *s = NULL;
        if (load_file(cand[i], NULL, q, &s) == NM_OK && same_profile(p, q)) {
            src = s;
            snprintf(path, cap, "%s", cand[i]);
        } else {
            json_decref(s);
        }
    }
    free(q);
    if (saved[0]) (void)nm__error(NM_INVAL, "%s", saved);
    else nm_clear_error();
    return src;
}

/* The shortest decimal that reads back as float v, as a double: 0.0175f prints as 0.0175
** rather than 0.017500000074505806. */
static double fnum(float v) {
    char b[32];
    for (int digits = 6; digits < 9; digits++) {
        snprintf(b, sizeof b, "%.*g", digits, (double)v);
        if ((float)strtod(b, NULL) == v) return strtod(b, NULL);
    }
    snprintf(b, sizeof b, "%.9g", (double)v);
    return strtod(b, NULL);
}

/* ---- print ----------------------------------------------------------------------------------- */

/* Footnotes: the sources keys cited so far, numbered in order of first use. */
typedef struct notes {
    const json_t *sources;
    const char   *key[64];
    int           n;
} notes;

static int note_for(notes *nt, const char *path) {
    if (!nt->sources) return 0;
    const char *k = cover(nt->sources, path);
    if (!k) return 0;
    for (int i = 0; i < nt->n; i++)
        if (!strcmp(nt->key[i], k)) return i + 1;
    if (nt->n >= 64) return 0;
    nt->key[nt->n++] = k;
    return nt->n;
}

/* "  key             value unit                                   [n]" */
static void row(FILE *f, notes *nt, const char *path, const char *label, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static void row(FILE *f, notes *nt, const char *path, const char *label, const char *fmt, ...) {
    char val[256], mk[16] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    int k = note_for(nt, path);
    if (k) snprintf(mk, sizeof mk, "[%d]", k);
    if (k) fprintf(f, "  %-17s %-58s %s\n", label, val, mk);
    else fprintf(f, "  %-17s %s\n", label, val);
}

/* Words of `text` wrapped at `width` columns, lines after the first indented by `indent`. */
static void wrap(FILE *f, const char *text, int first_used, int indent, int width) {
    int col = first_used;
    const char *s = text;
    while (*s) {
        while (*s == ' ') s++;
        const char *e = s;
        while (*e && *e != ' ') e++;
        int w = (int)(e - s);
        if (!w) break;
        if (col > indent && col + 1 + w > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > first_used || (col > indent && s != text)) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", w, s);
        col += w;
        s = e;
    }
    fputc('\n', f);
}

static const char *energy_unit(const char *name) {
    size_t n = strlen(name);
    if (n > 3 && !strcmp(name + n - 3, "_pj")) return "pJ";
    if (n > 3 && !strcmp(name + n - 3, "_uj")) return "uJ";
    return "W";
}

void nm_chip_profile_print(const nm_chip_profile *p, FILE *f) {
    if (!p || !f) return;
    char file[PATH_MAX] = "";
    json_t *src = find_sources(p, file, sizeof file);
    notes nt = {src, {0}, 0};
    const nm_device_params *d = &p->device;
    const nm_xbar_config *x = &p->xbar;

    fprintf(f, "chip profile %s: %s\n", p->name, p->description);
    if (file[0]) fprintf(f, "file: %s\n", file);
    fprintf(f, "\n");
    fprintf(f, "weights\n");
    if (p->analog)
        row(f, &nt, "analog", "analog", "true (in crossbars of %s devices, a differential pair per weight)",
            nm_device_kind_name(d->kind));
    else
        row(f, &nt, "analog", "analog", "false (digital weights)");
    if (p->weight_bits) row(f, &nt, "weight_bits", "weight_bits", "%d bits incl. sign", p->weight_bits);
    else row(f, &nt, "weight_bits", "weight_bits", "0 (%s)", p->analog ? "set by the device" : "float weights");
    if (p->analog) {
        fprintf(f, "device\n");
        row(f, &nt, "device.kind", "kind", "%s", nm_device_kind_name(d->kind));
        row(f, &nt, "device.g_max_us", "g_max_us", "%.9g uS (conductances below are in units of g_max)", fnum(d->g_max_us));
        if (d->levels) row(f, &nt, "device.levels", "levels", "%d (uniform over [0, g_max])", d->levels);
        else row(f, &nt, "device.levels", "levels", "0 (analog)");
        if (d->kind == NM_DEV_RRAM) {
            row(f, &nt, "device.g_min", "g_min", "%.9g g_max (a device at target 0)", fnum(d->g_min));
            row(f, &nt, "device.prog_sigma", "prog_sigma", "%.9g, %.9g, %.9g, %.9g", fnum(d->prog_sigma[0]),
                fnum(d->prog_sigma[1]), fnum(d->prog_sigma[2]), fnum(d->prog_sigma[3]));
            fprintf(f, "  %-17s %s\n", "", "(write-verify sigma = c0 + c1 x + c2 x^2 + c3 x^3, x = target, g_max)");
            row(f, &nt, "device.relax_mu", "relax_mu", "%.9g g_max per ln(1 + t/relax_t0)", fnum(d->relax_mu));
            row(f, &nt, "device.relax_sigma", "relax_sigma", "%.9g g_max per ln(1 + t/relax_t0)", fnum(d->relax_sigma));
            row(f, &nt, "device.relax_t0", "relax_t0", "%.9g s", fnum(d->relax_t0));
            row(f, &nt, "device.read_sigma", "read_sigma", "%.9g (relative to g, fresh at every read)", fnum(d->read_sigma));
            row(f, &nt, "device.p_stuck_on", "p_stuck_on", "%.9g (fraction stuck at g_max)", fnum(d->p_stuck_on));
            row(f, &nt, "device.p_stuck_off", "p_stuck_off", "%.9g (fraction stuck at g_min)", fnum(d->p_stuck_off));
            row(f, &nt, "device.d2d", "d2d", "%.9g (device-to-device spread of g_max, relative)", fnum(d->d2d));
        } else if (d->kind == NM_DEV_PCM) {
            row(f, &nt, "device.prog_coeff", "prog_coeff", "%.9g, %.9g, %.9g uS (sigma = c0 + c1 x + c2 x^2 at 25 uS)",
                fnum(d->pcm_prog_coeff[0]), fnum(d->pcm_prog_coeff[1]), fnum(d->pcm_prog_coeff[2]));
            row(f, &nt, "device.t0", "t0", "%.9g s (drift reference time)", fnum(d->pcm_t0));
            row(f, &nt, "device.t_read", "t_read", "%.9g s (read duration, 1/f noise)", fnum(d->pcm_t_read));
            row(f, &nt, "device.prog_scale", "prog_scale", "%.9g (multiplies the programming noise)", fnum(d->pcm_prog_scale));
            row(f, &nt, "device.drift_scale", "drift_scale", "%.9g (multiplies the drift exponent)", fnum(d->pcm_drift_scale));
            row(f, &nt, "device.read_scale", "read_scale", "%.9g (multiplies the accumulated 1/f noise)", fnum(d->pcm_read_scale));
            row(f, &nt, "device.read_sigma", "read_sigma", "%.9g (relative to g, fresh at every read)", fnum(d->read_sigma));
        } else if (d->kind == NM_DEV_TABLE) {
            row(f, &nt, "device.table", "table", "%d measured rows (target, mean, std)", d->n_table);
            row(f, &nt, "device.read_sigma", "read_sigma", "%.9g (relative to g, fresh at every read)", fnum(d->read_sigma));
        }
        fprintf(f, "crossbar\n");
        row(f, &nt, "crossbar.tile_rows", "tile_rows", "%d (inputs per tile)", x->tile_rows);
        row(f, &nt, "crossbar.tile_cols", "tile_cols", "%d (outputs per tile)", x->tile_cols);
        row(f, &nt, "crossbar.n_pairs", "n_pairs", "%d (differential pairs per weight)", x->n_pairs);
        row(f, &nt, "crossbar.pair_base", "pair_base", "%.9g (significance ratio of pairs%s)", fnum(x->pair_base),
            x->n_pairs > 1 ? "" : "; unused with one pair");
        row(f, &nt, "crossbar.input_scaling", "input_scaling", "%s",
            x->input_scaling == NM_INSCALE_ABSMAX ? "absmax (each input vector / its max |x|)"
                                                  : "constant (inputs as they are, clipped)");
        if (x->dac_bits) row(f, &nt, "crossbar.dac_bits", "dac_bits", "%d bits, signed", x->dac_bits);
        else row(f, &nt, "crossbar.dac_bits", "dac_bits", "0 (ideal inputs)");
        row(f, &nt, "crossbar.dac_range", "dac_range", "%.9g (input clip after scaling)", fnum(x->dac_range));
        if (x->adc_bits) row(f, &nt, "crossbar.adc_bits", "adc_bits", "%d bits, signed, per tile output", x->adc_bits);
        else row(f, &nt, "crossbar.adc_bits", "adc_bits", "0 (ideal outputs)");
        row(f, &nt, "crossbar.adc_range", "adc_range", "%.9g g_max x full-scale input", fnum(x->adc_range));
        row(f, &nt, "crossbar.adc_noise", "adc_noise", "%.9g (std at each output, same units)", fnum(x->adc_noise));
        row(f, &nt, "crossbar.ir_drop", "ir_drop", "%.9g%s", fnum(x->ir_drop), x->ir_drop ? " (scale of the first-order IR drop)" : " (none)");
        row(f, &nt, "crossbar.ir_g_ratio", "ir_g_ratio", "%.9g (1 / (R_wire G_device))", fnum(x->ir_g_ratio));
    }

    if (p->has_mismatch) {
        const nm_neuron_mismatch *m = &p->neuron;
        fprintf(f, "neurons\n");
        row(f, &nt, "neurons.mismatch.tau_mem", "tau_mem", "%.9g (relative std, fixed pattern)", fnum(m->tau_mem));
        row(f, &nt, "neurons.mismatch.tau_syn", "tau_syn", "%.9g (relative std)", fnum(m->tau_syn));
        row(f, &nt, "neurons.mismatch.v_th", "v_th", "%.9g (std, units of v_th - v_leak)", fnum(m->v_th));
        row(f, &nt, "neurons.mismatch.v_leak", "v_leak", "%.9g (std, units of v_th - v_leak)", fnum(m->v_leak));
        row(f, &nt, "neurons.mismatch.gain", "gain", "%.9g (relative std)", fnum(m->gain));
        row(f, &nt, "neurons.noise", "noise", "%.9g (temporal, std per step, units of v_th - v_leak)", fnum(m->noise));
        if (m->trim_bits) {
            row(f, &nt, "neurons.calibration.trim_bits", "trim_bits", "%d bits per parameter", m->trim_bits);
            row(f, &nt, "neurons.calibration.trim_range", "trim_range", "%.9g (trim covers +- %.9g spreads)",
                fnum(m->trim_range), fnum(4.0f * m->trim_range));
            row(f, &nt, "neurons.calibration.noise", "calib noise", "%.9g (measurement std, relative to the spread)",
                fnum(m->calib_noise));
            fprintf(f, "  %-17s tau_mem %.3g, tau_syn %.3g, v_th %.3g, v_leak %.3g, gain %.3g\n", "after calibration",
                    (double)nm_neuron_trim_step(m, m->tau_mem), (double)nm_neuron_trim_step(m, m->tau_syn),
                    (double)nm_neuron_trim_step(m, m->v_th), (double)nm_neuron_trim_step(m, m->v_leak),
                    (double)nm_neuron_trim_step(m, m->gain));
            fprintf(f, "  %-17s (largest deviation left inside the trim range: half a step + 3 sigma of the measurement)\n", "");
        } else {
            row(f, &nt, "neurons.calibration.trim_bits", "trim_bits", "0 (uncalibrated)");
        }
    } else {
        fprintf(f, "neurons\n  %-17s %s\n", "mismatch", "none (ideal neurons)");
    }
    fprintf(f, "size\n");
    row(f, &nt, "size.cores", "cores", "%d", p->cores);
    row(f, &nt, "size.neurons_per_core", "neurons_per_core", "%d (%lld neurons in all)", p->neurons_per_core,
        (long long)p->cores * p->neurons_per_core);
    row(f, &nt, "size.axons_per_core", "axons_per_core", "%d (inputs per core)", p->axons_per_core);
    fprintf(f, "speed\n");
    row(f, &nt, "time_scale", "time_scale", "%.9g x biological time", p->time_scale);
    if (p->n_energy) {
        fprintf(f, "energy\n");
        for (int i = 0; i < p->n_energy; i++) {
            char path[64];
            join(path, sizeof path, "energy", p->energy_name[i]);
            row(f, &nt, path, p->energy_name[i], "%.9g %s", p->energy_value[i], energy_unit(p->energy_name[i]));
        }
    }

    fprintf(f, "\nsources\n");
    if (!src) {
        fprintf(f, "  not available: the file this profile was read from no longer holds these numbers\n");
    } else {
        /* the keys no row cited (e.g. a source for a whole section) get numbers after */
        const char *key;
        json_t *v;
        json_object_foreach(src, key, v) note_for(&nt, key);
        for (int i = 0; i < nt.n; i++) {
            char head[128];
            int used = snprintf(head, sizeof head, "  [%d] %s: ", i + 1, nt.key[i]);
            fputs(head, f);
            wrap(f, json_string_value(json_object_get(src, nt.key[i])), used, 6, 100);
        }
    }
    json_decref(src);
}

/* ---- report --------------------------------------------------------------------------------- */

typedef struct rkey {
    char buf[160];
    const char *base;
} rkey;

static const char *K(rkey *k, const char *sub) {
    if (k->base && *k->base) snprintf(k->buf, sizeof k->buf, "%s.%s", k->base, sub);
    else snprintf(k->buf, sizeof k->buf, "%s", sub);
    return k->buf;
}

void nm_chip_profile_report(const nm_chip_profile *p, nm_report *r, const char *key) {
    if (!p || !r) return;
    rkey k = {"", key};
    const nm_device_params *d = &p->device;
    const nm_xbar_config *x = &p->xbar;
    char file[PATH_MAX] = "";
    json_t *src = find_sources(p, file, sizeof file);

    nm_report_set_str(r, K(&k, "name"), p->name);
    nm_report_set_str(r, K(&k, "description"), p->description);
    if (file[0]) nm_report_set_str(r, K(&k, "file"), file);
    nm_report_set_bool(r, K(&k, "analog"), p->analog);
    if (p->analog) {
        nm_report_set_str(r, K(&k, "device.kind"), nm_device_kind_name(d->kind));
        nm_report_set_num(r, K(&k, "device.g_max_us"), fnum(d->g_max_us));
        nm_report_set_int(r, K(&k, "device.levels"), d->levels);
        if (d->kind == NM_DEV_RRAM) {
            nm_report_set_num(r, K(&k, "device.g_min"), fnum(d->g_min));
            for (int i = 0; i < 4; i++) nm_report_push_num(r, K(&k, "device.prog_sigma"), fnum(d->prog_sigma[i]));
            nm_report_set_num(r, K(&k, "device.relax_mu"), fnum(d->relax_mu));
            nm_report_set_num(r, K(&k, "device.relax_sigma"), fnum(d->relax_sigma));
            nm_report_set_num(r, K(&k, "device.relax_t0"), d->relax_t0);
            nm_report_set_num(r, K(&k, "device.read_sigma"), fnum(d->read_sigma));
            nm_report_set_num(r, K(&k, "device.p_stuck_on"), fnum(d->p_stuck_on));
            nm_report_set_num(r, K(&k, "device.p_stuck_off"), fnum(d->p_stuck_off));
            nm_report_set_num(r, K(&k, "device.d2d"), d->d2d);
        } else if (d->kind == NM_DEV_PCM) {
            for (int i = 0; i < 3; i++) nm_report_push_num(r, K(&k, "device.prog_coeff"), fnum(d->pcm_prog_coeff[i]));
            nm_report_set_num(r, K(&k, "device.t0"), d->pcm_t0);
            nm_report_set_num(r, K(&k, "device.t_read"), fnum(d->pcm_t_read));
            nm_report_set_num(r, K(&k, "device.prog_scale"), fnum(d->pcm_prog_scale));
            nm_report_set_num(r, K(&k, "device.drift_scale"), fnum(d->pcm_drift_scale));
            nm_report_set_num(r, K(&k, "device.read_scale"), fnum(d->pcm_read_scale));
            nm_report_set_num(r, K(&k, "device.read_sigma"), fnum(d->read_sigma));
        } else if (d->kind == NM_DEV_TABLE) {
            nm_report_set_int(r, K(&k, "device.table_rows"), d->n_table);
            nm_report_set_num(r, K(&k, "device.read_sigma"), fnum(d->read_sigma));
        }
        nm_report_set_int(r, K(&k, "crossbar.tile_rows"), x->tile_rows);
        nm_report_set_int(r, K(&k, "crossbar.tile_cols"), x->tile_cols);
        nm_report_set_int(r, K(&k, "crossbar.n_pairs"), x->n_pairs);
        nm_report_set_num(r, K(&k, "crossbar.pair_base"), fnum(x->pair_base));
        nm_report_set_str(r, K(&k, "crossbar.input_scaling"), x->input_scaling == NM_INSCALE_ABSMAX ? "absmax" : "constant");
        nm_report_set_int(r, K(&k, "crossbar.dac_bits"), x->dac_bits);
        nm_report_set_num(r, K(&k, "crossbar.dac_range"), fnum(x->dac_range));
        nm_report_set_int(r, K(&k, "crossbar.adc_bits"), x->adc_bits);
        nm_report_set_num(r, K(&k, "crossbar.adc_range"), fnum(x->adc_range));
        nm_report_set_num(r, K(&k, "crossbar.adc_noise"), fnum(x->adc_noise));
        nm_report_set_num(r, K(&k, "crossbar.ir_drop"), fnum(x->ir_drop));
        nm_report_set_num(r, K(&k, "crossbar.ir_g_ratio"), fnum(x->ir_g_ratio));
    }
    nm_report_set_int(r, K(&k, "weight_bits"), p->weight_bits);
    if (p->has_mismatch) {
        const nm_neuron_mismatch *m = &p->neuron;
        nm_report_set_num(r, K(&k, "neurons.mismatch.tau_mem"), fnum(m->tau_mem));
        nm_report_set_num(r, K(&k, "neurons.mismatch.tau_syn"), fnum(m->tau_syn));
        nm_report_set_num(r, K(&k, "neurons.mismatch.v_th"), fnum(m->v_th));
        nm_report_set_num(r, K(&k, "neurons.mismatch.v_leak"), fnum(m->v_leak));
        nm_report_set_num(r, K(&k, "neurons.mismatch.gain"), fnum(m->gain));
        nm_report_set_num(r, K(&k, "neurons.noise"), fnum(m->noise));
        nm_report_set_int(r, K(&k, "neurons.calibration.trim_bits"), m->trim_bits);
        nm_report_set_num(r, K(&k, "neurons.calibration.trim_range"), fnum(m->trim_range));
        nm_report_set_num(r, K(&k, "neurons.calibration.noise"), fnum(m->calib_noise));
    }
    nm_report_set_int(r, K(&k, "size.cores"), p->cores);
    nm_report_set_int(r, K(&k, "size.neurons_per_core"), p->neurons_per_core);
    nm_report_set_int(r, K(&k, "size.axons_per_core"), p->axons_per_core);
    nm_report_set_num(r, K(&k, "time_scale"), p->time_scale);
    for (int i = 0; i < p->n_energy; i++) {
        char sub[64];
        join(sub, sizeof sub, "energy", p->energy_name[i]);
        nm_report_set_num(r, K(&k, sub), p->energy_value[i]);
    }
    /* An array of {field, source}: the keys hold dots, which report keys would nest. */
    if (src) {
        const char *sk;
        json_t *sv;
        json_object_foreach(src, sk, sv) {
            nm_report *item = nm_report_create(NULL);
            if (!item) break;
            nm_report_set_str(item, "field", sk);
            nm_report_set_str(item, "source", json_string_value(sv));
            nm_report_push_obj(r, K(&k, "sources"), item);
        }
    }
    json_decref(src);
}
