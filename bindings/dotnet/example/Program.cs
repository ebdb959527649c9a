// The original package's quick start, on the native singlewriter library:
// create a table, write with named parameters, a transaction, a batch, a cached read with
// invalidation, a flush, and a look at the signals and counters.
//
// Run (from bindings/dotnet, after `cargo build --release` at the repository root):
//   bash test.sh                      # builds this into bin/mono/SingleWriter.Example.exe and runs it
//   LD_LIBRARY_PATH=../../target/release mono bin/mono/SingleWriter.Example.exe [database path]
using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using SingleWriter;

namespace SingleWriterExample
{
    public static class Program
    {
        public static int Main(string[] args)
        {
            try
            {
                RunAsync(args).GetAwaiter().GetResult();
                return 0;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine("example failed: " + e);
                return 1;
            }
        }

        private static async Task RunAsync(string[] args)
        {
            string path = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "singlewriter-example-" + Guid.NewGuid().ToString("N") + ".db");

            var writer = SqliteSingleWriter.GetOrCreate(
                "Data Source=" + path + ";Mode=ReadWriteCreate;Cache=Shared",
                new SqliteSingleWriterOptions
                {
                    SampleRate = 1,
                    BusyTimeout = TimeSpan.FromSeconds(10),   // Busy Timeout
                    EnableWriteAheadLogging = true,           // Journal Mode=WAL
                });
            try
            {
                await writer.WriteAsync("CREATE TABLE IF NOT EXISTS Users (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL)");

                // Serialized, group-committed writes with named parameters.
                await writer.WriteAsync("INSERT INTO Users (Name) VALUES (@Name)", new { Name = "Alice" });

                // Transactional work on the writer lane: the callback gets a transaction object.
                var inserted = await writer.ExecuteInTransactionAsync(tx =>
                {
                    tx.Execute("INSERT INTO Users (Name) VALUES ('Bob')");
                    return (int)tx.ExecuteScalar<long>("SELECT COUNT(*) FROM Users");
                });
                Console.WriteLine("users after the transaction: " + inserted);

                // Batch writes (one transaction by default).
                await writer.WriteBatchAsync(new[]
                {
                    ("INSERT INTO Users (Name) VALUES ('Charlie')", (object)null),
                    ("INSERT INTO Users (Name) VALUES (@Name)", (object)new { Name = "Dana" }),
                });

                // Cached read: SQL plus a mapper from rows to your type.
                var userCount = await writer.ReadAsync("users:count", "SELECT COUNT(*) FROM Users",
                    rows => (int)rows.Scalar<long>());
                Console.WriteLine("cached user count: " + userCount);

                // Write and invalidate the cached key once the write has committed.
                await writer.WriteAndInvalidateAsync(
                    "INSERT INTO Users (Name) VALUES ('Eve')",
                    cacheKeysToInvalidate: new[] { "users:count" });
                userCount = await writer.ReadAsync("users:count", "SELECT COUNT(*) FROM Users",
                    rows => (int)rows.Scalar<long>());
                Console.WriteLine("user count after invalidation: " + userCount);

                var names = await writer.QueryAsync("SELECT Name FROM Users ORDER BY Id",
                    rows => rows.Select(r => r.GetString(0)).ToList());
                Console.WriteLine("users: " + string.Join(", ", names));

                // Wait for everything queued so far.
                await writer.FlushWritesAsync();

                // Observe what happened.
                Console.WriteLine("write signals: " + writer.GetSignals("write.*").Count +
                                  ", cache signals: " + writer.GetSignals("cache.*").Count);
                Console.WriteLine("cache: " + writer.GetCacheStats());
                Console.WriteLine("writer: " + writer.GetStats());

                if (userCount != 5 || names.Count != 5) throw new Exception("expected 5 users, got " + userCount);
            }
            finally
            {
                await writer.DisposeAsync();
                if (args.Length == 0)
                {
                    foreach (var suffix in new[] { "", "-wal", "-shm" })
                        File.Delete(path + suffix);
                }
            }
            Console.WriteLine("example: ok");
        }
    }
}
