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

    if env::var_os("CARGO_FEATURE_BUNDLED").is_none() {
        check_host_sqlite();
    }

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

/// The oldest SQLite the host-SQLite build (`bundled` off) can use: rusqlite keeps every hook
/// (authorizer, busy handler, commit hook) with `sqlite3_set_clientdata`, new in SQLite 3.44.0.
const MIN_HOST_SQLITE: (u32, u32, u32) = (3, 44, 0);

/// Refuse, with a message that says why and what to do, a host SQLite too old to link: the
/// library would otherwise fail to load with `undefined symbol: sqlite3_set_clientdata`.
/// Checked through pkg-config, the way libsqlite3-sys finds the library (its `SQLITE3_LIB_DIR`
/// override included); without pkg-config information nothing is checked.
fn check_host_sqlite() {
    println!("cargo:rerun-if-env-changed=SQLITE3_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let mut cmd = std::process::Command::new(env::var("PKG_CONFIG").unwrap_or("pkg-config".into()));
    if let Some(dir) = env::var_os("SQLITE3_LIB_DIR") {
        cmd.env("PKG_CONFIG_PATH", PathBuf::from(dir).join("pkgconfig"));
    }
    let Ok(out) = cmd.args(["--modversion", "sqlite3"]).output() else {
        println!("cargo:warning=pkg-config not found: the host SQLite's version is not checked (singlewriter needs 3.44.0 or newer)");
        return;
    };
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let parsed: Vec<u32> = found.split('.').map_while(|p| p.parse().ok()).collect();
    if !out.status.success() || parsed.len() < 2 {
        println!("cargo:warning=pkg-config knows no sqlite3: the host SQLite's version is not checked (singlewriter needs 3.44.0 or newer)");
        return;
    }
    let version = (parsed[0], parsed[1], parsed.get(2).copied().unwrap_or(0));
    if version < MIN_HOST_SQLITE {
        let (a, b, c) = MIN_HOST_SQLITE;
        println!(
            "cargo::error=singlewriter without the `bundled` feature links the host's libsqlite3, which must be SQLite {a}.{b}.{c} or newer (rusqlite keeps its hooks with sqlite3_set_clientdata, new in 3.44.0); pkg-config reports SQLite {found}."
        );
        println!(
            "cargo::error=Build with the default `bundled` feature instead, or point PKG_CONFIG_PATH (or SQLITE3_LIB_DIR) at a newer SQLite."
        );
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
