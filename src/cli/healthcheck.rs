//! `tessera healthcheck`: probes a running server's `/health/ready` with one plain HTTP/1.1 request
//! over a tokio `TcpStream` (no HTTP client dependency), so that a container image needs nothing
//! but the binary for its `HEALTHCHECK`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The whole probe (connect, write, read) must finish within this.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Enough for any status line; the body is not read.
const MAX_HEAD: usize = 8 * 1024;

/// The probe URL for a `listen` address: a wildcard address (`0.0.0.0`, `[::]`) is probed on loopback.
pub fn url_for_listen(listen: &str) -> String {
    let local = if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_string()
    };
    format!("http://{local}/health/ready")
}

/// `http://HOST:PORT[/PATH]` → (`HOST:PORT`, `/PATH`); a URL without a path probes `/health/ready`.
fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("healthcheck: only http:// URLs are supported: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if authority.is_empty() {
        anyhow::bail!("healthcheck: no host in {url}");
    }
    let path = if path.is_empty() || path == "/" {
        "/health/ready"
    } else {
        path
    };
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

/// Sends `GET` to `url` and returns the response's status code.
pub async fn probe(url: &str) -> anyhow::Result<u16> {
    let (authority, path) = split_url(url)?;
    tokio::time::timeout(TIMEOUT, exchange(&authority, &path))
        .await
        .map_err(|_| anyhow::anyhow!("healthcheck: {url} did not answer within {TIMEOUT:?}"))?
        .map_err(|e| anyhow::anyhow!("healthcheck: {url}: {e}"))
}

async fn exchange(authority: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(authority).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: tessera-healthcheck\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buffer.get(..n).unwrap_or_default());
    }
    parse_status(&head).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not an HTTP response".to_string(),
        )
    })
}

/// `HTTP/1.1 200 OK\r\n…` → 200.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split(' ');
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_probed_on_loopback() {
        assert_eq!(
            url_for_listen("0.0.0.0:9497"),
            "http://127.0.0.1:9497/health/ready"
        );
        assert_eq!(url_for_listen("[::]:80"), "http://[::1]:80/health/ready");
        assert_eq!(
            url_for_listen("10.0.0.5:9497"),
            "http://10.0.0.5:9497/health/ready"
        );
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        let split = |u: &str| split_url(u).expect("valid");
        assert_eq!(
            split("http://127.0.0.1:9497"),
            ("127.0.0.1:9497".into(), "/health/ready".into())
        );
        assert_eq!(
            split("http://localhost/status"),
            ("localhost:80".into(), "/status".into())
        );
        assert_eq!(
            split("http://[::1]:9497/"),
            ("[::1]:9497".into(), "/health/ready".into())
        );
        assert!(split_url("https://x").is_err());
        assert!(split_url("http:///x").is_err());
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }
}
