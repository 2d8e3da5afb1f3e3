"""CloudFormation's documented limits where templates enter; bodies decided by content."""

from __future__ import annotations

import pytest

from simulator import Simulation
from simulator.cloudformation import TemplateError, deploy
from simulator.cloudformation.template import load_template
from tests.test_inputs import BOMB


def test_a_one_line_template_longer_than_a_file_name_deploys():
    text = ("Resources: {Key: {Type: 'AWS::KMS::Key', Properties: {Description: '"
            + "x" * 300 + "'}}}")
    assert "\n" not in text and len(text) > 255
    assert deploy(Simulation(), text).status == "CREATE_COMPLETE"


def test_a_string_that_is_not_template_text_is_a_path(tmp_path):
    with pytest.raises(TemplateError, match="no such template file"):
        load_template(str(tmp_path / "missing.yaml"))


def test_the_alias_bomb_fed_into_join_fails_fast():
    text = (BOMB + "\nResources:\n  K: {Type: 'AWS::KMS::Key', "
            "Properties: {Description: !Join ['', *g]}}\n")
    assert len(text) < 500
    with pytest.raises(TemplateError, match="expands to more than 100,000 YAML nodes"):
        deploy(Simulation(), text)


def test_template_body_is_limited_to_51200_bytes():
    text = "Resources: {K: {Type: 'AWS::KMS::Key'}}\n# " + "x" * 51_200
    with pytest.raises(TemplateError, match=(
            r"Value at 'templateBody' failed to satisfy constraint: Member must have length "
            r"less than or equal to 51200")):
        load_template(text)


def test_section_quotas():
    resources = "".join(f"  K{i}: {{Type: 'AWS::KMS::Key'}}\n" for i in range(501))
    with pytest.raises(TemplateError, match=(
            "Template format error: Number of resources, 501, is greater than maximum "
            "allowed, 500")):
        load_template("Resources:\n" + resources)


def test_parameter_values_are_limited_to_4096_bytes():
    text = "Parameters: {P: {Type: String}}\nResources: {K: {Type: 'AWS::KMS::Key'}}\n"
    with pytest.raises(TemplateError, match="longer than CloudFormation's 4,096-byte limit"):
        deploy(Simulation(), text, parameters={"P": "x" * 4097})


@pytest.mark.parametrize(("text", "where"), [
    ("Resources: {K: {Type: 'AWS::KMS::Key'}}\nOutputs: {O: {Value: !Join [1]}}", "Outputs.O"),
    ("Resources: {K: {Type: 'AWS::KMS::Key'}}\nConditions: {C: !Equals [1]}", "Conditions.C"),
    ("Resources: {K: {Type: 'AWS::KMS::Key'}}\nParameters: {P: 3}", "Parameters.P"),
])
def test_malformed_sections_are_template_errors(text, where):
    with pytest.raises(TemplateError, match=where):
        deploy(Simulation(), text)
