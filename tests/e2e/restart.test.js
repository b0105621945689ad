// The page survives a restart of `orderpulse dev` (same port, same data) in
// the middle of a stream of orders. The Kafka broker runs as its own process
// (`orderpulse broker`) and lives across the restart, as a real cluster
// would: its messages and committed offsets survive, so nothing may be lost.
// The page reconnects, resumes from its Last-Event-ID and ends with every
// order placed exactly once, with the status the order API has. No tolerance.
// On failure the data directory (data/orderpulse-<service>.db) is kept and
// its path printed; OP_E2E_LOG_LEVEL=debug makes the services' logs verbose.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  apiGet, cookieOf, freePort, launchBrowser, newPage, placeOrder, removeDir, renderedRows,
  screenshotPath, signIn, startBroker, startDev, STEP_MS, tempDir, until,
} from './lib.js';

// Every order of the tenant from the order API: [{order_id, reference, status}].
async function listOrders(url, cookie) {
  const all = [];
  let cursor = null;
  for (let pages = 0; pages < 50; pages++) {
    const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const { status, body } = await apiGet(url, cookie, `/api/orders?limit=200${q}`);
    if (status !== 200) throw new Error(`GET /api/orders: ${status}`);
    all.push(...body.orders);
    if (!body.next_cursor) return all;
    cursor = body.next_cursor;
  }
  throw new Error('more than 50 pages of orders');
}

// What differs between the page and the order API, as lines; [] when equal.
function differences(placed, rows, listed) {
  const api = new Map(listed.map((o) => [o.order_id, o]));
  const onPage = new Map();
  for (const r of rows) onPage.set(r.id, [...(onPage.get(r.id) || []), r]);
  const out = [];
  for (const o of placed) {
    const shown = onPage.get(o.order_id) || [];
    const now = api.get(o.order_id);
    if (!now) out.push(`${o.reference} (${o.order_id}) placed with 201 is not in GET /api/orders`);
    else if (shown.length !== 1) out.push(`${o.reference} (${o.order_id}, ${now.status} in the API) is on the page ${shown.length} times`);
    else if (shown[0].status !== now.status) out.push(`${o.reference}: page ${shown[0].status}, API ${now.status}`);
  }
  for (const [id, shown] of onPage) if (!api.has(id)) out.push(`${shown[0].ref} (${id}) is on the page but not the tenant's in the API`);
  for (const o of listed) if (!onPage.has(o.order_id) && !placed.some((p) => p.order_id === o.order_id)) out.push(`${o.reference} is in the API, not placed by the test, not on the page`);
  return out;
}

test('the page recovers from a restart of orderpulse dev during a stream of orders, losing nothing', async () => {
  const port = await freePort();
  const dir = tempDir('restart');
  const broker = await startBroker(dir);
  const opts = {
    port,
    dataDir: dir,
    kafkaBrokers: broker.bootstrap,
    extraEnv: { LOG_LEVEL: process.env.OP_E2E_LOG_LEVEL || 'warn', KAFKA_SESSION_TIMEOUT_MS: '6000' },
  };
  let dev = await startDev(opts);
  const browser = await launchBrowser();
  const placed = [];
  let streaming = true;
  let failed = true;
  let cookie = await cookieOf(dev.url, 'u_acme_owner');
  // The stream: one order every 150 ms; while the server is away the
  // attempts fail and are not counted as placed (only a 201 is).
  const stream = (async () => {
    for (let n = 0; streaming; n++) {
      try {
        placed.push({ ...(await placeOrder(dev.url, cookie, `E2E-R-${n}`)), at: Date.now() });
      } catch {
        /* the server is restarting */
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  try {
    const { page, errors } = await newPage(browser);
    await signIn(page, dev.url, 'u_acme_owner');
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations += 1;
    });
    await until('orders on the page', async () => (await renderedRows(page)).length >= 5, STEP_MS);

    const code = await dev.stop();
    assert.equal(code, 0, `the first dev process exited with ${code}\n${dev.log()}`);
    assert.equal(broker.proc.exitCode, null, `the broker stopped\n${broker.log()}`);
    await page.locator('#conn[data-state="reconnecting"]').waitFor();
    dev = await startDev(opts);
    cookie = await cookieOf(dev.url, 'u_acme_owner'); // same secret: either cookie works
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 2 * STEP_MS });
    const restartedAt = Date.now();
    await until('orders placed after the restart', async () => placed.filter((o) => o.at > restartedAt).length >= 10, STEP_MS);
    streaming = false;
    await stream;

    // Every order placed is on the page exactly once, with the status the
    // order API has, and the page shows nothing else.
    let diff = [];
    await until(
      'the page to equal the order API',
      async () => {
        diff = differences(placed, await renderedRows(page), await listOrders(dev.url, cookie));
        return diff.length === 0;
      },
      2 * STEP_MS,
      500,
    ).catch((e) => {
      throw new Error(`${e.message}; ${placed.length} placed, ${diff.length} differences:\n  ${diff.join('\n  ')}`);
    });
    // And the order view the page loads from (notify's snapshot) agrees.
    const snap = (await apiGet(dev.url, cookie, '/api/orders/snapshot')).body.orders;
    const rows = await renderedRows(page);
    assert.deepEqual(snap.map((o) => `${o.order_id}:${o.status}`).sort(), rows.map((r) => `${r.id}:${r.status}`).sort());
    console.log(`restart: ${placed.length} orders placed, every one on the page once with the API's status`);

    assert.equal(navigations, 0, 'the page navigated');
    await page.screenshot({ path: screenshotPath('dashboard-after-restart.png'), fullPage: true });
    assert.deepEqual(errors, []);
    failed = false;
  } finally {
    streaming = false;
    await stream;
    await browser.close();
    const code = await dev.stop();
    const brokerCode = await broker.stop();
    if (failed) console.log(`restart: failed; data kept in ${dir}\n--- dev log ---\n${dev.log()}`);
    else removeDir(dir);
    assert.equal(code, 0, `orderpulse dev exited with ${code}\n${dev.log()}`);
    assert.equal(brokerCode, 0, `orderpulse broker exited with ${brokerCode}\n${broker.log()}`);
  }
});
