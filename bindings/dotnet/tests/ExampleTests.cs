using System;
using System.Diagnostics;
using System.IO;
using System.Threading.Tasks;

namespace SingleWriter.Tests
{
    [TestClass]
    public static class Example
    {
        /// <summary>Runs example/Program.cs (built next to this executable) as a separate process.</summary>
        public static Task QuickStart_RunsToCompletion()
        {
            string dir = Path.GetDirectoryName(typeof(Example).Assembly.Location);
            string exe = Path.Combine(dir, "SingleWriter.Example.exe");
            if (!File.Exists(exe)) exe = Path.Combine(dir, "SingleWriter.Example.dll");
            if (!File.Exists(exe)) throw new AssertionException("the example was not built next to the tests (" + dir + ")");
            string host = Type.GetType("Mono.Runtime") != null ? "mono" : "dotnet";
            var psi = new ProcessStartInfo(host, "\"" + exe + "\"")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using (var p = Process.Start(psi))
            {
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                if (!p.WaitForExit(60000))
                {
                    try
                    {
                        p.Kill();
                    }
                    catch (Exception)
                    {
                    }
                    throw new AssertionException("the example did not finish in 60 s");
                }
                string output = stdout.Result + stderr.Result;
                if (p.ExitCode != 0) throw new AssertionException("the example failed (" + p.ExitCode + "):\n" + output);
                Assert.Contains("example: ok", output);
            }
            return Task.CompletedTask;
        }
    }
}
