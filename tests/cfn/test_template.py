"""CloudFormation template loading and intrinsic functions, without any service."""

from __future__ import annotations

import pytest

from simulator.cloudformation.stack import dependency_order, parameter_values
from simulator.cloudformation.template import (
    NO_VALUE,
    Resolver,
    TemplateError,
    dependencies,
    load_template,
)

SEED_KEY_ARN = "arn:aws:kms:us-west-2:012345678901:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
SEED_TEMPLATE = """\
AWSTemplateFormatVersion: 2010-09-09
Resources:
  MyCluster:
    Type: AWS::ECS::Cluster
    Properties:
      ClusterName: "clusterName"
      Configuration:
        ManagedStorageConfiguration:
          FargateEphemeralStorageKmsKeyId: "KEY_ARN"
""".replace("KEY_ARN", SEED_KEY_ARN)


def test_seed_template_loads_with_version_as_string():
    doc = load_template(SEED_TEMPLATE)
    assert doc["AWSTemplateFormatVersion"] == "2010-09-09"
    cfg = doc["Resources"]["MyCluster"]["Properties"]["Configuration"]
    assert cfg["ManagedStorageConfiguration"]["FargateEphemeralStorageKmsKeyId"].endswith(
        "EXAMPLE11111"
    )


def test_short_forms_load_as_long_forms():
    doc = load_template(
        "Resources:\n  A:\n    Type: X\n    Properties:\n"
        "      P: !Ref B\n      Q: !GetAtt B.Arn\n      R: !Sub '${B}-x'\n"
        "      S: !Join [',', [a, !Ref B]]\n"
    )
    props = doc["Resources"]["A"]["Properties"]
    assert props == {
        "P": {"Ref": "B"},
        "Q": {"Fn::GetAtt": ["B", "Arn"]},
        "R": {"Fn::Sub": "${B}-x"},
        "S": {"Fn::Join": [",", ["a", {"Ref": "B"}]]},
    }
    assert dependencies(props) == {"B"}


def test_json_templates_load_too():
    doc = load_template('{"Resources": {"A": {"Type": "AWS::KMS::Key"}}}')
    assert doc["Resources"]["A"]["Type"] == "AWS::KMS::Key"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Resources: [1]", "Resources section"),
        ("Resources:\n  A: {Properties: {}}", "Resources.A: needs a Type"),
        ("{not json", "neither valid YAML nor JSON"),
    ],
)
def test_bad_templates_say_what_is_wrong(text, needle):
    with pytest.raises(TemplateError, match=needle):
        load_template(text)


def _resolver(**refs):
    attrs = {("Key", "Arn"): "arn:aws:kms:us-west-2:111122223333:key/k"}
    return Resolver(
        {"Env": "prod"},
        {"AWS::Region": "us-west-2", "AWS::AccountId": "111122223333"},
        refs,
        lambda lid, name: attrs[(lid, name)],
        conditions={"IsProd": True},
        mappings={"M": {"us-west-2": {"Size": 30}}},
    )


def test_intrinsics_resolve():
    r = _resolver(Key="k")
    assert r.resolve({"Ref": "Env"}) == "prod"
    assert r.resolve({"Ref": "Key"}) == "k"
    assert r.resolve({"Fn::GetAtt": ["Key", "Arn"]}).endswith(":key/k")
    sub = r.resolve({"Fn::Sub": "${AWS::Region}-${Env}-${Key.Arn}"})
    assert sub.startswith("us-west-2-prod-arn")
    assert r.resolve({"Fn::Sub": ["${X}-${!Literal}", {"X": "y"}]}) == "y-${Literal}"
    assert r.resolve({"Fn::Join": ["/", ["a", {"Ref": "Env"}]]}) == "a/prod"
    assert r.resolve({"Fn::Select": [1, ["a", "b"]]}) == "b"
    assert r.resolve({"Fn::Split": [",", "a,b"]}) == ["a", "b"]
    assert r.resolve({"Fn::If": ["IsProd", 1, 2]}) == 1
    assert r.resolve({"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "Size"]}) == 30
    assert r.resolve({"A": {"Ref": "AWS::NoValue"}, "B": 1}) == {"B": 1}
    assert r.ref("AWS::NoValue", "") is NO_VALUE


def test_unknown_ref_is_named():
    with pytest.raises(TemplateError, match="unknown parameter or resource 'Nope'"):
        _resolver().resolve({"P": {"Ref": "Nope"}})


def test_dependency_order_and_cycles():
    res = {
        "Cluster": {"Type": "T", "Properties": {"K": {"Fn::GetAtt": ["Key", "Arn"]}}},
        "Key": {"Type": "T"},
        "Svc": {"Type": "T", "DependsOn": "Cluster"},
    }
    order = dependency_order(res, set())
    assert order.index("Key") < order.index("Cluster") < order.index("Svc")
    res["Key"]["Properties"] = {"X": {"Ref": "Svc"}}
    with pytest.raises(TemplateError, match="circular dependency"):
        dependency_order(res, set())


def test_parameters_defaults_and_checks():
    declared = {"A": {"Default": "x"}, "B": {"AllowedValues": ["1", "2"]}}
    assert parameter_values(declared, {"B": "1"}) == {"A": "x", "B": "1"}
    with pytest.raises(TemplateError, match="no default"):
        parameter_values(declared, {})
    with pytest.raises(TemplateError, match="not one of"):
        parameter_values(declared, {"B": "3"})
    with pytest.raises(TemplateError, match="not declared"):
        parameter_values(declared, {"B": "1", "C": "2"})
