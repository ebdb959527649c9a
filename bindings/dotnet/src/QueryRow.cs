using System;
using System.Threading;
using System.Threading.Tasks;

namespace SingleWriter
{
    // QueryRow: a query expected to return at most one row, mapped with typed, NULL-aware getters
    // (Row.Get<T>: int?, string, DateTime?, ... give null for NULL).
    public sealed unsafe partial class SqliteSingleWriter
    {
        /// <summary>
        /// Runs an uncached read and maps its first row:
        /// <code>var (name, email) = w.QueryRow("SELECT name, email FROM users WHERE id = @id", new { id },
        ///     r =&gt; (r.Get&lt;string&gt;("name"), r.Get&lt;string&gt;("email")));</code>
        /// Throws <see cref="InvalidOperationException"/> when the query returns no row (use
        /// <see cref="TryQueryRow{T}"/> to test for one).
        /// </summary>
        public T QueryRow<T>(string sql, object parameters, Func<Row, T> map)
        {
            T value;
            if (!TryQueryRow(sql, parameters, map, out value))
                throw new InvalidOperationException("SingleWriter: the query returned no row.");
            return value;
        }

        /// <summary>Maps the first row of an uncached read into <paramref name="value"/>; returns
        /// false (and default) when the query returns no row.</summary>
        public bool TryQueryRow<T>(string sql, object parameters, Func<Row, T> map, out T value)
        {
            if (map == null) throw new ArgumentNullException("map");
            var found = Query(sql, parameters, r => r.RowCount > 0
                ? new Found<T>(true, map(r[0]))
                : new Found<T>(false, default(T)));
            value = found.Value;
            return found.Ok;
        }

        /// <summary>Task form of <see cref="QueryRow{T}"/>; runs synchronously (reads do not wait
        /// for the writer) and returns a completed task.</summary>
        public Task<T> QueryRowAsync<T>(string sql, object parameters, Func<Row, T> map,
            CancellationToken ct = default(CancellationToken))
        {
            if (ct.IsCancellationRequested) return Task.FromCanceled<T>(ct);
            try
            {
                return Task.FromResult(QueryRow(sql, parameters, map));
            }
            catch (Exception e)
            {
                return Task.FromException<T>(e);
            }
        }

        /// <summary><see cref="QueryRow{T}"/> through the cache (see <see cref="Read{T}"/>).</summary>
        public T ReadRow<T>(string cacheKey, string sql, object parameters, Func<Row, T> map)
        {
            if (map == null) throw new ArgumentNullException("map");
            var found = Read(cacheKey, sql, parameters, r => r.RowCount > 0
                ? new Found<T>(true, map(r[0]))
                : new Found<T>(false, default(T)));
            if (!found.Ok) throw new InvalidOperationException("SingleWriter: the query returned no row.");
            return found.Value;
        }

        private struct Found<T>
        {
            public readonly bool Ok;
            public readonly T Value;

            public Found(bool ok, T value)
            {
                Ok = ok;
                Value = value;
            }
        }
    }

    public sealed unsafe partial class SingleWriterTransaction
    {
        /// <summary>Maps the first row of a query inside the transaction; throws
        /// <see cref="InvalidOperationException"/> when it returns no row.</summary>
        public T QueryRow<T>(string sql, object parameters, Func<Row, T> map)
        {
            if (map == null) throw new ArgumentNullException("map");
            using (var rows = QueryRows(sql, parameters))
            {
                if (rows.RowCount == 0) throw new InvalidOperationException("SingleWriter: the query returned no row.");
                return map(rows[0]);
            }
        }
    }
}
