//! Validation errors that name the field (as a JSON pointer) and the problem,
//! so a sender can fix their script from the answer alone.

use serde::Serialize;
use std::fmt;

/// One problem with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// RFC 6901 pointer into the request body, e.g. `/commits/2/sha`.
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// Every problem found in one input; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    pub errors: Vec<FieldError>,
}

impl ValidationError {
    pub fn single(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError::new(pointer, detail)],
        }
    }

    /// Re-roots every pointer under `prefix`, for inputs nested in a larger body.
    pub fn under(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            e.pointer = format!("{prefix}{}", e.pointer);
        }
        self
    }
}

impl From<FieldError> for ValidationError {
    fn from(e: FieldError) -> Self {
        Self { errors: vec![e] }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if e.pointer.is_empty() {
                write!(f, "{}", e.detail)?;
            } else {
                write!(f, "{}: {}", e.pointer, e.detail)?;
            }
        }
        Ok(())
    }
}
