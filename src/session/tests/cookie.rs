//! Session and state cookies: round trips with every field, server-side expiry, rotation and
//! tampering, the `Set-Cookie` attributes, finding our cookie in any header shape, and
//! stripping ours (and only ours) from the header sent upstream.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::date;
use jiff::tz::TimeZone;

use crate::identity::ForwardField;
use crate::identity::Identity;
use crate::imp_uid::ImpUid;
use crate::policy::{AgeBasis, DenyReason, Policy, Verdict};
use crate::seal::Sealer;
use crate::session::Provider;
use crate::session::cookie::*;

const NOW: i64 = 1_780_000_000; // 2026-05-28T20:26:40Z

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

fn sealer(secrets: &[u8]) -> Sealer {
    let s: Vec<[u8; 32]> = secrets.iter().map(|&b| [b; 32]).collect();
    Sealer::new(&s).unwrap()
}

fn settings(secure: bool) -> CookieSettings {
    CookieSettings {
        name: "verigate".into(),
        secure,
        same_site: SameSite::Lax,
        ttl: Duration::from_secs(3600),
    }
}

fn cookies(secure: bool, secrets: &[u8]) -> SessionCookies {
    SessionCookies::new(&settings(secure), sealer(secrets)).unwrap()
}

/// A certified person with every field, the longest plausible values.
fn full_identity() -> Identity {
    let mut id = Identity::empty(ImpUid::parse(&format!("imp_{}", "9".repeat(60))).unwrap());
    id.certified = true;
    id.certified_at = Some(at(NOW - 30));
    id.name = Some("남궁김수한무거북이와두루미삼천갑자동방삭".into());
    id.birth_date = Some(date(1976, 11, 7));
    id.gender = Some("female".into());
    id.foreigner = Some(false);
    // CI is 88 base64 characters, DI 64; take twice that to be safe.
    id.unique_key = Some("Qk+/".repeat(44).into());
    id.unique_in_site = Some("MC0G".repeat(32).into());
    id.phone = Some("01012345678".into());
    id.carrier = Some("SKT_MVNO".into());
    id.pg_provider = Some("inicis_unified".into());
    id.merchant_uid = Some(format!("vg_{}", "A".repeat(22)).into());
    id
}

fn session_value(set_cookie: &str) -> &str {
    let (pair, _) = set_cookie.split_once(';').unwrap();
    pair.split_once('=').unwrap().1
}

#[test]
fn a_session_with_every_field_round_trips_and_stays_well_under_4_kib() {
    let c = cookies(true, &[1]);
    let s = Session::new(
        Provider::IamportV1,
        &full_identity(),
        &ForwardField::ALL,
        at(NOW),
        c.ttl(),
    );
    let set = c.issue(&s, at(NOW)).unwrap();
    // The figure reported for issue 13: the whole Set-Cookie line with every field.
    eprintln!(
        "Set-Cookie with every field, long values: {} bytes",
        set.len()
    );
    assert!(set.len() < 1100, "{} bytes: {set}", set.len());
    let opened = c.open_session(session_value(&set), at(NOW + 1)).unwrap();
    assert_eq!(*opened.session, s);
    assert!(!opened.reseal);
    assert_eq!(
        opened.session.identity.name.as_deref(),
        full_identity().name.as_deref()
    );
    // A typical record: imp_ + 12 digits, a three-syllable name, CI 88 and DI 64 characters.
    let mut typical = full_identity();
    typical.imp_uid = ImpUid::parse("imp_045262694732").unwrap();
    typical.name = Some("홍길동".into());
    typical.unique_key = Some("Qk+/".repeat(22).into());
    typical.unique_in_site = Some("MC0G".repeat(16).into());
    typical.carrier = Some("SKT".into());
    typical.pg_provider = Some("danal".into());
    let s = Session::new(
        Provider::IamportV1,
        &typical,
        &ForwardField::ALL,
        at(NOW),
        c.ttl(),
    );
    let set = c.issue(&s, at(NOW)).unwrap();
    eprintln!(
        "Set-Cookie with every field, typical values: {} bytes",
        set.len()
    );
    assert!(set.len() < 800, "{} bytes", set.len());
}

#[test]
fn only_the_forwarded_fields_enter_the_session() {
    let s = Session::new(
        Provider::PortOneV2,
        &full_identity(),
        &[ForwardField::Carrier],
        at(NOW),
        Duration::from_secs(60),
    );
    let id = &s.identity;
    assert!(id.certified);
    assert_eq!(id.carrier.as_deref(), Some("SKT_MVNO"));
    assert_eq!(id.birth_date, Some(date(1976, 11, 7)));
    assert!(id.name.is_some() && id.certified_at.is_some());
    let dropped = [
        &id.gender,
        &id.unique_key,
        &id.unique_in_site,
        &id.phone,
        &id.pg_provider,
    ];
    assert!(dropped.iter().all(|f| f.is_none()));
    assert_eq!((id.foreigner, &id.merchant_uid), (None, &None));
    assert_eq!(s.expires_at, at(NOW + 60));
    let c = cookies(false, &[1]);
    let set = c.issue(&s, at(NOW)).unwrap();
    assert_eq!(
        *c.open_session(session_value(&set), at(NOW))
            .unwrap()
            .session,
        s
    );
}

#[test]
fn the_sealed_expiry_is_checked_by_the_server() {
    let c = cookies(true, &[1]);
    let s = Session::new(Provider::IamportV1, &full_identity(), &[], at(NOW), c.ttl());
    let v = c.seal_session(&s).unwrap();
    let cases = [
        (NOW, true),
        (NOW + 3599, true),
        (NOW + 3600, false), // expires_at itself is over
        (NOW + 86_400, false),
        (NOW - 299, true), // issued a little ahead of this gateway's clock: skew allowed
        (NOW - 301, false), // issued too far in the future
    ];
    for (now, live) in cases {
        assert_eq!(
            c.open_session(&v, at(now)).is_some(),
            live,
            "now = NOW{:+}",
            now - NOW
        );
    }
    // A shorter ttl applies to cookies issued under the longer one at once.
    let shorter = SessionCookies::new(
        &CookieSettings {
            ttl: Duration::from_secs(60),
            ..settings(true)
        },
        sealer(&[1]),
    )
    .unwrap();
    assert!(shorter.open_session(&v, at(NOW + 59)).is_some());
    assert!(shorter.open_session(&v, at(NOW + 60)).is_none());
}

#[test]
fn an_opened_session_is_kept_judged_live_on_every_use_and_gone_with_its_configuration() {
    let rotated = cookies(true, &[2, 1]);
    let s = Session::new(
        Provider::IamportV1,
        &full_identity(),
        &[],
        at(NOW),
        rotated.ttl(),
    );
    let v = cookies(true, &[1]).seal_session(&s).unwrap();
    let first = rotated.open_session(&v, at(NOW)).unwrap();
    let again = rotated.open_session(&v, at(NOW + 1)).unwrap();
    assert!(
        Arc::ptr_eq(&first.session, &again.session),
        "the second use is served from the kept sessions"
    );
    assert!(again.reseal, "a kept session still asks to be re-sealed");
    assert!(rotated.keeps(&v));
    assert!(
        rotated.open_session(&v, at(NOW + 3600)).is_none(),
        "a kept session expires like any other"
    );
    assert!(!rotated.keeps(&v), "an expired session is no longer kept");
    assert!(
        rotated.open_session(&v, at(NOW - 301)).is_none(),
        "issued too far ahead of this clock, kept or not"
    );
    // A reload builds new cookies: the retired key's session is no session there.
    assert!(cookies(true, &[2]).open_session(&v, at(NOW + 1)).is_none());
    // A value that does not open is never kept: it is refused on every use.
    let mut forged = v.clone().into_bytes();
    forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for _ in 0..2 {
        assert!(rotated.open_session(&forged, at(NOW)).is_none());
    }
}

#[test]
fn tampered_foreign_and_retired_cookies_are_no_session_and_rotation_keeps_old_ones() {
    let old = cookies(true, &[1]);
    let s = Session::new(
        Provider::IamportV1,
        &full_identity(),
        &[],
        at(NOW),
        old.ttl(),
    );
    let v = old.seal_session(&s).unwrap();
    // Tampered: every character swapped for another of the alphabet.
    for i in 0..v.len() {
        let mut t = v.clone().into_bytes();
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(t).unwrap();
        assert!(old.open_session(&t, at(NOW)).is_none(), "char {i}");
    }
    assert!(
        cookies(true, &[9]).open_session(&v, at(NOW)).is_none(),
        "foreign"
    );
    assert!(
        cookies(true, &[2]).open_session(&v, at(NOW)).is_none(),
        "retired"
    );
    let rotated = cookies(true, &[2, 1]);
    let opened = rotated.open_session(&v, at(NOW)).unwrap();
    assert!(opened.reseal, "sealed by the previous key");
    let resealed = rotated.issue(&opened.session, at(NOW + 100)).unwrap();
    assert!(resealed.ends_with("Max-Age=3500"), "{resealed}");
    let again = rotated
        .open_session(session_value(&resealed), at(NOW + 100))
        .unwrap();
    assert_eq!(
        (again.session.expires_at, again.reseal),
        (s.expires_at, false)
    );
}

#[test]
fn a_session_value_is_not_a_state_and_a_state_is_not_a_session() {
    let c = cookies(true, &[1]);
    let s = Session::new(Provider::IamportV1, &full_identity(), &[], at(NOW), c.ttl());
    let sv = c.seal_session(&s).unwrap();
    assert!(c.open_state(&sv, at(NOW)).is_none());
    let st = State::with_nonce(Provider::IamportV1, [7; 16], "/adult/x", at(NOW));
    let set = c.issue_state(&st, at(NOW)).unwrap();
    assert!(c.open_session(session_value(&set), at(NOW)).is_none());
    // Nor does a cookie sealed under the other naming (secure vs not) open.
    assert!(cookies(false, &[1]).open_session(&sv, at(NOW)).is_none());
}

#[test]
fn set_cookie_lines_carry_the_spec_attributes() {
    let c = cookies(true, &[1]);
    let s = Session::new(Provider::IamportV1, &full_identity(), &[], at(NOW), c.ttl());
    let set = c.issue(&s, at(NOW)).unwrap();
    let v = session_value(&set);
    assert_eq!(
        set,
        format!("__Host-verigate={v}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=3600")
    );
    assert_eq!(
        c.clear_session(),
        "__Host-verigate=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0"
    );
    assert_eq!(
        c.clear_state(),
        "__Host-verigate_state=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0"
    );
    let plain = SessionCookies::new(
        &CookieSettings {
            name: "vg-sess".into(),
            secure: false,
            same_site: SameSite::Strict,
            ttl: Duration::from_secs(600),
        },
        sealer(&[1]),
    )
    .unwrap();
    assert_eq!(
        (plain.session_name(), plain.state_name()),
        ("vg-sess", "vg-sess_state")
    );
    let set = plain.issue(&s, at(NOW)).unwrap();
    assert!(set.starts_with("vg-sess="), "{set}");
    assert!(
        set.ends_with("; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600"),
        "{set}"
    );
    assert!(!set.contains("Secure") && !set.contains("Domain"));
    // The state cookie is Lax even when the session is Strict, and lives 15 minutes.
    let st = State::with_nonce(Provider::IamportV1, [7; 16], "/", at(NOW));
    let set = plain.issue_state(&st, at(NOW)).unwrap();
    assert!(set.starts_with("vg-sess_state="), "{set}");
    assert!(
        set.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=900"),
        "{set}"
    );
}

#[test]
fn a_state_binds_its_minted_id_and_rd_for_fifteen_minutes() {
    let c = cookies(true, &[1]);
    let st = State::mint(Provider::IamportV1, "/adult/x?y=1", at(NOW)).unwrap();
    let other = State::mint(Provider::IamportV1, "/", at(NOW)).unwrap();
    assert_ne!(st.id, other.id);
    let id = st.id.as_str();
    assert!(id.starts_with("vg_") && id.len() == 25, "{id}");
    assert!(st.binds(id) && !st.binds(other.id.as_str()) && !st.binds(""));
    let set = c.issue_state(&st, at(NOW)).unwrap();
    let header = format!("a=1; {}", set.split_once(';').unwrap().0);
    assert_eq!(
        c.state_from([header.as_str()], at(NOW + 899)),
        Some(st.clone())
    );
    assert_eq!(c.state_from([header.as_str()], at(NOW + 900)), None);
    assert_eq!(c.state_from(["a=1"], at(NOW)), None);
    // The minted ids are unpredictable: fixed nonces give fixed ids, fresh ones differ.
    let fixed = State::with_nonce(Provider::PortOneV2, [0; 16], "/", at(NOW));
    assert_eq!(fixed.id.as_str(), "vg_AAAAAAAAAAAAAAAAAAAAAA");
    // Whatever rd it is given, a state only ever returns to a local path.
    for rd in [
        "//evil.com",
        "https://evil.com",
        "/\\evil",
        "/.verigate/verify",
    ] {
        assert_eq!(
            State::with_nonce(Provider::IamportV1, [1; 16], rd, at(NOW)).rd,
            "/"
        );
    }
    let kept = State::with_nonce(Provider::IamportV1, [1; 16], "/%61dult/./x?y=1", at(NOW));
    assert_eq!(kept.rd, "/adult/x?y=1");
    // …and read back: a state whose rd field was set by hand is checked again when opened.
    let mut forged = State::with_nonce(Provider::IamportV1, [2; 16], "/", at(NOW));
    forged.rd = "//evil.com".into();
    let set = c.issue_state(&forged, at(NOW)).unwrap();
    let value = session_value(&set);
    assert_eq!(c.open_state(value, at(NOW)).unwrap().rd, "/");
}

#[test]
fn our_cookie_is_found_among_others_in_every_header_shape() {
    let c = cookies(true, &[1]);
    let s = Session::new(Provider::IamportV1, &full_identity(), &[], at(NOW), c.ttl());
    let v = c.seal_session(&s).unwrap();
    let junk = cookies(true, &[9]).seal_session(&s).unwrap();
    let shapes = [
        vec![format!("__Host-verigate={v}")],
        vec![format!("a=1; __Host-verigate={v}; b=2")],
        vec![format!("a=1;__Host-verigate=\"{v}\";b=2")],
        vec![format!(" a=1 ;\t__Host-verigate = {v} ; ")],
        vec!["a=1".into(), format!("__Host-verigate={v}")],
        // a stale or foreign duplicate first: the live one still counts
        vec![format!("__Host-verigate={junk}; __Host-verigate={v}")],
        vec![
            format!("__Host-verigate=garbage"),
            format!("__Host-verigate={v}"),
        ],
    ];
    for headers in &shapes {
        let found = c.session_from(headers.iter().map(String::as_str), at(NOW));
        assert_eq!(
            found.map(|o| (*o.session).clone()),
            Some(s.clone()),
            "{headers:?}"
        );
    }
    let absent = [
        vec![format!("verigate={v}")], // the unprefixed name is another cookie when secure
        vec![format!("__Host-verigatex={v}")],
        vec![format!("x__Host-verigate={v}")],
        vec![format!("__Host-verigate_state={v}")],
        vec![String::new()],
        vec![],
    ];
    for headers in &absent {
        assert!(
            c.session_from(headers.iter().map(String::as_str), at(NOW))
                .is_none(),
            "{headers:?}"
        );
    }
}

#[test]
fn only_verigates_cookies_are_stripped_from_the_upstream_header() {
    let c = cookies(true, &[1]);
    let cases: &[(&str, Option<&str>)] = &[
        ("a=1; __Host-verigate=x; b=2", Some("a=1; b=2")),
        ("__Host-verigate=x", None),
        ("__Host-verigate=x; __Host-verigate_state=y", None),
        (
            "__Host-verigate_state=y; verigate=z; verigate_state=w; c=3",
            Some("c=3"),
        ),
        (
            "a=1;  __Host-verigate=x;;b=\"q r\" ;c",
            Some("a=1; b=\"q r\"; c"),
        ),
        ("a=1; __Host-verigate = x", Some("a=1")),
        (
            "x=__Host-verigate; y=verigate=1",
            Some("x=__Host-verigate; y=verigate=1"),
        ),
        (
            "__Host-verigatex=1; verigate_state2=1; xverigate=1",
            Some("__Host-verigatex=1; verigate_state2=1; xverigate=1"),
        ),
        ("a=1;b=2", Some("a=1;b=2")),
        ("", Some("")),
    ];
    for (header, want) in cases {
        assert_eq!(c.strip(header).as_deref(), *want, "{header:?}");
    }
    // Untouched headers are not copied.
    assert!(matches!(
        c.strip("a=1;  b=2 "),
        Some(Cow::Borrowed("a=1;  b=2 "))
    ));
}

#[test]
fn cookie_settings_are_validated() {
    let bad = [
        "",
        "__Host-verigate",
        "__x",
        "a b",
        "a;b",
        "a=b",
        "세션",
        &"x".repeat(65),
    ];
    for name in bad {
        let s = CookieSettings {
            name: name.into(),
            ..settings(true)
        };
        assert_eq!(
            SessionCookies::new(&s, sealer(&[1])).unwrap_err(),
            CookieError::BadName,
            "{name:?}"
        );
    }
    let zero = CookieSettings {
        ttl: Duration::ZERO,
        ..settings(true)
    };
    assert_eq!(
        SessionCookies::new(&zero, sealer(&[1])).unwrap_err(),
        CookieError::ZeroTtl
    );
    assert!(
        SessionCookies::new(
            &CookieSettings {
                name: "x".repeat(64),
                ..settings(true)
            },
            sealer(&[1])
        )
        .is_ok()
    );
}

#[test]
fn nothing_personal_is_printed_by_debug() {
    let c = cookies(true, &[0x41]);
    let s = Session::new(
        Provider::IamportV1,
        &full_identity(),
        &ForwardField::ALL,
        at(NOW),
        c.ttl(),
    );
    let opened = Opened {
        session: Arc::new(s.clone()),
        reseal: false,
    };
    // One kept: printing the cookies must not print the sessions they keep either.
    assert!(
        c.open_session(&c.seal_session(&s).unwrap(), at(NOW))
            .is_some()
    );
    let printed = format!("{c:?} {s:?} {opened:?}");
    for secret in ["남궁", "1976", "01012345678", "Qk+/", "MC0G", "AAAA"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
}

#[test]
fn a_birthday_during_the_session_changes_the_verdict() {
    // Turns 19 (만 나이) at midnight of 2026-05-29 in Seoul; the session starts half an hour before.
    let seoul = TimeZone::get("Asia/Seoul").unwrap();
    let midnight = date(2026, 5, 29)
        .to_zoned(seoul.clone())
        .unwrap()
        .timestamp();
    let issued = at(midnight.as_second() - 1800);
    let mut id = full_identity();
    id.birth_date = Some(date(2007, 5, 29));
    let c = cookies(true, &[1]);
    let s = Session::new(Provider::IamportV1, &id, &[], issued, c.ttl());
    let v = c.seal_session(&s).unwrap();
    let policy = Policy {
        name: "adult".into(),
        min_age: 19,
        max_age: None,
        age_basis: AgeBasis::Full,
        timezone: seoul,
        max_certification_age: None,
    };
    let judge = |now: Timestamp| {
        let opened = c.open_session(&v, now).unwrap();
        policy.judge(&opened.session.identity, now).verdict
    };
    assert_eq!(
        judge(at(midnight.as_second() - 1)),
        Verdict::Deny(DenyReason::Underage)
    );
    assert_eq!(judge(midnight), Verdict::Allow);
}

#[test]
fn opening_in_a_scratch_buffer_gives_the_same_session_and_leaves_it_zeroed() {
    let c = cookies(true, &[1]);
    let s = Session::new(
        Provider::IamportV1,
        &full_identity(),
        &ForwardField::ALL,
        at(NOW),
        c.ttl(),
    );
    let v = c.seal_session(&s).unwrap();
    let mut scratch = Vec::with_capacity(2048);
    for _ in 0..2 {
        let opened = c.open_session_in(&v, at(NOW), &mut scratch).unwrap();
        assert_eq!(*opened.session, s);
        assert!(scratch.is_empty() && scratch.capacity() >= 2048);
        // zeroize cleared it and kept the capacity for the next request
    }
    assert!(
        c.open_session_in("garbage", at(NOW), &mut scratch)
            .is_none()
    );
    assert!(
        c.open_session_in(&v, at(NOW + 7200), &mut scratch)
            .is_none()
    );
}
