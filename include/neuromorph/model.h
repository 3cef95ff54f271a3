/*
** model: the graph IR. A model is a directed graph of nodes (Input, Affine, neuron
** populations, Output) with edges from one node's output to another's input. Neuron
** nodes carry continuous-time parameters (as NIR defines them); an executor discretizes
** them for its dt. All trainable parameters live in one contiguous float block, each node
** pointing into it, so optimizers and checkpoints work on one array (llm.c's layout).
**
** Use: create, add nodes, connect, compile (checks shapes, orders the nodes, allocates
** the parameter block), initialize or load parameters. A compiled graph is not changed
** structurally again.
*/
#ifndef NEUROMORPH_MODEL_H
#define NEUROMORPH_MODEL_H

#include "base.h"
#include "neuron.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- layer geometry ------------------------------------------------------ */

/* Convolution geometry, PyTorch semantics (Conv1d is Conv2d with h_in = kh = 1, sh = dh = 1,
** ph = 0). Input (c_in, h_in, w_in), output (c_out, h_out, w_out), both channel-major as
** PyTorch lays out one image; weights (c_out, c_in / groups, kh, kw), bias (c_out).
**   h_out = (h_in + 2 ph - dh (kh - 1) - 1) / sh + 1   (floor), likewise w_out. */
typedef struct nm_conv_geom {
    int64_t c_in, h_in, w_in;
    int64_t c_out, h_out, w_out;
    int     kh, kw, sh, sw, ph, pw, dh, dw, groups;
} nm_conv_geom;

/* Fills g (h_out, w_out included) and checks it: NM_SHAPE naming the problem for sizes,
** strides, dilations < 1, padding < 0, channels not divisible by groups, or an empty output
** ("kernel 5 (dilation 1) does not fit input width 3 with padding 0"). */
nm_status nm_conv_geom_init(nm_conv_geom *g, int64_t c_in, int64_t h_in, int64_t w_in, int64_t c_out,
                            int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int groups);
int64_t nm_conv_weight_count(const nm_conv_geom *g);   /* c_out * c_in/groups * kh * kw */
/* Pooling geometry reuses nm_conv_geom with c_out = c_in, groups = c_in, dilation 1. */
typedef enum { NM_POOL_SUM = 0, NM_POOL_AVG = 1 } nm_pool_kind;
nm_status nm_pool_geom_init(nm_conv_geom *g, int64_t c, int64_t h_in, int64_t w_in, int kh, int kw, int sh,
                            int sw, int ph, int pw);

typedef enum {
    NM_NODE_INPUT   = 0,
    NM_NODE_OUTPUT  = 1,
    NM_NODE_AFFINE  = 2,   /* y = W x + b, W (n_out, n_in) row-major                       */
    NM_NODE_LIF     = 3,
    NM_NODE_LI      = 4,
    NM_NODE_LINEAR  = 5,   /* y = W x (an Affine without bias)                              */
    NM_NODE_CONV    = 6,   /* Conv1d / Conv2d, PyTorch semantics (nm_conv_geom above)        */
    NM_NODE_SUMPOOL = 7,   /* SumPool2d (1-d when the input height is 1)                     */
    NM_NODE_AVGPOOL = 8,   /* AvgPool2d, count_include_pad                                   */
    NM_NODE_FLATTEN = 9,   /* (C, H, W) -> (C H W): the data do not move                     */
    NM_NODE_SCALE   = 10,  /* y = s * x elementwise, s (n) learnable, initialized to 1       */
    NM_NODE_DELAY   = 11,  /* y[t] = x[t - d_i], d_i >= 0 steps per neuron (0 before t = d_i) */
    NM_NODE_CUBALIF = 12,  /* current-based LIF: synaptic current + membrane                */
    NM_NODE_CUBALI  = 13,  /* current-based leaky integrator (readout)                      */
    NM_NODE_IF      = 14,  /* integrate-and-fire without leak                               */
    NM_NODE_ALIF    = 15   /* LIF with an adaptive threshold                                */
} nm_node_kind;
#define NM_NODE_KIND_COUNT 16

const char *nm_node_kind_name(nm_node_kind k);
/* Spiking populations (LIF, CubaLIF, IF, ALIF): binary outputs, stored as bits. */
int nm_node_kind_spiking(nm_node_kind k);
/* Populations of any kind (spiking ones, LI, CubaLI). */
int nm_node_kind_neuron(nm_node_kind k);

#define NM_NAME_MAX 32

/* Node flags */
#define NM_NODE_LEARN_NEURON 1   /* LIF: per-neuron tau and threshold are parameters */
#define NM_NODE_RECURRENT    2   /* an Affine that feeds its population back         */
#define NM_NODE_CONV1D       4   /* a Conv over (c, 1, w) inputs                      */

typedef struct nm_node {
    nm_node_kind  kind;
    char          name[NM_NAME_MAX];
    int64_t       n_in, n_out;      /* sizes of the input and output vectors                 */
    int64_t       in_shape[3];      /* (C, H, W) of the input, set by compile                */
    int64_t       shape[3];         /* (C, H, W) of the output; (n, 1, 1) for flat nodes     */
    int           src;              /* the node feeding this one; -1 for the input           */
    int           rec;              /* population: its recurrent Affine (-1: none);
                                    ** recurrent Affine: its population                      */
    int           flags;
    int64_t       w_off, b_off;     /* weights and bias in the parameter block (-1: none);
                                    ** Scale: w_off holds s                                  */
    int64_t       p_off;            /* NM_NODE_LEARN_NEURON: tau (n) at p_off, thresholds (n)
                                    ** at p_off + nm_pad16(n); -1 otherwise                  */
    int64_t       c_off;            /* Delay: n delays (steps, as floats) in the constants   */
    nm_conv_geom  conv;             /* Conv and pools: the geometry (sizes set by compile)   */
    nm_lif_params lif;              /* LIF                                                   */
    nm_li_params  li;               /* LI                                                    */
    nm_cuba_lif_params cuba;        /* CubaLIF and CubaLI (CubaLI ignores the spiking fields) */
    nm_if_params  ifp;              /* IF                                                    */
    nm_alif_params alif;            /* ALIF                                                  */
} nm_node;

/* Weights of a weight node in the parameter block at w_off: n_out n_in (Affine, Linear),
** c_out (c_in / groups) kh kw (Conv); 0 for other kinds. */
int64_t nm_node_weight_count(const nm_node *nd);
/* Rounds n weights to signed levels, 2^(bits-1) - 1 per sign with the largest |w| at the top
** level (a digital chip's weights; training through quantized weights). out may be w. */
void    nm_quantize_weights(const float *w, int64_t n, int bits, float *out);
/* Parameters a node owns (its weights, bias, learnable neuron constants; Scale's s), as up
** to 3 ranges [off[k], off[k] + len[k]); returns how many. */
int     nm_node_param_ranges(const nm_node *nd, int64_t off[3], int64_t len[3]);

typedef struct nm_graph nm_graph;

nm_status nm_graph_create(nm_graph **out);
void      nm_graph_destroy(nm_graph *g);   /* accepts NULL */

/* Adding nodes: each returns the node's id through *id (may be NULL). Names must be
** unique, non-empty and shorter than NM_NAME_MAX; NM_INVAL otherwise. */
nm_status nm_graph_add_input(nm_graph *g, const char *name, int64_t n, int *id);
/* An input with a shape: (c, h, w) images; (c, 1, w) for 1-d signals. */
nm_status nm_graph_add_input_shaped(nm_graph *g, const char *name, int64_t c, int64_t h, int64_t w, int *id);
nm_status nm_graph_add_output(nm_graph *g, const char *name, int *id);
nm_status nm_graph_add_affine(nm_graph *g, const char *name, int64_t n_in, int64_t n_out, int *id);
nm_status nm_graph_add_linear(nm_graph *g, const char *name, int64_t n_in, int64_t n_out, int *id);
/* Conv2d: c_in -> c_out channels, kernel (kh, kw), stride, padding, dilation, groups. The
** input height and width come from the source at compile time. */
nm_status nm_graph_add_conv2d(nm_graph *g, const char *name, int64_t c_in, int64_t c_out, int kh, int kw,
                              int sh, int sw, int ph, int pw, int dh, int dw, int groups, int *id);
/* Conv1d over (c, 1, w) inputs: kernel k, stride, padding, dilation, groups. */
nm_status nm_graph_add_conv1d(nm_graph *g, const char *name, int64_t c_in, int64_t c_out, int k, int stride,
                              int pad, int dil, int groups, int *id);
/* SumPool2d / AvgPool2d with kernel (kh, kw), stride (sh, sw) and padding (ph, pw). */
nm_status nm_graph_add_pool(nm_graph *g, const char *name, nm_node_kind kind, int kh, int kw, int sh, int sw,
                            int ph, int pw, int *id);
nm_status nm_graph_add_flatten(nm_graph *g, const char *name, int *id);
nm_status nm_graph_add_scale(nm_graph *g, const char *name, int64_t n, int *id);
/* Delay by delays[i] >= 0 steps per neuron (copied). */
nm_status nm_graph_add_delay(nm_graph *g, const char *name, int64_t n, const int *delays, int *id);
nm_status nm_graph_add_lif(nm_graph *g, const char *name, int64_t n, const nm_lif_params *p, int *id);
nm_status nm_graph_add_li(nm_graph *g, const char *name, int64_t n, const nm_li_params *p, int *id);
nm_status nm_graph_add_cuba_lif(nm_graph *g, const char *name, int64_t n, const nm_cuba_lif_params *p, int *id);
nm_status nm_graph_add_cuba_li(nm_graph *g, const char *name, int64_t n, const nm_cuba_lif_params *p, int *id);
nm_status nm_graph_add_if(nm_graph *g, const char *name, int64_t n, const nm_if_params *p, int *id);
nm_status nm_graph_add_alif(nm_graph *g, const char *name, int64_t n, const nm_alif_params *p, int *id);
/* Makes a LIF node's tau and threshold per-neuron parameters (initialized from its params). */
nm_status nm_graph_set_learn_neuron(nm_graph *g, int lif_node);
/* A recurrent Affine (n x n, with bias) from a LIF population's spikes back into its own
** input: I[t] = (feed-forward input)[t] + W s[t-1] + b. */
nm_status nm_graph_add_recurrent(nm_graph *g, const char *name, int population, int *id);
/* An edge from src's output to dst's input. */
nm_status nm_graph_connect(nm_graph *g, int src, int dst);

/* Checks the graph and allocates its parameters (zeroed). Errors name the node:
** "node 'fc2' (Affine) expects 1000 inputs but 'lif1' (LIF) gives 512" (NM_SHAPE),
** a node without a source, a node fed twice, a cycle, no input or no output (NM_INVAL).
** Nodes are then numbered in execution order: node 0 is the input; a recurrent Affine
** comes right after its population. */
nm_status nm_graph_compile(nm_graph *g);

int            nm_graph_n_nodes(const nm_graph *g);
const nm_node *nm_graph_node(const nm_graph *g, int id);   /* borrowed */
int            nm_graph_find(const nm_graph *g, const char *name);  /* -1 if none */
int64_t        nm_graph_n_params(const nm_graph *g);
/* Parameters [0, n_decay) are weights and biases (weight decay applies to them); the rest
** (scales, time constants, thresholds) are not decayed. */
int64_t        nm_graph_n_decay_params(const nm_graph *g);
float         *nm_graph_params(nm_graph *g);                 /* the parameter block */
const float   *nm_graph_params_const(const nm_graph *g);
/* Constants that are not trained (Delay's delays). */
const float   *nm_graph_consts(const nm_graph *g);
int64_t        nm_graph_n_consts(const nm_graph *g);
int64_t        nm_graph_input_size(const nm_graph *g);
int64_t        nm_graph_output_size(const nm_graph *g);
/* The node that holds j's data: Flatten and Output move no data, so they read through to
** their source (repeatedly); any other node is its own. */
int            nm_graph_data_node(const nm_graph *g, int j);
/* The node whose output the Output node exposes (the readout population). */
int            nm_graph_readout(const nm_graph *g);
/* Keeps learnable neuron parameters valid after an optimizer step: tau >= dt_min, and a
** threshold above the reset potential. */
void           nm_graph_project(nm_graph *g, float dt_min);

/* Draws parameters: Affine/Conv W and b uniform in +-gain/sqrt(fan_in) (PyTorch's default
** bound for gain 1), from Philox keyed by (seed, node id); scales 1; learnable tau and
** thresholds from the node's parameters. */
void nm_graph_init_params(nm_graph *g, uint64_t seed, float gain);

/* A deep copy (compiled, with its parameters). */
nm_status nm_graph_clone(const nm_graph *g, nm_graph **out);

/* ---- architecture strings ---------------------------------------------- */
/*
** A layered network as '-'-separated tokens:
**   input   N (a vector), CxW (1-d signals, e.g. 2x700) or CxHxW (images, e.g. 1x28x28)
**   N       Affine to N, then a population; the last token is the readout
**   Nr      the same, with a recurrent Affine on the population
**   NcK     Conv (2-d or 1-d after the input's rank) to N channels, kernel K, then a
**           population; options follow K in any order: sS stride, pP padding, dD
**           dilation, gG groups (e.g. 32c3p1, 64c3s2p1g2); a last apK or spK pools the
**           conv's output before the population (16c5ap2)
**   spK, apK  SumPool / AvgPool with kernel K (stride K; sS sets another)
** A Flatten is inserted before the first dense layer after a conv or pool. The hidden
** populations are `neuron` nodes, the readout `readout` (LI, CubaLI, or a spiking kind
** for count losses).
*/
typedef struct nm_spec_options {
    nm_node_kind       neuron;        /* LIF, CubaLIF, IF or ALIF                   */
    nm_node_kind       readout;       /* LI, CubaLI, or LIF (spike-count readouts)   */
    nm_lif_params      lif;
    nm_li_params       li;
    nm_cuba_lif_params cuba;
    nm_if_params       ifp;
    nm_alif_params     alif;
    int                learn_neuron;  /* per-neuron tau and threshold (LIF only)    */
} nm_spec_options;

/* LIF hidden, LI readout, every model's default parameters. */
void nm_spec_options_default(nm_spec_options *o);

/* Builds and compiles a network from a spec. Errors name the bad token. */
nm_status nm_graph_from_spec_ex(const char *spec, const nm_spec_options *o, nm_graph **out);
/* The layered LIF/LI form: "784-1000-10" is Input(784) -> Affine -> LIF(1000) -> Affine ->
** LI(10) -> Output. */
nm_status nm_graph_from_spec(const char *spec, const nm_lif_params *hidden,
                             const nm_li_params *readout, nm_graph **out);
/* Writes the spec string of a layered graph ("784-1000-10", "1x28x28-16c5-ap2-10")
** into buf. */
void nm_graph_spec(const nm_graph *g, char *buf, size_t size);

/* ---- files ------------------------------------------------------------- */

/* The model file (.nmm): magic "NMMODEL1", node table, parameter block, CRC-32, all
** little-endian. nm_graph_write/read work on an open stream (checkpoints embed a model);
** save writes atomically. Reading validates everything and names what is wrong. */
nm_status nm_graph_write(const nm_graph *g, FILE *f);
nm_status nm_graph_read(FILE *f, const char *name_for_errors, nm_graph **out);
/* save: a path ending in ".nir" writes NIR (nm_nir_export, default options); load: a file
** with the HDF5 signature (or a ".nir" name) reads NIR (nm_nir_import, default options). */
nm_status nm_graph_save(const nm_graph *g, const char *path);
nm_status nm_graph_load(const char *path, nm_graph **out);


/* ---- NIR (Neuromorphic Intermediate Representation) ------------------- */
/*
** NIR files are HDF5: /version (a string) and /node, a NIRGraph group of named nodes and
** (src, dst) edges (layout in the project's formats notes). A document (nm_nir) is the file
** read as it is, every primitive, nested graph, metadata group and value kept at full
** precision: writing it back gives the same values. Translation into a graph
** (nm_nir_to_graph) chooses what the file does not store (dt, discretization, reset mode,
** scalar broadcasting) and reports every choice and change. Translation out of a graph
** (nm_nir_from_graph) writes exactly the fields NIR lists and puts neuromorph's own
** settings under metadata, so importing our own file gives the same graph bit for bit.
**
** Mapping: Input, Output, Affine, Linear, Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten,
** Scale, Delay, LIF, LI, IF, CubaLIF, CubaLI become the node kinds of the same names;
** Threshold and I (integrator) have no node kind and are refused naming the node (a
** document still reads, prints and writes them). Nested graphs are flattened ("G.B");
** the graph must be a chain from one Input to one Output, plus recurrent loops of a LIF
** population through an Affine or Linear back into itself.
*/
typedef struct nm_nir nm_nir;

typedef enum {
    NM_NIR_EULER = 0,   /* forward Euler, as snnTorch, Norse and Sinabs step their neurons */
    NM_NIR_EXACT = 1    /* exact integration of the continuous-time model (the engine's)  */
} nm_nir_disc;

const char *nm_nir_disc_name(nm_nir_disc d);                 /* "euler", "exact" */
nm_status   nm_nir_disc_parse(const char *s, nm_nir_disc *out);

#define NM_NIR_DT_DEFAULT 1e-4f   /* snnTorch's exporter convention, seconds */

typedef struct nm_nir_options {
    float       dt;         /* step the file's time constants are read at, s  */
    nm_nir_disc disc;       /* how the exporter stepped the neurons            */
    nm_reset    reset;      /* LIF/IF/CubaLIF reset: to v_reset (NIR) or subtract */
    int         reset_delay;/* with subtract: the subtraction lands after the next step's
                            ** decay, m[t] = beta m[t-1] + I[t] - s[t-1] (v_th - v_reset), as
                            ** snnTorch's Leaky does by default (reset_delay=True); imported as
                            ** an immediate subtraction with v_reset moved so that
                            ** alpha (v_th - v_reset') = v_th - v_reset (uniform tau only) */
    int         broadcast;  /* 1: scalar neuron parameters fill the layer; 0: refuse */
} nm_nir_options;

/* dt 1e-4 s, forward Euler, reset to v_reset (no delay), broadcast scalars. */
void nm_nir_options_default(nm_nir_options *o);

/* Reads a NIR file. NM_FORMAT naming the file and the group or dataset that is wrong
** (not HDF5, no /version or /node, a dataset of an unsupported type or size). */
nm_status nm_nir_read(const char *path, nm_nir **out);
/* Writes a document: vlen UTF-8 strings, gzip-compressed arrays, written to a temporary
** file and renamed into place. */
nm_status nm_nir_write(const nm_nir *doc, const char *path);
void      nm_nir_destroy(nm_nir *doc);   /* accepts NULL */
/* The /version string (borrowed; valid until destroy), "" if absent. */
const char *nm_nir_version(const nm_nir *doc);
/* 1 if two documents hold the same groups, datasets, shapes and bits; otherwise 0 and the
** first difference in why (may be NULL). */
int       nm_nir_equal(const nm_nir *a, const nm_nir *b, char *why, size_t size);
/* A readable listing: every node with its type, fields, shapes and value ranges, and the
** edges. *text is malloc'd (the caller frees it). */
nm_status nm_nir_info(const nm_nir *doc, char **text);
/* 1 if the file starts with the HDF5 signature. */
int       nm_nir_is_hdf5(const char *path);

/* Translates a document into a compiled graph with its parameters. report (may be NULL)
** receives a malloc'd list of every assumption and change, one "- " line each. Errors
** name the node: an unknown primitive, a missing field, an edge to a missing node,
** shapes that disagree across an edge, a primitive or structure the engine cannot run. */
nm_status nm_nir_to_graph(const nm_nir *doc, const nm_nir_options *o, nm_graph **out, char **report);

typedef struct nm_nir_export_options {
    float       dt;    /* recorded in the metadata; turns Delay steps into time, s */
    nm_nir_disc disc;  /* EXACT: the engine's parameters as they are; EULER: time
                       ** constants adjusted so a forward-Euler stepper at dt takes the
                       ** engine's steps (LIF, LI) */
} nm_nir_export_options;

/* dt 1e-4 s, exact. */
void      nm_nir_export_options_default(nm_nir_export_options *o);
/* A compiled graph as a document (report as above). */
nm_status nm_nir_from_graph(const nm_graph *g, const nm_nir_export_options *o, nm_nir **out, char **report);
/* NIRData: recorded observables as the format's TimeGriddedData (attributes __type__,
** dt; dataset data (n_samples, n_time_steps, n_neurons) float32), one group per node under
** /nodes. data is time-major (n_steps, batch, n) as the executor records it. Write only. */
typedef struct nm_nir_observable {
    const char  *node, *name;   /* node name; observable name ("spikes", "v", "i_syn") */
    const float *data;
    int          n_steps, batch;
    int64_t      n;
} nm_nir_observable;
nm_status nm_nir_data_write(const char *path, const nm_nir_observable *obs, int n_obs, float dt);

/* Read + translate, and translate + write. */
nm_status nm_nir_import(const char *path, const nm_nir_options *o, nm_graph **out, char **report);
nm_status nm_nir_export(const nm_graph *g, const nm_nir_export_options *o, const char *path, char **report);

#ifdef __cplusplus
}
#endif
#endif
