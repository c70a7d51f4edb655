/*
 * The CMake example: built with find_package(hubauth) and linked with
 * hubauth::hubauth, it prints the library's version and round-trips options
 * (good values are taken, an empty value unsets, an unknown key and bad
 * values are refused with INVALID_ARGUMENT and a message). No network, no file.
 */
#include <hubauth.h>

#include <stdio.h>

static int expect(hubauth_status got, hubauth_status want, const char *what, hubauth_error **err) {
    if (got == want) {
        if (*err != NULL) printf("%s refused: %s\n", what, hubauth_error_message(*err));
        hubauth_error_free(*err);
        *err = NULL;
        return 0;
    }
    fprintf(stderr, "cmake-example: %s gave status %d, expected %d: %s\n", what, (int)got, (int)want,
            hubauth_error_message(*err));
    hubauth_error_free(*err);
    *err = NULL;
    return 1;
}

int main(void) {
    int failures = 0;
    hubauth_error *err = NULL;

    printf("hubauth %s\n", hubauth_version());

    hubauth_options *o = hubauth_options_new();
    if (o == NULL) return 1;
    failures += expect(hubauth_options_set(o, "server", "https://hub.example.org", &err), HUBAUTH_OK, "server", &err);
    failures += expect(hubauth_options_set(o, "interactive", "false", &err), HUBAUTH_OK, "interactive", &err);
    failures += expect(hubauth_options_set(o, "no_such_key", "1", &err), HUBAUTH_ERR_INVALID_ARGUMENT, "no_such_key", &err);
    failures += expect(hubauth_options_set(o, "force", "maybe", &err), HUBAUTH_ERR_INVALID_ARGUMENT, "force=maybe", &err);
    failures += expect(hubauth_options_set(o, "timeout_ms", "-5", &err), HUBAUTH_ERR_INVALID_ARGUMENT, "timeout_ms=-5", &err);
    failures += expect(hubauth_options_set(o, "server", "", &err), HUBAUTH_OK, "server unset", &err);
    failures += expect(hubauth_options_set(NULL, "server", "x", &err), HUBAUTH_ERR_NULL_ARGUMENT, "NULL options", &err);

    hubauth_options_free(o);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
