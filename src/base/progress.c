/*
** progress.c: a one-line progress bar on stderr.
**
**      epoch 1/5 [#########.........]  52%  123.4 it/s  ETA 0:12  loss 0.41
**
** Long runs (training, sweeps) report progress here instead of printing. The bar is
** redrawn in place with '\r' at most ten times a second, so calling nm_progress_update
** on every iteration costs one clock read. It draws only when stderr is a terminal and
** the caller did not ask for quiet: in a log file or a pipe the carriage returns would
** turn into thousands of lines, so there the object is a silent no-op. Every function
** accepts NULL so callers need not check the result of nm_progress_create.
*/
#include "neuromorph/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BAR_WIDTH 18
#define REDRAW_S  0.1

struct nm_progress {
    char    label[64];
    char    suffix[64];
    int64_t total;     /* units for 100%; <= 0 means unknown (no bar, no ETA) */
    int64_t done;
    double  t_start;   /* nm_time_now() at create, s */
    double  t_draw;    /* time of the last draw (or of create), s */
    int     active;    /* 1 if drawing at all (terminal and not quiet) */
    int     last_len;  /* visible length of the last line, to blank leftovers */
};

/* Writes s seconds as m:ss or h:mm:ss ("--:--" when unknown or over 100 hours). */
static void fmt_duration(char *buf, size_t cap, double s) {
    if (!(s >= 0.0) || s > 360000.0) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

/* Appends to buf (capacity cap), keeping *len at the string's length even when the
** text is cut at the end of the buffer. */
static void appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    if (*len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

static void draw(nm_progress *p, double now) {
    char line[256];
    size_t cap = sizeof line, len = 0;
    double elapsed = now - p->t_start;
    double rate = elapsed > 0.0 ? (double)p->done / elapsed : 0.0;

    appendf(line, cap, &len, "\r%s", p->label);
    if (p->total > 0) {
        int64_t done = p->done < 0 ? 0 : (p->done > p->total ? p->total : p->done);
        double frac = (double)done / (double)p->total;
        int fill = (int)(frac * BAR_WIDTH);
        char bar[BAR_WIDTH + 1];
        for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        appendf(line, cap, &len, " [%s] %3d%%", bar, (int)(frac * 100.0));
    } else {
        appendf(line, cap, &len, " %lld", (long long)p->done);
    }
    appendf(line, cap, &len, "  %.1f it/s", rate);
    if (p->total > 0 && p->done < p->total && rate > 0.0) {
        char eta[32];
        fmt_duration(eta, sizeof eta, (double)(p->total - p->done) / rate);
        appendf(line, cap, &len, "  ETA %s", eta);
    } else if (p->total > 0 && p->done >= p->total) {
        char took[32];
        fmt_duration(took, sizeof took, elapsed);
        appendf(line, cap, &len, "  in %s", took);
    }
    if (p->suffix[0]) appendf(line, cap, &len, "  %s", p->suffix);

    /* Blank what is left of a longer previous line (the suffix may shrink). */
    int vis = (int)len - 1; /* without the '\r' */
    for (int i = vis; i < p->last_len && len + 1 < cap; i++) line[len++] = ' ';
    line[len] = '\0';
    p->last_len = vis;

    fputs(line, stderr);
    fflush(stderr);
    p->t_draw = now;
}

nm_progress *nm_progress_create(const char *label, int64_t total, int quiet) {
    nm_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->t_start = nm_time_now();
    /* The first draw waits one interval, so the rate is measured over a real span
    ** rather than the microseconds since create (and a sub-0.1 s loop draws once). */
    p->t_draw = p->t_start;
    p->active = !quiet && isatty(STDERR_FILENO);
    return p;
}

void nm_progress_update(nm_progress *p, int64_t done, const char *suffix) {
    if (!p) return;
    p->done = done;
    if (suffix) snprintf(p->suffix, sizeof p->suffix, "%s", suffix);
    if (!p->active) return;
    double now = nm_time_now();
    if (now - p->t_draw < REDRAW_S) return;
    draw(p, now);
}

void nm_progress_finish(nm_progress *p) {
    if (!p) return;
    if (p->active) {
        /* Show the run as complete even if the caller's last update was throttled or
        ** stopped short (an early stop still ends the bar cleanly). */
        if (p->total > 0 && p->done < p->total) p->done = p->total;
        draw(p, nm_time_now());
        fputc('\n', stderr);
        fflush(stderr);
    }
    free(p);
}
