//! What `verigate check` prints: the effective settings, one line per listener and section,
//! then the routes and policies, and the warnings about a valid file that is still risky.
//! Nothing printed here is ever a secret.

use std::fmt::Write as _;
use std::sync::Arc;

use super::types::{Config, OnFailure};
use crate::session::Provider;

impl Config {
    /// Warnings `verigate check` prints (e.g. signing is off).
    pub fn warnings(&self) -> Vec<String> {
        let prefix = &self.headers.prefix;
        let mut warnings = Vec::new();
        if self.signing.is_none() {
            warnings.push(format!(
                "signing is off: forwarded {prefix}* headers are unsigned; an app can trust \
                 them only on a private network"
            ));
        }
        for route in &self.routes {
            if route.on_failure == OnFailure::Forward {
                warnings.push(format!(
                    "route `{}` has on_failure = \"forward\": requests that fail verification \
                     reach the app with verdict `unverified`, so the app must check \
                     {prefix}verdict",
                    route.name
                ));
            }
        }
        if self.upstream.tls && self.upstream.sni.is_empty() {
            warnings.push(
                "upstream.tls is on but upstream.sni is empty: the handshake with the app \
                 names no server, so its certificate cannot be checked against a name"
                    .to_string(),
            );
        }
        for route in &self.routes {
            if route.single_use && route.policy.max_certification_age.is_none() {
                warnings.push(format!(
                    "route `{}` is single_use but its policy `{}` has no freshness window \
                     (max_certification_age_secs = 0): used imp_uids are remembered 24 h, so an \
                     older replay would pass; set a window",
                    route.name, route.policy.name
                ));
            }
        }
        self.session_warnings(&mut warnings);
        if let Some(store) = &self.store
            && crate::store::is_plain_to_another_host(store.url.expose())
        {
            warnings.push(
                "store.url is redis:// to another host: the store's password and the \
                 single-use marks travel in clear (cached identities are sealed); rediss:// \
                 encrypts them"
                    .to_string(),
            );
        }
        for policy in &self.policies {
            let by_route = self.routes.iter().any(|r| Arc::ptr_eq(&r.policy, policy));
            let by_gate = self.gates.iter().any(|g| Arc::ptr_eq(&g.policy, policy));
            if !by_route && !by_gate {
                warnings.push(format!(
                    "policy `{}` is not used by any route or gate",
                    policy.name
                ));
            }
        }
        warnings
    }

    fn session_warnings(&self, warnings: &mut Vec<String>) {
        let Some(session) = &self.session else {
            return;
        };
        if !session.cookie.secure {
            warnings.push(
                "session.secure = false: the session cookie goes without Secure and the \
                 `__Host-` prefix, so it travels over plain HTTP; only for development"
                    .to_string(),
            );
        } else if session
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("http://"))
        {
            warnings.push(
                "session.public_url is http:// but session.secure = true: browsers keep a \
                 Secure cookie only from https:// pages"
                    .to_string(),
            );
        }
        if self.gates.is_empty() {
            warnings.push(
                "[session] is set but there is no [[gates]] table: no path is gated".to_string(),
            );
        }
    }

    /// The effective routes and policies, for `verigate check`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        self.describe_server(&mut out);
        self.describe_upstream(&mut out);
        self.describe_providers(&mut out);
        self.describe_cache(&mut out);
        self.describe_store(&mut out);
        self.describe_headers(&mut out);
        self.describe_signing(&mut out);
        self.describe_routes(&mut out);
        self.describe_session(&mut out);
        self.describe_policies(&mut out);
        out
    }

    // `write!` into a String cannot fail; the results below are ignored for that reason.

    fn describe_server(&self, out: &mut String) {
        let s = &self.server;
        for addr in &s.listen {
            let _ = writeln!(out, "listen    http://{addr}");
        }
        if let Some(tls) = &s.tls {
            let _ = writeln!(
                out,
                "listen    https://{} (cert {}, key {})",
                tls.listen,
                tls.cert.display(),
                tls.key.display()
            );
        }
        match s.admin_listen {
            Some(addr) => {
                let _ = writeln!(out, "admin     http://{addr}");
            }
            None => out.push_str("admin     off\n"),
        }
        let _ = writeln!(
            out,
            "server    {} threads, bodies up to {} bytes, grace period {} s",
            s.threads,
            s.max_body_bytes,
            s.grace_period.as_secs()
        );
        let trusted: Vec<String> = s
            .trusted_proxies
            .nets()
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(
            out,
            "trusted   {}",
            if trusted.is_empty() {
                "no proxies (client X-Forwarded-* and Forwarded headers are replaced)".to_string()
            } else {
                format!("proxies {}", trusted.join(", "))
            }
        );
    }

    fn describe_upstream(&self, out: &mut String) {
        let u = &self.upstream;
        let addrs: Vec<String> = u.addrs.iter().map(ToString::to_string).collect();
        let scheme = if u.tls { "https" } else { "http" };
        let sni = if u.tls && !u.sni.is_empty() {
            format!(", sni {}", u.sni)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "upstream  {} ({scheme}{sni}, connect {} ms, read {} ms)",
            addrs.join(", "),
            u.connect_timeout.as_millis(),
            u.read_timeout.as_millis()
        );
        if let Some(hc) = &u.health_check {
            let _ = writeln!(
                out,
                "health    GET {} every {} s",
                hc.path,
                hc.interval.as_secs()
            );
        }
    }

    fn describe_providers(&self, out: &mut String) {
        if let Some(i) = &self.iamport {
            let tier = i
                .tier
                .as_ref()
                .map_or(String::new(), |t| format!(", tier {t}"));
            let _ = writeln!(
                out,
                "i'mport   {} (budget {} ms{tier})",
                i.base_url,
                i.timeout.as_millis()
            );
        }
        if let Some(p) = &self.portone {
            let store = p
                .store_id
                .as_ref()
                .map_or(String::new(), |s| format!(", store {s}"));
            let _ = writeln!(
                out,
                "PortOne   {} (budget {} ms{store})",
                p.base_url,
                p.timeout.as_millis()
            );
        }
    }

    fn describe_cache(&self, out: &mut String) {
        let c = &self.cache;
        let _ = writeln!(
            out,
            "cache     {} entries, ttl {} s, not-found ttl {} s",
            c.capacity,
            c.ttl.as_secs(),
            c.negative_ttl.as_secs()
        );
    }

    fn describe_store(&self, out: &mut String) {
        let Some(s) = &self.store else {
            out.push_str(
                "store     none: single use, sessions and the cache are per process (one \
                 instance; add [store] to run several)\n",
            );
            return;
        };
        let _ = writeln!(
            out,
            "store     {} (prefix {}, {} ms per command): single use, sessions and the cache \
             are shared by every instance on it",
            crate::store::redacted_url(s.url.expose()),
            s.key_prefix,
            s.timeout.as_millis()
        );
    }

    fn describe_headers(&self, out: &mut String) {
        let forward: Vec<&str> = self
            .headers
            .forward
            .iter()
            .map(|f| f.config_name())
            .collect();
        let _ = writeln!(
            out,
            "headers   prefix {}, extra fields: {}",
            self.headers.prefix,
            if forward.is_empty() {
                "none".to_string()
            } else {
                forward.join(", ")
            }
        );
    }

    fn describe_signing(&self, out: &mut String) {
        let Some(sg) = &self.signing else {
            out.push_str("signing   off (headers are unsigned)\n");
            return;
        };
        let keys: Vec<String> = sg
            .keys
            .iter()
            .map(|k| format!("{} ({})", k.id, k.alg.config_name()))
            .collect();
        let jwt = if sg.jwt {
            format!("jwt on (iss {}, aud {})", sg.issuer, sg.audience)
        } else {
            "jwt off".to_string()
        };
        let _ = writeln!(
            out,
            "signing   active key {}, ttl {} s, {jwt}; keys: {}",
            sg.active_key,
            sg.signature_ttl.as_secs(),
            keys.join(", ")
        );
    }

    fn describe_routes(&self, out: &mut String) {
        out.push_str("routes:\n");
        for r in &self.routes {
            let _ = writeln!(
                out,
                "  {}  {} {}  imp_uid from {} field {}  policy {}  on_deny {}  on_failure {}{}  \
                 provider {}",
                r.name,
                r.method,
                r.path,
                r.imp_uid_from.as_str(),
                r.imp_uid_field,
                r.policy.name,
                r.on_deny.as_str(),
                r.on_failure.as_str(),
                if r.single_use { "  single_use" } else { "" },
                r.provider
            );
        }
    }

    fn describe_session(&self, out: &mut String) {
        let Some(s) = &self.session else {
            return;
        };
        let c = &s.cookie;
        let name = if c.secure {
            format!("__Host-{}", c.name)
        } else {
            c.name.clone()
        };
        // Key ids are derived from the secrets and reveal nothing of them.
        let ids = s
            .sealer()
            .map(|k| k.key_ids().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let fresh = s
            .max_certification_age
            .map_or("no limit".to_string(), |d| format!("{} s", d.as_secs()));
        let _ = writeln!(
            out,
            "session   cookie {name} (SameSite={:?}, {}, ttl {} s), seal keys {ids} (the first seals), \
             verifications up to {fresh} old, public url {}",
            c.same_site,
            if c.secure { "Secure" } else { "not Secure" },
            c.ttl.as_secs(),
            s.public_url.as_deref().unwrap_or("from the request")
        );
        let p = &s.page;
        let merchant = match p.provider {
            Provider::IamportV1 => format!("imp_code {}", p.imp_code),
            Provider::PortOneV2 => format!("store {}", p.store_id),
        };
        let _ = writeln!(
            out,
            "page      /.verigate/verify: sdk {} ({}), {merchant}, window {:?}, title {}",
            provider_name(p.provider),
            p.sdk_src(),
            p.window,
            p.title
        );
        out.push_str("gates:\n");
        for g in &self.gates {
            let _ = writeln!(
                out,
                "  {}  {}{}  policy {}  provider {}",
                g.name,
                g.prefix.as_str(),
                if g.prefix.case_insensitive() {
                    " (any case)"
                } else {
                    ""
                },
                g.policy.name,
                provider_name(p.provider)
            );
        }
    }

    fn describe_policies(&self, out: &mut String) {
        out.push_str("policies:\n");
        for p in &self.policies {
            let max = p.max_age.map_or("none".to_string(), |m| m.to_string());
            let fresh = p
                .max_certification_age
                .map_or("no limit".to_string(), |d| format!("{} s", d.as_secs()));
            let _ = writeln!(
                out,
                "  {}  min_age {}  max_age {}  basis {}  timezone {}  freshness {}",
                p.name,
                p.min_age,
                max,
                p.age_basis.as_str(),
                p.timezone.iana_name().unwrap_or("(fixed offset)"),
                fresh
            );
        }
    }
}

/// The config name of the provider behind a page's SDK.
fn provider_name(sdk: Provider) -> &'static str {
    match sdk {
        Provider::IamportV1 => "iamport",
        Provider::PortOneV2 => "portone",
    }
}
