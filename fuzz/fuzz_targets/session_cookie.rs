//! The session cookie on arbitrary `Cookie` headers: never a panic; nothing opens that verigate
//! did not seal (a forgery would need the key); stripping removes exactly verigate's cookies and
//! keeps every other piece byte for byte, in order.

#![no_main]

use std::time::Duration;

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use verigate::seal::Sealer;
use verigate::session::{CookieSettings, SameSite, SessionCookies};

const OURS: [&str; 4] = [
    "__Host-verigate",
    "__Host-verigate_state",
    "verigate",
    "verigate_state",
];

fn name(piece: &str) -> &str {
    piece.split_once('=').map_or(piece, |(n, _)| n).trim()
}

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    let settings = CookieSettings {
        name: "verigate".into(),
        secure: true,
        same_site: SameSite::Lax,
        ttl: Duration::from_secs(3600),
    };
    let cookies = SessionCookies::new(&settings, Sealer::new(&[[7u8; 32]]).unwrap()).unwrap();
    let now = Timestamp::from_second(1_780_000_000).unwrap();
    assert!(cookies.session_from([&*header], now).is_none(), "{header:?} opened");
    assert!(cookies.state_from([&*header], now).is_none(), "{header:?} opened");

    let pieces: Vec<&str> = header
        .split(';')
        .map(|p| p.trim_matches([' ', '\t']))
        .filter(|p| !p.is_empty())
        .collect();
    let others: Vec<&str> = pieces
        .iter()
        .copied()
        .filter(|p| !OURS.contains(&name(p)))
        .collect();
    match cookies.strip(&header) {
        None => assert!(others.is_empty(), "{header:?}: others dropped"),
        Some(kept) if others.len() == pieces.len() => assert_eq!(kept, header, "changed"),
        Some(kept) => assert_eq!(kept, others.join("; "), "{header:?}"),
    }
});
