using System.Globalization;
using System.Text;

namespace Keywarden.Detection.Findings;

/// <summary>
/// A finding's identity for baselines and SARIF partialFingerprints: the rule, the path and the credential
/// (key ID or secret hash), and which occurrence of that credential in the file it is. Moving the line
/// within its file keeps the fingerprint; the secret itself never enters it except as its hash.
/// </summary>
public static class FindingFingerprint
{
    public static string Compute(string ruleId, string path, string identity, string? secretSha256, int occurrence)
    {
        var material = string.Join('\n', new[] { ruleId, path, identity, secretSha256 ?? "", occurrence.ToString(CultureInfo.InvariantCulture) });
        Span<byte> hash = stackalloc byte[Sha256.Length];
        Sha256.Hash(Encoding.UTF8.GetBytes(material), hash);
        return Hex.Lower(hash[..16]);
    }
}
