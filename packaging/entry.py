"""The frozen bundle's one entry point, for both of its executables.

`cairn` (a console program) runs the CLI; `cairn-app` (a windowed program on Windows and
macOS) opens the desktop app. Both are this script, told apart by their file name.

`cairn -c CODE` runs CODE as `python -c` would: `cairn doctor` checks llama.cpp and Qt in
a child process started as `sys.executable -c ...`, and in a bundle `sys.executable` is
this program, not a Python interpreter.
"""

import os
import sys


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "-c":
        code, sys.argv = sys.argv[2], ["-c", *sys.argv[3:]]
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
        return 0
    name = os.path.splitext(os.path.basename(sys.executable))[0].lower()
    if name == "cairn-app":
        from cairn.app.main import main as run
    else:
        from cairn.cli.main import main as run
    return run()


if __name__ == "__main__":
    sys.exit(main())
