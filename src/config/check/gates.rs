//! [[gates]]: unique names, prefixes that `path::Prefix` accepts and that stay apart from each
//! other, from every callback route and from `/.verigate` (verigate's own paths), and the policy
//! each gate judges with. Gates need `[session]`: a gate without sessions could never pass.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::{Checker, is_token, place};
use crate::config::raw::{RawGate, S};
use crate::config::types::Route;
use crate::path::{Prefix, normalise};
use crate::policy::Policy;
use crate::route::Gate;
use crate::session::{RESERVED_PREFIX, is_reserved_path};

impl Checker<'_> {
    pub(super) fn gates(
        &mut self,
        raw: Vec<S<RawGate>>,
        have_session: bool,
        policies: &[Arc<Policy>],
        routes: &[Route],
    ) -> Vec<Gate> {
        if let (Some(first), false) = (raw.first(), have_session) {
            self.error(
                &first.span(),
                &first.span(),
                "[[gates]] needs a [session] table: a gated path is passed on a session cookie, \
                 sealed with `secrets` in [session]"
                    .to_string(),
            );
        }
        // Name → offset, and (prefix, gate name, offset) of the gates so far.
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut prefixes: Vec<(Prefix, String, usize)> = Vec::new();
        let mut gates = Vec::new();
        for gate in raw {
            let t = gate.span();
            let g = gate.into_inner();
            let name = self.gate_name(&g.name, &t, &mut names);
            let prefix = self.gate_prefix(&g, &name, &t, routes, &mut prefixes);
            let what = format!("`policy` in [[gates]] `{name}`");
            let policy = self.policy_named(&g.policy, &t, policies, &what);
            if let (Some(prefix), Some(policy)) = (prefix, policy) {
                gates.push(Gate {
                    name: name.as_str().into(),
                    prefix,
                    policy,
                });
            }
        }
        gates
    }

    /// A gate's name: a token (it is `?gate=NAME` of forward-auth), unique.
    fn gate_name(
        &mut self,
        raw: &S<String>,
        t: &Range<usize>,
        names: &mut HashMap<String, usize>,
    ) -> String {
        let name = raw.get_ref().trim().to_string();
        if !is_token(&name) {
            self.error(
                &raw.span(),
                t,
                format!(
                    "`name` in [[gates]] must be 1–64 letters, digits, `.`, `_` or `-` (it is \
                     named in ?gate= of the forward-auth endpoints), not `{name}`"
                ),
            );
        } else if let Some(first) = names.get(&name) {
            let line = self.line(*first);
            self.error(
                &raw.span(),
                t,
                format!("gate name `{name}` is already used on line {line}; names must be unique"),
            );
        } else {
            names.insert(name.clone(), place(&raw.span(), t));
        }
        name
    }

    /// A gate's prefix: valid, and overlapping neither `/.verigate`, a route nor another gate.
    fn gate_prefix(
        &mut self,
        g: &RawGate,
        name: &str,
        t: &Range<usize>,
        routes: &[Route],
        earlier: &mut Vec<(Prefix, String, usize)>,
    ) -> Option<Prefix> {
        let written = g.prefix.get_ref().trim();
        let span = g.prefix.span();
        let what = format!("`prefix` in [[gates]] `{name}`");
        let prefix = match Prefix::new(written, g.case_insensitive) {
            Ok(p) => p,
            Err(e) => {
                self.error(
                    &span,
                    t,
                    format!("{what} {e}; a prefix is a path such as /adult, not `{written}`"),
                );
                return None;
            }
        };
        let p = prefix.as_str();
        if is_reserved_path(p) || prefix.matches(RESERVED_PREFIX) {
            self.error(
                &span,
                t,
                format!(
                    "{what} `{p}` overlaps {RESERVED_PREFIX}, verigate's own paths (the \
                     verification page and its callback must stay reachable); gate the app's \
                     paths, such as /adult"
                ),
            );
        }
        // A route's path as a request would carry it, normalised as gated requests are.
        let covered = routes
            .iter()
            .find(|r| normalise(&r.path).is_ok_and(|path| prefix.matches(&path)));
        if let Some(route) = covered {
            self.error(
                &span,
                t,
                format!(
                    "{what} `{p}` covers route `{}` ({} {}): a callback route is verified by \
                     its own imp_uid and cannot also be gated",
                    route.name, route.method, route.path
                ),
            );
        }
        let clash = earlier
            .iter()
            .find(|(q, _, _)| prefix.matches(q.as_str()) || q.matches(p));
        if let Some((q, other, at)) = clash {
            let line = self.line(*at);
            self.error(
                &span,
                t,
                format!(
                    "{what} `{p}` overlaps gate `{other}` (`{}`, line {line}); one path is \
                     under one gate, so gates may neither repeat nor nest",
                    q.as_str()
                ),
            );
        }
        earlier.push((prefix.clone(), name.to_string(), place(&span, t)));
        Some(prefix)
    }
}
