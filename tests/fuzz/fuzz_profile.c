/*
** fuzz_profile.c: libFuzzer target for the two hardware files a user hands us: chip
** profiles (JSON) and measured device tables (text).
**
** Each input is written to a per-process file and read both ways. Besides "no crash, no
** leak, no sanitizer report", it checks invariants that must hold for every input:
**   - an error leaves the output untouched and names the file;
**   - a profile that loads is accepted by the checks the chip uses on it (its device can
**     be created, its crossbar configuration passes), so nothing invalid gets past;
**   - a device table that loads has 2..NM_DEV_MAX_TABLE rows, ascending targets in
**     [0, 1] and non-negative finite spreads.
** Run by ctest under -DNM_FUZZ=ON over tests/fuzz/corpus/profile (the shipped profiles and
** a table).
*/
#include <neuromorph/hw.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[128];

static void remove_file(void) { remove(g_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(g_path, sizeof g_path, "/tmp/fuzz_profile_%ld.json", (long)getpid());
    atexit(remove_file);
    return 0;
}

static void broken(const char *what) {
    fprintf(stderr, "broken invariant: %s (message: %s)\n", what, nm_errmsg());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(g_path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);

    static nm_chip_profile p, before;
    memset(&p, 0xA5, sizeof p);
    before = p;
    nm_status rc = nm_chip_profile_load(g_path, &p);
    if (rc) {
        if (memcmp(&p, &before, sizeof p)) broken("a failed profile load changed its output");
        if (!strstr(nm_errmsg(), "fuzz_profile_")) broken("a profile error does not name the file");
    } else {
        nm_device *d = NULL;
        if (p.analog) {
            if (nm_device_create(&p.device, &d)) broken("a loaded profile's device is invalid");
            if (nm_xbar_config_check(&p.xbar)) broken("a loaded profile's crossbar is invalid");
        }
        nm_device_destroy(d);
        if (!(p.time_scale > 0)) broken("a loaded profile has time_scale <= 0");
    }

    static nm_device_params t, tb;
    nm_device_params_default(NM_DEV_TABLE, &t);
    tb = t;
    rc = nm_device_table_load(g_path, &t);
    if (rc) {
        if (memcmp(&t, &tb, sizeof t)) broken("a failed table load changed its output");
    } else {
        if (t.n_table < 2 || t.n_table > NM_DEV_MAX_TABLE) broken("table row count out of range");
        for (int i = 0; i < t.n_table; i++) {
            if (!(t.table[i][0] >= 0 && t.table[i][0] <= 1)) broken("table target outside [0, 1]");
            if (i && !(t.table[i][0] > t.table[i - 1][0])) broken("table targets not ascending");
            if (!(t.table[i][2] >= 0) || !isfinite(t.table[i][1]) || !isfinite(t.table[i][2]))
                broken("table spread negative or not finite");
        }
    }
    return 0;
}
