using System.Text.Json;

namespace Keywarden.Investigation.Rules;

/// <summary>
/// A path into a canonical record: dot-separated property names; <c>[*]</c> after a name or a <c>*</c>
/// segment visits every element or property; <c>**</c> visits every node below (and including) the
/// current one. A string that holds a JSON object or array (CloudTrail records IAM policy documents as
/// strings) is parsed when the path goes on into it. Written here because System.Text.Json has no
/// JSONPath and the rules need only this much.
/// </summary>
internal static class DocumentPath
{
    public static IEnumerable<JsonElement> Select(JsonElement root, string path)
    {
        IEnumerable<JsonElement> current = [root];
        foreach (var raw in path.Split('.'))
        {
            var segment = raw;
            var expand = false;
            if (segment.EndsWith("[*]", StringComparison.Ordinal))
            {
                segment = segment[..^3];
                expand = true;
            }

            var step = segment;
            current = step switch
            {
                "*" => current.SelectMany(e => Children(Open(e))),
                "**" => current.SelectMany(e => Descendants(Open(e))),
                _ => current.SelectMany(e => Child(Open(e), step)),
            };
            if (expand)
            {
                current = current.SelectMany(e => Open(e) is { ValueKind: JsonValueKind.Array } array ? array.EnumerateArray() : (IEnumerable<JsonElement>)[e]);
            }
        }

        return current;
    }

    /// <summary>Every string, number and boolean at or below <paramref name="element"/>, as text.</summary>
    public static IEnumerable<string> Leaves(JsonElement element)
    {
        foreach (var node in Descendants(Open(element)))
        {
            switch (node.ValueKind)
            {
                case JsonValueKind.String:
                    var text = node.GetString()!;
                    if (LooksLikeJson(text) && TryParse(text) is { } inner)
                    {
                        foreach (var leaf in Leaves(inner))
                        {
                            yield return leaf;
                        }
                    }
                    else
                    {
                        yield return text;
                    }

                    break;
                case JsonValueKind.Number:
                case JsonValueKind.True:
                case JsonValueKind.False:
                    yield return node.GetRawText();
                    break;
            }
        }
    }

    /// <summary>A scalar as text (true/false, numbers as written), or null for objects, arrays and null.</summary>
    public static string? AsText(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => element.GetRawText(),
        _ => null,
    };

    private static JsonElement Open(JsonElement element) =>
        element.ValueKind == JsonValueKind.String && element.GetString() is { } text && LooksLikeJson(text) && TryParse(text) is { } parsed ? parsed : element;

    private static bool LooksLikeJson(string text)
    {
        var trimmed = text.AsSpan().TrimStart();
        return trimmed.Length > 1 && trimmed[0] is '{' or '[';
    }

    private static JsonElement? TryParse(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, Loading.RecordsReader.DocumentOptions);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static IEnumerable<JsonElement> Child(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var child) ? [child] : [];

    private static IEnumerable<JsonElement> Children(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().Select(p => p.Value),
        JsonValueKind.Array => element.EnumerateArray(),
        _ => [],
    };

    private static IEnumerable<JsonElement> Descendants(JsonElement element)
    {
        yield return element;
        foreach (var child in Children(element))
        {
            foreach (var descendant in Descendants(Open(child)))
            {
                yield return descendant;
            }
        }
    }
}
