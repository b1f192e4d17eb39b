"""Random-weight tiny models built from configs, for tests that prove a code path loads and runs
(the trained fixture in tests/fixtures/shapes-captioner proves the captions themselves)."""

from __future__ import annotations

from pathlib import Path

WORDS = ["a", "red", "green", "blue", "circle", "square", "on", "white", "black", "background", "dog", "beach"]


def _word_tokenizer(extra_specials: dict[str, str]):  # -> PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[BOS]", "[EOS]", "[UNK]", *extra_specials.values()]
    vocab = {token: i for i, token in enumerate(specials + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", bos_token="[BOS]", eos_token="[EOS]", unk_token="[UNK]",
        **extra_specials,
    )


def build_tiny_vit_gpt2(folder: Path, *, seed: int = 0, image_size: int = 32) -> Path:
    import torch
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    torch.manual_seed(seed)
    tokenizer = _word_tokenizer({})
    encoder = ViTConfig(image_size=image_size, patch_size=8, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64)
    decoder = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=64,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tokenizer.bos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    model = VisionEncoderDecoderModel(config=config)
    model.generation_config.decoder_start_token_id = tokenizer.bos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.num_beams = 2
    model.generation_config.max_length = 8
    # Never stop early: a random model that emits EOS first would give an empty caption.
    model.generation_config.min_length = 4
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_blip(folder: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor

    torch.manual_seed(seed)
    tokenizer = _word_tokenizer({"sep_token": "[SEP]", "cls_token": "[CLS]"})
    config = BlipConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "encoder_hidden_size": 32,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id, "sep_token_id": tokenizer.sep_token_id,
                     "max_position_embeddings": 64},
        projection_dim=32,
    )
    model = BlipForConditionalGeneration(config)
    model.config.text_config.bos_token_id = tokenizer.bos_token_id
    model.decoder_input_ids = tokenizer.bos_token_id
    model.generation_config.max_length = 8
    model.generation_config.min_length = 4
    model.save_pretrained(folder)
    BlipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
