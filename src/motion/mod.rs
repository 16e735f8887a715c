//! Human motion in the HumanML3D representation: the 263-d feature layout, the 22-joint SMPL
//! skeleton, `recover_from_ric`, Mean/Std normalisation, `.npy` IO, the dataset reader and the
//! quaternion / Euler rotation helpers every part uses.
//! Never imports Bevy.

pub mod bvh_export;
pub mod dataset;
pub mod error;
pub mod features;
pub mod import;
pub mod kit;
pub mod layout;
pub mod limits;
pub mod normalize;
pub mod npy;
pub mod recover;
pub mod rotation;
pub mod skeleton;
pub mod subclip;
pub mod texts;

pub use dataset::{Clip, Dataset, Split};
pub use error::{MotionError, Result};
pub use features::{Features, Joints};
pub use layout::{FPS, N_FEATURES, N_JOINTS};
pub use normalize::Normalizer;
pub use recover::recover_from_ric;
pub use skeleton::Skeleton;
pub use texts::Caption;

#[cfg(test)]
mod tests;
