//! verigate: an edge gateway that performs i'mport (PortOne) identity verification in front of
//! an app.
//!
//! A request travels **route → extract → resolve (cache, then API) → judge (policy) → annotate
//! (headers) → forward**, and the modules follow that path; gated paths add **normalise → gate
//! → page → cookie**. The pure rooms ([`imp_uid`], [`extract`], [`identity`], [`policy`],
//! [`headers`], [`forwarded`], [`error`], [`path`], [`seal`], [`session`]) hold the logic and
//! take "now" as an argument; the I/O rooms ([`iamport`], [`resolver`], [`proxy`],
//! [`server`], [`sandbox`], [`echo`]) are thin.

pub mod access_log;
pub mod admin;
pub mod breaker;
pub mod config;
pub mod demo;
pub mod echo;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod headers;
pub mod iamport;
pub mod identity;
pub mod imp_uid;
pub mod metrics;
pub mod path;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod resolver;
pub mod sandbox;
pub mod seal;
pub mod server;
pub mod session;
pub mod signing;
pub mod warnings;
