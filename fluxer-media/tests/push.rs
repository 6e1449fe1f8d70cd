//! The Web Push sender against the core's conformance suite. (Delivery to a push service, with
//! the payload decrypted and the VAPID token verified by independent code, is the end-to-end
//! suite's `push` test.)

use std::sync::Arc;

use fluxer_core::ports::PushSender;
use fluxer_media::WebPush;

fluxer_core::push_sender_conformance_tests!(Arc::new(WebPush::from_seed(
    b"conformance",
    "mailto:admin@example.com"
)) as Arc<dyn PushSender>);
