// The sign-in pages in Debian's Chromium, as a person uses them with JavaScript off, then
// checked by axe-core against WCAG 2.2 AA. Run by tests/api/browser.rs:
//   node tests/browser/sign_in.cjs BASE_URL MEMBER_NAME
// (NODE_PATH holds playwright-core and axe-core; CHROMIUM is the browser to drive.)
const fs = require('fs');
const { chromium } = require('playwright-core');

const [base, name] = process.argv.slice(2);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const WCAG_22_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

function check(holds, message) {
  if (!holds) throw new Error(message);
}

/// axe-core's violations on the page as it stands, one line each.
async function violations(page, label) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }),
    WCAG_22_AA,
  );
  return result.violations.map(
    (v) => `${label}: ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`,
  );
}

async function signIn(page) {
  await page.goto(`${base}/sign-in`);
  await page.getByRole('button', { name: `Sign in as ${name}` }).click();
  await page.waitForURL(`${base}/account`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  try {
    // A person, with JavaScript off: the forms alone sign in and out.
    const person = await browser.newContext({ javaScriptEnabled: false });
    const page = await person.newPage();
    await page.goto(`${base}/sign-in`);
    check((await page.title()) === 'Sign in – cofund', `title: ${await page.title()}`);
    await signIn(page);
    check((await page.textContent('main')).includes(name), 'the account page names the member');
    const session = (await person.cookies()).find((c) => c.name === '__Host-cofund-session');
    check(
      session && session.secure && session.httpOnly && session.sameSite === 'Lax' && session.path === '/',
      `the browser keeps the session cookie as sent: ${JSON.stringify(await person.cookies())}`,
    );
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/sign-in`);
    check(
      !(await person.cookies()).some((c) => c.name === '__Host-cofund-session'),
      'signing out removes the cookie',
    );
    await page.goto(`${base}/account`);
    check(page.url().startsWith(`${base}/sign-in`), `signed out, /account leads to sign-in: ${page.url()}`);

    // axe-core on each page. It is a script, so it runs in a context of its own with
    // JavaScript on, and the page's Content-Security-Policy (no script at all) set aside for it.
    const auditor = await browser.newContext({ bypassCSP: true });
    const audited = await auditor.newPage();
    await audited.goto(`${base}/sign-in`);
    const found = await violations(audited, '/sign-in');
    await signIn(audited);
    found.push(...(await violations(audited, '/account')));
    check(found.length === 0, `axe-core (WCAG 2.2 AA):\n${found.join('\n')}`);

    // The policy holds where it is not set aside: an injected script is refused.
    const strict = await browser.newContext();
    const guarded = await strict.newPage();
    await guarded.goto(`${base}/sign-in`);
    const injected = await guarded
      .addScriptTag({ content: 'window.ran = true' })
      .then(() => guarded.evaluate(() => window.ran === true))
      .catch(() => false);
    check(!injected, 'the Content-Security-Policy refuses an inline script');
    console.log('browser: signed in and out with JavaScript off; 0 axe-core violations on /sign-in and /account');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
