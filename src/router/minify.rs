//! A small JavaScript minifier for hosts with a code size limit (a CloudFront Function may hold
//! 10 KB): comments and blanks are dropped, so are top-level functions nothing calls (the shared
//! routing core's entry points the host does not use), and declared names (`var`, `function`,
//! parameters, `catch`) are shortened. It handles the ES5 subset the templates are written in
//! (templates/js/route-core.js): string and regular-expression literals, explicit semicolons,
//! no template literals. Renaming is one name for one name across the whole file, to names no
//! other identifier in the file uses, so scopes keep their meaning; properties (`a.name`,
//! `{name: …}`) keep their names.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Literal(String),
    Punct(char),
}

const KEYWORDS: &[&str] = &[
    "break",
    "case",
    "catch",
    "continue",
    "default",
    "delete",
    "do",
    "else",
    "finally",
    "for",
    "function",
    "if",
    "in",
    "instanceof",
    "new",
    "return",
    "switch",
    "this",
    "throw",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "null",
    "true",
    "false",
    "undefined",
    "let",
    "const",
    "class",
    "enum",
    "export",
    "import",
    "super",
    "yield",
    "await",
    "async",
    "of",
    "static",
    "implements",
    "interface",
    "package",
    "private",
    "protected",
    "public",
    "eval",
    "arguments",
    "NaN",
    "Infinity",
];

/// Words after which a `/` starts a regular expression rather than dividing.
const BEFORE_REGEX: &[&str] = &[
    "return", "typeof", "case", "in", "new", "delete", "void", "throw",
];

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let s: Vec<char> = src.chars().collect();
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && s.get(i + 1) == Some(&'/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && s.get(i + 1) == Some(&'*') {
            let end = (i + 2..s.len().saturating_sub(1))
                .find(|&j| s[j] == '*' && s[j + 1] == '/')
                .ok_or("unterminated comment")?;
            i = end + 2;
        } else if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            while i < s.len() && s[i] != c {
                if s[i] == '\\' {
                    i += 1;
                }
                if s.get(i) == Some(&'\n') {
                    return Err("newline in a string".into());
                }
                i += 1;
            }
            if i >= s.len() {
                return Err("unterminated string".into());
            }
            i += 1;
            out.push(Tok::Literal(s[start..i].iter().collect()));
        } else if c == '`' {
            return Err("template literals are not supported".into());
        } else if c == '/' && regex_allowed(out.last()) {
            let start = i;
            let mut class = false;
            i += 1;
            while i < s.len() && (class || s[i] != '/') {
                match s[i] {
                    '\\' => i += 1,
                    '[' => class = true,
                    ']' => class = false,
                    '\n' => return Err("newline in a regular expression".into()),
                    _ => {}
                }
                i += 1;
            }
            i += 1;
            while i < s.len() && s[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Tok::Literal(s[start..i.min(s.len())].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < s.len() && (is_ident(s[i]) || s[i] == '.') {
                i += 1;
            }
            out.push(Tok::Literal(s[start..i].iter().collect()));
        } else if is_ident(c) {
            let start = i;
            while i < s.len() && is_ident(s[i]) {
                i += 1;
            }
            out.push(Tok::Word(s[start..i].iter().collect()));
        } else {
            let op = OPERATORS
                .iter()
                .find(|op| s[i..].iter().take(op.len()).copied().eq(op.chars()))
                .map(|op| op.to_string())
                .unwrap_or_else(|| c.to_string());
            i += op.chars().count();
            out.push(if op.len() == 1 {
                Tok::Punct(c)
            } else {
                Tok::Literal(op)
            });
        }
    }
    Ok(out)
}

/// Operators of more than one character, longest first.
const OPERATORS: &[&str] = &[
    ">>>=", "===", "!==", ">>>", "<<=", ">>=", "**=", "==", "!=", "<=", ">=", "&&", "||", "++",
    "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", ">>", "=>", "**",
];

fn regex_allowed(prev: Option<&Tok>) -> bool {
    match prev {
        None => true,
        Some(Tok::Punct(p)) => "(,=:[!&|?{};+-*%<>~^".contains(*p),
        Some(Tok::Word(w)) => BEFORE_REGEX.contains(&w.as_str()),
        // After an operator (`===`, `&&`, ...) but not after `++`/`--` or a value.
        Some(Tok::Literal(l)) => OPERATORS.contains(&l.as_str()) && l != "++" && l != "--",
    }
}

/// Names the code declares: function names, parameters, `var` and `catch` bindings.
fn declared(toks: &[Tok]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w)) if !KEYWORDS.contains(&w.as_str()) => Some(w.clone()),
        _ => None,
    };
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Word(w) if w == "function" || w == "catch" => {
                let mut j = i + 1;
                if let Some(name) = word(j) {
                    names.insert(name);
                    j += 1;
                }
                if toks.get(j) == Some(&Tok::Punct('(')) {
                    j += 1;
                    while j < toks.len() && toks[j] != Tok::Punct(')') {
                        if let Some(name) = word(j) {
                            names.insert(name);
                        }
                        j += 1;
                    }
                }
            }
            Tok::Word(w) if w == "var" => {
                let mut j = i + 1;
                let mut depth = 0i32;
                let mut expect_name = true;
                while j < toks.len() {
                    match &toks[j] {
                        Tok::Punct('(' | '[' | '{') => depth += 1,
                        Tok::Punct(')' | ']' | '}') => depth -= 1,
                        Tok::Punct(',') if depth == 0 => expect_name = true,
                        Tok::Punct(';') if depth == 0 => break,
                        Tok::Word(w) if depth == 0 && w == "in" => break,
                        _ => {}
                    }
                    if depth < 0 {
                        break;
                    }
                    if expect_name {
                        if let Some(name) = word(j) {
                            names.insert(name);
                            expect_name = false;
                        }
                    }
                    j += 1;
                }
            }
            _ => {}
        }
    }
    names
}

/// The `n`th short name: a..z, A..Z, then two characters.
fn short_name(mut n: usize) -> String {
    const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const REST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut name = String::new();
    name.push(FIRST[n % FIRST.len()] as char);
    n /= FIRST.len();
    while n > 0 {
        n -= 1;
        name.push(REST[n % REST.len()] as char);
        n /= REST.len();
    }
    name
}

/// Token rewrites that keep the meaning: `true`/`false` -> `!0`/`!1`, hexadecimal numbers in
/// decimal when shorter, and the braces of a one-statement block after `if (…)`, `for (…)`,
/// `while (…)` or `else` dropped (a block holding no braces and one simple statement).
fn shrink(toks: Vec<Tok>) -> Vec<Tok> {
    let punct = |t: Option<&Tok>, c: char| t == Some(&Tok::Punct(c));
    let word = |t: Option<&Tok>, w: &str| matches!(t, Some(Tok::Word(x)) if x == w);
    let mut drop = vec![false; toks.len()];
    for i in 0..toks.len() {
        if toks[i] != Tok::Punct('{') || i == 0 {
            continue;
        }
        let control = if word(toks.get(i - 1), "else") {
            true
        } else if punct(toks.get(i - 1), ')') {
            let mut depth = 0;
            let mut j = i - 1;
            loop {
                match toks[j] {
                    Tok::Punct(')') => depth += 1,
                    Tok::Punct('(') => depth -= 1,
                    _ => {}
                }
                if depth == 0 || j == 0 {
                    break;
                }
                j -= 1;
            }
            j > 0
                && ["if", "for", "while"]
                    .iter()
                    .any(|w| word(toks.get(j - 1), w))
        } else {
            false
        };
        if !control {
            continue;
        }
        let Some(end) = (i + 1..toks.len()).find(|&j| matches!(toks[j], Tok::Punct('{' | '}')))
        else {
            continue;
        };
        let body = &toks[i + 1..end];
        let simple = toks[end] == Tok::Punct('}')
            && body.len() >= 2
            && body.last() == Some(&Tok::Punct(';'))
            && body.iter().filter(|t| **t == Tok::Punct(';')).count() == 1
            && !body.iter().any(|t| {
                matches!(t, Tok::Word(w) if ["if", "for", "while", "do", "var", "function",
                    "try", "switch", "else"].contains(&w.as_str()))
            });
        if simple {
            drop[i] = true;
            drop[end] = true;
        }
    }
    let mut out = Vec::with_capacity(toks.len());
    for (i, t) in toks.into_iter().enumerate() {
        if drop[i] {
            continue;
        }
        let after_dot = matches!(out.last(), Some(Tok::Punct('.')));
        match t {
            Tok::Word(w) if !after_dot && (w == "true" || w == "false") => {
                out.push(Tok::Punct('!'));
                out.push(Tok::Literal(if w == "true" { "0" } else { "1" }.into()));
            }
            Tok::Literal(l) if l.starts_with("0x") => {
                let decimal = u64::from_str_radix(&l[2..], 16)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| l.clone());
                out.push(Tok::Literal(if decimal.len() < l.len() {
                    decimal
                } else {
                    l
                }));
            }
            t => out.push(t),
        }
    }
    out
}

/// The next short name from `n` that no other identifier uses.
fn next_free(n: &mut usize, taken: &BTreeSet<String>) -> String {
    loop {
        let s = short_name(*n);
        *n += 1;
        if !taken.contains(&s) {
            return s;
        }
    }
}

/// Drops top-level function declarations whose name no other token mentions (the shared
/// routing core's entry points a host does not call), until none is left; the names in `keep`
/// stay. A name spelled anywhere else, even as a property, keeps its function.
fn drop_unused(mut toks: Vec<Tok>, keep: &[&str]) -> Vec<Tok> {
    loop {
        let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &toks {
            if let Tok::Word(w) = t {
                *uses.entry(w.as_str()).or_default() += 1;
            }
        }
        let mut depth = 0i32;
        let mut unused = None;
        for (i, t) in toks.iter().enumerate() {
            match t {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => depth -= 1,
                Tok::Word(w) if depth == 0 && w == "function" => {
                    if let Some(Tok::Word(name)) = toks.get(i + 1) {
                        if uses[name.as_str()] == 1 && !keep.contains(&name.as_str()) {
                            unused = Some(i);
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        let Some(start) = unused else {
            return toks;
        };
        // The body: from the first `{` after the parameters to its matching `}`.
        let open = (start..toks.len()).find(|&j| toks[j] == Tok::Punct('{'));
        let mut end = None;
        let mut depth = 0i32;
        for (j, t) in toks.iter().enumerate().skip(open.unwrap_or(toks.len())) {
            match t {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            return toks;
        };
        let start = if start > 0 && toks[start - 1] == Tok::Word("async".into()) {
            start - 1
        } else {
            start
        };
        toks.drain(start..=end);
    }
}

/// Minifies `src`, keeping the names in `keep` (entry points the platform calls).
pub fn minify(src: &str, keep: &[&str]) -> Result<String, String> {
    let toks = shrink(drop_unused(tokenize(src)?, keep));
    let names: BTreeSet<String> = declared(&toks)
        .into_iter()
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    // Which word tokens are the declared names themselves (not properties).
    let renamable = |i: usize| -> bool {
        let Tok::Word(w) = &toks[i] else {
            return false;
        };
        if !names.contains(w) || (i > 0 && toks[i - 1] == Tok::Punct('.')) {
            return false;
        }
        let key = i > 0
            && matches!(toks[i - 1], Tok::Punct('{') | Tok::Punct(','))
            && toks.get(i + 1) == Some(&Tok::Punct(':'));
        !key
    };
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    let mut taken: BTreeSet<String> = KEYWORDS.iter().map(|k| k.to_string()).collect();
    for (i, t) in toks.iter().enumerate() {
        if let Tok::Word(w) = t {
            if renamable(i) {
                *count.entry(w.as_str()).or_default() += 1;
            } else {
                taken.insert(w.clone());
            }
        }
    }
    // Properties read often (`a.length`) may become `a[X]`, with `var X='length'` first.
    let mut props: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, t) in toks.iter().enumerate() {
        if let (Tok::Word(w), true) = (t, i > 0 && toks[i - 1] == Tok::Punct('.')) {
            *props.entry(w.as_str()).or_default() += 1;
        }
    }
    // Short names go to the most frequent first, names and properties alike.
    let mut order: Vec<(&str, usize, bool)> = count
        .into_iter()
        .map(|(n, c)| (n, c, false))
        .chain(props.into_iter().map(|(p, c)| (p, c, true)))
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.cmp(b.0)));
    let mut n = 0;
    let mut map: BTreeMap<&str, String> = BTreeMap::new();
    let mut alias: BTreeMap<&str, String> = BTreeMap::new();
    for (name, uses, prop) in order {
        if !prop {
            map.insert(name, next_free(&mut n, &taken));
            continue;
        }
        // `.prop` -> `[X]` on every use, against `X='prop',` once: only when shorter.
        let short = next_free(&mut n.clone(), &taken);
        let saved = uses as i64 * (name.len() as i64 + 1 - (short.len() as i64 + 2));
        if saved > name.len() as i64 + short.len() as i64 + 4 {
            alias.insert(name, next_free(&mut n, &taken));
        }
    }
    let mut out = String::with_capacity(src.len() / 2);
    // Leading `import … ;` statements stay first (before the property aliases).
    let mut i = 0;
    while toks.get(i) == Some(&Tok::Word("import".into())) {
        while i < toks.len() && toks[i] != Tok::Punct(';') {
            let text = match &toks[i] {
                Tok::Word(w) | Tok::Literal(w) => w.clone(),
                Tok::Punct(c) => c.to_string(),
            };
            push_token(&mut out, &text);
            i += 1;
        }
        out.push(';');
        i += 1;
    }
    if !alias.is_empty() {
        let decls: Vec<String> = alias
            .iter()
            .map(|(prop, short)| format!("{short}='{prop}'"))
            .collect();
        out.push_str(&format!("var {};", decls.join(",")));
    }
    // Where each `var` statement ends (its `;` at the same depth): `;var` there becomes `,`.
    let mut var_end = vec![false; toks.len()];
    for (i, t) in toks.iter().enumerate() {
        if *t == Tok::Word("var".into()) {
            let mut depth = 0i32;
            for (j, u) in toks.iter().enumerate().skip(i + 1) {
                match u {
                    Tok::Punct('(' | '[' | '{') => depth += 1,
                    Tok::Punct(')' | ']' | '}') => depth -= 1,
                    Tok::Punct(';') if depth == 0 => {
                        var_end[j] = true;
                        break;
                    }
                    _ => {}
                }
                if depth < 0 {
                    break;
                }
            }
        }
    }
    while i < toks.len() {
        let t = &toks[i];
        let text: String = match t {
            Tok::Punct(';') if var_end[i] && toks.get(i + 1) == Some(&Tok::Word("var".into())) => {
                i += 1;
                ",".to_string()
            }
            Tok::Punct('.') if matches!(toks.get(i + 1), Some(Tok::Word(w)) if alias.contains_key(w.as_str())) =>
            {
                let Some(Tok::Word(w)) = toks.get(i + 1) else {
                    unreachable!()
                };
                i += 1;
                format!("[{}]", alias[w.as_str()])
            }
            // The `;` before a `}` is implied (automatic semicolon insertion).
            Tok::Punct(';') if toks.get(i + 1) == Some(&Tok::Punct('}')) => String::new(),
            Tok::Word(w) if renamable(i) => map[w.as_str()].clone(),
            Tok::Literal(l) => requote(l),
            Tok::Word(w) => w.clone(),
            Tok::Punct(c) => c.to_string(),
        };
        push_token(&mut out, &text);
        i += 1;
    }
    out.push('\n');
    Ok(out)
}

/// Appends a token, with a space where the two would otherwise run together.
fn push_token(out: &mut String, text: &str) {
    if let (Some(last), Some(first)) = (out.chars().last(), text.chars().next()) {
        let glue = (is_ident(last) && is_ident(first))
            || (last == '+' && first == '+')
            || (last == '-' && first == '-')
            || (last == '/' && first == '/');
        if glue {
            out.push(' ');
        }
    }
    out.push_str(text);
}

/// A double-quoted string holding escaped double quotes and no single quote or other escape,
/// single-quoted (`"{\"a\":1}"` -> `'{"a":1}'`); any other literal as it is.
fn requote(literal: &str) -> String {
    let Some(inner) = literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
        return literal.to_string();
    };
    let unescaped = inner.replace("\\\"", "\"");
    if !inner.contains("\\\"") || unescaped.contains('\\') || unescaped.contains('\'') {
        return literal.to_string();
    }
    format!("'{unescaped}'")
}

#[cfg(test)]
mod tests {
    use super::minify;

    #[test]
    fn shortens_declared_names_but_not_properties() {
        let src =
            "// c\nvar answer = {status: 1}; function handler(event) { var status = event.status; \
                   return answer.status + status ? status : /a\\/[/]b/g.test('x // y'); }";
        let out = minify(src, &["handler"]).unwrap();
        assert_eq!(
            out,
            "var b={status:1};function handler(c){var a=c.status;return b.status+a?a:/a\\/[/]b/g.test('x // y')}\n"
        );
    }

    #[test]
    fn drops_functions_nothing_calls() {
        let src = "function used(x) { return x; } function route(a) { return plan(a); } \
                   function plan(a) { if (a) { return {b: 1}; } return used(a); } \
                   async function handler(e) { return used(e); }";
        let out = minify(src, &["handler"]).unwrap();
        assert_eq!(
            out,
            "function b(c){return c}async function handler(a){return b(a)}\n"
        );
    }

    #[test]
    fn shrinks_literals_blocks_and_var_runs() {
        let src = "function f(x) { var n = 0xff; var s = x.length + x.length + x.length + \
                   x.length; if (x) { return true; } else { n = n + +s; } for (;;) { if (n) { \
                   n--; } else { break; } } return false; }";
        let out = minify(src, &["f"]).unwrap();
        assert_eq!(
            out,
            "var c='length';function f(a){var b=255,d=a[c]+a[c]+a[c]+a[c];if(a)return!0;else b=b+ +d;\
             for(;;){if(b)b--;else break}return!1}\n"
        );
    }
}
