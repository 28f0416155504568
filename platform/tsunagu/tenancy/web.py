"""Wires tenancy into the web toolkit: how a request finds (and binds) its tenant, and the tenant's name."""

from __future__ import annotations

from flask import Flask

from ..web import hooks
from . import services


def init_app(app: Flask) -> None:
    registered = hooks.init_app(app)
    registered.resolve_tenant = services.resolve_and_bind
    registered.tenant_name = services.tenant_name
