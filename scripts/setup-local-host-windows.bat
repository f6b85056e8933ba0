@echo off
rem comfy-local host set-up for Windows: checks for administrator rights, then runs
rem setup-local-host-windows.ps1 (next to this file) with the same arguments, e.g.
rem   setup-local-host-windows.bat -ComfyUIPath C:\ComfyUI
rem   setup-local-host-windows.bat -Uninstall -Yes
setlocal
net session >nul 2>&1
if errorlevel 1 (
    echo error: this script must run as Administrator.
    echo hint: right-click it and choose "Run as administrator", or run it from an elevated prompt.
    exit /b 1
)
where powershell.exe >nul 2>&1
if errorlevel 1 (
    echo error: powershell.exe not found.
    exit /b 1
)
powershell.exe -NoProfile -ExecutionPolicy Bypass -File "%~dp0setup-local-host-windows.ps1" %*
exit /b %ERRORLEVEL%
