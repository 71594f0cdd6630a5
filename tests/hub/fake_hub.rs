//! A local server that answers as the Hugging Face Hub does
//! (`/api/models/{repo}/revision/{rev}?blobs=true`, `/{repo}/resolve/{commit}/{file}` with
//! `Range`, and the same for data sets under `/api/datasets/` and `/datasets/`), serving
//! all-MiniLM-L6-v2 as `scripts/fetch-minilm` caches it and whatever data sets a test adds, and
//! failing on demand (a dropped connection, a flipped byte, 401).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sha2::Digest;

use super::common;
use super::REPO;
use super::{COMMIT_A, COMMIT_B};

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Mode {
    Good,
    /// The weights' body is cut in half (the full length announced), then the connection closes.
    Drop,
    /// model.safetensors arrives with one byte flipped.
    Corrupt,
    Unauthorized,
}

#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) url: String,
    pub(crate) range: Option<String>,
    pub(crate) auth: Option<String>,
}

/// A repository's files at one revision: name -> bytes.
pub(crate) type Files = BTreeMap<String, Vec<u8>>;

pub(crate) struct State {
    pub(crate) mode: Mode,
    /// The commit `main` points at.
    pub(crate) main: String,
    /// repo -> file name -> bytes.
    pub(crate) repos: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Other files by URL path (a data set's release archive).
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    /// (repo, branch or tag) -> (its commit, its files): revisions other than `main`.
    pub(crate) revisions: BTreeMap<(String, String), (String, Files)>,
    /// Data set repositories: (repo, branch or tag) -> (its commit, its files).
    pub(crate) datasets: BTreeMap<(String, String), (String, Files)>,
    pub(crate) seen: Vec<Seen>,
}

pub(crate) struct Hub {
    pub(crate) url: String,
    pub(crate) state: Arc<Mutex<State>>,
}

impl Hub {
    pub(crate) fn set_mode(&self, m: Mode) {
        self.state.lock().unwrap().mode = m;
    }
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
    pub(crate) fn downloads(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.url.contains("/resolve/"))
            .collect()
    }
    pub(crate) fn add_revision(
        &self,
        repo: &str,
        rev: &str,
        commit: &str,
        files: BTreeMap<String, Vec<u8>>,
    ) {
        self.state.lock().unwrap().revisions.insert(
            (repo.to_owned(), rev.to_owned()),
            (commit.to_owned(), files),
        );
    }
    /// A data set repository whose revision `rev` (a branch, a tag, `refs/convert/parquet`)
    /// is at `commit` with `files`.
    pub(crate) fn add_dataset(&self, repo: &str, rev: &str, commit: &str, files: Files) {
        self.state.lock().unwrap().datasets.insert(
            (repo.to_owned(), rev.to_owned()),
            (commit.to_owned(), files),
        );
    }
    pub(crate) fn add_repo(&self, repo: &str, files: BTreeMap<String, Vec<u8>>) {
        self.state
            .lock()
            .unwrap()
            .repos
            .insert(repo.to_owned(), files);
    }
}

pub(crate) fn git_blob(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex(&h.finalize())
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The files the fake Hub keeps in LFS (listed with their sha256), and the ones `Mode::Drop`
/// and `Mode::Corrupt` damage.
fn is_lfs(name: &str) -> bool {
    name.ends_with(".safetensors") || name.ends_with(".parquet")
}

pub(crate) fn info(repo: &str, commit: &str, files: &BTreeMap<String, Vec<u8>>) -> Value {
    let siblings: Vec<Value> = files
        .iter()
        .map(|(name, bytes)| {
            if is_lfs(name) {
                json!({"rfilename": name, "size": bytes.len(), "blobId": "0".repeat(40),
                       "lfs": {"sha256": hex(&sha2::Sha256::digest(bytes)), "size": bytes.len(), "pointerSize": 134}})
            } else {
                json!({"rfilename": name, "size": bytes.len(), "blobId": git_blob(bytes)})
            }
        })
        .collect();
    json!({"id": repo, "sha": commit, "siblings": siblings})
}

pub(crate) fn respond(rq: tiny_http::Request, st: &mut State) {
    let url = rq.url().to_owned();
    let header = |name: &'static str| {
        rq.headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_owned())
    };
    st.seen.push(Seen {
        url: url.clone(),
        range: header("Range"),
        auth: header("Authorization"),
    });
    if st.mode == Mode::Unauthorized {
        let _ = rq.respond(tiny_http::Response::empty(401));
        return;
    }
    let path = url.split('?').next().unwrap_or("").to_owned();
    if let Some(bytes) = st.files.get(&path) {
        let _ = rq.respond(tiny_http::Response::from_data(bytes.clone()));
        return;
    }
    if let Some(rest) = path.strip_prefix("/api/datasets/") {
        let found = rest.split_once("/revision/").and_then(|(repo, rev)| {
            let rev = rev.replace("%2F", "/");
            st.datasets
                .iter()
                .find(|((r, name), (c, _))| r == repo && (*name == rev || *c == rev))
                .map(|((r, _), (c, files))| info(r, c, files).to_string())
        });
        let _ = match found {
            Some(body) => rq.respond(tiny_http::Response::from_string(body)),
            None => rq.respond(tiny_http::Response::empty(404)),
        };
        return;
    }
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let Some((repo, rev)) = rest.split_once("/revision/") else {
            let _ = rq.respond(tiny_http::Response::empty(404));
            return;
        };
        // A revision asked for by its name or by its commit.
        let named = st
            .revisions
            .iter()
            .find(|((r, name), (c, _))| r == repo && (name == rev || c == rev))
            .map(|(_, v)| v);
        if let Some((commit, files)) = named {
            let body = info(repo, commit, files).to_string();
            let _ = rq.respond(tiny_http::Response::from_string(body));
            return;
        }
        let commit = match rev {
            "main" => st.main.clone(),
            c if c == COMMIT_A || c == COMMIT_B => c.to_owned(),
            _ => {
                let _ = rq.respond(tiny_http::Response::empty(404));
                return;
            }
        };
        match st.repos.get(repo) {
            Some(files) => {
                let body = info(repo, &commit, files).to_string();
                let _ = rq.respond(tiny_http::Response::from_string(body));
            }
            None => {
                let _ = rq.respond(tiny_http::Response::empty(404));
            }
        }
        return;
    }
    // /{owner}/{name}/resolve/{commit}/{file}, or /datasets/{owner}/{name}/resolve/...
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let dataset: Vec<&str> = path.trim_start_matches('/').splitn(6, '/').collect();
    let found = match (parts.as_slice(), dataset.as_slice()) {
        (_, ["datasets", owner, name, "resolve", commit, file]) => {
            let repo = format!("{owner}/{name}");
            st.datasets
                .iter()
                .find(|((r, _), (c, _))| *r == repo && c == commit)
                .and_then(|(_, (_, files))| files.get(*file))
                .map(|b| (file.to_string(), b.clone()))
        }
        (parts, _) => match parts {
            [owner, name, "resolve", commit, file] => {
                let repo = format!("{owner}/{name}");
                // A revision's own files at its commit; the repository's otherwise.
                let at_revision = st
                    .revisions
                    .iter()
                    .find(|((r, _), (c, _))| *r == repo && c == commit)
                    .map(|(_, (_, files))| files);
                at_revision
                    .or_else(|| st.repos.get(&repo))
                    .and_then(|f| f.get(*file))
                    .map(|b| (file.to_string(), b.clone()))
            }
            _ => None,
        },
    };
    let Some((file, mut bytes)) = found else {
        let _ = rq.respond(tiny_http::Response::empty(404));
        return;
    };
    if st.mode == Mode::Corrupt && is_lfs(&file) {
        let at = 1000.min(bytes.len() / 2);
        bytes[at] ^= 1;
    }
    let len = bytes.len();
    let start = header("Range")
        .and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        })
        .filter(|&s| s < len);
    let (status, body, mut headers) = match start {
        Some(s) => (
            206,
            bytes[s..].to_vec(),
            vec![tiny_http::Header::from_bytes(
                "Content-Range",
                format!("bytes {s}-{}/{len}", len - 1),
            )
            .unwrap()],
        ),
        None => (200, bytes, vec![]),
    };
    headers.push(tiny_http::Header::from_bytes("X-Repo-Commit", st.main.as_str()).unwrap());
    let announced = body.len();
    let sent = if st.mode == Mode::Drop && is_lfs(&file) {
        // The connection closes after what was sent.
        headers.push(tiny_http::Header::from_bytes("Connection", "close").unwrap());
        body[..announced / 2].to_vec()
    } else {
        body
    };
    let _ = rq.respond(tiny_http::Response::new(
        status.into(),
        headers,
        std::io::Cursor::new(sent),
        Some(announced),
        None,
    ));
}

/// The fake Hub serving all-MiniLM-L6-v2 as `REPO`.
pub(crate) fn serve() -> Hub {
    let mut minilm = BTreeMap::new();
    for e in std::fs::read_dir(common::minilm_dir()).unwrap().flatten() {
        minilm.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).unwrap(),
        );
    }
    serve_repos([(REPO.to_owned(), minilm)].into())
}

/// The fake Hub serving these model repositories (and no data sets until a test adds them).
pub(crate) fn serve_repos(repos: BTreeMap<String, Files>) -> Hub {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let state = Arc::new(Mutex::new(State {
        mode: Mode::Good,
        main: COMMIT_A.to_owned(),
        repos,
        files: BTreeMap::new(),
        revisions: BTreeMap::new(),
        datasets: BTreeMap::new(),
        seen: vec![],
    }));
    let st = state.clone();
    std::thread::spawn(move || {
        for rq in server.incoming_requests() {
            let mut s = st.lock().unwrap();
            respond(rq, &mut s);
        }
    });
    Hub { url, state }
}

/// A study (`m.toml` in a temporary folder) run through the CLI against a fake Hub at
/// `endpoint`, with the Hub's variables of the caller's environment left out.
pub(crate) struct Study {
    dir: tempfile::TempDir,
    endpoint: String,
    /// Variables every command of this study gets.
    env: Vec<(&'static str, &'static str)>,
}

impl Study {
    pub(crate) fn new(endpoint: &str, manifest: &str) -> Study {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.toml"), manifest).unwrap();
        Study {
            dir,
            endpoint: endpoint.to_owned(),
            env: Vec::new(),
        }
    }

    /// Every command of this study with `key=value` set.
    pub(crate) fn with_env(mut self, key: &'static str, value: &'static str) -> Study {
        self.env.push((key, value));
        self
    }

    pub(crate) fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_basins"));
        c.current_dir(self.dir.path())
            .env("HF_ENDPOINT", &self.endpoint)
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_OFFLINE")
            .env("HF_HOME", self.dir.path().join("hf-home"))
            .args(args);
        for (k, v) in self.env.iter().chain(env) {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        self.cli_env(args, &[])
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A command's stdout and stderr.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// [`text`] of a command that must have succeeded.
pub(crate) fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    text(o)
}
