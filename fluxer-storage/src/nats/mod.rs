//! NATS: the event bus across nodes (core NATS subjects) and the JetStream work queue.
