// The phone web app: one page, four screens plus pairing, live from the event socket.
// State shown is always what the speaker last said (snapshot, events, or a re-read after
// an action), never what the page hoped would happen.
import { api, ApiError, sentence } from './api.js';
import { PhoneSession, b64e, b64d } from './pake.js';
import { byId, el, clear, fmtTime, setText } from './dom.js';

// cover art is asked for at the size it is drawn (the API fills Amazon's `*` placeholder)
const IMG = `image_size=${Math.min(1200, Math.max(30, Math.round(320 * (window.devicePixelRatio || 1))))}`;
const state = { player: null, screen: 'now', paired: false, ws: null, retry: 0,
  browseStack: [], seeking: false, volTimer: 0, explicitFilter: false };

// --- notices ------------------------------------------------------------------------------

function notice(text) {
  const box = byId('notice');
  box.textContent = text || '';
  box.hidden = !text;
}

async function act(fn) {
  try {
    notice('');
    return await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { showPairing(); return undefined; }
    notice(err.message || 'Something went wrong; please try again.');
    await refresh().catch(() => {});
    return undefined;
  }
}

// --- screens ------------------------------------------------------------------------------

function show(screen) {
  state.screen = screen;
  for (const s of document.querySelectorAll('.screen')) s.hidden = s.id !== `screen-${screen}`;
  for (const b of document.querySelectorAll('#tabs button')) {
    if (b.dataset.screen === screen) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  if (screen === 'queue') renderQueue();
  if (screen === 'browse' && !state.browseStack.length) openRoot();
  if (screen === 'settings') loadSettings();
}

function markReady() {
  // the first screen a person can use; the benchmark reads this mark
  if (!performance.getEntriesByName('speakerd-interactive').length) performance.mark('speakerd-interactive');
}

function showPairing(message) {
  state.paired = false;
  if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
  byId('tabs').hidden = true;
  show('pair');
  document.body.dataset.paired = 'false';
  if (!localStorage.getItem('certNoteSeen')) {
    byId('cert-note').hidden = false;
    localStorage.setItem('certNoteSeen', '1');
  }
  setText('pair-error', message || '');
  setText('conn', 'Not paired');
  markReady();
}

function showApp() {
  state.paired = true;
  document.body.dataset.paired = 'true';
  byId('tabs').hidden = false;
  show(state.screen === 'pair' ? 'now' : state.screen);
  markReady();
}

// --- pairing ------------------------------------------------------------------------------

const PAIR_ERRORS = {
  pairing_closed: 'Pairing is not open on the speaker. Run “speakerd pair --open” on it, then try again.',
  pairing_failed: 'That code did not match. Check the 8 digits on the speaker and try again.',
  pairing_busy: 'Another phone is pairing right now. Wait a moment and try again.',
  pairing_no_session: 'The pairing attempt expired. Please try again.',
  too_many_phones: 'The speaker has the most phones it can pair. Revoke one first.',
  rate_limited: 'Too many attempts. Wait a few seconds and try again.',
};

async function pair(event) {
  event.preventDefault();
  const code = byId('pair-code').value.replace(/\s+/g, '');
  if (!/^\d{8}$/.test(code)) { setText('pair-error', 'The setup code is 8 digits.'); byId('pair-code').focus(); return; }
  const name = byId('pair-name').value.trim() || 'Phone';
  const button = byId('pair-go');
  button.disabled = true;
  setText('pair-error', 'Pairing…');
  try {
    const session = new PhoneSession(code);
    const step1 = await api('/pair/start', { method: 'POST', body: { pake: b64e(session.message) } });
    const proof = session.finish(step1.session, b64d(step1.pake), { name });
    const step2 = await api('/pair/finish', { method: 'POST',
      body: { session: step1.session, confirm: proof.confirm, hello: proof.hello, cookie: true } });
    session.openWelcome(step2.welcome); // throws unless the speaker knew the code too
    byId('pair-code').value = '';
    setText('pair-error', '');
    await start();
  } catch (err) {
    const known = err instanceof ApiError && PAIR_ERRORS[err.code];
    setText('pair-error', known || err.message || 'Pairing failed; please try again.');
    byId('pair-code').focus();
  } finally {
    button.disabled = false;
  }
}

// --- now playing --------------------------------------------------------------------------

function renderPlayer() {
  const p = state.player;
  if (!p) return;
  const t = p.track;
  setText('np-title', t ? t.title : 'Nothing playing');
  setText('np-artist', t && t.artist ? t.artist : '');
  setText('np-album', t && t.album ? t.album : '');
  const cover = byId('cover');
  const want = (t && t.image_url && t.image_url.startsWith('https:')) ? t.image_url : '/cover.svg';
  if (cover.getAttribute('src') !== want) cover.setAttribute('src', want);
  cover.alt = t ? `Cover of ${t.album || t.title}` : '';
  const playing = p.state === 'playing' || p.state === 'buffering';
  const play = byId('btn-play');
  byId('play-icon').setAttribute('d', playing ? 'M6 5h4v14H6zM14 5h4v14h-4z' : 'M7 4.5v15L19.5 12z');
  play.setAttribute('aria-label', playing ? 'Pause' : 'Play');
  document.body.dataset.state = p.state;
  renderPosition(p.position_ms || 0, p.duration_ms || (t && t.duration_ms) || 0);
  if (!state.volTimer) {
    byId('vol').value = String(p.volume);
    setText('vol-out', String(p.volume));
  }
  const q = t && t.format;
  const quality = t ? [t.badge || t.quality, q && q.codec, q && q.bit_depth && `${q.bit_depth}-bit`,
    q && q.sample_rate && `${q.sample_rate / 1000} kHz`].filter(Boolean).join(' · ') : '';
  const why = t && t.quality_reason ? ` — ${t.quality_reason}` : '';
  setText('np-quality', quality ? `Quality: ${quality}${why}` : '');
  if (state.screen === 'queue') renderQueue();
}

function renderPosition(pos, dur) {
  if (state.seeking) return;
  const seek = byId('seek');
  seek.max = String(Math.max(0, dur));
  seek.value = String(Math.min(pos, dur || pos));
  seek.setAttribute('aria-valuetext', `${fmtTime(pos)} of ${fmtTime(dur)}`);
  setText('pos', fmtTime(pos));
  setText('dur', fmtTime(dur));
}

async function refresh() {
  state.player = await api(`/status?${IMG}`);
  renderPlayer();
}

function bindNowPlaying() {
  byId('btn-play').addEventListener('click', () => act(async () => {
    const s = state.player ? state.player.state : 'idle';
    const verb = s === 'playing' || s === 'buffering' ? 'pause' : 'resume';
    await api(`/player/${verb}`, { method: 'POST' });
  }));
  byId('btn-next').addEventListener('click', () => act(() => api('/player/next', { method: 'POST' })));
  byId('btn-prev').addEventListener('click', () => act(() => api('/player/previous', { method: 'POST' })));
  const seek = byId('seek');
  seek.addEventListener('input', () => { state.seeking = true; setText('pos', fmtTime(Number(seek.value))); });
  seek.addEventListener('change', () => {
    state.seeking = false;
    act(() => api('/player/seek', { method: 'POST', body: { position_ms: Number(seek.value) } }));
  });
  const vol = byId('vol');
  vol.addEventListener('input', () => {
    setText('vol-out', vol.value);
    clearTimeout(state.volTimer);
    state.volTimer = setTimeout(() => {
      state.volTimer = 0;
      act(() => api('/player/volume', { method: 'POST', body: { level: Number(vol.value) } }));
    }, 150);
  });
}

// --- queue --------------------------------------------------------------------------------

function renderQueue() {
  const p = state.player;
  if (!p) return;
  const q = p.queue;
  byId('repeat').value = q.repeat;
  byId('shuffle').checked = !!q.shuffle;
  const list = byId('queue-list');
  clear(list);
  if (!q.items.length) list.append(el('li', {}, el('span', { class: 'grow' }, 'The queue is empty.')));
  q.items.forEach((item, i) => {
    const title = item.title || item.service_id;
    const li = el('li', { class: i === q.index ? 'current' : '', 'data-item': item.item_id },
      el('span', { class: 'grow' }, el('span', {}, title),
        el('span', { class: 'sub' }, item.artist || '')),
      el('button', { type: 'button', 'aria-label': `Move ${title} up`, disabled: i === 0 ? '' : null,
        onclick: () => act(() => move(item, i - 1)) }, '↑'),
      el('button', { type: 'button', 'aria-label': `Move ${title} down`,
        disabled: i === q.items.length - 1 ? '' : null, onclick: () => act(() => move(item, i + 1)) }, '↓'),
      el('button', { type: 'button', 'aria-label': `Remove ${title}`,
        onclick: () => act(() => api(`/queue/${encodeURIComponent(item.item_id)}`, { method: 'DELETE' })
          .then(refresh)) }, '✕'));
    if (i === q.index) li.setAttribute('aria-current', 'true');
    list.append(li);
  });
}

async function move(item, toIndex) {
  await api(`/queue/${encodeURIComponent(item.item_id)}/move`, { method: 'POST', body: { to_index: toIndex } });
  await refresh();
}

function bindQueue() {
  byId('repeat').addEventListener('change', (e) => act(() =>
    api('/player/repeat', { method: 'POST', body: { mode: e.target.value } }).then(refresh)));
  byId('shuffle').addEventListener('change', (e) => act(() =>
    api('/player/shuffle', { method: 'POST', body: { enabled: e.target.checked } }).then(refresh)));
  byId('queue-clear').addEventListener('click', () => act(() =>
    api('/queue', { method: 'DELETE' }).then(refresh)));
}

// --- browse and search ----------------------------------------------------------------------

function renderItems(title, items) {
  setText('browse-path', title || '');
  byId('browse-up').hidden = state.browseStack.length <= 1;
  const list = byId('browse-list');
  clear(list);
  if (!items.length) list.append(el('li', {}, el('span', { class: 'grow' }, 'Nothing found.')));
  for (const item of items) {
    const blocked = state.explicitFilter && item.explicit === true && !item.browse;
    const li = el('li', { class: blocked ? 'explicit' : '' });
    const label = el('span', { class: 'grow' }, el('span', {}, item.label,
      item.explicit ? el('span', { class: 'badge', 'aria-label': 'explicit' }, 'E') : null),
      el('span', { class: 'sub' }, item.subtitle || (item.play ? item.play.kind : '')));
    if (item.browse) {
      li.append(el('button', { type: 'button', class: 'item', 'aria-label': `Open ${item.label}`,
        onclick: () => act(() => browse(item.browse, item.label)) }, label));
    } else {
      li.append(label);
    }
    if (item.play) {
      li.append(el('button', { type: 'button', 'aria-label': `Play ${item.label}`, disabled: blocked ? '' : null,
        onclick: () => act(async () => {
          await api('/player/play', { method: 'POST', body: item.play });
          await refresh();
          show('now');
        }) }, 'Play'));
    }
    list.append(li);
  }
}

function openRoot() {
  // before the speaker is signed in the catalog answers an error: offer to try again
  act(() => browse('')).then(() => {
    if (state.browseStack.length) return;
    const list = byId('browse-list');
    clear(list);
    list.append(el('li', {}, el('button', { type: 'button', id: 'browse-retry', onclick: openRoot }, 'Try again')));
  });
}

async function browse(uri, label) {
  const data = await api(`/browse?uri=${encodeURIComponent(uri)}&${IMG}`);
  if (uri === '') state.browseStack = [];
  state.browseStack.push({ uri, label: label || data.title });
  renderItems(data.title, data.items || []);
}

function bindBrowse() {
  byId('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = byId('search-q').value.trim();
    if (!q) return;
    act(async () => {
      const data = await api(`/search?q=${encodeURIComponent(q)}&${IMG}`);
      state.browseStack = [{ uri: '', label: 'Search' }, { uri: null, label: q }];
      renderItems(`Results for “${q}”`, data.items || []);
    });
  });
  byId('browse-up').addEventListener('click', () => act(async () => {
    state.browseStack.pop();
    const prev = state.browseStack.pop();
    await browse(prev && prev.uri !== null ? prev.uri : '', prev && prev.label);
  }));
}

// --- settings, sign-in and phones -----------------------------------------------------------

function signinCard(name, info) {
  const box = el('div', { class: 'account' }, el('p', {}, `${name}: `, el('strong', {}, info.state || 'unknown')));
  if (info.user_code) {
    box.append(el('p', { class: 'code-card', role: 'status' }, info.user_code,
      el('small', {}, `Open ${info.verification_uri || info.verification_url || ''} and enter this code.`)));
  }
  if (info.state !== 'linked') {
    const path = name === 'Amazon Music' ? '/signin/amazon' : '/signin/audible';
    box.append(el('button', { type: 'button', onclick: () => act(async () => {
      const started = await api(path, { method: 'POST' });
      if (started && started.login_url) window.open(started.login_url, '_blank', 'noopener');
      await loadSettings();
    }) }, `Sign in to ${name}`));
  }
  return box;
}

async function loadSettings() {
  await act(async () => {
    const [settings, signin, phones] = await Promise.all([api('/settings'), api('/signin'), api('/pairings')]);
    byId('set-name').value = settings.name || '';
    byId('set-quality').value = settings.default_quality || '';
    if ('explicit_filter' in settings) {
      byId('explicit-row').hidden = false;
      byId('set-explicit').checked = !!settings.explicit_filter;
      state.explicitFilter = !!settings.explicit_filter;
    }
    const box = byId('signin-box');
    clear(box);
    box.append(signinCard('Amazon Music', signin.amazon || {}));
    if (signin.audible) box.append(signinCard('Audible', signin.audible));
    renderPhones(phones.phones || []);
  });
}

function renderPhones(phones) {
  const list = byId('phones-list');
  clear(list);
  for (const phone of phones) {
    const name = phone.name + (phone.me ? ' (this phone)' : '');
    list.append(el('li', { 'data-phone': phone.id },
      el('span', { class: 'grow' }, el('span', {}, name)),
      el('button', { type: 'button', 'aria-label': `Rename ${phone.name}`, onclick: () => act(async () => {
        const next = prompt('New name for this phone', phone.name);
        if (next && next.trim()) await api(`/pairings/${phone.id}`, { method: 'PATCH', body: { name: next.trim() } });
        await loadSettings();
      }) }, 'Rename'),
      el('button', { type: 'button', 'aria-label': `Revoke ${phone.name}`, onclick: () => act(async () => {
        if (!confirm(`Revoke ${phone.name}? It will have to pair again.`)) return;
        await api(`/pairings/${phone.id}`, { method: 'DELETE' });
        if (phone.me) showPairing('This phone was revoked.'); else await loadSettings();
      }) }, 'Revoke')));
  }
}

function bindSettings() {
  byId('settings-form').addEventListener('submit', (e) => {
    e.preventDefault();
    act(async () => {
      const body = { name: byId('set-name').value.trim(), default_quality: byId('set-quality').value.trim() };
      if (!byId('explicit-row').hidden) body.explicit_filter = byId('set-explicit').checked;
      const saved = await api('/settings', { method: 'PATCH', body });
      setText('settings-msg', 'Saved.');
      setText('device-name', saved.name || 'Speaker');
    });
  });
  byId('pair-another').addEventListener('click', () => act(async () => {
    const w = await api('/pairings/window', { method: 'POST' });
    const card = byId('pair-another-code');
    card.hidden = false;
    card.textContent = `${w.code.slice(0, 4)} ${w.code.slice(4)}`;
  }));
}

// --- the event socket ---------------------------------------------------------------------

function connect() {
  if (!state.paired || state.ws) return;
  const ws = new WebSocket(`wss://${location.host}/api/v1/events?${IMG}`);
  state.ws = ws;
  ws.onopen = () => { state.retry = 0; setText('conn', 'Connected'); };
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    onEvent(msg.type, msg.data || {});
  };
  ws.onclose = (e) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (e.code === 4401 || e.code === 4403) { showPairing(e.code === 4403 ? 'This phone was revoked on the speaker. Pair again to control it.' : ''); return; }
    setText('conn', 'Reconnecting…');
    const delay = Math.min(10000, 500 * 2 ** state.retry++);
    setTimeout(() => { if (state.paired) connect(); }, delay);
  };
}

function onEvent(type, data) {
  const p = state.player;
  switch (type) {
    case 'snapshot': case 'resync':
      state.player = data.player || data;
      if (data.device && data.device.name) setText('device-name', data.device.name);
      renderPlayer();
      break;
    case 'position':
      if (p) { p.position_ms = data.position_ms; p.duration_ms = data.duration_ms; }
      renderPosition(data.position_ms || 0, data.duration_ms || 0);
      break;
    case 'volume': if (p) { p.volume = data.level; renderPlayer(); } break;
    case 'state': if (p) { p.state = data.state; renderPlayer(); } break;
    case 'track': if (p) { p.track = data.track; renderPlayer(); } break;
    case 'queue':
      if (p) { p.queue = { items: data.items, index: data.index, repeat: data.repeat, shuffle: data.shuffle }; renderPlayer(); }
      break;
    case 'error': notice(sentence(data.message || 'Playback error')); break;
    case 'device': if (data.name) setText('device-name', data.name); break;
    case 'pairing': if (state.screen === 'settings') loadSettings(); break;
    default: break;
  }
}

// --- start --------------------------------------------------------------------------------

async function start() {
  try {
    const info = await api('/info');
    setText('device-name', info.name || 'Speaker');
    await refresh();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { showPairing(); return; }
    setText('conn', err.message);
    setTimeout(start, 2000);
    return;
  }
  showApp();
  connect();
}

function init() {
  byId('pair-form').addEventListener('submit', pair);
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => show(b.dataset.screen));
  bindNowPlaying();
  bindQueue();
  bindBrowse();
  bindSettings();
  window.addEventListener('online', () => { if (state.paired && !state.ws) connect(); });
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => {});
  start();
}

init();
