"""The wheel ships every module and template, with analyzers/ and templates/ inside the migrate
namespace (so `analyzers` can never collide with another installed package)."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def expected_members() -> set[str]:
    names = set()
    for src, dest in (("migrate", "migrate"), ("analyzers", "migrate/analyzers"), ("templates", "migrate/templates")):
        for path in (ROOT / src).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".j2"):
                names.add(f"{dest}/{path.relative_to(ROOT / src).as_posix()}")
    return names


def test_wheel_contains_every_module_and_template(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("migrate-*.whl")
    members = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(expected_members() - members)
    assert not missing, f"not in the wheel (add the package to pyproject.toml): {missing}"
    assert not any(m.startswith("analyzers/") for m in members)
