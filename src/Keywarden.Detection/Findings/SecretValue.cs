using System.Text;

namespace Keywarden.Detection.Findings;

/// <summary>
/// A secret held in memory only. Its <see cref="ToString"/> is the redacted form, so an accidental
/// interpolation into a log line or message never leaks it; <see cref="Reveal"/> is explicit.
/// </summary>
public sealed class SecretValue : IEquatable<SecretValue>
{
    private const int ShownChars = 4;
    private readonly string _value;

    public SecretValue(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        _value = value;
        Sha256 = HashOf(value);
        Redacted = Redact(value);
    }

    /// <summary>The first characters and an ellipsis, e.g. <c>wJal…</c>.</summary>
    public string Redacted { get; }

    /// <summary>Lowercase hex SHA-256 of the UTF-8 bytes: the form GitHub's secret scanning partner protocol uses.</summary>
    public string Sha256 { get; }

    public int Length => _value.Length;

    /// <summary>The raw value: only for verification calls and <c>--show-secrets</c>.</summary>
    public string Reveal() => _value;

    public static string Redact(string value) =>
        value.Length <= ShownChars * 2 ? "…" : string.Concat(value.AsSpan(0, ShownChars), "…");

    public static string HashOf(string value)
    {
        Span<byte> hash = stackalloc byte[Findings.Sha256.Length];
        Findings.Sha256.Hash(Encoding.UTF8.GetBytes(value), hash);
        return Hex.Lower(hash);
    }

    public override string ToString() => Redacted;

    public bool Equals(SecretValue? other) => other is not null && string.Equals(Sha256, other.Sha256, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as SecretValue);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Sha256);
}
