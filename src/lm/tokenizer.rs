//! Builds a Hugging Face `tokenizers` tokenizer from GGUF metadata (`tokenizer.ggml.*`), for
//! byte-level BPE vocabularies (`tokenizer.ggml.model = gpt2`) such as SmolLM2's, which ships no
//! tokenizer.json. The `smollm` pre-tokenizer is llama.cpp's: digits split one by one, then
//! GPT-2's byte-level regex (as SmolLM2's own tokenizer.json: Digits(individual) + ByteLevel).

use std::path::Path;

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{PreTokenizerWrapper, Tokenizer};

use super::error::{LmError, Result};

/// Special token ids of a vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    pub bos: u32,
    pub eos: u32,
}

/// A `tokenizer.json` read as the models here use it: one sentence at a time, so no padding
/// and no truncation (some shipped files pad to 128 or cut at 512).
///
/// Errors (naming the file): missing, or not a tokenizer the `tokenizers` crate reads.
pub fn tokenizer_file(path: &Path) -> Result<Tokenizer> {
    let mut t = Tokenizer::from_file(path).map_err(|e| LmError::format(path, e))?;
    t.with_padding(None);
    t.with_truncation(None)
        .map_err(|e| LmError::format(path, e))?;
    Ok(t)
}

/// The tokenizer of a GGUF file (`path` is for error messages).
///
/// Errors (naming `path`): a tokenizer model other than `gpt2`, missing tokens or merges, a
/// bos/eos id past the tokens, token types that do not pair one to one with the tokens.
pub fn tokenizer_from_gguf(
    content: &gguf_file::Content,
    path: &Path,
) -> Result<(Tokenizer, SpecialTokens)> {
    let md = |key: &str| {
        content
            .metadata
            .get(key)
            .ok_or_else(|| LmError::format(path, format!("missing metadata `{key}`")))
    };
    let model = md("tokenizer.ggml.model")?
        .to_string()
        .map_err(|e| LmError::format(path, e))?;
    if model != "gpt2" {
        return Err(LmError::format(
            path,
            format!("tokenizer model `{model}`: only byte-level BPE (`gpt2`) is supported"),
        ));
    }
    if let Ok(pre) =
        md("tokenizer.ggml.pre").and_then(|v| v.to_string().map_err(|e| LmError::format(path, e)))
    {
        if !matches!(pre.as_str(), "smollm" | "gpt2" | "default") {
            return Err(LmError::format(
                path,
                format!("pre-tokenizer `{pre}` is not supported (smollm, gpt2)"),
            ));
        }
    }
    let strings = |key: &str| -> Result<Vec<String>> {
        md(key)?
            .to_vec()
            .map_err(|e| LmError::format(path, e))?
            .iter()
            .map(|v| v.to_string().cloned().map_err(|e| LmError::format(path, e)))
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges: Vec<(String, String)> = strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| LmError::format(path, format!("merge `{m}` has no space")))?;
            Ok((a.to_string(), b.to_string()))
        })
        .collect::<Result<_>>()?;
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| LmError::Tokenizer(format!("{}: {e}", path.display())))?;
    let mut tok = Tokenizer::new(bpe);
    let pre = Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ]);
    tok.with_pre_tokenizer(Some(pre));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    let id = |key: &str| -> Result<u32> {
        let id = md(key)?.to_u32().map_err(|e| LmError::format(path, e))?;
        if id as usize >= tokens.len() {
            return Err(LmError::format(
                path,
                format!("`{key}` {id} is not below the {} tokens", tokens.len()),
            ));
        }
        Ok(id)
    };
    let special = SpecialTokens {
        bos: id("tokenizer.ggml.bos_token_id")?,
        eos: id("tokenizer.ggml.eos_token_id")?,
    };
    // Control tokens (e.g. <|im_start|>) must not be split by the pre-tokenizer.
    let types = md("tokenizer.ggml.token_type")
        .ok()
        .and_then(|v| v.to_vec().ok());
    if let Some(types) = types {
        if types.len() != tokens.len() {
            return Err(LmError::format(
                path,
                format!(
                    "`tokenizer.ggml.token_type` has {} entries for {} tokens",
                    types.len(),
                    tokens.len()
                ),
            ));
        }
        let added: Vec<tokenizers::AddedToken> = types
            .iter()
            .zip(&tokens)
            .filter(|(t, _)| t.to_i32().ok() == Some(3))
            .map(|(_, token)| tokenizers::AddedToken::from(token.clone(), true))
            .collect();
        tok.add_special_tokens(added)
            .map_err(|e| LmError::Tokenizer(format!("{}: {e}", path.display())))?;
    }
    Ok((tok, special))
}
