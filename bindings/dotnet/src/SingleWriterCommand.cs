using System;
using System.Collections;
using System.Collections.Generic;
using System.Data;
using System.Data.Common;
using System.Threading;
using System.Threading.Tasks;

namespace SingleWriter
{
    /// <summary>
    /// An ADO.NET command. <see cref="ExecuteNonQuery"/> is a write on the writer lane (blocking;
    /// <see cref="ExecuteNonQueryAsync(CancellationToken)"/> queues it and no thread waits);
    /// <see cref="DbCommand.ExecuteReader()"/> and <see cref="ExecuteScalar"/> read on the
    /// read-only pool, except a statement that writes and returns rows (<c>INSERT ... RETURNING</c>),
    /// which runs on the writer lane. On a connection with an open transaction every command runs
    /// inside it. Parameters bind by name (<c>@x</c>, <c>:x</c>, <c>$x</c>, with or without the
    /// prefix in <see cref="DbParameter.ParameterName"/>) or, when none has a name, by position.
    /// </summary>
    public sealed class SingleWriterCommand : DbCommand
    {
        private SingleWriterConnection _connection;
        private readonly SingleWriterParameterCollection _parameters = new SingleWriterParameterCollection();

        /// <summary>A command without text or connection.</summary>
        public SingleWriterCommand()
        {
            CommandText = "";
            CommandType = CommandType.Text;
            UpdatedRowSource = UpdateRowSource.None;
        }

        /// <summary>A command with its text, on a connection.</summary>
        public SingleWriterCommand(string commandText, SingleWriterConnection connection = null) : this()
        {
            CommandText = commandText ?? "";
            _connection = connection;
        }

        /// <inheritdoc />
        public override string CommandText { get; set; }

        /// <summary>Accepted and ignored: writes wait for their commit, reads do not block.</summary>
        public override int CommandTimeout { get; set; }

        /// <summary>Only <see cref="System.Data.CommandType.Text"/> is supported.</summary>
        public override CommandType CommandType
        {
            get { return CommandType.Text; }
            set
            {
                if (value != CommandType.Text)
                    throw new NotSupportedException("SingleWriter: only CommandType.Text is supported.");
            }
        }

        /// <inheritdoc />
        public override bool DesignTimeVisible { get; set; }

        /// <inheritdoc />
        public override UpdateRowSource UpdatedRowSource { get; set; }

        /// <summary>The connection (a <see cref="SingleWriterConnection"/>).</summary>
        public new SingleWriterConnection Connection
        {
            get { return _connection; }
            set { _connection = value; }
        }

        /// <inheritdoc />
        protected override DbConnection DbConnection
        {
            get { return _connection; }
            set
            {
                if (value != null && !(value is SingleWriterConnection))
                    throw new ArgumentException("SingleWriter: the connection must be a SingleWriterConnection.");
                _connection = (SingleWriterConnection)value;
            }
        }

        /// <summary>The parameters.</summary>
        public new SingleWriterParameterCollection Parameters { get { return _parameters; } }

        /// <inheritdoc />
        protected override DbParameterCollection DbParameterCollection { get { return _parameters; } }

        /// <summary>Accepted for ADO.NET's sake; commands run inside the connection's open
        /// transaction whether or not it is set here.</summary>
        protected override DbTransaction DbTransaction { get; set; }

        /// <summary>Does nothing: the library prepares and caches statements itself.</summary>
        public override void Prepare()
        {
        }

        /// <summary>Does nothing: a submitted write is not withdrawn.</summary>
        public override void Cancel()
        {
        }

        /// <inheritdoc />
        protected override DbParameter CreateDbParameter()
        {
            return new SingleWriterParameter();
        }

        private SqliteSingleWriter Writer
        {
            get
            {
                if (_connection == null) throw new InvalidOperationException("SingleWriter: the command has no connection.");
                return _connection.OpenWriter;
            }
        }

        /// <summary>Runs the command as a write and returns the rows it changed.</summary>
        public override int ExecuteNonQuery()
        {
            var w = Writer;
            var ps = _parameters.ToBinding();
            var tx = _connection.ActiveTransaction;
            if (tx != null)
                return (int)((WriteResult)tx.Run(t => t.ExecuteForResult(CommandText, ps))).RowsAffected;
            return (int)w.Write(CommandText, ps).RowsAffected;
        }

        /// <summary>Queues the write; the task completes with the rows changed once it committed.
        /// No thread waits meanwhile. Cancelling after submission stops the wait, not the write.</summary>
        public override Task<int> ExecuteNonQueryAsync(CancellationToken cancellationToken)
        {
            if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<int>(cancellationToken);
            try
            {
                var w = Writer;
                if (_connection.ActiveTransaction != null) return Task.FromResult(ExecuteNonQuery());
                return w.WriteAsync(CommandText, _parameters.ToBinding(), cancellationToken);
            }
            catch (Exception e)
            {
                return Task.FromException<int>(e);
            }
        }

        /// <summary>The first column of the first row: null when there is no row,
        /// <see cref="DBNull.Value"/> when it is NULL.</summary>
        public override object ExecuteScalar()
        {
            using (var r = ExecuteDbDataReader(CommandBehavior.Default))
            {
                if (!r.Read() || r.FieldCount == 0) return null;
                return r.GetValue(0);
            }
        }

        /// <inheritdoc />
        protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior)
        {
            var w = Writer;
            var ps = _parameters.ToBinding();
            var sql = CommandText;
            var tx = _connection.ActiveTransaction;
            Rows rows;
            if (tx != null)
            {
                rows = (Rows)tx.Run(t => t.QueryRows(sql, ps));
            }
            else
            {
                try
                {
                    rows = w.QueryRows(sql, ps);
                }
                catch (SingleWriterException e) when (e.Status == SingleWriterStatus.ReadOnly)
                {
                    // It writes (INSERT ... RETURNING): run it on the writer lane, in a transaction of its own.
                    rows = w.ExecuteInTransactionAsync(t => t.QueryRows(sql, ps)).GetAwaiter().GetResult();
                }
            }
            return new SingleWriterDataReader(rows, (behavior & CommandBehavior.CloseConnection) != 0 ? _connection : null);
        }
    }

    /// <summary>A command parameter. The value decides the SQLite type; <see cref="DbType"/> is kept
    /// for ADO.NET's sake.</summary>
    public sealed class SingleWriterParameter : DbParameter
    {
        private string _name = "";

        /// <summary>An unnamed parameter with no value.</summary>
        public SingleWriterParameter()
        {
            DbType = DbType.String;
            Direction = ParameterDirection.Input;
            SourceColumn = "";
        }

        /// <summary>A named parameter with a value.</summary>
        public SingleWriterParameter(string name, object value) : this()
        {
            ParameterName = name;
            Value = value;
        }

        /// <inheritdoc />
        public override DbType DbType { get; set; }

        /// <summary>Only <see cref="ParameterDirection.Input"/> is supported.</summary>
        public override ParameterDirection Direction
        {
            get { return ParameterDirection.Input; }
            set
            {
                if (value != ParameterDirection.Input)
                    throw new NotSupportedException("SingleWriter: only input parameters are supported.");
            }
        }

        /// <inheritdoc />
        public override bool IsNullable { get; set; }

        /// <summary>The name, with or without its prefix (<c>@id</c> or <c>id</c>).</summary>
        public override string ParameterName
        {
            get { return _name; }
            set { _name = value ?? ""; }
        }

        /// <inheritdoc />
        public override int Size { get; set; }

        /// <inheritdoc />
        public override string SourceColumn { get; set; }

        /// <inheritdoc />
        public override bool SourceColumnNullMapping { get; set; }

        /// <inheritdoc />
        public override DataRowVersion SourceVersion { get; set; }

        /// <inheritdoc />
        public override object Value { get; set; }

        /// <inheritdoc />
        public override void ResetDbType()
        {
            DbType = DbType.String;
        }
    }

    /// <summary>The parameters of a <see cref="SingleWriterCommand"/>.</summary>
    public sealed class SingleWriterParameterCollection : DbParameterCollection
    {
        private readonly List<SingleWriterParameter> _items = new List<SingleWriterParameter>();

        /// <summary>Adds a named parameter with a value.</summary>
        public SingleWriterParameter AddWithValue(string name, object value)
        {
            var p = new SingleWriterParameter(name, value);
            _items.Add(p);
            return p;
        }

        /// <summary>What the writer binds: a name-to-value dictionary when the parameters have
        /// names, an object[] for ?1, ?2... when none has, null when there are none.</summary>
        internal object ToBinding()
        {
            if (_items.Count == 0) return null;
            int named = 0;
            foreach (var p in _items)
                if (p.ParameterName.Length > 0) named++;
            if (named == 0)
            {
                var values = new object[_items.Count];
                for (int i = 0; i < values.Length; i++) values[i] = Plain(_items[i].Value);
                return values;
            }
            if (named != _items.Count)
                throw new ArgumentException("SingleWriter: either every parameter has a name or none has.");
            var dict = new Dictionary<string, object>(_items.Count, StringComparer.Ordinal);
            foreach (var p in _items) dict[p.ParameterName] = Plain(p.Value);
            return dict;
        }

        private static object Plain(object v)
        {
            return v is DBNull ? null : v;
        }

        private static SingleWriterParameter Cast(object value)
        {
            var p = value as SingleWriterParameter;
            if (p == null) throw new InvalidCastException("SingleWriter: parameters must be SingleWriterParameter objects.");
            return p;
        }

        /// <inheritdoc />
        public override int Count { get { return _items.Count; } }

        /// <inheritdoc />
        public override object SyncRoot { get { return ((ICollection)_items).SyncRoot; } }

        /// <inheritdoc />
        public override int Add(object value)
        {
            _items.Add(Cast(value));
            return _items.Count - 1;
        }

        /// <inheritdoc />
        public override void AddRange(Array values)
        {
            foreach (var v in values) Add(v);
        }

        /// <inheritdoc />
        public override void Clear() { _items.Clear(); }

        /// <inheritdoc />
        public override bool Contains(object value) { return IndexOf(value) >= 0; }

        /// <inheritdoc />
        public override bool Contains(string value) { return IndexOf(value) >= 0; }

        /// <inheritdoc />
        public override void CopyTo(Array array, int index) { ((ICollection)_items).CopyTo(array, index); }

        /// <inheritdoc />
        public override IEnumerator GetEnumerator() { return _items.GetEnumerator(); }

        /// <inheritdoc />
        protected override DbParameter GetParameter(int index) { return _items[index]; }

        /// <inheritdoc />
        protected override DbParameter GetParameter(string parameterName)
        {
            int i = IndexOf(parameterName);
            if (i < 0) throw new IndexOutOfRangeException("SingleWriter: no parameter named " + parameterName);
            return _items[i];
        }

        /// <inheritdoc />
        public override int IndexOf(object value)
        {
            var p = value as SingleWriterParameter;
            return p == null ? -1 : _items.IndexOf(p);
        }

        /// <summary>The index of the parameter with this name (prefix optional), or -1.</summary>
        public override int IndexOf(string parameterName)
        {
            if (parameterName == null) return -1;
            string bare = Bare(parameterName);
            for (int i = 0; i < _items.Count; i++)
                if (string.Equals(Bare(_items[i].ParameterName), bare, StringComparison.OrdinalIgnoreCase))
                    return i;
            return -1;
        }

        private static string Bare(string name)
        {
            return name.Length > 0 && (name[0] == '@' || name[0] == ':' || name[0] == '$') ? name.Substring(1) : name;
        }

        /// <inheritdoc />
        public override void Insert(int index, object value) { _items.Insert(index, Cast(value)); }

        /// <inheritdoc />
        public override void Remove(object value) { _items.Remove(Cast(value)); }

        /// <inheritdoc />
        public override void RemoveAt(int index) { _items.RemoveAt(index); }

        /// <inheritdoc />
        public override void RemoveAt(string parameterName)
        {
            int i = IndexOf(parameterName);
            if (i >= 0) _items.RemoveAt(i);
        }

        /// <inheritdoc />
        protected override void SetParameter(int index, DbParameter value) { _items[index] = Cast(value); }

        /// <inheritdoc />
        protected override void SetParameter(string parameterName, DbParameter value)
        {
            int i = IndexOf(parameterName);
            if (i < 0) throw new IndexOutOfRangeException("SingleWriter: no parameter named " + parameterName);
            _items[i] = Cast(value);
        }
    }
}
