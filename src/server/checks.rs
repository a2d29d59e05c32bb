//! What is checked before the server is assembled: every listener can be bound, the runtime
//! directories are private, and the HTTPS listener's files hold a certificate and a key.

use std::path::PathBuf;

use super::StartError;
use crate::config::Config;

/// Binds every listener once and lets it go, so that an address in use or without permission
/// stops the start with its name. pingora would retry the bind for about 30 s, then lose the
/// service while the process kept running and answering `/healthz`.
pub(super) fn check_binds(config: &Config) -> Result<(), StartError> {
    let s = &config.server;
    let addrs = s
        .listen
        .iter()
        .map(|a| ("server.listen", *a))
        .chain(s.tls.as_ref().map(|t| ("server.tls.listen", t.listen)))
        .chain(s.admin_listen.map(|a| ("server.admin_listen", a)));
    for (key, addr) in addrs {
        std::net::TcpListener::bind(addr).map_err(|e| StartError::Bind {
            key,
            addr,
            error: e,
        })?;
    }
    Ok(())
}

/// Makes sure the directories of the pid file and the upgrade socket exist and that only the
/// gateway's user can write them: whoever can bind the upgrade socket receives the listening
/// sockets on SIGQUIT. With `create`, a missing directory is made (mode 0700); without it (for
/// `verigate check`) a missing one passes.
pub fn check_private_dirs(
    server: &crate::config::ServerSettings,
    create: bool,
) -> Result<(), StartError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    for (key, file) in [
        ("server.pid_file", &server.pid_file),
        ("server.upgrade_sock", &server.upgrade_sock),
    ] {
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        if !dir.exists() {
            if !create {
                continue;
            }
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| StartError::PrivateDir {
                    key,
                    dir: dir.clone(),
                    why: format!("cannot be created: {e}"),
                })?;
        }
        let meta = std::fs::metadata(&dir).map_err(|e| StartError::PrivateDir {
            key,
            dir: dir.clone(),
            why: e.to_string(),
        })?;
        if meta.mode() & 0o002 != 0 {
            return Err(StartError::PrivateDir {
                key,
                dir,
                why: "is world-writable: any local user could take the upgrade socket; use a \
                      directory only the gateway's user can write (e.g. $RUNTIME_DIRECTORY)"
                    .to_owned(),
            });
        }
    }
    Ok(())
}

/// Refuses to start with a certificate or key that pingora would only reject later, at the
/// first handshake, with a panic.
pub(super) fn check_tls_files(tls: &crate::config::TlsSettings) -> Result<(), StartError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| StartError::Tls(format!("cert {}: {e}", tls.cert.display())))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!(
            "cert {} holds no PEM certificate",
            tls.cert.display()
        )));
    }
    PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| StartError::Tls(format!("key {}: {e}", tls.key.display())))?;
    Ok(())
}
