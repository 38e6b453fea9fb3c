"""First run: a workspace in a folder, a model to run, keys if wanted, and what is missing.

The page is shown for a folder that may not hold a workspace yet. It offers what
`cairn init` does there: the starter workspace (`starter.create_workspace`), or, for
another tool's workspace, `cairn init --from` (`starter.adopt`: a `cairn.md` beside the
tool's files, none of them changed). `cairn doctor`'s checks (`infra.doctor.diagnose`)
are listed with the fix for each, and a model can be added, pulled or tried and keys
stored with the same panels as Settings. "Open the workspace" emits `workspace_ready`
once the folder holds one; the window is built from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.theme import text_colour
from cairn.app.views.settings.common import Jobs, Report, push_button, said, text_label
from cairn.app.views.settings.keys import KeysPanel
from cairn.app.views.settings.models import ModelsPanel
from cairn.core.engine import CancelToken
from cairn.core.workspace.entities import Workspace

Fit, Stretch = QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch


class FirstRunPage(QWidget):
    workspace_ready = Signal(Path)  # the folder, once it holds a workspace
    checked = Signal(object)  # the doctor's report, each time the checks finish

    def __init__(self, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = folder.expanduser().absolute()
        self.workspace: Workspace | None = None  # loaded with each round of checks
        self.jobs = Jobs(self)
        self.checking: EventWorker | None = None
        self._again = False

        title = QLabel("<h2>Set up Cairn</h2>")
        title.setAccessibleName("Title")
        self.state = text_label("Folder")
        self.create_button = push_button("Create the starter workspace here", self.create_starter)
        self.adopt_button = push_button("Use it as it is (adds only cairn.md)", self.adopt)
        choose = push_button("Choose another folder…", self.choose_folder)
        self.message = text_label("First run message")

        self.checks = QTreeWidget()
        self.checks.setAccessibleName("Checks")
        self.checks.setHeaderLabels(["Status", "Check", "Found", "Fix"])
        self.checks.setRootIsDecorated(False)
        self.checks.setWordWrap(True)  # a finding or a fix is a sentence: shown whole
        header = self.checks.header()
        for column, mode in enumerate((Fit, Fit, Stretch, Stretch)):
            header.setSectionResizeMode(column, mode)
        self.detail = text_label("Check details")  # the chosen row whole: cells are clipped
        self.checks.currentItemChanged.connect(self._show_detail)
        self.verdict = text_label("Verdict")
        self.check_button = push_button("Check again", self.run_checks)

        # The starter model, offered when it is missing: the same pinned, checked file that
        # scripts/setup installs (a bundle fetches it from the index itself).
        self.starter_text = text_label("Starter model")
        self.starter_button = push_button("Get the starter model", self.get_starter_model)
        self.starter_progress = QProgressBar()
        self.starter_progress.setAccessibleName("Starter model download")
        self.starter_progress.hide()
        self.starter_row = QWidget()
        starter_row = QHBoxLayout(self.starter_row)
        starter_row.setContentsMargins(0, 0, 0, 0)
        starter_row.addWidget(self.starter_text, 1)
        starter_row.addWidget(self.starter_progress)
        starter_row.addWidget(self.starter_button)
        self.models = ModelsPanel(self.folder)  # a try reads the workspace as it is on disk
        self.models.policy_written.connect(lambda _hashes: self.run_checks())
        self.keys = KeysPanel()
        self.setup = QTabWidget()
        self.setup.setAccessibleName("Model and keys")
        self.setup.addTab(self.models, "Model")
        self.setup.addTab(self.keys, "API keys (optional)")
        self.open_button = push_button("Open the workspace", self.open_workspace)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.state)
        row = QHBoxLayout()
        for button in (self.create_button, self.adopt_button, choose):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(self.checks, 1)
        layout.addWidget(self.detail)
        row = QHBoxLayout()
        row.addWidget(self.verdict, 1)
        row.addWidget(self.check_button)
        layout.addLayout(row)
        layout.addWidget(self.starter_row)
        layout.addWidget(self.setup, 1)
        layout.addWidget(self.open_button)
        self._show_starter_model()
        self.set_folder(self.folder)

    # the folder -------------------------------------------------------------------------------

    def choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Workspace folder", str(self.folder))
        if chosen:
            self.set_folder(Path(chosen))

    def set_folder(self, folder: Path) -> None:
        """Show what `folder` holds and offer what fits (what the folder dialog feeds)."""
        self.folder = folder.expanduser().absolute()
        self.models.root = self.folder
        self.message.clear()
        self._describe()
        self.run_checks()

    def _describe(self) -> None:
        from cairn.infra.model_pull import policy_file
        from cairn.infra.starter import looks_like_workspace, other_tools_files

        found = other_tools_files(self.folder)
        exists = self.folder.is_dir() and looks_like_workspace(self.folder)
        if found:
            text = (
                f"{self.folder} holds another tool's workspace ({', '.join(found)}). Cairn can "
                "use it as it is: it adds only its settings file, cairn.md, and changes none "
                "of that tool's files."
            )
        elif exists and policy_file(self.folder) is not None:
            text = f"{self.folder} is a Cairn workspace."
        elif exists:
            text = f"{self.folder} holds skills or spaces, but no agents.md with Cairn's settings."
        else:
            text = (
                f"{self.folder} holds no workspace yet. The starter workspace has spaces, "
                "skills, automations and an agents.md to begin with."
            )
        self.state.setText(text)
        self.create_button.setEnabled(not found and policy_file(self.folder) is None)
        self.adopt_button.setEnabled(bool(found))
        self.open_button.setEnabled(exists)
        self.setup.setEnabled(policy_file(self.folder) is not None)

    def create_starter(self) -> bool:
        from cairn.core.errors import CairnError
        from cairn.infra.starter import create_workspace

        try:
            report = create_workspace(self.folder)
        except (CairnError, OSError) as exc:
            self.message.setText(f"Not created: {exc}")
            return False
        self._describe()
        self.message.setText(
            f"Created the starter workspace: {len(report.created)} files"
            + (f", {len(report.kept)} already there and kept." if report.kept else ".")
        )
        self.run_checks()
        return True

    def adopt(self) -> bool:
        from cairn.core.errors import CairnError
        from cairn.infra.starter import adopt

        try:
            report = adopt(self.folder)
        except (CairnError, OSError) as exc:
            self.message.setText(f"Not changed: {exc}")
            return False
        self._describe()
        self.message.setText(
            f"Cairn's settings are in {report.policy}; its tools may not write "
            f"{', '.join(report.protected)}."
        )
        self.run_checks()
        return True

    def open_workspace(self) -> None:
        from cairn.infra.starter import looks_like_workspace

        if self.folder.is_dir() and looks_like_workspace(self.folder):
            self.workspace_ready.emit(self.folder)

    # the starter model ------------------------------------------------------------------------

    def _show_starter_model(self) -> None:
        from cairn.infra.starter_model import STARTER, installed, models_folder

        present = installed(STARTER) is not None
        self.starter_row.setVisible(not present)
        self.starter_text.setText(
            f"No local model yet. The starter model, {STARTER.filename} "
            f"({STARTER.size / 1e6:.0f} MB, {STARTER.licence}), is small and demo grade: it "
            f"runs tasks with no keys. It goes to {models_folder()}."
        )

    def get_starter_model(self) -> EventWorker:
        """Download, check and install the starter model on a worker, with progress."""
        self.starter_button.setEnabled(False)
        self.starter_progress.setRange(0, 0)  # busy until the size is known
        self.starter_progress.show()

        def work(cancel: CancelToken, report: Report) -> Any:
            from cairn.infra.starter_model import STARTER, install

            yield (
                "installed",
                install(STARTER, progress=lambda done, total: report((done, total))),
            )

        return self.jobs.start(work, self._starter_item, self._starter_done)

    def _starter_item(self, item: Any) -> None:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int):
            done, total = item
            if total:
                self.starter_progress.setRange(0, 1000)
                self.starter_progress.setValue(int(done * 1000 / total))
        elif isinstance(item, tuple) and item[0] == "installed":
            self.message.setText(f"The starter model is installed: {item[1]}")

    def _starter_done(self, error: str | None) -> None:
        self.starter_progress.hide()
        self.starter_button.setEnabled(True)
        if error:
            self.message.setText(f"The starter model was not installed: {said(error)}")
        self._show_starter_model()
        self.run_checks()

    # the checks -------------------------------------------------------------------------------

    def run_checks(self) -> EventWorker | None:
        """`cairn doctor`'s checks for the folder, off the UI thread (they take seconds)."""
        if self.checking is not None:
            self._again = True  # the folder or its files changed meanwhile: check once more
            return None
        self._again = False
        folder = self.folder
        self.verdict.setText("Checking this machine and the folder…")
        self.check_button.setEnabled(False)

        def work(cancel: CancelToken, report: Report) -> Any:
            from cairn.core.workspace.loader import WorkspaceModel
            from cairn.infra.doctor import diagnose
            from cairn.infra.files import LocalFileStore
            from cairn.infra.starter import looks_like_workspace

            if folder.is_dir() and looks_like_workspace(folder):
                yield ("workspace", WorkspaceModel(LocalFileStore(folder)).load())
            yield ("report", diagnose(str(folder)))

        self.checking = self.jobs.start(work, self._checked_item, self._checks_done)
        return self.checking

    def _checked_item(self, item: Any) -> None:
        from cairn.infra.doctor import row_label

        kind, value = item
        if self._again:
            return  # about a folder or files as they were: the next round replaces it
        if kind == "workspace":
            self.workspace = value
            self.models.show_policy(value.agents.policy if value.agents else None)
            return
        self.checks.clear()
        for row in value["checks"]:
            name = row_label(row)
            fix = row["fix"] if row["status"] != "ok" and row["fix"] else ""
            item = QTreeWidgetItem([row["status"], name, row["finding"], fix])
            item.setForeground(0, QBrush(text_colour(row["status"])))
            item.setToolTip(2, row["finding"])
            item.setToolTip(3, fix)
            self.checks.addTopLevelItem(item)
        first = next((r for r, row in enumerate(value["checks"]) if row["status"] != "ok"), 0)
        current = self.checks.topLevelItem(first)
        if current is not None:
            self.checks.setCurrentItem(current)
        job = value["main_job"]
        if job["can_run"]:
            self.verdict.setText(f"Ready: tasks run on {job['model']} with no keys.")
        else:
            self.verdict.setText(
                "Not ready: a task cannot run on a local model yet. Each row marked fail "
                "says how to fix it; add or pull a model below."
            )
        self.checked.emit(value)

    def _show_detail(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            self.detail.clear()
            return
        fix = f"\nFix: {item.text(3)}" if item.text(3) else ""
        self.detail.setText(f"{item.text(1)}: {item.text(2)}{fix}")

    def _checks_done(self, error: str | None) -> None:
        self.checking = None
        self.check_button.setEnabled(True)
        if error:
            self.verdict.setText(f"The checks could not run: {error}")
        if self._again:
            self.run_checks()

    def shutdown(self) -> None:
        self.jobs.shutdown()
        self.models.shutdown()
        self.keys.shutdown()
