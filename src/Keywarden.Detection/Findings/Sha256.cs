using Org.BouncyCastle.Crypto.Digests;

namespace Keywarden.Detection.Findings;

/// <summary>
/// SHA-256 of secrets and fingerprint material through BouncyCastle's managed digest, not .NET's SHA256:
/// on Linux that calls OpenSSL, and loading and initialising OpenSSL costs about 15 ms, several times the
/// pre-commit hook's whole scan, to hash a few strings of some dozen bytes (BouncyCastle loads in about 3 ms).
/// Tests compare it with .NET's.
/// </summary>
internal static class Sha256
{
    public const int Length = 32;

    public static void Hash(ReadOnlySpan<byte> data, Span<byte> hash)
    {
        var digest = new Sha256Digest();
        digest.BlockUpdate(data);
        digest.DoFinal(hash);
    }
}
