//! Integration tests: one binary (links once), modules by concern.
//!
//! `util` runs the built `matrix-snapshot` binary and talks raw HTTP/1.1 to it; `serve` starts
//! the real server on 127.0.0.1 and compares every answer with the library's `answer()`;
//! `cli` checks exit codes and messages for bad input; `standalone` that the repository needs
//! nothing beside it and that its contract documents match the code.

mod archive;
mod cli;
mod conformance;
mod crawl;
mod diff;
mod examples;
mod export;
mod golden;
mod hosts;
mod incremental;
mod layering;
mod output;
mod pack;
mod pipes;
mod properties;
mod robust;
mod serve;
mod standalone;
mod util;
mod verify;
