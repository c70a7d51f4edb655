/*
 * example.c: authenticate to a JuliaHub-style server with hubauth, show who
 * is logged in, get the token for a request, and ask the server whether the
 * token is good.
 *
 *   cc example.c $(pkg-config --cflags --libs hubauth) -o example
 *   ./example https://juliahub.com        # or: JULIA_PKG_SERVER=... ./example
 *
 * The first run logs in (the URL to open is printed); later runs reuse the
 * token stored in ~/.julia/servers/<host>/auth.toml (as Pkg and JuliaHub.jl
 * do), refreshing it when it is about to expire.
 *
 * Ownership, in short: every handle you receive (options, auth, secret, error)
 * is yours and has a matching *_free; every `char *` result is freed with
 * hubauth_string_free; every `const char *` result is borrowed. All *_free
 * functions accept NULL, so one cleanup block at the end is enough.
 */
#include <hubauth.h>

#include <stdio.h>
#include <time.h>

/* Called when a login is needed, with the URL the user must open. Without a
 * hook, hubauth prints the URL itself and opens a browser when there is a
 * desktop. A GUI would show the URL (or a QR code) here instead. */
static int32_t show_login_url(void *userdata, const char *url) {
    (void)userdata; /* whatever pointer was given to hubauth_options_set_hook */
    fprintf(stderr, "To log in, open this URL in a browser:\n  %s\n", url);
    return 0; /* 0: keep waiting for the login; nonzero: cancel it */
}

/* Prints what failed. The message never contains a token. */
static void report(const char *what, hubauth_status status, const hubauth_error *err) {
    fprintf(stderr, "example: %s failed (status %d): %s\n", what, (int)status,
            hubauth_error_message(err));
}

int main(int argc, char **argv) {
    int exit_code = 1;
    hubauth_status status;
    hubauth_error *err = NULL;
    hubauth_auth *auth = NULL;
    hubauth_secret *token = NULL;
    char *server = NULL, *user = NULL;

    hubauth_options *options = hubauth_options_new();
    if (options == NULL) return 1;

    /* Without a "server" option, hubauth uses $JULIA_PKG_SERVER. */
    if (argc > 1) {
        status = hubauth_options_set(options, "server", argv[1], &err);
        if (status != HUBAUTH_OK) {
            report("setting the server", status, err);
            goto cleanup;
        }
    }
    /* Options are strings: see hubauth_options_set in hubauth.h for the keys,
     * e.g. "interactive" = "false" in batch jobs, "timeout_ms" for logins. */
    hubauth_options_set_hook(options, show_login_url, NULL);

    /* Finds the stored token, refreshes it, or logs in. May block while the
     * user logs in (up to timeout_ms, 3 minutes by default). */
    status = hubauth_authenticate(options, &auth, &err);
    if (status != HUBAUTH_OK) {
        report("authentication", status, err);
        goto cleanup;
    }

    server = hubauth_auth_server(auth);  /* ours: hubauth_string_free */
    user = hubauth_auth_username(auth);  /* NULL when the server did not say */
    printf("hubauth %s\n", hubauth_version()); /* static: never freed */
    printf("server: %s\n", server ? server : "?");
    printf("user: %s\n", user ? user : "(unknown)");
    int64_t expires_at = hubauth_auth_expires_at(auth);
    if (expires_at >= 0) {
        time_t t = (time_t)expires_at;
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
        printf("token expires: %s\n", when);
    } else {
        printf("token expires: never or unknown\n");
    }

    /* The token a request should carry, refreshed first if it is about to
     * expire. Call this before each request rather than keeping the value: a
     * fresh token costs no I/O. Never print or log the value. */
    status = hubauth_token(auth, &token, &err);
    if (status != HUBAUTH_OK) {
        report("getting the token", status, err);
        goto cleanup;
    }
    const char *value = hubauth_secret_expose(token); /* borrowed until hubauth_secret_free */
    (void)value; /* e.g. "Authorization: Bearer " + value in your HTTP client */
    printf("token: %zu bytes, ready for \"Authorization: Bearer ...\"\n", hubauth_secret_len(token));

    /* Asks the server whether the token is (still) good. */
    bool valid = false;
    status = hubauth_check(auth, &valid, &err);
    if (status != HUBAUTH_OK) {
        report("checking the token", status, err);
        goto cleanup;
    }
    printf("server says the token is %s\n", valid ? "valid" : "NOT valid");
    exit_code = valid ? 0 : 1;

cleanup:
    hubauth_secret_free(token); /* zeroes the token's bytes */
    hubauth_string_free(server);
    hubauth_string_free(user);
    hubauth_auth_free(auth);
    hubauth_options_free(options);
    hubauth_error_free(err);
    return exit_code;
}
