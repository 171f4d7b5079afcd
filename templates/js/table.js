
// ---- The snapshot's routing table (_routers/routes.json) and the API's sort keys, rendered by
// export; shared by the JavaScript hosts' glue (after route-core.js, before the glue).
var TABLE = {
    format: {{ format | json_encode() }},
    auth: {{ auth | json_encode() }},
    token_sha256: {{ token_sha256 | json_encode() }},
    cors: {{ cors | json_encode() }},
    cache_control: {{ cache_control | json_encode() }},
    data: {{ data | json_encode() }},
    children_data: {{ children_data | json_encode() }},
    sort_by: {{ sort_by | json_encode() }},
    sort_order: {{ sort_order | json_encode() }},
    limits: {{ limits | json_encode() }},
    asset_types: {{ asset_types | json_encode() }},
    anchor: {{ anchor | json_encode() }},
    include_dependents: {{ include_dependents | json_encode() }},
    base_urls: {{ base_urls | json_encode() }},
    contexts: {{ contexts | json_encode() }},
    context_variants: {{ context_variants | json_encode() }},
    forbidden_url_digits: {{ forbidden_url_digits | json_encode() }},
    sort_keys: {{ sort_keys | json_encode() }}
};
