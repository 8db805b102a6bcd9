//! The wall clock that cron schedules follow: one timerfd on
//! CLOCK_REALTIME, set to the earliest next run of all (absolute, so a run
//! fires at its time to the millisecond), which the kernel also wakes when
//! the clock is set (TFD_TIMER_CANCEL_ON_SET): NTP or a resumed VM moves
//! the schedules at once. Between runs it costs no wake-up.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::PollFlags;

use super::Key;
use crate::pid1::event_loop::EventLoop;
use crate::sys;

pub struct WallClock {
    timer: OwnedFd,
    /// What the timer is set to (None: disarmed).
    armed: Option<i64>,
}

impl WallClock {
    /// The timer, watched under `Key::Clock`; None (with a warning) when
    /// the kernel refuses one: schedules then never fire, which is said.
    pub fn new(events: &mut EventLoop<Key>) -> Option<WallClock> {
        match sys::wall_timer() {
            Ok(timer) => {
                events.watch(timer.as_raw_fd(), PollFlags::POLLIN, Key::Clock);
                Some(WallClock { timer, armed: None })
            }
            Err(errno) => {
                error!(
                    "cannot make a wall-clock timer ({}): schedules will not run",
                    errno.desc()
                );
                None
            }
        }
    }

    /// Sets the timer to `at` (seconds since the epoch), if it is not set so.
    pub fn arm(&mut self, at: Option<i64>) {
        if self.armed == at {
            return;
        }
        match sys::arm_wall_timer(&self.timer, at) {
            Ok(()) => self.armed = at,
            Err(errno) => error!("cannot set the wall-clock timer: {}", errno.desc()),
        }
    }

    /// The timer is readable: it expired, or the clock was set (true). Either
    /// way it is disarmed now, and set again after the fleet has looked.
    pub fn fired(&mut self) -> bool {
        let mut expirations = [0u8; 8];
        let stepped = sys::read(self.timer.as_raw_fd(), &mut expirations) == Err(Errno::ECANCELED);
        self.armed = None;
        if stepped {
            info!("the wall clock was set: schedules follow the new time");
        }
        stepped
    }
}
