//! Redis/Valkey: the shared cache (values, rate-limit counters, locks) and presence.
