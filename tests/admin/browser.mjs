#!/usr/bin/env node
// Drives the admin panel and the instance home page in headless Chromium against a running
// fluxer-server, as an operator would: the home page lists a discoverable guild, sign in to /admin,
// watch the dashboard's numbers move after activity, find a user and ban them (their next API
// request fails), change the registration mode, read the audit log, look up and delete a message
// (the API then says it is gone), and load the guild, discovery and voice pages. Every page visited is checked for console errors
// (CSP violations included) and failed requests. Run by tests/e2e/admin_browser.rs, which sets:
//
//   FLUXER_URL      the server's origin
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   ADMIN_EMAIL, ADMIN_PASSWORD   a staff account
//   GUILD_NAME      a discoverable guild's name the home page must list
//   VICTIM_NAME, VICTIM_TOKEN     the user to find and ban, and their session token
//   ACTIVE_TOKEN, ACTIVE_CHANNEL  a user who posts messages, and where
//   INVITE_CODE     the listed guild's permanent invite, which its directory card must give
//   DOOMED_MESSAGE  a message in ACTIVE_CHANNEL to find and delete from the messages page
//
// Exits 0 when every step passed; prints each step as it goes and the first failure.

import puppeteer from 'puppeteer-core';

const env = (name, fallback) => {
	const v = process.env[name] ?? fallback;
	if (v === undefined) {
		console.error(`missing environment variable ${name}`);
		process.exit(2);
	}
	return v;
};
const ORIGIN = env('FLUXER_URL').replace(/\/+$/, '');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const ADMIN_EMAIL = env('ADMIN_EMAIL');
const ADMIN_PASSWORD = env('ADMIN_PASSWORD');
const GUILD_NAME = env('GUILD_NAME');
const VICTIM_NAME = env('VICTIM_NAME');
const VICTIM_TOKEN = env('VICTIM_TOKEN');
const ACTIVE_TOKEN = env('ACTIVE_TOKEN');
const ACTIVE_CHANNEL = env('ACTIVE_CHANNEL');
const INVITE_CODE = env('INVITE_CODE');
const DOOMED_MESSAGE = env('DOOMED_MESSAGE');

const problems = [];
function step(name) {
	console.log(`step: ${name}`);
}
function check(ok, message) {
	if (!ok) throw new Error(message);
}

async function api(method, path, token, body) {
	const r = await fetch(`${ORIGIN}/api/v1${path}`, {
		method,
		headers: {authorization: token, 'content-type': 'application/json'},
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	return r;
}

const browser = await puppeteer.launch({
	executablePath: CHROMIUM,
	headless: true,
	args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
let failed = false;
try {
	const page = await browser.newPage();
	await page.setViewport({width: 390, height: 844, isMobile: true, hasTouch: true});
	// Console errors (a CSP violation is one), uncaught errors and failed loads, on every page.
	page.on('console', (m) => {
		if (m.type() === 'error' || m.type() === 'warn') problems.push(`${page.url()}: console ${m.type()}: ${m.text()}`);
	});
	page.on('pageerror', (e) => problems.push(`${page.url()}: page error: ${e.message}`));
	page.on('requestfailed', (r) => problems.push(`${page.url()}: request failed: ${r.url()} ${r.failure()?.errorText}`));
	page.on('response', (r) => {
		if (r.status() >= 400) problems.push(`${page.url()}: ${r.status()} for ${r.url()}`);
	});
	const visit = async (path) => {
		const r = await page.goto(`${ORIGIN}${path}`, {waitUntil: 'load'});
		check(r.ok(), `${path}: HTTP ${r.status()}`);
		return r;
	};
	const submit = async (selector) => {
		await Promise.all([page.waitForNavigation({waitUntil: 'load'}), page.click(selector)]);
	};
	const textOf = (selector) => page.$eval(selector, (e) => e.textContent.trim());
	const number = async (id) => Number(await textOf(`#${id}`));

	step('the home page lists the discoverable guild');
	await visit('/');
	check((await page.title()).length > 0, 'the home page has a title');
	const cards = await page.$$eval('ul.cards li h3', (hs) => hs.map((h) => h.textContent.trim()));
	check(cards.includes(GUILD_NAME), `the directory lists ${GUILD_NAME}: ${JSON.stringify(cards)}`);
	// No web app here: the card gives the invite code a client accepts.
	const join = await page.$eval('ul.cards li .join', (e) => e.textContent);
	check(join.includes(INVITE_CODE), `the card gives the invite code ${INVITE_CODE}: ${join}`);
	// Nothing is wider than a phone's screen.
	const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
	check(overflow <= 1, `the home page fits a phone's width (overflow ${overflow}px)`);
	await visit('/marketing/terms');
	await visit('/marketing/privacy');

	step('sign in to /admin');
	await visit('/admin');
	check(page.url().endsWith('/admin/login'), `redirected to the sign-in page: ${page.url()}`);
	await page.type('input[name=email]', ADMIN_EMAIL);
	await page.type('input[name=password]', ADMIN_PASSWORD);
	await submit('form[action="/admin/login"] button[type=submit]');
	check(new URL(page.url()).pathname === '/admin', `signed in to the dashboard: ${page.url()}`);
	const cookies = await page.cookies();
	const session = cookies.find((c) => c.name === 'fluxer_admin');
	check(session && session.httpOnly && session.sameSite === 'Strict', `an HttpOnly SameSite=Strict cookie: ${JSON.stringify(session)}`);
	check(!(await page.evaluate(() => document.cookie)).includes('fluxer_admin'), 'scripts cannot read the session cookie');

	step('the dashboard numbers move after activity');
	const before = await number('stat-messages');
	const beforeToday = await number('stat-messages-today');
	for (let i = 0; i < 3; i++) {
		const r = await api('POST', `/channels/${ACTIVE_CHANNEL}/messages`, ACTIVE_TOKEN, {content: `activity ${i}`});
		check(r.ok, `a message was sent (${r.status})`);
	}
	await visit('/admin');
	check((await number('stat-messages')) === before + 3, `messages went from ${before} to ${before + 3}`);
	check((await number('stat-messages-today')) === beforeToday + 3, 'messages today moved');
	check((await page.$$('svg.chart rect')).length > 0, 'the charts are drawn');
	check((await page.$$('#stat-storage')).length === 1, 'the storage used is shown');

	step('find a user and ban them');
	await visit('/admin/users');
	await page.type('input[name=q]', VICTIM_NAME);
	await submit('form[role=search] button[type=submit]');
	const link = await page.$$eval('table a', (as) => as.map((a) => [a.textContent.trim(), a.getAttribute('href')]));
	const hit = link.find(([name]) => name.startsWith(VICTIM_NAME));
	check(hit, `the search finds ${VICTIM_NAME}: ${JSON.stringify(link)}`);
	await visit(hit[1]);
	check((await api('GET', '/users/@me', VICTIM_TOKEN)).ok, 'the user can use the API before the ban');
	await page.type('form#ban textarea[name=reason]', 'Spam in every channel');
	await submit('form#ban button[type=submit]');
	const notice = await textOf('.notice');
	check(/banned/i.test(notice), `the page confirms the ban: ${notice}`);
	const after = await api('GET', '/users/@me', VICTIM_TOKEN);
	check(after.status === 401 || after.status === 403, `the banned user's next request fails (${after.status})`);

	step('resolve a report');
	await visit('/admin/reports');
	const reports = await page.$$eval('table a', (as) => as.map((a) => a.getAttribute('href')));
	check(reports.length === 1, `one pending report: ${JSON.stringify(reports)}`);
	await visit(reports[0]);
	check((await page.$eval('main', (m) => m.textContent)).includes('Posts links everywhere'), 'the report shows the note');
	await page.type('form#resolve textarea[name=public_comment]', 'Thanks, we acted on it.');
	await page.type('form#resolve textarea[name=reason]', 'Spammer banned');
	await submit('form#resolve button[type=submit]');
	check((await textOf('#report-status')) === 'Resolved', 'the report is resolved');
	await visit('/admin/reports');
	check((await page.$$('table a')).length === 0, 'no pending report is left');

	step('change the registration mode');
	await visit('/admin/instance');
	await page.select('select[name=registration_mode]', 'closed');
	await page.type('form#instance textarea[name=reason]', 'Closing sign-ups for maintenance');
	await submit('form#instance button[type=submit]');
	check((await page.$eval('select[name=registration_mode]', (s) => s.value)) === 'closed', 'the mode is now closed');
	const register = await fetch(`${ORIGIN}/api/v1/auth/register`, {
		method: 'POST',
		headers: {'content-type': 'application/json'},
		body: JSON.stringify({email: 'late@example.com', username: 'late', password: 'correct horse battery', date_of_birth: '1990-01-01', consent: true}),
	});
	check(!register.ok, `registration is refused once closed (${register.status})`);

	step('the audit log shows both actions');
	await visit('/admin/audit-log');
	const log = await page.$eval('main', (m) => m.textContent);
	check(log.includes('Spam in every channel'), 'the ban and its reason are logged');
	check(log.includes('Closing sign-ups for maintenance'), 'the config change and its reason are logged');
	check(log.includes('report.resolve') && log.includes('Spammer banned'), 'the resolution and its reason are logged');

	step('look up a message and delete it');
	await visit('/admin/messages');
	await page.type('form#lookup input[name=channel_id]', ACTIVE_CHANNEL);
	await page.type('form#lookup input[name=message_id]', DOOMED_MESSAGE);
	await submit('form#lookup button[type=submit]');
	check((await page.$eval('main', (m) => m.textContent)).includes('buy cheap kayaks'), 'the message is shown');
	check((await api('GET', `/channels/${ACTIVE_CHANNEL}/messages/${DOOMED_MESSAGE}`, ACTIVE_TOKEN)).ok, 'the message exists before');
	await page.type('form#delete textarea[name=reason]', 'Advertising in the club channel');
	await submit('form#delete button[type=submit]');
	check(/deleted/i.test(await textOf('.notice')), 'the page confirms the deletion');
	const gone = await api('GET', `/channels/${ACTIVE_CHANNEL}/messages/${DOOMED_MESSAGE}`, ACTIVE_TOKEN);
	check(gone.status === 404, `the API no longer has the message (${gone.status})`);

	step('find the guild and open its page');
	await visit('/admin/guilds');
	await page.type('input[name=q]', GUILD_NAME);
	await submit('form[role=search] button[type=submit]');
	const guildLinks = await page.$$eval('table a', (as) => as.map((a) => [a.textContent.trim(), a.getAttribute('href')]));
	const guildHit = guildLinks.find(([name]) => name === GUILD_NAME);
	check(guildHit, `the search finds ${GUILD_NAME}: ${JSON.stringify(guildLinks)}`);
	await visit(guildHit[1]);
	check((await textOf('main h1')) === GUILD_NAME, 'the guild page has its name');
	check(/DISCOVERABLE/.test(await textOf('#guild-features')), 'the guild page lists its features');

	step('every other panel page loads cleanly');
	for (const path of [
		'/admin/bans',
		'/admin/api-keys',
		'/admin/users?q=owner&page=0',
		'/admin/audit-log?q=ban',
		'/admin/guilds?q=&page=0',
		'/admin/discovery',
		'/admin/discovery?status=approved',
		'/admin/voice',
		'/admin/instance',
	]) {
		await visit(path);
		check((await page.$$('main h1')).length === 1, `${path} has its heading`);
	}

	step('sign out');
	await submit('form[action="/admin/logout"] button[type=submit]');
	check(page.url().endsWith('/admin/login'), `signed out: ${page.url()}`);

	check(problems.length === 0, `console errors or failed requests:\n${problems.join('\n')}`);
	console.log('ok: every step passed');
} catch (e) {
	failed = true;
	console.error(`FAILED: ${e.message}`);
	if (problems.length) console.error(`also seen:\n${problems.join('\n')}`);
} finally {
	await browser.close();
}
process.exit(failed ? 1 : 0);
