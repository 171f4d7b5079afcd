-- matrix-snapshot router for Apache httpd (mod_lua): answers /__api/... from the snapshot's
-- files as the live Content API does. Rendered from _routers/routes.json by matrix-snapshot;
-- the steps are those of docs/routing.md, in that order. Do not edit: re-export instead.
--
-- It runs as a LuaQuickHandler, so it sees the raw request target before Apache decodes or
-- normalises anything (`%2F`, `..`, `%zz`, `%00` reach it as sent), and answers every request:
-- Apache sends the chosen file itself (r:sendfile, the core's sendfile path), with the status,
-- headers and Content-Length decided here. HEAD bodies are dropped by Apache's HTTP filter.

-- The routing table (docs/routing.md, "The routing table").
local TABLE = {
  auth = {{ auth | json_encode() }},
  token_sha256 = {% if token_sha256 %}{{ token_sha256 | json_encode() }}{% else %}nil{% endif %},
  cors = {% if cors %}{{ cors | json_encode() }}{% else %}nil{% endif %},
  cache_control = {{ cache_control | json_encode() }},
  anchor = {{ anchor | json_encode() }},
  not_exported_file = {{ not_exported_file | json_encode() }},
  data = { {% for d in data %}[{{ d | json_encode() }}] = true, {% endfor %}},
  children_data = { {% for d in children_data %}[{{ d | json_encode() }}] = true, {% endfor %}},
  sort_by = { {% for s in sort_by %}[{{ s.code | json_encode() }}] = true, {% endfor %}},
  sort_order = { {% for o in sort_order %}[{{ o | json_encode() }}] = true, {% endfor %}},
  limits = { {% for l in limits %}["{{ l }}"] = true, {% endfor %}},
  asset_types = { {% for t in asset_types %}[{{ t.code | json_encode() }}] = true, {% endfor %}},
  -- Every sort_by value the API accepts, with its file code (whatever the profile holds).
  sort_keys = { {% for k in sort_keys %}[{{ k.0 | json_encode() }}] = {{ k.1 | json_encode() }}, {% endfor %}},
  -- Content API 1.2.0. Whether asset files exist with include_dependents=true too.
  include_dependents = {% if include_dependents %}true{% else %}false{% endif %},
  -- The exported base_url values, canonical, in order (a value's 1-based position names its
  -- files), and every context the store declares (the default first), as UTF-8 bytes. A JSON
  -- string is a Lua string literal once `\\` is spelt `\x5c` and `\u00XX` (control bytes, which
  -- only a base_url can hold) `\xXX`; `\"`, `\n`, `\t`, ... and raw UTF-8 read the same in both.
  base_urls = { {% for b in base_urls %}{{ b | json_encode() | replace(from="\\", to="\x5c") | replace(from="\u00", to="\x") }}, {% endfor %}},
  contexts = { {% for c in contexts %}{{ c | json_encode() | replace(from="\\", to="\x5c") | replace(from="\u00", to="\x") }}, {% endfor %}},
  -- Positions in contexts of the contexts exported (0, the default, always among them).
  context_variants = { {% for i in context_variants %}[{{ i }}] = true, {% endfor %}},
  -- The forbidden-URL tables' hex digits (decision D-057), or nil when there are none.
  forbidden_url_digits = {% if forbidden_url_digits is number %}{{ forbidden_url_digits }}{% else %}nil{% endif %},
}
{% raw %}
local CONTENT_TYPE = "application/json; charset=utf-8"
local ALLOW = "GET, HEAD"
local REALM = 'Bearer realm="Matrix Content API"'
local MAX_NAME = 200

-- SHA-256 (FIPS 180-4) in plain Lua 5.3, for the token check: mod_lua only offers MD5 and
-- SHA-1, and the routing table holds the token's SHA-256, never the token.
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local M32 = 0xffffffff

local function ror(x, n)
  return ((x >> n) | (x << (32 - n))) & M32
end

local function sha256_hex(msg)
  local h0, h1, h2, h3 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
  local h4, h5, h6, h7 = 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  local len = #msg
  msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64) .. string.pack(">I8", len * 8)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      w[i] = string.unpack(">I4", msg, chunk + i * 4)
    end
    for i = 16, 63 do
      local a, b = w[i - 15], w[i - 2]
      local s0 = ror(a, 7) ~ ror(a, 18) ~ (a >> 3)
      local s1 = ror(b, 17) ~ ror(b, 19) ~ (b >> 10)
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & M32
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for i = 0, 63 do
      local s1 = ror(e, 6) ~ ror(e, 11) ~ ror(e, 25)
      local ch = (e & f) ~ ((~e) & g)
      local t1 = (h + s1 + ch + K[i + 1] + w[i]) & M32
      local s0 = ror(a, 2) ~ ror(a, 13) ~ ror(a, 22)
      local maj = (a & b) ~ (a & c) ~ (b & c)
      local t2 = (s0 + maj) & M32
      h, g, f, e, d, c, b, a = g, f, e, (d + t1) & M32, c, b, a, (t1 + t2) & M32
    end
    h0, h1, h2, h3 = (h0 + a) & M32, (h1 + b) & M32, (h2 + c) & M32, (h3 + d) & M32
    h4, h5, h6, h7 = (h4 + e) & M32, (h5 + f) & M32, (h6 + g) & M32, (h7 + h) & M32
  end
  return string.format(string.rep("%08x", 8), h0, h1, h2, h3, h4, h5, h6, h7)
end

-- Byte order (Rust's `str` order), whatever the C library's collation.
local function bytes_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

-- Percent-decodes once; `+` is a space only in form (query) decoding; a `%` not followed by two
-- hex digits stays as it is (spec §1 [D]).
local function percent_decode(s, form)
  if form then
    s = s:gsub("+", " ")
  end
  return (s:gsub("%%(%x%x)", function(hex)
    return string.char(tonumber(hex, 16))
  end))
end

-- Strict UTF-8, as Rust's `str::from_utf8` (Lua 5.3's utf8.len lets surrogates through).
local function is_utf8(s)
  return utf8.len(s) ~= nil and not s:find("\237[\160-\191]")
end

-- Unicode whitespace in UTF-8 (Rust's `char::is_whitespace`), besides ASCII's.
local function has_whitespace(s)
  return s:find("[\t\n\v\f\r ]") ~= nil
    or s:find("\194[\133\160]") ~= nil
    or s:find("\225\154\128") ~= nil
    or s:find("\226\128[\128-\138\168\169\175]") ~= nil
    or s:find("\226\129\159") ~= nil
    or s:find("\227\128\128") ~= nil
end

local function split(s, sep)
  local parts, start = {}, 1
  while true do
    local i = s:find(sep, start, true)
    if not i then
      parts[#parts + 1] = s:sub(start)
      return parts
    end
    parts[#parts + 1] = s:sub(start, i - 1)
    start = i + 1
  end
end

-- encode_segment (docs/snapshot-format.md, "Names"): [a-z0-9_-] raw, `.` raw except first,
-- every other byte ~xx, empty ~-, names over MAX_NAME bytes cut into `~_`-terminated chunks.
local function encode_segment(s)
  if s == "" then
    return "~-"
  end
  local enc = s:gsub("[^a-z0-9_%-%.]", function(c)
    return string.format("~%02x", c:byte())
  end)
  if enc:sub(1, 1) == "." then
    enc = "~2e" .. enc:sub(2)
  end
  if #enc <= MAX_NAME then
    return enc
  end
  local out, chunk, i = {}, 0, 1
  while i <= #enc do
    local unit = enc:sub(i, i) == "~" and 3 or 1
    if chunk + unit > MAX_NAME - 2 then
      out[#out + 1] = "~_/"
      chunk = 0
    end
    if chunk == 0 and enc:sub(i, i) == "." then
      out[#out + 1] = "~2e"
      chunk = chunk + 3
    else
      out[#out + 1] = enc:sub(i, i + unit - 1)
      chunk = chunk + unit
    end
    i = i + unit
  end
  return table.concat(out)
end

-- URL keys (spec §2 `url`, revised 2026-12): the URL cleaned up (leading and trailing C0
-- controls and spaces stripped, tabs and newlines removed), scheme http/https/none dropped,
-- query and fragment dropped, host lower case, the port compared as a number (default ports
-- 80 and 443 and an empty port dropped), one trailing `/` dropped. nil: another scheme, an
-- empty host or a bad port (not all digits, above 65535). The second result is the scheme,
-- "http" or "https" (nil: none, `host/x` or `//host/x`).
local function clean_url(url)
  url = url:gsub("^[\0-\32]+", "")
  url = url:gsub("[\0-\32]+$", "")
  return (url:gsub("[\t\n\r]", ""))
end

local function host_port_like(s)
  local host, port = s:match("^(.*):([^:]*)$")
  if not host then
    return true
  end
  return host ~= "" and port ~= "" and port:find("^%d+$") ~= nil
end

local function normalize_host(host)
  local name, port = host, ""
  local colon = host:match("^.*():")
  local bracket = host:match("^.*()%]") or 0
  if colon and colon > bracket then
    name, port = host:sub(1, colon - 1), host:sub(colon + 1)
  end
  name = name:lower()
  if port == "" then
    return name
  end
  if not port:find("^%d+$") then
    return nil
  end
  port = port:gsub("^0+", "")
  if #port > 5 then
    return nil
  end
  local n = tonumber(port) or 0
  if n > 65535 then
    return nil
  end
  if n == 80 or n == 443 then
    return name
  end
  return name .. ":" .. string.format("%d", n)
end

local function url_key(url)
  local rest, scheme
  url = clean_url(url)
  local head = url:sub(1, 8):lower()
  if head:sub(1, 7) == "http://" then
    rest, scheme = url:sub(8), "http"
  elseif head == "https://" then
    rest, scheme = url:sub(9), "https"
  elseif url:sub(1, 2) == "//" then
    rest = url:sub(3)
  else
    local before_slash = url:match("^[^/]*")
    if url:find("://", 1, true) or (before_slash:find(":", 1, true) and not host_port_like(before_slash)) then
      return nil
    end
    rest = url
  end
  rest = rest:match("^[^?#]*")
  local slash = rest:find("/", 1, true)
  local host, path
  if slash then
    host, path = rest:sub(1, slash - 1), rest:sub(slash)
  else
    host, path = rest, ""
  end
  if host == "" then
    return nil
  end
  host = normalize_host(host)
  if not host or host == "" then
    return nil
  end
  if path:sub(-1) == "/" then
    path = path:sub(1, -2)
  end
  return host .. path, scheme
end

-- The front servers' normalisation (spec §1, revised 2026-12; request::normalize_path): nil
-- when the decoded path holds a NUL (404 before any other check), else the raw path with its
-- dot segments resolved (RFC 3986 remove_dot_segments on the raw segments, `%2e` spelling a
-- dot too, `..` never above `/`); segments stay encoded.
local function dot_segment(seg)
  local s = seg:lower():gsub("%%2e", ".")
  if s == "." then
    return 1
  elseif s == ".." then
    return 2
  end
  return 0
end

local function normalize_path(path)
  if path:find("%00", 1, true) or path:find("\0", 1, true) then
    return nil
  end
  if path:sub(1, 1) ~= "/" then
    return path
  end
  local parts = split(path:sub(2), "/")
  local out = {}
  for i, part in ipairs(parts) do
    local dots = dot_segment(part)
    if dots == 0 then
      out[#out + 1] = part
    else
      if dots == 2 and #out > 0 then
        out[#out] = nil
      end
      if i == #parts then
        out[#out + 1] = ""
      end
    end
  end
  return "/" .. table.concat(out, "/")
end

-- Whether a normalised raw path is under /__api/, its first segment judged decoded
-- (request::in_api: /%5F_api/ is the API).
local function in_api_path(path)
  local first = path:match("^/([^/]*)/")
  return first ~= nil and percent_decode(first, false) == "__api"
end

-- The endpoint of a normalised path under /__api/ (step 5): target ("id" or "by_url"), the
-- id, the endpoint; nil = 404.
local function route(path)
  local segs = split(path:sub(2), "/")
  table.remove(segs, 1)
  for i, s in ipairs(segs) do
    s = percent_decode(s, false)
    if not is_utf8(s) then
      return nil
    end
    segs[i] = s
  end
  if segs[1] ~= "assets" or segs[2] == nil or segs[2] == "" then
    return nil
  end
  local endpoint
  if #segs == 2 then
    endpoint = "asset"
  elseif #segs == 4 and segs[3] == "lineage" and segs[4] == "site" then
    endpoint = "lineage"
  elseif #segs == 3 and segs[3] == "children" then
    endpoint = "children"
  else
    return nil
  end
  if segs[2] == "by_url" then
    return "by_url", nil, endpoint
  end
  return "id", segs[2], endpoint
end

-- The query's first occurrence of each name, form-decoded (step 6).
local function parse_query(query)
  local first = {}
  for _, pair in ipairs(split(query, "&")) do
    if pair ~= "" then
      local eq = pair:find("=", 1, true)
      local name, value
      if eq then
        name, value = pair:sub(1, eq - 1), pair:sub(eq + 1)
      else
        name, value = pair, ""
      end
      name = percent_decode(name, true)
      if first[name] == nil then
        first[name] = percent_decode(value, true)
      end
    end
  end
  return first
end

-- `[0-9]+`, at most 2^63-1, leading zeros allowed: its plain decimal, or nil (400).
local function integer(v)
  if not v:find("^%d+$") then
    return nil
  end
  local plain = v:gsub("^0+", "")
  if plain == "" then
    return "0"
  end
  if #plain > 19 or (#plain == 19 and plain > "9223372036854775807") then
    return nil
  end
  return plain
end

local DATA_ITEMS = { "urls", "attributes", "metadata", "contents" }
local DATA_LETTERS = { "u", "a", "m", "c" }

local function data_code(value)
  local asked = {}
  if value then
    for _, item in ipairs(split(value, ",")) do
      asked[item] = true
    end
  end
  local code = {}
  for i, item in ipairs(DATA_ITEMS) do
    code[i] = asked[item] and DATA_LETTERS[i] or "-"
  end
  return table.concat(code)
end

-- Validated parameters (step 6): a table, or nil for 400.
local function params(q, target, endpoint)
  local function present(name)
    local v = q[name]
    if v == "" then
      return nil
    end
    return v
  end
  local p = { limit = "100", page = "1", sort = "tree", order = "asc", types = "all" }
  local data = present("data")
  if data and not is_utf8(data) then
    return nil
  end
  p.data = data_code(data)
  -- Content API 1.2.0: base_url and context on every endpoint, include_dependents on the asset
  -- endpoints only (the first occurrence exactly `true`).
  local v = present("base_url")
  if v then
    if not is_utf8(v) then
      return nil
    end
    -- Only an absolute http(s) URL with a host counts (BaseUrl::parse); others are ignored.
    local key, scheme = url_key(v)
    if key and scheme then
      p.base_url = scheme .. "://" .. key
    end
  end
  v = present("context")
  if v then
    if not is_utf8(v) then
      return nil
    end
    p.context = v
  end
  p.dependents = endpoint == "asset" and q["include_dependents"] == "true"
  if target == "by_url" then
    local url = present("url")
    if not url or not is_utf8(url) then
      return nil
    end
    -- Blank after the URL clean-up is missing too (`url=%20`: 400).
    p.url = clean_url(url)
    if p.url == "" then
      return nil
    end
  end
  if endpoint == "children" then
    v = present("limit")
    if v then
      p.limit = integer(v)
      if not p.limit then
        return nil
      end
    end
    v = present("page")
    if v then
      p.page = integer(v)
      if not p.page or p.page == "0" then
        return nil
      end
    end
    v = present("asset_types")
    if v then
      if not is_utf8(v) then
        return nil
      end
      local types, seen = {}, {}
      for _, t in ipairs(split(v, ",")) do
        if t ~= "" and not seen[t] then
          seen[t] = true
          types[#types + 1] = t
        end
      end
      if #types > 0 then
        table.sort(types, bytes_less)
        for i, t in ipairs(types) do
          types[i] = encode_segment(t):gsub("/", "")
        end
        p.types = table.concat(types, ",")
      end
    end
    v = present("sort_by")
    if v then
      p.sort = TABLE.sort_keys[v]
      if not p.sort then
        return nil
      end
    end
    v = present("sort_order")
    if v then
      if v ~= "asc" and v ~= "desc" then
        return nil
      end
      p.order = v
    end
  end
  return p
end

-- Content API 1.2.0 lookups (RouteSpec::variant): canonical base_url -> 1-based position,
-- context name (bytes) -> position in TABLE.contexts (0 = the default).
local BASE_URL_POSITION, CONTEXT_POSITION = {}, {}
for i, b in ipairs(TABLE.base_urls) do
  BASE_URL_POSITION[b] = BASE_URL_POSITION[b] or i
end
for i, c in ipairs(TABLE.contexts) do
  CONTEXT_POSITION[c] = CONTEXT_POSITION[c] or i - 1
end

-- The variant a request asks for: its code in file names (Variant::code: "", else "." then
-- `d`, `b<n>`, `x<n>`) and whether the profile exported it; nil for an undeclared context (400).
local function variant(p)
  local listed = true
  local x
  if p.context then
    x = CONTEXT_POSITION[p.context]
    if x == nil then
      return nil
    elseif x == 0 then
      x = nil -- the default context's name = no context
    elseif not TABLE.context_variants[x] then
      listed = false
    end
  end
  local b
  if p.base_url then
    b = BASE_URL_POSITION[p.base_url]
    if not b then
      listed = false
    end
  end
  if p.dependents and not TABLE.include_dependents then
    listed = false
  end
  local code = (p.dependents and "d" or "") .. (b and "b" .. b or "") .. (x and "x" .. x or "")
  if code ~= "" then
    code = "." .. code
  end
  return code, listed
end

-- Whether the profile holds these values (the variant's `listed` aside).
local function holds(endpoint, p)
  if endpoint ~= "children" then
    return TABLE.data[p.data] == true
  end
  return TABLE.children_data[p.data] == true
    and TABLE.sort_by[p.sort] == true
    and TABLE.sort_order[p.order] == true
    and TABLE.limits[p.limit] == true
    and TABLE.asset_types[p.types] == true
end

-- Why a token does not open the snapshot (step 4): nil when it does.
local accepted -- the last header that passed, so most requests skip the hash
local function token_problem(header)
  if header == nil then
    return REALM
  end
  if header == accepted then
    return nil
  end
  local token = header:sub(1, 7) == "Bearer " and header:sub(8) or ""
  if token == "" or has_whitespace(token) then
    return REALM .. ', error="invalid_request"'
  end
  if TABLE.token_sha256 == nil or sha256_hex(token) ~= TABLE.token_sha256 then
    return REALM .. ', error="invalid_token"'
  end
  accepted = header
  return nil
end

-- The ETag of a 200 file: `_routers/etags.txt` (one sorted line `<path> "<blake3>";` per file),
-- looked up by binary search on the file, so neither memory nor start-up grows with the
-- snapshot, and a snapshot swapped in place is seen at once.
local function etag(etags_path, key)
  local f = io.open(etags_path, "rb")
  if not f then
    return nil
  end
  local lo, hi = 0, f:seek("end")
  local function check(line)
    local k, v = line:match("^(%S+) (.*);$")
    if k == key then
      return true, v
    end
    return false, k and bytes_less(key, k)
  end
  while hi - lo > 4096 do
    local mid = (lo + hi) // 2
    f:seek("set", mid)
    f:read("l") -- to the next line start
    local start = f:seek()
    if start >= hi then
      break
    end
    local line = f:read("l")
    if not line then
      break
    end
    local found, v = check(line)
    if found then
      f:close()
      return v
    elseif v then
      hi = start
    else
      lo = f:seek()
    end
  end
  f:seek("set", lo)
  local value
  while f:seek() < hi do
    local line = f:read("l")
    if not line then
      break
    end
    local found, v = check(line)
    if found then
      value = v
      break
    elseif v then
      break
    end
  end
  f:close()
  return value
end

-- Decides one request (steps 1-12): status, body file (under public/), headers.
local function decide(method, target, authorization, public)
  local q = target:find("?", 1, true)
  local path = normalize_path(q and target:sub(1, q - 1) or target)
  local query = q and target:sub(q + 1) or ""
  local headers = {}
  local function error_body(status)
    return status, "__api/~/errors/" .. status .. ".json", headers
  end
  -- A NUL in the decoded path: 404 before any other check (spec §1, revised 2026-12).
  if not path then
    return error_body(404)
  end
  local in_api = in_api_path(path)
  if in_api and method == "OPTIONS" and TABLE.cors then
    headers["Access-Control-Allow-Methods"] = ALLOW
    headers["Access-Control-Allow-Headers"] = "Authorization"
    return 204, nil, headers
  end
  if method ~= "GET" and method ~= "HEAD" then
    headers["Allow"] = ALLOW
    return error_body(405)
  end
  if not in_api then
    return error_body(404)
  end
  if TABLE.auth == "token" then
    local problem = token_problem(authorization)
    if problem then
      headers["WWW-Authenticate"] = problem
      return error_body(401)
    end
  end
  local kind, id, endpoint = route(path)
  if not kind then
    return error_body(404)
  end
  local p = params(parse_query(query), kind, endpoint)
  if not p then
    return error_body(400)
  end
  -- Before the directory: an undeclared context is a 400 even where the url is unmatchable.
  local code, listed = variant(p)
  if not code then
    return error_body(400)
  end
  local dir
  if kind == "id" then
    dir = "__api/assets/" .. encode_segment(id)
  else
    local key = url_key(p.url)
    if not key then
      return error_body(404)
    end
    local parts = { "__api/assets/by_url" }
    for _, seg in ipairs(split(key, "/")) do
      parts[#parts + 1] = encode_segment(seg)
    end
    dir = table.concat(parts, "/")
  end
  local file
  if endpoint == "asset" then
    file = dir .. "/~asset." .. p.data .. code .. ".json"
  elseif endpoint == "lineage" then
    file = dir .. "/~lineage." .. p.data .. code .. ".json"
  else
    file = table.concat({ dir .. "/~children", p.data, p.sort, p.order, p.types, p.limit, p.page }, ".")
      .. code .. ".json"
  end
  if listed and public.exists(file) then
    return 200, file, headers
  end
  if kind == "id" and public.exists(dir .. "/~forbidden.json") then
    return error_body(403)
  end
  -- By URL: the hash of the marker's path in the forbidden-URL tables (D-057).
  if kind ~= "id" and TABLE.forbidden_url_digits and public.forbidden_url(dir .. "/~forbidden.json") then
    return error_body(403)
  end
  if not public.exists(dir .. "/" .. TABLE.anchor) then
    return error_body(404)
  end
  if not (listed and holds(endpoint, p)) then
    return 404, TABLE.not_exported_file, headers
  end
  return error_body(404) -- a children page past the end
end

-- Errors Apache finds itself, before any routing (a malformed request line, a missing Host,
-- a target over LimitRequestLine): ErrorDocument sends them here, as an internal redirect
-- carrying REDIRECT_STATUS, so even those answers are JSON, never Apache's HTML pages.
local OTHER_ERRORS = {
  [408] = "Request timeout",
  [413] = "Payload too large",
  [414] = "URI too long",
  [431] = "Request header fields too large",
  [500] = "Internal server error",
  [501] = "Not implemented",
  [503] = "Service unavailable",
}

local function cors_headers(r)
  if TABLE.cors then
    r.headers_out["Access-Control-Allow-Origin"] = TABLE.cors
    r.headers_out["Vary"] = "Origin"
  end
end

local function apache_error(r, status)
  r.status = status
  r.content_type = CONTENT_TYPE
  cors_headers(r)
  local body
  local f = io.open(r.document_root .. "/__api/~/errors/" .. status .. ".json", "rb")
  if f then
    body = f:read("a")
    f:close()
  else
    body = string.format('{"code":%d,"message":"%s"}', status, OTHER_ERRORS[status] or "Error")
  end
  if status == 405 then
    r.headers_out["Allow"] = ALLOW
  end
  r.headers_out["Content-Length"] = string.format("%d", #body)
  if not r.header_only then
    r:write(body)
  end
  return apache2.OK
end

-- LuaQuickHandler: answers every request.
function handle(r)
  if not r.is_initial_req then
    local status = tonumber(r.subprocess_env["REDIRECT_STATUS"] or "")
    if status and status >= 400 then
      return apache_error(r, status)
    end
    return apache2.DECLINED
  end
  local root = r.document_root -- DIR/public
  local public = {}
  function public.stat(rel)
    local st = r:stat(root .. "/" .. rel)
    if st and st.filetype == 1 then -- APR_REG
      return st
    end
    return nil
  end
  function public.exists(rel)
    return public.stat(rel) ~= nil
  end
  -- Whether the forbidden-URL table (docs/snapshot-format.md) lists the first 32 hex digits
  -- of the SHA-256 of `marker`, a by-URL forbidden marker's path: lines of 32 digits, each
  -- ending in a newline, so a match of "\n" .. line .. "\n" is a whole line. A table
  -- routes.json promises but that cannot be read raises an error: a 500, never a 404 instead
  -- of the 403.
  function public.forbidden_url(marker)
    local hash = sha256_hex(marker)
    local rel = "__api/~/forbidden-urls/f" .. hash:sub(1, TABLE.forbidden_url_digits) .. ".txt"
    local f = io.open(root .. "/" .. rel, "rb")
    if not f then
      error("cannot read " .. root .. "/" .. rel)
    end
    local text = f:read("a")
    f:close()
    return ("\n" .. text):find("\n" .. hash:sub(1, 32) .. "\n", 1, true) ~= nil
  end
  local ok, status, file, headers =
    pcall(decide, r.method, r.unparsed_uri, r.headers_in["Authorization"], public)
  if not ok then
    r:err("matrix-snapshot: " .. tostring(status))
    return apache_error(r, 500)
  end
  r.status = status
  for name, value in pairs(headers) do
    r.headers_out[name] = value
  end
  cors_headers(r)
  if status == 204 then
    return apache2.OK
  end
  r.content_type = CONTENT_TYPE
  local st = public.stat(file)
  if not st then
    -- Only when the snapshot lacks its own error bodies: say so rather than guess.
    r.status = 500
    r:err("matrix-snapshot: missing " .. root .. "/" .. file .. " (is DocumentRoot DIR/public?)")
    r.headers_out["Content-Length"] = "0"
    return apache2.OK
  end
  if status == 200 then
    r.headers_out["Cache-Control"] = TABLE.cache_control
    local tag = etag(root:gsub("/public$", "") .. "/_routers/etags.txt", file)
    if tag then
      r.headers_out["ETag"] = tag
    end
  end
  r.headers_out["Content-Length"] = string.format("%d", st.size)
  if not r.header_only then
    r:sendfile(root .. "/" .. file)
  end
  return apache2.OK
end
{% endraw %}
