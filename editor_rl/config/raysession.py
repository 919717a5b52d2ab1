"""Starting or joining Ray, the one way editor-rl does it.

``RAY_ADDRESS`` (set by ``ray job submit`` and on cluster nodes) joins that cluster; otherwise
a local instance starts with the dashboard off and everything bound to 127.0.0.1. A Ray
already initialised in this process (a test session's, a job's) is used as it is.
"""

from __future__ import annotations

import os


def ensure_ray(*, num_cpus: int | None = None) -> None:
    """Make sure this process is connected to Ray.

    Parameters
    ----------
    num_cpus : int or None
        CPUs for a new local instance (None: all); ignored when joining a cluster.
    """
    import ray

    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True, configure_logging=False)
