"""
    HubAuth

Get, keep, refresh, check and hand out tokens for data and compute hubs
(JuliaHub, DagsHub, DigitalHub, CAVE, any OpenID Connect server) through the
hubauth native library, with JuliaHub.jl's authentication API (a drop-in:
same names, return values, errors and properties):

```julia
using HubAuth
auth = HubAuth.authenticate("https://juliahub.com")
auth.username, auth.expires_at
HTTP.get(url, ["Authorization" => String(HubAuth.authorization(auth))])   # Bearer or Basic
```

Logins, refreshes and checks run on the library's thread as jobs; the
calling task waits for them in Julia's scheduler, so the REPL, notebooks and
the GC go on, and Ctrl-C cancels. `HubAuth.code(e)` is the status code of an
[`AuthenticationError`](@ref). `HubAuth.LibHubAuth` is the C API itself,
generated from `include/hubauth.h`.
"""
module HubAuth

using Dates: DateTime, unix2datetime
using UUIDs: UUID
import Libdl
import URIs

include("LibHubAuth.jl")   # generated: the C API, one function per C function
const L = LibHubAuth

include("api.jl")

# A library without the job API (a stale HUBAUTH_LIB, an old build) would
# fail at the first call with "could not load symbol": say so at load time.
function __init__()
    lib = try
        Libdl.dlopen(L.libhubauth; throw_error = false)
    catch
        nothing
    end
    if lib === nothing
        @warn "HubAuth: cannot load the library $(repr(L.libhubauth)); set HUBAUTH_LIB or install HubAuth_jll"
    elseif Libdl.dlsym_e(lib, :hubauth_job_start) == C_NULL
        @warn "HubAuth: $(repr(L.libhubauth)) has no hubauth_job_start (too old for this HubAuth); set HUBAUTH_LIB to a newer build"
    end
    return nothing
end

export Authentication, AuthenticationError, InvalidAuthentication, JuliaHubException, Secret,
    authenticate, reauthenticate!, check_authentication, current_authentication,
    get_token, logout, save_token

end # module HubAuth
