namespace Keywarden.Tests.Shared;

/// <summary>Files that may name keys are created readable by their owner only: the mode read back from disk.</summary>
public static class FileModes
{
    public const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Mode 0600 (Unix only: Windows has no mode bits).</summary>
    public static void AssertOwnerOnly(string path)
    {
        if (!OperatingSystem.IsWindows())
        {
            Assert.True(File.GetUnixFileMode(path) == OwnerReadWrite, $"{path} has mode {File.GetUnixFileMode(path)}, not owner read/write only");
        }
    }
}
