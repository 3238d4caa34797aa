//! prismnet-chaos: built by its own issue; empty until then.
