//! Downloading a public data set's release (basins_study::manifest::datasets): fetch the archive
//! (or the one file of a single-file release) over HTTP(S), take the members a study reads, check
//! each against its pinned sha256, and only then write them. Nothing half-written survives: the
//! archive goes to a scratch file, each member is checked in memory before it is written, and
//! the engine moves a node's outputs into the cache only when the node succeeds, so an
//! interrupted or corrupted download leaves nothing behind and the next run starts again.
//!
//! `BASINS_DATA_URL` replaces the release URL's directory (a mirror, or the tests' local server):
//! the archive's file name is appended to it. It is not part of the node's key: the pinned
//! digests, which are, decide what is accepted.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use basins_study::manifest::datasets::DownloadSpec;
use sha2::{Digest, Sha256};

/// The environment variable that points downloads at a mirror.
pub const DATA_URL_VAR: &str = "BASINS_DATA_URL";

/// The URL to fetch: the release's, or its file name under `BASINS_DATA_URL`.
pub fn resolve_url(url: &str, mirror: Option<&str>) -> String {
    match mirror.filter(|m| !m.is_empty()) {
        Some(base) => {
            let file = url.rsplit('/').next().unwrap_or(url);
            format!("{}/{file}", base.trim_end_matches('/'))
        }
        None => url.to_owned(),
    }
}

/// Fetch `url` into `to`, reporting progress through `progress(done, total)`.
pub fn fetch(
    url: &str,
    to: &Path,
    mut progress: impl FnMut(u64, Option<u64>),
) -> anyhow::Result<u64> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .build();
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => bail!(
            "{url}: the server answered {code} {}{}",
            r.status_text(),
            match code {
                401 | 403 =>
                    " (the data set is not public at this address; set BASINS_DATA_URL to a mirror)",
                404 =>
                    " (no such file; the release may have moved: set BASINS_DATA_URL to a mirror)",
                _ => "",
            }
        ),
        Err(e) => bail!("{url}: {e} (no network? set BASINS_DATA_URL to a mirror you can reach)"),
    };
    let total = response
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok());
    let mut reader = response.into_reader();
    let mut file =
        std::fs::File::create(to).with_context(|| format!("creating {}", to.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("{url}: the connection broke after {done} bytes"))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])?;
        done += n as u64;
        progress(done, total);
    }
    if let Some(total) = total.filter(|&t| t != done) {
        bail!("{url}: the download ended after {done} of {total} bytes");
    }
    file.sync_all()?;
    Ok(done)
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Take every member `spec` names out of the zip archive at `archive` (or, for a single-file
/// release, the download itself), check it, and write it to `out_dir` under its output name.
/// Every member is checked before any is written.
pub fn unpack(spec: &DownloadSpec, archive: &Path, out_dir: &Path) -> anyhow::Result<()> {
    if spec.single_file {
        let (output, pinned) = spec
            .files
            .iter()
            .next()
            .context("a single-file release names its file")?;
        let bytes = std::fs::read(archive)?;
        check_member(spec, &pinned.member, &pinned.sha256, &bytes)?;
        std::fs::write(out_dir.join(output), bytes)?;
        return Ok(());
    }
    let file = std::fs::File::open(archive)?;
    let mut zip =
        zip::ZipArchive::new(file).with_context(|| format!("{}: not a zip archive", spec.url))?;
    let mut checked = Vec::new();
    for (output, pinned) in &spec.files {
        let mut member = zip
            .by_name(&pinned.member)
            .with_context(|| format!("{}: the archive has no `{}`", spec.url, pinned.member))?;
        let mut bytes = Vec::with_capacity(member.size() as usize);
        member
            .read_to_end(&mut bytes)
            .with_context(|| format!("{}: reading `{}`", spec.url, pinned.member))?;
        check_member(spec, &pinned.member, &pinned.sha256, &bytes)?;
        checked.push((output, bytes));
    }
    for (output, bytes) in checked {
        std::fs::write(out_dir.join(output), bytes)?;
    }
    Ok(())
}

fn check_member(
    spec: &DownloadSpec,
    member: &str,
    sha256: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let got = sha256_hex(bytes);
    if got != sha256 {
        bail!(
            "{}: `{member}` has sha256 {got}, expected {sha256} (a corrupted download, or not \
             the release basins pins: nothing was kept)",
            spec.url,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_replaces_the_directory_of_the_url() {
        let url = "https://nyu-mll.github.io/CoLA/cola_public_1.1.zip";
        assert_eq!(resolve_url(url, None), url);
        assert_eq!(resolve_url(url, Some("")), url);
        assert_eq!(
            resolve_url(url, Some("http://127.0.0.1:8000/data/")),
            "http://127.0.0.1:8000/data/cola_public_1.1.zip"
        );
    }

    #[test]
    fn a_single_file_release_is_the_file_checked_whole() {
        let spec = basins_study::manifest::datasets::find("paws/qqp")
            .unwrap()
            .spec();
        assert!(spec.single_file);
        assert_eq!(
            resolve_url(&spec.url, Some("http://127.0.0.1:1/m")),
            "http://127.0.0.1:1/m/dev_and_test.tsv"
        );
        let dir = tempfile::tempdir().unwrap();
        let body = b"id\tsentence1\tsentence2\tlabel\n1\ta b\tb a\t0\n";
        std::fs::write(dir.path().join("got"), body).unwrap();
        // Not the paper's bytes: refused, nothing written.
        let e = unpack(&spec, &dir.path().join("got"), dir.path()).unwrap_err();
        assert!(e.to_string().contains("has sha256"), "{e}");
        assert!(!dir.path().join("eval.tsv").exists());
        // The bytes a spec pins: written as the eval output.
        let mut pinned = spec.clone();
        pinned.files.get_mut("eval.tsv").unwrap().sha256 = sha256_hex(body);
        unpack(&pinned, &dir.path().join("got"), dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("eval.tsv")).unwrap(), body);
    }

    #[test]
    fn sha256_matches_a_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
