// tests/parity/tokenizer_hf.mjs — the reference side of test_tokenizer_hf.sh:
// Hugging Face's own JavaScript tokenizers (@huggingface/transformers,
// AutoTokenizer reading tokenizer.json + tokenizer_config.json from a local
// folder, no network) encode each text file given.
//
//   node tokenizer_hf.mjs MODEL_DIR OUT.txt CASE.txt...
//
// OUT.txt gets one line per case: the ids without special tokens added
// (add_special_tokens: false), ';', and "ok" or "bad" for decode(ids) ==
// text (skip_special_tokens false, no clean-up of spaces).  OUT.txt.dec gets
// the decoded texts, concatenated (UTF-8).
//
// One deliberate change: transformers.js' Digits pre-tokenizer matches ASCII
// \d, while Hugging Face tokenizers (Rust) splits on char::is_numeric, i.e.
// every \p{N} ("½", "²", "Ⅷ", "٣").  The Rust library is the one the models
// were trained with, so the reference's Digits pattern is set to \p{N}.
import fs from 'node:fs';
import path from 'node:path';
import { env, AutoTokenizer } from '@huggingface/transformers';

const [dir, out, ...cases] = process.argv.slice(2);
if (!dir || !out) {
  console.error('usage: node tokenizer_hf.mjs MODEL_DIR OUT.txt CASE.txt...');
  process.exit(2);
}
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = path.dirname(path.resolve(dir)) + '/';
const tok = await AutoTokenizer.from_pretrained(path.basename(path.resolve(dir)));
function fixDigits(pt) {
  if (!pt) return;
  if (Array.isArray(pt.tokenizers)) pt.tokenizers.forEach(fixDigits);
  if (pt.constructor && pt.constructor.name === 'DigitsPreTokenizer')
    pt.pattern = new RegExp(`[^\\p{N}]+|\\p{N}${pt.config.individual_digits ? '' : '+'}`, 'gu');
}
fixDigits(tok.pre_tokenizer);
const lines = [];
const decoded = [];
for (const f of cases) {
  const text = fs.readFileSync(f, 'utf8');
  const plain = tok.encode(text, { add_special_tokens: false });
  const back = plain.length ? tok.decode(plain, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : '';
  lines.push(plain.join(' ') + ';' + (back === text ? 'ok' : 'bad'));
  decoded.push(back);
}
fs.writeFileSync(out, lines.join('\n') + '\n');
fs.writeFileSync(out + '.dec', decoded.join(''));
