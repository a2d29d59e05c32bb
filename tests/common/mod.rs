//! The integration-test harness, shared by every `tests/*.rs` binary (`mod common;`):
//!
//! - `stack.rs`: [`Stack`], a sandbox i'mport API and an echo app in-process and the real
//!   `verigate` binary in front, on 127.0.0.1 ephemeral ports; readiness by polling; the
//!   gateway's output scanned for seeded personal data on drop.
//! - `cfg.rs`: [`Cfg`], the typed configuration builder rendered to TOML, with the standard
//!   policies and routes.
//! - `client.rs`: [`GatewayClient`] (cloneable: `verify`, `post_json`, `get`, `admin_get`),
//!   [`raw_exchange`] over a bare socket, and [`verigate`] / [`verigate_command`], the one way
//!   to run the binary.
//! - `load.rs`: [`eventually`], the bounded poll every wait uses, and [`Load`], workers that
//!   keep requests going while a test reloads or upgrades the gateway.
//!
//! Each test binary uses only part of it, hence `dead_code` is allowed here.

#![allow(dead_code, unused_imports)]

mod cfg;
mod client;
mod load;
pub mod sessions;
mod stack;
pub mod webdriver;

use std::net::{SocketAddr, TcpListener};

pub use cfg::{
    Cfg, Gate, Policy, Route, Session, SessionPage, Signing, Store, single_use_route,
    standard_policies, standard_routes, v2_routes,
};
pub use client::{
    GatewayClient, KillOnDrop, alive, raw_exchange, raw_exchange_async, signal, text, verigate,
    verigate_bounded, verigate_command, wait_exit,
};
pub use load::{Load, eventually, eventually_every};
pub use stack::{
    Backends, Ports, Stack, assert_clean, personal_values, spawn_gateway_with, wait_listening,
};

/// A port nothing listens on right now (the probe's listener is closed again).
pub fn free_port() -> u16 {
    free_addr().port()
}

/// An address on 127.0.0.1 nothing listens on right now: a free port, or a dead backend.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// The birthday of someone who turns `years` on `today` (Seoul) plus `days` days.
pub fn birthday_years_ago(years: i16, days: i64) -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Seoul").unwrap())
        .date();
    let date = today
        .checked_sub(jiff::Span::new().years(years))
        .unwrap()
        .checked_add(jiff::Span::new().days(days))
        .unwrap();
    date.to_string()
}

pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `secs` seconds, for bounds written inline.
pub fn secs(secs: u64) -> std::time::Duration {
    std::time::Duration::from_secs(secs)
}
