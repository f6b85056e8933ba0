//! The widgets the frontend creates for a node class, in order, and how a saved `widgets_values`
//! maps onto them.
//!
//! Rules (`ComfyUI` frontend 1.27): every declared input (required, then optional, each in
//! `input_order`) of a widget type (INT, FLOAT, STRING, BOOLEAN, COMBO) without `forceInput` gets a
//! widget. Companions follow their widget: an INT with `control_after_generate` (or named
//! `seed`/`noise_seed`) gets a `control_after_generate` combo; a COMBO with `control_after_generate`
//! gets the control and a `control_filter_list`; an explicit `control_after_generate: false` means
//! no control, whatever the name; a remote combo with a refresh button gets a hidden
//! toggle and a `refresh` button. An `AUDIO_RECORD` input (`RecordAudio`) gets two widgets named
//! after it, both saved and sent (`""` until something is recorded). Frontend extensions append to the required inputs: the 3D
//! preview nodes an `image` widget, the audio nodes an `audioUI` widget (sent, never saved), a
//! media-upload combo an `upload` button; `PreviewAny` gets a `preview` widget (sent, never saved). Companions and
//! upload buttons are saved in `widgets_values` but never sent in the prompt. `widgets_values` is
//! matched index by index against the saved widgets; a missing value keeps the widget's default.

use serde_json::Value;

use super::object_info::{InputType, NodeClass};

/// One widget of a node.
#[derive(Debug, Clone)]
pub(crate) struct Widget {
    pub name: String,
    /// Saved in `widgets_values` (`widget.serialize !== false`).
    pub saved: bool,
    /// Sent in the prompt (`widget.options.serialize !== false`).
    pub in_prompt: bool,
    /// Value when the workflow does not carry one.
    pub default: Value,
    /// A STRING widget with `dynamicPrompts`: comments stripped, `{a|b}` resolved when serialised.
    pub dynamic_prompts: bool,
}

const AUDIO_UI_CLASSES: [&str; 6] = [
    "LoadAudio",
    "SaveAudio",
    "PreviewAudio",
    "SaveAudioMP3",
    "SaveAudioOpus",
    "SaveAudioAdvanced",
];

fn companion(name: &str, default: Value) -> Widget {
    Widget {
        name: name.to_owned(),
        saved: true,
        in_prompt: false,
        default,
        dynamic_prompts: false,
    }
}

/// The widgets the frontend creates for `class`, in order.
pub(crate) fn widgets_for(class: &NodeClass) -> Vec<Widget> {
    let mut out = Vec::new();
    for (section, inputs) in [(0, &class.required), (1, &class.optional)] {
        for spec in inputs {
            if spec.force_input {
                continue;
            }
            let ty = spec.type_name();
            let default = match (&spec.kind, &spec.default) {
                (_, Some(d)) => d.clone(),
                (InputType::Combo(options), None) => {
                    options.first().cloned().unwrap_or(Value::Null)
                }
                (InputType::Named(t), None) => match t.as_str() {
                    "INT" | "FLOAT" => Value::from(0),
                    "STRING" => Value::from(""),
                    "BOOLEAN" => Value::Bool(false),
                    _ => Value::Null,
                },
            };
            if ty == "AUDIO_RECORD" {
                // The record extension's audio element (its value, "" until something is
                // recorded) and its record button, both named after the input and both saved.
                out.extend((0..2).map(|_| Widget {
                    name: spec.name.clone(),
                    saved: true,
                    in_prompt: true,
                    default: Value::from(""),
                    dynamic_prompts: false,
                }));
                continue;
            }
            if !matches!(
                ty,
                "INT" | "FLOAT" | "STRING" | "BOOLEAN" | "COMBO" | "LOAD_3D" | "LOAD_3D_ANIMATION"
            ) {
                continue;
            }
            out.push(Widget {
                name: spec.name.clone(),
                saved: true,
                in_prompt: true,
                default,
                dynamic_prompts: ty == "STRING" && spec.dynamic_prompts,
            });
            if ty == "INT" && spec.int_control() {
                out.push(companion(
                    "control_after_generate",
                    Value::from("randomize"),
                ));
            } else if ty == "COMBO" && spec.combo_control() {
                out.push(companion("control_after_generate", Value::from("fixed")));
                out.push(companion("control_filter_list", Value::from("")));
            }
            if ty == "COMBO" && spec.refresh_button {
                out.push(companion("auto_refresh", Value::Bool(false)));
                out.push(Widget {
                    name: "refresh".to_owned(),
                    saved: true,
                    in_prompt: true,
                    default: Value::from("refresh"),
                    dynamic_prompts: false,
                });
            }
        }
        if section == 0 {
            extension_widgets(class, &mut out);
        }
    }
    if class.name == "PreviewAny" {
        out.push(Widget {
            name: "preview".to_owned(),
            saved: false,
            in_prompt: true,
            default: Value::from(""),
            dynamic_prompts: false,
        });
    }
    out
}

/// The widgets frontend extensions append after a class's required inputs: the 3D preview
/// nodes' `image`, the audio nodes' `audioUI`, a media-upload combo's `upload` button.
fn extension_widgets(class: &NodeClass, out: &mut Vec<Widget>) {
    if matches!(
        class.name.as_str(),
        "Preview3D" | "Preview3DAnimation" | "SaveGLB"
    ) {
        out.push(Widget {
            name: "image".to_owned(),
            saved: true,
            in_prompt: true,
            default: Value::from(""),
            dynamic_prompts: false,
        });
    }
    if AUDIO_UI_CLASSES.contains(&class.name.as_str()) {
        out.push(Widget {
            name: "audioUI".to_owned(),
            saved: false,
            in_prompt: true,
            default: Value::from(""),
            dynamic_prompts: false,
        });
    }
    let media = class
        .required
        .iter()
        .find(|s| s.media_upload && s.type_name() == "COMBO");
    let audio = class
        .required
        .iter()
        .any(|s| s.name == "audio" && s.audio_upload);
    if let Some(m) = media {
        out.push(companion("upload", Value::from(m.name.clone())));
    } else if audio {
        out.push(companion("upload", Value::from("")));
    }
}

/// Current values of `widgets` given a node's saved `widgets_values` (an array matched index by
/// index over the saved widgets, or an object keyed by widget name).
pub(crate) fn widget_values(widgets: &[Widget], saved: Option<&Value>) -> Vec<Value> {
    let mut values: Vec<Value> = widgets.iter().map(|w| w.default.clone()).collect();
    match saved {
        Some(Value::Array(arr)) => {
            let mut it = arr.iter();
            for (w, v) in widgets.iter().zip(values.iter_mut()) {
                if !w.saved {
                    continue;
                }
                match it.next() {
                    Some(x) => *v = x.clone(),
                    None => break,
                }
            }
        }
        Some(Value::Object(map)) => {
            for (w, v) in widgets.iter().zip(values.iter_mut()) {
                if let Some(x) = map.get(&w.name) {
                    *v = x.clone();
                }
            }
        }
        _ => {}
    }
    values
}

/// The frontend's dynamic prompt processing: strips `/* */` and `//` comments, then resolves each
/// `{a|b|c}` choice. The frontend picks at random; this picks the first option so that a conversion
/// is reproducible (documented deviation, irrelevant for prompts without braces).
pub(crate) fn process_dynamic_prompt(input: &str) -> String {
    let stripped = strip_comments(input);
    resolve_choices(&stripped)
}

fn strip_comments(s: &str) -> String {
    // One linear pass (a regex-free `/\/\*[\s\S]*?\*\/|\/\/.*/g`).
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    let mut no_close = false;
    while i + 1 < b.len() {
        if b[i] == b'/' && b[i + 1] == b'*' && !no_close {
            if let Some(end) = s[i + 2..].find("*/") {
                out.push_str(&s[copied..i]);
                i = i + 2 + end + 2;
                copied = i;
                continue;
            }
            // Unterminated: not a comment; neither is any later `/*` (there is no `*/` after it).
            no_close = true;
            i += 1;
        } else if b[i] == b'/' && b[i + 1] == b'/' {
            out.push_str(&s[copied..i]);
            i = s[i..].find('\n').map_or(b.len(), |nl| i + nl);
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// Replaces each `{a|b|c}` (innermost first) with its first option, in one pass with a stack;
/// `\{` and `\}` are literal. Unbalanced braces are kept as written.
fn resolve_choices(s: &str) -> String {
    let mut stack: Vec<String> = vec![String::with_capacity(s.len())];
    let mut prev_backslash = false;
    for ch in s.chars() {
        match ch {
            '{' if !prev_backslash => stack.push(String::new()),
            '}' if !prev_backslash && stack.len() > 1 => {
                let group = stack.pop().unwrap_or_default();
                let choice = group.split('|').next().unwrap_or("");
                if let Some(top) = stack.last_mut() {
                    top.push_str(choice);
                }
            }
            _ => {
                if let Some(top) = stack.last_mut() {
                    top.push(ch);
                }
            }
        }
        prev_backslash = ch == '\\';
    }
    // Unclosed groups: put their `{` back.
    while stack.len() > 1 {
        let group = stack.pop().unwrap_or_default();
        if let Some(top) = stack.last_mut() {
            top.push('{');
            top.push_str(&group);
        }
    }
    stack.pop().unwrap_or_default()
}
