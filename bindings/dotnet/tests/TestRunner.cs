// A small self-contained test runner (no NuGet packages are available offline): every public
// static method returning Task in a class marked [TestClass] is a test. Runs them one after
// another, each with a time limit, and ends with "dotnet: N passed, N failed".
//
// Usage: mono SingleWriter.Tests.exe [name-filter]
//        mono SingleWriter.Tests.exe --child <verb> <connection string> <arg>   (helper for cross-process tests)
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;

namespace SingleWriter.Tests
{
    [AttributeUsage(AttributeTargets.Class)]
    public sealed class TestClassAttribute : Attribute
    {
    }

    public sealed class AssertionException : Exception
    {
        public AssertionException(string message) : base(message)
        {
        }
    }

    public static class Assert
    {
        public static void True(bool condition, string message = "expected true")
        {
            if (!condition) throw new AssertionException(message);
        }

        public static void False(bool condition, string message = "expected false")
        {
            if (condition) throw new AssertionException(message);
        }

        public static void Equal<T>(T expected, T actual, string what = "value")
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
                throw new AssertionException(what + ": expected <" + expected + ">, got <" + actual + ">");
        }

        public static void NotEqual<T>(T notExpected, T actual, string what = "value")
        {
            if (EqualityComparer<T>.Default.Equals(notExpected, actual))
                throw new AssertionException(what + ": expected anything but <" + actual + ">");
        }

        public static void SequenceEqual<T>(IEnumerable<T> expected, IEnumerable<T> actual, string what = "sequence")
        {
            var e = expected.ToList();
            var a = actual.ToList();
            if (!e.SequenceEqual(a))
                throw new AssertionException(what + ": expected [" + string.Join(", ", e) + "], got [" +
                                             string.Join(", ", a) + "]");
        }

        public static void Contains(string needle, string haystack, StringComparison cmp = StringComparison.Ordinal)
        {
            if (haystack == null || haystack.IndexOf(needle, cmp) < 0)
                throw new AssertionException("expected \"" + haystack + "\" to contain \"" + needle + "\"");
        }

        public static T Throws<T>(Action action) where T : Exception
        {
            try
            {
                action();
            }
            catch (T e)
            {
                return e;
            }
            catch (Exception e)
            {
                throw new AssertionException("expected " + typeof(T).Name + ", got " + e.GetType().Name + ": " + e.Message);
            }
            throw new AssertionException("expected " + typeof(T).Name + ", nothing was thrown");
        }

        public static async Task<T> ThrowsAsync<T>(Func<Task> action) where T : Exception
        {
            try
            {
                await action();
            }
            catch (T e)
            {
                return e;
            }
            catch (Exception e)
            {
                throw new AssertionException("expected " + typeof(T).Name + ", got " + e.GetType().Name + ": " + e.Message);
            }
            throw new AssertionException("expected " + typeof(T).Name + ", nothing was thrown");
        }
    }

    public static class Program
    {
        private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

        public static int Main(string[] args)
        {
            if (args.Length > 0 && args[0] == "--child") return Child.Run(args.Skip(1).ToArray());
            string filter = args.Length > 0 ? args[0] : null;

            Console.WriteLine("SingleWriter .NET binding tests; native library " + SqliteSingleWriter.NativeVersion +
                              " (ABI " + SqliteSingleWriter.NativeAbiVersion + ")");
            var tests = typeof(Program).Assembly.GetTypes()
                .Where(t => t.GetCustomAttributes(typeof(TestClassAttribute), false).Length > 0)
                .OrderBy(t => t.Name)
                .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static)
                    .Where(m => m.ReturnType == typeof(Task) && m.GetParameters().Length == 0)
                    .OrderBy(m => m.MetadataToken))
                .Where(m => filter == null || (m.DeclaringType.Name + "." + m.Name).IndexOf(filter, StringComparison.OrdinalIgnoreCase) >= 0)
                .ToList();

            int passed = 0, failed = 0;
            foreach (var m in tests)
            {
                string name = m.DeclaringType.Name + "." + m.Name;
                var sw = Stopwatch.StartNew();
                string error = null;
                try
                {
                    var task = Task.Run(() => (Task)m.Invoke(null, null));
                    if (!task.Wait(Limit)) error = "timed out after " + Limit.TotalSeconds + " s";
                }
                catch (AggregateException ae)
                {
                    var e = ae.Flatten().InnerExceptions[0];
                    if (e is TargetInvocationException && e.InnerException != null) e = e.InnerException;
                    error = e is AssertionException ? e.Message : e.GetType().Name + ": " + e.Message + "\n" + e.StackTrace;
                }
                if (error == null)
                {
                    passed++;
                    Console.WriteLine("ok   " + name + " (" + sw.ElapsedMilliseconds + " ms)");
                }
                else
                {
                    failed++;
                    Console.WriteLine("FAIL " + name + ": " + error);
                }
            }
            Console.WriteLine("dotnet: " + passed + " passed, " + failed + " failed");
            return failed == 0 && passed > 0 ? 0 : 1;
        }
    }

    /// <summary>A temporary database file, with the original tests' connection string and options.</summary>
    public sealed class TempDb : IDisposable
    {
        public readonly string Dir;
        public readonly string Path;

        public TempDb()
        {
            Dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sw-dotnet-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Dir);
            Path = System.IO.Path.Combine(Dir, "ephemeral-sqlite-" + Guid.NewGuid().ToString("N") + ".db");
        }

        public string ConnectionString
        {
            get { return "Data Source=" + Path + ";Mode=ReadWriteCreate;Cache=Shared"; }
        }

        public static SqliteSingleWriterOptions Options()
        {
            return new SqliteSingleWriterOptions { SampleRate = 1, MaxTrackedWrites = 256 };
        }

        public SqliteSingleWriter Open(SqliteSingleWriterOptions options = null)
        {
            return SqliteSingleWriter.GetOrCreate(ConnectionString, options ?? Options());
        }

        public void Dispose()
        {
            try
            {
                Directory.Delete(Dir, true);
            }
            catch (Exception)
            {
            }
        }
    }

    /// <summary>What a child process does for the cross-process tests.</summary>
    public static class Child
    {
        public static int Run(string[] args)
        {
            try
            {
                string verb = args[0], cs = args[1], arg = args[2];
                var w = SqliteSingleWriter.GetOrCreate(cs);
                if (verb == "enqueue-and-exit")
                {
                    // Queue writes and return from Main without disposing or awaiting anything:
                    // the binding's exit hook must commit them and the process must exit cleanly.
                    int n = int.Parse(arg);
                    for (int i = 0; i < n; i++)
                        w.WriteAsync("INSERT INTO Items (Name, Value) VALUES (@Name, @Value)", new { Name = "exit" + i, Value = i });
                    return 0;
                }
                try
                {
                    switch (verb)
                    {
                        case "raise-invalidation":
                            w.RaiseInvalidation(arg);
                            break;
                        case "insert":
                            w.WriteAsync("INSERT INTO Items (Name, Value) VALUES (@Name, 1)", new { Name = arg }).Wait();
                            break;
                        default:
                            Console.Error.WriteLine("unknown verb " + verb);
                            return 2;
                    }
                }
                finally
                {
                    w.Dispose();
                }
                return 0;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine(e);
                return 1;
            }
        }

        /// <summary>Runs this test executable as a child process with the given verb.</summary>
        public static void Spawn(string verb, string connectionString, string arg)
        {
            string exe = typeof(Child).Assembly.Location;
            // Under Mono: mono Tests.exe ...; under .NET: dotnet Tests.dll ...
            string host = Type.GetType("Mono.Runtime") != null ? "mono" : "dotnet";
            var psi = new ProcessStartInfo(host, "\"" + exe + "\" --child " + verb + " \"" + connectionString + "\" \"" + arg + "\"")
            {
                UseShellExecute = false,
                RedirectStandardError = true,
            };
            using (var p = Process.Start(psi))
            {
                var err = p.StandardError.ReadToEndAsync();
                if (!p.WaitForExit(30000))
                {
                    try
                    {
                        p.Kill();
                    }
                    catch (Exception)
                    {
                    }
                    throw new AssertionException("child process (" + verb + ") did not exit within 30 s");
                }
                if (p.ExitCode != 0) throw new AssertionException("child process failed (" + p.ExitCode + "): " + err.Result);
            }
        }
    }
}
