//! The scheduler: resolves nodes in topological order as their inputs become known, reuses
//! cached results, and dispatches the rest to an executor, up to `jobs` at once, each node that
//! wants an accelerator pinned to one device id.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use basins_cache::Digest;
use serde::Serialize;

use crate::events::{Event, Reporter};
use crate::exec::{Executor, Job, Outcome};
use crate::record::{self, ActionRecord, Recipe};
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub node: String,
    pub message: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub executed: Vec<String>,
    pub reused: Vec<String>,
    pub cached: Vec<String>,
    pub failed: Vec<Failure>,
    pub skipped: Vec<String>,
    pub interrupted: bool,
    pub run_log: PathBuf,
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

struct Run<'a> {
    study: &'a Study,
    reporter: &'a dyn Reporter,
    state: Vec<St>,
    records: Vec<Option<ActionRecord>>,
    keys: Vec<Option<Digest>>,
    retries: Vec<u32>,
    target: Vec<bool>,
    to_resolve: VecDeque<usize>,
    ready: VecDeque<usize>,
    summary: RunSummary,
    log: Option<std::fs::File>,
}

impl<'a> Run<'a> {
    fn emit(&mut self, e: Event) {
        self.reporter.report(&e);
        if let Some(f) = self.log.as_mut() {
            let _ = writeln!(f, "{}", serde_json::to_string(&e).unwrap_or_default());
        }
    }

    fn id(&self, i: usize) -> String {
        self.study.graph.nodes[i].id.clone()
    }

    /// Node `i` has a current record: remember it and release its children.
    fn finish(&mut self, i: usize, rec: ActionRecord) -> Result<(), EngineError> {
        record::write_index(&self.study.store, self.study.name(), &rec.node, &rec.key)?;
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

    fn resolve_pending(&mut self) -> Result<(), EngineError> {
        while let Some(i) = self.to_resolve.pop_front() {
            let res = self.study.resolve(i, &|j| self.records[j].as_ref())?;
            let Resolution::Known {
                preimage,
                key,
                resolved,
            } = res
            else {
                return Err(EngineError::Exec(format!(
                    "`{}` was resolved before its inputs",
                    self.id(i)
                )));
            };
            match record::load_record(&self.study.store, &key)? {
                Some(rec) if rec.objects_present(&self.study.store) => {
                    self.summary.cached.push(self.id(i));
                    self.emit(Event::NodeCached { node: self.id(i) });
                    self.finish(i, rec)?;
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
}

fn now_id() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{t}-{}", std::process::id())
}

/// Run the study (or the `--only` part of it). Returns when nothing more can run.
pub fn run(
    study: &Study,
    opts: &RunOptions,
    executor: &dyn Executor,
    reporter: &dyn Reporter,
    cancel: Arc<AtomicBool>,
) -> Result<RunSummary, EngineError> {
    let _in_use = record::use_cache(&study.store)?;
    let n = study.graph.nodes.len();
    let target = match &opts.only {
        None => vec![true; n],
        Some(p) => {
            let roots: Vec<usize> = (0..n)
                .filter(|&i| glob_match(p, &study.graph.nodes[i].id))
                .collect();
            if roots.is_empty() {
                return Err(EngineError::NoSuchNode {
                    id: p.clone(),
                    hint: Some("`--only` matched no node id".into()),
                });
            }
            study.graph.with_ancestors(roots)
        }
    };
    let run_id = now_id();
    let run_log = crate::paths::under(&study.store.root().join("runs"), study.name())
        .map_err(EngineError::Exec)?
        .join(format!("{run_id}.jsonl"));
    std::fs::create_dir_all(run_log.parent().expect("runs dir")).ok();
    let mut run = Run {
        study,
        reporter,
        state: vec![St::Waiting; n],
        records: vec![None; n],
        keys: vec![None; n],
        retries: vec![0; n],
        to_resolve: study
            .graph
            .order
            .iter()
            .copied()
            .filter(|&i| target[i])
            .collect(),
        target,
        ready: VecDeque::new(),
        summary: RunSummary {
            run_id: run_id.clone(),
            run_log: run_log.clone(),
            ..Default::default()
        },
        log: std::fs::File::create(&run_log).ok(),
    };
    run.to_resolve
        .retain(|&i| study.graph.parents(i).next().is_none());
    for &i in &run.to_resolve {
        run.state[i] = St::Queued;
    }
    let total = run.target.iter().filter(|t| **t).count();
    run.emit(Event::RunStarted {
        run_id,
        nodes: total,
    });

    let mut free_gpus: Vec<u32> = opts.gpus.iter().rev().copied().collect();
    let mut running = 0usize;
    let mut stop = false;
    // An engine or storage fault ends the run: running nodes drain, nothing new starts, the
    // run log still gets its end, and the fault is what the caller sees.
    let mut fault: Option<EngineError> = None;
    let (tx, rx) = mpsc::channel::<(usize, Option<u32>, Instant, Result<Outcome, EngineError>)>();
    std::thread::scope(|scope| -> Result<(), EngineError> {
        loop {
            if cancel.load(Ordering::Relaxed) {
                stop = true;
                run.summary.interrupted = true;
            }
            if !stop {
                run.resolve_pending()?;
                // Dispatch in readiness order; a device node waits for a free device id.
                let mut i = 0;
                while running < opts.jobs.max(1) && i < run.ready.len() {
                    let node = run.ready[i];
                    let needs = study.uses_device(node) && !opts.gpus.is_empty();
                    if needs && free_gpus.is_empty() {
                        i += 1;
                        continue;
                    }
                    run.ready.remove(i);
                    let gpu = if needs { free_gpus.pop() } else { None };
                    run.state[node] = St::Running;
                    running += 1;
                    let id = run.id(node);
                    run.emit(Event::NodeStarted {
                        node: id.clone(),
                        kind: study.graph.nodes[node].kind.clone(),
                        executor: executor.name().into(),
                        gpu,
                    });
                    let key = run.keys[node].expect("ready nodes have keys");
                    let kind = study.graph.nodes[node].kind.clone();
                    let tx = tx.clone();
                    let cancel = cancel.clone();
                    scope.spawn(move || {
                        let started = Instant::now();
                        let progress = |done, total| {
                            reporter.report(&Event::NodeProgress {
                                node: id.clone(),
                                done,
                                total,
                            })
                        };
                        let job = Job {
                            key,
                            node: &id,
                            kind: &kind,
                            gpu,
                            progress: &progress,
                            cancel,
                        };
                        // Whatever happens in the executor, the loop must hear back, or it
                        // waits for this node forever.
                        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            executor.execute(&job)
                        }))
                        .unwrap_or_else(|p| {
                            Err(EngineError::Exec(format!(
                                "executor panicked running `{id}`: {}",
                                crate::exec::panic_message(p.as_ref())
                            )))
                        });
                        let _ = tx.send((node, gpu, started, res));
                    });
                }
            }
            if running == 0 && (stop || (run.ready.is_empty() && run.to_resolve.is_empty())) {
                break;
            }
            let Ok((i, gpu, started, res)) = rx.recv_timeout(std::time::Duration::from_millis(100))
            else {
                continue;
            };
            running -= 1;
            if let Some(g) = gpu {
                free_gpus.push(g);
            }
            let id = run.id(i);
            let key = run.keys[i].expect("dispatched nodes have keys");
            match res {
                Ok(Outcome::Executed) | Ok(Outcome::Reused) => {
                    let executed = matches!(res, Ok(Outcome::Executed));
                    let rec = record::load_record(&study.store, &key)?.ok_or_else(|| {
                        EngineError::Exec(format!("`{id}` finished without writing its record"))
                    })?;
                    if executed {
                        run.summary.executed.push(id.clone());
                        run.emit(Event::NodeExecuted {
                            node: id,
                            millis: started.elapsed().as_millis() as u64,
                        });
                    } else {
                        run.summary.reused.push(id.clone());
                        run.emit(Event::NodeReused { node: id });
                    }
                    run.finish(i, rec)?;
                }
                Ok(Outcome::CorruptInput { role, node, .. }) if run.retries[i] < MAX_RETRIES => {
                    let u = study.node_index(&node)?;
                    run.emit(Event::NodeRetry {
                        node: id,
                        reason: format!(
                            "input `{role}`: an object of `{node}` was corrupt; recomputing it"
                        ),
                    });
                    run.requeue(i, u);
                }
                Err(e) if e.is_fault() => {
                    run.state[i] = St::Waiting;
                    run.emit(Event::NodeInterrupted { node: id });
                    fault.get_or_insert(e);
                    stop = true;
                }
                Err(_) if cancel.load(Ordering::Relaxed) => {
                    // Stopped by Ctrl-C, not broken: it stays to be run next time.
                    run.state[i] = St::Waiting;
                    run.emit(Event::NodeInterrupted { node: id });
                }
                other => {
                    let message = match other {
                        Err(e) => e.to_string(),
                        Ok(o) => format!("gave up after {MAX_RETRIES} retries: {o:?}"),
                    };
                    run.state[i] = St::Failed;
                    run.summary.failed.push(crate::schedule::Failure {
                        node: id.clone(),
                        message: message.clone(),
                    });
                    run.emit(Event::NodeFailed { node: id, message });
                    if !opts.keep_going {
                        stop = true;
                    }
                }
            }
        }
        Ok(())
    })?;
    let skipped: Vec<String> = (0..n)
        .filter(|&i| run.target[i] && !matches!(run.state[i], St::Done | St::Failed))
        .map(|i| run.id(i))
        .collect();
    run.summary.skipped = skipped;
    let s = &run.summary;
    let fin = Event::RunFinished {
        executed: s.executed.len() + s.reused.len(),
        cached: s.cached.len(),
        failed: s.failed.len(),
        skipped: s.skipped.len(),
        interrupted: s.interrupted,
    };
    run.emit(fin);
    match fault {
        Some(e) => Err(e),
        None => Ok(run.summary),
    }
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
