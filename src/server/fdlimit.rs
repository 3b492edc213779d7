//! The open-file limit: every connection is a file descriptor, so `custody serve` raises
//! its soft `RLIMIT_NOFILE` to the hard limit at start (as Go programs do; container
//! runtimes often start processes with a soft limit of 1024) and warns when even the
//! hard limit leaves too few descriptors for `--max-connections`.

/// Descriptors kept for everything but client connections (registry connections, policy
/// files, the Kubernetes watches, the listener itself).
const RESERVE: u64 = 256;

/// Raises the soft open-file limit to the hard one and returns the new soft limit
/// (`None` where there is no such limit or it cannot be read).
pub fn raise_fd_limit(max_connections: usize) -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let mut soft = limit.current;
        if limit.current.is_some() && limit.current != limit.maximum {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => soft = limit.maximum,
                Err(err) => tracing::warn!(error = %err, "could not raise the open-file limit"),
            }
        }
        let needed = u64::try_from(max_connections)
            .unwrap_or(u64::MAX)
            .saturating_add(RESERVE);
        if let Some(soft) = soft.filter(|soft| *soft < needed) {
            tracing::warn!(
                open_file_limit = soft,
                max_connections,
                "the open-file limit is below --max-connections plus {RESERVE}: \
                 connections beyond it fail to be accepted; raise the limit or lower \
                 --max-connections"
            );
        }
        soft
    }
    #[cfg(not(unix))]
    {
        let _ = max_connections;
        None
    }
}
