"""Stack updates and change sets: what changes in place, what is replaced, what rolls back.

The seed's stack (experiments/seed/stack.yaml) is created, then updated to a template that
moves the cluster to a second key, the change a user asks about most: "what happens when I
update the cluster's key?"
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import Simulation, errors

SEED = (Path(__file__).resolve().parents[2] / "experiments" / "seed" / "stack.yaml").read_text()
CAPS = ["CAPABILITY_NAMED_IAM"]


def rotated(template: str = SEED) -> str:
    """The seed stack with a second key, StorageKey2, as the cluster's Fargate key."""
    start, end = template.index("  StorageKey:\n"), template.index("  StorageKeyAlias:")
    second = template[start:end].replace("StorageKey:", "StorageKey2:", 1)
    second = second.replace("Fargate ephemeral storage", "Fargate ephemeral storage, rotated")
    out = template[:end] + second + template[end:]
    return out.replace(
        "FargateEphemeralStorageKmsKeyId: !GetAtt StorageKey.Arn",
        "FargateEphemeralStorageKmsKeyId: !GetAtt StorageKey2.Arn").replace(
        '"ecs:fargate-ephemeral-storage-kms-key": !GetAtt StorageKey.Arn',
        '"ecs:fargate-ephemeral-storage-kms-key": !GetAtt StorageKey2.Arn')


@pytest.fixture
def sim():
    return Simulation(account_id="111122223333")


@pytest.fixture
def cfn(sim):
    client = sim.client("cloudformation")
    client.create_stack(StackName="seed", TemplateBody=SEED, Capabilities=CAPS)
    return client


def outputs(cfn) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName="seed")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def changes(cfn, name: str) -> dict[str, tuple]:
    out = cfn.describe_change_set(StackName="seed", ChangeSetName=name)
    return {c["ResourceChange"]["LogicalResourceId"]: (
        c["ResourceChange"]["Action"], c["ResourceChange"].get("Replacement"),
        sorted({d["Target"]["Name"] for d in c["ResourceChange"]["Details"]}))
        for c in out["Changes"]}


def test_a_change_set_says_what_moving_the_cluster_to_a_new_key_changes(sim, cfn):
    cs = cfn.create_change_set(StackName="seed", ChangeSetName="rotate",
                               TemplateBody=rotated(), Capabilities=CAPS)
    assert cs["Id"].startswith("arn:aws:cloudformation:us-west-2:111122223333:changeSet/rotate/")
    described = cfn.describe_change_set(ChangeSetName=cs["Id"])
    assert (described["Status"], described["ExecutionStatus"]) == ("CREATE_COMPLETE",
                                                                   "AVAILABLE")
    assert changes(cfn, "rotate") == {
        "StorageKey2": ("Add", None, []),
        "ApprovedKeysPolicy": ("Modify", "False", ["PolicyDocument"]),
        "Cluster": ("Modify", "False", ["Configuration"]),
    }
    # Nothing has changed yet.
    ecs = sim.client("ecs")
    cluster = ecs.describe_clusters(clusters=["web"], include=["CONFIGURATIONS"])["clusters"][0]
    key = cluster["configuration"]["managedStorageConfiguration"][
        "fargateEphemeralStorageKmsKeyId"]
    assert key == outputs(cfn)["KeyArn"]


def test_executing_it_updates_the_cluster_in_place_and_keeps_the_rest(sim, cfn):
    before = outputs(cfn)
    cfn.create_change_set(StackName="seed", ChangeSetName="rotate", TemplateBody=rotated(),
                          Capabilities=CAPS)
    cfn.create_change_set(StackName="seed", ChangeSetName="other", TemplateBody=rotated(),
                          Capabilities=CAPS)
    cfn.execute_change_set(StackName="seed", ChangeSetName="rotate")
    stack = cfn.describe_stacks(StackName="seed")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and "LastUpdatedTime" in stack
    ecs, kms, iam = sim.client("ecs"), sim.client("kms"), sim.client("iam")
    cluster = ecs.describe_clusters(clusters=["web"], include=["CONFIGURATIONS"])["clusters"][0]
    new_key = cluster["configuration"]["managedStorageConfiguration"][
        "fargateEphemeralStorageKmsKeyId"]
    assert new_key != before["KeyArn"]
    assert kms.describe_key(KeyId=new_key)["KeyMetadata"]["Description"].endswith("rotated")
    assert outputs(cfn) == before  # the cluster was updated, not replaced
    # The inline policy was updated in place, not deleted at cleanup.
    doc = iam.get_role_policy(RoleName="customer-chosen-role",
                              PolicyName="approved-keys")["PolicyDocument"]
    assert new_key in str(doc)
    assert kms.describe_key(KeyId=before["KeyArn"])["KeyMetadata"]["KeyState"] == "Enabled"
    summaries = {s["ChangeSetName"]: s["ExecutionStatus"]
                 for s in cfn.list_change_sets(StackName="seed")["Summaries"]}
    # "CloudFormation deletes all other change sets associated with the stack" (the API
    # reference of ExecuteChangeSet); an UpdateStack leaves them, OBSOLETE.
    assert summaries == {"rotate": "EXECUTE_COMPLETE"}
    with pytest.raises(errors.ClientError) as info:
        cfn.execute_change_set(StackName="seed", ChangeSetName="rotate")
    assert info.value.code == "InvalidChangeSetStatus"
    assert "current execution status of [EXECUTE_COMPLETE]" in info.value.message


def test_a_new_task_definition_is_a_replacement_and_a_new_deployment(sim, cfn):
    template = SEED.replace('Cpu: "256"', 'Cpu: "512"').replace('Memory: "512"',
                                                                  'Memory: "1024"')
    cfn.create_change_set(StackName="seed", ChangeSetName="bigger", TemplateBody=template,
                          Capabilities=CAPS)
    assert changes(cfn, "bigger") == {
        "TaskDef": ("Modify", "True", ["Cpu", "Memory"]),
        "Service": ("Modify", "False", ["TaskDefinition"]),
    }
    cfn.execute_change_set(StackName="seed", ChangeSetName="bigger")
    ecs = sim.client("ecs")
    [svc] = ecs.describe_services(cluster="web", services=["app"])["services"]
    assert svc["taskDefinition"].endswith("task-definition/app:2")
    old = ecs.describe_task_definition(taskDefinition="app:1")["taskDefinition"]
    assert old["status"] == "INACTIVE"  # the replaced revision is deregistered at cleanup
    events = [(e["LogicalResourceId"], e["ResourceStatus"])
              for e in cfn.describe_stack_events(StackName="seed")["StackEvents"]]
    assert events[0] == ("seed", "UPDATE_COMPLETE")
    assert ("TaskDef", "DELETE_COMPLETE") in events[:4]


def test_an_unchanged_template_is_no_update(cfn):
    with pytest.raises(errors.ClientError) as info:
        cfn.update_stack(StackName="seed", TemplateBody=SEED, Capabilities=CAPS)
    assert (info.value.code, info.value.message) == ("ValidationError",
                                                     "No updates are to be performed.")
    cfn.create_change_set(StackName="seed", ChangeSetName="same", UsePreviousTemplate=True,
                          Parameters=[{"ParameterKey": "ClusterName",
                                       "UsePreviousValue": True}], Capabilities=CAPS)
    same = cfn.describe_change_set(StackName="seed", ChangeSetName="same")
    assert (same["Status"], same["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert same["StatusReason"].startswith("The submitted information didn't contain changes.")


def test_a_replacement_that_needs_the_old_name_fails_and_rolls_back(sim, cfn):
    """A new ClusterName replaces the cluster; the service must follow it, and it has a
    custom name, so CloudFormation refuses and rolls back (the new cluster is deleted)."""
    cfn.update_stack(StackName="seed", UsePreviousTemplate=True, Capabilities=CAPS,
                     Parameters=[{"ParameterKey": "ClusterName", "ParameterValue": "web2"}])
    stack = cfn.describe_stacks(StackName="seed")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert stack["Parameters"] == [{"ParameterKey": "ClusterName", "ParameterValue": "web"}]
    failed = [e for e in cfn.describe_stack_events(StackName="seed")["StackEvents"]
              if e["ResourceStatus"] == "UPDATE_FAILED"]
    assert failed[0]["LogicalResourceId"] == "Service"
    assert failed[0]["ResourceStatusReason"] == (
        "CloudFormation cannot update a stack when a custom-named resource requires "
        "replacing. Rename app and update the stack again.")
    ecs, iam = sim.client("ecs"), sim.client("iam")
    clusters = {c["clusterName"]: c["status"] for c in ecs.describe_clusters(
        clusters=["web", "web2"])["clusters"]}
    assert clusters == {"web": "ACTIVE", "web2": "INACTIVE"}
    # The key policy and IAM policy changed in place before the failure: changed back.
    doc = iam.get_role_policy(RoleName="customer-chosen-role",
                              PolicyName="approved-keys")["PolicyDocument"]
    assert outputs(cfn)["KeyArn"] in str(doc)
    policy = sim.client("kms").get_key_policy(KeyId=outputs(cfn)["KeyArn"],
                                               PolicyName="default")["Policy"]
    assert '"web"' in policy and "web2" not in policy
    # A rolled-back stack can be updated again.
    cfn.update_stack(StackName="seed", TemplateBody=rotated(), Capabilities=CAPS)
    assert cfn.describe_stacks(StackName="seed")["Stacks"][0]["StackStatus"] == \
        "UPDATE_COMPLETE"


def test_a_resource_left_out_is_deleted_at_cleanup(sim, cfn):
    start = SEED.index("  StorageKeyAlias:")
    end = SEED.index("  OperatorRole:")
    cfn.update_stack(StackName="seed", TemplateBody=SEED[:start] + SEED[end:],
                     Capabilities=CAPS)
    aliases = [a["AliasName"] for a in sim.client("kms").list_aliases()["Aliases"]]
    assert "alias/fargate-storage" not in aliases
    resources = [r["LogicalResourceId"] for r in
                 cfn.describe_stack_resources(StackName="seed")["StackResources"]]
    assert "StorageKeyAlias" not in resources and "Cluster" in resources


def test_create_change_sets_and_their_errors(sim):
    cfn = sim.client("cloudformation")
    cs = cfn.create_change_set(StackName="fresh", ChangeSetName="first", TemplateBody=SEED,
                               ChangeSetType="CREATE", Capabilities=CAPS)
    stack = cfn.describe_stacks(StackName="fresh")["Stacks"][0]
    assert stack["StackStatus"] == "REVIEW_IN_PROGRESS"
    assert cfn.describe_stack_resources(StackName="fresh")["StackResources"] == []
    adds = changes_of(cfn, cs["Id"])
    assert set(adds) == {"StorageKey", "StorageKeyAlias", "OperatorRole", "ApprovedKeysPolicy",
                         "Cluster", "TaskDef", "Service"}
    assert set(adds.values()) == {"Add"}
    with pytest.raises(errors.ClientError) as info:
        cfn.describe_change_set(ChangeSetName="first")
    assert info.value.message == ("StackName must be specified if ChangeSetName is not "
                                  "specified as an ARN.")
    with pytest.raises(errors.ClientError) as info:
        cfn.describe_change_set(StackName="fresh", ChangeSetName="nope")
    assert (info.value.code, info.value.status) == ("ChangeSetNotFound", 404)
    assert info.value.message == "ChangeSet [nope] does not exist"
    cfn.delete_change_set(StackName="fresh", ChangeSetName="nope")  # no error, as on AWS
    cfn.execute_change_set(ChangeSetName=cs["Id"])
    assert cfn.describe_stacks(StackName="fresh")["Stacks"][0]["StackStatus"] == \
        "CREATE_COMPLETE"
    with pytest.raises(errors.ClientError) as info:
        cfn.create_change_set(StackName="fresh", ChangeSetName="again", TemplateBody=SEED,
                              ChangeSetType="CREATE", Capabilities=CAPS)
    assert info.value.message == ("Stack [fresh] already exists and cannot be created again "
                                  "with the changeSet [again].")
    with pytest.raises(errors.ClientError) as info:
        cfn.create_change_set(StackName="missing", ChangeSetName="u", TemplateBody=SEED,
                              Capabilities=CAPS)
    assert info.value.message == "Stack [missing] does not exist"
    with pytest.raises(errors.ClientError) as info:
        cfn.create_change_set(StackName="fresh", ChangeSetName="u", TemplateBody=rotated())
    assert info.value.code == "InsufficientCapabilitiesException"


def changes_of(cfn, change_set_id: str) -> dict[str, str]:
    return {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["Action"]
            for c in cfn.describe_change_set(ChangeSetName=change_set_id)["Changes"]}


def test_a_changed_resource_type_is_refused_in_cloudformations_words(cfn):
    template = SEED.replace("Type: AWS::KMS::Alias", "Type: AWS::IAM::ManagedPolicy")
    with pytest.raises(errors.ClientError) as info:
        cfn.update_stack(StackName="seed", TemplateBody=template, Capabilities=CAPS)
    assert info.value.message.startswith("Update of resource type is not permitted.")
    assert "StorageKeyAlias" in info.value.message


def test_template_summary_and_template(cfn):
    summary = cfn.get_template_summary(TemplateBody=SEED)
    assert summary["Parameters"] == [{"ParameterKey": "ClusterName", "DefaultValue": "web",
                                      "ParameterType": "String", "NoEcho": False,
                                      "ParameterConstraints": {}}]
    assert summary["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert "AWS::ECS::Cluster" in summary["ResourceTypes"]
    assert cfn.get_template_summary(StackName="seed")["Parameters"] == summary["Parameters"]
    assert cfn.get_template(StackName="seed")["TemplateBody"] == SEED


def test_a_stack_saved_before_updates_existed_is_refused_by_name(sim, cfn):
    """A stack restored from an older state file has no kept template: an update says so
    instead of failing inside."""
    from simulator.cloudformation.stack import StackReport

    [stack] = sim.service("cloudformation").stacks
    stack.report.__setstate__({k: v for k, v in vars(stack.report).items()
                               if k not in ("template", "properties", "parameters", "events")})
    assert isinstance(stack.report, StackReport) and stack.report.template == {}
    with pytest.raises(errors.ClientError) as info:
        cfn.update_stack(StackName="seed", TemplateBody=rotated(), Capabilities=CAPS)
    assert "older fargate-sim" in info.value.message


def test_key_role_and_alias_properties_change_in_place(sim, cfn):
    before = outputs(cfn)
    template = rotated().replace(
        "      Description: Fargate ephemeral storage\n",
        "      Description: Fargate ephemeral storage v2\n      EnableKeyRotation: true\n", 1,
    ).replace("TargetKeyId: !Ref StorageKey", "TargetKeyId: !Ref StorageKey2").replace(
        "      RoleName: customer-chosen-role\n",
        "      RoleName: customer-chosen-role\n      Description: operates clusters\n"
        "      MaxSessionDuration: 7200\n")
    cfn.update_stack(StackName="seed", TemplateBody=template, Capabilities=CAPS)
    assert cfn.describe_stacks(StackName="seed")["Stacks"][0]["StackStatus"] == \
        "UPDATE_COMPLETE"
    kms, iam = sim.client("kms"), sim.client("iam")
    key = kms.describe_key(KeyId=before["KeyArn"])["KeyMetadata"]
    assert key["Description"] == "Fargate ephemeral storage v2"
    assert kms.get_key_rotation_status(KeyId=before["KeyArn"])["KeyRotationEnabled"]
    alias = kms.describe_key(KeyId="alias/fargate-storage")["KeyMetadata"]
    assert alias["Description"].endswith("rotated")
    role = iam.get_role(RoleName="customer-chosen-role")["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("operates clusters", 7200)


def test_iam_update_role_changes_only_what_it_is_given(sim):
    iam = sim.client("iam")
    iam.create_role(RoleName="r", Description="first", AssumeRolePolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
        '"Principal":{"Service":"ecs-tasks.amazonaws.com"}}]}'))
    iam.update_role(RoleName="r", MaxSessionDuration=7200)
    role = iam.get_role(RoleName="r")["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("first", 7200)
    iam.update_role(RoleName="r", Description="second")
    assert iam.get_role(RoleName="r")["Role"]["Description"] == "second"
    with pytest.raises(errors.ClientError) as info:
        iam.update_role(RoleName="r", MaxSessionDuration=60)
    assert "greater than or equal to 3600" in info.value.message
    with pytest.raises(errors.ClientError) as info:
        iam.update_role(RoleName="nobody", Description="x")
    assert info.value.code == "NoSuchEntity"


def test_a_replacement_of_a_resource_the_template_does_not_name_gets_a_new_name(sim):
    """A role without RoleName is replaced under a generated name, not the one it holds."""
    cfn = sim.client("cloudformation")
    template = ("Resources:\n  Runner:\n    Type: AWS::IAM::Role\n    Properties:\n"
                "      Path: /a/\n")
    cfn.create_stack(StackName="roles", TemplateBody=template, Capabilities=["CAPABILITY_IAM"])
    [first] = cfn.describe_stack_resources(StackName="roles")["StackResources"]
    cfn.update_stack(StackName="roles", TemplateBody=template.replace("/a/", "/b/"),
                     Capabilities=["CAPABILITY_IAM"])
    [second] = cfn.describe_stack_resources(StackName="roles")["StackResources"]
    assert second["ResourceStatus"] == "UPDATE_COMPLETE"
    new_name = second["PhysicalResourceId"]
    assert new_name.startswith("roles-Runner-") and len(new_name) == len("roles-Runner-") + 12
    iam = sim.client("iam")
    assert iam.get_role(RoleName=new_name)["Role"]["Path"] == "/b/"
    with pytest.raises(errors.ClientError):
        iam.get_role(RoleName=first["PhysicalResourceId"])  # deleted at cleanup


def test_change_set_details_say_what_causes_each_change(cfn):
    cfn.create_change_set(StackName="seed", ChangeSetName="rotate", TemplateBody=rotated(),
                          Capabilities=CAPS)
    out = cfn.describe_change_set(StackName="seed", ChangeSetName="rotate")
    [cluster] = [c["ResourceChange"] for c in out["Changes"]
                 if c["ResourceChange"]["LogicalResourceId"] == "Cluster"]
    # Edited in the template, to a value that follows a key the update makes.
    target = {"Attribute": "Properties", "Name": "Configuration", "RequiresRecreation": "Never"}
    assert cluster["Details"] == [
        {"Target": target, "Evaluation": "Static", "ChangeSource": "DirectModification"},
        {"Target": target, "Evaluation": "Dynamic", "ChangeSource": "ResourceAttribute",
         "CausingEntity": "StorageKey2.Arn"}]
    assert out["Parameters"] == [{"ParameterKey": "ClusterName", "ParameterValue": "web"}]
    cfn.create_change_set(StackName="seed", ChangeSetName="rename", UsePreviousTemplate=True,
                          Capabilities=CAPS, Parameters=[{"ParameterKey": "ClusterName",
                                                          "ParameterValue": "web2"}])
    renamed = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in
               cfn.describe_change_set(StackName="seed", ChangeSetName="rename")["Changes"]}
    assert renamed["Cluster"]["Replacement"] == "True"
    assert renamed["Cluster"]["Details"][0] == {
        "Target": {"Attribute": "Properties", "Name": "ClusterName",
                   "RequiresRecreation": "Always"},
        "Evaluation": "Static", "ChangeSource": "ParameterReference",
        "CausingEntity": "ClusterName"}
    # The service follows the replaced cluster: its Cluster is known only then.
    assert renamed["Service"]["Replacement"] == "Conditional"
    assert renamed["Service"]["Details"][0]["Evaluation"] == "Dynamic"


def test_values_that_are_one_text_are_no_change(sim):
    """A Number parameter's Default: 1 and a given "1", a Cpu of 256 and of "256": the same
    value to CloudFormation, so no Modify and no new task definition revision."""
    cfn = sim.client("cloudformation")
    template = SEED.replace("Parameters:\n", "Parameters:\n  Count:\n    Type: Number\n"
                            "    Default: 1\n").replace("DesiredCount: 1",
                                                     "DesiredCount: !Ref Count")
    cfn.create_stack(StackName="seed", TemplateBody=template, Capabilities=CAPS)
    cfn.create_change_set(StackName="seed", ChangeSetName="same", TemplateBody=template.replace(
        'Cpu: "256"', "Cpu: 256"), Capabilities=CAPS,
        Parameters=[{"ParameterKey": "Count", "ParameterValue": "1"}])
    assert cfn.describe_change_set(StackName="seed", ChangeSetName="same")["Changes"] == []
    cfn.execute_change_set(StackName="seed", ChangeSetName="same")
    ecs = sim.client("ecs")
    assert ecs.describe_services(cluster="web", services=["app"])["services"][0][
        "taskDefinition"].endswith(":1")


def test_a_failed_in_place_change_is_undone_too(sim, cfn):
    """The inline policy's new document is refused: the rollback leaves the old one on the
    role (it was deleted before the new one was refused)."""
    template = SEED.replace('Action: ["ecs:CreateCluster", "ecs:UpdateCluster"]',
                            'Action: ["ecs:CreateCluster", "ecs:UpdateCluster"]\n'
                            '            NotAKey: 1')
    cfn.update_stack(StackName="seed", TemplateBody=template, Capabilities=CAPS)
    assert cfn.describe_stacks(StackName="seed")["Stacks"][0]["StackStatus"] == \
        "UPDATE_ROLLBACK_COMPLETE"
    iam = sim.client("iam")
    assert iam.list_role_policies(RoleName="customer-chosen-role")["PolicyNames"] == [
        "approved-keys"]


def test_rollback_events_undo_then_clean_up(cfn):
    cfn.update_stack(StackName="seed", UsePreviousTemplate=True, Capabilities=CAPS,
                     Parameters=[{"ParameterKey": "ClusterName", "ParameterValue": "web2"}])
    events = [(e["LogicalResourceId"], e["ResourceStatus"])
              for e in reversed(cfn.describe_stack_events(StackName="seed")["StackEvents"])]
    start = events.index(("seed", "UPDATE_IN_PROGRESS"))
    tail = events[start:]
    assert tail[-1] == ("seed", "UPDATE_ROLLBACK_COMPLETE")
    assert ("seed", "REVIEW_IN_PROGRESS") not in events  # made by CreateStack
    cleanup = tail.index(("seed", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"))
    assert tail.index(("StorageKey", "UPDATE_COMPLETE"), tail.index(
        ("seed", "UPDATE_ROLLBACK_IN_PROGRESS"))) < cleanup
    assert ("Cluster", "DELETE_COMPLETE") in tail[cleanup:]


def test_update_failed_without_rollback_can_be_updated_or_rolled_back(sim, cfn):
    cfn.update_stack(StackName="seed", UsePreviousTemplate=True, Capabilities=CAPS,
                     DisableRollback=True,
                     Parameters=[{"ParameterKey": "ClusterName", "ParameterValue": "web2"}])
    assert cfn.describe_stacks(StackName="seed")["Stacks"][0]["StackStatus"] == "UPDATE_FAILED"
    ecs = sim.client("ecs")
    # The update got as far as the new cluster; the old one waits for a cleanup.
    clusters = {c["clusterName"]: c["status"] for c in ecs.describe_clusters(
        clusters=["web", "web2"])["clusters"]}
    assert clusters == {"web": "ACTIVE", "web2": "ACTIVE"}
    cfn.rollback_stack(StackName="seed")
    stack = cfn.describe_stacks(StackName="seed")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert stack["Parameters"] == [{"ParameterKey": "ClusterName", "ParameterValue": "web"}]
    clusters = {c["clusterName"]: c["status"] for c in ecs.describe_clusters(
        clusters=["web", "web2"])["clusters"]}
    assert clusters == {"web": "ACTIVE", "web2": "INACTIVE"}
    with pytest.raises(errors.ClientError) as info:
        cfn.rollback_stack(StackName="seed")
    assert "can not be rolled back" in info.value.message
    # From UPDATE_FAILED, an update may be tried again (here it fails the same way: the
    # service has a custom name and must follow the cluster), or the stack deleted.
    cfn.update_stack(StackName="seed", UsePreviousTemplate=True, Capabilities=CAPS,
                     DisableRollback=True,
                     Parameters=[{"ParameterKey": "ClusterName", "ParameterValue": "web3"}])
    assert cfn.describe_stacks(StackName="seed")["Stacks"][0]["StackStatus"] == "UPDATE_FAILED"
    cfn.update_stack(StackName="seed", TemplateBody=rotated(), Capabilities=CAPS,
                     Parameters=[{"ParameterKey": "ClusterName", "UsePreviousValue": True}])
    assert cfn.describe_stacks(StackName="seed")["Stacks"][0]["StackStatus"] == \
        "UPDATE_ROLLBACK_COMPLETE"
    cfn.delete_stack(StackName="seed")
    left = {c["clusterName"]: c["status"] for c in ecs.describe_clusters(
        clusters=["web", "web2", "web3"])["clusters"]}
    assert left == {"web": "INACTIVE", "web2": "INACTIVE", "web3": "INACTIVE"}


def test_a_deleted_stacks_change_sets_go_with_it(cfn):
    cs = cfn.create_change_set(StackName="later", ChangeSetName="c", TemplateBody=SEED.replace(
        "Default: web", "Default: other").replace("alias/fargate-storage", "alias/other").replace(
        "customer-chosen-role", "other-role").replace("ServiceName: app", "ServiceName: app2"),
        ChangeSetType="CREATE", Capabilities=CAPS)
    cfn.delete_stack(StackName="later")
    with pytest.raises(errors.ClientError) as info:
        cfn.execute_change_set(ChangeSetName=cs["Id"])
    assert info.value.code == "ChangeSetNotFound"


def test_the_executed_create_change_set_gives_the_stack_its_parameters(sim):
    cfn = sim.client("cloudformation")
    for name, cluster in (("first", "c1"), ("second", "c2")):
        cfn.create_change_set(StackName="s", ChangeSetName=name, TemplateBody=SEED,
                              ChangeSetType="CREATE", Capabilities=CAPS,
                              Parameters=[{"ParameterKey": "ClusterName",
                                           "ParameterValue": cluster}],
                              Tags=[{"Key": "k", "Value": cluster}])
    with pytest.raises(errors.ClientError) as info:
        cfn.get_template(StackName="s")
    assert "REVIEW_IN_PROGRESS" in info.value.message
    cfn.execute_change_set(StackName="s", ChangeSetName="second")
    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    assert stack["Parameters"] == [{"ParameterKey": "ClusterName", "ParameterValue": "c2"}]
    assert stack["Tags"] == [{"Key": "k", "Value": "c2"}]
    assert [s["ChangeSetName"] for s in cfn.list_change_sets(StackName="s")["Summaries"]] == [
        "second"]
    events = [e["ResourceStatus"] for e in cfn.describe_stack_events(StackName="s")[
        "StackEvents"] if e["LogicalResourceId"] == "s"]
    assert events[-1] == "REVIEW_IN_PROGRESS"


def test_validate_template_list_stacks_and_list_stack_resources(cfn):
    valid = cfn.validate_template(TemplateBody=SEED)
    assert valid["Parameters"] == [{"ParameterKey": "ClusterName", "DefaultValue": "web",
                                    "NoEcho": False}]
    assert valid["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert valid["CapabilitiesReason"].startswith("The following resource(s) require")
    with pytest.raises(errors.ClientError) as info:
        cfn.validate_template(TemplateBody="{not: [valid")
    assert info.value.code == "ValidationError"
    assert info.value.message.startswith("Template format error:")
    cfn.create_stack(StackName="gone", TemplateBody="Resources:\n  K:\n    Type: AWS::KMS::Key\n")
    cfn.delete_stack(StackName="gone")
    summaries = cfn.list_stacks()["StackSummaries"]
    assert [(s["StackName"], s["StackStatus"]) for s in summaries] == [
        ("gone", "DELETE_COMPLETE"), ("seed", "CREATE_COMPLETE")]
    assert "DeletionTime" in summaries[0]
    live = cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]
    assert [s["StackName"] for s in live] == ["seed"]
    resources = cfn.list_stack_resources(StackName="seed")["StackResourceSummaries"]
    assert {r["LogicalResourceId"] for r in resources} >= {"StorageKey", "Cluster", "Service"}
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources)


def test_the_cfn_key_update_scenario_passes():
    """experiments/cfn_key_update.toml: the seed stack moved to a second key through a change
    set; the new deployment's task gets the new key (strict output shapes throughout)."""
    from simulator.scenario import run_scenario

    root = Path(__file__).resolve().parents[2]
    report = run_scenario(root / "experiments" / "cfn_key_update.toml",
                          sim=Simulation(account_id="111122223333", strict_shapes=True))
    assert report.ok, report.render()
    assert len(report.steps) == 15


CONDITIONAL = '''Parameters:
  WithAlias: {Type: String, Default: "yes", AllowedValues: ["yes", "no"]}
Conditions:
  Aliased: !Equals [!Ref WithAlias, "yes"]
Resources:
  K: {Type: AWS::KMS::Key}
  A:
    Type: AWS::KMS::Alias
    Condition: Aliased
    Properties: {AliasName: alias/cond, TargetKeyId: !Ref K}
Outputs:
  Alias:
    Condition: Aliased
    Value: !Ref A
'''


def test_a_condition_that_turns_false_removes_its_resource_and_output(sim):
    cfn, kms = sim.client("cloudformation"), sim.client("kms")
    cfn.create_stack(StackName="c", TemplateBody=CONDITIONAL)
    assert [a["AliasName"] for a in kms.list_aliases()["Aliases"]] == ["alias/cond"]
    off = [{"ParameterKey": "WithAlias", "ParameterValue": "no"}]
    cs = cfn.create_change_set(StackName="c", ChangeSetName="off", UsePreviousTemplate=True,
                               Parameters=off)
    assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"])
            for c in cfn.describe_change_set(ChangeSetName=cs["Id"])["Changes"]] == [
        ("Remove", "A")]
    cfn.execute_change_set(ChangeSetName=cs["Id"])
    stack = cfn.describe_stacks(StackName="c")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and stack["Outputs"] == []
    assert kms.list_aliases()["Aliases"] == []
    cfn.update_stack(StackName="c", UsePreviousTemplate=True,
                     Parameters=[{"ParameterKey": "WithAlias", "ParameterValue": "yes"}])
    stack = cfn.describe_stacks(StackName="c")["Stacks"][0]
    assert [o["OutputValue"] for o in stack["Outputs"]] == ["alias/cond"]


def test_an_output_that_cannot_resolve_is_refused_before_anything_is_made(sim):
    """An output naming a resource its Condition leaves out: CloudFormation's template error,
    at CreateStack (and UpdateStack, CreateChangeSet), with nothing made."""
    cfn, kms = sim.client("cloudformation"), sim.client("kms")
    broken = CONDITIONAL.replace("    Condition: Aliased\n    Value", "    Value")
    off = [{"ParameterKey": "WithAlias", "ParameterValue": "no"}]
    with pytest.raises(errors.ClientError) as info:
        cfn.create_stack(StackName="b", TemplateBody=broken, Parameters=off)
    assert (info.value.code, info.value.message) == (
        "ValidationError", "Template format error: Unresolved resource dependencies [A] in the "
                           "Outputs block of the template")
    assert kms.list_keys()["Keys"] == []
    cfn.create_stack(StackName="b", TemplateBody=broken)  # with the alias, it resolves
    for call in (lambda: cfn.update_stack(StackName="b", UsePreviousTemplate=True,
                                          Parameters=off),
                 lambda: cfn.create_change_set(StackName="b", ChangeSetName="x",
                                               UsePreviousTemplate=True, Parameters=off)):
        with pytest.raises(errors.ClientError) as info:
            call()
        assert "Unresolved resource dependencies [A]" in info.value.message
    assert [a["AliasName"] for a in kms.list_aliases()["Aliases"]] == ["alias/cond"]


CFN_TRUST = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
             '{"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}]}')


def test_a_service_role_is_who_creates_the_cluster(sim):
    """With RoleARN, CloudFormation acts as the role's session (assumed-role/ROLE/
    AWSCloudFormation): the role needs ECS's and KMS's permissions itself, the caller only
    iam:PassRole; the role stays the stack's for updates."""
    import json

    from tests.ecs.helpers import make_key

    iam = sim.client("iam")
    iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=CFN_TRUST)
    role = "arn:aws:iam::111122223333:role/deployer"
    key = make_key(sim, cluster="web")
    template = ("Resources:\n  Cluster:\n    Type: AWS::ECS::Cluster\n    Properties:\n"
                "      ClusterName: web\n      Configuration:\n"
                "        ManagedStorageConfiguration:\n"
                f"          FargateEphemeralStorageKmsKeyId: {key}\n")
    cfn = sim.client("cloudformation")
    cfn.create_stack(StackName="s", TemplateBody=template, RoleARN=role)
    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE" and stack["RoleARN"] == role
    assert ("assumed-role/deployer/AWSCloudFormation is not authorized to perform: "
            "ecs:CreateCluster") in stack["StackStatusReason"]
    iam.put_role_policy(RoleName="deployer", PolicyName="ecs", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ecs:*", "kms:DescribeKey"], "Resource": "*"}]}))
    cfn.delete_stack(StackName="s")
    cfn.create_stack(StackName="s", TemplateBody=template, RoleARN=role)
    assert cfn.describe_stacks(StackName="s")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    creates = [r for r in sim.audit_trail if r["eventName"] == "CreateCluster"]
    assert creates[-1]["userIdentity"]["arn"] == (
        "arn:aws:sts::111122223333:assumed-role/deployer/AWSCloudFormation")
    # A caller without iam:PassRole may not hand the role over; a role CloudFormation may not
    # assume is refused in CloudFormation's words.
    iam.create_user(UserName="dev")
    iam.put_user_policy(UserName="dev", PolicyName="cfn", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}]}))
    dev = sim.client("cloudformation", principal="arn:aws:iam::111122223333:user/dev")
    with pytest.raises(errors.ClientError) as info:
        dev.create_stack(StackName="t", TemplateBody=template, RoleARN=role)
    assert (info.value.code, info.value.status) == ("AccessDenied", 403)
    assert "iam:PassRole" in info.value.message
    iam.create_role(RoleName="ecs-only", AssumeRolePolicyDocument=CFN_TRUST.replace(
        "cloudformation.amazonaws.com", "ecs-tasks.amazonaws.com"))
    with pytest.raises(errors.ClientError) as info:
        cfn.create_stack(StackName="t", TemplateBody=template,
                         RoleARN="arn:aws:iam::111122223333:role/ecs-only")
    assert info.value.message == ("Role arn:aws:iam::111122223333:role/ecs-only is invalid or "
                                  "cannot be assumed")


def _role_stack(sim):
    import json

    iam = sim.client("iam")
    for name in ("deployer", "other"):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=CFN_TRUST)
    iam.put_role_policy(RoleName="deployer", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]}))
    iam.create_user(UserName="nopass")
    iam.put_user_policy(UserName="nopass", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}]}))
    template = "Resources:\n  C:\n    Type: AWS::ECS::Cluster\n    Properties:\n" \
               "      ClusterName: web\n"
    cfn = sim.client("cloudformation")
    cfn.create_stack(StackName="s", TemplateBody=template,
                     RoleARN="arn:aws:iam::111122223333:role/deployer")
    return cfn, sim.client("cloudformation", principal="arn:aws:iam::111122223333:user/nopass"), \
        template


def test_the_stacks_own_role_serves_without_pass_role_and_a_refused_one_changes_nothing(sim):
    """"CloudFormation uses this role even if the users don't have permission to pass it"
    (CreateChangeSet's RoleARN); a role the call may not pass is refused and the stack keeps
    its own."""
    cfn, nopass, template = _role_stack(sim)
    tagged = template + "      Tags: [{Key: a, Value: b}]\n"
    with pytest.raises(errors.ClientError) as info:
        nopass.update_stack(StackName="s", TemplateBody=tagged,
                            RoleARN="arn:aws:iam::111122223333:role/other")
    assert info.value.code == "AccessDenied" and "iam:PassRole" in info.value.message
    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    assert stack["RoleARN"] == "arn:aws:iam::111122223333:role/deployer"
    nopass.update_stack(StackName="s", TemplateBody=tagged)  # the stack's role: no PassRole
    assert cfn.describe_stacks(StackName="s")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    cs = nopass.create_change_set(StackName="s", ChangeSetName="c", TemplateBody=template)
    nopass.execute_change_set(ChangeSetName=cs["Id"])
    assert cfn.describe_stacks(StackName="s")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"


def test_delete_stack_may_name_another_role_when_the_stacks_role_cannot_delete(sim):
    """The documented way out when a stack's service role is gone: DeleteStack with another
    role; every resource is deleted as that role's session."""
    import json

    cfn, _, _ = _role_stack(sim)
    iam = sim.client("iam")
    iam.delete_role_policy(RoleName="deployer", PolicyName="p")
    cfn.delete_stack(StackName="s")
    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    assert stack["StackStatus"] == "DELETE_FAILED"
    iam.put_role_policy(RoleName="other", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]}))
    cfn.delete_stack(StackName="s", RoleARN="arn:aws:iam::111122223333:role/other")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == \
        "DELETE_COMPLETE"
    deletes = [r for r in sim.audit_trail if r["eventName"] == "DeleteCluster"]
    assert deletes[-1]["userIdentity"]["arn"].endswith("assumed-role/other/AWSCloudFormation")
    assert sim.client("ecs").describe_clusters(clusters=["web"])["clusters"][0]["status"] == \
        "INACTIVE"


IF_OUTPUT = '''Parameters:
  Flag: {Type: String, Default: "no"}
Conditions:
  IsOn: !Equals [!Ref Flag, "yes"]
Resources:
  Always: {Type: AWS::ECS::Cluster, Properties: {ClusterName: a}}
  Maybe: {Type: AWS::ECS::Cluster, Condition: IsOn, Properties: {ClusterName: m}}
Outputs:
  X:
    Value: !If [IsOn, !GetAtt Maybe.Arn, !GetAtt Always.Arn]
  N:
    Value: !If [IsOn, "on", !Ref "AWS::NoValue"]
'''


def test_an_fn_if_output_follows_the_branch_its_condition_takes(sim):
    cfn = sim.client("cloudformation")
    cfn.create_stack(StackName="o", TemplateBody=IF_OUTPUT)
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName="o")["Stacks"][0]["Outputs"]}
    # The branch not taken names a resource left out; an AWS::NoValue output is left out.
    assert outputs == {"X": "arn:aws:ecs:us-west-2:111122223333:cluster/a"}
    cfn.update_stack(StackName="o", UsePreviousTemplate=True,
                     Parameters=[{"ParameterKey": "Flag", "ParameterValue": "yes"}])
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName="o")["Stacks"][0]["Outputs"]}
    assert outputs == {"X": "arn:aws:ecs:us-west-2:111122223333:cluster/m", "N": "on"}


KEY_STACK = '''Resources:
  Key:
    Type: AWS::KMS::Key
Outputs:
  KeyArn:
    Value: !GetAtt Key.Arn
    Export:
      Name: !Sub "${AWS::StackName}-KeyArn"
'''
CLUSTER_STACK = '''Resources:
  Cluster:
    Type: AWS::ECS::Cluster
    Properties:
      ClusterName: web
      Configuration:
        ManagedStorageConfiguration:
          FargateEphemeralStorageKmsKeyId: !ImportValue keys-KeyArn
'''


def test_a_cluster_stack_takes_its_key_from_a_key_stacks_export(sim):
    """The cross-stack pattern: a key stack exports the key's ARN, the cluster stack imports
    it; the export cannot go while it is imported, nor be exported twice, nor be imported
    before it exists."""
    cfn = sim.client("cloudformation")
    with pytest.raises(errors.ClientError) as info:
        cfn.create_stack(StackName="clusters", TemplateBody=CLUSTER_STACK)
    assert info.value.message == "No export named keys-KeyArn found."
    cfn.create_stack(StackName="keys", TemplateBody=KEY_STACK)
    [out] = cfn.describe_stacks(StackName="keys")["Stacks"][0]["Outputs"]
    assert out["ExportName"] == "keys-KeyArn"
    cfn.create_stack(StackName="clusters", TemplateBody=CLUSTER_STACK)
    cluster = sim.client("ecs").describe_clusters(clusters=["web"], include=["CONFIGURATIONS"])[
        "clusters"][0]
    assert cluster["configuration"]["managedStorageConfiguration"][
        "fargateEphemeralStorageKmsKeyId"] == out["OutputValue"]
    assert cfn.list_exports()["Exports"] == [{
        "ExportingStackId": cfn.describe_stacks(StackName="keys")["Stacks"][0]["StackId"],
        "Name": "keys-KeyArn", "Value": out["OutputValue"]}]
    assert cfn.list_imports(ExportName="keys-KeyArn")["Imports"] == ["clusters"]
    cfn.delete_stack(StackName="keys")
    stack = cfn.describe_stacks(StackName="keys")["Stacks"][0]
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert stack["StackStatusReason"] == ("Export keys-KeyArn cannot be deleted as it is in use "
                                          "by clusters")
    cfn.create_stack(StackName="twice", TemplateBody=KEY_STACK.replace(
        "${AWS::StackName}-KeyArn", "keys-KeyArn"))
    twice = cfn.describe_stacks(StackName="twice")["Stacks"][0]
    assert twice["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Export with name keys-KeyArn is already exported by stack keys" in \
        twice["StackStatusReason"]
    cfn.delete_stack(StackName="clusters")
    cfn.delete_stack(StackName="keys")
    assert cfn.list_exports()["Exports"] == []


def test_an_imported_export_can_be_neither_removed_nor_changed(sim):
    cfn = sim.client("cloudformation")
    cfn.create_stack(StackName="keys", TemplateBody=KEY_STACK)
    cfn.create_stack(StackName="clusters", TemplateBody=CLUSTER_STACK)
    moved = KEY_STACK.replace("Value: !GetAtt Key.Arn", "Value: !GetAtt Key2.Arn").replace(
        "Resources:\n", "Resources:\n  Key2:\n    Type: AWS::KMS::Key\n")
    cfn.update_stack(StackName="keys", TemplateBody=moved)
    stack = cfn.describe_stacks(StackName="keys")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    failed = [e for e in cfn.describe_stack_events(StackName="keys")["StackEvents"]
              if e["ResourceStatus"] == "UPDATE_FAILED"]
    assert failed[0]["ResourceStatusReason"] == ("Cannot update export keys-KeyArn as it is in "
                                                 "use by clusters")
    gone = KEY_STACK[:KEY_STACK.index("Outputs:")]
    cfn.update_stack(StackName="keys", TemplateBody=gone)
    failed = [e for e in cfn.describe_stack_events(StackName="keys")["StackEvents"]
              if e["ResourceStatus"] == "UPDATE_FAILED"]
    assert failed[0]["ResourceStatusReason"] == ("Export keys-KeyArn cannot be deleted as it is "
                                                 "in use by clusters")


def test_stack_calls_are_cloudformations_on_the_callers_behalf(sim):
    """Without a service role CloudFormation calls with the caller's own credentials: the
    records say invokedBy and source cloudformation.amazonaws.com, and IAM sees aws:CalledVia,
    so a policy can allow a cluster only through CloudFormation."""
    import json

    iam = sim.client("iam")
    iam.create_user(UserName="dev")
    iam.put_user_policy(UserName="dev", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"},
            {"Effect": "Allow", "Action": "ecs:CreateCluster", "Resource": "*",
             "Condition": {"ForAnyValue:StringEquals": {
                 "aws:CalledVia": ["cloudformation.amazonaws.com"]}}}]}))
    dev = "arn:aws:iam::111122223333:user/dev"
    with pytest.raises(errors.ClientError):
        sim.client("ecs", principal=dev).create_cluster(clusterName="direct")
    template = "Resources:\n  C:\n    Type: AWS::ECS::Cluster\n    Properties:\n" \
               "      ClusterName: via-cfn\n"
    sim.client("cloudformation", principal=dev).create_stack(StackName="s",
                                                             TemplateBody=template)
    [record] = [r for r in sim.audit_trail if r["eventName"] == "CreateCluster"
                and "errorCode" not in r]
    assert record["userIdentity"]["arn"] == dev
    assert record["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"
    assert record["sourceIPAddress"] == "cloudformation.amazonaws.com"
    assert record["userAgent"] == "cloudformation.amazonaws.com"


def test_termination_protection_keeps_a_stack_from_deletion(sim):
    cfn = sim.client("cloudformation")
    cfn.create_stack(StackName="p", TemplateBody=KEY_STACK, EnableTerminationProtection=True)
    assert cfn.describe_stacks(StackName="p")["Stacks"][0]["EnableTerminationProtection"]
    with pytest.raises(errors.ClientError) as info:
        cfn.delete_stack(StackName="p")
    assert info.value.message == ("Stack [p] cannot be deleted while TerminationProtection is "
                                  "enabled")
    cfn.update_termination_protection(StackName="p", EnableTerminationProtection=False)
    cfn.delete_stack(StackName="p")
    assert cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"][0][
        "StackName"] == "p"


def test_export_refusals_leave_events_and_aws_words(sim):
    cfn = sim.client("cloudformation")
    cfn.create_stack(StackName="keys", TemplateBody=KEY_STACK)
    with pytest.raises(errors.ClientError) as info:
        cfn.list_imports(ExportName="keys-KeyArn")
    assert info.value.message == "Export 'keys-KeyArn' is not imported by any stack."
    cfn.create_stack(StackName="clusters", TemplateBody=CLUSTER_STACK)
    cfn.delete_stack(StackName="keys")
    events = [(e["ResourceStatus"], e.get("ResourceStatusReason")) for e in
              cfn.describe_stack_events(StackName="keys")["StackEvents"][:2]]
    assert events == [("DELETE_FAILED", "Export keys-KeyArn cannot be deleted as it is in use "
                                        "by clusters"),
                      ("DELETE_IN_PROGRESS", "User Initiated")]
    twice = KEY_STACK.replace("keys", "x") + ("  Again:\n    Value: !GetAtt Key.Arn\n"
                                              "    Export:\n      Name: dup\n")
    twice = twice.replace("${AWS::StackName}-KeyArn", "dup")
    cfn.create_stack(StackName="dup", TemplateBody=twice)
    assert cfn.describe_stacks(StackName="dup")["Stacks"][0]["StackStatus"] == \
        "ROLLBACK_COMPLETE"
    sid = cfn.describe_stacks(StackName="dup")["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName="dup")
    with pytest.raises(errors.ClientError):
        cfn.update_termination_protection(StackName=sid, EnableTerminationProtection=True)


def test_ecs_key_check_during_a_cloudformation_create_cluster_keeps_the_chain(sim):
    """ECS's DescribeKey for a cluster CloudFormation creates is still a call CloudFormation
    set off: aws:CalledViaFirst cloudformation.amazonaws.com, invokedBy in the record."""
    import json

    from tests.ecs.helpers import make_key

    key = make_key(sim, cluster="web")
    iam = sim.client("iam")
    iam.create_user(UserName="dev")
    via_cfn = {"StringEquals": {"aws:CalledViaFirst": "cloudformation.amazonaws.com"}}
    iam.put_user_policy(UserName="dev", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["ecs:CreateCluster", "kms:DescribeKey"],
             "Resource": "*", "Condition": via_cfn}]}))
    template = ("Resources:\n  Cluster:\n    Type: AWS::ECS::Cluster\n    Properties:\n"
                "      ClusterName: web\n      Configuration:\n"
                "        ManagedStorageConfiguration:\n"
                f"          FargateEphemeralStorageKmsKeyId: {key}\n")
    dev = sim.client("cloudformation", principal="arn:aws:iam::111122223333:user/dev")
    dev.create_stack(StackName="s", TemplateBody=template)
    stack = dev.describe_stacks(StackName="s")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    [describe] = [r for r in sim.audit_trail if r["eventName"] == "DescribeKey"
                  and r["userIdentity"].get("userName") == "dev"]
    assert describe["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"


def test_stacks_are_per_account_and_deleted_as_whoever_deletes_them(sim):
    import json

    template = "Resources:\n  C:\n    Type: AWS::ECS::Cluster\n    Properties:\n" \
               "      ClusterName: web\n"
    cfn = sim.client("cloudformation")
    cfn.create_stack(StackName="s", TemplateBody=template)
    other = sim.client("cloudformation", principal="arn:aws:iam::444455556666:root")
    assert other.describe_stacks()["Stacks"] == []
    with pytest.raises(errors.ClientError):
        other.describe_stacks(StackName="s")
    other.create_stack(StackName="s", TemplateBody=template)  # its own stack of that name
    assert len(cfn.list_stacks()["StackSummaries"]) == 1
    iam = sim.client("iam")
    iam.create_user(UserName="ops")
    iam.put_user_policy(UserName="ops", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudformation:*", "ecs:DeleteCluster"],
             "Resource": "*"}]}))
    sim.client("cloudformation", principal="arn:aws:iam::111122223333:user/ops").delete_stack(
        StackName="s")
    [delete] = [r for r in sim.audit_trail if r["eventName"] == "DeleteCluster"]
    assert delete["userIdentity"]["arn"] == "arn:aws:iam::111122223333:user/ops"
    assert delete["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"
