//! Encoded asset objects kept between the answers of one [`super::Session`].
//!
//! The bodies of an export share most of their asset objects: an ancestor's appears in the
//! lineage of every descendant, a child's in its parent's children pages and in its own asset
//! body. An asset object's bytes are a function of the catalog, the asset and how it is rendered
//! (the view, `data`, the request's host and scheme, `base_url`, `context`,
//! `include_dependents`, the excluded attributes): a session keeps each object it writes under
//! that [`Shape`] and copies it the next time instead of reading the asset's fields again (a
//! store read from a directory parses them from `assets.jsonl`) and encoding them.

use super::request::{BaseUrl, Data};
use crate::access::View;
use crate::store::url::Scheme;
use crate::store::AssetIdx;
use rustc_hash::FxHashMap;

/// What an asset object's bytes depend on besides the catalog (fixed for a session), its
/// excluded attributes (fixed too) and the asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The view's address: views live in the session's catalog, borrowed for its lifetime, so
    /// two views are the same view exactly when their addresses are equal.
    pub view: usize,
    pub data: Data,
    pub host: Option<String>,
    pub scheme: Scheme,
    pub base_url: Option<BaseUrl>,
    pub context: Option<String>,
    pub dependents: bool,
}

impl Shape {
    pub(crate) fn of(view: &View) -> usize {
        view as *const View as usize
    }
}

/// At most this many shapes are told apart; past it the cache starts over (an export asks for
/// a handful: data subsets × base URLs × contexts × dependents).
const MAX_SHAPES: usize = 256;

/// The objects kept: their bytes one after another, found by (shape, asset). Bounded: when the
/// bytes would pass the limit, everything kept is dropped and the cache fills again (the
/// objects an export reuses are those of nearby assets, which come back at once).
#[derive(Debug)]
pub(crate) struct Objects {
    shapes: Vec<Shape>,
    at: FxHashMap<(u32, AssetIdx), (usize, usize)>,
    bytes: Vec<u8>,
    limit: usize,
}

impl Objects {
    pub(crate) fn new(limit: usize) -> Objects {
        Objects {
            shapes: Vec::new(),
            at: FxHashMap::default(),
            bytes: Vec::new(),
            limit,
        }
    }

    /// The number of `shape` (its key in this cache).
    pub(crate) fn shape(&mut self, shape: Shape) -> u32 {
        if let Some(i) = self.shapes.iter().position(|s| *s == shape) {
            return i as u32;
        }
        if self.shapes.len() == MAX_SHAPES {
            self.clear();
            self.shapes.clear();
        }
        self.shapes.push(shape);
        (self.shapes.len() - 1) as u32
    }

    /// The bytes kept for `asset` in `shape`.
    pub(crate) fn get(&self, shape: u32, asset: AssetIdx) -> Option<&[u8]> {
        self.at
            .get(&(shape, asset))
            .map(|&(start, end)| &self.bytes[start..end])
    }

    /// Keeps `object` as the bytes of `asset` in `shape`.
    pub(crate) fn keep(&mut self, shape: u32, asset: AssetIdx, object: &[u8]) {
        if object.len() > self.limit {
            return;
        }
        if self.bytes.len() + object.len() > self.limit {
            self.clear();
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(object);
        self.at.insert((shape, asset), (start, self.bytes.len()));
    }

    /// Drops every object kept (the shapes keep their numbers).
    fn clear(&mut self) {
        self.at.clear();
        self.bytes.clear();
    }

    /// Objects kept now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.at.len()
    }
}
