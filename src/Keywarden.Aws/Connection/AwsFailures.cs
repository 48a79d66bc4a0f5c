using System.Net.Sockets;
using Amazon.Runtime;
using Keywarden.Aws.Accounts;
using Keywarden.Aws.Iam;

namespace Keywarden.Aws.Connection;

/// <summary>Which exceptions mean "AWS refused, or could not be reached": one list for every caller.</summary>
public static class AwsFailures
{
    /// <summary>AWS answered with an error, or the network, a timeout or the SDK failed on the way (not our own cancellation).</summary>
    public static bool IsAwsFailure(Exception e, CancellationToken cancellationToken) =>
        e is IamException or AwsCallException or AmazonServiceException or AmazonClientException
            or HttpRequestException or SocketException or IOException or TimeoutException
        || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested);

    /// <summary>The network or a timeout, as opposed to an answer from AWS: later calls will fail the same way.</summary>
    public static bool IsUnreachable(Exception e) =>
        e is HttpRequestException or SocketException or IOException or TimeoutException or TaskCanceledException
        || (e is AmazonClientException && e is not AmazonServiceException)
        || (e is AwsCallException && e.InnerException is { } inner && IsUnreachable(inner));
}
