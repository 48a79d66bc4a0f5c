using System.CommandLine;
using Keywarden.Aws.Connection;

namespace Keywarden.Cli.Commands;

/// <summary>The options every command that calls AWS shares: --profile, --region, --endpoint-url.</summary>
internal sealed class AwsOptions
{
    public Option<string?> Profile { get; } = new("--profile") { Description = "AWS profile for Keywarden's own calls (default: AWS_PROFILE, or the standard credential chain)." };
    public Option<string?> Region { get; } = new("--region") { Description = $"AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, or {AwsSettings.DefaultRegion})." };
    public Option<string?> EndpointUrl { get; } = new("--endpoint-url") { Description = "Send every AWS call to this endpoint (default: AWS_ENDPOINT_URL, or AWS's own)." };

    public void AddTo(Command command)
    {
        command.Options.Add(Profile);
        command.Options.Add(Region);
        command.Options.Add(EndpointUrl);
    }

    public AwsSettings Read(ParseResult parse) =>
        AwsSettings.FromEnvironment(parse.GetValue(Profile), parse.GetValue(Region), parse.GetValue(EndpointUrl));
}
