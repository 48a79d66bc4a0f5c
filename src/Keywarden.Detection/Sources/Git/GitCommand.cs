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
        // Replace refs and grafts could hide commits from `log --all`: history is read as it really is.
        start.ArgumentList.Add("--no-replace-objects");
        if (directory is not null)
        {
            start.ArgumentList.Add("-C");
            start.ArgumentList.Add(directory);
        }

        // Keep user configuration from changing output formats (pagers, colours, quoting).
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
        if (Environment.GetEnvironmentVariable("GIT_SSH_COMMAND") is null && Environment.GetEnvironmentVariable("GIT_SSH") is null)
        {
            // Never wait on an ssh prompt (passphrase, unknown host key): fail with ssh's message instead.
            start.Environment["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes";
        }

        start.Environment["GIT_NO_REPLACE_OBJECTS"] = "1";
        // A partial clone's missing blobs are reported as unreadable, not fetched one by one over the network.
        start.Environment["GIT_NO_LAZY_FETCH"] = "1";
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

    /// <summary>Ends a git process that is still running (after an error or cancellation on our side).</summary>
    public static void Stop(System.Diagnostics.Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>A cat-file --batch header: "&lt;id&gt; &lt;type&gt; &lt;size&gt;", or null when the object is missing or ambiguous.</summary>
    public static (string Type, long Size)? ParseBatchHeader(string header)
    {
        // Parsed from the end: the name echoed in a "missing" line may itself contain spaces.
        var last = header.LastIndexOf(' ');
        if (last < 0 || !long.TryParse(header.AsSpan(last + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size))
        {
            return null;
        }

        var before = header.LastIndexOf(' ', last - 1);
        return before < 0 ? null : (header[(before + 1)..last], size);
    }

    /// <summary>Runs git to completion and returns its standard output; throws with git's first error line on failure.</summary>
    public static string Run(string? directory, IEnumerable<string> args, CancellationToken cancellationToken, string? input = null, bool allowFailure = false)
    {
        using var process = Start(StartInfo(directory, args, redirectInput: input is not null));
        // Ctrl-C reaches git through the terminal's process group; SIGTERM (timeout, a CI cancel) reaches
        // only us: on cancellation git is ended here, so a clone stops and its folder can be removed.
        using var stop = cancellationToken.Register(() => Stop(process));
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        cancellationToken.ThrowIfCancellationRequested();
        if (process.ExitCode != 0 && !allowFailure)
        {
            throw new GitException(FirstLine(stderr.GetAwaiter().GetResult(), $"git exited with code {process.ExitCode}"));
        }

        return stdout;
    }

    /// <summary>
    /// git's first error line, every URL in it redacted: git quotes remote URLs (after rewriting them
    /// with url.*.insteadOf, which may add credentials from configuration) with their user-info and query.
    /// </summary>
    public static string FirstLine(string text, string fallback)
    {
        foreach (var line in text.Split('\n'))
        {
            var trimmed = line.Trim();
            if (trimmed.Length > 0)
            {
                return Writers.UrlRedaction.RedactText(trimmed.StartsWith("fatal: ", StringComparison.Ordinal) ? trimmed[7..] : trimmed);
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
