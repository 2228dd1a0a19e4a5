"""Build hook: the wheel carries the theme files as package data.

Everything else is declared in pyproject.toml. The themes' source stays `themes/` at the top
of the repository, where people edit them; building copies `themes/*.toml` into the wheel's
`cockpit/themes/`, where `cockpit.theme_data` finds them with importlib.resources. The sdist
carries `themes/` itself (MANIFEST.in), so a wheel built from it gets the same copy. An
editable install needs no copy: there the package sits beside `themes/` and reads it there.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

THEMES_SOURCE = Path(__file__).resolve().parent / "themes"
THEMES_IN_PACKAGE = ("cockpit", "themes")


class BuildPyWithThemes(build_py):
    """build_py, then `themes/*.toml` copied into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, target in self._theme_files():
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.extend(str(target) for _, target in self._theme_files())
        return outputs

    def _theme_files(self) -> list[tuple[Path, Path]]:
        sources = sorted(THEMES_SOURCE.glob("*.toml"))
        if not sources:
            raise SystemExit(f"{THEMES_SOURCE}: no theme files to ship (*.toml)")
        target_dir = Path(self.build_lib, *THEMES_IN_PACKAGE)
        return [(source, target_dir / source.name) for source in sources]


setup(cmdclass={"build_py": BuildPyWithThemes})
