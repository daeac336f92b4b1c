//! The module graph of the engine has no cycle (issue 10): a module that uses another never
//! is, directly or through others, used by it. The graph is read from the sources themselves,
//! every `crate::` path outside comments, so a new cycle fails here the day it is written.
//!
//! A path to a root item (`crate::Engine`) is an edge to `lib`; a path to a module
//! (`crate::model::Client`) an edge to that module. The behaviour tests are left out: nothing
//! uses them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules named by the `crate::` paths in `source`: the first segment of each path, or every
/// first segment inside a `crate::{...}` group.
fn crate_paths(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // Top-level names of the group; a group may run over several lines, and then
                // the names on the following lines are found by `group_names` below.
                names.extend(group_names(group));
            } else {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                names.insert(name);
            }
        }
    }
    names.extend(multiline_groups(source));
    names.retain(|name| !name.is_empty());
    names
}

fn group_names(group: &str) -> Vec<String> {
    let mut depth = 0;
    let mut names = Vec::new();
    let mut current = String::new();
    let mut at_start = true;
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            c if at_start && (c.is_alphanumeric() || c == '_') && depth == 0 => current.push(c),
            _ if at_start && !current.is_empty() => {
                names.push(std::mem::take(&mut current));
                at_start = false;
            }
            _ => {}
        }
    }
    if !current.is_empty() {
        names.push(current);
    }
    names
}

/// Names inside `use crate::{` groups that span lines.
fn multiline_groups(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::{") {
        rest = &rest[at + "crate::{".len()..];
        let end = rest.find('}').unwrap_or(rest.len());
        let group = rest[..end].replace('\n', " ");
        names.extend(group_names(&group));
    }
    names
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let source_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&source_dir).expect("the engine's sources are readable") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|extension| extension == "rs") {
            let name = path.file_stem().expect("a file name").to_string_lossy().into_owned();
            modules.insert(name, std::fs::read_to_string(&path).expect("a source file"));
        }
    }
    let mut graph = BTreeMap::new();
    for (name, source) in &modules {
        let edges: BTreeSet<String> = crate_paths(source)
            .into_iter()
            .map(|target| if modules.contains_key(&target) { target } else { "lib".to_string() })
            .filter(|target| target != name)
            .collect();
        graph.insert(name.clone(), edges);
    }
    graph
}

/// A cycle through `start`, if there is one: the modules along it.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn the_engine_has_no_module_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 20, "the engine's modules were found: {:?}", graph.keys());
    assert!(graph["commands"].contains("lib"), "rules use the engine from the root");
    let cycles: Vec<Vec<String>> = graph.keys().filter_map(|module| cycle_from(&graph, module)).collect();
    assert!(cycles.is_empty(), "module cycles: {cycles:?}");
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut graph = module_graph();
    graph.get_mut("model").expect("model.rs").insert("event".to_string());
    assert!(cycle_from(&graph, "model").is_some(), "event.rs uses model.rs, so model -> event closes a cycle");
}
