#!/usr/bin/env python3
"""Golden files for the QATTokenizer tests (SmolLM2's byte-level BPE and the pre-tokenizers).

Run from the repository root (needs the git-ignored model and `pip install gguf tokenizers`):
    python3 Tests/Oracles/tokenizer_golden.py [Models/SmolLM2-135M-Instruct.Q4_1.gguf]

Writes, under Tests/QATTokenizerTests/Golden/:
  1. smollm2_vocab.json   the GGUF's tokenizer.ggml.* metadata as one JSON object:
                          tokens [str], token_types [int], merges [str "a b"], pre (str),
                          bos_id, eos_id, unk_id, pad_id (int or null), add_bos, add_eos (bool).
  2. smollm2_golden.json  {"cases": [{"text", "ids", "ids_no_special"}]} for tricky strings.
  3. pretokenizer_golden.json  {"cases": [{"pre", "text", "pieces"}]}: the pre-tokenizer splits alone.

The reference is the Rust Hugging Face `tokenizers` library, NOT llama.cpp and NOT transformers
(transformers 5.x builds this GGUF's tokenizer without the digit split). It is built from the same
vocabulary and merges with a pre_tokenizer Sequence of Split regexes equal to llama.cpp's list for
each LLAMA_VOCAB_PRE_TYPE (src/llama-vocab.cpp), behavior "isolated" (text between matches is kept
as its own piece, as llama.cpp's unicode_regex_split does), then ByteLevel(use_regex=False).
Special (control) tokens are added as special AddedTokens; no BOS (the GGUF says add_bos_token = False).
`ids_no_special` encodes with tok.encode_special_tokens = True (llama.cpp parse_special = false:
control tokens written in the text are tokenized as plain text).

Where the regex reference and llama.cpp's hand-written matchers could differ: llama.cpp evaluates
`\\s+(?!\\S)` per pre-split segment with "end of segment" as the only lookahead boundary; the HF Split
of a Sequence also sees each piece alone, so both agree (checked on every case below). The HF regex
engine (Oniguruma) and llama.cpp use their own Unicode tables (different Unicode versions); they can
differ on code points assigned in one version and not the other: llama.cpp's unicode-data.cpp is
Unicode 15.1, Oniguruma in `tokenizers` 0.23 knows Unicode 16 (e.g. Egyptian Hieroglyphs Ext-A,
U+13460...), Swift 6.3 knows 17. QATTokenizer follows llama.cpp (scalars assigned after 15.1 count as
unassigned); the strings below avoid post-15.1 code points, so the reference and llama.cpp agree on them.
(A one-off differential run on 60K random scalars from all planes agreed exactly for all five
pre-tokenizers once post-15.1 scalars were removed, and the SmolLM2 ids agreed on 2.2 MB of English.)
"""
import json
import os
import sys

from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "QATTokenizerTests", "Golden")

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# llama.cpp's regex lists per pre-tokenizer type (src/llama-vocab.cpp, llm_tokenizer_bpe).
PRE_REGEXES = {
    "gpt2": [GPT2],
    "smollm": [r"\p{N}", GPT2],
    "llama3": [LLAMA3],
    "qwen2": [QWEN2],
    "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
}

CASES = [
    "", " ", "  ", "   leading", "trailing   ", "  x", "x  ", "a  b", "a \tb", "a\t\tb",
    "Hello world", "Hello, world!", "The capital of France is",
    "12345", "3.14159", "1 2  3   4", "abc   123", "   123", "x 1000000 y", "v1.2.3-rc4",
    "x\n\n\ty", "\n\n\t", "\r\n", "line1\r\nline2\n", "   \n   ", "end with newline\n",
    "!!!...", "?!?! ...  ---", "$100 + 5% = <tag> ^~|`", "tab\tseparated\tvalues",
    "don't I'LL we're they've she'd it's 'quote' rock'n'roll", "'s 'S 'll 'Ll",
    "naïve café 日本語 🙂", "😀👍🏽👨‍👩‍👧 ❤️", "中文测试，你好。", "Здравствуй, мир!", "مرحبا ١٢٣",
    "ＡＢＣ１２３", "x² ½ Ⅻ ①", "e\u0301 n\u0303", "\u00a0nbsp\u3000ideographic\u2009thin",
    "\u0001\u001f\u007f ctrl", "\u001c fs", "\u0085 nel", "\u0378 unassigned \ue000 private",
    "mixed ελληνικά русский עברית हिन्दी ไทย 한국어",
    "<|im_start|>user\nHi<|im_end|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>assistant\n",
    "a<|endoftext|>b", "<|im_start", "<|im_start|><|im_end|>", "<repo_name>x<file_sep> y",
    "def f(x):\n    return x**2  # square\n\n\n",
    "The Devil's Dictionary, 1911: ABSURDITY, n. A statement or belief manifestly "
    "inconsistent with one's own opinion.  ACADEME, n. An ancient school where morality "
    "and philosophy were taught.",
]


def read_gguf(path):
    r = GGUFReader(path)
    f = r.fields

    def get(key, default=None):
        return f[key].contents() if key in f else default

    return {
        "tokens": get("tokenizer.ggml.tokens"),
        "token_types": [int(t) for t in get("tokenizer.ggml.token_type")],
        "merges": get("tokenizer.ggml.merges"),
        "pre": get("tokenizer.ggml.pre"),
        "bos_id": get("tokenizer.ggml.bos_token_id"),
        "eos_id": get("tokenizer.ggml.eos_token_id"),
        "unk_id": get("tokenizer.ggml.unknown_token_id"),
        "pad_id": get("tokenizer.ggml.padding_token_id"),
        "add_bos": bool(get("tokenizer.ggml.add_bos_token", False)),
        "add_eos": bool(get("tokenizer.ggml.add_eos_token", False)),
    }


def split_sequence(regexes):
    return [pre_tokenizers.Split(Regex(rx), behavior="isolated", invert=False) for rx in regexes]


def build_reference(v):
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = []
    for m in v["merges"]:
        cut = m.index(" ", 1)  # llama.cpp splits at the first space after the first byte
        merges.append((m[:cut], m[cut + 1:]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    assert v["pre"] == "smollm", v["pre"]
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        split_sequence(PRE_REGEXES["smollm"])
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    # control (3) and user-defined (4) tokens are matched in the raw text before pre-tokenization
    specials = [AddedToken(t, special=(ty == 3), normalized=False)
                for t, ty in zip(v["tokens"], v["token_types"]) if ty in (3, 4)]
    tok.add_tokens(specials)
    return tok


def main():
    gguf_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "Models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    v = read_gguf(gguf_path)
    with open(os.path.join(OUT, "smollm2_vocab.json"), "w", encoding="utf-8") as fh:
        json.dump(v, fh, ensure_ascii=False, separators=(",", ":"))

    tok = build_reference(v)
    # the GPT-2 pattern with and without the trailing `|\s+` must split alike (gaps are kept)
    with_tail = pre_tokenizers.Sequence(split_sequence([r"\p{N}", GPT2 + r"|\s+"]))
    without = pre_tokenizers.Sequence(split_sequence(PRE_REGEXES["smollm"]))
    cases = []
    for text in CASES:
        assert [p for p, _ in with_tail.pre_tokenize_str(text)] == \
               [p for p, _ in without.pre_tokenize_str(text)], text
        tok.encode_special_tokens = False
        ids = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        ids_plain = tok.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids, skip_special_tokens=False) == text, text
        cases.append({"text": text, "ids": ids, "ids_no_special": ids_plain})
    with open(os.path.join(OUT, "smollm2_golden.json"), "w", encoding="utf-8") as fh:
        json.dump({"source": os.path.basename(gguf_path), "cases": cases}, fh,
                  ensure_ascii=False, indent=1)

    pre_cases = []
    for pre, regexes in PRE_REGEXES.items():
        seq = pre_tokenizers.Sequence(split_sequence(regexes))
        for text in CASES:
            pieces = [p for p, _ in seq.pre_tokenize_str(text)]
            pre_cases.append({"pre": pre, "text": text, "pieces": pieces})
    with open(os.path.join(OUT, "pretokenizer_golden.json"), "w", encoding="utf-8") as fh:
        json.dump({"cases": pre_cases}, fh, ensure_ascii=False, indent=1)
    print(f"wrote {len(cases)} id cases, {len(pre_cases)} pre-tokenizer cases to {OUT}")


if __name__ == "__main__":
    main()
