//! GeoMotion Studio: HumanML3D motion, the GeoMotionGPT tokenizer and captioner, evaluation, and
//! a Bevy studio to see them.
//!
//! | module | owns |
//! | --- | --- |
//! | [`motion`] | 263-d layout, skeleton, `recover_from_ric`, normalisation, npy IO, dataset reader (no Bevy) |
//! | [`app`] | the Bevy studio, one plugin per feature folder |
//! | [`cli`] | the `geomotion` subcommands, thin wrappers over the library |

pub mod app;
pub mod cli;
pub mod device;
pub mod dvq;
pub mod eval;
pub mod lm;
pub mod motion;
pub mod train_log;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
pub(crate) mod testdata;
