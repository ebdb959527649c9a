using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace SingleWriter
{
    /// <summary>
    /// Options of <see cref="SqliteSingleWriter.GetOrCreate"/>, with the original package's
    /// property names and defaults. Each becomes a connection-string keyword that the native
    /// library understands (see <see cref="ToConnectionString"/>):
    /// <list type="table">
    /// <item><term>CacheSizeLimit</term><description><c>Cache Size</c> entries [10000]</description></item>
    /// <item><term>DefaultCacheDuration</term><description><c>Cache TTL</c> ms [5 min]</description></item>
    /// <item><term>HotKeyExtension</term><description><c>Hot Key TTL</c> ms [30 min]</description></item>
    /// <item><term>HotAccessThreshold</term><description><c>Hot Access Threshold</c> [3]</description></item>
    /// <item><term>MaxTrackedWrites</term><description><c>Max Tracked Writes</c> [128] (operation snapshots only;
    /// the queue is <see cref="QueueCapacity"/>)</description></item>
    /// <item><term>SampleRate</term><description><c>Sample Rate</c> [1]</description></item>
    /// <item><term>BusyTimeout</term><description><c>Busy Timeout</c> ms [10 s]</description></item>
    /// <item><term>EnableWriteAheadLogging</term><description><c>Journal Mode</c> WAL (true) or DELETE (false) [true]</description></item>
    /// <item><term>EnforceForeignKeys</term><description><c>Foreign Keys</c> [true]</description></item>
    /// </list>
    /// A keyword is appended only when its value differs from the library's default and the
    /// connection string does not already name it (a keyword in the connection string wins).
    /// A second open of the same database that names a different value for an option is refused
    /// by the library (<see cref="SingleWriterStatus.InvalidArgument"/>), instead of silently
    /// ignoring it as the original did.
    /// </summary>
    public sealed class SqliteSingleWriterOptions
    {
        /// <summary>Cached read results kept (<c>Cache Size</c>). Default 10000 (the original package: 1000).</summary>
        public long CacheSizeLimit { get; set; } = 10000;

        /// <summary>Time to live of a cached read (<c>Cache TTL</c>). Default 5 minutes.</summary>
        public TimeSpan DefaultCacheDuration { get; set; } = TimeSpan.FromMinutes(5);

        /// <summary>Time to live of a hot cached read (<c>Hot Key TTL</c>). Default 30 minutes.</summary>
        public TimeSpan HotKeyExtension { get; set; } = TimeSpan.FromMinutes(30);

        /// <summary>Hits after which a key is hot (<c>Hot Access Threshold</c>). Default 3.</summary>
        public int HotAccessThreshold { get; set; } = 3;

        /// <summary>Recent write operations kept for <see cref="SqliteSingleWriter.GetWriteOperationsJson"/>
        /// (<c>Max Tracked Writes</c>). Default 128. Unlike the original, this is not the queue's capacity.</summary>
        public int MaxTrackedWrites { get; set; } = 128;

        /// <summary>Emit one in N high-volume signals (<c>Sample Rate</c>; values below 1 mean 1). Default 1.</summary>
        public int SampleRate { get; set; } = 1;

        /// <summary>How long the writer waits for another process's lock (<c>Busy Timeout</c>; zero or
        /// negative: do not wait). Default 10 seconds.</summary>
        public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(10);

        /// <summary>Kept for source compatibility; has no effect. (Microsoft.Data.Sqlite's command
        /// timeout bounded its busy retries; here <see cref="BusyTimeout"/> is the only busy policy.)</summary>
        public int DefaultCommandTimeoutSeconds { get; set; } = 30;

        /// <summary><c>Journal Mode=WAL</c> when true (default), <c>DELETE</c> when false.
        /// In-memory databases always use MEMORY.</summary>
        public bool EnableWriteAheadLogging { get; set; } = true;

        /// <summary><c>Foreign Keys</c> on every connection. Default true.</summary>
        public bool EnforceForeignKeys { get; set; } = true;

        // ---- options the original did not have (null: the library's default) ----

        /// <summary><c>Synchronous</c>: OFF, NORMAL (default), FULL or EXTRA.</summary>
        public string Synchronous { get; set; }

        /// <summary><c>Signal Capacity</c>: size of the signal ring (default 4096).</summary>
        public int? SignalCapacity { get; set; }

        /// <summary><c>Queue Capacity</c>: queued writes before submitters wait (default 65536).</summary>
        public int? QueueCapacity { get; set; }

        /// <summary><c>Max Batch</c>: writes per group commit, 1 disables group commit (default 4096).</summary>
        public int? MaxBatch { get; set; }

        /// <summary><c>Readers</c>: read-only connections (default 4).</summary>
        public int? Readers { get; set; }

        /// <summary><c>Enqueue Timeout</c>: how long a full queue may block a submitter; zero fails at once
        /// (default 5 s).</summary>
        public TimeSpan? EnqueueTimeout { get; set; }

        /// <summary><c>Invalidation Poll</c>: interval of the check for other processes' commits; zero
        /// turns it off (default 10 ms).</summary>
        public TimeSpan? InvalidationPollInterval { get; set; }

        private static readonly string[] KnownKeywords =
        {
            "datasource", "filename", "mode", "cache", "foreignkeys", "defaulttimeout", "commandtimeout",
            "pooling", "recursivetriggers", "busytimeout", "journalmode", "synchronous", "samplerate",
            "cachesize", "cachettl", "hotkeyttl", "hotaccessthreshold", "maxtrackedwrites", "signalcapacity",
            "queuecapacity", "maxbatch", "readers", "enqueuetimeout", "invalidationpoll",
        };

        private static string Normalise(string key)
        {
            var sb = new StringBuilder(key.Length);
            foreach (char c in key)
                if (!char.IsWhiteSpace(c))
                    sb.Append(char.ToLowerInvariant(c));
            return sb.ToString();
        }

        private static string Ms(TimeSpan t)
        {
            double ms = Math.Floor(t.TotalMilliseconds);
            if (ms < 0) ms = 0;
            return ((long)ms).ToString(CultureInfo.InvariantCulture);
        }

        private static string Quote(string value)
        {
            return "\"" + value.Replace("\"", "\"\"") + "\"";
        }

        /// <summary>Whether the library reads this string as <c>Key=Value</c> pairs (its own rule).</summary>
        private static bool LooksLikePairs(string s)
        {
            int eq = s.IndexOf('=');
            if (eq < 0) return false;
            return Array.IndexOf(KnownKeywords, Normalise(s.Substring(0, eq))) >= 0 || s.IndexOf(';') >= 0;
        }

        /// <summary>The keywords (normalised) named in a Key=Value connection string.</summary>
        private static HashSet<string> NamedKeywords(string s)
        {
            var named = new HashSet<string>(StringComparer.Ordinal);
            int i = 0;
            while (i < s.Length)
            {
                int eq = s.IndexOf('=', i);
                if (eq < 0) break;
                named.Add(Normalise(s.Substring(i, eq - i).Trim(';', ' ', '\t')));
                int j = eq + 1;
                while (j < s.Length && char.IsWhiteSpace(s[j])) j++;
                if (j < s.Length && (s[j] == '"' || s[j] == '\''))
                {
                    char q = s[j++];
                    while (j < s.Length)
                    {
                        if (s[j] == q)
                        {
                            if (j + 1 < s.Length && s[j + 1] == q) { j += 2; continue; }
                            break;
                        }
                        j++;
                    }
                }
                int semi = s.IndexOf(';', Math.Min(j, s.Length));
                if (semi < 0) break;
                i = semi + 1;
            }
            return named;
        }

        /// <summary>
        /// The connection string passed to <c>sw_writer_open</c>: the caller's string, turned into
        /// <c>Key=Value</c> form when it is a plain path, <c>:memory:</c> or a <c>file:</c> URI, with
        /// the options appended as keywords (only those that differ from the library's defaults and
        /// that the string does not already name).
        /// </summary>
        public string ToConnectionString(string connectionString)
        {
            if (string.IsNullOrWhiteSpace(connectionString)) throw new ArgumentNullException("connectionString");
            var extra = new List<KeyValuePair<string, string>>();
            long cacheSize = Math.Max(0, CacheSizeLimit);
            if (cacheSize != 10000) extra.Add(Kv("Cache Size", cacheSize.ToString(CultureInfo.InvariantCulture)));
            if (DefaultCacheDuration != TimeSpan.FromMinutes(5))
                extra.Add(Kv("Cache TTL", Ms(Max1Ms(DefaultCacheDuration))));
            if (HotKeyExtension != TimeSpan.FromMinutes(30)) extra.Add(Kv("Hot Key TTL", Ms(Max1Ms(HotKeyExtension))));
            if (HotAccessThreshold != 3)
                extra.Add(Kv("Hot Access Threshold", Math.Max(1, HotAccessThreshold).ToString(CultureInfo.InvariantCulture)));
            if (MaxTrackedWrites != 128)
                extra.Add(Kv("Max Tracked Writes", Math.Max(0, MaxTrackedWrites).ToString(CultureInfo.InvariantCulture)));
            if (Math.Max(1, SampleRate) != 1)
                extra.Add(Kv("Sample Rate", Math.Max(1, SampleRate).ToString(CultureInfo.InvariantCulture)));
            if (BusyTimeout != TimeSpan.FromSeconds(10)) extra.Add(Kv("Busy Timeout", Ms(BusyTimeout)));
            if (!EnableWriteAheadLogging) extra.Add(Kv("Journal Mode", "DELETE"));
            if (!EnforceForeignKeys) extra.Add(Kv("Foreign Keys", "false"));
            if (Synchronous != null) extra.Add(Kv("Synchronous", Synchronous));
            if (SignalCapacity.HasValue)
                extra.Add(Kv("Signal Capacity", SignalCapacity.Value.ToString(CultureInfo.InvariantCulture)));
            if (QueueCapacity.HasValue)
                extra.Add(Kv("Queue Capacity", QueueCapacity.Value.ToString(CultureInfo.InvariantCulture)));
            if (MaxBatch.HasValue) extra.Add(Kv("Max Batch", MaxBatch.Value.ToString(CultureInfo.InvariantCulture)));
            if (Readers.HasValue) extra.Add(Kv("Readers", Readers.Value.ToString(CultureInfo.InvariantCulture)));
            if (EnqueueTimeout.HasValue) extra.Add(Kv("Enqueue Timeout", Ms(EnqueueTimeout.Value)));
            if (InvalidationPollInterval.HasValue) extra.Add(Kv("Invalidation Poll", Ms(InvalidationPollInterval.Value)));

            string s = connectionString.Trim();
            if (extra.Count == 0) return s;
            HashSet<string> named;
            if (s != ":memory:" && !s.StartsWith("file:", StringComparison.Ordinal) && LooksLikePairs(s))
            {
                named = NamedKeywords(s);
            }
            else
            {
                s = "Data Source=" + Quote(s);
                named = new HashSet<string>();
            }
            var sb = new StringBuilder(s);
            foreach (var kv in extra)
            {
                if (named.Contains(Normalise(kv.Key))) continue;
                if (kv.Key == "Busy Timeout" && (named.Contains("defaulttimeout") || named.Contains("commandtimeout")))
                    continue;
                if (sb.Length > 0 && sb[sb.Length - 1] != ';') sb.Append(';');
                sb.Append(kv.Key).Append('=').Append(kv.Value);
            }
            return sb.ToString();
        }

        private static TimeSpan Max1Ms(TimeSpan t)
        {
            return t < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : t;
        }

        private static KeyValuePair<string, string> Kv(string k, string v)
        {
            return new KeyValuePair<string, string>(k, v);
        }
    }
}
