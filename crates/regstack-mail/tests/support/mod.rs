//! Loopback peers for the transport tests: a small SMTP server (plain, STARTTLS, implicit TLS,
//! AUTH), a throw-away PKI, and a MIME reader for what the server received.

#![allow(dead_code)]

pub mod mime;
pub mod pki;
pub mod smtp_server;
