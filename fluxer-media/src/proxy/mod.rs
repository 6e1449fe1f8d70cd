//! The media proxy.
