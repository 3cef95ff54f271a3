/*
** spec.c: the simulator's network description: building it by hand (nm_sim_spec_add_*),
** reading it from JSON, checking it, and writing it back.
**
** The file format is small on purpose: populations, projections, inputs and monitors, each
** a JSON object whose keys are the fields of sim.h's structs. Every number a neuron or a
** synapse draws (parameters, initial state, weight, delay) is a constant or a distribution
** object. A key the reader does not know is an error naming the key and its entry, so a
** typo never silently falls back to a default.
**
** Errors are one line: the file, the entry ("projection 'E->I'") and the field. The reader
** reports syntax and type errors as NM_FORMAT, unknown populations and variables as
** NM_NOTFOUND, and values out of range (through nm_sim_spec_check) as NM_RANGE.
**
** The writer prints every number with the fewest digits that read back to the same bits,
** so parse(write(s)) is s, field for field. Description files are small (a list projection
** is the only thing that grows with the network), so reading builds the whole JSON tree.
*/
#include "sim_impl.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define MAX_POP_SIZE   2147483647LL         /* indices are int32 in the connectivity     */
#define MAX_NEURONS    (1LL << 40)          /* all populations together                  */
#define MAX_DT         10.0                 /* ms                                        */
#define MAX_DELAY      10000.0              /* ms: bounds the delay ring buffers         */
#define MAX_FILE_BYTES (512LL << 20)        /* a description larger than this is a mistake */
/* Delays in lists are floats: 0.7f is a hair below 0.7, which must still count as "dt". */
#define DELAY_SLACK    1e-6

static const double INF = 1.0 / 0.0;

/* STDP defaults: Pfister & Gerstner 2006, Table 4, the minimal all-to-all triplet model
** fitted to visual cortex data (tau_plus 16.8, tau_minus 33.7, tau_x 101, tau_y 125 ms);
** A_plus / A_minus give a pair rule with slightly more depression than potentiation. */
static const nm_stdp stdp_default = {NM_STDP_NONE, 0, 0, 16.8, 33.7, 101.0, 125.0, 0.01, 0.0105, 0.0, 0.0, 0.0, 1.0};

static const char *const rule_names[NM_CONN_N_RULES] = {
    "all_to_all", "one_to_one", "fixed_probability", "fixed_indegree", "fixed_outdegree", "list",
};
static const char *const mon_names[] = {"spikes", "state", "rate"};
static const char *const dist_names[] = {"constant", "uniform", "normal", "lognormal"};

const char *nm_conn_rule_name(nm_conn_rule r) {
    return (int)r >= 0 && r < NM_CONN_N_RULES ? rule_names[r] : "unknown";
}

/* ---- building by hand ------------------------------------------------------------- */

nm_sim_spec *nm_sim_spec_create(void) {
    nm_sim_spec *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->dt = 0.1;
    s->time = 1000.0;
    s->seed = 1;
    return s;
}

void nm_sim_spec_free(nm_sim_spec *s) {
    if (!s) return;
    for (int i = 0; i < s->n_pops; i++) free(s->pops[i].spike_file);
    for (int i = 0; i < s->n_projs; i++) {
        nm_sim_proj *p = &s->projs[i];
        free(p->list_pre);
        free(p->list_post);
        free(p->list_weight);
        free(p->list_delay);
    }
    for (int i = 0; i < s->n_mons; i++) free(s->mons[i].file);
    free(s->pops);
    free(s->projs);
    free(s->inputs);
    free(s->mons);
    free(s);
}

int nm_sim_spec_pop_index(const nm_sim_spec *s, const char *name) {
    if (!s || !name) return -1;
    for (int i = 0; i < s->n_pops; i++)
        if (!strcmp(s->pops[i].name, name)) return i;
    return -1;
}

/* Grows an array by one zeroed element; NULL when out of memory (the array is kept). */
static void *grow(void **arr, int *n, size_t elem) {
    if (*n >= 1 << 30) return NULL;
    char *p = realloc(*arr, ((size_t)*n + 1) * elem);
    if (!p) return NULL;
    *arr = p;
    memset(p + (size_t)*n * elem, 0, elem);
    return p + (size_t)(*n)++ * elem;
}

nm_sim_pop *nm_sim_spec_add_pop(nm_sim_spec *s, const char *name, nm_sim_model m, int64_t size) {
    nm_sim_pop *p = grow((void **)&s->pops, &s->n_pops, sizeof *p);
    if (!p) return NULL;
    snprintf(p->name, sizeof p->name, "%s", name ? name : "");
    p->model = m;
    p->size = size;
    const nm_sim_model_info *mi = nm_sim_model_get(m);
    for (int k = 0; k < NM_SIM_MAX_PARAMS; k++)
        p->param[k] = nm_dist_const(mi && k < mi->n_params ? mi->params[k].def : 0.0);
    for (int k = 0; k < NM_SIM_MAX_STATE; k++) p->init[k] = nm_dist_const(NAN);
    return p;
}

/* 1 when `name` is taken by one of the first n projections (inputs when `inputs`). */
static int name_taken(const nm_sim_spec *s, int inputs, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(inputs ? s->inputs[i].name : s->projs[i].name, name)) return 1;
    return 0;
}

/* base, or base#2, base#3 ... : the first not taken. */
static void unique_name(const nm_sim_spec *s, int inputs, int n, const char *base, char out[64]) {
    snprintf(out, 64, "%s", base);
    for (int j = 2; name_taken(s, inputs, n, out) && j < 1 << 30; j++) snprintf(out, 64, "%.50s#%d", base, j);
}

static const char *pop_name(const nm_sim_spec *s, int i) {
    return i >= 0 && i < s->n_pops ? s->pops[i].name : "?";
}

nm_sim_proj *nm_sim_spec_add_proj(nm_sim_spec *s, int pre, int post, nm_conn_rule rule) {
    char name[64], base[64];
    snprintf(base, sizeof base, "%.30s->%.30s", pop_name(s, pre), pop_name(s, post));
    unique_name(s, 0, s->n_projs, base, name);
    nm_sim_proj *p = grow((void **)&s->projs, &s->n_projs, sizeof *p);
    if (!p) return NULL;
    memcpy(p->name, name, sizeof p->name);
    p->pre = pre;
    p->post = post;
    p->rule = rule;
    p->autapses = 1;
    p->weight = nm_dist_const(0.0);
    p->delay = nm_dist_const(s->dt);   /* one step */
    p->stdp = stdp_default;
    return p;
}

nm_sim_input *nm_sim_spec_add_input(nm_sim_spec *s, int post) {
    char name[64], base[64];
    snprintf(base, sizeof base, "ext->%.50s", pop_name(s, post));
    unique_name(s, 1, s->n_inputs, base, name);
    nm_sim_input *in = grow((void **)&s->inputs, &s->n_inputs, sizeof *in);
    if (!in) return NULL;
    memcpy(in->name, name, sizeof in->name);
    in->post = post;
    return in;
}

nm_sim_monitor *nm_sim_spec_add_monitor(nm_sim_spec *s, nm_mon_kind kind, int pop) {
    nm_sim_monitor *m = grow((void **)&s->mons, &s->n_mons, sizeof *m);
    if (!m) return NULL;
    m->kind = kind;
    m->pop = pop;
    m->count = -1;
    return m;
}

/* ---- checking --------------------------------------------------------------------- */

/* The values d can give: [lo, hi] (a lognormal never goes below 0). */
static void dist_range(const nm_dist *d, double *lo, double *hi) {
    switch (d->kind) {
    case NM_DIST_CONST: *lo = *hi = d->a; return;
    case NM_DIST_UNIFORM: *lo = d->a; *hi = d->b; return;
    case NM_DIST_NORMAL: *lo = d->lo; *hi = d->hi; return;
    case NM_DIST_LOGNORMAL: *lo = d->lo > 0 ? d->lo : 0.0; *hi = d->hi; return;
    }
    *lo = -INF;
    *hi = INF;
}

/* "6", "uniform(0.5, 1.5)", "normal(mean 1.5, std 0.3, min 0.1)" */
static const char *dist_str(const nm_dist *d, char *buf, size_t n) {
    int k = 0;
    switch (d->kind) {
    case NM_DIST_CONST: snprintf(buf, n, "%g", d->a); return buf;
    case NM_DIST_UNIFORM: snprintf(buf, n, "uniform(%g, %g)", d->a, d->b); return buf;
    case NM_DIST_NORMAL:
    case NM_DIST_LOGNORMAL:
        k = snprintf(buf, n, "%s(mean %g, std %g", d->kind == NM_DIST_NORMAL ? "normal" : "lognormal", d->a, d->b);
        if (k > 0 && (size_t)k < n && d->lo > -INF) k += snprintf(buf + k, n - (size_t)k, ", min %g", d->lo);
        if (k > 0 && (size_t)k < n && d->hi < INF) k += snprintf(buf + k, n - (size_t)k, ", max %g", d->hi);
        if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, ")");
        return buf;
    }
    snprintf(buf, n, "(kind %d)", (int)d->kind);
    return buf;
}

/* NM_RANGE unless every value of d is >= lo (> lo when `open`). who: the entry; what: the
** field; unit: its unit. */
static nm_status need_above(const nm_dist *d, double lo, int open, const char *who, const char *what,
                            const char *unit) {
    double a, b;
    char buf[160];
    dist_range(d, &a, &b);
    if (open ? a > lo : a >= lo) return NM_OK;
    /* exp() of a finite normal draw is positive, even with no "min" */
    if (d->kind == NM_DIST_LOGNORMAL && lo == 0 && a == 0 && !(d->lo > 0)) return NM_OK;
    const char *rel = open ? ">" : ">=";
    if (d->kind == NM_DIST_CONST)
        return nm__error(NM_RANGE, "%s: %s %g %s must be %s %g", who, what, d->a, unit, rel, lo);
    return nm__error(NM_RANGE, "%s: %s %s %s can reach %g %s; it must be %s %g%s", who, what,
                     dist_str(d, buf, sizeof buf), unit, a, unit, rel, lo,
                     a == -INF ? " (bound it with \"min\")" : "");
}

static nm_status need_below(const nm_dist *d, double hi, const char *who, const char *what, const char *unit) {
    double a, b;
    char buf[160];
    dist_range(d, &a, &b);
    if (b <= hi) return NM_OK;
    if (d->kind == NM_DIST_CONST)
        return nm__error(NM_RANGE, "%s: %s %g %s is above the largest allowed, %g %s", who, what, d->a, unit, hi,
                         unit);
    return nm__error(NM_RANGE, "%s: %s %s %s can reach %g %s, above the largest allowed, %g %s%s", who, what,
                     dist_str(d, buf, sizeof buf), unit, b, unit, hi, unit,
                     b == INF ? " (bound it with \"max\")" : "");
}

/* Well-formed (finite parameters, std > 0, low <= high ...), any values. */
static nm_status dist_ok(const nm_dist *d, const char *who, const char *what) {
    char w[200];
    snprintf(w, sizeof w, "%s: %s", who, what);
    if ((int)d->kind < 0 || d->kind > NM_DIST_LOGNORMAL)
        return nm__error(NM_RANGE, "%s: unknown distribution kind %d", w, (int)d->kind);
    return nm_dist_check(d, -INF, INF, w);
}

/* Names are printable, 1-63 bytes (they appear in file names, reports and messages). */
static nm_status name_ok(const char *name, const char *kind, int index) {
    size_t n = strnlen(name, 64);
    if (n == 0) return nm__error(NM_RANGE, "%s %d has an empty name", kind, index);
    if (n > 63) return nm__error(NM_RANGE, "%s %d: the name is longer than 63 characters", kind, index);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return nm__error(NM_RANGE, "%s %d: the name contains a control character", kind, index);
    return NM_OK;
}

/* Range rules by parameter name, shared by every model: time constants, capacitances and
** conductances and substeps must be positive, refractory periods, slope factors and rates
** non-negative; potentials and currents may be anything finite. */
static int param_rule(const char *name) {
    static const char *const pos[] = {"C_m", "g_L", "h_max"};
    static const char *const nonneg[] = {"t_ref", "Delta_T", "rate"};
    if (!strncmp(name, "tau", 3)) return 2;
    for (int i = 0; i < COUNT(pos); i++)
        if (!strcmp(name, pos[i])) return 2;
    for (int i = 0; i < COUNT(nonneg); i++)
        if (!strcmp(name, nonneg[i])) return 1;
    return 0;
}

/* Every value of a must be below every value of b (reset below threshold). */
static nm_status need_order(const nm_sim_pop *p, const char *who, int ia, int ib, const char *why) {
    const nm_sim_model_info *mi = nm_sim_model_get(p->model);
    double alo, ahi, blo, bhi;
    char ba[160], bb[160];
    dist_range(&p->param[ia], &alo, &ahi);
    dist_range(&p->param[ib], &blo, &bhi);
    if (ahi < blo) return NM_OK;
    return nm__error(NM_RANGE, "%s: %s (%s %s) must be below %s (%s %s)%s", who, mi->params[ia].name,
                     dist_str(&p->param[ia], ba, sizeof ba), mi->params[ia].unit, mi->params[ib].name,
                     dist_str(&p->param[ib], bb, sizeof bb), mi->params[ib].unit, why);
}

static nm_status check_pop(const nm_sim_spec *s, int i) {
    const nm_sim_pop *p = &s->pops[i];
    nm_status rc;
    char who[96];
    if ((rc = name_ok(p->name, "population", i))) return rc;
    snprintf(who, sizeof who, "population '%s'", p->name);
    for (int j = 0; j < i; j++)
        if (!strcmp(s->pops[j].name, p->name)) return nm__error(NM_RANGE, "%s: the name is used twice", who);
    const nm_sim_model_info *mi = nm_sim_model_get(p->model);
    if (!mi) return nm__error(NM_RANGE, "%s: unknown model %d", who, (int)p->model);
    if (p->size < 1 || p->size > MAX_POP_SIZE)
        return nm__error(NM_RANGE, "%s: size %lld must be between 1 and %lld", who, (long long)p->size, MAX_POP_SIZE);
    for (int k = 0; k < mi->n_params; k++) {
        const nm_sim_var *v = &mi->params[k];
        if ((rc = dist_ok(&p->param[k], who, v->name))) return rc;
        int r = param_rule(v->name);
        if (r && (rc = need_above(&p->param[k], 0.0, r == 2, who, v->name, v->unit))) return rc;
    }
    switch (p->model) {
    case NM_SIM_LIF_DELTA:
    case NM_SIM_LIF_CURR_EXP:
    case NM_SIM_LIF_COND_EXP: rc = need_order(p, who, LD_V_RESET, LD_V_TH, ""); break;
    case NM_SIM_ADEX:
        if (!(rc = need_order(p, who, AX_V_RESET, AX_V_PEAK, ""))) {
            /* V_th = V_peak is allowed: a plain threshold when Delta_T = 0 */
            double tlo, thi, plo, phi;
            dist_range(&p->param[AX_V_TH], &tlo, &thi);
            dist_range(&p->param[AX_V_PEAK], &plo, &phi);
            if (thi > plo) rc = need_order(p, who, AX_V_TH, AX_V_PEAK, " or equal");
        }
        break;
    case NM_SIM_IZHIKEVICH: rc = need_order(p, who, IZ_C, IZ_V_PEAK, " (the reset c below the peak)"); break;
    default: break;
    }
    if (rc) return rc;
    for (int k = 0; k < mi->n_state; k++) {
        const nm_dist *d = &p->init[k];
        if (d->kind == NM_DIST_CONST && isnan(d->a)) continue;   /* the model's default */
        char what[64];
        snprintf(what, sizeof what, "init %s", mi->state[k].name);
        if ((rc = dist_ok(d, who, what))) return rc;
    }
    if (p->model == NM_SIM_SPIKE_SOURCE && (!p->spike_file || !p->spike_file[0]))
        return nm__error(NM_RANGE, "%s: a spike_source needs a spike file (\"file\")", who);
    if (p->model != NM_SIM_SPIKE_SOURCE && p->spike_file)
        return nm__error(NM_RANGE, "%s: only a spike_source takes a spike file", who);
    return NM_OK;
}

/* Delays: every value at least dt (one step) and at most MAX_DELAY. */
static nm_status check_delay(const nm_dist *d, double dt, const char *who) {
    double lo, hi;
    char buf[160];
    nm_status rc;
    if ((rc = dist_ok(d, who, "delay"))) return rc;
    dist_range(d, &lo, &hi);
    const char *ds = dist_str(d, buf, sizeof buf);
    if (d->kind == NM_DIST_CONST) {
        if (lo < 0) return nm__error(NM_RANGE, "%s: delay %g ms is negative", who, lo);
        if (lo < dt * (1 - DELAY_SLACK))
            return nm__error(NM_RANGE, "%s: delay %g ms is below dt (%g ms)", who, lo, dt);
    } else if (lo == -INF) {
        return nm__error(NM_RANGE, "%s: delay %s ms is unbounded below; bound it with \"min\" >= dt (%g ms)", who,
                         ds, dt);
    } else if (lo < 0) {
        return nm__error(NM_RANGE, "%s: delay %s ms can be negative (%g ms)", who, ds, lo);
    } else if (lo < dt * (1 - DELAY_SLACK)) {
        return nm__error(NM_RANGE, "%s: delay %s ms can be %g ms, below dt (%g ms)%s", who, ds, lo, dt,
                         d->kind == NM_DIST_LOGNORMAL && lo == 0 ? "; bound it with \"min\"" : "");
    }
    /* A normal unbounded above may keep its tail (the builder sees the drawn delays); its
    ** centre must still be a delay the ring buffers can hold. */
    if (hi == INF) {
        double centre = d->kind == NM_DIST_LOGNORMAL ? exp(d->a) : d->a;
        if (centre > MAX_DELAY)
            return nm__error(NM_RANGE, "%s: delay %s ms is centred above the largest allowed, %g ms", who, ds,
                             MAX_DELAY);
        return NM_OK;
    }
    return need_below(d, MAX_DELAY, who, "delay", "ms");
}

static nm_status check_proj(const nm_sim_spec *s, int i) {
    const nm_sim_proj *p = &s->projs[i];
    nm_status rc;
    char who[96];
    if ((rc = name_ok(p->name, "projection", i))) return rc;
    snprintf(who, sizeof who, "projection '%s'", p->name);
    for (int j = 0; j < i; j++)
        if (!strcmp(s->projs[j].name, p->name)) return nm__error(NM_RANGE, "%s: the name is used twice", who);
    if (p->pre < 0 || p->pre >= s->n_pops || p->post < 0 || p->post >= s->n_pops)
        return nm__error(NM_RANGE, "%s: population index %d out of range (%d populations)", who,
                         p->pre < 0 || p->pre >= s->n_pops ? p->pre : p->post, s->n_pops);
    const nm_sim_pop *pre = &s->pops[p->pre], *post = &s->pops[p->post];
    const nm_sim_model_info *mi = nm_sim_model_get(post->model);
    if (mi && mi->is_source)
        return nm__error(NM_RANGE, "%s: population '%s' is a %s, which cannot receive spikes", who, post->name,
                         mi->name);
    int same = p->pre == p->post;
    switch (p->rule) {
    case NM_CONN_ALL_TO_ALL: break;
    case NM_CONN_ONE_TO_ONE:
        if (pre->size != post->size)
            return nm__error(NM_RANGE, "%s: one_to_one needs equal sizes ('%s' has %lld, '%s' %lld)", who, pre->name,
                             (long long)pre->size, post->name, (long long)post->size);
        break;
    case NM_CONN_FIXED_PROB:
        if (!(p->p >= 0 && p->p <= 1)) return nm__error(NM_RANGE, "%s: p %g must be in [0, 1]", who, p->p);
        break;
    case NM_CONN_FIXED_INDEGREE:
    case NM_CONN_FIXED_OUTDEGREE: {
        int in = p->rule == NM_CONN_FIXED_INDEGREE;
        if (p->k < 0 || p->k > MAX_POP_SIZE)
            return nm__error(NM_RANGE, "%s: k %lld must be between 0 and %lld", who, (long long)p->k, MAX_POP_SIZE);
        const nm_sim_pop *from = in ? pre : post;
        int64_t avail = from->size - (same && !p->autapses);
        if (!p->multapses && p->k > avail)
            return nm__error(NM_RANGE,
                             "%s: k %lld is more than the %lld distinct %s '%s' offers without multapses", who,
                             (long long)p->k, (long long)avail, in ? "sources" : "targets", from->name);
        break;
    }
    case NM_CONN_LIST:
        if (p->n_list < 0 || p->n_list > MAX_POP_SIZE)
            return nm__error(NM_RANGE, "%s: %lld pairs (at most %lld)", who, (long long)p->n_list, MAX_POP_SIZE);
        if (p->n_list > 0 && (!p->list_pre || !p->list_post))
            return nm__error(NM_RANGE, "%s: the pair lists are missing", who);
        for (int64_t e = 0; e < p->n_list; e++) {
            if (p->list_pre[e] < 0 || p->list_pre[e] >= pre->size)
                return nm__error(NM_RANGE, "%s: pair %lld: source %d is outside '%s' (size %lld)", who, (long long)e,
                                 (int)p->list_pre[e], pre->name, (long long)pre->size);
            if (p->list_post[e] < 0 || p->list_post[e] >= post->size)
                return nm__error(NM_RANGE, "%s: pair %lld: target %d is outside '%s' (size %lld)", who, (long long)e,
                                 (int)p->list_post[e], post->name, (long long)post->size);
        }
        break;
    default: return nm__error(NM_RANGE, "%s: unknown rule %d", who, (int)p->rule);
    }
    int cond = post->model == NM_SIM_LIF_COND_EXP;
    if (p->rule == NM_CONN_LIST && p->list_weight) {
        for (int64_t e = 0; e < p->n_list; e++) {
            float w = p->list_weight[e];
            if (!isfinite(w)) return nm__error(NM_RANGE, "%s: weights[%lld] is not finite", who, (long long)e);
            if (cond && w < 0)
                return nm__error(NM_RANGE,
                                 "%s: weights[%lld] %g nS is negative: conductances need weights >= 0 (inhibition "
                                 "comes from E_inh)",
                                 who, (long long)e, (double)w);
        }
    } else {
        if ((rc = dist_ok(&p->weight, who, "weight"))) return rc;
        if (cond && (rc = need_above(&p->weight, 0.0, 0, who, "weight", "nS (a conductance; inhibition comes from "
                                                                        "E_inh)")))
            return rc;
    }
    if (p->rule == NM_CONN_LIST && p->list_delay) {
        for (int64_t e = 0; e < p->n_list; e++) {
            double d = p->list_delay[e];
            if (!isfinite(d)) return nm__error(NM_RANGE, "%s: delays[%lld] is not finite", who, (long long)e);
            if (d < 0) return nm__error(NM_RANGE, "%s: delays[%lld] %g ms is negative", who, (long long)e, d);
            if (d < s->dt * (1 - DELAY_SLACK))
                return nm__error(NM_RANGE, "%s: delays[%lld] %g ms is below dt (%g ms)", who, (long long)e, d, s->dt);
            if (d > MAX_DELAY)
                return nm__error(NM_RANGE, "%s: delays[%lld] %g ms is above the largest allowed, %g ms", who,
                                 (long long)e, d, MAX_DELAY);
        }
    } else if ((rc = check_delay(&p->delay, s->dt, who))) {
        return rc;
    }
    if (p->receptor != 0 && p->receptor != 1)
        return nm__error(NM_RANGE, "%s: receptor %d must be 0 (exc) or 1 (inh)", who, p->receptor);

    const nm_stdp *st = &p->stdp;
    if (st->kind == NM_STDP_NONE) return NM_OK;
    if (st->kind != NM_STDP_PAIR && st->kind != NM_STDP_TRIPLET)
        return nm__error(NM_RANGE, "%s: unknown stdp rule %d", who, (int)st->kind);
    struct { const char *name; double v; int tau; } f[] = {
        {"tau_plus", st->tau_plus, 1}, {"tau_minus", st->tau_minus, 1}, {"tau_x", st->tau_x, 1},
        {"tau_y", st->tau_y, 1},       {"A_plus", st->A_plus, 0},       {"A_minus", st->A_minus, 0},
        {"A3_plus", st->A3_plus, 0},   {"A3_minus", st->A3_minus, 0},   {"w_min", st->w_min, 0},
        {"w_max", st->w_max, 0},
    };
    for (int j = 0; j < COUNT(f); j++) {
        if (!isfinite(f[j].v)) return nm__error(NM_RANGE, "%s: stdp %s is not finite", who, f[j].name);
        if (f[j].tau && !(f[j].v > 0)) return nm__error(NM_RANGE, "%s: stdp %s %g ms must be > 0", who, f[j].name, f[j].v);
    }
    if (!(st->w_min <= st->w_max))
        return nm__error(NM_RANGE, "%s: stdp w_min %g is above w_max %g", who, st->w_min, st->w_max);
    /* The first update would clip a weight outside the bounds: say so now instead. */
    double lo, hi;
    if (p->rule == NM_CONN_LIST && p->list_weight) {
        lo = INF, hi = -INF;
        for (int64_t e = 0; e < p->n_list; e++) {
            lo = fmin(lo, p->list_weight[e]);
            hi = fmax(hi, p->list_weight[e]);
        }
    } else {
        dist_range(&p->weight, &lo, &hi);
    }
    if (p->n_list > 0 || p->rule != NM_CONN_LIST || !p->list_weight)
        if (lo < st->w_min || hi > st->w_max)
            return nm__error(NM_RANGE, "%s: the weights reach [%g, %g], outside stdp's [w_min, w_max] = [%g, %g]", who,
                             lo, hi, st->w_min, st->w_max);
    return NM_OK;
}

static nm_status check_input(const nm_sim_spec *s, int i) {
    const nm_sim_input *in = &s->inputs[i];
    nm_status rc;
    char who[96];
    if ((rc = name_ok(in->name, "input", i))) return rc;
    snprintf(who, sizeof who, "input '%s'", in->name);
    for (int j = 0; j < i; j++)
        if (!strcmp(s->inputs[j].name, in->name)) return nm__error(NM_RANGE, "%s: the name is used twice", who);
    if (in->post < 0 || in->post >= s->n_pops)
        return nm__error(NM_RANGE, "%s: population index %d out of range (%d populations)", who, in->post, s->n_pops);
    const nm_sim_pop *post = &s->pops[in->post];
    const nm_sim_model_info *mi = nm_sim_model_get(post->model);
    if (mi && mi->is_source)
        return nm__error(NM_RANGE, "%s: population '%s' is a %s, which cannot receive spikes", who, post->name,
                         mi->name);
    if (in->n < 0 || in->n > MAX_POP_SIZE)
        return nm__error(NM_RANGE, "%s: n %lld must be between 0 and %lld", who, (long long)in->n, MAX_POP_SIZE);
    if (!(in->rate >= 0) || !isfinite(in->rate))
        return nm__error(NM_RANGE, "%s: rate %g Hz must be finite and >= 0", who, in->rate);
    if (!isfinite(in->weight)) return nm__error(NM_RANGE, "%s: weight is not finite", who);
    if (post->model == NM_SIM_LIF_COND_EXP && in->weight < 0)
        return nm__error(NM_RANGE,
                         "%s: weight %g nS is negative: conductances need weights >= 0 (inhibition comes from E_inh)",
                         who, in->weight);
    if (in->receptor != 0 && in->receptor != 1)
        return nm__error(NM_RANGE, "%s: receptor %d must be 0 (exc) or 1 (inh)", who, in->receptor);
    return NM_OK;
}

static nm_status check_mon(const nm_sim_spec *s, int i) {
    const nm_sim_monitor *m = &s->mons[i];
    char who[96];
    if ((int)m->kind < 0 || m->kind > NM_MON_RATE) return nm__error(NM_RANGE, "monitor %d: unknown kind %d", i, (int)m->kind);
    if (m->pop < 0 || m->pop >= s->n_pops)
        return nm__error(NM_RANGE, "monitor %d: population index %d out of range (%d populations)", i, m->pop,
                         s->n_pops);
    const nm_sim_pop *p = &s->pops[m->pop];
    snprintf(who, sizeof who, "monitor %d (%s of '%s')", i, mon_names[m->kind], p->name);
    if (m->first < 0 || m->first >= p->size)
        return nm__error(NM_RANGE, "%s: first %lld is outside the population (size %lld)", who, (long long)m->first,
                         (long long)p->size);
    if (m->count != -1 && (m->count < 1 || m->count > p->size - m->first))
        return nm__error(NM_RANGE, "%s: first %lld + count %lld is past the population's end (size %lld)", who,
                         (long long)m->first, (long long)m->count, (long long)p->size);
    const nm_sim_model_info *mi = nm_sim_model_get(p->model);
    if (m->kind == NM_MON_STATE) {
        if (!mi || m->var < 0 || m->var >= mi->n_state)
            return nm__error(NM_RANGE, "%s: state variable %d out of range (%s has %d)", who, m->var,
                             mi ? mi->name : "?", mi ? mi->n_state : 0);
        if (!(m->interval >= 0) || !isfinite(m->interval))
            return nm__error(NM_RANGE, "%s: interval %g ms must be finite and >= 0", who, m->interval);
    }
    if (m->kind == NM_MON_RATE && (!(m->bin >= 0) || !isfinite(m->bin)))
        return nm__error(NM_RANGE, "%s: bin %g ms must be finite and >= 0", who, m->bin);
    if (m->file && !m->file[0]) return nm__error(NM_RANGE, "%s: the file name is empty", who);
    return NM_OK;
}

nm_status nm_sim_spec_check(const nm_sim_spec *s) {
    nm_status rc;
    if (!s) return nm__error(NM_INVAL, "no network description");
    if (!(s->dt > 0 && s->dt <= MAX_DT)) return nm__error(NM_RANGE, "dt %g ms must be > 0 and <= %g ms", s->dt, MAX_DT);
    if (!(s->time >= 0) || !isfinite(s->time))
        return nm__error(NM_RANGE, "time %g ms must be finite and >= 0", s->time);
    if (s->n_pops < 1) return nm__error(NM_RANGE, "the network has no populations");
    int64_t total = 0;
    for (int i = 0; i < s->n_pops; i++) {
        if ((rc = check_pop(s, i))) return rc;
        total += s->pops[i].size;
        if (total > MAX_NEURONS)
            return nm__error(NM_RANGE, "the populations hold more than 2^40 neurons (at population '%s')",
                             s->pops[i].name);
    }
    for (int i = 0; i < s->n_projs; i++)
        if ((rc = check_proj(s, i))) return rc;
    for (int i = 0; i < s->n_inputs; i++)
        if ((rc = check_input(s, i))) return rc;
    for (int i = 0; i < s->n_mons; i++)
        if ((rc = check_mon(s, i))) return rc;
    return NM_OK;
}

/* ---- reading ---------------------------------------------------------------------- */

typedef struct ctx {
    const char *file;    /* starts every message */
    const char *dir;     /* relative spike files resolve against it */
    char where[128];     /* the entry being read ("projection 'E->I'"), or "" at the top */
} ctx;

static nm_status perr(ctx *c, nm_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static nm_status perr(ctx *c, nm_status code, const char *fmt, ...) {
    char msg[768], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->where[0]) snprintf(line, sizeof line, "%s: %s: %s", c->file, c->where, msg);
    else snprintf(line, sizeof line, "%s: %s", c->file, msg);
    /* One line, whatever the input: keys, names and jansson's "near '...'" quote raw text,
    ** which may hold newlines and other control bytes. */
    for (char *q = line; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = '?';
    return nm__error(code, "%s", line);
}

static const char *kind_of(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* NM_FORMAT naming the first key of obj that is not in keys[0..n). */
static nm_status check_keys(ctx *c, json_t *obj, const char *const *keys, int n, const char *extra) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int ok = 0;
        for (int i = 0; i < n && !ok; i++) ok = !strcmp(k, keys[i]);
        if (ok) continue;
        char list[400];
        size_t at = 0;
        for (int i = 0; i < n && at < sizeof list; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", keys[i]);
        return perr(c, NM_FORMAT, "unknown key '%.80s'%s (expected %s)", k, extra ? extra : "", list);
    }
    return NM_OK;
}

static nm_status get_num(ctx *c, json_t *obj, const char *key, double *out, int required) {
    json_t *v = json_object_get(obj, key);
    if (!v) return required ? perr(c, NM_FORMAT, "'%s' is missing", key) : NM_OK;
    if (!json_is_number(v)) return perr(c, NM_FORMAT, "'%s' must be a number, not %s", key, kind_of(v));
    *out = json_number_value(v);
    return NM_OK;
}

/* An integer in [lo, hi]; an integral real (3200.0) counts. */
static nm_status as_int(ctx *c, json_t *v, const char *what, int64_t lo, int64_t hi, int64_t *out) {
    int64_t x;
    if (json_is_integer(v)) {
        x = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || fabs(d) > 9007199254740992.0)
            return perr(c, NM_FORMAT, "%s must be an integer, not %g", what, d);
        x = (int64_t)d;
    } else {
        return perr(c, NM_FORMAT, "%s must be an integer, not %s", what, kind_of(v));
    }
    if (x < lo || x > hi)
        return perr(c, NM_RANGE, "%s %lld must be between %lld and %lld", what, (long long)x, (long long)lo,
                    (long long)hi);
    *out = x;
    return NM_OK;
}

static nm_status get_int(ctx *c, json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out, int required) {
    json_t *v = json_object_get(obj, key);
    if (!v) return required ? perr(c, NM_FORMAT, "'%s' is missing", key) : NM_OK;
    char what[64];
    snprintf(what, sizeof what, "'%s'", key);
    return as_int(c, v, what, lo, hi, out);
}

static nm_status get_bool(ctx *c, json_t *obj, const char *key, int *out) {
    json_t *v = json_object_get(obj, key);
    if (!v) return NM_OK;
    if (!json_is_boolean(v)) return perr(c, NM_FORMAT, "'%s' must be true or false, not %s", key, kind_of(v));
    *out = json_is_true(v);
    return NM_OK;
}

static nm_status get_str(ctx *c, json_t *obj, const char *key, const char **out, int required) {
    json_t *v = json_object_get(obj, key);
    if (!v) return required ? perr(c, NM_FORMAT, "'%s' is missing", key) : NM_OK;
    if (!json_is_string(v)) return perr(c, NM_FORMAT, "'%s' must be a string, not %s", key, kind_of(v));
    *out = json_string_value(v);
    return NM_OK;
}

/* A name that fits the structs' 64 bytes. */
static nm_status get_name(ctx *c, json_t *obj, const char *key, char out[64], int required) {
    const char *s = NULL;
    nm_status rc = get_str(c, obj, key, &s, required);
    if (rc || !s) return rc;
    if (strlen(s) > 63) return perr(c, NM_RANGE, "'%s' '%.40s...' is longer than 63 characters", key, s);
    snprintf(out, 64, "%s", s);
    return NM_OK;
}

static nm_status get_array(ctx *c, json_t *obj, const char *key, json_t **out) {
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) return NM_OK;
    if (!json_is_array(v)) return perr(c, NM_FORMAT, "'%s' must be an array, not %s", key, kind_of(v));
    *out = v;
    return NM_OK;
}

static nm_status get_receptor(ctx *c, json_t *obj, int *out) {
    const char *r = NULL;
    nm_status rc = get_str(c, obj, "receptor", &r, 0);
    if (rc || !r) return rc;
    if (!strcmp(r, "exc")) *out = 0;
    else if (!strcmp(r, "inh")) *out = 1;
    else return perr(c, NM_FORMAT, "receptor '%.40s' must be \"exc\" or \"inh\"", r);
    return NM_OK;
}

/* A number, or {"dist": KIND, ...}. what: "'weight'", "param 'tau_m'". */
static nm_status parse_dist(ctx *c, json_t *v, const char *what, nm_dist *out) {
    if (json_is_number(v)) {
        *out = nm_dist_const(json_number_value(v));
        return NM_OK;
    }
    if (!json_is_object(v))
        return perr(c, NM_FORMAT, "%s must be a number or a distribution object, not %s", what, kind_of(v));
    json_t *kv = json_object_get(v, "dist");
    if (!kv) return perr(c, NM_FORMAT, "%s: the distribution object needs \"dist\"", what);
    if (!json_is_string(kv)) return perr(c, NM_FORMAT, "%s: \"dist\" must be a string, not %s", what, kind_of(kv));
    const char *k = json_string_value(kv);
    int kind = -1;
    for (int i = 0; i < COUNT(dist_names); i++)
        if (!strcmp(k, dist_names[i])) kind = i;
    if (kind < 0)
        return perr(c, NM_FORMAT, "%s: unknown distribution '%.40s' (expected constant, uniform, normal or lognormal)",
                    what, k);
    static const char *const kc[] = {"dist", "value"}, *const ku[] = {"dist", "low", "high"},
                             *const kn[] = {"dist", "mean", "std", "min", "max"};
    const char *const *keys = kind == 0 ? kc : kind == 1 ? ku : kn;
    int nk = kind == 0 ? COUNT(kc) : kind == 1 ? COUNT(ku) : COUNT(kn);
    char extra[96];
    snprintf(extra, sizeof extra, " in %.40s's %s distribution", what, dist_names[kind]);
    nm_status rc;
    if ((rc = check_keys(c, v, keys, nk, extra))) return rc;
    nm_dist d = nm_dist_const(0.0);
    d.kind = (nm_dist_kind)kind;
    char key[96];
    const char *k1 = keys[1], *k2 = kind ? keys[2] : NULL;
    json_t *a = json_object_get(v, k1), *b = k2 ? json_object_get(v, k2) : NULL;
    snprintf(key, sizeof key, "%.60s \"%s\"", what, k1);
    if (!a) return perr(c, NM_FORMAT, "%s is missing", key);
    if (!json_is_number(a)) return perr(c, NM_FORMAT, "%s must be a number, not %s", key, kind_of(a));
    d.a = json_number_value(a);
    if (k2) {
        snprintf(key, sizeof key, "%.60s \"%s\"", what, k2);
        if (!b) return perr(c, NM_FORMAT, "%s is missing", key);
        if (!json_is_number(b)) return perr(c, NM_FORMAT, "%s must be a number, not %s", key, kind_of(b));
        d.b = json_number_value(b);
    }
    if (kind >= 2) {
        const char *bk[2] = {"min", "max"};
        double *bv[2] = {&d.lo, &d.hi};
        for (int i = 0; i < 2; i++) {
            json_t *x = json_object_get(v, bk[i]);
            if (!x) continue;
            snprintf(key, sizeof key, "%.60s \"%s\"", what, bk[i]);
            if (!json_is_number(x)) return perr(c, NM_FORMAT, "%s must be a number, not %s", key, kind_of(x));
            *bv[i] = json_number_value(x);
        }
    }
    *out = d;
    return NM_OK;
}

static nm_status get_dist(ctx *c, json_t *obj, const char *key, nm_dist *out, int required) {
    json_t *v = json_object_get(obj, key);
    if (!v) return required ? perr(c, NM_FORMAT, "'%s' is missing", key) : NM_OK;
    char what[64];
    snprintf(what, sizeof what, "'%s'", key);
    return parse_dist(c, v, what, out);
}

/* dir/file, absolute (so the spec means the same file wherever it is written again). */
static char *resolve(const char *dir, const char *file) {
    char cwd[4096];
    const char *d1 = "", *d2 = "";
    if (file[0] != '/') {
        d2 = dir && dir[0] && strcmp(dir, ".") ? dir : "";
        if (d2[0] != '/' && getcwd(cwd, sizeof cwd)) d1 = cwd;
    }
    size_t n = strlen(d1) + strlen(d2) + strlen(file) + 3;
    char *out = malloc(n);
    if (!out) return NULL;
    snprintf(out, n, "%s%s%s%s%s", d1, d1[0] ? "/" : "", d2, d2[0] ? "/" : "", file);
    return out;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* A population's "params" or "init": an object whose keys are the model's variables
** (vars), each a number or a distribution, into dst by index. */
static nm_status parse_named(ctx *c, json_t *obj, const char *key, const nm_sim_model_info *mi,
                             const nm_sim_var *vars, int n, nm_dist *dst) {
    if (!obj) return NM_OK;
    if (!json_is_object(obj)) return perr(c, NM_FORMAT, "'%s' must be an object, not %s", key, kind_of(obj));
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x) {
        int j = -1;
        for (int q = 0; q < n; q++)
            if (!strcmp(vars[q].name, k)) j = q;
        if (j < 0) {
            char list[400] = "";
            size_t at = 0;
            for (int q = 0; q < n && at < sizeof list; q++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", q ? ", " : "", vars[q].name);
            if (!strcmp(key, "params"))
                return perr(c, NM_FORMAT, "unknown parameter '%.80s' of %s (%s)", k, mi->name, n ? list : "it has none");
            return perr(c, NM_FORMAT, "unknown state variable '%.80s' in 'init' of %s (%s)", k, mi->name,
                        n ? list : "it has none");
        }
        char what[96];
        snprintf(what, sizeof what, "%s '%s'", !strcmp(key, "params") ? "param" : "init", k);
        nm_status rc = parse_dist(c, x, what, &dst[j]);
        if (rc) return rc;
    }
    return NM_OK;
}

static nm_status parse_pop(ctx *c, nm_sim_spec *s, json_t *v, int i) {
    static const char *const keys[] = {"name", "model", "size", "params", "init", "file"};
    nm_status rc;
    char name[64] = "";
    snprintf(c->where, sizeof c->where, "populations[%d]", i);
    if (!json_is_object(v)) return perr(c, NM_FORMAT, "must be an object, not %s", kind_of(v));
    if ((rc = get_name(c, v, "name", name, 1))) return rc;
    snprintf(c->where, sizeof c->where, "population '%s'", name);
    if ((rc = check_keys(c, v, keys, COUNT(keys), NULL))) return rc;
    if (nm_sim_spec_pop_index(s, name) >= 0) return perr(c, NM_RANGE, "the name is used twice");
    const char *model = NULL;
    nm_sim_model m;
    int64_t size = 0;
    if ((rc = get_str(c, v, "model", &model, 1))) return rc;
    if (nm_sim_model_parse(model, &m)) return perr(c, NM_FORMAT, "%s", nm_errmsg());
    if ((rc = get_int(c, v, "size", 1, MAX_POP_SIZE, &size, 1))) return rc;
    nm_sim_pop *p = nm_sim_spec_add_pop(s, name, m, size);
    if (!p) return perr(c, NM_NOMEM, "out of memory");
    const nm_sim_model_info *mi = nm_sim_model_get(m);
    if ((rc = parse_named(c, json_object_get(v, "params"), "params", mi, mi->params, mi->n_params, p->param)) ||
        (rc = parse_named(c, json_object_get(v, "init"), "init", mi, mi->state, mi->n_state, p->init)))
        return rc;
    const char *file = NULL;
    if ((rc = get_str(c, v, "file", &file, 0))) return rc;
    if (m == NM_SIM_SPIKE_SOURCE) {
        if (!file) return perr(c, NM_FORMAT, "a spike_source needs \"file\" (a spike file: TIME,NEURON lines)");
        if (!file[0]) return perr(c, NM_FORMAT, "'file' is empty");
        if (!(p->spike_file = resolve(c->dir, file))) return perr(c, NM_NOMEM, "out of memory");
    } else if (file) {
        return perr(c, NM_FORMAT, "'file' is only for a spike_source, not %s", mi->name);
    }
    return NM_OK;
}

/* A JSON array of numbers into floats (list weights or delays). */
static nm_status parse_floats(ctx *c, json_t *arr, const char *key, int64_t n, float **out) {
    if (!json_is_array(arr)) return perr(c, NM_FORMAT, "'%s' must be an array, not %s", key, kind_of(arr));
    if ((int64_t)json_array_size(arr) != n)
        return perr(c, NM_FORMAT, "'%s' has %zu entries but 'pairs' has %lld", key, json_array_size(arr),
                    (long long)n);
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!f) return perr(c, NM_NOMEM, "out of memory for '%s'", key);
    for (int64_t e = 0; e < n; e++) {
        json_t *x = json_array_get(arr, (size_t)e);
        if (!json_is_number(x)) {
            free(f);
            return perr(c, NM_FORMAT, "%s[%lld] must be a number, not %s", key, (long long)e, kind_of(x));
        }
        double d = json_number_value(x);
        if (fabs(d) > FLT_MAX) {
            free(f);
            return perr(c, NM_RANGE, "%s[%lld] %g does not fit a float", key, (long long)e, d);
        }
        f[e] = (float)d;
    }
    *out = f;
    return NM_OK;
}

static nm_status parse_list(ctx *c, nm_sim_proj *p, json_t *v) {
    json_t *pairs = json_object_get(v, "pairs"), *w = json_object_get(v, "weights"),
           *d = json_object_get(v, "delays");
    nm_status rc;
    if (!pairs) return perr(c, NM_FORMAT, "'pairs' is missing (the list rule needs [[source, target], ...])");
    if (!json_is_array(pairs)) return perr(c, NM_FORMAT, "'pairs' must be an array, not %s", kind_of(pairs));
    int64_t n = (int64_t)json_array_size(pairs);
    p->list_pre = malloc((size_t)(n ? n : 1) * sizeof *p->list_pre);
    p->list_post = malloc((size_t)(n ? n : 1) * sizeof *p->list_post);
    if (!p->list_pre || !p->list_post) return perr(c, NM_NOMEM, "out of memory for %lld pairs", (long long)n);
    for (int64_t e = 0; e < n; e++) {
        json_t *x = json_array_get(pairs, (size_t)e);
        if (!json_is_array(x) || json_array_size(x) != 2)
            return perr(c, NM_FORMAT, "pairs[%lld] must be [source, target], not %s", (long long)e,
                        json_is_array(x) ? "an array of another length" : kind_of(x));
        int64_t a, b;
        char what[64];
        snprintf(what, sizeof what, "pairs[%lld] source", (long long)e);
        if ((rc = as_int(c, json_array_get(x, 0), what, 0, MAX_POP_SIZE - 1, &a))) return rc;
        snprintf(what, sizeof what, "pairs[%lld] target", (long long)e);
        if ((rc = as_int(c, json_array_get(x, 1), what, 0, MAX_POP_SIZE - 1, &b))) return rc;
        p->list_pre[e] = (int32_t)a;
        p->list_post[e] = (int32_t)b;
    }
    p->n_list = n;
    if (w && (rc = parse_floats(c, w, "weights", n, &p->list_weight))) return rc;
    if (d && (rc = parse_floats(c, d, "delays", n, &p->list_delay))) return rc;
    return NM_OK;
}

static nm_status parse_stdp(ctx *c, nm_stdp *st, json_t *v) {
    static const char *const pair_keys[] = {"rule",    "tau_plus", "tau_minus", "A_plus",
                                            "A_minus", "w_min",    "w_max",     "multiplicative", "nearest"};
    static const char *const trip_keys[] = {"rule",     "tau_plus", "tau_minus", "tau_x", "tau_y",
                                            "A_plus",   "A_minus",  "A3_plus",   "A3_minus",
                                            "w_min",    "w_max",    "multiplicative", "nearest"};
    nm_status rc;
    if (!json_is_object(v)) return perr(c, NM_FORMAT, "'stdp' must be an object, not %s", kind_of(v));
    const char *rule = NULL;
    if ((rc = get_str(c, v, "rule", &rule, 1))) return rc;
    if (!strcmp(rule, "pair")) st->kind = NM_STDP_PAIR;
    else if (!strcmp(rule, "triplet")) st->kind = NM_STDP_TRIPLET;
    else return perr(c, NM_FORMAT, "stdp rule '%.40s' must be \"pair\" or \"triplet\"", rule);
    int trip = st->kind == NM_STDP_TRIPLET;
    if ((rc = check_keys(c, v, trip ? trip_keys : pair_keys, trip ? COUNT(trip_keys) : COUNT(pair_keys),
                         trip ? " in 'stdp'" : " in a pair 'stdp'")))
        return rc;
    struct { const char *k; double *v; } f[] = {
        {"tau_plus", &st->tau_plus}, {"tau_minus", &st->tau_minus}, {"tau_x", &st->tau_x},
        {"tau_y", &st->tau_y},       {"A_plus", &st->A_plus},       {"A_minus", &st->A_minus},
        {"A3_plus", &st->A3_plus},   {"A3_minus", &st->A3_minus},   {"w_min", &st->w_min},
        {"w_max", &st->w_max},
    };
    for (int i = 0; i < COUNT(f); i++)
        if ((rc = get_num(c, v, f[i].k, f[i].v, 0))) return rc;
    if ((rc = get_bool(c, v, "multiplicative", &st->multiplicative)) || (rc = get_bool(c, v, "nearest", &st->nearest)))
        return rc;
    return NM_OK;
}

/* from/to (or to) as a population index; NM_NOTFOUND listing the populations. */
static nm_status get_pop(ctx *c, nm_sim_spec *s, json_t *obj, const char *key, int *out) {
    const char *name = NULL;
    nm_status rc = get_str(c, obj, key, &name, 1);
    if (rc) return rc;
    int i = nm_sim_spec_pop_index(s, name);
    if (i < 0) {
        char list[300] = "";
        size_t at = 0;
        for (int q = 0; q < s->n_pops && at < sizeof list; q++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", q ? ", " : "", s->pops[q].name);
        return perr(c, NM_NOTFOUND, "unknown population '%.64s' in '%s' (populations: %s)", name, key, list);
    }
    *out = i;
    return NM_OK;
}

static nm_status parse_proj(ctx *c, nm_sim_spec *s, json_t *v, int i) {
    nm_status rc;
    snprintf(c->where, sizeof c->where, "projections[%d]", i);
    if (!json_is_object(v)) return perr(c, NM_FORMAT, "must be an object, not %s", kind_of(v));
    char name[64] = "";
    if ((rc = get_name(c, v, "name", name, 0))) return rc;
    /* Name the entry as early as possible: by its name, else by its raw from->to. */
    json_t *fv = json_object_get(v, "from"), *tv = json_object_get(v, "to");
    if (name[0]) snprintf(c->where, sizeof c->where, "projection '%s'", name);
    else if (json_is_string(fv) && json_is_string(tv))
        snprintf(c->where, sizeof c->where, "projection '%.50s->%.50s'", json_string_value(fv), json_string_value(tv));
    const char *rule = NULL;
    int r = -1;
    if ((rc = get_str(c, v, "rule", &rule, 1))) return rc;
    for (int q = 0; q < NM_CONN_N_RULES; q++)
        if (!strcmp(rule, rule_names[q])) r = q;
    if (r < 0)
        return perr(c, NM_FORMAT,
                    "unknown rule '%.40s' (expected all_to_all, one_to_one, fixed_probability, fixed_indegree, "
                    "fixed_outdegree or list)",
                    rule);
    /* The keys each rule takes: a 'p' on a fixed_indegree is a mistake worth a message. */
    const char *keys[16] = {"name", "from", "to", "rule", "weight", "delay", "receptor", "stdp"};
    int nk = 8;
    if (r == NM_CONN_FIXED_PROB) keys[nk++] = "p";
    if (r == NM_CONN_FIXED_INDEGREE || r == NM_CONN_FIXED_OUTDEGREE) keys[nk++] = "k", keys[nk++] = "multapses";
    if (r != NM_CONN_ONE_TO_ONE && r != NM_CONN_LIST) keys[nk++] = "autapses";
    if (r == NM_CONN_LIST) keys[nk++] = "pairs", keys[nk++] = "weights", keys[nk++] = "delays";
    char extra[64];
    snprintf(extra, sizeof extra, " for rule %s", rule_names[r]);
    if ((rc = check_keys(c, v, keys, nk, extra))) return rc;
    int pre, post;
    if ((rc = get_pop(c, s, v, "from", &pre)) || (rc = get_pop(c, s, v, "to", &post))) return rc;
    if (name[0] && name_taken(s, 0, s->n_projs, name)) return perr(c, NM_RANGE, "the name is used twice");
    nm_sim_proj *p = nm_sim_spec_add_proj(s, pre, post, (nm_conn_rule)r);
    if (!p) return perr(c, NM_NOMEM, "out of memory");
    if (name[0]) memcpy(p->name, name, sizeof p->name);
    snprintf(c->where, sizeof c->where, "projection '%s'", p->name);

    if (r == NM_CONN_FIXED_PROB && (rc = get_num(c, v, "p", &p->p, 1))) return rc;
    if ((r == NM_CONN_FIXED_INDEGREE || r == NM_CONN_FIXED_OUTDEGREE) &&
        (rc = get_int(c, v, "k", 0, MAX_POP_SIZE, &p->k, 1)))
        return rc;
    if ((rc = get_bool(c, v, "autapses", &p->autapses)) || (rc = get_bool(c, v, "multapses", &p->multapses))) return rc;
    if (r == NM_CONN_LIST && (rc = parse_list(c, p, v))) return rc;
    int has_w = json_object_get(v, "weight") != NULL, has_d = json_object_get(v, "delay") != NULL;
    if (p->list_weight && has_w) return perr(c, NM_FORMAT, "give 'weight' or 'weights', not both");
    if (p->list_delay && has_d) return perr(c, NM_FORMAT, "give 'delay' or 'delays', not both");
    if (!p->list_weight && (rc = get_dist(c, v, "weight", &p->weight, 1))) return rc;
    if ((rc = get_dist(c, v, "delay", &p->delay, 0))) return rc;
    if ((rc = get_receptor(c, v, &p->receptor))) return rc;
    json_t *st = json_object_get(v, "stdp");
    if (st && (rc = parse_stdp(c, &p->stdp, st))) return rc;
    return NM_OK;
}

static nm_status parse_input(ctx *c, nm_sim_spec *s, json_t *v, int i) {
    static const char *const keys[] = {"name", "to", "n", "rate", "weight", "receptor"};
    nm_status rc;
    snprintf(c->where, sizeof c->where, "inputs[%d]", i);
    if (!json_is_object(v)) return perr(c, NM_FORMAT, "must be an object, not %s", kind_of(v));
    char name[64] = "";
    if ((rc = get_name(c, v, "name", name, 0))) return rc;
    json_t *tv = json_object_get(v, "to");
    if (name[0]) snprintf(c->where, sizeof c->where, "input '%s'", name);
    else if (json_is_string(tv)) snprintf(c->where, sizeof c->where, "input 'ext->%.60s'", json_string_value(tv));
    if ((rc = check_keys(c, v, keys, COUNT(keys), NULL))) return rc;
    int post;
    if ((rc = get_pop(c, s, v, "to", &post))) return rc;
    if (name[0] && name_taken(s, 1, s->n_inputs, name)) return perr(c, NM_RANGE, "the name is used twice");
    nm_sim_input *in = nm_sim_spec_add_input(s, post);
    if (!in) return perr(c, NM_NOMEM, "out of memory");
    if (name[0]) memcpy(in->name, name, sizeof in->name);
    snprintf(c->where, sizeof c->where, "input '%s'", in->name);
    if ((rc = get_int(c, v, "n", 0, MAX_POP_SIZE, &in->n, 1)) || (rc = get_num(c, v, "rate", &in->rate, 1)) ||
        (rc = get_num(c, v, "weight", &in->weight, 1)) || (rc = get_receptor(c, v, &in->receptor)))
        return rc;
    return NM_OK;
}

static nm_status parse_mon(ctx *c, nm_sim_spec *s, json_t *v, int i) {
    nm_status rc;
    snprintf(c->where, sizeof c->where, "monitors[%d]", i);
    if (!json_is_object(v)) return perr(c, NM_FORMAT, "must be an object, not %s", kind_of(v));
    const char *kind = NULL;
    int k = -1, pop;
    if ((rc = get_str(c, v, "kind", &kind, 1))) return rc;
    for (int q = 0; q < COUNT(mon_names); q++)
        if (!strcmp(kind, mon_names[q])) k = q;
    if (k < 0) return perr(c, NM_FORMAT, "unknown kind '%.40s' (expected spikes, state or rate)", kind);
    const char *keys[8] = {"kind", "population", "first", "count", "file"};
    int nk = 5;
    if (k == NM_MON_STATE) keys[nk++] = "variable", keys[nk++] = "interval";
    if (k == NM_MON_RATE) keys[nk++] = "bin";
    char extra[64];
    snprintf(extra, sizeof extra, " for a %s monitor", mon_names[k]);
    if ((rc = check_keys(c, v, keys, nk, extra))) return rc;
    if ((rc = get_pop(c, s, v, "population", &pop))) return rc;
    snprintf(c->where, sizeof c->where, "monitors[%d] (%s of '%s')", i, mon_names[k], s->pops[pop].name);
    nm_sim_monitor *m = nm_sim_spec_add_monitor(s, (nm_mon_kind)k, pop);
    if (!m) return perr(c, NM_NOMEM, "out of memory");
    if ((rc = get_int(c, v, "first", 0, MAX_POP_SIZE, &m->first, 0)) ||
        (rc = get_int(c, v, "count", -1, MAX_POP_SIZE, &m->count, 0)))
        return rc;
    if (k == NM_MON_STATE) {
        const char *var = NULL;
        if ((rc = get_str(c, v, "variable", &var, 1))) return rc;
        m->var = nm_sim_state_index(s->pops[pop].model, var);
        if (m->var < 0) {
            const nm_sim_model_info *mi = nm_sim_model_get(s->pops[pop].model);
            char list[200] = "";
            size_t at = 0;
            for (int q = 0; q < mi->n_state && at < sizeof list; q++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", q ? ", " : "", mi->state[q].name);
            return perr(c, NM_NOTFOUND, "unknown variable '%.40s' of %s (%s)", var, mi->name,
                        mi->n_state ? list : "it has none");
        }
        if ((rc = get_num(c, v, "interval", &m->interval, 0))) return rc;
    }
    if (k == NM_MON_RATE && (rc = get_num(c, v, "bin", &m->bin, 0))) return rc;
    const char *file = NULL;
    if ((rc = get_str(c, v, "file", &file, 0))) return rc;
    /* Monitor files are outputs: kept as written, for the runner to place (e.g. under --out). */
    if (file && !(m->file = dup_str(file))) return perr(c, NM_NOMEM, "out of memory");
    return NM_OK;
}

static nm_status parse_root(ctx *c, nm_sim_spec *s, json_t *root) {
    static const char *const keys[] = {"description", "dt",          "time",   "seed",
                                       "populations", "projections", "inputs", "monitors"};
    nm_status rc;
    if (!json_is_object(root)) return perr(c, NM_FORMAT, "the top level must be an object, not %s", kind_of(root));
    if ((rc = check_keys(c, root, keys, COUNT(keys), NULL))) return rc;
    const char *desc = NULL;
    if ((rc = get_str(c, root, "description", &desc, 0))) return rc;
    if ((rc = get_num(c, root, "dt", &s->dt, 0)) || (rc = get_num(c, root, "time", &s->time, 0))) return rc;
    /* dt first: the default delay is one step, and a bad dt would make every delay look wrong */
    if (!(s->dt > 0 && s->dt <= MAX_DT)) return perr(c, NM_RANGE, "dt %g ms must be > 0 and <= %g ms", s->dt, MAX_DT);
    json_t *seed = json_object_get(root, "seed");
    if (seed) {
        /* seeds above 2^63 - 1 do not fit a JSON integer: they are written as strings */
        if (json_is_string(seed)) {
            const char *t = json_string_value(seed);
            char *end;
            errno = 0;
            unsigned long long u = strtoull(t, &end, 10);
            if (!t[0] || *end || errno || t[0] == '-' || t[0] == ' ' || t[0] == '+')
                return perr(c, NM_FORMAT, "'seed' '%.40s' is not a decimal integer", t);
            s->seed = (uint64_t)u;
        } else {
            int64_t x;
            if ((rc = get_int(c, root, "seed", 0, INT64_MAX, &x, 1))) return rc;
            s->seed = (uint64_t)x;
        }
    }
    json_t *pops, *projs, *ins, *mons;
    if ((rc = get_array(c, root, "populations", &pops)) || (rc = get_array(c, root, "projections", &projs)) ||
        (rc = get_array(c, root, "inputs", &ins)) || (rc = get_array(c, root, "monitors", &mons)))
        return rc;
    if (!pops || json_array_size(pops) == 0) return perr(c, NM_FORMAT, "'populations' is missing or empty");
    size_t i;
    json_t *v;
    json_array_foreach(pops, i, v) if ((rc = parse_pop(c, s, v, (int)i))) return rc;
    if (projs) json_array_foreach(projs, i, v) if ((rc = parse_proj(c, s, v, (int)i))) return rc;
    if (ins) json_array_foreach(ins, i, v) if ((rc = parse_input(c, s, v, (int)i))) return rc;
    if (mons) json_array_foreach(mons, i, v) if ((rc = parse_mon(c, s, v, (int)i))) return rc;
    c->where[0] = '\0';
    if ((rc = nm_sim_spec_check(s))) return perr(c, rc, "%s", nm_errmsg());
    return NM_OK;
}

nm_status nm_sim_spec_parse(const char *text, size_t len, const char *name, const char *dir, nm_sim_spec **out) {
    ctx c = {name ? name : "(network description)", dir ? dir : ".", ""};
    if (!text && len) return perr(&c, NM_INVAL, "no text");
    json_error_t err;
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return perr(&c, NM_FORMAT, "not valid JSON at line %d, column %d (byte %d): %s", err.line, err.column,
                    err.position, err.text);
    nm_sim_spec *s = nm_sim_spec_create();
    nm_status rc = s ? parse_root(&c, s, root) : perr(&c, NM_NOMEM, "out of memory");
    json_decref(root);
    if (rc) {
        nm_sim_spec_free(s);
        return rc;
    }
    *out = s;
    return NM_OK;
}

nm_status nm_sim_spec_read(const char *path, nm_sim_spec **out) {
    if (!path) return nm__error(NM_INVAL, "no network description file given");
    FILE *f = fopen(path, "rb");
    if (!f) return nm__error(NM_IO, "cannot open network description '%s': %s", path, strerror(errno));
    char *buf = malloc(1 << 16);
    size_t cap = 1 << 16, n = 0;
    nm_status rc = NM_OK;
    while (buf) {
        if (n == cap) {
            if ((long long)cap >= MAX_FILE_BYTES) {
                rc = nm__error(NM_FORMAT, "%s: larger than %lld MiB: not a network description", path,
                               MAX_FILE_BYTES >> 20);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) rc = nm__error(NM_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (!buf) return nm__error(NM_NOMEM, "%s: out of memory", path);
    if (rc) {
        free(buf);
        return rc;
    }
    /* The directory part of path ("" -> "."), for relative spike files. */
    char *dir = dup_str(path);
    if (!dir) {
        free(buf);
        return nm__error(NM_NOMEM, "%s: out of memory", path);
    }
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    rc = nm_sim_spec_parse(buf, n, path, dir, out);
    free(dir);
    free(buf);
    return rc;
}

/* ---- writing ---------------------------------------------------------------------- */

/* The shortest %g that reads back (by strtod, as jansson does) to x, as a double or, for
** list values, as the float the reader narrows it to. Moderate numbers keep their digits
** ("120", not "1.2e+02"): the precision grows to cover the integer part. */
static void put_shortest(FILE *f, double x, int as_float) {
    char buf[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        double back = strtod(buf, NULL);
        if (as_float ? (float)back == (float)x : back == x) break;
    }
    double ax = fabs(x);
    if (strchr(buf, 'e') && ax >= 1e-4 && ax < 1e15) {
        int digits = (int)floor(log10(ax)) + 1;
        snprintf(buf, sizeof buf, "%.*g", digits > prec ? digits : prec, x);
    }
    fputs(buf, f);
}

static void put_num(FILE *f, double x) { put_shortest(f, x, 0); }
static void put_float(FILE *f, float x) { put_shortest(f, (double)x, 1); }

static void put_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void put_dist(FILE *f, const nm_dist *d) {
    switch (d->kind) {
    case NM_DIST_CONST: put_num(f, d->a); return;
    case NM_DIST_UNIFORM:
        fputs("{\"dist\": \"uniform\", \"low\": ", f);
        put_num(f, d->a);
        fputs(", \"high\": ", f);
        put_num(f, d->b);
        fputc('}', f);
        return;
    case NM_DIST_NORMAL:
    case NM_DIST_LOGNORMAL:
        fprintf(f, "{\"dist\": \"%s\", \"mean\": ", d->kind == NM_DIST_NORMAL ? "normal" : "lognormal");
        put_num(f, d->a);
        fputs(", \"std\": ", f);
        put_num(f, d->b);
        if (d->lo > -INF) fputs(", \"min\": ", f), put_num(f, d->lo);
        if (d->hi < INF) fputs(", \"max\": ", f), put_num(f, d->hi);
        fputc('}', f);
        return;
    }
}

static nm_status write_spec(FILE *f, void *user) {
    const nm_sim_spec *s = user;
    fputs("{\n  \"dt\": ", f);
    put_num(f, s->dt);
    fputs(", \"time\": ", f);
    put_num(f, s->time);
    if (s->seed > (uint64_t)INT64_MAX) fprintf(f, ", \"seed\": \"%llu\",\n", (unsigned long long)s->seed);
    else fprintf(f, ", \"seed\": %llu,\n", (unsigned long long)s->seed);

    fputs("  \"populations\": [", f);
    for (int i = 0; i < s->n_pops; i++) {
        const nm_sim_pop *p = &s->pops[i];
        const nm_sim_model_info *mi = nm_sim_model_get(p->model);
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        put_str(f, p->name);
        fprintf(f, ", \"model\": \"%s\", \"size\": %lld", mi->name, (long long)p->size);
        if (mi->n_params) {
            fputs(",\n     \"params\": {", f);
            for (int k = 0; k < mi->n_params; k++) {
                fprintf(f, "%s\"%s\": ", k ? ", " : "", mi->params[k].name);
                put_dist(f, &p->param[k]);
            }
            fputc('}', f);
        }
        int any = 0;
        for (int k = 0; k < mi->n_state; k++) {
            const nm_dist *d = &p->init[k];
            if (d->kind == NM_DIST_CONST && isnan(d->a)) continue;
            fprintf(f, "%s\"%s\": ", any++ ? ", " : ",\n     \"init\": {", mi->state[k].name);
            put_dist(f, d);
        }
        if (any) fputc('}', f);
        if (p->spike_file) fputs(", \"file\": ", f), put_str(f, p->spike_file);
        fputc('}', f);
    }
    fputs("\n  ]", f);

    if (s->n_projs) fputs(",\n  \"projections\": [", f);
    for (int i = 0; i < s->n_projs; i++) {
        const nm_sim_proj *p = &s->projs[i];
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        put_str(f, p->name);
        fputs(", \"from\": ", f);
        put_str(f, s->pops[p->pre].name);
        fputs(", \"to\": ", f);
        put_str(f, s->pops[p->post].name);
        fprintf(f, ", \"rule\": \"%s\"", rule_names[p->rule]);
        if (p->rule == NM_CONN_FIXED_PROB) fputs(", \"p\": ", f), put_num(f, p->p);
        if (p->rule == NM_CONN_FIXED_INDEGREE || p->rule == NM_CONN_FIXED_OUTDEGREE)
            fprintf(f, ", \"k\": %lld, \"multapses\": %s", (long long)p->k, p->multapses ? "true" : "false");
        if (p->rule != NM_CONN_ONE_TO_ONE && p->rule != NM_CONN_LIST)
            fprintf(f, ", \"autapses\": %s", p->autapses ? "true" : "false");
        fprintf(f, ", \"receptor\": \"%s\"", p->receptor ? "inh" : "exc");
        if (!(p->rule == NM_CONN_LIST && p->list_weight)) fputs(",\n     \"weight\": ", f), put_dist(f, &p->weight);
        if (!(p->rule == NM_CONN_LIST && p->list_delay)) fputs(",\n     \"delay\": ", f), put_dist(f, &p->delay);
        if (p->rule == NM_CONN_LIST) {
            fputs(",\n     \"pairs\": [", f);
            for (int64_t e = 0; e < p->n_list; e++)
                fprintf(f, "%s[%d, %d]", e ? ", " : "", (int)p->list_pre[e], (int)p->list_post[e]);
            fputc(']', f);
            const float *arr[2] = {p->list_weight, p->list_delay};
            const char *key[2] = {"weights", "delays"};
            for (int a = 0; a < 2; a++) {
                if (!arr[a]) continue;
                fprintf(f, ",\n     \"%s\": [", key[a]);
                for (int64_t e = 0; e < p->n_list; e++) {
                    if (e) fputs(", ", f);
                    put_float(f, arr[a][e]);
                }
                fputc(']', f);
            }
        }
        const nm_stdp *st = &p->stdp;
        if (st->kind != NM_STDP_NONE) {
            int trip = st->kind == NM_STDP_TRIPLET;
            fprintf(f, ",\n     \"stdp\": {\"rule\": \"%s\"", trip ? "triplet" : "pair");
            struct { const char *k; double v; int trip; } fl[] = {
                {"tau_plus", st->tau_plus, 0}, {"tau_minus", st->tau_minus, 0}, {"tau_x", st->tau_x, 1},
                {"tau_y", st->tau_y, 1},       {"A_plus", st->A_plus, 0},       {"A_minus", st->A_minus, 0},
                {"A3_plus", st->A3_plus, 1},   {"A3_minus", st->A3_minus, 1},   {"w_min", st->w_min, 0},
                {"w_max", st->w_max, 0},
            };
            for (int j = 0; j < COUNT(fl); j++) {
                if (fl[j].trip && !trip) continue;
                fprintf(f, ", \"%s\": ", fl[j].k);
                put_num(f, fl[j].v);
            }
            fprintf(f, ", \"multiplicative\": %s, \"nearest\": %s}", st->multiplicative ? "true" : "false",
                    st->nearest ? "true" : "false");
        }
        fputc('}', f);
    }
    if (s->n_projs) fputs("\n  ]", f);

    if (s->n_inputs) fputs(",\n  \"inputs\": [", f);
    for (int i = 0; i < s->n_inputs; i++) {
        const nm_sim_input *in = &s->inputs[i];
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        put_str(f, in->name);
        fputs(", \"to\": ", f);
        put_str(f, s->pops[in->post].name);
        fprintf(f, ", \"n\": %lld, \"rate\": ", (long long)in->n);
        put_num(f, in->rate);
        fputs(", \"weight\": ", f);
        put_num(f, in->weight);
        fprintf(f, ", \"receptor\": \"%s\"}", in->receptor ? "inh" : "exc");
    }
    if (s->n_inputs) fputs("\n  ]", f);

    if (s->n_mons) fputs(",\n  \"monitors\": [", f);
    for (int i = 0; i < s->n_mons; i++) {
        const nm_sim_monitor *m = &s->mons[i];
        fprintf(f, "%s{\"kind\": \"%s\", \"population\": ", i ? ",\n    " : "\n    ", mon_names[m->kind]);
        put_str(f, s->pops[m->pop].name);
        fprintf(f, ", \"first\": %lld, \"count\": %lld", (long long)m->first, (long long)m->count);
        if (m->kind == NM_MON_STATE) {
            fprintf(f, ", \"variable\": \"%s\", \"interval\": ", nm_sim_model_get(s->pops[m->pop].model)->state[m->var].name);
            put_num(f, m->interval);
        }
        if (m->kind == NM_MON_RATE) fputs(", \"bin\": ", f), put_num(f, m->bin);
        if (m->file) fputs(", \"file\": ", f), put_str(f, m->file);
        fputc('}', f);
    }
    if (s->n_mons) fputs("\n  ]", f);
    fputs("\n}\n", f);
    return ferror(f) ? nm__error(NM_IO, "write error") : NM_OK;
}

nm_status nm_sim_spec_write(const nm_sim_spec *s, const char *path) {
    nm_status rc;
    if (!path) return nm__error(NM_INVAL, "no file to write the network description to");
    /* Only a valid spec is written: the file must read back. */
    if ((rc = nm_sim_spec_check(s))) return nm__error(rc, "%s: not written: %s", path, nm_errmsg());
    if ((rc = nm_file_write_atomic(path, write_spec, (void *)s)))
        return rc == NM_IO && !strstr(nm_errmsg(), path) ? nm__error(rc, "%s: %s", path, nm_errmsg()) : rc;
    return NM_OK;
}
