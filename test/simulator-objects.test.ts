// The simulator keeps objects per account as Azure does: what one account
// made, another does not know.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Simulator } from '../src/simulator/index.ts';
import { send } from './helpers/http.ts';

const h = { 'api-key': 'any', 'content-type': 'application/json' };
let sim: Simulator;
before(async () => {
  sim = await Simulator.start({ accounts: { a: { deployments: { chat: { completionTokens: 2 } } }, b: { deployments: { chat: { completionTokens: 2 } } } } });
});
after(() => sim.close());

function upload(account: string, purpose: string, name: string, content: string) {
  const boundary = 'simtestboundary';
  const body =
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n${purpose}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n${content}\r\n--${boundary}--\r\n`;
  return send(sim.account(account).url, '/openai/files?api-version=2025-04-01-preview', { headers: { 'api-key': 'any', 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
}

describe('simulated objects', () => {
  test('a Responses chain must continue on the account that stored it', async () => {
    const first = await send(sim.account('a').url, '/openai/v1/responses', { headers: h, body: '{"model":"chat","input":"hi"}' });
    const id = first.json().id as string;
    assert.match(id, /^resp_/);
    const elsewhere = await send(sim.account('b').url, '/openai/v1/responses', { headers: h, body: JSON.stringify({ model: 'chat', input: 'more', previous_response_id: id }) });
    assert.equal(elsewhere.status, 400);
    assert.equal(elsewhere.json().error.message, `Previous response with id '${id}' not found.`);
    assert.equal(elsewhere.json().error.param, 'previous_response_id');
    const here = await send(sim.account('a').url, '/openai/v1/responses', { headers: h, body: JSON.stringify({ model: 'chat', input: 'more', previous_response_id: id }) });
    assert.equal(here.json().previous_response_id, id);
    assert.equal((await send(sim.account('b').url, `/openai/v1/responses/${id}`, { headers: h })).status, 404);
    const unstored = await send(sim.account('a').url, '/openai/v1/responses', { headers: h, body: '{"model":"chat","input":"hi","store":false}' });
    assert.equal((await send(sim.account('a').url, `/openai/v1/responses/${unstored.json().id}`, { headers: h })).status, 404, 'store: false keeps nothing');
  });

  test('a batch answers each line with the deployment its model names, unknown ones into the error file', async () => {
    const lines = [
      { custom_id: 'ok', method: 'POST', url: '/chat/completions', body: { model: 'chat', messages: [{ role: 'user', content: 'x' }] } },
      { custom_id: 'nope', method: 'POST', url: '/chat/completions', body: { model: 'missing', messages: [] } },
    ];
    const file = (await upload('a', 'batch', 'in.jsonl', lines.map((l) => JSON.stringify(l)).join('\n'))).json();
    assert.equal(file.object, 'file');
    assert.equal((await send(sim.account('b').url, `/openai/files/${file.id}`, { headers: h })).status, 404, 'the other account does not have it');
    const onB = await send(sim.account('b').url, '/openai/batches', { headers: h, body: JSON.stringify({ input_file_id: file.id, endpoint: '/chat/completions', completion_window: '24h' }) });
    assert.equal(onB.status, 404);
    const batch = (await send(sim.account('a').url, '/openai/batches', { headers: h, body: JSON.stringify({ input_file_id: file.id, endpoint: '/chat/completions', completion_window: '24h' }) })).json();
    assert.equal(batch.status, 'validating');
    await new Promise((r) => setTimeout(r, 60));
    const done = (await send(sim.account('a').url, `/openai/batches/${batch.id}`, { headers: h })).json();
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 2, completed: 1, failed: 1 });
    const out = await send(sim.account('a').url, `/openai/files/${done.output_file_id}/content`, { headers: h });
    assert.equal(JSON.parse(out.text.trim()).custom_id, 'ok');
    const errors = await send(sim.account('a').url, `/openai/files/${done.error_file_id}/content`, { headers: h });
    assert.equal(JSON.parse(errors.text.trim()).response.status_code, 404);
    assert.equal((await send(sim.account('a').url, `/openai/files/${file.id}`, { method: 'DELETE', headers: h })).json().deleted, true);
    assert.equal((await send(sim.account('a').url, `/openai/files/${file.id}`, { headers: h })).status, 404);
  });
});
