//! The monitor's timer: submits `Command::RunMonitor` to the writer every
//! `monitor_interval` until told to stop. What the monitor does is the engine's business.

use std::time::Duration;

use switchboard_engine::{Command, Reply};
use switchboard_store::{WriteError, WriterHandle};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// Runs until `stop` turns true (or its sender is dropped).
pub async fn run(writer: WriterHandle, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = stop.wait_for(|stopping| *stopping) => {
                let _ = changed;
                return;
            }
        }
        match writer.submit(Command::RunMonitor).await {
            Ok(Reply::Monitor(report)) => {
                if !(report.disconnected.is_empty()
                    && report.set_away.is_empty()
                    && report.moves.is_empty()
                    && report.repairs.is_empty()
                    && report.assignments == 0
                    && report.alerts == 0)
                {
                    tracing::info!(?report, "monitor run");
                }
            }
            Ok(other) => tracing::error!(?other, "the monitor got an unexpected reply"),
            // A standby of a cluster has nothing to monitor: the writer's timer does it.
            Err(WriteError::Standby { .. }) => {}
            Err(error) => tracing::warn!(%error, "the monitor run failed; retrying at the next tick"),
        }
    }
}
