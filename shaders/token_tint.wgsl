// Token tint of the skeleton's bones: the StandardMaterial's colour mixed with the colour of the
// DVQ code under the playhead, blending into the next code's colour over the last frames of each
// token (one code per 8 frames). Used by `src/app/viewer/tint.rs` (ExtendedMaterial).

#import bevy_pbr::{
    pbr_fragment::pbr_input_from_standard_material,
    pbr_functions::alpha_discard,
}

#ifdef PREPASS_PIPELINE
#import bevy_pbr::{
    prepass_io::{VertexOutput, FragmentOutput},
    pbr_deferred_functions::deferred_output,
}
#else
#import bevy_pbr::{
    forward_io::{VertexOutput, FragmentOutput},
    pbr_functions::{apply_pbr_lighting, main_pass_post_lighting_processing},
}
#endif

struct TokenTint {
    // Colour of the current code and of the next one (linear RGB, alpha unused).
    current: vec4<f32>,
    next: vec4<f32>,
    // x: position inside the token in [0, 1); y: where the blend to `next` starts in [0, 1];
    // z: tint strength in [0, 1] (0 = the plain side colours).
    params: vec4<f32>,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(100) var<uniform> tint: TokenTint;

@fragment
fn fragment(in: VertexOutput, @builtin(front_facing) is_front: bool) -> FragmentOutput {
    var pbr_input = pbr_input_from_standard_material(in, is_front);
    let w = smoothstep(tint.params.y, 1.0, tint.params.x);
    let code = mix(tint.current.rgb, tint.next.rgb, w);
    let base = pbr_input.material.base_color.rgb;
    pbr_input.material.base_color = vec4<f32>(mix(base, code, tint.params.z), pbr_input.material.base_color.a);
    pbr_input.material.base_color = alpha_discard(pbr_input.material, pbr_input.material.base_color);
#ifdef PREPASS_PIPELINE
    let out = deferred_output(in, pbr_input);
#else
    var out: FragmentOutput;
    out.color = apply_pbr_lighting(pbr_input);
    out.color = main_pass_post_lighting_processing(pbr_input, out.color);
#endif
    return out;
}
