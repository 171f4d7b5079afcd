# Convenience recipes; none is needed to build or test (see README).

# Serve the demo site on 127.0.0.1:8080
demo:
    cargo run --release -- serve

# Every test
test:
    cargo test

# Formatting and lints, as CI runs them
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# Regenerate golden files under snapshots/ (review the diff like code)
bless:
    UPDATE_SNAPSHOTS=1 cargo test --test it golden

# Benchmarks (which ones and their arguments: benches/run.sh)
bench:
    bash benches/run.sh

# What CI runs. On your own machine it installs nothing (host tests skip missing servers);
# `CI=true just ci` or `bash .ci/run --install-system-packages` installs Debian packages and
# writes /usr/sbin/policy-rc.d: only on a machine you may change.
ci:
    bash .ci/run
