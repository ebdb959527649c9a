namespace SingleWriter
{
    /// <summary>The outcome of one write: rows affected and the last inserted rowid.</summary>
    public struct WriteResult
    {
        /// <summary>Creates a result.</summary>
        public WriteResult(long rowsAffected, long lastInsertRowId)
        {
            RowsAffected = rowsAffected;
            LastInsertRowId = lastInsertRowId;
        }

        /// <summary>Rows changed by the statement(s).</summary>
        public long RowsAffected { get; private set; }

        /// <summary>The rowid of the last row inserted by this write (SQLite's <c>last_insert_rowid()</c>).</summary>
        public long LastInsertRowId { get; private set; }

        internal static WriteResult From(Native.SwWriteResult r)
        {
            return new WriteResult(r.RowsAffected, r.LastInsertRowId);
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return "rows=" + RowsAffected + " rowid=" + LastInsertRowId;
        }
    }

    /// <summary>Counters of the read cache (<c>sw_writer_cache_stats</c>); shared by every handle of the database.</summary>
    public sealed class CacheStatistics
    {
        internal CacheStatistics(Native.SwCacheStats s)
        {
            Entries = (long)s.Entries;
            HotEntries = (long)s.HotEntries;
            ExpiredEntries = (long)s.ExpiredEntries;
            MaxEntries = (long)s.MaxEntries;
            Hits = (long)s.Hits;
            Misses = (long)s.Misses;
            Evictions = (long)s.Evictions;
            Invalidations = (long)s.Invalidations;
        }

        /// <summary>Entries held now.</summary>
        public long Entries { get; private set; }
        /// <summary>Entries that reached the hot threshold.</summary>
        public long HotEntries { get; private set; }
        /// <summary>Entries past their expiry not yet removed (never served).</summary>
        public long ExpiredEntries { get; private set; }
        /// <summary>The capacity (<c>Cache Size</c>).</summary>
        public long MaxEntries { get; private set; }
        /// <summary>Reads served from the cache.</summary>
        public long Hits { get; private set; }
        /// <summary>Reads that ran their query.</summary>
        public long Misses { get; private set; }
        /// <summary>Entries dropped for capacity.</summary>
        public long Evictions { get; private set; }
        /// <summary>Entries dropped by invalidation (by key, glob, or a write to a table they read).</summary>
        public long Invalidations { get; private set; }

        /// <summary>The original's <c>CacheStats.TotalEntries</c>.</summary>
        public long TotalEntries
        {
            get { return Entries; }
        }

        /// <summary>The original's <c>CacheStats.MaxSize</c>.</summary>
        public long MaxSize
        {
            get { return MaxEntries; }
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return "entries=" + Entries + " hot=" + HotEntries + " hits=" + Hits + " misses=" + Misses +
                   " evictions=" + Evictions + " invalidations=" + Invalidations;
        }
    }

    /// <summary>Counters of the writer (<c>sw_writer_stats</c>); shared by every handle of the database.</summary>
    public sealed class WriterStatistics
    {
        internal WriterStatistics(Native.SwStats s)
        {
            Queued = (long)s.Queued;
            Committed = (long)s.Committed;
            Failed = (long)s.Failed;
            Transactions = (long)s.Transactions;
            BusyRetries = (long)s.BusyRetries;
            LatencyP50Us = (long)s.LatencyP50Us;
            LatencyP99Us = (long)s.LatencyP99Us;
        }

        /// <summary>Writes submitted and not yet acknowledged: the queue plus the group being committed.</summary>
        public long Queued { get; private set; }
        /// <summary>Writes acknowledged OK.</summary>
        public long Committed { get; private set; }
        /// <summary>Writes acknowledged with an error.</summary>
        public long Failed { get; private set; }
        /// <summary>Commits on the write connection (Committed / Transactions = mean group size).</summary>
        public long Transactions { get; private set; }
        /// <summary>Waits for another process's lock.</summary>
        public long BusyRetries { get; private set; }
        /// <summary>Median submit-to-acknowledgement latency over recent writes, µs.</summary>
        public long LatencyP50Us { get; private set; }
        /// <summary>99th percentile submit-to-acknowledgement latency, µs.</summary>
        public long LatencyP99Us { get; private set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return "queued=" + Queued + " committed=" + Committed + " failed=" + Failed + " transactions=" +
                   Transactions + " p50=" + LatencyP50Us + "us p99=" + LatencyP99Us + "us";
        }
    }
}
