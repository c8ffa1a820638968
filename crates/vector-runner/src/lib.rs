#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod kinds;
mod values;

use std::{
    fmt,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use serde_json::Value;

pub use kinds::IMPLEMENTED_KINDS;

/// The schema identifier every vector file carries.
pub const SCHEMA: &str = "mkb-vectors/1";

/// One vector file.
#[derive(Debug, Clone, Deserialize)]
pub struct VectorFile {
    /// Must be [`SCHEMA`].
    pub schema: String,
    /// Where the cases come from (`owner/repo`).
    #[serde(default)]
    pub source: String,
    /// The commit of the source they were read at.
    #[serde(default)]
    pub commit: String,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One known-answer case.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Unique within its file.
    pub id: String,
    /// What operation the case exercises, e.g. `recovery_key.decode`.
    pub kind: String,
    /// The operation's input.
    #[serde(default)]
    pub input: Value,
    /// A success object, or `{"error": "<class>"}`.
    #[serde(default)]
    pub expected: Value,
}

/// Which cases to run: kinds whose name starts with one of the prefixes (all when empty).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    prefixes: Vec<String>,
}

impl Filter {
    /// Every kind.
    pub fn all() -> Self {
        Self::default()
    }

    /// Kinds starting with any of these prefixes (`recovery_key` selects
    /// `recovery_key.decode` and `recovery_key.encode`).
    pub fn kinds<I, S>(prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            prefixes: prefixes.into_iter().map(Into::into).collect(),
        }
    }

    /// Only the kinds this build implements.
    pub fn implemented() -> Self {
        Self::kinds(IMPLEMENTED_KINDS.iter().copied())
    }

    /// Does the filter select `kind`?
    pub fn matches(&self, kind: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| kind.starts_with(p.as_str()))
    }
}

/// A case that did not pass.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The file it came from.
    pub file: PathBuf,
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// What differed.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} [{}]: {}",
            self.file.display(),
            self.id,
            self.kind,
            self.message
        )
    }
}

/// The result of running some vector files.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed, in file order.
    pub failures: Vec<Failure>,
}

impl Report {
    /// How many cases failed.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// One line per failing case.
    pub fn render_failures(&self) -> String {
        self.failures.iter().map(|f| format!("{f}\n")).collect()
    }

    /// The closing line, `N passed, M failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed())
    }
}

/// A vector file that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON of the vector schema.
    #[error("{path} is not a vector file: {reason}")]
    Format {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Parses a vector file's text.
pub fn parse_file(text: &str) -> Result<VectorFile, String> {
    let file: VectorFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if file.schema != SCHEMA {
        return Err(format!("schema is {:?}, expected {SCHEMA:?}", file.schema));
    }
    Ok(file)
}

/// Loads one vector file.
pub fn load_file(path: &Path) -> Result<VectorFile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_file(&text).map_err(|reason| LoadError::Format {
        path: path.to_owned(),
        reason,
    })
}

/// The `*.json` files under `paths` (folders searched recursively, sorted); files named
/// directly are taken whatever their extension.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Runs one case; `Err` says what differed.
pub fn run_case(case: &Case) -> Result<(), String> {
    kinds::run(case)
}

/// Runs every selected case of one parsed file.
pub fn run_file(path: &Path, file: &VectorFile, filter: &Filter, report: &mut Report) {
    for case in file.cases.iter().filter(|c| filter.matches(&c.kind)) {
        match run_case(case) {
            Ok(()) => report.passed += 1,
            Err(message) => report.failures.push(Failure {
                file: path.to_owned(),
                id: case.id.clone(),
                kind: case.kind.clone(),
                message,
            }),
        }
    }
}

/// Runs every selected case of every vector file under `paths`. A file that cannot be
/// read or parsed is an error: a vector suite that silently shrinks proves nothing.
pub fn run_paths(paths: &[PathBuf], filter: &Filter) -> Result<Report, LoadError> {
    let mut report = Report::default();
    for path in collect_files(paths)? {
        let file = load_file(&path)?;
        run_file(&path, &file, filter, &mut report);
    }
    Ok(report)
}
