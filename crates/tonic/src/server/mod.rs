//! The server side: a SERVER span and `rpc.server.call.duration` per call.

mod deferred;
mod layer;
mod service;

pub use deferred::DeferredCall;

pub use layer::{ServerLayer, ServerOptions};
pub use service::ServerService;
