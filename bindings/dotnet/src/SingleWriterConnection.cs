using System;
using System.Collections.Concurrent;
using System.Data;
using System.Data.Common;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace SingleWriter
{
    /// <summary>
    /// An ADO.NET connection over the database's one writer, so that plain ADO.NET code and Dapper
    /// run unchanged: commands that change data go through the writer lane (group commit, each
    /// write isolated from its neighbours' failures), commands that read go through the read-only
    /// pool, and <see cref="DbConnection.BeginTransaction()"/> holds the writer lane for a
    /// transaction. <see cref="Open"/> takes a handle on the writer of the connection string's
    /// database (<see cref="SqliteSingleWriter.GetOrCreate"/>); <see cref="Close"/> releases it, so
    /// connections are cheap and any number may be open at once.
    /// </summary>
    public sealed class SingleWriterConnection : DbConnection
    {
        private string _connectionString;
        private SqliteSingleWriter _writer;
        private readonly bool _ownsWriter;
        private ConnectionState _state = ConnectionState.Closed;
        private SingleWriterDbTransaction _transaction;

        /// <summary>A closed connection with no connection string.</summary>
        public SingleWriterConnection() : this((string)null)
        {
        }

        /// <summary>A closed connection to the database named by <paramref name="connectionString"/>
        /// (a path, a <c>file:</c> URI, or <c>Data Source=...;Key=Value</c> pairs).</summary>
        public SingleWriterConnection(string connectionString)
        {
            _connectionString = connectionString ?? "";
            _ownsWriter = true;
        }

        /// <summary>An open connection over a writer the caller owns: closing the connection leaves
        /// the writer open.</summary>
        public SingleWriterConnection(SqliteSingleWriter writer)
        {
            if (writer == null) throw new ArgumentNullException("writer");
            _writer = writer;
            _connectionString = writer.ConnectionString;
            _ownsWriter = false;
            _state = ConnectionState.Open;
        }

        /// <inheritdoc />
        public override string ConnectionString
        {
            get { return _connectionString; }
            set
            {
                if (_state != ConnectionState.Closed)
                    throw new InvalidOperationException("SingleWriter: the connection string of an open connection cannot change.");
                _connectionString = value ?? "";
            }
        }

        /// <summary>Always <c>main</c>.</summary>
        public override string Database { get { return "main"; } }

        /// <summary>The connection string.</summary>
        public override string DataSource { get { return _connectionString; } }

        /// <summary>The native library's version.</summary>
        public override string ServerVersion { get { return SqliteSingleWriter.NativeVersion; } }

        /// <inheritdoc />
        public override ConnectionState State { get { return _state; } }

        /// <summary>The writer this connection uses (null while closed).</summary>
        public SqliteSingleWriter Writer { get { return _writer; } }

        internal SingleWriterDbTransaction ActiveTransaction
        {
            get { return _transaction; }
        }

        internal SqliteSingleWriter OpenWriter
        {
            get
            {
                if (_state != ConnectionState.Open || _writer == null)
                    throw new InvalidOperationException("SingleWriter: the connection is not open.");
                return _writer;
            }
        }

        /// <inheritdoc />
        public override void Open()
        {
            if (_state == ConnectionState.Open) return;
            if (string.IsNullOrEmpty(_connectionString))
                throw new InvalidOperationException("SingleWriter: the connection has no connection string.");
            _writer = SqliteSingleWriter.GetOrCreate(_connectionString);
            _state = ConnectionState.Open;
        }

        /// <inheritdoc />
        public override Task OpenAsync(CancellationToken cancellationToken)
        {
            if (cancellationToken.IsCancellationRequested) return Task.FromCanceled(cancellationToken);
            try
            {
                Open();
                return Task.CompletedTask;
            }
            catch (Exception e)
            {
                return Task.FromException(e);
            }
        }

        /// <summary>Rolls back an open transaction and releases this connection's writer handle
        /// (the last handle on a database commits every accepted write and closes it).</summary>
        public override void Close()
        {
            if (_state == ConnectionState.Closed) return;
            var tx = _transaction;
            if (tx != null) tx.Rollback();
            if (_ownsWriter && _writer != null) _writer.Dispose();
            if (_ownsWriter) _writer = null;
            _state = ConnectionState.Closed;
        }

        /// <summary>Not supported: a connection is bound to one database file.</summary>
        public override void ChangeDatabase(string databaseName)
        {
            throw new NotSupportedException("SingleWriter: a connection is bound to one database file.");
        }

        /// <summary>
        /// Starts a transaction that holds the writer lane until it commits or rolls back (BEGIN
        /// IMMEDIATE). Its commands run inside it, in order, and see its own writes. Every level
        /// is served as <see cref="IsolationLevel.Serializable"/>: one writer orders all
        /// transactions, and reads outside see only committed data. While it is open, writes from
        /// other connections wait: keep it short.
        /// </summary>
        protected override DbTransaction BeginDbTransaction(IsolationLevel isolationLevel)
        {
            var w = OpenWriter;
            if (_transaction != null)
                throw new InvalidOperationException("SingleWriter: the connection already has an open transaction.");
            if (isolationLevel == IsolationLevel.Chaos)
                throw new ArgumentException("SingleWriter: IsolationLevel.Chaos is not supported.");
            _transaction = new SingleWriterDbTransaction(this, w);
            return _transaction;
        }

        internal void TransactionEnded(SingleWriterDbTransaction tx)
        {
            if (ReferenceEquals(_transaction, tx)) _transaction = null;
        }

        /// <summary>A new command on this connection.</summary>
        public new SingleWriterCommand CreateCommand()
        {
            return new SingleWriterCommand { Connection = this, Transaction = _transaction };
        }

        /// <inheritdoc />
        protected override DbCommand CreateDbCommand()
        {
            return CreateCommand();
        }

        /// <inheritdoc />
        protected override void Dispose(bool disposing)
        {
            if (disposing) Close();
            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// A transaction of a <see cref="SingleWriterConnection"/>. The library runs a transaction as a
    /// callback on the writer lane; this class keeps that callback running on a thread-pool thread
    /// and hands it the commands of the connection one at a time, so ADO.NET code can drive the
    /// transaction call by call. Disposing without <see cref="Commit"/> rolls back.
    /// </summary>
    public sealed class SingleWriterDbTransaction : DbTransaction
    {
        private readonly SingleWriterConnection _connection;
        private readonly BlockingCollection<Request> _requests = new BlockingCollection<Request>();
        private readonly Task _done;
        private int _finished;

        private sealed class Request
        {
            public Func<SingleWriterTransaction, object> Work;
            public bool End;
            public bool Commit;
            public object Result;
            public ExceptionDispatchInfo Error;
            public readonly ManualResetEventSlim Done = new ManualResetEventSlim();
        }

        internal SingleWriterDbTransaction(SingleWriterConnection connection, SqliteSingleWriter writer)
        {
            _connection = connection;
            var started = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            _done = writer.ExecuteInTransactionAsync(tx =>
            {
                started.TrySetResult(true);
                foreach (var req in _requests.GetConsumingEnumerable())
                {
                    if (req.End)
                    {
                        if (!req.Commit) tx.Rollback();
                        return;
                    }
                    try
                    {
                        req.Result = req.Work(tx);
                    }
                    catch (Exception e)
                    {
                        req.Error = ExceptionDispatchInfo.Capture(e);
                    }
                    req.Done.Set();
                }
                tx.Rollback();
            });
            if (Task.WaitAny(started.Task, _done) == 1 || !started.Task.IsCompleted)
            {
                _done.GetAwaiter().GetResult(); // throws why the transaction did not start
                throw new InvalidOperationException("SingleWriter: the transaction ended before it started.");
            }
        }

        /// <inheritdoc />
        protected override DbConnection DbConnection { get { return _connection; } }

        /// <summary>Always <see cref="IsolationLevel.Serializable"/>.</summary>
        public override IsolationLevel IsolationLevel { get { return IsolationLevel.Serializable; } }

        /// <summary>Runs <paramref name="work"/> inside the transaction, on the thread holding it.</summary>
        internal object Run(Func<SingleWriterTransaction, object> work)
        {
            if (Volatile.Read(ref _finished) != 0)
                throw new InvalidOperationException("SingleWriter: the transaction has already committed or rolled back.");
            var req = new Request { Work = work };
            _requests.Add(req);
            req.Done.Wait();
            if (req.Error != null) req.Error.Throw();
            return req.Result;
        }

        /// <summary>Commits and returns once the commit is durable in the database.</summary>
        public override void Commit()
        {
            Finish(true);
        }

        /// <summary>Rolls back everything the transaction wrote.</summary>
        public override void Rollback()
        {
            Finish(false);
        }

        private void Finish(bool commit)
        {
            if (Interlocked.Exchange(ref _finished, 1) != 0)
                throw new InvalidOperationException("SingleWriter: the transaction has already committed or rolled back.");
            _requests.Add(new Request { End = true, Commit = commit });
            _requests.CompleteAdding();
            try
            {
                _done.GetAwaiter().GetResult();
            }
            finally
            {
                _connection.TransactionEnded(this);
            }
        }

        /// <inheritdoc />
        protected override void Dispose(bool disposing)
        {
            if (disposing && Volatile.Read(ref _finished) == 0) Finish(false);
            base.Dispose(disposing);
        }
    }

    /// <summary>The provider factory, for code that creates ADO.NET objects through
    /// <see cref="DbProviderFactory"/>.</summary>
    public sealed class SingleWriterFactory : DbProviderFactory
    {
        /// <summary>The one instance.</summary>
        public static readonly SingleWriterFactory Instance = new SingleWriterFactory();

        private SingleWriterFactory()
        {
        }

        /// <inheritdoc />
        public override DbConnection CreateConnection() { return new SingleWriterConnection(); }

        /// <inheritdoc />
        public override DbCommand CreateCommand() { return new SingleWriterCommand(); }

        /// <inheritdoc />
        public override DbParameter CreateParameter() { return new SingleWriterParameter(); }
    }
}
