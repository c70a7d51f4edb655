/*
 * Helpers for the C tests of hubauth: the test server as a child process, a
 * tiny HTTP/1.1 client over POSIX sockets (loopback, Connection: close), and
 * small file and time utilities. Nothing here calls hubauth.
 */
#ifndef HUBAUTH_TESTUTIL_H
#define HUBAUTH_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* A hubauth-test-server child. It serves until its stdin (our pipe) closes. */
typedef struct {
    pid_t pid;
    int stdin_fd;   /* write end of the child's stdin; closing it stops the server */
    char url[128];  /* "http://127.0.0.1:PORT" */
    int port;
} test_server;

/* Starts `binary juliahub <args...>` (args NULL-terminated) and waits for its
 * `URL=` line. Returns 0 on success, -1 with a message on stderr. */
int test_server_start(test_server *s, const char *binary, const char *const *args);

/* Closes the server's stdin and waits up to 10 s for it to exit (then
 * SIGTERM to that PID). Returns its exit status, or -1. */
int test_server_stop(test_server *s);

typedef struct {
    int status;      /* HTTP status, 0 when there was no valid answer */
    char *body;      /* NUL-terminated; free with http_response_free */
    size_t body_len;
} http_response;

/* One request to an http://127.0.0.1:PORT/... URL (loopback only). `body` may
 * be NULL. Returns 0 when an HTTP answer was read (any status), else -1. */
int http_request(const char *method, const char *url, const char *content_type,
                 const char *body, http_response *out);
void http_response_free(http_response *r);

/* The whole file, NUL-terminated (malloc'd), or NULL; *len gets its size. */
char *read_file(const char *path, size_t *len);
/* Writes `data` to `path` (created/truncated with `mode`). 0 on success. */
int write_file(const char *path, const char *data, size_t len, unsigned mode);
/* mkdir -p with mode 0700. 0 on success. */
int make_dirs(const char *path);
/* rm -rf. 0 on success. */
int remove_tree(const char *path);
/* The permission bits of `path`, or -1. */
int file_mode(const char *path);

/* The value of `key = "..."` in TOML text (malloc'd), or NULL. */
char *toml_string(const char *toml, const char *key);
/* The integer value of `key = N` in TOML text, or `fallback`. */
long toml_int(const char *toml, const char *key, long fallback);
/* The integer value of `"key":` in flat JSON text, or -1 when absent. */
long json_int(const char *json, const char *key);

/* Monotonic seconds, for timing cases. */
double now_seconds(void);
void sleep_seconds(double seconds);

#endif
