//! Readers for the fields of a parsed body. A reader that meets a bad value
//! records a [`FieldError`] under the field's JSON pointer and returns
//! `None` instead of stopping, so that a sender learns every problem of a
//! body from one answer.

use dorado_core::{
    FieldError, ServiceDirectory, ServiceId, ServiceRef, Timestamp, ValidationError,
};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::rc::Rc;

/// Titles, names and ids of other systems.
pub(crate) const MAX_SHORT: usize = 1_000;
/// Commit messages and descriptions.
pub(crate) const MAX_LONG: usize = 10_000;
/// A batch of bad events could otherwise answer with megabytes of errors.
const MAX_ERRORS: usize = 100;

#[derive(Debug, Default)]
pub(crate) struct Errors {
    list: Vec<FieldError>,
    more: usize,
}

impl Errors {
    pub(crate) fn add(&mut self, pointer: impl AsRef<str>, detail: impl Into<String>) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(FieldError::new(pointer.as_ref(), detail));
        } else {
            self.more += 1;
        }
    }

    /// How many problems were found so far.
    pub(crate) fn len(&self) -> usize {
        self.list.len() + self.more
    }

    /// The value read, unless a problem was recorded on the way.
    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, ValidationError> {
        let mut errors = self.list;
        if self.more > 0 {
            errors.push(FieldError::new(
                "",
                format!("and {} more problems", self.more),
            ));
        }
        match value {
            Some(v) if errors.is_empty() => Ok(v),
            // Every reader that gives up records why; this is a safety net.
            _ if errors.is_empty() => Err(ValidationError::single("", "could not be read")),
            _ => Err(ValidationError { errors }),
        }
    }
}

/// Quotes a sender's value in a message, cut short when long.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        format!("'{s}'")
    } else {
        format!("'{}...'", s.chars().take(MAX).collect::<String>())
    }
}

/// RFC 6901: `~` and `/` inside a key are escaped.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// An object of the body and the pointer to it.
#[derive(Debug, Clone)]
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    /// Shared with its fields, which spell out their own pointer only for
    /// an error: an import reads millions of fields and reports few.
    at: Rc<str>,
}

impl<'a> Obj<'a> {
    /// `what` completes "must be ...": "a JSON object", "an event object".
    pub(crate) fn new(v: &'a Value, at: String, what: &str, errs: &mut Errors) -> Option<Self> {
        match v {
            Value::Object(map) => Some(Self { map, at: at.into() }),
            _ => {
                errs.add(&at, format!("must be {what}"));
                None
            }
        }
    }

    pub(crate) fn at(&self) -> &str {
        &self.at
    }

    pub(crate) fn ptr(&self, key: &str) -> String {
        format!("{}/{}", self.at, escape(key))
    }

    /// Present and not null.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    /// Whether the sender writes keys in camelCase.
    pub(crate) fn is_camel_case(&self) -> bool {
        self.map
            .keys()
            .any(|k| k.bytes().any(|b| b.is_ascii_uppercase()))
    }

    pub(crate) fn field(&self, key: &str) -> Field<'a> {
        // A present field names itself with the body's own key.
        let (key, value) = match self.map.get_key_value(key) {
            Some((k, v)) => (
                Key::Name(Cow::Borrowed(k.as_str())),
                Some(v).filter(|v| !v.is_null()),
            ),
            None => (Key::Name(Cow::Owned(key.to_owned())), None),
        };
        Field {
            parent: self.at.clone(),
            key,
            value,
            required: false,
        }
    }

    /// The field under whichever spelling the sender used. Two spellings
    /// at once are refused: they might disagree, and neither would be
    /// obviously meant.
    pub(crate) fn either(&self, keys: &[&str], errs: &mut Errors) -> Field<'a> {
        let mut given: Vec<&str> = keys.iter().copied().filter(|k| self.has(k)).collect();
        given.dedup();
        if let [first, second, ..] = given.as_slice() {
            errs.add(
                self.ptr(second),
                format!("give only one of {first} and {second}"),
            );
        }
        let key = given.first().or(keys.first()).copied().unwrap_or_default();
        self.field(key)
    }
}

/// One field of an object (or an item of an array): where it is, and its
/// value unless absent or null.
#[derive(Debug, Clone)]
pub(crate) struct Field<'a> {
    /// The pointer of the object or array holding it.
    parent: Rc<str>,
    key: Key<'a>,
    value: Option<&'a Value>,
    required: bool,
}

/// Where a field is in its parent.
#[derive(Debug, Clone)]
enum Key<'a> {
    /// The body's own key when the field is present, the asked one if not.
    Name(Cow<'a, str>),
    Index(usize),
}

impl<'a> Field<'a> {
    /// Absent, null and blank values become "is required" errors.
    pub(crate) fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The field's JSON pointer.
    pub(crate) fn ptr(&self) -> String {
        match &self.key {
            Key::Name(name) => format!("{}/{}", self.parent, escape(name)),
            Key::Index(i) => format!("{}/{i}", self.parent),
        }
    }

    pub(crate) fn is_present(&self) -> bool {
        self.value.is_some()
    }

    fn missing<T>(&self, errs: &mut Errors) -> Option<T> {
        if self.required {
            errs.add(self.ptr(), "is required");
        }
        None
    }

    fn fail<T>(&self, errs: &mut Errors, detail: impl Into<String>) -> Option<T> {
        errs.add(self.ptr(), detail);
        None
    }

    /// The value as sent.
    pub(crate) fn value(&self, errs: &mut Errors) -> Option<&'a Value> {
        self.value.or_else(|| self.missing(errs))
    }

    /// A trimmed string (or, with `numbers`, an integer written as one).
    /// A blank string is treated as absent: DevLake's own samples send `""`
    /// for fields they leave out.
    fn str(&self, numbers: bool, errs: &mut Errors) -> Option<String> {
        let s = match self.value(errs)? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) if numbers && (n.is_i64() || n.is_u64()) => n.to_string(),
            _ => return self.fail(errs, "must be a string"),
        };
        if s.is_empty() {
            if self.required {
                return self.fail(errs, "must not be empty");
            }
            return None;
        }
        Some(s)
    }

    fn limited(&self, s: String, max: usize, errs: &mut Errors) -> Option<String> {
        let n = s.chars().count();
        if n > max {
            return self.fail(
                errs,
                format!("must be at most {max} characters; it has {n}"),
            );
        }
        Some(s)
    }

    /// Free text, at most `max` characters.
    pub(crate) fn text(&self, max: usize, errs: &mut Errors) -> Option<String> {
        let s = self.str(false, errs)?;
        self.limited(s, max, errs)
    }

    /// Free text from a vendor's own webhook, cut to `max` characters rather
    /// than refused: the tools disable hooks whose deliveries keep failing,
    /// and they allow longer titles and messages than Dorado keeps.
    pub(crate) fn clipped(&self, max: usize, errs: &mut Errors) -> Option<String> {
        let s = self.str(false, errs)?;
        Some(match s.char_indices().nth(max) {
            Some((at, _)) => s[..at].to_owned(),
            None => s,
        })
    }

    /// Another system's id: a string, or an integer taken as its digits.
    pub(crate) fn key(&self, max: usize, errs: &mut Errors) -> Option<String> {
        let s = self.str(true, errs)?;
        self.limited(s, max, errs)
    }

    /// A string read by one of the domain's parsers.
    pub(crate) fn parse<T>(
        &self,
        errs: &mut Errors,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.str(false, errs)?;
        f(&s).map_err(|e| errs.add(self.ptr(), e)).ok()
    }

    /// Like [`Field::parse`], taking an integer as its digits too.
    pub(crate) fn parse_key<T>(
        &self,
        errs: &mut Errors,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.str(true, errs)?;
        f(&s).map_err(|e| errs.add(self.ptr(), e)).ok()
    }

    pub(crate) fn time(&self, errs: &mut Errors) -> Option<Timestamp> {
        if self.value.is_some_and(Value::is_number) {
            return self.fail(errs, "must be a time string such as 2024-05-01T10:00:00Z");
        }
        let s = self.str(false, errs)?;
        Timestamp::parse(&s)
            .map_err(|e| errs.add(self.ptr(), e.to_string()))
            .ok()
    }

    pub(crate) fn int(&self, errs: &mut Errors) -> Option<i64> {
        match self.value(errs)? {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Some(i),
                None if n.is_u64() => self.fail(errs, "is too large"),
                None => self.fail(errs, "must be a whole number"),
            },
            _ => self.fail(errs, "must be a whole number"),
        }
    }

    /// Any JSON number, kept as sent.
    pub(crate) fn number(&self, errs: &mut Errors) -> Option<serde_json::Number> {
        match self.value(errs)? {
            Value::Number(n) => Some(n.clone()),
            _ => self.fail(errs, "must be a number"),
        }
    }

    /// `true`/`false`, also as strings, as shell scripts tend to send them.
    pub(crate) fn bool(&self, errs: &mut Errors) -> Option<bool> {
        match self.value(errs)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
            _ => self.fail(errs, "must be true or false"),
        }
    }

    /// The items of an array, each a required field of its own.
    pub(crate) fn items(&self, errs: &mut Errors) -> Option<Vec<Field<'a>>> {
        match self.value(errs)? {
            Value::Array(items) => {
                let parent: Rc<str> = self.ptr().into();
                Some(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| Field {
                            parent: parent.clone(),
                            key: Key::Index(i),
                            value: (!v.is_null()).then_some(v),
                            required: true,
                        })
                        .collect(),
                )
            }
            _ => self.fail(errs, "must be an array"),
        }
    }

    pub(crate) fn object(&self, errs: &mut Errors) -> Option<Obj<'a>> {
        let v = self.value(errs)?;
        Obj::new(v, self.ptr(), "an object", errs)
    }

    /// A service of the organization, by id or name, as a number or a string.
    pub(crate) fn service(&self, dir: &ServiceDirectory, errs: &mut Errors) -> Option<ServiceId> {
        let r = match self.value(errs)? {
            Value::Number(n) => match n.as_i64() {
                Some(id) => ServiceRef::Id(ServiceId(id)),
                None => return self.fail(errs, format!("{n} is not a service id")),
            },
            Value::String(_) => {
                let s = self.str(false, errs)?;
                match ServiceRef::parse(&s) {
                    Ok(r) => r,
                    Err(e) => {
                        return self.fail(errs, format!("{} is not a service: {e}", quote(&s)));
                    }
                }
            }
            _ => return self.fail(errs, "must be a service id or name"),
        };
        dir.resolve(&r).or_else(|| {
            self.fail(
                errs,
                format!("no service {} in this organization", quote(&r.to_string())),
            )
        })
    }
}

/// Collects what a dialect keeps beyond the domain fields.
#[derive(Debug, Default)]
pub(crate) struct Attributes(Map<String, Value>);

impl Attributes {
    pub(crate) fn put(&mut self, key: &str, value: Option<impl Into<Value>>) {
        if let Some(v) = value {
            self.0.insert(key.to_owned(), v.into());
        }
    }

    pub(crate) fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}
