"""What ``hwflow doctor`` checks: every tool's status, and whether the default flow can run."""

from __future__ import annotations

from dataclasses import asdict

from hwflow.tools import ToolStatus, all_tools


def check_tools() -> list[ToolStatus]:
    return [t.status() for t in all_tools()]


def default_flow_ready(statuses: list[ToolStatus]) -> bool:
    """True when every tool the default (vendor-free) flow needs was found."""
    return all(s.found for s in statuses if s.required)


def doctor_report() -> dict:
    statuses = check_tools()
    return {
        "ready": default_flow_ready(statuses),
        "tools": [asdict(s) for s in statuses],
    }
