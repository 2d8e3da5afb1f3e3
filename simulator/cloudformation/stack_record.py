"""A stack as CloudFormation describes it: its report, parameters, tags, change sets and
events; and what a template says of itself (its parameters, the capabilities it needs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.cloudformation.change_set import ChangeSet
from simulator.cloudformation.stack import ResourceOutcome, StackReport, with_defaults

#: The property that gives each IAM resource type a custom name (CAPABILITY_NAMED_IAM: "IAM
#: resources with custom names"); a GroupName of AWS::IAM::UserToGroupAddition or a RoleName
#: of an instance profile's Roles only refer to another resource.
IAM_NAMES: dict[str, str] = {
    "AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
}


@dataclass
class Stack:
    """One stack and what its deployment made."""

    stack_id: str
    name: str
    created: datetime
    parameters: list[dict[str, str]]
    report: StackReport
    status: str
    deleted: datetime | None = None
    description: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    #: The template's Outputs' Description texts, by output key.
    output_descriptions: dict[str, str] = field(default_factory=dict)
    #: The template as it was sent (GetTemplate gives it back).
    template_body: str = ""
    change_sets: list[ChangeSet] = field(default_factory=list)
    #: The report of the stack's creation (its events), when updates have replaced
    #: ``report``; the status changes of each update since, as StackEvent records.
    first: StackReport | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    updated: datetime | None = None
    change_set_id: str | None = None
    #: Made by a CREATE change set (so it began in REVIEW_IN_PROGRESS).
    reviewed: bool = False
    #: The service role CloudFormation acts as for this stack (RoleARN), if any.
    role_arn: str | None = None
    #: EnableTerminationProtection: DeleteStack is refused while it is on.
    termination_protection: bool = False
    #: While UPDATE_FAILED: the template text, parameters and tags it last stood complete
    #: with (what RollbackStack returns to).
    stable: tuple[str, list[dict[str, str]], list[dict[str, str]]] | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(with_defaults(type(self), state))

    @property
    def account(self) -> str:
        """The account the stack belongs to (its stack id's)."""
        return self.stack_id.split(":")[4]

    def to_output(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "StackId": self.stack_id, "StackName": self.name, "CreationTime": self.created,
            "StackStatus": self.status, "Parameters": self.parameters,
            "DisableRollback": False, "Tags": self.tags,
            "EnableTerminationProtection": self.termination_protection,
            "Outputs": [self._output(k, v) for k, v in self.report.outputs.items()],
        }
        failed = [r for r in self.report.resources if r.reason]
        if failed:
            out["StackStatusReason"] = f"{failed[0].logical_id}: {failed[0].reason}"
        elif self.report.reason:
            out["StackStatusReason"] = self.report.reason
        if self.deleted is not None:
            out["DeletionTime"] = self.deleted
        if self.description:
            out["Description"] = self.description
        if self.updated is not None:
            out["LastUpdatedTime"] = self.updated
        if self.change_set_id:
            out["ChangeSetId"] = self.change_set_id
        if self.role_arn:
            out["RoleARN"] = self.role_arn
        return out

    def _output(self, key: str, value: Any) -> dict[str, str]:
        """An ``Output``, with the template's Description when it has one (the AWS CLI's
        describe-stacks example, awscli/examples/cloudformation/describe-stacks.rst)."""
        out = {"OutputKey": key, "OutputValue": str(value)}
        if self.output_descriptions.get(key):
            out["Description"] = self.output_descriptions[key]
        if key in self.report.exports:
            out["ExportName"] = self.report.exports[key]
        return out

    def made(self) -> list[ResourceOutcome]:
        """The resources the deployment tried (not those skipped by a condition or never
        reached), which are what CloudFormation lists."""
        return [r for r in self.report.resources
                if r.status not in ("NOT_ATTEMPTED", "SKIPPED_BY_CONDITION")]

    def resource(self, r: ResourceOutcome) -> dict[str, Any]:
        """botocore's ``StackResource`` shape for one of this stack's resources."""
        status = r.status
        if self.deleted is not None and status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            status = "DELETE_COMPLETE"
        out: dict[str, Any] = {
            "StackName": self.name, "StackId": self.stack_id,
            "LogicalResourceId": r.logical_id, "ResourceType": r.resource_type,
            "Timestamp": self.deleted or self.created, "ResourceStatus": status,
            "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
        }
        if r.physical_id:
            out["PhysicalResourceId"] = r.physical_id
        if r.reason:
            out["ResourceStatusReason"] = r.reason
        return out

    def events(self) -> list[dict[str, Any]]:
        """``StackEvent`` records, oldest first."""
        counter = 0

        def event(logical: str, physical: str, kind: str, status: str,
                  reason: str | None = None, when: datetime | None = None) -> dict[str, Any]:
            nonlocal counter
            counter += 1
            out = {"StackId": self.stack_id, "EventId": f"{logical}-{status}-{counter}",
                   "StackName": self.name, "LogicalResourceId": logical,
                   "PhysicalResourceId": physical, "ResourceType": kind,
                   "Timestamp": when or self.created, "ResourceStatus": status}
            if reason:
                out["ResourceStatusReason"] = reason
            return out

        stack = "AWS::CloudFormation::Stack"
        first = self.first or self.report
        out = []
        if self.reviewed:
            out.append(event(self.name, self.stack_id, stack, "REVIEW_IN_PROGRESS",
                             "User Initiated"))
        if first.status != "REVIEW_IN_PROGRESS":
            out.append(event(self.name, self.stack_id, stack, "CREATE_IN_PROGRESS",
                             "User Initiated"))
            for r in first.resources:
                if r.status in ("NOT_ATTEMPTED", "SKIPPED_BY_CONDITION"):
                    continue
                if r.status in ("CREATE_COMPLETE", "CREATE_FAILED"):
                    out.append(event(r.logical_id, "", r.resource_type, "CREATE_IN_PROGRESS"))
                out.append(event(r.logical_id, r.physical_id or "", r.resource_type, r.status,
                                 r.reason))
            out.append(event(self.name, self.stack_id, stack, first.status))
        for record in self.history:
            out.append(event(**record))
        if self.deleted is not None:
            out.append(event(self.name, self.stack_id, stack, "DELETE_IN_PROGRESS",
                             "User Initiated", self.deleted))
            out.append(event(self.name, self.stack_id, stack, "DELETE_COMPLETE",
                             when=self.deleted))
        return out

    def updated_to(self, report: StackReport, when: datetime,
                   start: str = "UPDATE_IN_PROGRESS") -> None:
        """The stack after an update (or its rollback): its report, status and events."""
        if self.first is None:
            self.first = self.report
        stack = "AWS::CloudFormation::Stack"
        self.history.append({"logical": self.name, "physical": self.stack_id, "kind": stack,
                             "status": start, "reason": "User Initiated", "when": when})
        for logical, physical, kind, status, reason in report.events:
            self.history.append({"logical": logical,
                                 "physical": self.stack_id if kind == stack else physical,
                                 "kind": kind, "status": status, "reason": reason,
                                 "when": when})
        self.history.append({"logical": self.name, "physical": self.stack_id, "kind": stack,
                             "status": report.status, "reason": None, "when": when})
        report.events = []
        self.report, self.status, self.updated = report, report.status, when


def shown_parameters(doc: dict[str, Any], given: dict[str, Any]) -> list[dict[str, str]]:
    """A stack's ``Parameters``: every parameter the template declares, with the value given
    or else its default (as DescribeStacks lists them)."""
    out = []
    for key, decl in (doc.get("Parameters") or {}).items():
        if key in given:
            value = given[key]
        elif isinstance(decl, dict) and "Default" in decl:
            value = decl["Default"]
        else:
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        out.append({"ParameterKey": key, "ParameterValue": str(value)})
    return out


def output_descriptions(doc: dict[str, Any]) -> dict[str, str]:
    return {k: str(v["Description"]) for k, v in (doc.get("Outputs") or {}).items()
            if isinstance(v, dict) and v.get("Description")}


def template_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """GetTemplateSummary's answer for a parsed template."""
    declared = []
    for key, decl in (doc.get("Parameters") or {}).items():
        item: dict[str, Any] = {"ParameterKey": key, "ParameterType": str(decl.get("Type", "")),
                                "NoEcho": str(decl.get("NoEcho", False)).lower() == "true",
                                "ParameterConstraints": {}}
        if "Default" in decl:
            item["DefaultValue"] = str(decl["Default"])
        if decl.get("Description"):
            item["Description"] = str(decl["Description"])
        if decl.get("AllowedValues"):
            item["ParameterConstraints"] = {
                "AllowedValues": [str(v) for v in decl["AllowedValues"]]}
        declared.append(item)
    types = list(dict.fromkeys(str(r.get("Type")) for r in doc["Resources"].values()))
    by_type: dict[str, list[str]] = {}
    for lid, res in doc["Resources"].items():
        by_type.setdefault(str(res.get("Type")), []).append(lid)
    out: dict[str, Any] = {
        "Parameters": declared, "ResourceTypes": types,
        "Version": str(doc.get("AWSTemplateFormatVersion", "2010-09-09")),
        "DeclaredTransforms": [],
        "ResourceIdentifierSummaries": [
            {"ResourceType": t, "LogicalResourceIds": ids} for t, ids in by_type.items()],
    }
    if doc.get("Description"):
        out["Description"] = str(doc["Description"])
    need = required_capability(doc)
    if need:
        iam = sorted({t for t in types if t.startswith("AWS::IAM::")})
        out["Capabilities"] = [need]
        out["CapabilitiesReason"] = ("The following resource(s) require capabilities: "
                                     f"[{', '.join(iam)}]")
    return out


def required_capability(doc: dict[str, Any]) -> str | None:
    iam = [r for r in doc["Resources"].values() if str(r.get("Type", "")).startswith("AWS::IAM::")]
    if not iam:
        return None
    named = any(IAM_NAMES.get(str(r.get("Type"))) in (r.get("Properties") or {}) for r in iam)
    return "CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM"
