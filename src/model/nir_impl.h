/*
** Private to the model module: the in-memory form of a NIR file, shared by nir_read.c
** (HDF5 -> tree, tree -> graph) and nir_write.c (tree -> HDF5, graph -> tree).
**
** A NIR document is kept as the HDF5 tree it came from: groups holding datasets and
** subgroups, every value kept at full precision (floats as double, integers as int64,
** strings as UTF-8), with the file's element size remembered. Writing the tree back gives
** the same values, so a file round trip is lossless by construction; the graph translation
** (nm_nir_to_graph) is where choices are made, and it reports them.
*/
#ifndef NM_NIR_IMPL_H
#define NM_NIR_IMPL_H

#include "model_impl.h"

#define NIR_MAX_RANK  8
#define NIR_MAX_DEPTH 16

typedef enum { NIR_FLOAT = 0, NIR_INT = 1, NIR_STR = 2 } nir_class;

/* One dataset. n = product of dims (1 for a scalar, rank 0). */
typedef struct nir_ds {
    char     *name;
    nir_class cls;
    int       size;               /* bytes per element in the file (floats 4 or 8; ints 1..8) */
    int       is_unsigned;
    int       rank;
    int64_t   dims[NIR_MAX_RANK];
    int64_t   n;
    double   *f;                  /* NIR_FLOAT: n values */
    int64_t  *i;                  /* NIR_INT: n values   */
    char    **s;                  /* NIR_STR: n strings  */
} nir_ds;

typedef struct nir_grp {
    char           *name;
    nir_ds         *ds;
    int             n_ds, cap_ds;
    struct nir_grp *sub;
    int             n_sub, cap_sub;
} nir_grp;

struct nm_nir {
    nir_grp root;                 /* "/": version (dataset) and node (group) */
};

/* Tree helpers (nir_read.c). Lookups return NULL when absent; borrowed. */
const nir_ds  *nm__nir_ds(const nir_grp *g, const char *name);
const nir_grp *nm__nir_sub(const nir_grp *g, const char *name);
/* The string value of a scalar (or one-element) string dataset, or NULL. */
const char    *nm__nir_str(const nir_grp *g, const char *name);
void           nm__nir_grp_free(nir_grp *g);

/* Building trees (nir_write.c). Each returns NULL / NM_NOMEM on allocation failure. */
nir_grp  *nm__nir_add_grp(nir_grp *g, const char *name);
nm_status nm__nir_add_str(nir_grp *g, const char *name, const char *value);
nm_status nm__nir_add_strs(nir_grp *g, const char *name, const char **values, int rank, const int64_t *dims);
/* size 4 or 8; values are converted to that precision by the caller. */
nm_status nm__nir_add_f(nir_grp *g, const char *name, const double *v, int rank, const int64_t *dims, int size);
nm_status nm__nir_add_i(nir_grp *g, const char *name, const int64_t *v, int rank, const int64_t *dims);

/* Growing text buffer for reports. */
typedef struct nm__text {
    char  *buf;
    size_t len, cap;
    int    failed;
} nm__text;
void nm__text_add(nm__text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Engine tau for a NIR tau under forward Euler at dt (the exact-integration time constant
** with the same per-step decay 1 - dt/tau); the inverse for export. */
double nm__nir_euler_tau(double tau, double dt);
float  nm__nir_euler_tau_inverse(float tau_engine, double dt);

#endif
