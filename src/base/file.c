/*
** file.c: atomic file writes and CRC-32.
**
** Every file the library writes (models, checkpoints, reports) goes through
** nm_file_write_atomic: the content is written to "<path>.tmp.<pid>" next to the
** target, flushed, fsync'ed and renamed over it. rename() within one directory is
** atomic on POSIX, so a reader, or a rerun after a crash or kill mid-write, finds the
** old file or the new one and never a truncated mix. The pid in the temporary name keeps
** two processes writing the same path from trampling each other's temporary file. On
** any failure the temporary file is removed and the target is left as it was.
*/
#include "neuromorph/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Best effort: fsync the directory holding `path` so the rename itself survives a power
** loss. Failure is ignored; the rename has already made the write atomic for readers. */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash) dir = strdup(".");
    else if (slash == path) dir = strdup("/");
    else {
        size_t n = (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir) return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

nm_status nm_file_write_atomic(const char *path, nm_write_fn fill, void *user) {
    if (!path || !path[0] || !fill)
        return nm__error(NM_INVAL, "nm_file_write_atomic: %s", !fill ? "no write callback" : "empty path");

    nm_status rc = NM_OK;
    FILE *f = NULL;
    size_t cap = strlen(path) + 32;
    char *tmp = malloc(cap);
    if (!tmp) return nm__error(NM_NOMEM, "cannot write '%s': out of memory", path);
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());

    f = fopen(tmp, "wb");
    if (!f) {
        /* Nothing was created, so there is nothing to remove. */
        rc = nm__error(NM_IO, "cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return rc;
    }

    /* The callback raises its own, more specific error; keep its code and message. */
    rc = fill(f, user);
    if (rc != NM_OK) goto fail;

    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
        rc = nm__error(NM_IO, "cannot write '%s': %s", path, strerror(errno));
        goto fail;
    }
    FILE *closing = f;
    f = NULL; /* fclose releases the stream even when it fails */
    if (fclose(closing) != 0) {
        rc = nm__error(NM_IO, "cannot write '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = nm__error(NM_IO, "cannot write '%s': %s", path, strerror(errno));
        goto fail;
    }
    sync_parent_dir(path);
    free(tmp);
    return NM_OK;

fail:
    if (f) fclose(f);
    remove(tmp);
    free(tmp);
    return rc;
}

uint32_t nm_crc32(uint32_t crc, const void *data, size_t n) {
    /* zlib takes a uInt length; feed buffers over 4 GiB in pieces. */
    const unsigned char *p = data;
    while (n > 0) {
        uInt chunk = n > (size_t)0x40000000u ? 0x40000000u : (uInt)n;
        crc = (uint32_t)crc32((uLong)crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return crc;
}
