/* Internal to the sim module. */
#ifndef NM_SIM_IMPL_H
#define NM_SIM_IMPL_H

#include "neuromorph/sim.h"

/* Parameter indices, in the order of the tables in models.c. */
enum { LD_TAU_M, LD_E_L, LD_V_TH, LD_V_RESET, LD_T_REF, LD_I_E };
enum { LC_TAU_M, LC_E_L, LC_V_TH, LC_V_RESET, LC_T_REF, LC_I_E, LC_TAU_E, LC_TAU_I };
enum { LG_TAU_M, LG_E_L, LG_V_TH, LG_V_RESET, LG_T_REF, LG_I_E, LG_TAU_E, LG_TAU_I, LG_E_E, LG_E_I, LG_G_L };
enum { AX_C_M, AX_G_L, AX_E_L, AX_DELTA_T, AX_V_TH, AX_V_PEAK, AX_V_RESET, AX_TAU_W, AX_A, AX_B, AX_T_REF, AX_I_E,
       AX_TAU_E, AX_TAU_I, AX_H_MAX };
enum { IZ_A, IZ_B, IZ_C, IZ_D, IZ_V_PEAK, IZ_I_E, IZ_H_MAX };
enum { PO_RATE };

#include "neuromorph/data.h"
#include "neuromorph/neuron.h"

/* Random streams: a purpose tag and an entity (population, projection, input) in the top
** 16 bits, a global neuron index (< 2^40) below. */
enum { RS_PARAM = 1, RS_INIT, RS_CONN, RS_WEIGHT, RS_DELAY, RS_INPUT, RS_POISSON };
static inline uint64_t sim_stream(int tag, int entity, int64_t gid) {
    return ((uint64_t)tag << 60) | ((uint64_t)(entity & 0xfff) << 48) | (uint64_t)gid;
}

/* A projection's synapses onto one thread's targets, in rows by source neuron. A synapse
** is its target (a rank-local neuron index; with per-synapse delays packed as
** delay << tbits | target) and its weight, unless every weight of the projection is the
** same (and fixed): then the target alone, 4 bytes. */
typedef struct sim_rows {
    uint64_t *ptr;       /* n_src + 1 */
    uint32_t *tgt;
    float    *w;         /* NULL when the weights are homogeneous */
    /* plastic projections: for each of the thread's targets (l - lo), its synapses */
    uint64_t *in_ptr;    /* n_tgt + 1 */
    uint64_t *in_syn;    /* positions in syn */
    int32_t  *in_src;    /* their sources */
} sim_rows;

typedef struct sim_pop {
    nm_sim_pop spec;
    int64_t    gid0;        /* global index of neuron 0                      */
    int64_t    first;       /* index (in the population) of its first neuron on this rank */
    int64_t    n;           /* neurons on this rank: first, first + K, ...    */
    int64_t    l0;          /* their first rank-local index                   */
    int        het;         /* constants differ between neurons               */
    int        n_const;
    float     *c[12];       /* per-step constants (1 or n values each)        */
    int32_t   *nref;        /* refractory steps, 1 or n values                */
    float     *st[NM_SIM_MAX_STATE];
    int32_t   *refr;        /* refractory steps left (substeps for adex)      */
    nm_adex_step       *adex;   /* 1 or n */
    nm_izhikevich_step *izh;    /* 1 or n */
    /* poisson: each neuron's next spike time (ms) and the intervals drawn so far */
    double    *next;
    int64_t   *drawn;
    /* spike_source: (step, index) pairs sorted, and the cursor */
    int64_t   *src_step;
    int32_t   *src_idx;
    int64_t    src_n, src_pos;
    int        delta;       /* inputs of both receptors jump v (lif_delta, izhikevich) */
} sim_pop;

typedef struct sim_proj {
    nm_sim_proj spec;
    int       buf;          /* ring buffer (0 exc / 1 inh) the weights go to */
    int       dconst;       /* the delay in steps when all are equal, else 0   */
    int       whom;         /* every weight is w0 and fixed: none stored       */
    float     w0;
    int       tbits;        /* target bits when delays are packed              */
    int       dmin, dmax;   /* steps, this rank's synapses                    */
    int64_t   n_syn;        /* this rank                                       */
    sim_rows *rows;         /* per thread                                      */
    /* STDP (plastic when spec.stdp.kind != NM_STDP_NONE) */
    float    *x1, *x2;      /* pre traces per source, at step xlast            */
    int64_t  *xlast;
    float    *y1, *y2;      /* post traces per rank-local target of post, at step ylast */
    int64_t  *ylast;
    int32_t **pending;      /* per ring slot: sources arriving at that step   */
    int64_t  *pend_n, *pend_cap;
} sim_proj;

/* A monitor's data (on rank 0 after each run; state samples are filled by the owners). */
typedef struct sim_mon {
    FILE    *file;         /* spikes: streamed here (rank 0)                       */
    int64_t  first, count; /* the neuron range                                     */
    int64_t  every;        /* state: steps between samples; rate: steps per bin     */
    int64_t  nt, cap;      /* state: samples taken / allocated; rate: bins          */
    double  *t;            /* state: sample times, ms                              */
    float   *val;          /* state: cap x count                                    */
    double  *cnt;          /* rate: spikes per bin                                  */
    float   *hz;           /* rate: the same in Hz per neuron                       */
} sim_mon;

/* A spike: the step (within the current interval) above the global neuron index. */
#define SIM_KEY(step, gid) (((uint64_t)(step) << 40) | (uint64_t)(gid))
#define SIM_KEY_STEP(k) ((int64_t)((k) >> 40))
#define SIM_KEY_GID(k) ((int64_t)((k) & ((1ull << 40) - 1)))

typedef struct sim_thread {
    int64_t   lo, hi;         /* rank-local neurons owned                      */
    uint64_t *spk;            /* spikes of this interval                        */
    int64_t   n_spk, cap_spk;
    uint8_t  *flag;           /* scratch: one byte per owned neuron             */
    uint64_t *bitmap;         /* scratch for sampling without replacement       */
    int64_t   bitmap_words;
    int64_t   events;
    int64_t   k_step;         /* the step being simulated, within the interval  */
    int64_t   mark;           /* spikes before this step (for STDP)             */
} sim_thread;

struct nm_sim {
    nm_sim_spec *spec;        /* a copy */
    int      rank, K, T;
    int      mpi;
    int      quiet, record_all;
    FILE    *spike_file;      /* every spike, global indices (rank 0)          */
    int      has_plastic;
    double   dt;
    int64_t  n_global, n_local;
    int      n_pops, n_projs;
    sim_pop *pops;
    sim_proj *projs;
    int     *proj_by_pre;     /* projections sorted by pre population          */
    int     *pre_off;         /* n_pops + 1 offsets into proj_by_pre           */
    int      D, L;            /* exchange interval and ring length, steps      */
    float   *ring[2];         /* L x n_local_pad each                          */
    int64_t  ring_stride;
    sim_thread *th;
    int64_t  step;            /* steps simulated                               */
    /* the interval's spikes on every rank, sorted */
    uint64_t *all;
    int64_t   n_all, cap_all;
    /* inputs */
    double  **in_cdf;          /* per input: cumulative Poisson probabilities    */
    int      *in_ncdf;
    int16_t **in_tab;          /* per input: count by the top 12 bits of a word, or -1 */
    float    *u_scratch;
    /* recording (every rank) */
    int64_t **counts;          /* per population, all its neurons               */
    double  **rec_t;           /* per population when recorded                  */
    int32_t **rec_i;
    int64_t  *rec_n, *rec_cap;
    int      *rec_on;
    struct sim_mon *mon;        /* one per spec monitor                          */
    int64_t  spikes, events_local, synapses_local;
    double   build_s, run_s;
};

/* net.c */
nm_status sim_build(nm_sim *s);
/* step.c: advances neurons [lo, hi) (rank-local, inside one population) by one step,
** reading and clearing the ring slot; appends spikes as keys. */
void sim_step_pop(nm_sim *s, sim_pop *p, int64_t lo, int64_t hi, int64_t step, int64_t slot, sim_thread *th);
void sim_push_spike(sim_thread *th, int64_t step_in_interval, int64_t gid);
/* comm.c */
nm_status sim_allgather(nm_sim *s, const uint64_t *send, int64_t n, uint64_t **all, int64_t *n_all, int64_t *cap);
int64_t   sim_allreduce_sum(nm_sim *s, int64_t x);
int64_t   sim_allreduce_min(nm_sim *s, int64_t x);
int64_t   sim_allreduce_max(nm_sim *s, int64_t x);
void      sim_reduce_floats(nm_sim *s, float *v, int64_t n);   /* sum onto rank 0 */

#endif
