/*
** status.c: status codes, the per-thread error detail message, and assertion failure.
**
** Every error in the library is raised through nm__error(), which stores a formatted
** detail message and returns the code, so a caller writes
**     return nm__error(NM_FORMAT, "bad magic 0x%08x in '%s'", magic, path);
** and one breakpoint on nm__error catches every failure. The message lives in a
** thread-local buffer: threads raising errors at the same time never see each other's
** text, and no lock or allocation is needed (raising an out-of-memory error must not
** itself allocate). Messages longer than the buffer are truncated.
*/
#include "neuromorph/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Long enough for a path plus a sentence; longer text is cut, never overflowed. */
#define NM_ERRMSG_CAP 1024

static _Thread_local char errmsg[NM_ERRMSG_CAP];

const char *nm_status_str(nm_status s) {
    switch (s) {
#define NM_X_(name, val, msg) case NM_##name: return msg;
        NM_STATUS_MAP(NM_X_)
#undef NM_X_
    }
    /* Not a code from the list (a cast integer): still never NULL. */
    return "unknown status";
}

const char *nm_errmsg(void) { return errmsg; }

void nm_clear_error(void) { errmsg[0] = '\0'; }

nm_status nm__error(nm_status code, const char *fmt, ...) {
    if (fmt == NULL) {
        /* No detail given: the fixed text is better than a stale message. */
        snprintf(errmsg, sizeof errmsg, "%s", nm_status_str(code));
        return code;
    }
    /* Format into a copy first: callers wrap a lower layer's message as an argument
    ** ("node 'x': %s", nm_errmsg()), and vsnprintf must not read the buffer it writes. */
    char tmp[NM_ERRMSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) snprintf(errmsg, sizeof errmsg, "%s", nm_status_str(code));
    else memcpy(errmsg, tmp, sizeof errmsg);
    return code;
}

void nm__assert_fail(const char *expr, const char *file, int line) {
    /* A broken invariant: the process state cannot be trusted, so this is the one place
    ** the library writes to stderr directly (the log sink might itself be broken). */
    fprintf(stderr, "neuromorph: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}
