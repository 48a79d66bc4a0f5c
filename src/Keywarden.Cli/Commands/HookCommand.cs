using System.CommandLine;
using System.Text;
using Keywarden.Detection.Sources.Git;

namespace Keywarden.Cli.Commands;

/// <summary>`keywarden hook install|uninstall`: git hooks that block commits and pushes with a live credential.</summary>
internal static class HookCommand
{
    public static Command Create(CliConsole console)
    {
        var prePush = new Option<bool>("--pre-push") { Description = "Install the pre-push hook too (scans the commits a push sends)." };
        var force = new Option<bool>("--force") { Description = "Rewrite Keywarden's hook even if it exists (e.g. after moving the keywarden binary)." };
        var repository = new Argument<string>("repository")
        {
            Description = "The repository (default: the current directory).",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => ".",
        };
        var install = new Command("install", "Install a pre-commit hook (and optionally pre-push) in the repository, chaining any hook already there.") { repository, prePush, force };
        install.SetAction((parse, ct) => Task.FromResult(Run(console, () => HookInstaller.Install(Repository(parse.GetValue(repository), ct), Invocation(), parse.GetValue(prePush), parse.GetValue(force)))));
        var uninstall = new Command("uninstall", "Remove exactly what `keywarden hook install` added, restoring chained hooks.") { repository };
        uninstall.SetAction((parse, ct) => Task.FromResult(Run(console, () => HookInstaller.Uninstall(Repository(parse.GetValue(repository), ct)))));
        return new Command("hook", "Manage the git hooks that stop leaks before they leave the machine.") { install, uninstall };
    }

    private static int Run(CliConsole console, Func<IReadOnlyList<string>> action)
    {
        try
        {
            foreach (var line in action())
            {
                console.Stderr.WriteLine(CliConsole.Line(line));
            }

            return ExitCodes.Success;
        }
        catch (GitException e)
        {
            console.Error(e.Message);
            return ExitCodes.Error;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            console.Error($"cannot write the hook: {e.Message.TrimEnd('.')}");
            return ExitCodes.Error;
        }
    }

    private static string Repository(string? path, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var full = Path.GetFullPath(path ?? ".");
        return Directory.Exists(full) ? full : throw new GitException($"no such directory: {path}");
    }

    /// <summary>How the hook calls this keywarden: the published binary, or `dotnet keywarden.dll` when run through dotnet.</summary>
    private static string Invocation()
    {
        var process = Environment.ProcessPath ?? "keywarden";
        if (Path.GetFileNameWithoutExtension(process) == "dotnet")
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "keywarden.dll");
            return $"{Quote(process)} {Quote(dll)}";
        }

        return Quote(process);
    }

    internal static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>
/// Writes and removes Keywarden's git hooks. An existing hook is kept and run first, renamed to
/// <c>HOOK.keywarden-chained</c>; installing twice changes nothing; uninstalling restores it.
/// </summary>
internal static class HookInstaller
{
    internal const string Marker = "# keywarden-hook v1";
    internal const string ChainedSuffix = ".keywarden-chained";

    public static IReadOnlyList<string> Install(string workTree, string keywarden, bool prePush, bool force)
    {
        var hooks = HooksDirectory(workTree);
        Directory.CreateDirectory(hooks);
        var messages = new List<string>
        {
            InstallOne(hooks, "pre-commit", PreCommitScript(keywarden), force),
        };
        if (prePush)
        {
            messages.Add(InstallOne(hooks, "pre-push", PrePushScript(keywarden), force));
        }

        return messages;
    }

    public static IReadOnlyList<string> Uninstall(string workTree)
    {
        var hooks = HooksDirectory(workTree);
        var messages = new List<string>();
        foreach (var name in new[] { "pre-commit", "pre-push" })
        {
            var path = Path.Combine(hooks, name);
            if (!File.Exists(path) || !IsOurs(path))
            {
                continue;
            }

            File.Delete(path);
            var chained = path + ChainedSuffix;
            if (File.Exists(chained))
            {
                File.Move(chained, path);
                messages.Add($"keywarden: removed the {name} hook and restored the hook it chained");
            }
            else
            {
                messages.Add($"keywarden: removed the {name} hook");
            }
        }

        if (messages.Count == 0)
        {
            messages.Add("keywarden: no Keywarden hook is installed");
        }

        return messages;
    }

    private static string InstallOne(string hooks, string name, string script, bool force)
    {
        var path = Path.Combine(hooks, name);
        if (File.Exists(path) && IsOurs(path))
        {
            if (!force || Prefix(path, Encoding.UTF8.GetByteCount(script) + 1) == script)
            {
                return $"keywarden: the {name} hook is already installed ({path})";
            }

            Write(path, script);
            return $"keywarden: rewrote the {name} hook ({path})";
        }

        var chained = path + ChainedSuffix;
        var message = $"keywarden: installed the {name} hook ({path})";
        if (File.Exists(path))
        {
            if (File.Exists(chained))
            {
                throw new IOException($"{chained} already exists: move it away, then install again");
            }

            File.Move(path, chained);
            message += $"; your previous hook runs first, kept as {Path.GetFileName(chained)}";
        }

        Write(path, script);
        return message;
    }

    private static void Write(string path, string script)
    {
        File.WriteAllText(path, script, new UTF8Encoding(false));
        if (OperatingSystem.IsWindows())
        {
            return; // Git for Windows runs hooks through its own sh, whatever the mode.
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    /// <summary>Our marker is on line 2; only the head of the hook is read (another tool's hook may be a large binary).</summary>
    private static bool IsOurs(string path) => Prefix(path, 4096).Split('\n').Take(3).Any(l => l.StartsWith(Marker, StringComparison.Ordinal));

    /// <summary>At most the first <paramref name="bytes"/> bytes of the file, as text.</summary>
    private static string Prefix(string path, int bytes)
    {
        using var stream = File.OpenRead(path);
        var buffer = new byte[bytes];
        var read = stream.ReadAtLeast(buffer, bytes, throwOnEndOfStream: false);
        return Encoding.UTF8.GetString(buffer, 0, read);
    }

    private static string HooksDirectory(string workTree) => GitRepository.HooksDirectory(workTree);

    internal static string PreCommitScript(string keywarden) => $"""
        #!/bin/sh
        {Marker}: installed by `keywarden hook install`; remove with `keywarden hook uninstall`.
        # Blocks a commit that adds a live AWS credential. To commit anyway, knowingly: git commit --no-verify
        chained="$0{ChainedSuffix}"
        if [ -x "$chained" ]; then "$chained" "$@" || exit $?; fi
        exec {keywarden} scan --staged --no-progress
        """ + "\n";

    internal static string PrePushScript(string keywarden) => $"""
        #!/bin/sh
        {Marker}: installed by `keywarden hook install --pre-push`; remove with `keywarden hook uninstall`.
        # Blocks a push whose commits add a live AWS credential. To push anyway, knowingly: git push --no-verify
        input=$(cat)
        chained="$0{ChainedSuffix}"
        if [ -x "$chained" ]; then printf '%s\n' "$input" | "$chained" "$@" || exit $?; fi
        printf '%s\n' "$input" | exec {keywarden} scan --pre-push --no-progress
        """ + "\n";
}
