from tests.build.docker_fixtures import base_image, docker_engine  # noqa: F401
