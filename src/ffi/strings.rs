//! Strings the library hands to C and takes back: `owned_string` and `sw_string_free`.

use std::ffi::{c_char, CString};

use super::boundary::guarded;

/// Free a string returned by this library (`sw_rows_to_json`, `sw_writer_operations_json`,
/// `sw_writer_metrics_text`). NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn sw_string_free(s: *mut c_char) {
    guarded((), || {
        if !s.is_null() {
            // SAFETY: `s` came from `owned_string` (`CString::into_raw`), freed once, as the
            // header requires.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

/// A string the caller frees with `sw_string_free`.
pub(crate) fn owned_string(s: String) -> *mut c_char {
    CString::new(s.replace('\0', "\\u0000"))
        .unwrap_or_default()
        .into_raw()
}
