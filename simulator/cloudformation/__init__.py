"""CloudFormation templates deployed into a simulation (KMS keys, IAM roles, ECS resources)."""

from simulator.cloudformation.stack import ResourceOutcome, StackReport, deploy
from simulator.cloudformation.template import TemplateError, load_template

__all__ = ["ResourceOutcome", "StackReport", "TemplateError", "deploy", "load_template"]
