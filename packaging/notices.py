"""Write the third-party notices into a built bundle: `python packaging/notices.py BUNDLE`.

Every distribution Cairn needs at run time (the closure of its dependencies, for this
platform) is listed with its version and licence in THIRD-PARTY-NOTICES.md, and its own
licence files are copied under licenses/<name>/. Qt's LGPL obligations are stated first.
"""

from __future__ import annotations

import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT_DISTRIBUTION = "cairn-workspace"
LICENCE_FILE = re.compile(r"(^|/)(LICEN[CS]E|COPYING|NOTICE|AUTHORS)[^/]*$", re.IGNORECASE)

QT_NOTICE = """\
## Qt and PySide6 (LGPL-3.0)

The desktop app uses Qt through PySide6 (Qt for Python), both under the GNU Lesser
General Public License v3 (LGPL-3.0). This bundle honours it as follows:

- Qt and PySide6 are linked dynamically: they are separate shared libraries inside this
  folder (`_internal/PySide6/`, with Qt's own libraries under `_internal/PySide6/Qt/lib`
  on Linux, `Contents/Frameworks/PySide6/Qt/lib` on macOS, and the `Qt6*.dll` files on
  Windows), never compiled into Cairn's program.
- You may replace them with your own build of the same Qt and PySide6 version (or a
  compatible one): put your libraries in place of these files, keeping their names. Cairn
  does nothing to prevent this.
- The source code of Qt is at https://download.qt.io/official_releases/qt/ and of
  PySide6 at https://download.qt.io/official_releases/QtForPython/. The licence texts
  (LGPL-3.0 and the GPL-3.0 it builds on) are under licenses/pyside6-essentials/ in this
  folder, and at https://www.gnu.org/licenses/lgpl-3.0.html.
"""
# PySide6's wheels carry no licence file: the texts come from the build machine, where the
# system keeps the official copies (Debian and Ubuntu: /usr/share/common-licenses).
QT_LICENCE_TEXTS = {
    "LGPL-3.0.txt": ("/usr/share/common-licenses/LGPL-3",),
    "GPL-3.0.txt": ("/usr/share/common-licenses/GPL-3",),
}


def runtime_closure(root: str = ROOT_DISTRIBUTION) -> list[metadata.Distribution]:
    """`root` and every distribution it requires on this platform, recursively (extras
    are left out: the bundle carries only what runs)."""
    environment = {**default_environment(), "extra": ""}
    seen: dict[str, metadata.Distribution] = {}
    pending = [root]
    while pending:
        name = _canonical(pending.pop())
        if name in seen:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed here
        seen[name] = distribution
        for line in distribution.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                pending.append(requirement.name)
    return sorted(seen.values(), key=lambda d: _canonical(d.metadata["Name"]))


def licence_of(distribution: metadata.Distribution) -> str:
    meta = distribution.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [
        c.split(" :: ")[-1] for c in meta.get_all("Classifier") or () if c.startswith("License ::")
    ]
    if classifiers:
        return ", ".join(classifiers)
    text = (meta.get("License") or "").strip()
    return text.splitlines()[0][:120] if text else "see its licence files"


def write(bundle: Path) -> Path:
    licences = bundle / "licenses"
    if licences.exists():
        shutil.rmtree(licences)
    lines = [
        "# Third-party notices",
        "",
        "Cairn itself is under the licence in LICENSE-FAIR. It bundles the following",
        "software, each under its own licence; the licence files each package ships are",
        "copied under licenses/<name>/.",
        "",
        QT_NOTICE,
        "## Bundled packages",
        "",
        "| package | version | licence |",
        "| --- | --- | --- |",
    ]
    for distribution in runtime_closure():
        name = _canonical(distribution.metadata["Name"])
        if name == ROOT_DISTRIBUTION:
            continue
        lines.append(f"| {name} | {distribution.version} | {licence_of(distribution)} |")
        for file in distribution.files or ():
            if LICENCE_FILE.search(str(file)):
                source = Path(str(distribution.locate_file(file)))
                if source.is_file():
                    target = licences / name / Path(str(file)).name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
    for name, candidates in QT_LICENCE_TEXTS.items():
        found = next((Path(c) for c in candidates if Path(c).is_file()), None)
        if found is not None:
            target = licences / "pyside6-essentials" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, target)
    lines += [
        "",
        "Python itself is under the Python Software Foundation License "
        "(https://docs.python.org/3/license.html).",
        "",
    ]
    notices = bundle / "THIRD-PARTY-NOTICES.md"
    notices.write_text("\n".join(lines), encoding="utf-8")
    return notices


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    written = write(target)
    print(f"notices: {written} ({sum(1 for _ in (target / 'licenses').iterdir())} packages)")
