from tests.models.conftest import one_thread  # noqa: F401  (same reason: many small operations)
