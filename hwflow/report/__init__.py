"""Run reports: Markdown and a self-contained HTML page (plots embedded as PNG)."""

from hwflow.report.build import collect_run, write_report

__all__ = ["collect_run", "write_report"]
