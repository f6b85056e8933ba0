//! `comfy-local config init`: a short commented config for one local instance, from flags or
//! (on a terminal) prompts, validated before it is written atomically with mode 0600.

use std::io::{BufRead, IsTerminal as _, Write};
use std::os::unix::fs::PermissionsExt as _;

use anyhow::Context as _;
use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_config::{Config, DEFAULT_COMFYUI_API_URL, DEFAULT_SSH_PORT};

use crate::cli::{GlobalArgs, InitArgs};
use crate::exit::{Code, Failure, chain};

/// The values of the file, each given or asked for.
#[derive(Debug)]
struct Values {
    host: String,
    port: String,
    user: String,
    key_file: String,
    known_hosts_file: String,
    comfyui_path: String,
    api_url: String,
}

/// One value: its flag, the question, and its default (`None`: required).
struct Field {
    flag: &'static str,
    question: &'static str,
    default: Option<String>,
}

/// Fill in, validate, write.
pub fn init(
    global: &GlobalArgs,
    args: &InitArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let output = &args.output;
    // Checked first, so nobody answers questions for a file that will not be written.
    refuse_existing(output, args.force)?;
    let interactive = std::io::stdin().is_terminal();
    let values = if interactive {
        let mut input = std::io::stdin().lock();
        let mut prompter: Prompter<'_> = Some((&mut input, &mut *stderr));
        gather(args, &mut prompter)?
    } else {
        gather(args, &mut None)?
    };
    let text = render(&values);
    let mut config = Config::from_str_named(&text, output.as_str())
        .context("the values given do not make a valid config; nothing was written")?;
    if let Some(base) = output.parent().filter(|p| !p.as_str().is_empty()) {
        config.resolve_relative_paths(base);
    }
    let warnings = config.check();
    write_atomically(output, &text, args.force)?;
    for w in &warnings {
        writeln!(stderr, "warning: {}", chain(w))?;
    }
    if global.json {
        let warnings: Vec<String> = warnings.iter().map(|w| chain(w)).collect();
        writeln!(
            stdout,
            "{}",
            serde_json::json!({"ok": true, "path": output, "warnings": warnings})
        )?;
    } else {
        writeln!(stdout, "wrote {output} (mode 0600)")?;
        writeln!(
            stdout,
            "next: comfy-local --config {output} test-connection"
        )?;
    }
    Ok(())
}

fn refuse_existing(output: &Utf8Path, force: bool) -> anyhow::Result<()> {
    if !force && std::fs::symlink_metadata(output).is_ok() {
        return Err(Failure {
            code: Code::Usage,
            message: format!("{output} exists; it was left as it is"),
            hint: Some("give --force to replace it, or --output PATH for another file".to_owned()),
            json_printed: false,
        }
        .into());
    }
    Ok(())
}

type Prompter<'a> = Option<(&'a mut dyn BufRead, &'a mut dyn Write)>;

/// Each value's flag value (if given) and how to ask for it, in the file's order.
fn fields(args: &InitArgs) -> [(Option<String>, Field); 7] {
    let field = |flag, question, default: Option<String>| Field {
        flag,
        question,
        default,
    };
    [
        (
            args.host.clone(),
            field(
                "--host",
                "Host name or address of the host's sshd, as seen from here",
                None,
            ),
        ),
        (
            args.port.map(|p| p.to_string()),
            field(
                "--port",
                "sshd port on the host",
                Some(DEFAULT_SSH_PORT.to_string()),
            ),
        ),
        (
            args.user.clone(),
            field(
                "--user",
                "Login user on the host (dedicated, non-root)",
                Some("comfyui".to_owned()),
            ),
        ),
        (
            args.key_file.clone(),
            field("--key-file", "Private key file (mode 600)", None),
        ),
        (
            args.known_hosts_file.clone(),
            field(
                "--known-hosts-file",
                "known_hosts file holding the host's key",
                None,
            ),
        ),
        (
            args.comfyui_path.clone(),
            field(
                "--comfyui-path",
                "ComfyUI's install folder on the host (absolute)",
                None,
            ),
        ),
        (
            args.api_url.clone(),
            field(
                "--api-url",
                "ComfyUI's HTTP API as reached from here",
                Some(DEFAULT_COMFYUI_API_URL.to_owned()),
            ),
        ),
    ]
}

/// The values from the flags, asking on the terminal for each one not given (an empty answer
/// takes the default); without a terminal, every required value missing is named at once.
fn gather(args: &InitArgs, prompter: &mut Prompter<'_>) -> anyhow::Result<Values> {
    let fields = fields(args);
    let mut got = Vec::with_capacity(fields.len());
    let mut missing = Vec::new();
    for (given, field) in fields {
        let value = match (given, prompter.as_mut()) {
            (Some(v), _) => Some(v),
            (None, Some((input, output))) => ask(&field, &mut **input, &mut **output)?,
            (None, None) => field.default.clone(),
        };
        if value.is_none() {
            missing.push(field.flag);
        }
        got.push(value.unwrap_or_default());
    }
    if !missing.is_empty() {
        return Err(Failure {
            code: Code::Usage,
            message: format!("missing {}; nothing was written", missing.join(", ")),
            hint: Some(
                "give them as flags (stdin is not a terminal, so they cannot be asked for)"
                    .to_owned(),
            ),
            json_printed: false,
        }
        .into());
    }
    let [
        host,
        port,
        user,
        key_file,
        known_hosts_file,
        comfyui_path,
        api_url,
    ] = <[String; 7]>::try_from(got).map_err(|_| anyhow::anyhow!("internal: field count"))?;
    Ok(Values {
        host,
        port,
        user,
        key_file,
        known_hosts_file,
        comfyui_path,
        api_url,
    })
}

/// Asks until an answer is given (or, with a default, an empty line takes it); `None` at the
/// end of input.
fn ask(
    field: &Field,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> anyhow::Result<Option<String>> {
    loop {
        match &field.default {
            Some(d) => write!(output, "{} [{d}]: ", field.question)?,
            None => write!(output, "{}: ", field.question)?,
        }
        output.flush()?;
        let mut line = String::new();
        if input
            .read_line(&mut line)
            .context("cannot read the answer")?
            == 0
        {
            writeln!(output)?;
            return Ok(field.default.clone());
        }
        let answer = line.trim();
        if !answer.is_empty() {
            return Ok(Some(answer.to_owned()));
        }
        if let Some(d) = &field.default {
            return Ok(Some(d.clone()));
        }
    }
}

/// A YAML scalar holding exactly `s` (a JSON string is a YAML double-quoted scalar).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The file's text; the comments are the example config's (local-support-config.yml.example).
fn render(v: &Values) -> String {
    format!(
        "\
# comfy-local configuration for one local instance, written by `comfy-local config init`.
# local-support-config.yml.example documents every key, with the security notes.
# Check it with:  comfy-local config check [PATH]

# The local instances: usually one, the host this container runs on. Several are allowed.
local:
  - # Instance id, used by --instance and the web app; letters, digits, -, _ and . only.
    id: local
    # How the container reaches the host's sshd.
    ssh:
      # Host name or address of the sshd as seen from the container.
      host: {host}
      # sshd port on the host (default 22022).
      port: {port}
      # Login user on the host: dedicated and non-root (default comfyui; root is refused).
      user: {user}
      # Private key inside the container, mode 600 (mount it read-only).
      key_file: {key_file}
      # OpenSSH known_hosts file holding the host's key: the one the setup script writes (or
      # ssh-keyscan -p 22022 HOST, checked by hand against the host's key).
      known_hosts_file: {known_hosts_file}
      # strict (key must be known) or accept-new (record an unknown host's key on first contact;
      # a changed key is still refused).
      host_key_policy: strict
    # ComfyUI on the host.
    comfyui:
      # ComfyUI's install directory on the host, absolute (Windows hosts: C:\\ComfyUI or C:/ComfyUI).
      path: {comfyui_path}
      # ComfyUI's HTTP API as reached from the container (default http://host.docker.internal:8188).
      api_url: {api_url}
",
        host = quoted(&v.host),
        // A port that is not a number is left for the config's own check to name.
        port = v.port.parse::<u16>().map_or_else(|_| quoted(&v.port), |p| p.to_string()),
        user = quoted(&v.user),
        key_file = quoted(&v.key_file),
        known_hosts_file = quoted(&v.known_hosts_file),
        comfyui_path = quoted(&v.comfyui_path),
        api_url = quoted(&v.api_url),
    )
}

/// Writes `text` to a temporary file in `path`'s folder, mode 0600, then renames it onto
/// `path` (without `force`, refusing a file that appeared meanwhile).
fn write_atomically(path: &Utf8Path, text: &str, force: bool) -> anyhow::Result<()> {
    let dir: Utf8PathBuf = match path.parent() {
        Some(p) if !p.as_str().is_empty() => p.to_owned(),
        _ => Utf8PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".comfy-local-config-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {dir}"))?;
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write a temporary file in {dir}"))?;
    // tempfile creates with 0600 already; set it again in case a umask-free platform differs.
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot set mode 0600 on the temporary file in {dir}"))?;
    let persisted = if force {
        temp.persist(path).map(drop)
    } else {
        temp.persist_noclobber(path).map(drop)
    };
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::Error::new(Failure {
                code: Code::Usage,
                message: format!("{path} exists; it was left as it is"),
                hint: Some("give --force to replace it".to_owned()),
                json_printed: false,
            })
        } else {
            anyhow::Error::new(e.error).context(format!("cannot write {path}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> InitArgs {
        InitArgs {
            output: "x.yml".into(),
            force: false,
            host: Some("h".to_owned()),
            port: None,
            user: None,
            key_file: Some("/k".to_owned()),
            known_hosts_file: Some("/kh".to_owned()),
            comfyui_path: None,
            api_url: None,
        }
    }

    /// On a terminal, a missing value is asked for; an empty answer takes the default, and a
    /// required value is asked again until given.
    #[test]
    fn prompts_for_what_is_missing() {
        let mut input: &[u8] = b"\n\n\n/opt/ComfyUI\n\n";
        let mut shown = Vec::new();
        let values = gather(&args(), &mut Some((&mut input, &mut shown))).unwrap();
        assert_eq!(values.port, "22022");
        assert_eq!(values.user, "comfyui");
        assert_eq!(values.comfyui_path, "/opt/ComfyUI");
        assert_eq!(values.api_url, DEFAULT_COMFYUI_API_URL);
        let shown = String::from_utf8(shown).unwrap();
        assert_eq!(
            shown.matches("ComfyUI's install folder").count(),
            2,
            "{shown}"
        );
        let text = render(&values);
        Config::from_str_named(&text, "t.yml").unwrap();
    }

    /// Odd characters in a value stay that value (quoted), not YAML syntax.
    #[test]
    fn values_are_quoted() {
        let mut values = gather(
            &InitArgs {
                comfyui_path: Some("/opt/Comfy UI: #1 \"x\"".to_owned()),
                ..args()
            },
            &mut None,
        )
        .unwrap();
        values.user = "me".to_owned();
        let config = Config::from_str_named(&render(&values), "t.yml").unwrap();
        assert_eq!(
            config.local[0].comfyui.path.as_str(),
            "/opt/Comfy UI: #1 \"x\""
        );
    }
}
