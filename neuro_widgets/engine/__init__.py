"""The analysis engine: torch and numpy only (never ipywidgets/anywidget)."""
