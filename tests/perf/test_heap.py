"""``freeze_long_lived``: once per process, after the control plane's models are loaded."""

from __future__ import annotations

import subprocess
import sys


def test_freeze_long_lived_freezes_once_with_the_models_loaded():
    code = (
        "import gc\n"
        "from simulator.heap import freeze_long_lived\n"
        "from simulator import models\n"
        "assert gc.get_freeze_count() == 0\n"
        "assert freeze_long_lived() is True\n"
        "frozen = gc.get_freeze_count()\n"
        "assert frozen > 1000, frozen\n"
        "assert freeze_long_lived() is False and gc.get_freeze_count() == frozen\n"
        "assert gc.isenabled()\n"
        "from simulator import Simulation\n"
        "sim = Simulation()\n"
        "assert sim.client('kms').list_keys()['Keys'] == []\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_simulation_is_freed_after_its_calls_were_authorised():
    # The per-simulation request-context builder must not keep its simulation alive.
    import gc
    import weakref

    from simulator import Simulation
    from simulator.iam.authorization import _CONTEXTS

    sim = Simulation()
    sim.client("ecs").list_clusters()  # IAM's path (ECS)
    sim.client("kms").list_keys()  # KMS's path
    assert sim in _CONTEXTS
    gone = weakref.ref(sim)
    del sim
    gc.collect()
    assert gone() is None
