using System;

namespace SingleWriter
{
    /// <summary>The library's status codes (<c>sw_status</c>); the numbers are the C ABI's.</summary>
    public enum SingleWriterStatus : uint
    {
        /// <summary>Success.</summary>
        Ok = 0,
        /// <summary>An SQL error: syntax, no such table, a failed statement.</summary>
        Error = 1,
        /// <summary>A constraint was violated (UNIQUE, NOT NULL, CHECK, FOREIGN KEY).</summary>
        Constraint = 2,
        /// <summary>Another process held the database lock beyond the busy policy.</summary>
        Busy = 3,
        /// <summary>The write queue stayed full for longer than <c>Enqueue Timeout</c>.</summary>
        QueueFull = 4,
        /// <summary>A wait (flush) ran out of time.</summary>
        Timeout = 5,
        /// <summary>The writer is closed or closing.</summary>
        Closed = 6,
        /// <summary>A bad argument: unknown option, unknown or missing parameter, ...</summary>
        InvalidArgument = 7,
        /// <summary>Text that is not valid UTF-8.</summary>
        InvalidUtf8 = 8,
        /// <summary>A call that would deadlock, e.g. a blocking call inside a transaction callback.</summary>
        Misuse = 9,
        /// <summary>A transaction callback asked to roll back.</summary>
        Rollback = 10,
        /// <summary>A write attempted through a read path, or a read-only database.</summary>
        ReadOnly = 11,
        /// <summary>A disk I/O error, a full disk, or a file that cannot be opened.</summary>
        Io = 12,
        /// <summary>The database file is corrupt or not a database.</summary>
        Corrupt = 13,
        /// <summary>The library caught a panic; the operation failed, the library lives on.</summary>
        Panic = 14,
        /// <summary>Memory for the operation could not be allocated; nothing was changed.</summary>
        NoMem = 15,
    }

    /// <summary>
    /// A failed library call. <see cref="Exception.Message"/> is the library's description, which
    /// includes SQLite's own text (e.g. "UNIQUE constraint failed: Items.Name").
    /// Takes the place of <c>Microsoft.Data.Sqlite.SqliteException</c> in code ported from
    /// Mostlylucid.Ephemeral.Sqlite.SingleWriter.
    /// </summary>
    public class SingleWriterException : Exception
    {
        /// <summary>The library status of the failure.</summary>
        public SingleWriterStatus Status { get; private set; }

        /// <summary>SQLite's extended result code, or 0 when the failure did not come from SQLite
        /// (or was reported through an asynchronous completion, which carries only the message).</summary>
        public int SqliteCode { get; private set; }

        /// <summary>SQLite's primary result code (<see cref="SqliteCode"/> &amp; 0xFF), like
        /// <c>SqliteException.SqliteErrorCode</c>.</summary>
        public int SqliteErrorCode
        {
            get { return SqliteCode & 0xFF; }
        }

        /// <summary>Creates an exception for a status and message.</summary>
        public SingleWriterException(SingleWriterStatus status, string message, int sqliteCode = 0)
            : base(message)
        {
            Status = status;
            SqliteCode = sqliteCode;
        }

        internal static unsafe string StatusText(uint status)
        {
            try
            {
                return Utf8.FromNative(Native.sw_status_str(status)) ?? ("status " + status);
            }
            catch (Exception)
            {
                return "status " + status;
            }
        }

        /// <summary>
        /// Builds the exception from the thread-local last error. Call on the thread of the failed
        /// call, immediately after it, before any other library call.
        /// </summary>
        internal static unsafe SingleWriterException FromLastError(uint status)
        {
            string message = Utf8.FromNative(Native.sw_last_error_message());
            int code = Native.sw_last_error_sqlite_code();
            if (string.IsNullOrEmpty(message)) message = StatusText(status);
            return new SingleWriterException((SingleWriterStatus)status, message, code);
        }

        /// <summary>Builds the exception from a completion callback's status and message.</summary>
        internal static SingleWriterException FromCallback(uint status, string message)
        {
            if (string.IsNullOrEmpty(message)) message = StatusText(status);
            return new SingleWriterException((SingleWriterStatus)status, message, 0);
        }
    }

    /// <summary>The native library's ABI version differs from the one this binding was built for.</summary>
    public sealed class SingleWriterAbiMismatchException : Exception
    {
        /// <summary>Creates the exception.</summary>
        public SingleWriterAbiMismatchException(string message, Exception inner) : base(message, inner)
        {
        }
    }
}
