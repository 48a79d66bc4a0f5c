namespace Keywarden.Cli;

/// <summary>Exit codes of every command, documented in docs/exit-codes.md.</summary>
internal static class ExitCodes
{
    /// <summary>Nothing to act on: no finding that --fail-on counts.</summary>
    public const int Success = 0;

    /// <summary>At least one finding that --fail-on counts (by default: a live credential).</summary>
    public const int Findings = 1;

    /// <summary>Usage, configuration or I/O error: one line on stderr says what and where.</summary>
    public const int Error = 2;

    /// <summary>quarantine/release: AWS refused or failed part of the plan, or only a person can act (a root key); what was done is recorded.</summary>
    public const int Incomplete = 4;

    /// <summary>investigate: the investigation ran but read no CloudTrail event at all (an empty folder, the wrong path, a window with nothing in it).</summary>
    public const int NoEvents = 5;

    /// <summary>investigate: some files (or records) could not be read; each is named on stderr and the report covers the rest.</summary>
    public const int Partial = 6;

    /// <summary>Interrupted (Ctrl-C), as shells report SIGINT.</summary>
    public const int Interrupted = 130;

    /// <summary>Stopped by SIGTERM (timeout, systemd, a CI cancel): work cancelled and cleaned up as for Ctrl-C; 128 + 15, as shells report it.</summary>
    public const int Terminated = 143;
}
