//! Command-line types (clap derive). Only the shape of the command line lives here; what each
//! command does is in `commands`.

// Doc comments here are `--help` text for users: no Markdown backticks.
#![expect(clippy::doc_markdown, reason = "product names in --help prose")]

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand};

const ABOUT: &str = "Run ComfyUI workflows on the container's own host over SSH";

const LONG_ABOUT: &str = "\
Run ComfyUI workflows on the container's own host over SSH.

comfy-local lets a containerised web app (the Media Sync Tool) use the ComfyUI installed on the
machine that runs the container, as one more instance next to rented VastAI GPUs. It reaches the
host's sshd (a dedicated, key-only, non-root user, port 22022 by default) and ComfyUI's HTTP API
(port 8188), and through them checks the connection, runs workflows, fetches outputs, and installs
models and custom nodes.

The configuration is read from --config PATH, else $COMFY_LOCAL_CONFIG, else
./local-support-config.yml, else /app/local-support-config.yml. See
local-support-config.yml.example for every key.";

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    a check or operation failed (e.g. `config check --deny-warnings` found warnings)
  2    usage or configuration error
  3    connection failed (key file, TCP, SSH handshake/host key, authentication)
  4    remote or ComfyUI error (ComfyUI install, write access, HTTP API, WebSocket, workflow)
  5    a time limit expired (`run --timeout`)
  130  interrupted (Ctrl-C)";

const CHECK_LONG_ABOUT: &str = "\
Load and validate the config, then print it resolved with defaults (secrets redacted).

Problems that stop a connection but not loading (a missing or too-open key file, a missing
known_hosts file, an unset API key variable) are printed as warnings on stderr; the exit code
stays 0 unless --deny-warnings is given.";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "comfy-local",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help = "Config file to use [default: $COMFY_LOCAL_CONFIG, ./local-support-config.yml, /app/local-support-config.yml]"
    )]
    pub config: Option<Utf8PathBuf>,
    /// Print JSON Lines on stdout (one complete JSON object per line)
    #[arg(long, global = true)]
    pub json: bool,
    #[arg(
        short,
        long,
        global = true,
        action = clap::ArgAction::Count,
        help = "Log more on stderr: -v info, -vv debug, -vvv trace ($RUST_LOG overrides)"
    )]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration file, or write one
    #[command(subcommand)]
    Config(ConfigCommand),
    #[command(
        about = "Check every step from this container to the host's ComfyUI, stage by stage",
        long_about = TEST_CONNECTION_LONG_ABOUT,
        after_help = "Examples:\n  comfy-local test-connection\n  comfy-local test-connection --instance local --json"
    )]
    TestConnection(TestConnectionArgs),
    /// List every instance of every provider (local hosts and VastAI) with status and cost
    ///
    /// Local instances come from the config (always free), each `online` when its ComfyUI
    /// answers a quick probe right now (directly or through the SSH forward) and `offline` when
    /// not (all probed at once, a few seconds at most); VastAI instances are listed when
    /// `vastai.enabled` is true, with the API key from the variable `vastai.api_key_env` names
    /// (or the vastai CLI's key file). USABLE says whether commands accept the instance's id:
    /// `NO` for a VastAI instance that is not running, has no SSH endpoint, has a local
    /// instance's id, or while the config lacks `vastai.ssh.key_file` / `known_hosts_dir`; a
    /// line after the table says why and what to do (`--json`: `"usable": false` and
    /// `"unusable": {"reason", "hint"}`). Exit code 1 when a provider could not be asked (the
    /// others are still listed).
    #[command(after_help = "Examples:\n  comfy-local instances\n  comfy-local instances --json")]
    Instances,
    #[command(
        about = "Run a workflow on an instance and save every output",
        long_about = RUN_LONG_ABOUT,
        after_help = RUN_EXAMPLE
    )]
    Run(RunArgs),
    /// Convert UI workflows to API format and check what an instance lacks to run them
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Install resources on an instance
    #[command(subcommand)]
    Install(InstallCommand),
    /// List the model files installed on an instance (name, size, folder), as ComfyUI sees them
    #[command(
        after_help = "Examples:\n  comfy-local models\n  comfy-local models --folder checkpoints --json"
    )]
    Models(ModelsArgs),
    /// List the custom nodes in the instance's custom_nodes/ folders, with the git commit of each
    /// git checkout
    #[command(after_help = "Examples:\n  comfy-local nodes\n  comfy-local nodes --json")]
    Nodes(NodesArgs),
    #[command(
        about = "Show an instance's devices with VRAM total/free, RAM, queue depth and versions",
        long_about = STATUS_LONG_ABOUT,
        after_help = STATUS_EXAMPLE
    )]
    Status(StatusArgs),
    #[command(
        about = "Ask an instance's ComfyUI to free memory, and show VRAM before and after",
        long_about = FREE_LONG_ABOUT,
        after_help = FREE_EXAMPLE
    )]
    Free(FreeArgs),
    #[command(
        about = "List the prompts an instance's queue and history hold; show, watch or cancel one",
        long_about = JOBS_LONG_ABOUT,
        after_help = JOBS_EXAMPLE
    )]
    Jobs(JobsArgs),
    #[command(
        about = "Save the outputs of an earlier prompt into a folder, as run does",
        long_about = DOWNLOAD_LONG_ABOUT,
        after_help = DOWNLOAD_EXAMPLE
    )]
    Download(DownloadArgs),
    #[command(
        about = "Upload files into the instance's ComfyUI input/ folder, never replacing one",
        long_about = UPLOAD_LONG_ABOUT,
        after_help = UPLOAD_EXAMPLE
    )]
    Upload(UploadArgs),
    #[command(
        about = "Print a shell completion script for bash, zsh or fish",
        long_about = COMPLETIONS_LONG_ABOUT,
        after_help = COMPLETIONS_EXAMPLE
    )]
    Completions(CompletionsArgs),
}

/// `comfy-local install ...`
#[derive(Debug, Subcommand)]
pub enum InstallCommand {
    #[command(
        about = "Download a model from an http(s) URL into a ComfyUI model folder on the host",
        long_about = INSTALL_MODEL_LONG_ABOUT,
        after_help = INSTALL_MODEL_EXAMPLE
    )]
    Model(InstallModelArgs),
    #[command(
        about = "Clone a custom node from an allowed git host into custom_nodes/ on the host",
        long_about = INSTALL_NODE_LONG_ABOUT,
        after_help = INSTALL_NODE_EXAMPLE
    )]
    Node(InstallNodeArgs),
    #[command(
        about = "Install every missing model and custom node a workflow names a source for (dry run without --yes)",
        long_about = INSTALL_MISSING_LONG_ABOUT,
        after_help = INSTALL_MISSING_EXAMPLE
    )]
    Missing(InstallMissingArgs),
}

const INSTALL_MISSING_LONG_ABOUT: &str = "\
Install every missing model and custom node a workflow names a source for.

The workflow is checked against the instance as `workflow deps` does. A missing model is planned
when the workflow's models metadata (UI workflows: `models: [{name, url, directory}]`, also on
nodes; a /prompt body: the UI workflow in extra_data.extra_pnginfo.workflow) gives its URL. A
missing node class is planned when --node-map names its repository, else when the node's
properties.aux_id (GitHub owner/repo) does, pinned to properties.ver when that is a commit id.
A Comfy Registry id (properties.cnr_id) is not looked up: map such a class with --node-map.
Every URL is checked as `install model` and `install node` check it.

Without --yes, the plan is printed (what goes where, from which URL) and what cannot be resolved;
nothing is installed. With --yes, each planned model is installed as `install model` does and
each planned node as `install node` does (also when other items cannot be resolved; a failing
install does not stop the others); then the check runs again and reports what is still missing.
Nodes installed load when ComfyUI restarts. With --json, one JSON object per plan item and event and a
final summary line.

Missing input files are listed, not installed (give them to `run --input`), and do not change
the exit code.

Exit codes: 0 the plan is complete (dry run), or every install succeeded and only nodes waiting
for a ComfyUI restart remain (--yes); 1 something cannot be resolved, an install failed or
something is still missing; 2 bad arguments, config or node map; 3 connection failed; 4 ComfyUI
error.";

const INSTALL_MISSING_EXAMPLE: &str = "\
Examples:
  comfy-local install missing workflow.json
  comfy-local install missing workflow.json --node-map nodes.json --yes
    (nodes.json: {\"FancyNode\": \"https://github.com/owner/ComfyUI-Fancy\"})";

/// `comfy-local install missing WORKFLOW`
#[derive(Debug, Args)]
pub struct InstallMissingArgs {
    /// Workflow file (UI or API format)
    #[arg(value_name = "WORKFLOW")]
    pub file: Utf8PathBuf,
    /// JSON file mapping node classes to repository URLs: {"ClassName": "https://github.com/o/r"}
    #[arg(long, value_name = "FILE")]
    pub node_map: Option<Utf8PathBuf>,
    /// Install the plan (default: only print it)
    #[arg(long)]
    pub yes: bool,
    /// Instance to install on: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

const INSTALL_NODE_LONG_ABOUT: &str = "\
Clone a custom node from an allowed git host into custom_nodes/ on the host.

GIT_URL is an https://, ssh:// or git:// URL whose host is in the config's
resources.allowed_git_hosts (default github.com, gitlab.com, codeberg.org); the node's folder is
the repository's name. On the host, git clones it into custom_nodes/.comfy-local-tmp-<name> and
checks out the commit --ref names (a tag, a branch, or a commit; default the remote's HEAD).
Then requirements.txt, if any, is installed with ComfyUI's Python (comfyui.python, else venv/ or
.venv/ in the install folder, else python3; a Python found that way is refused when its version
is not the one the running ComfyUI reports in /system_stats): first pip install --dry-run, then
pip install.
install.py, if any, is run in the node's folder. Only when every step succeeded is the folder
renamed to custom_nodes/<name>; when one fails it is removed and the step's output is shown.
pip's changes to the Python environment are not undone: the dry run catches requirements that
cannot be resolved before anything is installed, but a package failing half-way through the
install, or a failing install.py, leaves what was installed before it. The commit installed is
printed. Restart ComfyUI afterwards: it loads custom nodes at start only.

Exit codes: 0 installed; 1 custom_nodes/<name> exists (--force replaces it); 2 bad arguments or
config, a host not allowed, an unsafe name, an unknown ref, a Python other than ComfyUI's, or
features.custom_nodes: false;
3 SSH connection failed; 4 git, pip or install.py failed on the host.";

const INSTALL_NODE_EXAMPLE: &str = "\
Example:
  comfy-local install node https://github.com/cubiq/ComfyUI_essentials --ref main";

/// `comfy-local install node GIT_URL`
#[derive(Debug, Args)]
pub struct InstallNodeArgs {
    /// https://, ssh:// or git:// URL of the node's repository
    #[arg(value_name = "GIT_URL")]
    pub url: String,
    /// Branch, tag or commit to check out [default: the remote's HEAD]
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Instance to install on: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
    /// Replace an existing custom_nodes/<name>
    #[arg(long)]
    pub force: bool,
}

/// `comfy-local nodes`
#[derive(Debug, Args)]
pub struct NodesArgs {
    /// Instance to list: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

const INSTALL_MODEL_LONG_ABOUT: &str = "\
Download a model from an http(s) URL into a ComfyUI model folder on the host.

By default (--via auto) the host downloads the file itself into <name>.part (with python3's
standard library, over its own link: this process only resolves redirects, tokens and the name,
and the token for the final host reaches the host on the program's stdin, never its command
line); when the host cannot reach the source (or has no python3) before a byte arrived, the
bytes stream from the URL through this process and SSH instead (--via stream always does; --via
host never falls back). The sha256 is computed as the bytes flow. Only a complete file (and,
with --sha256, a verified one) is
renamed into place. An interrupted install resumes from the .part on the next run (HTTP Range;
a source that ignores Range starts over); a wrong hash removes the .part. Redirects are followed.
A file already there with the --sha256 given is left alone (exit 0); any other existing file is
refused without --force. Tokens: the variables the config's resources.huggingface_token_env
(sent as Authorization: Bearer to huggingface.co over https only) and resources.civitai_token_env
(the token query parameter, to civitai.com over https only) name; never printed.

Exit codes: 0 installed or already there; 1 refused (exists, wrong sha256, too large); 2 bad
arguments or config, unknown folder, unsafe name, or features.resource_installation: false;
3 SSH connection failed; 4 the host or the download source failed; 130 interrupted.";

const INSTALL_MODEL_EXAMPLE: &str = "\
Example:
  comfy-local install model \\
    https://huggingface.co/stabilityai/sdxl-vae/resolve/main/sdxl_vae.safetensors \\
    --folder vae --name sdxl/sdxl_vae.safetensors";

/// `comfy-local install model URL --folder FOLDER`
#[derive(Debug, Args)]
pub struct InstallModelArgs {
    /// http(s) URL of the file
    #[arg(value_name = "URL")]
    pub url: String,
    /// Model folder ComfyUI knows (checkpoints, loras, vae, ... or one from extra_model_paths.yaml)
    #[arg(long, value_name = "FOLDER")]
    pub folder: String,
    /// File name in the folder, may hold subfolders [default: from Content-Disposition, else the URL's last segment after redirects]
    #[arg(long, value_name = "FILE")]
    pub name: Option<String>,
    /// Expected sha256 (64 hex digits): the file is installed only if it matches
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Instance to install on: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
    /// Replace an existing file with other content
    #[arg(long)]
    pub force: bool,
    /// Attempts after the source breaks off, each resuming where it stopped
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// Who downloads: the host itself (host), this process through SSH (stream), or the host
    /// with streaming as the fallback (auto)
    #[arg(long, value_enum, value_name = "PATH", default_value_t = ViaArg::Auto)]
    pub via: ViaArg,
}

/// `--via` of `install model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViaArg {
    Auto,
    Host,
    Stream,
}

/// `comfy-local models [--folder F]`
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Only this folder [default: every model folder]
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<String>,
    /// Instance to list: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

const RUN_LONG_ABOUT: &str = "\
Run a workflow on an instance and save every output.

The workflow may be in UI format (as the editor saves it) or API format. Before anything is
uploaded or queued, its dependencies are checked: every missing node class, model file and input
file is listed at once and the run is refused. Inputs given with --input are uploaded to
ComfyUI's input/ first, never replacing a file already there: a taken name gets a free one
(name (1).png) and the workflow is pointed at it; an --input the workflow would not use is
refused. Progress is shown per node (a bar per node on a terminal, plain lines otherwise; JSON
lines with --json): each node running, done or cached, and the prompt's place in the queue
while it waits. Every output the ComfyUI UI would show is saved into --out: the files history
lists (those of type input under --out/input/), previews (PreviewImage) under --out/temp/ unless
--no-previews, and images output nodes send over the WebSocket (SaveImageWebsocket) as
websocket_<node>_<n>.png. Saving never replaces
or follows anything: a name that is taken gets a free one (name (1).png), names with a component
starting with a dot (.git/, .bashrc) are refused, a symlinked folder inside --out is not
followed, and a download is linked into place only when complete; all outputs together stop at
limits.max_output_mb (the file that crosses it is not kept). Ctrl-C stops the prompt on
the server (interrupted when it runs, removed from the queue when it waits); a second Ctrl-C
quits at once.

With --no-wait the run ends once ComfyUI has queued the prompt: its id is printed on stdout
(id=$(comfy-local run wf.json --no-wait)) and nothing is followed or saved; `jobs watch ID`
follows it and `download ID` saves its outputs.

--set NODE_ID.input=VALUE changes a widget value of the API prompt (after a UI workflow is
converted, before the dependency check), typed by the instance's object_info: an INT or FLOAT
within its min and max, BOOLEAN true or false, a STRING as given, a COMBO one of its choices
(a wrong one is refused with the valid choices). An unknown node id or input is refused naming
those that exist, and an input fed by another node's output is refused (set that node). --seed
N gives every seed input (an INT with control_after_generate, or named seed or noise_seed, not
fed by another node) the seed N; --seed random a random one each, from the input's min up to
2^50 as the ComfyUI editor picks them. --set is applied after --seed. Each change is shown.

Exit codes: 0 done, every output saved (with --no-wait: queued); 1 dependencies missing, the workflow cannot be
converted, or an output ComfyUI reported was not saved (each one is named); 2 bad arguments,
a --set or --seed that does not fit, config, workflow file, --out naming a file, or limits.max_output_mb reached; 3 ComfyUI
reachable neither directly nor through SSH; 4 ComfyUI refused or failed the prompt, or someone
else interrupted it (the editor, `jobs cancel`); 5 --timeout
expired; 130 interrupted.

With --batch FILE_OR_DIR... every workflow file is a job (a folder stands for each *.json in
it) whose outputs go to --out/<file stem>/, a folder that must not exist yet (two files with
the same stem are refused). The pool is --instances (ids, or all: every local instance and every
running rented one), less those whose ComfyUI does not answer at the start. Each job goes to the instance that finishes it cheapest, then soonest: free (local)
instances first, a rented one only while every free instance's ComfyUI queue holds more than
pool.queue_threshold prompts, and never more than pool.max_in_flight jobs per instance. An
instance that lacks a job's models or nodes is skipped for that job, unless --sync installs
them there first (from the URLs and repositories the workflow names; a node installed so loads
only when ComfyUI restarts, so until then that instance is still skipped). A job that fails, or
whose instance stops answering, is run again on another instance (pool.max_tries attempts in
all), and its outputs are written once, when an attempt succeeds; an instance that fails
pool.failures_before_quarantine times in a row is left out and probed again every
pool.probe_interval_secs. --timeout limits each attempt (one that runs out counts as failed
and is tried elsewhere); --seed N with --repeat numbers the copies' seeds from N; --repeat needs a
workflow with a seed input (one without is refused before any job runs). Ctrl-C stops the batch and interrupts the running prompts. Progress
goes to stderr (bars on a terminal); with --json every step is a JSON line on stdout and the
last one is the summary {\"type\":\"summary\",\"jobs\",\"done\",\"failed\",\"instances\":{ID:{\"done\",
\"failed\",\"seconds\",\"cost_usd\"}}} (failed: attempts that failed there; seconds: time it
had a job of the batch; cost_usd: seconds at its price per hour). Exit codes with --batch: 0
every job done; 1 some job failed; 2 bad arguments, config, a workflow file, a job's
folder exists, or --repeat on a workflow without a seed input; 3 no instance of the pool answers; 130 interrupted.";

const RUN_EXAMPLE: &str = "\
Examples:
  comfy-local run workflow.json --out results
  comfy-local run --batch workflows/ extra.json --instances all --out results
  comfy-local run --batch portrait.json --repeat 20 --seed 1000 --instances local,31337 --out results --json
  comfy-local run workflow.json --input photo.png=me.png --set 3.steps=30 --seed random
  id=$(comfy-local run workflow.json --no-wait) && comfy-local jobs watch \"$id\"
  comfy-local run - --timeout 10m --json < workflow.json";

/// `comfy-local run WORKFLOW.json`, `comfy-local run --batch FILE_OR_DIR...`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow file (UI or API format); `-` reads it from standard input
    #[arg(value_name = "WORKFLOW.json", required_unless_present = "batch")]
    pub file: Option<Utf8PathBuf>,
    /// Run many workflows over a pool of instances: each file is a job (a folder: each *.json
    /// in it), its outputs saved to --out/<file stem>/
    #[arg(
        long,
        value_name = "FILE_OR_DIR",
        num_args = 1..,
        conflicts_with_all = ["file", "instance", "inputs", "no_wait", "sets"]
    )]
    pub batch: Vec<Utf8PathBuf>,
    /// With --batch: the pool, as instance ids or `all` (every local instance and every running
    /// rented one; those that do not answer at the start are left out)
    #[arg(
        long,
        value_name = "ID,ID,...|all",
        value_delimiter = ',',
        requires = "batch",
        default_value = "all"
    )]
    pub instances: Vec<String>,
    /// With --batch: run each workflow N times (jobs <stem>-1 .. <stem>-N), each copy with
    /// its own seed (--seed N: N, N+1, ...; else a random start)
    #[arg(long, value_name = "N", requires = "batch", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub repeat: u32,
    /// With --batch: install a job's missing models and nodes on an instance (from the sources
    /// the workflow names) instead of skipping that instance for the job
    #[arg(long, requires = "batch")]
    pub sync: bool,
    /// Instance to run on: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
    /// Upload FILE to ComfyUI's input/ as NAME (a file name the workflow loads), or point
    /// loader node NAME (a node id) at it; a taken name gets a free one; repeatable
    #[arg(long = "input", value_name = "NAME=FILE")]
    pub inputs: Vec<String>,
    /// Folder to save the outputs in (previews go to its temp/ subfolder)
    #[arg(long, value_name = "DIR", default_value = "comfy-outputs")]
    pub out: Utf8PathBuf,
    /// Do not save previews (PreviewImage results, which ComfyUI keeps in its temp/ only)
    #[arg(long)]
    pub no_previews: bool,
    /// Give up on a prompt still running or queued after DURATION (e.g. 90s, 10m, 1h30m):
    /// it is interrupted on the server, or removed from the queue, and the run exits 5
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, conflicts_with = "no_wait")]
    pub timeout: Option<std::time::Duration>,
    /// Submit the prompt, print its id (stdout) and exit 0 once ComfyUI has queued it; nothing
    /// is followed or saved
    #[arg(long)]
    pub no_wait: bool,
    /// Set a widget value of the prompt: NODE_ID.input=VALUE, typed by the instance's
    /// object_info (INT, FLOAT within min/max, BOOLEAN, STRING, COMBO one of its choices);
    /// repeatable
    #[arg(long = "set", value_name = "NODE_ID.input=VALUE")]
    pub sets: Vec<String>,
    /// Give every seed input (INT with control_after_generate, or named seed/noise_seed) this
    /// seed, or a new random one each (random); a --set of a seed wins
    #[arg(long, value_name = "random|N")]
    pub seed: Option<String>,
}

/// A `--timeout` value: a humantime duration (`90s`, `10m`, `1h30m`) above zero.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (examples: 90s, 10m, 1h30m)")),
    }
}

/// `comfy-local workflow ...`
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Print the API-format prompt of a workflow (UI workflows are converted headlessly)
    ///
    /// Reproduces the ComfyUI frontend's graphToPrompt(): widget values, links, primitives,
    /// reroutes, muted and bypassed nodes, subgraphs and group nodes. The node definitions come
    /// from --object-info FILE (a saved `GET /object_info`, works offline) or from the instance.
    #[command(
        after_help = "Examples:\n  comfy-local workflow convert ui.json --object-info object_info.json > api.json\n  comfy-local workflow convert ui.json --instance local"
    )]
    Convert(ConvertArgs),
    /// List what a workflow needs and what the instance lacks: node classes, model files per
    /// folder, input files — all at once, each with the node ids that need it
    ///
    /// Exit code 1 when something is missing.
    #[command(
        after_help = "Examples:\n  comfy-local workflow deps workflow.json\n  comfy-local workflow deps workflow.json --instance local --json"
    )]
    Deps(DepsArgs),
}

/// `comfy-local workflow convert WORKFLOW.json`
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The workflow file (UI or API format)
    #[arg(value_name = "WORKFLOW.json")]
    pub file: Utf8PathBuf,
    /// Instance whose object_info to use: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID", conflicts_with = "object_info")]
    pub instance: Option<String>,
    /// A saved `GET /object_info` answer (no instance needed)
    #[arg(long, value_name = "FILE")]
    pub object_info: Option<Utf8PathBuf>,
}

/// `comfy-local workflow deps WORKFLOW.json`
#[derive(Debug, Args)]
pub struct DepsArgs {
    /// The workflow file (UI or API format)
    #[arg(value_name = "WORKFLOW.json")]
    pub file: Utf8PathBuf,
    /// Instance to check against: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

const TEST_CONNECTION_LONG_ABOUT: &str = "\
Check every step from this container to the host's ComfyUI, stage by stage.

Stages, in order: config valid -> key file readable and private -> TCP reachable -> SSH
handshake and host key -> authentication -> remote identity and ComfyUI install (main.py,
folders) -> write access to models/, custom_nodes/, input/, output/ (a probe file is created and
removed) -> ComfyUI HTTP API (version, Python, PyTorch, GPUs, node count; WARN when the
ComfyUI answering at comfyui.api_url runs from another folder than comfyui.path) -> WebSocket.
Each stage is timed; a failed stage prints a hint, and later stages are skipped; a warning
prints a hint and fails nothing. A VastAI instance (its numeric id, with vastai.enabled) is
tested the same way at the SSH endpoint VastAI reports: its host key is recorded on first
contact in vastai.ssh.known_hosts_dir/vastai-<id>, and ComfyUI is reached through an SSH
forward unless VastAI publishes vastai.comfyui.port; one that is not running fails the TCP
stage.

Exit codes: 0 all stages passed (warnings included); 2 the config is invalid or names no such instance; 3 the key
file, TCP, SSH handshake/host key or authentication failed (or the VastAI instance is not
running); 4 a check on the host or ComfyUI failed.";

/// `comfy-local test-connection [--instance ID]`
#[derive(Debug, Args)]
pub struct TestConnectionArgs {
    /// Instance to test: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

/// `comfy-local config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    #[command(
        about = "Load and validate the config, then print it resolved with defaults (secrets redacted)",
        long_about = CHECK_LONG_ABOUT,
        after_help = "Examples:\n  comfy-local config check\n  comfy-local config check /app/local-support-config.yml --deny-warnings"
    )]
    Check(CheckArgs),
    #[command(
        about = "Write a commented config for one local instance, from flags or prompts",
        long_about = INIT_LONG_ABOUT,
        after_help = INIT_EXAMPLE
    )]
    Init(InitArgs),
}

/// `comfy-local config check [PATH]`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Config file to check (takes precedence over --config)
    #[arg(value_name = "PATH")]
    pub path: Option<Utf8PathBuf>,
    /// Exit with code 1 when there are warnings
    #[arg(long)]
    pub deny_warnings: bool,
}

const STATUS_LONG_ABOUT: &str = "\
Show an instance's devices with VRAM total/free, RAM, queue depth and versions.

Asks the instance's ComfyUI (GET /system_stats and GET /queue): each device with its VRAM total
and free, the host's RAM, the prompts running and pending (every client's), and the ComfyUI,
Python and PyTorch versions. An instance whose ComfyUI port is not reachable from here is
reached through an SSH forward, as `run` does; with vastai.enabled, a running VastAI instance
is named by its numeric id.

Exit codes: 0 shown; 2 bad arguments, config, or no such instance; 3 ComfyUI reachable neither
directly nor through SSH; 4 ComfyUI answered with an error.";

const STATUS_EXAMPLE: &str = "\
Examples:
  comfy-local status
  comfy-local status --instance local --json";

/// `comfy-local status [--instance ID]`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Instance to ask: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

const FREE_LONG_ABOUT: &str = "\
Ask an instance's ComfyUI to free memory, and show VRAM before and after.

Sends POST /free with free_memory (ComfyUI drops its cache of node outputs) and, with
--unload-models, unload_models (it unloads every model from VRAM as well), as the ComfyUI
editor's \"Free model and node cache\" button does. ComfyUI answers at once and frees in its
prompt worker when that is idle (a running prompt delays it until the prompt ends): the
\"after\" reading is taken one second after the answer.

Exit codes: 0 asked; 2 bad arguments, config, or no such instance; 3 ComfyUI reachable neither
directly nor through SSH; 4 ComfyUI answered with an error.";

const FREE_EXAMPLE: &str = "\
Examples:
  comfy-local free
  comfy-local free --unload-models --instance local";

/// `comfy-local free [--unload-models] [--instance ID]`
#[derive(Debug, Args)]
pub struct FreeArgs {
    /// Unload every model from VRAM too (not only the cached node outputs)
    #[arg(long)]
    pub unload_models: bool,
    /// Instance to ask: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

const JOBS_LONG_ABOUT: &str = "\
List the prompts an instance's ComfyUI holds, or show, watch or cancel one.

Without a subcommand: the running and pending prompts of ComfyUI's queue (GET /queue) and the
last --history entries of its history (GET /history), every client's: each with its state
(running, pending, done, failed, interrupted), its queue number, node and output counts, and
whether comfy-local submitted it (ours: its client_id starts with comfy-local-) or another
client (the ComfyUI editor, a script). A pending prompt shows how many run before it; a failed
one the node and ComfyUI's message.

jobs show ID: one prompt with its nodes, output files, cached nodes and run time.
jobs watch ID: follows the prompt until it ends, with the display of `run` (its place in the
queue, then each node running, done or cached). ComfyUI sends a prompt's events only to the
client that submitted it: a prompt of ours (from `run --no-wait`, say) is watched live on a
socket with its client id (a `run` still following that prompt then sees its end in history);
another client's prompt shows its queue place and its end only, read from the queue and
history. Nothing is saved: `download ID` does that. Ctrl-C stops watching (exit 130) and leaves
the prompt alone.
jobs cancel ID: a running prompt is interrupted (POST /interrupt with its prompt_id; ComfyUI
stops it at the next node or progress check), a pending one removed from the queue (POST /queue
{\"delete\": [ID]}).

Exit codes: 0 listed, shown, ended well (watch), or cancelled; 1 cancel of a prompt that has
ended; 2 bad arguments, config, no such instance, or no such prompt; 3 ComfyUI reachable
neither directly nor through SSH; 4 ComfyUI failed, or the watched prompt failed or was
interrupted.";

const JOBS_EXAMPLE: &str = "\
Examples:
  comfy-local jobs
  comfy-local jobs --history 100 --json
  id=$(comfy-local run wf.json --no-wait) && comfy-local jobs watch \"$id\"
  comfy-local jobs show 0990e50a-11c7-4ed4-b28c-45b86d9bf7c2
  comfy-local jobs cancel 0990e50a-11c7-4ed4-b28c-45b86d9bf7c2";

/// `comfy-local jobs [show|watch|cancel ID]`
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Instance to ask: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID", global = true)]
    pub instance: Option<String>,
    /// History entries to list, newest first (0: none)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub history: u32,
    /// What to do with one prompt (default: list them all)
    #[command(subcommand)]
    pub command: Option<JobsCommand>,
}

/// `comfy-local jobs show|watch|cancel ID`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Show one prompt: state, nodes, output files, cached nodes, run time
    #[command(
        after_help = "Examples:\n  comfy-local jobs show \"$id\"\n  comfy-local jobs show \"$id\" --json"
    )]
    Show(JobIdArgs),
    /// Follow one prompt until it ends, with the progress display of `run`
    ///
    /// A prompt comfy-local submitted is followed live (each node running, done or cached);
    /// another client's shows its place in the queue and its end. Nothing is saved (`download`
    /// does that); Ctrl-C stops watching and leaves the prompt alone. Exit code 0 when it ended
    /// well, 4 when it failed or was interrupted.
    #[command(
        after_help = "Examples:\n  id=$(comfy-local run wf.json --no-wait) && comfy-local jobs watch \"$id\"\n  comfy-local jobs watch \"$id\" --json"
    )]
    Watch(JobIdArgs),
    /// Interrupt a running prompt, or remove a pending one from the queue
    ///
    /// Exit code 1 when the prompt has ended already.
    #[command(
        after_help = "Examples:\n  comfy-local jobs cancel \"$id\"\n  comfy-local jobs cancel \"$id\" --instance local --json"
    )]
    Cancel(JobIdArgs),
}

/// A prompt id.
#[derive(Debug, Args)]
pub struct JobIdArgs {
    /// The prompt id (as `run --no-wait` prints it, or `jobs` lists it)
    #[arg(value_name = "ID")]
    pub prompt_id: String,
}

const DOWNLOAD_LONG_ABOUT: &str = "\
Save the outputs of an earlier prompt into a folder, as run does.

The files the prompt's history entry lists (GET /history/ID) are fetched (GET /view) into
--out by the same rules as `run`: those of type input under --out/input/, previews under
--out/temp/ unless --no-previews; nothing is replaced or followed (a taken name gets a free
one, name (1).png; names with a component starting with a dot are refused; a symlinked folder
inside --out is not followed; a file appears under its name only when complete), and all
outputs together stop at limits.max_output_mb. Images an output node sent only over the
WebSocket (SaveImageWebsocket) are not in history: only the run that followed the prompt could
save them. A failed or interrupted prompt's outputs are those its nodes made before it stopped.

Exit codes: 0 every listed output saved; 1 an output was not saved (each is named), or the
prompt is still queued or running; 2 bad arguments, config, --out naming a file, no such
prompt, or limits.max_output_mb reached; 3 ComfyUI reachable neither directly nor through SSH; 4 ComfyUI
failed.";

const DOWNLOAD_EXAMPLE: &str = "\
Examples:
  comfy-local download 0990e50a-11c7-4ed4-b28c-45b86d9bf7c2 --out results
  comfy-local download \"$id\" --out results --no-previews --json";

/// `comfy-local download PROMPT_ID --out DIR`
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The prompt id
    #[arg(value_name = "PROMPT_ID")]
    pub prompt_id: String,
    /// Folder to save the outputs in (previews go to its temp/ subfolder)
    #[arg(long, value_name = "DIR", default_value = "comfy-outputs")]
    pub out: Utf8PathBuf,
    /// Do not save previews (PreviewImage results, which ComfyUI keeps in its temp/ only)
    #[arg(long)]
    pub no_previews: bool,
    /// Instance to ask: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

const UPLOAD_LONG_ABOUT: &str = "\
Upload files into the instance's ComfyUI input/ folder, never replacing one.

Each FILE goes through ComfyUI's POST /upload/image (as `run --input` does) under its own file
name, into input/ or the --subfolder inside it, with overwrite=false: when a file of that name
with other content is there, ComfyUI keeps it and stores the upload as name (1).png. The name
ComfyUI stored is printed (the value a loader node's image input takes). Every file and the
subfolder are checked first (plain names, none starting with a dot; each within
limits.max_upload_mb), so a bad one uploads nothing.

Exit codes: 0 every file uploaded; 2 bad arguments, config, a file missing, unsafe or too
large; 3 ComfyUI reachable neither directly nor through SSH; 4 ComfyUI refused an upload.";

const UPLOAD_EXAMPLE: &str = "\
Examples:
  comfy-local upload photo.png
  comfy-local upload a.png b.png --subfolder people --json";

/// `comfy-local upload FILE... [--subfolder S]`
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Local files to upload
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<Utf8PathBuf>,
    /// Folder inside input/ (relative, e.g. masks or people/2025)
    #[arg(long, value_name = "S")]
    pub subfolder: Option<String>,
    /// Instance to upload to: a local id from the config, or a running VastAI instance's numeric id [default: the first local instance]
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

const COMPLETIONS_LONG_ABOUT: &str = "\
Print a shell completion script for bash, zsh or fish on stdout.

The script completes subcommands and options (not instance ids or file contents).";

const COMPLETIONS_EXAMPLE: &str = "\
Examples:
  comfy-local completions bash > ~/.local/share/bash-completion/completions/comfy-local
  comfy-local completions zsh > ~/.zfunc/_comfy-local
  comfy-local completions fish > ~/.config/fish/completions/comfy-local.fish";

/// `comfy-local completions SHELL`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for
    #[arg(value_name = "SHELL")]
    pub shell: CompletionShell,
}

/// The shells `completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

const INIT_LONG_ABOUT: &str = "\
Write a commented config for one local instance, from flags or prompts.

Values not given as flags are asked for when stdin is a terminal (the defaults shown are taken
on an empty answer); otherwise the missing required ones (--host, --key-file,
--known-hosts-file, --comfyui-path) are a usage error naming them all. The text is validated as
`config check` would load it before anything is written; the file is written atomically (a
temporary file in the same folder, renamed into place) with mode 0600, and an existing file is
never replaced without --force.

Exit codes: 0 written; 2 a value missing or invalid, or the file exists (nothing is written).";

const INIT_EXAMPLE: &str = "\
Example:
  comfy-local config init --host host.docker.internal --key-file /app/comfy-local/id_ed25519 \\
    --known-hosts-file /app/comfy-local/known_hosts --comfyui-path /home/me/ComfyUI";

/// `comfy-local config init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// File to write
    #[arg(long, value_name = "PATH", default_value = "local-support-config.yml")]
    pub output: Utf8PathBuf,
    /// Replace an existing file
    #[arg(long)]
    pub force: bool,
    /// Host name or address of the host's sshd as seen from here
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// sshd port on the host [default: 22022]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Login user on the host: dedicated and non-root [default: comfyui]
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Private key file, mode 600
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<String>,
    /// OpenSSH known_hosts file holding the host's key
    #[arg(long, value_name = "PATH")]
    pub known_hosts_file: Option<String>,
    /// ComfyUI's install folder on the host, absolute
    #[arg(long, value_name = "PATH")]
    pub comfyui_path: Option<String>,
    /// ComfyUI's HTTP API as reached from here [default: http://host.docker.internal:8188]
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
}
