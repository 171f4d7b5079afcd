#!/usr/bin/env python3
"""Build the bundled demo store (store format v1, see docs/store-format.md).

Writes demo/store/{store.json,assets.jsonl,links.jsonl,principals.jsonl,permissions.jsonl,tokens.jsonl}
next to this script, then runs a self-check of the store rules ("Validation" section of the
store format) plus the demo's own promises (see demo/README.md).

Deterministic: no clock, no randomness; running it twice gives byte-identical files.
Standard library only.

    python3 demo/build_demo.py            # build + check
    python3 demo/build_demo.py --check    # only check the files already on disk
"""

import datetime
import html
import json
import os
import re
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "store")

# --------------------------------------------------------------------------------------------
# Principals
# --------------------------------------------------------------------------------------------
U_ROOT = "9"
U_SYSADMIN = "10"
U_PUBLIC = "15"
G_STAFF = "20"
G_WEB = "21"
G_NEWS = "22"
G_RESEARCH = "23"
G_STUDENTS = "24"
U_AROHA = "30"   # news editor (News Editors ⊂ Web Editors ⊂ Staff)
U_ED = "31"      # web editor
U_KENJI = "32"   # research office
U_PRIYA = "33"   # staff
U_TOM = "34"     # student
U_MERE = "35"    # staff
U_JBLOGGS = "42:ldap/uid=jbloggs"  # LDAP shadow user; also an asset (users are assets in Matrix)

PRINCIPALS = [
    {"id": U_ROOT, "kind": "root", "name": "Root User", "groups": []},
    {"id": U_SYSADMIN, "kind": "system_admin", "name": "Hemi Walker", "groups": []},
    {"id": U_PUBLIC, "kind": "public", "name": "Public User", "groups": []},
    {"id": G_STAFF, "kind": "group", "name": "Staff", "groups": []},
    {"id": G_WEB, "kind": "group", "name": "Web Editors", "groups": [G_STAFF]},
    {"id": G_NEWS, "kind": "group", "name": "News Editors", "groups": [G_WEB]},
    {"id": G_RESEARCH, "kind": "group", "name": "Research Office — Te Tari Rangahau", "groups": [G_STAFF]},
    {"id": G_STUDENTS, "kind": "group", "name": "Students", "groups": []},
    {"id": U_AROHA, "kind": "user", "name": "Aroha Ngata", "groups": [G_NEWS]},
    {"id": U_ED, "kind": "user", "name": "Ed Itor", "groups": [G_WEB]},
    {"id": U_KENJI, "kind": "user", "name": "渡辺 健二 (Kenji Watanabe)", "groups": [G_RESEARCH]},
    {"id": U_PRIYA, "kind": "user", "name": "Priya Shah", "groups": [G_STAFF]},
    {"id": U_TOM, "kind": "user", "name": "Tom O'Brien", "groups": [G_STUDENTS]},
    {"id": U_MERE, "kind": "user", "name": "Mere Pārata", "groups": [G_STAFF, G_STUDENTS]},
    {"id": U_JBLOGGS, "kind": "user", "name": "Joe Bloggs", "groups": [G_STAFF]},
]

TOKENS = [
    {"token": "demo-public", "name": "Public website build", "enabled": True, "trashed": False,
     "user_id": U_PUBLIC, "root_nodes": []},
    {"token": "demo-editor", "name": "News desk preview (Aroha Ngata)", "enabled": True, "trashed": False,
     "user_id": U_AROHA, "root_nodes": []},
    {"token": "demo-research", "name": "Research site build (Kenji Watanabe)", "enabled": True,
     "trashed": False, "user_id": U_KENJI, "root_nodes": ["12"]},
    {"token": "demo-disabled", "name": "Old mobile app (disabled)", "enabled": False, "trashed": False,
     "user_id": U_PUBLIC, "root_nodes": []},
    {"token": "demo-trashed", "name": "Intranet kiosk (trashed)", "enabled": True, "trashed": True,
     "user_id": U_PUBLIC, "root_nodes": []},
    {"token": "demo-nouser", "name": "Half-configured token (no user)", "enabled": True, "trashed": False,
     "user_id": None, "root_nodes": []},
    {"token": "demo-admin", "name": "Ops full mirror (Hemi Walker)", "enabled": True, "trashed": False,
     "user_id": U_SYSADMIN, "root_nodes": []},
]

# Permission profiles: rows (principal, access, granted) written on every asset of a section
# (Matrix stores permissions per asset after cascading; nothing is inherited).
P_PUBLIC = [(U_PUBLIC, "read", True)]
P_NEWS = [(U_PUBLIC, "read", True), (G_NEWS, "write", True)]
P_INTRANET = [(G_STAFF, "read", True)]
P_RESTRUCTURE = [(G_STAFF, "read", True), (U_AROHA, "read", False)]
P_PUBLIC_DENY = [(U_PUBLIC, "read", False), (G_STAFF, "read", True)]
P_PROJECTS = [(U_PUBLIC, "read", True), (G_RESEARCH, "admin", True)]
P_RESEARCH = [(U_PUBLIC, "read", True), (G_RESEARCH, "write", True)]

TYPE_NAMES = {
    "root_folder": "Root Folder",
    "site": "Site",
    "folder": "Folder",
    "page_standard": "Standard Page",
    "bodycopy": "Bodycopy",
    "bodycopy_div": "Bodycopy Container",
    "content_type_wysiwyg": "WYSIWYG",
    "news_item": "News Item",
    "calendar_event_single": "Single Calendar Event",
    "file": "File",
    "image": "Image",
    "image_variety": "Image Variety",
    "pdf_file": "PDF File",
    "rest_resource": "REST Resource",
    "data_record": "Data Record",
    "ldap_bridge": "LDAP Bridge",
    "ldap_backend_user": "LDAP Backend User",
}

MAIN = ["https://www.uni.test", "http://www.uni.test"]
RESEARCH = ["https://research.uni.test"]


# --------------------------------------------------------------------------------------------
# Dates: Matrix writes server-local time with a numeric offset; this server is in Auckland.
# --------------------------------------------------------------------------------------------
def nz_offset(dt):
    """NZST +12:00 / NZDT +13:00 (last Sunday of September 02:00 to first Sunday of April 03:00)."""
    y = dt.year
    sep30 = datetime.datetime(y, 9, 30)
    start = (sep30 - datetime.timedelta(days=(sep30.weekday() - 6) % 7)).replace(hour=2)
    apr1 = datetime.datetime(y, 4, 1)
    end = (apr1 + datetime.timedelta(days=(6 - apr1.weekday()) % 7)).replace(hour=3)
    return "+13:00" if (dt < end or dt >= start) else "+12:00"


def parse_local(s):
    return datetime.datetime.strptime(s, "%Y-%m-%d %H:%M")


def fmt(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + nz_offset(dt)


def when(date, user):
    return {"date": fmt(date) if date is not None else None, "user_id": user if date is not None else None}


NEVER = {"date": None, "user_id": None}
EPOCH = {"date": "1970-01-01T12:00:00+12:00", "user_id": None}  # shadow assets: Unix epoch, local time


def h(s, n):
    """Small deterministic 'random' number in [0, n) derived from a string."""
    return zlib.crc32(s.encode("utf-8")) % n


def dates_for(aid, status, at, user, publisher=None):
    """The four date objects and the version for an asset whose main event happened at `at`.

    Live-ish assets: `at` is the publish time. Never-published ones: `at` is the last update.
    """
    t = parse_local(at)
    publisher = publisher or user
    created = t - datetime.timedelta(hours=3 + h(aid, 70), minutes=h(aid + "m", 60))
    edits = h(aid + "v", 7)
    if status in (16, 32):
        upd = t + datetime.timedelta(days=h(aid + "u", 20)) if edits else t
        d = dict(created=when(created, user), updated=when(upd, user), published=when(t, publisher),
                 status_changed=when(t if status == 16 else upd, publisher))
        version = "0.1.%d" % edits
    elif status in (64, 128, 256):
        upd = t + datetime.timedelta(days=30 + h(aid + "u", 60), hours=2)
        d = dict(created=when(created, user), updated=when(upd, user), published=when(t, publisher),
                 status_changed=when(upd - datetime.timedelta(minutes=40), user))
        version = "0.2.%d" % (edits + 1)
    elif status == 1:
        arch = t + datetime.timedelta(days=200 + h(aid + "a", 100))
        d = dict(created=when(created, user), updated=when(arch, U_ED), published=when(t, publisher),
                 status_changed=when(arch, U_ED))
        version = "0.1.%d" % edits
    else:  # 2, 4, 8: never published
        d = dict(created=when(created, user), updated=when(t, user), published=NEVER,
                 status_changed=when(t if status != 2 else created, user))
        version = "0.0.%d" % (edits + 2)
    return d, version


# --------------------------------------------------------------------------------------------
# HTML helpers
# --------------------------------------------------------------------------------------------
def esc(s):
    return html.escape(s, quote=False)


def body(title, paras):
    """Page body: an <h1> and paragraphs. Items starting with '<' are raw HTML blocks."""
    out = ["<h1>%s</h1>" % esc(title)]
    for p in paras:
        out.append(p if p.startswith("<") else "<p>%s</p>" % p)
    return "\n".join(out) + "\n"


def ul(items):
    return "<ul>\n" + "".join("\t<li>%s</li>\n" % i for i in items) + "</ul>"


def table(head, rows):
    s = "<table class=\"data\">\n\t<thead>\n\t\t<tr>" + "".join("<th>%s</th>" % c for c in head) + "</tr>\n\t</thead>\n\t<tbody>\n"
    for r in rows:
        s += "\t\t<tr>" + "".join("<td>%s</td>" % c for c in r) + "</tr>\n"
    return s + "\t</tbody>\n</table>"


def meta(description, keywords, robots=None, **extra):
    m = {"description": [description], "keywords": list(keywords), "robots": list(robots or [])}
    m.update(extra)
    return m


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------
class Store:
    def __init__(self):
        self.assets = []
        self.by_id = {}
        self.links = []
        self.perm_of = {}     # asset id -> profile
        self.base = {}        # asset id -> list of URLs children extend
        self.next_id = 100
        self.next_link = 1

    def new_id(self):
        while str(self.next_id) in self.by_id or str(self.next_id) in RESERVED:
            self.next_id += 1
        n = str(self.next_id)
        self.next_id += 1
        return n

    def add(self, aid, typ, name, *, short_name=None, status=16, at="2023-02-01 10:00", user=U_ED,
            publisher=None, urls=(), attributes=None, metadata=None, contents="", trashed=False,
            live=None, perm=P_PUBLIC, version=None, dates=None):
        aid = aid or self.new_id()
        assert aid not in self.by_id, aid
        if dates is None:
            dates, v = dates_for(aid, status, at, user, publisher)
        else:
            v = ""
        a = {
            "id": aid, "type": typ, "type_name": TYPE_NAMES[typ],
            "version": version if version is not None else v,
            "name": name, "short_name": short_name if short_name is not None else name,
            "status": status,
            "created": dates["created"], "updated": dates["updated"],
            "published": dates["published"], "status_changed": dates["status_changed"],
            "urls": list(urls),
            "attributes": attributes if attributes is not None else {},
            "metadata": metadata,
            "contents": contents,
            "trashed": trashed,
        }
        if live is not None:
            a["live"] = live
        self.assets.append(a)
        self.by_id[aid] = a
        self.perm_of[aid] = perm
        self.base[aid] = [u for u in urls if "/__data/" not in u]
        return aid

    def link(self, major, minor, link_type="menu", sort_order=0, value="", dependent=False, exclusive=False):
        self.links.append({
            "link_id": str(self.next_link), "major_id": major, "minor_id": minor, "link_type": link_type,
            "value": value, "sort_order": sort_order, "is_dependent": dependent, "is_exclusive": exclusive,
        })
        self.next_link += 1

    def urls_under(self, parent, slug):
        return [b + "/" + slug for b in self.base[parent]]

    # ---- composite assets -------------------------------------------------------------------
    def bodycopy_chain(self, page, html_body, status, at, user, perm, live_body=None, wysiwyg=False):
        """page -> bodycopy -> bodycopy_div (-> content_type_wysiwyg), all dependent and invisible.

        Returns the rendered body (and the rendered live body, or None)."""
        bc, div = self.new_id(), self.new_id()
        wy = self.new_id() if wysiwyg else None

        def wrap(inner):
            return '<div id="content_container_%s">\n%s</div>\n' % (div, inner)

        rendered = wrap(html_body)
        live_rendered = wrap(live_body) if live_body is not None else None

        def live_of(name, attrs, contents):
            if live_body is None:
                return None
            return {"name": name, "short_name": name, "version": "0.1.0", "attributes": attrs,
                    "metadata": None, "contents": contents}

        self.add(bc, "bodycopy", "Page Contents", status=status, at=at, user=user, perm=perm,
                 attributes={}, contents=rendered, live=live_of("Page Contents", {}, live_rendered))
        self.link(page, bc, "invisible", 0, dependent=True, exclusive=True)
        div_attrs = {"name": "Content Container", "layout_type": "div", "css_class": "",
                     "disable_keywords": False}
        self.add(div, "bodycopy_div", "Content Container", status=status, at=at, user=user, perm=perm,
                 attributes=div_attrs, contents=rendered,
                 live=live_of("Content Container", div_attrs, live_rendered))
        self.link(bc, div, "invisible", 0, dependent=True, exclusive=True)
        if wy:
            wy_attrs = {"html": html_body, "htmltidy_status": "pass", "htmltidy_errors": ""}
            self.add(wy, "content_type_wysiwyg", "WYSIWYG", status=status, at=at, user=user, perm=perm,
                     attributes=wy_attrs, contents=html_body,
                     live=live_of("WYSIWYG", dict(wy_attrs, html=live_body), live_body))
            self.link(div, wy, "invisible", 0, dependent=True, exclusive=True)
        return rendered, live_rendered

    def page(self, parent, sort, slug, name, paras, *, aid=None, short_name=None, status=16,
             at="2023-02-01 10:00", user=U_ED, perm=None, link_type="menu", metadata=None,
             extra_urls=(), wysiwyg=False, live=None, publisher=None):
        """A standard page with its dependent bodycopy. `live` = (name, short_name, paras, metadata)."""
        perm = perm if perm is not None else self.perm_of[parent]
        aid = aid or self.new_id()
        short = short_name if short_name is not None else name
        page_urls = self.urls_under(parent, slug) + list(extra_urls)
        if metadata is None:
            metadata = meta("%s — University of Test" % short,
                            re.findall(r"[A-Za-zāēīōūĀĒĪŌŪ]{5,}", name)[:4])
        # the page is created first (dependants get the ids after it), its body comes from the chain
        self.add(aid, "page_standard", name, short_name=short, status=status, at=at, user=user,
                 publisher=publisher, urls=page_urls, attributes={"short_name": short, "name": name},
                 metadata=metadata, perm=perm)
        rendered, live_rendered = self.bodycopy_chain(
            aid, body(name, paras), status, at, user, perm,
            body(live[0], live[2]) if live else None, wysiwyg)
        p = self.by_id[aid]
        p["contents"] = rendered
        if live:
            p["live"] = {"name": live[0], "short_name": live[1], "version": "0.1.0",
                         "attributes": {"short_name": live[1], "name": live[0]},
                         "metadata": live[3], "contents": live_rendered}
        self.link(parent, aid, link_type, sort)
        return aid


# Ids given explicitly below; the allocator (Matrix-like creation order from 100) skips them.
RESERVED = {"1", "7", "12", "42", "77", "880", "881", "882", "883", "884", "885", "886", "887", "888", "889",
            "890", "891", "892", "893", "894", "895", "896", "897", "898", "899", "900", "901", "902", "903",
            "904", "905", "906", "907", "908", "909", "910", "911", "912", "913", "1001", "1234", "5001",
            "98765", "123456"}


def build():
    s = Store()

    # ---- system ------------------------------------------------------------------------------
    s.add("1", "root_folder", "Root Folder", at="2019-08-20 19:30", user=U_ROOT, metadata=None,
          attributes={"name": "Root Folder"})
    s.add("7", "site", "University of Test — Te Whare Wānanga o Te Whakamātautau", short_name="University of Test",
          at="2019-08-20 19:40", user=U_SYSADMIN, urls=MAIN,
          attributes={"name": "University of Test — Te Whare Wānanga o Te Whakamātautau",
                      "short_name": "University of Test", "index_page": "100", "not_found_page": "",
                      "force_secure": False},
          metadata=meta("The University of Test: study, research and campus life in Aotearoa New Zealand.",
                        ["university", "study", "Aotearoa", "Te Whare Wānanga"]))
    s.add("12", "site", "Research at the University of Test", short_name="Research",
          at="2020-02-11 11:15", user=U_SYSADMIN, urls=RESEARCH,
          attributes={"name": "Research at the University of Test", "short_name": "Research",
                      "index_page": "", "not_found_page": "", "force_secure": True},
          metadata=meta("Research centres, projects and publications of the University of Test.",
                        ["research", "publications", "rangahau"]))
    # two sites with the same sort_order: the tie is broken by asset id (7 before 12 numerically)
    s.link("1", "7", "menu", 0)
    s.link("1", "12", "menu", 0)

    s.add("42", "ldap_bridge", "Staff LDAP directory", at="2019-09-02 14:05", user=U_SYSADMIN, perm=[],
          attributes={"name": "Staff LDAP directory", "host": "ldap.uni.test", "port": 636,
                      "use_tls": True, "base_dn": "ou=people,dc=uni,dc=test",
                      "bind_dn": "cn=matrix,ou=services,dc=uni,dc=test"})
    s.link("1", "42", "menu", 1)
    for sid, first, last, email, title in [
        (U_JBLOGGS, "Joe", "Bloggs", "j.bloggs@uni.test", "Web Services Manager"),
        ("42:ldap/uid=mparata", "Mere", "Pārata", "m.parata@uni.test", "Kaiārahi Māori — Māori Student Adviser"),
    ]:
        s.add(sid, "ldap_backend_user", "%s %s" % (first, last), status=16, dates={
            "created": EPOCH, "updated": EPOCH, "published": NEVER, "status_changed": EPOCH},
            version="", attributes={"name": "%s %s" % (first, last), "first_name": first, "last_name": last,
                                    "email": email, "title": title, "phone": "+64 9 555 %04d" % (1000 + h(sid, 9000))})
        s.link("42", sid, "menu", 0)

    # ---- main site ---------------------------------------------------------------------------
    s.page("7", 0, "home", "Kia ora — Welcome to the University of Test", [
        "Kia ora and welcome to <strong>Te Whare Wānanga o Te Whakamātautau</strong>, the University of Test. "
        "For more than 150 years we have taught, questioned &amp; discovered alongside our communities.",
        '<div class="hero">\n\t<a class="button" href="https://www.uni.test/study/open-day-2024">Register for Open Day 2024</a>\n'
        '\t<a class="button secondary" href="https://www.uni.test/study/scholarships">Scholarships</a>\n</div>',
        "Whether you're starting your first degree, returning to study or looking for a research partner, "
        "you'll find people here who can help. Explore our faculties, read the latest news or "
        '<a href="https://www.uni.test/contact-us">get in touch</a>.',
        ul(['<a href="https://www.uni.test/study">Study with us</a>',
            '<a href="https://www.uni.test/faculties">Faculties &amp; schools</a>',
            '<a href="https://research.uni.test/home">Research</a>',
            '<a href="https://www.uni.test/news">News</a> &amp; <a href="https://www.uni.test/events">events</a>']),
    ], at="2023-01-16 09:00", wysiwyg=True,
        metadata=meta("Kia ora! The University of Test — study, research and campus life.",
                      ["university", "Kia ora", "study", "Open Day"], []))

    study = s.add(None, "folder", "Study", at="2019-08-21 10:00", urls=s.urls_under("7", "study"),
                  attributes={"name": "Study", "short_name": "Study"})
    s.link("7", study, "menu", 1)
    faculties = s.add(None, "folder", "Faculties", at="2019-08-21 10:05",
                      urls=s.urls_under("7", "faculties"), attributes={"name": "Faculties", "short_name": "Faculties"})
    s.link("7", faculties, "menu", 2)
    news = s.add(None, "folder", "News", at="2019-08-21 10:10", urls=s.urls_under("7", "news"),
                 attributes={"name": "News", "short_name": "News"}, perm=P_NEWS)
    s.link("7", news, "menu", 3)
    events = s.add(None, "folder", "Events", at="2019-08-21 10:15", urls=s.urls_under("7", "events"),
                   attributes={"name": "Events", "short_name": "Events"})
    s.link("7", events, "menu", 4)
    about = s.add(None, "folder", "About us", short_name="About", at="2019-08-21 10:20",
                  urls=s.urls_under("7", "about"), attributes={"name": "About us", "short_name": "About"})
    s.link("7", about, "menu", 5)
    intranet = s.add(None, "folder", "Intranet", at="2019-08-21 10:25", urls=s.urls_under("7", "intranet"),
                     attributes={"name": "Intranet", "short_name": "Intranet"}, perm=P_INTRANET)
    s.link("7", intranet, "menu", 6)
    files = s.add(None, "folder", "Files", at="2019-08-21 10:30", urls=s.urls_under("7", "files"),
                  attributes={"name": "Files", "short_name": "Files"})
    s.link("7", files, "menu", 8)
    # sort_order 8 again, different type: tree order puts folder (107) before page_standard (contact)
    s.page("7", 8, "contact-us", "Contact us", [
        "Our Contact Centre is open 8am–6pm weekdays (NZ time). Call <a href=\"tel:+6495550100\">0800 UNI TEST</a> "
        "or email <a href=\"mailto:info@uni.test\">info@uni.test</a>.",
        table(["Campus", "Address", "Hours"], [
            ["City", "22 Princes Street, Auckland 1010", "7am – 10pm"],
            ["Grafton", "85 Park Road, Grafton", "7am – 7pm"],
            ["Tai Tokerau", "Corner Raumanga Valley Rd &amp; Tauroa St, Whangārei", "8am – 5pm"],
        ]),
        "For media enquiries see <a href=\"https://www.uni.test/news/media-contacts\">Media contacts</a>.",
    ], at="2023-03-02 14:20", metadata=meta("How to contact the University of Test.", ["contact", "phone", "campus"]))
    s.page("7", 12, "search", "Search", [
        '<form action="https://www.uni.test/search" method="get">\n\t<label for="q">Search the site</label>\n'
        '\t<input type="search" id="q" name="q" placeholder="e.g. &quot;scholarships&quot;">\n</form>',
    ], at="2022-11-04 16:00", link_type="hidden",
        metadata=meta("Search the University of Test website.", ["search"], ["noindex", "follow"]))
    s.page("7", 13, "page-not-found", "Page not found", [
        "Sorry — we couldn't find that page. It may have moved during our website refresh.",
        "Try <a href=\"https://www.uni.test/search\">searching</a> or go back to the <a href=\"https://www.uni.test/home\">home page</a>.",
    ], at="2022-11-04 16:05", link_type="hidden",
        metadata=meta("Page not found.", [], ["noindex", "nofollow"]))
    s.add("1001", "rest_resource", "Library opening hours feed", at="2023-05-08 11:45", user=U_ED,
          urls=s.urls_under("7", "library-hours.json"),
          attributes={"name": "Library opening hours feed", "http_method": "GET",
                      "request_url": "https://libcal.example.test/api/1.1/hours/4021?weeks=2",
                      "http_auth_username": "matrix-web", "http_auth_password": "Tu!hoe-9f2Kq#demo",
                      "timeout": 10, "follow_redirects": True, "cache_ttl": 900},
          contents='{"locations":[{"name":"General Library","hours":"8am – 10pm"}]}\n')
    s.link("7", "1001", "hidden", 14)

    # ---- Study -------------------------------------------------------------------------------
    s.page(study, 0, "undergraduate", "Undergraduate study", [
        "Our bachelor's degrees give you a broad foundation and the chance to specialise. Most take three years "
        "full-time; conjoint degrees let you combine two programmes in five.",
        ul(["Bachelor of Arts (BA)", "Bachelor of Science (BSc)", "Bachelor of Engineering (Honours) (BE(Hons))",
            "Bachelor of Laws (LLB)", "Bachelor of Health Sciences (BHSc)"]),
        "Not sure where to start? Come to <a href=\"https://www.uni.test/study/open-day-2024\">Open Day</a> or "
        "book a one-to-one session with a Student Adviser.",
        "<h2>Entry requirements</h2>",
        "Most programmes use NCEA Level 3 with University Entrance, Cambridge International or the International "
        "Baccalaureate. Guaranteed entry scores are published for each programme every July; if your score is "
        "below the guaranteed level you may still be offered a place, depending on demand.",
        table(["Programme", "Guaranteed entry (rank score)", "Subject requirements"], [
            ["Bachelor of Arts", "150", "None"],
            ["Bachelor of Science", "165", "Maths or statistics recommended"],
            ["Bachelor of Engineering (Honours)", "260", "17 credits Calculus &amp; 16 credits Physics"],
            ["Bachelor of Laws (Part I)", "180", "None"],
            ["Bachelor of Health Sciences", "180", "Biology recommended"],
        ]),
        "<h2>Support while you study</h2>",
        "Tuākana mentoring for Māori and Pacific students, the Student Learning Services drop-in centre, "
        "free counselling at Student Health and an accessibility service that arranges note-takers, "
        "assistive technology and exam adjustments. You don't have to do it alone — \"ask early\" is the "
        "best advice our graduates give.",
        "<h2>Key dates for 2025</h2>",
        ul(["1 December 2024\tApplications close for most programmes",
            "17 February 2025\tOrientation begins",
            "3 March 2025\tSemester One lectures start",
            "14 March 2025\tLast day to add or drop courses (full refund)"]),
    ], at="2023-02-14 09:00", metadata=meta("Undergraduate degrees at the University of Test.",
                                            ["undergraduate", "bachelor", "degree"]))
    s.page(study, 1, "postgraduate", "Postgraduate study", [
        "Take your learning further with a postgraduate diploma, master's degree or PhD.",
        "Research degrees are supervised by staff who lead their fields; see "
        '<a href="https://research.uni.test/centres">our research centres</a>.',
        "<p>Applications for Semester Two close on <time datetime=\"2025-05-31\">31 May 2025</time>.</p>",
    ], at="2023-02-14 09:30", status=128,
        metadata=meta("Postgraduate diplomas, master's and doctoral study.", ["postgraduate", "PhD", "master's"]))
    s.page(study, 2, "scholarships", "Scholarships", [
        "Every year we award more than $20 million in scholarships & prizes. Applications for 2025 "
        "<strong>close on 31 August 2024</strong>.",
        table(["Scholarship", "Value", "Closes"], [
            ["Vice-Chancellor's Excellence Scholarship", "$20,000 per year", "31 August"],
            ["Te Pūtea Tautoko Māori Scholarship", "$10,000", "31 August"],
            ["Pacific Leadership Award", "$8,000", "15 September"],
            ["Women in STEM Scholarship", "$5,000", "1 October"],
        ]),
        "Use the <a href=\"https://www.uni.test/search?q=scholarship&amp;type=page\">scholarship finder</a> to "
        "see which awards you're eligible for.",
        "<h2>How to apply</h2>",
        "<ol>\n\t<li>Create a scholarship profile in Student Services Online.</li>\n\t<li>Choose up to five "
        "scholarships and answer the questions for each.</li>\n\t<li>Upload your referee's details — we'll "
        "email them a short form.</li>\n\t<li>Submit before 11:59pm on the closing date (NZ time).</li>\n</ol>",
        "Decisions are released from mid-November. Scholarships are usually paid in two instalments, in March "
        "and July, directly to your student account; any balance after fees is paid to your bank account.",
        "<h2>Frequently asked questions</h2>",
        "<dl>\n\t<dt>Can I hold more than one scholarship?</dt>\n\t<dd>Usually yes, unless the conditions say "
        "otherwise. Two 'full-fees' awards can't be combined.</dd>\n\t<dt>Do I need to be a New Zealand citizen?"
        "</dt>\n\t<dd>Most undergraduate scholarships are for domestic students; see International students for "
        "awards open to everyone.</dd>\n\t<dt>What if I miss the deadline?</dt>\n\t<dd>Late applications are "
        "not accepted, except where a scholarship says so.</dd>\n</dl>",
    ], at="2023-06-01 10:00", wysiwyg=True,
        metadata=meta("Scholarships and awards for new and current students.",
                      ["scholarships", "awards", "funding", "Māori", "Pacific"]))
    s.page(study, 3, "international", "International students — 留学生の皆さんへ", [
        "We welcome students from more than 110 countries. International students pay international tuition fees "
        "and need a valid student visa.",
        "<p lang=\"ja\">ニュージーランドへようこそ。本学では、日本からの留学生のための奨学金や日本語サポートをご用意しています。"
        "お気軽にお問い合わせください。</p>",
        ul(["English language requirements", "Visas &amp; immigration", "Accommodation guarantee",
            "日本語の資料 (Japanese brochure, PDF)"]),
    ], short_name="International students", at="2023-04-18 13:10",
        metadata=meta("Information for international students, including a Japanese language section.",
                      ["international", "visa", "留学生", "日本語"]))
    fees_meta_now = meta("Tuition fees for 2025.", ["fees", "2025", "tuition"])
    fees_meta_live = meta("Tuition fees for 2024.", ["fees", "2024", "tuition"])
    s.page(study, 5, "fees", "Fees and costs 2025", [
        "Tuition fees for 2025 are <em>provisional</em> until Council approves them in October.",
        table(["Programme", "Domestic (per year)", "International (per year)"], [
            ["BA", "$7,420", "$38,900"], ["BSc", "$8,210", "$44,100"], ["BE(Hons)", "$10,080", "$52,600"]]),
        "Student Services Fee: $1,034.40 per year (full-time).",
    ], short_name="Fees 2025", at="2023-10-05 10:00", status=64, metadata=fees_meta_now,
        live=("Fees and costs 2024", "Fees 2024", [
            "Tuition fees for 2024 are confirmed.",
            table(["Programme", "Domestic (per year)", "International (per year)"], [
                ["BA", "$7,190", "$37,500"], ["BSc", "$7,950", "$42,800"], ["BE(Hons)", "$9,780", "$50,900"]]),
            "Student Services Fee: $998.50 per year (full-time).",
        ], fees_meta_live))
    openday = s.page(study, 6, "open-day-2024", "Open Day 2024", [
        "<strong>Saturday 24 August 2024, 9am – 3pm</strong>, City Campus. Free entry; registration recommended.",
        "Meet lecturers, tour the labs, visit halls of residence and talk to current students. "
        "Whānau are very welcome!",
        ul(["9:00\tWelcome &amp; mihi whakatau — Great Hall", "10:00\tFaculty talks (every 30 minutes)",
            "12:30\tKai &amp; live music on the Quad", "14:00\tAccommodation tours"]),
        '<a class="button" href="https://www.uni.test/events/open-day-2024#register">Register now</a>',
    ], at="2024-05-20 09:00", extra_urls=s.urls_under(events, "open-day-2024"),
        metadata=meta("Open Day 2024: Saturday 24 August, City Campus.", ["Open Day", "2024", "tours", "whānau"]))
    s.link(events, openday, "menu", 0)  # second parent: same asset in Study and Events
    s.page(study, 7, "course-guide-2023", "2023 Course Guide", [
        "This guide describes programmes offered in 2023. It is kept for reference only; see the "
        "current <a href=\"https://www.uni.test/study/undergraduate\">undergraduate</a> pages.",
    ], at="2022-08-01 09:00", status=1,
        metadata=meta("Archived 2023 course guide.", ["course guide", "2023"], ["noindex"]))
    s.add(None, "file", "exam-timetable-draft.xlsx", at="2024-09-10 15:40", user=U_PRIYA,
          urls=s.urls_under(study, "exam-timetable-draft.xlsx"), perm=P_PUBLIC_DENY,
          attributes={"name": "exam-timetable-draft.xlsx", "title": "Semester Two exam timetable (DRAFT — staff only)",
                      "size": 48213, "allow_unrestricted": False})
    s.link(study, s.assets[-1]["id"], "menu", 9)

    # ---- Faculties ---------------------------------------------------------------------------
    sci = s.page(faculties, 0, "science", "Faculty of Science", [
        "The Faculty of Science — Te Wāhanga Pūtaiao — is home to 9 schools and more than 7,000 students.",
        "Our researchers study everything from kelp forests to quantum computers, and our teaching labs were "
        "rebuilt in 2023.",
        "<blockquote>\n\t<p>\"Science is a way of thinking much more than it is a body of knowledge.\"</p>\n"
        "\t<footer>— Carl Sagan</footer>\n</blockquote>",
    ], at="2023-03-01 11:00", wysiwyg=True,
        metadata=meta("Faculty of Science — Te Wāhanga Pūtaiao.", ["science", "pūtaiao", "biology", "physics"]))
    s.page(sci, 0, "biological-sciences", "School of Biological Sciences", [
        "From molecules to ecosystems: study genetics, ecology, marine biology and biotechnology.",
        "Field courses run at our Leigh Marine Laboratory and Tāwharanui Regional Park.",
    ], at="2023-03-01 11:20")
    s.page(sci, 1, "physics", "Department of Physics", [
        "Physics at Test ranges from photonics to astrophysics. Our new neutrino detector collaboration "
        "measures particles with energies above 10<sup>15</sup> eV.",
        "Prerequisite: PHYSICS 120 &amp; MATHS 108 (or equivalent), with a grade of B- or better.",
    ], at="2023-03-01 11:35")
    arts = s.page(faculties, 1, "arts", "Faculty of Arts — Te Wāhanga Toi Tangata", [
        "Languages, cultures, history and the creative arts: the Faculty of Arts asks what it means to be human.",
        "We teach 24 languages, including te reo Māori, Japanese (日本語), Korean and Samoan.",
    ], short_name="Faculty of Arts", at="2023-03-02 09:15")
    s.page(arts, 0, "maori-studies", "Māori Studies — Te Wānanga o Waipapa", [
        "Kia ora mai koutou. Te Wānanga o Waipapa offers courses in te reo Māori, tikanga and Māori performing arts.",
        "<p lang=\"mi\">Ko te reo te mauri o te mana Māori. — The language is the life force of Māori mana.</p>",
    ], short_name="Māori Studies", at="2023-03-02 09:40")
    s.page(faculties, 2, "engineering", "Faculty of Engineering", [
        "Accredited by Engineering New Zealand under the Washington Accord, our BE(Hons) opens doors worldwide.",
        "Specialisations: civil, mechanical, electrical, software, chemical &amp; materials, biomedical.",
    ], at="2023-03-03 10:00")
    s.page(faculties, 4, "medical-health-sciences", "Faculty of Medical and Health Sciences", [
        "<p class=\"todo\">TODO: new faculty page — waiting for copy from the Dean's office.</p>",
        "Programmes: MBChB, nursing, pharmacy, optometry, population health.",
    ], at="2024-10-28 16:45", status=2, user=U_ED)

    # ---- News --------------------------------------------------------------------------------
    news_items = [
        # (id, slug, title, short_name, publish local time, status, summary, [paragraphs], keywords)
        ("77", "research-funding-boost", "Research funding boost of $12.5 million",
         "Research funding boost", "2023-07-03 09:30", 16,
         "Three projects share $12.5 million from the Endeavour Fund.",
         ["Three University of Test projects have shared $12.5 million in the latest Endeavour Fund round, "
          "including a kelp-restoration programme and a study of quantum error correction.",
          "\"This is a huge vote of confidence in our people,\" said Deputy Vice-Chancellor (Research) Professor Ana Lui."],
         ["funding", "Endeavour Fund", "research"]),
        ("880", "matariki-celebrations", "Matariki celebrations on campus", "Matariki",
         "2023-07-10 09:30", 16,
         "Kai, kapa haka and star-gazing for the Māori New Year.",
         ["Join us for Matariki celebrations across the City Campus: kapa haka on the Quad, a hāngī lunch and a "
          "star-gazing evening with the Stardome.",
          "Mānawatia a Matariki! Events are free and open to whānau."],
         ["Matariki", "Māori New Year", "kapa haka"]),
        ("5001", "library-exam-hours", "Library extends opening hours for exams", "Library exam hours",
         "2023-07-10 14:00", 32,
         "The General Library opens 24/7 during the exam period.",
         ["From 16 October the General Library will be open 24 hours a day, 7 days a week, until the last exam.",
          "Security staff are on duty overnight; bring your Campus Card."],
         ["library", "exams", "opening hours"]),
        ("881", "robotics-challenge", "Engineering students win national robotics challenge",
         "Robotics win", "2023-08-14 09:30", 16,
         "Team Kiwibot beat 30 teams with an autonomous fruit-picker.",
         ["Team Kiwibot — four second-year mechatronics students — took first place at the national robotics "
          "challenge with an autonomous apple-picking robot.",
          "The robot uses a stereo camera and a soft gripper to pick fruit without bruising it."],
         ["engineering", "robotics", "students"]),
        ("882", "living-lab-opens", 'Q&A: the "Living Lab" building opens its doors',
         "Living Lab opens", "2023-08-28 10:00", 16,
         'Our new "Living Lab" is a building that measures itself.',
         ["The six-storey \"Living Lab\" is wrapped in 4,000 sensors measuring temperature, humidity, energy and "
          "how people use the space.",
          "<h2>Q&amp;A with architect Sione Tupou</h2>\n<p><strong>Q:</strong> Why timber?<br>\n<strong>A:</strong> "
          "It stores carbon &amp; it's beautiful. Win–win.</p>"],
         ["Living Lab", "building", "sustainability"]),
        ("883", "maths-outreach-surprises", "Maths outreach: why 0.999… = 1 & other <surprises>",
         "Maths outreach", "2023-09-11 09:30", 16,
         "Our mathematicians take counter-intuitive results on the road.",
         ["Does 0.999… really equal 1? Is 1 < 2 always true? (In ordinary arithmetic, yes: 1 &lt; 2.) Our "
          "mathematicians visited 40 secondary schools this term.",
          "<pre><code>x = 0.999…\n10x = 9.999…\n10x - x = 9\nx = 1</code></pre>"],
         ["maths", "outreach", "schools"]),
        ("884", "te-wiki-o-te-reo-maori", "Te Wiki o te Reo Māori: celebrating Māori Language Week",
         "Te Wiki o te Reo Māori", "2023-09-14 08:00", 16,
         "Kōrero Māori — use te reo every day this week.",
         ["Kia ora koutou! This week we celebrate te reo Māori with free classes, a pronunciation workshop and "
          "a quiz night.",
          "Try a new phrase every day: <em>Kei te pēhea koe?</em> (How are you?), <em>Ngā mihi</em> (Thanks)."],
         ["te reo Māori", "Māori Language Week", "kōrero"]),
        ("885", "climate-action-plan", "Climate action plan: net zero by 2030", "Net zero by 2030",
         "2023-10-02 09:30", 16,
         "The University commits to net-zero emissions by 2030.",
         ["Council has approved a climate action plan that commits the University to net-zero emissions by 2030.",
          "Measures include electrifying campus heating, cutting air travel by 40% and planting 10,000 native trees."],
         ["climate", "sustainability", "net zero"]),
        ("886", "graduation-what-to-know", "Graduation ceremonies: what you need to know",
         "Graduation guide", "2023-10-20 09:30", 16,
         "Dates, tickets and regalia for the spring ceremonies.",
         ["Spring graduation ceremonies run from 27 to 30 November at the Aotea Centre.",
          ul(["Book your regalia by 1 November", "Each graduand gets 3 guest tickets",
              "The procession leaves from the Quad at 10:15am"])],
         ["graduation", "ceremony", "regalia"]),
        ("887", "law-moot-court", "Law students' moot court success", "Moot court",
         "2023-11-06 09:30", 16,
         "LLB students win the Australasian Law Students' moot.",
         ["Two of our LLB students won the Australasian Law Students' Association moot in Brisbane, arguing a "
          "case on Treaty settlements and natural resources.",
          "It's the third win for Test in five years."],
         ["law", "moot", "students"]),
        ("888", "staff-honours", "Staff recognised in King's Birthday Honours", "King's Birthday Honours",
         "2023-06-05 07:00", 1,
         "Four staff members recognised in the Honours list.",
         ["Four University of Test staff were recognised in the King's Birthday Honours, for services to "
          "education, Māori health and music."],
         ["honours", "staff"]),
        ("889", "free-flu-vaccinations", "Free flu vaccinations for staff and students", "Free flu jabs",
         "2024-03-04 09:30", 16,
         "Drop-in vaccination clinics run through April.",
         ["Free flu vaccinations are available at Student Health (Level 3, Kate Edger) and the staff clinic from "
          "4 March.",
          "No appointment needed; bring your ID card."],
         ["health", "vaccination", "flu"]),
        ("890", "welcome-semester-one-2024", "Kia ora! Welcome to Semester One 2024", "Welcome Semester One",
         "2024-02-26 08:00", 16,
         "Kia ora and welcome — here's what you need for your first week.",
         ["Kia ora and welcome to Semester One! Whether you're new or returning, here are the essentials:",
          ul(["Collect your Campus Card at the Student Hub", "Check your timetable in Student Services Online",
              "Join a club at the Clubs Expo (Wednesday 28 Feb)"])],
         ["orientation", "welcome", "Kia ora"]),
        ("891", "orientation-week", "Orientation week programme released", "O-Week programme",
         "2024-02-05 09:30", 8,
         "O-Week runs 19–23 February.",
         ["The full Orientation programme is now online, with campus tours, a welcome pōwhiri and the Clubs Expo."],
         ["orientation", "O-Week"]),
        ("892", "zebra-foal-vet-hospital", "Zebra 🦓 foal born at the Veterinary Teaching Hospital",
         "Zebra foal 🦓", "2024-03-18 09:30", 16,
         "A healthy zebra foal is doing well after a rare assisted birth.",
         ["Staff and students at the Veterinary Teaching Hospital helped deliver a zebra foal 🦓 on Sunday night, "
          "in partnership with Auckland Zoo.",
          "The foal — named <em>Pūrerehua</em> (butterfly) by the team — is feeding well.",
          '<img src="https://www.uni.test/files/zebra-foal.jpg" alt="Zebra foal standing next to its mother" width="800" height="533">'],
         ["zebra", "veterinary", "🦓"]),
        ("893", "marine-kelp-forests", "Marine scientists map kelp forests off the east coast",
         "Kelp forests mapped", "2024-04-09 09:30", 16,
         "Drones and divers produce the first full map of east coast kelp.",
         ["Researchers from the Centre for Marine Science have produced the first complete map of kelp forests "
          "along 300 km of the east coast, using drones, divers and satellite images.",
          "Kelp cover has fallen by 60% since the 1970s in some areas, but restoration trials show promise."],
         ["kelp", "marine science", "research"]),
        ("894", "tokyo-partnership", "University signs partnership with 東京大学 (University of Tokyo)",
         "Tokyo partnership", "2024-04-22 10:00", 16,
         "Student exchange and joint research with the University of Tokyo.",
         ["We have signed a five-year agreement with 東京大学 (the University of Tokyo) covering student exchange, "
          "joint PhD supervision and research in earthquake engineering.",
          "<p lang=\"ja\">両大学の学生交流がさらに活発になることを期待しています。</p>"],
         ["Japan", "Tokyo", "partnership", "日本"]),
        ("895", "matariki-2024", "Matariki 2024: Mānawatia a Matariki", "Matariki 2024",
         "2024-06-24 09:30", 16,
         "A week of kai, kōrero and star-gazing.",
         ["This year's Matariki programme includes a dawn ceremony on Friday 28 June, kapa haka, a hāngī and "
          "talks from Māori astronomers."],
         ["Matariki", "Māori New Year"]),
        ("896", "scholarship-applications-close", "Scholarship applications close 31 August",
         "Scholarship deadline", "2024-07-29 09:30", 16,
         "Don't miss out: most 2025 scholarship applications close on 31 August.",
         ["Applications for most 2025 undergraduate scholarships close at 11:59pm on Saturday 31 August.",
          'See <a href="https://www.uni.test/study/scholarships">Scholarships</a> for eligibility &amp; how to apply.'],
         ["scholarships", "deadline", "2025"]),
        ("897", "open-day-record-crowd", "Open Day 2024 draws record crowd", "Open Day record",
         "2024-08-26 09:30", 16,
         "More than 14,000 visitors came to Open Day 2024.",
         ["More than 14,000 prospective students and whānau visited the City Campus for Open Day on Saturday, "
          "a new record.",
          "Thank you to the 600 staff and student volunteers who made it happen."],
         ["Open Day", "2024"]),
        ("898", "student-satisfaction", "Student satisfaction rated 4.5 out of 5", "Satisfaction 4.5/5",
         "2024-08-05 09:30", 16,
         "Students rate their experience 4.5/5 in the annual survey.",
         ["The 2024 Student Experience Survey gives the University an overall rating of 4.5 out of 5, up from 4.2.",
          "Library services and teaching quality scored highest; parking & food prices lowest."],
         ["survey", "students", "satisfaction"]),
        ("899", "physics-neutrino-record", "Physics department detects record-breaking neutrino",
         "Record neutrino", "2024-09-02 09:30", 16,
         "A 10 PeV neutrino, the most energetic yet seen by the collaboration.",
         ["Physicists working with the IceCube collaboration have identified a neutrino with an energy of about "
          "10 PeV (10<sup>16</sup> eV).",
          "The result will be presented at the International Cosmic Ray Conference."],
         ["physics", "neutrino", "IceCube"]),
        ("900", "new-accommodation-2025", "New student accommodation opens in 2025", "New halls 2025",
         "2024-09-09 09:30", 16,
         "800 new beds in Waipapa Hall.",
         ["Waipapa Hall, with 800 beds, opens to first-year students in February 2025. Applications open 1 October."],
         ["accommodation", "halls", "2025"]),
        ("901", "health-sciences-consent", "Health sciences building consent granted", "Building consent",
         "2024-09-16 09:30", 16,
         "Construction of the new health sciences building starts in November.",
         ["Auckland Council has granted resource consent for the new Health Sciences building on Park Road."],
         ["building", "health sciences", "construction"]),
        ("902", "alumni-awards-2024", "Alumni awards 2024: nominations open", "Alumni awards",
         "2024-09-23 09:30", 16,
         "Nominate an outstanding graduate by 30 October.",
         ["Do you know a graduate who is changing the world? Nominations for the 2024 Distinguished Alumni "
          "Awards are open until 30 October."],
         ["alumni", "awards"]),
        ("903", "cyber-security-week", "Cyber security week: protect your password", "Cyber security week",
         "2024-10-07 09:30", 16,
         "Phishing emails are up 30%: here's how to stay safe.",
         ["It's Cyber Security Awareness Week. Never share your password — IT staff will never ask for it.",
          "Turn on multi-factor authentication at <a href=\"https://www.uni.test/intranet/it-service-desk\">the "
          "IT service desk</a>, and report phishing to <a href=\"mailto:phish@uni.test\">phish@uni.test</a>."],
         ["cyber security", "password", "phishing"]),
        ("904", "chemistry-labs-refurbished", "Chemistry lab refurbishment complete", "Chemistry labs",
         "2024-10-14 09:30", 16,
         "Teaching labs reopen with 120 new fume cupboards.",
         ["The $38 million refurbishment of the Chemistry teaching laboratories is complete."],
         ["chemistry", "labs"]),
        ("905", "women-in-stem-recipients", "Women in STEM scholarship recipients announced",
         "Women in STEM", "2024-10-21 09:30", 16,
         "Twelve students receive the 2024 Women in STEM scholarship.",
         ["Congratulations to the twelve recipients of this year's Women in STEM scholarship, studying "
          "subjects from software engineering to marine biology."],
         ["scholarships", "STEM", "women"]),
        ("906", "japanese-programme-50-years", "Japanese language programme celebrates 50 years — 日本語プログラム50周年",
         "日本語プログラム50周年", "2024-10-28 09:30", 16,
         "Half a century of Japanese language teaching.",
         ["Our Japanese programme, founded in 1974, celebrates its 50th anniversary with a symposium and a "
          "calligraphy (書道) exhibition.",
          "<p lang=\"ja\">卒業生の皆様、記念式典へのご参加をお待ちしております。</p>"],
         ["Japanese", "日本語", "anniversary"]),
        ("907", "sports-scholars-paris", "Sports scholarship athletes head to Paris", "Athletes to Paris",
         "2024-07-15 09:30", 16,
         "Seven current students selected for the Olympic and Paralympic Games.",
         ["Seven students on our Elite Athlete programme have been selected for Paris 2024 — in rowing, sailing, "
          "athletics and para-cycling."],
         ["sport", "Olympics", "Paris 2024"]),
        ("908", "summer-school-enrolments", "Summer school enrolments open", "Summer school",
         "2024-11-04 09:30", 16,
         "Get ahead with a summer course: enrol by 1 December.",
         ["Summer School runs from 6 January to 14 February 2025. More than 150 courses are available."],
         ["summer school", "enrolment"]),
        ("909", "semester-two-timetable-changes", "Draft: Semester Two timetable changes",
         "Timetable changes (draft)", "2024-11-11 16:20", 2,
         "DRAFT — do not publish until confirmed by Timetabling.",
         ["<p class=\"draft\">DRAFT: room changes for Semester Two. Waiting on final numbers from Timetabling.</p>"],
         ["timetable", "draft"]),
        ("910", "covid-campus-update", "COVID-19 campus update", "COVID-19 update",
         "2022-02-14 08:00", 1,
         "Archived: campus COVID-19 settings (2022).",
         ["Masks are required in teaching spaces. This page is archived and kept for the record."],
         ["COVID-19", "archive"]),
        ("911", "fees-freeze-2025", "Fees freeze for 2025", "Fees freeze 2025",
         "2024-08-12 09:30", 64,
         "Domestic tuition fees will not rise in 2025.",
         ["Council has agreed to freeze domestic tuition fees for 2025, following the Government's announcement.",
          "International fees rise by 3.5%."],
         ["fees", "2025"]),
        ("912", "new-dean-of-science", "New Dean of Science appointed", "New Dean of Science",
         "2024-11-18 11:05", 4,
         "Professor Rawiri Tāne will lead the Faculty of Science from 2025.",
         ["Professor Rawiri Tāne has been appointed Dean of Science, starting 1 February 2025."],
         ["Science", "Dean", "appointment"]),
        ("98765", "anniversary-day-closure", "Campus closure: Auckland Anniversary Day", "Anniversary Day",
         "2024-01-22 09:00", 16,
         "All campuses closed on Monday 29 January.",
         ["All campuses are closed on Monday 29 January for Auckland Anniversary Day. Libraries reopen Tuesday."],
         ["closure", "holiday"]),
        ("123456", "parking-changes", "Parking changes from 1 July", "Parking changes",
         "2024-06-10 09:30", 16,
         "New permit zones and prices from 1 July.",
         ["From 1 July, staff and student parking permits move to a daily-rate system; see the intranet for details.",
          "Bike parking doubles to 1,200 spaces."],
         ["parking", "transport"]),
        ("913", "exam-timetable-available", "Exam timetable now available", "Exam timetable",
         "2024-09-30 09:30", 16,
         "Check your personal exam timetable online.",
         ["Semester Two exam timetables are now available in Student Services Online."],
         ["exams", "timetable"]),
    ]
    # News ordered by creation (oldest first), the way Matrix appends to a folder; a couple of gaps
    # (deleted items) and a deliberate tie: 880 and 5001 share sort_order 1 (same type -> id decides,
    # numerically 880 < 5001 although "5001" < "880" as text).
    news_items.sort(key=lambda n: (n[4], n[0]))
    news_ids = {}
    sort = 0
    for i, (nid, slug, title, short, pub, status, summary, paras, kws) in enumerate(news_items):
        author = U_AROHA if h(nid, 3) else U_ED
        if nid == "901":
            author = U_JBLOGGS  # an item by the LDAP shadow user (non-numeric user_id)
        html_body = "".join(p if p.startswith("<") else "<p>%s</p>\n" % p for p in paras)
        dt = parse_local(pub)
        contents = ('<div class="news-item">\n\t<h1>%s</h1>\n\t<p class="date"><time datetime="%s">%s</time></p>\n'
                    '\t<p class="summary">%s</p>\n%s</div>\n') % (
            esc(title), dt.strftime("%Y-%m-%d"), "%d %s" % (dt.day, dt.strftime("%B %Y")), esc(summary), html_body)
        attrs = {"name": title, "summary": summary, "body": html_body,
                 "contact_info": "Media: Aroha Ngata, a.ngata@uni.test, +64 9 555 0142",
                 "link_url": "", "allow_comments": h(nid + "c", 2) == 0,
                 "word_count": len(re.sub(r"<[^>]+>", " ", html_body).split())}
        md = meta(summary, kws, [], thumbnail=["1234"] if nid in ("893", "897") else [])
        live = None
        if status == 64:
            live_title = "Fees set for 2025"
            live_summary = "Domestic fees for 2025 rise by up to 6%."
            live_body = "<p>Domestic tuition fees rise by up to 6% in 2025, the maximum the Government allows.</p>\n"
            live = {"name": live_title, "short_name": "Fees 2025",
                    "version": "0.1.0",
                    "attributes": {"name": live_title, "summary": live_summary, "body": live_body,
                                   "contact_info": attrs["contact_info"], "link_url": "", "allow_comments": False,
                                   "word_count": 16},
                    "metadata": meta(live_summary, ["fees", "2025"], []),
                    "contents": ('<div class="news-item">\n\t<h1>%s</h1>\n\t<p class="date"><time datetime="%s">%s</time></p>\n'
                                 '\t<p class="summary">%s</p>\n%s</div>\n') % (
                        esc(live_title), dt.strftime("%Y-%m-%d"), "%d %s" % (dt.day, dt.strftime("%B %Y")), esc(live_summary), live_body)}
        nid = s.add(nid, "news_item", title, short_name=short, status=status, at=pub, user=author,
                    urls=s.urls_under(news, slug), attributes=attrs, metadata=md, contents=contents,
                    perm=P_NEWS, live=live)
        news_ids[slug] = nid
        if nid == "5001":
            sort -= 1  # tie with 880
        if i in (9, 22):
            sort += 2  # gaps left by deleted items
        s.link(news, nid, "menu", sort)
        sort += 1
    # a trashed news item: still linked under News, but the API must pretend it does not exist
    trashed_id = s.add(None, "news_item", "Campus closed (duplicate)", status=16, at="2024-01-22 09:05",
                       user=U_AROHA, urls=s.urls_under(news, "campus-closed-duplicate"),
                       attributes={"name": "Campus closed (duplicate)", "summary": "Duplicate — delete me",
                                   "body": "<p>All campuses are closed on Monday 29 January.</p>\n",
                                   "contact_info": "", "link_url": "", "allow_comments": False, "word_count": 8},
                       metadata=meta("Duplicate", [], []),
                       contents="<div class=\"news-item\">\n\t<h1>Campus closed (duplicate)</h1>\n</div>\n",
                       trashed=True, perm=P_NEWS)
    s.link(news, trashed_id, "menu", sort)
    sort += 1
    s.page(news, sort + 5, "media-contacts", "Media contacts", [
        "Journalists can reach the Communications team 24/7.",
        table(["Name", "Role", "Phone"], [
            ["Aroha Ngata", "Senior Media Adviser", "+64 9 555 0142"],
            ["Ed Itor", "Web &amp; Digital Manager", "+64 9 555 0177"]]),
    ], at="2023-05-02 12:00", user=U_AROHA, perm=P_NEWS, metadata=meta("Media contacts.", ["media", "press"]))
    archive = s.add(None, "folder", "News archive", at="2023-01-09 09:00", user=U_AROHA,
                    urls=s.urls_under(news, "archive"), attributes={"name": "News archive", "short_name": "Archive"},
                    perm=P_NEWS)
    s.link(news, archive, "hidden", sort + 6)
    for j, (slug, title, pub, summary) in enumerate([
        ("vc-appointed-2022", "New Vice-Chancellor announced", "2022-03-21 09:00",
         "Professor Dawn Freshwater–Smith will be the University's 13th Vice-Chancellor."),
        ("students-return-2022", "Students return to campus", "2022-02-28 08:30",
         "In-person teaching resumes for Semester One 2022."),
        ("te-tiriti-settlement-research", "Research on Te Tiriti settlements wins award", "2022-11-14 09:30",
         "A study of Treaty settlements wins the Royal Society's Te Rangi Hiroa Medal."),
    ]):
        aid = s.add(None, "news_item", title, status=16, at=pub, user=U_AROHA, urls=s.urls_under(archive, slug),
                    attributes={"name": title, "summary": summary, "body": "<p>%s</p>\n" % esc(summary),
                                "contact_info": "", "link_url": "", "allow_comments": False,
                                "word_count": len(summary.split())},
                    metadata=meta(summary, ["archive", "2022"], []),
                    contents="<div class=\"news-item\">\n\t<h1>%s</h1>\n\t<p>%s</p>\n</div>\n" % (esc(title), esc(summary)),
                    perm=P_NEWS)
        s.link(archive, aid, "menu", j)

    # ---- Events ------------------------------------------------------------------------------
    ev = [
        ("matariki-star-gazing", "Matariki star-gazing evening", "2024-06-28 18:30", "2024-06-28 21:00", False,
         "Observatory, Level 6 Science Building", 2.5, 16),
        ("graduation-autumn-2024", "Graduation — autumn ceremonies", "2024-05-06 10:00", "2024-05-10 16:00", True,
         "Aotea Centre", 8.0, 16),
        ("ipl-aroha-te-rangi", "Inaugural Professorial Lecture: Professor Aroha Te Rangi", "2024-09-12 18:00",
         "2024-09-12 19:30", False, "Fisher & Paykel Auditorium", 1.5, 16),
        ("film-night-seven-samurai", "Japanese Film Night: 七人の侍 (Seven Samurai)", "2024-10-04 19:00",
         "2024-10-04 22:30", False, "Lecture Theatre 1.439", 3.5, 16),
        ("careers-expo-2024", "Careers Expo 2024", "2024-07-31 10:00", "2024-07-31 12:00", False,
         "Recreation Centre", 2.0, 16),
        ("alumni-reunion-dinner", "Alumni reunion dinner — class of 1994", "2024-12-07 18:30", "2024-12-07 23:00",
         False, "Old Government House", 4.5, 64),
    ]
    for k, (slug, title, start, end, all_day, loc, dur, status) in enumerate(ev):
        aid = s.add(None, "calendar_event_single", title, status=status,
                    at=(parse_local(start) - datetime.timedelta(days=40)).strftime("%Y-%m-%d %H:%M"),
                    urls=s.urls_under(events, slug),
                    attributes={"name": title, "start_date": start + ":00", "end_date": end + ":00",
                                "all_day": all_day, "location": loc, "duration_hours": dur,
                                "capacity": 40 + h(slug, 400), "registration_required": h(slug, 2) == 1},
                    metadata=meta("%s — %s" % (title, loc), ["event"], []),
                    contents="<div class=\"event\">\n\t<h1>%s</h1>\n\t<p>%s – %s<br>\n\t%s</p>\n</div>\n" % (
                        esc(title), start, end[11:], esc(loc)))
        s.link(events, aid, "menu", k + 1)

    # ---- About -------------------------------------------------------------------------------
    s.page(about, 0, "history", "Our history", [
        "Founded in 1883 with 95 students and four professors, the University of Test is now New Zealand's "
        "largest university.",
        table(["Year", "Milestone"], [["1883", "Opened in a disused courthouse"],
                                      ["1926", "First women professors appointed"],
                                      ["1974", "Japanese programme founded (日本語)"],
                                      ["2023", "Living Lab opens"]]),
        "The University opened on 21 May 1883 in a disused courthouse and gaol on Eden Street, with four "
        "professors teaching classics, mathematics, natural science and English. Its first graduate, in 1886, "
        "was Emily Harrison, one of the first women in the British Empire to earn a science degree.",
        "During the twentieth century the University grew with the city. The Faculty of Engineering opened in "
        "1906, the Medical School in 1968 and the School of Māori Studies in 1972, after a petition signed by "
        "more than 30,000 people asked for te reo Māori to be taught at university level.",
        "<blockquote>\n\t<p>\"A university is a place where the whole community learns — not only the students.\"</p>\n"
        "\t<footer>— Sir Āpirana Ngata, speaking at the opening of the Old Arts Building, 1926</footer>\n</blockquote>",
        "Today more than 46,000 students study at five campuses, and our graduates include three prime ministers, "
        "a Nobel laureate and more Olympians than we can count.",
    ], at="2022-05-10 10:00")
    s.page(about, 1, "leadership", "Leadership & Governance", [
        "The University is governed by a Council of 12 members, chaired by the Chancellor.",
        ul(["Chancellor: Hon. Dame Rangi Parker", "Vice-Chancellor: Professor Dawn Freshwater–Smith",
            "Deputy Vice-Chancellor (Research): Professor Ana Lui"]),
    ], at="2023-12-10 15:23", status=32)
    s.page(about, 2, "te-tiriti", "Te Tiriti o Waitangi", [
        "The University acknowledges Te Tiriti o Waitangi as the founding document of Aotearoa New Zealand and "
        "commits to partnership with mana whenua, Ngāti Whātua Ōrākei.",
        "Our Te Tiriti framework, <em>Waipapa Taumata Rau</em>, guides our teaching, research &amp; operations.",
    ], at="2023-02-06 08:00", status=256,
        live=("Te Tiriti o Waitangi", "Te Tiriti o Waitangi", [
            "The University acknowledges Te Tiriti o Waitangi as the founding document of Aotearoa New Zealand.",
        ], meta("Our commitment to Te Tiriti o Waitangi.", ["Te Tiriti", "Treaty of Waitangi"])))
    maps = s.page(about, 3, "campus-maps", "Campus maps", [
        "Download printable maps or use the interactive map to find buildings, cafés, accessible entrances and "
        "parking.",
        '<img src="https://www.uni.test/files/campus-aerial.jpg" alt="Aerial view of the City Campus" width="1600" height="900">',
    ], at="2023-04-03 09:00")
    staffdir = s.page(about, 4, "staff-directory", "Staff directory", [
        "Find a staff member by name, department or expertise. Directory data comes from LDAP every night.",
        '<form action="https://www.uni.test/about/staff-directory" method="get"><input name="q"></form>',
    ], at="2023-05-15 09:00")
    s.page(about, 5, "accessibility", "Accessibility statement", [
        "We aim to meet WCAG 2.2 level AA. If something doesn't work for you, email "
        "<a href=\"mailto:web@uni.test\">web@uni.test</a> and we'll fix it.",
    ], at="2023-07-01 09:00", link_type="hidden")
    rankings = s.add(None, "folder", "Rankings", at="2023-06-20 10:00", urls=s.urls_under(about, "rankings"),
                     attributes={"name": "Rankings", "short_name": "Rankings"})
    s.link(about, rankings, "menu", 6)
    for k, (name, attrs) in enumerate([
        ("QS World University Rankings 2024", {"name": "QS World University Rankings 2024", "rank": 68,
                                               "previous_rank": 87, "score": 4.5, "published": True}),
        ("Research impact index 2024", {"name": "Research impact index 2024", "rank": 112,
                                        "field_weighted_citation_impact": 1.42, "p_value": 1e-05,
                                        "published": False}),
    ]):
        aid = s.add(None, "data_record", name, at="2024-06-05 10:00", urls=s.urls_under(rankings, re.sub(
            r"[^a-z0-9]+", "-", name.lower()).strip("-")), attributes=attrs)
        s.link(rankings, aid, "menu", k)

    # ---- Intranet (Staff only) ---------------------------------------------------------------
    s.page(intranet, 0, "staff-handbook", "Staff handbook", [
        "Everything you need to know about working at the University: leave, pay days, expenses and conduct.",
        ul(["Pay day is every second Wednesday", "Annual leave: 25 days + 5 University days",
            "Expenses over $500 need pre-approval"]),
        "<h2>Leave</h2>",
        "Apply for leave in the staff portal at least two weeks ahead. Sick leave of more than three consecutive "
        "days needs a medical certificate. Tangihanga (bereavement) leave is three days for a close family member "
        "and one day for others; talk to your manager if you need more.",
        "<h2>Working from home</h2>",
        "Staff may work from home up to two days a week by agreement with their manager. Use the VPN "
        "(<code>vpn.uni.test</code>) for access to finance and HR systems, and keep confidential papers at work.",
        "<h2>Code of conduct</h2>",
        "We expect everyone to treat colleagues and students with respect, declare conflicts of interest and "
        "report concerns through the 'Speak Up' line (0800 555 0199), which can be anonymous.",
    ], at="2023-02-01 09:00", metadata=meta("Staff handbook.", ["staff", "HR"], ["noindex", "nofollow"]))
    s.page(intranet, 1, "it-service-desk", "IT service desk", [
        "Log a ticket at <a href=\"https://servicedesk.uni.test\">servicedesk.uni.test</a> or call ext. 88888.",
        "Your network drive is at <code>\\\\fileserver.uni.test\\staff\\%USERNAME%</code>; on Windows map it "
        "to <code>H:\\</code>.",
        "<pre>C:\\&gt; net use H: \\\\fileserver.uni.test\\staff\\jbloggs /persistent:yes</pre>",
    ], at="2023-02-01 09:30", metadata=meta("IT help for staff.", ["IT", "help"], ["noindex", "nofollow"]))
    s.page(intranet, 2, "restructure-proposal", "Restructure proposal (confidential)", [
        "<p class=\"warning\">CONFIDENTIAL — for consultation with affected staff only.</p>",
        "This proposal would merge the Communications and Marketing teams into a single Engagement Office.",
        "Feedback closes 15 November 2024.",
    ], at="2024-10-15 08:00", perm=P_RESTRUCTURE,
        metadata=meta("Confidential restructure proposal.", ["restructure"], ["noindex", "nofollow"]))
    s.add(None, "pdf_file", "staff-phone-list.pdf", at="2024-02-12 11:00", urls=s.urls_under(intranet, "staff-phone-list.pdf"),
          attributes={"name": "staff-phone-list.pdf", "title": "Staff phone list (Feb 2024)", "size": 182734,
                      "allow_unrestricted": False}, perm=P_INTRANET)
    s.link(intranet, s.assets[-1]["id"], "menu", 3)

    # ---- Files -------------------------------------------------------------------------------
    s.add("1234", "image", "campus-aerial.jpg", at="2022-09-19 13:00", user=U_ED,
          urls=s.urls_under(files, "campus-aerial.jpg") + [
              "https://www.uni.test/__data/assets/image/0034/1234/campus-aerial.jpg"],
          attributes={"name": "campus-aerial.jpg", "title": "Aerial view of the City Campus",
                      "alt": "Aerial view of the City Campus, with the clock tower and Albert Park",
                      "caption": "", "width": 1600, "height": 900, "size": 56417, "allow_unrestricted": True})
    s.link(files, "1234", "menu", 0)
    for vi, (vname, w, hh) in enumerate([("thumbnail", 200, 113), ("banner", 1200, 400)], start=1):
        vid = "1234:v%d" % vi
        s.add(vid, "image_variety", vname, dates={"created": EPOCH, "updated": EPOCH, "published": NEVER,
                                                  "status_changed": EPOCH}, version="",
              urls=["https://www.uni.test/__data/assets/image/0034/1234/varieties/%s.jpg" % vname],
              attributes={"name": vname, "variety_type": "resize", "width": w, "height": hh,
                          "constrain": "width"})
        s.link("1234", vid, "invisible", vi - 1, dependent=True, exclusive=True)
    for k, (typ, name, title, alt, size, extra) in enumerate([
        ("image", "zebra-foal.jpg", "Zebra foal 🦓", "Zebra foal standing next to its mother", 98304,
         {"width": 800, "height": 533}),
        ("image", "kia-ora-banner.png", "Kia ora banner",
         "\"Kia ora\" — welcome banner in te reo Māori & English", 240113, {"width": 1920, "height": 480}),
        ("pdf_file", "prospectus-2024.pdf", "Undergraduate Prospectus 2024", None, 8412331, {}),
        ("pdf_file", "annual-report-2023.pdf", "Annual Report 2023 — Te Pūrongo ā-Tau", None, 5120000, {}),
        ("file", "academic-calendar-2024.ics", "Academic calendar 2024 (iCalendar)", None, 12044, {}),
        ("file", "campus-map.svg", "Campus map (SVG) <printable>", None, 731002, {}),
    ], start=1):
        attrs = {"name": name, "title": title}
        if alt is not None:
            attrs["alt"] = alt
            attrs["caption"] = ""
        attrs.update(extra)
        attrs["size"] = size
        attrs["allow_unrestricted"] = name != "annual-report-2023.pdf"
        urls = s.urls_under(files, name)
        if name == "prospectus-2024.pdf":
            urls.append("https://www.uni.test/__data/assets/pdf_file/0012/1235/prospectus-2024.pdf")
        aid = s.add(None, typ, name, at="2023-%02d-10 10:00" % (k + 1), user=U_ED, urls=urls, attributes=attrs)
        s.link(files, aid, "menu" if k != 6 else "hidden", k + (1 if k < 3 else 3))
    zebra_img = next(a["id"] for a in s.assets if a["name"] == "zebra-foal.jpg")

    # ---- Research site -----------------------------------------------------------------------
    s.page("12", 0, "home", "Research at the University of Test", [
        "Rangahau — research — is at the heart of the University. Our 2,300 researchers work across 40 centres "
        "and institutes.",
        ul(['<a href="https://research.uni.test/centres">Research centres</a>',
            '<a href="https://research.uni.test/projects">Projects</a>',
            '<a href="https://research.uni.test/publications">Publications</a>']),
    ], at="2023-02-20 09:00", user=U_KENJI, perm=P_RESEARCH, wysiwyg=True)
    centres = s.add(None, "folder", "Research centres", short_name="Centres", at="2020-02-11 11:30", user=U_KENJI,
                    urls=s.urls_under("12", "centres"), attributes={"name": "Research centres", "short_name": "Centres"},
                    perm=P_RESEARCH)
    s.link("12", centres, "menu", 1)
    projects = s.add(None, "folder", "Projects", at="2020-02-11 11:35", user=U_KENJI,
                     urls=s.urls_under("12", "projects"), attributes={"name": "Projects", "short_name": "Projects"},
                     perm=P_PROJECTS)
    s.link("12", projects, "menu", 2)
    pubs = s.add(None, "folder", "Publications", at="2020-02-11 11:40", user=U_KENJI,
                 urls=s.urls_under("12", "publications"),
                 attributes={"name": "Publications", "short_name": "Publications"}, perm=P_RESEARCH)
    s.link("12", pubs, "menu", 3)
    rnews = s.add(None, "folder", "Research news", short_name="News", at="2020-02-11 11:45", user=U_KENJI,
                  urls=s.urls_under("12", "news"), attributes={"name": "Research news", "short_name": "News"},
                  perm=P_RESEARCH)
    s.link("12", rnews, "menu", 4)
    s.page("12", 5, "contact", "Contact the Research Office", [
        "Te Tari Rangahau — the Research Office — supports grant applications, contracts and research ethics.",
        "Email <a href=\"mailto:research@uni.test\">research@uni.test</a>.",
    ], at="2023-02-20 09:30", user=U_KENJI, perm=P_RESEARCH)
    s.add(None, "rest_resource", "ORCID publications feed", at="2023-08-01 10:00", user=U_KENJI,
          urls=s.urls_under("12", "orcid-feed.json"), perm=P_RESEARCH,
          attributes={"name": "ORCID publications feed", "http_method": "GET",
                      "request_url": "https://pub.orcid.test/v3.0/works?affiliation=uni.test",
                      "api_key": "sk_live_demo_4f9c2a7e1b3d5f60", "timeout": 30, "follow_redirects": True,
                      "cache_ttl": 3600},
          contents='{"works":[{"title":"Kelp forest decline & recovery","year":2024}]}\n')
    s.link("12", s.assets[-1]["id"], "hidden", 6)
    for k, (slug, name, paras) in enumerate([
        ("marine-science", "Centre for Marine Science", [
            "Based at the Leigh Marine Laboratory, we study coastal ecosystems from plankton to whales.",
            "Current work includes kelp restoration, ocean acidification and marine protected areas."]),
        ("te-punaha-matatini", "Te Pūnaha Matatini — Centre for Complex Systems", [
            "Te Pūnaha Matatini ('the meeting place of many faces') turns complex data into knowledge for "
            "Aotearoa.",
            "Our models informed the national COVID-19 response."]),
        ("japanese-studies", "日本研究所 — Institute for Japanese Studies", [
            "<p lang=\"ja\">日本研究所は、日本の言語・文化・社会に関する学際的研究を推進しています。</p>",
            "The Institute hosts visiting scholars from Tokyo, Kyoto and Osaka every year."]),
    ]):
        s.page(centres, k, slug, name, paras, at="2023-03-%02d 10:00" % (10 + k), user=U_KENJI)
    for k, (slug, name, status, paras) in enumerate([
        ("kelp-restoration", "Kelp forest restoration", 16, [
            "A five-year, $4.1 million programme to restore kelp forests on the east coast with mana whenua.",
            "Partners: Ngāti Manuhiri, Department of Conservation, Auckland Council."]),
        ("quantum-error-correction", "Quantum error correction", 2, [
            "<p class=\"draft\">Draft project page — do not publish before the grant is announced.</p>",
            "We develop surface-code decoders for superconducting qubits."]),
        ("living-lab-study", 'The "Living Lab" building study', 16, [
            "How do people actually use a \"smart\" building? Four years of sensor data from the Living Lab "
            "answer that question.",
            "Data are published under CC BY 4.0 at <a href=\"https://research.uni.test/publications\">Publications</a>."]),
    ]):
        s.page(projects, k, slug, name, paras, status=status, at="2023-04-%02d 10:00" % (3 + k), user=U_KENJI,
               perm=P_PROJECTS)
    for k, (slug, title, year, size) in enumerate([
        ("kelp-decline-recovery", "Kelp forest decline and recovery, 1970–2023", 2024, 2210455),
        ("urchin-barrens", "Urchin barrens on the north-east coast", 2023, 1304422),
        ("surface-code-decoders", "Fast surface-code decoders", 2024, 884120),
        ("living-lab-occupancy", "Occupancy patterns in a sensor-rich building", 2024, 3301201),
        ("te-reo-nlp", "Natural language processing for te reo Māori", 2023, 1777023),
        ("tsunami-modelling", "Tsunami modelling for the Hauraki Gulf", 2022, 5402311),
        ("japanese-loanwords", "Japanese loanwords in New Zealand English (日本語の借用語)", 2023, 602118),
        ("complex-networks-covid", "Complex networks and COVID-19 contact tracing", 2022, 1188001),
        ("ocean-acidification", "Ocean acidification & shellfish", 2023, 942777),
        ("neutrino-10pev", "A 10 PeV neutrino candidate", 2024, 713002),
    ]):
        name = slug + ".pdf"
        aid = s.add(None, "pdf_file", name, at="%d-%02d-15 10:00" % (year, 2 + k), user=U_KENJI,
                    urls=s.urls_under(pubs, name), perm=P_RESEARCH,
                    attributes={"name": name, "title": title, "size": size, "allow_unrestricted": True})
        s.link(pubs, aid, "menu", k if k != 7 else 6)  # 6 is used twice: two pdf_files -> id decides
    # a news item living in both sites: menu-linked under the main News folder and Research news
    kelp = news_ids["marine-kelp-forests"]
    s.by_id[kelp]["urls"] += s.urls_under(rnews, "marine-kelp-forests")
    s.link(rnews, kelp, "menu", 0)
    aid = s.add(None, "news_item", "Te Pūnaha Matatini launches public data dashboard", short_name="Data dashboard",
                at="2024-05-13 09:30", user=U_KENJI, urls=s.urls_under(rnews, "data-dashboard"), perm=P_RESEARCH,
                attributes={"name": "Te Pūnaha Matatini launches public data dashboard",
                            "summary": "Open data on housing, health & the environment.\nUpdated weekly.",
                            "body": "<p>The dashboard brings together 40 public datasets about Aotearoa.</p>\n",
                            "contact_info": "research@uni.test", "link_url": "https://research.uni.test/centres/te-punaha-matatini",
                            "allow_comments": False, "word_count": 11},
                metadata=meta("Open data dashboard from Te Pūnaha Matatini.", ["data", "dashboard"], []),
                contents="<div class=\"news-item\">\n\t<h1>Te Pūnaha Matatini launches public data dashboard</h1>\n"
                         "\t<p>The dashboard brings together 40 public datasets about Aotearoa.</p>\n</div>\n")
    s.link(rnews, aid, "menu", 1)

    # ---- reference links (NOTICE links: never part of the tree) ------------------------------
    s.link(staffdir, U_JBLOGGS, "reference", 0, value="featured_contact")
    s.link(news_ids["zebra-foal-vet-hospital"], zebra_img, "reference", 0, value="thumbnail")
    s.link(maps, "1234", "reference", 0, value="related_asset")

    # ---- a second context: te reo Māori -------------------------------------------------------
    # A few assets translated field by field (name, short_name, attributes, metadata, contents);
    # every other field, and every other asset, falls back to the default context.
    for a in s.assets:
        if a["id"] in MAORI:
            a["contexts"] = {CONTEXT_MI: MAORI[a["id"]]}
    return s


CONTEXT_MI = "Māori"
MI_HOME = ('<h1>Kia ora — Nau mai ki te Whare Wānanga o Te Whakamātautau</h1>\n'
           '<p>Nau mai, haere mai ki te Whare Wānanga. He wāhi ako, he wāhi rangahau.</p>')
MI_CONTACT = '<h1>Whakapā mai</h1>\n<p>Waea mai ki te Pokapū Whakapā, Rāhina ki te Rāmere.</p>'
MAORI = {
    "7": {"name": "Te Whare Wānanga o Te Whakamātautau", "short_name": "Te Whare Wānanga",
          "attributes": {"name": "Te Whare Wānanga o Te Whakamātautau", "short_name": "Te Whare Wānanga"},
          "metadata": {"description": ["Te Whare Wānanga o Te Whakamātautau: ako, rangahau, noho."]}},
    "100": {"name": "Kia ora — Nau mai", "short_name": "Nau mai",
            "attributes": {"name": "Kia ora — Nau mai", "short_name": "Nau mai"},
            "metadata": {"description": ["Kia ora! Te Whare Wānanga o Te Whakamātautau."],
                         "keywords": ["whare wānanga", "kia ora", "ako"]},
            "contents": MI_HOME},
    "101": {"contents": '<div id="content_container_102">\n' + MI_HOME + '\n</div>'},
    "102": {"contents": '<div id="content_container_102">\n' + MI_HOME + '\n</div>',
            "attributes": {"name": "Ihirangi"}},
    "103": {"name": "Tuhinga", "attributes": {"html": MI_HOME}, "contents": MI_HOME},
    "104": {"name": "Ako", "short_name": "Ako"},
    "106": {"name": "Ngā Pūrongo", "short_name": "Pūrongo"},
    "108": {"name": "Mō mātou", "short_name": "Mō mātou"},
    "111": {"name": "Whakapā mai", "short_name": "Whakapā mai", "contents": MI_CONTACT},
    "112": {"contents": '<div id="content_container_113">\n' + MI_CONTACT + '\n</div>'},
    "113": {"contents": '<div id="content_container_113">\n' + MI_CONTACT + '\n</div>'},
}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------
def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def permission_rows(s):
    rows = []
    for a in s.assets:
        for principal, access, granted in s.perm_of[a["id"]]:
            rows.append({"asset_id": a["id"], "principal_id": principal, "access": access, "granted": granted})
    return rows


def write_store(s):
    os.makedirs(OUT, exist_ok=True)
    files = {
        "assets.jsonl": s.assets,
        "links.jsonl": s.links,
        "principals.jsonl": PRINCIPALS,
        "permissions.jsonl": permission_rows(s),
        "tokens.jsonl": TOKENS,
    }
    with open(os.path.join(OUT, "store.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(dumps({"format": "matrix-snapshot-store/1", "name": "Demo University", "contexts": ["Default", CONTEXT_MI]}) + "\n")
    for name, rows in files.items():
        with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="\n") as f:
            for r in rows:
                f.write(dumps(r) + "\n")


# --------------------------------------------------------------------------------------------
# Self-check (the store format's "Validation" rules + the demo's promises)
# --------------------------------------------------------------------------------------------
ASSET_KEYS = ["id", "type", "type_name", "version", "name", "short_name", "status", "created", "updated",
              "published", "status_changed", "urls", "attributes", "metadata", "contents", "trashed", "live",
              "contexts"]
ASSET_REQUIRED = {"id", "type", "type_name", "name", "status"}
LIVE_KEYS = {"name", "short_name", "version", "attributes", "metadata", "contents"}
LINK_KEYS = ["link_id", "major_id", "minor_id", "link_type", "value", "sort_order", "is_dependent", "is_exclusive"]
LINK_REQUIRED = {"link_id", "major_id", "minor_id", "link_type", "sort_order"}
PRINCIPAL_KEYS = ["id", "kind", "name", "groups"]
PERM_KEYS = ["asset_id", "principal_id", "access", "granted"]
TOKEN_KEYS = ["token", "name", "enabled", "trashed", "user_id", "root_nodes"]
STATUSES = {1, 2, 4, 8, 16, 32, 64, 128, 256}
LINK_TYPES = {"menu", "hidden", "invisible", "reference"}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def norm_url(u):
    """The spec's URL normalisation: scheme ignored, host lower-case, default port dropped, one trailing '/'
    ignored, path case-sensitive, query/fragment dropped. None for other schemes."""
    m = re.match(r"^(?:([A-Za-z][A-Za-z0-9+.-]*)://)?([^/?#]*)([^?#]*)", u)
    scheme, host, path = m.group(1), m.group(2), m.group(3)
    if scheme is not None and scheme.lower() not in ("http", "https"):
        return None
    host = host.lower()
    if host.endswith(":80") or host.endswith(":443"):
        host = host.rsplit(":", 1)[0]
    if path.endswith("/"):
        path = path[:-1]
    return host + path


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                rows.append((n, json.loads(line)))
    return rows


def check(out=OUT):
    errors = []

    def err(where, msg):
        errors.append("%s: %s" % (where, msg))

    def keys_ok(where, obj, order, required):
        for k in obj:
            if k not in order:
                err(where, "unknown field %r" % k)
        for k in required:
            if k not in obj:
                err(where, "missing field %r" % k)
        present = [k for k in order if k in obj]
        if list(obj) != present:
            err(where, "keys not in spec order: %s" % list(obj))

    def date_ok(where, d):
        if not isinstance(d, dict) or set(d) != {"date", "user_id"} or list(d) != ["date", "user_id"]:
            return err(where, "bad date object %r" % (d,))
        if d["date"] is not None:
            if not DATE_RE.match(d["date"]):
                return err(where, "date not RFC 3339 with offset: %r" % d["date"])
            datetime.datetime.fromisoformat(d["date"].replace("Z", "+00:00"))
        if d["user_id"] is not None and d["user_id"] not in principals:
            err(where, "date user %r is not a principal" % d["user_id"])

    with open(os.path.join(out, "store.json"), encoding="utf-8") as f:
        store = json.load(f)
    if store != {"format": "matrix-snapshot-store/1", "name": "Demo University", "contexts": ["Default", CONTEXT_MI]}:
        err("store.json", "unexpected content %r" % store)

    principals = {}
    for n, p in read_jsonl(os.path.join(out, "principals.jsonl")):
        w = "principals.jsonl:%d" % n
        keys_ok(w, p, PRINCIPAL_KEYS, {"id", "kind", "name"})
        if p["id"] in principals:
            err(w, "duplicate principal id %r" % p["id"])
        if p["kind"] not in ("user", "group", "public", "root", "system_admin"):
            err(w, "bad kind %r" % p["kind"])
        principals[p["id"]] = p
    if sum(1 for p in principals.values() if p["kind"] == "public") != 1:
        err("principals.jsonl", "there must be exactly one public principal in the demo")
    for pid, p in principals.items():
        for g in p.get("groups", []):
            if g not in principals or principals[g]["kind"] != "group":
                err("principals.jsonl", "%r: group %r unknown or not a group" % (pid, g))
    # group cycles
    def group_cycle(start):
        seen, stack = set(), list(principals[start].get("groups", []))
        while stack:
            g = stack.pop()
            if g == start:
                return True
            if g in seen or g not in principals:
                continue
            seen.add(g)
            stack.extend(principals[g].get("groups", []))
        return False
    for pid, p in principals.items():
        if p["kind"] == "group" and group_cycle(pid):
            err("principals.jsonl", "group cycle through %r" % pid)

    assets = {}
    url_owner = {}
    for n, a in read_jsonl(os.path.join(out, "assets.jsonl")):
        w = "assets.jsonl:%d" % n
        keys_ok(w, a, ASSET_KEYS, ASSET_REQUIRED)
        aid = a["id"]
        if not isinstance(aid, str) or not aid or CONTROL_RE.search(aid):
            err(w, "bad id %r" % aid)
        if aid == "by_url":
            err(w, "asset id 'by_url' is reserved")
        if aid in assets:
            err(w, "duplicate asset id %r" % aid)
        if ":" in aid and not re.match(r"^\d+:.+$", aid):
            err(w, "shadow id %r is not <digits>:<anything>" % aid)
        if a["status"] not in STATUSES:
            err(w, "unknown status %r" % a["status"])
        if a.get("type_name") != TYPE_NAMES.get(a["type"]):
            err(w, "type_name %r does not match type %r" % (a.get("type_name"), a["type"]))
        for k in ("created", "updated", "published", "status_changed"):
            if k in a:
                date_ok("%s %s" % (w, k), a[k])
        for k, v in a.get("attributes", {}).items():
            if not isinstance(v, (str, int, float, bool)):
                err(w, "attribute %r has a non-scalar value" % k)
        md = a.get("metadata")
        if md is not None:
            for k, v in md.items():
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    err(w, "metadata %r is not an array of strings" % k)
        if "live" in a:
            if a["status"] not in (64, 128, 256):
                err(w, "live version on an asset not in safe editing")
            for k in a["live"]:
                if k not in LIVE_KEYS:
                    err(w, "unknown live field %r" % k)
        for ctx, over in a.get("contexts", {}).items():
            if ctx != CONTEXT_MI:
                err(w, "context %r is not declared" % ctx)
            for k in over:
                if k not in {"name", "short_name", "attributes", "metadata", "contents"}:
                    err(w, "context %r overrides %r" % (ctx, k))
        for u in a.get("urls", []):
            if not re.match(r"^https?://", u, re.I):
                err(w, "URL %r is not absolute http(s)" % u)
            nu = norm_url(u)
            if nu in url_owner and url_owner[nu] != aid:
                err(w, "URL %r also belongs to asset %r" % (u, url_owner[nu]))
            url_owner[nu] = aid
        assets[aid] = a

    link_ids = set()
    children = {}
    parents = {}
    for n, l in read_jsonl(os.path.join(out, "links.jsonl")):
        w = "links.jsonl:%d" % n
        keys_ok(w, l, LINK_KEYS, LINK_REQUIRED)
        if l["link_id"] in link_ids:
            err(w, "duplicate link id %r" % l["link_id"])
        link_ids.add(l["link_id"])
        if l["link_type"] not in LINK_TYPES:
            err(w, "unknown link type %r" % l["link_type"])
        if not isinstance(l["sort_order"], int) or isinstance(l["sort_order"], bool):
            err(w, "sort_order is not an integer")
        for k in ("major_id", "minor_id"):
            if l[k] not in assets:
                err(w, "%s %r is not an asset" % (k, l[k]))
        if l["link_type"] != "reference":
            children.setdefault(l["major_id"], []).append(l)
            parents.setdefault(l["minor_id"], []).append(l)

    # cycles among non-reference links (iterative DFS, three colours)
    colour = {}
    for root in assets:
        if colour.get(root):
            continue
        stack = [(root, iter(children.get(root, [])))]
        colour[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                continue
            c = nxt["minor_id"]
            if colour.get(c) == 1:
                err("links.jsonl", "cycle through link %s (%s -> %s)" % (nxt["link_id"], node, c))
            elif not colour.get(c):
                colour[c] = 1
                stack.append((c, iter(children.get(c, []))))

    perms = read_jsonl(os.path.join(out, "permissions.jsonl"))
    seen_perm = set()
    for n, r in perms:
        w = "permissions.jsonl:%d" % n
        keys_ok(w, r, PERM_KEYS, set(PERM_KEYS))
        if r["asset_id"] not in assets:
            err(w, "unknown asset %r" % r["asset_id"])
        if r["principal_id"] not in principals:
            err(w, "unknown principal %r" % r["principal_id"])
        if r["access"] not in ("read", "write", "admin"):
            err(w, "bad access %r" % r["access"])
        key = (r["asset_id"], r["principal_id"], r["access"])
        if key in seen_perm:
            err(w, "two rows for %r" % (key,))
        seen_perm.add(key)

    tokens = set()
    token_rows = read_jsonl(os.path.join(out, "tokens.jsonl"))
    for n, t in token_rows:
        w = "tokens.jsonl:%d" % n
        keys_ok(w, t, TOKEN_KEYS, {"token"})
        if t["token"] in tokens:
            err(w, "duplicate token")
        tokens.add(t["token"])
        if not t["token"] or re.search(r"\s", t["token"]):
            err(w, "token empty or containing whitespace")
        u = t.get("user_id")
        if u is not None:
            if u not in principals:
                err(w, "unknown user %r" % u)
            elif principals[u]["kind"] == "group":
                err(w, "token user %r is a group" % u)
        for r in t.get("root_nodes", []):
            if r not in assets:
                err(w, "unknown root node %r" % r)

    # ---- the demo's own promises ------------------------------------------------------------
    live_assets = [a for a in assets.values() if not a.get("trashed")]
    if len(live_assets) < 150:
        err("assets.jsonl", "only %d non-trashed assets (need >= 150)" % len(live_assets))
    sites = [a for a in assets.values() if a["type"] == "site"]
    if len(sites) != 2:
        err("assets.jsonl", "expected two sites")
    for aid, a in assets.items():
        if a["type"] == "page_standard":
            deps = [l for l in children.get(aid, []) if l["is_dependent"] and assets[l["minor_id"]]["type"] == "bodycopy"]
            if len(deps) != 1 or deps[0]["link_type"] != "invisible":
                err("assets.jsonl", "page %r lacks its dependent bodycopy" % aid)
            else:
                bc = deps[0]["minor_id"]
                if not [l for l in children.get(bc, []) if l["is_dependent"]]:
                    err("assets.jsonl", "bodycopy %r has no dependent div" % bc)
        if aid != "1" and aid not in parents:
            err("assets.jsonl", "asset %r has no parent" % aid)
    statuses = {a["status"] for a in assets.values()}
    for st in STATUSES:
        if st not in statuses:
            err("assets.jsonl", "no asset with status %d" % st)
    if not any("live" in a and a["live"]["name"] != a["name"] for a in assets.values()):
        err("assets.jsonl", "no safe-edited asset whose live name differs")
    trashed = [a["id"] for a in assets.values() if a.get("trashed")]
    if len(trashed) != 1 or trashed[0] not in parents:
        err("assets.jsonl", "expected one trashed asset that is still linked")
    if not any(len([l for l in parents.get(aid, []) if l["link_type"] == "menu"]) >= 2 for aid in assets):
        err("links.jsonl", "no asset with two menu parents")
    if not any(re.match(r"^\d+:.*/", aid) for aid in assets):
        err("assets.jsonl", "no shadow id containing '/'")
    by_parent_sort = {}
    for pl in children.values():
        for l in pl:
            if not l["is_dependent"] and l["link_type"] in ("menu", "hidden"):
                by_parent_sort.setdefault((l["major_id"], l["sort_order"]), []).append(assets[l["minor_id"]]["type"])
    if not any(len(v) > 1 and len(set(v)) > 1 for v in by_parent_sort.values()):
        err("links.jsonl", "no sort_order tie between children of different types")
    if not any(len(v) > 1 and len(set(v)) == 1 for v in by_parent_sort.values()):
        err("links.jsonl", "no sort_order tie between children of the same type")
    if max(len([l for l in pl if not l["is_dependent"] and l["link_type"] in ("menu", "hidden")])
           for pl in children.values()) < 25:
        err("links.jsonl", "no parent with >= 25 children")
    all_text = open(os.path.join(out, "assets.jsonl"), encoding="utf-8").read()
    for needle in ("ā", "日本語", "🦓", "<", ">", "&", "'", "\\\"", "\\n", "\\t", "\\\\"):
        if needle not in all_text:
            err("assets.jsonl", "no %r anywhere" % needle)
    if not any(isinstance(v, float) for a in assets.values() for v in a["attributes"].values()):
        err("assets.jsonl", "no float attribute")
    if not any("api_key" in a["attributes"] for a in assets.values()):
        err("assets.jsonl", "no api_key attribute")
    if not any(not r["granted"] and r["principal_id"] == U_PUBLIC for _, r in perms):
        err("permissions.jsonl", "no public deny")
    if not any(not r["granted"] and r["principal_id"] != U_PUBLIC for _, r in perms):
        err("permissions.jsonl", "no user/group deny")
    for tok in ("demo-public", "demo-editor", "demo-research", "demo-disabled", "demo-trashed", "demo-nouser",
                "demo-admin"):
        if tok not in tokens:
            err("tokens.jsonl", "missing token %s" % tok)
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    if size > 1_100_000:
        err("store", "store is %d bytes (keep it under ~1 MB)" % size)

    if errors:
        for e in errors[:50]:
            print(e, file=sys.stderr)
        print("%d problem(s)" % len(errors), file=sys.stderr)
        return False
    print("demo store OK: %d assets (%d non-trashed), %d links, %d principals, %d permission rows, "
          "%d tokens, %d bytes" % (len(assets), len(live_assets), len(link_ids), len(principals), len(perms),
                                   len(tokens), size))
    return True


def main(argv):
    if "--check" not in argv:
        s = build()
        write_store(s)
    return 0 if check() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
