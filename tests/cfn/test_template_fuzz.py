"""Any template, however odd, deploys or fails with a TemplateError: never a Python exception."""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import Simulation
from simulator.cloudformation import TemplateError, deploy

INTRINSICS = ["Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split",
              "Fn::If", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::FindInMap",
              "Fn::Base64", "Fn::GetAZs", "Fn::ToJsonString", "Condition"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(
    ["", "K", "P", "AWS::Region", "AWS::NoValue", "${K}", "${AWS::AccountId}", "a,b", "x.y"]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from([*INTRINSICS, "Type", "Value", "K"]), inner,
                        max_size=2),
    ),
    max_leaves=12,
)
resource = st.fixed_dictionaries(
    {"Type": st.sampled_from(["AWS::KMS::Key", "AWS::KMS::Alias", "AWS::IAM::Role",
                              "AWS::ECS::Cluster"])},
    optional={"Properties": st.dictionaries(st.sampled_from(
        ["Description", "AliasName", "TargetKeyId", "ClusterName", "RoleName"]), values,
        max_size=3), "Condition": scalars, "DependsOn": values},
)
templates = st.fixed_dictionaries(
    {"Resources": st.dictionaries(st.sampled_from(["K", "A", "R", "C"]), resource, max_size=3)},
    optional={"Parameters": st.dictionaries(st.sampled_from(["P", "Q"]), values, max_size=2),
              "Conditions": st.dictionaries(st.sampled_from(["C1", "C2"]), values, max_size=2),
              "Outputs": st.dictionaries(st.sampled_from(["O"]), values, max_size=1),
              "Mappings": values},
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates)
def test_odd_templates_deploy_or_fail_with_a_template_error(template):
    for given_as in (json.dumps(template), template):
        with contextlib.suppress(TemplateError):
            deploy(Simulation(quotas=False), given_as)
