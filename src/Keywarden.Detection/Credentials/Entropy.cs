namespace Keywarden.Detection.Credentials;

public static class Entropy
{
    /// <summary>Shannon entropy of the characters of <paramref name="s"/>, in bits per character (ASCII only; others share a bucket).</summary>
    public static double ShannonBitsPerChar(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty)
        {
            return 0;
        }

        Span<int> counts = stackalloc int[128];
        counts.Clear();
        foreach (var c in s)
        {
            counts[c < 128 ? c : 0]++;
        }

        double entropy = 0;
        foreach (var n in counts)
        {
            if (n > 0)
            {
                var p = (double)n / s.Length;
                entropy -= p * Math.Log2(p);
            }
        }

        return entropy;
    }
}
