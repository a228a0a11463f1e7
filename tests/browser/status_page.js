// Drives Debian's chromium (headless) through the status page: finds the worker rows, kills
// worker 0, waits for its row to show the replacement's pid, saves a screenshot, and prints
// what it saw as one JSON line. Usage: node status_page.js URL SCREENSHOT
"use strict";
const { chromium } = require("playwright-core");

const ROW = '#workers tbody tr[data-worker="0"]';

async function main() {
  const [url, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-dev-shm-usage", "--no-first-run"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const external = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(new URL(url).origin)) external.push(request.url());
    });
    await page.goto(url);
    await page.waitForSelector('#workers tbody tr[data-worker="1"][data-pid]:not([data-pid=""])',
                               { timeout: 15000 });
    const rows = await page.$$eval("#workers tbody tr", (trs) => trs.map((tr) => ({
      id: Number(tr.dataset.worker), pid: Number(tr.dataset.pid), state: tr.dataset.state })));
    const before = Number(await page.getAttribute(ROW, "data-pid"));
    process.kill(before, "SIGKILL");
    const killed = Date.now();
    await page.waitForFunction(({ selector, old }) => {
      const row = document.querySelector(selector);
      return row && row.dataset.pid && row.dataset.pid !== String(old);
    }, { selector: ROW, old: before }, { timeout: 3000, polling: 50 });
    const seconds = (Date.now() - killed) / 1000;
    const after = Number(await page.getAttribute(ROW, "data-pid"));
    await page.waitForFunction(() => document.querySelector("#restarts tbody").textContent
                               .includes("SIGKILL"), null, { timeout: 3000 });
    const restarts = await page.textContent("#restarts tbody");
    const schedules = await page.$$eval("#schedules tr[data-schedule]",
                                        (trs) => trs.map((tr) => tr.dataset.schedule));
    const state = await page.textContent("#state");
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ rows, before, after, seconds, restarts, schedules, state,
                                 external }));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
