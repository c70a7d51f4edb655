# The high-level API: a drop-in for JuliaHub.jl's authentication API (names,
# return values, error types and fields, `show`, hook semantics, projects; the
# table is in bindings/julia/juliahub_api.tsv, checked by test_juliahub_api.py).
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
    JuliaHubException <: Exception

The supertype of the exceptions below, as in JuliaHub.jl.
"""
abstract type JuliaHubException <: Exception end

"""
    AuthenticationError(msg) <: JuliaHubException

Authentication failed. As in JuliaHub.jl, `.msg` holds a human-readable
message (never a token). `.code` is hubauth's stable status code (one of the
`HubAuth.LibHubAuth.HUBAUTH_ERR_*` constants, e.g. `HUBAUTH_ERR_CANCELLED`);
`AuthenticationError(msg)` gets `HUBAUTH_ERR_AUTHENTICATION`. (`.message` is
kept as an alias of `.msg`.)
"""
struct AuthenticationError <: JuliaHubException
    msg::String
    code::Int32
end
AuthenticationError(msg::AbstractString) = AuthenticationError(String(msg), L.HUBAUTH_ERR_AUTHENTICATION)
AuthenticationError(code::Integer, msg::AbstractString) = AuthenticationError(String(msg), Int32(code))

Base.getproperty(e::AuthenticationError, name::Symbol) =
    name === :message ? getfield(e, :msg) : getfield(e, name)
Base.propertynames(::AuthenticationError, private::Bool = false) = (:msg, :code)

"""
    InvalidAuthentication <: JuliaHubException

The token is invalid or has expired and could not be renewed, as in JuliaHub.jl:
thrown by [`HubAuth.token`](@ref) (and `auth.token`); re-authenticating with
[`authenticate`](@ref) or [`reauthenticate!`](@ref) resolves it.
"""
struct InvalidAuthentication <: JuliaHubException end
Base.showerror(io::IO, ::InvalidAuthentication) = print(
    io,
    """
    InvalidAuthentication: authentication token invalid or expired
    Please re-authenticate with HubAuth.authenticate()""",
)

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
    print(io, "AuthenticationError: ", e.msg)
    e.code == L.HUBAUTH_ERR_AUTHENTICATION || print(io, " (", _code_name(e.code), ")")
end

# Turns a nonzero status and the `hubauth_error *` that came with it into a
# thrown AuthenticationError. The error object is freed on every path.
function _raise_if_error(status::Integer, err::Ptr{Cvoid}; invalid::Bool = false)
    if invalid && status == L.HUBAUTH_ERR_AUTHENTICATION
        # The token expired and could not be renewed: JuliaHub.jl's exception.
        L.hubauth_error_free(err)
        throw(InvalidAuthentication())
    end
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
    Secret(value::Vector{UInt8})

A token kept by hubauth outside Julia's heap: zeroed when freed, never shown.
The constructors are JuliaHub.jl's; like `Base.SecretBuffer!`, the
`Vector{UInt8}` one zeroes the vector it was given. `show`, `print` and
`string` give `HubAuth.Secret("*******")`; `String(secret)` copies the value
out (that copy is an ordinary `String`, so use it and drop it);
`length(secret)` is its length in bytes. `close(secret)` zeroes and frees it at
once (idempotent, safe from several threads), otherwise the finalizer does.
"""
mutable struct Secret
    ptr::Threads.Atomic{UInt}   # the hubauth_secret *, swapped to 0 by close
    function Secret(ptr::Ptr{Cvoid})
        ptr == C_NULL && throw(ArgumentError("Secret: NULL hubauth_secret"))
        s = new(Threads.Atomic{UInt}(UInt(ptr)))
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

function Secret(value::Vector{UInt8})
    try
        isvalid(String, value) || throw(ArgumentError("Secret: the value is not valid UTF-8"))
        0x00 in value && throw(ArgumentError("Secret: the value contains a NUL byte"))
        buf = Vector{UInt8}(undef, length(value) + 1)   # NUL-terminated copy for C
        copyto!(buf, value)
        buf[end] = 0x00
        try
            return GC.@preserve buf Secret(L.hubauth_secret_new(pointer(buf)))
        finally
            fill!(buf, 0x00)
        end
    finally
        fill!(value, 0x00)
    end
end

Secret(s::Secret) = s

_handle(a::Threads.Atomic{UInt}) = Ptr{Cvoid}(a[])

function Base.unsafe_convert(::Type{Ptr{Cvoid}}, s::Secret)
    p = _handle(getfield(s, :ptr))
    p == C_NULL && throw(ArgumentError("this Secret has been closed"))
    return p
end

function Base.close(s::Secret)
    p = Ptr{Cvoid}(Threads.atomic_xchg!(getfield(s, :ptr), UInt(0)))
    p == C_NULL || L.hubauth_secret_free(p)
    return nothing
end

Base.isopen(s::Secret) = _handle(getfield(s, :ptr)) != C_NULL

function Base.String(s::Secret)
    GC.@preserve s begin
        p = L.hubauth_secret_expose(s)                 # borrowed: valid while `s` lives
        return unsafe_string(p)
    end
end

Base.length(s::Secret) = Int(L.hubauth_secret_len(s))
Base.isempty(s::Secret) = length(s) == 0
Base.show(io::IO, ::Secret) = print(io, "HubAuth.Secret(\"*******\")")
Base.print(io::IO, s::Secret) = show(io, s)

# ---------------------------------------------------------------------------
# The login hook and how it is kept alive
# ---------------------------------------------------------------------------

# The user's hook, `url -> anything` (its value is ignored, as in JuliaHub.jl). C receives `pointer_from_objref(box)`
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
# on whatever the hook returned (JuliaHub.jl ignores the hook's value); 1
# (cancel) only when it threw. Nothing may unwind into C (hubauth is Rust: unwinding
# through it is undefined behaviour), so every exception is caught here, kept
# in the task's local storage, the login is cancelled, and the exception is
# thrown again once the C call has returned (_calling_hook).
function _hook_trampoline(userdata::Ptr{Cvoid}, url::Cstring)::Int32
    try
        box = unsafe_pointer_to_objref(userdata)::_HookBox
        box.f(unsafe_string(url))
        return Int32(0)
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

# JuliaHub.jl's project of the most recent successful authenticate, which
# current_authentication() reports (hubauth keeps the hook and options itself).
const _CURRENT_PROJECT = Ref{Union{Nothing,UUID}}(nothing)

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

# Builds a hubauth_options from `opts` (and the hook, and the cancel), runs
# f(o), frees it.
function _with_options(f, opts::Vector{Pair{String,Any}}, box::Union{Nothing,_HookBox},
                       cancel::Ptr{Cvoid} = C_NULL)
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
        if cancel != C_NULL
            _check_status(L.hubauth_options_set_cancel(o, cancel), "hubauth_options_set_cancel")
        end
        return f(o)
    finally
        L.hubauth_options_free(o)
    end
end

# ---------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------

# A hubauth_cancel for one blocking call, freed after it: f(cancel). The
# options it is set on keep their own reference (and so does an
# authentication made from them), so freeing it here is safe.
function _with_cancel(f)
    cancel = L.hubauth_cancel_new()
    cancel == C_NULL && throw(SystemError("hubauth_cancel_new (out of file descriptors?)"))
    try
        return f(cancel)
    finally
        L.hubauth_cancel_free(cancel)
    end
end

# Runs `call()` (a blocking hubauth call whose options carry `cancel`) so that
# Ctrl-C cancels it. Julia throws InterruptException only in a task that waits,
# never inside a ccall, so the call runs in a task spawned on another thread
# while this one waits for it: on InterruptException, hubauth_cancel_trigger
# (the library ends its wait within milliseconds), wait again for the call to
# return, and rethrow. When the call had succeeded all the same, `undo()`
# releases what it handed out. With one thread (julia -t 1) nothing can wait
# beside the call: it runs in place, and Ctrl-C takes effect when it returns.
# (The spawned task may also land on this thread; then, too, Ctrl-C waits for
# the call. A hook given to the call runs on the call's thread.)
function _interruptible(call, cancel::Ptr{Cvoid}; undo = nothing)
    Threads.nthreads() > 1 || return call()
    task = Threads.@spawn call()
    interrupted = nothing
    while !istaskdone(task)
        try
            wait(task)
        catch e
            # A failed call (TaskFailedException) ends the loop; see below.
            if e isa InterruptException
                interrupted === nothing && (interrupted = e)
                L.hubauth_cancel_trigger(cancel)
            end
        end
    end
    if interrupted !== nothing
        istaskfailed(task) || undo === nothing || undo()
        throw(interrupted)
    end
    istaskfailed(task) && throw(task.exception)
    return fetch(task)
end

_base_options(server, provider) =
    _push_kwargs!(Pair{String,Any}[], (provider = provider, server = server))

# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Running a blocking C call without stopping the Julia scheduler, and
# turning an interrupt (Ctrl-C) into hubauth's cancellation
# ---------------------------------------------------------------------------

# Can the blocking call run on another Julia thread than this one? (With one
# thread, `Threads.@spawn` would run it here anyway.)
function _can_offload()
    Threads.nthreads() > 1 && return true
    # Julia ≥ 1.9: `julia -t 1,1` runs the REPL on the interactive thread and
    # spawns onto the default one.
    return VERSION >= v"1.9" && Threads.threadpool() === :interactive
end

function _fetch(t::Task)
    try
        return fetch(t)
    catch e
        e isa TaskFailedException && throw(e.task.exception)
        rethrow()
    end
end

# Runs `call()` (one blocking hubauth call that needs no cancel: a check, a
# token refresh) on another Julia thread when one exists, so this thread's
# tasks keep running while it waits for the network. Logins go through
# `_interruptible` instead, whose cancel Ctrl-C triggers.
#
# Caveat: a Julia thread inside a ccall does not take part in garbage
# collection, so another thread that needs a collection waits for the call to
# return (ccall's `gc_safe` needs Julia ≥ 1.12 and @ccall, which the header
# check does not read yet).
function _blocking(call)
    _can_offload() || return call()
    return _fetch(Threads.@spawn call())
end

# ---------------------------------------------------------------------------
# Projects (JuliaHub.jl's `project` keyword and JULIAHUB_PROJECT_UUID)
# ---------------------------------------------------------------------------

# `missing`: JULIAHUB_PROJECT_UUID (stripped; empty = none); `nothing`: none,
# whatever the environment says; a UUID or a UUID string: that project.
function _juliahub_project(project::Union{AbstractString,UUID,Nothing,Missing})
    if project === missing
        env = strip(get(ENV, "JULIAHUB_PROJECT_UUID", ""))
        project = isempty(env) ? nothing : env
    end
    project === nothing && return nothing
    project isa UUID && return project
    uuid = tryparse(UUID, project)
    uuid === nothing &&
        throw(ArgumentError("Invalid project_id passed to Authentication() - not a UUID: $(project)"))
    return uuid
end

# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------

"""
    Authentication

A logged-in session with a hub, shared with hubauth: when
[`reauthenticate!`](@ref) (or a refresh) renews the token, every holder sees
it. Properties, as in JuliaHub.jl:

- `server::URIs.URI`: the server;
- `username::String`: the user (`nothing` only for hubs that do not say;
  `authenticate` fails with "Unable to determine username." for JuliaHub);
- `token::Secret`: the token to send, refreshed first when it is about to
  expire (the same as [`HubAuth.token(auth)`](@ref HubAuth.token));
- `project_id::Union{UUID,Nothing}`: the JuliaHub project;
- `authorization::Secret`: the whole `Authorization` header value, as hubauth
  makes it for the hub (the same as [`HubAuth.authorization(auth)`](@ref)).

and `expires_at::Union{DateTime,Nothing}` (UTC; `nothing` when it does not
expire or that is unknown).

`close(auth)` frees the handle now (idempotent, safe from several threads);
otherwise the finalizer does.
"""
mutable struct Authentication
    ptr::Threads.Atomic{UInt}        # the hubauth_auth *, swapped to 0 by close
    project_id::Union{UUID,Nothing}  # JuliaHub.jl's project, kept by this binding
    function Authentication(ptr::Ptr{Cvoid}, project_id::Union{UUID,Nothing} = nothing)
        ptr == C_NULL && throw(ArgumentError("Authentication: NULL hubauth_auth"))
        a = new(Threads.Atomic{UInt}(UInt(ptr)), project_id)
        finalizer(close, a)
        return a
    end
end

function Base.unsafe_convert(::Type{Ptr{Cvoid}}, a::Authentication)
    p = _handle(getfield(a, :ptr))
    p == C_NULL && throw(ArgumentError("this Authentication has been closed"))
    return p
end

function Base.close(a::Authentication)
    p = Ptr{Cvoid}(Threads.atomic_xchg!(getfield(a, :ptr), UInt(0)))
    p == C_NULL || L.hubauth_auth_free(p)
    return nothing
end

Base.isopen(a::Authentication) = _handle(getfield(a, :ptr)) != C_NULL

_server_string(a::Authentication) = something(_take_string(L.hubauth_auth_server(a)))

function Base.getproperty(a::Authentication, name::Symbol)
    if name === :server
        return URIs.URI(_server_string(a))
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
    public = (:server, :username, :token, :authorization, :project_id, :expires_at)
    return private ? (public..., :ptr) : public
end

# As JuliaHub.jl: HubAuth.Authentication("https://juliahub.com", "username", *****; project_id = "…")
function Base.show(io::IO, a::Authentication)
    if !isopen(a)
        print(io, "HubAuth.Authentication(<closed>)")
        return
    end
    print(io, "HubAuth.Authentication(")
    print(io, '"', _server_string(a), "\", ")
    user = a.username
    print(io, user === nothing ? "nothing" : repr(user), ", ")
    print(io, "*****")
    project = getfield(a, :project_id)
    project === nothing || print(io, "; project_id = \"", project, "\"")
    print(io, ")")
end

_is_juliahub(provider) = provider === nothing || string(provider) == "juliahub"

function _check_login_arguments(maxcount, hook)
    maxcount === nothing || maxcount >= 1 ||
        throw(ArgumentError("maxcount must be >= 1, got '$maxcount'"))
    hook === nothing || hasmethod(hook, Tuple{AbstractString}) || throw(ArgumentError(
        "Browser hook ($hook) must have a method taking a single URL string argument."))
    return nothing
end

"""
    authenticate(server = nothing; force = false, maxcount = 3, hook = nothing,
                 project = <JULIAHUB_PROJECT_UUID>, provider = :juliahub, kwargs...) -> Authentication
    authenticate(server, token::Union{AbstractString,Secret}; project, kwargs...) -> Authentication

JuliaHub.jl's `authenticate`: finds a stored token for `server`, refreshes it,
or logs in, and makes the result what [`current_authentication`](@ref)
returns. `server = nothing` means the provider's default (for JuliaHub,
`ENV["JULIA_PKG_SERVER"]`). For JuliaHub it then sets `ENV["JULIA_PKG_SERVER"]`
to the server, so Pkg uses it. A keyword left out is not passed, so the
library's default applies (the defaults shown are the library's).

- `force = true` forgets the stored token and logs in again;
- `maxcount`: how many times to try a login (≥ 1);
- `hook`: called with the URL the user must open to log in, instead of
  opening a browser; its return value is ignored (as in JuliaHub.jl). If it
  throws, the login is cancelled and its exception is rethrown here. Ctrl-C
  while waiting cancels the login (Julia started with more than one thread and
  a library with `hubauth_cancel_*`);
- `project`: a project UUID (or its string); `nothing` ignores
  `JULIAHUB_PROJECT_UUID`, which is used when the keyword is not given;
- `token`, or the second positional argument: use this token as given (e.g. in
  CI) and touch no file;
- any other keyword is a hubauth option, passed as `string(k) => string(v)`
  (`true`/`false` for Bools): `interactive = false`, `timeout_ms = 60_000`,
  `token_path = "..."`, `token_kind = "access"`, `validate = true`, ...
  `provider` is one of `:juliahub`, `:dagshub`, `:dhcore`, `:cave`, `:oidc`.

Ctrl-C (`InterruptException`) cancels a waiting login at once, having written
nothing, and is rethrown; this needs Julia started with more than one thread
(`julia -t 2`), else the interrupt takes effect when the call returns.

Throws [`AuthenticationError`](@ref) on failure, `ArgumentError` for a bad
`maxcount`, `hook` or `project`.
"""
function authenticate(server::Union{AbstractString,Nothing} = nothing;
                      provider = nothing, force::Union{Nothing,Bool} = nothing,
                      maxcount::Union{Nothing,Integer} = nothing, hook = nothing,
                      project::Union{AbstractString,UUID,Nothing,Missing} = missing,
                      token::Union{Nothing,AbstractString,Secret} = nothing, kwargs...)
    _check_login_arguments(maxcount, hook)
    project_id = _is_juliahub(provider) ? _juliahub_project(project) : nothing
    opts = _base_options(server, provider)
    _push_kwargs!(opts, (force = force, maxcount = maxcount, token = token))
    _push_kwargs!(opts, kwargs)
    box = hook === nothing ? nothing : _HookBox(hook)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    _with_cancel() do cancel
        _with_options(opts, box, cancel) do o
            # The hook runs in the task that makes the ccall: _calling_hook
            # goes inside _interruptible, which may spawn that task.
            _interruptible(cancel; undo = () -> L.hubauth_auth_free(out[])) do
                _calling_hook() do
                    @check L.hubauth_authenticate(o, out)
                end
            end
        end
    end
    auth = Authentication(out[], project_id)
    if _is_juliahub(provider)
        if auth.username === nothing
            close(auth)
            throw(AuthenticationError("Unable to determine username."))
        end
        ENV["JULIA_PKG_SERVER"] = _server_string(auth)
    end
    # Only an authentication that is kept gets the project.
    _CURRENT_PROJECT[] = project_id
    return auth
end

function authenticate(server::AbstractString, token::Union{AbstractString,Secret};
                      project::Union{AbstractString,UUID,Nothing,Missing} = missing, kwargs...)
    return authenticate(server; token = token, project = project, kwargs...)
end

# JuliaHub.jl's `__auth__()`: the current authentication, or a new one.
function _auth_or_authenticate()
    auth = current_authentication()
    auth === nothing || return auth
    return authenticate()
end

"""
    reauthenticate!([auth = current_authentication()]; force = false, maxcount = 3, hook = nothing,
                    kwargs...) -> auth

JuliaHub.jl's `reauthenticate!`: reloads the stored token (another process may
have renewed it) and refreshes it if needed; logs in again when that fails or
`force = true`. Updates `auth` in place, for every holder; its `project_id` is
kept. Without `auth` and with no current authentication, it authenticates
first (as JuliaHub.jl does). hubauth uses the options and hook `auth` was
created with, with the keywords given here laid over them for this call only.
`force` applies only to the call that sets it. The user must not change.
"""
reauthenticate!(; kwargs...) = reauthenticate!(_auth_or_authenticate(); kwargs...)

function reauthenticate!(auth::Authentication; force::Union{Nothing,Bool} = nothing,
                         maxcount::Union{Nothing,Integer} = nothing, hook = nothing, kwargs...)
    _check_login_arguments(maxcount, hook)
    opts = _push_kwargs!(Pair{String,Any}[], (force = force, maxcount = maxcount))
    _push_kwargs!(opts, kwargs)
    new_box = hook === nothing ? nothing : _HookBox(hook)
    # Options with only what is given here, and this call's cancel (Ctrl-C):
    # C lays them over those of authenticate (its hook included), so nothing
    # else changes.
    _with_cancel() do cancel
        _with_options(opts, new_box, cancel) do o
            _interruptible(cancel) do
                _calling_hook() do
                    @check L.hubauth_reauthenticate(auth, o)
                end
            end
        end
    end
    return auth
end

"""
    check_authentication(; auth = current_authentication()) -> Bool

JuliaHub.jl's `check_authentication`: asks the server whether the token is
good (on JuliaHub before 6.2 through its legacy endpoints). With no current
authentication it authenticates first. Throws [`AuthenticationError`](@ref)
when the server cannot say (unreachable, unexpected answer).
"""
function check_authentication(; auth::Authentication = _auth_or_authenticate())
    valid = Ref{Bool}(false)
    _blocking() do
        @check L.hubauth_check(auth, valid)
    end
    return valid[]
end

"""
    current_authentication() -> Union{Authentication, Nothing}

The most recent successful [`authenticate`](@ref) of this process (a new
reference to the same shared session), or `nothing` when there is none (as in
JuliaHub.jl). It never authenticates.
"""
function current_authentication()
    p = L.hubauth_current()
    p == C_NULL && return nothing
    return Authentication(p, _CURRENT_PROJECT[])
end

"""
    HubAuth.token(auth = current_authentication()) -> Secret
    get_token(auth = current_authentication()) -> Secret

The token a request should carry (for JuliaHub the id_token, or with
`token_kind = "access"` the access token), refreshed first when it expires
within `refresh_margin_s`. A fresh token costs no lock and no I/O. For the
header, use [`HubAuth.authorization`](@ref): hubauth knows the scheme
(`Bearer`, or `Basic` for DHCore user/password credentials). Throws
[`InvalidAuthentication`](@ref) when the token expired and could not be
renewed.
"""
function token(auth::Union{Authentication,Nothing} = current_authentication())
    auth === nothing && throw(AuthenticationError(L.HUBAUTH_ERR_NO_CREDENTIALS,
                                                  "not authenticated: call HubAuth.authenticate() first"))
    out = Ref{Ptr{Cvoid}}(C_NULL)
    _blocking() do
        err = Ref{Ptr{Cvoid}}(C_NULL)
        status = L.hubauth_token(auth, out, err)
        _raise_if_error(status, err[]; invalid = true)
    end
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
