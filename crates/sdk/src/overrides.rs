//! `run --set NODE_ID.input=VALUE` and `run --seed random|N`: widget values changed in the API
//! prompt after conversion and before submission, each typed and checked by the instance's
//! object_info (INT and FLOAT parsed and held to `min`/`max`, BOOLEAN, STRING, COMBO one of its
//! choices), so a wrong value is refused here, with what would be valid, not by ComfyUI later.

use std::fmt::Write as _;

use comfy_local_workflow::{ApiPrompt, InputSpec as DeclaredInput, InputType, ObjectInfo};
use serde::Serialize;
use serde_json::{Number, Value};

use crate::SdkError;

/// One `--set NODE_ID.input=VALUE`, as given (the value is typed when applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSpec {
    /// The node id in the API prompt (`3`, `12:5` inside a subgraph).
    pub node: String,
    /// The input name (`seed`, `steps`, `ckpt_name`).
    pub input: String,
    /// The value as text.
    pub value: String,
}

impl SetSpec {
    /// Parses `NODE_ID.input=VALUE` (the value may hold `=` and `.`; the node id may not hold `.`).
    pub fn parse(spec: &str) -> Result<SetSpec, SdkError> {
        let bad = |reason: &str| SdkError::BadOverride {
            spec: format!("--set {spec}"),
            reason: reason.to_owned(),
        };
        let (key, value) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected NODE_ID.input=VALUE"))?;
        let (node, input) = key.split_once('.').ok_or_else(|| {
            bad("expected NODE_ID.input=VALUE (no `.` between node id and input)")
        })?;
        if node.is_empty() || input.is_empty() {
            return Err(bad(
                "expected NODE_ID.input=VALUE with a node id and an input name",
            ));
        }
        Ok(SetSpec {
            node: node.to_owned(),
            input: input.to_owned(),
            value: value.to_owned(),
        })
    }

    fn shown(&self) -> String {
        format!("--set {}.{}={}", self.node, self.input, self.value)
    }
}

/// `--seed random|N`: every seed-like input of the prompt gets this seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedSpec {
    /// A new random seed per input, within its range (at most 2^50, as the ComfyUI frontend's
    /// `randomize` picks).
    Random,
    /// This seed for every seed-like input.
    Fixed(u64),
}

impl SeedSpec {
    /// Parses `random` or a non-negative integer.
    pub fn parse(text: &str) -> Result<SeedSpec, SdkError> {
        if text.eq_ignore_ascii_case("random") {
            return Ok(SeedSpec::Random);
        }
        text.parse::<u64>()
            .map(SeedSpec::Fixed)
            .map_err(|_| SdkError::BadOverride {
                spec: format!("--seed {text}"),
                reason: "expected `random` or a whole number from 0 to 18446744073709551615"
                    .to_owned(),
            })
    }
}

/// The largest seed `random` picks: what the ComfyUI frontend's `randomize` uses (2^50), so the
/// value stays exact in JavaScript too.
const RANDOM_SEED_MAX: u64 = 1 << 50;

/// One value changed in the prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Override {
    /// The node id.
    pub node: String,
    /// The input name.
    pub input: String,
    /// The value now in the prompt.
    pub value: Value,
}

/// At most this many names or choices are listed in an error.
const LISTED: usize = 20;

/// Applies `--seed` (to every seed-like input whose value is not a link) and then each `--set`
/// (so a `--set` of a seed wins); returns what was changed, in that order.
pub(crate) fn apply(
    prompt: &mut ApiPrompt,
    info: &ObjectInfo,
    sets: &[SetSpec],
    seed: Option<SeedSpec>,
) -> Result<Vec<Override>, SdkError> {
    let mut applied = Vec::new();
    if let Some(seed) = seed {
        applied.extend(apply_seed(prompt, info, seed)?);
    }
    for set in sets {
        applied.push(apply_set(prompt, info, set)?);
    }
    Ok(applied)
}

/// Why `--seed` cannot apply to `prompt` (it has no seed input, or every one takes its value
/// from another node), as [`apply`] would refuse it; `None` when it has one.
pub(crate) fn seedless(prompt: &ApiPrompt, info: &ObjectInfo) -> Option<String> {
    // A random seed is held to each input's range: the only refusal left is having none.
    match apply_seed(&mut prompt.clone(), info, SeedSpec::Random) {
        Ok(_) => None,
        Err(SdkError::BadOverride { reason, .. }) => Some(reason),
        Err(other) => Some(other.to_string()),
    }
}

fn apply_seed(
    prompt: &mut ApiPrompt,
    info: &ObjectInfo,
    seed: SeedSpec,
) -> Result<Vec<Override>, SdkError> {
    let bad = |reason: String| SdkError::BadOverride {
        spec: match seed {
            SeedSpec::Random => "--seed random".to_owned(),
            SeedSpec::Fixed(n) => format!("--seed {n}"),
        },
        reason,
    };
    let mut applied = Vec::new();
    let mut linked = Vec::new();
    for (id, node) in prompt.iter_mut() {
        let Some(class) = info.class(&node.class_type) else {
            continue;
        };
        for spec in class.inputs().filter(|s| s.is_seed_like()) {
            if let Some(source) = node.inputs.get(&spec.name).and_then(link_source) {
                linked.push(format!("{id}.{} (from node {source})", spec.name));
                continue;
            }
            let value = match seed {
                SeedSpec::Random => random_seed(spec),
                SeedSpec::Fixed(n) => {
                    let value = Value::from(n);
                    if let Err(reason) = check_range(spec, &Number::from(n)) {
                        return Err(bad(format!("{id}.{}: {reason}", spec.name)));
                    }
                    value
                }
            };
            node.inputs.insert(spec.name.clone(), value.clone());
            applied.push(Override {
                node: id.clone(),
                input: spec.name.clone(),
                value,
            });
        }
    }
    if applied.is_empty() {
        let why = if linked.is_empty() {
            "the workflow has no seed input (an INT input with control_after_generate, or one named seed or noise_seed)".to_owned()
        } else {
            format!(
                "every seed input takes its value from another node: {}; set that node's value with --set",
                listed(&linked)
            )
        };
        return Err(bad(why));
    }
    Ok(applied)
}

/// A random seed within the input's range, at most [`RANDOM_SEED_MAX`].
fn random_seed(spec: &DeclaredInput) -> Value {
    let min = spec.min.as_ref().and_then(Number::as_u64).unwrap_or(0);
    let max = spec
        .max
        .as_ref()
        .and_then(Number::as_u64)
        .unwrap_or(u64::MAX)
        .min(RANDOM_SEED_MAX);
    if max <= min {
        return Value::from(min);
    }
    let (random, _) = uuid::Uuid::new_v4().as_u64_pair();
    // The span is at most 2^50 + 1: the modulo's bias is below 2^-13.
    Value::from(min + random % (max - min + 1))
}

fn apply_set(
    prompt: &mut ApiPrompt,
    info: &ObjectInfo,
    set: &SetSpec,
) -> Result<Override, SdkError> {
    let bad = |reason: String| SdkError::BadOverride {
        spec: set.shown(),
        reason,
    };
    let Some(node) = prompt.get(&set.node) else {
        let ids: Vec<String> = prompt
            .iter()
            .map(|(id, n)| format!("{id} ({})", n.class_type))
            .collect();
        return Err(bad(format!(
            "the workflow has no node {:?}; its nodes: {}",
            set.node,
            listed(&ids)
        )));
    };
    let class = info.class(&node.class_type).ok_or_else(|| {
        bad(format!(
            "node {}'s class {} is not on the instance, so its inputs are unknown",
            set.node, node.class_type
        ))
    })?;
    let Some(spec) = class.input(&set.input) else {
        let names: Vec<String> = class
            .inputs()
            .filter(|s| is_widget(s))
            .map(|s| format!("{} ({})", s.name, s.type_name()))
            .collect();
        return Err(bad(format!(
            "node {} ({}) has no input {:?}; its widget inputs: {}",
            set.node,
            class.name,
            set.input,
            if names.is_empty() {
                "none".to_owned()
            } else {
                listed(&names)
            }
        )));
    };
    if let Some(source) = node.inputs.get(&set.input).and_then(link_source) {
        return Err(bad(format!(
            "input {} of node {} is connected to node {source}'s output; set that node's value instead",
            set.input, set.node
        )));
    }
    let value = typed_value(spec, &set.value).map_err(bad)?;
    if let Some(node) = prompt.get_mut(&set.node) {
        node.inputs.insert(set.input.clone(), value.clone());
    }
    Ok(Override {
        node: set.node.clone(),
        input: set.input.clone(),
        value,
    })
}

/// Whether an input takes a value typed into its widget (not a link from another node).
fn is_widget(spec: &DeclaredInput) -> bool {
    !spec.force_input
        && matches!(
            spec.type_name(),
            "INT" | "FLOAT" | "BOOLEAN" | "STRING" | "COMBO"
        )
}

/// The node a link `[node_id, output_index]` comes from.
fn link_source(value: &Value) -> Option<&str> {
    match value.as_array()?.as_slice() {
        [Value::String(id), Value::Number(_)] => Some(id),
        _ => None,
    }
}

/// The text as a value of the input's type, checked against its range or choices.
fn typed_value(spec: &DeclaredInput, text: &str) -> Result<Value, String> {
    if let InputType::Combo(options) = &spec.kind {
        return combo_value(spec, options, text);
    }
    match spec.type_name() {
        _ if spec.force_input => Err(format!(
            "input {} is a socket only (forceInput): it takes a link, not a value",
            spec.name
        )),
        "INT" => {
            let n = parse_int(text).ok_or_else(|| {
                format!(
                    "input {} is an INT: {text:?} is not a whole number",
                    spec.name
                )
            })?;
            check_range(spec, &n)?;
            Ok(Value::Number(n))
        }
        "FLOAT" => {
            let x: f64 = text
                .trim()
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| {
                    format!("input {} is a FLOAT: {text:?} is not a number", spec.name)
                })?;
            let n = Number::from_f64(x).ok_or_else(|| format!("{text:?} is not a number"))?;
            check_range(spec, &n)?;
            Ok(Value::Number(n))
        }
        "BOOLEAN" => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!(
                "input {} is a BOOLEAN: {text:?} is neither true nor false",
                spec.name
            )),
        },
        "STRING" => Ok(Value::String(text.to_owned())),
        other => Err(format!(
            "input {} is a {other} socket, fed by a link; --set takes widget values (INT, FLOAT, BOOLEAN, STRING, COMBO)",
            spec.name
        )),
    }
}

fn parse_int(text: &str) -> Option<Number> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Some(Number::from(n));
    }
    text.parse::<i64>().ok().map(Number::from)
}

/// `n` against the input's `min` and `max`.
fn check_range(spec: &DeclaredInput, n: &Number) -> Result<(), String> {
    let below = spec.min.as_ref().is_some_and(|min| less(n, min));
    let above = spec.max.as_ref().is_some_and(|max| less(max, n));
    if !below && !above {
        return Ok(());
    }
    let bound = |b: &Option<Number>| b.as_ref().map_or_else(|| "-".to_owned(), Number::to_string);
    Err(format!(
        "{n} is outside input {}'s range {} to {}",
        spec.name,
        bound(&spec.min),
        bound(&spec.max)
    ))
}

/// `a < b` for JSON numbers: exact for integers, as floats otherwise.
fn less(a: &Number, b: &Number) -> bool {
    let int = |n: &Number| {
        n.as_u64()
            .map(i128::from)
            .or_else(|| n.as_i64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x < y,
        _ => a.as_f64().unwrap_or(f64::NAN) < b.as_f64().unwrap_or(f64::NAN),
    }
}

/// The choice the text names, or the error listing the valid ones.
fn combo_value(spec: &DeclaredInput, options: &[Value], text: &str) -> Result<Value, String> {
    let shown = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(found) = options.iter().find(|o| shown(o) == text) {
        return Ok(found.clone());
    }
    let all: Vec<String> = options.iter().map(shown).collect();
    if all.is_empty() {
        return Err(format!(
            "input {} is a COMBO with no choices on this instance",
            spec.name
        ));
    }
    // In a long list, the choices that contain the text first.
    let needle = text.to_lowercase();
    let long = all.len() > LISTED;
    let is_near = |c: &String| long && !needle.is_empty() && c.to_lowercase().contains(&needle);
    let mut ordered: Vec<&String> = all.iter().filter(|c| is_near(c)).collect();
    let near = ordered.len();
    ordered.extend(all.iter().filter(|c| !is_near(c)));
    let mut message = format!(
        "{text:?} is not a choice of input {} ({} choices",
        spec.name,
        all.len()
    );
    if near > 0 {
        let _ = write!(message, ", {near} containing {text:?} first");
    }
    message.push_str("): ");
    message.push_str(&listed_refs(&ordered));
    Err(message)
}

fn listed(names: &[String]) -> String {
    listed_refs(&names.iter().collect::<Vec<_>>())
}

/// `a, b, c` with at most [`LISTED`] names, then `and N more`.
fn listed_refs(names: &[&String]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(LISTED)
        .map(|n| format!("{n:?}"))
        .collect();
    let mut text = shown.join(", ");
    if names.len() > LISTED {
        let _ = write!(text, ", and {} more", names.len() - LISTED);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ObjectInfo {
        ObjectInfo::from_value((*comfy_local_fake_comfyui::fixtures::object_info()).clone())
    }

    fn prompt() -> ApiPrompt {
        serde_json::from_value(serde_json::json!({
            "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
            "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}},
            "3": {"class_type": "KSampler", "inputs": {"seed": 7, "steps": 20, "cfg": 8.0,
                  "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                  "model": ["9", 0], "positive": ["9", 1], "negative": ["9", 2], "latent_image": ["9", 3]}},
            "4": {"class_type": "RandomNoise", "inputs": {"noise_seed": ["5", 0]}},
            "6": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
        }))
        .unwrap()
    }

    fn set(prompt: &mut ApiPrompt, spec: &str) -> Result<Override, String> {
        let spec = SetSpec::parse(spec).map_err(|e| e.to_string())?;
        apply(prompt, &info(), &[spec], None)
            .map(|mut v| v.remove(0))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn values_are_typed_by_object_info() {
        let mut p = prompt();
        assert_eq!(set(&mut p, "1.width=128").unwrap().value, Value::from(128));
        assert_eq!(set(&mut p, "2.sigma=2.5").unwrap().value, Value::from(2.5));
        assert_eq!(
            set(&mut p, "6.filename_prefix=a=b.c").unwrap().value,
            Value::from("a=b.c")
        );
        assert_eq!(
            set(&mut p, "3.sampler_name=heun").unwrap().value,
            Value::from("heun")
        );
        assert_eq!(p["1"].inputs["width"], Value::from(128));
        assert_eq!(p["3"].inputs["sampler_name"], Value::from("heun"));
        assert_eq!(p["6"].inputs["filename_prefix"], Value::from("a=b.c"));
    }

    #[test]
    fn numbers_outside_the_range_and_wrong_types_are_refused() {
        let mut p = prompt();
        let e = set(&mut p, "1.width=0").unwrap_err();
        assert!(
            e.contains("0 is outside input width's range 1 to 16384"),
            "{e}"
        );
        let e = set(&mut p, "2.blur_radius=32").unwrap_err();
        assert!(e.contains("range 1 to 31"), "{e}");
        let e = set(&mut p, "1.width=1.5").unwrap_err();
        assert!(e.contains("is an INT"), "{e}");
        let e = set(&mut p, "2.sigma=nan").unwrap_err();
        assert!(e.contains("is a FLOAT"), "{e}");
        let e = set(&mut p, "2.sigma=0.01").unwrap_err();
        assert!(e.contains("range 0.1 to 10.0"), "{e}");
        assert_eq!(p["1"].inputs["width"], Value::from(64), "nothing changed");
    }

    #[test]
    fn a_wrong_choice_lists_the_valid_ones_nearest_first_and_not_all_of_a_long_list() {
        let mut p = prompt();
        let e = set(&mut p, "3.sampler_name=dpm").unwrap_err();
        assert!(
            e.contains("\"dpm\" is not a choice of input sampler_name"),
            "{e}"
        );
        assert!(e.contains("containing \"dpm\" first): \"dpm_2\""), "{e}");
        assert!(e.contains("and 22 more"), "{e}");
        assert!(!e.contains("\"uni_pc\""), "long lists are cut: {e}");
    }

    #[test]
    fn unknown_nodes_inputs_links_and_sockets_are_refused_naming_what_exists() {
        let mut p = prompt();
        let e = set(&mut p, "7.width=1").unwrap_err();
        assert!(
            e.contains("no node \"7\"") && e.contains("\"1 (EmptyImage)\""),
            "{e}"
        );
        let e = set(&mut p, "1.depth=1").unwrap_err();
        assert!(
            e.contains("no input \"depth\"") && e.contains("\"width (INT)\""),
            "{e}"
        );
        let e = set(&mut p, "4.noise_seed=1").unwrap_err();
        assert!(e.contains("connected to node 5's output"), "{e}");
        let e = set(&mut p, "3.model=x").unwrap_err();
        assert!(e.contains("connected to node 9"), "{e}");
        let e = set(&mut p, "1width=1").unwrap_err();
        assert!(e.contains("expected NODE_ID.input=VALUE"), "{e}");
    }

    #[test]
    fn seeds_are_every_unlinked_seed_like_input_and_set_wins() {
        let mut p = prompt();
        let sets = [SetSpec::parse("3.seed=9").unwrap()];
        let applied = apply(&mut p, &info(), &sets, Some(SeedSpec::Fixed(42))).unwrap();
        let seen: Vec<(&str, &str, &Value)> = applied
            .iter()
            .map(|o| (o.node.as_str(), o.input.as_str(), &o.value))
            .collect();
        assert_eq!(
            seen,
            [
                ("3", "seed", &Value::from(42)),
                ("3", "seed", &Value::from(9))
            ]
        );
        assert_eq!(p["3"].inputs["seed"], Value::from(9));
        assert_eq!(
            p["4"].inputs["noise_seed"],
            serde_json::json!(["5", 0]),
            "links stay"
        );
    }

    #[test]
    fn random_seeds_stay_in_range_and_differ() {
        let mut p = prompt();
        let a = apply(&mut p, &info(), &[], Some(SeedSpec::Random)).unwrap();
        let b = apply(&mut p, &info(), &[], Some(SeedSpec::Random)).unwrap();
        let n = |o: &[Override]| o[0].value.as_u64().unwrap();
        assert!(n(&a) <= RANDOM_SEED_MAX && n(&b) <= RANDOM_SEED_MAX);
        assert_ne!(
            n(&a),
            n(&b),
            "two random 50-bit seeds are equal once in 2^50"
        );
    }

    #[test]
    fn a_seed_without_seed_inputs_is_refused() {
        let mut p = prompt();
        assert_eq!(seedless(&p, &info()), None);
        p.shift_remove("3");
        let e = apply(&mut p, &info(), &[], Some(SeedSpec::Fixed(1))).unwrap_err();
        assert!(e.to_string().contains("4.noise_seed (from node 5)"), "{e}");
        p.shift_remove("4");
        assert!(seedless(&p, &info()).is_some_and(|why| why.contains("has no seed input")));
        let e = apply(&mut p, &info(), &[], Some(SeedSpec::Random)).unwrap_err();
        assert!(e.to_string().contains("has no seed input"), "{e}");
        assert!(SeedSpec::parse("-1").is_err());
        assert_eq!(SeedSpec::parse("RANDOM").unwrap(), SeedSpec::Random);
    }
}
