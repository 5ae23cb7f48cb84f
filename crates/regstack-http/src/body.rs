//! Request bodies the way FastAPI reads them: content-type rules, the `json_invalid` /
//! `missing` / `model_attributes_type` errors, and field validation that produces the
//! pydantic-style 422 envelope (regstack 0.9.3's HTTP contract). A front end reads the body
//! (refusing more than `max_body_bytes` with [`ApiError::PayloadTooLarge`]) and hands the bytes
//! and the `Content-Type` to [`JsonBody::parse`].

use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// One entry of the 422 `detail` list.
#[derive(Debug, Clone)]
pub struct ValidationItem {
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    pub input: Value,
    pub ctx: Option<Value>,
}

impl ValidationItem {
    /// The JSON form (keys `type, loc, msg, input[, ctx]`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::from(self.kind));
        m.insert("loc".into(), Value::Array(self.loc.clone()));
        m.insert("msg".into(), Value::from(self.msg.clone()));
        m.insert("input".into(), self.input.clone());
        if let Some(ctx) = &self.ctx {
            m.insert("ctx".into(), ctx.clone());
        }
        Value::Object(m)
    }
}

fn body_item(kind: &'static str, msg: &str, input: Value) -> ValidationItem {
    ValidationItem {
        kind,
        loc: vec![Value::from("body")],
        msg: msg.to_owned(),
        input,
        ctx: None,
    }
}

/// A request body read and parsed as JSON, not yet validated. `None` when the body is empty.
#[derive(Debug)]
pub struct JsonBody(pub Option<Value>);

fn is_json_content_type(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Character offset of a serde_json error position (1-based line / column).
fn char_offset(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line {
            let col_bytes = column.saturating_sub(1).min(l.len());
            let mut idx = col_bytes;
            while !l.is_char_boundary(idx) {
                idx -= 1;
            }
            return offset + l[..idx].chars().count();
        }
        offset += l.chars().count() + 1;
    }
    offset
}

/// Python's position for a document that ends too early: the end of the text, or the
/// opening quote of a string that is never closed ("Unterminated string starting at").
fn eof_offset(text: &str) -> usize {
    let mut open = None;
    let mut escaped = false;
    for (i, c) in text.chars().enumerate() {
        match (open, c) {
            (None, '"') => open = Some(i),
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(_), '"') => open = None,
            _ => {}
        }
    }
    open.unwrap_or_else(|| text.chars().count())
}

impl JsonBody {
    /// Parse a request body read in full: an empty body or JSON `null` is no body; a body
    /// whose `Content-Type` is present and not JSON goes to validation as text (refused there
    /// as a non-object); malformed JSON is a 422 `json_invalid` at Python's position.
    pub fn parse(content_type: Option<&http::HeaderValue>, bytes: &[u8]) -> Result<Self, ApiError> {
        if let Some(ct) = content_type
            && !is_json_content_type(ct.to_str().unwrap_or("\u{0}"))
        {
            if bytes.is_empty() {
                return Ok(JsonBody(None));
            }
            // Not JSON: the raw text goes to validation, which refuses it as a non-object.
            return Ok(JsonBody(Some(Value::from(
                String::from_utf8_lossy(bytes).into_owned(),
            ))));
        }
        if bytes.is_empty() {
            return Ok(JsonBody(None));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Null) => Ok(JsonBody(None)),
            Ok(v) => Ok(JsonBody(Some(v))),
            Err(e) => {
                let text = String::from_utf8_lossy(bytes);
                let pos = if e.is_eof() {
                    eof_offset(&text)
                } else {
                    char_offset(&text, e.line(), e.column())
                };
                let message = e.to_string();
                let message = message
                    .rsplit_once(" at line ")
                    .map_or(message.as_str(), |(m, _)| m)
                    .to_owned();
                Err(ApiError::Validation(vec![ValidationItem {
                    kind: "json_invalid",
                    loc: vec![Value::from("body"), Value::from(pos)],
                    msg: "JSON decode error".into(),
                    input: json!({}),
                    ctx: Some(json!({ "error": message })),
                }]))
            }
        }
    }
}

/// A request schema: reads its fields from a JSON object, recording every error.
pub trait Schema: Sized {
    /// The declared field names (anything else is `extra_forbidden`).
    const FIELDS: &'static [&'static str];
    /// Read the fields; `None` when any error was recorded.
    fn read(f: &mut Fields<'_>) -> Option<Self>;
}

/// Validate a parsed body against a schema (the body is required).
pub fn validate<T: Schema>(body: JsonBody) -> Result<T, ApiError> {
    let Some(value) = body.0 else {
        return Err(ApiError::Validation(vec![body_item(
            "missing",
            "Field required",
            Value::Null,
        )]));
    };
    let Value::Object(obj) = &value else {
        return Err(ApiError::Validation(vec![body_item(
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
            value.clone(),
        )]));
    };
    let mut f = Fields {
        obj,
        errors: Vec::new(),
    };
    let out = T::read(&mut f);
    for (k, v) in obj {
        if !T::FIELDS.contains(&k.as_str()) {
            f.errors.push(ValidationItem {
                kind: "extra_forbidden",
                loc: vec![Value::from("body"), Value::from(k.clone())],
                msg: "Extra inputs are not permitted".into(),
                input: v.clone(),
                ctx: None,
            });
        }
    }
    match out {
        Some(v) if f.errors.is_empty() => Ok(v),
        _ => Err(ApiError::Validation(f.errors)),
    }
}

/// Field reader handed to [`Schema::read`].
#[derive(Debug)]
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<ValidationItem>,
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "character" } else { "characters" }
}

impl Fields<'_> {
    fn push(
        &mut self,
        kind: &'static str,
        name: &str,
        msg: String,
        input: Value,
        ctx: Option<Value>,
    ) {
        self.errors.push(ValidationItem {
            kind,
            loc: vec![Value::from("body"), Value::from(name)],
            msg,
            input,
            ctx,
        });
    }

    fn required(&mut self, name: &str) -> Option<&Value> {
        match self.obj.get(name) {
            Some(v) => Some(v),
            None => {
                let whole = Value::Object(self.obj.clone());
                self.push("missing", name, "Field required".into(), whole, None);
                None
            }
        }
    }

    fn as_string(&mut self, name: &str, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            other => {
                self.push(
                    "string_type",
                    name,
                    "Input should be a valid string".into(),
                    other.clone(),
                    None,
                );
                None
            }
        }
    }

    fn check_len(&mut self, name: &str, s: String, min: usize, max: usize) -> Option<String> {
        let n = s.chars().count();
        if n < min {
            self.push(
                "string_too_short",
                name,
                format!("String should have at least {min} {}", plural(min)),
                Value::from(s),
                Some(serde_json::json!({ "min_length": min })),
            );
            return None;
        }
        if n > max {
            self.push(
                "string_too_long",
                name,
                format!("String should have at most {max} {}", plural(max)),
                Value::from(s),
                Some(serde_json::json!({ "max_length": max })),
            );
            return None;
        }
        Some(s)
    }

    /// A required string of any length.
    pub fn string(&mut self, name: &str) -> Option<String> {
        let v = self.required(name)?.clone();
        self.as_string(name, &v)
    }

    /// A required string of `min..=max` code points.
    pub fn string_len(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        let s = self.string(name)?;
        self.check_len(name, s, min, max)
    }

    /// A password: 8–128 code points.
    pub fn password(&mut self, name: &str) -> Option<String> {
        self.string_len(
            name,
            regstack_core::PASSWORD_MIN_CHARS,
            regstack_core::PASSWORD_MAX_CHARS,
        )
    }

    /// A new password: 8–128 code points ([`regstack_core::NewPassword`]).
    pub fn new_password(&mut self, name: &str) -> Option<regstack_core::NewPassword> {
        // The length was checked by `password`, with the 422 items of 0.9.3.
        self.password(name)
            .and_then(|s| regstack_core::NewPassword::try_from(s).ok())
    }

    /// A required email, normalised ([`regstack_core::EmailAddress`]).
    pub fn email(&mut self, name: &str) -> Option<regstack_core::EmailAddress> {
        let s = self.string(name)?;
        match regstack_core::EmailAddress::try_from(s.as_str()) {
            Ok(e) => Some(e),
            Err(reason) => {
                self.push(
                    "value_error",
                    name,
                    format!("value is not a valid email address: {reason}"),
                    Value::from(s),
                    Some(serde_json::json!({ "reason": reason.0 })),
                );
                None
            }
        }
    }

    /// An optional nullable boolean (`true`/`false` only): `None` when absent or null.
    pub fn optional_bool(&mut self, name: &str) -> Option<Option<bool>> {
        match self.obj.get(name).cloned() {
            None | Some(Value::Null) => Some(None),
            Some(Value::Bool(b)) => Some(Some(b)),
            Some(other) => {
                self.push(
                    "bool_type",
                    name,
                    "Input should be a valid boolean".into(),
                    other,
                    None,
                );
                None
            }
        }
    }

    /// The optional nullable `full_name`: at most [`regstack_core::FULL_NAME_MAX_CHARS`] code
    /// points, without control or bidirectional formatting characters.
    pub fn full_name(&mut self, name: &str) -> Option<Option<Option<String>>> {
        let value = self.optional_string(name, regstack_core::FULL_NAME_MAX_CHARS)?;
        if let Some(Some(text)) = &value
            && let Some(reason) = regstack_core::full_name_problem(text)
        {
            let mut item = crate::error::full_name_item(reason, Value::from(text.clone()));
            item.loc = vec![Value::from("body"), Value::from(name)];
            self.errors.push(item);
            return None;
        }
        Some(value)
    }

    /// An optional nullable string of at most `max` code points: `None` when absent,
    /// `Some(None)` for an explicit `null`.
    pub fn optional_string(&mut self, name: &str, max: usize) -> Option<Option<Option<String>>> {
        match self.obj.get(name).cloned() {
            None => Some(None),
            Some(Value::Null) => Some(Some(None)),
            Some(v) => {
                let s = self.as_string(name, &v)?;
                let s = self.check_len(name, s, 0, max)?;
                Some(Some(Some(s)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters() {
        assert_eq!(char_offset("{\"a\": x}", 1, 7), 6);
        assert_eq!(char_offset("{\n\"é\": x}", 2, 7), 7);
        assert_eq!(eof_offset("{\"a\": 1 "), 8);
        assert_eq!(eof_offset("{\"é\": \"x\\\"y"), 6);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    }
}

/// Query-string integers the way FastAPI validates them (`loc: ["query", name]`).
#[derive(Debug)]
pub struct Query {
    pairs: Vec<(String, String)>,
    errors: Vec<ValidationItem>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    /// Parse a raw query string.
    pub fn new(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Self {
            pairs,
            errors: Vec::new(),
        }
    }

    /// An integer parameter with a default and inclusive bounds.
    pub fn int(&mut self, name: &str, default: i64, min: i64, max: Option<i64>) -> i64 {
        let Some((_, raw)) = self.pairs.iter().rev().find(|(k, _)| k == name) else {
            return default;
        };
        let raw = raw.clone();
        let loc = vec![Value::from("query"), Value::from(name)];
        let Ok(v) = raw.trim().parse::<i64>() else {
            self.errors.push(ValidationItem {
                kind: "int_parsing",
                loc,
                msg: "Input should be a valid integer, unable to parse string as an integer".into(),
                input: Value::from(raw),
                ctx: None,
            });
            return default;
        };
        if v < min {
            self.errors.push(ValidationItem {
                kind: "greater_than_equal",
                loc,
                msg: format!("Input should be greater than or equal to {min}"),
                input: Value::from(raw),
                ctx: Some(json!({ "ge": min })),
            });
        } else if let Some(max) = max
            && v > max
        {
            self.errors.push(ValidationItem {
                kind: "less_than_equal",
                loc,
                msg: format!("Input should be less than or equal to {max}"),
                input: Value::from(raw),
                ctx: Some(json!({ "le": max })),
            });
        }
        v
    }

    /// The collected errors as a 422, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}
