"""infra/hooks/postprovision.sh against a stand-in `az` on PATH: it locks the three retention policies
(audit, checkpoints, assessment packs) with the etag it read, leaves locked ones alone, and prints the same
fingerprint remediators.audit.signing computes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from remediators.audit.signing import fingerprint

from . import bicep

HOOK = bicep.INFRA / "hooks" / "postprovision.sh"
KEY_ID = "https://kv-warden-x.vault.azure.net/keys/audit-checkpoint-signing/0123456789abcdef"

FAKE_AZ = r'''#!PYTHON
import json, sys
state_path = sys.argv[0] + ".state.json"
state = json.load(open(state_path))
args = sys.argv[1:]
state["calls"].append(args)
def opt(name):
    return args[args.index(name) + 1]
if args[:3] == ["storage", "container", "immutability-policy"]:
    policy = state["policies"][opt("--container-name")]
    if args[3] == "show":
        print(policy[opt("--query")])
    elif args[3] == "lock":
        if opt("--if-match") != policy["etag"]:
            sys.exit("etag mismatch")
        policy["state"] = "Locked"
elif args[:3] == ["keyvault", "key", "show"]:
    print("\t".join(state["jwk"]))
else:
    sys.exit("unexpected az call: %r" % args)
json.dump(state, open(state_path, "w"))
'''


def _jwk_part(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).decode().rstrip("=")


@pytest.fixture()
def fake_az(tmp_path: Path) -> tuple[Path, ec.EllipticCurvePublicKey]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    numbers = key.public_numbers()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.replace("PYTHON", sys.executable))
    az.chmod(0o755)
    state = {"calls": [], "jwk": ["P-256", _jwk_part(numbers.x), _jwk_part(numbers.y)],
             "policies": {"audit": {"state": "Unlocked", "etag": '"8d1"'},
                          "audit-checkpoints": {"state": "Locked", "etag": '"8d2"'},
                          "audit-packs": {"state": "Unlocked", "etag": '"8d3"'}}}
    (bin_dir / "az.state.json").write_text(json.dumps(state))
    return bin_dir, key


def _run(bin_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "AZURE_RESOURCE_GROUP": "rg-dev",
           "WARDEN_STORAGE_ACCOUNT": "stwardenabc", "WARDEN_SIGNING_KEY": KEY_ID, **extra}
    return subprocess.run(["sh", str(HOOK)], env=env, capture_output=True, text=True, timeout=60, check=False)


def _state(bin_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((bin_dir / "az.state.json").read_text())


def test_hook_locks_unlocked_policies_and_prints_the_fingerprint(fake_az) -> None:  # type: ignore[no-untyped-def]
    bin_dir, key = fake_az
    result = _run(bin_dir)
    assert result.returncode == 0, result.stderr
    state = _state(bin_dir)
    assert state["policies"]["audit"]["state"] == "Locked"
    assert state["policies"]["audit-packs"]["state"] == "Locked"
    locks = [c for c in state["calls"] if c[3:4] == ["lock"]]
    # the checkpoint one was locked already; each lock names its container with the etag read for it
    assert [(c[c.index("--container-name") + 1], c[c.index("--if-match") + 1]) for c in locks] == [
        ("audit", '"8d1"'), ("audit-packs", '"8d3"')]
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert f"fingerprint (pin it outside the audit storage): {fingerprint(der)}" in result.stdout


def test_hook_can_leave_a_test_environment_unlocked(fake_az) -> None:  # type: ignore[no-untyped-def]
    bin_dir, _ = fake_az
    result = _run(bin_dir, WARDEN_AUDIT_LOCK="false")
    assert result.returncode == 0, result.stderr
    assert _state(bin_dir)["policies"]["audit"]["state"] == "Unlocked"
    assert _state(bin_dir)["policies"]["audit-packs"]["state"] == "Unlocked"
    assert "UNLOCKED" in result.stdout


def test_hook_refuses_a_key_that_is_not_p256(fake_az) -> None:  # type: ignore[no-untyped-def]
    bin_dir, _ = fake_az
    state = _state(bin_dir)
    state["jwk"][0] = "P-384"
    (bin_dir / "az.state.json").write_text(json.dumps(state))
    result = _run(bin_dir)
    assert result.returncode != 0
    assert "not an EC P-256 key" in result.stderr


def test_provisioning_again_after_the_hook_locked_the_policies_declares_no_policy(fake_az) -> None:  # type: ignore[no-untyped-def]
    """ARM refuses a PUT of a locked immutability policy, so the second `azd provision` must not declare one:
    the hook records the lock in the azd environment, main.parameters.json carries it into main.bicep, and
    storage.bicep declares both policies only while they are unlocked."""
    import re

    bin_dir, _ = fake_az
    env_file = bin_dir / "azd-env.txt"
    azd = bin_dir / "azd"
    azd.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'env set' ] && echo \"$3=$4\" >> '{env_file}'\n")
    azd.chmod(0o755)
    assert _run(bin_dir).returncode == 0
    azd_env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert azd_env["WARDEN_AUDIT_POLICY_LOCKED"] == "true"
    assert azd_env["WARDEN_PACK_POLICY_LOCKED"] == "true"

    params = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]

    def resolved(name: str, env: dict[str, str]) -> str:
        var, default = re.fullmatch(r"\$\{([A-Z_]+)=?(.*)\}", params[name]["value"]).groups()  # type: ignore[union-attr]
        return env.get(var, default)

    for flag in ("auditPolicyLocked", "packPolicyLocked"):
        assert resolved(flag, {}) == "false"  # first provision: the policies are created
        assert resolved(flag, azd_env) == "true"  # after the hook
    storage = bicep.module_config("main.bicep", "storage")
    assert storage["params"]["auditPolicyLocked"] == "auditPolicyLocked"
    assert storage["params"]["packPolicyLocked"] == "packPolicyLocked"
    policies = {p.symbol: p for p in
                bicep.of_type("Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies")}
    assert set(policies) == {"auditPolicy", "checkpointPolicy", "packPolicy"}
    for symbol, flag in (("auditPolicy", "auditPolicyLocked"), ("checkpointPolicy", "auditPolicyLocked"),
                         ("packPolicy", "packPolicyLocked")):
        assert policies[symbol].condition == {"operator": {"type": "not", "operands": {"bool_value": flag}}}


def test_a_deployment_locked_before_the_pack_container_existed_still_creates_and_locks_its_policy(
    fake_az,  # type: ignore[no-untyped-def]
) -> None:
    """Its azd environment already has WARDEN_AUDIT_POLICY_LOCKED=true (the audit policies are left out), but
    not WARDEN_PACK_POLICY_LOCKED: the new container's policy is declared on this provision, and the hook
    then locks it while leaving the locked audit policies alone."""
    import re

    params = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    env = {"WARDEN_AUDIT_POLICY_LOCKED": "true"}
    var, default = re.fullmatch(r"\$\{([A-Z_]+)=?(.*)\}", params["packPolicyLocked"]["value"]).groups()  # type: ignore[union-attr]
    assert env.get(var, default) == "false"
    bin_dir, _ = fake_az
    state = _state(bin_dir)
    state["policies"]["audit"]["state"] = "Locked"
    (bin_dir / "az.state.json").write_text(json.dumps(state))
    result = _run(bin_dir)
    assert result.returncode == 0, result.stderr
    locks = [c for c in _state(bin_dir)["calls"] if c[3:4] == ["lock"]]
    assert [c[c.index("--container-name") + 1] for c in locks] == ["audit-packs"]
    assert "retention policy on 'audit-packs' is now LOCKED" in result.stdout


def test_an_unlocked_test_environment_keeps_declaring_its_policies(fake_az) -> None:  # type: ignore[no-untyped-def]
    bin_dir, _ = fake_az
    env_file = bin_dir / "azd-env.txt"
    azd = bin_dir / "azd"
    azd.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'env set' ] && echo \"$3=$4\" >> '{env_file}'\n")
    azd.chmod(0o755)
    assert _run(bin_dir, WARDEN_AUDIT_LOCK="false").returncode == 0
    assert "WARDEN_AUDIT_POLICY_LOCKED" not in env_file.read_text()
    assert "WARDEN_PACK_POLICY_LOCKED" not in env_file.read_text()
