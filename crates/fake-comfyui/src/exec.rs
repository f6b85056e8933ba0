//! The fake's execution worker: runs model-free image nodes for real (PNG files on disk) and
//! emits the WebSocket sequence recorded from ComfyUI 0.3.64.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::{Component, Path};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::state::{Knobs, QueueEntry, Shared, lock, now_ms};
use crate::validate::{input_file_exists, py_str, sorted_ids};

/// An RGB image, 8 bits per channel.
#[derive(Debug, Clone)]
pub(crate) struct Img {
    pub w: usize,
    pub h: usize,
    pub rgb: Vec<u8>,
}

/// What a node output slot carries.
#[derive(Debug, Clone)]
enum Val {
    Images(Vec<Img>),
    /// Masks are produced (SolidMask, LoadImage) so links type-check; no fake node consumes them.
    #[expect(
        dead_code,
        reason = "masks are produced so links type-check; no fake node reads them"
    )]
    Masks(Vec<(usize, usize, Vec<f32>)>),
}

/// A node failure, reported as `execution_error`.
struct Failure {
    exception_type: String,
    message: String,
}

fn fail(exception_type: &str, message: impl Into<String>) -> Failure {
    Failure {
        exception_type: exception_type.to_owned(),
        message: message.into(),
    }
}

/// Runs the worker until the server stops.
pub(crate) fn worker(shared: &Shared) {
    loop {
        let entry = {
            let mut inner = lock(&shared.inner);
            loop {
                if shared.stopping() {
                    return;
                }
                if let Some(e) = inner.pending.pop_front() {
                    inner.running = Some(e.clone());
                    break e;
                }
                inner = shared
                    .wake
                    .wait_timeout(inner, Duration::from_millis(100))
                    .map_or_else(|e| e.into_inner().0, |r| r.0);
            }
        };
        shared.interrupt.store(false, Ordering::SeqCst);
        shared.send_status();
        run_prompt(shared, &entry);
    }
}

fn progress_node(prompt_id: &str, id: &str, finished: bool) -> Value {
    json!({"value": if finished { 1.0 } else { 0.0 }, "max": 1.0, "state": if finished { "finished" } else { "running" },
        "node_id": id, "prompt_id": prompt_id, "display_node_id": id, "parent_node_id": null, "real_node_id": id})
}

/// Post-order from the output nodes: every input before the node that uses it.
fn execution_order(prompt: &Map<String, Value>, outputs: &[String]) -> Vec<String> {
    fn visit(
        id: &str,
        prompt: &Map<String, Value>,
        seen: &mut HashSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(id.to_owned()) {
            return;
        }
        if let Some(inputs) = prompt
            .get(id)
            .and_then(|n| n.get("inputs"))
            .and_then(Value::as_object)
        {
            let mut deps: Vec<&str> = inputs
                .values()
                .filter_map(|v| v.as_array().and_then(|l| l.first()).and_then(Value::as_str))
                .collect();
            deps.sort_by(|a, b| crate::validate::node_order(a, b));
            for d in deps {
                visit(d, prompt, seen, order);
            }
        }
        order.push(id.to_owned());
    }
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut outs = outputs.to_vec();
    outs.sort_by(|a, b| crate::validate::node_order(a, b));
    for o in &outs {
        visit(o, prompt, &mut seen, &mut order);
    }
    order
}

struct RunCtx<'a> {
    shared: &'a Shared,
    entry: &'a QueueEntry,
    sid: Option<String>,
    messages: Vec<Value>,
    /// The server epoch this prompt started in; a restart abandons it silently.
    epoch: u64,
}

impl RunCtx<'_> {
    fn abandoned(&self) -> bool {
        self.shared.epoch.load(Ordering::SeqCst) != self.epoch || self.shared.stopping()
    }

    fn send(&self, kind: &str, data: &Value) {
        if !self.abandoned() {
            self.shared.send(self.sid.as_deref(), kind, data);
        }
    }

    /// Sends and keeps for history (`execution_*` messages).
    #[expect(
        clippy::needless_pass_by_value,
        reason = "the value is kept in history below"
    )]
    fn send_kept(&mut self, kind: &str, data: Value) {
        self.send(kind, &data);
        self.messages.push(json!([kind, data]));
    }

    fn finish(&mut self, status_str: &str, completed: bool, outputs: &Map<String, Value>) {
        if self.abandoned() {
            return;
        }
        let id = &self.entry.prompt_id;
        let meta: Map<String, Value> = outputs
            .keys()
            .map(|k| (k.clone(), json!({"node_id": k, "display_node": k, "parent_node": null, "real_node_id": k})))
            .collect();
        let record = json!({
            "prompt": self.entry.to_json(),
            "outputs": outputs,
            "status": {"status_str": status_str, "completed": completed, "messages": self.messages},
            "meta": meta,
        });
        {
            let mut inner = lock(&self.shared.inner);
            inner.history.push((id.clone(), record));
            inner.running = None;
            inner.last_node = None;
        }
        self.shared.send_status();
        self.send("executing", &json!({"node": null, "prompt_id": id}));
    }
}

fn run_prompt(shared: &Shared, entry: &QueueEntry) {
    let mut ctx = RunCtx {
        shared,
        entry,
        sid: entry.client_id(),
        messages: Vec::new(),
        epoch: shared.epoch.load(Ordering::SeqCst),
    };
    let empty = Map::new();
    let prompt = entry.prompt.as_object().unwrap_or(&empty);
    ctx.send_kept(
        "execution_start",
        json!({"prompt_id": entry.prompt_id, "timestamp": now_ms()}),
    );
    let cache_key = entry.prompt.to_string();
    let cached = lock(&shared.inner).cache.get(&cache_key).cloned();
    if let Some(Value::Object(outputs)) = cached {
        replay_cached(&mut ctx, prompt, &outputs);
        return;
    }
    ctx.send_kept(
        "execution_cached",
        json!({"nodes": [], "prompt_id": entry.prompt_id, "timestamp": now_ms()}),
    );
    let mut run = Progress::default();
    for id in &execution_order(prompt, &entry.outputs) {
        if ctx.abandoned() || run_node(&mut ctx, &mut run, prompt, id).is_break() {
            return;
        }
    }
    if ctx.abandoned() {
        return;
    }
    lock(&shared.inner)
        .cache
        .insert(cache_key, Value::Object(run.outputs.clone()));
    ctx.send_kept(
        "execution_success",
        json!({"prompt_id": entry.prompt_id, "timestamp": now_ms()}),
    );
    ctx.finish("success", true, &run.outputs);
}

/// A prompt seen before: every node is reported cached and its recorded outputs are sent again.
fn replay_cached(ctx: &mut RunCtx<'_>, prompt: &Map<String, Value>, outputs: &Map<String, Value>) {
    let prompt_id = &ctx.entry.prompt_id;
    ctx.send_kept(
        "execution_cached",
        json!({"nodes": sorted_ids(prompt), "prompt_id": prompt_id, "timestamp": now_ms()}),
    );
    let mut states = Map::new();
    for (node, output) in outputs {
        ctx.send(
            "executed",
            &json!({"node": node, "display_node": node, "output": output, "prompt_id": prompt_id}),
        );
        states.insert(node.clone(), progress_node(prompt_id, node, true));
    }
    ctx.send(
        "progress_state",
        &json!({"prompt_id": prompt_id, "nodes": states}),
    );
    ctx.send_kept(
        "execution_success",
        json!({"prompt_id": prompt_id, "timestamp": now_ms()}),
    );
    ctx.finish("success", true, outputs);
}

/// What a run has produced so far.
#[derive(Default)]
struct Progress {
    /// Output slots of the nodes that ran, for the nodes linked to them.
    values: HashMap<String, Vec<Val>>,
    /// UI outputs (`executed` messages), for history and the cache.
    outputs: Map<String, Value>,
    /// The `progress_state` of every node reached.
    states: Map<String, Value>,
    /// Ids of the nodes that ran, in order.
    executed: Vec<String>,
}

/// Runs one node with its messages; `Break` when the prompt ends here (abandoned, interrupted or
/// failed, the last two already reported).
fn run_node(
    ctx: &mut RunCtx<'_>,
    run: &mut Progress,
    prompt: &Map<String, Value>,
    id: &str,
) -> ControlFlow<()> {
    let shared = ctx.shared;
    let prompt_id = &ctx.entry.prompt_id;
    let node = prompt.get(id).cloned().unwrap_or_default();
    let class_type = node.get("class_type").map(py_str).unwrap_or_default();
    run.states
        .insert(id.to_owned(), progress_node(prompt_id, id, false));
    ctx.send(
        "progress_state",
        &json!({"prompt_id": prompt_id, "nodes": run.states}),
    );
    lock(&shared.inner).last_node = Some((id.to_owned(), prompt_id.clone(), ctx.sid.clone()));
    ctx.send(
        "executing",
        &json!({"node": id, "display_node": id, "prompt_id": prompt_id}),
    );

    let knobs = shared.knobs();
    apply_node_knobs(ctx, &knobs, id);
    if ctx.abandoned() {
        return ControlFlow::Break(());
    }
    if shared.interrupt.swap(false, Ordering::SeqCst) {
        ctx.send_kept(
            "execution_interrupted",
            json!({"prompt_id": prompt_id, "node_id": id, "node_type": class_type, "executed": run.executed, "timestamp": now_ms()}),
        );
        ctx.finish("error", false, &Map::new());
        return ControlFlow::Break(());
    }
    let result = if knobs.fail_at_node.as_deref() == Some(id) {
        Err(fail(
            "RuntimeError",
            format!("fake-comfyui: injected failure at node {id}"),
        ))
    } else {
        execute_node(ctx, id, &class_type, &node, &run.values)
    };
    match result {
        Ok((vals, ui)) => {
            run.values.insert(id.to_owned(), vals);
            if let Some(ui) = ui {
                ctx.send(
                    "executed",
                    &json!({"node": id, "display_node": id, "output": ui, "prompt_id": prompt_id}),
                );
                run.outputs.insert(id.to_owned(), ui);
            }
            run.executed.push(id.to_owned());
            run.states
                .insert(id.to_owned(), progress_node(prompt_id, id, true));
            ctx.send(
                "progress_state",
                &json!({"prompt_id": prompt_id, "nodes": run.states}),
            );
            ControlFlow::Continue(())
        }
        Err(f) => {
            report_failure(ctx, run, id, &class_type, &node, &f);
            ControlFlow::Break(())
        }
    }
}

/// The test knobs that act as a node starts: dropping the sockets and the node delay.
fn apply_node_knobs(ctx: &RunCtx<'_>, knobs: &Knobs, id: &str) {
    if knobs.drop_sockets_at_node.as_deref() == Some(id) {
        ctx.shared.drop_sockets();
    }
    let delay = knobs
        .node_delay
        .max(knobs.slow_nodes.get(id).copied().unwrap_or_default());
    if !delay.is_zero() {
        sleep_interruptible(ctx.shared, delay, ctx.epoch, !knobs.ignore_interrupts);
    }
}

/// Reports a failed node as `execution_error` and ends the prompt.
fn report_failure(
    ctx: &mut RunCtx<'_>,
    run: &Progress,
    id: &str,
    class_type: &str,
    node: &Value,
    f: &Failure,
) {
    let current_inputs = current_inputs(ctx.shared, ctx.entry, class_type, node);
    ctx.send_kept(
        "execution_error",
        json!({"prompt_id": ctx.entry.prompt_id, "node_id": id, "node_type": class_type, "executed": run.executed,
            "exception_message": f.message, "exception_type": f.exception_type,
            "traceback": [format!("  File \"fake_comfyui/exec.rs\", in execute\n    {class_type}\n")],
            "current_inputs": current_inputs, "current_outputs": run.executed, "timestamp": now_ms()}),
    );
    ctx.finish("error", false, &Map::new());
}

/// `current_inputs` of an `execution_error`: every input as a one-element list of its Python `str()`,
/// hidden inputs included (as ComfyUI reports them).
fn current_inputs(
    shared: &Shared,
    entry: &QueueEntry,
    class_type: &str,
    node: &Value,
) -> Map<String, Value> {
    let mut out: Map<String, Value> = node
        .get("inputs")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let shown = if v.is_array() {
                        format!("tensor(<output of node {}>)", py_str(&v[0]))
                    } else {
                        py_str(v)
                    };
                    (k.clone(), json!([shown]))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(hidden) = shared
        .object_info()
        .pointer(&format!("/{class_type}/input/hidden"))
        .and_then(Value::as_object)
    {
        for (name, kind) in hidden {
            let v = match kind.as_str() {
                Some("PROMPT") => json!(crate::validate::py_repr(&entry.prompt)),
                Some("EXTRA_PNGINFO") => entry
                    .extra_data
                    .get("extra_pnginfo")
                    .cloned()
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            };
            out.insert(name.clone(), json!([v]));
        }
    }
    out
}

fn sleep_interruptible(shared: &Shared, total: Duration, epoch: u64, honour_interrupt: bool) {
    let step = Duration::from_millis(5);
    let mut left = total;
    while !left.is_zero() {
        if (honour_interrupt && shared.interrupt.load(Ordering::SeqCst))
            || shared.stopping()
            || shared.epoch.load(Ordering::SeqCst) != epoch
        {
            return;
        }
        let d = left.min(step);
        std::thread::sleep(d);
        left = left.saturating_sub(d);
    }
}

fn input<'a>(node: &'a Value, name: &str) -> Option<&'a Value> {
    node.get("inputs").and_then(|i| i.get(name))
}

fn int_input(node: &Value, name: &str) -> i64 {
    input(node, name)
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .unwrap_or_default()
}

fn linked(values: &HashMap<String, Vec<Val>>, node: &Value, name: &str) -> Result<Val, Failure> {
    let link = input(node, name)
        .and_then(Value::as_array)
        .ok_or_else(|| fail("KeyError", format!("'{name}'")))?;
    let (Some(from), Some(slot)) = (
        link.first().and_then(Value::as_str),
        link.get(1).and_then(Value::as_u64),
    ) else {
        return Err(fail("ValueError", format!("bad link for {name}")));
    };
    values
        .get(from)
        .and_then(|v| v.get(slot as usize))
        .cloned()
        .ok_or_else(|| fail("KeyError", format!("'{from}'")))
}

fn images(v: Val) -> Result<Vec<Img>, Failure> {
    match v {
        Val::Images(i) => Ok(i),
        Val::Masks(_) => Err(fail("TypeError", "expected IMAGE, got MASK")),
    }
}

type NodeResult = Result<(Vec<Val>, Option<Value>), Failure>;

/// Runs one node by class: its output slots, and its UI output when it has one.
fn execute_node(
    ctx: &RunCtx<'_>,
    id: &str,
    class_type: &str,
    node: &Value,
    values: &HashMap<String, Vec<Val>>,
) -> NodeResult {
    match class_type {
        "EmptyImage" => Ok((vec![Val::Images(empty_image(node))], None)),
        "ImageInvert" => {
            let mut imgs = images(linked(values, node, "image")?)?;
            for img in &mut imgs {
                img.rgb.iter_mut().for_each(|b| *b = 255 - *b);
            }
            Ok((vec![Val::Images(imgs)], None))
        }
        "ImageBlur" => {
            let radius = int_input(node, "blur_radius").clamp(1, 31) as usize;
            let imgs = images(linked(values, node, "image")?)?;
            Ok((
                vec![Val::Images(
                    imgs.iter().map(|i| box_blur(i, radius)).collect(),
                )],
                None,
            ))
        }
        "ImageScale" => {
            let imgs = images(linked(values, node, "image")?)?;
            Ok((vec![Val::Images(image_scale(node, &imgs))], None))
        }
        "SolidMask" => {
            let (w, h) = dims(int_input(node, "width"), int_input(node, "height"));
            let value = input(node, "value").and_then(Value::as_f64).unwrap_or(1.0) as f32;
            Ok((vec![Val::Masks(vec![(w, h, vec![value; w * h])])], None))
        }
        "LoadImage" => load_image(ctx, node),
        "SaveImage" => {
            let imgs = images(linked(values, node, "images")?)?;
            let prefix =
                input(node, "filename_prefix").map_or_else(|| "ComfyUI".to_owned(), py_str);
            let files = save_images(ctx, &imgs, &prefix, &ctx.shared.dirs.output, "output", id)?;
            Ok((Vec::new(), Some(json!({"images": files}))))
        }
        "PreviewImage" => {
            let imgs = images(linked(values, node, "images")?)?;
            preview_image(ctx, id, &imgs)
        }
        "SaveImageWebsocket" => {
            let imgs = images(linked(values, node, "images")?)?;
            save_image_websocket(ctx, id, &imgs)?;
            Ok((Vec::new(), None))
        }
        other => Err(fail(
            "NotImplementedError",
            format!("fake-comfyui cannot execute {other} (no models here)"),
        )),
    }
}

/// Image or mask dimensions from node inputs, clamped to what ComfyUI accepts.
fn dims(w: i64, h: i64) -> (usize, usize) {
    (w.clamp(1, 16384) as usize, h.clamp(1, 16384) as usize)
}

/// `EmptyImage`: a batch of one solid `0xRRGGBB` colour.
fn empty_image(node: &Value) -> Vec<Img> {
    let (w, h) = dims(int_input(node, "width"), int_input(node, "height"));
    let batch = int_input(node, "batch_size").clamp(1, 64) as usize;
    let c = int_input(node, "color");
    let px = [
        ((c >> 16) & 0xff) as u8,
        ((c >> 8) & 0xff) as u8,
        (c & 0xff) as u8,
    ];
    let rgb: Vec<u8> = px.iter().copied().cycle().take(w * h * 3).collect();
    vec![Img { w, h, rgb }; batch]
}

/// `ImageScale`: a width or height of 0 keeps the aspect ratio (both 0 keep the size).
fn image_scale(node: &Value, imgs: &[Img]) -> Vec<Img> {
    let (tw, th) = (int_input(node, "width"), int_input(node, "height"));
    imgs.iter()
        .map(|img| {
            let (tw, th) = (tw.max(0) as usize, th.max(0) as usize);
            let (w, h) = match (tw, th) {
                (0, 0) => (img.w, img.h),
                (0, h) => ((img.w * h / img.h).max(1), h),
                (w, 0) => (w, (img.h * w / img.w).max(1)),
                (w, h) => (w, h),
            };
            scale(img, w.min(16384), h.min(16384))
        })
        .collect()
}

/// `LoadImage`: the image from the input folder and an empty mask of its size.
fn load_image(ctx: &RunCtx<'_>, node: &Value) -> NodeResult {
    let name = input(node, "image").map(py_str).unwrap_or_default();
    let dir = &ctx.shared.dirs.input;
    if !input_file_exists(dir, &name) {
        return Err(fail(
            "FileNotFoundError",
            format!("Invalid image file: {name}"),
        ));
    }
    let img = read_png(&dir.join(name.trim_end_matches(" [input]")))?;
    let mask = (img.w, img.h, vec![0.0; img.w * img.h]);
    Ok((vec![Val::Images(vec![img]), Val::Masks(vec![mask])], None))
}

/// `PreviewImage`: saves into the temp folder under a random `ComfyUI_temp_xxxxx` prefix.
fn preview_image(ctx: &RunCtx<'_>, id: &str, imgs: &[Img]) -> NodeResult {
    let suffix: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .filter(char::is_ascii_lowercase)
        .take(5)
        .collect();
    let files = save_images(
        ctx,
        imgs,
        &format!("ComfyUI_temp_{suffix}"),
        &ctx.shared.dirs.temp,
        "temp",
        id,
    )?;
    Ok((Vec::new(), Some(json!({"images": files}))))
}

/// `SaveImageWebsocket`: each image as a binary PNG frame, after a `progress` message.
fn save_image_websocket(ctx: &RunCtx<'_>, id: &str, imgs: &[Img]) -> Result<(), Failure> {
    let n = imgs.len();
    for (i, img) in imgs.iter().enumerate() {
        ctx.send(
            "progress",
            &json!({"value": i, "max": n, "prompt_id": ctx.entry.prompt_id, "node": id}),
        );
        let mut frame = vec![0, 0, 0, 1, 0, 0, 0, 2];
        frame.extend(encode_png(img, &[]).map_err(|e| fail("OSError", e))?);
        ctx.shared.send_binary(ctx.sid.as_deref(), &frame);
    }
    Ok(())
}

fn box_blur(img: &Img, r: usize) -> Img {
    let (w, h) = (img.w, img.h);
    let pass = |src: &[u8], horizontal: bool| -> Vec<u8> {
        let mut out = vec![0u8; src.len()];
        let (lines, len) = if horizontal { (h, w) } else { (w, h) };
        for line in 0..lines {
            for c in 0..3 {
                let at = |i: usize| {
                    if horizontal {
                        (line * w + i) * 3 + c
                    } else {
                        (i * w + line) * 3 + c
                    }
                };
                let mut sum: u32 = 0;
                let mut count: u32 = 0;
                for i in 0..=r.min(len - 1) {
                    sum += u32::from(src[at(i)]);
                    count += 1;
                }
                for i in 0..len {
                    out[at(i)] = (sum / count.max(1)) as u8;
                    if i + r + 1 < len {
                        sum += u32::from(src[at(i + r + 1)]);
                        count += 1;
                    }
                    if i >= r {
                        sum -= u32::from(src[at(i - r)]);
                        count -= 1;
                    }
                }
            }
        }
        out
    };
    let horizontal = pass(&img.rgb, true);
    Img {
        w,
        h,
        rgb: pass(&horizontal, false),
    }
}

fn scale(img: &Img, w: usize, h: usize) -> Img {
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let sy = (y * img.h / h).min(img.h - 1);
        for x in 0..w {
            let sx = (x * img.w / w).min(img.w - 1);
            let at = (sy * img.w + sx) * 3;
            rgb.extend_from_slice(&img.rgb[at..at + 3]);
        }
    }
    Img { w, h, rgb }
}

/// Encodes RGB8 PNG bytes with optional `tEXt` chunks.
pub(crate) fn encode_png(img: &Img, text: &[(&str, String)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.w as u32, img.h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        for (k, v) in text {
            enc.add_text_chunk((*k).to_owned(), v.clone())
                .map_err(|e| e.to_string())?;
        }
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer
            .write_image_data(&img.rgb)
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn read_png(path: &Path) -> Result<Img, Failure> {
    let file = std::fs::File::open(path).map_err(|e| fail("OSError", e.to_string()))?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|e| fail("PIL.UnidentifiedImageError", e.to_string()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| fail("PIL.Image.DecompressionBombError", "image too large"))?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| fail("OSError", e.to_string()))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let mut rgb = Vec::with_capacity(w * h * 3);
    for px in buf[..w * h * channels].chunks(channels) {
        match channels {
            1 | 2 => rgb.extend_from_slice(&[px[0]; 3]),
            _ => rgb.extend_from_slice(&px[..3]),
        }
    }
    Ok(Img { w, h, rgb })
}

/// `folder_paths.get_save_image_path` + `SaveImage.save_images`.
fn save_images(
    ctx: &RunCtx<'_>,
    imgs: &[Img],
    prefix: &str,
    root: &Path,
    kind: &str,
    _node: &str,
) -> Result<Vec<Value>, Failure> {
    let (subfolder, filename) = match prefix.rsplit_once('/') {
        Some((dir, name)) => (dir.to_owned(), name.to_owned()),
        None => (String::new(), prefix.to_owned()),
    };
    let escapes = Path::new(&subfolder)
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(fail(
            "Exception",
            format!(
                "**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: {}\n         output_dir: {}\n         commonpath: {}\n",
                root.join(&subfolder).display(),
                root.display(),
                root.parent().unwrap_or(root).display()
            ),
        ));
    }
    let folder = root.join(&subfolder);
    std::fs::create_dir_all(&folder).map_err(|e| fail("OSError", e.to_string()))?;
    let first = next_counter(&folder, &filename);
    let mut text = vec![("prompt", ctx.entry.prompt.to_string())];
    if let Some(wf) = ctx.entry.extra_data.pointer("/extra_pnginfo/workflow") {
        text.push(("workflow", wf.to_string()));
    }
    let mut files = Vec::new();
    for (counter, img) in (first..).zip(imgs) {
        let name = format!("{filename}_{counter:05}_.png");
        let bytes = encode_png(img, &text).map_err(|e| fail("OSError", e))?;
        let tmp = folder.join(format!(".{name}.part"));
        std::fs::write(&tmp, bytes).map_err(|e| fail("OSError", e.to_string()))?;
        std::fs::rename(&tmp, folder.join(&name)).map_err(|e| fail("OSError", e.to_string()))?;
        files.push(json!({"filename": name, "subfolder": subfolder, "type": kind}));
    }
    Ok(files)
}

fn next_counter(folder: &Path, filename: &str) -> u64 {
    let mut max = 0;
    if let Ok(entries) = std::fs::read_dir(folder) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix(&format!("{filename}_"))
                && let Some(num) = rest.strip_suffix("_.png")
                && let Ok(n) = num.parse::<u64>()
            {
                max = max.max(n);
            }
        }
    }
    max + 1
}

/// Model folder names ComfyUI 0.3.64 reports at `/models` (recorded), for the default map.
pub(crate) fn default_models() -> Vec<(String, Vec<String>)> {
    crate::fixtures::recorded_body("get_models.json")
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|f| f.as_str().map(|s| (s.to_owned(), Vec::new())))
                .collect()
        })
        .unwrap_or_default()
}
