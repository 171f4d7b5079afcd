//! The bundled demo store (`demo/store/`), compiled into the binary so `serve` and `export`
//! work on a fresh machine with nothing else. `demo/README.md` documents its tokens.

use crate::store::{LoadError, Store, FILES};

macro_rules! demo_file {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../demo/store/", $name)) as &[u8],
        )
    };
}

/// The demo store's files, by name.
pub const FILES_EMBEDDED: [(&str, &[u8]); 6] = [
    demo_file!("store.json"),
    demo_file!("assets.jsonl"),
    demo_file!("links.jsonl"),
    demo_file!("principals.jsonl"),
    demo_file!("permissions.jsonl"),
    demo_file!("tokens.jsonl"),
];

/// Loads the embedded demo store.
pub fn store() -> Result<Store, LoadError> {
    debug_assert!(FILES_EMBEDDED.iter().zip(FILES).all(|((a, _), b)| *a == b));
    Store::from_memory(&FILES_EMBEDDED, "<demo>")
}
