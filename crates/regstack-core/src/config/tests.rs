use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::load::{load_in, parse_secrets, unknown_keys};
use super::*;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Loads with only the given environment, in an empty working directory.
fn load_env(items: &[(&str, &str)]) -> Result<RegStackConfig, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    load_in(
        LoadOptions {
            env: Some(pairs(items)),
            ..LoadOptions::default()
        },
        dir.path(),
    )
}

fn load_ok(items: &[(&str, &str)]) -> RegStackConfig {
    load_env(items).unwrap_or_else(|e| panic!("{items:?}: {e}"))
}

fn load_err(items: &[(&str, &str)]) -> String {
    match load_env(items) {
        Ok(c) => panic!("{items:?} loaded: {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

// ---------------------------------------------------------------- defaults

#[test]
fn derived_values_of_the_defaults() {
    // Every default itself: `every_setting_has_its_default_accepted_forms_and_refusals`.
    let c = RegStackConfig::default();
    assert_eq!(c.base_url_trimmed(), "http://localhost:8000");
    assert_eq!(c.api_prefix(), "/api/auth");
    assert_eq!(c.ui_prefix(), "/account");
    assert_eq!(c.static_prefix(), "/regstack-static");
    assert_eq!(c.email.display_name(&c.app_name), "RegStack");
    assert_eq!(c.password_hash_nice, crate::password::DEFAULT_NICE);
    assert!(c.rate_limits().is_empty());
    c.validate().unwrap();
}

#[test]
fn loading_nothing_gives_the_defaults() {
    assert_eq!(load_ok(&[]), RegStackConfig::default());
    assert_eq!(
        RegStackConfig::from_toml_str("").unwrap(),
        RegStackConfig::default()
    );
}

#[test]
fn literals_round_trip() {
    for a in JwtAlgorithm::ALL {
        assert_eq!(JwtAlgorithm::parse(a.as_str()), Some(a));
    }
    for b in EmailBackend::ALL {
        assert_eq!(EmailBackend::parse(&b.to_string()), Some(b));
    }
    for b in SmsBackend::ALL {
        assert_eq!(SmsBackend::parse(b.as_str()), Some(b));
    }
    assert_eq!(JwtAlgorithm::parse("hs256"), None);
    assert_eq!(EmailBackend::parse("SMTP"), None);
}

// ---------------------------------------------------------------- TOML

#[test]
fn spec_example_toml_loads() {
    let c = RegStackConfig::from_toml_str(
        r#"
app_name = "MyApp"
base_url = "https://app.example.com"
require_verification = true
enable_ui_router = true
enable_admin_router = false
login_lockout_threshold = 5
login_rate_limit = "10/minute;100/hour"

[email]
backend = "smtp"
from_address = "noreply@app.example.com"
smtp_host = "smtp.example.com"
smtp_port = 587

[sms]
backend = "null"

[oauth]
google_client_id = "1234.apps.googleusercontent.com"
auto_link_verified_emails = false
"#,
    )
    .unwrap();
    assert_eq!(c.app_name, "MyApp");
    assert_eq!(c.base_url, "https://app.example.com/");
    assert!(c.enable_ui_router);
    assert_eq!(c.login_rate_limit.as_deref(), Some("10/minute;100/hour"));
    assert_eq!(c.email.backend, EmailBackend::Smtp);
    assert_eq!(c.email.from_address, "noreply@app.example.com");
    assert_eq!(c.email.smtp_host.as_deref(), Some("smtp.example.com"));
    assert_eq!(c.email.smtp_port, 587);
    assert_eq!(c.sms.backend, SmsBackend::Null);
    assert_eq!(
        c.oauth.google_client_id.as_deref(),
        Some("1234.apps.googleusercontent.com")
    );
    assert_eq!(
        c.verify_url("t"),
        "https://app.example.com/account/verify?token=t"
    );
}

#[test]
fn toml_values_go_through_env_style_parsing() {
    // Numbers and booleans become text, so a number is a valid string value
    // and a quoted number is a valid integer.
    let c = RegStackConfig::from_toml_str(
        "app_name = 5\njwt_ttl_seconds = \"600\"\nbehind_proxy = \"yes\"\nsms_code_length = 8.0\n",
    )
    .unwrap();
    assert_eq!(c.app_name, "5");
    assert_eq!(c.jwt_ttl_seconds, 600);
    assert!(c.behind_proxy);
    assert_eq!(c.sms_code_length, 8);
}

#[test]
fn toml_keys_are_case_insensitive_and_unknown_keys_are_ignored() {
    let c = RegStackConfig::from_toml_str(
        r#"
App_Name = "X"
login_max_per_minute = 0
cookie_domain = "example.com"
user_collection = "people"
[Email]
BACKEND = "ses"
nope = 1
[email.deeper]
x = 1
[unknown_table]
y = 2
"#,
    )
    .unwrap();
    assert_eq!(c.app_name, "X");
    assert_eq!(c.user_collection, "people");
    assert_eq!(c.email.backend, EmailBackend::Ses);
}

#[test]
fn toml_arrays_are_native_for_list_fields_and_joined_elsewhere() {
    let c = RegStackConfig::from_toml_str(
        "extra_template_dirs = [\"templates\", \"/srv/t\"]\nextra_static_dirs = []\n\
         login_rate_limit = [\"5/minute\", \"10/hour\"]\n",
    )
    .unwrap();
    assert_eq!(
        c.extra_template_dirs,
        [PathBuf::from("templates"), PathBuf::from("/srv/t")]
    );
    assert!(c.extra_static_dirs.is_empty());
    assert_eq!(c.login_rate_limit.as_deref(), Some("5/minute,10/hour"));
}

#[test]
fn a_toml_string_may_hold_a_whole_section_as_json() {
    let c =
        RegStackConfig::from_toml_str(r#"email = '{"backend": "ses", "ses_region": "us-east-1"}'"#)
            .unwrap();
    assert_eq!(c.email.backend, EmailBackend::Ses);
    assert_eq!(c.email.ses_region, "us-east-1");
}

#[test]
fn invalid_toml_is_an_error() {
    let err = RegStackConfig::from_toml_str("app_name = ").unwrap_err();
    assert!(
        matches!(err, ConfigError::Toml { path: None, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("invalid TOML in configuration string: "),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.toml", "[email\n");
    let err = RegStackConfig::load_with(LoadOptions {
        toml_path: Some(path.clone()),
        env: Some(Vec::new()),
        secrets_path: Some(dir.path().join("none.env")),
        ..LoadOptions::default()
    })
    .unwrap_err();
    match err {
        ConfigError::Toml { path: Some(p), .. } => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
}

#[test]
fn toml_type_errors_name_the_field_and_its_variable() {
    let err = RegStackConfig::from_toml_str("[email]\nsmtp_port = \"submission\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value for `email.smtp_port` (REGSTACK_EMAIL__SMTP_PORT): expected an integer, got \"submission\""
    );
    assert_eq!(err.field(), Some("email.smtp_port"));
}

// ---------------------------------------------------------------- sources and precedence

#[test]
fn precedence_overrides_env_secrets_toml_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "conf.toml",
        r#"
app_name = "from-toml"
brand_tagline = "from-toml"
theme_css_url = "from-toml"
jwt_audience = "from-toml"
ui_prefix = "/toml"
[email]
from_name = "from-toml"
smtp_host = "toml-host"
"#,
    );
    let secrets = write(
        dir.path(),
        "s.env",
        "REGSTACK_BRAND_TAGLINE=from-secrets\nREGSTACK_THEME_CSS_URL=from-secrets\n\
         REGSTACK_JWT_AUDIENCE=from-secrets\nREGSTACK_EMAIL__SMTP_HOST=secret-host\n",
    );
    let c = load_in(
        LoadOptions {
            toml_path: Some(toml),
            secrets_path: Some(secrets),
            env: Some(pairs(&[
                ("REGSTACK_THEME_CSS_URL", "from-env"),
                ("REGSTACK_JWT_AUDIENCE", "from-env"),
                ("REGSTACK_EMAIL__FROM_NAME", "from-env"),
                ("UNRELATED", "x"),
            ])),
            overrides: pairs(&[
                ("jwt_audience", "from-override"),
                ("email__smtp_host", "override-host"),
            ]),
        },
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.app_name, "from-toml");
    assert_eq!(c.ui_prefix, "/toml");
    assert_eq!(c.brand_tagline.as_deref(), Some("from-secrets"));
    assert_eq!(c.theme_css_url.as_deref(), Some("from-env"));
    assert_eq!(c.jwt_audience.as_deref(), Some("from-override"));
    assert_eq!(c.email.from_name.as_deref(), Some("from-env"));
    assert_eq!(c.email.smtp_host.as_deref(), Some("override-host"));
    assert_eq!(
        c.api_prefix, "/api/auth",
        "untouched setting keeps its default"
    );
}

#[test]
fn default_files_are_found_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "regstack.toml", "app_name = \"cwd-toml\"\n");
    write(
        dir.path(),
        "regstack.secrets.env",
        "REGSTACK_JWT_SECRET=cwd-secret\n",
    );
    let c = load_in(
        LoadOptions {
            env: Some(Vec::new()),
            ..LoadOptions::default()
        },
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.app_name, "cwd-toml");
    assert_eq!(c.jwt_secret.expose(), "cwd-secret");
}

#[test]
fn regstack_config_env_var_locates_the_toml_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "regstack.toml", "app_name = \"cwd\"\n");
    let other = write(dir.path(), "other.toml", "app_name = \"via-env\"\n");
    let explicit = write(dir.path(), "explicit.toml", "app_name = \"explicit\"\n");
    let run = |toml_path: Option<PathBuf>, env: &[(&str, &str)]| {
        load_in(
            LoadOptions {
                toml_path,
                env: Some(pairs(env)),
                ..LoadOptions::default()
            },
            dir.path(),
        )
        .unwrap()
        .app_name
    };
    let other_str = other.to_str().unwrap();
    assert_eq!(run(None, &[("REGSTACK_CONFIG", other_str)]), "via-env");
    assert_eq!(
        run(None, &[("REGSTACK_CONFIG", "other.toml")]),
        "via-env",
        "relative to the working directory"
    );
    assert_eq!(run(None, &[("regstack_config", other_str)]), "via-env");
    assert_eq!(
        run(Some(explicit), &[("REGSTACK_CONFIG", other_str)]),
        "explicit"
    );
    // A path that is not a file is ignored without falling back to ./regstack.toml.
    assert_eq!(
        run(None, &[("REGSTACK_CONFIG", "missing.toml")]),
        "RegStack"
    );
    assert_eq!(run(Some(dir.path().join("missing.toml")), &[]), "RegStack");
    assert_eq!(
        run(Some(dir.path().to_path_buf()), &[]),
        "RegStack",
        "a directory is not a file"
    );
    assert_eq!(run(None, &[]), "cwd");
}

#[test]
fn secrets_file_is_not_looked_up_next_to_the_toml_file() {
    let cwd = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let toml = write(elsewhere.path(), "regstack.toml", "app_name = \"t\"\n");
    write(
        elsewhere.path(),
        "regstack.secrets.env",
        "REGSTACK_JWT_SECRET=next-to-toml\n",
    );
    let c = load_in(
        LoadOptions {
            toml_path: Some(toml),
            env: Some(Vec::new()),
            ..LoadOptions::default()
        },
        cwd.path(),
    )
    .unwrap();
    assert_eq!(c.app_name, "t");
    assert_eq!(c.jwt_secret.expose(), "");

    // An explicit secrets path is used; a missing one is ignored.
    let explicit = write(elsewhere.path(), "x.env", "REGSTACK_JWT_SECRET=explicit\n");
    let load_secrets = |p: PathBuf| {
        load_in(
            LoadOptions {
                secrets_path: Some(p),
                env: Some(Vec::new()),
                ..LoadOptions::default()
            },
            cwd.path(),
        )
        .unwrap()
        .jwt_secret
    };
    assert_eq!(load_secrets(explicit).expose(), "explicit");
    assert_eq!(load_secrets(elsewhere.path().join("nope.env")).expose(), "");
}

#[test]
fn secrets_file_keys_are_case_insensitive_and_unprefixed_keys_ignored() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "regstack.secrets.env",
        "regstack_app_name=lower\nJWT_SECRET=not-a-setting\nexport REGSTACK_BRAND_TAGLINE=ignored\n",
    );
    let c = load_in(
        LoadOptions {
            env: Some(Vec::new()),
            ..LoadOptions::default()
        },
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.app_name, "lower");
    assert_eq!(c.jwt_secret.expose(), "");
    assert_eq!(c.brand_tagline, None);
}

#[test]
fn unreadable_secrets_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regstack.secrets.env");
    std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
    let err = load_in(
        LoadOptions {
            env: Some(Vec::new()),
            ..LoadOptions::default()
        },
        dir.path(),
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot read configuration file "),
        "{err}"
    );
}

#[test]
fn env_names_are_case_insensitive() {
    let c = load_ok(&[
        ("regstack_app_name", "lower"),
        ("ReGsTaCk_JWT_TTL_SECONDS", "120"),
        ("REGSTACK_email__BACKEND", "smtp"),
        ("regstack_SMS__From_Number", "+15550001"),
    ]);
    assert_eq!(c.app_name, "lower");
    assert_eq!(c.jwt_ttl_seconds, 120);
    assert_eq!(c.email.backend, EmailBackend::Smtp);
    assert_eq!(c.sms.from_number.as_deref(), Some("+15550001"));
}

#[test]
fn whole_section_json_with_nested_vars_merged_over_it() {
    let c = load_ok(&[
        (
            "REGSTACK_EMAIL",
            r#"{"backend":"smtp","smtp_host":"mail","smtp_port":25,"SMTP_STARTTLS":"no"}"#,
        ),
        ("REGSTACK_EMAIL__SMTP_HOST", "other"),
    ]);
    assert_eq!(c.email.backend, EmailBackend::Smtp);
    assert_eq!(c.email.smtp_host.as_deref(), Some("other"));
    assert_eq!(c.email.smtp_port, 25);
    assert!(
        !c.email.smtp_starttls,
        "JSON keys are matched case-insensitively"
    );

    let c = load_ok(&[(
        "REGSTACK_SMS",
        r#" {"backend": "twilio", "from_number": null, "twilio_auth_token": "tok", "log_bodies": 1} "#,
    )]);
    assert_eq!(c.sms.backend, SmsBackend::Twilio);
    assert_eq!(c.sms.from_number, None);
    assert_eq!(
        c.sms.twilio_auth_token.as_ref().map(SecretString::expose),
        Some("tok")
    );
    assert!(c.sms.log_bodies);

    let c = load_ok(&[
        ("REGSTACK_OAUTH", "null"),
        ("REGSTACK_OAUTH__STATE_TTL_SECONDS", "-5"),
    ]);
    assert_eq!(
        c.oauth.state_ttl_seconds, -5,
        "no bounds check on the oauth TTLs"
    );
}

#[test]
fn whole_section_json_errors_name_the_section() {
    let err = load_env(&[("REGSTACK_EMAIL", "notjson")]).unwrap_err();
    assert!(matches!(err, ConfigError::Json { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("invalid value for `email` (REGSTACK_EMAIL): not valid JSON: "),
        "{err}"
    );
    assert!(matches!(
        load_env(&[("REGSTACK_EMAIL", "")]),
        Err(ConfigError::Json { .. })
    ));
    assert_eq!(
        load_err(&[("REGSTACK_SMS", "[1]")]),
        "invalid value for `sms` (REGSTACK_SMS): expected a JSON object, got an array"
    );
    assert_eq!(
        load_err(&[("REGSTACK_EMAIL", r#"{"smtp_host": 5}"#)]),
        "invalid value for `email.smtp_host` (REGSTACK_EMAIL__SMTP_HOST): expected a string, got a number"
    );
    assert_eq!(
        load_err(&[("REGSTACK_EMAIL", r#"{"backend": null}"#)]),
        "invalid value for `email.backend` (REGSTACK_EMAIL__BACKEND): must be one of \"console\", \"smtp\", \"ses\", got null"
    );
}

#[test]
fn nested_key_deeper_than_a_field() {
    // Under a known field it is a type error; under an unknown one it is ignored.
    assert!(load_err(&[("REGSTACK_EMAIL__BACKEND__X", "1")]).contains("`email.backend`"));
    assert_eq!(
        load_ok(&[("REGSTACK_EMAIL__NOPE__X", "1")]),
        RegStackConfig::default()
    );
    // A plain value for the field wins over the deeper key.
    let c = load_ok(&[
        ("REGSTACK_EMAIL__BACKEND__X", "1"),
        ("REGSTACK_EMAIL__BACKEND", "ses"),
    ]);
    assert_eq!(c.email.backend, EmailBackend::Ses);
    // `__` under a scalar top-level field is not a setting.
    assert_eq!(
        load_ok(&[("REGSTACK_JWT_TTL_SECONDS__X", "5")]).jwt_ttl_seconds,
        7200
    );
}

#[test]
fn a_nested_key_from_a_lower_source_beats_a_whole_section_json_from_a_higher_one() {
    // 0.9.3 merges every source key by key before resolving fields, and the
    // `__` keys always win over the section's JSON object.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "regstack.toml",
        "[email]\nbackend = \"smtp\"\nsmtp_host = \"h\"\n",
    );
    let c = load_in(
        LoadOptions {
            env: Some(pairs(&[(
                "REGSTACK_EMAIL",
                r#"{"backend":"ses","ses_region":"us-east-1"}"#,
            )])),
            ..LoadOptions::default()
        },
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.email.backend, EmailBackend::Smtp);
    assert_eq!(c.email.ses_region, "us-east-1");
}

#[test]
fn overrides_are_deep_merged_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let c = load_in(
        LoadOptions {
            env: Some(pairs(&[
                ("REGSTACK_EMAIL__BACKEND", "ses"),
                ("REGSTACK_EMAIL__SES_REGION", "us-east-1"),
                ("REGSTACK_JWT_SECRET", "env"),
            ])),
            overrides: pairs(&[
                ("email", r#"{"backend": "smtp", "smtp_host": "x"}"#),
                ("REGSTACK_JWT_SECRET", "override"),
                ("Sms__Backend", "sns"),
                ("jwt_audience", "null"),
                ("brand_tagline", "t"),
            ]),
            ..LoadOptions::default()
        },
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        c.email.backend,
        EmailBackend::Smtp,
        "an override's JSON beats a lower __ variable"
    );
    assert_eq!(c.email.smtp_host.as_deref(), Some("x"));
    assert_eq!(
        c.email.ses_region, "us-east-1",
        "untouched keys of the section survive"
    );
    assert_eq!(c.jwt_secret.expose(), "override");
    assert_eq!(c.sms.backend, SmsBackend::Sns);
    assert_eq!(
        c.jwt_audience.as_deref(),
        Some("null"),
        "text `null` is a string, not None"
    );
    assert_eq!(c.brand_tagline.as_deref(), Some("t"));

    // JSON null in a section override unsets an optional field.
    let c = load_in(
        LoadOptions {
            env: Some(pairs(&[("REGSTACK_EMAIL__SMTP_HOST", "h")])),
            overrides: pairs(&[("email", r#"{"smtp_host": null}"#)]),
            ..LoadOptions::default()
        },
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.email.smtp_host, None);
}

#[test]
fn empty_env_values_are_values() {
    let c = load_ok(&[
        ("REGSTACK_JWT_AUDIENCE", ""),
        ("REGSTACK_EMAIL__SMTP_PASSWORD", ""),
        ("REGSTACK_LOGIN_RATE_LIMIT", ""),
    ]);
    assert_eq!(c.jwt_audience.as_deref(), Some(""));
    assert_eq!(c.email.smtp_password, Some(SecretString::from("")));
    assert_eq!(c.login_rate_limit.as_deref(), Some(""));
    assert!(load_err(&[("REGSTACK_EMAIL__SMTP_PORT", "")]).contains("`email.smtp_port`"));
    assert!(load_err(&[("REGSTACK_BEHIND_PROXY", "")]).contains("`behind_proxy`"));
}

// ---------------------------------------------------------------- value syntax

#[test]
fn booleans() {
    for (text, want) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("yes", true),
        ("On", true),
        ("t", true),
        ("Y", true),
        ("false", false),
        ("False", false),
        ("0", false),
        ("no", false),
        ("OFF", false),
        ("f", false),
        ("n", false),
    ] {
        assert_eq!(
            load_ok(&[("REGSTACK_BEHIND_PROXY", text)]).behind_proxy,
            want,
            "{text}"
        );
        assert_eq!(
            load_ok(&[("REGSTACK_EMAIL__SMTP_STARTTLS", text)])
                .email
                .smtp_starttls,
            want,
            "{text}"
        );
    }
    assert_eq!(
        load_err(&[("REGSTACK_BEHIND_PROXY", "2")]),
        "invalid value for `behind_proxy` (REGSTACK_BEHIND_PROXY): expected a boolean \
         (true/false, 1/0, yes/no, on/off, t/f, y/n), got \"2\""
    );
    for bad in [" yes ", "enabled", "tru"] {
        load_err(&[("REGSTACK_ENABLE_OAUTH", bad)]);
    }
    assert!(load_err(&[("REGSTACK_EMAIL", r#"{"log_bodies": 2}"#)]).contains("`email.log_bodies`"));
}

#[test]
fn integers() {
    for (text, want) in [
        ("120", 120),
        (" 120 ", 120),
        ("+120", 120),
        ("0120", 120),
        ("120.0", 120),
        ("120.000", 120),
        ("1_200", 1200),
    ] {
        assert_eq!(
            load_ok(&[("REGSTACK_JWT_TTL_SECONDS", text)]).jwt_ttl_seconds,
            want,
            "{text}"
        );
    }
    for bad in [
        "120.5",
        "120.",
        "1e3",
        "0x10",
        "_120",
        "12__0",
        "",
        "abc",
        "99999999999999999999999999999999999999999",
    ] {
        let err = load_err(&[("REGSTACK_JWT_TTL_SECONDS", bad)]);
        assert!(
            err.starts_with("invalid value for `jwt_ttl_seconds` (REGSTACK_JWT_TTL_SECONDS): "),
            "{bad}: {err}"
        );
    }
    assert_eq!(
        load_err(&[("REGSTACK_SMS_CODE_LENGTH", "six")]),
        "invalid value for `sms_code_length` (REGSTACK_SMS_CODE_LENGTH): expected an integer, got \"six\""
    );
    // JSON numbers (and booleans, as pydantic does) in a section object.
    let c = load_ok(&[("REGSTACK_EMAIL", r#"{"smtp_port": 25.0}"#)]);
    assert_eq!(c.email.smtp_port, 25);
    let c = load_ok(&[(
        "REGSTACK_OAUTH",
        r#"{"state_ttl_seconds": 60, "completion_ttl_seconds": "1_0"}"#,
    )]);
    assert_eq!(
        (c.oauth.state_ttl_seconds, c.oauth.completion_ttl_seconds),
        (60, 10)
    );
    assert!(
        load_err(&[("REGSTACK_EMAIL", r#"{"smtp_port": 25.5}"#)]).contains("`email.smtp_port`")
    );
    assert_eq!(
        load_err(&[("REGSTACK_EMAIL__SMTP_PORT", "70000")]),
        "invalid value for `email.smtp_port` (REGSTACK_EMAIL__SMTP_PORT): must be between 0 and 65535, got 70000"
    );
}

#[test]
fn lists() {
    let c = load_ok(&[
        ("REGSTACK_EXTRA_TEMPLATE_DIRS", r#" ["a", "b/c", ""] "#),
        ("REGSTACK_EXTRA_STATIC_DIRS", "[]"),
    ]);
    assert_eq!(
        c.extra_template_dirs,
        [PathBuf::from("a"), PathBuf::from("b/c"), PathBuf::from(".")]
    );
    assert!(c.extra_static_dirs.is_empty());

    let err = load_env(&[("REGSTACK_EXTRA_TEMPLATE_DIRS", "a,b")]).unwrap_err();
    assert!(matches!(err, ConfigError::Json { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("`extra_template_dirs` (REGSTACK_EXTRA_TEMPLATE_DIRS)")
    );
    assert_eq!(
        load_err(&[("REGSTACK_EXTRA_STATIC_DIRS", "[1]")]),
        "invalid value for `extra_static_dirs` (REGSTACK_EXTRA_STATIC_DIRS): expected a JSON array of paths, got an element 1"
    );
    assert!(load_err(&[("REGSTACK_EXTRA_STATIC_DIRS", "\"a\"")]).contains("got a string"));
}

// ---------------------------------------------------------------- every setting

/// The secret settings: their value, which serializing masks.
const SECRETS: [&str; 7] = [
    "database_url",
    "jwt_secret",
    "email.smtp_password",
    "email.ses_access_key_id",
    "email.ses_secret_access_key",
    "sms.twilio_auth_token",
    "oauth.google_client_secret",
];

/// Every setting of a configuration by field path (`email.smtp_port`), secrets exposed.
fn settings_of(c: &RegStackConfig) -> BTreeMap<String, Value> {
    let Ok(Value::Object(tree)) = serde_json::to_value(c) else {
        panic!("a configuration serializes to an object")
    };
    let mut out = BTreeMap::new();
    for (key, value) in tree {
        match value {
            Value::Object(section) => {
                out.extend(section.into_iter().map(|(k, v)| (format!("{key}.{k}"), v)));
            }
            value => drop(out.insert(key, value)),
        }
    }
    let exposed = |s: Option<&SecretString>| json!(s.map(SecretString::expose));
    let secrets = [
        json!(c.database_url.expose()),
        json!(c.jwt_secret.expose()),
        exposed(c.email.smtp_password.as_ref()),
        exposed(c.email.ses_access_key_id.as_ref()),
        exposed(c.email.ses_secret_access_key.as_ref()),
        exposed(c.sms.twilio_auth_token.as_ref()),
        exposed(c.oauth.google_client_secret.as_ref()),
    ];
    for (path, value) in SECRETS.into_iter().zip(secrets) {
        out.insert(path.to_owned(), value);
    }
    out
}

/// One setting: its default, texts it accepts (with the value each gives) and texts it
/// refuses (with the reason, after "invalid value for `<field>` (<env>): ").
struct Setting {
    path: &'static str,
    default: Value,
    accepted: Vec<(&'static str, Value)>,
    refused: Vec<(&'static str, &'static str)>,
}

macro_rules! setting {
    ($path:literal: $default:tt, [$($text:literal => $value:tt),*], [$($bad:literal => $why:expr),*]) => {
        Setting {
            path: $path,
            default: json!($default),
            accepted: vec![$(($text, json!($value))),*],
            refused: vec![$(($bad, $why)),*],
        }
    };
}

const BOOL: &str = "expected a boolean (true/false, 1/0, yes/no, on/off, t/f, y/n), got \"2\"";

/// Every setting of regstack 0.9.3's configuration and the Rust additions.
fn every_setting() -> Vec<Setting> {
    let mut all = vec![
        setting!("app_name": "RegStack", ["MyApp" => "MyApp", "" => "", "null" => "null"], []),
        setting!("base_url": "http://localhost:8000/",
            ["HTTP://Example.COM:80" => "http://example.com/", "https://ex.com/app/" => "https://ex.com/app/"],
            ["ftp://ex.com" => "URL scheme must be \"http\" or \"https\", got \"ftp://ex.com\"",
             "ex.com" => "must be an absolute http(s) URL (relative URL without a base), got \"ex.com\""]),
        setting!("behind_proxy": false, ["yes" => true, "0" => false], ["2" => BOOL]),
        setting!("trusted_proxies": [],
            [r#"["10.0.0.0/8", "::1"]"# => ["10.0.0.0/8", "::1/128"], "[]" => []],
            ["[8]" => "expected a JSON array of addresses, got an element 8",
             "10.0.0.1" => "not valid JSON: trailing characters at line 1 column 5"]),
        setting!("database_url": "sqlite+aiosqlite:///./regstack.db",
            ["postgresql://u:pw@h/db" => "postgresql://u:pw@h/db"], []),
        setting!("mongodb_database": "regstack", ["db" => "db"], []),
        setting!("user_collection": "users", ["people" => "people"], []),
        setting!("pending_collection": "pending_registrations", ["p" => "p"], []),
        setting!("blacklist_collection": "token_blacklist", ["b" => "b"], []),
        setting!("login_attempt_collection": "login_attempts", ["l" => "l"], []),
        setting!("mfa_code_collection": "mfa_codes", ["m" => "m"], []),
        setting!("oauth_identity_collection": "oauth_identities", ["o" => "o"], []),
        setting!("oauth_state_collection": "oauth_states", ["s" => "s"], []),
        setting!("jwt_secret": "", ["k3y" => "k3y"], []),
        setting!("jwt_algorithm": "HS256", ["HS384" => "HS384", "HS512" => "HS512"],
            ["hs256" => "must be one of \"HS256\", \"HS384\", \"HS512\", got \"hs256\""]),
        setting!("jwt_ttl_seconds": 7200,
            ["60" => 60, "2592000" => 2_592_000, " +1_200.0 " => 1200],
            ["59" => "must be between 60 and 2592000, got 59",
             "2592001" => "must be between 60 and 2592000, got 2592001",
             "1e3" => "expected an integer, got \"1e3\""]),
        setting!("jwt_audience": null, ["aud" => "aud", "" => ""], []),
        setting!("transport": "bearer", ["bearer" => "bearer"],
            ["cookie" => "must be \"bearer\", got \"cookie\"",
             "Bearer" => "must be \"bearer\", got \"Bearer\""]),
        setting!("verification_token_ttl_seconds": 86_400, ["60" => 60],
            ["59" => "must be at least 60, got 59"]),
        setting!("password_reset_token_ttl_seconds": 1800, ["60" => 60],
            ["59" => "must be at least 60, got 59"]),
        setting!("email_change_token_ttl_seconds": 3600, ["60" => 60],
            ["59" => "must be at least 60, got 59"]),
        setting!("sms_code_length": 6, ["4" => 4, "10" => 10],
            ["3" => "must be between 4 and 10, got 3", "11" => "must be between 4 and 10, got 11",
             "-3" => "must be between 4 and 10, got -3"]),
        setting!("sms_code_ttl_seconds": 300, ["30" => 30, "1800" => 1800],
            ["29" => "must be between 30 and 1800, got 29",
             "1801" => "must be between 30 and 1800, got 1801"]),
        setting!("sms_code_max_attempts": 5, ["1" => 1, "20" => 20],
            ["0" => "must be between 1 and 20, got 0", "21" => "must be between 1 and 20, got 21"]),
        setting!("mfa_pending_token_ttl_seconds": 600, ["60" => 60, "1800" => 1800],
            ["59" => "must be between 60 and 1800, got 59",
             "1801" => "must be between 60 and 1800, got 1801"]),
        setting!("require_verification": true, ["no" => false], ["2" => BOOL]),
        setting!("allow_registration": true, ["off" => false], ["2" => BOOL]),
        setting!("enable_password_reset": true, ["F" => false], ["2" => BOOL]),
        setting!("enable_account_deletion": true, ["n" => false], ["2" => BOOL]),
        setting!("enable_admin_router": false, ["on" => true], ["2" => BOOL]),
        setting!("enable_ui_router": false, ["True" => true], ["2" => BOOL]),
        setting!("enable_sms_2fa": false, ["1" => true], ["2" => BOOL]),
        setting!("enable_oauth": false, ["y" => true], ["2" => BOOL]),
        setting!("rate_limit_disabled": false, ["t" => true], ["2" => BOOL]),
        setting!("login_lockout_threshold": 5, ["1" => 1], ["0" => "must be at least 1, got 0"]),
        setting!("login_lockout_window_seconds": 900, ["10" => 10],
            ["9" => "must be at least 10, got 9"]),
        setting!("log_security_emails": false, ["YES" => true], ["2" => BOOL]),
        setting!("brand_logo_url": null, ["/logo.png" => "/logo.png"], []),
        setting!("brand_tagline": null, ["t" => "t"], []),
        setting!("extra_template_dirs": [], [r#" ["a", "b/c", ""] "# => ["a", "b/c", "."]],
            ["[1]" => "expected a JSON array of paths, got an element 1",
             "\"a\"" => "expected a JSON array of paths, got a string",
             "a,b" => "not valid JSON: expected value at line 1 column 1"]),
        setting!("extra_static_dirs": [], ["[]" => []],
            ["{}" => "expected a JSON array of paths, got an object"]),
        setting!("api_prefix": "/api/auth", ["/api/" => "/api/"], []),
        setting!("ui_prefix": "/account", ["/me" => "/me"], []),
        setting!("static_prefix": "/regstack-static", ["/" => "/"], []),
        setting!("theme_css_url": null, ["/t.css" => "/t.css"], []),
        setting!("email_link_prefix": null, ["" => ""], []),
        setting!("verify_url_template": null, ["{base_url}/v/{token}" => "{base_url}/v/{token}"], []),
        setting!("password_reset_url_template": null, ["r" => "r"], []),
        setting!("email_change_url_template": null, ["c" => "c"], []),
        setting!("email.backend": "console", ["smtp" => "smtp", "ses" => "ses"],
            ["SMTP" => "must be one of \"console\", \"smtp\", \"ses\", got \"SMTP\""]),
        setting!("email.from_address": "noreply@example.com",
            ["A@B.COM" => "A@b.com", "Foo <a@b.com>" => "a@b.com"],
            ["a@localhost" => "is not a valid email address \
                (the part after the @-sign must have a period), got \"a@localhost\""]),
        setting!("email.from_name": null, ["Shop" => "Shop"], []),
        setting!("email.smtp_host": null, ["mail" => "mail"], []),
        setting!("email.smtp_port": 587, ["0" => 0, "65535" => 65_535],
            ["65536" => "must be between 0 and 65535, got 65536",
             "submission" => "expected an integer, got \"submission\""]),
        setting!("email.smtp_starttls": true, ["false" => false], ["2" => BOOL]),
        setting!("email.smtp_tls": null, ["starttls" => "starttls", "tls" => "tls", "none" => "none"],
            ["ssl" => "must be one of \"starttls\", \"tls\", \"none\", got \"ssl\""]),
        setting!("email.smtp_timeout_seconds": 10, ["1" => 1, "3600" => 3600],
            ["0" => "must be between 1 and 3600, got 0",
             "3601" => "must be between 1 and 3600, got 3601"]),
        setting!("email.smtp_ca_file": null, ["/etc/ca.pem" => "/etc/ca.pem", " " => null], []),
        setting!("email.smtp_username": null, ["u" => "u"], []),
        setting!("email.smtp_password": null, ["hunter2" => "hunter2", "" => ""], []),
        setting!("email.ses_region": "eu-west-1", ["us-east-1" => "us-east-1"], []),
        setting!("email.ses_profile": null, ["prod" => "prod"], []),
        // Set only in pairs: `ses_credential_pairing`.
        setting!("email.ses_access_key_id": null, [], []),
        setting!("email.ses_secret_access_key": null, [], []),
        setting!("email.ses_endpoint_url": null, [" http://127.0.0.1:4566 " => "http://127.0.0.1:4566"],
            ["ftp://x" => "URL scheme must be \"http\" or \"https\", got \"ftp://x\""]),
        setting!("email.log_bodies": false, ["on" => true], ["2" => BOOL]),
        setting!("email.queue_capacity": 1000, ["1" => 1, "1000000" => 1_000_000],
            ["0" => "must be between 1 and 1000000, got 0",
             "1000001" => "must be between 1 and 1000000, got 1000001"]),
        setting!("email.max_concurrent_sends": 4, ["1" => 1, "1024" => 1024],
            ["0" => "must be between 1 and 1024, got 0",
             "1025" => "must be between 1 and 1024, got 1025"]),
        setting!("email.cooldown_seconds": 60, ["0" => 0, "86400" => 86_400],
            ["-1" => "must be between 0 and 86400, got -1",
             "86401" => "must be between 0 and 86400, got 86401"]),
        setting!("sms.backend": "null", ["sns" => "sns", "twilio" => "twilio"],
            ["aws" => "must be one of \"null\", \"sns\", \"twilio\", got \"aws\""]),
        setting!("sms.from_number": null, ["+15550001" => "+15550001"], []),
        setting!("sms.sns_region": "eu-west-1", ["us-east-1" => "us-east-1"], []),
        setting!("sms.twilio_account_sid": null, ["AC1" => "AC1"], []),
        setting!("sms.twilio_auth_token": null, ["tok" => "tok"], []),
        setting!("sms.log_bodies": false, ["1" => true], ["2" => BOOL]),
        setting!("sms.sns_endpoint_url": null, ["http://127.0.0.1:4566" => "http://127.0.0.1:4566/"],
            ["localhost" => "must be an absolute http(s) URL \
                (relative URL without a base), got \"localhost\""]),
        setting!("sms.twilio_base_url": "https://api.twilio.com",
            [" HTTP://LocalHost:8080/twilio " => "http://localhost:8080/twilio"],
            ["ftp://x" => "URL scheme must be \"http\" or \"https\", got \"ftp://x\""]),
        setting!("sms.timeout_seconds": 10, ["1" => 1, "300" => 300],
            ["0" => "must be between 1 and 300, got 0", "301" => "must be between 1 and 300, got 301"]),
        setting!("oauth.google_client_id": null, ["1234.apps" => "1234.apps"], []),
        setting!("oauth.google_client_secret": null, ["s3cr3t" => "s3cr3t"], []),
        setting!("oauth.google_redirect_uri": null, ["HTTPS://X.com" => "https://x.com/"],
            ["/cb" => "must be an absolute http(s) URL (relative URL without a base), got \"/cb\"",
             "" => "must be an absolute http(s) URL (relative URL without a base), got \"\""]),
        setting!("oauth.auto_link_verified_emails": false, ["yes" => true], ["2" => BOOL]),
        setting!("oauth.enforce_mfa_on_oauth_signin": false, ["yes" => true], ["2" => BOOL]),
        // No bounds on the OAuth lifetimes (as in 0.9.3).
        setting!("oauth.state_ttl_seconds": 300, ["-5" => (-5), "0" => 0],
            ["x" => "expected an integer, got \"x\""]),
        setting!("oauth.completion_ttl_seconds": 30, ["1_0" => 10],
            ["1.5" => "expected an integer, got \"1.5\""]),
        // Argon2: memory ≥ 8 KiB per lane (4 lanes by default), lanes ≤ 2^24 − 1.
        setting!("password_hash_memory_kib": 65_536, ["32" => 32, "19456" => 19_456],
            ["31" => "must be at least 32, got 31", "7" => "must be at least 8, got 7",
             "4294967296" => "is out of range, got 4294967296"]),
        setting!("password_hash_iterations": 3, ["1" => 1], ["0" => "must be at least 1, got 0"]),
        setting!("password_hash_parallelism": 4, ["1" => 1, "8192" => 8192],
            ["0" => "must be between 1 and 16777215, got 0",
             "16777216" => "must be between 1 and 16777215, got 16777216"]),
        setting!("password_hash_concurrency": null, ["2" => 2],
            ["0" => "must be at least 1, got 0", "null" => "expected an integer, got \"null\""]),
        setting!("password_hash_nice": 10, ["0" => 0, "19" => 19],
            ["20" => "must be between 0 and 19, got 20", "-1" => "must be between 0 and 19, got -1"]),
        setting!("password_hash_max_wait_ms": 10_000, ["1" => 1, "3600000" => 3_600_000],
            ["0" => "must be between 1 and 3600000, got 0",
             "3600001" => "must be between 1 and 3600000, got 3600001"]),
        setting!("max_body_bytes": 65_536, ["1024" => 1024, "1048576" => 1_048_576],
            ["1023" => "must be at least 1024, got 1023"]),
    ];
    // Every per-route limit is an optional string.
    for (_, field) in RATE_LIMIT_ROUTES {
        all.push(Setting {
            path: field,
            default: Value::Null,
            accepted: vec![
                ("5/minute;100/hour", json!("5/minute;100/hour")),
                ("", json!("")),
            ],
            refused: Vec::new(),
        });
    }
    all
}

/// The TOML document setting one field (a section's field in its table) to a string.
fn toml_setting(path: &str, text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap();
    match path.split_once('.') {
        Some((section, field)) => format!("[{section}]\n{field} = {quoted}\n"),
        None => format!("{path} = {quoted}\n"),
    }
}

#[test]
fn every_setting_has_its_default_accepted_forms_and_refusals() {
    let table = every_setting();
    let defaults = settings_of(&RegStackConfig::default());
    let listed: Vec<&str> = table.iter().map(|s| s.path).collect();
    let declared: Vec<&str> = defaults.keys().map(String::as_str).collect();
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, declared,
        "the table lists every declared setting once"
    );

    for Setting {
        path,
        default,
        accepted,
        refused,
    } in table
    {
        let env = env_name(path);
        assert_eq!(defaults[path], default, "default of {path}");
        for (text, want) in accepted {
            let from_env = settings_of(&load_ok(&[(&env, text)]));
            assert_eq!(from_env[path], want, "{env}={text:?}");
            let toml = toml_setting(path, text);
            let from_toml =
                RegStackConfig::from_toml_str(&toml).unwrap_or_else(|e| panic!("{toml}: {e}"));
            assert_eq!(settings_of(&from_toml)[path], want, "{toml}");
        }
        for (text, why) in refused {
            let want = format!("invalid value for `{path}` ({env}): {why}");
            assert_eq!(load_err(&[(&env, text)]), want, "{env}={text:?}");
            let toml = toml_setting(path, text);
            let err = RegStackConfig::from_toml_str(&toml).unwrap_err();
            assert_eq!(err.to_string(), want, "{toml}");
            assert_eq!(err.field(), Some(path));
        }
    }
}

/// Sets one field of a default configuration: `(field path, setter)`.
macro_rules! set {
    ($($field:ident).+ = $value:expr) => {
        (
            stringify!($($field).+).replace(' ', ""),
            Box::new(|c: &mut RegStackConfig| c.$($field).+ = $value)
                as Box<dyn Fn(&mut RegStackConfig)>,
        )
    };
}

#[test]
fn validate_refuses_by_hand_what_loading_refuses() {
    // (field set by hand, the same value as text, the reason both give)
    let cases = [
        (
            set!(jwt_ttl_seconds = 59),
            "59",
            "must be between 60 and 2592000, got 59",
        ),
        (
            set!(jwt_ttl_seconds = 2_592_001),
            "2592001",
            "must be between 60 and 2592000, got 2592001",
        ),
        (
            set!(verification_token_ttl_seconds = 59),
            "59",
            "must be at least 60, got 59",
        ),
        (
            set!(password_reset_token_ttl_seconds = 0),
            "0",
            "must be at least 60, got 0",
        ),
        (
            set!(email_change_token_ttl_seconds = -1),
            "-1",
            "must be at least 60, got -1",
        ),
        (
            set!(sms_code_length = 3),
            "3",
            "must be between 4 and 10, got 3",
        ),
        (
            set!(sms_code_length = 11),
            "11",
            "must be between 4 and 10, got 11",
        ),
        (
            set!(sms_code_ttl_seconds = 29),
            "29",
            "must be between 30 and 1800, got 29",
        ),
        (
            set!(sms_code_ttl_seconds = 1801),
            "1801",
            "must be between 30 and 1800, got 1801",
        ),
        (
            set!(sms_code_max_attempts = 0),
            "0",
            "must be between 1 and 20, got 0",
        ),
        (
            set!(sms_code_max_attempts = 21),
            "21",
            "must be between 1 and 20, got 21",
        ),
        (
            set!(mfa_pending_token_ttl_seconds = 1801),
            "1801",
            "must be between 60 and 1800, got 1801",
        ),
        (
            set!(login_lockout_threshold = 0),
            "0",
            "must be at least 1, got 0",
        ),
        (
            set!(login_lockout_window_seconds = 9),
            "9",
            "must be at least 10, got 9",
        ),
        (
            set!(password_hash_iterations = 0),
            "0",
            "must be at least 1, got 0",
        ),
        (
            set!(password_hash_parallelism = 0),
            "0",
            "must be between 1 and 16777215, got 0",
        ),
        (
            set!(password_hash_memory_kib = 31),
            "31",
            "must be at least 32, got 31",
        ),
        (
            set!(password_hash_concurrency = Some(0)),
            "0",
            "must be at least 1, got 0",
        ),
        (
            set!(password_hash_nice = 20),
            "20",
            "must be between 0 and 19, got 20",
        ),
        (
            set!(password_hash_max_wait_ms = 0),
            "0",
            "must be between 1 and 3600000, got 0",
        ),
        (
            set!(max_body_bytes = 1023),
            "1023",
            "must be at least 1024, got 1023",
        ),
        (
            set!(email.smtp_timeout_seconds = 0),
            "0",
            "must be between 1 and 3600, got 0",
        ),
        (
            set!(email.queue_capacity = 1_000_001),
            "1000001",
            "must be between 1 and 1000000, got 1000001",
        ),
        (
            set!(email.max_concurrent_sends = 0),
            "0",
            "must be between 1 and 1024, got 0",
        ),
        (
            set!(email.cooldown_seconds = 86_401),
            "86401",
            "must be between 0 and 86400, got 86401",
        ),
        (
            set!(sms.timeout_seconds = 301),
            "301",
            "must be between 1 and 300, got 301",
        ),
        (
            set!(transport = "cookie".into()),
            "cookie",
            "must be \"bearer\", got \"cookie\"",
        ),
        (
            set!(base_url = "localhost:8000".into()),
            "localhost:8000",
            "URL scheme must be \"http\" or \"https\", got \"localhost:8000\"",
        ),
        (
            set!(email.from_address = "nobody".into()),
            "nobody",
            "is not a valid email address (it must have an @-sign), got \"nobody\"",
        ),
        (
            set!(email.ses_endpoint_url = Some("ftp://x".into())),
            "ftp://x",
            "URL scheme must be \"http\" or \"https\", got \"ftp://x\"",
        ),
        (
            set!(sms.sns_endpoint_url = Some("localhost".into())),
            "localhost",
            "must be an absolute http(s) URL (relative URL without a base), got \"localhost\"",
        ),
        (
            set!(sms.twilio_base_url = "ftp://x".into()),
            "ftp://x",
            "URL scheme must be \"http\" or \"https\", got \"ftp://x\"",
        ),
        (
            set!(oauth.google_redirect_uri = Some("/cb".into())),
            "/cb",
            "must be an absolute http(s) URL (relative URL without a base), got \"/cb\"",
        ),
    ];
    for ((path, set), text, why) in cases {
        let want = format!("invalid value for `{path}` ({}): {why}", env_name(&path));
        let mut by_hand = RegStackConfig::default();
        set(&mut by_hand);
        let err = by_hand.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
        assert_eq!(err.to_string(), want);
        assert_eq!(load_err(&[(&env_name(&path), text)]), want);
    }
}

#[test]
fn validate_accepts_what_loading_produces_and_serializing_masks_secrets() {
    let loaded = load_ok(&[
        ("REGSTACK_BASE_URL", "HTTPS://Ex.com/app"),
        ("REGSTACK_EMAIL__SES_ACCESS_KEY_ID", "AKIA"),
        ("REGSTACK_EMAIL__SES_SECRET_ACCESS_KEY", "s3cr3t"),
        (
            "REGSTACK_TRUSTED_PROXIES",
            r#"["::ffff:10.0.0.0/104", "10.0.0.1"]"#,
        ),
        ("REGSTACK_EXTRA_TEMPLATE_DIRS", r#"["", "t"]"#),
        ("REGSTACK_MAX_BODY_BYTES", &usize::MAX.to_string()),
    ]);
    loaded.validate().unwrap();
    let serialized = serde_json::to_string(&loaded).unwrap();
    assert!(
        !serialized.contains("s3cr3t") && !serialized.contains("AKIA"),
        "{serialized}"
    );
}

// ---------------------------------------------------------------- unknown keys

#[test]
fn unknown_keys_are_named_in_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "regstack.toml",
        "login_max_per_minute = 5\ncookie_domain = \"x\"\napp_nmae = \"typo\"\n\
         [email]\nsmtp_hots = \"h\"\n[unknown_table]\ny = 2\n",
    );
    write(
        dir.path(),
        "regstack.secrets.env",
        "REGSTACK_JWT_SECRET abc=def\n",
    );
    // Unknown keys load (0.9.3 ignores them) ...
    let env = [
        ("REGSTACK_CONFIG", "regstack.toml"),
        ("REGSTACK_SMS__NOPE", "1"),
        ("REGSTACK_JWT_TTL_SECONDS__X", "5"),
    ];
    let opts = LoadOptions {
        env: Some(pairs(&env)),
        ..LoadOptions::default()
    };
    assert_eq!(
        load_in(opts, dir.path()).unwrap(),
        RegStackConfig::default()
    );
    // ... and are each named once, by field path; a key that cannot be a name is not repeated.
    let tree = serde_json::json!({
        "app_nmae": "typo",
        "login_max_per_minute": "5",
        "config": "regstack.toml",
        "jwt_ttl_seconds__x": "5",
        "unknown_table__y": "2",
        "jwt_secret abc": "def",
        "email": {"smtp_hots": "h", "backend": "smtp"},
        "sms": {"nope": "1"},
        "app_name": "ok",
    });
    let Value::Object(tree) = tree else {
        unreachable!()
    };
    let Value::Object(known) = serde_json::to_value(RegStackConfig::default()).unwrap() else {
        unreachable!()
    };
    let mut unknown = unknown_keys(&tree, &known);
    unknown.sort();
    assert_eq!(
        unknown,
        [
            "(a key that is not a setting name)",
            "app_nmae",
            "email.smtp_hots",
            "jwt_ttl_seconds.x",
            "login_max_per_minute",
            "sms.nope",
            "unknown_table.y",
        ]
    );
}

#[test]
fn argon2_settings_load_together() {
    let c = load_ok(&[
        ("REGSTACK_PASSWORD_HASH_MEMORY_KIB", "19456"),
        ("REGSTACK_PASSWORD_HASH_ITERATIONS", "2"),
        ("REGSTACK_PASSWORD_HASH_PARALLELISM", "1"),
        ("REGSTACK_PASSWORD_HASH_CONCURRENCY", "2"),
    ]);
    assert_eq!(
        (
            c.password_hash_memory_kib,
            c.password_hash_iterations,
            c.password_hash_parallelism
        ),
        (19_456, 2, 1)
    );
    assert_eq!(c.password_hash_concurrency, Some(2));
    // Memory is bounded by 8 KiB per lane.
    load_ok(&[
        ("REGSTACK_PASSWORD_HASH_PARALLELISM", "8192"),
        ("REGSTACK_PASSWORD_HASH_MEMORY_KIB", "65536"),
    ]);
    assert!(
        load_err(&[
            ("REGSTACK_PASSWORD_HASH_PARALLELISM", "8"),
            ("REGSTACK_PASSWORD_HASH_MEMORY_KIB", "63"),
        ])
        .ends_with("must be at least 64, got 63")
    );
    let c = load_in(
        LoadOptions {
            env: Some(pairs(&[("REGSTACK_PASSWORD_HASH_CONCURRENCY", "3")])),
            overrides: pairs(&[("password_hash_concurrency", "null")]),
            ..LoadOptions::default()
        },
        tempfile::tempdir().unwrap().path(),
    );
    // Text `null` is not JSON null: it is a bad integer.
    assert!(
        c.unwrap_err()
            .to_string()
            .contains("`password_hash_concurrency`")
    );
}

// ---------------------------------------------------------------- URLs and addresses

#[test]
fn base_url_is_validated_and_normalised() {
    for (input, want) in [
        ("HTTP://Example.COM:80", "http://example.com/"),
        (
            "https://Example.COM:443/A/b/?q=1#frag",
            "https://example.com/A/b/?q=1#frag",
        ),
        (
            "https://user:pw@ex.com:8443",
            "https://user:pw@ex.com:8443/",
        ),
        (" http://ex.com ", "http://ex.com/"),
        ("http://ex.com/a b", "http://ex.com/a%20b"),
        ("http://bücher.de", "http://xn--bcher-kva.de/"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/"),
        ("http://[::1]:8000", "http://[::1]:8000/"),
        ("http://ex.com/a/../b", "http://ex.com/b"),
        ("http://ex.com:8000/", "http://ex.com:8000/"),
        ("http:ex.com", "http://ex.com/"),
    ] {
        assert_eq!(
            load_ok(&[("REGSTACK_BASE_URL", input)]).base_url,
            want,
            "{input}"
        );
    }
    for bad in [
        "ftp://ex.com",
        "ex.com",
        "http://",
        "",
        "http://ex.com:99999",
        "mailto:a@b.com",
    ] {
        let err = load_err(&[("REGSTACK_BASE_URL", bad)]);
        assert!(
            err.starts_with("invalid value for `base_url` (REGSTACK_BASE_URL): "),
            "{bad}: {err}"
        );
    }
    let long = format!("http://ex.com/{}", "a".repeat(2070));
    assert_eq!(
        load_err(&[("REGSTACK_BASE_URL", &long)]),
        "invalid value for `base_url` (REGSTACK_BASE_URL): must be at most 2083 characters, got 2084"
    );
    let hand_built = RegStackConfig {
        base_url: "localhost:8000".into(),
        ..RegStackConfig::default()
    };
    assert!(
        hand_built
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`base_url`")
    );
}

#[test]
fn from_address_is_validated() {
    for (input, want) in [
        ("a@b.com", "a@b.com"),
        ("A@B.COM", "A@b.com"),
        ("  a@b.com  ", "a@b.com"),
        ("Foo <a@b.com>", "a@b.com"),
        ("a@b.c", "a@b.c"),
    ] {
        assert_eq!(
            load_ok(&[("REGSTACK_EMAIL__FROM_ADDRESS", input)])
                .email
                .from_address,
            want,
            "{input}"
        );
    }
    for bad in [
        "ab.com",
        "a@@b.com",
        "@b.com",
        "a@localhost",
        "a@b..com",
        "a b@c.com",
        "",
    ] {
        let err = load_err(&[("REGSTACK_EMAIL__FROM_ADDRESS", bad)]);
        assert!(
            err.starts_with("invalid value for `email.from_address` (REGSTACK_EMAIL__FROM_ADDRESS): is not a valid email address"),
            "{bad}: {err}"
        );
    }
    let mut hand_built = RegStackConfig::default();
    hand_built.email.from_address = "nobody".into();
    assert!(
        hand_built
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`email.from_address`")
    );
}

#[test]
fn ses_credential_pairing() {
    let ok = load_ok(&[
        ("REGSTACK_EMAIL__SES_ACCESS_KEY_ID", "AKIA"),
        ("REGSTACK_EMAIL__SES_SECRET_ACCESS_KEY", "s3cr3t"),
    ]);
    assert_eq!(
        ok.email
            .ses_access_key_id
            .as_ref()
            .map(SecretString::expose),
        Some("AKIA")
    );
    load_ok(&[("REGSTACK_EMAIL__SES_PROFILE", "prod")]);

    assert_eq!(
        load_err(&[("REGSTACK_EMAIL__SES_ACCESS_KEY_ID", "AKIA")]),
        "invalid value for `email.ses_secret_access_key` (REGSTACK_EMAIL__SES_SECRET_ACCESS_KEY): must be set \
         together with `email.ses_access_key_id` (or both left unset to use the default AWS credential chain)"
    );
    // An empty value counts as set (as in 0.9.3).
    assert!(
        load_err(&[("REGSTACK_EMAIL__SES_SECRET_ACCESS_KEY", "")])
            .contains("`email.ses_access_key_id`")
    );
    assert_eq!(
        load_err(&[
            ("REGSTACK_EMAIL__SES_ACCESS_KEY_ID", "a"),
            ("REGSTACK_EMAIL__SES_SECRET_ACCESS_KEY", "b"),
            ("REGSTACK_EMAIL__SES_PROFILE", "p"),
        ]),
        "invalid value for `email.ses_profile` (REGSTACK_EMAIL__SES_PROFILE): must not be set together with \
         explicit `email.ses_access_key_id`/`email.ses_secret_access_key`; pick one"
    );
}

// ---------------------------------------------------------------- secrets

#[test]
fn secrets_file_parsing_rules() {
    let text = "\u{feff}# comment\n\
                \n\
                REGSTACK_A=plain\n\
                \x20 REGSTACK_B  =  spaced value  \r\n\
                no equals sign here\n\
                REGSTACK_C=x=y==z\n\
                REGSTACK_D=\"double quoted\"\n\
                REGSTACK_E='single quoted'\n\
                REGSTACK_F=\"mismatched'\n\
                REGSTACK_G=\"\n\
                REGSTACK_H=\n\
                REGSTACK_I=value # not a comment\n\
                export REGSTACK_J=kept verbatim\n\
                REGSTACK_K=\" inner spaces \"\n\
                REGSTACK_L=\"\"quoted twice\"\"\n\
                \t# indented comment\n\
                =no key\n\
                REGSTACK_A=second wins later\r\
                REGSTACK_M=\\n not an escape";
    let parsed = parse_secrets(text);
    let want = [
        ("REGSTACK_A", "plain"),
        ("REGSTACK_B", "spaced value"),
        ("REGSTACK_C", "x=y==z"),
        ("REGSTACK_D", "double quoted"),
        ("REGSTACK_E", "single quoted"),
        ("REGSTACK_F", "\"mismatched'"),
        ("REGSTACK_G", ""),
        ("REGSTACK_H", ""),
        ("REGSTACK_I", "value # not a comment"),
        ("export REGSTACK_J", "kept verbatim"),
        ("REGSTACK_K", " inner spaces "),
        ("REGSTACK_L", "\"quoted twice\""),
        ("", "no key"),
        ("REGSTACK_A", "second wins later"),
        ("REGSTACK_M", "\\n not an escape"),
    ];
    assert_eq!(parsed, pairs(&want));
}

#[test]
fn secrets_file_values_feed_settings() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "regstack.secrets.env",
        "REGSTACK_JWT_SECRET='9k3aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'\n\
         REGSTACK_DATABASE_URL=sqlite+aiosqlite:///./myapp.sqlite\n\
         REGSTACK_EMAIL__SMTP_PASSWORD=hunter2\n\
         REGSTACK_EMAIL__SMTP_PASSWORD=hunter3\n",
    );
    let c = load_in(
        LoadOptions {
            env: Some(Vec::new()),
            ..LoadOptions::default()
        },
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        c.jwt_secret.expose(),
        "9k3aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    );
    assert_eq!(
        c.database_url.expose(),
        "sqlite+aiosqlite:///./myapp.sqlite"
    );
    assert_eq!(
        c.email.smtp_password,
        Some(SecretString::from("hunter3")),
        "the last line wins"
    );
}

#[test]
fn secret_values_are_never_printed() {
    let s = SecretString::from("hunter2");
    assert_eq!(format!("{s}"), "**********");
    assert_eq!(format!("{s:?}"), "**********");
    assert_eq!(s.expose(), "hunter2");
    assert_eq!(s, SecretString::new(String::from("hunter2")));
    assert!(SecretString::default().is_empty());

    let c = load_ok(&[
        ("REGSTACK_JWT_SECRET", "top-secret-value"),
        ("REGSTACK_EMAIL__SMTP_PASSWORD", "hunter2"),
        ("REGSTACK_DATABASE_URL", "postgresql://u:pw@h/db"),
    ]);
    let debug = format!("{c:?}");
    for secret in ["top-secret-value", "hunter2", "u:pw@h"] {
        assert!(!debug.contains(secret), "{secret} leaked");
    }
    let err = load_err(&[("REGSTACK_EMAIL", r#"{"smtp_password": 1234567}"#)]);
    assert_eq!(
        err,
        "invalid value for `email.smtp_password` (REGSTACK_EMAIL__SMTP_PASSWORD): expected a string, got a number"
    );
}

// ---------------------------------------------------------------- trusted proxies

fn net(text: &str) -> IpNetwork {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"))
}

#[test]
fn ip_networks_parse_and_print() {
    for (text, printed) in [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("127.0.0.1", "127.0.0.1/32"),
        ("192.0.2.7/32", "192.0.2.7/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("::1", "::1/128"),
        ("::1/128", "::1/128"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("fd00::/8", "fd00::/8"),
        ("::/0", "::/0"),
        ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"),
    ] {
        assert_eq!(net(text).to_string(), printed, "{text}");
    }
    let n = net("2001:db8::/32");
    assert_eq!(n.addr(), "2001:db8::".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(n.prefix_len(), 32);

    let syntax = |text: &str| {
        format!(
            "expected an IP address or a CIDR block such as \"10.0.0.0/8\", \"127.0.0.1\" or \
             \"::1/128\", got {text:?}"
        )
    };
    for bad in [
        "",
        " ",
        "localhost",
        "10.0.0",
        "10.0.0.0/",
        "/8",
        "10.0.0.0/8/8",
        "10.0.0.0/+8",
        "10.0.0.0/-1",
        "10.0.0.0/ 8",
        " 10.0.0.0/8",
        "10.0.0.0/8 ",
        "10.0.0.0/1000",
        "10.0.0.0/256",
        "10.0.0.0/x",
        "[::1]",
        "[::1]/128",
        "127.0.0.1:8080",
        "fe80::1%eth0",
        "300.0.0.1",
    ] {
        assert_eq!(bad.parse::<IpNetwork>(), Err(syntax(bad)), "{bad:?}");
    }
    assert_eq!(
        "10.0.0.0/33".parse::<IpNetwork>(),
        Err("a prefix of /33 is longer than the 32 bits of 10.0.0.0".to_owned())
    );
    assert_eq!(
        "::/129".parse::<IpNetwork>(),
        Err("a prefix of /129 is longer than the 128 bits of ::".to_owned())
    );
    assert_eq!(
        "10.0.0.1/8".parse::<IpNetwork>(),
        Err(
            "10.0.0.1/8 has address bits set to the right of the prefix (the network is 10.0.0.0/8)"
                .to_owned()
        )
    );
    assert!("2001:db8::1/64".parse::<IpNetwork>().is_err());
    assert!(IpNetwork::new("10.0.0.1".parse().unwrap(), 32).is_ok());
    assert!(IpNetwork::new("10.0.0.1".parse().unwrap(), 31).is_err());
}

#[test]
fn ip_networks_contain_their_addresses_only() {
    let ip = |text: &str| text.parse::<std::net::IpAddr>().unwrap();
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "10.0.0.0/8",
            &["10.0.0.0", "10.255.255.255", "10.1.2.3", "::ffff:10.9.9.9"],
            &["11.0.0.0", "9.255.255.255", "::a00:1", "2001:db8::1"],
        ),
        (
            "127.0.0.1",
            &["127.0.0.1", "::ffff:127.0.0.1"],
            &["127.0.0.2", "::1"],
        ),
        (
            "192.168.1.128/25",
            &["192.168.1.128", "192.168.1.255"],
            &["192.168.1.127", "192.168.2.128"],
        ),
        ("0.0.0.0/0", &["1.2.3.4", "255.255.255.255"], &["::1"]),
        ("::1/128", &["::1"], &["::2", "127.0.0.1", "::"]),
        (
            "2001:db8::/32",
            &["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
            &["2001:db9::", "2001:db7:ffff::1", "10.0.0.1"],
        ),
        (
            "::ffff:10.0.0.0/104",
            &["10.0.0.1", "::ffff:10.200.0.1"],
            &["11.0.0.1", "2001:db8::1"],
        ),
        ("::/0", &["::1", "2001:db8::1", "10.0.0.1"], &[]),
    ];
    for (network, inside, outside) in cases {
        let n = net(network);
        for a in *inside {
            assert!(n.contains(ip(a)), "{a} in {network}");
        }
        for a in *outside {
            assert!(!n.contains(ip(a)), "{a} not in {network}");
        }
    }
}

#[test]
fn trusted_proxies_load_from_toml_and_env() {
    let c = RegStackConfig::from_toml_str(
        "behind_proxy = true\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"::1/128\"]\n",
    )
    .unwrap();
    assert!(c.behind_proxy);
    assert_eq!(
        c.trusted_proxies,
        [net("10.0.0.0/8"), net("127.0.0.1/32"), net("::1/128")]
    );
    let c = RegStackConfig::from_toml_str("trusted_proxies = []\n").unwrap();
    assert!(c.trusted_proxies.is_empty());

    let c = load_ok(&[(
        "REGSTACK_TRUSTED_PROXIES",
        r#" ["192.0.2.0/24", "2001:db8::/48"] "#,
    )]);
    assert_eq!(
        c.trusted_proxies,
        [net("192.0.2.0/24"), net("2001:db8::/48")]
    );
    let c = load_in(
        LoadOptions {
            env: Some(pairs(&[("REGSTACK_TRUSTED_PROXIES", r#"["10.0.0.1"]"#)])),
            overrides: pairs(&[("trusted_proxies", r#"["10.0.0.2", "10.0.0.3"]"#)]),
            ..LoadOptions::default()
        },
        tempfile::tempdir().unwrap().path(),
    )
    .unwrap();
    assert_eq!(c.trusted_proxies, [net("10.0.0.2"), net("10.0.0.3")]);

    // An entry that does not parse is refused, naming the field and the entry.
    assert_eq!(
        load_err(&[(
            "REGSTACK_TRUSTED_PROXIES",
            r#"["10.0.0.0/8", "proxy.internal"]"#
        )]),
        "invalid value for `trusted_proxies` (REGSTACK_TRUSTED_PROXIES): expected an IP address \
         or a CIDR block such as \"10.0.0.0/8\", \"127.0.0.1\" or \"::1/128\", got \"proxy.internal\""
    );
    assert_eq!(
        RegStackConfig::from_toml_str("trusted_proxies = [\"10.0.0.1/8\"]\n")
            .unwrap_err()
            .to_string(),
        "invalid value for `trusted_proxies` (REGSTACK_TRUSTED_PROXIES): 10.0.0.1/8 has address \
         bits set to the right of the prefix (the network is 10.0.0.0/8)"
    );
    assert!(
        RegStackConfig::from_toml_str("trusted_proxies = [\"::1/200\"]\n")
            .unwrap_err()
            .to_string()
            .contains("`trusted_proxies`")
    );
    assert_eq!(
        load_err(&[("REGSTACK_TRUSTED_PROXIES", "[8]")]),
        "invalid value for `trusted_proxies` (REGSTACK_TRUSTED_PROXIES): expected a JSON array \
         of addresses, got an element 8"
    );
    assert!(
        load_err(&[("REGSTACK_TRUSTED_PROXIES", "\"10.0.0.1\"")])
            .contains("expected a JSON array of addresses, got a string")
    );
    // Plain text is not a list.
    let err = load_env(&[("REGSTACK_TRUSTED_PROXIES", "10.0.0.1")]).unwrap_err();
    assert!(matches!(err, ConfigError::Json { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "invalid value for `trusted_proxies` (REGSTACK_TRUSTED_PROXIES): not valid JSON"
        ),
        "{err}"
    );
}

#[test]
fn behind_proxy_without_trusted_proxies_refuses_to_start() {
    let message = "cannot start with `trusted_proxies` (REGSTACK_TRUSTED_PROXIES): must list the \
                   reverse proxies (addresses or CIDR blocks, e.g. [\"127.0.0.1\"]) whose \
                   `X-Forwarded-For` is trusted when `behind_proxy` is true";
    let mut c = RegStackConfig {
        jwt_secret: "k".repeat(40).into(),
        behind_proxy: true,
        ..RegStackConfig::default()
    };
    let err = c.check_startup().unwrap_err();
    assert!(matches!(err, ConfigError::Startup { .. }), "{err:?}");
    assert_eq!(err.field(), Some("trusted_proxies"));
    assert_eq!(err.to_string(), message);
    c.trusted_proxies = vec![net("127.0.0.1")];
    c.check_startup().unwrap();
    // The list alone changes nothing and needs nothing.
    c.behind_proxy = false;
    c.check_startup().unwrap();
    c.trusted_proxies.clear();
    c.check_startup().unwrap();

    // The same from the sources: the file loads, start-up refuses it.
    let loaded = load_ok(&[
        ("REGSTACK_BEHIND_PROXY", "true"),
        ("REGSTACK_JWT_SECRET", &"k".repeat(40)),
    ]);
    assert_eq!(loaded.check_startup().unwrap_err().to_string(), message);
    let loaded = load_ok(&[
        ("REGSTACK_BEHIND_PROXY", "true"),
        ("REGSTACK_TRUSTED_PROXIES", "[]"),
        ("REGSTACK_JWT_SECRET", &"k".repeat(40)),
    ]);
    assert_eq!(loaded.check_startup().unwrap_err().to_string(), message);
}

// ---------------------------------------------------------------- startup checks

#[test]
fn startup_requires_a_long_jwt_secret() {
    let c = RegStackConfig::default();
    let err = c.check_startup().unwrap_err();
    assert!(matches!(err, ConfigError::Startup { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot start with `jwt_secret` (REGSTACK_JWT_SECRET): must be set"),
        "{err}"
    );

    let short = RegStackConfig {
        jwt_secret: "x".repeat(31).into(),
        ..RegStackConfig::default()
    };
    assert_eq!(
        short.check_startup().unwrap_err().to_string(),
        "cannot start with `jwt_secret` (REGSTACK_JWT_SECRET): must be at least 32 characters long, got 31"
    );
    // Characters, not bytes: 16 two-byte characters are too short.
    let multibyte = RegStackConfig {
        jwt_secret: "é".repeat(16).into(),
        ..RegStackConfig::default()
    };
    assert!(multibyte.check_startup().is_err());
    let ok = RegStackConfig {
        jwt_secret: "é".repeat(32).into(),
        ..RegStackConfig::default()
    };
    ok.check_startup().unwrap();
}

#[test]
fn startup_checks_backend_requirements() {
    let base = || RegStackConfig {
        jwt_secret: "k".repeat(40).into(),
        ..RegStackConfig::default()
    };
    let mut c = base();
    c.email.backend = EmailBackend::Smtp;
    assert_eq!(
        c.check_startup().unwrap_err().to_string(),
        "cannot start with `email.smtp_host` (REGSTACK_EMAIL__SMTP_HOST): is required when `email.backend` is \"smtp\""
    );
    c.email.smtp_host = Some(String::new());
    assert!(c.check_startup().is_err(), "an empty host is missing");
    c.email.smtp_host = Some("mail".into());
    c.check_startup().unwrap();

    let mut c = base();
    c.sms.backend = SmsBackend::Twilio;
    assert_eq!(
        c.check_startup().unwrap_err().to_string(),
        "cannot start with `sms.twilio_account_sid` (REGSTACK_SMS__TWILIO_ACCOUNT_SID): is required when `sms.backend` is \"twilio\""
    );
    c.sms.twilio_account_sid = Some("AC1".into());
    assert!(
        c.check_startup()
            .unwrap_err()
            .to_string()
            .contains("`sms.twilio_auth_token`")
    );
    c.sms.twilio_auth_token = Some("".into());
    assert!(
        c.check_startup()
            .unwrap_err()
            .to_string()
            .contains("`sms.twilio_auth_token`")
    );
    c.sms.twilio_auth_token = Some("tok".into());
    assert!(
        c.check_startup()
            .unwrap_err()
            .to_string()
            .contains("`sms.from_number`")
    );
    c.sms.from_number = Some("+15550001".into());
    c.check_startup().unwrap();

    // Other backends need nothing here; validation errors come first.
    let mut c = base();
    c.sms.backend = SmsBackend::Sns;
    c.email.backend = EmailBackend::Ses;
    c.check_startup().unwrap();
    c.jwt_ttl_seconds = 1;
    assert!(matches!(
        c.check_startup(),
        Err(ConfigError::Invalid { .. })
    ));
}

// ---------------------------------------------------------------- derived values

#[test]
fn prefixes_drop_trailing_slashes() {
    let c = RegStackConfig {
        api_prefix: "/api/".into(),
        ui_prefix: "/ui//".into(),
        static_prefix: "/".into(),
        base_url: "https://ex.com/app/".into(),
        ..RegStackConfig::default()
    };
    assert_eq!(c.api_prefix(), "/api");
    assert_eq!(c.ui_prefix(), "/ui");
    assert_eq!(c.static_prefix(), "");
    assert_eq!(c.base_url_trimmed(), "https://ex.com/app");
    assert_eq!(c.api_prefix, "/api/", "the field keeps the configured text");
}

#[test]
fn email_links_follow_the_resolution_rules() {
    let d = RegStackConfig::default();
    assert_eq!(d.verify_url("T"), "http://localhost:8000/verify?token=T");
    assert_eq!(
        d.password_reset_url("T"),
        "http://localhost:8000/reset-password?token=T"
    );
    assert_eq!(
        d.email_change_url("T"),
        "http://localhost:8000/confirm-email-change?token=T"
    );

    let ui = RegStackConfig {
        enable_ui_router: true,
        ..RegStackConfig::default()
    };
    assert_eq!(
        ui.verify_url("T"),
        "http://localhost:8000/account/verify?token=T"
    );
    assert_eq!(
        ui.password_reset_url("T"),
        "http://localhost:8000/account/reset-password?token=T"
    );
    assert_eq!(
        ui.email_change_url("T"),
        "http://localhost:8000/account/confirm-email-change?token=T"
    );

    let ui_slash = RegStackConfig {
        ui_prefix: "/me/".into(),
        ..ui.clone()
    };
    assert_eq!(
        ui_slash.verify_url("T"),
        "http://localhost:8000/me/verify?token=T"
    );

    // An explicit prefix (even empty) beats the UI default; trailing '/' removed.
    let explicit = RegStackConfig {
        email_link_prefix: Some("/my-app/".into()),
        ..ui.clone()
    };
    assert_eq!(
        explicit.verify_url("T"),
        "http://localhost:8000/my-app/verify?token=T"
    );
    let empty = RegStackConfig {
        email_link_prefix: Some(String::new()),
        ..ui.clone()
    };
    assert_eq!(
        empty.verify_url("T"),
        "http://localhost:8000/verify?token=T"
    );

    // Templates: literal replacement, every occurrence, nothing encoded,
    // other braces left alone; per kind.
    let templated = RegStackConfig {
        base_url: "https://app.example.com/".into(),
        email_link_prefix: Some("/ignored".into()),
        verify_url_template: Some("{base_url}/#/verify/{token}".into()),
        password_reset_url_template: Some(
            "https://auth.example.com/r?t={token}&again={token}&x={other}".into(),
        ),
        ..RegStackConfig::default()
    };
    assert_eq!(
        templated.verify_url("a b&c"),
        "https://app.example.com/#/verify/a b&c"
    );
    assert_eq!(
        templated.password_reset_url("T"),
        "https://auth.example.com/r?t=T&again=T&x={other}"
    );
    assert_eq!(
        templated.email_change_url("T"),
        "https://app.example.com/ignored/confirm-email-change?token=T"
    );
    let change = RegStackConfig {
        email_change_url_template: Some("{base_url}{base_url}/{TOKEN}/{token}".into()),
        ..RegStackConfig::default()
    };
    assert_eq!(
        change.email_change_url("t"),
        "http://localhost:8000http://localhost:8000/{TOKEN}/t"
    );

    // A base URL with a path keeps it.
    let pathy = load_ok(&[("REGSTACK_BASE_URL", "https://ex.com/app/")]);
    assert_eq!(pathy.verify_url("T"), "https://ex.com/app/verify?token=T");
}

#[test]
fn rate_limits_map_fields_to_router_paths() {
    let mut env = Vec::new();
    for (i, (_, field)) in RATE_LIMIT_ROUTES.iter().enumerate() {
        env.push((
            format!("REGSTACK_{}", field.to_uppercase()),
            format!("{}/minute", i + 1),
        ));
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let c = load_ok(&env_refs);
    let limits = c.rate_limits();
    assert_eq!(limits.len(), 15);
    let expected = [
        ("/login", "login_rate_limit"),
        ("/login/mfa-confirm", "login_mfa_confirm_rate_limit"),
        ("/register", "register_rate_limit"),
        ("/forgot-password", "forgot_password_rate_limit"),
        ("/reset-password", "reset_password_rate_limit"),
        ("/verify", "verify_rate_limit"),
        ("/resend-verification", "resend_verification_rate_limit"),
        ("/change-password", "change_password_rate_limit"),
        ("/change-email", "change_email_rate_limit"),
        ("/confirm-email-change", "confirm_email_change_rate_limit"),
        ("/account", "delete_account_rate_limit"),
        ("/oauth/exchange", "oauth_exchange_rate_limit"),
        ("/phone/start", "phone_start_rate_limit"),
        ("/phone/confirm", "phone_confirm_rate_limit"),
        ("/phone", "phone_disable_rate_limit"),
    ];
    for (i, ((path, field, limit), (want_path, want_field))) in
        limits.iter().zip(expected).enumerate()
    {
        assert_eq!((*path, *field), (want_path, want_field));
        assert_eq!(*limit, format!("{}/minute", i + 1));
    }

    let some = RegStackConfig {
        phone_disable_rate_limit: Some("3/hour".into()),
        login_rate_limit: Some("5/minute;20/hour".into()),
        ..RegStackConfig::default()
    };
    assert_eq!(
        some.rate_limits(),
        [
            ("/login", "login_rate_limit", "5/minute;20/hour"),
            ("/phone", "phone_disable_rate_limit", "3/hour")
        ]
    );
    assert_eq!(
        some.rate_limit("login_rate_limit"),
        Some("5/minute;20/hour")
    );
    assert_eq!(some.rate_limit("register_rate_limit"), None);
    assert_eq!(some.rate_limit("app_name"), None);
}

#[test]
fn env_name_of_a_field_path() {
    assert_eq!(env_name("jwt_secret"), "REGSTACK_JWT_SECRET");
    assert_eq!(
        env_name("email.smtp_password"),
        "REGSTACK_EMAIL__SMTP_PASSWORD"
    );
}

#[test]
fn sms_transport_additions() {
    let c = RegStackConfig::default();
    assert_eq!(c.sms.sns_endpoint_url, None);
    assert_eq!(c.sms.twilio_base_url, "https://api.twilio.com");
    assert_eq!(c.sms.timeout_seconds, 10);

    let c = load_ok(&[
        ("REGSTACK_SMS__SNS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        (
            "REGSTACK_SMS__TWILIO_BASE_URL",
            " HTTP://LocalHost:8080/twilio ",
        ),
        ("REGSTACK_SMS__TIMEOUT_SECONDS", "3"),
    ]);
    assert_eq!(
        c.sms.sns_endpoint_url.as_deref(),
        Some("http://127.0.0.1:4566/")
    );
    assert_eq!(c.sms.twilio_base_url, "http://localhost:8080/twilio");
    assert_eq!(c.sms.timeout_seconds, 3);

    assert_eq!(
        load_err(&[("REGSTACK_SMS__TIMEOUT_SECONDS", "0")]),
        "invalid value for `sms.timeout_seconds` (REGSTACK_SMS__TIMEOUT_SECONDS): must be between 1 and 300, got 0"
    );
    assert!(
        load_err(&[("REGSTACK_SMS__TWILIO_BASE_URL", "ftp://x")])
            .starts_with("invalid value for `sms.twilio_base_url`")
    );
    assert!(
        load_err(&[("REGSTACK_SMS", r#"{"twilio_base_url": null}"#)]).contains("must not be null")
    );

    let mut c = RegStackConfig::default();
    c.sms.sns_endpoint_url = Some("localhost".into());
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("`sms.sns_endpoint_url`")
    );
    let mut c = RegStackConfig::default();
    c.sms.timeout_seconds = 301;
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("`sms.timeout_seconds`")
    );
}

#[test]
fn rust_only_email_settings() {
    let c = load_ok(&[]);
    assert_eq!(c.email.smtp_tls, None);
    assert_eq!(c.email.smtp_tls_mode(), SmtpTls::Starttls);
    assert_eq!(c.email.smtp_timeout_seconds, 10);
    assert_eq!(c.email.smtp_ca_file, None);
    assert_eq!(c.email.ses_endpoint_url, None);

    let plain = load_ok(&[("REGSTACK_EMAIL__SMTP_STARTTLS", "false")]);
    assert_eq!(
        plain.email.smtp_tls_mode(),
        SmtpTls::None,
        "derived from 0.9.3's flag"
    );

    let c = load_ok(&[
        ("REGSTACK_EMAIL__SMTP_STARTTLS", "false"),
        ("REGSTACK_EMAIL__SMTP_TLS", "tls"),
        ("REGSTACK_EMAIL__SMTP_TIMEOUT_SECONDS", "3"),
        ("REGSTACK_EMAIL__SMTP_CA_FILE", "/etc/ca.pem"),
        (
            "REGSTACK_EMAIL__SES_ENDPOINT_URL",
            " http://127.0.0.1:4566 ",
        ),
    ]);
    assert_eq!(
        c.email.smtp_tls_mode(),
        SmtpTls::Tls,
        "an explicit smtp_tls wins"
    );
    assert_eq!(c.email.smtp_timeout_seconds, 3);
    assert_eq!(c.email.smtp_ca_file, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(
        c.email.ses_endpoint_url.as_deref(),
        Some("http://127.0.0.1:4566")
    );
    for mode in SmtpTls::ALL {
        assert_eq!(SmtpTls::parse(mode.as_str()), Some(mode));
    }

    assert!(load_err(&[("REGSTACK_EMAIL__SMTP_TLS", "ssl")]).contains("`email.smtp_tls`"));
    assert!(
        load_err(&[("REGSTACK_EMAIL__SMTP_TIMEOUT_SECONDS", "0")])
            .contains("`email.smtp_timeout_seconds`")
    );
    assert!(
        load_err(&[("REGSTACK_EMAIL__SES_ENDPOINT_URL", "ftp://x")])
            .contains("`email.ses_endpoint_url`")
    );
}
