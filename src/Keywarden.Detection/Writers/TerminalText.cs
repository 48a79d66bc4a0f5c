using System.Globalization;
using System.Text;

namespace Keywarden.Detection.Writers;

/// <summary>
/// Data made safe to print as text: file names, archive entries, commit authors and messages, CloudTrail
/// fields an attacker chose (userAgent, userName, errorMessage) can hold escape sequences that retitle a
/// terminal (OSC), move the cursor or erase a line (CSI), forge a report line (CR, LF), or reorder what is
/// shown (Unicode bidi overrides, the "Trojan Source" trick, CVE-2021-42574). Every such character is
/// shown as a visible escape instead: <c>\x1b</c>, <c>\u202e</c>, <c>\n</c>. Text without one is returned
/// as it is, so ordinary output is unchanged and costs no allocation.
/// </summary>
public static class TerminalText
{
    /// <summary>The text with C0 and C1 controls, DEL, and Unicode format and line/paragraph separators escaped.</summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        var first = IndexOfUnsafe(text);
        if (first < 0)
        {
            return text;
        }

        var escaped = new StringBuilder(text.Length + 16);
        escaped.Append(text, 0, first);
        for (var i = first; i < text.Length; i++)
        {
            var c = text[i];
            if (!IsUnsafe(c))
            {
                escaped.Append(c);
                continue;
            }

            switch (c)
            {
                case '\n':
                    escaped.Append("\\n");
                    break;
                case '\r':
                    escaped.Append("\\r");
                    break;
                case '\t':
                    escaped.Append("\\t");
                    break;
                case <= '\u00ff':
                    escaped.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    break;
                default:
                    escaped.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
            }
        }

        return escaped.ToString();
    }

    /// <summary>Whether printing <paramref name="text"/> as it is could steer a terminal or forge a line.</summary>
    public static bool NeedsEscape(string? text) => text is not null && IndexOfUnsafe(text) >= 0;

    private static int IndexOfUnsafe(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (IsUnsafe(text[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// C0 (U+0000–U+001F, tab and newlines included: inside a field they forge columns and lines), DEL,
    /// C1 (U+0080–U+009F: 8-bit CSI and OSC on some terminals), and the Unicode categories Cf (bidi
    /// embeddings, overrides and isolates, zero-width characters, BOM), Zl and Zp (U+2028, U+2029).
    /// </summary>
    private static bool IsUnsafe(char c) => c switch
    {
        < ' ' or '\u007f' => true,
        < '\u0080' => false,
        <= '\u009f' => true,
        _ => char.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator,
    };
}

/// <summary>
/// A text report's writer: every line (or piece of one) written through it is shown through
/// <see cref="TerminalText.Escape"/> after <see cref="UrlRedaction.RedactText"/>, so the report's own
/// line breaks are the only ones in it. For reports whose every field may be data (CloudTrail records).
/// </summary>
public sealed class TerminalTextWriter(TextWriter inner) : TextWriter
{
    public override System.Text.Encoding Encoding => inner.Encoding;

    public override void Write(char value) => inner.Write(TerminalText.Escape(value.ToString()));

    public override void Write(string? value) => inner.Write(Safe(value));

    public override void WriteLine() => inner.WriteLine();

    public override void WriteLine(string? value) => inner.WriteLine(Safe(value));

    public override void Flush() => inner.Flush();

    private static string Safe(string? value) => TerminalText.Escape(UrlRedaction.RedactText(value));
}
