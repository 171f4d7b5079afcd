//! # matrix-snapshot
//!
//! Renders a Squiz Matrix **Content API** (`GET /__api/...`) into static files, so any web
//! server or CDN can answer `/__api/` requests without Matrix.
//!
//! The library follows the data flow, one module per stage:
//!
//! 1. [`store`]: load a store (`shared/spec/store-format.md`) → [`Store`];
//! 2. [`access`]: a token's [`View`] (who may read what, spec §4);
//! 3. [`api`]: [`answer`] a [`Request`] with the exact [`Response`] the live API gives;
//! 4. [`export`]: write a token's view as static files, a manifest and router configs;
//! 5. [`route`]: which snapshot file answers a request (the rules every router config encodes);
//!    [`router`]: the configs per web server or CDN; `preview` serves with it and
//!    [`conformance`] checks any host against [`answer`];
//! 6. [`snapshot`]: read a snapshot back; [`verify`] it against its manifest; [`diff`] two;
//!    [`archive`] one as a WARC or WACZ web archive;
//! 7. [`serve`]: answer over HTTP; [`generate`]: synthetic stores for tests and benchmarks;
//!    [`crawl`]: a live Content API back into a store.
//!
//! ```no_run
//! use matrix_snapshot::{answer, Catalog, Request, Store};
//! let store = Store::load(std::path::Path::new("demo/store"))?;
//! let catalog = Catalog::new(store);
//! let response = answer(&catalog, &Request::get("/__api/assets/100?data=urls").bearer("demo-public"));
//! assert_eq!(response.status, 200);
//! # Ok::<(), matrix_snapshot::store::LoadError>(())
//! ```
#![warn(missing_docs)]

pub mod access;
pub mod api;
pub mod archive;
pub mod conformance;
pub mod crawl;
pub mod demo;
pub mod diff;
pub mod export;
pub mod generate;
mod rng;
pub mod route;
pub mod router;
pub mod serve;
pub mod snapshot;
pub mod store;
pub mod tree;
pub mod verify;

pub use access::View;
pub use api::{answer, Catalog, Request, Response};
pub use store::Store;
