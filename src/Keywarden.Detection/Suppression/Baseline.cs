using System.Buffers;
using System.Text;
using System.Text.Json;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Sources;

namespace Keywarden.Detection.Suppression;

/// <summary>Thrown when a baseline or config file cannot be used; the message names the file and the problem.</summary>
public sealed class ConfigurationException : Exception
{
    public ConfigurationException() { }
    public ConfigurationException(string message) : base(message) { }
    public ConfigurationException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Known findings to ignore, keyed by fingerprint. The file is JSON that holds no secret: for each
/// finding its fingerprint, rule, key ID (not a secret), path and line, so a reviewer can read it.
/// </summary>
public sealed class Baseline
{
    public const int FormatVersion = 1;

    /// <summary>The scanner's inline marker (see TextScanner): a line holding it is never reported.</summary>
    private const string AllowMarker = "keywarden:allow";
    private readonly HashSet<string> _fingerprints;

    private Baseline(HashSet<string> fingerprints) => _fingerprints = fingerprints;

    public int Count => _fingerprints.Count;

    public bool Contains(Finding finding) => _fingerprints.Contains(finding.Fingerprint);

    /// <summary>Reads the baseline at <paramref name="path"/> within <see cref="InputLimits.BaselineBytes"/>.</summary>
    public static Baseline Load(string path)
    {
        try
        {
            var bytes = BoundedInput.ReadAllBytes(path, InputLimits.BaselineBytes, $"baseline {path}");
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("findings", out var findings) || findings.ValueKind != JsonValueKind.Array)
            {
                throw new ConfigurationException($"baseline {path}: expected an object with a \"findings\" array (written by --write-baseline)");
            }

            var set = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in findings.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("fingerprint", out var fp) || fp.ValueKind != JsonValueKind.String)
                {
                    throw new ConfigurationException($"baseline {path}: every finding needs a \"fingerprint\" string");
                }

                set.Add(fp.GetString()!);
            }

            return new Baseline(set);
        }
        catch (JsonException e)
        {
            throw new ConfigurationException($"baseline {path}: {ParseErrors.Json(e)}", e);
        }
        catch (InputException e)
        {
            throw new ConfigurationException(e.TooLarge ? e.Message : $"baseline {path}: cannot read ({e.Reason})", e);
        }
    }

    public static void Write(string path, IEnumerable<Finding> findings)
    {
        try
        {
            using var stream = Writers.ReportFile.Create(path);
            stream.Write(Encoding.UTF8.GetBytes($"{{\n  \"version\": {FormatVersion},\n  \"findings\": ["));
            var line = new ArrayBufferWriter<byte>();
            var first = true;
            foreach (var f in findings)
            {
                // One finding per line, and every line that names a key ID also carries the inline allow
                // marker: the baseline then never flags itself wherever it lives (committed, copied, or in a
                // history scan, where the path exclusion of ScanOptions.OwnFiles cannot reach).
                line.Clear();
                using (var compact = new Utf8JsonWriter(line))
                {
                    compact.WriteStartObject();
                    compact.WriteString("fingerprint", f.Fingerprint);
                    compact.WriteString("ruleId", f.RuleId);
                    compact.WriteString("keyId", f.KeyId);
                    compact.WriteString("path", f.Path);
                    compact.WriteNumber("line", f.Line);
                    compact.WriteString("allow", AllowMarker);
                    compact.WriteEndObject();
                }

                stream.Write(first ? "\n    "u8 : ",\n    "u8);
                stream.Write(line.WrittenSpan);
                first = false;
            }

            stream.Write(first ? "]\n}\n"u8 : "\n  ]\n}\n"u8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"baseline {path}: cannot write ({BoundedInput.DescribeOutput(e, path)})", e);
        }
    }
}
