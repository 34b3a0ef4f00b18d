"""AKS and ACR from Azure Resource Manager: the kubelet identity's pull rights (RBAC and ABAC),
node pools as target platforms, registry posture, and ACR credentials for the pipeline.

Nothing here is imported unless `--aks` is given; the Azure SDK is imported inside functions.
"""
