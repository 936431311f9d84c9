//! Configuration errors with positions. A [`ConfigError`] points either at a `file:line:col` in the
//! config file (1-based; the column counts characters, not bytes) or at the environment variable
//! whose value is wrong. [`LineIndex`] turns byte offsets from the TOML parser into positions and
//! never panics, whatever the offset.
use std::fmt;
use std::path::PathBuf;

/// One problem in the configuration.
///
/// Display is `PATH:LINE:COL: message` for problems in the file, and `NAME: message` (for example
/// `ONEONONE__DAEMON__HORIZON: invalid duration …`) when the `env` field is set; `line` and
/// `col` are then 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file (as given to `load`).
    pub file: PathBuf,
    /// 1-based line in `file`; 0 when the problem comes from the environment.
    pub line: usize,
    /// 1-based column (in characters) in `file`; 0 when the problem comes from the environment.
    pub col: usize,
    pub message: String,
    /// The environment variable holding the offending value, if it came from the environment.
    pub env: Option<String>,
}

impl ConfigError {
    /// An error at a position in the file.
    pub fn at(file: PathBuf, (line, col): (usize, usize), message: impl Into<String>) -> Self {
        ConfigError {
            file,
            line,
            col,
            message: message.into(),
            env: None,
        }
    }

    /// An error in the value of an environment variable.
    pub fn env(file: PathBuf, name: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file,
            line: 0,
            col: 0,
            message: message.into(),
            env: Some(name.into()),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.env {
            Some(name) => write!(f, "{name}: {}", self.message),
            None => write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one load, file problems first in file order, then environment problems
/// sorted by variable name. Never empty when returned by `load`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Sort into the documented order: file positions first (by line, column), then env variables.
    pub(crate) fn sorted(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by(|a, b| {
            (a.env.is_some(), &a.env, a.line, a.col).cmp(&(b.env.is_some(), &b.env, b.line, b.col))
        });
        errors.dedup();
        ConfigErrors(errors)
    }

    /// The individual errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Maps byte offsets of a text to 1-based (line, column) pairs.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of every line.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The 1-based (line, column) of a byte offset. Offsets past the end are clamped to the end;
    /// offsets inside a multi-byte character count as that character.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0).min(offset);
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line, col)
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.position(offset).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let idx = LineIndex::new("ab\nçd\n\nx");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(2), (1, 3));
        assert_eq!(idx.position(3), (2, 1));
        // "ç" is two bytes: "d" is the second character.
        assert_eq!(idx.position(5), (2, 2));
        // inside "ç" counts as "ç"
        assert_eq!(idx.position(4), (2, 1));
        assert_eq!(idx.position(7), (3, 1));
        assert_eq!(idx.position(8), (4, 1));
        assert_eq!(idx.position(1000), (4, 2));
        assert_eq!(LineIndex::new("").position(5), (1, 1));
    }

    #[test]
    fn display_formats() {
        let e = ConfigError::at("a/b.toml".into(), (3, 7), "bad");
        assert_eq!(e.to_string(), "a/b.toml:3:7: bad");
        let e = ConfigError::env("a/b.toml".into(), "ONEONONE__DAEMON__HORIZON", "bad");
        assert_eq!(e.to_string(), "ONEONONE__DAEMON__HORIZON: bad");
        let all = ConfigErrors::sorted(vec![
            ConfigError::env("f".into(), "B", "x"),
            ConfigError::at("f".into(), (2, 1), "y"),
            ConfigError::at("f".into(), (1, 5), "z"),
        ]);
        assert_eq!(all.to_string(), "f:1:5: z\nf:2:1: y\nB: x");
    }
}
