//! The JSON API over HTTP/1.1: the unix socket and TCP listeners, the
//! request framing, the token check and the routes.
//!
//! The HTTP layer is small and hand-written rather than tiny_http: tiny_http
//! 0.12 exposes no socket, so reads cannot be given deadlines and each
//! connection holds an unbounded thread, while the project requires a
//! timeout on every socket read and a cap on every buffer.

pub mod auth;
mod conn;
mod handlers;
mod handlers_admin;
mod handlers_domains;
mod handlers_firmware;
mod handlers_links;
mod handlers_policy;
mod handlers_queue;
mod handlers_smtp;
mod input;
mod parse;
pub mod response;
pub mod router;
pub mod server;
