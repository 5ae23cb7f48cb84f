//! The rules a flow cannot be called without, enforced by core itself (not only by which
//! routes a front end mounts): validated input types, the feature switches, the admin view,
//! and the switches whose parts are not built yet refusing to start.

use regstack::RegStackConfig;
use regstack::core::flows::RegisterInput;
use regstack::core::regstack::BuildError;
use regstack::core::{EmailAddress, Error, NewPassword, PasswordLength};
use regstack_e2e::{PASSWORD, TestApp, test_config};

#[tokio::test]
async fn switches_whose_parts_do_not_exist_refuse_to_start() {
    for (field, set) in [
        (
            "enable_sms_2fa",
            (|c| c.enable_sms_2fa = true) as fn(&mut RegStackConfig),
        ),
        ("enable_oauth", |c| c.enable_oauth = true),
        ("enable_ui_router", |c| c.enable_ui_router = true),
    ] {
        let mut config = RegStackConfig {
            database_url: "sqlite+aiosqlite:///:memory:".to_owned().into(),
            ..test_config()
        };
        set(&mut config);
        let err = regstack::from_config(config).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("`{field} = true`")) && text.contains("not implement"),
            "{field}: {text}"
        );
    }
    // The core builder says the same.
    let config = RegStackConfig {
        enable_oauth: true,
        ..test_config()
    };
    let built = regstack::core::RegStack::builder(config).build();
    assert!(
        matches!(
            built,
            Err(BuildError::NotImplemented {
                field: "enable_oauth",
                ..
            })
        ),
        "{built:?}"
    );
}

#[tokio::test]
async fn the_flows_enforce_their_switches() {
    let app = TestApp::start(|c| {
        c.enable_password_reset = false;
        c.enable_account_deletion = false;
    })
    .await;
    let email = EmailAddress::try_from("rule@example.com").unwrap();
    assert!(matches!(
        app.rs.forgot_password(email.clone()),
        Err(Error::PasswordResetDisabled)
    ));
    let new = NewPassword::try_from("a new password").unwrap();
    assert!(matches!(
        app.rs.reset_password("whatever", &new).await,
        Err(Error::PasswordResetDisabled)
    ));
    app.register_verified("rule@example.com", PASSWORD).await;
    let user = app.user_by_email("rule@example.com").await.unwrap();
    assert!(matches!(
        app.rs.delete_account(&user, PASSWORD).await,
        Err(Error::AccountDeletionDisabled)
    ));
    // Nothing was mailed for the refused reset.
    app.settle().await;
    assert!(
        app.mailer
            .messages()
            .iter()
            .all(|m| !m.subject.contains("Reset")),
    );
}

#[tokio::test]
async fn the_admin_view_needs_the_switch_and_a_superuser() {
    let app = TestApp::start(|_| {}).await;
    let token = app.signup_and_login("boss@example.com", PASSWORD).await;
    let auth = app.rs.authenticate(&token).await.unwrap();
    // Admin API off (the default).
    assert!(matches!(app.rs.admin(&auth), Err(Error::AdminDisabled)));

    let app = TestApp::start(|c| c.enable_admin_router = true).await;
    let token = app.signup_and_login("user@example.com", PASSWORD).await;
    let auth = app.rs.authenticate(&token).await.unwrap();
    assert!(matches!(app.rs.admin(&auth), Err(Error::NotSuperuser)));
    let user = app.user_by_email("user@example.com").await.unwrap();
    app.rs.grant_superuser(&user.id).await.unwrap();
    let auth = app.rs.authenticate(&token).await.unwrap();
    let admin = app.rs.admin(&auth).unwrap();
    assert_eq!(admin.by().id, user.id);
    assert_eq!(admin.stats().await.unwrap().superusers, 1);
}

#[tokio::test]
async fn input_types_carry_the_rules() {
    assert_eq!(
        NewPassword::try_from("short"),
        Err(PasswordLength::TooShort { min: 8 })
    );
    let app = TestApp::start(|_| {}).await;
    let registered = app
        .rs
        .register(RegisterInput {
            email: EmailAddress::try_from("Mixed@EXAMPLE.com").unwrap(),
            password: NewPassword::try_from(PASSWORD).unwrap(),
            full_name: None,
        })
        .await
        .unwrap();
    match registered {
        regstack::core::flows::Registered::Pending { email, .. } => {
            assert_eq!(email, "Mixed@example.com")
        }
        other => panic!("{other:?}"),
    }
}
