// Reading and rewriting `model` in JSON and multipart bodies without touching
// the bytes around it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTrue, JsonShapeError, scanJsonFields, setField, stringField } from '../src/proxy/json-fields.ts';
import { findFormField, multipartBoundary, setFormField } from '../src/proxy/multipart-fields.ts';

const b = (s: string) => Buffer.from(s);

describe('JSON top-level fields', () => {
  test('finds top-level fields only, past nested objects, arrays and escaped quotes', () => {
    const body = b('{"messages":[{"role":"user","content":"say \\"model\\": {x}"}],"nested":{"model":"inner"},"model":"gpt-4o","stream":true,"n":2}');
    const scan = scanJsonFields(body);
    assert.deepEqual([...scan.fields.keys()], ['messages', 'nested', 'model', 'stream', 'n']);
    assert.equal(stringField(body, scan, 'model'), 'gpt-4o');
    assert.equal(isTrue(body, scan, 'stream'), true);
    assert.equal(isTrue(body, scan, 'n'), false);
  });

  test('decodes escaped strings', () => {
    const body = b('{"model":"gpt\\u002d4o"}');
    assert.equal(stringField(body, scanJsonFields(body), 'model'), 'gpt-4o');
  });

  test('replaces one field and keeps every other byte', () => {
    const body = b('{ "a" : 1 ,\n "model" :  "x" , "z": [ "model" ] }');
    const out = setField(body, scanJsonFields(body), 'model', '"gpt4o-ptu"');
    assert.equal(out.toString(), '{ "a" : 1 ,\n "model" :  "gpt4o-ptu" , "z": [ "model" ] }');
  });

  test('adds a field that is missing, also to an empty object', () => {
    const body = b('{"a":1}');
    assert.equal(setField(body, scanJsonFields(body), 'model', '"m"').toString(), '{"model":"m","a":1}');
    const empty = b(' { } ');
    assert.equal(setField(empty, scanJsonFields(empty), 'model', '"m"').toString(), ' {"model":"m" } ');
  });

  test('refuses what is not one JSON object', () => {
    for (const bad of ['', '[]', '"x"', '{"a":1', '{"a" 1}', '{"a":1} {}', '{"a":"unterminated}', '{a:1}']) {
      assert.throws(() => scanJsonFields(b(bad)), JsonShapeError, bad);
    }
  });

  test('deep nesting costs no recursion', () => {
    const deep = `{"model":"m","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    assert.equal(stringField(b(deep), scanJsonFields(b(deep)), 'model'), 'm');
  });
});

describe('multipart fields', () => {
  const boundary = '----form123';
  const form = b(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\nname="model"\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n` +
      `--${boundary}--\r\n`,
  );

  test('reads the boundary, quoted or not', () => {
    assert.equal(multipartBoundary(`multipart/form-data; boundary=${boundary}`), boundary);
    assert.equal(multipartBoundary(`multipart/form-data; boundary="${boundary}"`), boundary);
    assert.equal(multipartBoundary('application/json'), undefined);
  });

  test('finds the field, not a file part that mentions it', () => {
    const span = findFormField(form, boundary, 'model')!;
    assert.equal(form.toString('utf8', span.start, span.end), 'whisper');
  });

  test('rewrites it, or adds it first', () => {
    const out = setFormField(form, boundary, 'model', 'whisper-1');
    assert.equal(out.toString(), form.toString().replace('\r\n\r\nwhisper\r\n', '\r\n\r\nwhisper-1\r\n'));
    const noModel = b(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nx\r\n--${boundary}--\r\n`);
    const added = setFormField(noModel, boundary, 'model', 'm');
    const span = findFormField(added, boundary, 'model')!;
    assert.equal(added.toString('utf8', span.start, span.end), 'm');
    assert.ok(added.toString().endsWith(noModel.toString()));
  });
});
