//! The Slurm executor: nodes run as `basins exec-node` inside Slurm jobs.
//!
//! The scheduler hands over nodes one at a time as they become ready; the executor gathers the
//! ones that arrive together, groups them by stage kind and submits each group as one job array
//! (split at the cluster's `MaxArraySize`). Each array task reads its recipe key from a keys file
//! beside its job script, so nothing from the manifest ever reaches a shell: resources go to
//! `sbatch` as separate arguments, and the script holds only shell-quoted paths and hex keys.
//!
//! The shared cache is the source of truth. A node is done when its action record appears there
//! (`exec-node` publishes outputs, then the record, atomically); Slurm's view, from one batched
//! `squeue` per interval with back-off, only decides failures: a task Slurm reports as ended
//! whose record has not appeared within `record_latency_s` failed, and so did one that vanished
//! from Slurm's answers. An empty or failed `squeue` answer decides nothing.
//!
//! Job names carry a tag derived from the study and the cache, so a rerun of `basins run` after
//! the first one died finds the jobs still queued or running, attaches to them instead of
//! submitting their nodes again, and waits for their records.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use basins_cache::{Digest, Store};

use crate::exec::{ChildLine, Executor, Job, Outcome};
use crate::record;
use crate::settings::{SlurmResources, SlurmSettings};
use crate::EngineError;

/// How long the executor waits for more ready nodes before submitting what it has.
const GATHER: Duration = Duration::from_millis(400);
/// The first pause between `squeue` queries; it doubles while nothing changes.
const POLL_MIN: Duration = Duration::from_secs(1);
/// How often the cache is checked for records (a stat per in-flight node).
const TICK: Duration = Duration::from_millis(200);

pub struct Slurm {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    exe: PathBuf,
    settings: SlurmSettings,
    /// Prefix of every job name of this study and cache.
    tag: String,
    /// Job scripts, keys files and logs; only the submitting user may write here.
    run_dir: PathBuf,
    max_array: usize,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Ready nodes not submitted yet, with their kind.
    pending: Vec<(Digest, String, String)>,
    pending_since: Option<Instant>,
    tasks: HashMap<Digest, Task>,
    /// Array job ids submitted or attached to by this process (what Ctrl-C cancels).
    jobs: Vec<String>,
    submitted_arrays: usize,
    poller: bool,
}

/// Slurm was seen to have finished with a task (or lost it) without a record: when, why, and
/// whether to wait out the record latency first (not after a failed exit).
#[derive(Clone)]
struct Ended {
    at: Instant,
    why: String,
    wait: bool,
}

struct Task {
    node: String,
    job: String,
    index: usize,
    stderr: PathBuf,
    ended: Option<Ended>,
    done: Option<Result<Outcome, String>>,
}

impl Slurm {
    /// Prepare the run directory and attach to this study's jobs still in Slurm.
    pub fn new(
        store: Store,
        exe: PathBuf,
        study: &str,
        settings: SlurmSettings,
    ) -> Result<Slurm, EngineError> {
        match Command::new("sbatch").arg("--version").output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(EngineError::SlurmUnavailable(format!(
                    "cannot use sbatch: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )))
            }
            Err(e) => {
                return Err(EngineError::SlurmUnavailable(format!(
                    "needs Slurm's sbatch, squeue and scancel on PATH: {e}"
                )))
            }
        }
        let root = store.root().to_path_buf();
        let tag = job_tag(study, &root);
        let run_dir = root.join("slurm").join(&tag);
        private_dir(&run_dir.join("logs"))?;
        private_dir(&run_dir)?;
        let max_array = max_array_size();
        let inner = Arc::new(Inner {
            store,
            exe,
            settings,
            tag,
            run_dir,
            max_array,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        inner.attach()?;
        Ok(Slurm { inner })
    }
}

impl Executor for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn execute(&self, job: &Job) -> Result<Outcome, EngineError> {
        let inner = &self.inner;
        if record::load_record(&inner.store, &job.key)?.is_some() {
            return Ok(Outcome::Reused);
        }
        {
            let mut st = inner.lock();
            if !st.tasks.contains_key(&job.key) {
                st.pending
                    .push((job.key, job.kind.to_owned(), job.node.to_owned()));
                st.pending_since.get_or_insert_with(Instant::now);
            }
            if !st.poller {
                st.poller = true;
                let inner = inner.clone();
                std::thread::spawn(move || inner.poll_forever());
            }
        }
        let mut st = inner.lock();
        loop {
            if job.rt.cancel.load(Ordering::Relaxed) {
                drop(st);
                // This run's Slurm jobs are cancelled (scancel).
                inner.cancel_all();
                return Ok(Outcome::Interrupted);
            }
            if let Some(t) = st.tasks.get_mut(&job.key) {
                if let Some(done) = t.done.take() {
                    let log = t.stderr.clone();
                    st.tasks.remove(&job.key);
                    return Ok(done.unwrap_or_else(|message| Outcome::Failed {
                        message,
                        log: Some(log),
                    }));
                }
            }
            st = inner
                .changed
                .wait_timeout(st, TICK)
                .expect("slurm state lock")
                .0;
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("slurm state lock")
    }

    /// Find this study's jobs that are still queued or running and adopt their tasks, so the
    /// scheduler's dispatch of those nodes waits for them instead of submitting again.
    fn attach(&self) -> Result<(), EngineError> {
        let Some(answer) = squeue(&self.tag) else {
            return Ok(());
        };
        let mut st = self.lock();
        for line in answer.iter().filter(|l| !l.state.is_terminal()) {
            let keys_file = self.run_dir.join(format!("{}.keys", line.name));
            let Ok(text) = std::fs::read_to_string(&keys_file) else {
                continue;
            };
            let Some((key, node)) = text
                .lines()
                .nth(line.index)
                .and_then(|l| l.split_once(' '))
                .and_then(|(k, n)| Some((k.parse::<Digest>().ok()?, n.to_owned())))
            else {
                continue;
            };
            if !st.jobs.contains(&line.array) {
                st.jobs.push(line.array.clone());
            }
            tracing::info!(%node, job = %line.array, index = line.index, "attached to a running Slurm job");
            let stderr = self.stderr_path(&line.name, line.index);
            st.tasks.insert(
                key,
                Task {
                    node,
                    job: line.array.clone(),
                    index: line.index,
                    stderr,
                    ended: None,
                    done: None,
                },
            );
        }
        Ok(())
    }

    fn stderr_path(&self, name: &str, index: usize) -> PathBuf {
        self.run_dir
            .join("logs")
            .join(format!("{name}-{index}.err"))
    }

    /// The executor's one background thread: submit gathered nodes, notice records, and
    /// query Slurm with back-off.
    fn poll_forever(self: Arc<Self>) {
        let mut interval = POLL_MIN;
        let mut last_query = Instant::now() - interval;
        loop {
            std::thread::sleep(TICK);
            self.submit_gathered();
            let mut changed = self.collect_records();
            if last_query.elapsed() >= interval
                && self.lock().tasks.values().any(|t| t.done.is_none())
            {
                last_query = Instant::now();
                match squeue(&self.tag) {
                    Some(answer) => changed |= self.judge(&answer),
                    None => {
                        tracing::debug!("squeue gave no usable answer; assuming jobs still run")
                    }
                }
                let ceiling = Duration::from_secs_f64(self.settings.poll_max_s);
                interval = if changed {
                    POLL_MIN
                } else {
                    (interval * 2).min(ceiling)
                };
            }
            if changed {
                self.changed.notify_all();
            }
        }
    }

    /// Submit what has gathered, `GATHER` after the first of it arrived (the scheduler dispatches
    /// the nodes that became ready together within milliseconds of each other).
    fn submit_gathered(&self) {
        let batch = {
            let mut st = self.lock();
            match st.pending_since {
                Some(t) if t.elapsed() >= GATHER => {
                    st.pending_since = None;
                    std::mem::take(&mut st.pending)
                }
                _ => return,
            }
        };
        for (kind, chunk) in arrays(batch, self.max_array) {
            let Err(message) = self.submit_array(&kind, &chunk) else {
                continue;
            };
            let mut st = self.lock();
            for (key, node) in chunk {
                st.tasks.insert(
                    key,
                    Task {
                        node,
                        job: String::new(),
                        index: 0,
                        stderr: PathBuf::new(),
                        ended: None,
                        done: Some(Err(message.clone())),
                    },
                );
            }
            self.changed.notify_all();
        }
    }

    /// One `sbatch --array` for nodes of one kind.
    fn submit_array(&self, kind: &str, nodes: &[(Digest, String)]) -> Result<(), String> {
        let name = {
            let mut st = self.lock();
            st.submitted_arrays += 1;
            format!(
                "{}-{}-{}-{}",
                self.tag,
                sanitize(kind),
                std::process::id(),
                st.submitted_arrays
            )
        };
        let keys: String = nodes
            .iter()
            .map(|(k, n)| format!("{} {n}\n", k.to_hex()))
            .collect();
        let keys_file = self.run_dir.join(format!("{name}.keys"));
        let script = self.run_dir.join(format!("{name}.sh"));
        write_private(&keys_file, &keys)?;
        write_private(
            &script,
            &job_script(&self.exe, self.store.root(), &keys_file),
        )?;
        let res = self.settings.resources_for(kind);
        let throttle = self.settings.max_jobs;
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--job-name={name}"))
            .arg(format!("--array=0-{}%{throttle}", nodes.len() - 1))
            .arg(format!(
                "--output={}",
                self.run_dir.join("logs").join("%x-%a.out").display()
            ))
            .arg(format!(
                "--error={}",
                self.run_dir.join("logs").join("%x-%a.err").display()
            ))
            .args(sbatch_args(&res))
            .arg(&script);
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run sbatch: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "sbatch refused the job array for `{kind}`: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let id = String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned();
        tracing::info!(job = %id, %kind, tasks = nodes.len(), "submitted a Slurm job array");
        let mut st = self.lock();
        st.jobs.push(id.clone());
        for (i, (key, node)) in nodes.iter().enumerate() {
            st.tasks.insert(
                *key,
                Task {
                    node: node.clone(),
                    job: id.clone(),
                    index: i,
                    stderr: self.stderr_path(&name, i),
                    ended: None,
                    done: None,
                },
            );
        }
        Ok(())
    }

    /// Mark every in-flight task whose record is in the cache as done; also decide the tasks
    /// Slurm ended whose record did not appear within the latency window.
    fn collect_records(&self) -> bool {
        let waiting: Vec<(Digest, Option<Ended>)> = self
            .lock()
            .tasks
            .iter()
            .filter(|(_, t)| t.done.is_none() && !t.job.is_empty())
            .map(|(k, t)| (*k, t.ended.clone()))
            .collect();
        let latency = Duration::from_secs_f64(self.settings.record_latency_s);
        let mut changed = false;
        for (key, ended) in waiting {
            let present = matches!(record::load_record(&self.store, &key), Ok(Some(_)));
            let verdict = if present {
                Some(Ok(Outcome::Executed))
            } else if let Some(o @ Outcome::CorruptInput { .. }) =
                ended.as_ref().and_then(|_| self.reported_outcome(&key))
            {
                // exec-node finished without a record of its own: an input was corrupt and
                // has been dropped, so the scheduler recomputes it and retries this node.
                Some(Ok(o))
            } else {
                match ended {
                    Some(e) if !e.wait || e.at.elapsed() >= latency => Some(Err(e.why)),
                    _ => None,
                }
            };
            if let Some(v) = verdict {
                let mut st = self.lock();
                if let Some(t) = st.tasks.get_mut(&key) {
                    let v = v.map_err(|why| failure_message(&why, &t.stderr));
                    t.done = Some(v);
                    changed = true;
                }
            }
        }
        changed
    }

    /// The outcome `exec-node` printed to the task's stdout (a [`ChildLine`]), if any.
    fn reported_outcome(&self, key: &Digest) -> Option<Outcome> {
        let out = self.lock().tasks.get(key)?.stderr.with_extension("out");
        let text = std::fs::read_to_string(out).ok()?;
        text.lines()
            .rev()
            .find_map(|l| match ChildLine::decode(l)? {
                ChildLine::Outcome { outcome } => Some(outcome),
                ChildLine::Progress { .. } => None,
            })
    }

    /// Read one `squeue` answer: note when a task ended (or vanished) without a record.
    fn judge(&self, answer: &[QueueLine]) -> bool {
        let mut st = self.lock();
        let seen: HashMap<(&str, usize), &QueueLine> = answer
            .iter()
            .map(|l| ((l.array.as_str(), l.index), l))
            .collect();
        let non_empty = !answer.is_empty();
        let mut changed = false;
        for t in st
            .tasks
            .values_mut()
            .filter(|t| t.done.is_none() && t.ended.is_none())
        {
            // A job that exited 0 may have published a record the shared filesystem does not
            // show yet; one that failed, was cancelled or timed out did not publish one.
            let verdict = match seen.get(&(t.job.as_str(), t.index)) {
                Some(l) if l.state.is_terminal() => Some((
                    format!(
                        "Slurm job {}_{} ended {} without publishing a record",
                        t.job, t.index, l.state.0
                    ),
                    l.state.0 == "COMPLETED",
                )),
                Some(_) => None,
                None if non_empty => Some((
                    format!(
                        "Slurm job {}_{} left the queue without publishing a record",
                        t.job, t.index
                    ),
                    true,
                )),
                None => None,
            };
            if let Some((why, wait)) = verdict {
                tracing::debug!(node = %t.node, %why, wait, "a job ended without a record");
                t.ended = Some(Ended {
                    at: Instant::now(),
                    why,
                    wait,
                });
                changed = true;
            }
        }
        changed
    }

    /// Cancel every job this process submitted or attached to (Ctrl-C).
    fn cancel_all(&self) {
        let jobs = {
            let mut st = self.lock();
            std::mem::take(&mut st.jobs)
        };
        if jobs.is_empty() {
            return;
        }
        tracing::info!(?jobs, "cancelling this run's Slurm jobs");
        match Command::new("scancel").args(&jobs).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => tracing::warn!("scancel: {}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => tracing::warn!("cannot run scancel: {e}"),
        }
    }
}

fn failure_message(why: &str, stderr: &Path) -> String {
    let text = std::fs::read_to_string(stderr).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    if tail.is_empty() {
        why.to_owned()
    } else {
        format!("{why}:\n{tail}")
    }
}

/// Gathered nodes as job arrays: one per stage kind, split so no array exceeds `max_array`
/// tasks (Slurm's `MaxArraySize` bounds the indices, 0 to max - 1).
fn arrays(
    batch: Vec<(Digest, String, String)>,
    max_array: usize,
) -> Vec<(String, Vec<(Digest, String)>)> {
    let mut by_kind: BTreeMap<String, Vec<(Digest, String)>> = BTreeMap::new();
    for (key, kind, node) in batch {
        by_kind.entry(kind).or_default().push((key, node));
    }
    by_kind
        .into_iter()
        .flat_map(|(kind, nodes)| {
            nodes
                .chunks(max_array.max(1))
                .map(|c| (kind.clone(), c.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `sbatch` arguments for these resources, one element per argument.
pub fn sbatch_args(r: &SlurmResources) -> Vec<String> {
    let mut v = Vec::new();
    let mut opt = |flag: &str, val: Option<String>| {
        if let Some(x) = val {
            v.push(format!("--{flag}={x}"));
        }
    };
    opt("partition", r.partition.clone());
    opt("time", r.time.clone());
    opt("mem", r.mem.clone());
    opt("cpus-per-task", r.cpus.map(|c| c.to_string()));
    opt("gpus", r.gpus.filter(|&g| g > 0).map(|g| g.to_string()));
    opt("account", r.account.clone());
    opt("qos", r.qos.clone());
    v.extend(r.extra_args.iter().flatten().cloned());
    v
}

/// The job script: array task i runs the key on line i + 1 of the keys file.
pub fn job_script(exe: &Path, cache: &Path, keys_file: &Path) -> String {
    format!(
        "#!/bin/sh\n# Written by basins; one array task per line of the keys file.\nset -eu\nkey=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {keys} | cut -d' ' -f1)\nexec {exe} exec-node --cache {cache} \"$key\"\n",
        keys = shell_quote(&keys_file.display().to_string()),
        exe = shell_quote(&exe.display().to_string()),
        cache = shell_quote(&cache.display().to_string()),
    )
}

/// POSIX single quoting: the result is one word whatever the input holds.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `basins-<study>-<8 hex of the cache path>`: stable across reruns of one study on one cache.
fn job_tag(study: &str, cache: &Path) -> String {
    let canon = std::fs::canonicalize(cache).unwrap_or_else(|_| cache.to_owned());
    let h = blake3::hash(canon.display().to_string().as_bytes()).to_hex();
    format!("basins-{}-{}", sanitize(study), &h[..8])
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn private_dir(dir: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|cause| {
            EngineError::Cache(basins_cache::CacheError::Io {
                op: "prepare (owner-only)",
                path: dir.to_path_buf(),
                cause,
            })
        })
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The cluster's `MaxArraySize` (array indices must stay below it); Slurm's default if unknown.
fn max_array_size() -> usize {
    let out = Command::new("scontrol").args(["show", "config"]).output();
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.trim_start().starts_with("MaxArraySize"))
                .and_then(|l| l.split('=').nth(1))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(1001)
}

#[derive(Debug, Clone, PartialEq)]
struct JobState(String);

impl JobState {
    fn is_terminal(&self) -> bool {
        !matches!(
            self.0.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "SUSPENDED"
                | "REQUEUED"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
                | "REQUEUE_HOLD"
                | "REQUEUE_FED"
                | "RESV_DEL_HOLD"
                | "STOPPED"
        )
    }
}

/// One array task as `squeue -r` shows it.
#[derive(Debug, Clone)]
struct QueueLine {
    array: String,
    index: usize,
    name: String,
    state: JobState,
}

/// One batched query for every task of this tag, finished ones included. `None` when squeue
/// failed or said nothing parseable, which callers must treat as "unknown".
fn squeue(tag: &str) -> Option<Vec<QueueLine>> {
    let out = Command::new("squeue")
        .args(["--me", "-r", "-h", "-t", "all", "-o", "%F|%K|%j|%T"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(parse_squeue(&String::from_utf8_lossy(&out.stdout), tag))
}

fn parse_squeue(text: &str, tag: &str) -> Vec<QueueLine> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split('|');
            let (array, index, name, state) = (f.next()?, f.next()?, f.next()?, f.next()?);
            if !name.starts_with(&format!("{tag}-")) {
                return None;
            }
            Some(QueueLine {
                array: array.to_owned(),
                index: index.parse().ok()?,
                name: name.to_owned(),
                state: JobState(state.to_owned()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_every_value_one_word() {
        for s in [
            "plain",
            "a b",
            "it's",
            "$(touch x)",
            "`id`; rm -rf /",
            "'\"'",
        ] {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }

    #[test]
    fn squeue_lines_of_other_studies_are_ignored() {
        let text = "12|0|basins-t-0a1b2c3d-finetune-9-1|RUNNING\n12|1|basins-t-0a1b2c3d-finetune-9-1|FAILED\n13|0|basins-t2-ffffffff-x-1-1|PENDING\n1|N/A|slurm-local-smoke|COMPLETED\n";
        let v = parse_squeue(text, "basins-t-0a1b2c3d");
        assert_eq!(v.len(), 2);
        assert!(!v[0].state.is_terminal() && v[1].state.is_terminal());
        assert_eq!((v[1].array.as_str(), v[1].index), ("12", 1));
    }

    #[test]
    fn ready_nodes_become_one_array_per_kind_split_at_the_size_limit() {
        let batch: Vec<(Digest, String, String)> = (0..9u8)
            .map(|i| {
                let kind = if i < 7 { "finetune" } else { "evaluate" };
                (Digest([i; 32]), kind.to_owned(), format!("n{i}"))
            })
            .collect();
        let got: Vec<(String, usize)> = arrays(batch, 3)
            .into_iter()
            .map(|(k, v)| (k, v.len()))
            .collect();
        let want = [
            ("evaluate", 2),
            ("finetune", 3),
            ("finetune", 3),
            ("finetune", 1),
        ];
        assert_eq!(got, want.map(|(k, n)| (k.to_owned(), n)).to_vec());
    }

    #[test]
    fn a_kind_overrides_only_the_resources_it_sets() {
        let base = SlurmResources {
            partition: Some("cpu".into()),
            time: Some("00:30:00".into()),
            cpus: Some(4),
            ..Default::default()
        };
        let over = SlurmResources {
            partition: Some("gpu".into()),
            gpus: Some(1),
            ..Default::default()
        };
        let r = base.overlaid(&over);
        assert_eq!(
            (r.partition.as_deref(), r.time.as_deref(), r.cpus, r.gpus),
            (Some("gpu"), Some("00:30:00"), Some(4), Some(1))
        );
    }

    #[test]
    fn resources_become_separate_arguments() {
        let r = SlurmResources {
            partition: Some("gpu; rm -rf /".into()),
            gpus: Some(1),
            extra_args: Some(vec!["--comment=$(id)".into()]),
            ..Default::default()
        };
        assert_eq!(
            sbatch_args(&r),
            vec!["--partition=gpu; rm -rf /", "--gpus=1", "--comment=$(id)"]
        );
    }
}
