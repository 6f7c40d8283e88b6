//! Topology and fair-share allocation.
