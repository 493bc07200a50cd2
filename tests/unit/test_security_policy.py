"""Who may use the admin lane, and its faults and workload operations."""

from __future__ import annotations

import pytest

from zmqcast.config import AdminPolicy
from zmqcast.security.policy import admin_refusal, is_loopback, op_refusal

PLAIN = AdminPolicy()


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.6.7", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.213.4.254", False),
        ("192.168.1.5", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
        ("not an address", False),
    ],
)
def test_loopback_is_this_host_only(address: str | None, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_plain_mode_takes_admin_requests_from_loopback_unless_remote() -> None:
    assert admin_refusal(PLAIN, False, None, "127.0.0.1") is None
    refused = admin_refusal(PLAIN, False, None, "10.0.0.2")
    assert refused is not None and "10.0.0.2" in refused and "admin.remote" in refused
    assert admin_refusal(AdminPolicy(remote=True), False, None, "10.0.0.2") is None


def test_secure_mode_takes_admin_requests_from_admin_keys_only() -> None:
    assert admin_refusal(PLAIN, True, "~ops", "10.0.0.2") is None, "a key, from anywhere"
    for user in ("P1", None):
        refused = admin_refusal(AdminPolicy(remote=True), True, user, "127.0.0.1")
        assert refused is not None and "admin key" in refused


@pytest.mark.parametrize("op", ["faults", "workload"])
def test_faults_and_workload_need_remote_fault_control_off_loopback(op: str) -> None:
    assert op_refusal(PLAIN, op, "127.0.0.1") is None
    refused = op_refusal(AdminPolicy(remote=True), op, "10.0.0.2")
    assert refused is not None and op in refused and "remote_fault_control" in refused
    assert op_refusal(AdminPolicy(remote_fault_control=True), op, "10.0.0.2") is None


@pytest.mark.parametrize("op", ["status", "snapshot"])
def test_reading_and_snapshots_are_not_fault_control(op: str) -> None:
    assert op_refusal(PLAIN, op, "10.0.0.2") is None
