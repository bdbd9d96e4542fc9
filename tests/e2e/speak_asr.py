#!/usr/bin/python3
"""Round trip for `herd speak` through an independent recognizer (pocketsphinx).

    speak_asr.py HERD WORKDIR [herd speak options...]

Speaks each sentence of SENTENCES at 16 kHz, recognizes it with pocketsphinx_continuous
(US English acoustic model, a word-loop grammar over the vocabulary of all the sentences'
spoken forms, so the recognizer must tell the words apart by their sound alone) and prints
the word error rate against the spoken forms (herd's normaliser output, checked below to
be what a reader would say), and the WER of a control: the same hypotheses scored against
the wrong sentences.
"""
import os
import re
import subprocess
import sys

SENTENCES = [
    ("The quick brown fox jumps over the lazy dog.", None),
    ("Please call Stella and ask her to bring these things with her from the store.", None),
    ("The meeting starts at 3:30 pm on Monday.", "the meeting starts at three thirty p m on monday"),
    ("She bought 12 apples and 3 oranges for $5.", "she bought twelve apples and three oranges for five dollars"),
    ("We walked 5 km along the river before dinner.", "we walked five kilometers along the river before dinner"),
    ("Open the window and let the fresh air in.", None),
    ("The train to Boston leaves from platform 9.", "the train to boston leaves from platform nine"),
    ("My brother was born on March 5, 1984.", "my brother was born on march fifth nineteen eighty four"),
    ("Turn left at the next corner and drive slowly.", None),
    ("The children played in the garden until dark.", None),
]
MODEL = "/usr/share/pocketsphinx/model/en-us"


def words(s):
    return re.findall(r"[a-z']+", s.lower())


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[:], i
        for j in range(1, len(b) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
    return d[len(b)]


def wer(refs, hyps):
    return sum(edit_distance(r, h) for r, h in zip(refs, hyps)) / sum(len(r) for r in refs)


def main():
    herd, work, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(work, exist_ok=True)
    refs = []
    for text, spoken in SENTENCES:
        norm = subprocess.run([herd, "speak", "--normalize-only", text], check=True, capture_output=True,
                              text=True).stdout
        if spoken is not None and words(norm) != words(spoken):
            sys.exit(f"normaliser: {text!r} -> {norm.strip()!r}, expected {spoken!r}")
        refs.append(words(norm))
    vocab = sorted({w for r in refs for w in r})
    gram = os.path.join(work, "words.gram")
    with open(gram, "w") as f:
        f.write("#JSGF V1.0;\ngrammar words;\npublic <s> = ( %s )* ;\n" % " | ".join(vocab))
    hyps = []
    for i, (text, _) in enumerate(SENTENCES):
        wav = os.path.join(work, f"s{i}.wav")
        subprocess.run([herd, "speak", "--quiet", "-r", "16000", *extra, text, "-o", wav], check=True)
        out = subprocess.run(["pocketsphinx_continuous", "-infile", wav, "-hmm", os.path.join(MODEL, "en-us"),
                              "-dict", os.path.join(MODEL, "cmudict-en-us.dict"), "-jsgf", gram,
                              "-wip", "0.001", "-logfn", "/dev/null"], check=True, capture_output=True, text=True)
        hyps.append(words(out.stdout))
        print(f"  ref: {' '.join(refs[i])}\n  hyp: {' '.join(hyps[i])}")
    control = wer(refs, hyps[1:] + hyps[:1])
    print(f"WER {wer(refs, hyps):.3f} control {control:.3f} ({sum(len(r) for r in refs)} words)")


if __name__ == "__main__":
    main()
