//! The live table and canaries: `routes.json` and the secrets directory,
//! polled twice a second.

use super::Egress;
use crate::policy::dlp::Scanner;
use crate::sidecar::egress::secrets::read_secrets;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Reloads `routes.json` when it changes (checked twice a second; a bad
/// file is reported and the previous table kept; open connections go on),
/// and rebuilds the DLP scanner when the secrets directory changes.
pub async fn watch(routes: PathBuf, egress: Arc<Egress>) {
    let mut last: Option<Vec<u8>> = None;
    let mut last_secrets: Option<Vec<(String, String)>> = None;
    loop {
        if let Ok(bytes) = tokio::fs::read(&routes).await {
            if last.as_ref() != Some(&bytes) {
                match egress.load_routes(&String::from_utf8_lossy(&bytes)) {
                    Ok(n) => {
                        println!("{}", serde_json::json!({"event": "routes", "routes": n}));
                    }
                    Err(e) => eprintln!("egress: keeping the previous routes: {e}"),
                }
                last = Some(bytes);
            }
        }
        let secrets = read_secrets(&egress.secrets_dir);
        if last_secrets.as_ref() != Some(&secrets) {
            let scanner = Scanner::new(&secrets, &[]);
            if let Ok(mut cur) = egress.scanner.write() {
                *cur = Arc::new(scanner);
            }
            println!(
                "{}",
                serde_json::json!({"event": "secrets", "count": secrets.len()})
            );
            last_secrets = Some(secrets);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
