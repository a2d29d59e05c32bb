//! The store's connections: one per thread, so a command is written, and its reply read, by
//! the runtime whose request asked.
//!
//! A redis-rs `ConnectionManager` is driven by a task spawned on the runtime that first
//! connects it. One manager for the whole process was therefore driven by whichever runtime
//! sent the first command, in practice the `/readyz` ping's background service, and every
//! request's command crossed to that runtime's thread and back: two wake-ups through an
//! eventfd and two context switches per command. On the bench machine that cost about 220 µs
//! of CPU per cache miss (four to five commands then) and about 12 ms of p99 at 16 connections
//! (bench/RESULTS.md, the fleet scenarios). One manager per thread keeps the exchange on the
//! asking runtime; a process holds as many connections as it has threads that sent a command
//! (pingora's `threads`, plus the ping's). pingora's runtime steals work, so a connection's
//! driver may run on another worker of the same runtime; it never waits on another runtime.
//! The `/readyz` ping also goes through every other thread's connection
//! ([`PerThread::others`]), so each is kept from idling out behind a proxy or a server
//! `timeout` and, after a store restart, reconnected within a second rather than by a request.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::store::StoreError;

/// One thread's connections, one per live store (a process has one store; tests make many).
struct Entry {
    store: u64,
    alive: Weak<()>,
    conn: ConnectionManager,
    /// Held as long as the thread keeps the entry: the store's list of every thread's
    /// connection (for the pings) skips entries of threads that have ended.
    held: Arc<()>,
}

thread_local! {
    static CONNECTIONS: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// Where a store's connections come from: made lazily, one per thread that sends a command.
pub(super) struct PerThread {
    id: u64,
    /// Dropped with the store: a thread's connection of a dropped store is closed the next
    /// time that thread makes one.
    alive: Arc<()>,
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Every thread's connection, for [`PerThread::others`]. Locked when a thread makes its
    /// connection and by the once-a-second ping, never by a request's command.
    every: Mutex<Vec<(Weak<()>, ConnectionManager)>>,
}

impl PerThread {
    pub(super) fn new(client: redis::Client, config: ConnectionManagerConfig) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        PerThread {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
            client,
            config,
            every: Mutex::new(Vec::new()),
        }
    }

    /// Every other live thread's connection: what the `/readyz` ping also sends through, so
    /// each is kept from idling out and, after a store restart, reconnected within a second,
    /// not only the ping's own.
    pub(super) fn others(&self) -> Vec<ConnectionManager> {
        let own = CONNECTIONS
            .try_with(|c| {
                c.borrow()
                    .iter()
                    .find(|e| e.store == self.id)
                    .map(|e| Arc::as_ptr(&e.held))
            })
            .ok()
            .flatten();
        let Ok(mut every) = self.every.lock() else {
            return Vec::new();
        };
        every.retain(|(held, _)| held.strong_count() > 0);
        every
            .iter()
            .filter(|(held, _)| Some(held.as_ptr()) != own)
            .map(|(_, conn)| conn.clone())
            .collect()
    }

    /// This thread's connection (a cheap clone), made on its first command. Not connected
    /// yet when made: the command that needs it connects, inside its own timeout.
    pub(super) fn get(&self) -> Result<ConnectionManager, StoreError> {
        let found = CONNECTIONS.try_with(|c| {
            let c = c.borrow();
            c.iter()
                .find(|e| e.store == self.id)
                .map(|e| e.conn.clone())
        });
        if let Ok(Some(conn)) = found {
            return Ok(conn);
        }
        let made = self.make()?;
        let held = Arc::new(());
        // A thread being torn down has no thread-locals left: the connection is its own then.
        let kept = CONNECTIONS.try_with(|c| {
            let mut c = c.borrow_mut();
            c.retain(|e| e.alive.strong_count() > 0);
            c.push(Entry {
                store: self.id,
                alive: Arc::downgrade(&self.alive),
                conn: made.clone(),
                held: held.clone(),
            });
        });
        if kept.is_ok()
            && let Ok(mut every) = self.every.lock()
        {
            every.retain(|(h, _)| h.strong_count() > 0);
            every.push((Arc::downgrade(&held), made.clone()));
        }
        Ok(made)
    }

    fn make(&self) -> Result<ConnectionManager, StoreError> {
        // Fails only for option combinations verigate never sets.
        ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
            .map_err(|_| StoreError::Server("client"))
    }
}
