//! Stage 6: router configs — one per web server or CDN — that make a static host answer a
//! snapshot's routes as the live API does (`docs/hosting.md`).
//!
//! Each host's files are Tera templates in `templates/` (embedded in the binary), rendered from
//! the snapshot's [`RouteSpec`] into `DIR/_routers/<host>/` by `export`. Rendered files stay
//! deterministic and secret-free: the snapshot's absolute path, the listen address and (for hosts
//! that cannot hash) the token are placeholders, which [`fill`] replaces when `matrix-snapshot
//! router` prints a config.

pub mod caddy;
mod limits;
pub mod minify;
mod tables;
pub use crate::snapshot::values;

pub use limits::{fits, limits, FileLimit, PUBLISHED};
pub use tables::{
    table_bytes, write_tables, Tables, CLOUDFRONT_KVS_FILE, EDGE_FILES_MODULES, ETAGS_FILE,
};

use crate::route;
use crate::snapshot::routes::{self, RouteSpec};
use crate::snapshot::ROUTERS_DIR;
use std::fs;
use std::io;
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
                    include_str!("../../templates/cloudflare/common.js"),
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
/// placeholders, `error_bodies` (status -> the body of `__api/~/errors/<status>.json`, for
/// hosts that answer errors without reading files) and `error_messages` (status -> its
/// message alone), and `forbidden_url_digits` always (null without forbidden-URL tables); the filter `minify_js` (a `{% filter
/// minify_js %}` section) minifies JavaScript for hosts with a code size limit
/// ([`minify::minify`]; the name `handler` is kept).
pub fn render(template: &str, spec: &RouteSpec) -> Result<String, tera::Error> {
    let mut context = tera::Context::from_serialize(spec)?;
    context.insert("sort_keys", &route::sort_keys());
    // The Content API 1.2.0 fields are left out of routes.json at their defaults; templates
    // always see them.
    context.insert("include_dependents", &spec.include_dependents);
    context.insert("base_urls", &spec.base_urls);
    context.insert("contexts", &spec.contexts);
    context.insert("context_variants", &spec.context_variants);
    // null when the snapshot has no forbidden-URL tables (test it with `is number`: 0 is falsy).
    context.insert("forbidden_url_digits", &spec.forbidden_url_digits);
    context.insert("not_exported_file", routes::NOT_EXPORTED_FILE);
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
    // The messages alone (status -> "Forbidden"), for a host short of space that builds the
    // bodies itself.
    let messages: std::collections::BTreeMap<String, &str> = [400u16, 401, 403, 404, 405]
        .into_iter()
        .map(|s| (s.to_string(), crate::api::response::message(s)))
        .collect();
    context.insert("error_messages", &messages);
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
    // Escaping for the configs' own syntax (`values`): nginx strings whose `$` is literal,
    // shell words.
    tera.register_filter(
        "nginx_string",
        |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            let text = value.as_str().ok_or("nginx_string: not a string")?;
            Ok(tera::Value::String(values::nginx_string(text)))
        },
    );
    tera.register_filter(
        "shell_word",
        |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            let text = value.as_str().ok_or("shell_word: not a string")?;
            Ok(tera::Value::String(values::shell_word(text)))
        },
    );
    tera.add_raw_template("template", template)?;
    tera.render("template", &context)
}

/// A `--router` name that is no host in [`HOSTS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown router {name:?} (known: {})", HOSTS.iter().map(|h| h.name).collect::<Vec<_>>().join(", "))]
pub struct UnknownHost {
    /// The name given.
    pub name: String,
}

/// The hosts called `names` (all of them when `names` is empty), in [`HOSTS`] order.
pub fn select(names: &[String]) -> Result<Vec<&'static Host>, UnknownHost> {
    if names.is_empty() {
        return Ok(HOSTS.iter().collect());
    }
    let mut out: Vec<&'static Host> = Vec::new();
    for n in names {
        let h = host(n).ok_or_else(|| UnknownHost { name: n.clone() })?;
        if !out.iter().any(|o| o.name == h.name) {
            out.push(h);
        }
    }
    // HOSTS order, so the files written do not depend on the order of the options.
    out.sort_by_key(|h| HOSTS.iter().position(|x| x.name == h.name));
    Ok(out)
}

/// The hosts whose routers read the pack layout (`docs/hosting.md`), in [`HOSTS`] order: the
/// names of [`PACK_VARIANTS`]. The others (object storage and servers without a file-count
/// limit) keep the files layout.
pub const PACK_HOSTS: &[&str] = &["nginx", "cloudflare", "netlify", "vercel"];

/// The routers of a pack snapshot (`export --layout pack`), one per name in [`PACK_HOSTS`]:
/// the same routing core, then `templates/js/pack-read.js`, which finds a route's file in the
/// pack index and reads its byte range. Written into `_routers/<host>/` under the same names as
/// the files layout's, so `router <host>` prints whichever the snapshot has; the files layout's
/// static rules (Netlify's and Vercel's `static/`) name one file per route and have no pack
/// variant.
pub const PACK_VARIANTS: &[Host] = &[
    Host {
        name: "nginx",
        files: &[
            (
                "nginx.conf",
                include_str!("../../templates/nginx/pack.conf"),
            ),
            // The routing core, the pack reader, then the njs glue (one file for js_import).
            (
                "route.js",
                concat!(
                    include_str!("../../templates/js/route-core.js"),
                    include_str!("../../templates/js/table.js"),
                    include_str!("../../templates/js/pack-read.js"),
                    include_str!("../../templates/nginx/pack.js")
                ),
            ),
        ],
        needs_token: false,
    },
    Host {
        name: "cloudflare",
        files: &[
            (
                "wrangler.toml",
                include_str!("../../templates/cloudflare/pack.toml"),
            ),
            // The routing core, the pack reader, the Worker glue of both layouts, then the R2
            // glue (one ES module).
            (
                "worker.js",
                concat!(
                    include_str!("../../templates/js/route-core.js"),
                    include_str!("../../templates/js/table.js"),
                    include_str!("../../templates/js/pack-read.js"),
                    include_str!("../../templates/cloudflare/common.js"),
                    include_str!("../../templates/cloudflare/pack.js")
                ),
            ),
        ],
        needs_token: false,
    },
    Host {
        name: "netlify",
        files: &[
            (
                "netlify.toml",
                include_str!("../../templates/netlify/pack.toml"),
            ),
            // The routing core, the pack reader, the fetch glue shared with Vercel, then the
            // Edge Function's entry point (one module).
            (
                "netlify/edge-functions/matrix-api.js",
                concat!(
                    include_str!("../../templates/js/route-core.js"),
                    include_str!("../../templates/js/table.js"),
                    include_str!("../../templates/js/pack-read.js"),
                    include_str!("../../templates/js/edge-pack.js"),
                    include_str!("../../templates/netlify/pack.js")
                ),
            ),
        ],
        needs_token: false,
    },
    Host {
        name: "vercel",
        files: &[
            // The files layout's project file: no build, output directory public.
            (
                "vercel.json",
                include_str!("../../templates/vercel/vercel.json"),
            ),
            // The routing core, the pack reader, the fetch glue shared with Netlify, then the
            // middleware's entry point (one module).
            (
                "middleware.js",
                concat!(
                    include_str!("../../templates/js/route-core.js"),
                    include_str!("../../templates/js/table.js"),
                    include_str!("../../templates/js/pack-read.js"),
                    include_str!("../../templates/js/edge-pack.js"),
                    include_str!("../../templates/vercel/pack.js")
                ),
            ),
        ],
        needs_token: false,
    },
];

/// The router of `name` for a snapshot of `layout`: `Err` says so when the host reads only
/// the files layout and the snapshot is a pack snapshot.
pub fn host_for(name: &str, layout: crate::snapshot::Layout) -> Result<&'static Host, String> {
    let files = host(name).ok_or_else(|| {
        UnknownHost {
            name: name.to_string(),
        }
        .to_string()
    })?;
    match layout {
        crate::snapshot::Layout::Files => Ok(files),
        crate::snapshot::Layout::Pack => PACK_VARIANTS
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| files_only(name)),
    }
}

/// Why a host cannot serve a pack snapshot.
fn files_only(name: &str) -> String {
    format!(
        "the {name} router reads only the files layout (one file per route), and this is a pack snapshot (export --layout pack): export with --layout files for {name}, or use a router that reads packs: {}",
        PACK_HOSTS.join(", ")
    )
}

/// The hosts called `names` for a pack snapshot (every host that reads packs when `names` is
/// empty), as their [`PACK_VARIANTS`]; a host that reads only the files layout is an error
/// that says so.
pub fn select_for_pack(names: &[String]) -> Result<Vec<&'static Host>, String> {
    let hosts = if names.is_empty() {
        HOSTS.iter().collect()
    } else {
        select(names).map_err(|e| e.to_string())?
    };
    let mut out = Vec::new();
    for h in hosts {
        match host_for(h.name, crate::snapshot::Layout::Pack) {
            Ok(p) => out.push(p),
            Err(e) if !names.is_empty() => return Err(e),
            Err(_) => {}
        }
    }
    Ok(out)
}

/// Writes `_routers/routes.json` and the files of `hosts` under `root/_routers/`.
pub fn write_all(root: &Path, spec: &RouteSpec, hosts: &[&Host]) -> io::Result<()> {
    // The values configs take from outside, checked here too (library callers skip the CLI).
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
    if let Some(origin) = &spec.cors {
        values::origin(origin).map_err(|e| invalid(format!("cors: {e}")))?;
    }
    values::cache_control(&spec.cache_control)
        .map_err(|e| invalid(format!("cache control: {e}")))?;
    let dir = root.join(ROUTERS_DIR);
    fs::create_dir_all(&dir)?;
    fs::write(root.join(routes::FILE), routes::to_json(spec))?;
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

/// What `router HOST` does in the snapshot `dir` before it prints the config: derives the form
/// of a table the host cannot read as the export wrote it (Caddy's ETag shards,
/// [`caddy::derive_etags`]); nothing for the other hosts.
pub fn prepare(host: &Host, dir: &Path) -> io::Result<()> {
    if host.name == "caddy" {
        caddy::derive_etags(dir)?;
    }
    Ok(())
}

/// Fills the placeholders of a config rendered for `host`: the listen address checked
/// ([`values::listen`]) and the snapshot directory escaped for the host's syntax
/// ([`values::escape_dir`]); `Err` says why a value cannot be written there.
pub fn fill(
    host: &str,
    text: &str,
    snapshot_dir: &Path,
    listen: &str,
    token: Option<&str>,
) -> Result<String, String> {
    let listen = values::listen(listen)?;
    let dir = snapshot_dir.to_str().ok_or_else(|| {
        format!(
            "the snapshot directory {} is not UTF-8, which configs cannot name: move or rename it",
            snapshot_dir.display()
        )
    })?;
    let escaped = |c| values::escape_dir(host, c, dir);
    let mut out = text.to_string();
    if host == "nginx" {
        // `root` expands variables, `include` globs (values::escape_dir).
        let root = format!("root \"{SNAPSHOT_DIR}");
        out = out.replace(
            &root,
            &format!("root \"{}", escaped(values::DirContext::Variables)?),
        );
        let include = format!("include \"{SNAPSHOT_DIR}");
        out = out.replace(
            &include,
            &format!("include \"{}", escaped(values::DirContext::Glob)?),
        );
    }
    out = out
        .replace(SNAPSHOT_DIR, &escaped(values::DirContext::Literal)?)
        .replace(LISTEN, &listen);
    if let Some(t) = token {
        out = out.replace(TOKEN, t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_names_an_unknown_host_and_lists_the_known_ones() {
        let err = select(&["nginx".into(), "iis".into()]).unwrap_err();
        assert_eq!(err.name, "iis");
        let text = err.to_string();
        assert!(
            text.starts_with("unknown router \"iis\" (known: "),
            "{text}"
        );
        for h in HOSTS {
            assert!(text.contains(h.name), "{text}");
        }
    }

    #[test]
    fn pack_hosts_are_the_pack_variants_in_hosts_order() {
        let names: Vec<&str> = PACK_VARIANTS.iter().map(|h| h.name).collect();
        assert_eq!(names, PACK_HOSTS);
        let in_hosts: Vec<&str> = HOSTS
            .iter()
            .map(|h| h.name)
            .filter(|n| PACK_HOSTS.contains(n))
            .collect();
        assert_eq!(in_hosts, PACK_HOSTS);
        for v in PACK_VARIANTS {
            // The same file names as the files layout's, less its static rules (one file per
            // route), which no pack variant has: `router` prints the same file in both.
            let files: Vec<&str> = host(v.name)
                .unwrap()
                .files
                .iter()
                .map(|f| f.0)
                .filter(|name| !name.starts_with("static/"))
                .collect();
            let pack: Vec<&str> = v.files.iter().map(|f| f.0).collect();
            assert_eq!(
                files, pack,
                "{}: the same file names in both layouts",
                v.name
            );
        }
    }

    #[test]
    fn a_pack_snapshot_refuses_a_files_only_router_and_says_which_read_packs() {
        use crate::snapshot::Layout;
        let all: Vec<&str> = select_for_pack(&[])
            .unwrap()
            .iter()
            .map(|h| h.name)
            .collect();
        assert_eq!(all, PACK_HOSTS);
        let got = select_for_pack(&["vercel".into(), "cloudflare".into(), "nginx".into()]).unwrap();
        // The pack variants, in HOSTS order.
        let names: Vec<&str> = got.iter().map(|h| h.name).collect();
        assert_eq!(names, ["nginx", "cloudflare", "vercel"]);
        assert!(got[2].files[1].1.contains("async function packAnswer("));
        assert_eq!(
            got[0].files[0].1,
            include_str!("../../templates/nginx/pack.conf")
        );
        for name in ["apache", "caddy", "cloudfront"] {
            let err = host_for(name, Layout::Pack).unwrap_err();
            assert!(
                err.contains(&format!("the {name} router reads only the files layout")),
                "{err}"
            );
            assert!(err.contains("nginx, cloudflare, netlify, vercel"), "{err}");
            assert!(select_for_pack(&["nginx".into(), name.into()]).is_err());
            let files = host_for(name, Layout::Files).unwrap();
            assert_eq!(files.files[0].1, host(name).unwrap().files[0].1);
        }
        assert!(host_for("iis", Layout::Pack)
            .unwrap_err()
            .contains("unknown router"));
    }

    #[test]
    fn select_keeps_hosts_order_without_repeats() {
        let names: Vec<String> = HOSTS.iter().rev().map(|h| h.name.to_string()).collect();
        let mut twice = names.clone();
        twice.extend(names);
        let got: Vec<&str> = select(&twice).unwrap().iter().map(|h| h.name).collect();
        let all: Vec<&str> = HOSTS.iter().map(|h| h.name).collect();
        assert_eq!(got, all);
        assert_eq!(select(&[]).unwrap().len(), HOSTS.len());
    }
}
