//! SHA-1 on a thread of its own, for bulk hashing lent to a plugin (an OpenPGP MDC over a
//! whole stream).
//!
//! OpenPGP's SEIPD v1 hashes the plaintext with SHA-1 and encrypts it with AES in CFB mode.
//! Both are serial, and on one thread they add up: in an openpgp push, the cipher took 35%
//! of all CPU and SHA-1 another 15%, on the stage's thread, which was the bottleneck. A
//! [`Sha1Thread`] takes the updates through a one-slot channel and hashes them beside the
//! cipher. Updates keep their order, and `finish` waits for all of them. Memory: at most one
//! update queued and one being hashed, each at most one crypto call's bytes.

use sha1::{Digest, Sha1};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

enum Job {
    Data(Vec<u8>),
    /// Reply with the digest, and start over (as `finalize_reset`).
    Finish(SyncSender<Vec<u8>>),
}

/// A SHA-1 state hashed on its own thread.
pub struct Sha1Thread {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Sha1Thread {
    /// Continues `state` on a new thread.
    pub fn spawn(mut state: Sha1) -> std::io::Result<Sha1Thread> {
        let (jobs, rx) = sync_channel::<Job>(1);
        let thread = std::thread::Builder::new()
            .name("twgate-sha1".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        Job::Data(data) => state.update(&data),
                        Job::Finish(reply) => {
                            let _ = reply.send(state.finalize_reset().to_vec());
                        }
                    }
                }
            })?;
        Ok(Sha1Thread {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Queues `data`; waits only while the previous update is still queued.
    pub fn update(&self, data: Vec<u8>) {
        self.send(Job::Data(data));
    }

    /// The digest of everything so far; the state starts over.
    pub fn finish(&self) -> Vec<u8> {
        let (reply, digest) = sync_channel(1);
        self.send(Job::Finish(reply));
        digest.recv().expect("the SHA-1 thread ended early")
    }

    fn send(&self, job: Job) {
        self.jobs
            .as_ref()
            .expect("jobs are open until drop")
            .send(job)
            .expect("the SHA-1 thread ended early");
    }
}

impl Drop for Sha1Thread {
    fn drop(&mut self) {
        drop(self.jobs.take()); // the thread's loop ends with the channel
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_digest_as_inline_sha1_in_any_pieces_and_after_finish() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut head = Sha1::default();
        head.update(&data[..10]);
        let thread = Sha1Thread::spawn(head).unwrap();
        for piece in data[10..].chunks(65_537) {
            thread.update(piece.to_vec());
        }
        assert_eq!(thread.finish(), Sha1::digest(&data).to_vec());
        // finish starts over, as finalize_reset does.
        thread.update(b"abc".to_vec());
        assert_eq!(thread.finish(), Sha1::digest(b"abc").to_vec());
        assert_eq!(thread.finish(), Sha1::digest(b"").to_vec());
    }
}
