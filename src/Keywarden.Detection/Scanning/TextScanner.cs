using System.Buffers;
using Keywarden.Detection.Credentials;
using Keywarden.Detection.Rules;

namespace Keywarden.Detection.Scanning;

/// <summary>
/// A credential found in one text buffer, before it is given a path, a line and a column. The scanner's
/// records are classes: generic collections over our own structs are compiled at run time (ReadyToRun
/// cannot precompile framework generics over them), which the pre-commit hook's start-up would pay for,
/// while a handful of small objects per detection costs nothing measurable.
/// </summary>
internal sealed record RawDetection(
    string RuleId,
    int Anchor,
    string? KeyId,
    string? Secret,
    string? SessionToken,
    bool Allowed);

/// <summary>
/// Finds credentials in a buffer of text. A vectorised multi-string search (<see cref="SearchValues{T}"/>)
/// finds the few places worth a look (key ID prefixes, the word "secret", session token headers); only
/// those places and the ±1 KB around them are examined further, with hand-written anchored matchers that
/// cannot backtrack. Not thread-safe: one instance per worker, reusing its scratch lists.
/// </summary>
internal sealed class TextScanner
{
    /// <summary>How far from a key ID a secret or session token may be and still be paired with it.</summary>
    public const int PairWindow = 1024;

    /// <summary>
    /// Context a chunk needs on each side of what it owns: the pairing window plus the longest token run
    /// that can start inside it. Chunked readers overlap by twice this.
    /// </summary>
    public const int Margin = 16 * 1024;

    private const string AllowMarker = "keywarden:allow";
    private const int KeywordReach = 160;
    private const int LookBehindForKeyword = 80;

    /// <summary>
    /// How many characters of Latin-1 text one scanner searches with a plain loop before it builds the
    /// vectorised search (see <see cref="IndexOfNeedle"/>): about a millisecond of looping.
    /// </summary>
    internal const int PlainSearchBudget = 1 << 20;

    private static readonly string[] NeedleStrings = [.. AccessKeyId.CredentialPrefixes, "secret", .. KW1003_AwsSessionToken.KnownStarts];

    private static SearchValues<string>? s_needles;

    private long _plainSearched;

    private readonly List<KeyHit> _keys = [];
    private readonly List<int> _keywords = [];
    private readonly List<int> _tokenStarts = [];
    private readonly List<Region> _regions = [];
    private readonly List<Run> _secrets = [];
    private readonly List<Run> _tokens = [];
    private readonly List<Pair> _pairs = [];

    /// <summary>
    /// Scans <paramref name="text"/> and appends what starts within [<paramref name="ownStart"/>,
    /// <paramref name="ownEnd"/>) to <paramref name="output"/>, in order of position.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="ownStart">Where what this call reports starts.</param>
    /// <param name="ownEnd">Where what this call reports ends.</param>
    /// <param name="output">Where detections are added.</param>
    /// <param name="latin1">Every character is below U+0100 (bytes widened one to one), which allows the plain search.</param>
    public void Scan(ReadOnlySpan<char> text, int ownStart, int ownEnd, List<RawDetection> output, bool latin1 = false)
    {
        _keys.Clear();
        _keywords.Clear();
        _tokenStarts.Clear();

        var pos = 0;
        while (pos < text.Length)
        {
            var found = IndexOfNeedle(text[pos..], latin1);
            if (found < 0)
            {
                break;
            }

            var i = pos + found;
            pos = i + 1;
            switch (text[i])
            {
                case 'A' when KW1001_AwsAccessKeyId.TryMatchAt(text, i):
                    _keys.Add(new KeyHit(i, text.Slice(i, AccessKeyId.Length).ToString()));
                    pos = i + AccessKeyId.Length;
                    break;
                case 's' or 'S':
                    _keywords.Add(i);
                    break;
                case 'I' or 'F' when StartsWithTokenHeader(text[i..]):
                    _tokenStarts.Add(i);
                    break;
            }
        }

        if (_keys.Count == 0 && _keywords.Count == 0 && _tokenStarts.Count == 0)
        {
            return;
        }

        CollectRuns(text);

        var keySecret = new int[_keys.Count];
        var keyToken = new int[_keys.Count];
        for (var k = 0; k < _keys.Count; k++)
        {
            keySecret[k] = -1;
            keyToken[k] = -1;
        }

        var secretTaken = new bool[_secrets.Count];
        var tokenTaken = new bool[_tokens.Count];
        PairSecrets(text, keySecret, secretTaken);
        PairTokens(keyToken, tokenTaken);

        var start = output.Count;
        for (var k = 0; k < _keys.Count; k++)
        {
            var (keyStart, keyId) = _keys[k];
            if (keyStart < ownStart || keyStart >= ownEnd)
            {
                continue;
            }

            var secret = keySecret[k] >= 0 ? _secrets[keySecret[k]] : null;
            var token = keyToken[k] >= 0 ? _tokens[keyToken[k]] : null;
            var allowed = LineHasAllowMarker(text, keyStart) || (secret is { } s && LineHasAllowMarker(text, s.Start));
            output.Add(new RawDetection(KW1001_AwsAccessKeyId.Instance.Id, keyStart, keyId, secret?.Value, token?.Value, allowed));
        }

        AddLoneSecrets(text, ownStart, ownEnd, secretTaken, output);
        AddLoneTokens(text, ownStart, ownEnd, tokenTaken, output);

        if (output.Count - start > 1)
        {
            output.Sort(start, output.Count - start, AnchorOrder.Instance);
        }
    }

    /// <summary>
    /// Where the first needle (key ID prefix, "secret", token header; ignoring case) starts, or -1.
    /// Building the vectorised multi-string search (<see cref="SearchValues{T}"/>) and compiling its code
    /// takes about 12 ms, which a pre-commit check of a few kilobytes would spend for nothing; so a scanner
    /// loops over its first <see cref="PlainSearchBudget"/> characters of Latin-1 text, then switches.
    /// Both give the same positions: the needles are ASCII, and no character below U+0100 other than an
    /// ASCII letter equals one ignoring case (tests check both claims).
    /// </summary>
    private int IndexOfNeedle(ReadOnlySpan<char> text, bool latin1)
    {
        if (latin1 && _plainSearched < PlainSearchBudget)
        {
            var found = PlainIndexOfNeedle(text);
            _plainSearched += found < 0 ? text.Length : found + 1;
            return found;
        }

        var needles = LazyInitializer.EnsureInitialized(ref s_needles, () => SearchValues.Create(NeedleStrings, StringComparison.OrdinalIgnoreCase));
        return text.IndexOfAny(needles);
    }

    /// <summary>The needle search as a loop, for Latin-1 text.</summary>
    internal static int PlainIndexOfNeedle(ReadOnlySpan<char> text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            // Every needle starts with A, S, I or F: only those characters, in either case, give (c | 0x20) in "asif".
            if ((text[i] | 0x20) is 'a' or 's' or 'i' or 'f' && StartsWithNeedle(text[i..]))
            {
                return i;
            }
        }

        return -1;
    }

    private static bool StartsWithNeedle(ReadOnlySpan<char> text)
    {
        foreach (var needle in NeedleStrings)
        {
            if (text.Length >= needle.Length && AsciiEqualsIgnoreCase(text[..needle.Length], needle))
            {
                return true;
            }
        }

        return false;
    }

    private static bool AsciiEqualsIgnoreCase(ReadOnlySpan<char> text, string ascii)
    {
        for (var k = 0; k < ascii.Length; k++)
        {
            var c = text[k];
            if (c != ascii[k] && !(char.IsAsciiLetter(c) && (c | 0x20) == (ascii[k] | 0x20)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool StartsWithTokenHeader(ReadOnlySpan<char> text)
    {
        foreach (var header in KW1003_AwsSessionToken.KnownStarts)
        {
            if (text.StartsWith(header, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Finds the base64 runs near keys, keywords and token headers: secret and token candidates.</summary>
    private void CollectRuns(ReadOnlySpan<char> text)
    {
        _regions.Clear();
        _secrets.Clear();
        _tokens.Clear();
        foreach (var (start, _) in _keys)
        {
            _regions.Add(new Region(Math.Max(0, start - PairWindow), Math.Min(text.Length, start + AccessKeyId.Length + PairWindow)));
        }

        foreach (var k in _keywords)
        {
            _regions.Add(new Region(k, Math.Min(text.Length, k + KeywordReach)));
        }

        foreach (var t in _tokenStarts)
        {
            _regions.Add(new Region(t, Math.Min(text.Length, t + 1)));
        }

        _regions.Sort();
        var next = 0; // runs already read end before this position
        foreach (var (regionStart, regionEnd) in _regions)
        {
            var p = Math.Max(regionStart, next);
            if (p >= regionEnd)
            {
                continue;
            }

            // A region may begin inside a run: step back to where the run starts.
            while (p > next && p > 0 && IsRunOrEscapeChar(text[p - 1]))
            {
                p--;
            }

            while (p < regionEnd)
            {
                if (!IsRunOrEscapeChar(text[p]))
                {
                    p++;
                    continue;
                }

                var run = ReadRun(text, p);
                ClassifyRun(text, run);
                p = run.End;
            }

            next = p;
        }
    }

    private static bool IsRunOrEscapeChar(char c) => KW1002_AwsSecretAccessKey.IsRunChar(c) || c is '%' or '=';

    private readonly record struct RawRun(int Start, int End, int DecodedLength, bool Escaped, bool Padded);

    /// <summary>
    /// Reads a maximal run of base64 characters from <paramref name="start"/>, decoding the URL escapes of
    /// '+', '/' and '=' (%2B, %2F, %3D), with '=' padding allowed only at its end. Any other character,
    /// including another escape, ends the run.
    /// </summary>
    private static RawRun ReadRun(ReadOnlySpan<char> text, int start)
    {
        var p = start;
        var decoded = 0;
        var escaped = false;
        var padded = false;
        while (p < text.Length)
        {
            var c = text[p];
            if (!padded && KW1002_AwsSecretAccessKey.IsRunChar(c))
            {
                p++;
                decoded++;
            }
            else if (c == '%' && p + 2 < text.Length && IsEscapedBase64(text[p + 1], text[p + 2]) && !(padded && text[p + 1] == '2'))
            {
                padded |= text[p + 1] == '3';
                p += 3;
                decoded++;
                escaped = true;
            }
            else if (c == '=')
            {
                padded = true;
                p++;
            }
            else
            {
                break;
            }
        }

        // A run that starts with a stray '%' or '=' still advances the caller.
        return new RawRun(start, Math.Max(p, start + 1), decoded, escaped, padded);
    }

    private static bool IsEscapedBase64(char a, char b) =>
        (a == '2' && b is 'B' or 'b' or 'F' or 'f') || (a == '3' && b is 'D' or 'd');

    private void ClassifyRun(ReadOnlySpan<char> text, RawRun run)
    {
        var raw = text[run.Start..run.End];
        if (run.DecodedLength == KW1002_AwsSecretAccessKey.SecretLength && !run.Padded)
        {
            var value = run.Escaped ? Uri.UnescapeDataString(raw.ToString()) : raw.ToString();
            if (KW1002_AwsSecretAccessKey.LooksRandom(value))
            {
                _secrets.Add(new Run(run.Start, run.End, value, HasKeywordBefore(text, run.Start)));
            }
        }
        else if (run.DecodedLength is >= KW1003_AwsSessionToken.MinimumLength and <= KW1003_AwsSessionToken.MaximumLength)
        {
            var value = run.Escaped ? Uri.UnescapeDataString(raw.ToString()) : raw.ToString();
            if (KW1002_AwsSecretAccessKey.LooksRandom(value.AsSpan(0, Math.Min(value.Length, 200))))
            {
                _tokens.Add(new Run(run.Start, run.End, value, StartsWithTokenHeader(value)));
            }
        }
    }

    /// <summary>
    /// True when the word "secret" precedes the value on its line (aws_secret_access_key = …,
    /// "SecretAccessKey": …), or on the line before when the value stands alone on its line (YAML blocks).
    /// </summary>
    private static bool HasKeywordBefore(ReadOnlySpan<char> text, int start)
    {
        var from = Math.Max(0, start - LookBehindForKeyword);
        var before = text[from..start];
        var newline = before.LastIndexOf('\n');
        var sameLine = newline >= 0 ? before[(newline + 1)..] : before;
        if (sameLine.Contains("secret", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (newline < 0 || !sameLine.Trim(" \t\r\"'").IsEmpty)
        {
            return false;
        }

        var previous = before[..newline];
        var previousStart = previous.LastIndexOf('\n');
        return previous[(previousStart + 1)..].Contains("secret", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Pairs each key ID with at most one secret and each secret with at most one key, cheapest first:
    /// a secret after the word "secret" beats one without, then the nearer wins, and a secret after its
    /// key beats one before it. Without the keyword a secret must be within two lines of the key.
    /// </summary>
    private void PairSecrets(ReadOnlySpan<char> text, int[] keySecret, bool[] secretTaken)
    {
        _pairs.Clear();
        var first = 0;
        for (var k = 0; k < _keys.Count; k++)
        {
            var keyStart = _keys[k].Start;
            var keyEnd = keyStart + AccessKeyId.Length;
            // Keys and runs are both in text order: skip the runs that end before this key's window.
            while (first < _secrets.Count && _secrets[first].End < keyStart - PairWindow)
            {
                first++;
            }

            for (var s = first; s < _secrets.Count && _secrets[s].Start <= keyEnd + PairWindow; s++)
            {
                var secret = _secrets[s];
                var after = secret.Start >= keyEnd;
                var distance = after ? secret.Start - keyEnd : keyStart - secret.End;
                if (distance < 0 || distance > PairWindow)
                {
                    continue;
                }

                if (!secret.Keyword)
                {
                    var between = after ? text[keyEnd..secret.Start] : text[secret.End..keyStart];
                    if (between.Count('\n') > 2)
                    {
                        continue;
                    }
                }

                var cost = distance + (after ? 0 : 200) - (secret.Keyword ? 4 * PairWindow : 0);
                _pairs.Add(new Pair(cost, k, s));
            }
        }

        AssignCheapest(keySecret, secretTaken);
    }

    /// <summary>Session tokens belong to temporary (ASIA) keys: pair each with the nearest such key.</summary>
    private void PairTokens(int[] keyToken, bool[] tokenTaken)
    {
        _pairs.Clear();
        var first = 0;
        for (var k = 0; k < _keys.Count; k++)
        {
            var (keyStart, keyId) = _keys[k];
            if (AccessKeyId.KindOf(keyId) != KeyIdKind.Temporary)
            {
                continue;
            }

            var keyEnd = keyStart + AccessKeyId.Length;
            while (first < _tokens.Count && _tokens[first].End < keyStart - PairWindow)
            {
                first++;
            }

            for (var t = first; t < _tokens.Count && _tokens[t].Start <= keyEnd + PairWindow; t++)
            {
                var token = _tokens[t];
                var distance = token.Start >= keyEnd ? token.Start - keyEnd : keyStart - token.End;
                if (distance >= 0 && distance <= PairWindow)
                {
                    _pairs.Add(new Pair(distance, k, t));
                }
            }
        }

        AssignCheapest(keyToken, tokenTaken);
    }

    private void AssignCheapest(int[] keyOther, bool[] otherTaken)
    {
        if (_pairs.Count == 0)
        {
            return;
        }

        _pairs.Sort();
        foreach (var (_, k, o) in _pairs)
        {
            if (keyOther[k] < 0 && !otherTaken[o])
            {
                keyOther[k] = o;
                otherTaken[o] = true;
            }
        }
    }

    /// <summary>A secret after an AWS keyword, with no key ID it was paired to, is a finding of its own.</summary>
    private void AddLoneSecrets(ReadOnlySpan<char> text, int ownStart, int ownEnd, bool[] secretTaken, List<RawDetection> output)
    {
        var lastReported = -1;
        foreach (var keyword in _keywords)
        {
            if (!HasAwsContext(text, keyword))
            {
                continue;
            }

            for (var s = 0; s < _secrets.Count; s++)
            {
                var secret = _secrets[s];
                if (secret.Start <= keyword || secret.Start > keyword + KeywordReach)
                {
                    continue;
                }

                if (!secretTaken[s] && secret.Keyword && secret.Start != lastReported && secret.Start >= ownStart && secret.Start < ownEnd)
                {
                    secretTaken[s] = true;
                    lastReported = secret.Start;
                    output.Add(new RawDetection(KW1002_AwsSecretAccessKey.Instance.Id, secret.Start, null, secret.Value, null, LineHasAllowMarker(text, secret.Start)));
                }

                break; // only the first value after the keyword belongs to it
            }
        }
    }

    /// <summary>
    /// The keyword "secret" counts as an AWS one when its identifier names AWS or an access key
    /// (aws_secret_access_key, SecretAccessKey, secret_key under an aws: block is covered by the line check),
    /// or when "aws" appears on the same line.
    /// </summary>
    private static bool HasAwsContext(ReadOnlySpan<char> text, int keyword)
    {
        var start = keyword;
        while (start > 0 && IsIdentifierChar(text[start - 1]) && keyword - start < 64)
        {
            start--;
        }

        var end = keyword;
        while (end < text.Length && IsIdentifierChar(text[end]) && end - keyword < 64)
        {
            end++;
        }

        var identifier = text[start..end];
        if (identifier.Contains("aws", StringComparison.OrdinalIgnoreCase) || identifier.Contains("access", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var (lineStart, lineEnd) = LineBounds(text, keyword, 200);
        return text[lineStart..lineEnd].Contains("aws", StringComparison.OrdinalIgnoreCase);
    }

    private static bool IsIdentifierChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.';

    private void AddLoneTokens(ReadOnlySpan<char> text, int ownStart, int ownEnd, bool[] tokenTaken, List<RawDetection> output)
    {
        for (var t = 0; t < _tokens.Count; t++)
        {
            var token = _tokens[t];
            // For tokens, Keyword records whether the run starts with an STS token header.
            if (!tokenTaken[t] && token.Keyword && token.Start >= ownStart && token.Start < ownEnd)
            {
                output.Add(new RawDetection(KW1003_AwsSessionToken.Instance.Id, token.Start, null, null, token.Value, LineHasAllowMarker(text, token.Start)));
            }
        }
    }

    private static bool LineHasAllowMarker(ReadOnlySpan<char> text, int position)
    {
        var (start, end) = LineBounds(text, position, 4096);
        return text[start..end].Contains(AllowMarker, StringComparison.Ordinal);
    }

    /// <summary>The line around <paramref name="position"/>, cut to <paramref name="reach"/> characters each side.</summary>
    private static (int Start, int End) LineBounds(ReadOnlySpan<char> text, int position, int reach)
    {
        var from = Math.Max(0, position - reach);
        var newline = text[from..position].LastIndexOf('\n');
        var start = newline >= 0 ? from + newline + 1 : from;
        var to = Math.Min(text.Length, position + reach);
        var next = text[position..to].IndexOf('\n');
        var end = next >= 0 ? position + next : to;
        return (start, end);
    }

    /// <summary>A secret or token candidate; Keyword means "after the word secret" for secrets, "STS header" for tokens.</summary>
    private sealed record Run(int Start, int End, string Value, bool Keyword);

    /// <summary>A key ID and where it starts.</summary>
    private sealed record KeyHit(int Start, string Value);

    /// <summary>A stretch of text to read base64 runs from; ordered by start, then end.</summary>
    private sealed record Region(int Start, int End) : IComparable<Region>
    {
        public int CompareTo(Region? other)
        {
            var c = Start.CompareTo(other!.Start);
            return c != 0 ? c : End.CompareTo(other.End);
        }
    }

    /// <summary>A candidate pairing of a key with a secret or token; cheapest first, then by key, then by the other.</summary>
    private sealed record Pair(int Cost, int Key, int Other) : IComparable<Pair>
    {
        public int CompareTo(Pair? other)
        {
            var c = Cost.CompareTo(other!.Cost);
            c = c != 0 ? c : Key.CompareTo(other.Key);
            return c != 0 ? c : Other.CompareTo(other.Other);
        }
    }

    private sealed class AnchorOrder : IComparer<RawDetection>
    {
        public static readonly AnchorOrder Instance = new();

        public int Compare(RawDetection? x, RawDetection? y) => x!.Anchor.CompareTo(y!.Anchor);
    }
}
