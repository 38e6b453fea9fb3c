"""The core stays free of Qt, model clients, file watching and scheduling."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import cairn.core
from tests.conftest import REPO

FORBIDDEN = ("PySide6", "litellm", "llama_cpp", "watchdog", "apscheduler", "httpx", "requests")


def test_import_linter_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists() or shutil.which("lint-imports"), "import-linter must be installed"
    result = subprocess.run(
        [str(lint_imports) if lint_imports.exists() else "lint-imports", "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_importing_every_core_module_loads_nothing_forbidden() -> None:
    modules = [m.name for m in pkgutil.walk_packages(cairn.core.__path__, "cairn.core.")]
    assert len(modules) >= 8
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in modules)
        + f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_version_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom cairn.cli.main import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('pydantic', 'yaml', 'frontmatter') + " + repr(FORBIDDEN) + "\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_product_dependency_is_installed() -> None:
    # CI must install the whole product, llama.cpp included: a missing engine is a failure.
    code = (
        "import os; os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'\n"
        "import llama_cpp, litellm, PySide6, watchdog, apscheduler, keyring, tiktoken, gguf\n"
        "import frontmatter, pydantic\n"
        "print(llama_cpp.__version__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
