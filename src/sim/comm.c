/*
** The simulator's few collective operations, over MPI_COMM_WORLD when the library has MPI
** and the simulation was created with options.mpi, else trivially local. Only the
** calling (master) thread talks to MPI: MPI_THREAD_FUNNELED is enough.
*/
#include "sim_impl.h"

#include <stdlib.h>
#include <string.h>

#ifdef NM_HAVE_MPI
#include <mpi.h>
#endif

int nm_sim_have_mpi(void) {
#ifdef NM_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int nm_sim_under_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") != NULL;
}

nm_status nm_sim_mpi_init(int *argc, char ***argv, int *rank, int *size) {
#ifdef NM_HAVE_MPI
    int init = 0, provided = 0;
    MPI_Initialized(&init);
    if (!init && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return nm__error(NM_IO, "MPI_Init_thread failed");
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return NM_OK;
#else
    (void)argc;
    (void)argv;
    *rank = 0;
    *size = 1;
    return nm__error(NM_UNSUPPORTED, "this neuromorph was built without MPI (install libopenmpi-dev and rebuild)");
#endif
}

void nm_sim_mpi_finalize(void) {
#ifdef NM_HAVE_MPI
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Finalize();
#endif
}

int64_t nm_sim_allreduce_i64(int64_t x) {
#ifdef NM_HAVE_MPI
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) {
        long long in = x, out = 0;
        MPI_Allreduce(&in, &out, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
        return out;
    }
#endif
    return x;
}

static int64_t reduce(nm_sim *s, int64_t x, int op) {
#ifdef NM_HAVE_MPI
    if (s->mpi) {
        long long in = x, out = 0;
        MPI_Allreduce(&in, &out, 1, MPI_LONG_LONG, op == 0 ? MPI_SUM : op == 1 ? MPI_MIN : MPI_MAX, MPI_COMM_WORLD);
        return out;
    }
#else
    (void)s;
    (void)op;
#endif
    return x;
}

int64_t sim_allreduce_sum(nm_sim *s, int64_t x) { return reduce(s, x, 0); }
int64_t sim_allreduce_min(nm_sim *s, int64_t x) { return reduce(s, x, 1); }
int64_t sim_allreduce_max(nm_sim *s, int64_t x) { return reduce(s, x, 2); }

static int grow(uint64_t **buf, int64_t *cap, int64_t need) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    uint64_t *p = realloc(*buf, (size_t)c * sizeof *p);
    if (!p) return -1;
    *buf = p;
    *cap = c;
    return 0;
}

nm_status sim_allgather(nm_sim *s, const uint64_t *send, int64_t n, uint64_t **all, int64_t *n_all, int64_t *cap) {
#ifdef NM_HAVE_MPI
    if (s->mpi && s->K > 1) {
        int cnt = (int)n;
        int *counts = malloc((size_t)s->K * 2 * sizeof(int));
        if (!counts) return nm__error(NM_NOMEM, "spike exchange");
        int *displs = counts + s->K;
        MPI_Allgather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
        int64_t total = 0;
        for (int r = 0; r < s->K; r++) {
            displs[r] = (int)total;
            total += counts[r];
        }
        if (total > 0x7fffffff || grow(all, cap, total)) {
            free(counts);
            return nm__error(NM_NOMEM, "spike exchange: %lld spikes in one interval", (long long)total);
        }
        MPI_Allgatherv(send, cnt, MPI_UINT64_T, *all, counts, displs, MPI_UINT64_T, MPI_COMM_WORLD);
        free(counts);
        *n_all = total;
        return NM_OK;
    }
#endif
    if (grow(all, cap, n)) return nm__error(NM_NOMEM, "spike exchange: %lld spikes in one interval", (long long)n);
    if (n) memcpy(*all, send, (size_t)n * sizeof *send);
    *n_all = n;
    return NM_OK;
}

void sim_reduce_floats(nm_sim *s, float *v, int64_t n) {
#ifdef NM_HAVE_MPI
    if (s->mpi && s->K > 1 && n > 0) {
        /* In chunks: MPI counts are ints. */
        for (int64_t o = 0; o < n; o += 1 << 28) {
            int c = (int)(n - o < (1 << 28) ? n - o : (1 << 28));
            if (s->rank == 0) MPI_Reduce(MPI_IN_PLACE, v + o, c, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);
            else MPI_Reduce(v + o, NULL, c, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);
        }
    }
#else
    (void)s;
    (void)v;
    (void)n;
#endif
}
