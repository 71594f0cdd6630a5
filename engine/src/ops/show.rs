//! `basins show`: a node's outputs, metrics and provenance, each output checked against its
//! digest.

use basins_cache::{CacheError, Digest, Store};
use serde::Serialize;
use serde_json::Value;

use crate::key::DirtyReason;
use crate::record::{self, ActionRecord, OutputClass};
use crate::study::{Status, Study};
use crate::EngineError;

#[derive(Debug, Serialize)]
pub struct ShownOutput {
    pub name: String,
    pub path: String,
    pub size: u64,
    pub class: OutputClass,
}

#[derive(Debug, Serialize)]
pub struct ShowReport {
    pub node: String,
    pub kind: String,
    pub status: Status,
    pub key: Option<Digest>,
    pub reasons: Vec<DirtyReason>,
    pub outputs: Vec<ShownOutput>,
    pub metrics: Value,
    pub record: Option<ActionRecord>,
    pub log: Option<String>,
}

pub fn show(study: &Study, id: &str) -> Result<ShowReport, EngineError> {
    let i = study.node_index(id)?;
    let _in_use = record::use_cache(&study.store)?;
    let mut plan = study.plan()?;
    // What `show` hands out (paths to open) is checked like everything leaving the cache.
    if let Some(rec) = &plan.records[i] {
        if let Some(bad) = first_bad_output(&study.store, rec, Check::Memo)? {
            tracing::warn!(
                node = %rec.node,
                "output `{bad}` is corrupt or missing: its record is dropped, so `basins run` recomputes it"
            );
            study
                .store
                .remove_action(&rec.key)
                .map_err(|e| EngineError::CorruptOutput {
                    node: rec.node.clone(),
                    output: bad.clone(),
                    message: format!("its record cannot be dropped ({e})"),
                })?;
            plan = study.plan()?;
        }
    }
    let p = plan.nodes.swap_remove(i);
    let rec = plan.records.swap_remove(i);
    let outputs = rec
        .iter()
        .flat_map(|r| r.outputs.iter())
        .map(|(name, o)| ShownOutput {
            name: name.clone(),
            path: study.store.object_path(&o.digest).display().to_string(),
            size: o.size,
            class: o.class,
        })
        .collect();
    Ok(ShowReport {
        node: p.node,
        kind: p.kind,
        status: p.status,
        key: p.key,
        reasons: p.reasons,
        outputs,
        metrics: rec.as_ref().map_or(Value::Null, |r| r.metrics.clone()),
        log: rec
            .as_ref()
            .and_then(|r| r.log.as_ref())
            .map(|l| study.store.root().join(l).display().to_string()),
        record: rec,
    })
}

/// What leaving the cache found for a node's outputs.
pub enum Checked {
    /// Every output hashes to its name: (name, object path).
    Intact(Vec<(String, std::path::PathBuf)>),
    /// An output was corrupt or missing: it is quarantined and the node's record dropped, so the
    /// next run recomputes the node. Names the first bad output.
    Dropped(String),
}

/// A cached node's outputs, each checked against its digest on the way out of the cache (what
/// `basins report` copies must be what was recorded, never a flipped byte).
pub fn checked_outputs(study: &Study, id: &str) -> Result<Option<Checked>, EngineError> {
    let i = study.node_index(id)?;
    let _in_use = record::use_cache(&study.store)?;
    let mut plan = study.plan()?;
    let Some(rec) = plan.records.swap_remove(i) else {
        return Ok(None);
    };
    if let Some(bad) = first_bad_output(&study.store, &rec, Check::Memo)? {
        study.store.remove_action(&rec.key)?;
        return Ok(Some(Checked::Dropped(bad)));
    }
    let out = rec
        .outputs
        .iter()
        .map(|(name, o)| (name.clone(), study.store.object_path(&o.digest)))
        .collect();
    Ok(Some(Checked::Intact(out)))
}

/// How hard to look at an object: trust a remembered check of an untouched file, or hash it.
#[derive(Clone, Copy)]
pub(super) enum Check {
    Memo,
    Rehash,
}

/// The name of a record's first output that is missing or does not hash to its digest (that
/// object is quarantined), or `None` when all are intact.
pub(super) fn first_bad_output(
    store: &Store,
    rec: &ActionRecord,
    how: Check,
) -> Result<Option<String>, EngineError> {
    for (name, o) in &rec.outputs {
        let checked = match how {
            Check::Memo => store.verified_object(&o.digest),
            Check::Rehash => store.rehashed_object(&o.digest),
        };
        match checked {
            Ok(_) => {}
            Err(CacheError::Corrupt { .. }) | Err(CacheError::Missing(_)) => {
                return Ok(Some(name.clone()))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}
