/*
** fuzz_simnet.c: libFuzzer target for the simulator's network description reader.
**
** Each input is parsed from memory with nm_sim_spec_parse. Besides "no crash, no leak, no
** sanitizer report", it checks invariants that must hold for every input:
**   - an error leaves the output untouched, is one line, and starts with the file's name;
**   - a spec that parses passes nm_sim_spec_check (the reader lets nothing invalid through);
**   - writing it gives a file that reads back and writes again to the same bytes, so the
**     writer and the reader agree on every field.
** Run by ctest under -DNM_FUZZ=ON over tests/fuzz/corpus/simnet (the nets/ files, cut down,
** and broken variants).
*/
#include <neuromorph/sim.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_a[128], g_b[128];

static void remove_files(void) {
    remove(g_a);
    remove(g_b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(g_a, sizeof g_a, "/tmp/fuzz_simnet_%ld_a.json", (long)getpid());
    snprintf(g_b, sizeof g_b, "/tmp/fuzz_simnet_%ld_b.json", (long)getpid());
    atexit(remove_files);
    return 0;
}

static void broken(const char *what) {
    fprintf(stderr, "fuzz_simnet: invariant broken: %s (last error: \"%s\")\n", what, nm_errmsg());
    abort();
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 12, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    *n = len;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nm_sim_spec *sentinel = (nm_sim_spec *)(uintptr_t)0x10, *s = sentinel;
    nm_status st = nm_sim_spec_parse((const char *)data, size, "fuzz.json", "/fuzz", &s);
    if (st != NM_OK) {
        if (s != sentinel) broken("output changed on error");
        if (st != NM_FORMAT && st != NM_RANGE && st != NM_NOTFOUND && st != NM_NOMEM) broken("unexpected status");
        if (strncmp(nm_errmsg(), "fuzz.json: ", 11)) broken("error message does not start with the file name");
        if (strchr(nm_errmsg(), '\n')) broken("error message is more than one line");
        return 0;
    }
    if (nm_sim_spec_check(s) != NM_OK) broken("a parsed spec fails its check");
    /* write -> read -> write: the same bytes */
    if (nm_sim_spec_write(s, g_a) != NM_OK) broken("a parsed spec cannot be written");
    nm_sim_spec *r = NULL;
    if (nm_sim_spec_read(g_a, &r) != NM_OK) broken("a written spec does not read back");
    if (r->n_pops != s->n_pops || r->n_projs != s->n_projs || r->n_inputs != s->n_inputs || r->n_mons != s->n_mons ||
        r->seed != s->seed || r->dt != s->dt || r->time != s->time)
        broken("a written spec reads back different");
    if (nm_sim_spec_write(r, g_b) != NM_OK) broken("a re-read spec cannot be written");
    size_t na = 0, nb = 0;
    char *a = slurp(g_a, &na), *b = slurp(g_b, &nb);
    if (a && b && (na != nb || memcmp(a, b, na))) broken("write(read(write(s))) differs from write(s)");
    free(a);
    free(b);
    nm_sim_spec_free(r);
    nm_sim_spec_free(s);
    return 0;
}
