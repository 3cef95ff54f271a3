/*
** Option parsing and the CLI's shared error path.
*/
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <neuromorph/base.h>

volatile sig_atomic_t cli_stop = 0;

static void on_signal(int sig) {
    if (cli_stop) {            /* a second Ctrl-C stops at once */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    cli_stop = 1;
}

void cli_install_signals(void) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
}

int cli_fail(int status) {
    const char *msg = nm_errmsg();
    fprintf(stderr, "neuromorph: error: %s\n", msg && *msg ? msg : nm_status_str((nm_status)status));
    return 1;
}

const opt *opts_find(const opt *table, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(table[i].name, name)) return &table[i];
    return NULL;
}

static const char *type_word(opt_type t) {
    switch (t) {
    case OPT_INT: case OPT_U64: return "an integer";
    case OPT_FLOAT: return "a number";
    default: return "a value";
    }
}

static int set_value(const char *cmd, opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_INT: case OPT_U64: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno) {
            fprintf(stderr, "neuromorph %s: --%s expects %s, got '%s'\n", cmd, o->name, type_word(o->type), v);
            return 2;
        }
        if (o->lo <= o->hi && (x < o->lo || x > o->hi)) {
            fprintf(stderr, "neuromorph %s: --%s must be between %.0f and %.0f, got %lld\n", cmd, o->name, o->lo, o->hi, x);
            return 2;
        }
        if (o->type == OPT_INT) *(int *)o->dst = (int)x;
        else {
            if (x < 0) { fprintf(stderr, "neuromorph %s: --%s must not be negative, got %lld\n", cmd, o->name, x); return 2; }
            *(uint64_t *)o->dst = (uint64_t)x;
        }
        return 0;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x)) {
            fprintf(stderr, "neuromorph %s: --%s expects a number, got '%s'\n", cmd, o->name, v);
            return 2;
        }
        if (o->lo <= o->hi && (x < o->lo || x > o->hi)) {
            fprintf(stderr, "neuromorph %s: --%s must be between %g and %g, got %g\n", cmd, o->name, o->lo, o->hi, x);
            return 2;
        }
        *(float *)o->dst = (float)x;
        return 0;
    }
    case OPT_STR:
        if (!*v) { fprintf(stderr, "neuromorph %s: --%s expects a value, got an empty string\n", cmd, o->name); return 2; }
        *(const char **)o->dst = v;
        return 0;
    case OPT_FLAG:
        return 0;
    }
    return 2;
}

int opts_parse(const char *cmd, int argc, char **argv, opt *table, int n) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2]) {
            fprintf(stderr, "neuromorph %s: unexpected argument '%s' (options start with --; see neuromorph %s --help)\n", cmd, a, cmd);
            return 2;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        opt *o = NULL;
        for (int k = 0; k < n; k++)
            if (strlen(table[k].name) == len && !strncmp(table[k].name, name, len)) { o = &table[k]; break; }
        if (!o) {
            fprintf(stderr, "neuromorph %s: unknown option '--%.*s' (see neuromorph %s --help)\n", cmd, (int)len, name, cmd);
            return 2;
        }
        if (o->type == OPT_FLAG) {
            if (eq) { fprintf(stderr, "neuromorph %s: --%s takes no value\n", cmd, o->name); return 2; }
            if (!strcmp(o->name, "help")) return 1;
            *(int *)o->dst = 1;
            o->seen = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "neuromorph %s: --%s needs %s\n", cmd, o->name, type_word(o->type));
            return 2;
        }
        int rc = set_value(cmd, o, v);
        if (rc) return rc;
        o->seen = 1;
    }
    return 0;
}

void opts_usage(FILE *f, const char *cmd, const char *usage, const char *about, const opt *table, int n) {
    fprintf(f, "usage: neuromorph %s %s\n\n%s\n\noptions:\n", cmd, usage, about);
    for (int i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", table[i].name, table[i].meta ? " " : "", table[i].meta ? table[i].meta : "");
        fprintf(f, "  %-26s %s\n", left, table[i].help);
    }
}

char *cli_sibling(const char *path, const char *suffix) {
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (dot && (!slash || dot > slash) && dot != path) n = (size_t)(dot - path);
    char *s = malloc(n + strlen(suffix) + 1);
    if (!s) return NULL;
    memcpy(s, path, n);
    strcpy(s + n, suffix);
    return s;
}
