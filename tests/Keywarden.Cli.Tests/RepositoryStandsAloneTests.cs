namespace Keywarden.Cli.Tests;

/// <summary>
/// A fresh clone with nothing beside it must pass the README's test command and run the benchmarks, so
/// nothing under tests/ or bench/ may reach outside the repository (issue 11, section 7).
/// </summary>
public sealed class RepositoryStandsAloneTests
{
    [Fact]
    public void No_file_under_tests_or_bench_refers_to_a_path_outside_the_repository()
    {
        var found = OutsideReferences.InFolders(TestPaths.RepoRoot(), ["tests", "bench"]);

        Assert.True(found.Count == 0, "files under tests/ or bench/ refer to paths outside the repository:\n" + string.Join("\n", found));
    }

    // The hostile lines are assembled here so that this file itself holds none of them.
    private const string Up = "..";
    private const string Beside = "shared";

    [Theory]
    [InlineData("bench/scan-files.sh", "GENERATOR=${KW_BENCH_GENERATOR:-$REPO/UP/BESIDE/bench/make-corpus.py}")]
    [InlineData("bench/scan-files.sh", "ls \"${REPO}/UP/BESIDE\"")]
    [InlineData("bench/scan-files.sh", "REPO=$(git rev-parse --show-toplevel)\ncat $REPO/bench/UP/UP/BESIDE/x")]
    [InlineData("bench/run.sh", "HERE=$(cd \"$(dirname \"${BASH_SOURCE[0]}\")\" && pwd -P)\npython3 \"$HERE/UP/UP/BESIDE/bench/gen.py\"")]
    [InlineData("bench/run.sh", "cd \"$(dirname \"$0\")/UP/UP\"")]
    [InlineData("tests/Keywarden.Cli.Tests/X.cs", "var p = Path.Combine(TestPaths.RepoRoot(), \"UP\", \"BESIDE\", \"reference\", \"schema.json\");")]
    [InlineData("tests/Keywarden.Cli.Tests/X.cs", "var root = TestPaths.RepoRoot();\nvar p = Path.Combine(\n    root,\n    \"UP\",\n    \"BESIDE\");", 2)]
    [InlineData("tests/Keywarden.Cli.Tests/X.cs", "var p = Path.Combine(TestPaths.RepoRoot(), \"UP/BESIDE/reference\");")]
    [InlineData("tests/Keywarden.Cli.Tests/X.cs", "var parent = Directory.PARENT(TestPaths.RepoRoot())!.FullName;")]
    [InlineData("bench/gen.py", "SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, \"BESIDE\")")]
    [InlineData("bench/README.md", "See [the generator](UP/UP/BESIDE/bench/make-corpus.py).")]
    [InlineData("bench/README.md", "Builds the corpus with `UP/BESIDE/bench/make-corpus.py`.")]
    [InlineData("tests/Directory.Build.props", "<Import Project=\"$(MSBuildThisFileDirectory)UP/UP/BESIDE/x.props\" />")]
    public void A_path_that_climbs_above_the_repository_root_is_reported(string file, string template, int line = 0)
    {
        var text = template.Replace("UP", Up, StringComparison.Ordinal).Replace("BESIDE", Beside, StringComparison.Ordinal)
            .Replace("PARENT", "GetParent", StringComparison.Ordinal);

        var found = OutsideReferences.InText(file, text, TestPaths.RepoRoot());

        var reference = Assert.Single(found);
        Assert.Equal(line == 0 ? text.Split('\n').Length : line, reference.Line);
    }

    [Theory]
    [InlineData("bench/README.md", "[docs/git.md](UP/docs/git.md) explains it")]
    [InlineData("tests/Directory.Build.props", "<Import Project=\"$([MSBuild]::GetPathOfFileAbove('Directory.Build.props', '$(MSBuildThisFileDirectory)UP/'))\" />")]
    [InlineData("tests/run.sh", "cd \"$(dirname \"$0\")/UP\"")]
    [InlineData("bench/scan-files.sh", "REPO=$(git rev-parse --show-toplevel 2>/dev/null || dirname \"$BENCH\")\nls \"$REPO/bench/UP/docs\"")]
    [InlineData("bench/synthetic.py", "PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, \"docs\", \"limits.md\")")]
    [InlineData("tests/Keywarden.Detection.Tests/X.cs", "var blob = Path.Combine(_repo.Path, \"UP\", Path.GetFileName(_repo.Path) + \".blob\");")]
    [InlineData("tests/Keywarden.Detection.Tests/X.cs", "var dir = Path.GetDirectoryName(dir);")]
    [InlineData("tests/Keywarden.Cli.Tests/X.cs", "Cli.RunAsync([\"scan\", \"--git\", \"--range=--output=/tmp/kwUPx\", path]);")]
    [InlineData("bench/README.md", "The pattern is `A...B`, and `git log a..b` takes a range.")]
    public void A_path_inside_the_repository_or_outside_the_project_is_not_reported(string file, string template)
    {
        var text = template.Replace("UP", Up, StringComparison.Ordinal);

        Assert.Empty(OutsideReferences.InText(file, text, TestPaths.RepoRoot()));
    }

    [Fact]
    public void An_absolute_path_to_a_folder_beside_the_repository_is_reported()
    {
        using var tree = new TempTree();
        var repo = Directory.CreateDirectory(tree.Path("clone")).FullName;
        Directory.CreateDirectory(tree.Path(Beside));
        File.WriteAllText(Path.Combine(repo, "Keywarden.slnx"), "");
        var script = Path.Combine(repo, "bench", "run.sh");
        Directory.CreateDirectory(Path.GetDirectoryName(script)!);
        File.WriteAllText(script, $"python3 {tree.Path(Beside)}/bench/make-corpus.py\npython3 {repo}/bench/make-corpus.py\n");

        var reference = Assert.Single(OutsideReferences.InFolders(repo, ["bench"]));

        Assert.Equal(("bench/run.sh", 1), (reference.File, reference.Line));
    }
}
