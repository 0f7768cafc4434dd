//! Reader monitoring against a private pcscd with the vsmartcard virtual reader.

use std::time::{Duration, Instant};

use se::reader::{ReaderEvent, ReaderMonitor};
use testkit::pcsc::VirtualReader;

/// Wait until `want` matches one of the reported events.
fn wait_for(monitor: &mut ReaderMonitor, want: impl Fn(&ReaderEvent) -> bool) -> ReaderEvent {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        for event in monitor.wait_for_change(Duration::from_secs(2)).unwrap() {
            if want(&event) {
                return event;
            }
            seen.push(event);
        }
    }
    panic!("expected event not reported; saw {seen:?}");
}

#[test]
fn card_insert_and_remove_are_reported() {
    let mut reader = VirtualReader::start().unwrap();
    let name = reader.reader_name().to_owned();
    assert!(name.starts_with("Virtual PCD"), "{name}");

    let mut monitor = ReaderMonitor::new().unwrap();
    let before = monitor.readers().unwrap();
    let state = before.iter().find(|r| r.name == name).unwrap();
    assert!(!state.card_present);
    assert!(monitor
        .wait_for_change(Duration::from_millis(200))
        .unwrap()
        .is_empty());

    reader.insert_card().unwrap();
    let inserted = wait_for(
        &mut monitor,
        |e| matches!(e, ReaderEvent::CardInserted { reader, .. } if *reader == name),
    );
    let ReaderEvent::CardInserted { atr, .. } = inserted else {
        unreachable!()
    };
    assert!(!atr.is_empty());
    let state = monitor
        .readers()
        .unwrap()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap();
    assert!(state.card_present);
    assert_eq!(state.atr, atr);

    reader.remove_card().unwrap();
    wait_for(
        &mut monitor,
        |e| matches!(e, ReaderEvent::CardRemoved { reader } if *reader == name),
    );
    assert!(
        !monitor
            .readers()
            .unwrap()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap()
            .card_present
    );
}
