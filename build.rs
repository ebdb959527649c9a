//! Build script: gives the shared library its SONAME.
//!
//! On ELF targets the cdylib is linked with `-soname libsinglewriter.so.<ABI major>`, where the
//! ABI major is `SW_ABI_VERSION` in `src/ffi/status.rs` (its one definition), so programs record
//! the versioned name and two ABI versions can be installed side by side. Inside a checkout it
//! also leaves `libsinglewriter.so.<ABI major>` → `libsinglewriter.so` next to the built library,
//! so programs linked against `target/<profile>` run there as they did before the SONAME.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/ffi/status.rs");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let status_rs = manifest_dir.join("src/ffi/status.rs");
    let source = fs::read_to_string(&status_rs)
        .unwrap_or_else(|e| panic!("reading {}: {e}", status_rs.display()));
    let abi = abi_version(&source).expect("src/ffi/status.rs defines SW_ABI_VERSION");

    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly" | "illumos"
    );
    if !elf {
        return;
    }
    let soname = format!("libsinglewriter.so.{abi}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");

    if manifest_dir.join(".git").exists() {
        if let Some(profile_dir) = profile_dir() {
            link_soname(&profile_dir, &soname);
        }
    }
}

/// The value of `pub const SW_ABI_VERSION: u32 = N;`.
fn abi_version(source: &str) -> Option<u32> {
    source.lines().find_map(|line| {
        let rest = line
            .trim()
            .strip_prefix("pub const SW_ABI_VERSION: u32 =")?;
        rest.trim().trim_end_matches(';').trim().parse().ok()
    })
}

/// `target/<profile>` (or `target/<triple>/<profile>`): OUT_DIR is `<that>/build/<pkg>-<hash>/out`.
fn profile_dir() -> Option<PathBuf> {
    let out = PathBuf::from(env::var_os("OUT_DIR")?);
    let dir = out.parent()?.parent()?.parent()?;
    (dir.join("build").is_dir()).then(|| dir.to_path_buf())
}

/// `libsinglewriter.so.N -> libsinglewriter.so` in the profile directory (dangling until the
/// library is linked).
fn link_soname(dir: &Path, soname: &str) {
    let link = dir.join(soname);
    if fs::symlink_metadata(&link).is_ok() {
        return;
    }
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink("libsinglewriter.so", &link) {
        println!("cargo:warning=could not create {}: {e}", link.display());
    }
}
