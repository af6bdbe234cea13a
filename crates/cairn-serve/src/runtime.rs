//! Finding and loading ONNX Runtime (`libonnxruntime`), which `ort` opens at run time.
//!
//! Order: the `--ort-dylib` flag, `ORT_DYLIB_PATH`, then the `onnxruntime` package of the active Python
//! environment (`VIRTUAL_ENV`, then `python3`'s own), unless `CAIRN_SERVE_NO_PYTHON_LOOKUP` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ServeError;

/// How to get ONNX Runtime, appended to every "not found" message.
pub const HOW_TO_GET: &str =
    "install it with `pip install onnxruntime` in the active Python environment, \
or point ORT_DYLIB_PATH (or --ort-dylib) at libonnxruntime.so";

/// Where the library was found, and by which rule.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub how: &'static str,
}

/// Finds the library: `flag`, then `ORT_DYLIB_PATH`, then Python (unless disabled).
pub fn find(flag: Option<&Path>) -> Result<Found, ServeError> {
    if let Some(path) = flag {
        return existing(path, "--ort-dylib");
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|value| !value.is_empty()) {
        return existing(Path::new(&path), "ORT_DYLIB_PATH");
    }
    let python_lookup = std::env::var_os("CAIRN_SERVE_NO_PYTHON_LOOKUP")
        .is_none_or(|value| value.is_empty() || value == "0");
    if python_lookup {
        if let Some(path) = from_python() {
            return Ok(Found {
                path,
                how: "the Python environment's onnxruntime package",
            });
        }
    }
    Err(ServeError::Runtime(format!(
        "ONNX Runtime not found: {HOW_TO_GET}{}",
        if python_lookup {
            ""
        } else {
            " (the Python lookup is off: CAIRN_SERVE_NO_PYTHON_LOOKUP is set)"
        }
    )))
}

fn existing(path: &Path, how: &'static str) -> Result<Found, ServeError> {
    if path.is_file() {
        Ok(Found {
            path: path.to_path_buf(),
            how,
        })
    } else {
        Err(ServeError::Runtime(format!(
            "ONNX Runtime not found: {how} names {}, which is not a file; {HOW_TO_GET}",
            path.display()
        )))
    }
}

/// `libonnxruntime.so*` inside the `onnxruntime` package of the active Python environment.
fn from_python() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        candidates.extend(site_packages(Path::new(&venv)));
    }
    let interpreters = std::env::var_os("VIRTUAL_ENV")
        .map(|venv| Path::new(&venv).join("bin/python3"))
        .into_iter()
        .chain([PathBuf::from("python3")]);
    for interpreter in interpreters {
        let output = Command::new(&interpreter)
            .args([
                "-c",
                "import importlib.util, os; s = importlib.util.find_spec('onnxruntime'); \
                 print(os.path.dirname(s.origin) if s and s.origin else '')",
            ])
            .output();
        if let Ok(output) = output {
            let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if !text.is_empty() {
                candidates.push(PathBuf::from(text));
            }
        }
    }
    candidates
        .iter()
        .find_map(|package| library_in(&package.join("capi")))
}

fn site_packages(prefix: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(prefix.join("lib")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path().join("site-packages/onnxruntime"))
        .filter(|path| path.is_dir())
        .collect()
}

fn library_in(folder: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(folder)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.starts_with("libonnxruntime.so") || name == "libonnxruntime.dylib"
                })
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Loads the library once for the process and creates the environment sessions are built in.
pub fn load(found: &Found) -> Result<ort::environment::Environment, ServeError> {
    let builder = ort::init_from(&found.path).map_err(|error| {
        ServeError::Runtime(format!(
            "could not load ONNX Runtime from {} ({}): {error}; {HOW_TO_GET}",
            found.path.display(),
            found.how
        ))
    })?;
    builder
        .with_name("cairn-serve")
        .build()
        .map_err(|error| ServeError::Runtime(format!("ONNX Runtime environment: {error}")))
}
