using Keywarden.Detection.Credentials;
using Keywarden.Detection.Rules;

namespace Keywarden.Detection.Tests;

/// <summary>The meta-test: every rule's own generated examples go through the whole scanner.</summary>
public sealed class RuleExampleTests
{
    public static TheoryData<string> RuleIds => [.. RuleSet.All.Select(r => r.Id)];

    [Theory]
    [MemberData(nameof(RuleIds))]
    public void Every_true_positive_example_is_reported_live_by_its_rule(string ruleId)
    {
        var rule = RuleSet.Get(ruleId);
        var examples = rule.TruePositives(new Random(ruleId.GetHashCode(StringComparison.Ordinal))).ToList();
        Assert.NotEmpty(examples);
        foreach (var example in examples)
        {
            var findings = Scan.Text(example);
            Assert.True(
                findings.Any(f => f.RuleId == ruleId && f.Classification == Classification.Live),
                $"{ruleId} missed a true positive of shape: {Shape(example)}");
        }
    }

    [Theory]
    [MemberData(nameof(RuleIds))]
    public void No_false_positive_example_is_reported_live_by_its_rule(string ruleId)
    {
        var rule = RuleSet.Get(ruleId);
        var examples = rule.FalsePositives(new Random(ruleId.GetHashCode(StringComparison.Ordinal))).ToList();
        Assert.NotEmpty(examples);
        foreach (var example in examples)
        {
            var findings = Scan.Text(example);
            Assert.False(
                findings.Any(f => f.RuleId == ruleId && f.Classification == Classification.Live),
                $"{ruleId} reported a false positive of shape: {Shape(example)}");
        }
    }

    [Fact]
    public void Every_rule_is_documented()
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in RuleSet.All)
        {
            Assert.Matches("^KW[0-9]{4}$", rule.Id);
            Assert.True(ids.Add(rule.Id), $"duplicate rule id {rule.Id}");
            Assert.False(string.IsNullOrWhiteSpace(rule.Help));
            Assert.InRange(rule.SecuritySeverity, 0.1, 10.0);
            Assert.Contains(rule.Id, File.ReadAllText(Path.Combine(TestPaths.RepoRoot(), "docs", "rules.md")), StringComparison.Ordinal);
        }
    }

    /// <summary>The example with letters and digits masked, so an assertion message never carries a key.</summary>
    private static string Shape(string text) =>
        new([.. text.Select(c => char.IsAsciiLetterUpper(c) ? 'A' : char.IsAsciiLetterLower(c) ? 'a' : char.IsAsciiDigit(c) ? '9' : c)]);

}
