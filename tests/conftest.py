"""Shared pytest set-up: real sample guests (tests/images_fixtures.py) and the Docker engine with
the local base image (tests/build/docker_fixtures.py), available to every test directory."""

pytest_plugins = ["tests.images_fixtures", "tests.build.docker_fixtures"]
