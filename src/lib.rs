//! `release`: a resumable, journaled release runner for Python monorepos that
//! release many packages in lockstep.
//!
//! Where things live: a step in `steps/<step>.rs`, an effect in `ops/`, and the
//! one place that writes the journal in `journal/`.

pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod failpoint;
pub mod interrupt;
pub mod journal;
pub mod notes;
pub mod ops;
pub mod packages;
pub mod progress;
pub mod steps;
pub mod version;
