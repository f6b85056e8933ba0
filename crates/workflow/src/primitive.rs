//! What a `PrimitiveNode` makes of its value before pushing it into the widgets it feeds: the
//! frontend's number widgets (their options and callbacks) and the merge of the targets' configs.
//!
//! Rules (frontend 1.27 `widgetInputs.ts`): on load the primitive gets a widget like its first
//! target's; then, for a number (INT, FLOAT), every target's config is merged into the running
//! config in link order (`mergeInputSpec`: ranges intersected, steps combined as their lcm, every
//! other compared option equal, else no merge). After each successful merge the primitive's widget
//! is rebuilt from the merged config, its value clamped to the widget's `[min, max]` and run
//! through the widget's own callback (INT: rounded to its step; FLOAT: rounded and clamped).
//! `graphToPrompt` then pushes that value into each target, whose own callback runs on it.

use serde_json::Value;

use super::object_info::InputSpec;

/// A number config as `mergeInputSpec` sees it: `min`/`max` (infinite when absent), `step`
/// and the compared options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NumberConfig {
    float: bool,
    min: Option<f64>,
    max: Option<f64>,
    step: Option<f64>,
    compared: Vec<(String, Value)>,
}

impl NumberConfig {
    /// The config of a number input; `None` for any other type.
    pub(crate) fn of(spec: &InputSpec) -> Option<Self> {
        let float = match spec.type_name() {
            "INT" => false,
            "FLOAT" => true,
            _ => return None,
        };
        let n = &spec.numeric;
        Some(Self {
            float,
            min: n.min,
            max: n.max,
            step: n.step,
            compared: n.compared.clone(),
        })
    }

    /// `mergeNumericInputSpec`: `None` when the types or ranges do not overlap or a compared
    /// option differs (absent equals absent only).
    pub(crate) fn merge(&self, other: &Self) -> Option<Self> {
        if self.float != other.float {
            return None;
        }
        let (min1, max1) = (
            self.min.unwrap_or(f64::NEG_INFINITY),
            self.max.unwrap_or(f64::INFINITY),
        );
        let (min2, max2) = (
            other.min.unwrap_or(f64::NEG_INFINITY),
            other.max.unwrap_or(f64::INFINITY),
        );
        if min1 > max2 || max1 < min2 {
            return None;
        }
        // Both lists are sorted by name: equal lists are equal options.
        if self.compared != other.compared {
            return None;
        }
        Some(Self {
            float: self.float,
            min: Some(min1.max(min2)),
            max: Some(max1.min(max2)),
            step: Some(lcm(self.step.unwrap_or(1.0), other.step.unwrap_or(1.0))),
            compared: self.compared.clone(),
        })
    }

    fn round(&self) -> Option<f64> {
        self.compared
            .iter()
            .find(|(k, _)| k == "round")
            .and_then(|(_, v)| v.as_f64())
    }
}

/// The options of a number widget the frontend builds from a config (`useIntWidget`,
/// `useFloatWidget`), as far as its callback uses them.
pub(crate) struct NumberWidget {
    float: bool,
    min: f64,
    max: f64,
    /// `step2`: the step itself.
    step: f64,
    round: Option<f64>,
    precision: f64,
}

impl NumberWidget {
    /// The widget of a config: `min` 0 and `max` 2048 when absent, the step 1 (INT) or 0.5
    /// (FLOAT); a FLOAT rounds to its `round`, else to `10^-precision` of its step.
    pub(crate) fn of(c: &NumberConfig) -> Self {
        let min = c.min.unwrap_or(0.0);
        let max = c.max.unwrap_or(2048.0);
        if !c.float {
            return Self {
                float: false,
                min,
                max,
                step: c.step.unwrap_or(1.0),
                round: None,
                precision: 0.0,
            };
        }
        let step = c.step.unwrap_or(0.5);
        let precision = (-step.log10().floor()).max(0.0);
        let own = c.round().filter(|r| *r != 0.0);
        let round = if precision != 0.0 && own.is_none() {
            Some(10f64.powf(-precision))
        } else {
            own
        };
        Self {
            float: true,
            min,
            max,
            step,
            round,
            precision,
        }
    }

    /// `mergeIfValid`'s clamp of the primitive's value to the rebuilt widget's range (compared
    /// as JavaScript compares, a non-number converted first).
    pub(crate) fn clamp(&self, v: &Value) -> Value {
        let x = js_to_number(v);
        if x < self.min {
            js_number(self.min)
        } else if x > self.max {
            js_number(self.max)
        } else {
            v.clone()
        }
    }

    /// The widget's callback on a value (`onValueChange`, `onFloatValueChange`): an INT is
    /// rounded to its step (offset by `min % step`), a FLOAT with rounding is rounded to it,
    /// fixed to its precision and clamped; both convert a non-number as JavaScript's arithmetic
    /// does (`false` -> 0, `"12"` -> 12, `"abc"` -> NaN, written `null`). A FLOAT without
    /// rounding keeps the value as it is.
    pub(crate) fn callback(&self, v: &Value) -> Value {
        if self.float && self.round.is_none() {
            return v.clone();
        }
        let x = js_to_number(v);
        if !self.float {
            let step = if self.step == 0.0 { 1.0 } else { self.step };
            #[expect(clippy::float_cmp, reason = "JavaScript's `step === 1`, exactly")]
            let unit = step == 1.0;
            let out = if unit {
                js_round(x)
            } else {
                let offset = self.min % step;
                js_round((x - offset) / step) * step + offset
            };
            return js_number(out);
        }
        let Some(round) = self.round else {
            return v.clone();
        };
        if x.is_nan() {
            return Value::Null;
        }
        let rounded = js_round(x / round) * round;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a small non-negative digit count"
        )]
        let digits = self.precision.min(100.0) as usize;
        let fixed: f64 = format!("{rounded:.digits$}").parse().unwrap_or(rounded);
        js_number(fixed.max(self.min).min(self.max))
    }
}

/// What one primitive pushes, given its saved value and the configs of the widgets it feeds in
/// link order (`None` for a target whose config is unknown): each merge that succeeds rebuilds
/// its widget, clamps the value and runs the widget's callback. Non-number primitives push their
/// value as it is.
pub(crate) fn pushed_value(value: Value, targets: &[Option<&InputSpec>]) -> Value {
    let Some(first) = targets
        .first()
        .copied()
        .flatten()
        .and_then(NumberConfig::of)
    else {
        return value;
    };
    let mut config: Option<NumberConfig> = None;
    let mut v = value;
    for spec in targets.iter().copied().flatten() {
        let Some(other) = NumberConfig::of(spec) else {
            continue;
        };
        let Some(merged) = config.as_ref().unwrap_or(&first).merge(&other) else {
            continue;
        };
        let widget = NumberWidget::of(&merged);
        v = widget.callback(&widget.clamp(&v));
        config = Some(merged);
    }
    v
}

/// What a target widget's own callback makes of a pushed value (`applyToGraph` calls it).
pub(crate) fn target_callback(spec: &InputSpec, v: &Value) -> Value {
    match NumberConfig::of(spec) {
        Some(c) => NumberWidget::of(&c).callback(v),
        None => v.clone(),
    }
}

/// The frontend's `lcm` (`|a * b| / gcd(a, b)`, `gcd` by remainders, floats included). The
/// recursion of `gcd` is a loop here, cut after 10,000 steps (the depth at which a browser's
/// stack would overflow, near enough).
fn lcm(a: f64, b: f64) -> f64 {
    let (mut x, mut y) = (a, b);
    for _ in 0..10_000 {
        if y == 0.0 {
            break;
        }
        (x, y) = (y, x % y);
    }
    (a * b).abs() / x
}

/// JavaScript's `ToNumber` of a JSON value: booleans 0/1, `null` 0, a string by its trimmed
/// numeric text (empty is 0, `0x` hexadecimal, `Infinity`), anything else NaN (an array of
/// one number aside, which JavaScript also converts).
fn js_to_number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Null => 0.0,
        Value::String(s) => string_to_number(s),
        Value::Array(a) if a.is_empty() => 0.0,
        Value::Array(a) if a.len() == 1 && !a[0].is_array() && !a[0].is_object() => match &a[0] {
            Value::Null => 0.0,
            Value::String(s) => string_to_number(s),
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            _ => f64::NAN,
        },
        _ => f64::NAN,
    }
}

fn string_to_number(s: &str) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    let (sign, body) = match t.as_bytes()[0] {
        b'-' => (-1.0, &t[1..]),
        b'+' => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            // JavaScript takes no sign before a radix prefix.
            return u64::from_str_radix(digits, radix).map_or(f64::NAN, |n| {
                #[expect(clippy::cast_precision_loss, reason = "JavaScript's numbers are f64")]
                let x = n as f64;
                x
            });
        }
    }
    // Rust also reads `inf`, `nan` and `infinity`, JavaScript does not.
    if body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        t.parse().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

/// JavaScript's `Math.round` (halves toward +infinity).
fn js_round(x: f64) -> f64 {
    (x + 0.5).floor()
}

/// A number as JavaScript's `JSON.stringify` writes it: integral values without a fraction,
/// NaN and infinities as `null`.
fn js_number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "integral and within 2^53, so exact"
        )]
        return Value::from(x as i64);
    }
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{NumberConfig, NumberWidget, js_to_number, lcm};

    #[test]
    fn non_numbers_convert_as_in_javascript() {
        for (v, want) in [
            (json!(false), 0.0),
            (json!(true), 1.0),
            (json!(null), 0.0),
            (json!(""), 0.0),
            (json!(" 12 "), 12.0),
            (json!("-1.5e1"), -15.0),
            (json!("0x10"), 16.0),
            (json!("-Infinity"), f64::NEG_INFINITY),
            (json!([]), 0.0),
            (json!(["7"]), 7.0),
        ] {
            let got = js_to_number(&v);
            assert!(
                got.to_bits() == want.to_bits() || (got - want).abs() < 1e-12,
                "{v}"
            );
        }
        for v in [
            json!("abc"),
            json!("inf"),
            json!("nan"),
            json!("-0x10"),
            json!({}),
            json!([1, 2]),
        ] {
            assert!(js_to_number(&v).is_nan(), "{v}");
        }
    }

    #[test]
    fn steps_combine_as_their_lcm() {
        assert!((lcm(16.0, 1.0) - 16.0).abs() < 1e-12);
        assert!((lcm(4.0, 6.0) - 12.0).abs() < 1e-12);
        assert!((lcm(0.01, 0.01) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn an_int_widget_rounds_a_pushed_boolean_to_zero() {
        let c = NumberConfig {
            float: false,
            min: Some(0.0),
            max: Some(10.0),
            step: None,
            compared: Vec::new(),
        };
        let w = NumberWidget::of(&c);
        assert_eq!(w.callback(&json!(false)), json!(0));
        assert_eq!(w.callback(&json!("abc")), json!(null));
        assert_eq!(w.clamp(&json!(12)), json!(10));
    }
}
