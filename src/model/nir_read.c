/*
** NIR files in: HDF5 -> document tree (nm_nir_read), the document's listing (nm_nir_info),
** and the translation of a document into a graph (nm_nir_to_graph).
**
** Reading is defensive: the file is a user's, possibly corrupt. Only hard links are
** followed (an external link could open another file), the tree depth, the number of
** objects and every dataset's size are bounded before anything is allocated (a dataset's
** size must be plausible for the file's size, which stops a forged header from asking for
** gigabytes, and a gzip bomb past 1100x), and libhdf5's own error printing is off: each
** failure becomes one message naming the file and the HDF5 path.
**
** Translation walks the flattened graph from its Input along its one chain (plus the
** recurrent loops of LIF populations), infers every shape, builds the graph through the
** public API (so compile checks it again) and fills the parameter block. Every assumption
** and change goes into the report.
*/
#include "nir_impl.h"

#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- text buffer ---------------------------------------------------------- */

void nm__text_add(nm__text *t, const char *fmt, ...) {
    if (t->failed) return;
    va_list ap;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        int k = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { t->failed = 1; return; }
        if (t->buf && (size_t)k < room) { t->len += (size_t)k; return; }
        size_t cap = t->cap ? 2 * t->cap : 1024;
        while (cap < t->len + (size_t)k + 1) cap *= 2;
        char *p = realloc(t->buf, cap);
        if (!p) { t->failed = 1; return; }
        t->buf = p;
        t->cap = cap;
    }
}

/* ---- tree helpers --------------------------------------------------------- */

const nir_ds *nm__nir_ds(const nir_grp *g, const char *name) {
    if (!g) return NULL;
    for (int i = 0; i < g->n_ds; i++)
        if (!strcmp(g->ds[i].name, name)) return &g->ds[i];
    return NULL;
}

const nir_grp *nm__nir_sub(const nir_grp *g, const char *name) {
    if (!g) return NULL;
    for (int i = 0; i < g->n_sub; i++)
        if (!strcmp(g->sub[i].name, name)) return &g->sub[i];
    return NULL;
}

const char *nm__nir_str(const nir_grp *g, const char *name) {
    const nir_ds *d = nm__nir_ds(g, name);
    return d && d->cls == NIR_STR && d->n == 1 ? d->s[0] : NULL;
}

static void ds_free(nir_ds *d) {
    free(d->name);
    free(d->f);
    free(d->i);
    if (d->s)
        for (int64_t k = 0; k < d->n; k++) free(d->s[k]);
    free(d->s);
}

void nm__nir_grp_free(nir_grp *g) {
    for (int i = 0; i < g->n_ds; i++) ds_free(&g->ds[i]);
    for (int i = 0; i < g->n_sub; i++) nm__nir_grp_free(&g->sub[i]);
    free(g->ds);
    free(g->sub);
    free(g->name);
    memset(g, 0, sizeof *g);
}

void nm_nir_destroy(nm_nir *doc) {
    if (!doc) return;
    nm__nir_grp_free(&doc->root);
    free(doc);
}

const char *nm_nir_version(const nm_nir *doc) {
    const char *v = nm__nir_str(&doc->root, "version");
    return v ? v : "";
}

/* ---- HDF5 -> tree --------------------------------------------------------- */

#define MAX_OBJECTS   65536
#define MAX_STR_BYTES (1 << 20)

typedef struct rd {
    const char *file;
    int64_t     file_size;
    int64_t     objects;
    int64_t     bytes;         /* values held so far */
    nm_status   rc;            /* first error */
    char        path[1024];    /* HDF5 path of the object being read */
} rd;

static nm_status rd_fail(rd *r, nm_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static nm_status rd_fail(rd *r, nm_status code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!r->rc) r->rc = nm__error(code, "'%s': %s '%s': %s", r->file, "object", r->path[0] ? r->path : "/", msg);
    return r->rc;
}

static int grow(void **p, int *cap, int n, size_t elem) {
    if (n < *cap) return 1;
    int c = *cap ? 2 * *cap : 8;
    void *q = realloc(*p, elem * (size_t)c);
    if (!q) return 0;
    memset((char *)q + elem * (size_t)*cap, 0, elem * (size_t)(c - *cap));
    *p = q;
    *cap = c;
    return 1;
}

static nm_status read_group(rd *r, hid_t gid, nir_grp *g, int depth);

static uint64_t le_uint(const unsigned char *b, size_t n) {
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) v |= (uint64_t)b[k] << (8 * k);
    return v;
}

/* A chunked dataset's layout and chunk index come from the file: libhdf5 allocates what
** they claim (a corrupt stored size asked for 4 GiB under the fuzzer). Chunks must lie in the
** file and their uncompressed size must be plausible. 1 if so. */
static int chunks_plausible(rd *r, hid_t did, size_t tsize) {
    hid_t pl = H5Dget_create_plist(did), sp = -1;
    int ok = pl >= 0;
    if (ok && H5Pget_layout(pl) == H5D_CHUNKED) {
        hsize_t cd[NIR_MAX_RANK + 1], n_chunks = 0;
        int rank = H5Pget_chunk(pl, NIR_MAX_RANK + 1, cd);
        double bytes = (double)tsize;
        for (int k = 0; k < rank; k++) bytes *= (double)cd[k];
        ok = rank >= 1 && rank <= NIR_MAX_RANK && bytes <= (double)(1 << 28) && bytes <= (double)r->file_size * 1100 + 65536;
        sp = ok ? H5Dget_space(did) : -1;
        ok = ok && sp >= 0 && H5Dget_num_chunks(did, sp, &n_chunks) >= 0 && n_chunks <= 65536;
        for (hsize_t k = 0; ok && k < n_chunks; k++) {
            haddr_t addr = HADDR_UNDEF;
            hsize_t size = 0;
            unsigned mask = 0;
            ok = H5Dget_chunk_info(did, sp, k, NULL, &mask, &addr, &size) >= 0 && addr != HADDR_UNDEF &&
                 size <= (hsize_t)r->file_size && addr <= (haddr_t)r->file_size - size;
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (pl >= 0) H5Pclose(pl);
    return ok;
}

/* libhdf5 follows a variable-length string's global-heap address without checking it (a
** corrupt one crashes H5HG_read). For a contiguous dataset, check each element first:
** [u32 length][heap collection address][u32 index] must point at a "GCOL" collection
** that lies inside the file and can hold the string. 1 if plausible. */
static int vlen_plausible(rd *r, hid_t did, int64_t n) {
    haddr_t off = H5Dget_offset(did);
    if (off == HADDR_UNDEF) return 1;   /* not contiguous, or never written (fill values) */
    hid_t fid = H5Iget_file_id(did), fcpl = fid >= 0 ? H5Fget_create_plist(fid) : -1;
    size_t sa = 8, ss = 8;
    if (fcpl >= 0) H5Pget_sizes(fcpl, &sa, &ss);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fid >= 0) H5Fclose(fid);
    if (sa < 2 || sa > 8 || ss < 2 || ss > 8) return 0;
    const size_t elem = 4 + sa + 4;
    if ((int64_t)off < 0 || (int64_t)off + n * (int64_t)elem > r->file_size) return 0;
    FILE *f = fopen(r->file, "rb");
    if (!f) return 0;
    int ok = fseek(f, (long)off, SEEK_SET) == 0;
    unsigned char e[24], h[24], *coll = NULL;
    uint64_t coll_addr = 0, coll_size = 0;
    for (int64_t k = 0; ok && k < n; k++) {
        ok = fseek(f, (long)(off + (haddr_t)k * elem), SEEK_SET) == 0 && fread(e, 1, elem, f) == elem;
        if (!ok) break;
        const uint64_t len = le_uint(e, 4), addr = le_uint(e + 4, sa);
        if (len == 0 && addr == 0) continue;   /* an empty or NULL string */
        ok = addr + 8 + ss <= (uint64_t)r->file_size && fseek(f, (long)addr, SEEK_SET) == 0 && fread(h, 1, 8 + ss, f) == 8 + ss &&
             !memcmp(h, "GCOL", 4) && h[4] == 1;
        if (!ok) break;
        const uint64_t size = le_uint(h + 8, ss), want = le_uint(e + 4 + sa, 4);
        ok = size >= 8 + ss && size <= (uint64_t)r->file_size - addr && len < size && size <= ((uint64_t)1 << 26);
        if (!ok) break;
        /* walk the collection's objects to the one named: [u16 index][u16 refs][4 reserved]
        ** [size] then the data padded to 8 bytes; index 0 is the free space that ends them */
        if (addr != coll_addr) {
            unsigned char *nb = realloc(coll, (size_t)size);
            ok = nb && fseek(f, (long)addr, SEEK_SET) == 0 && fread(nb, 1, (size_t)size, f) == size;
            if (nb) coll = nb;
            if (!ok) break;
            coll_addr = addr;
            coll_size = size;
        }
        int found = 0;
        for (uint64_t pos = 8 + ss; !found && pos + 8 + ss <= coll_size;) {
            const uint64_t idx = le_uint(coll + pos, 2), osz = le_uint(coll + pos + 8, ss);
            if (idx == 0 || osz > coll_size - pos - 8 - ss) break;
            if (idx == want) found = osz >= len;
            pos += 8 + ss + ((osz + 7) & ~(uint64_t)7);
        }
        ok = found;
    }
    free(coll);
    fclose(f);
    return ok;
}

static nm_status read_dataset(rd *r, hid_t did, nir_ds *d) {
    hid_t ft = H5Dget_type(did), sp = H5Dget_space(did), mt = -1;
    nm_status rc = NM_OK;
    if (ft < 0 || sp < 0) { rc = rd_fail(r, NM_FORMAT, "unreadable type or dataspace"); goto done; }
    H5S_class_t sc = H5Sget_simple_extent_type(sp);
    if (sc == H5S_NULL) {
        d->rank = 1;
        d->dims[0] = 0;
        d->n = 0;
    } else if (sc == H5S_SCALAR) {
        d->rank = 0;
        d->n = 1;
    } else if (sc == H5S_SIMPLE) {
        int rank = H5Sget_simple_extent_ndims(sp);
        if (rank < 0 || rank > NIR_MAX_RANK) { rc = rd_fail(r, NM_FORMAT, "rank %d (at most %d)", rank, NIR_MAX_RANK); goto done; }
        hsize_t dims[NIR_MAX_RANK];
        H5Sget_simple_extent_dims(sp, dims, NULL);
        d->rank = rank;
        d->n = 1;
        for (int k = 0; k < rank; k++) {
            if (dims[k] > ((hsize_t)1 << 40)) { rc = rd_fail(r, NM_FORMAT, "dimension %llu is too large", (unsigned long long)dims[k]); goto done; }
            d->dims[k] = (int64_t)dims[k];
            if (d->n && d->dims[k] > ((int64_t)1 << 40) / d->n) { rc = rd_fail(r, NM_FORMAT, "too many elements"); goto done; }
            d->n *= d->dims[k];
        }
    } else {
        rc = rd_fail(r, NM_FORMAT, "unknown dataspace");
        goto done;
    }
    /* Plausible for the file: a value of the file takes at least 1/1100 of a byte
    ** (deflate's best ratio is about 1032:1), and the whole document at most 1 GiB. */
    H5T_class_t tc = H5Tget_class(ft);
    size_t tsize = H5Tget_size(ft);
    int64_t held = d->n * 8, stored = (int64_t)H5Dget_storage_size(did);
    if (stored < 0 || stored > r->file_size) stored = r->file_size;
    if (d->n > r->file_size * 1100 + 65536 || r->bytes + held > ((int64_t)1 << 30) ||
        (tc != H5T_STRING && d->n > 0 && (int64_t)tsize * d->n > stored * 1100 + 65536))
        { rc = rd_fail(r, NM_FORMAT, "declares %lld values, more than its %lld stored bytes can hold", (long long)d->n, (long long)stored); goto done; }
    r->bytes += held;
    if (d->n > 0 && !chunks_plausible(r, did, tsize)) { rc = rd_fail(r, NM_FORMAT, "its chunks lie outside the file or are implausibly large (corrupt)"); goto done; }
    if (tc == H5T_FLOAT) {
        if (tsize != 2 && tsize != 4 && tsize != 8) { rc = rd_fail(r, NM_FORMAT, "%zu-byte floats are not supported", tsize); goto done; }
        d->cls = NIR_FLOAT;
        d->size = tsize == 8 ? 8 : 4;
        if (!(d->f = malloc(sizeof(double) * (size_t)(d->n ? d->n : 1)))) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", r->file); goto done; }
        if (d->n && H5Dread(did, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->f) < 0) { rc = rd_fail(r, NM_FORMAT, "cannot read its values"); goto done; }
    } else if (tc == H5T_INTEGER) {
        if (tsize < 1 || tsize > 8) { rc = rd_fail(r, NM_FORMAT, "%zu-byte integers are not supported", tsize); goto done; }
        d->cls = NIR_INT;
        d->size = (int)tsize;
        d->is_unsigned = H5Tget_sign(ft) == H5T_SGN_NONE;
        if (!(d->i = malloc(sizeof(int64_t) * (size_t)(d->n ? d->n : 1)))) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", r->file); goto done; }
        if (d->n && H5Dread(did, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->i) < 0) { rc = rd_fail(r, NM_FORMAT, "cannot read its values"); goto done; }
    } else if (tc == H5T_STRING) {
        d->cls = NIR_STR;
        d->size = 0;
        if (d->n > (1 << 20)) { rc = rd_fail(r, NM_FORMAT, "too many strings (%lld)", (long long)d->n); goto done; }
        if (!(d->s = calloc((size_t)(d->n ? d->n : 1), sizeof(char *)))) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", r->file); goto done; }
        if (!d->n) goto done;
        mt = H5Tcopy(H5T_C_S1);
        if (H5Tis_variable_str(ft) > 0) {
            char **tmp = calloc((size_t)d->n, sizeof(char *));
            if (!tmp) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", r->file); goto done; }
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(ft));
            if (!vlen_plausible(r, did, d->n)) {
                free(tmp);
                rc = rd_fail(r, NM_FORMAT, "its strings point outside the file's heap (corrupt)");
                goto done;
            }
            if (H5Dread(did, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
                H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, tmp);   /* a failed read may have filled some */
                free(tmp);
                rc = rd_fail(r, NM_FORMAT, "cannot read its strings");
                goto done;
            }
            for (int64_t k = 0; k < d->n && !rc; k++) {
                const char *src = tmp[k] ? tmp[k] : "";
                size_t len = strnlen(src, MAX_STR_BYTES);
                if (len >= MAX_STR_BYTES) rc = rd_fail(r, NM_FORMAT, "a string longer than %d bytes", MAX_STR_BYTES);
                else if (!(d->s[k] = malloc(len + 1))) rc = nm__error(NM_NOMEM, "out of memory reading '%s'", r->file);
                else { memcpy(d->s[k], src, len); d->s[k][len] = 0; }
            }
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, tmp);
            free(tmp);
        } else {
            if (tsize < 1 || tsize > MAX_STR_BYTES || (int64_t)tsize * d->n > (int64_t)1 << 28) { rc = rd_fail(r, NM_FORMAT, "fixed strings of %zu bytes", tsize); goto done; }
            char *tmp = malloc(tsize * (size_t)d->n);
            if (!tmp) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", r->file); goto done; }
            H5Tset_size(mt, tsize);
            H5Tset_strpad(mt, H5T_STR_NULLPAD);
            if (H5Dread(did, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
                free(tmp);
                rc = rd_fail(r, NM_FORMAT, "cannot read its strings");
                goto done;
            }
            for (int64_t k = 0; k < d->n && !rc; k++) {
                const char *src = tmp + (size_t)k * tsize;
                size_t len = strnlen(src, tsize);
                if (!(d->s[k] = malloc(len + 1))) rc = nm__error(NM_NOMEM, "out of memory reading '%s'", r->file);
                else { memcpy(d->s[k], src, len); d->s[k][len] = 0; }
            }
            free(tmp);
        }
    } else {
        rc = rd_fail(r, NM_FORMAT, "unsupported datatype class %d (NIR uses numbers and strings)", (int)tc);
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (rc && !r->rc) r->rc = rc;
    return rc;
}

typedef struct iter_ctx {
    rd      *r;
    nir_grp *g;
    int      depth;
} iter_ctx;

static herr_t visit_link(hid_t gid, const char *name, const H5L_info_t *info, void *op) {
    iter_ctx *c = op;
    rd *r = c->r;
    if (info->type != H5L_TYPE_HARD) return 0;   /* soft and external links are not followed */
    if (++r->objects > MAX_OBJECTS) { rd_fail(r, NM_FORMAT, "more than %d objects", MAX_OBJECTS); return -1; }
    size_t plen = strlen(r->path), nlen = strlen(name);
    if (plen + nlen + 2 >= sizeof r->path) { rd_fail(r, NM_FORMAT, "path too long"); return -1; }
    r->path[plen] = '/';
    memcpy(r->path + plen + 1, name, nlen + 1);
    /* a corrupt symbol table can list a name twice, and only a name with no '/' can be
    ** written back: refuse both here rather than produce a tree no file can hold */
    if (!nlen || strchr(name, '/') || !strcmp(name, ".") || nm__nir_ds(c->g, name) || nm__nir_sub(c->g, name)) {
        r->path[plen] = 0;
        rd_fail(r, NM_FORMAT, "holds an invalid or repeated member name '%.64s'", name);
        return -1;
    }
    hid_t oid = H5Oopen(gid, name, H5P_DEFAULT);
    nm_status rc = NM_OK;
    if (oid < 0) {
        rc = rd_fail(r, NM_FORMAT, "cannot be opened");
    } else {
        H5I_type_t t = H5Iget_type(oid);
        char *nm = malloc(nlen + 1);
        if (!nm) rc = nm__error(NM_NOMEM, "out of memory reading '%s'", r->file);
        else memcpy(nm, name, nlen + 1);
        if (!rc && t == H5I_GROUP) {
            if (!grow((void **)&c->g->sub, &c->g->cap_sub, c->g->n_sub, sizeof(nir_grp))) { free(nm); rc = nm__error(NM_NOMEM, "out of memory"); }
            else {
                nir_grp *s = &c->g->sub[c->g->n_sub++];
                memset(s, 0, sizeof *s);
                s->name = nm;
                rc = read_group(r, oid, s, c->depth + 1);
            }
        } else if (!rc && t == H5I_DATASET) {
            if (!grow((void **)&c->g->ds, &c->g->cap_ds, c->g->n_ds, sizeof(nir_ds))) { free(nm); rc = nm__error(NM_NOMEM, "out of memory"); }
            else {
                nir_ds *d = &c->g->ds[c->g->n_ds++];
                memset(d, 0, sizeof *d);
                d->name = nm;
                rc = read_dataset(r, oid, d);
            }
        } else {
            free(nm);   /* a committed datatype: not part of NIR, skipped */
        }
        H5Oclose(oid);
    }
    r->path[plen] = 0;
    if (rc && !r->rc) r->rc = rc;
    return rc ? -1 : 0;
}

static nm_status read_group(rd *r, hid_t gid, nir_grp *g, int depth) {
    if (depth > NIR_MAX_DEPTH) return rd_fail(r, NM_FORMAT, "groups nested deeper than %d", NIR_MAX_DEPTH);
    iter_ctx c = {r, g, depth};
    hsize_t idx = 0;
    herr_t e = H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, &idx, visit_link, &c);
    if (r->rc) return r->rc;
    if (e < 0) return rd_fail(r, NM_FORMAT, "cannot list the group");
    return NM_OK;
}

int nm_nir_is_hdf5(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char b[8];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t k = fread(b, 1, 8, f);
    fclose(f);
    return k == 8 && !memcmp(b, sig, 8);
}

nm_status nm_nir_read(const char *path, nm_nir **out) {
    struct stat st;
    if (stat(path, &st)) return nm__error(NM_NOTFOUND, "cannot open NIR file '%s'", path);
    /* libhdf5 also finds a superblock at 512, 1024, ... bytes; NIR writers put it at 0,
    ** and checking that first keeps arbitrary files away from the library. */
    if (!nm_nir_is_hdf5(path))
        return nm__error(NM_FORMAT, "'%s' is not a NIR file: no HDF5 signature at byte 0", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) return nm__error(NM_FORMAT, "'%s' is not a readable HDF5 file (corrupt superblock or truncated)", path);
    nm_nir *doc = calloc(1, sizeof *doc);
    rd r = {path, (int64_t)st.st_size, 0, 0, NM_OK, ""};
    nm_status rc = NM_OK;
    if (!doc) { rc = nm__error(NM_NOMEM, "out of memory reading '%s'", path); goto done; }
    hid_t root = H5Gopen2(fid, "/", H5P_DEFAULT);
    if (root < 0) { rc = nm__error(NM_FORMAT, "'%s': cannot open the root group", path); goto done; }
    rc = read_group(&r, root, &doc->root, 0);
    H5Gclose(root);
    if (rc) goto done;
    if (!nm__nir_str(&doc->root, "version")) {
        rc = nm__error(NM_FORMAT, "'%s' is not a NIR file: no /version string", path);
        goto done;
    }
    if (!nm__nir_sub(&doc->root, "node")) {
        rc = nm__error(NM_FORMAT, "'%s' is not a NIR file: no /node group", path);
        goto done;
    }
done:
    H5Fclose(fid);
    if (rc) { nm_nir_destroy(doc); return rc; }
    *out = doc;
    return NM_OK;
}

/* ---- comparison ----------------------------------------------------------- */

static int grp_equal(const nir_grp *a, const nir_grp *b, char *path, size_t plen, char *why, size_t size) {
#define DIFF(...) do { if (why && size) snprintf(why, size, __VA_ARGS__); return 0; } while (0)
    if (a->n_ds != b->n_ds || a->n_sub != b->n_sub) DIFF("'%s' holds different members", path[0] ? path : "/");
    for (int i = 0; i < a->n_ds; i++) {
        const nir_ds *x = &a->ds[i], *y = nm__nir_ds(b, x->name);
        if (!y) DIFF("'%s/%s' is missing", path, x->name);
        if (x->cls != y->cls || x->rank != y->rank || x->n != y->n || (x->cls != NIR_STR && x->size != y->size))
            DIFF("'%s/%s' has a different type or shape", path, x->name);
        for (int k = 0; k < x->rank; k++)
            if (x->dims[k] != y->dims[k]) DIFF("'%s/%s' has a different shape", path, x->name);
        for (int64_t k = 0; k < x->n; k++) {
            if (x->cls == NIR_FLOAT && memcmp(&x->f[k], &y->f[k], sizeof(double)))
                DIFF("'%s/%s' value %lld differs (%.9g vs %.9g)", path, x->name, (long long)k, x->f[k], y->f[k]);
            if (x->cls == NIR_INT && x->i[k] != y->i[k]) DIFF("'%s/%s' value %lld differs", path, x->name, (long long)k);
            if (x->cls == NIR_STR && strcmp(x->s[k], y->s[k])) DIFF("'%s/%s' string %lld differs", path, x->name, (long long)k);
        }
    }
    for (int i = 0; i < a->n_sub; i++) {
        const nir_grp *y = nm__nir_sub(b, a->sub[i].name);
        if (!y) DIFF("'%s/%s' is missing", path, a->sub[i].name);
        size_t n = strlen(a->sub[i].name);
        if (plen + n + 2 > 1024) DIFF("path too long");
        path[plen] = '/';
        memcpy(path + plen + 1, a->sub[i].name, n + 1);
        int ok = grp_equal(&a->sub[i], y, path, plen + n + 1, why, size);
        path[plen] = 0;
        if (!ok) return 0;
    }
    return 1;
#undef DIFF
}

int nm_nir_equal(const nm_nir *a, const nm_nir *b, char *why, size_t size) {
    char path[1024] = "";
    return grp_equal(&a->root, &b->root, path, 0, why, size);
}

/* ---- info ----------------------------------------------------------------- */

static void dims_str(const nir_ds *d, char *buf, size_t size) {
    if (d->rank == 0) { snprintf(buf, size, "scalar"); return; }
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < d->rank && k + 24 < size; i++) k += (size_t)snprintf(buf + k, size - k, i ? "x%lld" : "%lld", (long long)d->dims[i]);
}

static void info_ds(nm__text *t, const nir_ds *d, int indent) {
    char dims[128];
    dims_str(d, dims, sizeof dims);
    if (d->cls == NIR_STR) {
        nm__text_add(t, "%*s%-14s string %s", indent, "", d->name, dims);
        if (d->n == 1) nm__text_add(t, " \"%.60s\"", d->s[0]);
        nm__text_add(t, "\n");
        return;
    }
    const char *ty = d->cls == NIR_FLOAT ? (d->size == 8 ? "float64" : "float32") : "int";
    nm__text_add(t, "%*s%-14s %s %s", indent, "", d->name, ty, dims);
    if (d->n == 0) { nm__text_add(t, " (empty)\n"); return; }
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (int64_t k = 0; k < d->n; k++) {
        double v = d->cls == NIR_FLOAT ? d->f[k] : (double)d->i[k];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    if (d->n == 1) nm__text_add(t, " = %.6g\n", lo);
    else if (d->n <= 4) {
        nm__text_add(t, " = [");
        for (int64_t k = 0; k < d->n; k++) nm__text_add(t, k ? ", %.6g" : "%.6g", d->cls == NIR_FLOAT ? d->f[k] : (double)d->i[k]);
        nm__text_add(t, "]\n");
    } else {
        nm__text_add(t, "  range [%.6g, %.6g] mean %.6g\n", lo, hi, sum / (double)d->n);
    }
}

static void info_graph(nm__text *t, const nir_grp *node, int indent) {
    const nir_grp *nodes = nm__nir_sub(node, "nodes");
    const nir_ds *edges = nm__nir_ds(node, "edges");
    int n = nodes ? nodes->n_sub : 0;
    nm__text_add(t, "%*sNIRGraph: %d nodes, %lld edges\n", indent, "", n, edges && edges->cls == NIR_STR && edges->rank == 2 ? (long long)edges->dims[0] : 0LL);
    for (int i = 0; i < n; i++) {
        const nir_grp *nd = &nodes->sub[i];
        const char *type = nm__nir_str(nd, "type");
        nm__text_add(t, "%*s%s (%s)\n", indent + 2, "", nd->name, type ? type : "no type");
        if (type && !strcmp(type, "NIRGraph")) { info_graph(t, nd, indent + 4); continue; }
        for (int k = 0; k < nd->n_ds; k++)
            if (strcmp(nd->ds[k].name, "type")) info_ds(t, &nd->ds[k], indent + 4);
        for (int k = 0; k < nd->n_sub; k++) {
            nm__text_add(t, "%*s%s/\n", indent + 4, "", nd->sub[k].name);
            for (int q = 0; q < nd->sub[k].n_ds; q++) info_ds(t, &nd->sub[k].ds[q], indent + 6);
        }
    }
    if (edges && edges->cls == NIR_STR && edges->rank == 2 && edges->dims[1] == 2) {
        nm__text_add(t, "%*sedges:\n", indent + 2, "");
        for (int64_t e = 0; e < edges->dims[0]; e++) nm__text_add(t, "%*s%s -> %s\n", indent + 4, "", edges->s[2 * e], edges->s[2 * e + 1]);
    }
    const nir_grp *meta = nm__nir_sub(node, "metadata");
    if (meta) {
        nm__text_add(t, "%*smetadata:\n", indent + 2, "");
        for (int q = 0; q < meta->n_ds; q++) info_ds(t, &meta->ds[q], indent + 4);
    }
}

nm_status nm_nir_info(const nm_nir *doc, char **text) {
    nm__text t = {0};
    nm__text_add(&t, "NIR version %s\n", nm_nir_version(doc));
    const nir_grp *node = nm__nir_sub(&doc->root, "node");
    const char *type = nm__nir_str(node, "type");
    if (type && !strcmp(type, "NIRGraph")) info_graph(&t, node, 0);
    else nm__text_add(&t, "top node: %s\n", type ? type : "(no type)");
    if (t.failed || !t.buf) { free(t.buf); return nm__error(NM_NOMEM, "out of memory listing a NIR file"); }
    *text = t.buf;
    return NM_OK;
}

/* ---- options -------------------------------------------------------------- */

const char *nm_nir_disc_name(nm_nir_disc d) { return d == NM_NIR_EXACT ? "exact" : "euler"; }

nm_status nm_nir_disc_parse(const char *s, nm_nir_disc *out) {
    if (!strcmp(s, "euler")) *out = NM_NIR_EULER;
    else if (!strcmp(s, "exact")) *out = NM_NIR_EXACT;
    else return nm__error(NM_INVAL, "unknown discretization '%s' (euler or exact)", s);
    return NM_OK;
}

void nm_nir_options_default(nm_nir_options *o) {
    o->dt = NM_NIR_DT_DEFAULT;
    o->disc = NM_NIR_EULER;
    o->reset = NM_RESET_TO_VALUE;
    o->reset_delay = 0;
    o->broadcast = 1;
}

double nm__nir_euler_tau(double tau, double dt) { return -dt / log1p(-dt / tau); }

float nm__nir_euler_tau_inverse(float tau_engine, double dt) {
    /* tau = dt / (1 - exp(-dt / tau_engine)); then the float nearest it whose forward map
    ** rounds back to tau_engine, so import(export(g)) gives g's bits. */
    double t = dt / -expm1(-dt / (double)tau_engine);
    float best = (float)t;
    for (int k = 0; k <= 8; k++) {
        float c[2] = {best, best};
        for (int q = 0; q < k; q++) { c[0] = nextafterf(c[0], INFINITY); c[1] = nextafterf(c[1], 0.0f); }
        for (int s = 0; s < 2; s++)
            if (c[s] > dt && (float)nm__nir_euler_tau(c[s], dt) == tau_engine) return c[s];
    }
    return best;
}

/* ---- translation into a graph --------------------------------------------- */

typedef enum {
    P_INPUT, P_OUTPUT, P_AFFINE, P_LINEAR, P_SCALE, P_CONV1D, P_CONV2D, P_SUMPOOL, P_AVGPOOL, P_FLATTEN,
    P_DELAY, P_THRESHOLD, P_I, P_IF, P_LI, P_LIF, P_CUBALI, P_CUBALIF, P_COUNT
} prim;

static const char *const PRIM_NAMES[P_COUNT] = {
    "Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
    "Delay", "Threshold", "I", "IF", "LI", "LIF", "CubaLI", "CubaLIF"};

/* The stored fields of each primitive, required first ('?' marks optional ones). */
static const char *const PRIM_FIELDS[P_COUNT][8] = {
    {"shape"}, {"shape"}, {"weight", "bias"}, {"weight"}, {"scale"},
    {"weight", "?bias", "?stride", "?padding", "?dilation", "?groups", "?input_shape"},
    {"weight", "?bias", "?stride", "?padding", "?dilation", "?groups", "?input_shape"},
    {"kernel_size", "stride", "padding"}, {"kernel_size", "stride", "padding"},
    {"?start_dim", "?end_dim", "?input_type"}, {"delay"}, {"threshold"}, {"r"},
    {"r", "v_threshold", "?v_reset"}, {"tau", "r", "v_leak"}, {"tau", "r", "v_leak", "v_threshold", "?v_reset"},
    {"tau_syn", "tau_mem", "r", "v_leak", "?w_in"},
    {"tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "?v_reset", "?w_in"}};

typedef struct fnode {
    char           name[256];
    const nir_grp *grp;
    prim           p;
    int            sub_io;      /* an Input/Output of a nested graph: an identity */
    int            alive;
    int            rec;         /* population: its recurrent node; recurrent node: its population */
    int            is_rec;
    int            id;          /* graph node id */
    int64_t        shape[3];    /* output (c, h, w) */
    int            rank;        /* rank of the output as NIR writes it */
} fnode;

typedef struct edge { int a, b; } edge;

typedef struct tr {
    const nm_nir_options *o;
    nm__text  *rep;
    fnode     *nodes;
    int        n, cap;
    edge      *edges;
    int        n_e, cap_e;
    char     **subgraphs;       /* full names of nested graphs */
    int       *sub_first, *sub_last;   /* their node range in nodes[] */
    int        n_sub, cap_sub;
    int        ours;            /* the file carries neuromorph metadata */
    float      dt;
    nm_nir_disc disc;
    const nir_grp *top_meta;
} tr;

static const nir_grp *node_meta(const fnode *f) { return nm__nir_sub(f->grp, "metadata"); }

static double val(const nir_ds *d, int64_t k) { return d->cls == NIR_FLOAT ? d->f[k] : (double)d->i[k]; }

static int find_node(const tr *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->nodes[i].name, name)) return i;
    return -1;
}

static nm_status collect(tr *t, const nir_grp *graph, const char *prefix, int depth);

/* Resolves an edge endpoint of the graph at `prefix` to a node index. */
static nm_status resolve(tr *t, const char *prefix, const char *ep, int as_src, const char *a, const char *b, int *out) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, ep);
    int i = find_node(t, full);
    if (i >= 0) { *out = i; return NM_OK; }
    for (int s = 0; s < t->n_sub; s++) {
        if (strcmp(t->subgraphs[s], full)) continue;
        int hit = -1, count = 0;
        for (int k = t->sub_first[s]; k < t->sub_last[s]; k++) {
            const fnode *f = &t->nodes[k];
            size_t pl = strlen(full);
            if (strncmp(f->name, full, pl) || f->name[pl] != '.' || strchr(f->name + pl + 1, '.')) continue;
            if (f->p == (as_src ? P_OUTPUT : P_INPUT)) { hit = k; count++; }
        }
        if (count != 1)
            return nm__error(NM_INVAL, "edge '%s' -> '%s': subgraph '%s' has %d %s nodes (need exactly one)", a, b, full, count,
                             as_src ? "Output" : "Input");
        *out = hit;
        return NM_OK;
    }
    return nm__error(NM_INVAL, "edge '%s' -> '%s'%s%.*s names a missing node '%s'", a, b, prefix[0] ? " in subgraph '" : "",
                     prefix[0] ? (int)strlen(prefix) - 1 : 0, prefix, full);
}

static nm_status collect(tr *t, const nir_grp *graph, const char *prefix, int depth) {
    if (depth > NIR_MAX_DEPTH) return nm__error(NM_INVAL, "NIR graphs nested deeper than %d", NIR_MAX_DEPTH);
    const nir_grp *nodes = nm__nir_sub(graph, "nodes");
    if (!nodes) return nm__error(NM_FORMAT, "NIR graph '%s' has no 'nodes' group", prefix[0] ? prefix : "(top)");
    for (int i = 0; i < nodes->n_sub; i++) {
        const nir_grp *nd = &nodes->sub[i];
        char full[256];
        if ((size_t)snprintf(full, sizeof full, "%s%s", prefix, nd->name) >= sizeof full)
            return nm__error(NM_INVAL, "node name '%s%s' is too long", prefix, nd->name);
        const char *type = nm__nir_str(nd, "type");
        if (!type) return nm__error(NM_FORMAT, "node '%s' has no 'type' string", full);
        if (!strcmp(type, "NIRGraph")) {
            if (!grow((void **)&t->subgraphs, &t->cap_sub, t->n_sub, sizeof(char *)) ||
                !(t->sub_first = realloc(t->sub_first, sizeof(int) * t->cap_sub)) ||
                !(t->sub_last = realloc(t->sub_last, sizeof(int) * t->cap_sub)))
                return nm__error(NM_NOMEM, "out of memory");
            int s = t->n_sub++;
            if (!(t->subgraphs[s] = malloc(strlen(full) + 1))) return nm__error(NM_NOMEM, "out of memory");
            strcpy(t->subgraphs[s], full);
            t->sub_first[s] = t->n;
            char pre[260];
            snprintf(pre, sizeof pre, "%s.", full);
            nm_status rc = collect(t, nd, pre, depth + 1);
            if (rc) return rc;
            t->sub_last[s] = t->n;
            continue;
        }
        int p = -1;
        for (int k = 0; k < P_COUNT; k++)
            if (!strcmp(type, PRIM_NAMES[k])) p = k;
        if (p < 0) return nm__error(NM_FORMAT, "node '%s' has unknown NIR type '%s'", full, type);
        for (int k = 0; k < 8 && PRIM_FIELDS[p][k]; k++)
            if (PRIM_FIELDS[p][k][0] != '?' && !nm__nir_ds(nd, PRIM_FIELDS[p][k]))
                return nm__error(NM_FORMAT, "node '%s' (%s) lacks the required field '%s'", full, type, PRIM_FIELDS[p][k]);
        for (int k = 0; k < nd->n_ds; k++) {
            const char *fn = nd->ds[k].name;
            int known = !strcmp(fn, "type");
            for (int q = 0; q < 8 && PRIM_FIELDS[p][q]; q++) {
                const char *want = PRIM_FIELDS[p][q];
                known |= !strcmp(fn, want[0] == '?' ? want + 1 : want);
            }
            if (!known) nm__text_add(t->rep, "- ignored: field '%s' of node '%s' is not a NIR %s field\n", fn, full, type);
            else if (strcmp(fn, "type") && nd->ds[k].cls == NIR_STR && strcmp(fn, "padding"))
                return nm__error(NM_FORMAT, "node '%s' (%s): field '%s' holds strings, not numbers", full, type, fn);
        }
        if (!grow((void **)&t->nodes, &t->cap, t->n, sizeof(fnode))) return nm__error(NM_NOMEM, "out of memory");
        fnode *f = &t->nodes[t->n++];
        memset(f, 0, sizeof *f);
        strcpy(f->name, full);
        f->grp = nd;
        f->p = (prim)p;
        f->sub_io = depth > 0 && (p == P_INPUT || p == P_OUTPUT);
        f->alive = 1;
        f->rec = f->id = -1;
    }
    const nir_ds *e = nm__nir_ds(graph, "edges");
    if (!e) return nm__error(NM_FORMAT, "NIR graph '%s' has no 'edges' dataset", prefix[0] ? prefix : "(top)");
    if (e->n == 0) return NM_OK;
    if (e->cls != NIR_STR || e->rank != 2 || e->dims[1] != 2)
        return nm__error(NM_FORMAT, "NIR graph '%s': 'edges' must be an (E, 2) array of strings", prefix[0] ? prefix : "(top)");
    for (int64_t k = 0; k < e->dims[0]; k++) {
        const char *a = e->s[2 * k], *b = e->s[2 * k + 1];
        int ia, ib;
        nm_status rc;
        if ((rc = resolve(t, prefix, a, 1, a, b, &ia)) || (rc = resolve(t, prefix, b, 0, a, b, &ib))) return rc;
        if (!grow((void **)&t->edges, &t->cap_e, t->n_e, sizeof(edge))) return nm__error(NM_NOMEM, "out of memory");
        t->edges[t->n_e++] = (edge){ia, ib};
    }
    return NM_OK;
}

/* Removes the Input/Output nodes of nested graphs, joining their sources to their targets. */
static nm_status bypass(tr *t) {
    for (int i = 0; i < t->n; i++) {
        if (!t->nodes[i].sub_io) continue;
        int n_in = 0, pred = -1;
        for (int e = 0; e < t->n_e; e++)
            if (t->edges[e].b == i) { n_in++; pred = t->edges[e].a; }
        if (n_in > 1) return nm__error(NM_UNSUPPORTED, "node '%s' (%s) has %d sources (one per node)", t->nodes[i].name, PRIM_NAMES[t->nodes[i].p], n_in);
        /* retarget: every edge out of i now leaves pred; edges into i disappear */
        int w = 0;
        for (int e = 0; e < t->n_e; e++) {
            if (t->edges[e].b == i) continue;
            if (t->edges[e].a == i) {
                if (pred < 0) continue;
                t->edges[e].a = pred;
            }
            t->edges[w++] = t->edges[e];
        }
        t->n_e = w;
        t->nodes[i].alive = 0;
        nm__text_add(t->rep, "- fused: '%s' (the %s of a nested graph) is an identity and was removed\n", t->nodes[i].name,
                     PRIM_NAMES[t->nodes[i].p]);
    }
    return NM_OK;
}

/* ---- field access ---- */

static nm_status field(const fnode *f, const char *name, int required, const nir_ds **out) {
    const nir_ds *d = nm__nir_ds(f->grp, name);
    if (!d && required) return nm__error(NM_FORMAT, "node '%s' (%s) lacks the required field '%s'", f->name, PRIM_NAMES[f->p], name);
    if (d && d->cls == NIR_STR && strcmp(name, "padding"))
        return nm__error(NM_FORMAT, "node '%s' (%s): field '%s' holds strings", f->name, PRIM_NAMES[f->p], name);
    *out = d;
    return NM_OK;
}

/* An int, or a pair of ints (int or 2-element array); def when absent. */
static nm_status int_pair(const fnode *f, const char *name, int def, int lo, int out[2]) {
    const nir_ds *d;
    nm_status rc = field(f, name, 0, &d);
    if (rc) return rc;
    out[0] = out[1] = def;
    if (!d) return NM_OK;
    if (d->cls == NIR_STR || !(d->n == 1 || d->n == 2))
        return nm__error(NM_FORMAT, "node '%s' (%s): field '%s' must be an integer or a pair", f->name, PRIM_NAMES[f->p], name);
    for (int k = 0; k < 2; k++) {
        double v = val(d, d->n == 2 ? k : 0);
        if (!(v >= lo && v <= 1 << 20) || v != floor(v))
            return nm__error(NM_RANGE, "node '%s' (%s): field '%s' has the invalid value %g", f->name, PRIM_NAMES[f->p], name, v);
        out[k] = (int)v;
    }
    return NM_OK;
}

static void shape_of(const int64_t s[3], char *buf, size_t size) {
    if (s[1] == 1 && s[2] == 1) snprintf(buf, size, "%lld", (long long)s[0]);
    else snprintf(buf, size, "%lldx%lldx%lld", (long long)s[0], (long long)s[1], (long long)s[2]);
}

/* (c, h, w) of a NIR shape array of rank 0..3: (n) -> (n,1,1), (c,w) -> (c,1,w). */
static nm_status nir_shape(const fnode *f, const double *v, int64_t n, int64_t out[3], const char *what) {
    out[0] = out[1] = out[2] = 1;
    if (n < 1 || n > 3) return nm__error(NM_UNSUPPORTED, "node '%s' (%s): %s of rank %lld (1 to 3 are supported)", f->name, PRIM_NAMES[f->p], what, (long long)n);
    for (int64_t k = 0; k < n; k++)
        if (!(v[k] >= 1 && v[k] <= (double)NM_MAX_SIZE) || v[k] != floor(v[k]))
            return nm__error(NM_RANGE, "node '%s' (%s): %s has an invalid size %g", f->name, PRIM_NAMES[f->p], what, v[k]);
    if (n == 1) out[0] = (int64_t)v[0];
    else if (n == 2) { out[0] = (int64_t)v[0]; out[2] = (int64_t)v[1]; }
    else { out[0] = (int64_t)v[0]; out[1] = (int64_t)v[1]; out[2] = (int64_t)v[2]; }
    if (out[0] * out[1] * out[2] > NM_MAX_SIZE) return nm__error(NM_RANGE, "node '%s' (%s): %s is too large", f->name, PRIM_NAMES[f->p], what);
    return NM_OK;
}

/* float32 of every value; reports values that float64 -> float32 changed. */
static nm_status to_floats(tr *t, const fnode *f, const nir_ds *d, float *out) {
    double worst = 0;
    int64_t changed = 0;
    for (int64_t k = 0; k < d->n; k++) {
        double v = val(d, k);
        if (!(fabs(v) <= FLT_MAX)) return nm__error(NM_RANGE, "node '%s' (%s): field '%s' value %lld is %g (not a finite float32)", f->name, PRIM_NAMES[f->p], d->name, (long long)k, v);
        float x = (float)v;
        if (!isfinite(x)) return nm__error(NM_RANGE, "node '%s' (%s): field '%s' value %lld is %g (not a finite float32)", f->name, PRIM_NAMES[f->p], d->name, (long long)k, v);
        if ((double)x != v) {
            changed++;
            double rel = fabs((double)x - v) / (fabs(v) > 0 ? fabs(v) : 1);
            worst = rel > worst ? rel : worst;
        }
        out[k] = x;
    }
    if (changed)
        nm__text_add(t->rep, "- rounded: %lld of %lld values of '%s.%s' from %s to float32 (largest relative change %.2g)\n",
                     (long long)changed, (long long)d->n, f->name, d->name, d->cls == NIR_INT ? "int" : "float64", worst);
    return NM_OK;
}

/* A neuron field: n values of the layer (a scalar broadcast when allowed). ref: the first
** array field's dims (shape agreement across fields). uniform: 1 if all values are equal. */
static nm_status neuron_field(tr *t, const fnode *f, const char *name, int64_t n, double def, float *out, int *uniform) {
    const nir_ds *d;
    nm_status rc = field(f, name, def != def ? 1 : 0, &d);
    if (rc) return rc;
    if (!d) {
        for (int64_t k = 0; k < n; k++) out[k] = (float)def;
        *uniform = 1;
        nm__text_add(t->rep, "- default: node '%s' (%s) has no '%s'; %g used\n", f->name, PRIM_NAMES[f->p], name, def);
        return NM_OK;
    }
    if (d->n == 1 && n != 1) {
        if (!t->o->broadcast)
            return nm__error(NM_SHAPE, "node '%s' (%s): field '%s' is a scalar but the layer has %lld neurons (broadcasting is off)",
                             f->name, PRIM_NAMES[f->p], name, (long long)n);
        float v;
        if ((rc = to_floats(t, f, d, &v))) return rc;
        for (int64_t k = 0; k < n; k++) out[k] = v;
        *uniform = 1;
        nm__text_add(t->rep, "- broadcast: scalar '%s' of node '%s' to %lld neurons\n", name, f->name, (long long)n);
        return NM_OK;
    }
    if (d->n != n)
        return nm__error(NM_SHAPE, "node '%s' (%s): field '%s' has %lld values but the layer has %lld neurons", f->name, PRIM_NAMES[f->p],
                         name, (long long)d->n, (long long)n);
    if ((rc = to_floats(t, f, d, out))) return rc;
    *uniform = 1;
    for (int64_t k = 1; k < n; k++)
        if (memcmp(&out[k], &out[0], sizeof(float))) { *uniform = 0; break; }
    return NM_OK;
}

/* The neuron count of a neuron node: the size of its first array field, or its source's
** size when every field is a scalar. */
static nm_status layer_size(const fnode *f, int64_t src_n, const char *src_name, int64_t *n) {
    const char *first = PRIM_FIELDS[f->p][0];
    const nir_ds *d = nm__nir_ds(f->grp, first);
    int64_t m = d ? d->n : 1;
    for (int k = 0; k < 8 && PRIM_FIELDS[f->p][k]; k++) {
        const char *fn = PRIM_FIELDS[f->p][k][0] == '?' ? PRIM_FIELDS[f->p][k] + 1 : PRIM_FIELDS[f->p][k];
        const nir_ds *q = nm__nir_ds(f->grp, fn);
        if (q && q->n > 1) { m = q->n; break; }
    }
    if (m == 1) m = src_n;
    if (m != src_n)
        return nm__error(NM_SHAPE, "node '%s' (%s) has %lld neurons but its source '%s' gives %lld values", f->name, PRIM_NAMES[f->p],
                         (long long)m, src_name, (long long)src_n);
    *n = m;
    return NM_OK;
}

static const char *meta_str(const nir_grp *m, const char *name) { return nm__nir_str(m, name); }

static int meta_num(const nir_grp *m, const char *name, double *v) {
    const nir_ds *d = nm__nir_ds(m, name);
    if (!d || d->cls == NIR_STR || d->n != 1 || !(fabs(val(d, 0)) <= 1e30)) return 0;
    *v = val(d, 0);
    return 1;
}

/* Reset mode of a spiking node: ours from the metadata, else the option. */
static nm_reset node_reset(const tr *t, const fnode *f) {
    nm_reset r = t->o->reset;
    const char *s = meta_str(node_meta(f), "neuromorph_reset");
    if (t->ours && s) nm_reset_parse(s, &r);
    return r;
}

/* Engine time constant for a file's tau: forward Euler at dt maps to the exact-integration
** tau with the same per-step decay. Our own Euler exports carry the exact value. */
static nm_status engine_tau(tr *t, const fnode *f, const char *name, float *tau, int64_t n, const nir_ds *exact) {
    if (t->disc == NM_NIR_EXACT) return NM_OK;
    if (exact && exact->cls == NIR_FLOAT && exact->n == n) {
        for (int64_t k = 0; k < n; k++) tau[k] = (float)exact->f[k];
        return NM_OK;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t k = 0; k < n; k++) {
        if (!(tau[k] > t->dt))
            return nm__error(NM_RANGE, "node '%s' (%s): %s %g s is not above dt %g s, so forward Euler has no exact-integration "
                             "equivalent (use a smaller --dt or --discretization exact)", f->name, PRIM_NAMES[f->p], name, (double)tau[k], (double)t->dt);
        float e = (float)nm__nir_euler_tau(tau[k], t->dt);
        lo = e < lo ? e : lo;
        hi = e > hi ? e : hi;
        tau[k] = e;
    }
    char range[64];
    if (hi > lo) snprintf(range, sizeof range, "%.6g .. %.6g s", lo, hi);
    else snprintf(range, sizeof range, "%.6g s", lo);
    nm__text_add(t->rep, "- forward Euler: node '%s' %s -> engine time constant %s (decay exp(-dt/tau) = 1 - dt/%s at dt %g s)\n",
                 f->name, name, range, name, (double)t->dt);
    return NM_OK;
}

/* Delayed subtraction (snnTorch's default) as an immediate one: the engine subtracts
** v_th - v_reset' at the spike and the next step decays it by alpha, so v_reset' =
** v_th - (v_th - v_reset) / alpha lands exactly the delayed subtraction. */
static int delayed(const tr *t, const fnode *f) {
    return !(t->ours && meta_str(node_meta(f), "neuromorph_reset")) && t->o->reset == NM_RESET_SUBTRACT && t->o->reset_delay;
}

static nm_status delay_reset(tr *t, const fnode *f, int uniform_tau, float alpha, float v_th, float *v_reset) {
    if (!uniform_tau)
        return nm__error(NM_UNSUPPORTED, "node '%s' (%s): a delayed reset needs one time constant per population (the engine holds "
                         "one v_reset)", f->name, PRIM_NAMES[f->p]);
    float vr = v_th - (v_th - *v_reset) / alpha;
    nm__text_add(t->rep, "- changed: delayed subtraction of '%s' (after the next step's decay) as an immediate one with v_reset %.9g "
                 "instead of %.9g\n", f->name, (double)vr, (double)*v_reset);
    *v_reset = vr;
    return NM_OK;
}

static nm_status uniform_or_fail(const fnode *f, const char *name, int uniform) {
    if (uniform) return NM_OK;
    return nm__error(NM_UNSUPPORTED, "node '%s' (%s): field '%s' varies across neurons; the engine holds one value per population "
                     "for it", f->name, PRIM_NAMES[f->p], name);
}

/* Pending parameter copies once the graph is compiled. */
typedef struct pend {
    int    node;          /* graph node id */
    float *w, *b, *pn;    /* weights, bias, per-neuron tau + threshold (2n) */
    int64_t nw, nb, npn;
} pend;

typedef struct build {
    pend   *p;
    int     n, cap;
} build;

static pend *add_pend(build *b, int node) {
    if (!grow((void **)&b->p, &b->cap, b->n, sizeof(pend))) return NULL;
    pend *p = &b->p[b->n++];
    memset(p, 0, sizeof *p);
    p->node = node;
    return p;
}

static float *falloc(int64_t n) { return malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)); }

/* Per-neuron r of a population fed by an Affine or Linear: the engine holds one r, so
** r_i / r_0 scales row i of the weights and bias (v sees r_i (W x + b)_i either way). */
static nm_status fold_r(tr *t, build *bl, const fnode *f, const fnode *s, float *r, int64_t n) {
    pend *p = NULL;
    for (int k = bl->n - 1; k >= 0 && !p; k--)
        if (bl->p[k].node == s->id) p = &bl->p[k];
    if ((s->p != P_AFFINE && s->p != P_LINEAR) || s->is_rec || f->rec >= 0 || !p || !p->w || p->nw != n * (p->nw / n))
        return nm__error(NM_UNSUPPORTED, "node '%s' (%s): field 'r' varies across neurons; the engine holds one r per population "
                         "and can fold it only into an Affine or Linear source", f->name, PRIM_NAMES[f->p]);
    const int64_t n_in = p->nw / n;
    int64_t changed = 0;
    for (int64_t i = 0; i < n; i++) {
        const float k = r[i] / r[0];
        if (k == 1.0f) continue;
        for (int64_t j = 0; j < n_in; j++) {
            float w = p->w[i * n_in + j] * k;
            changed += (double)w != (double)p->w[i * n_in + j] * (double)r[i] / (double)r[0];
            p->w[i * n_in + j] = w;
        }
        if (p->b) p->b[i] *= k;
    }
    nm__text_add(t->rep, "- fused: per-neuron r of '%s' folded into the rows of '%s' (row i scaled by r_i / r_0, r_0 = %g); "
                 "%lld weights rounded in float32\n", f->name, s->name, (double)r[0], (long long)changed);
    for (int64_t i = 1; i < n; i++) r[i] = r[0];
    return NM_OK;
}

/* Adds node f (source s, may be NULL for the Input) to g. */
static nm_status add_node(tr *t, nm_graph *g, build *bl, fnode *f, const fnode *s) {
    nm_status rc = NM_OK;
    const nir_ds *d;
    const int64_t src_n = s ? s->shape[0] * s->shape[1] * s->shape[2] : 0;
    char gave[64] = "";
    if (s) shape_of(s->shape, gave, sizeof gave);
    const nir_grp *meta = node_meta(f);
    float *tmp = NULL;
    f->shape[0] = src_n;
    f->shape[1] = f->shape[2] = 1;
    if (s) memcpy(f->shape, s->shape, sizeof f->shape);
    switch (f->p) {
    case P_INPUT: {
        if ((rc = field(f, "shape", 1, &d))) return rc;
        double v[3];
        if (d->n > 3) return nm__error(NM_UNSUPPORTED, "node '%s' (Input): shape of rank %lld (1 to 3 are supported)", f->name, (long long)d->n);
        for (int64_t k = 0; k < d->n; k++) v[k] = val(d, k);
        if ((rc = nir_shape(f, v, d->n, f->shape, "shape"))) return rc;
        return nm_graph_add_input_shaped(g, f->name, f->shape[0], f->shape[1], f->shape[2], &f->id);
    }
    case P_OUTPUT: {
        if ((rc = field(f, "shape", 1, &d))) return rc;
        int64_t n = 1;
        for (int64_t k = 0; k < d->n; k++) {
            const double v = val(d, k);
            if (!(v >= 1 && v <= (double)NM_MAX_SIZE) || n * (int64_t)v > NM_MAX_SIZE)
                return nm__error(NM_SHAPE, "node '%s' (Output) has an invalid shape", f->name);
            n *= (int64_t)v;
        }
        if (d->n >= 1 && n != src_n)
            return nm__error(NM_SHAPE, "node '%s' (Output) has shape of %lld values but its source '%s' gives %s", f->name, (long long)n, s->name, gave);
        return nm_graph_add_output(g, f->name, &f->id);
    }
    case P_AFFINE:
    case P_LINEAR: {
        if ((rc = field(f, "weight", 1, &d))) return rc;
        if (d->rank != 2) return nm__error(NM_UNSUPPORTED, "node '%s' (%s): weight of rank %d (an (N_out, N_in) matrix is supported)", f->name, PRIM_NAMES[f->p], d->rank);
        int64_t n_out = d->dims[0], n_in = d->dims[1];
        if (n_in != src_n)
            return nm__error(NM_SHAPE, "node '%s' (%s) expects %lld inputs but its source '%s' (%s) gives %s", f->name, PRIM_NAMES[f->p],
                             (long long)n_in, s->name, PRIM_NAMES[s->p], gave);
        if (f->is_rec) {
            if (n_out != n_in)
                return nm__error(NM_SHAPE, "recurrent node '%s' (%s) maps %lld values to %lld; it must map its population '%s' onto itself",
                                 f->name, PRIM_NAMES[f->p], (long long)n_in, (long long)n_out, s->name);
            rc = nm_graph_add_recurrent(g, f->name, t->nodes[f->rec].id, &f->id);
            if (!rc && f->p == P_LINEAR)
                nm__text_add(t->rep, "- fused: Linear '%s' feeds '%s' back into itself: a recurrent Affine with zero bias\n", f->name, t->nodes[f->rec].name);
        } else {
            rc = f->p == P_AFFINE ? nm_graph_add_affine(g, f->name, n_in, n_out, &f->id) : nm_graph_add_linear(g, f->name, n_in, n_out, &f->id);
        }
        if (rc) return rc;
        f->shape[0] = n_out;
        f->shape[1] = f->shape[2] = 1;
        pend *p = add_pend(bl, f->id);
        if (!p || !(p->w = falloc(d->n))) return nm__error(NM_NOMEM, "out of memory");
        p->nw = d->n;
        if ((rc = to_floats(t, f, d, p->w))) return rc;
        if (f->p == P_AFFINE || f->is_rec) {
            if (!(p->b = falloc(n_out))) return nm__error(NM_NOMEM, "out of memory");
            p->nb = n_out;
            if (f->p == P_AFFINE) {
                if ((rc = field(f, "bias", 1, &d))) return rc;
                if (d->n != n_out) return nm__error(NM_SHAPE, "node '%s' (Affine): bias has %lld values for %lld outputs", f->name, (long long)d->n, (long long)n_out);
                if ((rc = to_floats(t, f, d, p->b))) return rc;
            } else {
                memset(p->b, 0, sizeof(float) * n_out);
            }
        }
        return NM_OK;
    }
    case P_SCALE: {
        pend *p;
        if (src_n > ((int64_t)1 << 24)) return nm__error(NM_RANGE, "node '%s' (Scale) has %lld values (at most %d)", f->name, (long long)src_n, 1 << 24);
        if ((rc = nm_graph_add_scale(g, f->name, src_n, &f->id))) return rc;
        if (!(p = add_pend(bl, f->id)) || !(p->w = falloc(src_n))) return nm__error(NM_NOMEM, "out of memory");
        p->nw = src_n;
        int u;
        return neuron_field(t, f, "scale", src_n, NAN, p->w, &u);
    }
    case P_DELAY: {
        if (src_n > ((int64_t)1 << 24)) return nm__error(NM_RANGE, "node '%s' (Delay) has %lld values (at most %d)", f->name, (long long)src_n, 1 << 24);
        if (!(tmp = falloc(src_n))) return nm__error(NM_NOMEM, "out of memory");
        int u;
        int *steps = malloc(sizeof(int) * (size_t)src_n);
        const nir_ds *ms = t->ours ? nm__nir_ds(meta, "neuromorph_delay_steps") : NULL;
        if (!steps) { free(tmp); return nm__error(NM_NOMEM, "out of memory"); }
        if (!(rc = neuron_field(t, f, "delay", src_n, NAN, tmp, &u))) {
            double worst = 0;
            for (int64_t k = 0; k < src_n && !rc; k++) {
                double q = ms && ms->n == src_n ? val(ms, k) : (double)tmp[k] / t->dt;
                if (!(q >= 0 && q <= NM_MAX_DELAY)) rc = nm__error(NM_RANGE, "node '%s' (Delay): delay %g s is %g steps at dt %g s (0..%d)", f->name, (double)tmp[k], q, (double)t->dt, NM_MAX_DELAY);
                steps[k] = (int)nearbyint(q);
                if (fabs(q - steps[k]) > worst) worst = fabs(q - steps[k]);
            }
            if (!rc && worst > 1e-3) nm__text_add(t->rep, "- rounded: delays of '%s' to whole steps of %g s (largest change %.3g steps)\n", f->name, (double)t->dt, worst);
            if (!rc) rc = nm_graph_add_delay(g, f->name, src_n, steps, &f->id);
        }
        free(steps);
        free(tmp);
        return rc;
    }
    case P_FLATTEN: {
        double sd = 0, ed = -1;
        if ((rc = field(f, "start_dim", 0, &d))) return rc;
        if (d && d->n == 1) sd = val(d, 0);
        if ((rc = field(f, "end_dim", 0, &d))) return rc;
        if (d && d->n == 1) ed = val(d, 0);
        int srank = (s->shape[1] == 1 && s->shape[2] == 1) ? 1 : (s->shape[1] == 1 ? 2 : 3);
        if (!(sd == 0 && (ed == -1 || ed == srank - 1)))
            nm__text_add(t->rep, "- changed: Flatten '%s' merges dims %g..%g; the engine flattens every dim (same data order)\n", f->name, sd, ed);
        f->shape[0] = src_n;
        f->shape[1] = f->shape[2] = 1;
        return nm_graph_add_flatten(g, f->name, &f->id);
    }
    case P_CONV1D:
    case P_CONV2D: {
        const int two = f->p == P_CONV2D;
        if ((rc = field(f, "weight", 1, &d))) return rc;
        if (d->rank != (two ? 4 : 3))
            return nm__error(NM_SHAPE, "node '%s' (%s): weight must have rank %d, not %d", f->name, PRIM_NAMES[f->p], two ? 4 : 3, d->rank);
        int st[2], dl[2], pd[2] = {0, 0}, gr[2];
        if ((rc = int_pair(f, "stride", 1, 1, st)) || (rc = int_pair(f, "dilation", 1, 1, dl)) || (rc = int_pair(f, "groups", 1, 1, gr))) return rc;
        for (int k = 0; k < d->rank; k++)
            if (d->dims[k] < 1 || d->dims[k] > (1 << 20))
                return nm__error(NM_SHAPE, "node '%s' (%s): weight has an invalid dimension %lld", f->name, PRIM_NAMES[f->p], (long long)d->dims[k]);
        const int kh = two ? (int)d->dims[2] : 1, kw = (int)d->dims[two ? 3 : 2];
        const int64_t c_out = d->dims[0], c_in = d->dims[1] * gr[0];
        const nir_ds *pads = nm__nir_ds(f->grp, "padding");
        if (pads && pads->cls == NIR_STR) {
            const char *ps = pads->n == 1 ? pads->s[0] : "";
            if (!strcmp(ps, "same")) {
                int k2[2] = {kh, kw};
                for (int a = 0; a < 2; a++) {
                    int span = dl[two ? a : 1] * (k2[a] - 1);
                    if (span % 2 || st[two ? a : 0] != 1)
                        return nm__error(NM_UNSUPPORTED, "node '%s' (%s): padding 'same' needs stride 1 and an odd kernel span", f->name, PRIM_NAMES[f->p]);
                    pd[a] = span / 2;
                }
                nm__text_add(t->rep, "- changed: padding 'same' of '%s' as explicit padding %dx%d\n", f->name, pd[0], pd[1]);
            } else if (strcmp(ps, "valid")) {
                return nm__error(NM_FORMAT, "node '%s' (%s): padding '%s' (an integer, a pair, 'same' or 'valid')", f->name, PRIM_NAMES[f->p], ps);
            }
        } else if ((rc = int_pair(f, "padding", 0, 0, pd))) {
            return rc;
        }
        if (s->shape[0] != c_in)
            return nm__error(NM_SHAPE, "node '%s' (%s) expects %lld input channels but its source '%s' (%s) gives %s", f->name, PRIM_NAMES[f->p],
                             (long long)c_in, s->name, PRIM_NAMES[s->p], gave);
        if (two) rc = nm_graph_add_conv2d(g, f->name, c_in, c_out, kh, kw, st[0], st[1], pd[0], pd[1], dl[0], dl[1], gr[0], &f->id);
        else rc = nm_graph_add_conv1d(g, f->name, c_in, c_out, kw, st[0], pd[0], dl[0], gr[0], &f->id);
        if (rc) return rc;
        nm_conv_geom cg;
        if ((rc = nm_conv_geom_init(&cg, c_in, s->shape[1], s->shape[2], c_out, kh, kw, two ? st[0] : 1, two ? st[1] : st[0],
                                    two ? pd[0] : 0, two ? pd[1] : pd[0], two ? dl[0] : 1, two ? dl[1] : dl[0], gr[0])))
            return nm__error(NM_SHAPE, "node '%s' (%s) on input %s from '%s': %s", f->name, PRIM_NAMES[f->p], gave, s->name, nm_errmsg());
        f->shape[0] = c_out;
        f->shape[1] = cg.h_out;
        f->shape[2] = cg.w_out;
        const nir_ds *is = nm__nir_ds(f->grp, "input_shape");
        if (is && is->cls != NIR_STR && is->n == (two ? 2 : 1) && (val(is, 0) != (double)(two ? s->shape[1] : s->shape[2]) || (two && val(is, 1) != (double)s->shape[2])))
            return nm__error(NM_SHAPE, "node '%s' (%s): input_shape disagrees with its source '%s', which gives %s", f->name, PRIM_NAMES[f->p], s->name, gave);
        pend *p = add_pend(bl, f->id);
        if (!p || !(p->w = falloc(d->n)) || !(p->b = falloc(c_out))) return nm__error(NM_NOMEM, "out of memory");
        p->nw = d->n;
        p->nb = c_out;
        if ((rc = to_floats(t, f, d, p->w))) return rc;
        if ((rc = field(f, "bias", 0, &d))) return rc;
        if (!d) {
            memset(p->b, 0, sizeof(float) * c_out);
            nm__text_add(t->rep, "- default: node '%s' has no bias; zeros used\n", f->name);
        } else if (d->n == 1 && c_out > 1) {
            float v;
            if ((rc = to_floats(t, f, d, &v))) return rc;
            for (int64_t k = 0; k < c_out; k++) p->b[k] = v;
            nm__text_add(t->rep, "- broadcast: scalar bias of '%s' to %lld channels\n", f->name, (long long)c_out);
        } else if (d->n != c_out) {
            return nm__error(NM_SHAPE, "node '%s' (%s): bias has %lld values for %lld output channels", f->name, PRIM_NAMES[f->p], (long long)d->n, (long long)c_out);
        } else if ((rc = to_floats(t, f, d, p->b))) {
            return rc;
        }
        return NM_OK;
    }
    case P_SUMPOOL:
    case P_AVGPOOL: {
        int k[2], st[2], pd[2];
        if ((rc = int_pair(f, "kernel_size", 1, 1, k)) || (rc = int_pair(f, "stride", 1, 1, st)) || (rc = int_pair(f, "padding", 0, 0, pd))) return rc;
        if ((rc = nm_graph_add_pool(g, f->name, f->p == P_SUMPOOL ? NM_NODE_SUMPOOL : NM_NODE_AVGPOOL, k[0], k[1], st[0], st[1], pd[0], pd[1], &f->id))) return rc;
        nm_conv_geom cg;
        if ((rc = nm_pool_geom_init(&cg, s->shape[0], s->shape[1], s->shape[2], k[0], k[1], st[0], st[1], pd[0], pd[1])))
            return nm__error(NM_SHAPE, "node '%s' (%s) on input %s from '%s': %s", f->name, PRIM_NAMES[f->p], gave, s->name, nm_errmsg());
        f->shape[1] = cg.h_out;
        f->shape[2] = cg.w_out;
        return NM_OK;
    }
    case P_THRESHOLD:
    case P_I:
        return nm__error(NM_UNSUPPORTED, "node '%s' is a NIR %s primitive, which the engine has no node kind for", f->name, PRIM_NAMES[f->p]);
    case P_LIF:
    case P_LI:
    case P_IF:
    case P_CUBALIF:
    case P_CUBALI: {
        int64_t n = 0;
        if ((rc = layer_size(f, src_n, s->name, &n))) return rc;
        if (n > ((int64_t)1 << 24))
            return nm__error(NM_RANGE, "node '%s' (%s) has %lld neurons (at most %d per population)", f->name, PRIM_NAMES[f->p], (long long)n, 1 << 24);
        /* every array field of the node must have the layer's shape */
        for (int k = 0; k < f->grp->n_ds; k++) {
            const nir_ds *q = &f->grp->ds[k];
            if (q->cls == NIR_STR || q->n == 1 || n == 1) continue;
            int64_t s3[3] = {1, 1, 1};
            if (q->rank >= 1 && q->rank <= 3) {
                double v[3];
                for (int r = 0; r < q->rank; r++) v[r] = (double)q->dims[r];
                if (nir_shape(f, v, q->rank, s3, q->name)) { rc = NM_SHAPE; }
            }
            if (rc || (q->rank > 1 && memcmp(s3, s->shape, sizeof s3))) {
                char qs[64];
                shape_of(s3, qs, sizeof qs);
                return nm__error(NM_SHAPE, "node '%s' (%s): field '%s' has shape %s but its source '%s' gives %s", f->name, PRIM_NAMES[f->p], q->name, qs, s->name, gave);
            }
        }
        float *a = falloc(8 * n);
        if (!a) return nm__error(NM_NOMEM, "out of memory");
        float *tau = a, *tau2 = a + n, *r = a + 2 * n, *vl = a + 3 * n, *vt = a + 4 * n, *vr = a + 5 * n, *w = a + 6 * n;
        int u_tau = 1, u_tau2 = 1, u_r, u_vl = 1, u_vt = 1, u_vr = 1, u_w = 1;
        const nm_reset reset = node_reset(t, f);
        const char *reset_src = t->ours && meta_str(meta, "neuromorph_reset") ? "the file's neuromorph metadata" : "the import option";
        switch (f->p) {
        case P_LIF:
        case P_LI: {
            const int lif = f->p == P_LIF;
            if ((rc = neuron_field(t, f, "tau", n, NAN, tau, &u_tau)) || (rc = neuron_field(t, f, "r", n, NAN, r, &u_r)) ||
                (rc = neuron_field(t, f, "v_leak", n, NAN, vl, &u_vl)))
                break;
            if (lif && ((rc = neuron_field(t, f, "v_threshold", n, NAN, vt, &u_vt)) || (rc = neuron_field(t, f, "v_reset", n, 0.0, vr, &u_vr)))) break;
            if ((rc = engine_tau(t, f, "tau", tau, n, t->ours ? nm__nir_ds(meta, "neuromorph_tau") : NULL))) break;
            if (!u_r && (rc = fold_r(t, bl, f, s, r, n))) break;
            u_r = 1;
            if ((rc = uniform_or_fail(f, "r", u_r)) || (rc = uniform_or_fail(f, "v_leak", u_vl)) || (rc = uniform_or_fail(f, "v_reset", u_vr))) break;
            for (int64_t k = 1; k < n && u_tau; k++) u_tau = tau[k] == tau[0];
            if (!lif) {
                if ((rc = uniform_or_fail(f, "tau", u_tau))) break;
                nm_li_params p = {tau[0], r[0], vl[0]};
                rc = nm_graph_add_li(g, f->name, n, &p, &f->id);
                break;
            }
            nm_lif_params p = {tau[0], r[0], vl[0], vt[0], vr[0], reset};
            double node_tau, node_th;   /* a learnable population's own scalars (its initial values) */
            if (t->ours && meta_num(meta, "neuromorph_node_tau", &node_tau) && meta_num(meta, "neuromorph_node_v_threshold", &node_th)) {
                p.tau = (float)node_tau;
                p.v_threshold = (float)node_th;
            }
            double ta, ba, tr;
            if (t->ours && meta_num(meta, "neuromorph_alif_tau_adapt", &ta) && meta_num(meta, "neuromorph_alif_beta_a", &ba) && meta_num(meta, "neuromorph_t_ref", &tr)) {
                if ((rc = uniform_or_fail(f, "tau", u_tau)) || (rc = uniform_or_fail(f, "v_threshold", u_vt))) break;
                nm_alif_params ap = {tau[0], r[0], vl[0], vt[0], vr[0], reset, (float)ta, (float)ba, (float)tr};
                rc = nm_graph_add_alif(g, f->name, n, &ap, &f->id);
                nm__text_add(t->rep, "- metadata: '%s' is an adaptive LIF of neuromorph (tau_adapt %g s, beta_a %g); other tools see a plain LIF\n", f->name, ta, ba);
                break;
            }
            if (delayed(t, f)) {
                nm_lif_step st;
                nm_lif_discretize(&p, t->dt, &st);
                if ((rc = delay_reset(t, f, u_tau, st.alpha, p.v_threshold, &p.v_reset))) break;
            }
            if ((rc = nm_graph_add_lif(g, f->name, n, &p, &f->id))) break;
            double ln = 0;
            int learn = t->ours && meta_num(meta, "neuromorph_learn_neuron", &ln) && ln != 0;
            if (!u_tau || !u_vt || learn) {
                if ((rc = nm_graph_set_learn_neuron(g, f->id))) break;
                pend *pp = add_pend(bl, f->id);
                if (!pp || !(pp->pn = falloc(2 * n))) { rc = nm__error(NM_NOMEM, "out of memory"); break; }
                pp->npn = n;
                memcpy(pp->pn, tau, sizeof(float) * n);
                memcpy(pp->pn + n, vt, sizeof(float) * n);
                if (!learn) nm__text_add(t->rep, "- changed: per-neuron tau and v_threshold of '%s' held as per-neuron (learnable) parameters\n", f->name);
            }
            break;
        }
        case P_IF:
            if ((rc = neuron_field(t, f, "r", n, NAN, r, &u_r)) || (rc = neuron_field(t, f, "v_threshold", n, NAN, vt, &u_vt)) ||
                (rc = neuron_field(t, f, "v_reset", n, 0.0, vr, &u_vr)))
                break;
            if (!u_r && (rc = fold_r(t, bl, f, s, r, n))) break;
            u_r = 1;
            if ((rc = uniform_or_fail(f, "r", u_r)) || (rc = uniform_or_fail(f, "v_threshold", u_vt)) || (rc = uniform_or_fail(f, "v_reset", u_vr))) break;
            {
                nm_if_params p = {r[0], vt[0], vr[0], reset};
                rc = nm_graph_add_if(g, f->name, n, &p, &f->id);
            }
            break;
        default: {   /* CubaLIF, CubaLI */
            const int spk = f->p == P_CUBALIF;
            if ((rc = neuron_field(t, f, "tau_syn", n, NAN, tau, &u_tau)) || (rc = neuron_field(t, f, "tau_mem", n, NAN, tau2, &u_tau2)) ||
                (rc = neuron_field(t, f, "r", n, NAN, r, &u_r)) || (rc = neuron_field(t, f, "v_leak", n, NAN, vl, &u_vl)) ||
                (rc = neuron_field(t, f, "w_in", n, 1.0, w, &u_w)))
                break;
            if (spk && ((rc = neuron_field(t, f, "v_threshold", n, NAN, vt, &u_vt)) || (rc = neuron_field(t, f, "v_reset", n, 0.0, vr, &u_vr)))) break;
            if (!u_r && (rc = fold_r(t, bl, f, s, r, n))) break;
            u_r = 1;
            if ((rc = uniform_or_fail(f, "tau_syn", u_tau)) || (rc = uniform_or_fail(f, "tau_mem", u_tau2)) || (rc = uniform_or_fail(f, "r", u_r)) ||
                (rc = uniform_or_fail(f, "v_leak", u_vl)) || (rc = uniform_or_fail(f, "w_in", u_w)) || (rc = uniform_or_fail(f, "v_threshold", u_vt)) ||
                (rc = uniform_or_fail(f, "v_reset", u_vr)))
                break;
            double tref = 0;
            if (t->ours) meta_num(meta, "neuromorph_t_ref", &tref);
            nm_cuba_lif_params p = {tau[0], tau2[0], r[0], w[0], vl[0], spk ? vt[0] : vl[0] + 1.0f, spk ? vr[0] : vl[0], reset, (float)tref};
            if (spk && delayed(t, f)) {
                nm_cuba_lif_step st;
                nm_cuba_lif_discretize(&p, t->dt, &st);
                if ((rc = delay_reset(t, f, 1, st.alpha_mem, p.v_threshold, &p.v_reset))) break;
            }
            if (t->disc == NM_NIR_EULER)
                nm__text_add(t->rep, "- not exact: '%s' (%s) runs by exact integration; forward Euler is not available for it, so it differs "
                             "from an Euler stepper by O(dt/tau) per step\n", f->name, PRIM_NAMES[f->p]);
            rc = spk ? nm_graph_add_cuba_lif(g, f->name, n, &p, &f->id) : nm_graph_add_cuba_li(g, f->name, n, &p, &f->id);
            break;
        }
        }
        free(a);
        if (!rc && (f->p == P_LIF || f->p == P_IF || f->p == P_CUBALIF))
            nm__text_add(t->rep, "- reset: '%s' %s (from %s)\n", f->name, reset == NM_RESET_SUBTRACT ? (delayed(t, f) ? "subtracts v_threshold - v_reset after the next decay" : "subtracts v_threshold - v_reset at a spike") :
                         reset == NM_RESET_TO_VALUE ? "is set to v_reset at a spike" : "is not reset", reset_src);
        return rc;
    }
    default:
        break;
    }
    return nm__error(NM_UNSUPPORTED, "node '%s': its primitive is not supported", f->name);
}

static void tr_free(tr *t) {
    for (int s = 0; s < t->n_sub; s++) free(t->subgraphs[s]);
    free(t->subgraphs);
    free(t->sub_first);
    free(t->sub_last);
    free(t->nodes);
    free(t->edges);
}

nm_status nm_nir_to_graph(const nm_nir *doc, const nm_nir_options *o, nm_graph **out, char **report) {
    nm__text rep = {0};
    tr t = {0};
    build bl = {0};
    nm_graph *g = NULL;
    int *order = NULL;
    nm_status rc = NM_OK;
    t.o = o;
    t.rep = &rep;
    t.dt = o->dt;
    t.disc = o->disc;
    if (!(o->dt > 0) || !isfinite(o->dt)) return nm__error(NM_RANGE, "NIR import: dt must be positive, not %g", (double)o->dt);
    const nir_grp *top = nm__nir_sub(&doc->root, "node");
    const char *type = nm__nir_str(top, "type");
    if (!type || strcmp(type, "NIRGraph")) { rc = nm__error(NM_UNSUPPORTED, "the top node is %s, not a NIRGraph", type ? type : "untyped"); goto done; }
    nm__text_add(&rep, "- NIR version %s\n", nm_nir_version(doc));
    t.top_meta = nm__nir_sub(top, "metadata");
    if (meta_str(t.top_meta, "neuromorph_version")) {
        double dt;
        const char *ds = meta_str(t.top_meta, "neuromorph_discretization");
        t.ours = 1;
        if (meta_num(t.top_meta, "neuromorph_dt", &dt) && dt > 0 && isfinite(dt)) t.dt = (float)dt;
        if (ds) nm_nir_disc_parse(ds, &t.disc);
        nm__text_add(&rep, "- written by neuromorph %s: dt %g s and %s discretization from its metadata, which makes this import exact\n",
                     meta_str(t.top_meta, "neuromorph_version"), (double)t.dt, nm_nir_disc_name(t.disc));
    } else {
        nm__text_add(&rep, "- dt: %g s (%s; the file stores no time step)\n", (double)t.dt, o->dt == NM_NIR_DT_DEFAULT ? "the default, snnTorch's convention" : "given");
        nm__text_add(&rep, "- discretization: %s\n", t.disc == NM_NIR_EULER ? "forward Euler, as the exporting frameworks step their neurons (time constants are converted so the engine's exact steps equal Euler's)" :
                     "exact integration of the continuous-time model");
        nm__text_add(&rep, "- reset: %s unless a node says otherwise\n", o->reset == NM_RESET_SUBTRACT ? "by subtraction" : o->reset == NM_RESET_TO_VALUE ? "to v_reset (NIR's definition)" : "none");
    }
    if ((rc = collect(&t, top, "", 0)) || (rc = bypass(&t))) goto done;

    /* one Input, one Output at the top level */
    int in = -1, outn = -1;
    for (int i = 0; i < t.n; i++) {
        if (!t.nodes[i].alive) continue;
        if (t.nodes[i].p == P_INPUT) {
            if (in >= 0) { rc = nm__error(NM_UNSUPPORTED, "graph has two Input nodes ('%s', '%s'); the engine runs one input", t.nodes[in].name, t.nodes[i].name); goto done; }
            in = i;
        }
        if (t.nodes[i].p == P_OUTPUT) {
            if (outn >= 0) { rc = nm__error(NM_UNSUPPORTED, "graph has two Output nodes ('%s', '%s'); the engine runs one output", t.nodes[outn].name, t.nodes[i].name); goto done; }
            outn = i;
        }
    }
    if (in < 0) { rc = nm__error(NM_INVAL, "graph has no Input node"); goto done; }
    if (outn < 0) { rc = nm__error(NM_INVAL, "graph has no Output node"); goto done; }

    /* recurrent loops: P -> R -> P with R an Affine or Linear that only P feeds and only P reads */
    for (int r = 0; r < t.n; r++) {
        fnode *R = &t.nodes[r];
        if (!R->alive || (R->p != P_AFFINE && R->p != P_LINEAR)) continue;
        int n_in = 0, n_out = 0, pin = -1, pout = -1;
        for (int e = 0; e < t.n_e; e++) {
            if (t.edges[e].b == r) { n_in++; pin = t.edges[e].a; }
            if (t.edges[e].a == r) { n_out++; pout = t.edges[e].b; }
        }
        if (n_in == 1 && n_out == 1 && pin == pout && t.nodes[pin].p == P_LIF) {
            R->is_rec = 1;
            R->rec = pin;
            t.nodes[pin].rec = r;
        }
    }
    /* the chain: every other node has one source and one consumer */
    for (int i = 0; i < t.n; i++) {
        if (!t.nodes[i].alive || t.nodes[i].is_rec) continue;
        int n_in = 0, n_out = 0, a = -1, b = -1;
        for (int e = 0; e < t.n_e; e++) {
            if (t.edges[e].b == i && !t.nodes[t.edges[e].a].is_rec) { if (n_in++) b = t.edges[e].a; else a = t.edges[e].a; }
        }
        if (n_in > 1) { rc = nm__error(NM_UNSUPPORTED, "node '%s' (%s) has several sources ('%s', '%s'); the engine runs chains", t.nodes[i].name, PRIM_NAMES[t.nodes[i].p], t.nodes[a].name, t.nodes[b].name); goto done; }
        a = b = -1;
        for (int e = 0; e < t.n_e; e++)
            if (t.edges[e].a == i && !t.nodes[t.edges[e].b].is_rec) { if (n_out++) b = t.edges[e].b; else a = t.edges[e].b; }
        if (n_out > 1) { rc = nm__error(NM_UNSUPPORTED, "node '%s' (%s) feeds several nodes ('%s', '%s'); the engine runs chains", t.nodes[i].name, PRIM_NAMES[t.nodes[i].p], t.nodes[a].name, t.nodes[b].name); goto done; }
    }
    if (!(order = malloc(sizeof(int) * (size_t)(t.n + 1)))) { rc = nm__error(NM_NOMEM, "out of memory"); goto done; }
    int len = 0;
    for (int cur = in; cur >= 0;) {
        if (len > t.n) { rc = nm__error(NM_UNSUPPORTED, "graph has a cycle through '%s'", t.nodes[cur].name); goto done; }
        order[len++] = cur;
        int next = -1;
        for (int e = 0; e < t.n_e; e++)
            if (t.edges[e].a == cur && !t.nodes[t.edges[e].b].is_rec) next = t.edges[e].b;
        cur = next;
    }
    int alive = 0;
    for (int i = 0; i < t.n; i++) alive += t.nodes[i].alive && !t.nodes[i].is_rec;
    if (len != alive) {
        for (int i = 0; i < t.n; i++) {
            int seen = !t.nodes[i].alive || t.nodes[i].is_rec;
            for (int k = 0; k < len; k++) seen |= order[k] == i;
            if (!seen) { rc = nm__error(NM_UNSUPPORTED, "node '%s' (%s) is not on the chain from the input '%s'", t.nodes[i].name, PRIM_NAMES[t.nodes[i].p], t.nodes[in].name); goto done; }
        }
    }
    if (order[len - 1] != outn) { rc = nm__error(NM_UNSUPPORTED, "the chain from the input ends at '%s', not at the Output node '%s'", t.nodes[order[len - 1]].name, t.nodes[outn].name); goto done; }
    for (int k = 0; k < len; k++)
        if (strlen(t.nodes[order[k]].name) >= NM_NAME_MAX) { rc = nm__error(NM_UNSUPPORTED, "node name '%s' is longer than %d characters", t.nodes[order[k]].name, NM_NAME_MAX - 1); goto done; }

    if ((rc = nm_graph_create(&g))) goto done;
    for (int k = 0; k < len; k++) {
        fnode *f = &t.nodes[order[k]];
        if ((rc = add_node(&t, g, &bl, f, k ? &t.nodes[order[k - 1]] : NULL))) goto done;
        if (k && (rc = nm_graph_connect(g, t.nodes[order[k - 1]].id, f->id))) goto done;
        if (f->rec >= 0) {
            fnode *R = &t.nodes[f->rec];
            if ((rc = add_node(&t, g, &bl, R, f))) goto done;
        }
    }
    if ((rc = nm_graph_compile(g))) goto done;
    float *params = nm_graph_params(g);
    /* compile renumbered the nodes: find each by name */
    for (int k = 0; k < bl.n; k++) {
        pend *p = &bl.p[k];
        const char *name = NULL;
        for (int i = 0; i < t.n && !name; i++)
            if (t.nodes[i].id == p->node && t.nodes[i].alive) name = t.nodes[i].name;
        const nm_node *nd = nm_graph_node(g, nm_graph_find(g, name));
        if (p->w) memcpy(params + nd->w_off, p->w, sizeof(float) * p->nw);
        if (p->b) memcpy(params + nd->b_off, p->b, sizeof(float) * p->nb);
        if (p->pn) {
            memcpy(params + nd->p_off, p->pn, sizeof(float) * p->npn);
            memcpy(params + nd->p_off + nm_pad16(p->npn), p->pn + p->npn, sizeof(float) * p->npn);
            for (int64_t i = 0; i < p->npn; i++)
                if (!(p->pn[p->npn + i] > nd->lif.v_reset)) {
                    rc = nm__error(NM_RANGE, "node '%s' (LIF): neuron %lld has v_threshold %g, not above v_reset %g", nd->name, (long long)i, (double)p->pn[p->npn + i], (double)nd->lif.v_reset);
                    goto done;
                }
        }
    }
    if (rep.failed) { rc = nm__error(NM_NOMEM, "out of memory writing the import report"); goto done; }
done:
    for (int k = 0; k < bl.n; k++) { free(bl.p[k].w); free(bl.p[k].b); free(bl.p[k].pn); }
    free(bl.p);
    free(order);
    tr_free(&t);
    if (rc) {
        nm_graph_destroy(g);
        free(rep.buf);
        return rc;
    }
    *out = g;
    if (report) *report = rep.buf ? rep.buf : calloc(1, 1);
    else free(rep.buf);
    return NM_OK;
}

nm_status nm_nir_import(const char *path, const nm_nir_options *o, nm_graph **out, char **report) {
    nm_nir *doc;
    nm_status rc = nm_nir_read(path, &doc);
    if (rc) return rc;
    rc = nm_nir_to_graph(doc, o, out, report);
    nm_nir_destroy(doc);
    if (rc) return nm__error(rc, "'%s': %s", path, nm_errmsg());
    return NM_OK;
}
