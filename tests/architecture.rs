//! The crate's layers, enforced: a top-level module of `src/` may import
//! (`crate::x`, in code or doc links) only modules of lower layers. This keeps
//! the import graph one-way (no cycles) and documents the architecture
//! (see `docs/src/development.md`).

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom to top. A module may use modules of lower layers only (not its own
/// layer's neighbours, not higher layers).
const LAYERS: &[&[&str]] = &[
    // Foundation: no knowledge of the domain.
    &["diagnostic", "util", "stats"],
    // Every default and the project file, resolved in one place.
    &["settings"],
    // One file per wire format, and the layers around a provider call.
    &["provider"],
    &["recording"],
    &["cache"],
    // The input model.
    &["template"],
    &["prompt"],
    // What a case and a run come to.
    &["result"],
    // Evaluation.
    &["assertion"],
    // Thresholds and the paired comparison (pure functions of results).
    &["analysis"],
    // Suites: the input model that ties prompts, providers and assertions.
    &["suite"],
    // The runner's contract (events) and the reporters.
    &["report"],
    // Plan and execution.
    &["runner"],
    // Storage of versions and runs, and the gate's rules.
    &["registry"],
    &["gate"],
    // One run of a candidate (+ baseline, + gate): the only orchestration.
    &["session"],
    // Test infrastructure (feature `fake-provider`) and the command line.
    &["fake_provider", "cli"],
];

fn rank_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// `crate::x` references of every top-level module, outside `#[cfg(test)]`.
fn imports(src: &Path) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let single = regex::Regex::new(r"crate::(\w+)").unwrap();
    let group = regex::Regex::new(r"crate::\{([^}]*)\}").unwrap();
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .to_string();
            let top = first.trim_end_matches(".rs").to_string();
            if ["main", "lib", "bin"].contains(&top.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let body = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in body.lines().enumerate() {
                let mut targets: Vec<String> = single.captures_iter(line).map(|c| c[1].to_string()).collect();
                for g in group.captures_iter(line) {
                    targets.extend(g[1].split(',').filter_map(|p| {
                        let head = p.trim().split("::").next()?.trim();
                        (!head.is_empty()).then(|| head.to_string())
                    }));
                }
                for t in targets.into_iter().filter(|t| t != &top) {
                    out.entry(top.clone()).or_default().entry(t).or_default().push(format!(
                        "src/{}:{}",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let module = name.trim_end_matches(".rs");
        if ["main", "lib", "bin"].contains(&module) {
            continue;
        }
        if rank_of(module).is_none() {
            missing.push(module.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "top-level modules without a layer in tests/architecture.rs: {missing:?}; add each to LAYERS"
    );
}

#[test]
fn imports_point_down_the_layers_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (from, targets) in imports(&src) {
        let Some(from_rank) = rank_of(&from) else { continue };
        for (to, places) in targets {
            let Some(to_rank) = rank_of(&to) else { continue };
            if to_rank >= from_rank {
                wrong.push(format!("{from} -> {to} (at {})", places.join(", ")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers (a module may use lower layers only):\n  {}",
        wrong.join("\n  ")
    );
}
