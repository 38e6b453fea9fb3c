# Build Cairn for Windows: the one-folder bundle and an installer (Inno Setup).
#
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
#
# Needs: the project's .venv (python -m venv .venv; .venv\Scripts\pip install
# --require-hashes -r requirements.lock; .venv\Scripts\pip install --no-deps -e .) and
# Inno Setup 6 (iscc.exe on PATH). Signing runs only when configured:
#   CAIRN_SIGN_CERT (a .pfx file) and CAIRN_SIGN_PASSWORD, used with signtool.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")

$python = if ($env:PYTHON) { $env:PYTHON } else { ".venv\Scripts\python.exe" }
$dist = if ($env:DIST) { $env:DIST } else { "dist" }
$work = if ($env:WORK) { $env:WORK } else { "build\pyinstaller" }
$env:LITELLM_LOCAL_MODEL_COST_MAP = "True"

$version = & $python -c "import sys; sys.path.insert(0, 'src'); import cairn; print(cairn.__version__)"
& $python packaging\icon.py packaging\windows\cairn.ico 256
& $python -m PyInstaller --noconfirm --log-level WARN --distpath $dist --workpath $work packaging\cairn.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

$bundle = Join-Path $dist "cairn"
& $python packaging\notices.py $bundle
Set-Content -Path (Join-Path $bundle "VERSION") -Value $version

if ($env:CAIRN_SIGN_CERT) {
  Get-ChildItem $bundle -Filter "cairn*.exe" | ForEach-Object {
    signtool sign /f $env:CAIRN_SIGN_CERT /p $env:CAIRN_SIGN_PASSWORD /fd SHA256 `
      /tr http://timestamp.digicert.com /td SHA256 $_.FullName
  }
}
iscc /DVersion=$version /DBundle=$((Resolve-Path $bundle).Path) /O$dist packaging\windows\cairn.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
if ($env:CAIRN_SIGN_CERT) {
  signtool sign /f $env:CAIRN_SIGN_CERT /p $env:CAIRN_SIGN_PASSWORD /fd SHA256 `
    /tr http://timestamp.digicert.com /td SHA256 (Join-Path $dist "Cairn-$version-setup.exe")
}
Write-Output "built $bundle and $dist\Cairn-$version-setup.exe"
