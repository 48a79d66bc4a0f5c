namespace Keywarden.Detection.Sources;

/// <summary>
/// The caps on inputs read whole (docs/limits.md, "Files read whole"), sized well above what a real
/// input needs and far below what would strain memory: one place, so the documentation has one source.
/// </summary>
public static class InputLimits
{
    /// <summary>A <c>.keywarden.toml</c> or the responder's config.toml: a few kilobytes in practice.</summary>
    public const long ConfigBytes = 1L << 20;

    /// <summary>
    /// A baseline written by --write-baseline: about 250 bytes a finding, so 64 MiB holds about 250,000
    /// findings, more than the findings cap lets a scan record.
    /// </summary>
    public const long BaselineBytes = 64L << 20;

    /// <summary>One <c>.gitignore</c> (or <c>.git/info/exclude</c>): generated ones run to tens of kilobytes.</summary>
    public const long GitignoreBytes = 1L << 20;

    /// <summary>
    /// git's pre-push lines on standard input: 4 hashes and 2 ref names a line, about 200 bytes, so 4 MiB
    /// is some 20,000 refs pushed at once.
    /// </summary>
    public const long PrePushBytes = 4L << 20;
}
