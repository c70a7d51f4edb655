# BinaryBuilder recipe for HubAuth_jll, in the style of Yggdrasil
# (https://github.com/JuliaPackaging/Yggdrasil: copy this file to H/HubAuth/
# there). It builds libhubauth from this repository with cargo for every
# platform Rust supports in BinaryBuilder (less musl, see below). HubAuth.jl
# depends on HubAuth_jll (its Project.toml [deps]; the UUID there is the one
# BinaryBuilder derives from the name) and loads HubAuth_jll.libhubauth_path
# unless ENV["HUBAUTH_LIB"] overrides it (LibHubAuth.find_library).
#
#   julia --project=@BinaryBuilder build_tarballs.jl --verbose --debug   # all platforms
#   julia build_tarballs.jl x86_64-linux-gnu                              # one
#
# Not run on this project's CI: Julia and BinaryBuilder (a Linux sandbox with
# cross compilers) cannot be installed there. bindings/julia/test_jll_recipe.py
# checks its shape statically.
using BinaryBuilder, Pkg

name = "HubAuth"
# The crate's version (Cargo.toml); the tag/commit below must be that release.
version = v"0.1.0"

sources = [
    # The hubauth repository at the release commit (set both when submitting).
    GitSource("https://github.com/hubauth/hubauth.git",
              "0000000000000000000000000000000000000000"),
]

# Runs in BinaryBuilder's sandbox: cargo cross-compiles for ${rust_target}
# (CARGO_BUILD_TARGET is set), so the library is in target/${rust_target}/release.
# The C compiler is for ring (rustls' cryptography).
script = "HUBAUTH_VERSION=$(version)\n" * raw"""
cd ${WORKSPACE}/srcdir/hubauth
# Only the cdylib: `cargo build --lib` would also build the staticlib and rlib.
cargo rustc --release --lib --crate-type cdylib --locked

out="target/${rust_target}/release"
if [[ "${target}" == *-mingw* ]]; then
    # LibraryProduct("libhubauth") looks for libhubauth.dll (in ${bindir} = ${libdir} on Windows).
    install -Dvm 0755 "${out}/hubauth.${dlext}" "${libdir}/libhubauth.${dlext}"
elif [[ "${target}" == *-apple-* ]]; then
    install -Dvm 0755 "${out}/libhubauth.${dlext}" "${libdir}/libhubauth.${dlext}"
else
    # ELF: build.rs gives the library the SONAME libhubauth.so.0; lay out the
    # same files as `make -C bindings/c install`.
    install -Dvm 0755 "${out}/libhubauth.${dlext}" "${libdir}/libhubauth.${dlext}.${HUBAUTH_VERSION}"
    ln -sf "libhubauth.${dlext}.${HUBAUTH_VERSION}" "${libdir}/libhubauth.${dlext}.${HUBAUTH_VERSION%%.*}"
    ln -sf "libhubauth.${dlext}.${HUBAUTH_VERSION%%.*}" "${libdir}/libhubauth.${dlext}"
fi
install -Dvm 0644 include/hubauth.h "${includedir}/hubauth.h"
install_license LICENSE*
"""

# Every platform BinaryBuilder supports, less those its Rust toolchain does not.
platforms = supported_platforms()
# No Rust toolchain in BinaryBuilder for these.
filter!(p -> !(Sys.iswindows(p) && arch(p) == "i686"), platforms)   # i686-w64-mingw32: unwinding is broken
filter!(p -> arch(p) != "riscv64", platforms)
filter!(p -> !(Sys.isfreebsd(p) && arch(p) == "aarch64"), platforms)
# musl: Rust's *-linux-musl targets link the C runtime statically and rustc
# drops the cdylib crate type ("dropping unsupported crate type `cdylib`"),
# so there would be no libhubauth.so to install. Yggdrasil's other Rust
# cdylib recipes filter musl the same way.
filter!(p -> libc(p) != "musl", platforms)

products = [
    LibraryProduct("libhubauth", :libhubauth),
]

# Pure Rust plus ring's C: no binary dependencies.
dependencies = Dependency[]

build_tarballs(ARGS, name, version, sources, script, platforms, products, dependencies;
               compilers = [:c, :rust],
               # Cargo.toml: edition 2024, rust-version 1.89.
               preferred_rust_version = v"1.89",
               julia_compat = "1.6")
