#!/usr/bin/env python3
"""tests/parity/tokenizer_hf_cases.py — inputs for test_tokenizer_hf.sh.

  tokenizer_hf_cases.py granite GPT2_DIR OUT_DIR
      A Granite-3.x-style tokenizer folder built from the real GPT-2
      tokenizer.json: Granite's pre_tokenizer (Sequence of Digits with
      individual_digits and ByteLevel with the GPT-2 regex, as in
      ibm-granite/granite-3.x and granite-speech-3.3 — llama.cpp calls it
      "refact"), ByteLevel post-processor and decoder, Granite's added tokens
      (<|end_of_text|> in place of <|endoftext|>, FIM, role, tool, citation,
      plugin and <|audio|> tokens; the ids are GPT-2's vocabulary size and up,
      not Granite's), three test-only added tokens with lstrip / rstrip /
      non-special flags, and merges in the [a, b] pair format.  Its
      tokenizer_config.json names <|end_of_text|> as bos and eos, as Granite's.
  tokenizer_hf_cases.py llama3g LLAMA3_DIR OUT_DIR
      The Llama 3 folder with "|\\s+" appended to the pre-tokenizer regex (an
      alternative that can never match): same tokenizer, but not byte-equal
      to Llama 3's pattern, so herd takes its generic path.
  tokenizer_hf_cases.py cases INP OUT_DIR SEED N
      Case texts: the llama.cpp llama-bpe.inp vectors (INP), hand-written
      ones (digit runs, CJK, emoji, whitespace runs, added tokens in text,
      contractions), the GPL-3 and Apache-2.0 licence texts of
      /usr/share/common-licenses and N random mixes -> OUT_DIR/case_NNN.txt (UTF-8), plus
      invalid UTF-8 byte strings -> OUT_DIR/inv_NN.bin (herd only: a JS
      string cannot hold them).

Characters whose class differs between JavaScript regexes and Hugging Face
tokenizers' Oniguruma are left out of the random texts: U+0085 and U+FEFF
(\\s), U+180E, and non-ASCII digits (transformers.js' Digits is ASCII \\d,
tokenizers' is every \\p{N}).
"""
import json
import os
import random
import sys

GRANITE_SPECIAL = ["<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>", "<gh_stars>",
                   "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>",
                   "<jupyter_code>", "<jupyter_output>", "<empty_output>", "<commit_before>", "<commit_msg>",
                   "<commit_after>", "<reponame>", "<|start_of_role|>", "<|end_of_role|>", "<|tool_call|>",
                   "<|start_of_cite|>", "<|end_of_cite|>", "<|start_of_plugin|>", "<|end_of_plugin|>", "<|audio|>"]


def added(i, content, special=True, lstrip=False, rstrip=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": False, "special": special}


def make_granite(src, out):
    tj = json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8"))
    model = tj["model"]
    vocab = model["vocab"]
    eot = vocab.pop("<|endoftext|>")
    vocab["<|end_of_text|>"] = eot
    toks = [added(eot, "<|end_of_text|>")]
    nid = len(vocab)
    for name in GRANITE_SPECIAL:
        toks.append(added(nid, name))
        nid += 1
    toks.append(added(nid, "<|lst|>", lstrip=True))
    toks.append(added(nid + 1, "<|rst|>", special=False, rstrip=True))
    toks.append(added(nid + 2, "pineapple pizza", special=False))
    tj["added_tokens"] = toks
    tj["normalizer"] = None
    tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    tj["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    tj["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    model["merges"] = [m.split(" ") for m in model["merges"]]
    model["ignore_merges"] = False
    os.makedirs(out, exist_ok=True)
    json.dump(tj, open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False)
    cfg = {"add_bos_token": False, "add_prefix_space": False, "bos_token": "<|end_of_text|>",
           "eos_token": "<|end_of_text|>", "pad_token": "<|end_of_text|>", "unk_token": "<|end_of_text|>",
           "clean_up_tokenization_spaces": True, "model_max_length": 131072, "tokenizer_class": "GPT2Tokenizer",
           "padding_side": "left"}
    json.dump(cfg, open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8"), indent=2)


def make_llama3g(src, out):
    tj = json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8"))
    split = tj["pre_tokenizer"]["pretokenizers"][0]
    split["pattern"]["Regex"] += "|\\s+"
    os.makedirs(out, exist_ok=True)
    json.dump(tj, open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False)
    cfg = open(os.path.join(src, "tokenizer_config.json"), encoding="utf-8").read()
    open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8").write(cfg)


HAND = [
    "1234567890", "3.14159 and 2024-11-23, 1,000,000 or 1 000 000", "a1b22c333d4444e55555",
    "version 10.2.33 build 0007", "中文字符测试，日本語のテキスト、한국어 텍스트입니다。",
    "🦙🦙 llama 👨‍👩‍👧‍👦 family 🏳️‍🌈 flag ✨✨✨", "a  b   c\t\td\n\n\ne \r\n f", "   leading spaces",
    "trailing spaces   ", "\n\n\n", "  \u3000 ideographic space\u2003em", "tab\tand\u00a0nbsp  \u2009thin",
    "<|start_of_role|>user<|end_of_role|>Hello there<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>",
    "x   <|lst|>y", "a<|rst|>   b", "I like pineapple pizza! pineapple  pizza, pineapple pizzas",
    "<|audio|><|audio|> can you transcribe the speech into a written format?", "<|start_of_role <|end_of_role|",
    "<|begin_of_text|><|eot_id|><|start_header_id|>system<|end_header_id|>", "<|endoftext|> and <|end_of_text|>",
    "I'm sure we'LL see THEY'RE right, it's fine, didn't ya", "Ce n'est pas ça; über straße Ωmega ÅNGSTRÖM",
    "x = {'a': [1, 2, 3]}; print(f\"{x!r:>10}\")  # comment\n\tif a != b: return -1",
    "ſt and the long s'ſ", "e\u0301 vs \u00e9, combining: a\u0308\u0301b", "    ", " ", "",
    "Hello\r\nWorld\rCR only\u2028LS\u2029PS", "\u2167 \u00bd \u00b2 roman and fractions",
]

POOL = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") * 4 + list("0123456789") * 3 +
        list(" " * 30) + list("\n\t\r") + list(".,;:!?'\"-_()[]{}<>/\\|@#$%^&*+=~`") +
        list("éèêëàâäôöùûüçñßøåæ") + list("αβγδεζηθλμπσω") + list("абвгдежзийклмнопрст") +
        list("中文字符日本語한국어") + ["🦙", "😀", "👍🏽", "🇫🇷", "❤️"] + list("\u00a0\u2003\u3000\u0301\u0308") +
        ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "  ", "   ", "\n\n", " \n "] +
        ["<|start_of_role|>", "<|end_of_role|>", "<|end_of_text|>", "<|audio|>", "<|lst|>", "<|rst|>",
         "pineapple pizza", "<|eot_id|>", "<|begin_of_text|>", "<|endoftext|>"])

INVALID = [b"abc\xffdef", b"\xc3(", b"\xe2\x82", b"ok \xf0\x9f\xa6 lone", b"\x80\x80 cont", b"\xed\xa0\x80 surrogate",
           b"\xc0\xaf overlong", b"end \xf4\x90\x80\x80", b"  \xfe  spaces\xff"]


def make_cases(inp, out, seed, n):
    os.makedirs(out, exist_ok=True)
    texts = open(inp, "rb").read().decode("utf-8").split("\n__ggml_vocab_test__\n")[:-1]
    texts += HAND
    for lic in ("GPL-3", "Apache-2.0"):   # real prose, tens of kilobytes (Debian base-files)
        path = os.path.join("/usr/share/common-licenses", lic)
        if os.path.exists(path):
            texts.append(open(path, encoding="utf-8").read())
    rng = random.Random(seed)
    for _ in range(n):
        texts.append("".join(rng.choice(POOL) for _ in range(rng.randint(1, 60))))
    for k, t in enumerate(texts):
        open(os.path.join(out, "case_%03d.txt" % k), "wb").write(t.encode("utf-8"))
    for k, b in enumerate(INVALID):
        open(os.path.join(out, "inv_%02d.bin" % k), "wb").write(b)
    print(len(texts))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "granite":
        make_granite(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "llama3g":
        make_llama3g(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 6 and sys.argv[1] == "cases":
        make_cases(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
