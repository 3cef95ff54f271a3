/* Private to the model module: the graph's layout, shared by graph.c, spec.c and file.c. */
#ifndef NM_MODEL_IMPL_H
#define NM_MODEL_IMPL_H

#include <neuromorph/model.h>

#define NM_MAX_NODES 4096
#define NM_MAX_SIZE  ((int64_t)1 << 30)
#define NM_MAX_DELAY 100000

struct nm_graph {
    nm_node *nodes;
    int    **delays;     /* per node: Delay's delays in steps (NULL for other kinds) */
    int      n, cap;
    int      compiled;
    float   *params;
    int64_t  n_params, n_decay;
    float   *consts;
    int64_t  n_consts;
};

/* Appends a node of `kind`, checking the name and sizes; *node points into g->nodes. */
nm_status nm__graph_add_node(nm_graph *g, nm_node_kind kind, const char *name, int64_t n_in, int64_t n_out,
                             nm_node **node, int *id);

#endif
