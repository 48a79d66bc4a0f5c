using System.Text;
using System.Text.RegularExpressions;

namespace Keywarden.Detection.Writers;

/// <summary>
/// URLs as Keywarden prints them: a URL can carry a secret in its user-info (https://user:token@host,
/// where the password may itself hold '@' or '/'), in query values (?access_token=..., a presigned
/// X-Amz-Signature) and in its fragment (#access_token=... of OAuth implicit grants). Every one of
/// those parts is masked, whatever it holds; the scheme, host, port and path stay readable.
/// </summary>
public static partial class UrlRedaction
{
    private const string Mask = "***";

    /// <summary>One URL with user-info, every query value and the fragment masked; text that is not a URL is returned as it is.</summary>
    public static string Redact(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme <= 0)
        {
            return url;
        }

        var start = scheme + 3;
        var queryOrFragment = url.AsSpan(start).IndexOfAny('?', '#');
        var end = queryOrFragment < 0 ? url.Length : start + queryOrFragment;
        var hostStart = UserInfoEnd(url, start, end);
        var text = new StringBuilder(url.Length);
        text.Append(url, 0, start);
        if (hostStart > start)
        {
            text.Append(Mask).Append('@');
        }

        text.Append(url, hostStart, end - hostStart);
        if (end < url.Length && url[end] == '?')
        {
            var fragment = url.IndexOf('#', end);
            var queryEnd = fragment < 0 ? url.Length : fragment;
            text.Append('?').Append(MaskQuery(url.AsSpan(end + 1, queryEnd - end - 1)));
            end = queryEnd;
        }

        if (end < url.Length)
        {
            text.Append('#').Append(Mask);
        }

        return text.ToString();
    }

    /// <summary>The user-info of <paramref name="url"/> (user, or user:password), or null when it has none.</summary>
    public static string? UserInfo(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme <= 0)
        {
            return null;
        }

        var start = scheme + 3;
        var queryOrFragment = url.AsSpan(start).IndexOfAny('?', '#');
        var hostStart = UserInfoEnd(url, start, queryOrFragment < 0 ? url.Length : start + queryOrFragment);
        return hostStart > start ? url[start..(hostStart - 1)] : null;
    }

    /// <summary>Every URL inside free text (git's error output, an exception message) redacted as <see cref="Redact"/> does.</summary>
    public static string RedactText(string? text)
    {
        if (string.IsNullOrEmpty(text) || !text.Contains("://", StringComparison.Ordinal))
        {
            return text ?? "";
        }

        return UrlPattern().Replace(text, match => Redact(match.Value));
    }

    /// <summary>
    /// Where the user-info ends (the index just after its '@'), or <paramref name="start"/> when there is
    /// none. The user-info ends at the last '@' before the path; a password with a raw '/' ends the
    /// authority early ("user:pa" is no host:port), and then the last '@' before the query counts.
    /// </summary>
    private static int UserInfoEnd(string url, int start, int end)
    {
        var slash = url.IndexOf('/', start, end - start);
        var authorityEnd = slash < 0 ? end : slash;
        var at = url.LastIndexOf('@', authorityEnd - 1, authorityEnd - start);
        if (at >= start)
        {
            return at + 1;
        }

        var colon = url.IndexOf(':', start, authorityEnd - start);
        var portIsNumber = colon >= 0 && url.AsSpan(colon + 1, authorityEnd - colon - 1).IndexOfAnyExceptInRange('0', '9') < 0;
        if (colon >= 0 && url[start] != '[' && !portIsNumber && end > authorityEnd)
        {
            at = url.LastIndexOf('@', end - 1, end - authorityEnd);
            if (at >= authorityEnd)
            {
                return at + 1;
            }
        }

        return start;
    }

    /// <summary>a=1&amp;b=2 → a=***&amp;b=***: names stay (they tell what was there), values go.</summary>
    private static string MaskQuery(ReadOnlySpan<char> query)
    {
        if (query.IsEmpty)
        {
            return "";
        }

        var text = new StringBuilder();
        foreach (var range in query.Split('&'))
        {
            if (text.Length > 0)
            {
                text.Append('&');
            }

            var pair = query[range];
            var equals = pair.IndexOf('=');
            if (equals >= 0)
            {
                text.Append(pair[..equals]).Append('=').Append(Mask);
            }
            else if (!pair.IsEmpty)
            {
                text.Append(Mask);
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// A scheme and "://", then everything up to white space, a quote, an angle bracket or a control
    /// character (git quotes URLs in 'single quotes'; a password may hold any other character).
    /// </summary>
    [GeneratedRegex(@"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'""<>`\p{Cc}]+", RegexOptions.CultureInvariant)]
    private static partial Regex UrlPattern();
}
