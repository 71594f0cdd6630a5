//! `[cluster]`.

use super::*;

pub(super) fn resolve_cluster(
    c: RawCluster,
    tasks: &BTreeMap<String, Task>,
    diagnostics: &BTreeMap<String, Diagnostic>,
    models: usize,
) -> Result<Cluster, ManifestError> {
    let eval = c
        .eval
        .as_ref()
        .map(|r| eval_ref(r, "cluster.eval", tasks, diagnostics))
        .transpose()?;
    let k = match &c.k {
        None => ClusterK::Fixed(2),
        Some(v) => match &v.value {
            toml::Value::Integer(n) if *n > models as i64 => {
                return Err(invalid(
                    &v.at,
                    "cluster.k",
                    format!("{n} clusters of {models} models"),
                    format!("k from 1 to {models}, or \"eigengap\""),
                ))
            }
            toml::Value::Integer(n) if *n >= 1 => ClusterK::Fixed(*n as u32),
            toml::Value::String(s) if s == "eigengap" => ClusterK::Eigengap,
            other => {
                return Err(invalid(
                    &v.at,
                    "cluster.k",
                    format!("`{other}` is not a cluster count"),
                    "a positive integer or \"eigengap\"",
                ))
            }
        },
    };
    let delta =
        match &c.delta {
            None => ClusterDelta::Fixed(1.0),
            Some(d) => match &d.value {
                toml::Value::String(s) if s == "median" => ClusterDelta::Median(MedianTag::Median),
                v => match v.as_float().or(v.as_integer().map(|i| i as f64)) {
                    Some(x) if x > 0.0 && x.is_finite() => ClusterDelta::Fixed(x),
                    _ => return Err(invalid(
                        &d.at,
                        "cluster.delta",
                        format!("`{v}` is not a usable kernel width"),
                        "a positive number (the paper uses 1.0) or \"median\" (the median barrier)",
                    )),
                },
            },
        };
    Ok(Cluster {
        eval,
        barrier: c.barrier.unwrap_or(BarrierKind::Convexity),
        method: c.method.unwrap_or(ClusterMethod::Spectral),
        k,
        delta,
        bootstrap: c.bootstrap.unwrap_or(200),
    })
}
