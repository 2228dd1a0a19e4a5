"""Theme files: every one loads and is valid; the colour-blind and high-contrast themes keep
their promises (checked by simulation and by WCAG arithmetic); bad files and unknown names are
warnings with a fallback, never a crash; the Textual side registers them all.
"""

from __future__ import annotations

import asyncio
import colorsys
import copy
import math
from dataclasses import replace
from pathlib import Path

import pytest

from cockpit.theme_data import (
    BASE_COLOURS,
    DEFAULT_THEME,
    FALLBACK_THEME,
    STATUS_VARIABLES,
    ThemeFileError,
    ThemeSpec,
    contrast_ratio,
    hex_to_rgb,
    load_theme_file,
    load_themes,
    relative_luminance,
    resolve_theme,
    shipped_themes_dir,
)
from tests.conftest import PROJECT_ROOT

REQUIRED_THEMES = {"dark", "light", "high-contrast", "colorblind"}
THEMES_SOURCE = PROJECT_ROOT / "themes"
THEME_FILES = sorted(THEMES_SOURCE.glob("*.toml"))


def _load_quietly(directory: Path | None = None) -> tuple[dict[str, ThemeSpec], list[str]]:
    warnings: list[str] = []
    return load_themes(directory, warn=warnings.append), warnings


@pytest.fixture(scope="module")
def themes() -> dict[str, ThemeSpec]:
    loaded, warnings = _load_quietly()
    assert warnings == []
    return loaded


# --- the shipped files -----------------------------------------------------------------------


def test_the_required_themes_are_shipped(themes: dict[str, ThemeSpec]) -> None:
    assert REQUIRED_THEMES <= set(themes)
    assert {path.stem for path in THEME_FILES} == set(themes)


def test_in_a_checkout_the_shipped_themes_are_read_from_the_source() -> None:
    # A wheel carries a copy in cockpit/themes (tests/test_wheel_install.py); the checkout has
    # none, so that stale copies can never shadow what is edited.
    assert not (PROJECT_ROOT / "cockpit" / "themes").exists()
    assert shipped_themes_dir() == THEMES_SOURCE


@pytest.mark.parametrize("path", THEME_FILES, ids=lambda path: path.name)
def test_every_theme_file_loads_with_all_colours(path: Path) -> None:
    spec = load_theme_file(path)
    assert spec.name == path.stem and spec.source == path
    for key in BASE_COLOURS:
        hex_to_rgb(getattr(spec, key))
    for key in STATUS_VARIABLES:
        hex_to_rgb(spec.variables[key])


@pytest.mark.parametrize("name", sorted(REQUIRED_THEMES))
def test_text_and_statuses_are_readable_in_every_theme(
    themes: dict[str, ThemeSpec], name: str
) -> None:
    spec = themes[name]
    assert contrast_ratio(spec.foreground, spec.background) >= 7
    for key in STATUS_VARIABLES:
        assert contrast_ratio(spec.variables[key], spec.background) >= 4.5, key
    assert (relative_luminance(spec.background) < 0.2) is spec.dark


def test_high_contrast_passes_wcag_aaa(themes: dict[str, ThemeSpec]) -> None:
    spec = themes["high-contrast"]
    for ground in (spec.background, spec.surface, spec.panel):
        assert contrast_ratio(spec.foreground, ground) >= 7
        for key in STATUS_VARIABLES:
            assert contrast_ratio(spec.variables[key], ground) >= 4.5, (key, ground)
    for key in STATUS_VARIABLES:
        assert contrast_ratio(spec.variables[key], spec.background) >= 7, key
    assert spec.text_alpha == 1.0


def test_builtin_fallback_is_the_dark_file(themes: dict[str, ThemeSpec]) -> None:
    dark = themes[DEFAULT_THEME]
    assert replace(dark, source=None, description="") == replace(FALLBACK_THEME, description="")


def test_wcag_arithmetic() -> None:
    assert contrast_ratio("#000", "#FFFFFF") == pytest.approx(21)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1)
    # WebAIM's contrast checker: #767676 on white is 4.54:1.
    assert contrast_ratio("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)


# --- colour-blind safety ---------------------------------------------------------------------

# Machado, Oliveira and Fernandes (2009), severity 1.0, applied to linear RGB.
CVD_MATRICES = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
}


def _linear_rgb(colour: str) -> tuple[float, float, float]:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(value) for value in hex_to_rgb(colour))
    return red, green, blue


def _lab(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    red, green, blue = rgb
    x = (0.4124 * red + 0.3576 * green + 0.1805 * blue) / 0.95047
    y = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    z = (0.0193 * red + 0.1192 * green + 0.9505 * blue) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _seen_with(colour: str, deficiency: str | None) -> tuple[float, float, float]:
    rgb = _linear_rgb(colour)
    if deficiency is not None:
        matrix = CVD_MATRICES[deficiency]
        rgb = tuple(  # type: ignore[assignment]
            min(1.0, max(0.0, sum(row[i] * rgb[i] for i in range(3)))) for row in matrix
        )
    return _lab(rgb)


def _delta_e(first: str, second: str, deficiency: str | None) -> float:
    return math.dist(_seen_with(first, deficiency), _seen_with(second, deficiency))


def _hue_degrees(colour: str) -> float:
    red, green, blue = (value / 255 for value in hex_to_rgb(colour))
    return colorsys.rgb_to_hsv(red, green, blue)[0] * 360


@pytest.mark.parametrize("deficiency", [None, *CVD_MATRICES])
def test_colorblind_theme_keeps_ok_and_fail_apart(
    themes: dict[str, ThemeSpec], deficiency: str | None
) -> None:
    spec = themes["colorblind"]
    ok, fail = spec.variables["status-ok"], spec.variables["status-fail"]
    # CIE76 delta E: about 2 is just noticeable; 40 is plainly different colours.
    assert _delta_e(ok, fail, deficiency) >= 40
    statuses = [spec.variables[key] for key in STATUS_VARIABLES]
    for index, first in enumerate(statuses):
        for second in statuses[index + 1 :]:
            assert _delta_e(first, second, deficiency) >= 20, (first, second)


def test_colorblind_theme_is_not_red_versus_green(themes: dict[str, ThemeSpec]) -> None:
    spec = themes["colorblind"]
    for key in ("status-ok", "success"):
        colour = spec.variables[key] if key.startswith("status") else spec.success
        assert 180 <= _hue_degrees(colour) <= 250, f"{key} {colour} should be blue"
    for colour in (spec.variables["status-fail"], spec.error):
        assert 15 <= _hue_degrees(colour) <= 45, f"{colour} should be orange or vermillion"


def test_the_simulation_catches_a_red_green_pair() -> None:
    # The default dark theme's green/red collapses for deuteranopia: the check has teeth.
    assert _delta_e("#4EBF71", "#FF6B6B", None) >= 40
    assert _delta_e("#4EBF71", "#FF6B6B", "deuteranopia") < 20


# --- fallback and broken files ---------------------------------------------------------------


def test_unknown_name_falls_back_to_dark_with_a_clear_message(
    themes: dict[str, ThemeSpec],
) -> None:
    spec, warning = resolve_theme("colourblind", themes)
    assert spec.name == "dark"
    assert warning is not None
    assert "unknown theme 'colourblind'" in warning
    assert "did you mean 'colorblind'?" in warning
    assert "using 'dark'" in warning and "high-contrast" in warning


def test_known_and_default_names_resolve_quietly(themes: dict[str, ThemeSpec]) -> None:
    assert resolve_theme("light", themes) == (themes["light"], None)
    assert resolve_theme(None, themes) == (themes["dark"], None)
    assert resolve_theme("", themes) == (themes["dark"], None)


def test_without_any_theme_files_the_builtin_dark_is_used() -> None:
    spec, warning = resolve_theme("light", {})
    assert spec is FALLBACK_THEME and warning and "'light'" in warning
    assert resolve_theme(None, {}) == (FALLBACK_THEME, None)


def test_a_missing_directory_is_a_warning(tmp_path: Path) -> None:
    loaded, warnings = _load_quietly(tmp_path / "nowhere")
    assert loaded == {} and len(warnings) == 1 and "nowhere" in warnings[0]


GOOD = (THEMES_SOURCE / "dark.toml").read_text(encoding="utf-8")


BROKEN_FILES = {
    "bad-toml": ("name = 'x'\n[broken", "", "not valid TOML"),
    "missing-status": (
        GOOD.replace('status-fail = "#FF6B6B"\n', ""),
        "variables.status-fail",
        "missing",
    ),
    "missing-variables": (GOOD.split("[variables]")[0], "variables", "missing"),
    "bad-colour": (
        GOOD.replace('background = "#121212"', 'background = "black"'),
        "background",
        "expected a colour '#RGB' or '#RRGGBB', found 'black'",
    ),
    "dark-not-bool": (
        GOOD.replace("dark = true", 'dark = "yes"'),
        "dark",
        "expected true or false, found 'yes'",
    ),
    "bad-name": (GOOD.replace('name = "dark"', 'name = "Dark Theme"'), "name", "lower-case"),
    "unknown-key": (
        GOOD.replace('surface = "', 'surfase = "'),
        "surfase",
        "did you mean 'surface'?",
    ),
    "status-not-hex": (
        GOOD.replace('"#4EBF71"\nstatus-warn', '"green"\nstatus-warn'),
        "variables.status-ok",
        "found 'green'",
    ),
    "bad-variable-name": (
        GOOD.replace("[variables]", "[variables]\nbad_name = '#FFFFFF'"),
        "variables.bad_name",
        "variable name",
    ),
    "alpha-out-of-range": (
        "text_alpha = 3\n" + GOOD,
        "text_alpha",
        "from 0.0 to 1.0, found 3",
    ),
}


@pytest.mark.parametrize(
    ("text", "key", "expected"), list(BROKEN_FILES.values()), ids=list(BROKEN_FILES)
)
def test_a_broken_theme_file_is_skipped_with_a_warning_naming_it(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    (tmp_path / "good.toml").write_text(GOOD.replace('"dark"', '"good"', 1), encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text(text, encoding="utf-8")

    loaded, warnings = _load_quietly(tmp_path)

    assert set(loaded) == {"good"}
    [warning] = warnings
    assert warning.startswith(f"theme skipped: {broken}: ")
    if key:
        assert f" {key}: " in warning
    assert expected in warning
    with pytest.raises(ThemeFileError):
        load_theme_file(broken)


def test_bad_bytes_and_duplicate_names_are_warnings(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "c.toml").write_bytes(b"name = '\xff'\n")
    loaded, warnings = _load_quietly(tmp_path)
    assert set(loaded) == {"dark"} and loaded["dark"].source == tmp_path / "a.toml"
    assert any("b.toml" in w and "already used" in w for w in warnings), warnings
    assert any("c.toml" in w and "UTF-8" in w for w in warnings), warnings


def test_control_characters_in_a_theme_file_do_not_reach_the_warning(tmp_path: Path) -> None:
    (tmp_path / "evil.toml").write_text(
        GOOD.replace('name = "dark"', 'name = "\\u001b[31mred"\n"\\u001b]0;x" = 1'),
        encoding="utf-8",
    )
    _, warnings = _load_quietly(tmp_path)
    assert warnings and not any("\x1b" in warning for warning in warnings)


# --- Textual ---------------------------------------------------------------------------------


def test_every_colour_parses_in_textual(themes: dict[str, ThemeSpec]) -> None:
    from textual.color import Color

    for spec in themes.values():
        for key in BASE_COLOURS:
            Color.parse(getattr(spec, key))
        for value in spec.variables.values():
            Color.parse(value)


def test_register_all_and_switch_theme_leaves_builtins_alone(
    themes: dict[str, ThemeSpec],
) -> None:
    from textual.app import App, ComposeResult
    from textual.theme import BUILTIN_THEMES
    from textual.widgets import Static

    from cockpit.ui.themes import apply_theme, register_all, status_variable_defaults

    builtins_before = copy.deepcopy(BUILTIN_THEMES)

    class TinyApp(App[None]):
        CSS = "#ok { color: $status-ok; background: $status-fail; }"

        def get_theme_variable_defaults(self) -> dict[str, str]:
            return status_variable_defaults()

        def compose(self) -> ComposeResult:
            yield Static("✓ ok", id="ok")

    async def scenario() -> None:
        app = TinyApp()
        names = register_all(app, themes)
        assert set(names) == set(themes)
        async with app.run_test(size=(40, 5)) as pilot:
            app.theme = "colorblind"
            await pilot.pause()
            assert app.theme == "colorblind"
            assert app.theme_variables["status-ok"] == themes["colorblind"].variables["status-ok"]
            for name in themes:
                assert apply_theme(app, name, themes) is None
                await pilot.pause()
                assert app.theme == name
            warning = apply_theme(app, "no-such-theme", themes)
            assert warning and "no-such-theme" in warning and app.theme == "dark"
            # Textual's own themes stay available and work with the status variables.
            assert apply_theme(app, "nord", themes) is None
            await pilot.pause()
            assert app.theme == "nord"
            assert app.theme_variables["status-ok"] == FALLBACK_THEME.variables["status-ok"]

    asyncio.run(scenario())
    assert BUILTIN_THEMES == builtins_before
    assert not set(themes) & set(BUILTIN_THEMES)


def test_high_contrast_text_is_opaque_in_textual(themes: dict[str, ThemeSpec]) -> None:
    from cockpit.ui.themes import to_textual_theme

    theme = to_textual_theme(themes["high-contrast"])
    assert theme.text_alpha == 1.0 and theme.dark
    assert theme.variables["status-fail"] == themes["high-contrast"].variables["status-fail"]


def test_theme_data_does_not_import_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cockpit.theme_data, cockpit.glyphs, cockpit.check_table\n"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
