// P/Invoke declarations for the C ABI in include/singlewriter.h (the contract is /work/shared/API.md).
// Everything that touches a native pointer lives in this assembly's internal types; the public API
// never exposes an IntPtr.
//
// Marshalling rules used throughout:
// - Text goes in as NUL-terminated UTF-8 that we encode ourselves (see Utf8/Scratch), never through
//   the runtime's string marshaller, so Mono and .NET behave the same.
// - size_t is UIntPtr, bool is a byte, every callback is a cdecl delegate held in a static field for
//   the life of the process (Callbacks), so native code can never call a collected delegate.
using System;
using System.Runtime.InteropServices;

namespace SingleWriter
{
    internal static unsafe class Native
    {
        internal const string Lib = "singlewriter";

        /// <summary>The ABI version this binding is written against (SW_ABI_VERSION).</summary>
        internal const uint ExpectedAbiVersion = 1;

        internal const uint TypeInteger = 1;
        internal const uint TypeFloat = 2;
        internal const uint TypeText = 3;
        internal const uint TypeBlob = 4;
        internal const uint TypeNull = 5;

        [StructLayout(LayoutKind.Sequential)]
        internal struct SwValue
        {
            public uint Type;
            public long Integer;
            public double Real;
            public byte* Data;
            public UIntPtr Len;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SwParam
        {
            public byte* Name;
            public SwValue Value;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SwStatement
        {
            public byte* Sql;
            public SwParam* Params;
            public UIntPtr NParams;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SwWriteResult
        {
            public long RowsAffected;
            public long LastInsertRowId;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SwCacheStats
        {
            public ulong Entries, HotEntries, ExpiredEntries, MaxEntries;
            public ulong Hits, Misses, Evictions, Invalidations;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SwStats
        {
            public ulong Queued, Committed, Failed, Transactions, BusyRetries;
            public ulong LatencyP50Us, LatencyP99Us;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SwSignal
        {
            public ulong Seq;
            public long TimestampUs;
            public byte* Name;
            public byte* Key;
            public uint Status;
            public long DurationUs;
            public long Rows;
        }

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void WriteCallback(IntPtr userdata, uint status, SwWriteResult* result, byte* errorMessage);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate uint TxnFn(IntPtr userdata, IntPtr txn);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void SignalCallback(IntPtr userdata, SwSignal* signal);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void UserdataFree(IntPtr userdata);

        // ---- version, status, errors ----
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_abi_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern byte* sw_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern byte* sw_status_str(uint status);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern byte* sw_last_error_message();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int sw_last_error_sqlite_code();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void sw_string_free(byte* s);

        // ---- writer ----
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_open(byte* connectionString, out IntPtr outWriter);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_close(IntPtr writer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_execute(WriterHandle writer, byte* sql, SwParam* prms, UIntPtr nParams,
            SwWriteResult* outResult);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_execute_or_enqueue(WriterHandle writer, byte* sql, SwParam* prms,
            UIntPtr nParams, WriteCallback callback, IntPtr userdata, SwWriteResult* outResult, byte* outRan);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_enqueue(WriterHandle writer, byte* sql, SwParam* prms, UIntPtr nParams,
            WriteCallback callback, IntPtr userdata);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_batch(WriterHandle writer, SwStatement* statements, UIntPtr nStatements,
            byte transactional, SwWriteResult* outTotal);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_transaction(WriterHandle writer, TxnFn fn, IntPtr userdata);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_txn_execute(IntPtr txn, byte* sql, SwParam* prms, UIntPtr nParams,
            SwWriteResult* outResult);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_txn_query(IntPtr txn, byte* sql, SwParam* prms, UIntPtr nParams,
            out IntPtr outRows);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_execute_and_invalidate(WriterHandle writer, byte* sql, SwParam* prms,
            UIntPtr nParams, byte** cacheKeys, UIntPtr nKeys, SwWriteResult* outResult);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_flush(WriterHandle writer, uint timeoutMs);

        // ---- reads ----
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_query(WriterHandle writer, byte* sql, SwParam* prms, UIntPtr nParams,
            out IntPtr outRows);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_read(WriterHandle writer, byte* cacheKey, byte* sql, SwParam* prms,
            UIntPtr nParams, out IntPtr outRows);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_invalidate(WriterHandle writer, byte* keyOrGlob);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern UIntPtr sw_rows_row_count(IntPtr rows);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern UIntPtr sw_rows_column_count(IntPtr rows);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern byte* sw_rows_column_name(IntPtr rows, UIntPtr column);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_rows_type(IntPtr rows, UIntPtr row, UIntPtr column);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern long sw_rows_int64(IntPtr rows, UIntPtr row, UIntPtr column);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern double sw_rows_double(IntPtr rows, UIntPtr row, UIntPtr column);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern byte* sw_rows_text(IntPtr rows, UIntPtr row, UIntPtr column, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern byte* sw_rows_blob(IntPtr rows, UIntPtr row, UIntPtr column, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_rows_to_json(IntPtr rows, out IntPtr outJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void sw_rows_free(IntPtr rows);

        // ---- statistics ----
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_cache_stats(WriterHandle writer, out SwCacheStats outStats);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_stats(WriterHandle writer, out SwStats outStats);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_operations_json(WriterHandle writer, out IntPtr outJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_metrics_text(WriterHandle writer, out IntPtr outText);

        // ---- signals ----
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_poll_signals(WriterHandle writer, byte* pattern, ulong afterSeq,
            out IntPtr outSignals);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern UIntPtr sw_signals_count(IntPtr signals);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern SwSignal* sw_signals_get(IntPtr signals, UIntPtr index);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern ulong sw_signals_missed(IntPtr signals);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void sw_signals_free(IntPtr signals);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_subscribe(WriterHandle writer, byte* pattern, SignalCallback callback,
            IntPtr userdata, UserdataFree userdataFree, out ulong outSubscription);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_unsubscribe(WriterHandle writer, ulong subscription);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint sw_writer_raise(WriterHandle writer, byte* signal);

        // ---- load-time check ----
        private static readonly object LoadLock = new object();
        private static volatile bool _loaded;

        /// <summary>
        /// Loads the native library and compares its ABI version with the one this binding was
        /// written for. Called before the first handle is opened; throws a clear exception instead
        /// of letting a mismatched library corrupt memory later.
        /// </summary>
        internal static void EnsureLoaded()
        {
            if (_loaded) return;
            lock (LoadLock)
            {
                if (_loaded) return;
                uint abi;
                try
                {
                    abi = sw_abi_version();
                }
                catch (DllNotFoundException e)
                {
                    throw new DllNotFoundException(
                        "SingleWriter: the native library 'singlewriter' (libsinglewriter.so / singlewriter.dll / " +
                        "libsinglewriter.dylib) was not found. Build it with `cargo build --release` and put its " +
                        "directory on the loader path (LD_LIBRARY_PATH on Linux under Mono) or next to the application. " +
                        e.Message, e);
                }
                catch (EntryPointNotFoundException e)
                {
                    throw new SingleWriterAbiMismatchException(
                        "SingleWriter: the native library found has no sw_abi_version(); it is not libsinglewriter " +
                        "or is too old (this binding needs ABI version " + ExpectedAbiVersion + ").", e);
                }
                CheckAbi(abi);
                _loaded = true;
            }
        }

        /// <summary>Throws when <paramref name="abi"/> differs from <see cref="ExpectedAbiVersion"/>.</summary>
        internal static void CheckAbi(uint abi)
        {
            if (abi != ExpectedAbiVersion)
                throw new SingleWriterAbiMismatchException(
                    "SingleWriter: native library ABI version " + abi + " does not match the version this .NET " +
                    "binding was built for (" + ExpectedAbiVersion + "). Use the binding that ships with the " +
                    "library version you load.", null);
        }
    }
}
