using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace SingleWriter
{
    /// <summary>
    /// One coordinated writer per SQLite database, over the native singlewriter library. The API
    /// mirrors Mostlylucid.Ephemeral.Sqlite.SingleWriter's <c>SqliteSingleWriter</c>.
    /// <para><b>Sharing and lifetime.</b> The native library keeps one writer per database file,
    /// shared by every handle that opens it (in this process, in any language). Each
    /// <see cref="GetOrCreate"/> call opens its own handle on that shared writer and returns a new
    /// instance; <see cref="DisposeAsync"/> closes only that handle, so disposing one holder never
    /// breaks another (the original disposed the one shared instance under every holder). The
    /// writer drains its queue and closes the database when the last handle closes. An instance
    /// that is never disposed is closed by its handle's finalizer.</para>
    /// <para><b>Threads.</b> Every member is safe to call from any thread. Tasks returned by the
    /// write methods are completed from native callbacks with
    /// <see cref="TaskCreationOptions.RunContinuationsAsynchronously"/>, so your continuations
    /// never run on the writer's thread. Reads (<see cref="ReadAsync{T}(string, string, object, Func{Rows, T}, CancellationToken)"/>,
    /// <see cref="QueryAsync{T}(string, object, Func{Rows, T}, CancellationToken)"/>) run synchronously on the calling
    /// thread and return a completed task, like Microsoft.Data.Sqlite's "async" reads did.</para>
    /// </summary>
    public sealed unsafe partial class SqliteSingleWriter : IAsyncDisposable, IDisposable
    {
        private const uint StatusOk = (uint)SingleWriterStatus.Ok;
        private const uint StatusRollback = (uint)SingleWriterStatus.Rollback;

        // Native code calls these; they live in static fields for the life of the process, so a
        // callback can never reach a collected delegate.
        private static readonly Native.WriteCallback WriteDoneCallback = OnWriteDone;
        private static readonly Native.TxnFn TxnCallback = OnTransaction;
        private static readonly Native.SignalCallback SignalCallbackFn = OnSignal;
        private static readonly Native.UserdataFree SignalFreeFn = OnSignalFree;

        /// <summary>&gt; 0 while this thread runs a transaction callback.</summary>
        [ThreadStatic] private static int _inTransaction;

        /// <summary>&gt; 0 while this thread runs a signal subscription callback.</summary>
        [ThreadStatic] private static int _inSignalCallback;

        /// <summary>Open handles, closed at process exit so that native threads never call into a
        /// runtime that is shutting down and accepted writes are committed.
        /// Weak, so an abandoned instance's handle is still closed by its finalizer.</summary>
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<long, WeakReference<WriterHandle>> Live =
            new System.Collections.Concurrent.ConcurrentDictionary<long, WeakReference<WriterHandle>>();

        private static long _nextId;
        private static int _exitHookInstalled;
        private readonly long _id;

        private readonly WriterHandle _handle;
        private readonly object _lock = new object();
        private readonly List<Subscription> _subscriptions = new List<Subscription>();
        private SignalSink _externalSink;
        private Action<SignalEvent> _externalHandler;
        private int _disposed;

        private SqliteSingleWriter(WriterHandle handle, string connectionString)
        {
            _id = Interlocked.Increment(ref _nextId);
            _handle = handle;
            ConnectionString = connectionString;
        }

        /// <summary>The connection string given to the native library (the caller's, with the
        /// options appended as keywords).</summary>
        public string ConnectionString { get; private set; }

        /// <summary>The native library's version (<c>sw_version()</c>).</summary>
        public static string NativeVersion
        {
            get
            {
                Native.EnsureLoaded();
                return Utf8.FromNative(Native.sw_version());
            }
        }

        /// <summary>The native library's ABI version (<c>sw_abi_version()</c>); this binding requires 1.</summary>
        public static uint NativeAbiVersion
        {
            get
            {
                Native.EnsureLoaded();
                return Native.sw_abi_version();
            }
        }

        // =====================================================================================
        // Opening and closing
        // =====================================================================================

        /// <summary>
        /// Opens a handle on the one writer of the database named by
        /// <paramref name="connectionString"/> (a path, <c>:memory:</c>, a <c>file:</c> URI, or
        /// <c>Key=Value;</c> pairs such as <c>"Data Source=app.db;Mode=ReadWriteCreate;Cache=Shared"</c>).
        /// The options become connection-string keywords (see <see cref="SqliteSingleWriterOptions"/>).
        /// Every call returns a new instance with its own handle; dispose each one.
        /// </summary>
        /// <exception cref="ArgumentNullException">The connection string is null, empty or blank.</exception>
        /// <exception cref="SingleWriterException">The library refused it (unknown keyword, bad value,
        /// unopenable file, options that conflict with the running writer's).</exception>
        /// <exception cref="SingleWriterAbiMismatchException">The native library's ABI version is not 1.</exception>
        public static SqliteSingleWriter GetOrCreate(string connectionString, SqliteSingleWriterOptions options = null)
        {
            if (string.IsNullOrWhiteSpace(connectionString)) throw new ArgumentNullException("connectionString");
            Native.EnsureLoaded();
            string cs = (options ?? new SqliteSingleWriterOptions()).ToConnectionString(connectionString);
            Utf8.CheckNoNul(cs, "connectionString");
            IntPtr w;
            using (var s = Scratch.Rent(Scratch.Measure(cs)))
            {
                uint st = Native.sw_writer_open(s.Str(cs), out w);
                if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            }
            var handle = new WriterHandle(w);
            if (Interlocked.Exchange(ref _exitHookInstalled, 1) == 0)
                AppDomain.CurrentDomain.ProcessExit += (sender, e) => CloseAllAtExit();
            var writer = new SqliteSingleWriter(handle, cs);
            Live[writer._id] = new WeakReference<WriterHandle>(handle);
            if ((writer._id & 1023) == 0) PruneLive();
            return writer;
        }

        private static void PruneLive()
        {
            foreach (var kv in Live)
            {
                WriterHandle h;
                WeakReference<WriterHandle> ignored;
                if (!kv.Value.TryGetTarget(out h) || h.IsClosed) Live.TryRemove(kv.Key, out ignored);
            }
        }

        private static void CloseAllAtExit()
        {
            foreach (var kv in Live)
            {
                WriterHandle h;
                if (!kv.Value.TryGetTarget(out h)) continue;
                try
                {
                    h.Dispose();
                }
                catch (Exception)
                {
                }
            }
        }

        /// <summary>Same as <see cref="GetOrCreate"/>.</summary>
        public static SqliteSingleWriter Open(string connectionString, SqliteSingleWriterOptions options = null)
        {
            return GetOrCreate(connectionString, options);
        }

        /// <summary>
        /// Closes this instance's handle (only this one: other instances of the same database keep
        /// working). When it is the last handle of the database, waits until every accepted write
        /// is committed or failed and the database is closed. Safe to call more than once.
        /// Later calls on this instance throw <see cref="ObjectDisposedException"/>.
        /// </summary>
        public ValueTask DisposeAsync()
        {
            if (!BeginDispose()) return default(ValueTask);
            return new ValueTask(Task.Run(() => _handle.Dispose()));
        }

        /// <summary>Synchronous <see cref="DisposeAsync"/>.</summary>
        public void Dispose()
        {
            if (!BeginDispose()) return;
            if (_inSignalCallback > 0 || _inTransaction > 0)
            {
                // Closing from a library callback thread would be refused (SW_STATUS_MISUSE):
                // close from a thread-pool thread instead.
                Task.Run(() => _handle.Dispose());
                return;
            }
            _handle.Dispose();
        }

        private bool BeginDispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return false;
            WeakReference<WriterHandle> ignored;
            Live.TryRemove(_id, out ignored);
            lock (_lock)
            {
                if (_externalSink != null)
                {
                    _externalSink.SignalRaised -= _externalHandler;
                    _externalSink = null;
                    _externalHandler = null;
                }
            }
            Subscription[] subs;
            lock (_lock)
            {
                subs = _subscriptions.ToArray();
                _subscriptions.Clear();
            }
            foreach (var sub in subs) sub.Unsubscribe();
            return true;
        }

        private void CheckOpen()
        {
            if (Volatile.Read(ref _disposed) != 0) throw new ObjectDisposedException("SqliteSingleWriter");
        }

        private static void CheckNotInTransaction(string what)
        {
            if (_inTransaction > 0)
                throw new InvalidOperationException(
                    "SingleWriter: " + what + " was called inside an ExecuteInTransactionAsync callback. It would wait " +
                    "for the writer lane that this transaction holds (a deadlock). Use the SingleWriterTransaction's " +
                    "Execute/Query instead.");
        }

        private static Task<T> Faulted<T>(Exception e)
        {
            var tcs = new TaskCompletionSource<T>();
            tcs.SetException(e);
            return tcs.Task;
        }

        private static Task<T> Run<T>(Func<T> f, CancellationToken ct)
        {
            return Task.Run(f, ct);
        }

        // =====================================================================================
        // Writes
        // =====================================================================================

        /// <summary>
        /// Queues one write (one statement, or several separated by semicolons) and completes with
        /// the rows affected once the transaction holding it has committed. Parameters: an
        /// anonymous object or POCO (each property binds <c>@Name</c>, <c>:Name</c> or <c>$Name</c>,
        /// whichever the SQL uses), a dictionary, or an <c>object[]</c> for <c>?1, ?2...</c>.
        /// </summary>
        /// <remarks>When the writer is idle (no write running or queued, and nobody else writing
        /// lately) the write runs on the calling thread, as <c>Write</c> does, and the
        /// returned task has completed (<c>sw_writer_execute_or_enqueue</c>): the commit's own
        /// wait, as in the original. Otherwise it is queued, joins the next group commit, and no
        /// thread waits for it; so is a write that found another process holding the database's
        /// write lock (the writer's own thread waits for that lock, never the caller's). (So writes
        /// started from one thread without awaiting each run one commit each; for bulk writes use
        /// <c>WriteBatchAsync</c>.) Cancelling <paramref name="ct"/> after submission stops the wait,
        /// not the write (as in the original).</remarks>
        public Task<int> WriteAsync(string sql, object parameters = null, CancellationToken ct = default(CancellationToken))
        {
            return Enqueue(sql, parameters, new RowsCompletion(), ct);
        }

        /// <summary>Dictionary form of <see cref="WriteAsync(string, object, CancellationToken)"/>
        /// (each key is a parameter name, with or without its prefix).</summary>
        public Task<int> WriteAsync(string sql, IReadOnlyDictionary<string, object> parameters,
            CancellationToken ct = default(CancellationToken))
        {
            return Enqueue(sql, parameters, new RowsCompletion(), ct);
        }

        /// <summary>Like <see cref="WriteAsync(string, object, CancellationToken)"/>, completing with
        /// rows affected and the last inserted rowid.</summary>
        public Task<WriteResult> WriteWithResultAsync(string sql, object parameters = null,
            CancellationToken ct = default(CancellationToken))
        {
            return Enqueue(sql, parameters, new ResultCompletion(), ct);
        }

        /// <summary>Blocking write (<c>sw_writer_execute</c>): returns once committed.</summary>
        public WriteResult Write(string sql, object parameters = null)
        {
            if (sql == null) throw new ArgumentNullException("sql");
            CheckOpen();
            CheckNotInTransaction("Write");
            Utf8.CheckNoNul(sql, "sql");
            var ps = ParameterBinder.Bind(sql, parameters);
            using (var s = Scratch.Rent(Scratch.Measure(sql) + Scratch.Measure(ps)))
            {
                byte* sqlp = s.Str(sql);
                var pp = s.Params(ps);
                Native.SwWriteResult r;
                uint st = Native.sw_writer_execute(_handle, sqlp, pp, (UIntPtr)(uint)ps.Length, &r);
                if (st != StatusOk) throw SingleWriterException.FromLastError(st);
                return WriteResult.From(r);
            }
        }

        private Task<T> Enqueue<T>(string sql, object parameters, Completion<T> completion, CancellationToken ct)
        {
            if (sql == null) throw new ArgumentNullException("sql");
            if (ct.IsCancellationRequested) return Task.FromCanceled<T>(ct);
            GCHandle state = default(GCHandle);
            try
            {
                CheckOpen();
                CheckNotInTransaction("WriteAsync");
                Utf8.CheckNoNul(sql, "sql");
                var ps = ParameterBinder.Bind(sql, parameters);
                using (var s = Scratch.Rent(Scratch.Measure(sql) + Scratch.Measure(ps)))
                {
                    byte* sqlp = s.Str(sql);
                    var pp = s.Params(ps);
                    // An idle writer runs the write here and now: no hand-off to the writer's
                    // thread and back (which cost an awaited lone write two thirds of its time).
                    // Otherwise (others are writing, or another process holds the write lock)
                    // it is queued and the callback completes it. The GCHandle keeps the
                    // completion alive until that callback, which fires exactly once and frees
                    // it; when the write ran here, or failed to run or queue, there is no
                    // callback and it is freed here.
                    state = GCHandle.Alloc(completion);
                    Native.SwWriteResult r;
                    byte ran = 0;
                    uint st = Native.sw_writer_execute_or_enqueue(_handle, sqlp, pp, (UIntPtr)(uint)ps.Length,
                        WriteDoneCallback, GCHandle.ToIntPtr(state), &r, &ran);
                    if (st != StatusOk)
                    {
                        var e = SingleWriterException.FromLastError(st);
                        state.Free();
                        return Faulted<T>(e);
                    }
                    if (ran != 0)
                    {
                        state.Free();
                        completion.Succeed(r.RowsAffected, r.LastInsertRowId);
                        return completion.Task;
                    }
                }
            }
            catch (Exception e)
            {
                if (state.IsAllocated) state.Free();
                return Faulted<T>(e);
            }
            if (ct.CanBeCanceled) completion.CancelOn(ct);
            return completion.Task;
        }

        /// <summary>Called by the library, on its thread, exactly once per queued write.</summary>
        private static void OnWriteDone(IntPtr userdata, uint status, Native.SwWriteResult* result, byte* errorMessage)
        {
            try
            {
                var handle = GCHandle.FromIntPtr(userdata);
                var completion = (ICompletion)handle.Target;
                handle.Free();
                if (status == StatusOk)
                {
                    long rows = 0, rowid = 0;
                    if (result != null)
                    {
                        rows = result->RowsAffected;
                        rowid = result->LastInsertRowId;
                    }
                    completion.Succeed(rows, rowid);
                }
                else
                {
                    completion.Fail(SingleWriterException.FromCallback(status, Utf8.FromNative(errorMessage)));
                }
            }
            catch (Exception)
            {
                // Never let a managed exception unwind into native code.
            }
        }

        private interface ICompletion
        {
            void Succeed(long rows, long rowid);
            void Fail(Exception e);
        }

        private abstract class Completion<T> : ICompletion
        {
            private readonly TaskCompletionSource<T> _tcs =
                new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            private readonly object _gate = new object();
            private CancellationTokenRegistration _registration;
            private bool _done;

            public Task<T> Task
            {
                get { return _tcs.Task; }
            }

            protected abstract T Value(long rows, long rowid);

            public void Succeed(long rows, long rowid)
            {
                _tcs.TrySetResult(Value(rows, rowid));
                Done();
            }

            public void Fail(Exception e)
            {
                _tcs.TrySetException(e);
                Done();
            }

            private void Done()
            {
                CancellationTokenRegistration registration;
                lock (_gate)
                {
                    _done = true;
                    registration = _registration;
                }
                registration.Dispose();
            }

            /// <summary>Cancelling stops the caller's wait; the write itself still runs.</summary>
            public void CancelOn(CancellationToken ct)
            {
                var tcs = _tcs;
                var registration = ct.Register(() => tcs.TrySetCanceled(ct));
                lock (_gate)
                {
                    if (!_done)
                    {
                        _registration = registration;
                        return;
                    }
                }
                registration.Dispose();
            }
        }

        private sealed class RowsCompletion : Completion<int>
        {
            protected override int Value(long rows, long rowid)
            {
                return (int)rows;
            }
        }

        private sealed class ResultCompletion : Completion<WriteResult>
        {
            protected override WriteResult Value(long rows, long rowid)
            {
                return new WriteResult(rows, rowid);
            }
        }

        /// <summary>
        /// Runs several statements as one unit (<c>sw_writer_batch</c>) and returns the total rows
        /// affected. Transactional (default): all or nothing. Non-transactional: the statements
        /// before the first failure stay committed, and the failure is thrown. An empty list
        /// returns 0 without touching the writer.
        /// </summary>
        /// <remarks>The element type is the unnamed tuple <c>(string, object)</c> (SQL, parameters):
        /// named tuples such as the original's <c>(string Sql, object? Parameters)</c> convert to it,
        /// and Mono's mcs cannot pass arrays of named tuples across assemblies.</remarks>
        public Task<int> WriteBatchAsync(IEnumerable<(string, object)> commands, bool transactional = true,
            CancellationToken ct = default(CancellationToken))
        {
            if (commands == null) throw new ArgumentNullException("commands");
            var list = commands.ToList();
            if (list.Count == 0) return Task.FromResult(0);
            BoundParam[][] bound;
            try
            {
                CheckOpen();
                CheckNotInTransaction("WriteBatchAsync");
                bound = new BoundParam[list.Count][];
                for (int i = 0; i < list.Count; i++)
                {
                    if (list[i].Item1 == null) throw new ArgumentException("SingleWriter: batch statement " + i + " has no SQL");
                    Utf8.CheckNoNul(list[i].Item1, "sql");
                    bound[i] = ParameterBinder.Bind(list[i].Item1, list[i].Item2);
                }
            }
            catch (Exception e)
            {
                return Faulted<int>(e);
            }
            return Run(() => (int)Batch(list, bound, transactional).RowsAffected, ct);
        }

        /// <summary>Batch of statements without parameters.</summary>
        public Task<int> WriteBatchAsync(IEnumerable<string> statements, bool transactional = true,
            CancellationToken ct = default(CancellationToken))
        {
            if (statements == null) throw new ArgumentNullException("statements");
            return WriteBatchAsync(statements.Select(s => (s, (object)null)), transactional, ct);
        }

        private WriteResult Batch(List<(string, object)> list, BoundParam[][] bound, bool transactional)
        {
            int size = list.Count * sizeof(Native.SwStatement) + 8;
            for (int i = 0; i < list.Count; i++) size += Scratch.Measure(list[i].Item1) + Scratch.Measure(bound[i]);
            using (var s = Scratch.Rent(size))
            {
                var stmts = (Native.SwStatement*)s.Alloc(list.Count * sizeof(Native.SwStatement));
                for (int i = 0; i < list.Count; i++)
                {
                    stmts[i].Sql = s.Str(list[i].Item1);
                    stmts[i].Params = s.Params(bound[i]);
                    stmts[i].NParams = (UIntPtr)(uint)bound[i].Length;
                }
                Native.SwWriteResult total;
                uint st = Native.sw_writer_batch(_handle, stmts, (UIntPtr)(uint)list.Count, transactional ? (byte)1 : (byte)0,
                    &total);
                if (st != StatusOk) throw SingleWriterException.FromLastError(st);
                return WriteResult.From(total);
            }
        }

        /// <summary>
        /// Writes, then invalidates the given cache keys (globs allowed) once the write has
        /// committed, in one library call (<c>sw_writer_execute_and_invalidate</c>): no read that
        /// began before the commit can put the old value back. Returns the rows affected.
        /// </summary>
        public Task<int> WriteAndInvalidateAsync(string sql, object parameters = null,
            IEnumerable<string> cacheKeysToInvalidate = null, CancellationToken ct = default(CancellationToken))
        {
            return WriteAndInvalidateCore(sql, parameters, cacheKeysToInvalidate, ct);
        }

        /// <summary>Dictionary form of <see cref="WriteAndInvalidateAsync(string, object, IEnumerable{string}, CancellationToken)"/>.</summary>
        public Task<int> WriteAndInvalidateAsync(string sql, IReadOnlyDictionary<string, object> parameters,
            IEnumerable<string> cacheKeysToInvalidate = null, CancellationToken ct = default(CancellationToken))
        {
            return WriteAndInvalidateCore(sql, parameters, cacheKeysToInvalidate, ct);
        }

        private Task<int> WriteAndInvalidateCore(string sql, object parameters, IEnumerable<string> keys,
            CancellationToken ct)
        {
            if (sql == null) throw new ArgumentNullException("sql");
            var keyList = keys == null ? new List<string>() : keys.Where(k => k != null).ToList();
            if (keyList.Count == 0) return Enqueue(sql, parameters, new RowsCompletion(), ct);
            BoundParam[] ps;
            try
            {
                CheckOpen();
                CheckNotInTransaction("WriteAndInvalidateAsync");
                Utf8.CheckNoNul(sql, "sql");
                foreach (var k in keyList) Utf8.CheckNoNul(k, "cacheKeysToInvalidate");
                ps = ParameterBinder.Bind(sql, parameters);
            }
            catch (Exception e)
            {
                return Faulted<int>(e);
            }
            return Run(() =>
            {
                int size = Scratch.Measure(sql) + Scratch.Measure(ps) + keyList.Count * sizeof(IntPtr) + 8;
                foreach (var k in keyList) size += Scratch.Measure(k);
                using (var s = Scratch.Rent(size))
                {
                    byte* sqlp = s.Str(sql);
                    var pp = s.Params(ps);
                    var keyp = (byte**)s.Alloc(keyList.Count * sizeof(IntPtr));
                    for (int i = 0; i < keyList.Count; i++) keyp[i] = s.Str(keyList[i]);
                    Native.SwWriteResult r;
                    uint st = Native.sw_writer_execute_and_invalidate(_handle, sqlp, pp, (UIntPtr)(uint)ps.Length, keyp,
                        (UIntPtr)(uint)keyList.Count, &r);
                    if (st != StatusOk) throw SingleWriterException.FromLastError(st);
                    return (int)r.RowsAffected;
                }
            }, ct);
        }

        /// <summary>
        /// Completes once every write submitted before it (by any handle of this database) has been
        /// acknowledged (<c>sw_writer_flush</c>).
        /// </summary>
        public Task FlushWritesAsync(CancellationToken ct = default(CancellationToken))
        {
            return FlushWritesAsync(Timeout.InfiniteTimeSpan, ct);
        }

        /// <summary>Like <see cref="FlushWritesAsync(CancellationToken)"/>, failing with
        /// <see cref="SingleWriterStatus.Timeout"/> after <paramref name="timeout"/>.</summary>
        public Task FlushWritesAsync(TimeSpan timeout, CancellationToken ct = default(CancellationToken))
        {
            try
            {
                CheckOpen();
                CheckNotInTransaction("FlushWritesAsync");
            }
            catch (Exception e)
            {
                return Faulted<int>(e);
            }
            uint ms = FlushTimeoutMs(timeout);
            return Run(() =>
            {
                uint st = Native.sw_writer_flush(_handle, ms);
                if (st != StatusOk) throw SingleWriterException.FromLastError(st);
                return 0;
            }, ct);
        }

        private static uint FlushTimeoutMs(TimeSpan timeout)
        {
            if (timeout == Timeout.InfiniteTimeSpan || timeout.TotalMilliseconds >= uint.MaxValue - 1)
                return FlushForever;
            if (timeout <= TimeSpan.Zero) return 1;
            return (uint)Math.Max(1, Math.Ceiling(timeout.TotalMilliseconds));
        }

        /// <summary>The timeout value that means "no timeout" for sw_writer_flush.</summary>
        private const uint FlushForever = 0;

        // =====================================================================================
        // Transactions
        // =====================================================================================

        /// <summary>
        /// Runs <paramref name="work"/> on the writer lane inside one transaction (on a thread-pool
        /// thread, which waits for its turn); commits when it returns, rolls back and rethrows when
        /// it throws. Use the <see cref="SingleWriterTransaction"/> for statements: other writer
        /// calls from inside would deadlock and throw <see cref="InvalidOperationException"/>.
        /// </summary>
        public Task<T> ExecuteInTransactionAsync<T>(Func<SingleWriterTransaction, T> work,
            CancellationToken ct = default(CancellationToken))
        {
            if (work == null) throw new ArgumentNullException("work");
            return Transaction(tx => (object)work(tx), r => r is T ? (T)r : default(T), ct);
        }

        /// <summary>Runs <paramref name="work"/> in a transaction; see
        /// <see cref="ExecuteInTransactionAsync{T}(Func{SingleWriterTransaction, T}, CancellationToken)"/>.</summary>
        public Task ExecuteInTransactionAsync(Action<SingleWriterTransaction> work,
            CancellationToken ct = default(CancellationToken))
        {
            if (work == null) throw new ArgumentNullException("work");
            return Transaction<object>(tx =>
            {
                work(tx);
                return null;
            }, r => r, ct);
        }

        /// <summary>
        /// Async callback form, closest to the original's signature
        /// (<c>(conn, tx, ct) =&gt; ...</c> becomes <c>(tx, ct) =&gt; ...</c>). The callback's awaits
        /// resume on the thread that holds the transaction (a private synchronization context), so
        /// keep it to transaction work: do not <c>ConfigureAwait(false)</c> and do not await other
        /// writer calls (deadlock, reported as <see cref="InvalidOperationException"/>).
        /// </summary>
        public Task<T> ExecuteInTransactionAsync<T>(Func<SingleWriterTransaction, CancellationToken, Task<T>> work,
            CancellationToken ct = default(CancellationToken))
        {
            if (work == null) throw new ArgumentNullException("work");
            return ExecuteInTransactionAsync(tx => PumpContext.Run(() => work(tx, ct)), ct);
        }

        /// <summary>Async callback form without a result.</summary>
        public Task ExecuteInTransactionAsync(Func<SingleWriterTransaction, CancellationToken, Task> work,
            CancellationToken ct = default(CancellationToken))
        {
            if (work == null) throw new ArgumentNullException("work");
            return ExecuteInTransactionAsync(tx => PumpContext.Run(() => TaskHelpers.AsBool(work(tx, ct))), ct);
        }

        private Task<T> Transaction<T>(Func<SingleWriterTransaction, object> work, Func<object, T> result,
            CancellationToken ct)
        {
            try
            {
                CheckOpen();
                CheckNotInTransaction("ExecuteInTransactionAsync");
            }
            catch (Exception e)
            {
                return Faulted<T>(e);
            }
            return Run(() => result(RunTransaction(work, ct)), ct);
        }

        private object RunTransaction(Func<SingleWriterTransaction, object> work, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            var state = new TxnState { Work = work };
            var handle = GCHandle.Alloc(state);
            try
            {
                uint st = Native.sw_writer_transaction(_handle, TxnCallback, GCHandle.ToIntPtr(handle));
                if (st == StatusOk) return state.Result;
                if (state.Error != null) state.Error.Throw();
                if (st == StatusRollback && state.RollbackRequested) return state.Result;
                throw SingleWriterException.FromLastError(st);
            }
            finally
            {
                handle.Free();
            }
        }

        private sealed class TxnState
        {
            public Func<SingleWriterTransaction, object> Work;
            public object Result;
            public ExceptionDispatchInfo Error;
            public bool RollbackRequested;
        }

        /// <summary>Called by the library on the thread that called sw_writer_transaction.</summary>
        private static uint OnTransaction(IntPtr userdata, IntPtr txn)
        {
            try
            {
                var state = (TxnState)GCHandle.FromIntPtr(userdata).Target;
                var tx = new SingleWriterTransaction(txn);
                _inTransaction++;
                try
                {
                    state.Result = state.Work(tx);
                }
                catch (Exception e)
                {
                    state.Error = ExceptionDispatchInfo.Capture(e);
                    return StatusRollback;
                }
                finally
                {
                    _inTransaction--;
                    tx.End();
                }
                state.RollbackRequested = tx.RollbackRequested;
                return tx.RollbackRequested ? StatusRollback : StatusOk;
            }
            catch (Exception)
            {
                return StatusRollback; // never unwind into native code
            }
        }

        /// <summary>
        /// Runs an async callback to completion on the current thread: continuations posted to this
        /// context run here, so a transaction callback's awaits stay on the transaction's thread.
        /// </summary>
        private sealed class PumpContext : SynchronizationContext
        {
            private readonly Queue<KeyValuePair<SendOrPostCallback, object>> _queue =
                new Queue<KeyValuePair<SendOrPostCallback, object>>();
            private readonly int _threadId = Thread.CurrentThread.ManagedThreadId;
            private bool _done;

            public override void Post(SendOrPostCallback d, object state)
            {
                lock (_queue)
                {
                    _queue.Enqueue(new KeyValuePair<SendOrPostCallback, object>(d, state));
                    Monitor.Pulse(_queue);
                }
            }

            public override void Send(SendOrPostCallback d, object state)
            {
                if (Thread.CurrentThread.ManagedThreadId == _threadId) d(state);
                else throw new NotSupportedException("SingleWriter: Send to a transaction's context from another thread");
            }

            private void Complete()
            {
                lock (_queue)
                {
                    _done = true;
                    Monitor.Pulse(_queue);
                }
            }

            public static T Run<T>(Func<Task<T>> f)
            {
                var previous = Current;
                var ctx = new PumpContext();
                SetSynchronizationContext(ctx);
                try
                {
                    var task = f();
                    if (task == null) throw new InvalidOperationException("SingleWriter: the transaction callback returned a null Task");
                    task.ContinueWith(_ => ctx.Complete(), CancellationToken.None,
                        TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    while (true)
                    {
                        KeyValuePair<SendOrPostCallback, object> item;
                        lock (ctx._queue)
                        {
                            while (ctx._queue.Count == 0 && !ctx._done) Monitor.Wait(ctx._queue);
                            if (ctx._queue.Count == 0) break;
                            item = ctx._queue.Dequeue();
                        }
                        item.Key(item.Value);
                    }
                    return task.GetAwaiter().GetResult();
                }
                finally
                {
                    SetSynchronizationContext(previous);
                }
            }
        }

        // =====================================================================================
        // Reads
        // =====================================================================================

        /// <summary>
        /// Cached read (<c>sw_writer_read</c>): serves the rows cached under
        /// <paramref name="cacheKey"/> when fresh, otherwise runs the query on a read connection
        /// and caches the result; then maps the rows to your type. An entry is dropped when a
        /// committed write changes a table it read (by any writer or process), when its key is
        /// invalidated, or when it expires. <paramref name="map"/> runs on the calling thread on
        /// every call (hits included) and must copy what it needs out of the <see cref="Rows"/>.
        /// Runs synchronously and returns a completed task.
        /// </summary>
        public Task<T> ReadAsync<T>(string cacheKey, string sql, object parameters, Func<Rows, T> map,
            CancellationToken ct = default(CancellationToken))
        {
            if (cacheKey == null) throw new ArgumentNullException("cacheKey");
            if (sql == null) throw new ArgumentNullException("sql");
            if (map == null) throw new ArgumentNullException("map");
            if (ct.IsCancellationRequested) return Task.FromCanceled<T>(ct);
            try
            {
                return Task.FromResult(Read(cacheKey, sql, parameters, map));
            }
            catch (Exception e)
            {
                return Faulted<T>(e);
            }
        }

        /// <summary>Cached read without parameters; see <see cref="ReadAsync{T}(string, string, object, Func{Rows, T}, CancellationToken)"/>.</summary>
        public Task<T> ReadAsync<T>(string cacheKey, string sql, Func<Rows, T> map,
            CancellationToken ct = default(CancellationToken))
        {
            return ReadAsync(cacheKey, sql, null, map, ct);
        }

        /// <summary>Synchronous cached read.</summary>
        public T Read<T>(string cacheKey, string sql, object parameters, Func<Rows, T> map)
        {
            if (cacheKey == null) throw new ArgumentNullException("cacheKey");
            if (sql == null) throw new ArgumentNullException("sql");
            if (map == null) throw new ArgumentNullException("map");
            CheckOpen();
            Utf8.CheckNoNul(cacheKey, "cacheKey");
            Utf8.CheckNoNul(sql, "sql");
            var ps = ParameterBinder.Bind(sql, parameters);
            IntPtr rows;
            using (var s = Scratch.Rent(Scratch.Measure(cacheKey) + Scratch.Measure(sql) + Scratch.Measure(ps)))
            {
                byte* keyp = s.Str(cacheKey);
                byte* sqlp = s.Str(sql);
                var pp = s.Params(ps);
                uint st = Native.sw_writer_read(_handle, keyp, sqlp, pp, (UIntPtr)(uint)ps.Length, out rows);
                if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            }
            return MapRows(rows, map);
        }

        /// <summary>
        /// Uncached read (<c>sw_writer_query</c>) on a read-only connection; sees every write
        /// acknowledged before it started. A write statement here fails with
        /// <see cref="SingleWriterStatus.ReadOnly"/>. Runs synchronously and returns a completed task.
        /// </summary>
        public Task<T> QueryAsync<T>(string sql, object parameters, Func<Rows, T> map,
            CancellationToken ct = default(CancellationToken))
        {
            if (sql == null) throw new ArgumentNullException("sql");
            if (map == null) throw new ArgumentNullException("map");
            if (ct.IsCancellationRequested) return Task.FromCanceled<T>(ct);
            try
            {
                return Task.FromResult(Query(sql, parameters, map));
            }
            catch (Exception e)
            {
                return Faulted<T>(e);
            }
        }

        /// <summary>Uncached read without parameters.</summary>
        public Task<T> QueryAsync<T>(string sql, Func<Rows, T> map, CancellationToken ct = default(CancellationToken))
        {
            return QueryAsync(sql, null, map, ct);
        }

        /// <summary>Synchronous uncached read.</summary>
        public T Query<T>(string sql, object parameters, Func<Rows, T> map)
        {
            if (sql == null) throw new ArgumentNullException("sql");
            if (map == null) throw new ArgumentNullException("map");
            CheckOpen();
            Utf8.CheckNoNul(sql, "sql");
            var ps = ParameterBinder.Bind(sql, parameters);
            IntPtr rows;
            using (var s = Scratch.Rent(Scratch.Measure(sql) + Scratch.Measure(ps)))
            {
                byte* sqlp = s.Str(sql);
                var pp = s.Params(ps);
                uint st = Native.sw_writer_query(_handle, sqlp, pp, (UIntPtr)(uint)ps.Length, out rows);
                if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            }
            return MapRows(rows, map);
        }

        internal static T MapRows<T>(IntPtr rows, Func<Rows, T> map)
        {
            using (var r = new Rows(new RowsHandle(rows)))
            {
                return map(r);
            }
        }

        // =====================================================================================
        // Cache
        // =====================================================================================

        /// <summary>Drops a cached entry, or every entry matching a glob (<c>users:*</c>), in this
        /// process's cache of the database (<c>sw_writer_invalidate</c>).</summary>
        public void InvalidateCache(string cacheKey)
        {
            if (cacheKey == null) throw new ArgumentNullException("cacheKey");
            CheckOpen();
            Utf8.CheckNoNul(cacheKey, "cacheKey");
            using (var s = Scratch.Rent(Scratch.Measure(cacheKey)))
            {
                uint st = Native.sw_writer_invalidate(_handle, s.Str(cacheKey));
                if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            }
        }

        /// <summary>
        /// Raises <c>cache.invalidate:&lt;keyOrGlob&gt;</c> (<c>sw_writer_raise</c>): drops those keys
        /// from the cache of every writer of this database, in this process and in every other
        /// process that has the same file open (those emit <c>cache.invalidate.external</c>).
        /// The signal travels through the writer lane, ordered after the writes submitted before
        /// it; this call blocks until it is committed.
        /// </summary>
        public void RaiseInvalidation(string keyOrGlob)
        {
            if (keyOrGlob == null) throw new ArgumentNullException("keyOrGlob");
            Raise("cache.invalidate:" + keyOrGlob);
        }

        /// <summary><see cref="RaiseInvalidation"/> on a thread-pool thread.</summary>
        public Task RaiseInvalidationAsync(string keyOrGlob, CancellationToken ct = default(CancellationToken))
        {
            if (keyOrGlob == null) throw new ArgumentNullException("keyOrGlob");
            try
            {
                CheckOpen();
                CheckNotInTransaction("RaiseInvalidationAsync");
            }
            catch (Exception e)
            {
                return Faulted<int>(e);
            }
            return Run(() =>
            {
                RaiseInvalidation(keyOrGlob);
                return 0;
            }, ct);
        }

        /// <summary>Raises a signal in full form (<c>name</c> or <c>name:key</c>) on the writer.
        /// <c>cache.invalidate:*</c> signals block until committed (see <see cref="RaiseInvalidation"/>);
        /// others are only recorded in the ring.</summary>
        public void Raise(string signal)
        {
            if (signal == null) throw new ArgumentNullException("signal");
            CheckOpen();
            CheckNotInTransaction("Raise");
            Utf8.CheckNoNul(signal, "signal");
            using (var s = Scratch.Rent(Scratch.Measure(signal)))
            {
                uint st = Native.sw_writer_raise(_handle, s.Str(signal));
                if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            }
        }

        /// <summary>
        /// Kept for source compatibility. In the original this polled an in-process
        /// <see cref="SignalSink"/> every 250 ms for <c>cache.invalidate:&lt;key&gt;</c> signals. Now
        /// invalidation across writers and processes is built into the library (see
        /// <see cref="RaiseInvalidation"/>); this overload forwards, as they are raised (no polling),
        /// every <c>cache.invalidate:&lt;key&gt;</c> signal on <paramref name="sink"/> that matches
        /// <paramref name="patterns"/> (default <c>cache.invalidate:*</c>) to
        /// <see cref="RaiseInvalidation"/>, so it reaches every writer of the database in every
        /// process. Signals already in the sink are forwarded at once. <paramref name="pollInterval"/>
        /// is ignored. A second call is a no-op, as in the original.
        /// </summary>
        public void EnableSignalDrivenInvalidation(SignalSink sink, IEnumerable<string> patterns = null,
            TimeSpan? pollInterval = null)
        {
            if (sink == null) throw new ArgumentNullException("sink");
            CheckOpen();
            var pats = (patterns ?? new[] { "cache.invalidate:*" }).Where(p => !string.IsNullOrWhiteSpace(p)).ToArray();
            const string prefix = "cache.invalidate:";
            Action<SignalEvent> handler = e =>
            {
                if (!e.Signal.StartsWith(prefix, StringComparison.Ordinal)) return;
                if (!pats.Any(p => Glob.Matches(e.Signal, p))) return;
                string key = e.Signal.Substring(prefix.Length);
                if (key.Length == 0) return;
                if (_inTransaction > 0 || _inSignalCallback > 0)
                {
                    // Raising blocks on the writer lane: not from a transaction or library thread.
                    Task.Run(() => ForwardInvalidation(key));
                    return;
                }
                ForwardInvalidation(key);
            };
            lock (_lock)
            {
                if (_externalSink != null) return;
                _externalSink = sink;
                _externalHandler = handler;
                sink.SignalRaised += handler;
            }
            foreach (var e in sink.Sense()) handler(e);
        }

        private void ForwardInvalidation(string key)
        {
            try
            {
                RaiseInvalidation(key);
            }
            catch (ObjectDisposedException)
            {
                // This writer was disposed: nothing left to invalidate through it.
            }
        }

        /// <summary>
        /// Kept for source compatibility; does nothing. Every writer of a database already receives
        /// the <c>cache.invalidate:&lt;key&gt;</c> signals raised by any other writer of it, in any
        /// process (<see cref="RaiseInvalidation"/>), and invalidates entries whose tables another
        /// process changed.
        /// </summary>
        public void EnableSignalDrivenInvalidation()
        {
            CheckOpen();
        }

        /// <summary>Read-cache counters (shared by every handle of the database).</summary>
        public CacheStatistics GetCacheStats()
        {
            CheckOpen();
            Native.SwCacheStats s;
            uint st = Native.sw_writer_cache_stats(_handle, out s);
            if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            return new CacheStatistics(s);
        }

        /// <summary>Writer counters: queued, committed, failed, transactions, latency percentiles.</summary>
        public WriterStatistics GetStats()
        {
            CheckOpen();
            Native.SwStats s;
            uint st = Native.sw_writer_stats(_handle, out s);
            if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            return new WriterStatistics(s);
        }

        /// <summary>Recent write operations (state, timings, SQL preview, error) as a JSON array;
        /// the successor of the original's <c>GetWriteSnapshot()</c>.</summary>
        public string GetWriteOperationsJson()
        {
            CheckOpen();
            IntPtr json;
            uint st = Native.sw_writer_operations_json(_handle, out json);
            if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            return Utf8.TakeNativeString(json);
        }

        /// <summary>Counters and histograms in the Prometheus text exposition format.</summary>
        public string GetMetricsText()
        {
            CheckOpen();
            IntPtr text;
            uint st = Native.sw_writer_metrics_text(_handle, out text);
            if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            return Utf8.TakeNativeString(text);
        }

        // =====================================================================================
        // Signals
        // =====================================================================================

        /// <summary>Every signal the writer's ring still holds, oldest first.</summary>
        public IReadOnlyList<SignalEvent> GetSignals()
        {
            return PollSignals(null, 0).Signals;
        }

        /// <summary>The held signals whose full form (<c>name</c> or <c>name:key</c>) matches a glob,
        /// e.g. <c>write.*</c>, <c>cache.*</c>, <c>cache.invalidate:users:*</c>.</summary>
        public IReadOnlyList<SignalEvent> GetSignals(string pattern)
        {
            return PollSignals(pattern, 0).Signals;
        }

        /// <summary>The held signals matching <paramref name="pattern"/> (null: all) with
        /// <see cref="SignalEvent.Seq"/> greater than <paramref name="afterSeq"/>.</summary>
        public IReadOnlyList<SignalEvent> GetSignals(string pattern, long afterSeq)
        {
            return PollSignals(pattern, afterSeq).Signals;
        }

        /// <summary>Polls signals after <paramref name="afterSeq"/>; the result also says how many
        /// were overwritten in the ring before this poll could see them.</summary>
        public SignalPoll PollSignals(string pattern, long afterSeq)
        {
            CheckOpen();
            if (pattern != null) Utf8.CheckNoNul(pattern, "pattern");
            IntPtr sigs;
            using (var s = Scratch.Rent(Scratch.Measure(pattern)))
            {
                uint st = Native.sw_writer_poll_signals(_handle, s.Str(pattern), (ulong)Math.Max(0, afterSeq), out sigs);
                if (st != StatusOk) throw SingleWriterException.FromLastError(st);
            }
            try
            {
                int n = checked((int)(ulong)Native.sw_signals_count(sigs));
                var list = new List<SignalEvent>(n);
                for (int i = 0; i < n; i++) list.Add(ToEvent(Native.sw_signals_get(sigs, (UIntPtr)(uint)i)));
                return new SignalPoll(list, (long)Native.sw_signals_missed(sigs));
            }
            finally
            {
                Native.sw_signals_free(sigs);
            }
        }

        private static readonly long UnixEpochTicks = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

        private static SignalEvent ToEvent(Native.SwSignal* s)
        {
            return new SignalEvent(
                Utf8.FromNative(s->Name) ?? string.Empty,
                Utf8.FromNative(s->Key),
                (long)s->Seq,
                new DateTimeOffset(UnixEpochTicks + s->TimestampUs * 10, TimeSpan.Zero),
                (SingleWriterStatus)s->Status,
                s->DurationUs,
                s->Rows);
        }

        /// <summary>
        /// Calls <paramref name="handler"/> for every new signal matching <paramref name="pattern"/>
        /// (<c>sw_writer_subscribe</c>). The handler runs on a library thread that never holds the
        /// writer lane (a slow handler cannot stall writes, but may miss signals when its queue
        /// fills); its exceptions are caught and dropped. Dispose the result to unsubscribe;
        /// disposing the writer unsubscribes too.
        /// </summary>
        public IDisposable Subscribe(string pattern, Action<SignalEvent> handler)
        {
            if (handler == null) throw new ArgumentNullException("handler");
            CheckOpen();
            if (pattern != null) Utf8.CheckNoNul(pattern, "pattern");
            var sub = new Subscription(this, handler);
            var gch = GCHandle.Alloc(sub);
            ulong id;
            uint st;
            using (var s = Scratch.Rent(Scratch.Measure(pattern)))
            {
                try
                {
                    st = Native.sw_writer_subscribe(_handle, s.Str(pattern), SignalCallbackFn, GCHandle.ToIntPtr(gch),
                        SignalFreeFn, out id);
                }
                catch
                {
                    gch.Free();
                    throw;
                }
                if (st != StatusOk)
                {
                    var e = SingleWriterException.FromLastError(st);
                    gch.Free(); // on failure the library does not keep (or free) the userdata
                    throw e;
                }
            }
            sub.Id = id;
            lock (_lock) _subscriptions.Add(sub);
            return sub;
        }

        private static void OnSignal(IntPtr userdata, Native.SwSignal* signal)
        {
            _inSignalCallback++;
            try
            {
                var sub = (Subscription)GCHandle.FromIntPtr(userdata).Target;
                if (sub != null && !sub.Cancelled) sub.Handler(ToEvent(signal));
            }
            catch (Exception)
            {
                // A subscriber's exception must never unwind into native code.
            }
            finally
            {
                _inSignalCallback--;
            }
        }

        private static void OnSignalFree(IntPtr userdata)
        {
            try
            {
                GCHandle.FromIntPtr(userdata).Free();
            }
            catch (Exception)
            {
            }
        }

        private sealed class Subscription : IDisposable
        {
            private readonly SqliteSingleWriter _writer;
            public readonly Action<SignalEvent> Handler;
            public ulong Id;
            private int _cancelled;

            public Subscription(SqliteSingleWriter writer, Action<SignalEvent> handler)
            {
                _writer = writer;
                Handler = handler;
            }

            public bool Cancelled
            {
                get { return Volatile.Read(ref _cancelled) != 0; }
            }

            public void Dispose()
            {
                lock (_writer._lock) _writer._subscriptions.Remove(this);
                Unsubscribe();
            }

            public void Unsubscribe()
            {
                if (Interlocked.Exchange(ref _cancelled, 1) != 0) return;
                try
                {
                    Native.sw_writer_unsubscribe(_writer._handle, Id);
                }
                catch (ObjectDisposedException)
                {
                    // The handle is closed; the library released the subscription with it.
                }
            }
        }
    }

    internal static class TaskHelpers
    {
        internal static async Task<bool> AsBool(Task t)
        {
            if (t == null) throw new InvalidOperationException("SingleWriter: the transaction callback returned a null Task");
            await t;
            return true;
        }
    }

    /// <summary>The result of <see cref="SqliteSingleWriter.PollSignals"/>.</summary>
    public sealed class SignalPoll
    {
        internal SignalPoll(IReadOnlyList<SignalEvent> signals, long missed)
        {
            Signals = signals;
            Missed = missed;
        }

        /// <summary>The matching signals, oldest first.</summary>
        public IReadOnlyList<SignalEvent> Signals { get; private set; }

        /// <summary>How many signals after the requested sequence number were overwritten in the
        /// ring before this poll.</summary>
        public long Missed { get; private set; }

        /// <summary>The highest sequence number returned, or -1 when none: pass it as the next
        /// poll's <c>afterSeq</c>.</summary>
        public long LastSeq
        {
            get { return Signals.Count == 0 ? -1 : Signals[Signals.Count - 1].Seq; }
        }
    }
}
