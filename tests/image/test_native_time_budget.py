"""A time budget that runs out while a filesystem is being opened stops the whole inspection with code 33.

The native backend turns a filesystem it cannot open into a note and looks on the other volumes; the time
budget is not such a failure: it must not become "no operating system" (14). The budget is made to run out
at the first filesystem open (the rest of the open is the real native path on the real units guest).
"""

from __future__ import annotations

import pytest

import migrate.image.native as native
from migrate.errors import TimeBudgetExceeded
from migrate.inspect import inspect_images


def test_time_budget_during_filesystem_open_is_33_not_no_os(units_images, monkeypatch):
    def out_of_time(*_args, **_kwargs):
        raise TimeBudgetExceeded("image operations ran past 1 s", path="units")

    monkeypatch.setattr(native, "open_filesystem", out_of_time)
    with pytest.raises(TimeBudgetExceeded) as info:
        inspect_images([units_images.files["overlay"]], "native")
    assert info.value.exit_code == 33
