//! Distinct texts numbered in order of appearance (labels, slice values), their sorted order as
//! scikit-learn sorts labels, and MLflow metric keys.

use std::collections::HashMap;

/// Texts numbered 0, 1, 2... in order of first appearance. Lookups scan a short list (fewer than
/// [`Dictionary::SCAN_LIMIT`] entries: class labels, a few slice values) and hash beyond that.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    texts: Vec<String>,
    /// Each text of at most 8 bytes packed in a u64 with its length (longer ones never match), so
    /// a short lookup (`"0"`, `"north"`) is a few integer compares.
    packed: Vec<(u64, usize)>,
    index: HashMap<String, u32>,
}

/// `text` as (bytes in a u64, length) when it fits.
#[inline]
fn pack(text: &str) -> Option<(u64, usize)> {
    let bytes = text.as_bytes();
    if bytes.len() > 8 {
        return None;
    }
    let word = bytes
        .iter()
        .rev()
        .fold(0u64, |word, byte| (word << 8) | u64::from(*byte));
    Some((word, bytes.len()))
}

impl Dictionary {
    const SCAN_LIMIT: usize = 16;

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    pub fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }

    #[inline]
    pub fn get(&self, text: &str) -> Option<u32> {
        if self.texts.len() <= Self::SCAN_LIMIT {
            if let Some(key) = pack(text) {
                return self
                    .packed
                    .iter()
                    .position(|known| *known == key)
                    .map(|position| position as u32);
            }
            return self
                .texts
                .iter()
                .position(|known| known == text)
                .map(|position| position as u32);
        }
        self.index.get(text).copied()
    }

    /// The id of `text`, numbering it when new.
    pub fn id(&mut self, text: &str) -> u32 {
        if let Some(id) = self.get(text) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.texts.push(text.to_owned());
        self.packed.push(pack(text).unwrap_or((0, usize::MAX)));
        if self.texts.len() > Self::SCAN_LIMIT {
            if self.index.is_empty() {
                for (position, known) in self.texts.iter().enumerate() {
                    self.index.insert(known.clone(), position as u32);
                }
            } else {
                self.index.insert(text.to_owned(), id);
            }
        }
        id
    }
}

/// A label as a number when it is one (scikit-learn sorts integer labels numerically).
fn as_number(label: &str) -> Option<f64> {
    let trimmed = label.trim();
    if trimmed.is_empty() {
        return None;
    }
    let value: f64 = trimmed.parse().ok()?;
    value.is_finite().then_some(value)
}

/// The order of `labels` as `np.unique` gives it: numerically when every label is a number, else
/// by code points (Python's string order). Returns the ids in sorted order.
pub fn sorted_order(labels: &[String]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..labels.len() as u32).collect();
    let numbers: Option<Vec<f64>> = labels.iter().map(|label| as_number(label)).collect();
    match numbers {
        Some(numbers) => order.sort_by(|a, b| {
            numbers[*a as usize]
                .total_cmp(&numbers[*b as usize])
                .then_with(|| labels[*a as usize].cmp(&labels[*b as usize]))
        }),
        None => order.sort_by(|a, b| labels[*a as usize].cmp(&labels[*b as usize])),
    }
    order
}

/// Whether `label` is the integer 1 (scikit-learn's default positive label).
pub fn is_one(label: &str) -> bool {
    as_number(label) == Some(1.0)
}

/// `text` within MLflow's metric key characters (alphanumerics, `_ - . space / :`); others become `_`.
pub fn metric_key_part(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_order_of_appearance_and_hashes_past_the_scan_limit() {
        let mut dictionary = Dictionary::default();
        assert_eq!(dictionary.id("b"), 0);
        assert_eq!(dictionary.id("a"), 1);
        assert_eq!(dictionary.id("b"), 0);
        for n in 0..40 {
            assert_eq!(dictionary.id(&format!("v{n}")), n + 2);
        }
        assert_eq!(dictionary.get("v39"), Some(41));
        assert_eq!(dictionary.get("a"), Some(1));
        assert_eq!(dictionary.get("zz"), None);
        assert_eq!(dictionary.id("zz"), 42);
        assert_eq!(dictionary.get("zz"), Some(42));
        // Short texts compare packed: a prefix or a zero byte is not a match.
        let mut short = Dictionary::default();
        assert_eq!(short.id("ab"), 0);
        assert_eq!(short.id("a"), 1);
        assert_eq!(short.id("a\0"), 2);
        assert_eq!(short.id("a long label"), 3);
        assert_eq!(short.get("a"), Some(1));
        assert_eq!(short.get("a\0"), Some(2));
        assert_eq!(short.get("a long label"), Some(3));
        assert_eq!(short.get("a long labe"), None);
        assert_eq!(short.get(""), None);
    }

    #[test]
    fn sorts_like_numpy_unique() {
        let check = |labels: &[&str], expected: &[&str]| {
            let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
            let sorted: Vec<&str> = sorted_order(&labels)
                .into_iter()
                .map(|id| labels[id as usize].as_str())
                .collect();
            assert_eq!(sorted, expected);
        };
        check(&["10", "2", "-1"], &["-1", "2", "10"]);
        check(&["b", "B", "a", "10", "2"], &["10", "2", "B", "a", "b"]);
        check(&["cat", "ant"], &["ant", "cat"]);
    }

    #[test]
    fn metric_keys_keep_mlflow_characters() {
        assert_eq!(metric_key_part("eu-west 1.a/b:c"), "eu-west 1.a_b:c");
        assert_eq!(metric_key_part("é=x"), "__x");
        assert_eq!(metric_key_part(""), "_");
    }
}
