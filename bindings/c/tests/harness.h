/*
 * The TAP case harness that test_hubauth and test_jobs_uv share: the test
 * server and the temporary directory of the run, the case runner and its
 * checks, the test server's control endpoints (/_test/...), and the small
 * hubauth helpers both programs' cases use. Unlike testutil.h, this calls
 * hubauth.
 *
 * A program lists its cases in a test_case array and runs
 *     harness_start(argc, argv, "hubauth-c-NAME"), then harness_run(cases, n).
 * Output is TAP-like: `ok N - name` / `not ok N - name`, then `N passed, M failed`.
 * Diagnostics never show a token value: tokens are compared, never printed.
 */
#ifndef HUBAUTH_HARNESS_H
#define HUBAUTH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "hubauth.h"
#include "testutil.h"

/* ------------------------------------------------------------ the run */

extern test_server g_server; /* started by harness_start */
extern char g_tmp[512];      /* everything this run writes lives here */
extern int g_case_ok;        /* the running case: 0 once a check failed */

typedef struct {
    const char *name;
    void (*run)(void);
} test_case;

/* Checks the usage (`argv[1]` or $HUBAUTH_TEST_SERVER), makes a temporary
 * directory `$TMPDIR/<tmp_name>.XXXXXX` the run's HOME, depot and XDG
 * directories, and starts the test server. Call it before any thread exists
 * (setenv is not thread-safe). Returns 0, or the exit status (2) to end with. */
int harness_start(int argc, char **argv, const char *tmp_name);

/* Prints the plan, runs each case from the test server's default config with
 * its stats reset, stops the server, removes the temporary directory (unless
 * $HUBAUTH_TEST_KEEP_TMP is set) and prints the totals. Returns the exit status. */
int harness_run(const test_case *cases, size_t count);

/* ---------------------------------------------------------- the checks */

/* A diagnostic line, `#   ...`. */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check_failed(const char *file, int line, const char *what);
void status_failed(const char *file, int line, const char *what, hubauth_status got, hubauth_status want,
                   const hubauth_error *err);

/* Fails the case (and jumps to its cleanup) when `cond` is false. */
#define CHECK(cond)                                  \
    do {                                             \
        if (!(cond)) {                               \
            check_failed(__FILE__, __LINE__, #cond); \
            goto done;                               \
        }                                            \
    } while (0)

/* Frees the error of the previous call, makes this call, and checks its
 * status. Each case has a local `hubauth_error *err` that this uses; after
 * EXPECT, `err` holds this call's error (or NULL) for further checks. */
#define EXPECT(call, want)                                               \
    do {                                                                 \
        hubauth_error_free(err);                                         \
        err = NULL;                                                      \
        hubauth_status got_ = (call);                                    \
        if (got_ != (want)) {                                            \
            status_failed(__FILE__, __LINE__, #call, got_, (want), err); \
            goto done;                                                   \
        }                                                                \
    } while (0)

bool starts_with(const char *s, const char *prefix);
/* Both non-NULL and equal. */
bool same(const char *a, const char *b);

/* --------------------------------------------------- the test server */

/* A request to the test server; the body of a 200 answer (malloc'd) or NULL. */
char *server_call(const char *method, const char *path, const char *json);
/* server_call answered 200. */
bool server_ok(const char *method, const char *path, const char *json);
/* A fresh auth.toml from POST /_test/issue (malloc'd), or NULL. */
char *issue_token(long ttl_s);
/* One counter from GET /_test/stats, or -1. */
long server_stat(const char *key);

/* ------------------------------------------------------- small helpers */

/* `<tmp>/cases/<case number>/auth.toml`, with its directory created. */
const char *case_token_path(char *buf, size_t size);

/* Options for the test server: its URL, a token file (NULL: the depot's),
 * and limits that keep a broken login from hanging the run. */
hubauth_options *test_options(const char *token_path);

/* A copy of the token `a` hands out (to compare, never to print), or NULL. */
char *token_of(const hubauth_auth *a);

/* Sleeps until the wall clock reaches `unix_s` (at most 10 s). */
void sleep_until_unix(long unix_s);

/* A stored token valid for an hour (the case's auth.toml), authenticated
 * without the network; its id_token through *id, its file through
 * token_path (which may be NULL). */
hubauth_auth *stored_auth(char **id, char *token_path, size_t size);

/* Authenticates from a stored 4-second token with a huge refresh margin. The
 * margin is capped at half the lifetime (2 s), so the token is handed out as
 * is at first. Returns the auth, and its stored id_token through *stored_id. */
hubauth_auth *short_lived_auth(char **stored_id);

/* After a login: `a` is alice's and hands out the token it saved, 0600, at
 * `path`. Fails the case (naming the failed check) and returns false if not. */
bool check_saved_login(const hubauth_auth *a, const char *path);

#endif
