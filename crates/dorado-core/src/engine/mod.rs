//! The DORA engine: every figure of semantics.md from stored facts, with no I/O.
