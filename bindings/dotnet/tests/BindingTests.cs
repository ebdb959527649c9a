// Behaviour of the .NET binding itself: handle lifetime, marshalling, callbacks and threads,
// errors, transactions, cache and signals, options, and cross-process invalidation. Every test
// runs against the real library with real SQLite files in a temp directory.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace SingleWriter.Tests
{
    [TestClass]
    public static class BindingTests
    {
        private const string CreateItems =
            "CREATE TABLE IF NOT EXISTS Items (Id INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT NOT NULL UNIQUE, Value INTEGER NOT NULL)";

        private const string InsertItem = "INSERT INTO Items (Name, Value) VALUES (@Name, @Value)";

        private static long Count(SqliteSingleWriter w)
        {
            return w.Query("SELECT COUNT(*) FROM Items", null, r => r.Scalar<long>());
        }

        private static async Task WithWriter(Func<SqliteSingleWriter, Task> body, SqliteSingleWriterOptions options = null)
        {
            using (var db = new TempDb())
            {
                var w = db.Open(options);
                try
                {
                    await w.WriteAsync(CreateItems);
                    await body(w);
                }
                finally
                {
                    await w.DisposeAsync();
                }
            }
        }

        // ---------------------------------------------------------------- the header's numbers

        /// The status enum and the value type codes are the header's: every SW_STATUS_* and
        /// SW_TYPE_* #define in include/singlewriter.h has its member with the same number.
        public static Task StatusAndTypeNumbers_AreTheHeaders()
        {
            string dir = Environment.GetEnvironmentVariable("SW_INCLUDE_DIR");
            Assert.True(!string.IsNullOrEmpty(dir), "SW_INCLUDE_DIR names the header's directory");
            string header = System.IO.File.ReadAllText(System.IO.Path.Combine(dir, "singlewriter.h"));
            var defines = new Dictionary<string, uint>();
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(
                header, @"#define (SW_(?:STATUS|TYPE)_[A-Z0-9_]+) (\d+)"))
                defines[m.Groups[1].Value] = uint.Parse(m.Groups[2].Value);
            int statuses = 0;
            foreach (var kv in defines)
            {
                if (!kv.Key.StartsWith("SW_STATUS_")) continue;
                statuses++;
                string name = kv.Key.Substring("SW_STATUS_".Length).Replace("_", "");
                var member = Enum.GetNames(typeof(SingleWriterStatus))
                    .FirstOrDefault(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase));
                Assert.True(member != null, kv.Key + " has a SingleWriterStatus member");
                Assert.Equal(kv.Value, (uint)(SingleWriterStatus)Enum.Parse(typeof(SingleWriterStatus), member), kv.Key);
            }
            Assert.Equal(Enum.GetValues(typeof(SingleWriterStatus)).Length, statuses, "members vs SW_STATUS_* defines");
            Assert.Equal(defines["SW_TYPE_INTEGER"], Native.TypeInteger, "SW_TYPE_INTEGER");
            Assert.Equal(defines["SW_TYPE_FLOAT"], Native.TypeFloat, "SW_TYPE_FLOAT");
            Assert.Equal(defines["SW_TYPE_TEXT"], Native.TypeText, "SW_TYPE_TEXT");
            Assert.Equal(defines["SW_TYPE_BLOB"], Native.TypeBlob, "SW_TYPE_BLOB");
            Assert.Equal(defines["SW_TYPE_NULL"], Native.TypeNull, "SW_TYPE_NULL");
            return Task.CompletedTask;
        }

        // ---------------------------------------------------------------- lifetime

        public static async Task GetOrCreate_DisposeClosesOnlyThatHandle()
        {
            using (var db = new TempDb())
            {
                var a = db.Open();
                var b = db.Open();
                try
                {
                    Assert.False(ReferenceEquals(a, b), "each GetOrCreate returns its own instance");
                    await a.WriteAsync(CreateItems);
                    await a.WriteAsync(InsertItem, new { Name = "a", Value = 1 });
                    await a.DisposeAsync();

                    // The original disposed the one shared instance under every holder; here b lives on.
                    await b.WriteAsync(InsertItem, new { Name = "b", Value = 2 });
                    Assert.Equal(2L, Count(b), "rows seen through the other handle");
                    await Assert.ThrowsAsync<ObjectDisposedException>(() => a.WriteAsync(InsertItem, new { Name = "c", Value = 3 }));
                    Assert.Throws<ObjectDisposedException>(() => a.Query("SELECT 1", null, r => r.Scalar<long>()));
                }
                finally
                {
                    await a.DisposeAsync(); // twice is fine
                    b.Dispose();
                    b.Dispose();
                }
            }
        }

        public static async Task GetOrCreate_SameFileDifferentSpelling_SharesOneWriter()
        {
            using (var db = new TempDb())
            {
                var a = SqliteSingleWriter.GetOrCreate("Data Source=" + db.Path);
                var b = SqliteSingleWriter.GetOrCreate(db.Path);
                try
                {
                    await a.WriteAsync(CreateItems);
                    await a.WriteAsync(InsertItem, new { Name = "x", Value = 1 });
                    long committedA = a.GetStats().Committed;
                    Assert.Equal(committedA, b.GetStats().Committed, "both handles see the same writer's counters");
                }
                finally
                {
                    a.Dispose();
                    b.Dispose();
                }
            }
        }

        public static Task GetOrCreate_BadArguments_AreReported()
        {
            Assert.Throws<ArgumentNullException>(() => SqliteSingleWriter.GetOrCreate(null));
            Assert.Throws<ArgumentNullException>(() => SqliteSingleWriter.GetOrCreate("   "));
            var e = Assert.Throws<SingleWriterException>(() => SqliteSingleWriter.GetOrCreate("Data Source=/tmp/x.db;Colour=blue"));
            Assert.Equal(SingleWriterStatus.InvalidArgument, e.Status, "status");
            Assert.Contains("Colour", e.Message);
            return Task.CompletedTask;
        }

        public static Task AbiVersion_IsCheckedAtLoad()
        {
            Assert.Equal(1u, SqliteSingleWriter.NativeAbiVersion, "ABI version");
            Native.CheckAbi(1);
            var e = Assert.Throws<SingleWriterAbiMismatchException>(() => Native.CheckAbi(2));
            Assert.Contains("ABI version 2", e.Message);
            return Task.CompletedTask;
        }

        public static async Task InMemoryDatabase_Works()
        {
            var w = SqliteSingleWriter.GetOrCreate(":memory:");
            try
            {
                await w.WriteAsync(CreateItems);
                await w.WriteAsync(InsertItem, new { Name = "m", Value = 1 });
                Assert.Equal(1L, Count(w), "rows in memory");
            }
            finally
            {
                await w.DisposeAsync();
            }
        }

        public static async Task DisposeAsync_WithPendingWrites_CompletesEveryTask()
        {
            using (var db = new TempDb())
            {
                var w = db.Open();
                await w.WriteAsync(CreateItems);
                var tasks = new List<Task<int>>();
                for (int i = 0; i < 2000; i++) tasks.Add(w.WriteAsync(InsertItem, new { Name = "n" + i, Value = i }));
                await w.DisposeAsync();
                var all = Task.WhenAll(tasks);
                var finished = await Task.WhenAny(all, Task.Delay(30000));
                Assert.True(finished == all || all.IsFaulted, "every write task completed after dispose");
                int ok = tasks.Count(t => t.Status == TaskStatus.RanToCompletion);
                foreach (var t in tasks.Where(t => t.IsFaulted))
                {
                    var se = t.Exception.InnerException as SingleWriterException;
                    Assert.True(se != null && se.Status == SingleWriterStatus.Closed, "a failed write reports Closed");
                }
                var again = db.Open();
                try
                {
                    Assert.Equal((long)ok, Count(again), "acknowledged writes are in the database");
                }
                finally
                {
                    again.Dispose();
                }
            }
        }

        public static async Task ProcessExit_WithQueuedWritesAndNoDispose_CommitsThem()
        {
            using (var db = new TempDb())
            {
                var w = db.Open();
                try
                {
                    await w.WriteAsync(CreateItems);
                    Child.Spawn("enqueue-and-exit", db.ConnectionString, "500");
                    Assert.Equal(500L, Count(w), "writes queued by a process that exited without disposing");
                }
                finally
                {
                    await w.DisposeAsync();
                }
            }
        }

        public static async Task AbandonedInstance_IsClosedByTheFinalizer()
        {
            using (var db = new TempDb())
            {
                // Open, use and abandon an instance on another thread (so no stack slot of ours
                // keeps it alive), then collect: its SafeHandle's finalizer closes the handle, and
                // since it was the only one, the native writer closes too.
                var t = new Thread(() =>
                {
                    var abandoned = db.Open();
                    abandoned.Write(CreateItems);
                    abandoned.Read("abandoned:key", "SELECT 1", null, r => 0);
                });
                t.Start();
                t.Join();
                var deadline = DateTime.UtcNow.AddSeconds(10);
                bool closed = false;
                while (!closed && DateTime.UtcNow < deadline)
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    var probe = db.Open();
                    try
                    {
                        // A fresh writer has no signals about the abandoned instance's read.
                        closed = probe.GetSignals("cache.miss:abandoned:key").Count == 0;
                    }
                    finally
                    {
                        probe.Dispose();
                    }
                    if (!closed) await Task.Delay(50);
                }
                Assert.True(closed, "the abandoned handle was closed by its finalizer");
            }
        }

        // ---------------------------------------------------------------- writes and threads

        public static Task WriteAsync_ManyConcurrentWriters_EveryAcknowledgementIsInTheDatabase()
        {
            return WithWriter(async w =>
            {
                const int writers = 8, each = 250;
                var rowids = new ConcurrentBag<long>();
                var tasks = Enumerable.Range(0, writers).Select(t => Task.Run(async () =>
                {
                    for (int i = 0; i < each; i++)
                    {
                        var r = await w.WriteWithResultAsync(InsertItem, new { Name = "w" + t + "-" + i, Value = i });
                        Assert.Equal(1L, r.RowsAffected, "rows affected");
                        rowids.Add(r.LastInsertRowId);
                    }
                })).ToArray();
                await Task.WhenAll(tasks);
                Assert.Equal(writers * each, rowids.Distinct().Count(), "distinct rowids acknowledged");
                Assert.Equal((long)writers * each, Count(w), "rows");
                // Each writer's rows committed in its submission order.
                var rows = w.Query("SELECT Name, Id FROM Items ORDER BY Id", null,
                    rs => rs.Select(r => r.GetString(0)).ToList());
                for (int t = 0; t < writers; t++)
                {
                    var mine = rows.Where(n => n.StartsWith("w" + t + "-", StringComparison.Ordinal))
                        .Select(n => int.Parse(n.Substring(n.IndexOf('-') + 1))).ToList();
                    Assert.SequenceEqual(Enumerable.Range(0, each), mine, "order of writer " + t);
                }
                var stats = w.GetStats();
                Assert.True(stats.Committed >= writers * each, "committed counter");
            });
        }

        public static Task WriteAsync_BurstWithoutAwaiting_AllComplete()
        {
            return WithWriter(async w =>
            {
                var tasks = Enumerable.Range(0, 3000).Select(i => w.WriteAsync(InsertItem, new { Name = "b" + i, Value = i })).ToArray();
                var results = await Task.WhenAll(tasks);
                Assert.True(results.All(r => r == 1), "each write affected one row");
                Assert.Equal(3000L, Count(w), "rows");
            });
        }

        public static Task WriteAsync_ContinuationsDoNotRunOnTheLibraryThread()
        {
            return WithWriter(async w =>
            {
                for (int i = 0; i < 20; i++)
                {
                    var t = w.WriteAsync(InsertItem, new { Name = "c" + i, Value = i });
                    // Even a continuation that asks to run synchronously runs on the thread pool,
                    // because the task was created with RunContinuationsAsynchronously.
                    bool onPool = await t.ContinueWith(_ => Thread.CurrentThread.IsThreadPoolThread,
                        TaskContinuationOptions.ExecuteSynchronously);
                    Assert.True(onPool, "continuation ran on a thread-pool thread");
                }
            });
        }

        public static Task WriteAsync_RunsOnTheCallerWhenIdle_AndQueuesBehindABusyLane()
        {
            return WithWriter(async w =>
            {
                // Idle: the write ran (and committed) before WriteAsync returned.
                var t = w.WriteAsync(InsertItem, new { Name = "idle", Value = 1 });
                Assert.True(t.IsCompleted, "an idle writer ran the write on the calling thread");
                Assert.Equal(1, await t, "rows");
                Assert.Equal(1L, Count(w), "rows after the idle write");
                // Its failure is the task's, with SQLite's message, as for a queued write.
                var failed = w.WriteAsync(InsertItem, new { Name = "idle", Value = 2 });
                var e = await Assert.ThrowsAsync<SingleWriterException>(() => failed);
                Assert.Equal(SingleWriterStatus.Constraint, e.Status, "status");
                Assert.Contains("UNIQUE constraint failed", e.Message);
                // Busy: a transaction holds the lane on another thread; the write is queued
                // (nothing waits for it) and commits after the transaction.
                var inside = new ManualResetEventSlim();
                var release = new ManualResetEventSlim();
                var tx = w.ExecuteInTransactionAsync(x =>
                {
                    inside.Set();
                    release.Wait(TimeSpan.FromSeconds(20));
                });
                Assert.True(inside.Wait(TimeSpan.FromSeconds(20)), "the transaction started");
                var queued = w.WriteAsync(InsertItem, new { Name = "busy", Value = 3 });
                Assert.False(queued.IsCompleted, "queued behind the transaction, not run");
                release.Set();
                await tx;
                Assert.Equal(1, await queued, "rows");
                Assert.Equal(2L, Count(w), "rows after both");
            });
        }

        /// Another process holds the write lock: WriteAsync returns a pending task at once (the
        /// writer's own thread waits for the lock, not the caller's), which completes after that
        /// process commits.
        public static async Task WriteAsync_DoesNotWaitOnTheCallerWhileAnotherProcessHoldsTheLock()
        {
            using (var db = new TempDb())
            {
                var w = db.Open();
                try
                {
                    await w.WriteAsync(CreateItems);
                    var psi = new System.Diagnostics.ProcessStartInfo("python3")
                    {
                        UseShellExecute = false,
                        RedirectStandardInput = true,
                        RedirectStandardOutput = true,
                    };
                    // Holds the lock until a line arrives on stdin, or 10 s passed.
                    psi.Arguments = "-c \"import select, sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); " +
                        "c.execute('BEGIN IMMEDIATE'); c.execute('INSERT INTO Items (Name, Value) VALUES (1, 1)'); " +
                        "print('held', flush=True); select.select([sys.stdin], [], [], 10); c.execute('COMMIT')\" \"" +
                        db.Path + "\"";
                    using (var other = System.Diagnostics.Process.Start(psi))
                    {
                        Assert.Equal("held", other.StandardOutput.ReadLine(), "the other process holds the lock");
                        var t = w.WriteAsync(InsertItem, new { Name = "mine", Value = 2 });
                        Assert.False(other.HasExited, "WriteAsync returned only after the other process let go");
                        Assert.False(t.IsCompleted, "nothing commits while the other process holds the lock");
                        other.StandardInput.WriteLine();
                        other.StandardInput.Flush();
                        Assert.Equal(1, await t, "rows");
                        Assert.True(other.WaitForExit(20000), "the other process exited");
                        Assert.Equal(0, other.ExitCode, "the other process committed");
                    }
                    Assert.Equal(2L, Count(w), "both rows");
                }
                finally
                {
                    await w.DisposeAsync();
                }
            }
        }

        public static Task WriteAsync_ConstraintFailure_CarriesSqliteMessageAndStatus()
        {
            return WithWriter(async w =>
            {
                await w.WriteAsync(InsertItem, new { Name = "dup", Value = 1 });
                var e = await Assert.ThrowsAsync<SingleWriterException>(() => w.WriteAsync(InsertItem, new { Name = "dup", Value = 2 }));
                Assert.Equal(SingleWriterStatus.Constraint, e.Status, "status");
                Assert.Contains("UNIQUE constraint failed", e.Message);

                // The blocking path reads the thread's last error: SQLite's extended code too.
                var e2 = Assert.Throws<SingleWriterException>(() => w.Write(InsertItem, new { Name = "dup", Value = 3 }));
                Assert.Contains("UNIQUE constraint failed", e2.Message);
                Assert.Equal(2067, e2.SqliteCode, "SQLITE_CONSTRAINT_UNIQUE");
                Assert.Equal(19, e2.SqliteErrorCode, "SQLITE_CONSTRAINT");

                var e3 = Assert.Throws<SingleWriterException>(() => w.Write("INSERT INTO Nope VALUES (1)"));
                Assert.Equal(SingleWriterStatus.Error, e3.Status, "status");
                Assert.Contains("no such table", e3.Message);
            });
        }

        public static Task WriteAsync_FailedWriteDoesNotFailItsNeighbours()
        {
            return WithWriter(async w =>
            {
                await w.WriteAsync(InsertItem, new { Name = "taken", Value = 0 });
                var tasks = new List<Task<int>>();
                for (int i = 0; i < 300; i++)
                {
                    string name = i % 10 == 0 ? "taken" : "ok" + i;
                    tasks.Add(w.WriteAsync(InsertItem, new { Name = name, Value = i }));
                }
                try
                {
                    await Task.WhenAll(tasks);
                }
                catch (SingleWriterException)
                {
                }
                for (int i = 0; i < tasks.Count; i++)
                    Assert.Equal(i % 10 == 0 ? TaskStatus.Faulted : TaskStatus.RanToCompletion, tasks[i].Status, "task " + i);
                Assert.Equal(1L + 270, Count(w), "rows");
            });
        }

        public static Task WriteAsync_PreCancelledToken_IsCancelledAndWritesNothing()
        {
            return WithWriter(async w =>
            {
                var cts = new CancellationTokenSource();
                cts.Cancel();
                var t = w.WriteAsync(InsertItem, new { Name = "x", Value = 1 }, cts.Token);
                Assert.True(t.IsCanceled, "task is cancelled");
                await w.FlushWritesAsync();
                Assert.Equal(0L, Count(w), "rows");
            });
        }

        public static Task WriteWithResultAsync_ReturnsLastInsertRowId()
        {
            return WithWriter(async w =>
            {
                var r1 = await w.WriteWithResultAsync(InsertItem, new { Name = "r1", Value = 1 });
                var r2 = await w.WriteWithResultAsync(InsertItem, new { Name = "r2", Value = 2 });
                Assert.Equal(r1.LastInsertRowId + 1, r2.LastInsertRowId, "rowids");
                var id = w.Query("SELECT Id FROM Items WHERE Name = 'r2'", null, r => r.Scalar<long>());
                Assert.Equal(id, r2.LastInsertRowId, "rowid matches the row");
                var blocking = w.Write(InsertItem, new { Name = "r3", Value = 3 });
                Assert.Equal(r2.LastInsertRowId + 1, blocking.LastInsertRowId, "blocking write rowid");
            });
        }

        public static Task WriteBatchAsync_EmptyReturnsZero_AndSumsRows()
        {
            return WithWriter(async w =>
            {
                Assert.Equal(0, await w.WriteBatchAsync(new List<(string, object)>()), "empty batch");
                int rows = await w.WriteBatchAsync(new List<(string, object)>
                {
                    (InsertItem, new { Name = "a", Value = 1 }),
                    (InsertItem, new Dictionary<string, object> { { "Name", "b" }, { "Value", 2 } }),
                    ("UPDATE Items SET Value = Value + 10", null),
                });
                Assert.Equal(4, rows, "rows affected by the batch");
                Assert.Equal(23L, w.Query("SELECT SUM(Value) FROM Items", null, r => r.Scalar<long>()), "sum");
                Assert.Equal(1, await w.WriteBatchAsync(new[] { "DELETE FROM Items WHERE Name = 'a'" }), "string batch");
            });
        }

        public static Task FlushWritesAsync_WaitsForEverythingQueuedBefore()
        {
            return WithWriter(async w =>
            {
                var tasks = Enumerable.Range(0, 1000).Select(i => w.WriteAsync(InsertItem, new { Name = "f" + i, Value = i })).ToList();
                await w.FlushWritesAsync();
                // Completion is posted to the thread pool, so give the continuations a moment.
                await Task.WhenAny(Task.WhenAll(tasks), Task.Delay(5000));
                Assert.True(tasks.All(t => t.Status == TaskStatus.RanToCompletion), "all writes completed");
                Assert.Equal(1000L, Count(w), "rows after flush");
                await w.FlushWritesAsync(TimeSpan.FromSeconds(10));
            });
        }

        // ---------------------------------------------------------------- parameters

        public static Task Parameters_RoundTripEveryType()
        {
            return WithWriter(async w =>
            {
                await w.WriteAsync("CREATE TABLE T (i INTEGER, l INTEGER, d REAL, s TEXT, b BLOB, n TEXT, flag INTEGER, g BLOB, m TEXT, e INTEGER)");
                var guid = Guid.NewGuid();
                var blob = new byte[] { 0, 1, 2, 255, 0, 42 };
                const string text = "héllo ✓ 𝄞 \u0000 end"; // includes a NUL inside the value
                await w.WriteAsync("INSERT INTO T VALUES (@i, @l, @d, @s, @b, @n, @flag, @g, @m, @e)", new
                {
                    i = 42,
                    l = long.MaxValue,
                    d = 3.25,
                    s = text,
                    b = blob,
                    n = (string)null,
                    flag = true,
                    g = guid,
                    m = 12.5m,
                    e = DayOfWeek.Friday,
                });
                w.Query("SELECT * FROM T", null, rows =>
                {
                    Assert.Equal(1, rows.RowCount, "rows");
                    Assert.Equal(10, rows.ColumnCount, "columns");
                    Assert.Equal("flag", rows.GetName(6), "column name");
                    var r = rows[0];
                    Assert.Equal(42, r.GetInt32("i"), "int");
                    Assert.Equal(long.MaxValue, r.GetInt64("l"), "long");
                    Assert.Equal(3.25, r.GetDouble("d"), "double");
                    Assert.Equal(text, r.GetString("s"), "unicode text with NUL");
                    Assert.SequenceEqual(blob, r.GetBlob("b"), "blob");
                    Assert.True(r.IsNull("n"), "null");
                    Assert.Equal(null, r.Get<string>("n"), "null as string");
                    Assert.Equal(null, r.Get<int?>("n"), "null as int?");
                    Assert.Equal(true, r.Get<bool>("flag"), "bool");
                    Assert.Equal(guid, r.Get<Guid>("g"), "guid");
                    Assert.Equal(12.5m, r.Get<decimal>("m"), "decimal");
                    Assert.Equal(DayOfWeek.Friday, r.Get<DayOfWeek>("e"), "enum");
                    Assert.Equal(ColumnType.Blob, rows.GetColumnType(0, 4), "blob type");
                    Assert.Throws<InvalidCastException>(() => r.GetInt64("n"));
                    return 0;
                });
            });
        }

        public static Task Parameters_AnyPrefix_ExtraMembersIgnored_PositionalArrays()
        {
            return WithWriter(async w =>
            {
                // $ and : prefixes bind from the same property names; Unused is left out.
                await w.WriteAsync("INSERT INTO Items (Name, Value) VALUES ($Name, :Value)", new { Name = "p1", Value = 1, Unused = "x" });
                await w.WriteAsync("INSERT INTO Items (Name, Value) VALUES (@Name, @Value)",
                    new Dictionary<string, object> { { "@Name", "p2" }, { "Value", 2 }, { "Other", 3 } });
                await w.WriteAsync("INSERT INTO Items (Name, Value) VALUES (?1, ?2)", new object[] { "p3", 3 });
                await w.WriteAsync("INSERT INTO Items (Name, Value) VALUES (?, ?)", new List<object> { "p5", 5 });
                var names = w.Query("SELECT Name FROM Items WHERE Value = @v OR Name = '@Value'", new { v = 2 },
                    rs => rs.Select(r => r.GetString(0)).ToList());
                Assert.SequenceEqual(new[] { "p2" }, names, "named query (a quoted '@Value' is not a parameter)");
                Assert.Equal(4L, Count(w), "rows");

                // A parameter the SQL needs but the object lacks is reported, naming it.
                var e = await Assert.ThrowsAsync<SingleWriterException>(() =>
                    w.WriteAsync("INSERT INTO Items (Name, Value) VALUES (@Name, @Missing)", new { Name = "p4" }));
                Assert.Equal(SingleWriterStatus.InvalidArgument, e.Status, "status");
                Assert.Contains("Missing", e.Message);

                await Assert.ThrowsAsync<ArgumentException>(() => w.WriteAsync("INSERT INTO Items (Name, Value) VALUES (@Name, 1)",
                    new { Name = new object() }));
            });
        }

        // ---------------------------------------------------------------- reads

        public static Task QueryAsync_WriteStatement_IsRefusedAsReadOnly()
        {
            return WithWriter(async w =>
            {
                var e = await Assert.ThrowsAsync<SingleWriterException>(() =>
                    w.QueryAsync("INSERT INTO Items (Name, Value) VALUES ('q', 1)", r => 0));
                Assert.Equal(SingleWriterStatus.ReadOnly, e.Status, "status");
                Assert.Equal(0L, Count(w), "rows");
            });
        }

        public static Task Rows_AreValidOnlyInsideTheMapper()
        {
            return WithWriter(async w =>
            {
                await w.WriteAsync(InsertItem, new { Name = "r", Value = 1 });
                var leaked = await w.QueryAsync("SELECT Name, Value FROM Items", r => r);
                Assert.Throws<ObjectDisposedException>(() => leaked.GetString(0, 0));
                var json = await w.QueryAsync("SELECT Name, Value FROM Items", r => r.ToJson());
                Assert.Contains("\"Name\":\"r\"", json.Replace(" ", ""));
            });
        }

        public static Task ReadAsync_HitsMissesAndWriteDrivenInvalidation()
        {
            return WithWriter(async w =>
            {
                var before = w.GetCacheStats();
                Assert.Equal(0L, await w.ReadAsync("count", "SELECT COUNT(*) FROM Items", r => r.Scalar<long>()), "empty");
                Assert.Equal(0L, await w.ReadAsync("count", "SELECT COUNT(*) FROM Items", r => r.Scalar<long>()), "cached");
                // A plain write to a table the entry read invalidates it (no key named).
                await w.WriteAsync(InsertItem, new { Name = "a", Value = 1 });
                Assert.Equal(1L, await w.ReadAsync("count", "SELECT COUNT(*) FROM Items", r => r.Scalar<long>()), "fresh");
                var after = w.GetCacheStats();
                Assert.Equal(2L, after.Misses - before.Misses, "misses");
                Assert.Equal(1L, after.Hits - before.Hits, "hits");
                Assert.True(after.Entries >= 1, "entries");
            });
        }

        public static Task InvalidateCache_And_WriteAndInvalidate_AcceptGlobs()
        {
            return WithWriter(async w =>
            {
                Func<string, long> read = k => w.Read(k, "SELECT random()", null, r => r.Scalar<long>());
                long u1 = read("users:1"), u2 = read("users:2"), o = read("orders:1");
                Assert.Equal(u1, read("users:1"), "cached");
                w.InvalidateCache("users:*");
                Assert.NotEqual(u1, read("users:1"), "users:1 invalidated");
                Assert.NotEqual(u2, read("users:2"), "users:2 invalidated");
                Assert.Equal(o, read("orders:1"), "orders:1 kept");

                long o2 = read("orders:2");
                await w.WriteAndInvalidateAsync(InsertItem, new Dictionary<string, object> { { "Name", "x" }, { "Value", 1 } },
                    new[] { "orders:*" });
                Assert.NotEqual(o2, read("orders:2"), "orders:2 invalidated after the write");
            });
        }

        public static Task ReadAsync_FromManyThreads_IsConsistent()
        {
            return WithWriter(async w =>
            {
                for (int i = 0; i < 50; i++) await w.WriteAsync(InsertItem, new { Name = "m" + i, Value = i });
                var tasks = Enumerable.Range(0, 8).Select(t => Task.Run(() =>
                {
                    for (int i = 0; i < 500; i++)
                    {
                        long sum = w.Read("sum", "SELECT SUM(Value) FROM Items", null, r => r.Scalar<long>());
                        Assert.Equal(1225L, sum, "sum");
                        long one = w.Read("item:" + (i % 50), "SELECT Value FROM Items WHERE Name = @n", new { n = "m" + (i % 50) },
                            r => r.Scalar<long>());
                        Assert.Equal((long)(i % 50), one, "value");
                    }
                })).ToArray();
                await Task.WhenAll(tasks);
            });
        }

        // ---------------------------------------------------------------- transactions

        private sealed class MyException : Exception
        {
        }

        public static Task ExecuteInTransactionAsync_ExceptionRollsBackAndRethrowsIt()
        {
            return WithWriter(async w =>
            {
                await Assert.ThrowsAsync<MyException>(() => w.ExecuteInTransactionAsync(tx =>
                {
                    tx.Execute(InsertItem, new { Name = "gone", Value = 1 });
                    throw new MyException();
                }));
                Assert.Equal(0L, Count(w), "rows after rollback");

                // A failed statement propagates as SingleWriterException and rolls everything back.
                await w.WriteAsync(InsertItem, new { Name = "taken", Value = 1 });
                var e = await Assert.ThrowsAsync<SingleWriterException>(() => w.ExecuteInTransactionAsync(tx =>
                {
                    tx.Execute(InsertItem, new { Name = "new", Value = 2 });
                    tx.Execute(InsertItem, new { Name = "taken", Value = 3 });
                }));
                Assert.Contains("UNIQUE", e.Message);
                Assert.Equal(1L, Count(w), "rows after failed transaction");
            });
        }

        public static Task ExecuteInTransactionAsync_CaughtStatementFailure_CommitsTheRest()
        {
            return WithWriter(async w =>
            {
                await w.WriteAsync(InsertItem, new { Name = "taken", Value = 1 });
                var rowid = await w.ExecuteInTransactionAsync(tx =>
                {
                    try
                    {
                        tx.Execute(InsertItem, new { Name = "taken", Value = 2 });
                    }
                    catch (SingleWriterException e) when (e.Status == SingleWriterStatus.Constraint)
                    {
                    }
                    tx.Execute(InsertItem, new { Name = "fresh", Value = 3 });
                    return tx.LastInsertRowId;
                });
                Assert.Equal(2L, Count(w), "rows");
                Assert.Equal(rowid, w.Query("SELECT Id FROM Items WHERE Name = 'fresh'", null, r => r.Scalar<long>()), "rowid");
            });
        }

        public static Task ExecuteInTransactionAsync_RollbackDiscardsQuietly()
        {
            return WithWriter(async w =>
            {
                var seen = await w.ExecuteInTransactionAsync(tx =>
                {
                    tx.Execute(InsertItem, new { Name = "x", Value = 1 });
                    long inside = tx.ExecuteScalar<long>("SELECT COUNT(*) FROM Items");
                    tx.Rollback();
                    return inside;
                });
                Assert.Equal(1L, seen, "the transaction saw its own row");
                Assert.Equal(0L, Count(w), "rows after rollback");
            });
        }

        public static Task ExecuteInTransactionAsync_WriterCallsInsideThrowInsteadOfDeadlocking()
        {
            return WithWriter(async w =>
            {
                Exception inner = null;
                await w.ExecuteInTransactionAsync(tx =>
                {
                    try
                    {
                        w.WriteAsync(InsertItem, new { Name = "inner", Value = 1 }).GetAwaiter().GetResult();
                    }
                    catch (Exception e)
                    {
                        inner = e;
                    }
                    tx.Execute(InsertItem, new { Name = "outer", Value = 2 });
                });
                Assert.True(inner is InvalidOperationException, "inner write refused: " + inner);
                Assert.Equal(1L, Count(w), "rows");

                Exception flush = null;
                await w.ExecuteInTransactionAsync(async (tx, ct) =>
                {
                    try
                    {
                        await w.FlushWritesAsync();
                    }
                    catch (Exception e)
                    {
                        flush = e;
                    }
                });
                Assert.True(flush is InvalidOperationException, "flush inside refused: " + flush);
            });
        }

        public static Task ExecuteInTransactionAsync_TransactionObjectIsOnlyValidInsideOnItsThread()
        {
            return WithWriter(async w =>
            {
                SingleWriterTransaction kept = null;
                Exception otherThread = null;
                await w.ExecuteInTransactionAsync(tx =>
                {
                    kept = tx;
                    var t = new Thread(() =>
                    {
                        try
                        {
                            tx.Execute(InsertItem, new { Name = "t", Value = 1 });
                        }
                        catch (Exception e)
                        {
                            otherThread = e;
                        }
                    });
                    t.Start();
                    t.Join();
                });
                Assert.True(otherThread is InvalidOperationException, "use from another thread refused");
                Assert.Throws<InvalidOperationException>(() => kept.Execute(InsertItem, new { Name = "late", Value = 1 }));
                Assert.Equal(0L, Count(w), "rows");
            });
        }

        public static Task ExecuteInTransactionAsync_ConcurrentWithWrites_IsAtomic()
        {
            return WithWriter(async w =>
            {
                await w.WriteAsync("CREATE TABLE Accounts (Id INTEGER PRIMARY KEY, Balance INTEGER NOT NULL)");
                await w.WriteAsync("INSERT INTO Accounts VALUES (1, 1000), (2, 1000)");
                var transfers = Enumerable.Range(0, 100).Select(i => w.ExecuteInTransactionAsync(tx =>
                {
                    long a = tx.ExecuteScalar<long>("SELECT Balance FROM Accounts WHERE Id = 1");
                    tx.Execute("UPDATE Accounts SET Balance = @b WHERE Id = 1", new { b = a - 1 });
                    long b = tx.ExecuteScalar<long>("SELECT Balance FROM Accounts WHERE Id = 2");
                    tx.Execute("UPDATE Accounts SET Balance = @b WHERE Id = 2", new { b = b + 1 });
                })).ToList();
                var writes = Enumerable.Range(0, 200).Select(i => w.WriteAsync(InsertItem, new { Name = "c" + i, Value = i })).ToList();
                await Task.WhenAll(transfers);
                await Task.WhenAll(writes);
                var balances = w.Query("SELECT Balance FROM Accounts ORDER BY Id", null, rs => rs.Select(r => r.GetInt64(0)).ToList());
                Assert.SequenceEqual(new[] { 900L, 1100L }, balances, "balances");
                Assert.Equal(200L, Count(w), "rows");
            });
        }

        // ---------------------------------------------------------------- signals

        public static Task GetSignals_FiltersByPatternAndSequence()
        {
            return WithWriter(async w =>
            {
                await w.WriteAsync(InsertItem, new { Name = "s1", Value = 1 });
                var all = w.GetSignals();
                Assert.True(all.Count > 0, "signals");
                for (int i = 1; i < all.Count; i++) Assert.True(all[i].Seq > all[i - 1].Seq, "increasing seq");
                long last = all[all.Count - 1].Seq;

                w.Read("sig:key", "SELECT 1", null, r => 0);
                var newer = w.GetSignals(null, last);
                Assert.True(newer.Count > 0 && newer.All(s => s.Seq > last), "only newer signals");
                var miss = w.GetSignals("cache.miss:sig:*");
                Assert.Equal(1, miss.Count, "cache.miss for the key");
                Assert.Equal("cache.miss", miss[0].Name, "name");
                Assert.Equal("sig:key", miss[0].Key, "key");
                Assert.True(Math.Abs((DateTimeOffset.UtcNow - miss[0].Timestamp).TotalMinutes) < 5, "timestamp is now");
                var done = w.GetSignals("write.done*");
                Assert.True(done.Count > 0 && done.All(s => s.Status == SingleWriterStatus.Ok), "write.done signals");

                var poll = w.PollSignals("write.*", 0);
                Assert.Equal(0L, poll.Missed, "missed");
                Assert.True(poll.LastSeq > 0, "last seq");
            });
        }

        public static Task Subscribe_DeliversSignals_AndContainsHandlerExceptions()
        {
            return WithWriter(async w =>
            {
                var got = new ConcurrentQueue<SignalEvent>();
                var threads = new ConcurrentBag<int>();
                var sub = w.Subscribe("write.done*", e =>
                {
                    got.Enqueue(e);
                    threads.Add(Thread.CurrentThread.ManagedThreadId);
                    throw new InvalidOperationException("a subscriber's bug must not reach native code");
                });
                for (int i = 0; i < 20; i++) await w.WriteAsync(InsertItem, new { Name = "s" + i, Value = i });
                var deadline = DateTime.UtcNow.AddSeconds(5);
                while (got.Count < 20 && DateTime.UtcNow < deadline) await Task.Delay(10);
                Assert.True(got.Count >= 20, "signals delivered: " + got.Count);
                Assert.True(got.All(e => e.Name == "write.done"), "only matching signals");
                sub.Dispose();
                int n = got.Count;
                await w.WriteAsync(InsertItem, new { Name = "after", Value = 1 });
                await Task.Delay(200);
                Assert.Equal(n, got.Count, "no signals after unsubscribe");
                sub.Dispose();
            });
        }

        public static async Task CrossProcess_RaiseInvalidation_ReachesThisProcess()
        {
            using (var db = new TempDb())
            {
                var w = db.Open();
                try
                {
                    await w.WriteAsync(CreateItems);
                    Func<long> read = () => w.Read("x:1", "SELECT random()", null, r => r.Scalar<long>());
                    long first = read();
                    Assert.Equal(first, read(), "cached");

                    Child.Spawn("raise-invalidation", db.ConnectionString, "x:*");

                    var deadline = DateTime.UtcNow.AddSeconds(5);
                    while (read() == first && DateTime.UtcNow < deadline) await Task.Delay(20);
                    Assert.NotEqual(first, read(), "entry invalidated by the other process");
                    Assert.True(w.GetSignals("cache.invalidate.external*").Count > 0, "cache.invalidate.external signal");
                }
                finally
                {
                    await w.DisposeAsync();
                }
            }
        }

        public static async Task CrossProcess_WriteInvalidatesDependentEntries()
        {
            using (var db = new TempDb())
            {
                var w = db.Open();
                try
                {
                    await w.WriteAsync(CreateItems);
                    Func<long> read = () => w.Read("items:count", "SELECT COUNT(*) FROM Items", null, r => r.Scalar<long>());
                    Assert.Equal(0L, read(), "empty");

                    Child.Spawn("insert", db.ConnectionString, "from-child");

                    var deadline = DateTime.UtcNow.AddSeconds(5);
                    while (read() == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
                    Assert.Equal(1L, read(), "count after the other process's insert");
                }
                finally
                {
                    await w.DisposeAsync();
                }
            }
        }

        public static Task EnableSignalDrivenInvalidation_ForwardsMatchingSinkSignalsOnly()
        {
            return WithWriter(async w =>
            {
                var sink = new SignalSink();
                Func<string, long> read = k => w.Read(k, "SELECT random()", null, r => r.Scalar<long>());
                long a = read("a:1"), b = read("b:1"), pre = read("pre:1");
                sink.Raise("cache.invalidate:pre:1"); // raised before enabling: applied at enable
                w.EnableSignalDrivenInvalidation(sink, new[] { "cache.invalidate:a:*", "cache.invalidate:pre:*" });
                w.EnableSignalDrivenInvalidation(new SignalSink()); // second call: no-op, as in the original
                w.EnableSignalDrivenInvalidation(); // compatibility overload: no-op
                Assert.NotEqual(pre, read("pre:1"), "pre-existing sink signal applied");
                sink.Raise("cache.invalidate:a:1");
                sink.Raise("cache.invalidate:b:1"); // not matched by the patterns
                sink.Raise("other.signal:a:1");
                Assert.NotEqual(a, read("a:1"), "a:1 invalidated");
                Assert.Equal(b, read("b:1"), "b:1 kept");
                await Task.Yield();
            });
        }

        // ---------------------------------------------------------------- options and statistics

        public static Task Options_BecomeConnectionStringKeywords()
        {
            var o = new SqliteSingleWriterOptions();
            Assert.Equal("Data Source=a.db", o.ToConnectionString("Data Source=a.db"), "defaults add nothing");
            o = new SqliteSingleWriterOptions
            {
                CacheSizeLimit = 2,
                DefaultCacheDuration = TimeSpan.FromSeconds(1),
                HotKeyExtension = TimeSpan.FromSeconds(2),
                HotAccessThreshold = 5,
                MaxTrackedWrites = 10,
                SampleRate = 4,
                BusyTimeout = TimeSpan.FromMilliseconds(250),
                EnableWriteAheadLogging = false,
                EnforceForeignKeys = false,
                Readers = 2,
            };
            Assert.Equal("Data Source=a.db;Cache Size=2;Cache TTL=1000;Hot Key TTL=2000;Hot Access Threshold=5;" +
                         "Max Tracked Writes=10;Sample Rate=4;Busy Timeout=250;Journal Mode=DELETE;Foreign Keys=false;Readers=2",
                o.ToConnectionString("Data Source=a.db"), "all options");
            Assert.Equal("Data Source=\"my;db.sqlite\";Sample Rate=4",
                new SqliteSingleWriterOptions { SampleRate = 4 }.ToConnectionString("my;db.sqlite"), "plain path");
            Assert.Equal("Data Source=a.db; sample rate = 9;Readers=2",
                new SqliteSingleWriterOptions { SampleRate = 4, Readers = 2 }.ToConnectionString("Data Source=a.db; sample rate = 9"),
                "keywords in the string win");
            return Task.CompletedTask;
        }

        public static Task Options_ReachTheLibrary()
        {
            return WithWriter(async w =>
            {
                var stats = w.GetCacheStats();
                Assert.Equal(2L, stats.MaxEntries, "Cache Size");
                for (int i = 0; i < 5; i++) w.Read("k" + i, "SELECT " + i, null, r => 0);
                Assert.True(w.GetCacheStats().Entries <= 2, "cache bounded");
                Assert.True(w.GetCacheStats().Evictions >= 3, "evictions counted");
                await w.WriteAsync("CREATE TABLE P (Id INTEGER PRIMARY KEY); CREATE TABLE C (P INTEGER REFERENCES P(Id))");
                await w.WriteAsync("INSERT INTO C VALUES (99)"); // foreign keys off: allowed
                var mode = w.Query("SELECT * FROM pragma_journal_mode", null, r => r.Scalar<string>());
                Assert.Equal("delete", mode.ToLowerInvariant(), "journal mode");
                Assert.Contains("Cache Size=2", w.ConnectionString);
            }, new SqliteSingleWriterOptions { CacheSizeLimit = 2, EnforceForeignKeys = false, EnableWriteAheadLogging = false });
        }

        public static Task Statistics_AndDiagnostics_AreAvailable()
        {
            return WithWriter(async w =>
            {
                for (int i = 0; i < 10; i++) await w.WriteAsync(InsertItem, new { Name = "d" + i, Value = i });
                var s = w.GetStats();
                Assert.True(s.Committed >= 11, "committed");
                Assert.True(s.Transactions >= 1 && s.Transactions <= s.Committed, "transactions");
                Assert.Equal(0L, s.Queued, "queued");
                Assert.Contains("INSERT", w.GetWriteOperationsJson());
                Assert.True(w.GetMetricsText().Length > 0, "metrics text");
            });
        }
    }
}
