//! Structural checks of the workspace (the "tidy" tests): layering rules that a compiler does
//! not enforce.

use std::path::Path;

/// Crates regstack-core must never depend on: database drivers, HTTP frameworks and clients,
/// mail libraries, template engines, cloud SDKs.
const CORE_FORBIDDEN: &[&str] = &[
    "sqlx",
    "mongodb",
    "axum",
    "hyper",
    "reqwest",
    "poem",
    "poem-openapi",
    "lettre",
    "askama",
    "askama_web",
    "minijinja",
    "tower",
    "tower-http",
    "aws-sdk-sns",
    "aws-sdk-sesv2",
    "aws-config",
    "tracing-subscriber",
];

/// Adapter crates besides the stores (every `crates/regstack-store-*` but the conformance suite
/// is one too): they depend on core only, never on each other.
const ADAPTERS: &[&str] = &["regstack-mail", "regstack-sms"];

/// The store crate that is the conformance suite, not an adapter.
const STORE_TESTS: &str = "regstack-store-tests";

/// The SQL layer the SQL stores share, and the stores that may use it.
const SQL_LAYER: &str = "regstack-store-sql";
const SQL_STORES: &[&str] = &["regstack-store-sqlite", "regstack-store-pg"];

/// Every adapter crate: [`ADAPTERS`] and the store crates found under `crates/`.
fn adapters(root: &Path) -> Vec<String> {
    let mut all: Vec<String> = ADAPTERS.iter().map(|a| (*a).to_owned()).collect();
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        let mut stores: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("regstack-store-") && name != STORE_TESTS)
            .collect();
        stores.sort();
        all.extend(stores);
    }
    all
}

fn manifest(root: &Path, krate: &str) -> Result<toml::Table, String> {
    let path = root.join("crates").join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn dependency_names(m: &toml::Table, section: &str) -> Vec<String> {
    m.get(section)
        .and_then(toml::Value::as_table)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every problem found, as readable lines.
pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    match manifest(root, "regstack-core") {
        Ok(m) => {
            for dep in dependency_names(&m, "dependencies") {
                if CORE_FORBIDDEN.contains(&dep.as_str()) || dep.starts_with("aws-") {
                    problems.push(format!(
                        "regstack-core depends on `{dep}`: core names no database driver, HTTP framework, mail library or template engine"
                    ));
                }
            }
        }
        Err(e) => problems.push(e),
    }
    for adapter in adapters(root) {
        match manifest(root, &adapter) {
            Ok(m) => {
                for dep in dependency_names(&m, "dependencies") {
                    let allowed = dep == "regstack-core"
                        || (dep == SQL_LAYER && SQL_STORES.contains(&adapter.as_str()));
                    if dep.starts_with("regstack-") && !allowed {
                        problems.push(format!(
                            "adapter `{adapter}` depends on `{dep}`: adapters depend on core only \
                             (and the SQL stores on `{SQL_LAYER}`)"
                        ));
                    }
                }
            }
            Err(e) => problems.push(e),
        }
    }
    problems.extend(http_layering(root));
    let crates_dir = root.join("crates");
    if let Ok(entries) = std::fs::read_dir(&crates_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(m) = manifest(root, &name) {
                let lints = m
                    .get("lints")
                    .and_then(|l| l.get("workspace"))
                    .and_then(toml::Value::as_bool);
                if lints != Some(true) {
                    problems.push(format!("crate `{name}` lacks `[lints] workspace = true`"));
                }
                let pkg = m
                    .get("package")
                    .and_then(|p| p.get("name"))
                    .and_then(toml::Value::as_str);
                if pkg != Some(name.as_str()) {
                    problems.push(format!("folder `crates/{name}` holds package {pkg:?}"));
                }
            }
        }
    }
    problems
}

/// Web frameworks `regstack-http` must never depend on: it is the layer they share.
const HTTP_FORBIDDEN: &[&str] = &[
    "axum",
    "poem",
    "poem-openapi",
    "hyper",
    "tower",
    "tower-http",
];

/// What only `regstack-http` may write: status codes and `detail` bodies. A front end
/// (`regstack-http-*`) that names one has grown an answer of its own.
const FRONT_END_FORBIDDEN: &[&str] = &["StatusCode::", "\"detail\"", "status_mut("];

/// `regstack-http` names no web framework, and the front ends write no status code or
/// `detail` string.
fn http_layering(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    match manifest(root, "regstack-http") {
        Ok(m) => {
            for dep in dependency_names(&m, "dependencies") {
                if HTTP_FORBIDDEN.contains(&dep.as_str()) {
                    problems.push(format!(
                        "regstack-http depends on `{dep}`: the shared HTTP layer names no web framework"
                    ));
                }
            }
        }
        Err(e) => problems.push(e),
    }
    let Ok(entries) = std::fs::read_dir(root.join("crates")) else {
        return problems;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("regstack-http-") {
            continue;
        }
        for file in rust_files(&entry.path().join("src")) {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for needle in FRONT_END_FORBIDDEN {
                if text.contains(needle) {
                    problems.push(format!(
                        "{} writes `{needle}`: status codes and `detail` strings are written only in regstack-http",
                        file.display()
                    ));
                }
            }
        }
    }
    problems
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_is_tidy() {
        let problems = check(&crate::root());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn every_store_crate_is_an_adapter() {
        let all = adapters(&crate::root());
        for store in [
            "regstack-store-sqlite",
            "regstack-store-pg",
            "regstack-store-mongo",
            SQL_LAYER,
        ] {
            assert!(
                all.iter().any(|a| a == store),
                "{store} missing from {all:?}"
            );
        }
        assert!(!all.iter().any(|a| a == STORE_TESTS), "{all:?}");
    }

    #[test]
    fn only_the_sql_stores_may_use_the_sql_layer() {
        let dir = std::env::temp_dir().join(format!("regstack-tidy-sql-{}", std::process::id()));
        let write = |krate: &str, deps: &str| {
            let path = dir.join("crates").join(krate);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(
                path.join("Cargo.toml"),
                format!(
                    "[package]\nname = \"{krate}\"\n[dependencies]\n{deps}[lints]\nworkspace = true\n"
                ),
            )
            .unwrap();
        };
        write("regstack-core", "");
        write("regstack-store-sql", "regstack-core = \"0.1\"\n");
        write(
            "regstack-store-pg",
            "regstack-core = \"0.1\"\nregstack-store-sql = \"0.1\"\n",
        );
        write(
            "regstack-store-mongo",
            "regstack-core = \"0.1\"\nregstack-store-sql = \"0.1\"\n",
        );
        write(
            "regstack-store-sqlite",
            "regstack-core = \"0.1\"\nregstack-store-pg = \"0.1\"\n",
        );
        let problems: Vec<String> = check(&dir)
            .into_iter()
            .filter(|p| p.starts_with("adapter"))
            .collect();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].contains("`regstack-store-mongo` depends on `regstack-store-sql`"));
        assert!(problems[1].contains("`regstack-store-sqlite` depends on `regstack-store-pg`"));
    }

    #[test]
    fn a_status_code_in_a_front_end_is_reported() {
        let dir = std::env::temp_dir().join(format!("regstack-tidy-http-{}", std::process::id()));
        let glue = dir.join("crates").join("regstack-http-demo").join("src");
        let http = dir.join("crates").join("regstack-http");
        std::fs::create_dir_all(&glue).unwrap();
        std::fs::create_dir_all(&http).unwrap();
        std::fs::write(
            glue.join("lib.rs"),
            "fn f() { let _ = http::StatusCode::OK; }\n",
        )
        .unwrap();
        std::fs::write(
            http.join("Cargo.toml"),
            "[package]\nname = \"regstack-http\"\n[dependencies]\naxum = \"0.8\"\n",
        )
        .unwrap();
        let problems = http_layering(&dir);
        std::fs::remove_dir_all(&dir).ok();
        assert!(
            problems.iter().any(|p| p.contains("StatusCode::")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("`axum`")),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_forbidden_core_dependency_is_reported() {
        let dir = std::env::temp_dir().join(format!("regstack-tidy-{}", std::process::id()));
        let core = dir.join("crates").join("regstack-core");
        std::fs::create_dir_all(&core).unwrap();
        std::fs::write(
            core.join("Cargo.toml"),
            "[package]\nname = \"regstack-core\"\n[dependencies]\nsqlx = \"0.9\"\n[lints]\nworkspace = true\n",
        )
        .unwrap();
        let problems = check(&dir);
        std::fs::remove_dir_all(&dir).ok();
        assert!(
            problems.iter().any(|p| p.contains("`sqlx`")),
            "{problems:#?}"
        );
    }
}
