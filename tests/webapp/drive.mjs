#!/usr/bin/env node
// Drives Fluxer's official web app (an unmodified build of upstream's fluxer_app) against a running
// fluxer-rs server, as two users in two browser contexts, and records each flow a new user takes.
// See README.md next to this file for how to build the app bundle and run this script.
//
//   node tests/webapp/drive.mjs [--url http://127.0.0.1:8080] [--out DIR] [--driver-dir DIR] [--only a,b]
//
// Environment: FLUXER_URL (server origin), CHROMIUM (browser binary, default /usr/bin/chromium),
// NODE_PATH (a node_modules holding puppeteer-core@24), HEADFUL=1 (show the browser), FLUXER_LOG (or
// --log: the server's log file; the email flows read their one-time codes from its "email not sent"
// lines, the stand-in for the user's mailbox when the server has no SMTP server).
// The REST API is used only to set up or verify a step, never in place of the UI step under test;
// a flow's note says so whenever it does.

import {AsyncLocalStorage} from 'node:async_hooks';
import fs from 'node:fs';
import http from 'node:http';
import {createRequire} from 'node:module';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------
function parseArgs(argv) {
	const out = {};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const m = a.match(/^--([a-z-]+)(?:=(.*))?$/);
		if (!m) {
			(out._ ??= []).push(a);
			continue;
		}
		out[m[1]] = m[2] ?? (argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[++i] : 'true');
	}
	return out;
}
const args = parseArgs(process.argv.slice(2));
if (args.help) {
	console.log(
		'usage: node drive.mjs [--url ORIGIN] [--out SCREENSHOT_DIR] [--driver-dir DIR_WITH_node_modules] [--only flow1,flow2] [--log SERVER_LOG]',
	);
	process.exit(0);
}
const ORIGIN = (args.url ?? args._?.[0] ?? process.env.FLUXER_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const API = `${ORIGIN}/api/v1`;
const OUT = path.resolve(args.out ?? args._?.[1] ?? process.env.SCREENSHOT_DIR ?? path.join(os.tmpdir(), 'fluxer-webapp-shots'));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ONLY = args.only ? new Set(args.only.split(',')) : null;
const SERVER_LOG = args.log ?? process.env.FLUXER_LOG ?? null;
fs.mkdirSync(OUT, {recursive: true});

// puppeteer-core: from --driver-dir (a directory with node_modules, or a node_modules itself), NODE_PATH,
// or the usual resolution.
async function loadPuppeteer() {
	const bases = [];
	if (args['driver-dir']) {
		const d = path.resolve(args['driver-dir']);
		bases.push(path.join(d, 'node_modules', 'x.js'), path.join(d, 'x.js'), path.join(d, '..', 'x.js'));
	}
	for (const p of (process.env.NODE_PATH ?? '').split(path.delimiter).filter(Boolean)) {
		bases.push(path.join(path.resolve(p), '..', 'x.js'), path.join(path.resolve(p), 'x.js'));
	}
	bases.push(import.meta.url);
	for (const base of bases) {
		try {
			const req = createRequire(base);
			const resolved = req.resolve('puppeteer-core');
			const mod = await import(new URL(`file://${resolved}`).href);
			return mod.default ?? mod;
		} catch {}
	}
	console.error(
		'puppeteer-core not found: run `npm i puppeteer-core@24` in some directory and pass --driver-dir DIR ' +
			'or NODE_PATH=DIR/node_modules',
	);
	process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const RID = Date.now().toString(36).slice(-5);
const PASSWORD = `Flx-${RID}-correct-horse!`;
const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const trunc = (s, n = 300) => {
	s = String(s ?? '').replace(/\s+/g, ' ');
	return s.length > n ? `${s.slice(0, n)}…` : s;
};
const mdCell = (s) => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

function crc32(buf) {
	let c = ~0;
	for (const b of buf) {
		c ^= b;
		for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
	}
	return ~c >>> 0;
}
// A small valid RGB PNG (a gradient), written with no dependency.
function makePng(w = 48, h = 32) {
	const chunk = (type, data) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(data.length);
		const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
		const crc = Buffer.alloc(4);
		crc.writeUInt32BE(crc32(td));
		return Buffer.concat([len, td, crc]);
	};
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(w, 0);
	ihdr.writeUInt32BE(h, 4);
	ihdr[8] = 8;
	ihdr[9] = 2;
	const raw = Buffer.alloc((w * 3 + 1) * h);
	for (let y = 0; y < h; y++) {
		raw[y * (w * 3 + 1)] = 0;
		for (let x = 0; x < w; x++) {
			const o = y * (w * 3 + 1) + 1 + x * 3;
			raw[o] = (x * 255) / w;
			raw[o + 1] = (y * 255) / h;
			raw[o + 2] = 200;
		}
	}
	return Buffer.concat([
		Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		chunk('IHDR', ihdr),
		chunk('IDAT', zlib.deflateSync(raw)),
		chunk('IEND', Buffer.alloc(0)),
	]);
}

async function api(token, method, p, body) {
	const r = await fetch(API + p, {
		method,
		headers: {...(token ? {Authorization: token} : {}), ...(body ? {'Content-Type': 'application/json'} : {})},
		body: body ? JSON.stringify(body) : undefined,
	});
	const text = await r.text();
	let json;
	try {
		json = JSON.parse(text);
	} catch {}
	if (!r.ok) throw new Error(`REST ${method} ${p} -> ${r.status} ${trunc(text, 200)}`);
	return json;
}

// The server's "mailbox": without SMTP, fluxer-rs logs each email as a JSON line
// {"message":"email not sent: no SMTP server configured","to":…,"subject":…,"links":"[…]","codes":"[\"AB12-CD34\"]"}.
// logMark() is where the log ends now; codeFromLog() waits for an email to `to` written after that mark.
function logMark() {
	try {
		return SERVER_LOG ? fs.statSync(SERVER_LOG).size : 0;
	} catch {
		return 0;
	}
}
function emailsSince(mark) {
	if (!SERVER_LOG) return [];
	let text = '';
	try {
		const fd = fs.openSync(SERVER_LOG, 'r');
		const size = fs.fstatSync(fd).size;
		const buf = Buffer.alloc(Math.max(0, size - mark));
		fs.readSync(fd, buf, 0, buf.length, mark);
		fs.closeSync(fd);
		text = buf.toString('utf8');
	} catch {
		return [];
	}
	const out = [];
	for (const line of text.split('\n')) {
		if (!line.includes('email not sent')) continue;
		let j;
		try {
			j = JSON.parse(line.slice(line.indexOf('{')));
		} catch {
			continue;
		}
		const list = (v) => {
			if (Array.isArray(v)) return v;
			try {
				return JSON.parse(v);
			} catch {
				return String(v ?? '').match(/[A-Z0-9]{4}-[A-Z0-9]{4}|https?:\/\/\S+?(?=["\]\s]|$)/g) ?? [];
			}
		};
		out.push({to: String(j.to ?? ''), subject: String(j.subject ?? ''), codes: list(j.codes), links: list(j.links)});
	}
	return out;
}
async function codeFromLog(to, mark, what, timeout = 10000) {
	if (!SERVER_LOG) throw Object.assign(new Error('skipped: needs the server log (FLUXER_LOG or --log) to read the emailed code'), {skip: true});
	const deadline = Date.now() + timeout;
	for (;;) {
		checkAlive();
		const mails = emailsSince(mark).filter((m) => m.to.toLowerCase() === to.toLowerCase() && m.codes.length);
		if (mails.length) {
			const m = mails[mails.length - 1];
			return {code: m.codes[m.codes.length - 1], subject: m.subject};
		}
		if (Date.now() > deadline) {
			const other = emailsSince(mark).map((m) => `to ${m.to} "${m.subject}" codes ${JSON.stringify(m.codes)}`);
			throw new Error(`no email with a code to ${to} (${what}) in ${SERVER_LOG} within ${timeout / 1000}s${other.length ? `; emails seen: ${other.join('; ')}` : ''}`);
		}
		await sleep(250);
	}
}
// The status of a REST call, for checks that expect a refusal (api() throws on >= 400).
async function apiStatus(token, method, p, body) {
	const r = await fetch(API + p, {
		method,
		headers: {...(token ? {Authorization: token} : {}), ...(body ? {'Content-Type': 'application/json'} : {})},
		body: body ? JSON.stringify(body) : undefined,
	});
	const text = await r.text();
	return {status: r.status, text};
}

// ---------------------------------------------------------------------------------------------
// Flow bookkeeping: every helper refuses to act once its flow has timed out, so a late action of a
// timed-out flow cannot disturb the next one.
// ---------------------------------------------------------------------------------------------
const als = new AsyncLocalStorage();
let activeFlow = null;
function checkAlive() {
	const mine = als.getStore();
	if (mine && mine !== activeFlow) throw new Error('flow cancelled (timed out)');
}

const netLog = []; // {flow, user, kind, text}
const gwLog = []; // {t, user, dir, name}
let currentFlowName = 'setup';

// Records the gateway socket's opens and closes (with the close code, which CDP does not report) in
// window.__wsEvents; the socket itself is left untouched.
function installWsProbe() {
	const Native = window.WebSocket;
	if (!Native || Native.__fxProbe) return;
	window.__wsEvents = [];
	const Probe = function (...a) {
		const ws = new Native(...a);
		window.__wsEvents.push({t: Date.now(), ev: 'open', url: String(a[0]).split('?')[0]});
		ws.addEventListener('close', (e) => window.__wsEvents.push({t: Date.now(), ev: 'close', code: e.code, reason: e.reason}));
		return ws;
	};
	Probe.prototype = Native.prototype;
	for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Probe[k] = Native[k];
	Probe.__fxProbe = true;
	window.WebSocket = Probe;
}

// In-page helpers, installed before every document. Elements are found by aria-label, role and
// visible text; CSS-module class names (`module__<name>___hash`) only as a last resort.
function installHelpers() {
	const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
	const visible = (el) => {
		if (!el || !el.isConnected) return false;
		const r = el.getBoundingClientRect();
		if (r.width < 1 || r.height < 1) return false;
		const s = getComputedStyle(el);
		return s.visibility !== 'hidden' && s.display !== 'none' && Number(s.opacity) > 0.01;
	};
	const DEFAULT =
		'button,[role=button],[role=menuitem],[role=menuitemcheckbox],[role=menuitemradio],[role=tab],[role=option],[role=radio],[role=checkbox],[role=link],a,[role=switch]';
	const roots = (within) => {
		if (!within) return [document];
		if (within === 'dialog') {
			const ds = [...document.querySelectorAll('[role=dialog][aria-modal=true]')].filter(visible);
			return ds.length ? [ds[ds.length - 1]] : [];
		}
		if (within === 'popout') {
			const ds = [...document.querySelectorAll('[role=dialog],[role=menu]')].filter(visible);
			return ds.length ? ds : [];
		}
		if (typeof within === 'string') return [...document.querySelectorAll(within)].filter(visible);
		return [within];
	};
	const textMatch = (value, o) => {
		if (value == null) return false;
		const v = norm(value);
		if (o.regex) return new RegExp(o.regex, o.flags ?? '').test(v);
		if (o.text == null) return true;
		return o.exact === false ? v.toLowerCase().includes(o.text.toLowerCase()) : v === o.text;
	};
	window.__fx = {
		norm,
		visible,
		// {text|regex, exact, selector, within, aria (only aria-label), textOnly (only innerText),
		//  has (a descendant selector the element must hold), last}
		findAll(o) {
			const out = [];
			for (const root of roots(o.within)) {
				for (const el of root.querySelectorAll(o.selector || DEFAULT)) {
					if (!visible(el)) continue;
					const label = el.getAttribute('aria-label');
					const ok = o.aria
						? textMatch(label, o)
						: o.textOnly
							? textMatch(el.innerText, o)
							: textMatch(label, o) || textMatch(el.innerText, o);
					if (ok && o.has && !el.querySelector(o.has)) continue;
					if (ok) out.push(el);
				}
			}
			return out;
		},
		find(o) {
			const all = window.__fx.findAll(o);
			if (!all.length) return null;
			if (o.last) return all[all.length - 1];
			// the most specific match: smallest area
			let best = all[0];
			let bestArea = Infinity;
			for (const el of all) {
				const r = el.getBoundingClientRect();
				const a = r.width * r.height;
				if (a < bestArea) {
					best = el;
					bestArea = a;
				}
			}
			return best;
		},
		articles(text) {
			return [...document.querySelectorAll('[role=article][data-message-id]')].filter(
				(a) => visible(a) && (text == null || norm(a.innerText).includes(text)),
			);
		},
		// The text of a message without the preview of the message it replies to.
		ownText(a) {
			const c = a.cloneNode(true);
			for (const e of c.querySelectorAll('[class*="__replied"]')) e.remove();
			return norm(c.textContent);
		},
		// The last message showing the text, preferring one whose own content (not a reply preview) holds it.
		article(text) {
			const all = window.__fx.articles(text);
			const own = text == null ? all : all.filter((a) => window.__fx.ownText(a).includes(text));
			const pick = own.length ? own : all;
			return pick.length ? pick[pick.length - 1] : null;
		},
		// Images under root whose src contains part: [{src, loaded, alt}] (loaded: decoded, with a width).
		imgs(root, part) {
			return [...(root ?? document).querySelectorAll('img')]
				.filter((i) => i.src.includes(part))
				.map((i) => ({src: i.src, loaded: i.complete && i.naturalWidth > 0, alt: i.alt}));
		},
		// The last visible message holding an image whose src contains part.
		articleWithImg(part) {
			const all = window.__fx.articles().filter((a) => window.__fx.imgs(a, part).length);
			return all.length ? all[all.length - 1] : null;
		},
		hasText(text, within) {
			for (const r of roots(within)) if (norm(r === document ? document.body.innerText : r.innerText).includes(text)) return true;
			return false;
		},
	};
}

function describe(o) {
	const what = o.text ?? (o.regex ? `/${o.regex}/` : o.selector);
	return `${o.aria ? 'aria-label' : 'element'} "${what}"${o.within ? ` in ${typeof o.within === 'string' ? o.within : 'root'}` : ''}`;
}

async function el(page, o, timeout = 10000) {
	checkAlive();
	try {
		const h = await page.waitForFunction((o) => window.__fx?.find(o), {timeout, polling: 200}, o);
		checkAlive();
		return h.asElement();
	} catch (e) {
		if (String(e.message).includes('cancelled')) throw e;
		throw new Error(`${page.__user}: no ${describe(o)} within ${timeout / 1000}s`);
	}
}
// Popouts and menus animate in: wait until the element stops moving before clicking its centre.
async function settle(h) {
	let prev = null;
	for (let i = 0; i < 25; i++) {
		const b = await h.boundingBox().catch(() => null);
		if (prev && b && Math.abs(b.x - prev.x) < 0.5 && Math.abs(b.y - prev.y) < 0.5 && Math.abs(b.width - prev.width) < 0.5) return;
		prev = b;
		await sleep(60);
	}
}
async function click(page, o, timeout) {
	const e = await el(page, o, timeout);
	await settle(e);
	await e.click();
	return e;
}
async function css(page, selector, timeout = 10000) {
	checkAlive();
	try {
		const h = await page.waitForSelector(selector, {visible: true, timeout});
		checkAlive();
		return h;
	} catch (e) {
		if (String(e.message).includes('cancelled')) throw e;
		throw new Error(`${page.__user}: no visible ${selector} within ${timeout / 1000}s`);
	}
}
async function waitFn(page, what, fn, arg, timeout = 10000) {
	checkAlive();
	try {
		const h = await page.waitForFunction(fn, {timeout, polling: 250}, arg);
		checkAlive();
		return h;
	} catch (e) {
		if (String(e.message).includes('cancelled')) throw e;
		throw new Error(`${page.__user}: ${what} not seen within ${timeout / 1000}s`);
	}
}
// An element by its accessible label. Many of the app's buttons carry a tooltip whose text is a
// component (label + keybind): React then gives them aria-labelledby pointing at a tooltip that exists only
// while hovered, so those are found by hovering the candidates and reading the tooltip.
async function byLabel(page, text, {scope = 'button,[role=button]', timeout = 10000} = {}) {
	const deadline = Date.now() + timeout;
	for (;;) {
		checkAlive();
		const direct = (await page.evaluateHandle((o) => window.__fx?.find(o), {aria: true, text, selector: '[aria-label]'})).asElement();
		if (direct) return direct;
		for (const c of await page.$$(`:is(${scope})[aria-labelledby]`)) {
			if (!(await c.isVisible().catch(() => false))) continue;
			const id = await c.evaluate((e) => e.getAttribute('aria-labelledby'));
			await c.hover().catch(() => {});
			await sleep(150);
			const label = await page.evaluate((id) => document.getElementById(id)?.innerText ?? '', id);
			if (label.replace(/\s+/g, ' ').trim().startsWith(text)) return c;
		}
		if (Date.now() > deadline) throw new Error(`${page.__user}: no control labelled "${text}" within ${timeout / 1000}s`);
		await sleep(400);
	}
}
const clickLabel = async (page, text, opts) => {
	const e = await byLabel(page, text, opts);
	await settle(e);
	await e.click();
};

const waitText = (page, text, timeout = 10000, within) =>
	waitFn(page, `text "${text}"`, ({text, within}) => window.__fx?.hasText(text, within), {text, within}, timeout);
async function article(page, text, timeout = 10000) {
	const h = await waitFn(page, `message "${text}"`, (t) => window.__fx?.article(t), text, timeout);
	return h.asElement();
}
async function typeInto(handle, text, {clear = false} = {}) {
	checkAlive();
	await handle.click();
	if (clear) {
		await handle.evaluate((e) => e.select?.());
		await handle.press('Backspace');
	}
	await handle.type(text, {delay: 15});
}
async function escape(page, n = 2) {
	for (let i = 0; i < n; i++) {
		await page.keyboard.press('Escape').catch(() => {});
		await sleep(120);
	}
}

// ---------------------------------------------------------------------------------------------
// App-level steps
// ---------------------------------------------------------------------------------------------
const APP_READY = {aria: true, text: 'Direct Messages', selector: '[aria-label]'};
async function waitAppReady(page, timeout = 30000) {
	await el(page, APP_READY, timeout);
}
async function tokenOf(page) {
	const t = await page.evaluate(() => localStorage.getItem('token'));
	if (!t) throw new Error(`${page.__user}: no token in localStorage`);
	return t.replace(/^"|"$/g, '');
}

async function registerOnPage(page, u) {
	await page.goto(`${ORIGIN}/register`, {waitUntil: 'domcontentloaded'});
	const email = await css(page, 'input[name=email]', 30000);
	await typeInto(email, u.email);
	await typeInto(await css(page, 'input[name=global_name]'), u.display);
	await typeInto(await css(page, 'input[name=username]'), u.username);
	await typeInto(await css(page, 'input[name=password]'), u.password);
	await typeInto(await css(page, 'input[name=confirm_password]'), u.password);
	// Date of birth: three react-select comboboxes (Month, Day, Year) in the locale's order.
	for (const [placeholder, value] of [
		['Month', 'March'],
		['Day', '14'],
		['Year', '1994'],
	]) {
		const ph = await el(page, {text: placeholder, selector: 'fieldset div'});
		await ph.click();
		await page.keyboard.type(value, {delay: 20});
		await sleep(150);
		await page.keyboard.press('Enter');
		await sleep(150);
	}
	await click(page, {selector: 'button[role=checkbox]'});
	const submit = await css(page, 'form button[type=submit]:not([disabled])', 5000).catch(async () => {
		const why = await page.evaluate(() => document.querySelector('form')?.innerText ?? '');
		throw new Error(`submit stays disabled; form says: ${trunc(why, 200)}`);
	});
	await submit.click();
	await waitAppReady(page, 30000).catch(async (e) => {
		const errs = await page.evaluate(() =>
			[...document.querySelectorAll('[class*="error" i]')].map((e) => e.innerText).filter(Boolean).join(' / '),
		);
		throw new Error(`${e.message}${errs ? `; form errors: ${trunc(errs, 200)}` : ''}; at ${page.url()}`);
	});
	u.token = await tokenOf(page);
	u.id = await page.evaluate(() => (localStorage.getItem('userId') || '').replace(/^"|"$/g, ''));
}

// The guild's item in the guild rail. Its aria-label is dropped by the tooltip wrapper (see byLabel), so
// it is found by the app's own data-scroll-id="guild-<id>".
const guildItem = () => ({selector: `[role=button][data-scroll-id="guild-${S.guildId}"]`});
// The guild header (opens the guild menu): a role=button whose text is the guild name.
const guildHeader = () => ({text: S.guildName, exact: false, textOnly: true, selector: '[role=button]'});
const channelItem = (name) => ({aria: true, text: `${name} channel`, selector: '[aria-label]'});
const composer = (channelName) => `textarea[placeholder="Message #${channelName}"]`;

// Opens a guild channel the way a user does (rail, then channel list). Falls back to the URL and says so.
async function openChannel(page, channelName, notes) {
	checkAlive();
	const already = await page.$(composer(channelName));
	if (already && (await already.isVisible())) return;
	const item = await page.evaluate((o) => !!window.__fx?.find(o), channelItem(channelName));
	if (!item) {
		const rail = await el(page, guildItem(), 4000).catch(() => null);
		if (rail) await rail.click();
	}
	const ch = await el(page, channelItem(channelName), 6000).catch(() => null);
	if (ch) {
		await ch.click();
	} else {
		const cid = channelName === S.chatName ? S.chatId : S.generalId;
		if (!S.guildId || !cid) throw new Error(`${page.__user}: channel ${channelName} not reachable (no guild in the rail)`);
		notes?.push(`${page.__user} reached #${channelName} by URL: guild missing from its guild rail`);
		await page.goto(`${ORIGIN}/channels/${S.guildId}/${cid}`, {waitUntil: 'domcontentloaded'});
		await waitAppReady(page);
	}
	await css(page, composer(channelName), 15000);
}

async function send(page, channelName, text) {
	const ta = await css(page, composer(channelName));
	await ta.click();
	await page.keyboard.type(text, {delay: 8});
	await page.keyboard.press('Enter');
	await article(page, text, 10000);
}

// Hover a message and use one of its action bar buttons.
async function messageAction(page, text, label) {
	// A just-sent message is re-rendered when the server's copy replaces the optimistic one: retry.
	for (let attempt = 1; ; attempt++) {
		try {
			const art = await article(page, text);
			await art.hover();
			// the action bar lives inside the hovered article; other messages may still show theirs
			let btn = null;
			for (let i = 0; i < 20 && !btn; i++) {
				await sleep(200);
				btn = await art.$(`button[aria-label="${label}"]`);
			}
			if (!btn) throw new Error(`${page.__user}: no "${label}" in the action bar of message "${text}"`);
			await btn.click();
			return;
		} catch (e) {
			if (attempt >= 3 || String(e.message).includes('cancelled')) throw e;
			await page.mouse.move(5, 5);
			await sleep(500);
		}
	}
}
// "More" menu of a message, then an item of it.
async function messageMenu(page, text, item) {
	await messageAction(page, text, 'More');
	await click(page, {text: item, selector: '[role=menuitem],[role=button],button'}, 5000);
}

async function openUserSettings(page) {
	await clickLabel(page, 'User Settings');
	await el(page, {text: 'Log Out', selector: 'button', within: 'dialog'}, 8000);
}

// ---------------------------------------------------------------------------------------------
// State shared by the flows
// ---------------------------------------------------------------------------------------------
const S = {
	guildName: `Flux Test ${RID}`,
	chatName: 'chat',
	generalName: 'general',
	guildId: null,
	generalId: null,
	chatId: null,
	invite: null,
	msg: {},
};
const A = {
	key: 'A',
	email: `alice.${RID}@example.com`,
	username: `alice_${RID}`,
	display: `Alice ${RID}`,
	password: PASSWORD,
};
const B = {
	key: 'B',
	email: `bob.${RID}@example.com`,
	username: `bob_${RID}`,
	display: `Bob ${RID}`,
	password: PASSWORD,
};
const need = (cond, what) => {
	if (!cond) {
		const e = new Error(`skipped: needs ${what}`);
		e.skip = true;
		throw e;
	}
};

// ---------------------------------------------------------------------------------------------
// Flows
// ---------------------------------------------------------------------------------------------
const FLOWS = [];
const flow = (id, title, users, timeout, fn) => FLOWS.push({id, title, users, timeout, fn});

flow('register-a', 'Register A on /register', ['A'], 60000, async ({pa}) => {
	await registerOnPage(pa, A);
	return `${A.username} registered (id ${A.id}) and reached the app`;
});

flow('register-b', 'Register B on /register', ['B'], 60000, async ({pb}) => {
	await registerOnPage(pb, B);
	return `${B.username} registered (id ${B.id}) and reached the app`;
});

flow('logout-login-a', 'A logs out and back in', ['A'], 50000, async ({pa}) => {
	need(A.token, 'A registered');
	await openUserSettings(pa);
	await click(pa, {text: 'Log Out', selector: 'button', within: 'dialog'});
	await click(pa, {text: 'Hit 88mph', selector: 'button', within: 'dialog'}, 5000);
	const email = await css(pa, 'input[name=email]', 15000);
	await typeInto(email, A.email);
	await typeInto(await css(pa, 'input[name=password]'), A.password);
	await (await css(pa, 'form button[type=submit]:not([disabled])')).click();
	await waitAppReady(pa, 30000);
	A.token = await tokenOf(pa);
	return 'logged out via User Settings > Log Out, logged in on /login';
});

flow('create-guild', 'A creates a guild', ['A'], 30000, async ({pa, notes}) => {
	need(A.token, 'A registered');
	await clickLabel(pa, 'Add a Community');
	await click(pa, {text: 'Create Community', selector: 'button', within: 'dialog'});
	const name = await css(pa, '[role=dialog] input[name=name]');
	await typeInto(name, S.guildName, {clear: true});
	await click(pa, {text: 'Create Community', selector: 'button:not([disabled])', within: 'dialog'});
	await waitFn(pa, 'URL of the new guild', () => /^\/channels\/\d+\/\d+/.test(location.pathname), null, 15000);
	const [, gid, cid] = new URL(pa.url()).pathname.match(/^\/channels\/(\d+)\/(\d+)/);
	S.guildId = gid;
	S.generalId = cid;
	await css(pa, 'textarea[placeholder^="Message #"]', 10000);
	S.generalName = await pa.$eval('textarea[placeholder^="Message #"]', (t) => t.placeholder.slice('Message #'.length));
	const inRail = await el(pa, guildItem(), 8000).then(
		() => true,
		() => false,
	);
	if (!inRail) throw new Error(`guild ${gid} created and opened (#${S.generalName}) but it is missing from the guild rail`);
	return `guild ${gid} created, opened #${S.generalName}, listed in the rail`;
});

flow('create-channel', 'A creates a text channel', ['A'], 30000, async ({pa}) => {
	need(S.guildId, 'a guild');
	await escape(pa);
	await click(pa, guildHeader());
	await click(pa, {text: 'Create Channel', textOnly: true, selector: 'button', within: 'popout'}, 5000);
	const name = await css(pa, '[role=dialog] input[placeholder="new-channel"]');
	await typeInto(name, S.chatName, {clear: true});
	await click(pa, {text: 'Create Channel', selector: 'button[type=submit]', within: 'dialog'});
	await click(pa, channelItem(S.chatName), 10000);
	await css(pa, composer(S.chatName), 10000);
	S.chatId = new URL(pa.url()).pathname.split('/')[3];
	return `#${S.chatName} (${S.chatId}) created and opened`;
});

flow('create-invite', 'A creates an invite', ['A'], 30000, async ({pa}) => {
	need(S.guildId, 'a guild');
	await escape(pa);
	await click(pa, guildHeader());
	await click(pa, {text: 'Invite Members', textOnly: true, selector: 'button', within: 'popout'}, 5000);
	const h = await waitFn(
		pa,
		'an invite link in the Invite modal',
		() => {
			const i = document.querySelector('[role=dialog] input[placeholder="Invite link"]');
			return i && /\/[A-Za-z0-9]{4,}$/.test(i.value) ? i.value : null;
		},
		null,
		15000,
	);
	const link = await h.jsonValue();
	S.invite = link.split('/').pop();
	await escape(pa);
	return `invite link ${link}`;
});

flow('join-invite', 'B opens /invite/CODE and joins', ['B', 'A'], 40000, async ({pb}) => {
	need(S.invite && B.token, 'an invite and B registered');
	await pb.goto(`${ORIGIN}/invite/${S.invite}`, {waitUntil: 'domcontentloaded'});
	await click(pb, {text: 'Join Community', selector: 'button', within: 'dialog'}, 30000);
	await waitFn(pb, `B inside guild ${S.guildId}`, (gid) => location.pathname.startsWith(`/channels/${gid}`), S.guildId, 15000);
	const rail = await el(pb, guildItem(), 8000).then(
		() => true,
		() => false,
	);
	if (!rail) throw new Error('joined (B was taken into the guild) but the guild is missing from B\'s guild rail');
	return `B joined ${S.guildName}; guild listed in B's rail`;
});

async function bothInChat(pa, pb, notes) {
	need(S.chatId, 'the chat channel');
	await escape(pa, 1);
	await escape(pb, 1);
	await openChannel(pa, S.chatName, notes);
	await openChannel(pb, S.chatName, notes);
}

flow('chat-send', 'Live chat: A sends, B receives', ['A', 'B'], 30000, async ({pa, pb, notes}) => {
	await bothInChat(pa, pb, notes);
	S.msg.hello = `hello from Alice ${RID}`;
	await send(pa, S.chatName, S.msg.hello);
	await article(pb, S.msg.hello, 10000);
	return 'B saw A\'s message live';
});

flow('chat-typing', 'Typing indicator seen by the other', ['A', 'B'], 25000, async ({pa, pb, notes}) => {
	await bothInChat(pa, pb, notes);
	const ta = await css(pb, composer(S.chatName));
	await ta.click();
	await pb.keyboard.type('typing something', {delay: 60});
	try {
		await waitText(pa, 'is typing', 10000);
		const txt = await pa.evaluate(() => {
			const m = document.body.innerText.match(/[^\n]*is typing[^\n]*/);
			return m ? m[0] : '';
		});
		return `A saw "${trunc(txt, 80)}"`;
	} finally {
		await ta.click({count: 3}).catch(() => {});
		await pb.keyboard.down('Control').catch(() => {});
		await pb.keyboard.press('a').catch(() => {});
		await pb.keyboard.up('Control').catch(() => {});
		await pb.keyboard.press('Backspace').catch(() => {});
	}
});

flow('chat-reply', 'B replies to A', ['B', 'A'], 30000, async ({pa, pb, notes}) => {
	need(S.msg.hello, 'A\'s first message');
	await bothInChat(pa, pb, notes);
	await messageAction(pb, S.msg.hello, 'Reply');
	await waitText(pb, 'Replying to', 5000);
	S.msg.reply = `reply from Bob ${RID} searchword${RID}`;
	const ta = await css(pb, composer(S.chatName));
	await ta.click();
	await pb.keyboard.type(S.msg.reply, {delay: 8});
	await pb.keyboard.press('Enter');
	const art = await article(pa, S.msg.reply, 10000);
	const quotes = await art.evaluate((a, t) => a.innerText.includes(t), S.msg.hello.slice(0, 16));
	if (!quotes) throw new Error('A got the reply but it shows no preview of the replied-to message');
	return 'A saw B\'s reply with the quoted message';
});

flow('chat-edit', 'A edits a message', ['A', 'B'], 30000, async ({pa, pb, notes}) => {
	need(S.msg.hello, 'A\'s first message');
	await bothInChat(pa, pb, notes);
	await messageAction(pa, S.msg.hello, 'Edit Message');
	const edit = await css(pa, '[role=article] textarea', 5000);
	await edit.click();
	await pa.keyboard.down('Control');
	await pa.keyboard.press('a');
	await pa.keyboard.up('Control');
	S.msg.edited = `edited hello ${RID}`;
	await pa.keyboard.type(S.msg.edited, {delay: 8});
	await pa.keyboard.press('Enter');
	const art = await article(pb, S.msg.edited, 10000);
	const marked = await art.evaluate((a) => a.innerText.includes('(edited)'));
	return `B saw the new content${marked ? ' marked (edited)' : ' (no "(edited)" mark)'}`;
});

flow('chat-react', 'B reacts to A\'s message', ['B', 'A'], 30000, async ({pa, pb, notes}) => {
	const target = S.msg.edited ?? S.msg.hello;
	need(target, 'A\'s message');
	await bothInChat(pa, pb, notes);
	await messageAction(pb, target, 'Add Reaction');
	const search = await css(pb, 'input[placeholder="Find the emoji of your dreams"]', 5000).catch(() =>
		css(pb, '[role=dialog] input', 2000),
	);
	await search.type('thumbsup', {delay: 20});
	await sleep(300);
	await pb.keyboard.press('Enter');
	await escape(pb, 1);
	await waitFn(
		pa,
		'a reaction on the message',
		(t) => {
			// a reaction pill: "<emoji>: 1 reaction, press to add reaction"
			const a = window.__fx.article(t);
			return a && [...a.querySelectorAll('button[aria-label]')].some((e) => /: 1 reaction\b/.test(e.getAttribute('aria-label')));
		},
		target,
		10000,
	).catch(async (e) => {
		const seen = await pa.evaluate((t) => {
			const a = window.__fx.article(t);
			if (!a) return 'message not found';
			const pills = [...a.querySelectorAll('button[aria-label*="reaction"]')].map((b) => `${b.getAttribute('aria-label')}=${JSON.stringify(b.innerText)}`);
			const box = a.querySelector('[class*="MessageReactions.module__"]');
			return `pills: ${pills.join(', ') || 'none'}; text: ${a.innerText.replace(/\s+/g, ' ').slice(0, 120)}; html: ${box?.outerHTML.slice(0, 700)}`;
		}, target);
		throw new Error(`${e.message} (${seen})`);
	});
	return 'A saw B\'s reaction (picker search "thumbsup")';
});

flow('chat-delete', 'A deletes a message', ['A', 'B'], 30000, async ({pa, pb, notes}) => {
	await bothInChat(pa, pb, notes);
	S.msg.doomed = `delete me ${RID}`;
	await send(pa, S.chatName, S.msg.doomed);
	await article(pb, S.msg.doomed, 10000);
	await messageMenu(pa, S.msg.doomed, 'Delete Message');
	await click(pa, {text: 'Delete', selector: 'button', within: 'dialog'}, 5000);
	await waitFn(pb, 'the message disappearing', (t) => !window.__fx.article(t), S.msg.doomed, 10000);
	return 'deleted via More > Delete Message; gone on B\'s side';
});

flow('chat-upload', 'A uploads a PNG, B sees it rendered', ['A', 'B'], 45000, async ({pa, pb, notes}) => {
	await bothInChat(pa, pb, notes);
	const file = path.join(OUT, 'upload-test.png');
	fs.writeFileSync(file, makePng());
	const caption = `picture ${RID}`;
	const ta = await css(pa, composer(S.chatName));
	await ta.click();
	await pa.keyboard.type(caption, {delay: 8});
	let attached = false;
	try {
		const [chooser] = await Promise.all([
			pa.waitForFileChooser({timeout: 6000}),
			(async () => {
				await clickLabel(pa, 'Open menu');
				await click(pa, {text: 'Upload File', selector: '[role=menuitem],button,[role=button]'}, 4000);
			})(),
		]);
		await chooser.accept([file]);
		attached = true;
	} catch (e) {
		notes.push(`file chooser path failed (${trunc(e.message, 80)}); pasted the file instead`);
	}
	if (!attached) {
		const b64 = fs.readFileSync(file).toString('base64');
		await pa.evaluate(
			(b64, sel) => {
				const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
				const dt = new DataTransfer();
				dt.items.add(new File([bytes], 'upload-test.png', {type: 'image/png'}));
				document.querySelector(sel).dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}));
			},
			b64,
			composer(S.chatName),
		);
	}
	await waitText(pa, 'upload-test.png', 8000).catch(() => notes.push('attachment preview not seen before sending'));
	await ta.click();
	await pa.keyboard.press('Enter');
	await article(pa, caption, 15000);
	await waitFn(
		pb,
		'the uploaded image rendered for B',
		(t) => {
			const a = window.__fx.article(t);
			return a && [...a.querySelectorAll('img')].some((i) => i.complete && i.naturalWidth >= 16 && !/avatar|emoji/i.test(i.src));
		},
		caption,
		20000,
	);
	const src = await pb.evaluate((t) => {
		const a = window.__fx.article(t);
		return [...a.querySelectorAll('img')].find((i) => i.naturalWidth >= 16 && !/avatar|emoji/i.test(i.src))?.src;
	}, caption);
	return `B saw the PNG rendered (${trunc(src?.replace(ORIGIN, ''), 70)})`;
});

// ---------------------------------------------------------------------------------------------
// Custom emojis, stickers and link previews. The emoji and the sticker are created through REST
// (setup: the app's upload forms need a file dialog and an image cropper); using them is the UI step.
// ---------------------------------------------------------------------------------------------
const dataUri = (png) => `data:image/png;base64,${png.toString('base64')}`;

// Status, type and size of a media URL (verification only).
async function mediaCheck(url) {
	try {
		const r = await fetch(url);
		const buf = Buffer.from(await r.arrayBuffer());
		return `${r.status} ${r.headers.get('content-type') ?? '-'} ${buf.length}B`;
	} catch (e) {
		return `fetch failed: ${e.message}`;
	}
}

// A clickable (picker option, autocomplete row, button) holding a visible image whose src contains
// `part`, outside the messages.
async function imgOption(page, part, timeout = 8000) {
	const h = await waitFn(
		page,
		`an option showing ${part}`,
		(part) => {
			for (const img of document.querySelectorAll('img')) {
				if (!img.src.includes(part) || !window.__fx.visible(img) || img.closest('[role=article]')) continue;
				const b = img.closest('[role=option],button,[role=button]');
				if (b && window.__fx.visible(b)) return b;
			}
			return null;
		},
		part,
		timeout,
	);
	return h.asElement();
}

// What a message shows, for a failure message: its text and its images.
async function messageDiag(page, text) {
	return page.evaluate((t) => {
		const a = window.__fx.article(t);
		if (!a) return 'message not found';
		const imgs = window.__fx
			.imgs(a, '')
			.filter((i) => !/avatar/.test(i.src))
			.map((i) => `${i.src.replace(location.origin, '')}${i.loaded ? '' : ' (not loaded)'} alt=${JSON.stringify(i.alt)}`);
		return `text ${JSON.stringify(window.__fx.ownText(a).slice(0, 160))}; images: ${imgs.join(', ') || 'none'}`;
	}, text);
}

const gwSeen = (user, name, since) => gwLog.filter((g) => g.user === user && g.name === name && g.t >= since);

// Empties the composer (Ctrl+A only once the textarea has the focus: elsewhere it selects the page).
// Right after a load the channel view may re-render under the click: query and click again.
async function clearComposer(page, channelName) {
	const sel = composer(channelName);
	let ta;
	for (let attempt = 1; ; attempt++) {
		ta = await css(page, sel);
		await ta.click();
		const focused = await waitFn(page, 'the composer focused', (sel) => document.activeElement === document.querySelector(sel), sel, 2000).then(
			() => true,
			(e) => {
				if (attempt >= 3) throw e;
				return false;
			},
		);
		if (focused) break;
		await sleep(500);
	}
	if (await ta.evaluate((t) => t.value.length > 0)) {
		await page.keyboard.down('Control');
		await page.keyboard.press('a');
		await page.keyboard.up('Control');
		await page.keyboard.press('Backspace');
	}
	return ta;
}

// Opens a tab of the composer's expression picker (its buttons carry data-expression-picker-tab) and
// returns the picker's search input; a click landing while the app settles is retried.
async function openPicker(page, tab, placeholder) {
	for (let attempt = 1; ; attempt++) {
		await click(page, {selector: `button[data-expression-picker-tab="${tab}"]`}, 5000);
		const input = await css(page, `input[placeholder="${placeholder}"]`, 4000).catch((e) => {
			if (attempt >= 3) throw e;
			return null;
		});
		if (input) return input;
		await escape(page, 1);
		await sleep(500);
	}
}

flow('emoji-custom', 'Custom emoji: A picks it in the emoji picker, both see the image', ['A', 'B'], 60000, async ({pa, pb, notes}) => {
	need(S.guildId && S.chatId && A.token, 'the chat channel');
	const since = Date.now();
	S.emojiName = `fx${RID}`;
	const em = await api(A.token, 'POST', `/guilds/${S.guildId}/emojis`, {name: S.emojiName, image: dataUri(makePng(64, 64))});
	S.emojiId = em.id;
	const part = `/emojis/${em.id}`;
	notes.push(
		`setup via REST: emoji :${em.name}: ${em.id} (animated ${em.animated}); GET /media${part}.webp?size=48 -> ${await mediaCheck(`${ORIGIN}/media${part}.webp?size=48`)}`,
	);
	await bothInChat(pa, pb, notes);
	S.msg.emoji = `custom emoji ${RID}`;
	const ta = await clearComposer(pa, S.chatName);
	await pa.keyboard.type(`${S.msg.emoji} `, {delay: 8});
	let via = 'the emoji picker (composer button, search, click)';
	try {
		const search = await openPicker(pa, 'emojis', 'Find the emoji of your dreams');
		await search.type(S.emojiName, {delay: 20});
		const opt = await imgOption(pa, part, 8000);
		await settle(opt);
		await opt.click();
	} catch (e) {
		if (String(e.message).includes('cancelled')) throw e;
		const upd = gwSeen('A', 'GUILD_EMOJIS_UPDATE', since).length;
		via = `the ":${S.emojiName}" autocomplete (picker failed: ${trunc(e.message, 100)}; A got ${upd} GUILD_EMOJIS_UPDATE)`;
		await escape(pa, 1);
		await ta.click();
		await pa.keyboard.press('End');
		await pa.keyboard.type(`:${S.emojiName}`, {delay: 20});
		const opt = await imgOption(pa, part, 6000).catch((e2) => {
			throw new Error(`${via}; autocomplete: ${e2.message}`);
		});
		await opt.click();
	}
	notes.push(`inserted via ${via}`);
	const typed = await waitFn(
		pa,
		`":${S.emojiName}:" in the composer`,
		({sel, n}) => {
			const v = document.querySelector(sel)?.value ?? '';
			return v.includes(`:${n}:`) ? v : null;
		},
		{sel: composer(S.chatName), n: S.emojiName},
		5000,
	);
	notes.push(`composer: ${JSON.stringify(await typed.jsonValue())}`);
	await ta.click();
	await pa.keyboard.press('End');
	await pa.keyboard.press('Enter');
	const shows = (page, who) =>
		waitFn(
			page,
			`the custom emoji image loaded in the message (${who})`,
			({t, part}) => {
				const a = window.__fx.article(t);
				return a && window.__fx.imgs(a, part).some((i) => i.loaded);
			},
			{t: S.msg.emoji, part},
			12000,
		).catch(async (e) => {
			throw new Error(`${e.message}: ${await messageDiag(page, S.msg.emoji)}`);
		});
	await shows(pa, 'A');
	await shows(pb, 'B');
	const src = await pb.evaluate(({t, part}) => window.__fx.imgs(window.__fx.article(t), part)[0]?.src, {t: S.msg.emoji, part});
	S.emojiMsgOk = true;
	return `both see <img src=${trunc(src?.replace(ORIGIN, ''), 80)}> in the message`;
});

flow('emoji-react-custom', 'B reacts with the custom emoji; A sees it', ['B', 'A'], 40000, async ({pa, pb, notes}) => {
	need(S.emojiId && S.msg.emoji, 'the custom emoji of the previous flow');
	const target = S.emojiMsgOk ? S.msg.emoji : S.msg.edited ?? S.msg.hello;
	need(target, 'a message');
	if (!S.emojiMsgOk) notes.push(`reacting to "${target}" (the custom emoji message was not sent)`);
	await bothInChat(pa, pb, notes);
	const part = `/emojis/${S.emojiId}`;
	await messageAction(pb, target, 'Add Reaction');
	const search = await css(pb, 'input[placeholder="Find the emoji of your dreams"]', 5000);
	await search.type(S.emojiName, {delay: 20});
	const opt = await imgOption(pb, part, 8000);
	await settle(opt);
	await opt.click();
	await escape(pb, 1);
	const pill = (page, who) =>
		waitFn(
			page,
			`the custom emoji reaction (${who})`,
			({t, part, label}) => {
				const a = window.__fx.article(t);
				if (!a) return null;
				const b = [...a.querySelectorAll('button[aria-label]')].find(
					(b) => b.getAttribute('aria-label').startsWith(label) && window.__fx.imgs(b, part).some((i) => i.loaded),
				);
				return b ? b.getAttribute('aria-label') : null;
			},
			{t: target, part, label: `:${S.emojiName}:: 1 reaction`},
			10000,
		).catch(async (e) => {
			const pills = await page.evaluate((t) => {
				const a = window.__fx.article(t);
				return a
					? [...a.querySelectorAll('button[aria-label*="reaction"]')]
							.map((b) => `${b.getAttribute('aria-label')} ${JSON.stringify(window.__fx.imgs(b, ''))}`)
							.join(', ')
					: 'message not found';
			}, target);
			throw new Error(`${e.message}: reaction buttons: ${pills || 'none'}`);
		});
	const label = await (await pill(pa, 'A')).jsonValue();
	await pill(pb, 'B');
	return `A and B see the pill "${label}" with the emoji image`;
});

flow('sticker', 'Sticker: A sends it from the sticker picker, both see it', ['A', 'B'], 50000, async ({pa, pb, notes}) => {
	need(S.guildId && S.chatId && A.token, 'the chat channel');
	const since = Date.now();
	const name = `flux sticker ${RID}`;
	const st = await api(A.token, 'POST', `/guilds/${S.guildId}/stickers`, {
		name,
		description: 'a sticker of the web app test',
		tags: ['test'],
		image: dataUri(makePng(160, 160)),
	});
	S.stickerId = st.id;
	const part = `/stickers/${st.id}`;
	notes.push(
		`setup via REST: sticker "${st.name}" ${st.id}; GET /media${part}.webp?size=160 -> ${await mediaCheck(`${ORIGIN}/media${part}.webp?size=160`)}`,
	);
	await bothInChat(pa, pb, notes);
	// A sticker picked with an empty composer is sent at once (StickerSendUtils.handleStickerSelect).
	await clearComposer(pa, S.chatName);
	const button = await el(pa, {selector: 'button[data-expression-picker-tab="stickers"]'}, 5000).catch(() => null);
	if (!button) {
		const e = new Error('skipped: the composer has no Stickers button (AccessibilityStore.showStickersButton off?)');
		e.skip = true;
		throw e;
	}
	const search = await openPicker(pa, 'stickers', 'Find the perfect sticker');
	await search.type(name, {delay: 10});
	const opt = await imgOption(pa, part, 8000).catch(async (e) => {
		const upd = gwSeen('A', 'GUILD_STICKERS_UPDATE', since).map((g) => g.info);
		const shown = await pa.evaluate(() =>
			[...document.querySelectorAll('[role=option] img')].map((i) => i.src.replace(location.origin, '')).slice(0, 6).join(', '),
		);
		throw new Error(`${e.message}; A got GUILD_STICKERS_UPDATE ${JSON.stringify(upd)}; picker options: ${shown || 'none'}`);
	});
	await settle(opt);
	await opt.click();
	const shows = (page, who) =>
		waitFn(
			page,
			`a message with the sticker loaded (${who})`,
			(part) => {
				const a = window.__fx.articleWithImg(part);
				return a && /^\d+$/.test(a.getAttribute('data-message-id')) && window.__fx.imgs(a, part).some((i) => i.loaded)
					? a.getAttribute('data-message-id')
					: null;
			},
			part,
			12000,
		).catch(async (e) => {
			const seen = await page.evaluate((part) => {
				const a = window.__fx.articleWithImg(part);
				return a ? JSON.stringify(window.__fx.imgs(a, part)) : 'no message with the sticker image';
			}, part);
			throw new Error(`${e.message}: ${seen}`);
		});
	await shows(pa, 'A');
	const mid = await (await shows(pb, 'B')).jsonValue();
	let wire = '';
	try {
		const m = await api(A.token, 'GET', `/channels/${S.chatId}/messages/${mid}`);
		wire = `; REST message ${mid} stickers=${JSON.stringify(m.stickers)}`;
	} catch (e) {
		wire = `; ${trunc(e.message, 120)}`;
	}
	return `sent by clicking it in the sticker picker; both see <img ${part}.webp>${wire}`;
});

// A tiny site with OpenGraph tags, on 127.0.0.1 (the server under test allows it through
// services.media_proxy.allow_addresses), started once.
let previewSite = null;
async function startPreviewSite() {
	if (previewSite) return previewSite;
	const png = makePng(120, 80);
	const hits = [];
	const server = http.createServer((req, res) => {
		hits.push(`${req.method} ${req.url} (${trunc(req.headers['user-agent'] ?? '-', 40)})`);
		if (req.url.startsWith('/og.png')) {
			res.writeHead(200, {'Content-Type': 'image/png', 'Content-Length': png.length});
			res.end(req.method === 'HEAD' ? undefined : png);
			return;
		}
		if (req.url.startsWith('/article')) {
			const origin = `http://127.0.0.1:${server.address().port}`;
			const html = `<!doctype html><html><head><meta charset="utf-8"><title>Preview page ${RID}</title>
<meta property="og:title" content="Preview title ${RID}">
<meta property="og:description" content="Preview description ${RID}: a page served by the web app test.">
<meta property="og:site_name" content="Flux Test Site">
<meta property="og:image" content="${origin}/og.png?r=${RID}">
<meta property="og:image:width" content="120"><meta property="og:image:height" content="80">
</head><body><p>hello</p></body></html>`;
			res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'});
			res.end(req.method === 'HEAD' ? undefined : html);
			return;
		}
		res.writeHead(404, {'Content-Type': 'text/plain'});
		res.end('not found');
	});
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	previewSite = {server, hits, origin: `http://127.0.0.1:${server.address().port}`};
	return previewSite;
}

flow('link-preview', 'Link preview: A posts a URL, both see the embed', ['A', 'B'], 60000, async ({pa, pb, notes}) => {
	need(S.chatId && A.token, 'the chat channel');
	const site = await startPreviewSite();
	const url = `${site.origin}/article-${RID}`;
	const title = `Preview title ${RID}`;
	await bothInChat(pa, pb, notes);
	await clearComposer(pa, S.chatName);
	S.msg.link = `have a look ${RID} ${url}`;
	await send(pa, S.chatName, S.msg.link);
	const sent = Date.now();
	// The embed is an <article> (Embed.tsx) inside the message; its thumbnail comes through the media
	// proxy (proxy_url under /media/external/).
	const shows = (page, who, timeout) =>
		waitFn(
			page,
			`the link embed with its title and a loaded /media/external/ image (${who})`,
			({t, title}) => {
				const a = window.__fx.article(t);
				if (!a) return null;
				const embed = [...a.querySelectorAll('article')].find((e) => e.innerText.includes(title));
				const img = embed && window.__fx.imgs(embed, '/media/external/').find((i) => i.loaded);
				return img ? img.src : null;
			},
			{t: S.msg.link, title},
			timeout,
		).catch(async (e) => {
			const seen = await page.evaluate(
				({t, title}) => {
					const a = window.__fx.article(t);
					if (!a) return 'message not found';
					const embeds = [...a.querySelectorAll('article')];
					return `${embeds.length} embed(s)${embeds.length ? `: ${JSON.stringify(embeds[0].innerText.slice(0, 120))}` : ''}; title shown: ${a.innerText.includes(title)}; images: ${JSON.stringify(window.__fx.imgs(a, '').filter((i) => !/avatar/.test(i.src)))}`;
				},
				{t: S.msg.link, title},
			);
			const upd = gwLog.filter((g) => g.user === page.__user && g.name === 'MESSAGE_UPDATE' && g.t >= sent - 2000).map((g) => g.info ?? 'no embeds');
			throw new Error(`${e.message}: ${seen}; MESSAGE_UPDATE to ${page.__user}: ${upd.join(' | ') || 'none'}; site hits: ${site.hits.join(', ') || 'none'}`);
		});
	const src = await (await shows(pa, 'A', 10000)).jsonValue();
	const secs = ((Date.now() - sent) / 1000).toFixed(1);
	await shows(pb, 'B', 5000);
	notes.push(`site hits: ${site.hits.join(', ')}`);
	if (site.hits.some((h) => /Chrome/.test(h))) notes.push('the browser fetched the site itself, not through the media proxy');
	return `embed "${title}" shown to both ${secs}s after sending; thumbnail ${trunc(src.replace(ORIGIN, ''), 90)}`;
});

// After a reload the app knows the guild's emojis and stickers only from the guild payloads of the
// new session (GUILD_CREATE / READY), not from the *_UPDATE events of the old one.
flow('expressions-reload', 'After a reload A\'s pickers still list the emoji and the sticker', ['A'], 45000, async ({pa, notes}) => {
	need(S.emojiId || S.stickerId, 'the custom emoji or the sticker');
	await escape(pa);
	const since = Date.now();
	await pa.reload({waitUntil: 'domcontentloaded'});
	await waitAppReady(pa);
	await openChannel(pa, S.chatName, notes);
	const guild = gwLog.filter((g) => g.user === 'A' && g.t >= since && /^(READY|GUILD_CREATE)$/.test(g.name)).map((g) => `${g.name} ${g.info}`);
	notes.push(`A's guild payloads after the reload: ${trunc(guild.join(' | '), 200)}`);
	const found = [];
	if (S.emojiId) {
		await clearComposer(pa, S.chatName);
		const search = await openPicker(pa, 'emojis', 'Find the emoji of your dreams');
		await search.type(S.emojiName, {delay: 20});
		await imgOption(pa, `/emojis/${S.emojiId}`, 8000);
		found.push(`:${S.emojiName}: in the emoji picker`);
		await escape(pa, 2);
		if (S.emojiMsgOk) {
			await waitFn(
				pa,
				'the custom emoji in the earlier message',
				({t, part}) => {
					const a = window.__fx.article(t);
					return a && window.__fx.imgs(a, part).some((i) => i.loaded);
				},
				{t: S.msg.emoji, part: `/emojis/${S.emojiId}`},
				8000,
			);
			found.push('its image in the earlier message');
		}
	}
	if (S.stickerId) {
		await clearComposer(pa, S.chatName);
		const search = await openPicker(pa, 'stickers', 'Find the perfect sticker');
		await search.type(`flux sticker ${RID}`, {delay: 10});
		await imgOption(pa, `/stickers/${S.stickerId}`, 8000);
		found.push('the sticker in the sticker picker');
		await escape(pa, 2);
	}
	return found.join('; ');
});

flow('unread-badge', 'Unread indicator for the other channel', ['B', 'A'], 30000, async ({pa, pb, notes}) => {
	need(S.chatId && S.generalId, 'two channels');
	await escape(pb, 1);
	await openChannel(pb, S.generalName, notes);
	await openChannel(pa, S.chatName, notes);
	S.msg.unread = `while you were away ${RID}`;
	await send(pa, S.chatName, S.msg.unread);
	await waitFn(
		pb,
		'an unread indicator on #chat',
		(cid) => {
			const e = document.querySelector(`[data-scroll-id="channel-${cid}"]`);
			return (
				(e && /unread|mention/.test(e.getAttribute('data-scroll-indicator') || '')) ||
				!!document.querySelector(`[data-scroll-id="channel-${cid}"] [class*="__unreadIndicator___"]`)
			);
		},
		S.chatId,
		10000,
	);
	await click(pb, channelItem(S.chatName));
	await article(pb, S.msg.unread, 8000);
	return 'B (in #general) saw #chat marked unread, opened it and found the message';
});

flow('member-list', 'Member list: both members, presence, role', ['A'], 40000, async ({pa, pb, notes}) => {
	need(S.guildId && A.id && B.id, 'a guild with both users');
	// Setup (REST, not the step under test): a hoisted role given to B, so the list has a role group.
	const roleName = 'Testers';
	try {
		const role = await api(A.token, 'POST', `/guilds/${S.guildId}/roles`, {name: roleName, color: 0x3498db});
		await api(A.token, 'PATCH', `/guilds/${S.guildId}/roles/${role.id}`, {hoist: true});
		await api(A.token, 'PUT', `/guilds/${S.guildId}/members/${B.id}/roles/${role.id}`);
		notes.push(`setup via REST: hoisted role "${roleName}" given to B`);
	} catch (e) {
		notes.push(`role setup via REST failed: ${trunc(e.message, 120)}`);
	}
	await openChannel(pa, S.chatName, notes);
	const list = '[class*="__memberListContainer___"]';
	await css(pa, list, 8000).catch(async () => {
		await clickLabel(pa, 'Show Members', {timeout: 3000}).catch(() => {});
		await css(pa, list, 5000);
	});
	let snap;
	try {
		await waitFn(
			pa,
			'both members in the member list',
			({list, names}) => {
				const l = document.querySelector(list);
				return l && names.every((n) => l.innerText.includes(n));
			},
			{list, names: [A.display, B.display]},
			15000,
		);
		// the role group follows the role change (a member list update), a moment after the names
		await waitFn(
			pa,
			`a "${roleName}" group in the member list`,
			({list, roleName}) => (document.querySelector(list)?.innerText.match(/^.+ — \d+$/gm) || []).some((g) => g.trim().startsWith(roleName)),
			{list, roleName},
			8000,
		).catch(() => {});
	} finally {
		snap = await pa.evaluate(
			({list, names}) => {
				const l = document.querySelector(list);
				if (!l) return null;
				const groups = (l.innerText.match(/^.+ — \d+$/gm) || []).map((s) => s.trim());
				const status = {};
				for (const n of names) {
					const btn = [...l.querySelectorAll('button')].find((b) => b.innerText.includes(n));
					const lab = btn && [...btn.querySelectorAll('[aria-label]')].map((e) => e.getAttribute('aria-label')).find((s) => /, /.test(s));
					status[n] = lab ? lab.split(', ').pop() : btn ? 'no status label' : 'absent';
				}
				return {groups, status, text: l.innerText.slice(0, 300)};
			},
			{list, names: [A.display, B.display]},
		);
	}
	const desc = `groups [${snap?.groups.join('; ')}]; ${A.display}: ${snap?.status[A.display]}; ${B.display}: ${snap?.status[B.display]}`;
	const offline = Object.values(snap?.status ?? {}).some((s) => !/online/i.test(s));
	const roleGroup = snap?.groups.some((g) => g.startsWith(roleName));
	if (offline || !roleGroup) throw new Error(`member list incomplete: ${desc}`);
	return desc;
});

const DM_ITEM = 'button:not([data-guild-list-focus-item]),[role=button]:not([data-guild-list-focus-item])';
flow('dm', 'A opens a DM with B and B sees it', ['A', 'B'], 45000, async ({pa, pb, notes}) => {
	need(S.chatId && B.id, 'the chat channel and B');
	await escape(pa);
	await openChannel(pa, S.chatName, notes);
	// From the member list (right click > Message), else from B's name on a message (popout > Message).
	let opened = false;
	const member = await el(pa, {text: B.display, exact: false, selector: '[class*="__memberListContainer___"] button'}, 4000).catch(() => null);
	if (member) {
		await member.click({button: 'right'});
		opened = await click(pa, {text: 'Message', selector: '[role=menuitem],button,[role=button]'}, 3000).then(
			() => true,
			() => false,
		);
		if (!opened) await escape(pa);
	}
	if (!opened) {
		notes.push('opened the DM from B\'s name on a message (member list entry unavailable)');
		await click(pa, {text: B.display, selector: `span[role=button][data-user-id="${B.id}"]`}, 5000);
		await click(pa, {text: 'Message', selector: 'button'}, 5000);
	}
	await waitFn(pa, 'a DM channel', () => /^\/channels\/@me\/\d+/.test(location.pathname), null, 10000);
	S.dmId = new URL(pa.url()).pathname.split('/')[3];
	const ta = await css(pa, 'textarea[placeholder^="Message @"]', 8000);
	S.msg.dm = `private hello ${RID}`;
	await ta.click();
	await pa.keyboard.type(S.msg.dm, {delay: 8});
	await pa.keyboard.press('Enter');
	await article(pa, S.msg.dm, 8000);
	// B: the DM shows up under Direct Messages without a reload.
	await escape(pb);
	await click(pb, {aria: true, text: 'Direct Messages', selector: '[aria-label]'});
	const entry = await el(pb, {text: A.display, exact: false, selector: DM_ITEM}, 10000).catch(() => null);
	if (!entry) {
		await pb.reload({waitUntil: 'domcontentloaded'});
		await waitAppReady(pb);
		await click(pb, {aria: true, text: 'Direct Messages', selector: '[aria-label]'});
		const later = await el(pb, {text: A.display, exact: false, selector: DM_ITEM}, 10000).catch(() => null);
		throw new Error(`the new DM did not appear in B's DM list live${later ? ' (it does after a reload)' : ' (nor after a reload)'}`);
	}
	await entry.click();
	await article(pb, S.msg.dm, 10000);
	notes.push(`A's status on B's DM (not friends yet, not checked): ${(await statusesOf(pb, A)).join(', ') || 'none'}`);
	return `DM ${S.dmId}: B saw it live in the DM list and read the message`;
});

// The statuses the visible avatars of `user` show ("<tag>, <status>" aria-labels), with a count each.
async function statusesOf(page, user) {
	const all = await page.evaluate((prefix) => {
		const out = [];
		for (const e of document.querySelectorAll('[aria-label]')) {
			const l = e.getAttribute('aria-label');
			if (l.startsWith(prefix) && l.includes(', ') && window.__fx.visible(e)) out.push(l.split(', ').pop());
		}
		return out;
	}, `${user.username}#`);
	const count = {};
	for (const st of all) count[st] = (count[st] ?? 0) + 1;
	return Object.entries(count).map(([st, n]) => `${st}×${n}`);
}

flow('friends', 'A sends B a friend request, B accepts', ['A', 'B'], 45000, async ({pa, pb, notes}) => {
	need(A.token && B.token, 'both users');
	const me = await api(B.token, 'GET', '/users/@me');
	const tag = `${me.username}#${me.discriminator}`;
	const meA = await api(A.token, 'GET', '/users/@me');
	const tagA = `${meA.username}#${meA.discriminator}`;
	notes.push(`FluxerTags ${tagA} / ${tag} read via REST (setup)`);
	await escape(pa);
	await click(pa, {aria: true, text: 'Direct Messages', selector: '[aria-label]'});
	await click(pa, {regex: '^Friends( \\d+)?$', textOnly: true}, 8000);
	await click(pa, {text: 'Add Friend', selector: '[role=tab]'}, 8000);
	const input = await css(pa, 'input[aria-label="Friend\'s FluxerTag"]', 5000);
	await typeInto(input, tag);
	await click(pa, {text: 'Send Request', selector: 'button:not([disabled])'}, 5000);
	await waitText(pa, 'Friend request sent!', 8000);
	await escape(pb);
	await click(pb, {aria: true, text: 'Direct Messages', selector: '[aria-label]'});
	await click(pb, {regex: '^Friends( \\d+)?$', textOnly: true}, 8000);
	await click(pb, {regex: '^Pending', selector: '[role=tab]'}, 8000);
	// A friend row shows the FluxerTag (the DM list does not) and holds the action buttons.
	const item = await el(pb, {text: tagA, exact: false, textOnly: true, selector: '[role=button]', has: 'button'}, 10000);
	const accept = await item.$('button');
	await accept.click();
	await click(pa, {regex: '^All', selector: '[role=tab]'}, 5000);
	await el(pa, {text: tag, exact: false, textOnly: true, selector: '[role=button]', has: 'button'}, 10000);
	const status = await pa.evaluate((n) => {
		const b = [...document.querySelectorAll('[role=button]')].find((e) => e.innerText.includes(n) && e.querySelector('button'));
		return b ? b.innerText.replace(/\s+/g, ' ').slice(0, 80) : '';
	}, tag);
	S.friends = true;
	return `friends on both sides; A's list shows "${status}"`;
});

// Upstream subscribes a session to the global presence of friends and group-DM recipients (plus the
// member list's own presence data), so a friend's status is what every avatar of them must show.
flow('presence', 'B sees its new friend A online in the DM', ['B'], 30000, async ({pb, notes}) => {
	need(S.dmId && S.friends, 'the DM and the friendship of the previous flows');
	await escape(pb);
	await click(pb, {aria: true, text: 'Direct Messages', selector: '[aria-label]'});
	await click(pb, {text: A.display, exact: false, selector: DM_ITEM}, 8000);
	let seen = [];
	const presenceEvents = () =>
		gwLog
			.filter((g) => g.user === 'B' && g.info && /READY|GUILD_CREATE|GUILD_SYNC|PRESENCE_UPDATE/.test(g.name))
			.map((g) => `${g.name} ${g.info}`)
			.join(' | ');
	try {
		await waitFn(
			pb,
			'A shown Online',
			(prefix) =>
				[...document.querySelectorAll('[aria-label]')].some(
					(e) => e.getAttribute('aria-label').startsWith(prefix) && /, Online$/.test(e.getAttribute('aria-label')),
				),
			`${A.username}#`,
			8000,
		);
	} catch (e) {
		seen = await statusesOf(pb, A);
		throw new Error(
			`${e.message}: A's avatars on B's page show ${seen.join(', ') || 'no status'}; presence data B received so far: ${presenceEvents()}`,
		);
	}
	seen = await statusesOf(pb, A);
	return `A's avatars on B's page: ${seen.join(', ')}`;
});

flow('settings-persist', 'A changes the theme; it persists after reload', ['A'], 50000, async ({pa, notes}) => {
	need(A.token, 'A');
	await escape(pa);
	await openUserSettings(pa);
	await click(pa, {text: 'Look & Feel', selector: '[role=tab]', within: 'dialog'});
	const light = {aria: true, text: 'Light Theme', selector: '[role=radio]'};
	await click(pa, light, 8000);
	await waitFn(pa, 'Light Theme selected', () => document.querySelector('[role=radio][aria-label="Light Theme"]')?.getAttribute('aria-checked') === 'true', null, 8000);
	await sleep(800);
	await escape(pa);
	await pa.reload({waitUntil: 'domcontentloaded'});
	await waitAppReady(pa);
	await openUserSettings(pa);
	await click(pa, {text: 'Look & Feel', selector: '[role=tab]', within: 'dialog'});
	const checked = await (await el(pa, light, 8000)).evaluate((e) => e.getAttribute('aria-checked'));
	await escape(pa);
	let server = 'unknown';
	try {
		server = (await api(A.token, 'GET', '/users/@me/settings'))?.theme;
	} catch (e) {
		server = trunc(e.message, 100);
	}
	notes.push(`server settings theme (verified via REST): ${server}`);
	if (checked !== 'true' || server !== 'light') throw new Error(`after reload Light Theme aria-checked=${checked}; server theme=${server}`);
	return 'Light theme kept after reload and stored on the server';
});

flow('reload', 'After a reload A still has its guild and its DM', ['A'], 40000, async ({pa}) => {
	need(S.guildId, 'a guild');
	await escape(pa);
	await pa.reload({waitUntil: 'domcontentloaded'});
	await waitAppReady(pa);
	const missing = [];
	if (!(await el(pa, guildItem(), 8000).catch(() => null))) missing.push('guild missing from the rail');
	if (S.dmId) {
		await click(pa, {aria: true, text: 'Direct Messages', selector: '[aria-label]'});
		if (!(await el(pa, {text: B.display, exact: false, selector: DM_ITEM}, 8000).catch(() => null))) missing.push('DM with B missing from the DM list');
	}
	if (missing.length) throw new Error(missing.join('; '));
	return 'guild in the rail and DM in the DM list after a reload';
});

flow('search', 'Search finds a sent message', ['A'], 30000, async ({pa, notes}) => {
	need(S.msg.reply, 'B\'s reply message');
	await escape(pa);
	await openChannel(pa, S.chatName, notes);
	const q = `searchword${RID}`;
	const input = await css(pa, 'input[placeholder="Search messages"]', 8000);
	await input.click();
	await pa.keyboard.type(q, {delay: 15});
	await pa.keyboard.press('Enter');
	await waitFn(pa, 'a search result', () => /\b[1-9]\d* Results?\b/.test(document.body.innerText), null, 15000).catch(async (e) => {
		const none = await pa.evaluate(() => /No Results|Indexing Channel|Error/.exec(document.body.innerText)?.[0]);
		throw new Error(none ? `search panel says "${none}"` : e.message);
	});
	const n = await pa.evaluate(() => document.body.innerText.match(/\b([1-9]\d*) Results?\b/)?.[0]);
	await escape(pa);
	return `"${q}": ${n}`;
});

flow('pins', 'Pin a message and see it in the pins popout', ['A'], 35000, async ({pa, pb, notes}) => {
	need(S.chatId, 'the chat channel');
	await escape(pa);
	await openChannel(pa, S.chatName, notes);
	S.msg.pin = `pin me ${RID}`;
	await send(pa, S.chatName, S.msg.pin);
	await messageMenu(pa, S.msg.pin, 'Pin Message');
	await click(pa, {text: 'Pin it real good', selector: 'button', within: 'dialog'}, 5000);
	await sleep(800);
	await clickLabel(pa, 'Pinned Messages');
	await waitFn(
		pa,
		'the message in the pins popout',
		(t) =>
			[...document.querySelectorAll('[role=dialog]')].some(
				(d) => d.innerText.includes('Pinned Messages') && d.innerText.includes(t),
			),
		S.msg.pin,
		10000,
	);
	await escape(pa);
	return 'pinned via More > Pin Message; listed in the Pinned Messages popout';
});

flow('leave-rejoin', 'B leaves the guild and rejoins via the invite', ['B'], 50000, async ({pb, notes}) => {
	need(S.invite, 'an invite');
	await escape(pb);
	await openChannel(pb, S.chatName, notes);
	await click(pb, guildHeader());
	await click(pb, {text: 'Leave Community', textOnly: true, selector: 'button', within: 'popout'}, 5000);
	await click(pb, {text: 'Leave Community', selector: 'button', within: 'dialog'}, 5000);
	await waitFn(pb, 'B out of the guild', (gid) => !location.pathname.startsWith(`/channels/${gid}`), S.guildId, 10000);
	const stillInRail = await pb.evaluate((o) => !!window.__fx.find(o), guildItem());
	if (stillInRail) notes.push('guild still in B\'s rail after leaving');
	await pb.goto(`${ORIGIN}/invite/${S.invite}`, {waitUntil: 'domcontentloaded'});
	await click(pb, {text: 'Join Community', selector: 'button', within: 'dialog'}, 30000);
	await waitFn(pb, `B back in guild ${S.guildId}`, (gid) => location.pathname.startsWith(`/channels/${gid}`), S.guildId, 15000);
	await openChannel(pb, S.chatName, notes);
	await article(pb, S.msg.pin ?? S.msg.reply ?? '', 10000).catch(() => notes.push('history not visible after rejoining'));
	return 'left via the guild menu, rejoined via /invite/CODE, history visible';
});

// Account flows: they change A's email and password, so they run last (logout-login-a uses the
// original password; both keep A.email and A.password current for anything after them).
async function openSecuritySettings(page) {
	await escape(page);
	await openUserSettings(page);
	await click(page, {text: 'Security & Login', selector: '[role=tab]', within: 'dialog'}, 8000);
	await el(page, {text: 'Change Email', selector: 'button', within: 'dialog'}, 8000);
}
// What the topmost modal shows (for error messages).
const dialogText = (page) =>
	page
		.evaluate(() => {
			const ds = [...document.querySelectorAll('[role=dialog][aria-modal=true]')].filter(window.__fx.visible);
			return ds.length ? window.__fx.norm(ds[ds.length - 1].innerText) : '(no modal)';
		})
		.catch(() => '?');
// The step the topmost modal is at: the first of `steps` ({name: selector}) whose selector matches in it.
async function modalStep(page, what, steps, timeout = 10000) {
	const h = await waitFn(
		page,
		what,
		(steps) => {
			const ds = [...document.querySelectorAll('[role=dialog][aria-modal=true]')].filter(window.__fx.visible);
			const d = ds[ds.length - 1];
			if (!d) return null;
			for (const [name, sel] of Object.entries(steps)) if ([...d.querySelectorAll(sel)].some(window.__fx.visible)) return name;
			return null;
		},
		steps,
		timeout,
	).catch(async (e) => {
		throw new Error(`${e.message}; the modal says: ${trunc(await dialogText(page), 200)}`);
	});
	return h.jsonValue();
}
const CODE_INPUT = '[role=dialog] input[placeholder="XXXX-XXXX"]';
const wsEventsSince = (page, t0) => page.evaluate((t0) => (window.__wsEvents ?? []).filter((e) => e.t >= t0), t0).catch(() => []);
const fmtWs = (evs, t0) => evs.map((e) => `${e.ev}${e.code != null ? ` ${e.code}${e.reason ? ` "${e.reason}"` : ''}` : ''} @+${((e.t - t0) / 1000).toFixed(1)}s`).join(', ') || 'none';

flow('change-email', 'A changes its email: Security & Login > Change Email, codes from the log, password for sudo', ['A'], 90000, async ({pa, notes}) => {
	need(A.token, 'A registered');
	const oldEmail = A.email;
	const newEmail = `alice.${RID}.new@example.com`;
	await openSecuritySettings(pa);
	await click(pa, {text: 'Change Email', selector: 'button', within: 'dialog'});
	await waitText(pa, 'Change Your Email', 8000, 'dialog');
	let mark = logMark();
	await click(pa, {text: 'Start', selector: 'button', within: 'dialog'});
	let step = await modalStep(pa, 'the email change\'s first step', {newEmail: '[role=dialog] input[type=email]', verifyOriginal: CODE_INPUT});
	if (step === 'verifyOriginal') {
		const {code} = await codeFromLog(oldEmail, mark, 'code for the current address');
		notes.push(`code ${code} for the current address (${oldEmail}) read from the log`);
		await typeInto(await css(pa, CODE_INPUT), code);
		await click(pa, {text: 'Verify', selector: 'button', within: 'dialog'});
		step = await modalStep(pa, 'the new-address form', {newEmail: '[role=dialog] input[type=email]'});
	} else {
		notes.push('no code for the current (unverified) address asked, as the app expects with require_original=false');
	}
	mark = logMark();
	await typeInto(await css(pa, '[role=dialog] input[type=email]'), newEmail);
	await click(pa, {text: 'Send code', selector: 'button', within: 'dialog'});
	await modalStep(pa, 'the code field for the new address', {verifyNew: CODE_INPUT});
	const {code} = await codeFromLog(newEmail, mark, 'code for the new address');
	await typeInto(await css(pa, CODE_INPUT), code);
	await click(pa, {text: 'Confirm', selector: 'button', within: 'dialog'});
	// PATCH /users/@me {email_token} answers 403 SUDO_MODE_REQUIRED: the app asks for the password and retries.
	const next = await (
		await waitFn(
			pa,
			'the password prompt (sudo mode) or the end of the change',
			() => {
				const pw = document.querySelector('form[aria-label="Verify identity form"] input[name=password]');
				if (pw && window.__fx.visible(pw)) return 'sudo';
				if (document.body.innerText.includes('Email changed')) return 'done';
				return null;
			},
			null,
			15000,
		).catch(async (e) => {
			throw new Error(`${e.message}; the modal says: ${trunc(await dialogText(pa), 250)}`);
		})
	).jsonValue();
	if (next === 'sudo') {
		await typeInto(await css(pa, '[role=dialog] input[name=password]'), A.password);
		await click(pa, {text: 'Continue', selector: 'button', within: 'dialog'});
		notes.push('the app asked for the password (sudo mode) and retried');
	} else {
		notes.push('no password prompt (sudo mode) appeared');
	}
	await waitText(pa, 'Email changed', 15000).catch(async (e) => {
		throw new Error(`${e.message}; the modal says: ${trunc(await dialogText(pa), 250)}`);
	});
	A.email = newEmail;
	// The settings (still open on Security & Login) show the address once revealed.
	let shown = await pa.evaluate((t) => window.__fx.hasText(t, 'dialog'), newEmail);
	if (!shown) {
		const reveal = await el(pa, {text: 'Reveal', selector: 'button', within: 'dialog'}, 3000).catch(() => null);
		if (!reveal) {
			await openSecuritySettings(pa);
			await click(pa, {text: 'Reveal', selector: 'button', within: 'dialog'}, 5000);
		} else await reveal.click();
		shown = await waitText(pa, newEmail, 8000, 'dialog').then(
			() => true,
			() => false,
		);
	}
	const me = await api(A.token, 'GET', '/users/@me');
	notes.push(`GET /users/@me (verification): email=${me.email} verified=${me.verified}`);
	await escape(pa);
	if (!shown) {
		const upd = gwLog.filter((g) => g.user === 'A' && g.flow === 'change-email' && g.name === 'USER_UPDATE').map((g) => g.info);
		throw new Error(`the settings do not show ${newEmail} after the change (USER_UPDATE with email seen by A: ${upd.filter(Boolean).join(' | ') || 'none'})`);
	}
	if (me.email !== newEmail) throw new Error(`the settings show ${newEmail} but GET /users/@me says email=${me.email}`);
	if (me.verified !== true) notes.push(`the new address is not marked verified (verified=${me.verified})`);
	return `changed ${oldEmail} -> ${newEmail} in the app's modal; settings and GET /users/@me show the new address`;
});

// A raw gateway connection for another session (token), in a browser context of its own: HELLO,
// IDENTIFY, READY, heartbeats; window.__probe.closed records how it ended.
async function gatewayProbe(browser, url, token) {
	const ctx = await browser.createBrowserContext();
	const page = await ctx.newPage();
	const ready = await page
		.evaluate(
			(url, token) =>
				new Promise((resolve) => {
					const ws = new WebSocket(`${url}?v=1&encoding=json`);
					window.__probe = {closed: null};
					const timer = setTimeout(() => resolve('no READY within 10s'), 10000);
					ws.onmessage = (m) => {
						let j;
						try {
							j = JSON.parse(m.data);
						} catch {
							return;
						}
						if (j.op === 10) {
							ws.send(JSON.stringify({op: 2, d: {token, properties: {os: 'linux', browser: 'drive.mjs probe', device: ''}}}));
							setInterval(() => ws.readyState === 1 && ws.send(JSON.stringify({op: 1, d: null})), j.d?.heartbeat_interval ?? 30000);
						}
						if (j.t === 'READY') {
							clearTimeout(timer);
							resolve('READY');
						}
					};
					ws.onclose = (e) => {
						window.__probe.closed = {code: e.code, reason: e.reason, t: Date.now()};
						clearTimeout(timer);
						resolve(`closed ${e.code}${e.reason ? ` "${e.reason}"` : ''}`);
					};
				}),
			url,
			token,
		)
		.catch((e) => `probe error: ${trunc(e.message, 100)}`);
	return {ctx, page, ready, closed: () => page.evaluate(() => window.__probe?.closed ?? null).catch(() => null)};
}

flow('change-password', 'A changes its password: Security & Login > Change Password, code from the log; A stays logged in, other sessions end', ['A'], 150000, async ({pa, notes}) => {
	need(A.token, 'A registered');
	const oldPassword = A.password;
	const newPassword = `Flx-${RID}-new-battery-staple!`;
	const oldToken = await tokenOf(pa);
	const problems = [];

	// A second session of A's (REST login, setup), connected to the gateway: the change must end it.
	const other = await api(null, 'POST', '/auth/login', {email: A.email, password: oldPassword});
	const otherToken = other?.token;
	if (!otherToken) throw new Error(`setup: REST login for a second session gave no token: ${trunc(JSON.stringify(other), 150)}`);
	const gwUrl =
		(await pa.evaluate(() => (window.__wsEvents ?? []).filter((e) => e.ev === 'open').pop()?.url ?? null).catch(() => null)) ??
		`${ORIGIN.replace(/^http/, 'ws')}/gateway`;
	const probe = await gatewayProbe(pa.browser(), gwUrl, otherToken);
	try {
		notes.push(`setup: a second session of A's (REST login) on the gateway (${gwUrl}): ${probe.ready}`);

		await openSecuritySettings(pa);
		await click(pa, {text: 'Change Password', selector: 'button', within: 'dialog'});
		await waitText(pa, 'Update Your Password', 8000, 'dialog');
		const mark = logMark();
		await click(pa, {text: 'Start', selector: 'button', within: 'dialog'});
		await modalStep(pa, 'the code field', {verify: CODE_INPUT});
		const {code} = await codeFromLog(A.email, mark, 'password change code');
		await typeInto(await css(pa, CODE_INPUT), code);
		await click(pa, {text: 'Verify', selector: 'button', within: 'dialog'});
		await modalStep(pa, 'the new-password form', {form: '[role=dialog] input[name=new_password]'});
		await typeInto(await css(pa, '[role=dialog] input[name=new_password]'), newPassword);
		await typeInto(await css(pa, '[role=dialog] input[name=confirm_password]'), newPassword);
		A.authChange = null;
		const t0 = Date.now();
		const netBefore = netLog.length;
		await click(pa, {text: 'Change Password', selector: 'button[type=submit]', within: 'dialog'});
		await waitText(pa, 'Password changed', 15000).catch(async (e) => {
			throw new Error(`${e.message}; the modal says: ${trunc(await dialogText(pa), 250)}`);
		});
		A.password = newPassword;

		// The caller's session stays: the app is still in, holds the same token, which still works; its
		// gateway socket is not closed. The other session ends on REST (401) and on the gateway.
		await sleep(2500);
		const ws = await wsEventsSince(pa, t0);
		const stillIn = await pa.evaluate((o) => !!window.__fx?.find(o) && !location.pathname.startsWith('/login'), APP_READY);
		const stored = await pa.evaluate(() => (localStorage.getItem('token') || '').replace(/^"|"$/g, ''));
		notes.push(
			`right after: ${stillIn ? 'still in the app' : `NOT in the app (at ${new URL(pa.url()).pathname})`}; localStorage holds ${stored === oldToken ? 'the same token' : stored ? 'another token' : 'no token'}; A's gateway socket: ${fmtWs(ws, t0)}` +
				(A.authChange ? `; AUTH_SESSION_CHANGE received (no longer expected) after ${((A.authChange.t - t0) / 1000).toFixed(1)}s` : '; no AUTH_SESSION_CHANGE'),
		);
		if (!stillIn) problems.push('the app left the logged-in view after the change');
		if (ws.some((e) => e.ev === 'close')) problems.push(`A's gateway socket closed after the change (${fmtWs(ws.filter((e) => e.ev === 'close'), t0)})`);
		const st = await apiStatus(stored, 'GET', '/users/@me');
		notes.push(`GET /users/@me with the stored token: ${st.status}`);
		if (st.status !== 200) problems.push(`the stored token answers ${st.status} ${trunc(st.text, 80)} (expected 200)`);
		const os = await apiStatus(otherToken, 'GET', '/users/@me');
		notes.push(`with the other session's token: ${os.status}`);
		if (os.status !== 401) problems.push(`the other session's token still answers ${os.status} (expected 401)`);
		if (probe.ready === 'READY') {
			let closed = await probe.closed();
			for (let i = 0; i < 20 && !closed; i++) closed = (await sleep(250), await probe.closed());
			notes.push(`the other session's gateway: ${closed ? `closed ${closed.code}${closed.reason ? ` "${closed.reason}"` : ''} @+${((closed.t - t0) / 1000).toFixed(1)}s` : 'still open'}`);
			if (!closed) problems.push('the other session\'s gateway connection is still open 5s after the change');
		}
		const errs = netLog.slice(netBefore).filter((e) => e.user === 'A' && e.kind === 'http');
		if (errs.length) problems.push(`A's app got HTTP errors after the change: ${trunc(errs.map((e) => e.text).join(' | '), 200)}`);

		// The app still works: a message sent from the composer reaches the server.
		if (stillIn && S.chatId) {
			const text = `after password change ${RID}`;
			const before = netLog.length;
			await escape(pa);
			await openChannel(pa, S.chatName, notes);
			await send(pa, S.chatName, text);
			await sleep(1500);
			const onServer = ((await api(stored, 'GET', `/channels/${S.chatId}/messages?limit=10`).catch(() => [])) ?? []).some((m) => m.content === text);
			const sendErrs = netLog.slice(before).filter((e) => e.user === 'A' && e.kind === 'http').map((e) => e.text);
			notes.push(`a message sent in #${S.chatName} from the app ${onServer ? 'reached the server' : 'did NOT reach the server'}`);
			if (!onServer) problems.push(`the message sent from the app after the change is not on the server${sendErrs.length ? ` (${trunc(sendErrs[0], 120)})` : ''}`);
		}

		// A reload: the app starts from its stored token and must come back logged in.
		const t1 = Date.now();
		await pa.reload({waitUntil: 'domcontentloaded'});
		// Possible landings: the app, the login form, or (after a forced logout, the account still
		// stored) the account chooser (components/auth/AuthLoginLayout.tsx, AccountSelector).
		const after =
			(await (
				await waitFn(
					pa,
					'the app, the login form or the account chooser',
					(ready) => {
						const email = document.querySelector('input[name=email]');
						if (email && window.__fx.visible(email)) return 'login';
						if (window.__fx.hasText('Choose an account') && window.__fx.find({text: 'Add an account', exact: false, selector: 'button,[role=button]'})) return 'chooser';
						if (window.__fx.find(ready) && !location.pathname.startsWith('/login')) return 'app';
						return null;
					},
					APP_READY,
					30000,
				).catch(() => null)
			)?.jsonValue()) ?? 'neither';
		await sleep(2000);
		const where = await pa.evaluate(() => location.pathname);
		const ws1 = await wsEventsSince(pa, t1);
		const landed = {app: 'still logged in', login: `logged out to the login form (${where})`, chooser: `logged out to the account chooser "Choose an account" (${where})`};
		notes.push(`after a reload: ${landed[after] ?? `neither the app nor the login form (${where})`}; gateway: ${fmtWs(ws1, t1)}`);
		if (after !== 'app') problems.push(`after a reload the app is not logged in: ${landed[after] ?? `neither the app nor the login form (${where})`}`);
		else if (ws1.some((e) => e.ev === 'close' && e.code >= 4000)) problems.push(`after the reload the gateway closed A's socket (${fmtWs(ws1, t1)})`);
		A.token = await tokenOf(pa).catch(() => A.token);

		// The passwords (REST, verification): the new one logs in, the old one is refused.
		const newLogin = await apiStatus(null, 'POST', '/auth/login', {email: A.email, password: newPassword});
		let newLoginToken = null;
		try {
			newLoginToken = JSON.parse(newLogin.text).token ?? null;
		} catch {}
		notes.push(`REST login with the new password: ${newLogin.status}${newLoginToken ? ' (token)' : ''}`);
		if (newLogin.status !== 200 || !newLoginToken) problems.push(`login with the new password: ${newLogin.status} ${trunc(newLogin.text, 100)}`);
		else await apiStatus(newLoginToken, 'POST', '/auth/logout').catch(() => {});
		const oldLogin = await apiStatus(null, 'POST', '/auth/login', {email: A.email, password: oldPassword});
		notes.push(`with the old password: ${oldLogin.status}`);
		if (oldLogin.status < 400) problems.push(`the old password still logs in (${oldLogin.status})`);
	} finally {
		await probe.ctx.close().catch(() => {});
	}
	if (problems.length) throw new Error(problems.join('; '));
	return 'password changed in the app\'s modal (code from the log); A stays logged in (same token, sends a message, survives a reload); the other session ends (REST 401, gateway closed); the new password logs in, the old one does not';
});

// ---------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------
// A few facts of a gateway payload that tell missing state from a UI problem.
function summarize(j) {
	const d = j.d ?? {};
	const who = (id) => (id === A.id ? 'A' : id === B.id ? 'B' : id);
	const pres = (l) => (Array.isArray(l) ? `[${l.map((p) => `${who(p.user?.id ?? p.user_id)}:${p.status}`).join(' ')}]` : String(l));
	switch (j.t) {
		case 'READY':
			return `auth_session_id_hash=${d.auth_session_id_hash} presences=${pres(d.presences)} guild presences=${(d.guilds ?? []).map((g) => pres(g.presences)).join(',')} guild emojis/stickers=${(d.guilds ?? []).map((g) => `${g.emojis?.length}/${g.stickers?.length}`).join(',')}`;
		case 'GUILD_CREATE':
		case 'GUILD_SYNC':
			return `presences=${pres(d.presences)} members=${d.members?.length} emojis=${d.emojis?.length} stickers=${d.stickers?.length}`;
		case 'PRESENCE_UPDATE':
			return `${who(d.user?.id)}:${d.status}${d.guild_id ? ' guild' : ''}`;
		case 'GUILD_EMOJIS_UPDATE':
			return `emojis=[${(d.emojis ?? []).map((e) => `${e.name}:${e.id}${e.animated ? ':a' : ''}`).join(' ')}]`;
		case 'GUILD_STICKERS_UPDATE':
			return `stickers=[${(d.stickers ?? []).map((e) => `${e.name}:${e.id}`).join(' ')}]`;
		case 'MESSAGE_CREATE':
		case 'MESSAGE_UPDATE': {
			// only the messages the expression and preview flows look at
			const custom = /<a?:\w+:\d+>/.test(d.content ?? '');
			if (!custom && !d.stickers?.length && !d.embeds?.length) return undefined;
			const parts = [`${d.id}`];
			if (custom) parts.push(`content=${JSON.stringify(d.content)}`);
			if (d.stickers?.length) parts.push(`stickers=${JSON.stringify(d.stickers)}`);
			if (d.embeds?.length) parts.push(`embeds=${d.embeds.map(embedSummary).join(' ; ')}`);
			return parts.join(' ');
		}
		case 'MESSAGE_REACTION_ADD':
			return `${who(d.user_id)} emoji=${JSON.stringify(d.emoji)}`;
		case 'AUTH_SESSION_CHANGE':
			return `old_auth_session_id_hash=${d.old_auth_session_id_hash} new_auth_session_id_hash=${d.new_auth_session_id_hash} new_token=${d.new_token ? `present (${String(d.new_token).length} chars)` : 'MISSING'}`;
		case 'USER_UPDATE':
			return d.email !== undefined ? `${who(d.id)} email=${d.email} verified=${d.verified}` : undefined;
		default:
			return undefined;
	}
}
// The facts of an embed the app checks before it renders one (Embed.tsx: isValidMedia needs url,
// proxy_url, width and height).
function embedSummary(e) {
	const m = (x) => (x ? `{url:${x.url?.replace(ORIGIN, '')} proxy_url:${x.proxy_url?.replace(ORIGIN, '')} ${x.width}x${x.height}}` : 'none');
	return `type=${e.type} title=${JSON.stringify(e.title)} description=${JSON.stringify(trunc(e.description, 60))} url=${e.url} thumbnail=${m(e.thumbnail)} image=${m(e.image)}`;
}
// Dispatches kept whole in gateway-log.json (as sent, cut at 3000 characters).
const RAW_EVENTS = /^(GUILD_EMOJIS_UPDATE|GUILD_STICKERS_UPDATE|MESSAGE_REACTION_ADD)$/;

async function setupPage(browser, user) {
	const ctx = await browser.createBrowserContext();
	const page = await ctx.newPage();
	page.__user = user.key;
	await page.setViewport({width: 1440, height: 900});
	await page.evaluateOnNewDocument(installHelpers);
	await page.evaluateOnNewDocument(installWsProbe);
	page.setDefaultTimeout(20000);
	page.on('response', async (r) => {
		if (r.status() < 400) return;
		const req = r.request();
		let body = '';
		try {
			body = await r.text();
		} catch {}
		netLog.push({
			flow: currentFlowName,
			user: user.key,
			kind: 'http',
			text: `${req.method()} ${r.url().replace(ORIGIN, '')} -> ${r.status()} ${trunc(body, 240)}`,
		});
	});
	page.on('requestfailed', (req) => {
		const u = req.url();
		if (/fluxerstatic\.com/.test(u)) return;
		const why = req.failure()?.errorText ?? '';
		if (why === 'net::ERR_ABORTED') return;
		netLog.push({flow: currentFlowName, user: user.key, kind: 'failed', text: `${req.method()} ${u.replace(ORIGIN, '')} ${why}`});
	});
	page.on('console', (m) => {
		if (m.type() !== 'error') return;
		const t = m.text();
		if (/fluxerstatic\.com|ERR_NAME_NOT_RESOLVED|ERR_CONNECTION_REFUSED|Failed to load resource/.test(t)) return;
		netLog.push({flow: currentFlowName, user: user.key, kind: 'console', text: trunc(t, 300)});
	});
	page.on('pageerror', (e) => netLog.push({flow: currentFlowName, user: user.key, kind: 'pageerror', text: trunc(e.message, 300)}));
	// Gateway traffic, to tell a missing dispatch from a UI problem.
	const cdp = await page.createCDPSession();
	await cdp.send('Network.enable');
	const onFrame = (dir) => (e) => {
		const data = e.response?.payloadData;
		if (!data || e.response.opcode !== 1) return;
		try {
			const j = JSON.parse(data);
			const name = j.t ?? `op${j.op}`;
			if (name === 'op1' || name === 'op11') return;
			const info = summarize(j);
			if (dir === 'in' && name === 'AUTH_SESSION_CHANGE') user.authChange = {t: Date.now(), d: j.d ?? {}};
			if (dir === 'in' && name === 'READY') user.readySessionHash = j.d?.auth_session_id_hash;
			const raw = RAW_EVENTS.test(name) || (/^MESSAGE_(CREATE|UPDATE)$/.test(name) && info) ? trunc(data, 3000) : undefined;
			gwLog.push({t: Date.now(), user: user.key, dir, name, flow: currentFlowName, info, raw});
		} catch {}
	};
	cdp.on('Network.webSocketFrameReceived', onFrame('in'));
	cdp.on('Network.webSocketFrameSent', onFrame('out'));
	return page;
}

async function main() {
	const puppeteer = await loadPuppeteer();
	const browser = await puppeteer.launch({
		executablePath: CHROMIUM,
		headless: process.env.HEADFUL ? false : true,
		args: [
			'--no-sandbox',
			'--disable-dev-shm-usage',
			'--host-resolver-rules=MAP fluxerstatic.com 127.0.0.255',
			'--disable-features=Translate',
		],
	});
	const pages = {A: await setupPage(browser, A), B: await setupPage(browser, B)};
	console.log(`driving ${ORIGIN} (run ${RID}); screenshots in ${OUT}`);
	const results = [];
	let n = 0;
	for (const f of FLOWS) {
		n++;
		if (ONLY && !ONLY.has(f.id)) continue;
		const notes = [];
		const token = {id: f.id};
		activeFlow = token;
		currentFlowName = f.id;
		const started = Date.now();
		let status = 'PASS';
		let reason = '';
		let timer;
		try {
			reason = await als.run(token, () =>
				Promise.race([
					f.fn({pa: pages.A, pb: pages.B, notes}),
					new Promise((_, rej) => {
						timer = setTimeout(() => rej(new Error(`timed out after ${f.timeout / 1000}s`)), f.timeout);
					}),
				]),
			);
		} catch (e) {
			status = e.skip ? 'SKIP' : 'FAIL';
			reason = trunc(e.message, 700);
		} finally {
			clearTimeout(timer);
		}
		activeFlow = null;
		const shots = [];
		for (const u of f.users) {
			const file = `${String(n).padStart(2, '0')}-${slug(f.id)}-${u}.png`;
			try {
				await pages[u].screenshot({path: path.join(OUT, file)});
				shots.push(file);
			} catch {}
		}
		const note = [reason, ...notes].filter(Boolean).join('; ');
		const secs = ((Date.now() - started) / 1000).toFixed(1);
		results.push({n, id: f.id, title: f.title, status, note, shots, secs});
		console.log(`${status.padEnd(4)} ${f.id} (${secs}s): ${note}`);
	}
	currentFlowName = 'teardown';

	// Report
	const lines = [];
	lines.push(`# Fluxer web app against ${ORIGIN}`, '');
	lines.push(`Run ${RID}, ${new Date().toISOString()}; users ${A.username} (A) and ${B.username} (B).`, '');
	const pass = results.filter((r) => r.status === 'PASS').length;
	lines.push(`**${pass}/${results.length} flows pass.**`, '');
	lines.push('| # | Flow | Result | Note | Screenshots |', '|---|---|---|---|---|');
	for (const r of results) {
		lines.push(`| ${r.n} | ${mdCell(r.title)} | ${r.status} | ${mdCell(r.note)} | ${r.shots.join(', ')} |`);
	}
	lines.push('');
	const byFlow = (id) => netLog.filter((e) => e.flow === id);
	for (const r of results.filter((r) => r.status !== 'PASS')) {
		lines.push(`## ${r.n}. ${r.title}: ${r.status}`, '', r.note, '');
		const ev = byFlow(r.id);
		if (ev.length) {
			lines.push('Errors during the flow:', '');
			for (const e of ev.slice(0, 25)) lines.push(`- ${e.user} ${e.kind}: \`${e.text.replace(/`/g, "'")}\``);
			lines.push('');
		}
		for (const u of ['A', 'B']) {
			const names = gwLog.filter((g) => g.flow === r.id && g.user === u);
			if (!names.length) continue;
			const count = {};
			for (const g of names) count[`${g.dir === 'out' ? '→' : ''}${g.name}`] = (count[`${g.dir === 'out' ? '→' : ''}${g.name}`] ?? 0) + 1;
			lines.push(`Gateway ${u} during the flow: ${Object.entries(count).map(([k, v]) => (v > 1 ? `${k}×${v}` : k)).join(', ')}`, '');
			for (const g of names.filter((g) => g.info)) lines.push(`- ${u} ${g.name}: ${g.info}`);
			if (names.some((g) => g.info)) lines.push('');
		}
	}
	lines.push('## All HTTP errors, failed requests and console errors', '');
	if (!netLog.length) lines.push('None.');
	const seen = new Map();
	for (const e of netLog) {
		const k = `${e.user} ${e.kind}: ${e.text.replace(/\d{15,}/g, 'N')}`;
		const cur = seen.get(k);
		if (cur) cur.count++;
		else seen.set(k, {e, count: 1});
	}
	for (const [, {e, count}] of seen) {
		lines.push(`- [${e.flow}] ${e.user} ${e.kind}${count > 1 ? ` (×${count})` : ''}: \`${e.text.replace(/`/g, "'")}\``);
	}
	lines.push('');
	const md = lines.join('\n');
	fs.writeFileSync(path.join(OUT, 'results.md'), md);
	fs.writeFileSync(path.join(OUT, 'gateway-log.json'), JSON.stringify(gwLog, null, 1));
	console.log(`\n${md}`);
	await browser.close();
	previewSite?.server.close();
	process.exitCode = pass === results.length ? 0 : 1;
}

main().catch((e) => {
	console.error(e);
	process.exit(2);
});
