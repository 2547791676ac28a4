//! The HTTP side: a tiny_http server on worker threads, requests and responses as plain
//! values, and a stop switch.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request body read.
const MAX_BODY: u64 = 8 << 20;
/// Worker threads.
const WORKERS: usize = 4;

/// A request.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path without the query, percent-decoded.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The raw query (after `?`), for hrefs.
    pub raw_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// A header's value (first, case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// A query parameter's (decoded) value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// A numeric query parameter (`default` when absent); `None` when it is not a number in
    /// `allowed`, for the caller to answer with its own error.
    pub fn number_param(
        &self,
        name: &str,
        default: u64,
        allowed: std::ops::RangeInclusive<u64>,
    ) -> Option<u64> {
        match self.param(name) {
            None => Some(default),
            Some(v) => v.parse().ok(),
        }
        .filter(|n| allowed.contains(n))
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// A response with a body and content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }
    /// No content.
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: vec![],
        }
    }
    /// Adds a header.
    pub fn with(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// Percent-decodes (`+` is a space, as servlet containers decode query strings).
pub fn decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 3 <= b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a query string into decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k, true), decode(v, true)),
            None => (decode(p, true), String::new()),
        })
        .collect()
}

/// A running server.
pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

type Handler = Arc<dyn Fn(Req) -> Resp + Send + Sync>;

impl Server {
    /// Listens on `addr` (`127.0.0.1:0` for a free port) and serves with `handler`.
    pub fn start(addr: &str, handler: Handler) -> Result<Server, String> {
        let http =
            tiny_http::Server::http(addr).map_err(|e| format!("listening on {addr}: {e}"))?;
        let port = http
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or("not an IP listener")?;
        let http = Arc::new(http);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = vec![];
        for n in 0..WORKERS {
            let (http, stop, handler) = (http.clone(), stop.clone(), handler.clone());
            let t = std::thread::Builder::new()
                .name(format!("vcd-sim-{n}"))
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match http.recv_timeout(Duration::from_millis(100)) {
                            Ok(Some(rq)) => serve(rq, &handler),
                            Ok(None) => {}
                            Err(_) => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                })
                .map_err(|e| format!("spawning a server thread: {e}"))?;
            threads.push(t);
        }
        Ok(Server {
            port,
            stop,
            threads,
        })
    }

    /// Stops and joins the workers.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(mut rq: tiny_http::Request, handler: &Handler) {
    let url = rq.url().to_owned();
    let (path, raw_query) = match url.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (url.clone(), String::new()),
    };
    let headers = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_owned(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let mut body = vec![];
    let _ = rq.as_reader().take(MAX_BODY).read_to_end(&mut body);
    let req = Req {
        method: rq.method().as_str().to_uppercase(),
        path: decode(&path, false),
        query: parse_query(&raw_query),
        raw_query,
        headers,
        body,
    };
    let resp = handler(req);
    let mut r = tiny_http::Response::from_data(resp.body).with_status_code(resp.status);
    for (k, v) in &resp.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            r.add_header(h);
        }
    }
    let _ = rq.respond(r);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(decode("a%20b+c%5C%28", true), "a b c\\(");
        assert_eq!(decode("100%", true), "100%");
        assert_eq!(decode("%4", true), "%4");
        assert_eq!(
            parse_query("type=adminVApp&filter=name==x%3By&page=1"),
            vec![
                ("type".into(), "adminVApp".into()),
                ("filter".into(), "name==x;y".into()),
                ("page".into(), "1".into())
            ]
        );
    }
}
