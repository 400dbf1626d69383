//! `imgtool`: the tiny image helper that `jobs/images.toml` runs.
//!
//! Paths are taken as `OsString`s, so file names with spaces or non-UTF-8 bytes
//! work; parent folders of every output are created; errors go to stderr, exit 1.

use std::ffi::{OsStr, OsString};
use std::fmt::{Display, Write as _};
use std::io::Cursor;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::{env, fs};

use image::imageops::FilterType;
use image::{ColorType, DynamicImage, ImageFormat, ImageReader};

const USAGE: &str = "\
usage: imgtool thumb IN OUT SIZE      resize IN to fit SIZExSIZE (aspect kept), write OUT
       imgtool gray IN OUT            write a grayscale copy of IN to OUT
       imgtool index OUT.html FILE... write an HTML page: a row per picture, its FILEs side by side
                                      (FILE `-`: read the files' paths from stdin, one per line)
Formats: PNG and JPEG; the output format comes from OUT's extension.";

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("imgtool: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[OsString]) -> Result<()> {
    let cmd = args.first().and_then(|a| a.to_str()).unwrap_or("");
    let rest = args.get(1..).unwrap_or_default();
    match (cmd, rest) {
        ("thumb", [input, output, size]) => {
            let size = parse_size(size)?;
            let small = load(input.as_ref())?.resize(size, size, FilterType::Triangle);
            save(&small, output.as_ref())
        }
        ("gray", [input, output]) => save(&load(input.as_ref())?.grayscale(), output.as_ref()),
        ("index", [output, dash]) if dash == "-" => index(output.as_ref(), &stdin_lines()?),
        ("index", [output, files @ ..]) if !files.is_empty() => index(output.as_ref(), files),
        ("-h" | "--help" | "help", _) => {
            println!("{USAGE}");
            Ok(())
        }
        ("thumb" | "gray" | "index", _) => Err(format!("wrong arguments for `{cmd}`\n{USAGE}")),
        ("", _) => Err(format!("missing subcommand\n{USAGE}")),
        _ => Err(format!("unknown subcommand `{cmd}`\n{USAGE}")),
    }
}

/// Paths, one per line, for lists longer than a command line takes.
fn stdin_lines() -> Result<Vec<OsString>> {
    use std::os::unix::ffi::OsStringExt;
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut all)
        .map_err(|e| format!("cannot read the file list from stdin: {e}"))?;
    let files: Vec<OsString> = all
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| OsString::from_vec(l.to_vec()))
        .collect();
    if files.is_empty() {
        return Err("no files on stdin".into());
    }
    Ok(files)
}

fn parse_size(arg: &OsStr) -> Result<u32> {
    match arg.to_str().and_then(|s| s.parse::<u32>().ok()) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "SIZE must be an integer >= 1, not `{}`",
            arg.display()
        )),
    }
}

fn load(path: &Path) -> Result<DynamicImage> {
    let fail = |e: &dyn Display| format!("cannot read `{}`: {e}", path.display());
    ImageReader::open(path)
        .map_err(|e| fail(&e))?
        .with_guessed_format() // trust the content over the extension
        .map_err(|e| fail(&e))?
        .decode()
        .map_err(|e| fail(&e))
}

fn save(img: &DynamicImage, path: &Path) -> Result<()> {
    let fail = |e: &dyn Display| format!("cannot write `{}`: {e}", path.display());
    let format = ImageFormat::from_path(path)
        .ok()
        .filter(ImageFormat::writing_enabled)
        .ok_or_else(|| fail(&"the name must end in .png, .jpg or .jpeg"))?;
    // JPEG has no alpha channel and no 16-bit samples: convert to 8-bit gray or RGB.
    let converted;
    let jpeg_ready = matches!(img.color(), ColorType::L8 | ColorType::Rgb8);
    let img = if format == ImageFormat::Jpeg && !jpeg_ready {
        converted = if img.color().has_color() {
            DynamicImage::from(img.to_rgb8())
        } else {
            DynamicImage::from(img.to_luma8())
        };
        &converted
    } else {
        img
    };
    // Encode in memory first: a failed encode never leaves a half-written file.
    let mut bytes = Cursor::new(Vec::new());
    img.write_to(&mut bytes, format).map_err(|e| fail(&e))?;
    create_parent(path)?;
    fs::write(path, bytes.into_inner()).map_err(|e| fail(&e))
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create folder `{}`: {e}", dir.display())),
        _ => Ok(()),
    }
}

fn index(output: &Path, files: &[OsString]) -> Result<()> {
    create_parent(output)?;
    let out_dir = output.parent().filter(|d| !d.as_os_str().is_empty());
    let base = canonical(out_dir.unwrap_or(Path::new(".")))?;
    // One row per picture: the original (if given) and its variants, which
    // are named `<stem>-<size>.png` and `<stem>-<size>-gray.png`.
    let mut rows: Vec<(String, Vec<&OsString>)> = Vec::new();
    for file in files {
        let group = group_of(Path::new(file));
        match rows.iter_mut().find(|(g, _)| *g == group) {
            Some((_, members)) => members.push(file),
            None => rows.push((group, vec![file])),
        }
    }
    let mut html = String::from(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>jobrun example: pictures</title>\n\
         <style>body{font-family:sans-serif;margin:24px}\
         table{border-collapse:collapse}\
         td,th{border:1px solid #ddd;padding:8px;text-align:center;vertical-align:middle}\
         td{width:272px;height:272px}\
         img{max-width:256px;max-height:256px}\
         figcaption{font-size:12px;color:#555}</style>\n\
         <h1>jobrun example: pictures</h1>\n\
         <p>Each row: a picture, then the thumbnails and grayscale copies the job made \
         of it.</p>\n<table>\n",
    );
    for (_, members) in &mut rows {
        members.sort_by_key(|f| variant_order(Path::new(f)));
    }
    for (group, members) in &rows {
        write!(html, "<tr><th>{}</th>", escape(group)).expect("writing to a String cannot fail");
        for file in members {
            let path = Path::new(file);
            let (w, h) = image::image_dimensions(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            let rel = relative(&canonical(path)?, &base);
            let url = rel.components().map(|c| url_encode(c.as_os_str()));
            let url = url.collect::<Vec<_>>().join("/");
            let name = escape(&rel.file_name().unwrap_or_default().to_string_lossy());
            write!(
                html,
                "<td><figure><img src=\"{}\" width=\"{w}\" height=\"{h}\" alt=\"{name}\">\
                 <figcaption>{name} ({w}&times;{h})</figcaption></figure></td>",
                escape(&url)
            )
            .expect("writing to a String cannot fail");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    fs::write(output, html).map_err(|e| format!("cannot write `{}`: {e}", output.display()))
}

/// Within a row: the original, then by size, each colour copy before its gray one.
fn variant_order(path: &Path) -> (u8, u64, bool) {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let gray = stem.ends_with("-gray");
    let stem = stem.strip_suffix("-gray").unwrap_or(&stem);
    match stem.rsplit_once('-').and_then(|(_, size)| size.parse().ok()) {
        Some(size) => (1, size, gray),
        None => (0, 0, gray),
    }
}

/// The picture a file belongs to: its stem without a `-gray` and a
/// `-<size>` suffix (`red sunset-64-gray.png` -> `red sunset`).
fn group_of(path: &Path) -> String {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let stem = stem.strip_suffix("-gray").unwrap_or(&stem);
    match stem.rsplit_once('-') {
        Some((head, size)) if !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_owned()
        }
        _ => stem.to_owned(),
    }
}

fn canonical(path: &Path) -> Result<PathBuf> {
    fs::canonicalize(path).map_err(|e| format!("cannot resolve `{}`: {e}", path.display()))
}

/// `path` relative to `base`; both absolute and canonical.
fn relative(path: &Path, base: &Path) -> PathBuf {
    let (p, b): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let ups = b[common..].iter().map(|_| Component::ParentDir);
    ups.chain(p[common..].iter().copied()).collect()
}

/// Percent-encodes one path segment (bytes, so non-UTF-8 names survive too).
fn url_encode(segment: &OsStr) -> String {
    let mut out = String::new();
    for &b in segment.as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").expect("writing to a String cannot fail");
        }
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
