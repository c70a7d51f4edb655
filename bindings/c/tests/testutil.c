/* See testutil.h. POSIX.1-2008 only (plus nftw from XSI). */
#define _XOPEN_SOURCE 700

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- server */

static void set_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

int test_server_start(test_server *s, const char *binary, const char *const *args) {
    int in_pipe[2], out_pipe[2];
    const char *argv[32];
    size_t argc = 0;

    memset(s, 0, sizeof *s);
    s->pid = -1;
    s->stdin_fd = -1;
    argv[argc++] = binary;
    argv[argc++] = "juliahub";
    for (size_t i = 0; args && args[i] && argc < 31; i++) argv[argc++] = args[i];
    argv[argc] = NULL;

    if (pipe(in_pipe) != 0) return -1;
    if (pipe(out_pipe) != 0) {
        close(in_pipe[0]);
        close(in_pipe[1]);
        return -1;
    }
    /* Our ends must not leak into this or any later child, or the server
     * would never see EOF on its stdin. */
    set_cloexec(in_pipe[1]);
    set_cloexec(out_pipe[0]);

    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        dup2(in_pipe[0], STDIN_FILENO);
        dup2(out_pipe[1], STDOUT_FILENO);
        close(in_pipe[0]);
        close(out_pipe[1]);
        execv(binary, (char *const *)argv);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    s->pid = pid;
    s->stdin_fd = in_pipe[1];

    /* Wait (at most 20 s) for the single line URL=http://127.0.0.1:PORT. */
    char line[256];
    size_t used = 0;
    double deadline = now_seconds() + 20.0;
    while (used < sizeof line - 1 && memchr(line, '\n', used) == NULL) {
        struct pollfd p = {.fd = out_pipe[0], .events = POLLIN};
        int left_ms = (int)((deadline - now_seconds()) * 1000);
        if (left_ms <= 0 || poll(&p, 1, left_ms) <= 0) break;
        ssize_t n = read(out_pipe[0], line + used, sizeof line - 1 - used);
        if (n <= 0) break;
        used += (size_t)n;
    }
    close(out_pipe[0]);
    line[used] = '\0';
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    const char *colon = strncmp(line, "URL=http://127.0.0.1:", 21) == 0 ? line + 20 : NULL;
    if (colon == NULL || strlen(line + 4) >= sizeof s->url) {
        fprintf(stderr, "# test server %s did not print its URL (got \"%s\")\n", binary, line);
        test_server_stop(s);
        return -1;
    }
    strcpy(s->url, line + 4);
    s->port = atoi(colon + 1);
    return 0;
}

int test_server_stop(test_server *s) {
    if (s->stdin_fd >= 0) {
        close(s->stdin_fd);
        s->stdin_fd = -1;
    }
    if (s->pid <= 0) return -1;
    int status = 0;
    double deadline = now_seconds() + 10.0;
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) break;
        if (r < 0 && errno != EINTR) {
            s->pid = -1;
            return -1;
        }
        if (now_seconds() > deadline) {
            fprintf(stderr, "# test server %d ignored EOF on stdin; sending SIGTERM\n", (int)s->pid);
            kill(s->pid, SIGTERM);
            waitpid(s->pid, &status, 0);
            s->pid = -1;
            return -1;
        }
        sleep_seconds(0.02);
    }
    s->pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ------------------------------------------------------------------ http */

/* Splits http://127.0.0.1:PORT/path into a port and a path (points into url). */
static int parse_loopback_url(const char *url, int *port, const char **path) {
    const char *rest;
    if (strncmp(url, "http://127.0.0.1:", 17) == 0) {
        rest = url + 17;
    } else if (strncmp(url, "http://localhost:", 17) == 0) {
        rest = url + 17;
    } else {
        return -1;
    }
    char *end;
    long p = strtol(rest, &end, 10);
    if (end == rest || p <= 0 || p > 65535) return -1;
    *port = (int)p;
    *path = *end == '\0' ? "/" : end;
    return **path == '/' ? 0 : -1;
}

static int send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int http_request(const char *method, const char *url, const char *content_type,
                 const char *body, http_response *out) {
    int port;
    const char *path;
    memset(out, 0, sizeof *out);
    if (parse_loopback_url(url, &port, &path) != 0) {
        fprintf(stderr, "# http_request: not a loopback http URL\n");
        return -1;
    }

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = 30, .tv_usec = 0}; /* generous: valgrind */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }

    size_t body_len = body ? strlen(body) : 0;
    char head[4096];
    int head_len = snprintf(head, sizeof head,
                            "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                            "Accept: */*\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                            method, path, port, body_len, content_type ? "Content-Type: " : "",
                            content_type ? content_type : "", content_type ? "\r\n" : "");
    if (head_len < 0 || (size_t)head_len >= sizeof head || send_all(fd, head, (size_t)head_len) != 0 ||
        (body_len > 0 && send_all(fd, body, body_len) != 0)) {
        close(fd);
        return -1;
    }

    /* Connection: close, so the answer is everything until EOF. */
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return -1;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';

    int status = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || sep == NULL) {
        free(buf);
        return -1;
    }
    size_t offset = (size_t)(sep + 4 - buf);
    out->status = status;
    out->body_len = len - offset;
    memmove(buf, buf + offset, out->body_len + 1);
    out->body = buf;
    return 0;
}

void http_response_free(http_response *r) {
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

/* ----------------------------------------------------------------- files */

char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + used, 1, cap - used - 1, f);
        used += n;
        if (n == 0) break;
        if (cap - used - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[used] = '\0';
        if (len) *len = used;
    }
    return buf;
}

int write_file(const char *path, const char *data, size_t len, unsigned mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, (mode_t)mode);
    if (fd < 0) return -1;
    int rc = fchmod(fd, (mode_t)mode); /* the umask must not change the mode under test */
    while (rc == 0 && len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) rc = -1;
        else {
            data += n;
            len -= (size_t)n;
        }
    }
    if (close(fd) != 0) rc = -1;
    return rc;
}

int make_dirs(const char *path) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) return -1;
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    return (mkdir(buf, 0700) == 0 || errno == EEXIST) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int remove_tree(const char *path) {
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int file_mode(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* ------------------------------------------------------------ tiny parse */

/* Where the value starts when `line` is `key = value` (spaces around the
 * `=` skipped), else NULL. */
static const char *toml_value(const char *line, const char *key) {
    size_t key_len = strlen(key);
    if (strncmp(line, key, key_len) != 0) return NULL;
    const char *p = line + key_len;
    while (*p == ' ') p++;
    if (*p++ != '=') return NULL;
    while (*p == ' ') p++;
    return p;
}

char *toml_string(const char *toml, const char *key) {
    for (const char *line = toml; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *p = toml_value(line, key);
        if (p == NULL || *p++ != '"') continue;
        const char *end = strchr(p, '"');
        if (end == NULL) return NULL;
        char *value = malloc((size_t)(end - p) + 1);
        if (value) {
            memcpy(value, p, (size_t)(end - p));
            value[end - p] = '\0';
        }
        return value;
    }
    return NULL;
}

long toml_int(const char *toml, const char *key, long fallback) {
    for (const char *line = toml; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *p = toml_value(line, key);
        if (p == NULL) continue;
        char *end;
        long v = strtol(p, &end, 10);
        return end == p ? fallback : v;
    }
    return fallback;
}

long json_int(const char *json, const char *key) {
    char needle[128];
    if (snprintf(needle, sizeof needle, "\"%s\":", key) >= (int)sizeof needle) return -1;
    const char *p = strstr(json, needle);
    if (p == NULL) return -1;
    p += strlen(needle);
    while (*p == ' ') p++;
    char *end;
    long v = strtol(p, &end, 10);
    return end == p ? -1 : v;
}

/* ------------------------------------------------------------------ time */

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_seconds(double seconds) {
    if (seconds <= 0) return;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
