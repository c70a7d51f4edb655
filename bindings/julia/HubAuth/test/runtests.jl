# Tests against the real library and the JuliaHub test server:
#
#   cargo build && cargo build -p hubauth-testkit
#   HUBAUTH_LIB=$PWD/target/debug/libhubauth.so \
#       julia --project=bindings/julia/HubAuth -e 'using Pkg; Pkg.test()'
#
# HUBAUTH_LIB picks the library (without it: HubAuth_jll, which may be an
# older release than this checkout); HUBAUTH_TEST_SERVER the server binary
# (default: target/debug/hubauth-test-server). One thread is enough: logins
# wait in the scheduler.

using HubAuth
using HubAuth: LibHubAuth, Secret, AuthenticationError, InvalidAuthentication
using UUIDs
using Dates
using Downloads
using Test

const REPO = normpath(joinpath(@__DIR__, "..", "..", "..", ".."))
const SERVER_BIN = get(ENV, "HUBAUTH_TEST_SERVER",
                       joinpath(REPO, "target", "debug", "hubauth-test-server"))

# The server prints `URL=http://127.0.0.1:PORT` when ready and serves until its
# stdin reaches EOF: open(cmd, "r+") gives us both ends.
function with_server(f, args::String...)
    isfile(SERVER_BIN) || error("no $(SERVER_BIN): run `cargo build -p hubauth-testkit`")
    proc = open(`$(SERVER_BIN) juliahub $(collect(args))`, "r+")
    try
        line = readline(proc)
        startswith(line, "URL=") || error("the test server said $(repr(line))")
        return f(String(line[5:end]))
    finally
        close(proc.in)
        wait(proc)
    end
end

function post(url::AbstractString; body::AbstractString = "")
    out = IOBuffer()
    resp = Downloads.request(url; method = "POST", input = IOBuffer(body), output = out,
                             headers = ["Content-Type" => "application/json"])
    resp.status == 200 || error("POST $(url): HTTP $(resp.status)")
    return String(take!(out))
end

caught(f) = try
    f()
    nothing
catch e
    e
end

@testset "HubAuth" begin
    @testset "library" begin
        @test HubAuth.version() isa VersionNumber
        @test isfile(LibHubAuth.libhubauth) || LibHubAuth.libhubauth == "libhubauth"
        @test LibHubAuth.HUBAUTH_OK === Int32(0)
        @test LibHubAuth.HUBAUTH_ERR_CANCELLED === Int32(9)
    end

    @testset "Secret" begin
        s = Secret("abc")
        @test String(s) == "abc"
        @test length(s) == 3
        @test sprint(show, s) == "HubAuth.Secret(\"*******\")"   # as JuliaHub.Secret shows
        @test string(s) == "HubAuth.Secret(\"*******\")"
        @test "Bearer $(s)" == "Bearer HubAuth.Secret(\"*******\")"   # never the value by accident
        @test !occursin("abc", sprint(show, MIME"text/plain"(), s))
        close(s)
        close(s)                                              # idempotent
        @test !isopen(s)
        @test_throws ArgumentError String(s)
        @test_throws ArgumentError Secret("a\0b")
        bytes = Vector{UInt8}("xyz")
        b = Secret(bytes)                 # JuliaHub.jl's Secret(::Vector{UInt8})
        @test String(b) == "xyz"
        @test all(iszero, bytes)          # zeroed, like Base.SecretBuffer!
        # close from many threads at once frees once
        c = Secret("c")
        fetch.([Threads.@spawn close(c) for _ in 1:8])
        @test !isopen(c)
    end

    @testset "errors are JuliaHub.jl's" begin
        e = AuthenticationError("nope")
        @test e.msg == "nope"
        @test fieldnames(typeof(e)) == (:msg,)                     # one field, as in JuliaHub.jl
        @test propertynames(e) == (:msg,)
        @test HubAuth.code(e) == LibHubAuth.HUBAUTH_ERR_AUTHENTICATION
        @test e isa AuthenticationError{LibHubAuth.HUBAUTH_ERR_AUTHENTICATION}
        @test sprint(showerror, e) == "AuthenticationError: nope"
        @test e isa HubAuth.JuliaHubException
        @test startswith(sprint(showerror, InvalidAuthentication()),
                         "InvalidAuthentication: authentication token invalid or expired")
        # Options in the library's messages, as Julia keywords.
        @test HubAuth._render_options("authenticate with `force=true`") ==
              "authenticate with `force=true`"
        @test HubAuth._render_options("use `flow=device` or raise `timeout_ms`") ==
              "use `flow=\"device\"` or raise `timeout_ms`"
        @test HubAuth._render_options("`maxcount=1` and `hubauth login --force`") ==
              "`maxcount=1` and `hubauth login --force`"
        # A job's LOG event, shown through Julia's logging by its level.
        line = "the token file can be read by other users"
        GC.@preserve line begin
            log_event(level) = LibHubAuth.hubauth_job_event(
                LibHubAuth.HUBAUTH_JOB_EVENT_LOG, level, C_NULL, C_NULL,
                pointer(line), C_NULL, C_NULL, false, C_NULL)
            @test_logs (:warn, line) HubAuth._log_event(log_event(LibHubAuth.HUBAUTH_LOG_WARN))
            @test_logs (:error, line) HubAuth._log_event(log_event(LibHubAuth.HUBAUTH_LOG_ERROR))
            @test_logs (:info, line) HubAuth._log_event(log_event(LibHubAuth.HUBAUTH_LOG_NOTICE))
            @test_logs (:debug, line) min_level = Base.CoreLogging.Debug HubAuth._log_event(
                log_event(LibHubAuth.HUBAUTH_LOG_DEBUG))
        end
        @test HubAuth._is_server_500("https://h.example/api/v1 answered HTTP 500")
        @test !HubAuth._is_server_500("https://h.example/api/v1 answered HTTP 502")
    end

    @testset "no authentication yet" begin
        @test current_authentication() === nothing       # as JuliaHub.jl
        e = caught(() -> HubAuth.authorization())
        @test e isa AuthenticationError                  # not a MethodError (W4)
        @test HubAuth.code(e) == LibHubAuth.HUBAUTH_ERR_NO_CREDENTIALS
        @test HubAuth.code(caught(() -> HubAuth.token())) == LibHubAuth.HUBAUTH_ERR_NO_CREDENTIALS
        @test_throws ArgumentError authenticate("https://x.example"; maxcount = 0)
        @test_throws ArgumentError authenticate("https://x.example"; hook = () -> nothing)
        @test_throws ArgumentError authenticate("https://x.example"; project = "not-a-uuid")
        # A secret with a NUL is refused without being shown (W3).
        for kw in (:token, :client_secret, :subject_token)
            e = caught(() -> authenticate("https://x.example"; (kw => "sekrit\0tail",)...))
            @test e isa ArgumentError
            @test !occursin("sekrit", sprint(showerror, e))
        end
        e = caught(() -> authenticate("https://x.example", "sekrit\0tail"))
        @test e isa ArgumentError && !occursin("sekrit", sprint(showerror, e))
        @test current_authentication() === nothing       # nothing of that was kept
    end

    mktempdir() do dir
        with_server("--auto-approve") do url::String
            path = joinpath(dir, "auth.toml")

            @testset "login through the hook" begin
                urls = String[]
                auth = withenv("JULIAHUB_PROJECT_UUID" => nothing, "JULIA_PKG_SERVER" => nothing) do
                    a = authenticate(url; hook = u -> (push!(urls, u); nothing), token_path = path)
                    # A login took place: PkgAuthentication sets JULIA_PKG_SERVER (D7).
                    @test ENV["JULIA_PKG_SERVER"] == url
                    a
                end
                @test length(urls) == 1
                @test startswith(urls[1], url)
                @test auth.server == HubAuth.URIs.URI(url)
                @test string(auth.server) == url
                @test sprint(show, auth) == "HubAuth.Authentication(\"$(url)\", \"alice\", *****)"
                @test auth.username == "alice"
                @test auth.expires_at isa DateTime
                @test auth.expires_at > Dates.now(Dates.UTC)
                tok = auth.token
                @test tok isa Secret
                @test length(tok) > 0
                @test String(tok) == String(HubAuth.token(auth)) == String(get_token(auth))
                # The header value comes from hubauth, scheme included.
                @test String(auth.authorization) == "Bearer " * String(tok)
                @test String(HubAuth.authorization(auth)) == "Bearer " * String(tok)
                @test !occursin(String(tok), sprint(show, auth))
                @test check_authentication(auth = auth)
                @test isfile(path)
                @test filemode(path) & 0o777 == 0o600
                @test current_authentication() === auth              # the same object (D2)
                @test check_authentication()
            end

            @testset "a stored token needs no login, and sets no JULIA_PKG_SERVER" begin
                withenv("JULIA_PKG_SERVER" => nothing) do
                    auth = authenticate(url; token_path = path, interactive = false)
                    @test auth.username == "alice"
                    @test reauthenticate!(auth) === auth
                    @test check_authentication(auth = auth)
                    @test !haskey(ENV, "JULIA_PKG_SERVER")                 # D7
                    @test current_authentication() === auth
                end
            end

            @testset "the C API: a cancelled job, a triggered cancel" begin
                # A job polled by hand, without notify (NULL: poll on a timer).
                o = LibHubAuth.hubauth_options_new()
                err = Ref{Ptr{LibHubAuth.hubauth_error}}(C_NULL)
                @test LibHubAuth.hubauth_options_set(o, "server", url, err) == LibHubAuth.HUBAUTH_OK
                @test LibHubAuth.hubauth_options_set(o, "token_path", joinpath(dir, "job.toml")::String, err) ==
                      LibHubAuth.HUBAUTH_OK
                @test LibHubAuth.hubauth_options_set(o, "open_browser", "false", err) == LibHubAuth.HUBAUTH_OK
                job = Ref{Ptr{LibHubAuth.hubauth_job}}(C_NULL)
                @test LibHubAuth.hubauth_job_start(o, LibHubAuth.HUBAUTH_JOB_AUTHENTICATE, C_NULL, C_NULL,
                                                   job, err) == LibHubAuth.HUBAUTH_OK
                LibHubAuth.hubauth_options_free(o)                  # copied by the job
                LibHubAuth.hubauth_job_cancel(job[])
                ev = Ref{LibHubAuth.hubauth_job_event}(LibHubAuth.hubauth_job_event())
                deadline = time() + 5
                while true
                    @test LibHubAuth.hubauth_job_poll(job[], ev, err) == LibHubAuth.HUBAUTH_OK
                    ev[].kind == LibHubAuth.HUBAUTH_JOB_EVENT_DONE && break
                    time() < deadline || break
                    sleep(0.01)
                end
                done = ev[]
                @test done.kind == LibHubAuth.HUBAUTH_JOB_EVENT_DONE
                # cancelled, or done before the cancel landed: either way, free the result
                @test done.status in (LibHubAuth.HUBAUTH_ERR_CANCELLED, LibHubAuth.HUBAUTH_OK)
                LibHubAuth.hubauth_auth_free(done.auth)
                LibHubAuth.hubauth_error_free(done.error)
                LibHubAuth.hubauth_job_free(job[])

                c = LibHubAuth.hubauth_cancel_new()
                @test c != C_NULL
                LibHubAuth.hubauth_cancel_trigger(c)
                LibHubAuth.hubauth_cancel_trigger(c)          # twice: harmless
                o2 = LibHubAuth.hubauth_options_new()
                @test LibHubAuth.hubauth_options_set(o2, "server", url, err) == LibHubAuth.HUBAUTH_OK
                @test LibHubAuth.hubauth_options_set_cancel(o2, c) == LibHubAuth.HUBAUTH_OK
                LibHubAuth.hubauth_cancel_free(c)             # the options keep it
                out = Ref{Ptr{LibHubAuth.hubauth_auth}}(C_NULL)
                @test LibHubAuth.hubauth_authenticate(o2, out, err) == LibHubAuth.HUBAUTH_ERR_CANCELLED
                @test out[] == C_NULL
                LibHubAuth.hubauth_error_free(err[])
                LibHubAuth.hubauth_options_free(o2)
                @test LibHubAuth.hubauth_options_set_cancel(C_NULL, C_NULL) ==
                      LibHubAuth.HUBAUTH_ERR_NULL_ARGUMENT
            end

            @testset "Ctrl-C cancels a waiting login (one thread is enough)" begin
                # InterruptException thrown into the task that waits, as Ctrl-C
                # does: the login (a hook that never approves, on a server
                # that waits for a browser) is cancelled, its end awaited, and
                # the interrupt rethrown. The login waits in the scheduler, so
                # the helper task runs on this same thread.
                with_server() do waiting
                    p2 = joinpath(dir, "waiting.toml")
                    main = current_task()
                    prompted = Threads.Event()
                    t = @async (wait(prompted); sleep(0.3); schedule(main, InterruptException(); error = true))
                    started = time()
                    e = caught(() -> authenticate(waiting; token_path = p2, hook = u -> (notify(prompted); nothing)))
                    @test e isa InterruptException
                    @test time() - started < 5
                    @test !isfile(p2)
                    wait(t)
                end
            end

            @testset "other tasks run while a login waits" begin
                with_server() do waiting
                    ticks = Ref(0)
                    main = current_task()
                    ticker = @async begin
                        for _ in 1:5
                            sleep(0.05)
                            ticks[] += 1
                        end
                        GC.gc()                                   # a collection does not wait for the login
                        schedule(main, InterruptException(); error = true)
                    end
                    e = caught(() -> authenticate(waiting; token_path = joinpath(dir, "w2.toml"),
                                                  hook = u -> nothing))
                    @test e isa InterruptException
                    @test ticks[] == 5
                    wait(ticker)
                end
            end

            @testset "the hook is used only by its own call (D5)" begin
                calls = Ref(0)
                auth = authenticate(url; force = true, token_path = path, hook = u -> (calls[] += 1; true))
                @test calls[] == 1
                # A later reauthenticate! without a hook does not call it (the
                # library would open a browser: open_browser = false here, and
                # the test server approves by itself).
                reauthenticate!(auth; force = true, open_browser = false)
                @test calls[] == 1
                # force applies only to the call that set it: a bare
                # reauthenticate! reloads, no login.
                reauthenticate!(auth; hook = u -> (calls[] += 1; true))
                @test calls[] == 1
                reauthenticate!(auth; force = true, hook = u -> (calls[] += 1; true))
                @test calls[] == 2
                @test check_authentication(auth = auth)
                # many threads, one token
                toks = fetch.([Threads.@spawn String(HubAuth.token(auth)) for _ in 1:8])
                @test all(==(toks[1]), toks)
            end

            @testset "the hook's value is ignored (JuliaHub.jl)" begin
                auth = authenticate(url; hook = u -> false, token_path = joinpath(dir, "false.toml"))
                @test auth.username == "alice"
            end

            @testset "projects" begin
                id = UUID("b1a95ba8-43e6-4eb6-b280-3c5cbe0fa0b9")
                withenv("JULIAHUB_PROJECT_UUID" => string(id)) do
                    auth = authenticate(url; token_path = path, interactive = false)
                    @test auth.project_id == id
                    @test occursin("; project_id = \"$(id)\")", sprint(show, auth))
                    @test reauthenticate!(auth).project_id == id
                    @test current_authentication().project_id == id
                    other = UUID("0f4f6e4c-3b1e-4a55-9d5e-0d0f3c1a2b3c")
                    auth.project_id = other                       # seen by current_authentication (D2)
                    @test current_authentication().project_id == other
                    @test authenticate(url; token_path = path, interactive = false,
                                       project = nothing).project_id === nothing
                end
                @test authenticate(url; token_path = path, interactive = false,
                                   project = string(id)).project_id == id
            end

            @testset "the hook throws: its exception, not a crash" begin
                before = current_authentication()
                @test_throws ErrorException("boom") authenticate(
                    url; hook = u -> error("boom"), token_path = joinpath(dir, "throw.toml"))
                @test current_authentication() === before       # JuliaHub.jl's __AUTH__ is left alone
            end

            @testset "interactive = false and nothing stored" begin
                e = caught(() -> authenticate(url; interactive = false,
                                              token_path = joinpath(dir, "none.toml")))
                @test e isa AuthenticationError
                @test HubAuth.code(e) == LibHubAuth.HUBAUTH_ERR_NO_CREDENTIALS
                @test e isa AuthenticationError{LibHubAuth.HUBAUTH_ERR_NO_CREDENTIALS}
                @test occursin("`interactive=true`", e.msg)
            end

            @testset "a bad option" begin
                e = caught(() -> authenticate(url; no_such_option = 1))
                @test e isa AuthenticationError
                @test HubAuth.code(e) == LibHubAuth.HUBAUTH_ERR_INVALID_ARGUMENT
                e = caught(() -> authenticate("http://example.com"; interactive = false))
                @test e isa AuthenticationError
                @test HubAuth.code(e) == LibHubAuth.HUBAUTH_ERR_INSECURE
            end

            @testset "save_token, refresh, logout" begin
                saved = joinpath(dir, "saved.toml")
                toml = post("$(url)/_test/issue?ttl_s=-10&user=bob")   # expired; refresh token good
                save_token(toml; server = url, token_path = saved)
                auth = authenticate(url; token_path = saved, interactive = false)
                @test auth.username == "bob"
                @test auth.expires_at > Dates.now(Dates.UTC)        # refreshed
                @test check_authentication(auth = auth)
                logout(url; token_path = saved)
                @test !isfile(saved)
                e = caught(() -> authenticate(url; token_path = saved, interactive = false))
                @test e isa AuthenticationError
                @test HubAuth.code(e) == LibHubAuth.HUBAUTH_ERR_NO_CREDENTIALS
            end

            @testset "the default token path follows JULIA_DEPOT_PATH" begin
                depot = mkpath(joinpath(dir, "depot"))
                port = split(url, ":")[end]
                withenv("JULIA_DEPOT_PATH" => depot) do
                    authenticate(url; hook = u -> nothing)
                end
                @test isfile(joinpath(depot, "servers", "127.0.0.1_$(port)", "auth.toml"))
            end

            @testset "a bare token: no JULIA_PKG_SERVER; close" begin
                toml = post("$(url)/_test/issue?ttl_s=3600")
                id = String(match(r"id_token\s*=\s*\"([^\"]+)\"", toml)[1])
                auth = withenv("JULIA_PKG_SERVER" => nothing) do
                    a = authenticate(url, id)
                    @test !haskey(ENV, "JULIA_PKG_SERVER")                 # the token method (D7)
                    a
                end
                @test current_authentication() === auth
                @test String(HubAuth.token(auth)) == id
                @test check_authentication(auth = auth)
                post("$(url)/_test/revoke")
                @test !check_authentication(auth = auth)
                close(auth)
                close(auth)                                       # idempotent
                @test !isopen(auth)
                @test_throws ArgumentError auth.server
                @test sprint(show, auth) == "HubAuth.Authentication(<closed>)"
            end

            @testset "close while other tasks use it" begin
                toml = post("$(url)/_test/issue?ttl_s=3600")
                id = String(match(r"id_token\s*=\s*\"([^\"]+)\"", toml)[1])
                auth = authenticate(url, id)
                results = [Threads.@spawn(caught(() -> String(HubAuth.token(auth)))) for _ in 1:16]
                close(auth)
                got = fetch.(results)
                # each call either finished with the token or saw the close
                @test all(r -> r === nothing || r isa ArgumentError, got)
                s = Secret("x")
                readers = [Threads.@spawn(caught(() -> String(s))) for _ in 1:16]
                close(s)
                @test all(r -> r === nothing || r isa ArgumentError, fetch.(readers))
            end
        end
    end
end
