//! # matrix-snapshot
//!
//! Renders a Squiz Matrix **Content API** (`GET /__api/...`) into static files, so any web
//! server or CDN can answer `/__api/` requests without Matrix.
//!
//! The library follows the data flow, one module per stage; a stage imports only from the stages
//! before it (`docs/architecture.md`; the test `layering` checks it):
//!
//! 1. [`store`]: load a store (`docs/store-format.md`) → [`Store`];
//! 2. [`access`]: a token's [`View`] (who may read what);
//! 3. [`api`]: [`answer`] a [`Request`] with the exact [`Response`] the live API gives;
//! 4. [`snapshot`]: the on-disk snapshot format — names, file names of routes, the manifest,
//!    `snapshot.json`, the routing table — and nothing else;
//!    [`serve`]: the HTTP layer (`serve` answers [`answer`] over it, `preview` a snapshot);
//! 5. [`route`]: which snapshot file answers a request (the rules every router config encodes);
//!    [`router`]: the configs per web server or CDN;
//! 6. [`export`]: write a token's view as a snapshot (files, manifest, router configs);
//! 7. readers of snapshots: [`verify`] one against its manifest, [`diff`] two, [`archive`] one
//!    as a WARC or WACZ web archive, [`conformance`]: check any host against [`answer`];
//! 8. beside the flow: [`crawl`] reads a live Content API back
//!    into a store; [`generate`] makes synthetic stores; [`demo`] is the embedded demo store;
//!    [`tree`] walks and removes directory trees.
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
pub mod cpu;
pub mod crawl;
pub mod demo;
pub mod diff;
pub mod export;
pub mod generate;
mod rng;
pub mod route;
pub mod router;
pub mod rss;
pub mod serve;
pub mod snapshot;
pub mod store;
pub mod tree;
pub mod verify;

pub use access::View;
pub use api::{answer, Catalog, Request, Response};
pub use store::Store;
