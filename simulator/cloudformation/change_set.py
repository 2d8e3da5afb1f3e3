"""A change set: a stack's proposed creation or update, kept until it is executed or deleted.

The simulator works a change set out at once, so it is ``CREATE_COMPLETE`` (or ``FAILED``,
when it would change nothing) as soon as CreateChangeSet returns, and ``aws cloudformation
deploy`` and the ``change-set-create-complete`` waiter succeed on their first poll.
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.cloudformation.update import ResourceChange

#: CloudFormation's StatusReason for a change set that would change nothing (as the AWS CLI's
#: ``deploy`` looks for it, awscli/customizations/cloudformation/deployer.py).
NO_CHANGES = ("The submitted information didn't contain changes. Submit different information "
              "to create a change set.")


@dataclass
class ChangeSet:
    """One change set of a stack (see the module docstring)."""

    change_set_id: str
    name: str
    stack_id: str
    stack_name: str
    kind: str  # CREATE | UPDATE
    created: datetime
    template_body: str
    template: dict[str, Any]
    #: Parameter values as given (UsePreviousValue already filled in).
    parameters: dict[str, Any]
    changes: list[ResourceChange]
    capabilities: list[str] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    description: str | None = None
    status: str = "CREATE_COMPLETE"
    execution_status: str = "AVAILABLE"
    status_reason: str | None = None
    #: Every parameter of the template with its value (defaults filled in), as listed.
    shown_parameters: list[dict[str, str]] = field(default_factory=list)
    #: The service role the change set is executed as (RoleARN), if any.
    role_arn: str | None = None

    def summary(self) -> dict[str, Any]:
        """botocore's ``ChangeSetSummary``."""
        out: dict[str, Any] = {
            "StackId": self.stack_id, "StackName": self.stack_name,
            "ChangeSetId": self.change_set_id, "ChangeSetName": self.name,
            "ExecutionStatus": self.execution_status, "Status": self.status,
            "CreationTime": self.created, "IncludeNestedStacks": False,
        }
        if self.status_reason:
            out["StatusReason"] = self.status_reason
        if self.description:
            out["Description"] = self.description
        return out

    def describe(self) -> dict[str, Any]:
        """DescribeChangeSet's answer."""
        out = self.summary()
        out.update({
            "Parameters": list(self.shown_parameters),
            "NotificationARNs": [], "RollbackConfiguration": {},
            "Capabilities": list(self.capabilities), "Tags": list(self.tags),
            "Changes": [{"Type": "Resource", "ResourceChange": c.to_output()}
                        for c in self.changes],
        })
        return out
