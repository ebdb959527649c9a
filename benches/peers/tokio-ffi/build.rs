//! Links target/release/libsinglewriter.so (or `$SW_LIB_DIR`), with an rpath to it.
fn main() {
    let dir = std::env::var("SW_LIB_DIR").unwrap_or_else(|_| {
        let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
        format!("{manifest}/../../../target/release")
    });
    let dir = std::fs::canonicalize(&dir)
        .unwrap_or_else(|_| panic!("{dir}: build the library first (cargo build --release)"));
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=singlewriter");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    println!("cargo:rerun-if-env-changed=SW_LIB_DIR");
}
