using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Keywarden.Cli;

namespace Keywarden.Investigation.Tests;

/// <summary>Hostile inputs built at run time: zip bombs, cut-short gzip, deep JSON, FIFOs; and the CLI to run on them.</summary>
internal static class HostileTrail
{
    /// <summary>`keywarden ARGS` in-process, with captured streams.</summary>
    public static async Task<CliRun> RunAsync(params string[] args)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var console = new CliConsole(() => new MemoryStream(), stdout, stderr, StdoutIsTerminal: false, StderrIsTerminal: false);
        var code = await KeywardenApp.RunAsync(args, console, CancellationToken.None);
        return new CliRun(code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }

    /// <summary>A zip of the given members, stored as System.IO.Compression writes them (deflate, honest headers).</summary>
    public static byte[] Zip(params (string Name, byte[] Content)[] members)
    {
        using var memory = new MemoryStream();
        using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in members)
            {
                using var entry = zip.CreateEntry(name, CompressionLevel.SmallestSize).Open();
                entry.Write(content);
            }
        }

        return memory.ToArray();
    }

    /// <summary>
    /// The same zip with every member's stated uncompressed size replaced by <paramref name="size"/>, in the
    /// central directory and the local headers alike (APPNOTE.TXT 4.3.7 and 4.3.12), so readers agree on the lie.
    /// </summary>
    public static byte[] Understated(byte[] zip, uint size)
    {
        var bytes = (byte[])zip.Clone();
        var end = bytes.Length - 22; // no archive comment
        var count = BitConverter.ToUInt16(bytes, end + 10);
        var at = (int)BitConverter.ToUInt32(bytes, end + 16);
        for (var i = 0; i < count; i++)
        {
            var local = (int)BitConverter.ToUInt32(bytes, at + 42);
            BitConverter.TryWriteBytes(bytes.AsSpan(at + 24, 4), size);
            BitConverter.TryWriteBytes(bytes.AsSpan(local + 22, 4), size);
            at += 46 + BitConverter.ToUInt16(bytes, at + 28) + BitConverter.ToUInt16(bytes, at + 30) + BitConverter.ToUInt16(bytes, at + 32);
        }

        return bytes;
    }

    /// <summary>
    /// A nested zip bomb: <paramref name="fanOut"/> archives of <paramref name="fanOut"/> archives of
    /// <paramref name="fanOut"/> members, each member a JSON array start and <paramref name="memberBytes"/> of
    /// spaces (so it looks like records to a reader that sniffs). Three levels: as deep as investigate opens.
    /// </summary>
    public static byte[] NestedBomb(int fanOut, int memberBytes, uint? understateTo = null)
    {
        var member = new byte[memberBytes];
        Array.Fill(member, (byte)' ');
        member[0] = (byte)'[';
        byte[] Level(byte[] content, string name)
        {
            var zip = Zip([.. Enumerable.Range(0, fanOut).Select(i => ($"{name}{i}", content))]);
            return understateTo is { } size ? Understated(zip, size) : zip;
        }

        return Level(Level(Level(member, "records-"), "inner-"), "outer-");
    }

    /// <summary>A gzip file cut in half: its end (and trailer) is gone.</summary>
    public static byte[] Truncated(byte[] gzip) => gzip[..(gzip.Length / 2)];

    public static byte[] Gzip(string content)
    {
        using var memory = new MemoryStream();
        using (var gzip = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(Encoding.UTF8.GetBytes(content));
        }

        return memory.ToArray();
    }

    /// <summary>A JSON object nested <paramref name="depth"/> levels deep.</summary>
    public static JsonObject Nested(int depth)
    {
        var root = new JsonObject();
        var node = root;
        for (var i = 1; i < depth; i++)
        {
            var child = new JsonObject();
            node["n"] = child;
            node = child;
        }

        node["leaf"] = "x";
        return root;
    }

    public static string Text(int depth) => new string('[', depth) + new string(']', depth);

    public static void MakeFifo(string path)
    {
        using var process = Process.Start(new ProcessStartInfo("mkfifo", [path]))!;
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }
}

/// <summary>The built CLI as a child process, with its peak resident memory (python3's getrusage of its children) and its own temp folder.</summary>
internal sealed record ChildRun(int ExitCode, string Stdout, string Stderr, long PeakRssBytes, long PeakTempBytes, int TempEntriesLeft)
{
    private const string Measure = """
        import resource, subprocess, sys
        code = subprocess.run(sys.argv[2:]).returncode
        with open(sys.argv[1], "w") as out:
            out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
        sys.exit(code)
        """;

    public static async Task<ChildRun> RunAsync(params string[] args)
    {
        using var temp = new TempTree();
        var rssFile = Path.Combine(temp.Root, "rss");
        var tmpdir = Directory.CreateDirectory(Path.Combine(temp.Root, "tmp")).FullName;
        var start = new ProcessStartInfo("python3", ["-c", Measure, rssFile, "dotnet", KeywardenDll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["TMPDIR"] = tmpdir;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        long peakTemp = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        while (!process.HasExited)
        {
            peakTemp = Math.Max(peakTemp, SizeOf(tmpdir));
            try
            {
                await Task.Delay(50, timeout.Token);
            }
            catch (TaskCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"keywarden {string.Join(' ', args)} did not finish in 3 minutes");
            }
        }

        await process.WaitForExitAsync();
        var rssKiB = long.Parse(File.ReadAllText(rssFile), System.Globalization.CultureInfo.InvariantCulture); // ru_maxrss is in KiB on Linux
        return new ChildRun(process.ExitCode, await stdout, await stderr, rssKiB * 1024, peakTemp, Directory.EnumerateFileSystemEntries(tmpdir).Count());
    }

    /// <summary>
    /// Runs the CLI with its own temp folder and sends it SIGTERM once <paramref name="written"/> bytes are in
    /// that folder (work under way); the result tells whether it cleaned up after itself.
    /// </summary>
    public static async Task<ChildRun> TerminateAsync(long written, params string[] args)
    {
        using var temp = new TempTree();
        var tmpdir = Directory.CreateDirectory(Path.Combine(temp.Root, "tmp")).FullName;
        var start = new ProcessStartInfo("dotnet", [KeywardenDll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["TMPDIR"] = tmpdir;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (!process.HasExited && SizeOf(tmpdir) < written)
        {
            await Task.Delay(20, timeout.Token);
        }

        Assert.False(process.HasExited, "the command ended before the signal: make the input larger");
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
        {
            await kill.WaitForExitAsync(timeout.Token);
        }

        await process.WaitForExitAsync(timeout.Token);
        return new ChildRun(process.ExitCode, await stdout, await stderr, 0, written, Directory.EnumerateFileSystemEntries(tmpdir).Count());
    }

    /// <summary>
    /// The keywarden command as its own project built it (linux-x64, native DuckDB beside it), in the
    /// configuration these tests were built in: the copy in this test folder is laid out for the test host.
    /// </summary>
    private static string KeywardenDll
    {
        get
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            var path = Path.Combine(TestPaths.RepoRoot(), "src", "Keywarden.Cli", "bin", configuration, "net10.0", "linux-x64", "keywarden.dll");
            Assert.True(File.Exists(path), $"{path} is missing: build the solution first");
            return path;
        }
    }

    private static long SizeOf(string folder)
    {
        try
        {
            return new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f =>
            {
                try
                {
                    return f.Length;
                }
                catch (IOException)
                {
                    return 0;
                }
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0; // a file removed while counting
        }
    }
}
