//! Line and column of every key and value, so that problems found after parsing can point into
//! the file. `serde_yaml` does the real parsing; this is a second, position-keeping pass with
//! yaml-rust2. When that pass fails (it should not on a file `serde_yaml` accepted) we simply have
//! no positions and errors name the key path only.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::keypath::{KeyPath, Location};

/// Where a key and its value start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// The mapping key (`port` of `port: 22`); `None` for sequence items and the root.
    pub key: Option<Location>,
    /// The value (`22` of `port: 22`).
    pub value: Location,
}

/// Positions of every node of the first document, by key path.
#[derive(Debug, Default)]
pub(crate) struct Spans {
    by_path: HashMap<KeyPath, Span>,
}

impl Spans {
    /// Build the position map; an unparseable text yields an empty map.
    pub(crate) fn build(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Self::default();
        }
        Self {
            by_path: builder.by_path,
        }
    }

    /// Where the key of `path` starts, else where its value starts.
    pub(crate) fn key(&self, path: &KeyPath) -> Option<Location> {
        self.by_path.get(path).map(|s| s.key.unwrap_or(s.value))
    }

    /// Where the value of `path` starts.
    pub(crate) fn value(&self, path: &KeyPath) -> Option<Location> {
        self.by_path.get(path).map(|s| s.value)
    }
}

#[derive(Debug)]
enum Frame {
    Map {
        path: KeyPath,
        /// The key just read and its position, waiting for its value.
        pending: Option<(String, Location)>,
    },
    Seq {
        path: KeyPath,
        next: usize,
    },
    /// A complex (non-scalar) mapping key: ignored, with its nesting depth.
    Skip(usize),
}

#[derive(Debug, Default)]
struct Builder {
    stack: Vec<Frame>,
    by_path: HashMap<KeyPath, Span>,
    done: bool,
}

fn location(mark: Marker) -> Location {
    // yaml-rust2 lines are 1-based, columns 0-based.
    Location {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

impl Builder {
    /// A node starts here: work out its path, record it, and say what it is.
    fn node(&mut self, mark: Marker, opens: bool) {
        let here = location(mark);
        let placed = match self.stack.last_mut() {
            None if self.done => return,
            None => Some((KeyPath::root(), None)),
            Some(Frame::Skip(depth)) => {
                if opens {
                    *depth += 1;
                }
                return;
            }
            Some(Frame::Map { path, pending }) => pending
                .take()
                .map(|(key, key_at)| (path.key(&key), Some(key_at))),
            Some(Frame::Seq { path, next }) => {
                let item = path.index(*next);
                *next += 1;
                Some((item, None))
            }
        };
        match placed {
            Some((path, key)) => {
                self.by_path
                    .entry(path.clone())
                    .or_insert(Span { key, value: here });
                if opens {
                    self.stack.push(Frame::Map {
                        path,
                        pending: None,
                    });
                }
            }
            None if opens => self.stack.push(Frame::Skip(1)),
            None => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, ..) => {
                if let Some(Frame::Map { pending, path }) = self.stack.last_mut()
                    && pending.is_none()
                {
                    let at = location(mark);
                    *pending = Some((text, at));
                    // yaml-rust2 marks a block mapping's start at its first `:`; the mapping
                    // really starts at its first key.
                    if let Some(span) = self.by_path.get_mut(path)
                        && (at.line, at.column) < (span.value.line, span.value.column)
                    {
                        span.value = at;
                    }
                    return;
                }
                self.node(mark, false);
            }
            Event::Alias(_) => {
                if let Some(Frame::Map { pending, .. }) = self.stack.last_mut()
                    && pending.is_none()
                {
                    *pending = Some((String::from("*alias"), location(mark)));
                    return;
                }
                self.node(mark, false);
            }
            Event::MappingStart(..) => self.node(mark, true),
            Event::SequenceStart(..) => {
                let before = self.stack.len();
                self.node(mark, true);
                // `node` pushes a Map frame for any opening node; make it a sequence.
                if self.stack.len() > before
                    && let Some(top) = self.stack.last_mut()
                    && let Frame::Map { path, .. } = top
                {
                    let path = std::mem::take(path);
                    *top = Frame::Seq { path, next: 0 };
                }
            }
            Event::MappingEnd | Event::SequenceEnd => match self.stack.last_mut() {
                Some(Frame::Skip(depth)) if *depth > 1 => *depth -= 1,
                Some(Frame::Skip(_)) => {
                    self.stack.pop();
                    // The complex key is done; its value comes next.
                    if let Some(Frame::Map { pending, .. }) = self.stack.last_mut() {
                        *pending = Some((String::from("?complex"), location(mark)));
                    }
                }
                _ => {
                    self.stack.pop();
                    if self.stack.is_empty() {
                        self.done = true;
                    }
                }
            },
            Event::DocumentEnd => self.done = true,
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(spans: &Spans, path: &str) -> Option<(usize, usize)> {
        spans
            .value(&KeyPath::parse(path))
            .map(|l| (l.line, l.column))
    }

    #[test]
    fn block_flow_and_sequences() {
        let spans = Spans::build("a:\n  b: 1\n  c: [x, {d: 2}]\ne:\n  - f: 3\n    g: 4\n");
        assert_eq!(at(&spans, "a"), Some((2, 3)));
        assert_eq!(at(&spans, "a.b"), Some((2, 6)));
        assert_eq!(at(&spans, "a.c[1].d"), Some((3, 14)));
        assert_eq!(at(&spans, "e[0]"), Some((5, 5)));
        assert_eq!(at(&spans, "e[0].g"), Some((6, 8)));
        assert_eq!(
            spans
                .key(&KeyPath::parse("e[0].g"))
                .map(|l| (l.line, l.column)),
            Some((6, 5))
        );
    }

    #[test]
    fn complex_keys_and_aliases_do_not_derail() {
        let spans = Spans::build("? [a, b]\n: 1\nx: &anchor {y: 2}\nz: *anchor\nw: 5\n");
        assert_eq!(at(&spans, "x.y"), Some((3, 16)));
        assert_eq!(at(&spans, "w"), Some((5, 4)));
    }

    #[test]
    fn unparseable_text_has_no_positions() {
        let spans = Spans::build("a: [\n");
        assert_eq!(at(&spans, "a"), None);
    }
}
