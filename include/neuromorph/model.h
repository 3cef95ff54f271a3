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

typedef enum {
    NM_NODE_INPUT  = 0,
    NM_NODE_OUTPUT = 1,
    NM_NODE_AFFINE = 2,   /* y = W x + b, W (n_out, n_in) row-major */
    NM_NODE_LIF    = 3,
    NM_NODE_LI     = 4
} nm_node_kind;

const char *nm_node_kind_name(nm_node_kind k);

#define NM_NAME_MAX 32

typedef struct nm_node {
    nm_node_kind  kind;
    char          name[NM_NAME_MAX];
    int64_t       n_in, n_out;   /* sizes of the input and output vectors            */
    int           src;           /* the node feeding this one; -1 for the input      */
    int64_t       w_off, b_off;  /* Affine: offsets of W and b in the parameter block */
    nm_lif_params lif;           /* LIF */
    nm_li_params  li;            /* LI  */
} nm_node;

typedef struct nm_graph nm_graph;

nm_status nm_graph_create(nm_graph **out);
void      nm_graph_destroy(nm_graph *g);   /* accepts NULL */

/* Adding nodes: each returns the node's id through *id (may be NULL). Names must be
** unique, non-empty and shorter than NM_NAME_MAX; NM_INVAL otherwise. */
nm_status nm_graph_add_input(nm_graph *g, const char *name, int64_t n, int *id);
nm_status nm_graph_add_output(nm_graph *g, const char *name, int *id);
nm_status nm_graph_add_affine(nm_graph *g, const char *name, int64_t n_in, int64_t n_out, int *id);
nm_status nm_graph_add_lif(nm_graph *g, const char *name, int64_t n, const nm_lif_params *p, int *id);
nm_status nm_graph_add_li(nm_graph *g, const char *name, int64_t n, const nm_li_params *p, int *id);
/* An edge from src's output to dst's input. */
nm_status nm_graph_connect(nm_graph *g, int src, int dst);

/* Checks the graph and allocates its parameters (zeroed). Errors name the node:
** "node 'fc2' (Affine) expects 1000 inputs but 'lif1' (LIF) gives 512" (NM_SHAPE),
** a node without a source, a node fed twice, a cycle, no input or no output (NM_INVAL).
** Nodes are then numbered in execution order: node 0 is the input. */
nm_status nm_graph_compile(nm_graph *g);

int            nm_graph_n_nodes(const nm_graph *g);
const nm_node *nm_graph_node(const nm_graph *g, int id);   /* borrowed */
int            nm_graph_find(const nm_graph *g, const char *name);  /* -1 if none */
int64_t        nm_graph_n_params(const nm_graph *g);
float         *nm_graph_params(nm_graph *g);                 /* the parameter block */
const float   *nm_graph_params_const(const nm_graph *g);
int64_t        nm_graph_input_size(const nm_graph *g);
int64_t        nm_graph_output_size(const nm_graph *g);
/* The node whose output the Output node exposes (the readout population). */
int            nm_graph_readout(const nm_graph *g);

/* Draws parameters: Affine W and b uniform in +-gain/sqrt(n_in) (PyTorch's default
** bound for gain 1), from Philox keyed by (seed, node id). */
void nm_graph_init_params(nm_graph *g, uint64_t seed, float gain);

/* A deep copy (compiled, with its parameters). */
nm_status nm_graph_clone(const nm_graph *g, nm_graph **out);

/* ---- architecture strings ---------------------------------------------- */

/* Builds and compiles a layered spiking network from a spec like "784-1000-10":
** Input(784) -> Affine -> LIF(1000) -> Affine -> LI(10) -> Output. Every hidden size gives
** one Affine + LIF pair; the last size is the LI readout. Errors name the bad token. */
nm_status nm_graph_from_spec(const char *spec, const nm_lif_params *hidden,
                             const nm_li_params *readout, nm_graph **out);
/* Writes the spec string of a layered graph ("784-1000-10") into buf. */
void nm_graph_spec(const nm_graph *g, char *buf, size_t size);

/* ---- files ------------------------------------------------------------- */

/* The model file (.nmm): magic "NMMODEL1", node table, parameter block, CRC-32, all
** little-endian. nm_graph_write/read work on an open stream (checkpoints embed a model);
** save writes atomically. Reading validates everything and names what is wrong. */
nm_status nm_graph_write(const nm_graph *g, FILE *f);
nm_status nm_graph_read(FILE *f, const char *name_for_errors, nm_graph **out);
nm_status nm_graph_save(const nm_graph *g, const char *path);
nm_status nm_graph_load(const char *path, nm_graph **out);

#ifdef __cplusplus
}
#endif
#endif
