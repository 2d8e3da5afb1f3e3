"""Amazon ECS for Fargate: clusters, task definitions, tasks, services and deployments.

Modules: ``clusters`` (and ``keycheck``, the KMS key check of CreateCluster/UpdateCluster),
``taskdefs`` (with ``sizes``, the Fargate cpu/memory table), ``tasks`` (RunTask & co.),
``lifecycle`` (task states on the simulated clock), ``ecs_services`` (ECS Service resources;
``deployments``, the rolling-update scheduler), ``platforms`` (platform versions),
``service`` (``EcsService``).
"""

from simulator.ecs.lifecycle import TaskTimings

__all__ = ["TaskTimings"]
