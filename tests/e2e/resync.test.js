// `event: resync`: a page that comes back after more events than the server
// can replay (SSE_REPLAY_BUFFER_SIZE=2) shows "resyncing", reloads the
// snapshot and continues live from its marker, with no reload of the page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  apiGet, cookieOf, freePort, launchBrowser, newPage, placeOrder, recordConnStates, removeDir, signIn,
  startDev, STEP_MS, tempDir, until, waitMatchesSnapshot,
} from './lib.js';

test('after a gap larger than the replay window the page resyncs from the snapshot', async () => {
  const port = await freePort();
  const dir = tempDir('resync');
  const extraEnv = { SSE_REPLAY_BUFFER_SIZE: '2' };
  let dev = await startDev({ port, dataDir: dir, extraEnv });
  const browser = await launchBrowser();
  try {
    const { page, errors } = await newPage(browser);
    let navigations = 0;
    await signIn(page, dev.url, 'u_acme_owner');
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations += 1;
    });
    let cookie = await cookieOf(dev.url, 'u_acme_owner');
    const first = await placeOrder(dev.url, cookie, 'E2E-S-0');
    await page.locator(`#order-rows tr[data-order-id="${first.order_id}"]`).waitFor();
    await recordConnStates(page);

    // Keep the page away from the stream while orders happen: the stream is
    // cut by a restart and refused until the orders are in.
    const seen = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/sse/')) seen.push(`${(Date.now() % 100000) / 1000}:${r.url().split('?')[1] || '-'}`);
    });
    await page.route('**/api/sse/**', (route) => route.abort());
    assert.equal(await dev.stop(), 0);
    dev = await startDev({ port, dataDir: dir, extraEnv });
    cookie = await cookieOf(dev.url, 'u_acme_owner');
    const later = [];
    for (let i = 1; i <= 4; i++) later.push(await placeOrder(dev.url, cookie, `E2E-S-${i}`));
    // The gap must exist before the page comes back: the order view (what the
    // stream replays from) has every later order, paid.
    await until(
      'the later orders in the order view',
      async () => {
        const snap = (await apiGet(dev.url, cookie, '/api/orders/snapshot')).body.orders;
        return later.every((o) => snap.some((v) => v.order_id === o.order_id && v.status !== 'created'));
      },
      2 * STEP_MS,
    );
    await page.unroute('**/api/sse/**');

    await page
      .waitForFunction(() => window.__connStates.includes('resyncing'), null, { timeout: 2 * STEP_MS })
      .catch(async (e) => {
        const states = await page.evaluate(() => window.__connStates.join(' '));
        throw new Error(`${e.message}; the indicator showed: ${states}; requests: ${seen.join(' ')}`);
      });
    await page.locator('#conn[data-state="live"]').waitFor();
    for (const o of later) await page.locator(`#order-rows tr[data-order-id="${o.order_id}"]`).waitFor();
    const rows = await waitMatchesSnapshot(page, dev.url, cookie, 2 * STEP_MS);
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, 'an order is shown twice');
    // Live again after the resync: a new order arrives through the stream.
    const next = await placeOrder(dev.url, cookie, 'E2E-S-LIVE');
    await page.locator(`#order-rows tr[data-order-id="${next.order_id}"]`).waitFor();
    assert.equal(navigations, 0, 'the page navigated');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    const code = await dev.stop();
    removeDir(dir);
    assert.equal(code, 0, `orderpulse dev exited with ${code}`);
  }
});
