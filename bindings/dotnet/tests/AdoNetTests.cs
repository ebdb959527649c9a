// The ADO.NET provider, driven the way plain ADO.NET code and Dapper drive a provider. Dapper itself
// cannot be installed here (no NuGet registry), so MiniDapper below makes Dapper's calls in
// Dapper's order: CreateCommand, CommandText/CommandType/Transaction, one CreateParameter per
// property the SQL uses (ParameterName without prefix, Value or DBNull.Value, DbType, Size),
// ExecuteNonQuery / ExecuteNonQueryAsync / ExecuteScalar / ExecuteReader with
// SequentialAccess|SingleResult, then FieldCount, GetName, GetFieldType and the indexer per
// column, DBNull checks and Convert.ChangeType for members of another type.
using System;
using System.Collections.Generic;
using System.Data;
using System.Data.Common;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;

namespace SingleWriter.Tests
{
    internal static class MiniDapper
    {
        private static DbCommand Command(DbConnection conn, string sql, object param, DbTransaction tx)
        {
            var cmd = conn.CreateCommand();
            cmd.CommandText = sql;
            cmd.CommandType = CommandType.Text;
            if (tx != null) cmd.Transaction = tx;
            if (param == null) return cmd;
            foreach (var p in param.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (sql.IndexOf("@" + p.Name, StringComparison.OrdinalIgnoreCase) < 0) continue; // Dapper's filter
                var dp = cmd.CreateParameter();
                dp.ParameterName = p.Name;
                var v = p.GetValue(param, null);
                if (v is Enum) v = Convert.ChangeType(v, Enum.GetUnderlyingType(v.GetType()));
                dp.Value = v ?? DBNull.Value;
                dp.Direction = ParameterDirection.Input;
                if (v is string) { dp.DbType = DbType.String; dp.Size = ((string)v).Length <= 4000 ? 4000 : -1; }
                else if (v is int) dp.DbType = DbType.Int32;
                else if (v is DateTime) dp.DbType = DbType.DateTime;
                cmd.Parameters.Add(dp);
            }
            return cmd;
        }

        private static bool Open(DbConnection conn)
        {
            if (conn.State == ConnectionState.Open) return false;
            conn.Open();
            return true;
        }

        public static int Execute(DbConnection conn, string sql, object param = null, DbTransaction tx = null)
        {
            bool opened = Open(conn);
            try
            {
                using (var cmd = Command(conn, sql, param, tx)) return cmd.ExecuteNonQuery();
            }
            finally
            {
                if (opened) conn.Close();
            }
        }

        public static async Task<int> ExecuteAsync(DbConnection conn, string sql, object param = null)
        {
            using (var cmd = Command(conn, sql, param, null)) return await cmd.ExecuteNonQueryAsync(CancellationToken.None);
        }

        public static T ExecuteScalar<T>(DbConnection conn, string sql, object param = null, DbTransaction tx = null)
        {
            using (var cmd = Command(conn, sql, param, tx))
            {
                object v = cmd.ExecuteScalar();
                if (v == null || v is DBNull) return default(T);
                var t = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
                return (T)Convert.ChangeType(v, t);
            }
        }

        public static List<T> Query<T>(DbConnection conn, string sql, object param = null, DbTransaction tx = null)
            where T : new()
        {
            bool opened = Open(conn);
            var behavior = CommandBehavior.SequentialAccess | CommandBehavior.SingleResult |
                           (opened ? CommandBehavior.CloseConnection : CommandBehavior.Default);
            var result = new List<T>();
            using (var cmd = Command(conn, sql, param, tx))
            using (var reader = cmd.ExecuteReader(behavior))
            {
                var setters = new PropertyInfo[reader.FieldCount];
                for (int i = 0; i < reader.FieldCount; i++)
                {
                    setters[i] = typeof(T).GetProperty(reader.GetName(i),
                        BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
                    var ft = reader.GetFieldType(i); // Dapper hashes these into its deserializer cache key
                    if (ft == null) throw new InvalidOperationException("GetFieldType returned null");
                }
                while (reader.Read())
                {
                    var item = new T();
                    for (int i = 0; i < setters.Length; i++)
                    {
                        if (setters[i] == null) continue;
                        object v = reader[i];
                        if (v is DBNull) continue;
                        var target = Nullable.GetUnderlyingType(setters[i].PropertyType) ?? setters[i].PropertyType;
                        if (target.IsEnum) v = Enum.ToObject(target, v);
                        else if (target == typeof(Guid)) v = reader.GetGuid(i);
                        else if (target == typeof(DateTime)) v = reader.GetDateTime(i);
                        else if (!target.IsInstanceOfType(v)) v = Convert.ChangeType(v, target);
                        setters[i].SetValue(item, v, null);
                    }
                    result.Add(item);
                }
            }
            return result;
        }
    }

    public enum Kind
    {
        Plain = 0,
        Pinned = 3
    }

    public sealed class Note
    {
        public int Id { get; set; }
        public string Title { get; set; }
        public int? Stars { get; set; }
        public DateTime Created { get; set; }
        public Guid Key { get; set; }
        public decimal Price { get; set; }
        public bool Done { get; set; }
        public byte[] Data { get; set; }
        public Kind Kind { get; set; }
    }

    [TestClass]
    public static class AdoNetTests
    {
        private const string Schema =
            "CREATE TABLE Notes (Id INTEGER PRIMARY KEY, Title TEXT NOT NULL UNIQUE, Stars INTEGER, Created TEXT, " +
            "Key TEXT, Price TEXT, Done INTEGER, Data BLOB, Kind INTEGER)";

        private const string Insert =
            "INSERT INTO Notes (Title, Stars, Created, Key, Price, Done, Data, Kind) " +
            "VALUES (@Title, @Stars, @Created, @Key, @Price, @Done, @Data, @Kind)";

        private static async Task WithConnection(Func<TempDb, SingleWriterConnection, Task> body)
        {
            using (var db = new TempDb())
            using (var conn = new SingleWriterConnection(db.ConnectionString))
            {
                conn.Open();
                MiniDapper.Execute(conn, Schema);
                await body(db, conn);
            }
        }

        public static Task PlainAdoNet_CommandsParametersAndReadersByOrdinalAndName()
        {
            return WithConnection((db, conn) =>
            {
                using (var cmd = conn.CreateCommand())
                {
                    cmd.CommandText = "INSERT INTO Notes (Title, Stars) VALUES (@title, @stars)";
                    cmd.Parameters.AddWithValue("@title", "first");
                    cmd.Parameters.AddWithValue("stars", 5);
                    Assert.Equal(1, cmd.ExecuteNonQuery(), "rows affected");
                    cmd.Parameters.Clear();
                    cmd.Parameters.AddWithValue("@title", "second");
                    cmd.Parameters.AddWithValue("@stars", DBNull.Value);
                    Assert.Equal(1, cmd.ExecuteNonQuery(), "rows affected");
                }
                using (var cmd = conn.CreateCommand())
                {
                    cmd.CommandText = "SELECT Id, Title, Stars FROM Notes ORDER BY Id";
                    using (var r = cmd.ExecuteReader())
                    {
                        Assert.True(r.HasRows, "HasRows");
                        Assert.Equal(3, r.FieldCount, "FieldCount");
                        Assert.True(r.Read(), "first row");
                        Assert.Equal(1L, r.GetInt64(0), "Id by ordinal");
                        Assert.Equal("first", r.GetString(r.GetOrdinal("Title")), "Title by name");
                        Assert.Equal(5, r.GetInt32(r.GetOrdinal("stars")), "Stars by name, ignoring case");
                        Assert.Equal((object)5L, r["Stars"], "indexer by name");
                        Assert.True(r.Read(), "second row");
                        Assert.True(r.IsDBNull(2), "NULL is DBNull");
                        Assert.True(r[2] is DBNull, "indexer gives DBNull.Value");
                        Assert.Equal(typeof(long), r.GetFieldType(2), "field type of an all-but-one NULL column");
                        Assert.Equal(null, r.GetFieldValue<int?>(2), "GetFieldValue<int?> of NULL");
                        Assert.False(r.Read(), "no third row");
                        Assert.Throws<IndexOutOfRangeException>(() => r.GetOrdinal("nope"));
                    }
                }
                using (var cmd = new SingleWriterCommand("SELECT count(*) FROM Notes WHERE Stars IS NULL", conn))
                    Assert.Equal((object)1L, cmd.ExecuteScalar(), "ExecuteScalar");
                return Task.CompletedTask;
            });
        }

        public static Task DapperPatterns_ParameterObjectsAndTypedMapping()
        {
            return WithConnection((db, conn) =>
            {
                var created = new DateTime(2024, 5, 17, 10, 30, 0);
                var key = Guid.NewGuid();
                MiniDapper.Execute(conn, Insert, new
                {
                    Title = "a", Stars = (int?)4, Created = created, Key = key, Price = 12.25m, Done = true,
                    Data = new byte[] { 1, 2, 3 }, Kind = Kind.Pinned
                });
                MiniDapper.Execute(conn, Insert, new
                {
                    Title = "b", Stars = (int?)null, Created = created, Key = key, Price = 0m, Done = false,
                    Data = (byte[])null, Kind = Kind.Plain
                });
                var notes = MiniDapper.Query<Note>(conn, "SELECT * FROM Notes ORDER BY Id");
                Assert.Equal(2, notes.Count, "rows");
                var a = notes[0];
                Assert.Equal(1, a.Id, "Id (long column into int)");
                Assert.Equal((int?)4, a.Stars, "Stars");
                Assert.Equal(created, a.Created, "Created");
                Assert.Equal(key, a.Key, "Key");
                Assert.Equal(12.25m, a.Price, "Price");
                Assert.True(a.Done, "Done");
                Assert.SequenceEqual(new byte[] { 1, 2, 3 }, a.Data, "Data");
                Assert.Equal(Kind.Pinned, a.Kind, "Kind");
                Assert.Equal((int?)null, notes[1].Stars, "NULL into int?");
                Assert.Equal(null, notes[1].Data, "NULL blob");
                var one = MiniDapper.Query<Note>(conn, "SELECT Id, Title FROM Notes WHERE Title = @Title", new { Title = "b" });
                Assert.Equal(1, one.Count, "filtered by a parameter object");
                Assert.Equal(2, one[0].Id, "Id");
                Assert.Equal(2L, MiniDapper.ExecuteScalar<long>(conn, "SELECT count(*) FROM Notes"), "ExecuteScalar<long>");
                Assert.Equal((int?)null, MiniDapper.ExecuteScalar<int?>(conn, "SELECT Stars FROM Notes WHERE Title = 'b'"), "ExecuteScalar of NULL");
                Assert.Equal(0, MiniDapper.ExecuteScalar<int>(conn, "SELECT Stars FROM Notes WHERE Title = 'zzz'"), "ExecuteScalar of no row");
                return Task.CompletedTask;
            });
        }

        public static Task DapperPatterns_ClosedConnectionIsOpenedAndClosedAgain()
        {
            using (var db = new TempDb())
            {
                var conn = new SingleWriterConnection(db.ConnectionString);
                MiniDapper.Execute(conn, Schema);
                Assert.Equal(ConnectionState.Closed, conn.State, "closed after Execute");
                MiniDapper.Execute(conn, "INSERT INTO Notes (Title) VALUES (@Title)", new { Title = "x" });
                var notes = MiniDapper.Query<Note>(conn, "SELECT Id, Title FROM Notes");
                Assert.Equal(ConnectionState.Closed, conn.State, "CommandBehavior.CloseConnection closed it");
                Assert.Equal("x", notes.Single().Title, "row");
                conn.Dispose();
            }
            return Task.CompletedTask;
        }

        public static Task Transactions_CommitRollbackOwnWritesAndOthersWait()
        {
            return WithConnection(async (db, conn) =>
            {
                using (var tx = conn.BeginTransaction())
                {
                    Assert.Equal(IsolationLevel.Serializable, tx.IsolationLevel, "isolation");
                    MiniDapper.Execute(conn, "INSERT INTO Notes (Title) VALUES (@Title)", new { Title = "t1" }, tx);
                    Assert.Equal(1L, MiniDapper.ExecuteScalar<long>(conn, "SELECT count(*) FROM Notes", null, tx), "tx sees its own write");
                    using (var other = new SingleWriterConnection(db.ConnectionString))
                    {
                        other.Open();
                        Assert.Equal(0L, MiniDapper.ExecuteScalar<long>(other, "SELECT count(*) FROM Notes"), "others do not see it yet");
                        var blocked = Task.Run(() => MiniDapper.Execute(other, "INSERT INTO Notes (Title) VALUES ('outside')"));
                        await Task.Delay(100);
                        Assert.False(blocked.IsCompleted, "a write from another connection waits for the transaction");
                        var e = Assert.Throws<SingleWriterException>(() =>
                            MiniDapper.Execute(conn, "INSERT INTO Notes (Title) VALUES (@Title)", new { Title = "t1" }, tx));
                        Assert.Equal(SingleWriterStatus.Constraint, e.Status, "a failing statement fails alone");
                        MiniDapper.Execute(conn, "INSERT INTO Notes (Title) VALUES (@Title)", new { Title = "t2" }, tx);
                        tx.Commit();
                        await blocked;
                    }
                }
                Assert.Equal(3L, MiniDapper.ExecuteScalar<long>(conn, "SELECT count(*) FROM Notes"), "committed + the waiting write");
                using (var tx = conn.BeginTransaction())
                {
                    MiniDapper.Execute(conn, "DELETE FROM Notes", null, tx);
                    tx.Rollback();
                }
                using (var tx = conn.BeginTransaction())
                {
                    MiniDapper.Execute(conn, "DELETE FROM Notes", null, tx);
                    // disposed without Commit: rolled back
                }
                Assert.Equal(3L, MiniDapper.ExecuteScalar<long>(conn, "SELECT count(*) FROM Notes"), "rollbacks kept nothing");
            });
        }

        public static Task ExecuteNonQueryAsync_FromManyTasks_EveryRowPresent()
        {
            return WithConnection(async (db, conn) =>
            {
                var tasks = new List<Task<int>>();
                for (int t = 0; t < 16; t++)
                {
                    int tt = t;
                    tasks.Add(Task.Run(async () =>
                    {
                        int n = 0;
                        using (var c = new SingleWriterConnection(db.ConnectionString))
                        {
                            c.Open();
                            for (int i = 0; i < 50; i++)
                                n += await MiniDapper.ExecuteAsync(c, "INSERT INTO Notes (Title) VALUES (@Title)",
                                    new { Title = "t" + tt + "-" + i });
                        }
                        return n;
                    }));
                }
                var counts = await Task.WhenAll(tasks);
                Assert.Equal(800, counts.Sum(), "acknowledged");
                Assert.Equal(800L, MiniDapper.ExecuteScalar<long>(conn, "SELECT count(*) FROM Notes"), "rows");
            });
        }

        public static Task AsyncApis_ExecuteReaderAsyncReadAsyncExecuteScalarAsync()
        {
            return WithConnection(async (db, conn) =>
            {
                MiniDapper.Execute(conn, "INSERT INTO Notes (Title, Stars) VALUES ('a', 1), ('b', 2)");
                using (var cmd = conn.CreateCommand())
                {
                    cmd.CommandText = "SELECT Title FROM Notes WHERE Stars >= @min ORDER BY Id";
                    cmd.Parameters.AddWithValue("@min", 1);
                    var titles = new List<string>();
                    using (var r = await cmd.ExecuteReaderAsync(CommandBehavior.SequentialAccess, CancellationToken.None))
                        while (await r.ReadAsync(CancellationToken.None))
                            titles.Add(await r.GetFieldValueAsync<string>(0, CancellationToken.None));
                    Assert.SequenceEqual(new[] { "a", "b" }, titles, "rows");
                    cmd.CommandText = "SELECT sum(Stars) FROM Notes WHERE Stars >= @min";
                    Assert.Equal((object)3L, await cmd.ExecuteScalarAsync(CancellationToken.None), "ExecuteScalarAsync");
                }
            });
        }

        public static Task InsertReturning_ThroughExecuteScalarRunsOnTheWriter()
        {
            return WithConnection((db, conn) =>
            {
                long id = MiniDapper.ExecuteScalar<long>(conn, "INSERT INTO Notes (Title) VALUES (@Title) RETURNING Id", new { Title = "r" });
                Assert.Equal(1L, id, "RETURNING id");
                Assert.Equal(1L, MiniDapper.ExecuteScalar<long>(conn, "SELECT count(*) FROM Notes"), "row written");
                return Task.CompletedTask;
            });
        }

        public static Task PositionalParameters_SchemaTableAndFactory()
        {
            return WithConnection((db, conn) =>
            {
                var f = SingleWriterFactory.Instance;
                using (var cmd = f.CreateCommand())
                {
                    cmd.Connection = conn;
                    cmd.CommandText = "INSERT INTO Notes (Title, Stars) VALUES (?, ?)";
                    var p1 = f.CreateParameter();
                    p1.Value = "pos";
                    var p2 = f.CreateParameter();
                    p2.Value = 2;
                    cmd.Parameters.Add(p1);
                    cmd.Parameters.Add(p2);
                    Assert.Equal(1, cmd.ExecuteNonQuery(), "positional insert");
                }
                using (var cmd = conn.CreateCommand())
                {
                    cmd.CommandText = "SELECT Id, Title, Stars, Data FROM Notes";
                    using (var r = cmd.ExecuteReader())
                    {
                        var schema = r.GetSchemaTable();
                        Assert.Equal(4, schema.Rows.Count, "schema rows");
                        Assert.Equal("Title", (string)schema.Rows[1]["ColumnName"], "ColumnName");
                        Assert.Equal(typeof(string), (Type)schema.Rows[1]["DataType"], "DataType");
                        Assert.Equal("INTEGER", r.GetDataTypeName(2), "DataTypeName");
                        Assert.Equal(typeof(object), r.GetFieldType(3), "an all-NULL column");
                        Assert.True(r.Read(), "row");
                        var values = new object[4];
                        Assert.Equal(4, r.GetValues(values), "GetValues");
                        Assert.Equal((object)"pos", values[1], "value");
                        Assert.True(values[3] is DBNull, "DBNull in GetValues");
                    }
                }
                using (var cmd = conn.CreateCommand())
                {
                    cmd.CommandText = "INSERT INTO Notes (Title) VALUES (@a)";
                    cmd.Parameters.Add(new SingleWriterParameter("@a", "x"));
                    cmd.Parameters.Add(new SingleWriterParameter { Value = 1 });
                    Assert.Throws<ArgumentException>(() => cmd.ExecuteNonQuery());
                }
                return Task.CompletedTask;
            });
        }
    }
}
