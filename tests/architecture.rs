//! The house's shape, checked over the source: no module or room imports one that (through
//! any chain) imports it back, no room reaches up to a room above it, the time is read from
//! one clock, no door (an API handler, a worker) opens a transaction (use cases do), and no
//! function outside tests is longer than 80 lines.
//!
//! Each file under `src/` is a module (`src/db/mod.rs` is `db`, `src/db/queries.rs` is
//! `db::queries`). Every path the code names (in `use` lines, types, expressions and the
//! tokens of macros and attributes) is resolved to the deepest file module it reaches,
//! following `use` aliases; a path through a `pub use` re-export counts against the
//! re-exporting module and the defining one (`super::auth::Principal` in `api::organisations`
//! names `api::auth` and `domain::access`). A module and its own submodules are not compared
//! file by file, but every check is made again between rooms (each module taken as its
//! ancestor one, two and three levels down), where a circle closed by a room's `mod.rs`
//! shows. Comments and doc links are not code and are not read, nor is code under
//! `#[cfg(test)]`, which may reach anywhere to set a test up; glob re-exports
//! (`pub use x::*`) are not followed (none are written).
//!
//! The rooms, from the bottom: `LAYERS` below. A room may use rooms of its own layer or
//! below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Top-level rooms by height: a room may import from its own layer and the layers below.
/// Why this order: the domain is pure rules (and `clock` is the time they are given); `db`
/// stores them; `services` run the use cases over both (`notify` and `metrics` are services
/// the use cases and the doors call); `api` and the `workers` are the doors, `demo` fills a
/// database through the services, and `config` reads the environment into every room's
/// settings; `startup` wires them together.
const LAYERS: &[&[&str]] = &[
    &["domain", "clock"],
    &["telemetry", "db"],
    &["metrics", "notify", "services"],
    &["config", "api", "web", "workers", "demo"],
    &["startup"],
];

fn layer_of(module: &str) -> usize {
    let room = module.split("::").next().unwrap_or_default();
    LAYERS
        .iter()
        .position(|layer| layer.contains(&room))
        .unwrap_or_else(|| {
            panic!("top-level module `{room}` has no layer in tests/architecture.rs")
        })
}

/// A parsed source file: its module path, the paths it names (as written, with the inline
/// module they were written in), and the names its `use` items bind.
struct SourceFile {
    module: String,
    named: Vec<(Vec<String>, Vec<String>)>,
    aliases: BTreeMap<String, Vec<String>>,
    /// The names of the methods it calls (`conn.transaction(…)` is `transaction`).
    methods: BTreeSet<String>,
}

fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Collects every path a file names, remembering the inline module (`mod tests { … }`) it
/// sits in so that `super::` resolves from the right place.
#[derive(Default)]
struct PathCollector {
    inline: Vec<String>,
    named: Vec<(Vec<String>, Vec<String>)>,
    aliases: BTreeMap<String, Vec<String>>,
    methods: BTreeSet<String>,
}

impl PathCollector {
    fn record(&mut self, segments: Vec<String>) {
        if !segments.is_empty() {
            self.named.push((self.inline.clone(), segments));
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                let bound = full.last().cloned().unwrap_or_default();
                self.bind(bound, full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(r.ident.to_string());
                }
                self.bind(r.rename.to_string(), full);
            }
            syn::UseTree::Glob(_) => self.record(prefix.clone()),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    fn bind(&mut self, name: String, full: Vec<String>) {
        // Aliases made inside an inline module (a test module's `use super::*`) are local
        // to it; only the file's own are followed when resolving other files' paths.
        if self.inline.is_empty() {
            self.aliases.insert(name, full.clone());
        }
        self.record(full);
    }

    /// `a :: b :: c` sequences inside a macro's tokens (`format!`, `json!`, diesel's and our
    /// own macros); a single identifier is recorded too and resolves to nothing.
    fn macro_tokens(&mut self, tokens: proc_macro2::TokenStream) {
        let tokens: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                proc_macro2::TokenTree::Group(g) => self.macro_tokens(g.stream()),
                proc_macro2::TokenTree::Ident(id) => {
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    loop {
                        let colons = matches!((&tokens.get(j), &tokens.get(j + 1)),
                            (Some(proc_macro2::TokenTree::Punct(a)), Some(proc_macro2::TokenTree::Punct(b)))
                                if a.as_char() == ':' && b.as_char() == ':');
                        match (colons, tokens.get(j + 2)) {
                            (true, Some(proc_macro2::TokenTree::Ident(next))) => {
                                segments.push(next.to_string());
                                j += 3;
                            }
                            _ => break,
                        }
                    }
                    self.record(segments);
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Ident>()
                .is_ok_and(|cfg| cfg == "test")
    })
}

impl<'ast> Visit<'ast> for PathCollector {
    /// Test code may reach anywhere to set a test up; it is not one of the rooms.
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Const(c) => &c.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_test_only(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if item.content.is_some() {
            self.inline.push(item.ident.to_string());
            syn::visit::visit_item_mod(self, item);
            self.inline.pop();
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.record(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }

    /// An attribute's arguments (`#[schema(example = crate::…)]`) are tokens too.
    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if let syn::Meta::List(list) = &attr.meta {
            self.macro_tokens(list.tokens.clone());
        }
        syn::visit::visit_attribute(self, attr);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        self.methods.insert(call.method.to_string());
        syn::visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.macro_tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

fn parse_sources() -> Vec<SourceFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        // The binary is the crate's user, not one of its rooms.
        .filter(|f| f.file_name().is_some_and(|n| n != "main.rs") || f.parent() != Some(&src))
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let ast = syn::parse_file(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
            let mut collector = PathCollector::default();
            collector.visit_file(&ast);
            SourceFile {
                module: module_of(&src, &file),
                named: collector.named,
                aliases: collector.aliases,
                methods: collector.methods,
            }
        })
        .collect()
}

fn split(module: &str) -> Vec<String> {
    if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    }
}

/// The crate-absolute form of a path written in `module` (with `inline` modules inside the
/// file), or `None` for a path that does not start inside the crate.
fn absolute(file: &SourceFile, inline: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut here = split(&file.module);
    here.extend(inline.iter().cloned());
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => return Some(rest[1..].to_vec()),
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                here.pop();
                rest = &rest[1..];
            }
        }
        Some(first) if inline.is_empty() => {
            // A name the file's own `use` lines bound.
            let target = file.aliases.get(first)?;
            if target
                .first()
                .is_some_and(|s| s == "crate" || s == "super" || s == "self")
            {
                let mut full = absolute(file, &[], target)?;
                full.extend(rest[1..].iter().cloned());
                return Some(full);
            }
            return None;
        }
        _ => return None,
    }
    here.extend(rest.iter().cloned());
    Some(here)
}

/// The deepest file module an absolute path reaches, following re-exports.
/// The modules an absolute path reaches: the deepest file module it names and, when that
/// module re-exports the item, every module the re-export leads through to the one that
/// defines it (an import through a re-export depends on both).
fn resolve(
    files: &BTreeMap<String, &SourceFile>,
    path: &[String],
    depth: usize,
    reached: &mut Vec<String>,
) {
    let mut module = String::new();
    for (i, segment) in path.iter().enumerate() {
        let deeper = if module.is_empty() {
            segment.clone()
        } else {
            format!("{module}::{segment}")
        };
        if files.contains_key(&deeper) {
            module = deeper;
            continue;
        }
        // `segment` is an item of `module`: follow it too if `module` re-exports it.
        let Some(file) = files.get(&module) else {
            return;
        };
        if let (Some(target), true) = (file.aliases.get(segment), depth < 8) {
            if let Some(mut full) = absolute(file, &[], target) {
                full.extend(path[i + 1..].iter().cloned());
                resolve(files, &full, depth + 1, reached);
            }
        }
        break;
    }
    reached.push(module);
}

fn related(a: &str, b: &str) -> bool {
    let nested = |outer: &str, inner: &str| {
        outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}::"))
    };
    nested(a, b) || nested(b, a)
}

/// Module → the modules it names (outside its own family).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = parse_sources();
    let files: BTreeMap<String, &SourceFile> =
        sources.iter().map(|f| (f.module.clone(), f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &sources {
        let edges = graph.entry(file.module.clone()).or_default();
        for (inline, path) in &file.named {
            let Some(full) = absolute(file, inline, path) else {
                continue;
            };
            let mut reached = Vec::new();
            resolve(&files, &full, 0, &mut reached);
            for target in reached {
                if !related(&file.module, &target) {
                    edges.insert(target);
                }
            }
        }
    }
    graph
}

/// Tarjan's strongly connected components with more than one member.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

/// The graph with every module taken as its room `depth` levels down (`services::claims::verify`
/// is `services` at depth 1 and `services::claims` at depth 2): a circle between rooms is a
/// circle even when no two files form one (a room's `mod.rs` may be the hub that closes it).
fn rooms(
    graph: &BTreeMap<String, BTreeSet<String>>,
    depth: usize,
) -> BTreeMap<String, BTreeSet<String>> {
    let room = |module: &str| {
        module
            .split("::")
            .take(depth)
            .collect::<Vec<_>>()
            .join("::")
    };
    let mut rooms: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in graph {
        let edges = rooms.entry(room(from)).or_default();
        edges.extend(
            targets
                .iter()
                .map(|to| room(to))
                .filter(|to| !related(&room(from), to)),
        );
    }
    rooms
}

#[test]
fn no_module_or_room_imports_one_that_imports_it_back() {
    let graph = import_graph();
    for depth in [1, 2, 3, usize::MAX] {
        assert_no_circles(&rooms(&graph, depth));
    }
}

fn assert_no_circles(graph: &BTreeMap<String, BTreeSet<String>>) {
    let found = circles(graph);
    let described: Vec<String> = found
        .iter()
        .map(|members| {
            let arrows: Vec<String> = members
                .iter()
                .flat_map(|m| {
                    graph[m]
                        .iter()
                        .filter(|t| members.contains(t))
                        .map(move |t| format!("{m} → {t}"))
                })
                .collect();
            format!("{}: {}", members.join(", "), arrows.join("; "))
        })
        .collect();
    assert!(
        described.is_empty(),
        "import circles:\n{}",
        described.join("\n")
    );
}

#[test]
fn no_room_imports_a_room_above_it() {
    let graph = import_graph();
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(from, targets)| {
            targets
                .iter()
                .filter(|to| !to.is_empty() && layer_of(to) > layer_of(from))
                .map(move |to| format!("{from} → {to}"))
        })
        .collect();
    assert!(
        upward.is_empty(),
        "imports from a lower room up to a higher one:\n{}",
        upward.join("\n")
    );
}

/// The checks above would pass over a graph they failed to read; this one fails then.
#[test]
fn the_graph_sees_known_imports() {
    let graph = import_graph();
    assert!(graph.len() > 50, "only {} modules read", graph.len());
    assert!(graph["api::claims"].contains("services::claims::verify"));
    assert!(graph["services::claims::verify"].contains("domain::split"));
    assert!(graph["services::claims::verify"].contains("db::schema"));
    // An import through a re-export (`api::auth` re-exports `domain::access::Principal`)
    // depends on the re-exporting module and on the defining one.
    assert!(graph["api::organisations"].contains("api::auth"));
    assert!(graph["api::organisations"].contains("domain::access"));
    // The circle finder finds a circle between files, and one between rooms that only a
    // room's hub closes (`api/mod.rs` names the handlers of `api::claims`, which names
    // `workers`).
    let mut with_circle = graph.clone();
    with_circle
        .get_mut("domain::money")
        .unwrap()
        .insert("api::claims".into());
    assert!(!circles(&with_circle).is_empty());
    let mut through_a_hub = graph.clone();
    through_a_hub
        .get_mut("workers")
        .unwrap()
        .insert("api".into());
    assert!(
        circles(&through_a_hub).is_empty(),
        "files alone do not show it"
    );
    assert!(!circles(&rooms(&through_a_hub, 1)).is_empty());
}

/// One clock: the time the application acts at comes from `clock::Clock`, which the tests move
/// forward, and never straight from the system. The one exception is a token's issue time,
/// which jsonwebtoken checks against the system clock wherever the token is presented.
/// (`Instant`s measure how long work took, for logs and metrics: not a time acted at. New
/// ids are time-ordered UUIDs, ordered by the system clock across processes.)
#[test]
fn the_time_is_read_from_one_clock() {
    const ALLOWED: &[&str] = &["clock", "api::auth"];
    let readers: BTreeSet<String> = parse_sources()
        .into_iter()
        .filter(|file| !ALLOWED.contains(&file.module.as_str()))
        .filter(|file| {
            file.named.iter().any(|(_, path)| {
                // `use chrono::Utc as Clockless;` then `Clockless::now()` is still the system's.
                let mut full = path.clone();
                if let Some(target) = path.first().and_then(|first| file.aliases.get(first)) {
                    full.splice(..1, target.iter().cloned());
                }
                let tail: Vec<&str> = full.iter().rev().take(2).map(String::as_str).collect();
                matches!(
                    tail.as_slice(),
                    ["now" | "today", "Utc" | "Local"] | ["now", "SystemTime"]
                )
            })
        })
        .map(|file| file.module)
        .collect();
    assert!(
        readers.is_empty(),
        "the system clock is read in {readers:?}"
    );
}

/// The doors (the API's handlers, the workers) run use cases and open no transaction of their
/// own: each use case in `services` owns its transaction, its locks and its access decision,
/// so that every door runs the same one. A door that names `db::write_tx` or calls diesel's
/// `transaction` is refused.
#[test]
fn no_door_opens_a_transaction() {
    const DOORS: &[&str] = &["api", "web", "workers"];
    let sources = parse_sources();
    let files: BTreeMap<String, &SourceFile> =
        sources.iter().map(|f| (f.module.clone(), f)).collect();
    let opens = |file: &SourceFile| {
        let named = file.named.iter().any(|(inline, path)| {
            let Some(full) = absolute(file, inline, path) else {
                return false;
            };
            let mut reached = Vec::new();
            resolve(&files, &full, 0, &mut reached);
            reached.iter().any(|m| m == "db") && full.last().is_some_and(|s| s == "write_tx")
        });
        let called = ["transaction", "build_transaction", "begin_transaction"]
            .iter()
            .any(|m| file.methods.contains(*m));
        named || called
    };
    let doors_that_open: Vec<&str> = sources
        .iter()
        .filter(|f| DOORS.contains(&f.module.split("::").next().unwrap_or_default()))
        .filter(|f| opens(f))
        .map(|f| f.module.as_str())
        .collect();
    assert!(
        doors_that_open.is_empty(),
        "these doors open transactions: move the work into a use case in services: {doors_that_open:?}"
    );
    // The check sees a transaction where one is opened.
    let opening: Vec<&str> = sources
        .iter()
        .filter(|f| opens(f))
        .map(|f| f.module.as_str())
        .collect();
    assert!(opening.contains(&"services::claims::verify"), "{opening:?}");
    assert!(opening.contains(&"services::idempotency"), "{opening:?}");
}

/// Longest a function (or method) outside tests may be, in lines from its signature to its
/// closing brace: a longer one does several things, each of which wants a name.
const MOST_LINES: usize = 80;

/// Every function under `src/` outside `#[cfg(test)]` code: (file, name, first line, lines).
fn functions() -> Vec<(String, String, usize, usize)> {
    struct Lengths<'f> {
        file: &'f str,
        found: Vec<(String, String, usize, usize)>,
    }
    impl Lengths<'_> {
        /// From the signature (its attributes and docs are not the function) to the brace
        /// that closes the body.
        fn record(&mut self, sig: &syn::Signature, body: &syn::Block) {
            let start = syn::spanned::Spanned::span(sig).start().line;
            let end = body.brace_token.span.close().end().line;
            let entry = (
                self.file.to_owned(),
                sig.ident.to_string(),
                start,
                end - start + 1,
            );
            self.found.push(entry);
        }
    }
    impl<'ast> Visit<'ast> for Lengths<'_> {
        fn visit_item(&mut self, item: &'ast syn::Item) {
            let attrs = match item {
                syn::Item::Mod(m) => &m.attrs,
                syn::Item::Fn(f) => &f.attrs,
                syn::Item::Impl(i) => &i.attrs,
                _ => return syn::visit::visit_item(self, item),
            };
            if !is_test_only(attrs) {
                syn::visit::visit_item(self, item);
            }
        }
        fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
            self.record(&f.sig, &f.block);
            syn::visit::visit_item_fn(self, f);
        }
        fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
            self.record(&f.sig, &f.block);
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let ast = syn::parse_file(&text).unwrap();
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        let mut lengths = Lengths {
            file: &name,
            found: Vec::new(),
        };
        lengths.visit_file(&ast);
        found.extend(lengths.found);
    }
    found
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let all = functions();
    assert!(all.len() > 500, "only {} functions read", all.len());
    // The lengths are real: `api::with_db` spans its signature to its closing brace.
    let with_db = all
        .iter()
        .find(|(file, name, ..)| file == "api/mod.rs" && name == "with_db");
    assert!(
        with_db.is_some_and(|(.., lines)| (10..30).contains(lines)),
        "{with_db:?}"
    );
    let long: Vec<String> = all
        .iter()
        .filter(|(.., lines)| *lines > MOST_LINES)
        .map(|(file, name, line, lines)| format!("src/{file}:{line} {name} ({lines} lines)"))
        .collect();
    assert!(
        long.is_empty(),
        "functions over {MOST_LINES} lines: split each into steps with names:\n{}",
        long.join("\n")
    );
}
