//! Router configs are code (issue 16, part 2): `--cors`, `--cache-control`, `router --listen`,
//! the snapshot's path and `_routers/routes.json` must never inject into a host's config or
//! into `preview`'s headers. Values outside their grammar are refused with an error that
//! teaches; values inside it that a config's syntax treats specially (`$`, quotes, braces,
//! backquotes) reach every host literally.

use super::{demo, export_demo, readable_tempdir, router_config, Server};
use crate::util::run;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// A snapshot directory name holding what nginx (`"`, `$`), Apache (`"`), TOML (`"`) and shells
/// (`$`, space) treat specially.
pub const HOSTILE_DIR: &str = "sn\"ap$uri x";

/// A valid `Cache-Control` (RFC 9111 allows `$` and backquotes in a token and nearly anything
/// in a quoted string) that nginx would expand, Caddy would read as a placeholder and a shell
/// would run, if any of them took it as code.
pub const HOSTILE_CACHE_CONTROL: &str =
    "x-$http_x_evil, private=\"a$uri;{http.request.uri}\\\"b'c`id`$(id)\"";

/// The demo exported `--public --cors` with [`HOSTILE_CACHE_CONTROL`] into a directory named
/// [`HOSTILE_DIR`], served by `S`: 2,000 corpus requests must all be right (the harness compares
/// every 200's `Cache-Control` and the CORS origin with the table's, byte for byte), and a
/// request carrying `X-Evil` gets the values as they are.
pub fn with_hostile_values<S: Server>(tmp: &Path, seed: u64) {
    let dir = tmp.join(HOSTILE_DIR);
    fs::create_dir_all(&dir).unwrap();
    let out = export_demo(
        &dir,
        &[
            "--public",
            "--cors",
            "https://app.test:8443",
            "--cache-control",
            HOSTILE_CACHE_CONTROL,
        ],
    );
    let Some(server) = S::start(&out, &dir.join(S::NAME)) else {
        return;
    };
    let tally = server.assert_conforms(&demo(), &out, seed, 2_000);
    assert!(tally.agree > 1_500, "{}", tally.report(server.addr(), 0));
    // An asset the snapshot holds.
    let id = fs::read_dir(out.join("public/__api/assets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .find(|n| {
            out.join("public/__api/assets")
                .join(n)
                .join("~asset.----.json")
                .is_file()
        })
        .expect("a readable asset");
    let answer = get(
        server.addr(),
        &format!("/__api/assets/{id}"),
        "X-Evil: injected\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let headers = answer
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    let cache = format!(
        "\r\ncache-control: {}\r\n",
        HOSTILE_CACHE_CONTROL.to_ascii_lowercase()
    );
    assert!(headers.contains(&cache), "{answer}");
    assert!(
        headers.contains("\r\naccess-control-allow-origin: https://app.test:8443\r\n"),
        "{answer}"
    );
    assert!(!headers.contains("injected"), "{answer}");
}

/// A GET on a fresh connection (`Connection: close`): everything the server sends back.
fn get(addr: &str, target: &str, extra_headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The error of a command that must fail with exit code 2.
fn refused(args: &[&str]) -> String {
    String::from_utf8_lossy(&run(args, 2).stderr).into_owned()
}

/// Issue 16: `--cors 'https://app.test$http_x_evil'` and header values outside their grammar
/// are refused before anything is written, for `export` and `serve`, saying what an origin is.
#[test]
fn cors_and_cache_control_are_checked_when_parsed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    let o = out.to_str().unwrap();
    for (flag, value, teaches) in [
        (
            "--cors",
            "https://app.test$http_x_evil",
            "is not a host name",
        ),
        (
            "--cors",
            "https://app.test\"; add_header X y; #",
            "cannot appear",
        ),
        ("--cors", "https://App.test", "lower case"),
        ("--cache-control", "max-age=60; x", "`,` expected"),
        (
            "--cache-control",
            "max-age=60\r\nSet-Cookie: x=1",
            "cannot appear",
        ),
        ("--cache-control", "x=\"open", "unclosed"),
    ] {
        let err = refused(&["export", "--token", "demo-public", "--out", o, flag, value]);
        assert!(
            err.contains(flag) && err.contains(teaches),
            "{flag} {value:?}: {err}"
        );
        assert!(!out.exists(), "nothing written for {flag} {value:?}");
    }
    let err = refused(&["serve", "--cors", "https://app.test$http_x_evil"]);
    assert!(err.contains("e.g. https://app.uni.test"), "{err}");
}

/// Issue 16: `router --listen '127.0.0.1:1; location /etc { alias /etc/; } #'` passed
/// `nginx -t`, and a newline injected Apache directives: both refused, for every host.
#[test]
fn listen_is_checked_for_every_host() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export_demo(tmp.path(), &["--public"]);
    let s = out.to_str().unwrap();
    for host in ["nginx", "apache", "caddy", "cloudflare"] {
        for listen in [
            "127.0.0.1:1; location /etc { alias /etc/; } #",
            "127.0.0.1:8080\nLoadModule evil_module /tmp/evil.so",
            "127.0.0.1:80{\n}",
        ] {
            let err = refused(&["router", host, "--snapshot", s, "--listen", listen]);
            assert!(err.contains("HOST:PORT"), "{host} {listen:?}: {err}");
        }
    }
    // A usual address passes.
    let conf = router_config("nginx", &out, "[::1]:8080", &[]);
    assert!(conf.contains("listen [::1]:8080;"), "{conf}");
}

/// A snapshot path a host's config syntax cannot hold is refused with an error that says what
/// to do; one it can hold is escaped (the hosts' own tests run on [`HOSTILE_DIR`]).
#[test]
fn snapshot_paths_per_host() {
    let tmp = readable_tempdir();
    for (name, host, teaches) in [
        ("a${HOME}b", "apache", "`${`"),
        ("a{env.HOME}b", "caddy", "placeholder"),
        ("a\\b", "caddy", "`\\`"),
        ("a\nb", "nginx", "control character"),
        ("it's", "nginx", "js_import"),
        ("a\rb", "apache", "control character"),
    ] {
        let dir = tmp.path().join(name);
        let out = export_demo(&dir, &["--public"]);
        let err = refused(&["router", host, "--snapshot", out.to_str().unwrap()]);
        assert!(
            err.contains(teaches) && err.contains("move or rename it"),
            "{host} {name:?}: {err}"
        );
    }
    // nginx: a `$` in `root` is the literal variable, a glob character in `include` escaped.
    let out = export_demo(&tmp.path().join("a$x*y"), &["--public"]);
    let conf = router_config("nginx", &out, "127.0.0.1:8080", &[]);
    assert!(
        conf.contains("/a${matrix_snapshot_dollar}x*y/out/public\";"),
        "{conf}"
    );
    assert!(
        conf.contains("/a$x\\\\*y/out/_routers/etags.txt\";"),
        "{conf}"
    );
    assert!(
        conf.contains("/a$x*y/out/_routers/nginx/route.js\";"),
        "{conf}"
    );
}

/// A `routes.json` changed by hand is read with the same checks: `preview` and `router`
/// refuse it, saying which field and what to do, rather than send or write its values.
#[test]
fn a_tampered_routing_table_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export_demo(tmp.path(), &["--public", "--cors", "https://app.test"]);
    let routes = out.join("_routers/routes.json");
    let good = fs::read_to_string(&routes).unwrap();
    for (from, to, teaches) in [
        (
            "\"cors\": \"https://app.test\"",
            "\"cors\": \"https://app.test\\r\\nSet-Cookie: a=1\"",
            "cors:",
        ),
        (
            "\"cache_control\": \"no-cache\"",
            "\"cache_control\": \"no-cache\\nX-Evil: 1\"",
            "cache_control:",
        ),
        (
            "\"anchor\": \"~asset.",
            "\"anchor\": \"../../~asset.",
            "code:",
        ),
    ] {
        assert!(good.contains(from), "{from} in {good}");
        fs::write(&routes, good.replace(from, to)).unwrap();
        let s = out.to_str().unwrap();
        for args in [
            vec!["router", "nginx", "--snapshot", s],
            vec!["preview", s, "--listen", "127.0.0.1:1"],
        ] {
            let err = refused(&args);
            assert!(
                err.contains(teaches) && err.contains("re-export the snapshot"),
                "{args:?} with {to}: {err}"
            );
        }
    }
}

/// CloudFront's upload.sh passes `Cache-Control` to the AWS CLI as one word: a fake `aws` on
/// the PATH records its arguments, and nothing in the value runs.
#[test]
fn cloudfront_upload_passes_the_value_as_one_word() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export_demo(
        tmp.path(),
        &[
            "--public",
            "--router",
            "cloudfront",
            "--cache-control",
            HOSTILE_CACHE_CONTROL,
        ],
    );
    let bin = tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = tmp.path().join("aws.log");
    let aws = bin.join("aws");
    fs::write(
        &aws,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{}'; done\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&aws, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = std::process::Command::new("sh")
        .arg(out.join("_routers/cloudfront/upload.sh"))
        .arg(&out)
        .arg("bucket")
        .env("PATH", path)
        .env("id", "RAN")
        .status()
        .unwrap();
    assert!(status.success());
    let args = fs::read_to_string(&log).unwrap();
    let values: Vec<&str> = args
        .lines()
        .skip_while(|l| *l != "--cache-control")
        .skip(1)
        .take(1)
        .collect();
    assert_eq!(values, [HOSTILE_CACHE_CONTROL], "{args}");
    assert_eq!(
        args.lines().filter(|l| *l == HOSTILE_CACHE_CONTROL).count(),
        args.lines().filter(|l| *l == "--cache-control").count(),
        "every upload gets the value as it is: {args}"
    );
}

/// Netlify's `_headers` and Vercel's routes carry the values as they are.
#[test]
fn netlify_and_vercel_static_rules_carry_the_values() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export_demo(
        tmp.path(),
        &[
            "--public",
            "--cors",
            "https://app.test",
            "--cache-control",
            HOSTILE_CACHE_CONTROL,
        ],
    );
    let headers = fs::read_to_string(out.join("_routers/netlify/static/_headers")).unwrap();
    assert!(
        headers
            .lines()
            .any(|l| l == format!("  Cache-Control: {HOSTILE_CACHE_CONTROL}")),
        "{headers}"
    );
    let vercel: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(out.join("_routers/vercel/static/vercel.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        vercel["routes"][0]["headers"]["Cache-Control"],
        HOSTILE_CACHE_CONTROL
    );
}
