"""The main window's views, one module each; every view takes the shared `AppContext`."""
