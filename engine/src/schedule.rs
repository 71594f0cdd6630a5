//! The scheduler: resolves nodes in topological order as their inputs become known, reuses
//! cached results, and dispatches the rest to an executor, up to `jobs` at once, each node that
//! wants an accelerator pinned to one device id.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use basins_cache::Digest;

use crate::events::{Event, Reporter, RunLog};
pub use crate::events::{Failure, RunSummary};
use crate::exec::{Executor, Job, Outcome, Runtime};
use crate::record::{self, ActionRecord, Recipe};
use crate::stage::Progress;
use crate::study::{Resolution, Study};
use crate::EngineError;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    /// Device ids handed out one per running device node (`CUDA_VISIBLE_DEVICES`). Empty:
    /// no slot accounting; stages use their default device.
    pub gpus: Vec<u32>,
    pub keep_going: bool,
    /// Glob over node ids (`*` matches anything); ancestors of matches run too.
    pub only: Option<String>,
    /// Only the nodes that download (`StageKind::fetches`: `basins fetch`); none is no error.
    pub fetch_only: bool,
    /// Each node's evaluation threads (`StageContext::eval_threads`); `None`: the stage's own
    /// choice.
    pub eval_threads: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Waiting,
    /// Inputs done; about to be resolved against the cache.
    Queued,
    Ready,
    Running,
    Done,
    Failed,
}

/// A node may be sent back this many times because an input object was corrupt.
const MAX_RETRIES: u32 = 3;

/// How often the loop looks at Ctrl-C when no node reports.
const TICK: Duration = Duration::from_millis(100);

pub fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first)
        || !s[first.len()..].ends_with(last)
        || s.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// What worker threads tell the scheduler's thread, the only one that changes state or reports.
enum Message {
    Progress { node: usize, progress: Progress },
    Done(Completion),
}

struct Completion {
    node: usize,
    gpu: Option<u32>,
    started: Instant,
    result: Result<Outcome, EngineError>,
}

/// Run the study (or the `--only` part of it). Returns when nothing more can run: the summary,
/// or the engine fault that stopped the run after every running node had drained. Node
/// failures and interruptions are in the summary, not in `Err`.
pub fn run(
    study: &Study,
    opts: &RunOptions,
    executor: &dyn Executor,
    reporter: &mut dyn Reporter,
    cancel: Arc<AtomicBool>,
) -> Result<RunSummary, EngineError> {
    let _in_use = record::use_cache(&study.store)?;
    let targets = select_targets(study, opts)?;
    let mut run = Run::start(study, opts, executor.name(), targets, reporter)?;
    let (tx, rx) = mpsc::channel::<Message>();
    std::thread::scope(|scope| loop {
        if cancel.load(Ordering::Relaxed) {
            run.interrupt();
        }
        if run.accepting() {
            if let Err(e) = run.resolve_pending() {
                run.fault(e);
            }
        }
        // Checked again: a fault while resolving starts nothing.
        if run.accepting() {
            run.dispatch_ready(|job| spawn_node(scope, executor, job, &tx, &cancel));
        }
        if run.is_over() {
            break;
        }
        match rx.recv_timeout(TICK) {
            Ok(Message::Progress { node, progress }) => run.progress(node, progress),
            Ok(Message::Done(c)) => run.complete(c),
            Err(_) => {}
        }
    });
    run.finish()
}

/// The nodes this run is for: all, or those `--only` matches and what they need.
fn select_targets(study: &Study, opts: &RunOptions) -> Result<Vec<bool>, EngineError> {
    let n = study.graph.nodes.len();
    if opts.fetch_only {
        return Ok((0..n).map(|i| study.fetches(i)).collect());
    }
    let Some(pattern) = &opts.only else {
        return Ok(vec![true; n]);
    };
    let roots: Vec<usize> = (0..n)
        .filter(|&i| glob_match(pattern, &study.graph.nodes[i].id))
        .collect();
    if roots.is_empty() {
        return Err(EngineError::NoSuchNode {
            id: pattern.clone(),
            hint: Some("`--only` matched no node id".into()),
        });
    }
    Ok(study.graph.with_ancestors(roots))
}

/// A node handed to a worker thread.
struct Dispatch {
    node: usize,
    id: String,
    kind: String,
    key: Digest,
    gpu: Option<u32>,
    eval_threads: Option<usize>,
}

/// Run one node on a scoped thread; whatever happens in the executor, the loop hears back
/// (or it would wait for this node forever).
fn spawn_node<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    executor: &'scope dyn Executor,
    d: Dispatch,
    tx: &mpsc::Sender<Message>,
    cancel: &Arc<AtomicBool>,
) {
    let (tx, cancel) = (tx.clone(), cancel.clone());
    scope.spawn(move || {
        let started = Instant::now();
        let progress = |progress| {
            let _ = tx.send(Message::Progress {
                node: d.node,
                progress,
            });
        };
        let job = Job {
            key: d.key,
            node: &d.id,
            kind: &d.kind,
            rt: Runtime {
                gpu: d.gpu,
                eval_threads: d.eval_threads,
                progress: &progress,
                cancel,
            },
        };
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| executor.execute(&job)))
                .unwrap_or_else(|p| {
                    Err(EngineError::ExecutorPanicked {
                        node: d.id.clone(),
                        message: crate::exec::panic_message(p.as_ref()),
                    })
                });
        let _ = tx.send(Message::Done(Completion {
            node: d.node,
            gpu: d.gpu,
            started,
            result,
        }));
    });
}

/// Why the run starts no new work.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Halt {
    /// A node failed (and `--keep-going` was not given).
    Failure,
    Interrupt,
    /// An engine fault: the run ends with it.
    Fault,
}

/// The scheduler's state, changed only by its named steps on the scheduler's thread.
struct Run<'a> {
    study: &'a Study,
    opts: &'a RunOptions,
    executor: &'static str,
    state: Vec<St>,
    records: Vec<Option<ActionRecord>>,
    keys: Vec<Option<Digest>>,
    retries: Vec<u32>,
    target: Vec<bool>,
    to_resolve: VecDeque<usize>,
    ready: VecDeque<usize>,
    free_gpus: Vec<u32>,
    running: usize,
    /// Recipe keys being run: a node with the same key as a running one (the same work under
    /// another id, as in a sweep's sub-studies) waits and then finds it cached.
    running_keys: HashSet<Digest>,
    halt: Option<Halt>,
    interrupted: bool,
    fault: Option<EngineError>,
    summary: RunSummary,
    log: RunLog<std::fs::File>,
    reporter: &'a mut dyn Reporter,
}

impl<'a> Run<'a> {
    fn start(
        study: &'a Study,
        opts: &'a RunOptions,
        executor: &'static str,
        target: Vec<bool>,
        reporter: &'a mut dyn Reporter,
    ) -> Result<Run<'a>, EngineError> {
        let n = study.graph.nodes.len();
        let run_id = now_id();
        let runs = study.store.root().join("runs");
        let run_log = crate::paths::under(&runs, study.name())
            .map_err(|_| EngineError::NotPlainName {
                root: runs.clone(),
                name: study.name().to_owned(),
            })?
            .join(format!("{run_id}.jsonl"));
        // Roots first; the rest are queued as their inputs finish.
        let roots: VecDeque<usize> = (study.graph.order.iter().copied())
            .filter(|&i| target[i] && study.graph.parents(i).next().is_none())
            .collect();
        let mut state = vec![St::Waiting; n];
        for &i in &roots {
            state[i] = St::Queued;
        }
        let nodes = target.iter().filter(|t| **t).count();
        let mut run = Run {
            study,
            opts,
            executor,
            state,
            records: vec![None; n],
            keys: vec![None; n],
            retries: vec![0; n],
            target,
            to_resolve: roots,
            ready: VecDeque::new(),
            free_gpus: opts.gpus.iter().rev().copied().collect(),
            running: 0,
            running_keys: HashSet::new(),
            halt: None,
            interrupted: false,
            fault: None,
            summary: RunSummary::default(),
            log: RunLog::create(&run_log),
            reporter,
        };
        run.emit(Event::RunStarted {
            run_id,
            nodes,
            log: run_log,
        });
        Ok(run)
    }

    /// Every event goes to the run log, the summary and the caller's reporter, in order.
    fn emit(&mut self, e: Event) {
        self.log.report(&e);
        self.summary.report(&e);
        self.reporter.report(&e);
    }

    fn id(&self, i: usize) -> String {
        self.study.graph.nodes[i].id.clone()
    }

    fn accepting(&self) -> bool {
        self.halt.is_none()
    }

    fn is_over(&self) -> bool {
        self.running == 0
            && (self.halt.is_some() || (self.ready.is_empty() && self.to_resolve.is_empty()))
    }

    fn interrupt(&mut self) {
        self.interrupted = true;
        self.halt = Some(Halt::Interrupt);
    }

    /// The one handler for errors inside the loop: no new work starts, running nodes drain,
    /// and the first fault is what the run returns.
    fn fault(&mut self, e: EngineError) {
        self.halt = Some(Halt::Fault);
        match &self.fault {
            None => {
                tracing::error!("stopping the run: {e}");
                self.fault = Some(e);
            }
            Some(_) => tracing::warn!("while stopping: {e}"),
        }
    }

    /// Look each queued node up in the cache: a current record finishes it, else its recipe is
    /// saved and it is ready to run.
    fn resolve_pending(&mut self) -> Result<(), EngineError> {
        while let Some(i) = self.to_resolve.pop_front() {
            let Resolution::Known {
                preimage,
                key,
                resolved,
            } = self.study.resolve(i, &|j| self.records[j].as_ref())?
            else {
                return Err(EngineError::Internal(format!(
                    "`{}` was resolved before its inputs",
                    self.id(i)
                )));
            };
            match record::load_record(&self.study.store, &key)? {
                Some(rec) if rec.objects_present(&self.study.store) => {
                    self.emit(Event::NodeCached { node: self.id(i) });
                    self.done(i, rec)?;
                }
                _ => {
                    let recipe = Recipe {
                        key,
                        study: self.study.name().to_owned(),
                        node: self.id(i),
                        preimage,
                        inputs: resolved,
                    };
                    record::save_recipe(&self.study.store, &recipe)?;
                    self.keys[i] = Some(key);
                    self.state[i] = St::Ready;
                    self.ready.push_back(i);
                }
            }
        }
        Ok(())
    }

    /// Start ready nodes, in readiness order, up to `jobs`; a node that uses a device waits
    /// for a free device id.
    fn dispatch_ready(&mut self, mut spawn: impl FnMut(Dispatch)) {
        let mut at = 0;
        while self.running < self.opts.jobs.max(1) && at < self.ready.len() {
            let i = self.ready[at];
            let Some(key) = self.keys[i] else {
                self.fault(EngineError::Internal(format!(
                    "`{}` was ready without a key",
                    self.id(i)
                )));
                return;
            };
            let needs_gpu = self.study.uses_device(i) && !self.opts.gpus.is_empty();
            if (needs_gpu && self.free_gpus.is_empty()) || self.running_keys.contains(&key) {
                at += 1;
                continue;
            }
            self.ready.remove(at);
            self.running_keys.insert(key);
            let gpu = if needs_gpu {
                self.free_gpus.pop()
            } else {
                None
            };
            let kind = self.study.graph.nodes[i].kind.clone();
            self.state[i] = St::Running;
            self.running += 1;
            self.emit(Event::NodeStarted {
                node: self.id(i),
                kind: kind.clone(),
                executor: self.executor.into(),
                gpu,
            });
            spawn(Dispatch {
                node: i,
                id: self.id(i),
                kind,
                key,
                gpu,
                eval_threads: self.opts.eval_threads,
            });
        }
    }

    fn progress(&mut self, i: usize, progress: Progress) {
        let node = self.id(i);
        self.emit(Event::NodeProgress { node, progress });
    }

    /// A worker is back: record what became of its node.
    fn complete(&mut self, c: Completion) {
        self.running -= 1;
        if let Some(g) = c.gpu {
            self.free_gpus.push(g);
        }
        if let Some(k) = self.keys[c.node] {
            self.running_keys.remove(&k);
        }
        let (i, id) = (c.node, self.id(c.node));
        let result = match c.result {
            Ok(outcome) => self.outcome(i, c.started, outcome),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // The node is not done; it runs again next time.
            if self.state[i] == St::Running {
                self.state[i] = St::Waiting;
                self.emit(Event::NodeInterrupted { node: id });
            }
            self.fault(e);
        }
    }

    fn outcome(&mut self, i: usize, started: Instant, outcome: Outcome) -> Result<(), EngineError> {
        let id = self.id(i);
        match outcome {
            Outcome::Executed | Outcome::Reused => {
                let rec = self.published(i)?;
                self.emit(match outcome {
                    Outcome::Executed => Event::NodeExecuted {
                        node: id,
                        millis: started.elapsed().as_millis() as u64,
                    },
                    _ => Event::NodeReused { node: id },
                });
                self.done(i, rec)?;
            }
            Outcome::CorruptInput { role, node, .. } if self.retries[i] < MAX_RETRIES => {
                let u = self.study.node_index(&node)?;
                self.emit(Event::NodeRetry {
                    node: id,
                    reason: format!(
                        "input `{role}`: an object of `{node}` was corrupt; recomputing it"
                    ),
                });
                self.requeue(i, u);
            }
            Outcome::CorruptInput { .. } => self.failed(
                i,
                format!("gave up after {MAX_RETRIES} retries: {outcome:?}"),
            ),
            Outcome::Failed { message, log } => {
                let message = EngineError::StageFailed {
                    node: id,
                    message,
                    log,
                };
                self.failed(i, message.to_string());
            }
            Outcome::Interrupted => {
                self.state[i] = St::Waiting;
                self.emit(Event::NodeInterrupted { node: id });
            }
        }
        Ok(())
    }

    /// The record a node's executor published.
    fn published(&self, i: usize) -> Result<ActionRecord, EngineError> {
        let key = self.keys[i]
            .ok_or_else(|| EngineError::Internal(format!("`{}` ran without a key", self.id(i))))?;
        record::load_record(&self.study.store, &key)?.ok_or_else(|| EngineError::MissingRecord {
            node: self.id(i),
            key: key.to_hex(),
        })
    }

    fn failed(&mut self, i: usize, message: String) {
        self.state[i] = St::Failed;
        self.emit(Event::NodeFailed {
            node: self.id(i),
            message,
        });
        if !self.opts.keep_going && self.halt.is_none() {
            self.halt = Some(Halt::Failure);
        }
    }

    /// Node `i` has a current record: remember it and release its children.
    fn done(&mut self, i: usize, rec: ActionRecord) -> Result<(), EngineError> {
        for scope in self.study.index_scopes() {
            record::write_index(&self.study.store, scope, &rec.node, &rec.key)?;
        }
        // Nodes waiting with the same key are now cached: look them up again.
        let twins: Vec<usize> = (self.ready.iter().copied())
            .filter(|&j| j != i && self.keys[j] == Some(rec.key))
            .collect();
        for j in twins {
            self.ready.retain(|&r| r != j);
            self.state[j] = St::Queued;
            self.to_resolve.push_back(j);
        }
        self.records[i] = Some(rec);
        self.state[i] = St::Done;
        let children: Vec<usize> = self.study.graph.children(i).collect();
        for c in children {
            if self.target[c] && self.state[c] == St::Waiting && self.inputs_done(c) {
                self.state[c] = St::Queued;
                self.to_resolve.push_back(c);
            }
        }
        Ok(())
    }

    fn inputs_done(&self, i: usize) -> bool {
        self.study
            .graph
            .parents(i)
            .all(|p| self.state[p] == St::Done)
    }

    /// Send `i` back to waiting on upstream `u`, whose output was found corrupt.
    fn requeue(&mut self, i: usize, u: usize) {
        if self.state[u] == St::Done {
            self.records[u] = None;
            self.state[u] = St::Queued;
            self.to_resolve.push_back(u);
        }
        self.state[i] = St::Waiting;
        self.retries[i] += 1;
    }

    /// Nothing runs any more: say which nodes did not run, close the run log, and return the
    /// summary or the fault.
    fn finish(mut self) -> Result<RunSummary, EngineError> {
        let skipped: Vec<usize> = (0..self.state.len())
            .filter(|&i| self.target[i] && !matches!(self.state[i], St::Done | St::Failed))
            .collect();
        for i in skipped {
            self.emit(Event::NodeSkipped { node: self.id(i) });
        }
        let fin = self.summary.finished(self.interrupted);
        self.emit(fin);
        match self.fault.take() {
            Some(e) => Err(e),
            None => Ok(self.summary),
        }
    }
}

fn now_id() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{t}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("finetune/*", "finetune/cola/seed=3"));
        assert!(glob_match("*seed=3", "finetune/cola/seed=3"));
        assert!(glob_match("interpolate/*/1~*", "interpolate/cola/1~4"));
        assert!(!glob_match("interpolate/*/1~*", "interpolate/cola/2~4"));
        assert!(glob_match("report", "report"));
        assert!(!glob_match("report", "reports"));
        assert!(!glob_match("a*a", "a"));
    }
}
