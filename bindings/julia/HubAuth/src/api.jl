# The high-level API, shaped like JuliaHub.jl's authentication functions.
#
# Every C call goes through the generated wrappers in LibHubAuth (`L.hubauth_*`),
# so this file holds no `ccall` of its own and check_ccalls.py checks each C
# signature in one place. Handles (Authentication, Secret) are passed to those
# wrappers as Julia objects, not as raw pointers: `ccall` keeps the object
# alive for the duration of the call and `Base.unsafe_convert` unwraps it, so a
# finalizer can never free a handle while C is using it (the LibGit2 pattern).

# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

"""
    AuthenticationError(code, message) <: Exception

A hubauth call failed. `code` is the stable status code (one of the
`HubAuth.LibHubAuth.HUBAUTH_ERR_*` constants, e.g. `HUBAUTH_ERR_CANCELLED`),
`message` says why in words and never contains a token.
"""
struct AuthenticationError <: Exception
    code::Int32
    message::String
end

function _code_name(code::Integer)
    for name in names(L; all = true)
        s = string(name)
        if startswith(s, "HUBAUTH_") && getfield(L, name) == code
            return s
        end
    end
    return "status $(code)"
end

function Base.showerror(io::IO, e::AuthenticationError)
    print(io, "AuthenticationError: ", e.message, " (", _code_name(e.code), ")")
end

# Turns a nonzero status and the `hubauth_error *` that came with it into a
# thrown AuthenticationError. The error object is freed on every path.
function _raise_if_error(status::Integer, err::Ptr{Cvoid})
    if status == L.HUBAUTH_OK
        err == C_NULL || L.hubauth_error_free(err)   # not written on success; be safe
        return nothing
    end
    message = ""
    try
        if err != C_NULL
            p = L.hubauth_error_message(err)          # borrowed: copy it before the free
            p == C_NULL || (message = unsafe_string(p))
        end
    finally
        L.hubauth_error_free(err)
    end
    isempty(message) && (message = "hubauth failed ($(_code_name(status)))")
    throw(AuthenticationError(Int32(status), message))
end

"""
    @check L.hubauth_f(args...)

Like LibGit2's `@check`. Calls a hubauth function that returns a
`hubauth_status` and ends with a `hubauth_error **err` parameter, which the
macro supplies (do not pass it): a nonzero status becomes a thrown
[`AuthenticationError`](@ref) carrying the error's message, and the error
object is always freed.
"""
macro check(call)
    Meta.isexpr(call, :call) || throw(ArgumentError("@check expects a call, got $(call)"))
    err = gensym("err")
    status = gensym("status")
    c = Expr(:call, map(esc, call.args)..., err)
    return quote
        $err = Ref{Ptr{Cvoid}}(C_NULL)
        $status = $c
        _raise_if_error($status, $err[])
    end
end

# For the functions without an `err` parameter (hubauth_options_set_hook_full).
function _check_status(status::Integer, what::AbstractString)
    status == L.HUBAUTH_OK && return nothing
    throw(AuthenticationError(Int32(status), "$(what) failed ($(_code_name(status)))"))
end

# A `char *` hubauth handed over: copy it into a String and free it. NULL → nothing.
function _take_string(p::Ptr{UInt8})
    p == C_NULL && return nothing
    try
        return unsafe_string(p)
    finally
        L.hubauth_string_free(p)
    end
end

"""
    HubAuth.version() -> VersionNumber

The version of the loaded libhubauth.
"""
version() = VersionNumber(unsafe_string(L.hubauth_version()))

# ---------------------------------------------------------------------------
# Secret
# ---------------------------------------------------------------------------

"""
    Secret(value::AbstractString)

A token kept by hubauth outside Julia's heap: zeroed when freed, never shown.
`show`, `print` and `string` give `Secret(*****)`; `String(secret)` copies the
value out (that copy is an ordinary `String`, so use it and drop it);
`length(secret)` is its length in bytes. `close(secret)` zeroes and frees it at
once, otherwise the finalizer does.
"""
mutable struct Secret
    ptr::Ptr{Cvoid}
    function Secret(ptr::Ptr{Cvoid})
        ptr == C_NULL && throw(ArgumentError("Secret: NULL hubauth_secret"))
        s = new(ptr)
        finalizer(close, s)
        return s
    end
end

function Secret(value::AbstractString)
    v = String(value)
    isvalid(v) || throw(ArgumentError("Secret: the value is not valid UTF-8"))
    occursin('\0', v) && throw(ArgumentError("Secret: the value contains a NUL byte"))
    return Secret(L.hubauth_secret_new(v))
end

Secret(s::Secret) = s

function Base.unsafe_convert(::Type{Ptr{Cvoid}}, s::Secret)
    p = getfield(s, :ptr)
    p == C_NULL && throw(ArgumentError("this Secret has been closed"))
    return p
end

function Base.close(s::Secret)
    p = getfield(s, :ptr)
    setfield!(s, :ptr, C_NULL)
    p == C_NULL || L.hubauth_secret_free(p)
    return nothing
end

Base.isopen(s::Secret) = getfield(s, :ptr) != C_NULL

function Base.String(s::Secret)
    GC.@preserve s begin
        p = L.hubauth_secret_expose(s)                 # borrowed: valid while `s` lives
        return unsafe_string(p)
    end
end

Base.length(s::Secret) = Int(L.hubauth_secret_len(s))
Base.isempty(s::Secret) = length(s) == 0
Base.show(io::IO, ::Secret) = print(io, "Secret(*****)")
Base.print(io::IO, s::Secret) = show(io, s)

# ---------------------------------------------------------------------------
# The login hook and how it is kept alive
# ---------------------------------------------------------------------------

# The user's hook, `url -> Bool/Nothing`. C receives `pointer_from_objref(box)`
# as `userdata`: a pointer the GC neither traces nor updates, so the box stays
# in `_HOOKS` until hubauth says it holds no copy of the hook any more
# (`free_userdata` of hubauth_options_set_hook_full: the options freed, every
# authentication made from them freed and no longer current, or the hook
# replaced). hubauth decides that; this binding keeps no record of which
# authentication or which "current" holds which hook.
mutable struct _HookBox
    f::Any
    freed::Threads.Atomic{Bool}    # set by _free_hook; the entry goes at the next sweep
end
_HookBox(f) = _HookBox(f, Threads.Atomic{Bool}(false))

const _HOOKS_LOCK = ReentrantLock()
const _HOOKS = _HookBox[]

# Called by hubauth when it drops its last copy of a hook. That can happen
# inside a finalizer (an Authentication's close → hubauth_auth_free), where
# taking a lock or allocating is not allowed: so it only marks the box, which
# stays rooted until `_register_hook` sweeps it out.
function _free_hook(userdata::Ptr{Cvoid})::Cvoid
    box = unsafe_pointer_to_objref(userdata)::_HookBox
    box.freed[] = true
    return nothing
end

_free_hook_cfunction() = @cfunction(_free_hook, Cvoid, (Ptr{Cvoid},))

# Roots `box` until hubauth frees it, and drops the boxes it has freed.
function _register_hook(box::_HookBox)
    lock(_HOOKS_LOCK) do
        filter!(b -> !b.freed[], _HOOKS)
        push!(_HOOKS, box)
    end
    return nothing
end

# How many hooks hubauth may still call (for tests).
_live_hooks() = lock(() -> count(b -> !b.freed[], _HOOKS), _HOOKS_LOCK)

# Called by hubauth (on the thread that runs the login, inside the ccall, so
# in the task that made it) with the URL a user must open. Returns 0 to go
# on, 1 to cancel. Nothing may unwind into C (hubauth is Rust: unwinding
# through it is undefined behaviour), so every exception is caught here, kept
# in the task's local storage, the login is cancelled, and the exception is
# thrown again once the C call has returned (_calling_hook).
function _hook_trampoline(userdata::Ptr{Cvoid}, url::Cstring)::Int32
    try
        box = unsafe_pointer_to_objref(userdata)::_HookBox
        return box.f(unsafe_string(url)) === false ? Int32(1) : Int32(0)
    catch e
        get(task_local_storage(), :hubauth_hook_exception, nothing) === nothing &&
            task_local_storage(:hubauth_hook_exception, e)
        return Int32(1)
    end
end

_hook_cfunction() = @cfunction(_hook_trampoline, Int32, (Ptr{Cvoid}, Cstring))

# Runs `f` (a C call that may invoke a hook: the one given to this call or
# one hubauth kept from authenticate); when it fails because the hook threw,
# throws the hook's exception instead of the CANCELLED error.
function _calling_hook(f)
    task_local_storage(:hubauth_hook_exception, nothing)
    try
        return f()
    catch
        e = get(task_local_storage(), :hubauth_hook_exception, nothing)
        e === nothing && rethrow()
        throw(e)
    finally
        task_local_storage(:hubauth_hook_exception, nothing)
    end
end

# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------

_optvalue(v::Bool) = v ? "true" : "false"
_optvalue(v::AbstractString) = String(v)
_optvalue(v::Secret) = v
_optvalue(v) = string(v)

# kwargs → option keys: `string(k) => string(v)` (Bool → "true"/"false");
# `nothing` is not sent, so the library's default (or, for reauthenticate!,
# the value given to authenticate) applies: defaults live in the library only.
function _push_kwargs!(opts::Vector{Pair{String,Any}}, kwargs)
    for (k, v) in pairs(kwargs)
        v === nothing && continue
        push!(opts, string(k) => _optvalue(v))
    end
    return opts
end

function _set_option(o::Ptr{Cvoid}, key::String, value::String)
    @check L.hubauth_options_set(o, key, value)
end

function _set_option(o::Ptr{Cvoid}, key::String, value::Secret)
    GC.@preserve value begin
        @check L.hubauth_options_set(o, key, L.hubauth_secret_expose(value))
    end
end

# Builds a hubauth_options from `opts` (and the hook), runs f(o), frees it.
function _with_options(f, opts::Vector{Pair{String,Any}}, box::Union{Nothing,_HookBox})
    o = L.hubauth_options_new()
    o == C_NULL && throw(OutOfMemoryError())
    try
        for (k, v) in opts
            _set_option(o, k, v)
        end
        if box !== nothing
            _register_hook(box)
            status = L.hubauth_options_set_hook_full(o, _hook_cfunction(), pointer_from_objref(box),
                                                     _free_hook_cfunction())
            status == L.HUBAUTH_OK || (box.freed[] = true)   # not taken: never freed by C
            _check_status(status, "hubauth_options_set_hook_full")
        end
        return f(o)
    finally
        L.hubauth_options_free(o)
    end
end

_base_options(server, provider) =
    _push_kwargs!(Pair{String,Any}[], (provider = provider, server = server))

# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------

"""
    Authentication

A logged-in session with a hub, shared with hubauth: when
[`reauthenticate!`](@ref) (or a refresh) renews the token, every holder sees
it. Properties:

- `server::String`: the normalised server URL;
- `username::Union{String,Nothing}`: `nothing` when the hub did not say;
- `expires_at::Union{DateTime,Nothing}`: when the current token expires (UTC),
  `nothing` when it does not or that is unknown;
- `token::Secret`: the token to send, refreshed first when it is about to
  expire (the same as [`HubAuth.token(auth)`](@ref HubAuth.token));
- `authorization::Secret`: the whole `Authorization` header value, as hubauth
  makes it for the hub (the same as [`HubAuth.authorization(auth)`](@ref)).

`close(auth)` frees the handle now; otherwise the finalizer does.
"""
mutable struct Authentication
    ptr::Ptr{Cvoid}
    function Authentication(ptr::Ptr{Cvoid})
        ptr == C_NULL && throw(ArgumentError("Authentication: NULL hubauth_auth"))
        a = new(ptr)
        finalizer(close, a)
        return a
    end
end

function Base.unsafe_convert(::Type{Ptr{Cvoid}}, a::Authentication)
    p = getfield(a, :ptr)
    p == C_NULL && throw(ArgumentError("this Authentication has been closed"))
    return p
end

function Base.close(a::Authentication)
    p = getfield(a, :ptr)
    setfield!(a, :ptr, C_NULL)
    p == C_NULL || L.hubauth_auth_free(p)
    return nothing
end

Base.isopen(a::Authentication) = getfield(a, :ptr) != C_NULL

function Base.getproperty(a::Authentication, name::Symbol)
    if name === :server
        return something(_take_string(L.hubauth_auth_server(a)))
    elseif name === :username
        return _take_string(L.hubauth_auth_username(a))
    elseif name === :expires_at
        t = L.hubauth_auth_expires_at(a)
        return t < 0 ? nothing : unix2datetime(t)
    elseif name === :token
        return token(a)
    elseif name === :authorization
        return authorization(a)
    else
        return getfield(a, name)
    end
end

function Base.propertynames(::Authentication, private::Bool = false)
    public = (:server, :username, :expires_at, :token, :authorization)
    return private ? (public..., :ptr) : public
end

function Base.show(io::IO, a::Authentication)
    if isopen(a)
        print(io, "HubAuth.Authentication(", repr(a.server), ", ", repr(a.username), ", *****)")
    else
        print(io, "HubAuth.Authentication(<closed>)")
    end
end

"""
    authenticate(server = nothing; provider = nothing, force = nothing, maxcount = nothing,
                 hook = nothing, token = nothing, kwargs...) -> Authentication
    authenticate(server, token; kwargs...) -> Authentication

Finds a stored token for `server`, refreshes it, or logs in, and makes the
result what [`current_authentication`](@ref) returns. `server = nothing` means
the provider's default (for `:juliahub`, `ENV["JULIA_PKG_SERVER"]`). A keyword
left at `nothing` is not passed, so the library's default applies (provider
`:juliahub`, `maxcount = 3`, ...).

- `force = true` forgets the stored token and logs in again;
- `maxcount`: how many times to try (default 3);
- `hook`: called with the URL the user must open to log in, instead of opening
  a browser; return `false` to cancel the login (it then fails with
  `HUBAUTH_ERR_CANCELLED`), anything else to wait for it. If the hook throws,
  the login is cancelled and its exception is rethrown here;
- `token`: use this token as given (e.g. in CI) and touch no file;
- any other keyword is a hubauth option, passed as `string(k) => string(v)`
  (`true`/`false` for Bools): `interactive = false`, `timeout_ms = 60_000`,
  `token_path = "..."`, `refresh_margin_s = 300`, `validate = true`, ...
  `provider` is one of `:juliahub`, `:dagshub`, `:dhcore`, `:cave`, `:oidc`.

Throws [`AuthenticationError`](@ref) on failure.
"""
function authenticate(server = nothing; provider = nothing, force::Union{Nothing,Bool} = nothing,
                      maxcount::Union{Nothing,Integer} = nothing, hook = nothing,
                      token::Union{Nothing,AbstractString,Secret} = nothing, kwargs...)
    opts = _base_options(server, provider)
    _push_kwargs!(opts, (force = force, maxcount = maxcount, token = token))
    _push_kwargs!(opts, kwargs)
    box = hook === nothing ? nothing : _HookBox(hook)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    _with_options(opts, box) do o
        _calling_hook() do
            @check L.hubauth_authenticate(o, out)
        end
    end
    return Authentication(out[])
end

authenticate(server, token::Union{AbstractString,Secret}; kwargs...) =
    authenticate(server; token = token, kwargs...)

"""
    reauthenticate!(auth = current_authentication(); force = nothing, hook = nothing, kwargs...) -> auth

Reloads the stored token (another process may have renewed it) and refreshes
it if needed; logs in again when that fails or `force = true`. Updates `auth`
in place, for every holder. hubauth uses the options and hook `auth` was
created with, with the keywords given here (`force`, `hook`, `interactive`,
`timeout_ms`, ...) laid over them for this call only; a keyword left at
`nothing` keeps its value from `authenticate`. `force` applies only to the
call that sets it (as in JuliaHub.jl). The user must not change.
"""
function reauthenticate!(auth::Authentication = current_authentication();
                         force::Union{Nothing,Bool} = nothing, hook = nothing, kwargs...)
    opts = _push_kwargs!(Pair{String,Any}[], (force = force,))
    _push_kwargs!(opts, kwargs)
    new_box = hook === nothing ? nothing : _HookBox(hook)
    if isempty(opts) && new_box === nothing
        # NULL options: C reuses those of authenticate, its hook included.
        _calling_hook() do
            @check L.hubauth_reauthenticate(auth, C_NULL)
        end
    else
        _with_options(opts, new_box) do o
            _calling_hook() do
                @check L.hubauth_reauthenticate(auth, o)
            end
        end
    end
    return auth
end

"""
    check_authentication(; auth = current_authentication()) -> Bool

Asks the server whether the token is good. Throws [`AuthenticationError`](@ref)
when the server cannot say (unreachable, unexpected answer).
"""
function check_authentication(; auth::Authentication = current_authentication())
    valid = Ref{Bool}(false)
    @check L.hubauth_check(auth, valid)
    return valid[]
end

"""
    current_authentication() -> Authentication

The most recent successful [`authenticate`](@ref) of this process (a new
reference to the same shared session). Throws [`AuthenticationError`](@ref)
(`HUBAUTH_ERR_NO_CREDENTIALS`) when there is none.
"""
function current_authentication()
    p = L.hubauth_current()
    p == C_NULL && throw(AuthenticationError(L.HUBAUTH_ERR_NO_CREDENTIALS,
                                             "not authenticated: call HubAuth.authenticate() first"))
    return Authentication(p)
end

"""
    HubAuth.token(auth = current_authentication()) -> Secret
    get_token(auth = current_authentication()) -> Secret

The token a request should carry (for JuliaHub the id_token), refreshed first
when it expires within `refresh_margin_s`. A fresh token costs no lock and no
I/O. For the header, use [`HubAuth.authorization`](@ref): hubauth knows the
scheme (`Bearer`, or `Basic` for DHCore user/password credentials).
"""
function token(auth::Authentication = current_authentication())
    out = Ref{Ptr{Cvoid}}(C_NULL)
    @check L.hubauth_token(auth, out)
    return Secret(out[])
end

const get_token = token

"""
    HubAuth.authorization(auth = current_authentication()) -> Secret

The whole `Authorization` header value a request should carry, as hubauth
makes it for the hub: `Bearer <token>`, or `Basic <base64>` for DHCore user
and password credentials. Refreshed first like [`HubAuth.token`](@ref).
Use it as `["Authorization" => String(HubAuth.authorization(auth))]`.
"""
function authorization(auth::Authentication = current_authentication())
    out = Ref{Ptr{Cvoid}}(C_NULL)
    @check L.hubauth_authorization(auth, out)
    return Secret(out[])
end

"""
    logout(server = nothing; provider = nothing, kwargs...) -> nothing

Forgets the stored token for `server` (revoking it where the provider allows).
A missing token is not an error.
"""
function logout(server = nothing; provider = nothing, kwargs...)
    opts = _push_kwargs!(_base_options(server, provider), kwargs)
    _with_options(opts, nothing) do o
        @check L.hubauth_logout(o)
    end
    return nothing
end

"""
    save_token(token; server = nothing, provider = nothing, kwargs...) -> nothing

Stores a token obtained elsewhere, atomically, mode 0600, under the file lock:
for `:juliahub` the whole contents of an `auth.toml`, for `:dagshub` an app
token, for `:cave` a 32-hex token. `token` may be a `String` or a [`Secret`](@ref).
"""
function save_token(tok::Union{AbstractString,Secret}; server = nothing, provider = nothing, kwargs...)
    opts = _push_kwargs!(_base_options(server, provider), kwargs)
    secret = Secret(tok)
    _with_options(opts, nothing) do o
        GC.@preserve secret begin
            @check L.hubauth_save_token(o, L.hubauth_secret_expose(secret))
        end
    end
    tok isa Secret || close(secret)
    return nothing
end
