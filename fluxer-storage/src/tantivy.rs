//! Full-text message search on tantivy.
