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

`HubAuth.LibHubAuth` is the C API itself, generated from `include/hubauth.h`.
"""
module HubAuth

using Dates: DateTime, unix2datetime
using UUIDs: UUID
import Libdl
import URIs

include("LibHubAuth.jl")   # generated: the C API, one function per C function
const L = LibHubAuth

include("api.jl")

export Authentication, AuthenticationError, InvalidAuthentication, JuliaHubException, Secret,
    authenticate, reauthenticate!, check_authentication, current_authentication,
    get_token, logout, save_token

end # module HubAuth
