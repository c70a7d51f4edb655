# Tests against the real library and the JuliaHub test server:
#
#   cargo build && cargo build -p hubauth-test-servers
#   julia --project=bindings/julia/HubAuth -e 'using Pkg; Pkg.test()'
#
# HUBAUTH_LIB picks the library (default: the repo's target/{release,debug});
# HUBAUTH_TEST_SERVER the server binary (default: target/debug/hubauth-test-server).

using HubAuth
using HubAuth: LibHubAuth, Secret, AuthenticationError
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
        @test sprint(show, s) == "Secret(*****)"
        @test string(s) == "Secret(*****)"
        @test "Bearer $(s)" == "Bearer Secret(*****)"       # never the value by accident
        @test !occursin("abc", sprint(show, MIME"text/plain"(), s))
        close(s)
        close(s)                                              # idempotent
        @test !isopen(s)
        @test_throws ArgumentError String(s)
        @test_throws ArgumentError Secret("a\0b")
    end

    @testset "no authentication yet" begin
        e = caught(current_authentication)
        @test e isa AuthenticationError
        @test e.code == LibHubAuth.HUBAUTH_ERR_NO_CREDENTIALS
    end

    mktempdir() do dir
        with_server("--auto-approve") do url
            path = joinpath(dir, "auth.toml")

            @testset "login through the hook" begin
                urls = String[]
                auth = authenticate(url; hook = u -> (push!(urls, u); nothing), token_path = path)
                @test length(urls) == 1
                @test startswith(urls[1], url)
                @test auth.server == url
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
                @test current_authentication().server == url
                @test check_authentication()
            end

            @testset "a stored token needs no login" begin
                auth = authenticate(url; token_path = path, interactive = false)
                @test auth.username == "alice"
                @test reauthenticate!(auth) === auth
                @test check_authentication(auth = auth)
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

            @testset "the hook cancels" begin
                e = caught(() -> authenticate(url; hook = u -> false,
                                              token_path = joinpath(dir, "cancel.toml")))
                @test e isa AuthenticationError
                @test e.code == LibHubAuth.HUBAUTH_ERR_CANCELLED
                @test occursin("HUBAUTH_ERR_CANCELLED", sprint(showerror, e))
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
