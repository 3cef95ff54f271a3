/*
** fuzz_nir.c: libFuzzer target for the NIR reader (HDF5 files a user feeds).
**
** libhdf5 reads from a path, so each input is written to a temporary file and read from
** there. Besides "no crash, no leak, no sanitizer report", every accepted document must
** list, write back, read again to the same values (nm_nir_equal), and translate into a
** graph or fail with a message; a graph that translates must export and import again.
**
** libhdf5 is not hardened against hostile files: corrupt B-tree or heap addresses can make
** it read out of bounds. nm_nir_read bounds what it can before calling it (signature at
** byte 0, hard links only, depth, object count, dataset sizes plausible for the file size);
** what remains inside libhdf5 is reported by this target as a crash in H5* frames.
** Built by tests/CMakeLists.txt under -DNM_FUZZ=ON; the corpus is tests/fuzz/corpus/nir.
*/
#include <neuromorph/neuromorph.h>

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* On some corrupt files libhdf5 loses a few hundred bytes inside its own error paths
** (allocated by libhdf5 itself; no neuromorph frame on the allocation stack; nothing is
** reported at process exit). Those reports are suppressed; leaks in our code stay visible
** to test_nir under ASan, which reads valid and broken files. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\nleak:libhdf5.so\n"; }

/* Corrupt object headers make libhdf5's metadata cache ask for absurd sizes (2^63 bytes
** seen in H5C_protect). Outside sanitizers malloc returns NULL and the read fails cleanly;
** here too: ASan returns NULL instead of aborting, and libFuzzer's per-malloc limit is
** raised so only real memory use (its RSS limit) counts. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    static char limit[] = "-malloc_limit_mb=1048576";
    static char *args[256];
    int n = *argc < 254 ? *argc : 254;
    for (int i = 0; i < n; i++) args[i] = (*argv)[i];
    args[n++] = limit;
    args[n] = NULL;
    *argc = n;
    *argv = args;
    return 0;
}

static void broken(const char *what) {
    fprintf(stderr, "fuzz_nir: invariant broken: %s (%s)\n", what, nm_errmsg());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1 << 20)) return 0;
    char in[64], out[64], again[64];
    snprintf(in, sizeof in, "/tmp/fuzz_nir_%d.nir", (int)getpid());
    snprintf(out, sizeof out, "/tmp/fuzz_nir_%d_w.nir", (int)getpid());
    snprintf(again, sizeof again, "/tmp/fuzz_nir_%d_g.nir", (int)getpid());
    FILE *f = fopen(in, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    nm_nir *doc = NULL, *back = NULL;
    if (nm_nir_read(in, &doc)) {
        if (doc) broken("an error returned a document");
        remove(in);
        H5garbage_collect();
        return 0;
    }
    char *text = NULL;
    if (nm_nir_info(doc, &text)) broken("an accepted document does not list");
    free(text);
    if (nm_nir_write(doc, out)) broken("an accepted document does not write");
    if (nm_nir_read(out, &back)) broken("a written document does not read back");
    char why[256];
    if (!nm_nir_equal(doc, back, why, sizeof why)) {
        fprintf(stderr, "fuzz_nir: %s\n", why);
        broken("a document changed through write and read");
    }
    nm_nir_destroy(back);
    nm_nir_options o;
    nm_nir_options_default(&o);
    nm_graph *g = NULL, *h = NULL;
    char *rep = NULL;
    if (!nm_nir_to_graph(doc, &o, &g, &rep)) {
        free(rep);
        /* big graphs only ask for memory: skip their round trip */
        int64_t widest = 0;
        for (int j = 0; j < nm_graph_n_nodes(g); j++)
            if (nm_graph_node(g, j)->n_out > widest) widest = nm_graph_node(g, j)->n_out;
        if (nm_graph_n_params(g) < (1 << 22) && widest < (1 << 20)) {
            nm_nir_export_options eo;
            nm_nir_export_options_default(&eo);
            if (nm_nir_export(g, &eo, again, NULL)) broken("a translated graph does not export");
            if (nm_nir_import(again, &o, &h, NULL)) broken("an exported graph does not import");
            if (nm_graph_n_params(g) != nm_graph_n_params(h) ||
                (nm_graph_n_params(g) && memcmp(nm_graph_params_const(g), nm_graph_params_const(h), sizeof(float) * (size_t)nm_graph_n_params(g))))
                broken("parameters changed through export and import");
            nm_graph_destroy(h);
        }
        nm_graph_destroy(g);
    } else if (g || !nm_errmsg()[0]) {
        broken("a failed translation returned a graph or no message");
    }
    nm_nir_destroy(doc);
    remove(in);
    remove(out);
    remove(again);
    /* libhdf5 keeps freed blocks on its own free lists, where the leak checker cannot see
    ** them; hand them back after each input */
    H5garbage_collect();
    return 0;
}
