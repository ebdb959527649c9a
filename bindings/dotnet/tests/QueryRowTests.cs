// QueryRow and typed, NULL-aware reads of one row.
using System;
using System.Threading.Tasks;

namespace SingleWriter.Tests
{
    [TestClass]
    public static class QueryRowTests
    {
        public static async Task QueryRow_MapsTypedNullableValues_AndReportsNoRow()
        {
            using (var db = new TempDb())
            {
                var w = db.Open();
                try
                {
                    await w.WriteAsync("CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT, email TEXT, born TEXT, score REAL)");
                    await w.WriteAsync("INSERT INTO u VALUES (1, 'ada', NULL, '1990-04-01 12:30:00', 9.5)");
                    var u = w.QueryRow("SELECT name, email, born, score FROM u WHERE id = @id", new { id = 1 },
                        r => Tuple.Create(r.Get<string>("name"), r.Get<string>("email"), r.Get<DateTime?>("born"), r.Get<decimal>("score")));
                    Assert.Equal("ada", u.Item1, "name");
                    Assert.Equal(null, u.Item2, "NULL email");
                    Assert.Equal((DateTime?)new DateTime(1990, 4, 1, 12, 30, 0), u.Item3, "born");
                    Assert.Equal(9.5m, u.Item4, "score");
                    int? missingEmail = w.QueryRow("SELECT length(email) FROM u WHERE id = 1", null, r => r.Get<int?>(0));
                    Assert.Equal((int?)null, missingEmail, "NULL into int?");
                    Assert.Throws<InvalidOperationException>(() => w.QueryRow("SELECT name FROM u WHERE id = 2", null, r => r.GetString(0)));
                    string name;
                    Assert.False(w.TryQueryRow("SELECT name FROM u WHERE id = 2", null, r => r.GetString(0), out name), "TryQueryRow, no row");
                    Assert.True(w.TryQueryRow("SELECT name FROM u WHERE id = 1", null, r => r.GetString(0), out name), "TryQueryRow");
                    Assert.Equal("ada", name, "TryQueryRow value");
                    Assert.Equal("ada", await w.QueryRowAsync("SELECT name FROM u WHERE id = 1", null, r => r.GetString(0)), "async");
                    Assert.Equal("ada", w.ReadRow("u:1", "SELECT name FROM u WHERE id = 1", null, r => r.GetString(0)), "cached");
                    var inTx = await w.ExecuteInTransactionAsync(tx =>
                    {
                        tx.Execute("UPDATE u SET name = 'bo' WHERE id = 1");
                        return tx.QueryRow("SELECT name FROM u WHERE id = 1", null, r => r.GetString(0));
                    });
                    Assert.Equal("bo", inTx, "inside a transaction");
                    Assert.Throws<InvalidCastException>(() => w.QueryRow("SELECT email FROM u", null, r => r.Get<int>(0)));
                }
                finally
                {
                    await w.DisposeAsync();
                }
            }
        }
    }
}
