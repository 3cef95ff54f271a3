/*
** log.c: levelled messages through one replaceable sink.
**
** The library never prints on its own; everything a user might want to see (a skipped
** file, a clamped parameter) goes through nm_log, and an application decides where it
** ends up by installing a sink. The default sink writes one line per message to stderr:
**     neuromorph: [warn] clamped tau_m to 0.1 ms
** Messages are formatted into a stack buffer and written with a single fputs, so lines
** from different threads do not interleave mid-line. Messages longer than the buffer are
** truncated. The sink and its user pointer are swapped under a mutex, so a sink may be
** replaced while other threads log; the old sink may still receive a message that was
** in flight, so its user data must outlive the swap.
*/
#include "neuromorph/base.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define NM_LOG_CAP 1024

static atomic_int log_level = NM_LOG_WARN;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static nm_log_sink sink_fn = NULL; /* NULL means the default sink */
static void *sink_user = NULL;

static const char *level_name(nm_log_level level) {
    switch (level) {
    case NM_LOG_DEBUG: return "debug";
    case NM_LOG_INFO: return "info";
    case NM_LOG_WARN: return "warn";
    case NM_LOG_ERROR: return "error";
    case NM_LOG_OFF: break;
    }
    return "log";
}

static void default_sink(nm_log_level level, const char *msg, void *user) {
    (void)user;
    char line[NM_LOG_CAP + 32];
    snprintf(line, sizeof line, "neuromorph: [%s] %s\n", level_name(level), msg);
    fputs(line, stderr);
}

void nm_log_set_level(nm_log_level level) { atomic_store(&log_level, (int)level); }

nm_log_level nm_log_get_level(void) { return (nm_log_level)atomic_load(&log_level); }

void nm_log_set_sink(nm_log_sink sink, void *user) {
    pthread_mutex_lock(&sink_lock);
    sink_fn = sink;
    sink_user = sink ? user : NULL;
    pthread_mutex_unlock(&sink_lock);
}

void nm_log(nm_log_level level, const char *fmt, ...) {
    /* Checked first so a filtered-out debug message costs one load, not a format. */
    if (level >= NM_LOG_OFF || (int)level < atomic_load(&log_level)) return;

    char msg[NM_LOG_CAP];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    /* Sinks add their own line ending; drop one the caller wrote out of habit. */
    size_t len = strlen(msg);
    if (len > 0 && msg[len - 1] == '\n') msg[len - 1] = '\0';

    pthread_mutex_lock(&sink_lock);
    nm_log_sink fn = sink_fn;
    void *user = sink_user;
    pthread_mutex_unlock(&sink_lock);
    /* Called outside the lock so a sink may itself log or replace the sink. */
    if (fn) fn(level, msg, user);
    else default_sink(level, msg, NULL);
}
