using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Keywarden.Detection.Scanning;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

/// <summary>
/// Zips whose local and central headers under-state a member's size, built at run time by patching the
/// header bytes of a normal zip: every member is read to the real end of its data, within the archive budget.
/// </summary>
public sealed class ZipHeaderTests
{
    private const int Declared = 100;

    private readonly Random _random = new(23);

    [Fact]
    public void A_deflated_member_whose_headers_declare_100_bytes_is_read_to_the_end_of_its_deflate_data()
    {
        using var tree = new TempTree();
        var hidden = KeyId(_random);
        var after = KeyId(_random);
        var zip = Zip(CompressionLevel.Optimal, ("a-padded.txt", Padding(200 * 1024) + $"key = {hidden}\n"), ("b-after.txt", $"key = {after}\n"));
        tree.WriteBytes("understated.zip", UnderState(zip, "a-padded.txt"));

        var report = Scan.Tree(tree.Root);

        Assert.Equal([hidden, after], report.Findings.Select(f => f.KeyId));
        Assert.Contains(report.Warnings, w => w.Path == "understated.zip!a-padded.txt" && w.Message.Contains("declare 100 bytes", StringComparison.Ordinal));
        Assert.Empty(report.Errors);
    }

    [Fact]
    public void A_stored_member_whose_headers_declare_100_bytes_is_read_up_to_the_next_member()
    {
        using var tree = new TempTree();
        var hidden = KeyId(_random);
        var after = KeyId(_random);
        var zip = Zip(CompressionLevel.NoCompression, ("a-padded.txt", Padding(4096) + $"key = {hidden}\n"), ("b-after.txt", $"key = {after}\n"));
        tree.WriteBytes("understated.zip", UnderState(zip, "a-padded.txt"));

        var report = Scan.Tree(tree.Root);

        Assert.Equal([hidden, after], report.Findings.Select(f => f.KeyId));
        Assert.Empty(report.Errors);
    }

    [Fact]
    public void An_understated_member_larger_than_the_archive_budget_stops_at_the_budget_with_a_warning()
    {
        using var tree = new TempTree();
        var zip = Zip(CompressionLevel.SmallestSize, ("zeros.txt", Padding(8 * 1024 * 1024) + $"key = {KeyId(_random)}\n"));
        tree.WriteBytes("understated.zip", UnderState(zip, "zeros.txt"));

        var report = Scan.Tree(tree.Root, new ScanOptions { MaxArchiveBytes = 1024 * 1024 });

        Assert.Empty(report.Findings);
        Assert.Contains(report.Warnings, w => w.Path == "understated.zip" && w.Message.Contains("--max-archive-size", StringComparison.Ordinal));
    }

    [Fact]
    public void A_zip_inside_a_zip_with_understated_headers_is_read_to_its_end()
    {
        using var tree = new TempTree();
        var hidden = KeyId(_random);
        var inner = UnderState(Zip(CompressionLevel.Optimal, ("padded.txt", Padding(64 * 1024) + $"key = {hidden}\n")), "padded.txt");
        tree.WriteBytes("outer.jar", UnderState(Zip(CompressionLevel.Optimal, ("lib/inner.zip", inner)), "lib/inner.zip"));

        var finding = Assert.Single(Scan.Tree(tree.Root).Findings);

        Assert.Equal(hidden, finding.KeyId);
        Assert.Equal("outer.jar!lib/inner.zip!padded.txt", finding.Path);
    }

    private static string Padding(int bytes)
    {
        var text = new StringBuilder(bytes);
        while (text.Length < bytes)
        {
            text.Append("nothing to see here\n");
        }

        return text.ToString();
    }

    private static byte[] Zip(CompressionLevel level, params (string Name, object Content)[] members)
    {
        using var memory = new MemoryStream();
        using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in members)
            {
                using var stream = zip.CreateEntry(name, level).Open();
                stream.Write(content as byte[] ?? Encoding.UTF8.GetBytes((string)content));
            }
        }

        return memory.ToArray();
    }

    /// <summary>
    /// Sets the compressed and uncompressed sizes of <paramref name="member"/> to 100 in its local header
    /// (offsets 18 and 22) and its central directory header (offsets 20 and 24), APPNOTE.TXT 4.3.7 and 4.3.12.
    /// </summary>
    private static byte[] UnderState(byte[] zip, string member)
    {
        var patched = zip.ToArray();
        var name = Encoding.UTF8.GetBytes(member);
        var local = 0;
        var central = 0;
        for (var i = 0; i + 46 < patched.Length; i++)
        {
            var signature = BinaryPrimitives.ReadUInt32LittleEndian(patched.AsSpan(i));
            if (signature == 0x04034b50 && patched.AsSpan(i + 30, name.Length).SequenceEqual(name))
            {
                BinaryPrimitives.WriteUInt32LittleEndian(patched.AsSpan(i + 18), Declared);
                BinaryPrimitives.WriteUInt32LittleEndian(patched.AsSpan(i + 22), Declared);
                local++;
            }
            else if (signature == 0x02014b50 && patched.AsSpan(i + 46, name.Length).SequenceEqual(name))
            {
                BinaryPrimitives.WriteUInt32LittleEndian(patched.AsSpan(i + 20), Declared);
                BinaryPrimitives.WriteUInt32LittleEndian(patched.AsSpan(i + 24), Declared);
                central++;
            }
        }

        Assert.Equal((1, 1), (local, central));
        return patched;
    }
}
