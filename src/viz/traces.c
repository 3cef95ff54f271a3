/*
** traces.c: membrane and synaptic-current traces with the threshold drawn, and the
** training curve (loss above accuracy, one epoch axis). Both are stacks of plot.c's line
** panels; what is here is the choice of units, labels and styles.
*/
#include "viz_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define THRESHOLD_RGB 0x555555

static int has_text(const char *s) { return s && s[0]; }

/* ---- traces ------------------------------------------------------------------------- */

/* Copies of the series with x in the displayed unit, plus the threshold line. */
typedef struct traces_fig {
    nm_series     *s;       /* n_v (+1 threshold) membrane series, then n_i current series */
    double        *xs;      /* their scaled x values */
    double         th_x[2], th_y[2];
    nm__viz_style *style;
    nm__viz_panel  pn[2];
    int            np;
    double         unit;    /* displayed time units per second */
} traces_fig;

static void traces_free(traces_fig *tf) {
    free(tf->s);
    free(tf->xs);
    free(tf->style);
}

static nm_status check_group(const nm_series *s, int n, const char *what) {
    if (n <= 0) return nm__error(NM_INVAL, "traces: no %s series (n = %d)", what, n);
    if (!s) return nm__error(NM_INVAL, "traces: %d %s series but the array is NULL", n, what);
    for (int k = 0; k < n; k++) {
        if (s[k].n <= 0) return nm__error(NM_INVAL, "traces: %s series %d is empty", what, k);
        if (!s[k].x || !s[k].y) return nm__error(NM_INVAL, "traces: %s series %d has a NULL array", what, k);
        for (int i = 0; i < s[k].n; i++)
            if (!isfinite(s[k].x[i]))
                return nm__error(NM_INVAL, "traces: %s series %d: x[%d] = %g is not finite", what, k, i, s[k].x[i]);
    }
    return NM_OK;
}

static nm_status traces_build(const nm_plot *p, const nm_traces *tr, traces_fig *tf) {
    memset(tf, 0, sizeof *tf);
    if (!tr) return nm__error(NM_INVAL, "traces: NULL");
    nm_status rc = check_group(tr->v, tr->n_v, "membrane");
    if (rc) return rc;
    if (tr->i && (rc = check_group(tr->i, tr->n_i, "current"))) return rc;
    const int n_i = tr->i ? tr->n_i : 0, has_th = isfinite(tr->threshold);
    const int n_all = tr->n_v + has_th + n_i;
    double xlo = INFINITY, xhi = -INFINITY;
    size_t n_x = 0;
    for (int g = 0; g < 2; g++) {
        const nm_series *s = g ? tr->i : tr->v;
        for (int k = 0; k < (g ? n_i : tr->n_v); k++) {
            n_x += (size_t)s[k].n;
            for (int i = 0; i < s[k].n; i++) xlo = fmin(xlo, s[k].x[i]), xhi = fmax(xhi, s[k].x[i]);
        }
    }
    const char *tlabel;
    const double unit = tf->unit = nm__viz_time_unit(xhi - xlo, &tlabel);
    tf->s = calloc((size_t)n_all, sizeof *tf->s);
    tf->xs = malloc(n_x * sizeof *tf->xs);
    tf->style = calloc((size_t)n_all, sizeof *tf->style);
    if (!tf->s || !tf->xs || !tf->style) {
        traces_free(tf);
        return nm__error(NM_NOMEM, "traces: out of memory");
    }
    double *x = tf->xs;
    int m = 0;
    for (int g = 0; g < 2; g++) {
        const nm_series *s = g ? tr->i : tr->v;
        for (int k = 0; k < (g ? n_i : tr->n_v); k++) {
            tf->s[m] = s[k];
            for (int i = 0; i < s[k].n; i++) x[i] = s[k].x[i] * unit;
            tf->s[m].x = x;
            tf->style[m] = (nm__viz_style){NM__VIZ_AUTO_COLOUR, 0, 0};
            if (g == 1) tf->style[m].rgb = nm__viz_palette[k % 10]; /* same colours in both panels */
            x += s[k].n;
            m++;
        }
        if (g == 0 && has_th) {
            tf->th_x[0] = xlo * unit, tf->th_x[1] = xhi * unit;
            tf->th_y[0] = tf->th_y[1] = tr->threshold;
            tf->s[m] = (nm_series){"threshold", tf->th_x, tf->th_y, NULL, 2};
            tf->style[m] = (nm__viz_style){THRESHOLD_RGB, 1, 0};
            m++;
        }
    }
    const int n_top = tr->n_v + has_th;
    nm__viz_panel *a = &tf->pn[0], *b = &tf->pn[1];
    nm__viz_panel_default(a);
    if (p) a->p = *p;
    a->p.log_x = 0; /* a linear time axis in its own unit: x settings do not apply */
    a->p.n_xticks = 0;
    a->p.ylabel = p && has_text(p->ylabel) ? p->ylabel : has_text(tr->v_label) ? tr->v_label : "membrane potential";
    a->p.xlabel = p && has_text(p->xlabel) ? p->xlabel : tlabel;
    a->s = tf->s;
    a->ns = n_top;
    a->no_markers = 1; /* a trace is a signal, not a few measured points */
    a->style = tf->style;
    tf->np = 1;
    if (n_i > 0) {
        nm__viz_panel_default(b);
        b->p.xlabel = a->p.xlabel;
        b->p.ylabel = has_text(tr->i_label) ? tr->i_label : "synaptic current";
        a->p.xlabel = NULL;
        a->hide_xtick_labels = 1;
        a->share = 0.6;
        b->share = 0.4;
        b->s = tf->s + n_top;
        b->ns = n_i;
        b->style = tf->style + n_top;
        b->no_markers = 1;
        b->no_legend = 1; /* same colours as the panel above, whose legend names them */
        tf->np = 2;
    }
    if (xhi > xlo) /* the traces span the axis, as a recording does */
        for (int k = 0; k < tf->np; k++) tf->pn[k].x_lo = xlo * unit, tf->pn[k].x_hi = xhi * unit;
    return NM_OK;
}

nm_status nm_plot_traces(const nm_plot *p, const nm_traces *tr, const char *path) {
    traces_fig tf;
    int fmt;
    nm_status rc = nm__viz_format(path, &fmt);
    if (rc || (rc = traces_build(p, tr, &tf))) return rc;
    rc = nm__viz_render(p, tf.pn, tf.np, path);
    traces_free(&tf);
    return rc;
}

nm_status nm__viz_traces_frames(const nm_plot *p, const nm_traces *tr, nm__viz_frame out[2], int *n_panels, double *unit) {
    traces_fig tf;
    nm_status rc = traces_build(p, tr, &tf);
    if (rc) return rc;
    rc = nm__viz_render_frames(p, tf.pn, tf.np, out);
    *n_panels = tf.np;
    *unit = tf.unit;
    traces_free(&tf);
    return rc;
}

/* ---- training curve ----------------------------------------------------------------- */

/* Renders to path, or (path NULL) writes the plot areas to frames. */
static nm_status curve(const nm_plot *p, const nm_curve *c, const char *path, nm__viz_frame *frames, int *n_panels) {
    nm_status rc;
    if (!c) return nm__error(NM_INVAL, "training curve: NULL");
    if (c->n <= 0) return nm__error(NM_INVAL, "training curve: no epochs (n = %d)", c->n);
    if (!c->epoch) return nm__error(NM_INVAL, "training curve: no epoch numbers (epoch is NULL)");
    if (!c->train_loss && !c->test_loss && !c->train_acc && !c->test_acc)
        return nm__error(NM_INVAL, "training curve: no loss or accuracy to draw");
    double *acc = malloc(2 * (size_t)c->n * sizeof *acc);
    if (!acc) return nm__error(NM_NOMEM, "training curve: out of memory");
    nm_series loss[2], accs[2];
    int n_loss = 0, n_acc = 0;
    if (c->train_loss) loss[n_loss++] = (nm_series){"train", c->epoch, c->train_loss, NULL, c->n};
    if (c->test_loss) loss[n_loss++] = (nm_series){"test", c->epoch, c->test_loss, NULL, c->n};
    for (int g = 0; g < 2; g++) {
        const double *a = g ? c->test_acc : c->train_acc;
        if (!a) continue;
        double *y = acc + g * c->n;
        for (int i = 0; i < c->n; i++) y[i] = 100 * a[i];
        accs[n_acc++] = (nm_series){g ? "test" : "train", c->epoch, y, NULL, c->n};
    }
    /* Colours follow the split (train blue, test orange) in both panels. */
    nm__viz_style st_loss[2], st_acc[2];
    for (int k = 0; k < 2; k++) {
        st_loss[k] = (nm__viz_style){nm__viz_palette[(c->train_loss ? k : k + 1) % 10], 0, 0};
        st_acc[k] = (nm__viz_style){nm__viz_palette[(c->train_acc ? k : k + 1) % 10], 0, 0};
    }
    /* Integer epochs get a tick each while they are few. */
    int whole = c->n <= 20;
    for (int i = 0; i < c->n && whole; i++) whole = c->epoch[i] == floor(c->epoch[i]);
    nm__viz_panel pn[2];
    int np = 0;
    if (n_loss) {
        nm__viz_panel_default(&pn[np]);
        pn[np].p.ylabel = "loss";
        pn[np].s = loss;
        pn[np].ns = n_loss;
        pn[np].style = st_loss;
        np++;
    }
    if (n_acc) {
        nm__viz_panel_default(&pn[np]);
        pn[np].p.ylabel = "accuracy (%)";
        pn[np].s = accs;
        pn[np].ns = n_acc;
        pn[np].style = st_acc;
        np++;
    }
    for (int k = 0; k < np; k++) {
        if (whole) pn[k].p.xticks = c->epoch, pn[k].p.n_xticks = c->n;
        pn[k].share = 1.0 / np;
        pn[k].hide_xtick_labels = k + 1 < np;
    }
    pn[0].p.title = p ? p->title : NULL;
    pn[np - 1].p.xlabel = p && has_text(p->xlabel) ? p->xlabel : "epoch";
    if (np == 2) pn[0].share = 0.5;
    if (path) rc = nm__viz_render(p, pn, np, path);
    else rc = nm__viz_render_frames(p, pn, np, frames), *n_panels = np;
    free(acc);
    return rc;
}

nm_status nm_plot_curve(const nm_plot *p, const nm_curve *c, const char *path) {
    int fmt;
    nm_status rc = nm__viz_format(path, &fmt);
    return rc ? rc : curve(p, c, path, NULL, NULL);
}

nm_status nm__viz_curve_frames(const nm_plot *p, const nm_curve *c, nm__viz_frame out[2], int *n_panels) {
    return curve(p, c, NULL, out, n_panels);
}
