//! matrix-snapshot: render a Squiz Matrix Content API into static files.
