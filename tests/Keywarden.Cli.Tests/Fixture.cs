using System.IO.Compression;
using Keywarden.Detection.Findings;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Cli.Tests;

/// <summary>
/// A small project tree with one credential of every kind, generated from a fixed seed at run time.
/// <see cref="Normalize"/> maps each generated value (and its redaction and hash) to the name the
/// golden files use, so the checked-in files hold no key-shaped value.
/// </summary>
internal sealed class Fixture : IDisposable
{
    private readonly TempTree _tree = new();
    private readonly List<(string Value, string Name)> _placeholders = [];

    public Fixture()
    {
        var random = new Random(2026);
        var liveKey = Add(KeyId(random, "AKIA", "123456789012"), "KEY_LIVE");
        var liveSecret = AddSecret(SecretAccessKey(random), "SECRET_LIVE");
        var tempKey = Add(KeyId(random, "ASIA", "123456789012"), "KEY_TEMP");
        var tempSecret = AddSecret(SecretAccessKey(random), "SECRET_TEMP");
        var token = AddSecret(SessionToken(random), "TOKEN_TEMP");
        var canaryKey = Add(KeyId(random, "AKIA", "595918472158"), "KEY_CANARY");
        var loneSecret = AddSecret(SecretAccessKey(random), "SECRET_LONE");
        var zipKey = Add(KeyId(random, "AKIA", "210987654321"), "KEY_ZIP");
        var allowedKey = Add(KeyId(random), "KEY_ALLOWED");
        Secrets = [liveSecret, tempSecret, token, loneSecret];
        LiveKey = liveKey;

        _tree.Write("config/prod.env", $"# production\nAWS_ACCESS_KEY_ID={liveKey}\nAWS_SECRET_ACCESS_KEY={liveSecret}\nAWS_REGION=eu-west-1\n");
        _tree.Write("deploy/session.json", $"{{\n  \"Credentials\": {{\n    \"AccessKeyId\": \"{tempKey}\",\n    \"SecretAccessKey\": \"{tempSecret}\",\n    \"SessionToken\": \"{token}\"\n  }}\n}}\n");
        _tree.Write("docs/aws.md", "Use the documentation key:\n\n    aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n");
        _tree.Write("docs/placeholder.txt", $"key: {Add("AKIA" + new string('X', 16), "KEY_PLACEHOLDER")}\n");
        _tree.Write("tests/canary.ini", $"[honeypot]\naws_access_key_id = {canaryKey}\n");
        _tree.Write("scripts/setup.sh", $"#!/bin/sh\nexport AWS_SECRET_ACCESS_KEY=\"{loneSecret}\"\n");
        _tree.Write("notes/known.txt", $"test key {allowedKey} # keywarden:allow\n");
        _tree.WriteBytes("tools/blob.bin", [0x7F, (byte)'E', (byte)'L', (byte)'F', 0, 0, 1, 2]);
        using (var memory = new MemoryStream())
        {
            using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
            using (var entry = new StreamWriter(zip.CreateEntry("app/settings.yaml").Open()))
            {
                entry.Write($"aws:\n  access_key_id: {zipKey}\n");
            }

            _tree.WriteBytes("dist/release.zip", memory.ToArray());
        }
    }

    public string Root => _tree.Root;

    public string LiveKey { get; }

    /// <summary>Every raw secret and token in the tree: none may appear in a report without --show-secrets.</summary>
    public IReadOnlyList<string> Secrets { get; }

    public TempTree Tree => _tree;

    /// <summary>Replaces generated values with their placeholder names.</summary>
    public string Normalize(string output)
    {
        foreach (var (value, name) in _placeholders.OrderByDescending(p => p.Value.Length))
        {
            output = output.Replace(value, "{{" + name + "}}", StringComparison.Ordinal);
        }

        return output;
    }

    private string Add(string value, string name)
    {
        _placeholders.Add((value, name));
        return value;
    }

    private string AddSecret(string value, string name)
    {
        _placeholders.Add((value, name));
        _placeholders.Add((SecretValue.Redact(value), name + "_REDACTED"));
        _placeholders.Add((SecretValue.HashOf(value), name + "_SHA256"));
        return value;
    }

    public void Dispose() => _tree.Dispose();
}
