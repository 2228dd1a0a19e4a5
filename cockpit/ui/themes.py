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


def choose_theme(
    app: App[object], name: str | None, specs: Mapping[str, ThemeSpec]
) -> tuple[str, str | None]:
    """The theme to use for `name` (it or the fallback) and the warning to show, if any.

    The themes must already be registered (register_all). A name the app knows besides ours
    (one of Textual's built-in themes, such as "nord") is accepted as it is.
    """
    if name and name not in specs and name in app.available_themes:
        return name, None
    spec, warning = resolve_theme(name, specs)
    return spec.name, warning


def apply_theme(app: App[object], name: str | None, specs: Mapping[str, ThemeSpec]) -> str | None:
    """Set `app.theme` to `name` or the fallback; return the warning to show, if any."""
    chosen, warning = choose_theme(app, name, specs)
    app.theme = chosen
    return warning


def preset_theme(app: App[object], name: str) -> None:
    """Make the registered theme `name` the theme of an app that has not started yet.

    Set once the app runs, a theme makes Textual parse the whole stylesheet again and restyle
    every widget (about a quarter of the cockpit's start). Set here, the stylesheet is parsed
    with its colours the first time, and the app's own setting of the same theme later changes
    nothing. Only when the theme is as dark (or light) as Textual's default: Textual made its
    ANSI colour mapping for that one, and a theme of the other kind is left to be set the
    usual way, which remakes it.
    """
    theme = app.get_theme(name)
    if theme is None or theme.dark != app.current_theme.dark:
        return
    app.set_reactive(App.theme, theme.name)
    app.set_class(True, f"-theme-{theme.name}", update=False)
    app.set_class(theme.dark, "-dark-mode", update=False)
    app.set_class(not theme.dark, "-light-mode", update=False)
    app.stylesheet.set_variables(app.get_css_variables())
