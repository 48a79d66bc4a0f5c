namespace Keywarden.Detection.Credentials;

/// <summary>
/// AWS accounts known to issue canary-token keys. Using such a key alerts whoever planted it, so Keywarden
/// classifies these keys as <see cref="Classification.Canary"/> and never verifies them.
/// The list is documented in docs/canary-accounts.md with its sources; keep both in step.
/// Plain hash sets: for 26 short strings a frozen set saves nothing, and building one compiles
/// vectorised framework code at start-up, which the pre-commit hook pays for on every commit.
/// </summary>
public static class CanaryAccounts
{
    /// <summary>Accounts that issue canarytokens.org / Thinkst Canary AWS keys (public lists kept by trufflehog and others).</summary>
    public static IReadOnlySet<string> Thinkst { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "052310077262", "171436882533", "266735846894", "534261010715", "595918472158",
        "717712589309", "730335385048", "819147034852", "893192397702", "992382622183",
    };

    /// <summary>Accounts used by other canary services modelled on canarytokens.org.</summary>
    public static IReadOnlySet<string> OtherServices { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "044858866125", "251535659677", "344043088457", "351906852752", "390477818340",
        "426127672474", "427150556519", "439872796651", "445142720921", "465867158099",
        "637958123769", "693412236332", "732624840810", "735421457923", "959235150393",
        "982842642351",
    };

    public static bool Contains(string? accountId) =>
        accountId is not null && (Thinkst.Contains(accountId) || OtherServices.Contains(accountId));
}
