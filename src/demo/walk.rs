//! The demo's walkthrough: one method per numbered step, each sending one flow through the
//! gateway and printing what the app (or the client) got, with a ✓ or ✗.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::echo::Echo;
use crate::sandbox::{Fault, Sandbox, SandboxIdentityVerification, SandboxRecord};

/// One step's outcome, printed as it happens.
pub(super) struct Step {
    ok: bool,
}

impl Step {
    pub(super) fn check(&mut self, cond: bool, what: &str) {
        println!("   {} {what}", if cond { "✓" } else { "✗" });
        self.ok &= cond;
    }
}

/// The verified headers the app received, decoded for reading.
pub(super) fn app_view(app: &serde_json::Value) -> String {
    let mut out = String::new();
    let Some(headers) = app["headers"].as_object() else {
        return "   (the app received nothing)\n".into();
    };
    let mut any = false;
    for (k, v) in headers {
        if k.starts_with("x-verified-") || k == "content-digest" {
            any = true;
            let v = v.as_str().unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
            let note = if decoded != v {
                format!("   ({decoded})")
            } else {
                String::new()
            };
            let _ = writeln!(out, "       {k}: {v}{note}");
        }
    }
    if !any {
        out.push_str("       (no x-verified-* headers)\n");
    }
    out
}

type StepResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What every step talks to: the gateway (through `client`) and the sandbox behind it.
struct Walk<'a> {
    client: reqwest::Client,
    base: String,
    sandbox: &'a Sandbox,
    step: Step,
}

impl Walk<'_> {
    /// A popup-flow callback for `uid`, as the merchant's page posts it.
    async fn post(&self, uid: &str) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(format!("{}/certifications", self.base))
            .header("content-type", "application/json")
            .body(format!(
                "{{\"imp_uid\":\"{uid}\",\"merchant_uid\":\"order-1\"}}"
            ))
            .send()
            .await
    }

    /// 1. An adult passes the popup route with the identity headers.
    async fn adult(&mut self) -> StepResult {
        let adult = self
            .sandbox
            .insert(SandboxRecord::person("홍길동", "1990-05-05"));
        let uid = adult.imp_uid.unwrap_or_default();
        println!("1. An adult (born 1990-05-05) verifies in the popup flow");
        println!("   POST /certifications {{\"imp_uid\":\"{uid}\", ...}}");
        let resp = self.post(&uid).await?;
        let status = resp.status().as_u16();
        let app: serde_json::Value = resp.json().await?;
        println!("   gateway forwarded it ({status}); the app received:");
        print!("{}", app_view(&app));
        self.step.check(
            status == 200 && app["headers"]["x-verified-verdict"] == "allow",
            "verdict allow, with the name and birth date; the app needs no i'mport code",
        );
        Ok(())
    }

    /// 2. A minor is forwarded with `deny` on the popup route and refused on the redirect route.
    async fn minor(&mut self) -> StepResult {
        let minor_birthday = format!("{}-01-01", jiff::Zoned::now().year() - 15);
        let minor = self
            .sandbox
            .insert(SandboxRecord::person("김영희", &minor_birthday));
        let uid = minor.imp_uid.unwrap_or_default();
        println!("\n2. A minor (born {minor_birthday}) verifies");
        println!("   POST /certifications (route popup: on_deny = \"forward\")");
        let resp = self.post(&uid).await?;
        let status = resp.status().as_u16();
        let app: serde_json::Value = resp.json().await?;
        print!("{}", app_view(&app));
        self.step.check(
            status == 200
                && app["headers"]["x-verified-verdict"] == "deny"
                && app["headers"]["x-verified-reason"] == "underage",
            "forwarded with verdict deny, reason underage: the app decides what to show",
        );
        println!(
            "   GET /certifications/redirect?imp_uid=… (route redirect: on_deny = \"reject\")"
        );
        let resp = self
            .client
            .get(format!(
                "{}/certifications/redirect?imp_uid={uid}&success=true",
                self.base
            ))
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await?;
        println!("   gateway answered {status}: {body}");
        self.step.check(
            status == 403 && body["error"] == "age_requirement_not_met",
            "refused by the gateway; the app never saw it",
        );
        Ok(())
    }

    /// 2b. The same on a PortOne V2 route: the id from `identityVerificationId`, forwarded as
    /// `x-verified-identity-verification-id`.
    async fn portone_v2(&mut self) -> StepResult {
        let rec = self
            .sandbox
            .insert_identity_verification(SandboxIdentityVerification::person(
                "성춘향",
                "1992-07-07",
            ));
        let id = rec.id.unwrap_or_default();
        println!(
            "\n2b. An adult verifies with PortOne V2 (route v2-popup, provider = \"portone\")"
        );
        println!("   POST /identity-verifications {{\"identityVerificationId\":\"{id}\"}}");
        let resp = self
            .client
            .post(format!("{}/identity-verifications", self.base))
            .header("content-type", "application/json")
            .body(format!("{{\"identityVerificationId\":\"{id}\"}}"))
            .send()
            .await?;
        let status = resp.status().as_u16();
        let app: serde_json::Value = resp.json().await?;
        print!("{}", app_view(&app));
        let h = &app["headers"];
        self.step.check(
            status == 200
                && h["x-verified-verdict"] == "allow"
                && h["x-verified-identity-verification-id"] == id.as_str()
                && h.get("x-verified-imp-uid").is_none(),
            "verdict allow, the V2 id in x-verified-identity-verification-id: the same headers as V1",
        );
        Ok(())
    }

    /// 3. Forged `x-verified-*` headers, however spelled, are stripped on an ordinary route.
    async fn forged(&mut self) -> StepResult {
        println!("\n3. A client forges the verdict on an ordinary route");
        println!(
            "   GET /account with 'x-verified-verdict: allow', 'X_Verified_Name: admin' and \
             'X-Verified.Age: 99' (PHP reads all three as HTTP_X_VERIFIED_*)"
        );
        let resp = self
            .client
            .get(format!("{}/account", self.base))
            .header("x-verified-verdict", "allow")
            .header("X_Verified_Name", "admin")
            .header("X-Verified.Age", "99")
            .send()
            .await?;
        let app: serde_json::Value = resp.json().await?;
        print!("{}", app_view(&app));
        self.step.check(
            ["x-verified-verdict", "x_verified_name", "x-verified.age"]
                .iter()
                .all(|h| app["headers"].get(h).is_none()),
            "stripped: only verigate can set x-verified-* headers, however they are spelled",
        );
        Ok(())
    }

    /// 4. An imp_uid the API does not know is refused.
    async fn unknown(&mut self) -> StepResult {
        println!("\n4. An imp_uid the API does not know");
        let resp = self.post("imp_000000000000").await?;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await?;
        println!("   gateway answered {status}: {body}");
        self.step.check(
            status == 403 && body["error"] == "verification_not_found",
            "refused (on_failure = \"reject\")",
        );
        Ok(())
    }

    /// 5. With the API down the gateway fails closed: 503 with Retry-After.
    async fn outage(&mut self) -> StepResult {
        println!("\n8. The i'mport API is down (the sandbox answers 500 to everything)");
        self.sandbox.set_fault(Fault {
            latency_ms: None,
            status: Some(500),
            times: None,
        });
        self.sandbox.revoke_tokens();
        let fresh = self
            .sandbox
            .insert(SandboxRecord::person("이몽룡", "1985-02-02"));
        let resp = self
            .post(fresh.imp_uid.as_deref().unwrap_or_default())
            .await?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: serde_json::Value = resp.json().await?;
        self.sandbox.clear_faults();
        println!(
            "   gateway answered {status} (Retry-After: {}): {body}",
            retry_after.as_deref().unwrap_or("-")
        );
        self.step.check(
            status == 503 && body["error"] == "verification_unavailable",
            "fails closed: no guess, nothing forwarded",
        );
        Ok(())
    }
}

pub(super) async fn walkthrough(
    gateway: SocketAddr,
    sandbox_addr: SocketAddr,
    sandbox: &Sandbox,
    echo: &Echo,
) -> StepResult<bool> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = format!("http://{gateway}");
    wait_ready(&client, &base).await?;
    let mut walk = Walk {
        client,
        base,
        sandbox,
        step: Step { ok: true },
    };
    walk.adult().await?;
    walk.minor().await?;
    walk.portone_v2().await?;
    walk.forged().await?;
    walk.unknown().await?;
    // Before the outage: its open circuit breaker would refuse the session's lookups.
    super::sessions::walkthrough(&walk.base, sandbox_addr, &mut walk.step).await?;
    walk.outage().await?;

    let seen = echo.received().len();
    println!(
        "\nThe app received {seen} requests in all; the sandbox API saw {} V1 lookups, {} token \
         requests and {} V2 lookups.",
        sandbox.stats().certification_requests,
        sandbox.stats().token_requests,
        sandbox.stats().identity_verification_requests
    );
    Ok(walk.step.ok)
}

/// Polls the gateway until it accepts connections (bounded).
async fn wait_ready(client: &reqwest::Client, base: &str) -> StepResult {
    for _ in 0..200 {
        if client.get(format!("{base}/")).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err("the gateway did not start listening within 5 s".into())
}
