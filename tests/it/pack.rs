//! The pack layout (`export --layout pack`): the same answers as the files layout and the live
//! API through `preview`, the same manifest, deterministic packs, updates that keep what did not
//! change and equal a fresh export, damage answered with a 500 and named by `verify`.

use crate::conformance::check_preview;
use crate::diff::edited_store;
use crate::util::{files_under, http, run, Served};
use matrix_snapshot::snapshot::{self, pack, Bodies};
use matrix_snapshot::Catalog;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const DEMO: &[&str] = &[
    "--token",
    "demo-public",
    "--profile",
    "standard",
    "--base-url",
    "https://www.uni.test",
    "--quiet",
];

fn export(store: Option<&Path>, out: &Path, extra: &[&str]) {
    let mut args = vec!["export", "--out", out.to_str().unwrap()];
    args.extend_from_slice(DEMO);
    if let Some(s) = store {
        args.extend(["--store", s.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    run(&args, 0);
}

/// Every file under `dir/public/` (path from `dir` → bytes).
fn public_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir, "public")
}

/// Every manifest line's bytes, read through the snapshot's layout.
fn bodies(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let b = Bodies::open(dir).unwrap();
    snapshot::read_manifest(dir)
        .unwrap()
        .lines
        .iter()
        .map(|l| (l.path.clone(), b.read(&l.path).unwrap()))
        .collect()
}

/// The snapshot `dir`'s `root.json`.
fn root_of(dir: &Path) -> pack::Root {
    let file = pack_dir(dir).join("root.json");
    pack::Root::parse(&file, &fs::read(&file).unwrap()).unwrap()
}

/// The `root.json` of a [`public_tree`].
fn root_of_tree(tree: &BTreeMap<String, Vec<u8>>) -> pack::Root {
    let bytes = &tree[&format!("public/{}", pack::ROOT_FILE)];
    pack::Root::parse(Path::new("root.json"), bytes).unwrap()
}

/// `preview` of the snapshot `out`, on a free port.
fn preview(out: &Path) -> Served {
    Served::spawn(&[
        "preview",
        out.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ])
}

/// What `verify` of the damaged snapshot `out` says (it must exit 1).
fn failed_verify(out: &Path) -> String {
    let v = run(&["verify", out.to_str().unwrap()], 1);
    String::from_utf8_lossy(&v.stdout).to_string() + &String::from_utf8_lossy(&v.stderr)
}

fn pack_dir(dir: &Path) -> PathBuf {
    dir.join("public").join(pack::DIR)
}

/// The packs of the pack snapshot `dir`, sorted by name.
fn packs(dir: &Path) -> Vec<PathBuf> {
    let mut packs: Vec<PathBuf> = fs::read_dir(pack_dir(dir).join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    packs.sort();
    packs
}

#[test]
fn a_pack_export_serves_what_the_files_export_and_the_live_api_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, packed) = (tmp.path().join("files"), tmp.path().join("pack"));
    export(None, &files, &[]);
    export(None, &packed, &["--layout", "pack"]);
    // The same routes' lines, line for line, and the same bytes per route. (The root hash
    // differs: it covers `_routers/` too, whose host tables only the files layout writes, as
    // it writes the forbidden-URL tables, which the pack layout's index replaces.)
    let not_routes = |path: &str| {
        path.starts_with("_routers/") || path.starts_with("public/__api/~/forbidden-urls/")
    };
    let routes = |dir: &Path| -> Vec<String> {
        fs::read_to_string(dir.join("manifest.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| {
                let path = l.strip_prefix(r#"{"path":""#).unwrap();
                !not_routes(path)
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(routes(&files), routes(&packed));
    assert!(routes(&files).len() > 1000);
    let route_bodies = |dir: &Path| {
        let mut b = bodies(dir);
        b.retain(|path, _| !not_routes(path));
        b
    };
    assert_eq!(route_bodies(&files), route_bodies(&packed));
    // A few dozen files where the files layout has tens of thousands.
    let uploaded = public_tree(&packed).len();
    assert!(uploaded < 200, "{uploaded} files under public/");
    assert!(public_tree(&files).len() > 20_000);
    // Through preview: 100 % agreement with answer(), and the forbidden URLs' 403 in both
    // layouts (decision D-057: no documented deviations left).
    let cat = Catalog::new(matrix_snapshot::demo::store().unwrap());
    let (tally, statuses) = check_preview(&cat, &packed, 7, 4000);
    assert!(tally.passed(), "{}", tally.report("preview (pack)", 20));
    assert_eq!(tally.deviations, 0);
    assert!(statuses.iter().filter(|&&s| s == 403).count() > 20);
    let (files_tally, _) = check_preview(&cat, &files, 7, 4000);
    assert!(
        files_tally.passed(),
        "{}",
        files_tally.report("preview (files)", 20)
    );
    assert_eq!(files_tally.deviations, 0);
    // verify and diff read it as they read the files layout.
    run(&["verify", packed.to_str().unwrap()], 0);
    let d = run(
        &["diff", files.to_str().unwrap(), packed.to_str().unwrap()],
        0,
    );
    assert!(
        String::from_utf8_lossy(&d.stdout).contains("0 added, 0 removed, 0 changed"),
        "{}",
        String::from_utf8_lossy(&d.stdout)
    );
}

#[test]
fn a_fresh_pack_export_is_byte_identical_and_packs_keep_to_their_size() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    export(None, &a, &["--layout", "pack", "--pack-size", "1MiB"]);
    export(
        None,
        &b,
        &["--layout", "pack", "--pack-size", "1MiB", "--jobs", "1"],
    );
    let (ta, tb) = (public_tree(&a), public_tree(&b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    assert!(ta == tb, "two fresh pack exports differ");
    let packs: Vec<u64> = fs::read_dir(pack_dir(&a).join("packs"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .collect();
    assert!(packs.len() > 5, "{packs:?}");
    // Each at most 1 MiB unless one body alone is larger (the demo has none that large).
    assert!(packs.iter().all(|&p| p <= 1 << 20), "{packs:?}");
    // The index's bodies tile each pack (no gap, no overlap, nothing after the last), and
    // each pack is named by the blake3 of its bodies' blake3 and lengths, in order.
    let root = root_of(&a);
    let mut bodies_of: BTreeMap<u32, std::collections::BTreeSet<(u32, u32)>> = BTreeMap::new();
    for name in &root.shards {
        let file = pack_dir(&a).join("index").join(format!("{name}.idx"));
        let shard = pack::Shard::parse(fs::read(&file).unwrap(), Some(name)).unwrap();
        for r in shard.records() {
            bodies_of
                .entry(r.loc.pack)
                .or_default()
                .insert((r.loc.offset, r.loc.length));
        }
    }
    assert_eq!(bodies_of.len(), packs.len(), "every pack is used");
    for (position, bodies) in bodies_of {
        let name = root.packs[position as usize].as_deref().unwrap();
        let bytes = fs::read(pack_dir(&a).join("packs").join(format!("{name}.pack"))).unwrap();
        let mut hasher = blake3::Hasher::new();
        let mut end = 0;
        for (offset, length) in bodies {
            assert_eq!(offset, end, "pack {name}: a gap or an overlap at {offset}");
            end = offset + length;
            let body = &bytes[offset as usize..end as usize];
            hasher.update(blake3::hash(body).as_bytes());
            hasher.update(&u64::from(length).to_le_bytes());
        }
        assert_eq!(
            end as usize,
            bytes.len(),
            "pack {name}: bytes after its last body"
        );
        assert_eq!(name, pack::pack_name(&hasher.finalize()));
    }
}

#[test]
fn an_update_keeps_unchanged_packs_lists_objects_in_upload_order_and_equals_a_fresh_export() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    export(None, &out, &["--layout", "pack"]);
    let before = public_tree(&out);
    let old_pack = packs(&out)[0].clone();
    let old_inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&old_pack).unwrap());
    let store2 = edited_store(tmp.path());
    let list = tmp.path().join("changes.txt");
    export(
        Some(&store2),
        &out,
        &["--layout", "pack", "--changed-list", list.to_str().unwrap()],
    );
    let after = public_tree(&out);
    // The old pack is still there, the same file; the new bodies went into a new pack.
    assert!(old_pack.is_file());
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(&old_pack).unwrap()),
        old_inode
    );
    // The changed list names exactly what differs, packs first, then shards, the root, and
    // the deletions last.
    let text = fs::read_to_string(&list).unwrap();
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(|l| l.split_once('\t').unwrap())
        .filter(|(_, p)| p.starts_with("public/"))
        .collect();
    let added: Vec<&str> = lines.iter().filter(|l| l.0 == "A").map(|l| l.1).collect();
    let deleted: Vec<&str> = lines.iter().filter(|l| l.0 == "D").map(|l| l.1).collect();
    let want_added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let want_deleted: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    assert_eq!(added.len(), want_added.len(), "{text}");
    assert!(
        want_added.iter().all(|k| added.contains(&k.as_str())),
        "{text}"
    );
    assert_eq!(deleted.len(), want_deleted.len(), "{text}");
    assert!(added.iter().any(|p| p.contains("/packs/")), "{text}");
    assert!(added.iter().any(|p| p.contains("/index/")), "{text}");
    let rank = |p: &str| {
        if p.contains("/packs/") {
            0
        } else if p.contains("/index/") {
            1
        } else {
            2
        }
    };
    let order: Vec<u8> = lines
        .iter()
        .map(|(c, p)| if *c == "D" { 3 } else { rank(p) })
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{text}");
    assert!(
        text.contains(&format!("M\tpublic/{}", pack::ROOT_FILE)),
        "{text}"
    );
    // Unchanged shards were not listed: fewer shards written than there are. The base shards
    // stayed as they were, and an overlay holds what changed (less to upload than the base
    // shards that changed).
    let shards = fs::read_dir(pack_dir(&out).join("index")).unwrap().count();
    assert!(added.iter().filter(|p| p.contains("/index/")).count() < shards);
    let root = root_of(&out);
    let overlay = root.overlay.as_ref().expect("an overlay");
    let new_shards: Vec<&str> = added
        .iter()
        .filter(|p| p.contains("/index/"))
        .copied()
        .collect();
    assert!(new_shards.iter().all(|p| overlay
        .shards
        .iter()
        .any(|n| p.ends_with(&format!("{n}.idx")))));
    assert_eq!(root.shards, root_of_tree(&before).shards);

    // Request for request, the update answers as a fresh pack export of the edited store.
    let fresh = tmp.path().join("fresh");
    export(Some(&store2), &fresh, &["--layout", "pack"]);
    assert_eq!(
        fs::read(out.join("manifest.jsonl")).unwrap(),
        fs::read(fresh.join("manifest.jsonl")).unwrap()
    );
    assert_eq!(bodies(&out), bodies(&fresh));
    run(&["verify", out.to_str().unwrap()], 0);
    let cat = Catalog::new(matrix_snapshot::Store::load(&store2).unwrap());
    let (tally, _) = check_preview(&cat, &out, 3, 2000);
    assert!(
        tally.passed(),
        "{}",
        tally.report("preview (updated pack)", 20)
    );
}

#[test]
fn switching_layouts_rebuilds_in_full() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    export(None, &out, &[]);
    export(None, &out, &["--layout", "pack"]);
    run(&["verify", out.to_str().unwrap()], 0);
    assert!(!out.join("public/__api/assets/100").exists());
    export(None, &out, &[]);
    run(&["verify", out.to_str().unwrap()], 0);
    assert!(!pack_dir(&out).exists());
}

#[test]
fn damage_is_a_500_never_wrong_bytes_and_verify_names_the_object() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    export(None, &out, &["--layout", "pack"]);
    let reader =
        pack::Reader::open(pack::DirSource(out.join("public")), &out.join("public")).unwrap();
    let key = "__api/assets/100/~asset.----.json";
    let loc = reader.lookup(key).unwrap().unwrap();
    let pack_file = out.join("public").join(pack::pack_file(
        reader.root.packs[loc.pack as usize].as_deref().unwrap(),
    ));
    // One byte of that body altered.
    let mut bytes = fs::read(&pack_file).unwrap();
    bytes[loc.offset as usize + 3] ^= 0x20;
    fs::write(&pack_file, &bytes).unwrap();
    let served = preview(&out);
    let auth = [("Authorization", "Bearer demo-public")];
    let r = http(&served.addr, "GET", "/__api/assets/100", &auth);
    assert_eq!(r.status, 500);
    assert!(
        String::from_utf8_lossy(&r.body).contains("\"code\":500"),
        "{:?}",
        r.body
    );
    // Other routes still answer.
    assert_eq!(
        http(&served.addr, "GET", "/__api/assets/1234", &auth).status,
        200
    );
    drop(served);
    let text = failed_verify(&out);
    let pack_rel = pack_file
        .strip_prefix(&out)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(text.contains(&pack_rel), "{text}");

    // A truncated shard: its routes answer 500, verify names the shard.
    let shard_name = &reader.root.shards[pack::shard_of(key, reader.root.shard_bits) as usize];
    let shard = out.join("public").join(pack::shard_file(shard_name));
    let len = fs::metadata(&shard).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let served = preview(&out);
    assert_eq!(
        http(&served.addr, "GET", "/__api/assets/100", &auth).status,
        500
    );
    drop(served);
    let text = failed_verify(&out);
    assert!(text.contains(&format!("{shard_name}.idx")), "{text}");
}

/// An overlay shard damaged after upload: the routes it holds answer 500 and `verify` names it.
/// Then an update back to the first store (the overlay is against the first export's shards,
/// which stay) answers as a fresh export of it.
#[test]
fn an_overlay_is_checked_as_shards_are_and_an_update_back_answers_as_a_fresh_export() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    export(None, &out, &["--layout", "pack"]);
    let first = root_of(&out);
    assert_eq!(first.format, pack::ROOT_FORMAT);
    let store2 = edited_store(tmp.path());
    export(Some(&store2), &out, &["--layout", "pack"]);
    run(&["verify", out.to_str().unwrap()], 0);
    let reader =
        pack::Reader::open(pack::DirSource(out.join("public")), &out.join("public")).unwrap();
    let key = "__api/assets/100/~asset.----.json";
    let (_, overlay) = reader.root.shards_of(key);
    let overlay = overlay.expect("an overlay");
    let shard = &reader.root.overlay.as_ref().unwrap().shards[overlay as usize];
    assert!(reader
        .overlay_shard(overlay)
        .unwrap()
        .find_record(&pack::key_hash(key))
        .is_some());
    let file = out.join("public").join(pack::shard_file(shard));
    let good = fs::read(&file).unwrap();
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    fs::write(&file, &bad).unwrap();
    let served = preview(&out);
    let auth = [("Authorization", "Bearer demo-public")];
    assert_eq!(
        http(&served.addr, "GET", "/__api/assets/100", &auth).status,
        500
    );
    drop(served);
    let text = failed_verify(&out);
    assert!(text.contains(&format!("{shard}.idx")), "{text}");
    fs::write(&file, &good).unwrap();
    run(&["verify", out.to_str().unwrap()], 0);

    // Back to the first store.
    export(None, &out, &["--layout", "pack"]);
    assert_eq!(root_of(&out).shards, first.shards);
    let fresh = tmp.path().join("fresh");
    export(None, &fresh, &["--layout", "pack"]);
    assert_eq!(bodies(&out), bodies(&fresh));
    run(&["verify", out.to_str().unwrap()], 0);
}

#[test]
fn hosts_that_read_only_files_are_refused_for_a_pack_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args = vec![
        "export",
        "--out",
        out.to_str().unwrap(),
        "--layout",
        "pack",
        "--router",
        "apache",
    ];
    args.extend_from_slice(DEMO);
    let r = run(&args, 2);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("apache") && err.contains("files layout"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    export(None, &out, &["--layout", "pack"]);
    let r = run(&["router", "caddy", "--snapshot", out.to_str().unwrap()], 2);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("caddy") && err.contains("files layout"),
        "{err}"
    );
    let r = run(
        &[
            "export",
            "--out",
            out.to_str().unwrap(),
            "--pack-size",
            "1MiB",
            "--token",
            "demo-public",
        ],
        2,
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("--layout pack"));
}

/// Counts the reads a layout makes of the web root.
/// The status of `target` (as the demo's public token) and how many reads it took.
fn status_and_reads(
    snap: &matrix_snapshot::route::preview::Snapshot,
    counting: &Counting,
    target: &str,
) -> (u16, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut req = matrix_snapshot::Request::get(target.to_string());
    req.authorization = Some("Bearer demo-public".into());
    let before = counting.reads.load(Relaxed);
    let r = snap.answer(&req);
    (r.status, counting.reads.load(Relaxed) - before)
}

struct Counting {
    inner: pack::DirSource,
    reads: std::sync::atomic::AtomicUsize,
}

impl pack::Source for Counting {
    fn is_file(&self, rel: &str) -> bool {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.is_file(rel)
    }
    fn read(&self, rel: &str) -> std::io::Result<Vec<u8>> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.read(rel)
    }
    fn read_range(&self, rel: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_range(rel, offset, len)
    }
}

/// Reads per answer: the goal is one shard and one range, the shards cached (with an overlay,
/// a cold answer may read its overlay shard too).
#[test]
fn a_200_reads_one_shard_and_one_range_and_then_only_the_range() {
    use matrix_snapshot::route::preview::Snapshot;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    export(None, &out, &["--layout", "pack"]);
    let counting = Arc::new(Counting {
        inner: pack::DirSource(out.join("public")),
        reads: Default::default(),
    });
    let snap = Snapshot::open_with(&out, counting.clone()).unwrap();
    let opened = counting.reads.load(Ordering::Relaxed); // root.json
    assert_eq!(opened, 1);
    let get = |target: &str| status_and_reads(&snap, &counting, target);
    // A 200: its shard (once), then its byte range; the shard is kept for the next request.
    assert_eq!(get("/__api/assets/100?data=urls"), (200, 2));
    assert_eq!(get("/__api/assets/100?data=urls"), (200, 1));
    assert_eq!(get("/__api/assets/100/lineage/site"), (200, 1));
    // A 404 for an unknown id: one shard read at most, then the error body.
    let (status, reads) = get("/__api/assets/no-such-asset");
    assert_eq!(status, 404);
    assert!(reads <= 3, "{reads}");
    drop(snap);

    // After an update with an overlay (E-017): a key the overlay holds reads its overlay shard
    // and its range; another reads its overlay shard (kept) and its base shard first; once the
    // shards are kept, a 200 reads its range alone.
    let store2 = edited_store(tmp.path());
    export(Some(&store2), &out, &["--layout", "pack"]);
    let counting = Arc::new(Counting {
        inner: pack::DirSource(out.join("public")),
        reads: Default::default(),
    });
    let snap = Snapshot::open_with(&out, counting.clone()).unwrap();
    assert!(root_of(&out).overlay.is_some());
    let get = |target: &str| status_and_reads(&snap, &counting, target);
    assert_eq!(
        get("/__api/assets/100?data=urls"),
        (200, 2),
        "renamed: in the overlay"
    );
    assert_eq!(get("/__api/assets/100?data=urls"), (200, 1));
    let (status, reads) = get("/__api/assets/1234");
    assert_eq!(status, 200);
    assert!((2..=3).contains(&reads), "{reads}");
    assert_eq!(get("/__api/assets/1234"), (200, 1));
}

#[test]
fn an_update_that_leaves_most_pack_bytes_unused_repacks_as_a_fresh_export() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    export(None, &out, &["--layout", "pack"]);
    let old_packs: Vec<PathBuf> = fs::read_dir(pack_dir(&out).join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // Every asset renamed: almost every body changes.
    let store = tmp.path().join("store");
    fs::create_dir_all(&store).unwrap();
    for e in fs::read_dir(crate::util::repo("demo/store")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), store.join(e.file_name())).unwrap();
    }
    crate::diff::edit_lines(
        &store.join("assets.jsonl"),
        |a| {
            let name = format!("{} (2027)", a["name"].as_str().unwrap_or(""));
            a["name"] = name.into();
        },
        &[],
    );
    let mut args = vec![
        "export",
        "--out",
        out.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--layout",
        "pack",
    ];
    args.extend(DEMO.iter().filter(|a| **a != "--quiet"));
    let r = run(&args, 0);
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("repacked"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        old_packs.iter().all(|p| !p.exists()),
        "the old packs are gone"
    );
    // Repacked: the same bytes as a fresh export of that store.
    let fresh = tmp.path().join("fresh");
    export(Some(&store), &fresh, &["--layout", "pack"]);
    assert!(
        public_tree(&out) == public_tree(&fresh),
        "a repack equals a fresh export"
    );
    run(&["verify", out.to_str().unwrap()], 0);
}

/// `kill -9` at any moment of a pack update leaves the previous snapshot (or, once swapped
/// in, the new one) whole; the next export cleans up and verifies.
#[test]
fn kill_9_mid_pack_export_leaves_a_whole_snapshot() {
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    export(None, &out, &["--layout", "pack"]);
    let before = public_tree(&out);
    let store2 = edited_store(tmp.path());
    let mut killed = 0;
    for delay_ms in [0u64, 30, 80, 160, 320] {
        let mut child = crate::util::bin()
            .args(["export", "--out", out.to_str().unwrap(), "--layout", "pack"])
            .args(["--store", store2.to_str().unwrap()])
            .args(DEMO)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        if finished {
            break;
        }
        killed += 1;
        let now = public_tree(&out);
        assert!(
            now == before,
            "killed after {delay_ms} ms: the snapshot changed"
        );
        run(&["verify", out.to_str().unwrap()], 0);
    }
    assert!(killed > 0, "no run was killed mid-way");
    export(Some(&store2), &out, &["--layout", "pack"]);
    run(&["verify", out.to_str().unwrap()], 0);
    let leftovers: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".out."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_web_archive_of_a_pack_export_holds_the_files_exports_records() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, packed) = (tmp.path().join("files"), tmp.path().join("pack"));
    let base = ["--base-url", "https://www.uni.test"];
    crate::util::export_public("minimal", None, &files, &base);
    crate::util::export_public(
        "minimal",
        None,
        &packed,
        &[&base[..], &["--layout", "pack"]].concat(),
    );
    // The same file name (the WARC records it), in two directories.
    let warc = |dir: &Path, sub: &str| {
        let path = tmp.path().join(sub).join("api.warc.gz");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        run(
            &[
                "archive",
                dir.to_str().unwrap(),
                "--warc",
                path.to_str().unwrap(),
                "--date",
                "2026-12-06T00:00:00Z",
            ],
            0,
        );
        fs::read(path).unwrap()
    };
    // Every record after the first (`warcinfo`, which names each snapshot's root hash: their
    // `_routers/` differ, so their manifests do) is the same, byte for byte.
    let records = |gz: Vec<u8>| {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut text)
            .unwrap();
        let text = String::from_utf8_lossy(&text).into_owned();
        let second = text[1..].find("WARC/1.1\r\n").unwrap() + 1;
        text[second..].to_string()
    };
    let (f, p) = (records(warc(&files, "f")), records(warc(&packed, "p")));
    assert!(f.len() > 100_000);
    assert!(f == p, "the archives' response records differ");
}

#[test]
fn dry_run_shows_both_layouts_against_the_hosts_limits() {
    let r = run(
        &[
            "export",
            "--token",
            "demo-public",
            "--out",
            "/nonexistent/never-written",
            "--dry-run",
        ],
        0,
    );
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        // 26,805 routes' and error files and one forbidden-URL table (D-057); 32 shards of
        // at most 1,024 entries on average (E-019), 2 packs, the root.
        text.contains("layouts: files 26806 files under public/; pack 35 files"),
        "{text}"
    );
    assert!(
        text.contains(
            "Vercel (a CLI deploy) (15000 files): files layout too many files, pack layout fits"
        ),
        "{text}"
    );
}

/// A previous pack that is gone makes the next export pack afresh rather than fail (or point
/// at it).
#[test]
fn an_export_onto_a_pack_snapshot_missing_a_pack_rebuilds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    export(None, &out, &["--layout", "pack", "--pack-size", "1MiB"]);
    let gone = packs(&out)[0].clone();
    fs::remove_file(&gone).unwrap();
    run(&["verify", out.to_str().unwrap()], 1);
    export(None, &out, &["--layout", "pack", "--pack-size", "1MiB"]);
    run(&["verify", out.to_str().unwrap()], 0);
    assert!(gone.is_file(), "the same input packs into the same packs");
}

/// The packs are written from the render stage, in chunks of assets: bodies lie in the order
/// of their first use — the error documents first, then each readable asset in store order —
/// and a fresh export is byte-identical whatever the thread count (one render thread against
/// four, over three render chunks of assets and many packs).
#[test]
fn packs_follow_store_order_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let store = crate::util::generated(&tmp.path().join("store"), 2_500, 7);
    let export = |out: &Path, jobs: &str| {
        let extra = [
            "--quiet",
            "--store",
            store.to_str().unwrap(),
            "--layout",
            "pack",
            "--pack-size",
            "256KiB",
            "--jobs",
            jobs,
        ];
        run(
            &crate::util::export_args("gen-public", "minimal", out.to_str().unwrap(), &extra),
            0,
        );
    };
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    export(&a, "1");
    export(&b, "4");
    let (ta, tb) = (public_tree(&a), public_tree(&b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    assert!(ta == tb, "one render thread and four packed differently");
    assert_eq!(
        fs::read(a.join("manifest.jsonl")).unwrap(),
        fs::read(b.join("manifest.jsonl")).unwrap()
    );
    let packs = fs::read_dir(pack_dir(&a).join("packs")).unwrap().count();
    assert!(packs > 3, "{packs} packs");

    // Where each asset's own body (`/__api/assets/<id>`) is: in store order.
    let public = a.join("public");
    let reader = pack::Reader::open(pack::DirSource(public.clone()), &public).unwrap();
    let at = |key: &str| {
        let loc = reader.lookup(key).unwrap().expect(key);
        (loc.pack, loc.offset)
    };
    assert_eq!(at("__api/~/errors/400.json"), (0, 0));
    let mut by_id = BTreeMap::new();
    for line in snapshot::read_manifest(&a).unwrap().lines {
        // (A body other than a 200 may be an error document's, placed first.)
        if line.status != 200 {
            continue;
        }
        let asset = line
            .requests
            .iter()
            .find_map(|r| r.strip_prefix("/__api/assets/"))
            .filter(|id| !id.contains(['/', '?']));
        if let Some(id) = asset {
            by_id.insert(
                id.to_string(),
                at(line.path.strip_prefix("public/").unwrap()),
            );
        }
    }
    let order: Vec<(u32, u32)> = fs::read_to_string(store.join("assets.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            by_id.get(v["id"].as_str().unwrap()).copied()
        })
        .collect();
    assert!(order.len() > 1_500, "{} assets found", order.len());
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "the assets' bodies are not in store order"
    );
}

/// `--repair` rebuilds a pack snapshot in full, and its bodies come from rendering, not from
/// the previous packs: a pack altered in place (its length unchanged) is not carried over.
#[test]
fn repair_does_not_keep_a_damaged_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    export(None, &out, &["--layout", "pack", "--pack-size", "1MiB"]);
    let damaged = packs(&out)[0].clone();
    let mut bytes = fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    fs::write(&damaged, &bytes).unwrap();
    run(&["verify", out.to_str().unwrap()], 1);
    export(
        None,
        &out,
        &["--layout", "pack", "--pack-size", "1MiB", "--repair"],
    );
    run(&["verify", out.to_str().unwrap()], 0);
}

/// An update that repacks while some assets' routes are taken over unrendered (their bodies
/// read back from the previous packs) still equals a fresh export byte for byte: the repack
/// places every body where a fresh export's render stage does.
#[test]
fn a_repack_with_assets_taken_over_equals_a_fresh_export() {
    let tmp = tempfile::tempdir().unwrap();
    let store = crate::util::generated(&tmp.path().join("store"), 1_500, 11);
    let export = |store: &Path, out: &Path| {
        let extra = [
            "--format",
            "json",
            "--store",
            store.to_str().unwrap(),
            "--layout",
            "pack",
            "--pack-size",
            "256KiB",
        ];
        let o = run(
            &crate::util::export_args("gen-public", "minimal", out.to_str().unwrap(), &extra),
            0,
        );
        let mut json = serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap();
        json["stderr"] = String::from_utf8_lossy(&o.stderr).into_owned().into();
        json
    };
    let out = tmp.path().join("out");
    export(&store, &out);
    // Every asset gets new contents but the root and the smallest of the trees under it: the
    // bodies of the others die (more than a quarter of the packs), that tree is taken over.
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in fs::read_to_string(store.join("links.jsonl"))
        .unwrap()
        .lines()
    {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        if l["link_type"] != "reference" {
            let (major, minor) = (l["major_id"].as_str().unwrap(), l["minor_id"].as_str());
            children
                .entry(major.to_string())
                .or_default()
                .push(minor.unwrap().to_string());
        }
    }
    let below = |top: &str| {
        let (mut seen, mut stack) = (std::collections::BTreeSet::new(), vec![top.to_string()]);
        while let Some(x) = stack.pop() {
            if seen.insert(x.clone()) {
                stack.extend(children.get(&x).into_iter().flatten().cloned());
            }
        }
        seen
    };
    let text = fs::read_to_string(store.join("assets.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let root = first["id"].as_str().unwrap().to_string();
    let mut kept = children[&root]
        .iter()
        .map(|top| below(top))
        .min_by_key(|tree| tree.len())
        .unwrap();
    kept.insert(root);
    crate::diff::edit_lines(
        &store.join("assets.jsonl"),
        |a| {
            if !kept.contains(a["id"].as_str().unwrap()) {
                a["contents"] = format!("<p>Rewritten: {}.</p>", a["id"]).into();
            }
        },
        &[],
    );
    let update = export(&store, &out);
    assert!(
        update["reused_assets"].as_u64().unwrap() > 0,
        "no asset was taken over: {update}"
    );
    assert!(
        update["stderr"].as_str().unwrap().contains("repacked"),
        "{update}"
    );
    let fresh = tmp.path().join("fresh");
    export(&store, &fresh);
    let repacked = public_tree(&out) == public_tree(&fresh);
    run(&["verify", out.to_str().unwrap()], 0);
    assert!(
        repacked,
        "a repack with assets taken over differs from a fresh export"
    );
}
