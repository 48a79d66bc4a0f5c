using System.CommandLine;
using System.Globalization;

namespace Keywarden.Cli.Commands;

/// <summary>
/// Options whose value is a number or a time, parsed here so that a bad value is one usage line and
/// exit 2 like every other usage error. (A validator that reads an option's value throws when the
/// value did not parse, and System.CommandLine's own message names a .NET type.)
/// </summary>
internal static class OptionValues
{
    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>; anything else is a usage error naming the range.</summary>
    public static Option<int> Int(string name, string description, int defaultValue, int min, int max = int.MaxValue) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            if (int.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
            {
                return value;
            }

            result.AddError($"{name} takes a whole number {Range(min, max)} (got {Quote(token)})");
            return defaultValue;
        },
    };

    /// <summary>An ISO 8601 date or time (UTC unless an offset is given).</summary>
    public static Option<DateTimeOffset?> Time(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            if (DateTimeOffset.TryParse(token, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
            {
                return value;
            }

            result.AddError($"{name} takes an ISO 8601 date or time such as 2025-01-31 or 2025-01-31T12:00:00Z (got {Quote(token)})");
            return null;
        },
    };

    private static string Range(int min, int max) => max == int.MaxValue
        ? string.Create(CultureInfo.InvariantCulture, $"of {min} or more")
        : string.Create(CultureInfo.InvariantCulture, $"from {min} to {max}");

    /// <summary>The bad value, shortened: a secret pasted into the wrong option must not be echoed whole.</summary>
    private static string Quote(string token) => token.Length > 24 ? KeyIdArgument.Mask(token) : $"'{token}'";
}
