"""A task's volume is made on its first use; its key is held until then and wiped on
release either way, and a pickled record holds the made volume."""

from __future__ import annotations

import pickle

import pytest

from simulator import Simulation
from simulator.crypt import EncryptedVolume
from tests.ecs.helpers import NET, make_cluster, make_key, register


def _running(sim: Simulation) -> str:
    key = make_key(sim)
    make_cluster(sim, key=key)
    td = register(sim)
    [task] = sim.client("ecs").run_task(cluster="prod", taskDefinition=td,
                                        launchType="FARGATE", networkConfiguration=NET)["tasks"]
    sim.fargate.settle()
    return task["taskArn"]


def test_the_volume_is_made_on_first_use_and_keeps_what_is_written():
    sim = Simulation()
    arn = _running(sim)
    record = sim.fargate.storage_record(arn)
    assert record.made is None and record.recipe is not None
    assert record.recipe.key is not None and any(record.recipe.key)
    assert sim.fargate.df(arn).used_bytes == 0  # df does not make it
    assert record.made is None
    key_copy = record.recipe.key
    vol = sim.fargate.volume(arn)
    assert isinstance(vol, EncryptedVolume) and record.made is vol
    assert record.recipe is None and not any(key_copy)  # the copy is wiped once bound
    vol.write(0, b"\x5a" * 8192)
    assert sim.fargate.volume(arn) is vol and vol.read(0, 8192) == b"\x5a" * 8192
    assert sim.fargate.df(arn).used_bytes == 8192


def test_release_wipes_the_key_of_a_volume_never_made():
    sim = Simulation()
    arn = _running(sim)
    record = sim.fargate.storage_record(arn)
    assert record.recipe is not None and record.recipe.key is not None
    key_copy = record.recipe.key
    sim.client("ecs").stop_task(cluster="prod", task=arn)
    sim.fargate.settle()
    assert not any(key_copy) and record.recipe is None and record.made is None
    with pytest.raises(KeyError, match="released before its volume was used"):
        record.volume  # noqa: B018


def test_a_pickled_record_holds_the_made_volume_not_the_key_copy():
    sim = Simulation()
    arn = _running(sim)
    record = sim.fargate.storage_record(arn)
    state = record.__getstate__()
    assert state["recipe"] is None and isinstance(state["made"], EncryptedVolume)
    with pytest.raises(TypeError):  # EncryptedVolume refuses a plain pickle (its key)
        pickle.dumps(record)
