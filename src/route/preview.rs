//! `preview`: serve a snapshot directory with [`resolve`] — the routing every host config
//! encodes — reading only the snapshot (its `public/` files and `_routers/routes.json`), never the
//! store. A snapshot can be tried without installing a web server.
//!
//! [`Snapshot`] answers one request from a directory's files. [`Live`] is what `preview` runs:
//! it keeps hot answers in a bounded cache, answers `If-None-Match` with 304, and follows a
//! re-export of the directory without a restart (see its doc).

use super::{resolve, Kind};
use crate::api::response::CONTENT_TYPE;
use crate::api::{Request, Response};
use crate::serve::{self, Answer, Head, Respond};
use crate::snapshot::pack;
use crate::snapshot::routes::{self, RouteSpec};
use crate::snapshot::source::{DirSource, Source};
use crate::snapshot::{self, Layout, ReadError};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE as CT, ETAG, IF_NONE_MATCH,
};
use http::{Method, StatusCode};
use rustix::fs::{AtFlags, Mode, OFlags};
use std::fs;
use std::hash::Hash;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Reads a file's body and, where the layout records it, its `ETag`.
type ReadBody<'a> = dyn Fn(&str) -> io::Result<(Vec<u8>, Option<String>)> + 'a;

/// A snapshot opened for serving.
#[derive(Clone)]
pub struct Snapshot {
    /// The web root (`DIR/public`).
    pub public: PathBuf,
    /// The routing table.
    pub routes: RouteSpec,
    /// How the web root is read.
    files: Arc<dyn Source>,
    /// The pack layout's index and packs (`None`: the files layout).
    pack: Option<Arc<pack::Reader<Arc<dyn Source>>>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("public", &self.public)
            .field("routes", &self.routes)
            .field("pack", &self.pack.is_some())
            .finish()
    }
}

impl Snapshot {
    /// Opens `dir` (a directory written by `export`, either layout): its format and routing
    /// table checked.
    pub fn open(dir: &Path) -> Result<Snapshot, ReadError> {
        let public = dir.join(snapshot::PUBLIC_DIR);
        Snapshot::read(
            dir,
            |file| fs::read(dir.join(file)),
            Arc::new(DirSource(public)),
        )
    }

    /// Opens `dir` with its web root read through `files` (its meta files from the
    /// directory): how a caller counts or redirects the reads a layout makes.
    pub fn open_with(dir: &Path, files: Arc<dyn Source>) -> Result<Snapshot, ReadError> {
        Snapshot::read(dir, |file| fs::read(dir.join(file)), files)
    }

    /// Opens `dir` with its meta files' bytes from `read` (a path relative to `dir`) and its
    /// web root through `files`.
    fn read(
        dir: &Path,
        read: impl Fn(&'static str) -> io::Result<Vec<u8>>,
        files: Arc<dyn Source>,
    ) -> Result<Snapshot, ReadError> {
        let get = |file: &'static str| {
            read(file).map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => ReadError::Missing {
                    dir: dir.to_path_buf(),
                    file,
                },
                _ => ReadError::Io {
                    path: dir.join(file),
                    source,
                },
            })
        };
        let layout =
            snapshot::check_format_of(&dir.join(snapshot::INFO_FILE), &get(snapshot::INFO_FILE)?)?;
        let routes = routes::parse(&dir.join(routes::FILE), &get(routes::FILE)?)?;
        let public = dir.join(snapshot::PUBLIC_DIR);
        let pack = match layout {
            Layout::Files => None,
            Layout::Pack => Some(Arc::new(pack::Reader::open(files.clone(), &public)?)),
        };
        Ok(Snapshot {
            public,
            routes,
            files,
            pack,
        })
    }

    /// Answers one request from the snapshot's files.
    pub fn answer(&self, req: &Request) -> Response {
        match &self.pack {
            None => self.answer_with(req, &|rel| Ok(self.files.is_file(rel)), &|rel| {
                Ok((self.files.read(rel)?, None))
            }),
            Some(reader) => self.answer_with(
                req,
                &|rel| {
                    reader
                        .lookup(rel)
                        .map(|l| l.is_some())
                        .map_err(io::Error::other)
                },
                &|rel| match reader.read(rel) {
                    Ok(Some((body, loc))) => Ok((body, Some(loc.etag_header()))),
                    Ok(None) => Err(io::ErrorKind::NotFound.into()),
                    Err(e) => Err(io::Error::other(e)),
                },
            ),
        }
    }

    /// Answers one request with the web root's files seen through `exists` and `read` (paths
    /// relative to the web root; `read` gives the body and, where the layout records it, its
    /// `ETag`). A file that cannot be looked up or read (a damaged pack or index, a file
    /// deleted meanwhile) makes the answer a 500 with the API's error body, never wrong bytes.
    fn answer_with(
        &self,
        req: &Request,
        exists: &dyn Fn(&str) -> io::Result<bool>,
        read: &ReadBody,
    ) -> Response {
        let fault = std::cell::RefCell::new(None);
        let routed = resolve(
            &self.routes,
            &req.method,
            &req.target,
            req.authorization.as_deref(),
            &|rel| {
                exists(rel).unwrap_or_else(|e| {
                    fault.borrow_mut().get_or_insert(e);
                    false
                })
            },
            // The files layout's forbidden-URL tables: `routes.json` says they exist, so one
            // that cannot be read is damage (a 500), never a 404 in place of the 403.
            &|rel| match read(rel) {
                Ok((bytes, _)) => Some(bytes),
                Err(e) => {
                    fault
                        .borrow_mut()
                        .get_or_insert(io::Error::new(e.kind(), format!("{rel}: {e}")));
                    None
                }
            },
        );
        if let Some(e) = fault.into_inner() {
            eprintln!("matrix-snapshot: {}: {e}", self.public.display());
            return Response::error(500);
        }
        let (body, tag) = match &routed.file {
            Some(rel) => match read(rel) {
                Ok(b) => b,
                // Deleted between the check and the read, a damaged pack, or an export without
                // its error files.
                Err(e) => {
                    eprintln!("matrix-snapshot: {}: {rel}: {e}", self.public.display());
                    return Response::error(500);
                }
            },
            None => (Vec::new(), None),
        };
        let mut headers = Vec::new();
        if routed.kind != Kind::Preflight {
            headers.push(("Content-Type", CONTENT_TYPE.to_string()));
        }
        headers.push(("Content-Length", body.len().to_string()));
        if routed.kind == Kind::File {
            headers.push(("ETag", tag.unwrap_or_else(|| etag(&body))));
            headers.push(("Cache-Control", self.routes.cache_control.clone()));
        }
        headers.extend(routed.headers);
        let response = Response {
            status: routed.status,
            headers,
            body,
        };
        if req.method == "HEAD" {
            response.without_body()
        } else {
            response
        }
    }
}

/// The `ETag` of a body: its blake3, quoted (strong validator; the manifest holds the same hash).
pub fn etag(body: &[u8]) -> String {
    format!("\"{}\"", blake3::hash(body).to_hex())
}

/// The file that tells exports apart (written last by an update).
const INFO_FILE: &str = snapshot::INFO_FILE;
/// The routing table.
const ROUTES_FILE: &str = routes::FILE;

/// The most bytes of answers [`Live`] keeps (bodies, headers and keys).
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// The largest body [`Live`] keeps; larger ones are read for each request.
pub const CACHE_ENTRY: usize = 1024 * 1024;
/// How often [`Live`] looks whether the directory was re-exported (at most; only when asked).
pub const RELOAD_CHECK: Duration = Duration::from_millis(250);

/// `preview` for production: a snapshot directory served as it changes.
///
/// - **Hot answers cached**: each answer (status, headers, body, `ETag`) is kept, keyed by what
///   decides it (GET or HEAD / OPTIONS / other methods, the raw target, the `Authorization`
///   bytes), in a bounded cache ([`CACHE_BYTES`], bodies up to [`CACHE_ENTRY`]): a hit reads
///   no file, allocates no body and hashes nothing but its key.
/// - **`If-None-Match`**: a 200 whose `ETag` the request names (or `*`; weak comparison, as
///   RFC 9110 §13.1.2 asks for this header) is a 304 with the same validators and no body.
/// - **Re-exports**: the directory is opened once per *generation* and every file is read
///   through that handle, with the routing table read through it too. A first export or
///   `--full` swaps a new tree in (`docs/snapshot-format.md`, Atomicity), giving `DIR` a new
///   inode; an in-place update ends by replacing `snapshot.json`. Either is noticed within
///   [`RELOAD_CHECK`] (at once on a cache miss), and the new generation, with an empty cache,
///   answers from then on. An answer is computed from one generation only, and a miss is
///   computed again if the generation changed while it was read, so no answer mixes the old
///   table with new files.
pub struct Live {
    dir: PathBuf,
    current: ArcSwap<Generation>,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last look at the directory.
    checked: AtomicU64,
    reloading: Mutex<()>,
}

/// One export of the directory, as opened.
struct Generation {
    id: Id,
    snapshot: Snapshot,
    cache: quick_cache::sync::Cache<Key, Arc<Cached>, Weight>,
}

/// What tells two exports apart: the directory's inode (a swap gives a new one) and
/// `snapshot.json`'s inode, modification time and size (an in-place update writes it last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id {
    dir: (u64, u64),
    info: (u64, i64, i64, i64),
}

impl Id {
    // The `st_*` field types differ between platforms.
    #[allow(clippy::unnecessary_cast)]
    fn new(dir: &rustix::fs::Stat, info: &rustix::fs::Stat) -> Id {
        Id {
            dir: (dir.st_dev as u64, dir.st_ino as u64),
            info: (
                info.st_ino as u64,
                info.st_mtime as i64,
                info.st_mtime_nsec as i64,
                info.st_size as i64,
            ),
        }
    }

    /// The export now at `dir`.
    fn at(dir: &Path) -> io::Result<Id> {
        let d = rustix::fs::stat(dir)?;
        let i = rustix::fs::stat(dir.join(INFO_FILE))
            .or_else(|_| rustix::fs::stat(dir.join(ROUTES_FILE)))?;
        Ok(Id::new(&d, &i))
    }

    /// The export `root` is.
    fn of(root: &OwnedFd) -> io::Result<Id> {
        let d = rustix::fs::fstat(root)?;
        let i = rustix::fs::statat(root, INFO_FILE, AtFlags::empty())
            .or_else(|_| rustix::fs::statat(root, ROUTES_FILE, AtFlags::empty()))?;
        Ok(Id::new(&d, &i))
    }
}

impl Generation {
    fn open(dir: &Path) -> Result<Generation, ReadError> {
        let invalid = |source: io::Error| ReadError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let missing = || ReadError::Missing {
            dir: dir.to_path_buf(),
            file: INFO_FILE,
        };
        let root = match rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) if e == rustix::io::Errno::NOENT => return Err(missing()),
            Err(e) => return Err(invalid(e.into())),
        };
        let id = Id::of(&root).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => missing(),
            _ => invalid(e),
        })?;
        let root = Arc::new(root);
        let files: Arc<dyn Source> = Arc::new(FdSource(root.clone()));
        let snapshot = Snapshot::read(dir, |file| read_at(&root, file), files)?;
        Ok(Generation {
            id,
            snapshot,
            cache: quick_cache::sync::Cache::with_weighter(16_384, CACHE_BYTES, Weight),
        })
    }

    /// Answers `req` from this generation's files only.
    fn answer(&self, req: &Request) -> Response {
        self.snapshot.answer(req)
    }
}

/// A generation's web root, read through its directory handle.
struct FdSource(Arc<OwnedFd>);

impl Source for FdSource {
    fn is_file(&self, rel: &str) -> bool {
        rustix::fs::statat(&*self.0, format!("public/{rel}").as_str(), AtFlags::empty())
            .is_ok_and(|s| rustix::fs::FileType::from_raw_mode(s.st_mode).is_file())
    }

    fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        read_at(&self.0, &format!("public/{rel}"))
    }

    fn read_range(&self, rel: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let fd = rustix::fs::openat(
            &*self.0,
            format!("public/{rel}").as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        pack::read_range(&fs::File::from(fd), offset, len)
    }
}

/// Reads a whole file under `root`.
fn read_at(root: &OwnedFd, rel: &str) -> io::Result<Vec<u8>> {
    let fd = rustix::fs::openat(root, rel, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut file = fs::File::from(fd);
    let size = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut body = Vec::with_capacity(size);
    file.read_to_end(&mut body)?;
    Ok(body)
}

/// What decides an answer: the method's class (0: GET or HEAD, answered from the same entry;
/// 1: OPTIONS; 2: any other), the raw target and the `Authorization` bytes.
#[derive(Debug, Hash, PartialEq, Eq)]
struct Key {
    class: u8,
    target: Box<str>,
    auth: Option<Box<[u8]>>,
}

/// A [`Key`] borrowed from a request: looked up without allocating (hashes as `Key` does).
#[derive(Hash)]
struct KeyRef<'a> {
    class: u8,
    target: &'a str,
    auth: Option<&'a [u8]>,
}

impl quick_cache::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.class == key.class && self.target == &*key.target && self.auth == key.auth.as_deref()
    }
}

impl KeyRef<'_> {
    fn owned(&self) -> Key {
        Key {
            class: self.class,
            target: self.target.into(),
            auth: self.auth.map(Into::into),
        }
    }
}

/// A computed answer, ready to send again.
struct Cached {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// A 200 file's `ETag`, and the headers of its 304.
    validator: Option<(HeaderValue, HeaderMap)>,
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Key, Arc<Cached>> for Weight {
    fn weight(&self, key: &Key, val: &Arc<Cached>) -> u64 {
        let headers: usize = val
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        (key.target.len()
            + key.auth.as_ref().map_or(0, |a| a.len())
            + val.body.len()
            + headers
            + 128) as u64
    }
}

impl Cached {
    fn new(answer: Answer) -> Cached {
        let (parts, body) = answer.into_parts();
        let validator = parts.headers.get(ETAG).cloned().map(|tag| {
            let mut not_modified = parts.headers.clone();
            not_modified.remove(CONTENT_LENGTH);
            not_modified.remove(CT);
            (tag, not_modified)
        });
        Cached {
            status: parts.status,
            headers: parts.headers,
            body,
            validator,
        }
    }

    fn answer(&self, head: &Head, class: u8) -> Answer {
        if let Some((tag, not_modified)) = &self.validator {
            if class == 0 && none_match(head, tag) {
                let mut r = http::Response::new(Bytes::new());
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                *r.headers_mut() = not_modified.clone();
                return r;
            }
        }
        let body = if head.method == Method::HEAD {
            Bytes::new()
        } else {
            self.body.clone()
        };
        let mut r = http::Response::new(body);
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

/// Whether the request's `If-None-Match` names `tag` (or is `*`), weak comparison.
fn none_match(head: &Head, tag: &HeaderValue) -> bool {
    let tag = tag.as_bytes();
    head.headers.get_all(IF_NONE_MATCH).iter().any(|value| {
        value.as_bytes().split(|&b| b == b',').any(|item| {
            let item = item.trim_ascii();
            item == b"*" || item.strip_prefix(b"W/").unwrap_or(item) == tag
        })
    })
}

impl Live {
    /// Opens `dir` (a directory written by `export`).
    pub fn open(dir: &Path) -> Result<Live, ReadError> {
        let generation = Generation::open(dir)?;
        Ok(Live {
            dir: dir.to_path_buf(),
            current: ArcSwap::from_pointee(generation),
            epoch: Instant::now(),
            checked: AtomicU64::new(0),
            reloading: Mutex::new(()),
        })
    }

    /// The generation to answer from; looks at the directory when `now` or when the last
    /// look is older than [`RELOAD_CHECK`].
    fn generation(&self, now: bool) -> Arc<Generation> {
        let ms = self.epoch.elapsed().as_millis() as u64;
        let last = self.checked.load(Ordering::Relaxed);
        let due = ms.saturating_sub(last) >= RELOAD_CHECK.as_millis() as u64
            && self
                .checked
                .compare_exchange(last, ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if now || due {
            self.reload();
        }
        self.current.load_full()
    }

    /// Switches to the export now in the directory if it is another one. A directory caught
    /// mid-swap or unreadable keeps the current generation until the next look.
    fn reload(&self) {
        let Ok(id) = Id::at(&self.dir) else {
            return;
        };
        if id == self.current.load().id {
            return;
        }
        let Ok(_guard) = self.reloading.try_lock() else {
            return; // another thread is switching
        };
        match Generation::open(&self.dir) {
            Ok(g) if g.id == id && g.id != self.current.load().id => {
                eprintln!(
                    "matrix-snapshot: {} was exported again: serving the new snapshot",
                    self.dir.display()
                );
                self.current.store(Arc::new(g));
            }
            _ => {}
        }
    }

    /// Whether `generation` is still the export in the directory.
    fn still(&self, generation: &Generation) -> bool {
        Id::at(&self.dir).is_ok_and(|id| id == generation.id)
    }
}

impl Respond for Live {
    fn respond(&self, head: &Head) -> Answer {
        let class = match head.method {
            Method::GET | Method::HEAD => 0,
            Method::OPTIONS => 1,
            _ => 2,
        };
        let key = KeyRef {
            class,
            target: serve::target(head),
            auth: head.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes),
        };
        let generation = self.generation(false);
        if let Some(hit) = generation.cache.get(&key) {
            return hit.answer(head, class);
        }
        let mut req = serve::api_request(head);
        if class == 0 {
            // HEAD answers from the GET entry, without its body.
            req.method = "GET".into();
        }
        let mut computed = None;
        for _ in 0..3 {
            let generation = self.generation(true);
            let answer = Cached::new(serve::to_http(generation.answer(&req)));
            if self.still(&generation) {
                let answer = Arc::new(answer);
                if answer.body.len() <= CACHE_ENTRY {
                    generation.cache.insert(key.owned(), Arc::clone(&answer));
                }
                return answer.answer(head, class);
            }
            // Exported again while this answer was read: compute it from the new export.
            computed = Some(answer);
        }
        computed.expect("three tries").answer(head, class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hasher;

    fn head(lines: &[(&str, &str)]) -> Head {
        let mut b = http::Request::builder()
            .method("GET")
            .uri("/__api/assets/1");
        for (n, v) in lines {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_star() {
        let tag = HeaderValue::from_static("\"abc\"");
        for (value, matches) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("\"x\",\"abc\" ", true),
            ("*", true),
            ("\"abcd\"", false),
            ("abc", false),
            ("", false),
        ] {
            assert_eq!(
                none_match(&head(&[("If-None-Match", value)]), &tag),
                matches,
                "{value:?}"
            );
        }
        assert!(!none_match(&head(&[]), &tag));
    }

    #[test]
    fn a_key_and_its_borrowed_form_hash_alike() {
        let hash = |h: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
            let mut s = std::collections::hash_map::DefaultHasher::new();
            h(&mut s);
            s.finish()
        };
        let r = KeyRef {
            class: 0,
            target: "/__api/assets/1?data=urls",
            auth: Some(b"Bearer \xe9"),
        };
        let k = r.owned();
        assert_eq!(hash(&|s| r.hash(s)), hash(&|s| k.hash(s)));
        assert!(quick_cache::Equivalent::equivalent(&r, &k));
        let none = KeyRef { auth: None, ..r };
        assert_eq!(hash(&|s| none.hash(s)), hash(&|s| none.owned().hash(s)));
        assert!(!quick_cache::Equivalent::equivalent(&none, &k));
    }
}
