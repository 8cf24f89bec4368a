//! Connecting to the Docker Engine API (or Podman's compatible socket)
//! through bollard: `DOCKER_HOST` honoured, API version negotiated, a
//! timeout on every call.

use bollard::Docker;
use std::time::Duration;

/// Every engine call is bounded by this unless it streams.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the container engine ({0}); is dockerd running, or DOCKER_HOST set?")]
    Connect(String),
    #[error("the container engine did not answer within {0:?}")]
    Timeout(Duration),
    #[error("engine: {0}")]
    Api(#[from] bollard::errors::Error),
}

/// Runs one engine call with the standard timeout.
pub async fn timed<T, F>(fut: F) -> Result<T, EngineError>
where
    F: std::future::Future<Output = Result<T, bollard::errors::Error>>,
{
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(r) => r.map_err(EngineError::from),
        Err(_) => Err(EngineError::Timeout(CALL_TIMEOUT)),
    }
}

pub async fn connect() -> Result<Docker, EngineError> {
    let docker =
        Docker::connect_with_local_defaults().map_err(|e| EngineError::Connect(e.to_string()))?;
    match tokio::time::timeout(CALL_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(EngineError::Connect(e.to_string())),
        Err(_) => Err(EngineError::Timeout(CALL_TIMEOUT)),
    }
}
