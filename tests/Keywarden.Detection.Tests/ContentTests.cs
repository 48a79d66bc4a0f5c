using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

public sealed class ContentTests
{
    private readonly Random _random = new(7);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(-17)]
    [InlineData(16 * 1024)]
    [InlineData(-16 * 1024)]
    [InlineData(32 * 1024)]
    public void Keys_at_chunk_boundaries_are_found_once_with_their_secret_line_and_column(int shift)
    {
        // Put a key/secret pair across and around the 1 MiB chunk boundary and check nothing is lost or doubled.
        var key = KeyId(_random);
        var secret = SecretAccessKey(_random);
        var line = new string('a', 99) + "\n"; // 100 bytes per line
        var lines = ((1 << 20) + shift) / 100;
        var prefix = new StringBuilder();
        for (var i = 0; i < lines; i++)
        {
            prefix.Append(line);
        }

        var text = prefix + $"aws_access_key_id = {key}\naws_secret_access_key = {secret}\n" + prefix;
        var finding = Assert.Single(Scan.Text(text));
        Assert.Equal(lines + 1, finding.Line);
        Assert.Equal(21, finding.Column);
        Assert.Equal(SecretValue.HashOf(secret), finding.Secret!.Sha256);
    }

    [Fact]
    public void A_single_100_MB_line_is_scanned_in_bounded_memory()
    {
        var keys = new[] { KeyId(_random), KeyId(_random), KeyId(_random) };
        var stream = new GeneratedLineStream(100L * 1024 * 1024, new Dictionary<long, string>
        {
            [10] = keys[0],
            [(1L << 20) - 3] = keys[1], // straddles the first chunk boundary
            [99L * 1024 * 1024] = keys[2],
        });
        var before = GC.GetAllocatedBytesForCurrentThread();
        var findings = Scan.Stream(stream);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(keys, findings.Select(f => f.KeyId));
        Assert.All(findings, f => Assert.Equal(1, f.Line));
        Assert.Equal((99 * 1024 * 1024) + 1, findings[2].Column);
        // Buffers are reused: reading 100 MB must not allocate anything near 100 MB (stdin is scanned on this thread).
        Assert.True(allocated < 32L * 1024 * 1024, $"allocated {allocated / (1024 * 1024)} MiB");
    }

    [Fact]
    public void Utf16_text_with_and_without_byte_order_mark_is_scanned()
    {
        foreach (var encoding in new Encoding[] { new UnicodeEncoding(false, true), new UnicodeEncoding(true, true), new UnicodeEncoding(false, false), new UnicodeEncoding(true, false) })
        {
            var key = KeyId(_random);
            var secret = SecretAccessKey(_random);
            var bytes = encoding.GetPreamble().Concat(encoding.GetBytes($"line\r\n$env:AWS_ACCESS_KEY_ID = \"{key}\"\r\n$env:AWS_SECRET_ACCESS_KEY = \"{secret}\"\r\n")).ToArray();
            var finding = Assert.Single(Scan.Stream(new MemoryStream(bytes)));
            Assert.Equal(key, finding.KeyId);
            Assert.Equal(2, finding.Line);
            Assert.Equal(SecretValue.HashOf(secret), finding.Secret!.Sha256);
        }
    }

    [Fact]
    public void Binary_content_is_skipped_whatever_its_name()
    {
        using var tree = new TempTree();
        var bytes = new byte[4096];
        _random.NextBytes(bytes);
        bytes[100] = 0;
        var key = Encoding.ASCII.GetBytes(KeyId(_random));
        key.CopyTo(bytes, 200);
        tree.WriteBytes("notes.txt", bytes);
        tree.Write("binary-looking-name.bin", $"key={KeyId(_random)}\n");

        var report = Scan.Tree(tree.Root);
        Assert.Equal("binary-looking-name.bin", Assert.Single(report.Findings).Path);
        Assert.Equal(1, report.BinarySkipped);
    }

    [Fact]
    public void Members_of_nested_zip_tar_and_tar_gz_archives_are_scanned()
    {
        using var tree = new TempTree();
        var keys = Enumerable.Range(0, 4).Select(_ => KeyId(_random)).ToArray();
        var innerZip = Zip(("deep/creds.txt", $"aws_access_key_id={keys[0]}"));
        var tar = Tar(("etc/app.env", $"AWS_ACCESS_KEY_ID={keys[1]}"), ("inner.zip", innerZip));
        tree.WriteBytes("release.tar.gz", Gzip(tar));
        tree.WriteBytes("lib/app.jar", Zip(("META-INF/config.properties", $"aws.key={keys[2]}")));
        tree.WriteBytes("logs.gz", Gzip(Encoding.UTF8.GetBytes($"user key {keys[3]}\n")));

        var report = Scan.Tree(tree.Root);
        var paths = report.Findings.ToDictionary(f => f.KeyId!, f => f.Path);
        Assert.Equal("release.tar.gz!inner.zip!deep/creds.txt", paths[keys[0]]);
        Assert.Equal("release.tar.gz!etc/app.env", paths[keys[1]]);
        Assert.Equal("lib/app.jar!META-INF/config.properties", paths[keys[2]]);
        Assert.Equal("logs.gz", paths[keys[3]]);
        Assert.Empty(report.Errors);
    }

    [Fact]
    public void Archive_depth_limit_stops_opening_and_warns()
    {
        using var tree = new TempTree();
        var key = KeyId(_random);
        tree.WriteBytes("outer.zip", Zip(("inner.zip", Zip(("k.txt", key)))));

        Assert.Single(Scan.Tree(tree.Root, new ScanOptions { MaxArchiveDepth = 2 }).Findings);
        var limited = Scan.Tree(tree.Root, new ScanOptions { MaxArchiveDepth = 1 });
        Assert.Empty(limited.Findings);
        Assert.Contains(limited.Warnings, w => w.Path == "outer.zip!inner.zip" && w.Message.Contains("archive-depth", StringComparison.Ordinal));
        var closed = Scan.Tree(tree.Root, new ScanOptions { MaxArchiveDepth = 0 });
        Assert.Empty(closed.Findings);
        Assert.Empty(closed.Warnings);
    }

    [Fact]
    public void Archive_size_limit_stops_a_zip_bomb_with_a_warning()
    {
        using var tree = new TempTree();
        var key = KeyId(_random);
        var zeros = new string('0', 8 * 1024 * 1024);
        tree.WriteBytes("bomb.zip", Zip(("a.txt", key), ("b.txt", zeros), ("c.txt", zeros)));

        var report = Scan.Tree(tree.Root, new ScanOptions { MaxArchiveBytes = 4 * 1024 * 1024 });
        Assert.Equal(key, Assert.Single(report.Findings).KeyId);
        Assert.Contains(report.Warnings, w => w.Path == "bomb.zip" && w.Message.Contains("limit", StringComparison.Ordinal));
    }

    [Fact]
    public void Corrupt_archive_is_an_error_and_the_rest_is_still_scanned()
    {
        using var tree = new TempTree();
        var zip = Zip(("a.txt", "nothing"));
        tree.WriteBytes("broken.zip", zip.AsSpan(0, zip.Length - 10).ToArray());
        tree.Write("ok.txt", $"k={KeyId(_random)}");

        var report = Scan.Tree(tree.Root);
        Assert.Single(report.Findings);
        var error = Assert.Single(report.Errors);
        Assert.Equal("broken.zip", error.Path);
        Assert.StartsWith("cannot read archive", error.Message, StringComparison.Ordinal);
    }

    internal static byte[] Zip(params (string Name, object Content)[] entries)
    {
        using var memory = new MemoryStream();
        using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in entries)
            {
                using var stream = zip.CreateEntry(name).Open();
                stream.Write(content as byte[] ?? Encoding.UTF8.GetBytes((string)content));
            }
        }

        return memory.ToArray();
    }

    internal static byte[] Tar(params (string Name, object Content)[] entries)
    {
        using var memory = new MemoryStream();
        using (var tar = new TarWriter(memory, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, content) in entries)
            {
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name)
                {
                    DataStream = new MemoryStream(content as byte[] ?? Encoding.UTF8.GetBytes((string)content)),
                });
            }
        }

        return memory.ToArray();
    }

    internal static byte[] Gzip(byte[] content)
    {
        using var memory = new MemoryStream();
        using (var gzip = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(content);
        }

        return memory.ToArray();
    }

    /// <summary>A stream of one long line of filler with keys at given offsets, generated as it is read.</summary>
    private sealed class GeneratedLineStream(long length, Dictionary<long, string> insertions) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - _position);
            buffer[..n].Fill((byte)'x');
            for (var i = 0; i < n; i++)
            {
                if ((_position + i) % 64 == 0)
                {
                    buffer[i] = (byte)' ';
                }
            }

            foreach (var (at, key) in insertions)
            {
                for (var k = -1; k <= key.Length; k++)
                {
                    var p = at + k - _position;
                    if (p >= 0 && p < n)
                    {
                        buffer[(int)p] = k < 0 || k == key.Length ? (byte)' ' : (byte)key[k];
                    }
                }
            }

            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
