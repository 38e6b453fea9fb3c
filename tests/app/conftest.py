"""The desktop app's tests run offscreen (no display needed), with settings kept in a
temporary folder so a developer's own window state is never read or written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def private_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield


@pytest.fixture(autouse=True)
def collect_on_the_ui_thread(qapp: object) -> Iterator[None]:
    """As the app does (`cairn.app.gc_guard`): cycles freed on the UI thread only."""
    import gc

    from cairn.app.gc_guard import UiThreadCollector

    collector = UiThreadCollector()
    yield
    collector.stop()
    gc.collect()  # here, on the UI thread, before the next test


@pytest.fixture
def app_workspace(starter: Path) -> Path:
    return starter
