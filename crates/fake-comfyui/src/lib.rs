//! Dev-only fake ComfyUI server (HTTP + WebSocket on loopback) that matches recorded real traffic.
//!
//! Never linked into a release binary. Filled by the ComfyUI client issue.
