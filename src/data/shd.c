/*
** shd.c: Spiking Heidelberg Digits / Spiking Speech Commands files (Cramer et al. 2020).
**
** HDF5: /spikes/times and /spikes/units are 1-d datasets of variable-length rows (one
** per sample: spike times in seconds, float; unit ids, u16), /labels one integer per
** sample. A sample becomes events t = round(time * 1e6) µs, x = unit, y = 0, p = 1. Rows
** are read one at a time through a hyperslab, so a file larger than memory streams.
** Checks: the three datasets have the same length, each row's times and units have the
** same length, times are finite and >= 0, units < 65536, labels >= 0.
*/
#include "events_impl.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nm_shd {
    char   *path;
    hid_t   file, times, units;
    int64_t n;
    int    *labels;
};

void nm_shd_close(nm_shd *s)
{
    if (!s) return;
    if (s->times >= 0) H5Dclose(s->times);
    if (s->units >= 0) H5Dclose(s->units);
    if (s->file >= 0) H5Fclose(s->file);
    free(s->labels);
    free(s->path);
    free(s);
}

/* Length of a 1-d dataset, or -1. */
static int64_t length_1d(hid_t d)
{
    hid_t sp = H5Dget_space(d);
    if (sp < 0) return -1;
    hsize_t dims[2];
    int nd = H5Sget_simple_extent_ndims(sp);
    int64_t n = -1;
    if (nd == 1 && H5Sget_simple_extent_dims(sp, dims, NULL) == 1) n = (int64_t)dims[0];
    H5Sclose(sp);
    return n;
}

nm_status nm_shd_open(const char *path, nm_shd **out)
{
    nm_status st = NM_OK;
    if (!path || !out) return nm__error(NM_INVAL, "nm_shd_open: path and out must not be NULL");
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    nm_shd *s = calloc(1, sizeof *s);
    hid_t lab = -1;
    if (!s || !(s->path = malloc(strlen(path) + 1))) { st = nm__error(NM_NOMEM, "out of memory"); goto done; }
    strcpy(s->path, path);
    s->file = s->times = s->units = -1;
    if ((s->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        st = nm__error(NM_FORMAT, "'%s' is not a readable HDF5 file", path);
        goto done;
    }
    s->times = H5Dopen2(s->file, "/spikes/times", H5P_DEFAULT);
    s->units = H5Dopen2(s->file, "/spikes/units", H5P_DEFAULT);
    lab = H5Dopen2(s->file, "/labels", H5P_DEFAULT);
    if (s->times < 0 || s->units < 0 || lab < 0) {
        st = nm__error(NM_FORMAT, "'%s' is not an SHD/SSC file: it needs datasets /spikes/times, /spikes/units and /labels", path);
        goto done;
    }
    int64_t nt = length_1d(s->times), nu = length_1d(s->units), nl = length_1d(lab);
    if (nt < 0 || nt != nu || nt != nl) {
        st = nm__error(NM_FORMAT, "'%s': /spikes/times, /spikes/units and /labels must be 1-d of one length, found %lld, %lld "
                       "and %lld", path, (long long)nt, (long long)nu, (long long)nl);
        goto done;
    }
    s->n = nt;
    if (!(s->labels = malloc((size_t)(nt ? nt : 1) * sizeof *s->labels))) { st = nm__error(NM_NOMEM, "out of memory"); goto done; }
    if (nt && H5Dread(lab, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->labels) < 0) {
        st = nm__error(NM_FORMAT, "'%s': /labels is not readable as integers", path);
        goto done;
    }
    for (int64_t i = 0; i < nt; i++)
        if (s->labels[i] < 0) {
            st = nm__error(NM_FORMAT, "'%s': label %d of sample %lld is negative", path, s->labels[i], (long long)i);
            goto done;
        }
done:
    if (lab >= 0) H5Dclose(lab);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    if (st) nm_shd_close(s);
    else *out = s;
    return st;
}

int64_t nm_shd_count(const nm_shd *s) { return s ? s->n : 0; }

/* Reads row i of a vlen dataset into hv (memory type mt). */
static herr_t read_row(hid_t d, hid_t mt, int64_t i, hvl_t *hv)
{
    hid_t fs = H5Dget_space(d);
    hsize_t start = (hsize_t)i, one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    herr_t e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &one, NULL);
    if (e >= 0) e = H5Dread(d, mt, ms, fs, H5P_DEFAULT, hv);
    H5Sclose(ms);
    H5Sclose(fs);
    return e;
}

nm_status nm_shd_sample(nm_shd *s, int64_t i, nm_events *out, int *label)
{
    if (!s || !out || i < 0 || i >= s->n) return nm__error(NM_INVAL, "nm_shd_sample: no sample %lld", (long long)i);
    nm_status st = NM_OK;
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t tt = H5Tvlen_create(H5T_NATIVE_DOUBLE), ut = H5Tvlen_create(H5T_NATIVE_UINT32);
    hvl_t ht = { 0, NULL }, hu = { 0, NULL };
    int have_t = 0, have_u = 0;
    if (read_row(s->times, tt, i, &ht) < 0) {
        st = nm__error(NM_FORMAT, "'%s': /spikes/times row %lld is not readable as variable-length numbers", s->path, (long long)i);
        goto done;
    }
    have_t = 1;
    if (read_row(s->units, ut, i, &hu) < 0) {
        st = nm__error(NM_FORMAT, "'%s': /spikes/units row %lld is not readable as variable-length integers", s->path, (long long)i);
        goto done;
    }
    have_u = 1;
    if (ht.len != hu.len) {
        st = nm__error(NM_FORMAT, "'%s': sample %lld has %zu spike times but %zu units", s->path, (long long)i, ht.len, hu.len);
        goto done;
    }
    if ((st = nm_events_reserve(out, (int64_t)ht.len))) goto done;
    out->n = 0;
    const double *tv = ht.p;
    const uint32_t *uv = hu.p;
    for (size_t k = 0; k < ht.len; k++) {
        if (!(tv[k] >= 0 && tv[k] < 1e9) || uv[k] > 65535) {
            st = nm__error(NM_FORMAT, "'%s': sample %lld spike %zu has time %g s, unit %u (need a finite time >= 0 and a unit "
                           "below 65536)", s->path, (long long)i, k, tv[k], uv[k]);
            goto done;
        }
        out->t[k] = (int64_t)llround(tv[k] * 1e6);
        out->x[k] = (uint16_t)uv[k];
        out->y[k] = 0;
        out->p[k] = 1;
    }
    out->n = (int64_t)ht.len;
    out->height = 1;
    int mx = 0;
    for (int64_t k = 0; k < out->n; k++) mx = out->x[k] + 1 > mx ? out->x[k] + 1 : mx;
    out->width = mx;
    if (label) *label = s->labels[i];
done:
    if (have_t) {
        hid_t sp = H5Screate(H5S_SCALAR);
        H5Dvlen_reclaim(tt, sp, H5P_DEFAULT, &ht);
        H5Sclose(sp);
    }
    if (have_u) {
        hid_t sp = H5Screate(H5S_SCALAR);
        H5Dvlen_reclaim(ut, sp, H5P_DEFAULT, &hu);
        H5Sclose(sp);
    }
    H5Tclose(tt);
    H5Tclose(ut);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    return st;
}

/* ---- through the generic reader: all samples, one after another ---------- */

nm_status nm__shd_reader_open(nm_event_reader *r)
{
    nm_shd *s = NULL;
    nm_status st = nm_shd_open(r->path, &s);
    if (st) return st;
    r->shd = s;
    if ((st = nm_events_create(0, &r->shd_ev))) return st;
    r->shd_i = 0;
    r->shd_pos = 0;
    r->off = 0;
    return NM_OK;
}

void nm__shd_reader_close(nm_event_reader *r)
{
    nm_shd_close(r->shd);
    nm_events_destroy(r->shd_ev);
    r->shd = NULL;
    r->shd_ev = NULL;
}

nm_status nm__shd_reader_read(nm_event_reader *r, nm_events *out, int64_t max)
{
    nm_shd *s = r->shd;
    while (out->n < max) {
        if (r->shd_pos >= r->shd_ev->n) {
            if (r->shd_i >= s->n) break;
            nm_status st = nm_shd_sample(s, r->shd_i++, r->shd_ev, NULL);
            if (st) return st;
            r->shd_pos = 0;
            continue;
        }
        int64_t take = r->shd_ev->n - r->shd_pos;
        if (take > max - out->n) take = max - out->n;
        memcpy(out->t + out->n, r->shd_ev->t + r->shd_pos, (size_t)take * sizeof *out->t);
        memcpy(out->x + out->n, r->shd_ev->x + r->shd_pos, (size_t)take * sizeof *out->x);
        memcpy(out->y + out->n, r->shd_ev->y + r->shd_pos, (size_t)take * sizeof *out->y);
        memcpy(out->p + out->n, r->shd_ev->p + r->shd_pos, (size_t)take);
        out->n += take;
        r->shd_pos += take;
    }
    r->info.bytes = r->file_size;
    return NM_OK;
}
