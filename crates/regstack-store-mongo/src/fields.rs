//! Conversions between domain values and BSON: millisecond dates, ObjectId ids, and a lenient
//! reader over fetched documents.

use chrono::{DateTime, Utc};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{self, Bson, Document};
use regstack_core::store::{StoreError, StoreResult};

/// `t` as a BSON date: truncated to the millisecond (BSON dates keep no more).
pub(crate) fn date(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

/// `t` as a BSON date rounded *up* to the millisecond: for a bulk-revocation cutoff, so that a
/// token issued in the same millisecond before it (its `iat` keeps microseconds) is still at
/// or before the stored cutoff.
pub(crate) fn date_up(t: DateTime<Utc>) -> bson::DateTime {
    let ms = t.timestamp_millis();
    let exact = DateTime::from_timestamp_millis(ms) == Some(t);
    bson::DateTime::from_millis(if exact { ms } else { ms.saturating_add(1) })
}

/// `t` truncated to the millisecond, as it comes back from the database.
pub(crate) fn millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// An id given by a caller as an ObjectId; `None` for any other format (not found, no-op).
pub(crate) fn object_id(id: &str) -> Option<ObjectId> {
    ObjectId::parse_str(id).ok()
}

/// Insert `key: value` when the value is present (null fields are omitted on insert).
pub(crate) fn put_opt(doc: &mut Document, key: &str, value: Option<impl Into<Bson>>) {
    if let Some(v) = value {
        doc.insert(key, v.into());
    }
}

/// `value` or an explicit `null` (for `$set` of a cleared field).
pub(crate) fn or_null(value: Option<impl Into<Bson>>) -> Bson {
    value.map_or(Bson::Null, Into::into)
}

/// A fetched document, read field by field; a field of the wrong type is
/// [`StoreError::Corrupt`] naming the entity and field. Extra fields are ignored.
pub(crate) struct Fields<'a> {
    doc: &'a Document,
    what: &'static str,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(doc: &'a Document, what: &'static str) -> Self {
        Self { doc, what }
    }

    fn corrupt(&self, key: &str, problem: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("{} field {key}: {problem}", self.what))
    }

    /// The value, treating `null` as absent.
    fn value(&self, key: &str) -> Option<&'a Bson> {
        self.doc.get(key).filter(|v| !matches!(v, Bson::Null))
    }

    fn required(&self, key: &str) -> StoreResult<&'a Bson> {
        self.value(key).ok_or_else(|| self.corrupt(key, "missing"))
    }

    /// `_id` as a string: the 24-hex form of an ObjectId, or a string id as is.
    pub(crate) fn id(&self) -> StoreResult<String> {
        match self.required("_id")? {
            Bson::ObjectId(oid) => Ok(oid.to_hex()),
            Bson::String(s) => Ok(s.clone()),
            other => {
                Err(self.corrupt("_id", format_args!("unexpected {:?}", other.element_type())))
            }
        }
    }

    pub(crate) fn string(&self, key: &str) -> StoreResult<String> {
        match self.required(key)? {
            Bson::String(s) => Ok(s.clone()),
            other => Err(self.corrupt(
                key,
                format_args!("expected a string, found {:?}", other.element_type()),
            )),
        }
    }

    /// A string that may be missing or `null`.
    pub(crate) fn opt_string(&self, key: &str) -> StoreResult<Option<String>> {
        self.value(key).map(|_| self.string(key)).transpose()
    }

    /// A boolean; missing or `null` reads as `default` (the model default of 0.9.3).
    pub(crate) fn bool_or(&self, key: &str, default: bool) -> StoreResult<bool> {
        match self.value(key) {
            None => Ok(default),
            Some(Bson::Boolean(b)) => Ok(*b),
            Some(other) => Err(self.corrupt(
                key,
                format_args!("expected a boolean, found {:?}", other.element_type()),
            )),
        }
    }

    pub(crate) fn date(&self, key: &str) -> StoreResult<DateTime<Utc>> {
        match self.required(key)? {
            Bson::DateTime(d) => DateTime::from_timestamp_millis(d.timestamp_millis())
                .ok_or_else(|| self.corrupt(key, "date out of range")),
            other => Err(self.corrupt(
                key,
                format_args!("expected a date, found {:?}", other.element_type()),
            )),
        }
    }

    /// A date that may be missing or `null`.
    pub(crate) fn opt_date(&self, key: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.value(key).map(|_| self.date(key)).transpose()
    }

    /// An integer stored as int32, int64 or an integral double (as other drivers may write it).
    pub(crate) fn int64(&self, key: &str) -> StoreResult<i64> {
        match self.required(key)? {
            Bson::Int32(n) => Ok(i64::from(*n)),
            Bson::Int64(n) => Ok(*n),
            Bson::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
            other => Err(self.corrupt(key, format_args!("expected an integer, found {other}"))),
        }
    }

    pub(crate) fn int32(&self, key: &str) -> StoreResult<i32> {
        let n = self.int64(key)?;
        i32::try_from(n).map_err(|_| self.corrupt(key, format_args!("{n} out of range")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn cutoffs_round_up_to_millis() {
        let t = DateTime::from_timestamp(1_777_629_600, 123_456_000).unwrap();
        assert_eq!(date_up(t).timestamp_millis(), 1_777_629_600_124);
        let exact = DateTime::from_timestamp(1_777_629_600, 123_000_000).unwrap();
        assert_eq!(date_up(exact).timestamp_millis(), 1_777_629_600_123);
        let before_epoch = DateTime::from_timestamp(-1, 999_999_000).unwrap();
        assert_eq!(date_up(before_epoch).timestamp_millis(), 0);
    }

    #[test]
    fn dates_truncate_to_millis() {
        let t = DateTime::from_timestamp(1_777_629_600, 123_456_789).unwrap();
        assert_eq!(date(t).timestamp_millis(), 1_777_629_600_123);
        assert_eq!(
            millis(t),
            DateTime::from_timestamp(1_777_629_600, 123_000_000).unwrap()
        );
        let before_epoch = DateTime::from_timestamp(-1, 999_999_000).unwrap();
        assert_eq!(
            millis(before_epoch),
            DateTime::from_timestamp(-1, 999_000_000).unwrap()
        );
    }

    #[test]
    fn object_ids() {
        assert!(object_id("507f1f77bcf86cd799439011").is_some());
        for foreign in [
            "0123456789abcdef0123456789abcdef",
            "not-an-id",
            "",
            "507f1f77bcf86cd79943901z",
        ] {
            assert!(object_id(foreign).is_none(), "{foreign}");
        }
    }

    #[test]
    fn lenient_reads() {
        let d = doc! { "_id": "state", "n": 3_i64, "f": 4.0, "nul": null, "s": "x", "b": true };
        let f = Fields::new(&d, "thing");
        assert_eq!(f.id().unwrap(), "state");
        assert_eq!(f.int32("n").unwrap(), 3);
        assert_eq!(f.int32("f").unwrap(), 4);
        assert_eq!(f.opt_string("nul").unwrap(), None);
        assert_eq!(f.opt_string("absent").unwrap(), None);
        assert!(f.bool_or("absent", true).unwrap());
        assert!(f.bool_or("b", false).unwrap());
        assert!(
            matches!(f.string("b"), Err(StoreError::Corrupt(m)) if m == "thing field b: expected a string, found Boolean")
        );
        assert!(matches!(f.date("s"), Err(StoreError::Corrupt(_))));
        assert!(
            matches!(f.string("absent"), Err(StoreError::Corrupt(m)) if m.ends_with("missing"))
        );
    }
}
