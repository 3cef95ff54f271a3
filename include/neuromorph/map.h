/*
** map: placing a network onto a chip's cores, routing its spikes, and the energy and
** latency that follow from the counts of a run.
**
** Mapping. A network is seen as populations (the input, then every neuron population)
** and projections between them: dense (every target neuron reads every source neuron) or
** sparse (each target neuron's source list). A core holds up to neurons_per_core neurons
** of one population; every distinct source neuron its neurons read takes one of its
** axons_per_core axons, and every (input, neuron) pair one of its synapses_per_core
** synapses. A population is cut into slices of consecutive neurons, as large as those
** limits allow. Where one neuron needs more axons than a core has, a profile that allows
** fan_in_split spreads its dense inputs over several cores ("blocks"), whose partial sums
** travel to the slice's home core (block 0) every step; otherwise the mapping fails naming
** the limit. Cores sit on a 2-d mesh (the profile's mesh_x x mesh_y, else about square)
** and a spike travels as one packet to every core that holds one of its targets, by XY
** routing: |dx| + |dy| hops. Placement is either linear (cores in population order, row by
** row) or by recursive bisection with METIS: the core graph, weighted by the packets it
** would carry at equal rates, is cut in two to match two halves of the mesh, and so on,
** so that cores that talk a lot end up near each other. Input spikes enter the mesh at
** the router of core (0, 0).
**
** Energy. Every count comes from a run of the network (nm_energy_count): spikes per
** neuron, synaptic operations (effective accumulates for binary inputs, effective
** multiply-accumulates for real-valued ones: an active input times its non-zero fan-out
** weights), dense synaptic operations, neuron updates, membrane updates, packets and
** their hops, partial sums, crossbar reads and ADC conversions. The energy is the sum of
** each count times the profile's per-operation energy (pJ), plus static power times the
** latency, times the chips needed; every number in a profile cites its source. The GPU or
** CPU baseline runs the same network as dense float32 multiply-accumulates plus memory
** traffic, with Horowitz's (ISSCC 2014) 45 nm energies. NeuroBench metrics follow
** NeuroBench's definitions (Yik et al., 2023/2024).
*/
#ifndef NEUROMORPH_MAP_H
#define NEUROMORPH_MAP_H

#include "base.h"
#include "data.h"
#include "hw.h"
#include "model.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- networks as populations and projections ------------------------------------------ */

typedef struct nm_map_net nm_map_net;

/* An empty network whose population 0 is the input, of n_input neurons. */
nm_status nm_map_net_create(int64_t n_input, nm_map_net **out);
void      nm_map_net_destroy(nm_map_net *n);   /* accepts NULL */
/* A population of n >= 1 neurons; *id (may be NULL) gets its index (1, 2, ...). */
nm_status nm_map_net_add_pop(nm_map_net *n, const char *name, int64_t size, int *id);
/* Every neuron of dst reads every neuron of src (src may equal dst: recurrence). A core
** gives each distinct source neuron one axon, however many projections read it; NM_INVAL
** when a dense projection would join two populations already joined. */
nm_status nm_map_net_add_dense(nm_map_net *n, int src, int dst);
/* Neuron i of dst reads src neurons idx[ptr[i] .. ptr[i + 1]) (copied; indices in range,
** not repeated within a neuron: NM_INVAL otherwise). ptr has size(dst) + 1 entries. */
nm_status nm_map_net_add_sparse(nm_map_net *n, int src, int dst, const int64_t *ptr, const int32_t *idx);
/* The populations and projections of a compiled graph: the input and every neuron node
** are populations; each weight node (Affine, Linear, Conv) with what lies between it and
** the populations around it (Flatten, pooling, Scale, Delay) is a projection, dense when
** an Affine or Linear is on the way, else sparse with the receptive fields. */
nm_status nm_map_net_from_graph(const nm_graph *g, nm_map_net **out);

int         nm_map_net_n_pops(const nm_map_net *n);
int64_t     nm_map_net_pop_size(const nm_map_net *n, int pop);
const char *nm_map_net_pop_name(const nm_map_net *n, int pop);
int         nm_map_net_pop_node(const nm_map_net *n, int pop);   /* graph node, -1 if none */
int         nm_map_net_n_projs(const nm_map_net *n);
/* Projection k: source and target populations, 1 if dense; *ptr / *idx (sparse) are
** borrowed, NULL for dense ones. */
int         nm_map_net_proj(const nm_map_net *n, int k, int *src, int *dst, const int64_t **ptr, const int32_t **idx);

/* ---- mapping ------------------------------------------------------------------------------ */

typedef enum {
    NM_PLACE_METIS  = 0,   /* recursive bisection of the core graph onto the mesh (default) */
    NM_PLACE_LINEAR = 1    /* cores in population order, row by row                         */
} nm_place_kind;

const char *nm_place_name(nm_place_kind k);
nm_status   nm_place_parse(const char *s, nm_place_kind *out);   /* "metis", "linear" */

typedef struct nm_map_options {
    nm_place_kind place;
    uint64_t      seed;   /* METIS's seed */
} nm_map_options;

void nm_map_options_default(nm_map_options *o);   /* METIS placement, seed 1 */

/* The limits a mapping works under, from a profile. */
typedef struct nm_core_limits {
    int     cores, mesh_x, mesh_y;
    int64_t neurons, axons, synapses;   /* per core */
    int     fan_in_split;               /* 1: dense inputs may be split over cores */
} nm_core_limits;

/* From the profile: mesh about square when it has none (mesh_x = ceil(sqrt(cores))),
** synapses = neurons x axons when it gives no synapse memory, fan_in_split from the
** profile or, when absent, 1 for analog profiles (tiles' outputs are summed digitally) and
** 0 for digital ones. */
void nm_core_limits_from_profile(const nm_chip_profile *p, nm_core_limits *l);

typedef struct nm_mapping {
    nm_core_limits lim;
    int     n_pops;
    int     n_cores;            /* cores used                                              */
    int     chips;              /* chips of lim.cores that many cores need                 */
    int     fits;               /* 1: n_cores <= lim.cores                                 */
    char    failure[256];       /* why it does not fit ("" when it does)                   */
    int     grid_x, grid_y;     /* the mesh cores are placed on: the chip's, or larger when
                                ** the network needs more cores than one chip has          */
    /* per core (n_cores), in population order */
    int     *core_pop;
    int64_t *core_first;        /* first neuron of the slice in its population             */
    int64_t *core_neurons;      /* neurons of the slice                                    */
    int64_t *core_axons;        /* distinct inputs the core reads                          */
    int64_t *core_synapses;     /* (input, neuron) pairs it holds                          */
    int     *core_block, *core_n_blocks;   /* dense-input block of a split slice (0: home) */
    int64_t *core_dense_first, *core_dense_count;   /* the block's range of dense inputs,
                                ** counted over the population's dense sources in order      */
    int     *core_x, *core_y;
    /* per population (n_pops): its cores [pop_first_core, + pop_n_cores); 0 for the input */
    int     *pop_first_core, *pop_n_cores;
    /* per population and source neuron: packets one of its spikes makes (one per core
    ** holding a target) and their hops in all. Arrays of the population's size. */
    int32_t **pop_packets;
    int64_t **pop_hops;
    /* partial sums of split slices, per time step: values sent to home cores and their hops */
    int64_t psum_packets, psum_hops;
    double  seconds;            /* time the mapping took                                   */
} nm_mapping;

/* Maps net onto the limits. NM_OK with a mapping also when it needs more cores than the
** chip has (fits 0, failure naming it: "needs 5 cores, the chip has 2 (exceeds by 3)"),
** so that the energy of several chips can still be estimated. NM_RANGE, naming the
** population and the limit, when no mapping exists: one neuron needs more axons or
** synapses than a core has (and its inputs cannot be split). */
nm_status nm_map(const nm_map_net *net, const nm_core_limits *lim, const nm_map_options *o, nm_mapping **out);
void      nm_mapping_destroy(nm_mapping *m);   /* accepts NULL */
/* Utilization of core c: neurons, axons and synapses as fractions of the limits. */
void      nm_mapping_utilization(const nm_mapping *m, int c, double *neurons, double *axons, double *synapses);
/* Mean over used cores of the three utilizations, and the packets and hops one spike of
** every neuron of every population would make (the traffic at equal rates). */
void      nm_mapping_summary(const nm_mapping *m, double util[3], int64_t *packets, int64_t *hops);
void      nm_mapping_report(const nm_mapping *m, const nm_map_net *net, nm_report *r, const char *key);

/* ---- counts of a run ------------------------------------------------------------------- */

/* Per inference (means over the samples). */
typedef struct nm_energy_counts {
    int64_t samples;
    int     n_steps;
    double  dt;                  /* s */
    double  accuracy;            /* of the same run, fraction                             */
    double  spikes;              /* spiking populations                                  */
    double  input_events;        /* non-zero input values over the steps                 */
    double  syn_acs;             /* effective accumulates: binary inputs x non-zero fan-out */
    double  syn_macs;            /* effective multiply-accumulates: real-valued inputs    */
    double  syn_dense;           /* every input x every weight, every step                */
    double  neuron_updates;      /* neurons x steps                                       */
    double  membrane_updates;    /* steps at which a membrane changed (NeuroBench)        */
    double  packets, hops;       /* routed spikes (mapping needed; else 0)                */
    double  psum_packets, psum_hops;
    double  xbar_reads;          /* core reads: a core of a weight layer, every step      */
    double  column_reads;        /* its columns (neurons), every read: an analog chip's
                                 ** ADC converts each once per input bit (bit-serial)     */
    double  activations, active; /* spiking neuron outputs over the steps, and the spikes */
    /* static NeuroBench metrics */
    double  footprint_bytes;     /* parameters and constants, float32                     */
    double  connection_sparsity; /* zero weights / weights                                */
    double  activation_sparsity; /* 1 - active / activations                              */
    double  weights;             /* weights in all layers                                 */
    double  weight_bytes_dense;  /* what a dense float32 run reads per inference          */
    double  state_bytes_per_step;/* activations and membranes a dense run moves per step  */
    double  gpu_batch;           /* inferences that share one DRAM read of the weights in
                                 ** the baseline (1, as nm_energy_count sets it: batch 1)  */
} nm_energy_counts;

/* Runs g over the first n samples of d (cfg: encoding, steps, dt, eval_batch, test_limit,
** seed; cfg->hooks runs it on a chip sample) and counts. With m (may be NULL) the spikes of
** every neuron are routed through the mapping, which must be of nm_map_net_from_graph(g).
** NM_SHAPE if the data do not fit the graph. */
nm_status nm_energy_count(const nm_graph *g, const nm_mapping *m, const nm_dataset *d, const nm_train_config *cfg,
                          nm_energy_counts *c);

/* ---- energy and latency ---------------------------------------------------------------- */

#define NM_ENERGY_MAX_TERMS 12

/* What the profile's numbers turn into, per inference. */
typedef struct nm_energy_result {
    double latency_s;            /* steps x dt / time_scale                               */
    double energy_j;             /* all terms                                             */
    int    chips;
    int    n_terms;
    char   term[NM_ENERGY_MAX_TERMS][32];       /* "synaptic ops", "static", ...          */
    char   term_key[NM_ENERGY_MAX_TERMS][32];   /* the profile's energy name              */
    double term_count[NM_ENERGY_MAX_TERMS];     /* operations (static: seconds x chips)   */
    double term_unit[NM_ENERGY_MAX_TERMS];      /* J per operation (static: W)            */
    double term_j[NM_ENERGY_MAX_TERMS];
    /* the dense GPU/CPU baseline */
    double gpu_j, gpu_mac_j, gpu_neuron_j, gpu_dram_j, gpu_sram_j;
    double ratio;                /* gpu_j / energy_j (0 when energy_j is 0)               */
    double reference_j;          /* the profile's published energy per inference (image_uj), 0: none */
    double reference_power_w;    /* typical_power_w, 0: none                              */
    int    has_energy;           /* 0: the profile gives no per-operation energy or power */
} nm_energy_result;

/* The baseline's constants (Horowitz, ISSCC 2014, 45 nm): float32 MAC 4.6 pJ (mult 3.7 +
** add 0.9), add 0.9 pJ, DRAM 1.3 nJ per 64-bit access (the low end of 1.3-2.6 nJ), a 32 KB
** SRAM 20 pJ per 64-bit access; a neuron update costs 4 adds or multiplies (NeuroBench's
** count for a leaky neuron with subtractive reset). Per inference the baseline does every
** MAC of every step, reads the weights from DRAM once per gpu_batch inferences, and moves
** the activations and membranes of every step through SRAM. */
#define NM_GPU_MAC_PJ         4.6
#define NM_GPU_ADD_PJ         0.9
#define NM_GPU_DRAM_PJ_BYTE   (1300.0 / 8)
#define NM_GPU_SRAM_PJ_BYTE   (20.0 / 8)
#define NM_GPU_NEURON_OPS     4

/* Energy names the model reads from a profile (pJ unless _w): synaptic_op_pj (or
** synaptic_event_pj) per accumulate, mac_pj per multiply-accumulate (default: the
** accumulate's), neuron_update_pj, packet_pj per packet, hop_pj per hop, xbar_read_pj per
** core read, and per ADC conversion (a column read once per input bit: the crossbar's
** dac_bits, 1 when 0) adc_conversion_pj (with the column's array read), accumulate_pj
** (shift-add; also per partial sum added across cores) and periphery_pj (drivers,
** decoders, buffers); static_power_w per chip. image_uj and typical_power_w are published
** totals shown beside the estimate, not added. Linear in the counts. */
nm_status nm_energy_estimate(const nm_chip_profile *p, const nm_mapping *m, const nm_energy_counts *c,
                             nm_energy_result *r);
void      nm_energy_report(const nm_energy_result *r, const nm_energy_counts *c, nm_report *rep, const char *key);
/* The breakdown as a bar figure (one bar per term, uJ per inference; the GPU baseline's
** total beside it), PNG/SVG/PDF by the extension. */
nm_status nm_energy_plot(const nm_energy_result *r, const char *title, const char *path);

/* Everything at once, for a pipeline's last step: maps g onto p (METIS placement), counts
** a run over d with cfg (cfg->hooks may put it on a chip sample) and estimates. m_out
** (may be NULL) gets the mapping (the caller destroys it). A network that needs more than
** one chip is estimated for the chips it needs (r->chips). */
nm_status nm_energy_run(const nm_graph *g, const nm_chip_profile *p, const nm_dataset *d, const nm_train_config *cfg,
                        nm_energy_result *r, nm_energy_counts *c, nm_mapping **m_out);

#ifdef __cplusplus
}
#endif
#endif
