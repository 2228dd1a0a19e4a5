"""The Textual cockpit screen. Only this package imports textual; the core never does."""
