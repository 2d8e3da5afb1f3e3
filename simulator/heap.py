"""Keeping CPython's garbage collector off the objects a simulation process never frees.

A full collection walks every tracked object. A simulation process holds tens of thousands
that live as long as it does (modules, functions, botocore's service models), and a long run
adds audit records, tasks and grants, so each full collection costs more as the run goes on
(it was about a tenth of the control plane's time in the task-rate benchmark). ``gc.freeze()``
moves what is alive into a permanent generation that collections skip
(https://docs.python.org/3/library/gc.html#gc.freeze). The CLI's ``run`` and ``scenario``
commands and the task-rate benchmark call ``freeze_long_lived`` once, before they simulate;
a program using the library can call it after its own setup. Nothing else changes: the
collector still runs, on everything made afterwards.
"""

from __future__ import annotations

import gc

from simulator.models import service_model

#: The services whose models every control-plane run loads.
CONTROL_PLANE = ("iam", "kms", "ecs", "sts")

_frozen = False


def freeze_long_lived(services: tuple[str, ...] = CONTROL_PLANE) -> bool:
    """Load ``services``' models, collect, and freeze what is left alive (once per process).

    Returns True when it froze now, False when an earlier call already had.
    """
    global _frozen
    if _frozen:
        return False
    for name in services:
        service_model(name)
    gc.collect()
    gc.freeze()
    _frozen = True
    return True
