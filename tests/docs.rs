//! The documentation: the book under `docs/` and the README.
//!
//! - `docs/src/reference/cli.md` is generated from the clap parser and must be
//!   byte-identical to what the generator writes now
//!   (`UPDATE_DOCS=1 cargo test --test docs` rewrites it);
//! - every relative link in the book and the README points at a file that
//!   exists, and a `#anchor` into a Markdown file names one of its headings
//!   (mdBook's anchor rule);
//! - every chapter file is listed in `docs/src/SUMMARY.md`, and every entry
//!   there exists.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The CLI reference, relative to the repository root.
const CLI_REFERENCE: &str = "docs/src/reference/cli.md";

/// Written above clap-markdown's output (which starts at the first command).
const CLI_HEADER: &str = "\
<!-- Generated from the clap parser (promptgate::cli::Cli) by tests/docs.rs.
     Do not edit: run `UPDATE_DOCS=1 cargo test --test docs` to rewrite it. -->

";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn book_src() -> PathBuf {
    root().join("docs").join("src")
}

/// `cmd` and its subcommands with their `after_help` text (the exit code
/// tables, written for a terminal) in ```` ```text ```` blocks, so that Markdown
/// keeps their lines and columns.
fn fence_after_help(mut cmd: clap::Command) -> clap::Command {
    if let Some(help) = cmd.get_after_help() {
        let fenced = format!("```text\n{help}\n```");
        cmd = cmd.after_help(fenced);
    }
    let names: Vec<String> = cmd.get_subcommands().map(|sub| sub.get_name().to_string()).collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, fence_after_help);
    }
    cmd
}

/// What the generator writes for the CLI reference: clap-markdown's rendering
/// of `promptgate::cli::Cli`, under a fixed header.
fn generated_cli_reference() -> String {
    use clap::CommandFactory;
    let options = clap_markdown::MarkdownOptions::new()
        .title("Command-line reference".to_string())
        .show_footer(false);
    let cmd = fence_after_help(promptgate::cli::Cli::command());
    let body = clap_markdown::help_markdown_command_custom(&cmd, &options);
    // One final newline, whatever the generator ends with.
    format!("{CLI_HEADER}{}\n", body.trim_end())
}

#[test]
fn cli_reference_is_up_to_date() {
    let path = root().join(CLI_REFERENCE);
    let expected = generated_cli_reference();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &expected).unwrap();
        return;
    }
    let committed = fs::read(&path).unwrap_or_default();
    if committed != expected.as_bytes() {
        let committed = String::from_utf8_lossy(&committed);
        let first_difference = committed
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or(committed.lines().count().min(expected.lines().count()) + 1);
        panic!(
            "{CLI_REFERENCE} is not what the command line generates now (first difference at \
             line {first_difference}).\nRerun with `UPDATE_DOCS=1 cargo test --test docs` to \
             rewrite it, and commit the result."
        );
    }
}

/// Every `.md` file under `dir`, sorted.
fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The Markdown options mdBook parses with (mdbook-markdown's `new_cmark_parser`).
fn parser(text: &str) -> Parser<'_> {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_FOOTNOTES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    opts.insert(Options::ENABLE_HEADING_ATTRIBUTES);
    opts.insert(Options::ENABLE_SMART_PUNCTUATION);
    opts.insert(Options::ENABLE_DEFINITION_LIST);
    opts.insert(Options::ENABLE_GFM);
    Parser::new_ext(text, opts)
}

/// mdBook's anchor for a heading's text: lowercase, whitespace becomes `-`,
/// every other character that is neither alphanumeric nor `-` / `_` is dropped.
fn anchor_of(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c)
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// The anchors of a Markdown text's headings (and definition list terms), as
/// mdBook assigns them: an explicit `{#id}`, else the text's anchor, made
/// unique with `-1`, `-2`, ... in the order they appear.
fn anchors(text: &str) -> HashSet<String> {
    let mut used = HashSet::new();
    let mut heading: Option<(Option<String>, String)> = None;
    for event in parser(text) {
        match event {
            Event::Start(Tag::Heading { id, .. }) => {
                heading = Some((id.map(|i| i.to_string()), String::new()));
            }
            // mdBook gives the terms of definition lists anchors too.
            Event::Start(Tag::DefinitionListTitle) => heading = Some((None, String::new())),
            Event::Text(t) | Event::Code(t) if heading.is_some() => {
                heading.as_mut().unwrap().1.push_str(&t);
            }
            Event::End(TagEnd::Heading(_) | TagEnd::DefinitionListTitle) => {
                let (id, text) = heading.take().unwrap();
                let id = id.unwrap_or_else(|| anchor_of(&text));
                let mut candidate = id.clone();
                let mut n = 0;
                while !used.insert(candidate.clone()) {
                    n += 1;
                    candidate = format!("{id}-{n}");
                }
            }
            _ => {}
        }
    }
    used
}

/// The destinations of the links and images in a Markdown text.
fn links(text: &str) -> Vec<String> {
    parser(text)
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
                Some(dest_url.to_string())
            }
            _ => None,
        })
        .collect()
}

/// A link to another site (`https:`, `mailto:`, ...), not to a file here.
fn is_external(dest: &str) -> bool {
    match dest.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => dest.starts_with("//"),
    }
}

/// `path` with `.` and `..` resolved (without touching the file system).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

#[test]
fn relative_links_resolve() {
    let book = book_src();
    let mut files = markdown_files(&book);
    files.push(root().join("README.md"));
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for dest in links(&text) {
            if is_external(&dest) {
                continue;
            }
            checked += 1;
            let (path_part, anchor) = match dest.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (dest.as_str(), None),
            };
            let target = if path_part.is_empty() {
                file.clone()
            } else if path_part.starts_with('/') {
                broken.push(format!(
                    "{}: `{dest}`: an absolute path; use a relative link",
                    relative(file)
                ));
                continue;
            } else {
                normalize(&file.parent().unwrap().join(path_part))
            };
            if !target.exists() {
                broken.push(format!(
                    "{}: `{dest}`: {} does not exist",
                    relative(file),
                    relative(&target)
                ));
                continue;
            }
            // mdBook turns links to `.md` files into links to the rendered
            // pages: a link from the book to a file outside it breaks there.
            if file.starts_with(&book) && !target.starts_with(&book) {
                broken.push(format!(
                    "{}: `{dest}`: {} is outside docs/src, so the link breaks in the rendered book",
                    relative(file),
                    relative(&target)
                ));
                continue;
            }
            if let Some(anchor) = anchor {
                if target.extension().is_some_and(|e| e == "md") {
                    let target_text = fs::read_to_string(&target).unwrap();
                    if !anchors(&target_text).contains(anchor) {
                        broken.push(format!(
                            "{}: `{dest}`: {} has no heading with the anchor `#{anchor}`",
                            relative(file),
                            relative(&target)
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 0, "no relative link found: is the book in docs/src?");
    assert!(
        broken.is_empty(),
        "{} broken link(s):\n  {}",
        broken.len(),
        broken.join("\n  ")
    );
}

#[test]
fn summary_lists_every_chapter() {
    let book = book_src();
    let summary_path = book.join("SUMMARY.md");
    let summary = fs::read_to_string(&summary_path).unwrap();
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for dest in links(&summary) {
        if dest.is_empty() || is_external(&dest) {
            problems.push(format!(
                "SUMMARY.md: `{dest}` is not a chapter file (a draft or an external link)"
            ));
            continue;
        }
        let path = normalize(&book.join(dest.split('#').next().unwrap()));
        if !path.is_file() {
            problems.push(format!("SUMMARY.md lists {}, which does not exist", relative(&path)));
        }
        if !listed.insert(path.clone()) {
            problems.push(format!("SUMMARY.md lists {} twice", relative(&path)));
        }
    }
    for file in markdown_files(&book) {
        if file != summary_path && !listed.contains(&file) {
            problems.push(format!("{} is not listed in docs/src/SUMMARY.md", relative(&file)));
        }
    }
    assert!(
        problems.is_empty(),
        "the book's table of contents:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn anchor_rule_matches_mdbook() {
    // Examples from mdBook's own tests of `id_from_content`.
    assert_eq!(
        anchor_of("`--passes`: add more rustdoc passes"),
        "--passes-add-more-rustdoc-passes"
    );
    assert_eq!(anchor_of("Exit codes"), "exit-codes");
    assert_eq!(
        anchor_of("Project settings: promptgate.toml"),
        "project-settings-promptgatetoml"
    );
    let text = "# A\n## Same\n## Same\n### Custom {#my-id}\n\nTerm\n: its definition\n";
    let found = anchors(text);
    for id in ["a", "same", "same-1", "my-id", "term"] {
        assert!(found.contains(id), "{id} in {found:?}");
    }
}
