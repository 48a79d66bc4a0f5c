using Keywarden.Detection.Sources.Git;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

/// <summary>Tests that set git's environment variables, which the whole test process shares: run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    public const string Name = "process environment";
}

/// <summary>
/// git runs hooks with GIT_INDEX_FILE set (a lock file during `commit -a` or `commit PATH`) and, in a linked
/// worktree, GIT_DIR: the in-process reader follows both, and leaves other variables to git.
/// </summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class StagedEnvironmentTests : IDisposable
{
    private readonly Random _random = new(313);
    private readonly GitRepo _repo = new();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GIT_INDEX_FILE_names_the_index_to_read(bool absolute)
    {
        _repo.Write("a.txt", "a\n");
        _repo.Commit("initial");
        _repo.Write("b.txt", $"k={KeyId(_random)}\n");
        var alternate = Path.Combine(_repo.Path, ".git", "next-index.lock");
        _repo.Git(["read-tree", "HEAD"], new() { ["GIT_INDEX_FILE"] = alternate });
        _repo.Git(["add", "b.txt"], new() { ["GIT_INDEX_FILE"] = alternate });

        var changes = WithEnvironment(new() { ["GIT_INDEX_FILE"] = absolute ? alternate : ".git/next-index.lock" }, () => SameAsGit(_repo.Path));

        Assert.Equal("b.txt", Assert.Single(changes).Path);
        Assert.Empty(GitLog.ReadDiff(_repo.Path, ["--cached", "--diff-filter=ACMRT"], CancellationToken.None));
    }

    [Fact]
    public void GIT_DIR_names_a_linked_worktree_s_git_directory_as_in_its_hooks()
    {
        var worktree = StagedScenarios.Build("linked worktree", _repo, new(() => KeyId(_random), () => SecretAccessKey(_random)));
        var gitDirectory = Path.Combine(_repo.Path, ".git", "worktrees", "wt");

        var changes = WithEnvironment(new() { ["GIT_DIR"] = gitDirectory, ["GIT_INDEX_FILE"] = Path.Combine(gitDirectory, "index") }, () => SameAsGit(worktree));

        Assert.Equal("a.txt", Assert.Single(changes).Path);
    }

    [Theory]
    [InlineData("GIT_WORK_TREE")]
    [InlineData("GIT_OBJECT_DIRECTORY")]
    [InlineData("GIT_COMMON_DIR")]
    [InlineData("GIT_CONFIG_COUNT")]
    public void Other_variables_that_move_what_git_reads_are_left_to_git(string variable)
    {
        _repo.Write("a.txt", "a\n");
        _repo.Commit("initial");
        _repo.Write("b.txt", "b\n");
        _repo.Git(["add", "b.txt"]);
        var value = variable == "GIT_CONFIG_COUNT" ? "0" : Path.Combine(_repo.Path, variable == "GIT_WORK_TREE" ? "." : ".git/objects");

        Assert.Null(WithEnvironment(new() { [variable] = value }, () => StagedChanges.TryRead(_repo.Path)));
        Assert.NotNull(StagedChanges.TryRead(_repo.Path));
    }

    /// <summary>The in-process changes, checked against git's (which sees the same environment).</summary>
    private static GitChange[] SameAsGit(string directory)
    {
        using var staged = StagedChanges.TryRead(directory);
        Assert.NotNull(staged);
        Assert.Equal(GitLog.ReadDiff(directory, ["--cached", "--diff-filter=ACMRT"], CancellationToken.None), staged.Changes);
        return staged.Changes;
    }

    private static T WithEnvironment<T>(Dictionary<string, string> variables, Func<T> action)
    {
        foreach (var (name, value) in variables)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        try
        {
            return action();
        }
        finally
        {
            foreach (var name in variables.Keys)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }
    }

    public void Dispose() => _repo.Dispose();
}
