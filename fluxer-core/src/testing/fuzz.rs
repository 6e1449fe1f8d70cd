//! Input mutation for the fuzz tests of the hosts (REST bodies, gateway frames): a seeded generator
//! that turns a valid JSON document into a near miss, the inputs that find parser and validation
//! bugs. It runs as an ordinary test for a bounded number of cases, so CI fuzzes on every run; a
//! failure prints the seed that reproduces it (`FLUXER_FUZZ_SEED=...`).

use serde_json::{Map, Value, json};

/// A small, fast, seeded generator (xorshift64*): the same seed gives the same cases.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// From `FLUXER_FUZZ_SEED` when set, else from the clock; the seed is printed so that a failure
    /// can be replayed.
    pub fn from_env() -> Rng {
        let seed = std::env::var("FLUXER_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        println!("fuzz seed: FLUXER_FUZZ_SEED={seed}");
        Rng::new(seed)
    }

    /// A generator from `seed` (0 is taken as 1: xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next number of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `true` once in `one_in` times on average (always when `one_in` is 0 or 1).
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    /// One of `items`, each as likely; panics when `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that break assumptions: wrong types, extremes, odd strings.
pub fn hostile_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 14 } else { 17 }) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(0),
        3 => json!(-1),
        4 => json!(u64::MAX),
        5 => json!(i64::MIN),
        6 => json!(1e308),
        7 => json!(0.5),
        8 => json!(""),
        9 => json!("x".repeat(rng.below(5000))),
        10 => json!("\u{0}\u{202e}\u{1F600}%00'\"<script>"),
        11 => json!("18446744073709551616"),
        12 => json!("9999-99-99"),
        13 => json!(["1", 2, null]),
        14 => Value::Array(
            (0..rng.below(50))
                .map(|_| hostile_value(rng, depth + 1))
                .collect(),
        ),
        15 => {
            let mut m = Map::new();
            for i in 0..rng.below(6) {
                m.insert(format!("k{i}"), hostile_value(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => {
            // Deep nesting, past serde_json's recursion limit (128): the classic stack exhaustion.
            let mut v = json!(1);
            for _ in 0..rng.below(600) {
                v = json!([v]);
            }
            v
        }
    }
}

/// Every path to a value inside `v` (object keys and array indices).
fn paths(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(Step::Key(k.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(Step::Index(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// A near miss of `valid`: a value replaced, a field removed or added, or the text itself damaged
/// (truncated, bytes flipped, duplicated). The result is text: it may not be JSON at all.
pub fn mutate(rng: &mut Rng, valid: &Value) -> String {
    let mut doc = valid.clone();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let mut all = Vec::new();
        paths(&doc, &mut Vec::new(), &mut all);
        let path = rng.pick(&all).clone();
        match rng.below(4) {
            0 | 1 => {
                if let Some(slot) = at(&mut doc, &path) {
                    *slot = hostile_value(rng, 0);
                }
            }
            2 => {
                if let Some((last, parent)) = path.split_last()
                    && let Some(parent) = at(&mut doc, parent)
                {
                    match (parent, last) {
                        (Value::Object(m), Step::Key(k)) => {
                            m.remove(k);
                        }
                        (Value::Array(a), Step::Index(i)) if *i < a.len() => {
                            a.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                if let Some(Value::Object(m)) = at(&mut doc, &path) {
                    m.insert(format!("extra{}", rng.below(9)), hostile_value(rng, 0));
                }
            }
        }
    }
    let mut text = doc.to_string();
    if rng.chance(4) {
        text = damage(rng, &text);
    }
    text
}

/// Byte-level damage that keeps the text valid UTF-8.
fn damage(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    match rng.below(4) {
        0 => chars.truncate(rng.below(chars.len() + 1)),
        1 => {
            for _ in 0..1 + rng.below(4) {
                if !chars.is_empty() {
                    let i = rng.below(chars.len());
                    chars[i] = *rng.pick(&['{', '}', '[', ']', '"', ',', ':', '\\', '\u{0}', 'é']);
                }
            }
        }
        2 => {
            let copy = chars.clone();
            chars.extend(copy);
        }
        _ => {
            let i = rng.below(chars.len() + 1);
            chars.insert(i, *rng.pick(&['"', '{', '\u{FFFF}', '\n']));
        }
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_cases_and_cases_differ() {
        let valid = json!({ "op": 2, "d": { "token": "t", "properties": { "os": "linux" } } });
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..50)
                .map(|_| mutate(&mut rng, &valid))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let cases = run(7);
        let distinct: std::collections::HashSet<_> = cases.iter().collect();
        assert!(distinct.len() > 40);
        assert!(
            cases
                .iter()
                .any(|c| serde_json::from_str::<Value>(c).is_err())
        );
        assert!(
            cases
                .iter()
                .any(|c| serde_json::from_str::<Value>(c).is_ok())
        );
    }
}
