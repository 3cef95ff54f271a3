/*
** sim spec: the network description files. The benchmark networks in nets/ must read with
** the numbers their sources give (Brette et al. 2007; Brunel 2000 as Brian2's bench.py);
** write -> read must give the same spec field for field (distributions, lists, STDP,
** seeds above 2^63); and every validation rule must refuse its case with one message that
** names the file, the entry and the offending value.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <neuromorph/sim.h>

#include "sim/sim_impl.h"

/* nets/ is at the top of the source tree, two levels above NM_TEST_DATA_DIR (tests/data, which
** need not exist, so its path is cut rather than followed with ".."). */
static const char *nets_dir(void) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s", NM_TEST_DATA_DIR);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
    }
    strncat(dir, "/nets", sizeof dir - strlen(dir) - 1);
    return dir;
}

#define ASSERT_MSG(call, code, needle)                                                                      \
    do {                                                                                                    \
        nm_status st_ = (call);                                                                             \
        if (st_ != (code)) fail_msg("%s returned %d, expected %d (%s)", #call, st_, code, nm_errmsg());   \
        if (!strstr(nm_errmsg(), needle)) fail_msg("%s: message '%s' lacks '%s'", #call, nm_errmsg(), needle); \
    } while (0)

#define ASSERT_OK(call)                                                                                     \
    do {                                                                                                    \
        nm_status st_ = (call);                                                                             \
        if (st_ != NM_OK) fail_msg("%s returned %d (%s)", #call, st_, nm_errmsg());                         \
    } while (0)

static const char *tmp_path(const char *name) {
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", NM_TEST_TMP_DIR, name);
    return buf[i];
}

static nm_sim_spec *read_net(const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", nets_dir(), file);
    nm_sim_spec *s = NULL;
    nm_status st = nm_sim_spec_read(path, &s);
    if (st != NM_OK) fail_msg("%s: %s", path, nm_errmsg());
    return s;
}

/* Parses text named "t.json"; NULL (and the status in *st) on error. */
static nm_sim_spec *parse(const char *text, nm_status *st) {
    nm_sim_spec *s = NULL;
    *st = nm_sim_spec_parse(text, strlen(text), "t.json", "/nets", &s);
    return s;
}

/* Text must be refused with `code` and a message holding every needle (NULL-terminated). */
static void refuse(const char *text, nm_status code, ...) {
    nm_status st;
    nm_sim_spec *sentinel = (nm_sim_spec *)(uintptr_t)0x10, *s = sentinel;
    st = nm_sim_spec_parse(text, strlen(text), "t.json", "/nets", &s);
    if (st != code) fail_msg("expected status %d, got %d (%s) for: %s", code, st, nm_errmsg(), text);
    if (s != sentinel) fail_msg("output changed on error for: %s", text);
    const char *msg = nm_errmsg();
    if (strncmp(msg, "t.json: ", 8)) fail_msg("message '%s' does not start with the file name", msg);
    if (strchr(msg, '\n')) fail_msg("message '%s' is more than one line", msg);
    va_list ap;
    va_start(ap, code);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        if (!strstr(msg, needle)) fail_msg("message '%s' lacks '%s' (input: %s)", msg, needle, text);
    va_end(ap);
}

/* ---- comparing specs -------------------------------------------------------------- */

static int same_d(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static void same_dist(const nm_dist *a, const nm_dist *b, const char *what) {
    if (a->kind != b->kind || !same_d(a->a, b->a) || !same_d(a->b, b->b) || !same_d(a->lo, b->lo) ||
        !same_d(a->hi, b->hi))
        fail_msg("%s differs: kind %d/%d a %.17g/%.17g b %.17g/%.17g lo %g/%g hi %g/%g", what, a->kind, b->kind,
                 a->a, b->a, a->b, b->b, a->lo, b->lo, a->hi, b->hi);
}

static void same_spec(const nm_sim_spec *a, const nm_sim_spec *b) {
    assert_true(a->dt == b->dt && a->time == b->time && a->seed == b->seed);
    assert_int_equal(a->n_pops, b->n_pops);
    assert_int_equal(a->n_projs, b->n_projs);
    assert_int_equal(a->n_inputs, b->n_inputs);
    assert_int_equal(a->n_mons, b->n_mons);
    for (int i = 0; i < a->n_pops; i++) {
        const nm_sim_pop *p = &a->pops[i], *q = &b->pops[i];
        assert_string_equal(p->name, q->name);
        assert_int_equal(p->model, q->model);
        assert_int_equal(p->size, q->size);
        const nm_sim_model_info *mi = nm_sim_model_get(p->model);
        for (int k = 0; k < mi->n_params; k++) same_dist(&p->param[k], &q->param[k], mi->params[k].name);
        for (int k = 0; k < mi->n_state; k++) same_dist(&p->init[k], &q->init[k], mi->state[k].name);
        assert_true((p->spike_file == NULL) == (q->spike_file == NULL));
        if (p->spike_file) assert_string_equal(p->spike_file, q->spike_file);
    }
    for (int i = 0; i < a->n_projs; i++) {
        const nm_sim_proj *p = &a->projs[i], *q = &b->projs[i];
        assert_string_equal(p->name, q->name);
        assert_int_equal(p->pre, q->pre);
        assert_int_equal(p->post, q->post);
        assert_int_equal(p->rule, q->rule);
        if (p->rule == NM_CONN_FIXED_PROB) assert_true(p->p == q->p);
        if (p->rule == NM_CONN_FIXED_INDEGREE || p->rule == NM_CONN_FIXED_OUTDEGREE) {
            assert_int_equal(p->k, q->k);
            assert_int_equal(p->multapses, q->multapses);
        }
        assert_int_equal(p->autapses, q->autapses);
        if (!p->list_weight) same_dist(&p->weight, &q->weight, "weight");
        if (!p->list_delay) same_dist(&p->delay, &q->delay, "delay");
        assert_int_equal(p->receptor, q->receptor);
        assert_int_equal(p->n_list, q->n_list);
        for (int64_t e = 0; e < p->n_list; e++) {
            assert_int_equal(p->list_pre[e], q->list_pre[e]);
            assert_int_equal(p->list_post[e], q->list_post[e]);
        }
        assert_true((p->list_weight == NULL) == (q->list_weight == NULL));
        assert_true((p->list_delay == NULL) == (q->list_delay == NULL));
        if (p->list_weight) assert_memory_equal(p->list_weight, q->list_weight, (size_t)p->n_list * sizeof(float));
        if (p->list_delay) assert_memory_equal(p->list_delay, q->list_delay, (size_t)p->n_list * sizeof(float));
        const nm_stdp *x = &p->stdp, *y = &q->stdp;
        assert_int_equal(x->kind, y->kind);
        assert_true(x->multiplicative == y->multiplicative && x->nearest == y->nearest);
        assert_true(x->tau_plus == y->tau_plus && x->tau_minus == y->tau_minus && x->tau_x == y->tau_x &&
                    x->tau_y == y->tau_y && x->A_plus == y->A_plus && x->A_minus == y->A_minus &&
                    x->A3_plus == y->A3_plus && x->A3_minus == y->A3_minus && x->w_min == y->w_min &&
                    x->w_max == y->w_max);
    }
    for (int i = 0; i < a->n_inputs; i++) {
        const nm_sim_input *p = &a->inputs[i], *q = &b->inputs[i];
        assert_string_equal(p->name, q->name);
        assert_int_equal(p->post, q->post);
        assert_int_equal(p->n, q->n);
        assert_true(p->rate == q->rate && p->weight == q->weight);
        assert_int_equal(p->receptor, q->receptor);
    }
    for (int i = 0; i < a->n_mons; i++) {
        const nm_sim_monitor *p = &a->mons[i], *q = &b->mons[i];
        assert_int_equal(p->kind, q->kind);
        assert_int_equal(p->pop, q->pop);
        assert_int_equal(p->first, q->first);
        assert_int_equal(p->count, q->count);
        if (p->kind == NM_MON_STATE) {
            assert_int_equal(p->var, q->var);
            assert_true(p->interval == q->interval);
        }
        if (p->kind == NM_MON_RATE) assert_true(p->bin == q->bin);
        assert_true((p->file == NULL) == (q->file == NULL));
        if (p->file) assert_string_equal(p->file, q->file);
    }
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    buf[len] = 0;
    *n = (size_t)len;
    return buf;
}

/* write -> read gives s again, and writing that gives the same bytes. */
static void round_trip(const nm_sim_spec *s, const char *name) {
    const char *p1 = tmp_path(name);
    char p2[520];
    snprintf(p2, sizeof p2, "%s.again", p1);
    ASSERT_OK(nm_sim_spec_write(s, p1));
    nm_sim_spec *r = NULL;
    ASSERT_OK(nm_sim_spec_read(p1, &r));
    same_spec(s, r);
    ASSERT_OK(nm_sim_spec_write(r, p2));
    size_t n1, n2;
    char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    free(b1);
    free(b2);
    nm_sim_spec_free(r);
    remove(p1);
    remove(p2);
}

/* ---- the benchmark networks ------------------------------------------------------- */

static double pconst(const nm_sim_pop *p, const char *name) {
    int k = nm_sim_param_index(p->model, name);
    assert_true(k >= 0);
    assert_int_equal(p->param[k].kind, NM_DIST_CONST);
    return p->param[k].a;
}

static void test_nets_coba_cuba(void **state) {
    (void)state;
    nm_sim_spec *s = read_net("coba.json");
    assert_int_equal(s->n_pops, 2);
    assert_true(s->dt == 0.1 && s->time == 1000);
    assert_int_equal(s->pops[0].size, 3200);
    assert_int_equal(s->pops[1].size, 800);
    for (int i = 0; i < 2; i++) {
        const nm_sim_pop *p = &s->pops[i];
        assert_int_equal(p->model, NM_SIM_LIF_COND_EXP);
        assert_true(pconst(p, "tau_m") == 20 && pconst(p, "V_th") == -50 && pconst(p, "V_reset") == -60 &&
                    pconst(p, "E_L") == -60 && pconst(p, "t_ref") == 5 && pconst(p, "tau_syn_e") == 5 &&
                    pconst(p, "tau_syn_i") == 10 && pconst(p, "E_exc") == 0 && pconst(p, "E_inh") == -80 &&
                    pconst(p, "g_L") == 10);
        /* bench.py: v = El + (randn*5 - 5) mV; ge = randn*1.5 + 4 and gi = randn*12 + 20 in g_L = 10 nS */
        const nm_dist *v = &p->init[0], *ge = &p->init[1], *gi = &p->init[2];
        assert_true(v->kind == NM_DIST_NORMAL && v->a == -65 && v->b == 5);   /* -60 - 5 mV */
        assert_true(ge->kind == NM_DIST_NORMAL && ge->a == 40 && ge->b == 15 && ge->lo == -INFINITY);
        assert_true(gi->kind == NM_DIST_NORMAL && gi->a == 200 && gi->b == 120 && gi->hi == INFINITY);
    }
    assert_int_equal(s->n_projs, 4);
    for (int i = 0; i < 4; i++) {
        const nm_sim_proj *p = &s->projs[i];
        int inh = p->pre == 1;
        assert_int_equal(p->rule, NM_CONN_FIXED_PROB);
        assert_true(p->p == 0.02);
        assert_true(p->weight.kind == NM_DIST_CONST && p->weight.a == (inh ? 67 : 6));   /* 6.7 g_L, 0.6 g_L */
        assert_true(p->delay.a == 0.1);
        assert_int_equal(p->receptor, inh);
        assert_int_equal(p->autapses, 1);   /* Brian's connect(p=...) allows i -> i */
    }
    assert_string_equal(s->projs[1].name, "E->I");
    nm_sim_spec_free(s);

    s = read_net("cuba.json");
    assert_int_equal(s->pops[0].size + s->pops[1].size, 4000);
    for (int i = 0; i < 2; i++) {
        const nm_sim_pop *p = &s->pops[i];
        assert_int_equal(p->model, NM_SIM_LIF_CURR_EXP);
        assert_true(pconst(p, "E_L") == -49 && pconst(p, "V_th") == -50 && pconst(p, "V_reset") == -60 &&
                    pconst(p, "t_ref") == 5 && pconst(p, "tau_syn_i") == 10);
        assert_true(p->init[0].kind == NM_DIST_UNIFORM && p->init[0].a == -60 && p->init[0].b == -50);
        assert_true(isnan(p->init[1].a));   /* I_exc: the model's default */
    }
    for (int i = 0; i < 4; i++) {
        const nm_sim_proj *p = &s->projs[i];
        /* CUBA.py: we = 60 * 0.27 / 10 mV, wi = -20 * 4.5 / 10 mV */
        assert_true(fabs(p->weight.a - (p->pre == 0 ? 60 * 0.27 / 10 : -20 * 4.5 / 10)) < 1e-12);
        assert_true(p->p == 0.02);
    }
    nm_sim_spec_free(s);
}

static void test_nets_brunel(void **state) {
    (void)state;
    static const struct { const char *file; int64_t n, c_e, c_i; } nets[] = {
        {"brunel_10k.json", 10000, 800, 200},
        {"brunel_50k.json", 50000, 4000, 1000},
        {"brunel_100k.json", 100000, 8000, 2000},
        {"brunel_1m.json", 1000000, 800, 200},   /* in-degree fixed at 1000, see nets/README.md */
    };
    for (int f = 0; f < 4; f++) {
        nm_sim_spec *s = read_net(nets[f].file);
        int64_t n_e = nets[f].n * 8 / 10, n_i = nets[f].n - n_e;
        assert_int_equal(s->pops[0].size, n_e);
        assert_int_equal(s->pops[1].size, n_i);
        for (int i = 0; i < 2; i++) {
            const nm_sim_pop *p = &s->pops[i];
            assert_int_equal(p->model, NM_SIM_LIF_DELTA);
            assert_true(pconst(p, "tau_m") == 20 && pconst(p, "V_th") == 20 && pconst(p, "V_reset") == 10 &&
                        pconst(p, "t_ref") == 2 && pconst(p, "E_L") == 0);
            assert_true(p->init[0].kind == NM_DIST_UNIFORM && p->init[0].a == 0 && p->init[0].b == 20);
        }
        assert_int_equal(s->n_projs, 4);
        for (int i = 0; i < 4; i++) {
            const nm_sim_proj *p = &s->projs[i];
            assert_int_equal(p->rule, NM_CONN_FIXED_INDEGREE);
            assert_int_equal(p->k, p->pre == 0 ? nets[f].c_e : nets[f].c_i);
            assert_true(p->weight.a == (p->pre == 0 ? 0.1 : -0.5));   /* J, -g J with g = 5 */
            assert_true(p->delay.kind == NM_DIST_CONST && p->delay.a == 1.5);
            assert_true(p->autapses == 1 && p->multapses == 0);
        }
        /* nu_ext = eta theta / (J C_E tau) = 2 * 20 mV / (0.1 mV * C_E * 0.02 s) */
        double nu_ext = 2.0 * 20.0 / (0.1 * (double)nets[f].c_e * 0.020);
        assert_int_equal(s->n_inputs, 2);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(s->inputs[i].post, i);
            assert_int_equal(s->inputs[i].n, nets[f].c_e);
            assert_true(fabs(s->inputs[i].rate - nu_ext) <= 1e-12 * nu_ext);
            assert_true(s->inputs[i].weight == 0.1);
        }
        assert_string_equal(s->inputs[1].name, "ext->I");
        round_trip(s, "brunel_rt.json");
        nm_sim_spec_free(s);
    }
}

static void test_nets_stdp_demo(void **state) {
    (void)state;
    nm_sim_spec *s = read_net("stdp_demo.json");
    assert_int_equal(s->pops[0].model, NM_SIM_POISSON);
    assert_true(pconst(&s->pops[0], "rate") == 20);
    const nm_sim_proj *p = &s->projs[0];
    assert_string_equal(p->name, "plastic");
    assert_int_equal(p->stdp.kind, NM_STDP_PAIR);
    assert_true(p->stdp.w_max == 4 && p->stdp.tau_minus == 33.7 && p->stdp.A_minus == 0.0525);
    /* Keys the file leaves out keep the Pfister & Gerstner defaults. */
    assert_true(p->stdp.tau_x == 101 && p->stdp.tau_y == 125);
    int spikes = 0, st = 0;
    for (int i = 0; i < s->n_mons; i++) {
        spikes += s->mons[i].kind == NM_MON_SPIKES;
        if (s->mons[i].kind == NM_MON_STATE) {
            st++;
            assert_int_equal(s->mons[i].var, nm_sim_state_index(NM_SIM_LIF_CURR_EXP, "v"));
            assert_true(s->mons[i].interval == 0.5 && s->mons[i].count == -1);
        }
    }
    assert_true(spikes >= 1 && st == 1);
    round_trip(s, "stdp_rt.json");
    nm_sim_spec_free(s);

    /* The rest round-trip too. */
    const char *files[] = {"coba.json", "cuba.json"};
    for (int i = 0; i < 2; i++) {
        s = read_net(files[i]);
        round_trip(s, "net_rt.json");
        nm_sim_spec_free(s);
    }
}

/* ---- defaults and building by hand ------------------------------------------------ */

static void test_defaults(void **state) {
    (void)state;
    nm_status st;
    nm_sim_spec *s = parse("{\"populations\": [{\"name\": \"A\", \"model\": \"adex\", \"size\": 3,"
                           " \"params\": {\"tau_w\": 100}},"
                           " {\"name\": \"S\", \"model\": \"spike_source\", \"size\": 3, \"file\": \"in/stim.csv\"}],"
                           " \"projections\": [{\"from\": \"S\", \"to\": \"A\", \"rule\": \"all_to_all\", \"weight\": 5},"
                           "  {\"from\": \"S\", \"to\": \"A\", \"rule\": \"one_to_one\", \"weight\": 5},"
                           "  {\"from\": \"A\", \"to\": \"A\", \"rule\": \"fixed_outdegree\", \"k\": 3, \"weight\": 5}],"
                           " \"inputs\": [{\"to\": \"A\", \"n\": 10, \"rate\": 2.5, \"weight\": 1},"
                           "  {\"to\": \"A\", \"n\": 10, \"rate\": 2.5, \"weight\": 1, \"receptor\": \"inh\"}],"
                           " \"monitors\": [{\"kind\": \"rate\", \"population\": \"S\"}]}",
                           &st);
    if (!s) fail_msg("%s", nm_errmsg());
    assert_true(s->dt == 0.1 && s->time == 1000 && s->seed == 1);
    const nm_sim_pop *a = &s->pops[0];
    const nm_sim_model_info *mi = nm_sim_model_get(NM_SIM_ADEX);
    for (int k = 0; k < mi->n_params; k++) {
        assert_int_equal(a->param[k].kind, NM_DIST_CONST);
        assert_true(a->param[k].a == (k == AX_TAU_W ? 100 : mi->params[k].def));
    }
    for (int k = 0; k < NM_SIM_MAX_STATE; k++) assert_true(a->init[k].kind == NM_DIST_CONST && isnan(a->init[k].a));
    assert_string_equal(s->pops[1].spike_file, "/nets/in/stim.csv");   /* resolved against the dir */
    assert_string_equal(s->projs[0].name, "S->A");
    assert_string_equal(s->projs[1].name, "S->A#2");
    assert_string_equal(s->projs[2].name, "A->A");
    for (int i = 0; i < 3; i++) {
        assert_true(s->projs[i].delay.kind == NM_DIST_CONST && s->projs[i].delay.a == 0.1);   /* one step */
        assert_int_equal(s->projs[i].autapses, 1);
        assert_int_equal(s->projs[i].multapses, 0);
        assert_int_equal(s->projs[i].receptor, 0);
        assert_int_equal(s->projs[i].stdp.kind, NM_STDP_NONE);
    }
    assert_string_equal(s->inputs[1].name, "ext->A#2");
    assert_int_equal(s->inputs[1].receptor, 1);
    assert_int_equal(s->mons[0].first, 0);
    assert_int_equal(s->mons[0].count, -1);
    assert_null(s->mons[0].file);
    nm_sim_spec_free(s);

    /* An absolute spike file stays as it is; read() resolves against the file's own dir. */
    const char *net = tmp_path("rel/net.json");
    char dir[520];
    snprintf(dir, sizeof dir, "%s/rel", NM_TEST_TMP_DIR);
    mkdir(dir, 0755);
    FILE *f = fopen(net, "w");
    assert_non_null(f);
    fputs("{\"populations\": [{\"name\": \"S\", \"model\": \"spike_source\", \"size\": 2, \"file\": \"x.csv\"},"
          "{\"name\": \"T\", \"model\": \"spike_source\", \"size\": 2, \"file\": \"/abs/y.csv\"}]}",
          f);
    fclose(f);
    ASSERT_OK(nm_sim_spec_read(net, &s));
    char want[600];
    snprintf(want, sizeof want, "%s/x.csv", dir);
    if (dir[0] == '/') assert_string_equal(s->pops[0].spike_file, want);
    else assert_non_null(strstr(s->pops[0].spike_file, want));
    assert_string_equal(s->pops[1].spike_file, "/abs/y.csv");
    nm_sim_spec_free(s);
    remove(net);

    assert_string_equal(nm_conn_rule_name(NM_CONN_FIXED_INDEGREE), "fixed_indegree");
    assert_string_equal(nm_conn_rule_name(NM_CONN_LIST), "list");
    assert_string_equal(nm_conn_rule_name((nm_conn_rule)99), "unknown");
    nm_sim_spec_free(NULL);
}

static void test_round_trip_by_hand(void **state) {
    (void)state;
    nm_sim_spec *s = nm_sim_spec_create();
    s->dt = 0.025;
    s->time = 123.456;
    s->seed = 0xfedcba9876543210ULL;   /* above 2^63: written as a string */
    nm_sim_pop *p = nm_sim_spec_add_pop(s, "exc \"quoted\" \\", NM_SIM_LIF_COND_EXP, 50);
    p->param[LG_TAU_M] = (nm_dist){NM_DIST_NORMAL, 20.0 / 3.0, 0.1, 1.0, INFINITY};
    p->param[LG_V_TH] = (nm_dist){NM_DIST_UNIFORM, -51.3, -49.7, -INFINITY, INFINITY};
    p->param[LG_G_L] = (nm_dist){NM_DIST_LOGNORMAL, log(10.0), 0.2, 2.0, 50.0};
    p->init[0] = (nm_dist){NM_DIST_NORMAL, -60.123456789012345, 2.5, -INFINITY, -50.0};
    p->init[2] = nm_dist_const(1e-300);
    p = nm_sim_spec_add_pop(s, "src", NM_SIM_POISSON, 7);
    p->param[PO_RATE] = nm_dist_const(3.14159);
    p = nm_sim_spec_add_pop(s, "iz", NM_SIM_IZHIKEVICH, 7);
    p = nm_sim_spec_add_pop(s, "file", NM_SIM_SPIKE_SOURCE, 4);
    p->spike_file = strdup("/data/spikes with space.csv");

    nm_sim_proj *j = nm_sim_spec_add_proj(s, 1, 0, NM_CONN_FIXED_PROB);
    j->p = 0.123456789;
    j->autapses = 0;
    j->weight = (nm_dist){NM_DIST_UNIFORM, 0.1, 0.7, -INFINITY, INFINITY};
    j->delay = (nm_dist){NM_DIST_NORMAL, 1.5, 0.3, 0.1, 4.0};
    j->receptor = 1;
    j = nm_sim_spec_add_proj(s, 0, 0, NM_CONN_FIXED_INDEGREE);
    j->k = 12;
    j->multapses = 1;
    j->weight = nm_dist_const(0.5);
    j->stdp.kind = NM_STDP_TRIPLET;
    j->stdp.A3_plus = 6.5e-3;
    j->stdp.A3_minus = 1e-4;
    j->stdp.multiplicative = 1;
    j->stdp.nearest = 1;
    j = nm_sim_spec_add_proj(s, 3, 2, NM_CONN_LIST);
    j->n_list = 3;
    j->list_pre = malloc(3 * sizeof(int32_t));
    j->list_post = malloc(3 * sizeof(int32_t));
    j->list_weight = malloc(3 * sizeof(float));
    j->list_delay = malloc(3 * sizeof(float));
    for (int e = 0; e < 3; e++) {
        j->list_pre[e] = e + 1;
        j->list_post[e] = 6 - e;
        j->list_weight[e] = 0.1f * (float)(e + 1) - 0.15f;
        j->list_delay[e] = 0.7f + 0.3f * (float)e;   /* 0.7f is a hair below 0.7: still >= dt */
    }
    j = nm_sim_spec_add_proj(s, 3, 2, NM_CONN_LIST);   /* pairs only: weight and delay from the dists */
    j->n_list = 1;
    j->list_pre = calloc(1, sizeof(int32_t));
    j->list_post = calloc(1, sizeof(int32_t));
    j->weight = nm_dist_const(2.0);
    j->delay = (nm_dist){NM_DIST_LOGNORMAL, 0.0, 0.5, 0.5, INFINITY};
    j->stdp.kind = NM_STDP_PAIR;
    j->stdp.w_max = 3;
    j = nm_sim_spec_add_proj(s, 2, 2, NM_CONN_ONE_TO_ONE);
    j->weight = nm_dist_const(-1.25);
    nm_sim_input *in = nm_sim_spec_add_input(s, 2);
    in->n = 800;
    in->rate = 2.5e-3;
    in->weight = -0.3;
    in->receptor = 1;
    nm_sim_monitor *m = nm_sim_spec_add_monitor(s, NM_MON_STATE, 0);
    m->var = 2;
    m->first = 10;
    m->count = 40;
    m->interval = 0.3;
    m->file = strdup("out/g_inh.csv");
    m = nm_sim_spec_add_monitor(s, NM_MON_RATE, 3);
    m->bin = 2.5;
    m = nm_sim_spec_add_monitor(s, NM_MON_SPIKES, 1);
    ASSERT_OK(nm_sim_spec_check(s));
    assert_string_equal(s->projs[3].name, "file->iz#2");
    round_trip(s, "by_hand.json");

    /* The seed above 2^63 is a string in the file. */
    ASSERT_OK(nm_sim_spec_write(s, tmp_path("seed.json")));
    size_t n;
    char *text = slurp(tmp_path("seed.json"), &n);
    assert_non_null(strstr(text, "\"seed\": \"18364758544493064720\""));
    free(text);
    remove(tmp_path("seed.json"));
    nm_sim_spec_free(s);
}

/* ---- refusals --------------------------------------------------------------------- */

#define POPS "\"populations\": [{\"name\": \"E\", \"model\": \"lif_cond_exp\", \"size\": 10}," \
             "{\"name\": \"I\", \"model\": \"lif_curr_exp\", \"size\": 5}]"
#define NET(rest) "{" POPS rest "}"
#define PROJ(body) NET(", \"projections\": [{" body "}]")

static void test_refuse_syntax(void **state) {
    (void)state;
    refuse("", NM_FORMAT, "not valid JSON", "line 1", NULL);
    refuse("{\"populations\": [", NM_FORMAT, "not valid JSON at line 1, column 17", NULL);
    refuse("{\"dt\": 0.1, \"dt\": 0.2, " POPS "}", NM_FORMAT, "duplicate", "dt", NULL);
    refuse("{\"dt\": NaN, " POPS "}", NM_FORMAT, "not valid JSON", NULL);
    refuse("{\"dt\": 1e999, " POPS "}", NM_FORMAT, "not valid JSON", NULL);
    refuse("{\"seed\": 123456789012345678901234567890, " POPS "}", NM_FORMAT, "not valid JSON", NULL);
    refuse("[1, 2]", NM_FORMAT, "top level must be an object, not an array", NULL);
    refuse("{\"dt\": \"NaN\", " POPS "}", NM_FORMAT, "'dt' must be a number, not a string", NULL);
    refuse("{\"dt\": 0.1}", NM_FORMAT, "'populations' is missing or empty", NULL);
    refuse("{\"populations\": []}", NM_FORMAT, "'populations' is missing or empty", NULL);
    refuse("{\"populations\": {}}", NM_FORMAT, "'populations' must be an array, not an object", NULL);
    refuse("{\"populatoins\": []}", NM_FORMAT, "unknown key 'populatoins'", NULL);
    refuse("{\"a\\nb\": []}", NM_FORMAT, "unknown key 'a?b'", NULL);   /* still one line */
    refuse("{\n \"dt\": \\\n}", NM_FORMAT, "not valid JSON at line 2", NULL);
    refuse("{\"populations\": [3]}", NM_FORMAT, "populations[0]: must be an object, not an integer", NULL);
    refuse("{\"populations\": [{\"model\": \"poisson\", \"size\": 3}]}", NM_FORMAT, "populations[0]: 'name' is missing",
           NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"hh\", \"size\": 3}]}", NM_FORMAT,
           "population 'P': unknown neuron model 'hh'", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"poisson\", \"size\": \"3\"}]}", NM_FORMAT,
           "population 'P': 'size' must be an integer, not a string", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"poisson\", \"size\": 2.5}]}", NM_FORMAT,
           "'size' must be an integer, not 2.5", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"poisson\", \"size\": 1e300}]}", NM_FORMAT,
           "must be an integer", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"poisson\", \"size\": 3, \"sise\": 4}]}", NM_FORMAT,
           "population 'P': unknown key 'sise'", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3, \"params\": {\"tau\": 4}}]}",
           NM_FORMAT, "population 'P': unknown parameter 'tau' of lif_delta (tau_m, E_L", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3, \"init\": {\"u\": 4}}]}",
           NM_FORMAT, "population 'P': unknown state variable 'u'", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3,"
           " \"params\": {\"tau_m\": {\"dist\": \"gamma\", \"k\": 1}}}]}",
           NM_FORMAT, "unknown distribution 'gamma'", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3,"
           " \"params\": {\"tau_m\": {\"dist\": \"uniform\", \"low\": 1, \"hi\": 2}}}]}",
           NM_FORMAT, "unknown key 'hi'", "uniform", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3,"
           " \"params\": {\"tau_m\": {\"dist\": \"normal\", \"mean\": 1}}}]}",
           NM_FORMAT, "param 'tau_m' \"std\" is missing", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3,"
           " \"params\": {\"tau_m\": {\"mean\": 1}}}]}",
           NM_FORMAT, "needs \"dist\"", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3, \"params\": {\"tau_m\": \"20\"}}]}",
           NM_FORMAT, "param 'tau_m' must be a number or a distribution object, not a string", NULL);
    refuse("{\"populations\": [{\"name\": \"S\", \"model\": \"spike_source\", \"size\": 3}]}", NM_FORMAT,
           "population 'S': a spike_source needs \"file\"", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"poisson\", \"size\": 3, \"file\": \"x\"}]}", NM_FORMAT,
           "'file' is only for a spike_source", NULL);
    refuse("{\"populations\": [{\"name\": \"0123456789012345678901234567890123456789012345678901234567890123\","
           " \"model\": \"poisson\", \"size\": 3}]}",
           NM_RANGE, "longer than 63 characters", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"wieght\": 1"), NM_FORMAT,
           "t.json: projection 'E->I': unknown key 'wieght'", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"p\": 0.1, \"weight\": 1"), NM_FORMAT,
           "projection 'E->I': unknown key 'p' for rule all_to_all", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"fixed_probability\", \"weight\": 1"), NM_FORMAT,
           "projection 'E->I': 'p' is missing", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"fixed_indegree\", \"k\": 1.5, \"weight\": 1"), NM_FORMAT,
           "'k' must be an integer", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"sparse\", \"weight\": 1"), NM_FORMAT,
           "unknown rule 'sparse'", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\""), NM_FORMAT, "'weight' is missing", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1, \"receptor\": 1"), NM_FORMAT,
           "'receptor' must be a string", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1, \"receptor\": \"gaba\""),
           NM_FORMAT, "receptor 'gaba' must be \"exc\" or \"inh\"", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1, \"autapses\": 1"), NM_FORMAT,
           "'autapses' must be true or false", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1, \"stdp\": {\"rule\": \"bcm\"}"),
           NM_FORMAT, "stdp rule 'bcm'", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1,"
                " \"stdp\": {\"rule\": \"pair\", \"tau_x\": 5}"),
           NM_FORMAT, "unknown key 'tau_x' in a pair 'stdp'", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"pairs\": [[0, 1], [2]], \"weight\": 1"),
           NM_FORMAT, "pairs[1] must be [source, target]", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"pairs\": [[0, -1]], \"weight\": 1"), NM_RANGE,
           "pairs[0] target -1 must be between 0", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"pairs\": [[0, 1], [1, 2]], \"weights\": [1]"),
           NM_FORMAT, "'weights' has 1 entries but 'pairs' has 2", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"pairs\": [[0, 1]], \"weights\": [1e39]"),
           NM_RANGE, "weights[0] 1e+39 does not fit a float", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"pairs\": [[0, 1]], \"weights\": [1], \"weight\": 2"),
           NM_FORMAT, "give 'weight' or 'weights', not both", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"weight\": 2"), NM_FORMAT, "'pairs' is missing",
           NULL);
    refuse(NET(", \"inputs\": [{\"to\": \"E\", \"n\": 5, \"rate\": 1, \"weight\": 1, \"rte\": 3}]"), NM_FORMAT,
           "input 'ext->E'", "unknown key 'rte'", NULL);
    refuse(NET(", \"inputs\": [{\"to\": \"E\", \"n\": 5, \"weight\": 1}]"), NM_FORMAT, "'rate' is missing", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"voltage\", \"population\": \"E\"}]"), NM_FORMAT,
           "unknown kind 'voltage'", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"spikes\", \"population\": \"E\", \"bin\": 1}]"), NM_FORMAT,
           "unknown key 'bin' for a spikes monitor", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"state\", \"population\": \"E\", \"variable\": \"w\"}]"), NM_NOTFOUND,
           "unknown variable 'w' of lif_cond_exp (v, g_exc, g_inh)", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"state\", \"population\": \"E\"}]"), NM_FORMAT, "'variable' is missing",
           NULL);
    refuse(NET(", \"seed\": -1"), NM_RANGE, "'seed' -1 must be between 0", NULL);
    refuse(NET(", \"seed\": \"12x\""), NM_FORMAT, "'seed' '12x' is not a decimal integer", NULL);
    refuse(NET(", \"description\": 5"), NM_FORMAT, "'description' must be a string", NULL);
}

static void test_refuse_unknown_pops(void **state) {
    (void)state;
    refuse(PROJ("\"from\": \"X\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1"), NM_NOTFOUND,
           "projection 'X->I': unknown population 'X' in 'from' (populations: E, I)", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"Y\", \"rule\": \"all_to_all\", \"weight\": 1"), NM_NOTFOUND,
           "unknown population 'Y' in 'to'", NULL);
    refuse(NET(", \"inputs\": [{\"to\": \"Z\", \"n\": 5, \"rate\": 1, \"weight\": 1}]"), NM_NOTFOUND,
           "input 'ext->Z': unknown population 'Z' in 'to'", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"spikes\", \"population\": \"Q\"}]"), NM_NOTFOUND,
           "monitors[0]: unknown population 'Q' in 'population'", NULL);
}

static void test_refuse_values(void **state) {
    (void)state;
    /* globals and populations */
    refuse("{\"dt\": 0, " POPS "}", NM_RANGE, "dt 0 ms must be > 0", NULL);
    refuse("{\"dt\": 20, " POPS "}", NM_RANGE, "dt 20 ms must be > 0 and <= 10 ms", NULL);
    refuse("{\"time\": -1, " POPS "}", NM_RANGE, "time -1 ms", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"poisson\", \"size\": 0}]}", NM_RANGE,
           "population 'P': 'size' 0 must be between 1 and 2147483647", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"poisson\", \"size\": 2147483648}]}", NM_RANGE,
           "'size' 2147483648 must be between 1 and 2147483647", NULL);
    refuse("{\"populations\": [{\"name\": \"\", \"model\": \"poisson\", \"size\": 1}]}", NM_RANGE,
           "population 0 has an empty name", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"poisson\", \"size\": 1},"
           " {\"name\": \"P\", \"model\": \"poisson\", \"size\": 1}]}",
           NM_RANGE, "population 'P': the name is used twice", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3, \"params\": {\"tau_m\": 0}}]}",
           NM_RANGE, "population 'P': tau_m 0 ms must be > 0", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3, \"params\": {\"t_ref\": -1}}]}",
           NM_RANGE, "population 'P': t_ref -1 ms must be >= 0", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3,"
           " \"params\": {\"tau_m\": {\"dist\": \"normal\", \"mean\": 20, \"std\": 2}}}]}",
           NM_RANGE, "population 'P': tau_m normal(mean 20, std 2) ms can reach -inf ms; it must be > 0", "\"min\"",
           NULL);
    nm_status st;
    nm_sim_spec *s = parse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3,"
                           " \"params\": {\"tau_m\": {\"dist\": \"lognormal\", \"mean\": 3, \"std\": 0.2}}}]}",
                           &st);   /* a lognormal is positive without a "min" */
    if (!s) fail_msg("%s", nm_errmsg());
    nm_sim_spec_free(s);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3,"
           " \"params\": {\"tau_m\": {\"dist\": \"uniform\", \"low\": 5, \"high\": 2}}}]}",
           NM_RANGE, "population 'P': tau_m: a uniform distribution needs finite low <= high", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3,"
           " \"params\": {\"tau_m\": {\"dist\": \"normal\", \"mean\": 20, \"std\": 0}}}]}",
           NM_RANGE, "tau_m: a normal distribution needs a finite mean and a standard deviation > 0", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_curr_exp\", \"size\": 3,"
           " \"params\": {\"V_reset\": -50, \"V_th\": -50}}]}",
           NM_RANGE, "population 'P': V_reset (-50 mV) must be below V_th (-50 mV)", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_cond_exp\", \"size\": 3, \"params\": {\"g_L\": 0}}]}",
           NM_RANGE, "g_L 0 nS must be > 0", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"adex\", \"size\": 3, \"params\": {\"C_m\": -1}}]}",
           NM_RANGE, "C_m -1 pF must be > 0", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"adex\", \"size\": 3, \"params\": {\"h_max\": 0}}]}",
           NM_RANGE, "h_max 0 ms must be > 0", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"adex\", \"size\": 3, \"params\": {\"V_th\": 5}}]}",
           NM_RANGE, "V_th (5 mV) must be below V_peak (0 mV) or equal", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"izhikevich\", \"size\": 3, \"params\": {\"c\": 40}}]}",
           NM_RANGE, "population 'P': c (40 mV) must be below v_peak", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"poisson\", \"size\": 3, \"params\": {\"rate\": -2}}]}",
           NM_RANGE, "population 'P': rate -2 Hz must be >= 0", NULL);
    refuse("{\"populations\": [{\"name\": \"P\", \"model\": \"lif_delta\", \"size\": 3,"
           " \"init\": {\"v\": {\"dist\": \"normal\", \"mean\": 0, \"std\": 1, \"min\": 2, \"max\": 1}}}]}",
           NM_RANGE, "population 'P': init v: the normal's bounds [2, 1] are empty", NULL);

    /* projections: rules */
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"fixed_probability\", \"p\": 1.5, \"weight\": 1"),
           NM_RANGE, "projection 'E->I': p 1.5 must be in [0, 1]", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"fixed_indegree\", \"k\": 11, \"weight\": 1"), NM_RANGE,
           "projection 'E->I': k 11 is more than the 10 distinct sources 'E' offers", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"E\", \"rule\": \"fixed_indegree\", \"k\": 10, \"autapses\": false,"
                " \"weight\": 1"),
           NM_RANGE, "k 10 is more than the 9 distinct sources", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"fixed_outdegree\", \"k\": 6, \"weight\": 1"), NM_RANGE,
           "projection 'E->I': k 6 is more than the 5 distinct targets 'I' offers", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"fixed_outdegree\", \"k\": -1, \"weight\": 1"), NM_RANGE,
           "'k' -1 must be between 0", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"one_to_one\", \"weight\": 1"), NM_RANGE,
           "projection 'E->I': one_to_one needs equal sizes ('E' has 10, 'I' 5)", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"pairs\": [[0, 1], [10, 2]], \"weight\": 1"),
           NM_RANGE, "projection 'E->I': pair 1: source 10 is outside 'E' (size 10)", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"pairs\": [[0, 5]], \"weight\": 1"), NM_RANGE,
           "pair 0: target 5 is outside 'I' (size 5)", NULL);
    refuse(NET(", \"projections\": [{\"name\": \"a\", \"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\","
               " \"weight\": 1}, {\"name\": \"a\", \"from\": \"I\", \"to\": \"I\", \"rule\": \"all_to_all\","
               " \"weight\": 1}]"),
           NM_RANGE, "projection 'a': the name is used twice", NULL);
    refuse("{\"populations\": [{\"name\": \"S\", \"model\": \"poisson\", \"size\": 3}],"
           " \"projections\": [{\"from\": \"S\", \"to\": \"S\", \"rule\": \"all_to_all\", \"weight\": 1}]}",
           NM_RANGE, "projection 'S->S': population 'S' is a poisson, which cannot receive spikes", NULL);

    /* delays: below dt, negative, unbounded distributions, lists */
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1, \"delay\": 0.05"), NM_RANGE,
           "t.json: projection 'E->I': delay 0.05 ms is below dt (0.1 ms)", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1, \"delay\": -1"), NM_RANGE,
           "projection 'E->I': delay -1 ms is negative", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1,"
                " \"delay\": {\"dist\": \"uniform\", \"low\": 0.05, \"high\": 2}"),
           NM_RANGE, "projection 'E->I': delay uniform(0.05, 2) ms can be 0.05 ms, below dt (0.1 ms)", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1,"
                " \"delay\": {\"dist\": \"normal\", \"mean\": 1.5, \"std\": 0.3}"),
           NM_RANGE, "projection 'E->I': delay normal(mean 1.5, std 0.3) ms is unbounded below", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1,"
                " \"delay\": {\"dist\": \"normal\", \"mean\": 1.5, \"std\": 0.3, \"min\": 0.01}"),
           NM_RANGE, "can be 0.01 ms, below dt (0.1 ms)", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1,"
                " \"delay\": {\"dist\": \"normal\", \"mean\": 1.5, \"std\": 0.3, \"min\": -1}"),
           NM_RANGE, "can be negative (-1 ms)", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1,"
                " \"delay\": {\"dist\": \"lognormal\", \"mean\": 0, \"std\": 0.3}"),
           NM_RANGE, "delay lognormal(mean 0, std 0.3) ms can be 0 ms, below dt (0.1 ms)", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"pairs\": [[0, 1], [1, 1]], \"weight\": 1,"
                " \"delays\": [0.5, 0.08]"),
           NM_RANGE, "projection 'E->I': delays[1] 0.08", "below dt (0.1 ms)", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"list\", \"pairs\": [[0, 1]], \"weight\": 1,"
                " \"delays\": [-3]"),
           NM_RANGE, "delays[0] -3 ms is negative", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1, \"delay\": 1e5"), NM_RANGE,
           "delay 100000 ms is above the largest allowed", NULL);
    s = parse("{\"dt\": 0.5, " POPS ", \"projections\": [{\"from\": \"E\", \"to\": \"I\","
                           " \"rule\": \"all_to_all\", \"weight\": 1}]}",
                           &st);   /* the default delay is dt itself: accepted */
    if (!s) fail_msg("%s", nm_errmsg());
    assert_true(s->projs[0].delay.a == 0.5);
    nm_sim_spec_free(s);

    /* conductance weights */
    refuse(PROJ("\"from\": \"I\", \"to\": \"E\", \"rule\": \"all_to_all\", \"weight\": -67, \"receptor\": \"inh\""),
           NM_RANGE, "projection 'I->E': weight -67 nS", "must be >= 0", NULL);
    refuse(PROJ("\"from\": \"I\", \"to\": \"E\", \"rule\": \"all_to_all\","
                " \"weight\": {\"dist\": \"normal\", \"mean\": 6, \"std\": 1}"),
           NM_RANGE, "projection 'I->E': weight normal(mean 6, std 1)", "can reach -inf", NULL);
    refuse(PROJ("\"from\": \"I\", \"to\": \"E\", \"rule\": \"list\", \"pairs\": [[0, 1]], \"weights\": [-0.5]"),
           NM_RANGE, "projection 'I->E': weights[0] -0.5 nS is negative", NULL);
    refuse(NET(", \"inputs\": [{\"to\": \"E\", \"n\": 5, \"rate\": 1, \"weight\": -1}]"), NM_RANGE,
           "input 'ext->E': weight -1 nS is negative", NULL);
    /* ... while a current-based target takes negative weights */
    s = parse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": -9,"
                                " \"receptor\": \"inh\""),
                           &st);
    if (!s) fail_msg("%s", nm_errmsg());
    nm_sim_spec_free(s);

    /* stdp */
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 0.5,"
                " \"stdp\": {\"rule\": \"pair\", \"tau_plus\": 0}"),
           NM_RANGE, "projection 'E->I': stdp tau_plus 0 ms must be > 0", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 0.5,"
                " \"stdp\": {\"rule\": \"pair\", \"w_min\": 2, \"w_max\": 1}"),
           NM_RANGE, "stdp w_min 2 is above w_max 1", NULL);
    refuse(PROJ("\"from\": \"E\", \"to\": \"I\", \"rule\": \"all_to_all\", \"weight\": 1.5,"
                " \"stdp\": {\"rule\": \"triplet\"}"),
           NM_RANGE, "projection 'E->I': the weights reach [1.5, 1.5], outside stdp's [w_min, w_max] = [0, 1]", NULL);

    /* inputs and monitors */
    refuse(NET(", \"inputs\": [{\"to\": \"I\", \"n\": 5, \"rate\": -1, \"weight\": 1}]"), NM_RANGE,
           "input 'ext->I': rate -1 Hz must be finite and >= 0", NULL);
    refuse(NET(", \"inputs\": [{\"to\": \"I\", \"n\": -5, \"rate\": 1, \"weight\": 1}]"), NM_RANGE,
           "input 'ext->I': 'n' -5 must be between 0", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"spikes\", \"population\": \"I\", \"first\": 5}]"), NM_RANGE,
           "monitor 0 (spikes of 'I'): first 5 is outside the population (size 5)", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"spikes\", \"population\": \"I\", \"first\": 2, \"count\": 4}]"),
           NM_RANGE, "monitor 0 (spikes of 'I'): first 2 + count 4 is past the population's end (size 5)", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"spikes\", \"population\": \"I\", \"count\": 0}]"), NM_RANGE,
           "count 0 is past", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"state\", \"population\": \"I\", \"variable\": \"v\", \"interval\": -1}]"),
           NM_RANGE, "monitor 0 (state of 'I'): interval -1 ms must be finite and >= 0", NULL);
    refuse(NET(", \"monitors\": [{\"kind\": \"rate\", \"population\": \"I\", \"bin\": -0.5}]"), NM_RANGE,
           "monitor 0 (rate of 'I'): bin -0.5 ms", NULL);
}

/* nm_sim_spec_check on specs built by hand: what the reader cannot produce. */
static void test_check_by_hand(void **state) {
    (void)state;
    ASSERT_MSG(nm_sim_spec_check(NULL), NM_INVAL, "no network description");
    nm_sim_spec *s = nm_sim_spec_create();
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "no populations");
    nm_sim_pop *p = nm_sim_spec_add_pop(s, "big", NM_SIM_LIF_DELTA, 2147483647);
    for (int i = 0; i < 511; i++) {
        p = nm_sim_spec_add_pop(s, "big", NM_SIM_LIF_DELTA, 2147483647);
        snprintf(p->name, sizeof p->name, "big%d", i);
    }
    ASSERT_OK(nm_sim_spec_check(s));   /* 512 (2^31 - 1) < 2^40 */
    p = nm_sim_spec_add_pop(s, "last", NM_SIM_LIF_DELTA, 1024);
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "more than 2^40 neurons (at population 'last')");
    nm_sim_spec_free(s);

    s = nm_sim_spec_create();
    p = nm_sim_spec_add_pop(s, "A", NM_SIM_LIF_DELTA, 10);
    nm_sim_proj *j = nm_sim_spec_add_proj(s, 0, 3, NM_CONN_ALL_TO_ALL);
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "projection '");
    assert_string_equal(nm_errmsg(), "projection 'A->?': population index 3 out of range (1 populations)");
    j->post = 0;
    snprintf(j->name, sizeof j->name, "A->A");
    j->delay = nm_dist_const(0.0999);
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "projection 'A->A': delay 0.0999 ms is below dt (0.1 ms)");
    j->delay = nm_dist_const(0.1);
    j->weight = nm_dist_const(NAN);
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "projection 'A->A': weight: the value is not finite");
    j->weight = nm_dist_const(1);
    j->rule = NM_CONN_LIST;
    j->n_list = 2;
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "the pair lists are missing");
    j->n_list = 0;
    ASSERT_OK(nm_sim_spec_check(s));
    s->pops[0].init[0] = nm_dist_const(INFINITY);
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "population 'A': init v: the value is not finite");
    s->pops[0].init[0] = nm_dist_const(NAN);
    nm_sim_monitor *m = nm_sim_spec_add_monitor(s, NM_MON_STATE, 0);
    m->var = 1;
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "state variable 1 out of range (lif_delta has 1)");
    m->var = 0;
    ASSERT_OK(nm_sim_spec_check(s));
    s->dt = NAN;
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "dt nan ms");
    s->dt = 0.1;
    s->pops[0].spike_file = strdup("x.csv");
    ASSERT_MSG(nm_sim_spec_check(s), NM_RANGE, "population 'A': only a spike_source takes a spike file");
    /* An invalid spec is not written. */
    ASSERT_MSG(nm_sim_spec_write(s, tmp_path("invalid.json")), NM_RANGE, "not written");
    assert_int_equal(access(tmp_path("invalid.json"), F_OK), -1);
    nm_sim_spec_free(s);

    /* write: a directory that does not exist */
    s = nm_sim_spec_create();
    nm_sim_spec_add_pop(s, "A", NM_SIM_POISSON, 2);
    ASSERT_MSG(nm_sim_spec_write(s, tmp_path("nodir/x.json")), NM_IO, "x.json");
    nm_sim_spec_free(s);

    /* read: a missing file, a directory of none, NULL */
    nm_sim_spec *out = NULL;
    ASSERT_MSG(nm_sim_spec_read(tmp_path("nowhere/none.json"), &out), NM_IO, "none.json");
    assert_null(out);
    ASSERT_MSG(nm_sim_spec_read(NULL, &out), NM_INVAL, "no network description file");
    const char *trunc = tmp_path("trunc.json");
    FILE *f = fopen(trunc, "w");
    assert_non_null(f);
    fputs("{\"populations\": [{\"name\": \"E\", \"model\": \"lif_de", f);
    fclose(f);
    ASSERT_MSG(nm_sim_spec_read(trunc, &out), NM_FORMAT, "trunc.json: not valid JSON at line 1");
    remove(trunc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nets_coba_cuba),    cmocka_unit_test(test_nets_brunel),
        cmocka_unit_test(test_nets_stdp_demo),    cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_round_trip_by_hand), cmocka_unit_test(test_refuse_syntax),
        cmocka_unit_test(test_refuse_unknown_pops), cmocka_unit_test(test_refuse_values),
        cmocka_unit_test(test_check_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
