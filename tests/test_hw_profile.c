/*
** test_hw_profile.c: chip profiles.
**
** Every shipped profile loads by name and by path, to the same numbers, and a few values are
** checked against the sources they cite (aihwkit's 9-bit ADC and 512 x 512 tiles for pcm,
** BrainScaleS-2's 64 levels and 1000x speed-up, the RRAM programming polynomial converted
** from CrossSim's fit in uS). Then every rule of the loader is broken on purpose in a copy
** written to the test's temporary directory, and the error must carry the status, the file
** and the field path: a missing field, out-of-range numbers, wrong types, unknown keys,
** an unknown device kind, a number without a source, a source naming nothing, a name that
** differs from the file, text that is not JSON (with jansson's line and column), an empty
** file. An unknown name lists the profiles there are. print and report show every field
** and the citations, and leave the thread's error message alone.
*/
#include <neuromorph/hw.h>

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <cmocka.h>

#ifndef NM_TEST_TMP_DIR
#define NM_TEST_TMP_DIR "/tmp"
#endif
#ifndef NM_TEST_DATA_DIR
#error "NM_TEST_DATA_DIR must be defined (<source>/tests/data)"
#endif

static const char *const shipped[] = {"bss2", "bss2-uncal", "ideal", "loihi", "pcm", "rram", "truenorth"};
#define N_SHIPPED 7

static char profile_dir[4096];   /* <source>/profiles */
static char tmp_dir[4096];       /* NM_TEST_TMP_DIR/hw_profile */

/* <source>/tests/data -> <source>/profiles, and NM_PROFILE_DIR pointing there: the tests
** then read the source tree's profiles whatever the build directory. */
static int setup(void **state) {
    (void)state;
    const char *data = NM_TEST_DATA_DIR;
    size_t n = strlen(data);
    const char *tail = "tests/data";
    if (n < strlen(tail) || strcmp(data + n - strlen(tail), tail)) return -1;
    snprintf(profile_dir, sizeof profile_dir, "%.*sprofiles", (int)(n - strlen(tail)), data);
    snprintf(tmp_dir, sizeof tmp_dir, "%s/hw_profile", NM_TEST_TMP_DIR);
    mkdir(NM_TEST_TMP_DIR, 0755);
    mkdir(tmp_dir, 0755);
    return setenv("NM_PROFILE_DIR", profile_dir, 1);
}

/* ---- helpers -------------------------------------------------------------------- */

static void check_error_(nm_status got, nm_status want, const char *k1, const char *k2, const char *k3,
                         const char *file, int line) {
    const char *msg = nm_errmsg();
    const char *keys[3] = {k1, k2, k3};
    if (got != want) fail_msg("%s:%d: status %d, expected %d (message: \"%s\")", file, line, got, want, msg);
    for (int i = 0; i < 3; i++)
        if (keys[i] && !strstr(msg, keys[i])) fail_msg("%s:%d: message \"%s\" lacks \"%s\"", file, line, msg, keys[i]);
    print_message("PASS %s:%d: %s\n", file, line, msg);
}
#define check_error(got, want, k1, k2, k3) check_error_((got), (want), (k1), (k2), (k3), __FILE__, __LINE__)

static const char *tmp_path(const char *name) {
    static char bufs[4][4200];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", tmp_dir, name);
    return b;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* A shipped profile as a JSON tree, to break. */
static json_t *shipped_json(const char *name) {
    char path[4200];
    json_error_t err;
    snprintf(path, sizeof path, "%s/%s.json", profile_dir, name);
    json_t *j = json_load_file(path, 0, &err);
    if (!j) fail_msg("%s: %s", path, err.text);
    return j;
}

/* The object at dotted `path` in j ("crossbar"), or j itself for "". */
static json_t *at(json_t *j, const char *path) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *o = j;
    for (char *s = strtok(buf, "."); s; s = strtok(NULL, ".")) {
        o = json_object_get(o, s);
        assert_non_null(o);
    }
    return o;
}

/* Writes j to tmp/<file> (consuming j) and loads it by path, expecting an error that leaves
** *out untouched; returns the status. */
static nm_status load_broken(json_t *j, const char *file) {
    const char *path = tmp_path(file);
    assert_int_equal(json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER), 0);
    json_decref(j);
    nm_chip_profile p, q;
    memset(&p, 0xA5, sizeof p);
    q = p;
    nm_status st = nm_chip_profile_load(path, &p);
    assert_memory_equal(&p, &q, sizeof p);
    return st;
}

static double energy(const nm_chip_profile *p, const char *name) {
    for (int i = 0; i < p->n_energy; i++)
        if (!strcmp(p->energy_name[i], name)) return p->energy_value[i];
    fail_msg("profile %s has no energy '%s'", p->name, name);
    return 0;
}

/* ---- the shipped profiles -------------------------------------------------------- */

static void test_shipped_load(void **state) {
    (void)state;
    char names[32][32];
    int n = 0;
    assert_int_equal(nm_chip_profile_list(names, 32, &n), NM_OK);
    assert_true(n >= N_SHIPPED);
    for (int i = 1; i < n; i++) assert_true(strcmp(names[i - 1], names[i]) < 0);   /* sorted, unique */
    int count = -1;
    assert_int_equal(nm_chip_profile_list(NULL, 0, &count), NM_OK);
    assert_int_equal(count, n);
    for (int k = 0; k < N_SHIPPED; k++) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= !strcmp(names[i], shipped[k]);
        assert_true(found);
        nm_chip_profile a, b;
        nm_status st = nm_chip_profile_load(shipped[k], &a);
        if (st) fail_msg("%s: %s", shipped[k], nm_errmsg());
        assert_string_equal(a.name, shipped[k]);
        assert_true(strlen(a.description) > 10);
        /* by path: the same numbers */
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.json", profile_dir, shipped[k]);
        assert_int_equal(nm_chip_profile_load(path, &b), NM_OK);
        assert_string_equal(a.description, b.description);
        assert_memory_equal(&a.device, &b.device, sizeof a.device);
        assert_memory_equal(&a.xbar, &b.xbar, sizeof a.xbar);
        assert_true(a.cores >= 1 && a.neurons_per_core >= 1 && a.axons_per_core >= 1 && a.time_scale > 0);
        print_message("PASS %s: %s\n", a.name, a.description);
    }
    /* a list shorter than the profiles gets the first ones */
    char two[2][32];
    assert_int_equal(nm_chip_profile_list(two, 2, &n), NM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(two[0], names[0]);
}

static void test_shipped_values(void **state) {
    (void)state;
    nm_chip_profile p;
    assert_int_equal(nm_chip_profile_load("pcm", &p), NM_OK);
    assert_true(p.analog);
    assert_int_equal(p.device.kind, NM_DEV_PCM);
    assert_true(p.device.g_max_us == 25.0f);
    assert_true(p.device.pcm_prog_coeff[0] == 0.26348f && p.device.pcm_prog_coeff[2] == -1.1731f);
    assert_true(p.device.pcm_t0 == 20.0f && p.device.pcm_t_read == 250e-9f);
    assert_true(p.device.read_sigma == 0.0175f);
    assert_int_equal(p.xbar.tile_rows, 512);
    assert_int_equal(p.xbar.tile_cols, 512);
    assert_int_equal(p.xbar.dac_bits, 7);
    assert_int_equal(p.xbar.adc_bits, 9);
    assert_true(p.xbar.adc_range == 12.0f && p.xbar.adc_noise == 0.06f && p.xbar.ir_drop == 1.0f);
    assert_int_equal(p.xbar.input_scaling, NM_INSCALE_ABSMAX);
    assert_false(p.has_mismatch);

    assert_int_equal(nm_chip_profile_load("bss2", &p), NM_OK);
    assert_int_equal(p.device.kind, NM_DEV_QUANTIZED);
    assert_int_equal(p.device.levels, 64);
    assert_int_equal(p.xbar.tile_rows, 256);
    assert_int_equal(p.xbar.tile_cols, 512);
    assert_int_equal(p.xbar.input_scaling, NM_INSCALE_CONSTANT);
    assert_int_equal(p.xbar.adc_bits, 0);
    assert_true(p.time_scale == 1000.0);
    assert_true(p.has_mismatch);
    assert_true(p.neuron.tau_mem == 0.10f && p.neuron.v_th == 0.05f && p.neuron.noise == 0.01f);
    assert_int_equal(p.neuron.trim_bits, 6);
    assert_true(p.neuron.calib_noise == 0.05f);
    assert_int_equal(p.neurons_per_core, 256);
    assert_true(energy(&p, "image_uj") == 2.4);

    assert_int_equal(nm_chip_profile_load("rram", &p), NM_OK);
    assert_int_equal(p.device.kind, NM_DEV_RRAM);
    assert_true(p.device.g_max_us == 40.0f);
    assert_int_equal(p.cores, 48);
    assert_int_equal(p.xbar.tile_rows, 256);
    /* CrossSim's RRAMWan fit in uS, sigma(G) = 1.536e-4 G^3 - 1.167e-2 G^2 + 0.2374 G + 1.053,
    ** is the profile's polynomial in units of g_max = 40 uS */
    for (double x = 0; x <= 1.0; x += 0.125) {
        const double G = 40 * x, us = 1.536e-4 * G * G * G - 1.167e-2 * G * G + 0.2374 * G + 1.053;
        const float *c = p.device.prog_sigma;
        const double prof = c[0] + c[1] * x + c[2] * x * x + c[3] * x * x * x;
        assert_true(fabs(prof - us / 40) < 1e-6);
    }

    assert_int_equal(nm_chip_profile_load("ideal", &p), NM_OK);
    assert_false(p.analog);
    assert_int_equal(p.weight_bits, 0);
    assert_false(p.has_mismatch);
    assert_int_equal(p.n_energy, 0);

    assert_int_equal(nm_chip_profile_load("truenorth", &p), NM_OK);
    assert_int_equal(p.weight_bits, 2);
    assert_int_equal(p.cores, 4096);
    assert_true(energy(&p, "synaptic_event_pj") == 26);

    assert_int_equal(nm_chip_profile_load("loihi", &p), NM_OK);
    assert_int_equal(p.cores * p.neurons_per_core, 131072);
    assert_true(energy(&p, "synaptic_op_pj") == 23.6);
}

/* ---- broken copies ----------------------------------------------------------------- */

static void test_missing_field(void **state) {
    (void)state;
    json_t *j = shipped_json("pcm");
    json_object_del(at(j, "crossbar"), "adc_bits");
    check_error(load_broken(j, "missing.json"), NM_FORMAT, "missing.json", "crossbar.adc_bits is missing", NULL);

    j = shipped_json("pcm");
    json_object_del(at(j, "device"), "t0");
    check_error(load_broken(j, "missing2.json"), NM_FORMAT, "device.t0 is missing", NULL, NULL);

    j = shipped_json("pcm");
    json_object_del(j, "crossbar");
    check_error(load_broken(j, "missing3.json"), NM_FORMAT, "crossbar is missing", NULL, NULL);

    j = shipped_json("bss2");
    json_object_del(at(j, "neurons"), "calibration");
    check_error(load_broken(j, "missing4.json"), NM_FORMAT, "neurons.calibration is missing", NULL, NULL);

    j = shipped_json("ideal");
    json_object_del(j, "size");
    check_error(load_broken(j, "missing5.json"), NM_FORMAT, "size is missing", NULL, NULL);

    j = shipped_json("ideal");
    json_object_del(j, "sources");
    check_error(load_broken(j, "missing6.json"), NM_FORMAT, "sources is missing", NULL, NULL);
}

static void test_out_of_range(void **state) {
    (void)state;
    json_t *j = shipped_json("pcm");
    json_object_set_new(at(j, "crossbar"), "tile_rows", json_integer(0));
    check_error(load_broken(j, "range1.json"), NM_RANGE, "range1.json",
                "crossbar.tile_rows must be between 1 and 65536, not 0", NULL);

    j = shipped_json("pcm");
    json_object_set_new(at(j, "crossbar"), "dac_bits", json_integer(40));
    check_error(load_broken(j, "range2.json"), NM_RANGE, "crossbar.dac_bits must be 0 or between 2 and 24, not 40", NULL,
                NULL);

    j = shipped_json("pcm");
    json_object_set_new(at(j, "device"), "g_max_us", json_real(-25));
    check_error(load_broken(j, "range3.json"), NM_RANGE, "device.g_max_us must be in (0, ", "not -25", NULL);

    j = shipped_json("rram");
    json_array_set_new(at(j, "device.prog_sigma"), 2, json_real(1e6));
    check_error(load_broken(j, "range4.json"), NM_RANGE, "device.prog_sigma[2]", NULL, NULL);

    j = shipped_json("bss2");
    json_object_set_new(at(j, "neurons.mismatch"), "tau_mem", json_real(1.0));
    check_error(load_broken(j, "range5.json"), NM_RANGE, "neurons.mismatch.tau_mem must be in [0, 1), not 1", NULL, NULL);

    j = shipped_json("bss2");
    json_object_set_new(at(j, "neurons.calibration"), "trim_bits", json_integer(17));
    check_error(load_broken(j, "range6.json"), NM_RANGE, "neurons.calibration.trim_bits", "not 17", NULL);

    j = shipped_json("bss2");
    json_object_set_new(j, "time_scale", json_integer(0));
    check_error(load_broken(j, "range7.json"), NM_RANGE, "time_scale must be in (0, ", NULL, NULL);

    j = shipped_json("loihi");
    json_object_set_new(at(j, "size"), "cores", json_integer(0));
    check_error(load_broken(j, "range8.json"), NM_RANGE, "size.cores must be between 1 and", NULL, NULL);

    j = shipped_json("loihi");
    json_object_set_new(j, "weight_bits", json_integer(1));
    check_error(load_broken(j, "range9.json"), NM_RANGE, "weight_bits must be 0 or between 2 and 32, not 1", NULL, NULL);

    j = shipped_json("bss2");
    json_object_set_new(at(j, "device"), "levels", json_integer(0));
    check_error(load_broken(j, "range10.json"), NM_RANGE, "device.levels must be at least 2 for a quantized device",
                NULL, NULL);

    j = shipped_json("loihi");
    json_object_set_new(at(j, "energy"), "synaptic_op_pj", json_real(-1));
    check_error(load_broken(j, "range11.json"), NM_RANGE, "energy.synaptic_op_pj", NULL, NULL);
}

static void test_wrong_type(void **state) {
    (void)state;
    json_t *j = shipped_json("pcm");
    json_object_set_new(at(j, "crossbar"), "adc_bits", json_string("9"));
    check_error(load_broken(j, "type1.json"), NM_FORMAT, "crossbar.adc_bits must be an integer, not a string", NULL,
                NULL);

    j = shipped_json("pcm");
    json_object_set_new(at(j, "crossbar"), "adc_bits", json_real(8.5));
    check_error(load_broken(j, "type2.json"), NM_FORMAT, "crossbar.adc_bits must be an integer, not 8.5", NULL, NULL);

    j = shipped_json("pcm");
    json_object_set_new(at(j, "device"), "t0", json_null());
    check_error(load_broken(j, "type3.json"), NM_FORMAT, "device.t0 must be a number, not null", NULL, NULL);

    j = shipped_json("pcm");
    json_object_set_new(j, "analog", json_integer(1));
    check_error(load_broken(j, "type4.json"), NM_FORMAT, "analog must be true or false", NULL, NULL);

    j = shipped_json("rram");
    json_array_remove(at(j, "device.prog_sigma"), 3);
    check_error(load_broken(j, "type5.json"), NM_FORMAT, "device.prog_sigma must be an array of 4 numbers, not of 3", NULL, NULL);

    j = shipped_json("pcm");
    json_object_set_new(at(j, "crossbar"), "input_scaling", json_string("max"));
    check_error(load_broken(j, "type6.json"), NM_FORMAT, "crossbar.input_scaling 'max' is not one of absmax, constant",
                NULL, NULL);

    j = shipped_json("pcm");
    json_object_set_new(j, "crossbar", json_array());
    check_error(load_broken(j, "type7.json"), NM_FORMAT, "crossbar must be an object, not an array", NULL, NULL);

    /* an integral real is an integer */
    j = shipped_json("pcm");
    json_object_set_new(at(j, "crossbar"), "adc_bits", json_real(9.0));
    const char *path = tmp_path("type8.json");
    assert_int_equal(json_dump_file(j, path, 0), 0);
    json_decref(j);
    nm_chip_profile p;
    assert_int_equal(nm_chip_profile_load(path, &p), NM_OK);
    assert_int_equal(p.xbar.adc_bits, 9);
}

static void test_unknown_keys(void **state) {
    (void)state;
    json_t *j = shipped_json("pcm");
    json_t *xb = at(j, "crossbar");
    json_object_set(xb, "adc_bit", json_object_get(xb, "adc_bits"));
    json_object_del(xb, "adc_bits");
    check_error(load_broken(j, "typo1.json"), NM_FORMAT, "crossbar.adc_bit is not a field of the crossbar", "adc_bits",
                NULL);

    j = shipped_json("pcm");
    json_object_set_new(j, "time_scal", json_integer(1));
    check_error(load_broken(j, "typo2.json"), NM_FORMAT, "time_scal is not a field of a chip profile", NULL, NULL);

    /* a pcm field in an rram device */
    j = shipped_json("rram");
    json_object_set_new(at(j, "device"), "t0", json_integer(20));
    check_error(load_broken(j, "typo3.json"), NM_FORMAT, "device.t0 is not a field of a rram device", NULL, NULL);

    j = shipped_json("bss2");
    json_object_set_new(at(j, "neurons.mismatch"), "tau", json_real(0.1));
    check_error(load_broken(j, "typo4.json"), NM_FORMAT, "neurons.mismatch.tau is not a field", NULL, NULL);

    j = shipped_json("pcm");
    json_object_set_new(at(j, "device"), "kind", json_string("foo"));
    check_error(load_broken(j, "kind.json"), NM_FORMAT, "device.kind 'foo' is not one of ideal, quantized, rram, pcm, table",
                NULL, NULL);

    /* a digital chip with a crossbar: ignored settings would mislead, so refused */
    j = shipped_json("pcm");
    json_object_set_new(j, "analog", json_false());
    check_error(load_broken(j, "digital.json"), NM_FORMAT, "device is given but analog is false", NULL, NULL);

    j = shipped_json("loihi");
    json_object_set_new(at(j, "energy"), "synaptic_op", json_real(23.6));
    check_error(load_broken(j, "unit.json"), NM_FORMAT, "energy.synaptic_op must end in its unit", NULL, NULL);
}

static void test_sources(void **state) {
    (void)state;
    json_t *j = shipped_json("rram");
    json_object_del(at(j, "sources"), "device.relax_t0");
    check_error(load_broken(j, "src1.json"), NM_FORMAT, "src1.json", "no source cited for device.relax_t0", NULL);

    /* a section's source covers its fields; without it each needs one */
    j = shipped_json("pcm");
    json_t *s = at(j, "sources");
    json_object_del(s, "device");
    const char *cited[] = {"device.g_max_us", "device.prog_coeff", "device.t_read", "device.prog_scale",
                           "device.drift_scale", "device.read_scale"};
    for (int i = 0; i < 6; i++) json_object_set_new(s, cited[i], json_string("a citation"));
    check_error(load_broken(j, "src2.json"), NM_FORMAT, "no source cited for device.t0", NULL, NULL);

    j = shipped_json("bss2");
    json_object_del(at(j, "sources"), "neurons.calibration");
    check_error(load_broken(j, "src3.json"), NM_FORMAT, "no source cited for neurons.calibration.trim_bits", NULL, NULL);

    j = shipped_json("pcm");
    json_object_set_new(at(j, "sources"), "crosbar", json_string("a typo"));
    check_error(load_broken(j, "src4.json"), NM_FORMAT, "sources 'crosbar' names no field or section", NULL, NULL);

    j = shipped_json("pcm");
    json_object_set_new(at(j, "sources"), "time_scale", json_string(""));
    check_error(load_broken(j, "src5.json"), NM_FORMAT, "sources 'time_scale' must be a citation", NULL, NULL);

    j = shipped_json("truenorth");
    json_object_del(at(j, "sources"), "energy.typical_power_w");
    check_error(load_broken(j, "src6.json"), NM_FORMAT, "no source cited for energy.typical_power_w", NULL, NULL);
}

static void test_not_json(void **state) {
    (void)state;
    nm_chip_profile p;
    const char *path = tmp_path("garbage.json");
    write_text(path, "{\n  \"name\": \"pcm\",\n  this is not json\n}\n");
    check_error(nm_chip_profile_load(path, &p), NM_FORMAT, "garbage.json", "not valid JSON: line 3, column", NULL);

    path = tmp_path("empty.json");
    write_text(path, "");
    check_error(nm_chip_profile_load(path, &p), NM_FORMAT, "empty.json", "the file is empty", NULL);
    write_text(path, "  \n\t\n");
    check_error(nm_chip_profile_load(path, &p), NM_FORMAT, "empty.json", "the file is empty", NULL);

    path = tmp_path("array.json");
    write_text(path, "[1, 2]");
    check_error(nm_chip_profile_load(path, &p), NM_FORMAT, "must be a JSON object, not an array", NULL, NULL);

    path = tmp_path("dup.json");
    write_text(path, "{\"name\": \"a\", \"name\": \"b\"}");
    check_error(nm_chip_profile_load(path, &p), NM_FORMAT, "not valid JSON", "duplicate", NULL);

    check_error(nm_chip_profile_load(tmp_path("nosuch.json"), &p), NM_NOTFOUND, "nosuch.json", "cannot open", NULL);
}

static void test_names(void **state) {
    (void)state;
    nm_chip_profile p;
    check_error(nm_chip_profile_load("nosuch", &p), NM_NOTFOUND, "no chip profile 'nosuch'",
                "available: bss2, bss2-uncal, ideal, loihi, pcm, rram, truenorth", NULL);
    check_error(nm_chip_profile_load("a b", &p), NM_INVAL, "is not a chip profile name", NULL, NULL);

    /* a file found by name must carry that name */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/named", tmp_dir);
    mkdir(dir, 0755);
    json_t *j = shipped_json("pcm");
    json_object_set_new(j, "name", json_string("pcm2"));
    char path[4300];
    snprintf(path, sizeof path, "%s/pcm.json", dir);
    assert_int_equal(json_dump_file(j, path, JSON_INDENT(2)), 0);
    json_decref(j);
    assert_int_equal(setenv("NM_PROFILE_DIR", dir, 1), 0);
    nm_status st = nm_chip_profile_load("pcm", &p);
    char names[8][32];
    int n = 0;
    assert_int_equal(nm_chip_profile_list(names, 8, &n), NM_OK);
    assert_int_equal(setenv("NM_PROFILE_DIR", profile_dir, 1), 0);
    check_error(st, NM_FORMAT, "pcm.json", "name 'pcm2' does not match the file name (expected 'pcm')", NULL);
    /* by path, the file name does not matter */
    assert_int_equal(nm_chip_profile_load(path, &p), NM_OK);
    assert_string_equal(p.name, "pcm2");
    /* $NM_PROFILE_DIR comes first; the names of all directories are listed once */
    int pcm_count = 0;
    for (int i = 0; i < n; i++) pcm_count += !strcmp(names[i], "pcm");
    assert_int_equal(pcm_count, 1);
}

static void test_table_device(void **state) {
    (void)state;
    /* a measured device table next to the profile, named relative to it */
    write_text(tmp_path("meas.txt"), "# target mean std\n0 0.01 0.01\n0.5 0.48 0.02\n1 0.97 0.03\n");
    json_t *j = shipped_json("pcm");
    json_t *dev = json_object();
    json_object_set_new(dev, "kind", json_string("table"));
    json_object_set_new(dev, "g_max_us", json_integer(30));
    json_object_set_new(dev, "levels", json_integer(0));
    json_object_set_new(dev, "table", json_string("meas.txt"));
    json_object_set_new(dev, "read_sigma", json_real(0.01));
    json_object_set_new(j, "device", dev);
    json_object_set_new(at(j, "sources"), "device.table", json_string("a measurement"));
    json_object_set_new(at(j, "sources"), "device.levels", json_string("analog"));
    const char *path = tmp_path("table.json");
    assert_int_equal(json_dump_file(j, path, 0), 0);
    nm_chip_profile p;
    nm_status st = nm_chip_profile_load(path, &p);
    if (st) fail_msg("%s", nm_errmsg());
    assert_int_equal(p.device.kind, NM_DEV_TABLE);
    assert_int_equal(p.device.n_table, 3);
    assert_true(p.device.table[1][1] == 0.48f);
    /* the table's numbers need a source too */
    json_object_del(at(j, "sources"), "device");
    json_object_set_new(at(j, "sources"), "device.g_max_us", json_string("x"));
    json_object_set_new(at(j, "sources"), "device.read_sigma", json_string("x"));
    json_object_del(at(j, "sources"), "device.table");
    check_error(load_broken(json_incref(j), "table2.json"), NM_FORMAT, "no source cited for device.table", NULL, NULL);
    json_object_set_new(at(j, "device"), "table", json_string("nosuch.txt"));
    check_error(load_broken(j, "table3.json"), NM_FORMAT, "device.table: ", "nosuch.txt", NULL);
}

/* ---- print and report ------------------------------------------------------------------ */

static char *print_to_string(const nm_chip_profile *p) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    nm_chip_profile_print(p, f);
    fclose(f);
    return buf;
}

static void test_print_and_report(void **state) {
    (void)state;
    nm_chip_profile p;
    assert_int_equal(nm_chip_profile_load("pcm", &p), NM_OK);
    nm__error(NM_IO, "an earlier error");
    char *text = print_to_string(&p);
    assert_string_equal(nm_errmsg(), "an earlier error");   /* print does not touch it */
    const char *want[] = {"chip profile pcm", "adc_bits", "9 bits", "g_max_us", "25 uS", "t_read", "2.5e-07 s",
                          "sources", "out_res 1/510", "Nandakumar", "crossbar.tile_cols:"};
    for (int i = 0; i < 11; i++)
        if (!strstr(text, want[i])) fail_msg("print lacks '%s':\n%s", want[i], text);
    free(text);

    /* by path, then printed: the citations come from that file */
    json_t *j = shipped_json("bss2");
    json_object_set_new(at(j, "sources"), "time_scale", json_string("a citation only this copy has"));
    const char *path = tmp_path("bss2_copy.json");
    assert_int_equal(json_dump_file(j, path, 0), 0);
    json_decref(j);
    assert_int_equal(nm_chip_profile_load(path, &p), NM_OK);
    nm_clear_error();
    text = print_to_string(&p);
    assert_string_equal(nm_errmsg(), "");
    assert_non_null(strstr(text, "a citation only this copy has"));
    assert_non_null(strstr(text, "after calibration"));
    assert_non_null(strstr(text, "image_uj"));
    free(text);

    /* numbers changed in memory: no file holds them, so no citations are claimed */
    assert_int_equal(nm_chip_profile_load("pcm", &p), NM_OK);
    p.xbar.adc_bits = 5;
    text = print_to_string(&p);
    assert_non_null(strstr(text, "5 bits"));
    assert_non_null(strstr(text, "not available"));
    assert_null(strstr(text, "out_res"));
    free(text);

    /* report */
    assert_int_equal(nm_chip_profile_load("pcm", &p), NM_OK);
    nm_report *r = nm_report_create("test");
    assert_non_null(r);
    nm_chip_profile_report(&p, r, "chip");
    assert_true(nm_report_get_num(r, "chip.crossbar.adc_bits", -1) == 9);
    assert_true(nm_report_get_num(r, "chip.crossbar.tile_rows", -1) == 512);
    assert_true(nm_report_get_num(r, "chip.device.g_max_us", -1) == 25);
    assert_true(nm_report_get_num(r, "chip.time_scale", -1) == 1);
    const char *out = tmp_path("report.json");
    assert_int_equal(nm_report_write(r, out), NM_OK);
    nm_report_destroy(r);
    json_error_t err;
    json_t *rj = json_load_file(out, 0, &err);
    assert_non_null(rj);
    json_t *chip = json_object_get(rj, "chip");
    assert_string_equal(json_string_value(json_object_get(chip, "name")), "pcm");
    assert_string_equal(json_string_value(json_object_get(json_object_get(chip, "device"), "kind")), "pcm");
    assert_int_equal(json_array_size(json_object_get(json_object_get(chip, "device"), "prog_coeff")), 3);
    json_t *src = json_object_get(chip, "sources");
    assert_true(json_is_array(src) && json_array_size(src) > 10);
    int found = 0;
    for (size_t i = 0; i < json_array_size(src); i++) {
        json_t *it = json_array_get(src, i);
        if (!strcmp(json_string_value(json_object_get(it, "field")), "crossbar.adc_bits"))
            found = strstr(json_string_value(json_object_get(it, "source")), "out_res") != NULL;
    }
    assert_true(found);
    json_decref(rj);

    /* a report at the top level */
    r = nm_report_create(NULL);
    assert_int_equal(nm_chip_profile_load("bss2", &p), NM_OK);
    nm_chip_profile_report(&p, r, NULL);
    assert_true(nm_report_get_num(r, "device.levels", -1) == 64);
    assert_true(nm_report_get_num(r, "neurons.calibration.trim_bits", -1) == 6);
    assert_true(nm_report_get_num(r, "energy.image_uj", -1) == 2.4);
    nm_report_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_load),
        cmocka_unit_test(test_shipped_values),
        cmocka_unit_test(test_missing_field),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_table_device),
        cmocka_unit_test(test_print_and_report),
    };
    return cmocka_run_group_tests_name("hw_profile", tests, setup, NULL);
}
