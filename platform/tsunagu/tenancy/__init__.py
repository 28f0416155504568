"""Tenants (municipalities), their org units, presets in ``tenants/`` and tenant resolution."""
