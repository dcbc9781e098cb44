// SPDX-License-Identifier: GPL-2.0
//! The PL031 RTC: vm-superio's `Rtc` for the registers, plus the alarm it
//! leaves out (its RTCMR is stored and never matched). The counter
//! (RTCDR) is host time in seconds plus the offset the guest loaded, so it
//! reaches RTCMR at a known host time: then RTCRIS.AI is set, and the
//! interrupt line is RTCRIS & RTCIMSC (level; the guest clears it through
//! RTCICR).

use vm_superio::rtc_pl031::{NoEvents, RtcState};
use vm_superio::Rtc;

/// RTCDR: the counter.
pub const RTCDR: u16 = 0x000;
/// RTCMR: the match register.
pub const RTCMR: u16 = 0x004;
/// RTCLR: the load register.
pub const RTCLR: u16 = 0x008;
/// RTCIMSC: interrupt mask set/clear.
pub const RTCIMSC: u16 = 0x010;
/// RTCRIS: raw interrupt status.
pub const RTCRIS: u16 = 0x014;
/// RTCMIS: masked interrupt status.
pub const RTCMIS: u16 = 0x018;
/// RTCICR: interrupt clear.
pub const RTCICR: u16 = 0x01c;
/// The alarm interrupt bit.
const AI: u32 = 1;

/// The RTC with its alarm.
pub struct RtcDevice {
    rtc: Rtc<NoEvents>,
    /// RTCMR lies ahead of the counter: it will match.
    armed: bool,
}

impl Default for RtcDevice {
    fn default() -> Self {
        Self::new()
    }
}

/// Host time, whole seconds since the epoch (what vm-superio counts in).
pub fn host_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl RtcDevice {
    /// A PL031 counting host time, alarm off.
    pub fn new() -> Self {
        RtcDevice {
            rtc: Rtc::new(),
            armed: false,
        }
    }

    fn state(&self) -> RtcState {
        self.rtc.state()
    }

    /// The counter at host time `now` (seconds).
    pub fn value_at(&self, now: i64) -> i64 {
        now + self.state().offset
    }

    /// The interrupt line: RTCMIS.AI.
    pub fn line(&self) -> bool {
        let s = self.state();
        s.ris & s.imsc & AI != 0
    }

    /// Whether an alarm will fire.
    pub fn armed(&self) -> bool {
        self.armed
    }

    /// The match register.
    pub fn mr(&self) -> u32 {
        self.state().mr
    }

    /// Host time (seconds since the epoch) at which the counter reaches
    /// RTCMR, if an alarm is armed.
    pub fn deadline(&self) -> Option<i64> {
        self.armed
            .then(|| i64::from(self.state().mr) - self.state().offset)
    }

    /// A guest read of the register at `offset`.
    pub fn read(&mut self, offset: u16, data: &mut [u8; 4]) {
        self.rtc.read(offset, data);
    }

    /// A guest write at host time `now`; returns the new line level.
    pub fn write(&mut self, offset: u16, data: &[u8; 4], now: i64) -> bool {
        self.rtc.write(offset, data);
        match offset {
            // The counter matches RTCMR when it counts up to it: only a
            // value ahead of it will.
            RTCMR => self.armed = i64::from(self.state().mr) > self.value_at(now),
            // A loaded counter that jumped over RTCMR does not match.
            RTCLR => self.armed &= i64::from(self.state().mr) > self.value_at(now),
            _ => {}
        }
        self.line()
    }

    /// Advances to host time `now`: if the counter reached RTCMR, sets
    /// RTCRIS.AI and disarms. Returns whether the alarm fired now.
    pub fn poll(&mut self, now: i64) -> bool {
        match self.deadline() {
            Some(d) if now >= d => {
                let s = self.state();
                self.rtc = Rtc::from_state(
                    &RtcState {
                        ris: s.ris | AI,
                        ..s
                    },
                    NoEvents,
                );
                self.armed = false;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(rtc: &mut RtcDevice, off: u16, v: u32, now: i64) -> bool {
        rtc.write(off, &v.to_le_bytes(), now)
    }

    fn r(rtc: &mut RtcDevice, off: u16) -> u32 {
        let mut d = [0; 4];
        rtc.read(off, &mut d);
        u32::from_le_bytes(d)
    }

    #[test]
    fn alarm_fires_when_the_counter_reaches_the_match_register() {
        let mut rtc = RtcDevice::new();
        let now = host_secs();
        let v = r(&mut rtc, RTCDR) as i64;
        assert!((v - now).abs() <= 1, "the counter is host time");
        // What Linux's rtc-pl031 does for "+2": clear, set RTCMR, unmask.
        assert!(!w(&mut rtc, RTCICR, 1, now));
        assert!(!w(&mut rtc, RTCMR, (now + 2) as u32, now));
        assert!(rtc.armed());
        assert!(!w(&mut rtc, RTCIMSC, 1, now));
        assert_eq!(rtc.deadline(), Some(now + 2));
        assert!(!rtc.poll(now + 1));
        assert!(!rtc.line());
        assert!(rtc.poll(now + 2));
        assert!(rtc.line());
        assert_eq!(r(&mut rtc, RTCRIS), 1);
        assert_eq!(r(&mut rtc, RTCMIS), 1);
        // Once only.
        assert!(!rtc.poll(now + 3));
        assert_eq!(rtc.deadline(), None);
        // The guest's handler clears it: the line drops.
        assert!(!w(&mut rtc, RTCICR, 1, now + 3));
        assert_eq!(r(&mut rtc, RTCRIS), 0);
    }

    #[test]
    fn masked_alarm_sets_the_raw_status_only() {
        let mut rtc = RtcDevice::new();
        let now = host_secs();
        w(&mut rtc, RTCMR, (now + 5) as u32, now);
        assert!(rtc.poll(now + 6));
        assert!(!rtc.line());
        assert_eq!(r(&mut rtc, RTCRIS), 1);
        assert_eq!(r(&mut rtc, RTCMIS), 0);
        // Unmasking a pending alarm raises the line.
        assert!(w(&mut rtc, RTCIMSC, 1, now + 6));
        assert!(!w(&mut rtc, RTCIMSC, 0, now + 6));
    }

    #[test]
    fn match_in_the_past_never_fires() {
        let mut rtc = RtcDevice::new();
        let now = host_secs();
        w(&mut rtc, RTCIMSC, 1, now);
        w(&mut rtc, RTCMR, now as u32, now);
        assert!(!rtc.armed());
        assert!(!rtc.poll(now + 100));
        assert!(!rtc.line());
    }

    #[test]
    fn the_deadline_follows_the_loaded_counter() {
        let mut rtc = RtcDevice::new();
        let now = host_secs();
        // The guest sets its clock 1000 s back, then an alarm 10 s ahead.
        w(&mut rtc, RTCLR, (now - 1000) as u32, now);
        let v = rtc.value_at(now);
        assert!((v - (now - 1000)).abs() <= 1);
        w(&mut rtc, RTCMR, (v + 10) as u32, now);
        assert_eq!(rtc.deadline(), Some(now + 10));
        // Loading a counter beyond RTCMR disarms it.
        w(&mut rtc, RTCLR, (v + 20) as u32, now);
        assert!(!rtc.armed());
    }
}
