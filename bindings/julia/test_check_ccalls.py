"""Proves bindings/julia/check_ccalls.py catches what it should.

    python3 -m unittest discover -s bindings/julia -p 'test_check_ccalls.py'

Each test copies the header and the Julia sources into a temp dir, breaks one
thing, and runs the checker on the copy. Python stdlib only.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CHECKER = HERE / "check_ccalls.py"

_spec = importlib.util.spec_from_file_location("hubauth_check_ccalls", CHECKER)
check = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = check
_spec.loader.exec_module(check)
gen = check.gen

SRC = Path("bindings/julia/HubAuth/src")
LIB = SRC / "LibHubAuth.jl"


class CopyTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)
        (self.root / "include").mkdir()
        shutil.copy(REPO / "include" / "hubauth.h", self.root / "include" / "hubauth.h")
        shutil.copytree(REPO / SRC, self.root / SRC)
        shutil.copytree(REPO / "bindings/julia/HubAuth/test", self.root / "bindings/julia/HubAuth/test")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    # helpers
    def write_extra(self, code: str, name: str = "extra.jl", where: Path = SRC) -> None:
        (self.root / where / name).write_text(textwrap.dedent(code), encoding="utf-8")

    def edit(self, rel: Path, old: str, new: str) -> None:
        p = self.root / rel
        text = p.read_text(encoding="utf-8")
        self.assertIn(old, text, f"test setup: {old!r} not in {rel}")
        p.write_text(text.replace(old, new, 1), encoding="utf-8")

    def run_checker(self) -> check.Report:
        return check.run(self.root)

    def assertFails(self, report: check.Report, *patterns: str) -> None:
        self.assertGreater(report.failed, 0, "the checker passed a broken binding")
        text = "\n".join(report.messages)
        for pat in patterns:
            self.assertRegex(text, pat)


class TheRealBinding(CopyTestCase):
    def test_clean_copy_passes_and_reports_for_ci(self) -> None:
        proc = subprocess.run([sys.executable, str(CHECKER), "--root", str(self.root)],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        lines = proc.stdout.strip().splitlines()
        n = len(gen.parse_header((REPO / "include/hubauth.h").read_text()).functions)
        self.assertIn(f"julia binding: {n} ccalls match include/hubauth.h", lines)
        self.assertRegex(lines[-1], r"^\d+ passed, 0 failed$")

    def test_checked_in_file_is_what_the_generator_makes(self) -> None:
        self.assertEqual(gen.generate(REPO), (REPO / LIB).read_text(encoding="utf-8"))

    def test_generator_is_deterministic(self) -> None:
        self.assertEqual(gen.generate(REPO), gen.generate(REPO))


class CatchesMistakes(CopyTestCase):
    def test_wrong_argument_count(self) -> None:
        self.write_extra("""
            f(a, out) = ccall((:hubauth_token, libhubauth), Int32, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), a, out)
        """)
        r = self.run_checker()
        self.assertFails(r, r"extra\.jl:2: ccall to hubauth_token declares 2 argument\(s\); the header has 3")

    def test_wrong_argument_type(self) -> None:
        self.write_extra("""
            f(a, v, e) = ccall((:hubauth_check, libhubauth), Int32, (Ptr{Cvoid}, Ptr{Int32}, Ptr{Ptr{Cvoid}}), a, v, e)
        """)
        self.assertFails(self.run_checker(),
                         r"hubauth_check, argument 2 \(valid\): Ptr\{Int32\} does not match C `bool \*`")

    def test_wrong_type_in_the_generated_file_is_a_mismatch_and_a_drift(self) -> None:
        self.edit(LIB, "(Ptr{hubauth_options}, Cstring, Cstring, Ptr{Ptr{hubauth_error}}), o, key, value, err)",
                       "(Ptr{hubauth_options}, Cstring, Ptr{Cvoid}, Ptr{Ptr{hubauth_error}}), o, key, value, err)")
        self.assertFails(self.run_checker(),
                         r"LibHubAuth\.jl:\d+: ccall to hubauth_options_set, argument 3 \(value\)",
                         r"LibHubAuth\.jl: differs from what gen/generate\.py makes")

    def test_unknown_symbol(self) -> None:
        self.write_extra("""
            f() = ccall((:hubauth_no_such_thing, libhubauth), Cvoid, ())
        """)
        self.assertFails(self.run_checker(), r"ccall to hubauth_no_such_thing: no such function in include/hubauth\.h")

    def test_owned_string_returned_as_cstring(self) -> None:
        self.write_extra("""
            f(a) = ccall((:hubauth_auth_server, libhubauth), Cstring, (Ptr{Cvoid},), a)
        """)
        self.assertFails(self.run_checker(), r"ccall to hubauth_auth_server returns Cstring; the header returns char \*")

    def test_wrong_return_type(self) -> None:
        self.write_extra("""
            f(a) = ccall((:hubauth_auth_expires_at, libhubauth), Int32, (Ptr{Cvoid},), a)
        """)
        self.assertFails(self.run_checker(), r"returns Int32; the header returns int64_t")

    def test_parenthesised_type_is_not_a_tuple(self) -> None:
        self.write_extra("""
            f(a) = ccall((:hubauth_auth_free, libhubauth), Cvoid, (Ptr{Cvoid}), a)
        """)
        self.assertFails(self.run_checker(), r"not a tuple literal")

    def test_value_count(self) -> None:
        self.write_extra("""
            f(a) = ccall((:hubauth_auth_free, libhubauth), Cvoid, (Ptr{Cvoid},), a, a)
        """)
        self.assertFails(self.run_checker(), r"declares 1 argument type\(s\) but passes 2 value\(s\)")

    def test_other_library(self) -> None:
        self.write_extra("""
            f() = ccall((:hubauth_version, "libother"), Ptr{UInt8}, ())
        """)
        self.assertFails(self.run_checker(), r"goes to library `\"libother\"`")

    def test_unchecked_call_forms(self) -> None:
        self.write_extra("""
            f(p) = @ccall $p()::Ptr{UInt8}
            g(p) = ccall(p, Ptr{UInt8}, ())
        """)
        self.assertFails(self.run_checker(), r"extra\.jl:2: @ccall must be written",
                         r"extra\.jl:3: ccall\(p, \.\.\.\) is not ccall\(\(:name, libhubauth\)")

    def test_wrong_callback_signature(self) -> None:
        self.write_extra("""
            f() = @cfunction(cb, Int64, (Ptr{Cvoid}, Cstring))
        """)
        self.assertFails(self.run_checker(), r"@cfunction\(cb, Int64, .*matches no callback type.*hubauth_hook_fn")

    def test_missing_wrapper(self) -> None:
        lib = self.root / LIB
        text = lib.read_text(encoding="utf-8")
        text, n = re.subn(r'"""\n    hubauth_secret_len\(.*?\nend\n', "", text, flags=re.S)
        self.assertEqual(n, 1)
        lib.write_text(text, encoding="utf-8")
        self.assertFails(self.run_checker(), r"no wrapper `function hubauth_secret_len\(\.\.\.\)`",
                         r"differs from what gen/generate\.py makes")

    def test_header_gains_a_function(self) -> None:
        self.edit(Path("include/hubauth.h"), "void hubauth_secret_free(hubauth_secret *s);",
                  "void hubauth_secret_free(hubauth_secret *s);\n\n"
                  "/**\n * New.\n */\nint32_t hubauth_new_thing(const char *x);")
        self.assertFails(self.run_checker(), r"no wrapper `function hubauth_new_thing",
                         r"differs from what gen/generate\.py makes")

    def test_constant_changes(self) -> None:
        self.edit(Path("include/hubauth.h"), "#define HUBAUTH_ERR_TIMEOUT 10", "#define HUBAUTH_ERR_TIMEOUT 12")
        self.assertFails(self.run_checker(), r"constant HUBAUTH_ERR_TIMEOUT should be 12")

    def test_exit_status_and_last_line_on_failure(self) -> None:
        self.write_extra("f() = ccall((:hubauth_nope, libhubauth), Cvoid, ())\n")
        proc = subprocess.run([sys.executable, str(CHECKER), "--root", str(self.root)],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stdout.strip().splitlines()[-1], r"^\d+ passed, 1 failed$")
        self.assertIn("FAIL ", proc.stdout)


TESTS_JL = Path("bindings/julia/HubAuth/test/runtests.jl")


class WrapperCalls(CopyTestCase):
    """Calls of the generated wrappers from the hand-written API."""

    def test_wrong_arity_under_check(self) -> None:
        self.write_extra("""
            g(o, k, v) = @check L.hubauth_options_set(o, k, v, nothing)
        """)
        self.assertFails(self.run_checker(),
                         r"extra\.jl:2: hubauth_options_set is called with 5 argument\(s\).*it takes 4")

    def test_a_blocking_call_in_the_binding_fails(self) -> None:
        # save_token as a plain ccall again: a DagsHub app token's server
        # check (and any lock wait) would hold Julia's GC.
        self.edit(API, "@check L.hubauth_job_start_save_token(o, L.hubauth_secret_expose(s),\n"
                       "                                                          cglobal(:uv_async_send), cond.handle, job)",
                  "@check L.hubauth_save_token(o, L.hubauth_secret_expose(s))")
        self.assertFails(self.run_checker(),
                         r"api\.jl:\d+: hubauth_save_token blocks the calling thread .* run it as a job")

    def test_every_blocking_form_of_a_job_kind_is_refused(self) -> None:
        header = (REPO / "include/hubauth.h").read_text(encoding="utf-8")
        blocking = check.blocking_functions(header)
        self.assertEqual(blocking, {"hubauth_authenticate", "hubauth_reauthenticate", "hubauth_token",
                                    "hubauth_authorization", "hubauth_check", "hubauth_logout",
                                    "hubauth_save_token", "hubauth_token_copy"})
        self.write_extra("""
            g(a::Ptr{L.hubauth_auth}, out::Ref{Ptr{L.hubauth_secret}}) = @check L.hubauth_token(a, out)
        """)
        self.assertFails(self.run_checker(), r"extra\.jl:2: hubauth_token blocks the calling thread")

    def test_the_tests_may_call_a_blocking_function(self) -> None:
        # runtests.jl cancels a blocking login from another task.
        self.assertIn("LibHubAuth.hubauth_authenticate(", (self.root / TESTS_JL).read_text())
        r = self.run_checker()
        self.assertEqual(r.failed, 0, r.messages)

    def test_unknown_wrapper(self) -> None:
        self.write_extra("""
            g() = L.hubauth_nope(1)
        """)
        self.assertFails(self.run_checker(), r"extra\.jl:2: hubauth_nope\(\.\.\.\) calls no function")

    def test_the_cancel_functions_are_checked_against_the_header(self) -> None:
        self.write_extra("""
            g(o::Ptr{L.hubauth_options}) = (c = L.hubauth_cancel_new(); L.hubauth_options_set_cancel(o, c); L.hubauth_cancel_free(c))
            h(c::Ptr{L.hubauth_cancel}) = L.hubauth_cancel_trigger(c, 1)
        """)
        r = self.run_checker()
        self.assertFails(r, r"extra\.jl:3: hubauth_cancel_trigger is called with 2 argument\(s\).*it takes 1")
        self.assertEqual(r.failed, 1, r.messages)


API = SRC / "api.jl"
TESTS = Path("bindings/julia/HubAuth/test/runtests.jl")


class ArgumentTypes(CopyTestCase):
    """The mutations of the review (G1-G7): each must fail the checker."""

    def test_g1_freeing_an_auth_with_the_secret_free(self) -> None:
        self.edit(API, "_free_handle(p::Ptr{L.hubauth_auth}) = L.hubauth_auth_free(p)",
                       "_free_handle(p::Ptr{L.hubauth_auth}) = L.hubauth_secret_free(p)")
        self.assertFails(self.run_checker(),
                         r"api\.jl:\d+: hubauth_secret_free, argument 1 \(s\) `p`: Ptr\{hubauth_auth\} is not "
                         r"Ptr\{hubauth_secret\}")

    def test_g1_a_cast_between_handle_kinds(self) -> None:
        # The same bug as above, laundered through an explicit pointer cast.
        self.edit(API, "_free_handle(p::Ptr{L.hubauth_auth}) = L.hubauth_auth_free(p)",
                       "_free_handle(p::Ptr{L.hubauth_auth}) = L.hubauth_secret_free(Ptr{L.hubauth_secret}(p))")
        self.assertFails(self.run_checker(),
                         r"hubauth_secret_free, argument 1 \(s\) `Ptr\{L\.hubauth_secret\}\(p\)`: a cast from "
                         r"Ptr\{hubauth_auth\} to Ptr\{hubauth_secret\}")

    def test_g1_a_job_event_field_freed_with_the_wrong_function(self) -> None:
        self.edit(API, "e.auth == C_NULL || L.hubauth_auth_free(e.auth)",
                       "e.auth == C_NULL || L.hubauth_auth_free(e.secret)")
        self.assertFails(self.run_checker(), r"hubauth_auth_free, argument 1 \(a\) `e\.secret`")

    def test_g1_a_ref_of_the_wrong_type(self) -> None:
        self.write_extra("""
            function f(a::Ptr{L.hubauth_auth})
                valid = Ref{Int64}(0)
                @check L.hubauth_check(a, valid)
                return valid[]
            end
        """)
        self.assertFails(self.run_checker(),
                         r"hubauth_check, argument 2 \(valid\) `valid`: Ref\{Int64\} is not Ptr\{Bool\}")

    def test_g1_a_julia_object_or_an_untyped_pointer_is_refused(self) -> None:
        self.write_extra("""
            f(auth::Authentication) = L.hubauth_auth_free(auth)
            g(p::Ptr{Cvoid}) = L.hubauth_auth_free(p)
            h(p) = L.hubauth_auth_free(p)
        """)
        self.assertFails(self.run_checker(),
                         r"extra\.jl:2: hubauth_auth_free, argument 1 \(a\) `auth`: Authentication is not",
                         r"extra\.jl:3: hubauth_auth_free, argument 1 \(a\) `p`: Ptr\{Cvoid\} is not",
                         r"extra\.jl:4: hubauth_auth_free, argument 1 \(a\) `p`: its type cannot be told")

    def test_g1_a_wrong_out_parameter_in_the_tests(self) -> None:   # G5: runtests.jl is read
        self.edit(TESTS, "out = Ref{Ptr{LibHubAuth.hubauth_auth}}(C_NULL)",
                         "out = Ref{Ptr{LibHubAuth.hubauth_secret}}(C_NULL)")
        self.assertFails(self.run_checker(),
                         r"runtests\.jl:\d+: hubauth_authenticate, argument 2 \(out\) `out`: "
                         r"Ref\{Ptr\{hubauth_secret\}\} is not Ptr\{Ptr\{hubauth_auth\}\}")

    def test_g2_swapped_callbacks(self) -> None:
        self.write_extra("""
            _hook_cfunction() = @cfunction(_hook, Int32, (Ptr{Cvoid}, Cstring))
            _free_cfunction() = @cfunction(_free, Cvoid, (Ptr{Cvoid},))
            good(o::Ptr{L.hubauth_options}, box::Ptr{Cvoid}) =
                L.hubauth_options_set_hook_full(o, _hook_cfunction(), box, _free_cfunction())
            bad(o::Ptr{L.hubauth_options}, box::Ptr{Cvoid}) =
                L.hubauth_options_set_hook_full(o, _free_cfunction(), box, _hook_cfunction())
            inline(o::Ptr{L.hubauth_options}) =
                L.hubauth_options_set_hook(o, @cfunction(_free, Cvoid, (Ptr{Cvoid},)), C_NULL)
        """)
        r = self.run_checker()
        self.assertFails(r, r"extra\.jl:7: hubauth_options_set_hook_full, argument 2 \(hook\).*"
                            r"is not a `int32_t \(\*\)\(void \*userdata, const char \*url\)`",
                         r"extra\.jl:7: hubauth_options_set_hook_full, argument 4 \(free_userdata\)",
                         r"extra\.jl:9: hubauth_options_set_hook, argument 2 \(hook\)")
        self.assertNotRegex("\n".join(r.messages), r"extra\.jl:5:")

    def test_g2_the_notify_must_fit_hubauth_notify_fn(self) -> None:
        self.edit(API, "@check L.hubauth_job_start(o, kind, cglobal(:uv_async_send), cond.handle, job)",
                       "@check L.hubauth_job_start(o, kind, cglobal(:uv_async_init), cond.handle, job)")
        self.write_extra("""
            f(o::Ptr{L.hubauth_options}, j::Base.RefValue{Ptr{L.hubauth_job}}, arg::Ptr{Cvoid}) =
                @check L.hubauth_job_start(o, Int32(1), cglobal((:hubauth_version, L.libhubauth)), arg, j)
            g(o::Ptr{L.hubauth_options}, j::Base.RefValue{Ptr{L.hubauth_job}}, arg::Ptr{Cvoid}) =
                @check L.hubauth_job_start(o, Int32(1), cglobal((:hubauth_notify_fd, L.libhubauth)), arg, j)
        """)
        r = self.run_checker()
        self.assertFails(r, r"api\.jl:\d+: hubauth_job_start, argument 3 \(notify\).*cglobal\(:uv_async_init\) is not known",
                         r"extra\.jl:3: hubauth_job_start, argument 3 \(notify\).*hubauth_version")
        self.assertNotRegex("\n".join(r.messages), r"extra\.jl:5:")

    def test_no_julia_code_as_a_jobs_notify(self) -> None:
        self.write_extra("""
            f(o::Ptr{L.hubauth_options}, j::Base.RefValue{Ptr{L.hubauth_job}}) =
                @check L.hubauth_job_start(o, Int32(1), @cfunction(_wake, Cvoid, (Ptr{Cvoid},)), C_NULL, j)
        """)
        self.assertFails(self.run_checker(),
                         r"extra\.jl:3: hubauth_job_start, argument 3 \(notify\).*would run Julia code on the library's thread")

    def test_blocks_are_scoped_by_indentation(self) -> None:
        # The same name in two sibling blocks, with two types: each use is
        # checked against its own block; a use outside both is ambiguous.
        self.write_extra("""
            function f(a::Ptr{L.hubauth_auth}, s::Ptr{L.hubauth_secret})
                let
                    p = a
                    L.hubauth_auth_free(p)
                end
                let
                    p = s
                    L.hubauth_secret_free(p)
                end
                L.hubauth_auth_free(p)
            end
        """)
        r = self.run_checker()
        self.assertFails(r, r"extra\.jl:11: hubauth_auth_free, argument 1 \(a\) `p`: its type cannot be told")
        self.assertNotRegex("\n".join(r.messages), r"extra\.jl:(5|9):")

    def test_g3_cstring_for_an_output_buffer(self) -> None:
        # In the tests' directory: the binding may not call the blocking
        # hubauth_token_copy at all (test_a_blocking_call_in_the_binding_fails).
        self.write_extra(where=TESTS_JL.parent, code="""
            f(a, buf, cap, len, err) = ccall((:hubauth_token_copy, L.libhubauth), Int32,
                (Ptr{L.hubauth_auth}, Cstring, Csize_t, Ptr{Csize_t}, Ptr{Ptr{L.hubauth_error}}), a, buf, cap, len, err)
            g(a::Ptr{L.hubauth_auth}, len::Base.RefValue{Csize_t}) = @check L.hubauth_token_copy(a, "buffer", 7, len)
            h(a::Ptr{L.hubauth_auth}, buf::Vector{UInt8}, len::Base.RefValue{Csize_t}) =
                @check L.hubauth_token_copy(a, buf, Csize_t(length(buf)), len)
        """)
        r = self.run_checker()
        self.assertFails(r, r"extra\.jl:2: ccall to hubauth_token_copy, argument 2 \(buf\): Cstring does not match",
                         r"extra\.jl:4: hubauth_token_copy, argument 2 \(buf\) `\"buffer\"`: STRING cannot be an output buffer")
        self.assertNotRegex("\n".join(r.messages), r"extra\.jl:[56]:")

    def test_g4_the_library_name(self) -> None:
        self.write_extra("""
            f() = ccall((:hubauth_version, libhubauth), Ptr{UInt8}, ())
            g() = ccall((:hubauth_version, L.libhubauth), Ptr{UInt8}, ())
        """)
        r = self.run_checker()
        self.assertFails(r, r"extra\.jl:2: ccall to hubauth_version goes to library `libhubauth`, not `L\.libhubauth")
        self.assertEqual(r.failed, 1, r.messages)

    def test_g6_at_ccall_is_read_and_checked(self) -> None:
        self.write_extra("""
            f(s) = @ccall L.libhubauth.hubauth_secret_len(s::Ptr{L.hubauth_secret})::Int32
            g(s) = @ccall gc_safe=true L.libhubauth.hubauth_secret_len(s::Ptr{L.hubauth_auth})::Csize_t
            h(s) = @ccall libhubauth.hubauth_secret_len(s::Ptr{L.hubauth_secret})::Csize_t
            k(s) = @ccall L.libhubauth.hubauth_secret_len(s)::Csize_t
            ok(s) = @ccall gc_safe=true L.libhubauth.hubauth_secret_len(s::Ptr{L.hubauth_secret})::Csize_t
        """)
        r = self.run_checker()
        self.assertFails(r, r"extra\.jl:2: ccall to hubauth_secret_len returns Int32",
                         r"extra\.jl:3: ccall to hubauth_secret_len, argument 1 \(s\): Ptr\{L\.hubauth_auth\}",
                         r"extra\.jl:4: @ccall to hubauth_secret_len goes to library `libhubauth`",
                         r"extra\.jl:5: @ccall to hubauth_secret_len: argument `s` has no `::Type`")
        self.assertNotRegex("\n".join(r.messages), r"extra\.jl:6:")

    def test_g7_freeing_a_borrowed_string(self) -> None:
        self.write_extra("""
            function f(e::Ptr{L.hubauth_error})
                p = L.hubauth_error_message(e)
                L.hubauth_string_free(p)
            end
            g(e::Ptr{L.hubauth_error}) = _take_string(L.hubauth_error_message(e))
            h(ev::L.hubauth_job_event) = L.hubauth_string_free(ev.url)
            fine(a::Ptr{L.hubauth_auth}) = _take_string(L.hubauth_auth_server(a))
        """)
        r = self.run_checker()
        self.assertFails(r, r"extra\.jl:4: hubauth_string_free, argument 1 \(s\) `p`: it is a borrowed string",
                         r"extra\.jl:6: _take_string\(`L\.hubauth_error_message\(e\)`\) frees a borrowed string",
                         r"extra\.jl:7: hubauth_string_free, argument 1 \(s\) `ev\.url`: it is a borrowed string")
        self.assertNotRegex("\n".join(r.messages), r"extra\.jl:8:")

    def test_scalars_and_strings(self) -> None:
        self.write_extra("""
            f(o::Ptr{L.hubauth_options}, j::Base.RefValue{Ptr{L.hubauth_job}}) =
                @check L.hubauth_job_start(o, "1", C_NULL, C_NULL, j)
            g(o::Ptr{L.hubauth_options}, k::Int64) = @check L.hubauth_options_set(o, k, "v")
            h(o::Ptr{L.hubauth_options}, v::String) = @check L.hubauth_options_set(o, "k", v)
        """)
        r = self.run_checker()
        self.assertFails(r, r"extra\.jl:3: hubauth_job_start, argument 2 \(kind\) `\"1\"`: STRING is not Int32",
                         r"extra\.jl:4: hubauth_options_set, argument 2 \(key\) `k`: Int64 is not a string")
        self.assertNotRegex("\n".join(r.messages), r"extra\.jl:5:")


class AcceptsEquivalentSpellings(CopyTestCase):
    def test_aliases_refs_and_c_names(self) -> None:
        self.write_extra("""
            f1(a) = ccall((:hubauth_auth_free, L.libhubauth), Nothing, (Ptr{L.hubauth_auth},), a)
            f2(a, o) = ccall((:hubauth_token, LibHubAuth.libhubauth), Cint,
                             (Ptr{LibHubAuth.hubauth_auth}, Ref{Ptr{L.hubauth_secret}}, Ptr{Ptr{L.hubauth_error}}), a, o, C_NULL)
            f3(a, v) = ccall(("hubauth_check", L.libhubauth), L.hubauth_status,
                             (Ptr{L.hubauth_auth}, Ref{Bool}, Ptr{Ptr{L.hubauth_error}}), a, v, C_NULL)
            f4(s) = ccall((:hubauth_secret_len, L.libhubauth), UInt, (Ptr{L.hubauth_secret},), s)
            f5() = ccall((:hubauth_version, L.libhubauth), Cstring, ())   # borrowed: fine
            f6() = @cfunction(cb, Cint, (Ptr{Cvoid}, Ptr{UInt8}))
            f7(s) = @ccall L.libhubauth.hubauth_secret_len(s::Ptr{L.hubauth_secret})::Csize_t
            f8(a, v, e) = @ccall gc_safe=true L.libhubauth.hubauth_check(a::Ptr{L.hubauth_auth}, v::Ref{Bool},
                                                                       e::Ptr{Ptr{L.hubauth_error}})::Cint
        """)
        r = self.run_checker()
        self.assertEqual(r.failed, 0, "\n".join(r.messages))

    def test_comments_strings_and_chars_are_not_code(self) -> None:
        self.wrappers = self.run_checker().ccalls  # as many as the header has
        self.write_extra('''
            # ccall((:hubauth_nope, libhubauth), Cvoid, ())
            #= ccall((:hubauth_nope, libhubauth), Cvoid, ())
               #= nested =# ccall((:hubauth_nope, libhubauth), Cvoid, ()) =#
            s = "ccall((:hubauth_nope, libhubauth), Cvoid, ()) \\" ccall((:x, y), Cvoid, ())"
            t = """
                ccall((:hubauth_nope, libhubauth), Cvoid, ())
                """
            c = '"'
            d = x' * y'
            e = `echo "ccall((:hubauth_nope, lib), Cvoid, ())"`
            u = "$(f("ccall((:hubauth_nope, lib), Cvoid, ())"))"
            r = raw"ccall((:hubauth_nope, lib), \\" Cvoid, ())\\\\"
            g() = ccall((:hubauth_version, L.libhubauth), Ptr{UInt8}, ())
        ''')
        r = self.run_checker()
        self.assertEqual(r.failed, 0, "\n".join(r.messages))
        self.assertEqual(r.ccalls, self.wrappers + 1)  # the wrappers + g


class HeaderParser(unittest.TestCase):
    def test_rejects_what_it_does_not_understand(self) -> None:
        bad = [
            "struct hubauth_x { int a; };",
            "hubauth_status hubauth_f(const hubauth_options *o,\n    hubauth_error **err);",
            "#define HUBAUTH_X \"text\"",
            "int32_t hubauth_f(int32_t);",
            "hubauth_status hubauth_f(struct_unknown *p);",
        ]
        for text in bad:
            with self.subTest(text=text), self.assertRaises(gen.HeaderError):
                gen.parse_header(text)

    def test_reads_the_real_header(self) -> None:
        hdr = gen.parse_header((REPO / "include/hubauth.h").read_text())
        f = hdr.function("hubauth_options_set")
        self.assertEqual([str(p.ctype) for p in f.params],
                         ["hubauth_options *", "const char *", "const char *", "hubauth_error **"])
        self.assertEqual(gen.julia_type(hdr, f.params[1].ctype, "arg"), "Cstring")
        self.assertEqual(gen.julia_type(hdr, hdr.function("hubauth_auth_server").ret, "ret"), "Ptr{UInt8}")
        self.assertEqual(gen.julia_type(hdr, hdr.function("hubauth_check").params[1].ctype, "arg"), "Ptr{Bool}")
        self.assertEqual(gen.julia_type(hdr, hdr.function("hubauth_options_set_hook").params[1].ctype, "arg"),
                         "Ptr{Cvoid}")
        self.assertEqual({d.name: d.value for d in hdr.defines}["HUBAUTH_ERR_PANIC"], 98)
        self.assertIn("Sets option `key` to `value`", f.doc)

    def test_reads_an_inline_function_pointer_parameter(self) -> None:
        hdr = gen.parse_header((REPO / "include/hubauth.h").read_text())
        f = hdr.function("hubauth_options_set_hook_full")
        self.assertEqual([p.name for p in f.params], ["o", "hook", "userdata", "free_userdata"])
        self.assertEqual(str(f.params[3]), "void (*free_userdata)(void *userdata)")
        self.assertEqual(f.prototype(),
                         "hubauth_status hubauth_options_set_hook_full(hubauth_options *o, hubauth_hook_fn hook, "
                         "void *userdata, void (*free_userdata)(void *userdata));")
        fn = hdr.typedef(f.params[3].ctype.base)
        self.assertTrue(fn.inline and fn.kind == "fnptr")
        self.assertEqual(fn.signature(), "void (*)(void *userdata)")
        self.assertEqual(gen.julia_type(hdr, f.params[3].ctype, "arg"), "Ptr{Cvoid}")
        self.assertEqual(gen.py_type(hdr, f.params[3].ctype, "arg"), "FREE_USERDATA_FN")
        # Not declared under its made-up name in LibHubAuth.jl; the callback
        # type is in the Python table.
        self.assertNotIn("free_userdata_fn", gen.render(hdr))
        self.assertIn("'FREE_USERDATA_FN': ('void (*)(void *userdata)', None, ['c_void_p'])",
                      gen.render_python(hdr))

    def test_inline_callback_types_must_agree(self) -> None:
        text = ("void hubauth_a(void (*cb)(void *userdata));\n"
                "void hubauth_b(int32_t (*cb)(void *userdata));\n")
        with self.assertRaises(gen.HeaderError):
            gen.parse_header(text)
        same = ("void hubauth_a(void (*cb)(void *userdata));\n"
                "void hubauth_b(int32_t x, void (*cb)(void *userdata));\n")
        hdr = gen.parse_header(same)
        self.assertEqual([t.name for t in hdr.typedefs], ["cb_fn"])

    def test_reads_a_struct_with_fields(self) -> None:
        hdr = gen.parse_header((REPO / "include/hubauth.h").read_text())
        t = hdr.typedef("hubauth_job_event")
        self.assertEqual(t.kind, "struct")
        self.assertEqual([(f.name, str(f.ctype)) for f in t.fields],
                         [("kind", "int32_t"), ("status", "hubauth_status"), ("url", "const char *"),
                          ("user_code", "const char *"), ("message", "const char *"),
                          ("auth", "hubauth_auth *"), ("secret", "hubauth_secret *"),
                          ("valid", "bool"), ("error", "hubauth_error *")])
        jl = gen.render(hdr)
        body = jl[jl.index("struct hubauth_job_event\n"):]
        body = body[:body.index("\nend\n")]
        fields = re.findall(r"^    (\w+)::(\S+)$", body, re.M)
        self.assertEqual([f[0] for f in fields], [f.name for f in t.fields])
        self.assertEqual(dict(fields)["kind"], "Int32")
        self.assertEqual(dict(fields)["url"], "Ptr{UInt8}")
        self.assertEqual(dict(fields)["valid"], "Bool")
        self.assertTrue(dict(fields)["auth"].startswith("Ptr{"))
        self.assertEqual(gen.julia_type(hdr, hdr.function("hubauth_job_poll").params[1].ctype, "arg"),
                         "Ptr{hubauth_job_event}")
        py = gen.render_python(hdr)
        self.assertIn("('valid', 'c_bool'),", py)
        self.assertIn("('auth', 'AuthPtr'),", py)
        self.assertIn("'hubauth_job_poll': {1: 'JobEvent'},", py)

    def test_struct_members_are_strict(self) -> None:
        ok = "typedef struct {\n  /** doc */\n  int32_t a;\n  const char *b;\n} hubauth_s;\n"
        self.assertEqual([f.name for f in gen.parse_header(ok).typedef("hubauth_s").fields], ["a", "b"])
        bad = [
            "typedef struct {\n  int32_t a[4];\n} hubauth_s;",
            "typedef struct {\n  int32_t a : 3;\n} hubauth_s;",
            "typedef struct {\n  void (*f)(void *x);\n} hubauth_s;",
            "typedef struct {\n  struct { int a; } in;\n} hubauth_s;",
            "typedef struct {\n  int32_t a, b;\n} hubauth_s;",
            "typedef struct {\n  int32_t a;\n",                      # never closed
            "typedef struct {\n} hubauth_s;",                         # no fields
            "typedef struct hubauth_t {\n  int32_t a;\n} hubauth_s;",  # names differ
            "typedef struct {\n  int32_t a;\n} hubauth_s;\nvoid hubauth_f(hubauth_s s);",  # by value
            "typedef struct {\n  mystery_t a;\n} hubauth_s;",
        ]
        for text in bad:
            with self.subTest(text=text), self.assertRaises(gen.HeaderError):
                gen.parse_header(text)

    def test_docstrings_escape_dollar_and_backslash(self) -> None:
        self.assertEqual(gen.docstring('costs $5 \\ "x" """'),
                         '"""\ncosts \\$5 \\\\ "x" \\"\\"\\"\n"""')


if __name__ == "__main__":
    unittest.main()
