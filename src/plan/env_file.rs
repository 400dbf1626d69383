//! Reading a manifest's `env_file` entries at plan time.
//!
//! Invariant: no value read here ever reaches a message; a unit gets them
//! only through its environment (see docs/security.md).

use toml::Spanned;

use super::build::manifest_dir;
use crate::error::{Diagnostic, io_reason};
use crate::manifest::{EnvFile, Loaded, env_file};

/// The pairs of `entries`, in order, read relative to the manifest's folder.
/// A missing file is an error at its entry unless it is optional.
pub fn read(
    loaded: &Loaded,
    entries: &[Spanned<EnvFile>],
) -> Result<Vec<(String, String)>, Diagnostic> {
    let src = &loaded.source;
    let folder = manifest_dir(&src.path);
    let mut pairs = Vec::new();
    for entry in entries {
        let f = entry.get_ref();
        let path = folder.join(&f.path);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
                Diagnostic::new(format!("env file `{}` is not UTF-8 text", f.path))
                    .at(src, entry.span())
            })?,
            Err(e) if f.optional && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                let mut d = Diagnostic::new(format!(
                    "cannot read env file `{}`: {}",
                    f.path,
                    io_reason(&e)
                ))
                .at(src, entry.span());
                if e.kind() == std::io::ErrorKind::NotFound {
                    d = d.help(format!(
                        "the path is relative to the manifest's folder; for a file that may be \
                         missing, write `{{ path = \"{}\", optional = true }}`",
                        f.path
                    ));
                }
                return Err(d);
            }
        };
        let read = env_file::parse(&text).map_err(|e| {
            // The line itself is never shown: it may hold a secret.
            Diagnostic::new(format!("{}:{}: {}", f.path, e.line, e.message))
                .at(src, entry.span())
                .label("in this env file")
                .help("env files hold `KEY=VALUE` lines; `#` starts a comment")
        })?;
        pairs.extend(read);
    }
    Ok(pairs)
}
