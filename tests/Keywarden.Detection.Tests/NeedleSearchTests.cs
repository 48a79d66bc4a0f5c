using System.Buffers;
using System.Text;
using Keywarden.Detection.Scanning;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

/// <summary>The plain loop a scanner starts with finds exactly what the vectorised search finds.</summary>
public sealed class NeedleSearchTests
{
    private static readonly string[] Needles = ["AKIA", "ASIA", "ABIA", "ACCA", "secret", "IQoJb3JpZ2lu", "FwoGZXIvYXdz"];
    private readonly Random _random = new(808);

    [Fact]
    public void No_character_below_U0100_but_an_ASCII_letter_equals_a_letter_ignoring_case()
    {
        for (var c = 0; c < 0x100; c++)
        {
            foreach (var letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
            {
                var equal = string.Equals(((char)c).ToString(), letter.ToString(), StringComparison.OrdinalIgnoreCase);
                Assert.Equal(char.IsAsciiLetter((char)c) && char.ToUpperInvariant((char)c) == char.ToUpperInvariant(letter), equal);
            }
        }
    }

    [Fact]
    public void The_plain_search_finds_every_position_the_vectorised_search_finds()
    {
        var vectorised = SearchValues.Create(Needles, StringComparison.OrdinalIgnoreCase);
        for (var round = 0; round < 2000; round++)
        {
            var text = RandomLatin1Text();
            Assert.Equal(Positions(text, t => t.IndexOfAny(vectorised)), Positions(text, t => TextScanner.PlainIndexOfNeedle(t)));
        }
    }

    [Fact]
    public void Scanning_with_either_search_gives_the_same_detections()
    {
        var text = new StringBuilder();
        while (text.Length < TextScanner.PlainSearchBudget + 200_000)
        {
            text.Append(_random.Next(4) switch
            {
                0 => $"export AWS_ACCESS_KEY_ID={KeyId(_random)}\nexport AWS_SECRET_ACCESS_KEY={SecretAccessKey(_random)}\n",
                1 => $"aws_secret_access_key = {SecretAccessKey(_random)}\n",
                2 => "Secret santa asks if AKIA is a word; ASIAN ACCAB fIQOJb3jPz2LU FWOGZXIVYXDZ.\n",
                _ => RandomLatin1Text() + "\n",
            });
        }

        var plain = new List<RawDetection>();
        var vectorised = new List<RawDetection>();
        // Chunks of a megabyte, as ContentScanner reads them: the plain scanner switches searches part way.
        var plainScanner = new TextScanner();
        var vectorisedScanner = new TextScanner();
        var all = text.ToString();
        for (var start = 0; start < all.Length; start += ContentScanner.ChunkChars)
        {
            var chunk = all.AsSpan(start, Math.Min(ContentScanner.ChunkChars, all.Length - start));
            plainScanner.Scan(chunk, 0, chunk.Length, plain, latin1: true);
            vectorisedScanner.Scan(chunk, 0, chunk.Length, vectorised, latin1: false);
        }

        Assert.True(plain.Count > 1000);
        Assert.Equal(vectorised, plain);
    }

    private static List<int> Positions(string text, Func<string, int> indexOf)
    {
        var positions = new List<int>();
        for (var pos = 0; pos < text.Length;)
        {
            var found = indexOf(text[pos..]);
            if (found < 0)
            {
                break;
            }

            positions.Add(pos + found);
            pos += found + 1;
        }

        return positions;
    }

    /// <summary>Latin-1 noise with needles, their prefixes and case variants, overlapping and at the very end.</summary>
    private string RandomLatin1Text()
    {
        var text = new StringBuilder();
        var parts = _random.Next(1, 12);
        for (var i = 0; i < parts; i++)
        {
            switch (_random.Next(4))
            {
                case 0:
                    for (var n = _random.Next(0, 20); n > 0; n--)
                    {
                        text.Append((char)_random.Next(0, 0x100));
                    }

                    break;
                case 1:
                    var needle = Needles[_random.Next(Needles.Length)];
                    var cut = _random.Next(2) == 0 ? needle : needle[.._random.Next(1, needle.Length)];
                    foreach (var c in cut)
                    {
                        text.Append(_random.Next(2) == 0 ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
                    }

                    break;
                case 2:
                    text.Append("AKIAKIASIASSECRETSECRET"[_random.Next(0, 10)..]);
                    break;
                default:
                    text.Append("asif ASIF \u00C1kia \u00E5sia s\u00E9cret \u00FFQoJ");
                    break;
            }
        }

        return text.ToString();
    }
}
