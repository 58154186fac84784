"""Start a second Ray node on this machine, joined to the head at ARGV[1], listening on 127.0.0.1 only.

``ray start --address`` rewrites a loopback address to the machine's external IP (so the node would listen
beyond 127.0.0.1 and miss a head that listens on 127.0.0.1); this starts the node the way Ray's own
``ray.cluster_utils.Cluster.add_node`` does. Its processes outlive this script (like ``ray start``'s).

    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 python tests/ray_second_node.py 127.0.0.1:PORT TEMP_DIR NUM_CPUS
"""

import sys

from ray._private.node import Node
from ray._private.parameter import RayParams

gcs_address, temp_dir, num_cpus = sys.argv[1], sys.argv[2], int(sys.argv[3])
Node(RayParams(gcs_address=gcs_address, node_ip_address="127.0.0.1", num_cpus=num_cpus, num_gpus=0, temp_dir=temp_dir,
               object_store_memory=150 * 1024 * 1024, min_worker_port=0, max_worker_port=0),
     head=False, shutdown_at_exit=False, spawn_reaper=False)
