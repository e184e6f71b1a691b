"""Scale-out on Ray (the ``[ray]`` extra): the same analyses on a local Ray runtime or a cluster.

``affectlens analyze … --ray [ADDRESS]`` and ``affectlens study run … --ray [ADDRESS]`` hand each
video (or a small batch of images) to a Ray task; each task reads its own file from a path the
worker can reach and sends back compact rows, and the driver writes the same files and database
rows as a local run. See :mod:`affectlens.scale.cluster`.
"""

from affectlens.scale.cluster import RayExecutor, analyze_on_ray, connect

__all__ = ["RayExecutor", "analyze_on_ray", "connect"]
