// The header compiled as C++: `make cxx-check` runs it through g++ with
// -Wall -Wextra -Werror -pedantic under several standards, then links and runs
// it. Linking only works if the extern "C" guards give the C symbol names.
#include "hubauth.h"

#include <cstdio>
#include <cstring>

namespace {
// A hook with C linkage is not required: a captureless function works.
int32_t hook(void *, const char *) { return 1; }
}  // namespace

int main() {
    const char *version = hubauth_version();
    hubauth_options *options = hubauth_options_new();
    hubauth_error *err = nullptr;
    hubauth_status unknown = hubauth_options_set(options, "no_such_option", "1", &err);
    hubauth_status hooked = hubauth_options_set_hook(options, hook, nullptr);
    bool ok = version != nullptr && std::strlen(version) > 0 && options != nullptr &&
              unknown == HUBAUTH_ERR_INVALID_ARGUMENT &&
              hubauth_error_code(err) == HUBAUTH_ERR_INVALID_ARGUMENT && hooked == HUBAUTH_OK;
    hubauth_error_free(err);
    hubauth_options_free(options);
    std::printf("cxx-check: hubauth %s from C++: %s\n", version ? version : "?", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
