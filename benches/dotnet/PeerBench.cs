// The .NET part of the peer benchmark suite (benches/run.sh), run under Mono: the singlewriter
// .NET binding against the original package's design re-created on Mono.Data.Sqlite — one write
// connection behind a SemaphoreSlim, one transaction (one commit) per write, a new connection per
// read (opened and closed per read). Every connection string names `Journal Mode=WAL`:
// Mono.Data.Sqlite's default is `Delete`, and it runs `PRAGMA journal_mode=<mode>` on every Open,
// so a reader opening while the writer's connection was open tried to take the database out of
// WAL and waited out the 30 s busy timeout with "database is locked" (W3 and W4 in most runs;
// Microsoft.Data.Sqlite, which the original package uses, sets no journal mode on Open). Workloads W1, W3
// and W4 with the suite's arguments and JSON line (see benches/peers/harness); one measurement
// per process. The SQL uses named parameters (@a, @b, @id) for both contenders: the binding's
// object parameters are named.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Mono.Data.Sqlite;
using SingleWriter;

namespace SingleWriterPeerBench
{
    interface IContender : IDisposable
    {
        Task InsertAsync(long a);
        Task UpdateAsync(long id, long a);
        Task ReadAsync(long id, bool cached);
        string Library { get; }
        string SqliteVersion { get; }
        string Note { get; }
        double? WritesPerTxn(bool start);
    }

    static class Sql
    {
        public const string Insert = "INSERT INTO t(a, b) VALUES (@a, @b)";
        public const string Update = "UPDATE t SET a = @a WHERE id = @id";
        public const string Point = "SELECT a, b FROM t WHERE id = @id";
        public const string Text = "payload-text";
    }

    sealed class SingleWriterContender : IContender
    {
        readonly SqliteSingleWriter _w;
        readonly string[] _keys;
        WriterStatistics _start;

        public SingleWriterContender(string path, string sync)
        {
            _w = SqliteSingleWriter.GetOrCreate("Data Source=" + path + ";Synchronous=" + sync);
            _keys = new string[10001];
            for (int i = 0; i < _keys.Length; i++) _keys[i] = "t:" + i;
            SqliteVersion = _w.Query("SELECT sqlite_version()", null, r => r.GetString(0, 0));
        }

        public string Library { get { return "singlewriter " + SqliteSingleWriter.NativeVersion + " .NET binding (Mono " + Environment.Version + ")"; } }
        public string SqliteVersion { get; private set; }
        public string Note { get { return "WriteAsync / QueryAsync / ReadAsync, default options; Synchronous from the run"; } }

        public Task InsertAsync(long a) { return _w.WriteAsync(Sql.Insert, new { a = a, b = Sql.Text }); }
        public Task UpdateAsync(long id, long a) { return _w.WriteAsync(Sql.Update, new { id = id, a = a }); }

        public Task ReadAsync(long id, bool cached)
        {
            if (cached) return _w.ReadAsync(_keys[id], Sql.Point, new { id = id }, r => r.GetInt64(0, 0) + r.GetString(0, 1).Length);
            return _w.QueryAsync(Sql.Point, new { id = id }, r => r.GetInt64(0, 0) + r.GetString(0, 1).Length);
        }

        public double? WritesPerTxn(bool start)
        {
            var s = _w.GetStats();
            if (start) { _start = s; return null; }
            long txns = s.Transactions - _start.Transactions;
            return txns > 0 ? (double)(s.Committed - _start.Committed) / txns : (double?)null;
        }

        public void Dispose() { _w.Dispose(); }
    }

    sealed class MonoDesignContender : IContender
    {
        // Mono.Data.Sqlite runs `PRAGMA journal_mode=<Journal Mode>` on every Open (default
        // Delete, which needs the database to itself): WAL, as the database is, is a no-op.
        internal const string Options = ";Version=3;Journal Mode=WAL";
        readonly SqliteConnection _write;
        readonly SemaphoreSlim _gate = new SemaphoreSlim(1, 1);
        readonly string _readCs;

        public MonoDesignContender(string path, string sync)
        {
            _write = new SqliteConnection("Data Source=" + path + Options);
            _write.Open();
            Exec(_write, "PRAGMA journal_mode=WAL; PRAGMA synchronous=" + sync + "; PRAGMA busy_timeout=5000;");
            _readCs = "Data Source=" + path + Options;
            using (var cmd = new SqliteCommand("SELECT sqlite_version()", _write)) SqliteVersion = (string)cmd.ExecuteScalar();
        }

        static void Exec(SqliteConnection c, string sql)
        {
            using (var cmd = new SqliteCommand(sql, c)) cmd.ExecuteNonQuery();
        }

        public string Library { get { return "Mono.Data.Sqlite (Mono " + Environment.Version + ", system libsqlite3)"; } }
        public string SqliteVersion { get; private set; }
        public string Note { get { return "one write connection behind a SemaphoreSlim, BEGIN/COMMIT per write; a new connection per read (Mono.Data.Sqlite, no pool)"; } }

        async Task Write(string sql, string p1, long v1, string p2, object v2)
        {
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                using (var tx = _write.BeginTransaction())
                using (var cmd = new SqliteCommand(sql, _write, tx))
                {
                    cmd.Parameters.AddWithValue(p1, v1);
                    cmd.Parameters.AddWithValue(p2, v2);
                    cmd.ExecuteNonQuery();
                    tx.Commit();
                }
            }
            finally
            {
                _gate.Release();
            }
        }

        public Task InsertAsync(long a) { return Write(Sql.Insert, "@a", a, "@b", Sql.Text); }
        public Task UpdateAsync(long id, long a) { return Write(Sql.Update, "@id", id, "@a", a); }

        public Task ReadAsync(long id, bool cached)
        {
            using (var c = new SqliteConnection(_readCs))
            {
                c.Open();
                using (var cmd = new SqliteCommand(Sql.Point, c))
                {
                    cmd.Parameters.AddWithValue("@id", id);
                    using (var r = cmd.ExecuteReader())
                    {
                        if (!r.Read()) throw new InvalidOperationException("no row " + id);
                        long v = r.GetInt64(0) + r.GetString(1).Length;
                        GC.KeepAlive(v);
                    }
                }
            }
            return Task.CompletedTask;
        }

        public double? WritesPerTxn(bool start) { return null; }

        public void Dispose()
        {
            _write.Dispose();
            SqliteConnection.ClearAllPools();
        }
    }

    sealed class Tally
    {
        public List<long> Reads = new List<long>(), Writes = new List<long>();
        public long Busy, Other, Inserts;
        public string FirstError;
    }

    public static class Program
    {
        static volatile int _phase; // 0 warm, 1 window, 2 stop

        static bool IsBusy(Exception e)
        {
            for (; e != null; e = e.InnerException)
            {
                var se = e as SqliteException;
                if (se != null && (se.ErrorCode == SQLiteErrorCode.Busy || se.ErrorCode == SQLiteErrorCode.Locked)) return true;
                var sw = e as SingleWriterException;
                if (sw != null && sw.Message.IndexOf("busy", StringComparison.OrdinalIgnoreCase) >= 0) return true;
                if (e is AggregateException && e.InnerException != null) continue;
            }
            return false;
        }

        static long Count(string path)
        {
            // Another connection may still be closing: retry SQLITE_BUSY for up to 5 s.
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    using (var c = new SqliteConnection("Data Source=" + path + MonoDesignContender.Options + ";Default Timeout=5"))
                    {
                        c.Open();
                        using (var cmd = new SqliteCommand("SELECT count(*) FROM t", c)) return (long)cmd.ExecuteScalar();
                    }
                }
                catch (SqliteException e)
                {
                    if (!IsBusy(e) || deadline.Elapsed > TimeSpan.FromSeconds(5)) throw;
                    Thread.Sleep(10);
                }
            }
        }

        static double Pct(List<long> ticks, double q)
        {
            if (ticks.Count == 0) return double.NaN;
            ticks.Sort();
            long t = ticks[Math.Min(ticks.Count - 1, (int)(ticks.Count * q))];
            return t * 1e6 / Stopwatch.Frequency;
        }

        static string Num(double v) { return double.IsNaN(v) ? "null" : v.ToString("R", CultureInfo.InvariantCulture); }

        static string Str(string s)
        {
            var b = new StringBuilder("\"");
            foreach (char ch in s ?? "")
            {
                if (ch == '"' || ch == '\\') b.Append('\\').Append(ch);
                else if (ch < 0x20) b.AppendFormat("\\u{0:x4}", (int)ch);
                else b.Append(ch);
            }
            return b.Append('"').ToString();
        }

        public static int Main(string[] argv)
        {
            var a = new Dictionary<string, string>
            {
                { "--workload", "w1" }, { "--producers", "1" }, { "--sync", "NORMAL" }, { "--secs", "2" }, { "--warm", "0.3" },
                { "--mode", "uncached" }, { "--keys", "zipf" },
            };
            for (int i = 0; i + 1 < argv.Length; i += 2) a[argv[i]] = argv[i + 1];
            string contender = a["--contender"], workload = a["--workload"], db = a["--db"], sync = a["--sync"].ToUpperInvariant();
            string mode = a["--mode"], keys = a["--keys"];
            int producers = int.Parse(a["--producers"], CultureInfo.InvariantCulture);
            double secs = double.Parse(a["--secs"], CultureInfo.InvariantCulture), warm = double.Parse(a["--warm"], CultureInfo.InvariantCulture);
            if (workload != "w1" && workload != "w3" && workload != "w4")
            {
                Console.WriteLine("{\"contender\":" + Str(contender) + ",\"unsupported\":\"W1, W3, W4 only\"}");
                return 0;
            }
            long before = Count(db);
            IContender c = contender == "dotnet-singlewriter" ? (IContender)new SingleWriterContender(db, sync) : new MonoDesignContender(db, sync);
            bool cached = (workload == "w3" && mode == "hit") || (workload == "w4" && mode == "cached");
            // Zipf(0.99) over 10,000 keys, as the Rust harness.
            var cdf = new double[10000];
            double acc = 0;
            for (int k = 1; k <= cdf.Length; k++) { acc += 1 / Math.Pow(k, 0.99); cdf[k - 1] = acc; }
            for (int k = 0; k < cdf.Length; k++) cdf[k] /= acc;
            var tallies = new Tally[producers];
            var tasks = new Task[producers];
            for (int w = 0; w < producers; w++)
            {
                var t = tallies[w] = new Tally();
                int seed = w * 7919 + 17;
                long seq = (long)w << 40;
                tasks[w] = Task.Run(async () =>
                {
                    var rng = new Random(seed);
                    Func<long> key = () =>
                    {
                        if (keys != "zipf") return rng.Next(10000) + 1;
                        int idx = Array.BinarySearch(cdf, rng.NextDouble());
                        if (idx < 0) idx = ~idx;
                        return Math.Min(idx, cdf.Length - 1) + 1;
                    };
                    while (_phase != 2)
                    {
                        seq++;
                        int kind; // 0 insert, 1 update, 2 read
                        long id = 0;
                        if (workload == "w1") kind = 0;
                        else if (workload == "w3") { kind = 2; id = rng.Next(mode == "hit" ? 512 : 10000) + 1; }
                        else
                        {
                            int r = rng.Next(20);
                            kind = r == 0 ? 0 : r == 1 ? 1 : 2;
                            if (kind != 0) id = key();
                        }
                        long t0 = Stopwatch.GetTimestamp();
                        try
                        {
                            if (kind == 0) await c.InsertAsync(seq).ConfigureAwait(false);
                            else if (kind == 1) await c.UpdateAsync(id, seq).ConfigureAwait(false);
                            else await c.ReadAsync(id, cached).ConfigureAwait(false);
                            long d = Stopwatch.GetTimestamp() - t0;
                            if (kind == 0) t.Inserts++;
                            if (_phase == 1) (kind == 2 ? t.Reads : t.Writes).Add(d);
                        }
                        catch (Exception e)
                        {
                            if (IsBusy(e)) t.Busy++;
                            else { t.Other++; if (t.FirstError == null) t.FirstError = e.GetType().Name + ": " + e.Message; }
                        }
                    }
                });
            }
            Thread.Sleep(TimeSpan.FromSeconds(warm));
            c.WritesPerTxn(true);
            var window = Stopwatch.StartNew();
            _phase = 1;
            Thread.Sleep(TimeSpan.FromSeconds(secs));
            _phase = 2;
            window.Stop();
            double? wpt = c.WritesPerTxn(false);
            Task.WaitAll(tasks);
            string library = c.Library, version = c.SqliteVersion, note = c.Note;
            c.Dispose();
            long after = Count(db);
            var all = new Tally();
            foreach (var t in tallies)
            {
                all.Reads.AddRange(t.Reads); all.Writes.AddRange(t.Writes);
                all.Busy += t.Busy; all.Other += t.Other; all.Inserts += t.Inserts;
                if (all.FirstError == null) all.FirstError = t.FirstError;
            }
            var both = new List<long>(all.Reads); both.AddRange(all.Writes);
            double el = window.Elapsed.TotalSeconds;
            long expected = before + all.Inserts;
            var sb = new StringBuilder("{");
            Action<string, string> f = (k, v) => { if (sb.Length > 1) sb.Append(','); sb.Append(Str(k)).Append(':').Append(v); };
            f("contender", Str(contender)); f("workload", Str(workload)); f("producers", producers.ToString(CultureInfo.InvariantCulture));
            f("sync", Str(sync)); f("mode", Str(mode)); f("keys", Str(keys)); f("secs", Num(el));
            f("ops", Num(both.Count)); f("rate", Num(both.Count / el)); f("reads", Num(all.Reads.Count)); f("writes", Num(all.Writes.Count));
            f("p50_us", Num(Pct(both, 0.5))); f("p99_us", Num(Pct(both, 0.99)));
            f("read_p50_us", Num(Pct(all.Reads, 0.5))); f("read_p99_us", Num(Pct(all.Reads, 0.99)));
            f("write_p50_us", Num(Pct(all.Writes, 0.5))); f("write_p99_us", Num(Pct(all.Writes, 0.99)));
            f("busy", Num(all.Busy)); f("queue_full", "0"); f("timeouts", "0"); f("other_errors", Num(all.Other));
            f("first_error", Str(all.FirstError)); f("sqlite_version", Str(version)); f("library", Str(library));
            if (wpt.HasValue && workload != "w3") f("writes_per_txn", Num(wpt.Value));
            f("txn_note", Str(contender == "dotnet-monosqlite" && workload != "w3" ? "1 (BEGIN/COMMIT per write)" : ""));
            f("rows_expected", Num(expected)); f("rows_found", Num(after)); f("rows_ok", after == expected ? "true" : "false");
            f("drained", "true"); f("peak_rss_kb", Num(Process.GetCurrentProcess().PeakWorkingSet64 / 1024)); f("note", Str(note));
            Console.WriteLine(sb.Append('}').ToString());
            return after == expected ? 0 : 3;
        }
    }
}
