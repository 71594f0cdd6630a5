//! `basins gc`: remove what none of the named studies uses, and say how much by kind and class.

use std::collections::{BTreeMap, HashSet};

use basins_cache::{CacheError, Digest, Store};
use serde::Serialize;

use crate::record::{self, OutputClass};
use crate::study::{Status, Study};
use crate::EngineError;

#[derive(Debug, Default, Serialize)]
pub struct Bytes {
    pub checkpoints: u64,
    pub results: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct GcSummary {
    pub dry_run: bool,
    pub kept_actions: usize,
    pub removed_actions: usize,
    pub removed_by_kind: BTreeMap<String, Bytes>,
    pub kept_by_kind: BTreeMap<String, Bytes>,
    /// Objects no record refers to (from interrupted runs).
    pub unreferenced_bytes: u64,
    pub temp_files: usize,
    /// Resume directories (partial downloads, a killed finetune's last checkpoint) of recipes
    /// no named study would run now; those of nodes still to run are kept, to resume.
    pub abandoned_resume_bytes: u64,
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

fn add(map: &mut BTreeMap<String, Bytes>, kind: &str, class: OutputClass, size: u64) {
    let b = map.entry(kind.to_owned()).or_default();
    match class {
        OutputClass::Checkpoint => b.checkpoints += size,
        OutputClass::Result => b.results += size,
    }
}

/// Keep what the named studies currently use (their fresh nodes); remove everything else in
/// their shared cache.
pub fn gc(studies: &[Study], dry_run: bool) -> Result<GcSummary, EngineError> {
    let store: &Store = &studies.first().ok_or(EngineError::NoManifests)?.store;
    // Taken before the live set is read: no run can publish between reading and removing.
    let exclusive = match store.exclusive(|users| {
        let who: Vec<String> = users
            .iter()
            .map(|u| format!("pid {} on {} (since {})", u.pid, u.host, u.since))
            .collect();
        tracing::warn!(
            "waiting for the processes using the cache {} to finish: {}",
            store.root().display(),
            if who.is_empty() {
                "(unregistered)".to_owned()
            } else {
                who.join(", ")
            }
        );
    }) {
        Ok(lock) => Some(lock),
        // A dry run removes nothing, so on a cache this process cannot write (where even the
        // lock file cannot be made) it counts without the lock rather than fail.
        Err(CacheError::Io { cause, path, .. })
            if dry_run
                && (crate::error::storage_refused(&cause)
                    || cause.kind() == std::io::ErrorKind::PermissionDenied) =>
        {
            tracing::warn!(
                "the cache cannot be written ({}: {cause}): a dry run counts without the gc \
                 lock, so a run publishing meanwhile may not be seen",
                path.display()
            );
            None
        }
        Err(e) => return Err(e.into()),
    };
    let mut live_actions = HashSet::new();
    let mut live_objects = HashSet::new();
    let mut wanted = HashSet::new();
    let mut summary = GcSummary {
        dry_run,
        ..Default::default()
    };
    for study in studies {
        if study.store.root() != store.root() {
            return Err(EngineError::DifferentCaches {
                first: store.root().to_owned(),
                other: study.store.root().to_owned(),
            });
        }
        let plan = study.plan()?;
        for p in &plan.nodes {
            if let (Some(k), Status::Run | Status::Fetch) = (p.key, p.status) {
                wanted.insert(k);
            }
        }
        for rec in plan.records.into_iter().flatten() {
            if live_actions.insert(rec.key) {
                for o in rec.outputs.values() {
                    if live_objects.insert(o.digest) {
                        add(&mut summary.kept_by_kind, &rec.kind, o.class, o.size);
                    }
                }
            }
        }
    }
    let mut attributed = HashSet::new();
    for key in store.action_keys() {
        if live_actions.contains(&key) {
            continue;
        }
        if let Some(rec) = record::load_record(store, &key)? {
            for o in rec.outputs.values() {
                if !live_objects.contains(&o.digest)
                    && attributed.insert(o.digest)
                    && store.has_object(&o.digest)
                {
                    add(&mut summary.removed_by_kind, &rec.kind, o.class, o.size);
                }
            }
        }
        if !dry_run {
            let _ = std::fs::remove_file(record::recipe_path(store, &key));
            let _ = std::fs::remove_file(record::log_path(store, &key));
            let _ = std::fs::remove_dir_all(crate::exec::resume_path(store, &key));
        }
    }
    let resume_root = store.root().join("resume");
    for entry in std::fs::read_dir(&resume_root)
        .into_iter()
        .flatten()
        .flatten()
    {
        let keep = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<Digest>().ok())
            .is_some_and(|k| wanted.contains(&k) || live_actions.contains(&k));
        if !keep {
            summary.abandoned_resume_bytes += dir_bytes(&entry.path());
            if !dry_run {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let report = store.gc(exclusive.as_ref(), &live_actions, &live_objects, dry_run)?;
    summary.kept_actions = live_actions.len();
    summary.removed_actions = report.actions.len();
    summary.unreferenced_bytes = report
        .objects
        .iter()
        .filter(|o| !attributed.contains(&o.digest))
        .map(|o| o.size)
        .sum();
    summary.temp_files = report.temp_files;
    Ok(summary)
}
