"""Web layer: request lifecycle, tenant resolution, error pages, base layout, security headers."""
