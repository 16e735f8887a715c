use bevy::prelude::*;

use crate::motion::FPS;

/// Speeds offered by the transport bar.
pub const SPEEDS: [f32; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

/// The playhead, in frames of the primary clip (fractional between frames while playing).
#[derive(Resource, Debug)]
pub struct Playback {
    /// Playhead position in frames, `0 ..= frames - 1`.
    pub position: f32,
    pub playing: bool,
    /// Playback rate relative to real time.
    pub speed: f32,
    pub looping: bool,
    /// Frames of the primary clip (0 when none is loaded).
    pub frames: usize,
    /// Frame rate of the primary clip (20 HumanML3D, 12.5 KIT-ML).
    pub fps: f32,
}

impl Default for Playback {
    fn default() -> Self {
        Self {
            position: 0.0,
            playing: true,
            speed: 1.0,
            looping: true,
            frames: 0,
            fps: FPS,
        }
    }
}

impl Playback {
    /// A new clip of `frames` frames at 20 fps: back to frame 0, keep speed/loop/play state.
    pub fn reset(&mut self, frames: usize) {
        self.reset_at(frames, FPS);
    }

    /// A new clip of `frames` frames at `fps`: back to frame 0, keep speed/loop/play state.
    pub fn reset_at(&mut self, frames: usize, fps: f32) {
        self.frames = frames;
        self.fps = fps;
        self.position = 0.0;
    }

    /// The frame shown, `0 ..= frames - 1`.
    pub fn frame(&self) -> usize {
        (self.position.floor() as usize).min(self.frames.saturating_sub(1))
    }

    /// Seconds from the clip start at the playhead.
    pub fn time_secs(&self) -> f32 {
        self.position / self.fps
    }

    fn last(&self) -> f32 {
        self.frames.saturating_sub(1) as f32
    }

    /// Moves the playhead to a whole frame (clamped) and pauses.
    pub fn seek(&mut self, frame: usize) {
        self.position = (frame as f32).min(self.last());
    }

    /// Steps by `delta` whole frames and pauses.
    pub fn step(&mut self, delta: i64) {
        self.playing = false;
        let f = (self.frame() as i64 + delta).clamp(0, self.last() as i64);
        self.position = f as f32;
    }

    /// Advances by `dt_secs` of real time at the current speed; loops or stops at the end.
    pub fn advance(&mut self, dt_secs: f32) {
        if !self.playing || self.frames < 2 {
            return;
        }
        self.position += dt_secs * self.fps * self.speed;
        let last = self.last();
        if self.position > last {
            if self.looping {
                self.position %= last + 1.0;
                if self.position > last {
                    self.position = 0.0;
                }
            } else {
                self.position = last;
                self.playing = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_loops_and_stops() {
        let mut p = Playback::default();
        p.reset(40);
        p.advance(1.0); // 20 frames at 1×
        assert_eq!(p.frame(), 20);
        p.speed = 2.0;
        p.advance(1.0); // +40 → wraps modulo 40
        assert_eq!(p.frame(), 20);
        p.looping = false;
        p.advance(10.0);
        assert_eq!(p.frame(), 39);
        assert!(!p.playing);
        p.step(-5);
        assert_eq!(p.frame(), 34);
        p.step(100);
        assert_eq!(p.frame(), 39);
    }
}
