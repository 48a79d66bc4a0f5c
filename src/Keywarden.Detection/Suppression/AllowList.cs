using System.Collections.Frozen;
using Keywarden.Detection.Findings;

namespace Keywarden.Detection.Suppression;

/// <summary>
/// Values that are never reported, from the config's <c>allow</c> list: key IDs as they are, and secrets
/// or session tokens as <c>sha256:HEX</c> so the config itself never holds a secret (a raw secret is
/// accepted too, and compared by its hash).
/// </summary>
internal sealed class AllowList
{
    private const string HashPrefix = "sha256:";

    // Null when the list is empty, as it usually is: frozen sets live in an assembly of their own, which
    // a pre-commit hook with no allow list then never loads.
    private readonly IReadOnlySet<string>? _keyIds;
    private readonly IReadOnlySet<string>? _hashes;

    public AllowList(IEnumerable<string> values)
    {
        var keyIds = new HashSet<string>(StringComparer.Ordinal);
        var hashes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in values)
        {
            var value = raw.Trim();
            if (value.Length == 0)
            {
                continue;
            }

            if (value.StartsWith(HashPrefix, StringComparison.OrdinalIgnoreCase))
            {
                hashes.Add(value[HashPrefix.Length..].ToLowerInvariant());
            }
            else
            {
                keyIds.Add(value);
                hashes.Add(SecretValue.HashOf(value));
            }
        }

        if (keyIds.Count > 0 || hashes.Count > 0)
        {
            _keyIds = Freeze(keyIds);
            _hashes = Freeze(hashes);
        }
    }

    public bool IsEmpty => _keyIds is null;

    public bool Allows(Finding finding) =>
        _keyIds is not null && _hashes is not null &&
        ((finding.KeyId is not null && _keyIds.Contains(finding.KeyId)) ||
         (finding.Secret is not null && _hashes.Contains(finding.Secret.Sha256)) ||
         (finding.SessionToken is not null && _hashes.Contains(finding.SessionToken.Sha256)));

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static FrozenSet<string> Freeze(HashSet<string> values) => values.ToFrozenSet(StringComparer.Ordinal);
}
