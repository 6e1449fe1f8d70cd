//! PostgreSQL storage for every repository port.
