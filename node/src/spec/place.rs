//! Where in a TOML file a problem is: file, line, column and key, in one line.
//!
//! Both the network spec and a home's `config.toml` report their mistakes through
//! [`TomlText`], so every error a user sees in either file reads the same way:
//! `FILE, line L, column C, key K: what is wrong`.

use std::fmt::Display;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::NodeError;

/// A TOML text and the name it is shown by (a path, or "network spec").
#[derive(Debug, Clone, Copy)]
pub(crate) struct TomlText<'a> {
    /// How the text is named in errors.
    pub(crate) origin: &'a str,
    /// The text.
    pub(crate) text: &'a str,
}

impl<'a> TomlText<'a> {
    pub(crate) fn new(origin: &'a str, text: &'a str) -> TomlText<'a> {
        TomlText { origin, text }
    }

    /// Deserializes the text; a mistake is one line naming its place.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, NodeError> {
        toml::from_str(self.text).map_err(|e| {
            let message = one_line(e.message());
            match e.span() {
                Some(span) => self.error_at_offset(span.start, message),
                None => NodeError::Config(format!("{}: {message}", self.origin)),
            }
        })
    }

    /// An error about the value at `path` (table keys, or array indices as numbers).
    pub(crate) fn error(&self, path: &[&str], message: impl Display) -> NodeError {
        let message = one_line(&message.to_string());
        let key = show_key(path.iter().map(|s| s.to_string()));
        let offset = DeTable::parse(self.text)
            .ok()
            .and_then(|doc| locate(doc.get_ref(), path));
        match offset {
            Some(offset) => {
                let (line, column) = line_column(self.text, offset);
                NodeError::Config(format!(
                    "{}, line {line}, column {column}, key {key}: {message}",
                    self.origin
                ))
            }
            None => NodeError::Config(format!("{}, key {key}: {message}", self.origin)),
        }
    }

    fn error_at_offset(&self, offset: usize, message: String) -> NodeError {
        let (line, column) = line_column(self.text, offset);
        let key = DeTable::parse(self.text).ok().and_then(|doc| {
            let mut path = Vec::new();
            find(doc.get_ref(), offset, &mut path).then(|| show_key(path.into_iter()))
        });
        let key = key.map(|k| format!(", key {k}")).unwrap_or_default();
        NodeError::Config(format!(
            "{}, line {line}, column {column}{key}: {message}",
            self.origin
        ))
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `network.genesis_checkers[1]` from `["network", "genesis_checkers", "1"]`.
fn show_key(parts: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for part in parts {
        if part.bytes().all(|b| b.is_ascii_digit()) && !out.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    format!("`{out}`")
}

fn contains<T>(spanned: &Spanned<T>, offset: usize) -> bool {
    let span = spanned.span();
    span.start <= offset && offset < span.end.max(span.start + 1)
}

/// Pushes onto `path` the deepest key whose key or value holds `offset`.
fn find(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        if find_in_value(value.get_ref(), offset, path)
            || contains(key, offset)
            || contains(value, offset)
        {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(value: &DeValue<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    match value {
        DeValue::Table(table) => find(table, offset, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                if find_in_value(item.get_ref(), offset, path) || contains(item, offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// The offset of the value at `path`.
fn locate(table: &DeTable<'_>, path: &[&str]) -> Option<usize> {
    let (first, rest) = path.split_first()?;
    let (_, value) = table.iter().find(|(k, _)| k.get_ref() == first)?;
    locate_value(value, rest)
}

fn locate_value(value: &Spanned<DeValue<'_>>, path: &[&str]) -> Option<usize> {
    let Some((first, rest)) = path.split_first() else {
        return Some(value.span().start);
    };
    match value.get_ref() {
        DeValue::Table(table) => {
            let (_, inner) = table.iter().find(|(k, _)| k.get_ref() == first)?;
            locate_value(inner, rest)
        }
        DeValue::Array(items) => locate_value(items.get(first.parse::<usize>().ok()?)?, rest),
        _ => None,
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count() + 1);
    (line, column)
}
