// Headless-Chromium tests of Tandem as a browser meets it, on a network with no outside host
// (every name but 127.0.0.1 fails to resolve):
//  (a) GraphiQL from `tandem serve` in local mode (fresh SQLite data directory): the IDE
//      renders with the demo token in its header editor, the docs pane lists the schema's
//      types, a query runs, a subscription delivers an event over the WebSocket, the page
//      breaks no Content-Security-Policy rule, and no request goes to any other host;
//  (b) a page on another origin POSTs to /graphql with a token: it succeeds from the origin
//      listed in TANDEM_CORS_ORIGINS and fails (CORS) from one that is not.
// Needs TANDEM_BIN (the `tandem` binary); Chromium at CHROMIUM_PATH or /usr/bin/chromium.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT = 30_000;
const tandemBin = process.env.TANDEM_BIN;
if (!tandemBin) {
  console.error('set TANDEM_BIN to the tandem binary');
  process.exit(2);
}

const cleanups = [];
const failures = [];
const server = { log: '', exit: null };
function check(ok, message) {
  if (ok) {
    console.log(`ok   ${message}`);
  } else {
    console.log(`FAIL ${message}`);
    failures.push(message);
  }
}

/** A static page server on its own port: another origin than the API. */
async function staticServer() {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><title>Front-end app</title><p>app</p>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${server.address().port}`;
}

/** Starts `tandem serve` in local mode; resolves with its URL and the demo admin token. */
async function startTandem(corsOrigins) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-browser-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'TANDEM_JWT_SECRET', 'TANDEM_JWT_PUBLIC_KEY_FILE', 'TANDEM_OTLP_ENDPOINT']) {
    delete env[name];
  }
  Object.assign(env, {
    TANDEM_DATA_DIR: dataDir,
    TANDEM_CORS_ORIGINS: corsOrigins,
    TANDEM_LOG: 'info',
    TANDEM_LOG_FORMAT: 'text',
  });
  const child = spawn(tandemBin, ['serve', '--bind', '127.0.0.1:0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  }));
  let out = '';
  let log = '';
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tandem did not start:\n${log}`)), TIMEOUT);
    const look = () => {
      const addr = /tandem listening addr=([0-9.:]+)/.exec(log);
      const token = /^(eyJ[\w-]+\.[\w-]+\.[\w-]+)$/m.exec(out);
      if (addr && token) {
        clearTimeout(timer);
        resolve({ url: `http://${addr[1]}`, token: token[1] });
      }
    };
    child.stdout.on('data', (chunk) => { out += chunk; look(); });
    child.stderr.on('data', (chunk) => { log += chunk; server.log += chunk; look(); });
    child.once('exit', (code, signal) => {
      server.exit = code ?? signal;
      reject(new Error(`tandem exited with ${code ?? signal}:\n${log}`));
    });
  });
}

async function graphql(api, token, query, variables = {}) {
  const res = await fetch(`${api}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** The text of every CodeMirror editor on the page (GraphiQL 3 uses CodeMirror 5). */
async function editors(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.CodeMirror')].map((el) => el.CodeMirror.getValue()));
}

async function setQuery(page, query) {
  await page.evaluate((text) => {
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(text);
  }, query);
}

async function responseText(page) {
  return page.evaluate(() => {
    const el = document.querySelector('.graphiql-response .CodeMirror');
    return el ? el.CodeMirror.getValue() : '';
  });
}

async function waitForResponse(page, needle, timeout = TIMEOUT) {
  await page.waitForFunction((text) => {
    const el = document.querySelector('.graphiql-response .CodeMirror');
    return el && el.CodeMirror.getValue().includes(text);
  }, needle, { timeout });
}

async function main() {
  const allowed = await staticServer();
  const refused = await staticServer();
  const { url: api, token } = await startTandem(allowed);
  console.log(`tandem at ${api}; allowed origin ${allowed}; refused origin ${refused}`);

  const userDataDir = mkdtempSync(path.join(tmpdir(), 'tandem-chromium-'));
  cleanups.push(() => rmSync(userDataDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // No outside host: every name but the loopback address fails to resolve.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
  cleanups.push(() => context.close());

  // (a) GraphiQL.
  const page = await context.newPage();
  const requests = [];
  const sockets = [];
  const problems = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('websocket', (socket) => sockets.push(socket.url()));
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) {
      problems.push(`console ${message.type()}: ${message.text()}`);
    }
  });
  await page.goto(`${api}/graphql`);
  await page.waitForSelector('.graphiql-container', { timeout: TIMEOUT });
  check(true, 'the GraphiQL IDE renders');
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: TIMEOUT });

  const texts = await editors(page);
  check(
    texts.some((t) => t.includes(`"Authorization": "Bearer ${token}"`)),
    'the header editor holds the demo admin token',
  );

  await page.click('[aria-label="Show Documentation Explorer"]');
  const docs = page.locator('.graphiql-doc-explorer');
  const listed = await docs.getByText('All Schema Types').waitFor({ timeout: TIMEOUT })
    .then(() => true, () => false);
  const docsText = await docs.innerText().catch(() => '');
  const types = ['Query', 'Mutation', 'Subscription', 'Metric', 'Observation', 'Goal', 'Organization'];
  const missing = types.filter((t) => !new RegExp(`\\b${t}\\b`).test(docsText));
  check(
    listed && missing.length === 0,
    `the docs pane lists the schema's types (${listed ? `missing: ${missing.join(', ') || 'none'}` : `it shows: ${docsText.slice(0, 200)}`})`,
  );

  await setQuery(page, '{ viewer { subject roles } organization { name } }');
  await page.click('.graphiql-execute-button');
  await waitForResponse(page, '"subject": "demo-admin"');
  const answer = await responseText(page);
  check(answer.includes('"name": "Demo"') && !answer.includes('"errors"'), 'a query runs and returns data');

  // A subscription over graphql-transport-ws, with the header editor's token.
  await graphql(api, token, `mutation($input: DefineMetricInput!) { defineMetric(input: $input) { metric { id } } }`, {
    input: {
      key: 'arr', name: 'ARR', definition: 'Annual recurring revenue', unit: 'COUNT',
      direction: 'HIGHER_IS_BETTER', perspective: 'FINANCIAL', kind: 'OUTPUT', aggregation: 'SUM',
    },
  });
  await setQuery(page, 'subscription { observationRecorded { observations { value metric { key } } } }');
  // GraphiQL parses the editor's text shortly after it changes and sends the operation over
  // HTTP until then (the server answers that subscriptions need the WebSocket); run it again
  // until it opens the socket.
  let opened = false;
  for (let attempt = 0; attempt < 10 && !opened; attempt++) {
    const socket = page.waitForEvent('websocket', { timeout: 3_000 });
    await page.click('.graphiql-execute-button');
    opened = await socket.then(() => true, () => false);
  }
  let delivered = false;
  for (let month = 1; month <= 5 && !delivered; month++) {
    const periodStart = `2026-${String(month).padStart(2, '0')}-01`;
    await graphql(api, token, 'mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }', {
      o: [{ metricKey: 'arr', periodStart, granularity: 'MONTH', value: '4242' }],
    });
    delivered = await waitForResponse(page, '"value": "4242"', 5_000).then(() => true, () => false);
  }
  check(delivered, `a subscription delivers an event in GraphiQL${delivered ? '' : `: ${await responseText(page)}`}`);
  check(
    sockets.length > 0 && sockets.every((u) => u === `${api.replace('http:', 'ws:')}/graphql`),
    `subscriptions use the WebSocket on /graphql (${sockets.join(', ') || 'none'})`,
  );

  const outside = requests.filter((u) => !u.startsWith(`${api}/`) && !u.startsWith('data:'));
  check(
    requests.length > 0 && outside.length === 0,
    `no request went to another host (${requests.length} requests; elsewhere: ${outside.join(', ') || 'none'})`,
  );
  check(problems.length === 0, `no page error or policy violation (${problems.join(' | ') || 'none'})`);
  await page.close();

  // (b) CORS from a page on another origin.
  const crossOrigin = async (origin) => {
    const app = await context.newPage();
    await app.goto(`${origin}/`);
    const result = await app.evaluate(async ({ api, token }) => {
      try {
        const res = await fetch(`${api}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: '{ viewer { subject } }' }),
        });
        return { status: res.status, body: await res.json() };
      } catch (error) {
        return { error: String(error) };
      }
    }, { api, token });
    await app.close();
    return result;
  };
  const granted = await crossOrigin(allowed);
  check(
    granted.status === 200 && granted.body?.data?.viewer?.subject === 'demo-admin',
    `a page on a listed origin calls /graphql with a token (${JSON.stringify(granted)})`,
  );
  const denied = await crossOrigin(refused);
  check(
    denied.error !== undefined && /Failed to fetch/i.test(denied.error),
    `a page on an unlisted origin is refused by CORS (${JSON.stringify(denied)})`,
  );
}

let code = 0;
try {
  await main();
  if (failures.length > 0) {
    console.error(`${failures.length} browser check(s) failed`);
    code = 1;
  } else {
    console.log('browser checks passed');
  }
} catch (error) {
  console.error(error);
  code = 1;
} finally {
  if (code !== 0) {
    const state = server.exit === null ? 'was running' : `had exited (${server.exit})`;
    console.error(`tandem ${state}; the end of its log:`);
    console.error(server.log.split('\n').slice(-30).join('\n'));
  }
  for (const cleanup of cleanups.reverse()) {
    await cleanup();
  }
}
process.exit(code);
