namespace Keywarden.Detection.Credentials;

/// <summary>Whether a found credential could work.</summary>
public enum Classification
{
    /// <summary>Could work: treat as exposed. A key ID with no secret nearby is still live.</summary>
    Live,
    /// <summary>An AWS documentation key (anything ending in EXAMPLE): never live.</summary>
    Example,
    /// <summary>A low-entropy stand-in, such as AKIA followed by sixteen X.</summary>
    Placeholder,
    /// <summary>A key of a known canary-token account: using it alerts its owner, so never verify it.</summary>
    Canary,
}

public static class ClassificationNames
{
    /// <summary>
    /// Every classification in value order, as <c>Enum.GetValues</c> lists them, in an array: generic code
    /// over our enum (<c>Enum.GetValues&lt;T&gt;</c>, enumerators, spans) is not in the ReadyToRun image and
    /// would be compiled at run time, which the pre-commit hook's start-up pays for.
    /// </summary>
    public static Classification[] All() => (Classification[])Enum.GetValues(typeof(Classification));

    public static string ToWire(this Classification classification) => classification switch
    {
        Classification.Live => "live",
        Classification.Example => "example",
        Classification.Placeholder => "placeholder",
        Classification.Canary => "canary",
        _ => throw new ArgumentOutOfRangeException(nameof(classification)),
    };

    public static bool TryParse(string value, out Classification classification)
    {
        foreach (var c in All())
        {
            if (string.Equals(c.ToWire(), value, StringComparison.OrdinalIgnoreCase))
            {
                classification = c;
                return true;
            }
        }

        classification = default;
        return false;
    }
}
