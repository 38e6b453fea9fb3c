#!/usr/bin/env bash
# Install this unpacked Cairn bundle for the current user: the folder stays where it is,
# `cairn` and `cairn-app` are linked into ~/.local/bin, and the menu entry and icon go to
# ~/.local/share. Run it again after moving the folder; remove with --uninstall.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${XDG_BIN_HOME:-$HOME/.local/bin}"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$bin/cairn" "$bin/cairn-app" "$data/applications/cairn.desktop" \
    "$data/icons/hicolor/256x256/apps/cairn.png"
  echo "Cairn's links and menu entry are removed; delete $here to remove the program."
  exit 0
fi
mkdir -p "$bin" "$data/applications" "$data/icons/hicolor/256x256/apps"
ln -sf "$here/cairn" "$bin/cairn"
ln -sf "$here/cairn-app" "$bin/cairn-app"
sed "s|^Exec=cairn-app|Exec=$here/cairn-app|" "$here/cairn.desktop" > "$data/applications/cairn.desktop"
cp "$here/cairn.png" "$data/icons/hicolor/256x256/apps/cairn.png"
echo "Cairn is installed: run 'cairn-app' or find Cairn in the applications menu."
case ":$PATH:" in *":$bin:"*) ;; *) echo "(add $bin to PATH to run 'cairn' from a terminal)";; esac
