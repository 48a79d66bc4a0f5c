using System.Globalization;
using System.Text;
using Amazon.Runtime;
using Amazon.Runtime.Internal.Auth;

namespace Keywarden.Aws.Connection;

/// <summary>
/// Signs a POST to an AWS API with Signature Version 4: the Query protocol (IAM: a form-encoded body) and
/// JSON 1.1 (CloudTrail: a JSON body, the operation in X-Amz-Target). The hashing and key derivation are
/// AWSSDK.Core's (<see cref="AWS4Signer"/>); only the canonical request is assembled here, because NuGet
/// has no AWSSDK.IdentityManagement or AWSSDK.CloudTrail package on this project's machines. Source: AWS
/// General Reference, "Create a signed AWS API request" (Signature Version 4).
/// </summary>
internal static class QuerySigner
{
    public const string FormContentType = "application/x-www-form-urlencoded; charset=utf-8";

    /// <summary>A Query-protocol request: the parameters are the form-encoded body.</summary>
    public static HttpRequestMessage Sign(Uri endpoint, string region, string service, string body, ImmutableCredentials credentials, DateTime utcNow) =>
        SignPost(endpoint, region, service, body, FormContentType, null, credentials, utcNow);

    /// <summary>
    /// A POST with <paramref name="body"/> of <paramref name="contentType"/>; <paramref name="extraHeaders"/>
    /// (lower-case names, e.g. x-amz-target) are signed and sent.
    /// </summary>
    public static HttpRequestMessage SignPost(Uri endpoint, string region, string service, string body, string contentType,
        IReadOnlyDictionary<string, string>? extraHeaders, ImmutableCredentials credentials, DateTime utcNow)
    {
        var amzDate = utcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = utcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var host = endpoint.IsDefaultPort ? endpoint.Host : $"{endpoint.Host}:{endpoint.Port}";
        var payloadHash = Convert.ToHexStringLower(AWS4Signer.ComputeHash(body));
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["content-type"] = contentType,
            ["host"] = host,
            ["x-amz-date"] = amzDate,
        };
        foreach (var (name, value) in extraHeaders ?? new Dictionary<string, string>())
        {
            headers[name] = value;
        }

        if (credentials.UseToken)
        {
            headers["x-amz-security-token"] = credentials.Token;
        }

        var signedHeaders = string.Join(';', headers.Keys);
        var canonical = new StringBuilder()
            .Append("POST\n")
            .Append(endpoint.AbsolutePath.Length == 0 ? "/" : endpoint.AbsolutePath).Append('\n')
            .Append('\n') // no query string: the parameters are in the body
            .Append(string.Concat(headers.Select(h => $"{h.Key}:{h.Value.Trim()}\n")))
            .Append('\n')
            .Append(signedHeaders).Append('\n')
            .Append(payloadHash)
            .ToString();
        var scope = $"{date}/{region}/{service}/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(AWS4Signer.ComputeHash(canonical))}";
        var key = AWS4Signer.ComposeSigningKey(credentials.SecretKey, region, date, service);
        var signature = Convert.ToHexStringLower(AWS4Signer.ComputeKeyedHash(SigningAlgorithm.HmacSHA256, key, stringToSign));

        var request = new HttpRequestMessage(HttpMethod.Post, endpoint)
        {
            Content = new StringContent(body, Encoding.UTF8),
        };
        request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        foreach (var (name, value) in headers.Where(h => h.Key is not ("content-type" or "host")))
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        request.Headers.TryAddWithoutValidation("Authorization", $"AWS4-HMAC-SHA256 Credential={credentials.AccessKey}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}");
        return request;
    }
}
