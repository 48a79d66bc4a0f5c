using Keywarden.Aws.Iam;

namespace Keywarden.Aws.Containment;

/// <summary>
/// Carries out and undoes single containment steps. Each is safe to repeat: an action whose effect is
/// already there (a policy attached, a key inactive, an entity gone) counts as done.
/// </summary>
public static class ContainmentSteps
{
    /// <summary>Makes the change of <paramref name="step"/>; returns the state after it.</summary>
    public static async Task<string> ApplyAsync(IamClient iam, ContainmentStep step, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(iam);
        ArgumentNullException.ThrowIfNull(step);
        switch (step.Kind)
        {
            case StepKinds.CreatePolicy:
                var name = step.Parameter![(step.Parameter!.LastIndexOf('/') + 1)..];
                var awsName = name.StartsWith("Keywarden", StringComparison.Ordinal) ? name["Keywarden".Length..] : name;
                try
                {
                    await iam.CreatePolicyAsync(name, QuarantinePolicies.Document(awsName), QuarantinePolicies.CustomerManagedPath,
                        $"Keywarden's copy of AWS's {awsName}: attached to IAM users whose access key was exposed.", cancellationToken);
                }
                catch (IamException e) when (e.Code == "EntityAlreadyExists")
                {
                    // Created by an earlier, interrupted run: that is the wanted state.
                }

                return "present";

            case StepKinds.AttachPolicy:
                await iam.AttachUserPolicyAsync(step.Target, step.Parameter!, cancellationToken);
                return "attached";

            case StepKinds.DeactivateKey:
                await iam.UpdateAccessKeyAsync(step.Target, step.Parameter!, "Inactive", cancellationToken);
                return "Inactive";

            case StepKinds.DeleteLoginProfile:
                try
                {
                    await iam.DeleteLoginProfileAsync(step.Target, cancellationToken);
                }
                catch (IamException e) when (e.IsNoSuchEntity)
                {
                    // Already gone.
                }

                return "absent";

            case StepKinds.RevokeSessions:
                if (step.TargetKind == PrincipalKind.Role)
                {
                    await iam.PutRolePolicyAsync(step.Target, step.Parameter!, step.After, cancellationToken);
                }
                else
                {
                    await iam.PutUserPolicyAsync(step.Target, step.Parameter!, step.After, cancellationToken);
                }

                return step.After;

            default:
                throw new ArgumentException($"unknown containment step {step.Kind}", nameof(step));
        }
    }

    /// <summary>
    /// Restores what a done step changed, from its recorded before-state. Returns what was done, or null
    /// when the step cannot be undone (a deleted console password) or leaves nothing to undo.
    /// </summary>
    public static async Task<string?> UndoAsync(IamClient iam, string kind, PrincipalKind targetKind, string target, string? parameter, string? before, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(iam);
        try
        {
            switch (kind)
            {
                case StepKinds.AttachPolicy when before == "detached":
                    await iam.DetachUserPolicyAsync(target, parameter!, cancellationToken);
                    return $"detached {parameter} from user {target}";

                case StepKinds.DeactivateKey when before == "Active":
                    await iam.UpdateAccessKeyAsync(target, parameter!, "Active", cancellationToken);
                    return $"made key {parameter} Active again";

                case StepKinds.RevokeSessions when before is null or "absent":
                    if (targetKind == PrincipalKind.Role)
                    {
                        await iam.DeleteRolePolicyAsync(target, parameter!, cancellationToken);
                    }
                    else
                    {
                        await iam.DeleteUserPolicyAsync(target, parameter!, cancellationToken);
                    }

                    return $"deleted inline policy {parameter} of {(targetKind == PrincipalKind.Role ? "role" : "user")} {target}";

                case StepKinds.RevokeSessions:
                    if (targetKind == PrincipalKind.Role)
                    {
                        await iam.PutRolePolicyAsync(target, parameter!, before, cancellationToken);
                    }
                    else
                    {
                        await iam.PutUserPolicyAsync(target, parameter!, before, cancellationToken);
                    }

                    return $"restored the earlier inline policy {parameter} of {target}";

                default:
                    return null;
            }
        }
        catch (IamException e) when (e.IsNoSuchEntity)
        {
            // The entity or attachment is already gone (someone removed it, or an earlier release did).
            return $"nothing to undo for {kind} on {target}: {e.Code}";
        }
    }
}
