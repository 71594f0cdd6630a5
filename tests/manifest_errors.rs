//! Bad manifests are refused with `file:line:column`, the key, what was expected and, for
//! misspellings, a suggestion; never a panic. Each case edits the good test manifest.

mod common;

use common::Fixture;

/// Apply `from -> to` to the test manifest, run `plan`, and return stderr (asserting exit 2).
fn refuse(from: &str, to: &str) -> String {
    let fx = Fixture::new();
    fx.edit(from, to);
    let out = fx.cli(&["plan", "m.toml"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "`{from}` -> `{to}` was not refused as bad input:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn has(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "expected `{p}` in:\n{err}");
    }
}

#[test]
fn misspelt_key_names_place_and_suggests() {
    let e = refuse("lr = 2e-5", "lrr = 2e-5");
    has(
        &e,
        &[
            "m.toml:23:1: `finetune.lrr`: unknown field `lrr`",
            "expected: `model`, `tasks`",
            "help: did you mean `lr`?",
        ],
    );
}

#[test]
fn misspelt_section_suggests() {
    let e = refuse("[finetune]", "[finetun]");
    has(
        &e,
        &[
            "m.toml:19:2: `finetun`: unknown field `finetun`",
            "did you mean `finetune`?",
        ],
    );
}

#[test]
fn wrong_type_names_the_type() {
    let e = refuse("batch_size = 16", "batch_size = \"16\"");
    has(
        &e,
        &["m.toml:24:14: `finetune.batch_size`: invalid type: string \"16\", expected u32"],
    );
}

#[test]
fn unknown_enum_value_lists_the_choices() {
    let e = refuse("name = \"t\"", "name = \"t\"\nbackend = \"gpu\"");
    has(
        &e,
        &[
            "m.toml:3:11: `study.backend`: unknown variant `gpu`",
            "expected: `cpu`, `cuda`",
        ],
    );
    let e = refuse("format = \"cola\"", "format = \"colaa\"");
    has(
        &e,
        &["m.toml:9:10: `tasks.cola.format`", "did you mean `cola`?"],
    );
}

#[test]
fn dangling_model_reference() {
    let e = refuse("model = \"tiny\"", "model = \"tinyy\"");
    has(
        &e,
        &[
            "m.toml:20:9: `finetune.model`: `tinyy` does not name a model",
            "expected: one of `tiny`",
            "did you mean `tiny`?",
        ],
    );
}

#[test]
fn dangling_task_references() {
    let e = refuse("tasks = [\"cola\"]", "tasks = [\"cola\", \"mnli\"]");
    has(
        &e,
        &["m.toml:21:18: `finetune.tasks`: `mnli` does not name a task"],
    );
    let e = refuse("task = \"cola\"", "task = \"cloa\"");
    has(
        &e,
        &[
            "m.toml:15:8: `diagnostics.ood.task`: `cloa` does not name a finetuned task",
            "did you mean `cola`?",
        ],
    );
}

#[test]
fn dangling_eval_set() {
    let e = refuse("pairs = \"all\"", "pairs = \"all\"\neval = [\"cola.test\"]");
    has(
        &e,
        &[
            "m.toml:28:9: `interpolate.eval`: `cola.test` does not name an eval set",
            "did you mean `cola.dev`?",
        ],
    );
}

#[test]
fn empty_seed_range_and_unknown_pair_seed() {
    let e = refuse("seeds = \"0..4\"", "seeds = \"3..3\"");
    has(
        &e,
        &["m.toml:22:9: `finetune.seeds`: seed range `3..3` is empty"],
    );
    let e = refuse("pairs = \"all\"", "pairs = [[0, 7]]");
    has(
        &e,
        &["m.toml:27:9: `interpolate.pairs`: seed 7 is not among [finetune].seeds"],
    );
}

#[test]
fn include_cycle_is_named() {
    let fx = Fixture::new();
    fx.write("a.toml", "include = [\"b.toml\"]\n");
    fx.write("b.toml", "\ninclude = [\"a.toml\"]\n");
    let text = std::fs::read_to_string(fx.path("m.toml")).unwrap();
    fx.write("m.toml", &format!("include = [\"a.toml\"]\n{text}"));
    let out = fx.cli(&["plan", "m.toml"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    has(
        &e,
        &["b.toml:2:12: `include`: include cycle: ", "a.toml -> "],
    );
}

#[test]
fn syntax_error_has_a_position() {
    let e = refuse("[cluster]", "[cluster");
    has(&e, &["m.toml:30:9: ", "unclosed table"]);
}

#[test]
fn model_with_both_sources_and_bad_ranges() {
    let e = refuse(
        "builtin = { layers = 2, hidden = 32 }",
        "builtin = { layers = 2, hidden = 32 }\npath = \"x\"",
    );
    has(
        &e,
        &["m.toml:5:1: `models.tiny`: a model needs exactly one of `path`, `hub` and `builtin`"],
    );
    let e = refuse("batch_size = 16", "batch_size = 16\ndropout = 1.5");
    has(
        &e,
        &[
            "m.toml:25:11: `finetune.dropout`: 1.5 is out of range",
            "a probability in [0, 0.99]",
        ],
    );
    let e = refuse("k = 2", "k = 0");
    has(
        &e,
        &["m.toml:31:5: `cluster.k`: `0` is not a cluster count"],
    );
    let e = refuse("linspace = [0.0, 1.0, 5]", "linspace = [0.0, 1.0, 1]");
    has(
        &e,
        &["m.toml:28:10: `interpolate.alphas`", "number of points"],
    );
}

#[test]
fn half_precision_on_cpu_and_missing_name() {
    let e = refuse("name = \"t\"", "name = \"t\"\nprecision = \"bf16\"");
    has(
        &e,
        &["m.toml:3:13: `study.precision`: half precision is only offered on `cuda`"],
    );
    // wgpu is a GPU backend, but burn 0.20.1 trains there in f32 only, as on the CPU.
    let e = refuse(
        "name = \"t\"",
        "name = \"t\"\nbackend = \"wgpu\"\nprecision = \"f16\"",
    );
    has(
        &e,
        &["m.toml:4:13: `study.precision`: half precision is only offered on `cuda`"],
    );
    let e = refuse("name = \"t\"\n", "");
    has(&e, &["m.toml:", "`study.name`: [study] has no `name`"]);
}

#[test]
fn missing_input_file_names_node_role_and_path() {
    let fx = Fixture::new();
    std::fs::remove_file(fx.path("data/ood.tsv")).unwrap();
    let out = fx.cli(&["run", "m.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    has(&e, &["input `eval:ood`", "data/ood.tsv", "No such file"]);
}

#[test]
fn later_includes_win() {
    let fx = Fixture::new();
    let text = std::fs::read_to_string(fx.path("m.toml")).unwrap();
    fx.write("base.toml", &text);
    fx.write(
        "m.toml",
        "include = [\"base.toml\"]\n\n[finetune]\nlr = 5e-5\n",
    );
    let out = fx.cli(&["run", "m.toml", "--only", "finetune/cola/seed=0"]);
    common::assert_success(&out, &["run with include"]);
    let show = fx.json(&["show", "m.toml", "finetune/cola/seed=0", "--json"]);
    assert_eq!(show["record"]["preimage"]["params"]["hyper"]["lr"], 5e-5);
    assert_eq!(
        show["record"]["preimage"]["params"]["hyper"]["batch_size"], 16,
        "the base's other keys are kept"
    );
}

#[test]
fn a_zoo_and_a_finetune_section_exclude_each_other() {
    let e = refuse(
        "[report]",
        "[zoo]\ntask = \"cola\"\ndir = \"data\"\n\n[report]",
    );
    has(
        &e,
        &["m.toml:33:1: `zoo`: a study either finetunes models ([finetune]) or analyses given ones ([zoo]), not both"],
    );
}

/// A zoo names its folder; a missing folder, a folder without checkpoints and an unknown
/// member are each refused at the key that says so.
#[test]
fn zoo_folders_and_members_are_checked() {
    let zoo = |body: &str| {
        let fx = Fixture::new();
        let text = std::fs::read_to_string(fx.path("m.toml")).unwrap();
        let start = text.find("[finetune]").unwrap();
        let end = text.find("[interpolate]").unwrap();
        let text = format!("{}[zoo]\n{body}\n\n{}", &text[..start], &text[end..]);
        fx.write("m.toml", &text);
        for m in ["b1", "b2"] {
            std::fs::create_dir_all(fx.path(&format!("zoo/{m}"))).unwrap();
            fx.write(&format!("zoo/{m}/config.json"), "{}");
        }
        let out = fx.cli(&["plan", "m.toml"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err, fx)
    };
    let (code, err, _) = zoo("task = \"cola\"\ndir = \"nowhere\"");
    assert_eq!(code, Some(2), "{err}");
    has(&err, &["m.toml:21:7: `zoo.dir`: cannot list", "nowhere"]);
    let (code, err, _) = zoo("task = \"cola\"\ndir = \"data\"");
    assert_eq!(code, Some(2), "{err}");
    has(
        &err,
        &[
            "`zoo.dir`",
            "holds 0 checkpoint(s)",
            "at least 2 checkpoints",
        ],
    );
    let (code, err, _) = zoo("task = \"cola\"\ndir = \"zoo\"\nmembers = [\"b1\", \"b3\"]");
    assert_eq!(code, Some(2), "{err}");
    has(
        &err,
        &[
            "m.toml:22:11: `zoo.members`",
            "`b3` is not a subdirectory",
            "expected: one of `b1`, `b2`",
        ],
    );
    let (code, err, _) = zoo("task = \"qqp\"\ndir = \"zoo\"");
    assert_eq!(code, Some(2), "{err}");
    has(
        &err,
        &["m.toml:20:8: `zoo.task`: `qqp` does not name a task"],
    );
    // Well formed: planned with an evaluate node per member and no training.
    let (code, err, fx) = zoo("task = \"cola\"\ndir = \"zoo\"");
    assert_eq!(code, Some(0), "{err}");
    let plan = fx.json(&["plan", "m.toml", "--json"]);
    let text = plan.to_string();
    assert!(text.contains("evaluate/cola/model=b1"), "{text}");
    assert!(text.contains("interpolate/cola/b1~b2"), "{text}");
    assert!(
        !text.contains("finetune/") && !text.contains("pretrain/"),
        "{text}"
    );
}

#[test]
fn slurm_settings_are_checked() {
    let e = refuse(
        "cache = \"cache\"",
        "cache = \"cache\"\n\n[study.slurm]\nmax_jobs = 0",
    );
    has(
        &e,
        &["m.toml:6:12: `study.slurm.max_jobs`: must be positive"],
    );
    let e = refuse(
        "cache = \"cache\"",
        "cache = \"cache\"\n\n[study.slurm.kinds.finetune]\ngpu = 1",
    );
    has(
        &e,
        &["m.toml:6:1", "unknown field `gpu`", "did you mean `gpus`?"],
    );
}

#[test]
fn surface_and_score_are_checked_against_the_set() {
    let e = refuse(
        "labels = [\"0\", \"1\"]",
        "labels = [\"0\", \"1\"]\nsurface = { where = { label = \"2\" }, n = 10 }",
    );
    has(
        &e,
        &[
            "m.toml:13:11: `tasks.cola.surface.where.label`: `2` is not one of the set's labels",
            "expected: one of [\"0\", \"1\"]",
        ],
    );
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nsurface = { n = 0 }",
    );
    has(&e, &["`diagnostics.ood.surface.n`", "n >= 1"]);
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nmetric_where = { source = \"x\" }",
    );
    has(
        &e,
        &["`diagnostics.ood.metric_where`: `metric_where` without `metric`"],
    );
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nmetric_held_out = true",
    );
    has(
        &e,
        &[
            "`diagnostics.ood.metric_held_out`: `metric_held_out` without `metric`",
            "metric = \"accuracy\" beside it",
        ],
    );
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nmetric = \"accuracy\"\nmetric_held_out = \"yes\"",
    );
    has(&e, &["metric_held_out", "bool"]);
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nlabels = [\"0\", \"1\", \"2\"]\nmetric = \"f1\"",
    );
    has(
        &e,
        &["`diagnostics.ood.metric`: F1 is defined for two labels"],
    );
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nmetric = \"auc\"",
    );
    has(&e, &["`diagnostics.ood.metric`", "unknown variant `auc`"]);
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nsurface = { where = { heuristic = [] } }",
    );
    has(&e, &["`heuristic` lists no values"]);
}

#[test]
fn kernel_width_is_a_number_or_median() {
    let e = refuse("k = 2", "k = 2\ndelta = \"mean\"");
    has(
        &e,
        &[
            "`cluster.delta`: `\"mean\"` is not a usable kernel width",
            "or \"median\"",
        ],
    );
    let fx = Fixture::new();
    fx.edit("k = 2", "k = 2\ndelta = \"median\"");
    let out = fx.cli(&["plan", "m.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Names become node ids and file names: a task, split, diagnostic, model or study named like a
/// path (or too long for a file system) is refused where it is written, before anything is
/// built from it. Before this check, `[tasks."../../x"]` made stages write outside the cache.
#[test]
fn names_that_are_paths_are_refused() {
    let e = refuse("[tasks.cola]", "[tasks.\"../../../../tmp/S/X\"]");
    has(
        &e,
        &["`tasks`: `../../../../tmp/S/X` is not a usable task name"],
    );
    let e = refuse("[diagnostics.ood]", "[diagnostics.\"/tmp/S/X\"]");
    has(
        &e,
        &["`diagnostics`: `/tmp/S/X` is not a usable diagnostic name"],
    );
    let e = refuse("name = \"t\"", "name = \"..\"");
    has(
        &e,
        &["m.toml:2:8: `study.name`: `..` is not a usable study name"],
    );
    let e = refuse("[models.tiny]", "[models.\"a/b\"]");
    has(&e, &["`models`: `a/b` is not a usable model name"]);
    let e = refuse("eval = { dev = ", "eval = { \"x/../dev\" = ");
    has(
        &e,
        &["`tasks.cola.eval`: `x/../dev` is not a usable split name"],
    );
    let long = "a".repeat(5000);
    let e = refuse("[tasks.cola]", &format!("[tasks.{long}]"));
    has(
        &e,
        &[
            "is not a usable task name",
            "(5000 characters)",
            "at most 64 characters",
        ],
    );
}

#[test]
fn values_that_would_fail_later_are_refused_now() {
    let e = refuse("labels = [\"0\", \"1\"]", "labels = [\"0\", \"1\", \"0\"]");
    has(&e, &["`tasks.cola.labels`: label `0` is listed twice"]);
    let e = refuse("labels = [\"0\", \"1\"]", "labels = [\"0\", \"\"]");
    has(&e, &["`tasks.cola.labels`: a label is empty"]);
    let e = refuse("pairs = \"all\"", "pairs = \"all\"\nmax_examples = 0");
    has(
        &e,
        &["`interpolate.max_examples`: a loss surface of 0 examples"],
    );
    let e = refuse("pairs = \"all\"", "pairs = \"all\"\nbatch_size = 0");
    has(&e, &["`interpolate.batch_size`: must be positive"]);
    let e = refuse("k = 2", "k = 10");
    has(
        &e,
        &[
            "`cluster.k`: 10 clusters of 4 models",
            "expected: k from 1 to 4",
        ],
    );
    let e = refuse("tasks = [\"cola\"]", "tasks = [\"cola\", \"cola\"]");
    has(&e, &["`finetune.tasks`: task `cola` is listed twice"]);
    let e = refuse("hidden = 32 }", "hidden = 32, heads = 3 }");
    has(
        &e,
        &["`models.tiny.builtin`: 3 heads do not divide hidden = 32"],
    );
    let e = refuse("hidden = 32 }", "hidden = 0 }");
    has(
        &e,
        &["`models.tiny.builtin`: `hidden` is 0; it must be from 1 to 4096"],
    );
    let e = refuse("batch_size = 16", "batch_size = 16\nmax_len = 100");
    has(
        &e,
        &["`finetune.max_len`: 100 tokens, but model `tiny` has 64 positions"],
    );
}

/// Sizes that used to abort the process with an allocation failure are refused with the limit.
#[test]
fn sizes_past_the_limits_are_errors_not_aborts() {
    let e = refuse("seeds = \"0..4\"", "seeds = \"0..100000000\"");
    has(
        &e,
        &["100000000 seeds, more than the 1000 a study may have"],
    );
    let e = refuse(
        "alphas = { linspace = [0.0, 1.0, 5] }",
        "alphas = { linspace = [0, 1, 1000000000] }",
    );
    has(
        &e,
        &["linspace asks for 1000000000 points, more than the 1000"],
    );
    let e = refuse("seeds = \"0..4\"", "seeds = \"0..1000\"");
    has(
        &e,
        &["`interpolate.pairs`: 499500 pairs, more than the 100000"],
    );
}

#[test]
fn a_strategy_needs_a_finite_threshold_and_two_names() {
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nstrategy = { above = \"rule\", below = \"rule\" }",
    );
    has(
        &e,
        &["`diagnostics.ood.strategy.below`", "different from `above`"],
    );
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nstrategy = { threshold = nan, above = \"a\", below = \"b\" }",
    );
    has(
        &e,
        &["`diagnostics.ood.strategy.threshold`", "a finite number"],
    );
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nstrategy = { above = \"a\", below = \"b\", kinds = \" \" }",
    );
    has(
        &e,
        &[
            "`diagnostics.ood.strategy.kinds`",
            "the name of a group column",
        ],
    );
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nstrategy = { above = \"a\" }",
    );
    has(&e, &["strategy", "below"]);
}

#[test]
fn sweep_keys_and_values_are_checked() {
    let sweep = |body: &str| refuse("[report]", &format!("[sweep]\n{body}\n\n[report]"));
    has(
        &sweep("\"finetune.epochs\" = [1, 2]"),
        &[
            "`sweep.\"finetune.epochs\"`",
            "this file does not set that key",
        ],
    );
    has(
        &sweep("\"study.name\" = [\"a\", \"b\"]"),
        &["`sweep.\"study.name\"`", "shared by every sub-study"],
    );
    has(
        &sweep("\"finetune.lr\" = []"),
        &["`sweep.\"finetune.lr\"`", "no values"],
    );
    has(
        &sweep("\"cluster.k\" = [2, 0]"),
        &["with k=0 the study is not valid", "cluster.k"],
    );
    has(
        &sweep("\"finetune.model\" = [\"../x\"]"),
        &["cannot name a sub-study"],
    );
}

#[test]
fn hub_models_are_checked_where_they_are_written() {
    let e = refuse(
        "builtin = { layers = 2, hidden = 32 }",
        "hub = \"a--b/model\"",
    );
    has(
        &e,
        &[
            "m.toml:6:7: `models.tiny.hub`",
            "not a Hugging Face model id",
        ],
    );
    let e = refuse(
        "builtin = { layers = 2, hidden = 32 }",
        "hub = \"org/model\"\nrevision = \"has space\"",
    );
    has(
        &e,
        &["m.toml:7:12: `models.tiny.revision`", "not a revision"],
    );
    let e = refuse(
        "builtin = { layers = 2, hidden = 32 }",
        "builtin = { layers = 2, hidden = 32 }\nrevision = \"main\"",
    );
    has(&e, &["`models.tiny.revision`: `revision` without `hub`"]);
    let e = refuse(
        "builtin = { layers = 2, hidden = 32 }",
        "hub = \"org/model\"\npath = \"models/x\"",
    );
    has(&e, &["exactly one of `path`, `hub` and `builtin`"]);
}

#[test]
fn hub_zoos_are_checked_where_they_are_written() {
    let zoo = |z: &str| {
        refuse(
            "[finetune]\nmodel = \"tiny\"\ntasks = [\"cola\"]\nseeds = \"0..4\"\nlr = 2e-5\nbatch_size = 16",
            &format!("[zoo]\ntask = \"cola\"\n{z}"),
        )
    };
    has(
        &zoo("hub = \"org/m_{0..1}\""),
        &["`zoo.hub`", "holds 1 checkpoint(s)", "at least 2"],
    );
    has(&zoo("hub = \"org/m_{3..3}\""), &["`zoo.hub`", "is empty"]);
    has(
        &zoo("hub = \"org/m_{0..3}\"\nmembers = [\"m_0\", \"m_7\"]"),
        &[
            "`zoo.members`",
            "`m_7` is not a model that the Hub pattern `org/m_{0..3}` names",
        ],
    );
    has(
        &zoo("hub = \"org/m_{0..3}\"\ndir = \"models\""),
        &["exactly one of `dir` and `hub`"],
    );
    has(
        &zoo("dir = \"models\"\nrevision = \"main\""),
        &["`zoo.revision`: `revision` without `hub`"],
    );
    // `steps` must say where step n is: with `{step}`, a relative name, no `..`.
    for bad in ["checkpoint", "../ckpt-{step}", "/abs/{step}", "a b {step}"] {
        has(
            &zoo(&format!("hub = \"org/m_{{0..3}}\"\nsteps = \"{bad}\"")),
            &["`zoo.steps`", "does not name where step n is", "{step}"],
        );
    }
}

/// Values that used to be accepted and run to a meaningless result (issue 32): zero steps, a
/// set capped at zero rows, alphas so far out that every loss saturates.
#[test]
fn zero_counts_and_far_alphas_are_refused() {
    let e = refuse("lr = 2e-5", "lr = 2e-5\nmax_steps = 0");
    has(
        &e,
        &[
            "m.toml:24:13: `finetune.max_steps`: must be positive",
            "an integer >= 1",
        ],
    );
    let e = refuse(
        "labels = [\"0\", \"1\"]",
        "labels = [\"0\", \"1\"]\nmax_examples = 0",
    );
    has(
        &e,
        &["m.toml:13:16: `tasks.cola.max_examples`: must be positive"],
    );
    let e = refuse(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nmax_examples = 0",
    );
    has(&e, &["`diagnostics.ood.max_examples`: must be positive"]);
    let e = refuse(
        "alphas = { linspace = [0.0, 1.0, 5] }",
        "alphas = [-1e300, 0.0, 1e300]",
    );
    has(
        &e,
        &["`interpolate.alphas`", "alpha -1e300 is outside [-1, 2]"],
    );
    // A little beyond either end is allowed.
    let fx = Fixture::new();
    fx.edit(
        "alphas = { linspace = [0.0, 1.0, 5] }",
        "alphas = [-0.5, 0.0, 0.5, 1.0, 1.5]",
    );
    common::assert_success(
        &fx.cli(&["plan", "m.toml"]),
        &["plan with alphas -0.5..1.5"],
    );
}

/// A `fields` table on a layout with fixed columns was silently ignored (issue 32).
#[test]
fn fields_for_a_fixed_layout_are_refused() {
    let e = refuse(
        "labels = [\"0\", \"1\"]",
        "labels = [\"0\", \"1\"]\nfields = { first = \"text\" }",
    );
    has(
        &e,
        &[
            "`tasks.cola.fields`: `fields` names JSONL fields, and this set's format is cola",
            "format = \"jsonl\"",
        ],
    );
}

/// `[interpolate] mode = "adaptive"` and its contract: settings of the other mode, numbers
/// outside their range and a barrier the estimator cannot estimate are refused where written.
#[test]
fn adaptive_interpolation_settings_are_checked() {
    let grid = "pairs = \"all\"\nalphas";
    let e = refuse(grid, "pairs = \"all\"\ntolerance = 0.02\nalphas");
    has(
        &e,
        &[
            "m.toml:28:13: `interpolate.tolerance`",
            "a setting of the adaptive mode, and the mode is grid",
            "mode = \"adaptive\"",
        ],
    );
    let e = refuse(
        grid,
        "pairs = \"all\"\nmode = \"adaptive\"\nbudget = 1.5\nalphas",
    );
    has(
        &e,
        &[
            "m.toml:29:10: `interpolate.budget`",
            "1.5 is not a share of the grid's forward passes",
            "(0, 1]",
        ],
    );
    let e = refuse(
        grid,
        "pairs = \"all\"\nmode = \"adaptive\"\ntolerance = -1\nalphas",
    );
    has(
        &e,
        &[
            "`interpolate.tolerance`",
            "-1 is not a usable interval width",
        ],
    );
    let e = refuse(grid, "pairs = \"all\"\nmode = \"fast\"\nalphas");
    has(
        &e,
        &["m.toml:28:8: `interpolate.mode`", "unknown variant `fast`"],
    );
    let e = refuse(
        "alphas = { linspace = [0.0, 1.0, 5] }",
        "mode = \"adaptive\"\nalphas = [0.0, 0.5, 1.0, 1.5]",
    );
    has(
        &e,
        &[
            "`interpolate.alphas`",
            "adaptive paths run from alpha 0 to 1",
        ],
    );
    // The clustering's barrier is the one estimated: the accuracy barrier cannot be.
    let fx = Fixture::new();
    fx.edit(grid, "pairs = \"all\"\nmode = \"adaptive\"\nalphas");
    fx.edit(
        "[cluster]\nk = 2",
        "[cluster]\nk = 2\nbarrier = \"accuracy\"",
    );
    let out = fx.cli(&["plan", "m.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    has(
        &err,
        &[
            "m.toml:28:8: `interpolate.mode`",
            "[cluster] barrier is \"accuracy\"",
        ],
    );
    // The same settings in adaptive mode plan, with adaptive path nodes.
    let fx = Fixture::new();
    fx.edit(
        grid,
        "pairs = \"all\"\nmode = \"adaptive\"\ntolerance = 0.02\nbudget = 0.3\nalphas",
    );
    let out = fx.cli(&["plan", "m.toml", "--json"]);
    common::assert_success(&out, &["plan in adaptive mode"]);
    let plan = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        plan.matches("\"interpolate_adaptive\"").count(),
        6,
        "{plan}"
    );
}

/// `[merge]`: a soup needs basins, task vectors need the model they are differences from, and
/// each number its range; refused where written.
#[test]
fn merge_settings_are_checked() {
    let report = "[report]";
    let e = refuse("[cluster]\nk = 2", "[merge]\nmethods = []");
    has(
        &e,
        &[
            "m.toml:30:1: `merge`",
            "the study finds none: it has no [cluster]",
        ],
    );
    let e = refuse(report, "[merge]\nmethods = []\n\n[report]");
    has(&e, &["`merge.methods`", "no merge method"]);
    let e = refuse(report, "[merge]\nmethods = [\"soup\"]\n\n[report]");
    has(&e, &["`merge.methods`", "unknown variant `soup`"]);
    let e = refuse(report, "[merge]\ndensity = 1.5\n\n[report]");
    has(
        &e,
        &[
            "m.toml:34:11: `merge.density`",
            "1.5 is not a share of a task vector",
        ],
    );
    let e = refuse(report, "[merge]\nscale = 0\n\n[report]");
    has(&e, &["`merge.scale`", "0 is not a usable scale"]);
    let e = refuse(report, "[merge]\ncontrols = 500\n\n[report]");
    has(
        &e,
        &["`merge.controls`", "500 groups per basin", "at most 20"],
    );
    let e = refuse(report, "[merge]\nbase = \"tiyn\"\n\n[report]");
    has(
        &e,
        &[
            "`merge.base`",
            "`tiyn` does not name a model",
            "did you mean `tiny`?",
        ],
    );
    let e = refuse(report, "[merge]\ngreedy = \"deb\"\n\n[report]");
    has(
        &e,
        &[
            "`merge.greedy`",
            "task `cola` has no split `deb`",
            "(`cola` has dev)",
            "did you mean `dev`?",
        ],
    );
    // A trained study's task vectors are differences from the model it finetunes.
    let fx = Fixture::new();
    fx.edit(
        "[models.tiny]",
        "[models.other]\npath = \"other\"\n\n[models.tiny]",
    );
    fx.edit(report, "[merge]\nbase = \"other\"\n\n[report]");
    let out = fx.cli(&["plan", "m.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    has(
        &err,
        &[
            "`merge.base`",
            "finetunes its models from `tiny`",
            "base = \"tiny\"",
        ],
    );
    // The same settings plan: no soups until the clustering has run.
    let fx = Fixture::new();
    fx.edit(
        report,
        "[merge]\nmethods = [\"ties\", \"average\"]\ndensity = 0.5\n\n[report]",
    );
    let out = fx.cli(&["plan", "m.toml", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("merge/"));
}

#[test]
fn block_and_alignment_settings_are_checked() {
    let grid = "pairs = \"all\"\nalphas";
    let e = refuse(grid, "pairs = \"all\"\nblocks = \"every\"\nalphas");
    has(
        &e,
        &[
            "m.toml:28:10: `interpolate.blocks`",
            "`every`: blocks are \"per_layer\" (every block) or a list of blocks",
        ],
    );
    let e = refuse(grid, "pairs = \"all\"\nblocks = [\"attention.0\"]\nalphas");
    has(
        &e,
        &[
            "`interpolate.blocks`",
            "`attention.0` is not a block",
            "`embeddings`, `layer.<n>`",
        ],
    );
    let e = refuse(
        grid,
        "pairs = \"all\"\nblocks = [\"layer.0\", \"layer.0\"]\nalphas",
    );
    has(
        &e,
        &["`interpolate.blocks`", "block `layer.0` is listed twice"],
    );
    // The builtin model has 2 encoder layers: layer.0 and layer.1.
    let e = refuse(
        grid,
        "pairs = \"all\"\nblocks = [\"embeddings\", \"layer.2\"]\nalphas",
    );
    has(
        &e,
        &[
            "m.toml:28:10: `interpolate.blocks`",
            "block `layer.2`: the model has 2 encoder layers (layer.0 to layer.1) (model `tiny`)",
            "`embeddings`, `layer.0`, `layer.1`, `pooler+head`",
        ],
    );
    let e = refuse(grid, "pairs = \"all\"\nhold = \"both\"\nalphas");
    has(
        &e,
        &[
            "m.toml:28:8: `interpolate.hold`",
            "no `blocks` are asked for",
        ],
    );
    let e = refuse(
        grid,
        "pairs = \"all\"\nblocks = \"per_layer\"\nhold = \"b\"\nalphas",
    );
    has(
        &e,
        &["`interpolate.hold`", "unknown variant `b`", "`a`, `both`"],
    );
    let e = refuse(grid, "pairs = \"all\"\nalign = \"activations\"\nalphas");
    has(
        &e,
        &[
            "m.toml:28:9: `interpolate.align`",
            "unknown variant `activations`",
            "`weights`",
        ],
    );
}

#[test]
fn block_and_alignment_settings_survive_an_include() {
    // Each key of an included section reaches the study (a key the include merge forgot was
    // once dropped without a word).
    let fx = Fixture::new();
    let text = std::fs::read_to_string(fx.path("m.toml")).unwrap();
    fx.write("base.toml", &text);
    fx.write(
        "m.toml",
        "include = [\"base.toml\"]\n\n[interpolate]\nblocks = [\"layer.1\"]\nhold = \"both\"\nalign = \"weights\"\n",
    );
    let plan = fx.json(&["plan", "m.toml", "--json"]);
    let ids: Vec<&str> = plan
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["node"].as_str())
        .collect();
    for id in [
        "interpolate/cola/0~1/blocks",
        "blocks/cola",
        "align/cola/0~1",
        "interpolate/cola/0~1/aligned",
        "aligned/cola",
    ] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
}

#[test]
fn pretraining_that_varies_with_the_seed_is_checked() {
    // Each seed gets a builtin model pretrained from that seed.
    let fx = Fixture::new();
    fx.edit(
        "lr = 2e-5",
        "lr = 2e-5\nvary = [\"pretrain\", \"data_order\", \"head_init\"]",
    );
    let plan = fx.json(&["plan", "m.toml", "--json"]);
    let pretrains: Vec<&str> = plan
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["node"].as_str())
        .filter(|id| id.starts_with("pretrain/"))
        .collect();
    assert_eq!(
        pretrains,
        [
            "pretrain/tiny/seed=0",
            "pretrain/tiny/seed=1",
            "pretrain/tiny/seed=2",
            "pretrain/tiny/seed=3"
        ]
    );
    // A checkpoint cannot be pretrained again.
    let fx = Fixture::new();
    fx.edit(
        "model = \"tiny\"\ntasks",
        "model = \"given\"\nvary = [\"pretrain\"]\ntasks",
    );
    fx.edit(
        "[tasks.cola]",
        "[models.given]\npath = \"data\"\n\n[tasks.cola]",
    );
    let out = fx.cli(&["plan", "m.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    has(
        &err,
        &[
            "`finetune.vary`",
            "`pretrain` pretrains the base model once per seed, and model `given` is a checkpoint",
        ],
    );
    // Task arithmetic and TIES need the one model every member was finetuned from.
    let fx = Fixture::new();
    fx.edit("lr = 2e-5", "lr = 2e-5\nvary = [\"pretrain\"]");
    fx.edit(
        "title = \"test study\"",
        "title = \"test study\"\n\n[merge]\nmethods = [\"average\", \"ties\"]",
    );
    let out = fx.cli(&["plan", "m.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    has(
        &err,
        &[
            "`merge.methods`",
            "`ties` merges the members' differences from the one model they were finetuned from",
            "methods = [\"average\"]",
        ],
    );
}

/// A Hub data set source: its keys checked where they are written (a task's splits, a
/// diagnostic's one split, `fields` refused beside it, an unfinetunable task without `train`).
#[test]
fn hub_data_sources_are_checked_where_they_are_written() {
    let task = "format = \"cola\"\ntrain = \"data/train.tsv\"\neval = { dev = \"data/dev.tsv\" }";
    let e = refuse(
        task,
        "source = { hub = \"nyu-mll/glue\", config = \"cola\", revision = \"main\", split = \"validation\" }",
    );
    has(
        &e,
        &[
            "m.toml:9:10: `tasks.cola.source.split`",
            "a diagnostic's one split",
        ],
    );
    let e = refuse(
        task,
        "source = { hub = \"nyu-mll/glue\", config = \"cola\", eval = { dev = \"validation\" } }",
    );
    has(
        &e,
        &[
            "`tasks.cola.source.train`",
            "missing `train` (the task is finetuned)",
        ],
    );
    let e = refuse(
        task,
        "source = { hub = \"nyu/mll/glue\", config = \"cola\" }",
    );
    has(
        &e,
        &["`tasks.cola.source.hub`", "not a Hugging Face dataset id"],
    );
    let e = refuse(
        task,
        "source = { hub = \"nyu-mll/glue\", config = \"../x\", train = \"train\" }",
    );
    has(
        &e,
        &["`tasks.cola.source.config`", "is not a usable config name"],
    );
    let e = refuse(
        task,
        "source = { hub = \"nyu-mll/glue\", config = \"cola\", train = \"train\", colums = {} }",
    );
    has(
        &e,
        &[
            "m.toml:9:68: `tasks.cola.source`: unknown field `colums`",
            "did you mean `columns`?",
        ],
    );
    let e = refuse(
        "format = \"cola\"\nfile = \"data/ood.tsv\"",
        "source = { hub = \"nyu-mll/glue\", config = \"cola\", eval = { ood = \"validation\" } }",
    );
    has(
        &e,
        &[
            "`diagnostics.ood.source.eval`",
            "a diagnostic reads one split",
        ],
    );
    let e = refuse(
        "format = \"cola\"\nfile = \"data/ood.tsv\"",
        "source = { hub = \"nyu-mll/glue\", config = \"cola\" }\nfields = { first = \"sentence\" }",
    );
    has(&e, &["`diagnostics.ood.fields`", "named in its `source`"]);
    let e = refuse(
        "format = \"cola\"\nfile = \"data/ood.tsv\"",
        "source = \"glue/colaa\"",
    );
    has(
        &e,
        &[
            "`diagnostics.ood.source`",
            "not a data set basins knows by name",
            "paws/qqp",
        ],
    );
}

/// `[report] expect`: a minority that names models the study has, and where it came from.
#[test]
fn expected_clusters_name_the_studys_models() {
    let title = "title = \"test study\"";
    let e = refuse(
        title,
        "expect = { minority = [\"seed=7\"], source = \"x\" }",
    );
    has(
        &e,
        &[
            "`report.expect.minority`",
            "`seed=7` is not a model of this study",
        ],
    );
    let e = refuse(title, "expect = { minority = [1, 2] }");
    has(&e, &["`report.expect.source`", "missing `source`"]);
    let e = refuse(title, "expect = { minority = [9, 12], source = \"x\" }");
    has(&e, &["none of [\"9\", \"12\"] is a model of this study"]);
    let e = refuse(title, "expect = { minority = [1, \"1\"], source = \"x\" }");
    has(&e, &["`1` is listed twice"]);
    // Without a [cluster] there is no partition to compare.
    let fx = Fixture::new();
    fx.edit("[cluster]\nk = 2", "");
    fx.edit(title, "expect = { minority = [1], source = \"x\" }");
    let out = fx.cli(&["plan", "m.toml"]);
    assert_eq!(out.status.code(), Some(2));
    has(
        &String::from_utf8_lossy(&out.stderr),
        &["`report.expect`", "the study has no [cluster]"],
    );
}
