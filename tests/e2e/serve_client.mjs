// tests/e2e/serve_client.mjs — drives `herd serve` with the official `openai`
// npm client (a client herd's authors did not write).
//   node serve_client.mjs BASE_URL API_KEY MODEL check   the API checks below
//   node serve_client.mjs BASE_URL API_KEY MODEL load N C   N requests from C concurrent clients
//   node serve_client.mjs BASE_URL API_KEY MODEL image FILE QUESTION N   prints the greedy answer
//                                               about the picture (sent as a base64 data: URL)
//   node serve_client.mjs BASE_URL API_KEY MODEL transcribe FILE FORMAT   prints the transcription
//   node serve_client.mjs BASE_URL API_KEY MODEL translate FILE           prints the translation (json)
//   node serve_client.mjs BASE_URL API_KEY MODEL speech TEXT OUT.wav      writes the synthesised speech
import OpenAI from 'openai';
import { readFileSync, createReadStream } from 'node:fs';

const [, , baseURL, apiKey, model, mode, ...rest] = process.argv;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
let failures = 0;
function check(cond, what) {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`);
  if (!cond) failures++;
}

async function checks() {
  const models = await client.models.list();
  check(models.data.some((m) => m.id === model), `models.list has '${model}'`);
  const one = await client.models.retrieve(model);
  check(one.id === model && one.object === 'model', 'models.retrieve');

  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Name three colours.' },
  ];
  const r = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
  const c = r.choices[0];
  check(r.object === 'chat.completion' && c.message.role === 'assistant', 'chat.completions.create answers');
  check(['stop', 'length'].includes(c.finish_reason), `finish_reason '${c.finish_reason}'`);
  check(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12, `usage ${JSON.stringify(r.usage)}`);

  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    const ch = chunk.choices[0];
    if (!ch) continue;
    text += ch.delta?.content ?? '';
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  check(chunks >= 3, `stream delivered ${chunks} chunks`);
  check(text === c.message.content, 'greedy stream text equals the non-streamed answer');
  check(finish === c.finish_reason, `stream finish_reason '${finish}'`);
  check(usage && usage.completion_tokens === r.usage.completion_tokens, 'stream include_usage chunk');

  const seeded = async () =>
    (await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 1.0, seed: 7 })).choices[0]
      .message.content;
  check((await seeded()) === (await seeded()), 'same seed, same sampled answer');

  try {
    await client.chat.completions.create({ model: 'no-such-model', messages, max_tokens: 2 });
    check(false, 'unknown model is refused');
  } catch (e) {
    check(e.status === 404 && e.code === 'model_not_found', `unknown model -> ${e.status} ${e.code}`);
  }
  try {
    await client.chat.completions.create({ model, messages: [], max_tokens: 2 });
    check(false, 'empty messages are refused');
  } catch (e) {
    check(e.status === 400 && e.param === 'messages', `empty messages -> ${e.status} param ${e.param}`);
  }
  const bad = new OpenAI({ baseURL, apiKey: apiKey + 'x', maxRetries: 0 });
  try {
    await bad.models.list();
    check(false, 'a wrong API key is refused');
  } catch (e) {
    check(e.status === 401, `wrong API key -> ${e.status}`);
  }
}

async function load(n, conc) {
  let next = 0;
  const counts = {};
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      let status;
      try {
        const r = await client.chat.completions.create({
          model, messages: [{ role: 'user', content: `request ${i}` }], max_tokens: 2, temperature: 0,
          stream: i % 2 === 1,
        });
        if (i % 2 === 1) for await (const _ of r) { /* drain */ }
        status = 200;
      } catch (e) {
        status = e.status ?? String(e.message);
      }
      counts[status] = (counts[status] ?? 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: conc }, worker));
  console.log(`load: ${n} requests, ${conc} concurrent clients: ${JSON.stringify(counts)}`);
  const other = Object.keys(counts).filter((k) => k !== '200' && k !== '503');
  check(other.length === 0, 'only 200 and documented 503 responses');
  check((counts[200] ?? 0) > 0, 'some requests served');
}

async function image(file, question, n) {
  const url = `data:image/jpeg;base64,${readFileSync(file).toString('base64')}`;
  const r = await client.chat.completions.create({
    model, max_tokens: Number(n), temperature: 0,
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: question }] }],
  });
  process.stdout.write(r.choices[0].message.content);
}

async function transcribe(file, format) {
  const r = await client.audio.transcriptions.create({ file: createReadStream(file), model, response_format: format });
  process.stdout.write(typeof r === 'string' ? r : JSON.stringify(r));
}

async function translate(file) {
  const r = await client.audio.translations.create({ file: createReadStream(file), model });
  process.stdout.write(JSON.stringify(r));
}

async function speech(text, out) {
  const r = await client.audio.speech.create({ model, input: text, voice: 'alloy', response_format: 'wav' });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(out, Buffer.from(await r.arrayBuffer()));
}

if (mode === 'check') await checks();
else if (mode === 'transcribe') await transcribe(rest[0], rest[1]);
else if (mode === 'translate') await translate(rest[0]);
else if (mode === 'speech') await speech(rest[0], rest[1]);
else if (mode === 'image') await image(rest[0], rest[1], rest[2]);
else if (mode === 'load') await load(Number(rest[0]), Number(rest[1]));
else throw new Error('mode: check | load N C');
process.exit(failures ? 1 : 0);
