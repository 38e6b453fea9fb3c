"""Settings view: models, API keys, budgets, routing roles, and the app's own preferences.

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

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QSystemTrayIcon,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.context import AppContext
from cairn.core.engine import CancelToken
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.schema import AgentsPolicy

Report = Callable[[object], None]
Work = Callable[[CancelToken, Report], Iterable[object]]
KEEP_RUNNING_KEY = "automations/keep_running_when_closed"
UNROUTED = "(not routed)"


def push_button(text: str, slot: Callable[[], object], name: str | None = None) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(name or text.rstrip("…"))
    button.clicked.connect(lambda _=False: slot())
    return button


def text_label(name: str, text: str = "") -> QLabel:
    label = QLabel(text)
    label.setAccessibleName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class Jobs:
    """A widget's background jobs. `report` lets a blocking core call (a pull) send items
    while it runs: a signal emitted from the worker thread reaches the UI thread queued,
    in order, before the job's `finished`."""

    def __init__(self, owner: QWidget) -> None:
        self.owner = owner
        self.workers: list[EventWorker] = []

    def start(
        self,
        work: Work,
        on_item: Callable[[object], None],
        on_done: Callable[[str | None], None],
    ) -> EventWorker:
        worker: EventWorker

        def produce(cancel: CancelToken) -> Iterable[object]:
            return work(cancel, worker.item.emit)

        worker = EventWorker(produce, self.owner)
        worker.item.connect(on_item)
        worker.finished.connect(lambda error: on_done(None if error is None else str(error)))
        for done in [w for w in self.workers if not w.running]:
            done.wait()  # its thread has ended or is ending: joined, then let go
            done.deleteLater()
        self.workers = [w for w in self.workers if w.running] + [worker]
        worker.start()
        return worker

    def shutdown(self) -> None:
        for worker in self.workers:
            worker.wait()
        self.workers = []


# --- models ----------------------------------------------------------------------------------


class ModelsPanel(QWidget):
    """The models agents.md names; add a GGUF file, pull one, try one with a prompt."""

    policy_written = Signal(object)  # (sha256 before, sha256 after) of agents.md
    pull_progress = Signal(object, object)  # bytes on disk, total (past a C++ int's range)
    answered = Signal(str)  # the summary line of a finished try

    def __init__(
        self,
        root: Path,
        workspace: Callable[[], Workspace | None] = lambda: None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from cairn.infra.model_catalogue import CATALOGUE
        from cairn.infra.model_try import DEFAULT_PROMPT

        self.root = root
        self.workspace = workspace
        self.jobs = Jobs(self)
        self.pulling: EventWorker | None = None
        self.trying: EventWorker | None = None
        self._usage: Any = None  # the last try's token count and cost
        self._chosen = ""  # the model answering it

        self.models = QTreeWidget()
        self.models.setAccessibleName("Configured models")
        self.models.setHeaderLabels(["Name", "Engine", "File or model id", "Context"])
        self.models.setRootIsDecorated(False)
        self.add_button = push_button("Add a GGUF file…", self.choose_gguf)
        self.message = text_label("Models message")

        self.catalogue = QComboBox()
        self.catalogue.setAccessibleName("Recommended model")
        for entry in CATALOGUE:
            self.catalogue.addItem(f"{entry.name} — {entry.title}: {entry.good_for}", entry.name)
        self.hub_file = QLineEdit()
        self.hub_file.setAccessibleName("Hub file to pull")
        self.hub_file.setPlaceholderText("or a GGUF file on the Hub: REPO/FILE.gguf")
        self.pull_button = push_button("Pull", self.pull, "Pull model")
        self.cancel_pull_button = push_button("Cancel", self.cancel_pull, "Cancel pull")
        self.cancel_pull_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Pull progress")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.pull_status = text_label("Pull status")

        self.try_model_box = QComboBox()
        self.try_model_box.setAccessibleName("Model to try")
        self.prompt = QLineEdit(DEFAULT_PROMPT)
        self.prompt.setAccessibleName("Prompt")
        self.prompt.returnPressed.connect(self.try_model)
        self.try_button = push_button("Try", self.try_model, "Try model")
        self.cancel_try_button = push_button("Cancel", self.cancel_try, "Cancel try")
        self.cancel_try_button.setEnabled(False)
        self.answer = QPlainTextEdit()
        self.answer.setAccessibleName("Answer")
        self.answer.setReadOnly(True)
        self.answer.setMaximumHeight(110)
        self.summary = text_label("Answer summary")

        pull_box = QGroupBox("Pull a model")
        pull = QGridLayout(pull_box)
        pull.addWidget(self.catalogue, 0, 0, 1, 2)
        pull.addWidget(self.hub_file, 1, 0, 1, 2)
        pull.addWidget(self.progress, 2, 0)
        row = QHBoxLayout()
        row.addWidget(self.pull_button)
        row.addWidget(self.cancel_pull_button)
        pull.addLayout(row, 2, 1)
        pull.addWidget(self.pull_status, 3, 0, 1, 2)
        try_box = QGroupBox("Try a model")
        tries = QGridLayout(try_box)
        tries.addWidget(self.try_model_box, 0, 0)
        tries.addWidget(self.prompt, 0, 1)
        row = QHBoxLayout()
        row.addWidget(self.try_button)
        row.addWidget(self.cancel_try_button)
        tries.addLayout(row, 0, 2)
        tries.addWidget(self.answer, 1, 0, 1, 3)
        tries.addWidget(self.summary, 2, 0, 1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.models, 1)
        top = QHBoxLayout()
        top.addWidget(self.add_button)
        top.addWidget(self.message, 1)
        layout.addLayout(top)
        layout.addWidget(pull_box)
        layout.addWidget(try_box)

    def show_policy(self, policy: AgentsPolicy | None) -> None:
        self.models.clear()
        chosen = self.try_model_box.currentText()
        self.try_model_box.clear()
        for name, spec in (policy.models if policy else {}).items():
            target = spec.path if spec.engine == "local" else spec.model
            context = f"{spec.context:,}" if spec.context else "-"
            item = QTreeWidgetItem([name, spec.engine, target or "", context])
            self.models.addTopLevelItem(item)
            self.try_model_box.addItem(name)
        for column in range(3):
            self.models.resizeColumnToContents(column)
        if chosen:
            self.try_model_box.setCurrentText(chosen)

    # adding a file ----------------------------------------------------------------------------

    def choose_gguf(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Add a GGUF model", str(Path.home()), "GGUF models (*.gguf)"
        )
        if chosen:
            self.add_gguf(Path(chosen))

    def add_gguf(self, path: Path) -> EventWorker:
        """Name the file in agents.md (what the file dialog's choice feeds)."""
        from cairn.infra.model_pull import add_local_model

        self.message.setText(f"Reading {path.name}…")
        self.add_button.setEnabled(False)

        def work(cancel: CancelToken, report: Report) -> list[object]:
            return [add_local_model(self.root, path)]

        return self.jobs.start(work, self._added, self._add_done)

    def _added(self, result: Any) -> None:
        verb = f"Added {result.name} to" if result.added else f"{result.name} is already in"
        self.message.setText(" ".join([f"{verb} {result.policy_file.name}.", *result.notes]))
        if result.added:
            self.policy_written.emit(result.policy_hashes)
        self.try_model_box.setCurrentText(result.name)

    def _add_done(self, error: str | None) -> None:
        self.add_button.setEnabled(True)
        if error:
            self.message.setText(f"Not added: {_said(error)}")

    # pulling ----------------------------------------------------------------------------------

    def pull(self, spec: str | None = None) -> EventWorker | None:
        from cairn.infra.model_pull import PullCancelled, pull

        spec = spec or self.hub_file.text().strip() or self.catalogue.currentData()
        if not spec or self.pulling is not None:
            return None
        self.progress.setRange(0, 0)  # busy until the Hub says the size
        self.progress.show()
        self.pull_status.setText(f"Asking the Hub about {spec}…")
        self.pull_button.setEnabled(False)
        self.cancel_pull_button.setEnabled(True)

        def work(cancel: CancelToken, report: Report) -> list[object]:
            def progress(done: int, total: int) -> None:
                if cancel.cancelled:
                    raise PullCancelled("stopped; the next pull of it continues where it stopped")
                report(("progress", done, total))

            def log(line: str) -> None:
                report(("log", line))

            return [pull(spec, self.root, log=log, progress=progress)]

        self.pulling = self.jobs.start(work, self._pull_item, self._pull_done)
        return self.pulling

    def cancel_pull(self) -> None:
        if self.pulling is not None:
            self.pulling.cancel()
            self.pull_status.setText("Stopping the pull…")

    def _pull_item(self, item: Any) -> None:
        from cairn.infra.model_pull import human_bytes

        if isinstance(item, tuple) and item[0] == "progress":
            _, done, total = item
            scale = max(1, total // 1_000_000)  # a QProgressBar counts in ints
            self.progress.setRange(0, max(1, total // scale))
            self.progress.setValue(done // scale)
            self.progress.setFormat(f"{human_bytes(done)} of {human_bytes(total)}")
            self.pull_progress.emit(done, total)
        elif isinstance(item, tuple) and item[0] == "log":
            self.pull_status.setText(str(item[1]))
        else:  # the PullResult
            how = "added to" if item.added else "already in"
            where = item.policy_file.name if item.policy_file else "no agents.md"
            self.pull_status.setText(
                f"{item.name}: {item.path.name}, sha256 checked; {how} {where}. "
                + " ".join(item.notes)
            )
            if item.added and item.policy_hashes:
                self.policy_written.emit(item.policy_hashes)
            self.try_model_box.setCurrentText(item.name)

    def _pull_done(self, error: str | None) -> None:
        self.pulling = None
        self.pull_button.setEnabled(True)
        self.cancel_pull_button.setEnabled(False)
        self.progress.hide()
        if error:
            self.pull_status.setText(f"Not pulled: {_said(error)}")

    # trying -----------------------------------------------------------------------------------

    def try_model(self, name: str | None = None, prompt: str | None = None) -> EventWorker | None:
        from cairn.infra.model_try import try_model

        name = name or self.try_model_box.currentText()
        prompt = (prompt or self.prompt.text()).strip()
        workspace = self.workspace()  # None: read from disk on the worker
        if not name or not prompt or self.trying is not None:
            return None
        self.answer.clear()
        self.summary.setText(f"Asking {name}…")
        self.try_button.setEnabled(False)
        self.cancel_try_button.setEnabled(True)
        self._usage, self._chosen = None, name

        def work(cancel: CancelToken, report: Report) -> Iterable[object]:
            return try_model(self.root, workspace, name, prompt, cancel)

        self.trying = self.jobs.start(work, self._try_item, self._try_done)
        return self.trying

    def cancel_try(self) -> None:
        if self.trying is not None:
            self.trying.cancel()

    def _try_item(self, event: object) -> None:
        from cairn.core.engine import TextDelta, Usage
        from cairn.core.routing.dispatch import FellBack, Routed

        if isinstance(event, TextDelta):
            self.answer.insertPlainText(event.text)
        elif isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Routed) and event.decision.chosen:
            self._chosen = event.decision.chosen
            self.summary.setText(f"{self._chosen} is answering…")
        elif isinstance(event, FellBack):
            self.answer.appendPlainText(f"[{event.model} failed: {event.message}; next model]")

    def _try_done(self, error: str | None) -> None:
        self.trying = None
        self.try_button.setEnabled(True)
        self.cancel_try_button.setEnabled(False)
        if error:
            self.summary.setText(f"{self._chosen} could not answer: {_said(error)}")
            return
        usage = self._usage
        if usage is None:
            line = f"{self._chosen}: stopped before an answer"
        else:
            cost = "cost unknown" if usage.cost_usd is None else f"${usage.cost_usd:.6f}"
            line = (
                f"{self._chosen}: {usage.input_tokens} tokens in, {usage.output_tokens} out, {cost}"
            )
        self.summary.setText(line)
        self.answered.emit(line)

    def shutdown(self) -> None:
        self.jobs.shutdown()


def _said(error: str) -> str:
    """A worker's "Type: message" as the message alone, for the core's own errors."""
    kind, sep, message = error.partition(": ")
    return message if sep and kind.endswith(("Error", "Cancelled", "Paused", "Stopped")) else error


# --- keys ------------------------------------------------------------------------------------


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

    def delete_key(self) -> EventWorker:
        provider = self.provider.currentText().strip()
        selected = self.keys.currentItem()
        if selected is not None:
            provider = selected.text(0)

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
            self.message.setText(_said(error))  # keychain errors never quote the key

    def shutdown(self) -> None:
        self.jobs.shutdown()


# --- budgets and routing ----------------------------------------------------------------------


class PolicyForms(QWidget):
    """Budgets and routing roles, written to agents.md value by value."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from cairn.core.workspace.policy_edit import BUDGET_FIELDS, BUDGET_SCOPES

        self.context = context
        self.path: str | None = None  # the policy file, workspace-relative
        self.base_text = ""  # its text (no BOM) when the forms were filled
        self.base_hash: str | None = None
        self.bom = ""
        self._expected: set[str] = set()  # hashes of this view's own writes in flight
        self.edited: set[str] = set()  # the forms with unsaved edits: budgets, routing
        self._filling = False

        self.limits: dict[tuple[str, str], QLineEdit] = {}
        budgets = QGroupBox("Budgets (empty: no limit)")
        grid = QGridLayout(budgets)
        for column, field in enumerate(("", *BUDGET_FIELDS)):
            grid.addWidget(QLabel({"usd": "USD"}.get(field, field.capitalize())), 0, column)
        for row, scope in enumerate(BUDGET_SCOPES, 1):
            grid.addWidget(QLabel(scope.replace("_", " ").capitalize()), row, 0)
            for column, field in enumerate(BUDGET_FIELDS, 1):
                edit = QLineEdit()
                edit.setAccessibleName(f"{scope} {field} limit")
                edit.setPlaceholderText("no limit")
                edit.textEdited.connect(lambda _text: self._edited("budgets"))
                self.limits[scope, field] = edit
                grid.addWidget(edit, row, column)
        self.warn_at = QLineEdit()
        self.warn_at.setAccessibleName("Warn at")
        self.warn_at.setPlaceholderText("0.8")
        self.warn_at.textEdited.connect(lambda _text: self._edited("budgets"))
        grid.addWidget(QLabel("Warn at (share of a budget)"), len(BUDGET_SCOPES) + 1, 0, 1, 2)
        grid.addWidget(self.warn_at, len(BUDGET_SCOPES) + 1, 2)
        self.save_budgets_button = push_button("Save budgets", self.save_budgets)

        self.roles = QTableWidget(0, 2)
        self.roles.setAccessibleName("Roles")
        self.roles.setHorizontalHeaderLabels(["Role", "Models, first choice first"])
        self.roles.horizontalHeader().setStretchLastSection(True)
        self.roles.verticalHeader().hide()
        self.roles.itemChanged.connect(self._roles_edited)
        self.routing = QTableWidget(0, 2)
        self.routing.setAccessibleName("Routing")
        self.routing.setHorizontalHeaderLabels(["Step kind", "Role"])
        self.routing.horizontalHeader().setStretchLastSection(True)
        self.routing.verticalHeader().hide()
        self.save_routing_button = push_button("Save roles and routing", self.save_routing)
        add_role = push_button("Add role", self.add_role)
        remove_role = push_button("Remove role", self.remove_role)

        self.conflict = QWidget()
        self.conflict.setAccessibleName("Changed on disk")
        bar = QHBoxLayout(self.conflict)
        self.conflict_text = text_label("Conflict")
        bar.addWidget(self.conflict_text, 1)
        bar.addWidget(push_button("Reload", self.reload, "Reload settings"))
        self.conflict.hide()
        self.message = text_label("Settings message")

        routing_box = QGroupBox("Roles and routing")
        box = QVBoxLayout(routing_box)
        box.addWidget(self.roles, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(add_role)
        buttons.addWidget(remove_role)
        buttons.addStretch(1)
        box.addLayout(buttons)
        box.addWidget(self.routing, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.conflict)
        layout.addWidget(budgets)
        layout.addWidget(self.save_budgets_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(routing_box, 1)
        layout.addWidget(self.save_routing_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.message)

    # reading ----------------------------------------------------------------------------------

    def _read(self) -> tuple[str, bytes] | None:
        from cairn.infra.model_pull import policy_file

        found = policy_file(self.context.root)
        if found is None:
            return None
        return found.relative_to(self.context.root).as_posix(), found.read_bytes()

    def reload(self) -> None:
        """Fill the forms from the policy file as it is now, dropping unsaved edits."""
        from cairn.core.workspace.documents import content_hash
        from cairn.core.workspace.edit import EditError
        from cairn.core.workspace.policy_edit import policy_settings

        self.conflict.hide()
        read = self._read()
        if read is None:
            self.path = None
            self.setEnabled(False)
            self.message.setText("This workspace has no agents.md to hold budgets and roles.")
            return
        self.path, raw = read
        self.bom = "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else ""
        self.base_text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
        self.base_hash = content_hash(raw)
        try:
            settings = policy_settings(self.base_text)
        except EditError as exc:
            self.setEnabled(False)
            self.message.setText(f"{self.path} cannot be edited here: {exc}")
            return
        self.setEnabled(True)
        self._filling = True
        for (scope, field), edit in self.limits.items():
            edit.setText(_number(settings.budgets[scope][field]))
        self.warn_at.setText(_number(settings.warn_at))
        self.roles.setRowCount(0)
        for name, models in settings.roles.items():
            self._add_role_row(name, ", ".join(models))
        self._fill_routing(settings.routing)
        self._filling = False
        self.edited.clear()

    def _fill_routing(self, routing: Mapping[str, str]) -> None:
        from cairn.core.workspace.policy_edit import STEP_KINDS

        roles = self._role_names()
        self.routing.setRowCount(0)
        for kind in dict.fromkeys([*STEP_KINDS, *routing]):
            row = self.routing.rowCount()
            self.routing.insertRow(row)
            item = QTableWidgetItem(kind)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.routing.setItem(row, 0, item)
            box = QComboBox()
            box.setAccessibleName(f"Role for {kind}")
            box.addItems([UNROUTED, *roles])
            chosen = routing.get(kind)
            if chosen and chosen not in roles:
                box.addItem(chosen)  # what the file says, even if the role is gone
            box.setCurrentText(chosen or UNROUTED)
            box.currentIndexChanged.connect(lambda _index: self._edited("routing"))
            self.routing.setCellWidget(row, 1, box)

    def _add_role_row(self, name: str, models: str) -> None:
        row = self.roles.rowCount()
        self.roles.insertRow(row)
        self.roles.setItem(row, 0, QTableWidgetItem(name))
        self.roles.setItem(row, 1, QTableWidgetItem(models))

    def _role_names(self) -> list[str]:
        names = (self.roles.item(row, 0) for row in range(self.roles.rowCount()))
        return [item.text().strip() for item in names if item and item.text().strip()]

    def routes(self) -> dict[str, str]:
        chosen: dict[str, str] = {}
        for row in range(self.routing.rowCount()):
            kind, box = self.routing.item(row, 0), self.routing.cellWidget(row, 1)
            if kind and isinstance(box, QComboBox) and box.currentText() != UNROUTED:
                chosen[kind.text()] = box.currentText()
        return chosen

    # editing ----------------------------------------------------------------------------------

    def _edited(self, form: str) -> None:
        if not self._filling:
            self.edited.add(form)

    def _roles_edited(self) -> None:
        if self._filling:
            return
        self.edited.add("routing")
        self._filling = True  # the combos follow the role names; that is not an edit
        self._fill_routing(self.routes())
        self._filling = False

    def add_role(self) -> None:
        self._add_role_row("", "")
        item = self.roles.item(self.roles.rowCount() - 1, 0)
        if item is not None:
            self.roles.editItem(item)

    def remove_role(self) -> None:
        row = self.roles.currentRow()
        if row >= 0:
            self.roles.removeRow(row)
            self._roles_edited()

    def save_budgets(self) -> bool:
        from cairn.core.workspace.policy_edit import edit_policy

        limits: dict[str, dict[str, float | int | None]] = {}
        try:
            for (scope, field), edit in self.limits.items():
                limits.setdefault(scope, {})[field] = _parse(edit.text(), field)
            warn_at = _parse(self.warn_at.text(), "warn at")
        except ValueError as exc:
            self.message.setText(f"Not saved: {exc}")
            return False
        return self._save(
            lambda text: edit_policy(text, budgets=limits, warn_at=warn_at), "budgets", "budgets"
        )

    def save_routing(self) -> bool:
        from cairn.core.workspace.policy_edit import edit_policy

        roles: dict[str, list[str]] = {}
        for row in range(self.roles.rowCount()):
            name_item, models_item = self.roles.item(row, 0), self.roles.item(row, 1)
            name = name_item.text().strip() if name_item else ""
            models = [
                m
                for m in (models_item.text() if models_item else "").replace(",", " ").split()
                if m
            ]
            if not name and not models:
                continue
            if not name:
                self.message.setText("Not saved: a role in the list has no name.")
                return False
            roles[name] = models
        routes = self.routes()
        return self._save(
            lambda text: edit_policy(text, roles=roles, routing=routes),
            "routing",
            "roles and routing",
        )

    def _save(self, edit: Callable[[str], str], form: str, what: str) -> bool:
        from cairn.core.errors import CairnError, WriteConflictError
        from cairn.core.workspace.documents import content_hash

        if self.path is None or self.context.model is None:
            return False
        try:
            edited = edit(self.base_text)
        except CairnError as exc:
            self.message.setText(f"Not saved: {exc}")
            return False
        if edited == self.base_text:
            self.edited.discard(form)
            self.message.setText(f"No change to the {what}.")
            return True
        data = (self.bom + edited).encode("utf-8")
        self._expected.add(content_hash(data))
        try:
            self.context.model.write(self.path, self.bom + edited, base_hash=self.base_hash)
        except WriteConflictError:
            self._show_conflict()
            return False
        except OSError as exc:
            self.message.setText(f"Not saved: {exc}")
            return False
        finally:
            self._expected.discard(content_hash(data))
        self.base_text, self.base_hash = edited, content_hash(data)
        self.edited.discard(form)
        self.conflict.hide()
        self.message.setText(f"Saved the {what} to {self.path}; the rest of it is as it was.")
        return True

    def _show_conflict(self) -> None:
        self.conflict_text.setText(
            f"{self.path} changed on disk since these settings were shown, so they were not "
            "saved. Reload to see the file as it is now (your edits here are dropped)."
        )
        self.conflict.show()

    # the file changing ------------------------------------------------------------------------

    def on_disk_changed(self) -> None:
        """The workspace changed: follow the file, unless that would drop unsaved edits."""
        from cairn.core.workspace.documents import content_hash

        read = self._read()
        now = content_hash(read[1]) if read else None
        if now is not None and (now == self.base_hash or now in self._expected):
            return
        if self.edited:
            self._show_conflict()
        else:
            self.reload()

    def rebase(self, hashes: tuple[str, str] | None) -> None:
        """A model this view added went into the file: the forms' edits still apply."""
        from cairn.core.workspace.documents import content_hash

        read = self._read()
        if not hashes or read is None or hashes[0] != self.base_hash:
            return
        if content_hash(read[1]) != hashes[1]:
            return  # changed again since, by someone else: that is a real conflict
        if not self.edited:
            self.reload()
            return
        self.base_text = read[1].decode("utf-8", errors="replace").removeprefix("\ufeff")
        self.base_hash = hashes[1]
        self.conflict.hide()


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _parse(text: str, field: str) -> float | int | None:
    text = text.strip().replace("_", "")
    if not text:
        return None
    try:
        if field == "tokens":
            return int(text)
        number = float(text.replace(",", "."))
        return int(number) if number.is_integer() and "." not in text else number  # 90, not 90.0
    except ValueError:
        kind = "a whole number" if field == "tokens" else "a number"
        raise ValueError(f"{field} must be {kind}, not {text!r}") from None


# --- the view --------------------------------------------------------------------------------


class SettingsView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.loading = text_label("Loading", "Loading the workspace…")
        self.models = ModelsPanel(context.root, self._workspace)
        self.keys = KeysPanel()
        self.policy = PolicyForms(context)
        self.keep_running = QCheckBox("Keep automations running when the window is closed")
        self.keep_running.setAccessibleName("Keep automations running when the window is closed")
        self.keep_running.setChecked(_keep_running())
        self.keep_running.toggled.connect(_set_keep_running)
        app = QWidget()
        form = QFormLayout(app)
        form.addRow(self.keep_running)
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
        self.tabs.addTab(app, "App")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.loading)
        self.stack.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stack)

        self.models.policy_written.connect(self._own_write)
        context.loaded.connect(self._loaded)
        context.load_failed.connect(lambda why: self.loading.setText(f"Could not load: {why}"))
        context.changed.connect(self._changed)
        if context.ready:
            self._loaded()

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

    def shutdown(self) -> None:
        self.models.shutdown()
        self.keys.shutdown()


def _keep_running() -> bool:
    from cairn.app.window import settings

    return str(settings().value(KEEP_RUNNING_KEY, False)).lower() in ("true", "1")


def _set_keep_running(on: bool) -> None:
    from cairn.app.window import settings

    settings().setValue(KEEP_RUNNING_KEY, on)
