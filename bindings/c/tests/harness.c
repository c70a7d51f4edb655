/* See harness.h. POSIX.1-2008 (mkdtemp, setenv, strdup), as testutil.c. */
#define _XOPEN_SOURCE 700

#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ the run */

test_server g_server;
char g_tmp[512];
int g_case_ok;
static int g_passed, g_failed, g_case_number;
static double g_started;

#define DEFAULT_SERVER_CONFIG                                                                  \
    "{\"flow\": \"device\", \"token_ttl_s\": 3600, \"device_interval_s\": 1, \"deny\": false, " \
    "\"auto_approve\": false, \"refresh_fails\": false, \"api_status\": null}"

static void run_case(int number, const char *name, void (*fn)(void)) {
    g_case_number = number;
    g_case_ok = 1;
    /* Every case starts from the same server state. */
    if (!server_ok("POST", "/_test/config", DEFAULT_SERVER_CONFIG) ||
        !server_ok("POST", "/_test/reset_stats", NULL)) {
        g_case_ok = 0;
    } else {
        fn();
    }
    if (g_case_ok) g_passed++;
    else g_failed++;
    printf("%s %d - %s\n", g_case_ok ? "ok" : "not ok", number, name);
    fflush(stdout);
}

/* Keeps the run away from the user's ~/.julia, ~/.config, browser and
 * settings. Called before any thread exists (setenv is not thread-safe). */
static int isolate_environment(const char *tmp_name) {
    const char *base = getenv("TMPDIR");
    char path[1024];
    snprintf(g_tmp, sizeof g_tmp, "%s/%s.XXXXXX", base && *base ? base : "/tmp", tmp_name);
    if (mkdtemp(g_tmp) == NULL) return -1;
    static const char *const dirs[][2] = {
        {"JULIA_DEPOT_PATH", "depot"}, {"HOME", "home"},          {"XDG_CONFIG_HOME", "config"},
        {"XDG_CACHE_HOME", "cache"},   {"XDG_DATA_HOME", "data"},
    };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", g_tmp, dirs[i][1]);
        if (make_dirs(path) != 0 || setenv(dirs[i][0], path, 1) != 0) return -1;
    }
    static const char *const unset[] = {"JULIA_PKG_SERVER", "JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE",
                                        "JULIA_PKG_AUTHENTICATION_DEVICE_CLIENT_ID", "DISPLAY",
                                        "WAYLAND_DISPLAY"};
    for (size_t i = 0; i < sizeof unset / sizeof unset[0]; i++) unsetenv(unset[i]);
    return 0;
}

int harness_start(int argc, char **argv, const char *tmp_name) {
    const char *binary = argc > 1 ? argv[1] : getenv("HUBAUTH_TEST_SERVER");
    if (binary == NULL || access(binary, X_OK) != 0) {
        fprintf(stderr, "usage: %s path/to/hubauth-test-server (or set HUBAUTH_TEST_SERVER)\n", argv[0]);
        return 2;
    }
    if (isolate_environment(tmp_name) != 0) {
        perror("setting up the temporary directory");
        return 2;
    }
    g_started = now_seconds();
    if (test_server_start(&g_server, binary, NULL) != 0) {
        remove_tree(g_tmp);
        return 2;
    }
    return 0;
}

int harness_run(const test_case *cases, size_t count) {
    printf("1..%zu\n", count);
    for (size_t i = 0; i < count; i++) run_case((int)i + 1, cases[i].name, cases[i].run);

    int server_status = test_server_stop(&g_server);
    if (server_status != 0) printf("# the test server exited with status %d\n", server_status);
    if (getenv("HUBAUTH_TEST_KEEP_TMP") == NULL) remove_tree(g_tmp);
    printf("# %.1f s\n", now_seconds() - g_started);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 && server_status == 0 ? 0 : 1;
}

/* ---------------------------------------------------------- the checks */

void diag(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("#   ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

void check_failed(const char *file, int line, const char *what) {
    g_case_ok = 0;
    diag("%s:%d: check failed: %s", file, line, what);
}

void status_failed(const char *file, int line, const char *what, hubauth_status got, hubauth_status want,
                   const hubauth_error *err) {
    g_case_ok = 0;
    diag("%s:%d: %s", file, line, what);
    /* Error messages never contain a token, so they may be shown. */
    diag("  status %d, expected %d%s%s", (int)got, (int)want, err ? "; message: " : "",
         err ? hubauth_error_message(err) : "");
}

bool starts_with(const char *s, const char *prefix) {
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool same(const char *a, const char *b) {
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* --------------------------------------------------- the test server */

char *server_call(const char *method, const char *path, const char *json) {
    char url[1024];
    http_response r;
    snprintf(url, sizeof url, "%s%s", g_server.url, path);
    if (http_request(method, url, json ? "application/json" : NULL, json, &r) != 0) {
        diag("%s %s: no answer from the test server", method, path);
        return NULL;
    }
    if (r.status != 200) {
        diag("%s %s: HTTP %d", method, path, r.status);
        http_response_free(&r);
        return NULL;
    }
    return r.body;
}

bool server_ok(const char *method, const char *path, const char *json) {
    char *body = server_call(method, path, json);
    bool ok = body != NULL;
    free(body);
    return ok;
}

char *issue_token(long ttl_s) {
    char path[64];
    snprintf(path, sizeof path, "/_test/issue?ttl_s=%ld", ttl_s);
    return server_call("POST", path, NULL);
}

long server_stat(const char *key) {
    char *stats = server_call("GET", "/_test/stats", NULL);
    long value = stats ? json_int(stats, key) : -1;
    free(stats);
    return value;
}

/* ------------------------------------------------------- small helpers */

const char *case_token_path(char *buf, size_t size) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/cases/%d", g_tmp, g_case_number);
    if (make_dirs(dir) != 0) {
        /* Not a test failure: the run cannot go on (the server stops with us). */
        perror(dir);
        exit(2);
    }
    snprintf(buf, size, "%s/auth.toml", dir);
    return buf;
}

hubauth_options *test_options(const char *token_path) {
    hubauth_options *o = hubauth_options_new();
    if (o == NULL) return NULL;
    if (hubauth_options_set(o, "server", g_server.url, NULL) != HUBAUTH_OK ||
        (token_path && hubauth_options_set(o, "token_path", token_path, NULL) != HUBAUTH_OK) ||
        hubauth_options_set(o, "timeout_ms", "30000", NULL) != HUBAUTH_OK ||
        hubauth_options_set(o, "poll_interval_ms", "100", NULL) != HUBAUTH_OK) {
        diag("could not set the test options");
        hubauth_options_free(o);
        return NULL;
    }
    return o;
}

char *token_of(const hubauth_auth *a) {
    hubauth_secret *s = NULL;
    hubauth_error *err = NULL;
    hubauth_status st = hubauth_token(a, &s, &err);
    if (st != HUBAUTH_OK) {
        diag("hubauth_token: status %d: %s", (int)st, hubauth_error_message(err));
        hubauth_error_free(err);
        return NULL;
    }
    const char *value = hubauth_secret_expose(s);
    char *copy = (value && strlen(value) == hubauth_secret_len(s)) ? strdup(value) : NULL;
    hubauth_secret_free(s);
    return copy;
}

void sleep_until_unix(long unix_s) {
    double limit = now_seconds() + 10.0;
    while ((long)time(NULL) < unix_s && now_seconds() < limit) sleep_seconds(0.05);
}

hubauth_auth *stored_auth(char **id, char *token_path, size_t size) {
    char own_path[1024];
    if (token_path == NULL) {
        token_path = own_path;
        size = sizeof own_path;
    }
    hubauth_options *o = test_options(case_token_path(token_path, size));
    hubauth_auth *a = NULL;
    hubauth_error *err = NULL;
    char *toml = issue_token(3600);
    *id = toml ? toml_string(toml, "id_token") : NULL;
    if (o == NULL || *id == NULL || write_file(token_path, toml, strlen(toml), 0600) != 0 ||
        hubauth_options_set(o, "validate", "false", NULL) != HUBAUTH_OK ||
        hubauth_authenticate(o, &a, &err) != HUBAUTH_OK) {
        diag("stored token setup failed: %s", hubauth_error_message(err));
        a = NULL;
    }
    hubauth_error_free(err);
    free(toml);
    hubauth_options_free(o);
    return a;
}

hubauth_auth *short_lived_auth(char **stored_id) {
    char path[1024];
    hubauth_options *o = test_options(case_token_path(path, sizeof path));
    hubauth_auth *a = NULL;
    hubauth_error *err = NULL;
    char *toml = NULL;
    *stored_id = NULL;
    if (o == NULL || !server_ok("POST", "/_test/config", "{\"token_ttl_s\": 4}") ||
        (toml = issue_token(4)) == NULL || (*stored_id = toml_string(toml, "id_token")) == NULL ||
        write_file(path, toml, strlen(toml), 0600) != 0 ||
        hubauth_options_set(o, "refresh_margin_s", "86400", NULL) != HUBAUTH_OK ||
        hubauth_options_set(o, "validate", "false", NULL) != HUBAUTH_OK ||
        hubauth_authenticate(o, &a, &err) != HUBAUTH_OK) {
        diag("short-lived token setup failed: %s", hubauth_error_message(err));
        a = NULL;
    }
    hubauth_error_free(err);
    free(toml);
    hubauth_options_free(o);
    return a;
}

bool check_saved_login(const hubauth_auth *a, const char *path) {
    char *user = NULL, *token = NULL, *saved = NULL, *saved_id = NULL;
    bool ok = false;
    user = hubauth_auth_username(a);
    CHECK(same(user, "alice"));
    CHECK(file_mode(path) == 0600);
    saved = read_file(path, NULL);
    CHECK(saved != NULL && (saved_id = toml_string(saved, "id_token")) != NULL);
    token = token_of(a);
    CHECK(same(token, saved_id));
    ok = true;
done:
    free(saved_id);
    free(saved);
    free(token);
    hubauth_string_free(user);
    return ok;
}
