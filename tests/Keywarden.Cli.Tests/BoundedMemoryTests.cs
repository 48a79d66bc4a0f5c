using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Cli.Tests;

/// <summary>
/// Hostile inputs, built at run time, given to the real command as a child process whose peak resident
/// memory (VmHWM, the kernel's high-water mark of this process alone, not of the git it starts) must stay
/// under 512 MB, with one clear line and the documented exit code (docs/limits.md).
/// </summary>
public sealed class BoundedMemoryTests : IDisposable
{
    private const long PeakLimit = 512L * 1024 * 1024;

    private readonly Random _random = new(11);
    private readonly TempTree _tree = new();

    [Fact]
    public void A_million_copies_of_a_key_pair_in_a_small_zip_stop_at_the_findings_cap_and_still_exit_1()
    {
        var pair = Encoding.ASCII.GetBytes($"aws_access_key_id = {KeyId(_random)} aws_secret_access_key = {SecretAccessKey(_random)}\n");
        using (var file = File.Create(_tree.Path("bomb.zip")))
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
        using (var entry = zip.CreateEntry("keys.txt", CompressionLevel.SmallestSize).Open())
        {
            for (var i = 0; i < 1_000_000; i++)
            {
                entry.Write(pair);
            }
        }

        Assert.True(new FileInfo(_tree.Path("bomb.zip")).Length < 2 * 1024 * 1024);
        // json needs the whole set before it is written, so the cap holds; jsonl streams (below).
        var run = Run(["scan", _tree.Path("bomb.zip"), "--format", "json", "--output", _tree.Path("report.json")]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("more than 100,000 findings (--max-findings): the rest are counted, not reported", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(100_000, File.ReadLines(_tree.Path("report.json")).Count(line => line.TrimStart().StartsWith("\"ruleId\"", StringComparison.Ordinal)));
        AssertBounded(run);
    }

    [Fact]
    public void Three_hundred_thousand_findings_stream_to_jsonl_in_full_in_bounded_memory()
    {
        const int Copies = 300_000;
        var pair = Encoding.ASCII.GetBytes($"aws_access_key_id = {KeyId(_random)} aws_secret_access_key = {SecretAccessKey(_random)}\n");
        using (var file = File.Create(_tree.Path("many.zip")))
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
        {
            // Two members and a plain file: streamed findings keep the walk's and the archive's order.
            foreach (var name in (string[])["a.txt", "b.txt"])
            {
                using var entry = zip.CreateEntry(name, CompressionLevel.SmallestSize).Open();
                for (var i = 0; i < Copies / 2; i++)
                {
                    entry.Write(pair);
                }
            }
        }

        var run = Run(["scan", _tree.Root, "--format", "jsonl", "--output", _tree.Path("report.jsonl")]);

        Assert.Equal(1, run.ExitCode);
        Assert.DoesNotContain("--max-findings", run.Stderr, StringComparison.Ordinal);
        var lines = File.ReadLines(_tree.Path("report.jsonl")).ToList();
        Assert.Equal(Copies, lines.Count);
        Assert.Equal(Copies, lines.Select(line => JsonDocument.Parse(line).RootElement.GetProperty("fingerprint").GetString()).Distinct().Count());
        Assert.Contains("\"path\":\"many.zip!a.txt\",\"line\":1,", lines[0], StringComparison.Ordinal);
        Assert.Contains($"\"path\":\"many.zip!b.txt\",\"line\":{Copies / 2},", lines[^1], StringComparison.Ordinal);
        AssertBounded(run);
    }

    [Fact]
    public void A_key_past_the_size_a_zip_member_header_declares_is_found_and_the_exit_code_is_1()
    {
        var key = KeyId(_random);
        using (var file = File.Create(_tree.Path("understated.zip")))
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
        using (var entry = zip.CreateEntry("config.txt", CompressionLevel.Optimal).Open())
        {
            for (var i = 0; i < 10_000; i++)
            {
                entry.Write(Encoding.ASCII.GetBytes($"line {i}: nothing here\n"));
            }

            entry.Write(Encoding.ASCII.GetBytes($"aws_access_key_id = {key}\n"));
        }

        // Both headers declare 100 bytes (APPNOTE.TXT 4.3.7, 4.3.12: local sizes at 18 and 22, central at 20 and 24).
        var bytes = File.ReadAllBytes(_tree.Path("understated.zip"));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(18), 100);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(22), 100);
        var central = bytes.AsSpan().LastIndexOf("PK\u0001\u0002"u8);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(central + 20), 100);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(central + 24), 100);
        File.WriteAllBytes(_tree.Path("understated.zip"), bytes);

        var run = Run(["scan", _tree.Path("understated.zip"), "--format", "jsonl"]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains(key, run.Stdout, StringComparison.Ordinal);
        Assert.Contains("the zip headers declare 100 bytes, the data holds more: read to its end", run.Stderr, StringComparison.Ordinal);
        AssertBounded(run);
    }

    [Fact]
    public void A_live_key_beyond_the_findings_cap_still_makes_the_exit_code_1()
    {
        _tree.Write("a-examples.txt", string.Concat(Enumerable.Repeat("AKIAIOSFODNN7EXAMPLE\n", 5)));
        _tree.Write("b-live.txt", $"{KeyId(_random)}\n");

        var run = Run(["scan", _tree.Root, "--max-findings", "3", "--threads", "1"]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("more than 3 findings", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_2_MB_loose_object_that_inflates_to_1_GiB_is_never_inflated_into_memory()
    {
        using var repo = new GitRepo();
        repo.Write("key.txt", $"{KeyId(_random)}\n");
        repo.Git(["add", "key.txt"]);
        var id = WriteLooseZeros(Path.Combine(repo.Path, ".git", "objects"), 1L << 30);
        Assert.True(new FileInfo(Path.Combine(repo.Path, ".git", "objects", id[..2], id[2..])).Length < 2 * 1024 * 1024);
        repo.Git(["update-index", "--add", "--cacheinfo", $"100644,{id},zeros.bin"]);

        var run = Run(["scan", "--staged", repo.Path]);

        Assert.Equal(1, run.ExitCode); // the key beside it is found
        AssertBounded(run);
    }

    [Fact]
    public void A_config_that_is_dev_zero_is_refused_at_its_cap()
    {
        var run = Run(["scan", _tree.Root, "--config", "/dev/zero"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("keywarden: error: config /dev/zero: larger than the 1 MiB limit (see docs/limits.md)\n", run.Stderr);
        AssertBounded(run);
    }

    [Fact]
    public async Task An_endless_FIFO_config_is_refused_at_its_cap()
    {
        var fifo = _tree.Path("config.toml");
        Process.Start("mkfifo", [fifo])!.WaitForExit();
        using var cancel = new CancellationTokenSource();
        var writer = Task.Run(() =>
        {
            try
            {
                using var stream = new FileStream(fifo, FileMode.Open, FileAccess.Write);
                var block = Encoding.ASCII.GetBytes(new string('#', 65536));
                while (!cancel.IsCancellationRequested)
                {
                    stream.Write(block);
                }
            }
            catch (IOException)
            {
                // The reader stopped at its cap and closed the pipe.
            }
        });

        var run = Run(["scan", _tree.Root, "--config", fifo]);
        cancel.Cancel();

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"keywarden: error: config {fifo}: larger than the 1 MiB limit (see docs/limits.md)\n", run.Stderr);
        await writer.WaitAsync(TimeSpan.FromSeconds(30));
        AssertBounded(run);
    }

    [Fact]
    public void A_discovered_config_that_links_to_dev_zero_is_not_followed()
    {
        _tree.Write("key.txt", $"{KeyId(_random)}\n");
        File.CreateSymbolicLink(_tree.Path(".keywarden.toml"), "/dev/zero");

        var run = Run(["scan", _tree.Root]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"keywarden: warning: config {_tree.Path(".keywarden.toml")}: a symbolic link, not followed", run.Stderr, StringComparison.Ordinal);
        AssertBounded(run);
    }

    [Fact]
    public void A_1_GiB_gitignore_is_one_error_and_a_live_key_elsewhere_still_exits_1()
    {
        _tree.Write("key.txt", $"{KeyId(_random)}\n");
        Sparse(_tree.Path("sub/.gitignore"), 1L << 30);

        var run = Run(["scan", _tree.Root, "--respect-gitignore"]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("keywarden: error: sub/.gitignore: larger than the 1 MiB limit (see docs/limits.md)", run.Stderr, StringComparison.Ordinal);
        AssertBounded(run);
    }

    [Fact]
    public void A_gitignore_that_links_to_dev_zero_is_not_followed()
    {
        _tree.Write("key.txt", $"{KeyId(_random)}\n");
        File.CreateSymbolicLink(_tree.Path(".gitignore"), "/dev/zero");

        var run = Run(["scan", _tree.Root, "--respect-gitignore"]);

        Assert.Equal(1, run.ExitCode);
        Assert.DoesNotContain("error", run.Stderr, StringComparison.Ordinal);
        AssertBounded(run);
    }

    [Fact]
    public void A_1_GiB_baseline_is_refused_at_its_cap()
    {
        Sparse(_tree.Path("baseline.json"), 1L << 30);

        var run = Run(["scan", _tree.Root, "--baseline", _tree.Path("baseline.json")]);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"keywarden: error: baseline {_tree.Path("baseline.json")}: larger than the 64 MiB limit (see docs/limits.md)\n", run.Stderr);
        AssertBounded(run);
    }

    [Fact]
    public void Dev_zero_as_the_secret_file_is_refused_at_its_cap()
    {
        var run = Run(["verify", KeyId(_random), "--secret-file", "/dev/zero"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("keywarden: error: --secret-file /dev/zero: larger than the 4 KiB limit (see docs/limits.md)\n", run.Stderr);
        AssertBounded(run);
    }

    [Fact]
    public void Dev_zero_as_the_session_token_file_is_refused_at_its_cap()
    {
        _tree.Write("secret.txt", SecretAccessKey(_random) + "\n");

        var run = Run(["verify", KeyId(_random, "ASIA"), "--secret-file", _tree.Path("secret.txt"), "--session-token-file", "/dev/zero"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("keywarden: error: --session-token-file /dev/zero: larger than the 16 KiB limit (see docs/limits.md)\n", run.Stderr);
        AssertBounded(run);
    }

    [Fact]
    public void Dev_zero_on_standard_input_for_secret_stdin_is_refused_at_its_cap()
    {
        var run = Run(["verify", KeyId(_random), "--secret-stdin"], stdin: "/dev/zero");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("keywarden: error: --secret-stdin (standard input): larger than the 4 KiB limit (see docs/limits.md)\n", run.Stderr);
        AssertBounded(run);
    }

    [Fact]
    public void Dev_zero_on_standard_input_for_pre_push_is_refused_at_its_cap()
    {
        using var repo = new GitRepo();
        repo.Write("a.txt", "nothing\n");
        repo.Commit("first");

        var run = Run(["scan", "--pre-push", repo.Path], stdin: "/dev/zero");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("keywarden: error: --pre-push (standard input): larger than the 4 MiB limit (see docs/limits.md)\n", run.Stderr);
        AssertBounded(run);
    }

    private static void AssertBounded(ChildRun run) =>
        Assert.True(run.PeakBytes is > 0 and < PeakLimit, $"peak RSS {run.PeakBytes / (1024 * 1024)} MB (limit 512 MB); stderr: {run.Stderr}");

    /// <summary>A file of <paramref name="length"/> zero bytes that takes no disk space.</summary>
    private static void Sparse(string path, long length)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = File.Create(path);
        file.SetLength(length);
    }

    /// <summary>Writes a loose blob of <paramref name="size"/> zero bytes (deflate shrinks it about 1000×) and returns its ID.</summary>
    private static string WriteLooseZeros(string objects, long size)
    {
        var header = Encoding.ASCII.GetBytes($"blob {size}\0");
        var temporary = Path.Combine(objects, "tmp-zeros");
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        using (var file = File.Create(temporary))
        using (var zlib = new ZLibStream(file, CompressionLevel.SmallestSize))
        {
            zlib.Write(header);
            sha1.AppendData(header);
            var block = new byte[1 << 20];
            for (long written = 0; written < size; written += block.Length)
            {
                zlib.Write(block);
                sha1.AppendData(block);
            }
        }

        var id = Convert.ToHexStringLower(sha1.GetHashAndReset());
        Directory.CreateDirectory(Path.Combine(objects, id[..2]));
        File.Move(temporary, Path.Combine(objects, id[..2], id[2..]));
        return id;
    }

    /// <summary>
    /// Runs the built command as a child process and records its peak RSS: VmHWM from /proc, read until the
    /// process ends (the high-water mark only grows, so the last reading is at most one poll short of the peak).
    /// </summary>
    private ChildRun Run(string[] args, string? stdin = null)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "keywarden.dll"), .. args])
        {
            RedirectStandardInput = stdin is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _tree.Root,
        };
        using var process = Process.Start(start)!;
        Task? feed = null;
        if (stdin is not null)
        {
            feed = Task.Run(() =>
            {
                try
                {
                    using var source = File.OpenRead(stdin);
                    var block = new byte[65536];
                    while (!process.HasExited)
                    {
                        var read = source.Read(block);
                        process.StandardInput.BaseStream.Write(block, 0, read);
                    }
                }
                catch (IOException)
                {
                    // The command stopped reading.
                }
            });
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddMinutes(5);
        long peak = 0;
        while (!process.WaitForExit(10))
        {
            peak = Math.Max(peak, HighWaterMark(process.Id));
            if (DateTime.UtcNow > deadline)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"keywarden {string.Join(' ', args)} did not finish in 5 minutes");
            }
        }

        feed?.Wait(TimeSpan.FromSeconds(10));
        return new ChildRun(process.ExitCode, stdout.Result, stderr.Result, peak);
    }

    private static long HighWaterMark(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
            // Ended between the check and the read.
        }

        return 0;
    }

    private sealed record ChildRun(int ExitCode, string Stdout, string Stderr, long PeakBytes);

    public void Dispose() => _tree.Dispose();
}
