/*
** fuzz_model.c: libFuzzer target for the two model parsers a user feeds: model files (.nmm)
** and architecture specs ("1x28x28-16c5ap2-10").
**
** The first byte picks the parser; the rest is the input. Besides "no crash, no leak, no
** sanitizer report", every accepted input must round-trip:
**   - a model file that reads OK writes back to bytes that read to the same graph (same
**     spec string, same parameters and constants), and a corrupted CRC is always refused;
**   - a spec that builds a graph prints a spec that builds the same graph again.
** Built by tests/CMakeLists.txt under -DNM_FUZZ=ON; the corpus is tests/fuzz/corpus/model.
*/
#include <neuromorph/neuromorph.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what) {
    fprintf(stderr, "fuzz_model: invariant broken: %s\n", what);
    abort();
}

static int same_graph(const nm_graph *a, const nm_graph *b) {
    char sa[512], sb[512];
    nm_graph_spec(a, sa, sizeof sa);
    nm_graph_spec(b, sb, sizeof sb);
    if (strcmp(sa, sb) || nm_graph_n_nodes(a) != nm_graph_n_nodes(b) || nm_graph_n_params(a) != nm_graph_n_params(b) ||
        nm_graph_n_consts(a) != nm_graph_n_consts(b))
        return 0;
    if (nm_graph_n_params(a) && memcmp(nm_graph_params_const(a), nm_graph_params_const(b), sizeof(float) * nm_graph_n_params(a)))
        return 0;
    if (nm_graph_n_consts(a) && memcmp(nm_graph_consts(a), nm_graph_consts(b), sizeof(float) * nm_graph_n_consts(a)))
        return 0;
    return 1;
}

static void fuzz_file(const uint8_t *data, size_t size) {
    FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
    if (!f) return;
    if (!size) { fclose(f); return; }
    nm_graph *g = NULL;
    nm_status rc = nm_graph_read(f, "fuzz.nmm", &g);
    fclose(f);
    if (rc) {
        if (g) broken("an error returned a graph");
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *w = open_memstream(&buf, &len);
    if (!w || nm_graph_write(g, w)) broken("an accepted model does not write");
    fclose(w);
    FILE *r = fmemopen(buf, len, "rb");
    nm_graph *h = NULL;
    if (nm_graph_read(r, "again.nmm", &h)) broken("a written model does not read back");
    fclose(r);
    if (!same_graph(g, h)) broken("a model changed through write and read");
    nm_graph_destroy(h);
    buf[len - 1] ^= 0x5a;   /* the CRC's last byte */
    r = fmemopen(buf, len, "rb");
    h = NULL;
    if (nm_graph_read(r, "bad.nmm", &h) != NM_FORMAT) broken("a corrupted CRC was accepted");
    fclose(r);
    free(buf);
    nm_graph_destroy(g);
}

static void fuzz_spec(const uint8_t *data, size_t size) {
    if (size > 256) return;
    char spec[257];
    memcpy(spec, data, size);
    spec[size] = 0;
    /* Big sizes only ask for gigabytes (a clean NM_NOMEM outside the fuzzer, an "out of
    ** memory" crash under its malloc limit): skip them. */
    double product = 1;
    for (const char *p = spec; *p;) {
        if (*p >= '0' && *p <= '9') {
            char *end;
            long v = strtol(p, &end, 10);
            if (v > 4096) return;   /* a recurrent layer is size squared */
            product *= (double)v + 1;
            p = end;
        } else {
            p++;
        }
    }
    if (product > 1e8) return;   /* bounds every tensor the spec can ask for */
    nm_spec_options o;
    nm_spec_options_default(&o);
    nm_graph *g = NULL;
    if (nm_graph_from_spec_ex(spec, &o, &g)) {
        if (g) broken("an error returned a graph");
        return;
    }
    char again[512];
    nm_graph_spec(g, again, sizeof again);
    nm_graph *h = NULL;
    if (nm_graph_from_spec_ex(again, &o, &h)) broken("a printed spec does not parse");
    if (nm_graph_n_nodes(g) != nm_graph_n_nodes(h) || nm_graph_n_params(g) != nm_graph_n_params(h))
        broken("a spec changed through print and parse");
    nm_graph_destroy(h);
    nm_graph_destroy(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    if (data[0] & 1) fuzz_spec(data + 1, size - 1);
    else fuzz_file(data + 1, size - 1);
    return 0;
}
