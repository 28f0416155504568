"""Workflow engine integration (SpiffWorkflow 3.2): safe XML parsing, safe expressions, the service
operation allowlist, definition validation and the Spiff parser/serializer/script engine glue.

Persistence (``models.py``, ``services.py``) lives next to these modules but is owned by the runner.
"""
