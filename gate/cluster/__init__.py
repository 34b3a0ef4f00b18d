"""Cluster-aware checks: the platforms of the nodes a pod can land on, and the pull secrets the
kubelet would present, read from the kube API (`api.py`) or a state file (`state.py`)."""
