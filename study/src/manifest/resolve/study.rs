//! `[study]` and `[study.slurm]`.

use super::*;

pub(super) fn resolve_study(path: &Path, s: Option<At<RawStudy>>) -> Result<Study, ManifestError> {
    let s = s.ok_or_else(|| {
        missing(
            top(path),
            "study",
            "the manifest has no [study] section",
            "[study] with at least `name`",
        )
    })?;
    let name = s.value.name.clone().ok_or_else(|| {
        missing(
            s.at.clone(),
            "study.name",
            "[study] has no `name` (it keys the cache index)",
            "name = \"my-study\"",
        )
    })?;
    check_name(&name.at, "study.name", "study", &name.value, true)?;
    let backend = s.backend.unwrap_or(Backend::Cpu);
    let precision = s.precision.clone().map(|p| (p.value, p.at));
    if let Some((p, at)) = &precision {
        if *p != Precision::F32 && backend != Backend::Cuda {
            return Err(invalid(
                at,
                "study.precision",
                "half precision is only offered on `cuda`",
                "\"f32\" with backend \"cpu\" or \"wgpu\"",
            ));
        }
    }
    let cache = match &s.cache {
        Some(c) => rel(c),
        None => normalize(&path.parent().unwrap_or(Path::new(".")).join(".basins")),
    };
    Ok(Study {
        name: name.value,
        backend,
        precision: precision.map_or(Precision::F32, |p| p.0),
        cache,
        executor: s.executor.unwrap_or(ExecutorKind::Local),
        slurm: resolve_slurm(s.slurm.as_ref())?,
    })
}

pub(super) fn resolve_slurm(raw: Option<&At<RawSlurm>>) -> Result<SlurmSettings, ManifestError> {
    let Some(r) = raw else {
        return Ok(SlurmSettings {
            resources: SlurmResources::default(),
            kinds: BTreeMap::new(),
            max_jobs: 100,
            poll_max_s: 30.0,
            record_latency_s: 60.0,
        });
    };
    if let Some(m) = &r.max_jobs {
        if m.value == 0 {
            return Err(invalid(
                &m.at,
                "study.slurm.max_jobs",
                "must be positive",
                "an integer >= 1",
            ));
        }
    }
    check_range(
        &r.poll_max_s,
        "study.slurm.poll_max_s",
        0.1,
        3600.0,
        "seconds in [0.1, 3600]",
    )?;
    check_range(
        &r.record_latency_s,
        "study.slurm.record_latency_s",
        0.0,
        3600.0,
        "seconds in [0, 3600]",
    )?;
    Ok(SlurmSettings {
        resources: r.resources(),
        kinds: r
            .kinds
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
        max_jobs: r.max_jobs.as_ref().map_or(100, |m| m.value),
        poll_max_s: r.poll_max_s.as_ref().map_or(30.0, |x| x.value),
        record_latency_s: r.record_latency_s.as_ref().map_or(60.0, |x| x.value),
    })
}
