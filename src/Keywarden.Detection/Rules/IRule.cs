namespace Keywarden.Detection.Rules;

/// <summary>
/// A detection rule: its identity and documentation (used by SARIF and the docs), and generators of
/// examples it must report and must not report, which a meta-test runs through the scanner. The
/// repository holds no key-shaped literals: examples are generated at run time.
/// </summary>
public interface IRule
{
    /// <summary>Stable identifier, e.g. KW1001.</summary>
    string Id { get; }

    /// <summary>Short kebab-case name, e.g. aws-access-key-id.</summary>
    string Name { get; }

    string ShortDescription { get; }

    string FullDescription { get; }

    /// <summary>What to do about a finding: shown in SARIF help and the text report.</summary>
    string Help { get; }

    /// <summary>CVSS-like 0.0–10.0 score that GitHub code scanning maps to a severity.</summary>
    double SecuritySeverity { get; }

    /// <summary>Texts in which the scanner must report a live finding of this rule.</summary>
    IEnumerable<string> TruePositives(Random random);

    /// <summary>Texts in which the scanner must report no live finding of this rule.</summary>
    IEnumerable<string> FalsePositives(Random random);
}

/// <summary>Every rule the scanner applies.</summary>
public static class RuleSet
{
    public static IReadOnlyList<IRule> All { get; } =
    [
        KW1001_AwsAccessKeyId.Instance,
        KW1002_AwsSecretAccessKey.Instance,
        KW1003_AwsSessionToken.Instance,
    ];

    public static IRule Get(string id) => All.First(r => string.Equals(r.Id, id, StringComparison.Ordinal));
}
