/*
 * C tests of hubauth, written only from include/hubauth.h and linked against
 * libhubauth. They drive the juliahub provider through the C ABI against the
 * real test server (tests/servers), which this program starts as a child with
 * a pipe on its stdin and stops at the end.
 *
 * usage: test_hubauth [path/to/hubauth-test-server]   (or $HUBAUTH_TEST_SERVER)
 * Output is TAP-like: `ok N - name` / `not ok N - name`, then `N passed, M failed`.
 * Diagnostics never show a token value: tokens are compared, never printed.
 */
#define _XOPEN_SOURCE 700

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "hubauth.h"

/* ------------------------------------------------------- small helpers */

static char g_depot_token[1024]; /* <depot>/servers/127.0.0.1_PORT/auth.toml */

static bool contains(const char *haystack, const char *needle) {
    return haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
}

static int write_token_file(const char *path, const char *toml, unsigned mode) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    if (make_dirs(dir) != 0) return -1;
    return write_file(path, toml, strlen(toml), mode);
}

/* A login hook: records the URL and, like a user's browser, visits it. */
typedef struct {
    int calls;
    int answer;         /* what the hook returns: 0 go on, nonzero cancel */
    bool visit;         /* GET the URL (approves the login on the test server) */
    int visit_status;   /* HTTP status of the last visit */
    int frees;          /* calls of count_free (hubauth_options_set_hook_full) */
    char url[2048];     /* the last URL */
} hook_record;

/* A free_userdata for hubauth_options_set_hook_full: counts its calls. */
static void count_free(void *userdata) {
    ((hook_record *)userdata)->frees++;
}

static int32_t recording_hook(void *userdata, const char *url) {
    hook_record *h = userdata;
    h->calls++;
    snprintf(h->url, sizeof h->url, "%s", url ? url : "");
    if (h->visit) {
        http_response r;
        h->visit_status = http_request("GET", url, NULL, NULL, &r) == 0 ? r.status : 0;
        http_response_free(&r);
    }
    return h->answer;
}


/* A log callback's record (hubauth_options_set_log). The library may call
 * it from a job's thread, so it is guarded by a mutex. */
typedef struct {
    pthread_mutex_t lock;
    int calls;
    int warnings;        /* calls with HUBAUTH_LOG_WARN */
    int frees;           /* calls of count_log_free */
    bool off_thread;     /* a call came from another thread than `caller` */
    pthread_t caller;
    char last[2048];     /* the last warning */
} log_record;

static void log_record_init(log_record *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->caller = pthread_self();
}

static void recording_log(void *userdata, int32_t level, const char *message) {
    log_record *r = userdata;
    pthread_mutex_lock(&r->lock);
    r->calls++;
    if (!pthread_equal(pthread_self(), r->caller)) r->off_thread = true;
    if (level == HUBAUTH_LOG_WARN) {
        r->warnings++;
        snprintf(r->last, sizeof r->last, "%s", message ? message : "(NULL)");
    }
    pthread_mutex_unlock(&r->lock);
}

static void count_log_free(void *userdata) {
    log_record *r = userdata;
    pthread_mutex_lock(&r->lock);
    r->frees++;
    pthread_mutex_unlock(&r->lock);
}

static int log_frees(log_record *r) {
    pthread_mutex_lock(&r->lock);
    int frees = r->frees;
    pthread_mutex_unlock(&r->lock);
    return frees;
}

/* fd 2 into a file while a call runs, so a test can read what reached it. */
typedef struct {
    int saved;
    char path[1024];
} stderr_capture;

static int stderr_capture_start(stderr_capture *c) {
    char base[1024];
    /* Beside the case's token file (case_token_path creates the directory). */
    case_token_path(base, sizeof base);
    *strrchr(base, '/') = '\0';
    snprintf(c->path, sizeof c->path, "%.1000s/stderr", base);
    fflush(stderr);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    c->saved = fd < 0 ? -1 : dup(2);
    if (fd < 0 || c->saved < 0 || dup2(fd, 2) < 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Restores fd 2; returns what was written to it (malloc'd), or NULL. */
static char *stderr_capture_end(stderr_capture *c) {
    fflush(stderr);
    if (c->saved >= 0) {
        dup2(c->saved, 2);
        close(c->saved);
        c->saved = -1;
    }
    size_t len = 0;
    return read_file(c->path, &len);
}

/* A token file others can read (hubauth warns, once per file and process)
 * in a directory whose name holds an escape sequence. */
static bool write_loose_token_file(char *path, size_t size) {
    char base[1024], dir[1024];
    /* The case's own directory (case_token_path), with an evil subdirectory. */
    case_token_path(base, sizeof base);
    *strrchr(base, '/') = '\0';
    snprintf(dir, sizeof dir, "%.1000s/evil\x1b[2J", base);
    snprintf(path, size, "%s/auth.toml", dir);
    char *toml = issue_token(3600);
    bool ok = toml != NULL && write_token_file(path, toml, 0644) == 0 && chmod(path, 0644) == 0;
    free(toml);
    return ok;
}

/* --------------------------------------------------------------- cases */

static void case_version_and_no_current(void) {
    const char *v = hubauth_version();
    CHECK(v != NULL && v[0] != '\0');
    CHECK(v[0] >= '0' && v[0] <= '9' && strchr(v, '.') != NULL);
#ifdef HUBAUTH_EXPECTED_VERSION
    CHECK(strcmp(v, HUBAUTH_EXPECTED_VERSION) == 0);
#endif
    CHECK(hubauth_version() == v); /* static */
    /* Nothing has authenticated in this process yet. */
    CHECK(hubauth_current() == NULL);
done:;
}

static void case_free_accepts_null(void) {
    hubauth_options_free(NULL);
    hubauth_auth_free(NULL);
    hubauth_secret_free(NULL);
    hubauth_error_free(NULL);
    hubauth_string_free(NULL);
}

static void case_secret(void) {
    char source[] = "not-a-real-token-123";
    hubauth_secret *s = hubauth_secret_new(source);
    hubauth_secret *empty = hubauth_secret_new("");
    CHECK(s != NULL);
    CHECK(hubauth_secret_len(s) == strlen(source));
    const char *exposed = hubauth_secret_expose(s);
    CHECK(exposed != NULL && strcmp(exposed, "not-a-real-token-123") == 0);
    CHECK(exposed != source);                      /* a copy ... */
    memset(source, 'x', sizeof source - 1);
    CHECK(strcmp(hubauth_secret_expose(s), "not-a-real-token-123") == 0); /* ... that keeps its value */
    CHECK(hubauth_secret_expose(s) == exposed);    /* stable until freed */
    CHECK(empty != NULL && hubauth_secret_len(empty) == 0 && strcmp(hubauth_secret_expose(empty), "") == 0);
    CHECK(hubauth_secret_new(NULL) == NULL);
    CHECK(hubauth_secret_new("bad \xff utf-8") == NULL);
    CHECK(hubauth_secret_expose(NULL) == NULL);
    CHECK(hubauth_secret_len(NULL) == 0);
done:
    hubauth_secret_free(s);
    hubauth_secret_free(empty);
}

static void case_error_accessors_on_null(void) {
    CHECK(hubauth_error_code(NULL) == HUBAUTH_ERR_NULL_ARGUMENT);
    const char *message = hubauth_error_message(NULL);
    CHECK(message != NULL && message[0] == '\0');
done:;
}

static void case_null_arguments(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = test_options(NULL);
    hubauth_auth *a = NULL;
    /* Sentinels: out-parameters must be written only on success. */
    hubauth_auth *sentinel_auth = (hubauth_auth *)(uintptr_t)0x1234;
    hubauth_secret *sentinel_secret = (hubauth_secret *)(uintptr_t)0x5678;
    hubauth_auth *out_auth = sentinel_auth;
    hubauth_secret *out_secret = sentinel_secret;
    bool valid = true;
    CHECK(o != NULL);

    EXPECT(hubauth_options_set(NULL, "server", "http://127.0.0.1:1", &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(err != NULL && hubauth_error_code(err) == HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(hubauth_error_message(err)[0] != '\0');
    EXPECT(hubauth_options_set(o, NULL, "x", &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(contains(hubauth_error_message(err), "key"));
    EXPECT(hubauth_options_set(o, "server", NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(contains(hubauth_error_message(err), "value"));
    /* err may be NULL: the status alone tells. */
    EXPECT(hubauth_options_set(NULL, "server", "x", NULL), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_options_set_hook(NULL, recording_hook, NULL), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_options_set_hook(o, NULL, NULL), HUBAUTH_OK); /* NULL hook clears it */

    EXPECT(hubauth_authenticate(NULL, &out_auth, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(out_auth == sentinel_auth);
    EXPECT(hubauth_authenticate(o, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_save_token(NULL, "x", &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_save_token(o, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_logout(NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_reauthenticate(NULL, o, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_reauthenticate(NULL, NULL, NULL), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_check(NULL, &valid, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(valid == true);
    EXPECT(hubauth_token(NULL, &out_secret, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(out_secret == sentinel_secret);

    /* A real auth for the calls that need one: a token given by the caller,
     * not validated, so nothing touches the network or a file. */
    EXPECT(hubauth_options_set(o, "token", "not-a-real-token", &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set(o, "validate", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    CHECK(a != NULL);
    EXPECT(hubauth_check(a, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_token(a, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_token(a, &out_secret, &err), HUBAUTH_OK);
    CHECK(out_secret != sentinel_secret && strcmp(hubauth_secret_expose(out_secret), "not-a-real-token") == 0);

    /* Accessors have no status: NULL in gives NULL / -1 out. */
    CHECK(hubauth_auth_server(NULL) == NULL);
    CHECK(hubauth_auth_username(NULL) == NULL);
    CHECK(hubauth_auth_expires_at(NULL) == -1);
    CHECK(hubauth_auth_expires_at(a) == -1); /* a bare token: expiry unknown */
done:
    if (out_secret != sentinel_secret) hubauth_secret_free(out_secret);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_invalid_utf8(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = test_options(NULL);
    CHECK(o != NULL);
    EXPECT(hubauth_options_set(o, "serv\xff" "er", "x", &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(contains(hubauth_error_message(err), "UTF-8"));
    EXPECT(hubauth_options_set(o, "server", "http://127.0.0.1:1/\xc3\x28", &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(hubauth_error_code(err) == HUBAUTH_ERR_INVALID_ARGUMENT);
    EXPECT(hubauth_options_set(o, "token", "\xed\xa0\x80", &err), HUBAUTH_ERR_INVALID_ARGUMENT); /* a surrogate */
    EXPECT(hubauth_save_token(o, "id_token = \"\xff\"\n", &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(contains(hubauth_error_message(err), "UTF-8"));
done:
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_unknown_option_and_bad_values(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = hubauth_options_new();
    hubauth_auth *a = NULL;
    CHECK(o != NULL);
    EXPECT(hubauth_options_set(o, "no_such_option", "1", &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(contains(hubauth_error_message(err), "no_such_option"));
    CHECK(contains(hubauth_error_message(err), "server")); /* lists the known keys */
    EXPECT(hubauth_options_set(o, "force", "yes", &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(contains(hubauth_error_message(err), "force"));
    EXPECT(hubauth_options_set(o, "maxcount", "0", &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    EXPECT(hubauth_options_set(o, "timeout_ms", "soon", &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    EXPECT(hubauth_options_set(o, "provider", "nope", &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    EXPECT(hubauth_options_set(o, "provider", "juliahub", &err), HUBAUTH_OK);
    /* An empty value unsets a string option: with no server (and no
     * JULIA_PKG_SERVER) authenticate says what is missing. */
    EXPECT(hubauth_options_set(o, "server", g_server.url, &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set(o, "server", "", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(a == NULL);
    CHECK(contains(hubauth_error_message(err), "JULIA_PKG_SERVER"));
done:
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_valid_stored_token(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = test_options(NULL); /* the depot's auth.toml */
    hubauth_auth *a = NULL;
    char *toml = issue_token(3600), *stored_id = NULL, *token = NULL, *user = NULL;
    CHECK(o != NULL && toml != NULL);
    stored_id = toml_string(toml, "id_token");
    CHECK(stored_id != NULL);
    remove(g_depot_token);
    CHECK(write_token_file(g_depot_token, toml, 0600) == 0);

    EXPECT(hubauth_options_set(o, "validate", "true", &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    CHECK(err == NULL);
    CHECK(server_stat("api_v1_calls") == 1); /* validate asked /api/v1 */
    user = hubauth_auth_username(a);
    CHECK(same(user, "alice"));
    token = token_of(a);
    CHECK(same(token, stored_id));
    CHECK(server_stat("refreshes") == 0);
    CHECK(server_stat("device_code_requests") == 0 && server_stat("challenges") == 0);
done:
    hubauth_string_free(user);
    free(token);
    free(stored_id);
    free(toml);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_auth_accessors(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    char *toml = issue_token(3600), *server = NULL, *server2 = NULL, *user = NULL;
    CHECK(o != NULL && toml != NULL);
    CHECK(write_token_file(path, toml, 0600) == 0);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);

    server = hubauth_auth_server(a);
    server2 = hubauth_auth_server(a);
    CHECK(same(server, g_server.url));  /* normalised: no trailing slash */
    CHECK(server != server2);           /* each call: a new string the caller owns */
    user = hubauth_auth_username(a);
    CHECK(same(user, "alice"));
    long expires_at = toml_int(toml, "expires_at", -2);
    CHECK(expires_at > 0);
    CHECK(hubauth_auth_expires_at(a) == expires_at);
    CHECK(expires_at > (long)time(NULL) + 3500);
done:
    hubauth_string_free(server);
    hubauth_string_free(server2);
    hubauth_string_free(user);
    free(toml);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_current_is_a_new_reference(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL, *c1 = NULL, *c2 = NULL;
    char *toml = issue_token(3600), *id = NULL, *t1 = NULL, *server = NULL, *user = NULL;
    CHECK(o != NULL && toml != NULL && (id = toml_string(toml, "id_token")) != NULL);
    CHECK(write_token_file(path, toml, 0600) == 0);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);

    c1 = hubauth_current();
    c2 = hubauth_current();
    CHECK(c1 != NULL && c2 != NULL);
    CHECK(c1 != a && c2 != a && c1 != c2); /* distinct references, each to be freed */
    /* Freeing the original leaves the others valid: they share the state. */
    hubauth_auth_free(a);
    a = NULL;
    t1 = token_of(c1);
    CHECK(same(t1, id));
    hubauth_auth_free(c1);
    c1 = NULL;
    server = hubauth_auth_server(c2);
    user = hubauth_auth_username(c2);
    CHECK(same(server, g_server.url) && same(user, "alice"));
done:
    hubauth_string_free(server);
    hubauth_string_free(user);
    free(t1);
    free(id);
    free(toml);
    hubauth_auth_free(a);
    hubauth_auth_free(c1);
    hubauth_auth_free(c2);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_expired_stored_token_is_refreshed(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = test_options(NULL); /* the depot's auth.toml */
    hubauth_auth *a = NULL;
    char *toml = issue_token(-10), *old_id = NULL, *old_refresh = NULL, *token = NULL;
    char *rewritten = NULL, *new_id = NULL, *new_refresh = NULL;
    CHECK(o != NULL && toml != NULL);
    old_id = toml_string(toml, "id_token");
    old_refresh = toml_string(toml, "refresh_token");
    CHECK(old_id != NULL && old_refresh != NULL);
    remove(g_depot_token);
    /* 0644 on purpose: the rewrite must make it 0600. */
    CHECK(write_token_file(g_depot_token, toml, 0644) == 0 && file_mode(g_depot_token) == 0644);

    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    token = token_of(a);
    CHECK(token != NULL && !same(token, old_id));
    CHECK(server_stat("refreshes") == 1);
    CHECK(file_mode(g_depot_token) == 0600);
    rewritten = read_file(g_depot_token, NULL);
    CHECK(rewritten != NULL);
    new_id = toml_string(rewritten, "id_token");
    new_refresh = toml_string(rewritten, "refresh_token");
    CHECK(same(new_id, token));                                /* saved what it hands out */
    CHECK(new_refresh != NULL && !same(new_refresh, old_refresh)); /* the refresh token rotated */
    CHECK(hubauth_auth_expires_at(a) > (long)time(NULL) + 3000);
done:
    free(new_refresh);
    free(new_id);
    free(rewritten);
    free(token);
    free(old_refresh);
    free(old_id);
    free(toml);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_short_lived_token_refreshes_once(void) {
    char *stored_id = NULL, *t[6] = {NULL};
    hubauth_auth *a = short_lived_auth(&stored_id);
    CHECK(a != NULL);
    long expires_at = (long)hubauth_auth_expires_at(a);
    CHECK(expires_at > (long)time(NULL) + 1);
    /* More than half the lifetime left: no refresh, whatever the margin says. */
    for (int i = 0; i < 3; i++) CHECK((t[i] = token_of(a)) != NULL && same(t[i], stored_id));
    CHECK(server_stat("refreshes") == 0);
    /* Within the capped margin: the next call refreshes, once. */
    sleep_until_unix(expires_at - 2);
    for (int i = 3; i < 6; i++) CHECK((t[i] = token_of(a)) != NULL);
    CHECK(!same(t[3], stored_id));
    CHECK(same(t[3], t[4]) && same(t[4], t[5]));
    CHECK(server_stat("refreshes") == 1);
    CHECK((long)hubauth_auth_expires_at(a) > expires_at);
done:
    for (int i = 0; i < 6; i++) free(t[i]);
    free(stored_id);
    hubauth_auth_free(a);
}

typedef struct {
    const hubauth_auth *auth;
    pthread_barrier_t *start;
    char *token;
} token_thread;

static void *token_thread_main(void *arg) {
    token_thread *t = arg;
    pthread_barrier_wait(t->start);
    t->token = token_of(t->auth);
    return NULL;
}

static void case_concurrent_token_calls_share_one_refresh(void) {
    enum { N = 4 };
    char *stored_id = NULL;
    pthread_barrier_t start;
    pthread_t threads[N];
    token_thread work[N];
    int started = 0;
    bool barrier = false;
    hubauth_auth *a = short_lived_auth(&stored_id);
    CHECK(a != NULL);
    CHECK(pthread_barrier_init(&start, NULL, N) == 0);
    barrier = true;
    sleep_until_unix((long)hubauth_auth_expires_at(a) - 2);
    for (; started < N; started++) {
        work[started] = (token_thread){.auth = a, .start = &start, .token = NULL};
        CHECK(pthread_create(&threads[started], NULL, token_thread_main, &work[started]) == 0);
    }
done:
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    if (g_case_ok && started == N) {
        bool all_same = true;
        for (int i = 0; i < N; i++) all_same = all_same && same(work[i].token, work[0].token);
        if (!all_same || same(work[0].token, stored_id)) {
            check_failed(__FILE__, __LINE__, "every thread got the same, refreshed token");
        } else if (server_stat("refreshes") != 1) {
            check_failed(__FILE__, __LINE__, "server_stat(\"refreshes\") == 1");
        }
    }
    for (int i = 0; i < started; i++) free(work[i].token);
    if (barrier) pthread_barrier_destroy(&start);
    free(stored_id);
    hubauth_auth_free(a);
}

static void case_classic_login_through_hook(void) {
    hubauth_error *err = NULL;
    char path[1024], prefix[256];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    hook_record hook = {.visit = true};
    CHECK(o != NULL);
    CHECK(server_ok("POST", "/_test/config", "{\"flow\": \"classic\"}"));
    EXPECT(hubauth_options_set_hook(o, recording_hook, &hook), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);

    snprintf(prefix, sizeof prefix, "%s/auth/response?", g_server.url);
    CHECK(hook.calls == 1);
    CHECK(starts_with(hook.url, prefix));
    CHECK(hook.visit_status == 200);
    CHECK(server_stat("browser_visits") == 1);
    CHECK(server_stat("tokens_claimed") == 1);
    CHECK(server_stat("device_code_requests") == 0);
    CHECK(check_saved_login(a, path));
done:
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_device_login_through_hook(void) {
    hubauth_error *err = NULL;
    char path[1024], prefix[256];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    hook_record hook = {.visit = true};
    CHECK(o != NULL);
    /* Default server config: device flow, interval 1 s. */
    EXPECT(hubauth_options_set_hook(o, recording_hook, &hook), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);

    snprintf(prefix, sizeof prefix, "%s/auth/device?user_code=", g_server.url);
    CHECK(hook.calls == 1);
    CHECK(starts_with(hook.url, prefix));
    CHECK(hook.visit_status == 200);
    CHECK(server_stat("device_tokens_issued") == 1);
    CHECK(server_stat("too_fast_polls") == 0); /* the interval was honoured */
    CHECK(server_stat("challenges") == 0);
    CHECK(check_saved_login(a, path));
done:
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_hook_cancels(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    hook_record hook = {.answer = 1};
    double started = 0;
    CHECK(o != NULL);
    EXPECT(hubauth_options_set_hook(o, recording_hook, &hook), HUBAUTH_OK);
    started = now_seconds();
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_ERR_CANCELLED);
    double took = now_seconds() - started;
    CHECK(took < 5.0); /* at once, not after the 30 s timeout or a poll interval */
    CHECK(a == NULL);
    CHECK(hook.calls == 1);
    CHECK(server_stat("device_token_polls") == 0);
    CHECK(file_mode(path) == -1); /* nothing saved */
done:
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

/* A hook that calls back into the library for the same authentication. The
 * login running it holds the refresh lock, so a nested reauthenticate would
 * wait forever; it must fail at once with INVALID_ARGUMENT instead. */
typedef struct {
    hubauth_auth *auth;
    const hubauth_options *options;
    int calls;
    hubauth_status nested_reauth;
    hubauth_status nested_auth;
    bool message_ok;
} reentrant_record;

static int32_t reentrant_hook(void *userdata, const char *url) {
    reentrant_record *r = userdata;
    hubauth_error *err = NULL;
    hubauth_auth *nested = NULL;
    (void)url;
    r->calls++;
    r->nested_reauth = hubauth_reauthenticate(r->auth, NULL, &err);
    r->message_ok = err != NULL && contains(hubauth_error_message(err), "called from inside a hook");
    hubauth_error_free(err);
    err = NULL;
    r->nested_auth = hubauth_authenticate(r->options, &nested, &err);
    hubauth_auth_free(nested);
    hubauth_error_free(err);
    return 1; /* cancel the outer login */
}

static void case_hook_reentering_the_library_fails_at_once(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_options *forced = hubauth_options_new();
    hubauth_auth *a = NULL;
    char *toml = issue_token(3600);
    reentrant_record rec = {0};
    double started = 0;
    CHECK(o != NULL && forced != NULL && toml != NULL);
    CHECK(write_token_file(path, toml, 0600) == 0);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    rec.auth = a;
    rec.options = o;
    EXPECT(hubauth_options_set(forced, "force", "true", &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set_hook(forced, reentrant_hook, &rec), HUBAUTH_OK);
    started = now_seconds();
    EXPECT(hubauth_reauthenticate(a, forced, &err), HUBAUTH_ERR_CANCELLED);
    CHECK(now_seconds() - started < 10.0);
    CHECK(rec.calls == 1);
    CHECK(rec.nested_reauth == HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(rec.message_ok);
    CHECK(rec.nested_auth == HUBAUTH_ERR_INVALID_ARGUMENT);
    /* The handle still works after the refused nested calls. */
    EXPECT(hubauth_reauthenticate(a, NULL, &err), HUBAUTH_OK);
done:
    free(toml);
    hubauth_auth_free(a);
    hubauth_options_free(forced);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_not_interactive_without_token(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *sentinel = (hubauth_auth *)(uintptr_t)0x99;
    hubauth_auth *a = sentinel;
    CHECK(o != NULL);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_ERR_NO_CREDENTIALS);
    CHECK(a == sentinel);
    CHECK(hubauth_error_code(err) == HUBAUTH_ERR_NO_CREDENTIALS);
    CHECK(hubauth_error_message(err)[0] != '\0');
    /* No login was started. */
    CHECK(server_stat("configuration_requests") == 0);
    CHECK(server_stat("challenges") == 0 && server_stat("device_code_requests") == 0);
done:
    if (a != sentinel) hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_insecure_server(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    CHECK(o != NULL);
    EXPECT(hubauth_options_set(o, "server", "http://example.com", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_ERR_INSECURE);
    CHECK(a == NULL);
    CHECK(contains(hubauth_error_message(err), "https"));
done:
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_malformed_file_is_left_alone(void) {
    static const char malformed[] = "id_token = \"c-test-unterminated-value\nrefresh_token = [[[\n";
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    char *after = NULL;
    size_t after_len = 0;
    CHECK(o != NULL);
    CHECK(write_token_file(path, malformed, 0600) == 0);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_ERR_FORMAT);
    CHECK(a == NULL);
    CHECK(!contains(hubauth_error_message(err), "c-test-unterminated-value")); /* no file content */
    after = read_file(path, &after_len);
    CHECK(after != NULL && after_len == sizeof malformed - 1 && memcmp(after, malformed, after_len) == 0);
    CHECK(file_mode(path) == 0600);
done:
    free(after);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_check_then_revoke(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    char *toml = issue_token(3600);
    bool valid = false;
    CHECK(o != NULL && toml != NULL);
    CHECK(write_token_file(path, toml, 0600) == 0);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    EXPECT(hubauth_check(a, &valid, &err), HUBAUTH_OK);
    CHECK(valid == true);
    CHECK(server_ok("POST", "/_test/revoke", NULL));
    EXPECT(hubauth_check(a, &valid, &err), HUBAUTH_OK);
    CHECK(valid == false);
done:
    free(toml);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_reauthenticate_reads_rewritten_file(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL, *other = NULL;
    char *first = issue_token(3600), *second = issue_token(3600);
    char *first_id = NULL, *second_id = NULL, *t1 = NULL, *t2 = NULL, *t3 = NULL;
    CHECK(o != NULL && first != NULL && second != NULL);
    first_id = toml_string(first, "id_token");
    second_id = toml_string(second, "id_token");
    CHECK(first_id != NULL && second_id != NULL && !same(first_id, second_id));
    CHECK(write_token_file(path, first, 0600) == 0);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    other = hubauth_current(); /* a second holder of the same authentication */
    CHECK(other != NULL);
    CHECK(same((t1 = token_of(a)), first_id));

    /* Someone else (another process, the platform) rewrites the file. */
    CHECK(write_token_file(path, second, 0600) == 0);
    EXPECT(hubauth_reauthenticate(a, NULL, &err), HUBAUTH_OK);
    CHECK(same((t2 = token_of(a)), second_id));
    CHECK(same((t3 = token_of(other)), second_id)); /* every holder sees it */
    CHECK(server_stat("refreshes") == 0);
    CHECK(server_stat("device_code_requests") == 0 && server_stat("challenges") == 0);
done:
    free(t1);
    free(t2);
    free(t3);
    free(first_id);
    free(second_id);
    free(first);
    free(second);
    hubauth_auth_free(a);
    hubauth_auth_free(other);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_denied_login_gives_up_after_maxcount(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    hook_record hook = {0};
    CHECK(o != NULL);
    CHECK(server_ok("POST", "/_test/config",
                    "{\"flow\": \"classic\", \"deny\": true, \"auto_approve\": true}"));
    EXPECT(hubauth_options_set(o, "maxcount", "2", &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set_hook(o, recording_hook, &hook), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_ERR_AUTHENTICATION);
    CHECK(a == NULL);
    CHECK(contains(hubauth_error_message(err), "2 tries"));
    CHECK(hook.calls == 2);
    CHECK(server_stat("challenges") == 2);
    CHECK(file_mode(path) == -1);
done:
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_save_token_and_logout(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    char *toml = issue_token(3600), *id = NULL, *token = NULL;
    CHECK(o != NULL && toml != NULL && (id = toml_string(toml, "id_token")) != NULL);
    EXPECT(hubauth_save_token(o, "not an auth.toml", &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(file_mode(path) == -1);
    EXPECT(hubauth_save_token(o, toml, &err), HUBAUTH_OK);
    CHECK(file_mode(path) == 0600);
    EXPECT(hubauth_options_set(o, "overwrite", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_save_token(o, toml, &err), HUBAUTH_ERR_INVALID_ARGUMENT);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    CHECK(same((token = token_of(a)), id));
    EXPECT(hubauth_logout(o, &err), HUBAUTH_OK);
    CHECK(file_mode(path) == -1);
    EXPECT(hubauth_logout(o, &err), HUBAUTH_OK); /* nothing stored is not an error */
done:
    free(token);
    free(id);
    free(toml);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

/* authenticate with force=true, then reauthenticate with NULL options: force
 * applied to the first call only, so the second reloads the fresh token it
 * stored and logs in no second time. Fails while the core keeps force=true in
 * the options it stores for later calls (two logins). */
static void case_force_applies_to_its_call_only(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    hook_record hook = {0};
    char *first = NULL, *second = NULL;
    CHECK(o != NULL);
    CHECK(server_ok("POST", "/_test/config", "{\"auto_approve\": true, \"device_interval_s\": 0}"));
    EXPECT(hubauth_options_set(o, "force", "true", &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set_hook(o, recording_hook, &hook), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    CHECK(hook.calls == 1);
    CHECK(server_stat("device_tokens_issued") == 1);
    first = token_of(a);
    EXPECT(hubauth_reauthenticate(a, NULL, &err), HUBAUTH_OK);
    if (server_stat("device_tokens_issued") != 1 || hook.calls != 1)
        diag("a bare reauthenticate after a forced authenticate logged in again "
             "(%ld logins, %d hook calls)", server_stat("device_tokens_issued"), hook.calls);
    CHECK(server_stat("device_tokens_issued") == 1);
    CHECK(hook.calls == 1);
    second = token_of(a);
    CHECK(same(first, second));
done:
    free(first);
    free(second);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

/* ------------------------------------------------------- cancellation */

static void case_cancel_null_arguments(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = hubauth_options_new();
    hubauth_cancel *c = hubauth_cancel_new();
    CHECK(o != NULL && c != NULL);
    hubauth_cancel_trigger(NULL); /* ignored */
    hubauth_cancel_free(NULL);
    CHECK(hubauth_options_set_cancel(NULL, c) == HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(hubauth_options_set_cancel(NULL, NULL) == HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(hubauth_options_set_cancel(o, c) == HUBAUTH_OK);
    CHECK(hubauth_options_set_cancel(o, c) == HUBAUTH_OK); /* again: the old reference is dropped */
    CHECK(hubauth_options_set_cancel(o, NULL) == HUBAUTH_OK); /* clears it */
done:
    hubauth_cancel_free(c);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_cancel_triggered_before_the_call(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_cancel *c = hubauth_cancel_new();
    hubauth_auth *a = NULL;
    hook_record hook = {0};
    double took = 0;
    CHECK(o != NULL && c != NULL);
    EXPECT(hubauth_options_set_hook(o, recording_hook, &hook), HUBAUTH_OK);
    EXPECT(hubauth_options_set_cancel(o, c), HUBAUTH_OK);
    hubauth_cancel_trigger(c);
    hubauth_cancel_trigger(c); /* twice: harmless */
    double started = now_seconds();
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_ERR_CANCELLED);
    took = now_seconds() - started;
    diag("triggered before the call: returned in %.1f ms", took * 1000);
    CHECK(took < 2.0);
    CHECK(a == NULL);
    CHECK(hubauth_error_code(err) == HUBAUTH_ERR_CANCELLED);
    CHECK(hook.calls == 0);
    CHECK(server_stat("device_code_requests") == 0);
    CHECK(file_mode(path) == -1);
    /* It stays triggered. */
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_ERR_CANCELLED);
done:
    hubauth_auth_free(a);
    hubauth_cancel_free(c);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

/* Another thread: waits until the login polls, then triggers (and, with
 * `free_after`, frees its handle at once while the call still waits). */
typedef struct {
    hubauth_cancel *cancel;
    bool free_after;
    double triggered_at;
} trigger_thread;

static void *trigger_thread_main(void *arg) {
    trigger_thread *t = arg;
    double limit = now_seconds() + 10.0;
    while (server_stat("device_token_polls") < 1 && now_seconds() < limit) sleep_seconds(0.02);
    sleep_seconds(0.3); /* inside the poll interval (1 s) */
    t->triggered_at = now_seconds();
    hubauth_cancel_trigger(t->cancel);
    if (t->free_after) hubauth_cancel_free(t->cancel);
    return NULL;
}

static void cancel_a_waiting_login(bool free_after) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_cancel *c = hubauth_cancel_new();
    hubauth_auth *a = NULL;
    hook_record hook = {0}; /* nobody visits: the login waits */
    trigger_thread t = {.cancel = c, .free_after = free_after};
    pthread_t thread;
    bool started = false;
    CHECK(o != NULL && c != NULL);
    EXPECT(hubauth_options_set_hook(o, recording_hook, &hook), HUBAUTH_OK);
    EXPECT(hubauth_options_set_cancel(o, c), HUBAUTH_OK);
    CHECK(pthread_create(&thread, NULL, trigger_thread_main, &t) == 0);
    started = true;
    hubauth_status st = hubauth_authenticate(o, &a, &err);
    double returned = now_seconds();
    pthread_join(thread, NULL);
    started = false;
    if (free_after) c = NULL; /* freed by the thread */
    double took = returned - t.triggered_at;
    diag("%s: returned %.1f ms after the trigger", free_after ? "trigger then free" : "trigger",
         took * 1000);
    CHECK(st == HUBAUTH_ERR_CANCELLED);
    CHECK(hubauth_error_code(err) == HUBAUTH_ERR_CANCELLED);
    CHECK(t.triggered_at > 0 && took >= 0 && took < 2.0);
    CHECK(a == NULL);
    CHECK(hook.calls == 1);
    CHECK(server_stat("device_tokens_issued") == 0);
    CHECK(file_mode(path) == -1); /* nothing written */
done:
    if (started) pthread_join(thread, NULL);
    hubauth_auth_free(a);
    hubauth_cancel_free(c);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_cancel_from_another_thread(void) { cancel_a_waiting_login(false); }

static void case_cancel_freed_while_the_call_waits(void) { cancel_a_waiting_login(true); }

static void case_cancel_freed_before_the_call(void) {
    hubauth_error *err = NULL;
    char path[1024], *toml = issue_token(3600);
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_cancel *c = hubauth_cancel_new();
    hubauth_auth *a = NULL;
    CHECK(toml != NULL && o != NULL && c != NULL);
    CHECK(write_token_file(path, toml, 0600) == 0);
    EXPECT(hubauth_options_set_cancel(o, c), HUBAUTH_OK);
    hubauth_cancel_free(c); /* the options keep their own reference */
    c = NULL;
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
done:
    free(toml);
    hubauth_auth_free(a);
    hubauth_cancel_free(c);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_token_copy(void) {
    hubauth_error *err = NULL;
    char *id = NULL;
    hubauth_auth *a = stored_auth(&id, NULL, 0);
    char buf[4096];
    size_t len = 0, id_len = 0;
    CHECK(a != NULL);
    id_len = strlen(id);
    CHECK(id_len > 30 && id_len + 1 < sizeof buf);

    memset(buf, 'x', sizeof buf);
    EXPECT(hubauth_token_copy(a, buf, sizeof buf, &len, &err), HUBAUTH_OK);
    CHECK(err == NULL && len == id_len && strcmp(buf, id) == 0);
    CHECK(buf[id_len + 1] == 'x'); /* nothing written past the NUL */
    /* Exactly the length + NUL fits. */
    memset(buf, 'x', sizeof buf);
    len = 0;
    EXPECT(hubauth_token_copy(a, buf, id_len + 1, &len, &err), HUBAUTH_OK);
    CHECK(len == id_len && buf[id_len] == '\0' && memcmp(buf, id, id_len) == 0);

    /* One byte short: BUFFER_TOO_SMALL, *len = the length needed, buf untouched. */
    memset(buf, 'x', sizeof buf);
    len = 0;
    EXPECT(hubauth_token_copy(a, buf, id_len, &len, &err), HUBAUTH_ERR_BUFFER_TOO_SMALL);
    CHECK(len == id_len);
    CHECK(hubauth_error_code(err) == HUBAUTH_ERR_BUFFER_TOO_SMALL);
    CHECK(contains(hubauth_error_message(err), "too small"));
    CHECK(!contains(hubauth_error_message(err), id));
    for (size_t i = 0; i < sizeof buf; i++) CHECK(buf[i] == 'x');
    /* cap 0: with a buffer (untouched) or without one (asks for the length). */
    len = 0;
    EXPECT(hubauth_token_copy(a, buf, 0, &len, &err), HUBAUTH_ERR_BUFFER_TOO_SMALL);
    CHECK(len == id_len && buf[0] == 'x');
    len = 0;
    EXPECT(hubauth_token_copy(a, NULL, 0, &len, NULL), HUBAUTH_ERR_BUFFER_TOO_SMALL);
    CHECK(len == id_len);

    /* Misuse: NULL where a pointer is required; *len untouched. */
    len = 12345;
    EXPECT(hubauth_token_copy(a, NULL, 8, &len, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(len == 12345 && contains(hubauth_error_message(err), "buf"));
    EXPECT(hubauth_token_copy(a, buf, sizeof buf, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(contains(hubauth_error_message(err), "len"));
    EXPECT(hubauth_token_copy(NULL, buf, sizeof buf, &len, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(len == 12345 && buf[0] == 'x');
done:
    free(id);
    hubauth_auth_free(a);
    hubauth_error_free(err);
}

static void case_token_copy_long_and_refreshed(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = test_options(NULL);
    hubauth_auth *a = NULL;
    char *stored_id = NULL, *now = NULL;
    char given[1025], buf[1025], small[1024];
    size_t len = 0;
    memset(given, 'k', sizeof given - 1);
    given[sizeof given - 1] = '\0';
    /* A 1 KiB token given by the caller. */
    CHECK(o != NULL);
    EXPECT(hubauth_options_set(o, "token", given, &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set(o, "validate", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    EXPECT(hubauth_token_copy(a, buf, sizeof buf, &len, &err), HUBAUTH_OK);
    CHECK(len == 1024 && strcmp(buf, given) == 0);
    EXPECT(hubauth_token_copy(a, small, sizeof small, &len, &err), HUBAUTH_ERR_BUFFER_TOO_SMALL);
    CHECK(len == 1024);
    hubauth_auth_free(a);
    a = NULL;

    /* A token within its refresh margin is refreshed first, like hubauth_token. */
    a = short_lived_auth(&stored_id);
    CHECK(a != NULL);
    long expires_at = (long)hubauth_auth_expires_at(a);
    EXPECT(hubauth_token_copy(a, buf, sizeof buf, &len, &err), HUBAUTH_OK);
    CHECK(same(buf, stored_id));
    sleep_until_unix(expires_at - 2);
    EXPECT(hubauth_token_copy(a, buf, sizeof buf, &len, &err), HUBAUTH_OK);
    CHECK(!same(buf, stored_id) && len == strlen(buf));
    CHECK(server_stat("refreshes") == 1);
    now = token_of(a);
    CHECK(same(now, buf));
done:
    free(now);
    free(stored_id);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_authorization(void) {
    hubauth_error *err = NULL;
    char *id = NULL, expected[4096];
    hubauth_auth *a = stored_auth(&id, NULL, 0);
    hubauth_secret *sentinel = (hubauth_secret *)(uintptr_t)0x5678;
    hubauth_secret *header = sentinel;
    CHECK(a != NULL);
    EXPECT(hubauth_authorization(a, &header, &err), HUBAUTH_OK);
    CHECK(header != sentinel && header != NULL);
    snprintf(expected, sizeof expected, "Bearer %s", id);
    CHECK(same(hubauth_secret_expose(header), expected));
    CHECK(hubauth_secret_len(header) == strlen(expected));
    hubauth_secret_free(header);
    header = sentinel;
    EXPECT(hubauth_authorization(NULL, &header, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(header == sentinel);
    EXPECT(hubauth_authorization(a, NULL, &err), HUBAUTH_ERR_NULL_ARGUMENT);
    EXPECT(hubauth_authorization(NULL, NULL, NULL), HUBAUTH_ERR_NULL_ARGUMENT);
done:
    if (header != sentinel) hubauth_secret_free(header);
    free(id);
    hubauth_auth_free(a);
    hubauth_error_free(err);
}

static void case_hook_full_free_when_replaced_or_options_freed(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = hubauth_options_new();
    hook_record first = {0}, second = {0}, third = {0}, cleared = {0}, refused = {0};
    CHECK(o != NULL);
    /* Replaced by another hook_full, by the plain set_hook, cleared: each once. */
    EXPECT(hubauth_options_set_hook_full(o, recording_hook, &first, count_free), HUBAUTH_OK);
    CHECK(first.frees == 0);
    EXPECT(hubauth_options_set_hook_full(o, recording_hook, &second, count_free), HUBAUTH_OK);
    CHECK(first.frees == 1 && second.frees == 0);
    EXPECT(hubauth_options_set_hook(o, recording_hook, &third), HUBAUTH_OK);
    CHECK(first.frees == 1 && second.frees == 1 && third.frees == 0);
    EXPECT(hubauth_options_set_hook_full(o, recording_hook, &third, count_free), HUBAUTH_OK);
    EXPECT(hubauth_options_set_hook_full(o, NULL, NULL, NULL), HUBAUTH_OK); /* clears */
    CHECK(third.frees == 1);
    /* A NULL hook keeps nothing: its free_userdata runs at once. */
    EXPECT(hubauth_options_set_hook_full(o, NULL, &cleared, count_free), HUBAUTH_OK);
    CHECK(cleared.frees == 1);
    /* A refused call takes nothing. */
    EXPECT(hubauth_options_set_hook_full(NULL, recording_hook, &refused, count_free),
           HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(refused.frees == 0);
    /* Freeing the options frees their hook. */
    EXPECT(hubauth_options_set_hook_full(o, recording_hook, &first, count_free), HUBAUTH_OK);
    CHECK(first.frees == 1);
    hubauth_options_free(o);
    o = NULL;
    CHECK(first.frees == 2);
    CHECK(second.frees == 1 && third.frees == 1 && cleared.frees == 1 && refused.frees == 0);
    CHECK(first.calls == 0 && second.calls == 0);
done:
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_hook_full_free_after_last_authentication(void) {
    hubauth_error *err = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_options *other = NULL, *overlay = NULL;
    hubauth_auth *a = NULL, *c = NULL, *b = NULL;
    hook_record hook = {.visit = true}, once = {0};
    char *token = NULL;
    CHECK(o != NULL);
    /* A real device login through a hook_full hook. */
    EXPECT(hubauth_options_set_hook_full(o, recording_hook, &hook, count_free), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(o, &a, &err), HUBAUTH_OK);
    CHECK(hook.calls == 1 && hook.visit_status == 200);
    c = hubauth_current();
    CHECK(c != NULL);
    /* The options, then every reference: the authentication still holds it. */
    hubauth_options_free(o);
    o = NULL;
    CHECK(hook.frees == 0);
    token = token_of(c);
    CHECK(token != NULL);
    hubauth_auth_free(a);
    a = NULL;
    CHECK(hook.frees == 0);
    hubauth_auth_free(c);
    c = NULL;
    /* Still the current authentication: hubauth_current can hand it out again. */
    CHECK(hook.frees == 0);
    c = hubauth_current();
    CHECK(c != NULL);
    hubauth_auth_free(c);
    c = NULL;
    CHECK(hook.frees == 0);
    /* Another login becomes current: the last copy goes, exactly once. */
    other = test_options(NULL);
    CHECK(other != NULL);
    EXPECT(hubauth_options_set(other, "token", "not-a-real-token", &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set(other, "validate", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_authenticate(other, &b, &err), HUBAUTH_OK);
    CHECK(hook.frees == 1);

    /* A hook laid over for one reauthenticate is released after the call. */
    overlay = hubauth_options_new();
    CHECK(overlay != NULL);
    EXPECT(hubauth_options_set_hook_full(overlay, recording_hook, &once, count_free), HUBAUTH_OK);
    EXPECT(hubauth_reauthenticate(b, overlay, &err), HUBAUTH_OK);
    CHECK(once.frees == 0);
    hubauth_options_free(overlay);
    overlay = NULL;
    CHECK(once.frees == 1);
    hubauth_auth_free(b);
    b = NULL;
    CHECK(hook.frees == 1 && once.frees == 1);
done:
    free(token);
    hubauth_auth_free(a);
    hubauth_auth_free(b);
    hubauth_auth_free(c);
    hubauth_options_free(o);
    hubauth_options_free(other);
    hubauth_options_free(overlay);
    hubauth_error_free(err);
}

static void case_err_must_be_null_on_entry(void) {
    hubauth_error *err = NULL, *before = NULL;
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path)); /* no file yet */
    hubauth_auth *sentinel = (hubauth_auth *)(uintptr_t)0x1234;
    hubauth_auth *a = sentinel;
    char *id = NULL, buf[64];
    hubauth_auth *stored = NULL;
    size_t len = 777;
    CHECK(o != NULL);
    /* A real error object, as a caller that forgot to free it would hold. */
    CHECK(hubauth_options_set(o, "no_such_option", "1", &err) == HUBAUTH_ERR_INVALID_ARGUMENT);
    before = err;
    CHECK(before != NULL);
    /* Refused before doing anything; the old error is neither freed nor replaced. */
    CHECK(hubauth_options_set(o, "token", "not-a-real-token", &err) == HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(err == before && hubauth_error_code(err) == HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(contains(hubauth_error_message(err), "no_such_option"));
    CHECK(hubauth_options_set(o, "validate", "false", NULL) == HUBAUTH_OK);
    /* The token was not set: with it, this would succeed without a login. */
    CHECK(hubauth_options_set(o, "interactive", "false", NULL) == HUBAUTH_OK);
    CHECK(hubauth_authenticate(o, &a, &err) == HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(a == sentinel && err == before);
    CHECK(hubauth_authenticate(o, &a, NULL) == HUBAUTH_ERR_NO_CREDENTIALS);
    stored = stored_auth(&id, NULL, 0);
    CHECK(stored != NULL);
    CHECK(hubauth_token_copy(stored, buf, sizeof buf, &len, &err) == HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(len == 777 && err == before);
    CHECK(hubauth_token_copy(stored, NULL, 0, &len, &err) == HUBAUTH_ERR_INVALID_ARGUMENT);
    CHECK(len == 777 && err == before);
    /* Freed once by its owner (valgrind and ASan check there is no leak). */
    hubauth_error_free(err);
    err = NULL;
    CHECK(hubauth_token_copy(stored, NULL, 0, &len, &err) == HUBAUTH_ERR_BUFFER_TOO_SMALL);
    CHECK(err != NULL && len == strlen(id));
done:
    if (a != sentinel) hubauth_auth_free(a);
    hubauth_auth_free(stored);
    free(id);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_log_warning_goes_to_the_callback_not_stderr(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = NULL;
    hubauth_auth *a = NULL;
    char path[1200], *captured = NULL;
    stderr_capture cap = {.saved = -1};
    log_record rec;
    log_record_init(&rec);
    CHECK(write_loose_token_file(path, sizeof path));
    o = test_options(path);
    CHECK(o != NULL);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set_log(o, recording_log, &rec, count_log_free), HUBAUTH_OK);
    CHECK(stderr_capture_start(&cap) == 0);
    hubauth_status st = hubauth_authenticate(o, &a, &err);
    captured = stderr_capture_end(&cap);
    EXPECT(st, HUBAUTH_OK);
    CHECK(rec.warnings == 1 && !rec.off_thread);
    CHECK(contains(rec.last, "can be read by other users (mode 644)"));
    CHECK(contains(rec.last, "evil\\u{1b}[2J") && strchr(rec.last, '\x1b') == NULL);
    CHECK(!starts_with(rec.last, "hubauth:"));
    CHECK(captured != NULL && !contains(captured, "can be read"));
    /* The authentication holds the callback: freed with the last holder. */
    hubauth_options_free(o);
    o = NULL;
    CHECK(log_frees(&rec) == 0);
    hubauth_auth_free(a);
    a = NULL;
    /* Still the current authentication: a new login makes it not current. */
    {
        hubauth_options *other = test_options(path);
        hubauth_auth *b = NULL;
        CHECK(other != NULL);
        EXPECT(hubauth_options_set(other, "interactive", "false", &err), HUBAUTH_OK);
        hubauth_status bs = hubauth_authenticate(other, &b, &err);
        hubauth_auth_free(b);
        hubauth_options_free(other);
        EXPECT(bs, HUBAUTH_OK);
    }
    CHECK(log_frees(&rec) == 1);
done:
    if (cap.saved >= 0) free(stderr_capture_end(&cap));
    free(captured);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
    pthread_mutex_destroy(&rec.lock);
}

static void case_log_default_stays_stderr(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = NULL;
    hubauth_auth *a = NULL;
    char path[1200], *captured = NULL;
    stderr_capture cap = {.saved = -1};
    CHECK(write_loose_token_file(path, sizeof path));
    o = test_options(path);
    CHECK(o != NULL);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    CHECK(stderr_capture_start(&cap) == 0);
    hubauth_status st = hubauth_authenticate(o, &a, &err);
    captured = stderr_capture_end(&cap);
    EXPECT(st, HUBAUTH_OK);
    if (getenv("HUBAUTH_LOG") == NULL) {
        CHECK(captured != NULL && contains(captured, "hubauth: warning: ") &&
              contains(captured, "can be read by other users"));
    }
done:
    if (cap.saved >= 0) free(stderr_capture_end(&cap));
    free(captured);
    hubauth_auth_free(a);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_log_in_a_job_runs_on_the_library_thread(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = NULL;
    hubauth_job *job = NULL;
    hubauth_job_event ev;
    char path[1200];
    log_record rec;
    log_record_init(&rec);
    CHECK(write_loose_token_file(path, sizeof path));
    o = test_options(path);
    CHECK(o != NULL);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    EXPECT(hubauth_options_set_log(o, recording_log, &rec, count_log_free), HUBAUTH_OK);
    EXPECT(hubauth_job_start(o, HUBAUTH_JOB_AUTHENTICATE, NULL, NULL, &job, &err), HUBAUTH_OK);
    /* The job holds the callback: freeing the options frees nothing yet. */
    hubauth_options_free(o);
    o = NULL;
    double limit = now_seconds() + 20.0;
    memset(&ev, 0, sizeof ev);
    while (now_seconds() < limit) {
        EXPECT(hubauth_job_poll(job, &ev, &err), HUBAUTH_OK);
        if (ev.kind == HUBAUTH_JOB_EVENT_DONE) break;
        sleep_seconds(0.01);
    }
    CHECK(ev.kind == HUBAUTH_JOB_EVENT_DONE && ev.status == HUBAUTH_OK && ev.auth != NULL);
    pthread_mutex_lock(&rec.lock);
    bool seen = rec.warnings == 1 && rec.off_thread && contains(rec.last, "can be read by other users");
    pthread_mutex_unlock(&rec.lock);
    CHECK(seen);
    hubauth_auth_free(ev.auth);
    ev.auth = NULL;
    hubauth_job_free(job);
    job = NULL;
    /* The authentication is still the current one and holds the callback,
     * whose userdata lives on this stack: a new login makes it not current,
     * and the callback is freed once the job's thread has let go too. */
    {
        hubauth_options *other = test_options(path);
        hubauth_auth *b = NULL;
        CHECK(other != NULL);
        EXPECT(hubauth_options_set(other, "interactive", "false", &err), HUBAUTH_OK);
        hubauth_status bs = hubauth_authenticate(other, &b, &err);
        hubauth_auth_free(b);
        hubauth_options_free(other);
        EXPECT(bs, HUBAUTH_OK);
    }
    limit = now_seconds() + 10.0;
    while (log_frees(&rec) == 0 && now_seconds() < limit) sleep_seconds(0.01);
    CHECK(log_frees(&rec) == 1);
done:
    hubauth_job_free(job);
    hubauth_options_free(o);
    hubauth_error_free(err);
    pthread_mutex_destroy(&rec.lock);
}

/* Without a log callback, a job's warning is a LOG event (level in status),
 * polled in order before DONE, and nothing of it reaches stderr. */
static void case_log_in_a_job_without_callback_is_an_event(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = NULL;
    hubauth_job *job = NULL;
    hubauth_job_event ev;
    char path[1200], *captured = NULL, *logged = NULL;
    stderr_capture cap = {.saved = -1};
    int logs = 0, log_level = 0;
    bool log_before_done = false;
    CHECK(write_loose_token_file(path, sizeof path));
    o = test_options(path);
    CHECK(o != NULL);
    EXPECT(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK);
    CHECK(stderr_capture_start(&cap) == 0);
    EXPECT(hubauth_job_start(o, HUBAUTH_JOB_AUTHENTICATE, NULL, NULL, &job, &err), HUBAUTH_OK);
    double limit = now_seconds() + 20.0;
    memset(&ev, 0, sizeof ev);
    while (now_seconds() < limit) {
        EXPECT(hubauth_job_poll(job, &ev, &err), HUBAUTH_OK);
        if (ev.kind == HUBAUTH_JOB_EVENT_DONE) break;
        if (ev.kind == HUBAUTH_JOB_EVENT_LOG) {
            logs++;
            log_level = ev.status;
            free(logged);
            logged = ev.message ? strdup(ev.message) : NULL; /* borrowed until the next poll */
            log_before_done = true;
        }
        if (ev.kind == HUBAUTH_JOB_EVENT_NONE) sleep_seconds(0.01);
    }
    captured = stderr_capture_end(&cap);
    CHECK(ev.kind == HUBAUTH_JOB_EVENT_DONE && ev.status == HUBAUTH_OK && ev.auth != NULL);
    CHECK(logs == 1 && log_before_done && log_level == HUBAUTH_LOG_WARN);
    CHECK(logged != NULL && contains(logged, "can be read by other users (mode 644)"));
    CHECK(contains(logged, "evil\\u{1b}[2J") && strchr(logged, '\x1b') == NULL);
    CHECK(!starts_with(logged, "hubauth:"));
    CHECK(captured != NULL && !contains(captured, "can be read"));
    hubauth_auth_free(ev.auth);
    ev.auth = NULL;
done:
    if (cap.saved >= 0) free(stderr_capture_end(&cap));
    free(captured);
    free(logged);
    hubauth_job_free(job);
    hubauth_options_free(o);
    hubauth_error_free(err);
}

static void case_log_free_userdata_when_replaced_cleared_or_refused(void) {
    hubauth_error *err = NULL;
    hubauth_options *o = hubauth_options_new();
    log_record first, second, refused, cleared;
    log_record_init(&first);
    log_record_init(&second);
    log_record_init(&refused);
    log_record_init(&cleared);
    CHECK(o != NULL);
    EXPECT(hubauth_options_set_log(NULL, recording_log, &refused, count_log_free),
           HUBAUTH_ERR_NULL_ARGUMENT);
    CHECK(log_frees(&refused) == 0); /* not taken */
    EXPECT(hubauth_options_set_log(o, recording_log, &first, count_log_free), HUBAUTH_OK);
    EXPECT(hubauth_options_set_log(o, recording_log, &second, count_log_free), HUBAUTH_OK);
    CHECK(log_frees(&first) == 1 && log_frees(&second) == 0); /* replaced */
    EXPECT(hubauth_options_set_log(o, NULL, &cleared, count_log_free), HUBAUTH_OK);
    CHECK(log_frees(&cleared) == 1 && log_frees(&second) == 1); /* cleared: both freed */
    EXPECT(hubauth_options_set_log(o, recording_log, &first, NULL), HUBAUTH_OK);
    hubauth_options_free(o);
    o = NULL;
    CHECK(log_frees(&first) == 1 && first.calls == 0);
done:
    hubauth_options_free(o);
    hubauth_error_free(err);
    pthread_mutex_destroy(&first.lock);
    pthread_mutex_destroy(&second.lock);
    pthread_mutex_destroy(&refused.lock);
    pthread_mutex_destroy(&cleared.lock);
}

/* ---------------------------------------------------------------- main */

/* In order. Only the first depends on its place: no authentication yet. */
static const test_case CASES[] = {
    {"hubauth_version is non-empty; hubauth_current is NULL before any login", case_version_and_no_current},
    {"every _free accepts NULL", case_free_accepts_null},
    {"secret new/expose/len/free", case_secret},
    {"error accessors on NULL", case_error_accessors_on_null},
    {"NULL arguments give HUBAUTH_ERR_NULL_ARGUMENT", case_null_arguments},
    {"invalid UTF-8 gives HUBAUTH_ERR_INVALID_ARGUMENT", case_invalid_utf8},
    {"unknown option key and bad values give INVALID_ARGUMENT with a message", case_unknown_option_and_bad_values},
    {"valid stored token in the depot; validate asks /api/v1 for the user", case_valid_stored_token},
    {"auth accessors: server, username, expires_at", case_auth_accessors},
    {"hubauth_current returns a new reference", case_current_is_a_new_reference},
    {"expired stored token is refreshed and saved 0600", case_expired_stored_token_is_refreshed},
    {"short-lived token: hubauth_token refreshes once", case_short_lived_token_refreshes_once},
    {"concurrent hubauth_token calls share one refresh", case_concurrent_token_calls_share_one_refresh},
    {"classic login through a hook that visits the URL", case_classic_login_through_hook},
    {"device login through a hook that visits the URL", case_device_login_through_hook},
    {"a hook returning nonzero cancels at once", case_hook_cancels},
    {"a hook that calls back into the library fails at once, no deadlock", case_hook_reentering_the_library_fails_at_once},
    {"interactive=false without a token gives NO_CREDENTIALS", case_not_interactive_without_token},
    {"plain http to a non-loopback server gives INSECURE", case_insecure_server},
    {"malformed auth.toml gives FORMAT and is left byte-for-byte", case_malformed_file_is_left_alone},
    {"check is true, then false after the server revokes", case_check_then_revoke},
    {"reauthenticate picks up an auth.toml rewritten by someone else", case_reauthenticate_reads_rewritten_file},
    {"a denied login gives up after maxcount=2 tries", case_denied_login_gives_up_after_maxcount},
    {"save_token and logout", case_save_token_and_logout},
    {"force applies to its call only: a bare reauthenticate does not log in again", case_force_applies_to_its_call_only},
    {"cancel: NULL arguments", case_cancel_null_arguments},
    {"cancel triggered (twice) before the call: CANCELLED at once, nothing asked", case_cancel_triggered_before_the_call},
    {"cancel triggered from another thread during a waiting login", case_cancel_from_another_thread},
    {"cancel freed right after the trigger while the call waits", case_cancel_freed_while_the_call_waits},
    {"cancel freed before the call: the options keep it alive", case_cancel_freed_before_the_call},
    {"token_copy: fits, exact fit, too small, cap 0, NULL arguments", case_token_copy},
    {"token_copy: a 1 KiB token; a token due is refreshed first", case_token_copy_long_and_refreshed},
    {"authorization: Bearer <token>; NULL arguments", case_authorization},
    {"hook_full: free_userdata once when replaced, cleared or the options freed", case_hook_full_free_when_replaced_or_options_freed},
    {"hook_full: free_userdata once after the last authentication is freed and not current", case_hook_full_free_after_last_authentication},
    {"a non-NULL *err on entry is refused and left alone", case_err_must_be_null_on_entry},
    {"log: a warning goes to the callback (escaped, caller's thread), not stderr; freed with the last holder", case_log_warning_goes_to_the_callback_not_stderr},
    {"log: without a callback, warnings still go to stderr", case_log_default_stays_stderr},
    {"log: a job's warning reaches the callback on the library's thread", case_log_in_a_job_runs_on_the_library_thread},
    {"log: without a callback, a job's warning is a LOG event before DONE, not stderr", case_log_in_a_job_without_callback_is_an_event},
    {"log: free_userdata once when replaced or cleared, never when refused", case_log_free_userdata_when_replaced_cleared_or_refused},
};

int main(int argc, char **argv) {
    int status = harness_start(argc, argv, "hubauth-c-test");
    if (status != 0) return status;
    snprintf(g_depot_token, sizeof g_depot_token, "%s/depot/servers/127.0.0.1_%d/auth.toml", g_tmp,
             g_server.port);
    printf("# hubauth %s, test server %s, temp dir %s\n", hubauth_version(), g_server.url, g_tmp);
    return harness_run(CASES, sizeof CASES / sizeof CASES[0]);
}
