#!/usr/bin/env bash
# Runs every test of the project: formatting, lints and doc links, the Rust tests (unit,
# integration against the JuliaHub-protocol and oidc-provider servers, CLI),
# the C tests (plain, valgrind, AddressSanitizer, C++ header check, pkg-config
# and CMake examples of the installed tree), the Julia binding's header check, the Python binding's tests, a
# fuzz smoke run of every parser, the benchmarks' build, the quick start
# (tests/demo_check.sh: built into target/demo-elsewhere, a second release build)
# and the published wheel (bindings/python/packaging/check_wheel.sh: a release
# build against glibc 2.17 with cargo-zigbuild, checked with auditwheel).
# Needs: cargo, gcc, g++, make, valgrind, pkg-config, cmake, tinyproxy and openssl
# (cli/tests/tls_proxy.rs), node + npm, python3 with the
# packages in bindings/python/requirements-test.txt (.ci/run installs them),
# target/sdk-venv with the real SDKs (tests/sdk_compat/setup.sh; .ci/run makes it)
# and target/packaging-venv with the wheel's tools (check_wheel.sh makes it: pip).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

# Every error message and warning the library creates, and every token the
# test servers mint, are collected across all suites; the last step proves
# no token ever appeared in a message.
transcript_dir="$PWD/target/transcript"
rm -rf "$transcript_dir" && mkdir -p "$transcript_dir"
export HUBAUTH_TRANSCRIPT="$transcript_dir/messages.log"
export HUBAUTH_TRANSCRIPT_TOKENS="$transcript_dir/tokens.log"

if [ ! -d tests/oidc-server/node_modules ]; then
  step "npm ci (test OIDC server)"
  npm ci --prefix tests/oidc-server --no-audit --no-fund --loglevel=error
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc: no broken link (the library's public docs; the maintainers' docs with private items)"
# Separate runs: the CLI's binary and the library are both named hubauth.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p hubauth
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p hubauth --document-private-items
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p hubauth-cli -p hubauth-testkit --document-private-items

step "cargo test (unit, header drift, integration, multi-process)"
cargo build --workspace
cargo test --workspace

step "test OIDC server self-test"
node --test tests/oidc-server/selftest.test.js

if [ -f bindings/c/Makefile ]; then
  step "C tests: plain, valgrind, AddressSanitizer, C++ header, pkg-config and CMake examples"
  make -C bindings/c test valgrind asan cxx-check example-run cmake-check
fi

if [ -f bindings/julia/gen/generate.py ]; then
  step "generated bindings (LibHubAuth.jl, Python _signatures.py) match include/hubauth.h"
  python3 bindings/julia/gen/generate.py --check
fi

if [ -f bindings/julia/check_ccalls.py ]; then
  step "Julia binding: every ccall matches include/hubauth.h"
  python3 bindings/julia/check_ccalls.py
  python3 -m unittest discover -s bindings/julia -p 'test_*.py'
fi

if [ -d bindings/python/tests ]; then
  step "Python binding (pytest)"
  python3 -m pytest -q bindings/python/tests
fi

step "Python wheel: manylinux2014 (auditwheel), stripped, the hubauth command, a fresh venv"
bash bindings/python/packaging/check_wheel.sh

step "real SDKs (dagshub, digitalhub 0.15.11, caveclient) read what hubauth wrote and back"
bash tests/sdk_compat/setup.sh   # target/sdk-venv, created once (pip), then cached
target/sdk-venv/bin/python -m pytest -q tests/sdk_compat

step "no secret in any message, warning or Debug output of the whole suite"
python3 tests/check_transcript.py "$HUBAUTH_TRANSCRIPT" "$HUBAUTH_TRANSCRIPT_TOKENS"

step "fuzz smoke run: every parser, a fixed seed, ${FUZZ_RUNS:-400000} inputs or ${FUZZ_SECONDS:-20} s each (long runs: fuzz/README.md)"
bash fuzz/smoke.sh

step "benchmarks compile (they run on demand: BENCHMARKS.md)"
cargo bench --no-run

step "quick start: tests/demo.sh built into another CARGO_TARGET_DIR; a server that fails ends it"
bash tests/demo_check.sh

step "all tests passed"
