// The original package's SqliteSingleWriterTests (original-semantics.md §5.1), ported to this
// binding. Same names, same setup (temp file, "Data Source=...;Mode=ReadWriteCreate;Cache=Shared",
// SampleRate 1, MaxTrackedWrites 256, the Items table), same assertions, with these
// translations:
// - Microsoft.Data.Sqlite's reader delegates become SQL + a mapper over Rows;
// - SqliteException becomes SingleWriterException (message still carries SQLite's text);
// - "the reader ran once" is checked with the library's cache counters (misses), since the SQL
//   now runs natively;
// - signal names are the library's catalogue: "{op}.start"/"{op}.done" with a "write:" prefix
//   became write.start/write.done, pragma.wal.on became pragma.journal_mode:wal,
//   pragma.foreign_keys.on became pragma.foreign_keys:on (the cache.*/read.*/write.flush.* names
//   and their ":key" form are unchanged);
// - `await using` (C# 8) becomes try/finally + DisposeAsync (this code also compiles with mcs).
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;

namespace SingleWriter.Tests
{
    [TestClass]
    public static class SqliteSingleWriterTests
    {
        private const string CreateItems =
            "CREATE TABLE IF NOT EXISTS Items (Id INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT NOT NULL, Value INTEGER NOT NULL)";

        private const string CreateItemsUnique =
            "CREATE TABLE IF NOT EXISTS Items (Id INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT NOT NULL UNIQUE, Value INTEGER NOT NULL)";

        private const string InsertItem = "INSERT INTO Items (Name, Value) VALUES (@Name, @Value)";

        private static Task<long> Count(SqliteSingleWriter w)
        {
            return w.QueryAsync("SELECT COUNT(*) FROM Items", r => r.Scalar<long>());
        }

        public static async Task WriteAsync_AllowsMultipleWritesAndReads()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync(CreateItems);
                    await writer.WriteAsync(InsertItem, new { Name = "one", Value = 1 });
                    await writer.WriteAsync(InsertItem, new { Name = "two", Value = 2 });
                    await writer.WriteAsync(InsertItem, new { Name = "three", Value = 3 });

                    Assert.Equal(3L, await Count(writer), "count");
                    var values = await writer.QueryAsync("SELECT Value FROM Items ORDER BY Id",
                        rows => rows.Select(r => r.GetInt32(0)).ToList());
                    Assert.SequenceEqual(new[] { 1, 2, 3 }, values, "values");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }

        public static async Task ReadAsync_CachesUntilInvalidated()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync(CreateItems);
                    await writer.WriteAsync(InsertItem, new { Name = "a", Value = 1 });
                    long missesBefore = writer.GetCacheStats().Misses;

                    var first = await writer.ReadAsync("items:count", "SELECT COUNT(*) FROM Items", r => r.Scalar<long>());
                    var second = await writer.ReadAsync("items:count", "SELECT COUNT(*) FROM Items", r => r.Scalar<long>());
                    Assert.Equal(first, second, "cached value");
                    Assert.Equal(1L, first, "first read");
                    Assert.Equal(1L, writer.GetCacheStats().Misses - missesBefore, "queries run for two reads");

                    await writer.WriteAndInvalidateAsync(InsertItem, new { Name = "b", Value = 2 },
                        new[] { "items:count" });

                    var third = await writer.ReadAsync("items:count", "SELECT COUNT(*) FROM Items", r => r.Scalar<long>());
                    Assert.Equal(2L, writer.GetCacheStats().Misses - missesBefore, "queries run after invalidation");
                    Assert.Equal(2L, third, "read after invalidation");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }

        public static async Task WriteBatchAsync_RollsBackOnFailure()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync(CreateItemsUnique);
                    var ex = await Assert.ThrowsAsync<SingleWriterException>(() => writer.WriteBatchAsync(new[]
                    {
                        ("INSERT INTO Items (Name, Value) VALUES (@Name, @Value)", (object)new { Name = "dup", Value = 1 }),
                        ("INSERT INTO Items (Name, Value) VALUES (@Name, @Value)", (object)new { Name = "dup", Value = 2 }),
                    }));
                    Assert.Contains("UNIQUE", ex.Message, StringComparison.OrdinalIgnoreCase);
                    Assert.Equal(0L, await Count(writer), "rows after rolled-back batch");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }

        public static async Task WriteBatchAsync_NonTransactional_PartialCommitOnFailure()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync(CreateItemsUnique);
                    await Assert.ThrowsAsync<SingleWriterException>(() => writer.WriteBatchAsync(new[]
                    {
                        ("INSERT INTO Items (Name, Value) VALUES (@Name, @Value)", (object)new { Name = "dup", Value = 1 }),
                        ("INSERT INTO Items (Name, Value) VALUES (@Name, @Value)", (object)new { Name = "dup", Value = 2 }),
                    }, transactional: false));
                    Assert.Equal(1L, await Count(writer), "rows after partial batch");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }

        public static async Task ExecuteInTransactionAsync_ReturnsValueAndCommits()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync(CreateItems);
                    // The original's (conn, tx, ct) => ... callback becomes (tx, ct) => ...
                    var sum = await writer.ExecuteInTransactionAsync(async (tx, ct) =>
                    {
                        tx.Execute(InsertItem, new { Name = "tx", Value = 10 });
                        await Task.Yield(); // resumes on the transaction's thread
                        return (int)tx.ExecuteScalar<long>("SELECT SUM(Value) FROM Items");
                    });
                    Assert.Equal(10, sum, "sum inside the transaction");
                    Assert.Equal(1L, await Count(writer), "committed rows");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }

        public static async Task ApplyPragmas_SetsWalAndEnforcesForeignKeys()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync(
                        "CREATE TABLE Parents (Id INTEGER PRIMARY KEY);" +
                        "CREATE TABLE Children (Id INTEGER PRIMARY KEY, ParentId INTEGER NOT NULL REFERENCES Parents(Id));");
                    var ex = await Assert.ThrowsAsync<SingleWriterException>(() =>
                        writer.WriteAsync("INSERT INTO Children (Id, ParentId) VALUES (1, 999)"));
                    Assert.Contains("FOREIGN KEY", ex.Message, StringComparison.OrdinalIgnoreCase);
                    var mode = await writer.QueryAsync("PRAGMA journal_mode", r => r.Scalar<string>());
                    Assert.Equal("wal", mode.ToLowerInvariant(), "journal_mode");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }

        public static async Task Signals_AreEmitted_ForLifecycleAndCache()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync(CreateItems);
                    await writer.WriteAsync(InsertItem, new { Name = "a", Value = 1 });
                    await writer.ReadAsync("items:count", "SELECT COUNT(*) FROM Items", r => r.Scalar<long>());
                    await writer.WriteAndInvalidateAsync(InsertItem, new { Name = "b", Value = 2 }, new[] { "items:count" });
                    await writer.FlushWritesAsync();

                    var names = writer.GetSignals().Select(s => s.Signal).ToList();
                    Func<Func<string, bool>, string, bool> any = (p, what) =>
                    {
                        if (!names.Any(p))
                            throw new AssertionException("no signal " + what + " among: " + string.Join(", ", names));
                        return true;
                    };
                    any(n => n.StartsWith("write.start", StringComparison.Ordinal), "write.start*");
                    any(n => n.StartsWith("write.done", StringComparison.Ordinal), "write.done*");
                    any(n => n == "write.flush.start", "write.flush.start");
                    any(n => n == "write.flush.done", "write.flush.done");
                    any(n => n.StartsWith("cache.miss:items:count", StringComparison.Ordinal), "cache.miss:items:count");
                    any(n => n.StartsWith("cache.set:items:count", StringComparison.Ordinal), "cache.set:items:count");
                    any(n => n.StartsWith("cache.invalidate:items:count", StringComparison.Ordinal), "cache.invalidate:items:count");
                    any(n => n.StartsWith("read.start:items:count", StringComparison.Ordinal), "read.start:items:count");
                    any(n => n.StartsWith("read.done:items:count", StringComparison.Ordinal), "read.done:items:count");
                    any(n => n == "pragma.journal_mode:wal", "pragma.journal_mode:wal (was pragma.wal.on)");
                    any(n => n == "pragma.foreign_keys:on", "pragma.foreign_keys:on (was pragma.foreign_keys.on)");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }

        public static async Task ExternalSignalInvalidation_RemovesCachedEntries()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync(CreateItems);
                    var external = new SignalSink();
                    writer.EnableSignalDrivenInvalidation(external);

                    await writer.WriteAsync(InsertItem, new { Name = "a", Value = 1 });
                    // A query that reads no table: only an explicit invalidation can refresh it
                    // (a write to Items would refresh a COUNT(*) by itself in this library).
                    var first = await writer.ReadAsync("items:count", "SELECT random()", r => r.Scalar<long>());
                    Assert.Equal(first, await writer.ReadAsync("items:count", "SELECT random()", r => r.Scalar<long>()),
                        "cached");

                    external.Raise("cache.invalidate:items:count");
                    await Task.Delay(800);

                    var after = await writer.ReadAsync("items:count", "SELECT random()", r => r.Scalar<long>());
                    Assert.NotEqual(first, after, "value after external invalidation");
                    Assert.True(writer.GetSignals("cache.invalidate*:items:count").Count > 0,
                        "a cache.invalidate signal for items:count");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }

        private sealed class WithIndexer
        {
            public int Id { get; set; }
            public string Name { get; set; }

            public string this[int index]
            {
                get { return index.ToString(); }
            }
        }

        public static async Task WriteAsync_ParametersWithIndexerProperty_DoesNotThrow()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync("CREATE TABLE People (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL)");
                    await writer.WriteAsync("INSERT INTO People (Id, Name) VALUES (@Id, @Name)",
                        new WithIndexer { Id = 1, Name = "alice" });
                    var name = await writer.ReadAsync("test-indexer", "SELECT Name FROM People WHERE Id = @Id",
                        new { Id = 1 }, r => r.Scalar<string>());
                    Assert.Equal("alice", name, "name");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }

        public static async Task WriteAsync_DictionaryParameters_BindsCorrectly()
        {
            using (var db = new TempDb())
            {
                var writer = db.Open();
                try
                {
                    await writer.WriteAsync("CREATE TABLE People (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL)");
                    var parameters = new Dictionary<string, object> { { "Id", 42 }, { "Name", "bob" } };
                    await writer.WriteAsync("INSERT INTO People (Id, Name) VALUES (@Id, @Name)", parameters);
                    var name = await writer.ReadAsync("test-dict", "SELECT Name FROM People WHERE Id = @Id",
                        new Dictionary<string, object> { { "Id", 42 } }, r => r.Scalar<string>());
                    Assert.Equal("bob", name, "name");
                }
                finally
                {
                    await writer.DisposeAsync();
                }
            }
        }
    }
}
