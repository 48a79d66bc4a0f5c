using Keywarden.Detection.Sources;
using Tomlyn;
using Tomlyn.Model;

namespace Keywarden.Detection.Suppression;

/// <summary>
/// The project's <c>.keywarden.toml</c>: paths to exclude and values to allow. Every key is documented
/// in docs/configuration.md; an unknown key is an error so a typo never silently disables a setting.
/// </summary>
public sealed record ScanConfig
{
    public const string FileName = ".keywarden.toml";

    public IReadOnlyList<string> Exclude { get; init; } = [];
    public IReadOnlyList<string> Allow { get; init; } = [];
    public bool? RespectGitignore { get; init; }

    public static ScanConfig Empty { get; } = new();

    /// <summary>Reads the config at <paramref name="path"/> within <see cref="InputLimits.ConfigBytes"/>: a 10 GB file or /dev/zero stops there.</summary>
    public static ScanConfig Load(string path)
    {
        string text;
        try
        {
            text = BoundedInput.ReadAllText(path, InputLimits.ConfigBytes, $"config {path}");
        }
        catch (InputException e)
        {
            throw new ConfigurationException(e.TooLarge ? e.Message : $"config {path}: cannot read ({e.Reason})", e);
        }

        return Parse(text, path);
    }

    public static ScanConfig Parse(string text, string path)
    {
        TomlTable table;
        try
        {
            table = TomlSerializer.Deserialize<TomlTable>(text) ?? new TomlTable();
        }
        catch (TomlException e)
        {
            throw new ConfigurationException($"config {path}: {ParseErrors.Toml(e)}", e);
        }

        var config = new ScanConfig();
        foreach (var (key, value) in table)
        {
            if (key != "scan")
            {
                throw new ConfigurationException($"config {path}: unknown table or key '{key}' (expected [scan])");
            }

            if (value is not TomlTable scan)
            {
                throw new ConfigurationException($"config {path}: 'scan' must be a table");
            }

            foreach (var (name, setting) in scan)
            {
                config = name switch
                {
                    "exclude" => config with { Exclude = Strings(path, "scan.exclude", setting) },
                    "allow" => config with { Allow = Strings(path, "scan.allow", setting) },
                    "respect_gitignore" => config with { RespectGitignore = setting as bool? ?? throw new ConfigurationException($"config {path}: scan.respect_gitignore must be true or false") },
                    _ => throw new ConfigurationException($"config {path}: unknown key 'scan.{name}' (expected exclude, allow, respect_gitignore)"),
                };
            }
        }

        return config;
    }

    private static List<string> Strings(string path, string name, object value)
    {
        if (value is not TomlArray array)
        {
            throw new ConfigurationException($"config {path}: {name} must be an array of strings");
        }

        var list = new List<string>(array.Count);
        foreach (var item in array)
        {
            list.Add(item as string ?? throw new ConfigurationException($"config {path}: {name} must be an array of strings"));
        }

        return list;
    }
}
