using System.Buffers.Binary;
using ICSharpCode.SharpZipLib.Zip;
using ICSharpCode.SharpZipLib.Zip.Compression;
using ICSharpCode.SharpZipLib.Zip.Compression.Streams;

namespace Keywarden.Detection.Sources;

/// <summary>One member of a zip archive: its name, the size its headers declare, and how to read it (null when it cannot be).</summary>
internal sealed record ZipMember(string Name, long DeclaredSize, Func<Stream>? Open, string? Unreadable);

/// <summary>
/// The members of a zip archive, each read to the real end of its data rather than to the size its headers
/// declare: a header that says 100 bytes in front of 200 KB of deflate data must not hide the rest
/// (System.IO.Compression's entry stream, and SharpZipLib's <c>ZipFile.GetInputStream</c>, both stop where
/// the central directory says). The list comes from SharpZipLib's central-directory reader; each deflated
/// member is inflated by SharpZipLib's inflater from its local header until the deflate stream ends (its
/// final block, RFC 1951 §3.2.3); a stored member, which has no end marker, runs to the next member's local
/// header (APPNOTE.TXT 4.3.6: members follow one another), or its declared size for the last one.
/// The caller bounds what is read with the archive's budget.
/// </summary>
internal static class ZipMembers
{
    private const uint LocalHeaderSignature = 0x04034b50;
    private const int LocalHeaderSize = 30;

    /// <summary>Reads the central directory of <paramref name="archive"/> (seekable; the caller owns it).</summary>
    public static List<ZipMember> List(Stream archive)
    {
        var entries = new List<ZipEntry>();
        using (var zip = new ZipFile(archive, leaveOpen: true))
        {
            foreach (ZipEntry entry in zip)
            {
                entries.Add(entry);
            }
        }

        var starts = new long[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            starts[i] = entries[i].Offset;
        }

        Array.Sort(starts);
        var members = new List<ZipMember>(entries.Count);
        foreach (var entry in entries)
        {
            if (entry.IsDirectory)
            {
                continue;
            }

            if (entry.IsCrypted)
            {
                members.Add(new ZipMember(entry.Name, entry.Size, null, "encrypted, not scanned"));
            }
            else if (entry.CompressionMethod is not (CompressionMethod.Deflated or CompressionMethod.Stored))
            {
                members.Add(new ZipMember(entry.Name, entry.Size, null, $"compression method {(int)entry.CompressionMethod} not supported, not scanned"));
            }
            else
            {
                members.Add(new ZipMember(entry.Name, entry.Size, () => Open(archive, entry, NextStart(starts, entry.Offset)), null));
            }
        }

        return members;
    }

    private static Stream Open(Stream archive, ZipEntry entry, long nextStart)
    {
        var dataStart = DataStart(archive, entry.Offset);
        if (entry.CompressionMethod == CompressionMethod.Deflated)
        {
            // The inflater stops at the deflate stream's final block, wherever the headers say it ends.
            var window = new WindowStream(archive, dataStart, archive.Length);
            return new InflaterInputStream(window, new Inflater(noHeader: true)) { IsStreamOwner = true };
        }

        var end = nextStart > dataStart ? nextStart : Math.Min(archive.Length, dataStart + Math.Max(0, entry.CompressedSize));
        return new WindowStream(archive, dataStart, end);
    }

    /// <summary>Where a member's data begins: after its local header, whose name and extra field lengths may differ from the central directory's.</summary>
    private static long DataStart(Stream archive, long localHeader)
    {
        Span<byte> header = stackalloc byte[LocalHeaderSize];
        archive.Position = localHeader;
        archive.ReadExactly(header);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != LocalHeaderSignature)
        {
            throw new InvalidDataException($"no local header at offset {localHeader}");
        }

        return localHeader + LocalHeaderSize + BinaryPrimitives.ReadUInt16LittleEndian(header[26..]) + BinaryPrimitives.ReadUInt16LittleEndian(header[28..]);
    }

    /// <summary>The first local header after <paramref name="offset"/>, or -1 for the last member.</summary>
    private static long NextStart(long[] starts, long offset)
    {
        var i = Array.BinarySearch(starts, offset);
        i = i < 0 ? ~i : i + 1;
        while (i < starts.Length && starts[i] == offset)
        {
            i++;
        }

        return i < starts.Length ? starts[i] : -1;
    }
}

/// <summary>Reads <c>[start, end)</c> of a seekable stream that others share: every read seeks first.</summary>
internal sealed class WindowStream(Stream inner, long start, long end) : Stream
{
    private long _position = start;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var count = (int)Math.Min(buffer.Length, end - _position);
        if (count <= 0)
        {
            return 0;
        }

        inner.Position = _position;
        var read = inner.Read(buffer[..count]);
        _position += read;
        return read;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
