// Config files: YAML or JSON, ${VAR} references, every mistake at once by
// path with a hint, and `aoai-gateway check` / `serve` on top of it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { parseConfigText, type Issue } from '../src/config/load.ts';

const ENV = {
  ADMIN_KEY: 'admin-key-0123456789',
  EASTUS_KEY: 'east-key-0001',
  TEAM_A_KEY: 'team-a-key-0123456789',
};

function issues(text: string, env: NodeJS.ProcessEnv = ENV): Issue[] {
  const r = parseConfigText(text, env);
  assert.equal(r.ok, false, 'expected problems');
  return r.ok ? [] : r.issues;
}

const MINIMAL = `
endpoints:
  eastus: { url: https://contoso-eastus.openai.azure.com, auth: { type: api-key, key: k } }
deployments:
  gpt-4o: { targets: [ { endpoint: eastus } ] }
`;

describe('valid configs', () => {
  test('the example of DESIGN.md §2, as written, with its defaults', () => {
    const r = parseConfigText(readFileSync('test/fixtures/design-example.yaml', 'utf8'), ENV);
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
    const c = r.config;
    assert.equal(c.admin.key, ENV.ADMIN_KEY);
    assert.deepEqual(c.endpoints.eastus.auth, { type: 'api-key', key: ENV.EASTUS_KEY });
    assert.equal(c.endpoints['local-vllm'].kind, 'openai');
    assert.equal(c.deployments['gpt-4o'].targets[1].weight, 2);
    assert.equal(c.deployments['gpt-4o'].targets[0].tpm, 300000);
    assert.deepEqual(c.consumers['team-a'].keys, [ENV.TEAM_A_KEY]);
    assert.equal(c.resilience.timeouts.firstByteMs, 120000);
    assert.equal(c.listen.maxBodyBytes, 33554432);
  });

  test('defaults fill what a minimal config leaves out', () => {
    const r = parseConfigText(MINIMAL, {});
    assert.ok(r.ok);
    assert.equal(r.config.listen.port, 8080);
    assert.equal(r.config.deployments['gpt-4o'].strategy, 'priority');
    assert.equal(r.config.deployments['gpt-4o'].targets[0].priority, 1);
    assert.deepEqual(r.config.resilience.retryOn, [429, 500, 502, 503, 504, 'connect-error', 'timeout']);
    assert.deepEqual(r.config.state, { store: 'memory' });
  });

  test('JSON is accepted too', () => {
    const r = parseConfigText(
      JSON.stringify({
        endpoints: { e: { url: 'https://x.openai.azure.com', auth: { type: 'api-key', key: '${K:-from-default}' } } },
        deployments: { d: { targets: [{ endpoint: 'e' }] } },
      }),
      {},
    );
    assert.ok(r.ok);
    assert.deepEqual(r.config.endpoints.e.auth, { type: 'api-key', key: 'from-default' });
  });

  test('${VAR:-default}, ${env:VAR}, ${file:…}, numbers from variables, and $${ for a literal', () => {
    const dir = mkdtempSync(`${tmpdir()}/aoaigw-cfg-`);
    writeFileSync(`${dir}/secret`, 'key-from-file\n');
    const r = parseConfigText(
      `listen: { port: \${PORT:-9090}, maxBodyBytes: \${MAX} }
endpoints:
  a: { url: "https://\${HOST}.openai.azure.com", auth: { type: api-key, key: "\${file:${dir}/secret}" } }
  b: { url: https://b.openai.azure.com, auth: { type: api-key, key: "\${env:B_KEY}" } }
  c: { url: https://c.openai.azure.com, auth: { type: api-key, key: "cost$\${NOT_A_REF}" } }
deployments:
  d: { targets: [ { endpoint: a }, { endpoint: b }, { endpoint: c } ] }
`,
      { HOST: 'contoso', MAX: '1048576', B_KEY: 'bkey' },
    );
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
    assert.equal(r.config.listen.port, 9090);
    assert.equal(r.config.listen.maxBodyBytes, 1048576);
    assert.equal(r.config.endpoints.a.url, 'https://contoso.openai.azure.com');
    assert.deepEqual(r.config.endpoints.a.auth, { type: 'api-key', key: 'key-from-file' });
    assert.deepEqual(r.config.endpoints.b.auth, { type: 'api-key', key: 'bkey' });
    assert.deepEqual(r.config.endpoints.c.auth, { type: 'api-key', key: 'cost${NOT_A_REF}' });
  });
});

describe('every mistake at once, by path, with a hint', () => {
  test('a config with many mistakes lists them all', () => {
    const found = issues(`
listen: { port: eighty }
admin: { key: short }
endpoints:
  eastus: { url: https://contoso-eastus.openai.azure.com, auth: { type: api-key, key: \${EASTUS_KEY} } }
  bad-url: { url: "not a url", auth: { type: apikey } }
deployments:
  gpt-4o:
    strategy: fastest
    targets:
      - { endpoint: eastus, deployment: gpt4o-ptu, tmp: 300 }
      - { endpoint: eastu, deployment: gpt-4o-payg }
consumers:
  team-a: { keys: [ \${TEAM_A_KEY} ], deployments: [ gpt4o ] }
  team-b: { keys: [ \${TEAM_A_KEY}, tiny ], deployments: [ "*" ] }
resilence: { maxAttempts: 3 }
`);
    const byPath = new Map(found.map((i) => [i.path, i.message]));
    const expect: [string, RegExp][] = [
      ['listen.port', /number/],
      ['admin.key', /at least 16/],
      ['endpoints.bad-url.url', /not a URL/],
      ['endpoints.bad-url.auth.type', /api-key, entra, bearer, none/],
      ['deployments.gpt-4o.strategy', /priority, round-robin/],
      ['deployments.gpt-4o.targets[0].tmp', /unknown field \(did you mean "tpm"\?\)/],
      ['deployments.gpt-4o.targets[1].endpoint', /no endpoint named "eastu" \(did you mean "eastus"\?\)/],
      ['consumers.team-a.deployments[0]', /no deployment named "gpt4o" \(did you mean "gpt-4o"\?\)/],
      ['consumers.team-b.keys[0]', /also given to consumer "team-a"/],
      ['consumers.team-b.keys[1]', /at least 16 characters/],
      ['resilence', /unknown field \(did you mean "resilience"\?\)/],
    ];
    for (const [path, message] of expect) {
      assert.ok(byPath.has(path), `missing ${path}; got:\n${found.map((i) => `${i.path}: ${i.message}`).join('\n')}`);
      assert.match(byPath.get(path)!, message, path);
    }
  });

  test('an unset variable is named, with how to give a default', () => {
    const [i] = issues(MINIMAL.replace('key: k', 'key: ${EASTUS_KEY}'), {});
    assert.equal(i.path, 'endpoints.eastus.auth.key');
    assert.match(i.message, /EASTUS_KEY is not set \(write \$\{EASTUS_KEY:-value\}/);
  });

  test('YAML syntax errors give the line', () => {
    const [i] = issues('endpoints:\n  a: [unclosed\n');
    assert.match(i.path, /^line \d+, column \d+$/);
  });

  test('required sections and URL rules', () => {
    const found = issues('endpoints:\n  e: { url: "https://user:pw@x.openai.azure.com/?q=1" }\n');
    const text = found.map((i) => `${i.path}: ${i.message}`).join('\n');
    assert.match(text, /deployments: required/);
    assert.match(text, /credentials in auth, not in the URL/);
    assert.match(text, /query string/);
  });
});

describe('the CLI', () => {
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, ['bin/aoai-gateway.js', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });

  test('check prints the routing plan without a secret', () => {
    const r = cli(['check', '--config', 'test/fixtures/design-example.yaml'], ENV);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /gpt-4o\s+\(strategy: priority\)/);
    assert.match(r.stdout, /priority 1 \(first\)\n\s+→ eastus\/gpt4o-ptu\s+weight 1 \(100%\)\s+tpm 300000 rpm 1800/);
    assert.match(r.stdout, /priority 2 \(when every target above is unavailable\)\n\s+→ sweden\/gpt-4o\s+weight 2 \(67%\)\n\s+→ eastus\/gpt-4o-payg\s+weight 1 \(33%\)/);
    for (const secret of Object.values(ENV)) assert.ok(!r.stdout.includes(secret));
  });

  test('check and serve refuse a bad config with every problem, before listening', () => {
    const dir = mkdtempSync(`${tmpdir()}/aoaigw-cli-`);
    writeFileSync(`${dir}/bad.yaml`, `${MINIMAL}\nconsumers:\n  a: { keys: [short], deployments: [gtp-4o] }\n`);
    for (const cmd of ['check', 'serve']) {
      const r = cli([cmd, '--config', `${dir}/bad.yaml`]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /consumers\.a\.keys\[0\]: a key needs at least 16 characters/);
      assert.match(r.stderr, /consumers\.a\.deployments\[0\]: no deployment named "gtp-4o" \(did you mean "gpt-4o"\?\)/);
    }
  });

  test('npx aoai-gateway works in the checkout', () => {
    const r = spawnSync('npx', ['--no-install', 'aoai-gateway', 'check', '--config', 'test/fixtures/design-example.yaml'], {
      encoding: 'utf8',
      env: { ...process.env, ...ENV },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /design-example\.yaml: OK/);
  });

  test('an unknown command or option says so', () => {
    assert.equal(cli(['frobnicate']).status, 2);
    const r = cli(['check', '--nope']);
    assert.equal(r.status, 2, 'a usage error');
    assert.match(r.stderr, /Unknown option '--nope'/);
  });
});
