//! Opening files that must be regular: job files and unit inputs.
//!
//! A FIFO with no writer blocks `open`, and a device such as `/dev/zero`
//! never ends; jobrun reads neither. The open never blocks (O_NONBLOCK), and
//! the type is checked on the open file, so a path swapped after a `stat`
//! cannot slip a FIFO or a device in.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file could not be opened as a regular file.
#[derive(Debug)]
pub enum OpenError {
    Io(io::Error),
    /// What it is instead: `a FIFO`, `a directory`, ...
    NotRegular(&'static str),
}

/// `path` opened for reading, with its metadata, if it is a regular file.
pub fn open(path: &Path) -> Result<(File, Metadata), OpenError> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(OpenError::Io)?;
    let meta = file.metadata().map_err(OpenError::Io)?;
    match kind(&meta) {
        // O_NONBLOCK does nothing to reads of a regular file.
        None => Ok((file, meta)),
        Some(k) => Err(OpenError::NotRegular(k)),
    }
}

/// What kind of file `meta` describes, or None for a regular file.
pub fn kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("a special file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("f");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(open(&fifo), Err(OpenError::NotRegular("a FIFO"))));
        assert!(matches!(
            open(Path::new("/dev/zero")),
            Err(OpenError::NotRegular("a character device"))
        ));
        assert!(matches!(
            open(dir.path()),
            Err(OpenError::NotRegular("a directory"))
        ));
        let file = dir.path().join("r");
        std::fs::write(&file, b"x").expect("write");
        assert!(open(&file).is_ok());
        assert!(matches!(
            open(&dir.path().join("none")),
            Err(OpenError::Io(_))
        ));
    }
}
