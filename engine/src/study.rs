//! A study as the engine sees it: a name, the file it was read from, a cache, an environment and
//! nodes (see [`StudyDef`]; `basins_study::open` makes one from a manifest), with its DAG and
//! stage kinds, and the planning logic that decides, per node, whether its recorded result can
//! be reused and, if not, why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use basins_cache::{Digest, Store};
use serde::Serialize;

use crate::graph::Graph;
use crate::key::{diff, DirtyReason, InputDigest, Preimage, SCHEME_VERSION};
use crate::node::{Node, Source};
use crate::record::{self, ActionRecord, Resolved};
use crate::settings::{ExecutorKind, SlurmSettings};
use crate::stage::Registry;
use crate::{did_you_mean, EngineError};

/// What a study is made of, before the engine checks and opens it.
#[derive(Debug, Clone)]
pub struct StudyDef {
    /// The study's name: it scopes the cache's index, and messages name it.
    pub name: String,
    /// The file the study was read from, as the user gave it.
    pub path: PathBuf,
    /// The cache to use.
    pub cache: PathBuf,
    /// Settings every node's key holds (the backend, the precision): a change reruns all.
    /// A `backend` other than `cpu` gives nodes whose kind uses a device a device slot each.
    pub env: BTreeMap<String, String>,
    /// Upstream before downstream.
    pub nodes: Vec<Node>,
    /// The executor `run` uses unless told otherwise.
    pub executor: ExecutorKind,
    pub slurm: SlurmSettings,
}

pub struct Study {
    name: String,
    /// The file the study was read from, as the user gave it.
    pub path: PathBuf,
    pub executor: ExecutorKind,
    pub slurm: SlurmSettings,
    pub graph: Graph,
    pub store: Store,
    pub registry: Registry,
    env: BTreeMap<String, String>,
    /// The manifest file, canonical: it scopes the index `plan` and `why` diff against.
    file: PathBuf,
}

/// A node's recipe, when every input's digest is known.
pub enum Resolution {
    Known {
        preimage: Preimage,
        key: Digest,
        resolved: BTreeMap<String, Resolved>,
    },
    /// Some upstream node has no current result yet.
    Pending {
        inputs: BTreeMap<String, Option<InputDigest>>,
        waiting: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Cached and current.
    Fresh,
    /// Its key is known and has no record: it will run.
    Run,
    /// As `Run`, for a node that downloads (`StageKind::fetches`): `basins fetch` runs it.
    Fetch,
    /// It will run after an upstream node (its key is not known yet).
    Blocked,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodePlan {
    pub node: String,
    pub kind: String,
    pub status: Status,
    pub key: Option<Digest>,
    pub reasons: Vec<DirtyReason>,
    /// For a node that must run only because nodes upstream must: the changes upstream that
    /// are the reason, each with the nodes it was found in (what `why` names first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
}

/// A change upstream of a node, and where it was found.
#[derive(Debug, Clone, Serialize)]
pub struct Cause {
    /// The change, as `plan` words it.
    pub reason: String,
    /// The nodes it was found in, in the DAG's order.
    pub nodes: Vec<String>,
}

pub struct Plan {
    pub nodes: Vec<NodePlan>,
    pub records: Vec<Option<ActionRecord>>,
}

impl Study {
    /// Check a study's nodes (a DAG, every kind registered) and open its cache.
    pub fn new(def: StudyDef, registry: Registry) -> Result<Study, EngineError> {
        let graph = Graph::new(def.nodes)?;
        for n in &graph.nodes {
            if registry.get(&n.kind).is_none() {
                return Err(EngineError::UnknownKind {
                    kind: n.kind.clone(),
                    known: registry.names().map(str::to_owned).collect(),
                });
            }
        }
        // Absolute, because stages see inputs through links into scratch directories, and a
        // relative cache would make those links point nowhere.
        let cache = std::path::absolute(&def.cache).unwrap_or(def.cache);
        let store = Store::open(cache)?;
        let file = std::fs::canonicalize(&def.path).unwrap_or_else(|_| def.path.clone());
        Ok(Study {
            name: def.name,
            path: def.path,
            executor: def.executor,
            slurm: def.slurm,
            graph,
            store,
            registry,
            env: def.env,
            file,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    pub fn node_index(&self, id: &str) -> Result<usize, EngineError> {
        self.graph.get(id).ok_or_else(|| EngineError::NoSuchNode {
            id: id.to_owned(),
            hint: swapped_pair(id)
                .filter(|s| self.graph.get(s).is_some())
                .map(|s| format!("did you mean `{s}`? (pairs are named smaller seed first)"))
                .or_else(|| did_you_mean(id, self.graph.nodes.iter().map(|n| n.id.as_str()))),
        })
    }

    /// Whether node `i` downloads its outputs (a `hub`, `hub_data` or `download` node).
    pub fn fetches(&self, i: usize) -> bool {
        self.registry
            .get(&self.graph.nodes[i].kind)
            .is_some_and(|k| k.fetches())
    }

    /// Whether node `i` gets an accelerator slot.
    pub fn uses_device(&self, i: usize) -> bool {
        let kind = self
            .registry
            .get(&self.graph.nodes[i].kind)
            .expect("kinds checked at open");
        // One device node per slot on any GPU backend (CUDA, or wgpu's adapter).
        kind.uses_device() && self.env.get("backend").is_some_and(|b| b != "cpu")
    }

    /// Compute node `i`'s pre-image from its inputs; `done(j)` gives the current record of an
    /// upstream node, if it has one.
    pub fn resolve<'r>(
        &self,
        i: usize,
        done: &dyn Fn(usize) -> Option<&'r ActionRecord>,
    ) -> Result<Resolution, EngineError> {
        let node = &self.graph.nodes[i];
        let mut inputs = BTreeMap::new();
        let mut resolved = BTreeMap::new();
        let mut waiting = Vec::new();
        for input in &node.inputs {
            let read_err = |path: &Path, e: &dyn std::fmt::Display| EngineError::Input {
                node: node.id.clone(),
                role: input.role.clone(),
                path: path.to_owned(),
                message: e.to_string(),
            };
            let (digest, res) = match &input.source {
                Source::File(p) => {
                    let d = self.store.hash_input_file(p).map_err(|e| read_err(p, &e))?;
                    (
                        Some(InputDigest::File(d)),
                        Some(Resolved::File {
                            path: p.clone(),
                            digest: d,
                        }),
                    )
                }
                Source::Dir(p) => {
                    let d = hash_dir(&self.store, p).map_err(|e| read_err(p, &e))?;
                    (
                        Some(InputDigest::Dir(d)),
                        Some(Resolved::Dir {
                            path: p.clone(),
                            digest: d,
                        }),
                    )
                }
                Source::Node(up) => {
                    let j = self.graph.get(up).expect("graph checked edges");
                    match done(j) {
                        Some(rec) => (
                            Some(InputDigest::Node(rec.output_hash)),
                            Some(Resolved::Node {
                                node: up.clone(),
                                key: rec.key,
                            }),
                        ),
                        None => {
                            waiting.push((input.role.clone(), up.clone()));
                            (None, None)
                        }
                    }
                }
            };
            inputs.insert(input.role.clone(), digest);
            if let Some(r) = res {
                resolved.insert(input.role.clone(), r);
            }
        }
        if !waiting.is_empty() {
            return Ok(Resolution::Pending { inputs, waiting });
        }
        let kind = self
            .registry
            .get(&node.kind)
            .expect("kinds checked at open");
        let preimage = Preimage {
            scheme: SCHEME_VERSION,
            kind: node.kind.clone(),
            kind_version: kind.version(),
            params: node.params.clone(),
            env: self.env.clone(),
            inputs: inputs
                .into_iter()
                .map(|(k, v)| (k, v.expect("all known")))
                .collect(),
        };
        let key = preimage.key();
        Ok(Resolution::Known {
            preimage,
            key,
            resolved,
        })
    }

    /// The indexes a finished node is recorded in: this manifest file's, then the study name's.
    pub fn index_scopes(&self) -> [record::Scope<'_>; 2] {
        [
            record::Scope::Manifest {
                study: self.name(),
                manifest: &self.file,
            },
            record::Scope::Study(self.name()),
        ]
    }

    /// The pre-image this node last ran under from this manifest file or, when it never ran
    /// from it, in another file of a study of the same name (`false`).
    pub fn previous(&self, i: usize) -> Option<(Digest, Preimage, bool)> {
        let id = &self.graph.nodes[i].id;
        let [here, named] = self.index_scopes();
        let (old, same_file) = match record::read_index(&self.store, here, id) {
            Some(k) => (k, true),
            None => (record::read_index(&self.store, named, id)?, false),
        };
        if let Ok(Some(rec)) = record::load_record(&self.store, &old) {
            return Some((old, rec.preimage, same_file));
        }
        record::load_recipe(&self.store, &old)
            .ok()
            .map(|r| (old, r.preimage, same_file))
    }

    /// Whether the cache holds no result at all (a new cache, or one `--cache` or a manifest
    /// copied elsewhere pointed at by accident).
    pub fn cache_is_empty(&self) -> bool {
        let actions = self.store.root().join("actions");
        std::fs::read_dir(&actions).map_or(true, |mut d| d.next().is_none())
    }

    /// Why node `i` must run, given its resolution.
    pub fn reasons(&self, i: usize, res: &Resolution) -> Vec<DirtyReason> {
        let node = &self.graph.nodes[i];
        let kind_version = self.registry.get(&node.kind).map_or(0, |k| k.version());
        let prev = self.previous(i);
        let (inputs, waiting, key) = match res {
            Resolution::Known { preimage, key, .. } => (
                preimage
                    .inputs
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect(),
                vec![],
                Some(*key),
            ),
            Resolution::Pending { inputs, waiting } => (inputs.clone(), waiting.clone(), None),
        };
        let mut reasons = match &prev {
            None => vec![DirtyReason::New],
            Some((old_key, _, _)) if Some(*old_key) == key => vec![DirtyReason::RecordMissing],
            Some((_, old, same_file)) => {
                let mut r = diff(old, kind_version, &node.params, &self.env, &inputs);
                if !same_file {
                    r.insert(
                        0,
                        DirtyReason::OtherFile {
                            study: self.name().to_owned(),
                        },
                    );
                }
                r
            }
        };
        reasons.extend(
            waiting
                .into_iter()
                .map(|(role, node)| DirtyReason::UpstreamPending { role, node }),
        );
        reasons
    }

    /// What would run and why, without running anything.
    pub fn plan(&self) -> Result<Plan, EngineError> {
        let n = self.graph.nodes.len();
        let mut records: Vec<Option<ActionRecord>> = vec![None; n];
        let mut plans: Vec<Option<NodePlan>> = vec![None; n];
        for &i in &self.graph.order {
            let res = self.resolve(i, &|j| records[j].as_ref())?;
            let node = &self.graph.nodes[i];
            let (status, key, reasons) = match &res {
                Resolution::Known { key, .. } => match record::load_record(&self.store, key)? {
                    Some(rec) if rec.objects_present(&self.store) => {
                        records[i] = Some(rec);
                        (Status::Fresh, Some(*key), vec![])
                    }
                    _ if self.fetches(i) => (Status::Fetch, Some(*key), self.reasons(i, &res)),
                    _ => (Status::Run, Some(*key), self.reasons(i, &res)),
                },
                Resolution::Pending { .. } => (Status::Blocked, None, self.reasons(i, &res)),
            };
            plans[i] = Some(NodePlan {
                node: node.id.clone(),
                kind: node.kind.clone(),
                status,
                key,
                reasons,
                causes: vec![],
            });
        }
        let mut nodes: Vec<NodePlan> = plans
            .into_iter()
            .map(|p| p.expect("every node planned"))
            .collect();
        self.trace_causes(&mut nodes);
        Ok(Plan { nodes, records })
    }

    /// For each node that must run, the changes that make it: its own (a param, the kind's
    /// version, a data file, never run) or, where it has none, those of the upstream nodes
    /// that must run before it, followed through the DAG. A learning-rate edit then explains
    /// `barriers/x` as "param `lr` changed, in `finetune/x/seed=0` and 19 more", not as 190
    /// inputs that wait.
    fn trace_causes(&self, nodes: &mut [NodePlan]) {
        use std::collections::BTreeSet;
        let n = nodes.len();
        let mut found: Vec<BTreeMap<String, BTreeSet<usize>>> = vec![BTreeMap::new(); n];
        for &i in &self.graph.order {
            if nodes[i].status == Status::Fresh {
                continue;
            }
            let node = &self.graph.nodes[i];
            let upstream_of = |role: &str| {
                node.inputs
                    .iter()
                    .find(|x| x.role == role)
                    .and_then(|x| match &x.source {
                        Source::Node(up) => self
                            .graph
                            .get(up)
                            .filter(|&j| nodes[j].status != Status::Fresh),
                        _ => None,
                    })
            };
            let mut ups = BTreeSet::new();
            let mut own = BTreeMap::new();
            for r in &nodes[i].reasons {
                let up = match r {
                    DirtyReason::UpstreamPending { node: up, .. } => self
                        .graph
                        .get(up)
                        .filter(|&j| nodes[j].status != Status::Fresh),
                    DirtyReason::InputChanged { role, .. } => upstream_of(role),
                    _ => None,
                };
                match up {
                    Some(j) => {
                        ups.insert(j);
                    }
                    None if matches!(r, DirtyReason::OtherFile { .. }) => {}
                    None => {
                        own.insert(r.to_string(), BTreeSet::from([i]));
                    }
                }
            }
            if own.is_empty() {
                for j in ups {
                    for (reason, at) in found[j].clone() {
                        own.entry(reason).or_default().extend(at);
                    }
                }
                nodes[i].causes = own
                    .iter()
                    .map(|(reason, at)| Cause {
                        reason: reason.clone(),
                        nodes: at.iter().map(|&k| self.graph.nodes[k].id.clone()).collect(),
                    })
                    .collect();
            }
            found[i] = own;
        }
    }
}

/// `interpolate/x/7~3` as `interpolate/x/3~7`: a pair is unordered, and spelling
/// similarity would suggest `7~13` first.
fn swapped_pair(id: &str) -> Option<String> {
    let (head, last) = id.rsplit_once('/').unwrap_or(("", id));
    let (pair, tail) = last
        .split_once('@')
        .map_or((last, None), |(p, t)| (p, Some(t)));
    let (a, b) = pair.split_once('~')?;
    let swapped = format!("{b}~{a}");
    let mut out = if head.is_empty() {
        swapped
    } else {
        format!("{head}/{swapped}")
    };
    if let Some(t) = tail {
        out = format!("{out}@{t}");
    }
    Some(out)
}

/// A directory's digest: every regular file's relative path and content hash, in order.
pub(crate) fn hash_dir(store: &Store, dir: &Path) -> Result<Digest, EngineError> {
    if !dir.is_dir() {
        return Err(EngineError::InputDir {
            path: dir.to_path_buf(),
            message: "not a directory".into(),
        });
    }
    let mut entries = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| EngineError::InputDir {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            entries.push((rel, store.hash_input_file(entry.path())?));
        }
    }
    Ok(Digest::of_tagged(
        "dir",
        &serde_json::to_vec(&entries).expect("entries serialise"),
    ))
}
