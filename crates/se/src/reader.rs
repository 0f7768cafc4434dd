//! Smart-card reader monitoring over PC/SC, so the client can say "insert SE 0042" and wait.
//!
//! [`ReaderMonitor`] remembers the state it last reported for every reader and, in
//! [`ReaderMonitor::wait_for_change`], blocks in `SCardGetStatusChange` until something differs:
//! a card inserted or removed, or (through the `\\?PnP?\Notification` pseudo-reader) a reader
//! plugged in or out. It only reports presence; which token is in the reader is PKCS#11's job.

use std::ffi::CString;
use std::time::{Duration, Instant};

use pcsc::{Context, Scope, State};

use crate::Result;

/// One reader as seen now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderState {
    /// The PC/SC reader name, e.g. `Virtual PCD 00 00`.
    pub name: String,
    /// Whether a card is in it.
    pub card_present: bool,
    /// The card's answer-to-reset, empty without a card.
    pub atr: Vec<u8>,
}

/// A change since the last report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A card was inserted.
    CardInserted {
        /// The reader name.
        reader: String,
        /// The card's answer-to-reset.
        atr: Vec<u8>,
    },
    /// A card was removed.
    CardRemoved {
        /// The reader name.
        reader: String,
    },
    /// A reader appeared.
    ReaderAdded {
        /// The reader name.
        reader: String,
    },
    /// A reader disappeared.
    ReaderRemoved {
        /// The reader name.
        reader: String,
    },
}

/// Watches the PC/SC readers.
pub struct ReaderMonitor {
    ctx: Context,
    // The readers followed, with the PnP pseudo-reader last.
    states: Vec<pcsc::ReaderState>,
}

impl std::fmt::Debug for ReaderMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.states.iter().map(|s| s.name().to_owned()).collect();
        f.debug_struct("ReaderMonitor")
            .field("readers", &names)
            .finish()
    }
}

fn is_pnp(state: &pcsc::ReaderState) -> bool {
    state.name() == pcsc::PNP_NOTIFICATION()
}

fn name_of(state: &pcsc::ReaderState) -> String {
    state.name().to_string_lossy().into_owned()
}

fn present(state: State) -> bool {
    state.contains(State::PRESENT)
}

fn gone(state: State) -> bool {
    state.intersects(State::UNKNOWN | State::IGNORE)
}

fn list_readers(ctx: &Context) -> Result<Vec<CString>> {
    match ctx.list_readers_owned() {
        Ok(readers) => Ok(readers),
        // pcsc-lite says "no readers" as an error.
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Ask PC/SC for the current state of `states` without blocking.
fn poll_now(ctx: &Context, states: &mut [pcsc::ReaderState]) -> Result<()> {
    if states.is_empty() {
        return Ok(());
    }
    match ctx.get_status_change(Duration::ZERO, states) {
        Ok(()) | Err(pcsc::Error::Timeout) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl ReaderMonitor {
    /// Connect to the PC/SC service and take the current state of every reader as the baseline:
    /// only later changes are reported.
    pub fn new() -> Result<ReaderMonitor> {
        let ctx = Context::establish(Scope::User)?;
        let mut states: Vec<pcsc::ReaderState> = list_readers(&ctx)?
            .into_iter()
            .map(|name| pcsc::ReaderState::new(name, State::UNAWARE))
            .collect();
        states.push(pcsc::ReaderState::new(
            pcsc::PNP_NOTIFICATION(),
            State::UNAWARE,
        ));
        poll_now(&ctx, &mut states)?;
        for state in &mut states {
            state.sync_current_state();
        }
        Ok(ReaderMonitor { ctx, states })
    }

    /// Every reader and whether it holds a card, queried now (does not affect which changes
    /// [`ReaderMonitor::wait_for_change`] reports).
    pub fn readers(&self) -> Result<Vec<ReaderState>> {
        let mut states: Vec<pcsc::ReaderState> = list_readers(&self.ctx)?
            .into_iter()
            .map(|name| pcsc::ReaderState::new(name, State::UNAWARE))
            .collect();
        poll_now(&self.ctx, &mut states)?;
        Ok(states
            .iter()
            .filter(|s| !gone(s.event_state()))
            .map(|s| {
                let card_present = present(s.event_state());
                ReaderState {
                    name: name_of(s),
                    card_present,
                    atr: if card_present {
                        s.atr().to_vec()
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect())
    }

    /// Block until something changes or `timeout` passes; an empty list means the timeout.
    pub fn wait_for_change(&mut self, timeout: Duration) -> Result<Vec<ReaderEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ctx.get_status_change(left, &mut self.states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            }
            let events = self.collect_events()?;
            if !events.is_empty() {
                return Ok(events);
            }
            // The event counter can move without a state we report (e.g. a card reset); wait on.
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
        }
    }

    fn collect_events(&mut self) -> Result<Vec<ReaderEvent>> {
        let mut events = Vec::new();
        let mut readers_changed = false;
        for state in &mut self.states {
            let (before, now) = (state.current_state(), state.event_state());
            if is_pnp(state) {
                readers_changed |= now.contains(State::CHANGED);
            } else if gone(now) {
                readers_changed = true;
            } else if present(now) && !present(before) {
                events.push(ReaderEvent::CardInserted {
                    reader: name_of(state),
                    atr: state.atr().to_vec(),
                });
            } else if !present(now) && present(before) {
                events.push(ReaderEvent::CardRemoved {
                    reader: name_of(state),
                });
            }
            state.sync_current_state();
        }
        if readers_changed {
            self.refresh_readers(&mut events)?;
        }
        Ok(events)
    }

    /// Re-list the readers after a plug-and-play notification and report the difference.
    fn refresh_readers(&mut self, events: &mut Vec<ReaderEvent>) -> Result<()> {
        let listed = list_readers(&self.ctx)?;
        let known: Vec<CString> = self
            .states
            .iter()
            .filter(|s| !is_pnp(s))
            .map(|s| s.name().to_owned())
            .collect();
        let mut kept = Vec::with_capacity(listed.len() + 1);
        for state in self.states.drain(..) {
            if is_pnp(&state) {
                continue;
            }
            if listed.iter().any(|n| n.as_c_str() == state.name()) {
                kept.push(state);
            } else {
                if present(state.current_state()) {
                    events.push(ReaderEvent::CardRemoved {
                        reader: name_of(&state),
                    });
                }
                events.push(ReaderEvent::ReaderRemoved {
                    reader: name_of(&state),
                });
            }
        }
        let mut added: Vec<pcsc::ReaderState> = listed
            .into_iter()
            .filter(|n| !known.contains(n))
            .map(|name| pcsc::ReaderState::new(name, State::UNAWARE))
            .collect();
        poll_now(&self.ctx, &mut added)?;
        for mut state in added {
            events.push(ReaderEvent::ReaderAdded {
                reader: name_of(&state),
            });
            if present(state.event_state()) {
                events.push(ReaderEvent::CardInserted {
                    reader: name_of(&state),
                    atr: state.atr().to_vec(),
                });
            }
            state.sync_current_state();
            kept.push(state);
        }
        let mut pnp = pcsc::ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE);
        poll_now(&self.ctx, std::slice::from_mut(&mut pnp))?;
        pnp.sync_current_state();
        kept.push(pnp);
        self.states = kept;
        Ok(())
    }
}

/// The reader names, for messages such as "insert SE 0042 into one of: …".
pub fn reader_names(states: &[ReaderState]) -> Vec<&str> {
    states.iter().map(|s| s.name.as_str()).collect()
}
