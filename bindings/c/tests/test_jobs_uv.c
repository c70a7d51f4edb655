/*
 * C tests of hubauth's job API (hubauth_job_*), written only from
 * include/hubauth.h. The central cases drive jobs from a real libuv loop the
 * way Julia does: a uv_async_t whose uv_async_send is the job's notify (the
 * async handle its arg), a repeating 10 ms uv_timer_t that records the
 * largest gap between its ticks, and an async callback that polls the job
 * until NONE. The loop must keep ticking (largest gap under MAX_GAP_MS)
 * through a device login, a token refresh and a cancelled login: nothing
 * that waits on the network may run on the loop's thread.
 *
 * Also: a job freed from another thread while it waits for a login,
 * hubauth_notify_fd with an eventfd and a pipe, bad kinds, NULL arguments,
 * a fresh token's job being DONE when its start returns.
 *
 * usage: test_jobs_uv [path/to/hubauth-test-server]   (or $HUBAUTH_TEST_SERVER)
 * Output is TAP-like, as test_hubauth's. Tokens are compared, never printed.
 */
/* POSIX.1-2008 + XSI, as testutil.c; <uv.h> needs nothing more (its
 * struct addrinfo etc. come with _XOPEN_SOURCE 700), and <sys/eventfd.h>
 * declares eventfd() without _GNU_SOURCE, so strict -std=c11 is kept. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "harness.h"
#include "hubauth.h"

/* RUNNING_ON_VALGRIND: see VALGRIND_MAX_GAP_MS. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* The loop's ticker fires every TICK_MS; a gap of MAX_GAP_MS or more means
 * the loop's thread was blocked (by hubauth, or by this test). */
#define TICK_MS 10
#define MAX_GAP_MS 50.0
/* Under valgrind, which runs one thread at a time (an unoptimised Rust
 * thread's time slice alone can last 50 to 150 ms) and translates code on
 * its first use, gaps measure valgrind's scheduling, not hubauth: they were
 * seen up to 160 ms while the loop's thread was not in hubauth at all. The
 * bound there stays far below the device login's 1 s poll interval, so a
 * login that blocked the loop would still fail. `make test` and `make asan`
 * hold every run to MAX_GAP_MS. */
#define VALGRIND_MAX_GAP_MS 500.0

/* ------------------------------------------------------- small helpers */

static pthread_t g_main_thread; /* where a notify that ran inline ran */

/* Options for a login whose URL only the job's host shows (LOGIN event). */
static hubauth_options *login_options(const char *token_path) {
    hubauth_options *o = test_options(token_path);
    if (o && (hubauth_options_set(o, "open_browser", "false", NULL) != HUBAUTH_OK ||
              hubauth_options_set(o, "interactive", "true", NULL) != HUBAUTH_OK)) {
        diag("could not set open_browser=false, interactive=true");
        hubauth_options_free(o);
        return NULL;
    }
    return o;
}

/* A stored 4-second token with a huge refresh margin (capped at half the
 * lifetime: 2 s), returned once it is due: hubauth_token must refresh it.
 * Its stored id_token through *stored_id. */
static hubauth_auth *due_auth(char **stored_id) {
    hubauth_auth *a = short_lived_auth(stored_id);
    if (a != NULL) sleep_until_unix((long)hubauth_auth_expires_at(a) - 2);
    return a;
}

/* A notify that counts its calls, remembers the thread of the last one, and
 * notes any call that starts after the job's free returned. */
typedef struct {
    atomic_int calls;
    atomic_int calls_after_free;
    atomic_bool freed;
    atomic_bool on_main_thread; /* the last call ran on the main thread */
} notify_record;

static void counting_notify(void *arg) {
    notify_record *r = arg;
    if (atomic_load(&r->freed)) atomic_fetch_add(&r->calls_after_free, 1);
    atomic_store(&r->on_main_thread, pthread_equal(pthread_self(), g_main_thread) != 0);
    atomic_fetch_add(&r->calls, 1);
}

static bool event_is_empty_done(const hubauth_job_event *ev, hubauth_status status) {
    return ev->kind == HUBAUTH_JOB_EVENT_DONE && ev->status == status && ev->auth == NULL &&
           ev->secret == NULL && ev->error == NULL && ev->url == NULL && ev->user_code == NULL &&
           ev->message == NULL && !ev->valid;
}

/* Polls (never blocking) until DONE, sleeping between polls, for at most
 * `limit_s`. Returns true with the DONE event in *ev. */
static bool poll_until_done(hubauth_job *j, hubauth_job_event *ev, double limit_s) {
    double limit = now_seconds() + limit_s;
    while (now_seconds() < limit) {
        hubauth_error *err = NULL;
        if (hubauth_job_poll(j, ev, &err) != HUBAUTH_OK) {
            diag("hubauth_job_poll failed: %s", hubauth_error_message(err));
            hubauth_error_free(err);
            return false;
        }
        if (ev->kind == HUBAUTH_JOB_EVENT_DONE) return true;
        if (ev->kind == HUBAUTH_JOB_EVENT_NONE) sleep_seconds(0.01);
    }
    diag("no DONE within %.0f s", limit_s);
    return false;
}

/* ------------------------------------------------------- the libuv loop */

/* One job run on a libuv loop, as Julia runs it. */
typedef struct {
    uv_loop_t loop;
    uv_async_t async;        /* its uv_async_send is the job's notify */
    uv_timer_t ticker;       /* every TICK_MS: records the largest gap */
    uv_timer_t starter;      /* starts the job once the ticker runs */
    uv_timer_t canceller;    /* hubauth_job_cancel, cancel_ms after LOGIN */
    uv_timer_t watchdog;     /* a hung job fails the case, not the run */
    uv_work_t visit;         /* a browser's visit of the LOGIN URL */

    /* What to run. */
    hubauth_options *options; /* HUBAUTH_JOB_AUTHENTICATE when set */
    hubauth_auth *auth;       /* else HUBAUTH_JOB_TOKEN on this */
    bool visit_login;         /* GET the LOGIN URL from a uv work item */
    int cancel_ms;            /* >= 0: cancel from a timer this long after LOGIN */

    hubauth_job *job;
    bool closing;
    bool timed_out;

    /* Measured. */
    uint64_t started_ns, last_tick_ns, max_gap_ns;
    double ran_ms;           /* how long the loop ran */
    long ticks;
    double start_call_ms;    /* how long hubauth_job_start took */
    double max_call_ms;      /* the longest hubauth_job_* call on the loop's thread */
    int async_calls, polls, logins, progress, dones, events_after_login;
    bool first_poll_none;    /* the poll right after start gave NONE */
    bool bad_event;          /* an event with fields its kind does not use */
    bool done_again_ok;      /* the poll after DONE gave DONE, same status, no result */
    char url[2048];
    bool had_user_code;
    int visit_status;        /* of the GET of the URL; 0 if none */
    double login_at, cancelled_at, done_at;

    /* The DONE event's result (owned here after the loop). */
    hubauth_status status;
    hubauth_auth *result_auth;
    hubauth_secret *result_secret;
    hubauth_error *result_error;
} uv_job_run;

static double gap_limit_ms(void) {
    return RUNNING_ON_VALGRIND ? VALGRIND_MAX_GAP_MS : MAX_GAP_MS;
}

/* Notes how long a hubauth call on the loop's thread took. */
static void note_call(uv_job_run *r, double since) {
    double ms = (now_seconds() - since) * 1000;
    if (ms > r->max_call_ms) r->max_call_ms = ms;
}

static void on_closed(uv_handle_t *h) {
    (void)h;
}

/* The job is done (or the run gave up): free it and let the loop end. After
 * hubauth_job_free returns no notify call starts, so the async handle may be
 * closed at once. */
static void finish(uv_job_run *r) {
    if (r->closing) return;
    r->closing = true;
    double t0 = now_seconds();
    hubauth_job_free(r->job);
    note_call(r, t0);
    r->job = NULL;
    uv_close((uv_handle_t *)&r->async, on_closed);
    uv_close((uv_handle_t *)&r->ticker, on_closed);
    uv_close((uv_handle_t *)&r->starter, on_closed);
    uv_close((uv_handle_t *)&r->canceller, on_closed);
    uv_close((uv_handle_t *)&r->watchdog, on_closed);
}

/* A hubauth_job_* call on the loop's thread failed: the run ends. */
static void fail_run(uv_job_run *r, const char *what, hubauth_status st, hubauth_error *err) {
    diag("%s: status %d: %s", what, (int)st, hubauth_error_message(err));
    hubauth_error_free(err);
    r->bad_event = true;
    finish(r);
}

static void visit_work(uv_work_t *w) {
    uv_job_run *r = w->data;
    http_response resp;
    r->visit_status = http_request("GET", r->url, NULL, NULL, &resp) == 0 ? resp.status : 0;
    http_response_free(&resp);
}

static void visit_done(uv_work_t *w, int status) {
    (void)w;
    (void)status;
}

static void cancel_cb(uv_timer_t *t) {
    uv_job_run *r = t->data;
    r->cancelled_at = now_seconds();
    hubauth_job_cancel(r->job);
    note_call(r, r->cancelled_at);
}

/* Poll until NONE: the rule after start and after every notify. */
static void drain(uv_job_run *r) {
    while (r->job != NULL) {
        hubauth_job_event ev;
        hubauth_error *err = NULL;
        double t0 = now_seconds();
        hubauth_status st = hubauth_job_poll(r->job, &ev, &err);
        note_call(r, t0);
        r->polls++;
        if (st != HUBAUTH_OK) {
            fail_run(r, "hubauth_job_poll", st, err);
            return;
        }
        if (ev.kind != HUBAUTH_JOB_EVENT_NONE && r->logins > 0) r->events_after_login++;
        switch (ev.kind) {
        case HUBAUTH_JOB_EVENT_NONE:
            if (ev.status != HUBAUTH_OK || ev.url || ev.message || ev.auth || ev.secret || ev.error)
                r->bad_event = true;
            return;
        case HUBAUTH_JOB_EVENT_LOGIN:
            r->logins++;
            r->login_at = now_seconds();
            if (ev.url == NULL || ev.message || ev.auth || ev.secret || ev.error) r->bad_event = true;
            /* Borrowed until the next poll: copied for the visit. */
            snprintf(r->url, sizeof r->url, "%s", ev.url ? ev.url : "");
            r->had_user_code = ev.user_code != NULL && ev.user_code[0] != '\0';
            if (r->visit_login) {
                r->visit.data = r;
                if (uv_queue_work(&r->loop, &r->visit, visit_work, visit_done) != 0) r->bad_event = true;
            }
            if (r->cancel_ms >= 0) uv_timer_start(&r->canceller, cancel_cb, (uint64_t)r->cancel_ms, 0);
            break;
        case HUBAUTH_JOB_EVENT_PROGRESS:
            r->progress++;
            if (ev.message == NULL || ev.url || ev.auth || ev.secret || ev.error) r->bad_event = true;
            break;
        case HUBAUTH_JOB_EVENT_DONE: {
            r->dones++;
            r->done_at = now_seconds();
            r->status = ev.status;
            r->result_auth = ev.auth;
            r->result_secret = ev.secret;
            r->result_error = ev.error;
            if ((ev.status == HUBAUTH_OK) != (ev.error == NULL)) r->bad_event = true;
            hubauth_job_event again;
            r->done_again_ok = hubauth_job_poll(r->job, &again, NULL) == HUBAUTH_OK &&
                               event_is_empty_done(&again, ev.status);
            finish(r);
            return;
        }
        default:
            r->bad_event = true;
            finish(r);
            return;
        }
    }
}

static void async_cb(uv_async_t *a) {
    uv_job_run *r = a->data;
    r->async_calls++;
    drain(r);
}

static void tick_cb(uv_timer_t *t) {
    uv_job_run *r = t->data;
    uint64_t now = uv_hrtime();
    uint64_t gap = now - r->last_tick_ns;
    if (gap > r->max_gap_ns) r->max_gap_ns = gap;
    r->last_tick_ns = now;
    r->ticks++;
}

static void start_cb(uv_timer_t *t) {
    uv_job_run *r = t->data;
    hubauth_error *err = NULL;
    /* What Julia does (ccall with uv_async_send's address): the library
     * calls it as void (*)(void *) with the uv_async_t * as arg. On the
     * platforms libuv runs on, the int it returns is ignored harmlessly.
     * The cast through void (*)(void) is GCC's documented way to say the
     * cast is meant (-Wcast-function-type). A strictly conforming C host
     * wraps it instead: static void f(void *a) { uv_async_send(a); }. */
    hubauth_notify_fn notify = (hubauth_notify_fn)(void (*)(void))uv_async_send;
    double t0 = now_seconds();
    hubauth_status st =
        r->options ? hubauth_job_start(r->options, HUBAUTH_JOB_AUTHENTICATE, notify, &r->async, &r->job, &err)
                   : hubauth_job_start_auth(r->auth, NULL, HUBAUTH_JOB_TOKEN, notify, &r->async, &r->job, &err);
    r->start_call_ms = (now_seconds() - t0) * 1000;
    note_call(r, t0);
    if (st != HUBAUTH_OK) {
        fail_run(r, "starting the job", st, err);
        return;
    }
    /* Poll once after starting: the job may be done already. */
    int polls = r->polls;
    drain(r);
    r->first_poll_none = r->polls == polls + 1 && r->dones == 0 && r->logins == 0 && r->progress == 0;
}

static void watchdog_cb(uv_timer_t *t) {
    uv_job_run *r = t->data;
    r->timed_out = true;
    diag("watchdog: the job did not end in time; cancelling it");
    hubauth_job_cancel(r->job); /* DONE CANCELLED follows, and ends the loop */
}

static void noop_work(uv_work_t *w) {
    (void)w;
}

/* libuv starts its thread pool on the first uv_queue_work, on the loop's
 * thread, waiting for each new thread to run: under valgrind that alone can
 * stall a loop for over 100 ms. Julia's pool is up long before a login;
 * start this one before any measurement. */
static void start_uv_thread_pool(void) {
    static bool started;
    uv_loop_t loop;
    uv_work_t work;
    if (started || uv_loop_init(&loop) != 0) return;
    started = uv_queue_work(&loop, &work, noop_work, NULL) == 0;
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

/* Runs the job on a new loop until DONE. Returns false when the loop itself
 * could not be set up or closed. */
static bool run_on_uv(uv_job_run *r, double watchdog_s) {
    r->status = -1;
    start_uv_thread_pool();
    if (uv_loop_init(&r->loop) != 0) return false;
    uv_async_init(&r->loop, &r->async, async_cb);
    uv_timer_init(&r->loop, &r->ticker);
    uv_timer_init(&r->loop, &r->starter);
    uv_timer_init(&r->loop, &r->canceller);
    uv_timer_init(&r->loop, &r->watchdog);
    r->async.data = r->ticker.data = r->starter.data = r->canceller.data = r->watchdog.data = r;
    r->started_ns = r->last_tick_ns = uv_hrtime();
    uv_timer_start(&r->ticker, tick_cb, TICK_MS, TICK_MS);
    uv_timer_start(&r->starter, start_cb, 2 * TICK_MS + TICK_MS / 2, 0);
    uv_timer_start(&r->watchdog, watchdog_cb, (uint64_t)(watchdog_s * 1000), 0);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    int closed = uv_loop_close(&r->loop);
    double ran = (double)(uv_hrtime() - r->started_ns) / 1e6;
    r->ran_ms = ran;
    diag("loop ran %.0f ms: %ld ticks, largest gap %.1f ms (limit %.0f); longest hubauth call %.2f ms "
         "(start %.2f ms); %d async calls, %d polls, %d LOGIN, %d PROGRESS, %d DONE",
         ran, r->ticks, (double)r->max_gap_ns / 1e6, gap_limit_ms(), r->max_call_ms, r->start_call_ms,
         r->async_calls, r->polls, r->logins, r->progress, r->dones);
    return closed == 0;
}

static double max_gap_ms(const uv_job_run *r) {
    return (double)r->max_gap_ns / 1e6;
}

/* The loop ticked, no gap between ticks reached the limit, and no hubauth
 * call on its thread took that long (run_on_uv's diagnostic has the numbers). */
static bool loop_kept_ticking(const uv_job_run *r) {
    return r->ticks > 0 && r->max_call_ms < gap_limit_ms() && max_gap_ms(r) < gap_limit_ms();
}

static void free_run_results(uv_job_run *r) {
    hubauth_auth_free(r->result_auth);
    hubauth_secret_free(r->result_secret);
    hubauth_error_free(r->result_error);
}

/* --------------------------------------------------------------- cases */

static void case_bad_kinds(void) {
    hubauth_error *err = NULL;
    char *id = NULL;
    hubauth_options *o = test_options(NULL);
    hubauth_auth *a = stored_auth(&id, NULL, 0);
    hubauth_job *j = NULL;
    static const int not_kinds[] = {0, -1, 8, 42, INT32_MIN};
    CHECK(o != NULL && a != NULL);
    for (size_t i = 0; i < sizeof not_kinds / sizeof not_kinds[0]; i++) {
        EXPECT(hubauth_job_start(o, not_kinds[i], NULL, NULL, &j, &err), HUBAUTH_ERR_INVALID_ARGUMENT);
        CHECK(j == NULL && hubauth_error_code(err) == HUBAUTH_ERR_INVALID_ARGUMENT);
        CHECK(hubauth_error_message(err)[0] != '\0');
        EXPECT(hubauth_job_start_auth(a, NULL, not_kinds[i], NULL, NULL, &j, &err),
               HUBAUTH_ERR_INVALID_ARGUMENT);
        CHECK(j == NULL);
    }
    /* Kinds that need an authentication, given options; and the reverse. */
    static const int auth_kinds[] = {HUBAUTH_JOB_REAUTHENTICATE, HUBAUTH_JOB_TOKEN,
                                     HUBAUTH_JOB_AUTHORIZATION, HUBAUTH_JOB_CHECK};
    for (size_t i = 0; i < sizeof auth_kinds / sizeof auth_kinds[0]; i++) {
        EXPECT(hubauth_job_start(o, auth_kinds[i], NULL, NULL, &j, &err), HUBAUTH_ERR_INVALID_ARGUMENT);
        CHECK(j == NULL);
    }
    EXPECT(hubauth_job_start_auth(a, NULL, HUBAUTH_JOB_AUTHENTICATE, NULL, NULL, &j, &err),
           HUBAUTH_ERR_INVALID_ARGUMENT);
    EXPECT(hubauth_job_start_auth(a, o, HUBAUTH_JOB_LOGOUT, NULL, NULL, &j, &err),
           HUBAUTH_ERR_INVALID_ARGUMENT);
    /* SAVE_TOKEN needs its token: only hubauth_job_start_save_token starts it. */
    EXPECT(hubauth_job_start(o, HUBAUTH_JOB_SAVE_TOKEN, NULL, NULL, &j, &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hubauth_error_message(err), "hubauth_job_start_save_token") != NULL);
    EXPECT(hubauth_job_start_auth(a, NULL, HUBAUTH_JOB_SAVE_TOKEN, NULL, NULL, &j, &err),
           HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(j == NULL);
    /* Only REAUTHENTICATE takes options. */
    EXPECT(hubauth_job_start_auth(a, o, HUBAUTH_JOB_TOKEN, NULL, NULL, &j, &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    EXPECT(hubauth_job_start_auth(a, o, HUBAUTH_JOB_CHECK, NULL, NULL, &j, &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(j == NULL);
    /* A non-NULL *err on entry: refused, and left to the caller. */
    hubauth_error *stale = err;
    CHECK(stale != NULL);
    CHECK(hubauth_job_start(o, HUBAUTH_JOB_LOGOUT, NULL, NULL, &j, &err) == HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(err == stale && j == NULL);
done:
    hubauth_job_free(j);
    free(id);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_null_arguments(void) {
    hubauth_error *err = NULL;
    char *id = NULL;
    hubauth_options *o = test_options(NULL);
    hubauth_auth *a = stored_auth(&id, NULL, 0);
    hubauth_job *j = NULL;
    hubauth_job_event ev;
    CHECK(o != NULL && a != NULL);
    EXPECT(hubauth_job_start(NULL, HUBAUTH_JOB_AUTHENTICATE, NULL, NULL, &j, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(hubauth_error_code(err) == HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_job_start(NULL, HUBAUTH_JOB_LOGOUT, NULL, NULL, &j, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_job_start(o, HUBAUTH_JOB_LOGOUT, NULL, NULL, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_job_start_auth(NULL, NULL, HUBAUTH_JOB_TOKEN, NULL, NULL, &j, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_job_start_auth(NULL, o, HUBAUTH_JOB_REAUTHENTICATE, NULL, NULL, &j, &err),
           HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_job_start_auth(a, NULL, HUBAUTH_JOB_TOKEN, NULL, NULL, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_job_start_save_token(NULL, "x", NULL, NULL, &j, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_job_start_save_token(o, NULL, NULL, NULL, &j, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_job_start_save_token(o, "x", NULL, NULL, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(j == NULL);
    /* err may be NULL. */
    CHECK(hubauth_job_start(NULL, HUBAUTH_JOB_AUTHENTICATE, NULL, NULL, &j, NULL) == HUBAUTH_ERR_NULL_ARGUMENT);
    /* A NULL notify is allowed (poll on a timer instead). */
    EXPECT(hubauth_job_start_auth(a, NULL, HUBAUTH_JOB_TOKEN, NULL, NULL, &j, &err), HUBAUTH_OK);
    CHECK(j != NULL);
    memset(&ev, 0x5a, sizeof ev);
    EXPECT(hubauth_job_poll(NULL, &ev, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(ev.kind == 0x5a5a5a5a); /* not written */
    EXPECT(hubauth_job_poll(j, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(hubauth_job_poll(NULL, NULL, NULL) == HUBAUTH_ERR_NULL_ARGUMENT);
    /* The event was not taken by the failed polls. */
    EXPECT(hubauth_job_poll(j, &ev, &err), HUBAUTH_OK);
    CHECK(ev.kind == HUBAUTH_JOB_EVENT_DONE && ev.status == HUBAUTH_OK && ev.secret != NULL);
    hubauth_secret_free(ev.secret);
    hubauth_job_cancel(NULL);
    hubauth_job_free(NULL);
done:
    hubauth_job_free(j);
    free(id);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_fresh_token_done_at_start(void) {
    hubauth_error *err = NULL;
    char *id = NULL, *bearer = NULL;
    hubauth_auth *a = stored_auth(&id, NULL, 0);
    hubauth_job *j = NULL;
    hubauth_job_event ev = {0};
    notify_record rec = {0};
    CHECK(a != NULL);
    long refreshes = server_stat("refreshes");

    EXPECT(hubauth_job_start_auth(a, NULL, HUBAUTH_JOB_TOKEN, counting_notify, &rec, &j, &err), HUBAUTH_OK);
    /* Done when start returned: notify was called once, on this thread. */
    CHECK(atomic_load(&rec.calls) == 1 && atomic_load(&rec.on_main_thread));
    EXPECT(hubauth_job_poll(j, &ev, &err), HUBAUTH_OK);
    CHECK(ev.kind == HUBAUTH_JOB_EVENT_DONE && ev.status == HUBAUTH_OK && ev.error == NULL);
    CHECK(ev.secret != NULL && same(hubauth_secret_expose(ev.secret), id));
    CHECK(ev.auth == NULL && ev.url == NULL && ev.message == NULL);
    hubauth_secret_free(ev.secret);
    /* Every later poll: DONE again, same status, no result. */
    for (int i = 0; i < 3; i++) {
        EXPECT(hubauth_job_poll(j, &ev, &err), HUBAUTH_OK);
        CHECK(event_is_empty_done(&ev, HUBAUTH_OK));
    }
    hubauth_job_free(j);
    j = NULL;
    CHECK(atomic_load(&rec.calls) == 1);

    EXPECT(hubauth_job_start_auth(a, NULL, HUBAUTH_JOB_AUTHORIZATION, counting_notify, &rec, &j, &err),
           HUBAUTH_OK);
    CHECK(atomic_load(&rec.calls) == 2 && atomic_load(&rec.on_main_thread));
    EXPECT(hubauth_job_poll(j, &ev, &err), HUBAUTH_OK);
    CHECK(ev.kind == HUBAUTH_JOB_EVENT_DONE && ev.status == HUBAUTH_OK && ev.secret != NULL);
    bearer = malloc(strlen(id) + 8);
    CHECK(bearer != NULL);
    snprintf(bearer, strlen(id) + 8, "Bearer %s", id);
    CHECK(same(hubauth_secret_expose(ev.secret), bearer));
    hubauth_secret_free(ev.secret);
    CHECK(server_stat("refreshes") == refreshes); /* no network */
done:
    free(bearer);
    hubauth_job_free(j);
    free(id);
    hubauth_auth_free(a);
    hubauth_error_free(err);
}

static void case_due_token_refreshed_on_the_library_thread(void) {
    hubauth_error *err = NULL;
    char *stored_id = NULL, *after = NULL;
    hubauth_auth *a = due_auth(&stored_id);
    hubauth_job *j = NULL;
    hubauth_job_event ev = {0};
    notify_record rec = {0};
    CHECK(a != NULL);
    long expires_before = (long)hubauth_auth_expires_at(a);
    EXPECT(hubauth_job_start_auth(a, NULL, HUBAUTH_JOB_TOKEN, counting_notify, &rec, &j, &err), HUBAUTH_OK);
    CHECK(poll_until_done(j, &ev, 20.0));
    CHECK(ev.status == HUBAUTH_OK && ev.secret != NULL);
    CHECK(!same(hubauth_secret_expose(ev.secret), stored_id));
    after = token_of(a); /* the auth was refreshed in place */
    CHECK(same(after, hubauth_secret_expose(ev.secret)));
    hubauth_secret_free(ev.secret);
    CHECK(atomic_load(&rec.calls) >= 1 && !atomic_load(&rec.on_main_thread));
    CHECK(server_stat("refreshes") == 1);
    CHECK((long)hubauth_auth_expires_at(a) > expires_before);
done:
    hubauth_job_free(j);
    free(after);
    free(stored_id);
    hubauth_auth_free(a);
    hubauth_error_free(err);
}

/* Waits for `fd` to be readable and reads the 8-byte counter. */
static bool wait_fd(int fd, double limit_s, uint64_t *value) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(limit_s * 1000)) != 1) return false;
    return read(fd, value, sizeof *value) == (ssize_t)sizeof *value;
}

/* Drives `j` with its notify writing to `fd` (an eventfd or a pipe's read
 * end): poll once after start, then wait for the fd and poll until NONE. */
static bool run_on_fd(hubauth_job *j, int fd, hubauth_job_event *ev, int *wakeups) {
    double limit = now_seconds() + 20.0;
    for (;;) {
        for (;;) {
            if (hubauth_job_poll(j, ev, NULL) != HUBAUTH_OK) return false;
            if (ev->kind == HUBAUTH_JOB_EVENT_DONE) return true;
            if (ev->kind == HUBAUTH_JOB_EVENT_NONE) break;
        }
        uint64_t value = 0;
        if (now_seconds() > limit || !wait_fd(fd, limit - now_seconds(), &value) || value == 0) return false;
        (*wakeups)++;
    }
}

static void case_notify_fd(void) {
    hubauth_error *err = NULL;
    char path[1024], *id = NULL;
    hubauth_auth *a = stored_auth(&id, path, sizeof path);
    hubauth_options *o = NULL;
    hubauth_job *j = NULL;
    hubauth_job_event ev = {0};
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), pipe_fds[2] = {-1, -1}, wakeups = 0;
    char *toml = NULL, *saved_id = NULL, *stored = NULL, *stored_id = NULL;
    uint64_t value = 0;
    CHECK(a != NULL && efd >= 0);

    /* By hand: writes 1, keeps errno, also when the write fails. */
    errno = ERANGE;
    hubauth_notify_fd((void *)(intptr_t)efd);
    CHECK(errno == ERANGE);
    CHECK(read(efd, &value, sizeof value) == (ssize_t)sizeof value && value == 1);
    errno = ERANGE;
    hubauth_notify_fd((void *)(intptr_t)-1);
    CHECK(errno == ERANGE);

    /* A CHECK job (always asks the server: runs on the library's thread). */
    EXPECT(hubauth_job_start_auth(a, NULL, HUBAUTH_JOB_CHECK, hubauth_notify_fd, (void *)(intptr_t)efd, &j, &err),
           HUBAUTH_OK);
    CHECK(run_on_fd(j, efd, &ev, &wakeups));
    diag("CHECK job: %d eventfd wakeups", wakeups);
    CHECK(ev.status == HUBAUTH_OK && ev.valid && ev.error == NULL && ev.secret == NULL && ev.auth == NULL);
    CHECK(wakeups >= 1);
    hubauth_job_free(j);
    j = NULL;

    /* A LOGOUT job notifying through a non-blocking pipe. */
    CHECK(pipe(pipe_fds) == 0);
    CHECK(fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK) == 0 && fcntl(pipe_fds[1], F_SETFL, O_NONBLOCK) == 0);
    CHECK((o = test_options(path)) != NULL);
    CHECK(file_mode(path) == 0600);
    wakeups = 0;
    EXPECT(hubauth_job_start(o, HUBAUTH_JOB_LOGOUT, hubauth_notify_fd, (void *)(intptr_t)pipe_fds[1], &j, &err),
           HUBAUTH_OK);
    hubauth_options_free(o); /* the options were copied */
    o = NULL;
    CHECK(run_on_fd(j, pipe_fds[0], &ev, &wakeups));
    diag("LOGOUT job: %d pipe wakeups", wakeups);
    if (ev.status != HUBAUTH_OK) diag("LOGOUT: %s", hubauth_error_message(ev.error));
    CHECK(ev.status == HUBAUTH_OK && ev.error == NULL);
    CHECK(file_mode(path) == -1); /* forgotten */
    hubauth_job_free(j);
    j = NULL;

    /* A SAVE_TOKEN job puts a token back, on the library's thread: the
     * token is copied at start (the caller's buffer is wiped at once), the
     * file is written 0600, and a bad token ends in an error, nothing written. */
    CHECK((toml = issue_token(3600)) != NULL && (saved_id = toml_string(toml, "id_token")) != NULL);
    CHECK((o = test_options(path)) != NULL);
    wakeups = 0;
    EXPECT(hubauth_job_start_save_token(o, "not an auth.toml", hubauth_notify_fd, (void *)(intptr_t)efd, &j,
                                        &err),
           HUBAUTH_OK);
    CHECK(run_on_fd(j, efd, &ev, &wakeups));
    CHECK(ev.status == HUBAUTH_ERR_INVALID_ARGUMENT && ev.error != NULL);
    CHECK(strstr(hubauth_error_message(ev.error), "not an auth.toml") == NULL); /* never echoed */
    hubauth_error_free(ev.error);
    ev.error = NULL;
    CHECK(file_mode(path) == -1);
    hubauth_job_free(j);
    j = NULL;
    EXPECT(hubauth_job_start_save_token(o, toml, hubauth_notify_fd, (void *)(intptr_t)efd, &j, &err), HUBAUTH_OK);
    memset(toml, 'x', strlen(toml));
    CHECK(run_on_fd(j, efd, &ev, &wakeups));
    diag("SAVE_TOKEN jobs: %d eventfd wakeups", wakeups);
    if (ev.status != HUBAUTH_OK) diag("SAVE_TOKEN: %s", hubauth_error_message(ev.error));
    CHECK(ev.status == HUBAUTH_OK && ev.error == NULL && ev.auth == NULL && ev.secret == NULL);
    CHECK(file_mode(path) == 0600);
    CHECK((stored = read_file(path, NULL)) != NULL && (stored_id = toml_string(stored, "id_token")) != NULL);
    CHECK(strcmp(stored_id, saved_id) == 0);
done:
    if (ev.status != HUBAUTH_OK) hubauth_error_free(ev.error);
    hubauth_job_free(j);
    hubauth_options_free(o);
    if (efd >= 0) close(efd);
    if (pipe_fds[0] >= 0) close(pipe_fds[0]);
    if (pipe_fds[1] >= 0) close(pipe_fds[1]);
    free(id);
    free(toml);
    free(saved_id);
    free(stored);
    free(stored_id);
    hubauth_auth_free(a);
    hubauth_error_free(err);
}

static void case_uv_device_login(void) {
    char path[1024], prefix[256];
    hubauth_options *o = login_options(case_token_path(path, sizeof path));
    uv_job_run r = {.visit_login = true, .cancel_ms = -1};
    char *current_user = NULL;
    hubauth_auth *current = NULL;
    CHECK(o != NULL);
    r.options = o;
    CHECK(run_on_uv(&r, 25.0));
    CHECK(!r.timed_out && !r.bad_event);
    if (r.status != HUBAUTH_OK) diag("DONE status %d: %s", (int)r.status, hubauth_error_message(r.result_error));
    CHECK(r.status == HUBAUTH_OK && r.result_auth != NULL && r.result_error == NULL);
    CHECK(r.done_again_ok);
    CHECK(r.dones == 1 && r.logins == 1 && r.async_calls >= 2);
    snprintf(prefix, sizeof prefix, "%s/auth/device?user_code=", g_server.url);
    /* The complete verification URL carries the code, so the event's
     * user_code may be NULL (the code is shown only when the URL lacks it). */
    if (!starts_with(r.url, prefix)) diag("LOGIN url %s", r.url);
    CHECK(starts_with(r.url, prefix));
    CHECK(r.visit_status == 200);
    CHECK(server_stat("browser_visits") == 1);
    CHECK(server_stat("device_tokens_issued") == 1);
    CHECK(check_saved_login(r.result_auth, path));
    /* The new authentication is also the current one. */
    current = hubauth_current();
    current_user = hubauth_auth_username(current);
    CHECK(same(current_user, "alice"));
    CHECK(loop_kept_ticking(&r));
done:
    hubauth_string_free(current_user);
    hubauth_auth_free(current);
    free_run_results(&r);
    hubauth_options_free(o);
}

/* How long the test server holds the refresh reply: longer than every gap
 * bound (VALGRIND_MAX_GAP_MS too), so a refresh that blocked the loop's
 * thread would show as a gap over the bound; a plain refresh takes ~30 ms,
 * under any bound. */
#define REFRESH_DELAY_MS 600
#define STR_(x) #x
#define XSTR(x) STR_(x)

static void case_uv_token_refresh(void) {
    char *stored_id = NULL, *after = NULL;
    uv_job_run r = {.cancel_ms = -1};
    hubauth_auth *a = due_auth(&stored_id);
    CHECK(a != NULL);
    CHECK(server_ok("POST", "/_test/config", "{\"refresh_reply_delay_ms\": " XSTR(REFRESH_DELAY_MS) "}"));
    long expires_before = (long)hubauth_auth_expires_at(a);
    r.auth = a;
    CHECK(run_on_uv(&r, 25.0));
    diag("the poll right after start gave %s", r.first_poll_none ? "NONE" : "an event");
    CHECK(r.first_poll_none); /* the refresh runs on the library's thread */
    CHECK(r.ran_ms >= REFRESH_DELAY_MS); /* the loop lived through the held refresh */
    CHECK(!r.timed_out && !r.bad_event);
    if (r.status != HUBAUTH_OK) diag("DONE status %d: %s", (int)r.status, hubauth_error_message(r.result_error));
    CHECK(r.status == HUBAUTH_OK && r.result_secret != NULL && r.result_auth == NULL);
    CHECK(r.done_again_ok && r.dones == 1 && r.logins == 0);
    CHECK(!same(hubauth_secret_expose(r.result_secret), stored_id));
    after = token_of(a);
    CHECK(same(after, hubauth_secret_expose(r.result_secret)));
    CHECK(server_stat("refreshes") == 1);
    CHECK((long)hubauth_auth_expires_at(a) > expires_before);
    CHECK(loop_kept_ticking(&r));
done:
    free(after);
    free(stored_id);
    free_run_results(&r);
    hubauth_auth_free(a);
}

static void case_uv_cancelled_login(void) {
    char path[1024];
    hubauth_options *o = login_options(case_token_path(path, sizeof path));
    uv_job_run r = {.cancel_ms = 300}; /* nobody visits: the login waits */
    CHECK(o != NULL);
    r.options = o;
    CHECK(run_on_uv(&r, 25.0));
    double after_cancel = r.done_at - r.cancelled_at;
    diag("DONE %.1f ms after hubauth_job_cancel", after_cancel * 1000);
    CHECK(!r.timed_out && !r.bad_event);
    CHECK(r.logins == 1 && r.dones == 1 && r.done_again_ok);
    CHECK(r.cancelled_at > 0 && after_cancel >= 0 && after_cancel < 1.0);
    CHECK(r.status == HUBAUTH_ERR_CANCELLED && r.result_auth == NULL);
    CHECK(hubauth_error_code(r.result_error) == HUBAUTH_ERR_CANCELLED);
    CHECK(server_stat("device_tokens_issued") == 0);
    CHECK(file_mode(path) == -1); /* nothing written */
    CHECK(loop_kept_ticking(&r));
done:
    free_run_results(&r);
    hubauth_options_free(o);
}

/* After its job was freed, a waiting login's thread ends by itself: 0.5 s
 * later (its poll interval is 1 s) no poll reaches the server for 1.3 s. */
static bool login_polls_stopped(void) {
    sleep_seconds(0.5);
    long polls = server_stat("device_token_polls");
    sleep_seconds(1.3);
    return server_stat("device_token_polls") == polls;
}

typedef struct {
    hubauth_job *job;
    notify_record *rec;
    int calls_at_free;
} free_thread;

static void *free_thread_main(void *arg) {
    free_thread *t = arg;
    hubauth_job_free(t->job);
    atomic_store(&t->rec->freed, true);
    t->calls_at_free = atomic_load(&t->rec->calls);
    return NULL;
}

static void case_free_from_another_thread_while_waiting(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = login_options(case_token_path(path, sizeof path));
    hubauth_job *j = NULL;
    hubauth_job_event ev = {0};
    notify_record rec = {0};
    free_thread t = {.rec = &rec};
    pthread_t thread;
    bool login = false;
    CHECK(o != NULL);
    EXPECT(hubauth_job_start(o, HUBAUTH_JOB_AUTHENTICATE, counting_notify, &rec, &j, &err), HUBAUTH_OK);
    /* Wait for the LOGIN event, then for the job to be in its poll wait. */
    double limit = now_seconds() + 10.0;
    while (!login && now_seconds() < limit) {
        EXPECT(hubauth_job_poll(j, &ev, &err), HUBAUTH_OK);
        CHECK(ev.kind != HUBAUTH_JOB_EVENT_DONE);
        login = ev.kind == HUBAUTH_JOB_EVENT_LOGIN;
        if (ev.kind == HUBAUTH_JOB_EVENT_NONE) sleep_seconds(0.01);
    }
    CHECK(login);
    while (server_stat("device_token_polls") < 1 && now_seconds() < limit) sleep_seconds(0.02);
    sleep_seconds(0.2);
    CHECK(atomic_load(&rec.calls) >= 1);

    t.job = j;
    CHECK(pthread_create(&thread, NULL, free_thread_main, &t) == 0);
    j = NULL; /* the thread frees it */
    pthread_join(thread, NULL);
    /* The job's thread ends by itself: its polls stop within a fraction of
     * a second (the interval is 1 s), and it never notifies again. */
    CHECK(login_polls_stopped());
    diag("%d notify calls before the free, %d after", t.calls_at_free,
         atomic_load(&rec.calls) - t.calls_at_free);
    CHECK(atomic_load(&rec.calls_after_free) == 0);
    CHECK(atomic_load(&rec.calls) == t.calls_at_free);
    CHECK(server_stat("device_tokens_issued") == 0);
    CHECK(file_mode(path) == -1);
done:
    hubauth_job_free(j);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

/* A notify that frees its job, on the library's thread, at its first call. */
typedef struct {
    _Atomic(hubauth_job *) job;
    atomic_int calls;
    atomic_int calls_after_free;
    atomic_bool freed;
    atomic_bool freed_off_main; /* the free ran on another thread than main's */
} self_freeing;

static void freeing_notify(void *arg) {
    self_freeing *f = arg;
    atomic_fetch_add(&f->calls, 1);
    if (atomic_load(&f->freed)) {
        atomic_fetch_add(&f->calls_after_free, 1);
        return;
    }
    hubauth_job *j = atomic_exchange(&f->job, NULL);
    if (j == NULL) return; /* before main stored it: not this time */
    hubauth_job_free(j);
    atomic_store(&f->freed_off_main, pthread_equal(pthread_self(), g_main_thread) == 0);
    atomic_store(&f->freed, true);
}

static void case_free_from_inside_notify(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = login_options(case_token_path(path, sizeof path));
    hubauth_job *j = NULL;
    /* Static: should this case fail while a notify still runs, the notify
     * must not write into a dead stack frame. */
    static self_freeing f;
    atomic_store(&f.job, NULL);
    atomic_store(&f.calls, 0);
    atomic_store(&f.calls_after_free, 0);
    atomic_store(&f.freed, false);
    atomic_store(&f.freed_off_main, false);
    CHECK(o != NULL);
    EXPECT(hubauth_job_start(o, HUBAUTH_JOB_AUTHENTICATE, freeing_notify, &f, &j, &err), HUBAUTH_OK);
    /* The first notify (LOGIN) comes after a request to the server, well
     * after this store. */
    atomic_store(&f.job, j);
    j = NULL;
    double limit = now_seconds() + 10.0;
    while (!atomic_load(&f.freed) && now_seconds() < limit) sleep_seconds(0.01);
    CHECK(atomic_load(&f.freed) && atomic_load(&f.freed_off_main));
    /* Its thread ends by itself: the login's polls stop, no notify follows. */
    CHECK(login_polls_stopped());
    diag("%d notify calls, %d after the free", atomic_load(&f.calls), atomic_load(&f.calls_after_free));
    CHECK(atomic_load(&f.calls_after_free) == 0);
    CHECK(server_stat("device_tokens_issued") == 0);
    CHECK(file_mode(path) == -1);
done:
    j = atomic_exchange(&f.job, NULL); /* not freed by the notify: ours */
    hubauth_job_free(j);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

/* ---------------------------------------------------------------- main */

static const test_case CASES[] = {
    {"job kinds: unknown, or given to the wrong start, give INVALID_ARGUMENT", case_bad_kinds},
    {"job: NULL arguments give NULL_ARGUMENT; a NULL notify is allowed", case_null_arguments},
    {"job: a fresh token's job is DONE when start returns (notify once, inline)", case_fresh_token_done_at_start},
    {"job: a due token is refreshed on the library's thread", case_due_token_refreshed_on_the_library_thread},
    {"job: hubauth_notify_fd with an eventfd (CHECK, SAVE_TOKEN) and a pipe (LOGOUT)", case_notify_fd},
    {"uv: device login, open_browser=false, URL visited from a work item; loop keeps ticking",
     case_uv_device_login},
    {"uv: a due token refreshed by a TOKEN job; loop keeps ticking", case_uv_token_refresh},
    {"uv: a login cancelled from a timer after LOGIN: CANCELLED within 1 s; loop keeps ticking",
     case_uv_cancelled_login},
    {"job freed from another thread while it waits for a login: no notify after free",
     case_free_from_another_thread_while_waiting},
    {"job freed from inside its notify, on the library's thread: no notify after free",
     case_free_from_inside_notify},
};
int main(int argc, char **argv) {
    g_main_thread = pthread_self();
    int status = harness_start(argc, argv, "hubauth-c-jobs");
    if (status != 0) return status;
    printf("# hubauth %s, libuv %s, test server %s, temp dir %s\n", hubauth_version(), uv_version_string(),
           g_server.url, g_tmp);
    return harness_run(CASES, sizeof CASES / sizeof CASES[0]);
}
