/* LD_PRELOAD shim for scripts/cost-guard: the process sees the wall clock (CLOCK_REALTIME,
 * gettimeofday, time) in steps of COARSE_CLOCK_STEP seconds (default 10). The sidecar's cached
 * access-log date is then re-rendered once a step instead of once a second, and its
 * milliseconds are always the same, so the counts do not depend on how long the requests
 * took. The monotonic clocks are left alone: timers are armed on them, and in steps a timer
 * due inside the current step would fire again and again until the step ends. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long step_seconds(void) {
    static long step = 0;
    if (step == 0) {
        const char *text = getenv("COARSE_CLOCK_STEP");
        long value = text ? strtol(text, NULL, 10) : 10;
        step = value > 0 ? value : 10;
    }
    return step;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *) = NULL;
    if (real == NULL) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    if (rc == 0 && ts != NULL && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        ts->tv_sec -= ts->tv_sec % step_seconds();
        ts->tv_nsec = 0;
    }
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0 && tv != NULL) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = 0;
    }
    (void)tz;
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out != NULL) *out = ts.tv_sec;
    return ts.tv_sec;
}
