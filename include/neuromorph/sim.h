/*
** sim: the large-scale event-driven network simulator.
**
** A network is populations of neurons (or spike sources) joined by projections. The
** simulator advances every neuron by one step of dt, and moves spikes as events: a spike
** of neuron j walks j's row of synapses (compressed rows, 8 bytes a synapse) and adds each
** weight into its target's ring buffer, at the slot its delay points to. Work is one pass
** over the neurons per step plus one add per synaptic event.
**
** Units are those of NEST and Brian: time in ms, potentials in mV, currents in pA (or in
** mV, as R_m I, for the lif_* models), conductances in nS, capacitance in pF, rates in Hz.
**
** Scale-out. Neuron g (a global index over all populations in order) lives on rank
** g mod K and, within its rank, on one of the threads (contiguous blocks per population).
** Everything random is drawn from Philox keyed by the seed and the global index of the
** neuron that owns it: a neuron's parameters and initial state by its own index, a
** synapse's existence, weight and delay by its target's index (connectivity is generated
** where the target lives), external Poisson input by (target, step). Spikes are exchanged
** every minimum delay (MPI_Allgatherv) and delivered in (step, source) order, so every
** target sums its inputs in the same order whatever the number of threads and ranks: the
** spikes are identical, bit for bit, for any thread count and any K.
**
** Integration. lif_delta and lif_curr_exp are integrated exactly (exponential decay of
** the membrane and of the currents); lif_cond_exp decays its conductances exactly and
** steps the membrane by forward Euler, as Brian2's COBA benchmark does; adex (Heun) and
** izhikevich follow the engine's models (neuron.h) with their substeps. During the
** refractory period the membrane is held at V_reset and input to it is dropped (Brunel
** 2000), while synaptic currents and conductances go on decaying and summing.
*/
#ifndef NEUROMORPH_SIM_H
#define NEUROMORPH_SIM_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- distributions ---------------------------------------------------------------- */

typedef enum {
    NM_DIST_CONST = 0,   /* a                                                         */
    NM_DIST_UNIFORM,     /* [a, b)                                                    */
    NM_DIST_NORMAL,      /* mean a, standard deviation b, redrawn outside [lo, hi]    */
    NM_DIST_LOGNORMAL,   /* exp(N(a, b)): a, b of the underlying normal, redrawn outside [lo, hi] */
} nm_dist_kind;

typedef struct nm_dist {
    nm_dist_kind kind;
    double a, b;
    double lo, hi;       /* bounds for normal / lognormal; -inf / +inf when unbounded */
} nm_dist;

static inline nm_dist nm_dist_const(double a) {
    nm_dist d = {NM_DIST_CONST, a, 0.0, -1.0 / 0.0, 1.0 / 0.0};
    return d;
}
/* A draw from d, taking as many words from r as it needs (bounded redraws: after 1000
** draws outside [lo, hi] the value is clamped). */
double nm_dist_draw(const nm_dist *d, nm_rng *r);
/* NM_RANGE naming `what` when the distribution is malformed (b <= 0 for a normal, b < a for
** a uniform, lo > hi, non-finite parameters) or cannot give a value in [min, max]. */
nm_status nm_dist_check(const nm_dist *d, double min, double max, const char *what);

/* ---- neuron models ---------------------------------------------------------------- */

typedef enum {
    NM_SIM_LIF_DELTA = 0,   /* LIF, a spike jumps v by w (mV): Brunel 2000                  */
    NM_SIM_LIF_CURR_EXP,    /* LIF with exponential currents in mV (R_m I): CUBA            */
    NM_SIM_LIF_COND_EXP,    /* LIF with exponential conductances in nS: COBA                */
    NM_SIM_ADEX,            /* adaptive exponential IF, exponential currents in pA          */
    NM_SIM_IZHIKEVICH,      /* Izhikevich 2003, a spike jumps v by w (mV)                   */
    NM_SIM_POISSON,         /* source: independent Poisson trains at `rate` (Hz)            */
    NM_SIM_SPIKE_SOURCE,    /* source: spikes read from a spike file (viz.h's TIME,NEURON)  */
    NM_SIM_N_MODELS
} nm_sim_model;

#define NM_SIM_MAX_PARAMS 16
#define NM_SIM_MAX_STATE  4

/* One named quantity of a model: a parameter or a state variable. */
typedef struct nm_sim_var {
    const char *name;     /* "tau_m"              */
    const char *unit;     /* "ms"                 */
    double      def;      /* its default          */
    const char *doc;      /* one line             */
} nm_sim_var;

typedef struct nm_sim_model_info {
    const char       *name;       /* "lif_cond_exp" */
    const char       *doc;
    int               n_params;
    const nm_sim_var *params;
    int               n_state;    /* state variables a monitor can record; init can set them */
    const nm_sim_var *state;
    int               is_source;
} nm_sim_model_info;

const nm_sim_model_info *nm_sim_model_get(nm_sim_model m);
/* NM_INVAL listing the model names when `name` is none of them. */
nm_status nm_sim_model_parse(const char *name, nm_sim_model *out);
/* Index of a parameter / state variable of m by name, or -1. */
int nm_sim_param_index(nm_sim_model m, const char *name);
int nm_sim_state_index(nm_sim_model m, const char *name);

/* ---- the network description ------------------------------------------------------ */

typedef struct nm_sim_pop {
    char         name[64];
    nm_sim_model model;
    int64_t      size;
    nm_dist      param[NM_SIM_MAX_PARAMS];   /* every parameter of the model, in its order */
    nm_dist      init[NM_SIM_MAX_STATE];     /* initial state; a constant NaN means the
                                             ** model's default (v = E_L, the rest as listed) */
    char        *spike_file;                 /* NM_SIM_SPIKE_SOURCE: the file (owned)      */
} nm_sim_pop;

typedef enum {
    NM_CONN_ALL_TO_ALL = 0,
    NM_CONN_ONE_TO_ONE,
    NM_CONN_FIXED_PROB,        /* each (source, target) pair with probability p            */
    NM_CONN_FIXED_INDEGREE,    /* each target draws k sources                              */
    NM_CONN_FIXED_OUTDEGREE,   /* each source draws k targets                              */
    NM_CONN_LIST,              /* explicit (source, target[, weight, delay]) lists         */
    NM_CONN_N_RULES
} nm_conn_rule;

typedef enum { NM_STDP_NONE = 0, NM_STDP_PAIR, NM_STDP_TRIPLET } nm_stdp_kind;

/*
** Spike-timing-dependent plasticity, applied when a presynaptic spike arrives at the
** synapse (after its delay) and when the postsynaptic neuron fires.
**   pair:    pre trace x (tau_plus), post trace y (tau_minus);
**            post spike: w += A_plus  x f+(w);   pre arrival: w -= A_minus y f-(w)
**            so a pair with dt = t_post - t_pre gives A_plus e^{-dt/tau_plus} (dt > 0) or
**            -A_minus e^{dt/tau_minus} (dt < 0).
**   triplet: Pfister & Gerstner 2006 (minimal all-to-all model): pre traces r1 (tau_plus),
**            r2 (tau_x); post traces o1 (tau_minus), o2 (tau_y);
**            post spike: w += r1 (A2_plus + A3_plus o2(before the spike)) f+(w)
**            pre arrival: w -= o1 (A2_minus + A3_minus r2(before the spike)) f-(w)
** additive: f+ = f- = 1 (then clipped to [w_min, w_max]); multiplicative: f+ = w_max - w,
** f- = w - w_min (soft bounds). nearest: a spike sets its traces to 1 (nearest-spike
** interaction) instead of adding 1 (all-to-all).
*/
typedef struct nm_stdp {
    nm_stdp_kind kind;
    int    multiplicative;
    int    nearest;
    double tau_plus, tau_minus;     /* ms */
    double tau_x, tau_y;            /* ms, triplet */
    double A_plus, A_minus;         /* pair; the triplet's A2_plus, A2_minus */
    double A3_plus, A3_minus;       /* triplet */
    double w_min, w_max;
} nm_stdp;

typedef struct nm_sim_proj {
    char         name[64];          /* "E->I" unless named                                  */
    int          pre, post;         /* population indices                                   */
    nm_conn_rule rule;
    double       p;                 /* NM_CONN_FIXED_PROB                                    */
    int64_t      k;                 /* NM_CONN_FIXED_INDEGREE / OUTDEGREE                    */
    int          autapses;          /* allow i -> i when pre == post (default 1)            */
    int          multapses;         /* allow repeated pairs in fixed in/out-degree (0)      */
    nm_dist      weight;
    nm_dist      delay;             /* ms; every drawn delay is rounded to steps, >= 1 step  */
    int          receptor;          /* 0 excitatory, 1 inhibitory                            */
    /* NM_CONN_LIST: n_list pairs (owned); weight and delay per pair, or NULL for the dists */
    int64_t      n_list;
    int32_t     *list_pre, *list_post;
    float       *list_weight, *list_delay;
    nm_stdp      stdp;
} nm_sim_proj;

/* External Poisson drive of a population, as Brian2's PoissonInput: n independent sources
** at `rate` onto every neuron of `post`, drawn as one Poisson count per neuron and step
** (mean n rate dt), each adding `weight` to the receptor. */
typedef struct nm_sim_input {
    char    name[64];
    int     post;
    int64_t n;
    double  rate;      /* Hz */
    double  weight;
    int     receptor;
} nm_sim_input;

typedef enum { NM_MON_SPIKES = 0, NM_MON_STATE, NM_MON_RATE } nm_mon_kind;

typedef struct nm_sim_monitor {
    nm_mon_kind kind;
    int         pop;
    int64_t     first, count;   /* neurons first .. first + count - 1 of pop (count -1: all) */
    int         var;            /* NM_MON_STATE: state index of the model                    */
    double      interval;       /* NM_MON_STATE: sampling interval, ms (0: every step)       */
    double      bin;            /* NM_MON_RATE: bin, ms (0: dt)                               */
    char       *file;           /* stream to this file (owned), or NULL: memory only          */
} nm_sim_monitor;

typedef struct nm_sim_spec {
    double          dt;         /* ms (default 0.1)                                           */
    double          time;       /* ms of biological time a plain `sim` runs (default 1000)    */
    uint64_t        seed;
    int             n_pops, n_projs, n_inputs, n_mons;
    nm_sim_pop     *pops;
    nm_sim_proj    *projs;
    nm_sim_input   *inputs;
    nm_sim_monitor *mons;
} nm_sim_spec;

/* Reads a network description (JSON; the format is in the README). A spike source's
** relative file name is taken relative to the description's directory; monitors' file
** names are kept as written (outputs: `neuromorph sim --out DIR` places them in DIR). NM_FORMAT / NM_RANGE /
** NM_NOTFOUND naming the file, the entry ("projection 'E->I'") and the field. */
nm_status nm_sim_spec_read(const char *path, nm_sim_spec **out);
/* From memory; `name` names it in errors; spike-source files resolve against `dir` (or "."). */
nm_status nm_sim_spec_parse(const char *text, size_t len, const char *name, const char *dir, nm_sim_spec **out);
/* Checks everything that does not need the connectivity: sizes, indices, parameters in
** range, every delay (a constant, a distribution's reachable range, a list's values)
** positive and at least dt, weights' signs for conductances. Called by the two above and
** by nm_sim_create. */
nm_status nm_sim_spec_check(const nm_sim_spec *s);
/* Writes s as JSON that nm_sim_spec_parse reads back to the same spec. */
nm_status nm_sim_spec_write(const nm_sim_spec *s, const char *path);
/* An empty spec (dt 0.1 ms, time 1000 ms, seed 1) to fill by hand; add_* grow its arrays
** and return the new entry filled with defaults (NULL when out of memory). */
nm_sim_spec    *nm_sim_spec_create(void);
nm_sim_pop     *nm_sim_spec_add_pop(nm_sim_spec *s, const char *name, nm_sim_model m, int64_t size);
nm_sim_proj    *nm_sim_spec_add_proj(nm_sim_spec *s, int pre, int post, nm_conn_rule rule);
nm_sim_input   *nm_sim_spec_add_input(nm_sim_spec *s, int post);
nm_sim_monitor *nm_sim_spec_add_monitor(nm_sim_spec *s, nm_mon_kind kind, int pop);
void            nm_sim_spec_free(nm_sim_spec *s);   /* accepts NULL */
int             nm_sim_spec_pop_index(const nm_sim_spec *s, const char *name);   /* or -1 */
const char     *nm_conn_rule_name(nm_conn_rule r);

/* ---- running ---------------------------------------------------------------------- */

typedef struct nm_sim nm_sim;

typedef struct nm_sim_options {
    int threads;        /* 0: the library default (nm_get_threads)                     */
    int mpi;            /* 1: distribute over MPI_COMM_WORLD (nm_sim_mpi_init first)    */
    int quiet;          /* no progress bar                                              */
    int record_spikes;  /* also keep every spike of every population in memory (tests)  */
    const char *spike_file;   /* write every spike here ("TIME,NEURON": s, global index;
                              ** rank 0), or NULL                                       */
} nm_sim_options;

typedef struct nm_sim_stats {
    int     ranks, threads;
    int64_t neurons;              /* all ranks                                          */
    int64_t synapses;             /* all ranks                                          */
    int64_t spikes;               /* all ranks, since creation                          */
    int64_t events;               /* synaptic events delivered, all ranks               */
    int64_t steps;
    double  bytes_per_synapse;    /* this rank's connectivity storage / its synapses    */
    int64_t conn_bytes;           /* this rank's connectivity storage                   */
    double  build_s, run_s;       /* wall time of nm_sim_create and of all nm_sim_run   */
    double  min_delay, max_delay; /* ms                                                 */
} nm_sim_stats;

/* Builds the network (spec is copied; it may be freed after). NM_RANGE naming the
** projection when a delay is below dt; NM_NOMEM naming what did not fit. */
nm_status nm_sim_create(const nm_sim_spec *spec, const nm_sim_options *opt, nm_sim **out);
void      nm_sim_destroy(nm_sim *s);   /* accepts NULL */
/* Advances the network by `time` ms (rounded to whole steps). May be called again to
** continue. NM_IO when a monitor's file cannot be written. */
nm_status nm_sim_run(nm_sim *s, double time);
void      nm_sim_get_stats(const nm_sim *s, nm_sim_stats *out);
double    nm_sim_time(const nm_sim *s);   /* ms simulated so far */
int       nm_sim_rank(const nm_sim *s);

/* Spikes of population `pop` (all ranks: every rank receives every spike), when recorded
** (options.record_spikes or a spike monitor on pop): times in ms and indices within the
** population, in (time, index) order. Borrowed; valid until the next run. */
int64_t nm_sim_spikes(const nm_sim *s, int pop, const double **t, const int32_t **idx);
/* Spike counts of every neuron of population pop since creation (all ranks); n entries. */
nm_status nm_sim_spike_counts(const nm_sim *s, int pop, int64_t *counts, int64_t n);
/* The samples of state monitor m (index among the spec's monitors) on rank 0 after a run:
** *n_t sample times (ms) and n_t x n_neurons values, row by sample. NM_INVAL if m is not a
** state monitor. */
nm_status nm_sim_state_samples(const nm_sim *s, int m, int64_t *n_t, const double **t, int64_t *n_neurons,
                               const float **v);
/* Population rate of rate monitor m on rank 0: n bins of `bin` ms, in Hz per neuron. */
nm_status nm_sim_rates(const nm_sim *s, int m, int64_t *n, double *bin, const float **rate);
/* Weights of projection `proj` onto the local targets, as (pre, post, w) triples in
** (post, pre) order; *n entries (owned by the caller: free with free()). */
nm_status nm_sim_weights(const nm_sim *s, int proj, int64_t *n, int32_t **pre, int32_t **post, float **w);

/* ---- MPI ---------------------------------------------------------------------------- */

/* 1 when the library was built with MPI. */
int       nm_sim_have_mpi(void);
/* 1 when this process was started by an MPI launcher (mpirun / srun) with more than one
** rank, or with one rank under mpirun. */
int       nm_sim_under_mpirun(void);
/* MPI_Init (with threads funneled) and the rank and size; NM_UNSUPPORTED without MPI. */
nm_status nm_sim_mpi_init(int *argc, char ***argv, int *rank, int *size);
void      nm_sim_mpi_finalize(void);
/* Sum of x over ranks (x itself without MPI). */
int64_t   nm_sim_allreduce_i64(int64_t x);

/* ---- theory ------------------------------------------------------------------------- */

/* The stationary rate (Hz) of a LIF neuron driven by white noise of mean mu and standard
** deviation sigma (mV; diffusion approximation, Siegert / Brunel 2000 eq. 21):
**   1/nu = t_ref + tau sqrt(pi) int_{(V_r - mu)/sigma}^{(theta - mu)/sigma} e^{u^2} (1 + erf u) du
** tau, t_ref in ms. */
double nm_lif_siegert_rate(double mu, double sigma, double tau, double theta, double V_r, double t_ref);
/* The self-consistent rate (Hz) of Brunel's 2000 model A (sparse, delta synapses, J, g, the
** in-degrees C_E and C_I = gamma C_E, external rate nu_ext per source onto C_ext sources),
** solved by damped fixed-point iteration; -1 if it does not converge. */
double nm_brunel_rate(double J, double g, int64_t C_E, int64_t C_I, int64_t C_ext, double nu_ext, double tau,
                      double theta, double V_r, double t_ref);

#ifdef __cplusplus
}
#endif
#endif
