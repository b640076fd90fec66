"""The audit explorer: one self-contained HTML page (and its JSON twin) per task, built from the chain and the
content store alone, as the audit is. ``report_data`` gathers, ``render_html`` draws, ``write_report`` writes."""

from fedledger.explorer.data import report_data
from fedledger.explorer.page import render_html, write_report

__all__ = ["render_html", "report_data", "write_report"]
