//! Names, attributes, metadata and contents: the words and sentences of generated assets.

use super::asset::Kind;
use super::sink::{push_str, pushf};
use super::tree::{Flavor, Role};
use crate::rng::Rng;

/// Title words: display form and URL slug form (lower-case ASCII letters and
/// hyphens only, never starting or ending with a hyphen). The tail holds the
/// rarer ones that exercise escaping and non-ASCII text.
const TITLE_WORDS: &[(&str, &str)] = &[
    ("Research", "research"),
    ("Study", "study"),
    ("Students", "students"),
    ("Campus", "campus"),
    ("Life", "life"),
    ("About", "about"),
    ("Contact", "contact"),
    ("Events", "events"),
    ("Library", "library"),
    ("Services", "services"),
    ("Support", "support"),
    ("Future", "future"),
    ("Courses", "courses"),
    ("Scholarships", "scholarships"),
    ("Alumni", "alumni"),
    ("Giving", "giving"),
    ("Careers", "careers"),
    ("International", "international"),
    ("Health", "health"),
    ("Science", "science"),
    ("Arts", "arts"),
    ("Engineering", "engineering"),
    ("Law", "law"),
    ("Business", "business"),
    ("Medicine", "medicine"),
    ("Policies", "policies"),
    ("Forms", "forms"),
    ("Guides", "guides"),
    ("Open", "open"),
    ("Day", "day"),
    ("Annual", "annual"),
    ("Report", "report"),
    ("Strategy", "strategy"),
    ("Governance", "governance"),
    ("Facilities", "facilities"),
    ("Accommodation", "accommodation"),
    ("Sport", "sport"),
    ("Wellbeing", "wellbeing"),
    ("Innovation", "innovation"),
    ("Partnerships", "partnerships"),
    ("Community", "community"),
    ("Outreach", "outreach"),
    ("Programs", "programs"),
    ("Handbook", "handbook"),
    ("Timetable", "timetable"),
    ("Fees", "fees"),
    ("Enrolment", "enrolment"),
    ("Graduation", "graduation"),
    ("Orientation", "orientation"),
    ("Awards", "awards"),
    // Rare: non-ASCII, `&`, quotes, angle brackets, slash, backslash, emoji.
    ("Māori", "maori"),
    ("日本", "nihon"),
    ("Café", "cafe"),
    ("Q&A", "q-a"),
    ("Terms & Conditions", "terms-conditions"),
    ("\"Big\"", "big"),
    ("<Beta>", "beta"),
    ("and/or", "and-or"),
    ("Zoë's", "zoes"),
    ("C:\\Temp", "c-temp"),
    ("🎓", "grad"),
];
/// Number of common entries at the head of [`TITLE_WORDS`].
const COMMON_TITLE_WORDS: u64 = 50;

/// Words for body text.
const BODY_WORDS: &[&str] = &[
    "the",
    "students",
    "research",
    "campus",
    "program",
    "community",
    "learn",
    "study",
    "apply",
    "support",
    "library",
    "course",
    "teaching",
    "staff",
    "enrolment",
    "university",
    "world",
    "future",
    "information",
    "services",
    "events",
    "news",
    "science",
    "arts",
    "health",
    "partnership",
    "innovation",
    "global",
    "local",
    "education",
    "career",
    "skills",
    "project",
    "results",
    "open",
    "day",
    "and",
    "with",
    "for",
    "our",
    "new",
    "from",
    "about",
    "every",
    "will",
    "can",
    "Māori",
    "日本",
    "café",
    "naïve",
    "façade",
    "it's",
    "we're",
    "&",
    "&amp;",
    "\"quoted\"",
    "‘single’",
    "“double”",
    "—",
    "€5",
    "50%",
    "ngā",
    "mihi",
    "Zoë",
];

pub(super) const FIRST_NAMES: &[&str] = &[
    "Aroha", "Ben", "Chloé", "Dev", "Emma", "Finn", "Grace", "Hiro", "Isla", "Jack", "Kiri",
    "Liam", "Mei", "Noah", "Olivia", "Priya", "Quinn", "Rāwiri", "Sofia", "Tom", "Uma", "Zoë",
];
pub(super) const LAST_NAMES: &[&str] = &[
    "Smith",
    "Ngata",
    "Nguyen",
    "O'Brien",
    "Tanaka",
    "García",
    "Müller",
    "Patel",
    "Williams",
    "Brown",
    "Wilson",
    "Taylor",
    "Kowalski",
    "Søndergaard",
    "Li",
];
const MONTHS: &[(&str, &str)] = &[
    ("January", "january"),
    ("February", "february"),
    ("March", "march"),
    ("April", "april"),
    ("May", "may"),
    ("June", "june"),
    ("July", "july"),
    ("August", "august"),
    ("September", "september"),
    ("October", "october"),
    ("November", "november"),
    ("December", "december"),
];

/// An asset's names.
pub(super) struct Named {
    pub(super) name: String,
    pub(super) short_name: String,
    /// URL slug without the ordinal and extension.
    pub(super) slug: String,
    pub(super) ext: Option<&'static str>,
    /// For file-like assets, the file name; else empty.
    pub(super) file_name: String,
}

impl Named {
    pub(super) fn roll(r: &mut Rng, kind: Kind, flavor: Flavor, role: Role) -> Self {
        let simple = |name: &str, slug: &str| Named {
            name: name.to_owned(),
            short_name: name.to_owned(),
            slug: slug.to_owned(),
            ext: None,
            file_name: String::new(),
        };
        match role {
            Role::Site(n) => return simple(&format!("Site {n}"), &format!("site{n}")),
            Role::Intranet => return simple("Intranet", "intranet"),
            Role::Shared => return simple("Shared Content", "shared-content"),
            Role::Generic => {}
        }
        let (words, slug) = match (kind, flavor) {
            (Kind::Folder, Flavor::News) => {
                let year = 2010 + r.below(15);
                match r.below(3) {
                    0 => ("News".to_owned(), "news".to_owned()),
                    1 => (format!("News {year}"), format!("news-{year}")),
                    _ => {
                        let (m, ms) = r.pick(MONTHS);
                        (format!("{m} {year}"), format!("{ms}-{year}"))
                    }
                }
            }
            (Kind::Folder, Flavor::Media) => {
                let (w, ws) = *r.pick(&[
                    ("Images", "images"),
                    ("Documents", "documents"),
                    ("Media", "media"),
                    ("Downloads", "downloads"),
                    ("Photos", "photos"),
                ]);
                if r.chance(500, 1000) {
                    let (t, ts) = title_word(r);
                    (format!("{t} {w}"), format!("{ts}-{ws}"))
                } else {
                    (w.to_owned(), ws.to_owned())
                }
            }
            (Kind::Folder, Flavor::General) => title(r, 1, 2),
            (Kind::News, _) => title(r, 3, 6),
            _ => title(r, 1, 3),
        };
        let ext = kind.extension(r);
        let (name, file_name) = match ext {
            Some(e) => (format!("{slug}.{e}"), format!("{slug}.{e}")),
            None => (words.clone(), String::new()),
        };
        let short_name = match words.split_once(' ') {
            Some((first, _)) if ext.is_none() && r.chance(300, 1000) => first.to_owned(),
            _ => name.clone(),
        };
        Named {
            name,
            short_name,
            slug,
            ext,
            file_name,
        }
    }
}

fn title_word(r: &mut Rng) -> (&'static str, &'static str) {
    if r.chance(50, 1000) {
        let k = COMMON_TITLE_WORDS + r.below(TITLE_WORDS.len() as u64 - COMMON_TITLE_WORDS);
        TITLE_WORDS[k as usize]
    } else {
        TITLE_WORDS[r.below(COMMON_TITLE_WORDS) as usize]
    }
}

/// A title of `lo..=hi` words and its slug.
fn title(r: &mut Rng, lo: u64, hi: u64) -> (String, String) {
    let n = lo + r.below(hi - lo + 1);
    let mut name = String::new();
    let mut slug = String::new();
    for k in 0..n {
        let (w, s) = title_word(r);
        if k > 0 {
            name.push(' ');
            slug.push('-');
        }
        name.push_str(w);
        slug.push_str(s);
    }
    (name, slug)
}

/// How an attribute value is made.
#[derive(Clone, Copy)]
enum AttrGen {
    Name,
    Short,
    FileName,
    Text,
    Str(&'static [&'static str]),
    Int(u64, u64),
    /// True with this probability per 1000.
    Bool(u64),
    Float,
}

/// Ten attributes per kind; an asset has the first 3–10 of them.
fn attribute_list(kind: Kind) -> [(&'static str, AttrGen); 10] {
    use AttrGen::*;
    match kind {
        Kind::Site => [
            ("name", Name),
            ("short_name", Short),
            (
                "timezone",
                Str(&["Australia/Sydney", "Australia/Brisbane", "Pacific/Auckland"]),
            ),
            ("charset", Str(&["utf-8"])),
            ("year_founded", Int(1850, 2020)),
            ("show_in_sitemap", Bool(800)),
            ("theme", Str(&["classic", "modern", "dark"])),
            ("max_upload_mb", Int(5, 500)),
            ("rating", Float),
            ("tagline", Text),
        ],
        Kind::Folder => [
            ("name", Name),
            ("short_name", Short),
            ("show_in_menu", Bool(500)),
            ("sort_by", Str(&["name", "created", "manual"])),
            ("item_limit", Int(0, 500)),
            ("listable", Bool(700)),
            ("colour", Str(&["#003366", "#ffcc00", "#c0ffee"])),
            ("owner", Text),
            ("weight", Float),
            ("notes", Text),
        ],
        Kind::Page | Kind::Listing => [
            ("name", Name),
            ("short_name", Short),
            ("show_in_menu", Bool(850)),
            (
                "template",
                Str(&["default", "landing", "two-column", "wide"]),
            ),
            ("word_count", Int(50, 3000)),
            ("allow_comments", Bool(200)),
            ("audience", Str(&["public", "students", "staff", "alumni"])),
            ("review_days", Int(30, 730)),
            ("priority", Float),
            ("summary", Text),
        ],
        Kind::News => [
            ("name", Name),
            ("summary", Text),
            ("show_headline", Bool(900)),
            ("allow_comments", Bool(300)),
            ("word_count", Int(80, 1500)),
            (
                "category",
                Str(&["campus", "research", "sport", "alumni", "media release"]),
            ),
            (
                "contact_name",
                Str(&["Media Office", "Aroha Ngata", "Zoë Müller"]),
            ),
            (
                "link_url",
                Str(&[
                    "https://www.example.test/news",
                    "https://example.test/a?b=1&c=2",
                ]),
            ),
            ("rating", Float),
            ("expires", Bool(100)),
        ],
        Kind::File => [
            ("title", Name),
            ("filename", FileName),
            ("allow_unrestricted", Bool(900)),
            ("size", Int(1_000, 50_000_000)),
            (
                "mime",
                Str(&["application/octet-stream", "application/zip", "text/plain"]),
            ),
            ("downloads", Int(0, 100_000)),
            ("expires", Bool(50)),
            (
                "checksum",
                Str(&["9f86d081884c7d65", "2c26b46b68ffc68f", "fcde2b2edba56bf4"]),
            ),
            ("rating", Float),
            ("description", Text),
        ],
        Kind::Image => [
            ("title", Name),
            ("alt", Text),
            ("filename", FileName),
            ("width", Int(16, 6000)),
            ("height", Int(16, 4000)),
            ("size", Int(1_000, 20_000_000)),
            ("allow_unrestricted", Bool(950)),
            ("caption", Text),
            ("focal_x", Float),
            (
                "credit",
                Str(&["Photo: Example University", "© Jane Doe", "Ngā mihi"]),
            ),
        ],
        Kind::Pdf => [
            ("title", Name),
            ("filename", FileName),
            ("size", Int(10_000, 80_000_000)),
            ("pages", Int(1, 400)),
            ("allow_unrestricted", Bool(900)),
            (
                "author",
                Str(&["Planning Office", "Tanaka Hiro", "O'Brien, Liam"]),
            ),
            ("language", Str(&["en", "mi", "ja", "en-AU"])),
            ("searchable", Bool(700)),
            ("score", Float),
            ("description", Text),
        ],
        Kind::Bodycopy => [
            ("name", Name),
            ("layout", Str(&["single", "two-column"])),
            ("word_count", Int(20, 3000)),
            ("dir", Str(&["ltr"])),
            ("editable", Bool(950)),
            ("div_count", Int(1, 6)),
            ("css_class", Str(&["", "content", "main-body"])),
            ("spellcheck", Bool(500)),
            ("lang", Str(&["en", "en-AU", "mi"])),
            ("weight", Float),
        ],
        Kind::Wysiwyg => [
            ("name", Name),
            ("html_length", Int(0, 20_000)),
            ("dir", Str(&["ltr", "rtl"])),
            ("editor", Str(&["tinymce", "fck", "matrix"])),
            ("spellcheck", Bool(500)),
            ("word_count", Int(20, 3000)),
            ("allow_scripts", Bool(20)),
            ("autosave", Bool(500)),
            ("toolbar", Str(&["basic", "full"])),
            ("weight", Float),
        ],
    }
}

/// Appends the attributes object.
pub(super) fn write_attributes(
    buf: &mut Vec<u8>,
    r: &mut Rng,
    kind: Kind,
    name: &str,
    short: &str,
    file: &str,
) {
    let n = 3 + r.below(8) as usize;
    buf.push(b'{');
    for (k, (key, g)) in attribute_list(kind).into_iter().take(n).enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        push_str(buf, key);
        buf.push(b':');
        match g {
            AttrGen::Name => push_str(buf, name),
            AttrGen::Short => push_str(buf, short),
            AttrGen::FileName => push_str(buf, file),
            AttrGen::Text => push_str(buf, &sentence(r, 3, 10)),
            AttrGen::Str(options) => push_str(buf, r.pick::<&str>(options)),
            AttrGen::Int(lo, hi) => pushf(buf, format_args!("{}", lo + r.below(hi - lo + 1))),
            AttrGen::Bool(p) => pushf(buf, format_args!("{}", r.chance(p, 1000))),
            AttrGen::Float => {
                // Never integral, no trailing zero: 0.05 … 9.95 in steps of 0.05.
                let hundredths = 5 * (1 + r.below(199));
                let hundredths = if hundredths % 100 == 0 {
                    hundredths + 5
                } else {
                    hundredths
                };
                let (int, frac) = (hundredths / 100, hundredths % 100);
                if frac % 10 == 0 {
                    pushf(buf, format_args!("{int}.{}", frac / 10));
                } else {
                    pushf(buf, format_args!("{int}.{frac:02}"));
                }
            }
        }
    }
    buf.push(b'}');
}

/// Appends the metadata value: `null` when no schema applies.
pub(super) fn write_metadata(buf: &mut Vec<u8>, r: &mut Rng, kind: Kind) {
    if !kind.has_metadata() {
        buf.extend_from_slice(b"null");
        return;
    }
    buf.extend_from_slice(b"{\"description\":[");
    if r.chance(900, 1000) {
        push_str(buf, &sentence(r, 6, 20));
    }
    buf.extend_from_slice(b"],\"keywords\":[");
    if r.chance(750, 1000) {
        for k in 0..1 + r.below(5) {
            if k > 0 {
                buf.push(b',');
            }
            push_str(buf, title_word(r).1);
        }
    }
    buf.extend_from_slice(b"],\"robots\":[");
    match r.below(10) {
        0 => buf.extend_from_slice(b"\"noindex\",\"nofollow\""),
        1 => buf.extend_from_slice(b"\"noindex\""),
        _ => {}
    }
    buf.push(b']');
    if r.chance(300, 1000) {
        buf.extend_from_slice(b",\"author\":[");
        push_str(
            buf,
            &format!("{} {}", r.pick(FIRST_NAMES), r.pick(LAST_NAMES)),
        );
        buf.push(b']');
    }
    buf.push(b'}');
}

/// A sentence of `lo..=hi` body words, capitalised, with a full stop.
fn sentence(r: &mut Rng, lo: u64, hi: u64) -> String {
    let mut s = String::new();
    push_sentence(&mut s, r, lo, hi);
    s
}

fn push_sentence(s: &mut String, r: &mut Rng, lo: u64, hi: u64) {
    let n = lo + r.below(hi - lo + 1);
    let start = s.len();
    for k in 0..n {
        if k > 0 {
            s.push(' ');
        }
        s.push_str(r.pick::<&str>(BODY_WORDS));
    }
    if r.chance(15, 1000) {
        s.push_str(" 🎉");
    }
    s.push('.');
    if let Some(c) = s[start..].chars().next() {
        if c.is_ascii_lowercase() {
            // The first byte is ASCII, so this replaces exactly one character.
            s.replace_range(start..start + 1, &c.to_ascii_uppercase().to_string());
        }
    }
}

/// Appends `text` with `&`, `<`, `>` as HTML entities (names may hold them).
pub(super) fn push_html_text(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            c => html.push(c),
        }
    }
}

/// Size of a page's body: 300 B–4 KB, mostly under 1.2 KB.
pub(super) fn page_size(r: &mut Rng) -> usize {
    // `write_html` overshoots its target by at most one block.
    if r.chance(750, 1000) {
        300 + r.below(900) as usize
    } else {
        1200 + r.below(2300) as usize
    }
}

/// Appends HTML blocks until `html` is at least `target` bytes long.
pub(super) fn write_html(html: &mut String, r: &mut Rng, target: usize) {
    let goal = html.len() + target;
    while html.len() < goal {
        match r.below(20) {
            0..=11 => {
                html.push_str(if r.chance(150, 1000) {
                    "<p class=\"lead\">"
                } else {
                    "<p>"
                });
                for k in 0..1 + r.below(4) {
                    if k > 0 {
                        html.push(' ');
                    }
                    push_sentence(html, r, 6, 16);
                }
                html.push_str("</p>\n");
            }
            12 | 13 => {
                html.push_str("<h2>");
                let (t, _) = title(r, 1, 3);
                push_html_text(html, &t);
                html.push_str("</h2>\n");
            }
            14 | 15 => {
                html.push_str("<ul>");
                for _ in 0..2 + r.below(4) {
                    html.push_str("<li>");
                    push_sentence(html, r, 2, 6);
                    html.push_str("</li>");
                }
                html.push_str("</ul>\n");
            }
            16 | 17 => {
                html.push_str("<p>");
                push_sentence(html, r, 4, 10);
                html.push_str(
                    " <a href=\"https://www.example.test/search?q=study&amp;page=2\" title='Search'>Find out more</a></p>\n",
                );
            }
            18 => {
                html.push_str("<blockquote>“");
                push_sentence(html, r, 6, 14);
                html.push_str("”</blockquote>\n");
            }
            _ => {
                html.push_str("<p><img src=\"/__data/assets/image/0012/photo.jpg\" alt=\"\">\t");
                push_sentence(html, r, 3, 8);
                html.push_str("\u{a0}</p>\r\n");
            }
        }
    }
}
