"""Theme files (cockpit.theme_data) turned into Textual `Theme` objects and registered on an app.

Textual's built-in themes are left as they are: registering adds to the app's own registry and
never touches `textual.theme.BUILTIN_THEMES`. Those built-in themes know nothing of the status
variables, so an app that uses `$status-ok` in its CSS returns `status_variable_defaults()` from
`get_theme_variable_defaults()`; then every theme, ours or Textual's, can be chosen from the
palette without an undefined-variable error.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import App
from textual.theme import Theme

from cockpit.theme_data import FALLBACK_THEME, STATUS_VARIABLES, ThemeSpec, resolve_theme


def to_textual_theme(spec: ThemeSpec) -> Theme:
    """A new Textual Theme for a ThemeSpec, carrying its semantic variables."""
    theme = Theme(
        name=spec.name,
        dark=spec.dark,
        primary=spec.primary,
        secondary=spec.secondary,
        accent=spec.accent,
        foreground=spec.foreground,
        background=spec.background,
        surface=spec.surface,
        panel=spec.panel,
        warning=spec.warning,
        error=spec.error,
        success=spec.success,
        variables=dict(spec.variables),
    )
    if spec.luminosity_spread is not None:
        theme.luminosity_spread = spec.luminosity_spread
    if spec.text_alpha is not None:
        theme.text_alpha = spec.text_alpha
    return theme


def status_variable_defaults() -> dict[str, str]:
    """Status colours for themes that do not define them (Textual's own), from the fallback."""
    return {name: FALLBACK_THEME.variables[name] for name in STATUS_VARIABLES}


def register_all(app: App[object], specs: Mapping[str, ThemeSpec]) -> list[str]:
    """Register every theme (and the built-in fallback if "dark" is missing); return the names."""
    names: list[str] = []
    all_specs = dict(specs)
    all_specs.setdefault(FALLBACK_THEME.name, FALLBACK_THEME)
    for spec in all_specs.values():
        app.register_theme(to_textual_theme(spec))
        names.append(spec.name)
    return names


def apply_theme(app: App[object], name: str | None, specs: Mapping[str, ThemeSpec]) -> str | None:
    """Set `app.theme` to `name` or the fallback; return the warning to show, if any.

    The themes must already be registered (register_all). A name the app knows besides ours
    (one of Textual's built-in themes, such as "nord") is accepted as it is.
    """
    if name and name not in specs and name in app.available_themes:
        app.theme = name
        return None
    spec, warning = resolve_theme(name, specs)
    app.theme = spec.name
    return warning
