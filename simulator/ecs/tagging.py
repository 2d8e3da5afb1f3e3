"""ECS's TagResource, UntagResource and ListTagsForResource over the tags its resources keep.

Clusters, services, tasks and task definitions carry ``tags`` as ``[{key, value}]``; these
operations find the resource by its ARN and change or read that list.
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TagResource.html
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-using-tags.html (50 tags)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.arn import Arn
from simulator.ecs.common import authorize_call, copy_tags

if TYPE_CHECKING:
    from simulator.service import CallContext

#: "Maximum number of tags per resource – 50" (ECS developer guide, tagging restrictions).
MAX_TAGS = 50


class TaggingOps:
    """The tagging operations of ``EcsService``."""

    def _tagged(self, ctx: CallContext, resource_arn: str) -> Any:
        """The cluster, service, task or task definition ``resource_arn`` names.

        An ARN that is not an ECS resource ARN is InvalidParameterException; a cluster
        that does not exist is ClusterNotFoundException and any other missing resource
        ResourceNotFoundException, the errors the API reference lists for TagResource.
        """
        try:
            arn = Arn.parse(resource_arn)
        except ValueError:
            raise errors.InvalidParameterException(
                "The ARN provided is invalid.",
                explanation=f"{resource_arn!r} is not an ARN") from None
        kind = arn.resource_type
        if arn.service != "ecs" or kind not in (
                "cluster", "service", "task", "task-definition"):
            raise errors.InvalidParameterException(
                "The ARN provided is invalid.",
                explanation="the simulator tags ECS clusters, services, tasks and task "
                f"definitions; {resource_arn!r} is none of these")
        missing = errors.error_class("ResourceNotFoundException")(
            "The specified resource could not be found.")
        if kind == "task-definition":
            found = self.find_taskdef(ctx, resource_arn)  # type: ignore[attr-defined]
            if found is None:
                raise missing
            return found
        path = arn.resource_id.split("/")
        cluster_arn = f"arn:{arn.partition}:ecs:{arn.region}:{arn.account}:cluster/{path[0]}"
        cluster = self.find_cluster(ctx, cluster_arn)  # type: ignore[attr-defined]
        if kind == "cluster":
            if cluster is None or cluster.status != "ACTIVE":
                raise errors.ClusterNotFoundException("Cluster not found.")
            return cluster
        if cluster is None or len(path) != 2:
            raise missing
        table = cluster.services if kind == "service" else cluster.tasks
        found = table.get(path[1])
        if found is None:
            raise missing
        return found

    def TagResource(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Add or overwrite tags on a resource (at most 50 per resource)."""
        authorize_call(ctx, params["resourceArn"])
        resource = self._tagged(ctx, params["resourceArn"])
        new = copy_tags(params["tags"])
        kept = [t for t in resource.tags if t["key"] not in {n["key"] for n in new}]
        if len(kept) + len(new) > MAX_TAGS:
            raise errors.InvalidParameterException(
                "Number of tags exceeds the limit of 50.",
                explanation=f"the resource would carry {len(kept) + len(new)} tags")
        resource.tags = kept + new
        return {}

    def UntagResource(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Remove the tags with these keys (keys it does not carry are ignored)."""
        authorize_call(ctx, params["resourceArn"])
        resource = self._tagged(ctx, params["resourceArn"])
        gone = set(params["tagKeys"])
        resource.tags = [t for t in resource.tags if t["key"] not in gone]
        return {}

    def ListTagsForResource(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The resource's tags, as ``[{key, value}]``."""
        authorize_call(ctx, params["resourceArn"])
        resource = self._tagged(ctx, params["resourceArn"])
        return {"tags": [dict(t) for t in resource.tags]}
