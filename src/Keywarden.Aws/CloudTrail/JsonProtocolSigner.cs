using System.Globalization;
using System.Text;
using Amazon.Runtime;
using Amazon.Runtime.Internal.Auth;

namespace Keywarden.Aws.CloudTrail;

/// <summary>
/// Signs an AWS JSON 1.1 request (CloudTrail's protocol: POST /, X-Amz-Target names the operation) with
/// Signature Version 4. Hashing and key derivation are AWSSDK.Core's (<see cref="AWS4Signer"/>); only the
/// canonical request is assembled here, by hand, because NuGet has no AWSSDK.CloudTrail package on this
/// project's machines. Source: AWS General Reference, "Create a signed AWS API request" (Signature Version 4).
/// </summary>
internal static class JsonProtocolSigner
{
    public const string ContentType = "application/x-amz-json-1.1";

    public static HttpRequestMessage Sign(Uri endpoint, string region, string service, string target, string body, ImmutableCredentials credentials, DateTime utcNow)
    {
        var amzDate = utcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = utcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var host = endpoint.IsDefaultPort ? endpoint.Host : $"{endpoint.Host}:{endpoint.Port}";
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["content-type"] = ContentType,
            ["host"] = host,
            ["x-amz-date"] = amzDate,
            ["x-amz-target"] = target,
        };
        if (credentials.UseToken)
        {
            headers["x-amz-security-token"] = credentials.Token;
        }

        var signedHeaders = string.Join(';', headers.Keys);
        var canonical = new StringBuilder()
            .Append("POST\n")
            .Append(endpoint.AbsolutePath.Length == 0 ? "/" : endpoint.AbsolutePath).Append('\n')
            .Append('\n')
            .Append(string.Concat(headers.Select(h => $"{h.Key}:{h.Value.Trim()}\n")))
            .Append('\n')
            .Append(signedHeaders).Append('\n')
            .Append(Convert.ToHexStringLower(AWS4Signer.ComputeHash(body)))
            .ToString();
        var scope = $"{date}/{region}/{service}/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(AWS4Signer.ComputeHash(canonical))}";
        var key = AWS4Signer.ComposeSigningKey(credentials.SecretKey, region, date, service);
        var signature = Convert.ToHexStringLower(AWS4Signer.ComputeKeyedHash(SigningAlgorithm.HmacSHA256, key, stringToSign));

        var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(ContentType);
        request.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        request.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        if (credentials.UseToken)
        {
            request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", credentials.Token);
        }

        request.Headers.TryAddWithoutValidation("Authorization", $"AWS4-HMAC-SHA256 Credential={credentials.AccessKey}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}");
        return request;
    }
}
