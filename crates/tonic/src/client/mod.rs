//! The client side: a CLIENT span and `rpc.client.call.duration` per call, and propagation.

mod layer;
mod service;

pub use layer::{ClientLayer, ClientOptions};
pub use service::ClientService;
