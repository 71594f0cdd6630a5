//! A cache on a filesystem that fills up or turns read-only, made for real: each test runs
//! `basins-testkit` inside `unshare -rm` (user and mount namespaces, no privileges needed)
//! with a small tmpfs or a read-only bind mount over the cache. Ignored by default, because a
//! machine may forbid namespaces; `scripts/test` runs them where `unshare -rm true` works, and
//! CI requires them.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// Run `script` with `sh` in fresh user and mount namespaces, in the fixture's directory, with
/// `$BASINS` the testkit binary.
fn in_namespace(fx: &Fixture, script: &str) -> Output {
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-euc", script])
        .current_dir(fx.dir.path())
        .env("BASINS", env!("CARGO_BIN_EXE_basins-testkit"))
        .env_remove("BASINS_TESTKIT_SLEEP_MS")
        .env_remove("RUST_LOG")
        .output()
        .expect("unshare is on PATH");
    assert!(
        out.status.success(),
        "the namespace script failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
#[ignore = "needs unshare -rm (user and mount namespaces); scripts/test runs it where available"]
fn a_full_disk_mid_run_is_a_cache_error_that_keeps_finished_nodes() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.cache()).unwrap();
    // 300 KiB: room for the pretrain and a few 64 KiB checkpoints, not for all four.
    let out = in_namespace(
        &fx,
        r#"mount -t tmpfs -o size=300k tmpfs cache
           set +e
           "$BASINS" run m.toml --json --jobs 1 > run.json 2> run.err
           echo $? > run.code
           "$BASINS" gc m.toml --json > gc.json 2> gc.err
           echo $? > gc.code
           mkdir cache2
           mount -t tmpfs -o size=300k tmpfs cache2
           "$BASINS" --cache cache2 run m.toml --json --jobs 1 --executor subprocess > sub.json 2> sub.err
           echo $? > sub.code
           set -e
           cp -a cache saved"#,
    );
    let _ = out;
    // The same through `exec-node` children: the child's exit 3 stays a cache error.
    let sub = read(&fx.path("sub.err"));
    assert_eq!(read(&fx.path("sub.code")).trim(), "3", "{sub}");
    assert!(sub.contains("the cache could not be written"), "{sub}");
    let code = read(&fx.path("run.code"));
    let err = read(&fx.path("run.err"));
    assert_eq!(
        code.trim(),
        "3",
        "disk-full must exit 3 (cache write failure): {err}"
    );
    assert!(err.contains("No space left on device"), "{err}");
    // gc is what frees a full disk: it must work on one.
    assert_eq!(
        read(&fx.path("gc.code")).trim(),
        "0",
        "{}",
        read(&fx.path("gc.err"))
    );
    let saved = fx.path("saved");
    // Nothing half-written was published, and the run log has its end.
    assert_objects_intact(&saved);
    let logs = walk(&saved.join("runs"));
    assert_eq!(logs.len(), 1);
    let log = read(&logs[0]);
    assert!(
        log.lines().last().unwrap().contains("run_finished"),
        "the run log has no end: {log}"
    );
    let finished = log.lines().filter(|l| l.contains("node_executed")).count();
    assert!(finished >= 1, "{log}");
    assert_eq!(
        walk(&saved.join("actions")).len(),
        finished,
        "records are exactly the finished nodes"
    );
}

#[test]
#[ignore = "needs unshare -rm (user and mount namespaces); scripts/test runs it where available"]
fn a_read_only_cache_verifies_and_refuses_writes_with_exit_3() {
    let fx = Fixture::new();
    fx.run(&[]);
    fx.edit("linspace = [0.0, 1.0, 5]", "linspace = [0.0, 1.0, 4]");
    in_namespace(
        &fx,
        r#"mount --bind cache cache
           mount -o remount,ro,bind cache
           set +e
           "$BASINS" verify m.toml --json > verify.json 2> verify.err
           echo $? > verify.code
           "$BASINS" status m.toml --json > status.json 2> status.err
           echo $? > status.code
           "$BASINS" run m.toml --json > run.json 2> run.err
           echo $? > run.code
           "$BASINS" gc m.toml --dry-run > gc.out 2> gc.err
           echo $? > gc.code"#,
    );
    // One output of a node that stays cached is damaged (flipped in place, as a failing disk
    // would): `show` must name it, not fail with a bare I/O error (issue 32).
    let show = fx.json(&["show", "m.toml", "evaluate/cola/seed=2", "--json"]);
    let object = show["outputs"][0]["path"].as_str().unwrap().to_owned();
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[0] ^= 1;
    let mut perm = std::fs::metadata(&object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&object, perm).unwrap();
    std::fs::write(&object, bytes).unwrap();
    in_namespace(
        &fx,
        r#"mount --bind cache cache
           mount -o remount,ro,bind cache
           set +e
           "$BASINS" show m.toml evaluate/cola/seed=2 > show.out 2> show.err
           echo $? > show.code"#,
    );
    // A dry run removes nothing: it counts without the lock it cannot take (it exited 3).
    let gc_err = read(&fx.path("gc.err"));
    assert_eq!(read(&fx.path("gc.code")).trim(), "0", "{gc_err}");
    assert!(
        gc_err.contains("a dry run counts without the gc lock"),
        "{gc_err}"
    );
    let show_err = read(&fx.path("show.err"));
    assert_eq!(read(&fx.path("show.code")).trim(), "3", "{show_err}");
    assert!(
        show_err.contains("output `out.json` of `evaluate/cola/seed=2` is corrupt"),
        "{show_err}"
    );
    let verify_err = read(&fx.path("verify.err"));
    assert_eq!(read(&fx.path("verify.code")).trim(), "0", "{verify_err}");
    let verify: Value = serde_json::from_str(&read(&fx.path("verify.json"))).unwrap();
    // The edited grid leaves the interpolations and what depends on them uncached; every
    // node still cached re-executes bit-exactly outside the read-only cache.
    assert!(verify["checked"].as_u64().unwrap() >= 9, "{verify}");
    assert!(
        verify["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["verdict"] == "bit_exact"),
        "{verify}"
    );
    assert_eq!(read(&fx.path("status.code")).trim(), "0");
    let run_err = read(&fx.path("run.err"));
    assert_eq!(read(&fx.path("run.code")).trim(), "3", "{run_err}");
    assert!(run_err.contains("Read-only file system"), "{run_err}");
}
