/*
** report.c: JSON reports, built by dotted key and written atomically.
**
** Every command ends by writing a report (settings, per-epoch metrics, timings) that
** plots and regression checks read back. A report is a jansson object; keys are dotted
** paths, so nm_report_set_num(r, "train.loss", x) makes or reuses the object "train"
** and sets "loss" in it. Key order is kept as inserted, so files diff cleanly between
** runs. JSON has no NaN or infinity (and jansson refuses them), so a non-finite number
** is stored as null: a diverged loss is still written, visibly, rather than failing the
** whole report. Numbers are printed with 10 significant digits, enough for metrics and
** short enough to read.
*/
#include "neuromorph/base.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#ifndef NM_VERSION
#define NM_VERSION "0.1.0"
#endif

struct nm_report {
    json_t *root; /* always an object */
};

const char *nm_version(void) { return NM_VERSION; }

/* ---- dotted keys ------------------------------------------------------- */

/* Resolves dotted `key` in `root`. On success *parent is the object that holds the last
** segment and *leaf a malloc'd copy of that segment (the caller frees it).
** With `create` (setting), missing intermediate objects are made, and a malformed key or
** an intermediate that is not an object raises NM_INVAL. Without it (looking up), every
** miss is a silent NM_NOTFOUND: a lookup must not overwrite the thread's error message. */
static nm_status resolve(json_t *root, const char *key, int create, json_t **parent, char **leaf) {
    nm_status rc = NM_OK;
    if (!key || !key[0]) return create ? nm__error(NM_INVAL, "report: empty key") : NM_NOTFOUND;
    size_t len = strlen(key);
    char *copy = malloc(len + 1);
    if (!copy) return create ? nm__error(NM_NOMEM, "report: out of memory") : NM_NOTFOUND;
    memcpy(copy, key, len + 1);

    json_t *obj = root;
    char *seg = copy;
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot) *dot = '\0';
        if (!seg[0]) {
            rc = create ? nm__error(NM_INVAL, "report: bad key '%s' (empty part)", key) : NM_NOTFOUND;
            goto fail;
        }
        if (!dot) break;
        json_t *child = json_object_get(obj, seg);
        if (!child) {
            if (!create) {
                rc = NM_NOTFOUND;
                goto fail;
            }
            child = json_object();
            if (!child || json_object_set_new(obj, seg, child) != 0) {
                rc = nm__error(NM_NOMEM, "report: out of memory");
                goto fail;
            }
        } else if (!json_is_object(child)) {
            rc = create ? nm__error(NM_INVAL, "report: key '%s': '%s' is not an object", key, seg)
                        : NM_NOTFOUND;
            goto fail;
        }
        obj = child;
        seg = dot + 1;
    }

    /* Move the last segment to the front so the caller frees one pointer. */
    memmove(copy, seg, strlen(seg) + 1);
    *parent = obj;
    *leaf = copy;
    return NM_OK;

fail:
    free(copy);
    return rc;
}

/* Sets `key` to `value`, taking ownership of value whatever happens. */
static nm_status set_value(nm_report *r, const char *key, json_t *value) {
    nm_status rc = NM_OK;
    json_t *parent = NULL;
    char *leaf = NULL;
    if (!r) {
        rc = nm__error(NM_INVAL, "report: NULL report");
        goto fail;
    }
    if (!value) {
        rc = nm__error(NM_NOMEM, "report: out of memory");
        goto fail;
    }
    rc = resolve(r->root, key, 1, &parent, &leaf);
    if (rc != NM_OK) goto fail;
    int bad = json_object_set_new(parent, leaf, value);
    value = NULL; /* consumed by jansson, even on failure */
    free(leaf);
    if (bad) return nm__error(NM_INVAL, "report: cannot set key '%s'", key);
    return NM_OK;

fail:
    json_decref(value);
    return rc;
}

static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* ---- building ---------------------------------------------------------- */

nm_report *nm_report_create(const char *command) {
    nm_report *r = malloc(sizeof *r);
    if (!r) return NULL;
    r->root = json_object();
    if (!r->root) goto fail;
    if (!command) return r; /* a bare object, e.g. an item for nm_report_push_obj */

    char when[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (nm_report_set_str(r, "command", command) != NM_OK ||
        nm_report_set_str(r, "version", nm_version()) != NM_OK ||
        nm_report_set_str(r, "time", when) != NM_OK)
        goto fail;
    return r;

fail:
    nm_report_destroy(r);
    return NULL;
}

void nm_report_destroy(nm_report *r) {
    if (!r) return;
    json_decref(r->root);
    free(r);
}

nm_status nm_report_set_num(nm_report *r, const char *key, double v) {
    return set_value(r, key, number(v));
}

nm_status nm_report_set_int(nm_report *r, const char *key, int64_t v) {
    return set_value(r, key, json_integer((json_int_t)v));
}

nm_status nm_report_set_str(nm_report *r, const char *key, const char *v) {
    if (!v) return set_value(r, key, json_null());
    /* jansson refuses invalid UTF-8, which is far likelier than running out of memory
    ** here; say so rather than "out of memory". */
    json_t *s = json_string(v);
    if (!s) return nm__error(NM_INVAL, "report: value for '%s' is not valid UTF-8", key ? key : "");
    return set_value(r, key, s);
}

nm_status nm_report_set_bool(nm_report *r, const char *key, int v) {
    return set_value(r, key, json_boolean(v));
}

/* The array at `key`, made if missing; NM_INVAL if something else is there. */
static nm_status get_array(nm_report *r, const char *key, json_t **out) {
    nm_status rc = NM_OK;
    json_t *parent = NULL;
    char *leaf = NULL;
    if (!r) return nm__error(NM_INVAL, "report: NULL report");
    rc = resolve(r->root, key, 1, &parent, &leaf);
    if (rc != NM_OK) return rc;
    json_t *arr = json_object_get(parent, leaf);
    if (!arr) {
        arr = json_array();
        if (!arr || json_object_set_new(parent, leaf, arr) != 0) {
            rc = nm__error(NM_NOMEM, "report: out of memory");
            goto fail;
        }
    } else if (!json_is_array(arr)) {
        rc = nm__error(NM_INVAL, "report: key '%s' is not an array", key);
        goto fail;
    }
    *out = arr;

fail:
    free(leaf);
    return rc;
}

nm_status nm_report_push_num(nm_report *r, const char *key, double v) {
    json_t *arr = NULL;
    nm_status rc = get_array(r, key, &arr);
    if (rc != NM_OK) return rc;
    if (json_array_append_new(arr, number(v)) != 0)
        return nm__error(NM_NOMEM, "report: out of memory");
    return NM_OK;
}

nm_status nm_report_push_obj(nm_report *r, const char *key, nm_report *item) {
    /* The item is consumed on every path, so callers never need to clean up after
    ** a failed push. */
    if (!item) return nm__error(NM_INVAL, "report: NULL item for '%s'", key ? key : "");
    json_t *arr = NULL;
    nm_status rc = get_array(r, key, &arr);
    if (rc == NM_OK && json_array_append(arr, item->root) != 0)
        rc = nm__error(NM_NOMEM, "report: out of memory");
    nm_report_destroy(item); /* the array holds its own reference on success */
    return rc;
}

double nm_report_get_num(const nm_report *r, const char *key, double dflt) {
    json_t *parent = NULL;
    char *leaf = NULL;
    if (!r) return dflt;
    if (resolve(r->root, key, 0, &parent, &leaf) != NM_OK) return dflt;
    json_t *v = json_object_get(parent, leaf);
    free(leaf);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* ---- files ------------------------------------------------------------- */

static nm_status write_text(FILE *f, void *user) {
    const char *text = user;
    if (fputs(text, f) == EOF || fputc('\n', f) == EOF)
        return nm__error(NM_IO, "report: write failed");
    return NM_OK;
}

nm_status nm_report_write(const nm_report *r, const char *path) {
    if (!r || !path) return nm__error(NM_INVAL, "nm_report_write: NULL argument");
    char *text = json_dumps(r->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!text) return nm__error(NM_NOMEM, "cannot write '%s': out of memory", path);
    nm_status rc = nm_file_write_atomic(path, write_text, text);
    free(text);
    return rc;
}

nm_status nm_report_read(const char *path, nm_report **out) {
    nm_status rc = NM_OK;
    json_t *root = NULL;
    nm_report *r = NULL;
    if (!path || !out) return nm__error(NM_INVAL, "nm_report_read: NULL argument");

    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return nm__error(NM_NOTFOUND, "cannot read '%s': %s", path, strerror(errno));
        return nm__error(NM_IO, "cannot read '%s': %s", path, strerror(errno));
    }
    json_error_t err;
    root = json_loadf(f, 0, &err);
    fclose(f);
    if (!root) {
        rc = nm__error(NM_FORMAT, "bad JSON in '%s' at line %d, column %d: %s", path, err.line,
                       err.column, err.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        rc = nm__error(NM_FORMAT, "bad report '%s': top level is not a JSON object", path);
        goto fail;
    }
    r = malloc(sizeof *r);
    if (!r) {
        rc = nm__error(NM_NOMEM, "cannot read '%s': out of memory", path);
        goto fail;
    }
    r->root = root;
    *out = r;
    return NM_OK;

fail:
    json_decref(root);
    return rc;
}
