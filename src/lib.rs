//! verigate: an edge gateway that performs i'mport (PortOne) identity verification in front of
//! an app.
//!
//! A request travels **route → extract → resolve (cache, then API) → judge (policy) → annotate
//! (headers) → forward**, and the modules follow that path; gated paths add **normalise → gate
//! → page → cookie**. The pure rooms ([`route`], [`verify`], [`verification_id`], [`extract`],
//! [`identity`], [`policy`], [`headers`], [`forwarded`], [`error`], [`secret`], [`path`],
//! [`seal`], [`session`]) hold the logic and take "now" as an argument; the I/O rooms
//! ([`provider`] with one folder per API, [`resolve`], [`state`], [`proxy`], [`server`],
//! [`sandbox`], [`echo`]) are thin.

pub mod access_log;
pub mod admin;
pub mod config;
pub mod demo;
pub mod echo;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod headers;
pub mod identity;
pub mod imp_uid;
pub mod metrics;
pub mod path;
pub mod policy;
pub mod provider;
pub mod proxy;
pub mod reload;
pub mod resolve;
pub mod route;
pub mod sandbox;
pub mod seal;
pub mod secret;
pub mod server;
pub mod session;
pub mod signing;
pub mod state;
pub mod store;
pub mod verification_id;
pub mod verify;
pub mod warnings;

/// The old path of [`provider::breaker`] (tests and benches name `verigate::breaker`).
pub use provider::breaker;
