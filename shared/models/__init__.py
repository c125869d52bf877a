"""Plain domain models, API shapes and queue messages (no storage concerns)."""
