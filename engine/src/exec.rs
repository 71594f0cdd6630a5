//! Executors: how one node, already keyed and recorded as a recipe, gets run.
//!
//! Both implementations end in `run_recipe`, which takes the key's lock, re-checks the cache,
//! runs the stage into scratch, publishes every output object and only then writes the action
//! record. The subprocess form (`basins exec-node --cache DIR KEY`) reads nothing but the
//! recipe, which is what a Slurm job will run too.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use basins_cache::{CacheError, Digest, Store};
use serde::{Deserialize, Serialize};

use crate::record::{self, ActionRecord, OutputFile, Recipe, Resolved};
use crate::stage::{Progress, ProgressSink, Registry, StageContext, StageInput};
use crate::EngineError;

/// What became of a dispatched node. A node's own failure is an outcome like any other; an
/// executor returns `Err` only for a fault of the engine or the cache, which ends the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// We ran it and published its record.
    Executed,
    /// Another process finished it while we waited for its lock.
    Reused,
    /// An upstream object failed its hash check: it was quarantined and the upstream record
    /// removed, so the scheduler recomputes the upstream node and retries this one.
    CorruptInput {
        role: String,
        node: String,
        upstream_key: Digest,
    },
    /// The stage returned an error or panicked (or its process died). `log` is its log file.
    Failed {
        message: String,
        log: Option<PathBuf>,
    },
    /// Stopped because the run was cancelled (Ctrl-C); it runs again next time.
    Interrupted,
}

/// The lines `basins exec-node` writes on its stdout for the process that started it (the
/// subprocess executor reads them live, the Slurm executor from the task's output file). One
/// definition for both ends: a line is `@basins ` and this enum as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "line", rename_all = "snake_case")]
pub enum ChildLine {
    Progress(Progress),
    Outcome { outcome: Outcome },
}

impl ChildLine {
    const PREFIX: &'static str = "@basins ";

    pub fn encode(&self) -> String {
        format!(
            "{}{}",
            Self::PREFIX,
            serde_json::to_string(self).expect("protocol lines serialise")
        )
    }

    /// `None` for any other line (a stage or library printing to stdout).
    pub fn decode(line: &str) -> Option<ChildLine> {
        serde_json::from_str(line.strip_prefix(Self::PREFIX)?).ok()
    }
}

pub struct Job<'a> {
    pub key: Digest,
    pub node: &'a str,
    /// The node's stage kind (the Slurm executor groups job arrays and resources by it).
    pub kind: &'a str,
    pub rt: Runtime<'a>,
}

/// What a running node gets from whoever runs it: its device, its share of the cores, a
/// progress sink and Ctrl-C.
#[derive(Clone)]
pub struct Runtime<'a> {
    pub gpu: Option<u32>,
    /// See `StageContext::eval_threads`.
    pub eval_threads: Option<usize>,
    pub progress: &'a ProgressSink<'a>,
    pub cancel: Arc<AtomicBool>,
}

/// The Buck2 lesson: the interface lives apart from its implementations, so Slurm (and a
/// cache-first remote executor) are just more of them.
pub trait Executor: Send + Sync {
    fn name(&self) -> &'static str;
    fn execute(&self, job: &Job) -> Result<Outcome, EngineError>;
}

pub struct InProcess {
    pub store: Store,
    pub registry: Registry,
}

impl Executor for InProcess {
    fn name(&self) -> &'static str {
        "in-process"
    }
    fn execute(&self, job: &Job) -> Result<Outcome, EngineError> {
        run_recipe(
            &self.store,
            &self.registry,
            &job.key,
            "in-process",
            job.rt.clone(),
        )
    }
}

/// Runs each node as `<exe> exec-node --cache DIR KEY` in a child process.
pub struct Subprocess {
    pub store: Store,
    pub exe: PathBuf,
}

impl Executor for Subprocess {
    fn name(&self) -> &'static str {
        "subprocess"
    }
    fn execute(&self, job: &Job) -> Result<Outcome, EngineError> {
        let stderr_path = self
            .store
            .root()
            .join("logs")
            .join(format!("{}.stderr", job.key.to_hex()));
        std::fs::create_dir_all(stderr_path.parent().expect("logs dir"))
            .map_err(CacheError::io_err("create", &stderr_path))?;
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(CacheError::io_err("create", &stderr_path))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("exec-node")
            .arg("--cache")
            .arg(self.store.root())
            .arg(job.key.to_hex());
        if let Some(g) = job.rt.gpu {
            cmd.arg("--gpu")
                .arg(g.to_string())
                .env("CUDA_VISIBLE_DEVICES", g.to_string());
        }
        if let Some(t) = job.rt.eval_threads {
            cmd.arg("--eval-threads").arg(t.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| EngineError::Program {
                action: "cannot start",
                program: self.exe.clone(),
                cause: e.to_string(),
            })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let outcome: Arc<Mutex<Option<Outcome>>> = Arc::default();
        let reader = {
            let outcome = outcome.clone();
            let progress = job.rt.progress;
            std::thread::scope(|s| {
                let h = s.spawn(move || {
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        match ChildLine::decode(&line) {
                            Some(ChildLine::Progress(p)) => progress(p),
                            Some(ChildLine::Outcome { outcome: o }) => {
                                *outcome.lock().expect("outcome lock") = Some(o)
                            }
                            None => {}
                        }
                    }
                });
                let status = loop {
                    if job.rt.cancel.load(Ordering::Relaxed) {
                        let _ = child.kill();
                    }
                    match child.try_wait() {
                        Ok(Some(st)) => break Ok(st),
                        Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                        Err(e) => break Err(e),
                    }
                };
                let _ = h.join();
                status
            })
        };
        let status = reader.map_err(|e| EngineError::Program {
            action: "cannot wait for",
            program: self.exe.clone(),
            cause: e.to_string(),
        })?;
        let got = outcome.lock().expect("outcome lock").take();
        match (status.success(), got) {
            (_, Some(o @ Outcome::Failed { .. })) | (true, Some(o)) => Ok(o),
            // Killed on our Ctrl-C (or by the terminal's SIGINT to the process group).
            (false, None) if job.rt.cancel.load(Ordering::Relaxed) => Ok(Outcome::Interrupted),
            // exec-node's exit code for an engine or cache fault (README: exit codes).
            (false, _) if status.code() == Some(3) => Err(EngineError::CacheWrite {
                node: job.node.to_owned(),
                message: match tail_of(&stderr_path, 20) {
                    t if t.trim().is_empty() => "exec-node stopped on an engine or cache error; \
                         its stderr could not be kept either (the filesystem may be full)"
                        .into(),
                    t => format!("exec-node stopped on an engine or cache error:\n{t}"),
                },
            }),
            _ => {
                let tail = tail_of(&stderr_path, 20);
                Ok(Outcome::Failed {
                    message: format!(
                        "exec-node exited with {status}{}",
                        if tail.is_empty() {
                            String::new()
                        } else {
                            format!(":\n{tail}")
                        }
                    ),
                    log: Some(stderr_path),
                })
            }
        }
    }
}

fn tail_of(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A recipe's inputs as its stage sees them, or the upstream node one of whose objects failed
/// its hash check (its record is removed by then, so a scheduler recomputes it).
pub(crate) enum Inputs {
    Ready(BTreeMap<String, StageInput>),
    Corrupt {
        role: String,
        node: String,
        upstream_key: Digest,
    },
}

impl Inputs {
    fn corrupt(role: &str, node: &str, upstream_key: Digest) -> Inputs {
        Inputs::Corrupt {
            role: role.to_owned(),
            node: node.to_owned(),
            upstream_key,
        }
    }
}

pub(crate) fn stage_inputs(store: &Store, recipe: &Recipe) -> Result<Inputs, EngineError> {
    let mut out = BTreeMap::new();
    for (role, r) in &recipe.inputs {
        let input = match r {
            Resolved::File { path, .. } => StageInput::File(path.clone()),
            Resolved::Dir { path, .. } => StageInput::Dir(path.clone()),
            Resolved::Node { node, key } => {
                // No record: another consumer found one of its objects corrupt and dropped it.
                let Some(rec) = record::load_record(store, key)? else {
                    return Ok(Inputs::corrupt(role, node, *key));
                };
                let (mut files, mut digests) = (BTreeMap::new(), BTreeMap::new());
                for (name, o) in &rec.outputs {
                    match store.verified_object(&o.digest) {
                        Ok(p) => {
                            files.insert(name.clone(), p);
                            digests.insert(name.clone(), o.digest);
                        }
                        Err(CacheError::Corrupt { .. }) | Err(CacheError::Missing(_)) => {
                            // On a read-only cache the record stays; the input is refused
                            // all the same.
                            if let Err(e) = store.remove_action(key) {
                                tracing::warn!(node = %node, "cannot drop the record of a corrupt object: {e}");
                            }
                            return Ok(Inputs::corrupt(role, node, *key));
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                StageInput::Node {
                    node: node.clone(),
                    files,
                    digests,
                    metrics: rec.metrics.clone(),
                }
            }
        };
        out.insert(role.clone(), input);
    }
    Ok(Inputs::Ready(out))
}

/// How a stage's run ended, when the engine itself did not fail.
pub(crate) enum Ran {
    /// Its metrics.
    Done(serde_json::Value),
    Failed(String),
    /// It stopped because the run was cancelled.
    Interrupted,
}

/// Execute a recipe's stage into `out_dir`. Shared by `run` and `verify`.
pub(crate) fn execute_stage(
    registry: &Registry,
    recipe: &Recipe,
    inputs: &BTreeMap<String, StageInput>,
    out_dir: &Path,
    log_file: std::fs::File,
    resume_dir: &Path,
    rt: Runtime,
) -> Result<Ran, EngineError> {
    let kind = registry
        .get(&recipe.preimage.kind)
        .ok_or_else(|| EngineError::UnknownKind {
            kind: recipe.preimage.kind.clone(),
            known: registry.names().map(str::to_owned).collect(),
        })?;
    if kind.version() != recipe.preimage.kind_version {
        return Err(EngineError::KindVersion {
            node: recipe.node.clone(),
            kind: kind.name().to_owned(),
            recipe_version: recipe.preimage.kind_version,
            build_version: kind.version(),
        });
    }
    let work = out_dir.parent().unwrap_or(out_dir).join("work");
    std::fs::create_dir_all(&work).map_err(CacheError::io_err("create", &work))?;
    std::fs::create_dir_all(resume_dir).map_err(CacheError::io_err("create", resume_dir))?;
    let ctx = StageContext {
        node: &recipe.node,
        scratch: &work,
        resume_dir,
        params: &recipe.preimage.params,
        env: &recipe.preimage.env,
        inputs,
        out_dir,
        gpu: rt.gpu,
        eval_threads: rt.eval_threads,
        progress: rt.progress,
        log: Mutex::new(log_file),
        cancel: rt.cancel,
    };
    // A panic inside a stage (ours, or a library's `unwrap`, as CUDA drivers trigger) fails
    // this node like an error does; it must not take the scheduler's thread down with it.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kind.run(&ctx)));
    Ok(match outcome {
        Ok(Ok(metrics)) => Ran::Done(metrics),
        Ok(Err(e)) if e.chain().any(|c| c.is::<crate::stage::Interrupted>()) => Ran::Interrupted,
        Ok(Err(e))
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(crate::error::storage_refused)
            }) =>
        {
            return Err(EngineError::CacheWrite {
                node: recipe.node.clone(),
                message: format!("{e:#}"),
            })
        }
        Ok(Err(e)) => Ran::Failed(format!("{e:#}")),
        Err(payload) => Ran::Failed(format!(
            "the stage panicked: {}",
            panic_message(payload.as_ref())
        )),
    })
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Run one recorded recipe to completion and publish it (see the module docs).
pub fn run_recipe(
    store: &Store,
    registry: &Registry,
    key: &Digest,
    executor: &str,
    rt: Runtime,
) -> Result<Outcome, EngineError> {
    let _in_use = record::use_cache(store)?;
    let recipe = record::load_recipe(store, key)?;
    let _lock = store.lock(key, |owner| match owner {
        Some(o) if o.is_stale() => tracing::warn!(node = %recipe.node, "lock held by dead process {} on {}", o.pid, o.host),
        Some(o) => tracing::warn!(node = %recipe.node, "waiting for pid {} on {} (running it since {}) to finish it", o.pid, o.host, o.since),
        None => tracing::warn!(node = %recipe.node, "waiting for another process running it"),
    })?;
    if let Some(rec) = record::load_record(store, key)? {
        if rec.objects_present(store) {
            return Ok(Outcome::Reused);
        }
    }
    let inputs = match stage_inputs(store, &recipe)? {
        Inputs::Ready(i) => i,
        Inputs::Corrupt {
            role,
            node,
            upstream_key,
        } => {
            return Ok(Outcome::CorruptInput {
                role,
                node,
                upstream_key,
            })
        }
    };
    let scratch = store.scratch_dir()?;
    let result = run_in_scratch(store, registry, &recipe, &inputs, &scratch, executor, rt);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run_in_scratch(
    store: &Store,
    registry: &Registry,
    recipe: &Recipe,
    inputs: &BTreeMap<String, StageInput>,
    scratch: &Path,
    executor: &str,
    rt: Runtime,
) -> Result<Outcome, EngineError> {
    let out_dir = scratch.join("out");
    std::fs::create_dir_all(&out_dir).map_err(CacheError::io_err("create", &out_dir))?;
    let log_tmp = scratch.join("node.log");
    let log_file =
        std::fs::File::create(&log_tmp).map_err(CacheError::io_err("create", &log_tmp))?;
    let log_final = record::log_path(store, &recipe.key);
    let publish_log = || {
        if let Some(dir) = log_final.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::rename(&log_tmp, &log_final);
    };
    let started = now_ms();
    let clock = Instant::now();
    let resume = resume_path(store, &recipe.key);
    let ran = execute_stage(registry, recipe, inputs, &out_dir, log_file, &resume, rt)?;
    let failure = match ran {
        // The key says what the inputs held when the node was planned; the stage read them
        // by path. If one moved meanwhile, recording would file new content under the old key.
        Ran::Done(m) => moved_input(store, recipe).map_or(Ok(m), Err),
        Ran::Failed(message) => Err(message),
        Ran::Interrupted => return Ok(Outcome::Interrupted),
    };
    let metrics = match failure {
        Ok(m) => m,
        Err(message) => {
            let _ = std::fs::OpenOptions::new()
                .append(true)
                .open(&log_tmp)
                .map(|mut f| {
                    use std::io::Write;
                    writeln!(f, "error: {message}")
                });
            publish_log();
            return Ok(Outcome::Failed {
                message,
                log: Some(log_final),
            });
        }
    };
    let kind = registry
        .get(&recipe.preimage.kind)
        .expect("kind checked in execute_stage");
    let mut outputs = BTreeMap::new();
    for (rel, path) in files_under(&out_dir)? {
        let info = store.adopt_file(&path)?;
        outputs.insert(
            rel.clone(),
            OutputFile {
                digest: info.digest,
                size: info.size,
                class: kind.output_class(&rel),
            },
        );
    }
    publish_log();
    let _ = std::fs::remove_dir_all(resume_path(store, &recipe.key));
    let rec = ActionRecord {
        key: recipe.key,
        study: recipe.study.clone(),
        node: recipe.node.clone(),
        kind: recipe.preimage.kind.clone(),
        preimage: recipe.preimage.clone(),
        output_hash: ActionRecord::compute_output_hash(&outputs, &metrics),
        outputs,
        metrics,
        executor: executor.to_owned(),
        host: gethostname(),
        arithmetic: registry.arithmetic().map(str::to_owned),
        pid: std::process::id(),
        started_ms: started,
        duration_ms: clock.elapsed().as_millis() as u64,
        exit_status: 0,
        log: Some(record::relative_to(store, &log_final)),
    };
    store.put_action(
        &recipe.key,
        &serde_json::to_vec_pretty(&rec).expect("record serialises"),
    )?;
    Ok(Outcome::Executed)
}

/// The first file or directory input whose content is no longer what the recipe's key was
/// computed from (Bazel's "file modified during build"), said for the user. The stat memo
/// holds ctime and inode, so an edit that restores size and mtime is re-hashed too.
fn moved_input(store: &Store, recipe: &Recipe) -> Option<String> {
    recipe.inputs.iter().find_map(|(role, r)| {
        let (path, was, now) = match r {
            Resolved::File { path, digest } => (
                path,
                digest,
                store.hash_input_file(path).map_err(|e| e.to_string()),
            ),
            Resolved::Dir { path, digest } => (
                path,
                digest,
                crate::study::hash_dir(store, path).map_err(|e| e.to_string()),
            ),
            Resolved::Node { .. } => return None,
        };
        let said = match now {
            Ok(d) if d == *was => return None,
            Ok(_) => "changed".to_owned(),
            Err(e) => format!("can no longer be read ({e})"),
        };
        Some(format!(
            "input `{role}` ({}) {said} while the node ran, so its outputs may come from \
             content other than the key names; nothing was recorded. Leave the file alone \
             during a run and run again: the plan will use its new content",
            path.display()
        ))
    })
}

/// Where a node keeps resumable state between runs of the same recipe.
pub fn resume_path(store: &Store, key: &Digest) -> PathBuf {
    store.root().join("resume").join(key.to_hex())
}

fn gethostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// The files a stage wrote, as (relative name with `/`, path), sorted. Symlinks are not
/// followed: an output is what the stage wrote, never what it pointed at.
fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>, EngineError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            EngineError::Cache(CacheError::Io {
                op: "list outputs in",
                path: dir.to_path_buf(),
                cause: e.into(),
            })
        })?;
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, entry.into_path()));
        }
    }
    Ok(out)
}
