"""Settings view: models, API keys, budgets, routing roles, improving the harness (evals and
gated proposals, `improve.py`), and the app's own preferences.

Everything here is the core's: a GGUF file is named in agents.md by
`model_pull.add_local_model`, a pull is `model_pull.pull` (its progress reported per chunk,
stopped by Cancel), a model is tried with `model_try.try_model` (routed, budgeted,
ledgered, as `cairn ask --model` is), keys go to the OS keychain through `KeyStore`, and
budgets and roles are written by `policy_edit.edit_policy`, which changes only the values
that changed — every other byte of agents.md, comments included, stays. Slow work (the
Hub, a model, the keychain, which may wait for an unlock dialog) runs on `EventWorker`s.

A budgets or routing save is refused when agents.md changed on disk since the form was
filled, unless the change was this view's own (a model it just added), which it knows by
the file's hash before and after that write.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QStackedWidget,
    QSystemTrayIcon,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cairn.app.context import AppContext
from cairn.app.theme import SCHEMES, saved_scheme
from cairn.app.views.settings.common import KEEP_RUNNING_KEY, text_label
from cairn.app.views.settings.improve import ImprovePanel
from cairn.app.views.settings.keys import KeysPanel
from cairn.app.views.settings.models import ModelsPanel
from cairn.app.views.settings.policy import PolicyForms
from cairn.core.workspace.entities import Workspace

__all__ = ["SettingsView"]


class SettingsView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.loading = text_label("Loading", "Loading the workspace…")
        self.models = ModelsPanel(context.root, self._workspace)
        self.keys = KeysPanel()
        self.policy = PolicyForms(context)
        self.improve = ImprovePanel(context.root)
        self.keep_running = QCheckBox("Keep automations running when the window is closed")
        self.keep_running.setAccessibleName("Keep automations running when the window is closed")
        self.keep_running.setChecked(_keep_running())
        self.keep_running.toggled.connect(_set_keep_running)
        self.appearance = QComboBox()
        self.appearance.setAccessibleName("Appearance")
        for scheme in SCHEMES:
            self.appearance.addItem(
                "Follow the system" if scheme == "system" else scheme.capitalize(), scheme
            )
        self.appearance.setCurrentIndex(SCHEMES.index(saved_scheme()))
        self.appearance.currentIndexChanged.connect(self._appearance_chosen)
        app = QWidget()
        form = QFormLayout(app)
        form.addRow(self.keep_running)
        form.addRow("Appearance", self.appearance)
        if not QSystemTrayIcon.isSystemTrayAvailable():
            form.addRow(
                text_label(
                    "Tray note",
                    "This desktop has no system tray, so closing the window stops the "
                    "automations even with this on.",
                )
            )
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Settings sections")
        self.tabs.addTab(self.models, "Models")
        self.tabs.addTab(self.keys, "API keys")
        self.tabs.addTab(self.policy, "Budgets and routing")
        self.tabs.addTab(self.improve, "Improve")
        self.tabs.addTab(app, "App")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.loading)
        self.stack.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stack)

        self.models.policy_written.connect(self._own_write)
        context.loaded.connect(self._loaded)
        context.load_failed.connect(self._load_failed)
        context.changed.connect(self._changed)
        if context.ready:
            self._loaded()

    def _load_failed(self, why: str) -> None:
        self.loading.setText(f"Could not load: {why}")

    def _workspace(self) -> Workspace | None:
        return self.context.model.workspace if self.context.model else None

    def _loaded(self) -> None:
        workspace = self._workspace()
        self.models.show_policy(workspace.agents.policy if workspace and workspace.agents else None)
        self.policy.reload()
        self.stack.setCurrentWidget(self.tabs)

    def _own_write(self, hashes: tuple[str, str]) -> None:
        """A model was named in agents.md from here: the forms keep their edits, and the
        workspace takes the file in now (a try of the new model must find it)."""
        self.policy.rebase(hashes)
        if self.context.model is not None and self.policy.path is not None:
            self.context.model.refresh([self.policy.path], origin="cairn")

    def _changed(self, events: object) -> None:
        workspace = self._workspace()
        self.models.show_policy(workspace.agents.policy if workspace and workspace.agents else None)
        self.policy.on_disk_changed()

    def _appearance_chosen(self) -> None:
        from cairn.app.theme import SCHEME_KEY, apply_scheme
        from cairn.app.window import settings

        scheme = self.appearance.currentData()
        settings().setValue(SCHEME_KEY, scheme)
        application = QApplication.instance()
        if isinstance(application, QApplication):
            apply_scheme(application, scheme)

    def shutdown(self) -> None:
        self.models.shutdown()
        self.keys.shutdown()
        self.improve.shutdown()


def _keep_running() -> bool:
    from cairn.app.window import settings

    return str(settings().value(KEEP_RUNNING_KEY, False)).lower() in ("true", "1")


def _set_keep_running(on: bool) -> None:
    from cairn.app.window import settings

    settings().setValue(KEEP_RUNNING_KEY, on)
