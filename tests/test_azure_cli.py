"""The `--aks` flags of `pullgate check`: bad values are one-line usage errors before any Azure
call, and nothing of the Azure SDK loads unless `--aks` is given."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from arm_fake import SUB, StaticCredential
from click.testing import CliRunner

from gate.azure.arm import CLOUDS, ArmSession, AzureError
from gate.azure.cluster import read_cluster
from gate.azure.options import AksOptions
from gate.cli import main

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: box
spec:
  containers:
    - name: box
      image: contoso.azurecr.io/tools/box:1.0
"""


@pytest.fixture
def manifest(tmp_path: Path) -> str:
    path = tmp_path / "pod.yaml"
    path.write_text(MANIFEST)
    return str(path)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--aks", "just-a-name"], "--aks 'just-a-name': expected RESOURCE_GROUP/CLUSTER"),
        (["--aks", "rg/aks", "--offline"], "--aks reads Azure Resource Manager"),
        (["--subscription", SUB], "need --aks RESOURCE_GROUP/CLUSTER"),
        (["--aks", "rg/aks", "--subscription", "prod"], "--subscription 'prod': expected a GUID"),
        (
            ["--aks", "rg/aks", "--acr-resource-id", "/subscriptions/x/resourceGroups/rg"],
            "--acr-resource-id '/subscriptions/x/resourceGroups/rg': expected /subscriptions/",
        ),
        (
            [
                "--aks",
                f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                "Microsoft.ContainerService/managedClusters/aks",
                "--subscription",
                "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a",
            ],
            f"--aks names subscription {SUB} but --subscription is",
        ),
    ],
)
def test_bad_aks_flags_are_one_line_usage_errors(manifest, flags, message):
    result = CliRunner().invoke(main, ["check", manifest, *flags])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_without_aks_no_azure_module_is_imported(manifest):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from gate.cli import main\n"
        f"result = CliRunner().invoke(main, ['check', '--offline', {manifest!r}])\n"
        "loaded = sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.'))\n"
        "print(result.exit_code, loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "0 []"


def test_check_help_documents_the_aks_flags():
    result = CliRunner().invoke(main, ["check", "--help"])
    for flag in ("--aks", "--subscription", "--acr-resource-id", "--kubelet-object-id"):
        assert flag in result.output


def test_unreachable_resource_manager_is_a_one_line_error(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    session = ArmSession(
        CLOUDS["AzureCloud"],
        credential=StaticCredential(),
        base_url=f"https://127.0.0.1:{port}",
        timeout=2,
        retries=0,
    )
    with pytest.raises(AzureError) as caught:
        read_cluster(session, AksOptions("rg/aks"), SUB)
    message = str(caught.value)
    assert message.startswith(f"cannot reach Azure Resource Manager at https://127.0.0.1:{port}")
    assert "\n" not in message


def _no_login_env(tmp_path: Path) -> dict[str, str]:
    """A runner with no Azure login: no az CLI, no AZURE_* variables, an empty home. Managed
    identity is left out of the chain (AZURE_TOKEN_CREDENTIALS=dev) so no probe leaves loopback."""
    import os

    home = tmp_path / "home"
    home.mkdir()
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_"))
    }
    return keep | {
        "HOME": str(home),
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "AZURE_CONFIG_DIR": str(home / ".azure"),
        "AZURE_TOKEN_CREDENTIALS": "dev",
    }


@pytest.mark.parametrize("flags", [["--subscription", SUB], []])
def test_aks_without_a_login_is_one_line_saying_nobody_is_logged_in(manifest, tmp_path, flags):
    done = subprocess.run(
        [sys.executable, "-m", "gate", "check", manifest, "--aks", "rg/aks", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env=_no_login_env(tmp_path),
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert output.count("\n") == 1, output
    assert "nobody is logged in to Azure" in output
    for how in ("az login", "azure/login", "AzureCLI@2"):
        assert how in output
    assert "DefaultAzureCredential" not in output and "subscription" not in output.lower()


def test_a_scope_arm_no_longer_finds_is_one_line_not_a_traceback(manifest, monkeypatch):
    """A 404 on a read the checks do not expect to fail (a registry deleted between listing it
    and reading its role assignments) ends the run as a usage error."""
    from gate.azure import mode
    from gate.azure.arm import ArmNotFound

    def vanished(*args: object, **kwargs: object) -> None:
        raise ArmNotFound(
            "The Resource 'Microsoft.ContainerRegistry/registries/contoso' was not found."
        )

    monkeypatch.setattr(mode, "run_aks_check", vanished)
    result = CliRunner().invoke(main, ["check", manifest, "--aks", "rg/aks"])
    assert result.exit_code == 2, result.output
    assert "answered 404" in result.output and "contoso" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
