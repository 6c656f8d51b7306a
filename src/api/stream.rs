//! Responses streamed from the database: a blocking task reads page after page and hands each
//! chunk to the response as it is made, so that the first bytes leave while the query runs
//! and only a few chunks are ever held in memory, however large the whole.

use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc::Sender;

use crate::db::{DbConn, Pool};

/// Chunks in flight between the reading task and the response.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Where a producer sends its chunks.
pub struct Sink<'a>(&'a Sender<Result<Bytes, std::io::Error>>);

impl Sink<'_> {
    /// Sends one chunk; false when the client has gone away (the producer should stop).
    pub fn send(&self, chunk: Vec<u8>) -> bool {
        chunk.is_empty() || self.0.blocking_send(Ok(Bytes::from(chunk))).is_ok()
    }
}

/// Streams what `produce` sends, run on a connection of `pool` in a blocking task. A failure
/// mid-stream is logged (with `what`) and ends the response with an error, so that the client
/// sees a broken transfer rather than a short file it could take for whole.
pub fn from_database<F>(
    pool: Pool,
    what: &'static str,
    produce: F,
) -> impl Stream<Item = Result<Bytes, std::io::Error>>
where
    F: FnOnce(&mut DbConn, &Sink) -> Result<(), String> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    actix_web::rt::task::spawn_blocking(move || {
        let produced = pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| produce(&mut conn, &Sink(&sender)));
        if let Err(e) = produced {
            tracing::error!(error = %e, "streaming {what} failed mid-stream");
            let _ = sender.blocking_send(Err(std::io::Error::other(format!(
                "{what} could not be read"
            ))));
        }
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    })
}
