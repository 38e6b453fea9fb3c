; Inno Setup script for Cairn: installs the one-folder bundle per user (no administrator
; rights), with a Start menu entry for the app and `cairn` on the user's PATH.
; iscc /DVersion=0.1.0 /DBundle=C:\path\to\dist\cairn /Odist packaging\windows\cairn.iss

[Setup]
AppId={{6F0C7C55-2B0E-4C59-9C1E-CA1B2A1C0001}
AppName=Cairn
AppVersion={#Version}
AppPublisher=The Cairn authors
DefaultDirName={localappdata}\Programs\Cairn
DefaultGroupName=Cairn
PrivilegesRequired=lowest
OutputBaseFilename=Cairn-{#Version}-setup
Compression=lzma2
SolidCompression=yes
LicenseFile={#Bundle}\_internal\LICENSE-FAIR
SetupIconFile=cairn.ico
UninstallDisplayIcon={app}\cairn-app.exe
ChangesEnvironment=yes
WizardStyle=modern

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\Cairn"; Filename: "{app}\cairn-app.exe"
Name: "{userdesktop}\Cairn"; Filename: "{app}\cairn-app.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Registry]
; `cairn` in new terminals: the install folder is added to the user's PATH.
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; \
  ValueData: "{olddata};{app}"; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\cairn-app.exe"; Description: "Open Cairn"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Folder: string): Boolean;
var
  Current: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Current) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Folder) + ';', ';' + Uppercase(Current) + ';') = 0;
end;
