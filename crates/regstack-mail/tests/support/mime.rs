//! Just enough MIME to read what lettre sends: headers (unfolded, RFC 2047 words decoded),
//! `multipart/*` bodies, and the 7bit / 8bit / quoted-printable / base64 transfer encodings.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

#[derive(Debug, Clone)]
pub struct Entity {
    pub headers: Vec<(String, String)>,
    /// The raw (still transfer-encoded) body.
    pub raw_body: String,
}

impl Entity {
    pub fn parse(data: &str) -> Self {
        let data = data.replace("\r\n", "\n");
        let (head, body) = data.split_once("\n\n").unwrap_or((&data, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        Self {
            headers,
            raw_body: body.to_owned(),
        }
    }

    /// Every value of a header, case-insensitively, RFC 2047 words decoded.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| decode_words(v))
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.header_all(name).into_iter().next()
    }

    /// The media type, lower-cased, without parameters.
    pub fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or_else(|| "text/plain".to_owned())
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// A parameter of `Content-Type`.
    pub fn param(&self, name: &str) -> Option<String> {
        let ct = self.header("content-type")?;
        ct.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"').to_owned())
        })
    }

    /// The parts of a multipart body.
    pub fn parts(&self) -> Vec<Entity> {
        let boundary = self.param("boundary").expect("multipart without boundary");
        let delimiter = format!("--{boundary}");
        let mut parts = Vec::new();
        for chunk in self.raw_body.split(&delimiter).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            parts.push(Entity::parse(chunk.trim_start_matches('\n')));
        }
        parts
    }

    /// The body with its transfer encoding undone, as UTF-8.
    pub fn text(&self) -> String {
        let cte = self
            .header("content-transfer-encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let raw = self.raw_body.trim_end_matches('\n');
        match cte.as_str() {
            "base64" => {
                let joined: String = raw.split_whitespace().collect();
                String::from_utf8(B64.decode(joined).expect("base64 body")).expect("utf-8")
            }
            "quoted-printable" => quoted_printable(raw),
            _ => raw.to_owned(),
        }
    }
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => panic!("bad hex digit {b}"),
    }
}

fn quoted_printable(raw: &str) -> String {
    let mut out = Vec::new();
    let lines: Vec<&str> = raw.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_end_matches([' ', '\t']);
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let bytes = line.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            if bytes[j] == b'=' && j + 2 < bytes.len() {
                out.push(hex(bytes[j + 1]) * 16 + hex(bytes[j + 2]));
                j += 3;
            } else {
                out.push(bytes[j]);
                j += 1;
            }
        }
        if !soft && i + 1 < lines.len() {
            out.push(b'\n');
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// Decode RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); whitespace between
/// two words is dropped.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    loop {
        let Some(start) = rest.find("=?") else {
            out.push_str(rest);
            return out;
        };
        let mut fields = rest[start + 2..].splitn(3, '?');
        let (Some(charset), Some(encoding), Some(tail)) =
            (fields.next(), fields.next(), fields.next())
        else {
            out.push_str(rest);
            return out;
        };
        let Some(end) = tail.find("?=") else {
            out.push_str(rest);
            return out;
        };
        let between = &rest[..start];
        if !(after_word && between.trim().is_empty()) {
            out.push_str(between);
        }
        let text = &tail[..end];
        let decoded = if encoding.eq_ignore_ascii_case("b") {
            String::from_utf8(B64.decode(text).expect("b word")).expect("utf-8")
        } else {
            quoted_printable(&text.replace('_', " "))
        };
        out.push_str(&decoded);
        after_word = true;
        rest = &rest[start + 2 + charset.len() + 1 + encoding.len() + 1 + end + 2..];
    }
}
