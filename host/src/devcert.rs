//! `vantage up --tls-dev`: a local HTTPS certificate for development, made on first use and
//! reused afterwards, in `<state-dir>/tls/`:
//!
//! - `ca.pem`, `ca-key.pem`: a private "Vantage development CA" (10 years), **name-constrained**
//!   to `localhost`, `127.0.0.0/8` and `::1`, so even a leaked key cannot sign for another site;
//! - `localhost.pem`, `localhost-key.pem`: the server certificate for `localhost`, `127.0.0.1`
//!   and `::1` it signs (825 days, renewed by the next start once older than 800 days).
//!
//! Trusting `ca.pem` once (the commands are printed by [`trust_hint`]) makes browsers and tools
//! accept `https://localhost/`, which the Adobe Web SDK needs: it only calls https on port 443.
//! A CA plus a leaf (as mkcert does) rather than one self-signed certificate, because browsers
//! accept a trusted CA as an anchor but treat a self-signed server certificate inconsistently.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints,
};

/// The names the server certificate is valid for.
pub const NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];
/// The CA's common name (also what `certutil -n` calls it in the printed hint).
pub const CA_NAME: &str = "Vantage development CA";

const CA_DAYS: i64 = 3650;
const LEAF_DAYS: i64 = 825;
const RENEW_AFTER_DAYS: u64 = 800;
const DAY: Duration = Duration::from_secs(86_400);

/// The files of a development certificate.
#[derive(Debug, Clone)]
pub struct DevCert {
    /// The CA certificate to trust.
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server key (PEM, mode 0600).
    pub key: PathBuf,
    /// What this call did: `"created"`, `"renewed"` or `"reused"`.
    pub action: &'static str,
}

/// Makes sure `<state_dir>/tls/` holds a valid CA and server certificate, creating or renewing
/// what is missing or old.
pub fn ensure(state_dir: &Path) -> anyhow::Result<DevCert> {
    let dir = state_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    restrict(&dir, 0o700)?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let ca = dir.join("ca.pem");
    let ca_key_path = dir.join("ca-key.pem");
    let cert = dir.join("localhost.pem");
    let key = dir.join("localhost-key.pem");

    let mut action = "reused";
    let ca_key = if ca.exists() && ca_key_path.exists() {
        let pem = std::fs::read_to_string(&ca_key_path)
            .with_context(|| format!("reading {}", ca_key_path.display()))?;
        KeyPair::from_pem(&pem).with_context(|| format!("parsing {}", ca_key_path.display()))?
    } else {
        let key = KeyPair::generate().context("generating the CA key")?;
        let ca_cert = ca_params(now_days())?
            .self_signed(&key)
            .context("signing the CA certificate")?;
        write(&ca_key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write(&ca, ca_cert.pem().as_bytes(), 0o644)?;
        action = "created";
        key
    };

    let fresh = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < DAY * RENEW_AFTER_DAYS as u32)
    };
    let signed_by_this_ca = match (modified(&cert), modified(&ca)) {
        (Some(c), Some(a)) => c >= a,
        _ => false,
    };
    if action == "created" || !key.exists() || !fresh(&cert) || !signed_by_this_ca {
        if action == "reused" {
            action = "renewed";
        }
        let issuer = Issuer::new(ca_params(now_days())?, ca_key);
        let leaf_key = KeyPair::generate().context("generating the server key")?;
        let leaf = leaf_params(now_days())?
            .signed_by(&leaf_key, &issuer)
            .context("signing the server certificate")?;
        write(&key, leaf_key.serialize_pem().as_bytes(), 0o600)?;
        write(&cert, leaf.pem().as_bytes(), 0o644)?;
    }
    Ok(DevCert {
        ca,
        cert,
        key,
        action,
    })
}

/// What to run, once, to trust the CA (printed by `vantage up --tls-dev`).
pub fn trust_hint(dev: &DevCert) -> String {
    let ca = dev.ca.display();
    format!(
        "Dev TLS: certificate for {names} {action}: {cert}\n\
         \x20 signed by the local \"{CA_NAME}\" {ca} (it can only sign for localhost).\n\
         \x20 Trust it once, then restart the browser:\n\
         \x20   Debian/Ubuntu (curl, wget, …): sudo cp {ca} /usr/local/share/ca-certificates/vantage-dev-ca.crt && sudo update-ca-certificates\n\
         \x20   Chrome/Chromium on Linux (NSS; apt-get install libnss3-tools): certutil -d sql:$HOME/.pki/nssdb -A -t \"C,,\" -n \"{CA_NAME}\" -i {ca}\n\
         \x20   macOS: sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}\n\
         \x20   Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import {ca}",
        names = NAMES.join(", "),
        action = dev.action,
        cert = dev.cert.display(),
    )
}

/// The CA's parameters. Only its name, key usages and key identifier method matter when it
/// signs, so a renewal rebuilds them from here and the stored key.
fn ca_params(today: i64) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "Vantage (local development)");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".into()),
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                8,
            )),
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                128,
            )),
        ],
        excluded_subtrees: Vec::new(),
    });
    set_validity(&mut p, today, CA_DAYS);
    Ok(p)
}

fn leaf_params(today: i64) -> anyhow::Result<CertificateParams> {
    let names: Vec<String> = NAMES.iter().map(|s| (*s).to_owned()).collect();
    let mut p = CertificateParams::new(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    set_validity(&mut p, today, LEAF_DAYS);
    Ok(p)
}

/// Valid from yesterday (clocks drift) for `days`.
fn set_validity(p: &mut CertificateParams, today: i64, days: i64) {
    let date = |d: i64| {
        let (y, m, day) = civil(d);
        rcgen::date_time_ymd(y, m, day)
    };
    p.not_before = date(today - 1);
    p.not_after = date(today + days);
}

fn now_days() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400) as i64
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
pub(crate) fn civil(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month as u8, day as u8)
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    // Written under a temporary name first, so a crash never leaves half a key.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    restrict(&tmp, mode)?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the permissions of {}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::client::danger::ServerCertVerifier;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    fn temp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("vantage-devcert-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_513), (2026, 3, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
    }

    /// The server certificate verifies against the CA for every name (the same verifier as
    /// `vantage demo seed` uses), and not for another host: the CA is name-constrained.
    #[test]
    fn creates_then_reuses_a_certificate_the_ca_verifies() {
        let dir = temp("verify");
        let first = ensure(&dir).unwrap();
        assert_eq!(first.action, "created");
        let cert_pem = std::fs::read(&first.cert).unwrap();
        let second = ensure(&dir).unwrap();
        assert_eq!(second.action, "reused");
        assert_eq!(std::fs::read(&second.cert).unwrap(), cert_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&first.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .unwrap();
        let leaf = CertificateDer::from_pem_file(&first.cert).unwrap();
        for name in NAMES {
            let name = ServerName::try_from(*name).unwrap();
            verifier
                .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
                .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
        let other = ServerName::try_from("example.com").unwrap();
        assert!(
            verifier
                .verify_server_cert(&leaf, &[], &other, &[], UnixTime::now())
                .is_err()
        );
        // The hint names the CA file and the trust commands.
        let hint = trust_hint(&first);
        assert!(hint.contains(&first.ca.display().to_string()));
        assert!(hint.contains("update-ca-certificates") && hint.contains("certutil"));

        // A server certificate older than the CA (the CA was replaced) is signed again.
        std::fs::remove_file(&first.ca).unwrap();
        std::fs::remove_file(first.ca.with_file_name("ca-key.pem")).unwrap();
        let third = ensure(&dir).unwrap();
        assert_eq!(third.action, "created");
        assert_ne!(std::fs::read(&third.cert).unwrap(), cert_pem);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
