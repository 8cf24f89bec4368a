//! The per-bottle CA (minted on the host at launch; its key stays in
//! `state/<slug>/egress/`, read-only to the sidecar, never in the agent) and
//! the leaf certificates the proxy mints from it, one per host, cached.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A CA for one bottle: (certificate PEM, private key PEM).
pub fn mint_ca(slug: &str) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("bottle {slug} egress CA"));
    dn.push(DnType::OrganizationName, "bottle");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A server certificate for `host` (a DNS name or an IP literal) signed
/// by `issuer`, with its key.
fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    host: &str,
) -> Result<(rcgen::Certificate, KeyPair), String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(vec![host.to_string()]).map_err(|e| e.to_string())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, host);
    params.distinguished_name = dn;
    params.is_ca = IsCa::NoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(30);
    let cert = params.signed_by(&key, issuer).map_err(|e| e.to_string())?;
    Ok((cert, key))
}

/// A leaf for `host` signed by this CA, as PEM: (the leaf then the CA,
/// the leaf's key). For stand-in servers outside the proxy.
pub fn leaf_pem(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    host: &str,
) -> Result<(String, String), String> {
    let key = KeyPair::from_pem(ca_key_pem).map_err(|e| format!("CA key: {e}"))?;
    let issuer =
        Issuer::from_ca_cert_pem(ca_cert_pem, key).map_err(|e| format!("CA certificate: {e}"))?;
    let (cert, key) = leaf(&issuer, host)?;
    Ok((format!("{}{ca_cert_pem}", cert.pem()), key.serialize_pem()))
}

/// Mints and caches a TLS server configuration per host.
pub struct LeafMinter {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    cache: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
}

impl LeafMinter {
    pub fn new(ca_cert_pem: &str, ca_key_pem: &str) -> Result<LeafMinter, String> {
        let key = KeyPair::from_pem(ca_key_pem).map_err(|e| format!("CA key: {e}"))?;
        let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, key)
            .map_err(|e| format!("CA certificate: {e}"))?;
        let ca_der = rustls_pki_types::pem::PemObject::from_pem_slice(ca_cert_pem.as_bytes())
            .map_err(|e| format!("CA certificate: {e}"))?;
        Ok(LeafMinter {
            issuer,
            ca_der,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The server configuration presenting a certificate for `host` (a
    /// DNS name or an IP literal), signed by the bottle's CA.
    pub fn config_for(&self, host: &str) -> Result<Arc<rustls::ServerConfig>, String> {
        if let Some(c) = self.cache.lock().ok().and_then(|c| c.get(host).cloned()) {
            return Ok(c);
        }
        let (cert, key) = leaf(&self.issuer, host)?;
        let chain = vec![cert.der().clone(), self.ca_der.clone()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(host.to_string(), config.clone());
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_chain_to_the_bottle_ca_and_are_cached() {
        let (cert, key) = mint_ca("dev-abc123").expect("ca");
        assert!(cert.contains("BEGIN CERTIFICATE") && key.contains("PRIVATE KEY"));
        let m = LeafMinter::new(&cert, &key).expect("minter");
        let a = m.config_for("api.github.com").expect("leaf");
        let b = m.config_for("api.github.com").expect("leaf");
        assert!(Arc::ptr_eq(&a, &b), "cached");
        m.config_for("10.1.2.3").expect("an IP literal");
        assert!(LeafMinter::new(&cert, "not a key").is_err());
    }
}
