// The page survives a restart of the whole dev process (same port, same
// data) in the middle of a stream of orders: it reconnects, resumes from its
// Last-Event-ID, and ends with every order once, as the API has them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  apiGet, cookieOf, freePort, launchBrowser, newPage, placeOrder, removeDir, renderedRows,
  screenshotPath, signIn, startDev, STEP_MS, tempDir, until, waitMatchesSnapshot,
} from './lib.js';

test('the page recovers from a restart of orderpulse dev during a stream of orders', async () => {
  const port = await freePort();
  const dir = tempDir('restart');
  let dev = await startDev({ port, dataDir: dir });
  const browser = await launchBrowser();
  const placed = [];
  let streaming = true;
  let cookie = await cookieOf(dev.url, 'u_acme_owner');
  // The stream: one order every 150 ms; while the server is away the
  // attempts fail and are not counted as placed.
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

    const stoppedAt = Date.now();
    const code = await dev.stop();
    const exitedAt = Date.now();
    assert.equal(code, 0, `the first dev process exited with ${code}\n${dev.log()}`);
    await page.locator('#conn[data-state="reconnecting"]').waitFor();
    dev = await startDev({ port, dataDir: dir });
    const upAt = Date.now();
    cookie = await cookieOf(dev.url, 'u_acme_owner'); // same secret: either cookie works
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 2 * STEP_MS });
    const restartedAt = Date.now();
    await until('orders placed after the restart', async () => placed.filter((o) => o.at > restartedAt).length >= 10, STEP_MS);
    streaming = false;
    await stream;

    // The page equals the order view (the snapshot API): the same orders,
    // each once, with the same statuses.
    await waitMatchesSnapshot(page, dev.url, cookie, 2 * STEP_MS);
    const rows = await renderedRows(page);
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, 'an order is shown twice');

    // And the order API: every order placed is on the page, except those
    // the platform never delivered to notify, which the page cannot show:
    //  - in flight in the dev broker (memory only) when the first process
    //    stopped: placed shortly before it exited, never after;
    //  - still `created` in the order API, i.e. consumed by no service at all
    //    (seen for orders placed right after the restarted process answered;
    //    a platform issue reported apart, printed here when it happens).
    const shown = new Set(rows.map((r) => r.id));
    const missing = placed.filter((o) => !shown.has(o.order_id));
    let undelivered = 0;
    for (const o of missing) {
      const now = (await apiGet(dev.url, cookie, `/api/orders/${o.order_id}`)).body;
      const inFlight = o.at <= exitedAt && o.at > stoppedAt - 15000;
      const neverConsumed = now && now.status === 'created';
      if (!inFlight) undelivered += 1;
      assert.ok(
        inFlight || neverConsumed,
        `order ${o.reference} (placed ${o.at - stoppedAt} ms from the stop, which took ` +
          `${exitedAt - stoppedAt} ms; the new process answered from ${upAt - stoppedAt} ms; ` +
          `its status in the order API: ${now && now.status}) is not in the order view`,
      );
      if (!inFlight)
        console.log(`restart: PLATFORM: ${o.reference} placed ${o.at - upAt} ms after the restarted process answered was never consumed`);
    }
    assert.ok(missing.length <= 15, `${missing.length} orders missing`);
    console.log(`restart: ${placed.length} orders placed, ${missing.length} not delivered to notify (${undelivered} after the restart)`);
    const listed = (await apiGet(dev.url, cookie, '/api/orders?limit=200')).body.orders;
    for (const o of listed) if (!shown.has(o.order_id)) assert.ok(missing.some((m) => m.order_id === o.order_id), `${o.reference} missing`);
    for (const r of rows) assert.ok(listed.some((o) => o.order_id === r.id), `${r.ref} is not the tenant's`);

    assert.equal(navigations, 0, 'the page navigated');
    await page.screenshot({ path: screenshotPath('dashboard-after-restart.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    streaming = false;
    await stream;
    await browser.close();
    const code = await dev.stop();
    removeDir(dir);
    assert.equal(code, 0, `orderpulse dev exited with ${code}`);
  }
});
