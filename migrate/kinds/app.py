"""A generic application service (the app analyzer's role): everything about it comes from evidence."""

from __future__ import annotations

from migrate.kinds.base import Kind


class App(Kind):
    name = "app"
    roles = ("app",)
    weight = 2


KIND = App()
