<#
.SYNOPSIS
    comfy-local host set-up for Windows: lets a container (Docker Desktop / WSL2) use this host's
    ComfyUI over SSH.

.DESCRIPTION
    Same steps as scripts/setup-local-host-linux.sh:
      - installs the OpenSSH Server Windows capability if it is missing (its own 'sshd' service is
        left as it was: this script runs a SEPARATE service, 'comfy-local-sshd', on its own port);
      - creates a NON-administrator local user for the container (a random password that is never
        stored or shown; password logins are disabled in sshd anyway);
      - its authorized_keys lives in the state folder, readable only by SYSTEM and that user (a
        non-admin user avoids the administrators_authorized_keys pitfall of Windows OpenSSH);
      - writes a hardened sshd_config (key only, AllowUsers, no root/admin, only the local forward to
        ComfyUI, libssh2-compatible algorithms), validates it with `sshd.exe -t`, and registers the
        service;
      - adds an inbound firewall rule for the port limited to loopback and the WSL / Docker network;
      - grants the user read access to ComfyUI and write access to models, custom_nodes, input
        and output (NTFS ACLs; -NoCustomNodes leaves custom_nodes read-only and the generated
        config says custom_nodes: false);
      - the state folder (sshd_config, host key, authorized_keys) is writable by SYSTEM and
        Administrators only; an existing one that others can write to is refused;
      - writes the container's key, known_hosts (pinning the new host key) and
        local-support-config.yml, then runs a connection test (comfy-local test-connection when
        available, else ssh.exe).
    A second run changes nothing and says so. -Uninstall removes exactly what the manifest records.
    -WhatIf shows what would be done.

    Unlike the Linux script, this one does NOT restrict the user's outbound connections (Windows
    Firewall has no owner match for a local account's processes): the key is a shell as that
    user, and from it every port on this host and the LAN can be reached. The summary says so.

    NOT run in CI: CI has no Windows. CI parses this file with the tree-sitter PowerShell grammar.

.EXAMPLE
    .\setup-local-host-windows.bat -ComfyUIPath C:\ComfyUI
.EXAMPLE
    .\setup-local-host-windows.ps1 -ComfyUIPath C:\ComfyUI -WhatIf
.EXAMPLE
    .\setup-local-host-windows.ps1 -Uninstall -Yes
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [string]$ComfyUIPath,
    [ValidatePattern('^[a-z_][a-z0-9_-]{0,19}$')]
    [string]$User = 'comfyui',
    [ValidateRange(1, 65535)]
    [int]$Port = 22022,
    [ValidateRange(1, 65535)]
    [int]$ComfyUIPort = 8188,
    [string[]]$ListenAddress = @(),
    [string[]]$AllowFrom = @(),
    [string]$StateDir = (Join-Path $env:ProgramData 'comfy-local'),
    [string]$OutputDir = '',
    [ValidatePattern('^[A-Za-z0-9._-]+$')]
    [string]$SshHost = 'host.docker.internal',
    [string]$ApiUrl = '',
    [string]$ContainerDir = '/app/comfy-local',
    [string]$ComfyLocal = '',
    [switch]$NoCustomNodes,
    [switch]$Uninstall,
    [switch]$Yes,
    [switch]$SkipTest
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$script:Changes = 0
$script:WritableDirs = @('models', 'custom_nodes', 'input', 'output')
if ($NoCustomNodes) { $script:WritableDirs = @('models', 'input', 'output') }
$script:ServiceName = 'comfy-local-sshd'
$script:FirewallGroup = 'comfy-local'
$script:OpenSshDir = Join-Path $env:SystemRoot 'System32\OpenSSH'

function Write-Step([string]$Text) { Write-Host ''; Write-Host "==> $Text" }
function Write-Changed([string]$Text) { $script:Changes++; Write-Host "  changed: $Text" }
function Write-Unchanged([string]$Text) { Write-Host "  ok (unchanged): $Text" }

function Stop-WithError([string]$Message, [string]$Hint = '') {
    Write-Host "error: $Message" -ForegroundColor Red
    if ($Hint) { Write-Host "hint: $Hint" }
    exit 1
}

function Test-Administrator {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object Security.Principal.WindowsPrincipal($identity)
    return $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}

# ---------------------------------------------------------------------------------------------
# manifest: one "kind<TAB>value" line per thing this script added
# ---------------------------------------------------------------------------------------------
function Get-ManifestPath { Join-Path $StateDir 'manifest' }

function Add-ManifestEntry([string]$Kind, [string]$Value) {
    if ($WhatIfPreference) { return }
    $path = Get-ManifestPath
    $line = "$Kind`t$Value"
    if ((Test-Path $path) -and ((Get-Content $path) -contains $line)) { return }
    Add-Content -Path $path -Value $line -Encoding UTF8
}

function Get-ManifestEntries {
    $path = Get-ManifestPath
    if (-not (Test-Path $path)) { return @() }
    foreach ($line in Get-Content $path) {
        $parts = $line -split "`t", 2
        if ($parts.Count -eq 2) { [pscustomobject]@{ Kind = $parts[0]; Value = $parts[1] } }
    }
}

# Write $Content to $Path when it differs; returns $true when the file changed.
function Set-FileContent([string]$Path, [string]$Content, [string]$Description) {
    if ((Test-Path $Path) -and ((Get-Content -Raw $Path) -replace "`r`n", "`n") -eq ($Content -replace "`r`n", "`n")) {
        Write-Unchanged "$Description ($Path)"
        return $false
    }
    if ($PSCmdlet.ShouldProcess($Path, "write $Description")) {
        if (-not (Test-Path $Path)) { Add-ManifestEntry 'file' $Path }
        # UTF-8 without BOM and LF endings: sshd, ssh and the YAML loader all read this fine.
        [IO.File]::WriteAllText($Path, ($Content -replace "`r`n", "`n"), (New-Object Text.UTF8Encoding($false)))
        Write-Changed "wrote $Description ($Path)"
    }
    return $true
}

# SIDs that may write to the state folder: SYSTEM, Administrators, TrustedInstaller.
$script:TrustedSids = @('S-1-5-18', 'S-1-5-32-544', 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464')

# The state folder holds sshd_config, the host key and authorized_keys: only SYSTEM and
# Administrators may change it. A new one gets exactly that ACL (no inheritance from
# ProgramData, where every user may create files); an existing one owned by someone else, or
# writable by anyone else, is refused, as the Linux script refuses a state dir root does not own.
function Set-StateDirectory {
    Write-Step "State folder $StateDir (SYSTEM and Administrators only)"
    if (-not (Test-Path $StateDir)) {
        if ($PSCmdlet.ShouldProcess($StateDir, 'create directory, writable by SYSTEM and Administrators only')) {
            New-Item -ItemType Directory -Path $StateDir -Force | Out-Null
            # The ACL first: the manifest, the first file in it, must inherit it.
            Invoke-Icacls @($StateDir, '/inheritance:r', '/grant', '*S-1-5-18:(OI)(CI)F', '/grant', '*S-1-5-32-544:(OI)(CI)F')
            Add-ManifestEntry 'dir' $StateDir
            Write-Changed "created $StateDir (SYSTEM and Administrators only)"
        }
        return
    }
    $acl = Get-Acl -Path $StateDir
    $owner = (New-Object Security.Principal.NTAccount($acl.Owner)).Translate([Security.Principal.SecurityIdentifier]).Value
    if ($script:TrustedSids -notcontains $owner) {
        Stop-WithError "$StateDir exists and is owned by $($acl.Owner), not by SYSTEM or Administrators" 'remove it, or pass another -StateDir'
    }
    $writeRights = [Security.AccessControl.FileSystemRights]'Write, Delete, ChangePermissions, TakeOwnership'
    foreach ($ace in $acl.Access) {
        if ($ace.AccessControlType -ne 'Allow' -or -not ($ace.FileSystemRights -band $writeRights)) { continue }
        $sid = $ace.IdentityReference.Translate([Security.Principal.SecurityIdentifier]).Value
        if ($script:TrustedSids -notcontains $sid) {
            Stop-WithError "$StateDir can be changed by $($ace.IdentityReference) ($($ace.FileSystemRights))" "remove that access (icacls `"$StateDir`" /inheritance:r /grant *S-1-5-18:(OI)(CI)F /grant *S-1-5-32-544:(OI)(CI)F), or pass another -StateDir"
        }
    }
    Write-Unchanged "$StateDir is writable by SYSTEM and Administrators only"
}

# The container's files (config, known_hosts, key) are read by Docker Desktop as the signed-in
# user, whose token has no administrator rights outside an elevated prompt: that user may read
# the output folder (the key itself gets its own ACL in New-Keys).
function Grant-OutputDirectoryRead {
    if ($WhatIfPreference -or -not (Test-Path $OutputDir)) { return }
    $me = [Security.Principal.WindowsIdentity]::GetCurrent().Name
    Invoke-Icacls @($OutputDir, '/grant', "${me}:(OI)(CI)RX")
}

function New-DirectoryIfMissing([string]$Path) {
    if (Test-Path $Path) { return }
    if ($PSCmdlet.ShouldProcess($Path, 'create directory')) {
        New-Item -ItemType Directory -Path $Path -Force | Out-Null
        Add-ManifestEntry 'dir' $Path
        Write-Changed "created directory $Path"
    }
}

# Run a native program and return its stdout and stderr as text. Windows PowerShell 5.1 turns
# redirected stderr lines into errors, which $ErrorActionPreference = 'Stop' would throw on.
function Invoke-NativeCapture([string]$Program, [string[]]$Arguments) {
    $ErrorActionPreference = 'Continue'
    $lines = & $Program @Arguments 2>&1 | ForEach-Object { "$_" }
    return ($lines -join "`n")
}

# icacls with a check of its exit code.
function Invoke-Icacls([string[]]$Arguments) {
    & icacls.exe @Arguments | Out-Null
    if ($LASTEXITCODE -ne 0) { Stop-WithError "icacls $($Arguments -join ' ') failed (exit $LASTEXITCODE)" }
}

# ---------------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------------
function Install-OpenSshServer {
    Write-Step 'OpenSSH Server'
    $sshd = Join-Path $script:OpenSshDir 'sshd.exe'
    if (Test-Path $sshd) {
        Write-Unchanged "OpenSSH Server present ($sshd)"
        return
    }
    $capability = Get-WindowsCapability -Online | Where-Object { $_.Name -like 'OpenSSH.Server*' } | Select-Object -First 1
    if ($null -eq $capability) {
        Stop-WithError 'the OpenSSH Server capability is not offered by this Windows' 'install OpenSSH Server from Settings > Optional features'
    }
    if ($PSCmdlet.ShouldProcess($capability.Name, 'Add-WindowsCapability')) {
        Add-WindowsCapability -Online -Name $capability.Name | Out-Null
        Add-ManifestEntry 'capability' $capability.Name
        Write-Changed "installed $($capability.Name) (-Uninstall keeps it and says so)"
    }
}

function New-RandomPassword {
    $bytes = New-Object byte[] 48
    [Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
    $text = [Convert]::ToBase64String($bytes) + 'aA1!'
    return (ConvertTo-SecureString $text -AsPlainText -Force)
}

function New-ContainerUser {
    Write-Step "Dedicated user $User (not an administrator)"
    $existing = Get-LocalUser -Name $User -ErrorAction SilentlyContinue
    $ours = @(Get-ManifestEntries | Where-Object { $_.Kind -eq 'user' -and $_.Value -eq $User }).Count -gt 0
    if ($null -ne $existing) {
        if (-not $ours) {
            Stop-WithError "user $User already exists and was not created by this script" 'pick another name with -User'
        }
        Write-Unchanged "user $User exists (created by an earlier run)"
    } elseif ($PSCmdlet.ShouldProcess($User, 'New-LocalUser')) {
        New-LocalUser -Name $User -Password (New-RandomPassword) -PasswordNeverExpires -UserMayNotChangePassword `
            -AccountNeverExpires -Description 'comfy-local SSH access for the ComfyUI container' | Out-Null
        Add-LocalGroupMember -SID 'S-1-5-32-545' -Member $User   # BUILTIN\Users, never Administrators
        Add-ManifestEntry 'user' $User
        Write-Changed "created local user $User (member of Users only; its random password is not stored)"
    }
    $admins = Get-LocalGroupMember -SID 'S-1-5-32-544' -ErrorAction SilentlyContinue |
        Where-Object { $_.Name -like "*\$User" }
    if ($admins) { Stop-WithError "$User is a member of Administrators" 'the container user must not be an administrator' }
}

# ssh-keygen with an empty passphrase. Start-Process with one argument string passes the command
# line verbatim, because Windows PowerShell 5.1 and PowerShell 7.3+ pass an empty native argument
# ("") differently.
function Invoke-Keygen([string]$Path, [string]$Comment) {
    $keygen = Join-Path $script:OpenSshDir 'ssh-keygen.exe'
    $arguments = "-q -t ed25519 -N `"`" -C `"$Comment`" -f `"$Path`""
    $process = Start-Process -FilePath $keygen -ArgumentList $arguments -Wait -NoNewWindow -PassThru
    if ($process.ExitCode -ne 0) { Stop-WithError "ssh-keygen failed for $Path (exit $($process.ExitCode))" }
}

function New-Keys {
    Write-Step 'Keys'
    $hostKey = Join-Path $StateDir 'ssh_host_ed25519_key'
    if (Test-Path $hostKey) {
        Write-Unchanged "host key $hostKey"
    } elseif ($PSCmdlet.ShouldProcess($hostKey, 'ssh-keygen host key')) {
        Invoke-Keygen $hostKey "comfy-local host key $env:COMPUTERNAME"
        # sshd refuses a host key others can read: SYSTEM and Administrators only.
        Invoke-Icacls @($hostKey, '/inheritance:r', '/grant', '*S-1-5-18:F', '/grant', '*S-1-5-32-544:F')
        Add-ManifestEntry 'file' $hostKey
        Add-ManifestEntry 'file' "$hostKey.pub"
        Write-Changed "generated sshd host key $hostKey"
    }
    $clientKey = Join-Path $OutputDir 'id_ed25519'
    if (Test-Path $clientKey) {
        Write-Unchanged "container key $clientKey"
    } elseif ($PSCmdlet.ShouldProcess($clientKey, 'ssh-keygen container key')) {
        Invoke-Keygen $clientKey "comfy-local-container@$env:COMPUTERNAME"
        # Docker Desktop reads bind-mounted files as the signed-in user, whose token has no
        # administrator rights outside an elevated prompt: grant that user read access by name.
        $me = [Security.Principal.WindowsIdentity]::GetCurrent().Name
        Invoke-Icacls @($clientKey, '/inheritance:r', '/grant', '*S-1-5-18:F', '/grant', '*S-1-5-32-544:F', '/grant', "${me}:R")
        Add-ManifestEntry 'file' $clientKey
        Add-ManifestEntry 'file' "$clientKey.pub"
        Write-Changed "generated the container's key pair $clientKey"
    }
    $pub = '<public key of the container key>'
    if (Test-Path "$clientKey.pub") { $pub = (Get-Content "$clientKey.pub" -Raw).Trim() }
    $authDir = Join-Path $StateDir 'authorized_keys'
    New-DirectoryIfMissing $authDir
    $authFile = Join-Path $authDir $User
    $line = "restrict,port-forwarding,permitopen=`"127.0.0.1:$ComfyUIPort`",permitopen=`"localhost:$ComfyUIPort`" $pub`n"
    if (Set-FileContent $authFile $line "authorized key of $User") {
        if (-not $WhatIfPreference) {
            # Only SYSTEM and the user may read it; nobody but SYSTEM may change it.
            Invoke-Icacls @($authFile, '/inheritance:r', '/grant', '*S-1-5-18:F', '/grant', "${User}:R")
        }
    }
}

function Get-WslAddresses {
    Get-NetIPAddress -AddressFamily IPv4 -ErrorAction SilentlyContinue |
        Where-Object { $_.InterfaceAlias -like 'vEthernet (WSL*' -or $_.InterfaceAlias -like 'vEthernet (Default Switch)' }
}

function Resolve-Network {
    if ($ListenAddress.Count -eq 0) {
        $script:ListenAddress = @('127.0.0.1') + @(Get-WslAddresses | ForEach-Object { $_.IPAddress })
    }
    if ($AllowFrom.Count -eq 0) {
        $script:AllowFrom = @('127.0.0.1') + @(Get-WslAddresses | ForEach-Object { "$($_.IPAddress)/$($_.PrefixLength)" })
    }
}

function Get-SshdConfigText {
    $listen = ($script:ListenAddress | ForEach-Object { "ListenAddress $_" }) -join "`n"
    $hostKey = (Join-Path $StateDir 'ssh_host_ed25519_key') -replace '\\', '/'
    $authKeys = (Join-Path $StateDir 'authorized_keys') -replace '\\', '/'
    return @"
# Generated by comfy-local's setup-local-host-windows.ps1: a SEPARATE sshd instance (service
# $script:ServiceName) for the ComfyUI container. Do not edit; re-run the script.
Port $Port
$listen
AddressFamily inet
HostKey "$hostKey"
AuthorizedKeysFile "$authKeys/%u"

AllowUsers $User
PermitRootLogin no
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
StrictModes yes
MaxAuthTries 3
LoginGraceTime 30
MaxStartups 10:30:60

HostKeyAlgorithms ssh-ed25519
PubkeyAcceptedAlgorithms ssh-ed25519
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com
MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com

AllowTcpForwarding local
PermitOpen 127.0.0.1:$ComfyUIPort localhost:$ComfyUIPort
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitTTY no
PermitUserEnvironment no

LogLevel VERBOSE
SyslogFacility LOCAL0
Subsystem sftp sftp-server.exe -l INFO
ClientAliveInterval 30
ClientAliveCountMax 4
"@
}

function Set-SshdInstance {
    Write-Step "sshd instance (service $script:ServiceName, port $Port, listening on $($script:ListenAddress -join ', '))"
    $config = Join-Path $StateDir 'sshd_config'
    $configChanged = Set-FileContent $config (Get-SshdConfigText) 'sshd config'
    $sshd = Join-Path $script:OpenSshDir 'sshd.exe'
    if (-not $WhatIfPreference) {
        $out = Invoke-NativeCapture $sshd @('-t', '-f', $config)
        if ($LASTEXITCODE -ne 0) { Stop-WithError "sshd -t rejected ${config}: $out" 'the system sshd service was not touched' }
        Write-Host '  sshd -t: config valid'
    }
    $service = Get-Service -Name $script:ServiceName -ErrorAction SilentlyContinue
    if ($null -eq $service) {
        if ($PSCmdlet.ShouldProcess($script:ServiceName, 'New-Service')) {
            New-Service -Name $script:ServiceName -BinaryPathName "`"$sshd`" -f `"$config`"" `
                -DisplayName "comfy-local sshd (port $Port)" -StartupType Automatic `
                -Description 'Separate OpenSSH server for the ComfyUI container (comfy-local)' | Out-Null
            & sc.exe failure $script:ServiceName reset= 86400 actions= restart/5000/restart/5000/restart/5000 | Out-Null
            Add-ManifestEntry 'service' $script:ServiceName
            Start-Service -Name $script:ServiceName
            Write-Changed "created and started service $script:ServiceName"
        }
    } elseif ($service.Status -ne 'Running') {
        if ($PSCmdlet.ShouldProcess($script:ServiceName, 'Start-Service')) {
            Start-Service -Name $script:ServiceName
            Write-Changed "started service $script:ServiceName"
        }
    } elseif ($configChanged) {
        if ($PSCmdlet.ShouldProcess($script:ServiceName, 'Restart-Service')) {
            Restart-Service -Name $script:ServiceName
            Write-Changed "restarted service $script:ServiceName with the new config"
        }
    } else {
        Write-Unchanged "service $script:ServiceName running"
    }
}

function Set-FirewallRule {
    Write-Step "Firewall: port $Port only from $($script:AllowFrom -join ', ')"
    $name = "comfy-local-sshd-$Port"
    $rule = Get-NetFirewallRule -Name $name -ErrorAction SilentlyContinue
    if ($null -ne $rule) {
        $current = @(($rule | Get-NetFirewallAddressFilter).RemoteAddress)
        if ((@($current) -join ',') -eq (@($script:AllowFrom) -join ',')) {
            Write-Unchanged "firewall rule $name"
            return
        }
        if ($PSCmdlet.ShouldProcess($name, 'Set-NetFirewallRule')) {
            Set-NetFirewallRule -Name $name -RemoteAddress $script:AllowFrom
            Write-Changed "firewall rule $name now admits $($script:AllowFrom -join ', ')"
        }
        return
    }
    if ($PSCmdlet.ShouldProcess($name, 'New-NetFirewallRule')) {
        New-NetFirewallRule -Name $name -DisplayName "comfy-local sshd (port $Port)" -Group $script:FirewallGroup `
            -Direction Inbound -Protocol TCP -LocalPort $Port -RemoteAddress $script:AllowFrom -Action Allow | Out-Null
        Add-ManifestEntry 'firewall' $name
        Write-Changed "firewall rule $name (inbound TCP $Port from $($script:AllowFrom -join ', '))"
    }
}

function Test-UserAce([string]$Path, [string]$Rights) {
    $acl = Get-Acl -Path $Path
    foreach ($ace in $acl.Access) {
        if ($ace.IdentityReference.Value -like "*\$User" -and $ace.AccessControlType -eq 'Allow' -and
            ($ace.FileSystemRights.ToString() -match $Rights)) { return $true }
    }
    return $false
}

function Set-FolderAcls {
    Write-Step "Permissions for $User in $ComfyUIPath (read everywhere, write in $($script:WritableDirs -join ', '))"
    if (Test-UserAce $ComfyUIPath 'ReadAndExecute') {
        Write-Unchanged "read access to $ComfyUIPath"
    } elseif ($PSCmdlet.ShouldProcess($ComfyUIPath, "grant $User read")) {
        Invoke-Icacls @($ComfyUIPath, '/grant', "${User}:(OI)(CI)RX")
        Add-ManifestEntry 'acl' $ComfyUIPath
        Write-Changed "granted $User read access to $ComfyUIPath (inherited)"
    }
    foreach ($dir in $script:WritableDirs) {
        $path = Join-Path $ComfyUIPath $dir
        if (-not (Test-Path $path)) {
            if ($PSCmdlet.ShouldProcess($path, 'create directory')) {
                New-Item -ItemType Directory -Path $path | Out-Null
                Add-ManifestEntry 'comfyui-dir' $path
                Write-Changed "created $path"
            }
        }
        if ((Test-Path $path) -and (Test-UserAce $path 'Modify')) {
            Write-Unchanged "write access to $path"
        } elseif ($PSCmdlet.ShouldProcess($path, "grant $User modify")) {
            Invoke-Icacls @($path, '/grant', "${User}:(OI)(CI)M")
            Add-ManifestEntry 'acl' $path
            Write-Changed "granted $User write access to $path"
        }
    }
}

function ConvertTo-YamlString([string]$Text) {
    return '"' + ($Text -replace '\\', '\\' -replace '"', '\"') + '"'
}

function Get-ConfigText([string]$TargetHost, [string]$Url, [string]$KeyFile, [string]$KnownHosts) {
    return @"
# local-support-config.yml, generated by comfy-local's setup-local-host-windows.ps1 on $env:COMPUTERNAME.
# Re-running the script regenerates it. Reference of every key: local-support-config.yml.example.
enabled: true
local:
  - id: local
    name: $(ConvertTo-YamlString "Local ComfyUI ($env:COMPUTERNAME)")
    ssh:
      host: $(ConvertTo-YamlString $TargetHost)
      port: $Port
      user: $(ConvertTo-YamlString $User)
      key_file: $(ConvertTo-YamlString $KeyFile)
      known_hosts_file: $(ConvertTo-YamlString $KnownHosts)
      host_key_policy: strict
      connect_timeout_secs: 10
      command_timeout_secs: 600
      keepalive_secs: 30
    comfyui:
      path: $(ConvertTo-YamlString $ComfyUIPath)
      api_url: $(ConvertTo-YamlString $Url)
    features:
      workflow_execution: true
      resource_installation: true
      custom_nodes: $(if ($NoCustomNodes) { 'false' } else { 'true' })
    limits:
      max_upload_mb: 20480
vastai:
  enabled: false
  api_key_env: VAST_API_KEY
"@
}

function Write-ClientFiles {
    Write-Step "Files for the container in $OutputDir"
    $hostPub = '<host key generated at install>'
    $pubPath = Join-Path $StateDir 'ssh_host_ed25519_key.pub'
    if (Test-Path $pubPath) { $hostPub = ((Get-Content $pubPath -Raw).Trim() -split ' ')[0..1] -join ' ' }
    $names = @($SshHost, '127.0.0.1') + @($script:ListenAddress) | Select-Object -Unique
    $known = ($names | ForEach-Object { "[$_]:$Port $hostPub" }) -join "`n"
    [void](Set-FileContent (Join-Path $OutputDir 'known_hosts') "$known`n" 'known_hosts pinning the new host key')
    [void](Set-FileContent (Join-Path $OutputDir 'local-support-config.yml') `
        (Get-ConfigText $SshHost $ApiUrl "$ContainerDir/id_ed25519" "$ContainerDir/known_hosts") 'container config')
    [void](Set-FileContent (Join-Path $OutputDir 'local-support-config.host-test.yml') `
        (Get-ConfigText '127.0.0.1' "http://127.0.0.1:$ComfyUIPort" (Join-Path $OutputDir 'id_ed25519') (Join-Path $OutputDir 'known_hosts')) `
        'config for testing from this host')
}

function Invoke-ConnectionTest {
    if ($SkipTest) { Write-Step 'Connection test: skipped (-SkipTest)'; return }
    if ($WhatIfPreference) { Write-Step 'Connection test: skipped (-WhatIf)'; return }
    $hostConfig = Join-Path $OutputDir 'local-support-config.host-test.yml'
    $bin = $ComfyLocal
    if (-not $bin) {
        $cmd = Get-Command comfy-local -ErrorAction SilentlyContinue
        if ($cmd) { $bin = $cmd.Source }
    }
    if ($bin) {
        Write-Step "Connection test with comfy-local ($bin test-connection)"
        & $bin test-connection --config $hostConfig
        if ($LASTEXITCODE -ne 0) { Stop-WithError 'comfy-local test-connection failed' 'see its output above' }
        Write-Host '  comfy-local test-connection: OK'
        return
    }
    Write-Step 'Connection test with ssh.exe (comfy-local not found; pass -ComfyLocal BIN to use it)'
    $ssh = Join-Path $script:OpenSshDir 'ssh.exe'
    & $ssh -F NUL -i (Join-Path $OutputDir 'id_ed25519') -p $Port -o BatchMode=yes -o IdentitiesOnly=yes `
        -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$(Join-Path $OutputDir 'known_hosts')" "$User@127.0.0.1" 'exit 0'
    if ($LASTEXITCODE -ne 0) {
        Stop-WithError "ssh login as $User on 127.0.0.1:$Port failed" 'see Event Viewer > Applications and Services Logs > OpenSSH'
    }
    Write-Host '  ssh login with the container key and the pinned host key: OK'
}

# ---------------------------------------------------------------------------------------------
# uninstall
# ---------------------------------------------------------------------------------------------
function Invoke-Uninstall {
    Write-Step "Uninstalling what $(Get-ManifestPath) records"
    $entries = @(Get-ManifestEntries)
    if ($entries.Count -eq 0) { Write-Host "  nothing to uninstall: no manifest at $(Get-ManifestPath)"; return }
    if (-not $Yes -and -not $WhatIfPreference) {
        $answer = Read-Host 'Remove the comfy-local host set-up? [y/N]'
        if ($answer -notmatch '^(y|yes)$') { Stop-WithError 'aborted by the user' }
    }
    foreach ($e in $entries | Where-Object { $_.Kind -eq 'service' }) {
        if ($PSCmdlet.ShouldProcess($e.Value, 'stop and delete service')) {
            Stop-Service -Name $e.Value -ErrorAction SilentlyContinue
            & sc.exe delete $e.Value | Out-Null
            Write-Host "  removed service $($e.Value)"
        }
    }
    foreach ($e in $entries | Where-Object { $_.Kind -eq 'firewall' }) {
        if ($PSCmdlet.ShouldProcess($e.Value, 'Remove-NetFirewallRule')) {
            Remove-NetFirewallRule -Name $e.Value -ErrorAction SilentlyContinue
            Write-Host "  removed firewall rule $($e.Value)"
        }
    }
    $userEntry = $entries | Where-Object { $_.Kind -eq 'user' } | Select-Object -First 1
    foreach ($e in $entries | Where-Object { $_.Kind -eq 'acl' }) {
        if ((Test-Path $e.Value) -and $userEntry -and $PSCmdlet.ShouldProcess($e.Value, "remove ACEs of $($userEntry.Value)")) {
            & icacls.exe $e.Value /remove:g $userEntry.Value /T /C /Q | Out-Null
            Write-Host "  removed ACL entries for $($userEntry.Value) under $($e.Value)"
        }
    }
    if ($userEntry -and $PSCmdlet.ShouldProcess($userEntry.Value, 'Remove-LocalUser')) {
        $account = Get-LocalUser -Name $userEntry.Value -ErrorAction SilentlyContinue
        if ($account) {
            $sid = $account.SID.Value
            Remove-LocalUser -Name $userEntry.Value
            Get-CimInstance Win32_UserProfile -ErrorAction SilentlyContinue | Where-Object { $_.SID -eq $sid } |
                Remove-CimInstance -ErrorAction SilentlyContinue
            Write-Host "  removed user $($userEntry.Value) and its profile"
        }
    }
    foreach ($e in $entries | Where-Object { $_.Kind -eq 'file' }) {
        if ((Test-Path $e.Value) -and $PSCmdlet.ShouldProcess($e.Value, 'Remove-Item')) {
            Remove-Item -Force $e.Value
            Write-Host "  removed $($e.Value)"
        }
    }
    $dirs = $entries | Where-Object { $_.Kind -eq 'dir' -or $_.Kind -eq 'comfyui-dir' } |
        Sort-Object { $_.Value.Length } -Descending
    foreach ($e in $dirs) {
        if ((Test-Path $e.Value) -and -not (Get-ChildItem -Force $e.Value | Select-Object -First 1)) {
            if ($PSCmdlet.ShouldProcess($e.Value, 'remove empty directory')) {
                Remove-Item -Force $e.Value
                Write-Host "  removed directory $($e.Value)"
            }
        } elseif (Test-Path $e.Value) {
            Write-Host "  kept directory $($e.Value) (not empty: it holds files this script did not create)"
        }
    }
    foreach ($e in $entries | Where-Object { $_.Kind -eq 'capability' }) {
        Write-Host "  kept the Windows capability $($e.Value) (remove it in Settings > Optional features if nothing else needs it)"
    }
    if ($PSCmdlet.ShouldProcess((Get-ManifestPath), 'Remove-Item')) {
        Remove-Item -Force (Get-ManifestPath)
        if (-not (Get-ChildItem -Force $StateDir | Select-Object -First 1)) { Remove-Item -Force $StateDir }
    }
    Write-Step 'Uninstalled.'
}

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
function Invoke-Main {
    if (-not (Test-Administrator)) {
        Stop-WithError 'this script must run as Administrator' 'use setup-local-host-windows.bat, or an elevated PowerShell'
    }
    if ($Uninstall) { Invoke-Uninstall; return }
    if (-not $ComfyUIPath) { Stop-WithError '-ComfyUIPath is required (the folder that holds ComfyUI''s main.py)' }
    if (-not [IO.Path]::IsPathRooted($ComfyUIPath)) { Stop-WithError "-ComfyUIPath must be an absolute path, got: $ComfyUIPath" }
    if ($ComfyUIPath -match '"') { Stop-WithError '-ComfyUIPath must not contain quotes' }
    if (-not (Test-Path $ComfyUIPath -PathType Container)) {
        Stop-WithError "ComfyUI folder $ComfyUIPath does not exist" 'pass the folder that holds ComfyUI''s main.py'
    }
    if ($Port -eq $ComfyUIPort) { Stop-WithError '-Port and -ComfyUIPort must differ' }
    # StateDir goes into sshd_config inside double quotes, and into icacls arguments.
    if (-not [IO.Path]::IsPathRooted($StateDir)) { Stop-WithError "-StateDir must be an absolute path, got: $StateDir" }
    if ($StateDir -match '["%\p{Cc}]') { Stop-WithError "-StateDir must not contain quotes, % or control characters: $StateDir" }
    if (-not $OutputDir) { $script:OutputDir = Join-Path $StateDir 'client' }
    if (-not $ApiUrl) { $script:ApiUrl = "http://${SshHost}:$ComfyUIPort" }
    Resolve-Network
    if ($WhatIfPreference) { Write-Host 'WHATIF: nothing will be changed.' }
    Write-Host "comfy-local host set-up: ComfyUI in $ComfyUIPath, user $User, port $Port, state in $StateDir"
    if (-not $Yes -and -not $WhatIfPreference) {
        $answer = Read-Host "Set up SSH access for the ComfyUI container (user $User, port $Port)? [y/N]"
        if ($answer -notmatch '^(y|yes)$') { Stop-WithError 'aborted by the user' }
    }
    Set-StateDirectory
    Install-OpenSshServer
    New-ContainerUser
    New-DirectoryIfMissing $OutputDir
    Grant-OutputDirectoryRead
    New-Keys
    Set-SshdInstance
    Set-FolderAcls
    Set-FirewallRule
    Write-ClientFiles
    Invoke-ConnectionTest
    Write-Step 'Summary'
    if ($WhatIfPreference) {
        Write-Host '  -WhatIf: nothing was changed.'
    } elseif ($script:Changes -eq 0) {
        Write-Host '  Nothing changed: the host was already set up.'
    } else {
        Write-Host "  $($script:Changes) change(s) made."
    }
    Write-Host "  Container files: $OutputDir\{local-support-config.yml,id_ed25519,known_hosts}"
    Write-Host "  WARNING: outbound connections of $User are NOT restricted on Windows (no per-user"
    Write-Host '  firewall match): a holder of the container key can reach any port of this host and the LAN.'
    if (-not $NoCustomNodes) {
        Write-Host "  WARNING: $User can write to custom_nodes; code placed there runs as whoever runs ComfyUI"
        Write-Host '  (often an administrator on Windows). -NoCustomNodes turns that off.'
    }
    Write-Host '  Undo everything: setup-local-host-windows.bat -Uninstall -Yes'
}

Invoke-Main
