namespace Keywarden.Detection.Findings;

/// <summary>
/// Lowercase hexadecimal for hashes and git object IDs. Not <c>Convert.ToHexStringLower</c> and
/// <c>Convert.FromHexString</c>: their vectorised code is compiled at run time on CPUs with AVX-512 (the
/// precompiled framework code assumes less), which costs the pre-commit hook milliseconds for the few
/// dozen bytes it converts.
/// </summary>
internal static class Hex
{
    private const string Digits = "0123456789abcdef";

    public static string Lower(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length * 2];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[2 * i] = Digits[bytes[i] >> 4];
            chars[(2 * i) + 1] = Digits[bytes[i] & 0xF];
        }

        return new string(chars);
    }

    /// <summary>Decodes <paramref name="text"/> (either case) into <paramref name="bytes"/>, which it must fill exactly.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, Span<byte> bytes)
    {
        if (text.Length != bytes.Length * 2)
        {
            return false;
        }

        for (var i = 0; i < bytes.Length; i++)
        {
            var high = Value(text[2 * i]);
            var low = Value(text[(2 * i) + 1]);
            if ((high | low) < 0)
            {
                return false;
            }

            bytes[i] = (byte)((high << 4) | low);
        }

        return true;
    }

    private static int Value(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
