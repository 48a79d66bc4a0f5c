namespace Keywarden.Detection.Sources.Git;

/// <summary>Facts about a local repository that other projects need.</summary>
public static class GitRepository
{
    /// <summary>The folder git runs hooks from for the repository at <paramref name="workTree"/> (honours core.hooksPath).</summary>
    public static string HooksDirectory(string workTree)
    {
        var path = GitCommand.Run(workTree, ["rev-parse", "--git-path", "hooks"], CancellationToken.None).Trim();
        return Path.GetFullPath(Path.Combine(workTree, path));
    }
}
