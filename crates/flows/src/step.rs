//! The bookkeeping every sans-IO flow of this crate shares: the steps still to send, the
//! one whose answer is awaited, and the errors of a flow driven out of order.
//!
//! A flow names its steps (an enum of its own) and keeps them in a [`Steps`]:
//!
//! ```text
//! fn next_request(&mut self) -> Option<Request> {
//!     let step = self.steps.pop()?;
//!     let request = self.request(&step);
//!     self.steps.send(step, request)
//! }
//! fn receive(&mut self, response: Response) -> Result<(), FlowError> {
//!     let step = self.steps.answered()?;
//!     // … what the answer to `step` means, maybe `self.steps.push(…)` …
//! }
//! fn finish(self) -> Result<Output, FlowError> {
//!     self.steps.finished()?;
//!     // …
//! }
//! ```

use std::collections::VecDeque;

use crate::{FlowError, Request};

/// The steps of a flow: those still to send, in order, and the one in flight.
#[derive(Debug, Clone)]
pub(crate) struct Steps<S> {
    pending: VecDeque<S>,
    in_flight: Option<S>,
}

impl<S> Steps<S> {
    /// Starting with `first`, in order.
    pub(crate) fn new(first: impl IntoIterator<Item = S>) -> Self {
        Self {
            pending: first.into_iter().collect(),
            in_flight: None,
        }
    }

    /// Adds a step after the others.
    pub(crate) fn push(&mut self, step: S) {
        self.pending.push_back(step);
    }

    /// Adds a step before the others (it is sent next).
    pub(crate) fn push_front(&mut self, step: S) {
        self.pending.push_front(step);
    }

    /// Adds steps after the others, in order.
    pub(crate) fn extend(&mut self, steps: impl IntoIterator<Item = S>) {
        self.pending.extend(steps);
    }

    /// Drops the steps not yet sent (the flow stops after the one in flight).
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// The next step to send, taken from the queue: hand it back with its request to
    /// [`send`](Self::send).
    pub(crate) fn pop(&mut self) -> Option<S> {
        self.pending.pop_front()
    }

    /// Marks `step` in flight and returns its request, for `next_request`.
    pub(crate) fn send(&mut self, step: S, request: Request) -> Option<Request> {
        self.in_flight = Some(step);
        Some(request)
    }

    /// The step whose answer is awaited, if one is.
    pub(crate) fn in_flight(&self) -> Option<&S> {
        self.in_flight.as_ref()
    }

    /// The step an answer that just came belongs to; an error when none was sent.
    pub(crate) fn answered(&mut self) -> Result<S, FlowError> {
        self.in_flight.take().ok_or(FlowError::OutOfOrder(
            "a response came with no request pending",
        ))
    }

    /// Whether every step was sent and answered: an error for a `finish` that came
    /// too early.
    pub(crate) fn finished(&self) -> Result<(), FlowError> {
        if self.in_flight.is_some() || !self.pending.is_empty() {
            return Err(FlowError::OutOfOrder(
                "finish came before the last response",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests;

    #[test]
    fn steps_go_out_in_order_and_out_of_order_driving_is_an_error() {
        let mut steps = Steps::new([1, 2]);
        assert!(steps.answered().is_err());
        assert!(steps.finished().is_err());
        steps.push_front(0);
        steps.push(3);
        let mut sent = Vec::new();
        while let Some(step) = steps.pop() {
            assert!(steps.send(step, requests::whoami()).is_some());
            assert_eq!(steps.in_flight(), Some(&step));
            assert!(steps.finished().is_err());
            sent.push(steps.answered().unwrap());
        }
        assert_eq!(sent, [0, 1, 2, 3]);
        assert!(steps.finished().is_ok());
        steps.extend([4, 5]);
        steps.clear();
        assert!(steps.finished().is_ok());
    }
}
