"""Fargate: the agent that provisions a task's encrypted ephemeral storage (``agent``) and the
storage accounting that ``df`` and task metadata show inside the task (``storage``)."""
