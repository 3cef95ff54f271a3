/*
** fuzz_events.c: libFuzzer target for every event reader and the event-dataset loader.
**
** The first input byte picks the reader: (b % 10) 1..7 force nmnist, aedat2, aedat3,
** aedat4, evt2, evt3 or dat (with the AEDAT 2.0 layout from b / 10 % 4); 8 loads the rest
** as an event dataset (.nmev); 0 and 9 detect the format from the content. The rest of
** the input is written to a per-process file and read in chunks of 16 to 4096 events
** (also picked from the first byte). Besides "no crash, no leak, no sanitizer report":
**   - an error is NM_FORMAT, NM_NOMEM or NM_IO, and its message names the file;
**   - the reader's counts agree with what it returned (events = on + off = sum of chunks,
**     t_first and t_last are the first and last times returned);
**   - with a sensor size from the header, every event lies on the sensor;
**   - a loaded event dataset has counts that fit its shape.
** SHD (HDF5) files are not fuzzed: libhdf5 itself is not hardened against hostile files,
** so the detector's HDF5 answer is skipped.
*/
#include <neuromorph/data.h>
#include "data/data_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[128];

static void remove_file(void) { remove(g_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(g_path, sizeof g_path, "/tmp/fuzz_events_%ld.bin", (long)getpid());
    atexit(remove_file);
    return 0;
}

static void broken(const char *what)
{
    fprintf(stderr, "fuzz_events: invariant broken: %s (last error: \"%s\")\n", what, nm_errmsg());
    abort();
}

static void check_error(nm_status st)
{
    if (st != NM_FORMAT && st != NM_NOMEM && st != NM_IO) broken("unexpected status");
    if (!strstr(nm_errmsg(), g_path)) broken("error message does not name the file");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const int sel = data[0] % 10;
    FILE *f = fopen(g_path, "wb");
    if (!f) return 0;
    size_t w = size > 1 ? fwrite(data + 1, 1, size - 1, f) : 0;
    if (fclose(f) != 0 || w != size - 1) return 0;

    if (sel == 8) {
        nm_dataset *d = NULL;
        nm_status st = nm_event_set_load(g_path, 1 + data[0] / 10 % 4, &d);
        if (st) {
            if (d) broken("output set on error");
            check_error(st);
            return 0;
        }
        if (d->steps < 1 || d->channels != 2 || d->n_classes < 1) broken("event dataset shape");
        for (int64_t i = 0; i < d->n; i++)
            if (d->labels[i] >= d->n_classes) broken("event dataset label");
        nm_dataset_destroy(d);
        return 0;
    }

    nm_event_read_opts o;
    nm_event_read_opts_default(&o);
    static const nm_event_format pick[8] = { NM_EVF_UNKNOWN, NM_EVF_NMNIST, NM_EVF_AEDAT2, NM_EVF_AEDAT3,
                                             NM_EVF_AEDAT4, NM_EVF_EVT2, NM_EVF_EVT3, NM_EVF_DAT };
    o.format = sel < 8 ? pick[sel] : NM_EVF_UNKNOWN;
    o.aedat2 = (nm_aedat2_layout)(data[0] / 10 % 4);
    if (o.format == NM_EVF_UNKNOWN &&
        nm_event_format_detect(data + 1, size - 1, (int64_t)(size - 1)) == NM_EVF_SHD)
        return 0;

    nm_event_reader *r = NULL;
    nm_status st = nm_event_reader_open(g_path, &o, &r);
    if (st) {
        if (r) broken("reader set on error");
        check_error(st);
        return 0;
    }
    nm_events *e = NULL;
    if (nm_events_create(0, &e)) broken("alloc");
    const int64_t chunk = (int64_t)16 << (data[0] % 9);
    int64_t total = 0, on = 0, first = 0, last = 0, got = 0;
    nm_event_info in;
    do {
        st = nm_event_reader_read(r, e, chunk, &got);
        if (st) {
            check_error(st);
            /* the error sticks */
            if (nm_event_reader_read(r, e, chunk, &got) != st) broken("error not sticky");
            break;
        }
        if (got != e->n || got > chunk) broken("chunk size");
        nm_event_reader_info(r, &in);
        for (int64_t i = 0; i < got; i++) {
            on += e->p[i];
            if (e->p[i] > 1) broken("polarity not 0/1");
            if (in.size_from_header && (e->x[i] >= in.width || e->y[i] >= in.height)) broken("event off the sensor");
        }
        if (got && total == 0) first = e->t[0];
        if (got) last = e->t[got - 1];
        total += got;
    } while (got);
    nm_event_reader_info(r, &in);
    if (in.events != total || in.on != on || in.off != total - on) broken("counts");
    if (total && (in.t_first != first || in.t_last != last)) broken("first/last time");
    if (in.triggers < 0 || in.skipped < 0) broken("negative counters");
    nm_events_destroy(e);
    nm_event_reader_close(r);
    return 0;
}
