"""Tsunagu (つなぐ) — multi-tenant casework platform for 生活困窮者自立支援 on configurable BPMN workflows."""

__version__ = "0.1.0"
