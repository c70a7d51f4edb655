# The high-level API: a drop-in for JuliaHub.jl's authentication API (names,
# return values, error types and fields, `show`, hook semantics, projects; the
# table is in bindings/julia/juliahub_api.tsv, checked by test_juliahub_api.py).
#
# Every C call goes through the generated wrappers in LibHubAuth (`L.hubauth_*`),
# so this file holds no `ccall` of its own and check_ccalls.py checks each C
# signature in one place, and the type of every argument given to a wrapper
# here (write the types out: `p::Ptr{L.hubauth_auth}`; the checker refuses an
# argument whose type it cannot tell).
#
# Nothing that can reach the network is a blocking `ccall`: authenticate,
# reauthenticate!, token (refresh), authorization, check_authentication and
# logout run as hubauth *jobs* on the library's own thread, and the calling
# task waits for them in Julia's scheduler (`_run_job`): the GC, the REPL,
# notebooks and other tasks go on, with one thread too, and Ctrl-C reaches
# the waiting task. No Julia code ever runs on a thread of the library: the
# job's notify is `uv_async_send` itself (libuv's thread-safe wake-up of a
# `Base.AsyncCondition`), and the user's hook runs in the caller's task.

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

Authentication failed. As in JuliaHub.jl it has one field, `msg`, a
human-readable message (never a token), and `showerror` prints
`AuthenticationError: <msg>`.

hubauth's stable status code is the type parameter:
`AuthenticationError{L.HUBAUTH_ERR_CANCELLED}` is a subtype of
`AuthenticationError`, so `e isa AuthenticationError` holds for every one and
`e isa AuthenticationError{HubAuth.LibHubAuth.HUBAUTH_ERR_TIMEOUT}` picks one
kind; [`HubAuth.code(e)`](@ref HubAuth.code) returns it (an `Int32`, one of
`HubAuth.LibHubAuth.HUBAUTH_ERR_*`). `AuthenticationError(msg)` gets
`HUBAUTH_ERR_AUTHENTICATION`.
"""
struct AuthenticationError{C} <: JuliaHubException
    msg::String
end
AuthenticationError(msg::AbstractString) = AuthenticationError{L.HUBAUTH_ERR_AUTHENTICATION}(String(msg))
_autherror(code::Integer, msg::AbstractString) = AuthenticationError{Int32(code)}(String(msg))

"""
    HubAuth.code(e::AuthenticationError) -> Int32

hubauth's status code of the failure (`HubAuth.LibHubAuth.HUBAUTH_ERR_*`).
"""
code(::AuthenticationError{C}) where {C} = Int32(C)

Base.showerror(io::IO, e::AuthenticationError) = print(io, "AuthenticationError: ", e.msg)
Base.propertynames(::AuthenticationError, private::Bool = false) = (:msg,)

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

# The library writes every option a message names as `key` or `key=value`
# (src/error.rs). The keywords of this binding are the option keys themselves
# (`_push_kwargs!` sends `string(k)`), so only values change: a Julia user
# reads `force=true`, `maxcount=1`, `flow="device"`. The backquotes stay, as
# in Base's own messages.
const _OPTION_IN_MESSAGE = r"`([a-z][a-z0-9_]*)(?:=([^`\s]*))?`"

# An option's text as a Julia literal (the inverse of `_optvalue`).
function _julia_value(text::AbstractString)
    (text == "true" || text == "false") && return String(text)
    occursin(r"^-?[0-9]+$", text) && return String(text)
    return repr(String(text))
end

function _render_options(msg::AbstractString)
    return replace(msg, _OPTION_IN_MESSAGE => function (span)
        m = match(_OPTION_IN_MESSAGE, span)
        return m[2] === nothing ? "`$(m[1])`" : "`$(m[1])=$(_julia_value(m[2]))`"
    end)
end

# The message of a `hubauth_error *` (borrowed from it: copied here).
function _error_message(err::Ptr{L.hubauth_error})
    err == C_NULL && return ""
    p = L.hubauth_error_message(err)
    return p == C_NULL ? "" : unsafe_string(p)
end

# Turns a nonzero status and the `hubauth_error *` that came with it into a
# thrown AuthenticationError. The error object is freed on every path.
function _raise_if_error(status::Integer, err::Ptr{L.hubauth_error}; invalid::Bool = false)
    if status == L.HUBAUTH_OK
        err == C_NULL || L.hubauth_error_free(err)   # not written on success; be safe
        return nothing
    end
    if invalid && status == L.HUBAUTH_ERR_AUTHENTICATION
        # The token expired and could not be renewed: JuliaHub.jl's exception.
        L.hubauth_error_free(err)
        throw(InvalidAuthentication())
    end
    message = try
        _error_message(err)
    finally
        L.hubauth_error_free(err)
    end
    isempty(message) && (message = "hubauth failed (status $(status))")
    throw(_autherror(status, _render_options(message)))
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
        $err = Ref{Ptr{L.hubauth_error}}(C_NULL)
        $status = $c
        _raise_if_error($status, $err[])
    end
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
# Owned handles, and `close` while other tasks use them
# ---------------------------------------------------------------------------
#
# Reference counting: every C call on a handle runs inside `_use(f, x)`, which
# counts itself in `users` and hands `f` the pointer. `close` only detaches the
# pointer (later `_use`s throw "closed"); whoever finishes last frees it:
# `close` itself when nothing uses the handle, else the last `_use` to end.
# `detached` is taken with an atomic exchange, so exactly one of them frees.
# (Threads.Atomic, not @atomic fields: Julia 1.6.) The finalizer is `close`;
# it cannot run during a `_use`, which keeps the object reachable.

mutable struct _Owned{T}
    ptr::Threads.Atomic{UInt}        # the handle; 0 once closed
    users::Threads.Atomic{Int}       # `_use` calls in flight
    detached::Threads.Atomic{UInt}   # the handle `close` took, until it is freed
end
_Owned(p::Ptr{T}) where {T} =
    _Owned{T}(Threads.Atomic{UInt}(UInt(p)), Threads.Atomic{Int}(0), Threads.Atomic{UInt}(0))

_free_handle(p::Ptr{L.hubauth_auth}) = L.hubauth_auth_free(p)
_free_handle(p::Ptr{L.hubauth_secret}) = L.hubauth_secret_free(p)

function _free_detached(h::_Owned{T}) where {T}
    p = Threads.atomic_xchg!(h.detached, UInt(0))
    p == 0 || _free_handle(Ptr{T}(p))
    return nothing
end

function _acquire(h::_Owned{T}, what::String) where {T}
    Threads.atomic_add!(h.users, 1)
    p = h.ptr[]
    if p == 0
        _release(h)
        throw(ArgumentError("this $(what) has been closed"))
    end
    return Ptr{T}(p)
end

function _release(h::_Owned)
    # atomic_sub! returns the old value: 1 means this was the last user.
    if Threads.atomic_sub!(h.users, 1) == 1 && h.ptr[] == 0
        _free_detached(h)
    end
    return nothing
end

function _close(h::_Owned)
    p = Threads.atomic_xchg!(h.ptr, UInt(0))
    p == 0 && return nothing                 # closed already
    h.detached[] = p
    h.users[] == 0 && _free_detached(h)      # else the last user frees it
    return nothing
end

_isopen(h::_Owned) = h.ptr[] != 0

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
`length(secret)` is its length in bytes.

`close(secret)` zeroes and frees it (otherwise the finalizer does). It is
idempotent and safe while other tasks or threads use the secret: those
calls finish with the value, later ones throw `ArgumentError` ("closed"), and
the last one to finish frees it (reference counting).
"""
mutable struct Secret
    h::_Owned{L.hubauth_secret}
    function Secret(p::Ptr{L.hubauth_secret})
        p == C_NULL && throw(ArgumentError("Secret: NULL hubauth_secret"))
        s = new(_Owned(p))
        finalizer(close, s)
        return s
    end
end

function Secret(value::AbstractString)
    v = String(value)
    # Checked here, without showing the value (Cstring's own check would
    # print the whole string in its error message).
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
            return GC.@preserve buf Secret(L.hubauth_secret_new(pointer(buf)::Ptr{UInt8}))
        finally
            fill!(buf, 0x00)
        end
    finally
        fill!(value, 0x00)
    end
end

Secret(s::Secret) = s

# f(p) with the handle of `x` (a Secret or an Authentication), counted as a
# user (see _Owned).
function _use(f, x)
    h = getfield(x, :h)
    p = _acquire(h, x isa Secret ? "Secret" : "Authentication")
    try
        return f(p)
    finally
        _release(h)
    end
end

Base.close(s::Secret) = _close(getfield(s, :h))
Base.isopen(s::Secret) = _isopen(getfield(s, :h))

function Base.String(s::Secret)
    return _use(s) do p::Ptr{L.hubauth_secret}
        unsafe_string(L.hubauth_secret_expose(p))   # borrowed: valid during _use
    end
end

Base.length(s::Secret) = _use(p::Ptr{L.hubauth_secret} -> Int(L.hubauth_secret_len(p)), s)
Base.isempty(s::Secret) = length(s) == 0
Base.show(io::IO, ::Secret) = print(io, "HubAuth.Secret(\"*******\")")
Base.print(io::IO, s::Secret) = show(io, s)

# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------

# Option keys whose values are secrets: a String given for one becomes a
# Secret at once (its NUL check does not show the value), and is closed when
# the options have been built. The library's secret keys (src/options.rs, type
# Secret); bindings/julia/test_secret_keys.py keeps this list equal to them.
const _SECRET_KEYS = ("token", "client_secret", "subject_token")

# A Secret this binding made from a String: closed once the options are built.
struct _TempSecret
    s::Secret
end

_optvalue(v::Bool) = v ? "true" : "false"
_optvalue(v::AbstractString) = String(v)
_optvalue(v::Secret) = v
_optvalue(v) = string(v)

_secretvalue(v::Secret) = v
_secretvalue(v::AbstractString) = _TempSecret(Secret(v))
_secretvalue(v) = throw(ArgumentError("a secret option must be a String or a HubAuth.Secret, got a $(typeof(v))"))

# kwargs → option keys: `string(k) => string(v)` (Bool → "true"/"false");
# `nothing` is not sent, so the library's default (or, for reauthenticate!,
# the value given to authenticate) applies: defaults live in the library only.
function _push_kwargs!(opts::Vector{Pair{String,Any}}, kwargs)
    for (k, v) in pairs(kwargs)
        v === nothing && continue
        key = string(k)
        push!(opts, key => (key in _SECRET_KEYS ? _secretvalue(v) : _optvalue(v)))
    end
    return opts
end

function _set_option(o::Ptr{L.hubauth_options}, key::String, value::String)
    occursin('\0', key) && throw(ArgumentError("an option key contains a NUL byte"))
    occursin('\0', value) && throw(ArgumentError("option $(key): the value contains a NUL byte"))
    @check L.hubauth_options_set(o, key, value)
end

function _set_option(o::Ptr{L.hubauth_options}, key::String, value::Secret)
    occursin('\0', key) && throw(ArgumentError("an option key contains a NUL byte"))
    _use(value) do p::Ptr{L.hubauth_secret}
        @check L.hubauth_options_set(o, key, L.hubauth_secret_expose(p))
    end
end

_set_option(o::Ptr{L.hubauth_options}, key::String, value::_TempSecret) = _set_option(o, key, value.s)

# Builds a hubauth_options from `opts`, runs f(o), frees it (and the
# temporary secrets).
function _with_options(f, opts::Vector{Pair{String,Any}})
    o = L.hubauth_options_new()
    o == C_NULL && throw(OutOfMemoryError())
    try
        for (k, v) in opts
            _set_option(o, k, v)
        end
        return f(o)
    finally
        L.hubauth_options_free(o)
        for (_, v) in opts
            v isa _TempSecret && close(v.s)
        end
    end
end

_base_options(server, provider) =
    _push_kwargs!(Pair{String,Any}[], (provider = provider, server = server))

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
- `project_id::Union{UUID,Nothing}`: the JuliaHub project (settable, as in
  JuliaHub.jl);
- `authorization::Secret`: the whole `Authorization` header value, as hubauth
  makes it for the hub (the same as [`HubAuth.authorization(auth)`](@ref)).

and `expires_at::Union{DateTime,Nothing}` (UTC; `nothing` when it does not
expire or that is unknown).

`close(auth)` frees this reference now (otherwise the finalizer does). It is
idempotent and safe while other tasks or threads use `auth`: calls in
flight finish (a running job holds a reference of its own), later ones throw
`ArgumentError` ("closed"), and the last user frees it (reference counting).
"""
mutable struct Authentication
    h::_Owned{L.hubauth_auth}
    project_id::Union{UUID,Nothing}  # JuliaHub.jl's project, kept by this binding
    juliahub::Bool                   # made for JuliaHub: a login sets JULIA_PKG_SERVER
    function Authentication(p::Ptr{L.hubauth_auth}, project_id::Union{UUID,Nothing} = nothing,
                            juliahub::Bool = true)
        p == C_NULL && throw(ArgumentError("Authentication: NULL hubauth_auth"))
        a = new(_Owned(p), project_id, juliahub)
        finalizer(close, a)
        return a
    end
end

Base.close(a::Authentication) = _close(getfield(a, :h))
Base.isopen(a::Authentication) = _isopen(getfield(a, :h))

function _server_string(a::Authentication)
    return _use(a) do p::Ptr{L.hubauth_auth}
        something(_take_string(L.hubauth_auth_server(p)))
    end
end

function Base.getproperty(a::Authentication, name::Symbol)
    if name === :server
        return URIs.URI(_server_string(a))
    elseif name === :username
        return _use(p::Ptr{L.hubauth_auth} -> _take_string(L.hubauth_auth_username(p)), a)
    elseif name === :expires_at
        t = _use(p::Ptr{L.hubauth_auth} -> L.hubauth_auth_expires_at(p), a)
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
    return private ? (public..., :h, :juliahub) : public
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
    user === nothing ? print(io, "nothing, ") : print(io, '"', user, "\", ")
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

# ---------------------------------------------------------------------------
# Jobs: start, wait in this task, take the result
# ---------------------------------------------------------------------------

# PkgAuthentication's words, printed before a hook is called (with no hook
# the library prints its own line and opens the browser).
function _print_login(url::String, user_code::Union{String,Nothing})
    printstyled("Authentication required: please authenticate in browser.\n"; color = :yellow, bold = true)
    printstyled("""
        The authentication page should open in your browser automatically, but you may need to switch to the opened window or tab. If the authentication page is not automatically opened, you can authenticate by manually opening the following URL: """;
                color = :yellow)
    printstyled(url, "\n"; color = :light_blue)
    user_code === nothing || printstyled("and enter the code: ", user_code, "\n"; color = :yellow)
    return nothing
end

# Sleeps in the scheduler until the job may have news. An AsyncCondition
# remembers a wake-up that comes while nobody waits (its `set` flag), so one
# between a poll and this wait is not lost. Should a Julia lack that flag,
# poll on a short timer instead: polling is level-triggered, so that is only
# slower.
const _ASYNC_REMEMBERS = hasfield(Base.AsyncCondition, :set)
_wait_news(cond::Base.AsyncCondition) = _ASYNC_REMEMBERS ? wait(cond) : sleep(0.05)

# One event of the job (never blocks).
function _poll(job::Ptr{L.hubauth_job}, ev::Base.RefValue{L.hubauth_job_event})
    @check L.hubauth_job_poll(job, ev)
    return ev[]
end

# A LOG event: a line the job's call logged on the library's thread, where
# no Julia code may run, shown here in the waiting task through Julia's
# logging. `status` is its level, a HUBAUTH_LOG_* (syslog's numbers: lower
# is worse); the login notice (the URL to open) is NOTICE, hence @info.
function _log_event(e::L.hubauth_job_event)
    e.message == C_NULL && return nothing
    message = unsafe_string(e.message)   # borrowed until the next poll
    if e.status <= L.HUBAUTH_LOG_ERROR
        @error message
    elseif e.status <= L.HUBAUTH_LOG_WARN
        @warn message
    elseif e.status <= L.HUBAUTH_LOG_INFO
        @info message
    else
        @debug message
    end
    return nothing
end

# Frees what a DONE event handed over, for a result nobody will take.
function _free_result(e::L.hubauth_job_event)
    e.auth == C_NULL || L.hubauth_auth_free(e.auth)
    e.secret == C_NULL || L.hubauth_secret_free(e.secret)
    e.error == C_NULL || L.hubauth_error_free(e.error)
    return nothing
end

# After a cancel: waits for the job's DONE (a fraction of a second) and frees
# its result. Further interrupts are ignored: the job is cancelled already.
function _drain(job::Ptr{L.hubauth_job}, cond::Base.AsyncCondition,
                ev::Base.RefValue{L.hubauth_job_event})
    while true
        e = _poll(job, ev)
        if e.kind == L.HUBAUTH_JOB_EVENT_DONE
            _free_result(e)
            return nothing
        elseif e.kind == L.HUBAUTH_JOB_EVENT_LOG
            _log_event(e)
        elseif e.kind == L.HUBAUTH_JOB_EVENT_NONE
            try
                _wait_news(cond)
            catch err
                err isa InterruptException || rethrow()
            end
        end
    end
end

"""
    _run_job(start, hook) -> (done::L.hubauth_job_event, login::Bool)

Runs one hubauth job to its end in the calling task. `start(cond, job)` starts
it with `cglobal(:uv_async_send)` and `cond.handle` as notify and argument,
writing the job to `job[]`. Then: poll (never blocks) until NONE, `wait(cond)`
(the task sleeps in the scheduler; the library's thread wakes it through
`uv_async_send`), poll again, until DONE. The DONE event is returned with its
result (`auth`, `secret`, `error`) now the caller's; `login` says whether a
LOGIN event came (a real login took place).

- LOG: the line goes to `@error`/`@warn`/`@info`/`@debug` by its level, in
  this task (the library's warnings and its login notice; see `_log_event`).
- LOGIN: with a `hook`, prints PkgAuthentication's message and the URL, then
  calls `hook(url)` here, in the caller's task. If the hook throws, the job
  is cancelled, its result freed, and the hook's exception rethrown with its
  own backtrace.
- Ctrl-C (an `InterruptException` while waiting) or any other exception:
  the job is cancelled, its end awaited and its result freed, then the
  exception is rethrown.
- The job is freed, and only then the condition closed (no notify can come
  after `hubauth_job_free` returned).
"""
function _run_job(start, hook)
    cond = Base.AsyncCondition()
    job = Ref{Ptr{L.hubauth_job}}(C_NULL)
    ev = Ref{L.hubauth_job_event}(L.hubauth_job_event())
    login = false
    done = nothing
    try
        GC.@preserve cond begin
            start(cond, job)
            while done === nothing
                e = _poll(job[], ev)
                if e.kind == L.HUBAUTH_JOB_EVENT_DONE
                    done = e
                elseif e.kind == L.HUBAUTH_JOB_EVENT_LOGIN
                    login = true
                    # Borrowed until the next poll: copied now.
                    url = unsafe_string(e.url)
                    user_code = e.user_code == C_NULL ? nothing : unsafe_string(e.user_code)
                    if hook !== nothing
                        try
                            _print_login(url, user_code)
                            hook(url)
                        catch
                            L.hubauth_job_cancel(job[])
                            _drain(job[], cond, ev)
                            rethrow()
                        end
                    end
                elseif e.kind == L.HUBAUTH_JOB_EVENT_PROGRESS
                    e.message == C_NULL || @debug "hubauth: $(unsafe_string(e.message))"
                elseif e.kind == L.HUBAUTH_JOB_EVENT_LOG
                    _log_event(e)
                elseif e.kind == L.HUBAUTH_JOB_EVENT_NONE
                    try
                        _wait_news(cond)
                    catch
                        L.hubauth_job_cancel(job[])
                        _drain(job[], cond, ev)
                        rethrow()
                    end
                end
            end
        end
    finally
        job[] == C_NULL || L.hubauth_job_free(job[])
        close(cond)
    end
    return done::L.hubauth_job_event, login
end

# An options job (HUBAUTH_JOB_AUTHENTICATE, _LOGOUT). The options are copied
# by the library, so they are freed as soon as the job has started.
function _options_job(opts::Vector{Pair{String,Any}}, kind::Int32, hook = nothing)
    return _run_job(hook) do cond::Base.AsyncCondition, job::Base.RefValue{Ptr{L.hubauth_job}}
        _with_options(opts) do o::Ptr{L.hubauth_options}
            @check L.hubauth_job_start(o, kind, cglobal(:uv_async_send), cond.handle, job)
        end
    end
end

# A job on an authentication (HUBAUTH_JOB_REAUTHENTICATE with `opts` laid
# over its options; _TOKEN, _AUTHORIZATION, _CHECK with `opts === nothing`).
# The job holds its own reference to the authentication, so `close(auth)`
# while it runs is harmless.
function _auth_job(auth::Authentication, kind::Int32, opts = nothing, hook = nothing)
    return _run_job(hook) do cond::Base.AsyncCondition, job::Base.RefValue{Ptr{L.hubauth_job}}
        _use(auth) do a::Ptr{L.hubauth_auth}
            if opts === nothing
                @check L.hubauth_job_start_auth(a, C_NULL, kind, cglobal(:uv_async_send), cond.handle, job)
            else
                _with_options(opts) do o::Ptr{L.hubauth_options}
                    @check L.hubauth_job_start_auth(a, o, kind, cglobal(:uv_async_send), cond.handle, job)
                end
            end
        end
    end
end

# JuliaHub.jl's `__AUTH__`: the Authentication of the most recent successful
# `authenticate` of this binding, the very object it returned.
const _CURRENT = Ref{Union{Nothing,Authentication}}(nothing)
const _CURRENT_LOCK = ReentrantLock()

# PkgAuthentication sets JULIA_PKG_SERVER when (and only when) it logs in.
function _after_login(auth::Authentication, login::Bool)
    login && getfield(auth, :juliahub) && (ENV["JULIA_PKG_SERVER"] = _server_string(auth))
    return nothing
end

"""
    authenticate(server = nothing; force = false, maxcount = 3, hook = nothing,
                 project = <JULIAHUB_PROJECT_UUID>, provider = :juliahub, kwargs...) -> Authentication
    authenticate(server, token::Union{AbstractString,Secret}; project, kwargs...) -> Authentication

JuliaHub.jl's `authenticate`: finds a stored token for `server`, refreshes it,
or logs in, and makes the result what [`current_authentication`](@ref)
returns (this very object). `server = nothing` means the provider's default
(for JuliaHub, `ENV["JULIA_PKG_SERVER"]`). When a JuliaHub login actually
takes place, `ENV["JULIA_PKG_SERVER"]` is set to the server, as
PkgAuthentication does; a stored token or the token method leaves it alone.
A keyword left out is not passed, so the library's default applies (the
defaults shown are the library's).

- `force = true` forgets the stored token and logs in again;
- `maxcount`: how many times to try a login (≥ 1);
- `hook`: called with the URL the user must open to log in, instead of
  opening a browser, after PkgAuthentication's "Authentication required"
  message and the URL are printed. It runs in the calling task (it may print,
  yield, use the REPL) and only for this call. Its return value is ignored
  (as in JuliaHub.jl). If it throws, the login is cancelled and its exception
  is rethrown here;
- `project`: a project UUID (or its string); `nothing` ignores
  `JULIAHUB_PROJECT_UUID`, which is used when the keyword is not given;
- `token`, or the second positional argument: use this token as given (e.g. in
  CI) and touch no file;
- any other keyword is a hubauth option, passed as `string(k) => string(v)`
  (`true`/`false` for Bools): `interactive = false`, `timeout_ms = 60_000`,
  `token_path = "..."`, `token_kind = "access"`, `validate = true`, ...
  `provider` is one of `:juliahub`, `:dagshub`, `:dhcore`, `:cave`, `:oidc`.

The login runs on a thread of the library; this task waits in Julia's
scheduler, so other tasks, the GC and the REPL go on (with one thread too).
Ctrl-C (`InterruptException`) cancels the login, waits for it to end (a
fraction of a second), frees what it made, and is rethrown.

Throws [`AuthenticationError`](@ref) on failure, `ArgumentError` for a bad
`maxcount`, `hook` or `project`.
"""
function authenticate(server::Union{AbstractString,Nothing} = nothing;
                      provider = nothing, force::Union{Nothing,Bool} = nothing,
                      maxcount::Union{Nothing,Integer} = nothing, hook = nothing,
                      project::Union{AbstractString,UUID,Nothing,Missing} = missing,
                      token::Union{Nothing,AbstractString,Secret} = nothing, kwargs...)
    _check_login_arguments(maxcount, hook)
    juliahub = _is_juliahub(provider)
    project_id = juliahub ? _juliahub_project(project) : nothing
    opts = _base_options(server, provider)
    _push_kwargs!(opts, (force = force, maxcount = maxcount, token = token))
    # JuliaHub.jl refuses a login without a username: the library does, before
    # the authentication becomes current. With a hook, this binding shows the URL.
    _push_kwargs!(opts, (require_username = juliahub ? true : nothing, open_browser = hook === nothing))
    _push_kwargs!(opts, kwargs)
    done, login = _options_job(opts, L.HUBAUTH_JOB_AUTHENTICATE, hook)
    _raise_if_error(done.status, done.error)
    auth = Authentication(done.auth, project_id, juliahub)
    _after_login(auth, login)
    lock(() -> (_CURRENT[] = auth), _CURRENT_LOCK)
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
first (as JuliaHub.jl does). hubauth uses the options `auth` was created
with, with the keywords given here laid over them for this call only. A hook
is used only by the call it is given to (without one, the library opens the
browser). `force` applies only to the call that sets it. The user must not
change. Waits and reacts to Ctrl-C as [`authenticate`](@ref) does.
"""
reauthenticate!(; kwargs...) = reauthenticate!(_auth_or_authenticate(); kwargs...)

function reauthenticate!(auth::Authentication; force::Union{Nothing,Bool} = nothing,
                         maxcount::Union{Nothing,Integer} = nothing, hook = nothing, kwargs...)
    _check_login_arguments(maxcount, hook)
    opts = _push_kwargs!(Pair{String,Any}[], (force = force, maxcount = maxcount,
                                              open_browser = hook === nothing))
    _push_kwargs!(opts, kwargs)
    done, login = _auth_job(auth, L.HUBAUTH_JOB_REAUTHENTICATE, opts, hook)
    _free_result_but_error(done)
    _raise_if_error(done.status, done.error)
    _after_login(auth, login)
    return auth
end

# A REAUTHENTICATE or CHECK job hands over nothing but an error; free anything else.
function _free_result_but_error(e::L.hubauth_job_event)
    e.auth == C_NULL || L.hubauth_auth_free(e.auth)
    e.secret == C_NULL || L.hubauth_secret_free(e.secret)
    return nothing
end

# JuliaHub.jl's check_authentication returns false on a 500 from /api/v1
# (authentication.jl:551-553). The library reports any other status than
# 200/401 as HUBAUTH_ERR_SERVER; only its message tells a 500 apart.
_is_server_500(message::AbstractString) = occursin(r"answered HTTP 500\s*$", message)

"""
    check_authentication(; auth = current_authentication()) -> Bool

JuliaHub.jl's `check_authentication`: asks the server whether the token is
good (on JuliaHub before 6.2 through its legacy endpoints); `false` when the
server rejects it (401) or answers 500, as in JuliaHub.jl. With no current
authentication it authenticates first. Throws [`AuthenticationError`](@ref)
when the server cannot say (unreachable, another unexpected answer). Waits
in the scheduler, like [`authenticate`](@ref).
"""
function check_authentication(; auth::Authentication = _auth_or_authenticate())
    done, _ = _auth_job(auth, L.HUBAUTH_JOB_CHECK)
    return _check_verdict(done)
end

function _check_verdict(done::L.hubauth_job_event)
    _free_result_but_error(done)
    if done.status == L.HUBAUTH_ERR_SERVER && _is_server_500(_error_message(done.error))
        L.hubauth_error_free(done.error)
        return false
    end
    _raise_if_error(done.status, done.error)
    return done.valid
end

"""
    current_authentication() -> Union{Authentication, Nothing}

The `Authentication` returned by the most recent successful
[`authenticate`](@ref) of this process, the same object (as JuliaHub.jl's
`__AUTH__[]`), or `nothing` when there is none. It never authenticates.
Before any `authenticate` of this package, an authentication made by another
user of the library in this process (`hubauth_current`) is returned, and
kept as the current one.
"""
function current_authentication()
    lock(_CURRENT_LOCK) do
        auth = _CURRENT[]
        auth === nothing || return auth
        p = L.hubauth_current()
        p == C_NULL && return nothing
        _CURRENT[] = Authentication(p)
        return _CURRENT[]
    end
end

"""
    HubAuth.token(auth = current_authentication()) -> Secret
    get_token(auth = current_authentication()) -> Secret

The token a request should carry (for JuliaHub the id_token, or with
`token_kind = "access"` the access token), refreshed first when it expires
within `refresh_margin_s`. A fresh token is at hand at once (no thread, no
wait); a refresh runs as a job and this task waits for it in the scheduler.
For the header, use [`HubAuth.authorization`](@ref): hubauth knows the
scheme (`Bearer`, or `Basic` for DHCore user/password credentials). A DHCore
user/password credential is not a token: `token` throws an
`AuthenticationError{HUBAUTH_ERR_INVALID_ARGUMENT}` for it and `authorization`
gives its header. Throws
[`InvalidAuthentication`](@ref) when the token expired and could not be
renewed.
"""
function token(auth::Union{Authentication,Nothing} = current_authentication())
    auth === nothing && throw(_autherror(L.HUBAUTH_ERR_NO_CREDENTIALS,
                                         "not authenticated: call HubAuth.authenticate() first"))
    done, _ = _auth_job(auth, L.HUBAUTH_JOB_TOKEN)
    _raise_if_error(done.status, done.error; invalid = true)
    return Secret(done.secret)
end

const get_token = token

"""
    HubAuth.authorization(auth = current_authentication()) -> Secret

The whole `Authorization` header value a request should carry, as hubauth
makes it for the hub: `Bearer <token>`, or `Basic <base64>` for DHCore user
and password credentials. Refreshed first like [`HubAuth.token`](@ref).
Use it as `["Authorization" => String(HubAuth.authorization(auth))]`.
"""
function authorization(auth::Union{Authentication,Nothing} = current_authentication())
    auth === nothing && throw(_autherror(L.HUBAUTH_ERR_NO_CREDENTIALS,
                                         "not authenticated: call HubAuth.authenticate() first"))
    done, _ = _auth_job(auth, L.HUBAUTH_JOB_AUTHORIZATION)
    _raise_if_error(done.status, done.error; invalid = true)
    return Secret(done.secret)
end

"""
    logout(server = nothing; provider = nothing, kwargs...) -> nothing

Forgets the stored token for `server` (revoking it where the provider allows).
A missing token is not an error. Runs as a job, like [`authenticate`](@ref).
"""
function logout(server = nothing; provider = nothing, kwargs...)
    opts = _push_kwargs!(_base_options(server, provider), kwargs)
    done, _ = _options_job(opts, L.HUBAUTH_JOB_LOGOUT)
    _free_result_but_error(done)
    _raise_if_error(done.status, done.error)
    return nothing
end

"""
    save_token(token; server = nothing, provider = nothing, kwargs...) -> nothing

Stores a token obtained elsewhere, atomically, mode 0600, under the file lock:
for `:juliahub` the whole contents of an `auth.toml`, for `:dagshub` an app
token (checked with the server first unless `validate = false`), for `:cave`
a 32-hex token. `token` may be a `String` or a [`Secret`](@ref). Runs as a
job, like [`authenticate`](@ref): the server check and the wait for the file
lock happen on the library's thread.
"""
function save_token(tok::Union{AbstractString,Secret}; server = nothing, provider = nothing, kwargs...)
    opts = _push_kwargs!(_base_options(server, provider), kwargs)
    secret = Secret(tok)
    try
        # The library copies the token when the job starts.
        done, _ = _run_job(nothing) do cond::Base.AsyncCondition, job::Base.RefValue{Ptr{L.hubauth_job}}
            _with_options(opts) do o::Ptr{L.hubauth_options}
                _use(secret) do s::Ptr{L.hubauth_secret}
                    @check L.hubauth_job_start_save_token(o, L.hubauth_secret_expose(s),
                                                          cglobal(:uv_async_send), cond.handle, job)
                end
            end
        end
        _free_result_but_error(done)
        _raise_if_error(done.status, done.error)
    finally
        tok isa Secret || close(secret)
    end
    return nothing
end
