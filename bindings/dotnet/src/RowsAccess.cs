using System;
using System.Threading;
using System.Threading.Tasks;

namespace SingleWriter
{
    // Result sets that outlive a mapper: the ADO.NET data reader keeps its Rows until it is closed.
    public sealed unsafe partial class SqliteSingleWriter
    {
        /// <summary>Uncached read on a read connection; the caller owns (and disposes) the Rows.</summary>
        internal Rows QueryRows(string sql, object parameters)
        {
            if (sql == null) throw new ArgumentNullException("sql");
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
            return new Rows(new RowsHandle(rows));
        }
    }

    public sealed unsafe partial class SingleWriterTransaction
    {
        /// <summary>A query inside the transaction; the caller owns (and disposes) the Rows.</summary>
        internal Rows QueryRows(string sql, object parameters)
        {
            if (sql == null) throw new ArgumentNullException("sql");
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
            return new Rows(new RowsHandle(rows));
        }
    }
}
