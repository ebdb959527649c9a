// Per-call cost of the .NET binding: awaited WriteAsync (enqueue + native callback + TCS),
// the blocking Write, a cached ReadAsync hit, and for reference a bare P/Invoke.
//
//   bash bindings/dotnet/test.sh Example    # builds bin/mono/*.exe (runs one quick test)
//   LD_LIBRARY_PATH=target/release mono bindings/dotnet/bin/mono/SingleWriter.Overhead.exe [iterations]
using System;
using System.Diagnostics;
using System.IO;
using System.Threading.Tasks;
using SingleWriter;

namespace SingleWriterBench
{
    public static class Overhead
    {
        public static int Main(string[] args)
        {
            int n = args.Length > 0 ? int.Parse(args[0]) : 20000;
            string dir = Path.Combine(Path.GetTempPath(), "sw-dotnet-bench-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            try
            {
                Run(Path.Combine(dir, "bench.db"), n).GetAwaiter().GetResult();
            }
            finally
            {
                Directory.Delete(dir, true);
            }
            return 0;
        }

        private static void Report(string what, Stopwatch sw, int n)
        {
            Console.WriteLine("{0,-44} {1,9:F2} us/call  ({2:N0} calls/s)", what,
                sw.Elapsed.TotalMilliseconds * 1000.0 / n, n / sw.Elapsed.TotalSeconds);
        }

        private static async Task Run(string path, int n)
        {
            Console.WriteLine("singlewriter " + SqliteSingleWriter.NativeVersion + ", " +
                              (Type.GetType("Mono.Runtime") != null ? "Mono" : ".NET") + " " + Environment.Version +
                              ", " + Environment.ProcessorCount + " cores, " + n + " iterations");
            var w = SqliteSingleWriter.GetOrCreate("Data Source=" + path);
            try
            {
                await w.WriteAsync("CREATE TABLE T (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL, Value INTEGER NOT NULL)");
                const string insert = "INSERT INTO T (Name, Value) VALUES (@Name, @Value)";
                var p = new { Name = "name", Value = 42 };

                // Warm up the JIT and the statement caches.
                for (int i = 0; i < 2000; i++) await w.WriteAsync(insert, p);
                for (int i = 0; i < 2000; i++) w.Write(insert, p);
                for (int i = 0; i < 2000; i++) await w.ReadAsync("count", "SELECT COUNT(*) FROM T WHERE Value = @v", new { v = 1 }, r => r.Scalar<long>());

                var sw = Stopwatch.StartNew();
                for (int i = 0; i < n; i++) SqliteSingleWriter_AbiVersion();
                sw.Stop();
                Report("P/Invoke sw_abi_version (baseline)", sw, n);

                sw = Stopwatch.StartNew();
                for (int i = 0; i < n; i++) await w.WriteAsync(insert, p);
                sw.Stop();
                Report("await WriteAsync (1 producer, committed)", sw, n);

                sw = Stopwatch.StartNew();
                for (int i = 0; i < n; i++) w.Write(insert, p);
                sw.Stop();
                Report("Write (blocking sw_writer_execute)", sw, n);

                var tasks = new Task<int>[n];
                sw = Stopwatch.StartNew();
                for (int i = 0; i < n; i++) tasks[i] = w.WriteAsync(insert, p);
                await Task.WhenAll(tasks);
                sw.Stop();
                Report("WriteAsync pipelined (all in flight)", sw, n);

                // The writes above changed table T, which invalidated the cached entry: refill it
                // once, then measure hits only (nothing writes T during the loop).
                await w.FlushWritesAsync();
                await w.ReadAsync("count", "SELECT COUNT(*) FROM T WHERE Value = @v", new { v = 1 }, r => r.Scalar<long>());
                var before = w.GetCacheStats();
                sw = Stopwatch.StartNew();
                for (int i = 0; i < n; i++)
                    await w.ReadAsync("count", "SELECT COUNT(*) FROM T WHERE Value = @v", new { v = 1 }, r => r.Scalar<long>());
                sw.Stop();
                var after = w.GetCacheStats();
                Report("await ReadAsync, cache hit (+1 param, map)", sw, n);

                sw = Stopwatch.StartNew();
                for (int i = 0; i < n; i++) w.Read("count0", "SELECT 1", null, r => r.RowCount);
                sw.Stop();
                Report("Read, cache hit (no params, trivial map)", sw, n);
                Console.WriteLine("cache hits during the ReadAsync loop: " + (after.Hits - before.Hits) + " of " + n);
                Console.WriteLine("writer: " + w.GetStats());
            }
            finally
            {
                await w.DisposeAsync();
            }
        }

        private static uint SqliteSingleWriter_AbiVersion()
        {
            return SqliteSingleWriter.NativeAbiVersion;
        }
    }
}
