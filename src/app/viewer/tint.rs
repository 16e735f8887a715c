//! The token tint of the primary skeleton's bones: an `ExtendedMaterial` over the bones'
//! `StandardMaterial` whose fragment shader (`shaders/token_tint.wgsl`) mixes in the colour of
//! the code under the playhead and blends into the next code's colour near the token boundary.

use bevy::pbr::{ExtendedMaterial, MaterialExtension};
use bevy::prelude::*;
use bevy::render::render_resource::{AsBindGroup, ShaderType};
use bevy::shader::ShaderRef;

/// Where the shader lives in the asset system (embedded at build time).
pub const TINT_SHADER: Handle<Shader> =
    bevy::asset::uuid_handle!("5f0c2d7e-4b1a-4c65-9d3e-1a7b2c9e8f40");

/// The material of the primary skeleton's bones.
pub type TintedMaterial = ExtendedMaterial<StandardMaterial, TokenTint>;

/// Shader uniform (binding 100 of the material group; the base material uses 0–99).
#[derive(Clone, Copy, Debug, Default, ShaderType)]
pub struct TintUniform {
    pub current: Vec4,
    pub next: Vec4,
    /// x: position in the token, [0, 1); y: blend start, [0, 1]; z: strength, [0, 1].
    pub params: Vec4,
}

#[derive(Asset, AsBindGroup, Reflect, Debug, Clone, Default)]
pub struct TokenTint {
    #[uniform(100)]
    #[reflect(ignore)]
    pub tint: TintUniform,
}

impl MaterialExtension for TokenTint {
    fn fragment_shader() -> ShaderRef {
        ShaderRef::Handle(TINT_SHADER)
    }
}

/// What the tint shows, set by the token plugin each frame: `None` leaves the side colours.
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct SkeletonTint {
    /// (current code colour, next code colour, position in the token in [0, 1)).
    pub token: Option<(LinearRgba, LinearRgba, f32)>,
}

/// Fraction of a token after which the colour starts blending into the next code's.
const BLEND_START: f32 = 0.6;
/// How much of the code colour replaces the side colour.
const STRENGTH: f32 = 0.65;

/// Marks the materials the tint updates.
#[derive(Resource, Default)]
pub(super) struct TintedHandles(pub Vec<Handle<TintedMaterial>>);

pub(super) fn update_tint(
    tint: Res<SkeletonTint>,
    handles: Res<TintedHandles>,
    mut materials: ResMut<Assets<TintedMaterial>>,
) {
    if !tint.is_changed() {
        return;
    }
    let u = match tint.token {
        Some((a, b, x)) => TintUniform {
            current: Vec4::new(a.red, a.green, a.blue, 1.0),
            next: Vec4::new(b.red, b.green, b.blue, 1.0),
            params: Vec4::new(x, BLEND_START, STRENGTH, 0.0),
        },
        None => TintUniform::default(),
    };
    for h in &handles.0 {
        if let Some(mut m) = materials.get_mut(h) {
            m.extension.tint = u;
        }
    }
}
