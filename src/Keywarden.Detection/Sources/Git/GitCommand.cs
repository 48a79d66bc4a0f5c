using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Keywarden.Detection.Sources.Git;

/// <summary>A git command failed or git is missing; the message is one line for the user.</summary>
public sealed class GitException : Exception
{
    public GitException() { }
    public GitException(string message) : base(message) { }
    public GitException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Runs the git executable. Keywarden reads repositories through git's own plumbing (log --raw and
/// cat-file --batch) rather than a library: no maintained .NET package reads every pack, index and
/// partial-clone format that git itself does.
/// </summary>
internal static class GitCommand
{
    public static ProcessStartInfo StartInfo(string? directory, IEnumerable<string> args, bool redirectInput = false)
    {
        var start = new ProcessStartInfo("git")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
            StandardOutputEncoding = null,
        };
        if (directory is not null)
        {
            start.ArgumentList.Add("-C");
            start.ArgumentList.Add(directory);
        }

        // Keep user configuration from changing output formats (pagers, colours, quoting, replace refs).
        foreach (var setting in new[] { "core.quotePath=false", "color.ui=false", "log.showSignature=false", "diff.external=", "core.fsmonitor=false" })
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(setting);
        }

        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["GIT_TERMINAL_PROMPT"] = "0";
        start.Environment["GIT_PAGER"] = "cat";
        start.Environment["LC_ALL"] = "C";
        return start;
    }

    public static Process Start(ProcessStartInfo start)
    {
        try
        {
            return Process.Start(start) ?? throw new GitException("git could not be started");
        }
        catch (Win32Exception e)
        {
            throw new GitException("git is not installed or not on PATH", e);
        }
    }

    /// <summary>Runs git to completion and returns its standard output; throws with git's first error line on failure.</summary>
    public static string Run(string? directory, IEnumerable<string> args, CancellationToken cancellationToken, string? input = null, bool allowFailure = false)
    {
        using var process = Start(StartInfo(directory, args, redirectInput: input is not null));
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0 && !allowFailure)
        {
            throw new GitException(FirstLine(stderr.GetAwaiter().GetResult(), $"git exited with code {process.ExitCode}"));
        }

        return stdout;
    }

    public static string FirstLine(string text, string fallback)
    {
        foreach (var line in text.Split('\n'))
        {
            var trimmed = line.Trim();
            if (trimmed.Length > 0)
            {
                return trimmed.StartsWith("fatal: ", StringComparison.Ordinal) ? trimmed[7..] : trimmed;
            }
        }

        return fallback;
    }

    /// <summary>Splits a NUL-separated stream into tokens decoded as UTF-8 (invalid bytes become U+FFFD).</summary>
    public static IEnumerable<string> NulTokens(Stream stream)
    {
        var buffer = new byte[1 << 16];
        var pending = new MemoryStream();
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            var start = 0;
            for (var i = 0; i < read; i++)
            {
                if (buffer[i] != 0)
                {
                    continue;
                }

                string token;
                if (pending.Length > 0)
                {
                    pending.Write(buffer, start, i - start);
                    token = Encoding.UTF8.GetString(pending.GetBuffer(), 0, (int)pending.Length);
                    pending.SetLength(0);
                }
                else
                {
                    token = Encoding.UTF8.GetString(buffer, start, i - start);
                }

                yield return token;
                start = i + 1;
            }

            pending.Write(buffer, start, read - start);
        }

        if (pending.Length > 0)
        {
            yield return Encoding.UTF8.GetString(pending.GetBuffer(), 0, (int)pending.Length);
        }
    }
}
