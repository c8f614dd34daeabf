"""Shared pytest set-up. Image fixtures (real Debian guests, built and cached by migrate.samples)
live in tests/images_fixtures.py."""

import importlib.util

pytest_plugins = ["tests.images_fixtures"] if importlib.util.find_spec("tests.images_fixtures") else []
