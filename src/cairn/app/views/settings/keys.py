"""API keys, in the OS keychain."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.views.settings.common import Jobs, Report, push_button, said, text_label
from cairn.core.engine import CancelToken


class KeysPanel(QWidget):
    """API keys in the OS keychain. A key is typed into a password field, stored, and the
    field cleared at once; afterwards only its masked hint (`sk-…7f3a`) is ever shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from cairn.infra.keychain import KNOWN_PROVIDERS

        self.jobs = Jobs(self)
        self.keys = QTreeWidget()
        self.keys.setAccessibleName("Stored keys")
        self.keys.setHeaderLabels(["Provider", "Key", "Where"])
        self.keys.setRootIsDecorated(False)
        # Choosing a stored key names its provider below: what is shown is what Delete
        # deletes.
        self.keys.currentItemChanged.connect(self._row_chosen)
        self.provider = QComboBox()
        self.provider.setAccessibleName("Provider")
        self.provider.setEditable(True)
        self.provider.addItems(sorted(KNOWN_PROVIDERS))
        self.key_field = QLineEdit()
        self.key_field.setAccessibleName("API key")
        self.key_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_field.setPlaceholderText("paste the key; it is never shown again")
        self.key_field.returnPressed.connect(self.store_key)
        self.store_button = push_button("Store key", self.store_key)
        self.delete_button = push_button("Delete key", self.delete_key)
        self.message = text_label("Keys message")
        form = QHBoxLayout()
        form.addWidget(self.provider)
        form.addWidget(self.key_field, 1)
        form.addWidget(self.store_button)
        form.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.keys, 1)
        layout.addLayout(form)
        layout.addWidget(self.message)
        self.refresh()

    def refresh(self) -> EventWorker:
        def work(cancel: CancelToken, report: Report) -> list[object]:
            from cairn.infra.keychain import KeychainUnavailableError, KeyStore

            store = KeyStore()
            try:
                return [("list", store.list(), None)]
            except KeychainUnavailableError as exc:
                return [("list", store.list_environment(), str(exc).split(" Fix:", 1)[0])]

        return self.jobs.start(work, self._listed, self._done)

    def _listed(self, item: Any) -> None:
        _, infos, problem = item
        self.keys.clear()
        for info in infos:
            where = f"environment ({info.env_var})" if info.env_var else "OS keychain"
            self.keys.addTopLevelItem(QTreeWidgetItem([info.provider, info.hint, where]))
        if problem:
            self.message.setText(f"{problem}. Keys in the environment are shown.")
        elif not infos and not self.message.text():
            self.message.setText(
                "No API keys yet. Local models need none; a cloud model needs its provider's."
            )

    def store_key(self) -> EventWorker | None:
        provider = self.provider.currentText().strip()
        value = self.key_field.text()
        self.key_field.clear()  # at once: the key lives on only in the worker's call
        if not value:
            self.message.setText("Paste a key into the field first.")
            return None

        def work(cancel: CancelToken, report: Report) -> list[object]:
            from cairn.infra.keychain import KeyStore

            store = KeyStore()
            info = store.set(provider, value)
            return [("stored", info, store.environment_var(provider))]

        self.message.setText(f"Storing the key for {provider}…")
        return self.jobs.start(work, self._changed, self._done)

    def _row_chosen(self, item: QTreeWidgetItem | None) -> None:
        if item is not None:
            self.provider.setCurrentText(item.text(0))

    def delete_key(self, *, confirmed: bool = False) -> EventWorker | None:
        """Delete the key of the provider shown, after asking (unless `confirmed`)."""
        provider = self.provider.currentText().strip()
        if not provider:
            return None
        if not confirmed:
            buttons = QMessageBox.StandardButton
            answer = QMessageBox.question(
                self,
                "Delete key",
                f"Delete the {provider} key from the keychain? Cloud models of {provider} "
                "stop working until a key is stored again.",
                buttons.Yes | buttons.Cancel,
                buttons.Cancel,
            )
            if answer != buttons.Yes:
                return None

        def work(cancel: CancelToken, report: Report) -> list[object]:
            from cairn.infra.keychain import KeyStore

            store = KeyStore()
            return [("deleted", store.delete(provider), provider, store.environment_var(provider))]

        return self.jobs.start(work, self._changed, self._done)

    def _changed(self, item: Any) -> None:
        if item[0] == "stored":
            _, info, shadowed = item
            text = f"Stored the key for {info.provider} ({info.hint}) in the OS keychain."
            if shadowed:
                text += f" It takes precedence over {shadowed}, which is also set."
        else:
            _, existed, provider, remaining = item
            text = (
                f"Deleted the key for {provider}."
                if existed
                else f"No key for {provider} in the keychain."
            )
            if remaining:
                text += f" {remaining} is still set in the environment and stays in use."
        self.message.setText(text)
        self.refresh()

    def _done(self, error: str | None) -> None:
        if error:
            self.message.setText(said(error))  # keychain errors never quote the key

    def shutdown(self) -> None:
        self.jobs.shutdown()
