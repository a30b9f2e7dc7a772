"""The only Python that imports ipywidgets/anywidget (filled in by the widgets issue)."""
