"""The desktop app: the only package that imports Qt (PySide6).

A consumer of the core's one event stream, like the CLI: it adds no business logic of its
own. `main` starts it (`cairn app [DIR]`, or the `cairn-app` GUI entry point); `window`
holds the main window and its views; `bridge` runs the core's generators off the UI
thread and turns their events into Qt signals; `context` is what every view shares (the
workspace, the embedded automation scheduler, settings).
"""
