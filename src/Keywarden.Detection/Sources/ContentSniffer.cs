namespace Keywarden.Detection.Sources;

internal enum ContentKind
{
    Text,
    Utf16LittleEndian,
    Utf16BigEndian,
    Binary,
    Zip,
    Gzip,
    Tar,
}

/// <summary>Decides from the first bytes, never from the name, what a piece of content is.</summary>
internal static class ContentSniffer
{
    public static ContentKind Sniff(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 4 && head[0] == 'P' && head[1] == 'K' && ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
        {
            return ContentKind.Zip;
        }

        if (head.Length >= 3 && head[0] == 0x1F && head[1] == 0x8B && head[2] == 8)
        {
            return ContentKind.Gzip;
        }

        // POSIX ustar and GNU tar put "ustar" at offset 257 of the first header.
        if (head.Length >= 262 && head.Slice(257, 5).SequenceEqual("ustar"u8))
        {
            return ContentKind.Tar;
        }

        if (head.Length >= 2 && head[0] == 0xFF && head[1] == 0xFE)
        {
            return ContentKind.Utf16LittleEndian;
        }

        if (head.Length >= 2 && head[0] == 0xFE && head[1] == 0xFF)
        {
            return ContentKind.Utf16BigEndian;
        }

        if (head.IndexOf((byte)0) < 0)
        {
            return ContentKind.Text;
        }

        // UTF-16 without a byte order mark: ASCII text leaves every other byte zero.
        int evenZeros = 0, oddZeros = 0;
        for (var i = 0; i + 1 < head.Length; i += 2)
        {
            evenZeros += head[i] == 0 ? 1 : 0;
            oddZeros += head[i + 1] == 0 ? 1 : 0;
        }

        var pairs = head.Length / 2;
        if (oddZeros > pairs * 3 / 10 && evenZeros < pairs / 20)
        {
            return ContentKind.Utf16LittleEndian;
        }

        if (evenZeros > pairs * 3 / 10 && oddZeros < pairs / 20)
        {
            return ContentKind.Utf16BigEndian;
        }

        return ContentKind.Binary;
    }
}
