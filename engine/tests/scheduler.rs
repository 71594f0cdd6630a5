//! The scheduler's contract, driven directly with the testkit's kinds and executors that
//! misbehave on purpose: an engine fault ends the run only after every running node has drained,
//! and the run log still gets its end; a node that fails after Ctrl-C is a failure, not an
//! interruption.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use basins_cache::CacheError;
use basins_engine::events::{Event, Reporter};
use basins_engine::exec::{Job, Outcome};
use basins_engine::node::{Node, Source};
use basins_engine::schedule::{run, RunOptions};
use basins_engine::settings::{ExecutorKind, SlurmSettings};
use basins_engine::{testkit, EngineError, ErrorClass, Executor, InProcess, Study, StudyDef};
use serde_json::json;

/// The shape of a small study (a pretrained model, four finetunes on a data file, one
/// evaluation each), as nodes: the engine knows nothing of manifests.
fn study() -> (tempfile::TempDir, Study) {
    let dir = tempfile::tempdir().unwrap();
    let study = Study::new(def(dir.path()), testkit::registry()).unwrap();
    (dir, study)
}

/// [`study`]'s definition, in `dir` (its data files written there).
fn def(dir: &std::path::Path) -> StudyDef {
    let (train, dev) = (dir.join("train.tsv"), dir.join("dev.tsv"));
    std::fs::write(&train, "gj04\t1\t\tThe cat sat.\n").unwrap();
    std::fs::write(&dev, "gj04\t1\t\tA dog ran.\n").unwrap();
    let mut nodes = vec![Node::new(
        "pretrain/tiny".into(),
        "pretrain",
        json!({"layers": 2}),
    )];
    for seed in 0..4 {
        let finetune = format!("finetune/cola/seed={seed}");
        nodes.push(
            Node::new(finetune.clone(), "finetune", json!({"seed": seed}))
                .input("base", Source::Node("pretrain/tiny".into()))
                .input("train", Source::File(train.clone()))
                .input("eval:cola.dev", Source::File(dev.clone())),
        );
        nodes.push(
            Node::new(format!("evaluate/cola/seed={seed}"), "evaluate", json!({}))
                .input("model", Source::Node(finetune))
                .input("eval:cola.dev", Source::File(dev.clone())),
        );
    }
    StudyDef {
        name: "s".into(),
        path: dir.join("m.toml"),
        cache: dir.join("cache"),
        env: Default::default(),
        nodes,
        executor: ExecutorKind::Local,
        slurm: SlurmSettings {
            resources: Default::default(),
            kinds: Default::default(),
            max_jobs: 1,
            poll_max_s: 1.0,
            record_latency_s: 1.0,
        },
    }
}

#[derive(Default)]
struct Recorder(Vec<Event>);

impl Reporter for Recorder {
    fn report(&mut self, e: &Event) {
        self.0.push(e.clone());
    }
}

/// Runs nodes in process, except that `bad` meets a cache write fault (after the others have
/// started) and every other finetune takes a while, so the fault arrives while they run.
struct FaultOn {
    inner: InProcess,
    bad: &'static str,
}

impl Executor for FaultOn {
    fn name(&self) -> &'static str {
        "fault-on"
    }
    fn execute(&self, job: &Job) -> Result<Outcome, EngineError> {
        if job.node == self.bad {
            std::thread::sleep(Duration::from_millis(50));
            return Err(EngineError::Cache(CacheError::Io {
                op: "write",
                path: "objects/xx".into(),
                cause: std::io::Error::from_raw_os_error(28),
            }));
        }
        if job.node.starts_with("finetune/") {
            std::thread::sleep(Duration::from_millis(400));
        }
        self.inner.execute(job)
    }
}

fn opts(jobs: usize) -> RunOptions {
    RunOptions {
        jobs,
        gpus: vec![],
        keep_going: false,
        only: None,
        fetch_only: false,
        eval_threads: None,
    }
}

fn in_process(study: &Study) -> InProcess {
    InProcess {
        store: study.store.clone(),
        registry: study.registry.clone(),
    }
}

/// Run the study, 4 nodes at once, where it must end in an error; the error and the events.
fn run_to_error(study: &Study, executor: &dyn Executor) -> (EngineError, Recorder) {
    let mut events = Recorder::default();
    let err = run(
        study,
        &opts(4),
        executor,
        &mut events,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap_err();
    (err, events)
}

fn node_of(e: &Event) -> Option<&str> {
    match e {
        Event::NodeStarted { node, .. }
        | Event::NodeExecuted { node, .. }
        | Event::NodeReused { node }
        | Event::NodeFailed { node, .. }
        | Event::NodeInterrupted { node }
        | Event::NodeRetry { node, .. }
        | Event::NodeCached { node }
        | Event::NodeProgress { node, .. }
        | Event::NodeSkipped { node } => Some(node),
        Event::RunStarted { .. } | Event::RunFinished { .. } => None,
    }
}

#[test]
fn a_cache_fault_drains_running_nodes_then_ends_the_run_with_the_fault() {
    let (_dir, study) = study();
    let executor = FaultOn {
        inner: in_process(&study),
        bad: "finetune/cola/seed=2",
    };
    let (err, events) = run_to_error(&study, &executor);
    assert_eq!(err.class(), ErrorClass::Fault, "{err}");
    assert!(err.to_string().contains("objects/xx"), "{err}");
    let ev = &events.0;

    // Every node that started ended, and after the fault nothing new started.
    let fault_at = ev
        .iter()
        .position(
            |e| matches!(e, Event::NodeInterrupted { node } if node == "finetune/cola/seed=2"),
        )
        .expect("the faulting node is reported interrupted");
    for (i, e) in ev.iter().enumerate() {
        if let Event::NodeStarted { node, .. } = e {
            assert!(i < fault_at, "{node} started after the fault");
            assert!(
                ev[i + 1..].iter().any(|later| node_of(later) == Some(node)
                    && matches!(
                        later,
                        Event::NodeExecuted { .. }
                            | Event::NodeFailed { .. }
                            | Event::NodeInterrupted { .. }
                    )),
                "{node} never ended"
            );
        }
    }
    // The other finetunes were running when the fault came; they finished and are cached.
    for seed in [0, 1, 3] {
        let node = format!("finetune/cola/seed={seed}");
        let end = ev
            .iter()
            .position(|e| matches!(e, Event::NodeExecuted { node: n, .. } if *n == node))
            .unwrap_or_else(|| panic!("{node} was not drained: {ev:#?}"));
        assert!(end > fault_at, "{node} ended before the fault: not a drain");
    }
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::NodeStarted { node, .. } if node.starts_with("evaluate/"))),
        "no new node starts after a fault"
    );
    let Some(Event::RunFinished {
        executed, skipped, ..
    }) = ev.last()
    else {
        panic!("the last event is not run_finished: {:?}", ev.last());
    };
    assert_eq!(*executed, 4, "pretrain and three finetunes");
    assert!(*skipped > 0);

    // The run log on disk ends the same way.
    let Event::RunStarted { log, .. } = &ev[0] else {
        panic!("first event: {:?}", ev[0]);
    };
    let text = std::fs::read_to_string(log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "run_finished", "{text}");
    let logged = |l: &&str| !l.contains("\"event\":\"node_progress\"");
    assert_eq!(
        text.lines().filter(logged).count(),
        ev.iter()
            .filter(|e| !matches!(e, Event::NodeProgress { .. }))
            .count()
    );
}

/// Ctrl-C arrives while a node is running, and that node then fails for a reason of its own:
/// it is reported as failed (before: relabelled as interrupted and forgotten).
struct FailsAfterCtrlC {
    cancel: Arc<AtomicBool>,
}

impl Executor for FailsAfterCtrlC {
    fn name(&self) -> &'static str {
        "fails-after-ctrl-c"
    }
    fn execute(&self, _job: &Job) -> Result<Outcome, EngineError> {
        self.cancel.store(true, Ordering::SeqCst);
        Ok(Outcome::Failed {
            message: "out of memory".into(),
            log: None,
        })
    }
}

#[test]
fn a_failure_after_ctrl_c_is_a_failure_and_the_run_is_interrupted() {
    let (_dir, study) = study();
    let cancel = Arc::new(AtomicBool::new(false));
    let executor = FailsAfterCtrlC {
        cancel: cancel.clone(),
    };
    let mut events = Recorder::default();
    let summary = run(&study, &opts(1), &executor, &mut events, cancel).unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert_eq!(summary.failed[0].node, "pretrain/tiny");
    assert!(summary.failed[0].message.contains("out of memory"));
    assert!(summary.executed.is_empty());
    assert_eq!(summary.skipped.len(), study.graph.nodes.len() - 1);
    assert!(matches!(
        events.0.last(),
        Some(Event::RunFinished {
            failed: 1,
            interrupted: true,
            ..
        })
    ));
}

#[test]
fn an_interrupted_outcome_leaves_the_node_to_run_next_time() {
    struct Interrupts;
    impl Executor for Interrupts {
        fn name(&self) -> &'static str {
            "interrupts"
        }
        fn execute(&self, _job: &Job) -> Result<Outcome, EngineError> {
            Ok(Outcome::Interrupted)
        }
    }
    let (_dir, study) = study();
    let cancel = Arc::new(AtomicBool::new(false));
    let mut events = Recorder::default();
    let summary = run(&study, &opts(1), &Interrupts, &mut events, cancel).unwrap();
    assert!(summary.failed.is_empty() && summary.executed.is_empty());
    assert!(events
        .0
        .iter()
        .any(|e| matches!(e, Event::NodeInterrupted { node } if node == "pretrain/tiny")));
    assert!(summary.skipped.contains(&"pretrain/tiny".to_string()));
}

/// An input file that vanishes after the study was opened: resolving the nodes that read it
/// fails, nothing more starts, and the run still ends with `run_finished` and the error.
#[test]
fn an_error_while_resolving_starts_nothing_more_and_ends_the_run() {
    let (dir, study) = study();
    std::fs::remove_file(dir.path().join("train.tsv")).unwrap();
    let (err, events) = run_to_error(&study, &in_process(&study));
    assert!(err.to_string().contains("train.tsv"), "{err}");
    let ev = &events.0;
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::NodeStarted { node, .. } if node.starts_with("finetune/"))),
        "{ev:#?}"
    );
    assert!(
        matches!(ev.last(), Some(Event::RunFinished { .. })),
        "{ev:#?}"
    );
}

/// Every record says the instruction-set level its node ran at, and `verify` at another level
/// says in each node's detail what it compared (the kinds' bytes here do not depend on it).
#[test]
fn records_carry_the_arithmetic_level_and_verify_names_another() {
    let dir = tempfile::tempdir().unwrap();
    let made = Study::new(
        def(dir.path()),
        testkit::registry().with_arithmetic("level-a"),
    )
    .unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let summary = run(
        &made,
        &opts(2),
        &in_process(&made),
        &mut Recorder::default(),
        cancel,
    )
    .unwrap();
    assert!(summary.failed.is_empty(), "{summary:?}");
    let plan = made.plan().unwrap();
    for r in &plan.records {
        assert_eq!(r.as_ref().unwrap().arithmetic.as_deref(), Some("level-a"));
    }
    let same = basins_engine::ops::verify(&made, None).unwrap();
    assert!(same.ok());
    assert!(same
        .nodes
        .iter()
        .all(|n| n.detail == "all outputs byte-identical"));
    let elsewhere = Study::new(
        def(dir.path()),
        testkit::registry().with_arithmetic("level-b"),
    )
    .unwrap();
    let other = basins_engine::ops::verify(&elsewhere, None).unwrap();
    assert!(other.ok());
    assert_eq!(other.checked, plan.records.len());
    for n in &other.nodes {
        assert!(
            n.detail
                .ends_with("(recorded at level-a, re-executed at level-b)"),
            "{}: {}",
            n.node,
            n.detail
        );
    }
}
