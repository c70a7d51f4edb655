#!/usr/bin/env bash
# Builds the wheel as it is published and checks what a user gets from it:
# - the library and the CLI linked against glibc 2.17 (cargo-zigbuild), and
#   `auditwheel show` agrees the wheel is manylinux_2_17 (manylinux2014) or older;
# - both stripped (sizes printed; the library at most 4 MiB);
# - the MIT license in the metadata and the LICENSE file in the wheel;
# - installed into a fresh venv (target/wheel-venv, no cargo on PATH, no
#   network needed): `hubauth --version`, `hubauth --help`, an exit code
#   passed through, and `import hubauth` loading the bundled library;
# - `python -m build --sdist` refuses with a message saying how to build.
# The tools (requirements.txt beside this file) live in target/packaging-venv,
# made once. The wheel is built without pip's build isolation, in that venv:
# an isolated build puts zig in a new temporary directory each time, which
# cargo sees as a new linker, and then rebuilds every crate.
set -euo pipefail
cd "$(dirname "$0")/../../.."
repo=$PWD
glibc=2.17
arch=$(uname -m)

target_dir=${CARGO_TARGET_DIR:-$repo/target}
case "$target_dir" in /*) ;; *) target_dir=$repo/$target_dir ;; esac
out=$target_dir/wheels
venv=$target_dir/wheel-venv
tools=$target_dir/packaging-venv
requirements=bindings/python/packaging/requirements.txt
fail() { echo "check_wheel: $*" >&2; exit 1; }

if ! cmp -s "$requirements" "$tools/requirements.txt"; then
  rm -rf "$tools"
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$tools/requirements.txt"
fi
export PATH="$tools/bin:$PATH"

rm -rf "$out" && mkdir -p "$out"
started=$SECONDS
HUBAUTH_TARGET_GLIBC=$glibc "$tools/bin/python" -m pip wheel --no-deps --no-build-isolation \
  --disable-pip-version-check -w "$out" ./bindings/python
echo "check_wheel: wheel built in $((SECONDS - started)) s"
wheels=("$out"/hubauth-*.whl)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || fail "expected one wheel in $out"
wheel=${wheels[0]}
version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' bindings/python/pyproject.toml | head -n 1)
expected_name="hubauth-$version-py3-none-manylinux_2_17_$arch.manylinux2014_$arch.whl"
[ "$(basename "$wheel")" = "$expected_name" ] || fail "wheel is $(basename "$wheel"), expected $expected_name"

# auditwheel reads every ELF file's versioned glibc symbols: the newest one
# decides the oldest manylinux the wheel is consistent with.
show=$(auditwheel show "$wheel")
echo "$show"
consistent=$(tr -s ' \n' ' ' <<<"$show" | sed -n "s/.*consistent with the following platform tag: \"manylinux_2_\([0-9]*\)_$arch\".*/\1/p")
[ -n "$consistent" ] || fail "auditwheel show names no manylinux tag"
[ "$consistent" -le 17 ] || fail "the wheel needs glibc 2.$consistent, more than 2.17 (manylinux2014)"

unpacked=$out/unpacked
python3 -m zipfile -e "$wheel" "$unpacked"
lib=$unpacked/hubauth/libhubauth.so
cli=$unpacked/hubauth/bin/hubauth
for f in "$lib" "$cli"; do
  [ -f "$f" ] || fail "$f is not in the wheel"
  if readelf -S --wide "$f" | grep -Eq ' \.(symtab|debug_[a-z]+) '; then
    fail "$(basename "$f") is not stripped (it has a symbol table or debug info)"
  fi
done
# pip gives an installed file the exec bits its zip entry has.
python3 - "$wheel" <<'PY' || fail "the CLI in the wheel is not executable"
import sys, zipfile
mode = zipfile.ZipFile(sys.argv[1]).getinfo("hubauth/bin/hubauth").external_attr >> 16
sys.exit(0 if mode & 0o111 else 1)
PY
readelf --dyn-syms --wide "$lib" | grep -q ' hubauth_version$' || fail "the library lost its C ABI symbols"
size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
echo "check_wheel: libhubauth.so $(size "$lib") bytes ($(mib "$(size "$lib")")), stripped"
echo "check_wheel: hubauth (CLI) $(size "$cli") bytes ($(mib "$(size "$cli")")), stripped"
echo "check_wheel: wheel $(size "$wheel") bytes ($(mib "$(size "$wheel")"))"
# The library users install: at most 4 MiB stripped (BENCHMARKS.md).
if [ "$(size "$lib")" -gt 4194304 ]; then
  echo "check_wheel: libhubauth.so is larger than 4 MiB" >&2
  exit 1
fi

dist_info=$unpacked/hubauth-$version.dist-info
grep -qx 'License-Expression: MIT' "$dist_info/METADATA" || fail "METADATA has no License-Expression: MIT"
grep -qx 'License-File: LICENSE' "$dist_info/METADATA" || fail "METADATA names no License-File"
cmp -s "$dist_info/licenses/LICENSE" LICENSE || fail "the wheel's licenses/LICENSE is not the repository's LICENSE"
grep -qx 'hubauth = _hubauth_cli:main' "$dist_info/entry_points.txt" || fail "no hubauth console script"

# A fresh venv; then only its bin and the system's on PATH (no cargo), an
# empty HOME, nothing from this shell's environment.
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-index --no-deps --disable-pip-version-check "$wheel"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
run() { env -i HOME="$home" PATH="$venv/bin:/usr/bin:/bin" LANG=C.UTF-8 "$@"; }
[ "$(run sh -c 'command -v hubauth')" = "$venv/bin/hubauth" ] || fail "hubauth on PATH is not the venv's"
got=$(run hubauth --version)
[ "$got" = "hubauth $version" ] || fail "hubauth --version printed '$got'"
run hubauth --help | grep -q '^Usage: hubauth' || fail "hubauth --help printed no usage"
# The console script's module loads no library (that would cost every call ~0.1 s).
run python -c 'import sys, _hubauth_cli; assert "hubauth" not in sys.modules' \
  || fail "the console script imports the hubauth package"
rc=0; run hubauth no-such-command 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "a usage error exited $rc through the console script, expected 2"
got=$(cd "$home" && run python -c '
import hubauth, pathlib, sys
assert hubauth.library_version() == hubauth.__version__, hubauth.library_version()
assert pathlib.Path(hubauth.library_path).is_relative_to(sys.prefix), hubauth.library_path
print(hubauth.__version__, hubauth.library_path)')
echo "check_wheel: import hubauth in the venv: $got"

# No sdist (the package is the Rust library at the repository root): the
# build says so and how to build a wheel instead.
rc=0
sdist_log=$("$tools/bin/python" -m build --sdist --outdir "$out/sdist" bindings/python 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "python -m build --sdist succeeded; the package has no sdist"
grep -q 'hubauth has no sdist' <<<"$sdist_log" || { echo "$sdist_log" >&2; fail "the sdist error does not explain itself"; }
grep -q 'pip wheel --no-deps ./bindings/python' <<<"$sdist_log" || fail "the sdist error does not say how to build"
echo "check_wheel: python -m build --sdist refuses: $(grep -o 'hubauth has no sdist[^.]*' <<<"$sdist_log" | head -n 1)"

echo "check_wheel: OK ($(basename "$wheel"), $((SECONDS - started)) s)"
