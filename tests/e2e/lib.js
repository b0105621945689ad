// Helpers of the browser tests: a dev server on a free port with its own
// SQLite directory, and headless Chromium (Debian's) driven by playwright-core.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.resolve(process.env.OP_BIN || path.join(ROOT, 'build-test/orderpulse'));
export const OUTPUT = process.env.OP_TEST_OUTPUT || path.join(ROOT, 'test-output');
export const CHROMIUM = process.env.OP_CHROMIUM || '/usr/bin/chromium';
export const SECRET = 'e2e-secret-0123456789abcdef-e2e';
// A loaded 2-core machine running a sanitizer build: generous, always bounded.
export const STEP_MS = Number(process.env.OP_E2E_STEP_MS || 45000);

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(name) {
  return mkdtempSync(path.join(os.tmpdir(), `orderpulse-e2e-${name}-`));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

async function until(what, fn, timeoutMs, everyMs = 200) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
export { until };

// Starts `orderpulse <command>` (dev by default) on port with its data in
// dataDir; resolves once /health answers. kafkaBrokers: a broker process's
// bootstrap list (startBroker); without it the command runs its embedded
// in-memory broker. The returned server's stop() resolves with the exit code.
export async function startDev({ port, dataDir, args = [], extraEnv = {}, kafkaBrokers = null, command = 'dev' }) {
  mkdirSync(path.join(dataDir, 'data'), { recursive: true });
  const env = {
    ...process.env,
    PORT: String(port),
    HTTP_HOST: '127.0.0.1',
    HTTP_THREADS: '2',
    JWT_SECRET: SECRET,
    DATABASE_URL: `sqlite://${dataDir}/data/orderpulse.db`,
    WEB_DIR: path.join(ROOT, 'web'),
    LOG_LEVEL: 'warn',
  };
  delete env.KAFKA_BROKERS; // never the caller's environment's cluster
  if (kafkaBrokers) env.KAFKA_BROKERS = kafkaBrokers;
  Object.assign(env, extraEnv);
  const proc = spawn(BIN, [command, ...args], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = watch(proc, command);
  const url = `http://127.0.0.1:${port}`;
  try {
    await until(`orderpulse ${command}`, async () => proc.exitCode === null && (await fetch(`${url}/health`)).ok, 90000, 250);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`${e.message}\n--- ${command} log ---\n${server.log()}`);
  }
  return { url, ...server };
}

// Keeps the tail of a child's output; stop() sends SIGTERM and resolves
// with the exit code (SIGKILL after 60 s: 'timeout').
function watch(proc, name) {
  let log = '';
  const keep = (d) => {
    log = (log + d.toString()).slice(-20000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve(code ?? `signal ${sig}`)));
  return {
    proc,
    name,
    log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      let timer;
      const timeout = new Promise((r) => {
        timer = setTimeout(() => r('timeout'), 60000);
      });
      const code = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (code === 'timeout') proc.kill('SIGKILL');
      return code;
    },
  };
}

// `orderpulse broker` as its own process: the Kafka cluster outlives the
// services started against it (its data is in its memory). Resolves once its
// bootstrap file is written; .bootstrap is the list for KAFKA_BROKERS.
export async function startBroker(dir, { partitionsScale = 4 } = {}) {
  const file = path.join(dir, 'bootstrap.txt');
  const proc = spawn(BIN, ['broker', '--partitions-scale', String(partitionsScale), '--bootstrap-file', file], {
    cwd: dir,
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const broker = watch(proc, 'broker');
  try {
    await until('the broker', () => proc.exitCode === null && existsSync(file), 30000, 100);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`${e.message}\n--- broker log ---\n${broker.log()}`);
  }
  return { ...broker, bootstrap: readFileSync(file, 'utf8').trim() };
}

// An HS256 JWT signed with secret (as the shop's identity provider would
// issue), for the token sign-in; alg other than HS256 only labels the header.
export function signToken(claims, { secret = SECRET, alg = 'HS256' } = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

// The op_token cookie of a demo user, for API calls made by the test itself.
export async function cookieOf(url, userId) {
  const res = await fetch(`${url}/api/dev/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user_id: userId }),
  });
  if (!res.ok) throw new Error(`sign-in of ${userId}: ${res.status}`);
  return res.headers.get('set-cookie').split(';')[0];
}

export async function apiGet(url, cookie, p) {
  const res = await fetch(`${url}${p}`, { headers: { Cookie: cookie }, signal: AbortSignal.timeout(15000) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

let seq = 0;
export async function placeOrder(url, cookie, reference) {
  const res = await fetch(`${url}/api/orders`, {
    method: 'POST',
    headers: { Cookie: cookie, 'Content-Type': 'application/json', 'Idempotency-Key': `e2e-${process.pid}-${++seq}-${reference}` },
    body: JSON.stringify({ currency: 'EUR', reference, line_items: [{ sku: 'sku_mug', qty: 1, unit_price: '12.50' }] }),
    signal: AbortSignal.timeout(15000),
  });
  if (res.status !== 201) throw new Error(`order ${reference}: ${res.status}`);
  return res.json();
}

// Headless Chromium with a fresh profile (Playwright gives each launch a new
// temporary user-data-dir); contexts are isolated from each other.
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}

export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { context, page, errors };
}

export async function signIn(page, url, userId) {
  await page.goto(url);
  await page.locator(`#users button[data-user-id="${userId}"]`).click();
  await page.locator('#dashboard').waitFor({ state: 'visible' });
  await page.locator('#conn[data-state="live"]').waitFor();
}

// The rendered rows: [{id, status, ref}].
export function renderedRows(page) {
  return page.$$eval('#order-rows tr', (rows) =>
    rows.map((r) => ({ id: r.dataset.orderId, status: r.dataset.status, ref: r.querySelector('.ref').textContent })),
  );
}

export function screenshotPath(name) {
  mkdirSync(OUTPUT, { recursive: true });
  return path.join(OUTPUT, name);
}

// Records every state the connection indicator shows, in window.__connStates.
export async function recordConnStates(page) {
  await page.evaluate(() => {
    const conn = document.getElementById('conn');
    window.__connStates = [conn.dataset.state];
    new MutationObserver(() => window.__connStates.push(conn.dataset.state)).observe(conn, {
      attributes: true,
      attributeFilter: ['data-state'],
    });
  });
}

// Waits until the page's rows equal the snapshot API's orders (ids and
// statuses); returns the rows.
export async function waitMatchesSnapshot(page, url, cookie, timeoutMs) {
  let last = '';
  await until(
    'the page to match the snapshot',
    async () => {
      const rows = await renderedRows(page);
      const snap = (await apiGet(url, cookie, '/api/orders/snapshot')).body.orders;
      const want = snap.map((o) => `${o.order_id}:${o.status}`).sort();
      const got = rows.map((r) => `${r.id}:${r.status}`).sort();
      last = `page ${got.length} rows, snapshot ${want.length}`;
      return JSON.stringify(want) === JSON.stringify(got);
    },
    timeoutMs,
    500,
  ).catch((e) => {
    throw new Error(`${e.message}: ${last}`);
  });
  return renderedRows(page);
}
