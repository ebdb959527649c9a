using System;
using System.Threading;

namespace SingleWriter
{
    /// <summary>
    /// The transaction handed to the callback of
    /// <see cref="SqliteSingleWriter.ExecuteInTransactionAsync{T}(Func{SingleWriterTransaction, T}, CancellationToken)"/>.
    /// It takes the place of the original's <c>(SqliteConnection, SqliteTransaction)</c> pair: the
    /// callback runs on the writer lane, inside a transaction on the write connection, and every
    /// statement made through this object joins it. Returning normally commits; throwing rolls
    /// back and the exception reaches the caller; <see cref="Rollback"/> rolls back quietly.
    /// <para>Valid only during the callback and only on the thread running it (an async callback's
    /// awaits come back to that thread unless it uses <c>ConfigureAwait(false)</c>).</para>
    /// </summary>
    public sealed unsafe partial class SingleWriterTransaction
    {
        private IntPtr _txn;
        private readonly int _threadId;

        internal SingleWriterTransaction(IntPtr txn)
        {
            _txn = txn;
            _threadId = Thread.CurrentThread.ManagedThreadId;
        }

        internal void End()
        {
            _txn = IntPtr.Zero;
        }

        /// <summary>Whether <see cref="Rollback"/> was called.</summary>
        public bool RollbackRequested { get; private set; }

        /// <summary>The rowid of the last row inserted through <see cref="Execute"/> in this transaction.</summary>
        public long LastInsertRowId { get; private set; }

        private IntPtr Txn
        {
            get
            {
                if (_txn == IntPtr.Zero)
                    throw new InvalidOperationException(
                        "SingleWriter: the transaction is over; a SingleWriterTransaction is valid only inside its callback.");
                if (Thread.CurrentThread.ManagedThreadId != _threadId)
                    throw new InvalidOperationException(
                        "SingleWriter: a SingleWriterTransaction must be used on the thread running its callback " +
                        "(do not use ConfigureAwait(false) or Task.Run inside the callback).");
                return _txn;
            }
        }

        /// <summary>Asks for the transaction to roll back when the callback returns. The call then
        /// completes normally with the callback's result; nothing it wrote is kept.</summary>
        public void Rollback()
        {
            var unused = Txn;
            RollbackRequested = true;
        }

        /// <summary>Runs a statement (or several, separated by semicolons) in the transaction;
        /// returns the rows affected.</summary>
        public int Execute(string sql, object parameters = null)
        {
            return (int)ExecuteForResult(sql, parameters).RowsAffected;
        }

        /// <summary>Runs a statement in the transaction; returns rows affected and last insert rowid.</summary>
        public WriteResult ExecuteForResult(string sql, object parameters = null)
        {
            if (sql == null) throw new ArgumentNullException("sql");
            Utf8.CheckNoNul(sql, "sql");
            var ps = ParameterBinder.Bind(sql, parameters);
            var txn = Txn;
            using (var s = Scratch.Rent(Scratch.Measure(sql) + Scratch.Measure(ps)))
            {
                byte* sqlp = s.Str(sql);
                var pp = s.Params(ps);
                Native.SwWriteResult r;
                uint st = Native.sw_txn_execute(txn, sqlp, pp, (UIntPtr)(uint)ps.Length, &r);
                if (st != 0) throw SingleWriterException.FromLastError(st);
                LastInsertRowId = r.LastInsertRowId;
                return WriteResult.From(r);
            }
        }

        /// <summary>Runs a query in the transaction (it sees the transaction's own uncommitted
        /// writes) and maps the rows.</summary>
        public T Query<T>(string sql, object parameters, Func<Rows, T> map)
        {
            if (sql == null) throw new ArgumentNullException("sql");
            if (map == null) throw new ArgumentNullException("map");
            Utf8.CheckNoNul(sql, "sql");
            var ps = ParameterBinder.Bind(sql, parameters);
            var txn = Txn;
            IntPtr rows;
            using (var s = Scratch.Rent(Scratch.Measure(sql) + Scratch.Measure(ps)))
            {
                byte* sqlp = s.Str(sql);
                var pp = s.Params(ps);
                uint st = Native.sw_txn_query(txn, sqlp, pp, (UIntPtr)(uint)ps.Length, out rows);
                if (st != 0) throw SingleWriterException.FromLastError(st);
            }
            return SqliteSingleWriter.MapRows(rows, map);
        }

        /// <summary>Runs a query without parameters in the transaction and maps the rows.</summary>
        public T Query<T>(string sql, Func<Rows, T> map)
        {
            return Query(sql, null, map);
        }

        /// <summary>The first column of the first row of a query (null when it returns no rows).</summary>
        public object ExecuteScalar(string sql, object parameters = null)
        {
            return Query(sql, parameters, r => r.Scalar());
        }

        /// <summary>The first column of the first row converted to <typeparamref name="T"/>.</summary>
        public T ExecuteScalar<T>(string sql, object parameters = null)
        {
            return Query(sql, parameters, r => r.Scalar<T>());
        }
    }
}
