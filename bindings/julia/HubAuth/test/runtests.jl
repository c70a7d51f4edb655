# Tests against the real library and the JuliaHub test server:
#
#   cargo build && cargo build -p hubauth-test-servers
#   julia --project=bindings/julia/HubAuth -e 'using Pkg; Pkg.test()'
#
# HUBAUTH_LIB picks the library (default: the repo's target/{release,debug});
# HUBAUTH_TEST_SERVER the server binary (default: target/debug/hubauth-test-server).

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
    isfile(SERVER_BIN) || error("no $(SERVER_BIN): run `cargo build -p hubauth-test-servers`")
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
        @test e.code == LibHubAuth.HUBAUTH_ERR_AUTHENTICATION
        @test sprint(showerror, e) == "AuthenticationError: nope"
        @test e isa HubAuth.JuliaHubException
        @test startswith(sprint(showerror, InvalidAuthentication()),
                         "InvalidAuthentication: authentication token invalid or expired")
    end

    @testset "no authentication yet" begin
        @test current_authentication() === nothing       # as JuliaHub.jl
        @test_throws ArgumentError authenticate("https://x.example"; maxcount = 0)
        @test_throws ArgumentError authenticate("https://x.example"; hook = () -> nothing)
        @test_throws ArgumentError authenticate("https://x.example"; project = "not-a-uuid")
    end

    mktempdir() do dir
        with_server("--auto-approve") do url
            path = joinpath(dir, "auth.toml")

            @testset "login through the hook" begin
                urls = String[]
                auth = authenticate(url; hook = u -> (push!(urls, u); nothing), token_path = path)
                @test length(urls) == 1
                @test startswith(urls[1], url)
                @test auth.server == HubAuth.URIs.URI(url)
                @test string(auth.server) == url
                @test ENV["JULIA_PKG_SERVER"] == url           # as the spec says JuliaHub.jl does
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
                @test string(current_authentication().server) == url
                @test check_authentication()
            end

            @testset "a stored token needs no login" begin
                auth = authenticate(url; token_path = path, interactive = false)
                @test auth.username == "alice"
                @test reauthenticate!(auth) === auth
                @test check_authentication(auth = auth)
            end

            @testset "a triggered cancel ends the call at once" begin
                c = LibHubAuth.hubauth_cancel_new()
                @test c != C_NULL
                LibHubAuth.hubauth_cancel_trigger(c)
                LibHubAuth.hubauth_cancel_trigger(c)          # twice: harmless
                o = LibHubAuth.hubauth_options_new()
                err = Ref{Ptr{Cvoid}}(C_NULL)
                @test LibHubAuth.hubauth_options_set(o, "server", url, err) == LibHubAuth.HUBAUTH_OK
                @test LibHubAuth.hubauth_options_set_cancel(o, c) == LibHubAuth.HUBAUTH_OK
                LibHubAuth.hubauth_cancel_free(c)             # the options keep it
                out = Ref{Ptr{Cvoid}}(C_NULL)
                @test LibHubAuth.hubauth_authenticate(o, out, err) == LibHubAuth.HUBAUTH_ERR_CANCELLED
                @test out[] == C_NULL
                LibHubAuth.hubauth_error_free(err[])
                LibHubAuth.hubauth_options_free(o)
                @test LibHubAuth.hubauth_options_set_cancel(C_NULL, C_NULL) ==
                      LibHubAuth.HUBAUTH_ERR_NULL_ARGUMENT
            end

            @testset "Ctrl-C cancels a waiting login" begin
                # InterruptException thrown into the waiting task, as Ctrl-C
                # does: the login (a hook that never approves, on a server
                # that waits for a browser) returns, and the interrupt is
                # rethrown. Needs a second thread (julia -t 2).
                if Threads.nthreads() > 1
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
            end

            @testset "the hook outlives the Authentication it came with" begin
                calls = Ref(0)
                authenticate(url; force = true, token_path = path, hook = u -> (calls[] += 1; true))
                @test calls[] == 1
                GC.gc(true); GC.gc(true)      # that Authentication is garbage now
                # What C kept of the call, the hook with its userdata included,
                # is reused when the C API is called with options that do not
                # replace the hook, as another binding in this process could:
                # the hook must still be alive.
                p = LibHubAuth.hubauth_current()
                @test p != C_NULL
                err = Ref{Ptr{Cvoid}}(C_NULL)
                o = LibHubAuth.hubauth_options_new()
                @test LibHubAuth.hubauth_options_set(o, "force", "true", err) == LibHubAuth.HUBAUTH_OK
                @test LibHubAuth.hubauth_reauthenticate(p, o, err) == LibHubAuth.HUBAUTH_OK
                LibHubAuth.hubauth_options_free(o)
                LibHubAuth.hubauth_auth_free(p)
                @test calls[] == 2
                auth = current_authentication()
                # force applies only to the call that set it: a bare
                # reauthenticate! (NULL options) reloads, no login. Fails while
                # the core keeps force = true for later calls.
                reauthenticate!(auth)
                @test calls[] == 2
                reauthenticate!(auth; force = true)
                @test calls[] == 3
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
                    @test authenticate(url; token_path = path, interactive = false,
                                       project = nothing).project_id === nothing
                end
                @test authenticate(url; token_path = path, interactive = false,
                                   project = string(id)).project_id == id
            end

            @testset "the hook throws: its exception, not a crash" begin
                @test_throws ErrorException("boom") authenticate(
                    url; hook = u -> error("boom"), token_path = joinpath(dir, "throw.toml"))
            end

            @testset "interactive = false and nothing stored" begin
                e = caught(() -> authenticate(url; interactive = false,
                                              token_path = joinpath(dir, "none.toml")))
                @test e isa AuthenticationError
                @test e.code == LibHubAuth.HUBAUTH_ERR_NO_CREDENTIALS
            end

            @testset "a bad option" begin
                e = caught(() -> authenticate(url; no_such_option = 1))
                @test e isa AuthenticationError
                @test e.code == LibHubAuth.HUBAUTH_ERR_INVALID_ARGUMENT
                e = caught(() -> authenticate("http://example.com"; interactive = false))
                @test e isa AuthenticationError
                @test e.code == LibHubAuth.HUBAUTH_ERR_INSECURE
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
                @test e.code == LibHubAuth.HUBAUTH_ERR_NO_CREDENTIALS
            end

            @testset "the default token path follows JULIA_DEPOT_PATH" begin
                depot = mkpath(joinpath(dir, "depot"))
                port = split(url, ":")[end]
                withenv("JULIA_DEPOT_PATH" => depot) do
                    authenticate(url; hook = u -> nothing)
                end
                @test isfile(joinpath(depot, "servers", "127.0.0.1_$(port)", "auth.toml"))
            end

            @testset "hubauth frees a hook when it holds no copy of it (hook_full)" begin
                GC.gc(true); GC.gc(true)
                a = authenticate(url; hook = u -> nothing, token_path = joinpath(dir, "h.toml"))
                live = HubAuth._live_hooks()
                @test live >= 1
                c = current_authentication()
                close(a); close(c)
                @test HubAuth._live_hooks() == live        # still the current authentication
                # Another login becomes current: hubauth drops its last copy.
                toml = post("$(url)/_test/issue?ttl_s=3600")
                id = String(match(r"id_token\s*=\s*\"([^\"]+)\"", toml)[1])
                b = authenticate(url, id)
                @test HubAuth._live_hooks() == live - 1
                # A hook given to one reauthenticate! is freed after it.
                reauthenticate!(b; hook = u -> nothing)
                @test HubAuth._live_hooks() == live - 1
                close(b)
            end

            @testset "a bare token; close" begin
                toml = post("$(url)/_test/issue?ttl_s=3600")
                id = String(match(r"id_token\s*=\s*\"([^\"]+)\"", toml)[1])
                auth = authenticate(url, id)
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
        end
    end
end
