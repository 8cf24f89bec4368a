//! `forward_host_credentials` for Codex (SPEC §5.3; reference
//! original-system.md §5.4): the operator's ChatGPT login in
//! `$CODEX_HOME/auth.json` (else `~/.codex/auth.json`) is checked, its
//! access token goes to the egress proxy (injected on `api.openai.com` and
//! `chatgpt.com`), and the agent gets an `auth.json` of the same shape
//! whose tokens are unsigned placeholders: Codex stays signed in to the
//! same account while the refresh token, the id token and the real bearer
//! never enter the bottle.

use crate::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub const PLACEHOLDER: &str = "bottle-placeholder";
pub const PLACEHOLDER_EMAIL: &str = "bottle@example.invalid";
/// The hosts the token is injected on.
pub const HOSTS: [&str; 2] = ["api.openai.com", "chatgpt.com"];
const AUTH_CLAIM: &str = "https://api.openai.com/auth";
const PROFILE_CLAIM: &str = "https://api.openai.com/profile";

pub struct HostCodexAuth {
    /// For the proxy only.
    pub access_token: Secret,
    /// The agent's `auth.json` (pretty, sorted keys).
    pub dummy: String,
}

/// Where the operator's login lives.
pub fn auth_path(host_home: &Path, codex_home: Option<&str>) -> PathBuf {
    let dir = match codex_home.filter(|h| !h.is_empty()) {
        Some(h) => h
            .strip_prefix("~/")
            .map_or_else(|| PathBuf::from(h), |rest| host_home.join(rest)),
        None => host_home.join(".codex"),
    };
    dir.join("auth.json")
}

/// Reads and checks the operator's login; `now` in Unix seconds,
/// `now_iso` for `last_refresh`.
pub fn load(path: &Path, now: u64, now_iso: &str) -> Result<HostCodexAuth, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(path, &format!("cannot read it: {e}")))?;
    from_json(&text, now, now_iso).map_err(|why| fail(path, &why))
}

fn fail(path: &Path, why: &str) -> String {
    format!(
        "agent_provider.forward_host_credentials: {}: {why}. Sign in on this machine with `codex login --device-auth`, or set `forward_host_credentials: false`",
        path.display()
    )
}

pub fn from_json(text: &str, now: u64, now_iso: &str) -> Result<HostCodexAuth, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(top) = v else {
        return Err("not a JSON object".into());
    };
    match top.get("auth_mode") {
        Some(Value::String(m)) if m == "api_key" || m == "apikey" => {
            return Err("it holds an API key, not a ChatGPT (user or device) login".into())
        }
        Some(Value::String(_)) | None => {}
        Some(_) => return Err("`auth_mode` is not a string".into()),
    }
    let Some(Value::Object(tokens)) = top.get("tokens") else {
        return Err("`tokens` is missing or not an object".into());
    };
    let access = match tokens.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => return Err("`tokens.access_token` is missing or empty".into()),
    };
    let claims = jwt_payload(&access).ok_or("`tokens.access_token` is not a JWT")?;
    let Some(exp) = claims.get("exp").and_then(Value::as_u64) else {
        return Err("`tokens.access_token` has no numeric `exp`".into());
    };
    if exp <= now {
        return Err("the access token has expired (restart the bottle after `codex login`)".into());
    }
    let mut out = Map::new();
    for (k, v) in &top {
        let nv = match k.as_str() {
            "auth_mode" => v.clone(),
            "OPENAI_API_KEY" => Value::Null,
            "last_refresh" => Value::String(now_iso.to_string()),
            "tokens" => Value::Object(dummy_tokens(tokens, &claims, exp)),
            _ => redact(v),
        };
        out.insert(k.clone(), nv);
    }
    out.entry("OPENAI_API_KEY").or_insert(Value::Null);
    out.insert("last_refresh".into(), Value::String(now_iso.to_string()));
    let dummy =
        serde_json::to_string_pretty(&sorted(Value::Object(out))).map_err(|e| e.to_string())?;
    Ok(HostCodexAuth {
        access_token: Secret::new(access),
        dummy: dummy + "\n",
    })
}

fn dummy_tokens(
    tokens: &Map<String, Value>,
    access: &Map<String, Value>,
    exp: u64,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in tokens {
        let nv = match k.as_str() {
            "access_token" => Value::String(dummy_jwt(access, exp)),
            "id_token" => {
                let claims = v.as_str().and_then(jwt_payload).unwrap_or_default();
                Value::String(dummy_jwt(&claims, exp))
            }
            "account_id" => v.clone(),
            _ => redact(v),
        };
        out.insert(k.clone(), nv);
    }
    out
}

/// `header.payload.placeholder`: unsigned, with redacted claims and the
/// real `exp` (Codex cannot refresh inside, so an earlier `exp` would drop
/// it to the sign-in screen).
fn dummy_jwt(claims: &Map<String, Value>, exp: u64) -> String {
    let mut c = Map::new();
    for (k, v) in claims {
        let nv = match k.as_str() {
            "email" => Value::String(PLACEHOLDER_EMAIL.into()),
            "email_verified" => Value::Bool(true),
            "exp" | "iat" | "nbf" | "auth_time" | "pwd_auth_time" => {
                if v.is_number() {
                    v.clone()
                } else {
                    Value::from(0)
                }
            }
            "aud" | "scp" | "amr" => {
                if v.is_array() {
                    v.clone()
                } else {
                    Value::Array(vec![])
                }
            }
            PROFILE_CLAIM => {
                serde_json::json!({"email": PLACEHOLDER_EMAIL, "email_verified": true})
            }
            AUTH_CLAIM => auth_claim(v),
            _ => redact(v),
        };
        c.insert(k.clone(), nv);
    }
    c.insert("exp".into(), Value::from(exp));
    c.entry("sub").or_insert(Value::String(PLACEHOLDER.into()));
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    format!(
        "{}.{}.placeholder",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(sorted(Value::Object(c)).to_string())
    )
}

fn auth_claim(v: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = v {
        for (k, v) in m {
            match (k.as_str(), v) {
                ("chatgpt_plan_type" | "chatgpt_account_id", Value::String(_))
                | (_, Value::Bool(_)) => {
                    out.insert(k.clone(), v.clone());
                }
                _ => {}
            }
        }
    }
    out.entry("chatgpt_plan_type")
        .or_insert(Value::String("unknown".into()));
    for k in ["user_id", "chatgpt_user_id", "chatgpt_account_id"] {
        out.entry(k).or_insert(Value::String(PLACEHOLDER.into()));
    }
    Value::Object(out)
}

/// Strings become the placeholder, objects `{}`, lists `[]`, numbers 0;
/// booleans and null stay.
fn redact(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::String(PLACEHOLDER.into()),
        Value::Object(_) => Value::Object(Map::new()),
        Value::Array(_) => Value::Array(vec![]),
        Value::Number(_) => Value::from(0),
        Value::Bool(_) | Value::Null => v.clone(),
    }
}

fn jwt_payload(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_, payload) = (parts.next()?, parts.next()?);
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        v => v,
    }
}

/// A host `auth.json` shaped like Codex's, for tests: an access token
/// (unsigned JWT) expiring at `exp`.
pub fn example_host_auth(access_secret: &str, exp: u64, account: &str) -> String {
    let jwt = |claims: Value| {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(access_secret)
        )
    };
    let auth = serde_json::json!({"chatgpt_plan_type": "plus", "chatgpt_account_id": account, "chatgpt_user_id": "user-real"});
    serde_json::json!({
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": jwt(serde_json::json!({"email": "operator@corp.example", "exp": exp, "sub": "real-sub", AUTH_CLAIM: auth})),
            "access_token": jwt(serde_json::json!({"exp": exp, "scp": ["openid"], "sub": "real-sub", AUTH_CLAIM: auth})),
            "refresh_token": format!("rt-{access_secret}"),
            "account_id": account,
        },
        "last_refresh": "2026-01-01T00:00:00.000Z",
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_keeps_the_shape_and_account_and_drops_every_secret() {
        let host = example_host_auth("SECRET-SIG", 2_000_000_000, "acct-1");
        let got = from_json(&host, 1_900_000_000, "2030-03-17T17:46:40.000Z").expect("valid");
        assert!(got.access_token.expose().contains('.'));
        assert!(
            !got.dummy.contains("SECRET")
                && !got.dummy.contains("operator@corp")
                && !got.dummy.contains("real-sub")
        );
        assert!(!got.dummy.contains(got.access_token.expose()));
        let v: Value = serde_json::from_str(&got.dummy).expect("json");
        assert_eq!(v["auth_mode"], "chatgpt");
        assert_eq!(v["OPENAI_API_KEY"], Value::Null);
        assert_eq!(v["last_refresh"], "2030-03-17T17:46:40.000Z");
        assert_eq!(v["tokens"]["account_id"], "acct-1");
        assert_eq!(v["tokens"]["refresh_token"], PLACEHOLDER);
        let access = v["tokens"]["access_token"].as_str().expect("jwt");
        assert!(access.ends_with(".placeholder"));
        let claims = jwt_payload(access).expect("claims");
        assert_eq!(claims["exp"], 2_000_000_000u64);
        assert_eq!(claims[AUTH_CLAIM]["chatgpt_account_id"], "acct-1");
        assert_eq!(claims[AUTH_CLAIM]["chatgpt_plan_type"], "plus");
        assert_eq!(claims[AUTH_CLAIM]["chatgpt_user_id"], PLACEHOLDER);
        let id = jwt_payload(v["tokens"]["id_token"].as_str().expect("jwt")).expect("claims");
        assert_eq!(id["email"], PLACEHOLDER_EMAIL);
        assert_eq!(id["sub"], PLACEHOLDER);
    }

    #[test]
    fn bad_logins_are_refused_with_the_reason() {
        let now = 1_900_000_000;
        for (text, why) in [
            ("nope".to_string(), "not valid JSON"),
            ("[]".to_string(), "not a JSON object"),
            (
                r#"{"auth_mode":"api_key","tokens":{}}"#.to_string(),
                "API key",
            ),
            (r#"{"auth_mode":"chatgpt"}"#.to_string(), "`tokens`"),
            (
                r#"{"tokens":{"access_token":""}}"#.to_string(),
                "access_token",
            ),
            (
                r#"{"tokens":{"access_token":"abc"}}"#.to_string(),
                "not a JWT",
            ),
            (example_host_auth("s", now - 1, "a"), "expired"),
        ] {
            let err = from_json(&text, now, "t").err().unwrap_or_default();
            assert!(err.contains(why), "{text}: {err}");
        }
        let err = load(Path::new("/nonexistent/auth.json"), now, "t")
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("/nonexistent/auth.json") && err.contains("codex login --device-auth"),
            "{err}"
        );
    }

    #[test]
    fn the_login_is_found_under_codex_home_or_the_home() {
        let home = Path::new("/home/op");
        assert_eq!(
            auth_path(home, None),
            PathBuf::from("/home/op/.codex/auth.json")
        );
        assert_eq!(
            auth_path(home, Some("")),
            PathBuf::from("/home/op/.codex/auth.json")
        );
        assert_eq!(
            auth_path(home, Some("~/cx")),
            PathBuf::from("/home/op/cx/auth.json")
        );
        assert_eq!(
            auth_path(home, Some("/srv/cx")),
            PathBuf::from("/srv/cx/auth.json")
        );
    }
}
