//! The committed header must be exactly what cbindgen generates from src/ffi now.
//! Regenerate with: SW_UPDATE_HEADER=1 cargo test --test header

#[test]
fn committed_header_matches_a_fresh_generation() {
    let root = env!("CARGO_MANIFEST_DIR");
    let config =
        cbindgen::Config::from_file(format!("{root}/cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = format!("{root}/include/singlewriter.h");
    if std::env::var_os("SW_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
    }
    let committed = std::fs::read(&path).expect("include/singlewriter.h exists");
    assert!(
        fresh == committed,
        "include/singlewriter.h is stale: regenerate it with `SW_UPDATE_HEADER=1 cargo test --test header` \
         (or `cbindgen --config cbindgen.toml --crate singlewriter --output include/singlewriter.h`) and commit it"
    );
}

#[test]
fn header_keeps_the_abi_contract_names() {
    let header = include_str!("../include/singlewriter.h");
    for name in [
        "sw_writer_open",
        "sw_writer_close",
        "sw_writer_execute",
        "sw_writer_enqueue",
        "sw_writer_batch",
        "sw_writer_transaction",
        "sw_txn_execute",
        "sw_txn_query",
        "sw_writer_execute_and_invalidate",
        "sw_writer_flush",
        "sw_writer_query",
        "sw_writer_read",
        "sw_writer_invalidate",
        "sw_rows_row_count",
        "sw_rows_column_count",
        "sw_rows_column_name",
        "sw_rows_type",
        "sw_rows_int64",
        "sw_rows_double",
        "sw_rows_text",
        "sw_rows_blob",
        "sw_rows_to_json",
        "sw_rows_free",
        "sw_string_free",
        "sw_writer_cache_stats",
        "sw_writer_stats",
        "sw_writer_poll_signals",
        "sw_signals_count",
        "sw_signals_get",
        "sw_signals_free",
        "sw_writer_subscribe",
        "sw_writer_unsubscribe",
        "sw_writer_raise",
        "sw_last_error_message",
        "sw_last_error_sqlite_code",
        "sw_status_str",
        "sw_version",
        "sw_abi_version",
        "typedef struct sw_value",
        "typedef struct sw_param",
        "typedef struct sw_statement",
        "typedef struct sw_write_result",
        "typedef struct sw_cache_stats",
        "typedef struct sw_stats",
        "typedef struct sw_signal",
        "#define SW_ABI_VERSION 1",
        "#define SW_STATUS_PANIC 14",
        "#define SW_TYPE_NULL 5",
    ] {
        assert!(header.contains(name), "the header lost `{name}`");
    }
}
