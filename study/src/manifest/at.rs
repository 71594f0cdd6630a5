//! `At<T>`: a manifest value that remembers where it was written.
//!
//! Studies are assembled from several files (`include`), so a byte span alone is not enough to
//! point at a mistake: the span must carry its file. The parser sets the file being read in a
//! thread-local while `toml` deserialises it, and every `At<T>` turns its span into a
//! `Location` on the spot.

use std::cell::RefCell;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::error::Location;

thread_local! {
    static CURRENT: RefCell<Option<(PathBuf, String)>> = const { RefCell::new(None) };
}

/// Run `f` with `file`/`src` as the file that `At` values are located in.
pub(crate) fn with_source<R>(file: &Path, src: &str, f: impl FnOnce() -> R) -> R {
    CURRENT.with(|c| *c.borrow_mut() = Some((file.to_owned(), src.to_owned())));
    let r = f();
    CURRENT.with(|c| *c.borrow_mut() = None);
    r
}

pub(crate) fn locate(offset: usize) -> Location {
    CURRENT.with(|c| match &*c.borrow() {
        Some((file, src)) => Location::from_offset(file, src, offset),
        None => Location {
            file: PathBuf::from("<memory>"),
            line: 0,
            column: 0,
        },
    })
}

#[derive(Debug, Clone)]
pub struct At<T> {
    pub value: T,
    pub at: Location,
}

impl<T> Deref for At<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<T>::deserialize(d)?;
        let at = locate(spanned.span().start);
        Ok(At {
            value: spanned.into_inner(),
            at,
        })
    }
}
