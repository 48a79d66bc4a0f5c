namespace Keywarden.Tests.Shared;

/// <summary>
/// Repositories with staged changes of every shape the staged check meets, for the tests that compare
/// the in-process index reader (and the hook's short command-line path) with <c>git diff --cached</c>.
/// Key-shaped values come from the caller, generated at run time.
/// </summary>
public static class StagedScenarios
{
    /// <summary>Scenarios git must handle itself: the in-process reader gives way (and the results are the same).</summary>
    public static readonly IReadOnlySet<string> ReadThroughGit = new HashSet<string>(StringComparer.Ordinal)
    {
        "split index", "corrupt index", "intent to add", "merge conflict", "sha256 repository", "subdirectory of the work tree",
    };

    private static readonly Dictionary<string, Func<GitRepo, StagedValues, string>> Builders = new(StringComparer.Ordinal)
    {
        ["added key in a new file"] = (repo, v) =>
        {
            repo.Write("README.md", "hello\n");
            repo.Commit("initial");
            repo.Write("deploy/prod.env", $"AWS_ACCESS_KEY_ID={v.KeyId()}\nAWS_SECRET_ACCESS_KEY={v.Secret()}\n");
            repo.Git(["add", "deploy/prod.env"]);
            return repo.Path;
        },
        ["key only in HEAD"] = (repo, v) =>
        {
            var key = v.KeyId();
            repo.Write("config.ini", $"[aws]\nkey = {key}\n");
            repo.Write("copy.txt", "nothing yet\n");
            repo.Commit("committed key");
            repo.Append("config.ini", "region = eu-west-1\n");
            repo.Git(["add", "config.ini"]);
            return repo.Path;
        },
        ["modified, deleted and renamed files"] = (repo, v) =>
        {
            var moved = v.KeyId();
            repo.Write("a.txt", "a\n");
            repo.Write("b.txt", "b\n");
            repo.Write("old/name.txt", $"k={moved}\n");
            repo.Write("z/keep.txt", "keep\n");
            repo.Commit("initial");
            repo.Append("a.txt", $"key {v.KeyId()}\n");
            repo.Git(["add", "a.txt"]);
            repo.Git(["rm", "-q", "b.txt"]);
            Directory.CreateDirectory(System.IO.Path.Combine(repo.Path, "new"));
            repo.Git(["mv", "old/name.txt", "new/name.txt"]);
            return repo.Path;
        },
        ["executable bit change"] = (repo, v) =>
        {
            repo.Write("run.sh", $"#!/bin/sh\nexport AWS_ACCESS_KEY_ID={v.KeyId()}\n");
            repo.Write("already.sh", "#!/bin/sh\necho unchanged\n");
            repo.Shell("chmod +x already.sh");
            repo.Commit("script");
            repo.Git(["update-index", "--chmod=+x", "run.sh"]);
            repo.Write("tool.sh", $"#!/bin/sh\necho {v.KeyId()}\n");
            repo.Git(["add", "--chmod=+x", "tool.sh"]);
            return repo.Path;
        },
        ["symlink"] = (repo, v) =>
        {
            repo.Write("target.txt", "t\n");
            repo.Write("becomes-link.txt", "plain\n");
            repo.Commit("files");
            File.CreateSymbolicLink(System.IO.Path.Combine(repo.Path, "link"), $"secrets/{v.KeyId()}.txt");
            File.Delete(System.IO.Path.Combine(repo.Path, "becomes-link.txt"));
            File.CreateSymbolicLink(System.IO.Path.Combine(repo.Path, "becomes-link.txt"), "target.txt");
            repo.Git(["add", "-A"]);
            return repo.Path;
        },
        ["submodule gitlink"] = (repo, v) =>
        {
            repo.Write("a.txt", "a\n");
            var head = repo.Commit("initial");
            repo.Git(["update-index", "--add", "--cacheinfo", $"160000,{head},vendor/lib"]);
            repo.Commit("add gitlink");
            repo.Git(["update-index", "--add", "--cacheinfo", $"160000,{head},vendor/other"]);
            repo.Git(["update-index", "--force-remove", "vendor/lib"]);
            repo.Write("vendor/lib", $"now a file with {v.KeyId()}\n");
            repo.Git(["add", "vendor/lib"]);
            return repo.Path;
        },
        ["file in a new nested directory"] = (repo, v) =>
        {
            repo.Write("src/app.py", "print('hi')\n");
            repo.Write("src/a-b.txt", "dash\n");
            repo.Write("src/a.b", "dot\n");
            repo.Write("src/a0", "digit\n");
            repo.Commit("initial");
            repo.Write("src/a/deep/er/still/creds.json", $"{{\"AccessKeyId\": \"{v.KeyId()}\", \"SecretAccessKey\": \"{v.Secret()}\"}}\n");
            repo.Write("src/a-b.txt", $"dash {v.KeyId()}\n");
            repo.Git(["add", "-A"]);
            return repo.Path;
        },
        ["non-UTF-8 path"] = (repo, v) =>
        {
            repo.Write("a.txt", "a\n");
            repo.Commit("initial");
            repo.Write("blob.txt", $"key {v.KeyId()}\n");
            var blob = repo.Git(["hash-object", "-w", "blob.txt"]).Trim();
            File.Delete(System.IO.Path.Combine(repo.Path, "blob.txt"));
            // "caf\351" is Latin-1 for café: not valid UTF-8. Paths are bytes to git; arguments cannot carry them.
            repo.Shell($"printf '100644 {blob}\\tdocs/caf\\351.txt\\n100644 {blob}\\tdocs/na\\303\\257ve.txt\\n' | git update-index --index-info");
            return repo.Path;
        },
        ["index version 4"] = (repo, v) =>
        {
            for (var i = 0; i < 20; i++)
            {
                repo.Write($"pkg/module{i:D2}/file{i}.txt", $"content {i}\n");
            }

            repo.Commit("many files");
            repo.Write("pkg/module07/file7.txt", $"content 7 {v.KeyId()}\n");
            repo.Write("pkg/module07/new.txt", $"new {v.KeyId()}\n");
            repo.Git(["add", "-A"]);
            repo.Git(["update-index", "--index-version", "4"]);
            return repo.Path;
        },
        ["split index"] = (repo, v) =>
        {
            repo.Write("a.txt", "a\n");
            repo.Commit("initial");
            repo.Write("b.txt", $"k={v.KeyId()}\n");
            repo.Git(["add", "b.txt"]);
            repo.Git(["update-index", "--split-index"]);
            return repo.Path;
        },
        ["unborn HEAD"] = (repo, v) =>
        {
            repo.Write("first.txt", $"k={v.KeyId()}\n");
            repo.Write("dir/second.txt", "plain\n");
            repo.Git(["add", "-A"]);
            return repo.Path;
        },
        ["packed HEAD objects"] = (repo, v) =>
        {
            var key = v.KeyId();
            for (var i = 0; i < 12; i++)
            {
                repo.Write("big.txt", string.Concat(Enumerable.Range(0, 400 + i).Select(n => $"line {n} of a file that changes a little in every commit\n")));
                repo.Write($"dir{i % 3}/f{i}.txt", $"file {i}\n");
                if (i == 5)
                {
                    repo.Write("held.txt", $"committed {key}\n");
                }

                repo.Commit($"commit {i}");
                if (i == 7)
                {
                    repo.Git(["branch", "older"]);
                }
            }

            // gc keeps the newest versions whole and stores older ones as deltas: on an older branch,
            // HEAD's trees and blobs are deltas (read through their bases), its ref is in packed-refs.
            repo.Git(["gc", "-q", "--aggressive"]);
            repo.Git(["pack-refs", "--all"]);
            repo.Git(["checkout", "-q", "older"]);
            repo.Append("big.txt", $"staged {v.KeyId()}\n");
            repo.Append("held.txt", "more\n");
            repo.Write("dir1/added.txt", $"{v.Secret()}\n");
            repo.Git(["add", "-A"]);
            return repo.Path;
        },
        ["corrupt index"] = (repo, v) =>
        {
            repo.Write("a.txt", "a\n");
            repo.Commit("initial");
            repo.Write("b.txt", $"k={v.KeyId()}\n");
            repo.Git(["add", "b.txt"]);
            var index = System.IO.Path.Combine(repo.Path, ".git", "index");
            var bytes = File.ReadAllBytes(index);
            Array.Fill(bytes, (byte)0x5A, 4, bytes.Length - 4);
            File.WriteAllBytes(index, bytes);
            return repo.Path;
        },
        ["soft reset"] = (repo, v) =>
        {
            repo.Write("lib/one.txt", "one\n");
            repo.Write("lib/two.txt", "two\n");
            repo.Write("docs/readme.md", "docs\n");
            repo.Commit("initial");
            repo.Write("lib/two.txt", $"two {v.KeyId()}\n");
            repo.Write("lib/sub/three.txt", "three\n");
            repo.Commit("second");
            repo.Git(["reset", "-q", "--soft", "HEAD~1"]);
            return repo.Path;
        },
        ["intent to add"] = (repo, v) =>
        {
            repo.Write("a.txt", "a\n");
            repo.Commit("initial");
            repo.Write("later.txt", $"k={v.KeyId()}\n");
            repo.Git(["add", "-N", "later.txt"]);
            repo.Write("now.txt", $"k={v.KeyId()}\n");
            repo.Git(["add", "now.txt"]);
            return repo.Path;
        },
        ["merge conflict"] = (repo, v) =>
        {
            repo.Write("a.txt", "base\n");
            repo.Commit("base");
            repo.Git(["checkout", "-q", "-b", "other"]);
            repo.Write("a.txt", $"other {v.KeyId()}\n");
            repo.Commit("other");
            repo.Git(["checkout", "-q", "main"]);
            repo.Write("a.txt", "main\n");
            repo.Commit("main");
            try
            {
                repo.Git(["merge", "-q", "other"]);
            }
            catch (InvalidOperationException)
            {
                // The conflict is the point.
            }

            repo.Write("b.txt", $"k={v.KeyId()}\n");
            repo.Git(["add", "b.txt"]);
            return repo.Path;
        },
        ["directory and file swapped"] = (repo, v) =>
        {
            repo.Write("was-file", "file\n");
            repo.Write("was-dir/inner.txt", "inner\n");
            repo.Commit("initial");
            repo.Git(["rm", "-q", "was-file", "was-dir/inner.txt"]);
            repo.Write("was-file/now-inside.txt", $"k={v.KeyId()}\n");
            repo.Write("was-dir", $"k={v.KeyId()}\n");
            repo.Git(["add", "-A"]);
            return repo.Path;
        },
        ["nothing staged"] = (repo, v) =>
        {
            repo.Write("a.txt", $"k={v.KeyId()}\n");
            repo.Write("b/c.txt", "c\n");
            repo.Commit("initial");
            repo.Write("unstaged.txt", $"k={v.KeyId()}\n");
            return repo.Path;
        },
        ["detached HEAD"] = (repo, v) =>
        {
            repo.Write("a.txt", "a\n");
            repo.Commit("initial");
            repo.Write("a.txt", "b\n");
            repo.Commit("second");
            repo.Git(["checkout", "-q", "--detach", "HEAD~1"]);
            repo.Write("c.txt", $"k={v.KeyId()}\n");
            repo.Git(["add", "c.txt"]);
            return repo.Path;
        },
        ["index file missing"] = (repo, v) =>
        {
            repo.Write("a.txt", $"k={v.KeyId()}\n");
            repo.Commit("initial");
            File.Delete(System.IO.Path.Combine(repo.Path, ".git", "index"));
            return repo.Path;
        },
        ["linked worktree"] = (repo, v) =>
        {
            repo.Write("a.txt", "a\n");
            repo.Commit("initial");
            repo.Git(["worktree", "add", "-q", "-b", "side", "wt"]);
            var worktree = System.IO.Path.Combine(repo.Path, "wt");
            File.WriteAllText(System.IO.Path.Combine(worktree, "a.txt"), $"a {v.KeyId()}\n");
            repo.Git(["add", "a.txt"], cwd: worktree);
            return worktree;
        },
        ["sha256 repository"] = (repo, v) =>
        {
            Directory.Delete(System.IO.Path.Combine(repo.Path, ".git"), recursive: true);
            repo.Git(["init", "-q", "--object-format=sha256", "-b", "main"]);
            repo.Write("a.txt", "a\n");
            repo.Commit("initial");
            repo.Write("b.txt", $"k={v.KeyId()}\n");
            repo.Git(["add", "b.txt"]);
            return repo.Path;
        },
        ["subdirectory of the work tree"] = (repo, v) =>
        {
            repo.Write("sub/a.txt", "a\n");
            repo.Commit("initial");
            repo.Write("sub/b.txt", $"k={v.KeyId()}\n");
            repo.Write("top.txt", $"k={v.KeyId()}\n");
            repo.Git(["add", "-A"]);
            return System.IO.Path.Combine(repo.Path, "sub");
        },
    };

    public static IEnumerable<string> Names => Builders.Keys;

    /// <summary>Builds the scenario in <paramref name="repo"/>; returns the directory to scan.</summary>
    public static string Build(string name, GitRepo repo, StagedValues values) => Builders[name](repo, values);
}

/// <summary>Makers of key-shaped values, from the caller's generator.</summary>
public sealed record StagedValues(Func<string> KeyId, Func<string> Secret);
