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

/// Adapter crates that must depend on core only, never on each other.
const ADAPTERS: &[&str] = &["regstack-store-sqlite", "regstack-mail", "regstack-sms"];

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
    for adapter in ADAPTERS {
        match manifest(root, adapter) {
            Ok(m) => {
                for dep in dependency_names(&m, "dependencies") {
                    if dep.starts_with("regstack-") && dep != "regstack-core" {
                        problems.push(format!(
                            "adapter `{adapter}` depends on `{dep}`: adapters depend on core only"
                        ));
                    }
                }
            }
            Err(e) => problems.push(e),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_is_tidy() {
        let problems = check(&crate::root());
        assert!(problems.is_empty(), "{problems:#?}");
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
