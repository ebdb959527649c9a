// A program that uses the SingleWriter.Sqlite package the way an application outside this
// repository does: bindings/dotnet/test-package.sh unzips the .nupkg, compiles this file with
// Mono's mcs against the package's lib/ assembly, copies the assembly and the package's
// runtimes/linux-x64/native/libsinglewriter.so beside it, and runs it with no LD_LIBRARY_PATH.
//
//   Consumer.exe DB basic   write, transaction, cached read; prints "users: 3", "cache hits: 1"
//   Consumer.exe DB exit N  start N writes without awaiting them and return from Main: the
//                           binding's ProcessExit handler commits them (the test counts rows)
using System;
using System.Threading.Tasks;
using SingleWriter;

public static class Consumer
{
    public static int Main(string[] args)
    {
        string cs = "Data Source=" + args[0];
        if (args[1] == "exit")
        {
            int n = int.Parse(args[2]);
            var w = SqliteSingleWriter.GetOrCreate(cs);
            w.Write("CREATE TABLE IF NOT EXISTS t(i INTEGER)");
            for (int i = 0; i < n; i++) w.WriteAsync("INSERT INTO t(i) VALUES (@I)", new { I = i });
            Console.WriteLine("started " + n + " writes");
            return 0; // no await, no Dispose
        }
        return Basic(cs).GetAwaiter().GetResult();
    }

    private static async Task<int> Basic(string cs)
    {
        using (var w = SqliteSingleWriter.GetOrCreate(cs))
        {
            await w.WriteAsync("CREATE TABLE Users (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL)");
            await w.WriteAsync("INSERT INTO Users (Name) VALUES (@Name)", new { Name = "Alice" });
            long inside = await w.ExecuteInTransactionAsync(tx =>
            {
                tx.Execute("INSERT INTO Users (Name) VALUES ('Bob')");
                tx.Execute("INSERT INTO Users (Name) VALUES ('Carol')");
                return tx.ExecuteScalar<long>("SELECT COUNT(*) FROM Users");
            });
            long users = await w.ReadAsync("users:count", "SELECT COUNT(*) FROM Users", rows => rows.Scalar<long>());
            users = await w.ReadAsync("users:count", "SELECT COUNT(*) FROM Users", rows => rows.Scalar<long>());
            Console.WriteLine("users: " + users + " (" + inside + " inside the transaction)");
            Console.WriteLine("cache hits: " + w.GetCacheStats().Hits);
            return users == 3 ? 0 : 1;
        }
    }
}
