namespace Keywarden.Detection.Sources.Git;

/// <summary>
/// The commits a push sends, from the lines git gives a pre-push hook on standard input:
/// "&lt;local ref&gt; &lt;local sha&gt; &lt;remote ref&gt; &lt;remote sha&gt;" (githooks(5)).
/// </summary>
public static class PrePushRange
{
    private const string Zero = "0000000000000000000000000000000000000000";

    /// <summary>git log revisions: every pushed tip, minus what the remote already has; empty when the push only deletes.</summary>
    public static List<string> Parse(string input, string repository, CancellationToken cancellationToken)
    {
        var include = new List<string>();
        var exclude = new List<string>();
        var newBranch = false;
        foreach (var line in input.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 4 || parts[1].Trim('0').Length == 0)
            {
                continue; // malformed, or a deletion: nothing is sent
            }

            include.Add(parts[1]);
            if (parts[3] == Zero || parts[3].Trim('0').Length == 0)
            {
                newBranch = true;
            }
            else if (Exists(repository, parts[3], cancellationToken))
            {
                exclude.Add(parts[3]);
            }
            else
            {
                newBranch = true; // the remote's tip is unknown here: compare with every remote-tracking branch
            }
        }

        if (include.Count == 0)
        {
            return [];
        }

        var revisions = new List<string>(include) { "--not" };
        revisions.AddRange(exclude);
        if (newBranch)
        {
            revisions.Add("--remotes");
        }

        return revisions;
    }

    private static bool Exists(string repository, string sha, CancellationToken cancellationToken)
    {
        try
        {
            GitCommand.Run(repository, ["cat-file", "-e", sha + "^{commit}"], cancellationToken);
            return true;
        }
        catch (GitException)
        {
            return false;
        }
    }
}
