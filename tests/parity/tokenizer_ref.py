#!/usr/bin/python3
"""tests/parity/tokenizer_ref.py — a plain Python Llama 3 tokenizer, for parity
with lm/tokenizer.c.  Written from the description in SPEC §1.8 and Meta's
Tokenizer.encode: 400 000-character windows, runs of more than 25 000
(non-)whitespace characters cut, the pre-tokenizer regex (Python `regex`
module, Debian python3-regex), then lowest-rank-first byte-pair merging.

Usage:
  tokenizer_ref.py MODEL gen DIR N SEED    write N random texts DIR/case_K.txt
  tokenizer_ref.py MODEL encode FILE...    print one line of ids per file
"""
import base64
import heapq
import os
import random
import sys

import regex

PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
       r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CHUNK = 400_000
RUN = 25_000


def load_ranks(path):
    ranks = {}
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                tok, rank = line.split()
                ranks[base64.b64decode(tok)] = int(rank)
    return ranks


def bpe_long(ranks, piece):
    """The same merge order with a heap over a linked list (long pieces)."""
    n = len(piece)
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    alive = [True] * n
    heap = []
    for i in range(n - 1):
        r = ranks.get(piece[i:i + 2])
        if r is not None:
            heap.append((r, i, i + 2))
    heapq.heapify(heap)
    while heap:
        r, a, e = heapq.heappop(heap)
        if not alive[a] or nxt[a] >= n or nxt[nxt[a]] != e:
            continue
        alive[nxt[a]] = False
        nxt[a] = e
        if e < n:
            prv[e] = a
        if prv[a] >= 0:
            r2 = ranks.get(piece[prv[a]:e])
            if r2 is not None:
                heapq.heappush(heap, (r2, prv[a], e))
        if e < n:
            r2 = ranks.get(piece[a:nxt[e]])
            if r2 is not None:
                heapq.heappush(heap, (r2, a, nxt[e]))
    out, a = [], 0
    while a < n:
        out.append(ranks[piece[a:nxt[a]]])
        a = nxt[a]
    return out


def bpe(ranks, piece):
    if piece in ranks:
        return [ranks[piece]]
    if len(piece) > 300:
        return bpe_long(ranks, piece)
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while True:
        best, best_i = None, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best):
                best, best_i = r, i
        if best is None:
            break
        parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return [ranks[p] for p in parts]


def split_runs(s):
    """Meta's _split_whitespaces_or_nonwhitespaces."""
    if not s:
        yield s
        return
    cur_len, cur_space, start = 0, s[0].isspace(), 0
    for i, ch in enumerate(s):
        sp = ch.isspace()
        if cur_space ^ sp:
            cur_len, cur_space = 1, sp
        else:
            cur_len += 1
            if cur_len > RUN:
                yield s[start:i]
                start, cur_len = i, 1
    yield s[start:]


def encode(ranks, pat, text):
    ids = []
    for i in range(0, len(text), CHUNK):
        for sub in split_runs(text[i:i + CHUNK]):
            for m in pat.finditer(sub):
                ids.extend(bpe(ranks, m.group().encode("utf-8")))
    return ids


ATOMS = [" ", "  ", "   ", "\n", "\n\n", "\r\n", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2003", "\u3000",
         "\u200b", "'s", "'S", "'re", "'RE", "'Ve", "'m", "'ll", "'LL", "'d", "'t", "'\u017f", "'x", "'",
         "a", "Z", "the", " the", "Hello", "don't", "I'M", "7", "42", "12345", "3.14", "\u0663\u0664",
         "\u2167", "\u00bd", "\u2460", "!", "?!", "...", "--", "(", ")", "\"", "#", "@", "$", "%", "&*",
         "\u00e9", "stra\u00dfe", "\u0416\u0438\u0437\u043d\u044c", "\u4e2d\u6587", "\u30a2\u30a4", "\ud55c\uad6d\uc5b4",
         "\u0645\u0631\u062d\u0628\u0627", "\u0928\u092e\u0938\u094d\u0924\u0947", "e\u0301", "\u0301",
         "\U0001f999", "\U0001f600\U0001f600", "\u2764\ufe0f", "\U000e0001", "\ufffd", "\u0378", "\U0010fffd",
         "<|eot_id|>", "\u00aa", "\u02b0", "\u16ee", "\U0001d400", "\u2028", "\u180e", "\x7f", "\x00"]


def gen(n, seed):
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        parts = []
        for _ in range(rnd.randrange(1, 60)):
            if rnd.random() < 0.15:
                parts.append(chr(rnd.choice([rnd.randrange(0x20, 0x7f), rnd.randrange(0xa0, 0x3000),
                                             rnd.randrange(0x3000, 0xd800), rnd.randrange(0xe000, 0x110000)])))
            else:
                parts.append(rnd.choice(ATOMS))
        out.append("".join(parts))
    # Meta's run limit: long runs of letters, spaces, digits and symbols
    out.append("a" * 25_000 + " " + "b" * 25_001)
    out.append(" " * 30_000 + "x" + "\n" * 26_000)
    out.append("1" * 25_003 + "!" * 26_000 + "\u4e2d" * 25_500)
    # Meta's 400 000-character windows cut a piece (counted in characters, not bytes)
    out.append("ab " * 133_335)
    out.append("\u00e9a " * 133_335)
    return out


def main():
    model, cmd = sys.argv[1], sys.argv[2]
    if cmd == "gen":
        d, n, seed = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        for k, t in enumerate(gen(n, seed)):
            with open(os.path.join(d, "case_%04d.txt" % k), "wb") as f:
                f.write(t.encode("utf-8"))
        return
    ranks = load_ranks(model)
    pat = regex.compile(PAT)
    for path in sys.argv[3:]:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        print(" ".join(str(i) for i in encode(ranks, pat, text)))


if __name__ == "__main__":
    main()
