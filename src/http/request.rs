//! An HTTP/1.x request head, parsed: the method, the path, and whether the
//! connection stays open after the answer. Nothing else is needed to serve
//! read-only pages, so headers are only checked for shape (and for a body,
//! which is refused). Bare LF line ends are accepted, as most servers do.

/// A request rinit answers.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// HEAD: the answer's head only.
    pub head_only: bool,
    /// The path, without its query.
    pub path: String,
    /// HTTP/1.1 without `Connection: close`, or HTTP/1.0 with
    /// `Connection: keep-alive`.
    pub keep_alive: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not the whole head yet.
    Incomplete,
    /// A request, and the length of its head in the input.
    Request(Request, usize),
    /// The status line of the answer to a bad request.
    Bad(&'static str),
}

/// The first request head in `input`.
pub fn parse(input: &[u8]) -> Parsed {
    let Some((head, length)) = head_of(input) else {
        return Parsed::Incomplete;
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return Parsed::Bad("400 Bad Request");
    };
    let mut lines = head
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Bad("400 Bad Request");
    };
    let http_1_1 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ if version.starts_with("HTTP/") => return Parsed::Bad("505 HTTP Version Not Supported"),
        _ => return Parsed::Bad("400 Bad Request"),
    };
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) || !is_token(method) {
        return Parsed::Bad("400 Bad Request");
    }
    let (close, keep) = match connection_options(lines) {
        Ok(options) => options,
        Err(status) => return Parsed::Bad(status),
    };
    let request = match method {
        "GET" | "HEAD" => Request {
            head_only: method == "HEAD",
            path: target.split('?').next().unwrap_or(target).to_string(),
            keep_alive: if http_1_1 { !close } else { keep && !close },
        },
        _ => return Parsed::Bad("405 Method Not Allowed"),
    };
    Parsed::Request(request, length)
}

/// Whether the headers ask for `close` and for `keep-alive`; a header
/// that is not one, or a body, is a bad request.
fn connection_options<'a>(lines: impl Iterator<Item = &'a str>) -> Result<(bool, bool), &'static str> {
    let (mut close, mut keep) = (false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err("400 Bad Request");
        };
        if !is_token(name) {
            return Err("400 Bad Request");
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                close |= option.eq_ignore_ascii_case("close");
                keep |= option.eq_ignore_ascii_case("keep-alive");
            }
        }
        let body = (name.eq_ignore_ascii_case("content-length") && value != "0")
            || name.eq_ignore_ascii_case("transfer-encoding");
        if body {
            return Err("400 Bad Request");
        }
    }
    Ok((close, keep))
}

/// The head (without its blank line) and the length with it.
fn head_of(input: &[u8]) -> Option<(&[u8], usize)> {
    let end = input.windows(2).position(|w| w == b"\n\n" || w == b"\n\r")?;
    let (head, blank) = input.split_at_checked(end)?;
    match blank {
        [b'\n', b'\r', b'\n', ..] => Some((head, end.saturating_add(3))),
        [b'\n', b'\n', ..] => Some((head, end.saturating_add(2))),
        [_, _, _, ..] => None, // "\n\r" then not "\n": no blank line
        _ => None,             // "\n\r" at the end: wait for the "\n"
    }
}

/// A token (RFC 9110): what a method or a header name is made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, keep_alive: bool, length: usize) -> Parsed {
        Parsed::Request(
            Request {
                head_only: false,
                path: path.into(),
                keep_alive,
            },
            length,
        )
    }

    #[test]
    fn requests_and_their_connection() {
        let get = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\nGET /";
        assert_eq!(parse(get), request("/metrics", true, get.len() - 5));
        assert_eq!(
            parse(b"GET /status?x=1 HTTP/1.1\n\n"),
            request("/status", true, 26)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            request("/", false, 37)
        );
        assert_eq!(parse(b"GET / HTTP/1.0\r\n\r\n"), request("/", false, 18));
        assert_eq!(
            parse(b"GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n"),
            request("/", true, 42)
        );
        let head = parse(b"HEAD /livez HTTP/1.1\r\n\r\n");
        assert!(
            matches!(head, Parsed::Request(Request { head_only: true, .. }, 24)),
            "{head:?}"
        );
        for partial in [
            &b""[..],
            b"GET / HTTP/1.1\r\n",
            b"GET / HTTP/1.1\r\n\r",
            b"GET / HTTP/1.1\r\nHost: x\r\n",
        ] {
            assert_eq!(parse(partial), Parsed::Incomplete, "{partial:?}");
        }
    }

    #[test]
    fn bad_requests_get_their_status() {
        for (input, status) in [
            (&b"\x16\x03\x01\x02\x00\n\n"[..], "400 Bad Request"),
            (b"GET /\n\n", "400 Bad Request"),
            (b"GET  / HTTP/1.1\n\n", "400 Bad Request"),
            (b"GET http://x/ HTTP/1.1\n\n", "400 Bad Request"),
            (b"GET / HTTP/2.0\n\n", "505 HTTP Version Not Supported"),
            (
                b"POST / HTTP/1.1\nContent-Length: 0\n\n",
                "405 Method Not Allowed",
            ),
            (b"GET / HTTP/1.1\nContent-Length: 5\n\n", "400 Bad Request"),
            (
                b"GET / HTTP/1.1\nTransfer-Encoding: chunked\n\n",
                "400 Bad Request",
            ),
            (b"GET / HTTP/1.1\nno colon\n\n", "400 Bad Request"),
            (b"GET / HTTP/1.1\n: empty name\n\n", "400 Bad Request"),
            (b"GET /\xff HTTP/1.1\n\n", "400 Bad Request"),
        ] {
            assert_eq!(parse(input), Parsed::Bad(status), "{input:?}");
        }
    }
}
