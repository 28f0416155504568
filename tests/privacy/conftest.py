from tests.keys.conftest import presets  # noqa: F401 - the preset tenants fixture
