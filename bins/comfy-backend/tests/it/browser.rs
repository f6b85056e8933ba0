//! The toolbar page in a real headless Chromium (Debian's `chromium` driven through
//! `chromedriver` over WebDriver): the local tile, the connection test against the real sshd, a
//! workflow picked through the file input and run on the fake ComfyUI, its image in the gallery.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_test_support::{kill_group, spawn_group_leader};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::ssh::{InProc, config_with, fake_install, serve_bytes};
use crate::{Proc, config_for, get, repo_root, temp_dir};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL: &str =
    "scripts/dev/install-test-deps.sh (or: apt-get install chromium chromium-driver)";

/// `chromedriver` on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Utf8Path::new(binary).is_file(),
                "{binary} is missing: the browser test needs Debian's chromium and chromium-driver; install them with {INSTALL}"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.args([
            format!("--port={port}"),
            "--allowed-ips=127.0.0.1".to_owned(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // Its own process group, tied to this process: Chromium's helpers go with it.
        let child = spawn_group_leader(cmd).unwrap_or_else(|e| {
            panic!("cannot start {CHROMEDRIVER}: {e}; install it with {INSTALL}")
        });
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{url}/status")).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {url}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// A headless Chromium session with a fresh profile in `profile`.
async fn browser(driver: &Driver, profile: &Utf8Path) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1440,1000",
                format!("--user-data-dir={profile}"),
            ],
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("cannot start a Chromium session ({CHROMIUM}): {e}"))
}

/// Polls `script` (a JavaScript expression) until it is true; on timeout, saves a screenshot
/// and fails with the page's text.
async fn wait_js(client: &Client, secs: u64, what: &str, script: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let value = client
            .execute(&format!("return Boolean({script});"), Vec::new())
            .await
            .unwrap();
        if value == Value::Bool(true) {
            return;
        }
        if Instant::now() > deadline {
            let shot = screenshot(client, "comfy-backend-page-failure.png").await;
            let text = client
                .execute("return document.body.innerText;", Vec::new())
                .await
                .unwrap_or_default();
            panic!(
                "timed out waiting for {what} ({script}); screenshot {shot}; page text:\n{}",
                text.as_str().unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Saves a screenshot of the window under `target/` (or the temp dir, when the test binary
/// runs where its build's `target/` is not writable, e.g. from a nextest archive as another
/// user) and returns its path.
async fn screenshot(client: &Client, name: &str) -> Utf8PathBuf {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let tmp = Utf8PathBuf::from_path_buf(std::env::temp_dir()).expect("UTF-8 temp dir");
    let dirs = [
        Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("comfy-backend-page"),
        tmp.join(format!("comfy-backend-page-{}", std::process::id())),
    ];
    for dir in &dirs {
        let path = dir.join(name);
        if std::fs::create_dir_all(dir).is_ok() && std::fs::write(&path, &png).is_ok() {
            return path;
        }
    }
    panic!("cannot write the screenshot {name} into {dirs:?}");
}

/// No script error, unhandled rejection or CSP refusal happened on the page (it counts them).
async fn assert_no_page_errors(client: &Client) {
    let errors = client
        .execute(
            "return document.documentElement.dataset.pageErrors || null;",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        errors,
        Value::Null,
        "the page counted errors (see its console)"
    );
}

/// Clicks the element `css` finds.
async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Saves a screenshot (of the whole page when `full`) and prints its path.
#[expect(
    clippy::print_stdout,
    reason = "the test says where its screenshots are"
)]
async fn save_screenshot(client: &Client, name: &str, full: bool) {
    if full {
        // A window as tall as the document.
        let height = client
            .execute("return document.documentElement.scrollHeight;", Vec::new())
            .await
            .unwrap()
            .as_u64()
            .unwrap();
        client
            .set_window_size(1440, u32::try_from(height.clamp(800, 4000)).unwrap() + 120)
            .await
            .unwrap();
        client
            .execute("window.scrollTo(0, 0);", Vec::new())
            .await
            .unwrap();
    }
    let shot = screenshot(client, name).await;
    println!("screenshot: {shot}");
}

/// The local tile (green, house icon, FREE and $0.00/hr, online) and VastAI tiles beside it.
async fn check_tiles(client: &Client) {
    wait_js(
        client,
        20,
        "the local tile",
        "document.querySelector('.tile.local')",
    )
    .await;
    let local = text_of(client, ".tile.local").await;
    assert!(local.contains("FREE"), "{local}");
    assert!(local.contains("$0.00/hr"), "{local}");
    assert!(local.contains("Test host"), "{local}");
    wait_js(
        client,
        10,
        "the house icon in the local tile",
        "document.querySelector('.tile.local .tile-icon use[href=\"#i-house\"]')",
    )
    .await;
    wait_js(
        client,
        20,
        "VastAI tiles and the local tile online",
        "document.querySelector('.tile.vastai') && document.querySelector('.tile.local .dot.online')",
    )
    .await;
    let vast_tile = text_of(client, ".tile.vastai").await;
    assert!(vast_tile.contains("/hr"), "{vast_tile}");
    // A rented instance that commands refuse (the fixture's 21394006 is stopping) says so,
    // with the hint as its tooltip; the usable ones do not.
    wait_js(
        client,
        10,
        "the unusable note on the stopping instance's tile",
        "document.querySelector('.tile.unusable[data-instance=\"21394006\"] .tile-unusable')",
    )
    .await;
    let note = text_of(client, ".tile[data-instance=\"21394006\"] .tile-unusable").await;
    assert!(note.starts_with("Not usable: "), "{note}");
    assert!(note.contains("21394006 is stopping, not running"), "{note}");
    let local_tile = text_of(client, ".tile.local").await;
    assert!(!local_tile.contains("Not usable"), "{local_tile}");
    wait_js(
        client,
        10,
        "the note's tooltip, the hint",
        "(document.querySelector('.tile[data-instance=\"21394006\"] .tile-unusable').title || '').length > 0",
    )
    .await;
}

/// Test connection: every stage passes against the real sshd and the fake ComfyUI.
async fn check_connection_test(client: &Client) {
    click(client, ".tile.local .test-connection").await;
    wait_js(
        client,
        60,
        "the passing connection report",
        "document.querySelector('#report-summary[data-ok=\"true\"]')",
    )
    .await;
    let stages = client
        .execute(
            "return [...document.querySelectorAll('#report-body .stage')].map(s => s.className);",
            Vec::new(),
        )
        .await
        .unwrap();
    let stages = stages.as_array().unwrap();
    assert_eq!(stages.len(), 9, "{stages:?}");
    assert!(
        stages.iter().all(|s| s.as_str().unwrap().contains("pass")),
        "{stages:?}"
    );
}

/// A workflow picked through the file input, run on the selected local instance: it succeeds
/// and its four images (two saved, two previews) load in the gallery.
async fn check_run(client: &Client) {
    let workflow = repo_root()
        .join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json")
        .canonicalize_utf8()
        .unwrap();
    client
        .find(Locator::Css("#workflow-file"))
        .await
        .unwrap()
        .send_keys(workflow.as_str())
        .await
        .unwrap();
    wait_js(
        client,
        10,
        "the run button enabled",
        "!document.querySelector('#run').disabled",
    )
    .await;
    click(client, "#run").await;
    wait_js(
        client,
        60,
        "the succeeded run",
        "document.querySelector('#run-state.succeeded')",
    )
    .await;
    wait_js(
        client,
        20,
        "the four output images loaded in the gallery",
        "[...document.querySelectorAll('#gallery img')].filter(i => i.complete && i.naturalWidth > 0).length === 4",
    )
    .await;
    let message = text_of(client, "#run-message").await;
    assert!(message.contains("Workflow finished"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_tests_the_local_connection_runs_a_workflow_and_shows_its_image() {
    const KEY: &str = "browser-test-key-0123456789";
    let install = fake_install("backend_browser");
    let comfy = FakeComfy::start(FakeOptions::default().base_path(&install));
    let vast = FakeVastAi::start(KEY).unwrap();
    // A rented instance on loopback: the shared sshd as its SSH endpoint, the fake ComfyUI as
    // its published ComfyUI port.
    let sshd = comfy_local_test_support::Sshd::shared();
    vast.upsert_instance(json!({
        "id": 777,
        "actual_status": "running",
        "intended_status": "running",
        "label": "loopback-rented",
        "dph_total": 0.3,
        "ssh_host": sshd.host(),
        "ssh_port": sshd.port(),
        "public_ipaddr": "127.0.0.1",
        "ports": {"18188/tcp": [{"HostIp": "0.0.0.0", "HostPort": comfy.port().to_string()}]},
    }));
    let (_g, dir) = temp_dir();
    let vastai = format!(
        "vastai:\n  enabled: true\n  allow_inline_api_key: true\n  api_key: {KEY}\n  api_url: {}\n  ssh: {{ key_file: {}, known_hosts_dir: {}, user: {} }}\n  comfyui: {{ path: {install} }}\n",
        vast.base_url(),
        sshd.user_key(),
        dir.join("vast_hosts"),
        sshd.user(),
    );
    let backend = InProc::start(
        config_with(&install, &comfy.url(), &vastai),
        &dir.join("state"),
    );
    let driver = Driver::start();
    let client = browser(&driver, &dir.join("chromium-profile")).await;
    client.goto(&format!("{}/", backend.url)).await.unwrap();
    check_tiles(&client).await;
    check_connection_test(&client).await;
    save_screenshot(&client, "comfy-backend-page-report.png", false).await;
    check_run(&client).await;
    save_screenshot(&client, "comfy-backend-page.png", true).await;

    // A VastAI tile's test runs like the local one's: every stage passes at the SSH endpoint
    // VastAI reports.
    wait_js(
        &client,
        20,
        "the rented instance's tile",
        "document.querySelector('.tile[data-instance=\"777\"] .test-connection')",
    )
    .await;
    click(&client, ".tile[data-instance=\"777\"] .test-connection").await;
    wait_js(
        &client,
        60,
        "the rented instance's passing report",
        "document.querySelector('#report-summary[data-ok=\"true\"]') && document.querySelector('#report-title').textContent.includes('loopback-rented')",
    )
    .await;
    assert!(
        dir.join("vast_hosts/vastai-777").exists(),
        "host key recorded"
    );
    click(&client, ".tile.vastai .tile-select").await;
    wait_js(
        &client,
        10,
        "the VastAI tile selected",
        "document.querySelector('.tile.vastai.selected .tile-select[aria-pressed=\"true\"]')",
    )
    .await;
    save_screenshot(&client, "comfy-backend-page-vastai.png", false).await;
    assert_no_page_errors(&client).await;
    client.close().await.unwrap();
}

/// Types `text` into the input `css` finds (after clearing it).
async fn type_into(client: &Client, css: &str, text: &str) {
    let input = client.find(Locator::Css(css)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// Presses Tab until the focused element matches `css` (at most 40 times), then Enter.
async fn tab_to_and_press_enter(client: &Client, css: &str) {
    for _ in 0..40 {
        let here = client
            .execute(
                "return document.activeElement.matches(arguments[0]);",
                vec![Value::from(css)],
            )
            .await
            .unwrap();
        let focused = client.active_element().await.unwrap();
        if here == Value::Bool(true) {
            focused
                .send_keys(&char::from(Key::Enter).to_string())
                .await
                .unwrap();
            return;
        }
        focused
            .send_keys(&char::from(Key::Tab).to_string())
            .await
            .unwrap();
    }
    panic!("{css} is not reached with the Tab key");
}

/// *Install a model* from a loopback HTTP server: the bar fills and the file is on the host.
async fn check_model_install(client: &Client, install: &Utf8Path) {
    static MODEL: &[u8] = b"a tiny stand-in for a model file, installed from the page\n";
    let port = serve_bytes(MODEL);
    type_into(
        client,
        "#model-url",
        &format!("http://127.0.0.1:{port}/tiny.safetensors"),
    )
    .await;
    type_into(client, "#model-folder", "checkpoints").await;
    click(client, "#model-install").await;
    wait_js(
        client,
        60,
        "the installed model",
        "document.querySelector('#model-state.succeeded')",
    )
    .await;
    wait_js(
        client,
        5,
        "a full progress bar",
        "(b => b.value === b.max && b.value > 0)(document.querySelector('#model-bar'))",
    )
    .await;
    let message = text_of(client, "#model-message").await;
    assert!(message.contains("tiny.safetensors installed"), "{message}");
    assert_eq!(
        std::fs::read(install.join("models/checkpoints/tiny.safetensors")).unwrap(),
        MODEL
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_page_asks_for_it_shows_api_errors_and_streams_events_with_it() {
    const TOKEN: &str = "browser-page-token-0123456789";
    let install = fake_install("backend_browser_token");
    let comfy = FakeComfy::start(FakeOptions::default().base_path(&install));
    let (_g, dir) = temp_dir();
    let backend = InProc::start_with_token(
        config_with(&install, &comfy.url(), ""),
        &dir.join("state"),
        Some(TOKEN),
    );
    let driver = Driver::start();
    let client = browser(&driver, &dir.join("chromium-profile")).await;
    client.goto(&format!("{}/", backend.url)).await.unwrap();

    // The first API call answers 401: the page asks for the token; a wrong one is asked again.
    wait_js(
        &client,
        20,
        "the token dialog",
        "document.querySelector('#token-dialog').open",
    )
    .await;
    type_into(&client, "#token-input", "wrong-token").await;
    click(&client, "#token-form button[type=submit]").await;
    wait_js(
        &client,
        20,
        "the token dialog again, saying the token was refused",
        "document.querySelector('#token-dialog').open && document.querySelector('#token-message').textContent.includes('refused')",
    )
    .await;
    save_screenshot(&client, "comfy-backend-page-token.png", false).await;
    type_into(&client, "#token-input", TOKEN).await;
    click(&client, "#token-form button[type=submit]").await;
    wait_js(
        &client,
        20,
        "the local tile",
        "document.querySelector('.tile.local .dot.online')",
    )
    .await;

    // The keyboard alone: Tab to the local tile's Test connection button, Enter.
    tab_to_and_press_enter(&client, ".tile.local .test-connection").await;
    wait_js(
        &client,
        60,
        "the passing connection report",
        "document.querySelector('#report-summary[data-ok=\"true\"]')",
    )
    .await;
    save_screenshot(&client, "comfy-backend-page-keyboard.png", false).await;

    // A file that is not a workflow: the backend's error message and hint are shown.
    let bad = dir.join("not-a-workflow.json");
    std::fs::write(&bad, "this is not JSON").unwrap();
    client
        .find(Locator::Css("#workflow-file"))
        .await
        .unwrap()
        .send_keys(bad.as_str())
        .await
        .unwrap();
    click(&client, "#run").await;
    wait_js(
        &client,
        20,
        "the backend's error in the run card",
        "document.querySelector('#run-message strong') && document.querySelector('#run-message .hint')",
    )
    .await;
    let message = text_of(&client, "#run-message").await;
    assert!(!message.trim().is_empty(), "{message}");
    save_screenshot(&client, "comfy-backend-page-error.png", false).await;

    // The real workflow: events (fetch with the Authorization header) and images (blobs) too.
    check_run(&client).await;
    check_model_install(&client, &install).await;
    save_screenshot(&client, "comfy-backend-page-token-run.png", true).await;
    assert_no_page_errors(&client).await;
    client.close().await.unwrap();
}

/// Drops `files` (name, text) on the drop zone, as a drag from the desktop would.
async fn drop_files(client: &Client, files: &[(&str, &str)]) {
    let files: Vec<Value> = files.iter().map(|(n, t)| json!([n, t])).collect();
    client
        .execute(
            "const t = new DataTransfer();
             for (const [name, text] of arguments[0]) t.items.add(new File([text], name, {type: name.endsWith('.json') ? 'application/json' : 'application/octet-stream'}));
             const zone = document.querySelector('#dropzone');
             zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: t, bubbles: true, cancelable: true}));
             zone.dispatchEvent(new DragEvent('drop', {dataTransfer: t, bubbles: true, cancelable: true}));",
            vec![Value::from(files)],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_workflow_runs_and_its_cancel_button_stops_it() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url(), "");
    let backend = Proc::start(&config, &[], &[]);
    let driver = Driver::start();
    let client = browser(&driver, &dir.join("chromium-profile")).await;
    client.goto(&format!("{}/", backend.url)).await.unwrap();
    wait_js(
        &client,
        20,
        "the local tile online",
        "document.querySelector('.tile.local .dot.online')",
    )
    .await;

    let workflow =
        std::fs::read_to_string(repo_root().join("fixtures/comfyui/workflows/invert.api.json"))
            .unwrap();
    drop_files(
        &client,
        &[
            ("invert.api.json", &workflow),
            ("notes.txt", "an input file"),
        ],
    )
    .await;
    let files = text_of(&client, "#files").await;
    assert!(files.contains("invert.api.json"), "{files}");
    assert!(files.contains("notes.txt"), "{files}");
    // The input is not needed: remove it with its button.
    click(&client, "#files button[aria-label='Remove notes.txt']").await;
    let files = text_of(&client, "#files").await;
    assert!(!files.contains("notes.txt"), "{files}");

    click(&client, "#run").await;
    wait_js(
        &client,
        20,
        "node 2 running and the cancel button",
        "document.querySelector('#run-status').textContent.includes('node 2') && !document.querySelector('#cancel').hidden",
    )
    .await;
    save_screenshot(&client, "comfy-backend-page-running.png", false).await;
    click(&client, "#cancel").await;
    wait_js(
        &client,
        20,
        "the cancelled run",
        "document.querySelector('#run-state.cancelled') && document.querySelector('#cancel').hidden",
    )
    .await;
    let message = text_of(&client, "#run-message").await;
    assert!(message.starts_with("Run cancelled: "), "{message}");
    assert_no_page_errors(&client).await;
    client.close().await.unwrap();
}

#[test]
fn the_page_and_its_assets_are_served_with_their_types_and_a_strict_csp() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url(), "");
    // With a token: the page itself needs none (it asks for it), the API does.
    let backend = Proc::start(&config, &[], &[("COMFY_BACKEND_TOKEN", "page-test-token")]);
    let base = &backend.url;
    for (path, content_type, needle) in [
        ("/", "text/html; charset=utf-8", "<title>comfy-local"),
        ("/assets/app.css", "text/css; charset=utf-8", ".tile.local"),
        (
            "/assets/app.js",
            "text/javascript; charset=utf-8",
            "streamEvents",
        ),
        ("/assets/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let a = get(&format!("{base}{path}"), &[]);
        assert_eq!(a.status, 200, "{path}: {a:?}");
        assert_eq!(a.content_type, content_type, "{path}");
        assert!(
            String::from_utf8_lossy(&a.body).contains(needle),
            "{path} lacks {needle}"
        );
        let csp = a.header("content-security-policy").unwrap_or_default();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(a.header("x-frame-options"), Some("DENY"));
    }
    get(&format!("{base}/api/instances"), &[]).assert_error(401, "unauthorized");
    get(&format!("{base}/assets/nope.js"), &[]).assert_error(404, "not_found");
}
