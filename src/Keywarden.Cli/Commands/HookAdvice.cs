using Keywarden.Detection.Credentials;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;

namespace Keywarden.Cli.Commands;

/// <summary>What a blocked commit or push tells the developer: where, how to allow, how to bypass.</summary>
internal static class HookAdvice
{
    public static void PrintBlocked(CliConsole console, ScanReport report, bool push)
    {
        var live = new List<Finding>();
        foreach (var f in report.Findings)
        {
            if (f.Classification == Classification.Live)
            {
                live.Add(f);
            }
        }

        var what = push ? "push" : "commit";
        console.Stderr.WriteLine($"keywarden: {what} blocked: {live.Count} live AWS credential{(live.Count == 1 ? "" : "s")} in the {(push ? "commits being pushed" : "staged changes")}.");
        foreach (var f in live)
        {
            var where = f.Commit is null ? $"{f.Path}:{f.Line}" : $"{f.Path}:{f.Line} (commit {f.Commit.Sha[..12]})";
            console.Stderr.WriteLine(CliConsole.Line($"  {where}  {f.KeyId ?? "secret access key " + f.Secret?.Redacted}"));
        }

        console.Stderr.WriteLine("If the key is real: remove it, then deactivate and rotate it in IAM; it may already be copied.");
        console.Stderr.WriteLine("If it is a false positive: add 'keywarden:allow' to the line, or list the key ID under [scan] allow in .keywarden.toml.");
        console.Stderr.WriteLine($"To {what} anyway, knowingly: git {what} --no-verify");
    }
}
