using System.Text.Json;
using Tomlyn;

namespace Keywarden.Detection.Suppression;

/// <summary>
/// Where a TOML or JSON file failed to parse, without what was there: the parsers' own messages quote the
/// offending token, and a credentials file given as a config by mistake would print part of a key.
/// </summary>
public static class ParseErrors
{
    /// <summary>"not valid TOML (line 3, column 21)".</summary>
    public static string Toml(TomlException e)
    {
        var line = e.Line;
        var column = e.Column;
        if (line is null && e.Diagnostics is { Count: > 0 } diagnostics)
        {
            // Diagnostics count lines and columns from 0.
            line = diagnostics[0].Span.Start.Line + 1;
            column = diagnostics[0].Span.Start.Column + 1;
        }

        return line is null ? "not valid TOML" : $"not valid TOML (line {line}, column {column})";
    }

    /// <summary>"not valid JSON (line 3, column 21)".</summary>
    public static string Json(JsonException e) => e.LineNumber is { } line
        ? $"not valid JSON (line {line + 1}, column {(e.BytePositionInLine ?? 0) + 1})"
        : "not valid JSON";
}
