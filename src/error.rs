//! Errors: one typed [`Error`] whose [`Status`] maps 1:1 onto the C ABI's `sw_status`.
//!
//! Owns the translation from rusqlite/SQLite errors to statuses. Must never lose SQLite's own
//! message or extended result code: callers rely on both (e.g. "UNIQUE constraint failed").

use std::fmt;

/// Defines [`Status`] from one table: each row is the variant (with its doc), its number, its
/// C name and its short text. Everything else about a status (the list of all, the names, the
/// texts, the C text for `sw_status_str`) comes from here; `tests/header.rs` pins the header's
/// `SW_STATUS_*` constants to it.
macro_rules! statuses {
    ($( $(#[$doc:meta])* $variant:ident = $value:literal, $c_name:literal, $text:literal; )*) => {
        /// The outcome class of an operation. The numbers are the C ABI's `SW_STATUS_*` values
        /// and are never reused or renumbered.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Status {
            $( $(#[$doc])* $variant = $value, )*
        }

        impl Status {
            /// All statuses, in numeric order.
            pub const ALL: &'static [Status] = &[$( Status::$variant, )*];

            /// A short static description (what `sw_status_str` returns).
            pub fn as_str(self) -> &'static str {
                match self { $( Status::$variant => $text, )* }
            }

            /// The `SW_STATUS_*` name of this status.
            pub fn name(self) -> &'static str {
                match self { $( Status::$variant => $c_name, )* }
            }

            /// [`Status::as_str`] as a NUL-terminated C string.
            pub fn as_cstr(self) -> &'static std::ffi::CStr {
                match self {
                    $( Status::$variant => {
                        const C: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
                            concat!($text, "\0").as_bytes(),
                        ) {
                            Ok(c) => c,
                            Err(_) => panic!("a status text holds a NUL"),
                        };
                        C
                    } )*
                }
            }
        }
    };
}

statuses! {
    /// Success.
    Ok = 0, "SW_STATUS_OK", "ok";
    /// An SQL error: syntax, no such table, a failed statement.
    Error = 1, "SW_STATUS_ERROR", "SQL error";
    /// A constraint was violated (UNIQUE, NOT NULL, CHECK, FOREIGN KEY).
    Constraint = 2, "SW_STATUS_CONSTRAINT", "constraint violation";
    /// Another process held the database lock beyond the busy policy.
    Busy = 3, "SW_STATUS_BUSY", "database is locked by another process";
    /// The write queue was full for longer than `Enqueue Timeout`.
    QueueFull = 4, "SW_STATUS_QUEUE_FULL", "write queue is full";
    /// A wait (flush) ran out of time.
    Timeout = 5, "SW_STATUS_TIMEOUT", "timed out";
    /// The writer is closed or closing.
    Closed = 6, "SW_STATUS_CLOSED", "writer is closed";
    /// A bad argument: NULL, unknown option, unknown or missing parameter, a size beyond
    /// SQLite's limits, no SQL statement.
    InvalidArgument = 7, "SW_STATUS_INVALID_ARGUMENT", "invalid argument";
    /// Text that is not valid UTF-8.
    InvalidUtf8 = 8, "SW_STATUS_INVALID_UTF8", "invalid UTF-8";
    /// A call that would deadlock or break the writer, e.g. a blocking call inside a callback.
    Misuse = 9, "SW_STATUS_MISUSE", "misuse (the call would deadlock or break the writer)";
    /// A transaction callback asked to roll back.
    Rollback = 10, "SW_STATUS_ROLLBACK", "transaction rolled back";
    /// A write attempted through a read path, or a read-only database.
    ReadOnly = 11, "SW_STATUS_READONLY", "read-only: writes are not allowed here";
    /// A disk I/O error, a full disk, or a file that cannot be opened.
    Io = 12, "SW_STATUS_IO", "disk I/O error";
    /// The database file is corrupt or not a database.
    Corrupt = 13, "SW_STATUS_CORRUPT", "database is corrupt";
    /// A panic was caught; the operation failed, the library lives on.
    Panic = 14, "SW_STATUS_PANIC", "internal panic";
    /// Memory for the operation could not be allocated; nothing was changed.
    NoMem = 15, "SW_STATUS_NOMEM", "out of memory";
}

impl Status {
    /// The status for a numeric value, if it is one.
    pub fn from_u32(value: u32) -> Option<Status> {
        Status::ALL.get(value as usize).copied()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error: a [`Status`] (never [`Status::Ok`]), a message naming the problem, and SQLite's
/// extended result code when SQLite produced the error (0 otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
    sqlite_code: i32,
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error. `status` must not be [`Status::Ok`] (it is turned into [`Status::Error`]).
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        let status = if status == Status::Ok {
            Status::Error
        } else {
            status
        };
        Error {
            status,
            message: message.into(),
            sqlite_code: 0,
        }
    }

    /// Attach SQLite's extended result code.
    pub fn with_sqlite_code(mut self, code: i32) -> Error {
        self.sqlite_code = code;
        self
    }

    /// The status class.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The message, naming the problem.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// SQLite's extended result code, or 0.
    pub fn sqlite_code(&self) -> i32 {
        self.sqlite_code
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(Status::InvalidArgument, message)
    }

    pub(crate) fn closed() -> Error {
        Error::new(Status::Closed, "the writer is closed")
    }

    pub(crate) fn nomem(what: &str, bytes: usize) -> Error {
        Error::new(
            Status::NoMem,
            format!("{what}: {bytes} bytes could not be allocated"),
        )
    }

    pub(crate) fn misuse(message: impl Into<String>) -> Error {
        Error::new(Status::Misuse, message)
    }

    /// Append what the caller can do about it, keeping status and code.
    pub(crate) fn with_hint(mut self, hint: &str) -> Error {
        self.message = format!("{} ({hint})", self.message);
        self
    }

    /// Prefix the message with context, keeping status and code.
    pub(crate) fn context(mut self, what: &str) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// The status for a SQLite primary result code.
pub(crate) fn status_for_sqlite_code(extended: i32) -> Status {
    use rusqlite::ffi;
    match extended & 0xff {
        ffi::SQLITE_CONSTRAINT => Status::Constraint,
        ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED => Status::Busy,
        ffi::SQLITE_READONLY => Status::ReadOnly,
        ffi::SQLITE_IOERR | ffi::SQLITE_FULL | ffi::SQLITE_CANTOPEN | ffi::SQLITE_NOLFS => {
            Status::Io
        }
        ffi::SQLITE_CORRUPT | ffi::SQLITE_NOTADB => Status::Corrupt,
        ffi::SQLITE_MISUSE => Status::Misuse,
        ffi::SQLITE_NOMEM => Status::NoMem,
        _ => Status::Error,
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Error {
        match err {
            rusqlite::Error::SqliteFailure(e, msg) => {
                let code = e.extended_code;
                let message = msg.unwrap_or_else(|| e.to_string());
                Error::new(status_for_sqlite_code(code), message).with_sqlite_code(code)
            }
            rusqlite::Error::SqlInputError {
                error, msg, offset, ..
            } => {
                let code = error.extended_code;
                let message = if offset >= 0 {
                    format!("{msg} (at byte {offset} of the SQL)")
                } else {
                    msg
                };
                Error::new(status_for_sqlite_code(code), message).with_sqlite_code(code)
            }
            rusqlite::Error::Utf8Error(..) | rusqlite::Error::NulError(..) => {
                Error::new(Status::InvalidUtf8, err.to_string())
            }
            rusqlite::Error::InvalidParameterName(name) => {
                Error::invalid(format!("parameter '{name}' does not appear in the SQL"))
            }
            rusqlite::Error::InvalidParameterCount(given, expected) => Error::invalid(format!(
                "wrong number of parameters: {given} given, the SQL has {expected}"
            )),
            other => Error::new(Status::Error, other.to_string()),
        }
    }
}
