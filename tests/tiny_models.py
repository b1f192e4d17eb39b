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


# -- prompt-driven families: the tokenizer knows the prompts' words, so a test can read back what the model got.
def _prompt_tokenizer(specials: list[str], prompt_words: list[str], extra_specials: dict[str, str] | None = None):
    import re

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = list(dict.fromkeys(WORDS + [w for text in prompt_words for w in re.findall(r"\w+|[^\w\s]+", text.lower())]))
    vocab = {token: i for i, token in enumerate(["<pad>", "<s>", "</s>", "<unk>", *specials, *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        additional_special_tokens=specials, extra_special_tokens=extra_specials or {},
    )


# A minimal chat template: "user:<image> PROMPT<eou>\nassistant:" (image placeholder and turn end per model).
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}:{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}IMAGE{% else %} {{ part['text'] }}{% endif %}{% endfor %}END\n"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)


def _never_stop_early(model, tokenizer, max_new_tokens: int = 6) -> None:
    config = model.generation_config
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    config.bos_token_id = tokenizer.bos_token_id
    config.num_beams = 1
    config.max_new_tokens = max_new_tokens
    config.min_new_tokens = 3  # a random model that emits EOS first would give an empty caption


def build_tiny_florence2(folder: Path, *, seed: int = 0) -> Path:
    """Florence-2 (DaViT encoder, BART text model) at 32 px, 1 layer each side."""
    import torch
    from transformers import CLIPImageProcessor, Florence2Config, Florence2ForConditionalGeneration, Florence2Processor

    torch.manual_seed(seed)
    # The questions Florence2Processor expands alttext's task tokens into.
    questions = ["What does the image describe?", "Describe in detail what is shown in the image.",
                 "Describe with a paragraph what is shown in the image.", "What is the text in the image?"]
    tokenizer = _prompt_tokenizer(["<image>"], questions, {"image_token": "<image>"})
    config = Florence2Config(
        vision_config={"depths": [1, 1], "patch_size": [7, 3], "patch_stride": [4, 2], "patch_padding": [3, 1],
                       "patch_prenorm": [False, True], "embed_dim": [16, 32], "num_heads": [2, 2],
                       "num_groups": [2, 2], "window_size": 2, "projection_dim": 32, "max_position_embeddings": 16,
                       "max_temporal_embeddings": 4},
        text_config={"vocab_size": len(tokenizer), "d_model": 32, "encoder_layers": 1, "decoder_layers": 1,
                     "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 64,
                     "decoder_ffn_dim": 64, "max_position_embeddings": 300, "pad_token_id": tokenizer.pad_token_id,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "decoder_start_token_id": tokenizer.eos_token_id, "forced_eos_token_id": None},
        image_token_id=tokenizer.image_token_id,
    )
    model = Florence2ForConditionalGeneration(config)
    _never_stop_early(model, tokenizer)
    model.generation_config.decoder_start_token_id = tokenizer.eos_token_id
    # 32 px through strides 4 and 2: a 4x4 grid, plus one pooled token.
    image_processor = CLIPImageProcessor(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32},
                                         do_center_crop=False, image_seq_length=17)
    model.save_pretrained(folder)
    Florence2Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_tiny_idefics3(folder: Path, *, seed: int = 0, prompt_words: tuple[str, ...] = (),
                        chat_template: bool = True) -> Path:
    """Idefics3/SmolVLM (SigLIP-like encoder, Llama text model) at 32 px, no image splitting."""
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    from alttext.captioning.families.chat_vlm import ALT_TEXT_PROMPT, DESCRIPTION_PROMPT, TEXT_PROMPT

    torch.manual_seed(seed)
    grid = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    specials = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>", *grid]
    tokenizer = _prompt_tokenizer(specials, [ALT_TEXT_PROMPT, DESCRIPTION_PROMPT, TEXT_PROMPT, "assistant user",
                                                  *prompt_words])
    config = Idefics3Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
                     "max_position_embeddings": 256, "pad_token_id": tokenizer.pad_token_id,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=2, pad_token_id=tokenizer.pad_token_id,
    )
    model = Idefics3ForConditionalGeneration(config)
    _never_stop_early(model, tokenizer)
    image_processor = Idefics3ImageProcessor(do_image_splitting=False, size={"longest_edge": 32},
                                             max_image_size={"longest_edge": 32})
    template = CHAT_TEMPLATE.replace("IMAGE", "<image>").replace("END", "<end_of_utterance>")
    # (32 / 8)^2 patches, merged 2x2 by the connector: 4 image tokens.
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4,
                                  chat_template=template if chat_template else None)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
