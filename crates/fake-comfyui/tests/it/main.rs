//! Integration tests of the fake ComfyUI server: its answers must match the recorded real traffic.

mod parity;
mod support;
