//! The deadline of the request being served (on Lambda: the invocation's), for
//! use-cases that call outside services: each call gets only the time left before
//! [`DEADLINE_MARGIN`] ahead of it, so a service that does not answer in time becomes
//! an outcome the caller sees ("… did not answer within N s") instead of the function
//! being killed mid-way. Without a deadline (the local server) nothing is cut.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use crate::ports::ProviderError;

/// Time kept back from a request's deadline for what follows a provider call
/// (recording its outcome, answering).
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` (one request) with `deadline`, the moment its caller stops waiting
/// (on Lambda, the invocation's deadline): calls budgeted with [`within_budget`] within `work`
/// end [`DEADLINE_MARGIN`] before it.
pub async fn with_deadline<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// The deadline of the request being served, if it has one.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Runs a provider call within the request's budget: the time left before
/// [`DEADLINE_MARGIN`] ahead of its deadline (no limit of its own without one; the
/// provider client's timeouts still apply).
pub async fn within_budget<T>(call: impl Future<Output = Result<T, ProviderError>>) -> Result<T, ProviderError> {
    within_budget_or(call, "provider", |budget| ProviderError::Timeout(Duration::from_secs(budget.as_secs().max(1))))
        .await
}

/// [`within_budget`] for any outside service (`service` names it in the log line):
/// a call cut at the budget ends with `timed_out(budget)`.
pub async fn within_budget_or<T, E>(
    call: impl Future<Output = Result<T, E>>,
    service: &str,
    timed_out: impl FnOnce(Duration) -> E,
) -> Result<T, E> {
    let Some(deadline) = current() else { return call.await };
    let budget = deadline.saturating_duration_since(Instant::now()).saturating_sub(DEADLINE_MARGIN);
    match tokio::time::timeout(budget, call).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
                "{service} call cut at the request's deadline"
            );
            Err(timed_out(budget))
        }
    }
}
