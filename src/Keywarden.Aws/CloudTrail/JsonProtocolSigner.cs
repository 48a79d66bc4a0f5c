using Amazon.Runtime;
using Keywarden.Aws.Connection;

namespace Keywarden.Aws.CloudTrail;

/// <summary>
/// Signs an AWS JSON 1.1 request (CloudTrail's protocol: POST /, X-Amz-Target names the operation) with
/// the shared Signature Version 4 signer (<see cref="QuerySigner.SignPost"/>).
/// </summary>
internal static class JsonProtocolSigner
{
    public const string ContentType = "application/x-amz-json-1.1";

    public static HttpRequestMessage Sign(Uri endpoint, string region, string service, string target, string body, ImmutableCredentials credentials, DateTime utcNow) =>
        QuerySigner.SignPost(endpoint, region, service, body, ContentType, new Dictionary<string, string> { ["x-amz-target"] = target }, credentials, utcNow);
}
