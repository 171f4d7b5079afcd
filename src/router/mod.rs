//! Stage 6: router configs — one per web server or CDN — that make a static host answer a
//! snapshot's routes as the live API does (`docs/hosting.md`).
//!
//! Each host's files are Tera templates in `templates/` (embedded in the binary), rendered from
//! the snapshot's [`RouteSpec`] into `DIR/_routers/<host>/` by `export`. Rendered files stay
//! deterministic and secret-free: the snapshot's absolute path, the listen address and (for hosts
//! that cannot hash) the token are placeholders, which [`fill`] replaces when `matrix-snapshot
//! router` prints a config.

pub mod minify;

use crate::export::Entry;
use crate::route::{self, RouteSpec};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Placeholder for the snapshot directory's absolute path.
pub const SNAPSHOT_DIR: &str = "@@SNAPSHOT_DIR@@";
/// Placeholder for `host:port` to listen on.
pub const LISTEN: &str = "@@LISTEN@@";
/// Placeholder for the token in plain text (hosts that cannot hash it).
pub const TOKEN: &str = "@@TOKEN@@";

/// A host a snapshot can be deployed to.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// Name on the command line and directory under `_routers/`.
    pub name: &'static str,
    /// Files: (name under `_routers/<host>/`, template source). The first is what `router`
    /// prints.
    pub files: &'static [(&'static str, &'static str)],
    /// Whether the config needs the token in plain text (`@@TOKEN@@`).
    pub needs_token: bool,
}

/// Every host with configs, in the order `router --help` lists them.
pub const HOSTS: &[Host] = &[
    Host {
        name: "nginx",
        files: &[
            (
                "nginx.conf",
                include_str!("../../templates/nginx/nginx.conf"),
            ),
            // The shared JavaScript routing core, then the njs glue (one file for js_import).
            (
                "route.js",
                concat!(
                    include_str!("../../templates/js/route-core.js"),
                    include_str!("../../templates/js/table.js"),
                    include_str!("../../templates/nginx/route.js")
                ),
            ),
        ],
        needs_token: false,
    },
    Host {
        name: "apache",
        files: &[
            (
                "httpd.conf",
                include_str!("../../templates/apache/httpd.conf"),
            ),
            (
                "router.lua",
                include_str!("../../templates/apache/router.lua"),
            ),
        ],
        needs_token: false,
    },
    Host {
        name: "cloudflare",
        files: &[
            (
                "wrangler.toml",
                include_str!("../../templates/cloudflare/wrangler.toml"),
            ),
            // The shared JavaScript routing core, then the Worker glue (one ES module).
            (
                "worker.js",
                concat!(
                    include_str!("../../templates/js/route-core.js"),
                    include_str!("../../templates/js/table.js"),
                    include_str!("../../templates/cloudflare/worker.js")
                ),
            ),
        ],
        needs_token: false,
    },
    Host {
        name: "caddy",
        files: &[
            ("Caddyfile", include_str!("../../templates/caddy/Caddyfile")),
            (
                "router.txt",
                include_str!("../../templates/caddy/router.txt"),
            ),
        ],
        needs_token: false,
    },
    Host {
        name: "cloudfront",
        files: &[
            (
                "function.js",
                // One file, minified to fit CloudFront's 10 KB: the shared JavaScript routing core,
                // then the CloudFront Function glue (which closes the filter section).
                concat!(
                    "{% filter minify_js %}import cf from 'cloudfront';\n",
                    include_str!("../../templates/js/route-core.js"),
                    include_str!("../../templates/cloudfront/function.js")
                ),
            ),
            (
                "viewer-response.js",
                include_str!("../../templates/cloudfront/viewer-response.js"),
            ),
            (
                "upload.sh",
                include_str!("../../templates/cloudfront/upload.sh"),
            ),
        ],
        needs_token: false,
    },
    Host {
        name: "netlify",
        files: &[
            (
                "netlify.toml",
                include_str!("../../templates/netlify/netlify.toml"),
            ),
            // Static rules instead of the Edge Function (public snapshots; limited).
            (
                "static/_redirects",
                include_str!("../../templates/netlify/static/_redirects"),
            ),
            (
                "static/_headers",
                include_str!("../../templates/netlify/static/_headers"),
            ),
            // The shared JavaScript routing core, the fetch glue shared with Vercel, then the Edge
            // Function's entry point (one module).
            (
                "netlify/edge-functions/matrix-api.js",
                concat!(
                    include_str!("../../templates/js/route-core.js"),
                    include_str!("../../templates/js/table.js"),
                    include_str!("../../templates/js/edge-fetch.js"),
                    include_str!("../../templates/netlify/matrix-api.js")
                ),
            ),
        ],
        needs_token: false,
    },
    Host {
        name: "vercel",
        files: &[
            (
                "vercel.json",
                include_str!("../../templates/vercel/vercel.json"),
            ),
            // Static routes instead of the middleware (public snapshots; limited).
            (
                "static/vercel.json",
                include_str!("../../templates/vercel/static/vercel.json"),
            ),
            // The shared JavaScript routing core, the fetch glue shared with Netlify, then the
            // middleware's entry point (one module).
            (
                "middleware.js",
                concat!(
                    include_str!("../../templates/js/route-core.js"),
                    include_str!("../../templates/js/table.js"),
                    include_str!("../../templates/js/edge-fetch.js"),
                    include_str!("../../templates/vercel/middleware.js")
                ),
            ),
        ],
        needs_token: false,
    },
];

/// The host called `name`.
pub fn host(name: &str) -> Option<&'static Host> {
    HOSTS.iter().find(|h| h.name == name)
}

/// Renders one template of a host from the routing table.
///
/// Besides the table's fields, templates see `sort_keys`, `not_exported_file`, the
/// placeholders, and `error_bodies` (status -> the body of `__api/~/errors/<status>.json`, for
/// hosts that answer errors without reading files); the filter `minify_js` (a `{% filter
/// minify_js %}` section) minifies JavaScript for hosts with a code size limit
/// ([`minify::minify`]; the name `handler` is kept).
pub fn render(template: &str, spec: &RouteSpec) -> Result<String, tera::Error> {
    let mut context = tera::Context::from_serialize(spec)?;
    context.insert("sort_keys", &route::sort_keys());
    context.insert("not_exported_file", route::NOT_EXPORTED_FILE);
    context.insert("snapshot_dir", SNAPSHOT_DIR);
    context.insert("listen", LISTEN);
    context.insert("token", TOKEN);
    let bodies: std::collections::BTreeMap<String, String> = [400u16, 401, 403, 404, 405]
        .into_iter()
        .map(|s| {
            let body = crate::api::response::error_body(s);
            (
                s.to_string(),
                String::from_utf8(body).expect("error bodies are UTF-8"),
            )
        })
        .collect();
    context.insert("error_bodies", &bodies);
    // The canonical `data=` value of each data code (`ua--` -> `urls,attributes`), for static
    // rules that can only match parameters exactly.
    let data_values: std::collections::BTreeMap<&str, String> = spec
        .data
        .iter()
        .chain(&spec.children_data)
        .map(|code| {
            let items: Vec<&str> = ["urls", "attributes", "metadata", "contents"]
                .into_iter()
                .zip(code.chars())
                .filter(|(_, c)| *c != '-')
                .map(|(item, _)| item)
                .collect();
            (code.as_str(), items.join(","))
        })
        .collect();
    context.insert("data_values", &data_values);
    let mut tera = tera::Tera::default();
    tera.register_filter(
        "minify_js",
        |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            let text = value.as_str().ok_or("minify_js: not a string")?;
            minify::minify(text, &["handler"])
                .map(tera::Value::String)
                .map_err(|e| tera::Error::msg(format!("minify_js: {e}")))
        },
    );
    tera.add_raw_template("template", template)?;
    tera.render("template", &context)
}

/// The hosts called `names` (all of them when `names` is empty); `Err` names an unknown one.
pub fn select(names: &[String]) -> Result<Vec<&'static Host>, String> {
    if names.is_empty() {
        return Ok(HOSTS.iter().collect());
    }
    let mut out: Vec<&'static Host> = Vec::new();
    for n in names {
        let h = host(n).ok_or_else(|| {
            let known: Vec<&str> = HOSTS.iter().map(|h| h.name).collect();
            format!("unknown router {n:?} (known: {})", known.join(", "))
        })?;
        if !out.iter().any(|o| o.name == h.name) {
            out.push(h);
        }
    }
    // HOSTS order, so the files written do not depend on the order of the options.
    out.sort_by_key(|h| HOSTS.iter().position(|x| x.name == h.name));
    Ok(out)
}

/// Writes `_routers/routes.json` and the files of `hosts` under `root/_routers/`.
pub fn write_all(root: &Path, spec: &RouteSpec, hosts: &[&Host]) -> io::Result<()> {
    let dir = root.join("_routers");
    fs::create_dir_all(&dir)?;
    let mut json = serde_json::to_vec_pretty(spec).expect("route spec serializes");
    json.push(b'\n');
    fs::write(root.join(route::ROUTES_FILE), json)?;
    for h in hosts {
        for (name, template) in h.files {
            let text = render(template, spec).map_err(|e| {
                io::Error::other(format!("rendering the {} template {name}: {e:?}", h.name))
            })?;
            let path = dir.join(h.name).join(name);
            fs::create_dir_all(path.parent().expect("has a parent"))?;
            fs::write(path, text)?;
        }
    }
    Ok(())
}

/// Where [`write_tables`] writes the ETag of every 200 file, relative to the snapshot directory.
pub const ETAGS_FILE: &str = "_routers/etags.txt";

/// Writes the lookup tables hosts need besides the routing table, from the manifest's entries
/// (sorted by path): `_routers/etags.txt`, one line per 200 file, `<path under public/>
/// "<blake3>"` — the ETag a host sends with the file (hosts cannot hash bodies themselves). The
/// format is an Apache `RewriteMap txt:` as is.
///
/// For the `hosts` written, their own forms of the same facts: `_routers/nginx/etags.map` (the
/// body of an nginx `map` block, `"<path>" '"<blake3>"';`), Caddy's shards, the edge
/// functions' file modules and CloudFront's key value store.
pub fn write_tables(root: &Path, entries: &[Entry], hosts: &[&Host]) -> io::Result<()> {
    let has = |name: &str| hosts.iter().any(|h| h.name == name);
    let mut out = BufWriter::new(fs::File::create(root.join(ETAGS_FILE))?);
    for e in entries.iter().filter(|e| e.status == 200) {
        let rel = e.path.strip_prefix("public/").unwrap_or(&e.path);
        writeln!(out, "{rel} \"{}\"", e.blake3)?;
    }
    out.flush()?;
    if has("nginx") {
        let nginx_map = root.join(NGINX_ETAGS_FILE);
        fs::create_dir_all(nginx_map.parent().expect("has a parent"))?;
        let mut nginx = BufWriter::new(fs::File::create(nginx_map)?);
        for e in entries.iter().filter(|e| e.status == 200) {
            let rel = e.path.strip_prefix("public/").unwrap_or(&e.path);
            // Paths are [a-z0-9_.,~/-] only (encode_segment): nothing to escape in nginx quotes.
            writeln!(nginx, "\"{rel}\" '\"{}\"';", e.blake3)?;
        }
        nginx.flush()?;
    }
    if has("caddy") {
        write_caddy_etags(root, entries)?;
    }
    for rel in EDGE_FILES_MODULES {
        if has(rel.split('/').nth(1).expect("_routers/<host>/...")) {
            write_files_module(&root.join(rel), entries)?;
        }
    }
    if has("cloudfront") {
        write_cloudfront_kvs(root, entries)?;
    }
    Ok(())
}

/// Where [`write_caddy_etags`] writes its shards, relative to the snapshot directory.
pub const CADDY_ETAGS_DIR: &str = "_routers/caddy/etags";

/// The same lines as [`ETAGS_FILE`], split into at most 256 shards for Caddy, whose router
/// template reads a table per request: `_routers/caddy/etags/<xx>.txt` holds the paths whose
/// SHA-256 (hex) starts with `xx` (the template computes it with Sprig's `sha256sum`).
fn write_caddy_etags(root: &Path, entries: &[Entry]) -> io::Result<()> {
    use sha2::{Digest, Sha256};
    let dir = root.join(CADDY_ETAGS_DIR);
    fs::create_dir_all(&dir)?;
    let mut shards: std::collections::BTreeMap<String, String> = Default::default();
    for e in entries.iter().filter(|e| e.status == 200) {
        let rel = e.path.strip_prefix("public/").unwrap_or(&e.path);
        let shard = format!("{:02x}", Sha256::digest(rel.as_bytes())[0]);
        let lines = shards.entry(shard).or_default();
        lines.push_str(&format!("{rel} \"{}\"\n", e.blake3));
    }
    for (shard, lines) in shards {
        fs::write(dir.join(format!("{shard}.txt")), lines)?;
    }
    Ok(())
}

/// [`write_tables`]' CloudFront KeyValueStore import file, relative to the snapshot directory.
pub const CLOUDFRONT_KVS_FILE: &str = "_routers/cloudfront/kvs.json";

/// Writes the CloudFront KeyValueStore's import file (`{"data": [{"key", "value"}, ...]}`):
/// each asset directory (path under `public/`) -> `a` when it holds the anchor (a readable
/// asset), `f` when it holds `~forbidden.json`; and `~not-exported` -> the "not exported" body.
/// Keys over 512 bytes and a body over 1 KB (the store's limits) are left out: the function
/// then asks S3.
fn write_cloudfront_kvs(root: &Path, entries: &[Entry]) -> io::Result<()> {
    let routes: RouteSpec = serde_json::from_slice(&fs::read(root.join(route::ROUTES_FILE))?)
        .map_err(io::Error::other)?;
    let anchor = format!("/{}", routes.anchor);
    let mut data = Vec::new();
    for e in entries {
        let rel = e.path.strip_prefix("public/").unwrap_or(&e.path);
        let mark = if let Some(dir) = rel.strip_suffix(anchor.as_str()) {
            Some((dir, "a"))
        } else {
            rel.strip_suffix("/~forbidden.json").map(|dir| (dir, "f"))
        };
        if let Some((dir, value)) = mark.filter(|(dir, _)| dir.len() <= 512) {
            data.push(serde_json::json!({"key": dir, "value": value}));
        }
    }
    // From the table, not from public/: an incremental export stages only changed bodies.
    let body = String::from_utf8(routes.not_exported_body()).map_err(io::Error::other)?;
    if body.len() <= 1024 {
        data.push(serde_json::json!({"key": "~not-exported", "value": body}));
    }
    let path = root.join(CLOUDFRONT_KVS_FILE);
    fs::create_dir_all(path.parent().expect("has a parent"))?;
    let mut json = serde_json::to_vec(&serde_json::json!({ "data": data })).expect("serializes");
    json.push(b'\n');
    fs::write(path, json)
}

/// [`write_tables`]' file lists for the edge hosts whose functions decide without I/O, relative
/// to the snapshot directory: a JavaScript module beside the function.
pub const EDGE_FILES_MODULES: &[&str] = &[
    "_routers/netlify/netlify/edge-functions/snapshot-files.js",
    "_routers/vercel/snapshot-files.js",
];

/// Writes an ES module whose default export maps every file under `public/` (its path
/// relative to `public/`) to the `ETag` of a 200 file (the quoted blake3), or `null` for the
/// other files (error bodies, forbidden markers): the functions' "does this file exist?".
fn write_files_module(path: &Path, entries: &[Entry]) -> io::Result<()> {
    fs::create_dir_all(path.parent().expect("has a parent"))?;
    let mut out = BufWriter::new(fs::File::create(path)?);
    writeln!(
        out,
        "// Written by matrix-snapshot export: every file under public/ -> its ETag (200 files) or null."
    )?;
    writeln!(out, "export default {{")?;
    for e in entries {
        let rel = e.path.strip_prefix("public/").unwrap_or(&e.path);
        // Paths are [a-z0-9_.,~/-] only (encode_segment): nothing to escape in JSON strings.
        if e.status == 200 {
            writeln!(out, "\"{rel}\": \"\\\"{}\\\"\",", e.blake3)?;
        } else {
            writeln!(out, "\"{rel}\": null,")?;
        }
    }
    writeln!(out, "}};")?;
    out.flush()
}

/// [`write_tables`]' ETag table for nginx, relative to the snapshot directory.
pub const NGINX_ETAGS_FILE: &str = "_routers/nginx/etags.map";

/// What `host` cannot honour for the snapshot in `dir` (its routing table `spec`, `files`
/// files), one sentence each; empty when it answers everything as `docs/hosting.md` says. Limits
/// that hold for every snapshot (a platform's URL normalisation, say) are in the host's page of
/// `docs/hosting/`, not here: these depend on the profile, the token check or the size.
pub fn limits(host: &Host, dir: &Path, spec: &RouteSpec, files: u64) -> Vec<String> {
    let mut out = Vec::new();
    let size =
        |rel: &str| fs::metadata(dir.join("_routers").join(host.name).join(rel)).map(|m| m.len());
    match host.name {
        "netlify" | "vercel" if spec.auth == route::Auth::Token => out.push(format!(
            "its static rules (_routers/{}/static/) cannot check a token: they answer 401 to every request of this snapshot; deploy the {} (it checks the token), or export with --public",
            host.name,
            if host.name == "netlify" { "edge function" } else { "middleware" }
        )),
        _ => {}
    }
    match host.name {
        "cloudflare" if files > CLOUDFLARE_FREE_FILES => out.push(format!(
            "{files} files: Workers Static Assets takes {CLOUDFLARE_FREE_FILES} files per Worker on the free plan and {CLOUDFLARE_PAID_FILES} on paid plans{}",
            if files > CLOUDFLARE_PAID_FILES { " (too many for either: export a smaller profile)" } else { "" }
        )),
        "cloudfront" => {
            if let Ok(n) = size("function.js") {
                if n > CLOUDFRONT_FUNCTION_MAX {
                    out.push(format!("function.js is {n} bytes, over CloudFront Functions' {CLOUDFRONT_FUNCTION_MAX}: fewer asset_types filters, limits or sorts in the profile make it smaller"));
                }
            }
            if let Ok(n) = size("kvs.json") {
                if n > CLOUDFRONT_KVS_MAX {
                    out.push(format!("kvs.json is {n} bytes, over a KeyValueStore's {CLOUDFRONT_KVS_MAX}: forbidden ids and variants outside the profile answer the generic 404"));
                }
            }
        }
        "vercel" => {
            if let Ok(text) = fs::read(dir.join("_routers/vercel/snapshot-files.js")) {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&text).expect("in memory");
                let n = gz.finish().expect("in memory").len() as u64;
                if n > VERCEL_MIDDLEWARE_MAX {
                    out.push(format!("the middleware's file list is {n} bytes gzipped, over Vercel's {VERCEL_MIDDLEWARE_MAX} for middleware on the Hobby plan (2 MiB on Pro): export a smaller profile or serve from another host"));
                }
            }
        }
        _ => {}
    }
    out
}

/// Workers Static Assets: files per Worker version, free plan.
const CLOUDFLARE_FREE_FILES: u64 = 20_000;
/// Workers Static Assets: files per Worker version, paid plans.
const CLOUDFLARE_PAID_FILES: u64 = 100_000;
/// CloudFront Functions: the most bytes of code.
const CLOUDFRONT_FUNCTION_MAX: u64 = 10_240;
/// CloudFront KeyValueStore: the largest import.
const CLOUDFRONT_KVS_MAX: u64 = 5 * 1024 * 1024;
/// Vercel: the most bytes of middleware, gzipped (Hobby plan).
const VERCEL_MIDDLEWARE_MAX: u64 = 1024 * 1024;

/// Fills the placeholders of a rendered config.
pub fn fill(text: &str, snapshot_dir: &Path, listen: &str, token: Option<&str>) -> String {
    let mut out = text
        .replace(SNAPSHOT_DIR, &snapshot_dir.to_string_lossy())
        .replace(LISTEN, listen);
    if let Some(t) = token {
        out = out.replace(TOKEN, t);
    }
    out
}
