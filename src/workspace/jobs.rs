//! Background jobs: everything slow the workspace does off its loop
//! (engine calls, launches, scans, log reads) runs through [`Jobs::spawn`]
//! on ONE tokio runtime for the whole run, on its blocking pool (engine
//! calls go through the blocking `Backend` seam).
//! A job reports its results as `AppEvent`s through [`Job::send`]; a job
//! that fails (or cannot start) comes back as `AppEvent::JobFailed`
//! instead of vanishing. A job that must not overlap itself (the bottle
//! list) goes through [`Jobs::spawn_single`]: asked again while it runs,
//! it runs once more after, with the latest request.

use crate::app::AppEvent;
use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};

/// What a running job gets: the inbox.
#[derive(Clone)]
pub struct Job {
    tx: mpsc::SyncSender<AppEvent>,
}

impl Job {
    /// Sends an event to the loop; false once the loop is gone.
    pub fn send(&self, event: AppEvent) -> bool {
        self.tx.send(event).is_ok()
    }
}

type Work = Box<dyn FnOnce(&Job) -> anyhow::Result<()> + Send>;

/// The single-flight jobs by name: running, and the work asked for meanwhile.
type Flights = Arc<Mutex<HashMap<&'static str, Option<Work>>>>;

pub struct Jobs {
    rt: Option<tokio::runtime::Runtime>,
    job: Job,
    flights: Flights,
}

impl Jobs {
    pub fn new(tx: mpsc::SyncSender<AppEvent>) -> std::io::Result<Jobs> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("workspace-jobs")
            .enable_all()
            .build()?;
        let job = Job { tx };
        Ok(Jobs {
            rt: Some(rt),
            job,
            flights: Arc::default(),
        })
    }

    /// Runs `work` off the loop; an error it returns comes back as
    /// `AppEvent::JobFailed { job: name, .. }`.
    pub fn spawn(
        &self,
        name: &'static str,
        work: impl FnOnce(&Job) -> anyhow::Result<()> + Send + 'static,
    ) {
        let job = self.job.clone();
        let Some(rt) = &self.rt else { return };
        rt.spawn_blocking(move || {
            if let Err(e) = work(&job) {
                tracing::warn!("{name}: {e:#}");
                job.send(AppEvent::JobFailed {
                    job: name,
                    error: format!("{e:#}"),
                });
            }
        });
    }

    /// Like [`Jobs::spawn`], but never two `name` jobs at once: asked while
    /// one runs, the latest `work` runs right after it.
    pub fn spawn_single(
        &self,
        name: &'static str,
        work: impl FnOnce(&Job) -> anyhow::Result<()> + Send + 'static,
    ) {
        let Ok(mut flights) = self.flights.lock() else {
            return;
        };
        if let Some(next) = flights.get_mut(name) {
            *next = Some(Box::new(work));
            return;
        }
        flights.insert(name, None);
        drop(flights);
        let flights = self.flights.clone();
        self.spawn(name, move |job| {
            let mut work: Work = Box::new(work);
            loop {
                if let Err(e) = work(job) {
                    tracing::warn!("{name}: {e:#}");
                    job.send(AppEvent::JobFailed {
                        job: name,
                        error: format!("{e:#}"),
                    });
                }
                let Ok(mut f) = flights.lock() else {
                    return Ok(());
                };
                match f.get_mut(name).and_then(Option::take) {
                    Some(next) => work = next,
                    None => {
                        f.remove(name);
                        return Ok(());
                    }
                }
            }
        });
    }
}

impl Drop for Jobs {
    /// Quitting does not wait for jobs (an engine-events follower runs
    /// for the whole run): they are left to end with the process.
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn recv(rx: &mpsc::Receiver<AppEvent>) -> AppEvent {
        rx.recv_timeout(Duration::from_secs(10)).expect("an event")
    }

    #[test]
    fn a_failed_job_comes_back_as_an_event() {
        let (tx, rx) = mpsc::sync_channel(8);
        let jobs = Jobs::new(tx).expect("jobs");
        jobs.spawn("scan", |_| anyhow::bail!("no queue"));
        assert!(matches!(
            recv(&rx),
            AppEvent::JobFailed { job: "scan", error } if error == "no queue"
        ));
    }

    #[test]
    fn a_single_flight_job_never_overlaps_and_runs_the_latest_after() {
        let (tx, rx) = mpsc::sync_channel(8);
        let jobs = Jobs::new(tx).expect("jobs");
        let (go_tx, go) = mpsc::channel::<()>();
        let go = Arc::new(Mutex::new(go));
        let first = go.clone();
        jobs.spawn_single("refresh", move |job| {
            let _ = first.lock().expect("lock").recv();
            job.send(AppEvent::QueueChanged);
            Ok(())
        });
        for n in 0..3 {
            jobs.spawn_single("refresh", move |job| {
                job.send(AppEvent::Signal(n));
                Ok(())
            });
        }
        go_tx.send(()).expect("go");
        assert!(matches!(recv(&rx), AppEvent::QueueChanged));
        assert!(matches!(recv(&rx), AppEvent::Signal(2)), "only the latest");
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        // Done: the next one runs at once.
        jobs.spawn_single("refresh", |job| {
            job.send(AppEvent::Tick);
            Ok(())
        });
        assert!(matches!(recv(&rx), AppEvent::Tick));
    }
}
