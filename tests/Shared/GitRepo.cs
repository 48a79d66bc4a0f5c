using System.Diagnostics;

namespace Keywarden.Tests.Shared;

/// <summary>A real git repository in a temporary folder, driven through the git command.</summary>
public sealed class GitRepo : IDisposable
{
    private int _clock;

    public GitRepo(bool bare = false, string? path = null)
    {
        Path = path ?? System.IO.Path.Combine(System.IO.Path.GetTempPath(), "kw-git-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
        Git(bare ? ["init", "-q", "--bare", "-b", "main"] : ["init", "-q", "-b", "main"]);
    }

    public string Path { get; }

    public void Write(string relative, string content)
    {
        var full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
    }

    public void Append(string relative, string content) => File.AppendAllText(System.IO.Path.Combine(Path, relative), content);

    /// <summary>Stages everything and commits with a clock that advances an hour per commit; returns the commit ID.</summary>
    public string Commit(string message)
    {
        Git(["add", "-A"]);
        _clock++;
        var date = $"{1_700_000_000 + (_clock * 3600)} +0000";
        Git(["commit", "-q", "--allow-empty", "-m", message], new() { ["GIT_AUTHOR_DATE"] = date, ["GIT_COMMITTER_DATE"] = date });
        return Git(["rev-parse", "HEAD"]).Trim();
    }

    public string Git(IReadOnlyList<string> args, Dictionary<string, string>? environment = null, string? cwd = null) =>
        Run("git", args, environment, cwd);

    /// <summary>A shell command line in the repository, for what arguments cannot carry (bytes that are not UTF-8, pipes).</summary>
    public string Shell(string script) => Run("/bin/sh", ["-c", script], null, null);

    private string Run(string program, IReadOnlyList<string> args, Dictionary<string, string>? environment, string? cwd)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cwd ?? Path };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["GIT_AUTHOR_NAME"] = "Dev";
        start.Environment["GIT_AUTHOR_EMAIL"] = "dev@example.com";
        start.Environment["GIT_COMMITTER_NAME"] = "Dev";
        start.Environment["GIT_COMMITTER_EMAIL"] = "dev@example.com";
        start.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        start.Environment["GIT_CONFIG_GLOBAL"] = "/dev/null";
        foreach (var (k, v) in environment ?? [])
        {
            start.Environment[k] = v;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {stderr}");
        }

        return stdout;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
