//! Gives the cdylib its ELF SONAME, `libhubauth.so.<major>` (the C ABI's
//! major version: 0 while the crate is 0.x), so programs linked against
//! libhubauth record that name and keep working across compatible updates
//! installed as libhubauth.so.0.x.y (bindings/c/Makefile installs the links).
//! Only the cdylib gets the flag; the staticlib, rlib, CLI and tests do not.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // ELF targets whose linker takes GNU-style -soname; macOS sets an
    // install_name instead and Windows has no such thing.
    let elf = matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly" | "illumos"
    );
    if elf && env != "msvc" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhubauth.so.{major}");
    }
}
