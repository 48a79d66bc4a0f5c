namespace Keywarden.Tests.Shared;

/// <summary>Where the repository is, from a test's output folder.</summary>
public static class TestPaths
{
    public static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Keywarden.slnx")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("repository root not found");
    }
}
