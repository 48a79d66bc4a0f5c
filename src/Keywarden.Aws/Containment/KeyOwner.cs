namespace Keywarden.Aws.Containment;

public enum PrincipalKind
{
    /// <summary>An IAM user: long-term keys, and sessions it minted with GetSessionToken.</summary>
    User,

    /// <summary>An IAM role: the sessions (ASIA keys) of whoever assumed it.</summary>
    Role,

    /// <summary>The account's root user: no policy can be attached to it.</summary>
    Root,

    /// <summary>A GetFederationToken session: its permissions come from the IAM user who minted it.</summary>
    FederatedUser,
}

/// <summary>Who is behind an access key, in which account and partition.</summary>
public sealed record KeyOwner(PrincipalKind Kind, string Name, string AccountId, string Partition, string? Arn)
{
    /// <summary>
    /// The principal an ARN names: <c>arn:aws:iam::111122223333:user/path/name</c>,
    /// <c>arn:aws:iam::111122223333:root</c>, <c>arn:aws:iam::111122223333:role/path/name</c>,
    /// <c>arn:aws:sts::111122223333:assumed-role/name/session</c>, <c>arn:aws:sts::111122223333:federated-user/name</c>.
    /// Null for anything else. Source: IAM User Guide, "IAM identifiers".
    /// </summary>
    public static KeyOwner? FromArn(string arn)
    {
        var parts = arn.Split(':', 6);
        if (parts.Length != 6 || parts[0] != "arn" || parts[2] is not ("iam" or "sts") || parts[4].Length != 12 || !parts[4].All(char.IsAsciiDigit))
        {
            return null;
        }

        var (partition, account, resource) = (parts[1], parts[4], parts[5]);
        var path = resource.Split('/');
        return (parts[2], path[0]) switch
        {
            ("iam", "root") when path.Length == 1 => new KeyOwner(PrincipalKind.Root, "root", account, partition, arn),
            ("iam", "user") when path.Length >= 2 && path[^1].Length > 0 => new KeyOwner(PrincipalKind.User, path[^1], account, partition, arn),
            ("iam", "role") when path.Length >= 2 && path[^1].Length > 0 => new KeyOwner(PrincipalKind.Role, path[^1], account, partition, arn),
            ("sts", "assumed-role") when path.Length == 3 && path[1].Length > 0 => new KeyOwner(PrincipalKind.Role, path[1], account, partition, $"arn:{partition}:iam::{account}:role/{path[1]}"),
            ("sts", "federated-user") when path.Length == 2 && path[1].Length > 0 => new KeyOwner(PrincipalKind.FederatedUser, path[1], account, partition, arn),
            _ => null,
        };
    }
}
